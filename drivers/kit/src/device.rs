//! Drivers and probing.
//!
//! A driver says which PCI functions it takes ([`Driver::matches`]) and sets one
//! up in [`Driver::probe`]: map its registers, negotiate with it, spawn the task
//! that owns it, and register what it offers (a block device, a random source, a
//! network interface) with the [`Host`](crate::Host). Probing happens once per
//! function, at boot, in bus order; the first driver that matches gets the
//! function. Functions no driver takes are listed in the boot log and left alone.

use alloc::sync::Arc;

use crate::Host;
use crate::pci::{PciFunction, PciId};

/// Why a probe gave up on a function (logged; the function is then left alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// The function lacks something the driver needs (a capability, a BAR, a
    /// feature), or says something impossible.
    Unsupported(&'static str),
    /// The function did not do what the handshake asks.
    Device(&'static str),
    /// No memory for the driver's structures or DMA buffers.
    NoMemory,
    /// No interrupt vector or line could be had.
    NoInterrupt,
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProbeError::Unsupported(why) => write!(f, "unsupported: {why}"),
            ProbeError::Device(why) => write!(f, "device error: {why}"),
            ProbeError::NoMemory => f.write_str("out of memory"),
            ProbeError::NoInterrupt => f.write_str("no interrupt available"),
        }
    }
}

/// A device driver.
pub trait Driver: Send + Sync {
    /// The driver's name (the boot log, /sys/bus/pci/devices/*/driver).
    fn name(&self) -> &'static str;
    /// Whether this driver takes a function with these IDs.
    fn matches(&self, id: &PciId) -> bool;
    /// Sets the function up. On success the driver owns it from here on (through
    /// the tasks it spawned); on failure the function is left alone.
    fn probe(&self, function: Arc<dyn PciFunction>, host: Arc<dyn Host>) -> Result<(), ProbeError>;
}
