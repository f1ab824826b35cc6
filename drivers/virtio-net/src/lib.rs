//! virtio-net: a virtio network card, offered to the kernel as a
//! [`NetDevice`] (`eth0`, `eth1`...).
//!
//! The device (virtio 1.2, section 5.1) has a receive queue (0) and a transmit
//! queue (1) (more pairs with `VIRTIO_NET_F_MQ`, and a control queue with
//! `VIRTIO_NET_F_CTRL_VQ`: neither is used here). Every frame, both ways, is
//! preceded by a 12-byte `struct virtio_net_hdr`: flags, gso_type, hdr_len,
//! gso_size, csum_start, csum_offset and, with VERSION_1 always,
//! num_buffers. With no offloads negotiated the driver sends it all zeros and
//! the device's says nothing the driver needs.
//!
//! **What this driver does.** It negotiates `VIRTIO_NET_F_MAC` (the address
//! from the configuration; without it the driver makes up a locally
//! administered one, as the spec asks), `VIRTIO_NET_F_STATUS` (link state; up
//! without it) and `VIRTIO_NET_F_MTU`, and nothing else: no checksum or
//! segmentation offloads, and not `VIRTIO_NET_F_MRG_RXBUF` (every receive
//! buffer holds a whole frame, so frames never span buffers).
//!
//! **Receiving.** Every entry of the receive queue holds a buffer big enough
//! for the header and the largest frame (2 KiB for a 1500-byte MTU), cut from a
//! few larger DMA buffers. One task keeps them all posted: each buffer is a
//! request with no timeout (a quiet network is not a broken device); when one
//! completes, the frame is copied out into a bounded inbox and the buffer is
//! posted again at once. Completions are taken in the order the device used
//! them (the queue wakes requests in used-ring order and the task polls them
//! in wake order), so frames come out as they came in. When the inbox is full
//! (nobody is reading) the frame is dropped and counted, as a NIC drops on a
//! full ring. [`NetDevice::recv`] takes the next frame from the inbox.
//!
//! **Sending.** [`NetDevice::send`] copies the frame after a zeroed header into
//! a DMA buffer (kept in a pool for the next send) and submits it; it returns
//! when the device has taken the frame.
//!
//! **Link.** With `VIRTIO_NET_F_STATUS`, a configuration-change interrupt
//! re-reads the link state.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::future::Future;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::{Poll, Waker};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use kestrel_driver_kit::{
    BoxFuture, ClassDevice, DmaAllocator, DmaBuffer, Driver, Host, IoError, NetDevice, PciFunction,
    PciId, ProbeError,
};
use kestrel_virtio::id::VIRTIO_ID_NET;
use kestrel_virtio::{Completion, Segment, VirtioPci, Virtqueue, virtio_device_type};

/// Feature bits (`VIRTIO_NET_F_*`), as masks.
pub mod feature {
    pub const VIRTIO_NET_F_CSUM: u64 = 1 << 0;
    pub const VIRTIO_NET_F_GUEST_CSUM: u64 = 1 << 1;
    /// `mtu` in the configuration is the largest frame payload.
    pub const VIRTIO_NET_F_MTU: u64 = 1 << 3;
    /// `mac` in the configuration is the address.
    pub const VIRTIO_NET_F_MAC: u64 = 1 << 5;
    pub const VIRTIO_NET_F_GUEST_TSO4: u64 = 1 << 7;
    pub const VIRTIO_NET_F_HOST_TSO4: u64 = 1 << 11;
    /// Frames may span several receive buffers (not used here).
    pub const VIRTIO_NET_F_MRG_RXBUF: u64 = 1 << 15;
    /// `status` in the configuration says whether the link is up.
    pub const VIRTIO_NET_F_STATUS: u64 = 1 << 16;
    pub const VIRTIO_NET_F_CTRL_VQ: u64 = 1 << 17;
    pub const VIRTIO_NET_F_MQ: u64 = 1 << 22;
}

/// Offsets in the device configuration (`struct virtio_net_config`).
pub mod config {
    /// 6 bytes.
    pub const MAC: usize = 0;
    /// le16: `VIRTIO_NET_S_*`.
    pub const STATUS: usize = 6;
    /// le16.
    pub const MAX_VIRTQUEUE_PAIRS: usize = 8;
    /// le16.
    pub const MTU: usize = 10;
}

/// `status` bit: the link is up.
pub const VIRTIO_NET_S_LINK_UP: u16 = 1;
/// `status` bit: the driver should announce itself (not used).
pub const VIRTIO_NET_S_ANNOUNCE: u16 = 2;

use feature::*;

/// Bytes of `struct virtio_net_hdr` in front of every frame (VERSION_1
/// always has `num_buffers`).
pub const HDR_LEN: usize = 12;
/// An Ethernet header: destination, source, type.
pub const ETH_HLEN: usize = 14;
/// An 802.1Q tag a frame may carry on top of the MTU.
pub const VLAN_HLEN: usize = 4;
/// Ethernet's MTU, without `VIRTIO_NET_F_MTU`.
pub const ETH_DATA_LEN: usize = 1500;
/// The smallest MTU the configuration may give (IPv4's minimum).
pub const MIN_MTU: usize = 68;
/// The receive and transmit queues.
pub const RX_QUEUE: u16 = 0;
pub const TX_QUEUE: u16 = 1;
/// Entries asked for in each queue (QEMU's default size).
pub const QUEUE_SIZE: u16 = 256;
/// Frames received and not yet taken by [`NetDevice::recv`] before more are
/// dropped.
pub const INBOX: usize = 512;
/// Receive buffers are cut from DMA buffers of about this size.
const RX_CHUNK: usize = 64 * 1024;
/// Transmit buffers kept for reuse.
const TX_KEEP: usize = 64;

/// The features this driver accepts when the device offers them.
pub const WANTED: u64 = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MTU;

/// The driver: takes every virtio network device.
pub struct VirtioNetDriver;

impl Driver for VirtioNetDriver {
    fn name(&self) -> &'static str {
        "virtio-net"
    }

    fn matches(&self, id: &PciId) -> bool {
        virtio_device_type(id) == Some(VIRTIO_ID_NET)
    }

    fn probe(&self, function: Arc<dyn PciFunction>, host: Arc<dyn Host>) -> Result<(), ProbeError> {
        let nic = VirtioNet::probe(function, &host)?;
        host.register(ClassDevice::Net("eth", nic));
        Ok(())
    }
}

/// Counters, as `ip -s link` shows them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NetStats {
    pub rx_frames: u64,
    /// Frames dropped because nobody took the ones before them.
    pub rx_dropped: u64,
    /// Completions that held no frame (too short, or refused by the queue).
    pub rx_errors: u64,
    pub tx_frames: u64,
    pub tx_errors: u64,
}

#[derive(Default)]
struct Counters {
    rx_frames: AtomicU64,
    rx_dropped: AtomicU64,
    rx_errors: AtomicU64,
    tx_frames: AtomicU64,
    tx_errors: AtomicU64,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Frames received and not yet taken, and who waits for them.
#[derive(Default)]
struct Inbox {
    frames: VecDeque<Vec<u8>>,
    waiters: Vec<Waker>,
    /// The receive queue broke: no more frames will come.
    dead: bool,
}

/// One virtio network card.
pub struct VirtioNet {
    virtio: Arc<VirtioPci>,
    rx: Arc<Virtqueue>,
    tx: Arc<Virtqueue>,
    mac: [u8; 6],
    mtu: usize,
    has_status: bool,
    link: AtomicBool,
    /// Bytes of each receive buffer.
    rx_buffer: usize,
    inbox: spin::Mutex<Inbox>,
    dma: Arc<dyn DmaAllocator>,
    tx_free: spin::Mutex<Vec<Arc<DmaBuffer>>>,
    counters: Counters,
}

impl VirtioNet {
    /// Sets the device up: features, address, MTU and link from the
    /// configuration, the two queues, their interrupts, the receive buffers,
    /// and the tasks that receive and follow the link.
    pub fn probe(
        function: Arc<dyn PciFunction>,
        host: &Arc<dyn Host>,
    ) -> Result<Arc<Self>, ProbeError> {
        let virtio = Arc::new(VirtioPci::new(function)?);
        let features = virtio.negotiate(WANTED)?;
        let has = |f: u64| features & f == f;
        let addr = virtio.function().address();
        let fail = |e: ProbeError| {
            log::warn!("virtio-net {addr}: {e}");
            virtio.fail();
            e
        };
        let needed = if has(VIRTIO_NET_F_MTU) {
            config::MTU + 2
        } else if has(VIRTIO_NET_F_STATUS) {
            config::STATUS + 2
        } else if has(VIRTIO_NET_F_MAC) {
            config::MAC + 6
        } else {
            0
        };
        if virtio.config_len() < needed {
            return Err(fail(ProbeError::Device(
                "the device configuration is too short for its features",
            )));
        }
        let (mac, status, mtu) = virtio.read_config(|c| {
            let mut mac = [0u8; 6];
            for (i, b) in mac.iter_mut().enumerate() {
                *b = c.read8(config::MAC + i);
            }
            (mac, c.read16(config::STATUS), c.read16(config::MTU))
        });
        let mac = if has(VIRTIO_NET_F_MAC) {
            mac
        } else {
            // Locally administered (bit 1), unicast (bit 0 clear), and
            // different for each function and boot.
            let t = host.now_ns().to_le_bytes();
            [
                0x02,
                b'K',
                addr.bus,
                addr.device << 3 | addr.function,
                t[0],
                t[1],
            ]
        };
        let mtu = if has(VIRTIO_NET_F_MTU) {
            let mtu = usize::from(mtu);
            if mtu < MIN_MTU {
                return Err(fail(ProbeError::Device("an MTU below 68")));
            }
            mtu
        } else {
            ETH_DATA_LEN
        };
        let link = !has(VIRTIO_NET_F_STATUS) || status & VIRTIO_NET_S_LINK_UP != 0;

        let mut queues = virtio.setup_queues(host, &[QUEUE_SIZE, QUEUE_SIZE])?;
        let (Some(tx), Some(rx)) = (queues.pop(), queues.pop()) else {
            return Err(fail(ProbeError::Device("no receive and transmit queues")));
        };
        // A receive buffer waits for as long as the network is quiet.
        rx.set_timeout(None);
        // Room for the header and the largest frame, in 2 KiB steps.
        let rx_buffer = (HDR_LEN + ETH_HLEN + VLAN_HLEN + mtu).next_multiple_of(2048);
        let dma = host.dma();
        let buffers = rx_buffers(&*dma, rx_buffer, usize::from(rx.size())).map_err(fail)?;
        virtio.driver_ok();

        let nic = Arc::new(Self {
            virtio: virtio.clone(),
            rx,
            tx,
            mac,
            mtu,
            has_status: has(VIRTIO_NET_F_STATUS),
            link: AtomicBool::new(link),
            rx_buffer,
            inbox: spin::Mutex::new(Inbox::default()),
            dma,
            tx_free: spin::Mutex::new(Vec::new()),
            counters: Counters::default(),
        });
        log::info!(
            "virtio-net {addr}: MAC {}{}, MTU {mtu}, link {}, {} receive buffers of {rx_buffer} bytes",
            MacFmt(mac),
            if has(VIRTIO_NET_F_MAC) {
                ""
            } else {
                " (made up)"
            },
            if link { "up" } else { "down" },
            buffers.len()
        );
        // Spawned after DRIVER_OK: the device may be notified only from then on.
        host.spawn("virtio-net-rx", nic.clone().receive(buffers));
        if nic.has_status {
            host.spawn("virtio-net-config", nic.clone().follow_link());
        }
        Ok(nic)
    }

    /// Counters so far.
    pub fn stats(&self) -> NetStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NetStats {
            rx_frames: get(&c.rx_frames),
            rx_dropped: get(&c.rx_dropped),
            rx_errors: get(&c.rx_errors),
            tx_frames: get(&c.tx_frames),
            tx_errors: get(&c.tx_errors),
        }
    }

    /// The receive queue.
    pub fn rx_queue(&self) -> &Arc<Virtqueue> {
        &self.rx
    }

    /// The transmit queue.
    pub fn tx_queue(&self) -> &Arc<Virtqueue> {
        &self.tx
    }

    /// Bytes of each receive buffer.
    pub fn rx_buffer_len(&self) -> usize {
        self.rx_buffer
    }

    /// The receive task: keeps every buffer posted and turns completions into
    /// frames in the inbox, until the queue breaks.
    fn receive(self: Arc<Self>, buffers: Vec<Segment>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut posted = FuturesUnordered::new();
            for b in buffers {
                posted.push(post(&self.rx, b));
            }
            while let Some((buffer, result)) = posted.next().await {
                match result {
                    Ok(done) => self.deliver(&buffer, done),
                    Err(_) if self.rx.is_broken() => break,
                    Err(e) => {
                        // The device returned the buffer but said something
                        // impossible about it (the queue logged what).
                        log::debug!("virtio-net: a receive failed: {e:?}");
                        Counters::bump(&self.counters.rx_errors);
                    }
                }
                posted.push(post(&self.rx, buffer));
            }
            log::error!(
                "virtio-net {}: the receive queue is broken; no more frames",
                self.virtio.function().address()
            );
            let waiters = {
                let mut inbox = self.inbox.lock();
                inbox.dead = true;
                core::mem::take(&mut inbox.waiters)
            };
            waiters.into_iter().for_each(Waker::wake);
            // Buffers the device still holds stay with the queue.
            drop(posted);
        })
    }

    /// Copies the frame the device put in `buffer` into the inbox.
    fn deliver(&self, buffer: &Segment, done: Completion) {
        let Some(len) = done.written.checked_sub(HDR_LEN).filter(|&n| n >= ETH_HLEN) else {
            log::debug!(
                "virtio-net: a receive of {} bytes holds no frame",
                done.written
            );
            Counters::bump(&self.counters.rx_errors);
            return;
        };
        if self.inbox.lock().frames.len() >= INBOX {
            Counters::bump(&self.counters.rx_dropped);
            return;
        }
        let mut frame = vec![0u8; len];
        buffer.buffer().read(buffer.offset() + HDR_LEN, &mut frame);
        let waiters = {
            let mut inbox = self.inbox.lock();
            if inbox.frames.len() >= INBOX {
                Counters::bump(&self.counters.rx_dropped);
                return;
            }
            inbox.frames.push_back(frame);
            core::mem::take(&mut inbox.waiters)
        };
        Counters::bump(&self.counters.rx_frames);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Re-reads the link state whenever the configuration changes.
    fn follow_link(self: Arc<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let irq = self.virtio.config_changed().clone();
            loop {
                let ticket = irq.ticket();
                let status = self.virtio.read_config(|c| c.read16(config::STATUS));
                let up = status & VIRTIO_NET_S_LINK_UP != 0;
                if self.link.swap(up, Ordering::Relaxed) != up {
                    log::info!(
                        "virtio-net {}: link {}",
                        self.virtio.function().address(),
                        if up { "up" } else { "down" }
                    );
                }
                ticket.await;
            }
        })
    }

    async fn transmit(&self, frame: &[u8]) -> Result<(), IoError> {
        if frame.len() < ETH_HLEN || frame.len() > ETH_HLEN + VLAN_HLEN + self.mtu {
            return Err(IoError::OutOfRange);
        }
        let popped = self.tx_free.lock().pop();
        let buf = match popped {
            Some(b) => b,
            None => Arc::new(
                self.dma
                    .alloc(HDR_LEN + ETH_HLEN + VLAN_HLEN + self.mtu)
                    .map_err(|_| IoError::NoMemory)?,
            ),
        };
        // No offloads: flags, gso_type (VIRTIO_NET_HDR_GSO_NONE), the lengths
        // and num_buffers are all 0.
        buf.zero(0, HDR_LEN);
        buf.write(HDR_LEN, frame);
        let r = self
            .tx
            .submit(&[Segment::new(buf.clone(), 0, HDR_LEN + frame.len())], &[])
            .await;
        // Kept unless the queue still holds it (the send timed out).
        if Arc::strong_count(&buf) == 1 {
            let mut free = self.tx_free.lock();
            if free.len() < TX_KEEP {
                free.push(buf);
            }
        }
        match r {
            Ok(_) => {
                Counters::bump(&self.counters.tx_frames);
                Ok(())
            }
            Err(e) => {
                Counters::bump(&self.counters.tx_errors);
                Err(e)
            }
        }
    }
}

/// Posts one receive buffer; the future gives the buffer back with the result.
fn post(
    rx: &Arc<Virtqueue>,
    buffer: Segment,
) -> impl Future<Output = (Segment, Result<Completion, IoError>)> + Send + 'static {
    let request = rx.submit(&[], core::slice::from_ref(&buffer));
    async move { (buffer, request.await) }
}

/// `count` receive buffers of `len` bytes, cut from DMA buffers of about
/// [`RX_CHUNK`] bytes.
fn rx_buffers(
    dma: &dyn DmaAllocator,
    len: usize,
    count: usize,
) -> Result<Vec<Segment>, ProbeError> {
    let per = (RX_CHUNK / len).max(1);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let n = per.min(count - out.len());
        let chunk = Arc::new(dma.alloc(n * len).map_err(|_| ProbeError::NoMemory)?);
        out.extend((0..n).map(|i| Segment::new(chunk.clone(), i * len, len)));
    }
    Ok(out)
}

/// A MAC address as `ip link` writes it.
struct MacFmt([u8; 6]);

impl core::fmt::Display for MacFmt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl NetDevice for VirtioNet {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&self) -> bool {
        self.link.load(Ordering::Relaxed)
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn send<'a>(&'a self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), IoError>> {
        Box::pin(self.transmit(frame))
    }

    fn recv(&self) -> BoxFuture<'_, Result<Vec<u8>, IoError>> {
        Box::pin(core::future::poll_fn(move |cx| {
            let mut inbox = self.inbox.lock();
            if let Some(frame) = inbox.frames.pop_front() {
                return Poll::Ready(Ok(frame));
            }
            if inbox.dead {
                return Poll::Ready(Err(IoError::Device));
            }
            if !inbox.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                inbox.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        }))
    }
}

#[cfg(test)]
mod tests;
