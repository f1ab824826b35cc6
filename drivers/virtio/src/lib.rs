//! virtio 1.x devices over PCI: the transport and the split virtqueue that every
//! virtio driver (block, net, entropy) is built on.
//!
//! A virtio device is a PCI function that describes where its registers are
//! with vendor capabilities, agrees on features with the driver in a status
//! handshake, and exchanges requests with it through *virtqueues*: rings in
//! memory both sides reach (DMA). The device-specific part of a driver is then
//! only "what goes in a request" and "what the device configuration says".
//!
//! | module | what it does |
//! |---|---|
//! | [`pci`] | [`VirtioPci`]: finds the capabilities, the status handshake, feature negotiation, queue and interrupt setup, device configuration |
//! | [`queue`] | [`Virtqueue`]: split rings in DMA memory; `submit(readable, writable).await` |
//! | [`fake`] | [`fake::FakeVirtio`]: a virtio device for host tests of drivers |
//!
//! A driver's probe, in full (a virtio-rng):
//!
//! ```ignore
//! let dev = VirtioPci::new(function)?;           // capabilities, BARs
//! dev.negotiate(0)?;                             // reset .. FEATURES_OK
//! let queues = dev.setup_queues(&host, &[64])?;  // rings, vectors, interrupt tasks
//! dev.driver_ok();
//! // a request: the device fills `buf`; `done.written` bytes of it
//! let done = queues[0].submit(&[], &[Segment::whole(buf.clone())]).await?;
//! ```
//!
//! Numbers and names follow the virtio 1.2 specification (OASIS, 2022) and
//! Linux's `include/uapi/linux/virtio_*.h` for the constants.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod fake;
pub mod pci;
pub mod queue;

pub use pci::{Interrupts, VirtioPci};
pub use queue::{Completion, Request, Segment, Virtqueue};

use kestrel_driver_kit::PciId;

/// The PCI vendor ID of every virtio device (Red Hat, Inc.).
pub const VIRTIO_PCI_VENDOR_ID: u16 = 0x1af4;

/// Device types (`VIRTIO_ID_*`, spec 5 "Device Types"): what the device is,
/// whatever transport it sits on.
pub mod id {
    pub const VIRTIO_ID_NET: u16 = 1;
    pub const VIRTIO_ID_BLOCK: u16 = 2;
    pub const VIRTIO_ID_CONSOLE: u16 = 3;
    pub const VIRTIO_ID_RNG: u16 = 4;
    pub const VIRTIO_ID_BALLOON: u16 = 5;
    pub const VIRTIO_ID_SCSI: u16 = 8;
    pub const VIRTIO_ID_9P: u16 = 9;
    pub const VIRTIO_ID_GPU: u16 = 16;
    pub const VIRTIO_ID_INPUT: u16 = 18;
    pub const VIRTIO_ID_VSOCK: u16 = 19;
}

/// Device status bits (`VIRTIO_CONFIG_S_*`, spec 2.1): how far the handshake
/// got. Writing 0 resets the device.
pub mod status {
    /// The guest has noticed the device.
    pub const VIRTIO_CONFIG_S_ACKNOWLEDGE: u8 = 1;
    /// The guest knows how to drive it.
    pub const VIRTIO_CONFIG_S_DRIVER: u8 = 2;
    /// The driver is ready: the device may use the queues.
    pub const VIRTIO_CONFIG_S_DRIVER_OK: u8 = 4;
    /// Feature negotiation is complete (the device clears it if it disagrees).
    pub const VIRTIO_CONFIG_S_FEATURES_OK: u8 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const VIRTIO_CONFIG_S_NEEDS_RESET: u8 = 0x40;
    /// The driver gave up on the device.
    pub const VIRTIO_CONFIG_S_FAILED: u8 = 0x80;
}

/// Transport feature bits (`VIRTIO_F_*`, spec 6 "Reserved Feature Bits"), as
/// masks of the 64-bit feature word. Bits 0–23 and 50 up belong to the device
/// type (`VIRTIO_BLK_F_*`, `VIRTIO_NET_F_*`); bits 24–41 to the transport.
pub mod features {
    /// Descriptors may point to tables of descriptors. Not implemented here.
    pub const VIRTIO_F_INDIRECT_DESC: u64 = 1 << 28;
    /// `used_event`/`avail_event` notification suppression. Not implemented here.
    pub const VIRTIO_F_EVENT_IDX: u64 = 1 << 29;
    /// The device is virtio 1.x (not legacy): required.
    pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;
    /// The device reaches memory through the platform's IOMMU: addresses in
    /// the rings are bus addresses, which is what a `DmaBuffer` gives.
    pub const VIRTIO_F_ACCESS_PLATFORM: u64 = 1 << 33;
    /// Packed virtqueues. Not implemented here (split queues only).
    pub const VIRTIO_F_RING_PACKED: u64 = 1 << 34;
    /// The device uses buffers in the order they were made available.
    pub const VIRTIO_F_IN_ORDER: u64 = 1 << 35;
    /// The driver must use the platform's memory barriers (it always does).
    pub const VIRTIO_F_ORDER_PLATFORM: u64 = 1 << 36;
    /// Single-root I/O virtualisation.
    pub const VIRTIO_F_SR_IOV: u64 = 1 << 37;
    /// A notification carries the available index. Not implemented here.
    pub const VIRTIO_F_NOTIFICATION_DATA: u64 = 1 << 38;
    /// Per-queue reset. Not implemented here.
    pub const VIRTIO_F_RING_RESET: u64 = 1 << 40;

    /// The transport bits this crate implements and accepts whenever the device
    /// offers them (VERSION_1 is also required). Other transport bits are never
    /// accepted, even if a driver asks: the queue code would not honour them.
    pub const IMPLEMENTED: u64 =
        VIRTIO_F_VERSION_1 | VIRTIO_F_ACCESS_PLATFORM | VIRTIO_F_ORDER_PLATFORM;

    /// The feature bits reserved for the transport (24..=41).
    pub const TRANSPORT: u64 = ((1 << 42) - 1) & !((1 << 24) - 1);
}

/// The virtio device type of a PCI function, if it is a virtio device this
/// crate can drive (spec 4.1.2): modern IDs are `0x1040 + type`; transitional
/// devices (`0x1000..=0x103f`, what QEMU's `-device virtio-*-pci` is unless
/// `disable-legacy=on`) carry the type in the subsystem ID. A transitional
/// device is driven through its modern capabilities, which
/// [`VirtioPci::new`] insists on.
pub fn virtio_device_type(id: &PciId) -> Option<u16> {
    if id.vendor != VIRTIO_PCI_VENDOR_ID {
        return None;
    }
    let ty = match id.device {
        0x1000..=0x103f => id.subsystem,
        0x1040..=0x107f => id.device - 0x1040,
        _ => return None,
    };
    // Type 0 is reserved ("invalid device").
    (ty != 0).then_some(ty)
}

#[cfg(test)]
mod tests;
