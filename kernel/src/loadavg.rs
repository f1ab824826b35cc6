//! The load average, as Linux keeps it: every five seconds the number of
//! runnable threads (queued on a CPU, being polled, or in user mode) is folded
//! into three exponentially decaying averages over 1, 5 and 15 minutes, in
//! 11-bit fixed point with Linux's constants (kernel/sched/loadavg.c), so that
//! `uptime`, `top` and `/proc/loadavg` read the same numbers a Linux machine
//! under the same load would. Kestrel has no uninterruptible sleeps worth the
//! name (a wait that ignores signals is a lock or one disk request), so only
//! runnable threads count; `procs_blocked` in /proc/stat is 0 for the same
//! reason.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::process;

/// Bits of fraction in the averages (Linux's FSHIFT).
pub const FSHIFT: u32 = 11;
/// 1.0 in that fixed point.
pub const FIXED_1: u64 = 1 << FSHIFT;
/// e^(-5 s / 1 min), e^(-5 s / 5 min), e^(-5 s / 15 min) in fixed point.
const EXP: [u64; 3] = [1884, 2014, 2037];
/// How often a sample is taken (Linux's LOAD_FREQ, 5 s).
const LOAD_FREQ_NS: u64 = 5_000_000_000;

static AVENRUN: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// One step of the average: `load` decayed by `exp` towards `active`
/// (both fixed point), rounded up while the load rises as Linux's calc_load.
fn calc_load(load: u64, exp: u64, active: u64) -> u64 {
    let mut new = load * exp + active * (FIXED_1 - exp);
    if active >= load {
        new += FIXED_1 - 1;
    }
    new / FIXED_1
}

/// User threads that are runnable now: queued, being polled, or running user
/// code (their task is polled while they do).
pub fn running_threads() -> usize {
    process::all()
        .iter()
        .map(|p| {
            p.threads
                .lock()
                .iter()
                .filter(|t| t.task.get().is_none_or(|task| task.is_runnable()))
                .count()
        })
        .sum()
}

/// Folds the current count into the three averages.
fn sample() {
    let active = running_threads() as u64 * FIXED_1;
    for (avg, exp) in AVENRUN.iter().zip(EXP) {
        avg.store(
            calc_load(avg.load(Ordering::Relaxed), exp, active),
            Ordering::Relaxed,
        );
    }
}

/// The three averages in [`FSHIFT`] fixed point.
pub fn averages() -> [u64; 3] {
    [0, 1, 2].map(|i| AVENRUN[i].load(Ordering::Relaxed))
}

/// The sampling task, started once at boot.
pub async fn sampler() {
    loop {
        crate::task::sleep(LOAD_FREQ_NS).await;
        sample();
    }
}

/// `/proc/loadavg`'s first three fields: each average rounded to hundredths
/// (Linux adds FIXED_1/200 before cutting, as get_avenrun's offset).
pub fn text() -> alloc::string::String {
    use core::fmt::Write;
    let mut s = alloc::string::String::new();
    for (i, a) in averages().into_iter().enumerate() {
        let a = a + FIXED_1 / 200;
        let frac = ((a & (FIXED_1 - 1)) * 100) >> FSHIFT;
        let _ = write!(
            s,
            "{}{}.{frac:02}",
            if i > 0 { " " } else { "" },
            a >> FSHIFT
        );
    }
    s
}

crate::ktest!(
    a_steady_load_of_one_approaches_one_and_decays_to_zero,
    async {
        let mut a = 0;
        // One minute of samples: 1 - 1/e of the way for the 1-minute average.
        for _ in 0..12 {
            a = calc_load(a, EXP[0], FIXED_1);
        }
        crate::kcheck!((1290..=1310).contains(&a), "after a minute: {a}");
        for _ in 0..240 {
            a = calc_load(a, EXP[0], FIXED_1);
        }
        crate::kcheck!(a == FIXED_1, "after 21 minutes: {a}");
        for _ in 0..240 {
            a = calc_load(a, EXP[0], 0);
        }
        crate::kcheck!(a == 0, "20 minutes idle: {a}");
        Ok(())
    }
);
