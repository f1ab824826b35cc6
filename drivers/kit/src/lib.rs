//! The driver kit: everything a Kestrel device driver is written against.
//!
//! A driver is safe Rust (`#![forbid(unsafe_code)]`) over a handful of small
//! traits that the kernel implements for real hardware and [`fake`] implements for
//! host tests:
//!
//! | module | what the driver gets |
//! |---|---|
//! | [`regs`] | [`Registers`]: a device's MMIO or port registers, by offset |
//! | [`dma`] | [`DmaBuffer`]: memory the device can reach, with its bus address |
//! | [`irq`] | [`Irq`]: an interrupt line as a future (`irq.wait().await`) |
//! | [`pci`] | [`PciFunction`]: config space, BARs, interrupts of one PCI function |
//! | [`device`] | [`Driver`]: which devices a driver takes, and its `probe` |
//! | [`class`] | [`BlockDevice`], [`EntropySource`], [`NetDevice`]: what a driver offers the rest of the kernel |
//! | [`Host`] | spawning tasks, timeouts, DMA memory, registering class devices |
//!
//! The kernel's side: `kernel/src/drivers/` enumerates PCI, matches drivers by ID,
//! maps BARs, programs MSI-X (or MSI), and hands each probe a [`PciFunction`]
//! and a [`Host`]. docs/writing-a-driver.md walks through a whole driver.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod class;
pub mod device;
pub mod dma;
pub mod fake;
pub mod irq;
pub mod pci;
pub mod regs;

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;

pub use class::{BlockDevice, BlockInfo, ClassDevice, EntropySource, NetDevice};
pub use device::{Driver, ProbeError};
pub use dma::{DmaAllocator, DmaBuffer, DmaError, DmaMemory};
pub use irq::Irq;
pub use pci::{PciFunction, PciId};
pub use regs::Registers;

/// A boxed future, as the object-safe traits of the kit return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an I/O request failed. The kernel turns each into an errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoError {
    /// The device reported an error or misbehaved (EIO).
    Device,
    /// The request lies outside the device (EINVAL; ENOSPC for writes past the end).
    OutOfRange,
    /// The device does not do this (EOPNOTSUPP), or is read-only (EROFS).
    Unsupported,
    /// Out of DMA memory or descriptors for now (ENOMEM).
    NoMemory,
    /// The device did not answer in time (EIO, after a report).
    Timeout,
}

/// What the kernel offers a driver beyond its device: tasks, time, DMA memory, and
/// a place to register what the driver provides.
pub trait Host: Send + Sync {
    /// Runs `fut` as a kernel task (a driver's actor: it owns the device's state
    /// and serves requests).
    fn spawn(&self, name: &'static str, fut: BoxFuture<'static, ()>);
    /// Completes after `ns` nanoseconds (for timeouts on a device that does not
    /// answer).
    fn sleep(&self, ns: u64) -> BoxFuture<'static, ()>;
    /// Monotonic nanoseconds.
    fn now_ns(&self) -> u64;
    /// The allocator of memory the device can reach.
    fn dma(&self) -> Arc<dyn DmaAllocator>;
    /// Offers a block device, a random source or a network interface to the
    /// kernel (`/dev/vda`, `/dev/hwrng`, `eth0`).
    fn register(&self, dev: ClassDevice);
}

#[cfg(test)]
mod tests;
