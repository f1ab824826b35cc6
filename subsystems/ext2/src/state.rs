//! The mounted file system's state: geometry, the superblock and group descriptors,
//! a bounded block cache, allocation, inodes and the block map of files. Everything
//! here runs under the file system's one async lock.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};

use crate::dirindex::DirIndexes;
use crate::disk::{self, gd, le16, le32, put16, put32, sb};
use crate::inode::Inode;
use crate::io::{BlockIo, BoxFuture, SECTOR};
use crate::names::NameCache;

/// Blocks the cache holds at least (bitmaps, inode tables, indirect and directory
/// blocks; file data passes through uncached).
pub(crate) const CACHE_BLOCKS: usize = 256;
/// Bytes of blocks the cache holds at most, when that is more than
/// [`CACHE_BLOCKS`] blocks: a batch of creates or unlinks keeps every inode table
/// and directory block it changed here until it is written.
pub(crate) const CACHE_BYTES: usize = 4 << 20;
/// Bytes of an inode table read in one request ([`State::read_meta`]).
const INODE_READ_AHEAD: usize = 64 << 10;

/// Which operations' changes the cache holds unwritten (see [`State::begin`]).
/// A batch holds only changes that go one way — things made, or things
/// taken away — so one order of block kinds is right for every change in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batch {
    /// None: inode table and directory blocks are written as they change.
    None,
    /// Creates of inodes without blocks: bitmaps, then inode table blocks, then
    /// directory blocks reach the disk (a bit before its inode, an inode before
    /// the name that names it).
    Alloc,
    /// Unlinks: directory blocks, then inode table blocks, then bitmaps (a name
    /// goes before its inode's count drops, an inode is written deleted before
    /// its bit and its blocks' bits clear).
    Free,
}

/// How the file system is laid out (from the superblock, fixed while mounted).
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub bs: usize,
    pub blocks_count: u32,
    pub first_data_block: u32,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    pub inodes_count: u32,
    pub inode_size: usize,
    pub first_ino: u32,
    pub groups: u32,
    pub gdt_blocks: u32,
    pub itb_per_group: u32,
    /// Block pointers per indirect block.
    pub ppb: u64,
    pub filetype: bool,
    pub sparse_super: bool,
    /// i_extra_isize for new inodes (0 with 128-byte inodes).
    pub new_extra_isize: u16,
    pub max_file_size: u64,
}

impl Geometry {
    pub fn sectors_per_block(&self) -> u64 {
        (self.bs / SECTOR) as u64
    }
    pub fn group_first_block(&self, g: u32) -> u32 {
        self.first_data_block + g * self.blocks_per_group
    }
    /// Blocks in group `g` (the last group may be short).
    pub fn group_blocks(&self, g: u32) -> u32 {
        (self.blocks_count - self.group_first_block(g)).min(self.blocks_per_group)
    }
    pub fn group_of_block(&self, b: u32) -> u32 {
        (b.saturating_sub(self.first_data_block) / self.blocks_per_group).min(self.groups - 1)
    }
    pub fn group_of_ino(&self, ino: u32) -> u32 {
        (ino - 1) / self.inodes_per_group
    }
    /// Whether `b` may be a block pointer (data, indirect or xattr block).
    pub fn valid_block(&self, b: u32) -> bool {
        b >= self.first_data_block && b < self.blocks_count && b != 0
    }
}

struct CacheEntry {
    data: Vec<u8>,
    /// Changed in memory and not yet written: [`CLEAN`], [`BITMAP`], or an indirect
    /// block's height ([`pointer_class`]). Dirty blocks are written class by class in
    /// increasing order, so a bitmap reaches the disk before any indirect block
    /// pointing at what it allocated, and an indirect block before its parent.
    dirty: u8,
    used: u64,
}

const CLEAN: u8 = 0;
const BITMAP: u8 = 1;
/// An inode table block changed by a batched operation (after the pointer classes).
pub(crate) const INODES: u8 = 5;
/// A directory block changed by a batched operation.
pub(crate) const DIRENTS: u8 = 6;

/// The dirty class of an indirect block `height` levels above the data (1: it points
/// at data blocks).
fn pointer_class(height: usize) -> u8 {
    1 + height as u8
}

/// Where one level of the block map leads for a logical block.
pub(crate) struct MapPath {
    /// The i_block slot: 0..12 direct, 12/13/14 single/double/triple indirect.
    pub slot: usize,
    /// Index in each indirect block on the way down.
    pub idx: [u64; 3],
    pub depth: usize,
}

/// Clear bits in `bits[..n]` (bit i of byte i / 8, from the low bit).
fn count_zero(bits: &[u8], n: usize) -> usize {
    let n = n.min(bits.len() * 8);
    let full = bits[..n / 8]
        .iter()
        .map(|b| b.count_zeros() as usize)
        .sum::<usize>();
    let rest = (n / 8 * 8..n)
        .filter(|&i| bits[i / 8] & (1 << (i % 8)) == 0)
        .count();
    full + rest
}

pub(crate) struct State {
    pub dev: Arc<dyn BlockIo>,
    pub geo: Geometry,
    /// The superblock's 1024 bytes, edited in place.
    pub sb: Vec<u8>,
    /// Changed where the order of writes matters (the orphan list head, feature
    /// flags): written at the end of the operation.
    pub sb_dirty: bool,
    /// Only its free counts changed: written with the group descriptors by
    /// [`State::commit_all`] (sync, the flusher's rounds, unmount), or with the
    /// next superblock write. A crash in between leaves counts that `e2fsck -p`
    /// corrects, as it does after any crash; the bitmaps say what is free.
    pub counts_dirty: bool,
    /// The group descriptor table, all of its blocks.
    pub gdt: Vec<u8>,
    /// Blocks of it whose counts changed (written by [`State::commit_all`]).
    pub gdt_dirty: BTreeSet<u32>,
    /// A directory count changed: the group descriptors are written at the end of
    /// the operation.
    dirs_changed: bool,
    cache: BTreeMap<u32, CacheEntry>,
    /// Some cached block may be dirty (false: none is).
    maybe_dirty: bool,
    tick: u64,
    pub read_only: bool,
    /// s_state as found at mount: written back at a clean unmount, so a file system
    /// that was not clean (or had errors) stays marked for e2fsck, as Linux does.
    pub mount_state: u16,
    next_generation: u32,
    /// In-memory references to inodes (see [`crate::Ext2::hold`]), shared with the
    /// lock-free side of the file system.
    pub holds: Arc<spin::Mutex<BTreeMap<u32, usize>>>,
    /// In-memory indexes of large directories ([`crate::dirindex`]).
    pub dindex: DirIndexes,
    /// The name cache ([`crate::names`]), shared with the lock-free side of the
    /// file system: changed only under this lock.
    pub names: Arc<spin::Mutex<NameCache>>,
    /// Inodes that lost their last name while held, not yet on the on-disk
    /// orphan list (see `drop_last_link`).
    pub pending_orphans: BTreeSet<u32>,
    /// A block was freed since the last ordered write: the next data write is
    /// ordered too (see [`State::dev_write_data`]).
    freed_since_ordered: bool,
    /// The batch the dirty blocks belong to ([`State::begin`]).
    pub batch: Batch,
    /// How many blocks the cache keeps.
    cache_blocks: usize,
}

impl State {
    pub fn new(
        dev: Arc<dyn BlockIo>,
        geo: Geometry,
        sb: Vec<u8>,
        gdt: Vec<u8>,
        read_only: bool,
        holds: Arc<spin::Mutex<BTreeMap<u32, usize>>>,
    ) -> Self {
        let next_generation = le32(&sb, sb::WTIME) ^ le32(&sb, sb::UUID);
        let mount_state = le16(&sb, sb::STATE);
        let cache_blocks = CACHE_BLOCKS.max(CACHE_BYTES / geo.bs.max(1));
        Self {
            dev,
            geo,
            sb,
            sb_dirty: false,
            counts_dirty: false,
            gdt,
            gdt_dirty: BTreeSet::new(),
            dirs_changed: false,
            cache: BTreeMap::new(),
            maybe_dirty: false,
            tick: 0,
            read_only,
            mount_state,
            next_generation,
            holds,
            dindex: DirIndexes::default(),
            names: Arc::new(spin::Mutex::new(NameCache::default())),
            pending_orphans: BTreeSet::new(),
            freed_since_ordered: false,
            batch: Batch::None,
            cache_blocks,
        }
    }

    pub fn check_rw(&self) -> KResult<()> {
        if self.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    pub fn bs(&self) -> usize {
        self.geo.bs
    }

    // ---- raw block I/O -------------------------------------------------------------

    pub async fn dev_read(&self, blk: u32, buf: &mut [u8]) -> KResult<()> {
        self.dev
            .read(u64::from(blk) * self.geo.sectors_per_block(), buf)
            .await
    }

    /// Reads file content: a cache below keeps none of what it reads for this.
    pub async fn dev_read_data(&self, blk: u32, buf: &mut [u8]) -> KResult<()> {
        self.dev
            .read_data(u64::from(blk) * self.geo.sectors_per_block(), buf)
            .await
    }

    /// An ordered write (see [`BlockIo`]): durable after everything written before.
    async fn dev_write(&mut self, blk: u32, data: &[u8]) -> KResult<()> {
        self.dev
            .write(u64::from(blk) * self.geo.sectors_per_block(), data)
            .await?;
        self.freed_since_ordered = false;
        Ok(())
    }

    /// A write of file data or of a new block's first content: unordered (it may
    /// reach the disk before the ordered write issued last, and the unordered ones
    /// since), as nothing on the disk reads it until a later ordered write points at
    /// it. Except right after a block was freed: the ordered write that cleared the
    /// last pointer to a freed block may still be the newest, and the block's new
    /// content must not reach the disk before it (the old owner would see it, as an
    /// indirect or directory block perhaps), so that write is ordered.
    async fn dev_write_data(&mut self, blk: u32, data: &[u8]) -> KResult<()> {
        if self.freed_since_ordered {
            return self.dev_write(blk, data).await;
        }
        self.dev
            .write_data(u64::from(blk) * self.geo.sectors_per_block(), data)
            .await
    }

    /// Block `blk` through the cache.
    pub async fn block(&mut self, blk: u32) -> KResult<&mut Vec<u8>> {
        if !self.cache.contains_key(&blk) {
            let data = self.read_meta(blk).await?;
            self.insert(blk, data, CLEAN).await?;
        }
        self.tick += 1;
        let tick = self.tick;
        let e = self.cache.get_mut(&blk).ok_or(Errno::EIO)?;
        e.used = tick;
        Ok(&mut e.data)
    }

    /// Reads metadata block `blk` from the disk. An inode table block is read
    /// with the ones after it in its table (up to [`INODE_READ_AHEAD`] bytes in
    /// one request) when the disk does not have the next one cached: creates
    /// walk the table block by block, and the disk's cache (the kernel's block
    /// cache) keeps what this cache does not take yet.
    async fn read_meta(&mut self, blk: u32) -> KResult<Vec<u8>> {
        let bs = self.bs();
        let spb = self.geo.sectors_per_block();
        let g = self.geo.group_of_block(blk);
        let table = self.gd32(g, gd::INODE_TABLE);
        let end = table.saturating_add(self.geo.itb_per_group);
        let ahead = (INODE_READ_AHEAD / bs).max(1) as u32;
        let run = if blk >= table && blk < end && self.geo.valid_block(end - 1) {
            (end - blk).min(ahead)
        } else {
            1
        };
        if run > 1 && !self.dev.cached(u64::from(blk + 1) * spb, spb) {
            let mut buf = Vec::new();
            buf.try_reserve_exact(run as usize * bs)
                .map_err(|_| Errno::ENOMEM)?;
            buf.resize(run as usize * bs, 0);
            self.dev_read(blk, &mut buf).await?;
            buf.truncate(bs);
            return Ok(buf);
        }
        let mut data = vec![0u8; bs];
        self.dev_read(blk, &mut data).await?;
        Ok(data)
    }

    /// Puts a block in the cache, first making room (a dirty victim is written with
    /// everything it depends on: all dirty blocks, in order).
    async fn insert(&mut self, blk: u32, data: Vec<u8>, dirty: u8) -> KResult<()> {
        if !self.cache.contains_key(&blk) && self.cache.len() >= self.cache_blocks {
            let victim = self
                .cache
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(&b, e)| (b, e.dirty));
            if let Some((vb, vdirty)) = victim {
                if vdirty != CLEAN {
                    self.flush_dirty().await?;
                }
                self.cache.remove(&vb);
            }
        }
        self.tick += 1;
        self.maybe_dirty |= dirty != CLEAN;
        self.cache.insert(
            blk,
            CacheEntry {
                data,
                dirty,
                used: self.tick,
            },
        );
        Ok(())
    }

    /// Where blocks of dirty class `class` go in the order of writes: by class
    /// (bitmaps, indirect blocks from the bottom level up, inode tables, directory
    /// blocks), except in a batch of unlinks, which takes things away in the
    /// opposite order (directory blocks, inode tables, bitmaps).
    fn write_rank(&self, class: u8) -> u8 {
        match (self.batch, class) {
            (Batch::Free, DIRENTS) => 0,
            (Batch::Free, INODES) => 1,
            (Batch::Free, BITMAP) => 2,
            (Batch::Free, c) => 3 + c,
            (_, c) => c,
        }
    }

    /// Writes every dirty block, kind after kind in the order of
    /// [`State::write_rank`]: bitmaps first, then indirect blocks from the bottom
    /// level up (then, for a batch, inode tables and directory blocks). Called
    /// before any other metadata block is written, so an allocation always
    /// reaches the disk before the pointer to what it allocated. The first block
    /// of each kind is an ordered write and the others of its kind join its epoch
    /// (unordered: no block of one kind depends on another of the same kind), so
    /// a batch of thousands of creates reaches the disk as three epochs, its inode
    /// table blocks merged into large requests.
    pub async fn flush_dirty(&mut self) -> KResult<()> {
        // Every metadata write comes here first: most find nothing dirty, and need
        // not look through the whole cache to know it.
        if !self.maybe_dirty {
            return Ok(());
        }
        let mut dirty: Vec<(u8, u32)> = self
            .cache
            .iter()
            .filter(|(_, e)| e.dirty != CLEAN)
            .map(|(&b, e)| (self.write_rank(e.dirty), b))
            .collect();
        dirty.sort_unstable();
        let mut last_rank = None;
        for (rank, b) in dirty {
            let d = self.cache[&b].data.clone();
            if last_rank == Some(rank) {
                self.dev
                    .write_unordered(u64::from(b) * self.geo.sectors_per_block(), &d)
                    .await?;
            } else {
                self.dev_write(b, &d).await?;
            }
            last_rank = Some(rank);
            if let Some(e) = self.cache.get_mut(&b) {
                e.dirty = CLEAN;
            }
        }
        self.maybe_dirty = false;
        Ok(())
    }

    /// Starts an operation whose changes belong in `batch`. Creates (of inodes
    /// without blocks) and unlinks leave the inode table and directory blocks
    /// they change dirty in this cache instead of writing each at once: a batch
    /// of them is written by the next [`State::flush_dirty`] — when an operation
    /// of another kind begins (every other operation begins with
    /// [`Batch::None`]), when the cache needs room, at [`State::commit_all`]
    /// (the flusher's rounds every second, sync, fsync, unmount) — kind after
    /// kind in the batch's order. So a thousand creates in a directory cost a
    /// few dozen writes, not four thousand. A batch holds changes that all go
    /// one way, so that one order of kinds suits each of them, as the order of
    /// its own writes did: a crash leaves what it would have left after some
    /// operation of the batch, give or take what `e2fsck -p` repairs (bits set
    /// for inodes not yet written, zero-length inodes not yet named, counts).
    /// Anything else a batched operation needs to write (a directory growing by
    /// a block, an xattr block, the superblock) first ends the batch (writes
    /// it, in its order) and is written as before.
    pub async fn begin(&mut self, batch: Batch) -> KResult<()> {
        if self.batch != batch {
            self.flush_dirty().await?;
            self.batch = batch;
        }
        Ok(())
    }

    /// Marks a cached block dirty in class `class` (the higher class wins).
    pub(crate) fn mark_dirty(&mut self, blk: u32, class: u8) {
        if let Some(e) = self.cache.get_mut(&blk) {
            self.maybe_dirty |= class != CLEAN;
            e.dirty = e.dirty.max(class);
        }
    }

    /// Writes a metadata block (inode table, indirect, directory, xattr block) now,
    /// after any pending bitmap changes (and after the batch, which this ends).
    pub async fn write_meta(&mut self, blk: u32, data: Vec<u8>) -> KResult<()> {
        self.begin(Batch::None).await?;
        self.flush_dirty().await?;
        self.dev_write(blk, &data).await?;
        self.insert(blk, data, CLEAN).await?;
        // Written now: nothing older may overwrite it later.
        if let Some(e) = self.cache.get_mut(&blk) {
            e.dirty = CLEAN;
        }
        Ok(())
    }

    /// An inode table block (`class` [`INODES`]) or directory block
    /// ([`DIRENTS`]) changed: in a batch it stays dirty in the cache, written with
    /// the batch; otherwise it is written now ([`State::write_meta`]).
    pub async fn write_meta_as(&mut self, blk: u32, data: Vec<u8>, class: u8) -> KResult<()> {
        if self.batch == Batch::None {
            return self.write_meta(blk, data).await;
        }
        if let Some(e) = self.cache.get_mut(&blk) {
            e.data = data;
        } else {
            self.insert(blk, data, CLEAN).await?;
        }
        self.mark_dirty(blk, class);
        Ok(())
    }

    /// Writes file data, keeping a cached copy (if any) the same. Ends a batch
    /// first: the data of a new block (a directory's, growing) must not reach
    /// the disk before what its content names.
    pub async fn write_data(&mut self, blk: u32, data: &[u8]) -> KResult<()> {
        self.begin(Batch::None).await?;
        self.dev_write_data(blk, data).await?;
        if let Some(e) = self.cache.get_mut(&blk) {
            e.data.copy_from_slice(data);
        }
        Ok(())
    }

    /// Writes what the operation left in memory that must reach the disk now
    /// (a batch's dirty blocks wait: [`State::begin`]):
    /// bitmaps, then the group descriptors if a directory count changed (which
    /// nothing but a scan of every inode could recount), then the superblock if
    /// more than its counts changed. Free counts wait for [`State::commit_all`]:
    /// writing the group descriptors and the superblock after every create or
    /// unlink was a third of its writes; a mount after a crash recounts them from
    /// the bitmaps ([`State::recount_free`]).
    pub async fn commit(&mut self) -> KResult<()> {
        self.write_out(false).await
    }

    /// Writes everything the file system keeps in memory: bitmaps, then group
    /// descriptors, then the superblock.
    pub async fn commit_all(&mut self) -> KResult<()> {
        self.write_out(true).await
    }

    /// The group descriptors change only in their counts (free blocks, free
    /// inodes, directories), and a superblock whose only change is its free
    /// counts is the same: counts that a crash leaves wrong are what `e2fsck -p`
    /// fixes without asking, so these writes are unordered — they join the epoch
    /// of the bitmap or inode written just before instead of each waiting for the
    /// one before it (see [`BlockIo`]). A superblock with anything else changed
    /// (the orphan list, the state, features) is written ordered.
    async fn write_out(&mut self, all: bool) -> KResult<()> {
        if all {
            self.begin(Batch::None).await?;
            self.orphans_to_disk().await?;
        }
        if self.batch == Batch::None {
            self.flush_dirty().await?;
        }
        if all || self.dirs_changed {
            self.dirs_changed = false;
            let dirty: Vec<u32> = core::mem::take(&mut self.gdt_dirty).into_iter().collect();
            for i in dirty {
                let bs = self.bs();
                let start = i as usize * bs;
                let data = self.gdt[start..start + bs].to_vec();
                let blk = self.geo.first_data_block + 1 + i;
                self.dev
                    .write_unordered(u64::from(blk) * self.geo.sectors_per_block(), &data)
                    .await?;
            }
        }
        if self.sb_dirty {
            self.write_super().await?;
        } else if all && self.counts_dirty {
            self.counts_dirty = false;
            let sb = self.stamped_super();
            self.dev
                .write_unordered(disk::SUPERBLOCK_OFFSET / SECTOR as u64, &sb)
                .await?;
        }
        Ok(())
    }

    /// The superblock as it is written: with the time of this write.
    fn stamped_super(&mut self) -> Vec<u8> {
        let now = crate::now_secs();
        put32(&mut self.sb, sb::WTIME, now);
        self.sb.clone()
    }

    /// Writes the superblock, ordered (after the batch, which this ends).
    pub async fn write_super(&mut self) -> KResult<()> {
        self.begin(Batch::None).await?;
        self.sb_dirty = false;
        self.counts_dirty = false;
        let sb = self.stamped_super();
        self.dev
            .write(disk::SUPERBLOCK_OFFSET / SECTOR as u64, &sb)
            .await?;
        self.freed_since_ordered = false;
        Ok(())
    }

    // ---- group descriptors -----------------------------------------------------

    pub fn gd32(&self, g: u32, field: usize) -> u32 {
        le32(&self.gdt, g as usize * gd::SIZE + field)
    }
    pub fn gd16(&self, g: u32, field: usize) -> u16 {
        le16(&self.gdt, g as usize * gd::SIZE + field)
    }
    fn gd16_add(&mut self, g: u32, field: usize, delta: i32) {
        let off = g as usize * gd::SIZE + field;
        let v = (i32::from(le16(&self.gdt, off)) + delta).clamp(0, 0xffff);
        put16(&mut self.gdt, off, v as u16);
        self.dirs_changed |= field == gd::USED_DIRS;
        self.gdt_dirty
            .insert((g as usize * gd::SIZE / self.bs()) as u32);
    }
    fn sb32_add(&mut self, field: usize, delta: i64) {
        let v = (i64::from(le32(&self.sb, field)) + delta).max(0);
        put32(&mut self.sb, field, v as u32);
        self.counts_dirty = true;
    }

    /// Sets the free counts of the group descriptors and the superblock from the
    /// bitmaps, at the mount of a file system not cleanly unmounted: the counts
    /// are written only now and then ([`State::commit_all`]), so after a crash
    /// they may be behind what the bitmaps say.
    pub async fn recount_free(&mut self) -> KResult<()> {
        let geo = self.geo.clone();
        let (mut blocks, mut inodes) = (0u64, 0u64);
        for g in 0..geo.groups {
            let (bb, ib) = (
                self.gd32(g, gd::BLOCK_BITMAP),
                self.gd32(g, gd::INODE_BITMAP),
            );
            if !geo.valid_block(bb) || !geo.valid_block(ib) {
                return Err(Errno::EUCLEAN);
            }
            let fb = count_zero(self.block(bb).await?, geo.group_blocks(g) as usize);
            let fi = count_zero(self.block(ib).await?, geo.inodes_per_group as usize);
            for (field, free) in [(gd::FREE_BLOCKS, fb), (gd::FREE_INODES, fi)] {
                let v = free.min(0xffff) as u16;
                if self.gd16(g, field) != v {
                    put16(&mut self.gdt, g as usize * gd::SIZE + field, v);
                    self.gdt_dirty
                        .insert((g as usize * gd::SIZE / self.bs()) as u32);
                }
            }
            blocks += fb as u64;
            inodes += fi as u64;
        }
        for (field, free) in [
            (sb::FREE_BLOCKS_COUNT, blocks),
            (sb::FREE_INODES_COUNT, inodes),
        ] {
            let v = free.min(u64::from(u32::MAX)) as u32;
            if le32(&self.sb, field) != v {
                put32(&mut self.sb, field, v);
                self.counts_dirty = true;
            }
        }
        Ok(())
    }

    // ---- allocation --------------------------------------------------------------

    /// Finds a clear bit in `bits[..n]`, from `start` on and then from the beginning.
    fn find_zero(bits: &[u8], n: usize, start: usize) -> Option<usize> {
        let scan = |from: usize, to: usize| -> Option<usize> {
            let mut i = from;
            while i < to {
                if i.is_multiple_of(8) && i + 8 <= to && bits[i / 8] == 0xff {
                    i += 8;
                    continue;
                }
                if bits[i / 8] & (1 << (i % 8)) == 0 {
                    return Some(i);
                }
                i += 1;
            }
            None
        };
        let start = start.min(n);
        scan(start, n).or_else(|| scan(0, start))
    }

    /// Allocates a block, near `goal` when it can: sets its bit (the bitmap is
    /// written before anything can point at the block) and the free counts.
    pub async fn alloc_block(&mut self, goal: u32) -> KResult<u32> {
        self.check_rw()?;
        if self.batch == Batch::Free {
            self.begin(Batch::None).await?;
        }
        let geo = self.geo.clone();
        let goal = if geo.valid_block(goal) {
            goal
        } else {
            geo.first_data_block
        };
        let g0 = geo.group_of_block(goal);
        for i in 0..geo.groups {
            let g = (g0 + i) % geo.groups;
            if self.gd16(g, gd::FREE_BLOCKS) == 0 {
                continue;
            }
            let bitmap = self.gd32(g, gd::BLOCK_BITMAP);
            if !geo.valid_block(bitmap) {
                return Err(Errno::EUCLEAN);
            }
            let n = geo.group_blocks(g) as usize;
            let start = if i == 0 {
                (goal - geo.group_first_block(g)) as usize
            } else {
                0
            };
            let bits = self.block(bitmap).await?;
            let Some(bit) = Self::find_zero(bits, n, start) else {
                continue;
            };
            bits[bit / 8] |= 1 << (bit % 8);
            self.mark_dirty(bitmap, BITMAP);
            self.gd16_add(g, gd::FREE_BLOCKS, -1);
            self.sb32_add(sb::FREE_BLOCKS_COUNT, -1);
            return Ok(geo.group_first_block(g) + bit as u32);
        }
        Err(Errno::ENOSPC)
    }

    /// Frees a block: only once nothing on disk points at it any more.
    pub async fn free_block(&mut self, b: u32) -> KResult<()> {
        if !self.geo.valid_block(b) {
            return Err(Errno::EUCLEAN);
        }
        if self.batch == Batch::Alloc {
            self.begin(Batch::None).await?;
        }
        let g = self.geo.group_of_block(b);
        let bit = (b - self.geo.group_first_block(g)) as usize;
        let bitmap = self.gd32(g, gd::BLOCK_BITMAP);
        if !self.geo.valid_block(bitmap) {
            return Err(Errno::EUCLEAN);
        }
        let bits = self.block(bitmap).await?;
        if bits[bit / 8] & (1 << (bit % 8)) == 0 {
            return Ok(()); // already free: never count it twice
        }
        bits[bit / 8] &= !(1 << (bit % 8));
        self.mark_dirty(bitmap, BITMAP);
        self.freed_since_ordered = true;
        self.gd16_add(g, gd::FREE_BLOCKS, 1);
        self.sb32_add(sb::FREE_BLOCKS_COUNT, 1);
        Ok(())
    }

    /// Allocates an inode: directories go to a group with more free inodes than
    /// average and the most free blocks (spreading the tree), other files to their
    /// parent's group first.
    pub async fn alloc_inode(&mut self, parent: u32, is_dir: bool) -> KResult<u32> {
        self.check_rw()?;
        if self.batch == Batch::Free {
            self.begin(Batch::None).await?;
        }
        let geo = self.geo.clone();
        let mut order: Vec<u32> = Vec::with_capacity(geo.groups as usize);
        let pg = if parent >= 1 && parent <= geo.inodes_count {
            geo.group_of_ino(parent)
        } else {
            0
        };
        if is_dir {
            let total: u64 = (0..geo.groups)
                .map(|g| u64::from(self.gd16(g, gd::FREE_INODES)))
                .sum();
            let avg = total / u64::from(geo.groups);
            let best = (0..geo.groups)
                .filter(|&g| {
                    let f = u64::from(self.gd16(g, gd::FREE_INODES));
                    f > 0 && f >= avg
                })
                .max_by_key(|&g| (self.gd16(g, gd::FREE_BLOCKS), core::cmp::Reverse(g)));
            if let Some(b) = best {
                order.push(b);
            }
        }
        order.extend((0..geo.groups).map(|i| (pg + i) % geo.groups));
        for g in order {
            if self.gd16(g, gd::FREE_INODES) == 0 {
                continue;
            }
            let bitmap = self.gd32(g, gd::INODE_BITMAP);
            if !geo.valid_block(bitmap) {
                return Err(Errno::EUCLEAN);
            }
            let n = geo.inodes_per_group as usize;
            // Reserved inodes (below s_first_ino) are never handed out.
            let start = if g == 0 {
                (geo.first_ino - 1) as usize
            } else {
                0
            };
            let bits = self.block(bitmap).await?;
            let Some(bit) = Self::find_zero(bits, n, start) else {
                continue;
            };
            let ino = g * geo.inodes_per_group + bit as u32 + 1;
            if ino < geo.first_ino {
                continue;
            }
            bits[bit / 8] |= 1 << (bit % 8);
            self.mark_dirty(bitmap, BITMAP);
            self.gd16_add(g, gd::FREE_INODES, -1);
            if is_dir {
                self.gd16_add(g, gd::USED_DIRS, 1);
            }
            self.sb32_add(sb::FREE_INODES_COUNT, -1);
            return Ok(ino);
        }
        Err(Errno::ENOSPC)
    }

    /// Clears an inode's bit (after the inode itself says it is deleted).
    pub async fn free_inode_bit(&mut self, ino: u32, was_dir: bool) -> KResult<()> {
        if self.batch == Batch::Alloc {
            self.begin(Batch::None).await?;
        }
        let g = self.geo.group_of_ino(ino);
        let bit = ((ino - 1) % self.geo.inodes_per_group) as usize;
        let bitmap = self.gd32(g, gd::INODE_BITMAP);
        if !self.geo.valid_block(bitmap) {
            return Err(Errno::EUCLEAN);
        }
        let bits = self.block(bitmap).await?;
        if bits[bit / 8] & (1 << (bit % 8)) == 0 {
            return Ok(());
        }
        bits[bit / 8] &= !(1 << (bit % 8));
        self.mark_dirty(bitmap, BITMAP);
        self.gd16_add(g, gd::FREE_INODES, 1);
        if was_dir {
            self.gd16_add(g, gd::USED_DIRS, -1);
        }
        self.sb32_add(sb::FREE_INODES_COUNT, 1);
        Ok(())
    }

    pub fn new_generation(&mut self) -> u32 {
        self.next_generation = self.next_generation.wrapping_add(1);
        self.next_generation
    }

    // ---- inodes ------------------------------------------------------------------

    /// Where inode `ino` lives: (block, byte offset in it).
    fn inode_location(&self, ino: u32) -> KResult<(u32, usize)> {
        if ino == 0 || ino > self.geo.inodes_count {
            return Err(Errno::EUCLEAN);
        }
        let g = self.geo.group_of_ino(ino);
        let index = ((ino - 1) % self.geo.inodes_per_group) as usize;
        let table = self.gd32(g, gd::INODE_TABLE);
        let byte = index * self.geo.inode_size;
        let blk = table + (byte / self.bs()) as u32;
        if !self.geo.valid_block(table) || !self.geo.valid_block(blk) {
            return Err(Errno::EUCLEAN);
        }
        Ok((blk, byte % self.bs()))
    }

    pub async fn read_inode(&mut self, ino: u32) -> KResult<Inode> {
        let (blk, off) = self.inode_location(ino)?;
        let isz = self.geo.inode_size;
        let data = self.block(blk).await?;
        Ok(Inode {
            num: ino,
            raw: data[off..off + isz].to_vec(),
        })
    }

    /// Inode `ino` if the block holding it is in the cache (no disk read).
    pub fn cached_inode(&self, ino: u32) -> Option<Inode> {
        let (blk, off) = self.inode_location(ino).ok()?;
        let data = &self.cache.get(&blk)?.data;
        Some(Inode {
            num: ino,
            raw: data.get(off..off + self.geo.inode_size)?.to_vec(),
        })
    }

    /// Reads an inode that a directory entry names: it must be in use.
    pub async fn read_live_inode(&mut self, ino: u32) -> KResult<Inode> {
        let i = self.read_inode(ino).await?;
        if i.mode() == 0 {
            return Err(Errno::EUCLEAN);
        }
        Ok(i)
    }

    pub async fn write_inode(&mut self, inode: &Inode) -> KResult<()> {
        self.check_rw()?;
        let (blk, off) = self.inode_location(inode.num)?;
        if self.batch != Batch::None {
            let data = self.block(blk).await?;
            data[off..off + inode.raw.len()].copy_from_slice(&inode.raw);
            self.mark_dirty(blk, INODES);
            return Ok(());
        }
        let mut data = self.block(blk).await?.clone();
        data[off..off + inode.raw.len()].copy_from_slice(&inode.raw);
        self.write_meta(blk, data).await
    }

    /// A zeroed inode to be filled in for a new file.
    pub fn blank_inode(&mut self, ino: u32) -> Inode {
        let mut i = Inode {
            num: ino,
            raw: vec![0; self.geo.inode_size],
        };
        if self.geo.inode_size > disk::GOOD_OLD_INODE_SIZE {
            put16(&mut i.raw, disk::ino::EXTRA_ISIZE, self.geo.new_extra_isize);
        }
        let g = self.new_generation();
        i.set_generation(g);
        i
    }

    // ---- the block map -------------------------------------------------------------

    pub fn map_path(&self, lblk: u64) -> KResult<MapPath> {
        let p = self.geo.ppb;
        let nd = disk::NDIR_BLOCKS as u64;
        if lblk < nd {
            return Ok(MapPath {
                slot: lblk as usize,
                idx: [0; 3],
                depth: 0,
            });
        }
        let mut l = lblk - nd;
        if l < p {
            return Ok(MapPath {
                slot: disk::IND_BLOCK,
                idx: [l, 0, 0],
                depth: 1,
            });
        }
        l -= p;
        if l < p * p {
            return Ok(MapPath {
                slot: disk::DIND_BLOCK,
                idx: [l / p, l % p, 0],
                depth: 2,
            });
        }
        l -= p * p;
        if l < p * p * p {
            return Ok(MapPath {
                slot: disk::TIND_BLOCK,
                idx: [l / (p * p), (l / p) % p, l % p],
                depth: 3,
            });
        }
        Err(Errno::EFBIG)
    }

    /// The block holding logical block `lblk` of the file, or 0 for a hole.
    pub async fn bmap(&mut self, inode: &Inode, lblk: u64) -> KResult<u32> {
        let path = self.map_path(lblk)?;
        let mut ptr = inode.block(path.slot);
        for level in 0..path.depth {
            if ptr == 0 {
                return Ok(0);
            }
            if !self.geo.valid_block(ptr) {
                return Err(Errno::EUCLEAN);
            }
            let idx = path.idx[level] as usize;
            ptr = le32(self.block(ptr).await?, idx * 4);
        }
        if ptr != 0 && !self.geo.valid_block(ptr) {
            return Err(Errno::EUCLEAN);
        }
        Ok(ptr)
    }

    /// A goal for allocating logical block `lblk`: just after the block before it,
    /// or the start of the inode's group.
    pub async fn goal_for(&mut self, inode: &Inode, lblk: u64) -> u32 {
        if lblk > 0
            && let Ok(prev) = self.bmap(inode, lblk - 1).await
            && prev != 0
        {
            return prev + 1;
        }
        let g = self.geo.group_of_ino(inode.num);
        self.gd32(g, gd::INODE_TABLE) + self.geo.itb_per_group
    }

    /// Makes logical block `lblk` exist: allocates the missing indirect blocks and
    /// the data block, whose first content is `init` (zeros if `None`), written at
    /// once. New and changed indirect blocks stay dirty in the cache and are written
    /// (after the bitmaps, children before parents) before the next other metadata
    /// write; pointers in the inode itself change only in `inode`, which the caller
    /// writes. Returns the block and whether it is new.
    pub async fn bmap_alloc(
        &mut self,
        inode: &mut Inode,
        lblk: u64,
        goal: &mut u32,
        init: Option<&[u8]>,
    ) -> KResult<(u32, bool)> {
        let path = self.map_path(lblk)?;
        let bs = self.bs();
        let spb = (bs / SECTOR) as i64;
        let mut ptr = inode.block(path.slot);
        if ptr == 0 {
            let b = self.alloc_block(*goal).await?;
            *goal = b + 1;
            if path.depth == 0 {
                self.write_new_data(b, init).await?;
                inode.set_block(path.slot, b);
                inode.add_sectors(spb);
                return Ok((b, true));
            }
            self.new_indirect(b, path.depth).await?;
            inode.set_block(path.slot, b);
            inode.add_sectors(spb);
            ptr = b;
        } else if !self.geo.valid_block(ptr) {
            return Err(Errno::EUCLEAN);
        } else if path.depth == 0 {
            return Ok((ptr, false));
        }
        for level in 0..path.depth {
            let idx = path.idx[level] as usize;
            let height = path.depth - level;
            let child = le32(self.block(ptr).await?, idx * 4);
            if child != 0 {
                if !self.geo.valid_block(child) {
                    return Err(Errno::EUCLEAN);
                }
                if height == 1 {
                    return Ok((child, false));
                }
                ptr = child;
                continue;
            }
            let b = self.alloc_block(*goal).await?;
            *goal = b + 1;
            if height == 1 {
                self.write_new_data(b, init).await?;
            } else {
                self.new_indirect(b, height - 1).await?;
            }
            put32(self.block(ptr).await?, idx * 4, b);
            self.mark_dirty(ptr, pointer_class(height));
            inode.add_sectors(spb);
            if height == 1 {
                return Ok((b, true));
            }
            ptr = b;
        }
        Err(Errno::EUCLEAN)
    }

    /// The first content of a new data block.
    async fn write_new_data(&mut self, b: u32, init: Option<&[u8]>) -> KResult<()> {
        match init {
            Some(d) => self.write_data(b, d).await,
            None => {
                let zeros = vec![0u8; self.bs()];
                self.write_data(b, &zeros).await
            }
        }
    }

    /// A new, zeroed indirect block `height` levels above the data, dirty in the
    /// cache (written before anything pointing at it).
    async fn new_indirect(&mut self, b: u32, height: usize) -> KResult<()> {
        let zeros = vec![0u8; self.bs()];
        self.insert(b, zeros, pointer_class(height)).await?;
        self.mark_dirty(b, pointer_class(height));
        Ok(())
    }

    // ---- freeing blocks ------------------------------------------------------------

    /// Frees the logical blocks `[first, end)` of a file. Pointers are cleared on disk
    /// before the blocks they pointed at are freed: an indirect block is rewritten
    /// before its children are freed, and subtrees hanging off the inode are freed
    /// after the inode is written without them.
    pub async fn free_range(&mut self, inode: &mut Inode, first: u64, end: u64) -> KResult<()> {
        let p = self.geo.ppb;
        let spb = (self.bs() / SECTOR) as i64;
        let mut direct = Vec::new();
        let mut detached = Vec::new();
        for i in 0..disk::NDIR_BLOCKS {
            let l = i as u64;
            let b = inode.block(i);
            if b != 0 && l >= first && l < end {
                inode.set_block(i, 0);
                if self.geo.valid_block(b) {
                    direct.push(b);
                }
            }
        }
        let trees = [
            (disk::IND_BLOCK, 1u32, 12u64, p),
            (disk::DIND_BLOCK, 2, 12 + p, p * p),
            (disk::TIND_BLOCK, 3, 12 + p + p * p, p * p * p),
        ];
        let mut freed: i64 = 0;
        for (slot, depth, base, span) in trees {
            let b = inode.block(slot);
            if b == 0 || end <= base || first >= base + span {
                continue;
            }
            if !self.geo.valid_block(b) {
                inode.set_block(slot, 0);
                continue;
            }
            if first <= base && base + span <= end {
                inode.set_block(slot, 0);
                detached.push((b, depth));
            } else {
                freed += self.free_partial(b, depth, base, first, end).await?;
            }
        }
        inode.add_sectors(-(freed * spb));
        let mut count = direct.len() as i64;
        for &(b, depth) in &detached {
            count += self.count_tree(b, depth).await;
        }
        inode.add_sectors(-(count * spb));
        self.write_inode(inode).await?;
        for b in direct {
            self.free_block(b).await?;
        }
        for (b, depth) in detached {
            self.free_tree(b, depth).await?;
        }
        Ok(())
    }

    /// Blocks in the tree under `b` (itself included), for i_blocks.
    fn count_tree(&mut self, b: u32, depth: u32) -> BoxFuture<'_, i64> {
        Box::pin(async move {
            if depth == 0 {
                return 1;
            }
            let Ok(data) = self.block(b).await.map(|d| d.clone()) else {
                return 1;
            };
            let mut n = 1;
            for i in 0..self.geo.ppb as usize {
                let c = le32(&data, i * 4);
                if c != 0 && self.geo.valid_block(c) {
                    n += self.count_tree(c, depth - 1).await;
                }
            }
            n
        })
    }

    /// Frees a tree nothing points at any more.
    fn free_tree(&mut self, b: u32, depth: u32) -> BoxFuture<'_, KResult<()>> {
        Box::pin(async move {
            if depth > 0 {
                let data = self.block(b).await?.clone();
                for i in 0..self.geo.ppb as usize {
                    let c = le32(&data, i * 4);
                    if c != 0 && self.geo.valid_block(c) {
                        self.free_tree(c, depth - 1).await?;
                    }
                }
            }
            self.free_block(b).await
        })
    }

    /// Frees `[first, end)` under the indirect block `b` (covering logical blocks
    /// from `base`), which stays. Returns how many blocks were freed.
    fn free_partial(
        &mut self,
        b: u32,
        depth: u32,
        base: u64,
        first: u64,
        end: u64,
    ) -> BoxFuture<'_, KResult<i64>> {
        Box::pin(async move {
            let p = self.geo.ppb;
            let span = p.pow(depth - 1);
            let mut data = self.block(b).await?.clone();
            let mut whole = Vec::new();
            let mut partial = Vec::new();
            for i in 0..p {
                let cbase = base + i * span;
                if cbase >= end || cbase + span <= first {
                    continue;
                }
                let c = le32(&data, i as usize * 4);
                if c == 0 {
                    continue;
                }
                if !self.geo.valid_block(c) {
                    put32(&mut data, i as usize * 4, 0);
                    continue;
                }
                if first <= cbase && cbase + span <= end {
                    put32(&mut data, i as usize * 4, 0);
                    whole.push(c);
                } else {
                    partial.push((c, cbase));
                }
            }
            let mut freed = 0;
            for (c, cbase) in partial {
                freed += self.free_partial(c, depth - 1, cbase, first, end).await?;
            }
            if !whole.is_empty() {
                for &c in &whole {
                    freed += self.count_tree(c, depth - 1).await;
                }
                self.write_meta(b, data).await?;
                for c in whole {
                    self.free_tree(c, depth - 1).await?;
                }
            }
            Ok(freed)
        })
    }
}
