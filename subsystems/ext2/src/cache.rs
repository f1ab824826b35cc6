//! A block cache between a file system and its disk: a [`BlockIo`] over another
//! [`BlockIo`] that keeps recently used blocks in memory and writes behind, in order.
//!
//! * **Reads** are served from cached 4 KiB units (eight sectors, each with a valid
//!   bit); a miss reads the whole units it touches with one request.
//! * **Writes** update the cached units and join a FIFO queue of pending writes;
//!   the caller goes on at once. A write that starts where the newest pending one
//!   ends is merged into it (up to [`MAX_MERGE`] bytes), so a sequential file write
//!   reaches the disk as large requests.
//! * **Writeback** ([`BlockCache::drain`]) takes pending writes oldest first, one
//!   request at a time: the disk sees the writes in exactly the order they were
//!   issued, which is what ext2's crash-consistency ordering needs (see the crate
//!   documentation). A unit with pending writes is pinned: it cannot be evicted
//!   before the disk has it. The kernel runs `drain` from a flusher task; a writer
//!   that finds more than the dirty cap pending drains first (back-pressure).
//! * **Flush** drains everything, then flushes the disk's own cache. An error of a
//!   write done behind the caller's back is kept and returned by the next flush
//!   (fsync, sync, unmount), as Linux reports writeback errors; the units it
//!   concerned stay pinned so that reads keep seeing what the file system wrote.
//! * **Memory** is capped: past the cap the least recently used units without
//!   pending writes are evicted.
//!
//! No spin lock is held across an `.await`; one async lock makes writeback single
//! file.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};
use kestrel_sync::FifoLock;

use crate::io::{BlockIo, BoxFuture, SECTOR};

/// Sectors per cached unit.
const UNIT_SECTORS: u64 = 8;
/// Bytes per cached unit.
pub const UNIT: usize = UNIT_SECTORS as usize * SECTOR;
/// The largest request merging builds.
pub const MAX_MERGE: usize = 128 * 1024;

struct Unit {
    data: alloc::boxed::Box<[u8; UNIT]>,
    /// Which of the eight sectors hold data (bit i: sector i of the unit).
    valid: u8,
    /// Pending writes that cover this unit.
    pinned: u32,
    /// When it was last used (for eviction).
    used: u64,
}

struct Pending {
    sector: u64,
    data: Vec<u8>,
    /// The units it pins (once per sector range appended; duplicates allowed).
    units: Vec<u64>,
}

#[derive(Default)]
struct Inner {
    units: BTreeMap<u64, Unit>,
    queue: VecDeque<Pending>,
    queued_bytes: usize,
    tick: u64,
    /// Bumped by every write and eviction: a read that raced one does not cache
    /// what it read.
    changes: u64,
    /// A writeback error not yet reported.
    error: Option<Errno>,
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
    /// Bytes waiting to be written.
    pub dirty_bytes: u64,
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
    pub fn stats(&self) -> Stats {
        let i = self.inner.lock();
        Stats {
            units: i.units.len() as u64,
            dirty_bytes: i.queued_bytes as u64,
            ..i.stats
        }
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
                i.changes
            };
            let first = sector / UNIT_SECTORS * UNIT_SECTORS;
            let last =
                ((sector + n).div_ceil(UNIT_SECTORS) * UNIT_SECTORS).min(self.disk.sectors());
            let mut tmp = Vec::new();
            tmp.try_reserve_exact(((last - first) as usize) * SECTOR)
                .map_err(|_| Errno::ENOMEM)?;
            tmp.resize(((last - first) as usize) * SECTOR, 0);
            self.disk.read(first, &mut tmp).await?;
            let mut i = self.inner.lock();
            i.stats.disk_reads += 1;
            if i.changes == start {
                i.fill(first, &tmp);
                i.copy_out(sector, buf, None);
                i.evict(self.cap_units);
                return Ok(());
            }
            if attempt == 2 {
                // Writes keep racing this read: answer from what is cached, the
                // rest from the disk, and cache nothing.
                i.copy_out(sector, buf, Some((first, &tmp)));
                return Ok(());
            }
        }
        Ok(())
    }

    async fn write_cached(&self, sector: u64, data: &[u8]) -> KResult<()> {
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
            let units = i.store(sector, data);
            i.changes += 1;
            i.queued_bytes += data.len();
            let merge = i.queue.back_mut().filter(|p| {
                p.sector + (p.data.len() / SECTOR) as u64 == sector
                    && p.data.len() + data.len() <= MAX_MERGE
            });
            match merge {
                Some(p) => {
                    p.data.extend_from_slice(&copy);
                    p.units.extend(units);
                    i.stats.merged += 1;
                }
                None => i.queue.push_back(Pending {
                    sector,
                    data: copy,
                    units,
                }),
            }
            i.evict(self.cap_units);
            i.queued_bytes > self.dirty_cap
        };
        if over {
            self.drain().await;
        }
        Ok(())
    }

    /// Writes every pending write to the disk, oldest first, one at a time.
    /// Errors are kept for the next [`BlockIo::flush`].
    pub async fn drain(&self) {
        let _turn = self.writeback.lock().await;
        loop {
            let p = match self.inner.lock().queue.pop_front() {
                Some(p) => p,
                None => break,
            };
            let r = self.disk.write(p.sector, &p.data).await;
            let mut i = self.inner.lock();
            i.queued_bytes -= p.data.len();
            i.stats.disk_writes += 1;
            match r {
                Ok(()) => {
                    for u in &p.units {
                        if let Some(unit) = i.units.get_mut(u) {
                            unit.pinned -= 1;
                        }
                    }
                }
                // The units stay pinned: the cache goes on showing what the file
                // system wrote, though the disk does not have it.
                Err(e) => {
                    i.error.get_or_insert(e);
                }
            }
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

    /// Caches what a disk read of whole units from `first` returned, without
    /// touching sectors already cached (they may be newer).
    fn fill(&mut self, first: u64, tmp: &[u8]) {
        let now = self.touch();
        for (k, sec) in tmp.chunks_exact(SECTOR).enumerate() {
            let s = first + k as u64;
            let bit = 1u8 << (s % UNIT_SECTORS);
            let u = self.units.entry(s / UNIT_SECTORS).or_insert_with(|| Unit {
                data: alloc::boxed::Box::new([0; UNIT]),
                valid: 0,
                pinned: 0,
                used: now,
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
    fn store(&mut self, sector: u64, data: &[u8]) -> Vec<u64> {
        let now = self.touch();
        let mut pinned = Vec::new();
        for (k, sec) in data.chunks_exact(SECTOR).enumerate() {
            let s = sector + k as u64;
            let idx = s / UNIT_SECTORS;
            let u = self.units.entry(idx).or_insert_with(|| Unit {
                data: alloc::boxed::Box::new([0; UNIT]),
                valid: 0,
                pinned: 0,
                used: now,
            });
            let o = (s % UNIT_SECTORS) as usize * SECTOR;
            u.data[o..o + SECTOR].copy_from_slice(sec);
            u.valid |= 1 << (s % UNIT_SECTORS);
            u.used = now;
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
        self.changes += 1;
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
        alloc::boxed::Box::pin(self.write_cached(sector, data))
    }

    fn flush(&self) -> BoxFuture<'_, KResult<()>> {
        alloc::boxed::Box::pin(self.flush_all())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemDisk;
    use alloc::vec;
    use core::task::{Context, Poll, Waker};

    fn run<F: core::future::Future>(f: F) -> F::Output {
        let mut f = core::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                return v;
            }
        }
    }

    /// A disk that records the order of its writes.
    struct Log {
        mem: MemDisk,
        writes: spin::Mutex<Vec<(u64, usize)>>,
        reads: spin::Mutex<u64>,
    }

    impl BlockIo for Log {
        fn sectors(&self) -> u64 {
            self.mem.sectors()
        }
        fn read<'a>(&'a self, s: u64, b: &'a mut [u8]) -> BoxFuture<'a, KResult<()>> {
            *self.reads.lock() += 1;
            self.mem.read(s, b)
        }
        fn write<'a>(&'a self, s: u64, d: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
            self.writes.lock().push((s, d.len()));
            self.mem.write(s, d)
        }
        fn flush(&self) -> BoxFuture<'_, KResult<()>> {
            self.mem.flush()
        }
    }

    fn setup(sectors: usize, cap: usize) -> (Arc<Log>, BlockCache) {
        let log = Arc::new(Log {
            mem: MemDisk::new(vec![7; sectors * SECTOR]),
            writes: spin::Mutex::new(Vec::new()),
            reads: spin::Mutex::new(0),
        });
        let c = BlockCache::new(log.clone(), cap, 1 << 20);
        (log, c)
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
        let log = Arc::new(Log {
            mem: MemDisk::new(vec![0; 4096 * SECTOR]),
            writes: spin::Mutex::new(Vec::new()),
            reads: spin::Mutex::new(0),
        });
        let c = BlockCache::new(log.clone(), 0, MAX_MERGE);
        for s in (0..2048).step_by(2) {
            run(c.write(s * 2, &[1; 1024])).unwrap();
        }
        assert!(c.stats().dirty_bytes as usize <= MAX_MERGE + 1024);
        assert!(!log.writes.lock().is_empty());
    }
}
