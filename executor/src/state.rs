//! The atomic state of a task.
//!
//! A task is in exactly one of these states, and the transitions below are the only
//! ones. They give two guarantees the kernel relies on (brief §7, "Dedupe wakes"):
//! a task sits in a run queue at most once however often it is woken, and a wake that
//! arrives while the task is being polled is never lost: the task is polled again.
//!
//! ```text
//!            wake                 pop                poll -> Pending
//!   IDLE ──────────▶ QUEUED ──────────▶ RUNNING ─────────────────────▶ IDLE
//!                      ▲                  │  │
//!                      │      wake        │  │ poll -> Ready
//!                      │                  ▼  ▼
//!                      └──── RUNNING_WOKEN   DONE
//!                  poll -> Pending
//! ```
//!
//! A wake in QUEUED, RUNNING_WOKEN or DONE changes nothing.

use core::sync::atomic::{AtomicU8, Ordering};

/// Not queued and not being polled: waiting for a wake.
pub const IDLE: u8 = 0;
/// In its run queue, waiting to be polled.
pub const QUEUED: u8 = 1;
/// Being polled by its executor.
pub const RUNNING: u8 = 2;
/// Being polled, and woken meanwhile: it goes back to the queue after this poll.
pub const RUNNING_WOKEN: u8 = 3;
/// Its future completed (or was dropped); wakes are ignored.
pub const DONE: u8 = 4;

/// What a wake asks of the waker after updating the state.
#[derive(Debug, PartialEq, Eq)]
pub enum WakeAction {
    /// The task moved IDLE → QUEUED: the waker must push it to its run queue.
    Enqueue,
    /// Nothing to do: already queued, running (now marked woken) or done.
    None,
}

/// What the executor must do after a poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterPoll {
    /// Nobody woke the task meanwhile; it is IDLE now.
    Park,
    /// It was woken while running; it is QUEUED again and must be pushed.
    Requeue,
}

/// The state word of one task.
#[derive(Debug)]
pub struct TaskState(AtomicU8);

impl TaskState {
    /// A freshly spawned task is QUEUED: spawn pushes it straight away.
    pub const fn new_queued() -> Self {
        Self(AtomicU8::new(QUEUED))
    }

    /// The current state (for assertions and debugging only: it can change at once).
    pub fn get(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }

    /// Records a wake. Safe from any CPU and from interrupt handlers: it neither
    /// blocks nor allocates.
    pub fn wake(&self) -> WakeAction {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let next = match cur {
                IDLE => QUEUED,
                RUNNING => RUNNING_WOKEN,
                _ => return WakeAction::None,
            };
            // AcqRel: the waker's writes (the event it reports) must be visible to
            // the poll that follows, and we must see the latest state.
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == QUEUED => return WakeAction::Enqueue,
                Ok(_) => return WakeAction::None,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The executor took the task off its queue and is about to poll it.
    pub fn start_poll(&self) {
        let prev = self.0.swap(RUNNING, Ordering::AcqRel);
        debug_assert_eq!(prev, QUEUED, "a task was polled without being queued");
    }

    /// The poll returned `Pending`.
    pub fn end_poll_pending(&self) -> AfterPoll {
        match self
            .0
            .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => AfterPoll::Park,
            Err(actual) => {
                debug_assert_eq!(actual, RUNNING_WOKEN);
                // Only the executor leaves RUNNING_WOKEN, so a plain store is enough.
                self.0.store(QUEUED, Ordering::Release);
                AfterPoll::Requeue
            }
        }
    }

    /// The future completed; later wakes are ignored.
    pub fn finish(&self) {
        self.0.store(DONE, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_from_idle_enqueues_once() {
        let s = TaskState::new_queued();
        s.start_poll();
        assert_eq!(s.end_poll_pending(), AfterPoll::Park);
        assert_eq!(s.wake(), WakeAction::Enqueue);
        assert_eq!(s.wake(), WakeAction::None);
        assert_eq!(s.get(), QUEUED);
    }

    #[test]
    fn wake_while_running_requeues_after_poll() {
        let s = TaskState::new_queued();
        s.start_poll();
        assert_eq!(s.wake(), WakeAction::None);
        assert_eq!(s.wake(), WakeAction::None);
        assert_eq!(s.end_poll_pending(), AfterPoll::Requeue);
        assert_eq!(s.get(), QUEUED);
    }

    #[test]
    fn wake_after_done_is_ignored() {
        let s = TaskState::new_queued();
        s.start_poll();
        s.finish();
        assert_eq!(s.wake(), WakeAction::None);
        assert_eq!(s.get(), DONE);
    }
}
