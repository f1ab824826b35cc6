//! Kernel time: the TSC as the monotonic clock, the RTC for the wall clock.
//!
//! The TSC is calibrated at boot against the PIT (a short window), and again a
//! second later against the HPET when there is one (a long window,
//! [`retune_tsc_hz`]). Monotonic time is nanoseconds since kernel entry:
//! `(tsc - boot_tsc) * mult >> 32`, with `mult` = 2^32 · 10^9 / Hz; a new
//! frequency moves `boot_tsc` with it, so that the clock goes on from where it was.
//! Wall-clock time is the RTC's reading at boot plus monotonic time.

use core::sync::atomic::{AtomicI64, AtomicU64, Ordering, fence};

use crate::arch::cpu::rdtsc;

/// The TSC at kernel entry.
static ENTRY_TSC: AtomicU64 = AtomicU64::new(0);
/// The TSC at monotonic time zero (kernel entry, give or take what a retuned
/// frequency moved it by).
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static MULT: AtomicU64 = AtomicU64::new(0);
/// Odd while [`retune_tsc_hz`] changes BOOT_TSC and MULT (a sequence lock: a
/// reader never combines one's old value with the other's new one).
static PARAMS_SEQ: AtomicU64 = AtomicU64::new(0);
/// Realtime minus monotonic time, in ns (negative if the clock was set before 1970
/// plus the uptime).
static REALTIME_OFFSET: AtomicI64 = AtomicI64::new(0);

/// Records the TSC at kernel entry (time zero).
pub fn mark_boot(tsc: u64) {
    ENTRY_TSC.store(tsc, Ordering::Relaxed);
    BOOT_TSC.store(tsc, Ordering::Relaxed);
}

/// Sets the TSC frequency found by calibration.
pub fn set_tsc_hz(hz: u64) {
    let hz = hz.max(1);
    TSC_HZ.store(hz, Ordering::Relaxed);
    MULT.store(kestrel_vdso::data::mult_for_hz(hz), Ordering::Release);
    crate::vdso::publish();
}

/// Sets a better measure of the TSC's frequency once the clock runs: monotonic
/// (and so real) time goes on from its current value at the new rate.
pub fn retune_tsc_hz(hz: u64) {
    let hz = hz.max(1);
    let tsc = rdtsc();
    let now = now_ns();
    // The TSC ticks `now` is at the new rate, one more so that the clock cannot
    // read a nanosecond earlier than it just did.
    let ticks = (u128::from(now) * u128::from(hz) / 1_000_000_000) as u64 + 1;
    let seq = PARAMS_SEQ.load(Ordering::Relaxed);
    PARAMS_SEQ.store(seq.wrapping_add(1), Ordering::Relaxed);
    fence(Ordering::Release);
    BOOT_TSC.store(tsc.saturating_sub(ticks), Ordering::Relaxed);
    MULT.store(kestrel_vdso::data::mult_for_hz(hz), Ordering::Relaxed);
    TSC_HZ.store(hz, Ordering::Relaxed);
    PARAMS_SEQ.store(seq.wrapping_add(2), Ordering::Release);
    crate::vdso::publish();
}

/// (TSC at time zero, ns-per-tick multiplier), read consistently.
#[inline(always)]
fn params() -> (u64, u64) {
    loop {
        let seq = PARAMS_SEQ.load(Ordering::Acquire);
        let base = BOOT_TSC.load(Ordering::Relaxed);
        let mult = MULT.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if seq & 1 == 0 && PARAMS_SEQ.load(Ordering::Relaxed) == seq {
            return (base, mult);
        }
        core::hint::spin_loop();
    }
}

/// Converts a TSC difference to nanoseconds (the vDSO's formula, so both agree).
pub fn tsc_delta_ns(delta: u64) -> u64 {
    kestrel_vdso::data::ns_from_tsc_delta(delta, MULT.load(Ordering::Acquire))
}

/// The TSC frequency calibrated at boot (Hz).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// (TSC at time zero, ns-per-tick multiplier) for the vDSO.
pub fn tsc_params() -> (u64, u64) {
    params()
}

/// Boot milestones: (what, TSC when it was reached), in the order reached, for
/// the boot timeline ([`boot_timeline`]). A handful of entries, written by the
/// bootstrap CPU only.
static STAMPS: spin::Mutex<[(&str, u64); 16]> = spin::Mutex::new([("", 0); 16]);

/// Records that the boot reached `what` now (kept if there is room).
pub fn stamp(what: &'static str) {
    let tsc = rdtsc();
    let mut s = STAMPS.lock();
    if let Some(slot) = s.iter_mut().find(|e| e.0.is_empty()) {
        *slot = (what, tsc);
    }
}

/// The boot so far, one line: the TSC's value at kernel entry in ms (on a direct
/// boot under QEMU's TCG, about the firmware's and the loader's time: the guest's
/// TSC started near 0 with the machine), then each milestone at its ms since
/// kernel entry.
pub struct BootTimeline;

/// The boot milestones so far, for a log line.
pub fn boot_timeline() -> BootTimeline {
    BootTimeline
}

impl core::fmt::Display for BootTimeline {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let boot = ENTRY_TSC.load(Ordering::Relaxed);
        let ms = |delta: u64| {
            let us = tsc_delta_ns(delta) / 1000;
            (us / 1000, (us % 1000) / 100)
        };
        let (a, b) = ms(boot);
        write!(f, "TSC at entry {a}.{b} ms; since entry:")?;
        for (what, tsc) in STAMPS.lock().iter().take_while(|e| !e.0.is_empty()) {
            let (a, b) = ms(tsc.saturating_sub(boot));
            write!(f, " {what} {a}.{b}")?;
        }
        Ok(())
    }
}

/// The time zone settimeofday last set: (minutes west, DST flag). Linux keeps it
/// (sys_tz) only to report it back through gettimeofday.
static TIMEZONE: AtomicU64 = AtomicU64::new(0);

/// The time zone gettimeofday reports.
pub fn timezone() -> (i32, i32) {
    let v = TIMEZONE.load(Ordering::Relaxed);
    (v as u32 as i32, (v >> 32) as u32 as i32)
}

/// Sets the time zone (settimeofday).
pub fn set_timezone(minuteswest: i32, dsttime: i32) {
    TIMEZONE.store(
        u64::from(minuteswest as u32) | (u64::from(dsttime as u32) << 32),
        Ordering::Relaxed,
    );
    crate::vdso::publish();
}

/// Nanoseconds since kernel entry (0 before calibration).
///
/// Inline: the system call fast path reads it twice a call, and a call and a
/// return cost as much as the read under TCG.
#[inline]
pub fn now_ns() -> u64 {
    let tsc = rdtsc();
    let (base, mult) = params();
    kestrel_vdso::data::ns_from_tsc_delta(tsc.saturating_sub(base), mult)
}

/// Sets the wall-clock time at boot from the RTC (seconds since the epoch), so that
/// realtime = that + monotonic time since boot.
pub fn set_wall_clock(unix_seconds: u64) {
    set_realtime(unix_seconds.saturating_mul(1_000_000_000));
}

/// Sets the wall clock (clock_settime, settimeofday): realtime is `unix_ns` now.
pub fn set_realtime(unix_ns: u64) {
    REALTIME_OFFSET.store(unix_ns as i64 - now_ns() as i64, Ordering::Release);
    crate::vdso::publish();
}

/// Realtime minus monotonic time (ns).
pub fn realtime_offset() -> i64 {
    REALTIME_OFFSET.load(Ordering::Acquire)
}

/// Nanoseconds since the Unix epoch.
pub fn realtime_ns() -> u64 {
    (now_ns() as i64).saturating_add(realtime_offset()).max(0) as u64
}

/// The monotonic time at which realtime will read `unix_ns` (for absolute timers
/// on CLOCK_REALTIME; 0 if that is in the past of boot).
pub fn realtime_to_monotonic(unix_ns: u64) -> u64 {
    (unix_ns as i64).saturating_sub(realtime_offset()).max(0) as u64
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for a Unix time, for the boot banner and logs.
pub struct DateTime(pub u64);

impl core::fmt::Display for DateTime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let secs = self.0;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Civil from days (inverse of rtc::days_from_civil).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )
    }
}
