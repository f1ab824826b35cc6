//! Locks for the kernel crate.
//!
//! [`IrqMutex`] is the only lock that interrupt-context code may take: it disables
//! interrupts on this CPU while held, so an interrupt handler can never spin on a lock
//! its own CPU already holds (brief §7).

use core::ops::{Deref, DerefMut};

use crate::arch::cpu;

/// A spin lock that disables interrupts while held.
#[derive(Debug)]
pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

/// Guard of an [`IrqMutex`]; restores the interrupt flag when dropped.
pub struct IrqMutexGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    reenable: bool,
}

impl<T> IrqMutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    /// Disables interrupts, then spins for the lock.
    pub fn lock(&self) -> IrqMutexGuard<'_, T> {
        let reenable = cpu::interrupts_enabled();
        cpu::disable_interrupts();
        IrqMutexGuard {
            guard: Some(self.inner.lock()),
            reenable,
        }
    }
}

impl<T> Deref for IrqMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard present until drop")
    }
}

impl<T> DerefMut for IrqMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard present until drop")
    }
}

impl<T> Drop for IrqMutexGuard<'_, T> {
    fn drop(&mut self) {
        // Release the lock before interrupts come back on.
        self.guard.take();
        if self.reenable {
            cpu::enable_interrupts();
        }
    }
}
