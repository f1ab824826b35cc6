//! Host tests: the transport against [`FakeVirtio`], and the split queue
//! against a fake device that reads the available ring and writes the used
//! ring by bus address, including devices that misbehave.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::task::Poll;

use kestrel_driver_kit::fake::{FakeDma, FakeHost, FakePci, FakeRegisters, poll_once};
use kestrel_driver_kit::{DmaBuffer, Host, IoError, PciId, ProbeError};

use crate::fake::{self, FakeVirtio, FakeVirtioOptions};
use crate::features::*;
use crate::id::*;
use crate::pci::{self, VIRTIO_MSI_NO_VECTOR, common, virtio_capabilities};
use crate::status::*;
use crate::{Completion, Request, Segment, VirtioPci, Virtqueue, virtio_device_type};

const MS: u64 = 1_000_000;

/// A driver's view of a fake device, set up through `DRIVER_OK`.
struct Rig {
    host: Arc<FakeHost>,
    dev: Arc<FakeVirtio>,
    virtio: VirtioPci,
    queues: Vec<Arc<Virtqueue>>,
}

impl Rig {
    fn new(options: FakeVirtioOptions, sizes: &[u16]) -> Self {
        let host = FakeHost::new();
        let dev = FakeVirtio::new(options, host.dma.clone());
        let virtio = VirtioPci::new(dev.function()).expect("capabilities");
        virtio.negotiate(0).expect("features");
        let h: Arc<dyn Host> = host.clone();
        let queues = virtio.setup_queues(&h, sizes).expect("queues");
        virtio.driver_ok();
        Self {
            host,
            dev,
            virtio,
            queues,
        }
    }

    /// One queue of `size` on a block-like device.
    fn one(size: u16) -> Self {
        Self::new(FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[size]), &[size])
    }

    fn q(&self) -> &Arc<Virtqueue> {
        &self.queues[0]
    }

    fn buf(&self, len: usize) -> Arc<DmaBuffer> {
        Arc::new(self.host.dma().alloc(len).unwrap())
    }

    /// Lets the interrupt tasks run.
    fn interrupts(&self) {
        self.host.run(1);
    }

    /// Lets the tasks run once more: among them the queue's watchdog, whose
    /// sleeps end at once on the fake host, so this is one watchdog round at
    /// the fake clock's time.
    fn watchdog_round(&self) {
        self.host.run(1);
    }

    fn set_now(&self, ns: u64) {
        self.host
            .now
            .store(ns, core::sync::atomic::Ordering::SeqCst);
    }

    fn no_device_errors(&self) {
        assert_eq!(self.dev.errors(), Vec::<alloc::string::String>::new());
    }
}

fn poll(r: &mut Request) -> Poll<Result<Completion, IoError>> {
    poll_once(r)
}

fn done(written: usize) -> Poll<Result<Completion, IoError>> {
    Poll::Ready(Ok(Completion { written }))
}

fn host_of(rig: &Rig) -> Arc<dyn Host> {
    rig.host.clone()
}

// ---- identification and capabilities ----

#[test]
fn modern_and_transitional_device_ids_give_the_device_type() {
    let id = |device, subsystem| PciId {
        vendor: 0x1af4,
        device,
        subsystem,
        ..Default::default()
    };
    assert_eq!(virtio_device_type(&id(0x1041, 0)), Some(VIRTIO_ID_NET));
    assert_eq!(
        virtio_device_type(&id(0x1042, 0x1100)),
        Some(VIRTIO_ID_BLOCK)
    );
    assert_eq!(virtio_device_type(&id(0x1044, 0)), Some(VIRTIO_ID_RNG));
    // Transitional: the type is the subsystem ID.
    assert_eq!(virtio_device_type(&id(0x1000, 1)), Some(VIRTIO_ID_NET));
    assert_eq!(virtio_device_type(&id(0x1001, 2)), Some(VIRTIO_ID_BLOCK));
    assert_eq!(virtio_device_type(&id(0x1005, 4)), Some(VIRTIO_ID_RNG));
    assert_eq!(
        virtio_device_type(&id(0x1001, 0)),
        None,
        "type 0 is invalid"
    );
    assert_eq!(virtio_device_type(&id(0x1040, 0)), None);
    assert_eq!(virtio_device_type(&id(0x1080, 0)), None);
    let other = PciId {
        vendor: 0x8086,
        device: 0x1041,
        ..Default::default()
    };
    assert_eq!(virtio_device_type(&other), None);
}

#[test]
fn capabilities_are_found_and_their_registers_mapped() {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[128]);
    o.device_config = vec![1, 2, 3, 4, 5, 6, 7, 8];
    let dev = FakeVirtio::new(o, FakeDma::new());
    let caps = virtio_capabilities(&*dev.function());
    let types: Vec<u8> = caps.iter().map(|c| c.cfg_type).collect();
    assert_eq!(types, vec![1, 2, 3, 4]);
    assert_eq!(caps[1].notify_off_multiplier, fake::NOTIFY_OFF_MULTIPLIER);
    assert_eq!(caps[2].offset as usize, fake::ISR_AT);

    let v = VirtioPci::new(dev.function()).unwrap();
    assert_eq!(v.device_type(), VIRTIO_ID_BLOCK);
    assert_eq!(v.num_queues(), 1);
    assert_eq!(v.config_len(), 8);
    assert_eq!(v.read_config(|c| c.read64(0)), 0x0807_0605_0403_0201);
    assert_eq!(dev.status_log(), vec![], "new() leaves the device alone");
}

#[test]
fn a_transitional_device_is_driven_through_its_modern_capabilities() {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[64]);
    o.transitional = true;
    let rig = Rig::new(o, &[64]);
    assert_eq!(rig.dev.pci.id.device, 0x1001);
    assert_eq!(rig.virtio.device_type(), VIRTIO_ID_BLOCK);
    assert_eq!(
        rig.dev.status() & VIRTIO_CONFIG_S_DRIVER_OK,
        VIRTIO_CONFIG_S_DRIVER_OK
    );
}

#[test]
fn a_legacy_only_device_is_refused() {
    let pci = FakePci::new(
        PciId {
            vendor: 0x1af4,
            device: 0x1001,
            subsystem: 2,
            ..Default::default()
        },
        0,
    );
    pci.set_bar(0, FakeRegisters::new(0x40));
    assert!(matches!(
        VirtioPci::new(pci),
        Err(ProbeError::Unsupported(_))
    ));
    let not_virtio = FakePci::new(
        PciId {
            vendor: 0x8086,
            device: 0x100e,
            ..Default::default()
        },
        0,
    );
    assert!(VirtioPci::new(not_virtio).is_err());
}

#[test]
fn unusable_capabilities_are_skipped_for_the_next_of_their_type() {
    let pci = FakePci::new(
        PciId {
            vendor: 0x1af4,
            device: 0x1042,
            subsystem: 2,
            ..Default::default()
        },
        0,
    );
    // A reserved BAR number, then a range that runs off the end of the BAR,
    // then the real ones.
    fake::add_virtio_cap(&pci, 0x40, pci::VIRTIO_PCI_CAP_COMMON_CFG, 7, 0, 0x1000);
    fake::add_virtio_cap(
        &pci,
        0x50,
        pci::VIRTIO_PCI_CAP_COMMON_CFG,
        4,
        0x3ff0,
        0x1000,
    );
    fake::add_virtio_cap(&pci, 0x60, pci::VIRTIO_PCI_CAP_COMMON_CFG, 4, 0x1000, 0x100);
    fake::add_virtio_cap(&pci, 0x70, pci::VIRTIO_PCI_CAP_NOTIFY_CFG, 4, 0x2000, 0x100);
    fake::add_virtio_cap(&pci, 0x88, pci::VIRTIO_PCI_CAP_ISR_CFG, 4, 0x3000, 1);
    let bar = FakeRegisters::new(0x4000);
    bar.poke(0x1000 + common::NUM_QUEUES, &3u16.to_le_bytes());
    pci.set_bar(4, bar);
    let v = VirtioPci::new(pci).unwrap();
    assert_eq!(v.num_queues(), 3, "the third common capability is used");
    assert_eq!(v.config_len(), 0, "no device configuration");
    assert_eq!(v.read_config(|c| c.read32(0)), !0);
}

// ---- the handshake ----

#[test]
fn the_handshake_sets_the_status_bits_in_order() {
    let rig = Rig::one(64);
    assert_eq!(
        rig.dev.status_log(),
        vec![0, 1, 1 | 2, 1 | 2 | 8, 1 | 2 | 8 | 4],
        "reset, ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK"
    );
    assert_eq!(rig.dev.driver_features(), VIRTIO_F_VERSION_1);
    assert!(
        rig.dev
            .pci
            .bus_master
            .load(core::sync::atomic::Ordering::SeqCst)
    );
    rig.no_device_errors();
}

#[test]
fn features_accepted_are_the_wanted_ones_offered_plus_the_implemented_transport_ones() {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_NET, &[64]);
    o.features = VIRTIO_F_VERSION_1
        | 1 << 5
        | 1 << 9
        | VIRTIO_F_EVENT_IDX
        | VIRTIO_F_INDIRECT_DESC
        | VIRTIO_F_ACCESS_PLATFORM
        | VIRTIO_F_RING_PACKED;
    let dev = FakeVirtio::new(o, FakeDma::new());
    let v = VirtioPci::new(dev.function()).unwrap();
    let wanted =
        1 << 5 | 1 << 6 | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_RING_PACKED;
    let accepted = v.negotiate(wanted).unwrap();
    assert_eq!(
        accepted,
        VIRTIO_F_VERSION_1 | 1 << 5 | VIRTIO_F_ACCESS_PLATFORM
    );
    assert_eq!(dev.driver_features(), accepted);
    assert!(v.has_feature(1 << 5));
    assert!(!v.has_feature(VIRTIO_F_EVENT_IDX));
}

#[test]
fn a_device_without_version_1_is_marked_failed() {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[64]);
    o.features = 1 << 5;
    let dev = FakeVirtio::new(o, FakeDma::new());
    let v = VirtioPci::new(dev.function()).unwrap();
    assert!(matches!(
        v.negotiate(1 << 5),
        Err(ProbeError::Unsupported(_))
    ));
    assert_ne!(dev.status() & VIRTIO_CONFIG_S_FAILED, 0);
    assert_eq!(dev.status() & VIRTIO_CONFIG_S_FEATURES_OK, 0);
}

#[test]
fn a_device_that_refuses_features_ok_is_marked_failed() {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[64]);
    o.refuse_features_ok = true;
    let dev = FakeVirtio::new(o, FakeDma::new());
    let v = VirtioPci::new(dev.function()).unwrap();
    assert!(matches!(v.negotiate(0), Err(ProbeError::Device(_))));
    assert_eq!(
        dev.status_log().last(),
        Some(&(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FAILED))
    );
    // And no queue can be set up after that.
    let host: Arc<dyn Host> = FakeHost::new();
    assert!(v.setup_queue(0, 64, None, &host).is_err());
}

// ---- queue setup and interrupts ----

#[test]
fn queue_setup_programs_rings_sizes_vectors_and_enable() {
    let o = FakeVirtioOptions::new(VIRTIO_ID_NET, &[256, 100]);
    let rig = Rig::new(o, &[1024, 1024]);
    assert_eq!(rig.queues[0].size(), 256);
    assert_eq!(
        rig.queues[1].size(),
        64,
        "100 rounds down to a power of two"
    );
    for (i, q) in rig.queues.iter().enumerate() {
        let fq = rig.dev.queue(i as u16);
        let (desc, driver, device) = q.ring_addresses();
        assert_eq!((fq.desc, fq.driver, fq.device), (desc, driver, device));
        assert_eq!(desc % 16, 0);
        assert_eq!(driver % 2, 0);
        assert_eq!(device % 4, 0);
        assert_eq!(fq.size, q.size());
        assert_eq!(fq.enable, 1);
        assert_eq!(
            fq.vector,
            i as u16 + 1,
            "entry 0 is for configuration changes"
        );
    }
    assert_eq!(rig.dev.config_vector(), 0);
    assert!(rig.virtio.msix());
    rig.no_device_errors();
}

#[test]
fn a_smaller_queue_than_the_device_offers_may_be_chosen() {
    let rig = Rig::new(FakeVirtioOptions::new(VIRTIO_ID_RNG, &[1024]), &[8]);
    assert_eq!(rig.q().size(), 8);
    assert_eq!(rig.dev.queue(0).size, 8);
}

#[test]
fn a_vector_the_device_cannot_use_fails_the_queue() {
    let host = FakeHost::new();
    let h: Arc<dyn Host> = host.clone();
    let dev = FakeVirtio::new(
        FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[64]),
        host.dma.clone(),
    );
    let v = VirtioPci::new(dev.function()).unwrap();
    v.negotiate(0).unwrap();
    assert!(v.interrupts(2).unwrap().msix);
    // The fake has 2 vectors: 7 reads back as VIRTIO_MSI_NO_VECTOR.
    assert_eq!(
        v.setup_queue(0, 64, Some(7), &h).err(),
        Some(ProbeError::NoInterrupt)
    );
    assert_eq!(dev.queue(0).vector, VIRTIO_MSI_NO_VECTOR);
    assert_ne!(dev.status() & VIRTIO_CONFIG_S_FAILED, 0);
}

#[test]
fn an_unavailable_or_missing_queue_is_refused() {
    let host = FakeHost::new();
    let h: Arc<dyn Host> = host.clone();
    let dev = FakeVirtio::new(
        FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[0]),
        host.dma.clone(),
    );
    let v = VirtioPci::new(dev.function()).unwrap();
    v.negotiate(0).unwrap();
    assert!(matches!(
        v.setup_queue(0, 64, None, &h),
        Err(ProbeError::Unsupported(_))
    ));
    v.negotiate(0).unwrap();
    assert!(matches!(
        v.setup_queue(1, 64, None, &h),
        Err(ProbeError::Unsupported(_))
    ));
}

#[test]
fn queues_share_vectors_when_there_are_few() {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_NET, &[16, 16, 16]);
    o.msix_vectors = 2;
    let rig = Rig::new(o, &[16, 16, 16]);
    let vectors: Vec<u16> = (0..3).map(|i| rig.dev.queue(i).vector).collect();
    assert_eq!(vectors, vec![1, 1, 1]);
    // A request on the last queue completes through the shared vector.
    let b = rig.buf(64);
    let mut r = rig.queues[2].submit(&[], &[Segment::whole(b.clone())]);
    assert!(poll(&mut r).is_pending());
    assert_eq!(rig.dev.serve(2, |_| vec![1; 10]), 1);
    rig.interrupts();
    assert_eq!(poll(&mut r), done(10));

    let mut o = FakeVirtioOptions::new(VIRTIO_ID_NET, &[16, 16]);
    o.msix_vectors = 1;
    let rig = Rig::new(o, &[16, 16]);
    assert_eq!(rig.dev.queue(0).vector, 0);
    assert_eq!(rig.dev.queue(1).vector, 0);
    assert_eq!(rig.dev.config_vector(), 0);
}

#[test]
fn config_reads_are_retried_while_the_generation_changes() {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[16]);
    o.device_config = vec![0; 8];
    let dev = FakeVirtio::new(o, FakeDma::new());
    let v = VirtioPci::new(dev.function()).unwrap();
    dev.change_config_during_next_read(0, &[9; 8]);
    let mut reads = 0;
    let value = v.read_config(|c| {
        reads += 1;
        (c.read32(0), c.read32(4))
    });
    assert_eq!(
        value,
        (0x0909_0909, 0x0909_0909),
        "never half old, half new"
    );
    assert_eq!(reads, 2);
}

#[test]
fn intx_interrupts_read_the_isr_and_report_config_changes() {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[16]);
    o.msix_vectors = 0;
    o.device_config = vec![0; 8];
    let rig = Rig::new(o, &[16]);
    assert!(!rig.virtio.msix());
    assert_eq!(
        rig.dev.queue(0).vector,
        VIRTIO_MSI_NO_VECTOR,
        "not written without MSI-X"
    );
    rig.interrupts(); // the task starts

    let b = rig.buf(512);
    let mut r = rig.q().submit(&[], &[Segment::whole(b)]);
    assert!(poll(&mut r).is_pending());
    rig.dev.serve(0, |_| vec![5; 3]);
    assert_eq!(rig.dev.isr(), 1);
    rig.interrupts();
    assert_eq!(rig.dev.isr(), 0, "the task read (acknowledged) the ISR");
    assert_eq!(poll(&mut r), done(3));

    let config = rig.virtio.config_changed().clone();
    let mut ticket = config.ticket();
    assert!(poll_once(&mut ticket).is_pending());
    rig.dev.change_config(0, &[1]);
    rig.interrupts();
    assert!(poll_once(&mut ticket).is_ready());
    assert_eq!(rig.virtio.read_config(|c| c.read8(0)), 1);
    rig.no_device_errors();
}

#[test]
fn the_msix_config_vector_reports_config_changes() {
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_NET, &[16]);
    o.device_config = vec![0; 8];
    let rig = Rig::new(o, &[16]);
    rig.interrupts();
    let config = rig.virtio.config_changed().clone();
    let mut ticket = config.ticket();
    rig.interrupts();
    assert!(poll_once(&mut ticket).is_pending(), "no change, no report");
    assert!(rig.dev.change_config(6, &[1, 0]));
    rig.interrupts();
    assert!(poll_once(&mut ticket).is_ready());
}

// ---- requests ----

#[test]
fn a_request_carries_readable_then_writable_buffers_and_returns_the_bytes_written() {
    let rig = Rig::one(16);
    let header = rig.buf(16);
    header.write(0, b"hello");
    let data = rig.buf(4096);
    let mut r = rig.q().submit(
        &[Segment::new(header.clone(), 0, 5)],
        &[
            Segment::new(data.clone(), 0, 512),
            Segment::new(data.clone(), 1024, 1),
        ],
    );
    assert!(poll(&mut r).is_pending());
    assert_eq!(rig.dev.queue(0).notifications, 1);
    assert_eq!(rig.q().free_descriptors(), 13);

    let chain = rig.dev.pop(0).unwrap();
    assert_eq!(chain.readable, b"hello");
    assert_eq!(chain.writable.len(), 2);
    assert_eq!(chain.writable[0], (data.device_addr(), 512));
    assert_eq!(chain.writable[1], (data.device_addr() + 1024, 1));
    assert!(rig.dev.complete(0, chain.head, &[7; 513]));
    rig.dev.interrupt(0);
    assert!(
        poll(&mut r).is_pending(),
        "not before the interrupt task ran"
    );
    rig.interrupts();
    assert_eq!(poll(&mut r), done(513));
    let mut out = [0; 2];
    data.read(511, &mut out);
    assert_eq!(out, [7, 0]);
    data.read(1023, &mut out);
    assert_eq!(out, [0, 7]);
    assert_eq!(rig.q().free_descriptors(), 16);
    assert_eq!(rig.q().in_flight(), 0);
    rig.no_device_errors();
}

#[test]
fn descriptors_are_reused_after_completion() {
    // Chains of 3 and 1 descriptors fill a queue of 4; they finish in
    // alternating order, so freed chains are spliced back into the free list
    // in both orders. Without reuse the second round could not start.
    let rig = Rig::one(4);
    let b = rig.buf(4096);
    let mut long_first = true;
    for i in 0..50u8 {
        let mut long = rig.q().submit(
            &[Segment::new(b.clone(), 0, 8)],
            &[
                Segment::new(b.clone(), 8, 8),
                Segment::new(b.clone(), 16, 8),
            ],
        );
        let mut short = rig.q().submit(&[], &[Segment::new(b.clone(), 24, 1)]);
        assert!(poll(&mut long).is_pending(), "round {i}");
        assert!(poll(&mut short).is_pending(), "round {i}");
        assert_eq!(rig.q().free_descriptors(), 0);
        let l = rig.dev.pop(0).unwrap();
        let s = rig.dev.pop(0).unwrap();
        assert_eq!((l.writable.len(), s.writable.len()), (2, 1));
        let order = if long_first {
            [(&l, 16), (&s, 1)]
        } else {
            [(&s, 1), (&l, 16)]
        };
        for (c, n) in order {
            rig.dev.complete(0, c.head, &vec![i; n]);
            rig.dev.interrupt(0);
            rig.interrupts();
        }
        assert_eq!(poll(&mut long), done(16));
        assert_eq!(poll(&mut short), done(1));
        assert_eq!(rig.q().free_descriptors(), 4);
        long_first = !long_first;
    }
    rig.no_device_errors();
}

#[test]
fn the_ring_indices_wrap_past_65535() {
    let rig = Rig::one(2);
    let b = rig.buf(64);
    for i in 0..70_000u32 {
        let mut r = rig.q().submit(&[], &[Segment::whole(b.clone())]);
        assert!(poll(&mut r).is_pending());
        let len = (i % 60) as usize + 1;
        rig.dev.serve(0, |_| vec![i as u8; len]);
        assert_eq!(rig.q().process_used(), 1, "round {i}");
        assert_eq!(poll(&mut r), done(len));
    }
    assert_eq!(rig.dev.queue(0).used_idx, (70_000u32 % 65_536) as u16);
    assert_eq!(rig.q().free_descriptors(), 2);
    rig.no_device_errors();
}

#[test]
fn requests_completed_out_of_order_get_their_own_results() {
    let rig = Rig::one(8);
    let bufs: Vec<_> = (0..4).map(|_| rig.buf(64)).collect();
    let mut reqs: Vec<Request> = bufs
        .iter()
        .map(|b| rig.q().submit(&[], &[Segment::whole(b.clone())]))
        .collect();
    for r in &mut reqs {
        assert!(poll(r).is_pending());
    }
    let chains: Vec<_> = (0..4).map(|_| rig.dev.pop(0).unwrap()).collect();
    for i in [2, 0, 3, 1] {
        assert!(
            rig.dev
                .complete(0, chains[i].head, &vec![i as u8 + 10; i + 1])
        );
        rig.dev.interrupt(0);
        rig.interrupts();
        assert_eq!(poll(&mut reqs[i]), done(i + 1));
    }
    for (i, b) in bufs.iter().enumerate() {
        let mut out = [0; 1];
        b.read(0, &mut out);
        assert_eq!(out[0], i as u8 + 10);
    }
    rig.no_device_errors();
}

#[test]
fn many_requests_are_in_flight_at_once() {
    let rig = Rig::one(64);
    let b = rig.buf(64 * 16);
    let mut reqs: Vec<Request> = (0..64)
        .map(|i| rig.q().submit(&[], &[Segment::new(b.clone(), i * 16, 16)]))
        .collect();
    for r in &mut reqs {
        assert!(poll(r).is_pending());
    }
    assert_eq!(rig.q().in_flight(), 64);
    assert_eq!(rig.q().free_descriptors(), 0);
    let mut chains: Vec<_> = core::iter::from_fn(|| rig.dev.pop(0)).collect();
    assert_eq!(chains.len(), 64);
    chains.reverse();
    for c in &chains {
        let at = (c.writable[0].0 - b.device_addr()) as usize;
        rig.dev.complete(0, c.head, &[(at / 16) as u8; 16]);
    }
    rig.dev.interrupt(0);
    rig.interrupts();
    for (i, r) in reqs.iter_mut().enumerate() {
        assert_eq!(poll(r), done(16));
        let mut out = [0; 1];
        b.read(i * 16, &mut out);
        assert_eq!(out[0], i as u8);
    }
    assert_eq!(rig.q().free_descriptors(), 64);
    rig.no_device_errors();
}

#[test]
fn a_full_queue_makes_requests_wait_first_come_first_served() {
    let rig = Rig::one(4);
    let b = rig.buf(64);
    let seg =
        |n: usize| -> Vec<Segment> { (0..n).map(|i| Segment::new(b.clone(), i, 1)).collect() };
    let mut r1 = rig.q().submit(&[], &seg(3));
    let mut r2 = rig.q().submit(&[], &seg(2));
    let mut r3 = rig.q().submit(&[], &seg(1));
    assert!(poll(&mut r1).is_pending());
    assert!(poll(&mut r2).is_pending());
    assert!(poll(&mut r3).is_pending());
    assert_eq!(rig.q().in_flight(), 1, "r3 would fit but waits behind r2");
    assert_eq!(rig.q().free_descriptors(), 1);

    let c1 = rig.dev.pop(0).unwrap();
    assert!(rig.dev.pop(0).is_none());
    rig.dev.complete(0, c1.head, &[1; 3]);
    rig.dev.interrupt(0);
    rig.interrupts();
    assert_eq!(poll(&mut r1), done(3));
    assert!(poll(&mut r3).is_pending(), "still r2's turn");
    assert_eq!(rig.q().in_flight(), 0);
    assert!(poll(&mut r2).is_pending());
    assert!(poll(&mut r3).is_pending());
    assert_eq!(rig.q().in_flight(), 2);
    assert_eq!(rig.dev.pop(0).unwrap().writable.len(), 2, "r2 went first");
    assert_eq!(rig.dev.pop(0).unwrap().writable.len(), 1);
    rig.no_device_errors();
}

#[test]
fn a_waiting_request_that_is_dropped_lets_the_next_one_go() {
    let rig = Rig::one(2);
    let b = rig.buf(64);
    let mut r1 = rig.q().submit(&[], &[Segment::new(b.clone(), 0, 1)]);
    let mut big = rig.q().submit(
        &[],
        &[Segment::new(b.clone(), 1, 1), Segment::new(b.clone(), 2, 1)],
    );
    let mut small = rig.q().submit(&[], &[Segment::new(b.clone(), 3, 1)]);
    assert!(poll(&mut r1).is_pending());
    assert!(poll(&mut big).is_pending());
    assert!(poll(&mut small).is_pending());
    assert_eq!(rig.q().in_flight(), 1);
    drop(big);
    assert!(poll(&mut small).is_pending());
    assert_eq!(rig.q().in_flight(), 2, "small took the free descriptor");
}

#[test]
fn a_chain_that_can_never_fit_or_a_bad_segment_fails_at_once() {
    let rig = Rig::one(2);
    let b = rig.buf(4096);
    let three: Vec<Segment> = (0..3).map(|i| Segment::new(b.clone(), i, 1)).collect();
    let mut r = rig.q().submit(&three, &[]);
    assert_eq!(poll(&mut r), Poll::Ready(Err(IoError::OutOfRange)));
    let mut r = rig.q().submit(&[], &[]);
    assert_eq!(poll(&mut r), Poll::Ready(Err(IoError::OutOfRange)));
    let mut r = rig.q().submit(&[Segment::new(b.clone(), 4000, 200)], &[]);
    assert_eq!(poll(&mut r), Poll::Ready(Err(IoError::OutOfRange)));
    let mut r = rig.q().submit(&[Segment::new(b.clone(), 10, 0)], &[]);
    assert_eq!(poll(&mut r), Poll::Ready(Err(IoError::OutOfRange)));
    let mut r = rig
        .q()
        .submit(&[Segment::new(b.clone(), usize::MAX, 2)], &[]);
    assert_eq!(poll(&mut r), Poll::Ready(Err(IoError::OutOfRange)));
    assert_eq!(rig.q().free_descriptors(), 2);
    assert_eq!(rig.dev.queue(0).notifications, 0);
}

#[test]
fn a_device_that_asks_not_to_be_notified_is_not() {
    let rig = Rig::one(8);
    let b = rig.buf(64);
    rig.dev.set_no_notify(0, true);
    let mut r = rig.q().submit(&[], &[Segment::whole(b.clone())]);
    assert!(poll(&mut r).is_pending());
    assert_eq!(rig.dev.queue(0).notifications, 0);
    rig.dev.set_no_notify(0, false);
    let mut r2 = rig.q().submit(&[], &[Segment::whole(b.clone())]);
    assert!(poll(&mut r2).is_pending());
    assert_eq!(rig.dev.queue(0).notifications, 1);
    // The device found both anyway.
    assert_eq!(rig.dev.serve(0, |_| vec![]), 2);
}

// ---- ownership ----

#[test]
fn a_dropped_request_keeps_its_buffers_until_the_device_returns_them() {
    let rig = Rig::one(8);
    let live = rig.host.dma.live();
    let data = rig.buf(4096);
    assert_eq!(rig.host.dma.live(), live + 1);
    let mut r = rig.q().submit(&[], &[Segment::whole(data.clone())]);
    assert!(poll(&mut r).is_pending());
    drop(r);
    drop(data);
    assert_eq!(rig.host.dma.live(), live + 1, "the queue still holds it");

    let chain = rig.dev.pop(0).unwrap();
    // The device writes the buffer after the request was dropped: the memory
    // is still there (a freed buffer would make this a wild write).
    assert!(rig.dev.complete(0, chain.head, &[0xaa; 4096]));
    rig.dev.interrupt(0);
    rig.interrupts();
    assert_eq!(
        rig.host.dma.live(),
        live,
        "freed once the device returned it"
    );
    assert_eq!(rig.q().in_flight(), 0);
    assert_eq!(rig.q().free_descriptors(), 8);
    rig.no_device_errors();
}

#[test]
fn a_device_that_never_answers_times_the_request_out_but_keeps_its_buffers() {
    let rig = Rig::one(8);
    rig.q().set_timeout(Some(5 * MS));
    let live = rig.host.dma.live();
    let data = rig.buf(64);
    let mut r = rig.q().submit(&[], &[Segment::whole(data.clone())]);
    drop(data);
    assert!(poll(&mut r).is_pending());
    // The watchdog's first round sees the request at time 0.
    rig.watchdog_round();
    assert!(poll(&mut r).is_pending());
    rig.set_now(4 * MS);
    rig.watchdog_round();
    assert!(poll(&mut r).is_pending());
    rig.set_now(5 * MS);
    rig.watchdog_round();
    assert_eq!(poll(&mut r), Poll::Ready(Err(IoError::Timeout)));
    assert_eq!(rig.q().in_flight(), 1, "the device still has the chain");
    assert_eq!(rig.host.dma.live(), live + 1);

    // The device wakes up at last: no harm done.
    let chain = rig.dev.pop(0).unwrap();
    assert!(rig.dev.complete(0, chain.head, &[1; 8]));
    assert_eq!(rig.q().process_used(), 1);
    assert_eq!(rig.host.dma.live(), live);
    assert_eq!(rig.q().free_descriptors(), 8);
    rig.no_device_errors();
}

#[test]
fn a_request_without_a_timeout_waits_as_long_as_it_takes() {
    let rig = Rig::one(8);
    let b = rig.buf(64);
    let mut r = rig.q().submit(&[], &[Segment::whole(b)]).timeout(None);
    assert!(poll(&mut r).is_pending());
    rig.watchdog_round();
    rig.set_now(1_000_000 * MS);
    rig.watchdog_round();
    assert!(poll(&mut r).is_pending());
}

#[test]
fn requests_arm_no_timer_of_their_own_one_watchdog_serves_the_queue() {
    let rig = Rig::one(8);
    rig.q().set_timeout(Some(5 * MS));
    let tasks = rig.host.tasks.lock().len();
    let b = rig.buf(64);
    let mut rs: Vec<Request> = (0..3)
        .map(|_| rig.q().submit(&[], &[Segment::whole(b.clone())]))
        .collect();
    for r in &mut rs {
        assert!(poll(r).is_pending());
    }
    assert_eq!(
        rig.host.tasks.lock().len(),
        tasks + 1,
        "one watchdog for the three requests"
    );
    rig.dev.serve(0, |_| vec![1; 8]);
    rig.interrupts();
    for r in &mut rs {
        assert_eq!(poll(r), done(8));
    }
    // Later requests are timed from when the watchdog first sees them, not
    // from the first request.
    rig.set_now(100 * MS);
    let mut late = rig.q().submit(&[], &[Segment::whole(b.clone())]);
    assert!(poll(&mut late).is_pending());
    rig.watchdog_round();
    rig.set_now(104 * MS);
    rig.watchdog_round();
    assert!(poll(&mut late).is_pending());
    rig.set_now(105 * MS);
    rig.watchdog_round();
    assert_eq!(poll(&mut late), Poll::Ready(Err(IoError::Timeout)));
    assert_eq!(rig.host.tasks.lock().len(), tasks + 1, "still one watchdog");
}

#[test]
fn a_request_waiting_for_room_times_out_too() {
    let rig = Rig::one(1);
    rig.q().set_timeout(Some(MS));
    let b = rig.buf(64);
    let mut r1 = rig
        .q()
        .submit(&[], &[Segment::whole(b.clone())])
        .timeout(None);
    let mut r2 = rig.q().submit(&[], &[Segment::whole(b.clone())]);
    let mut r3 = rig
        .q()
        .submit(&[], &[Segment::whole(b.clone())])
        .timeout(None);
    assert!(poll(&mut r1).is_pending());
    assert!(poll(&mut r2).is_pending());
    assert!(poll(&mut r3).is_pending());
    rig.watchdog_round();
    rig.set_now(MS);
    rig.watchdog_round();
    assert_eq!(poll(&mut r2), Poll::Ready(Err(IoError::Timeout)));
    rig.dev.serve(0, |_| vec![]);
    rig.interrupts();
    assert_eq!(poll(&mut r1), done(0));
    assert!(poll(&mut r3).is_pending());
    assert_eq!(rig.q().in_flight(), 1, "r3 is next, r2 left the line");
}

// ---- a misbehaving device ----

#[test]
fn a_used_index_past_what_was_made_available_breaks_the_queue() {
    let rig = Rig::one(8);
    let live = rig.host.dma.live();
    let b = rig.buf(64);
    let mut r1 = rig.q().submit(&[], &[Segment::new(b.clone(), 0, 8)]);
    let mut r2 = rig.q().submit(&[], &[Segment::new(b.clone(), 8, 8)]);
    assert!(poll(&mut r1).is_pending());
    assert!(poll(&mut r2).is_pending());
    drop(b);
    rig.dev.set_used_idx(0, 5);
    rig.dev.interrupt(0);
    rig.interrupts();
    assert!(rig.q().is_broken());
    assert_eq!(poll(&mut r1), Poll::Ready(Err(IoError::Device)));
    assert_eq!(poll(&mut r2), Poll::Ready(Err(IoError::Device)));
    assert_eq!(
        rig.host.dma.live(),
        live + 1,
        "buffers stay: the device may still write them"
    );
    let c = rig.buf(8);
    let mut r3 = rig.q().submit(&[], &[Segment::whole(c)]);
    assert_eq!(poll(&mut r3), Poll::Ready(Err(IoError::Device)));
    assert_eq!(rig.q().process_used(), 0);

    // Only a reset device gives its buffers back.
    assert!(!rig.q().reclaim_after_reset());
    assert_eq!(rig.host.dma.live(), live + 1);
    rig.virtio.reset().unwrap();
    assert!(rig.q().reclaim_after_reset());
    assert_eq!(rig.host.dma.live(), live);
}

#[test]
fn a_used_entry_naming_no_request_in_flight_is_ignored() {
    let rig = Rig::one(8);
    let b = rig.buf(64);
    let mut r = rig.q().submit(&[], &[Segment::whole(b.clone())]);
    assert!(poll(&mut r).is_pending());
    let chain = rig.dev.pop(0).unwrap();
    // Out of range, then in range but not a head in flight.
    rig.dev.push_used(0, 9999, 4);
    assert_eq!(rig.q().process_used(), 0);
    rig.dev.push_used(0, u32::from(chain.head) + 1, 4);
    assert_eq!(rig.q().process_used(), 0);
    assert_eq!(rig.q().bad_entries(), 2);
    assert!(poll(&mut r).is_pending());
    assert!(!rig.q().is_broken());
    // The real answer still completes it.
    rig.dev.complete(0, chain.head, &[3; 4]);
    assert_eq!(rig.q().process_used(), 1);
    assert_eq!(poll(&mut r), done(4));

    // The same chain returned twice, while another is in flight.
    let mut r2 = rig.q().submit(&[], &[Segment::whole(b.clone())]);
    assert!(poll(&mut r2).is_pending());
    rig.dev.push_used(0, u32::from(chain.head), 0);
    rig.q().process_used();
    let c2 = rig.dev.pop(0).unwrap();
    if c2.head == chain.head {
        // The new request reused that head: the duplicate completed it, which
        // a driver cannot tell from a real completion.
        assert_eq!(poll(&mut r2), done(0));
    } else {
        assert_eq!(rig.q().bad_entries(), 3);
        assert!(poll(&mut r2).is_pending());
    }
}

#[test]
fn a_length_past_the_writable_buffers_fails_the_request() {
    let rig = Rig::one(8);
    let live = rig.host.dma.live();
    let b = rig.buf(64);
    let mut r = rig.q().submit(
        &[Segment::new(b.clone(), 0, 16)],
        &[Segment::new(b.clone(), 16, 16)],
    );
    assert!(poll(&mut r).is_pending());
    drop(b);
    let chain = rig.dev.pop(0).unwrap();
    rig.dev.push_used(0, u32::from(chain.head), 17);
    rig.dev.interrupt(0);
    rig.interrupts();
    assert_eq!(poll(&mut r), Poll::Ready(Err(IoError::Device)));
    assert_eq!(
        rig.q().free_descriptors(),
        8,
        "the device did return the chain"
    );
    assert_eq!(rig.host.dma.live(), live);
    assert!(!rig.q().is_broken());
}

#[test]
fn a_device_that_scribbles_on_the_descriptor_table_does_not_confuse_the_free_list() {
    let rig = Rig::one(4);
    let b = rig.buf(64);
    let segs: Vec<Segment> = (0..4).map(|i| Segment::new(b.clone(), i, 1)).collect();
    let mut r = rig.q().submit(&segs[..2], &segs[2..]);
    assert!(poll(&mut r).is_pending());
    let chain = rig.dev.pop(0).unwrap();
    // Every `next` field and flag overwritten with garbage.
    let (desc, _, _) = rig.q().ring_addresses();
    for i in 0..4u64 {
        rig.host.dma.write_at(desc + 16 * i + 12, &[0xff; 4]);
    }
    rig.dev.complete(0, chain.head, &[1, 1]);
    assert_eq!(rig.q().process_used(), 1);
    assert_eq!(poll(&mut r), done(2));
    assert_eq!(rig.q().free_descriptors(), 4);
    // The queue still works, with well-formed chains.
    let mut r = rig.q().submit(&segs[..3], &segs[3..]);
    assert!(poll(&mut r).is_pending());
    let chain = rig.dev.pop(0).unwrap();
    assert_eq!(chain.readable.len(), 3);
    assert_eq!(chain.writable.len(), 1);
    rig.no_device_errors();
}

#[test]
fn requests_run_as_tasks_complete_through_the_interrupt_task() {
    let rig = Rig::one(16);
    let results = Arc::new(spin::Mutex::new(Vec::new()));
    for i in 0..5usize {
        let q = rig.q().clone();
        let b = rig.buf(64);
        let results = results.clone();
        host_of(&rig).spawn(
            "request",
            alloc::boxed::Box::pin(async move {
                let r = q.submit(&[], &[Segment::whole(b)]).await;
                results.lock().push((i, r));
            }),
        );
    }
    rig.host.run(1);
    assert_eq!(rig.q().in_flight(), 5);
    assert_eq!(rig.dev.serve(0, |c| vec![0; c.writable_len() / 2]), 5);
    rig.host.run(2);
    let mut r = results.lock().clone();
    r.sort_by_key(|(i, _)| *i);
    assert_eq!(
        r,
        (0..5)
            .map(|i| (i, Ok(Completion { written: 2048 })))
            .collect::<Vec<_>>()
    );
}

#[test]
fn requests_and_queues_can_cross_tasks_and_cpus() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Request>();
    send_sync::<Virtqueue>();
    send_sync::<VirtioPci>();
    send_sync::<FakeVirtio>();
}
