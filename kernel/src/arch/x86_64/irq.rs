//! Interrupt vectors and their handlers.
//!
//! A handler runs with interrupts disabled, on whatever stack the CPU was using, and
//! does the least possible: acknowledge its device if it must, and wake a waker. The
//! woken task does the real work (brief §1: interrupt handlers only wake wakers).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use kestrel_driver_kit::Irq;

use super::apic;
use super::percpu::this_cpu;

/// The local APIC timer (one-shot, armed for the next deadline or time slice).
pub const TIMER_VECTOR: u8 = 0x20;
/// ISA IRQ n arrives on vector `ISA_BASE + n` (through the I/O APIC).
pub const ISA_BASE: u8 = 0x30;
/// Vectors handed to devices (MSI and MSI-X), one interrupt source each.
pub const DEVICE_FIRST: u8 = 0x40;
pub const DEVICE_LAST: u8 = 0xdf;
/// Inter-processor wake-up (a task was queued on a halted CPU).
pub const WAKE_IPI_VECTOR: u8 = 0xf0;
/// The local APIC's spurious-interrupt vector: never acknowledged.
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// A handler: a plain function, so registering one needs no allocation.
pub type Handler = fn();

static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];

/// The interrupt source behind each device vector (null: free). An entry holds
/// one reference to its `Irq` for ever: devices are never removed.
static DEVICE_IRQS: [AtomicPtr<Irq>; 256] = [const { AtomicPtr::new(core::ptr::null_mut()) }; 256];
/// The CPU each device vector is delivered to.
static DEVICE_CPU: [AtomicU8; 256] = [const { AtomicU8::new(0) }; 256];
static NEXT_DEVICE_VECTOR: AtomicU8 = AtomicU8::new(DEVICE_FIRST);

/// Gives `irq` a vector of its own, to be delivered to CPU `cpu`; its handler fires
/// `irq`. `None` when the device vectors are used up.
pub fn alloc_device_vector(irq: Arc<Irq>, cpu: u8) -> Option<u8> {
    let v = NEXT_DEVICE_VECTOR
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            (v <= DEVICE_LAST).then(|| v.wrapping_add(1))
        })
        .ok()?;
    DEVICE_CPU[usize::from(v)].store(cpu, Ordering::Relaxed);
    DEVICE_IRQS[usize::from(v)].store(Arc::into_raw(irq) as *mut Irq, Ordering::Release);
    Some(v)
}

/// Each device vector in use: (vector, its CPU, its interrupt source).
pub fn device_vectors() -> impl Iterator<Item = (u8, u8, &'static Irq)> {
    (DEVICE_FIRST..=DEVICE_LAST).filter_map(|v| {
        let p = DEVICE_IRQS[usize::from(v)].load(Ordering::Acquire);
        // SAFETY: a non-null entry came from `Arc::into_raw` and is never released,
        // so the `Irq` lives for ever.
        (!p.is_null()).then(|| {
            (
                v,
                DEVICE_CPU[usize::from(v)].load(Ordering::Relaxed),
                unsafe { &*p },
            )
        })
    })
}

/// Installs `handler` for `vector`, replacing any previous one.
pub fn register(vector: u8, handler: Handler) {
    HANDLERS[usize::from(vector)].store(handler as usize, Ordering::Release);
}

/// Runs the handler for `vector` and acknowledges the interrupt at the local APIC.
pub fn dispatch(vector: u8) {
    this_cpu().interrupts.fetch_add(1, Ordering::Relaxed);
    if vector == SPURIOUS_VECTOR {
        return; // spurious interrupts must not be acknowledged
    }
    crate::trace::irq_enter(vector);
    let irq = DEVICE_IRQS[usize::from(vector)].load(Ordering::Acquire);
    if !irq.is_null() {
        // SAFETY: as in `device_vectors`: the entry lives for ever.
        unsafe { &*irq }.fire();
    }
    let h = HANDLERS[usize::from(vector)].load(Ordering::Acquire);
    if h != 0 {
        // SAFETY: only `register` stores here, and it stores a `Handler`.
        let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(h) };
        handler();
    }
    crate::trace::irq_exit();
    apic::eoi();
}
