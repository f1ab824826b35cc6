//! How Kestrel's tasks block: wait queues with no lost wake-ups.
//!
//! A blocking operation in Kestrel is a future that waits for a condition. The
//! condition lives in some object (a pipe's buffer, a child's exit status); the object
//! owns a [`WaitQueue`] and calls [`WaitQueue::wake_all`] whenever the condition may
//! have changed. A waiter uses [`WaitQueue::wait_until`]:
//!
//! 1. register its waker in the queue, *then*
//! 2. evaluate the condition.
//!
//! Registering first is what makes it race-free: a state change that happens after
//! the check finds the waker already registered and wakes it; one that happened before
//! is seen by the check. Dropping the future (timeout, signal, process exit) removes
//! the registration, so nothing dangles.
//!
//! Wakers are taken out of the queue before they are woken and woken after the lock
//! is released (brief §7: never wake under a lock).
//!
//! A registration may name the events it cares about (poll bits, for files), and a
//! wake-up may say which events happened: [`WaitQueue::wake`] only wakes the
//! registrations whose events intersect. This is Linux's wake-up key: a reader
//! draining a pipe wakes the writers waiting for room, not the readers or the
//! edge-triggered epoll entries waiting for data.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

/// A set of tasks waiting for something to change.
#[derive(Debug, Default)]
pub struct WaitQueue {
    inner: spin::Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_key: u64,
    /// (key, events of interest, waker).
    waiters: Vec<(u64, u32, Waker)>,
}

/// Interest in every event: what [`WaitQueue::register`] and [`WaitQueue::wake_all`]
/// use.
pub const ALL_EVENTS: u32 = u32::MAX;

/// A registration in a [`WaitQueue`], for waits that span several queues (poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitKey(u64);

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            inner: spin::Mutex::new(Inner {
                next_key: 0,
                waiters: Vec::new(),
            }),
        }
    }

    /// Registers `waker` for every event, or refreshes the registration `key` if it
    /// is still there.
    pub fn register(&self, waker: &Waker, key: Option<WaitKey>) -> WaitKey {
        self.register_for(waker, key, ALL_EVENTS)
    }

    /// Registers `waker` for wake-ups that include one of `events`, or refreshes the
    /// registration `key` (and its events) if it is still there.
    pub fn register_for(&self, waker: &Waker, key: Option<WaitKey>, events: u32) -> WaitKey {
        let mut inner = self.inner.lock();
        if let Some(WaitKey(k)) = key
            && let Some((_, ev, w)) = inner.waiters.iter_mut().find(|(id, _, _)| *id == k)
        {
            *ev = events;
            if !w.will_wake(waker) {
                *w = waker.clone();
            }
            return WaitKey(k);
        }
        inner.next_key += 1;
        let k = inner.next_key;
        if inner.waiters.capacity() == 0 {
            // Most queues have one waiter at a time (a thread's own signal
            // queue, a parked thread's futex): room for one entry (32 bytes)
            // rather than a vector's usual first four (128), which every
            // parked thread would keep.
            inner.waiters.reserve_exact(1);
        }
        inner.waiters.push((k, events, waker.clone()));
        WaitKey(k)
    }

    /// Removes a registration (no effect if it was already woken).
    pub fn unregister(&self, key: WaitKey) {
        let removed = {
            let mut inner = self.inner.lock();
            inner
                .waiters
                .iter()
                .position(|(id, _, _)| *id == key.0)
                .map(|i| inner.waiters.swap_remove(i))
        };
        drop(removed);
    }

    /// Wakes every waiter. Returns how many there were.
    pub fn wake_all(&self) -> usize {
        let waiters = core::mem::take(&mut self.inner.lock().waiters);
        let n = waiters.len();
        for (_, _, w) in waiters {
            w.wake();
        }
        n
    }

    /// Wakes the waiters interested in any of `events`. Returns how many.
    pub fn wake(&self, events: u32) -> usize {
        let woken: Vec<(u64, u32, Waker)> = {
            let mut inner = self.inner.lock();
            if inner.waiters.iter().all(|(_, ev, _)| ev & events != 0) {
                core::mem::take(&mut inner.waiters)
            } else {
                let (hit, keep) = core::mem::take(&mut inner.waiters)
                    .into_iter()
                    .partition(|(_, ev, _)| ev & events != 0);
                inner.waiters = keep;
                hit
            }
        };
        let n = woken.len();
        for (_, _, w) in woken {
            w.wake();
        }
        n
    }

    /// Wakes the longest-waiting waiter, if any. Returns whether one was woken.
    pub fn wake_one(&self) -> bool {
        let first = {
            let mut inner = self.inner.lock();
            (!inner.waiters.is_empty()).then(|| inner.waiters.remove(0))
        };
        match first {
            Some((_, _, w)) => {
                w.wake();
                true
            }
            None => false,
        }
    }

    /// Number of registered waiters.
    pub fn len(&self) -> usize {
        self.inner.lock().waiters.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until `cond` returns `Some`, re-evaluating it each time the queue is woken.
    pub fn wait_until<T, F: FnMut() -> Option<T>>(&self, cond: F) -> WaitUntil<'_, F> {
        self.wait_until_for(ALL_EVENTS, cond)
    }

    /// As [`WaitQueue::wait_until`], woken only by wake-ups that include one of
    /// `events`.
    pub fn wait_until_for<T, F: FnMut() -> Option<T>>(
        &self,
        events: u32,
        cond: F,
    ) -> WaitUntil<'_, F> {
        WaitUntil {
            queue: self,
            cond,
            key: None,
            events,
        }
    }
}

/// The future of [`WaitQueue::wait_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitUntil<'q, F> {
    queue: &'q WaitQueue,
    cond: F,
    key: Option<WaitKey>,
    events: u32,
}

impl<T, F: FnMut() -> Option<T> + Unpin> Future for WaitUntil<'_, F> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        // Register first, then check: see the module documentation.
        this.key = Some(this.queue.register_for(cx.waker(), this.key, this.events));
        match (this.cond)() {
            Some(v) => {
                if let Some(k) = this.key.take() {
                    this.queue.unregister(k);
                }
                Poll::Ready(v)
            }
            None => Poll::Pending,
        }
    }
}

impl<F> Drop for WaitUntil<'_, F> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.queue.unregister(k);
        }
    }
}

/// Turns taken in arrival order: an async lock that is handed to waiters first
/// come, first served (Linux's tty `atomic_write_lock` role: many writers to one
/// terminal take turns, and none starves however busy the others are).
///
/// [`FifoLock::lock`] is a future; its guard passes the turn on when dropped. A
/// waiter dropped before its turn (a signal, a kill) leaves the line.
#[derive(Debug, Default)]
pub struct FifoLock {
    inner: spin::Mutex<FifoInner>,
}

#[derive(Debug, Default)]
struct FifoInner {
    next_id: u64,
    /// The holder first (if held), then the waiters in order, with their wakers.
    line: alloc::collections::VecDeque<(u64, Option<Waker>)>,
    held: bool,
}

impl FifoLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        Self {
            inner: spin::Mutex::new(FifoInner {
                next_id: 0,
                line: alloc::collections::VecDeque::new(),
                held: false,
            }),
        }
    }

    /// Waits for this caller's turn.
    pub fn lock(&self) -> FifoLockFuture<'_> {
        FifoLockFuture {
            lock: self,
            id: None,
        }
    }

    /// The turn now if nobody holds it or waits for it, else `None` (for
    /// non-blocking callers).
    pub fn try_lock(&self) -> Option<FifoGuard<'_>> {
        let mut inner = self.inner.lock();
        if inner.held || !inner.line.is_empty() {
            return None;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.line.push_back((id, None));
        inner.held = true;
        Some(FifoGuard { lock: self })
    }

    /// Ends the holder's turn and wakes the next in line.
    fn release(&self) {
        let next = {
            let mut inner = self.inner.lock();
            inner.line.pop_front();
            inner.held = false;
            inner.line.front_mut().and_then(|(_, w)| w.take())
        };
        if let Some(w) = next {
            w.wake();
        }
    }
}

/// The future of [`FifoLock::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct FifoLockFuture<'a> {
    lock: &'a FifoLock,
    id: Option<u64>,
}

impl<'a> Future for FifoLockFuture<'a> {
    type Output = FifoGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<FifoGuard<'a>> {
        let mut inner = self.lock.inner.lock();
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = inner.next_id;
                inner.next_id += 1;
                inner.line.push_back((id, None));
                id
            }
        };
        if !inner.held && inner.line.front().is_some_and(|(f, _)| *f == id) {
            inner.held = true;
            drop(inner);
            self.id = None; // the guard owns the turn now
            return Poll::Ready(FifoGuard { lock: self.lock });
        }
        if let Some(slot) = inner.line.iter_mut().find(|(i, _)| *i == id) {
            slot.1 = Some(cx.waker().clone());
        }
        drop(inner);
        self.id = Some(id);
        Poll::Pending
    }
}

impl Drop for FifoLockFuture<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let next = {
            let mut inner = self.lock.inner.lock();
            let was_front = inner.line.front().is_some_and(|(f, _)| *f == id);
            inner.line.retain(|(i, _)| *i != id);
            // Leaving from the front of a free lock: the next one may go.
            if was_front && !inner.held {
                inner.line.front_mut().and_then(|(_, w)| w.take())
            } else {
                None
            }
        };
        if let Some(w) = next {
            w.wake();
        }
    }
}

/// A turn of a [`FifoLock`]; the next waiter's turn starts when it is dropped.
#[derive(Debug)]
pub struct FifoGuard<'a> {
    lock: &'a FifoLock,
}

impl Drop for FifoGuard<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<CountingWaker>, Waker) {
        let c = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn a_lone_waiter_takes_room_for_one_and_more_waiters_still_fit() {
        let q = WaitQueue::new();
        let (c, w) = waker();
        q.register(&w, None);
        assert_eq!(q.inner.lock().waiters.capacity(), 1);
        for _ in 0..9 {
            q.register(&w, None);
        }
        assert_eq!(q.len(), 10);
        assert_eq!(q.wake_all(), 10);
        assert_eq!(c.0.load(Ordering::SeqCst), 10);
        assert!(q.is_empty());
    }

    #[test]
    fn condition_true_at_first_poll_completes_without_registering() {
        let q = WaitQueue::new();
        let (_, w) = waker();
        let mut f = q.wait_until(|| Some(5));
        assert_eq!(
            Pin::new(&mut f).poll(&mut Context::from_waker(&w)),
            Poll::Ready(5)
        );
        assert!(q.is_empty());
    }

    #[test]
    fn wake_all_wakes_a_pending_waiter_which_then_sees_the_change() {
        let q = WaitQueue::new();
        let (count, w) = waker();
        let flag = AtomicUsize::new(0);
        let mut f = q.wait_until(|| (flag.load(Ordering::SeqCst) == 1).then_some(()));
        let mut cx = Context::from_waker(&w);
        assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
        flag.store(1, Ordering::SeqCst);
        assert_eq!(q.wake_all(), 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(Pin::new(&mut f).poll(&mut cx).is_ready());
        assert!(q.is_empty());
    }

    #[test]
    fn dropping_a_waiter_unregisters_it() {
        let q = WaitQueue::new();
        let (_, w) = waker();
        {
            let mut f = q.wait_until(|| None::<()>);
            assert!(
                Pin::new(&mut f)
                    .poll(&mut Context::from_waker(&w))
                    .is_pending()
            );
            assert_eq!(q.len(), 1);
        }
        assert!(q.is_empty());
    }

    #[test]
    fn repolling_does_not_register_twice() {
        let q = WaitQueue::new();
        let (_, w) = waker();
        let mut f = q.wait_until(|| None::<()>);
        let mut cx = Context::from_waker(&w);
        for _ in 0..3 {
            assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
        }
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn wake_with_events_wakes_only_interested_waiters() {
        let q = WaitQueue::new();
        let (readers, wr) = waker();
        let (writers, ww) = waker();
        let (any, wa) = waker();
        q.register_for(&wr, None, 0b01);
        q.register_for(&ww, None, 0b10);
        q.register(&wa, None);
        assert_eq!(q.wake(0b10), 2);
        let counts = || {
            (
                readers.0.load(Ordering::SeqCst),
                writers.0.load(Ordering::SeqCst),
                any.0.load(Ordering::SeqCst),
            )
        };
        assert_eq!(counts(), (0, 1, 1));
        assert_eq!(q.len(), 1, "the reader is still registered");
        assert_eq!(q.wake(0b01), 1);
        assert_eq!(counts(), (1, 1, 1));
        assert!(q.is_empty());
    }

    #[test]
    fn wake_one_wakes_in_arrival_order() {
        let q = WaitQueue::new();
        let (a, wa) = waker();
        let (b, wb) = waker();
        q.register(&wa, None);
        q.register(&wb, None);
        assert!(q.wake_one());
        assert_eq!(
            (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
            (1, 0)
        );
        assert!(q.wake_one());
        assert!(!q.wake_one());
    }

    #[test]
    fn a_fifo_lock_hands_turns_out_in_arrival_order() {
        let lock = FifoLock::new();
        let w = Waker::noop().clone();
        let mut cx = Context::from_waker(&w);
        let mut a = Box::pin(lock.lock());
        let guard_a = match a.as_mut().poll(&mut cx) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("a free lock is taken at once"),
        };
        let mut b = Box::pin(lock.lock());
        let mut c = Box::pin(lock.lock());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        assert!(c.as_mut().poll(&mut cx).is_pending());
        drop(guard_a);
        // c asks again first, but b arrived first.
        assert!(c.as_mut().poll(&mut cx).is_pending());
        let guard_b = match b.as_mut().poll(&mut cx) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("b's turn"),
        };
        drop(guard_b);
        assert!(c.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_waiter_that_leaves_the_line_passes_the_turn_on() {
        let lock = FifoLock::new();
        let w = Waker::noop().clone();
        let mut cx = Context::from_waker(&w);
        let mut a = Box::pin(lock.lock());
        let guard_a = match a.as_mut().poll(&mut cx) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("free"),
        };
        let mut b = Box::pin(lock.lock());
        let mut c = Box::pin(lock.lock());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        assert!(c.as_mut().poll(&mut cx).is_pending());
        drop(b); // interrupted while waiting
        drop(guard_a);
        assert!(c.as_mut().poll(&mut cx).is_ready());
    }
}
