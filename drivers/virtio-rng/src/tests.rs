//! The driver against kestrel-virtio's fake device: probe, reads, a device that
//! returns nothing, and a request dropped while the device holds its buffer.

use alloc::sync::Arc;
use alloc::vec;
use core::pin::pin;
use core::task::Poll;

use kestrel_driver_kit::fake::{FakeHost, poll_once};
use kestrel_driver_kit::{ClassDevice, Driver, EntropySource, Host, IoError, PciId};
use kestrel_virtio::fake::{FakeVirtio, FakeVirtioOptions};
use kestrel_virtio::id::VIRTIO_ID_RNG;

use super::VirtioRngDriver;

/// A probed driver: the fake device, the host, and the source it registered.
fn probed() -> (Arc<FakeVirtio>, Arc<FakeHost>, Arc<dyn EntropySource>) {
    let host = FakeHost::new();
    let dev = FakeVirtio::new(
        FakeVirtioOptions::new(VIRTIO_ID_RNG, &[64]),
        host.dma.clone(),
    );
    let h: Arc<dyn Host> = host.clone();
    VirtioRngDriver.probe(dev.function(), h).expect("probe");
    let source = match host.devices.lock().first() {
        Some(ClassDevice::Entropy(name, e)) => {
            assert_eq!(*name, "hwrng");
            e.clone()
        }
        other => panic!("registered {other:?}"),
    };
    (dev, host, source)
}

#[test]
fn matches_modern_and_transitional_entropy_devices_only() {
    let id = |device, subsystem| PciId {
        vendor: 0x1af4,
        device,
        subsystem,
        ..PciId::default()
    };
    assert!(VirtioRngDriver.matches(&id(0x1044, 0)));
    assert!(VirtioRngDriver.matches(&id(0x1005, 4)));
    assert!(!VirtioRngDriver.matches(&id(0x1042, 0)), "a disk");
}

#[test]
fn a_read_returns_what_the_device_wrote() {
    let (dev, host, rng) = probed();
    let mut buf = [0u8; 8];
    {
        let mut read = pin!(rng.read(&mut buf));
        assert!(poll_once(&mut read).is_pending(), "waits for the device");
        // The device fills 5 of the 8 bytes it was offered.
        let served = dev.serve(0, |c| {
            assert_eq!(c.writable_len(), 8);
            vec![1, 2, 3, 4, 5]
        });
        assert_eq!(served, 1);
        host.run(1);
        assert_eq!(poll_once(&mut read), Poll::Ready(Ok(5)));
    }
    assert_eq!(&buf[..5], &[1, 2, 3, 4, 5]);
    assert!(dev.errors().is_empty(), "{:?}", dev.errors());
}

#[test]
fn a_device_that_returns_nothing_is_an_error() {
    let (dev, host, rng) = probed();
    let mut buf = [0u8; 8];
    let mut read = pin!(rng.read(&mut buf));
    assert!(poll_once(&mut read).is_pending());
    dev.serve(0, |_| vec![]);
    host.run(1);
    assert_eq!(poll_once(&mut read), Poll::Ready(Err(IoError::Device)));
}

#[test]
fn a_dropped_read_leaves_its_buffer_with_the_device_until_returned() {
    let (dev, host, rng) = probed();
    let mut buf = [0u8; 16];
    {
        let mut read = pin!(rng.read(&mut buf));
        assert!(poll_once(&mut read).is_pending());
    } // dropped while the device holds the buffer
    let live = host.dma.live();
    // The device writes to it afterwards: not a wild write (it is still alive).
    assert_eq!(dev.serve(0, |_| vec![9; 16]), 1);
    host.run(1);
    assert!(dev.errors().is_empty(), "{:?}", dev.errors());
    assert!(host.dma.live() < live, "the buffer is freed once returned");
}
