//! The virtio 1.x PCI transport ("virtio over PCI bus", virtio 1.2, 4.1): where
//! a virtio device's registers are, the status handshake, feature negotiation,
//! queue and interrupt setup, device configuration.
//!
//! A modern device lists its register blocks as vendor-specific PCI
//! capabilities (`struct virtio_pci_cap`, capability ID 0x09): each names a
//! block type (`VIRTIO_PCI_CAP_*_CFG`), a BAR and a range in it. The driver
//! uses the first usable one of each type:
//!
//! - **common** (`struct virtio_pci_common_cfg`): features, status, queues;
//! - **notify**: where the driver writes a queue's number to say "look at this
//!   queue" (queue *n*'s address is `queue_notify_off(n) * notify_off_multiplier`);
//! - **ISR**: one byte saying why a legacy INTx interrupt came (bit 0: a
//!   queue, bit 1: the configuration changed); reading it acknowledges it;
//! - **device**: the device type's own configuration (a disk's capacity, a
//!   NIC's MAC address); absent for some types (entropy);
//! - **PCI configuration access** (`VIRTIO_PCI_CAP_PCI_CFG`): a window for
//!   firmware that cannot map BARs; not needed here.
//!
//! The handshake (spec 3.1.1), which [`VirtioPci::negotiate`],
//! [`VirtioPci::setup_queues`] and [`VirtioPci::driver_ok`] walk: reset (write
//! 0, wait to read 0), `ACKNOWLEDGE`, `DRIVER`, read the device's 64 feature
//! bits and write the accepted subset, `FEATURES_OK` (and read it back: a device
//! that cannot work with the subset clears it), set up the queues, `DRIVER_OK`.
//! Any failure on the way sets `FAILED`, so the device (and a host looking at
//! it) knows the driver gave up.
//!
//! Interrupts: with MSI-X the kernel gives one [`Irq`] per table entry; the
//! driver tells the device which entry each queue and configuration change uses
//! (`queue_msix_vector`, `config_msix_vector`) and reads it back, since a device
//! that cannot use an entry answers `VIRTIO_MSI_NO_VECTOR`. Without MSI-X there
//! is one shared, level-triggered INTx line, and reading the ISR byte is what
//! lowers it. [`VirtioPci::setup_queues`] does all of this and spawns the
//! interrupt tasks.
//!
//! Transitional devices (IDs `0x1000..=0x103f`, QEMU's default) also have
//! legacy I/O registers in BAR 0; this transport ignores them and requires the
//! modern capabilities.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kestrel_driver_kit::pci::{cap, msix};
use kestrel_driver_kit::regs::Window;
use kestrel_driver_kit::{BoxFuture, Host, Irq, PciFunction, ProbeError, Registers};

use crate::features::{IMPLEMENTED, TRANSPORT, VIRTIO_F_VERSION_1};
use crate::queue::{self, Doorbell, MAX_QUEUE_SIZE, Virtqueue};
use crate::status::*;

/// Capability `cfg_type`s (`VIRTIO_PCI_CAP_*`).
pub const VIRTIO_PCI_CAP_COMMON_CFG: u8 = 1;
pub const VIRTIO_PCI_CAP_NOTIFY_CFG: u8 = 2;
pub const VIRTIO_PCI_CAP_ISR_CFG: u8 = 3;
pub const VIRTIO_PCI_CAP_DEVICE_CFG: u8 = 4;
pub const VIRTIO_PCI_CAP_PCI_CFG: u8 = 5;

/// What an MSI-X vector register reads when the device has no vector there.
pub const VIRTIO_MSI_NO_VECTOR: u16 = 0xffff;

/// ISR status bits.
pub const VIRTIO_PCI_ISR_QUEUE: u8 = 1;
pub const VIRTIO_PCI_ISR_CONFIG: u8 = 2;

/// Offsets in `struct virtio_pci_cap` (from the capability's start).
pub mod cap_field {
    pub const CAP_LEN: u16 = 2;
    pub const CFG_TYPE: u16 = 3;
    pub const BAR: u16 = 4;
    pub const OFFSET: u16 = 8;
    pub const LENGTH: u16 = 12;
    /// Only in `struct virtio_pci_notify_cap`.
    pub const NOTIFY_OFF_MULTIPLIER: u16 = 16;
}

/// Register offsets in `struct virtio_pci_common_cfg`.
pub mod common {
    pub const DEVICE_FEATURE_SELECT: usize = 0x00;
    pub const DEVICE_FEATURE: usize = 0x04;
    pub const DRIVER_FEATURE_SELECT: usize = 0x08;
    pub const DRIVER_FEATURE: usize = 0x0c;
    pub const CONFIG_MSIX_VECTOR: usize = 0x10;
    pub const NUM_QUEUES: usize = 0x12;
    pub const DEVICE_STATUS: usize = 0x14;
    pub const CONFIG_GENERATION: usize = 0x15;
    pub const QUEUE_SELECT: usize = 0x16;
    pub const QUEUE_SIZE: usize = 0x18;
    pub const QUEUE_MSIX_VECTOR: usize = 0x1a;
    pub const QUEUE_ENABLE: usize = 0x1c;
    pub const QUEUE_NOTIFY_OFF: usize = 0x1e;
    pub const QUEUE_DESC: usize = 0x20;
    pub const QUEUE_DRIVER: usize = 0x28;
    pub const QUEUE_DEVICE: usize = 0x30;
    /// The structure up to `queue_device` (what virtio 1.0 defines).
    pub const LEN: usize = 0x38;
}

/// Status reads after a reset before giving up on the device. QEMU finishes a
/// reset before the write returns; real hardware may take a little while.
const RESET_POLLS: usize = 100_000;

/// Device-configuration reads retried while `config_generation` changes under
/// them, before settling for the last one.
const CONFIG_RETRIES: usize = 64;

/// One virtio capability, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioCap {
    /// Where it is in configuration space.
    pub at: u16,
    pub cfg_type: u8,
    pub bar: u8,
    pub offset: u32,
    pub length: u32,
    /// For `VIRTIO_PCI_CAP_NOTIFY_CFG` only (0 otherwise).
    pub notify_off_multiplier: u32,
}

/// The virtio capabilities of `function`, in list order. Ones too short to be
/// a `virtio_pci_cap` are left out.
pub fn virtio_capabilities(function: &dyn PciFunction) -> Vec<VirtioCap> {
    function
        .capabilities()
        .into_iter()
        .filter(|&(_, id)| id == cap::VENDOR)
        .filter_map(|(at, _)| {
            let len = function.config_read8(at + cap_field::CAP_LEN);
            if len < 16 {
                return None;
            }
            let cfg_type = function.config_read8(at + cap_field::CFG_TYPE);
            let notify_off_multiplier = if cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG && len >= 20 {
                function.config_read32(at + cap_field::NOTIFY_OFF_MULTIPLIER)
            } else {
                0
            };
            Some(VirtioCap {
                at,
                cfg_type,
                bar: function.config_read8(at + cap_field::BAR),
                offset: function.config_read32(at + cap_field::OFFSET),
                length: function.config_read32(at + cap_field::LENGTH),
                notify_off_multiplier,
            })
        })
        .collect()
}

/// The interrupt sources the kernel gave a virtio function.
pub struct Interrupts {
    /// MSI-X vectors (entry i of the table is `irqs[i]`), or else the one
    /// INTx line.
    pub msix: bool,
    pub irqs: Vec<Arc<Irq>>,
}

/// Registers of a device with no device-specific configuration.
struct NoRegisters;

impl Registers for NoRegisters {
    fn len(&self) -> usize {
        0
    }
    fn read8(&self, _: usize) -> u8 {
        !0
    }
    fn read16(&self, _: usize) -> u16 {
        !0
    }
    fn read32(&self, _: usize) -> u32 {
        !0
    }
    fn write8(&self, _: usize, _: u8) {}
    fn write16(&self, _: usize, _: u16) {}
    fn write32(&self, _: usize, _: u32) {}
}

/// A virtio device on PCI, through its modern (1.x) registers.
pub struct VirtioPci {
    function: Arc<dyn PciFunction>,
    device_type: u16,
    common: Arc<dyn Registers>,
    notify: Arc<dyn Registers>,
    notify_off_multiplier: u32,
    isr: Arc<dyn Registers>,
    device: Arc<dyn Registers>,
    features: AtomicU64,
    msix: AtomicBool,
    config_irq: Arc<Irq>,
}

impl VirtioPci {
    /// Finds the function's virtio capabilities and maps their registers. Does
    /// not touch the device: [`VirtioPci::negotiate`] starts the handshake.
    pub fn new(function: Arc<dyn PciFunction>) -> Result<Self, ProbeError> {
        let device_type = crate::virtio_device_type(&function.id())
            .ok_or(ProbeError::Unsupported("not a virtio device"))?;
        let caps = virtio_capabilities(&*function);
        let mut bars: [Option<Arc<dyn Registers>>; 6] = Default::default();
        // The first capability of a type whose BAR exists and holds its whole
        // range (spec 4.1.4.1: use the first one the driver can).
        let mut region = |cfg_type: u8, min: usize| -> Option<(Arc<dyn Registers>, VirtioCap)> {
            caps.iter()
                .filter(|c| c.cfg_type == cfg_type)
                .find_map(|c| {
                    let bar = bars.get_mut(usize::from(c.bar))?;
                    if bar.is_none() {
                        *bar = function.map_bar(c.bar).ok();
                    }
                    let inner = bar.clone()?;
                    let window = Window::new(inner, c.offset as usize, c.length as usize);
                    let fits = window.len() == c.length as usize && window.len() >= min;
                    fits.then(|| (Arc::new(window) as Arc<dyn Registers>, *c))
                })
        };
        let missing = |what| ProbeError::Unsupported(what);
        let (common, _) = region(VIRTIO_PCI_CAP_COMMON_CFG, common::LEN).ok_or(missing(
            "no usable virtio common configuration (a legacy-only device?)",
        ))?;
        let (notify, notify_cap) = region(VIRTIO_PCI_CAP_NOTIFY_CFG, 2)
            .ok_or(missing("no usable virtio notification capability"))?;
        let (isr, _) =
            region(VIRTIO_PCI_CAP_ISR_CFG, 1).ok_or(missing("no usable virtio ISR capability"))?;
        let device = region(VIRTIO_PCI_CAP_DEVICE_CFG, 1)
            .map_or_else(|| Arc::new(NoRegisters) as Arc<dyn Registers>, |(r, _)| r);
        Ok(Self {
            function,
            device_type,
            common,
            notify,
            notify_off_multiplier: notify_cap.notify_off_multiplier,
            isr,
            device,
            features: AtomicU64::new(0),
            msix: AtomicBool::new(false),
            config_irq: Arc::new(Irq::new("virtio-config")),
        })
    }

    /// The virtio device type (`VIRTIO_ID_*`).
    pub fn device_type(&self) -> u16 {
        self.device_type
    }

    /// The PCI function.
    pub fn function(&self) -> &Arc<dyn PciFunction> {
        &self.function
    }

    /// How many queues the device has.
    pub fn num_queues(&self) -> u16 {
        self.common.read16(common::NUM_QUEUES)
    }

    /// The device status byte (`VIRTIO_CONFIG_S_*`).
    pub fn status(&self) -> u8 {
        self.common.read8(common::DEVICE_STATUS)
    }

    fn add_status(&self, bits: u8) {
        let now = self.status();
        self.common.write8(common::DEVICE_STATUS, now | bits);
    }

    /// Resets the device: it forgets features and queues and drops every
    /// buffer it held (then [`Virtqueue::reclaim_after_reset`] may free them).
    pub fn reset(&self) -> Result<(), ProbeError> {
        self.common.write8(common::DEVICE_STATUS, 0);
        // The spec (4.1.4.3.2) has the driver wait for the reset to finish.
        for _ in 0..RESET_POLLS {
            if self.status() == 0 {
                return Ok(());
            }
        }
        log::error!(
            "virtio {}: the device did not finish its reset",
            self.function.address()
        );
        Err(ProbeError::Device("the device did not finish its reset"))
    }

    /// Tells the device the driver gave up on it (`FAILED`).
    pub fn fail(&self) {
        self.add_status(VIRTIO_CONFIG_S_FAILED);
    }

    fn give_up(&self, e: ProbeError) -> ProbeError {
        log::warn!("virtio {}: {e}", self.function.address());
        self.fail();
        e
    }

    /// Whether the device says it needs a reset to work again.
    pub fn needs_reset(&self) -> bool {
        self.status() & VIRTIO_CONFIG_S_NEEDS_RESET != 0
    }

    /// The 64 feature bits the device offers.
    pub fn device_features(&self) -> u64 {
        self.common.write32(common::DEVICE_FEATURE_SELECT, 0);
        let low = self.common.read32(common::DEVICE_FEATURE);
        self.common.write32(common::DEVICE_FEATURE_SELECT, 1);
        let high = self.common.read32(common::DEVICE_FEATURE);
        u64::from(high) << 32 | u64::from(low)
    }

    fn write_driver_features(&self, features: u64) {
        self.common.write32(common::DRIVER_FEATURE_SELECT, 0);
        self.common.write32(common::DRIVER_FEATURE, features as u32);
        self.common.write32(common::DRIVER_FEATURE_SELECT, 1);
        self.common
            .write32(common::DRIVER_FEATURE, (features >> 32) as u32);
    }

    /// The features agreed on by [`VirtioPci::negotiate`].
    pub fn features(&self) -> u64 {
        self.features.load(Ordering::Relaxed)
    }

    /// Whether every bit of `feature` was agreed on.
    pub fn has_feature(&self, feature: u64) -> bool {
        self.features() & feature == feature
    }

    /// Resets the device and negotiates features up to `FEATURES_OK`: accepts
    /// the device-type bits of `wanted` the device offers, plus the transport
    /// bits this crate implements ([`crate::features::IMPLEMENTED`]; other
    /// transport bits are not accepted even if asked for). Fails, setting
    /// `FAILED`, if the device lacks `VIRTIO_F_VERSION_1` or refuses the
    /// subset. Also lets the function master the bus (its rings are DMA).
    pub fn negotiate(&self, wanted: u64) -> Result<u64, ProbeError> {
        self.reset()?;
        self.add_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
        self.add_status(VIRTIO_CONFIG_S_DRIVER);
        let offered = self.device_features();
        if offered & VIRTIO_F_VERSION_1 == 0 {
            return Err(self.give_up(ProbeError::Unsupported(
                "the device does not offer VIRTIO_F_VERSION_1",
            )));
        }
        let unimplemented = wanted & TRANSPORT & !IMPLEMENTED;
        if unimplemented != 0 {
            log::debug!(
                "virtio {}: not accepting transport features {unimplemented:#x} (not implemented)",
                self.function.address()
            );
        }
        let accepted = offered & ((wanted & !TRANSPORT) | IMPLEMENTED);
        self.write_driver_features(accepted);
        self.add_status(VIRTIO_CONFIG_S_FEATURES_OK);
        if self.status() & VIRTIO_CONFIG_S_FEATURES_OK == 0 {
            return Err(self.give_up(ProbeError::Device(
                "the device refused the features (FEATURES_OK did not stick)",
            )));
        }
        self.features.store(accepted, Ordering::Relaxed);
        self.function.enable_bus_master();
        Ok(accepted)
    }

    /// Asks the kernel for up to `wanted` interrupt sources and notes whether
    /// they are MSI-X vectors (the function's MSI-X is enabled) or its INTx
    /// line.
    pub fn interrupts(&self, wanted: usize) -> Result<Interrupts, ProbeError> {
        let irqs = self.function.interrupts(wanted)?;
        if irqs.is_empty() {
            return Err(ProbeError::NoInterrupt);
        }
        let msix = self
            .function
            .capabilities()
            .into_iter()
            .find(|&(_, id)| id == cap::MSIX)
            .is_some_and(|(at, _)| self.function.config_read16(at + 2) & msix::ENABLE != 0);
        self.msix.store(msix, Ordering::Relaxed);
        Ok(Interrupts { msix, irqs })
    }

    /// Whether [`VirtioPci::interrupts`] found MSI-X enabled.
    pub fn msix(&self) -> bool {
        self.msix.load(Ordering::Relaxed)
    }

    /// Fires when the device says its configuration changed (the config MSI-X
    /// vector, or the ISR's config bit with INTx), once the interrupt tasks of
    /// [`VirtioPci::setup_queues`] run: take a ticket, read the configuration,
    /// await the ticket.
    pub fn config_changed(&self) -> &Arc<Irq> {
        &self.config_irq
    }

    /// Points configuration-change interrupts at MSI-X entry `vector` (`None`:
    /// none). Ignored without MSI-X.
    pub fn set_config_vector(&self, vector: Option<u16>) -> Result<(), ProbeError> {
        if !self.msix() {
            return Ok(());
        }
        let v = vector.unwrap_or(VIRTIO_MSI_NO_VECTOR);
        self.common.write16(common::CONFIG_MSIX_VECTOR, v);
        if self.common.read16(common::CONFIG_MSIX_VECTOR) != v {
            return Err(self.give_up(ProbeError::NoInterrupt));
        }
        Ok(())
    }

    /// Sets up queue `index` with at most `max_size` entries (the device's
    /// maximum or less, rounded down to a power of two), interrupting on
    /// MSI-X entry `vector` (ignored without MSI-X), and enables it. Between
    /// [`VirtioPci::negotiate`] and [`VirtioPci::driver_ok`] only. Nothing
    /// serves its interrupts: see [`queue::serve`], or use
    /// [`VirtioPci::setup_queues`].
    pub fn setup_queue(
        &self,
        index: u16,
        max_size: u16,
        vector: Option<u16>,
        host: &Arc<dyn Host>,
    ) -> Result<Arc<Virtqueue>, ProbeError> {
        self.try_setup_queue(index, max_size, vector, host)
            .map_err(|e| self.give_up(e))
    }

    fn try_setup_queue(
        &self,
        index: u16,
        max_size: u16,
        vector: Option<u16>,
        host: &Arc<dyn Host>,
    ) -> Result<Arc<Virtqueue>, ProbeError> {
        let status = self.status();
        if status & VIRTIO_CONFIG_S_FEATURES_OK == 0 || status & VIRTIO_CONFIG_S_DRIVER_OK != 0 {
            return Err(ProbeError::Device(
                "queues are set up after FEATURES_OK and before DRIVER_OK",
            ));
        }
        if index >= self.num_queues() {
            return Err(ProbeError::Unsupported("the device has no such queue"));
        }
        let c = &self.common;
        c.write16(common::QUEUE_SELECT, index);
        let device_max = c.read16(common::QUEUE_SIZE);
        if device_max == 0 {
            return Err(ProbeError::Unsupported("the queue is not available"));
        }
        if c.read16(common::QUEUE_ENABLE) != 0 {
            return Err(ProbeError::Device("a queue is enabled right after reset"));
        }
        let limit = device_max.min(max_size).min(MAX_QUEUE_SIZE);
        if limit == 0 {
            return Err(ProbeError::Unsupported("a queue of size 0"));
        }
        // Split queues are a power of two long (spec 2.7); a device maximum that
        // is not one is rounded down.
        let size = 1 << (15 - limit.leading_zeros());
        let notify_off = usize::from(c.read16(common::QUEUE_NOTIFY_OFF))
            .checked_mul(self.notify_off_multiplier as usize)
            .filter(|off| {
                off.checked_add(2)
                    .is_some_and(|end| end <= self.notify.len())
            })
            .ok_or(ProbeError::Device(
                "the queue's notify address is outside the notify region",
            ))?;
        let doorbell = Doorbell {
            notify: self.notify.clone(),
            offset: notify_off,
            common: self.common.clone(),
            status_offset: common::DEVICE_STATUS,
        };
        let queue = Virtqueue::new(index, size, host.clone(), doorbell)?;
        let (desc, driver, device) = queue.ring_addresses();
        c.write16(common::QUEUE_SIZE, size);
        c.write64(common::QUEUE_DESC, desc);
        c.write64(common::QUEUE_DRIVER, driver);
        c.write64(common::QUEUE_DEVICE, device);
        if self.msix() {
            let v = vector.unwrap_or(VIRTIO_MSI_NO_VECTOR);
            c.write16(common::QUEUE_MSIX_VECTOR, v);
            if c.read16(common::QUEUE_MSIX_VECTOR) != v {
                return Err(ProbeError::NoInterrupt);
            }
        }
        c.write16(common::QUEUE_ENABLE, 1);
        Ok(Arc::new(queue))
    }

    /// Sets up queues `0..sizes.len()` (queue i with at most `sizes[i]`
    /// entries), their interrupts and the configuration-change interrupt, and
    /// spawns the tasks that serve them. With MSI-X: entry 0 for configuration
    /// changes and one entry per queue if there are enough, else entry 1 shared
    /// by all queues, else entry 0 for everything. With INTx: one task that
    /// reads (so acknowledges) the ISR on each interrupt.
    pub fn setup_queues(
        &self,
        host: &Arc<dyn Host>,
        sizes: &[u16],
    ) -> Result<Vec<Arc<Virtqueue>>, ProbeError> {
        let ints = match self.interrupts(sizes.len() + 1) {
            Ok(ints) => ints,
            Err(e) => return Err(self.give_up(e)),
        };
        let vectors = ints.irqs.len();
        let vector_of = |i: usize| -> usize {
            if vectors > sizes.len() {
                i + 1
            } else if vectors >= 2 {
                1
            } else {
                0
            }
        };
        if ints.msix {
            self.set_config_vector(Some(0))?;
        }
        let mut queues = Vec::with_capacity(sizes.len());
        for (i, &size) in sizes.iter().enumerate() {
            let vector = ints.msix.then(|| vector_of(i) as u16);
            queues.push(self.setup_queue(i as u16, size, vector, host)?);
        }
        // Spawned only now that nothing can fail.
        if ints.msix {
            for (v, irq) in ints.irqs.iter().enumerate() {
                let served: Vec<_> = (0..queues.len())
                    .filter(|&i| vector_of(i) == v)
                    .map(|i| queues[i].clone())
                    .collect();
                let config = (v == 0).then(|| self.config_irq.clone());
                if !served.is_empty() || config.is_some() {
                    host.spawn("virtio-msix", queue::serve(irq.clone(), served, config));
                }
            }
        } else {
            host.spawn(
                "virtio-intx",
                intx_task(
                    ints.irqs[0].clone(),
                    self.isr.clone(),
                    self.config_irq.clone(),
                    queues.clone(),
                ),
            );
        }
        Ok(queues)
    }

    /// Ends the handshake: the device may use its queues now.
    pub fn driver_ok(&self) {
        self.add_status(VIRTIO_CONFIG_S_DRIVER_OK);
    }

    /// Reads the ISR status byte (`VIRTIO_PCI_ISR_*`), which acknowledges a
    /// legacy interrupt. [`VirtioPci::setup_queues`]' INTx task does this.
    pub fn read_isr(&self) -> u8 {
        self.isr.read8(0)
    }

    /// Reads the device configuration with `read`, again while the device's
    /// `config_generation` changes meanwhile (spec 4.1.4.3.1: a value wider
    /// than one access, or several fields, could otherwise mix old and new).
    /// A device without a device configuration reads all-ones.
    pub fn read_config<T>(&self, mut read: impl FnMut(&dyn Registers) -> T) -> T {
        let mut value;
        let mut tries = 0;
        loop {
            let before = self.common.read8(common::CONFIG_GENERATION);
            value = read(&*self.device);
            let after = self.common.read8(common::CONFIG_GENERATION);
            tries += 1;
            if before == after {
                return value;
            }
            if tries == CONFIG_RETRIES {
                log::warn!(
                    "virtio {}: configuration keeps changing while read",
                    self.function.address()
                );
                return value;
            }
        }
    }

    /// Writes the device configuration (the few writable fields, such as a
    /// disk's write-cache mode).
    pub fn write_config(&self, write: impl FnOnce(&dyn Registers)) {
        write(&*self.device);
    }

    /// Bytes of device configuration.
    pub fn config_len(&self) -> usize {
        self.device.len()
    }
}

/// The interrupt task for a legacy INTx line: read the ISR (which lowers the
/// line; it is shared and level-triggered, so it must be read on every
/// interrupt, whoever raised it), report configuration changes, take the used
/// entries of every queue.
fn intx_task(
    irq: Arc<Irq>,
    isr: Arc<dyn Registers>,
    config: Arc<Irq>,
    queues: Vec<Arc<Virtqueue>>,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let mut ticket = irq.ticket();
        loop {
            if isr.read8(0) & VIRTIO_PCI_ISR_CONFIG != 0 {
                config.fire();
            }
            for q in &queues {
                q.process_used();
            }
            ticket.await;
            ticket = irq.ticket();
        }
    })
}
