//! The kernel's side of the user-memory gate ([`kestrel_usermem`]).
//!
//! Every copy between the kernel and a program's memory goes through a
//! [`UserRange`], which only [`UserRange::new`] makes (the one range check), and
//! reaches the CPU here: [`AddressSpace`] implements [`UserSpace`] with the
//! fault-recovering copy of `arch::usercopy`. A fault in the middle of a copy is
//! resolved like a fault from user mode (demand zero, copy-on-write, stack growth)
//! synchronously and the copy resumes; a byte no area lets the program reach ends
//! the copy there, and the caller sees how far it got. A page of a disk file not in
//! memory yet cannot be waited for here: the copy stops, the thread notes the load,
//! and the system-call layer awaits it and runs an EFAULT call again. Copies run
//! with this address space active, which the thread's task guarantees on every poll.
//!
//! System-call code never calls these methods directly: it holds [`UserPtr`]s and
//! makes [`UserReader`]s and [`UserWriter`]s through the helpers below.

use alloc::vec::Vec;

use kestrel_abi::{KResult, Pod};
use kestrel_usermem::{UserCStr, UserPtr, UserRange, UserReader, UserSpace, UserWriter};

use super::vm::{Access, AddressSpace};
use crate::arch::usercopy;

/// How many faults one copy may resolve before giving up: each resolves one page, so
/// a copy only hits this when a page keeps faulting (another thread unmapping it).
const MAX_FAULTS_PER_PAGE: usize = 4;

impl AddressSpace {
    /// Copies `len` bytes between user address `user` and kernel memory with `copy`,
    /// resolving faults as the program's own access would; returns the bytes copied.
    /// Inline, with `copy` a closure of its caller's: a copy that does not fault
    /// (nearly all) is one call of the copy routine, with no call through a
    /// function pointer around it.
    #[inline]
    fn copy_with_faults(
        &self,
        range: UserRange,
        access: Access,
        mut copy: impl FnMut(usize, usize) -> Result<(), usercopy::Fault>,
    ) -> usize {
        match copy(0, range.len()) {
            Ok(()) => range.len(),
            Err(f) => self.resolve_and_copy(range, access, f, &mut copy),
        }
    }

    /// The rest of [`AddressSpace::copy_with_faults`] after its first try
    /// stopped at `first`: faults resolved, the copy resumed.
    #[inline(never)]
    fn resolve_and_copy(
        &self,
        range: UserRange,
        access: Access,
        first: usercopy::Fault,
        copy: &mut dyn FnMut(usize, usize) -> Result<(), usercopy::Fault>,
    ) -> usize {
        let mut done = 0;
        let mut faults = 0;
        let mut next = Err(first);
        loop {
            match next {
                Ok(()) => return range.len(),
                Err(f) => {
                    if f.done > 0 {
                        faults = 0;
                    }
                    done += f.done;
                    faults += 1;
                    // A #GP (addr 0) cannot happen for a checked range; an address
                    // outside the range would be a bug in the copy: stop either way.
                    let inside = f.addr >= range.start() && f.addr < range.end();
                    if !inside || faults > MAX_FAULTS_PER_PAGE {
                        return done;
                    }
                    let r = self.fault(f.addr, access);
                    crate::perf::kernel_fault(f.addr, r.is_ok());
                    if let Err(e) = r {
                        // A file page not loaded yet: the system-call layer loads
                        // it and runs the call again.
                        super::vm::note_pending_load(e);
                        return done;
                    }
                    if done >= range.len() {
                        return done;
                    }
                    next = copy(done, range.len() - done);
                }
            }
        }
    }
}

impl UserSpace for AddressSpace {
    #[inline]
    fn copy_in(&self, range: UserRange, dst: &mut [u8]) -> usize {
        let dst = &mut dst[..range.len()];
        self.copy_with_faults(range, Access::Read, |done, len| {
            // SAFETY: the source lies inside a checked user range (below USER_END, so
            // never kernel memory); the destination is a kernel buffer we borrow
            // mutably for `len` bytes from `done`; a fault stops the copy.
            unsafe {
                usercopy::copy(
                    dst[done..].as_mut_ptr(),
                    (range.start() + done as u64) as *const u8,
                    len,
                )
            }
        })
    }

    #[inline]
    fn copy_out(&self, range: UserRange, src: &[u8]) -> usize {
        let src = &src[..range.len()];
        self.copy_with_faults(range, Access::Write, |done, len| {
            // SAFETY: as in `copy_in`, in the other direction: the destination is a
            // checked user range, the source a kernel slice we borrow.
            unsafe {
                usercopy::copy(
                    (range.start() + done as u64) as *mut u8,
                    src[done..].as_ptr(),
                    len,
                )
            }
        })
    }

    fn writable_prefix(&self, range: UserRange) -> usize {
        let mut at = range;
        while !at.is_empty() {
            let page = at.first_page();
            // A buffer is nearly always present and writable already: a probing
            // write that changes nothing says so without the address space's lock
            // and the page-table walk of a fault (most of a 1-byte read's cost).
            // SAFETY: the byte lies inside a checked user range (never kernel
            // memory); the probe writes back the value it finds, atomically.
            if unsafe { usercopy::probe_write(page.start() as *mut u8) } {
                at = at.split_at(page.len()).1;
                continue;
            }
            if let Err(e) = self.fault(page.start(), Access::Write) {
                super::vm::note_pending_load(e);
                return (page.start() - range.start()) as usize;
            }
            // The area allows the write and the page is there now, yet the
            // thread may still not reach it: a protection key its PKRU denies
            // (or another thread unmapped it again). The copy would fail too.
            // SAFETY: as above.
            if !unsafe { usercopy::probe_write(page.start() as *mut u8) } {
                return (page.start() - range.start()) as usize;
            }
            at = at.split_at(page.len()).1;
        }
        range.len()
    }
}

impl AddressSpace {
    /// A reader of `len` bytes at `ptr` (EFAULT unless the range is user space).
    #[inline]
    pub fn reader<T>(&self, ptr: UserPtr<T>, len: usize) -> KResult<UserReader<'_, Self>> {
        UserReader::new(self, ptr.addr(), len)
    }

    /// A writer of `len` bytes at `ptr` (EFAULT unless the range is user space).
    #[inline]
    pub fn writer<T>(&self, ptr: UserPtr<T>, len: usize) -> KResult<UserWriter<'_, Self>> {
        UserWriter::new(self, ptr.addr(), len)
    }

    /// Reads the value at `ptr`.
    #[inline]
    pub fn read<T: Pod>(&self, ptr: UserPtr<T>) -> KResult<T> {
        ptr.read(self)
    }

    /// Writes `v` at `ptr`.
    #[inline]
    pub fn write<T: Pod>(&self, ptr: UserPtr<T>, v: &T) -> KResult<()> {
        ptr.write(self, v)
    }

    /// Reads consecutive values at `ptr` into `out`.
    pub fn read_slice<T: Pod>(&self, ptr: UserPtr<T>, out: &mut [T]) -> KResult<()> {
        ptr.read_slice(self, out)
    }

    /// Writes consecutive values at `ptr`.
    pub fn write_slice<T: Pod>(&self, ptr: UserPtr<T>, v: &[T]) -> KResult<()> {
        ptr.write_slice(self, v)
    }

    /// Reads a NUL-terminated string of at most `max` bytes.
    pub fn read_cstr(&self, s: UserCStr, max: usize) -> KResult<Vec<u8>> {
        s.read(self, max)
    }
}
