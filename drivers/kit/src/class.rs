//! What drivers offer the rest of the kernel: device classes.
//!
//! Each class is an object-safe trait whose operations are futures, so a request
//! waits for the device by parking its task, never by spinning. The kernel puts
//! a block device at `/dev/vdX`, feeds an entropy source to `getrandom` and
//! `/dev/hwrng`, and hands a network device to the network stack.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::{BoxFuture, IoError};

/// A block device's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Size in 512-byte sectors (the unit of every offset below).
    pub sectors: u64,
    /// The device's logical block size in bytes (a multiple of 512).
    pub block_size: u32,
    pub read_only: bool,
    /// Whether [`BlockDevice::discard`] does anything.
    pub discard: bool,
}

/// A disk. Offsets are in 512-byte sectors; buffers are whole sectors.
pub trait BlockDevice: Send + Sync {
    fn info(&self) -> BlockInfo;
    /// Reads `buf.len() / 512` sectors from `sector` into `buf`.
    fn read<'a>(&'a self, sector: u64, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(), IoError>>;
    /// Writes `data` (whole sectors) at `sector`.
    fn write<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, Result<(), IoError>>;
    /// Makes every completed write durable.
    fn flush(&self) -> BoxFuture<'_, Result<(), IoError>>;
    /// Tells the device `count` sectors from `sector` are unused.
    fn discard(&self, sector: u64, count: u64) -> BoxFuture<'_, Result<(), IoError>>;
}

/// A source of random bytes from hardware.
pub trait EntropySource: Send + Sync {
    /// Fills some of `buf` (at least one byte), returning how many.
    fn read<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<usize, IoError>>;
}

/// A network interface that sends and receives Ethernet frames.
pub trait NetDevice: Send + Sync {
    /// The hardware address.
    fn mac(&self) -> [u8; 6];
    /// Whether the link is up.
    fn link_up(&self) -> bool;
    /// The largest frame payload (1500 for Ethernet).
    fn mtu(&self) -> usize;
    /// Sends one frame (destination MAC first, no FCS).
    fn send<'a>(&'a self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), IoError>>;
    /// The next frame received.
    fn recv(&self) -> BoxFuture<'_, Result<Vec<u8>, IoError>>;
}

/// Something a driver registers with the kernel, with the stem of its name: the
/// kernel numbers devices of one stem in the order they register (`vd` becomes
/// `/dev/vda`, `/dev/vdb`; `eth` becomes `eth0`; `hwrng` stays `/dev/hwrng` for the
/// first source).
#[derive(Clone)]
pub enum ClassDevice {
    Block(&'static str, Arc<dyn BlockDevice>),
    Entropy(&'static str, Arc<dyn EntropySource>),
    Net(&'static str, Arc<dyn NetDevice>),
}

impl core::fmt::Debug for ClassDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClassDevice::Block(n, d) => write!(f, "Block({n}, {:?})", d.info()),
            ClassDevice::Entropy(n, _) => write!(f, "Entropy({n})"),
            ClassDevice::Net(n, d) => write!(f, "Net({n}, {:02x?})", d.mac()),
        }
    }
}
