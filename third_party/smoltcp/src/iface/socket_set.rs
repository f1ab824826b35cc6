use core::fmt;
use managed::ManagedSlice;

use super::socket_meta::Meta;
use crate::socket::{AnySocket, Socket};

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
    /// Kestrel: where egress starts looking: after the socket that last found
    /// the device full, so that the first sockets of a busy set cannot keep
    /// the others from ever sending.
    pub(crate) egress_from: usize,
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
            egress_from: 0,
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
            *slot = SocketStorage {
                inner: Some(alloc::boxed::Box::new(Item { meta, socket })),
            };
            handle
        }

        let start = self.free_from.min(self.sockets.len());
        if let Some(index) = self.sockets[start..]
            .iter()
            .position(|slot| slot.inner.is_none())
        {
            let index = start + index;
            self.free_from = index + 1;
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
        item.meta.poll_cache = None;
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
        match self.sockets[handle.0].inner.as_mut() {
            Some(item) => T::downcast_mut({
                item.meta.poll_cache = None;
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
    /// changed: its dispatch time is forgotten).
    pub(crate) fn items_mut(&mut self) -> impl Iterator<Item = &mut Item<'a>> + '_ {
        self.sockets
            .iter_mut()
            .filter_map(|x| x.inner.as_deref_mut())
            .map(|i| {
                i.meta.poll_cache = None;
                i
            })
    }

    /// Kestrel: every socket in this set, for egress, which keeps each one's
    /// dispatch time itself.
    pub(crate) fn items_mut_for_egress(&mut self) -> impl Iterator<Item = &mut Item<'a>> + '_ {
        let from = self.egress_from.min(self.sockets.len());
        let (head, tail) = self.sockets.split_at_mut(from);
        tail.iter_mut()
            .chain(head.iter_mut())
            .filter_map(|x| x.inner.as_deref_mut())
    }
}
