//! O_TMPFILE's "linkable" mark (Linux's I_LINKABLE): a file made with
//! O_TMPFILE and without O_EXCL may be given a name by linkat although it has
//! no links; any other file whose last name is gone may not (ENOENT). The
//! mark goes with the first link, or with the file.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use kestrel_vfs::InodeRef;
use kestrel_vfs::inode::Inode;

/// The marked files, held weakly: a file closed for good leaves by itself.
static LINKABLE: spin::Mutex<Vec<Weak<dyn Inode>>> = spin::Mutex::new(Vec::new());

/// Marks `inode` (a new O_TMPFILE file) as one linkat may name.
pub fn make_linkable(inode: &InodeRef) {
    let mut l = LINKABLE.lock();
    l.retain(|w| w.strong_count() > 0);
    l.push(Arc::downgrade(inode));
}

/// Whether `inode` carries the mark; it is taken off (the file has a name
/// from now on).
pub fn take_linkable(inode: &InodeRef) -> bool {
    let mut l = LINKABLE.lock();
    l.retain(|w| w.strong_count() > 0);
    let before = l.len();
    l.retain(|w| !core::ptr::addr_eq(w.as_ptr(), Arc::as_ptr(inode)));
    l.len() != before
}
