//! The split virtqueue (virtio 1.2, 2.7): how requests go to the device and
//! come back.
//!
//! Three areas of DMA memory make a queue of `size` entries (a power of two):
//!
//! - the **descriptor table** (`struct vring_desc`, 16 bytes each, 16-aligned):
//!   address, length, flags (`NEXT`, `WRITE`) and the index of the next
//!   descriptor. A request is a *chain* of descriptors: the buffers the device
//!   reads first, then the ones it writes (the spec requires that order);
//! - the **available ring** (`struct vring_avail`, 2-aligned): the driver writes
//!   the head of each new chain at `ring[idx % size]`, then bumps `idx`;
//! - the **used ring** (`struct vring_used`, 4-aligned): the device writes
//!   `(head, bytes written)` at `ring[idx % size]` when it is done with a chain,
//!   then bumps its `idx` and (usually) interrupts.
//!
//! Both `idx` counters are free-running 16-bit numbers: they wrap at 65536, and
//! since `size` divides 65536 the slot is always `idx % size`.
//!
//! **Requests are futures.** [`Virtqueue::submit`] returns a [`Request`]; the
//! first poll puts the chain in the rings and notifies the device; the
//! interrupt task (see [`serve`]) calls [`Virtqueue::process_used`], which
//! completes requests and wakes them, in whatever order the device finishes
//! them. Many requests may be in flight; when the descriptors run out a
//! request *waits* (in FIFO order) for a completion to free some, the way
//! Linux's block layer holds a request back when `virtqueue_add_sgs` finds the
//! ring full. Failing with `NoMemory` instead would push a retry loop into every
//! driver, for a condition that clears by itself. A chain longer than the whole
//! queue can never fit and fails at once (`OutOfRange`; no indirect
//! descriptors here).
//!
//! **Ownership.** A [`Segment`] holds an `Arc<DmaBuffer>`, and the queue keeps
//! every segment of a chain until the device returns that chain, whatever
//! happens to the [`Request`]: dropped, timed out, or failed because the device
//! broke the protocol. So memory the device may still write is never freed. The
//! caller keeps its own `Arc`s to read the results.
//!
//! **The device is not trusted.** The driver never reads the descriptor table
//! or the available ring back (the device could have scribbled on them): free
//! descriptors and chain links are tracked in private memory. What it does read
//! from the used ring is checked: an `idx` that claims more completions than
//! there are chains in flight marks the queue broken (every request fails with
//! `IoError::Device`, buffers are held until [`Virtqueue::reclaim_after_reset`]);
//! an entry naming a descriptor that is not the head of a chain in flight is
//! skipped and reported; a length larger than the chain's writable buffers
//! fails that request. A device that never answers is caught by the request's
//! timeout (30 s by default, like Linux's block-request timeout). All of these
//! are logged.
//!
//! **Timeouts cost nothing per request.** A request does not read the clock or
//! arm a timer of its own (that was a large part of a request's cost): one
//! watchdog task per queue, spawned when the first request with a timeout
//! comes, wakes every [`WATCHDOG_PERIOD_NS`] while requests with a timeout are
//! in flight or waiting for room, and parks otherwise. It stamps each such
//! request the first time it sees it and fails it with `IoError::Timeout` (and
//! wakes it) once the timeout has passed since the stamp. So a request times
//! out between its timeout and its timeout plus two periods after it was
//! submitted, never early; one that completes before the watchdog's next round
//! is never looked at. The watchdog holds the queue weakly and ends with it.
//!
//! **Barriers.** Ring memory is reached through volatile copies (the kit's
//! `DmaMemory`). `fence(Release)` orders the descriptors and ring entry before
//! the new `avail.idx`; a full fence orders that store before the read of the
//! device's `VRING_USED_F_NO_NOTIFY` hint (a store→load order, which x86 only
//! keeps with `mfence`); `fence(Acquire)` orders the read of `used.idx` before
//! the entries it covers. On x86 the first and last only stop the compiler.
//!
//! Not done: `VIRTIO_F_EVENT_IDX` (the device is notified on every submission
//! unless it sets `VRING_USED_F_NO_NOTIFY`, and interrupts are never
//! suppressed), indirect descriptors, packed queues, batching several requests
//! under one notification.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering, fence};
use core::task::{Context, Poll, Waker};

use kestrel_driver_kit::{BoxFuture, DmaBuffer, Host, IoError, Irq, ProbeError, Registers};

/// Descriptor flag: the chain continues at `next`.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer (otherwise it reads it).
pub const VRING_DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer is a table of descriptors (not used here).
pub const VRING_DESC_F_INDIRECT: u16 = 4;
/// Available-ring flag: the driver does not want interrupts (not used here).
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Used-ring flag: the device does not want notifications for now.
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;
/// The largest split queue (spec 2.7).
pub const MAX_QUEUE_SIZE: u16 = 32768;
/// How long a request may take by default: 30 s, as Linux's block layer.
pub const DEFAULT_TIMEOUT_NS: u64 = 30_000_000_000;
/// How often the watchdog looks at the requests with a timeout (while there
/// are any): a request times out at most two of these late.
pub const WATCHDOG_PERIOD_NS: u64 = 1_000_000_000;

/// Bytes per descriptor (`struct vring_desc`).
pub const DESC_SIZE: usize = 16;
/// Bytes before the ring array of the available and used rings (flags, idx).
pub const RING_HEADER: usize = 4;
/// Bytes per used-ring entry (`struct vring_used_elem`: id, len).
pub const USED_ELEM_SIZE: usize = 8;

/// `timeout_ns` value meaning "no timeout".
const NO_TIMEOUT: u64 = u64::MAX;

/// Part of a DMA buffer, for one descriptor. Cloning it clones the `Arc`.
#[derive(Clone)]
pub struct Segment {
    buffer: Arc<DmaBuffer>,
    offset: usize,
    len: usize,
}

impl Segment {
    /// Bytes `offset..offset + len` of `buffer` (checked when submitted: a
    /// segment outside its buffer, or empty, fails the request with
    /// `OutOfRange`).
    pub fn new(buffer: Arc<DmaBuffer>, offset: usize, len: usize) -> Self {
        Self {
            buffer,
            offset,
            len,
        }
    }

    /// All of `buffer`.
    pub fn whole(buffer: Arc<DmaBuffer>) -> Self {
        let len = buffer.len();
        Self::new(buffer, 0, len)
    }

    pub fn buffer(&self) -> &Arc<DmaBuffer> {
        &self.buffer
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn is_valid(&self) -> bool {
        self.len > 0
            && u32::try_from(self.len).is_ok()
            && self
                .offset
                .checked_add(self.len)
                .is_some_and(|end| end <= self.buffer.len())
    }
}

impl From<Arc<DmaBuffer>> for Segment {
    fn from(buffer: Arc<DmaBuffer>) -> Self {
        Self::whole(buffer)
    }
}

impl core::fmt::Debug for Segment {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Segment({:#x}+{}, {} bytes)",
            self.buffer.device_addr(),
            self.offset,
            self.len
        )
    }
}

/// A request the device finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// Bytes the device says it wrote into the writable segments, in order
    /// (the used ring's `len`; never more than their total).
    pub written: usize,
}

/// Where a request's result goes: shared by the [`Request`] and the queue's
/// record of the chain, so the queue can finish a request whose future is gone.
#[derive(Default)]
struct Outcome {
    result: Option<Result<Completion, IoError>>,
    waker: Option<Waker>,
}

type SharedOutcome = Arc<spin::Mutex<Outcome>>;

/// A chain the device holds. Its segments keep the buffers alive.
struct InFlight {
    /// Descriptors in the chain (linked by `State::next` from the head).
    count: u16,
    #[expect(
        dead_code,
        reason = "never read: it keeps the buffers alive while the device has them"
    )]
    segments: Vec<Segment>,
    /// Total bytes of the writable segments: the most `len` may say.
    writable: usize,
    outcome: SharedOutcome,
    /// The request's timeout, until it has timed out (`None`: no timeout, or
    /// it already fired).
    timeout: Option<u64>,
    /// When the watchdog first saw it (waiting for room or in flight).
    since: Option<u64>,
}

/// A request waiting for descriptors.
struct Waiter {
    ticket: u64,
    waker: Waker,
    timeout: Option<u64>,
    since: Option<u64>,
    /// The watchdog found its timeout passed: its next poll fails.
    expired: bool,
}

/// Everything that changes, under one lock.
struct State {
    /// The driver's own copy of the descriptor links: `next[i]` follows `i` in
    /// its chain or in the free list. The copy in DMA memory is never read back.
    next: Vec<u16>,
    free_head: u16,
    num_free: u16,
    /// The `avail.idx` last published.
    avail_idx: u16,
    /// The next used-ring entry to look at.
    last_used: u16,
    /// Chains the device holds, by head descriptor.
    in_flight: Vec<Option<InFlight>>,
    in_flight_count: usize,
    /// Requests waiting for descriptors, first come first served.
    waiters: VecDeque<Waiter>,
    next_ticket: u64,
    /// Requests with a timeout that has not fired, in flight or waiting: the
    /// watchdog runs while there are any.
    timed: usize,
    /// The watchdog's waker while it is parked (`timed` was 0).
    watchdog: Option<Waker>,
    /// Whether the watchdog task was spawned.
    watchdog_spawned: bool,
    /// The device broke the ring protocol: nothing more goes in or out.
    broken: bool,
    /// Used-ring entries that named no chain in flight.
    bad_entries: u64,
}

/// How a queue reaches its device: the notify register and the status register
/// (the queue checks the device really was reset before freeing what it held).
pub(crate) struct Doorbell {
    pub notify: Arc<dyn Registers>,
    pub offset: usize,
    pub common: Arc<dyn Registers>,
    pub status_offset: usize,
}

/// One split virtqueue. Shared by `Arc` between the driver's request paths and
/// its interrupt task.
pub struct Virtqueue {
    index: u16,
    size: u16,
    desc: DmaBuffer,
    avail: DmaBuffer,
    used: DmaBuffer,
    doorbell: Doorbell,
    host: Arc<dyn Host>,
    timeout_ns: AtomicU64,
    state: spin::Mutex<State>,
}

impl Virtqueue {
    /// Allocates the rings of queue `index` with `size` entries (a power of two
    /// up to 32768). The transport then tells the device where they are.
    pub(crate) fn new(
        index: u16,
        size: u16,
        host: Arc<dyn Host>,
        doorbell: Doorbell,
    ) -> Result<Self, ProbeError> {
        if !size.is_power_of_two() || size > MAX_QUEUE_SIZE {
            return Err(ProbeError::Unsupported("queue size not a power of two"));
        }
        let n = usize::from(size);
        let dma = host.dma();
        // Each area is a separate allocation, page-aligned, so each is aligned
        // more than the spec asks (16, 2 and 4 bytes). The allocator zeroes
        // them: no flags, both indices 0.
        let desc = dma.alloc(DESC_SIZE * n).map_err(|_| ProbeError::NoMemory)?;
        let avail = dma
            .alloc(RING_HEADER + 2 * n + 2)
            .map_err(|_| ProbeError::NoMemory)?;
        let used = dma
            .alloc(RING_HEADER + USED_ELEM_SIZE * n + 2)
            .map_err(|_| ProbeError::NoMemory)?;
        let state = State {
            next: (1..=size).map(|i| i % size).collect(),
            free_head: 0,
            num_free: size,
            avail_idx: 0,
            last_used: 0,
            in_flight: (0..n).map(|_| None).collect(),
            in_flight_count: 0,
            waiters: VecDeque::new(),
            next_ticket: 0,
            timed: 0,
            watchdog: None,
            watchdog_spawned: false,
            broken: false,
            bad_entries: 0,
        };
        Ok(Self {
            index,
            size,
            desc,
            avail,
            used,
            doorbell,
            host,
            timeout_ns: AtomicU64::new(DEFAULT_TIMEOUT_NS),
            state: spin::Mutex::new(state),
        })
    }

    /// The queue's number on its device (0 = first receive queue of a NIC, the
    /// request queue of a disk...).
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Descriptors in the queue (as many as one request's chain may hold).
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Bus addresses of the descriptor table, available ring and used ring
    /// (`queue_desc`, `queue_driver`, `queue_device`).
    pub fn ring_addresses(&self) -> (u64, u64, u64) {
        (
            self.desc.device_addr(),
            self.avail.device_addr(),
            self.used.device_addr(),
        )
    }

    /// Chains the device holds now.
    pub fn in_flight(&self) -> usize {
        self.state.lock().in_flight_count
    }

    /// Descriptors free now.
    pub fn free_descriptors(&self) -> usize {
        usize::from(self.state.lock().num_free)
    }

    /// Whether the device broke the ring protocol (every request fails).
    pub fn is_broken(&self) -> bool {
        self.state.lock().broken
    }

    /// Used-ring entries seen so far that named no chain in flight.
    pub fn bad_entries(&self) -> u64 {
        self.state.lock().bad_entries
    }

    /// The timeout new requests get (`None`: they wait as long as it takes,
    /// what a network receive queue wants).
    pub fn set_timeout(&self, ns: Option<u64>) {
        self.timeout_ns
            .store(ns.unwrap_or(NO_TIMEOUT), Ordering::Relaxed);
    }

    /// The timeout new requests get.
    pub fn timeout(&self) -> Option<u64> {
        let ns = self.timeout_ns.load(Ordering::Relaxed);
        (ns != NO_TIMEOUT).then_some(ns)
    }

    /// A request: the device reads `readable` (in order), then writes
    /// `writable`. Nothing happens until the returned future is polled.
    pub fn submit(self: &Arc<Self>, readable: &[Segment], writable: &[Segment]) -> Request {
        let mut segments = Vec::with_capacity(readable.len() + writable.len());
        segments.extend_from_slice(readable);
        segments.extend_from_slice(writable);
        self.submit_chain(segments, readable.len())
    }

    /// A request whose chain is `segments`: the device reads the first
    /// `readable` (in order) and writes the rest. The same as
    /// [`Virtqueue::submit`] without copying the segments into a new `Vec`.
    pub fn submit_chain(self: &Arc<Self>, segments: Vec<Segment>, readable: usize) -> Request {
        let readable = readable.min(segments.len());
        Request {
            queue: self.clone(),
            stage: Stage::Unplaced {
                segments,
                readable,
                ticket: None,
            },
            timeout: self.timeout(),
        }
    }

    /// Takes every chain the device has returned since the last call, completes
    /// its request (or, if the request was dropped, frees its buffers), and
    /// returns how many. The driver's interrupt task calls this after each
    /// interrupt (see [`serve`]).
    pub fn process_used(&self) -> usize {
        let mut wake = Vec::new();
        let mut done = 0;
        {
            let mut st = self.state.lock();
            if st.broken {
                return 0;
            }
            let used_idx = self.used.read_u16(2);
            // The entries below `used_idx` are read after it.
            fence(Ordering::Acquire);
            let new = used_idx.wrapping_sub(st.last_used);
            if usize::from(new) > st.in_flight_count {
                log::error!(
                    "virtio queue {}: used idx {} is {} past {} with only {} requests in flight; the queue is broken",
                    self.index,
                    used_idx,
                    new,
                    st.last_used,
                    st.in_flight_count
                );
                self.break_queue(&mut st, &mut wake);
            } else {
                for _ in 0..new {
                    if self.complete_one(&mut st, &mut wake) {
                        done += 1;
                    }
                }
                if done > 0 {
                    wake.extend(st.waiters.front().map(|w| w.waker.clone()));
                }
            }
        }
        for w in wake {
            w.wake();
        }
        done
    }

    /// Frees everything the queue holds once the device has been reset (its
    /// `device_status` reads 0, so it holds no buffers any more): requests in
    /// flight fail with `IoError::Device` and their buffers are dropped. The
    /// queue stays broken: a reset also forgot where its rings are. Returns
    /// false, and frees nothing, if the device is not reset.
    pub fn reclaim_after_reset(&self) -> bool {
        let d = &self.doorbell;
        if d.common.read8(d.status_offset) != 0 {
            log::error!(
                "virtio queue {}: not reclaiming buffers from a device that is not reset",
                self.index
            );
            return false;
        }
        let mut wake = Vec::new();
        let mut released = Vec::new();
        {
            let mut st = self.state.lock();
            self.break_queue(&mut st, &mut wake);
            for slot in st.in_flight.iter_mut() {
                released.extend(slot.take());
            }
            st.in_flight_count = 0;
        }
        for w in wake {
            w.wake();
        }
        // The buffers go here, outside the lock.
        drop(released);
        true
    }

    /// Completes the next used-ring entry; false if it named no chain in flight.
    fn complete_one(&self, st: &mut State, wake: &mut Vec<Waker>) -> bool {
        let slot = RING_HEADER + USED_ELEM_SIZE * usize::from(st.last_used % self.size);
        let id = self.used.read_u32(slot);
        let len = self.used.read_u32(slot + 4);
        st.last_used = st.last_used.wrapping_add(1);
        let chain = usize::try_from(id)
            .ok()
            .and_then(|i| st.in_flight.get_mut(i))
            .and_then(Option::take);
        let Some(chain) = chain else {
            st.bad_entries += 1;
            log::error!(
                "virtio queue {}: the device returned descriptor {} (len {}), which is not a request in flight; ignored",
                self.index,
                id,
                len
            );
            return false;
        };
        st.in_flight_count -= 1;
        if chain.timeout.is_some() {
            st.timed -= 1;
        }
        Self::free_chain(st, id as u16, chain.count);
        let result = if len as usize > chain.writable {
            log::error!(
                "virtio queue {}: the device says it wrote {} bytes into {} writable ones; request failed",
                self.index,
                len,
                chain.writable
            );
            Err(IoError::Device)
        } else {
            Ok(Completion {
                written: len as usize,
            })
        };
        Self::finish(&chain.outcome, result, wake);
        // `chain.segments` drop here: for a request whose future was dropped
        // this is where its buffers are freed, now that the device is done.
        true
    }

    /// Marks the queue broken: requests in flight fail (their buffers stay held:
    /// the device might still write them), waiting ones are woken to fail.
    fn break_queue(&self, st: &mut State, wake: &mut Vec<Waker>) {
        st.broken = true;
        for chain in st.in_flight.iter_mut().flatten() {
            chain.timeout = None;
            Self::finish(&chain.outcome, Err(IoError::Device), wake);
        }
        wake.extend(st.waiters.drain(..).map(|w| w.waker));
        // Everything has failed: nothing is left for the watchdog.
        st.timed = 0;
    }

    fn finish(outcome: &SharedOutcome, result: Result<Completion, IoError>, wake: &mut Vec<Waker>) {
        let mut o = outcome.lock();
        if o.result.is_none() {
            o.result = Some(result);
        }
        wake.extend(o.waker.take());
    }

    /// Returns the `count` descriptors of the chain at `head` to the free list.
    fn free_chain(st: &mut State, head: u16, count: u16) {
        let mut tail = head;
        for _ in 1..count {
            tail = st.next[usize::from(tail)];
        }
        st.next[usize::from(tail)] = st.free_head;
        st.free_head = head;
        st.num_free += count;
    }

    /// Checks a chain before it may wait for room.
    fn check(&self, segments: &[Segment]) -> Result<(), IoError> {
        if segments.is_empty() || segments.len() > usize::from(self.size) {
            log::warn!(
                "virtio queue {}: a chain of {} buffers does not fit a queue of {}",
                self.index,
                segments.len(),
                self.size
            );
            return Err(IoError::OutOfRange);
        }
        if let Some(bad) = segments.iter().find(|s| !s.is_valid()) {
            log::warn!("virtio queue {}: bad segment {bad:?}", self.index);
            return Err(IoError::OutOfRange);
        }
        Ok(())
    }

    /// Puts the chain in the rings if it is its turn and there is room;
    /// otherwise queues (or re-registers) the caller as a waiter.
    fn try_place(
        self: &Arc<Self>,
        segments: &mut Vec<Segment>,
        readable: usize,
        ticket: &mut Option<u64>,
        timeout: Option<u64>,
        waker: &Waker,
    ) -> Place {
        let mut st = self.state.lock();
        if st.broken {
            *ticket = None;
            return Place::Failed(IoError::Device);
        }
        if let Some(t) = *ticket
            && st.waiters.iter().any(|w| w.ticket == t && w.expired)
        {
            drop(st);
            self.leave(t);
            *ticket = None;
            return Place::TimedOut;
        }
        let n = segments.len() as u16;
        let my_turn = match *ticket {
            None => st.waiters.is_empty(),
            Some(t) => st.waiters.front().is_some_and(|w| w.ticket == t),
        };
        if my_turn && st.num_free >= n {
            // A request that waited keeps its timeout and its watchdog stamp.
            let (timeout, since) = match ticket.take() {
                Some(_) => {
                    let w = st.waiters.pop_front().expect("the first waiter");
                    if w.timeout.is_some() {
                        st.timed -= 1;
                    }
                    (w.timeout, w.since)
                }
                None => (timeout, None),
            };
            let outcome = self.place(&mut st, core::mem::take(segments), readable, timeout, since);
            let watch = if timeout.is_some() {
                Self::watch(&mut st)
            } else {
                Watch::Running
            };
            // Whoever is next may fit in what is left.
            let next = st.waiters.front().map(|w| w.waker.clone());
            drop(st);
            if let Some(w) = next {
                w.wake();
            }
            self.kick();
            self.start_watchdog(watch);
            return Place::Placed(outcome);
        }
        match *ticket {
            None => {
                let t = st.next_ticket;
                st.next_ticket += 1;
                st.waiters.push_back(Waiter {
                    ticket: t,
                    waker: waker.clone(),
                    timeout,
                    since: None,
                    expired: false,
                });
                *ticket = Some(t);
                if timeout.is_some() {
                    let watch = Self::watch(&mut st);
                    drop(st);
                    self.start_watchdog(watch);
                }
            }
            Some(t) => {
                let Some(i) = st.waiters.iter().position(|w| w.ticket == t) else {
                    // Cannot happen: a waiter leaves the line only here, in
                    // `leave`, or when the queue breaks (handled above).
                    *ticket = None;
                    return Place::Failed(IoError::Device);
                };
                st.waiters[i].waker.clone_from(waker);
            }
        }
        Place::Wait
    }

    /// Counts one more request with a timeout, and says what the watchdog
    /// needs (done by [`Virtqueue::start_watchdog`], outside the lock).
    fn watch(st: &mut State) -> Watch {
        st.timed += 1;
        if !core::mem::replace(&mut st.watchdog_spawned, true) {
            return Watch::Spawn;
        }
        match st.watchdog.take() {
            Some(w) => Watch::Wake(w),
            None => Watch::Running,
        }
    }

    fn start_watchdog(self: &Arc<Self>, watch: Watch) {
        match watch {
            Watch::Running => {}
            Watch::Wake(w) => w.wake(),
            Watch::Spawn => self.host.spawn(
                "virtio-watchdog",
                watchdog(Arc::downgrade(self), self.host.clone()),
            ),
        }
    }

    /// The watchdog's round at time `now`: stamps the requests with a timeout
    /// it has not seen, fails (and wakes) those whose timeout has passed since
    /// their stamp.
    fn expire(&self, now: u64) {
        let mut wake = Vec::new();
        {
            let mut st = self.state.lock();
            let State {
                in_flight,
                waiters,
                timed,
                ..
            } = &mut *st;
            let due = |timeout: u64, since: &mut Option<u64>| {
                now.saturating_sub(*since.get_or_insert(now)) >= timeout
            };
            for chain in in_flight.iter_mut().flatten() {
                if let Some(t) = chain.timeout
                    && due(t, &mut chain.since)
                {
                    chain.timeout = None;
                    *timed -= 1;
                    log::warn!(
                        "virtio queue {}: the device did not answer a request in time; its buffers stay with the device",
                        self.index
                    );
                    Self::finish(&chain.outcome, Err(IoError::Timeout), &mut wake);
                }
            }
            for w in waiters.iter_mut() {
                if let Some(t) = w.timeout
                    && due(t, &mut w.since)
                {
                    w.timeout = None;
                    w.expired = true;
                    *timed -= 1;
                    log::warn!(
                        "virtio queue {}: request timed out waiting for free descriptors",
                        self.index
                    );
                    wake.push(w.waker.clone());
                }
            }
        }
        for w in wake {
            w.wake();
        }
    }

    /// Writes the chain's descriptors and publishes its head. Needs
    /// `segments.len()` free descriptors.
    fn place(
        &self,
        st: &mut State,
        segments: Vec<Segment>,
        readable: usize,
        timeout: Option<u64>,
        since: Option<u64>,
    ) -> SharedOutcome {
        let n = segments.len();
        let head = st.free_head;
        let mut id = head;
        let mut writable = 0;
        for (i, seg) in segments.iter().enumerate() {
            let at = DESC_SIZE * usize::from(id);
            let next = st.next[usize::from(id)];
            let mut flags = 0;
            if i >= readable {
                flags |= VRING_DESC_F_WRITE;
                writable += seg.len;
            }
            if i + 1 < n {
                flags |= VRING_DESC_F_NEXT;
            }
            self.desc
                .write_u64(at, seg.buffer.device_addr() + seg.offset as u64);
            self.desc.write_u32(at + 8, seg.len as u32);
            self.desc.write_u16(at + 12, flags);
            self.desc
                .write_u16(at + 14, if i + 1 < n { next } else { 0 });
            id = next;
        }
        st.free_head = id;
        st.num_free -= n as u16;

        let slot = RING_HEADER + 2 * usize::from(st.avail_idx % self.size);
        self.avail.write_u16(slot, head);
        // The descriptors and the ring entry are visible before the new index.
        fence(Ordering::Release);
        st.avail_idx = st.avail_idx.wrapping_add(1);
        self.avail.write_u16(2, st.avail_idx);

        let outcome = SharedOutcome::default();
        st.in_flight[usize::from(head)] = Some(InFlight {
            count: n as u16,
            segments,
            writable,
            outcome: outcome.clone(),
            timeout,
            since,
        });
        st.in_flight_count += 1;
        outcome
    }

    /// Tells the device there is something new, unless it asked not to be.
    fn kick(&self) {
        // The new avail.idx is stored before the device's flag is loaded.
        fence(Ordering::SeqCst);
        if self.used.read_u16(0) & VRING_USED_F_NO_NOTIFY != 0 {
            return;
        }
        let d = &self.doorbell;
        d.notify.write16(d.offset, self.index);
    }

    /// A request that will not be placed any more leaves the waiters; if it was
    /// first, the next one gets its chance.
    fn leave(&self, ticket: u64) {
        let next = {
            let mut st = self.state.lock();
            let was_first = st.waiters.front().is_some_and(|w| w.ticket == ticket);
            if let Some(i) = st.waiters.iter().position(|w| w.ticket == ticket)
                && let Some(w) = st.waiters.remove(i)
                && w.timeout.is_some()
            {
                st.timed -= 1;
            }
            if was_first {
                st.waiters.front().map(|w| w.waker.clone())
            } else {
                None
            }
        };
        if let Some(w) = next {
            w.wake();
        }
    }
}

impl core::fmt::Debug for Virtqueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Virtqueue")
            .field("index", &self.index)
            .field("size", &self.size)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// What the watchdog needs when a request with a timeout comes.
enum Watch {
    /// Nothing: it runs (or was woken already).
    Running,
    /// It is parked: wake it.
    Wake(Waker),
    /// There is none yet.
    Spawn,
}

enum Place {
    Placed(SharedOutcome),
    Wait,
    Failed(IoError),
    /// The watchdog found it waited for room past its timeout (it has left the
    /// line).
    TimedOut,
}

enum Stage {
    /// Not in the rings yet (`ticket`: its place among the waiters).
    Unplaced {
        segments: Vec<Segment>,
        readable: usize,
        ticket: Option<u64>,
    },
    /// The device has it.
    Placed(SharedOutcome),
    /// The result was handed out.
    Finished,
}

/// A request on a [`Virtqueue`]: a future of its [`Completion`].
///
/// Fails with `OutOfRange` for a malformed chain, `Device` if the device broke
/// the queue or wrote more than it was given, `Timeout` if it took longer than
/// the timeout (counted from the first poll, including any wait for room; the
/// queue's watchdog notices it, see the module docs).
/// Dropping it, or its timing out, does not take the buffers back from the
/// device: the queue frees them when the device returns the chain.
#[must_use = "a request does nothing unless polled"]
pub struct Request {
    queue: Arc<Virtqueue>,
    stage: Stage,
    timeout: Option<u64>,
}

impl Request {
    /// This request's timeout, instead of the queue's (`None`: no timeout).
    pub fn timeout(mut self, ns: Option<u64>) -> Self {
        self.timeout = ns;
        self
    }
}

impl Future for Request {
    type Output = Result<Completion, IoError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Stage::Unplaced {
            segments,
            readable,
            ticket,
        } = &mut this.stage
        {
            if ticket.is_none()
                && let Err(e) = this.queue.check(segments)
            {
                this.stage = Stage::Finished;
                return Poll::Ready(Err(e));
            }
            match this
                .queue
                .try_place(segments, *readable, ticket, this.timeout, cx.waker())
            {
                Place::Placed(outcome) => this.stage = Stage::Placed(outcome),
                Place::Wait => return Poll::Pending,
                Place::Failed(e) => {
                    this.stage = Stage::Finished;
                    return Poll::Ready(Err(e));
                }
                Place::TimedOut => {
                    this.stage = Stage::Finished;
                    return Poll::Ready(Err(IoError::Timeout));
                }
            }
        }
        match &this.stage {
            Stage::Placed(outcome) => {
                let mut o = outcome.lock();
                if let Some(result) = o.result.take() {
                    drop(o);
                    this.stage = Stage::Finished;
                    return Poll::Ready(result);
                }
                match &mut o.waker {
                    Some(w) => w.clone_from(cx.waker()),
                    None => o.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Stage::Finished | Stage::Unplaced { .. } => Poll::Pending,
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if let Stage::Unplaced {
            ticket: Some(t), ..
        } = self.stage
        {
            self.queue.leave(t);
        }
    }
}

/// The watchdog of one queue (see the module docs): parks while no request
/// with a timeout is in flight or waiting, otherwise looks at them every
/// [`WATCHDOG_PERIOD_NS`]. Ends when the queue is gone.
fn watchdog(queue: Weak<Virtqueue>, host: Arc<dyn Host>) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        while (Park { queue: &queue }).await {
            host.sleep(WATCHDOG_PERIOD_NS).await;
            let Some(q) = queue.upgrade() else {
                return;
            };
            q.expire(host.now_ns());
            drop(q);
            // A sleep may end at once (a clock that stands still, as in
            // tests): let others run before the next round.
            YieldOnce(false).await;
        }
    })
}

/// Completes with true once the queue has requests with a timeout (false if
/// the queue is gone); until then the watchdog is parked in the queue.
struct Park<'a> {
    queue: &'a Weak<Virtqueue>,
}

impl Future for Park<'_> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let Some(q) = self.queue.upgrade() else {
            return Poll::Ready(false);
        };
        let mut st = q.state.lock();
        if st.timed > 0 {
            return Poll::Ready(true);
        }
        match &mut st.watchdog {
            Some(w) => w.clone_from(cx.waker()),
            None => st.watchdog = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Pending once (waking itself), then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The interrupt task of one MSI-X vector (or any interrupt source whose
/// device needs no acknowledging): after each interrupt, takes the used
/// entries of every queue in `queues`, and fires `config` if given (the vector
/// also carries configuration changes).
pub fn serve(
    irq: Arc<Irq>,
    queues: Vec<Arc<Virtqueue>>,
    config: Option<Arc<Irq>>,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        // The ticket is taken before the queues are looked at, so a completion
        // that lands after the look still ends the wait.
        let mut ticket = irq.ticket();
        loop {
            for q in &queues {
                q.process_used();
            }
            ticket.await;
            ticket = irq.ticket();
            if let Some(c) = &config {
                c.fire();
            }
        }
    })
}
