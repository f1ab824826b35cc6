//! The lockup watchdog: Linux's soft-lockup detector, in executor terms.
//!
//! Kestrel's CPUs multitask cooperatively. A task whose poll does not return (a
//! loop that forgets to yield, a spin on a lock nobody lets go, a device that
//! never answers) keeps its CPU from everything else queued there, user threads
//! included. So a task pinned to each CPU wakes once a second and stamps that
//! CPU's slot, then looks at the other CPUs' stamps. A stamp older than the
//! threshold (`kestrel.watchdog=SECS`, 2 s unless set; 0 turns the watchdog
//! off) means that CPU has not run its executor's timers for that long. The
//! watchdog then asks it where it is with an NMI, which a CPU spinning with
//! interrupts off takes too, and logs what it learns: the task the CPU is
//! polling, and the instruction and kernel backtrace the NMI interrupted. When
//! the CPU stamps again, the watchdog logs how long it was gone.
//!
//! A thread running user code for a long time is not stuck. It comes back to
//! the kernel at the next timer, the watchdog's included, and its task yields
//! to the watchdog then. What the watchdog reports is time in the kernel
//! without a break.
//!
//! With one CPU there is no other CPU to watch from. The watchdog task then
//! only stamps, and the timer interrupt does the checking: while the watchdog
//! is on, each timer interrupt arms the next one a second later (so a CPU
//! stuck in one poll still takes one every second), and one that arrives in
//! kernel mode with a stamp older than the threshold reports the lockup from
//! there, with the interrupted instruction's backtrace, written straight to
//! the serial port (an interrupt must not take the console's lock). A CPU
//! stuck with interrupts off is found only with two CPUs or more.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::{apic, percpu};
use crate::{task, time};

const MAX_CPUS: usize = task::MAX_CPUS;

/// Return addresses kept from an NMI sample's backtrace.
const FRAMES: usize = 16;

/// What the watchdog knows of one CPU.
struct Slot {
    /// When the CPU's watchdog task last ran (monotonic ns; 0: not yet).
    stamp: AtomicU64,
    /// The stale stamp a lockup was reported for (0: none outstanding).
    reported: AtomicU64,
    /// An NMI sample is asked for.
    want: AtomicBool,
    /// Samples taken: the asker waits for this to move.
    taken: AtomicU64,
    /// Where the last sample found the CPU.
    rip: AtomicU64,
    user: AtomicBool,
    /// The kernel backtrace's return addresses (0 ends them).
    frames: [AtomicU64; FRAMES],
}

impl Slot {
    const fn new() -> Self {
        Self {
            stamp: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            want: AtomicBool::new(false),
            taken: AtomicU64::new(0),
            rip: AtomicU64::new(0),
            user: AtomicBool::new(false),
            frames: [const { AtomicU64::new(0) }; FRAMES],
        }
    }
}

static SLOTS: [Slot; MAX_CPUS] = [const { Slot::new() }; MAX_CPUS];

/// Lockups reported since boot (the in-kernel test waits for one).
pub static REPORTS: AtomicU64 = AtomicU64::new(0);

/// The threshold in ns while the timer interrupt is the one watching (one
/// CPU); 0 otherwise.
static ALONE: AtomicU64 = AtomicU64::new(0);

/// How often the timer interrupt comes while it watches alone.
pub const TICK_NS: u64 = 1_000_000_000;

/// Starts a watchdog task on each CPU, reporting a CPU that ran no executor
/// pass for more than `threshold_s` seconds (0: none).
pub fn start(threshold_s: u64) {
    let cpus = percpu::online().min(MAX_CPUS);
    if threshold_s == 0 {
        return;
    }
    if cpus < 2 {
        ALONE.store(threshold_s * 1_000_000_000, Ordering::Relaxed);
        task::spawn_on("watchdog", 1, stamp_alone()).detach();
        // The first tick: every tick arms the next (apic::timer_fired).
        let now = time::now_ns();
        apic::arm_at(now + TICK_NS, now);
        return;
    }
    for cpu in 0..cpus {
        task::spawn_on(
            "watchdog",
            1 << cpu,
            watch(cpu, threshold_s * 1_000_000_000),
        )
        .detach();
    }
}

async fn watch(me: usize, threshold: u64) {
    loop {
        let now = time::now_ns().max(1);
        SLOTS[me].stamp.store(now, Ordering::Release);
        for cpu in (0..percpu::online().min(MAX_CPUS)).filter(|&c| c != me) {
            check(cpu, now, threshold).await;
        }
        task::sleep(1_000_000_000).await;
    }
}

/// The one CPU's watchdog task: stamps, and says when a reported lockup ended.
async fn stamp_alone() {
    loop {
        let now = time::now_ns().max(1);
        let reported = SLOTS[0].reported.swap(0, Ordering::AcqRel);
        if reported != 0 {
            log::warn!(
                "watchdog: CPU 0 runs its tasks again, after {} ms without a pass",
                now.saturating_sub(reported) / 1_000_000
            );
        }
        SLOTS[0].stamp.store(now, Ordering::Release);
        task::sleep(TICK_NS).await;
    }
}

/// Whether the timer interrupt should come again in [`TICK_NS`] (the one
/// CPU's watchdog is on).
#[inline]
pub fn ticks_alone() -> bool {
    ALONE.load(Ordering::Relaxed) != 0
}

/// The timer interrupt arrived in kernel mode at `rip` (frame pointer `rbp`):
/// with one CPU, reports a lockup if the watchdog task has not run for longer
/// than the threshold. Interrupt context: no locks, no allocation.
pub fn kernel_tick(rip: u64, rbp: u64) {
    let threshold = ALONE.load(Ordering::Relaxed);
    if threshold == 0 {
        return;
    }
    let slot = &SLOTS[0];
    let stamp = slot.stamp.load(Ordering::Acquire);
    let now = time::now_ns();
    if stamp == 0 || now.saturating_sub(stamp) <= threshold {
        return;
    }
    if slot.reported.swap(stamp, Ordering::AcqRel) == stamp {
        return; // reported already
    }
    REPORTS.fetch_add(1, Ordering::Relaxed);
    let mut sample = Sample {
        rip,
        user: false,
        frames: [0; FRAMES],
    };
    let mut n = 0;
    crate::arch::backtrace::walk(rbp, FRAMES, |ret| {
        sample.frames[n] = ret;
        n += 1;
    });
    crate::console::emergency_write(format_args!(
        "watchdog: CPU 0 stuck for {} ms: no executor pass since {}.{:03} s\n  CPU 0: {sample}\n",
        (now - stamp) / 1_000_000,
        stamp / 1_000_000_000,
        stamp / 1_000_000 % 1000
    ));
}

/// Reports CPU `cpu` if its stamp is older than `threshold` (once per
/// lockup, whichever CPU sees it first), and its return once it stamps again.
async fn check(cpu: usize, now: u64, threshold: u64) {
    let slot = &SLOTS[cpu];
    let stamp = slot.stamp.load(Ordering::Acquire);
    if stamp == 0 {
        return;
    }
    let reported = slot.reported.load(Ordering::Acquire);
    if reported != 0 && reported != stamp {
        if slot
            .reported
            .compare_exchange(reported, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            log::warn!(
                "watchdog: CPU {cpu} runs its tasks again, after {} ms without a pass",
                stamp.saturating_sub(reported) / 1_000_000
            );
        }
        return;
    }
    let age = now.saturating_sub(stamp);
    if age <= threshold || reported == stamp {
        return;
    }
    if slot
        .reported
        .compare_exchange(reported, stamp, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return; // another CPU's watchdog is reporting it
    }
    let report = describe(cpu).await;
    REPORTS.fetch_add(1, Ordering::Relaxed);
    log::warn!(
        "watchdog: CPU {cpu} stuck for {} ms: no executor pass since {}.{:03} s\n{report}",
        age / 1_000_000,
        stamp / 1_000_000_000,
        stamp / 1_000_000 % 1000
    );
}

/// What CPU `cpu` is doing: the task it polls and an NMI sample of where it is.
pub async fn describe(cpu: usize) -> String {
    let polling = describe_task(cpu)
        .unwrap_or_else(|| String::from("no task seen polling (or the task list was locked)"));
    match sample(cpu).await {
        Some(s) => format!("  CPU {cpu}: {polling}, {s}"),
        None => format!("  CPU {cpu}: {polling}; it did not answer an NMI in 100 ms"),
    }
}

/// The task CPU `cpu` is polling, as "task ID (NAME)", if it polls one and the
/// task list could be read without waiting (the CPU that holds it may be the
/// one stuck).
pub fn describe_task(cpu: usize) -> Option<String> {
    task::scheduler()
        .try_tasks()?
        .into_iter()
        .find(|t| t.last_cpu == cpu && t.phase == kestrel_executor::TaskPhase::Running)
        .map(|t| format!("task {} ({})", t.id, t.name))
}

/// Where an NMI or a timer interrupt found a CPU.
pub struct Sample {
    rip: u64,
    user: bool,
    /// Return addresses, 0 after the last.
    frames: [u64; FRAMES],
}

impl core::fmt::Display for Sample {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.user {
            return write!(f, "in user mode at {:#x}", self.rip);
        }
        write!(f, "in the kernel at ")?;
        symbol(f, self.rip)?;
        for &ret in self.frames.iter().take_while(|&&r| r != 0) {
            write!(f, "\n      called from ")?;
            symbol(f, ret.wrapping_sub(1))?;
        }
        Ok(())
    }
}

fn symbol(f: &mut core::fmt::Formatter<'_>, addr: u64) -> core::fmt::Result {
    match crate::symbols::lookup(addr) {
        Some((name, off)) => write!(f, "{addr:#x} {name}+{off:#x}"),
        None => write!(f, "{addr:#x}"),
    }
}

/// Asks CPU `cpu` (not this one) where it is, with an NMI; waits up to 100 ms.
pub async fn sample(cpu: usize) -> Option<Sample> {
    let slot = SLOTS.get(cpu)?;
    let area = percpu::cpu(cpu)?;
    if cpu == task::this_cpu() {
        return None;
    }
    let before = slot.taken.load(Ordering::Acquire);
    slot.want.store(true, Ordering::Release);
    apic::send_nmi(area.apic_id.load(Ordering::Relaxed));
    for _ in 0..100 {
        if slot.taken.load(Ordering::Acquire) != before {
            let mut frames = [0; FRAMES];
            for (f, s) in frames.iter_mut().zip(&slot.frames) {
                *f = s.load(Ordering::Relaxed);
            }
            return Some(Sample {
                rip: slot.rip.load(Ordering::Relaxed),
                user: slot.user.load(Ordering::Relaxed),
                frames,
            });
        }
        task::sleep(1_000_000).await;
    }
    slot.want.store(false, Ordering::Release);
    None
}

/// An NMI on this CPU, taken at `rip` with frame pointer `rbp` (`user`: in user
/// mode): records a sample if one was asked for. NMI context: no locks, no
/// allocation, and not GS (the NMI may land where GS is still the user's), so
/// this CPU is found by its local APIC id.
pub fn on_nmi(rip: u64, rbp: u64, user: bool) {
    let id = apic::id();
    let Some(me) = (0..percpu::online().min(MAX_CPUS))
        .find(|&c| percpu::cpu(c).is_some_and(|p| p.apic_id.load(Ordering::Relaxed) == id))
    else {
        return;
    };
    let slot = &SLOTS[me];
    if !slot.want.swap(false, Ordering::AcqRel) {
        return;
    }
    slot.rip.store(rip, Ordering::Relaxed);
    slot.user.store(user, Ordering::Relaxed);
    let mut n = 0;
    if !user {
        crate::arch::backtrace::walk(rbp, FRAMES, |ret| {
            slot.frames[n].store(ret, Ordering::Relaxed);
            n += 1;
        });
    }
    if n < FRAMES {
        slot.frames[n].store(0, Ordering::Relaxed);
    }
    slot.taken.fetch_add(1, Ordering::Release);
}
