//! A driver for QEMU's `edu` device: the template for a new driver.
//!
//! `edu` is QEMU's teaching device (`-device edu`, PCI 1234:11e8; its
//! registers are described at <https://www.qemu.org/docs/master/specs/edu.html>).
//! It has no use but to be driven: a register that identifies it, one that
//! inverts what is written, a factorial unit that raises an interrupt when
//! done, and a DMA engine with a 4 KiB buffer of its own. That is what a driver
//! of a real device does, without a protocol in the way: map a BAR, check the
//! device, take an interrupt, move memory.
//!
//! At probe the driver checks the identification and liveness registers, then
//! spawns a task that computes 5! on the device and waits for the completion
//! interrupt, and copies a pattern to the device and back by DMA. It logs:
//!
//! ```text
//! edu 0000:00:03.0: 5! = 120 (by interrupt)
//! edu 0000:00:03.0: DMA round trip of 64 bytes matches
//! ```
//!
//! docs/writing-a-driver.md walks through it and says how to start a new
//! driver from a copy.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use futures_util::future::{Either, select};
use kestrel_driver_kit::pci::PciAddress;
use kestrel_driver_kit::{Driver, Host, IoError, Irq, PciFunction, PciId, ProbeError, Registers};

/// QEMU's PCI vendor ID, and the edu device's.
pub const EDU_VENDOR_ID: u16 = 0x1234;
pub const EDU_DEVICE_ID: u16 = 0x11e8;

/// Registers in BAR 0, by offset. Below 0x80 the device takes only 32-bit
/// accesses.
pub mod reg {
    /// `0xRRrr00ed`: major version RR, minor version rr.
    pub const ID: usize = 0x00;
    /// Reads back the inverse of what was written.
    pub const LIVENESS: usize = 0x04;
    /// Write n: the device computes n! (mod 2^32) and puts it here.
    pub const FACTORIAL: usize = 0x08;
    /// [`STATUS_COMPUTING`], [`STATUS_IRQ_FACTORIAL`].
    pub const STATUS: usize = 0x20;
    /// Why the device interrupted: [`IRQ_FACTORIAL`], [`IRQ_DMA`].
    pub const IRQ_STATUS: usize = 0x24;
    /// Write bits here to clear them from `IRQ_STATUS`.
    pub const IRQ_ACK: usize = 0x64;
    pub const DMA_SRC: usize = 0x80;
    pub const DMA_DST: usize = 0x88;
    pub const DMA_COUNT: usize = 0x90;
    /// [`DMA_START`], [`DMA_TO_RAM`], [`DMA_IRQ`].
    pub const DMA_CMD: usize = 0x98;

    pub const STATUS_COMPUTING: u32 = 0x01;
    pub const STATUS_IRQ_FACTORIAL: u32 = 0x80;
    pub const IRQ_FACTORIAL: u32 = 0x001;
    pub const IRQ_DMA: u32 = 0x100;
    pub const DMA_START: u32 = 0x1;
    pub const DMA_TO_RAM: u32 = 0x2;
    pub const DMA_IRQ: u32 = 0x4;
}

/// Where the device's own DMA buffer is, in its DMA address space, and its size.
const EDU_BUFFER: u32 = 0x4_0000;
const EDU_BUFFER_LEN: usize = 4096;
/// The device only reaches the first 256 MiB (its default `dma_mask` is 28
/// bits); it quietly drops the higher bits of a larger address.
const EDU_DMA_LIMIT: u64 = 1 << 28;
/// How long an operation may take: a DMA transfer takes the device 100 ms.
const TIMEOUT_NS: u64 = 1_000_000_000;

/// The driver: takes every edu device.
pub struct EduDriver;

impl Driver for EduDriver {
    fn name(&self) -> &'static str {
        "edu"
    }

    fn matches(&self, id: &PciId) -> bool {
        id.vendor == EDU_VENDOR_ID && id.device == EDU_DEVICE_ID
    }

    fn probe(&self, function: Arc<dyn PciFunction>, host: Arc<dyn Host>) -> Result<(), ProbeError> {
        let edu = Edu::new(function, host.clone())?;
        // A probe runs at boot and must not wait: the device's work goes to a task.
        host.spawn("edu", Box::pin(edu.demo()));
        Ok(())
    }
}

/// One edu device.
pub struct Edu {
    address: PciAddress,
    regs: Arc<dyn Registers>,
    irq: Arc<Irq>,
    host: Arc<dyn Host>,
}

impl Edu {
    /// Maps the registers, checks the device is an edu that answers, and
    /// takes its interrupt.
    pub fn new(
        function: Arc<dyn PciFunction>,
        host: Arc<dyn Host>,
    ) -> Result<Arc<Self>, ProbeError> {
        let regs = function.map_bar(0)?;
        if regs.len() < reg::DMA_CMD + 4 {
            return Err(ProbeError::Unsupported("BAR 0 is too small"));
        }
        let id = regs.read32(reg::ID);
        if id & 0xffff != 0x00ed {
            return Err(ProbeError::Device("the identification register is wrong"));
        }
        regs.write32(reg::LIVENESS, 0x1234_5678);
        if regs.read32(reg::LIVENESS) != !0x1234_5678 {
            return Err(ProbeError::Device("the liveness register does not invert"));
        }
        // One source: the kernel gives an MSI vector (edu has no MSI-X).
        let irq = function
            .interrupts(1)?
            .into_iter()
            .next()
            .ok_or(ProbeError::NoInterrupt)?;
        // An MSI is a memory write by the device, as DMA is: both need this.
        function.enable_bus_master();
        // Start clean: no interrupt on a factorial, nothing pending.
        regs.write32(reg::STATUS, 0);
        regs.write32(reg::IRQ_ACK, regs.read32(reg::IRQ_STATUS));
        let address = function.address();
        log::info!("edu {address}: version {}.{}", id >> 24, (id >> 16) & 0xff);
        Ok(Arc::new(Self {
            address,
            regs,
            irq,
            host,
        }))
    }

    /// Starts an operation with `start` and waits until the device raises
    /// `bit` in its interrupt status, then acknowledges it. An interrupt is
    /// what ends each wait; the status register says whether it was ours.
    async fn until_interrupt(&self, bit: u32, start: impl FnOnce()) -> Result<(), IoError> {
        // The ticket is taken before the device is told to start, so an
        // interrupt that comes however soon after still completes it.
        let mut ticket = self.irq.ticket();
        start();
        let deadline = self.host.now_ns().saturating_add(TIMEOUT_NS);
        loop {
            let left = deadline.saturating_sub(self.host.now_ns());
            if let Either::Right(_) = select(ticket, self.host.sleep(left)).await {
                log::warn!("edu {}: no interrupt within 1 s", self.address);
                return Err(IoError::Timeout);
            }
            // Next ticket first, then look: an interrupt after the look is kept.
            ticket = self.irq.ticket();
            let status = self.regs.read32(reg::IRQ_STATUS);
            if status == !0 {
                // All-ones is what a device that went away reads as.
                return Err(IoError::Device);
            }
            if status & bit != 0 {
                self.regs.write32(reg::IRQ_ACK, bit);
                return Ok(());
            }
        }
    }

    /// n! computed by the device (exact up to 12!, the largest that fits 32 bits).
    pub async fn factorial(&self, n: u32) -> Result<u32, IoError> {
        if n > 12 {
            return Err(IoError::OutOfRange);
        }
        if self.regs.read32(reg::STATUS) & reg::STATUS_COMPUTING != 0 {
            return Err(IoError::Device);
        }
        self.regs.write32(reg::STATUS, reg::STATUS_IRQ_FACTORIAL);
        self.until_interrupt(reg::IRQ_FACTORIAL, || {
            self.regs.write32(reg::FACTORIAL, n);
        })
        .await?;
        Ok(self.regs.read32(reg::FACTORIAL))
    }

    /// Copies `data` (up to 2 KiB) into the device's own buffer by DMA, then
    /// back into the second half of a DMA buffer, and returns what came back
    /// (`None`: the buffer lies out of the device's reach; nothing was done).
    pub async fn dma_round_trip(&self, data: &[u8]) -> Result<Option<Vec<u8>>, IoError> {
        let len = data.len();
        if len == 0 || len > EDU_BUFFER_LEN / 2 {
            return Err(IoError::OutOfRange);
        }
        let buf = self
            .host
            .dma()
            .alloc(EDU_BUFFER_LEN)
            .map_err(|_| IoError::NoMemory)?;
        let addr = buf.device_addr();
        if addr + buf.len() as u64 > EDU_DMA_LIMIT {
            log::info!(
                "edu {}: DMA skipped: buffer at {addr:#x}, above 256 MiB",
                self.address
            );
            return Ok(None);
        }
        buf.write(0, data);
        let to_device = [addr as u32, EDU_BUFFER, reg::DMA_START | reg::DMA_IRQ];
        let to_ram = [
            EDU_BUFFER,
            addr as u32 + 2048,
            reg::DMA_START | reg::DMA_TO_RAM | reg::DMA_IRQ,
        ];
        for [src, dst, cmd] in [to_device, to_ram] {
            let moved = self.until_interrupt(reg::IRQ_DMA, || {
                self.regs.write32(reg::DMA_SRC, src);
                self.regs.write32(reg::DMA_DST, dst);
                self.regs.write32(reg::DMA_COUNT, len as u32);
                self.regs.write32(reg::DMA_CMD, cmd);
            });
            if let Err(e) = moved.await {
                // The device may still write the buffer: it must never be
                // freed. edu cannot be reset, so the page is given up.
                core::mem::forget(buf);
                return Err(e);
            }
        }
        let mut back = vec![0; len];
        buf.read(2048, &mut back);
        Ok(Some(back))
    }

    /// The task probe spawns: one factorial, one DMA round trip, logged.
    async fn demo(self: Arc<Self>) {
        let at = self.address;
        match self.factorial(5).await {
            Ok(v) => log::info!("edu {at}: 5! = {v} (by interrupt)"),
            Err(e) => log::warn!("edu {at}: factorial failed: {e:?}"),
        }
        let pattern: [u8; 64] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
        match self.dma_round_trip(&pattern).await {
            Ok(Some(back)) if back == pattern => {
                log::info!("edu {at}: DMA round trip of {} bytes matches", back.len())
            }
            Ok(Some(_)) => log::warn!("edu {at}: DMA round trip came back different"),
            Ok(None) => {}
            Err(e) => log::warn!("edu {at}: DMA failed: {e:?}"),
        }
    }
}

#[cfg(test)]
mod tests;
