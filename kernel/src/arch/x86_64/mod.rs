//! x86-64: CPU setup, traps, interrupt controllers, timers.

pub mod acpi;
pub mod apic;
pub mod backtrace;
pub mod cpu;
pub mod crash;
pub mod debugreg;
pub mod fpu;
pub mod gdt;
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

/// Masks the legacy PICs, enables the local APIC and the I/O APIC, and calibrates
/// the TSC and the APIC timer against the PIT (20 ms).
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

    // The PIT times the window; the TSC and the APIC timer are sampled at both ends
    // of it, the timer's count read between two TSC reads, so that the timer's rate is
    // known relative to the TSC (the clock every deadline is in).
    let start = Cell::new((0u64, 0u32));
    let end = pit::measure(
        20,
        || {
            apic::start_calibration();
            start.set(apic::calibration_sample());
        },
        apic::calibration_sample,
    );
    let tsc_hz = (end.0 - start.get().0) * 50;
    let lapic_per_ms = apic::finish_calibration(start.get(), end, tsc_hz);

    MADT.call_once(|| madt);
    InterruptInfo {
        cpus: madt.cpu_count,
        ioapic_lines,
        tsc_hz,
        lapic_ticks_per_ms: lapic_per_ms,
        acpi,
    }
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
