//! The kernel heap: power-of-two size classes carved from frames, and whole frames
//! for anything larger.
//!
//! Small blocks (16..=2048 bytes) come from per-class free lists; an empty list is
//! refilled by splitting one frame into equal blocks, which are naturally aligned to
//! their size. Larger requests take contiguous frames straight from the buddy
//! allocator ([`frame::alloc_exact`]) and give them back on free. Everything lives in
//! the direct map, so a heap pointer's physical address is just `virt_to_phys`.
//!
//! The lock disables interrupts, so allocation is safe anywhere, though interrupt
//! handlers are kept allocation-free by design.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::null_mut;

use super::{PAGE_SIZE, frame, phys_to_virt, virt_to_phys};
use crate::sync::IrqMutex;

const MIN_CLASS_SHIFT: usize = 4; // 16 bytes
const MAX_CLASS_SHIFT: usize = 11; // 2048 bytes
const CLASSES: usize = MAX_CLASS_SHIFT - MIN_CLASS_SHIFT + 1;

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

/// The class index for `size` bytes, or `None` if it needs whole frames.
fn class_of(layout: &Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_CLASS_SHIFT);
    let shift = size.next_power_of_two().trailing_zeros() as usize;
    (shift <= MAX_CLASS_SHIFT).then(|| shift - MIN_CLASS_SHIFT)
}

fn pages_of(layout: &Layout) -> usize {
    layout.size().div_ceil(PAGE_SIZE)
}

impl Classes {
    fn refill(&mut self, class: usize) -> bool {
        let Some(pa) = frame::alloc(0) else {
            return false;
        };
        let size = 1usize << (class + MIN_CLASS_SHIFT);
        let base = phys_to_virt(pa) as usize;
        for off in (0..PAGE_SIZE).step_by(size).rev() {
            let block = (base + off) as *mut FreeBlock;
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
// (power-of-two classes inside page-aligned frames; whole frames for big ones), and
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
                h.in_use[class] += 1 << (class + MIN_CLASS_SHIFT);
                block.cast()
            }
            None if layout.align() <= PAGE_SIZE => {
                let pages = pages_of(&layout);
                match frame::alloc_exact(pages) {
                    Some(pa) => {
                        HEAP.lock().large_pages += pages;
                        phys_to_virt(pa) as *mut u8
                    }
                    None => null_mut(),
                }
            }
            None => null_mut(),
        }
    }

    /// Large blocks come straight from the frame allocator, which clears every
    /// frame it hands out: clearing them again (GlobalAlloc's default) doubled
    /// the cost of every `vec![0; n]` of a few pages, such as the system calls'
    /// 64-128 KiB bounce buffers.
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`, whose contract the caller keeps.
        let p = unsafe { self.alloc(layout) };
        if !p.is_null() && class_of(&layout).is_some() {
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
                h.in_use[class] -= 1 << (class + MIN_CLASS_SHIFT);
            }
            None => {
                let pages = pages_of(&layout);
                HEAP.lock().large_pages -= pages;
                frame::free_exact(virt_to_phys(ptr as u64), pages);
            }
        }
    }
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
