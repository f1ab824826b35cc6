//! Device registers, by byte offset.
//!
//! A [`Registers`] is one window of a device's registers: a memory-mapped BAR, or
//! a range of I/O ports. The kernel's implementations do the volatile accesses
//! (`kernel/src/arch/x86_64/mmio.rs`, `port.rs`); a driver only names offsets.
//! An access outside the window is a driver bug: the kernel's windows check every
//! offset, read all-ones (what a missing device reads) and ignore the write, and
//! log it, so a wrong offset can never reach other memory.

/// A window of device registers.
pub trait Registers: Send + Sync {
    /// Bytes in the window.
    fn len(&self) -> usize;
    /// Whether the window is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read8(&self, offset: usize) -> u8;
    fn read16(&self, offset: usize) -> u16;
    fn read32(&self, offset: usize) -> u32;
    fn write8(&self, offset: usize, value: u8);
    fn write16(&self, offset: usize, value: u16);
    fn write32(&self, offset: usize, value: u32);
    /// A 64-bit register as two 32-bit accesses, low half first (how virtio and
    /// most PCI devices accept them).
    fn read64(&self, offset: usize) -> u64 {
        u64::from(self.read32(offset)) | u64::from(self.read32(offset + 4)) << 32
    }
    /// A 64-bit register written as two 32-bit accesses, low half first.
    fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }
}

/// A sub-window of another window: registers at `base..base + len` of `inner`
/// (a virtio capability inside a BAR). Offsets past `len` read all-ones.
pub struct Window<R> {
    inner: R,
    base: usize,
    len: usize,
}

impl<R: core::ops::Deref<Target = dyn Registers> + Send + Sync> Window<R> {
    /// The registers `base..base + len` of `inner`, clipped to `inner`'s size.
    pub fn new(inner: R, base: usize, len: usize) -> Self {
        let len = len.min(inner.len().saturating_sub(base));
        Self { inner, base, len }
    }

    fn fits(&self, offset: usize, size: usize) -> bool {
        offset.checked_add(size).is_some_and(|end| end <= self.len)
    }
}

impl<R: core::ops::Deref<Target = dyn Registers> + Send + Sync> Registers for Window<R> {
    fn len(&self) -> usize {
        self.len
    }
    fn read8(&self, offset: usize) -> u8 {
        if self.fits(offset, 1) {
            self.inner.read8(self.base + offset)
        } else {
            !0
        }
    }
    fn read16(&self, offset: usize) -> u16 {
        if self.fits(offset, 2) {
            self.inner.read16(self.base + offset)
        } else {
            !0
        }
    }
    fn read32(&self, offset: usize) -> u32 {
        if self.fits(offset, 4) {
            self.inner.read32(self.base + offset)
        } else {
            !0
        }
    }
    fn write8(&self, offset: usize, value: u8) {
        if self.fits(offset, 1) {
            self.inner.write8(self.base + offset, value);
        }
    }
    fn write16(&self, offset: usize, value: u16) {
        if self.fits(offset, 2) {
            self.inner.write16(self.base + offset, value);
        }
    }
    fn write32(&self, offset: usize, value: u32) {
        if self.fits(offset, 4) {
            self.inner.write32(self.base + offset, value);
        }
    }
}
