//! A timer queue of (deadline, waker), and the [`Sleep`] and [`Timeout`] futures on it.
//!
//! Deadlines are monotonic nanoseconds from the platform [`Clock`]. Each executor owns
//! one queue; the executor expires it at the start of every pass and arms the hardware
//! timer for [`TimerQueue::next_deadline`] before idling. Interrupt handlers never
//! touch the queue: the timer interrupt only brings the CPU out of `hlt`.
//!
//! A [`Sleep`] registers on first poll and deregisters in `Drop`, so dropping it (for
//! example because the task was killed, or a [`Timeout`] finished first) leaves nothing
//! behind.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll, Waker};

use pin_project::pin_project;

/// A monotonic clock in nanoseconds.
pub trait Clock: Send + Sync {
    /// Nanoseconds since an arbitrary fixed point (boot); never decreases.
    fn now(&self) -> u64;
}

/// Identifies one registration: deadline first, so the map is ordered by expiry, and a
/// sequence number to keep equal deadlines apart (and first-registered first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerKey {
    deadline: u64,
    seq: u64,
}

struct Inner {
    entries: BTreeMap<TimerKey, Waker>,
    seq: u64,
}

/// Pending timers of one executor.
pub struct TimerQueue {
    inner: spin::Mutex<Inner>,
    /// The earliest deadline (`u64::MAX`: none), written under the lock after each
    /// change: a thread returning to user mode reads it at every system call.
    earliest: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl Inner {
    fn earliest(&self) -> u64 {
        self.entries
            .first_key_value()
            .map_or(u64::MAX, |(k, _)| k.deadline)
    }
}

impl TimerQueue {
    /// An empty queue reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: spin::Mutex::new(Inner {
                entries: BTreeMap::new(),
                seq: 0,
            }),
            earliest: AtomicU64::new(u64::MAX),
            clock,
        }
    }

    /// The current time of this queue's clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Registers `waker` to be woken at `deadline`.
    pub fn register(&self, deadline: u64, waker: Waker) -> TimerKey {
        let mut inner = self.inner.lock();
        inner.seq += 1;
        let key = TimerKey {
            deadline,
            seq: inner.seq,
        };
        inner.entries.insert(key, waker);
        self.earliest.store(inner.earliest(), Ordering::Release);
        key
    }

    /// Replaces the waker of a registration if it would wake a different task;
    /// re-registers it if it has already expired.
    pub fn update(&self, key: TimerKey, waker: &Waker) {
        let mut inner = self.inner.lock();
        match inner.entries.get_mut(&key) {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => *w = waker.clone(),
            None => {
                inner.entries.insert(key, waker.clone());
                self.earliest.store(inner.earliest(), Ordering::Release);
            }
        }
    }

    /// Removes a registration (no effect if it already expired).
    pub fn cancel(&self, key: TimerKey) {
        // Take the waker out and drop it after the lock (brief §7: never free under a lock).
        let waker = {
            let mut inner = self.inner.lock();
            let w = inner.entries.remove(&key);
            self.earliest.store(inner.earliest(), Ordering::Release);
            w
        };
        drop(waker);
    }

    /// The earliest pending deadline. (Inline: asked on every trip to user mode.)
    #[inline]
    pub fn next_deadline(&self) -> Option<u64> {
        // A snapshot, as the lock would give: it can change as soon as it is read.
        match self.earliest.load(Ordering::Acquire) {
            u64::MAX => None,
            d => Some(d),
        }
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes every timer whose deadline has passed, earliest first, each outside the
    /// lock. Returns how many were woken.
    ///
    /// Runs at the start of every executor pass (between any two polls of a
    /// busy CPU, such as two threads handing a futex back and forth): when the
    /// earliest deadline is still ahead, one load says so, without the lock.
    /// A timer added meanwhile with an earlier deadline is seen at the next pass,
    /// as one added just after the lock was released would be.
    pub fn expire(&self) -> usize {
        let now = self.clock.now();
        if self.earliest.load(Ordering::Acquire) > now {
            return 0;
        }
        let mut woken = 0;
        loop {
            let due = {
                let mut inner = self.inner.lock();
                let due = match inner.entries.first_entry() {
                    Some(e) if e.key().deadline <= now => Some(e.remove()),
                    _ => None,
                };
                self.earliest.store(inner.earliest(), Ordering::Release);
                due
            };
            match due {
                Some(w) => {
                    w.wake();
                    woken += 1;
                }
                None => return woken,
            }
        }
    }
}

impl core::fmt::Debug for TimerQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TimerQueue")
            .field("pending", &self.len())
            .field("next", &self.next_deadline())
            .finish()
    }
}

/// Completes at a deadline. Registers on first poll, deregisters on drop.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep<'q> {
    queue: &'q TimerQueue,
    deadline: u64,
    key: Option<TimerKey>,
}

impl<'q> Sleep<'q> {
    /// A sleep until `deadline` (monotonic ns) on `queue`.
    pub fn until(queue: &'q TimerQueue, deadline: u64) -> Self {
        Self {
            queue,
            deadline,
            key: None,
        }
    }

    /// A sleep of `ns` nanoseconds from now on `queue`.
    pub fn for_ns(queue: &'q TimerQueue, ns: u64) -> Self {
        Self::until(queue, queue.now().saturating_add(ns))
    }

    /// When this sleep completes.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.queue.now() >= self.deadline {
            if let Some(key) = self.key.take() {
                self.queue.cancel(key);
            }
            return Poll::Ready(());
        }
        match self.key {
            Some(key) => self.queue.update(key, cx.waker()),
            None => self.key = Some(self.queue.register(self.deadline, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.queue.cancel(key);
        }
    }
}

/// The error of a [`Timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs a future until a deadline. The inner future is polled first, so a future
/// that is ready at the deadline still wins; when the deadline wins, the inner future
/// is dropped at once (cancellation is drop).
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<'q, F> {
    #[pin]
    inner: Option<F>,
    sleep: Sleep<'q>,
}

impl<'q, F: Future> Timeout<'q, F> {
    /// `fut`, bounded by `deadline` on `queue`.
    pub fn until(queue: &'q TimerQueue, deadline: u64, fut: F) -> Self {
        Self {
            inner: Some(fut),
            sleep: Sleep::until(queue, deadline),
        }
    }
}

impl<F: Future> Future for Timeout<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(Elapsed));
        };
        if let Poll::Ready(v) = inner.poll(cx) {
            this.inner.set(None);
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut *this.sleep).poll(cx) {
            Poll::Ready(()) => {
                this.inner.set(None);
                Poll::Ready(Err(Elapsed))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
