//! Memory: physical frames, page tables, the kernel heap, kernel virtual areas.
//!
//! Kernel virtual layout (one PML4 slot = 512 GiB):
//!
//! | range                                       | PML4 | what                          |
//! |---------------------------------------------|------|-------------------------------|
//! | `0x0000_0000_0000_0000..0x0000_8000_0000_0000` | 0-255 | user space (per process)  |
//! | `0xffff_8000_0000_0000..`                   | 256  | direct map of physical memory |
//! | `0xffff_c000_0000_0000..`                   | 384  | kernel stacks, MMIO windows   |
//! | `0xffff_ffff_8000_0000..`                   | 511  | the kernel image (-2 GiB)     |
//!
//! The kernel half of every address space shares the same PDPTs, created at boot,
//! so a kernel mapping made later is visible in every process.
#![allow(unsafe_code)] // one of the three layers that may (see main.rs)

pub mod callbox;
pub mod dma;
pub mod frame;
pub mod heap;
pub mod huge;
mod ktests;
pub mod paging;
pub mod user;
pub mod vm;

use crate::boot::BootInfo;

/// Size of a page.
pub const PAGE_SIZE: usize = 4096;
/// Where the direct map of physical memory starts.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// Where the kernel image is linked, minus its physical load address.
pub const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
/// The area for kernel stacks and MMIO windows.
pub const VIRT_AREA_BASE: u64 = 0xffff_c000_0000_0000;
/// Size of the stacks/MMIO area.
pub const VIRT_AREA_SIZE: u64 = 512 << 30;

/// The direct-map address of physical address `pa`.
#[inline]
pub const fn phys_to_virt(pa: u64) -> u64 {
    pa + DIRECT_MAP_BASE
}

/// The physical address of a direct-map address.
#[inline]
pub const fn virt_to_phys(va: u64) -> u64 {
    va - DIRECT_MAP_BASE
}

/// Smallest amount of free memory Kestrel boots with.
pub const MIN_FREE_BYTES: u64 = 16 << 20;

/// Why memory setup stopped the boot.
#[derive(Debug)]
pub enum InitError {
    /// Less usable memory than Kestrel needs (`have` bytes free after the kernel and
    /// the boot modules).
    TooLittleMemory { have: u64 },
}

/// Sets up physical memory, the kernel's own page tables and the heap.
pub fn init(boot: &BootInfo) -> Result<(), InitError> {
    frame::init(boot)?;
    paging::init_kernel_tables(boot);
    frame::add_high_memory();
    heap::init();
    Ok(())
}
