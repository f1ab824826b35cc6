//! Huge page files: memfd_create(MFD_HUGETLB) files and the files of a
//! hugetlbfs mount, whose content lives in 2 MiB pages of the huge page pool
//! ([`crate::mm::huge`]).
//!
//! As Linux's hugetlbfs: the size changes by ftruncate in whole huge pages
//! (EINVAL otherwise) and growing allocates nothing; a mapping (offset on a
//! 2 MiB boundary, length rounded up to one) reserves its pages from the pool
//! at mmap, ENOMEM when the pool has too few, and a writable mapping grows the
//! file to cover itself; read(2) reads the content, write(2) is EINVAL (no
//! write_iter); statfs says HUGETLBFS_MAGIC with 2 MiB blocks; cachestat is
//! EOPNOTSUPP. A MAP_SHARED mapping maps the file's own pages; a MAP_PRIVATE
//! one gets pages of its own (taken from the pool at mmap, filled with the
//! file's content there). A mount's `size=` bounds the pages its files hold
//! (ENOMEM at mmap beyond it; a private mapping's own pages are not counted,
//! where Linux counts them) and `nr_inodes=` its inodes (ENOSPC); `min_size=`
//! is accepted and reserves nothing.

use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::InodeRef;
use kestrel_vfs::inode::{Inode, Metadata};

use crate::mm::huge::HPAGE_SIZE;
use crate::mm::vm::SharedPages;

/// `hugetlbfs`'s magic number (statfs).
pub const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

/// A hugetlbfs mount's limits (`size=` and `nr_inodes=`) and what its files
/// use of them.
#[derive(Default)]
pub struct Limits {
    /// Huge pages the mount's files may hold (None: no limit).
    max_pages: Option<u64>,
    pages: AtomicU64,
    /// Inodes the mount may hold, its root included (None: no limit).
    max_inodes: Option<u64>,
    inodes: AtomicU64,
}

/// A file of huge pages.
pub struct HugeFile {
    meta: spin::Mutex<Metadata>,
    /// Its content, by page.
    pub pages: Arc<SharedPages>,
    /// Its mount's limits (None for a memfd).
    limits: Option<Arc<Limits>>,
}

static INO: AtomicU64 = AtomicU64::new(1);

impl HugeFile {
    /// A new empty file on the device `dev`.
    pub fn new(dev: u64, mode: u32, uid: u32, gid: u32) -> Arc<Self> {
        let now = Timespec::from_ns(crate::time::realtime_ns());
        Arc::new(Self {
            meta: spin::Mutex::new(Metadata {
                dev,
                ino: INO.fetch_add(1, Ordering::Relaxed),
                mode: S_IFREG | (mode & 0o7777),
                nlink: 1,
                uid,
                gid,
                blksize: HPAGE_SIZE as u32,
                atime: now,
                mtime: now,
                ctime: now,
                ..Metadata::default()
            }),
            pages: Arc::new(SharedPages::new_huge(false)),
            limits: None,
        })
    }

    /// Makes huge pages `first..first+count` of the file exist (a shared
    /// mapping of them), from the pool and within the mount's `size=`
    /// (ENOMEM beyond either, as Linux's subpool).
    pub fn reserve(&self, first: u64, count: u64) -> KResult<()> {
        let before = self.pages.huge_blocks();
        if let Some(l) = &self.limits
            && let Some(max) = l.max_pages
        {
            let end = first.saturating_add(count);
            let missing = (first..end)
                .filter(|&b| !self.pages.has_huge_block(b))
                .count() as u64;
            if l.pages.load(Ordering::Acquire).saturating_add(missing) > max {
                return Err(Errno::ENOMEM);
            }
        }
        self.pages.reserve_huge(first, count)?;
        if let Some(l) = &self.limits {
            l.pages
                .fetch_add(self.pages.huge_blocks() - before, Ordering::AcqRel);
        }
        Ok(())
    }

    /// The huge page file behind `inode`, if it is one.
    pub fn of(inode: &InodeRef) -> Option<&HugeFile> {
        inode.as_any().downcast_ref::<HugeFile>()
    }

    /// A writable mapping of `[0, end)` made: the file covers it (Linux's
    /// hugetlbfs_file_mmap).
    pub fn grow_to(&self, end: u64) {
        let mut m = self.meta.lock();
        if m.size < end {
            m.size = end;
        }
    }
}

impl Inode for HugeFile {
    fn metadata(&self) -> Metadata {
        let mut m = *self.meta.lock();
        // 512-byte blocks of the huge pages it holds.
        m.blocks = self.pages.huge_blocks() * (HPAGE_SIZE / 512);
        m
    }
    fn set_mode(&self, mode: u32) -> KResult<()> {
        let mut m = self.meta.lock();
        m.mode = (m.mode & S_IFMT) | (mode & 0o7777);
        m.ctime = Timespec::from_ns(crate::time::realtime_ns());
        Ok(())
    }
    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
        let mut m = self.meta.lock();
        if let Some(u) = uid {
            m.uid = u;
        }
        if let Some(g) = gid {
            m.gid = g;
        }
        m.ctime = Timespec::from_ns(crate::time::realtime_ns());
        Ok(())
    }
    fn set_times(&self, atime: Option<Timespec>, mtime: Option<Timespec>) -> KResult<()> {
        let mut m = self.meta.lock();
        if let Some(a) = atime {
            m.atime = a;
        }
        if let Some(t) = mtime {
            m.mtime = t;
        }
        m.ctime = Timespec::from_ns(crate::time::realtime_ns());
        Ok(())
    }
    fn touch_atime(&self, now: Timespec) {
        self.meta.lock().atime = now;
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> KResult<usize> {
        let size = self.meta.lock().size;
        if offset >= size {
            return Ok(0);
        }
        let n = buf
            .len()
            .min((size - offset).min(usize::MAX as u64) as usize);
        self.pages.read_bytes(offset, &mut buf[..n]);
        Ok(n)
    }
    // write_at: the default EINVAL, as Linux's hugetlbfs (no write_iter).

    /// ftruncate: whole huge pages only (EINVAL otherwise); pages past a
    /// shorter end go back to the pool.
    fn truncate(&self, size: u64) -> KResult<()> {
        if !size.is_multiple_of(HPAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let mut m = self.meta.lock();
        if size < m.size {
            let before = self.pages.huge_blocks();
            self.pages.truncate_huge(size / HPAGE_SIZE);
            if let Some(l) = &self.limits {
                l.pages
                    .fetch_sub(before - self.pages.huge_blocks(), Ordering::AcqRel);
            }
        }
        m.size = size;
        let now = Timespec::from_ns(crate::time::realtime_ns());
        m.mtime = now;
        m.ctime = now;
        Ok(())
    }

    fn statfs(&self) -> Statfs {
        Self::statfs_of(self.limits.as_deref())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for HugeFile {
    fn drop(&mut self) {
        if let Some(l) = &self.limits {
            l.pages
                .fetch_sub(self.pages.huge_blocks(), Ordering::AcqRel);
            l.inodes.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl HugeFile {
    /// What statfs says on hugetlbfs: block and file counts only for a mount
    /// with a `size=` limit (Linux's hugetlbfs_statfs; otherwise 0), the
    /// file counts -1 without `nr_inodes=`.
    fn statfs_of(limits: Option<&Limits>) -> Statfs {
        let mut st = Statfs {
            f_type: HUGETLBFS_MAGIC,
            f_bsize: HPAGE_SIZE as i64,
            f_namelen: 255,
            f_frsize: HPAGE_SIZE as i64,
            f_flags: ST_VALID,
            ..Default::default()
        };
        if let Some(l) = limits
            && let Some(max) = l.max_pages
        {
            let free = max.saturating_sub(l.pages.load(Ordering::Acquire));
            st.f_blocks = max;
            st.f_bfree = free;
            st.f_bavail = free;
            (st.f_files, st.f_ffree) = match l.max_inodes {
                Some(n) => (n, n.saturating_sub(l.inodes.load(Ordering::Acquire))),
                None => (u64::MAX, u64::MAX),
            };
        }
        st
    }
}

/// The root directory of a hugetlbfs mount: a ramfs directory (names,
/// listing, permissions) whose regular files are [`HugeFile`]s. It is flat:
/// subdirectories, device nodes and the like are EPERM (Linux's hugetlbfs
/// has them; programs using it make files in the mount's root).
pub struct HugeDir {
    inner: InodeRef,
    limits: Arc<Limits>,
}

/// A size as hugetlbfs options give one (Linux's memparse: a number with an
/// optional K, M, G, T, P or E), None if it is not one.
fn memparse(v: &[u8]) -> Option<u64> {
    let (digits, shift) = match v.last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 10),
        b'm' | b'M' => (&v[..v.len() - 1], 20),
        b'g' | b'G' => (&v[..v.len() - 1], 30),
        b't' | b'T' => (&v[..v.len() - 1], 40),
        b'p' | b'P' => (&v[..v.len() - 1], 50),
        b'e' | b'E' => (&v[..v.len() - 1], 60),
        _ => (v, 0),
    };
    let n: u64 = core::str::from_utf8(digits).ok()?.parse().ok()?;
    n.checked_mul(1 << shift)
}

impl HugeDir {
    /// A new hugetlbfs instance on device `dev` with the mount options
    /// `data` (checked already): its root. `size=` (bytes, or a percentage
    /// of the pool as it is now) limits the huge pages its files hold, in
    /// whole pages; `nr_inodes=` the number of inodes, the root's included
    /// (ENOSPC beyond).
    /// `min_size=` (pages reserved for the mount at mount time) is taken
    /// and not acted on.
    pub fn new_root(dev: u64, data: &[u8]) -> InodeRef {
        let data = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
        let value = |key: &[u8]| {
            data.split(|&b| b == b',')
                .filter_map(|o| o.strip_prefix(key)?.strip_prefix(b"="))
                .next_back()
        };
        let max_pages = value(b"size").and_then(|v| match v.strip_suffix(b"%") {
            Some(pct) => {
                let pct: u64 = core::str::from_utf8(pct).ok()?.parse().ok()?;
                Some(crate::mm::huge::nr().saturating_mul(pct) / 100)
            }
            None => memparse(v).map(|b| b / HPAGE_SIZE),
        });
        let max_inodes = value(b"nr_inodes").and_then(memparse);
        Arc::new(HugeDir {
            inner: kestrel_vfs::ramfs::RamFs::new_root(dev),
            limits: Arc::new(Limits {
                max_pages,
                max_inodes,
                // The root directory is one of them, as on Linux.
                inodes: AtomicU64::new(1),
                ..Limits::default()
            }),
        })
    }

    /// The ramfs directory under `dir`, if `dir` is a hugetlbfs root (so a
    /// rename within the mount reaches the same file system).
    fn inner_of(dir: &InodeRef) -> &InodeRef {
        match dir.as_any().downcast_ref::<HugeDir>() {
            Some(h) => &h.inner,
            None => dir,
        }
    }
}

impl Inode for HugeDir {
    fn metadata(&self) -> Metadata {
        self.inner.metadata()
    }
    fn set_mode(&self, mode: u32) -> KResult<()> {
        self.inner.set_mode(mode)
    }
    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
        self.inner.set_owner(uid, gid)
    }
    fn set_times(&self, atime: Option<Timespec>, mtime: Option<Timespec>) -> KResult<()> {
        self.inner.set_times(atime, mtime)
    }
    fn touch_atime(&self, now: Timespec) {
        self.inner.touch_atime(now)
    }
    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        self.inner.lookup(name)
    }
    fn create(
        &self,
        name: &[u8],
        kind: kestrel_vfs::NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> KResult<InodeRef> {
        if kind != kestrel_vfs::NodeKind::File {
            return Err(Errno::EPERM);
        }
        if self.inner.lookup(name).is_ok() {
            return Err(Errno::EEXIST);
        }
        let l = &self.limits;
        if l.inodes.fetch_add(1, Ordering::AcqRel) >= l.max_inodes.unwrap_or(u64::MAX) {
            l.inodes.fetch_sub(1, Ordering::AcqRel);
            return Err(Errno::ENOSPC);
        }
        let dev = self.inner.metadata().dev;
        let mut file = HugeFile::new(dev, mode, uid, gid);
        // Counted from here: dropping it uncounts it.
        if let Some(f) = Arc::get_mut(&mut file) {
            f.limits = Some(l.clone());
        }
        let f: InodeRef = file;
        kestrel_vfs::ramfs::RamFs::attach(&self.inner, name, f.clone())?;
        let now = Timespec::from_ns(crate::time::realtime_ns());
        let _ = self.inner.set_times(None, Some(now));
        Ok(f)
    }
    fn link(&self, _name: &[u8], _target: &InodeRef) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn unlink(&self, name: &[u8]) -> KResult<()> {
        self.inner.unlink(name)
    }
    fn rmdir(&self, name: &[u8]) -> KResult<()> {
        self.inner.rmdir(name)
    }
    fn rename(&self, old: &[u8], new_dir: &InodeRef, new: &[u8], flags: u32) -> KResult<()> {
        self.inner.rename(old, Self::inner_of(new_dir), new, flags)
    }
    fn readdir(
        &self,
        pos: u64,
        emit: &mut dyn FnMut(kestrel_vfs::inode::DirEntry) -> bool,
    ) -> KResult<()> {
        self.inner.readdir(pos, emit)
    }
    fn statfs(&self) -> Statfs {
        HugeFile::statfs_of(Some(&self.limits))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
