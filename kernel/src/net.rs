//! The network: the stack's actor task, loopback, and each NIC's frame tasks.
//!
//! [`kestrel_net::inet::stack::Stack`] is owned by one task, `net`, for every
//! interface (docs/architecture.md, "Network"). It runs a round of the stack,
//! then sleeps until one of: a socket posts to the mailbox, a NIC's receive
//! task queues a frame, a NIC's transmit task makes room, smoltcp's socket
//! wakers fire, or smoltcp's next deadline on the executor's timer queue.
//!
//! `lo` is 127.0.0.1/8 and ::1. `eth0` (the first NIC the drivers found) gets
//! QEMU user networking's static configuration: 10.0.2.15/24 with the gateway
//! 10.0.2.2 (QEMU's slirp hands the same address out by DHCP; a fixed one
//! boots without waiting for a lease). Later NICs come up without an address.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::{Either, select};
use kestrel_driver_kit::NetDevice;
use kestrel_net::inet::stack::{IfaceConfig, Stack};
use kestrel_net::inet::{Link, Shared};
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address};

use crate::{task, time};

static SHARED: spin::Once<Arc<Shared>> = spin::Once::new();

/// The stack of the caller's network namespace: the one [`init`] built in the
/// initial namespace (None before it), a namespace's own otherwise.
pub fn shared() -> Option<Arc<Shared>> {
    crate::ns::current()
        .net
        .stack()
        .or_else(|| SHARED.get().cloned())
}

/// The initial network namespace's stack (the one the NICs are on).
pub fn init_shared() -> Option<&'static Arc<Shared>> {
    SHARED.get()
}

/// Loopback's MTU: the largest IP packet, so a loopback segment is as big as
/// TCP allows (Linux's lo has 65536).
const LO_MTU: usize = 65535;

/// `lo`: 127.0.0.1/8 and ::1.
fn loopback() -> IfaceConfig {
    IfaceConfig {
        name: "lo".to_string(),
        mac: None,
        mtu: LO_MTU,
        addrs: vec![
            IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8),
            IpCidr::new(IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 1), 128),
        ],
        gateway4: None,
        gateway6: None,
        link: Arc::new(Link::default()),
    }
}

/// A new network namespace's stack: `lo` alone, with an actor of its own
/// that runs until `alive` is cleared (the namespace is gone). None before
/// [`init`].
pub fn namespace_stack(alive: Arc<AtomicBool>) -> Option<Arc<Shared>> {
    SHARED.get()?;
    let mut seed = [0u8; 8];
    crate::random::fill(&mut seed);
    let (stack, shared) = Stack::new(vec![loopback()], u64::from_ne_bytes(seed), time::now_ns());
    // A new namespace's lo starts down, as Linux's (`ip link set lo up`).
    let _ = shared.set_link_up(1, false);
    task::spawn("net-ns", actor(stack, Some(alive))).detach();
    Some(shared)
}

/// Builds the interfaces and starts the actor and the NICs' frame tasks.
pub fn init() {
    kestrel_net::packet::set_clock(time::realtime_ns);
    let mut ifaces = vec![loopback()];
    let mut nics: Vec<(Arc<dyn NetDevice>, Arc<Link>)> = Vec::new();
    for (n, (name, dev)) in crate::drivers::net_devices().into_iter().enumerate() {
        let link = Arc::new(Link::default());
        let (addrs, gw) = if n == 0 {
            (
                vec![IpCidr::new(IpAddress::v4(10, 0, 2, 15), 24)],
                Some(Ipv4Address::new(10, 0, 2, 2)),
            )
        } else {
            (Vec::new(), None)
        };
        ifaces.push(IfaceConfig {
            name,
            mac: Some(dev.mac()),
            mtu: dev.mtu(),
            addrs,
            gateway4: gw,
            gateway6: None,
            link: link.clone(),
        });
        nics.push((dev, link));
    }
    let mut seed = [0u8; 8];
    crate::random::fill(&mut seed);
    let (stack, shared) = Stack::new(ifaces, u64::from_ne_bytes(seed), time::now_ns());
    SHARED.call_once(|| shared.clone());
    for (dev, link) in nics {
        task::spawn("net-rx", receive(dev.clone(), link.clone(), shared.clone())).detach();
        task::spawn("net-tx", transmit(dev, link, shared.clone())).detach();
    }
    task::spawn("net", actor(stack, None)).detach();
}

/// How long a round of the stack may go on taking mail and frames before it
/// yields the CPU to other tasks (it finishes what it took).
const ROUND_NS: u64 = 2_000_000;

/// The actor: rounds of the stack, and sleep in between; a namespace's ends
/// when `alive` is cleared (and the stack is notified).
async fn actor(mut stack: Stack, alive: Option<Arc<AtomicBool>>) {
    let shared = stack.shared().clone();
    loop {
        if alive.as_ref().is_some_and(|a| !a.load(Ordering::Acquire)) {
            return;
        }
        let start = time::now_ns();
        let over = || time::now_ns().saturating_sub(start) > ROUND_NS;
        if stack.poll_within(start, &over) {
            // More frames or mail than one round takes: let others run first.
            kestrel_executor::yield_now().await;
            continue;
        }
        let now = time::now_ns();
        let woken = core::pin::pin!(shared.notify.wait());
        match stack.poll_at(now) {
            Some(deadline) if deadline <= now => {
                // Due now (sockets left for the next egress pass): a round
                // again, after the other tasks have had their turn.
                kestrel_executor::yield_now().await;
            }
            Some(deadline) => {
                let sleep = core::pin::pin!(task::sleep_until(deadline));
                let _: Either<_, _> = select(woken, sleep).await;
            }
            None => woken.await,
        }
    }
}

/// A NIC's receive task: frames from the driver into the link, and a nudge to
/// the actor. A full link drops (counted), as a full ring would.
async fn receive(dev: Arc<dyn NetDevice>, link: Arc<Link>, shared: Arc<Shared>) {
    loop {
        match dev.recv().await {
            Ok(frame) => {
                link.push_rx(frame);
                shared.notify.notify();
            }
            Err(e) => {
                log::warn!("net: the device stopped receiving ({e:?})");
                return;
            }
        }
    }
}

/// A NIC's transmit task: frames the stack queued, to the driver, one at a
/// time; each frame sent makes room the actor may be waiting for.
async fn transmit(dev: Arc<dyn NetDevice>, link: Arc<Link>, shared: Arc<Shared>) {
    loop {
        while let Some(frame) = link.pop_tx() {
            if dev.send(&frame).await.is_err() {
                link.tx_errors
                    .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            }
            shared.notify.notify();
        }
        link.tx_ready.wait().await;
    }
}

/// /proc/net/dev: each interface's counters in Linux's layout (errors, fifo,
/// frame and multicast counts Kestrel does not keep read 0).
pub fn proc_dev() -> String {
    use core::fmt::Write;
    use core::sync::atomic::Ordering::Relaxed;
    let mut out = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|\
         bytes    packets errs drop fifo colls carrier compressed\n",
    );
    let Some(shared) = shared() else {
        return out;
    };
    for f in shared.interfaces() {
        let l = &f.link;
        let _ = writeln!(
            out,
            "{:>6}: {:>7} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9} {:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>7} {:>10}",
            f.name,
            l.rx_bytes.load(Relaxed),
            l.rx_frames.load(Relaxed),
            0,
            l.rx_dropped.load(Relaxed),
            0,
            0,
            0,
            0,
            l.tx_bytes.load(Relaxed),
            l.tx_frames.load(Relaxed),
            l.tx_errors.load(Relaxed),
            0,
            0,
            0,
            0,
            0
        );
    }
    out
}

/// /proc/net/route: the main table's IPv4 routes.
pub fn proc_route() -> String {
    let ifs = shared().map(|s| s.interfaces()).unwrap_or_default();
    kestrel_net::netlink::route::proc_net_route(&ifs)
}

/// /proc/net/if_inet6: the IPv6 addresses.
pub fn proc_if_inet6() -> String {
    let ifs = shared().map(|s| s.interfaces()).unwrap_or_default();
    kestrel_net::netlink::route::proc_net_if_inet6(&ifs)
}

/// An address as /proc/net shows it: the 32-bit words of the address as the
/// host (little-endian) stores them, in hex.
fn proc_addr(a: IpAddress, v6: bool) -> String {
    use core::fmt::Write;
    let bytes: [u8; 16] = match a {
        IpAddress::Ipv4(x) if !v6 => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&x.octets());
            b
        }
        IpAddress::Ipv4(x) => x.to_ipv6_mapped().octets(),
        IpAddress::Ipv6(x) => x.octets(),
    };
    let words = if v6 { 4 } else { 1 };
    let mut s = String::new();
    for w in bytes.chunks_exact(4).take(words) {
        let _ = write!(s, "{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    s
}

/// /proc/net/tcp, tcp6, udp, udp6: one line per socket of the kind and
/// family, in Linux's columns. Timers, retransmits, uid and inode read 0
/// (partial: ss and netstat cannot tie a socket to its process).
pub fn proc_sockets(tcp: bool, v6: bool) -> String {
    use core::fmt::Write;
    use kestrel_net::inet::{Family, Kind};
    let mut out = String::from(if v6 {
        "  sl  local_address                         remote_address                        \
         st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    } else {
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   \
         uid  timeout inode\n"
    });
    let Some(shared) = shared() else {
        return out;
    };
    let kind = if tcp { Kind::Stream } else { Kind::Dgram };
    let family = if v6 { Family::V6 } else { Family::V4 };
    let any = if v6 {
        IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 0)
    } else {
        IpAddress::v4(0, 0, 0, 0)
    };
    let mut n = 0;
    for s in shared.sockets() {
        if s.kind() != kind || s.family() != family {
            continue;
        }
        let (local, port, remote, txq, rxq) = s.snapshot();
        if port == 0 {
            continue;
        }
        let (raddr, rport) = remote.map_or((any, 0), |r| (r.addr, r.port));
        let _ = writeln!(
            out,
            "{n:>4}: {}:{port:04X} {}:{rport:04X} {:02X} {txq:08X}:{rxq:08X} 00:00000000 00000000     0        0 0 1",
            proc_addr(local.unwrap_or(any), v6),
            proc_addr(raddr, v6),
            s.tcp_state(),
        );
        n += 1;
    }
    out
}
