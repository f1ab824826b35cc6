use core::fmt;
use managed::ManagedSlice;

use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;

use super::socket_meta::{Meta, Place};
use crate::socket::{AnySocket, PollAt, Socket};
use crate::time::Instant;

/// Opaque struct with space for storing one socket.
///
/// This is public so you can use it to allocate space for storing
/// sockets when creating an Interface.
///
/// Kestrel: the item is boxed, so that a set of many sockets is a vector of
/// pointers (eight bytes a slot) rather than of whole sockets (about a
/// kilobyte each), which would need megabytes of contiguous memory to grow.
#[derive(Debug, Default)]
pub struct SocketStorage<'a> {
    inner: Option<alloc::boxed::Box<Item<'a>>>,
}

impl<'a> SocketStorage<'a> {
    pub const EMPTY: Self = Self { inner: None };
}

/// An item of a socket set.
#[derive(Debug)]
pub(crate) struct Item<'a> {
    pub(crate) meta: Meta,
    pub(crate) socket: Socket<'a>,
}

/// A handle, identifying a socket in an Interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SocketHandle(pub(crate) usize);

impl fmt::Display for SocketHandle {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An extensible set of sockets.
///
/// The lifetime `'a` is used when storing a `Socket<'a>`.  If you're using
/// owned buffers for your sockets (passed in as `Vec`s) you can use
/// `SocketSet<'static>`.
#[derive(Debug)]
pub struct SocketSet<'a> {
    sockets: ManagedSlice<'a, SocketStorage<'a>>,
    /// Kestrel: no slot below this one is free (where `add` starts looking).
    free_from: usize,
    /// Kestrel: the socket the next TCP segment is probably for
    /// ([`SocketSet::set_tcp_hint`]).
    tcp_hint: Option<SocketHandle>,
    /// Kestrel: the caller knows that no socket but the hinted one accepts
    /// the next TCP segment ([`SocketSet::set_tcp_hint_only`]).
    tcp_no_socket: bool,
    /// Kestrel: the sockets egress dispatches next, in the order they became
    /// due: added, touched (any mutable access) since their last dispatch, or
    /// with more to send after it, or their time come. A socket is here once
    /// (its `Meta::place` says so); an entry whose socket left, or is no
    /// longer `Place::Due`, is skipped. Egress looks only at these (and at
    /// `timers` and `waiting`), not at every socket: with 20,000 connections a
    /// look at each was the fixed cost of every pass.
    due: VecDeque<usize>,
    /// Kestrel: sockets that said when they next need a dispatch (a
    /// retransmission, a delayed ACK, TIME-WAIT's end), by that time.
    timers: BTreeSet<(Instant, usize)>,
    /// Kestrel: sockets waiting for a neighbor (ARP, NDISC) before they may
    /// send; looked at on every pass (few).
    waiting: Vec<usize>,
    /// Kestrel: at most this many dispatches an egress pass
    /// ([`SocketSet::set_egress_budget`]).
    egress_budget: usize,
}

/// Kestrel: marks `item` (slot `idx`) as needing a dispatch: it leaves its
/// timer, if it had one, and joins the due list.
fn touch(
    due: &mut VecDeque<usize>,
    timers: &mut BTreeSet<(Instant, usize)>,
    idx: usize,
    item: &mut Item<'_>,
) {
    match item.meta.place {
        Place::Due | Place::Waiting => return,
        Place::Timer(t) => {
            timers.remove(&(t, idx));
        }
        Place::Nowhere => {}
    }
    item.meta.place = Place::Due;
    due.push_back(idx);
}

impl<'a> SocketSet<'a> {
    /// Create a socket set using the provided storage.
    pub fn new<SocketsT>(sockets: SocketsT) -> SocketSet<'a>
    where
        SocketsT: Into<ManagedSlice<'a, SocketStorage<'a>>>,
    {
        let sockets = sockets.into();
        SocketSet {
            sockets,
            free_from: 0,
            tcp_hint: None,
            tcp_no_socket: false,
            due: VecDeque::new(),
            timers: BTreeSet::new(),
            waiting: Vec::new(),
            egress_budget: usize::MAX,
        }
    }

    /// Add a socket to the set, and return its handle.
    ///
    /// # Panics
    /// This function panics if the storage is fixed-size (not a `Vec`) and is full,
    /// or if growing the `Vec` fails.
    pub fn add<T: AnySocket<'a>>(&mut self, socket: T) -> SocketHandle {
        match self.try_add(socket) {
            Some(h) => h,
            None => panic!("adding a socket to a full SocketSet"),
        }
    }

    /// Kestrel: adds a socket to the set and returns its handle, or None (the
    /// socket is dropped) if the storage is fixed-size and full or cannot grow
    /// (its allocation failed).
    pub fn try_add<T: AnySocket<'a>>(&mut self, socket: T) -> Option<SocketHandle> {
        fn put<'a>(index: usize, slot: &mut SocketStorage<'a>, socket: Socket<'a>) -> SocketHandle {
            net_trace!("[{}]: adding", index);
            let handle = SocketHandle(index);
            let mut meta = Meta::default();
            meta.handle = handle;
            meta.place = Place::Due;
            *slot = SocketStorage {
                inner: Some(alloc::boxed::Box::new(Item { meta, socket })),
            };
            handle
        }

        // A new socket is due (its first dispatch says what it needs): room
        // for its entry, or no socket.
        if self.due.try_reserve(1).is_err() {
            return None;
        }

        let start = self.free_from.min(self.sockets.len());
        if let Some(index) = self.sockets[start..]
            .iter()
            .position(|slot| slot.inner.is_none())
        {
            let index = start + index;
            self.free_from = index + 1;
            self.due.push_back(index);
            return Some(put(index, &mut self.sockets[index], socket.upcast()));
        }

        match &mut self.sockets {
            ManagedSlice::Borrowed(_) => None,
            #[cfg(feature = "alloc")]
            ManagedSlice::Owned(sockets) => {
                if sockets.try_reserve(1).is_err() {
                    return None;
                }
                sockets.push(SocketStorage { inner: None });
                let index = sockets.len() - 1;
                self.free_from = index + 1;
                self.due.push_back(index);
                Some(put(index, &mut sockets[index], socket.upcast()))
            }
        }
    }

    /// Kestrel: names the TCP socket that the next segment given to the
    /// interface is probably for (the caller keeps an index of connections).
    /// The interface offers the segment to that socket first, and looks at
    /// every socket, as without a hint, only if it does not accept it: with
    /// thousands of connections, that scan per segment was most of the time.
    /// The hint is used once.
    pub fn set_tcp_hint(&mut self, handle: Option<SocketHandle>) {
        self.tcp_hint = handle;
        self.tcp_no_socket = false;
    }

    /// Kestrel: as [`SocketSet::set_tcp_hint`], and no other socket of the set
    /// accepts the segment (the caller's index of connections has only this
    /// one, or none, for it, and it cannot be for a listening socket: it
    /// carries an ACK or a reset). If the hinted socket does not take it
    /// either, the interface answers it as a segment no socket accepts (a
    /// reset, unless it is one) without looking at every socket: when
    /// thousands of connections close at once, their last segments arrive for
    /// sockets closed or gone, and a scan of the set for each was seconds of
    /// work. Used once.
    pub fn set_tcp_hint_only(&mut self, handle: Option<SocketHandle>) {
        self.tcp_hint = handle;
        self.tcp_no_socket = true;
    }

    /// Whether [`SocketSet::set_tcp_hint_only`] was said for this segment
    /// (used up).
    pub(crate) fn take_tcp_no_socket(&mut self) -> bool {
        core::mem::take(&mut self.tcp_no_socket)
    }

    /// The hinted socket's item, if the hint names a live socket (the hint is
    /// used up).
    pub(crate) fn take_tcp_hint(&mut self) -> Option<&mut Item<'a>> {
        let h = self.tcp_hint.take()?;
        let item = self.sockets.get_mut(h.0)?.inner.as_deref_mut()?;
        touch(&mut self.due, &mut self.timers, h.0, item);
        Some(item)
    }

    /// Get a socket from the set by its handle, as mutable.
    ///
    /// # Panics
    /// This function may panic if the handle does not belong to this socket set
    /// or the socket has the wrong type.
    pub fn get<T: AnySocket<'a>>(&self, handle: SocketHandle) -> &T {
        match self.sockets[handle.0].inner.as_ref() {
            Some(item) => {
                T::downcast(&item.socket).expect("handle refers to a socket of a wrong type")
            }
            None => panic!("handle does not refer to a valid socket"),
        }
    }

    /// Get a mutable socket from the set by its handle, as mutable.
    ///
    /// # Panics
    /// This function may panic if the handle does not belong to this socket set
    /// or the socket has the wrong type.
    pub fn get_mut<T: AnySocket<'a>>(&mut self, handle: SocketHandle) -> &mut T {
        match self.sockets[handle.0].inner.as_deref_mut() {
            Some(item) => T::downcast_mut({
                touch(&mut self.due, &mut self.timers, handle.0, item);
                &mut item.socket
            })
                .expect("handle refers to a socket of a wrong type"),
            None => panic!("handle does not refer to a valid socket"),
        }
    }

    /// Remove a socket from the set, without changing its state.
    ///
    /// # Panics
    /// This function may panic if the handle does not belong to this socket set.
    pub fn remove(&mut self, handle: SocketHandle) -> Socket<'a> {
        net_trace!("[{}]: removing", handle.0);
        match self.sockets[handle.0].inner.take() {
            Some(item) => {
                self.free_from = self.free_from.min(handle.0);
                // Its due entry, if any, is skipped when reached.
                match item.meta.place {
                    Place::Timer(t) => {
                        self.timers.remove(&(t, handle.0));
                    }
                    Place::Waiting => self.waiting.retain(|&i| i != handle.0),
                    Place::Due | Place::Nowhere => {}
                }
                item.socket
            }
            None => panic!("handle does not refer to a valid socket"),
        }
    }

    /// Get an iterator to the inner sockets.
    pub fn iter(&self) -> impl Iterator<Item = (SocketHandle, &Socket<'a>)> {
        self.items().map(|i| (i.meta.handle, &i.socket))
    }

    /// Get a mutable iterator to the inner sockets.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (SocketHandle, &mut Socket<'a>)> {
        self.items_mut().map(|i| (i.meta.handle, &mut i.socket))
    }

    /// Iterate every socket in this set.
    pub(crate) fn items(&self) -> impl Iterator<Item = &Item<'a>> + '_ {
        self.sockets.iter().filter_map(|x| x.inner.as_deref())
    }

    /// Iterate every socket in this set (each one the iterator reaches may be
    /// changed: it becomes due).
    pub(crate) fn items_mut(&mut self) -> impl Iterator<Item = &mut Item<'a>> + '_ {
        self.items_mut_where(|_| true)
    }

    /// Kestrel: every socket of the set for which `want` is true (each one the
    /// iterator reaches may be changed: it becomes due). Ingress looking for
    /// the UDP socket of a datagram need not make every TCP socket due.
    pub(crate) fn items_mut_where(
        &mut self,
        want: impl Fn(&Socket<'a>) -> bool + 'static,
    ) -> impl Iterator<Item = &mut Item<'a>> + '_ {
        let (due, timers) = (&mut self.due, &mut self.timers);
        self.sockets
            .iter_mut()
            .enumerate()
            .filter_map(|(idx, x)| Some((idx, x.inner.as_deref_mut()?)))
            .filter(move |(_, i)| want(&i.socket))
            .map(move |(idx, i)| {
                touch(due, timers, idx, i);
                i
            })
    }

    /// Kestrel: an egress pass dispatches at most `n` sockets (the rest stay
    /// due, for the next pass): when thousands of connections close at once,
    /// one pass sending each its FIN kept the caller's CPU for tens of
    /// milliseconds; the caller can now stop between passes.
    pub fn set_egress_budget(&mut self, n: usize) {
        self.egress_budget = n.max(1);
    }

    /// Kestrel: starts an egress pass at `now`: sockets whose time has come
    /// and waiting ones whose neighbor is known (or whose silence ended)
    /// become due. Returns how many entries the due list has: the pass takes
    /// at most that many, so a socket with more to send goes once a pass.
    pub(crate) fn egress_begin(&mut self, now: Instant, has_neighbor: impl Fn(crate::wire::IpAddress) -> bool) -> usize {
        while let Some(&(t, idx)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(item) = self.sockets.get_mut(idx).and_then(|x| x.inner.as_deref_mut()) {
                if item.meta.place == Place::Timer(t) {
                    item.meta.place = Place::Due;
                    self.due.push_back(idx);
                }
            }
        }
        let (sockets, due) = (&mut self.sockets, &mut self.due);
        self.waiting.retain(|&idx| {
            let Some(item) = sockets.get_mut(idx).and_then(|x| x.inner.as_deref_mut()) else {
                return false;
            };
            if item.meta.place != Place::Waiting {
                return false;
            }
            if !item.meta.egress_permitted(now, &has_neighbor) {
                return true;
            }
            item.meta.place = Place::Due;
            due.push_back(idx);
            false
        });
        self.due.len().min(self.egress_budget)
    }

    /// Kestrel: the next due socket of an egress pass, or None when none is
    /// left. It is `Place::Nowhere` until [`SocketSet::egress_done`] puts it
    /// back where its dispatch says.
    pub(crate) fn egress_next(&mut self) -> Option<(usize, &mut Item<'a>)> {
        loop {
            let idx = self.due.pop_front()?;
            if let Some(item) = self.sockets.get_mut(idx).and_then(|x| x.inner.as_deref_mut()) {
                if item.meta.place == Place::Due {
                    item.meta.place = Place::Nowhere;
                    return self.sockets[idx].inner.as_deref_mut().map(|i| (idx, i));
                }
            }
        }
    }

    /// Kestrel: after socket `idx`'s dispatch in an egress pass: the device
    /// was full (it goes first next pass), it waits for a neighbor, or it
    /// next needs a dispatch `at` (now: the back of the due list; a time: a
    /// timer; on ingress: nowhere until touched).
    pub(crate) fn egress_done(&mut self, idx: usize, exhausted: bool, waiting: bool, at: PollAt) {
        let Some(item) = self.sockets.get_mut(idx).and_then(|x| x.inner.as_deref_mut()) else {
            return;
        };
        if item.meta.place != Place::Nowhere {
            return;
        }
        if exhausted {
            item.meta.place = Place::Due;
            self.due.push_front(idx);
        } else if waiting {
            item.meta.place = Place::Waiting;
            self.waiting.push(idx);
        } else {
            match at {
                PollAt::Now => {
                    item.meta.place = Place::Due;
                    self.due.push_back(idx);
                }
                PollAt::Time(t) => {
                    item.meta.place = Place::Timer(t);
                    self.timers.insert((t, idx));
                }
                PollAt::Ingress => {}
            }
        }
    }

    /// Kestrel: when egress next has something to do, as far as the set
    /// knows: now if a socket is due, else the earliest timer or the end of
    /// a waiting socket's silence.
    pub(crate) fn egress_poll_at(
        &self,
        now: Instant,
        has_neighbor: impl Fn(crate::wire::IpAddress) -> bool,
    ) -> Option<Instant> {
        if !self.due.is_empty() {
            return Some(Instant::from_millis(0));
        }
        let mut at = self.timers.first().map(|&(t, _)| t);
        for &idx in &self.waiting {
            if let Some(item) = self.sockets.get(idx).and_then(|x| x.inner.as_deref()) {
                let t = match item.meta.poll_at(PollAt::Now, &has_neighbor, now) {
                    PollAt::Now => Instant::from_millis(0),
                    PollAt::Time(t) => t,
                    PollAt::Ingress => continue,
                };
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        }
        at
    }
}
