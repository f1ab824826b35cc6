//! Interrupt vectors and their handlers.
//!
//! A handler runs with interrupts disabled, on whatever stack the CPU was using, and
//! does the least possible: acknowledge its device if it must, and wake a waker. The
//! woken task does the real work (brief §1: interrupt handlers only wake wakers).

use core::sync::atomic::{AtomicUsize, Ordering};

use super::apic;
use super::percpu::this_cpu;

/// The local APIC timer (one-shot, armed for the next deadline or time slice).
pub const TIMER_VECTOR: u8 = 0x20;
/// ISA IRQ n arrives on vector `ISA_BASE + n` (through the I/O APIC).
pub const ISA_BASE: u8 = 0x30;
/// Inter-processor wake-up (a task was queued on a halted CPU).
pub const WAKE_IPI_VECTOR: u8 = 0xf0;
/// The local APIC's spurious-interrupt vector: never acknowledged.
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// A handler: a plain function, so registering one needs no allocation.
pub type Handler = fn();

static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];

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
    let h = HANDLERS[usize::from(vector)].load(Ordering::Acquire);
    if h != 0 {
        // SAFETY: only `register` stores here, and it stores a `Handler`.
        let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(h) };
        handler();
    }
    apic::eoi();
}
