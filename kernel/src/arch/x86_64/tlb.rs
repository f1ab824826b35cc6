//! TLB shootdown: making other CPUs forget translations an address space no longer
//! has.
//!
//! Each CPU records the page-table root it has loaded (`PerCpu::active_root`,
//! stored before CR3 is written). When an address space removes or downgrades
//! entries (munmap, mprotect, a copy-on-write break, fork making pages read-only,
//! exit), the CPU doing it flushes its own TLB and then, if any other CPU has the
//! same root loaded, sends those CPUs an IPI and waits until each has flushed; only
//! then may the frames be freed. A CPU that switches address spaces later flushes
//! anyway (user entries are not global), so only the CPUs that have the root loaded
//! at the moment of the check can hold stale entries: the entry change comes first,
//! the check second, and a CPU loading the root after the check sees the new entries.
//!
//! Requests are serialised by one lock, taken and waited on with interrupts enabled,
//! so two CPUs shooting at each other both answer. A dying address space's root is
//! also replaced on the target CPUs by the kernel's table, since its frames are
//! about to be freed.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{apic, cpu, percpu};

/// The vector of shootdown IPIs.
pub const SHOOTDOWN_VECTOR: u8 = 0xf1;

static LOCK: spin::Mutex<()> = spin::Mutex::new(());
static ROOT: AtomicU64 = AtomicU64::new(0);
static DYING: AtomicBool = AtomicBool::new(false);
static PENDING: AtomicU64 = AtomicU64::new(0);

fn me() -> usize {
    percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize
}

/// The other CPUs that have `root` loaded, as a bit mask.
pub fn others_using(root: u64) -> u64 {
    core::sync::atomic::fence(Ordering::SeqCst);
    let me = me();
    (0..percpu::online())
        .filter(|&c| c != me)
        .filter(|&c| percpu::cpu(c).is_some_and(|p| p.active_root.load(Ordering::SeqCst) == root))
        .fold(0, |m, c| m | 1 << c)
}

/// Makes every other CPU that has `root` loaded flush its TLB (and, when `dying`,
/// switch to the kernel's table), and waits until they have. The caller changed
/// the entries and flushed its own TLB first.
pub fn shootdown(root: u64, dying: bool) {
    let targets = others_using(root);
    if targets == 0 {
        return;
    }
    debug_assert!(
        cpu::interrupts_enabled(),
        "shootdown with interrupts off can deadlock"
    );
    let _one_at_a_time = LOCK.lock();
    ROOT.store(root, Ordering::SeqCst);
    DYING.store(dying, Ordering::SeqCst);
    PENDING.store(targets, Ordering::SeqCst);
    for c in 0..64 {
        if targets & (1 << c) != 0
            && let Some(p) = percpu::cpu(c)
        {
            apic::send_ipi(p.apic_id.load(Ordering::Relaxed), SHOOTDOWN_VECTOR);
        }
    }
    while PENDING.load(Ordering::SeqCst) != 0 {
        core::hint::spin_loop();
    }
}

/// The shootdown IPI: flush (or leave a dying root), then acknowledge.
pub fn on_shootdown_ipi() {
    let area = percpu::this_cpu();
    let root = ROOT.load(Ordering::SeqCst);
    let active = area.active_root.load(Ordering::SeqCst);
    if active == root {
        let to = if DYING.load(Ordering::SeqCst) {
            crate::mm::paging::kernel_table().root()
        } else {
            root
        };
        area.active_root.store(to, Ordering::SeqCst);
        // SAFETY: `to` is the loaded table (a reload only flushes) or the kernel's,
        // which maps everything kernel code uses.
        unsafe { cpu::write_cr3(to) };
    }
    area.shootdowns.fetch_add(1, Ordering::Relaxed);
    PENDING.fetch_and(!(1u64 << me()), Ordering::SeqCst);
}

/// Loads page table `root` on this CPU, recording it first (see the module docs).
///
/// # Safety
/// `root` must map the kernel (share the kernel half).
pub unsafe fn load(root: u64) {
    percpu::this_cpu().active_root.store(root, Ordering::SeqCst);
    core::sync::atomic::fence(Ordering::SeqCst);
    // SAFETY: delegated to the caller.
    unsafe { cpu::write_cr3(root) };
}
