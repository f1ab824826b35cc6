//! Inodes: files as the file system sees them.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};

use crate::Cred;

/// A shared inode.
pub type InodeRef = Arc<dyn Inode>;

/// What kind of file a new node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Dir,
    Symlink(Vec<u8>),
    /// Character device with this device number.
    CharDev(u64),
    /// Block device with this device number.
    BlockDev(u64),
    Fifo,
    Socket,
}

impl NodeKind {
    /// The S_IFMT bits of this kind.
    pub fn type_bits(&self) -> u32 {
        match self {
            Self::File => S_IFREG,
            Self::Dir => S_IFDIR,
            Self::Symlink(_) => S_IFLNK,
            Self::CharDev(_) => S_IFCHR,
            Self::BlockDev(_) => S_IFBLK,
            Self::Fifo => S_IFIFO,
            Self::Socket => S_IFSOCK,
        }
    }
}

/// What `stat` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metadata {
    pub dev: u64,
    pub ino: u64,
    /// File type and permission bits.
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u32,
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    /// Inode flags (FS_*_FL, what FS_IOC_GETFLAGS reports); 0 where the file
    /// system keeps none.
    pub flags: u32,
}

impl Metadata {
    /// The S_IFMT bits.
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }
    pub fn is_symlink(&self) -> bool {
        self.file_type() == S_IFLNK
    }
    pub fn is_regular(&self) -> bool {
        self.file_type() == S_IFREG
    }
    /// FS_IMMUTABLE_FL: no change to content, name, links or attributes
    /// (Linux's IS_IMMUTABLE).
    pub fn is_immutable(&self) -> bool {
        self.flags & FS_IMMUTABLE_FL != 0
    }
    /// FS_APPEND_FL: content only grows at the end; no rename, unlink,
    /// truncation or attribute change (Linux's IS_APPEND).
    pub fn is_append_only(&self) -> bool {
        self.flags & FS_APPEND_FL != 0
    }
    /// EPERM for an immutable or append-only file: what may not change its
    /// attributes (chmod, chown, utimes, xattrs), be removed, renamed or linked.
    pub fn check_changeable(&self) -> KResult<()> {
        if self.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL) != 0 {
            Err(Errno::EPERM)
        } else {
            Ok(())
        }
    }

    /// As `struct stat`.
    pub fn to_stat(&self) -> Stat {
        Stat {
            st_dev: self.dev,
            st_ino: self.ino,
            st_nlink: u64::from(self.nlink),
            st_mode: self.mode,
            st_uid: self.uid,
            st_gid: self.gid,
            __pad0: 0,
            st_rdev: self.rdev,
            st_size: self.size as i64,
            st_blksize: i64::from(self.blksize),
            st_blocks: self.blocks as i64,
            st_atime: self.atime,
            st_mtime: self.mtime,
            st_ctime: self.ctime,
            __unused: [0; 3],
        }
    }

    /// As `struct statx` (basic stats; no birth time).
    pub fn to_statx(&self) -> Statx {
        Statx {
            stx_mask: STATX_BASIC_STATS,
            stx_blksize: self.blksize,
            stx_nlink: self.nlink,
            stx_uid: self.uid,
            stx_gid: self.gid,
            stx_mode: self.mode as u16,
            stx_ino: self.ino,
            stx_size: self.size,
            stx_blocks: self.blocks,
            stx_atime: self.atime.into(),
            stx_ctime: self.ctime.into(),
            stx_mtime: self.mtime.into(),
            stx_rdev_major: major(self.rdev),
            stx_rdev_minor: minor(self.rdev),
            stx_dev_major: major(self.dev),
            stx_dev_minor: minor(self.dev),
            ..Statx::default()
        }
    }
}

/// Access requested of a file (access(2) bits).
pub mod access {
    pub const READ: u32 = 4;
    pub const WRITE: u32 = 2;
    pub const EXEC: u32 = 1;
}

/// Whether `cred` may access a file with metadata `m` for `want` (R/W/X bits), by the
/// classic owner/group/other rules. The superuser may read and write anything and
/// execute anything with at least one execute bit (or any directory).
pub fn may_access(m: &Metadata, cred: &Cred, want: u32) -> bool {
    if cred.uid == 0 {
        return want & access::EXEC == 0 || m.is_dir() || m.mode & 0o111 != 0;
    }
    let bits = if cred.uid == m.uid {
        (m.mode >> 6) & 7
    } else if cred.in_group(m.gid) {
        (m.mode >> 3) & 7
    } else {
        m.mode & 7
    };
    bits & want == want
}

/// Fails with EACCES unless [`may_access`].
pub fn check_access(m: &Metadata, cred: &Cred, want: u32) -> KResult<()> {
    if may_access(m, cred, want) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub ino: u64,
    /// d_type (DT_*).
    pub dtype: u8,
    pub name: Vec<u8>,
    /// The position just after this entry (what getdents64 reports as d_off).
    pub next: u64,
}

/// How setxattr treats an existing attribute (XATTR_CREATE, XATTR_REPLACE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XattrSet {
    /// Create or replace.
    Any,
    /// EEXIST if it exists.
    Create,
    /// ENODATA if it does not.
    Replace,
}

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The answer of an inode operation that may wait on a device: there already
/// ([`Later::Now`], what in-memory file systems give, without an allocation), or
/// a future to await ([`Later::Wait`], a block-backed file system).
pub enum Later<'a, T> {
    Now(Option<T>),
    Wait(BoxFuture<'a, T>),
}

/// What [`Inode::extents_async`] finds: `(file offset, disk offset, length)`
/// runs in file order, and the count of all runs found in the range.
pub type ExtentMap = (Vec<(u64, u64, u64)>, usize);

impl<'a, T> Later<'a, T> {
    /// An answer that is already there.
    pub fn now(v: T) -> Self {
        Self::Now(Some(v))
    }

    /// An answer that comes from `fut`.
    pub fn wait(fut: impl Future<Output = T> + Send + 'a) -> Self {
        Self::Wait(Box::pin(fut))
    }
}

impl<T: Unpin> Future for Later<'_, T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            Self::Now(v) => match v.take() {
                Some(v) => Poll::Ready(v),
                // Polled again after completing: a caller's bug, never a user's;
                // it waits forever rather than bringing the kernel down.
                None => Poll::Pending,
            },
            Self::Wait(f) => f.as_mut().poll(cx),
        }
    }
}

/// A file as its file system holds it. Directory operations default to ENOTDIR and
/// content operations to EISDIR/EINVAL, so each kind implements only what it is.
///
/// # Synchronous and asynchronous operations
/// Metadata is synchronous: [`Inode::metadata`] and the `set_*` calls work on the
/// in-core inode (a block-backed file system writes it back later, as Linux's
/// `struct inode` is written back). The operations that may need the disk have an
/// `_async` form returning [`Later`]; each defaults to the synchronous method, so an
/// in-memory file system implements only those and answers at once. The kernel
/// calls only the `_async` forms; a block-backed file system implements those and
/// fails the synchronous ones (it cannot block a CPU on its disk).
pub trait Inode: Send + Sync + Any {
    /// The current metadata.
    fn metadata(&self) -> Metadata;
    /// Sets the permission bits (and setuid/setgid/sticky) of the mode.
    fn set_mode(&self, mode: u32) -> KResult<()>;
    /// Changes owner and/or group.
    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()>;
    /// Sets access and/or modification time (ctime becomes now).
    fn set_times(&self, atime: Option<Timespec>, mtime: Option<Timespec>) -> KResult<()>;
    /// The file was read: its access time becomes `now`, nothing else changes
    /// (not ctime, as [`Inode::set_times`] would). [`OpenFile::accessed`] decides
    /// when (the mount's atime mode); file systems without stored times ignore it.
    ///
    /// [`OpenFile::accessed`]: crate::OpenFile::accessed
    fn touch_atime(&self, _now: Timespec) {}

    /// Reads file content at `offset`; returns bytes read (0 at or past the end).
    fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> KResult<usize> {
        Err(if self.metadata().is_dir() {
            Errno::EISDIR
        } else {
            Errno::EINVAL
        })
    }
    /// Writes file content at `offset`, growing the file as needed.
    fn write_at(&self, _offset: u64, _data: &[u8]) -> KResult<usize> {
        Err(if self.metadata().is_dir() {
            Errno::EISDIR
        } else {
            Errno::EINVAL
        })
    }
    /// Takes `data` as the whole content of this empty regular file without
    /// copying it now: the file reads it from there until its content is first
    /// needed otherwise (written, mapped, truncated), when it is copied into the
    /// file's own pages and given back ([`crate::set_static_release`]). Ok(false)
    /// where the file system cannot (the caller writes the data instead).
    fn adopt_static(&self, _data: &'static [u8]) -> KResult<bool> {
        Ok(false)
    }
    /// fallocate(2) for a regular file: with `punch`, drops the range's content
    /// (it reads as zeros; the size stays); otherwise makes the range's storage
    /// exist and, unless `keep_size`, grows the file to cover it. EOPNOTSUPP where
    /// the file system cannot.
    fn allocate(&self, _offset: u64, _len: u64, _keep_size: bool, _punch: bool) -> KResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Sets the size of a regular file (zero-filling growth).
    fn truncate(&self, _size: u64) -> KResult<()> {
        Err(if self.metadata().is_dir() {
            Errno::EISDIR
        } else {
            Errno::EINVAL
        })
    }
    /// A symlink's target.
    fn readlink(&self) -> KResult<Vec<u8>> {
        Err(Errno::EINVAL)
    }
    /// For a *magic* symlink (procfs's `exe`, `cwd`, `fd/N`): where following it
    /// leads, directly, whatever its text says. `None` for an ordinary symlink.
    /// lseek's SEEK_DATA (`data`) or SEEK_HOLE from `from` (below the file's
    /// size): the offset found, or `None` where the file keeps no holes
    /// (then all of it is data, which lseek(2) allows).
    fn seek_data(&self, _from: u64, _data: bool) -> Option<u64> {
        None
    }
    /// File handles (name_to_handle_at): this inode's number and generation,
    /// if its file system can find it again by them ([`Inode::by_handle`]);
    /// `None` where it cannot (EOPNOTSUPP, as Linux's file systems without
    /// export operations).
    fn handle(&self) -> Option<(u64, u32)> {
        None
    }
    /// open_by_handle_at: the inode of this inode's file system with number
    /// `ino` and generation `generation`, ESTALE if there is none now.
    fn by_handle(&self, _ino: u64, _generation: u32) -> KResult<InodeRef> {
        Err(Errno::ESTALE)
    }
    /// [`Inode::seek_data`], maybe waiting on the disk (a file system that
    /// finds its holes in a block map on disk).
    fn seek_data_async(&self, from: u64, data: bool) -> Later<'_, Option<u64>> {
        Later::now(self.seek_data(from, data))
    }
    /// RWF_NOWAIT: how many of the `len` bytes from `from` can be read without
    /// waiting for a device. EOPNOTSUPP where the file system does not say
    /// (Linux's tmpfs and ramfs lack FMODE_NOWAIT: the same answer).
    fn cached_prefix_async(&self, _from: u64, _len: u64) -> Later<'_, KResult<u64>> {
        Later::now(Err(Errno::EOPNOTSUPP))
    }
    /// FS_IOC_FIEMAP: where `[from, from + len)` of the file lies on its disk,
    /// as `(file offset, disk offset, length)` runs in file order, at most
    /// `keep` of them, with the count of all runs found. EOPNOTSUPP where the
    /// file system keeps no block map (tmpfs, procfs: Linux's answer too).
    fn extents_async(&self, _from: u64, _len: u64, _keep: usize) -> Later<'_, KResult<ExtentMap>> {
        Later::now(Err(Errno::EOPNOTSUPP))
    }
    fn magic_link(&self) -> Option<KResult<crate::path::DentryRef>> {
        None
    }
    /// The file's seals (F_GET_SEALS): F_SEAL_SEAL alone where sealing is not
    /// allowed; EINVAL where the file system has no seals at all.
    fn seals(&self) -> KResult<u32> {
        Err(Errno::EINVAL)
    }
    /// A shared mapping that may write the file appears (`true`) or goes away.
    fn map_writable(&self, _appears: bool) {}
    /// Adds seals (F_ADD_SEALS): EPERM once F_SEAL_SEAL is set.
    fn add_seals(&self, _seals: u32) -> KResult<()> {
        Err(Errno::EINVAL)
    }
    /// What statfs reports for the file system holding this inode.
    fn statfs(&self) -> kestrel_abi::fs::Statfs;

    /// An extended attribute's value (ENODATA if absent; EOPNOTSUPP where the file
    /// system keeps none). Names arrive checked (namespace, length) by the caller,
    /// which also decides who may see what.
    fn xattr_get(&self, _name: &[u8]) -> KResult<Vec<u8>> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Sets an extended attribute per `how` (any, create only, replace only).
    fn xattr_set(&self, _name: &[u8], _value: &[u8], _how: XattrSet) -> KResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Every extended attribute name.
    fn xattr_list(&self) -> KResult<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
    /// Removes an extended attribute (ENODATA if absent).
    fn xattr_remove(&self, _name: &[u8]) -> KResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
    /// Whether mmap(2) may map this file's content (on Linux: its file has an mmap
    /// operation). procfs files cannot be mapped (ENODEV), though they read like
    /// regular files.
    fn mappable(&self) -> bool {
        false
    }
    /// The page of content at `index` itself, for a MAP_SHARED mapping (created if it
    /// is a hole within the file). ENXIO past the end of the file; ENODEV for files
    /// whose content cannot be mapped.
    fn shared_page(&self, _index: u64) -> KResult<alloc::sync::Arc<crate::ramfs::PageBuf>> {
        Err(Errno::ENODEV)
    }

    /// Finds `name` in this directory (never "." or "..": the path walker handles those).
    fn lookup(&self, _name: &[u8]) -> KResult<InodeRef> {
        Err(Errno::ENOTDIR)
    }
    /// Creates `name` in this directory; EEXIST if it exists.
    fn create(
        &self,
        _name: &[u8],
        _kind: NodeKind,
        _mode: u32,
        _uid: u32,
        _gid: u32,
    ) -> KResult<InodeRef> {
        Err(Errno::ENOTDIR)
    }
    /// Adds a hard link `name` to `target` (same file system, not a directory).
    fn link(&self, _name: &[u8], _target: &InodeRef) -> KResult<()> {
        Err(Errno::ENOTDIR)
    }
    /// Removes the non-directory `name`.
    fn unlink(&self, _name: &[u8]) -> KResult<()> {
        Err(Errno::ENOTDIR)
    }
    /// Removes the empty directory `name`.
    fn rmdir(&self, _name: &[u8]) -> KResult<()> {
        Err(Errno::ENOTDIR)
    }
    /// Moves `old` in this directory to `new` in `new_dir` (same file system), with
    /// renameat2 `flags` (RENAME_NOREPLACE, RENAME_EXCHANGE).
    fn rename(&self, _old: &[u8], _new_dir: &InodeRef, _new: &[u8], _flags: u32) -> KResult<()> {
        Err(Errno::ENOTDIR)
    }
    /// Lists entries from position `pos` (0 is the start; "." and ".." included),
    /// calling `emit` until it returns false or the directory ends.
    fn readdir(&self, _pos: u64, _emit: &mut dyn FnMut(DirEntry) -> bool) -> KResult<()> {
        Err(Errno::ENOTDIR)
    }

    /// [`Inode::lookup`], maybe waiting on the disk.
    fn lookup_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<InodeRef>> {
        Later::now(self.lookup(name))
    }
    /// [`Inode::create`], maybe waiting on the disk.
    fn create_async<'a>(
        &'a self,
        name: &'a [u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Later<'a, KResult<InodeRef>> {
        Later::now(self.create(name, kind, mode, uid, gid))
    }
    /// [`Inode::link`], maybe waiting on the disk.
    fn link_async<'a>(&'a self, name: &'a [u8], target: &'a InodeRef) -> Later<'a, KResult<()>> {
        Later::now(self.link(name, target))
    }
    /// [`Inode::unlink`], maybe waiting on the disk.
    fn unlink_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<()>> {
        Later::now(self.unlink(name))
    }
    /// [`Inode::rmdir`], maybe waiting on the disk.
    fn rmdir_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<()>> {
        Later::now(self.rmdir(name))
    }
    /// [`Inode::rename`], maybe waiting on the disk.
    fn rename_async<'a>(
        &'a self,
        old: &'a [u8],
        new_dir: &'a InodeRef,
        new: &'a [u8],
        flags: u32,
    ) -> Later<'a, KResult<()>> {
        Later::now(self.rename(old, new_dir, new, flags))
    }
    /// [`Inode::readdir`], maybe waiting on the disk.
    fn readdir_async<'a>(
        &'a self,
        pos: u64,
        emit: &'a mut (dyn FnMut(DirEntry) -> bool + Send),
    ) -> Later<'a, KResult<()>> {
        Later::now(self.readdir(pos, emit))
    }
    /// [`Inode::truncate`], maybe waiting on the disk.
    fn truncate_async(&self, size: u64) -> Later<'_, KResult<()>> {
        Later::now(self.truncate(size))
    }
    /// [`Inode::allocate`], maybe waiting on the disk.
    fn allocate_async(
        &self,
        offset: u64,
        len: u64,
        keep_size: bool,
        punch: bool,
    ) -> Later<'_, KResult<()>> {
        Later::now(self.allocate(offset, len, keep_size, punch))
    }
    /// [`Inode::readlink`], maybe waiting on the disk.
    fn readlink_async(&self) -> Later<'_, KResult<Vec<u8>>> {
        Later::now(self.readlink())
    }
    /// [`Inode::statfs`], maybe waiting on the disk.
    fn statfs_async(&self) -> Later<'_, KResult<kestrel_abi::fs::Statfs>> {
        Later::now(Ok(self.statfs()))
    }
    /// [`Inode::xattr_get`], maybe waiting on the disk.
    fn xattr_get_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<Vec<u8>>> {
        Later::now(self.xattr_get(name))
    }
    /// [`Inode::xattr_set`], maybe waiting on the disk.
    fn xattr_set_async<'a>(
        &'a self,
        name: &'a [u8],
        value: &'a [u8],
        how: XattrSet,
    ) -> Later<'a, KResult<()>> {
        Later::now(self.xattr_set(name, value, how))
    }
    /// [`Inode::xattr_list`], maybe waiting on the disk.
    fn xattr_list_async(&self) -> Later<'_, KResult<Vec<Vec<u8>>>> {
        Later::now(self.xattr_list())
    }
    /// [`Inode::xattr_remove`], maybe waiting on the disk.
    fn xattr_remove_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<()>> {
        Later::now(self.xattr_remove(name))
    }
    /// fsync(2) and fdatasync(2): the file's content and in-core inode (and what
    /// names it) reach stable storage. Nothing to do in memory.
    fn fsync(&self, _datasync: bool) -> Later<'_, KResult<()>> {
        Later::now(Ok(()))
    }
    /// Makes `len` bytes of content from `offset` readable through the synchronous
    /// [`Inode::read_at`] and [`Inode::shared_page`] (what a file mapping's page
    /// faults and exec's header reads use; they answer EAGAIN for a page not
    /// loaded, and the fault awaits this). In-memory file systems have it there
    /// already.
    fn load_pages(&self, _offset: u64, _len: u64) -> Later<'_, KResult<()>> {
        Later::now(Ok(()))
    }
    /// Whether the content page `index` is in memory (mincore(2)): always, for
    /// in-memory file systems.
    fn page_cached(&self, _index: u64) -> bool {
        true
    }
    /// cachestat(2)'s counts for content pages `first..=last` (page indexes; the
    /// caller bounds how many). Nothing, for a file without cached content (a
    /// pipe, a socket, a device).
    fn cachestat(&self, _first: u64, _last: u64) -> Later<'_, Cachestat> {
        Later::now(Cachestat::default())
    }

    // Inode flags (chattr, lsattr): FS_IOC_GETFLAGS reads [`Metadata::flags`].
    /// The FS_*_FL bits this file system keeps, 0 where it keeps none (then
    /// FS_IOC_GETFLAGS and FS_IOC_SETFLAGS are ENOTTY).
    fn iflags_kept(&self) -> u32 {
        0
    }
    /// FS_IOC_SETFLAGS, the caller's permission already checked: sets the
    /// flags as the file system takes them (EOPNOTSUPP for bits it refuses;
    /// ENOTTY where it keeps none).
    fn set_iflags(&self, _flags: u32) -> KResult<()> {
        Err(Errno::ENOTTY)
    }

    /// An ioctl the file system answers for a regular file of its own (after
    /// FIONREAD, which every regular file has): ENOTTY by default.
    fn ioctl(&self, _cmd: u32, _arg: u64, _mem: &dyn crate::UserSpace) -> KResult<u64> {
        Err(Errno::ENOTTY)
    }

    /// For downcasting (a file system checks that `rename`'s target is its own).
    fn as_any(&self) -> &dyn Any;
}
