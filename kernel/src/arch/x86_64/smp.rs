//! Bringing up the application processors.
//!
//! The bootstrap CPU starts each CPU the MADT lists with the Intel MP sequence
//! (INIT, then two STARTUP IPIs naming a page below 1 MiB). The CPU wakes in real
//! mode at that page, where [`TRAMPOLINE`]'s code waits: it loads a small GDT,
//! enters protected mode, turns on long mode and paging with the boot page tables
//! (which map the low memory it runs in and the kernel image at its linked
//! address), and jumps into the kernel image, where `ap_high_entry` switches to the
//! kernel's own page table and to the stack the bootstrap CPU allocated for it, and
//! calls [`ap_entry`]. The rest is Rust: per-CPU area, GDT and TSS with IST stacks,
//! IDT, syscall MSRs, CPU features, FPU, local APIC, then the CPU's executor.
//!
//! CPUs start one at a time (one parameter block). A CPU that does not report in
//! within [`START_TIMEOUT_NS`] is reported and left out; the kernel runs on the rest.

use alloc::boxed::Box;
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::gdt::{self, Gdt, Tss};
use super::percpu::{self, PerCpu};
use super::{apic, cpu, fpu, trap};
use crate::mm::{paging, phys_to_virt};

/// The physical page the trampoline is copied to (real mode runs below 1 MiB; the
/// frame allocator never hands out the first MiB).
const TRAMPOLINE_PAGE: u64 = 0x8000;
/// Where in the page the bootstrap CPU leaves the next CPU's parameters.
const PARAMS: u64 = 0xf00;
/// How long a CPU gets to report in.
const START_TIMEOUT_NS: u64 = 1_000_000_000;
/// Kernel stack of each application processor (the one its executor polls on).
const KERNEL_STACK_BYTES: u64 = 256 * 1024;
/// Trap-entry and IST stacks.
const ENTRY_STACK_BYTES: u64 = 16 * 1024;
const IST_STACK_BYTES: u64 = 16 * 1024;

global_asm!(
    r#"
.section .rodata.trampoline, "a"
.global ap_trampoline_start
.global ap_trampoline_end
.code16
ap_trampoline_start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    /* lgdt [ap_gdt_ptr] (16-bit absolute address) */
    .byte 0x0f, 0x01, 0x16
    .short ap_gdt_ptr - ap_trampoline_start + 0x8000
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    /* jmp 0x08:ap_protected (32-bit offset) */
    .byte 0x66, 0xea
    .long ap_protected - ap_trampoline_start + 0x8000
    .short 0x08

.code32
ap_protected:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    /* CR4.PAE | CR4.PGE; CR3 = the boot tables; EFER.LME (+ NXE); CR0.PG | WP | PE */
    mov eax, cr4
    or eax, (1 << 5) | (1 << 7)
    mov cr4, eax
    mov eax, dword ptr [0x8000 + 0xf00 + 24]
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, dword ptr [0x8000 + 0xf00 + 32]
    wrmsr
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16) | 1
    mov cr0, eax
    /* jmp 0x18:ap_long */
    .byte 0xea
    .long ap_long - ap_trampoline_start + 0x8000
    .short 0x18

.code64
ap_long:
    mov edi, dword ptr [0x8000 + 0xf00 + 8]
    mov rsi, qword ptr [0x8000 + 0xf00 + 0]
    mov rdx, qword ptr [0x8000 + 0xf00 + 16]
    movabs rax, offset ap_high_entry
    jmp rax

.balign 8
ap_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
    .quad 0x00af9a000000ffff    /* 0x18: 64-bit code */
ap_gdt_end:
ap_gdt_ptr:
    .short ap_gdt_end - ap_gdt - 1
    .long ap_gdt - ap_trampoline_start + 0x8000
ap_trampoline_end:

.section .text
.code64
/* In the kernel image, still on the boot tables: rdi = CPU index, rsi = stack top,
   rdx = the kernel's page-table root. */
ap_high_entry:
    mov cr3, rdx
    mov rsp, rsi
    xor ebp, ebp
    call {entry}
2:  cli
    hlt
    jmp 2b
"#,
    entry = sym ap_entry,
);

unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static boot_pml4: u8;
}

/// What each application processor needs, prepared by the bootstrap CPU.
struct CpuSetup {
    area: &'static PerCpu,
    gdt: &'static Gdt,
    entry_stack: u64,
}

static SETUP: spin::Mutex<Option<CpuSetup>> = spin::Mutex::new(None);
/// Set by the starting CPU once it runs on its own descriptor tables.
static STARTED: AtomicBool = AtomicBool::new(false);
/// `kestrel.stall_cpu`: the CPU index that hangs instead of starting (0: none).
static STALL: AtomicU64 = AtomicU64::new(0);
/// The rest of an application processor's start, outside `arch` (its executor).
static MAIN: AtomicU64 = AtomicU64::new(0);

fn spin_ns(ns: u64) {
    let end = crate::time::now_ns().saturating_add(ns);
    while crate::time::now_ns() < end {
        core::hint::spin_loop();
    }
}

/// Starts every CPU in `apic_ids` except this one; each ends in `main(cpu)` on its
/// own stack. Returns how many came online (this one included). CPUs get indices in
/// MADT order, the bootstrap CPU keeping 0.
pub fn start_cpus(
    apic_ids: &[u32],
    main: extern "C" fn(usize) -> !,
    max: usize,
    stall: Option<usize>,
) -> usize {
    MAIN.store(main as usize as u64, Ordering::Release);
    STALL.store(stall.map_or(0, |c| c as u64), Ordering::Relaxed);
    let me = apic::id();
    // Copy the trampoline into its page.
    // SAFETY: the linker keeps the trampoline bytes between these two symbols; the
    // page at TRAMPOLINE_PAGE is below 1 MiB, never allocated, and mapped in the
    // direct map; the trampoline is far smaller than PARAMS.
    let (code, boot_tables) = unsafe {
        let start = &raw const ap_trampoline_start;
        let end = &raw const ap_trampoline_end;
        let code = core::slice::from_raw_parts(start, end.offset_from(start) as usize);
        (code, &raw const boot_pml4 as u64 - crate::mm::KERNEL_VMA)
    };
    assert!(
        (code.len() as u64) < PARAMS,
        "trampoline overlaps its parameters"
    );
    let page = phys_to_virt(TRAMPOLINE_PAGE) as *mut u8;
    // SAFETY: as above; nothing else uses this page.
    unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), page, code.len()) };
    let efer_bits = (1u32 << 8) | if cpu::features().nx { 1 << 11 } else { 0 };
    let kernel_root = paging::kernel_table().root();

    let mut index = 1;
    for &apic_id in apic_ids.iter().filter(|&&id| id != me) {
        if index >= super::acpi::MAX_CPUS.min(max) {
            break;
        }
        let Some(setup) = prepare(index) else {
            log::warn!("cpu {index} (APIC {apic_id}): no memory to start it");
            continue;
        };
        let Some(stack) = paging::alloc_kernel_stack(KERNEL_STACK_BYTES) else {
            log::warn!("cpu {index} (APIC {apic_id}): no memory for its stack");
            continue;
        };
        *SETUP.lock() = Some(setup);
        STARTED.store(false, Ordering::SeqCst);
        let params = phys_to_virt(TRAMPOLINE_PAGE + PARAMS) as *mut u64;
        // SAFETY: the parameter block lies in the trampoline page, ours alone.
        unsafe {
            params.add(0).write_volatile(stack);
            params.add(1).write_volatile(index as u64);
            params.add(2).write_volatile(kernel_root);
            params.add(3).write_volatile(boot_tables);
            params.add(4).write_volatile(u64::from(efer_bits));
        }
        apic::start_cpu(apic_id, TRAMPOLINE_PAGE, &|us| spin_ns(us * 1000));
        let deadline = crate::time::now_ns() + START_TIMEOUT_NS;
        while !STARTED.load(Ordering::SeqCst) && crate::time::now_ns() < deadline {
            core::hint::spin_loop();
        }
        if STARTED.load(Ordering::SeqCst) {
            index += 1;
        } else {
            // Left out for good: its setup is withdrawn (a late start halts in
            // ap_entry) and INIT puts it back in reset, so it cannot come up later
            // with the next CPU's parameters.
            SETUP.lock().take();
            apic::stop_cpu(apic_id);
            log::warn!("cpu {index} (APIC {apic_id}) did not start within 1 s: left out");
        }
    }
    index
}

/// Allocates CPU `index`'s per-CPU area, TSS with its IST stacks, and GDT.
fn prepare(index: usize) -> Option<CpuSetup> {
    let area: &'static PerCpu = Box::leak(Box::new(PerCpu::new(index as u32)));
    let entry_stack = paging::alloc_kernel_stack(ENTRY_STACK_BYTES)?;
    let mut tss = Tss::new();
    tss.rsp[0] = entry_stack;
    for ist in [
        gdt::IST_DOUBLE_FAULT,
        gdt::IST_NMI,
        gdt::IST_MACHINE_CHECK,
        gdt::IST_DEBUG,
    ] {
        tss.ist[usize::from(ist) - 1] = paging::alloc_kernel_stack(IST_STACK_BYTES)?;
    }
    let tss: &'static Tss = Box::leak(Box::new(tss));
    area.tss
        .store(tss as *const Tss as *mut Tss, Ordering::Relaxed);
    let gdt: &'static Gdt = Box::leak(Box::new(Gdt::new(tss, index as u32)));
    Some(CpuSetup {
        area,
        gdt,
        entry_stack,
    })
}

/// The first Rust code of an application processor, on its own stack and the
/// kernel's page table.
extern "C" fn ap_entry(cpu: u64) -> ! {
    if cpu != 0 && STALL.load(Ordering::Relaxed) == cpu {
        // kestrel.stall_cpu: behave like a CPU that never answers (the bootstrap
        // CPU's INIT ends this).
        cpu::halt_forever();
    }
    let setup = SETUP.lock().take();
    let Some(setup) = setup else {
        cpu::halt_forever();
    };
    percpu::install(setup.area);
    // SAFETY: the GDT and its TSS were leaked: they live forever.
    unsafe { setup.gdt.load() };
    setup
        .area
        .entry_stack_top
        .store(setup.entry_stack, Ordering::Relaxed);
    trap::load_idt();
    trap::init_syscall();
    cpu::enable_features();
    fpu::init_cpu();
    apic::init_cpu();
    setup.area.apic_id.store(apic::id(), Ordering::Relaxed);
    setup
        .area
        .active_root
        .store(paging::kernel_table().root(), Ordering::Relaxed);
    STARTED.store(true, Ordering::SeqCst);
    let main = MAIN.load(Ordering::Acquire);
    // SAFETY: `start_cpus` stored an `extern "C" fn(usize) -> !` there.
    let main: extern "C" fn(usize) -> ! = unsafe { core::mem::transmute(main as usize) };
    main(cpu as usize)
}
