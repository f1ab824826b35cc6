//! The one gate to user memory.
//!
//! A system call names user memory with raw addresses that the program chose. Before
//! the kernel touches any of it, the range is checked exactly once, here, by
//! [`UserRange::new`]: it must lie wholly inside the user half (below [`USER_END`],
//! Linux's `TASK_SIZE_MAX` with 4-level paging) and `addr + len` must not overflow.
//! That is the only way to make a [`UserRange`], and a [`UserRange`] is the only
//! thing an address space's copy routines ([`UserSpace::copy_in`],
//! [`UserSpace::copy_out`]) accept, so no path can hand them an unchecked address.
//!
//! On top of that sit the types system-call code uses:
//!
//! * [`UserPtr<T>`]: a typed user address, as a system call receives it (nothing is
//!   checked until it is used);
//! * [`UserReader`] and [`UserWriter`]: a checked range with a cursor, for copying
//!   in or out piece by piece, with partial copies reported as Linux's `read` and
//!   `write` report them (the bytes that made it before the first fault);
//! * [`read_cstr`]: a NUL-terminated string of bounded length.
//!
//! What "cannot be accessed" means is the address space's business: the kernel's
//! implementation copies with fault recovery and resolves demand faults as it goes;
//! the host tests use a fake with holes. Either way a copy stops at the first byte
//! that cannot be reached and says how far it got.
//!
//! The contract for implementors of [`UserSpace`] is written once, on the trait.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use kestrel_abi::{Errno, KResult, Pod};

#[cfg(test)]
mod tests;

/// One past the highest user address: Linux's `TASK_SIZE_MAX` on x86-64 with 4-level
/// paging (`(1 << 47) - PAGE_SIZE`; the top page of the lower half is never mapped, so
/// `sysret` can never return to a non-canonical address).
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;

/// The page size user ranges are copied in.
pub const PAGE_SIZE: usize = 4096;

/// Whether `addr` is a user address: the one definition, used by the trap path
/// (instruction pointers, TLS bases) and the memory manager alike.
pub const fn is_user_address(addr: u64) -> bool {
    addr < USER_END
}

/// A range of user addresses that has passed the check: `start + len <= USER_END`,
/// without overflow. Only [`UserRange::new`] makes one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UserRange {
    start: u64,
    len: usize,
}

impl fmt::Debug for UserRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.end())
    }
}

impl UserRange {
    /// Checks `[addr, addr + len)`: EFAULT unless it lies wholly in the user half.
    /// An empty range is checked the same way (Linux's `access_ok(addr, 0)` refuses
    /// a kernel address too).
    pub fn new(addr: u64, len: usize) -> KResult<Self> {
        match addr.checked_add(len as u64) {
            Some(end) if end <= USER_END => Ok(Self { start: addr, len }),
            _ => Err(Errno::EFAULT),
        }
    }

    /// The first address.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// The length in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One past the last address.
    pub const fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// The first `n` bytes and the rest (`n` is clamped to the length). Both halves
    /// lie inside this range, so they need no new check.
    pub fn split_at(self, n: usize) -> (Self, Self) {
        let n = n.min(self.len);
        (
            Self {
                start: self.start,
                len: n,
            },
            Self {
                start: self.start + n as u64,
                len: self.len - n,
            },
        )
    }

    /// The part of the range inside its first page (what one page lookup covers).
    pub fn first_page(self) -> Self {
        let to_boundary = PAGE_SIZE - (self.start as usize % PAGE_SIZE);
        self.split_at(to_boundary).0
    }
}

/// An address space that user memory can be copied to and from.
///
/// # Contract for implementors
/// * `copy_in(range, dst)` copies the bytes of `range` into `dst[..range.len()]`
///   (`dst` is at least that long) in address order and returns how many it copied:
///   all of them, or fewer when it reached a byte the program could not read itself
///   (unmapped, PROT_NONE, beyond the end of a mapped file). It never touches memory
///   outside `range` and never panics for any range.
/// * `copy_out(range, src)` is the same in the other direction, for bytes the
///   program could write.
/// * `writable_prefix(range)` returns how many leading bytes of `range` the program
///   could write, making them present, without changing their contents: a read can
///   check its destination before consuming data it could not deliver.
///
/// Callers never see these: they go through [`UserReader`], [`UserWriter`],
/// [`UserPtr`] and [`read_cstr`].
pub trait UserSpace: Sync {
    fn copy_in(&self, range: UserRange, dst: &mut [u8]) -> usize;
    fn copy_out(&self, range: UserRange, src: &[u8]) -> usize;
    fn writable_prefix(&self, range: UserRange) -> usize;
}

/// A typed user address, as a system call receives it. Nothing is checked until the
/// pointer is read or written through (then [`UserRange::new`] checks it).
#[repr(transparent)]
pub struct UserPtr<T> {
    addr: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for UserPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UserPtr<T> {}
impl<T> PartialEq for UserPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}
impl<T> Eq for UserPtr<T> {}
impl<T> fmt::Debug for UserPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.addr)
    }
}

impl<T> UserPtr<T> {
    /// The null pointer.
    pub const NULL: Self = Self::new(0);

    /// The pointer at `addr`.
    pub const fn new(addr: u64) -> Self {
        Self {
            addr,
            _type: PhantomData,
        }
    }

    /// Its address.
    pub const fn addr(self) -> u64 {
        self.addr
    }

    /// Whether it is NULL (many calls take NULL for "no argument").
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }

    /// The pointer `count` elements further on (wrapping: the check comes at use).
    pub const fn add(self, count: usize) -> Self {
        Self::new(
            self.addr
                .wrapping_add((count as u64).wrapping_mul(core::mem::size_of::<T>() as u64)),
        )
    }

    /// The pointer `bytes` bytes further on, as another type.
    pub const fn byte_add<U>(self, bytes: u64) -> UserPtr<U> {
        UserPtr::new(self.addr.wrapping_add(bytes))
    }

    /// The same address as a pointer to another type.
    pub const fn cast<U>(self) -> UserPtr<U> {
        UserPtr::new(self.addr)
    }
}

// The copies below, and [`UserReader`] and [`UserWriter`], are generic over the
// address space (`dyn UserSpace` by default): the kernel's own address space type
// makes them direct calls the compiler can inline (a small copy through `dyn`
// cost about a hundred instructions more), while tests and callers holding a
// `&dyn UserSpace` get the dynamic version. Either way the range is checked by
// [`UserRange::new`] and nothing else.
impl<T: Pod> UserPtr<T> {
    /// Reads the value it points to (EFAULT unless all of it is readable).
    #[inline]
    pub fn read<S: UserSpace + ?Sized>(self, space: &S) -> KResult<T> {
        UserReader::new(space, self.addr, core::mem::size_of::<T>())?.read_val()
    }

    /// Writes `v` where it points (EFAULT unless all of it is writable).
    #[inline]
    pub fn write<S: UserSpace + ?Sized>(self, space: &S, v: &T) -> KResult<()> {
        UserWriter::new(space, self.addr, core::mem::size_of::<T>())?.write_val(v)
    }

    /// Reads `out.len()` consecutive values (EFAULT unless all are readable).
    pub fn read_slice<S: UserSpace + ?Sized>(self, space: &S, out: &mut [T]) -> KResult<()> {
        let bytes = kestrel_abi::bytemuck_slice_bytes_mut(out);
        UserReader::new(space, self.addr, bytes.len())?.read_exact(bytes)
    }

    /// Writes consecutive values (EFAULT unless all are writable).
    pub fn write_slice<S: UserSpace + ?Sized>(self, space: &S, v: &[T]) -> KResult<()> {
        let bytes = kestrel_abi::bytemuck_slice_bytes(v);
        UserWriter::new(space, self.addr, bytes.len())?.write_all(bytes)
    }
}

/// A NUL-terminated string argument (a path, a name).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct UserCStr(u64);

impl fmt::Debug for UserCStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl UserCStr {
    /// The string at `addr`.
    pub const fn new(addr: u64) -> Self {
        Self(addr)
    }

    /// Its address.
    pub const fn addr(self) -> u64 {
        self.0
    }

    /// Whether it is NULL.
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// Reads it: at most `max` bytes before the NUL (see [`read_cstr`]).
    pub fn read(self, space: &dyn UserSpace, max: usize) -> KResult<Vec<u8>> {
        read_cstr(space, self.0, max)
    }
}

/// Reads a NUL-terminated string of at most `max` bytes (the NUL not counted) from
/// `addr`, a page at a time, so no byte past its NUL is touched. EFAULT if it runs
/// into memory that cannot be read (or out of user space) first; ENAMETOOLONG if
/// there is no NUL within `max + 1` bytes. The result never holds more than `max`
/// bytes, so `max` bounds the allocation.
pub fn read_cstr(space: &dyn UserSpace, addr: u64, max: usize) -> KResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let mut at = addr;
    loop {
        // Up to the next page boundary (or the buffer), never past max + 1 bytes.
        let want = (PAGE_SIZE - (at as usize % PAGE_SIZE))
            .min(buf.len())
            .min(max + 1 - out.len());
        let range = UserRange::new(at, want)?;
        let got = space.copy_in(range, &mut buf[..want]);
        if let Some(nul) = buf[..got].iter().position(|&b| b == 0) {
            out.try_reserve(nul).map_err(|_| Errno::ENOMEM)?;
            out.extend_from_slice(&buf[..nul]);
            return Ok(out);
        }
        if got < want {
            return Err(Errno::EFAULT);
        }
        if out.len() + got > max {
            return Err(Errno::ENAMETOOLONG);
        }
        out.try_reserve(got).map_err(|_| Errno::ENOMEM)?;
        out.extend_from_slice(&buf[..got]);
        at += got as u64;
    }
}

/// A checked user range to copy from, front to back.
pub struct UserReader<'a, S: UserSpace + ?Sized = dyn UserSpace> {
    space: &'a S,
    rest: UserRange,
}

impl<S: UserSpace + ?Sized> Clone for UserReader<'_, S> {
    fn clone(&self) -> Self {
        Self {
            space: self.space,
            rest: self.rest,
        }
    }
}

impl<'a, S: UserSpace + ?Sized> UserReader<'a, S> {
    /// The range `[addr, addr + len)` of `space`, checked once (EFAULT).
    #[inline]
    pub fn new(space: &'a S, addr: u64, len: usize) -> KResult<Self> {
        Ok(Self {
            space,
            rest: UserRange::new(addr, len)?,
        })
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The address the next read starts at.
    pub fn addr(&self) -> u64 {
        self.rest.start()
    }

    /// Reads up to `buf.len()` bytes, stopping at the end of the range or at the
    /// first byte that cannot be read; returns how many it read.
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let (now, _) = self.rest.split_at(buf.len());
        let n = self.space.copy_in(now, &mut buf[..now.len()]);
        self.skip(n);
        n
    }

    /// Reads exactly `buf.len()` bytes: EFAULT if the range is shorter or any byte
    /// cannot be read.
    #[inline]
    pub fn read_exact(&mut self, buf: &mut [u8]) -> KResult<()> {
        if buf.len() > self.remaining() || self.read(buf) < buf.len() {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Reads one plain-old-data value.
    #[inline]
    pub fn read_val<T: Pod>(&mut self) -> KResult<T> {
        let mut v = T::zeroed();
        self.read_exact(kestrel_abi::bytemuck_bytes_mut(&mut v))?;
        Ok(v)
    }

    /// Reads the whole rest of the range into a new vector; the caller bounds the
    /// range (ENOMEM if the allocation fails, EFAULT if any byte cannot be read).
    pub fn read_to_vec(&mut self) -> KResult<Vec<u8>> {
        let mut v = Vec::new();
        v.try_reserve_exact(self.remaining())
            .map_err(|_| Errno::ENOMEM)?;
        v.resize(self.remaining(), 0);
        self.read_exact(&mut v)?;
        Ok(v)
    }

    /// Skips `n` bytes (clamped to what remains).
    pub fn skip(&mut self, n: usize) {
        self.rest = self.rest.split_at(n).1;
    }

    /// Reads an extensible struct (Linux's `copy_struct_from_user`, for clone3,
    /// openat2 and friends): the whole range is the program's version of the struct
    /// and `out` the kernel's. A shorter program struct leaves the rest of `out`
    /// zero; a longer one is accepted only if every byte the kernel does not know is
    /// zero (E2BIG otherwise). EFAULT if any byte cannot be read.
    pub fn read_extensible(&mut self, out: &mut [u8]) -> KResult<()> {
        let known = self.remaining().min(out.len());
        out.fill(0);
        self.read_exact(&mut out[..known])?;
        let mut chunk = [0u8; 64];
        while self.remaining() > 0 {
            let n = self.remaining().min(chunk.len());
            self.read_exact(&mut chunk[..n])?;
            if chunk[..n].iter().any(|&b| b != 0) {
                return Err(Errno::E2BIG);
            }
        }
        Ok(())
    }
}

/// A checked user range to copy into, front to back.
pub struct UserWriter<'a, S: UserSpace + ?Sized = dyn UserSpace> {
    space: &'a S,
    rest: UserRange,
}

impl<S: UserSpace + ?Sized> Clone for UserWriter<'_, S> {
    fn clone(&self) -> Self {
        Self {
            space: self.space,
            rest: self.rest,
        }
    }
}

impl<'a, S: UserSpace + ?Sized> UserWriter<'a, S> {
    /// The range `[addr, addr + len)` of `space`, checked once (EFAULT).
    #[inline]
    pub fn new(space: &'a S, addr: u64, len: usize) -> KResult<Self> {
        Ok(Self {
            space,
            rest: UserRange::new(addr, len)?,
        })
    }

    /// Room not yet written.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The address the next write starts at.
    pub fn addr(&self) -> u64 {
        self.rest.start()
    }

    /// Writes up to `data.len()` bytes, stopping at the end of the range or at the
    /// first byte that cannot be written; returns how many it wrote.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let (now, _) = self.rest.split_at(data.len());
        let n = self.space.copy_out(now, &data[..now.len()]);
        self.skip(n);
        n
    }

    /// Writes all of `data`: EFAULT if the range is shorter or any byte cannot be
    /// written (bytes before the fault may have been written, as on Linux).
    pub fn write_all(&mut self, data: &[u8]) -> KResult<()> {
        if data.len() > self.remaining() || self.write(data) < data.len() {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Writes one plain-old-data value.
    pub fn write_val<T: Pod>(&mut self, v: &T) -> KResult<()> {
        self.write_all(kestrel_abi::bytemuck_bytes(v))
    }

    /// Writes `n` zero bytes (clamped to what remains); returns how many it wrote.
    pub fn zero(&mut self, n: usize) -> usize {
        let zeros = [0u8; 256];
        let mut done = 0;
        let n = n.min(self.remaining());
        while done < n {
            let k = (n - done).min(zeros.len());
            let w = self.write(&zeros[..k]);
            done += w;
            if w < k {
                break;
            }
        }
        done
    }

    /// How many of the next `n` bytes (clamped to what remains) can be written,
    /// making them present: lets a caller that consumes data (a pipe, a socket)
    /// take no more than it can deliver.
    pub fn writable(&self, n: usize) -> usize {
        self.space.writable_prefix(self.rest.split_at(n).0)
    }

    /// Skips `n` bytes (clamped to what remains).
    pub fn skip(&mut self, n: usize) {
        self.rest = self.rest.split_at(n).1;
    }
}

/// The user buffers of a vectored call (`readv`, `sendmsg`, ...) as one sequence
/// of bytes, consumed front to back. Every segment is checked when this is made
/// (EFAULT for one outside user space, as Linux's `import_iovec`), so the copies
/// only stop at bytes that cannot be reached.
pub struct UserIoVecs<'a> {
    space: &'a dyn UserSpace,
    segments: alloc::vec::Vec<UserRange>,
    /// The first segment not yet used up.
    next: usize,
}

impl<'a> UserIoVecs<'a> {
    /// The buffers `iovecs` of `space` (empty ones are dropped).
    pub fn new(space: &'a dyn UserSpace, iovecs: &[kestrel_abi::fs::Iovec]) -> KResult<Self> {
        let mut segments = alloc::vec::Vec::new();
        segments
            .try_reserve_exact(iovecs.len())
            .map_err(|_| Errno::ENOMEM)?;
        for v in iovecs.iter().filter(|v| v.len > 0) {
            let len = usize::try_from(v.len).map_err(|_| Errno::EFAULT)?;
            segments.push(UserRange::new(v.base, len)?);
        }
        Ok(Self {
            space,
            segments,
            next: 0,
        })
    }

    /// One buffer: `len` bytes at `ptr`.
    pub fn single(space: &'a dyn UserSpace, ptr: UserPtr<u8>, len: usize) -> KResult<Self> {
        let range = UserRange::new(ptr.addr(), len)?;
        let mut segments = alloc::vec::Vec::new();
        segments.try_reserve_exact(1).map_err(|_| Errno::ENOMEM)?;
        if len > 0 {
            segments.push(range);
        }
        Ok(Self {
            space,
            segments,
            next: 0,
        })
    }

    /// Bytes not yet used.
    pub fn remaining(&self) -> usize {
        self.segments[self.next..]
            .iter()
            .fold(0usize, |t, r| t.saturating_add(r.len()))
    }

    /// Takes up to `n` bytes off the front, calling `copy` on each piece with the
    /// offset into the caller's buffer; stops at the first short copy.
    fn consume(&mut self, n: usize, copy: &mut dyn FnMut(UserRange, usize) -> usize) -> usize {
        let mut done = 0;
        while done < n && self.next < self.segments.len() {
            let now = self.segments[self.next].split_at(n - done).0;
            let k = copy(now, done);
            done += k;
            self.segments[self.next] = self.segments[self.next].split_at(k).1;
            if self.segments[self.next].is_empty() {
                self.next += 1;
            }
            if k < now.len() {
                break;
            }
        }
        done
    }

    /// Copies the next bytes into `buf`; returns how many (short at the end or at
    /// a byte that cannot be read).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let space = self.space;
        self.consume(buf.len(), &mut |r, at| {
            space.copy_in(r, &mut buf[at..at + r.len()])
        })
    }

    /// Copies `data` into the next bytes; returns how many (short at the end or at
    /// a byte that cannot be written).
    pub fn write(&mut self, data: &[u8]) -> usize {
        let space = self.space;
        self.consume(data.len(), &mut |r, at| {
            space.copy_out(r, &data[at..at + r.len()])
        })
    }

    /// How many of the next `n` bytes can be written, making them present.
    pub fn writable(&self, n: usize) -> usize {
        let mut total = 0;
        for seg in &self.segments[self.next..] {
            if total >= n {
                break;
            }
            let want = seg.split_at(n - total).0;
            let ok = self.space.writable_prefix(want);
            total += ok;
            if ok < want.len() {
                break;
            }
        }
        total
    }
}
