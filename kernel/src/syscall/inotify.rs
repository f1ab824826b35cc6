//! inotify_init, inotify_init1, inotify_add_watch, inotify_rm_watch (inotify(7)).
//! The instance and the event delivery are `kestrel_vfs::inotify`; the calls
//! that change files report their events through [`crate::fs::notify`].

use kestrel_abi::fs::{O_CLOEXEC, O_NONBLOCK, O_RDONLY, R_OK};
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::inotify::*;
use kestrel_vfs::{Dentry, InodeRef, OpenFile};

use super::Ctx;
use super::args::*;

fn init(ctx: &Ctx<'_>, flags: u32) -> KResult<u64> {
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = Inotify::new()?;
    let file = crate::fs::anon::anon_file(ops, O_RDONLY | (flags & O_NONBLOCK));
    ctx.install(file, flags & O_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

pub async fn sys_inotify_init(ctx: &mut Ctx<'_>) -> KResult<u64> {
    init(ctx, 0)
}

pub async fn sys_inotify_init1(ctx: &mut Ctx<'_>, flags: u32) -> KResult<u64> {
    init(ctx, flags)
}

pub async fn sys_inotify_add_watch(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    path: UserCStr,
    mask: u32,
) -> KResult<u64> {
    // Linux's order: the mask, then the descriptor, then the path.
    if mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0 {
        return Err(Errno::EINVAL);
    }
    if mask & ALL_INOTIFY_BITS == 0 {
        return Err(Errno::EINVAL);
    }
    let file = ctx.file(fd)?;
    let path = ctx.read_path(path)?;
    let instance = Inotify::of(&file).ok_or(Errno::EINVAL)?;
    let d = ctx
        .resolve(kestrel_abi::fs::AT_FDCWD, &path, mask & IN_DONT_FOLLOW == 0)
        .await?;
    let m = d.inode.metadata();
    if mask & IN_ONLYDIR != 0 && !m.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    // Watching needs read permission on the file (Linux's inode_permission
    // MAY_READ in inotify_find_inode).
    let cred = ctx.process().cred.lock().fs_cred();
    kestrel_vfs::inode::check_access(&m, &cred, R_OK)?;
    instance
        .add_watch(d.inode.clone(), mask)
        .map(|wd| wd as u64)
}

pub async fn sys_inotify_rm_watch(ctx: &mut Ctx<'_>, fd: Fd, wd: i32) -> KResult<u64> {
    let file = ctx.file(fd)?;
    let instance = Inotify::of(&file).ok_or(Errno::EINVAL)?;
    instance.rm_watch(wd).map(|_| 0)
}

/// An event on the file `d` names; its directory's watches hear of it with the
/// name.
pub(crate) fn on_dentry(d: &Dentry, mask: u32) {
    if watching() {
        event(
            Some(&d.inode),
            d.parent().map(|p| (&p.inode, d.name())),
            mask,
            0,
        );
    }
}

/// An event on `i` itself, when no name for it is at hand (its directory's
/// watches do not hear of it).
pub(crate) fn on_inode(i: &InodeRef, mask: u32) {
    if watching() {
        event(Some(i), None, mask, 0);
    }
}

/// An event on an open file (through the name it was opened by).
pub(crate) fn on_file(f: &OpenFile, mask: u32) {
    if !watching() {
        return;
    }
    match (f.dentry(), f.inode()) {
        (Some(d), _) => on_dentry(d, mask),
        (None, Some(i)) => event(Some(i), None, mask, 0),
        (None, None) => {}
    }
}

/// An event for `name` in directory `dir` (IN_CREATE, IN_DELETE, moves);
/// `child` is the file, for IN_ISDIR and its own events.
pub(crate) fn on_name(
    dir: &InodeRef,
    name: &[u8],
    child: Option<&InodeRef>,
    mask: u32,
    cookie: u32,
) {
    if watching() {
        event(child, Some((dir, name)), mask, cookie);
    }
}

/// `n` bytes were read from `f` (IN_ACCESS when any were).
pub(crate) fn accessed(f: &OpenFile, n: usize) {
    if n > 0 {
        on_file(f, IN_ACCESS);
    }
}

/// `n` bytes were written to `f` (IN_MODIFY when any were).
pub(crate) fn modified(f: &OpenFile, n: usize) {
    if n > 0 {
        on_file(f, IN_MODIFY);
    }
}

/// The open file description `f` is released: IN_CLOSE_WRITE or
/// IN_CLOSE_NOWRITE (not for O_PATH descriptors, which never opened the file).
pub(crate) fn file_released(f: &OpenFile) {
    if watching() && f.flags() & kestrel_abi::fs::O_PATH == 0 {
        let mask = if f.writable() {
            IN_CLOSE_WRITE
        } else {
            IN_CLOSE_NOWRITE
        };
        on_file(f, mask);
    }
}

/// A name was removed from `dir` (unlink, rmdir): the file hears IN_ATTRIB (its
/// link count changed; not for a directory) and, when that was its last link,
/// IN_DELETE_SELF and the end of its watches; then the directory IN_DELETE.
pub(crate) fn on_remove(dir: &InodeRef, name: &[u8], child: &InodeRef) {
    if !watching() {
        return;
    }
    let m = child.metadata();
    if !m.is_dir() {
        event(Some(child), None, IN_ATTRIB, 0);
    }
    if m.nlink == 0 || m.is_dir() {
        removed(child);
    }
    event(Some(child), Some((dir, name)), IN_DELETE, 0);
}

/// A rename of `src` from `from` to `to` (directory, name), which replaced
/// `replaced` if anything: IN_MOVED_FROM and IN_MOVED_TO with one cookie, the
/// replaced file's link-count and removal events, then IN_MOVE_SELF (Linux's
/// fsnotify_move order).
pub(crate) fn on_rename(
    from: (&InodeRef, &[u8]),
    to: (&InodeRef, &[u8]),
    src: &InodeRef,
    replaced: Option<&InodeRef>,
) {
    if !watching() {
        return;
    }
    let cookie = next_cookie();
    event(Some(src), Some(from), IN_MOVED_FROM, cookie);
    event(Some(src), Some(to), IN_MOVED_TO, cookie);
    if let Some(r) = replaced.filter(|r| !alloc::sync::Arc::ptr_eq(r, src)) {
        let m = r.metadata();
        if !m.is_dir() {
            event(Some(r), None, IN_ATTRIB, 0);
        }
        if m.nlink == 0 || m.is_dir() {
            removed(r);
        }
    }
    event(Some(src), None, IN_MOVE_SELF, 0);
}
