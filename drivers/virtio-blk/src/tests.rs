//! The driver against kestrel-virtio's fake device acting as a disk backed by
//! a `Vec`: data round trips, splitting at the device's limits, many requests
//! completed out of order, flush, discard, read-only disks, the device's error
//! statuses, and devices that misbehave or never answer.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::pin;
use core::task::Poll;

use kestrel_driver_kit::fake::{FakeHost, poll_once};
use kestrel_driver_kit::{BlockDevice, ClassDevice, Driver, Host, IoError, PciId, ProbeError};
use kestrel_virtio::fake::{Chain, FakeVirtio, FakeVirtioOptions};
use kestrel_virtio::features::VIRTIO_F_VERSION_1;
use kestrel_virtio::id::VIRTIO_ID_BLOCK;

use super::*;

const S: usize = SECTOR;

/// The device's side: a disk in a `Vec`, answering requests as QEMU does.
#[derive(Default)]
struct Disk {
    bytes: Vec<u8>,
    /// Answer every request with this status instead of doing it.
    status: Option<u8>,
    /// (type, header sector, data bytes) of every request.
    seen: Vec<(u32, u64, usize)>,
    /// Discard ranges: (sector, count, flags).
    discarded: Vec<(u64, u32, u32)>,
}

impl Disk {
    fn handle(&mut self, chain: &Chain) -> Vec<u8> {
        let h = &chain.readable;
        let kind = u32::from_le_bytes(h[0..4].try_into().unwrap());
        let sector = u64::from_le_bytes(h[8..16].try_into().unwrap());
        let at = sector as usize * S;
        let status_len = chain.writable.last().map(|&(_, l)| l);
        assert_eq!(status_len, Some(1), "the status byte ends every chain");
        let data = match kind {
            VIRTIO_BLK_T_IN => chain.writable_len() - 1,
            _ => h.len() - HEADER_LEN,
        };
        self.seen.push((kind, sector, data));
        if let Some(s) = self.status {
            let mut r = vec![0; if kind == VIRTIO_BLK_T_IN { data } else { 0 }];
            r.push(s);
            return r;
        }
        match kind {
            VIRTIO_BLK_T_IN => {
                let mut r = self.bytes[at..at + data].to_vec();
                r.push(VIRTIO_BLK_S_OK);
                r
            }
            VIRTIO_BLK_T_OUT => {
                self.bytes[at..at + data].copy_from_slice(&h[HEADER_LEN..]);
                vec![VIRTIO_BLK_S_OK]
            }
            VIRTIO_BLK_T_FLUSH => vec![VIRTIO_BLK_S_OK],
            VIRTIO_BLK_T_DISCARD => {
                assert_eq!(sector, 0, "the header's sector is unused for a discard");
                for r in h[HEADER_LEN..].chunks(16) {
                    let s = u64::from_le_bytes(r[0..8].try_into().unwrap());
                    let n = u32::from_le_bytes(r[8..12].try_into().unwrap());
                    let flags = u32::from_le_bytes(r[12..16].try_into().unwrap());
                    self.discarded.push((s, n, flags));
                    self.bytes[s as usize * S..(s as usize + n as usize) * S].fill(0);
                }
                vec![VIRTIO_BLK_S_OK]
            }
            _ => vec![VIRTIO_BLK_S_UNSUPP],
        }
    }
}

/// How the fake disk is made.
struct Spec {
    sectors: u64,
    features: u64,
    size_max: u32,
    seg_max: u32,
    blk_size: u32,
    max_discard_sectors: u32,
    queue: u16,
    msix: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            sectors: 2048,
            features: VIRTIO_BLK_F_SEG_MAX
                | VIRTIO_BLK_F_BLK_SIZE
                | VIRTIO_BLK_F_FLUSH
                | VIRTIO_BLK_F_DISCARD
                | VIRTIO_BLK_F_MQ,
            size_max: 0,
            seg_max: 126,
            blk_size: 512,
            max_discard_sectors: 1 << 22,
            queue: 128,
            msix: true,
        }
    }
}

fn config(spec: &Spec) -> Vec<u8> {
    let mut c = vec![0u8; 60];
    c[0..8].copy_from_slice(&spec.sectors.to_le_bytes());
    c[8..12].copy_from_slice(&spec.size_max.to_le_bytes());
    c[12..16].copy_from_slice(&spec.seg_max.to_le_bytes());
    c[20..24].copy_from_slice(&spec.blk_size.to_le_bytes());
    c[34..36].copy_from_slice(&1u16.to_le_bytes());
    c[36..40].copy_from_slice(&spec.max_discard_sectors.to_le_bytes());
    c[40..44].copy_from_slice(&1u32.to_le_bytes());
    c[44..48].copy_from_slice(&1u32.to_le_bytes());
    c
}

struct Rig {
    host: Arc<FakeHost>,
    dev: Arc<FakeVirtio>,
    blk: Arc<VirtioBlk>,
    disk: spin::Mutex<Disk>,
}

impl Rig {
    fn new(spec: Spec) -> Self {
        let host = FakeHost::new();
        let mut o = FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[spec.queue]);
        o.features = VIRTIO_F_VERSION_1 | spec.features;
        o.device_config = config(&spec);
        if !spec.msix {
            o.msix_vectors = 0;
        }
        let dev = FakeVirtio::new(o, host.dma.clone());
        let h: Arc<dyn Host> = host.clone();
        let blk = VirtioBlk::probe(dev.function(), &h).expect("probe");
        // The interrupt and configuration tasks take their first tickets.
        host.run(1);
        let disk = Disk {
            bytes: (0..spec.sectors as usize * S)
                .map(|i| (i / S) as u8 ^ (i % 251) as u8)
                .collect(),
            ..Disk::default()
        };
        Self {
            host,
            dev,
            blk,
            disk: spin::Mutex::new(disk),
        }
    }

    /// The device answers everything it was given, then the interrupt tasks run.
    fn serve(&self) -> usize {
        let mut d = self.disk.lock();
        let n = self.dev.serve(0, |c| d.handle(c));
        drop(d);
        self.host.run(1);
        n
    }

    /// Runs `fut` to completion, the device answering as it goes.
    fn block_on<T>(&self, fut: impl Future<Output = T>) -> T {
        let mut fut = pin!(fut);
        for _ in 0..10_000 {
            if let Poll::Ready(v) = poll_once(&mut fut) {
                return v;
            }
            self.serve();
        }
        panic!("the future did not finish");
    }

    fn no_device_errors(&self) {
        assert_eq!(self.dev.errors(), Vec::<alloc::string::String>::new());
    }

    fn bytes(&self, sector: u64, len: usize) -> Vec<u8> {
        let at = sector as usize * S;
        self.disk.lock().bytes[at..at + len].to_vec()
    }

    fn requests(&self) -> usize {
        self.disk.lock().seen.len()
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

// ---- matching and probing ----

#[test]
fn matches_modern_and_transitional_disks_only() {
    let id = |device, subsystem| PciId {
        vendor: 0x1af4,
        device,
        subsystem,
        ..PciId::default()
    };
    assert!(VirtioBlkDriver.matches(&id(0x1042, 0)));
    assert!(VirtioBlkDriver.matches(&id(0x1001, 2)));
    assert!(!VirtioBlkDriver.matches(&id(0x1041, 0)), "a NIC");
    assert!(
        !VirtioBlkDriver.matches(&id(0x1005, 4)),
        "an entropy source"
    );
}

#[test]
fn probe_registers_vd_with_the_configuration_s_geometry() {
    let host = FakeHost::new();
    let spec = Spec {
        sectors: 4096,
        blk_size: 4096,
        features: Spec::default().features | VIRTIO_BLK_F_RO,
        ..Spec::default()
    };
    let mut o = FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[256]);
    o.features = VIRTIO_F_VERSION_1 | spec.features | VIRTIO_BLK_F_CONFIG_WCE;
    o.device_config = config(&spec);
    o.transitional = true;
    let dev = FakeVirtio::new(o, host.dma.clone());
    VirtioBlkDriver
        .probe(dev.function(), host.clone())
        .expect("probe");
    let devices = host.devices.lock();
    let Some(ClassDevice::Block("vd", d)) = devices.first() else {
        panic!("registered {devices:?}");
    };
    assert_eq!(
        d.info(),
        BlockInfo {
            sectors: 4096,
            block_size: 4096,
            read_only: true,
            discard: false,
        }
    );
    assert_eq!(
        dev.driver_features(),
        VIRTIO_F_VERSION_1
            | VIRTIO_BLK_F_SEG_MAX
            | VIRTIO_BLK_F_BLK_SIZE
            | VIRTIO_BLK_F_FLUSH
            | VIRTIO_BLK_F_DISCARD
            | VIRTIO_BLK_F_RO,
        "neither MQ nor CONFIG_WCE"
    );
    assert_eq!(dev.status() & 4, 4, "DRIVER_OK");
    assert_eq!(dev.queue(0).size, 256);
    assert!(dev.errors().is_empty());
}

#[test]
fn a_device_without_configuration_is_refused_and_marked_failed() {
    let host = FakeHost::new();
    let o = FakeVirtioOptions::new(VIRTIO_ID_BLOCK, &[64]);
    let dev = FakeVirtio::new(o, host.dma.clone());
    let h: Arc<dyn Host> = host.clone();
    assert!(matches!(
        VirtioBlk::probe(dev.function(), &h),
        Err(ProbeError::Unsupported(_))
    ));
    assert_ne!(dev.status() & 0x80, 0, "FAILED");
    assert!(host.devices.lock().is_empty());
}

#[test]
fn limits_follow_seg_max_size_max_the_queue_and_the_block_size() {
    let l = |size_max, seg_max, queue, block| Limits::new(size_max, seg_max, queue, block, 0);
    // No SEG_MAX: one data segment, as big as a request may be.
    assert_eq!(l(0, 0, 128, 512).unwrap().request_bytes, MAX_REQUEST_BYTES);
    assert_eq!(l(0, 0, 128, 512).unwrap().segment_bytes, MAX_REQUEST_BYTES);
    // 4 segments of 4 KiB.
    let x = l(4096, 4, 128, 512).unwrap();
    assert_eq!((x.request_bytes, x.segment_bytes), (16384, 4096));
    // The queue bounds the segments: 4 entries leave 2 for data.
    assert_eq!(l(4096, 100, 4, 512).unwrap().request_bytes, 8192);
    // Whole blocks where possible, whole sectors otherwise.
    assert_eq!(l(3000, 3, 128, 4096).unwrap().request_bytes, 8192);
    assert_eq!(l(1000, 1, 128, 4096).unwrap().request_bytes, 512);
    assert!(l(100, 2, 128, 512).is_err(), "less than a sector");
    assert_eq!(
        l(0, 0, 8, 512).unwrap().discard_sectors,
        u64::from(u32::MAX)
    );
    assert_eq!(Limits::new(0, 0, 8, 512, 77).unwrap().discard_sectors, 77);
}

// ---- data ----

#[test]
fn what_is_written_is_read_back() {
    let rig = Rig::new(Spec::default());
    let data = pattern(300 * S, 7);
    assert_eq!(rig.block_on(rig.blk.write(100, &data)), Ok(()));
    assert_eq!(rig.bytes(100, data.len()), data, "the device has it");
    let mut back = vec![0u8; data.len()];
    assert_eq!(rig.block_on(rig.blk.read(100, &mut back)), Ok(()));
    assert_eq!(back, data);
    // And what was on the disk before is read as it was.
    let mut first = vec![0u8; 4 * S];
    assert_eq!(rig.block_on(rig.blk.read(0, &mut first)), Ok(()));
    assert_eq!(first, rig.bytes(0, 4 * S));
    // The last sector is on the disk.
    let mut last = vec![0u8; S];
    assert_eq!(rig.block_on(rig.blk.read(2047, &mut last)), Ok(()));
    assert_eq!(last, rig.bytes(2047, S));
    rig.no_device_errors();
}

#[test]
fn a_request_is_header_data_status_with_the_sector_in_the_header() {
    let rig = Rig::new(Spec::default());
    let mut buf = vec![0u8; 2 * S];
    let mut read = rig.blk.read(9, &mut buf);
    assert!(poll_once(&mut read).is_pending());
    let chain = rig.dev.pop(0).expect("a request");
    assert_eq!(chain.readable.len(), HEADER_LEN);
    assert_eq!(&chain.readable[0..4], &VIRTIO_BLK_T_IN.to_le_bytes());
    assert_eq!(&chain.readable[4..8], &[0; 4], "reserved");
    assert_eq!(&chain.readable[8..16], &9u64.to_le_bytes());
    let lens: Vec<u32> = chain.writable.iter().map(|&(_, l)| l).collect();
    assert_eq!(lens, vec![2 * S as u32, 1], "data, then the status byte");
    assert!(rig.dev.pop(0).is_none(), "one request");
}

#[test]
fn large_requests_are_split_at_the_device_s_limits() {
    let rig = Rig::new(Spec {
        size_max: 4096,
        seg_max: 4,
        features: Spec::default().features | VIRTIO_BLK_F_SIZE_MAX,
        ..Spec::default()
    });
    assert_eq!(rig.blk.limits().request_bytes, 16384);
    let data = pattern(64 * 1024 + S, 3);
    // Every chain the device sees: at most 4 data segments of 4 KiB.
    let mut write = rig.blk.write(10, &data);
    let mut chains = 0;
    let mut most_in_flight = 0;
    loop {
        if let Poll::Ready(r) = poll_once(&mut write) {
            assert_eq!(r, Ok(()));
            break;
        }
        most_in_flight = most_in_flight.max(rig.blk.queue().in_flight());
        let mut d = rig.disk.lock();
        while let Some(c) = rig.dev.pop(0) {
            assert!(c.readable.len() - HEADER_LEN <= 16384);
            let reply = d.handle(&c);
            rig.dev.complete(0, c.head, &reply);
            chains += 1;
        }
        drop(d);
        rig.dev.interrupt(0);
        rig.host.run(1);
    }
    assert_eq!(chains, 5, "4 of 16 KiB and one of a sector");
    assert_eq!(most_in_flight, 5, "the pieces go out together");
    assert_eq!(rig.bytes(10, data.len()), data);

    let mut back = vec![0u8; data.len()];
    let mut read = rig.blk.read(10, &mut back);
    assert!(poll_once(&mut read).is_pending());
    let mut segs = Vec::new();
    {
        let mut d = rig.disk.lock();
        while let Some(c) = rig.dev.pop(0) {
            segs.push(c.writable.iter().map(|&(_, l)| l).collect::<Vec<_>>());
            let reply = d.handle(&c);
            rig.dev.complete(0, c.head, &reply);
        }
    }
    rig.dev.interrupt(0);
    rig.host.run(1);
    assert_eq!(poll_once(&mut read), Poll::Ready(Ok(())));
    drop(read);
    assert_eq!(segs[0], vec![4096, 4096, 4096, 4096, 1]);
    assert_eq!(segs[4], vec![512, 1]);
    assert_eq!(back, data);
    rig.no_device_errors();
}

#[test]
fn many_requests_in_flight_complete_out_of_order() {
    let rig = Rig::new(Spec::default());
    let mut bufs: Vec<Vec<u8>> = (0..12).map(|_| vec![0u8; 8 * S]).collect();
    let mut reads: Vec<_> = bufs
        .iter_mut()
        .enumerate()
        .map(|(i, b)| Box::pin(rig.blk.read(i as u64 * 50, b)))
        .collect();
    for r in reads.iter_mut() {
        assert!(poll_once(r).is_pending());
    }
    assert_eq!(rig.blk.queue().in_flight(), 12, "all at the device at once");
    let mut chains = Vec::new();
    while let Some(c) = rig.dev.pop(0) {
        chains.push(c);
    }
    assert_eq!(chains.len(), 12);
    // The device finishes them last first, in two batches.
    let mut d = rig.disk.lock();
    for (n, c) in chains.iter().rev().enumerate() {
        let reply = d.handle(c);
        rig.dev.complete(0, c.head, &reply);
        if n == 5 {
            rig.dev.interrupt(0);
            rig.host.run(1);
            // The last six are done, the first six not.
            for (i, r) in reads.iter_mut().enumerate() {
                assert_eq!(poll_once(r).is_ready(), i >= 6, "read {i}");
            }
        }
    }
    drop(d);
    rig.dev.interrupt(0);
    rig.host.run(1);
    for r in reads.iter_mut().take(6) {
        assert_eq!(poll_once(r), Poll::Ready(Ok(())));
    }
    drop(reads);
    for (i, b) in bufs.iter().enumerate() {
        assert_eq!(*b, rig.bytes(i as u64 * 50, 8 * S), "read {i}");
    }
    rig.no_device_errors();
}

#[test]
fn bounce_buffers_are_reused() {
    let rig = Rig::new(Spec::default());
    let mut buf = vec![0u8; 4 * S];
    assert_eq!(rig.block_on(rig.blk.read(0, &mut buf)), Ok(()));
    let live = rig.host.dma.live();
    assert_eq!(rig.blk.pooled(), (1, 1));
    for i in 0..20 {
        assert_eq!(rig.block_on(rig.blk.read(i, &mut buf)), Ok(()));
        assert_eq!(rig.block_on(rig.blk.write(i, &buf)), Ok(()));
    }
    assert_eq!(rig.host.dma.live(), live, "no new DMA memory");
}

// ---- flush and discard ----

#[test]
fn flush_is_a_flush_request_when_the_device_has_a_write_cache() {
    let rig = Rig::new(Spec::default());
    assert_eq!(rig.block_on(rig.blk.flush()), Ok(()));
    let seen = rig.disk.lock().seen.clone();
    assert_eq!(seen, vec![(VIRTIO_BLK_T_FLUSH, 0, 0)]);

    let rig = Rig::new(Spec {
        features: VIRTIO_BLK_F_SEG_MAX,
        ..Spec::default()
    });
    let mut flush = rig.blk.flush();
    assert_eq!(
        poll_once(&mut flush),
        Poll::Ready(Ok(())),
        "no cache: nothing to do"
    );
    assert_eq!(rig.dev.queue(0).notifications, 0);
}

#[test]
fn discard_sends_ranges_split_at_max_discard_sectors() {
    let rig = Rig::new(Spec {
        max_discard_sectors: 100,
        ..Spec::default()
    });
    assert!(rig.blk.info().discard);
    assert_eq!(rig.block_on(rig.blk.discard(50, 250)), Ok(()));
    let mut got = rig.disk.lock().discarded.clone();
    got.sort();
    assert_eq!(got, vec![(50, 100, 0), (150, 100, 0), (250, 50, 0)]);
    assert_eq!(rig.bytes(50, 250 * S), vec![0; 250 * S]);
    assert_ne!(rig.bytes(49, S), vec![0; S], "the sector before is kept");
    assert_eq!(rig.block_on(rig.blk.discard(0, 0)), Ok(()));
    assert_eq!(
        rig.block_on(rig.blk.discard(2000, 49)),
        Err(IoError::OutOfRange)
    );
    rig.no_device_errors();

    let rig = Rig::new(Spec {
        features: VIRTIO_BLK_F_SEG_MAX,
        ..Spec::default()
    });
    assert!(!rig.blk.info().discard);
    assert_eq!(
        rig.block_on(rig.blk.discard(0, 8)),
        Err(IoError::Unsupported)
    );
    assert_eq!(rig.requests(), 0);
}

// ---- refusals without a request ----

#[test]
fn a_read_only_disk_refuses_writes_and_discards_but_reads() {
    let rig = Rig::new(Spec {
        features: Spec::default().features | VIRTIO_BLK_F_RO,
        ..Spec::default()
    });
    assert!(rig.blk.info().read_only);
    assert!(!rig.blk.info().discard);
    let data = vec![1u8; S];
    assert_eq!(
        rig.block_on(rig.blk.write(0, &data)),
        Err(IoError::Unsupported)
    );
    assert_eq!(
        rig.block_on(rig.blk.discard(0, 1)),
        Err(IoError::Unsupported)
    );
    assert_eq!(rig.requests(), 0, "the device saw nothing");
    let mut buf = vec![0u8; S];
    assert_eq!(rig.block_on(rig.blk.read(0, &mut buf)), Ok(()));
    assert_eq!(buf, rig.bytes(0, S));
}

#[test]
fn requests_past_the_end_or_in_part_sectors_never_reach_the_device() {
    let rig = Rig::new(Spec::default());
    let mut buf = vec![0u8; 2 * S];
    let cases: Vec<(u64, usize)> = vec![
        (2047, 2 * S), // runs past the end
        (2048, S),     // starts at the end
        (u64::MAX, S), // overflows
        (0, S + 1),    // not whole sectors
        (0, 100),
    ];
    for (sector, len) in cases {
        assert_eq!(
            rig.block_on(rig.blk.read(sector, &mut buf[..len])),
            Err(IoError::OutOfRange),
            "read of {len} at {sector}"
        );
        assert_eq!(
            rig.block_on(rig.blk.write(sector, &buf[..len])),
            Err(IoError::OutOfRange),
            "write of {len} at {sector}"
        );
    }
    assert_eq!(
        rig.block_on(rig.blk.discard(2040, 9)),
        Err(IoError::OutOfRange)
    );
    assert_eq!(rig.requests(), 0);
    assert_eq!(rig.dev.queue(0).notifications, 0, "not even a notification");
    // An empty read is nothing to do.
    assert_eq!(rig.block_on(rig.blk.read(5, &mut [])), Ok(()));
    assert_eq!(rig.requests(), 0);
}

// ---- the device's errors ----

#[test]
fn ioerr_is_a_device_error_and_unsupp_is_unsupported() {
    let rig = Rig::new(Spec::default());
    let mut buf = vec![0u8; S];
    rig.disk.lock().status = Some(VIRTIO_BLK_S_IOERR);
    assert_eq!(
        rig.block_on(rig.blk.read(0, &mut buf)),
        Err(IoError::Device)
    );
    assert_eq!(rig.block_on(rig.blk.write(0, &buf)), Err(IoError::Device));
    rig.disk.lock().status = Some(VIRTIO_BLK_S_UNSUPP);
    assert_eq!(rig.block_on(rig.blk.flush()), Err(IoError::Unsupported));
    rig.disk.lock().status = Some(0x42);
    assert_eq!(
        rig.block_on(rig.blk.read(0, &mut buf)),
        Err(IoError::Device),
        "a status that means nothing"
    );
    // The disk works again once the device does.
    rig.disk.lock().status = None;
    assert_eq!(rig.block_on(rig.blk.read(0, &mut buf)), Ok(()));
    rig.no_device_errors();
}

#[test]
fn one_failed_piece_fails_the_whole_call() {
    let rig = Rig::new(Spec {
        size_max: 4096,
        seg_max: 1,
        features: Spec::default().features | VIRTIO_BLK_F_SIZE_MAX,
        ..Spec::default()
    });
    let mut buf = vec![0u8; 16 * S];
    let mut read = rig.blk.read(0, &mut buf);
    assert!(poll_once(&mut read).is_pending());
    let mut d = rig.disk.lock();
    let mut n = 0;
    while let Some(c) = rig.dev.pop(0) {
        let mut reply = d.handle(&c);
        if n == 1 {
            *reply.last_mut().unwrap() = VIRTIO_BLK_S_IOERR;
        }
        rig.dev.complete(0, c.head, &reply);
        n += 1;
    }
    drop(d);
    assert_eq!(n, 2);
    rig.dev.interrupt(0);
    rig.host.run(1);
    assert_eq!(poll_once(&mut read), Poll::Ready(Err(IoError::Device)));
}

#[test]
fn a_status_byte_the_device_never_wrote_is_a_device_error() {
    let rig = Rig::new(Spec::default());
    let mut buf = vec![0u8; S];
    let mut write = rig.blk.write(0, &buf);
    assert!(poll_once(&mut write).is_pending());
    let c = rig.dev.pop(0).unwrap();
    rig.dev.complete(0, c.head, &[]);
    rig.dev.interrupt(0);
    rig.host.run(1);
    assert_eq!(poll_once(&mut write), Poll::Ready(Err(IoError::Device)));
    drop(write);
    // A status byte left over from the last request does not count either.
    assert_eq!(rig.block_on(rig.blk.write(0, &buf)), Ok(()));
    let mut read = rig.blk.read(0, &mut buf);
    assert!(poll_once(&mut read).is_pending());
    let c = rig.dev.pop(0).unwrap();
    rig.dev.complete(0, c.head, &vec![0; S]);
    rig.dev.interrupt(0);
    rig.host.run(1);
    assert_eq!(poll_once(&mut read), Poll::Ready(Err(IoError::Device)));
}

#[test]
fn a_read_the_device_says_it_did_not_fill_is_a_device_error() {
    let rig = Rig::new(Spec::default());
    let mut buf = vec![0u8; 4 * S];
    let mut read = rig.blk.read(0, &mut buf);
    assert!(poll_once(&mut read).is_pending());
    let c = rig.dev.pop(0).unwrap();
    // Status OK in its place, but a used length of one sector.
    let (status_addr, _) = *c.writable.last().unwrap();
    assert!(rig.dev.dma.write_at(status_addr, &[VIRTIO_BLK_S_OK]));
    rig.dev.push_used(0, u32::from(c.head), S as u32);
    rig.dev.interrupt(0);
    rig.host.run(1);
    assert_eq!(poll_once(&mut read), Poll::Ready(Err(IoError::Device)));
}

#[test]
fn a_used_length_past_the_buffers_fails_the_request_and_not_the_disk() {
    let rig = Rig::new(Spec::default());
    let mut buf = vec![0u8; S];
    let mut read = rig.blk.read(0, &mut buf);
    assert!(poll_once(&mut read).is_pending());
    let c = rig.dev.pop(0).unwrap();
    rig.dev.push_used(0, u32::from(c.head), 1 << 20);
    rig.dev.interrupt(0);
    rig.host.run(1);
    assert_eq!(poll_once(&mut read), Poll::Ready(Err(IoError::Device)));
    let mut again = vec![0u8; S];
    assert_eq!(rig.block_on(rig.blk.read(0, &mut again)), Ok(()));
    assert_eq!(again, rig.bytes(0, S));
}

#[test]
fn a_device_that_never_answers_times_out_and_keeps_its_buffers() {
    let rig = Rig::new(Spec::default());
    let mut buf = vec![0u8; 8 * S];
    // One read to fill the pools.
    assert_eq!(rig.block_on(rig.blk.read(0, &mut buf)), Ok(()));
    assert_eq!(rig.blk.pooled(), (1, 1));
    let live = rig.host.dma.live();
    {
        let mut read = rig.blk.read(0, &mut buf);
        assert!(poll_once(&mut read).is_pending());
        let c = rig.dev.pop(0).unwrap();
        // The queue's watchdog (its sleeps end at once here) sees the request
        // at 0 s, then at 29 s, then at 31 s.
        rig.host.run(1);
        rig.host
            .now
            .store(29_000_000_000, core::sync::atomic::Ordering::SeqCst);
        rig.host.run(1);
        assert!(poll_once(&mut read).is_pending(), "29 s: still waiting");
        rig.host
            .now
            .store(31_000_000_000, core::sync::atomic::Ordering::SeqCst);
        rig.host.run(1);
        assert_eq!(poll_once(&mut read), Poll::Ready(Err(IoError::Timeout)));
        assert_eq!(
            rig.blk.pooled(),
            (0, 0),
            "buffers the device holds are not reused"
        );
        // The next request gets new buffers.
        let mut other = vec![0u8; S];
        let mut r2 = rig.blk.read(1, &mut other);
        assert!(poll_once(&mut r2).is_pending());
        assert_eq!(rig.host.dma.live(), live + 2);
        // The device answers the old request late: its buffers are still there.
        let reply = rig.disk.lock().handle(&c);
        assert!(rig.dev.complete(0, c.head, &reply));
        rig.serve();
        assert_eq!(poll_once(&mut r2), Poll::Ready(Ok(())));
    }
    rig.no_device_errors();
    assert_eq!(rig.blk.queue().in_flight(), 0);
    assert_eq!(rig.host.dma.live(), live, "the late buffers were freed");
}

// ---- interrupts and configuration ----

#[test]
fn the_disk_works_on_a_legacy_interrupt_line() {
    let rig = Rig::new(Spec {
        msix: false,
        ..Spec::default()
    });
    let data = pattern(16 * S, 9);
    assert_eq!(rig.block_on(rig.blk.write(3, &data)), Ok(()));
    let mut back = vec![0u8; data.len()];
    assert_eq!(rig.block_on(rig.blk.read(3, &mut back)), Ok(()));
    assert_eq!(back, data);
    rig.no_device_errors();
}

#[test]
fn a_configuration_change_updates_the_capacity() {
    let rig = Rig::new(Spec::default());
    assert_eq!(rig.blk.info().sectors, 2048);
    rig.disk.lock().bytes.resize(4096 * S, 0);
    assert!(rig.dev.change_config(0, &4096u64.to_le_bytes()));
    rig.host.run(2);
    assert_eq!(rig.blk.info().sectors, 4096);
    let mut buf = vec![0u8; S];
    assert_eq!(rig.block_on(rig.blk.read(4000, &mut buf)), Ok(()));
}
