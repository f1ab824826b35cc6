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

use kestrel_abi::{Errno, KResult};
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address, Ipv6Address};

pub use addr::{Family, SockAddr};
pub use socket::{InetSocket, Kind};

/// Run (without locks held) when a TCP socket learns of new urgent data
/// from its peer: the kernel sends SIGURG to the socket file's owner
/// (Linux's sk_send_sigurg). Set once by the kernel.
pub static URGENT_HOOK: spin::Once<fn(&alloc::sync::Arc<InetSocket>)> = spin::Once::new();

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
    /// The largest MTU the link carries (its MTU at boot).
    pub max_mtu: usize,
    pub addrs: Vec<IpCidr>,
    /// The default routes through this interface.
    pub gateway4: Option<Ipv4Address>,
    pub gateway6: Option<Ipv6Address>,
    /// Other routes through this interface (`ip route add NET via GW`).
    pub routes: Vec<Route>,
    /// Administratively up (IFF_UP): a down interface drops what it receives
    /// and what the stack sends through it, and routes nothing.
    pub up: bool,
    pub link: Arc<Link>,
}

/// A route other than an interface's own subnets and its default route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: IpCidr,
    /// None: the destination is on the link (smoltcp cannot reach such a
    /// destination outside the interface's subnets: partial).
    pub gateway: Option<IpAddress>,
}

/// Addresses one interface holds at most (smoltcp's IFACE_MAX_ADDR_COUNT).
pub const MAX_ADDRS: usize = 8;
/// Routes with a gateway one interface holds at most, the default routes
/// included (smoltcp's IFACE_MAX_ROUTE_COUNT).
pub const MAX_ROUTES: usize = 4;

/// A route as `ip route add`/`del` names it.
#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    /// Prefix length 0: the default route.
    pub dst: IpCidr,
    pub gateway: Option<IpAddress>,
    /// The interface index (RTA_OIF, `dev`), if named.
    pub oif: Option<u32>,
}

impl IfaceInfo {
    pub fn loopback(&self) -> bool {
        self.mac.is_none()
    }

    /// Whether `gw` is on one of this interface's subnets.
    pub fn on_link(&self, gw: IpAddress) -> bool {
        self.addrs.iter().any(|c| c.contains_addr(&gw))
    }

    /// The routes with a gateway smoltcp is given: the defaults first.
    pub fn gateway_routes(&self) -> usize {
        usize::from(self.gateway4.is_some())
            + usize::from(self.gateway6.is_some())
            + self.routes.iter().filter(|r| r.gateway.is_some()).count()
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
    /// Run after each change of the interfaces (the kernel rewrites /sys).
    change_hook: spin::Once<fn()>,
    /// Bumped by each change of the interfaces' configuration: the actor
    /// applies it to smoltcp's interfaces when it sees a new value.
    pub config_gen: AtomicU64,
    /// Every socket that exists, by id, for /proc/net (a socket leaves it
    /// when dropped).
    registry: spin::Mutex<alloc::collections::BTreeMap<u64, alloc::sync::Weak<InetSocket>>>,
    /// The packet sockets tapping this stack's interfaces.
    pub taps: crate::packet::Taps,
    /// The raw and ping sockets ([`crate::raw`]).
    pub raws: crate::raw::RawSocks,
    /// IP packets raw sockets sent through a NIC, for the actor (by
    /// interface position).
    raw_out: spin::Mutex<VecDeque<(usize, Vec<u8>)>>,
    /// The identification of the next IPv4 packet a raw socket builds.
    ip_id: core::sync::atomic::AtomicU16,
    /// net.ipv4.ping_group_range: the groups that may make ping sockets
    /// (Linux's default "1 0": none).
    pub ping_group_range: spin::Mutex<(u32, u32)>,
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
            config_gen: AtomicU64::new(0),
            change_hook: spin::Once::new(),
            registry: spin::Mutex::new(alloc::collections::BTreeMap::new()),
            taps: crate::packet::Taps::default(),
            raws: crate::raw::RawSocks::default(),
            raw_out: spin::Mutex::new(VecDeque::new()),
            ip_id: core::sync::atomic::AtomicU16::new(1),
            ping_group_range: spin::Mutex::new((1, 0)),
        })
    }

    /// The identification field of the next IPv4 packet built here.
    pub fn next_ip_id(&self) -> u16 {
        self.ip_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends an IP packet a raw or ping socket built through the interface
    /// at position `iface`: `lo` takes it back in at once (the packet
    /// sockets see it go out; the raw sockets and smoltcp see it come in, in
    /// the actor's next round); a NIC's goes to the actor, which sends it
    /// through smoltcp (the neighbor resolved). ENOBUFS when the queue is
    /// full, ENETDOWN for a down interface.
    pub fn ip_xmit(&self, iface: usize, packet: Vec<u8>) -> KResult<()> {
        /// Packets waiting in lo's receive queue, or for the actor, at most.
        const QUEUE_MAX: usize = 4096;
        /// Bytes waiting for the actor, at most.
        const OUT_BYTES_MAX: usize = 4 << 20;
        // Short of memory for user data: dropped, as a full queue drops.
        if !kestrel_vfs::may_hold(packet.len()) {
            return Err(Errno::ENOBUFS);
        }
        let info = self
            .ifaces
            .read()
            .get(iface)
            .cloned()
            .ok_or(Errno::ENETUNREACH)?;
        if !info.up {
            return Err(Errno::ENETDOWN);
        }
        if !info.loopback() {
            let mut q = self.raw_out.lock();
            let bytes: usize = q.iter().map(|(_, p)| p.len()).sum();
            if q.len() >= QUEUE_MAX || bytes + packet.len() > OUT_BYTES_MAX {
                return Err(Errno::ENOBUFS);
            }
            q.push_back((iface, packet));
            drop(q);
            self.notify.notify();
            return Ok(());
        }
        if info.link.rx.lock().len() >= QUEUE_MAX {
            return Err(Errno::ENOBUFS);
        }
        let at = crate::packet::TapPoint {
            ifindex: info.index,
            mac: None,
            outgoing: true,
            sender: 0,
        };
        self.taps.tap_ip(&at, &packet);
        let len = packet.len() as u64;
        info.link.tx_frames.fetch_add(1, Ordering::Relaxed);
        info.link.tx_bytes.fetch_add(len, Ordering::Relaxed);
        info.link.rx_frames.fetch_add(1, Ordering::Relaxed);
        info.link.rx_bytes.fetch_add(len, Ordering::Relaxed);
        info.link.rx.lock().push_back(packet);
        self.notify.notify();
        Ok(())
    }

    /// The packets raw sockets queued for the NICs.
    pub(crate) fn take_raw_out(&self) -> VecDeque<(usize, Vec<u8>)> {
        core::mem::take(&mut *self.raw_out.lock())
    }

    /// Whether `a` is a broadcast address: 255.255.255.255 or that of a
    /// subnet of an interface.
    pub fn is_broadcast(&self, a: IpAddress) -> bool {
        let IpAddress::Ipv4(x) = a else {
            return false;
        };
        x == Ipv4Address::BROADCAST
            || self.ifaces.read().iter().any(|f| {
                f.addrs.iter().any(|c| match c {
                    IpCidr::Ipv4(c) => c.prefix_len() < 31 && c.broadcast() == Some(x),
                    _ => false,
                })
            })
    }

    /// Whether one of `gids` may make ping sockets (net.ipv4.ping_group_range).
    pub fn ping_allowed(&self, gids: &[u32]) -> bool {
        let (lo, hi) = *self.ping_group_range.lock();
        gids.iter().any(|&g| lo <= g && g <= hi)
    }

    /// A new packet socket taps this stack's interfaces.
    pub fn add_tap(&self, s: alloc::sync::Weak<crate::packet::PacketSocket>) {
        self.taps.add(s);
    }

    /// Sends a packet socket's Ethernet frame on `info`'s interface: the
    /// packet sockets see it go out; a NIC queues it for its device; `lo`
    /// takes it back in (an IP packet into the stack, which the taps see as
    /// received; any other frame straight to the taps). ENOBUFS when the
    /// link's queue is full (the frame is dropped, as a full qdisc's).
    pub fn packet_xmit(&self, info: &IfaceInfo, frame: Vec<u8>, sender: usize) -> KResult<()> {
        /// Frames a packet socket may leave in `lo`'s receive queue.
        const LO_RX_MAX: usize = 4096;
        use crate::packet::TapPoint;
        let at = TapPoint {
            ifindex: info.index,
            mac: info.mac,
            outgoing: true,
            sender,
        };
        let full = if info.loopback() {
            info.link.rx.lock().len() >= LO_RX_MAX
        } else {
            info.link.tx.lock().len() >= LINK_QUEUE
        };
        if full {
            return Err(Errno::ENOBUFS);
        }
        self.taps.tap(&at, &frame);
        if !info.loopback() {
            info.link.push_tx(frame);
            return Ok(());
        }
        let len = frame.len() as u64;
        info.link.tx_frames.fetch_add(1, Ordering::Relaxed);
        info.link.tx_bytes.fetch_add(len, Ordering::Relaxed);
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        if matches!(ethertype, 0x0800 | 0x86dd) && frame.len() > crate::packet::ETH_HLEN {
            info.link.rx_frames.fetch_add(1, Ordering::Relaxed);
            info.link.rx_bytes.fetch_add(len, Ordering::Relaxed);
            info.link
                .rx
                .lock()
                .push_back(frame[crate::packet::ETH_HLEN..].to_vec());
            self.notify.notify();
        } else {
            info.link.rx_frames.fetch_add(1, Ordering::Relaxed);
            info.link.rx_bytes.fetch_add(len, Ordering::Relaxed);
            self.taps.tap(
                &TapPoint {
                    outgoing: false,
                    sender: 0,
                    ..at
                },
                &frame,
            );
        }
        Ok(())
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

    /// Trades the sockets marked dirty for `ids` (empty): the caller gets the
    /// marked ones, the list keeps `ids`'s capacity for the next marks.
    pub(crate) fn swap_dirty(&self, ids: &mut Vec<u64>) {
        core::mem::swap(&mut *self.dirty.lock(), ids);
    }

    /// The interfaces.
    pub fn interfaces(&self) -> Vec<IfaceInfo> {
        self.ifaces.read().clone()
    }

    /// Changes the interfaces under the lock, then has the actor apply the
    /// change to smoltcp (its next round).
    fn reconfigure<T>(&self, f: impl FnOnce(&mut Vec<IfaceInfo>) -> KResult<T>) -> KResult<T> {
        let r = f(&mut self.ifaces.write())?;
        self.config_gen.fetch_add(1, Ordering::AcqRel);
        self.notify.notify();
        if let Some(hook) = self.change_hook.get() {
            hook();
        }
        Ok(r)
    }

    /// Sets the function run (without locks held) after each change of the
    /// interfaces' configuration.
    pub fn set_change_hook(&self, hook: fn()) {
        self.change_hook.call_once(|| hook);
    }

    /// The interface with index `index`, by position (ENODEV).
    fn position(ifs: &[IfaceInfo], index: u32) -> KResult<usize> {
        ifs.iter()
            .position(|f| f.index == index)
            .ok_or(Errno::ENODEV)
    }

    /// `ip link set IF up|down`, SIOCSIFFLAGS's IFF_UP. Returns whether the
    /// state changed.
    pub fn set_link_up(&self, index: u32, up: bool) -> KResult<bool> {
        self.reconfigure(|ifs| {
            let i = Self::position(ifs, index)?;
            let changed = ifs[i].up != up;
            ifs[i].up = up;
            Ok(changed)
        })
    }

    /// SIOCSIFMTU, `ip link set IF mtu N`: EINVAL outside what the link
    /// carries (68 up to its boot MTU for Ethernet, as ether_setup's range
    /// with the device's own limit; any size for `lo`). The stack sends
    /// through an Ethernet link at most its new MTU; `lo` keeps carrying
    /// datagrams whole (Linux would fragment and reassemble them; smoltcp
    /// does not fragment).
    pub fn set_mtu(&self, index: u32, mtu: i32) -> KResult<()> {
        self.reconfigure(|ifs| {
            let i = Self::position(ifs, index)?;
            let f = &mut ifs[i];
            let ok = if f.loopback() {
                mtu >= 0
            } else {
                mtu >= 68 && mtu as usize <= f.max_mtu
            };
            if !ok {
                return Err(Errno::EINVAL);
            }
            f.mtu = mtu as usize;
            Ok(())
        })
    }

    /// `ip addr add`: EEXIST if the address is there already and `excl`
    /// (NLM_F_EXCL); ENOBUFS beyond what smoltcp holds.
    pub fn add_addr(&self, index: u32, cidr: IpCidr, excl: bool) -> KResult<()> {
        self.reconfigure(|ifs| {
            let i = Self::position(ifs, index)?;
            let f = &mut ifs[i];
            if let Some(old) = f.addrs.iter_mut().find(|c| c.address() == cidr.address()) {
                if excl {
                    return Err(Errno::EEXIST);
                }
                *old = cidr;
                return Ok(());
            }
            if f.addrs.len() >= MAX_ADDRS {
                return Err(Errno::ENOBUFS);
            }
            f.addrs.push(cidr);
            Ok(())
        })
    }

    /// SIOCSIFADDR and SIOCSIFNETMASK: the interface's first IPv4 address
    /// becomes `addr` (with its class's prefix, as Linux's devinet_ioctl
    /// sets it), or keeps its address and takes `prefix`. Setting the mask
    /// of an interface without an IPv4 address is EADDRNOTAVAIL.
    pub fn set_ipv4(
        &self,
        index: u32,
        addr: Option<Ipv4Address>,
        prefix: Option<u8>,
    ) -> KResult<()> {
        self.reconfigure(|ifs| {
            let i = Self::position(ifs, index)?;
            let f = &mut ifs[i];
            let at = f.addrs.iter().position(|c| matches!(c, IpCidr::Ipv4(_)));
            match (addr, prefix, at) {
                (Some(a), _, at) => {
                    let o = a.octets()[0];
                    let class = if o < 128 {
                        8
                    } else if o < 192 {
                        16
                    } else {
                        24
                    };
                    let c = IpCidr::new(IpAddress::Ipv4(a), class);
                    match at {
                        Some(at) => f.addrs[at] = c,
                        None if f.addrs.len() >= MAX_ADDRS => return Err(Errno::ENOBUFS),
                        None => f.addrs.push(c),
                    }
                }
                (None, Some(p), Some(at)) => {
                    f.addrs[at] = IpCidr::new(f.addrs[at].address(), p);
                }
                _ => return Err(Errno::EADDRNOTAVAIL),
            }
            Ok(())
        })
    }

    /// `ip addr del`: the address `addr` (with `prefix`, if given) on the
    /// interface (EADDRNOTAVAIL if it has none such). Routes whose gateway
    /// is no longer on a subnet of the interface go with it, as Linux's
    /// fib_sync_down_addr removes them.
    pub fn del_addr(&self, index: u32, addr: IpAddress, prefix: Option<u8>) -> KResult<()> {
        self.reconfigure(|ifs| {
            let i = Self::position(ifs, index)?;
            let f = &mut ifs[i];
            let at = f
                .addrs
                .iter()
                .position(|c| c.address() == addr && prefix.is_none_or(|p| p == c.prefix_len()))
                .ok_or(Errno::EADDRNOTAVAIL)?;
            f.addrs.remove(at);
            if f.gateway4.is_some_and(|g| !f.on_link(IpAddress::Ipv4(g))) {
                f.gateway4 = None;
            }
            if f.gateway6.is_some_and(|g| !f.on_link(IpAddress::Ipv6(g))) {
                f.gateway6 = None;
            }
            let addrs = f.addrs.clone();
            f.routes.retain(|r| {
                r.gateway
                    .is_none_or(|g| addrs.iter().any(|c| c.contains_addr(&g)))
            });
            Ok(())
        })
    }

    /// `ip route add` (or `replace` when not `excl`): the interface is the
    /// one named, else the one whose subnet holds the gateway (ENETUNREACH
    /// if none does, or the named one does not); a route without either is
    /// ENODEV. EEXIST if the destination has a route already and `excl`.
    pub fn add_route(&self, spec: RouteSpec, excl: bool) -> KResult<()> {
        self.reconfigure(|ifs| {
            let i = match (spec.oif, spec.gateway) {
                (Some(oif), gw) => {
                    let i = Self::position(ifs, oif)?;
                    if gw.is_some_and(|g| !ifs[i].on_link(g)) {
                        return Err(Errno::ENETUNREACH);
                    }
                    i
                }
                (None, Some(g)) => ifs
                    .iter()
                    .position(|f| !f.loopback() && f.on_link(g))
                    .ok_or(Errno::ENETUNREACH)?,
                (None, None) => return Err(Errno::ENODEV),
            };
            let default = spec.dst.prefix_len() == 0;
            let exists = ifs.iter().any(|f| {
                if default {
                    match spec.dst {
                        IpCidr::Ipv4(_) => f.gateway4.is_some(),
                        IpCidr::Ipv6(_) => f.gateway6.is_some(),
                    }
                } else {
                    f.routes.iter().any(|r| r.dst == spec.dst)
                }
            });
            if exists && excl {
                return Err(Errno::EEXIST);
            }
            // Replacing: the old route goes, wherever it was.
            for f in ifs.iter_mut() {
                if default {
                    match spec.dst {
                        IpCidr::Ipv4(_) => f.gateway4 = None,
                        IpCidr::Ipv6(_) => f.gateway6 = None,
                    }
                } else {
                    f.routes.retain(|r| r.dst != spec.dst);
                }
            }
            let f = &mut ifs[i];
            if spec.gateway.is_some() && f.gateway_routes() >= MAX_ROUTES {
                return Err(Errno::ENOBUFS);
            }
            match (default, spec.gateway) {
                (true, Some(IpAddress::Ipv4(g))) => f.gateway4 = Some(g),
                (true, Some(IpAddress::Ipv6(g))) => f.gateway6 = Some(g),
                // A default route without a gateway needs a point-to-point
                // link smoltcp does not have.
                (true, None) => return Err(Errno::EINVAL),
                (false, gateway) => f.routes.push(Route {
                    dst: spec.dst,
                    gateway,
                }),
            }
            Ok(())
        })
    }

    /// `ip route del`: the route to `spec.dst` (and through the gateway and
    /// interface, if given); ESRCH if there is none.
    pub fn del_route(&self, spec: RouteSpec) -> KResult<()> {
        self.reconfigure(|ifs| {
            for f in ifs.iter_mut() {
                if spec.oif.is_some_and(|o| o != f.index) {
                    continue;
                }
                if spec.dst.prefix_len() == 0 {
                    let gw = match spec.dst {
                        IpCidr::Ipv4(_) => f.gateway4.map(IpAddress::Ipv4),
                        IpCidr::Ipv6(_) => f.gateway6.map(IpAddress::Ipv6),
                    };
                    if let Some(g) = gw
                        && spec.gateway.is_none_or(|s| s == g)
                    {
                        match spec.dst {
                            IpCidr::Ipv4(_) => f.gateway4 = None,
                            IpCidr::Ipv6(_) => f.gateway6 = None,
                        }
                        return Ok(());
                    }
                    continue;
                }
                if let Some(at) = f.routes.iter().position(|r| {
                    r.dst == spec.dst && spec.gateway.is_none_or(|g| r.gateway == Some(g))
                }) {
                    f.routes.remove(at);
                    return Ok(());
                }
            }
            Err(Errno::ESRCH)
        })
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
            if !ifs.first().is_some_and(|lo| lo.up) {
                return None;
            }
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
        for (i, f) in ifs.iter().enumerate().skip(1).filter(|(_, f)| f.up) {
            if f.addrs.iter().any(|c| c.contains_addr(&dst)) {
                return pick(i, f);
            }
        }
        // The longest matching static route.
        let best = ifs
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, f)| f.up)
            .flat_map(|(i, f)| f.routes.iter().map(move |r| (i, r)))
            .filter(|(_, r)| r.dst.contains_addr(&dst))
            .max_by_key(|(_, r)| r.dst.prefix_len());
        if let Some((i, _)) = best {
            return pick(i, &ifs[i]);
        }
        for (i, f) in ifs.iter().enumerate().skip(1).filter(|(_, f)| f.up) {
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
