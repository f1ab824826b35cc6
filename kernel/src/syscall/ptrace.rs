//! ptrace(2): the tracer's side. The tracee's side (stops as awaits) is
//! [`crate::process::ptrace`].

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use kestrel_abi::cap::CAP_SYS_PTRACE;
use kestrel_abi::fs::Iovec;
use kestrel_abi::ptrace::*;
use kestrel_abi::signal::{NSIG, SI_KERNEL, SI_USER, SIGKILL, SIGSTOP, Siginfo};
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::arch::fpu::{self, HasFpu};
use crate::arch::gdt::{USER_CS, USER_DS};
use crate::arch::trap::{UserContext, rflags};
use crate::process::ptrace::{self, StopKind, Tracee, flag};
use crate::process::{self, Thread, signal};

pub async fn sys_ptrace(
    ctx: &mut Ctx<'_>,
    request: i64,
    pid: Pid,
    addr: u64,
    data: u64,
) -> KResult<u64> {
    match request {
        PTRACE_TRACEME => return traceme(ctx),
        PTRACE_ATTACH | PTRACE_SEIZE => return attach(ctx, request, pid, addr, data).await,
        _ => {}
    }
    // Everything else acts on a tracee of the caller's, which must be in a
    // ptrace stop (but for KILL and INTERRUPT); otherwise ESRCH, as Linux.
    let t =
        process::find_thread(u32::try_from(pid).map_err(|_| Errno::ESRCH)?).ok_or(Errno::ESRCH)?;
    let me = ctx.process().clone();
    if !t.ptraced() || !ptrace::tracer_of(&t).is_some_and(|tr| Arc::ptr_eq(&tr, &me)) {
        return Err(Errno::ESRCH);
    }
    match request {
        PTRACE_KILL => {
            signal::send_process(&t.process, Siginfo::new(SIGKILL, SI_KERNEL));
            return Ok(0);
        }
        PTRACE_INTERRUPT => return interrupt(&t),
        PTRACE_SETOPTIONS if data & u64::from(PTRACE_O_SUSPEND_SECCOMP) != 0 => {
            // Checked before the tracee's lock (it takes the caller's).
            may_suspend_seccomp(ctx)?;
        }
        _ => {}
    }
    let mut st = t.ptrace.lock();
    if st.stop.is_none() || st.resume.is_some() {
        return Err(Errno::ESRCH);
    }
    match request {
        PTRACE_PEEKTEXT | PTRACE_PEEKDATA => {
            drop(st);
            let mut b = [0u8; 8];
            if t.process.mm().access_forced(addr, &mut b, false) != 8 {
                return Err(Errno::EIO);
            }
            ctx.write(UserPtr::<u64>::new(data), &u64::from_le_bytes(b))?;
            Ok(0)
        }
        PTRACE_POKETEXT | PTRACE_POKEDATA => {
            drop(st);
            let mut b = data.to_le_bytes();
            if t.process.mm().access_forced(addr, &mut b, true) != 8 {
                return Err(Errno::EIO);
            }
            Ok(0)
        }
        PTRACE_PEEKUSR => {
            let v = peek_user(&st, addr)?;
            drop(st);
            ctx.write(UserPtr::<u64>::new(data), &v)?;
            Ok(0)
        }
        PTRACE_POKEUSR => poke_user(&t, &mut st, addr, data).map(|_| 0),
        PTRACE_GETREGS => {
            let r = user_regs(&st);
            drop(st);
            ctx.write(UserPtr::<UserRegs>::new(data), &r)?;
            Ok(0)
        }
        PTRACE_SETREGS => {
            drop(st);
            let r: UserRegs = ctx.read(UserPtr::new(data))?;
            let mut st = t.ptrace.lock();
            set_user_regs(&mut st, &r).map(|_| 0)
        }
        PTRACE_GETFPREGS => {
            drop(st);
            let image = fpu_image(&t);
            ctx.mm()
                .writer(UserPtr::<u8>::new(data), 512)?
                .write_all(&image[..512])?;
            Ok(0)
        }
        PTRACE_SETFPREGS => {
            drop(st);
            let fx: [u8; 512] = ctx.read(UserPtr::new(data))?;
            set_fpu(&t, &fx, false).map(|_| 0)
        }
        PTRACE_GETREGSET | PTRACE_SETREGSET => {
            drop(st);
            regset(ctx, &t, request == PTRACE_SETREGSET, addr, data)
        }
        PTRACE_SETOPTIONS => {
            let opts = u32::try_from(data).map_err(|_| Errno::EINVAL)?;
            if opts & !PTRACE_O_MASK != 0 {
                return Err(Errno::EINVAL);
            }
            st.options = opts;
            Ok(0)
        }
        PTRACE_SECCOMP_GET_FILTER => {
            drop(st);
            super::seccomp::ptrace_get_filter(ctx, &t, addr, data)
        }
        PTRACE_SECCOMP_GET_METADATA => {
            drop(st);
            super::seccomp::ptrace_get_metadata(ctx, &t, addr, data)
        }
        PTRACE_GETEVENTMSG => {
            let msg = st.event_msg;
            drop(st);
            ctx.write(UserPtr::<u64>::new(data), &msg)?;
            Ok(0)
        }
        PTRACE_GETSIGINFO => {
            let stop = st.stop.as_ref().ok_or(Errno::ESRCH)?;
            if stop.kind == StopKind::Group {
                return Err(Errno::EINVAL); // how a tracer tells a group stop
            }
            let info = stop.info;
            drop(st);
            ctx.write(UserPtr::<Siginfo>::new(data), &info)?;
            Ok(0)
        }
        PTRACE_SETSIGINFO => {
            drop(st);
            let info: Siginfo = ctx.read(UserPtr::new(data))?;
            let mut st = t.ptrace.lock();
            let stop = st.stop.as_mut().ok_or(Errno::ESRCH)?;
            if stop.kind == StopKind::Group {
                return Err(Errno::EINVAL);
            }
            stop.info = info;
            Ok(0)
        }
        PTRACE_GETSIGMASK => {
            drop(st);
            if addr != 8 {
                return Err(Errno::EINVAL);
            }
            ctx.write(
                UserPtr::<u64>::new(data),
                &t.sigmask.load(Ordering::Acquire),
            )?;
            Ok(0)
        }
        PTRACE_SETSIGMASK => {
            drop(st);
            if addr != 8 {
                return Err(Errno::EINVAL);
            }
            let mask: u64 = ctx.read(UserPtr::new(data))?;
            t.sigmask
                .store(signal::sanitize_mask(mask), Ordering::Release);
            Ok(0)
        }
        PTRACE_GET_SYSCALL_INFO => {
            let (bytes, size) = syscall_info(&st);
            drop(st);
            let n = (addr as usize).min(size);
            ctx.mm()
                .writer(UserPtr::<u8>::new(data), n)?
                .write_all(&bytes[..n])?;
            Ok(size as u64)
        }
        PTRACE_GET_RSEQ_CONFIGURATION => {
            // The tracee's rseq(2) registration (CRIU's checkpoint): as many
            // bytes of the 24-byte structure as `addr` asks, and its size.
            drop(st);
            let conf = super::rseq::configuration(&t);
            let n = (addr as usize).min(conf.len());
            ctx.mm()
                .writer(UserPtr::<u8>::new(data), n)?
                .write_all(&conf[..n])?;
            Ok(conf.len() as u64)
        }
        PTRACE_CONT | PTRACE_SYSCALL | PTRACE_SINGLESTEP => {
            let sig = resume_signal(data)?;
            let f = match request {
                PTRACE_SYSCALL => flag::SYSCALL,
                PTRACE_SINGLESTEP => flag::STEP,
                _ => 0,
            };
            t.ptrace_flags
                .fetch_and(!(flag::SYSCALL | flag::STEP), Ordering::AcqRel);
            t.ptrace_flags.fetch_or(f, Ordering::AcqRel);
            let step = request == PTRACE_SINGLESTEP;
            let forced = st.forced_tf;
            if let Some(stop) = st.stop.as_mut() {
                let r = &mut stop.regs.regs;
                if step {
                    if r.rflags & rflags::TF == 0 {
                        r.rflags |= rflags::TF;
                        st.forced_tf = true;
                    }
                } else if forced {
                    r.rflags &= !rflags::TF;
                    st.forced_tf = false;
                }
            }
            st.resume = Some(sig);
            drop(st);
            t.wake_waits();
            Ok(0)
        }
        PTRACE_LISTEN => {
            let event_stop = st
                .stop
                .as_ref()
                .is_some_and(|s| s.status >> 16 == PTRACE_EVENT_STOP);
            if !st.seized || !event_stop {
                return Err(Errno::EIO);
            }
            t.ptrace_flags.fetch_or(flag::LISTEN, Ordering::AcqRel);
            st.resume = Some(0);
            drop(st);
            t.wake_waits();
            Ok(0)
        }
        PTRACE_DETACH => {
            let sig = resume_signal(data)?;
            drop(st);
            ptrace::detach(&me, &t, Some(sig));
            Ok(0)
        }
        _ => Err(Errno::EIO),
    }
}

/// The signal a resuming request passes in `data` (EIO unless 0..=NSIG).
fn resume_signal(data: u64) -> KResult<u32> {
    if data > u64::from(NSIG) {
        return Err(Errno::EIO);
    }
    Ok(data as u32)
}

fn traceme(ctx: &Ctx<'_>) -> KResult<u64> {
    let t = ctx.thread;
    if t.ptraced() {
        return Err(Errno::EPERM);
    }
    let parent = ctx.process().parent().ok_or(Errno::EPERM)?;
    if !ptrace::link(&parent, t, false, 0) {
        return Err(Errno::EPERM);
    }
    Ok(0)
}

/// Whether `me` may reach `target`'s memory and inner state (Linux's
/// ptrace_may_access with PTRACE_MODE_ATTACH_REALCREDS, as mm_access,
/// process_vm_readv, kcmp, pidfd_getfd and perf_event_open ask it): always
/// its own process, else [`may_trace`].
pub(super) fn may_access(me: &Arc<process::Process>, target: &Arc<process::Process>) -> bool {
    Arc::ptr_eq(me, target) || may_trace(me, target)
}

/// Whether `tracer` may trace `target` (Linux's PTRACE_MODE_ATTACH_REALCREDS
/// check): CAP_SYS_PTRACE, or the same real uid and gid as all of the target's
/// ids, and a dumpable target.
pub(super) fn may_trace(tracer: &process::Process, target: &process::Process) -> bool {
    let c = tracer.cred.lock().clone();
    if c.capable(CAP_SYS_PTRACE) {
        return true;
    }
    let t = target.cred.lock().clone();
    [t.uid, t.euid, t.suid].iter().all(|&u| u == c.uid)
        && [t.gid, t.egid, t.sgid].iter().all(|&g| g == c.gid)
        && target.dumpable.load(Ordering::Relaxed)
}

/// PTRACE_O_SUSPEND_SECCOMP (checkpoint/restore: the tracee's seccomp
/// filters are not run): only for a tracer with CAP_SYS_ADMIN that is itself
/// neither in seccomp nor suspending it for its own tracer (Linux's
/// ptrace_setoptions).
fn may_suspend_seccomp(ctx: &Ctx<'_>) -> KResult<()> {
    if !ctx.capable(kestrel_abi::cap::CAP_SYS_ADMIN)
        || ctx.thread.seccomp_active()
        || ptrace::wants(ctx.thread, PTRACE_O_SUSPEND_SECCOMP)
    {
        return Err(Errno::EPERM);
    }
    Ok(())
}

async fn attach(ctx: &Ctx<'_>, request: i64, pid: Pid, addr: u64, data: u64) -> KResult<u64> {
    let seize = request == PTRACE_SEIZE;
    let mut options = 0;
    if seize {
        if addr != 0 {
            return Err(Errno::EIO);
        }
        // Linux answers EIO here, where SETOPTIONS says EINVAL.
        options = u32::try_from(data).map_err(|_| Errno::EIO)?;
        if options & !PTRACE_O_MASK != 0 {
            return Err(Errno::EIO);
        }
        if options & PTRACE_O_SUSPEND_SECCOMP != 0 {
            may_suspend_seccomp(ctx)?;
        }
    }
    let t = u32::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .and_then(process::find_thread)
        .ok_or(Errno::ESRCH)?;
    let me = ctx.process();
    // Not one's own threads, not init (Kestrel keeps pid 1 untraceable), not a
    // thread already traced or on its way out.
    if Arc::ptr_eq(&t.process, me)
        || t.process.pid == 1
        || t.ptraced()
        || t.should_exit()
        || !may_trace(me, &t.process)
    {
        return Err(Errno::EPERM);
    }
    if !ptrace::link(me, &t, seize, options) {
        return Err(Errno::EPERM);
    }
    if !seize {
        let uid = me.cred.lock().uid;
        signal::queue_on_thread(&t, Siginfo::from_process(SIGSTOP, SI_USER, me.pid, uid));
    }
    if t.process.signals.stopped.load(Ordering::Acquire) {
        // A thread in a group stop is in a ptrace stop by the time the call
        // returns, as Linux's attach waits for it (JOBCTL_TRAPPING): the tracer
        // may use it at once, before any wait. Its own wake-up is quick (it only
        // moves from one park to the other); a signal ends the wait early.
        let tracer = me.clone();
        let trapped = tracer.child_event.wait_until(|| {
            let st = t.ptrace.lock();
            (st.stop.is_some() || !t.ptraced() || t.should_exit()).then_some(())
        });
        let wait = async {
            trapped.await;
            Ok(())
        };
        signal::interruptible(ctx.thread, Errno::EINTR, wait)
            .await
            .ok();
    }
    Ok(0)
}

fn interrupt(t: &Arc<Thread>) -> KResult<u64> {
    let st = t.ptrace.lock();
    if !st.seized {
        return Err(Errno::EIO);
    }
    let stopped = st.stop.is_some() && st.resume.is_none();
    drop(st);
    let listening = t.ptrace_flags.load(Ordering::Acquire) & flag::LISTEN != 0;
    if !stopped || listening {
        t.ptrace_flags.fetch_or(flag::TRAP, Ordering::AcqRel);
        // Wherever it waits, it comes back to take the trap.
        t.wake_waits();
        t.process.signals.stop_wq.wake_all();
    }
    Ok(0)
}

/// The stopped registers as `struct user_regs_struct` (TF hidden when it is
/// ours, as Linux hides it).
fn user_regs(st: &Tracee) -> UserRegs {
    let Some(stop) = st.stop.as_ref() else {
        return UserRegs::default();
    };
    let c: &UserContext = &stop.regs;
    let r = &c.regs;
    let mut eflags = r.rflags;
    if st.forced_tf {
        eflags &= !rflags::TF;
    }
    UserRegs {
        r15: r.r15,
        r14: r.r14,
        r13: r.r13,
        r12: r.r12,
        rbp: r.rbp,
        rbx: r.rbx,
        r11: r.r11,
        r10: r.r10,
        r9: r.r9,
        r8: r.r8,
        rax: r.rax,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        orig_rax: c.orig_rax,
        rip: r.rip,
        cs: u64::from(USER_CS),
        eflags,
        rsp: r.rsp,
        ss: u64::from(USER_DS),
        fs_base: c.fs_base,
        gs_base: c.gs_base,
        ds: 0,
        es: 0,
        fs: 0,
        gs: 0,
    }
}

/// Writes `u` into the stopped registers, with Linux's putreg checks: segment
/// selectors must be user ones, bases user addresses; only user flags change.
fn set_user_regs(st: &mut Tracee, u: &UserRegs) -> KResult<()> {
    let forced = st.forced_tf;
    let stop = st.stop.as_mut().ok_or(Errno::ESRCH)?;
    if u.cs & 3 != 3 || u.ss & 3 != 3 {
        return Err(Errno::EIO);
    }
    if !kestrel_usermem::is_user_address(u.fs_base) && u.fs_base != 0
        || !kestrel_usermem::is_user_address(u.gs_base) && u.gs_base != 0
    {
        return Err(Errno::EIO);
    }
    let c = &mut stop.regs;
    let r = &mut c.regs;
    r.r15 = u.r15;
    r.r14 = u.r14;
    r.r13 = u.r13;
    r.r12 = u.r12;
    r.rbp = u.rbp;
    r.rbx = u.rbx;
    r.r11 = u.r11;
    r.r10 = u.r10;
    r.r9 = u.r9;
    r.r8 = u.r8;
    r.rax = u.rax;
    r.rcx = u.rcx;
    r.rdx = u.rdx;
    r.rsi = u.rsi;
    r.rdi = u.rdi;
    c.orig_rax = u.orig_rax;
    r.rip = u.rip;
    let keep_tf = if forced { rflags::TF } else { 0 };
    r.rflags = (r.rflags & !rflags::USER_MASK) | (u.eflags & rflags::USER_MASK) | keep_tf;
    r.rsp = u.rsp;
    c.fs_base = u.fs_base;
    c.gs_base = u.gs_base;
    Ok(())
}

/// PEEKUSER: a word of `struct user` at `off` (registers and debug registers;
/// the rest reads as zero).
fn peek_user(st: &Tracee, off: u64) -> KResult<u64> {
    if !off.is_multiple_of(8) || off >= USER_SIZE {
        return Err(Errno::EIO);
    }
    let regs = user_regs(st);
    let words: &[u64] = kestrel_abi::bytemuck::cast_slice(kestrel_abi::bytemuck_bytes(&regs));
    let i = (off / 8) as usize;
    if i < words.len() {
        return Ok(words[i]);
    }
    // error_code and fault_address follow the debug registers: they read as 0.
    let dr = (off.wrapping_sub(USER_DEBUGREG_OFFSET) / 8) as usize;
    Ok(st
        .debugreg
        .as_deref()
        .and_then(|d| d.get(dr).copied())
        .unwrap_or(0))
}

/// POKEUSER: a register, or a debug register. DR0-3 take user addresses
/// (EINVAL otherwise, as Linux); DR7 may enable execute breakpoints and data
/// watchpoints (EINVAL for I/O ones, bad lengths or a watched address not
/// aligned to its length); DR4 and DR5 do not exist (EIO).
fn poke_user(t: &Thread, st: &mut Tracee, off: u64, v: u64) -> KResult<()> {
    if !off.is_multiple_of(8) || off >= USER_SIZE {
        return Err(Errno::EIO);
    }
    let mut regs = user_regs(st);
    let i = (off / 8) as usize;
    let n = core::mem::size_of::<UserRegs>() / 8;
    if i < n {
        let words: &mut [u64] =
            kestrel_abi::bytemuck::cast_slice_mut(kestrel_abi::bytemuck::bytes_of_mut(&mut regs));
        words[i] = v;
        return set_user_regs(st, &regs);
    }
    let dr = (off.wrapping_sub(USER_DEBUGREG_OFFSET) / 8) as usize;
    match dr {
        0..=3 if !kestrel_usermem::is_user_address(v) => return Err(Errno::EINVAL),
        4 | 5 => return Err(Errno::EIO),
        7 => {
            for i in 0..4 {
                if v >> (2 * i) & 3 == 0 {
                    continue;
                }
                let (kind, len) = (v >> (16 + 4 * i) & 3, v >> (18 + 4 * i) & 3);
                match kind {
                    0 if len == 0 => {}                 // execute, one byte
                    0 | 2 => return Err(Errno::EINVAL), // bad length; I/O
                    _ => {
                        // A data watchpoint (write, or read/write) of 1, 2, 8
                        // or 4 bytes: its address aligned to its length.
                        let bytes = [1u64, 2, 8, 4][len as usize];
                        let addr = st.debugreg.as_deref().map_or(0, |d| d[i]);
                        if addr & (bytes - 1) != 0 {
                            return Err(Errno::EINVAL);
                        }
                    }
                }
            }
            if v & crate::arch::debugreg::DR7_ENABLES != 0 {
                t.ptrace_flags.fetch_or(flag::HWBP, Ordering::AcqRel);
            } else {
                t.ptrace_flags.fetch_and(!flag::HWBP, Ordering::AcqRel);
            }
        }
        _ => {}
    }
    if dr < 8 {
        st.debugreg.get_or_insert_default()[dr] = v;
    }
    Ok(())
}

/// The tracee's FPU state as an XSAVE (or FXSAVE) image, current.
pub(crate) fn fpu_image(t: &Arc<Thread>) -> Vec<u8> {
    let me: Arc<dyn HasFpu> = t.clone();
    fpu::sync_to_memory(&me);
    t.fpu.lock().image()
}

/// Replaces the tracee's FPU state: the legacy 512 bytes (`full` false) or a
/// whole XSAVE image. EINVAL for a state the CPU would refuse.
fn set_fpu(t: &Arc<Thread>, bytes: &[u8], full: bool) -> KResult<()> {
    let mut image = fpu_image(t);
    if full {
        let n = bytes.len().min(image.len());
        image[..n].copy_from_slice(&bytes[..n]);
        if fpu::has_xsave() && image.len() >= 576 {
            image[464..512].fill(0); // software bytes: not part of the state
        }
    } else {
        image[..512].copy_from_slice(&bytes[..512]);
        image[464..512].fill(0);
        if fpu::has_xsave() && image.len() >= 576 {
            image[512] |= 0b11; // x87 and SSE are in the image
        }
    }
    let new = fpu::FpuState::from_user(&image).ok_or(Errno::EINVAL)?;
    let me: Arc<dyn HasFpu> = t.clone();
    fpu::sync_to_memory(&me);
    *t.fpu.lock() = new;
    fpu::invalidate(&me);
    Ok(())
}

/// The XSAVE image as NT_X86_XSTATE reports it: the software-reserved bytes
/// hold XCR0 in their first word and zeros (not the signal frame's
/// magic-and-sizes layout), which is where gdb reads XCR0 to pick the
/// registers it shows.
fn xstate_image(t: &Arc<Thread>) -> Vec<u8> {
    let mut image = fpu_image(t);
    image[464..472].copy_from_slice(&fpu::xcr0().to_le_bytes());
    image[472..512].fill(0);
    image
}

/// GETREGSET/SETREGSET: `nt` names the set, `data` points at an iovec whose
/// length is updated to what was transferred.
fn regset(ctx: &Ctx<'_>, t: &Arc<Thread>, set: bool, nt: u64, data: u64) -> KResult<u64> {
    let iov_ptr = UserPtr::<Iovec>::new(data);
    let mut iov: Iovec = ctx.read(iov_ptr)?;
    let current: Vec<u8> = match nt {
        NT_PRSTATUS => kestrel_abi::bytemuck_bytes(&user_regs(&t.ptrace.lock())).to_vec(),
        NT_PRFPREG => fpu_image(t)[..512].to_vec(),
        NT_X86_XSTATE if fpu::has_xsave() => xstate_image(t),
        NT_X86_XSTATE => return Err(Errno::ENODEV),
        _ => return Err(Errno::EINVAL),
    };
    if !iov.len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let n = (iov.len as usize).min(current.len());
    if set {
        let mut new = current;
        ctx.mm()
            .reader(UserPtr::<u8>::new(iov.base), n)?
            .read_exact(&mut new[..n])?;
        match nt {
            NT_PRSTATUS => {
                let regs: UserRegs = kestrel_abi::bytemuck::pod_read_unaligned(&new);
                set_user_regs(&mut t.ptrace.lock(), &regs)?;
            }
            NT_PRFPREG => set_fpu(t, &new, false)?,
            _ => set_fpu(t, &new, true)?,
        }
    } else {
        ctx.mm()
            .writer(UserPtr::<u8>::new(iov.base), n)?
            .write_all(&current[..n])?;
    }
    iov.len = n as u64;
    ctx.write(iov_ptr, &iov)?;
    Ok(0)
}

/// PTRACE_GET_SYSCALL_INFO: the bytes of `struct ptrace_syscall_info` for the
/// current stop and how many of them are meaningful.
fn syscall_info(st: &Tracee) -> ([u8; core::mem::size_of::<PtraceSyscallInfo>()], usize) {
    let mut info = PtraceSyscallInfo {
        arch: AUDIT_ARCH_X86_64,
        ..Default::default()
    };
    let mut size = SYSCALL_INFO_HEADER;
    if let Some(stop) = st.stop.as_ref() {
        let r = &stop.regs.regs;
        info.instruction_pointer = r.rip;
        info.stack_pointer = r.rsp;
        match stop.kind {
            StopKind::SyscallEntry => {
                info.op = PTRACE_SYSCALL_INFO_ENTRY;
                info.data = [stop.regs.orig_rax, r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9];
                size = SYSCALL_INFO_ENTRY_SIZE;
            }
            StopKind::SyscallExit => {
                info.op = PTRACE_SYSCALL_INFO_EXIT;
                let rval = r.rax as i64;
                info.data[0] = r.rax;
                info.data[1] = u64::from((-4095..0).contains(&rval));
                size = SYSCALL_INFO_EXIT_SIZE;
            }
            _ => {}
        }
    }
    let mut out = [0u8; core::mem::size_of::<PtraceSyscallInfo>()];
    out.copy_from_slice(kestrel_abi::bytemuck_bytes(&info));
    (out, size)
}
