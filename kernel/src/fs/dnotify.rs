//! dnotify: fcntl(fd, F_NOTIFY, DN_*) on a directory, Linux's oldest
//! file-watching interface (fcntl(2), "File and directory change
//! notification"). The third back end of [`super::fsnotify`].
//!
//! A watch is kept per (directory, open file description): its DN_* mask (the
//! masks of later F_NOTIFY calls through the same description add up) and the
//! descriptor it was set through. An event in the directory — on one of its
//! entries, or on the directory itself — that its mask asks for sends the
//! description's owner a signal: SIGIO (SI_KERNEL) by default, or the F_SETSIG
//! signal with si_code POLL_MSG, si_band POLLIN|POLLRDNORM|POLLMSG and si_fd
//! the descriptor. F_NOTIFY makes the calling process the owner, as Linux's
//! fcntl_dirnotify does. Without DN_MULTISHOT a watch ends after its first
//! signal. F_NOTIFY with no event bits, the close of a descriptor for the
//! description, or the description's release ends it.
//!
//! Event mapping (Linux's convert_arg): DN_ACCESS FS_ACCESS, DN_MODIFY
//! FS_MODIFY, DN_ATTRIB FS_ATTRIB, DN_CREATE FS_CREATE and a rename into the
//! directory, DN_DELETE FS_DELETE and a rename out of it, DN_RENAME a rename
//! within it. A rename of the directory itself is none of these.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use kestrel_abi::fs::{
    DN_ACCESS, DN_ATTRIB, DN_CREATE, DN_DELETE, DN_MODIFY, DN_MULTISHOT, DN_RENAME,
};
use kestrel_abi::signal::{SI_KERNEL, SIGIO, Siginfo};
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::{Dentry, FileOwner, InodeRef, OpenFile};

use super::fsnotify::{FS_ACCESS, FS_ATTRIB, FS_CREATE, FS_DELETE, FS_MODIFY};

type Id = (u64, u64);

struct Watch {
    file: Weak<OpenFile>,
    fd: i32,
    mask: u32,
}

static WATCHES: spin::Mutex<BTreeMap<Id, Vec<Watch>>> = spin::Mutex::new(BTreeMap::new());
/// Watches in the table: while 0, every hook is one atomic load.
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// At most this many watches at once (each open description may watch one
/// directory; this bounds the table whatever user space does).
const MAX_WATCHES: usize = 1 << 16;

const DN_EVENTS: u32 = DN_ACCESS | DN_MODIFY | DN_CREATE | DN_DELETE | DN_RENAME | DN_ATTRIB;

fn identity(inode: &InodeRef) -> Id {
    let m = inode.metadata();
    (m.dev, m.ino)
}

/// fcntl(fd, F_NOTIFY, arg) on `file` by process `pid`: ENOTDIR unless it is
/// open on a directory; no event bits removes its watch.
pub fn fcntl_notify(file: &Arc<OpenFile>, fd: i32, arg: u32, pid: u32) -> KResult<()> {
    let inode = file.inode().ok_or(Errno::ENOTDIR)?;
    if !inode.metadata().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let id = identity(inode);
    let mut all = WATCHES.lock();
    let list = all.entry(id).or_default();
    let at = list
        .iter()
        .position(|w| core::ptr::eq(w.file.as_ptr(), Arc::as_ptr(file)));
    if arg & DN_EVENTS == 0 {
        if let Some(i) = at {
            list.remove(i);
            COUNT.fetch_sub(1, Ordering::Relaxed);
        }
        if list.is_empty() {
            all.remove(&id);
        }
        return Ok(());
    }
    file.set_owner(Some(FileOwner::Process(pid)));
    match at {
        Some(i) => {
            list[i].fd = fd;
            list[i].mask |= arg & (DN_EVENTS | DN_MULTISHOT);
        }
        None => {
            if COUNT.load(Ordering::Relaxed) >= MAX_WATCHES {
                if list.is_empty() {
                    all.remove(&id);
                }
                return Err(Errno::ENOMEM);
            }
            list.push(Watch {
                file: Arc::downgrade(file),
                fd,
                mask: arg & (DN_EVENTS | DN_MULTISHOT),
            });
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// A descriptor for `file` was closed: its watches end (Linux's dnotify_flush).
pub fn descriptor_closed(file: &OpenFile) {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut all = WATCHES.lock();
    all.retain(|_, list| {
        list.retain(|w| {
            let keep = !core::ptr::eq(w.file.as_ptr(), file) && w.file.strong_count() > 0;
            if !keep {
                COUNT.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
        !list.is_empty()
    });
}

/// The DN_* bits an FS_* event on an entry of a directory (or the directory
/// itself) stands for.
fn dn_bits(fs_mask: u32) -> u32 {
    let mut dn = 0;
    if fs_mask & FS_ACCESS != 0 {
        dn |= DN_ACCESS;
    }
    if fs_mask & FS_MODIFY != 0 {
        dn |= DN_MODIFY;
    }
    if fs_mask & FS_ATTRIB != 0 {
        dn |= DN_ATTRIB;
    }
    if fs_mask & FS_CREATE != 0 {
        dn |= DN_CREATE;
    }
    if fs_mask & FS_DELETE != 0 {
        dn |= DN_DELETE;
    }
    dn
}

/// Signals the owners of the watches on directory `id` that want `dn`.
fn deliver(id: Id, dn: u32) {
    if dn == 0 {
        return;
    }
    let mut hit: Vec<(Arc<OpenFile>, i32)> = Vec::new();
    // Files looked at are dropped after the lock (a last reference going runs
    // the close hook).
    let mut held: Vec<Arc<OpenFile>> = Vec::new();
    {
        let mut all = WATCHES.lock();
        let Some(list) = all.get_mut(&id) else {
            return;
        };
        list.retain(|w| {
            let Some(f) = w.file.upgrade() else {
                COUNT.fetch_sub(1, Ordering::Relaxed);
                return false;
            };
            if w.mask & dn == 0 {
                held.push(f);
                return true;
            }
            hit.push((f, w.fd));
            let keep = w.mask & DN_MULTISHOT != 0;
            if !keep {
                COUNT.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
        if list.is_empty() {
            all.remove(&id);
        }
    }
    drop(held);
    // Outside the table's lock: sending may wake and run other code.
    for (f, fd) in hit {
        let Some(owner) = f.owner() else { continue };
        let sig = f.io_signal();
        let info = if sig == 0 {
            Siginfo::new(SIGIO, SI_KERNEL)
        } else {
            // POLL_MSG, with its band (POLLIN | POLLRDNORM | POLLMSG).
            super::fasync::poll_siginfo(sig, 3, 0x1 | 0x40 | 0x400, fd)
        };
        super::fasync::send(owner, &info);
    }
}

#[inline]
pub(super) fn watching() -> bool {
    COUNT.load(Ordering::Relaxed) != 0
}

/// `fs_mask` happened to the file `d` names: its directory hears it, and the
/// file itself if it is a watched directory.
pub fn notify_dentry(d: &Dentry, fs_mask: u32) {
    if !watching() {
        return;
    }
    let dn = dn_bits(fs_mask);
    if let Some(parent) = d.parent() {
        deliver(identity(&parent.inode), dn);
    }
    if d.inode.metadata().is_dir() {
        deliver(identity(&d.inode), dn);
    }
}

/// `fs_mask` happened to `inode` (no parent known).
pub fn notify(inode: &InodeRef, fs_mask: u32) {
    if !watching() || !inode.metadata().is_dir() {
        return;
    }
    deliver(identity(inode), dn_bits(fs_mask));
}

/// An entry appeared in (FS_CREATE) or left (FS_DELETE) directory `dir`.
pub fn notify_child(dir: &InodeRef, fs_mask: u32) {
    if !watching() {
        return;
    }
    deliver(identity(dir), dn_bits(fs_mask));
}

/// A rename from directory `from` to directory `to`: DN_DELETE for `from`,
/// DN_CREATE for `to`, and DN_RENAME when they are the same directory.
pub fn renamed(from: &InodeRef, to: &InodeRef) {
    if !watching() {
        return;
    }
    let (a, b) = (identity(from), identity(to));
    if a == b {
        deliver(a, DN_DELETE | DN_CREATE | DN_RENAME);
    } else {
        deliver(a, DN_DELETE);
        deliver(b, DN_CREATE);
    }
}
