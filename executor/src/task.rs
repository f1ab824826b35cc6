//! The task header: state word, boxed future, and the run queue it belongs to.
//!
//! A task is an `Arc<Task>`. Its [`Waker`](core::task::Waker) is the same `Arc` (through
//! [`alloc::task::Wake`]), so cloning a waker is an atomic increment and waking never
//! allocates: a wake flips the state word and, only on IDLE → QUEUED, pushes one more
//! reference into a bounded queue that was sized for every live task up front.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::pin::Pin;

use crate::executor::RunQueue;
use crate::state::{TaskState, WakeAction};

/// A boxed, sendable future with no output: what a task runs.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub(crate) struct Task {
    pub(crate) state: TaskState,
    /// Taken (and dropped) when the future completes. Only the owning executor polls
    /// it, so the lock is never contended; it exists to make `Task: Sync`.
    pub(crate) future: spin::Mutex<Option<TaskFuture>>,
    /// The queue a wake pushes the task to: its home CPU's.
    pub(crate) queue: Arc<RunQueue>,
    /// For logs and debugging.
    pub(crate) id: u64,
    pub(crate) name: &'static str,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.state.wake() == WakeAction::Enqueue {
            self.queue.push(self.clone());
        }
    }
}

impl core::fmt::Debug for Task {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("state", &self.state.get())
            .finish()
    }
}
