//! Memory a device reads and writes by itself (DMA).
//!
//! A [`DmaBuffer`] owns physically contiguous memory: the device sees it at
//! [`DmaBuffer::device_addr`], the driver reads and writes it through copies
//! (volatile in the kernel, since the device may change it at any moment; there
//! is no `&mut [u8]` to memory the device also writes). Only the kernel's
//! [`DmaAllocator`] (and the test fakes) make buffers, so a driver cannot hand a
//! device an address it does not own.
//!
//! **Ownership while the device works.** A buffer must live until the device is
//! done with it. Drivers built on the kit's queues never drop a buffer that is in
//! a request the device holds: the queue keeps it until the device returns it,
//! even if the future that made the request was dropped (see
//! `kestrel-virtio`'s split queue).

use alloc::boxed::Box;

/// The kernel's side of one DMA buffer: contiguous memory and its bus address.
pub trait DmaMemory: Send + Sync {
    /// The address the device uses for byte 0.
    fn device_addr(&self) -> u64;
    /// Bytes in the buffer.
    fn len(&self) -> usize;
    /// Whether the buffer is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies `buf.len()` bytes at `offset` out of the buffer.
    fn read(&self, offset: usize, buf: &mut [u8]);
    /// Copies `data` into the buffer at `offset`.
    fn write(&self, offset: usize, data: &[u8]);
    /// Reads a little-endian u16 at `offset` (aligned) in one access.
    fn read_u16(&self, offset: usize) -> u16 {
        let mut b = [0; 2];
        self.read(offset, &mut b);
        u16::from_le_bytes(b)
    }
    /// Writes a little-endian u16 at `offset` (aligned) in one access.
    fn write_u16(&self, offset: usize, value: u16) {
        self.write(offset, &value.to_le_bytes());
    }
    /// Reads a little-endian u32 at `offset` (aligned) in one access.
    fn read_u32(&self, offset: usize) -> u32 {
        let mut b = [0; 4];
        self.read(offset, &mut b);
        u32::from_le_bytes(b)
    }
    /// Writes a little-endian u32 at `offset` (aligned) in one access.
    fn write_u32(&self, offset: usize, value: u32) {
        self.write(offset, &value.to_le_bytes());
    }
    /// Writes a little-endian u64 at `offset` (aligned).
    fn write_u64(&self, offset: usize, value: u64) {
        self.write(offset, &value.to_le_bytes());
    }
}

/// Why DMA memory could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaError {
    /// No contiguous memory of that size is free.
    NoMemory,
    /// Zero bytes, or more than one allocation may hold (4 MiB).
    BadSize,
}

/// Hands out DMA buffers, zeroed.
pub trait DmaAllocator: Send + Sync {
    /// A zeroed buffer of at least `len` bytes, page-aligned.
    fn alloc(&self, len: usize) -> Result<DmaBuffer, DmaError>;
}

/// A DMA buffer (freed when dropped: drop it only once the device is done).
pub struct DmaBuffer {
    mem: Box<dyn DmaMemory>,
}

impl DmaBuffer {
    /// Wraps the kernel's (or a fake's) memory. Drivers get buffers from a
    /// [`DmaAllocator`], not from here.
    pub fn from_memory(mem: Box<dyn DmaMemory>) -> Self {
        Self { mem }
    }

    /// The address the device uses for byte 0.
    pub fn device_addr(&self) -> u64 {
        self.mem.device_addr()
    }

    /// Bytes in the buffer.
    pub fn len(&self) -> usize {
        self.mem.len()
    }

    /// Whether the buffer is empty (never, for an allocated one).
    pub fn is_empty(&self) -> bool {
        self.mem.len() == 0
    }

    /// Copies bytes out; a range past the end is clipped (the rest of `buf` is
    /// left as it was) and the number copied returned.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.len().saturating_sub(offset));
        if n > 0 {
            self.mem.read(offset, &mut buf[..n]);
        }
        n
    }

    /// Copies bytes in; clipped at the end like [`DmaBuffer::read`].
    pub fn write(&self, offset: usize, data: &[u8]) -> usize {
        let n = data.len().min(self.len().saturating_sub(offset));
        if n > 0 {
            self.mem.write(offset, &data[..n]);
        }
        n
    }

    /// Zeroes `len` bytes at `offset` (clipped).
    pub fn zero(&self, offset: usize, len: usize) {
        let mut left = len.min(self.len().saturating_sub(offset));
        let mut at = offset;
        let zeros = [0u8; 256];
        while left > 0 {
            let n = left.min(zeros.len());
            self.mem.write(at, &zeros[..n]);
            at += n;
            left -= n;
        }
    }

    fn fits(&self, offset: usize, size: usize) -> bool {
        offset.is_multiple_of(size) && offset.checked_add(size).is_some_and(|e| e <= self.len())
    }

    /// A little-endian u16 at an aligned `offset` (0 outside the buffer).
    pub fn read_u16(&self, offset: usize) -> u16 {
        if self.fits(offset, 2) {
            self.mem.read_u16(offset)
        } else {
            0
        }
    }

    /// Writes a little-endian u16 at an aligned `offset` (ignored outside).
    pub fn write_u16(&self, offset: usize, value: u16) {
        if self.fits(offset, 2) {
            self.mem.write_u16(offset, value);
        }
    }

    /// A little-endian u32 at an aligned `offset` (0 outside the buffer).
    pub fn read_u32(&self, offset: usize) -> u32 {
        if self.fits(offset, 4) {
            self.mem.read_u32(offset)
        } else {
            0
        }
    }

    /// Writes a little-endian u32 at an aligned `offset` (ignored outside).
    pub fn write_u32(&self, offset: usize, value: u32) {
        if self.fits(offset, 4) {
            self.mem.write_u32(offset, value);
        }
    }

    /// Writes a little-endian u64 at an aligned `offset` (ignored outside).
    pub fn write_u64(&self, offset: usize, value: u64) {
        if self.fits(offset, 8) {
            self.mem.write_u64(offset, value);
        }
    }
}

impl core::fmt::Debug for DmaBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DmaBuffer")
            .field("device_addr", &format_args!("{:#x}", self.device_addr()))
            .field("len", &self.len())
            .finish()
    }
}
