//! Futexes: wait queues keyed by a user address.
//!
//! A futex is a 32-bit word in user memory; FUTEX_WAIT sleeps while it holds an
//! expected value, FUTEX_WAKE wakes sleepers. The key says which sleepers a wake
//! reaches (Linux's get_futex_key): for private memory, or any PRIVATE operation, it
//! is the address space and the address; for shared memory (MAP_SHARED), it is the
//! shared object and the offset in it, so processes that map the same memory at
//! different addresses still meet.
//!
//! Each waiter has its own slot with a flag and a waker, so a wake targets exactly
//! `n` waiters in arrival order, requeue moves slots between keys, and a waiter that
//! is cancelled (timeout, signal, kill) takes its slot out in `Drop`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

/// A futex's identity: (object, offset). The object is an address-space root for
/// private keys, or a shared memory object's address for shared ones.
pub type Key = (u64, u64);

struct Waiter {
    woken: AtomicBool,
    waker: spin::Mutex<Option<Waker>>,
    bitset: u32,
    /// Where the waiter is queued now (requeue moves it).
    key: spin::Mutex<Key>,
}

static TABLE: spin::Mutex<BTreeMap<Key, VecDeque<Arc<Waiter>>>> = spin::Mutex::new(BTreeMap::new());

fn wake_all_of(woken: alloc::vec::Vec<Arc<Waiter>>) -> usize {
    let n = woken.len();
    for w in woken {
        w.woken.store(true, Ordering::Release);
        // Out of the lock first: the woken task, polled at once on another CPU,
        // takes this lock to register its waker again.
        let waker = w.waker.lock().take();
        if let Some(k) = waker {
            k.wake();
        }
    }
    n
}

/// Wakes up to `n` waiters on `key` whose bitset intersects `bitset`.
pub fn wake(key: Key, n: usize, bitset: u32) -> usize {
    let mut woken = alloc::vec::Vec::new();
    {
        let mut t = TABLE.lock();
        if let Some(q) = t.get_mut(&key) {
            let mut i = 0;
            while i < q.len() && woken.len() < n {
                if q[i].bitset & bitset != 0 {
                    woken.push(q.remove(i).expect("index checked"));
                } else {
                    i += 1;
                }
            }
            if q.is_empty() {
                t.remove(&key);
            }
        }
    }
    wake_all_of(woken)
}

/// Wakes up to `n` waiters on `from` and moves up to `requeue` of the rest to `to`
/// (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE). Returns (woken, moved).
pub fn requeue(from: Key, to: Key, n: usize, requeue: usize) -> (usize, usize) {
    let mut woken = alloc::vec::Vec::new();
    let mut moved = 0;
    {
        let mut t = TABLE.lock();
        let Some(mut q) = t.remove(&from) else {
            return (0, 0);
        };
        while woken.len() < n {
            match q.pop_front() {
                Some(w) => woken.push(w),
                None => break,
            }
        }
        let mut rest = VecDeque::new();
        while let Some(w) = q.pop_front() {
            if moved < requeue && from != to {
                *w.key.lock() = to;
                t.entry(to).or_default().push_back(w);
                moved += 1;
            } else {
                rest.push_back(w);
            }
        }
        if !rest.is_empty() {
            t.insert(from, rest);
        }
    }
    (wake_all_of(woken), moved)
}

/// Queues a waiter on `key` if `still_waiting()` (the futex word still holds the
/// expected value) is true; `None` if not. The check runs under the table lock, as
/// Linux reads the word under its hash-bucket lock: a waker on another CPU either
/// sees the waiter queued (and wakes it) or ran before and changed the word (so
/// the check fails); a waiter is never counted by a wake or requeue and then
/// returns EAGAIN. The caller reads the word once before, so that the read here
/// finds the page present.
pub fn enqueue_if<E>(
    key: Key,
    bitset: u32,
    still_waiting: impl FnOnce() -> Result<bool, E>,
) -> Result<Option<FutexWait>, E> {
    let w = Arc::new(Waiter {
        woken: AtomicBool::new(false),
        waker: spin::Mutex::new(None),
        bitset,
        key: spin::Mutex::new(key),
    });
    let mut table = TABLE.lock();
    if !still_waiting()? {
        return Ok(None);
    }
    table.entry(key).or_default().push_back(w.clone());
    Ok(Some(FutexWait { waiter: w }))
}

/// A queued futex waiter; completes when woken, deregisters when dropped.
pub struct FutexWait {
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
        let key = *self.waiter.key.lock();
        if let Some(q) = t.get_mut(&key) {
            q.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            if q.is_empty() {
                t.remove(&key);
            }
        }
    }
}
