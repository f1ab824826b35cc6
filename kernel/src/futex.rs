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
//!
//! Waiters live in a fixed table of buckets chosen by a hash of the key, each with
//! its own lock (as Linux's futex hash table): unrelated futexes do not contend,
//! and a wait or wake allocates nothing but the waiter's slot (a bucket's vector
//! keeps its capacity when it empties).

use alloc::sync::Arc;
use alloc::vec::Vec;
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
    /// Where the waiter is queued now (requeue moves it). Changed only with the
    /// locks of both its old and its new bucket held.
    key: spin::Mutex<Key>,
}

/// Buckets in the table (a power of two).
const BUCKETS: usize = 256;

/// The waiters of every key that hashes to a bucket, in arrival order (so the
/// waiters of one key are in arrival order too).
type Bucket = spin::Mutex<Vec<Arc<Waiter>>>;

static TABLE: [Bucket; BUCKETS] = [const { spin::Mutex::new(Vec::new()) }; BUCKETS];

fn bucket_index(key: Key) -> usize {
    // Futex words are 4-byte aligned: drop the low bits, mix the object in.
    let h = (key.1 >> 2) ^ key.0.rotate_left(17);
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - BUCKETS.trailing_zeros())) as usize
}

fn bucket(key: Key) -> &'static Bucket {
    &TABLE[bucket_index(key)]
}

/// Waiters taken off a queue, woken once every lock is released. Room for the
/// common wakes (one waiter, a few) without an allocation.
#[derive(Default)]
struct Woken {
    few: [Option<Arc<Waiter>>; 4],
    count: usize,
    more: Vec<Arc<Waiter>>,
}

impl Woken {
    fn push(&mut self, w: Arc<Waiter>) {
        if let Some(slot) = self.few.get_mut(self.count) {
            *slot = Some(w);
        } else {
            self.more.push(w);
        }
        self.count += 1;
    }

    fn len(&self) -> usize {
        self.count
    }

    /// Wakes them all; returns how many.
    fn wake(self) -> usize {
        let n = self.count;
        for w in self.few.into_iter().flatten().chain(self.more) {
            w.woken.store(true, Ordering::Release);
            // Out of the bucket's lock: the woken task, polled at once on another
            // CPU, may take it again.
            let waker = w.waker.lock().take();
            if let Some(k) = waker {
                k.wake();
            }
        }
        n
    }
}

/// Wakes up to `n` waiters on `key` whose bitset intersects `bitset`.
pub fn wake(key: Key, n: usize, bitset: u32) -> usize {
    let mut woken = Woken::default();
    {
        let mut q = bucket(key).lock();
        let mut i = 0;
        while i < q.len() && woken.len() < n {
            if q[i].bitset & bitset != 0 && *q[i].key.lock() == key {
                woken.push(q.remove(i));
            } else {
                i += 1;
            }
        }
    }
    woken.wake()
}

/// Wakes up to `n` waiters on `from` and moves up to `requeue` of the rest to `to`
/// (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE). Returns (woken, moved).
pub fn requeue(from: Key, to: Key, n: usize, requeue: usize) -> (usize, usize) {
    let mut woken = Woken::default();
    let mut moved = 0;
    {
        let (a, b) = (bucket_index(from), bucket_index(to));
        // Both buckets locked, the lower index first (every path that takes two
        // does so), so that no waiter is ever outside both while it moves.
        let mut first = TABLE[a.min(b)].lock();
        let mut second = (a != b).then(|| TABLE[a.max(b)].lock());
        let (src, mut dst) = match &mut second {
            None => (&mut *first, None),
            Some(s) if a < b => (&mut *first, Some(&mut **s)),
            Some(s) => (&mut **s, Some(&mut *first)),
        };
        let mut i = 0;
        while i < src.len() {
            if *src[i].key.lock() != from {
                i += 1;
            } else if woken.len() < n {
                woken.push(src.remove(i));
            } else if moved < requeue && from != to {
                let w = src.remove(i);
                *w.key.lock() = to;
                match dst.as_deref_mut() {
                    Some(d) => d.push(w),
                    // Same bucket: the waiter goes to the back, after those of
                    // `to` already there, as it would on its new queue.
                    None => src.push(w),
                }
                moved += 1;
            } else {
                break;
            }
        }
    }
    (woken.wake(), moved)
}

/// Queues a waiter on `key` if `still_waiting()` (the futex word still holds the
/// expected value) is true; `None` if not. The check runs under the bucket's lock,
/// as Linux reads the word under its hash-bucket lock: a waker on another CPU
/// either sees the waiter queued (and wakes it) or ran before and changed the word
/// (so the check fails); a waiter is never counted by a wake or requeue and then
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
    let mut q = bucket(key).lock();
    if !still_waiting()? {
        return Ok(None);
    }
    q.push(w.clone());
    Ok(Some(FutexWait { waiter: w }))
}

/// A queued futex waiter; completes when woken, deregisters when dropped.
pub struct FutexWait {
    waiter: Arc<Waiter>,
}

impl Future for FutexWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.waiter.woken.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        {
            let mut slot = self.waiter.waker.lock();
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        // A wake between the first check and the waker's registration found no
        // waker to call: look again.
        if self.waiter.woken.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for FutexWait {
    fn drop(&mut self) {
        loop {
            if self.waiter.woken.load(Ordering::Acquire) {
                return;
            }
            let key = *self.waiter.key.lock();
            let mut q = bucket(key).lock();
            // A requeue may have moved it since the key was read; it changes
            // the key only with this bucket's lock held, so under the lock a
            // key that still matches stays.
            if *self.waiter.key.lock() != key {
                continue;
            }
            q.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            return;
        }
    }
}
