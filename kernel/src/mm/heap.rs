//! The kernel heap: size classes carved from frames, and whole frames for anything
//! larger.
//!
//! Small blocks (16..=2048 bytes) come from per-class free lists; an empty list is
//! refilled by splitting one frame into equal blocks. The classes step by 16 bytes
//! up to 128 and by a quarter of the power of two below them from there to 1,024
//! (160, 192, 224, 256, 320, 384, 448, 512, 640 ... 1,024), then 2,048, as
//! jemalloc's: with powers of two only, an object of 260 bytes took 512 and one
//! of 72 took 128, and a parked thread is a handful of such objects. A block
//! starts at a multiple of its size in a page-aligned frame, so it is aligned to
//! the largest power of two that divides the size (a 448-byte block to 64), and a
//! layout whose alignment the class lacks goes to the next class that has it.
//! Larger requests take contiguous frames straight from the buddy
//! allocator ([`frame::alloc_exact`]) and give them back on free. Everything lives in
//! the direct map, so a heap pointer's physical address is just `virt_to_phys`.
//!
//! The lock disables interrupts, so allocation is safe anywhere, though interrupt
//! handlers are kept allocation-free by design.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::null_mut;

use super::{PAGE_SIZE, frame, phys_to_virt, virt_to_phys};
use crate::sync::IrqMutex;

/// The block sizes, smallest first.
const SIZES: [usize; CLASSES] = [
    16, 32, 48, 64, 80, 96, 112, 128, // 16-byte steps
    160, 192, 224, 256, // quarter steps of each power of two
    320, 384, 448, 512, //
    640, 768, 896, 1024, //
    2048,
];
const CLASSES: usize = 21;
const MAX_SMALL: usize = 2048;

/// The first class of at least `16 * i` bytes, for `i` up to 64 (1,024 bytes).
const FIRST_AT_LEAST: [u8; 65] = {
    let mut t = [0u8; 65];
    let mut i = 0;
    while i <= 64 {
        let mut c = 0;
        while SIZES[c] < i * 16 {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
};

/// A free block; the link is stored in the block itself.
struct FreeBlock {
    next: *mut FreeBlock,
}

struct Classes {
    heads: [*mut FreeBlock; CLASSES],
    /// Bytes handed out per class (statistics).
    in_use: [usize; CLASSES],
    large_pages: usize,
}

// SAFETY: the free-list pointers refer to heap memory owned by the allocator and are
// only used under the lock.
unsafe impl Send for Classes {}

static HEAP: IrqMutex<Classes> = IrqMutex::new(Classes {
    heads: [null_mut(); CLASSES],
    in_use: [0; CLASSES],
    large_pages: 0,
});

/// The global allocator.
pub struct KernelHeap;

#[global_allocator]
static ALLOCATOR: KernelHeap = KernelHeap;

/// The class index for `layout`, or `None` if it needs whole frames: the
/// smallest class at least as large whose blocks are aligned enough (a size
/// that is a multiple of the alignment: blocks start at multiples of it).
#[inline]
fn class_of(layout: &Layout) -> Option<usize> {
    let align = layout.align();
    let need = layout.size().max(align);
    if need > MAX_SMALL {
        return None;
    }
    let mut c = if need <= 1024 {
        FIRST_AT_LEAST[need.div_ceil(16)] as usize
    } else {
        CLASSES - 1
    };
    // Only alignments above 16 can skip a class; 2048 is a multiple of every
    // alignment up to its size, and `need` is at least the alignment.
    while !SIZES[c].is_multiple_of(align) {
        c += 1;
    }
    Some(c)
}

fn pages_of(layout: &Layout) -> usize {
    layout.size().div_ceil(PAGE_SIZE)
}

impl Classes {
    fn refill(&mut self, class: usize) -> bool {
        let Some(pa) = frame::alloc(0) else {
            return false;
        };
        let size = SIZES[class];
        let base = phys_to_virt(pa) as usize;
        for i in (0..PAGE_SIZE / size).rev() {
            let block = (base + i * size) as *mut FreeBlock;
            // SAFETY: the frame is freshly allocated and split into disjoint blocks.
            unsafe {
                block.write(FreeBlock {
                    next: self.heads[class],
                })
            };
            self.heads[class] = block;
        }
        true
    }
}

// SAFETY: blocks are disjoint, at least as large and as aligned as requested
// (blocks at multiples of their size inside page-aligned frames, the size a
// multiple of the alignment: `class_of`; whole frames for big ones), and
// only returned to the list they came from (same layout => same class).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class_of(&layout) {
            Some(class) => {
                let mut h = HEAP.lock();
                if h.heads[class].is_null() && !h.refill(class) {
                    return null_mut();
                }
                let block = h.heads[class];
                // SAFETY: `block` is the head of the free list, a valid FreeBlock.
                h.heads[class] = unsafe { (*block).next };
                h.in_use[class] += SIZES[class];
                block.cast()
            }
            None => large(&layout, frame::alloc_exact_uncleared),
        }
    }

    /// Large blocks come straight from the frame allocator, cleared by it
    /// (`alloc` takes them uncleared: GlobalAlloc's contract leaves a block's
    /// bytes unspecified until written, and clearing a big vector's new block
    /// before it is copied into was as much work as the copy); small ones are
    /// cleared here.
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class_of(&layout).is_none() {
            return large(&layout, frame::alloc_exact);
        }
        // SAFETY: as `alloc`, whose contract the caller keeps.
        let p = unsafe { self.alloc(layout) };
        if !p.is_null() {
            // SAFETY: `p` is a fresh block of at least `layout.size()` bytes.
            unsafe { core::ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class_of(&layout) {
            Some(class) => {
                let mut h = HEAP.lock();
                let block = ptr.cast::<FreeBlock>();
                // SAFETY: `ptr` came from `alloc` with this layout, so it is a block of
                // this class that nobody uses any more.
                unsafe {
                    block.write(FreeBlock {
                        next: h.heads[class],
                    })
                };
                h.heads[class] = block;
                h.in_use[class] -= SIZES[class];
            }
            None => {
                let pages = pages_of(&layout);
                HEAP.lock().large_pages -= pages;
                frame::free_exact(virt_to_phys(ptr as u64), pages);
            }
        }
    }
}

/// A block past the small classes: whole frames from `frames` (null if
/// memory is out, or if the alignment asked is more than a page's).
fn large(layout: &Layout, frames: fn(usize) -> Option<u64>) -> *mut u8 {
    if layout.align() > PAGE_SIZE {
        return null_mut();
    }
    let pages = pages_of(layout);
    match frames(pages) {
        Some(pa) => {
            HEAP.lock().large_pages += pages;
            phys_to_virt(pa) as *mut u8
        }
        None => null_mut(),
    }
}

/// The size of the block the heap gives for `size` bytes at `align` (a power
/// of two): its class's size, or `size` itself past the small classes. A
/// caller that keeps more in a block when it has room (the FPU state) asks for
/// the whole block.
pub fn block_size(size: usize, align: usize) -> usize {
    Layout::from_size_align(size, align)
        .ok()
        .and_then(|l| class_of(&l))
        .map_or(size, |c| SIZES[c])
}

/// Nothing to set up: classes refill lazily from the frame allocator. Kept as the
/// point in the boot order after which allocation works.
pub fn init() {}

/// Bytes currently allocated from the heap (small classes plus large frames).
pub fn bytes_in_use() -> usize {
    let h = HEAP.lock();
    h.in_use.iter().sum::<usize>() + h.large_pages * PAGE_SIZE
}

/// `n` zeroed bytes, or `None` when memory is short. Blocks of a few pages come
/// from frames the frame allocator has already cleared, so unlike
/// `vec![0; n]` after a fallible reserve, this writes them only once.
pub fn zeroed_bytes(n: usize) -> Option<alloc::vec::Vec<u8>> {
    if n == 0 {
        return Some(alloc::vec::Vec::new());
    }
    let layout = Layout::array::<u8>(n).ok()?;
    // SAFETY: the layout's size is not zero.
    let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` comes from the global allocator with the layout of `n` bytes at
    // alignment 1, which is what a Vec<u8> of capacity `n` frees with, and all
    // `n` bytes are initialised (zero).
    Some(unsafe { alloc::vec::Vec::from_raw_parts(p, n, n) })
}
