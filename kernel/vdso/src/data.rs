//! The vvar page: what the kernel publishes for the vDSO, and how both read it.
//!
//! The kernel is the only writer. It bumps `seq` to an odd value, updates the
//! fields, and bumps it back to even ([`VvarData::update`]). A reader copies the
//! fields between two reads of an even, unchanged `seq` ([`VvarData::snapshot`]),
//! so it never sees half an update, and never blocks the writer.
//!
//! This file is also compiled into the vDSO image (no allocation, no panics, no
//! calls outside itself: the image has nothing to link against).

use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering, fence};

/// No usable clock source: the vDSO makes the system call.
pub const MODE_SYSCALL: u32 = 0;
/// Time is `(tsc - tsc_base) * mult >> 32` nanoseconds since boot.
pub const MODE_TSC: u32 = 1;

/// The vvar page's contents (the rest of the page is zero).
#[repr(C)]
#[derive(Debug, Default)]
pub struct VvarData {
    pub seq: AtomicU32,
    pub mode: AtomicU32,
    pub tsc_base: AtomicU64,
    pub mult: AtomicU64,
    /// Realtime minus monotonic time, in ns.
    pub realtime_offset: AtomicI64,
    pub tz_minuteswest: AtomicI32,
    pub tz_dsttime: AtomicI32,
}

/// A consistent copy of the clock parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub mode: u32,
    pub tsc_base: u64,
    pub mult: u64,
    pub realtime_offset: i64,
    pub tz_minuteswest: i32,
    pub tz_dsttime: i32,
}

impl VvarData {
    /// Reads every field consistently (retrying while the kernel writes).
    #[inline(always)]
    pub fn snapshot(&self) -> Snapshot {
        loop {
            let start = self.seq.load(Ordering::Acquire);
            if start & 1 != 0 {
                core::hint::spin_loop();
                continue;
            }
            let s = Snapshot {
                mode: self.mode.load(Ordering::Relaxed),
                tsc_base: self.tsc_base.load(Ordering::Relaxed),
                mult: self.mult.load(Ordering::Relaxed),
                realtime_offset: self.realtime_offset.load(Ordering::Relaxed),
                tz_minuteswest: self.tz_minuteswest.load(Ordering::Relaxed),
                tz_dsttime: self.tz_dsttime.load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == start {
                return s;
            }
        }
    }

    /// Publishes `s` (the kernel, the only writer).
    pub fn update(&self, s: &Snapshot) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.mode.store(s.mode, Ordering::Relaxed);
        self.tsc_base.store(s.tsc_base, Ordering::Relaxed);
        self.mult.store(s.mult, Ordering::Relaxed);
        self.realtime_offset
            .store(s.realtime_offset, Ordering::Relaxed);
        self.tz_minuteswest
            .store(s.tz_minuteswest, Ordering::Relaxed);
        self.tz_dsttime.store(s.tz_dsttime, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

impl Snapshot {
    /// Nanoseconds since boot at TSC reading `tsc`.
    #[inline(always)]
    pub fn monotonic_ns(&self, tsc: u64) -> u64 {
        ns_from_tsc_delta(tsc.saturating_sub(self.tsc_base), self.mult)
    }

    /// Nanoseconds since the epoch at TSC reading `tsc`.
    #[inline(always)]
    pub fn realtime_ns(&self, tsc: u64) -> u64 {
        let ns = (self.monotonic_ns(tsc) as i64).saturating_add(self.realtime_offset);
        if ns < 0 { 0 } else { ns as u64 }
    }
}

/// `delta * mult >> 32`: TSC ticks to ns with `mult` = 2^32 · 10^9 / TSC Hz.
#[inline(always)]
pub fn ns_from_tsc_delta(delta: u64, mult: u64) -> u64 {
    ((u128::from(delta) * u128::from(mult)) >> 32) as u64
}

/// The `mult` for a TSC running at `hz`.
pub fn mult_for_hz(hz: u64) -> u64 {
    ((1_000_000_000u128 << 32) / u128::from(hz.max(1))) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_ghz_tsc_counts_nanoseconds() {
        let m = mult_for_hz(1_000_000_000);
        assert_eq!(ns_from_tsc_delta(12_345, m), 12_345);
    }

    #[test]
    fn update_then_snapshot_round_trips_and_leaves_seq_even() {
        let v = VvarData::default();
        let s = Snapshot {
            mode: MODE_TSC,
            tsc_base: 5,
            mult: 7 << 32,
            realtime_offset: -3,
            tz_minuteswest: 60,
            tz_dsttime: 1,
        };
        v.update(&s);
        assert_eq!(v.snapshot(), s);
        assert_eq!(v.seq.load(Ordering::Relaxed), 2);
        assert_eq!(s.monotonic_ns(15), 70);
        assert_eq!(s.realtime_ns(15), 67);
        assert_eq!(s.realtime_ns(5), 0, "never negative");
    }
}
