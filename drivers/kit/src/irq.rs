//! Interrupts as futures.
//!
//! An [`Irq`] is a counter and a waker. The kernel's interrupt handler for the
//! line calls [`Irq::fire`] (count, wake: nothing else; the driver's task does the
//! work). A driver waits with a *ticket*: take one with [`Irq::ticket`], then look
//! at the device, then `.await` the ticket. An interrupt that arrives after the
//! ticket was taken, even before the await, completes it: nothing is lost between
//! "the queue was empty" and "sleep" (the embassy pattern: register, then check).
//!
//! ```ignore
//! loop {
//!     let ticket = irq.ticket();
//!     while let Some(done) = queue.pop_used() { /* complete a request */ }
//!     ticket.await;
//! }
//! ```

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// One interrupt source (an MSI-X vector, or a shared legacy line).
pub struct Irq {
    name: &'static str,
    fired: AtomicU64,
    waker: AtomicWaker,
}

impl Irq {
    /// A line no interrupt has fired on yet.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            fired: AtomicU64::new(0),
            waker: AtomicWaker::new(),
        }
    }

    /// Called by the interrupt handler: counts the interrupt and wakes the waiter.
    pub fn fire(&self) {
        self.fired.fetch_add(1, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Interrupts fired so far (/proc/interrupts).
    pub fn count(&self) -> u64 {
        self.fired.load(Ordering::Acquire)
    }

    /// The line's name, for /proc/interrupts.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// A ticket for the next interrupt after now: it completes once the line fires
    /// again, however soon that is.
    pub fn ticket(&self) -> IrqTicket<'_> {
        IrqTicket {
            irq: self,
            seen: self.count(),
        }
    }

    /// Waits for the next interrupt after now (`self.ticket().await`). Check the
    /// device *before* this only if a missed interrupt is harmless; otherwise take
    /// the ticket first.
    pub fn wait(&self) -> IrqTicket<'_> {
        self.ticket()
    }
}

impl core::fmt::Debug for Irq {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Irq")
            .field("name", &self.name)
            .field("fired", &self.count())
            .finish()
    }
}

/// Completes when its line has fired since the ticket was taken.
#[must_use = "a ticket does nothing unless awaited"]
pub struct IrqTicket<'a> {
    irq: &'a Irq,
    seen: u64,
}

impl Future for IrqTicket<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.irq.count() != self.seen {
            return Poll::Ready(());
        }
        self.irq.waker.register(cx.waker());
        // Checked again after registering: a fire in between either saw our waker
        // or is seen here.
        if self.irq.count() != self.seen {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
