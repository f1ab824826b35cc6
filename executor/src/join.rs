//! [`JoinHandle`]: the future `spawn` returns, resolving to the task's output.
//!
//! Dropping a handle detaches the task; it runs to completion regardless.

use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use crate::task::TaskRef;

/// Where a task leaves its output for the handle.
pub(crate) struct JoinSlot<T> {
    value: spin::Mutex<Option<T>>,
    waker: AtomicWaker,
}

impl<T> JoinSlot<T> {
    pub(crate) fn new() -> Self {
        Self {
            value: spin::Mutex::new(None),
            waker: AtomicWaker::new(),
        }
    }

    /// Stores the output and wakes the joiner (outside the lock: brief §7).
    pub(crate) fn complete(&self, value: T) {
        *self.value.lock() = Some(value);
        self.waker.wake();
    }
}

/// Resolves to the output of a spawned task.
#[must_use = "dropping a JoinHandle detaches the task"]
pub struct JoinHandle<T> {
    slot: Arc<JoinSlot<T>>,
    task: TaskRef,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(slot: Arc<JoinSlot<T>>, task: TaskRef) -> Self {
        Self { slot, task }
    }

    /// The spawned task's id.
    pub fn id(&self) -> u64 {
        self.task.id()
    }

    /// A handle on the task itself (its home CPU and affinity).
    pub fn task(&self) -> TaskRef {
        self.task.clone()
    }

    /// Lets the task run on without anyone waiting for its output.
    pub fn detach(self) {}

    /// Whether the task has finished and left its output.
    pub fn is_finished(&self) -> bool {
        self.slot.value.lock().is_some()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // Register before checking, so a completion between the two is not missed.
        self.slot.waker.register(cx.waker());
        match self.slot.value.lock().take() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }
}
