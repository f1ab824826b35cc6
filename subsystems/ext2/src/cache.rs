//! A block cache between a file system and its disk: a [`BlockIo`] over another
//! [`BlockIo`] that keeps recently used blocks in memory and writes behind, with
//! many writes in flight and the order a crash needs kept by *epochs*.
//!
//! * **Reads** are served from cached 4 KiB units (eight sectors, each with a valid
//!   bit); a miss reads the whole units it touches with one request. Misses take no
//!   lock: they go to the disk at once, alongside writeback and each other.
//! * **Writes** update the cached units and join a queue of pending writes; the
//!   caller goes on at once. The queue is a FIFO of **epochs**: every
//!   [`BlockIo::write`] (an *ordered* write) opens a new epoch, and every
//!   [`BlockIo::write_unordered`] joins the newest one. So the writes of one epoch
//!   are an ordered write and the unordered writes issued after it, before the next
//!   ordered one.
//! * **Merging**: an unordered write that starts where a write of its epoch ends, or
//!   ends where one starts, is merged into it (up to [`MAX_MERGE`] bytes), so a
//!   sequential file write reaches the disk as large requests; one that falls inside
//!   a write of its epoch replaces those bytes in place. No two writes of an epoch
//!   overlap (an unordered write that would partly overlap one opens an epoch of its
//!   own), so they can be on the disk together in any order. An ordered write that
//!   starts where the newest epoch's only write ends is merged into it (a request is
//!   taken to be atomic, as before epochs).
//! * **Writeback** ([`BlockCache::drain`]) takes the oldest epoch out of the queue,
//!   submits all its writes at once (up to [`DEPTH`] in flight), waits for all of
//!   them, then takes the next epoch. A crash can so leave any subset of one epoch's
//!   writes on the disk, with every earlier epoch whole and no later write: that is
//!   the contract ext2's crash-consistency ordering is written against (see the
//!   crate documentation). A unit with pending writes is pinned: it cannot be
//!   evicted before the disk has it. The kernel runs `drain` from a flusher task; a
//!   writer that finds more than the dirty cap pending drains first (back-pressure).
//! * **Flush** drains everything, then flushes the disk's own cache. An error of a
//!   write done behind the caller's back is kept and returned by the next flush
//!   (fsync, sync, unmount), as Linux reports writeback errors; the units it
//!   concerned stay pinned so that reads keep seeing what the file system wrote.
//! * **Memory** is capped: past the cap the least recently used units without
//!   pending writes are evicted.
//!
//! "Durable" here means what the disk has once a write completed: the cache waits
//! for an epoch's completions, not for a flush of the disk's volatile cache, between
//! epochs (as Linux's ext2, which has no barriers either). A QEMU killed with its
//! host still up keeps every completed write.
//!
//! No spin lock is held across an `.await`; one async lock makes writeback single
//! file (one epoch at a time).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::FifoLock;

use crate::io::{BlockIo, BoxFuture, SECTOR};

/// The most unit buffers kept for reuse (1 MiB).
const SPARE: usize = 256;
/// Sectors per cached unit.
const UNIT_SECTORS: u64 = 8;
/// Bytes per cached unit.
pub const UNIT: usize = UNIT_SECTORS as usize * SECTOR;
/// The largest request merging builds.
pub const MAX_MERGE: usize = 128 * 1024;
/// The most writes of an epoch in flight at once (virtio-blk keeps bounce buffers
/// for 32 requests; its queue holds far more).
pub const DEPTH: usize = 32;

struct Unit {
    data: alloc::boxed::Box<[u8; UNIT]>,
    /// Which of the eight sectors hold data (bit i: sector i of the unit).
    valid: u8,
    /// Pending writes that cover this unit.
    pinned: u32,
    /// Of those, the ones writeback has sent to the disk and not seen complete.
    writing: u32,
    /// When it was last used (for eviction).
    used: u64,
    /// The last write stored into it was file data ([`BlockIo::write_data`]):
    /// it goes once the disk has every write pending on it.
    file_data: bool,
}

/// What a write is to the cache.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Opens an epoch ([`BlockIo::write`]).
    Ordered,
    /// Joins the newest epoch ([`BlockIo::write_unordered`]).
    Unordered,
    /// File data: unordered, and its units go once written ([`BlockIo::write_data`]).
    Data,
}

struct Pending {
    sector: u64,
    data: Vec<u8>,
    /// The units it pins (once per sector range stored; duplicates allowed).
    units: Vec<u64>,
}

impl Pending {
    fn end(&self) -> u64 {
        self.sector + (self.data.len() / SECTOR) as u64
    }
}

/// Writes that may reach the disk in any order among themselves, by first sector;
/// no two overlap.
#[derive(Default)]
struct Epoch {
    writes: BTreeMap<u64, Pending>,
}

#[derive(Default)]
struct Inner {
    units: BTreeMap<u64, Unit>,
    /// Epochs not yet taken by writeback, oldest first.
    queue: VecDeque<Epoch>,
    /// Bytes queued or in flight.
    queued_bytes: usize,
    tick: u64,
    /// Bumped by every eviction: a read that raced one does not cache what it
    /// read (the unit it would fill may have held data newer than the disk's when
    /// the read was sent). A write that races a read needs nothing: filling never
    /// overwrites a sector already cached.
    evictions: u64,
    /// A writeback error not yet reported.
    error: Option<Errno>,
    /// Buffers of file-data units that went after writeback, for the next
    /// units (a sequential writer would otherwise allocate one per unit it
    /// writes); at most [`SPARE`].
    spare: Vec<alloc::boxed::Box<[u8; UNIT]>>,
    stats: Stats,
}

/// What the cache has done (for /proc and tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub disk_reads: u64,
    pub disk_writes: u64,
    pub merged: u64,
    pub evicted: u64,
    /// Units cached now.
    pub units: u64,
    /// Bytes waiting to be written (queued or in flight).
    pub dirty_bytes: u64,
    /// Epochs taken by writeback so far.
    pub epochs: u64,
    /// Requests (reads and writes) the cache has at the disk now.
    pub in_flight: u64,
    /// The most it ever had at once.
    pub max_in_flight: u64,
}

/// What [`BlockCache::residency`] found of a range of sectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Residency {
    /// Every sector is cached.
    pub cached: bool,
    /// Some sector has a write queued (not yet sent to the disk).
    pub dirty: bool,
    /// Some sector has a write at the disk now.
    pub writeback: bool,
}

/// A write-behind block cache over `disk` (see the module documentation).
pub struct BlockCache {
    disk: Arc<dyn BlockIo>,
    inner: spin::Mutex<Inner>,
    writeback: FifoLock,
    /// The most units kept.
    cap_units: usize,
    /// The most bytes pending before a writer waits for writeback.
    dirty_cap: usize,
}

impl BlockCache {
    /// A cache of at most `cap_bytes` of units (at least 64 units) over `disk`,
    /// letting up to `dirty_cap` bytes wait for writeback.
    pub fn new(disk: Arc<dyn BlockIo>, cap_bytes: usize, dirty_cap: usize) -> Self {
        Self {
            disk,
            inner: spin::Mutex::new(Inner::default()),
            writeback: FifoLock::new(),
            cap_units: (cap_bytes / UNIT).max(64),
            dirty_cap: dirty_cap.max(MAX_MERGE),
        }
    }

    /// What the cache has done so far.
    /// Drops every cached unit the disk has (no write pending): what
    /// /proc/sys/vm/drop_caches asks. Returns how many went.
    pub fn drop_clean(&self) -> usize {
        let mut i = self.inner.lock();
        let before = i.units.len();
        i.evict(0);
        before - i.units.len()
    }

    pub fn stats(&self) -> Stats {
        let i = self.inner.lock();
        Stats {
            units: i.units.len() as u64,
            dirty_bytes: i.queued_bytes as u64,
            ..i.stats
        }
    }

    /// What the cache holds of sectors `sector..sector + count` (cachestat(2)).
    pub fn residency(&self, sector: u64, count: u64) -> Residency {
        let i = self.inner.lock();
        let mut r = Residency {
            cached: true,
            dirty: false,
            writeback: false,
        };
        for s in sector..sector.saturating_add(count) {
            match i.units.get(&(s / UNIT_SECTORS)) {
                Some(u) if u.valid & (1 << (s % UNIT_SECTORS)) != 0 => {
                    r.dirty |= u.pinned > u.writing;
                    r.writeback |= u.writing > 0;
                }
                _ => r.cached = false,
            }
        }
        r
    }

    /// A count that changes whenever units went (evicted, or file data
    /// dropped after writeback): see [`BlockCache::fill_clean`].
    pub fn generation(&self) -> u64 {
        self.inner.lock().evictions
    }

    /// Caches `data` (whole sectors from `sector`) as the disk's content where
    /// nothing is cached yet, if no unit went since `*since`
    /// ([`BlockCache::generation`], updated here): content the caller had in
    /// memory when it took `since` that equals the disk's or a queued write's
    /// (the pages of a file whose inode went). A unit that went since may have
    /// held a newer write than the caller's copy, so then nothing is cached and
    /// false returned.
    pub fn fill_clean(&self, sector: u64, data: &[u8], since: &mut u64) -> bool {
        if self.check(sector, data.len()).is_err() {
            return false;
        }
        let mut i = self.inner.lock();
        if i.evictions != *since {
            return false;
        }
        i.fill(sector, data);
        i.evict(self.cap_units);
        *since = i.evictions;
        true
    }

    /// Whether writes wait to be written back.
    pub fn dirty(&self) -> bool {
        !self.inner.lock().queue.is_empty()
    }

    fn check(&self, sector: u64, len: usize) -> KResult<()> {
        if !len.is_multiple_of(SECTOR) {
            return Err(Errno::EINVAL);
        }
        let end = sector
            .checked_add((len / SECTOR) as u64)
            .ok_or(Errno::EIO)?;
        if end > self.disk.sectors() {
            return Err(Errno::EIO);
        }
        Ok(())
    }

    async fn read_cached(&self, sector: u64, buf: &mut [u8]) -> KResult<()> {
        self.check(sector, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        let n = (buf.len() / SECTOR) as u64;
        for attempt in 0..3 {
            let start = {
                let mut i = self.inner.lock();
                if i.copy_out(sector, buf, None) {
                    i.stats.hits += 1;
                    return Ok(());
                }
                i.stats.misses += 1;
                i.started();
                i.evictions
            };
            let first = sector / UNIT_SECTORS * UNIT_SECTORS;
            let last =
                ((sector + n).div_ceil(UNIT_SECTORS) * UNIT_SECTORS).min(self.disk.sectors());
            let mut tmp = Vec::new();
            let r = match tmp.try_reserve_exact(((last - first) as usize) * SECTOR) {
                Ok(()) => {
                    tmp.resize(((last - first) as usize) * SECTOR, 0);
                    self.disk.read(first, &mut tmp).await
                }
                Err(_) => Err(Errno::ENOMEM),
            };
            let mut i = self.inner.lock();
            i.stats.in_flight -= 1;
            r?;
            i.stats.disk_reads += 1;
            if i.evictions == start {
                i.fill(first, &tmp);
                i.copy_out(sector, buf, None);
                i.evict(self.cap_units);
                return Ok(());
            }
            if attempt == 2 {
                // Evictions keep racing this read: answer from what is cached,
                // the rest from the disk, and cache nothing.
                i.copy_out(sector, buf, Some((first, &tmp)));
                return Ok(());
            }
        }
        Ok(())
    }

    /// A read of file data ([`BlockIo::read_data`]): from the cache if it holds
    /// every sector; else straight from the disk into `buf`, with the sectors
    /// the cache holds (as new as the disk's, or newer: a write pending) put over
    /// what the disk gave, and nothing cached. A write-back that dropped units
    /// meanwhile (file data the disk now has) makes it read again.
    async fn read_uncached(&self, sector: u64, buf: &mut [u8]) -> KResult<()> {
        self.check(sector, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        for attempt in 0..3 {
            let start = {
                let mut i = self.inner.lock();
                if i.copy_out(sector, buf, None) {
                    i.stats.hits += 1;
                    return Ok(());
                }
                i.stats.misses += 1;
                i.started();
                i.evictions
            };
            let r = self.disk.read(sector, buf).await;
            let mut i = self.inner.lock();
            i.stats.in_flight -= 1;
            r?;
            i.stats.disk_reads += 1;
            i.overlay(sector, buf);
            if i.evictions == start || attempt == 2 {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn write_cached(&self, sector: u64, data: &[u8], kind: Kind) -> KResult<()> {
        self.check(sector, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        let mut copy = Vec::new();
        copy.try_reserve_exact(data.len())
            .map_err(|_| Errno::ENOMEM)?;
        copy.extend_from_slice(data);
        let over = {
            let mut i = self.inner.lock();
            let units = i.store(sector, data, kind == Kind::Data);
            let p = Pending {
                sector,
                data: copy,
                units,
            };
            if kind == Kind::Ordered {
                i.queue_ordered(p);
            } else {
                i.queue_unordered(p);
            }
            i.evict(self.cap_units);
            i.queued_bytes > self.dirty_cap
        };
        if over {
            self.drain().await;
        }
        Ok(())
    }

    /// Writes every pending write to the disk: epoch after epoch, oldest first,
    /// the writes of one epoch all at once (up to [`DEPTH`] in flight).
    /// Errors are kept for the next [`BlockIo::flush`].
    pub async fn drain(&self) {
        let _turn = self.writeback.lock().await;
        loop {
            let epoch = match self.inner.lock().queue.pop_front() {
                Some(e) => e,
                None => break,
            };
            let writes: Vec<Pending> = epoch.writes.into_values().collect();
            {
                let mut i = self.inner.lock();
                for u in writes.iter().flat_map(|p| &p.units) {
                    if let Some(unit) = i.units.get_mut(u) {
                        unit.writing += 1;
                    }
                }
            }
            let mut running = FuturesUnordered::new();
            let mut next = 0;
            loop {
                while running.len() < DEPTH && next < writes.len() {
                    let p = &writes[next];
                    self.inner.lock().started();
                    running.push(async move { (p, self.disk.write(p.sector, &p.data).await) });
                    next += 1;
                }
                let Some((p, r)) = running.next().await else {
                    break;
                };
                let mut i = self.inner.lock();
                i.stats.in_flight -= 1;
                i.queued_bytes -= p.data.len();
                i.stats.disk_writes += 1;
                for u in &p.units {
                    if let Some(unit) = i.units.get_mut(u) {
                        unit.writing -= 1;
                    }
                }
                match r {
                    Ok(()) => {
                        let mut dropped = false;
                        for u in &p.units {
                            if let Some(unit) = i.units.get_mut(u) {
                                unit.pinned -= 1;
                                if unit.pinned == 0
                                    && unit.file_data
                                    && let Some(gone) = i.units.remove(u)
                                {
                                    // The page cache above keeps file content.
                                    if i.spare.len() < SPARE {
                                        i.spare.push(gone.data);
                                    }
                                    dropped = true;
                                }
                            }
                        }
                        if dropped {
                            // A read that started before the disk had this
                            // write must not fill (or answer from) its old bytes.
                            i.evictions += 1;
                        }
                    }
                    // The units stay pinned: the cache goes on showing what the
                    // file system wrote, though the disk does not have it.
                    Err(e) => {
                        i.error.get_or_insert(e);
                    }
                }
            }
            self.inner.lock().stats.epochs += 1;
        }
    }

    async fn flush_all(&self) -> KResult<()> {
        self.drain().await;
        if let Some(e) = self.inner.lock().error.take() {
            return Err(e);
        }
        self.disk.flush().await
    }
}

impl Inner {
    /// Counts a request sent to the disk.
    fn started(&mut self) {
        self.stats.in_flight += 1;
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.stats.in_flight);
    }

    /// Queues an ordered write: after everything queued before it. It opens an
    /// epoch of its own, unless it continues the newest epoch's only write (one
    /// request, as if it had been issued whole).
    fn queue_ordered(&mut self, p: Pending) {
        self.queued_bytes += p.data.len();
        if let Some(e) = self.queue.back_mut()
            && e.writes.len() == 1
            && let Some(q) = e.writes.values_mut().next()
            && q.end() == p.sector
            && q.data.len() + p.data.len() <= MAX_MERGE
        {
            q.data.extend_from_slice(&p.data);
            q.units.extend(p.units);
            self.stats.merged += 1;
            return;
        }
        let mut e = Epoch::default();
        e.writes.insert(p.sector, p);
        self.queue.push_back(e);
    }

    /// Queues an unordered write in the newest epoch: merged with a write of that
    /// epoch it touches end to end, or into one it falls inside of; one that
    /// partly overlaps a write of the epoch opens a new epoch instead (two writes
    /// of one epoch never overlap: their order on the disk is any).
    fn queue_unordered(&mut self, p: Pending) {
        let Some(e) = self.queue.back_mut() else {
            return self.queue_ordered(p);
        };
        let (start, end, len) = (p.sector, p.end(), p.data.len());
        let before = e
            .writes
            .range(..=start)
            .next_back()
            .map(|(&s, q)| (s, q.end()));
        if let Some((s, q_end)) = before
            && q_end > start
        {
            if q_end < end {
                return self.queue_ordered(p);
            }
            // Inside a write of this epoch: its bytes change in place.
            let q = e.writes.get_mut(&s).expect("found above");
            let at = (start - s) as usize * SECTOR;
            q.data[at..at + len].copy_from_slice(&p.data);
            q.units.extend(p.units);
            self.stats.merged += 1;
            return;
        }
        if e.writes.range(start + 1..end).next().is_some() {
            return self.queue_ordered(p);
        }
        self.queued_bytes += len;
        if let Some((s, q_end)) = before
            && q_end == start
            && let Some(q) = e.writes.get_mut(&s)
            && q.data.len() + len <= MAX_MERGE
        {
            // Continues a write of the epoch.
            q.data.extend_from_slice(&p.data);
            q.units.extend(p.units);
            self.stats.merged += 1;
        } else if let Some(q) = e.writes.get(&end)
            && q.data.len() + len <= MAX_MERGE
        {
            // Ends where a write of the epoch starts.
            let mut q = e.writes.remove(&end).expect("found above");
            let mut data = p.data;
            data.append(&mut q.data);
            let mut units = p.units;
            units.append(&mut q.units);
            e.writes.insert(
                start,
                Pending {
                    sector: start,
                    data,
                    units,
                },
            );
            self.stats.merged += 1;
        } else {
            e.writes.insert(start, p);
        }
    }

    fn touch(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Copies sectors from `sector` into `buf` if every one is cached (or, with
    /// `fallback`, from that disk read where not); whether it could.
    fn copy_out(&mut self, sector: u64, buf: &mut [u8], fallback: Option<(u64, &[u8])>) -> bool {
        let now = self.touch();
        for (k, out) in buf.chunks_exact_mut(SECTOR).enumerate() {
            let s = sector + k as u64;
            let bit = 1u8 << (s % UNIT_SECTORS);
            match self.units.get_mut(&(s / UNIT_SECTORS)) {
                Some(u) if u.valid & bit != 0 => {
                    let o = (s % UNIT_SECTORS) as usize * SECTOR;
                    out.copy_from_slice(&u.data[o..o + SECTOR]);
                    u.used = now;
                }
                _ => match fallback {
                    Some((first, tmp)) => {
                        let o = (s - first) as usize * SECTOR;
                        out.copy_from_slice(&tmp[o..o + SECTOR]);
                    }
                    None => return false,
                },
            }
        }
        true
    }

    /// Copies the sectors cached of `sector..` over `buf`.
    fn overlay(&mut self, sector: u64, buf: &mut [u8]) {
        let n = (buf.len() / SECTOR) as u64;
        let first = sector / UNIT_SECTORS;
        let last = (sector + n).div_ceil(UNIT_SECTORS);
        for (&idx, u) in self.units.range(first..last) {
            for k in 0..UNIT_SECTORS {
                let s = idx * UNIT_SECTORS + k;
                if s < sector || s >= sector + n || u.valid & (1 << k) == 0 {
                    continue;
                }
                let o = k as usize * SECTOR;
                let at = (s - sector) as usize * SECTOR;
                buf[at..at + SECTOR].copy_from_slice(&u.data[o..o + SECTOR]);
            }
        }
    }

    /// Caches what a disk read of whole units from `first` returned, without
    /// touching sectors already cached (they may be newer).
    fn fill(&mut self, first: u64, tmp: &[u8]) {
        let now = self.touch();
        for (k, sec) in tmp.chunks_exact(SECTOR).enumerate() {
            let s = first + k as u64;
            let bit = 1u8 << (s % UNIT_SECTORS);
            let spare = &mut self.spare;
            let u = self.units.entry(s / UNIT_SECTORS).or_insert_with(|| Unit {
                // A reused buffer's old bytes are in sectors not valid.
                data: spare
                    .pop()
                    .unwrap_or_else(|| alloc::boxed::Box::new([0; UNIT])),
                valid: 0,
                pinned: 0,
                writing: 0,
                used: now,
                file_data: false,
            });
            if u.valid & bit == 0 {
                let o = (s % UNIT_SECTORS) as usize * SECTOR;
                u.data[o..o + SECTOR].copy_from_slice(sec);
                u.valid |= bit;
            }
            u.used = now;
        }
    }

    /// Puts written sectors in the cache, pinning their units; the units pinned.
    fn store(&mut self, sector: u64, data: &[u8], file_data: bool) -> Vec<u64> {
        let now = self.touch();
        let mut pinned = Vec::new();
        for (k, sec) in data.chunks_exact(SECTOR).enumerate() {
            let s = sector + k as u64;
            let idx = s / UNIT_SECTORS;
            let spare = &mut self.spare;
            let u = self.units.entry(idx).or_insert_with(|| Unit {
                data: spare
                    .pop()
                    .unwrap_or_else(|| alloc::boxed::Box::new([0; UNIT])),
                valid: 0,
                pinned: 0,
                writing: 0,
                used: now,
                file_data: false,
            });
            let o = (s % UNIT_SECTORS) as usize * SECTOR;
            u.data[o..o + SECTOR].copy_from_slice(sec);
            u.valid |= 1 << (s % UNIT_SECTORS);
            u.used = now;
            u.file_data = file_data;
            if pinned.last() != Some(&idx) {
                u.pinned += 1;
                pinned.push(idx);
            }
        }
        pinned
    }

    /// Past `cap` units, drops the least recently used unpinned ones down to
    /// seven eighths of it (so eviction runs once per many misses).
    fn evict(&mut self, cap: usize) {
        if self.units.len() <= cap {
            return;
        }
        let target = cap - cap / 8;
        let mut clean: Vec<(u64, u64)> = self
            .units
            .iter()
            .filter(|(_, u)| u.pinned == 0)
            .map(|(&k, u)| (u.used, k))
            .collect();
        clean.sort_unstable();
        let excess = self.units.len().saturating_sub(target);
        for (_, k) in clean.into_iter().take(excess) {
            self.units.remove(&k);
            self.stats.evicted += 1;
        }
        self.evictions += 1;
    }
}

impl BlockIo for BlockCache {
    fn sectors(&self) -> u64 {
        self.disk.sectors()
    }

    fn read<'a>(&'a self, sector: u64, buf: &'a mut [u8]) -> BoxFuture<'a, KResult<()>> {
        alloc::boxed::Box::pin(self.read_cached(sector, buf))
    }

    fn write<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
        alloc::boxed::Box::pin(self.write_cached(sector, data, Kind::Ordered))
    }

    fn write_unordered<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
        alloc::boxed::Box::pin(self.write_cached(sector, data, Kind::Unordered))
    }

    fn write_data<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
        alloc::boxed::Box::pin(self.write_cached(sector, data, Kind::Data))
    }

    fn read_data<'a>(&'a self, sector: u64, buf: &'a mut [u8]) -> BoxFuture<'a, KResult<()>> {
        alloc::boxed::Box::pin(self.read_uncached(sector, buf))
    }

    fn flush(&self) -> BoxFuture<'_, KResult<()>> {
        alloc::boxed::Box::pin(self.flush_all())
    }

    fn cached(&self, sector: u64, count: u64) -> bool {
        self.residency(sector, count).cached
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemDisk;
    use alloc::boxed::Box;
    use alloc::vec;
    use core::future::Future;
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use core::task::{Context, Poll, Waker};

    fn run<F: core::future::Future>(f: F) -> F::Output {
        let mut f = core::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                return v;
            }
        }
    }

    /// A disk that records the order of its writes. Its requests take one extra
    /// poll (others can start meanwhile); writes wait while `gate` is closed.
    struct Log {
        mem: MemDisk,
        writes: spin::Mutex<Vec<(u64, usize)>>,
        reads: spin::Mutex<u64>,
        in_flight: AtomicU64,
        max_in_flight: AtomicU64,
        gate_closed: AtomicBool,
    }

    /// Pending once, then ready.
    async fn yield_once() {
        let mut done = false;
        core::future::poll_fn(|cx| {
            if done {
                return Poll::Ready(());
            }
            done = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }

    impl BlockIo for Log {
        fn sectors(&self) -> u64 {
            self.mem.sectors()
        }
        fn read<'a>(&'a self, s: u64, b: &'a mut [u8]) -> BoxFuture<'a, KResult<()>> {
            *self.reads.lock() += 1;
            Box::pin(async move {
                yield_once().await;
                self.mem.read(s, b).await
            })
        }
        fn write<'a>(&'a self, s: u64, d: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
            Box::pin(async move {
                self.writes.lock().push((s, d.len()));
                let n = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                self.max_in_flight.fetch_max(n, Ordering::Relaxed);
                yield_once().await;
                while self.gate_closed.load(Ordering::Relaxed) {
                    yield_once().await;
                }
                self.in_flight.fetch_sub(1, Ordering::Relaxed);
                self.mem.write(s, d).await
            })
        }
        fn flush(&self) -> BoxFuture<'_, KResult<()>> {
            self.mem.flush()
        }
    }

    fn log_disk(sectors: usize, fill: u8) -> Arc<Log> {
        Arc::new(Log {
            mem: MemDisk::new(vec![fill; sectors * SECTOR]),
            writes: spin::Mutex::new(Vec::new()),
            reads: spin::Mutex::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            gate_closed: AtomicBool::new(false),
        })
    }

    fn setup(sectors: usize, cap: usize) -> (Arc<Log>, BlockCache) {
        let log = log_disk(sectors, 7);
        let c = BlockCache::new(log.clone(), cap, 1 << 20);
        (log, c)
    }

    #[test]
    fn cached_answers_for_what_the_cache_holds_until_it_is_dropped() {
        let (_log, c) = setup(512, 1 << 20);
        assert!(!c.cached(40, 2), "nothing read yet");
        let mut b = [0u8; 1024];
        run(c.read(40, &mut b)).unwrap();
        assert!(c.cached(40, 2));
        // The read brought in its whole unit (sectors 40..48), no further.
        assert!(c.cached(47, 1) && !c.cached(47, 2));
        run(c.write(100, &[1; 512])).unwrap();
        assert!(c.cached(100, 1), "a write is cached");
        run(c.flush()).unwrap();
        c.drop_clean();
        assert!(!c.cached(40, 1) && !c.cached(100, 1));
    }

    #[test]
    fn file_data_is_read_through_and_kept_only_until_written() {
        let (log, c) = setup(512, 1 << 20);
        let mut b = [0u8; 1024];
        run(c.read_data(40, &mut b)).unwrap();
        assert_eq!(b, [7; 1024]);
        assert!(!c.cached(40, 1), "a data read caches nothing");
        // A pending data write is read back (over the disk's bytes) and pinned.
        run(c.write_data(41, &[9; 512])).unwrap();
        let reads = *log.reads.lock();
        run(c.read_data(40, &mut b)).unwrap();
        assert_eq!(*log.reads.lock(), reads + 1, "sector 40 is not cached");
        assert_eq!((&b[..512], &b[512..]), (&[7; 512][..], &[9; 512][..]));
        assert!(c.residency(41, 1).dirty);
        // Once the disk has it, the unit goes (the page cache above keeps it).
        run(c.flush()).unwrap();
        assert!(!c.cached(41, 1));
        run(c.read_data(40, &mut b)).unwrap();
        assert_eq!(&b[512..], &[9; 512][..], "the disk has it");
        // Metadata written through the same unit later stays cached.
        run(c.write_data(48, &[1; 512])).unwrap();
        run(c.write_unordered(49, &[2; 512])).unwrap();
        run(c.flush()).unwrap();
        assert!(c.cached(48, 2));
    }

    #[test]
    fn clean_fills_keep_newer_sectors_and_stop_once_units_went() {
        let (_log, c) = setup(512, 1 << 20);
        let mut g = c.generation();
        run(c.write_data(17, &[5; 512])).unwrap();
        assert!(c.fill_clean(16, &[1; 1024], &mut g));
        let mut b = [0u8; 1024];
        run(c.read(16, &mut b)).unwrap();
        assert_eq!((&b[..512], &b[512..]), (&[1; 512][..], &[5; 512][..]));
        // Writeback drops the data unit: a fill from an older copy is refused.
        let old = g;
        run(c.flush()).unwrap();
        let mut g2 = old;
        assert!(!c.fill_clean(17, &[1; 512], &mut g2));
        run(c.read(17, &mut b[..512])).unwrap();
        assert_eq!(&b[..512], &[5; 512][..]);
    }

    #[test]
    fn unordered_writes_merge_with_any_write_of_their_epoch_and_go_out_together() {
        let (log, c) = setup(512, 0);
        run(c.write(300, &[1; 512])).unwrap();
        run(c.write_unordered(10, &[2; 512])).unwrap();
        run(c.write_unordered(50, &[3; 512])).unwrap();
        run(c.write_unordered(11, &[4; 512])).unwrap(); // after 10, not the newest
        run(c.write_unordered(9, &[5; 512])).unwrap(); // before 10: 9..12 now
        run(c.write_unordered(10, &[6; 512])).unwrap(); // inside: in place
        run(c.write_unordered(301, &[8; 1024])).unwrap(); // after the ordered one
        run(c.flush()).unwrap();
        let mut w = log.writes.lock().clone();
        w.sort_unstable();
        assert_eq!(w, [(9, 1536), (50, 512), (300, 1536)]);
        assert_eq!(
            log.max_in_flight.load(Ordering::Relaxed),
            3,
            "one epoch at once"
        );
        assert_eq!(c.stats().epochs, 1);
        let m = log.mem.contents();
        let at = |s: usize| m[s * SECTOR];
        assert_eq!((at(9), at(10), at(11), at(50)), (5, 6, 4, 3));
        assert_eq!((at(300), at(301), at(302)), (1, 8, 8));
    }

    #[test]
    fn an_ordered_write_waits_for_the_whole_epoch_before_it() {
        let (log, c) = setup(512, 0);
        run(c.write(100, &[1; 512])).unwrap();
        run(c.write_unordered(10, &[2; 512])).unwrap();
        run(c.write_unordered(20, &[2; 512])).unwrap();
        run(c.write(200, &[3; 512])).unwrap();
        run(c.write_unordered(30, &[4; 512])).unwrap();
        // Partly over the write at 30: an epoch of its own.
        run(c.write_unordered(29, &[5; 1024])).unwrap();
        run(c.flush()).unwrap();
        let w = log.writes.lock().clone();
        let mut first: Vec<_> = w[..3].to_vec();
        first.sort_unstable();
        assert_eq!(first, [(10, 512), (20, 512), (100, 512)]);
        let mut second: Vec<_> = w[3..5].to_vec();
        second.sort_unstable();
        assert_eq!(second, [(30, 512), (200, 512)]);
        assert_eq!(w[5], (29, 1024));
        assert_eq!(c.stats().epochs, 3);
        assert_eq!(log.mem.contents()[30 * SECTOR], 5);
    }

    #[test]
    fn a_read_miss_goes_to_the_disk_while_writeback_waits() {
        let (log, c) = setup(512, 0);
        run(c.write(0, &[1; 512])).unwrap();
        log.gate_closed.store(true, Ordering::Relaxed);
        let mut drain = core::pin::pin!(c.drain());
        let cx = &mut Context::from_waker(Waker::noop());
        for _ in 0..5 {
            assert!(drain.as_mut().poll(cx).is_pending());
        }
        assert_eq!(c.stats().in_flight, 1);
        // A miss of another unit, and a hit of the unit being written.
        let mut b = [0u8; 512];
        run(c.read(64, &mut b)).unwrap();
        assert_eq!(b, [7; 512]);
        run(c.read(0, &mut b)).unwrap();
        assert_eq!(b, [1; 512]);
        assert!(drain.as_mut().poll(cx).is_pending());
        log.gate_closed.store(false, Ordering::Relaxed);
        run(drain);
        assert_eq!(log.mem.contents()[0], 1);
        assert_eq!(
            c.stats().max_in_flight,
            2,
            "the read went alongside the write"
        );
    }

    #[test]
    fn writes_are_read_back_before_and_after_writeback() {
        let (log, c) = setup(64, 0);
        run(c.write(3, &[1; 1024])).unwrap();
        assert!(log.writes.lock().is_empty(), "written behind");
        let mut b = [0u8; 2048];
        run(c.read(2, &mut b)).unwrap();
        assert_eq!(&b[..512], &[7; 512]);
        assert_eq!(&b[512..1536], &[1; 1024]);
        assert_eq!(&b[1536..], &[7; 512]);
        run(c.flush()).unwrap();
        assert_eq!(*log.writes.lock(), [(3, 1024)]);
        assert_eq!(log.mem.contents()[3 * 512..5 * 512], [1; 1024]);
        assert!(!c.dirty());
    }

    #[test]
    fn residency_tells_cached_queued_and_in_flight_sectors() {
        let (log, c) = setup(512, 0);
        let none = Residency {
            cached: false,
            dirty: false,
            writeback: false,
        };
        assert_eq!(c.residency(0, 8), none);
        run(c.write(0, &[1; 1024])).unwrap();
        let queued = Residency {
            cached: true,
            dirty: true,
            writeback: false,
        };
        assert_eq!(c.residency(0, 2), queued);
        // Sector 2 was never read or written.
        assert!(!c.residency(0, 3).cached);
        log.gate_closed.store(true, Ordering::Relaxed);
        let mut drain = core::pin::pin!(c.drain());
        let cx = &mut Context::from_waker(Waker::noop());
        for _ in 0..5 {
            assert!(drain.as_mut().poll(cx).is_pending());
        }
        let writing = Residency {
            cached: true,
            dirty: false,
            writeback: true,
        };
        assert_eq!(c.residency(0, 2), writing);
        // A new write of the unit while the old one is at the disk: both.
        run(c.write(1, &[2; 512])).unwrap();
        assert_eq!(
            c.residency(0, 2),
            Residency {
                cached: true,
                dirty: true,
                writeback: true,
            }
        );
        log.gate_closed.store(false, Ordering::Relaxed);
        run(drain);
        let clean = Residency {
            cached: true,
            dirty: false,
            writeback: false,
        };
        assert_eq!(c.residency(0, 2), clean);
    }

    #[test]
    fn writeback_keeps_issue_order_and_merges_adjacent_writes() {
        let (log, c) = setup(256, 0);
        run(c.write(10, &[1; 512])).unwrap();
        run(c.write(11, &[2; 512])).unwrap(); // merged with the one before
        run(c.write(100, &[3; 512])).unwrap();
        run(c.write(10, &[4; 512])).unwrap(); // again: a new request, after the others
        run(c.flush()).unwrap();
        assert_eq!(*log.writes.lock(), [(10, 1024), (100, 512), (10, 512)]);
        assert_eq!(c.stats().merged, 1);
        assert_eq!(log.mem.contents()[10 * 512], 4);
    }

    #[test]
    fn hits_need_no_disk_read_and_eviction_keeps_the_cap() {
        let (log, c) = setup(4096, 64 * UNIT);
        let mut b = [0u8; 512];
        run(c.read(0, &mut b)).unwrap();
        run(c.read(1, &mut b)).unwrap();
        assert_eq!(*log.reads.lock(), 1, "the whole unit was read once");
        for s in (0..4096).step_by(8) {
            run(c.read(s, &mut b)).unwrap();
        }
        assert!(c.stats().units <= 64);
        assert!(c.stats().evicted > 0);
    }

    #[test]
    fn pending_writes_are_never_evicted() {
        let (_log, c) = setup(4096, 64 * UNIT);
        run(c.write(0, &[9; 512])).unwrap();
        let mut b = [0u8; 512];
        for s in (8..4096).step_by(8) {
            run(c.read(s, &mut b)).unwrap();
        }
        run(c.read(0, &mut b)).unwrap();
        assert_eq!(b, [9; 512]);
    }

    #[test]
    fn a_failed_writeback_is_reported_by_the_next_flush_and_reads_stay_consistent() {
        let (log, c) = setup(64, 0);
        log.mem.fail_writes_after(Some(0));
        run(c.write(5, &[6; 512])).unwrap();
        assert_eq!(run(c.flush()), Err(Errno::EIO));
        let mut b = [0u8; 512];
        run(c.read(5, &mut b)).unwrap();
        assert_eq!(b, [6; 512]);
        assert_eq!(run(c.flush()), Ok(()), "reported once");
    }

    #[test]
    fn out_of_range_and_partial_sectors_are_refused() {
        let (_log, c) = setup(8, 0);
        let mut b = [0u8; 512];
        assert_eq!(run(c.read(8, &mut b)), Err(Errno::EIO));
        assert_eq!(run(c.write(0, &[0; 100])), Err(Errno::EINVAL));
        assert_eq!(run(c.read(u64::MAX, &mut b)), Err(Errno::EIO));
    }

    #[test]
    fn too_many_pending_bytes_make_the_writer_drain() {
        let log = log_disk(4096, 0);
        let c = BlockCache::new(log.clone(), 0, MAX_MERGE);
        for s in (0..2048).step_by(2) {
            run(c.write(s * 2, &[1; 1024])).unwrap();
        }
        assert!(c.stats().dirty_bytes as usize <= MAX_MERGE + 1024);
        assert!(!log.writes.lock().is_empty());
    }
}
