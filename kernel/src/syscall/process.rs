//! Processes: creating them (fork, vfork, clone), replacing them (execve), ending and
//! waiting for them, and their ids, groups and sessions.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use kestrel_abi::process::*;
use kestrel_abi::signal::*;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::process::signal::interruptible;
use crate::process::{self, CloneShare, VforkDone, WaitFor, WaitOptions, WaitResult, thread};

/// The id in the caller's own PID namespace.
pub fn getpid(ctx: &Ctx<'_>) -> KResult<u64> {
    Ok(u64::from(ctx.process().vpid))
}

/// The thread id; a process's first thread has the process's id, so in a PID
/// namespace it reads as the namespace's id. (Other threads of a process in a
/// non-initial PID namespace show their global ids: Kestrel numbers only
/// processes per namespace.)
pub fn gettid(ctx: &Ctx<'_>) -> KResult<u64> {
    let p = ctx.process();
    if ctx.thread.tid() == p.pid {
        return Ok(u64::from(p.vpid));
    }
    Ok(u64::from(ctx.thread.tid()))
}

/// The parent's id as the caller's PID namespace sees it: 0 when the parent is
/// outside it (the parent of a namespace's init).
#[inline]
pub fn getppid(ctx: &Ctx<'_>) -> KResult<u64> {
    let p = ctx.process();
    if p.pid_ns.is_root() {
        return Ok(u64::from(p.ppid()));
    }
    Ok(ppid_in_namespace(p))
}

/// The parent's pid as `p`'s PID namespace numbers it (0 outside it): out
/// of line, so that the common getppid (the initial namespace) is a load.
#[inline(never)]
fn ppid_in_namespace(p: &crate::process::Process) -> u64 {
    p.parent().map_or(0, |pp| u64::from(pp.pid_in(&p.pid_ns)))
}

pub fn getuid(ctx: &Ctx<'_>) -> KResult<u64> {
    Ok(u64::from(ctx.process().cred.lock().uid))
}

pub fn geteuid(ctx: &Ctx<'_>) -> KResult<u64> {
    Ok(u64::from(ctx.process().cred.lock().euid))
}

pub fn getgid(ctx: &Ctx<'_>) -> KResult<u64> {
    Ok(u64::from(ctx.process().cred.lock().gid))
}

pub fn getegid(ctx: &Ctx<'_>) -> KResult<u64> {
    Ok(u64::from(ctx.process().cred.lock().egid))
}

// The table's entries for the calls above (which run without a future:
// `syscall::call_now`; these serve a call re-run through the table).
pub async fn sys_getpid(ctx: &mut Ctx<'_>) -> KResult<u64> {
    getpid(ctx)
}

pub async fn sys_gettid(ctx: &mut Ctx<'_>) -> KResult<u64> {
    gettid(ctx)
}

pub async fn sys_getppid(ctx: &mut Ctx<'_>) -> KResult<u64> {
    getppid(ctx)
}

pub async fn sys_getuid(ctx: &mut Ctx<'_>) -> KResult<u64> {
    getuid(ctx)
}

pub async fn sys_geteuid(ctx: &mut Ctx<'_>) -> KResult<u64> {
    geteuid(ctx)
}

pub async fn sys_getgid(ctx: &mut Ctx<'_>) -> KResult<u64> {
    getgid(ctx)
}

pub async fn sys_getegid(ctx: &mut Ctx<'_>) -> KResult<u64> {
    getegid(ctx)
}

/// Whether PID namespace `ns` is `root` or one below it.
fn pid_ns_within(ns: &Arc<crate::ns::PidNs>, root: &Arc<crate::ns::PidNs>) -> bool {
    let mut x = Some(ns.clone());
    while let Some(y) = x {
        if Arc::ptr_eq(&y, root) {
            return true;
        }
        x = y.parent.clone();
    }
    false
}

/// The process `pid` refers to (0: the caller).
fn target(ctx: &Ctx<'_>, pid: i32) -> KResult<Arc<process::Process>> {
    // A negative pid names no process (Linux looks it up and finds none).
    if pid < 0 {
        return Err(Errno::ESRCH);
    }
    if pid == 0 {
        return Ok(ctx.process().clone());
    }
    process::find(pid as u32)
        .filter(|p| p.state() == process::State::Running)
        .ok_or(Errno::ESRCH)
}

pub async fn sys_setpgid(ctx: &mut Ctx<'_>, pid: Pid, pgid: Pid) -> KResult<u64> {
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let me = ctx.process().clone();
    let p = if pid == 0 {
        me.clone()
    } else {
        process::find(pid as u32).ok_or(Errno::ESRCH)?
    };
    let is_child = p.parent().is_some_and(|pp| Arc::ptr_eq(&pp, &me));
    if !Arc::ptr_eq(&p, &me) && !is_child {
        return Err(Errno::ESRCH);
    }
    let my_sid = me.sid.load(Ordering::Relaxed);
    if is_child {
        if p.sid.load(Ordering::Relaxed) != my_sid {
            return Err(Errno::EPERM);
        }
        if p.did_exec.load(Ordering::Relaxed) {
            return Err(Errno::EACCES);
        }
    }
    if p.pid == p.sid.load(Ordering::Relaxed) {
        return Err(Errno::EPERM); // a session leader cannot change its group
    }
    let pgid = if pgid == 0 { p.pid } else { pgid as u32 };
    if pgid != p.pid
        && !process::all().iter().any(|q| {
            q.pgid.load(Ordering::Relaxed) == pgid && q.sid.load(Ordering::Relaxed) == my_sid
        })
    {
        return Err(Errno::EPERM);
    }
    p.pgid.store(pgid, Ordering::Relaxed);
    Ok(0)
}

pub async fn sys_getpgid(ctx: &mut Ctx<'_>, pid: Pid) -> KResult<u64> {
    Ok(u64::from(target(ctx, pid)?.pgid.load(Ordering::Relaxed)))
}

pub async fn sys_getpgrp(ctx: &mut Ctx<'_>) -> KResult<u64> {
    Ok(u64::from(ctx.process().pgid.load(Ordering::Relaxed)))
}

pub async fn sys_getsid(ctx: &mut Ctx<'_>, pid: Pid) -> KResult<u64> {
    Ok(u64::from(target(ctx, pid)?.sid.load(Ordering::Relaxed)))
}

pub async fn sys_setsid(ctx: &mut Ctx<'_>) -> KResult<u64> {
    let p = ctx.process();
    let pid = p.pid;
    // A process group leader cannot start a session (its group would span two).
    if p.pgid.load(Ordering::Relaxed) == pid
        || process::all()
            .iter()
            .any(|q| q.pid != pid && q.pgid.load(Ordering::Relaxed) == pid)
    {
        return Err(Errno::EPERM);
    }
    p.sid.store(pid, Ordering::Relaxed);
    p.pgid.store(pid, Ordering::Relaxed);
    Ok(u64::from(pid))
}

pub async fn sys_set_tid_address(ctx: &mut Ctx<'_>, tidptr: UserPtr<i32>) -> KResult<u64> {
    ctx.thread
        .clear_child_tid
        .store(tidptr.addr(), Ordering::Relaxed);
    Ok(u64::from(ctx.thread.tid()))
}

pub async fn sys_arch_prctl(ctx: &mut Ctx<'_>, code: u32, addr: u64) -> KResult<u64> {
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            // Linux: EPERM for an address outside user space.
            if !kestrel_usermem::is_user_address(addr) {
                return Err(Errno::EPERM);
            }
            if code == ARCH_SET_FS {
                ctx.regs.fs_base = addr;
            } else {
                ctx.regs.gs_base = addr;
            }
            Ok(0)
        }
        ARCH_GET_FS => ctx.write(UserPtr::new(addr), &ctx.regs.fs_base).map(|_| 0),
        ARCH_GET_GS => ctx.write(UserPtr::new(addr), &ctx.regs.gs_base).map(|_| 0),
        ARCH_GET_CPUID => Ok(1),
        ARCH_SET_CPUID => Err(Errno::ENODEV),
        _ => Err(Errno::EINVAL),
    }
}

/// iopl(2) as Linux has emulated it since 5.5: the level is remembered per thread
/// (inherited by fork and clone, kept across execve); at 3 every I/O port is open
/// to the thread through the CPU's TSS I/O bitmap, below 3 none is. Raising the
/// level needs CAP_SYS_RAWIO; lowering it or setting it again does not.
pub async fn sys_iopl(ctx: &mut Ctx<'_>, level: u32) -> KResult<u64> {
    if level > 3 {
        return Err(Errno::EINVAL);
    }
    let old = u32::from(ctx.regs.iopl_emul);
    if level > old && !ctx.capable(kestrel_abi::cap::CAP_SYS_RAWIO) {
        return Err(Errno::EPERM);
    }
    ctx.regs.iopl_emul = level as u8;
    Ok(0)
}

/// ioperm(2): allows (`turn_on`) or denies the `num` ports from `from` to the
/// calling thread, through a bitmap of its own (inherited by fork and clone,
/// kept across execve) that the CPU's TSS holds while the thread runs. EINVAL
/// for an empty range or one past port 0xffff; allowing needs CAP_SYS_RAWIO.
pub async fn sys_ioperm(ctx: &mut Ctx<'_>, from: u64, num: u64, turn_on: i32) -> KResult<u64> {
    use crate::arch::trap::IoBitmap;
    let end = from.checked_add(num).ok_or(Errno::EINVAL)?;
    if end <= from || end > 65536 {
        return Err(Errno::EINVAL);
    }
    if turn_on != 0 && !ctx.capable(kestrel_abi::cap::CAP_SYS_RAWIO) {
        return Err(Errno::EPERM);
    }
    if turn_on == 0 && ctx.regs.io_bitmap.is_none() {
        return Ok(0);
    }
    let b = Arc::make_mut(ctx.regs.io_bitmap.get_or_insert_with(Default::default));
    for port in from..end {
        let (byte, bit) = ((port / 8) as usize, 1u8 << (port % 8));
        if turn_on != 0 {
            b.bits[byte] &= !bit;
        } else {
            b.bits[byte] |= bit;
        }
    }
    b.id = IoBitmap::next_id();
    Ok(0)
}

pub async fn sys_exit(ctx: &mut Ctx<'_>, status: u32) -> KResult<u64> {
    ctx.thread.set_exit_code(status & 0xff);
    ctx.thread.request_exit();
    Ok(0)
}

pub async fn sys_exit_group(ctx: &mut Ctx<'_>, status: u32) -> KResult<u64> {
    let code = status & 0xff;
    ctx.thread.set_exit_code(code);
    if !ctx.process().exit_group(wstatus_exited(code as u8)) {
        // Another thread's execve won: this thread just ends.
        ctx.thread.set_exit_code(0);
    }
    ctx.thread.request_exit();
    Ok(0)
}

/// Waits for a child state change (shared by wait4 and waitid).
async fn wait_child(
    ctx: &Ctx<'_>,
    which: WaitFor,
    opts: WaitOptions,
    nohang: bool,
) -> KResult<Option<WaitResult>> {
    let me = ctx.process().clone();
    if nohang {
        return process::try_wait(&me, which, opts);
    }
    let wait = async {
        let mut result = None;
        me.child_event
            .wait_until(|| match process::try_wait(&me, which, opts) {
                Ok(None) => None,
                r => {
                    result = Some(r);
                    Some(())
                }
            })
            .await;
        result.unwrap_or(Ok(None))
    };
    interruptible(ctx.thread, Errno::ERESTARTSYS, wait).await
}

pub async fn sys_wait4(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    status_ptr: UserPtr<i32>,
    options: u32,
    rusage_ptr: UserPtr<Rusage>,
) -> KResult<u64> {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE) != 0 {
        return Err(Errno::EINVAL);
    }
    // -INT_MIN names no process group (Linux's kernel_wait4).
    if pid == i32::MIN {
        return Err(Errno::ESRCH);
    }
    let which = match pid {
        -1 => WaitFor::Any,
        0 => WaitFor::Pgid(ctx.process().pgid.load(Ordering::Relaxed)),
        p if p < -1 => WaitFor::Pgid(p.unsigned_abs()),
        p => WaitFor::Pid(p as u32),
    };
    let opts = WaitOptions {
        exited: true,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        nowait: false,
    };
    let Some(found) = wait_child(ctx, which, opts, options & WNOHANG != 0).await? else {
        return Ok(0);
    };
    if !status_ptr.is_null() {
        ctx.write(status_ptr, &(found.status as i32))?;
    }
    if !rusage_ptr.is_null() {
        let usage = super::time::with_switches(super::time::rusage(found.cpu), found.switches);
        ctx.write(rusage_ptr, &usage)?;
    }
    Ok(u64::from(found.pid))
}

pub async fn sys_waitid(
    ctx: &mut Ctx<'_>,
    idtype: u64,
    id: u32,
    infop: UserPtr<Siginfo>,
    options: u32,
    rusage: UserPtr<Rusage>,
) -> KResult<u64> {
    const P_ALL: u64 = 0;
    const P_PID: u64 = 1;
    const P_PGID: u64 = 2;
    let (idtype, id, info_ptr, options, rusage_ptr) = (idtype, id, infop, options, rusage);
    if options
        & !(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | __WNOTHREAD | __WALL | __WCLONE)
        != 0
        || options & (WEXITED | WSTOPPED | WCONTINUED) == 0
    {
        return Err(Errno::EINVAL);
    }
    const P_PIDFD: u64 = 3;
    // A pidfd opened O_NONBLOCK (PIDFD_NONBLOCK) makes the wait WNOHANG, and
    // "nothing yet" EAGAIN instead of 0.
    let mut pidfd_nonblock = false;
    let which = match idtype {
        P_ALL => WaitFor::Any,
        P_PID if id > 0 => WaitFor::Pid(id),
        P_PGID if id == 0 => WaitFor::Pgid(ctx.process().pgid.load(Ordering::Relaxed)),
        P_PGID => WaitFor::Pgid(id),
        P_PIDFD if (id as i32) < 0 => return Err(Errno::EINVAL),
        P_PIDFD => {
            let f = ctx.file(id as i32)?;
            let p = super::pidfd::process_of(&f).ok_or(Errno::EBADF)?;
            pidfd_nonblock = f.nonblocking();
            WaitFor::Pid(p.pid)
        }
        _ => return Err(Errno::EINVAL),
    };
    let opts = WaitOptions {
        exited: options & WEXITED != 0,
        stopped: options & WSTOPPED != 0,
        continued: options & WCONTINUED != 0,
        nowait: options & WNOWAIT != 0,
    };
    let nohang = options & WNOHANG != 0;
    let found = wait_child(ctx, which, opts, nohang || pidfd_nonblock).await?;
    if found.is_none() && pidfd_nonblock && !nohang {
        return Err(Errno::EAGAIN);
    }
    let info = match found {
        None => Siginfo::default(), // WNOHANG and nothing: si_pid 0
        Some(f) => {
            let s = f.status;
            let (code, status) = if s == 0xffff {
                (CLD_CONTINUED, SIGCONT as i32)
            } else if s & 0xff == 0x7f {
                (CLD_STOPPED, ((s >> 8) & 0xff) as i32)
            } else if s & 0x7f == 0 {
                (CLD_EXITED, ((s >> 8) & 0xff) as i32)
            } else if s & 0x80 != 0 {
                (CLD_DUMPED, (s & 0x7f) as i32)
            } else {
                (CLD_KILLED, (s & 0x7f) as i32)
            };
            Siginfo::child(code, f.pid, f.uid, status, 0, 0)
        }
    };
    if !info_ptr.is_null() {
        ctx.write(info_ptr, &info)?;
    }
    if !rusage_ptr.is_null() {
        ctx.write(
            rusage_ptr,
            &found.map_or_else(Default::default, |f| {
                super::time::with_switches(super::time::rusage(f.cpu), f.switches)
            }),
        )?;
    }
    Ok(0)
}

/// The clone flags Kestrel accepts (CLONE_NEWTIME only through clone3).
const CLONE_SUPPORTED: u64 = CSIGNAL
    | (kestrel_ns::ALL_NAMESPACES & !kestrel_ns::CLONE_NEWTIME)
    | CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_VFORK
    | CLONE_PARENT
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_CHILD_SETTID
    | CLONE_UNTRACED
    | CLONE_PTRACE
    // No task has an I/O context of its own to share or not (see kcmp).
    | CLONE_IO
    | CLONE_PIDFD;

/// The core of fork, vfork and clone.
async fn do_clone(
    ctx: &mut Ctx<'_>,
    flags: u64,
    stack: u64,
    parent_tid: UserPtr<i32>,
    child_tid: UserPtr<i32>,
    tls: u64,
) -> KResult<u64> {
    // clone(2) returns a CLONE_PIDFD pidfd through parent_tid.
    let extra = CloneExtra {
        pidfd: UserPtr::new(parent_tid.addr()),
        clear_sighand: false,
        pid: None,
        more_ns: 0,
        cgroup: None,
    };
    do_clone_ext(ctx, flags, stack, parent_tid, child_tid, tls, extra).await
}

/// What clone3 adds to clone's arguments.
struct CloneExtra {
    /// Where CLONE_PIDFD stores the pidfd.
    pidfd: UserPtr<i32>,
    /// CLONE_CLEAR_SIGHAND: the child's handlers go back to SIG_DFL.
    clear_sighand: bool,
    /// set_tid: the pid the child gets.
    pid: Option<u32>,
    /// clone3's CLONE_NEWTIME (in clone's flags that bit is part of the exit
    /// signal).
    more_ns: u64,
    /// CLONE_INTO_CGROUP's cgroup.
    cgroup: Option<kestrel_cgroup::CgId>,
}

async fn do_clone_ext(
    ctx: &mut Ctx<'_>,
    flags: u64,
    stack: u64,
    parent_tid: UserPtr<i32>,
    child_tid: UserPtr<i32>,
    tls: u64,
    extra: CloneExtra,
) -> KResult<u64> {
    if flags & !CLONE_SUPPORTED != 0 {
        return Err(Errno::EINVAL);
    }
    let ns_flags =
        (flags & kestrel_ns::ALL_NAMESPACES & !kestrel_ns::CLONE_NEWTIME) | extra.more_ns;
    kestrel_ns::check_clone_flags(ns_flags | (flags & !CSIGNAL))?;
    // New namespaces (other than a user namespace) need CAP_SYS_ADMIN.
    if kestrel_ns::needs_admin(ns_flags) && !ctx.capable(kestrel_abi::cap::CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    if ns_flags & kestrel_ns::CLONE_NEWNET != 0 {
        // A new network namespace copies nothing, but is made from the
        // network the boot sets up (drivers/mod.rs, "Setting up in the
        // background").
        crate::drivers::settled().await;
    }
    let nsproxy = if ns_flags != 0 {
        let euid = ctx.process().cred.lock().euid;
        Some(ctx.process().nsproxy().copy_with(ns_flags, euid)?)
    } else {
        None
    };
    // clone(2): CLONE_THREAD needs CLONE_SIGHAND, which needs CLONE_VM.
    if (flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0)
        || (flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0)
    {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_SETTLS != 0 && !kestrel_usermem::is_user_address(tls) {
        return Err(Errno::EPERM);
    }
    let exit_signal = (flags & CSIGNAL) as u32;
    if exit_signal > kestrel_abi::signal::NSIG {
        return Err(Errno::EINVAL);
    }
    // CLONE_PIDFD: not for a thread or a detached child, nor into the place
    // CLONE_PARENT_SETTID writes; the pidfd's place must be writable (EFAULT
    // before any child exists, as Linux's put_user fails the clone) and a
    // descriptor free (EMFILE).
    let pidfd = flags & CLONE_PIDFD != 0;
    if pidfd {
        if flags & (CLONE_THREAD | CLONE_DETACHED) != 0
            || (flags & CLONE_PARENT_SETTID != 0 && extra.pidfd.addr() == parent_tid.addr())
        {
            return Err(Errno::EINVAL);
        }
        let limit = ctx.process().nofile();
        ctx.process().files().lock().lowest_free(0, limit)?;
        ctx.write(extra.pidfd, &-1)?;
    }
    let child = if flags & CLONE_THREAD != 0 {
        process::new_thread(ctx.thread)?
    } else {
        let share = CloneShare {
            nsproxy,
            vm: flags & CLONE_VM != 0,
            files: flags & CLONE_FILES != 0,
            fs: flags & CLONE_FS != 0,
            sighand: flags & CLONE_SIGHAND != 0,
            parent: flags & CLONE_PARENT != 0,
            exit_signal,
            pid: extra.pid,
            cgroup: extra.cgroup,
        };
        process::fork_process(ctx.thread, share)?
    };
    if extra.clear_sighand {
        // SIG_IGN stays, handlers go (as exec resets them).
        for a in child.process.sigactions().lock().actions.iter_mut() {
            if a.handler != SIG_IGN {
                a.handler = SIG_DFL;
            }
        }
    }
    let tid = child.tid();
    let mut regs = ctx.regs.clone();
    regs.regs.rax = 0;
    if stack != 0 {
        regs.regs.rsp = stack;
    }
    if flags & CLONE_SETTLS != 0 {
        regs.fs_base = tls;
    }
    // The child exists now: an id that cannot be stored is not an error (Linux
    // ignores a failed put_user here), and returning one would leak the child.
    if flags & CLONE_PARENT_SETTID != 0 {
        let _ = ctx.write(parent_tid, &(tid as i32));
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        let _ = child
            .process
            .mm()
            .write_remote(child_tid.addr(), &tid.to_le_bytes());
    }
    if flags & CLONE_CHILD_CLEARTID != 0 {
        child
            .clear_child_tid
            .store(child_tid.addr(), Ordering::Relaxed);
    }
    let vfork = (flags & CLONE_VFORK != 0).then(|| {
        let v = Arc::new(VforkDone::default());
        *child.process.vfork.lock() = Some(v.clone());
        v
    });
    if pidfd {
        let file = super::pidfd::new_file(child.process.clone(), false);
        match ctx.install(file, true) {
            Ok(fd) => {
                let _ = ctx.write(extra.pidfd, &fd);
            }
            Err(e) => {
                process::abandon(&child);
                return Err(e);
            }
        }
    }
    // perf events made with `inherit` count the child too.
    crate::perf::inherit(ctx.thread, &child, flags);
    // A traced parent's child is traced from its first instruction.
    let event = process::ptrace::clone_event(ctx.thread, flags);
    if event.is_some() {
        process::ptrace::attach_child(ctx.thread, &child);
    }
    if thread::spawn(child.clone(), regs).is_err() {
        if let Some(tracer) = process::ptrace::tracer_of(&child) {
            process::ptrace::detach(&tracer, &child, Some(0));
        }
        process::abandon(&child);
        return Err(Errno::EAGAIN);
    }
    if flags & (CLONE_THREAD | CLONE_VM) == 0 {
        // A userfaultfd with UFFD_FEATURE_EVENT_FORK hears of the child.
        crate::fs::userfaultfd::send_fork(&child.process.mm()).await;
    }
    if let Some((ev, true)) = event {
        Box::pin(process::ptrace::event_stop(
            ctx.thread,
            ctx.regs,
            ev,
            u64::from(tid),
        ))
        .await;
    }
    if let Some(v) = vfork {
        v.wait().await;
        if process::ptrace::wants(ctx.thread, kestrel_abi::ptrace::PTRACE_O_TRACEVFORKDONE) {
            Box::pin(process::ptrace::event_stop(
                ctx.thread,
                ctx.regs,
                kestrel_abi::ptrace::PTRACE_EVENT_VFORK_DONE,
                u64::from(tid),
            ))
            .await;
        }
    }
    // The id as the caller's PID namespace sees the child.
    if flags & CLONE_THREAD == 0 {
        let seen = child.process.pid_in(&ctx.process().pid_ns);
        if seen != 0 {
            return Ok(u64::from(seen));
        }
    }
    Ok(u64::from(tid))
}

pub async fn sys_fork(ctx: &mut Ctx<'_>) -> KResult<u64> {
    do_clone(ctx, u64::from(SIGCHLD), 0, UserPtr::NULL, UserPtr::NULL, 0).await
}

pub async fn sys_vfork(ctx: &mut Ctx<'_>) -> KResult<u64> {
    let flags = CLONE_VM | CLONE_VFORK | u64::from(SIGCHLD);
    do_clone(ctx, flags, 0, UserPtr::NULL, UserPtr::NULL, 0).await
}

/// clone(flags, stack, parent_tid, child_tid, tls): the x86-64 argument order.
pub async fn sys_clone(
    ctx: &mut Ctx<'_>,
    flags: u64,
    stack: u64,
    parent_tid: UserPtr<i32>,
    child_tid: UserPtr<i32>,
    tls: u64,
) -> KResult<u64> {
    do_clone(ctx, flags, stack, parent_tid, child_tid, tls).await
}

/// `struct clone_args` as of Linux 5.7 (CLONE_ARGS_SIZE_VER2 = 88 bytes), read field
/// by field from the user's bytes (missing trailing fields are zero).
#[derive(Debug, Clone, Copy, Default)]
struct CloneArgs {
    flags: u64,
    /// Where CLONE_PIDFD stores the pidfd.
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

impl CloneArgs {
    const SIZE: usize = 88;

    fn from_bytes(raw: &[u8; Self::SIZE]) -> Self {
        let f = |i: usize| {
            raw.get(i * 8..i * 8 + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        Self {
            flags: f(0),
            pidfd: f(1),
            child_tid: f(2),
            parent_tid: f(3),
            exit_signal: f(4),
            stack: f(5),
            stack_size: f(6),
            tls: f(7),
            set_tid: f(8),
            set_tid_size: f(9),
            cgroup: f(10),
        }
    }
}

const CLONE_ARGS_SIZE_VER0: usize = 64;

/// clone3(args, size): the extensible clone. Checked in Linux's order: the size
/// (EINVAL below the first version, E2BIG above a page or with unknown nonzero
/// bytes), set_tid's shape (EINVAL) and array (EFAULT), the exit signal
/// (EINVAL), CLONE_INTO_CGROUP's descriptor (EBADF: Kestrel has no cgroup2
/// directory to clone into), then clone3's own flag rules.
pub async fn sys_clone3(ctx: &mut Ctx<'_>, ptr: UserPtr<u8>, size: usize) -> KResult<u64> {
    const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    const CLONE_ARGS_SIZE_VER2: usize = 88;
    /// Linux's MAX_PID_NS_LEVEL: the most pids set_tid may name.
    const MAX_PID_NS_LEVEL: u64 = 32;
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut raw = [0u8; CloneArgs::SIZE];
    ctx.mm().reader(ptr, size)?.read_extensible(&mut raw)?;
    let args = CloneArgs::from_bytes(&raw);
    if args.set_tid_size > MAX_PID_NS_LEVEL
        || (args.set_tid == 0 && args.set_tid_size > 0)
        || (args.set_tid != 0 && args.set_tid_size == 0)
    {
        return Err(Errno::EINVAL);
    }
    if args.exit_signal & !CSIGNAL != 0 || args.exit_signal > u64::from(NSIG) {
        return Err(Errno::EINVAL);
    }
    if args.flags & CLONE_INTO_CGROUP != 0
        && (args.cgroup > i32::MAX as u64 || size < CLONE_ARGS_SIZE_VER2)
    {
        return Err(Errno::EINVAL);
    }
    let mut set_tid = [0i32; MAX_PID_NS_LEVEL as usize];
    let set_tid = &mut set_tid[..args.set_tid_size as usize];
    if !set_tid.is_empty() {
        ctx.mm()
            .read_slice(UserPtr::<i32>::new(args.set_tid), set_tid)?;
    }
    // clone3_args_valid: known flags; CSIGNAL and CLONE_DETACHED are not
    // clone3's; CLONE_CLEAR_SIGHAND contradicts CLONE_SIGHAND; a thread or a
    // CLONE_PARENT child has no exit signal of its own; a stack has a size.
    let legacy = 0xffff_ffffu64;
    if args.flags & !(legacy | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP) != 0
        || args.flags & (CLONE_DETACHED | (CSIGNAL & !kestrel_ns::CLONE_NEWTIME)) != 0
        || args.flags & (CLONE_SIGHAND | CLONE_CLEAR_SIGHAND) == CLONE_SIGHAND | CLONE_CLEAR_SIGHAND
        || (args.flags & (CLONE_THREAD | CLONE_PARENT) != 0 && args.exit_signal != 0)
        || (args.stack == 0) != (args.stack_size == 0)
    {
        return Err(Errno::EINVAL);
    }
    let stack = if args.stack != 0 {
        args.stack
            .checked_add(args.stack_size)
            .filter(|&top| kestrel_usermem::is_user_address(top - 1))
            .ok_or(Errno::EINVAL)?
    } else {
        0
    };
    // set_tid (alloc_pid's checks): one pid per PID namespace level from the
    // child's up, each in 1..pid_max; making the namespaces needs
    // CAP_SYS_ADMIN first; then CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE in the
    // user namespace owning the PID namespace; EEXIST if taken (fork).
    // Kestrel chooses ids only in the initial PID namespace: with more levels
    // the answer is EINVAL.
    let pid = if set_tid.is_empty() {
        None
    } else {
        let p = ctx.process();
        let cred = p.cred.lock().clone();
        if kestrel_ns::needs_admin(args.flags) && !cred.capable(kestrel_abi::cap::CAP_SYS_ADMIN) {
            return Err(Errno::EPERM);
        }
        let nsproxy = p.nsproxy();
        let levels = nsproxy.pid_for_children.level as u64
            + 1
            + u64::from(args.flags & kestrel_ns::CLONE_NEWPID != 0);
        if set_tid.len() as u64 > levels {
            return Err(Errno::EINVAL);
        }
        if set_tid
            .iter()
            .any(|&tid| tid < 1 || tid as u32 >= process::pid_max())
        {
            return Err(Errno::EINVAL);
        }
        // A process in a user namespace of its own (made after that PID
        // namespace) has no capabilities there; a new PID namespace belongs
        // to the caller's user namespace.
        let mine = args.flags & kestrel_ns::CLONE_NEWPID != 0
            || nsproxy.user.is_ancestor_of(&nsproxy.pid_for_children.owner);
        if !mine
            || (!cred.capable(kestrel_abi::cap::CAP_SYS_ADMIN)
                && !cred.capable(kestrel_abi::cap::CAP_CHECKPOINT_RESTORE))
        {
            return Err(Errno::EPERM);
        }
        if levels != 1 {
            return Err(Errno::EINVAL);
        }
        Some(set_tid[0] as u32)
    };
    // CLONE_INTO_CGROUP (Linux's cgroup_css_set_fork): the descriptor (an
    // O_PATH one will do) must name a cgroup2 directory (EBADF), still
    // there (ENODEV), which the caller may move a process into (EACCES,
    // EBUSY, EOPNOTSUPP for a thread: crate::fs::cgroupfs::clone_target).
    let cgroup = if args.flags & CLONE_INTO_CGROUP != 0 {
        let file = ctx.file(args.cgroup as i32)?;
        Some(crate::fs::cgroupfs::clone_target(
            &file,
            ctx.process(),
            args.flags & CLONE_THREAD != 0,
        )?)
    } else {
        None
    };
    let extra = CloneExtra {
        pidfd: UserPtr::new(args.pidfd),
        clear_sighand: args.flags & CLONE_CLEAR_SIGHAND != 0,
        pid,
        more_ns: args.flags & kestrel_ns::CLONE_NEWTIME,
        cgroup,
    };
    do_clone_ext(
        ctx,
        (args.flags & legacy & !kestrel_ns::CLONE_NEWTIME) | args.exit_signal,
        stack,
        UserPtr::new(args.parent_tid),
        UserPtr::new(args.child_tid),
        args.tls,
        extra,
    )
    .await
}

pub async fn sys_execve(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    argv: UserPtr<u64>,
    envp: UserPtr<u64>,
) -> KResult<u64> {
    crate::process::exec::sys_execve(ctx, path, argv, envp).await
}

pub async fn sys_execveat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    argv: UserPtr<u64>,
    envp: UserPtr<u64>,
    flags: u32,
) -> KResult<u64> {
    crate::process::exec::sys_execveat(ctx, dirfd, path, argv, envp, flags).await
}

/// unshare(2): what Kestrel can stop sharing (the descriptor table with
/// CLONE_FILES, the fs context with CLONE_FS; SEM_UNDO adjustments are per
/// process already); CLONE_THREAD, CLONE_SIGHAND and CLONE_VM only in a
/// single-threaded process (nothing to do); new namespaces (see
/// [`crate::ns`]), which need CAP_SYS_ADMIN (a user namespace excepted).
pub async fn sys_unshare(ctx: &mut Ctx<'_>, flags: u64) -> KResult<u64> {
    use kestrel_ns::{ALL_NAMESPACES, CLONE_NEWUSER};
    let flags = kestrel_ns::unshare_flags(flags & 0xffff_ffff)?;
    let p = ctx.process().clone();
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) != 0 && p.threads.lock().len() > 1 {
        return Err(Errno::EINVAL);
    }
    if kestrel_ns::needs_admin(flags) && !p.cred.lock().capable(kestrel_abi::cap::CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    // A chrooted process may not make a user namespace (it could escape).
    if flags & CLONE_NEWUSER != 0 {
        let fs = p.fs();
        let root = fs.lock().root.clone();
        if root.parent().is_some() {
            return Err(Errno::EPERM);
        }
    }
    let ns_flags = flags & ALL_NAMESPACES;
    if ns_flags & kestrel_ns::CLONE_NEWNET != 0 {
        crate::drivers::settled().await;
    }
    let nsproxy = if ns_flags != 0 {
        let euid = p.cred.lock().euid;
        Some(p.nsproxy().copy_with(ns_flags, euid)?)
    } else {
        None
    };
    if flags & CLONE_FILES != 0 {
        p.try_unshare_files()?;
    }
    if flags & CLONE_FS != 0 {
        p.unshare_fs();
    }
    if let Some(n) = nsproxy {
        p.set_nsproxy(n);
    }
    Ok(0)
}

/// setns(2): moves the caller into the namespace an open /proc/PID/ns file
/// names. `nstype` 0 takes any kind, else it must name the file's kind
/// (EINVAL); other descriptors are EINVAL (Kestrel has no pidfds to take);
/// joining needs CAP_SYS_ADMIN (EPERM). A PID namespace becomes the one the
/// caller's children are made in; a time namespace the caller's own and its
/// children's (EUSERS with other threads); a user namespace needs a single
/// thread and another namespace than the caller's (EINVAL).
pub async fn sys_setns(ctx: &mut Ctx<'_>, fd: Fd, nstype: i32) -> KResult<u64> {
    use crate::ns::NsRef;
    let file = ctx.file(fd)?;
    let ns = crate::ns::of_file(&file).ok_or(Errno::EINVAL)?;
    if !kestrel_ns::setns_type_ok(i64::from(nstype), ns.kind()) {
        return Err(Errno::EINVAL);
    }
    let p = ctx.process().clone();
    if !p.cred.lock().capable(kestrel_abi::cap::CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let threads = p.threads.lock().len();
    let old = p.nsproxy();
    let mut n = (*old).clone();
    match ns {
        NsRef::Mnt(m) => n.mnt = m,
        NsRef::Uts(u) => n.uts = u,
        NsRef::Ipc(i) => n.ipc = i,
        NsRef::Pid(pid) => {
            // Only the caller's own PID namespace or one below it.
            if !pid_ns_within(&pid, &p.pid_ns) {
                return Err(Errno::EINVAL);
            }
            n.pid_for_children = pid;
        }
        NsRef::Time(t) => {
            if threads > 1 {
                return Err(Errno::EUSERS);
            }
            t.freeze();
            let was_root = old.time.is_root();
            n.time = t.clone();
            n.time_for_children = t.clone();
            if was_root != t.is_root() {
                crate::vdso::use_syscalls(&p.mm(), !t.is_root())?;
            }
        }
        NsRef::User(x) => {
            if threads > 1 || Arc::ptr_eq(&x, &old.user) {
                return Err(Errno::EINVAL);
            }
            n.user = x;
        }
        NsRef::Net(x) => n.net = x,
        NsRef::Plain(_, x) => n.cgroup = x,
    }
    p.set_nsproxy(Arc::new(n));
    Ok(0)
}

/// The nsfs ioctls on a namespace file: NS_GET_USERNS (a descriptor of the
/// owning user namespace), NS_GET_PARENT (of a PID or user namespace; EINVAL
/// for the other kinds), NS_GET_NSTYPE (its CLONE_NEW* flag), NS_GET_OWNER_UID
/// (a user namespace's creator; EINVAL for other kinds). A namespace outside
/// the caller's reach (not its own or one below it; none at all) is EPERM, as
/// Linux's ns_get_owner and pidns_get_parent. Others: ENOTTY.
pub fn ns_ioctl(ctx: &mut Ctx<'_>, ns: crate::ns::NsRef, cmd: u32, arg: u64) -> KResult<u64> {
    use crate::ns::NsRef;
    const NS_GET_USERNS: u32 = 0xb701;
    const NS_GET_PARENT: u32 = 0xb702;
    const NS_GET_NSTYPE: u32 = 0xb703;
    const NS_GET_OWNER_UID: u32 = 0xb704;
    let p = ctx.process().clone();
    let proxy = p.nsproxy();
    // A user namespace `u` is within reach if it is the caller's or below it.
    let user_reachable = |u: &Option<Arc<crate::ns::UserNs>>| -> KResult<Arc<crate::ns::UserNs>> {
        let u = u.clone().ok_or(Errno::EPERM)?;
        if proxy.user.is_ancestor_of(&u) {
            Ok(u)
        } else {
            Err(Errno::EPERM)
        }
    };
    let related = match cmd {
        NS_GET_NSTYPE => return Ok(ns.kind().flag()),
        NS_GET_OWNER_UID => {
            let NsRef::User(u) = &ns else {
                return Err(Errno::EINVAL);
            };
            ctx.write(UserPtr::<u32>::new(arg), &u.owner_uid)?;
            return Ok(0);
        }
        NS_GET_USERNS => NsRef::User(user_reachable(&ns.owner())?),
        NS_GET_PARENT => match &ns {
            NsRef::User(u) => NsRef::User(user_reachable(&u.parent)?),
            NsRef::Pid(pid) => {
                // The parent must be the caller's own PID namespace or below it.
                let parent = pid.parent.clone().ok_or(Errno::EPERM)?;
                if !pid_ns_within(&parent, &p.pid_ns) {
                    return Err(Errno::EPERM);
                }
                NsRef::Pid(parent)
            }
            _ => return Err(Errno::EINVAL),
        },
        _ => return Err(Errno::ENOTTY),
    };
    let inode = crate::ns::NsInode::new_ref(related);
    let file = crate::fs::open_dentry(
        kestrel_vfs::Dentry::root(inode),
        kestrel_abi::fs::O_RDONLY,
        &p,
    )?;
    let limit = p.nofile();
    let fd = p.files().lock().insert(file, true, 0, limit)?;
    Ok(fd as u64)
}
