//! An async mutex without `unsafe`: a [`FifoLock`] decides whose turn it is, and the
//! holder takes the protected value out of its slot for the length of its turn and
//! puts it back when the guard drops. The slot's spin lock is only ever held for a
//! moment, never across an `await`.

use alloc::boxed::Box;
use core::ops::{Deref, DerefMut};

use kestrel_sync::{FifoGuard, FifoLock};

pub(crate) struct AsyncMutex<T> {
    turn: FifoLock,
    slot: spin::Mutex<Option<Box<T>>>,
}

pub(crate) struct Guard<'a, T> {
    _turn: FifoGuard<'a>,
    slot: &'a spin::Mutex<Option<Box<T>>>,
    value: Option<Box<T>>,
}

impl<T> AsyncMutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            turn: FifoLock::new(),
            slot: spin::Mutex::new(Some(Box::new(value))),
        }
    }

    pub(crate) async fn lock(&self) -> Guard<'_, T> {
        let turn = self.turn.lock().await;
        let value = self.slot.lock().take();
        // The turn is exclusive, so the value is always home when a turn starts.
        debug_assert!(value.is_some());
        Guard {
            _turn: turn,
            slot: &self.slot,
            value,
        }
    }
}

impl<T> AsyncMutex<T> {
    /// The turn now if nobody holds it or waits for it, else `None`.
    pub(crate) fn try_lock(&self) -> Option<Guard<'_, T>> {
        let turn = self.turn.try_lock()?;
        let value = self.slot.lock().take();
        debug_assert!(value.is_some());
        Some(Guard {
            _turn: turn,
            slot: &self.slot,
            value,
        })
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
            .as_deref()
            .expect("value is out only during a turn")
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
            .as_deref_mut()
            .expect("value is out only during a turn")
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // Put the value back before the turn passes on (fields drop after this).
        *self.slot.lock() = self.value.take();
    }
}
