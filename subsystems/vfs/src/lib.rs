//! The virtual file system.
//!
//! * [`inode`]: what a file *is* — the [`Inode`] trait every file system implements,
//!   with names as byte strings (Linux file names are bytes, not UTF-8).
//! * [`ramfs`]: the in-memory file system that holds the root (unpacked from the
//!   initramfs by [`cpio`]) and `/tmp`.
//! * [`path`]: how a path becomes an inode: [`Dentry`] chains from the root (so `..`
//!   and `getcwd` work across mount points), the mount table, symlinks, Linux's
//!   errors (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES).
//! * [`file`]: what an *open* file is — [`OpenFile`] (Linux's `struct file`: offset,
//!   status flags) and the [`FileOps`] behind it.
//! * [`fdtable`] holds a process's file descriptors.
//! * [`pipe`] holds pipes.
//! * [`lock`] keeps advisory file locks: fcntl record locks (POSIX and OFD) and flock.
//! * [`epoll`] reports readiness of many files through per-entry wakers.
//!
//! # Blocking
//! Nothing here blocks. Operations that may wait for a disk (lookups, directory
//! changes, listings, truncation, symlink targets, fsync) have `_async` forms on
//! [`Inode`] returning [`inode::Later`]: in-memory file systems answer at once
//! through the defaults, a disk file system with a future; the path walk awaits
//! them (docs/storage.md). Other file operations are non-blocking: a read with no
//! data returns `EAGAIN`. Every waitable file exposes one readiness interface —
//! [`FileOps::poll`] (the current poll mask) and [`FileOps::wait_queue`] (woken on any
//! change) — and the kernel's syscall layer turns that into blocking reads, `poll`,
//! `select` and `epoll` alike (brief §3). This keeps the VFS testable on the host.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cpio;
pub mod epoll;
pub mod eventfd;
pub mod fdtable;
pub mod file;
pub mod inode;
pub mod lock;
pub mod path;
pub mod pipe;
pub mod pseudo;
pub mod ramfs;

use alloc::vec::Vec;

pub use fdtable::FdTable;
pub use file::{FileOps, FileOwner, OpenFile};
pub use inode::{Inode, InodeRef, Metadata, NodeKind};
pub use kestrel_abi::{Errno, KResult};
pub use path::{Dentry, DentryRef, MountInfo, Mounts, Walker};

use kestrel_abi::time::Timespec;

/// Who is asking: the credentials permission checks use (the file-system ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl Cred {
    /// The superuser.
    pub fn root() -> Self {
        Self::default()
    }

    /// Whether `gid` is this caller's group or one of its supplementary groups.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

static CLOCK: spin::Once<fn() -> Timespec> = spin::Once::new();

/// Sets where file timestamps come from (the kernel's wall clock). Before this is
/// called timestamps are zero (as in host tests).
pub fn set_clock(now: fn() -> Timespec) {
    CLOCK.call_once(|| now);
}

static MEMORY_CHECK: spin::Once<fn(usize) -> bool> = spin::Once::new();

/// Sets how file systems and pipes ask whether `bytes` more of user data may be
/// held in kernel memory (the kernel answers from its reserve: file data, pipe and
/// socket buffers never eat the memory the kernel itself needs). Before this is
/// called every request is granted (as in host tests).
pub fn set_memory_check(check: fn(usize) -> bool) {
    MEMORY_CHECK.call_once(|| check);
}

static STATIC_RELEASE: spin::Once<fn(&'static [u8])> = spin::Once::new();

/// Sets what is done with memory a file no longer reads its content from
/// ([`crate::inode::Inode::adopt_static`]: the initramfs's pages, which the
/// kernel gives back to its frame allocator once no file still needs them).
/// Before this is called such memory is simply forgotten (as in host tests).
pub fn set_static_release(release: fn(&'static [u8])) {
    STATIC_RELEASE.call_once(|| release);
}

/// `bytes`, adopted by a file earlier, is no longer needed by it.
pub(crate) fn release_static(bytes: &'static [u8]) {
    if let Some(f) = STATIC_RELEASE.get() {
        f(bytes);
    }
}

/// Whether `bytes` more of user data may be held in kernel memory.
pub fn may_hold(bytes: usize) -> bool {
    MEMORY_CHECK.get().is_none_or(|f| f(bytes))
}

/// The current time for timestamps.
pub fn now() -> Timespec {
    CLOCK.get().map_or(Timespec::default(), |f| f())
}

/// Access to the calling process's memory, for operations that take user pointers
/// (ioctl): the user-memory gate.
pub use kestrel_usermem::{UserPtr, UserSpace};

/// Polls `fut` once: its output if it completed at once (every operation of an
/// in-memory file system does), else `None`. For the kernel's few synchronous
/// callers that only ever touch in-memory trees (/dev at boot).
pub fn poll_now<F: core::future::Future>(fut: F) -> Option<F::Output> {
    let mut f = core::pin::pin!(fut);
    match f.as_mut().poll(&mut core::task::Context::from_waker(
        core::task::Waker::noop(),
    )) {
        core::task::Poll::Ready(v) => Some(v),
        core::task::Poll::Pending => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use core::future::Future;
    use core::task::{Context, Poll, Waker};

    /// Runs a future that in-memory file systems complete at once.
    pub trait Now: Future + Sized {
        fn now(self) -> Self::Output {
            let mut f = core::pin::pin!(self);
            match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(v) => v,
                Poll::Pending => panic!("an in-memory operation waited"),
            }
        }
    }

    impl<F: Future> Now for F {}
}
