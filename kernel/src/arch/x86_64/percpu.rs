//! Per-CPU data, reached through the GS segment base.
//!
//! While the CPU runs kernel code, `IA32_GS_BASE` points at this CPU's [`PerCpu`] and
//! `IA32_KERNEL_GS_BASE` holds the user's GS base; `swapgs` exchanges them on every
//! entry from and exit to user mode. The first fields have fixed offsets because the
//! trap and syscall entry code in [`super::trap`] addresses them as `gs:[offset]`.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::cpu::{self, msr};

/// One CPU's data. Fields used from assembly come first, in `#[repr(C)]` order.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct PerCpu {
    /// Points at this structure, so `gs:[0]` yields its address.
    pub self_ptr: AtomicPtr<PerCpu>,
    /// Kernel RSP saved by `enter_user`; a trap from user mode resumes there.
    pub kernel_rsp: AtomicU64,
    /// The `UserContext` of the thread running in user mode on this CPU.
    pub user_ctx: AtomicU64,
    /// The user RSP, parked here by the syscall entry until it is saved.
    pub user_rsp_scratch: AtomicU64,
    /// Top of the stack that traps from user mode land on (TSS.RSP0 too).
    pub entry_stack_top: AtomicU64,
    /// The address of the last kernel fault fixed up through the exception table.
    pub fixup_fault_addr: AtomicU64,
    /// This CPU's index (0 = bootstrap processor).
    pub cpu_id: AtomicU32,
    /// This CPU's local APIC id.
    pub apic_id: AtomicU32,
    /// Interrupts taken (statistics).
    pub interrupts: AtomicU64,
    /// Breakpoint exceptions taken in kernel mode (the in-kernel tests trigger one).
    pub kernel_breakpoints: AtomicU64,
    /// The PKRU this CPU holds (it is reset to 0 at boot): written only when a
    /// thread with another value is about to run, as WRPKRU under QEMU's TCG
    /// flushes its whole TLB.
    pub pkru: AtomicU32,
    /// Whether CR4.TSD is set (user RDTSC faults): it follows the thread
    /// about to run, and is rewritten only when that changes.
    pub tsd: AtomicBool,
    /// What IA32_FS_BASE holds (user FS), so unchanged values are not rewritten.
    pub user_fs_base: AtomicU64,
    /// What IA32_KERNEL_GS_BASE holds (user GS while in the kernel).
    pub user_gs_base: AtomicU64,
    /// Set while the CPU is halted waiting for work (a wake must send an IPI).
    pub halted: AtomicBool,
    /// Set by a user thread's task that yields while runnable (preempted, or
    /// sched_yield), so that the end of its poll is not counted as a wait.
    pub thread_yielding: AtomicBool,
    /// Nanoseconds spent halted (/proc/stat).
    pub idle_ns: AtomicU64,
    /// Nanoseconds spent in user mode (/proc/stat).
    pub user_ns: AtomicU64,
    /// When the CPU came online (monotonic ns; 0 for the bootstrap CPU).
    pub online_at_ns: AtomicU64,
    /// TLB shootdown IPIs this CPU answered.
    pub shootdowns: AtomicU64,
    /// Wake-up IPIs this CPU took.
    pub wakeups: AtomicU64,
    /// The monotonic deadline this CPU's LAPIC timer is armed for (u64::MAX: none).
    pub timer_armed_at: AtomicU64,
    /// The page-table root loaded in CR3 (TLB shootdowns target the CPUs that may
    /// cache an address space's entries).
    pub active_root: AtomicU64,
    /// This CPU's TSS (set once at bring-up), whose I/O bitmap iopl(3) opens.
    pub tss: AtomicPtr<super::gdt::Tss>,
    /// What the TSS's I/O bitmap holds: 0 closed, 1 every port (iopl 3), else
    /// the id of the ioperm bitmap copied there.
    pub io_loaded: AtomicU64,
    /// The running thread's fast system call hook while it is in user mode
    /// (a pointer to `enter_user`'s [`super::trap::FastHook`]; 0 for none).
    pub fast_hook: AtomicU64,
}

/// Byte offsets of the fields the assembly entry code uses.
pub mod offset {
    use super::PerCpu;
    use core::mem::offset_of;
    pub const KERNEL_RSP: usize = offset_of!(PerCpu, kernel_rsp);
    pub const USER_CTX: usize = offset_of!(PerCpu, user_ctx);
    pub const USER_RSP_SCRATCH: usize = offset_of!(PerCpu, user_rsp_scratch);
    pub const ENTRY_STACK_TOP: usize = offset_of!(PerCpu, entry_stack_top);
}

impl PerCpu {
    /// An empty per-CPU area for CPU `cpu_id`.
    pub const fn new(cpu_id: u32) -> Self {
        Self {
            self_ptr: AtomicPtr::new(core::ptr::null_mut()),
            kernel_rsp: AtomicU64::new(0),
            user_ctx: AtomicU64::new(0),
            user_rsp_scratch: AtomicU64::new(0),
            entry_stack_top: AtomicU64::new(0),
            fixup_fault_addr: AtomicU64::new(0),
            cpu_id: AtomicU32::new(cpu_id),
            apic_id: AtomicU32::new(0),
            interrupts: AtomicU64::new(0),
            kernel_breakpoints: AtomicU64::new(0),
            pkru: AtomicU32::new(0),
            tsd: AtomicBool::new(false),
            user_fs_base: AtomicU64::new(0),
            user_gs_base: AtomicU64::new(0),
            halted: AtomicBool::new(false),
            thread_yielding: AtomicBool::new(false),
            idle_ns: AtomicU64::new(0),
            user_ns: AtomicU64::new(0),
            online_at_ns: AtomicU64::new(0),
            shootdowns: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
            timer_armed_at: AtomicU64::new(u64::MAX),
            active_root: AtomicU64::new(0),
            tss: AtomicPtr::new(core::ptr::null_mut()),
            io_loaded: AtomicU64::new(0),
            fast_hook: AtomicU64::new(0),
        }
    }
}

/// Every CPU's area, by CPU index, as each comes online.
static CPUS: [AtomicPtr<PerCpu>; super::acpi::MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; super::acpi::MAX_CPUS];
/// How many CPUs are online (they come up in index order).
static ONLINE: AtomicUsize = AtomicUsize::new(0);

/// Records `area` as CPU `area.cpu_id`'s and counts it online.
pub fn register(area: &'static PerCpu) {
    let i = area.cpu_id.load(Ordering::Relaxed) as usize;
    CPUS[i].store(area as *const PerCpu as *mut PerCpu, Ordering::Release);
    ONLINE.fetch_max(i + 1, Ordering::AcqRel);
}

/// CPU `i`'s area, if it is online.
pub fn cpu(i: usize) -> Option<&'static PerCpu> {
    let p = CPUS.get(i)?.load(Ordering::Acquire);
    // SAFETY: only `register` stores here, and it stores 'static areas.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// How many CPUs are online.
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire).max(1)
}

/// The bootstrap processor's area; application processors get heap-allocated ones.
static BSP: PerCpu = PerCpu::new(0);

/// Points GS at the bootstrap processor's area. Called first thing at boot, so that
/// exception handlers can use [`this_cpu`] from then on.
pub fn init_bsp() {
    install(&BSP);
    register(&BSP);
}

/// Makes `area` this CPU's per-CPU area.
pub fn install(area: &'static PerCpu) {
    let ptr = area as *const PerCpu as *mut PerCpu;
    area.self_ptr.store(ptr, Ordering::Relaxed);
    // SAFETY: `area` is 'static, so GS stays valid; user GS (KERNEL_GS_BASE) starts 0.
    unsafe {
        cpu::wrmsr(msr::GS_BASE, ptr as u64);
        cpu::wrmsr(msr::KERNEL_GS_BASE, 0);
    }
}

/// This CPU's area.
#[inline]
pub fn this_cpu() -> &'static PerCpu {
    let p: *const PerCpu;
    // SAFETY: GS_BASE points at a 'static PerCpu from `init_bsp` on (kernel mode only;
    // user GS is swapped in only between `swapgs` and the return to user mode).
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, readonly, preserves_flags));
        &*p
    }
}
