//! virtio-rng: the host's random bytes, as a hardware random source.
//!
//! The device has one virtqueue and no configuration: the driver offers a
//! buffer the device may write, and the device fills some of it with random
//! bytes and returns it (virtio 1.2, section 5.4). The kernel reads from the
//! source this driver registers for `/dev/hwrng` and mixes it into the pool
//! behind `getrandom`.
//!
//! It is the smallest complete driver on the kit: a model for new ones, and
//! docs/writing-a-driver.md walks through it.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::sync::Arc;

use kestrel_driver_kit::{
    BoxFuture, ClassDevice, DmaAllocator, DmaBuffer, Driver, EntropySource, Host, IoError,
    PciFunction, PciId, ProbeError,
};
use kestrel_virtio::id::VIRTIO_ID_RNG;
use kestrel_virtio::{Segment, VirtioPci, Virtqueue, virtio_device_type};

/// Descriptors in the request queue: requests in flight at most.
const QUEUE_SIZE: u16 = 16;
/// Bytes asked for per request (one page of DMA memory).
const CHUNK: usize = 4096;

/// The driver: takes every virtio entropy device.
pub struct VirtioRngDriver;

impl Driver for VirtioRngDriver {
    fn name(&self) -> &'static str {
        "virtio-rng"
    }

    fn matches(&self, id: &PciId) -> bool {
        virtio_device_type(id) == Some(VIRTIO_ID_RNG)
    }

    fn probe(&self, function: Arc<dyn PciFunction>, host: Arc<dyn Host>) -> Result<(), ProbeError> {
        let dev = VirtioPci::new(function)?;
        // No device feature bits are defined for virtio-rng: only the
        // transport's (VERSION_1), which negotiate adds itself.
        dev.negotiate(0)?;
        let queue = dev
            .setup_queues(&host, &[QUEUE_SIZE])?
            .pop()
            .ok_or(ProbeError::Device("no request queue"))?;
        dev.driver_ok();
        let rng = Arc::new(VirtioRng {
            queue,
            dma: host.dma(),
            spare: spin::Mutex::new(None),
        });
        host.register(ClassDevice::Entropy("hwrng", rng));
        Ok(())
    }
}

/// One virtio-rng device.
struct VirtioRng {
    queue: Arc<Virtqueue>,
    dma: Arc<dyn DmaAllocator>,
    /// A buffer kept for the next request (most reads come one at a time).
    spare: spin::Mutex<Option<Arc<DmaBuffer>>>,
}

impl VirtioRng {
    async fn fill(&self, buf: &mut [u8]) -> Result<usize, IoError> {
        let want = buf.len().min(CHUNK);
        if want == 0 {
            return Ok(0);
        }
        let dma = match self.spare.lock().take() {
            Some(b) => b,
            None => Arc::new(self.dma.alloc(CHUNK).map_err(|_| IoError::NoMemory)?),
        };
        // The device writes into `dma`; the queue holds it until the device has
        // returned it, even if this future is dropped first.
        let done = self
            .queue
            .submit(&[], &[Segment::new(dma.clone(), 0, want)])
            .await?;
        let n = done.written.min(want);
        if n == 0 {
            // The spec lets the device return nothing; a read must return something.
            return Err(IoError::Device);
        }
        dma.read(0, &mut buf[..n]);
        *self.spare.lock() = Some(dma);
        Ok(n)
    }
}

impl EntropySource for VirtioRng {
    fn read<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<usize, IoError>> {
        Box::pin(self.fill(buf))
    }
}

#[cfg(test)]
mod tests;
