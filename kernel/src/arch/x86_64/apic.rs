//! The local APIC (xAPIC, memory-mapped): end-of-interrupt, the one-shot timer, IPIs.

use core::sync::atomic::{AtomicU64, Ordering};

use super::cpu::{self, msr};
use super::irq::{SPURIOUS_VECTOR, TIMER_VECTOR};

mod reg {
    pub const ID: usize = 0x20;
    pub const TPR: usize = 0x80;
    pub const EOI: usize = 0xb0;
    pub const SVR: usize = 0xf0;
    pub const LVT_TIMER: usize = 0x320;
    pub const LVT_LINT0: usize = 0x350;
    pub const LVT_LINT1: usize = 0x360;
    pub const LVT_ERROR: usize = 0x370;
    pub const ICR_LOW: usize = 0x300;
    pub const ICR_HIGH: usize = 0x310;
    pub const TIMER_INITIAL: usize = 0x380;
    pub const TIMER_CURRENT: usize = 0x390;
    pub const TIMER_DIVIDE: usize = 0x3e0;
}

const LVT_MASKED: u32 = 1 << 16;
const LVT_NMI: u32 = 0b100 << 8;
/// Divide configuration 0b0011: the timer counts at bus clock / 16.
const DIVIDE_BY_16: u32 = 0b0011;

/// Virtual address of this machine's local APIC registers (0 before `init`).
static BASE: AtomicU64 = AtomicU64::new(0);
/// Timer ticks per millisecond at divide-by-16, from calibration.
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

fn read(r: usize) -> u32 {
    let base = BASE.load(Ordering::Relaxed);
    // SAFETY: `base` maps the 4 KiB APIC page uncached (init); `r` is a register offset.
    unsafe { core::ptr::read_volatile((base as usize + r) as *const u32) }
}

fn write(r: usize, v: u32) {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        return; // before init (e.g. an early panic): nothing to program
    }
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile((base as usize + r) as *mut u32, v) };
}

/// Physical address of the local APIC, from IA32_APIC_BASE.
pub fn phys_base() -> u64 {
    cpu::rdmsr(msr::APIC_BASE) & 0xf_ffff_f000
}

/// Enables this CPU's local APIC, mapped at `virt`: spurious vector, LINT1 as NMI,
/// LINT0 and errors masked, timer stopped.
pub fn init(virt: u64) {
    BASE.store(virt, Ordering::Relaxed);
    init_cpu();
}

/// Enables the calling CPU's local APIC, at the address every CPU sees its own at
/// (`init` mapped it): spurious vector, LINT1 as NMI, LINT0 and errors masked, timer
/// stopped.
pub fn init_cpu() {
    // SAFETY: setting the global-enable bit (11) of IA32_APIC_BASE keeps the base.
    unsafe { cpu::wrmsr(msr::APIC_BASE, cpu::rdmsr(msr::APIC_BASE) | (1 << 11)) };
    write(reg::TPR, 0);
    write(reg::LVT_LINT0, LVT_MASKED);
    write(reg::LVT_LINT1, LVT_NMI);
    write(reg::LVT_ERROR, LVT_MASKED);
    write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
    // Unmasked once (a count of 0 keeps it stopped): arming is then one write
    // of the count (`arm_oneshot`); under QEMU each write of the LVT entry
    // re-arms the emulated timer as a write of the count does.
    write(reg::LVT_TIMER, u32::from(TIMER_VECTOR));
    write(reg::TIMER_INITIAL, 0);
    write(reg::SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
}

/// This CPU's APIC id.
pub fn id() -> u32 {
    read(reg::ID) >> 24
}

/// Signals end of interrupt.
pub fn eoi() {
    write(reg::EOI, 0);
}

/// Starts the timer counting down from its maximum (for calibration).
pub fn start_calibration() {
    write(reg::LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(reg::TIMER_INITIAL, u32::MAX);
}

/// One calibration sample: the timer's count and the TSC at the middle of reading it
/// (the TSC read before and after, averaged). Taking both ends of the calibration
/// window this way measures the timer against the TSC over the very same interval:
/// the register accesses themselves (tens of microseconds under TCG) cancel out
/// instead of making every timer fire late by a fixed fraction of its interval.
pub fn calibration_sample() -> (u64, u32) {
    let before = cpu::rdtsc();
    let count = read(reg::TIMER_CURRENT);
    let after = cpu::rdtsc();
    (before + (after - before) / 2, count)
}

/// Ends calibration: the timer counted from `start` to `end` (two
/// [`calibration_sample`]s) while the TSC advanced `end.0 - start.0` ticks at
/// `tsc_hz`; records and returns the timer's ticks per millisecond.
pub fn finish_calibration(start: (u64, u32), end: (u64, u32), tsc_hz: u64) -> u64 {
    write(reg::TIMER_INITIAL, 0);
    write(reg::LVT_TIMER, u32::from(TIMER_VECTOR));
    let ticks = u128::from(start.1.wrapping_sub(end.1));
    let tsc = u128::from(end.0.saturating_sub(start.0).max(1));
    let per_ms = (ticks * u128::from(tsc_hz) / (tsc * 1000)).max(1) as u64;
    TICKS_PER_MS.store(per_ms, Ordering::Relaxed);
    per_ms
}

/// The TSC's frequency was found to be `new_hz` rather than `old_hz`: the timer's
/// rate, measured against the TSC, is scaled by the same factor.
pub fn rescale(old_hz: u64, new_hz: u64) {
    let per_ms = TICKS_PER_MS.load(Ordering::Relaxed);
    let scaled = u128::from(per_ms) * u128::from(new_hz) / u128::from(old_hz.max(1));
    TICKS_PER_MS.store((scaled as u64).max(1), Ordering::Relaxed);
}

/// Arms the one-shot timer for monotonic time `deadline` (ns), unless it is
/// already armed for that time or an earlier one. Each CPU remembers its own
/// armed deadline (`PerCpu::timer_armed_at`), so that arming the same or a
/// later deadline costs nothing (an MMIO write, slow when emulated).
#[inline]
pub fn arm_at(deadline: u64, now: u64) {
    // The profiler wants a tick at least every period while the CPU is busy.
    let deadline = match crate::profile::period_ns() {
        0 => deadline,
        p => deadline.min(now.saturating_add(p)),
    };
    // Only this CPU writes its slot (its timer interrupt too: if that lands between
    // the load and the store, the timer is armed again, as it should be), so a
    // load and a store do; a locked exchange is slow when emulated.
    //
    // Only ever earlier: a deadline later than the one armed leaves the timer as
    // it is, to fire early (the executor and the thread loop take a timer
    // interrupt that finds nothing due as they take any other: they arm again for
    // what is left). Two threads taking turns each want their own slice's end;
    // re-arming at every switch cost a timer write per switch, and under QEMU
    // each write of the timer's count also wakes QEMU's main loop thread (the new
    // deadline may be its earliest): an eventfd write and a host thread wake-up.
    let armed = &super::percpu::this_cpu().timer_armed_at;
    if deadline < armed.load(Ordering::Relaxed) {
        armed.store(deadline, Ordering::Relaxed);
        arm_oneshot(early(deadline.saturating_sub(now)));
    }
}

/// How long to arm the timer for a deadline `ns` away: a little less than
/// that when it is more than a millisecond away. The timer's rate is known
/// relative to the TSC from boot's 2 ms window, read across MMIO accesses
/// that take microseconds under TCG: it is off by up to about 0.1 %, which
/// made a 100 ms sleep end ~0.2 ms late and a 1 s one ~0.8 ms late (LTP's
/// pselect01, epoll_wait02 and select02 allow ~0.5 ms). Armed 1/256 short,
/// the timer fires ahead of a far deadline, the executor finds it not yet
/// due and arms again for the rest (a 256th of the span, where the rate's
/// error is negligible): one more interrupt per far deadline.
#[inline]
fn early(ns: u64) -> u64 {
    if ns > 1_000_000 { ns - ns / 256 } else { ns }
}

/// The deadline this CPU's timer is armed for (`u64::MAX`: none, or it fired).
#[inline]
pub fn armed_deadline() -> u64 {
    super::percpu::this_cpu()
        .timer_armed_at
        .load(Ordering::Relaxed)
}

/// The timer interrupt arrived: whatever was armed has fired.
pub fn timer_fired() {
    let armed = &super::percpu::this_cpu().timer_armed_at;
    match crate::profile::period_ns() {
        0 if crate::watchdog::ticks_alone() => {
            // The lockup watchdog of a lone CPU: the next tick comes however
            // long this CPU stays in one poll (the executor arms an earlier
            // one for its own deadlines as usual).
            let p = crate::watchdog::TICK_NS;
            armed.store(crate::time::now_ns() + p, Ordering::Relaxed);
            arm_oneshot(p);
        }
        0 => armed.store(u64::MAX, Ordering::Relaxed),
        p => {
            // Profiling: the next sample's tick, however long this CPU stays busy
            // in the kernel (an idle CPU re-arms for its own deadline).
            let now = crate::time::now_ns();
            armed.store(now + p, Ordering::Relaxed);
            arm_oneshot(p);
        }
    }
}

/// Fires the timer interrupt once, `ns` from now (at least one tick; longer delays
/// are clamped to the counter's range, and the executor re-arms on wake-up).
pub fn arm_oneshot(ns: u64) {
    let per_ms = TICKS_PER_MS.load(Ordering::Relaxed).max(1);
    let ticks = (u128::from(ns) * u128::from(per_ms) / 1_000_000).clamp(1, u128::from(u32::MAX));
    write(reg::TIMER_INITIAL, ticks as u32);
}

/// Stops the timer.
pub fn disarm() {
    super::percpu::this_cpu()
        .timer_armed_at
        .store(u64::MAX, Ordering::Relaxed);
    write(reg::TIMER_INITIAL, 0);
}

/// Sends an NMI to every CPU but this one (the panic path stops them with it).
pub fn nmi_all_others() {
    const NMI: u32 = 0b100 << 8;
    const ALL_BUT_SELF: u32 = 0b11 << 18;
    icr(0, NMI | ALL_BUT_SELF);
}

/// Sends an NMI to the CPU with local APIC id `apic_id` (the lockup watchdog
/// samples a CPU that stopped running its executor with it).
pub fn send_nmi(apic_id: u32) {
    const NMI: u32 = 0b100 << 8;
    icr(apic_id, NMI);
}

/// Sends fixed interrupt `vector` to the CPU with local APIC id `apic_id`.
pub fn send_ipi(apic_id: u32, vector: u8) {
    icr(apic_id, u32::from(vector));
}

/// Sends INIT, then two STARTUPs at physical page `page` (< 1 MiB), to the CPU with
/// APIC id `apic_id`: the Intel MP start-up sequence (SDM vol. 3, 11.4.4), with the
/// waits it asks for.
pub fn start_cpu(apic_id: u32, page: u64, wait_us: &dyn Fn(u64)) {
    const INIT: u32 = 0b101 << 8;
    const STARTUP: u32 = 0b110 << 8;
    const ASSERT: u32 = 1 << 14;
    icr(apic_id, INIT | ASSERT);
    wait_us(10_000);
    for _ in 0..2 {
        icr(apic_id, STARTUP | ((page >> 12) as u32 & 0xff));
        wait_us(200);
    }
}

/// Puts the CPU with APIC id `apic_id` back in its reset state (INIT), where it
/// waits for a STARTUP that never comes.
pub fn stop_cpu(apic_id: u32) {
    const INIT: u32 = 0b101 << 8;
    const ASSERT: u32 = 1 << 14;
    icr(apic_id, INIT | ASSERT);
}

/// Writes the interrupt command register (destination first; the low word sends)
/// and waits until the local APIC has sent the interrupt.
fn icr(apic_id: u32, low: u32) {
    const DELIVERY_PENDING: u32 = 1 << 12;
    // Interrupts off: an interrupt handler sending its own IPI between the two
    // writes would change the destination under us.
    let reenable = cpu::interrupts_enabled();
    cpu::disable_interrupts();
    // Wait for the previous IPI to be accepted before sending, not for this one
    // after: the sender goes on at once (a profile showed wake-up IPIs costing 7%
    // of CPU time in the wait after each send under TCG), as Linux's
    // apic_wait_icr_idle before each write.
    while read(reg::ICR_LOW) & DELIVERY_PENDING != 0 {
        core::hint::spin_loop();
    }
    write(reg::ICR_HIGH, apic_id << 24);
    write(reg::ICR_LOW, low);
    if reenable {
        cpu::enable_interrupts();
    }
}
