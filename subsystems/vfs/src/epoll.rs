//! epoll: readiness of many files, reported without rescanning them all.
//!
//! An [`Epoll`] keeps an *interest list* of entries, one per (descriptor, open file)
//! pair, and a *ready list* of entries that may have events. Every entry owns a
//! [`Waker`] of its own, registered in its target file's wait queue: when the file's
//! readiness may have changed, the waker puts the entry on the ready list and wakes
//! the epoll's own queue (Linux's `ep_poll_callback`). Collecting events therefore
//! only looks at entries that were woken, which is what makes epoll cheap with many
//! idle descriptors.
//!
//! Invariant: every live entry is on the ready list, or registered in its target's
//! wait queue, or both. A wait queue forgets a waker once it has woken it, so
//! [`Epoll::collect`] re-registers each entry it takes off the ready list *before*
//! asking the file for its readiness; a change after that check finds the waker
//! registered.
//!
//! Level-triggered entries that reported events go back on the ready list (they are
//! checked again next time, as in Linux); edge-triggered ones wait for their next
//! wake-up; one-shot ones are disarmed until `EPOLL_CTL_MOD`.
//!
//! The epoll does not keep its targets open: an entry holds a weak reference and
//! disappears when its open file is released, as Linux removes an entry when the
//! last descriptor of the file is closed. Nothing here blocks; the kernel's
//! `epoll_wait` waits on [`Epoll::wait_queue`] between calls to [`Epoll::collect`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::task::Wake;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::Waker;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::{WaitKey, WaitQueue};

use crate::file::{FileOps, OpenFile};

/// Event bits the caller may ask for; EPOLLERR and EPOLLHUP are always reported.
const EVENT_BITS: u32 =
    (POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLRDHUP)
        as u32
        | EPOLLMSG;
/// How deep epolls may nest (Linux's EP_MAX_NESTS).
const MAX_NESTS: usize = 4;

/// An epoll instance: the behaviour of the file epoll_create returns.
pub struct Epoll {
    shared: Arc<Shared>,
}

struct Shared {
    interest: spin::Mutex<BTreeMap<(i32, usize), Arc<Entry>>>,
    ready: spin::Mutex<VecDeque<Arc<Entry>>>,
    /// epoll_wait callers, and pollers of the epoll file itself.
    wq: WaitQueue,
}

/// One watched (descriptor, file) pair.
struct Entry {
    file: Weak<OpenFile>,
    epoll: Weak<Shared>,
    state: spin::Mutex<EntryState>,
    /// On the ready list.
    queued: AtomicBool,
}

struct EntryState {
    /// Requested events and EPOLLET/EPOLLONESHOT/EPOLLEXCLUSIVE/EPOLLWAKEUP flags.
    events: u32,
    data: u64,
    /// A one-shot entry that has reported and waits for EPOLL_CTL_MOD.
    disarmed: bool,
    /// The registration in the target's wait queue.
    key: Option<WaitKey>,
    /// The entry's own waker (cached: it is the same every time).
    waker: Option<Waker>,
    /// Removed from the interest list: ignore wake-ups.
    removed: bool,
}

/// The waker of an entry: queues it and wakes the epoll's waiters.
struct EntryWaker(Weak<Entry>);

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(entry) = self.0.upgrade() {
            entry.mark_ready();
        }
    }
}

impl Entry {
    fn mark_ready(self: &Arc<Self>) {
        let Some(ep) = self.epoll.upgrade() else {
            return;
        };
        if self.state.lock().removed {
            return;
        }
        if !self.queued.swap(true, Ordering::AcqRel) {
            ep.ready.lock().push_back(self.clone());
        }
        ep.wq.wake_all();
    }

    /// (Re-)registers the entry's waker in its target's wait queue.
    fn arm(self: &Arc<Self>, file: &OpenFile) {
        let Some(q) = file.ops().wait_queue() else {
            return;
        };
        let mut st = self.state.lock();
        let waker = st
            .waker
            .get_or_insert_with(|| Waker::from(Arc::new(EntryWaker(Arc::downgrade(self)))))
            .clone();
        let key = st.key;
        let events = st.events & EVENT_BITS | EPOLLERR | EPOLLHUP;
        // Register outside the entry lock: a queue never wakes under its own lock,
        // but keeping lock scopes disjoint keeps the order obvious.
        drop(st);
        let key = q.register_for(&waker, key, events);
        self.state.lock().key = Some(key);
    }

    /// Takes the entry's registration out of its target's wait queue.
    fn disarm(&self) {
        let key = self.state.lock().key.take();
        if let (Some(k), Some(f)) = (key, self.file.upgrade())
            && let Some(q) = f.ops().wait_queue()
        {
            q.unregister(k);
        }
    }

    /// The events the file has now that the entry asks for.
    fn revents(&self, file: &OpenFile, events: u32) -> u32 {
        u32::from(file.poll()) & (events & EVENT_BITS | EPOLLERR | EPOLLHUP)
    }
}

/// The result of one [`Epoll::collect`]: (events, user data) pairs.
pub type Events = Vec<(u32, u64)>;

impl Epoll {
    /// A new, empty epoll instance.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            shared: Arc::new(Shared {
                interest: spin::Mutex::new(BTreeMap::new()),
                ready: spin::Mutex::new(VecDeque::new()),
                wq: WaitQueue::new(),
            }),
        })
    }

    /// The epoll behind an open file, if it is one.
    pub fn of(file: &OpenFile) -> Option<&Epoll> {
        file.ops().as_any().downcast_ref::<Epoll>()
    }

    /// Woken whenever an entry may have become ready.
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.shared.wq
    }

    /// How many entries the interest list holds.
    pub fn len(&self) -> usize {
        self.shared.interest.lock().len()
    }

    /// Whether the interest list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// epoll_ctl(2) on the epoll open as `epfile`: `op` on descriptor `fd` open as
    /// `target`, with `event` = (events, data) for ADD and MOD. The checks come in
    /// Linux's order, so the same bad call fails with the same errno.
    pub fn ctl(
        epfile: &OpenFile,
        op: i32,
        fd: i32,
        target: &Arc<OpenFile>,
        event: Option<(u32, u64)>,
    ) -> KResult<()> {
        if target.ops().wait_queue().is_none() {
            // Regular files and directories are always ready: epoll refuses them.
            return Err(Errno::EPERM);
        }
        let ep = match Epoll::of(epfile) {
            Some(ep) if !core::ptr::eq(epfile, Arc::as_ptr(target)) => ep,
            _ => return Err(Errno::EINVAL),
        };
        if let Some((events, _)) = event
            && events & EPOLLEXCLUSIVE != 0
        {
            // Only on ADD, only with the plain event bits, never for an epoll.
            let allowed = EPOLLEXCLUSIVE
                | EPOLLET
                | EPOLLWAKEUP
                | (POLLIN | POLLOUT | POLLERR | POLLHUP) as u32;
            if op == EPOLL_CTL_MOD || events & !allowed != 0 || Epoll::of(target).is_some() {
                return Err(Errno::EINVAL);
            }
        }
        match (op, event) {
            (EPOLL_CTL_ADD, Some((events, data))) => ep.add(fd, target, events, data),
            (EPOLL_CTL_MOD, Some((events, data))) => ep.modify(fd, target, events, data),
            (EPOLL_CTL_DEL, _) => ep.delete(fd, target),
            _ => Err(Errno::EINVAL),
        }
    }

    /// EPOLL_CTL_ADD: watch `file` (open as descriptor `fd`) for `events`.
    fn add(&self, fd: i32, file: &Arc<OpenFile>, events: u32, data: u64) -> KResult<()> {
        if let Some(inner) = Epoll::of(file) {
            // Adding an epoll that (transitively) watches us would make a cycle.
            if inner.reaches(self, 0)? {
                return Err(Errno::ELOOP);
            }
        }
        let key = (fd, Arc::as_ptr(file) as usize);
        let entry = {
            let mut interest = self.shared.interest.lock();
            if let Some(old) = interest.get(&key) {
                if old.file.strong_count() > 0 {
                    return Err(Errno::EEXIST);
                }
                // A dead entry whose file's address was reused.
                old.state.lock().removed = true;
            }
            let entry = Arc::new(Entry {
                file: Arc::downgrade(file),
                epoll: Arc::downgrade(&self.shared),
                state: spin::Mutex::new(EntryState {
                    events,
                    data,
                    disarmed: false,
                    key: None,
                    waker: None,
                    removed: false,
                }),
                queued: AtomicBool::new(false),
            });
            interest.insert(key, entry.clone());
            entry
        };
        // Check it now: it may be ready already.
        entry.arm(file);
        entry.mark_ready();
        Ok(())
    }

    /// EPOLL_CTL_MOD: new events and data for a watched file (re-arms one-shot).
    fn modify(&self, fd: i32, file: &Arc<OpenFile>, events: u32, data: u64) -> KResult<()> {
        let entry = self.find(fd, file)?;
        {
            let mut st = entry.state.lock();
            if st.events & EPOLLEXCLUSIVE != 0 {
                return Err(Errno::EINVAL);
            }
            st.events = events;
            st.data = data;
            st.disarmed = false;
        }
        entry.arm(file);
        entry.mark_ready();
        Ok(())
    }

    /// EPOLL_CTL_DEL: stop watching.
    fn delete(&self, fd: i32, file: &Arc<OpenFile>) -> KResult<()> {
        let entry = {
            let mut interest = self.shared.interest.lock();
            let key = (fd, Arc::as_ptr(file) as usize);
            interest.remove(&key).ok_or(Errno::ENOENT)?
        };
        entry.state.lock().removed = true;
        entry.disarm();
        Ok(())
    }

    fn find(&self, fd: i32, file: &Arc<OpenFile>) -> KResult<Arc<Entry>> {
        let interest = self.shared.interest.lock();
        interest
            .get(&(fd, Arc::as_ptr(file) as usize))
            .filter(|e| e.file.strong_count() > 0)
            .cloned()
            .ok_or(Errno::ENOENT)
    }

    /// Whether `target` is this epoll or one it watches, directly or through nested
    /// epolls (ELOOP past Linux's nesting limit).
    fn reaches(&self, target: &Epoll, depth: usize) -> KResult<bool> {
        if core::ptr::eq(self, target) {
            return Ok(true);
        }
        if depth >= MAX_NESTS {
            return Err(Errno::ELOOP);
        }
        let files: Vec<Arc<OpenFile>> = self
            .shared
            .interest
            .lock()
            .values()
            .filter_map(|e| e.file.upgrade())
            .collect();
        for f in files {
            if let Some(inner) = Epoll::of(&f)
                && inner.reaches(target, depth + 1)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Takes up to `max` events off the ready list (epoll_wait without the wait),
    /// into a vector.
    pub fn collect(&self, max: usize) -> Events {
        let mut out = Vec::new();
        self.send_events(max, &mut |events, data| {
            out.push((events, data));
            true
        });
        out
    }

    /// Takes up to `max` events off the ready list and hands each to `sink`
    /// (Linux's ep_send_events). When `sink` refuses one (the copy to user memory
    /// failed), that event stays queued, as if never taken, and collection stops.
    /// Returns how many `sink` accepted.
    pub fn send_events(&self, max: usize, sink: &mut dyn FnMut(u32, u64) -> bool) -> usize {
        let mut sent = 0;
        // Level-triggered entries that reported: checked again next time.
        let mut again = Vec::new();
        // Only the entries queued now: level-triggered ones re-queued below must not
        // be seen twice in one call.
        let mut batch: VecDeque<Arc<Entry>> = core::mem::take(&mut *self.shared.ready.lock());
        while sent < max {
            let Some(entry) = batch.pop_front() else {
                break;
            };
            entry.queued.store(false, Ordering::Release);
            let Some(file) = entry.file.upgrade() else {
                self.forget(&entry);
                continue;
            };
            let (events, data, disarmed, removed) = {
                let st = entry.state.lock();
                (st.events, st.data, st.disarmed, st.removed)
            };
            if disarmed || removed {
                continue;
            }
            entry.arm(&file);
            let revents = entry.revents(&file, events);
            if revents == 0 {
                continue;
            }
            if !sink(revents, data) {
                entry.queued.store(true, Ordering::Release);
                batch.push_front(entry);
                break;
            }
            sent += 1;
            if events & EPOLLONESHOT != 0 {
                entry.state.lock().disarmed = true;
            } else if events & EPOLLET == 0 {
                again.push(entry);
            }
        }
        if !batch.is_empty() || !again.is_empty() {
            let mut ready = self.shared.ready.lock();
            // Entries not looked at are still marked queued: they go back first, in
            // order, so a small maxevents still reaches every entry in turn.
            for e in batch.into_iter().rev() {
                ready.push_front(e);
            }
            for e in again {
                if !e.queued.swap(true, Ordering::AcqRel) {
                    ready.push_back(e);
                }
            }
        }
        sent
    }

    /// Drops an entry whose file was released.
    fn forget(&self, entry: &Arc<Entry>) {
        entry.state.lock().removed = true;
        let mut interest = self.shared.interest.lock();
        interest.retain(|_, e| !Arc::ptr_eq(e, entry));
    }

    /// Whether any entry has events now (the epoll file's own readiness). Entries
    /// that turn out not to be ready leave the ready list, re-armed.
    fn any_ready(&self) -> bool {
        let batch: Vec<Arc<Entry>> = core::mem::take(&mut *self.shared.ready.lock()).into();
        let mut keep = Vec::new();
        let mut found = false;
        for entry in batch {
            let Some(file) = entry.file.upgrade() else {
                entry.queued.store(false, Ordering::Release);
                self.forget(&entry);
                continue;
            };
            let (events, disarmed, removed) = {
                let st = entry.state.lock();
                (st.events, st.disarmed, st.removed)
            };
            if disarmed || removed || found {
                if found && !disarmed && !removed {
                    keep.push(entry);
                } else {
                    entry.queued.store(false, Ordering::Release);
                }
                continue;
            }
            entry.arm(&file);
            if entry.revents(&file, events) != 0 {
                found = true;
                keep.push(entry);
            } else {
                entry.queued.store(false, Ordering::Release);
            }
        }
        if !keep.is_empty() {
            let mut ready = self.shared.ready.lock();
            for e in keep.into_iter().rev() {
                ready.push_front(e);
            }
        }
        found
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        let entries: Vec<Arc<Entry>> = core::mem::take(&mut *self.shared.interest.lock())
            .into_values()
            .collect();
        for e in entries {
            e.state.lock().removed = true;
            e.disarm();
        }
        self.shared.ready.lock().clear();
    }
}

impl FileOps for Epoll {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        if self.any_ready() {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.shared.wq)
    }

    fn seek_is_noop(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipe;

    fn epoll_file() -> (Arc<OpenFile>, Arc<Epoll>) {
        let ep = Epoll::new();
        let f = OpenFile::anonymous(None, ep.clone(), O_RDONLY);
        (f, ep)
    }

    fn pipe_pair() -> (Arc<OpenFile>, Arc<OpenFile>) {
        let (r, w) = pipe::pipe();
        (
            OpenFile::anonymous(None, r, O_RDONLY),
            OpenFile::anonymous(None, w, O_WRONLY),
        )
    }

    #[test]
    fn level_triggered_reports_until_drained() {
        let (ef, ep) = epoll_file();
        let (r, w) = pipe_pair();
        Epoll::ctl(&ef, EPOLL_CTL_ADD, 3, &r, Some((POLLIN as u32, 42))).unwrap();
        assert!(ep.collect(8).is_empty());
        w.write(b"x").unwrap();
        assert_eq!(ep.collect(8), [(POLLIN as u32, 42)]);
        assert_eq!(
            ep.collect(8),
            [(POLLIN as u32, 42)],
            "still readable: reported again"
        );
        let mut b = [0u8; 1];
        r.read(&mut b).unwrap();
        assert!(ep.collect(8).is_empty());
    }

    #[test]
    fn edge_triggered_reports_once_per_change() {
        let (ef, ep) = epoll_file();
        let (r, w) = pipe_pair();
        Epoll::ctl(
            &ef,
            EPOLL_CTL_ADD,
            3,
            &r,
            Some((POLLIN as u32 | EPOLLET, 1)),
        )
        .unwrap();
        w.write(b"x").unwrap();
        assert_eq!(ep.collect(8).len(), 1);
        assert!(ep.collect(8).is_empty());
        w.write(b"y").unwrap();
        assert_eq!(ep.collect(8).len(), 1, "new data is a new edge");
    }

    #[test]
    fn oneshot_disarms_until_mod() {
        let (ef, ep) = epoll_file();
        let (r, w) = pipe_pair();
        Epoll::ctl(
            &ef,
            EPOLL_CTL_ADD,
            3,
            &r,
            Some((POLLIN as u32 | EPOLLONESHOT, 1)),
        )
        .unwrap();
        w.write(b"x").unwrap();
        assert_eq!(ep.collect(8).len(), 1);
        w.write(b"y").unwrap();
        assert!(ep.collect(8).is_empty());
        Epoll::ctl(
            &ef,
            EPOLL_CTL_MOD,
            3,
            &r,
            Some((POLLIN as u32 | EPOLLONESHOT, 2)),
        )
        .unwrap();
        assert_eq!(ep.collect(8), [(POLLIN as u32, 2)]);
    }

    #[test]
    fn ctl_errors() {
        let (ef, ep) = epoll_file();
        let (f, _) = pipe_pair();
        let not_epoll = f.clone();
        assert_eq!(
            Epoll::ctl(&not_epoll, EPOLL_CTL_ADD, 3, &f, Some((0, 0))),
            Err(Errno::EINVAL)
        );
        assert_eq!(Epoll::ctl(&ef, 99, 3, &f, Some((0, 0))), Err(Errno::EINVAL));
        assert_eq!(
            Epoll::ctl(
                &ef,
                EPOLL_CTL_MOD,
                3,
                &f,
                Some((EPOLLEXCLUSIVE | POLLIN as u32, 0))
            ),
            Err(Errno::EINVAL)
        );
        let (r, _w) = pipe_pair();
        Epoll::ctl(&ef, EPOLL_CTL_ADD, 3, &r, Some((POLLIN as u32, 0))).unwrap();
        assert_eq!(
            Epoll::ctl(&ef, EPOLL_CTL_ADD, 3, &r, Some((POLLIN as u32, 0))),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            Epoll::ctl(&ef, EPOLL_CTL_MOD, 4, &r, Some((POLLIN as u32, 0))),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            Epoll::ctl(&ef, EPOLL_CTL_DEL, 4, &r, None),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            Epoll::ctl(&ef, EPOLL_CTL_ADD, 5, &ef, Some((POLLIN as u32, 0))),
            Err(Errno::EINVAL)
        );
        Epoll::ctl(&ef, EPOLL_CTL_DEL, 3, &r, None).unwrap();
        assert_eq!(
            Epoll::ctl(&ef, EPOLL_CTL_DEL, 3, &r, None),
            Err(Errno::ENOENT)
        );
        assert!(ep.is_empty());
    }

    #[test]
    fn closing_the_target_removes_the_entry() {
        let (ef, ep) = epoll_file();
        let (r, w) = pipe_pair();
        Epoll::ctl(&ef, EPOLL_CTL_ADD, 3, &r, Some((POLLIN as u32, 0))).unwrap();
        w.write(b"x").unwrap();
        drop(r);
        assert!(ep.collect(8).is_empty());
        assert!(ep.is_empty());
    }

    #[test]
    fn maxevents_leaves_the_rest_queued() {
        let (ef, ep) = epoll_file();
        let pipes: Vec<_> = (0..3).map(|_| pipe_pair()).collect();
        for (i, (r, w)) in pipes.iter().enumerate() {
            Epoll::ctl(
                &ef,
                EPOLL_CTL_ADD,
                i as i32,
                r,
                Some((POLLIN as u32 | EPOLLET, i as u64)),
            )
            .unwrap();
            w.write(b"x").unwrap();
        }
        let first = ep.collect(2);
        assert_eq!(first.len(), 2);
        let second = ep.collect(2);
        assert_eq!(second.len(), 1);
        let mut all: Vec<u64> = first.iter().chain(&second).map(|e| e.1).collect();
        all.sort();
        assert_eq!(all, [0, 1, 2]);
    }

    #[test]
    fn nested_epoll_is_readable_and_loops_are_refused() {
        let (ef1, ep1) = epoll_file();
        let (ef2, _) = epoll_file();
        let (r, w) = pipe_pair();
        Epoll::ctl(&ef2, EPOLL_CTL_ADD, 3, &r, Some((POLLIN as u32, 0))).unwrap();
        Epoll::ctl(&ef1, EPOLL_CTL_ADD, 4, &ef2, Some((POLLIN as u32, 7))).unwrap();
        assert!(ep1.collect(8).is_empty());
        w.write(b"x").unwrap();
        assert_eq!(ep1.collect(8), [(POLLIN as u32, 7)]);
        assert_eq!(
            Epoll::ctl(&ef2, EPOLL_CTL_ADD, 5, &ef1, Some((POLLIN as u32, 0))),
            Err(Errno::ELOOP)
        );
    }

    #[test]
    fn an_event_the_sink_refuses_stays_queued() {
        let (ef, ep) = epoll_file();
        let (r, w) = pipe_pair();
        Epoll::ctl(
            &ef,
            EPOLL_CTL_ADD,
            3,
            &r,
            Some((POLLIN as u32 | EPOLLET, 4)),
        )
        .unwrap();
        w.write(b"x").unwrap();
        assert_eq!(ep.send_events(8, &mut |_, _| false), 0);
        assert_eq!(
            ep.collect(8),
            [(POLLIN as u32, 4)],
            "not lost, even edge-triggered"
        );
    }

    #[test]
    fn reading_is_not_an_edge_for_epollin() {
        let (ef, ep) = epoll_file();
        let (r, w) = pipe_pair();
        w.write(b"ab").unwrap();
        Epoll::ctl(
            &ef,
            EPOLL_CTL_ADD,
            3,
            &r,
            Some((POLLIN as u32 | EPOLLET, 0)),
        )
        .unwrap();
        assert_eq!(ep.collect(8).len(), 1);
        let mut b = [0u8; 1];
        r.read(&mut b).unwrap();
        assert!(ep.collect(8).is_empty(), "draining wakes writers only");
    }

    #[test]
    fn hangup_is_always_reported() {
        let (ef, ep) = epoll_file();
        let (r, w) = pipe_pair();
        Epoll::ctl(&ef, EPOLL_CTL_ADD, 3, &r, Some((0, 9))).unwrap();
        drop(w);
        assert_eq!(ep.collect(8), [(POLLHUP as u32, 9)]);
    }
}
