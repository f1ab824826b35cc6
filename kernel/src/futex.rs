//! Futexes: wait queues keyed by a user address.
//!
//! A futex is a 32-bit word in user memory; FUTEX_WAIT sleeps while it holds an
//! expected value, FUTEX_WAKE wakes sleepers. The key is the address space plus the
//! user address (private futexes, and shared ones within one address space; shared
//! mappings across processes key by address space too for now).
//!
//! Each waiter has its own slot with a flag and a waker, so a wake targets exactly
//! `n` waiters in arrival order, and a waiter that is cancelled (timeout, kill) takes
//! its slot out in `Drop`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

use crate::mm::vm::AddressSpace;

type Key = (u64, u64);

struct Waiter {
    woken: AtomicBool,
    waker: spin::Mutex<Option<Waker>>,
    bitset: u32,
}

static TABLE: spin::Mutex<BTreeMap<Key, VecDeque<Arc<Waiter>>>> = spin::Mutex::new(BTreeMap::new());

fn key(mm: &AddressSpace, addr: u64) -> Key {
    (mm.root(), addr)
}

/// Wakes up to `n` waiters on `addr` whose bitset intersects `bitset`; returns how
/// many were woken.
pub fn wake_bitset(mm: &AddressSpace, addr: u64, n: usize, bitset: u32) -> usize {
    let mut woken = alloc::vec::Vec::new();
    {
        let mut t = TABLE.lock();
        if let Some(q) = t.get_mut(&key(mm, addr)) {
            let mut i = 0;
            while i < q.len() && woken.len() < n {
                if q[i].bitset & bitset != 0 {
                    woken.push(q.remove(i).expect("index checked"));
                } else {
                    i += 1;
                }
            }
            if q.is_empty() {
                t.remove(&key(mm, addr));
            }
        }
    }
    let count = woken.len();
    for w in woken {
        w.woken.store(true, Ordering::Release);
        if let Some(k) = w.waker.lock().take() {
            k.wake();
        }
    }
    count
}

/// Wakes up to `n` waiters on `addr`.
pub fn wake(mm: &AddressSpace, addr: u64, n: usize) -> usize {
    wake_bitset(mm, addr, n, u32::MAX)
}

/// Queues a waiter on `addr`. The caller checks the futex word *after* this (with
/// the waiter registered), so a wake between check and sleep is not lost.
pub fn enqueue(mm: &AddressSpace, addr: u64, bitset: u32) -> FutexWait {
    let w = Arc::new(Waiter {
        woken: AtomicBool::new(false),
        waker: spin::Mutex::new(None),
        bitset,
    });
    let k = key(mm, addr);
    TABLE.lock().entry(k).or_default().push_back(w.clone());
    FutexWait { key: k, waiter: w }
}

/// A queued futex waiter; completes when woken, deregisters when dropped.
pub struct FutexWait {
    key: Key,
    waiter: Arc<Waiter>,
}

impl Future for FutexWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.waiter.waker.lock() = Some(cx.waker().clone());
        if self.waiter.woken.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for FutexWait {
    fn drop(&mut self) {
        if self.waiter.woken.load(Ordering::Acquire) {
            return;
        }
        let mut t = TABLE.lock();
        if let Some(q) = t.get_mut(&self.key) {
            q.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            if q.is_empty() {
                t.remove(&self.key);
            }
        }
    }
}
