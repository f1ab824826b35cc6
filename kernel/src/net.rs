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

use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use futures_util::future::{Either, select};
use kestrel_driver_kit::NetDevice;
use kestrel_net::inet::stack::{IfaceConfig, Stack};
use kestrel_net::inet::{Link, Shared};
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address};

use crate::{task, time};

static SHARED: spin::Once<Arc<Shared>> = spin::Once::new();

/// The stack the sockets use (None before [`init`]).
pub fn shared() -> Option<&'static Arc<Shared>> {
    SHARED.get()
}

/// Loopback's MTU: the largest IP packet, so a loopback segment is as big as
/// TCP allows (Linux's lo has 65536).
const LO_MTU: usize = 65535;

/// Builds the interfaces and starts the actor and the NICs' frame tasks.
pub fn init() {
    let mut ifaces = vec![IfaceConfig {
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
    }];
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
    task::spawn("net", actor(stack)).detach();
}

/// The actor: rounds of the stack, and sleep in between.
async fn actor(mut stack: Stack) {
    let shared = stack.shared().clone();
    loop {
        if stack.poll(time::now_ns()) {
            // More frames or mail than one round takes: let others run first.
            kestrel_executor::yield_now().await;
            continue;
        }
        let woken = core::pin::pin!(shared.notify.wait());
        match stack.poll_at(time::now_ns()) {
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
