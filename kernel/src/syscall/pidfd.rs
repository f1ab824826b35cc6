//! Process file descriptors: pidfd_open, pidfd_send_signal, clone3's
//! CLONE_PIDFD.
//!
//! A pidfd is an anonymous-inode file that refers to one process, not to a
//! number: the process it names cannot be confused with a later one that
//! reuses the pid. It polls readable once the process has exited (a zombie),
//! and pidfd_send_signal signals the process it names (ESRCH once reaped).

use alloc::sync::Arc;
use core::any::Any;

use kestrel_abi::fs::{O_NONBLOCK, O_RDWR, POLLIN, POLLRDNORM};
use kestrel_abi::process::{
    PIDFD_GET_INFO_NR, PIDFD_INFO_CREDS, PIDFD_INFO_EXIT, PIDFD_INFO_PID, PIDFD_INFO_SIZE_VER0,
    PIDFS_IOCTL_MAGIC, PidfdInfo,
};
use kestrel_abi::signal::{SI_USER, Siginfo};
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOps, OpenFile};

use super::Ctx;
use super::args::*;
use crate::process::{self, Process};

/// The file behind a pidfd.
pub struct PidFd {
    pub process: Arc<Process>,
}

impl FileOps for PidFd {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        if self.process.state() == process::State::Running {
            0
        } else {
            POLLIN | POLLRDNORM
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.process.exit_wq)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The process a pidfd names (None: not a pidfd).
pub fn process_of(file: &OpenFile) -> Option<Arc<Process>> {
    file.ops()
        .as_any()
        .downcast_ref::<PidFd>()
        .map(|p| p.process.clone())
}

/// Whether `file` is open on a /proc/PID directory (of a live process or not).
fn is_proc_pid_dir(file: &OpenFile) -> bool {
    file.metadata()
        .is_ok_and(|m| m.is_dir() && crate::fs::procfs::is_pid_dir_ino(m.dev, m.ino))
}

/// A new pidfd open file for `p` (read-write, as Linux makes them).
pub fn new_file(p: Arc<Process>, nonblock: bool) -> Arc<OpenFile> {
    let flags = O_RDWR | if nonblock { O_NONBLOCK } else { 0 };
    let serial = p.serial;
    crate::fs::anon::pidfd_file(Arc::new(PidFd { process: p }), serial, flags)
}

/// Whether `cmd` is a pidfs request (type 0xff): asked of a pidfd only.
pub fn is_pidfs_ioctl(cmd: u32) -> bool {
    (cmd >> 8) & 0xff == PIDFS_IOCTL_MAGIC
}

/// The pidfs ioctls on a pidfd for `p`. PIDFD_GET_INFO (Linux 6.13, with
/// PIDFD_INFO_EXIT from 6.15): the process's ids as the caller's pid namespace
/// sees them and its credentials while it is not reaped; its wait status
/// (PIDFD_INFO_EXIT, when asked) once it has exited; ESRCH once reaped unless
/// the exit was asked for, and for a process outside the caller's pid
/// namespace. PIDFD_INFO_CGROUPID: the id of its cgroup (its directory's
/// inode number in cgroup2), while it is not reaped. The
/// PIDFD_GET_*_NAMESPACE requests are ENOTTY (not done).
pub fn ioctl(ctx: &Ctx<'_>, p: &Arc<Process>, cmd: u32, arg: u64) -> KResult<u64> {
    if cmd & 0xff != PIDFD_GET_INFO_NR {
        return Err(Errno::ENOTTY);
    }
    let usize_ = ((cmd >> 16) & 0x3fff) as usize;
    if arg == 0 || usize_ < PIDFD_INFO_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = ctx.read(UserPtr::new(arg))?;
    let ns = ctx.process().pid_ns.clone();
    let pid = p.pid_in(&ns);
    if pid == 0 {
        return Err(Errno::ESRCH);
    }
    let mut info = PidfdInfo::default();
    if mask & PIDFD_INFO_EXIT != 0
        && let process::State::Zombie(status) = p.state()
    {
        info.mask |= PIDFD_INFO_EXIT;
        info.exit_code = status as i32;
    }
    let reaped = !process::find(p.pid).is_some_and(|q| Arc::ptr_eq(&q, p));
    if reaped {
        if mask & PIDFD_INFO_EXIT == 0 {
            return Err(Errno::ESRCH);
        }
    } else {
        {
            let c = p.cred.lock();
            info.ruid = c.uid;
            info.rgid = c.gid;
            info.euid = c.euid;
            info.egid = c.egid;
            info.suid = c.suid;
            info.sgid = c.sgid;
            info.fsuid = c.fsuid;
            info.fsgid = c.fsgid;
        }
        info.mask |= PIDFD_INFO_CREDS;
        info.cgroupid = crate::fs::cgroupfs::cgroup_ino(p.pid);
        info.mask |= kestrel_abi::process::PIDFD_INFO_CGROUPID;
        info.ppid = p.parent().map_or(0, |q| q.pid_in(&ns));
        info.pid = pid;
        info.tgid = pid;
        info.mask |= PIDFD_INFO_PID;
    }
    // An extensible struct: as much as both sides know, the caller's
    // longer tail zeroed.
    let bytes = kestrel_abi::bytemuck_bytes(&info);
    let n = usize_.min(bytes.len());
    let mm = ctx.mm();
    kestrel_usermem::UserPtr::<u8>::new(arg).write_slice(&*mm, &bytes[..n])?;
    if usize_ > bytes.len() {
        let zeros = alloc::vec![0u8; (usize_ - bytes.len()).min(4096)];
        kestrel_usermem::UserPtr::<u8>::new(arg + bytes.len() as u64).write_slice(&*mm, &zeros)?;
    }
    Ok(0)
}

/// pidfd_open(2): a pidfd (close-on-exec) for process `pid`; PIDFD_NONBLOCK
/// (O_NONBLOCK) is the only flag. EINVAL for a bad pid or a thread that leads
/// no process, ESRCH for no such process.
pub async fn sys_pidfd_open(ctx: &mut Ctx<'_>, pid: Pid, flags: u32) -> KResult<u64> {
    if flags & !O_NONBLOCK != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = match process::find(pid as u32) {
        Some(p) => p,
        None if process::find_thread(pid as u32).is_some() => return Err(Errno::EINVAL),
        None => return Err(Errno::ESRCH),
    };
    let file = new_file(p, flags & O_NONBLOCK != 0);
    ctx.install(file, true).map(|fd| fd as u64)
}

/// pidfd_send_signal(2): kill(2) or rt_sigqueueinfo(2) through a pidfd. No
/// flags are defined (EINVAL); EBADF for a file that is no pidfd; a siginfo
/// must carry the same signal (EINVAL), and one claiming to come from the kernel
/// or kill(2) may only be sent to oneself (EPERM).
pub async fn sys_pidfd_send_signal(
    ctx: &mut Ctx<'_>,
    pidfd: Fd,
    sig: i32,
    info: UserPtr<Siginfo>,
    flags: u32,
) -> KResult<u64> {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let file = ctx.file(pidfd)?;
    // A /proc/PID directory stands for its process too (ESRCH once it is gone).
    let p = match process_of(&file) {
        Some(p) => p,
        None if is_proc_pid_dir(&file) => {
            crate::fs::procfs::process_of_dir(&file).ok_or(Errno::ESRCH)?
        }
        None => return Err(Errno::EBADF),
    };
    if sig != 0 && !(1..=kestrel_abi::signal::NSIG as i32).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    let info = if info.is_null() {
        let uid = ctx.process().cred.lock().uid;
        Siginfo::from_process(sig as u32, SI_USER, ctx.process().pid, uid)
    } else {
        let i: Siginfo = ctx.read(info)?;
        if i.si_signo != sig {
            return Err(Errno::EINVAL);
        }
        if (i.si_code >= 0 || i.si_code == kestrel_abi::signal::SI_TKILL)
            && !Arc::ptr_eq(&p, ctx.process())
        {
            return Err(Errno::EPERM);
        }
        i
    };
    // Reaped, or gone from the process table: ESRCH. A zombie takes the
    // signal and nothing happens, as kill(2) on it.
    if process::find(p.pid).is_none_or(|q| !Arc::ptr_eq(&q, &p)) {
        return Err(Errno::ESRCH);
    }
    if !super::signal::may_signal(ctx.process(), &p, sig as u32) {
        return Err(Errno::EPERM);
    }
    if sig != 0 && p.state() == process::State::Running {
        crate::process::signal::send_process(&p, info);
    }
    Ok(0)
}

/// pidfd_getfd(2): a duplicate, close-on-exec, of descriptor `targetfd` of the
/// process a pidfd names: the same open file description. No flags are defined
/// (EINVAL); EBADF for a file that is no pidfd or a descriptor the process does
/// not have (a zombie has none); ESRCH once the process is reaped; EPERM
/// without the right to trace it (PTRACE_MODE_ATTACH_REALCREDS).
pub async fn sys_pidfd_getfd(
    ctx: &mut Ctx<'_>,
    pidfd: Fd,
    targetfd: Fd,
    flags: u32,
) -> KResult<u64> {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let file = ctx.file(pidfd)?;
    let p = process_of(&file).ok_or(Errno::EBADF)?;
    if process::find(p.pid).is_none_or(|q| !Arc::ptr_eq(&q, &p)) {
        return Err(Errno::ESRCH);
    }
    let me = ctx.process();
    if !super::ptrace::may_access(me, &p) {
        return Err(Errno::EPERM);
    }
    if p.state() != process::State::Running || targetfd < 0 {
        return Err(Errno::EBADF);
    }
    let target = p.files().lock().get(targetfd)?;
    ctx.install(target, true).map(|fd| fd as u64)
}
