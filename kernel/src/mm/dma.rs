//! DMA memory for drivers: physically contiguous frames a device reaches by
//! physical address (there is no IOMMU: bus address = physical address).
//!
//! Drivers see a buffer only through the driver kit's `DmaBuffer`, which copies in
//! and out; this file does those copies through the direct map. The device may
//! write the memory at any moment, so accesses are volatile (the ring indices, in
//! one access each) or bracketed by compiler fences (bulk copies), so the compiler
//! neither caches nor elides them. x86 keeps DMA coherent with the caches.

use alloc::boxed::Box;
use core::sync::atomic::{Ordering, compiler_fence};

use kestrel_driver_kit::{DmaAllocator, DmaBuffer, DmaError, DmaMemory};

use super::{PAGE_SIZE, frame, phys_to_virt};

/// Frames owned by one DMA buffer, returned to the allocator on drop.
struct Frames {
    pa: u64,
    order: usize,
}

impl Frames {
    fn len(&self) -> usize {
        PAGE_SIZE << self.order
    }

    /// The direct-map address of byte `offset`, checked to hold `n` bytes.
    fn at(&self, offset: usize, n: usize) -> *mut u8 {
        assert!(
            offset.checked_add(n).is_some_and(|e| e <= self.len()),
            "DMA access past the buffer (the kit checks this first)"
        );
        (phys_to_virt(self.pa) + offset as u64) as *mut u8
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        frame::free(self.pa, self.order);
    }
}

impl DmaMemory for Frames {
    fn device_addr(&self) -> u64 {
        self.pa
    }
    fn len(&self) -> usize {
        Frames::len(self)
    }
    fn read(&self, offset: usize, buf: &mut [u8]) {
        let src = self.at(offset, buf.len());
        compiler_fence(Ordering::SeqCst);
        // SAFETY: `at` checked the range lies inside frames this buffer owns, reached
        // through the direct map; `buf` is ordinary memory that cannot overlap them.
        unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
        compiler_fence(Ordering::SeqCst);
    }
    fn write(&self, offset: usize, data: &[u8]) {
        let dst = self.at(offset, data.len());
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as for `read`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        compiler_fence(Ordering::SeqCst);
    }
    fn read_u16(&self, offset: usize) -> u16 {
        // SAFETY: in range (checked by `at`) and 2-aligned (the kit checks alignment).
        unsafe { core::ptr::read_volatile(self.at(offset, 2) as *const u16) }
    }
    fn write_u16(&self, offset: usize, value: u16) {
        // SAFETY: as for `read_u16`.
        unsafe { core::ptr::write_volatile(self.at(offset, 2) as *mut u16, value) }
    }
    fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: as for `read_u16`, 4-aligned.
        unsafe { core::ptr::read_volatile(self.at(offset, 4) as *const u32) }
    }
    fn write_u32(&self, offset: usize, value: u32) {
        // SAFETY: as for `read_u32`.
        unsafe { core::ptr::write_volatile(self.at(offset, 4) as *mut u32, value) }
    }
    fn write_u64(&self, offset: usize, value: u64) {
        // SAFETY: as for `read_u16`, 8-aligned.
        unsafe { core::ptr::write_volatile(self.at(offset, 8) as *mut u64, value) }
    }
}

/// The kernel's DMA allocator: zeroed, naturally aligned blocks from the buddy
/// allocator, up to 4 MiB.
pub struct KernelDma;

impl DmaAllocator for KernelDma {
    fn alloc(&self, len: usize) -> Result<DmaBuffer, DmaError> {
        if len == 0 || len > PAGE_SIZE << frame::MAX_ORDER {
            return Err(DmaError::BadSize);
        }
        let order = len.div_ceil(PAGE_SIZE).next_power_of_two().trailing_zeros() as usize;
        let pa = frame::alloc(order).ok_or(DmaError::NoMemory)?;
        Ok(DmaBuffer::from_memory(Box::new(Frames { pa, order })))
    }
}
