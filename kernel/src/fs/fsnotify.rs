//! File-system notification: the one place the system calls report what they
//! did to files, and the back ends that listen (Linux's fsnotify with its
//! inotify, fanotify and dnotify back ends; [`dnotify`] is fcntl's F_NOTIFY).
//!
//! Event masks are Linux's FS_* bits, which inotify's IN_* and fanotify's
//! FAN_* share. [`inotify`] hears every event by inode (with the name, for
//! its watches on the parent directory); [`fanotify`] hears the events that
//! carry a path (open, access, modify, close), and the permission events,
//! which are `async`: the opener or reader waits for the listener's answer.
//! A file opened by fanotify for its listener ([`OpenFile::no_notify`]) makes
//! no events at all.
//!
//! Each hook costs one atomic load per back end while nothing is watched.

use alloc::boxed::Box;

use kestrel_abi::KResult;
use kestrel_abi::fs::O_PATH;
use kestrel_vfs::file::OpenFile;
use kestrel_vfs::{DentryRef, InodeRef};

use super::{dnotify, fanotify, inotify};
use crate::process::Thread;

pub use super::inotify::{
    IN_ACCESS as FS_ACCESS, IN_ATTRIB as FS_ATTRIB, IN_CLOSE_NOWRITE as FS_CLOSE_NOWRITE,
    IN_CLOSE_WRITE as FS_CLOSE_WRITE, IN_CREATE as FS_CREATE, IN_DELETE as FS_DELETE,
    IN_MODIFY as FS_MODIFY, IN_OPEN as FS_OPEN,
};
use kestrel_fanotify::{FAN_ACCESS_PERM, FAN_OPEN_EXEC, FAN_OPEN_EXEC_PERM, FAN_OPEN_PERM};

/// `mask` happened to the file `d` names (its parent's inotify watches hear
/// it with the name, then its own; fanotify marks on it, its directory, its
/// mount or its file system).
pub fn notify_dentry(d: &DentryRef, mask: u32) {
    inotify::notify_dentry(d, mask);
    fanotify::notify(d, mask);
    dnotify::notify_dentry(d, mask);
}

/// `mask` happened to `inode`, reached without a path (only inode watches
/// hear it: fanotify reports paths).
pub fn notify(inode: &InodeRef, mask: u32) {
    inotify::notify(inode, mask);
    dnotify::notify(inode, mask);
}

/// `name` appeared in (FS_CREATE) or left (FS_DELETE) directory `dir`.
pub fn notify_child(dir: &InodeRef, mask: u32, name: &[u8], isdir: bool) {
    inotify::notify_child(dir, mask, name, isdir);
    dnotify::notify_child(dir, mask);
}

/// `inode` lost its last name.
pub fn inode_deleted(inode: &InodeRef) {
    inotify::inode_deleted(inode);
    fanotify::inode_deleted(inode);
}

/// A rename of `name` in `from` to `new_name` in `to`, of `inode`.
pub fn renamed(from: &InodeRef, name: &[u8], to: &InodeRef, new_name: &[u8], inode: &InodeRef) {
    inotify::renamed(from, name, to, new_name, inode);
    dnotify::renamed(from, to);
}

/// Whether any inotify watch, fanotify mark or dnotify watch exists: the
/// three hooks' own first test, made once before a call into each (a small
/// read paid ~60 instructions for the three calls with nothing watched).
#[inline(always)]
fn any_watch() -> bool {
    inotify::watching() || fanotify::watching() || dnotify::watching()
}

/// A read of `file` returned data.
#[inline]
pub fn access(file: &OpenFile) {
    if any_watch() {
        access_watched(file);
    }
}

#[inline(never)]
fn access_watched(file: &OpenFile) {
    if let Some(d) = file.dentry()
        && !file.no_notify()
    {
        notify_dentry(d, FS_ACCESS);
    }
}

/// A write to `file` changed it.
#[inline]
pub fn modify(file: &OpenFile) {
    if any_watch() {
        modify_watched(file);
    }
}

#[inline(never)]
fn modify_watched(file: &OpenFile) {
    if let Some(d) = file.dentry()
        && !file.no_notify()
    {
        notify_dentry(d, FS_MODIFY);
    }
}

/// `d` was opened (`exec`: as a program, which adds FAN_OPEN_EXEC).
pub fn opened(d: &DentryRef, exec: bool) {
    inotify::notify_dentry(d, FS_OPEN);
    fanotify::notify(d, FS_OPEN | if exec { FAN_OPEN_EXEC } else { 0 });
}

/// Whether a permission hook has anything to ask (the cheap test that keeps
/// the boxed future below off every open and read).
pub fn permission_watched() -> bool {
    fanotify::watching()
}

/// The permission events of an open of `d` by `thread` (for a program,
/// FAN_OPEN_EXEC_PERM first): EPERM if a listener denies it.
pub async fn open_permission(d: &DentryRef, exec: bool, thread: &Thread) -> KResult<()> {
    if !permission_watched() {
        return Ok(());
    }
    Box::pin(async {
        if exec {
            fanotify::permission(d, FAN_OPEN_EXEC_PERM, thread).await?;
        }
        fanotify::permission(d, FAN_OPEN_PERM, thread).await
    })
    .await
}

/// The permission event of a read of `file` by `thread`.
pub async fn access_permission(file: &OpenFile, thread: &Thread) -> KResult<()> {
    if !permission_watched() || file.no_notify() {
        return Ok(());
    }
    let Some(d) = file.dentry() else {
        return Ok(());
    };
    Box::pin(fanotify::permission(d, FAN_ACCESS_PERM, thread)).await
}

/// The permission event of a read by the kernel of `d` for `thread` (exec's
/// read of a program).
pub async fn access_permission_dentry(d: &DentryRef, thread: &Thread) -> KResult<()> {
    if !permission_watched() {
        return Ok(());
    }
    Box::pin(fanotify::permission(d, FAN_ACCESS_PERM, thread)).await
}

/// An open file description was released (its last descriptor closed):
/// FS_CLOSE_WRITE or FS_CLOSE_NOWRITE, and a fanotify group whose descriptor
/// it was ends.
pub fn file_released(f: &OpenFile) {
    fanotify::file_released(f);
    if f.no_notify() || f.flags() & O_PATH != 0 {
        return;
    }
    if let Some(d) = f.dentry() {
        let mask = if f.writable() {
            FS_CLOSE_WRITE
        } else {
            FS_CLOSE_NOWRITE
        };
        notify_dentry(d, mask);
    }
}
