//! ext2, read-write: the on-disk format `mkfs.ext2` (e2fsprogs) makes, as async
//! operations over an async block interface ([`BlockIo`]), with no executor of its
//! own. The kernel wraps an [`Ext2`] in VFS inodes; host tests drive it with a
//! trivial `block_on` against images made by `mkfs.ext2` and check the result with
//! `e2fsck -fn`.
//!
//! # Layout (what the crate reads and writes)
//! * The **superblock** is 1024 bytes at byte 1024 of the disk: sizes, counts of
//!   free blocks and inodes, feature flags, the orphan list head, the clean/dirty
//!   state. Blocks are 1024 << s_log_block_size bytes (1 KiB to 64 KiB).
//! * The disk is cut into **block groups** of s_blocks_per_group blocks from
//!   s_first_data_block (1 with 1 KiB blocks, else 0). The **group descriptor table**
//!   follows the superblock: per group, where its block bitmap, inode bitmap and
//!   inode table are, and its free-block, free-inode and directory counts. Backup
//!   superblocks and descriptors (every group, or with sparse_super groups 0, 1 and
//!   powers of 3, 5, 7) and the reserved descriptor blocks of resize_inode are left
//!   alone: their blocks are marked used in the bitmaps like any metadata.
//! * **Inodes** (128 or s_inode_size bytes, numbered from 1; 2 is the root) hold
//!   the mode, owner (16 bits plus 16 high bits in osd2), size (i_size_high for
//!   files over 4 GiB, the large_file feature), times (seconds; 256-byte inodes add
//!   nanoseconds and two epoch bits in their extra fields), links, i_blocks in
//!   512-byte units, and `i_block[15]`: 12 direct block pointers, then single,
//!   double and triple indirect blocks of 32-bit pointers. A zero pointer is a hole
//!   (reads as zeros). A fast symlink keeps its target (< 60 bytes) in i_block; a
//!   device node keeps its number there (old 16-bit or new 32-bit encoding).
//! * **Directories** are files of linear entries (inode, rec_len, name_len,
//!   file_type with the filetype feature, name) that tile each block; a removed
//!   entry is merged into the one before it. An htree (dir_index) directory reads
//!   linearly: its root block is "." and a ".." that spans the index, and its index
//!   blocks look like one unused entry. Adding an entry to one clears its index flag
//!   (Linux's ext2 never keeps the index either; e2fsck accepts it). A directory of
//!   four blocks or more is searched through an index kept in memory only (name
//!   hash to entry, room per block: `dirindex.rs`), which finds what the linear
//!   scan finds and puts a new entry where the scan would.
//! * **Extended attributes** live in one block per inode (i_file_acl, shared and
//!   reference-counted) and, in 256-byte inodes, after the extra fields.
//!
//! # Write ordering
//! File data, inodes and directory blocks are written straight to the
//! [`BlockIo`]. Block and inode bitmaps and indirect blocks are changed in the
//! (bounded) cache and written, in that order and indirect blocks from the bottom
//! level up, before the next write of any other metadata block and at the end of
//! each operation. Except in a *batch*: a run of creates of inodes without
//! blocks, or a run of unlinks, leaves its inode table and directory blocks
//! dirty in the cache too, and they are written kind after kind in the batch's
//! order (creates: bitmaps, inodes, directory blocks; unlinks: directory
//! blocks, inodes, bitmaps) by the next operation of any other kind, the
//! cache's need for room, or [`Ext2::write_back`], [`Ext2::sync`] and
//! [`Ext2::unmount`]; a batch never mixes the two directions, so the order of
//! its kinds is the order each of its operations would have written in
//! (`State::begin`). The free counts of the group descriptors and the superblock are
//! written by [`Ext2::sync`], [`Ext2::write_back`] (the kernel's flusher, every
//! second) and [`Ext2::unmount`], not by each operation (a directory count change
//! goes at the end of its operation; a mount after a crash recounts free blocks
//! and inodes from the bitmaps). A sequential write so costs about one disk write
//! per block, and a create of an empty file a few per hundred (one batch). So, with a disk that keeps write order, a
//! crash between any two writes never leaves a pointer to something free or a name
//! for a freed inode. What it can leave is what `e2fsck -p` repairs by itself
//! (leaked blocks and inodes, counts and link counts too high, wrong free counts),
//! or, in two windows, an inode with content but no name — a directory or slow
//! symlink created but not yet entered in its parent, a file whose last name went
//! (unlink, rename over it) before its link count dropped — which `e2fsck -y` puts
//! in lost+found (Linux's ext2 has the same windows; a journal is what closes
//! them). The test `a_crash_after_any_write_leaves_what_e2fsck_repairs` cuts the
//! power after every write of a workload and checks exactly this.
//!
//! Only file data, the first content of a newly allocated block, the group
//! descriptors (counts only) and a superblock whose only change is its free counts
//! are written with [`BlockIo::write_unordered`]. Counts a crash leaves wrong are
//! what `e2fsck -p` fixes; the blocks may reach the disk before the ordered
//! write issued just before them (the epochs of [`BlockIo`]), which nothing can see
//! since no pointer on the disk leads to them yet — the pointer is a later, ordered
//! write — except a block freed a moment ago, whose old owner may still point at it
//! until the newest ordered write lands: the first data write after any block was
//! freed is therefore ordered. The test
//! `a_crash_keeping_any_subset_of_an_epoch_leaves_what_e2fsck_repairs` keeps every
//! subset of an epoch's writes (random ones for large epochs).
//! * **Allocating**: the bitmap bit, then the new block's content (a new indirect
//!   block is written zeroed, a new data block with its data, a new directory with
//!   "." and ".."), then the pointer to it (in an indirect block, or the inode, which
//!   also carries the new size).
//! * **Creating**: the inode's bit, the initialised inode, the parent's link count
//!   (a directory), then the directory entry.
//! * **Freeing** (truncate, unlink, rmdir): first the name goes (the directory
//!   entry), then the link count drops; at zero links the inode is written deleted
//!   (dtime) with its pointers cleared — an indirect block is rewritten before the
//!   blocks it stopped pointing at are freed, and a whole subtree cut from the inode
//!   is freed only after the inode is written — then the bitmaps bits clear, the
//!   inode's last.
//! * **Linking and renaming**: counts go up before a new name appears and down after
//!   an old one goes; a rename writes the new entry before removing the old one, so
//!   a crash leaves the file under both names (and e2fsck raises its count), never
//!   under none.
//! * **Open but unlinked** files ([`Ext2::hold`]) are not freed while held. One
//!   still held at the next [`Ext2::write_back`] or sync goes on the orphan list
//!   (s_last_orphan, chained through i_dtime), which is emptied when they are
//!   released, at unmount, and at the next mount after a crash; one released
//!   before is freed without touching the list (one nothing holds, the usual
//!   case, by the unlink itself). A crash in between leaves an inode with no links
//!   and no name, which `e2fsck -p` frees.
//! * **Mount** clears the superblock's clean flag; a clean [`Ext2::unmount`] sets
//!   it again after everything else is written, so `e2fsck` knows to check a file
//!   system that was not unmounted.
//!
//! An operation future that is dropped half-way (it should not be: the kernel lets
//! disk operations finish) leaves the same kind of state as a crash.
//!
//! # Concurrency
//! One async lock serialises the operations of a mounted file system. A waiting
//! operation is a parked future; the lock is a [`kestrel_sync::FifoLock`].
//!
//! # Not supported
//! Writing with unknown read-only-compatible features (mounts read-only when asked
//! to), any incompatible feature but filetype (no journal replay, extents, 64bit,
//! meta_bg, flex_bg... as ext2 has none), keeping htree indexes up to date, atime
//! updates on read (the `noatime` behaviour), reserved-block accounting per user
//! (everyone may use the blocks root reserves), ACL semantics (the
//! `system.posix_acl_*` attributes are stored as bytes), quotas.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cache;
mod dir;
mod dirindex;
pub mod disk;
mod file;
pub use file::Extent;
mod inode;
pub mod io;
mod lock;
mod mount;
pub mod names;
mod ops;
mod state;
mod xattr;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::fs::{S_IALLUGO, S_IFBLK, S_IFCHR, Statfs};
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::NodeKind;
use kestrel_vfs::inode::{DirEntry, Metadata, XattrSet};

pub use cache::{BlockCache, Residency};
pub use disk::{EXT2_SUPER_MAGIC, LINK_MAX, ROOT_INO};
pub use io::{BlockIo, BoxFuture, MemDisk, SECTOR};
pub use mount::{MountError, MountOptions};

use lock::{AsyncMutex, Guard};
use state::State;

pub(crate) fn now() -> Timespec {
    kestrel_vfs::now()
}

pub(crate) fn now_secs() -> u32 {
    now().tv_sec as u32
}

/// A mounted ext2 file system. Files are named by inode number; the kernel's VFS
/// wraps each in an inode object.
///
/// **Holds.** An inode number handed out by [`Ext2::lookup`], [`Ext2::create`] or
/// [`Ext2::root`] counts as one *hold*: something in memory that may still use the
/// inode (an open file, a cached dentry). An inode that loses its last link while
/// held is not freed but put on the orphan list; it is freed once every hold is
/// given back with [`Ext2::release`] (at the start of the next operation), or at
/// unmount. [`Ext2::hold`] takes another hold on an inode already held.
pub struct Ext2 {
    state: AsyncMutex<State>,
    holds: Arc<spin::Mutex<BTreeMap<u32, usize>>>,
    /// Inodes whose last hold went, to free (if unlinked) at the next operation.
    released: spin::Mutex<Vec<u32>>,
    /// The name cache ([`names`]), read without the lock.
    names: Arc<spin::Mutex<names::NameCache>>,
    /// Mounted read-only now (a remount may change it).
    read_only: core::sync::atomic::AtomicBool,
    /// Read-only whatever is asked: features this crate cannot write with.
    forced_read_only: bool,
    dev: u64,
    block_size: u32,
    warnings: Vec<String>,
}

impl Ext2 {
    /// Mounts the ext2 file system on `disk`.
    pub async fn mount(
        disk: Arc<dyn BlockIo>,
        opts: MountOptions,
    ) -> Result<Arc<Self>, MountError> {
        let holds = Arc::new(spin::Mutex::new(BTreeMap::new()));
        let m = mount::mount(disk, opts, holds.clone()).await?;
        Ok(Arc::new(Self {
            block_size: m.state.geo.bs as u32,
            names: m.state.names.clone(),
            state: AsyncMutex::new(m.state),
            holds,
            released: spin::Mutex::new(Vec::new()),
            read_only: core::sync::atomic::AtomicBool::new(m.read_only),
            forced_read_only: m.read_only && !opts.read_only,
            dev: opts.dev,
            warnings: m.warnings,
        }))
    }

    /// Whether the file system is mounted read-only (asked for, or forced by
    /// features this crate cannot write with).
    pub fn read_only(&self) -> bool {
        self.read_only.load(core::sync::atomic::Ordering::Acquire)
    }

    /// mount(MS_REMOUNT): read-only to read-write marks the file system in use
    /// (not clean until unmounted, one more mount counted), as a read-write
    /// mount does; read-write to read-only writes everything and marks it as
    /// clean as it was when mounted (orphans still held stay on the list).
    /// EROFS for read-write when features this crate cannot write with forced
    /// read-only.
    pub async fn remount(&self, read_only: bool) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        if st.read_only == read_only {
            return Ok(());
        }
        if read_only {
            st.commit_all().await?;
            let s = st.mount_state;
            disk::put16(&mut st.sb, disk::sb::STATE, s);
            st.write_super().await?;
            st.dev.flush().await?;
        } else {
            if self.forced_read_only {
                return Err(Errno::EROFS);
            }
            let bits = disk::le16(&st.sb, disk::sb::STATE);
            st.mount_state = bits;
            disk::put16(&mut st.sb, disk::sb::STATE, bits & !disk::STATE_VALID);
            let mounts = disk::le16(&st.sb, disk::sb::MNT_COUNT).wrapping_add(1);
            disk::put16(&mut st.sb, disk::sb::MNT_COUNT, mounts);
            disk::put32(&mut st.sb, disk::sb::MTIME, crate::now_secs());
            st.read_only = false;
            st.write_super().await?;
        }
        st.read_only = read_only;
        self.read_only
            .store(read_only, core::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// What the kernel should log about this mount (not cleanly unmounted, errors
    /// recorded, forced read-only).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether large directories are searched through in-memory indexes (the
    /// default) or by scanning every block, and how many names the indexes may
    /// hold together: for host tests that compare the two ways.
    #[doc(hidden)]
    pub async fn set_dir_index(&self, on: bool, max_entries: usize) {
        let mut st = self.state.lock().await;
        st.dindex.clear();
        st.dindex.disabled = !on;
        st.dindex.max_entries = max_entries;
    }

    /// How many directories are indexed, and the names their indexes hold.
    #[doc(hidden)]
    pub async fn dir_index_stats(&self) -> (usize, usize) {
        self.state.lock().await.dindex.stats()
    }

    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// The root directory's inode number, held.
    pub fn root(&self) -> u32 {
        self.hold(ROOT_INO);
        ROOT_INO
    }

    /// Takes another hold on `ino`.
    pub fn hold(&self, ino: u32) {
        *self.holds.lock().entry(ino).or_insert(0) += 1;
    }

    /// Gives back a hold on `ino`. When the last one goes and the inode has no
    /// links, it is freed at the start of the next operation (this is synchronous,
    /// so a `Drop` may call it).
    pub fn release(&self, ino: u32) {
        let last = {
            let mut h = self.holds.lock();
            match h.get_mut(&ino) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    h.remove(&ino);
                    true
                }
                None => false,
            }
        };
        if last {
            self.released.lock().push(ino);
        }
    }

    /// The lock, with released inodes dealt with first.
    async fn lock(&self) -> Guard<'_, State> {
        let mut st = self.state.lock().await;
        let released = core::mem::take(&mut *self.released.lock());
        if !st.read_only {
            for ino in released {
                let _ = st.evict(ino).await;
            }
            if st.sb_dirty {
                let _ = st.commit().await;
            }
        }
        st
    }

    /// The lock, for an operation that is not batched (all but creates of inodes
    /// without blocks and unlinks): the batch in the cache is written first, in
    /// its order (see `State::begin`).
    async fn lock_unbatched(&self) -> KResult<Guard<'_, State>> {
        let mut st = self.lock().await;
        st.begin(state::Batch::None).await?;
        Ok(st)
    }

    /// Runs a modifying operation and writes what it left in memory.
    async fn modify<T>(mut st: Guard<'_, State>, r: KResult<T>) -> KResult<T> {
        let c = st.commit().await;
        let v = r?;
        c.map(|_| v)
    }

    fn meta_of(&self, st: &State, i: &inode::Inode) -> Metadata {
        let kind = i.kind();
        Metadata {
            dev: self.dev,
            ino: u64::from(i.num),
            mode: i.mode(),
            nlink: i.links(),
            uid: i.uid(),
            gid: i.gid(),
            rdev: if kind == S_IFCHR || kind == S_IFBLK {
                i.rdev()
            } else {
                0
            },
            size: i.size(),
            blksize: st.geo.bs as u32,
            blocks: i.sectors(),
            atime: i.atime(),
            mtime: i.mtime(),
            ctime: i.ctime(),
            flags: i.flags() & disk::FL_USER_VISIBLE,
        }
    }

    /// What `stat` reports.
    pub async fn metadata(&self, ino: u32) -> KResult<Metadata> {
        let mut st = self.lock().await;
        let i = st.read_inode(ino).await?;
        Ok(self.meta_of(&st, &i))
    }

    /// What [`Ext2::metadata`] reports of `ino` when it can be told at once:
    /// nobody holds the file system's lock or waits for it, and the inode's
    /// block is in memory; `None` otherwise (ask [`Ext2::metadata`]). It is
    /// synchronous, so no caller going away can cut it in half, and it begins
    /// no operation (the kernel runs those as tasks of their own): an unlink
    /// looking at its victim first, a `stat` of a file not in core, cost no
    /// task. Released inodes wait for the next operation.
    pub fn metadata_now(&self, ino: u32) -> Option<Metadata> {
        let st = self.state.try_lock()?;
        let i = st.cached_inode(ino)?;
        Some(self.meta_of(&st, &i))
    }

    /// What `statfs` reports, as Linux counts it (Debian's kernels mount ext2 with
    /// the ext4 driver): f_blocks leaves out the metadata every group carries —
    /// superblock and descriptor copies with their reserved growth blocks, bitmaps,
    /// inode tables — and f_bavail the blocks reserved for root.
    pub async fn statfs(&self) -> KResult<Statfs> {
        use disk::{gd, le32, sb};
        let st = self.lock().await;
        let geo = &st.geo;
        let mut overhead = u64::from(geo.first_data_block);
        let reserved_gdt = u64::from(disk::le16(&st.sb, sb::RESERVED_GDT_BLOCKS));
        let (mut bfree, mut ifree) = (0u64, 0u64);
        for g in 0..geo.groups {
            if disk::group_has_super(g, geo.sparse_super) {
                overhead += 1 + u64::from(geo.gdt_blocks) + reserved_gdt;
            }
            overhead += 2 + u64::from(geo.itb_per_group);
            bfree += u64::from(st.gd16(g, gd::FREE_BLOCKS));
            ifree += u64::from(st.gd16(g, gd::FREE_INODES));
        }
        let reserved = u64::from(le32(&st.sb, sb::R_BLOCKS_COUNT));
        let uuid = &st.sb[sb::UUID..sb::UUID + 16];
        let lo = u64::from_le_bytes(uuid[..8].try_into().unwrap_or([0; 8]));
        let hi = u64::from_le_bytes(uuid[8..].try_into().unwrap_or([0; 8]));
        let fsid = lo ^ hi;
        let mut flags = kestrel_abi::fs::ST_VALID;
        if self.read_only() {
            flags |= kestrel_abi::fs::ST_RDONLY;
        }
        Ok(Statfs {
            f_type: i64::from(disk::EXT2_SUPER_MAGIC),
            f_bsize: geo.bs as i64,
            f_blocks: u64::from(geo.blocks_count).saturating_sub(overhead),
            f_bfree: bfree,
            f_bavail: bfree.saturating_sub(reserved),
            f_files: u64::from(geo.inodes_count),
            f_ffree: ifree,
            f_fsid: [fsid as u32 as i32, (fsid >> 32) as u32 as i32],
            f_namelen: 255,
            f_frsize: geo.bs as i64,
            f_flags: flags,
            ..Default::default()
        })
    }

    /// Finds `name` in directory `dir` (ENOENT, ENOTDIR, ENAMETOOLONG); the inode
    /// number comes back held.
    pub async fn lookup(&self, dir: u32, name: &[u8]) -> KResult<u32> {
        let mut st = self.lock().await;
        let ino = st.lookup(dir, name).await?;
        self.hold(ino);
        Ok(ino)
    }

    /// What the name cache ([`names`]) knows of `name` in `dir`, without taking
    /// the file system's lock: `Some(Ok(ino))` with the number held (as from
    /// [`Ext2::lookup`]), `Some(Err(ENOENT))` for a name known to be absent, or
    /// `None`: ask [`Ext2::lookup`]. The answer is the one `lookup` would give
    /// now (the cache changes with the directories, under the lock).
    pub fn cached_lookup(&self, dir: u32, name: &[u8]) -> Option<KResult<u32>> {
        let mut names = self.names.lock();
        match names.get(dir, name)? {
            names::Cached::Found(ino) => {
                // Under the cache's lock: the name still links the inode, so
                // it is not freed before the hold counts.
                self.hold(ino);
                Some(Ok(ino))
            }
            names::Cached::Absent => Some(Err(Errno::ENOENT)),
        }
    }

    /// Sets the name cache's memory bound (bytes; it drops what is over it).
    pub fn set_name_cache_bytes(&self, max: usize) {
        let mut names = self.names.lock();
        names.max_bytes = max;
        if names.stats().2 > max {
            names.clear();
        }
    }

    /// Empties the name cache (memory is short, or drop_caches); the bytes it
    /// was counted for.
    pub fn shrink_names(&self) -> usize {
        // Taken out under the lock, freed after it.
        let old = core::mem::take(&mut *self.names.lock());
        let b = old.stats().2;
        let mut names = self.names.lock();
        names.max_bytes = old.max_bytes;
        names.hits = old.hits;
        names.misses = old.misses;
        b
    }

    /// The name cache: (directories, entries, bytes, hits, misses).
    pub fn name_cache_stats(&self) -> (usize, usize, usize, u64, u64) {
        let n = self.names.lock();
        let (d, e, b) = n.stats();
        (d, e, b, n.hits, n.misses)
    }

    /// Lists directory `dir` from position `pos` (0 is the start; "." and ".." are
    /// real entries), calling `emit` until it returns false or the directory ends.
    /// Each entry's `next` is the position to resume from.
    pub async fn readdir(
        &self,
        dir: u32,
        pos: u64,
        emit: &mut (dyn FnMut(DirEntry) -> bool + Send),
    ) -> KResult<()> {
        let mut st = self.lock().await;
        let d = st.read_live_inode(dir).await?;
        if !d.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        st.dir_list(&d, pos, emit).await
    }

    /// Creates `name` in `dir` with permission bits `mode` (EEXIST, ENOSPC, EMLINK,
    /// ENAMETOOLONG); the new inode number comes back held.
    pub async fn create(
        &self,
        dir: u32,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> KResult<u32> {
        self.create_stat(dir, name, kind, mode, uid, gid)
            .await
            .map(|(ino, _, _)| ino)
    }

    /// [`Ext2::create`], also returning what `stat` reports of the new inode and
    /// of `dir` afterwards (the kernel would ask for both next).
    pub async fn create_stat(
        &self,
        dir: u32,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> KResult<(u32, Metadata, Metadata)> {
        let mut st = self.lock().await;
        let r = st.create(dir, name, &kind, mode, uid, gid).await;
        let c = st.commit().await;
        let ino = r?;
        self.hold(ino);
        let stat = async {
            c?;
            let i = st.read_inode(ino).await?;
            let d = st.read_inode(dir).await?;
            Ok((self.meta_of(&st, &i), self.meta_of(&st, &d)))
        }
        .await;
        match stat {
            Ok((m, dm)) => Ok((ino, m, dm)),
            Err(e) => {
                self.release(ino);
                Err(e)
            }
        }
    }

    /// Adds the name `name` in `dir` for inode `ino` (EPERM for a directory, EMLINK
    /// at 32000 links).
    pub async fn link(&self, dir: u32, name: &[u8], ino: u32) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        let r = st.link(dir, name, ino).await;
        Self::modify(st, r).await
    }

    /// Removes the non-directory `name` from `dir` (EISDIR for a directory).
    pub async fn unlink(&self, dir: u32, name: &[u8]) -> KResult<()> {
        self.unlink_stat(dir, name).await.map(|_| ())
    }

    /// [`Ext2::unlink`], returning the number of the inode that lost the name
    /// (not held: it is freed already unless something holds it), what `stat`
    /// reports of it afterwards if something holds it (the kernel's in-core
    /// inode would ask), and of `dir`.
    pub async fn unlink_stat(
        &self,
        dir: u32,
        name: &[u8],
    ) -> KResult<(u32, Option<Metadata>, Metadata)> {
        let mut st = self.lock().await;
        let r = st.unlink(dir, name).await;
        let c = st.commit().await;
        let ino = r?;
        c?;
        let held = self.holds.lock().get(&ino).is_some_and(|&n| n > 0);
        let victim = if held {
            let i = st.read_inode(ino).await?;
            Some(self.meta_of(&st, &i))
        } else {
            None
        };
        let d = st.read_inode(dir).await?;
        Ok((ino, victim, self.meta_of(&st, &d)))
    }

    /// Removes the empty directory `name` from `dir` (ENOTEMPTY, ENOTDIR).
    pub async fn rmdir(&self, dir: u32, name: &[u8]) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        let r = st.rmdir(dir, name).await;
        Self::modify(st, r).await
    }

    /// renameat2: moves `old` in `old_dir` to `new` in `new_dir`, with
    /// RENAME_NOREPLACE or RENAME_EXCHANGE in `flags`. EINVAL for moving a directory
    /// into itself.
    pub async fn rename(
        &self,
        old_dir: u32,
        old: &[u8],
        new_dir: u32,
        new: &[u8],
        flags: u32,
    ) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        let r = st.rename(old_dir, old, new_dir, new, flags).await;
        Self::modify(st, r).await
    }

    /// A regular file inode, for reading and writing content.
    async fn regular(st: &mut State, ino: u32) -> KResult<inode::Inode> {
        let i = st.read_live_inode(ino).await?;
        if i.is_dir() {
            return Err(Errno::EISDIR);
        }
        if !i.is_reg() {
            return Err(Errno::EINVAL);
        }
        Ok(i)
    }

    /// Reads content at `offset`; 0 at or past the end. Holes read as zeros.
    pub async fn read(&self, ino: u32, offset: u64, buf: &mut [u8]) -> KResult<usize> {
        let mut st = self.lock().await;
        let i = Self::regular(&mut st, ino).await?;
        st.read_file(&i, offset, buf).await
    }

    /// Where `[offset, offset + len)` of regular file `ino` lies on the disk:
    /// `(file offset, first sector, bytes)` for each run of blocks in a row
    /// (holes left out; the last block whole, though the file may end within
    /// it), at most `READ_RUN` blocks each. Read-ahead reads these into
    /// the cache without holding the file system meanwhile: what it reads is
    /// only kept by the cache, so a block freed and reused since is harmless.
    pub async fn file_runs(
        &self,
        ino: u32,
        offset: u64,
        len: u64,
    ) -> KResult<Vec<(u64, u64, usize)>> {
        let mut st = self.lock().await;
        let i = Self::regular(&mut st, ino).await?;
        st.file_runs(&i, offset, len).await
    }

    /// RWF_NOWAIT: the bytes of regular file `ino` from `offset` (at most `len`)
    /// that can be read without waiting for the disk's data.
    pub async fn cached_prefix(&self, ino: u32, offset: u64, len: u64) -> KResult<u64> {
        let mut st = self.lock().await;
        let i = Self::regular(&mut st, ino).await?;
        st.cached_prefix(&i, offset, len).await
    }

    /// FIEMAP of regular file or directory `ino`: the runs of disk blocks in a
    /// row holding `[from, from + len)` (clipped at the size), at most `keep` of
    /// them, and the count of all found.
    pub async fn extents(
        &self,
        ino: u32,
        from: u64,
        len: u64,
        keep: usize,
    ) -> KResult<(Vec<Extent>, usize)> {
        let mut st = self.lock().await;
        let i = st.read_live_inode(ino).await?;
        if !i.is_reg() && !i.is_dir() {
            return Err(Errno::EOPNOTSUPP);
        }
        st.extents(&i, from, len, keep).await
    }

    /// lseek's SEEK_DATA (`data`) or SEEK_HOLE from `from` in regular file `ino`:
    /// where the next block with (or without) a disk block starts, or the size.
    pub async fn seek_data(&self, ino: u32, from: u64, data: bool) -> KResult<u64> {
        let mut st = self.lock().await;
        let i = Self::regular(&mut st, ino).await?;
        st.seek_data(&i, from, data).await
    }

    /// Writes content at `offset`, growing the file (EFBIG past the largest file,
    /// ENOSPC when no block is left; a write cut short by a full disk returns what
    /// it wrote).
    pub async fn write(&self, ino: u32, offset: u64, data: &[u8]) -> KResult<usize> {
        let mut st = self.lock_unbatched().await?;
        let r = async {
            let mut i = Self::regular(&mut st, ino).await?;
            st.write_file(&mut i, offset, data).await
        }
        .await;
        Self::modify(st, r).await
    }

    /// Writes content at `offset` without growing the file: `data` is cut at the
    /// file's size as it is under the lock (a page written back from a shared
    /// mapping must not bring back what a truncate took). Returns the bytes
    /// written, 0 when `offset` is past the end.
    pub async fn write_within(&self, ino: u32, offset: u64, data: &[u8]) -> KResult<usize> {
        let mut st = self.lock_unbatched().await?;
        let r = async {
            let mut i = Self::regular(&mut st, ino).await?;
            let len = i.size().saturating_sub(offset).min(data.len() as u64) as usize;
            if len == 0 {
                return Ok(0);
            }
            st.write_file(&mut i, offset, &data[..len]).await
        }
        .await;
        Self::modify(st, r).await
    }

    /// Sets the size of a regular file (zeros when growing; freed blocks when
    /// shrinking).
    pub async fn truncate(&self, ino: u32, size: u64) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        let r = async {
            let mut i = Self::regular(&mut st, ino).await?;
            st.truncate_file(&mut i, size).await
        }
        .await;
        Self::modify(st, r).await
    }

    /// fallocate(2): with `punch` the range reads as zeros and its whole blocks are
    /// freed (the size stays); otherwise its blocks are allocated (zeroed) and,
    /// unless `keep_size`, the file grows to cover it.
    pub async fn allocate(
        &self,
        ino: u32,
        offset: u64,
        len: u64,
        keep_size: bool,
        punch: bool,
    ) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        let r = async {
            let mut i = Self::regular(&mut st, ino).await?;
            if punch {
                st.punch_file(&mut i, offset, len).await
            } else {
                st.allocate_file(&mut i, offset, len, keep_size).await
            }
        }
        .await;
        Self::modify(st, r).await
    }

    /// A symlink's target (EINVAL for anything else).
    pub async fn readlink(&self, ino: u32) -> KResult<Vec<u8>> {
        let mut st = self.lock().await;
        let i = st.read_live_inode(ino).await?;
        st.read_symlink(&i).await
    }

    /// Changes an inode with `f` and sets its ctime.
    async fn change(&self, ino: u32, f: impl FnOnce(&mut inode::Inode) + Send) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        let r = async {
            st.check_rw()?;
            let mut i = st.read_live_inode(ino).await?;
            f(&mut i);
            i.set_ctime(now());
            st.write_inode(&i).await
        }
        .await;
        Self::modify(st, r).await
    }

    /// chmod: the permission bits (and setuid/setgid/sticky); the type stays.
    pub async fn set_mode(&self, ino: u32, mode: u32) -> KResult<()> {
        self.change(ino, |i| {
            i.set_mode((i.mode() & !S_IALLUGO) | (mode & S_IALLUGO));
        })
        .await
    }

    /// chown: the owner and/or group (32-bit ids: 16 bits plus the high 16).
    pub async fn set_owner(&self, ino: u32, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
        self.change(ino, |i| {
            if let Some(u) = uid {
                i.set_uid(u);
            }
            if let Some(g) = gid {
                i.set_gid(g);
            }
        })
        .await
    }

    /// utimensat: access and/or modification time (ctime becomes now).
    pub async fn set_times(
        &self,
        ino: u32,
        atime: Option<Timespec>,
        mtime: Option<Timespec>,
    ) -> KResult<()> {
        self.change(ino, |i| {
            if let Some(a) = atime {
                i.set_atime(a);
            }
            if let Some(m) = mtime {
                i.set_mtime(m);
            }
        })
        .await
    }

    /// FS_IOC_SETFLAGS: the user-modifiable bits of i_flags become those of
    /// `flags` (others given are ignored, as by Linux's ext2); ctime becomes now.
    pub async fn set_flags(&self, ino: u32, flags: u32) -> KResult<()> {
        self.change(ino, |i| {
            let keep = i.flags() & !disk::FL_USER_MODIFIABLE;
            i.set_flags(keep | (flags & disk::FL_USER_MODIFIABLE));
        })
        .await
    }

    /// Writes back an in-core inode's attributes at once (the kernel's VFS keeps
    /// chmod, chown, utimes and inode-flag changes in memory and writes them
    /// later, as Linux's write_inode): the permission bits of `mode` (the type
    /// stays), the owner, the three times, exactly as given, and the
    /// user-modifiable inode flags.
    pub async fn set_attrs(&self, ino: u32, a: &Metadata) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        let r = async {
            st.check_rw()?;
            let mut i = st.read_live_inode(ino).await?;
            i.set_mode((i.mode() & !S_IALLUGO) | (a.mode & S_IALLUGO));
            i.set_uid(a.uid);
            i.set_gid(a.gid);
            i.set_atime(a.atime);
            i.set_mtime(a.mtime);
            i.set_ctime(a.ctime);
            i.set_flags(
                (i.flags() & !disk::FL_USER_MODIFIABLE) | (a.flags & disk::FL_USER_MODIFIABLE),
            );
            st.write_inode(&i).await
        }
        .await;
        Self::modify(st, r).await
    }

    /// An extended attribute's value by full name (`user.foo`; also `trusted.`,
    /// `security.`, `system.posix_acl_access`/`_default`; EOPNOTSUPP for other
    /// namespaces, ENODATA if absent).
    pub async fn xattr_get(&self, ino: u32, name: &[u8]) -> KResult<Vec<u8>> {
        let mut st = self.lock().await;
        let i = st.read_live_inode(ino).await?;
        st.xattr_get(&i, name).await
    }

    /// Every extended attribute's full name.
    pub async fn xattr_list(&self, ino: u32) -> KResult<Vec<Vec<u8>>> {
        let mut st = self.lock().await;
        let i = st.read_live_inode(ino).await?;
        st.xattr_list(&i).await
    }

    /// Sets an extended attribute (EEXIST/ENODATA per `how`; ENOSPC when the
    /// attributes no longer fit their block; ERANGE for a name over 255 bytes or a
    /// value over a block).
    pub async fn xattr_set(
        &self,
        ino: u32,
        name: &[u8],
        value: &[u8],
        how: XattrSet,
    ) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        let r = async {
            let mut i = st.read_live_inode(ino).await?;
            st.xattr_change(&mut i, name, Some(value), how).await
        }
        .await;
        Self::modify(st, r).await
    }

    /// Removes an extended attribute (ENODATA if absent).
    pub async fn xattr_remove(&self, ino: u32, name: &[u8]) -> KResult<()> {
        let mut st = self.lock_unbatched().await?;
        let r = async {
            let mut i = st.read_live_inode(ino).await?;
            st.xattr_change(&mut i, name, None, XattrSet::Any).await
        }
        .await;
        Self::modify(st, r).await
    }

    /// Writes a batch of creates or unlinks that waits in the file system's own
    /// cache (see `State::begin`) to the disk below, in its order, without
    /// waiting for the disk: the kernel's block cache then holds it, so that a
    /// raw read of the disk sees it.
    pub async fn write_batch(&self) -> KResult<()> {
        self.lock_unbatched().await.map(|_| ())
    }

    /// Writes what is kept in memory (the free counts of the group descriptors and
    /// the superblock; held inodes without links go on the orphan list) without
    /// flushing the disk: the kernel's flusher calls it every round, so that a
    /// crash loses at most that long of them.
    pub async fn write_back(&self) -> KResult<()> {
        let mut st = self.lock().await;
        if self.read_only()
            || (!st.counts_dirty
                && st.gdt_dirty.is_empty()
                && st.pending_orphans.is_empty()
                && st.batch == state::Batch::None)
        {
            return Ok(());
        }
        st.commit_all().await
    }

    /// Writes everything and flushes the disk (sync, fsync, syncfs: every write is
    /// already on its way, so one flush covers any file).
    pub async fn sync(&self) -> KResult<()> {
        let mut st = self.lock().await;
        if !self.read_only() {
            st.commit_all().await?;
        }
        st.dev.flush().await
    }

    /// Unmounts: frees what is still on the orphan list (nothing can hold it any
    /// more), marks the file system clean — unless it was not clean when mounted:
    /// that stays for e2fsck to see, as with Linux — and flushes the disk. The
    /// `Ext2` is read-only afterwards.
    pub async fn unmount(&self) -> KResult<()> {
        let mut st = self.lock().await;
        if !st.read_only {
            st.free_orphans().await?;
            st.commit_all().await?;
            let s = st.mount_state;
            disk::put16(&mut st.sb, disk::sb::STATE, s);
            st.write_super().await?;
            st.read_only = true;
        }
        st.dev.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send<T: Send>(_: &T) {}

    /// The kernel's executor runs `Send` futures: every operation must be one.
    #[test]
    fn operation_futures_are_send() {
        let disk: Arc<dyn BlockIo> = Arc::new(MemDisk::new(alloc::vec![0; 4096]));
        is_send(&Ext2::mount(disk, MountOptions::default()));
        let fs: Option<Arc<Ext2>> = None;
        if let Some(fs) = fs {
            let mut buf = [0u8; 4];
            is_send(&fs.read(2, 0, &mut buf));
            is_send(&fs.write(2, 0, b"x"));
            is_send(&fs.readdir(2, 0, &mut |_| true));
            is_send(&fs.rename(2, b"a", 2, b"b", 0));
            is_send(&fs.create(2, b"a", NodeKind::File, 0o644, 0, 0));
            is_send(&fs.xattr_set(2, b"user.a", b"", XattrSet::Any));
            is_send(&fs.truncate(2, 0));
            is_send(&fs.unmount());
        }
    }
}
