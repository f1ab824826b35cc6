//! ext2 on a block device, as VFS inodes: `mount -t ext2 /dev/vda /mnt` and
//! `root=/dev/vda`.
//!
//! The file system itself is `kestrel_ext2` (async operations by inode number);
//! this file gives it the VFS's shape (docs/storage.md):
//!
//! * the disk is a driver-kit block device behind a [`BlockCache`] (cached 4 KiB
//!   units, writes queued and written back in order by a flusher task);
//! * each inode in use has one in-core [`Ext2Inode`], found again by number while
//!   it lives (Linux's inode cache), holding the metadata `stat` reports. It is
//!   loaded by the async lookup and refreshed after each operation that changes
//!   it; chmod, chown and utimes change it in memory and mark it dirty, and the
//!   flusher (or fsync, sync, unmount) writes it back;
//! * the directory and content operations are the VFS's `_async` ones: a thread
//!   waiting for the disk is a parked future;
//! * exec and mappings read content synchronously (page faults) from the page
//!   cache: pages brought in by [`Inode::load_pages`] (a fault awaits the page
//!   and a read-around window; exec, the headers) and kept with the in-core
//!   inode, updated by later writes, and evicted in CLOCK order past a bound
//!   when clean and unmapped ([`pagecache`]). `read` reads through the block
//!   cache with per-open-file read-ahead ([`ReadAhead`]). A MAP_SHARED mapping
//!   maps the cached pages themselves, so its stores are the file's content at
//!   once: `read` takes loaded pages over the disk while a writable mapping may
//!   have changed them, and the pages reach the disk by
//!   [`Ext2Inode::write_back_pages`] (msync, fsync, sync, unmount, and the
//!   flusher: soon after the last writable mapping goes, else every 30 s,
//!   Linux's dirty expiry). Which pages changed is found by comparing each page
//!   with a hash of what the disk holds, so only those are written.
//!
//! Permission checks and read-only mounts are the syscall layer's, as for every
//! file system; EXDEV for a link or rename to another file system is checked here.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_ext2::{BlockCache, BlockIo, BoxFuture, Ext2, MountOptions, Residency};
use kestrel_vfs::file::IoFuture;
use kestrel_vfs::inode::{DirEntry, Later, XattrSet};
use kestrel_vfs::ramfs::PageBuf;
use kestrel_vfs::{FileOps, Inode, InodeRef, Metadata, NodeKind, OpenFile};

mod names;
pub use names::reclaim as reclaim_names;

const PAGE: u64 = 4096;
/// How often the flusher writes back dirty inodes and queued blocks.
const FLUSH_INTERVAL_NS: u64 = 1_000_000_000;
/// Pages of files still mapped writable are written back every this many flusher
/// rounds (30 s, as Linux's dirty_expire_centisecs).
const MAPPED_EXPIRY_ROUNDS: u32 = 30;

/// A driver-kit block device as the ext2 crate's [`BlockIo`].
struct KitDisk(Arc<dyn kestrel_driver_kit::BlockDevice>);

impl BlockIo for KitDisk {
    fn sectors(&self) -> u64 {
        self.0.info().sectors
    }
    fn read<'a>(&'a self, s: u64, b: &'a mut [u8]) -> BoxFuture<'a, KResult<()>> {
        Box::pin(async move { self.0.read(s, b).await.map_err(super::devices::io_errno) })
    }
    fn write<'a>(&'a self, s: u64, d: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
        Box::pin(async move { self.0.write(s, d).await.map_err(super::devices::io_errno) })
    }
    fn flush(&self) -> BoxFuture<'_, KResult<()>> {
        Box::pin(async move { self.0.flush().await.map_err(super::devices::io_errno) })
    }
    fn cached(&self, _sector: u64, _count: u64) -> bool {
        false // every read waits for the device
    }
}

/// One mounted ext2 file system.
pub struct Ext2Fs {
    fs: Arc<Ext2>,
    cache: Arc<BlockCache>,
    rdev: u64,
    /// In-core inodes by number (Linux's inode hash).
    inodes: spin::Mutex<BTreeMap<u32, Weak<Ext2Inode>>>,
    /// Attributes changed in memory and not yet written (chmod, chown, utimes).
    dirty: spin::Mutex<BTreeMap<u32, Metadata>>,
    /// The last statfs answer (the synchronous `Inode::statfs`).
    statfs: spin::Mutex<Statfs>,
    /// Set at unmount: the flusher stops.
    gone: AtomicBool,
    /// Lazily unmounted (umount2's MNT_DETACH while in use): in no mount
    /// table, alive while its files are; a new mount of the disk finishes the
    /// unmount once nothing uses it.
    detached: AtomicBool,
    /// Inodes whose loaded pages a writable shared mapping may have changed, held
    /// in core until those pages are on the disk (the last mapping may go first).
    mapped: spin::Mutex<BTreeMap<u32, Arc<Ext2Inode>>>,
    /// Directories kept in core for the name cache ([`names`]).
    kept: spin::Mutex<names::KeptDirs>,
}

/// Every mounted ext2 file system (sync(2) writes them all).
static MOUNTED: spin::Mutex<Vec<Arc<Ext2Fs>>> = spin::Mutex::new(Vec::new());

/// The block cache of the ext2 file system mounted from disk `rdev` (lazily
/// unmounted ones too, while they live), if any: a program that opens the disk
/// itself while it is mounted (dumpe2fs, a backup reading /dev/vda) reads and
/// writes through it, so it sees what the file system wrote and not yet the
/// disk, as Linux's block device files share the buffer cache with the file
/// system on them.
pub fn disk_cache(rdev: u64) -> Option<Arc<BlockCache>> {
    MOUNTED
        .lock()
        .iter()
        .find(|m| m.rdev == rdev)
        .map(|m| m.cache.clone())
}

/// [`disk_cache`], with a batch of creates or unlinks that the file system still
/// keeps in its own cache written into it first ([`Ext2::write_batch`]): a raw
/// read of the disk sees those at once too, as on Linux, where they would be
/// dirty buffers of the shared buffer cache.
pub async fn disk_cache_current(rdev: u64) -> Option<Arc<BlockCache>> {
    let fs = MOUNTED.lock().iter().find(|m| m.rdev == rdev).cloned()?;
    if !fs.fs.read_only() {
        // A failed write stays queued for the next flush to report.
        let _ = fs.op(|fs| async move { fs.write_batch().await }).await;
    }
    Some(fs.cache.clone())
}

/// Mounts the ext2 file system on block device `rdev`; its root directory.
/// EBUSY if that disk is mounted already or is an active swap area; ENXIO without such a disk; EINVAL,
/// EUCLEAN or EIO for a disk that holds no usable ext2 (never a panic).
pub async fn mount(rdev: u64, read_only: bool) -> KResult<InodeRef> {
    // A swap area holds its device as an exclusive opener would.
    if super::swap::is_swap_device(rdev) {
        return Err(Errno::EBUSY);
    }
    let mounted = MOUNTED.lock().iter().find(|m| m.rdev == rdev).cloned();
    if let Some(fs) = mounted {
        if !fs.detached.load(Ordering::Acquire) {
            return Err(Errno::EBUSY);
        }
        // A lazy unmount of the disk ends now if nothing uses it (EBUSY
        // while something does); then the disk mounts afresh.
        let root: InodeRef = fs.get(fs.fs.root()).await?;
        drop(fs);
        unmount_holding(root, 1).await?;
    }
    let block = crate::drivers::block_by_rdev(rdev).ok_or(Errno::ENXIO)?;
    // A read-only disk (or one BLKROSET made read-only) mounts only
    // read-only: EACCES otherwise, as Linux's blkdev_get for writing (mount(8)
    // then tries read-only itself).
    if !read_only && block.read_only() {
        return Err(Errno::EACCES);
    }
    // The cache takes up to an eighth of memory (at most 64 MiB); writes wait
    // for writeback beyond 8 MiB queued.
    let memory = crate::mm::frame::stats().1 as usize * 4096;
    let cap = (memory / 8).min(64 << 20);
    let cache = Arc::new(BlockCache::new(
        Arc::new(KitDisk(block.dev.clone())),
        cap,
        8 << 20,
    ));
    let fs = Ext2::mount(
        cache.clone(),
        MountOptions {
            read_only,
            ro_fallback: true,
            dev: rdev,
        },
    )
    .await
    .map_err(|e| {
        log::warn!("{}: {e}", block.name);
        e.errno
    })?;
    for w in fs.warnings() {
        log::warn!("{}: ext2: {w}", block.name);
    }
    fs.set_name_cache_bytes(names::cache_bytes(memory));
    let statfs = fs.statfs().await?;
    let efs = Arc::new(Ext2Fs {
        fs,
        cache,
        rdev,
        inodes: spin::Mutex::new(BTreeMap::new()),
        dirty: spin::Mutex::new(BTreeMap::new()),
        statfs: spin::Mutex::new(statfs),
        gone: AtomicBool::new(false),
        detached: AtomicBool::new(false),
        mapped: spin::Mutex::new(BTreeMap::new()),
        kept: spin::Mutex::new(names::KeptDirs::default()),
    });
    let root = efs.get(efs.fs.root()).await?;
    {
        let mut m = MOUNTED.lock();
        if m.iter().any(|m| m.rdev == rdev) {
            return Err(Errno::EBUSY);
        }
        m.push(efs.clone());
    }
    crate::task::spawn("ext2-flush", flusher(Arc::downgrade(&efs))).detach();
    Ok(root)
}

/// Writes back dirty inodes and queued blocks every [`FLUSH_INTERVAL_NS`] while
/// the file system is mounted.
async fn flusher(fs: Weak<Ext2Fs>) {
    let mut round = 0u32;
    loop {
        crate::task::sleep(FLUSH_INTERVAL_NS).await;
        let Some(fs) = fs.upgrade() else { return };
        if fs.gone.load(Ordering::Acquire) {
            return;
        }
        round = round.wrapping_add(1);
        let expired = round.is_multiple_of(MAPPED_EXPIRY_ROUNDS);
        if let Err(e) = fs.write_back_mapped(expired).await {
            log::warn!("ext2: writing back mapped pages: {e}");
        }
        // Pages just written back may go now if there are too many.
        pagecache::shrink(None);
        if names::memory_low() {
            fs.drop_names();
        }
        if let Err(e) = fs.write_back_attrs(None).await {
            log::warn!("ext2: writing back inodes: {e}");
        }
        // The free counts, which operations leave in memory.
        if let Err(e) = fs.op(|fs| async move { fs.write_back().await }).await {
            log::warn!("ext2: writing back the free counts: {e}");
        }
        fs.cache.drain().await;
    }
}

/// The mounted ext2 file system whose root is `root`, if it is one.
fn of_root(root: &InodeRef) -> Option<Arc<Ext2Fs>> {
    let i = root.as_any().downcast_ref::<Ext2Inode>()?;
    (i.ino == kestrel_ext2::ROOT_INO).then(|| i.fs.clone())
}

/// Unmounts the ext2 file system whose root is `root` (nothing if it is not
/// one): EBUSY while any of its files is in use (open, a working directory, a
/// mapping), as Linux; else writes everything, marks it clean and flushes.
///
/// `root` is the mount table's root inode, taken from it: the table and `root`
/// are its only two references unless something else (a working directory
/// there, an open directory) uses it.
pub async fn unmount(root: InodeRef) -> KResult<()> {
    unmount_holding(root, 2).await
}

/// [`unmount`], where `held` references to `root` are expected (the mount
/// table's and the caller's; the caller's alone after a lazy unmount).
async fn unmount_holding(root: InodeRef, held: usize) -> KResult<()> {
    let Some(fs) = of_root(&root) else {
        return Ok(());
    };
    // Pages of files no longer mapped go to the disk first, which lets go of
    // their inodes; a file still mapped keeps the file system busy.
    fs.write_back_mapped(false).await?;
    // The directories the name cache keeps in core do not make it busy.
    fs.drop_names();
    let busy = Arc::strong_count(&root) > held
        || fs
            .inodes
            .lock()
            .iter()
            .any(|(&ino, w)| ino != kestrel_ext2::ROOT_INO && w.strong_count() > 0);
    drop(root);
    if busy {
        return Err(Errno::EBUSY);
    }
    fs.write_back_attrs(None).await?;
    fs.op(|fs| async move { fs.unmount().await }).await?;
    fs.gone.store(true, Ordering::Release);
    MOUNTED.lock().retain(|m| !Arc::ptr_eq(m, &fs));
    // A directory kept meanwhile would keep the file system alive (it holds it).
    fs.drop_names();
    // A loop device marked autoclear lets go of its file now.
    super::loopdev::unmounted(fs.rdev);
    Ok(())
}

/// mount(MS_REMOUNT) of the ext2 file system whose root is `root` (nothing if
/// it is not one): to read-only, its inodes and mapped pages are written first;
/// to read-write, a read-only disk is EACCES (Linux's answer) and features this
/// kernel cannot write with EROFS.
pub async fn remount(root: &InodeRef, read_only: bool) -> KResult<()> {
    let Some(fs) = of_root(root) else {
        return Ok(());
    };
    if read_only {
        fs.write_back_mapped(false).await?;
        fs.write_back_attrs(None).await?;
    } else if crate::drivers::block_by_rdev(fs.rdev).is_some_and(|b| b.read_only()) {
        return Err(Errno::EACCES);
    }
    fs.op(move |fs| async move { fs.remount(read_only).await })
        .await
}

/// umount2's MNT_DETACH of the ext2 file system whose root is `root` while it
/// is in use: it leaves the mount table and lives on, written back as before,
/// for the files still open; a later mount of its disk finishes the unmount.
pub fn detach(root: &InodeRef) {
    if let Some(fs) = of_root(root) {
        fs.detached.store(true, Ordering::Release);
    }
}

/// sync(2): every mounted ext2 file system (errors are not reported by sync).
pub async fn sync_all() {
    let all: Vec<Arc<Ext2Fs>> = MOUNTED.lock().clone();
    for fs in all {
        let _ = fs.sync().await;
    }
}

/// /proc/sys/vm/drop_caches: clean pages of the page cache (1), clean
/// blocks of every mounted file system's block cache (2, Linux's reclaimable
/// slab objects; here the cached metadata), or both (3).
pub fn drop_caches(what: u32) {
    if what & 1 != 0 {
        reclaim_page_cache();
    }
    if what & 2 != 0 {
        let all: Vec<Arc<Ext2Fs>> = MOUNTED.lock().clone();
        for fs in all {
            fs.cache.drop_clean();
            // Linux's 2 drops dentries and inodes: the name cache here.
            fs.drop_names();
        }
    }
}

/// The block caches of all mounted ext2 file systems: (bytes cached, bytes
/// waiting to be written), for /proc/meminfo's Buffers and Dirty.
pub fn block_cache_bytes() -> (u64, u64) {
    let all: Vec<Arc<Ext2Fs>> = MOUNTED.lock().clone();
    all.iter().fold((0, 0), |(c, d), fs| {
        let st = fs.cache.stats();
        (c + st.units * 4096, d + st.dirty_bytes)
    })
}

/// Whether any ext2 file system is mounted.
pub fn any_mounted() -> bool {
    !MOUNTED.lock().is_empty()
}

/// At power-off: every ext2 file system written, its orphans freed and marked
/// clean, whatever still uses it (errors are logged; the machine goes down anyway).
pub async fn unmount_all() {
    let all: Vec<Arc<Ext2Fs>> = core::mem::take(&mut *MOUNTED.lock());
    for fs in all {
        fs.gone.store(true, Ordering::Release);
        fs.drop_names();
        if let Err(e) = fs.write_back_mapped(true).await {
            log::warn!("ext2: writing back mapped pages at power-off: {e}");
        }
        fs.mapped.lock().clear();
        let r = match fs.write_back_attrs(None).await {
            Ok(()) => fs.op(|fs| async move { fs.unmount().await }).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            log::warn!("ext2: unmounting at power-off: {e}");
        }
    }
}

/// `root=/dev/...`: mounts that disk's ext2 as `/`, moving /dev, /proc and /sys
/// (mounted on the initramfs at boot) onto its directories of those names.
pub async fn mount_root(dev: &[u8], read_only: bool) -> KResult<()> {
    let d = super::resolve_kernel(dev)?;
    let m = d.inode.metadata();
    if m.file_type() != S_IFBLK {
        return Err(Errno::ENOTBLK);
    }
    // A read-only disk is mounted read-only (Linux's mount_block_root tries
    // again with MS_RDONLY after EACCES).
    let (root, read_only) = match mount(m.rdev, read_only).await {
        Err(Errno::EACCES) if !read_only => {
            log::warn!("root: the disk is read-only: mounted read-only");
            (mount(m.rdev, true).await?, true)
        }
        r => (r?, read_only),
    };
    let mounts = super::mounts();
    for dir in [&b"dev"[..], b"proc", b"sys"] {
        let mut path = b"/".to_vec();
        path.extend_from_slice(dir);
        let (Ok(old), Ok(new)) = (super::resolve_kernel(&path), root.lookup_async(dir).await)
        else {
            log::warn!(
                "root: no /{} on the disk: not mounted there",
                core::str::from_utf8(dir).unwrap_or("?")
            );
            continue;
        };
        if new.metadata().is_dir() {
            mounts.move_mount(kestrel_vfs::path::identity(&old.inode), &new)?;
        }
    }
    if read_only {
        mounts.root_mount().set(MS_RDONLY)?;
    }
    super::set_root(
        root,
        kestrel_vfs::MountInfo {
            source: dev.to_vec(),
            fstype: b"ext2".to_vec(),
            path: b"/".to_vec(),
            options: if read_only {
                b"ro,relatime".to_vec()
            } else {
                b"rw,relatime".to_vec()
            },
        },
    );
    Ok(())
}

impl Ext2Fs {
    /// Runs `op` on the file system and awaits it, so that a caller that goes
    /// away (a killed thread's system call is dropped where it waits) cannot
    /// cut an operation in half: ext2's write ordering, and its in-memory
    /// state, hold for whole operations only (the crate's documentation).
    /// It is first polled here, in the caller's task: most operations find
    /// the lock free and what they need in memory and end in that poll, with
    /// no task of their own (which cost a spawn, a poll of its own and a wake
    /// of the caller each: two of the three in an unlink). One that has to
    /// wait is handed, as it is, to a task that finishes it whatever becomes
    /// of the caller (no await comes between the poll and the spawn); the
    /// task's first poll gives whatever it waits for the task's waker.
    async fn op<T, Fut>(&self, op: impl FnOnce(Arc<Ext2>) -> Fut) -> T
    where
        Fut: core::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let mut fut = Box::pin(op(self.fs.clone()));
        let first =
            core::future::poll_fn(|cx| core::task::Poll::Ready(fut.as_mut().poll(cx))).await;
        match first {
            core::task::Poll::Ready(v) => v,
            core::task::Poll::Pending => crate::task::spawn("ext2-op", fut).await,
        }
    }

    /// The in-core inode for `ino`, whose hold the caller took (it is given back
    /// if the inode is in core already).
    async fn get(self: &Arc<Self>, ino: u32) -> KResult<Arc<Ext2Inode>> {
        let found = self.inodes.lock().get(&ino).and_then(Weak::upgrade);
        if let Some(i) = found {
            self.fs.release(ino);
            return Ok(i);
        }
        // Read at once when it can be (no task): see `Ext2::metadata_now`.
        let meta = match self.fs.metadata_now(ino) {
            Some(m) => Ok(m),
            None => {
                self.op(move |fs| async move { fs.metadata(ino).await })
                    .await
            }
        };
        let meta = match meta {
            Ok(m) => m,
            Err(e) => {
                self.fs.release(ino);
                return Err(e);
            }
        };
        Ok(self.get_known(ino, meta))
    }

    /// [`Ext2Fs::get`] for an inode whose metadata the caller read under the
    /// same operation that took the hold.
    fn get_known(self: &Arc<Self>, ino: u32, meta: Metadata) -> Arc<Ext2Inode> {
        let meta = self.with_dirty(ino, meta);
        let mut map = self.inodes.lock();
        if let Some(i) = map.get(&ino).and_then(Weak::upgrade) {
            drop(map);
            self.fs.release(ino);
            return i;
        }
        let i = Arc::new(Ext2Inode {
            fs: self.clone(),
            ino,
            meta: spin::Mutex::new(meta),
            pages: spin::Mutex::new(BTreeMap::new()),
            on_disk: spin::Mutex::new(BTreeMap::new()),
            maps: spin::Mutex::new(MapState::default()),
            referenced: spin::Mutex::new(alloc::collections::BTreeSet::new()),
            map_end: AtomicU64::new(0),
            changes_begun: AtomicU64::new(0),
            changes_ended: AtomicU64::new(0),
        });
        map.insert(ino, Arc::downgrade(&i));
        i
    }

    /// `m` with the attributes changed in memory and not yet written.
    fn with_dirty(&self, ino: u32, mut m: Metadata) -> Metadata {
        if let Some(d) = self.dirty.lock().get(&ino) {
            m.mode = (m.mode & S_IFMT) | (d.mode & !S_IFMT);
            m.uid = d.uid;
            m.gid = d.gid;
            m.atime = d.atime;
            m.mtime = d.mtime;
            m.ctime = d.ctime;
            m.flags = d.flags;
        }
        m
    }

    /// Sets the metadata of `ino`, if it is in core, to `m`, which the operation
    /// that changed it read at its end.
    fn refresh_with(&self, ino: u32, m: Metadata) {
        let i = self.inodes.lock().get(&ino).and_then(Weak::upgrade);
        if let Some(i) = i {
            *i.meta.lock() = self.with_dirty(ino, m);
        }
    }

    /// Reloads the metadata of `ino` if it is in core (after an operation changed
    /// its size, links or times on disk).
    async fn refresh(&self, ino: u32) {
        let i = self.inodes.lock().get(&ino).and_then(Weak::upgrade);
        let Some(i) = i else {
            return;
        };
        let m = match self.fs.metadata_now(ino) {
            Some(m) => Ok(m),
            None => {
                self.op(move |fs| async move { fs.metadata(ino).await })
                    .await
            }
        };
        if let Ok(m) = m {
            *i.meta.lock() = self.with_dirty(ino, m);
        }
    }

    /// Writes back the dirty attributes of `only` (or of every inode).
    async fn write_back_attrs(&self, only: Option<u32>) -> KResult<()> {
        // The entries stay in the table until written: an inode let go and
        // loaded again meanwhile reads the disk's older attributes, and
        // `with_dirty` puts these over them (taking them out first lost a
        // chmod or chattr done just before the last close to a flusher round
        // running at that moment).
        let items: Vec<(u32, Metadata)> = {
            let d = self.dirty.lock();
            match only {
                Some(ino) => d.get(&ino).map(|m| (ino, *m)).into_iter().collect(),
                None => d.iter().map(|(i, m)| (*i, *m)).collect(),
            }
        };
        let mut result = Ok(());
        for (ino, m) in items {
            let r = self
                .op(move |fs| async move { fs.set_attrs(ino, &m).await })
                .await;
            // Written (or failed, reported once below): out of the table,
            // unless changed again since.
            {
                let mut d = self.dirty.lock();
                if d.get(&ino) == Some(&m) {
                    d.remove(&ino);
                }
            }
            match r {
                // Freed since (unlinked and closed): nothing to write.
                Ok(()) | Err(Errno::ENOENT | Errno::ESTALE) => {}
                Err(e) => result = result.and(Err(e)),
            }
        }
        result
    }

    /// Writes back the pages of the files that writable shared mappings may have
    /// changed: those no longer mapped (then they are let go), and with `all`
    /// those still mapped too.
    async fn write_back_mapped(&self, all: bool) -> KResult<()> {
        let files: Vec<Arc<Ext2Inode>> = self.mapped.lock().values().cloned().collect();
        let mut result = Ok(());
        for f in files {
            if all || f.maps.lock().writable == 0 {
                result = result.and(f.write_back_pages().await);
            }
        }
        result
    }

    /// Everything to the disk: pages changed through mappings, dirty inodes, the
    /// file system's own state, the queued blocks, then the disk's write cache.
    async fn sync(&self) -> KResult<()> {
        if self.fs.read_only() {
            return Ok(());
        }
        self.write_back_mapped(true).await?;
        self.write_back_attrs(None).await?;
        self.op(|fs| async move { fs.sync().await }).await?;
        if let Ok(s) = self.op(|fs| async move { fs.statfs().await }).await {
            *self.statfs.lock() = s;
        }
        Ok(())
    }
}

/// An ext2 inode in core.
pub struct Ext2Inode {
    fs: Arc<Ext2Fs>,
    ino: u32,
    meta: spin::Mutex<Metadata>,
    /// Content pages brought in for exec and mappings, by page index (shared
    /// with MAP_SHARED mappings, which so see later writes and make theirs).
    pages: spin::Mutex<BTreeMap<u64, Arc<PageBuf>>>,
    /// The hash of each loaded page as the disk holds it; a page without one, or
    /// whose content hashes otherwise, has changes to write back.
    on_disk: spin::Mutex<BTreeMap<u64, u64>>,
    /// Writable shared mappings, and whether loaded pages may differ from the disk.
    maps: spin::Mutex<MapState>,
    /// Loaded pages used since the page-cache clock last passed them (faults,
    /// reads over them): they get a second chance before eviction.
    referenced: spin::Mutex<alloc::collections::BTreeSet<u64>>,
    /// The end of the furthest range [`Inode::load_pages`] was asked for (by
    /// a fault's read-around, within its mapping; a mapping may lie past the end
    /// of file), or of a page [`Inode::shared_page`] gave a mapping. Every page
    /// a mapping holds lies below it, so a truncation keeps (zeroed) the pages
    /// below it that a mapping may still map.
    map_end: AtomicU64,
    /// Content changes (write, truncate, fallocate) begun and ended, each
    /// counted from before its disk operation to after the loaded pages follow
    /// it: a write-back that overlapped one may have written a page copied before
    /// the change over it, so it leaves the pages dirty for another round.
    changes_begun: AtomicU64,
    changes_ended: AtomicU64,
}

/// One content change of an inode in progress (see [`Ext2Inode::changes_begun`]).
struct Changing<'a>(&'a Ext2Inode);

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.0.changes_ended.fetch_add(1, Ordering::AcqRel);
    }
}

/// The writable shared mappings of an inode (see [`Ext2Inode::write_back_pages`]).
#[derive(Default)]
struct MapState {
    /// Mappings that may write the pages now.
    writable: usize,
    /// Counts mappings made, so a write-back knows if one came while it ran.
    made: u64,
    /// Loaded pages may hold stores not yet on the disk: reads take the pages
    /// over the disk, and the inode is held in [`Ext2Fs::mapped`].
    dirty: bool,
}

/// A page's fingerprint (FNV-1a over its words): equal content, equal hash; a
/// change is missed only by a 64-bit collision.
fn page_hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in b.chunks_exact(8) {
        let v = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = (h ^ v).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Drop for Ext2Inode {
    fn drop(&mut self) {
        pagecache::dropped(self.pages.get_mut().len());
        self.hand_pages_to_block_cache();
        {
            let mut map = self.fs.inodes.lock();
            let me = self as *const Self;
            if map.get(&self.ino).is_some_and(|w| w.as_ptr() == me) {
                map.remove(&self.ino);
            }
        }
        // Without links it is freed now: its unwritten attributes go with it
        // (they must not land on the next inode given that number).
        if self.meta.lock().nlink == 0 {
            self.fs.dirty.lock().remove(&self.ino);
        }
        self.fs.fs.release(self.ino);
    }
}

impl Ext2Inode {
    /// The inode goes (nothing holds it): its pages, equal to the file, are
    /// put into the block cache as clean blocks by a task of its own, so a
    /// file read again soon after its last close is found in memory (Linux
    /// keeps the pages themselves). Not for a file without links or one whose
    /// pages a shared mapping may have changed. The blocks are looked up
    /// first; a unit the block cache let go since the inode went (perhaps a
    /// newer write of the file, written back) stops it, and blocks it holds
    /// already (a queued write's) are left as they are.
    fn hand_pages_to_block_cache(&mut self) {
        // The block cache's bound: more would only push out what it holds.
        const MOST: usize = 8192;
        let pages = core::mem::take(self.pages.get_mut());
        let (size, nlink) = {
            let m = self.meta.get_mut();
            (m.size, m.nlink)
        };
        if pages.is_empty() || nlink == 0 || self.maps.get_mut().dirty || pages.len() > MOST {
            return;
        }
        let mut since = self.fs.cache.generation();
        let fs = Arc::downgrade(&self.fs);
        let ino = self.ino;
        crate::task::spawn("ext2-keep-pages", async move {
            let Some(fs) = fs.upgrade().filter(|f| !f.gone.load(Ordering::Acquire)) else {
                return;
            };
            let bs = u64::from(fs.fs.block_size());
            // Whole blocks within the size only (a tail block's bytes past
            // the end are the disk's, not the page's zeros).
            let end = size / bs * bs;
            let (first, last) = match (pages.keys().next(), pages.keys().next_back()) {
                (Some(&f), Some(&l)) => (f * PAGE, ((l + 1) * PAGE).min(end)),
                _ => return,
            };
            if first >= last {
                return;
            }
            let Ok(runs) = fs.fs.file_runs(ino, first, last - first).await else {
                return;
            };
            for (off, sector, bytes) in runs {
                let mut at = off;
                while at < off + bytes as u64 && at + bs <= end {
                    if let Some(p) = pages.get(&(at / PAGE)) {
                        let o = (at % PAGE) as usize;
                        let s = sector + (at - off) / 512;
                        let ok =
                            p.with(|b| fs.cache.fill_clean(s, &b[o..o + bs as usize], &mut since));
                        if !ok {
                            return;
                        }
                    }
                    at += bs;
                }
            }
        })
        .detach();
    }

    /// Marks a content change from now until the returned guard goes.
    fn changing(&self) -> Changing<'_> {
        self.changes_begun.fetch_add(1, Ordering::AcqRel);
        Changing(self)
    }

    fn check_rw(&self) -> KResult<()> {
        if self.fs.fs.read_only() {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// Changes the in-core metadata with `f`, sets ctime and marks it dirty.
    fn change(&self, f: impl FnOnce(&mut Metadata)) -> KResult<()> {
        self.check_rw()?;
        self.record(|m| {
            f(m);
            m.ctime = kestrel_vfs::now();
        });
        Ok(())
    }

    /// Changes the in-core metadata with `f` and marks it dirty (written back
    /// by the flusher, fsync or sync).
    fn record(&self, f: impl FnOnce(&mut Metadata)) {
        let m = {
            let mut m = self.meta.lock();
            f(&mut m);
            *m
        };
        self.fs.dirty.lock().insert(self.ino, m);
    }

    /// The other inode of an operation, which must be on this file system.
    fn same_fs<'a>(&self, other: &'a InodeRef) -> KResult<&'a Ext2Inode> {
        match other.as_any().downcast_ref::<Ext2Inode>() {
            Some(o) if Arc::ptr_eq(&o.fs, &self.fs) => Ok(o),
            _ => Err(Errno::EXDEV),
        }
    }

    /// The number `name` in this directory has, held (None: no such name).
    async fn child_ino(&self, name: &[u8]) -> Option<u32> {
        self.lookup_ino(name).await.ok()
    }

    /// The number `name` has in this directory, held: from the name cache
    /// when it knows, else by an operation (which fills the cache).
    async fn lookup_ino(&self, name: &[u8]) -> KResult<u32> {
        if let Some(r) = self.fs.fs.cached_lookup(self.ino, name) {
            return r;
        }
        let (dir, name) = (self.ino, name.to_vec());
        self.fs
            .op(move |fs| async move { fs.lookup(dir, &name).await })
            .await
    }

    /// Reads through a buffer of the operation's own (the caller's may go away
    /// before the operation ends).
    async fn read(&self, pos: u64, buf: &mut [u8]) -> KResult<usize> {
        let (ino, len) = (self.ino, buf.len());
        let mut own: Vec<u8> = crate::syscall::zeroed_vec(len)?;
        let (r, own) = self
            .fs
            .op(move |fs| async move {
                let r = fs.read(ino, pos, &mut own).await;
                (r, own)
            })
            .await;
        let n = r?;
        buf[..n].copy_from_slice(&own[..n]);
        if self.maps.lock().dirty {
            // A writable mapping's stores are the file's content already.
            self.read_pages_over(pos, &mut buf[..n]);
        }
        Ok(n)
    }

    /// Copies the loaded pages' bytes over `buf`, which holds the file's bytes
    /// from `pos` as the disk has them.
    fn read_pages_over(&self, pos: u64, buf: &mut [u8]) {
        let end = pos + buf.len() as u64;
        let pages = self.pages.lock();
        for (&idx, p) in pages.range(pos / PAGE..end.div_ceil(PAGE)) {
            let start = (idx * PAGE).max(pos);
            let stop = ((idx + 1) * PAGE).min(end);
            let o = (start - idx * PAGE) as usize;
            let dst = &mut buf[(start - pos) as usize..(stop - pos) as usize];
            p.with(|b| dst.copy_from_slice(&b[o..o + dst.len()]));
        }
    }

    /// Writes the loaded pages that differ from the disk (stores through shared
    /// mappings) to the file, within its size; lets the inode go from
    /// [`Ext2Fs::mapped`] once nothing is left to write and no writable mapping
    /// remains. Linux finds such pages by the page tables' dirty bits; here each
    /// page is compared with the hash of what the disk holds.
    async fn write_back_pages(&self) -> KResult<()> {
        let made = {
            let m = self.maps.lock();
            if !m.dirty {
                return Ok(());
            }
            m.made
        };
        // The page copies below are taken outside the file system's lock: a
        // write(2) may reach the disk between a copy and its write-back, which
        // then puts the older bytes back (the page itself is right). Only a round
        // that no content change overlapped may call the pages clean.
        let begun = self.changes_begun.load(Ordering::Acquire);
        let quiet_before = self.changes_ended.load(Ordering::Acquire) == begun;
        let mut idxs: Vec<u64> = Vec::new();
        {
            let loaded = self.pages.lock();
            idxs.try_reserve_exact(loaded.len())
                .map_err(|_| Errno::ENOMEM)?;
            idxs.extend(loaded.keys().copied());
        }
        let mut result = Ok(());
        let mut wrote = false;
        for (k, idx) in idxs.into_iter().enumerate() {
            if k % 16 == 15 {
                kestrel_executor::yield_now().await;
            }
            // A clean page is hashed where it is and never referenced: DONTNEED
            // and the eviction clock leave alone a page something else holds,
            // and a round that held every page for its length made a DONTNEED
            // running beside it keep clean pages.
            let page = {
                let loaded = self.pages.lock();
                let Some(p) = loaded.get(&idx) else { continue };
                let h = p.with(|b| page_hash(b));
                if self.on_disk.lock().get(&idx) == Some(&h) {
                    continue;
                }
                p.clone()
            };
            let mut data: Vec<u8> = crate::syscall::zeroed_vec(PAGE as usize)?;
            page.with(|b| data.copy_from_slice(b));
            let h = page_hash(&data);
            let ino = self.ino;
            let at = idx * PAGE;
            match self
                .fs
                .op(move |fs| async move { fs.write_within(ino, at, &data).await })
                .await
            {
                Ok(_) => {
                    wrote = true;
                    // Unless a write(2) changed the page meanwhile (it drops the
                    // hash; the next round writes the page again).
                    if self
                        .pages
                        .lock()
                        .get(&idx)
                        .is_some_and(|p| Arc::ptr_eq(p, &page))
                    {
                        self.on_disk.lock().insert(idx, h);
                    }
                }
                Err(e) => result = result.and(Err(e)),
            }
        }
        if wrote {
            self.fs.refresh(self.ino).await;
        }
        if result.is_ok() {
            let done = {
                let mut m = self.maps.lock();
                // Clean only if no mapping could have stored since the copies
                // were taken (none is writable, and none was made meanwhile),
                // and no write, truncate or fallocate overlapped this round.
                let quiet = quiet_before && self.changes_begun.load(Ordering::Acquire) == begun;
                if m.writable == 0 && m.made == made && quiet {
                    m.dirty = false;
                }
                !m.dirty
            };
            if done {
                self.fs.mapped.lock().remove(&self.ino);
            }
        }
        result
    }

    async fn write(&self, pos: u64, data: &[u8]) -> KResult<usize> {
        self.check_rw()?;
        self.check_not_swap()?;
        self.fs.write_back_attrs(Some(self.ino)).await?;
        let ino = self.ino;
        let _changing = self.changing();
        // Whether this is the only content change under way (see `load`).
        let begun = self.changes_begun.load(Ordering::Acquire);
        let alone = self.changes_ended.load(Ordering::Acquire) + 1 == begun;
        let mut own = Vec::new();
        own.try_reserve_exact(data.len())
            .map_err(|_| Errno::ENOMEM)?;
        own.extend_from_slice(data);
        let r = self
            .fs
            .op(move |fs| async move { fs.write(ino, pos, &own).await })
            .await;
        if let Ok(n) = r {
            self.update_pages(pos, &data[..n]);
        }
        self.fs.refresh(self.ino).await;
        if let Ok(n) = r
            && alone
        {
            self.add_written_pages(pos, &data[..n], begun);
        }
        r
    }

    /// Puts the pages a write filled (from their start to their end or the end
    /// of file) into the page cache, where read(2) finds them: the block cache
    /// keeps file data only until the disk has it. Only if no other content
    /// change ran beside this write (`begun` as it counted it), and memory
    /// allows; a page partly written is left to the next load.
    fn add_written_pages(&self, pos: u64, data: &[u8], begun: u64) {
        let end = pos + data.len() as u64;
        let mut fresh = Vec::new();
        {
            let mut pages = self.pages.lock();
            if self.changes_begun.load(Ordering::Acquire) != begun
                || self.changes_ended.load(Ordering::Acquire) + 1 != begun
            {
                return;
            }
            let size = self.meta.lock().size;
            // Without a writable shared mapping nothing reads the hashes; a
            // page without one counts as changed once one comes (as a page
            // write(2) updated), and is written back once more then.
            let hashed = self.maps.lock().dirty;
            let mut on_disk = self.on_disk.lock();
            for idx in pos.div_ceil(PAGE)..end.div_ceil(PAGE) {
                let (lo, hi) = (idx * PAGE, ((idx + 1) * PAGE).min(size));
                if lo >= hi || hi > end || pages.contains_key(&idx) {
                    continue;
                }
                let mut page = Vec::new();
                if !kestrel_vfs::may_hold(PAGE as usize)
                    || fresh.try_reserve(1).is_err()
                    || page.try_reserve_exact(PAGE as usize).is_err()
                {
                    break;
                }
                page.extend_from_slice(&data[(lo - pos) as usize..(hi - pos) as usize]);
                page.resize(PAGE as usize, 0);
                if hashed {
                    // What the file system holds now (the write is queued).
                    on_disk.insert(idx, page_hash(&page));
                }
                let buf = PageBuf::detached(page.into_boxed_slice());
                fresh.push((idx, Arc::downgrade(&buf)));
                pages.insert(idx, buf);
            }
        }
        if !fresh.is_empty() {
            pagecache::loaded(self, fresh);
            pagecache::shrink(None);
        }
    }

    /// Keeps loaded pages equal to the file after a write.
    fn update_pages(&self, pos: u64, data: &[u8]) {
        let pages = self.pages.lock();
        if pages.is_empty() || data.is_empty() {
            return;
        }
        let end = pos + data.len() as u64;
        let mut on_disk = self.on_disk.lock();
        for idx in pos / PAGE..end.div_ceil(PAGE) {
            if let Some(p) = pages.get(&idx) {
                // The page and the disk agree on these bytes now, but a
                // mapping's stores elsewhere in the page may not be written
                // yet: the page is written back whole next time.
                on_disk.remove(&idx);
                let start = (idx * PAGE).max(pos);
                let stop = ((idx + 1) * PAGE).min(end);
                let src = &data[(start - pos) as usize..(stop - pos) as usize];
                let o = (start - idx * PAGE) as usize;
                p.with(|b| b[o..o + src.len()].copy_from_slice(src));
            }
        }
    }

    /// Zeroes the loaded pages' bytes in `offset..offset + len` (a punched hole);
    /// only pages that are loaded are visited, whatever the length.
    fn zero_pages(&self, offset: u64, len: u64) {
        let end = offset.saturating_add(len);
        let pages = self.pages.lock();
        let mut on_disk = self.on_disk.lock();
        for (&idx, p) in pages.range(offset / PAGE..end.div_ceil(PAGE)) {
            on_disk.remove(&idx);
            let start = (idx * PAGE).max(offset);
            let stop = ((idx + 1) * PAGE).min(end);
            let o = (start - idx * PAGE) as usize;
            p.with(|b| b[o..o + (stop - start) as usize].fill(0));
        }
    }

    /// Keeps loaded pages equal to the file after its size became `size`.
    ///
    /// Pages past the end that a mapping may still map (below [`Self::map_end`])
    /// stay, zeroed: Linux takes them out of every mapping (a later access is
    /// SIGBUS), but Kestrel has no way from an inode to the page tables mapping
    /// it, so a mapping keeps the frame. Dropping it would leave the mapping
    /// with a page of its own once the file grows again — the old bytes where
    /// the file has zeros, and stores that never reach the file. Kept and
    /// zeroed, it is the hole the file reads there after it grows (and their
    /// hash says the disk holds zeros, which a grown file's hole does).
    fn truncate_pages(&self, size: u64) {
        let keep = self.map_end.load(Ordering::Relaxed).max(size);
        let mut pages = self.pages.lock();
        let before = pages.len();
        pages.retain(|&idx, _| idx * PAGE < keep);
        pagecache::dropped(before - pages.len());
        self.referenced.lock().retain(|&idx| idx * PAGE < keep);
        let mut on_disk = self.on_disk.lock();
        on_disk.retain(|&idx, _| idx * PAGE < keep);
        on_disk.remove(&(size / PAGE));
        if let Some(p) = pages.get(&(size / PAGE)) {
            p.with(|b| b[(size % PAGE) as usize..].fill(0));
        }
        let zero = page_hash(&[0; PAGE as usize]);
        for (&idx, p) in pages.range(size.div_ceil(PAGE)..) {
            p.with(|b| b.fill(0));
            on_disk.insert(idx, zero);
        }
    }
}

impl Inode for Ext2Inode {
    fn metadata(&self) -> Metadata {
        *self.meta.lock()
    }

    fn set_mode(&self, mode: u32) -> KResult<()> {
        self.change(|m| m.mode = (m.mode & S_IFMT) | (mode & S_IALLUGO))
    }

    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
        self.change(|m| {
            if let Some(u) = uid {
                m.uid = u;
            }
            if let Some(g) = gid {
                m.gid = g;
            }
        })
    }

    fn touch_atime(&self, now: Timespec) {
        // Written back with the inode, as every other change; a file system
        // mounted read-only (or turned so after an error) keeps its times.
        if self.check_rw().is_ok() && self.meta.lock().flags & FS_NOATIME_FL == 0 {
            self.record(|m| m.atime = now);
        }
    }

    fn iflags_kept(&self) -> u32 {
        kestrel_ext2::disk::FL_USER_MODIFIABLE
    }

    /// In core and marked dirty, as chmod: the user-modifiable bits change,
    /// others given are ignored (as Linux's ext2 does).
    fn set_iflags(&self, flags: u32) -> KResult<()> {
        use kestrel_ext2::disk::FL_USER_MODIFIABLE as MODIFIABLE;
        self.change(|m| m.flags = (m.flags & !MODIFIABLE) | (flags & MODIFIABLE))
    }

    fn set_times(&self, atime: Option<Timespec>, mtime: Option<Timespec>) -> KResult<()> {
        self.change(|m| {
            if let Some(a) = atime {
                m.atime = a;
            }
            if let Some(t) = mtime {
                m.mtime = t;
            }
        })
    }

    /// From the pages [`Inode::load_pages`] brought in (EAGAIN for a page that
    /// is not there: a fault awaits loading it and tries again).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> KResult<usize> {
        let size = self.meta.lock().size;
        if offset >= size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(size - offset) as usize;
        let pages = self.pages.lock();
        let mut done = 0;
        while done < n {
            let at = offset + done as u64;
            let page = pages.get(&(at / PAGE)).ok_or(Errno::EAGAIN)?;
            self.referenced.lock().insert(at / PAGE);
            let o = (at % PAGE) as usize;
            let k = (PAGE as usize - o).min(n - done);
            page.with(|b| buf[done..done + k].copy_from_slice(&b[o..o + k]));
            done += k;
        }
        Ok(n)
    }

    fn statfs(&self) -> Statfs {
        *self.fs.statfs.lock()
    }

    fn mappable(&self) -> bool {
        true
    }

    /// A loaded page, for a MAP_SHARED mapping (EAGAIN if it is not loaded: the
    /// fault awaits [`Inode::load_pages`] and tries again).
    fn shared_page(&self, index: u64) -> KResult<Arc<PageBuf>> {
        if index * PAGE >= self.meta.lock().size {
            return Err(Errno::ENXIO);
        }
        let page = self
            .pages
            .lock()
            .get(&index)
            .cloned()
            .ok_or(Errno::EAGAIN)?;
        self.referenced.lock().insert(index);
        // A page read(2) or write(2) brought in is mapped without a load: a
        // truncation must still keep it (see `truncate_pages`).
        self.map_end
            .fetch_max((index + 1) * PAGE, Ordering::Relaxed);
        Ok(page)
    }

    fn page_cached(&self, index: u64) -> bool {
        self.pages.lock().contains_key(&index)
    }

    /// RWF_NOWAIT: the loaded pages in a row from `from` (the page cache is
    /// where read(2) answers from; a page not loaded, a hole's too, would wait).
    fn cached_prefix_async(&self, from: u64, len: u64) -> Later<'_, KResult<u64>> {
        let stop = from.saturating_add(len).min(self.meta.lock().size);
        if from >= stop {
            return Later::now(Ok(len));
        }
        let idx = {
            let pages = self.pages.lock();
            let mut idx = from / PAGE;
            while idx * PAGE < stop && pages.contains_key(&idx) {
                idx += 1;
            }
            idx
        };
        if idx * PAGE >= stop {
            return Later::now(Ok(len));
        }
        // Past the loaded pages, what the block cache holds is read without
        // the disk too: data whose write is still queued (as Linux's dirty
        // pages, which drop_caches leaves) or not yet let go.
        let at = (idx * PAGE).max(from);
        let ino = self.ino;
        Later::wait(async move {
            let more = self
                .fs
                .op(move |fs| async move { fs.cached_prefix(ino, at, stop - at).await })
                .await?;
            Ok(if at + more >= stop {
                len
            } else {
                at + more - from
            })
        })
    }

    fn extents_async(
        &self,
        from: u64,
        len: u64,
        keep: usize,
    ) -> Later<'_, KResult<kestrel_vfs::inode::ExtentMap>> {
        Later::wait(async move {
            let ino = self.ino;
            let (runs, found) = self
                .fs
                .op(move |fs| async move { fs.extents(ino, from, len, keep).await })
                .await?;
            let runs = runs
                .into_iter()
                .map(|e| (e.logical, e.physical, e.length))
                .collect();
            Ok((runs, found))
        })
    }

    /// A page counts as cached when the page cache has it (read(2), write(2),
    /// a fault or exec brought it in) or the block cache holds every block the
    /// file has in it (file data stays there only while its write is queued; a
    /// hole has no blocks: not cached). Dirty: a block of it waits in the write queue, or a shared
    /// mapping changed the loaded page since writeback last saw it; writeback: a
    /// block of it is at the disk now. Eviction is not remembered, so nothing
    /// counts as evicted.
    fn cachestat(&self, first: u64, last: u64) -> Later<'_, Cachestat> {
        Later::wait(async move {
            let mut cs = Cachestat::default();
            let size = self.meta.lock().size;
            if size == 0 || first > last {
                return cs;
            }
            let end = last.min((size - 1) / PAGE) + 1;
            // The file's blocks are looked up a few MiB at a time, the file
            // system held for each step only.
            const STEP: u64 = 1024;
            let mut at = first;
            while at < end {
                let n = (end - at).min(STEP);
                let runs = self
                    .fs
                    .fs
                    .file_runs(self.ino, at * PAGE, n * PAGE)
                    .await
                    .unwrap_or_default();
                let mut run = runs.iter().peekable();
                for idx in at..at + n {
                    let (lo, hi) = (idx * PAGE, (idx + 1) * PAGE);
                    let mut blocks = Residency::default();
                    let mut any = false;
                    // Runs come in file order; skip those that end before this page.
                    while run.next_if(|r| r.0 + r.2 as u64 <= lo).is_some() {}
                    for &(off, sector, bytes) in run.clone() {
                        if off >= hi {
                            break;
                        }
                        let from = off.max(lo);
                        let to = (off + bytes as u64).min(hi);
                        let r = self
                            .fs
                            .cache
                            .residency(sector + (from - off) / 512, (to - from).div_ceil(512));
                        blocks.cached = if any {
                            blocks.cached && r.cached
                        } else {
                            r.cached
                        };
                        blocks.dirty |= r.dirty;
                        blocks.writeback |= r.writeback;
                        any = true;
                    }
                    let page_dirty = self.page_changed(idx);
                    let loaded = page_dirty.is_some();
                    if loaded || (any && blocks.cached) {
                        cs.nr_cache += 1;
                        if page_dirty == Some(true) || blocks.dirty {
                            cs.nr_dirty += 1;
                        }
                        if blocks.writeback {
                            cs.nr_writeback += 1;
                        }
                    }
                }
                at += n;
                kestrel_executor::yield_now().await;
            }
            cs
        })
    }

    fn seek_data_async(&self, from: u64, data: bool) -> Later<'_, Option<u64>> {
        Later::wait(async move {
            // Pages a shared mapping may have written into holes are data the
            // block map does not show yet: all of such a file counts as data.
            if self.maps.lock().dirty {
                return None;
            }
            let ino = self.ino;
            self.fs
                .op(move |fs| async move { fs.seek_data(ino, from, data).await })
                .await
                .ok()
        })
    }

    /// A name the cache knows, of an inode in core, is answered at once: no
    /// operation, no task (see [`names`]).
    fn lookup_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<InodeRef>> {
        match self.fs.fs.cached_lookup(self.ino, name) {
            Some(Err(e)) => return Later::now(Err(e)),
            Some(Ok(ino)) => {
                if let Some(i) = self.fs.in_core(ino) {
                    // The in-core inode has its own hold.
                    self.fs.fs.release(ino);
                    return Later::now(Ok(i));
                }
                return Later::wait(async move {
                    let i = self.fs.get(ino).await?;
                    self.fs.keep_dir(&i);
                    Ok(i as InodeRef)
                });
            }
            None => {}
        }
        Later::wait(async move {
            let ino = self.lookup_ino(name).await?;
            let i = self.fs.get(ino).await?;
            self.fs.keep_dir(&i);
            Ok(i as InodeRef)
        })
    }

    fn create_async<'a>(
        &'a self,
        name: &'a [u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Later<'a, KResult<InodeRef>> {
        Later::wait(async move {
            self.check_rw()?;
            self.fs.write_back_attrs(Some(self.ino)).await?;
            let (dir, name) = (self.ino, name.to_vec());
            let (ino, meta, dir_meta) = self
                .fs
                .op(move |fs| async move { fs.create_stat(dir, &name, kind, mode, uid, gid).await })
                .await?;
            // A number freed and given out again: nothing of the old inode's
            // in-memory changes applies to the new one.
            self.fs.dirty.lock().remove(&ino);
            let i = self.fs.get_known(ino, meta);
            self.fs.refresh_with(self.ino, dir_meta);
            // A new directory is likely walked into next (mkdir -p, tar x).
            self.fs.keep_dir(&i);
            Ok(i as InodeRef)
        })
    }

    fn link_async<'a>(&'a self, name: &'a [u8], target: &'a InodeRef) -> Later<'a, KResult<()>> {
        Later::wait(async move {
            let t = self.same_fs(target)?;
            self.check_rw()?;
            self.fs.write_back_attrs(Some(self.ino)).await?;
            self.fs.write_back_attrs(Some(t.ino)).await?;
            let (dir, name, target) = (self.ino, name.to_vec(), t.ino);
            let r = self
                .fs
                .op(move |fs| async move { fs.link(dir, &name, target).await })
                .await;
            self.fs.refresh(self.ino).await;
            self.fs.refresh(t.ino).await;
            r
        })
    }

    fn unlink_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<()>> {
        Later::wait(async move {
            self.check_rw()?;
            self.fs.write_back_attrs(Some(self.ino)).await?;
            if self.fs.dirty.lock().is_empty() {
                // No attributes wait to be written (the victim's among them):
                // one operation, without looking the victim up and holding it
                // first. A victim nothing holds (not in core) is freed by it.
                let (dir, owned) = (self.ino, name.to_vec());
                let r = self
                    .fs
                    .op(move |fs| async move { fs.unlink_stat(dir, &owned).await })
                    .await;
                match r {
                    Ok((v, vm, dm)) => {
                        // Held (so maybe in core): its links and ctime now.
                        if let Some(m) = vm {
                            self.fs.refresh_with(v, m);
                        }
                        self.fs.refresh_with(self.ino, dm);
                    }
                    Err(_) => self.fs.refresh(self.ino).await,
                }
                return r.map(|_| ());
            }
            let victim = self.child_ino(name).await;
            if let Some(v) = victim {
                let _ = self.fs.write_back_attrs(Some(v)).await;
            }
            let (dir, owned) = (self.ino, name.to_vec());
            let r = self
                .fs
                .op(move |fs| async move { fs.unlink(dir, &owned).await })
                .await;
            if let Some(v) = victim {
                self.fs.refresh(v).await;
                self.fs.fs.release(v);
            }
            self.fs.refresh(self.ino).await;
            r
        })
    }

    fn rmdir_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<()>> {
        Later::wait(async move {
            self.check_rw()?;
            self.fs.write_back_attrs(Some(self.ino)).await?;
            let victim = self.child_ino(name).await;
            let (dir, owned) = (self.ino, name.to_vec());
            let r = self
                .fs
                .op(move |fs| async move { fs.rmdir(dir, &owned).await })
                .await;
            if let Some(v) = victim {
                if r.is_ok() {
                    self.fs.unkeep(v);
                }
                self.fs.refresh(v).await;
                self.fs.fs.release(v);
            }
            self.fs.refresh(self.ino).await;
            r
        })
    }

    fn rename_async<'a>(
        &'a self,
        old: &'a [u8],
        new_dir: &'a InodeRef,
        new: &'a [u8],
        flags: u32,
    ) -> Later<'a, KResult<()>> {
        Later::wait(async move {
            let nd = self.same_fs(new_dir)?;
            self.check_rw()?;
            self.fs.write_back_attrs(Some(self.ino)).await?;
            self.fs.write_back_attrs(Some(nd.ino)).await?;
            let src = self.child_ino(old).await;
            let dst = nd.child_ino(new).await;
            let (od, ndi, o, n) = (self.ino, nd.ino, old.to_vec(), new.to_vec());
            let r = self
                .fs
                .op(move |fs| async move { fs.rename(od, &o, ndi, &n, flags).await })
                .await;
            // A directory renamed over is gone (an exchanged one is not, but
            // is merely loaded again when next walked).
            if let (Ok(()), Some(d)) = (&r, dst) {
                self.fs.unkeep(d);
            }
            for ino in [src, dst].into_iter().flatten() {
                self.fs.refresh(ino).await;
                self.fs.fs.release(ino);
            }
            self.fs.refresh(self.ino).await;
            self.fs.refresh(nd.ino).await;
            r
        })
    }

    fn readdir_async<'a>(
        &'a self,
        pos: u64,
        emit: &'a mut (dyn FnMut(DirEntry) -> bool + Send),
    ) -> Later<'a, KResult<()>> {
        Later::wait(async move {
            // Listed by the operation's task into a batch of its own (the caller
            // may go away before it ends), then handed to `emit`; what `emit`
            // does not take is listed again from its position next time.
            const BATCH: usize = 256;
            let dir = self.ino;
            let batch = self
                .fs
                .op(move |fs| async move {
                    let mut got = Vec::new();
                    let r = fs
                        .readdir(dir, pos, &mut |e| {
                            got.push(e);
                            got.len() < BATCH
                        })
                        .await;
                    r.map(|()| got)
                })
                .await?;
            for e in batch {
                if !emit(e) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn truncate_async(&self, size: u64) -> Later<'_, KResult<()>> {
        Later::wait(async move {
            self.check_rw()?;
            // An active swap file may grow, never shrink (Linux's inode_newsize_ok).
            if size <= self.meta.lock().size {
                self.check_not_swap()?;
            }
            self.fs.write_back_attrs(Some(self.ino)).await?;
            let ino = self.ino;
            let _changing = self.changing();
            let r = self
                .fs
                .op(move |fs| async move { fs.truncate(ino, size).await })
                .await;
            if r.is_ok() {
                self.truncate_pages(size);
            }
            self.fs.refresh(self.ino).await;
            r
        })
    }

    fn allocate_async(
        &self,
        offset: u64,
        len: u64,
        keep_size: bool,
        punch: bool,
    ) -> Later<'_, KResult<()>> {
        Later::wait(async move {
            self.check_rw()?;
            self.check_not_swap()?;
            self.fs.write_back_attrs(Some(self.ino)).await?;
            let ino = self.ino;
            let _changing = self.changing();
            let r = self
                .fs
                .op(move |fs| async move { fs.allocate(ino, offset, len, keep_size, punch).await })
                .await;
            if r.is_ok() && punch {
                // The punched range reads as zeros in loaded pages too.
                self.zero_pages(offset, len);
            }
            self.fs.refresh(self.ino).await;
            r
        })
    }

    fn readlink_async(&self) -> Later<'_, KResult<Vec<u8>>> {
        let ino = self.ino;
        Later::wait(self.fs.op(move |fs| async move { fs.readlink(ino).await }))
    }

    fn statfs_async(&self) -> Later<'_, KResult<Statfs>> {
        Later::wait(async move {
            let s = self.fs.op(|fs| async move { fs.statfs().await }).await?;
            *self.fs.statfs.lock() = s;
            Ok(s)
        })
    }

    fn xattr_get_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<Vec<u8>>> {
        let (ino, name) = (self.ino, name.to_vec());
        Later::wait(
            self.fs
                .op(move |fs| async move { fs.xattr_get(ino, &name).await }),
        )
    }

    fn xattr_set_async<'a>(
        &'a self,
        name: &'a [u8],
        value: &'a [u8],
        how: XattrSet,
    ) -> Later<'a, KResult<()>> {
        Later::wait(async move {
            self.check_rw()?;
            self.fs.write_back_attrs(Some(self.ino)).await?;
            let (ino, name, value) = (self.ino, name.to_vec(), value.to_vec());
            let r = self
                .fs
                .op(move |fs| async move { fs.xattr_set(ino, &name, &value, how).await })
                .await;
            self.fs.refresh(self.ino).await;
            r
        })
    }

    fn xattr_list_async(&self) -> Later<'_, KResult<Vec<Vec<u8>>>> {
        let ino = self.ino;
        Later::wait(
            self.fs
                .op(move |fs| async move { fs.xattr_list(ino).await }),
        )
    }

    fn xattr_remove_async<'a>(&'a self, name: &'a [u8]) -> Later<'a, KResult<()>> {
        Later::wait(async move {
            self.check_rw()?;
            self.fs.write_back_attrs(Some(self.ino)).await?;
            let (ino, name) = (self.ino, name.to_vec());
            let r = self
                .fs
                .op(move |fs| async move { fs.xattr_remove(ino, &name).await })
                .await;
            self.fs.refresh(self.ino).await;
            r
        })
    }

    /// This file: its pages changed through mappings and its changed
    /// attributes (not other files'), then the file system's own state and
    /// every block queued so far, and the disk's cache flushed. ext2 has no
    /// per-file journal: the queue reaches the disk in order, so what this file
    /// wrote goes with whatever was queued before it.
    fn fsync(&self, _datasync: bool) -> Later<'_, KResult<()>> {
        Later::wait(async move {
            if self.fs.fs.read_only() {
                return Ok(());
            }
            self.write_back_pages().await?;
            self.fs.write_back_attrs(Some(self.ino)).await?;
            self.fs.op(|fs| async move { fs.sync().await }).await
        })
    }

    /// A writable shared mapping appears or goes. While one may store into the
    /// pages, the inode is held in core ([`Ext2Fs::mapped`]) so that its pages
    /// reach the disk even after the last mapping and the last open file go.
    fn map_writable(&self, appears: bool) {
        if appears && !self.maps.lock().dirty {
            // No writable mapping could store since the pages were last found
            // clean: every loaded page is the file's content. Those loaded or
            // written without a hash get theirs now, before any mapping can
            // store (a load that comes after sees `dirty` and hashes its own).
            let pages = self.pages.lock();
            let mut on_disk = self.on_disk.lock();
            for (&idx, p) in pages.iter() {
                if let alloc::collections::btree_map::Entry::Vacant(v) = on_disk.entry(idx) {
                    v.insert(p.with(|b| page_hash(b)));
                }
            }
            self.maps.lock().dirty = true;
        }
        let mut m = self.maps.lock();
        if appears {
            m.writable += 1;
            m.made += 1;
            m.dirty = true;
            drop(m);
            let me = self.fs.inodes.lock().get(&self.ino).and_then(Weak::upgrade);
            if let Some(me) = me {
                self.fs.mapped.lock().insert(self.ino, me);
            }
        } else {
            m.writable = m.writable.saturating_sub(1);
        }
    }

    fn load_pages(&self, offset: u64, len: u64) -> Later<'_, KResult<()>> {
        self.map_end
            .fetch_max(offset.saturating_add(len), Ordering::Relaxed);
        Later::wait(self.load(offset, len))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Ext2Inode {
    /// Brings the pages of `[offset, offset + len)` below the end of file in,
    /// those not loaded yet, reading runs of missing pages at once.
    async fn load(&self, offset: u64, len: u64) -> KResult<()> {
        // Up to this many pages per read of the file system.
        const RUN: u64 = 32;
        let size = self.meta.lock().size;
        let end = offset.saturating_add(len).min(size).div_ceil(PAGE);
        let mut idx = offset / PAGE;
        let mut raced = 0;
        while idx < end {
            if self.pages.lock().contains_key(&idx) {
                idx += 1;
                continue;
            }
            // A run of missing pages, read at once.
            let mut n = 1;
            while n < RUN && idx + n < end && !self.pages.lock().contains_key(&(idx + n)) {
                n += 1;
            }
            if !kestrel_vfs::may_hold((n * PAGE) as usize)
                && (pagecache::reclaim() == 0 || !kestrel_vfs::may_hold((n * PAGE) as usize))
            {
                return Err(Errno::ENOMEM);
            }
            // A write, truncate or fallocate running meanwhile may change the
            // disk after the read and find the pages not loaded yet (so not
            // update them): the pages go in only if no change was under way
            // when the read began and none began before they go in.
            let begun = self.changes_begun.load(Ordering::Acquire);
            let quiet = self.changes_ended.load(Ordering::Acquire) == begun;
            let mut run: Vec<u8> = crate::syscall::zeroed_vec((n * PAGE) as usize)?;
            self.read(idx * PAGE, &mut run).await?;
            let mut fresh: Vec<(u64, Vec<u8>)> = Vec::new();
            fresh
                .try_reserve_exact(n as usize)
                .map_err(|_| Errno::ENOMEM)?;
            for (k, chunk) in run.chunks_exact(PAGE as usize).enumerate() {
                // One heap frame per page: mappings map it as it is.
                let mut page: Vec<u8> = Vec::new();
                page.try_reserve_exact(PAGE as usize)
                    .map_err(|_| Errno::ENOMEM)?;
                page.extend_from_slice(chunk);
                fresh.push((idx + k as u64, page));
            }
            let added = {
                let mut pages = self.pages.lock();
                if quiet && self.changes_begun.load(Ordering::Acquire) == begun {
                    // Hashes matter only while a writable shared mapping may
                    // store; one that comes hashes the pages then.
                    let hashed = self.maps.lock().dirty;
                    let mut on_disk = self.on_disk.lock();
                    let mut referenced = self.referenced.lock();
                    let mut added = Vec::new();
                    added
                        .try_reserve_exact(fresh.len())
                        .map_err(|_| Errno::ENOMEM)?;
                    for (i, page) in fresh {
                        if let alloc::collections::btree_map::Entry::Vacant(v) = pages.entry(i) {
                            // As read: the disk's content (a mapping's stores
                            // land only once the page is in, under this lock).
                            if hashed {
                                on_disk.insert(i, page_hash(&page));
                            }
                            let buf = PageBuf::detached(page.into_boxed_slice());
                            added.push((i, Arc::downgrade(&buf)));
                            v.insert(buf);
                            // About to be used (the fault that asked retries):
                            // not the next page the clock drops.
                            referenced.insert(i);
                        }
                    }
                    Some(added)
                } else {
                    None
                }
            };
            match added {
                Some(fresh) => {
                    pagecache::loaded(self, fresh);
                    idx += n;
                    raced = 0;
                }
                None => {
                    // Read the run again once the change is done.
                    raced += 1;
                    if raced > 100 {
                        return Err(Errno::EAGAIN);
                    }
                }
            }
            // Other tasks get a turn between runs of a large program.
            if idx < end {
                kestrel_executor::yield_now().await;
            }
        }
        // Within bounds again, sparing what was just asked for (the fault
        // that asked is about to use it).
        pagecache::shrink(Some((self, offset / PAGE..end)));
        Ok(())
    }
}

/// An open regular ext2 file: content through the async reads and writes,
/// with read-ahead for sequential reads.
pub struct Ext2File(Arc<Ext2Inode>, spin::Mutex<ReadAhead>);

/// The first read-ahead window, and the largest (Linux's default ra_pages is
/// 128 KiB; disks often set more). POSIX_FADV_SEQUENTIAL doubles the largest.
const RA_INITIAL: u64 = 64 * 1024;
const RA_MAX: u64 = 512 * 1024;

/// How an open file reads ahead (posix_fadvise).
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum RaMode {
    #[default]
    Normal,
    Sequential,
    Random,
}

/// An open file's read-ahead state (Linux's file_ra_state, reduced): a read
/// that starts where the last ended is sequential. The first one outside what
/// was read ahead reads a window from it at once (one large request instead of
/// one per read); a read that crosses `mark`, the start of the newest window,
/// starts the next window, twice as large up to the maximum, in a task of its
/// own while the reader consumes this one. The windows go to the block cache,
/// which the reads then find there.
#[derive(Default)]
struct ReadAhead {
    mode: RaMode,
    /// Where the last read ended.
    prev_end: u64,
    /// The last window's size (0: not reading ahead).
    window: u64,
    /// The end of what has been read or asked ahead.
    ahead_end: u64,
    /// A sequential read ending past this starts the next window.
    mark: u64,
    /// The window being read ahead now: a read within it waits for it rather
    /// than asking the disk for the same blocks again (Linux waits on the
    /// locked pages).
    inflight: Option<(u64, u64, Arc<Inflight>)>,
}

/// A read-ahead in progress, and who waits for it.
#[derive(Default)]
struct Inflight {
    done: AtomicBool,
    wq: kestrel_sync::WaitQueue,
}

impl Inflight {
    fn finish(&self) {
        self.done.store(true, Ordering::Release);
        self.wq.wake_all();
    }
}

/// What a read should do besides its own bytes.
#[derive(Debug, PartialEq, Eq)]
struct RaPlan {
    /// Read `[pos, sync_end)` now, in one request, instead of only the bytes asked.
    sync_end: Option<u64>,
    /// Read `[start, end)` ahead in the background.
    ahead: Option<(u64, u64)>,
}

impl ReadAhead {
    /// The plan for a read of `[pos, end)` of a file of `size` bytes.
    fn plan(&mut self, pos: u64, end: u64, size: u64) -> RaPlan {
        let mut plan = RaPlan {
            sync_end: None,
            ahead: None,
        };
        let sequential = pos == self.prev_end;
        self.prev_end = end;
        if self.mode == RaMode::Random || !sequential {
            self.window = 0;
            self.ahead_end = 0;
            self.mark = 0;
            return plan;
        }
        let max = if self.mode == RaMode::Sequential {
            2 * RA_MAX
        } else {
            RA_MAX
        };
        if end > self.ahead_end {
            // Past what was read ahead (or the first sequential read).
            self.window = if self.window == 0 {
                (4 * (end - pos)).clamp(RA_INITIAL, max)
            } else {
                (self.window * 2).min(max)
            };
            let sync_end = (pos + self.window).max(end).min(size);
            if sync_end > end {
                plan.sync_end = Some(sync_end);
            }
            self.ahead_end = sync_end;
            self.mark = end;
        } else if end > self.mark && self.ahead_end < size {
            self.window = (self.window * 2).min(max);
            let start = self.ahead_end;
            let stop = (start + self.window).min(size);
            plan.ahead = Some((start, stop));
            self.mark = start;
            self.ahead_end = stop;
        }
        plan
    }
}

impl Ext2File {
    /// The file behaviour for `inode`, if it is an ext2 regular file.
    pub fn for_inode(inode: &InodeRef) -> Option<Arc<dyn FileOps>> {
        let any: Arc<dyn Any + Send + Sync> = inode.clone();
        let e = any.downcast::<Ext2Inode>().ok()?;
        e.metadata().is_regular().then(|| {
            Arc::new(Ext2File(e, spin::Mutex::new(ReadAhead::default()))) as Arc<dyn FileOps>
        })
    }

    fn inode(&self) -> &Ext2Inode {
        &self.0
    }

    /// read(2) with read-ahead, from the page cache: loaded pages are copied
    /// without the file system's lock or its block map; missing ones are
    /// loaded first (with the read-ahead window after them, in one read of the
    /// file system), a MiB at a time.
    async fn read(&self, pos: u64, buf: &mut [u8]) -> KResult<usize> {
        let inode = &self.0;
        let size = inode.meta.lock().size;
        let end = pos.saturating_add(buf.len() as u64).min(size);
        if end <= pos {
            return Ok(0);
        }
        let (plan, wait) = {
            let mut ra = self.1.lock();
            let plan = ra.plan(pos, end, size);
            if let Some((start, stop)) = plan.ahead {
                ra.inflight = Some((
                    start,
                    stop,
                    Ext2Inode::read_ahead(inode, start, stop - start),
                ));
            }
            if ra
                .inflight
                .as_ref()
                .is_some_and(|(_, _, f)| f.done.load(Ordering::Acquire))
            {
                ra.inflight = None;
            }
            let wait = ra
                .inflight
                .as_ref()
                .filter(|(s, e, _)| *s < end && pos < *e)
                .map(|(_, _, f)| f.clone());
            (plan, wait)
        };
        if let Some(f) = wait {
            f.wq.wait_until(|| f.done.load(Ordering::Acquire).then_some(()))
                .await;
        }
        let window_end = plan.sync_end.unwrap_or(end).max(end);
        let mut done = 0usize;
        let mut at = pos;
        while at < end {
            let stop = (at + READ_CHUNK).min(end);
            let dst = &mut buf[done..done + (stop - at) as usize];
            if !inode.copy_from_pages(at, dst) {
                // The last piece brings the read-ahead window in with it.
                let load_to = if stop == end { window_end } else { stop };
                match inode.load(at, load_to - at).await {
                    // No room for pages, or changes kept racing the load:
                    // read past the page cache.
                    Ok(()) | Err(Errno::ENOMEM | Errno::EAGAIN) => {}
                    Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
                }
                if !inode.copy_from_pages(at, dst) {
                    match inode.read(at, dst).await {
                        Ok(n) if n < dst.len() => return Ok(done + n),
                        Ok(_) => {}
                        Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
                    }
                }
            }
            done += (stop - at) as usize;
            at = stop;
        }
        Ok(done)
    }
}

/// The most of a read(2) loaded into the page cache before it is copied out.
const READ_CHUNK: u64 = 256 * PAGE;

impl Ext2Inode {
    /// ETXTBSY while this file is an active swap area (Linux's IS_SWAPFILE).
    fn check_not_swap(&self) -> KResult<()> {
        if super::swap::is_swapfile(self as *const Self as *const () as usize) {
            Err(Errno::ETXTBSY)
        } else {
            Ok(())
        }
    }

    /// Whether loaded page `idx` holds changes a shared mapping made that
    /// writeback has not seen (its content no longer hashes as the disk's);
    /// None if it is not loaded.
    fn page_changed(&self, idx: u64) -> Option<bool> {
        let page = self.pages.lock().get(&idx).cloned()?;
        if !self.maps.lock().dirty {
            return Some(false);
        }
        let h = page.with(|b| page_hash(b));
        Some(self.on_disk.lock().get(&idx) != Some(&h))
    }

    /// Copies the loaded pages' bytes from `pos` into `buf` if every page it
    /// needs is loaded and the file reaches its end; whether it could. The
    /// pages copied count as used (for the eviction clock).
    fn copy_from_pages(&self, pos: u64, buf: &mut [u8]) -> bool {
        let end = pos + buf.len() as u64;
        let pages = self.pages.lock();
        if end > self.meta.lock().size {
            return false;
        }
        let (first, last) = (pos / PAGE, end.div_ceil(PAGE));
        if (first..last).any(|i| !pages.contains_key(&i)) {
            return false;
        }
        let mut referenced = self.referenced.lock();
        for (&idx, p) in pages.range(first..last) {
            let start = (idx * PAGE).max(pos);
            let stop = ((idx + 1) * PAGE).min(end);
            let o = (start - idx * PAGE) as usize;
            let dst = &mut buf[(start - pos) as usize..(stop - pos) as usize];
            p.with(|b| dst.copy_from_slice(&b[o..o + dst.len()]));
            referenced.insert(idx);
        }
        true
    }

    /// Loads `[pos, pos + len)` into the page cache in a task of its own, a
    /// MiB at a time (so the cache's bound holds between steps); the returned
    /// flag says when it is done. A load of pages already in does nothing.
    fn read_ahead(self: &Arc<Self>, pos: u64, len: u64) -> Arc<Inflight> {
        let flag = Arc::new(Inflight::default());
        let done = flag.clone();
        let me = self.clone();
        crate::task::spawn("ext2-readahead", async move {
            let mut at = pos;
            while at < pos + len {
                let n = (pos + len - at).min(READ_CHUNK);
                if me.load(at, n).await.is_err() {
                    break;
                }
                at += n;
            }
            done.finish();
        })
        .detach();
        flag
    }

    /// Drops the loaded pages of `[offset, offset + len)` that nothing maps and
    /// that hold nothing unwritten (POSIX_FADV_DONTNEED).
    fn drop_clean_pages(&self, offset: u64, len: u64) {
        let end = offset.saturating_add(len).div_ceil(PAGE);
        let idxs: Vec<u64> = self
            .pages
            .lock()
            .range(offset / PAGE..end)
            .map(|(&i, _)| i)
            .collect();
        for idx in idxs {
            pagecache::drop_if_clean(self, idx);
        }
    }
}

/// posix_fadvise(2) and readahead(2) (`advice` None) on an open ext2 file:
/// false if `ops` is not one (nothing to do).
pub fn advise(ops: &Arc<dyn FileOps>, offset: u64, len: u64, advice: Option<u32>) -> bool {
    const NORMAL: u32 = 0;
    const RANDOM: u32 = 1;
    const SEQUENTIAL: u32 = 2;
    const WILLNEED: u32 = 3;
    const DONTNEED: u32 = 4;
    let Some(f) = ops.as_any().downcast_ref::<Ext2File>() else {
        return false;
    };
    let inode = f.inode();
    let size = inode.meta.lock().size;
    // len 0: to the end of the file.
    let stop = if len == 0 {
        size
    } else {
        offset.saturating_add(len).min(size)
    };
    match advice {
        Some(NORMAL) => f.1.lock().mode = RaMode::Normal,
        Some(RANDOM) => f.1.lock().mode = RaMode::Random,
        Some(SEQUENTIAL) => f.1.lock().mode = RaMode::Sequential,
        Some(DONTNEED) => inode.drop_clean_pages(offset, stop.saturating_sub(offset)),
        // Started, not awaited (as Linux submits the reads and returns); at
        // most 32 MiB, half the most the block cache holds.
        Some(WILLNEED) | None if stop > offset => {
            Ext2Inode::read_ahead(&f.0, offset, (stop - offset).min(32 << 20));
        }
        _ => {}
    }
    true
}

/// Whether `ops` is an open ext2 file (swapon(2): a file system that can hold swap).
pub fn is_ext2_file(ops: &Arc<dyn FileOps>) -> bool {
    ops.as_any().is::<Ext2File>()
}

/// swapon(2) on a regular file: whether `ops` is an open ext2 file whose first
/// `len` bytes all have disk blocks (Linux's generic_swapfile_activate refuses
/// a hole: "swapfile has holes"). None for a file of another file system
/// (tmpfs cannot hold swap).
pub async fn swap_file_has_no_holes(ops: &Arc<dyn FileOps>, len: u64) -> Option<bool> {
    let f = ops.as_any().downcast_ref::<Ext2File>()?;
    let inode = f.inode();
    if inode.meta.lock().size < len {
        return Some(false);
    }
    // A few MiB of the file's blocks at a time.
    const STEP: u64 = 4 << 20;
    let mut at = 0;
    while at < len {
        let n = (len - at).min(STEP);
        let Ok(runs) = inode.fs.fs.file_runs(inode.ino, at, n).await else {
            return Some(false);
        };
        let covered: u64 = runs
            .iter()
            .map(|&(off, _, bytes)| (off + bytes as u64).min(at + n) - off.max(at))
            .sum();
        if covered < n {
            return Some(false);
        }
        at += n;
    }
    Some(true)
}

/// Memory ran out: drops every clean page of ext2 files nothing maps; how
/// many went (the OOM killer tries this first).
pub fn reclaim_page_cache() -> usize {
    pagecache::reclaim()
}

/// The page cache: (pages loaded now, pages evicted since boot).
pub fn page_cache_stats() -> (usize, u64) {
    pagecache::stats()
}

impl FileOps for Ext2File {
    fn read(&self, _file: &OpenFile, _pos: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        // Every read path with data goes through read_async.
        if buf.is_empty() {
            Ok(0)
        } else {
            Err(Errno::EIO)
        }
    }
    fn write(&self, _file: &OpenFile, _pos: &mut u64, data: &[u8]) -> KResult<usize> {
        if data.is_empty() {
            Ok(0)
        } else {
            Err(Errno::EIO)
        }
    }
    fn seekable(&self) -> bool {
        true
    }
    fn read_async<'a>(&'a self, pos: u64, buf: &'a mut [u8]) -> Option<IoFuture<'a>> {
        Some(Box::pin(Ext2File::read(self, pos, buf)))
    }
    fn write_async<'a>(&'a self, pos: u64, data: &'a [u8]) -> Option<IoFuture<'a>> {
        Some(Box::pin(self.inode().write(pos, data)))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The page cache's memory bound: the loaded pages of every ext2 inode, dropped
/// in CLOCK order (an approximation of least recently used: a page used since
/// the hand last passed it gets a second chance) when there are more than a
/// quarter of memory's worth, or while free memory is below a sixteenth.
///
/// Only clean pages that nothing maps go: a page a MAP_SHARED mapping holds
/// (its `Arc` is shared) stays, and a page a mapping's stores made differ from
/// the disk (the inode's `MapState::dirty` and its hash differs) stays until the
/// flusher, msync or fsync has written it; the next round drops it. A page
/// dropped is read again from the disk (or the block cache) by the next fault
/// or load that needs it.
mod pagecache {
    use super::*;
    use alloc::collections::VecDeque;
    use core::sync::atomic::AtomicUsize;

    /// A page as loaded: its inode, index and the page itself (a page dropped
    /// and loaded again is another entry: the old one is stale).
    type Entry = (Weak<Ext2Inode>, u64, Weak<PageBuf>);

    /// Every page loaded, in the order the clock visits them (stale entries, of
    /// inodes or pages gone since, are skipped when met).
    static CLOCK: spin::Mutex<VecDeque<Entry>> = spin::Mutex::new(VecDeque::new());
    /// Pages loaded in all inodes now.
    static LOADED: AtomicUsize = AtomicUsize::new(0);
    /// Pages dropped to stay within bounds since boot.
    static EVICTED: AtomicU64 = AtomicU64::new(0);

    /// (pages loaded now, pages evicted since boot).
    pub fn stats() -> (usize, u64) {
        (
            LOADED.load(Ordering::Relaxed),
            EVICTED.load(Ordering::Relaxed),
        )
    }

    /// The most pages kept: a quarter of memory (`kestrel.page_cache_pages=`
    /// on the command line sets it, to exercise eviction).
    fn cap() -> usize {
        crate::cmdline::options()
            .page_cache_pages
            .unwrap_or((crate::mm::frame::stats().1 / 4) as usize)
    }

    /// Whether free memory is short (below a sixteenth).
    fn low() -> bool {
        let (free, total) = crate::mm::frame::stats();
        free < total / 16
    }

    /// `fresh` are pages `inode` just loaded.
    pub fn loaded(inode: &Ext2Inode, fresh: Vec<(u64, Weak<PageBuf>)>) {
        if fresh.is_empty() {
            return;
        }
        LOADED.fetch_add(fresh.len(), Ordering::Relaxed);
        let Some(me) = inode.fs.inodes.lock().get(&inode.ino).cloned() else {
            return;
        };
        {
            let mut clock = CLOCK.lock();
            for (i, page) in fresh {
                clock.push_back((me.clone(), i, page));
            }
            // Entries of pages gone (truncated, inodes let go) pile up while
            // nothing is evicted: sweep them now and then.
            let live = LOADED.load(Ordering::Relaxed);
            if clock.len() > 2 * live + 4096 {
                clock.retain(|(w, i, p)| {
                    w.upgrade().is_some_and(|i2| {
                        i2.pages
                            .lock()
                            .get(i)
                            .is_some_and(|q| core::ptr::eq(Arc::as_ptr(q), p.as_ptr()))
                    })
                });
            }
        }
    }

    /// `n` pages left an inode (truncated away, or the inode let go).
    pub fn dropped(n: usize) {
        if n > 0 {
            LOADED.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Evicts pages while there are too many or memory is short; stops after a
    /// whole turn of the clock found nothing it may drop. The pages `spare`
    /// names (of one inode) are passed over.
    pub fn shrink(spare: Option<(&Ext2Inode, core::ops::Range<u64>)>) {
        let mut budget = CLOCK.lock().len();
        while budget > 0 && (LOADED.load(Ordering::Relaxed) > cap() || low()) {
            budget -= 1;
            let Some((w, idx, p)) = CLOCK.lock().pop_front() else {
                return;
            };
            let Some(inode) = w.upgrade() else { continue };
            if spare
                .as_ref()
                .is_some_and(|(i, r)| core::ptr::eq(*i, Arc::as_ptr(&inode)) && r.contains(&idx))
            {
                CLOCK.lock().push_back((w, idx, p));
                continue;
            }
            match try_evict(&inode, idx, &p) {
                Visit::Gone => {}
                Visit::Evicted => {
                    LOADED.fetch_sub(1, Ordering::Relaxed);
                    EVICTED.fetch_add(1, Ordering::Relaxed);
                }
                Visit::Kept => CLOCK.lock().push_back((w, idx, p)),
            }
        }
    }

    /// Drops page `idx` of `inode` if nothing maps it and it holds nothing
    /// unwritten (POSIX_FADV_DONTNEED), whether used lately or not.
    pub fn drop_if_clean(inode: &Ext2Inode, idx: u64) {
        inode.referenced.lock().remove(&idx);
        let mut pages = inode.pages.lock();
        let Some(page) = pages.get(&idx) else { return };
        if Arc::strong_count(page) > 1 {
            return;
        }
        if inode.maps.lock().dirty {
            let h = page.with(|b| page_hash(b));
            if inode.on_disk.lock().get(&idx) != Some(&h) {
                return;
            }
        }
        pages.remove(&idx);
        inode.on_disk.lock().remove(&idx);
        LOADED.fetch_sub(1, Ordering::Relaxed);
    }

    /// Drops every page it may (clean, unmapped), used lately or not, however
    /// many there are: memory ran out (the OOM path, a load that found no
    /// room). Returns how many went.
    pub fn reclaim() -> usize {
        let mut budget = CLOCK.lock().len();
        let mut freed = 0;
        while budget > 0 {
            budget -= 1;
            let Some((w, idx, p)) = CLOCK.lock().pop_front() else {
                break;
            };
            let Some(inode) = w.upgrade() else { continue };
            inode.referenced.lock().remove(&idx);
            match try_evict(&inode, idx, &p) {
                Visit::Gone => {}
                Visit::Evicted => {
                    LOADED.fetch_sub(1, Ordering::Relaxed);
                    EVICTED.fetch_add(1, Ordering::Relaxed);
                    freed += 1;
                }
                Visit::Kept => CLOCK.lock().push_back((w, idx, p)),
            }
        }
        freed
    }

    enum Visit {
        /// The page was not loaded any more (a stale entry).
        Gone,
        Evicted,
        /// In use, recently used or dirty: the clock comes back to it.
        Kept,
    }

    fn try_evict(inode: &Ext2Inode, idx: u64, entry: &Weak<PageBuf>) -> Visit {
        let mut pages = inode.pages.lock();
        let Some(page) = pages
            .get(&idx)
            .filter(|q| core::ptr::eq(Arc::as_ptr(q), entry.as_ptr()))
        else {
            return Visit::Gone;
        };
        // Mapped (a MAP_SHARED area holds it) or being copied (write-back).
        if Arc::strong_count(page) > 1 {
            return Visit::Kept;
        }
        if inode.referenced.lock().remove(&idx) {
            return Visit::Kept;
        }
        // Checked under the pages lock: a mapping's stores reach a page only
        // through a mapping that holds it, and one made since the last
        // write-back has set `dirty` before it could fault the page in.
        if inode.maps.lock().dirty {
            let h = page.with(|b| page_hash(b));
            if inode.on_disk.lock().get(&idx) != Some(&h) {
                return Visit::Kept;
            }
        }
        pages.remove(&idx);
        inode.on_disk.lock().remove(&idx);
        Visit::Evicted
    }
}
