//! x86-64: CPU setup, traps, interrupt controllers, timers.

pub mod acpi;
pub mod apic;
pub mod backtrace;
pub mod cpu;
pub mod crash;
pub mod debugreg;
pub mod fpu;
pub mod gdt;
pub mod hpet;
pub mod ioapic;
pub mod irq;
mod ktests;
pub mod mmio;
pub mod percpu;
pub mod pic;
pub mod pit;
pub mod port;
pub mod qemu;
pub mod rtc;
pub mod smp;
pub mod tlb;
pub mod trap;
pub mod usercopy;

use core::cell::Cell;
use core::sync::atomic::Ordering;

use gdt::{Gdt, Tss};

/// A statically allocated stack for the bootstrap CPU's trap paths.
#[repr(C, align(16))]
struct Stack<const N: usize>([u8; N]);

static mut BSP_ENTRY_STACK: Stack<{ 16 * 1024 }> = Stack([0; 16 * 1024]);
static mut BSP_DOUBLE_FAULT_STACK: Stack<{ 16 * 1024 }> = Stack([0; 16 * 1024]);
static mut BSP_NMI_STACK: Stack<{ 8 * 1024 }> = Stack([0; 8 * 1024]);
static mut BSP_MCE_STACK: Stack<{ 8 * 1024 }> = Stack([0; 8 * 1024]);
static mut BSP_DEBUG_STACK: Stack<{ 8 * 1024 }> = Stack([0; 8 * 1024]);

static BSP_TSS: spin::Once<Tss> = spin::Once::new();
static BSP_GDT: spin::Once<Gdt> = spin::Once::new();

fn top<const N: usize>(s: *const Stack<N>) -> u64 {
    s as u64 + N as u64
}

/// First thing at boot: per-CPU area, GDT with TSS and IST stacks, IDT. From here on
/// a CPU exception produces a report instead of a triple fault.
pub fn init_early() {
    percpu::init_bsp();
    let entry_top = top(&raw const BSP_ENTRY_STACK);
    let tss = BSP_TSS.call_once(|| {
        let mut tss = Tss::new();
        tss.rsp[0] = entry_top;
        tss.ist[usize::from(gdt::IST_DOUBLE_FAULT) - 1] = top(&raw const BSP_DOUBLE_FAULT_STACK);
        tss.ist[usize::from(gdt::IST_NMI) - 1] = top(&raw const BSP_NMI_STACK);
        tss.ist[usize::from(gdt::IST_MACHINE_CHECK) - 1] = top(&raw const BSP_MCE_STACK);
        tss.ist[usize::from(gdt::IST_DEBUG) - 1] = top(&raw const BSP_DEBUG_STACK);
        tss
    });
    let gdt = BSP_GDT.call_once(|| Gdt::new(tss, 0));
    // SAFETY: the GDT and TSS are 'static.
    unsafe { gdt.load() };
    percpu::this_cpu()
        .entry_stack_top
        .store(entry_top, Ordering::Relaxed);
    percpu::this_cpu()
        .tss
        .store(tss as *const Tss as *mut Tss, Ordering::Relaxed);
    trap::load_idt();
    trap::init_syscall();
}

/// What interrupt setup found.
#[derive(Debug, Clone, Copy)]
pub struct InterruptInfo {
    pub cpus: usize,
    pub ioapic_lines: u32,
    pub tsc_hz: u64,
    pub lapic_ticks_per_ms: u64,
    pub acpi: bool,
}

/// A calibration sample: (TSC, APIC timer count).
type Sample = (u64, u32);

/// The window that calibrates the TSC and the APIC timer at boot (ms).
const CALIBRATION_MS: u64 = 2;
/// Windows measured at most, for one whose ends were seen in time.
const CALIBRATION_TRIES: usize = 5;
/// A window is good when its unobserved time is under 1/this of it.
const CALIBRATION_SLACK: u64 = 100;

/// (HPET count, TSC) at the end of the boot's calibration window, and the TSC
/// frequency it found: where [`refine_clock`] measures from.
static REFINE_FROM: spin::Mutex<Option<((u64, u64), u64)>> = spin::Mutex::new(None);

/// Masks the legacy PICs, enables the local APIC and the I/O APIC, and calibrates
/// the TSC and the APIC timer over a 2 ms window timed by the HPET, or the PIT
/// without one (with an HPET, the TSC's frequency is refined later by
/// [`refine_clock`]).
pub fn init_interrupts(rsdp: Option<u64>) -> InterruptInfo {
    pic::disable();
    let madt = acpi::parse_madt(rsdp);
    let acpi = madt.is_some();
    let madt = madt.unwrap_or_else(acpi::Madt::fallback);
    apic::init(crate::mm::paging::map_mmio(apic::phys_base(), 4096));
    percpu::this_cpu()
        .apic_id
        .store(apic::id(), Ordering::Relaxed);
    let ioapic_lines = ioapic::init(crate::mm::paging::map_mmio(madt.ioapic_phys, 4096));
    irq::register(irq::TIMER_VECTOR, apic::timer_fired);
    irq::register(irq::WAKE_IPI_VECTOR, || {
        percpu::this_cpu()
            .wakeups
            .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    });
    irq::register(tlb::SHOOTDOWN_VECTOR, tlb::on_shootdown_ipi);

    // A short window timed by the HPET (the PIT without one); the TSC and the APIC
    // timer are sampled at both ends of it, the timer's count read between two
    // TSC reads, so that the timer's rate is known relative to the TSC (the clock
    // every deadline is in). A window whose ends were seen late (the host stopped
    // the virtual CPU there) is measured again; [`refine_clock`] measures the TSC
    // again over a second.
    let hpet = acpi::find_hpet(rsdp).is_some_and(hpet::init);
    let (start, end, tsc_hz) = if hpet {
        calibrate_hpet()
    } else {
        calibrate_pit()
    };
    let lapic_per_ms = apic::finish_calibration(start, end, tsc_hz);

    MADT.call_once(|| madt);
    InterruptInfo {
        cpus: madt.cpu_count,
        ioapic_lines,
        tsc_hz,
        lapic_ticks_per_ms: lapic_per_ms,
        acpi,
    }
}

/// Calibration against the PIT: (APIC samples at both ends, TSC Hz).
fn calibrate_pit() -> (Sample, Sample, u64) {
    // (start sample, end sample, unobserved TSC ticks) of the best window.
    let mut best: Option<(Sample, Sample, u64)> = None;
    for _ in 0..CALIBRATION_TRIES {
        let start = Cell::new((0u64, 0u32));
        let (end, slack) = pit::measure(
            CALIBRATION_MS,
            || {
                apic::start_calibration();
                start.set(apic::calibration_sample());
            },
            apic::calibration_sample,
        );
        let window = end.0 - start.get().0;
        if best.is_none_or(|b| slack < b.2) {
            best = Some((start.get(), end, slack));
        }
        if slack * CALIBRATION_SLACK < window {
            break;
        }
    }
    let (start, end, _) = best.expect("at least one calibration window");
    (start, end, (end.0 - start.0) * 1000 / CALIBRATION_MS)
}

/// Calibration against the HPET: each end of the window is an APIC sample and an
/// HPET one, each with the TSC; the window's length in TSC ticks is taken between
/// the two HPET samples, whose readings are bracketed by TSC reads, so a host that
/// stops the virtual CPU anywhere but inside a reading costs nothing.
fn calibrate_hpet() -> (Sample, Sample, u64) {
    let counts = CALIBRATION_MS * 1_000_000_000_000 / hpet::period_fs().max(1);
    let mut best: Option<(Sample, Sample, u64, u64)> = None;
    for _ in 0..CALIBRATION_TRIES {
        apic::start_calibration();
        let a0 = apic::calibration_sample();
        let Some(h0) = hpet::sample() else { break };
        let mut h1 = h0;
        while h1.0.wrapping_sub(h0.0) < counts {
            core::hint::spin_loop();
            h1 = hpet::sample().unwrap_or(h1);
        }
        let a1 = apic::calibration_sample();
        let ticks = h1.1.saturating_sub(h0.1);
        let hz = hpet::rate_hz(ticks, h1.0.wrapping_sub(h0.0));
        let slack = h0.2 + h1.2;
        if best.is_none_or(|b| slack < b.3) {
            best = Some((a0, a1, hz, slack));
            *REFINE_FROM.lock() = Some(((h1.0, h1.1), hz));
        }
        if slack * CALIBRATION_SLACK < ticks {
            break;
        }
    }
    match best {
        Some((a0, a1, hz, _)) if hz > 0 => (a0, a1, hz),
        // The HPET stopped answering: the PIT instead.
        _ => calibrate_pit(),
    }
}

/// The TSC's frequency measured against the HPET from the end of the boot's
/// calibration to now (call it a second or more later, as Linux's
/// tsc_refine_calibration_work does): `Some((boot's, refined))`, or `None` without
/// an HPET (or one whose counter did not move). The longer window is trusted over
/// the boot's short one whatever the difference. The APIC timer's rate, measured
/// against the TSC, is scaled to match.
pub fn refine_clock() -> Option<(u64, u64)> {
    let ((hpet0, tsc0), boot_hz) = (*REFINE_FROM.lock())?;
    let (hpet1, tsc1, _) = hpet::sample()?;
    let hz = hpet::rate_hz(tsc1.saturating_sub(tsc0), hpet1.wrapping_sub(hpet0));
    if hz == 0 {
        return None;
    }
    apic::rescale(boot_hz, hz);
    Some((boot_hz, hz))
}

static MADT: spin::Once<acpi::Madt> = spin::Once::new();

/// Starts the other CPUs the MADT lists (up to `max` CPUs in all), each ending in
/// `main(cpu)`; returns how many CPUs are online, this one included. CPU `stall`
/// (a test of the timeout) is made never to report in.
pub fn start_cpus(main: extern "C" fn(usize) -> !, max: usize, stall: Option<usize>) -> usize {
    let madt = MADT.get().copied().unwrap_or_else(acpi::Madt::fallback);
    smp::start_cpus(&madt.cpu_apic_ids[..madt.cpu_count], main, max, stall)
}

/// Routes ISA IRQ `irq` (with ACPI's overrides) to its vector on this CPU and
/// installs `handler` for it.
pub fn route_isa_irq(irq: u8, handler: irq::Handler) {
    let madt = MADT.get().copied().unwrap_or_else(acpi::Madt::fallback);
    let (gsi, active_low, level) = madt.isa_irq(irq);
    let vector = irq::ISA_BASE + irq;
    irq::register(vector, handler);
    ioapic::route(
        gsi - madt.ioapic_gsi_base,
        vector,
        apic::id(),
        active_low,
        level,
    );
}
