//! x86-64 four-level page tables.
//!
//! Tables are physical frames reached through the direct map. [`PageTable`] is a
//! handle to a PML4 (it does not own it); it maps 4 KiB, 2 MiB and 1 GiB pages and
//! walks the tree to translate or unmap. User address spaces are built on the same
//! handle by the process layer.

use core::sync::atomic::{AtomicU64, Ordering};

use bitflags::bitflags;

use super::{
    DIRECT_MAP_BASE, KERNEL_VMA, PAGE_SIZE, VIRT_AREA_BASE, VIRT_AREA_SIZE, frame, phys_to_virt,
};
use crate::arch::cpu;
use crate::boot::{BootInfo, MemKind};

bitflags! {
    /// Page-table entry bits (Intel SDM vol. 3, 4.5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PteFlags: u64 {
        const PRESENT = 1 << 0;
        const WRITABLE = 1 << 1;
        const USER = 1 << 2;
        const WRITE_THROUGH = 1 << 3;
        const NO_CACHE = 1 << 4;
        const ACCESSED = 1 << 5;
        const DIRTY = 1 << 6;
        /// In a PDPT or PD entry: this entry maps a 1 GiB or 2 MiB page.
        const HUGE = 1 << 7;
        const GLOBAL = 1 << 8;
        /// Software bit: the page is shared copy-on-write (write faults copy it).
        const COW = 1 << 9;
        /// Software bit: the frame is shared and must not be freed with the mapping.
        const SHARED = 1 << 10;
        const NO_EXECUTE = 1 << 63;
    }
}

const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// A page size the hardware supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    Size4K,
    Size2M,
    Size1G,
}

impl PageSize {
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Size4K => 4096,
            Self::Size2M => 2 << 20,
            Self::Size1G => 1 << 30,
        }
    }
    /// The table level whose entry maps a page of this size (1 = PT ... 3 = PDPT).
    const fn level(self) -> usize {
        match self {
            Self::Size4K => 1,
            Self::Size2M => 2,
            Self::Size1G => 3,
        }
    }
}

/// A level-1 page-table entry of a live table.
///
/// Only the owner of the table (the address space, under its lock) makes these, so
/// reads and writes through it never race with another writer.
#[derive(Debug)]
pub struct Pte(*mut u64);

impl Pte {
    /// The raw entry.
    pub fn get(&self) -> u64 {
        // SAFETY: the pointer came from a walk of a live table (see the type's docs).
        unsafe { *self.0 }
    }

    /// Replaces the raw entry (the caller flushes the TLB).
    pub fn set(&self, v: u64) {
        // SAFETY: as in `get`.
        unsafe { *self.0 = v }
    }
}

/// Mapping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No frame for an intermediate table.
    NoMemory,
    /// A huge page is in the way of a smaller mapping, or vice versa.
    Conflict,
}

/// A handle to a four-level page table rooted at a PML4 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageTable {
    root: u64,
}

fn index(va: u64, level: usize) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

fn entry(table: u64, i: usize) -> *mut u64 {
    (phys_to_virt(table) as *mut u64).wrapping_add(i)
}

/// Invalidates this CPU's TLB entry for `va`.
pub fn flush(va: u64) {
    // SAFETY: invlpg only drops a cached translation.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) };
}

impl PageTable {
    /// A handle to the table rooted at physical address `root`.
    pub const fn from_root(root: u64) -> Self {
        Self { root }
    }

    /// Physical address of the PML4.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// The entry that maps `va` at `level`, creating intermediate tables (with
    /// `table_flags`) as needed.
    fn walk_create(
        &self,
        va: u64,
        level: usize,
        table_flags: PteFlags,
    ) -> Result<*mut u64, MapError> {
        let mut table = self.root;
        for l in (level + 1..=4).rev() {
            let e = entry(table, index(va, l));
            // SAFETY: `e` points into a page-table frame reachable from the root
            // through the direct map; tables are only changed under the owner's lock.
            let v = unsafe { *e };
            if v & PteFlags::PRESENT.bits() == 0 {
                let new = frame::alloc_zeroed().ok_or(MapError::NoMemory)?;
                // SAFETY: as above.
                unsafe { *e = new | table_flags.bits() | PteFlags::PRESENT.bits() };
                table = new;
            } else if v & PteFlags::HUGE.bits() != 0 {
                return Err(MapError::Conflict);
            } else {
                if table_flags.contains(PteFlags::USER) && v & PteFlags::USER.bits() == 0 {
                    // SAFETY: as above; widening an intermediate entry to user access.
                    unsafe { *e = v | PteFlags::USER.bits() };
                }
                table = v & ADDR_MASK;
            }
        }
        Ok(entry(table, index(va, level)))
    }

    /// The entry for `va`, with its level, if every table on the way exists; stops
    /// at a huge page.
    fn walk(&self, va: u64) -> Option<(*mut u64, usize)> {
        let mut table = self.root;
        for l in (1..=4).rev() {
            let e = entry(table, index(va, l));
            // SAFETY: as in `walk_create`.
            let v = unsafe { *e };
            if l == 1 || v & PteFlags::PRESENT.bits() == 0 || v & PteFlags::HUGE.bits() != 0 {
                return Some((e, l));
            }
            table = v & ADDR_MASK;
        }
        None
    }

    /// Maps one page of `size` at `va` to `pa`. Replaces an existing entry.
    pub fn map(&self, va: u64, pa: u64, size: PageSize, flags: PteFlags) -> Result<(), MapError> {
        debug_assert!(va.is_multiple_of(size.bytes()) && pa.is_multiple_of(size.bytes()));
        let table_flags = PteFlags::WRITABLE | (flags & PteFlags::USER);
        let e = self.walk_create(va, size.level(), table_flags)?;
        let huge = if size == PageSize::Size4K {
            PteFlags::empty()
        } else {
            PteFlags::HUGE
        };
        // SAFETY: `e` is the entry for `va` at the right level (walk_create).
        unsafe { *e = pa | (flags | huge | PteFlags::PRESENT).bits() };
        flush(va);
        Ok(())
    }

    /// Maps `[va, va + len)` to `[pa, pa + len)`, using 1 GiB and 2 MiB pages where
    /// both addresses are aligned (and `huge` allows it).
    pub fn map_range(
        &self,
        va: u64,
        pa: u64,
        len: u64,
        flags: PteFlags,
        huge: bool,
    ) -> Result<(), MapError> {
        let one_gib = huge && cpu::features().pdpe1gb;
        let mut off = 0;
        while off < len {
            let (v, p, left) = (va + off, pa + off, len - off);
            let size = if one_gib
                && v.is_multiple_of(1 << 30)
                && p.is_multiple_of(1 << 30)
                && left >= 1 << 30
            {
                PageSize::Size1G
            } else if huge
                && v.is_multiple_of(2 << 20)
                && p.is_multiple_of(2 << 20)
                && left >= 2 << 20
            {
                PageSize::Size2M
            } else {
                PageSize::Size4K
            };
            self.map(v, p, size, flags)?;
            off += size.bytes();
        }
        Ok(())
    }

    /// Removes the 4 KiB mapping of `va`, returning the frame and flags it had.
    pub fn unmap(&self, va: u64) -> Option<(u64, PteFlags)> {
        let (e, level) = self.walk(va)?;
        // SAFETY: `e` is a live entry (walk).
        let v = unsafe { *e };
        if level != 1 || v & PteFlags::PRESENT.bits() == 0 {
            return None;
        }
        // SAFETY: as above.
        unsafe { *e = 0 };
        flush(va);
        Some((v & ADDR_MASK, PteFlags::from_bits_retain(v & !ADDR_MASK)))
    }

    /// The physical address and flags `va` maps to.
    pub fn translate(&self, va: u64) -> Option<(u64, PteFlags)> {
        let (e, level) = self.walk(va)?;
        // SAFETY: `e` is a live entry (walk).
        let v = unsafe { *e };
        if v & PteFlags::PRESENT.bits() == 0 {
            return None;
        }
        let page = match level {
            1 => PageSize::Size4K,
            2 => PageSize::Size2M,
            _ => PageSize::Size1G,
        };
        let base = v & ADDR_MASK & !(page.bytes() - 1);
        Some((
            base + (va & (page.bytes() - 1)),
            PteFlags::from_bits_retain(v & !ADDR_MASK),
        ))
    }

    /// A new, empty user address space: the kernel half (PML4 entries 256..512) is
    /// shared with the kernel table, the user half is empty.
    pub fn new_user() -> Option<Self> {
        let root = frame::alloc_zeroed()?;
        let kernel = kernel_table().root;
        for i in 256..512 {
            // SAFETY: both are PML4 frames reachable through the direct map; the
            // kernel's upper entries never change after boot.
            unsafe { *entry(root, i) = *entry(kernel, i) };
        }
        Some(Self { root })
    }

    /// The level-1 entry for `va`, creating tables on the way (user tables).
    pub fn pte_create(&self, va: u64) -> Result<Pte, MapError> {
        self.walk_create(va, 1, PteFlags::WRITABLE | PteFlags::USER)
            .map(Pte)
    }

    /// Calls `f` with every non-zero level-1 entry (a present page, or a frame parked
    /// in a PROT_NONE page) for pages in `[start, end)`. Skips missing tables whole.
    pub fn for_each_pte(&self, start: u64, end: u64, f: &mut dyn FnMut(u64, &mut u64)) {
        let mut va = start;
        while va < end {
            let Some((e, level)) = self.walk(va) else {
                break;
            };
            if level == 1 {
                // SAFETY: as in `pte_create`.
                let pte = unsafe { &mut *e };
                if *pte != 0 {
                    f(va, pte);
                }
                va += PAGE_SIZE as u64;
            } else {
                // No table below this entry: skip everything it would map.
                va = level_skip(va, level);
            }
        }
    }

    /// Frees every user page-table frame and the root. Leaf frames are not touched:
    /// the owner releases them first (see `vm::AddressSpace`).
    pub fn free_user_tables(self) {
        fn free_level(table: u64, level: usize, upto: usize) {
            for i in 0..upto {
                // SAFETY: `table` is a page-table frame of this (dying) address space.
                let v = unsafe { *entry(table, i) };
                if v & PteFlags::PRESENT.bits() != 0 && v & PteFlags::HUGE.bits() == 0 && level > 1
                {
                    free_level(v & ADDR_MASK, level - 1, 512);
                    frame::free(v & ADDR_MASK, 0);
                }
            }
        }
        free_level(self.root, 4, 256);
        frame::free(self.root, 0);
    }

    /// Makes this table the active one.
    ///
    /// # Safety
    /// The table must map the kernel (it must share the kernel half).
    pub unsafe fn activate(&self) {
        // SAFETY: delegated to the caller.
        unsafe { crate::arch::tlb::load(self.root) };
    }
}

/// The first address past the range mapped by the level-`level` entry for `va`.
fn level_skip(va: u64, level: usize) -> u64 {
    let span = 1u64 << (12 + 9 * (level - 1));
    (va & !(span - 1)) + span
}

/// The kernel's page table (the template for the kernel half of every process).
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
/// Next free address in the stacks/MMIO area.
static VIRT_NEXT: AtomicU64 = AtomicU64::new(VIRT_AREA_BASE);

/// The kernel page table.
pub fn kernel_table() -> PageTable {
    PageTable::from_root(KERNEL_ROOT.load(Ordering::Acquire))
}

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
}

fn sym(s: *const u8) -> u64 {
    s as u64
}

/// Builds the kernel's page tables and switches to them:
/// the direct map (no execute), the kernel image by section (text read-execute,
/// rodata read-only, data and bss read-write no-execute), and an empty PDPT for the
/// stacks/MMIO area so later mappings there are shared by every address space.
pub fn init_kernel_tables(boot: &BootInfo) {
    let nx = if cpu::features().nx {
        PteFlags::NO_EXECUTE
    } else {
        PteFlags::empty()
    };
    let root = frame::alloc_zeroed().expect("a frame for the kernel PML4");
    let table = PageTable::from_root(root);
    let data = PteFlags::WRITABLE | PteFlags::GLOBAL | nx;

    // The first MiB (firmware tables, EBDA) and every region the memory map lists.
    table
        .map_range(DIRECT_MAP_BASE, 0, 1 << 20, data, true)
        .expect("direct map");
    for r in boot.memory() {
        if matches!(
            r.kind,
            MemKind::Usable | MemKind::AcpiReclaimable | MemKind::AcpiNvs | MemKind::Reserved
        ) {
            let start = r.start & !0xfff;
            let end = (r.start + r.len).next_multiple_of(4096);
            table
                .map_range(DIRECT_MAP_BASE + start, start, end - start, data, true)
                .expect("direct map");
        }
    }

    // Only the addresses of the linker-script symbols are taken.
    let (start, text_end, rodata_end, end) = (
        sym(&raw const __kernel_start),
        sym(&raw const __text_end),
        sym(&raw const __rodata_end),
        sym(&raw const __kernel_end),
    );
    let image = |from: u64, to: u64, flags: PteFlags| {
        table
            .map_range(from, from - KERNEL_VMA, to - from, flags, false)
            .expect("kernel image map");
    };
    image(start, text_end, PteFlags::GLOBAL);
    image(text_end, rodata_end, PteFlags::GLOBAL | nx);
    image(rodata_end, end, data);

    // The shared PDPT for the stacks/MMIO area.
    let pdpt = frame::alloc_zeroed().expect("a frame for the kernel area PDPT");
    // SAFETY: writes the PML4 entry of an unused slot in the table just built.
    unsafe {
        *entry(root, index(VIRT_AREA_BASE, 4)) =
            pdpt | (PteFlags::PRESENT | PteFlags::WRITABLE).bits()
    };

    KERNEL_ROOT.store(root, Ordering::Release);
    // SAFETY: the new table maps the kernel image (where this code runs), the direct
    // map (where the stack and every kernel pointer live) and the boot data.
    unsafe { table.activate() };
}

/// Reserves `len` bytes (rounded up to pages, plus `guard` unmapped bytes below) of
/// kernel virtual space in the stacks/MMIO area.
fn reserve_virt(len: u64, guard: u64) -> u64 {
    let size = len.next_multiple_of(PAGE_SIZE as u64) + guard;
    let base = VIRT_NEXT.fetch_add(size, Ordering::Relaxed);
    assert!(
        base + size <= VIRT_AREA_BASE + VIRT_AREA_SIZE,
        "kernel virtual area exhausted"
    );
    base + guard
}

/// Maps a device's registers uncached and returns their virtual address.
pub fn map_mmio(pa: u64, len: u64) -> u64 {
    try_map_mmio(pa, len, false).expect("MMIO mapping")
}

/// Largest MMIO window a device may ask for (a BAR, an ECAM region).
pub const MAX_MMIO_WINDOW: u64 = 1 << 30;

/// Maps `len` bytes of device registers at `pa` uncached (with 2 MiB pages where
/// aligned when `huge`), or `None` when the range is larger than
/// [`MAX_MMIO_WINDOW`], wraps, or memory for page tables is out.
pub fn try_map_mmio(pa: u64, len: u64, huge: bool) -> Option<u64> {
    if len == 0 || len > MAX_MMIO_WINDOW || pa.checked_add(len).is_none() {
        return None;
    }
    let offset = pa & 0xfff;
    let start = pa & !0xfff;
    let len = (len + offset).next_multiple_of(PAGE_SIZE as u64);
    // Keep 2 MiB alignment of virtual and physical addresses in step.
    let va = if huge {
        let skew = start & ((2 << 20) - 1);
        let base = reserve_virt(len + (2 << 20), 0);
        base.next_multiple_of(2 << 20) + skew
    } else {
        reserve_virt(len, 0)
    };
    let nx = if cpu::features().nx {
        PteFlags::NO_EXECUTE
    } else {
        PteFlags::empty()
    };
    let flags =
        PteFlags::WRITABLE | PteFlags::NO_CACHE | PteFlags::WRITE_THROUGH | PteFlags::GLOBAL | nx;
    kernel_table().map_range(va, start, len, flags, huge).ok()?;
    Some(va + offset)
}

/// Allocates a kernel stack of `bytes` with an unmapped guard page below it, so an
/// overflow faults (a double fault, reported on its own IST stack) instead of
/// silently corrupting memory. Returns the stack top.
pub fn alloc_kernel_stack(bytes: u64) -> Option<u64> {
    let pages = bytes.div_ceil(PAGE_SIZE as u64);
    let base = reserve_virt(pages * PAGE_SIZE as u64, PAGE_SIZE as u64);
    let nx = if cpu::features().nx {
        PteFlags::NO_EXECUTE
    } else {
        PteFlags::empty()
    };
    let table = kernel_table();
    for i in 0..pages {
        let pa = frame::alloc_zeroed()?;
        table
            .map(
                base + i * PAGE_SIZE as u64,
                pa,
                PageSize::Size4K,
                PteFlags::WRITABLE | PteFlags::GLOBAL | nx,
            )
            .ok()?;
    }
    Some(base + pages * PAGE_SIZE as u64)
}
