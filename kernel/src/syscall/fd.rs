//! File descriptors: close, dup, fcntl, ioctl, pipes.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::mem::size_of;

use kestrel_abi::fs::*;
use kestrel_abi::le::{put_u32, put_u64, u32_at, u64_at};
use kestrel_abi::tty::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::pipe::{PipeReader, PipeWriter};
use kestrel_vfs::{FileOps, FileOwner, InodeRef, OpenFile};

use super::Ctx;
use super::args::*;

pub async fn sys_close(ctx: &mut Ctx<'_>, fd: Fd) -> KResult<u64> {
    let file = ctx.process().files().lock().remove(fd)?;
    super::locks::descriptor_closed(ctx.process(), &file);
    drop(file); // outside the table lock: closing a pipe end wakes its peer
    Ok(0)
}

pub async fn sys_dup(ctx: &mut Ctx<'_>, fd: Fd) -> KResult<u64> {
    let file = ctx.file(fd)?;
    ctx.install(file, false).map(|fd| fd as u64)
}

fn dup_to(ctx: &Ctx<'_>, old: i32, new: i32, cloexec: bool) -> KResult<u64> {
    let files = ctx.process().files();
    let limit = ctx.process().nofile();
    let replaced = {
        let mut t = files.lock();
        let file = t.get(old)?;
        t.insert_at(new, file, cloexec, limit)?
    };
    if let Some(f) = &replaced {
        super::locks::descriptor_closed(ctx.process(), f);
    }
    drop(replaced);
    Ok(new as u64)
}

pub async fn sys_dup2(ctx: &mut Ctx<'_>, old: Fd, new: Fd) -> KResult<u64> {
    if old == new {
        ctx.file(old)?;
        return Ok(new as u64);
    }
    dup_to(ctx, old, new, false)
}

pub async fn sys_dup3(ctx: &mut Ctx<'_>, old: Fd, new: Fd, flags: u32) -> KResult<u64> {
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    dup_to(ctx, old, new, flags & O_CLOEXEC != 0)
}

fn pipe_of(f: &OpenFile) -> Option<&Arc<kestrel_vfs::pipe::Pipe>> {
    let any = f.ops().as_any();
    any.downcast_ref::<PipeReader>()
        .map(|r| r.pipe())
        .or_else(|| any.downcast_ref::<PipeWriter>().map(|w| w.pipe()))
}

/// Whether `id` names a thread, process or process group that exists: Linux's
/// F_SETOWN looks the number up among all pids (find_vpid), whatever it names.
fn pid_exists(id: u32) -> bool {
    crate::process::find_thread(id).is_some()
        || crate::process::find(id).is_some()
        || !crate::process::in_group(id).is_empty()
}

/// F_SETOWN's argument: a pid, or minus a process group (0 clears the owner).
fn owner_from_setown(arg: i32) -> KResult<Option<FileOwner>> {
    if arg == i32::MIN {
        return Err(Errno::EINVAL);
    }
    let id = arg.unsigned_abs();
    if id == 0 {
        return Ok(None);
    }
    if !pid_exists(id) {
        return Err(Errno::ESRCH);
    }
    Ok(Some(if arg < 0 {
        FileOwner::Group(id)
    } else {
        FileOwner::Process(id)
    }))
}

/// F_GETOWN's answer: the pid, minus a process group, 0 for none.
fn getown(owner: Option<FileOwner>) -> i32 {
    match owner {
        None => 0,
        Some(FileOwner::Thread(id) | FileOwner::Process(id)) => id as i32,
        Some(FileOwner::Group(id)) => -(id as i32),
    }
}

pub async fn sys_fcntl(ctx: &mut Ctx<'_>, fd: Fd, cmd: u32, arg: u64) -> KResult<u64> {
    let files = ctx.process().files();
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let limit = ctx.process().nofile();
            let min = arg as u32 as usize;
            if arg as i32 as i64 >= limit as i64 || (arg as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            let mut t = files.lock();
            let file = t.get(fd)?;
            t.insert(file, cmd == F_DUPFD_CLOEXEC, min, limit)
                .map(|n| n as u64)
        }
        F_GETFD => Ok(u64::from(files.lock().cloexec(fd)?)),
        F_SETFD => files
            .lock()
            .set_cloexec(fd, arg & u64::from(FD_CLOEXEC) != 0)
            .map(|_| 0),
        F_GETFL => Ok(u64::from(files.lock().get(fd)?.flags())),
        F_SETFL => {
            let f = files.lock().get(fd)?;
            // O_APPEND stays on a file opened append-only (Linux's setfl).
            if (arg as u32 ^ f.flags()) & O_APPEND != 0
                && f.inode().is_some_and(|i| i.metadata().is_append_only())
            {
                return Err(Errno::EPERM);
            }
            if arg as u32 & O_ASYNC != 0 {
                f.set_async_fd(fd);
            }
            f.set_status_flags(arg as u32);
            crate::fs::fasync::changed(&f);
            Ok(0)
        }
        // The signal O_ASYNC (and dnotify) events send: 0 is plain SIGIO.
        F_SETSIG => {
            let f = files.lock().get(fd)?;
            if arg > u64::from(kestrel_abi::signal::NSIG) {
                return Err(Errno::EINVAL);
            }
            f.set_io_signal(arg as u32);
            Ok(0)
        }
        F_GETSIG => Ok(u64::from(files.lock().get(fd)?.io_signal())),
        F_SETLEASE => {
            let f = files.lock().get(fd)?;
            let (fsuid, cap_lease) = {
                let c = ctx.process().cred.lock();
                (c.fsuid, c.capable(28 /* CAP_LEASE */))
            };
            crate::fs::leases::set(&f, fd, arg as u32, ctx.process().pid, fsuid, cap_lease)?;
            Ok(0)
        }
        F_GETLEASE => {
            let f = files.lock().get(fd)?;
            Ok(u64::from(crate::fs::leases::get(&f)))
        }
        F_NOTIFY => {
            let f = files.lock().get(fd)?;
            crate::fs::dnotify::fcntl_notify(&f, fd, arg as u32, ctx.process().pid)?;
            Ok(0)
        }
        F_GETPIPE_SZ => {
            let f = files.lock().get(fd)?;
            pipe_of(&f).map(|p| p.capacity() as u64).ok_or(Errno::EBADF)
        }
        F_SETPIPE_SZ => {
            let f = files.lock().get(fd)?;
            let p = pipe_of(&f).ok_or(Errno::EBADF)?;
            let privileged = ctx.capable(kestrel_abi::cap::CAP_SYS_RESOURCE);
            p.set_capacity(arg as usize, privileged).map(|c| c as u64)
        }
        F_GET_SEALS => {
            let f = files.lock().get(fd)?;
            f.inode().ok_or(Errno::EINVAL)?.seals().map(u64::from)
        }
        F_ADD_SEALS => {
            let f = files.lock().get(fd)?;
            let seals = arg as u32;
            let known = F_SEAL_SEAL
                | F_SEAL_SHRINK
                | F_SEAL_GROW
                | F_SEAL_WRITE
                | F_SEAL_FUTURE_WRITE
                | F_SEAL_EXEC;
            if seals & !known != 0 {
                return Err(Errno::EINVAL);
            }
            // Sealing changes the file: it needs a descriptor open for writing.
            if !f.writable() {
                return Err(Errno::EPERM);
            }
            f.inode().ok_or(Errno::EINVAL)?.add_seals(seals)?;
            Ok(0)
        }
        // The owner is where O_ASYNC's SIGIO goes (crate::fs::fasync).
        F_SETOWN => {
            let f = files.lock().get(fd)?;
            f.set_owner(owner_from_setown(arg as i32)?);
            crate::fs::fasync::changed(&f);
            Ok(0)
        }
        F_GETOWN => Ok(getown(files.lock().get(fd)?.owner()) as i64 as u64),
        F_SETOWN_EX => {
            let f = files.lock().get(fd)?;
            // struct f_owner_ex { int type; pid_t pid; }
            let [kind, pid]: [i32; 2] = ctx.read(UserPtr::new(arg))?;
            let id = pid as u32;
            let owner = match kind {
                F_OWNER_TID => FileOwner::Thread(id),
                F_OWNER_PID => FileOwner::Process(id),
                F_OWNER_PGRP => FileOwner::Group(id),
                _ => return Err(Errno::EINVAL),
            };
            let owner = match pid {
                0 => None,
                p if p < 0 || !pid_exists(id) => return Err(Errno::ESRCH),
                _ => Some(owner),
            };
            f.set_owner(owner);
            crate::fs::fasync::changed(&f);
            Ok(0)
        }
        F_GETOWN_EX => {
            let f = files.lock().get(fd)?;
            let ex = match f.owner() {
                None => [F_OWNER_PID, 0],
                Some(FileOwner::Thread(id)) => [F_OWNER_TID, id as i32],
                Some(FileOwner::Process(id)) => [F_OWNER_PID, id as i32],
                Some(FileOwner::Group(id)) => [F_OWNER_PGRP, id as i32],
            };
            ctx.write(UserPtr::new(arg), &ex)?;
            Ok(0)
        }
        F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => {
            super::locks::fcntl(ctx, fd, cmd, arg).await
        }
        _ => {
            files.lock().get(fd)?;
            Err(Errno::EINVAL)
        }
    }
}

pub async fn sys_ioctl(ctx: &mut Ctx<'_>, fd: Fd, cmd: u32, arg: u64) -> KResult<u64> {
    let file = ctx.file(fd)?;
    if file.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    match cmd {
        FIONBIO => {
            let on: i32 = ctx.read(UserPtr::new(arg))?;
            let f = file.flags();
            file.set_status_flags(if on != 0 {
                f | O_NONBLOCK
            } else {
                f & !O_NONBLOCK
            });
            return Ok(0);
        }
        FIOCLEX | FIONCLEX => {
            ctx.process()
                .files()
                .lock()
                .set_cloexec(fd, cmd == FIOCLEX)?;
            return Ok(0);
        }
        FS_IOC_GETFLAGS | FS_IOC_SETFLAGS | FS_IOC_FSGETXATTR | FS_IOC_FSSETXATTR => {
            return inode_flags(ctx, &file, cmd, arg);
        }
        FIOASYNC => {
            let on: i32 = ctx.read(UserPtr::new(arg))?;
            if on != 0 {
                file.set_async_fd(fd);
            }
            let f = file.flags();
            file.set_status_flags(if on != 0 { f | O_ASYNC } else { f & !O_ASYNC });
            crate::fs::fasync::changed(&file);
            return Ok(0);
        }
        _ => {}
    }
    if matches!(cmd, FS_IOC_FIEMAP | FIBMAP | FIGETBSZ) {
        // Boxed: rare, and its future would make every ioctl's larger.
        return alloc::boxed::Box::pin(block_map(ctx, &file, cmd, arg)).await;
    }
    // Reflinks: no file system here shares blocks between files, so a clone
    // that passes Linux's checks is EOPNOTSUPP (as on ext2 and tmpfs).
    if cmd == FICLONE || cmd == FICLONERANGE {
        let src = if cmd == FICLONE {
            arg as i32
        } else {
            ctx.read(UserPtr::<i64>::new(arg))? as i32
        };
        return clone_range_checks(ctx, &file, src).map(|()| 0);
    }
    // A loop device's requests name descriptors (LOOP_SET_FD): the caller's.
    if crate::fs::loopdev::is_loop_ioctl(cmd)
        && let Some(b) = crate::fs::devices::block_of(&file)
        && kestrel_abi::fs::major(b.rdev) == kestrel_abi::block::LOOP_MAJOR
    {
        return crate::fs::loopdev::ioctl(ctx, &file, b.rdev, cmd, arg);
    }
    // A seccomp listener's requests may wait (RECV) and name the caller's
    // descriptors (ADDFD).
    if super::seccomp::is_listener(&file) {
        return alloc::boxed::Box::pin(super::seccomp::listener_ioctl(ctx, &file, cmd, arg)).await;
    }
    // Terminals answer with the calling thread (job control) and may wait
    // (tcdrain): their requests are futures of their own.
    if let Some(f) = file.ops().ioctl_waiting(&file, cmd, arg) {
        return f.await;
    }
    // The interface requests work on a socket of any family (Linux's
    // sock_ioctl hands them to dev_ioctl): musl's if_nametoindex asks an
    // AF_UNIX socket. Changes need CAP_NET_ADMIN.
    if kestrel_net::inet::ifreq::is_ifreq(cmd) && super::socket::is_socket(&file) {
        use kestrel_net::inet::ifreq::{
            SIOCSIFADDR, SIOCSIFFLAGS, SIOCSIFMETRIC, SIOCSIFMTU, SIOCSIFNETMASK,
        };
        let shared = crate::net::shared().ok_or(Errno::ENODEV)?;
        if matches!(
            cmd,
            SIOCSIFFLAGS | SIOCSIFADDR | SIOCSIFNETMASK | SIOCSIFMTU | SIOCSIFMETRIC
        ) && !ctx.capable(kestrel_abi::cap::CAP_NET_ADMIN)
        {
            return Err(Errno::EPERM);
        }
        return kestrel_net::inet::ifreq::ioctl(&shared, cmd, arg, &*ctx.mm());
    }
    // A pidfd answers the pidfs requests (PIDFD_GET_INFO).
    if super::pidfd::is_pidfs_ioctl(cmd)
        && let Some(p) = super::pidfd::process_of(&file)
    {
        return super::pidfd::ioctl(ctx, &p, cmd, arg);
    }
    // A namespace file (/proc/PID/ns/*) answers the nsfs requests.
    if let Some(ns) = crate::ns::of_file(&file) {
        return super::process::ns_ioctl(ctx, ns, cmd, arg);
    }
    file.ops().ioctl(&file, cmd, arg, &*ctx.mm())
}

/// The FS_*_FL flags and the FS_XFLAG_* bits that stand for the same thing.
const XFLAG_PAIRS: [(u32, u32); 7] = [
    (FS_SYNC_FL, FS_XFLAG_SYNC),
    (FS_IMMUTABLE_FL, FS_XFLAG_IMMUTABLE),
    (FS_APPEND_FL, FS_XFLAG_APPEND),
    (FS_NODUMP_FL, FS_XFLAG_NODUMP),
    (FS_NOATIME_FL, FS_XFLAG_NOATIME),
    (FS_DAX_FL, FS_XFLAG_DAX),
    (FS_PROJINHERIT_FL, FS_XFLAG_PROJINHERIT),
];

/// The xflags `flags` stand for (fileattr_fill_flags).
fn xflags_of(flags: u32) -> u32 {
    XFLAG_PAIRS
        .iter()
        .filter(|(fl, _)| flags & fl != 0)
        .fold(0, |x, (_, xf)| x | xf)
}

/// The inode flags `xflags` stand for (fileattr_fill_xflags), and the FS_*_FL
/// bits they cover.
fn flags_of(xflags: u32) -> (u32, u32) {
    XFLAG_PAIRS.iter().fold((0, 0), |(f, all), (fl, xf)| {
        (if xflags & xf != 0 { f | fl } else { f }, all | fl)
    })
}

/// What FS_IOC_FSSETXATTR and file_setattr ask for.
struct Fsx {
    xflags: u32,
    extsize: u32,
    projid: u32,
    cowextsize: u32,
}

impl Fsx {
    /// The inode flags from `old` with the mirrored ones as asked, and
    /// whether it asks for more ([`Fsx::beyond_flags`]).
    fn apply(&self, old: u32) -> (u32, bool) {
        let (set, covered) = flags_of(self.xflags);
        ((old & !covered) | set, self.beyond_flags())
    }

    /// Whether it asks for what only xfs keeps (fileattr_has_fsx): xflags
    /// beyond those that mirror inode flags, extent size hints, a project.
    /// A zero extent size turns its flags off first, as fileattr_set_prepare
    /// does.
    fn beyond_flags(&self) -> bool {
        let common = XFLAG_PAIRS.iter().fold(0, |x, (_, xf)| x | xf);
        let mut x = self.xflags;
        if self.extsize == 0 {
            x &= !(FS_XFLAG_EXTSIZE | FS_XFLAG_EXTSZINHERIT);
        }
        if self.cowextsize == 0 {
            x &= !FS_XFLAG_COWEXTSIZE;
        }
        x & !common != 0 || self.extsize != 0 || self.projid != 0 || self.cowextsize != 0
    }
}

/// Changes an inode's flags for FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR and
/// file_setattr, checking in Linux's order: a read-only mount (EROFS), the
/// file system keeping flags at all (`none`: ENOTTY for the ioctls,
/// EOPNOTSUPP for file_setattr), that the caller owns the file or has
/// CAP_FOWNER (EPERM), CAP_LINUX_IMMUTABLE for a change of FS_IMMUTABLE_FL or
/// FS_APPEND_FL (EPERM), then what ext2 and tmpfs do not keep (EOPNOTSUPP);
/// the file system takes the bits it keeps (tmpfs: EOPNOTSUPP for others;
/// ext2 ignores them). `new` makes the flags from the old ones and says
/// whether the request goes beyond flags.
fn change_iflags(
    ctx: &Ctx<'_>,
    inode: Option<InodeRef>,
    dentry: Option<&kestrel_vfs::DentryRef>,
    none: Errno,
    new: impl FnOnce(u32) -> (u32, bool),
) -> KResult<()> {
    if let Some(d) = dentry {
        super::mount::want_write(d)?;
    }
    let (fsuid, fowner, immutable) = {
        let c = ctx.process().cred.lock();
        (
            c.fsuid,
            c.capable(kestrel_abi::cap::CAP_FOWNER),
            c.capable(kestrel_abi::cap::CAP_LINUX_IMMUTABLE),
        )
    };
    // (Linux checks the owner before it finds the file system has no flags;
    // anonymous inodes here do not all carry their creator as owner, so a
    // pipe is refused whoever asks.)
    let inode = inode.filter(|i| i.iflags_kept() != 0).ok_or(none)?;
    if inode.metadata().uid != fsuid && !fowner {
        return Err(Errno::EPERM);
    }
    let old = inode.metadata().flags;
    let (flags, beyond) = new(old);
    if (flags ^ old) & (FS_IMMUTABLE_FL | FS_APPEND_FL) != 0 && !immutable {
        return Err(Errno::EPERM);
    }
    if beyond {
        return Err(Errno::EOPNOTSUPP);
    }
    inode.set_iflags(flags)?;
    match dentry {
        Some(d) => crate::fs::fsnotify::notify_dentry(d, crate::fs::fsnotify::FS_ATTRIB),
        None => crate::fs::fsnotify::notify(&inode, crate::fs::fsnotify::FS_ATTRIB),
    }
    Ok(())
}

/// FS_IOC_GETFLAGS and FS_IOC_SETFLAGS (chattr, lsattr), FS_IOC_FSGETXATTR
/// and FS_IOC_FSSETXATTR (`struct fsxattr`: xfs_io, `chattr -p`), on any file
/// whose file system keeps inode flags (ENOTTY elsewhere: pipes, sockets,
/// procfs). A set reads its argument first (EFAULT; EINVAL for an unknown
/// xflag), then [`change_iflags`]. ext2 and tmpfs keep no extent size hints
/// or project ids: a get reports 0, a set asking for them is EOPNOTSUPP.
fn inode_flags(ctx: &Ctx<'_>, file: &Arc<OpenFile>, cmd: u32, arg: u64) -> KResult<u64> {
    let inode = file.inode().filter(|i| i.iflags_kept() != 0);
    match cmd {
        FS_IOC_GETFLAGS => {
            let inode = inode.ok_or(Errno::ENOTTY)?;
            ctx.write(UserPtr::<u32>::new(arg), &inode.metadata().flags)?;
            return Ok(0);
        }
        FS_IOC_FSGETXATTR => {
            let inode = inode.ok_or(Errno::ENOTTY)?;
            let mut fsx = [0u8; 28];
            put_u32(&mut fsx, 0, xflags_of(inode.metadata().flags));
            ctx.mm()
                .writer(UserPtr::<u8>::new(arg), fsx.len())?
                .write_all(&fsx)?;
            return Ok(0);
        }
        _ => {}
    }
    let dentry = file.dentry();
    if cmd == FS_IOC_SETFLAGS {
        let flags: u32 = ctx.read(UserPtr::new(arg))?;
        change_iflags(ctx, file.inode().cloned(), dentry, Errno::ENOTTY, |_| {
            (flags, false)
        })?;
        return Ok(0);
    }
    let mut b = [0u8; 28];
    ctx.mm()
        .reader(UserPtr::<u8>::new(arg), b.len())?
        .read_exact(&mut b)?;
    // struct fsxattr: xflags, extsize, nextents, projid, cowextsize, pad.
    let fsx = Fsx {
        xflags: u32_at(&b, 0),
        extsize: u32_at(&b, 4),
        projid: u32_at(&b, 12),
        cowextsize: u32_at(&b, 16),
    };
    if fsx.xflags & !FS_XFLAG_VALUES != 0 {
        return Err(Errno::EINVAL);
    }
    change_iflags(ctx, file.inode().cloned(), dentry, Errno::ENOTTY, |old| {
        fsx.apply(old)
    })?;
    Ok(0)
}

/// The file `dirfd`/`path` names for file_getattr and file_setattr: AT_EMPTY_PATH
/// with an empty (or NULL) path is `dirfd` itself (EBADF if not open), any
/// file; otherwise a lookup (AT_SYMLINK_NOFOLLOW: the link itself).
async fn attr_target(
    ctx: &Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    at_flags: u32,
) -> KResult<(Option<InodeRef>, Option<kestrel_vfs::DentryRef>)> {
    let name = if path.is_null() && at_flags & AT_EMPTY_PATH != 0 {
        Vec::new()
    } else {
        ctx.read_path(path)?
    };
    if name.is_empty() && at_flags & AT_EMPTY_PATH != 0 && dirfd != AT_FDCWD {
        let f = ctx.file(dirfd)?;
        return Ok((f.inode().cloned(), f.dentry().cloned()));
    }
    let d = ctx.resolve_at(dirfd, &name, at_flags).await?;
    Ok((Some(d.inode.clone()), Some(d)))
}

/// The checks file_getattr and file_setattr start with: the flags, then the
/// size (E2BIG past a page, EINVAL below the first version).
fn attr_args(usize_: usize, at_flags: u32) -> KResult<()> {
    if at_flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    if usize_ > 4096 {
        return Err(Errno::E2BIG);
    }
    if usize_ < FILE_ATTR_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// file_getattr(dirfd, path, attr, size, at_flags) (Linux 6.17): the inode
/// flags as FS_XFLAG_* bits in a `struct file_attr`, written up to `size`
/// (bytes past it cleared). EOPNOTSUPP where the file system keeps no flags;
/// ext2 and tmpfs keep no extent sizes or project ids (0).
pub async fn sys_file_getattr(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    attr: UserPtr<u8>,
    size: usize,
    at_flags: u32,
) -> KResult<u64> {
    attr_args(size, at_flags)?;
    let (inode, _) = attr_target(ctx, dirfd, path, at_flags).await?;
    let inode = inode
        .filter(|i| i.iflags_kept() != 0)
        .ok_or(Errno::EOPNOTSUPP)?;
    // struct file_attr: the xflags, then extent sizes and a project id that
    // ext2 and tmpfs keep none of; the caller's bytes past it are cleared.
    let mut fa = [0u8; FILE_ATTR_SIZE_VER0];
    put_u64(&mut fa, 0, u64::from(xflags_of(inode.metadata().flags)));
    let mm = ctx.mm();
    let mut w = mm.writer(attr, size)?;
    w.write_all(&fa)?;
    let rest = size - fa.len();
    if w.zero(rest) < rest {
        return Err(Errno::EFAULT);
    }
    Ok(0)
}

/// file_setattr(dirfd, path, attr, size, at_flags) (Linux 6.17): checked in
/// Linux's order: the flags and size, the structure (EFAULT; E2BIG for
/// nonzero bytes past what is known), its xflags (EINVAL for an unknown one),
/// the path, then as FS_IOC_FSSETXATTR ([`change_iflags`], EOPNOTSUPP where
/// the file system keeps no flags).
pub async fn sys_file_setattr(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    attr: UserPtr<u8>,
    size: usize,
    at_flags: u32,
) -> KResult<u64> {
    attr_args(size, at_flags)?;
    let mut b = [0u8; FILE_ATTR_SIZE_VER0];
    ctx.mm().reader(attr, size)?.read_extensible(&mut b)?;
    let xflags = u64_at(&b, 0);
    if xflags & !u64::from(FS_XFLAG_VALUES) != 0 {
        return Err(Errno::EINVAL);
    }
    let fsx = Fsx {
        xflags: xflags as u32,
        extsize: u32_at(&b, 8),
        projid: u32_at(&b, 16),
        cowextsize: u32_at(&b, 20),
    };
    let (inode, dentry) = attr_target(ctx, dirfd, path, at_flags).await?;
    change_iflags(ctx, inode, dentry.as_ref(), Errno::EOPNOTSUPP, |old| {
        fsx.apply(old)
    })?;
    Ok(0)
}

/// FIGETBSZ, FIBMAP and FS_IOC_FIEMAP: where a file lies on its disk, for the
/// file systems that keep a block map (ext2). Elsewhere FIEMAP is EOPNOTSUPP
/// and FIBMAP EINVAL (no bmap), as on Linux's tmpfs. Linux's order: FIEMAP
/// asks for the file system's support, then reads the header (EFAULT), checks
/// the extent count, the range (EINVAL for none) and the flags (EBADR, with
/// fm_flags left holding the ones not supported), and writes the header back
/// whatever the outcome.
async fn block_map(ctx: &Ctx<'_>, file: &Arc<OpenFile>, cmd: u32, arg: u64) -> KResult<u64> {
    let inode = file.inode().ok_or(Errno::ENOTTY)?;
    let bsize = u64::from(inode.metadata().blksize.max(1));
    match cmd {
        FIGETBSZ => {
            ctx.write(UserPtr::<i32>::new(arg), &(bsize as i32))?;
            return Ok(0);
        }
        FIBMAP => {
            if !inode.metadata().is_regular() {
                return Err(Errno::ENOTTY);
            }
            if !ctx.capable(kestrel_abi::cap::CAP_SYS_RAWIO) {
                return Err(Errno::EPERM);
            }
            let block: i32 = ctx.read(UserPtr::new(arg))?;
            if block < 0 {
                return Err(Errno::EINVAL);
            }
            let at = block as u64 * bsize;
            let (runs, _) = match inode.extents_async(at, bsize, 1).await {
                Err(Errno::EOPNOTSUPP) => return Err(Errno::EINVAL),
                r => r?,
            };
            let phys = runs
                .first()
                .filter(|r| r.0 <= at)
                .map_or(0, |r| (r.1 + (at - r.0)) / bsize);
            let phys = i32::try_from(phys).map_err(|_| Errno::ERANGE)?;
            ctx.write(UserPtr::<i32>::new(arg), &phys)?;
            return Ok(0);
        }
        _ => {}
    }
    // Does the file system map blocks at all (before the header is read)?
    inode.extents_async(0, 0, 0).await?;
    let head = UserPtr::<Fiemap>::new(arg);
    let mut fm: Fiemap = ctx.read(head)?;
    if fm.fm_extent_count > FIEMAP_MAX_EXTENTS {
        return Err(Errno::EINVAL);
    }
    let r = fiemap(ctx, inode, &mut fm, arg + size_of::<Fiemap>() as u64).await;
    ctx.write(head, &fm)?;
    r.map(|()| 0)
}

/// The body of FS_IOC_FIEMAP: fills `fm_mapped_extents` and the extents after
/// the header at `extents`. At most [`FIEMAP_KEEP`] extents are returned in one
/// call (a caller asking for more gets those, the last without
/// FIEMAP_EXTENT_LAST, and asks again from past them, as for a full array).
async fn fiemap(ctx: &Ctx<'_>, inode: &InodeRef, fm: &mut Fiemap, extents: u64) -> KResult<()> {
    if fm.fm_length == 0 {
        return Err(Errno::EINVAL);
    }
    if fm.fm_start > i64::MAX as u64 {
        return Err(Errno::EFBIG);
    }
    let unsupported = fm.fm_flags & !(FIEMAP_FLAG_SYNC | FIEMAP_FLAG_XATTR);
    if unsupported != 0 {
        fm.fm_flags = unsupported;
        return Err(Errno::EBADR);
    }
    if fm.fm_flags & FIEMAP_FLAG_SYNC != 0 {
        inode.fsync(true).await?;
    }
    fm.fm_mapped_extents = 0;
    if fm.fm_flags & FIEMAP_FLAG_XATTR != 0 {
        // Extended attributes are not mapped here: none to show.
        return Ok(());
    }
    let keep = (fm.fm_extent_count as usize).min(FIEMAP_KEEP);
    let (runs, found) = inode.extents_async(fm.fm_start, fm.fm_length, keep).await?;
    if fm.fm_extent_count == 0 {
        fm.fm_mapped_extents = found.min(u32::MAX as usize) as u32;
        return Ok(());
    }
    let n = runs.len();
    let out: Vec<FiemapExtent> = runs
        .iter()
        .enumerate()
        .map(|(i, &(logical, physical, length))| FiemapExtent {
            fe_logical: logical,
            fe_physical: physical,
            fe_length: length,
            fe_flags: if i + 1 == n && found == n {
                FIEMAP_EXTENT_LAST
            } else {
                0
            },
            ..Default::default()
        })
        .collect();
    UserPtr::<FiemapExtent>::new(extents).write_slice(&*ctx.mm(), &out)?;
    fm.fm_mapped_extents = n as u32;
    Ok(())
}

/// The most extents one FS_IOC_FIEMAP returns (a bound on the kernel's buffer).
const FIEMAP_KEEP: usize = 1 << 16;

fn make_pipe(ctx: &Ctx<'_>, fds_ptr: UserPtr<[i32; 2]>, flags: u32) -> KResult<u64> {
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    // Below pipe-max-size for a creator without CAP_SYS_RESOURCE, and
    // counted against the user's pipe-user-pages limits.
    let (uid, privileged) = {
        let c = ctx.process().cred.lock();
        (c.uid, c.capable(kestrel_abi::cap::CAP_SYS_RESOURCE))
    };
    let (r, w) = kestrel_vfs::pipe::pipe_for(uid, privileged)?;
    let inode = crate::fs::anon::pipe_inode(r.pipe());
    let status = flags & O_NONBLOCK;
    let rf = OpenFile::anonymous(
        Some(inode.clone()),
        r as Arc<dyn FileOps>,
        O_RDONLY | status,
    );
    let wf = OpenFile::anonymous(Some(inode), w as Arc<dyn FileOps>, O_WRONLY | status);
    let cloexec = flags & O_CLOEXEC != 0;
    let files = ctx.process().files();
    let limit = ctx.process().nofile();
    let (rfd, wfd) = {
        let mut t = files.lock();
        let rfd = t.insert(rf, cloexec, 0, limit)?;
        match t.insert(wf, cloexec, 0, limit) {
            Ok(wfd) => (rfd, wfd),
            Err(e) => {
                let f = t.remove(rfd);
                drop(t);
                drop(f);
                return Err(e);
            }
        }
    };
    if let Err(e) = ctx.write(fds_ptr, &[rfd, wfd]) {
        let closed = {
            let mut t = files.lock();
            (t.remove(rfd), t.remove(wfd))
        };
        drop(closed);
        return Err(e);
    }
    Ok(0)
}

pub async fn sys_pipe(ctx: &mut Ctx<'_>, fds: UserPtr<[i32; 2]>) -> KResult<u64> {
    make_pipe(ctx, fds, 0)
}

pub async fn sys_pipe2(ctx: &mut Ctx<'_>, fds: UserPtr<[i32; 2]>, flags: u32) -> KResult<u64> {
    make_pipe(ctx, fds, flags)
}

/// FICLONE's argument is the source descriptor; FICLONERANGE's a struct
/// file_clone_range starting with it.
const FICLONE: u32 = 0x4004_9409;
const FICLONERANGE: u32 = 0x4020_940d;

/// Linux's checks of a clone into `dst` from descriptor `src`, in its order:
/// EBADF, EXDEV (another mount), EISDIR, EINVAL (not regular files), EBADF
/// (modes), then EOPNOTSUPP: no file system here can share blocks.
fn clone_range_checks(ctx: &Ctx<'_>, dst: &OpenFile, src: i32) -> KResult<()> {
    let src = ctx.file(src)?;
    let same_mount = match (src.dentry(), dst.dentry()) {
        (Some(a), Some(b)) => Arc::ptr_eq(a.mnt(), b.mnt()),
        _ => false,
    };
    if !same_mount {
        return Err(Errno::EXDEV);
    }
    let (si, di) = (src.metadata()?, dst.metadata()?);
    if si.is_dir() || di.is_dir() {
        return Err(Errno::EISDIR);
    }
    if !si.is_regular() || !di.is_regular() {
        return Err(Errno::EINVAL);
    }
    if !src.readable() || !dst.writable() || dst.flags() & O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    Err(Errno::EOPNOTSUPP)
}
