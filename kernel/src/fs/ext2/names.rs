//! The kernel's side of ext2's name cache (`kestrel_ext2::names`, Linux's
//! dentry cache for names): a path walk asks [`Ext2Inode::lookup_async`], which
//! answers from the cache without an ext2 operation (no task, no file system
//! lock) when the name is known — an inode number, or known absent — and the
//! inode is in core. To keep the directories of a walk in core between system
//! calls (a `stat` or `open` of `dir/file` would otherwise read `dir`'s inode
//! again in an operation of its own), the most recently loaded or made
//! directories are held here, up to [`KEEP_DIRS`] per file system, as Linux's
//! dentries hold their inodes. They are let go at unmount (before its busy
//! check), at rmdir or rename over them, by drop_caches and when memory runs
//! short.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{Ext2Fs, Ext2Inode, MOUNTED};

/// Directories each file system keeps in core.
pub(super) const KEEP_DIRS: usize = 128;

/// The name cache's bound for a machine with `memory` bytes: a 128th of it,
/// between 256 KiB and 16 MiB.
pub(super) fn cache_bytes(memory: usize) -> usize {
    (memory / 128).clamp(256 << 10, 16 << 20)
}

/// Recently loaded directories, oldest first.
#[derive(Default)]
pub(super) struct KeptDirs(VecDeque<Arc<Ext2Inode>>);

impl Ext2Fs {
    /// Keeps `i` in core if it is a directory (the oldest kept one goes).
    pub(super) fn keep_dir(&self, i: &Arc<Ext2Inode>) {
        if !i.meta.lock().is_dir() {
            return;
        }
        let gone = {
            let mut k = self.kept.lock();
            if k.0.iter().any(|d| Arc::ptr_eq(d, i)) {
                return;
            }
            k.0.push_back(i.clone());
            if k.0.len() > KEEP_DIRS {
                k.0.pop_front()
            } else {
                None
            }
        };
        // Dropped outside the lock (an inode's drop takes other locks).
        drop(gone);
    }

    /// Lets go of directory `ino` (removed, or replaced by a rename).
    pub(super) fn unkeep(&self, ino: u32) {
        let gone: Vec<Arc<Ext2Inode>> = {
            let mut k = self.kept.lock();
            let mut out = Vec::new();
            k.0.retain(|d| {
                if d.ino == ino {
                    out.push(d.clone());
                    false
                } else {
                    true
                }
            });
            out
        };
        drop(gone);
    }

    /// Lets go of every kept directory and empties the name cache; the bytes
    /// the cache was counted for.
    pub(super) fn drop_names(&self) -> usize {
        let gone = core::mem::take(&mut self.kept.lock().0);
        drop(gone);
        self.fs.shrink_names()
    }

    /// The in-core inode `ino`, if it is in core.
    pub(super) fn in_core(&self, ino: u32) -> Option<Arc<Ext2Inode>> {
        self.inodes
            .lock()
            .get(&ino)
            .and_then(alloc::sync::Weak::upgrade)
    }
}

/// Memory is short: every file system's name cache and kept directories go;
/// the bytes the caches were counted for.
pub fn reclaim() -> usize {
    let all: Vec<Arc<Ext2Fs>> = MOUNTED.lock().clone();
    all.iter().map(|fs| fs.drop_names()).sum()
}

/// Whether free memory is short (below a sixteenth), as the page cache judges.
pub(super) fn memory_low() -> bool {
    let (free, total) = crate::mm::frame::stats();
    free < total / 16
}
