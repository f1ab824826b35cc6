//! The HPET's main counter (IA-PC HPET specification 1.0a, section 2.3), only as
//! a free-running clock of known period: the reference the boot calibrates the
//! TSC against over a short window, and measures it again over a long one once
//! the boot is over. Its timers are not used.

use core::sync::atomic::{AtomicU64, Ordering};

/// Registers (byte offsets).
const CAPABILITIES: usize = 0x00;
const CONFIG: usize = 0x10;
const MAIN_COUNTER: usize = 0xf0;
/// CONFIG's ENABLE_CNF: the main counter runs.
const ENABLE: u32 = 1 << 0;
/// CAPABILITIES' COUNT_SIZE_CAP: the main counter is 64 bits wide.
const WIDE: u32 = 1 << 13;

/// Where the registers are mapped (0: no HPET).
static BASE: AtomicU64 = AtomicU64::new(0);
/// The counter's period in femtoseconds.
static PERIOD_FS: AtomicU64 = AtomicU64::new(0);

fn read(r: usize) -> u32 {
    let base = BASE.load(Ordering::Relaxed);
    // SAFETY: `base` maps the HPET's 1 KiB register block uncached (init); `r` is
    // a register offset inside it; 32-bit reads are allowed on every register.
    unsafe { core::ptr::read_volatile((base as usize + r) as *const u32) }
}

fn write(r: usize, v: u32) {
    let base = BASE.load(Ordering::Relaxed);
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile((base as usize + r) as *mut u32, v) };
}

/// Maps the HPET at physical address `phys` (from ACPI's HPET table) and starts
/// its main counter; false if it is not one Kestrel can use (a period outside the
/// specification's 0 < p <= 100 ns, or a 32-bit counter, which wraps in seconds).
pub fn init(phys: u64) -> bool {
    BASE.store(crate::mm::paging::map_mmio(phys, 4096), Ordering::Relaxed);
    let period = u64::from(read(CAPABILITIES + 4));
    if period == 0 || period > 100_000_000 || read(CAPABILITIES) & WIDE == 0 {
        BASE.store(0, Ordering::Relaxed);
        return false;
    }
    PERIOD_FS.store(period, Ordering::Relaxed);
    write(CONFIG, read(CONFIG) | ENABLE);
    true
}

/// The main counter and the TSC read together: (count, the TSC halfway through
/// reading it, the TSC ticks the reading took), or `None` without an HPET.
pub fn sample() -> Option<(u64, u64, u64)> {
    if BASE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    // The two halves read apart: the high one again until it did not change.
    loop {
        let before = super::cpu::rdtsc();
        let hi = read(MAIN_COUNTER + 4);
        let lo = read(MAIN_COUNTER);
        let after = super::cpu::rdtsc();
        if read(MAIN_COUNTER + 4) == hi {
            let count = u64::from(hi) << 32 | u64::from(lo);
            return Some((count, before + (after - before) / 2, after - before));
        }
    }
}

/// Femtoseconds per count.
pub fn period_fs() -> u64 {
    PERIOD_FS.load(Ordering::Relaxed)
}

/// The frequency of a clock that advanced `ticks` while the HPET counted
/// `counts` (0 if it did not count).
pub fn rate_hz(ticks: u64, counts: u64) -> u64 {
    let fs = u128::from(counts) * u128::from(period_fs());
    if fs == 0 {
        return 0;
    }
    (u128::from(ticks) * 1_000_000_000_000_000 / fs) as u64
}
