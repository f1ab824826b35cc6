//! FPU, SSE and AVX state of user threads.
//!
//! The kernel never uses these registers (the target is soft-float), so a thread's
//! vector state can stay in the CPU while the kernel runs. Each thread owns an
//! [`FpuState`] (an XSAVE area); the CPU remembers whose state is live ([`Owner`]) and
//! swaps only when a *different* thread is about to enter user mode: a thread that
//! makes syscalls, or is the only one running, never pays for a save.
//!
//! With several CPUs a thread may run on another CPU next time, so its state is
//! saved when its task stops running here ([`release`]): registers are only ever
//! live on the CPU polling the thread.
//!
//! XSAVE covers the components enabled in XCR0 at boot (x87, SSE, AVX where present);
//! CPUs without XSAVE use FXSAVE (x87 and SSE).

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::cpu::{self, XCR0, XSAVE_SIZE};

/// Room for XSAVE of x87 + SSE + AVX (832 bytes) with margin; checked at boot.
const AREA: usize = 1024;

/// One thread's saved FPU/SSE/AVX registers.
#[repr(C, align(64))]
#[derive(Clone)]
pub struct FpuState {
    area: [u8; AREA],
}

static INITIAL: spin::Once<FpuState> = spin::Once::new();

impl FpuState {
    /// The state a new program starts with (Linux's fpstate_init: x87 control word
    /// 0x37f, MXCSR 0x1f80, everything else zero).
    pub fn initial() -> Box<Self> {
        Box::new(INITIAL.get().expect("fpu::init ran at boot").clone())
    }

    /// Saves the CPU's registers here.
    fn save(&mut self) {
        let mask = XCR0.load(Ordering::Relaxed);
        // SAFETY: the area is 64-byte aligned and large enough (checked in init) for
        // the components in XCR0; OSFXSR/OSXSAVE are enabled at boot.
        unsafe {
            if cpu::features().xsave {
                asm!("xsave64 [{}]", in(reg) self.area.as_mut_ptr(), in("eax") mask as u32, in("edx") (mask >> 32) as u32, options(nostack));
            } else {
                asm!("fxsave64 [{}]", in(reg) self.area.as_mut_ptr(), options(nostack));
            }
        }
    }

    /// Loads the CPU's registers from here.
    fn restore(&self) {
        let mask = XCR0.load(Ordering::Relaxed);
        // SAFETY: the area holds a state saved by `save` (or the initial one, made the
        // same way), so its header is valid for XRSTOR.
        unsafe {
            if cpu::features().xsave {
                asm!("xrstor64 [{}]", in(reg) self.area.as_ptr(), in("eax") mask as u32, in("edx") (mask >> 32) as u32, options(nostack));
            } else {
                asm!("fxrstor64 [{}]", in(reg) self.area.as_ptr(), options(nostack));
            }
        }
    }

    /// The saved registers as user space sees them in a signal frame: the XSAVE image
    /// (or the 512-byte FXSAVE one).
    pub fn image(&self) -> &[u8] {
        &self.area[..image_size()]
    }

    /// A state from an image user space handed back (rt_sigreturn), if it is one the
    /// CPU would load: known components only, standard format, reserved bits clear.
    /// Anything else would fault in the kernel's XRSTOR, so it is refused here.
    pub fn from_user(image: &[u8]) -> Option<Box<Self>> {
        if image.len() < 512 || image.len() > AREA {
            return None;
        }
        let mut s = Box::new(FpuState { area: [0; AREA] });
        s.area[..image.len()].copy_from_slice(image);
        let mxcsr = s.mxcsr();
        if mxcsr & !0xffff != 0 {
            return None;
        }
        if has_xsave() {
            if image.len() < 576 {
                // A legacy (FXSAVE-only) image: XRSTOR of it loads only x87 and SSE.
                s.area[512..576].fill(0);
                s.area[512] = 0b11;
            }
            let word =
                |at: usize| u64::from_le_bytes(s.area[at..at + 8].try_into().expect("8 bytes"));
            let xstate_bv = word(512);
            let xcomp_bv = word(520);
            if xstate_bv & !xcr0() != 0 || xcomp_bv != 0 || s.area[528..576].iter().any(|&b| b != 0)
            {
                return None;
            }
        }
        Some(s)
    }

    /// MXCSR, the SSE control and status register.
    pub fn mxcsr(&self) -> u32 {
        u32::from_le_bytes([self.area[24], self.area[25], self.area[26], self.area[27]])
    }
}

/// Whether the CPU saves state with XSAVE (else FXSAVE).
pub fn has_xsave() -> bool {
    cpu::features().xsave
}

/// The XSAVE components enabled for user threads.
pub fn xcr0() -> u64 {
    XCR0.load(Ordering::Relaxed)
}

/// Bytes of a saved state as written to a signal frame.
pub fn image_size() -> usize {
    if has_xsave() {
        XSAVE_SIZE.load(Ordering::Relaxed) as usize
    } else {
        512
    }
}

/// Something that owns an FPU state (a user thread).
pub trait HasFpu: Send + Sync {
    /// The thread's saved state.
    fn fpu(&self) -> &spin::Mutex<Box<FpuState>>;
}

/// The thread whose state is live in a CPU's registers, one per CPU, and the
/// address of its allocation (0: none), so that a thread going back to user mode
/// on the CPU where its state is already live (every system call) checks with
/// one load. The `Weak` keeps the allocation, so the address cannot be reused by
/// another thread while it is recorded here.
struct Owner(spin::Mutex<Option<Weak<dyn HasFpu>>>, AtomicUsize);

static OWNERS: [Owner; super::acpi::MAX_CPUS] =
    [const { Owner(spin::Mutex::new(None), AtomicUsize::new(0)) }; super::acpi::MAX_CPUS];

fn address<T: ?Sized>(p: *const T) -> usize {
    p as *const () as usize
}

/// Whether `thread`'s registers are the ones live on this CPU.
pub fn is_live<T: HasFpu>(thread: &Arc<T>) -> bool {
    owner().1.load(Ordering::Relaxed) == address(Arc::as_ptr(thread))
}

/// This CPU's owner slot.
fn owner() -> &'static Owner {
    &OWNERS[super::percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize]
}

/// Prepares the FPU and records the initial state. Runs once, after
/// `cpu::enable_features`.
pub fn init() {
    assert!(
        XSAVE_SIZE.load(Ordering::Relaxed) as usize <= AREA,
        "XSAVE area larger than Kestrel's buffer"
    );
    init_cpu();
    let mut s = FpuState { area: [0; AREA] };
    s.save();
    INITIAL.call_once(|| s);
}

/// Prepares the calling CPU's FPU (every CPU, after `cpu::enable_features`).
pub fn init_cpu() {
    // CR0: MP and NE on, EM and TS off, so SSE works and x87 errors raise #MF.
    // SAFETY: these bits only select how the FPU reports errors and whether it traps.
    unsafe {
        let mut cr0: u64;
        asm!("mov {}, cr0", out(reg) cr0, options(nomem, nostack));
        cr0 = (cr0 | (1 << 1) | (1 << 5)) & !((1 << 2) | (1 << 3));
        asm!("mov cr0, {}", in(reg) cr0, options(nomem, nostack));
        asm!("fninit", options(nomem, nostack));
        let mxcsr: u32 = 0x1f80;
        asm!("ldmxcsr [{}]", in(reg) &mxcsr, options(nostack));
    }
}

/// Makes `thread`'s state live, saving the previous owner's first.
pub fn switch_to(thread: &Arc<dyn HasFpu>) {
    let slot = owner();
    let mut owner = slot.0.lock();
    if let Some(prev) = owner.as_ref().and_then(Weak::upgrade) {
        if Arc::ptr_eq(&prev, thread) {
            return;
        }
        prev.fpu().lock().save();
    }
    thread.fpu().lock().restore();
    *owner = Some(Arc::downgrade(thread));
    slot.1
        .store(address(Arc::as_ptr(thread)), Ordering::Relaxed);
}

/// Brings `thread`'s saved state up to date if its registers are live (before fork
/// copies it, or a signal frame stores it).
pub fn sync_to_memory(thread: &Arc<dyn HasFpu>) {
    let owner = owner().0.lock();
    if owner
        .as_ref()
        .and_then(Weak::upgrade)
        .is_some_and(|o| Arc::ptr_eq(&o, thread))
    {
        thread.fpu().lock().save();
    }
}

/// Forgets the live state if it is `thread`'s (its saved copy was replaced, as at
/// execve), so the next switch loads the saved one.
pub fn invalidate(thread: &Arc<dyn HasFpu>) {
    let slot = owner();
    let mut owner = slot.0.lock();
    if owner
        .as_ref()
        .and_then(Weak::upgrade)
        .is_some_and(|o| Arc::ptr_eq(&o, thread))
    {
        *owner = None;
        slot.1.store(0, Ordering::Relaxed);
    }
}

/// `thread` stops running on this CPU for now (its task went back to waiting):
/// with more than one CPU online its next run may be elsewhere, so its registers
/// are saved and this CPU forgets them. With one CPU they stay live (the lazy
/// case: a thread that runs alone never pays for a save).
pub fn release(thread: &Arc<dyn HasFpu>) {
    if super::percpu::online() < 2 {
        return;
    }
    let slot = owner();
    let mut owner = slot.0.lock();
    if owner
        .as_ref()
        .and_then(Weak::upgrade)
        .is_some_and(|o| Arc::ptr_eq(&o, thread))
    {
        thread.fpu().lock().save();
        *owner = None;
        slot.1.store(0, Ordering::Relaxed);
    }
}
