//! The driver against kestrel-virtio's fake device acting as a NIC: frames
//! sent reach the device behind a zeroed header; frames the device delivers
//! come out of `recv` in order, through more of them than the ring holds;
//! drops when nobody reads; link changes; a broken receive queue.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use core::task::Poll;

use kestrel_driver_kit::fake::{FakeHost, poll_once};
use kestrel_driver_kit::{ClassDevice, Driver, Host, IoError, NetDevice, PciId, ProbeError};
use kestrel_virtio::fake::{FakeVirtio, FakeVirtioOptions};
use kestrel_virtio::features::VIRTIO_F_VERSION_1;
use kestrel_virtio::id::VIRTIO_ID_NET;

use super::*;

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

struct Spec {
    features: u64,
    status: u16,
    mtu: u16,
    rx: u16,
    tx: u16,
    msix: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            features: VIRTIO_NET_F_MAC
                | VIRTIO_NET_F_STATUS
                | VIRTIO_NET_F_MRG_RXBUF
                | VIRTIO_NET_F_CSUM
                | VIRTIO_NET_F_GUEST_CSUM
                | VIRTIO_NET_F_GUEST_TSO4
                | VIRTIO_NET_F_HOST_TSO4
                | VIRTIO_NET_F_CTRL_VQ
                | VIRTIO_NET_F_MQ,
            status: VIRTIO_NET_S_LINK_UP,
            mtu: 1500,
            rx: 16,
            tx: 16,
            msix: true,
        }
    }
}

struct Rig {
    host: Arc<FakeHost>,
    dev: Arc<FakeVirtio>,
    nic: Arc<VirtioNet>,
}

fn options(spec: &Spec) -> FakeVirtioOptions {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_NET, &[spec.rx, spec.tx, 64]);
    o.features = VIRTIO_F_VERSION_1 | spec.features;
    let mut c = vec![0u8; 12];
    c[0..6].copy_from_slice(&MAC);
    c[6..8].copy_from_slice(&spec.status.to_le_bytes());
    c[8..10].copy_from_slice(&1u16.to_le_bytes());
    c[10..12].copy_from_slice(&spec.mtu.to_le_bytes());
    o.device_config = c;
    if !spec.msix {
        o.msix_vectors = 0;
    }
    o
}

impl Rig {
    fn new(spec: Spec) -> Self {
        let host = FakeHost::new();
        let dev = FakeVirtio::new(options(&spec), host.dma.clone());
        let h: Arc<dyn Host> = host.clone();
        let nic = VirtioNet::probe(dev.function(), &h).expect("probe");
        // The receive task posts its buffers.
        host.run(2);
        Self { host, dev, nic }
    }

    /// The device delivers `frames`, each in the next receive buffer, then
    /// interrupts; the driver's tasks run.
    fn deliver(&self, frames: &[Vec<u8>]) {
        for f in frames {
            let c = self.dev.pop(RX_QUEUE).expect("a receive buffer posted");
            assert!(c.readable.is_empty());
            assert_eq!(c.writable.len(), 1);
            let mut data = vec![0u8; HDR_LEN];
            data[10] = 1; // num_buffers
            data.extend_from_slice(f);
            assert!(self.dev.complete(RX_QUEUE, c.head, &data));
        }
        self.dev.interrupt(RX_QUEUE);
        self.host.run(2);
    }

    fn recv_now(&self) -> Poll<Result<Vec<u8>, IoError>> {
        let mut r = self.nic.recv();
        poll_once(&mut r)
    }

    /// Receive buffers the device holds now.
    fn posted(&self) -> usize {
        let q = self.dev.queue(RX_QUEUE);
        let avail = self
            .dev
            .dma
            .read_u16(q.driver + 2)
            .expect("the available ring");
        usize::from(avail.wrapping_sub(q.last_avail))
    }

    fn no_device_errors(&self) {
        assert_eq!(self.dev.errors(), Vec::<alloc::string::String>::new());
    }
}

fn frame(n: usize, len: usize) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend((0..len - ETH_HLEN).map(|i| (i + n * 7) as u8));
    f[14] = n as u8;
    f[15] = (n >> 8) as u8;
    f
}

// ---- matching and probing ----

#[test]
fn matches_modern_and_transitional_nics_only() {
    let id = |device, subsystem| PciId {
        vendor: 0x1af4,
        device,
        subsystem,
        ..PciId::default()
    };
    assert!(VirtioNetDriver.matches(&id(0x1041, 0)));
    assert!(VirtioNetDriver.matches(&id(0x1000, 1)));
    assert!(!VirtioNetDriver.matches(&id(0x1042, 0)), "a disk");
}

#[test]
fn probe_registers_eth_with_the_mac_and_link_and_takes_no_offloads() {
    let host = FakeHost::new();
    let mut o = options(&Spec::default());
    o.transitional = true;
    let dev = FakeVirtio::new(o, host.dma.clone());
    VirtioNetDriver
        .probe(dev.function(), host.clone())
        .expect("probe");
    let devices = host.devices.lock();
    let Some(ClassDevice::Net("eth", nic)) = devices.first() else {
        panic!("registered {devices:?}");
    };
    assert_eq!(nic.mac(), MAC);
    assert!(nic.link_up());
    assert_eq!(nic.mtu(), 1500);
    assert_eq!(
        dev.driver_features(),
        VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS,
        "no MRG_RXBUF, offloads, control queue or MQ"
    );
    assert_eq!(dev.status() & 4, 4, "DRIVER_OK");
    assert_eq!(dev.queue(0).enable, 1);
    assert_eq!(dev.queue(1).enable, 1);
    assert_eq!(dev.queue(2).enable, 0, "the control queue is left alone");
}

#[test]
fn the_receive_queue_is_kept_full_of_buffers_that_never_time_out() {
    let rig = Rig::new(Spec::default());
    assert_eq!(rig.nic.rx_queue().timeout(), None);
    assert!(rig.nic.tx_queue().timeout().is_some());
    assert_eq!(rig.posted(), 16, "every entry of the ring");
    assert!(rig.dev.queue(RX_QUEUE).notifications > 0);
    let c = rig.dev.pop(RX_QUEUE).unwrap();
    assert!(c.writable[0].1 as usize >= HDR_LEN + 1514, "{c:?}");
    assert_eq!(rig.nic.rx_buffer_len(), 2048);
    // Hours of silence change nothing.
    rig.host.now.store(u64::MAX / 2, Ordering::SeqCst);
    rig.host.run(3);
    assert_eq!(rig.posted(), 15);
    assert_eq!(rig.nic.stats(), NetStats::default());
    rig.no_device_errors();
}

#[test]
fn a_device_without_mac_gets_a_made_up_local_unicast_address() {
    let rig = Rig::new(Spec {
        features: VIRTIO_NET_F_STATUS,
        ..Spec::default()
    });
    let mac = rig.nic.mac();
    assert_ne!(mac, MAC);
    assert_eq!(mac[0] & 3, 2, "locally administered, unicast");
}

#[test]
fn without_status_the_link_is_up() {
    let rig = Rig::new(Spec {
        features: VIRTIO_NET_F_MAC,
        status: 0,
        ..Spec::default()
    });
    assert!(rig.nic.link_up());
}

#[test]
fn the_mtu_from_the_configuration_sizes_frames_and_buffers() {
    let rig = Rig::new(Spec {
        features: Spec::default().features | VIRTIO_NET_F_MTU,
        mtu: 9000,
        ..Spec::default()
    });
    assert_eq!(rig.nic.mtu(), 9000);
    assert!(rig.nic.rx_buffer_len() >= HDR_LEN + ETH_HLEN + VLAN_HLEN + 9000);
    let c = rig.dev.pop(RX_QUEUE).unwrap();
    assert_eq!(c.writable[0].1 as usize, rig.nic.rx_buffer_len());
    let big = frame(1, ETH_HLEN + 9000);
    let mut send = rig.nic.send(&big);
    assert!(poll_once(&mut send).is_pending());
    let tx = rig.dev.pop(TX_QUEUE).unwrap();
    assert_eq!(&tx.readable[HDR_LEN..], &big[..]);

    let host = FakeHost::new();
    let dev = FakeVirtio::new(
        options(&Spec {
            features: VIRTIO_NET_F_MTU,
            mtu: 20,
            ..Spec::default()
        }),
        host.dma.clone(),
    );
    let h: Arc<dyn Host> = host.clone();
    assert!(matches!(
        VirtioNet::probe(dev.function(), &h),
        Err(ProbeError::Device(_))
    ));
}

// ---- sending ----

#[test]
fn a_frame_sent_reaches_the_device_after_a_zeroed_header() {
    let rig = Rig::new(Spec::default());
    let f = frame(1, 60);
    let mut send = rig.nic.send(&f);
    assert!(
        poll_once(&mut send).is_pending(),
        "until the device takes it"
    );
    let c = rig.dev.pop(TX_QUEUE).expect("a frame");
    assert!(c.writable.is_empty(), "nothing for the device to write");
    assert_eq!(&c.readable[..HDR_LEN], &[0; HDR_LEN]);
    assert_eq!(&c.readable[HDR_LEN..], &f[..]);
    assert!(rig.dev.complete(TX_QUEUE, c.head, &[]));
    rig.dev.interrupt(TX_QUEUE);
    rig.host.run(1);
    assert_eq!(poll_once(&mut send), Poll::Ready(Ok(())));
    assert_eq!(rig.nic.stats().tx_frames, 1);
    rig.no_device_errors();
}

#[test]
fn frames_too_short_or_too_long_are_refused_without_the_device() {
    let rig = Rig::new(Spec::default());
    for len in [0, 13, 1500 + 18 + 1, 4000] {
        let f = vec![0u8; len];
        let mut send = rig.nic.send(&f);
        assert_eq!(
            poll_once(&mut send),
            Poll::Ready(Err(IoError::OutOfRange)),
            "{len} bytes"
        );
    }
    // The largest: MTU, Ethernet header and a VLAN tag.
    let f = frame(0, 1518);
    let mut send = rig.nic.send(&f);
    assert!(poll_once(&mut send).is_pending());
    assert_eq!(rig.dev.queue(TX_QUEUE).notifications, 1);
}

#[test]
fn many_sends_in_flight_and_transmit_buffers_are_reused() {
    let rig = Rig::new(Spec::default());
    let frames: Vec<Vec<u8>> = (0..8).map(|n| frame(n, 100 + n)).collect();
    let mut sends: Vec<_> = frames.iter().map(|f| rig.nic.send(f)).collect();
    for s in sends.iter_mut() {
        assert!(poll_once(s).is_pending());
    }
    let mut got = Vec::new();
    assert_eq!(
        rig.dev.serve(TX_QUEUE, |c| {
            got.push(c.readable[HDR_LEN..].to_vec());
            vec![]
        }),
        8
    );
    assert_eq!(got, frames, "in the order sent");
    rig.host.run(1);
    for s in sends.iter_mut() {
        assert_eq!(poll_once(s), Poll::Ready(Ok(())));
    }
    drop(sends);
    let live = rig.host.dma.live();
    for n in 0..50 {
        let f = frame(n, 64);
        let mut send = rig.nic.send(&f);
        assert!(poll_once(&mut send).is_pending());
        rig.dev.serve(TX_QUEUE, |_| vec![]);
        rig.host.run(1);
        assert_eq!(poll_once(&mut send), Poll::Ready(Ok(())));
    }
    assert_eq!(rig.host.dma.live(), live, "no new DMA memory");
    assert_eq!(rig.nic.stats().tx_frames, 58);
}

// ---- receiving ----

#[test]
fn frames_the_device_delivers_come_out_of_recv_in_order() {
    let rig = Rig::new(Spec::default());
    let mut waiting = rig.nic.recv();
    assert!(poll_once(&mut waiting).is_pending(), "nothing yet");
    let frames: Vec<Vec<u8>> = (0..5).map(|n| frame(n, 60 + n * 100)).collect();
    rig.deliver(&frames);
    assert_eq!(poll_once(&mut waiting), Poll::Ready(Ok(frames[0].clone())));
    for f in &frames[1..] {
        assert_eq!(rig.recv_now(), Poll::Ready(Ok(f.clone())));
    }
    assert!(rig.recv_now().is_pending());
    assert_eq!(rig.nic.stats().rx_frames, 5);
    assert_eq!(rig.posted(), 16, "the buffers were posted again");
    rig.no_device_errors();
}

#[test]
fn many_more_frames_than_the_ring_holds_all_arrive() {
    let rig = Rig::new(Spec::default());
    let mut n = 0;
    for round in 0..25 {
        // 10 at a time: the ring of 16 must be refilled as it goes.
        let frames: Vec<Vec<u8>> = (0..10).map(|i| frame(n + i, 64 + round)).collect();
        rig.deliver(&frames);
        for f in &frames {
            assert_eq!(rig.recv_now(), Poll::Ready(Ok(f.clone())), "frame {n}");
            n += 1;
        }
        assert_eq!(rig.posted(), 16);
    }
    assert_eq!(rig.nic.stats().rx_frames, 250);
    rig.no_device_errors();
}

#[test]
fn frames_come_out_in_the_order_the_device_used_the_buffers() {
    let rig = Rig::new(Spec::default());
    // The device fills the buffers last-posted first.
    let chains: Vec<_> = (0..6).map(|_| rig.dev.pop(RX_QUEUE).unwrap()).collect();
    let frames: Vec<Vec<u8>> = (0..6).map(|n| frame(n, 80)).collect();
    for (c, f) in chains.iter().rev().zip(&frames) {
        let mut data = vec![0u8; HDR_LEN];
        data.extend_from_slice(f);
        rig.dev.complete(RX_QUEUE, c.head, &data);
    }
    rig.dev.interrupt(RX_QUEUE);
    rig.host.run(2);
    for f in &frames {
        assert_eq!(rig.recv_now(), Poll::Ready(Ok(f.clone())));
    }
}

#[test]
fn when_nobody_reads_frames_are_dropped_and_counted() {
    let rig = Rig::new(Spec::default());
    let total = INBOX + 20;
    let mut n = 0;
    while n < total {
        let k = (total - n).min(16);
        let frames: Vec<Vec<u8>> = (0..k).map(|i| frame(n + i, 60)).collect();
        rig.deliver(&frames);
        n += k;
    }
    let s = rig.nic.stats();
    assert_eq!((s.rx_frames, s.rx_dropped), (INBOX as u64, 20));
    // The oldest are kept; the newest were dropped.
    assert_eq!(rig.recv_now(), Poll::Ready(Ok(frame(0, 60))));
    for _ in 1..INBOX {
        assert!(rig.recv_now().is_ready());
    }
    assert!(rig.recv_now().is_pending());
    // And receiving goes on.
    rig.deliver(&[frame(9, 70)]);
    assert_eq!(rig.recv_now(), Poll::Ready(Ok(frame(9, 70))));
}

#[test]
fn a_completion_without_a_frame_is_an_error_and_the_buffer_is_reposted() {
    let rig = Rig::new(Spec::default());
    let c = rig.dev.pop(RX_QUEUE).unwrap();
    rig.dev.complete(RX_QUEUE, c.head, &[0; HDR_LEN + 5]);
    let c = rig.dev.pop(RX_QUEUE).unwrap();
    // A used length past the buffer: the queue fails it.
    rig.dev.push_used(RX_QUEUE, u32::from(c.head), 1 << 20);
    rig.dev.interrupt(RX_QUEUE);
    rig.host.run(2);
    assert!(rig.recv_now().is_pending());
    assert_eq!(rig.nic.stats().rx_errors, 2);
    assert_eq!(rig.posted(), 16);
    rig.deliver(&[frame(3, 60)]);
    assert_eq!(rig.recv_now(), Poll::Ready(Ok(frame(3, 60))));
}

#[test]
fn a_broken_receive_queue_ends_recv_with_an_error() {
    let rig = Rig::new(Spec::default());
    rig.deliver(&[frame(1, 60)]);
    let mut waiting = rig.nic.recv();
    assert_eq!(poll_once(&mut waiting), Poll::Ready(Ok(frame(1, 60))));
    let mut waiting = rig.nic.recv();
    assert!(poll_once(&mut waiting).is_pending());
    // The device claims far more completions than buffers it holds.
    let idx = rig.dev.queue(RX_QUEUE).used_idx;
    rig.dev.set_used_idx(RX_QUEUE, idx.wrapping_add(100));
    rig.dev.interrupt(RX_QUEUE);
    rig.host.run(3);
    assert!(rig.nic.rx_queue().is_broken());
    assert_eq!(poll_once(&mut waiting), Poll::Ready(Err(IoError::Device)));
    assert_eq!(rig.recv_now(), Poll::Ready(Err(IoError::Device)));
}

#[test]
fn the_nic_works_on_a_legacy_interrupt_line() {
    let rig = Rig::new(Spec {
        msix: false,
        ..Spec::default()
    });
    rig.deliver(&[frame(1, 60), frame(2, 61)]);
    assert_eq!(rig.recv_now(), Poll::Ready(Ok(frame(1, 60))));
    assert_eq!(rig.recv_now(), Poll::Ready(Ok(frame(2, 61))));
    let f = frame(3, 90);
    let mut send = rig.nic.send(&f);
    assert!(poll_once(&mut send).is_pending());
    rig.dev.serve(TX_QUEUE, |_| vec![]);
    rig.host.run(1);
    assert_eq!(poll_once(&mut send), Poll::Ready(Ok(())));
}

// ---- the link ----

#[test]
fn a_configuration_change_updates_the_link() {
    let rig = Rig::new(Spec::default());
    assert!(rig.nic.link_up());
    assert!(rig.dev.change_config(config::STATUS, &0u16.to_le_bytes()));
    rig.host.run(2);
    assert!(!rig.nic.link_up());
    assert!(
        rig.dev
            .change_config(config::STATUS, &VIRTIO_NET_S_LINK_UP.to_le_bytes())
    );
    rig.host.run(2);
    assert!(rig.nic.link_up());

    let rig = Rig::new(Spec {
        status: 0,
        msix: false,
        ..Spec::default()
    });
    assert!(!rig.nic.link_up(), "down from the start");
    rig.dev
        .change_config(config::STATUS, &VIRTIO_NET_S_LINK_UP.to_le_bytes());
    rig.host.run(2);
    assert!(rig.nic.link_up(), "through the ISR's config bit");
}
