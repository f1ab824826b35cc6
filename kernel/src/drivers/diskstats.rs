//! I/O accounting of each block device, as Linux's /proc/diskstats shows it: a
//! [`Counted`] device stands between the registry and the driver's device and
//! counts every request that completes (reads, writes, discards, flushes), the
//! sectors moved and the time spent, whoever sent it (a mounted ext2, a program
//! reading /dev/vda).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use kestrel_driver_kit::{BlockDevice, BlockInfo, BoxFuture, IoError};

use crate::time;

/// Counters of one kind of request.
#[derive(Default)]
struct Kind {
    ios: AtomicU64,
    sectors: AtomicU64,
    /// Total time the requests took, in ns.
    ns: AtomicU64,
}

/// One device's counters.
#[derive(Default)]
pub struct DiskStats {
    read: Kind,
    write: Kind,
    discard: Kind,
    flush: Kind,
    in_flight: AtomicU64,
    /// When the device last went from idle to busy (ns), while busy.
    busy_since: AtomicU64,
    /// Time with at least one request in flight, in ns (io_ticks).
    busy_ns: AtomicU64,
    /// Sum of every request's time, in ns (time_in_queue, "weighted").
    weighted_ns: AtomicU64,
}

impl DiskStats {
    fn start(&self) -> u64 {
        let now = time::now_ns();
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.busy_since.store(now, Ordering::Relaxed);
        }
        now
    }

    fn end(&self, kind: &Kind, sectors: u64, started: u64, ok: bool) {
        let now = time::now_ns();
        let took = now.saturating_sub(started);
        if ok {
            kind.ios.fetch_add(1, Ordering::Relaxed);
            kind.sectors.fetch_add(sectors, Ordering::Relaxed);
            kind.ns.fetch_add(took, Ordering::Relaxed);
        }
        self.weighted_ns.fetch_add(took, Ordering::Relaxed);
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let since = self.busy_since.load(Ordering::Relaxed);
            self.busy_ns
                .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
        }
    }

    /// The 17 counters of Linux 5.5 and later, in /proc/diskstats's order:
    /// reads (I/Os, merges, sectors, ms), writes (the same four), I/Os in
    /// flight, ms busy, weighted ms, discards (four), flushes (I/Os, ms).
    /// Merges are always 0.
    pub fn counters(&self) -> [u64; 17] {
        let ms = |a: &AtomicU64| a.load(Ordering::Relaxed) / 1_000_000;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut busy = self.busy_ns.load(Ordering::Relaxed);
        if n(&self.in_flight) > 0 {
            busy += time::now_ns().saturating_sub(self.busy_since.load(Ordering::Relaxed));
        }
        [
            n(&self.read.ios),
            0,
            n(&self.read.sectors),
            ms(&self.read.ns),
            n(&self.write.ios),
            0,
            n(&self.write.sectors),
            ms(&self.write.ns),
            n(&self.in_flight),
            busy / 1_000_000,
            ms(&self.weighted_ns),
            n(&self.discard.ios),
            0,
            n(&self.discard.sectors),
            ms(&self.discard.ns),
            n(&self.flush.ios),
            ms(&self.flush.ns),
        ]
    }

    /// The line of /proc/diskstats for device `name` (`major minor name` and
    /// the [counters](Self::counters)).
    pub fn line(&self, major: u32, minor: u32, name: &str) -> String {
        let mut s = alloc::format!("{major:>4} {minor:>7} {name}");
        for c in self.counters() {
            let _ = write!(s, " {c}");
        }
        s.push('\n');
        s
    }

    /// /sys/block/NAME/stat: the counters, each right-aligned in 8 columns
    /// (Linux's part_stat_show).
    pub fn sys_stat(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.counters().iter().enumerate() {
            let _ = write!(s, "{}{c:>8}", if i == 0 { "" } else { " " });
        }
        s.push('\n');
        s
    }
}

/// A block device whose requests are counted in `stats`.
pub struct Counted {
    pub inner: Arc<dyn BlockDevice>,
    pub stats: Arc<DiskStats>,
}

impl BlockDevice for Counted {
    fn info(&self) -> BlockInfo {
        self.inner.info()
    }
    fn read<'a>(&'a self, sector: u64, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(), IoError>> {
        Box::pin(async move {
            let t = self.stats.start();
            let sectors = (buf.len() / 512) as u64;
            let r = self.inner.read(sector, buf).await;
            self.stats.end(&self.stats.read, sectors, t, r.is_ok());
            r
        })
    }
    fn write<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, Result<(), IoError>> {
        Box::pin(async move {
            let t = self.stats.start();
            let r = self.inner.write(sector, data).await;
            self.stats
                .end(&self.stats.write, (data.len() / 512) as u64, t, r.is_ok());
            r
        })
    }
    fn flush(&self) -> BoxFuture<'_, Result<(), IoError>> {
        Box::pin(async move {
            let t = self.stats.start();
            let r = self.inner.flush().await;
            self.stats.end(&self.stats.flush, 0, t, r.is_ok());
            r
        })
    }
    fn discard(&self, sector: u64, count: u64) -> BoxFuture<'_, Result<(), IoError>> {
        Box::pin(async move {
            let t = self.stats.start();
            let r = self.inner.discard(sector, count).await;
            self.stats.end(&self.stats.discard, count, t, r.is_ok());
            r
        })
    }
}
