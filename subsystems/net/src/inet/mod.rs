//! AF_INET and AF_INET6 sockets: TCP and UDP over IPv4 and IPv6, on smoltcp.
//!
//! Two halves meet in a mailbox:
//!
//! * [`socket::InetSocket`] is what the system calls hold: its queues, names,
//!   options and phase, shared under a short spin lock. Its operations never
//!   block and never touch smoltcp; one that needs the protocol puts the
//!   socket in the [`Shared`] mailbox.
//! * [`stack::Stack`] is the actor's state: smoltcp's `Interface` and
//!   `SocketSet` for each interface, the devices, and the stack's side of
//!   every socket. One task owns it (the kernel's `net` task) and does
//!   everything with it: takes sockets from the mailbox, feeds frames to
//!   smoltcp, moves bytes between smoltcp's buffers and the sockets' queues,
//!   records what happened and wakes the sockets' wait queues.
//!
//! The actor is woken by the mailbox, by frames arriving (a driver task pushes
//! them into a [`Link`] and notifies), by smoltcp's socket wakers (which mark
//! the socket dirty) and by the deadline smoltcp's `poll_at` gives (the kernel
//! sleeps on the executor's timer queue until then).
//!
//! docs/architecture.md ("Network") explains the choices: one actor for all
//! interfaces, one `SocketSet` per interface, listening slots made on demand.

pub mod addr;
pub mod ifreq;
pub mod ports;
pub mod socket;
pub mod stack;

#[cfg(test)]
mod tests;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::Waker;

use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address, Ipv6Address};

pub use addr::{Family, SockAddr};
pub use socket::{InetSocket, Kind};

/// A one-slot wake-up: whoever waits registers its waker; `notify` sets a flag
/// and wakes it. The flag makes a notification that comes before the wait count.
#[derive(Default)]
pub struct Notify {
    flag: AtomicBool,
    waker: spin::Mutex<Option<Waker>>,
}

impl Notify {
    pub fn notify(&self) {
        self.flag.store(true, Ordering::Release);
        let w = self.waker.lock().take();
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Takes the flag: whether a notification came since the last take.
    pub fn take(&self) -> bool {
        self.flag.swap(false, Ordering::AcqRel)
    }

    /// Registers `w` to be woken by the next notification; returns true if one
    /// already came (then nothing is registered and the flag is taken).
    pub fn register(&self, w: &Waker) -> bool {
        let mut slot = self.waker.lock();
        if self.flag.swap(false, Ordering::AcqRel) {
            return true;
        }
        match &mut *slot {
            Some(old) if old.will_wake(w) => {}
            other => *other = Some(w.clone()),
        }
        // A notification between the swap and the store found no waker (or the
        // old one): look again.
        self.flag.swap(false, Ordering::AcqRel)
    }

    /// Completes at the next notification.
    pub fn wait(&self) -> impl core::future::Future<Output = ()> + '_ {
        core::future::poll_fn(move |cx| {
            if self.register(cx.waker()) {
                core::task::Poll::Ready(())
            } else {
                core::task::Poll::Pending
            }
        })
    }
}

/// Frames between a device and the actor: received frames waiting for the
/// stack, frames the stack sent waiting for the device. Both queues are
/// bounded; a full one drops (receive) or makes smoltcp wait (send).
pub struct Link {
    rx: spin::Mutex<VecDeque<Vec<u8>>>,
    tx: spin::Mutex<VecDeque<Vec<u8>>>,
    /// Woken when `tx` has frames (the device's transmit task waits on it).
    pub tx_ready: Notify,
    pub rx_frames: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub rx_dropped: AtomicU64,
    pub tx_frames: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub tx_errors: AtomicU64,
}

/// Frames waiting in each direction, at most.
pub const LINK_QUEUE: usize = 512;

impl Default for Link {
    fn default() -> Self {
        Self {
            rx: spin::Mutex::new(VecDeque::new()),
            tx: spin::Mutex::new(VecDeque::new()),
            tx_ready: Notify::default(),
            rx_frames: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
            rx_dropped: AtomicU64::new(0),
            tx_frames: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            tx_errors: AtomicU64::new(0),
        }
    }
}

impl Link {
    /// A frame from the device (false: dropped, the queue is full).
    pub fn push_rx(&self, frame: Vec<u8>) -> bool {
        let mut q = self.rx.lock();
        if q.len() >= LINK_QUEUE {
            drop(q);
            self.rx_dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.rx_frames.fetch_add(1, Ordering::Relaxed);
        self.rx_bytes
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        q.push_back(frame);
        true
    }

    pub(crate) fn pop_rx(&self) -> Option<Vec<u8>> {
        self.rx.lock().pop_front()
    }

    pub(crate) fn rx_pending(&self) -> bool {
        !self.rx.lock().is_empty()
    }

    /// The next frame for the device to send.
    pub fn pop_tx(&self) -> Option<Vec<u8>> {
        self.tx.lock().pop_front()
    }

    pub(crate) fn push_tx(&self, frame: Vec<u8>) {
        self.tx_frames.fetch_add(1, Ordering::Relaxed);
        self.tx_bytes
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        self.tx.lock().push_back(frame);
        self.tx_ready.notify();
    }
}

/// An interface as the rest of the kernel sees it (ioctl, /proc/net, /sys).
#[derive(Clone)]
pub struct IfaceInfo {
    pub name: String,
    /// Linux's ifindex: `lo` is 1.
    pub index: u32,
    /// None for `lo` (no link-layer address).
    pub mac: Option<[u8; 6]>,
    pub mtu: usize,
    pub addrs: Vec<IpCidr>,
    pub gateway4: Option<Ipv4Address>,
    pub gateway6: Option<Ipv6Address>,
    pub link: Arc<Link>,
}

impl IfaceInfo {
    pub fn loopback(&self) -> bool {
        self.mac.is_none()
    }

    fn addr_like(&self, dst: IpAddress) -> Option<IpAddress> {
        self.addrs
            .iter()
            .map(|c| c.address())
            .find(|a| a.version() == dst.version())
    }
}

/// Whether `ip` is a loopback address (127.0.0.0/8, ::1).
pub fn is_loopback(ip: IpAddress) -> bool {
    match ip {
        IpAddress::Ipv4(a) => a.is_loopback(),
        IpAddress::Ipv6(a) => a.is_loopback(),
    }
}

/// What the system calls and the actor share.
pub struct Shared {
    mailbox: spin::Mutex<VecDeque<Arc<InetSocket>>>,
    /// Sockets whose smoltcp sockets woke (by id).
    dirty: spin::Mutex<Vec<u64>>,
    /// Wakes the actor.
    pub notify: Notify,
    pub ports: Arc<ports::Ports>,
    /// The interfaces, `lo` first.
    ifaces: spin::RwLock<Vec<IfaceInfo>>,
    next_id: AtomicU64,
    /// Every socket that exists, by id, for /proc/net (a socket leaves it
    /// when dropped).
    registry: spin::Mutex<alloc::collections::BTreeMap<u64, alloc::sync::Weak<InetSocket>>>,
}

impl Shared {
    pub(crate) fn new(ifaces: Vec<IfaceInfo>) -> Arc<Self> {
        Arc::new(Self {
            mailbox: spin::Mutex::new(VecDeque::new()),
            dirty: spin::Mutex::new(Vec::new()),
            notify: Notify::default(),
            ports: Arc::new(ports::Ports::default()),
            ifaces: spin::RwLock::new(ifaces),
            next_id: AtomicU64::new(1),
            registry: spin::Mutex::new(alloc::collections::BTreeMap::new()),
        })
    }

    pub(crate) fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn register(&self, id: u64, s: alloc::sync::Weak<InetSocket>) {
        self.registry.lock().insert(id, s);
    }

    pub(crate) fn unregister(&self, id: u64) {
        self.registry.lock().remove(&id);
    }

    /// The sockets that exist now, oldest first (/proc/net/tcp and udp).
    pub fn sockets(&self) -> Vec<Arc<InetSocket>> {
        // Upgraded outside the lock: a socket dropped meanwhile unregisters
        // itself, which takes the lock.
        let weak: Vec<_> = self.registry.lock().values().cloned().collect();
        weak.iter().filter_map(alloc::sync::Weak::upgrade).collect()
    }

    /// Puts a socket in the mailbox and wakes the actor.
    pub(crate) fn post(&self, s: Arc<InetSocket>) {
        self.mailbox.lock().push_back(s);
        self.notify.notify();
    }

    pub(crate) fn take_mail(&self) -> Option<Arc<InetSocket>> {
        self.mailbox.lock().pop_front()
    }

    pub(crate) fn mail_pending(&self) -> bool {
        !self.mailbox.lock().is_empty()
    }

    pub(crate) fn mark_dirty(&self, id: u64) {
        self.dirty.lock().push(id);
    }

    pub(crate) fn take_dirty(&self) -> Vec<u64> {
        core::mem::take(&mut *self.dirty.lock())
    }

    /// The interfaces.
    pub fn interfaces(&self) -> Vec<IfaceInfo> {
        self.ifaces.read().clone()
    }

    /// Whether `ip` is an address of this host: one of an interface's, or any
    /// of 127.0.0.0/8 (Linux's lo takes the whole block).
    pub fn is_local(&self, ip: IpAddress) -> bool {
        is_loopback(ip)
            || self
                .ifaces
                .read()
                .iter()
                .any(|f| f.addrs.iter().any(|c| c.address() == ip))
    }

    /// Which interface reaches `dst`, and the source address to use there
    /// (`bound`, if the socket is bound to one): this host's own addresses go
    /// through `lo`, as on Linux; then a subnet an interface is on; then a
    /// default route.
    pub fn route(&self, dst: IpAddress, bound: Option<IpAddress>) -> Option<(usize, IpAddress)> {
        let ifs = self.ifaces.read();
        if is_loopback(dst) || self.is_local(dst) {
            let src = bound.unwrap_or(if is_loopback(dst) {
                match dst {
                    IpAddress::Ipv4(_) => IpAddress::Ipv4(Ipv4Address::LOCALHOST),
                    IpAddress::Ipv6(_) => IpAddress::Ipv6(Ipv6Address::LOCALHOST),
                }
            } else {
                dst
            });
            return Some((0, src));
        }
        let pick = |i: usize, f: &IfaceInfo| bound.or(f.addr_like(dst)).map(|src| (i, src));
        for (i, f) in ifs.iter().enumerate().skip(1) {
            if f.addrs.iter().any(|c| c.contains_addr(&dst)) {
                return pick(i, f);
            }
        }
        for (i, f) in ifs.iter().enumerate().skip(1) {
            let has_gw = match dst {
                IpAddress::Ipv4(_) => f.gateway4.is_some(),
                IpAddress::Ipv6(_) => f.gateway6.is_some(),
            };
            if has_gw && let Some(r) = pick(i, f) {
                return Some(r);
            }
        }
        None
    }
}
