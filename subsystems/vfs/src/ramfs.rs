//! ramfs: a file system that lives entirely in kernel memory (Linux's tmpfs without
//! swap). The root file system is a ramfs filled from the initramfs.
//!
//! * File content is a sparse map of 4 KiB pages: holes read as zeros, so a file can
//!   be truncated to a large size without using memory, and every page is allocated
//!   fallibly: ENOSPC when the file system is full (tmpfs's `size=`), ENOMEM when
//!   memory runs out, never a kernel panic. A fault on a shared mapping tells the two
//!   apart as Linux does: SIGBUS for a full file system, the OOM killer for memory.
//! * A directory keeps its entries twice: by name (lookup) and by a position number
//!   that only grows. `getdents` resumes from a position, so entries removed or added
//!   while a program reads the directory never make it skip or repeat others (what
//!   `rm -r` relies on).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};

use crate::inode::{DirEntry, Inode, InodeRef, Later, Metadata, NodeKind};

const PAGE: u64 = 4096;
/// Largest file ramfs accepts (Linux's MAX_LFS_FILESIZE).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// One ramfs instance.
#[derive(Debug)]
pub struct RamFs {
    dev: u64,
    next_ino: AtomicU64,
    usage: Arc<Usage>,
    /// Every live inode by number (open_by_handle_at).
    by_ino: spin::Mutex<BTreeMap<u64, Weak<RamInode>>>,
}

/// The pages a file system holds, and how many it may (tmpfs's `size=`).
#[derive(Debug)]
struct Usage {
    pages: AtomicU64,
    max_pages: AtomicU64,
}

impl RamFs {
    /// A new, empty file system with device number `dev`; returns its root directory
    /// (mode 0755, owned by root). Like ramfs it has no size limit of its own, but
    /// every page still needs the kernel's permission ([`crate::may_hold`]).
    pub fn new_root(dev: u64) -> InodeRef {
        Self::new_root_sized(dev, u64::MAX)
    }

    /// The generation in inode `ino`'s file handles: a hash of the file
    /// system's device number and `ino` (numbers are never reused within one
    /// file system, so this only tells file systems apart: a handle decoded on
    /// the wrong mount is ESTALE, not another file with the same number).
    fn generation(&self, ino: u64) -> u32 {
        let mut x = self.dev.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ino;
        x ^= x >> 30;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        (x ^ (x >> 31)) as u32
    }

    /// Puts `node`, an inode of another kind (a file whose content is computed
    /// when it is read, as [`crate::pseudo::PseudoFile`]), into ramfs directory
    /// `dir` as `name`: the kernel's sysfs keeps its live files this way. EEXIST
    /// if the name is taken, ENOTDIR if `dir` is not a ramfs directory.
    pub fn attach(dir: &InodeRef, name: &[u8], node: InodeRef) -> KResult<()> {
        check_name(name)?;
        let d = as_ram(dir).ok_or(Errno::ENOTDIR)?;
        let mut entries = d.dir()?.lock();
        if entries.dead {
            return Err(Errno::ENOENT);
        }
        if entries.by_name.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        entries.insert(name.to_vec(), node);
        Ok(())
    }

    /// As [`RamFs::new_root`], holding at most `max_bytes` of file content (ENOSPC
    /// beyond, as tmpfs's `size=`).
    pub fn new_root_sized(dev: u64, max_bytes: u64) -> InodeRef {
        let fs = Arc::new(RamFs {
            dev,
            next_ino: AtomicU64::new(2),
            usage: Arc::new(Usage {
                pages: AtomicU64::new(0),
                max_pages: AtomicU64::new(max_bytes / PAGE),
            }),
            by_ino: spin::Mutex::new(BTreeMap::new()),
        });
        RamInode::new_ref(&fs, 1, NodeKind::Dir, S_IFDIR | 0o755, 0, 0, 1)
    }
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    rdev: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    /// Inode flags (FS_*_FL), of [`RAM_IFLAGS`] only.
    flags: u32,
}

/// The inode flags tmpfs keeps (Linux's SHMEM_FL_USER_MODIFIABLE); a new file
/// takes NODUMP and NOATIME from its directory.
const RAM_IFLAGS: u32 = FS_IMMUTABLE_FL | FS_APPEND_FL | FS_NODUMP_FL | FS_NOATIME_FL;

#[derive(Default)]
struct FileData {
    size: u64,
    pages: BTreeMap<u64, Arc<PageBuf>>,
    /// Content adopted without a copy ([`Inode::adopt_static`], the initramfs's
    /// files): the whole file (`size` bytes), read from there until something
    /// else is asked of it ([`FileData::own`]); `pages` then holds at most a
    /// partial copy of it, left by a copy that ran out of memory.
    adopted: Option<&'static [u8]>,
}

impl Drop for FileData {
    fn drop(&mut self) {
        if let Some(bytes) = self.adopted.take() {
            crate::release_static(bytes);
        }
    }
}

struct Dir {
    by_name: BTreeMap<Vec<u8>, u64>,
    by_pos: BTreeMap<u64, (Vec<u8>, InodeRef)>,
    next_pos: u64,
    parent_ino: u64,
    /// Removed (rmdir) while something still holds it: it takes no new names
    /// (Linux's IS_DEADDIR), or what was put in it would be lost with it.
    dead: bool,
}

enum Body {
    File(spin::Mutex<FileData>),
    Dir(spin::Mutex<Dir>),
    Symlink(Vec<u8>),
    Special,
}

/// A ramfs inode.
pub struct RamInode {
    fs: Arc<RamFs>,
    ino: u64,
    meta: spin::Mutex<Meta>,
    body: Body,
    /// Extended attributes (tmpfs keeps them in memory too).
    xattrs: spin::Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// File seals: F_SEAL_SEAL (no sealing) unless made by memfd_create with
    /// MFD_ALLOW_SEALING ([`RamInode::allow_sealing`]).
    seals: core::sync::atomic::AtomicU32,
    /// Shared mappings that may write the file (F_SEAL_WRITE waits for none).
    writable_maps: core::sync::atomic::AtomicUsize,
}

/// A zeroed page of content for a file of the file system `usage` accounts: ENOSPC
/// when the file system is full, ENOMEM when the kernel keeps the memory for itself.
fn new_page(usage: &Arc<Usage>) -> KResult<Arc<PageBuf>> {
    new_page_holding(usage, 0, &[])
}

/// A new page (as [`new_page`]) holding `bytes` at `off`, zeros elsewhere: each
/// byte written once (a page filled by one write, as the initramfs's files are,
/// is not zeroed first).
fn new_page_holding(usage: &Arc<Usage>, off: usize, bytes: &[u8]) -> KResult<Arc<PageBuf>> {
    let max = usage.max_pages.load(Ordering::Relaxed);
    if usage
        .pages
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_err()
    {
        return Err(Errno::ENOSPC);
    }
    let charge = Charge(usage.clone());
    if !crate::may_hold(PAGE as usize) {
        return Err(Errno::ENOMEM);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(PAGE as usize)
        .map_err(|_| Errno::ENOMEM)?;
    v.resize(off, 0);
    v.extend_from_slice(bytes);
    v.resize(PAGE as usize, 0);
    Ok(Arc::new(PageBuf {
        bytes: spin::Mutex::new(v.into_boxed_slice()),
        _charge: charge,
    }))
}

/// One page counted against its file system while it exists.
struct Charge(Arc<Usage>);

impl Drop for Charge {
    fn drop(&mut self) {
        self.0.pages.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One 4 KiB page of file content. Shared (`Arc`) so that a MAP_SHARED mapping can
/// map the very same memory that read(2) and write(2) use: the kernel maps the page's
/// frame into user space and keeps a reference for as long as it is mapped.
pub struct PageBuf {
    bytes: spin::Mutex<Box<[u8]>>,
    _charge: Charge,
}

impl PageBuf {
    /// A page holding `bytes` (4096 of them, one kernel-heap frame) that no
    /// ramfs counts: a disk file system's page, which that file system bounds.
    pub fn detached(bytes: Box<[u8]>) -> Arc<Self> {
        Arc::new(PageBuf {
            bytes: spin::Mutex::new(bytes),
            _charge: Charge(Arc::new(Usage {
                pages: AtomicU64::new(1),
                max_pages: AtomicU64::new(1),
            })),
        })
    }

    /// Runs `f` on the page's bytes.
    pub fn with<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        f(&mut self.bytes.lock())
    }

    /// The address of the page's memory (the kernel maps it into user space).
    pub fn addr(&self) -> usize {
        self.bytes.lock().as_ptr() as usize
    }
}

/// Whether a MAP_SHARED mapping holds the page besides the file. Linux takes
/// truncated and punched pages out of every mapping (a later access faults
/// again: SIGBUS past the end, a new page in a hole); a Kestrel mapping keeps
/// the frame it mapped, as the inode cannot reach the page tables mapping it.
/// So the file keeps such a page too, zeroed: the mapping then reads the zeros
/// the file has there, and once the file grows over it again, the mapping's
/// stores are the file's, not a copy's that nothing reads.
fn mapped(p: &Arc<PageBuf>) -> bool {
    Arc::strong_count(p) > 1
}

impl FileData {
    /// Copies adopted content into pages of the file's own and gives the memory
    /// it was adopted from back: before the content is changed or mapped.
    /// ENOSPC or ENOMEM as for a write (the content stays adopted).
    fn own(&mut self, usage: &Arc<Usage>) -> KResult<()> {
        let Some(bytes) = self.adopted.take() else {
            return Ok(());
        };
        match self.write(usage, 0, bytes) {
            Ok(n) if n == bytes.len() => {
                crate::release_static(bytes);
                Ok(())
            }
            r => {
                self.adopted = Some(bytes);
                Err(r.err().unwrap_or(Errno::ENOSPC))
            }
        }
    }

    /// Pages the file's content takes (an adopted file's, once copied).
    fn page_count(&self) -> u64 {
        match self.adopted {
            Some(_) => self.size.div_ceil(PAGE),
            None => self.pages.len() as u64,
        }
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size {
            return 0;
        }
        let n = buf.len().min((self.size - offset) as usize);
        if let Some(bytes) = self.adopted {
            let at = offset as usize;
            buf[..n].copy_from_slice(&bytes[at..at + n]);
            return n;
        }
        let mut done = 0;
        while done < n {
            let pos = offset + done as u64;
            let (idx, off) = (pos / PAGE, (pos % PAGE) as usize);
            let chunk = (PAGE as usize - off).min(n - done);
            match self.pages.get(&idx) {
                Some(p) => {
                    p.with(|p| buf[done..done + chunk].copy_from_slice(&p[off..off + chunk]))
                }
                None => buf[done..done + chunk].fill(0),
            }
            done += chunk;
        }
        n
    }

    fn write(&mut self, usage: &Arc<Usage>, offset: u64, data: &[u8]) -> KResult<usize> {
        let end = offset.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let (idx, off) = (pos / PAGE, (pos % PAGE) as usize);
            let chunk = (PAGE as usize - off).min(data.len() - done);
            let bytes = &data[done..done + chunk];
            match self.pages.get_mut(&idx) {
                Some(page) => page.with(|page| page[off..off + chunk].copy_from_slice(bytes)),
                None => match new_page_holding(usage, off, bytes) {
                    Ok(p) => {
                        self.pages.insert(idx, p);
                    }
                    // Report what was written before memory ran out.
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                },
            }
            done += chunk;
            self.size = self.size.max(pos + chunk as u64);
        }
        Ok(done)
    }

    /// Makes every page of `[offset, end)` exist (zero-filled).
    fn allocate(&mut self, usage: &Arc<Usage>, offset: u64, end: u64) -> KResult<()> {
        for idx in offset / PAGE..end.div_ceil(PAGE) {
            if let alloc::collections::btree_map::Entry::Vacant(e) = self.pages.entry(idx) {
                e.insert(new_page(usage)?);
            }
        }
        Ok(())
    }

    /// Zeroes `[offset, end)`: whole pages are dropped, partial ones cleared
    /// (and whole ones a mapping holds, see [`mapped`]).
    fn punch(&mut self, offset: u64, end: u64) {
        let end = end.min(self.size.next_multiple_of(PAGE));
        let mut at = offset;
        while at < end {
            let (idx, off) = (at / PAGE, at % PAGE);
            let chunk = (PAGE - off).min(end - at);
            if chunk == PAGE && !self.pages.get(&idx).is_some_and(mapped) {
                self.pages.remove(&idx);
            } else if let Some(p) = self.pages.get(&idx) {
                p.with(|p| p[off as usize..(off + chunk) as usize].fill(0));
            }
            at += chunk;
        }
    }

    fn truncate(&mut self, size: u64) {
        if size < self.size {
            let first_gone = size.div_ceil(PAGE);
            // Pages a mapping holds stay, zeroed (see [`mapped`]).
            self.pages.retain(|&i, p| {
                i < first_gone || {
                    let keep = mapped(p);
                    if keep {
                        p.with(|p| p.fill(0));
                    }
                    keep
                }
            });
            // Zero the tail of the last partial page so a later extension reads zeros.
            if !size.is_multiple_of(PAGE)
                && let Some(p) = self.pages.get(&(size / PAGE))
            {
                p.with(|p| p[(size % PAGE) as usize..].fill(0));
            }
        }
        self.size = size;
    }
}

impl RamInode {
    fn new_ref(
        fs: &Arc<RamFs>,
        ino: u64,
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
        parent_ino: u64,
    ) -> InodeRef {
        let now = crate::now();
        let (body, rdev, nlink) = match kind {
            NodeKind::File => (Body::File(spin::Mutex::new(FileData::default())), 0, 1),
            NodeKind::Dir => (
                Body::Dir(spin::Mutex::new(Dir {
                    by_name: BTreeMap::new(),
                    by_pos: BTreeMap::new(),
                    next_pos: 2,
                    parent_ino,
                    dead: false,
                })),
                0,
                2,
            ),
            NodeKind::Symlink(target) => (Body::Symlink(target), 0, 1),
            NodeKind::CharDev(d) | NodeKind::BlockDev(d) => (Body::Special, d, 1),
            NodeKind::Fifo | NodeKind::Socket => (Body::Special, 0, 1),
        };
        let node = Arc::new(RamInode {
            fs: fs.clone(),
            ino,
            meta: spin::Mutex::new(Meta {
                mode,
                uid,
                gid,
                nlink,
                rdev,
                atime: now,
                mtime: now,
                ctime: now,
                flags: 0,
            }),
            body,
            xattrs: spin::Mutex::new(BTreeMap::new()),
            seals: core::sync::atomic::AtomicU32::new(F_SEAL_SEAL),
            writable_maps: core::sync::atomic::AtomicUsize::new(0),
        });
        fs.by_ino.lock().insert(ino, Arc::downgrade(&node));
        node
    }

    /// Clears F_SEAL_SEAL so seals may be added (memfd_create's MFD_ALLOW_SEALING).
    pub fn allow_sealing(&self) {
        self.seals.store(0, core::sync::atomic::Ordering::Release);
    }

    fn sealed(&self, seal: u32) -> bool {
        self.seals.load(core::sync::atomic::Ordering::Acquire) & seal != 0
    }

    fn dir(&self) -> KResult<&spin::Mutex<Dir>> {
        match &self.body {
            Body::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn touch_mtime(&self) {
        let now = crate::now();
        let mut m = self.meta.lock();
        m.mtime = now;
        m.ctime = now;
    }

    fn touch_ctime(&self) {
        self.meta.lock().ctime = crate::now();
    }

    fn add_nlink(&self, delta: i32) {
        let mut m = self.meta.lock();
        m.nlink = m.nlink.saturating_add_signed(delta);
        m.ctime = crate::now();
    }

    /// The ramfs inode behind `i`, if it belongs to the same file system as `self`.
    fn same_fs<'a>(&self, i: &'a InodeRef) -> KResult<&'a RamInode> {
        let r = i.as_any().downcast_ref::<RamInode>().ok_or(Errno::EXDEV)?;
        if Arc::ptr_eq(&r.fs, &self.fs) {
            Ok(r)
        } else {
            Err(Errno::EXDEV)
        }
    }
}

fn check_name(name: &[u8]) -> KResult<()> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn as_ram(i: &InodeRef) -> Option<&RamInode> {
    i.as_any().downcast_ref::<RamInode>()
}

fn is_dir(i: &InodeRef) -> bool {
    i.metadata().is_dir()
}

impl Dir {
    fn insert(&mut self, name: Vec<u8>, inode: InodeRef) {
        let pos = self.next_pos;
        self.next_pos += 1;
        self.by_name.insert(name.clone(), pos);
        self.by_pos.insert(pos, (name, inode));
    }

    fn get(&self, name: &[u8]) -> Option<&InodeRef> {
        self.by_name
            .get(name)
            .and_then(|p| self.by_pos.get(p))
            .map(|(_, i)| i)
    }

    fn remove(&mut self, name: &[u8]) -> Option<InodeRef> {
        let pos = self.by_name.remove(name)?;
        self.by_pos.remove(&pos).map(|(_, i)| i)
    }
}

impl Drop for RamInode {
    fn drop(&mut self) {
        // The number leaves the handle index with the inode (a handle to it
        // is stale from now on).
        let mut by_ino = self.fs.by_ino.lock();
        if by_ino.get(&self.ino).is_some_and(|w| w.strong_count() == 0) {
            by_ino.remove(&self.ino);
        }
    }
}

impl Inode for RamInode {
    fn handle(&self) -> Option<(u64, u32)> {
        Some((self.ino, self.fs.generation(self.ino)))
    }

    fn by_handle(&self, ino: u64, generation: u32) -> KResult<InodeRef> {
        if generation != self.fs.generation(ino) {
            return Err(Errno::ESTALE);
        }
        let found = self.fs.by_ino.lock().get(&ino).and_then(Weak::upgrade);
        found.map(|i| i as InodeRef).ok_or(Errno::ESTALE)
    }

    fn xattr_get(&self, name: &[u8]) -> KResult<Vec<u8>> {
        self.xattrs.lock().get(name).cloned().ok_or(Errno::ENODATA)
    }

    fn xattr_set(&self, name: &[u8], value: &[u8], how: crate::inode::XattrSet) -> KResult<()> {
        use crate::inode::XattrSet;
        let mut x = self.xattrs.lock();
        match (how, x.contains_key(name)) {
            (XattrSet::Create, true) => return Err(Errno::EEXIST),
            (XattrSet::Replace, false) => return Err(Errno::ENODATA),
            _ => {}
        }
        let mut v = Vec::new();
        v.try_reserve_exact(value.len())
            .map_err(|_| Errno::ENOSPC)?;
        v.extend_from_slice(value);
        x.insert(name.to_vec(), v);
        drop(x);
        self.meta.lock().ctime = crate::now();
        Ok(())
    }

    fn xattr_list(&self) -> KResult<Vec<Vec<u8>>> {
        Ok(self.xattrs.lock().keys().cloned().collect())
    }

    fn xattr_remove(&self, name: &[u8]) -> KResult<()> {
        self.xattrs.lock().remove(name).ok_or(Errno::ENODATA)?;
        self.meta.lock().ctime = crate::now();
        Ok(())
    }

    fn statfs(&self) -> kestrel_abi::fs::Statfs {
        let usage = &self.fs.usage;
        let max = usage.max_pages.load(Ordering::Relaxed);
        if max != u64::MAX / PAGE {
            // A sized file system (tmpfs) reports its blocks as Linux's does.
            let used = usage.pages.load(Ordering::Relaxed).min(max);
            return kestrel_abi::fs::Statfs {
                f_type: kestrel_abi::fs::TMPFS_MAGIC,
                f_bsize: PAGE as i64,
                f_blocks: max,
                f_bfree: max - used,
                f_bavail: max - used,
                f_fsid: [self.fs.dev as i32, (self.fs.dev >> 32) as i32],
                f_namelen: 255,
                f_frsize: PAGE as i64,
                f_flags: kestrel_abi::fs::ST_VALID | kestrel_abi::fs::ST_RELATIME,
                ..Default::default()
            };
        }
        // As Linux's ramfs: no size limit, so no block or inode counts.
        kestrel_abi::fs::Statfs {
            f_type: kestrel_abi::fs::RAMFS_MAGIC,
            f_bsize: PAGE as i64,
            f_fsid: [self.fs.dev as i32, (self.fs.dev >> 32) as i32],
            f_namelen: 255,
            f_frsize: PAGE as i64,
            f_flags: kestrel_abi::fs::ST_VALID | kestrel_abi::fs::ST_RELATIME,
            ..Default::default()
        }
    }

    fn metadata(&self) -> Metadata {
        let m = self.meta.lock();
        // Sizes as Linux's tmpfs reports them: a directory is 40 bytes plus 20 per
        // entry (BOGO_DIRENT_SIZE) and occupies no blocks; a file counts its pages.
        let size = match &self.body {
            Body::File(f) => f.lock().size,
            Body::Symlink(t) => t.len() as u64,
            Body::Dir(d) => 40 + 20 * d.lock().by_name.len() as u64,
            Body::Special => 0,
        };
        let blocks = match &self.body {
            Body::File(f) => f.lock().page_count() * (PAGE / 512),
            _ => 0,
        };
        Metadata {
            dev: self.fs.dev,
            ino: self.ino,
            mode: m.mode,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev: m.rdev,
            size,
            blksize: PAGE as u32,
            blocks,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
            flags: m.flags,
        }
    }

    fn iflags_kept(&self) -> u32 {
        RAM_IFLAGS
    }

    fn set_iflags(&self, flags: u32) -> KResult<()> {
        if flags & !RAM_IFLAGS != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut m = self.meta.lock();
        m.flags = flags;
        m.ctime = crate::now();
        Ok(())
    }

    fn set_mode(&self, mode: u32) -> KResult<()> {
        let mut m = self.meta.lock();
        m.mode = (m.mode & S_IFMT) | (mode & S_IALLUGO);
        m.ctime = crate::now();
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
        m.ctime = crate::now();
        Ok(())
    }

    fn touch_atime(&self, now: Timespec) {
        let mut m = self.meta.lock();
        if m.flags & FS_NOATIME_FL == 0 {
            m.atime = now;
        }
    }

    fn set_times(&self, atime: Option<Timespec>, mtime: Option<Timespec>) -> KResult<()> {
        let mut m = self.meta.lock();
        if let Some(a) = atime {
            m.atime = a;
        }
        if let Some(t) = mtime {
            m.mtime = t;
        }
        m.ctime = crate::now();
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> KResult<usize> {
        match &self.body {
            Body::File(f) => Ok(f.lock().read(offset, buf)),
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    fn seek_data(&self, from: u64, data: bool) -> Option<u64> {
        let Body::File(f) = &self.body else {
            return None;
        };
        let mut f = f.lock();
        // Adopted content has no holes: copy it so that the pages answer (or,
        // without the memory for that, call all of it data).
        if f.own(&self.fs.usage).is_err() {
            return Some(if data {
                if from < f.size { from } else { u64::MAX }
            } else {
                from.max(f.size)
            });
        }
        let first = from / PAGE;
        if data {
            // The first page held at or after `from` (none: past any end).
            Some(
                f.pages
                    .range(first..)
                    .next()
                    .map_or(u64::MAX, |(&idx, _)| (idx * PAGE).max(from)),
            )
        } else {
            // The first page not held at or after `from`.
            let mut idx = first;
            for (&k, _) in f.pages.range(first..) {
                if k != idx {
                    break;
                }
                idx += 1;
            }
            Some((idx * PAGE).max(from))
        }
    }

    fn seals(&self) -> KResult<u32> {
        match &self.body {
            Body::File(_) => Ok(self.seals.load(core::sync::atomic::Ordering::Acquire)),
            _ => Err(Errno::EINVAL),
        }
    }

    fn add_seals(&self, seals: u32) -> KResult<()> {
        if !matches!(self.body, Body::File(_)) {
            return Err(Errno::EINVAL);
        }
        if self.sealed(F_SEAL_SEAL) {
            return Err(Errno::EPERM);
        }
        // Writes through a shared mapping could not be stopped: EBUSY meanwhile.
        if seals & F_SEAL_WRITE != 0
            && self
                .writable_maps
                .load(core::sync::atomic::Ordering::Acquire)
                > 0
        {
            return Err(Errno::EBUSY);
        }
        self.seals
            .fetch_or(seals, core::sync::atomic::Ordering::AcqRel);
        Ok(())
    }

    fn map_writable(&self, appears: bool) {
        use core::sync::atomic::Ordering;
        if appears {
            self.writable_maps.fetch_add(1, Ordering::AcqRel);
        } else {
            self.writable_maps.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> KResult<usize> {
        if self.sealed(F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) {
            return Err(Errno::EPERM);
        }
        if self.sealed(F_SEAL_GROW)
            && offset.saturating_add(data.len() as u64) > self.metadata().size
        {
            return Err(Errno::EPERM);
        }
        let n = match &self.body {
            Body::File(f) => {
                let mut f = f.lock();
                f.own(&self.fs.usage)?;
                f.write(&self.fs.usage, offset, data)?
            }
            Body::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        self.touch_mtime();
        Ok(n)
    }

    fn adopt_static(&self, data: &'static [u8]) -> KResult<bool> {
        let Body::File(f) = &self.body else {
            return Ok(false);
        };
        let mut f = f.lock();
        if f.size != 0 || !f.pages.is_empty() || f.adopted.is_some() {
            return Ok(false);
        }
        if data.len() as u64 > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        f.size = data.len() as u64;
        f.adopted = Some(data);
        drop(f);
        self.touch_mtime();
        Ok(true)
    }

    fn truncate(&self, size: u64) -> KResult<()> {
        match &self.body {
            Body::File(f) => {
                if size > MAX_FILE_SIZE {
                    return Err(Errno::EFBIG);
                }
                let now = f.lock().size;
                if (size < now && self.sealed(F_SEAL_SHRINK))
                    || (size > now && self.sealed(F_SEAL_GROW))
                {
                    return Err(Errno::EPERM);
                }
                {
                    let mut f = f.lock();
                    f.own(&self.fs.usage)?;
                    f.truncate(size);
                }
                // The times after the data's lock: `metadata` takes them in the
                // other order (times, then data).
                self.touch_mtime();
                Ok(())
            }
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    fn allocate(&self, offset: u64, len: u64, keep_size: bool, punch: bool) -> KResult<()> {
        let Body::File(f) = &self.body else {
            return Err(Errno::ENODEV);
        };
        let end = offset.checked_add(len).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        if punch {
            if self.sealed(F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) {
                return Err(Errno::EPERM);
            }
            let mut f = f.lock();
            f.own(&self.fs.usage)?;
            f.punch(offset, end);
        } else {
            let mut f = f.lock();
            f.own(&self.fs.usage)?;
            if !keep_size && end > f.size && self.sealed(F_SEAL_GROW) {
                return Err(Errno::EPERM);
            }
            f.allocate(&self.fs.usage, offset, end)?;
            if !keep_size && end > f.size {
                f.size = end;
            }
        }
        self.touch_mtime();
        Ok(())
    }

    fn readlink(&self) -> KResult<Vec<u8>> {
        match &self.body {
            Body::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn mappable(&self) -> bool {
        matches!(self.body, Body::File(_))
    }

    fn shared_page(&self, index: u64) -> KResult<Arc<PageBuf>> {
        let Body::File(f) = &self.body else {
            return Err(Errno::ENODEV);
        };
        let mut f = f.lock();
        if index.saturating_mul(PAGE) >= f.size {
            return Err(Errno::ENXIO); // past the end of the file: SIGBUS for a mapping
        }
        f.own(&self.fs.usage)?;
        if let Some(p) = f.pages.get(&index) {
            return Ok(p.clone());
        }
        let p = new_page(&self.fs.usage)?;
        f.pages.insert(index, p.clone());
        Ok(p)
    }

    /// The pages a write or a mapping made (holes have none). None is dirty or
    /// under writeback: as Linux's shmem pages, which are never tagged dirty
    /// (nothing behind the memory would take them).
    fn cachestat(&self, first: u64, last: u64) -> Later<'_, Cachestat> {
        let Body::File(f) = &self.body else {
            return Later::now(Cachestat::default());
        };
        if first > last {
            return Later::now(Cachestat::default());
        }
        let f = f.lock();
        let n = match f.adopted {
            Some(_) => f.page_count().saturating_sub(first).min(last - first + 1),
            None => f.pages.range(first..=last).count() as u64,
        };
        Later::now(Cachestat {
            nr_cache: n,
            ..Cachestat::default()
        })
    }

    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        self.dir()?.lock().get(name).cloned().ok_or(Errno::ENOENT)
    }

    fn create(
        &self,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> KResult<InodeRef> {
        check_name(name)?;
        let is_dir = kind == NodeKind::Dir;
        let mode = kind.type_bits() | (mode & S_IALLUGO);
        // Read before the directory's lock: metadata() takes the two in the
        // other order (meta, then the directory).
        let inherited = self.meta.lock().flags & (FS_NODUMP_FL | FS_NOATIME_FL);
        let child = {
            let mut d = self.dir()?.lock();
            if d.dead {
                return Err(Errno::ENOENT);
            }
            if d.by_name.contains_key(name) {
                return Err(Errno::EEXIST);
            }
            let ino = self.fs.next_ino.fetch_add(1, Ordering::Relaxed);
            let child = RamInode::new_ref(&self.fs, ino, kind, mode, uid, gid, self.ino);
            // A new inode: its lock is nobody else's yet.
            if inherited != 0 {
                child.set_iflags(inherited)?;
            }
            d.insert(name.to_vec(), child.clone());
            child
        };
        if is_dir {
            self.add_nlink(1);
        }
        self.touch_mtime();
        Ok(child)
    }

    fn link(&self, name: &[u8], target: &InodeRef) -> KResult<()> {
        check_name(name)?;
        let t = self.same_fs(target)?;
        if is_dir(target) {
            return Err(Errno::EPERM);
        }
        {
            let mut d = self.dir()?.lock();
            if d.dead {
                return Err(Errno::ENOENT);
            }
            if d.by_name.contains_key(name) {
                return Err(Errno::EEXIST);
            }
            d.insert(name.to_vec(), target.clone());
        }
        t.add_nlink(1);
        self.touch_mtime();
        Ok(())
    }

    fn unlink(&self, name: &[u8]) -> KResult<()> {
        let removed = {
            let mut d = self.dir()?.lock();
            let victim = d.get(name).ok_or(Errno::ENOENT)?;
            if is_dir(victim) {
                return Err(Errno::EISDIR);
            }
            d.remove(name)
        };
        if let Some(r) = removed.as_ref().and_then(as_ram) {
            r.add_nlink(-1);
        }
        self.touch_mtime();
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> KResult<()> {
        {
            let mut d = self.dir()?.lock();
            let victim = d.get(name).ok_or(Errno::ENOENT)?;
            let vd = as_ram(victim).ok_or(Errno::ENOTDIR)?.dir()?;
            // Emptiness and death under the victim's own lock: a create in it
            // either lands first (ENOTEMPTY here) or sees it dead.
            let mut vd = vd.lock();
            if !vd.by_name.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            vd.dead = true;
            drop(vd);
            if let Some(v) = d.remove(name).as_ref().and_then(as_ram) {
                v.meta.lock().nlink = 0;
            }
        }
        self.add_nlink(-1);
        self.touch_mtime();
        Ok(())
    }

    fn rename(&self, old: &[u8], new_dir: &InodeRef, new: &[u8], flags: u32) -> KResult<()> {
        check_name(new)?;
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
            || flags & (RENAME_NOREPLACE | RENAME_EXCHANGE) == (RENAME_NOREPLACE | RENAME_EXCHANGE)
        {
            return Err(Errno::EINVAL);
        }
        let nd = self.same_fs(new_dir)?;
        let same_dir = nd.ino == self.ino;
        // Lock both directories, lower inode number first, so two renames in opposite
        // directions cannot deadlock.
        let (mut a, mut b_opt) = if same_dir {
            (self.dir()?.lock(), None)
        } else if self.ino < nd.ino {
            let a = self.dir()?.lock();
            let b = nd.dir()?.lock();
            (a, Some(b))
        } else {
            let b = nd.dir()?.lock();
            let a = self.dir()?.lock();
            (a, Some(b))
        };
        let src = a.get(old).cloned().ok_or(Errno::ENOENT)?;
        if b_opt.as_ref().is_some_and(|b| b.dead) {
            return Err(Errno::ENOENT);
        }
        let dst = match &b_opt {
            Some(b) => b.get(new).cloned(),
            None => a.get(new).cloned(),
        };
        // The two directories locked above must not be locked again below (a
        // spin lock taken twice never returns): the target is the source's own
        // directory (`rename("d/x", "d")`: Linux's ENOTEMPTY, it holds the
        // source), or the source is the new directory (a move into itself, which
        // the system call refuses first unless a concurrent rename raced it).
        let ino_of = |i: &InodeRef| as_ram(i).map(|r| r.ino);
        if dst.as_ref().is_some_and(|d| ino_of(d) == Some(self.ino)) {
            return Err(if flags & RENAME_EXCHANGE != 0 {
                Errno::EINVAL
            } else {
                Errno::ENOTEMPTY
            });
        }
        if ino_of(&src) == Some(nd.ino) || dst.as_ref().is_some_and(|d| ino_of(d) == Some(nd.ino)) {
            return Err(Errno::EINVAL);
        }
        // Only now: a directory's metadata reads its entries (its lock).
        let src_is_dir = is_dir(&src);
        let mut parent_links = (0i32, 0i32); // (self, new_dir) nlink changes
        if flags & RENAME_EXCHANGE != 0 {
            let dst = dst.ok_or(Errno::ENOENT)?;
            if Arc::ptr_eq(&dst, &src) {
                // One name (or two links of one file): nothing to swap, as
                // Linux's vfs_rename. Removing and inserting one name twice
                // left a second listing of it behind.
                return Ok(());
            }
            let dst_is_dir = is_dir(&dst);
            match &mut b_opt {
                Some(b) => {
                    a.remove(old);
                    b.remove(new);
                    a.insert(old.to_vec(), dst.clone());
                    b.insert(new.to_vec(), src.clone());
                }
                None => {
                    a.remove(old);
                    a.remove(new);
                    a.insert(old.to_vec(), dst.clone());
                    a.insert(new.to_vec(), src.clone());
                }
            }
            if !same_dir && src_is_dir != dst_is_dir {
                let d = if src_is_dir { 1 } else { -1 };
                parent_links = (-d, d);
            }
            for (moved, to) in [(&src, nd.ino), (&dst, self.ino)] {
                if let Some(Body::Dir(md)) = as_ram(moved).map(|r| &r.body) {
                    md.lock().parent_ino = to;
                }
            }
        } else {
            if let Some(dst) = &dst {
                if flags & RENAME_NOREPLACE != 0 {
                    return Err(Errno::EEXIST);
                }
                if Arc::ptr_eq(dst, &src) {
                    return Ok(()); // two names of the same file: nothing to do
                }
                match (src_is_dir, is_dir(dst)) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    (true, true) => {
                        // Empty and, under the same lock, dead: the directory this
                        // one replaces takes no names from whoever still holds it.
                        let emptied = as_ram(dst).and_then(|r| r.dir().ok()).is_some_and(|d| {
                            let mut d = d.lock();
                            d.dead = d.by_name.is_empty();
                            d.dead
                        });
                        if !emptied {
                            return Err(Errno::ENOTEMPTY);
                        }
                    }
                    (false, false) => {}
                }
            }
            a.remove(old);
            let replaced = match &mut b_opt {
                Some(b) => {
                    let r = b.remove(new);
                    b.insert(new.to_vec(), src.clone());
                    r
                }
                None => {
                    let r = a.remove(new);
                    a.insert(new.to_vec(), src.clone());
                    r
                }
            };
            if let Some(r) = replaced.as_ref().and_then(as_ram) {
                if src_is_dir {
                    r.meta.lock().nlink = 0;
                    parent_links.1 -= 1;
                } else {
                    r.add_nlink(-1);
                }
            }
            if src_is_dir {
                if !same_dir {
                    parent_links.0 -= 1;
                    parent_links.1 += 1;
                }
                if let Some(Body::Dir(md)) = as_ram(&src).map(|r| &r.body) {
                    md.lock().parent_ino = nd.ino;
                }
            }
        }
        drop(a);
        drop(b_opt);
        if let Some(r) = as_ram(&src) {
            r.touch_ctime();
        }
        self.add_nlink(parent_links.0);
        self.touch_mtime();
        if !same_dir {
            nd.add_nlink(parent_links.1);
            nd.touch_mtime();
        } else if parent_links.1 != 0 {
            self.add_nlink(parent_links.1);
        }
        Ok(())
    }

    fn readdir(&self, pos: u64, emit: &mut dyn FnMut(DirEntry) -> bool) -> KResult<()> {
        let d = self.dir()?.lock();
        if pos == 0
            && !emit(DirEntry {
                ino: self.ino,
                dtype: DT_DIR,
                name: b".".to_vec(),
                next: 1,
            })
        {
            return Ok(());
        }
        if pos <= 1
            && !emit(DirEntry {
                ino: d.parent_ino,
                dtype: DT_DIR,
                name: b"..".to_vec(),
                next: 2,
            })
        {
            return Ok(());
        }
        for (&p, (name, inode)) in d.by_pos.range(pos.max(2)..) {
            let m = inode.metadata();
            if !emit(DirEntry {
                ino: m.ino,
                dtype: dtype_of(m.mode),
                name: name.clone(),
                next: p + 1,
            }) {
                break;
            }
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sized_file_system_is_full_at_its_size_and_frees_pages() {
        let root = RamFs::new_root_sized(7, 2 * PAGE);
        let f = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        assert_eq!(f.write_at(0, &[1; 8192]).unwrap(), 8192);
        assert_eq!(f.write_at(8192, &[1; 10]), Err(Errno::ENOSPC));
        assert_eq!(root.statfs().f_bfree, 0);
        f.truncate(4096).unwrap();
        assert_eq!(root.statfs().f_bfree, 1);
        assert_eq!(f.write_at(4096, &[2; 100]).unwrap(), 100);
        root.unlink(b"f").unwrap();
        drop(f);
        assert_eq!(root.statfs().f_bfree, 2);
    }

    use super::*;

    fn names(dir: &InodeRef, from: u64) -> Vec<(Vec<u8>, u64)> {
        let mut v = Vec::new();
        dir.readdir(from, &mut |e| {
            v.push((e.name, e.next));
            true
        })
        .unwrap();
        v
    }

    #[test]
    fn write_then_read_back_and_holes_read_zero() {
        let root = RamFs::new_root(1);
        let f = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        assert_eq!(f.write_at(10_000, b"hello").unwrap(), 5);
        assert_eq!(f.metadata().size, 10_005);
        let mut buf = [7u8; 16];
        assert_eq!(f.read_at(9_995, &mut buf).unwrap(), 10);
        assert_eq!(&buf[..10], b"\0\0\0\0\0hello");
        assert_eq!(f.read_at(20_000, &mut buf).unwrap(), 0);
        // Only the page actually written is allocated.
        assert_eq!(f.metadata().blocks, 8);
    }

    #[test]
    fn truncate_shrinks_and_regrows_with_zeros() {
        let root = RamFs::new_root(1);
        let f = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        f.write_at(0, b"abcdef").unwrap();
        f.truncate(2).unwrap();
        f.truncate(6).unwrap();
        let mut buf = [9u8; 6];
        f.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"ab\0\0\0\0");
        f.truncate(1 << 40).unwrap();
        assert_eq!(f.metadata().size, 1 << 40);
    }

    #[test]
    fn a_mapped_page_truncated_away_and_regrown_is_zero_and_still_the_files() {
        let root = RamFs::new_root(1);
        let f = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        f.write_at(0, &[b'x'; 2 * PAGE as usize]).unwrap();
        // A mapping holds page 1 (the fault path keeps the Arc).
        let held = f.shared_page(1).unwrap();
        f.truncate(10).unwrap();
        assert!(held.with(|b| b.iter().all(|&c| c == 0)));
        f.truncate(2 * PAGE).unwrap();
        // A store through the mapping is the file's content.
        held.with(|b| b[5] = b'S');
        let mut c = [0u8; 1];
        f.read_at(PAGE + 5, &mut c).unwrap();
        assert_eq!(&c, b"S");
        assert!(Arc::ptr_eq(&held, &f.shared_page(1).unwrap()));
    }

    #[test]
    fn a_mapped_page_punched_reads_zero_in_the_mapping_and_stays_the_files() {
        let root = RamFs::new_root(1);
        let f = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        f.write_at(0, &[b'x'; 2 * PAGE as usize]).unwrap();
        let held = f.shared_page(0).unwrap();
        f.allocate(0, PAGE, true, true).unwrap();
        assert!(held.with(|b| b.iter().all(|&c| c == 0)));
        held.with(|b| b[3] = b'S');
        let mut c = [0u8; 1];
        f.read_at(3, &mut c).unwrap();
        assert_eq!(&c, b"S");
        // An unmapped page punched is freed as before.
        drop(held);
        f.allocate(PAGE, PAGE, true, true).unwrap();
        assert_eq!(f.metadata().blocks, 8);
    }

    #[test]
    fn create_existing_is_eexist_and_lookup_missing_is_enoent() {
        let root = RamFs::new_root(1);
        root.create(b"a", NodeKind::File, 0o644, 0, 0).unwrap();
        assert_eq!(
            root.create(b"a", NodeKind::Dir, 0o755, 0, 0).err(),
            Some(Errno::EEXIST)
        );
        assert_eq!(root.lookup(b"b").err(), Some(Errno::ENOENT));
        assert_eq!(root.lookup(&[b'x'; 256]).err(), Some(Errno::ENAMETOOLONG));
    }

    #[test]
    fn directory_link_counts_follow_subdirectories() {
        let root = RamFs::new_root(1);
        assert_eq!(root.metadata().nlink, 2);
        root.create(b"d", NodeKind::Dir, 0o755, 0, 0).unwrap();
        assert_eq!(root.metadata().nlink, 3);
        root.rmdir(b"d").unwrap();
        assert_eq!(root.metadata().nlink, 2);
    }

    #[test]
    fn rmdir_nonempty_is_enotempty_and_unlink_dir_is_eisdir() {
        let root = RamFs::new_root(1);
        let d = root.create(b"d", NodeKind::Dir, 0o755, 0, 0).unwrap();
        d.create(b"x", NodeKind::File, 0o644, 0, 0).unwrap();
        assert_eq!(root.rmdir(b"d").err(), Some(Errno::ENOTEMPTY));
        assert_eq!(root.unlink(b"d").err(), Some(Errno::EISDIR));
        let f = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        assert_eq!(root.rmdir(b"f").err(), Some(Errno::ENOTDIR));
        assert_eq!(f.lookup(b"x").err(), Some(Errno::ENOTDIR));
    }

    #[test]
    fn hard_links_share_content_and_count() {
        let root = RamFs::new_root(1);
        let f = root.create(b"a", NodeKind::File, 0o644, 0, 0).unwrap();
        root.link(b"b", &f).unwrap();
        assert_eq!(f.metadata().nlink, 2);
        root.lookup(b"b").unwrap().write_at(0, b"x").unwrap();
        assert_eq!(f.metadata().size, 1);
        root.unlink(b"a").unwrap();
        assert_eq!(f.metadata().nlink, 1);
        let d = root.create(b"d", NodeKind::Dir, 0o755, 0, 0).unwrap();
        assert_eq!(root.link(b"d2", &d).err(), Some(Errno::EPERM));
    }

    #[test]
    fn readdir_positions_survive_unlinking_while_listing() {
        let root = RamFs::new_root(1);
        for n in [b"a", b"b", b"c", b"d"] {
            root.create(n, NodeKind::File, 0o644, 0, 0).unwrap();
        }
        // Read ".", "..", "a", then delete everything and continue: nothing repeats.
        let first: Vec<_> = names(&root, 0).into_iter().take(3).collect();
        assert_eq!(
            first.iter().map(|(n, _)| n.as_slice()).collect::<Vec<_>>(),
            [&b"."[..], b"..", b"a"]
        );
        root.unlink(b"a").unwrap();
        root.unlink(b"b").unwrap();
        let rest = names(&root, first[2].1);
        assert_eq!(
            rest.iter().map(|(n, _)| n.as_slice()).collect::<Vec<_>>(),
            [&b"c"[..], b"d"]
        );
    }

    #[test]
    fn rename_replaces_files_and_refuses_nonempty_directories() {
        let root = RamFs::new_root(1);
        let a = root.create(b"a", NodeKind::File, 0o644, 0, 0).unwrap();
        root.create(b"b", NodeKind::File, 0o644, 0, 0).unwrap();
        root.rename(b"a", &root, b"b", 0).unwrap();
        assert!(Arc::ptr_eq(&root.lookup(b"b").unwrap(), &a));
        assert_eq!(root.lookup(b"a").err(), Some(Errno::ENOENT));
        let d1 = root.create(b"d1", NodeKind::Dir, 0o755, 0, 0).unwrap();
        let d2 = root.create(b"d2", NodeKind::Dir, 0o755, 0, 0).unwrap();
        d2.create(b"x", NodeKind::File, 0o644, 0, 0).unwrap();
        assert_eq!(
            root.rename(b"d1", &root, b"d2", 0).err(),
            Some(Errno::ENOTEMPTY)
        );
        assert_eq!(
            root.rename(b"b", &root, b"d1", 0).err(),
            Some(Errno::EISDIR)
        );
        assert_eq!(
            root.rename(b"d1", &root, b"b", 0).err(),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(
            root.rename(b"b", &root, b"d1", RENAME_NOREPLACE).err(),
            Some(Errno::EEXIST)
        );
        // Moving a directory updates both parents' link counts.
        let before = root.metadata().nlink;
        root.rename(b"d1", &d2, b"moved", 0).unwrap();
        assert_eq!(root.metadata().nlink, before - 1);
        assert_eq!(d2.metadata().nlink, 3);
        let _ = d1;
    }

    #[test]
    fn rename_of_a_directory_over_its_own_parent_is_enotempty_not_a_deadlock() {
        let root = RamFs::new_root(1);
        let d = root.create(b"d", NodeKind::Dir, 0o755, 0, 0).unwrap();
        d.create(b"x", NodeKind::Dir, 0o755, 0, 0).unwrap();
        assert_eq!(d.rename(b"x", &root, b"d", 0), Err(Errno::ENOTEMPTY));
        assert_eq!(
            d.rename(b"x", &root, b"d", RENAME_EXCHANGE),
            Err(Errno::EINVAL)
        );
        let x = d.lookup(b"x").unwrap();
        assert_eq!(d.rename(b"x", &x, b"y", 0), Err(Errno::EINVAL));
        assert!(d.lookup(b"x").is_ok());
    }

    #[test]
    fn rename_exchange_swaps_two_names() {
        let root = RamFs::new_root(1);
        let a = root.create(b"a", NodeKind::File, 0o644, 0, 0).unwrap();
        let d = root.create(b"d", NodeKind::Dir, 0o755, 0, 0).unwrap();
        root.rename(b"a", &root, b"d", RENAME_EXCHANGE).unwrap();
        assert!(Arc::ptr_eq(&root.lookup(b"d").unwrap(), &a));
        assert!(Arc::ptr_eq(&root.lookup(b"a").unwrap(), &d));
        assert_eq!(
            root.rename(b"a", &root, b"zz", RENAME_EXCHANGE).err(),
            Some(Errno::ENOENT)
        );
        // A name exchanged with itself stays listed once.
        root.rename(b"a", &root, b"a", RENAME_EXCHANGE).unwrap();
        root.unlink(b"d").unwrap();
        let mut names = Vec::new();
        root.readdir(0, &mut |e| {
            names.push(e.name);
            true
        })
        .unwrap();
        assert_eq!(names, [&b"."[..], b"..", b"a"]);
    }

    #[test]
    fn rename_across_file_systems_is_exdev() {
        let r1 = RamFs::new_root(1);
        let r2 = RamFs::new_root(2);
        r1.create(b"a", NodeKind::File, 0o644, 0, 0).unwrap();
        assert_eq!(r1.rename(b"a", &r2, b"a", 0).err(), Some(Errno::EXDEV));
    }

    #[test]
    fn chmod_keeps_the_file_type() {
        let root = RamFs::new_root(1);
        let f = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        f.set_mode(0o4777 | S_IFDIR).unwrap();
        assert_eq!(f.metadata().mode, S_IFREG | 0o4777);
    }

    #[test]
    fn inode_flags_are_tmpfs_s_four_and_nodump_noatime_are_inherited() {
        let root = RamFs::new_root(1);
        let f = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        assert_eq!(f.iflags_kept(), RAM_IFLAGS);
        f.set_iflags(FS_IMMUTABLE_FL | FS_APPEND_FL).unwrap();
        assert!(f.metadata().is_immutable() && f.metadata().is_append_only());
        assert_eq!(f.metadata().check_changeable(), Err(Errno::EPERM));
        // Any other bit: refused, and nothing changes.
        assert_eq!(
            f.set_iflags(FS_NODUMP_FL | FS_SYNC_FL),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(f.metadata().flags, FS_IMMUTABLE_FL | FS_APPEND_FL);
        let d = root.create(b"d", NodeKind::Dir, 0o755, 0, 0).unwrap();
        d.set_iflags(FS_NODUMP_FL | FS_NOATIME_FL | FS_IMMUTABLE_FL)
            .unwrap();
        let g = d.create(b"g", NodeKind::File, 0o644, 0, 0).unwrap();
        assert_eq!(g.metadata().flags, FS_NODUMP_FL | FS_NOATIME_FL);
        // NOATIME: reads leave the access time.
        let before = g.metadata().atime;
        g.touch_atime(Timespec {
            tv_sec: before.tv_sec + 100,
            tv_nsec: 0,
        });
        assert_eq!(g.metadata().atime, before);
    }
}

#[cfg(test)]
mod shared_page_tests {
    use super::*;

    #[test]
    fn a_shared_page_is_the_memory_read_and_write_use() {
        let root = RamFs::new_root(1);
        let f = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        f.truncate(3 * PAGE).unwrap();
        // A hole becomes a real page, and writes through it are what read() sees.
        let p = f.shared_page(1).unwrap();
        p.with(|b| b[5] = 42);
        let mut buf = [0u8; 1];
        f.read_at(PAGE + 5, &mut buf).unwrap();
        assert_eq!(buf[0], 42);
        f.write_at(PAGE + 6, &[7]).unwrap();
        assert_eq!(p.with(|b| b[6]), 7);
        assert!(Arc::ptr_eq(&p, &f.shared_page(1).unwrap()));
        assert_eq!(f.shared_page(3).err(), Some(Errno::ENXIO));
    }
}
