//! Device register windows for the driver kit: memory-mapped (a BAR) and port I/O.
//!
//! This is the one place drivers' register accesses become volatile loads and
//! stores or `in`/`out` instructions. Every access is checked against the window:
//! one that does not fit reads all-ones (what a missing device reads) and is
//! otherwise ignored, with a warning, so a driver's wrong offset can never reach
//! memory outside its device.

use kestrel_driver_kit::Registers;

use super::port;
use crate::mm::paging;

/// Memory-mapped registers: `len` bytes mapped uncached at `base`.
pub struct Mmio {
    base: u64,
    len: usize,
}

impl Mmio {
    /// Maps `len` bytes of registers at physical address `pa` (None: too large or
    /// no memory for page tables).
    pub fn map(pa: u64, len: u64) -> Option<Self> {
        let base = paging::try_map_mmio(pa, len, len >= 2 << 20)?;
        Some(Self {
            base,
            len: len as usize,
        })
    }

    fn at(&self, offset: usize, size: usize) -> Option<u64> {
        let fits =
            offset.is_multiple_of(size) && offset.checked_add(size).is_some_and(|e| e <= self.len);
        if !fits {
            log::warn!(
                "mmio: {size}-byte access at {offset:#x} outside a {:#x}-byte window (or unaligned)",
                self.len
            );
        }
        fits.then_some(self.base + offset as u64)
    }
}

macro_rules! mmio_access {
    ($read:ident, $write:ident, $t:ty) => {
        fn $read(&self, offset: usize) -> $t {
            match self.at(offset, size_of::<$t>()) {
                // SAFETY: the address lies inside the window mapped uncached for this
                // device in `Mmio::map`, and is aligned for the access.
                Some(va) => unsafe { core::ptr::read_volatile(va as *const $t) },
                None => !0,
            }
        }
        fn $write(&self, offset: usize, value: $t) {
            if let Some(va) = self.at(offset, size_of::<$t>()) {
                // SAFETY: as for the read.
                unsafe { core::ptr::write_volatile(va as *mut $t, value) }
            }
        }
    };
}

impl Registers for Mmio {
    fn len(&self) -> usize {
        self.len
    }
    mmio_access!(read8, write8, u8);
    mmio_access!(read16, write16, u16);
    mmio_access!(read32, write32, u32);
}

/// I/O port registers: ports `base..base + len`.
pub struct Ports {
    base: u16,
    len: usize,
}

impl Ports {
    /// The ports of an I/O BAR (None if the range leaves the 64 KiB port space).
    pub fn new(base: u32, len: u32) -> Option<Self> {
        let end = base.checked_add(len)?;
        (end <= 0x1_0000).then_some(Self {
            base: base as u16,
            len: len as usize,
        })
    }

    fn at(&self, offset: usize, size: usize) -> Option<u16> {
        let fits = offset.checked_add(size).is_some_and(|e| e <= self.len);
        if !fits {
            log::warn!(
                "ports: {size}-byte access at {offset:#x} outside a {}-port window",
                self.len
            );
        }
        fits.then_some(self.base + offset as u16)
    }
}

impl Registers for Ports {
    fn len(&self) -> usize {
        self.len
    }
    fn read8(&self, offset: usize) -> u8 {
        // SAFETY: the port lies in the I/O BAR the kernel gave this driver.
        self.at(offset, 1).map_or(!0, |p| unsafe { port::inb(p) })
    }
    fn read16(&self, offset: usize) -> u16 {
        // SAFETY: as above.
        self.at(offset, 2).map_or(!0, |p| unsafe { port::inw(p) })
    }
    fn read32(&self, offset: usize) -> u32 {
        // SAFETY: as above.
        self.at(offset, 4).map_or(!0, |p| unsafe { port::inl(p) })
    }
    fn write8(&self, offset: usize, value: u8) {
        if let Some(p) = self.at(offset, 1) {
            // SAFETY: as above.
            unsafe { port::outb(p, value) }
        }
    }
    fn write16(&self, offset: usize, value: u16) {
        if let Some(p) = self.at(offset, 2) {
            // SAFETY: as above.
            unsafe { port::outw(p, value) }
        }
    }
    fn write32(&self, offset: usize, value: u32) {
        if let Some(p) = self.at(offset, 4) {
            // SAFETY: as above.
            unsafe { port::outl(p, value) }
        }
    }
}
