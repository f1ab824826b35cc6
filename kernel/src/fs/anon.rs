//! Files with no name: pipe ends (Linux's pipefs) and the anonymous-inode files
//! (epoll, eventfd, timerfd, signalfd) that Linux backs with one shared inode of
//! anon_inodefs.

use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use kestrel_abi::KResult;
use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_vfs::inode::{Inode, Metadata};
use kestrel_vfs::pipe::Pipe;
use kestrel_vfs::{FileOps, InodeRef, OpenFile};

/// What `fstat` reports for a nameless file.
struct PseudoInode {
    dev: u64,
    ino: u64,
    mode: u32,
    created: Timespec,
    /// For a pipe: the pipe, so that opening `/proc/PID/fd/N` joins it.
    pipe: Option<Weak<Pipe>>,
}

impl Inode for PseudoInode {
    fn statfs(&self) -> Statfs {
        Statfs {
            f_type: match self.mode & S_IFMT {
                S_IFIFO => PIPEFS_MAGIC,
                S_IFSOCK => SOCKFS_MAGIC,
                _ if self.dev == PIDFS_DEV => PID_FS_MAGIC,
                _ => ANON_INODE_FS_MAGIC,
            },
            f_bsize: 4096,
            f_namelen: 255,
            f_frsize: 4096,
            f_flags: ST_VALID,
            ..Default::default()
        }
    }

    fn metadata(&self) -> Metadata {
        Metadata {
            dev: self.dev,
            ino: self.ino,
            mode: self.mode,
            nlink: 1,
            blksize: 4096,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            ..Metadata::default()
        }
    }
    fn set_mode(&self, _: u32) -> KResult<()> {
        Ok(())
    }
    fn set_owner(&self, _: Option<u32>, _: Option<u32>) -> KResult<()> {
        Ok(())
    }
    fn set_times(&self, _: Option<Timespec>, _: Option<Timespec>) -> KResult<()> {
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

static PIPE_INO: AtomicU64 = AtomicU64::new(1);

/// A fresh inode for `pipe`: a FIFO on pipefs, numbered like Linux's.
pub fn pipe_inode(pipe: &Arc<Pipe>) -> InodeRef {
    Arc::new(PseudoInode {
        dev: makedev(0, 12),
        ino: PIPE_INO.fetch_add(1, Ordering::Relaxed),
        mode: S_IFIFO | 0o600,
        created: Timespec::from_ns(crate::time::realtime_ns()),
        pipe: Some(Arc::downgrade(pipe)),
    })
}

/// The pipe an anonymous pipe's inode stands for (None for any other inode).
pub fn pipe_of_inode(inode: &InodeRef) -> Option<Arc<Pipe>> {
    inode
        .as_any()
        .downcast_ref::<PseudoInode>()?
        .pipe
        .as_ref()?
        .upgrade()
}

/// The one inode every anonymous-inode file shares (mode 0600, no file type).
fn anon_inode() -> InodeRef {
    static ANON: spin::Once<InodeRef> = spin::Once::new();
    ANON.call_once(|| {
        Arc::new(PseudoInode {
            dev: makedev(0, 13),
            ino: 1,
            mode: 0o600,
            created: Timespec::default(),
            pipe: None,
        })
    })
    .clone()
}

static SOCK_INO: AtomicU64 = AtomicU64::new(1);

/// An open file for a socket: an inode of its own on sockfs (S_IFSOCK), as
/// fstat and /proc/PID/fd ("socket:[ino]") show.
pub fn socket_file(ops: Arc<dyn FileOps>, flags: u32) -> Arc<OpenFile> {
    let inode: InodeRef = Arc::new(PseudoInode {
        dev: makedev(0, 8),
        ino: SOCK_INO.fetch_add(1, Ordering::Relaxed),
        mode: S_IFSOCK | 0o777,
        created: Timespec::from_ns(crate::time::realtime_ns()),
        pipe: None,
    });
    OpenFile::anonymous(Some(inode), ops, flags)
}

/// pidfs's device number.
const PIDFS_DEV: u64 = makedev(0, 14);

/// An open file for a pidfd: an inode on pidfs numbered by the process
/// (`serial`), so that two pidfds of one process have the same st_ino and
/// those of different processes (a pid used again included) differ, as
/// Linux's pidfs (6.9) promises; mode 0700 with no file type, as there.
pub fn pidfd_file(ops: Arc<dyn FileOps>, serial: u64, flags: u32) -> Arc<OpenFile> {
    let inode: InodeRef = Arc::new(PseudoInode {
        dev: PIDFS_DEV,
        ino: serial,
        mode: 0o700,
        created: Timespec::from_ns(crate::time::realtime_ns()),
        pipe: None,
    });
    OpenFile::anonymous(Some(inode), ops, flags)
}

/// An open file on the anonymous inode, with `ops` and the open(2) `flags`
/// (access mode and O_NONBLOCK).
pub fn anon_file(ops: Arc<dyn FileOps>, flags: u32) -> Arc<OpenFile> {
    OpenFile::anonymous(Some(anon_inode()), ops, flags)
}
