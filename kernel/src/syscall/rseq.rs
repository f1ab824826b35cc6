//! Restartable sequences (rseq(2)), as Linux's kernel/rseq.c.
//!
//! A thread registers a `struct rseq` area (include/uapi/linux/rseq.h): the
//! kernel keeps its `cpu_id_start`, `cpu_id`, `node_id` and `mm_cid` current
//! whenever the thread returns to user mode, and when the thread was
//! preempted, moved to another CPU or is taking a signal while its IP is
//! inside the critical section `rseq_cs` describes, moves the IP to the
//! section's abort handler and clears `rseq_cs`.
//!
//! Linux's `TIF_NOTIFY_RESUME` idea: the work is done only when something
//! happened since the last return to user mode. Every poll of a registered
//! thread's task that ends (it waited, was preempted, exits) is such an event
//! ([`sched_out`], one flag test in the task's poll for any thread): the task
//! may resume on another CPU, and any other thread may have run on this one.
//! The thread's loop sees [`PENDING`] before it enters user mode ([`resume`]);
//! signal delivery does the same work on the interrupted context before it
//! builds the handler's frame ([`signal_deliver`]), as Linux's
//! `rseq_signal_deliver`. A call on the syscall fast path never gives up the
//! CPU, so it never has anything to do here, and the fast path does not look.
//!
//! `mm_cid` (Linux 6.3's concurrency id) is a small number unique among the
//! threads of the process running at the same moment: a thread takes the
//! lowest free bit of its process's [`CidMap`] when it returns to user mode
//! after an event and gives it back when its poll ends, so ids stay below the
//! number of CPUs and below the number of threads, as Linux promises. (Linux
//! keeps them per address space; Kestrel per process: only a vfork child,
//! whose parent waits, shares an address space with another process.)

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use kestrel_abi::signal::{SI_KERNEL, SIG_DFL, SIGSEGV, Siginfo};
use kestrel_abi::{Errno, KResult};
use kestrel_usermem::{USER_END, UserPtr};

use crate::arch::trap::UserContext;
use crate::process::Thread;

/// `sizeof(struct rseq)` before Linux 6.3 extended it: the length glibc and
/// most programs register (`ORIG_RSEQ_SIZE`), and its alignment.
pub const ORIG_RSEQ_SIZE: u32 = 32;
/// `offsetof(struct rseq, end)`: the fields this kernel fills in, through
/// `mm_cid` (AT_RSEQ_FEATURE_SIZE; Linux 6.3 to 6.18 report 28).
pub const RSEQ_FEATURE_SIZE: u32 = 28;
/// `__alignof__(struct rseq)` (AT_RSEQ_ALIGN).
pub const RSEQ_ALIGN: u32 = 32;
/// rseq(2)'s flag to unregister.
pub const RSEQ_FLAG_UNREGISTER: i32 = 1;
/// `cpu_id` of an area not registered (RSEQ_CPU_ID_UNINITIALIZED).
const CPU_ID_UNINITIALIZED: u32 = u32::MAX;

/// Offsets in `struct rseq`.
const OFF_RSEQ_CS: u64 = 8;
const OFF_FLAGS: u64 = 16;
const OFF_NODE_ID: u64 = 20;

/// [`Thread::rseq_flags`] bits (in the thread's rarely used part: a thread
/// that never registered pays the test of whether it has one). Only the
/// thread itself changes them (its system calls, its task's polls, its
/// exec); fork sets a new child's.
/// An area is registered.
pub const REGISTERED: u8 = 1;
/// The ids are to be written (and the IP checked) before the next return to
/// user mode (Linux's TIF_NOTIFY_RESUME).
pub const PENDING: u8 = 2;
/// The thread was preempted, moved or signalled since its last return: a
/// critical section it is in is aborted (Linux's `rseq_event_mask`).
const EVENT: u8 = 4;

/// A thread's registration (in its [`crate::process::ThreadRare`]).
pub struct RseqState {
    /// [`REGISTERED`], [`PENDING`], [`EVENT`].
    flags: AtomicU8,
    /// The area, its length and the abort signature; read by ptrace's
    /// PTRACE_GET_RSEQ_CONFIGURATION from another thread.
    reg: spin::Mutex<Registration>,
    /// The concurrency id this thread holds in its process's [`CidMap`]
    /// (`NO_CID`: none).
    cid: AtomicU32,
}

impl Default for RseqState {
    fn default() -> Self {
        Self {
            flags: AtomicU8::new(0),
            reg: spin::Mutex::new(Registration::default()),
            cid: AtomicU32::new(NO_CID),
        }
    }
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Registration {
    area: u64,
    len: u32,
    sig: u32,
}

const NO_CID: u32 = u32::MAX;

/// A process's concurrency ids in use (bit n: id n is held by a running
/// thread). 64 bits: Kestrel runs on at most 64 CPUs (`acpi::MAX_CPUS`), and
/// a thread holds an id only while it is on a CPU.
#[derive(Default)]
pub struct CidMap(AtomicU64);

impl CidMap {
    fn take(&self) -> u32 {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if cur == u64::MAX {
                // Cannot happen (at most one holder per CPU); a shared id
                // is still in range.
                return 0;
            }
            let bit = (!cur).trailing_zeros();
            match self.0.compare_exchange_weak(
                cur,
                cur | 1 << bit,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return bit,
                Err(now) => cur = now,
            }
        }
    }

    fn give_back(&self, cid: u32) {
        if cid < 64 {
            self.0.fetch_and(!(1u64 << cid), Ordering::AcqRel);
        }
    }
}

impl Thread {
    /// The [`REGISTERED`] / [`PENDING`] bits (0 for a thread that never
    /// registered an area).
    #[inline(always)]
    pub fn rseq_flags(&self) -> u8 {
        self.rare_if_made()
            .map_or(0, |r| r.rseq.flags.load(Ordering::Relaxed))
    }

    /// Sets the bits (making the rarely used part if need be: only
    /// registration and fork set bits in a thread without them).
    fn set_rseq_flags(&self, f: u8) {
        if f != 0 || self.rare_if_made().is_some() {
            self.rare().rseq.flags.store(f, Ordering::Relaxed);
        }
    }
}

/// The end of a poll of `t`'s task (it waits, yields or exits): if it has an
/// area, the next return to user mode rewrites it and aborts a critical
/// section it was in (Linux's `rseq_preempt`; a move to another CPU, Linux's
/// `rseq_migrate`, can only happen between polls); its concurrency id goes
/// back. Called only for a thread whose flags have [`REGISTERED`].
#[inline(never)]
pub fn sched_out(t: &Thread) {
    t.set_rseq_flags(t.rseq_flags() | PENDING | EVENT);
    release_cid(t);
}

fn release_cid(t: &Thread) {
    if let Some(r) = t.rare_if_made() {
        let cid = r.rseq.cid.swap(NO_CID, Ordering::Relaxed);
        if cid != NO_CID {
            t.process.rseq_cids.give_back(cid);
        }
    }
}

/// What went wrong updating the area.
pub enum Failure {
    /// A page of a file mapping not in memory yet: load it and try again.
    Load(crate::mm::vm::PageLoad),
    /// A bad area or critical-section descriptor: SIGSEGV, as Linux.
    Fatal,
}

/// The work before a return to user mode with [`PENDING`] set (Linux's
/// `__rseq_handle_notify_resume`): abort a critical section the thread was
/// interrupted in if an event happened, then write the ids. On a
/// [`Failure::Fatal`] the caller forces SIGSEGV ([`force_sigsegv`]).
pub fn try_resume(t: &Thread, regs: &mut UserContext) -> Result<(), Failure> {
    let flags = t.rseq_flags();
    if flags & REGISTERED == 0 {
        t.set_rseq_flags(0);
        return Ok(());
    }
    let Some(rare) = t.rare_if_made() else {
        return Ok(());
    };
    let reg = *rare.rseq.reg.lock();
    let mm = t.process.mm();
    let fail = |e: Errno| match t.take_pending_load() {
        Some(load) => Failure::Load(load),
        None => {
            log::debug!(
                "pid {} tid {}: rseq area {:#x} or its rseq_cs: {e:?} (SIGSEGV)",
                t.process.pid,
                t.tid(),
                reg.area
            );
            Failure::Fatal
        }
    };
    ip_fixup(t, &mm, reg, regs).map_err(fail)?;
    // The ids (Linux's rseq_update_cpu_node_id): cpu_id_start and cpu_id,
    // then node_id and mm_cid.
    let cpu = crate::task::this_cpu() as u32;
    let cid = match rare.rseq.cid.load(Ordering::Relaxed) {
        NO_CID => {
            let c = t.process.rseq_cids.take();
            rare.rseq.cid.store(c, Ordering::Relaxed);
            c
        }
        c => c,
    };
    let ids = u64::from(cpu) | u64::from(cpu) << 32;
    mm.write(UserPtr::<u64>::new(reg.area), &ids)
        .map_err(fail)?;
    let ext = u64::from(cid) << 32; // node_id 0: no NUMA
    mm.write(UserPtr::<u64>::new(reg.area + OFF_NODE_ID), &ext)
        .map_err(fail)?;
    t.set_rseq_flags(REGISTERED);
    Ok(())
}

/// Linux's `rseq_ip_fixup`: reads `rseq_cs`; if the IP is in the section it
/// describes and an event happened, the IP goes to the abort handler and
/// `rseq_cs` is cleared; outside any section `rseq_cs` is cleared (lazily, as
/// Linux). A bad descriptor is an error (SIGSEGV).
fn ip_fixup(
    t: &Thread,
    mm: &crate::mm::vm::AddressSpace,
    reg: Registration,
    regs: &mut UserContext,
) -> KResult<()> {
    let cs_ptr = UserPtr::<u64>::new(reg.area + OFF_RSEQ_CS);
    let ptr = mm.read(cs_ptr)?;
    if ptr == 0 {
        return Ok(());
    }
    if ptr >= USER_END {
        return Err(Errno::EINVAL);
    }
    // struct rseq_cs: version, flags, start_ip, post_commit_offset, abort_ip.
    let mut cs = [0u8; 32];
    mm.reader(UserPtr::<u8>::new(ptr), cs.len())?
        .read_exact(&mut cs)?;
    let le = kestrel_abi::le::u32_at;
    let le64 = kestrel_abi::le::u64_at;
    let (version, cs_flags) = (le(&cs, 0), le(&cs, 4));
    let (start, offset, abort) = (le64(&cs, 8), le64(&cs, 16), le64(&cs, 24));
    let end = start.checked_add(offset).ok_or(Errno::EINVAL)?;
    if start >= USER_END || end >= USER_END || abort >= USER_END || version > 0 {
        return Err(Errno::EINVAL);
    }
    // The abort handler may not be inside the section.
    if abort.wrapping_sub(start) < offset {
        return Err(Errno::EINVAL);
    }
    // The signature in the 4 bytes before the handler must be the one
    // registered (a program cannot send the thread to arbitrary code).
    let sig: u32 = mm.read(UserPtr::<u32>::new(abort.wrapping_sub(4)))?;
    if sig != reg.sig {
        log::debug!(
            "pid {} tid {}: rseq abort signature {sig:#x} at {:#x}, expected {:#x}",
            t.process.pid,
            t.tid(),
            abort - 4,
            reg.sig
        );
        return Err(Errno::EINVAL);
    }
    let ip = regs.regs.rip;
    if ip.wrapping_sub(start) >= offset {
        // Not in the section: clear rseq_cs.
        return mm.write(cs_ptr, &0u64);
    }
    // Linux's rseq_need_restart: the deprecated NO_RESTART flags (or unknown
    // ones) in the descriptor or the area's flags are an error.
    let area_flags: u32 = mm.read(UserPtr::<u32>::new(reg.area + OFF_FLAGS))?;
    if cs_flags != 0 || area_flags != 0 {
        return Err(Errno::EINVAL);
    }
    if t.rseq_flags() & EVENT == 0 {
        return Ok(());
    }
    mm.write(cs_ptr, &0u64)?;
    t.set_rseq_flags(t.rseq_flags() & !EVENT);
    // (The return is by iret from here: sysret needs rcx to equal the IP.)
    regs.regs.rip = abort;
    Ok(())
}

/// [`try_resume`], loading file pages it needs; forces SIGSEGV when the area
/// or descriptor is bad. `ksig`: the signal being delivered (0: none), as in
/// Linux's `force_sigsegv(ksig->sig)`.
pub async fn resume(t: &Arc<Thread>, regs: &mut UserContext, ksig: u32) {
    for _ in 0..8 {
        match try_resume(t, regs) {
            Ok(()) => return,
            Err(Failure::Load(load)) => {
                if load.load().await.is_err() {
                    break;
                }
            }
            Err(Failure::Fatal) => break,
        }
    }
    t.set_rseq_flags(t.rseq_flags() & REGISTERED);
    force_sigsegv(t, ksig);
}

/// Linux's `force_sigsegv`: SIGSEGV; while a SIGSEGV is being delivered, with
/// its handler reset first, so that the thread dies rather than loops.
fn force_sigsegv(t: &Arc<Thread>, ksig: u32) {
    if ksig == SIGSEGV {
        t.process.sigactions().lock().actions[(SIGSEGV - 1) as usize].handler = SIG_DFL;
    }
    crate::process::signal::force(t, Siginfo::new(SIGSEGV, SI_KERNEL));
}

/// Before the frame of a handler for signal `sig` is built (Linux's
/// `rseq_signal_deliver`): a signal is an event; the interrupted context is
/// fixed up and the ids written.
pub async fn signal_deliver(t: &Arc<Thread>, regs: &mut UserContext, sig: u32) {
    if t.rseq_flags() & REGISTERED == 0 {
        return;
    }
    t.set_rseq_flags(t.rseq_flags() | PENDING | EVENT);
    resume(t, regs, sig).await;
}

/// rseq(2).
pub fn register(t: &Thread, area: u64, len: u32, flags: i32, sig: u32) -> KResult<u64> {
    let registered = t.rseq_flags() & REGISTERED != 0;
    let current = match (registered, t.rare_if_made()) {
        (true, Some(r)) => Some(*r.rseq.reg.lock()),
        _ => None,
    };
    if flags & RSEQ_FLAG_UNREGISTER != 0 {
        if flags & !RSEQ_FLAG_UNREGISTER != 0 {
            return Err(Errno::EINVAL);
        }
        let Some(cur) = current.filter(|c| c.area == area && c.len == len) else {
            return Err(Errno::EINVAL);
        };
        if cur.sig != sig {
            return Err(Errno::EPERM);
        }
        // Linux's rseq_reset_rseq_cpu_node_id: cpu_id_start 0, cpu_id
        // UNINITIALIZED, node_id and mm_cid 0; a fault is EFAULT and the
        // area stays registered.
        let mm = t.process.mm();
        mm.write(
            UserPtr::<u64>::new(area),
            &(u64::from(CPU_ID_UNINITIALIZED) << 32),
        )?;
        mm.write(UserPtr::<u64>::new(area + OFF_NODE_ID), &0u64)?;
        clear(t);
        return Ok(0);
    }
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    if let Some(cur) = current {
        if cur.area != area || cur.len != len {
            return Err(Errno::EINVAL);
        }
        if cur.sig != sig {
            return Err(Errno::EPERM);
        }
        return Err(Errno::EBUSY);
    }
    // The original 32-byte area aligned on 32; a longer one aligned as
    // AT_RSEQ_ALIGN says and holding every field AT_RSEQ_FEATURE_SIZE counts.
    let aligned = |a: u32| area.is_multiple_of(u64::from(a));
    let ok = if len == ORIG_RSEQ_SIZE {
        aligned(ORIG_RSEQ_SIZE)
    } else {
        len > ORIG_RSEQ_SIZE && aligned(RSEQ_ALIGN) && len >= RSEQ_FEATURE_SIZE
    };
    if !ok {
        return Err(Errno::EINVAL);
    }
    // Linux's access_ok: the range must be user space.
    kestrel_usermem::UserRange::new(area, len as usize)?;
    // A `rseq_cs` left set (a libc reusing a thread's area) is cleared so the
    // first update does not act on a stale descriptor; reading it is where an
    // unmapped area is EFAULT (an area that can be read but not written shows
    // at the first update: SIGSEGV, as Linux 6.18).
    let mm = t.process.mm();
    let cs_ptr = UserPtr::<u64>::new(area + OFF_RSEQ_CS);
    if mm.read(cs_ptr)? != 0 {
        mm.write(cs_ptr, &0u64)?;
    }
    drop(mm);
    *t.rare().rseq.reg.lock() = Registration { area, len, sig };
    t.set_rseq_flags(REGISTERED | PENDING);
    Ok(0)
}

/// Forgets the registration (unregister, execve).
fn clear(t: &Thread) {
    release_cid(t);
    t.set_rseq_flags(0);
    if let Some(r) = t.rare_if_made() {
        *r.rseq.reg.lock() = Registration::default();
    }
}

/// execve: the new program starts with no area (Linux's `rseq_execve`).
pub fn exec(t: &Thread) {
    if t.rseq_flags() != 0 {
        clear(t);
    }
}

/// fork without CLONE_VM: the child keeps the parent's registration (the same
/// address in its copy of the memory) and writes its ids before its first
/// instruction (Linux's `rseq_fork`). A thread, or a process sharing the
/// memory (CLONE_VM), starts with none.
pub fn fork(parent: &Thread, child: &Thread) {
    if parent.rseq_flags() & REGISTERED == 0 {
        return;
    }
    let Some(r) = parent.rare_if_made() else {
        return;
    };
    let reg = *r.rseq.reg.lock();
    *child.rare().rseq.reg.lock() = reg;
    // The parent's pending event goes with it, as Linux copies the event mask.
    child.set_rseq_flags(REGISTERED | PENDING | (parent.rseq_flags() & EVENT));
}

/// PTRACE_GET_RSEQ_CONFIGURATION's `struct ptrace_rseq_configuration`:
/// area, length, signature, flags (0), padding.
pub fn configuration(t: &Thread) -> [u8; 24] {
    let reg = match t.rare_if_made() {
        Some(r) if t.rseq_flags() & REGISTERED != 0 => *r.rseq.reg.lock(),
        _ => Registration::default(),
    };
    let mut b = [0u8; 24];
    b[0..8].copy_from_slice(&reg.area.to_le_bytes());
    b[8..12].copy_from_slice(&reg.len.to_le_bytes());
    b[12..16].copy_from_slice(&reg.sig.to_le_bytes());
    b
}

/// rseq(2): registers or unregisters the thread's restartable-sequence area.
pub async fn sys_rseq(
    ctx: &mut super::Ctx<'_>,
    rseq: u64,
    rseq_len: u32,
    flags: i32,
    sig: u32,
) -> KResult<u64> {
    register(ctx.thread, rseq, rseq_len, flags, sig)
}
