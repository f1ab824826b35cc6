//! The physical frame allocator: a binary buddy system over the boot memory map.
//!
//! Free blocks of 2^order frames (order 0..=MAX_ORDER) sit on one doubly linked list
//! per order. The links live outside the free memory, in an array with one [`Node`]
//! per frame, so the allocator never touches the frames it manages and a stray write
//! into a free frame cannot corrupt it. Freeing a block merges it with its buddy
//! (the block whose index differs in bit `order`) while that buddy is free and of the
//! same order. Frames never handed to the allocator (the kernel image, boot modules,
//! the first MiB, firmware areas) are simply never free, so they never merge.
//!
//! A second array, [`PageMeta`], holds per-frame reference counts for sharing frames
//! between address spaces (copy-on-write, shared mappings, the page cache).
//!
//! # Metadata made ready per chunk
//! Both arrays are kept per chunk of 2^MAX_ORDER frames (4 MiB of memory, 16 KiB
//! of metadata: [`Chunk`]), and a chunk's metadata is only written (zeroed: the
//! empty state is all zero bits) the first time the allocator needs it: when one
//! of its frames is first handed out, or when a piece of it smaller than a whole
//! chunk is added. A chunk free as a whole is one bit in a bitmap (`whole`), not a
//! list entry in its own metadata, and whole chunks are taken lowest first. So
//! the boot writes the metadata of the few chunks near the kernel it uses (a few
//! hundred KiB, in pages already touched) instead of all of it (16 bytes per
//! frame: 4 MiB for 1 GiB, a loop of 262,144 steps); under QEMU's TCG every 2 MiB
//! of guest memory touched for the first time costs the host a huge page, up to
//! a few ms each on a host that gives freed memory back (docs/hot-paths.md,
//! "Boot").
//!
//! Until the kernel's own page tables are live only the boot direct map (the first
//! 4 GiB) is reachable, so frames above 4 GiB are added afterwards
//! ([`add_high_memory`]).
//!
//! # Per-CPU caches
//! Single frames (most allocations: user pages, page tables, page cache) come from
//! and go back to a small per-CPU stack in front of the buddy lock, refilled and
//! drained in batches, as Linux's per-CPU page lists: CPUs faulting in pages at the
//! same time do not queue on one lock for every page. Cached frames count as free.
//! When the buddy runs dry, the other CPUs' caches are emptied into it before an
//! allocation fails.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::boot::{BootInfo, MemKind};
use crate::mm::{InitError, MIN_FREE_BYTES, PAGE_SIZE, phys_to_virt};
use crate::sync::IrqMutex;

/// Largest block: 2^10 frames = 4 MiB.
pub const MAX_ORDER: usize = 10;
/// Frames in a chunk: the largest block.
const CHUNK_FRAMES: usize = 1 << MAX_ORDER;
/// The end of a list: frame 0 is never managed (it is below [`LOW_RESERVED`]), so
/// zeroed metadata holds no link.
const NIL: u32 = 0;
const PAGE: u64 = PAGE_SIZE as u64;
/// Memory below this stays with the firmware (real-mode IVT, BDA, EBDA, VGA, BIOS).
const LOW_RESERVED: u64 = 1 << 20;
const FOUR_GIB: u64 = 4 << 30;

/// A frame's place in the free lists. Only the allocator (under the BUDDY lock)
/// reads or writes it; the fields are atomics (relaxed: plain moves) only so that
/// a [`Chunk`] can be shared with [`meta`]'s readers.
#[derive(Debug)]
struct Node {
    next: AtomicU32,
    prev: AtomicU32,
    order: AtomicU8,
    free: AtomicBool,
}

/// Per-frame metadata shared with the rest of the kernel.
#[derive(Debug)]
pub struct PageMeta {
    /// References from page tables and caches; 0 when the frame is not shared.
    pub refcount: AtomicU32,
}

/// The metadata of one chunk of frames: all zero bits is its empty state (no
/// frame free, no link, no reference).
struct Chunk {
    nodes: [Node; CHUNK_FRAMES],
    meta: [PageMeta; CHUNK_FRAMES],
}

/// Where the metadata lives, for the allocator and for [`meta`].
struct Table {
    /// The direct-map address of chunk 0's metadata; chunk `k`'s follows at
    /// `k * size_of::<Chunk>()`. Only a ready chunk's is ever read.
    chunks_at: u64,
    /// Chunks covered: every frame up to the highest usable one.
    chunks: usize,
    /// Bit `k`: chunk `k`'s metadata is initialised (set under the BUDDY lock
    /// after zeroing it, with Release; read with Acquire).
    ready: &'static [AtomicU64],
}

impl Table {
    /// Whether chunk `k` (which must exist) is ready.
    fn is_ready(&self, k: usize) -> bool {
        assert!(
            k < self.chunks,
            "frame beyond the highest usable one (chunk {k})"
        );
        self.ready[k / 64].load(Ordering::Acquire) & (1 << (k % 64)) != 0
    }

    /// The direct-map address of chunk `k`'s metadata.
    fn chunk_at(&self, k: usize) -> u64 {
        self.chunks_at + (k * core::mem::size_of::<Chunk>()) as u64
    }

    /// Chunk `k`'s metadata, which must be ready.
    fn chunk(&self, k: usize) -> &'static Chunk {
        assert!(
            self.is_ready(k),
            "frame metadata of chunk {k} used before it is ready"
        );
        // SAFETY: chunk `k` is inside the metadata area (`k < chunks`, which
        // `is_ready` checked), which is reserved for the
        // allocator and never handed out; it was zeroed, which is a valid
        // `Chunk` (atomics only), before its ready bit was set, and the Acquire
        // load above sees that. It is only ever accessed through shared
        // references from then on (atomics), so the `&'static` is sound.
        unsafe { &*(self.chunk_at(k) as *const Chunk) }
    }
}

static TABLE: spin::Once<Table> = spin::Once::new();

struct Buddy {
    table: &'static Table,
    /// Bit `k`: chunk `k` is free as a whole (a free block of MAX_ORDER). Such a
    /// chunk is on no list, and its metadata need not be ready.
    whole: &'static mut [u64],
    /// No bit of `whole` is set below this word.
    whole_from: usize,
    /// The free lists of the orders below MAX_ORDER.
    heads: [u32; MAX_ORDER],
    free_pages: u64,
    managed_pages: u64,
}

static BUDDY: IrqMutex<Option<Buddy>> = IrqMutex::new(None);

/// Frames a CPU's cache holds at most; it drains half when full.
const CACHE_MAX: usize = 64;
/// Frames moved between a cache and the buddy at a time.
const CACHE_BATCH: usize = 16;

/// One CPU's stack of free single frames (page frame numbers).
struct FrameCache {
    pfns: [u32; CACHE_MAX],
    len: usize,
}

static CACHES: [IrqMutex<FrameCache>; crate::arch::acpi::MAX_CPUS] = [const {
    IrqMutex::new(FrameCache {
        pfns: [0; CACHE_MAX],
        len: 0,
    })
};
    crate::arch::acpi::MAX_CPUS];

/// Frames sitting in the per-CPU caches (free, but not in the buddy).
static CACHED: AtomicU64 = AtomicU64::new(0);

fn my_cache() -> &'static IrqMutex<FrameCache> {
    let cpu = crate::arch::percpu::this_cpu()
        .cpu_id
        .load(Ordering::Relaxed) as usize;
    &CACHES[cpu.min(CACHES.len() - 1)]
}

/// One frame from this CPU's cache, refilling it from the buddy when empty; when
/// the buddy is empty too, the other CPUs' caches are emptied into it first.
/// `floor`: frames the buddy and the caches together must keep (the reserve).
fn alloc_single(floor: u64) -> Option<u32> {
    if free_frames() <= floor {
        return None;
    }
    let mut cache = my_cache().lock();
    if cache.len == 0 {
        let mut guard = BUDDY.lock();
        let b = guard.as_mut()?;
        if b.free_pages == 0 {
            drop(guard);
            drop(cache);
            drain_all_caches();
            cache = my_cache().lock();
            guard = BUDDY.lock();
        }
        let b = guard.as_mut()?;
        while cache.len < CACHE_BATCH {
            let Some(pfn) = b.alloc(0) else { break };
            let i = cache.len;
            cache.pfns[i] = pfn;
            cache.len += 1;
            CACHED.fetch_add(1, Ordering::Relaxed);
        }
    }
    if cache.len == 0 {
        return None;
    }
    cache.len -= 1;
    CACHED.fetch_sub(1, Ordering::Relaxed);
    Some(cache.pfns[cache.len])
}

/// Returns one frame to this CPU's cache, draining half of it when full.
fn free_single(pfn: u32) {
    let mut cache = my_cache().lock();
    if cache.len == CACHE_MAX {
        let mut guard = BUDDY.lock();
        let Some(b) = guard.as_mut() else { return };
        while cache.len > CACHE_MAX / 2 {
            cache.len -= 1;
            b.free(cache.pfns[cache.len], 0);
            CACHED.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let i = cache.len;
    cache.pfns[i] = pfn;
    cache.len += 1;
    CACHED.fetch_add(1, Ordering::Relaxed);
}

/// Empties every CPU's cache into the buddy (memory is short).
fn drain_all_caches() {
    for c in &CACHES {
        let mut cache = c.lock();
        if cache.len == 0 {
            continue;
        }
        let mut guard = BUDDY.lock();
        let Some(b) = guard.as_mut() else { return };
        while cache.len > 0 {
            cache.len -= 1;
            b.free(cache.pfns[cache.len], 0);
            CACHED.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Free frames: the buddy's and the caches'.
fn free_frames() -> u64 {
    let buddy = BUDDY.lock().as_ref().map_or(0, |b| b.free_pages);
    buddy + CACHED.load(Ordering::Relaxed)
}

fn reserve() -> u64 {
    BUDDY
        .lock()
        .as_ref()
        .map_or(0, |b| reserve_pages(b.managed_pages))
}
/// Free ranges at or above 4 GiB, added once the full direct map exists.
static HIGH: IrqMutex<([(u64, u64); 32], usize)> = IrqMutex::new(([(0, 0); 32], 0));

impl Buddy {
    /// Frame `pfn`'s node; its chunk must be ready.
    fn node(&self, pfn: u32) -> &'static Node {
        let pfn = pfn as usize;
        &self.table.chunk(pfn / CHUNK_FRAMES).nodes[pfn % CHUNK_FRAMES]
    }

    /// Initialises chunk `k`'s metadata (all zero: nothing free, no references)
    /// unless it is already.
    fn make_ready(&mut self, k: usize) {
        if self.table.is_ready(k) {
            return;
        }
        let at = self.table.chunk_at(k);
        // SAFETY: chunk `k` lies in the metadata area (`k < chunks`, checked by
        // `is_ready`), reserved for the allocator; no
        // reference to it exists before its ready bit is set, and the BUDDY
        // lock, held by `&mut self`, keeps a second CPU from zeroing it too.
        unsafe { core::ptr::write_bytes(at as *mut Chunk, 0, 1) };
        self.table.ready[k / 64].fetch_or(1 << (k % 64), Ordering::Release);
    }

    fn push(&mut self, pfn: u32, order: usize) {
        let head = self.heads[order];
        let n = self.node(pfn);
        n.next.store(head, Ordering::Relaxed);
        n.prev.store(NIL, Ordering::Relaxed);
        n.order.store(order as u8, Ordering::Relaxed);
        n.free.store(true, Ordering::Relaxed);
        if head != NIL {
            self.node(head).prev.store(pfn, Ordering::Relaxed);
        }
        self.heads[order] = pfn;
    }

    fn unlink(&mut self, pfn: u32) {
        let n = self.node(pfn);
        let (next, prev) = (
            n.next.load(Ordering::Relaxed),
            n.prev.load(Ordering::Relaxed),
        );
        if prev != NIL {
            self.node(prev).next.store(next, Ordering::Relaxed);
        } else {
            self.heads[usize::from(n.order.load(Ordering::Relaxed))] = next;
        }
        if next != NIL {
            self.node(next).prev.store(prev, Ordering::Relaxed);
        }
        n.free.store(false, Ordering::Relaxed);
    }

    /// Takes the lowest chunk free as a whole, its metadata ready.
    fn take_whole(&mut self) -> Option<u32> {
        let i = (self.whole_from..self.whole.len()).find(|&i| self.whole[i] != 0)?;
        self.whole_from = i;
        let bit = self.whole[i].trailing_zeros() as usize;
        self.whole[i] &= !(1 << bit);
        let k = i * 64 + bit;
        self.make_ready(k);
        Some((k * CHUNK_FRAMES) as u32)
    }

    fn put_whole(&mut self, pfn: u32) {
        let k = pfn as usize / CHUNK_FRAMES;
        self.whole[k / 64] |= 1 << (k % 64);
        self.whole_from = self.whole_from.min(k / 64);
    }

    fn alloc(&mut self, order: usize) -> Option<u32> {
        let (pfn, found) = match (order..MAX_ORDER).find(|&o| self.heads[o] != NIL) {
            Some(o) => {
                let pfn = self.heads[o];
                self.unlink(pfn);
                (pfn, o)
            }
            None => (self.take_whole()?, MAX_ORDER),
        };
        // Split: keep the lower half, free the upper halves.
        for o in (order..found).rev() {
            self.push(pfn + (1 << o), o);
        }
        self.free_pages -= 1 << order;
        Some(pfn)
    }

    /// Frees a block whose chunk is ready (it was allocated, or [`Buddy::add_range`]
    /// made it ready), or a whole chunk. The buddy of a block below MAX_ORDER is
    /// in the same chunk.
    fn free(&mut self, mut pfn: u32, mut order: usize) {
        self.free_pages += 1 << order;
        while order < MAX_ORDER {
            let buddy = pfn ^ (1 << order);
            let n = self.node(buddy);
            if !n.free.load(Ordering::Relaxed)
                || usize::from(n.order.load(Ordering::Relaxed)) != order
            {
                break;
            }
            self.unlink(buddy);
            pfn = pfn.min(buddy);
            order += 1;
        }
        if order == MAX_ORDER {
            self.put_whole(pfn);
        } else {
            self.push(pfn, order);
        }
    }

    /// Hands the frames of `[start, end)` (page-aligned) to the allocator as the
    /// largest aligned blocks that fit. A whole chunk's metadata is left as it
    /// is; a smaller piece's chunk is made ready.
    fn add_range(&mut self, start: u64, end: u64) {
        let mut pfn = start / PAGE;
        let last = (end / PAGE).min((self.table.chunks * CHUNK_FRAMES) as u64);
        while pfn < last {
            let mut order = MAX_ORDER;
            while order > 0 && (!pfn.is_multiple_of(1 << order) || pfn + (1 << order) > last) {
                order -= 1;
            }
            self.managed_pages += 1 << order;
            if order < MAX_ORDER {
                self.make_ready(pfn as usize / CHUNK_FRAMES);
            }
            self.free(pfn as u32, order);
            pfn += 1 << order;
        }
    }
}

/// Free ranges: usable memory minus everything reserved, clipped to `[lo, hi)`.
fn for_each_free_range(boot: &BootInfo, reserved: &[(u64, u64)], mut f: impl FnMut(u64, u64)) {
    for r in boot.memory().iter().filter(|r| r.kind == MemKind::Usable) {
        let mut start = r.start.max(LOW_RESERVED).next_multiple_of(PAGE);
        let end = (r.start + r.len) & !(PAGE - 1);
        while start < end {
            // Cut at the first reserved range that overlaps [start, end).
            let cut = reserved
                .iter()
                .filter(|&&(rs, re)| rs < end && re > start)
                .min_by_key(|&&(rs, _)| rs);
            match cut {
                Some(&(rs, re)) => {
                    let rs = rs & !(PAGE - 1);
                    if rs > start {
                        f(start, rs);
                    }
                    start = start.max(re.next_multiple_of(PAGE));
                }
                None => {
                    f(start, end);
                    break;
                }
            }
        }
    }
}

/// Initialises the allocator with the free memory below 4 GiB.
pub fn init(boot: &BootInfo) -> Result<(), InitError> {
    let mut reserved = [(0u64, 0u64); 24];
    let mut n = 0;
    reserved[n] = boot.kernel_phys_range();
    n += 1;
    for m in boot.modules() {
        if n < reserved.len() {
            reserved[n] = (m.start, m.end);
            n += 1;
        }
    }

    let max_pfn = boot
        .memory()
        .iter()
        .filter(|r| r.kind == MemKind::Usable)
        .map(|r| (r.start + r.len) / PAGE)
        .max()
        .unwrap_or(0);
    let mut total_free = 0;
    for_each_free_range(boot, &reserved[..n], |s, e| total_free += e - s);

    // Room for the metadata, taken from the first free range below 4 GiB that holds
    // it: the two bitmaps (`ready`, `whole`) in its first pages, then the chunks.
    let chunks = (max_pfn as usize).div_ceil(CHUNK_FRAMES);
    let words = chunks.div_ceil(64);
    let bitmap_bytes = ((2 * words * 8) as u64).next_multiple_of(PAGE);
    let meta_bytes = bitmap_bytes + (chunks * core::mem::size_of::<Chunk>()) as u64;
    let mut meta_at = None;
    for_each_free_range(boot, &reserved[..n], |s, e| {
        if meta_at.is_none() && e <= FOUR_GIB && e - s >= meta_bytes {
            meta_at = Some(s);
        }
    });
    let Some(meta_at) = meta_at.filter(|_| total_free >= MIN_FREE_BYTES + meta_bytes) else {
        return Err(InitError::TooLittleMemory { have: total_free });
    };
    reserved[n] = (meta_at, meta_at + meta_bytes);
    n += 1;

    let ready_ptr = phys_to_virt(meta_at) as *mut AtomicU64;
    let whole_ptr = phys_to_virt(meta_at + (words * 8) as u64) as *mut u64;
    // SAFETY: [meta_at, meta_at + meta_bytes) is free RAM below 4 GiB (so inside the
    // boot direct map), reserved from now on and never handed out. The two bitmaps
    // (2 * words u64s, inside its first `bitmap_bytes`) are zeroed here before any
    // reference to them is made; `whole` is only ever reached through the Buddy,
    // under its lock, and `ready` only through atomics. The chunks after them are
    // not touched here (each is zeroed when first needed: `Buddy::make_ready`).
    let (ready, whole) = unsafe {
        core::ptr::write_bytes(ready_ptr as *mut u64, 0, 2 * words);
        (
            core::slice::from_raw_parts(ready_ptr as *const AtomicU64, words),
            core::slice::from_raw_parts_mut(whole_ptr, words),
        )
    };
    let table = TABLE.call_once(|| Table {
        chunks_at: phys_to_virt(meta_at + bitmap_bytes),
        chunks,
        ready,
    });

    let mut buddy = Buddy {
        table,
        whole,
        whole_from: 0,
        heads: [NIL; MAX_ORDER],
        free_pages: 0,
        managed_pages: 0,
    };
    let mut high = HIGH.lock();
    for_each_free_range(boot, &reserved[..n], |s, e| {
        if s < FOUR_GIB {
            buddy.add_range(s, e.min(FOUR_GIB));
        }
        if e > FOUR_GIB && high.1 < high.0.len() {
            let i = high.1;
            high.0[i] = (s.max(FOUR_GIB), e);
            high.1 += 1;
        }
    });
    *BUDDY.lock() = Some(buddy);
    Ok(())
}

/// Adds the free memory above 4 GiB (once the full direct map is live).
pub fn add_high_memory() {
    let high = HIGH.lock();
    let mut guard = BUDDY.lock();
    let buddy = guard.as_mut().expect("frame allocator initialised");
    for &(s, e) in &high.0[..high.1] {
        buddy.add_range(s, e);
    }
}

/// Allocates 2^order contiguous frames, aligned to their size; returns the physical
/// address of the first. The frames are zeroed.
///
/// Every allocation is cleared, as Linux does with `init_on_alloc` (on by default in
/// Debian's kernels): no stale data can leak from one user to the next through a
/// kernel buffer. It also matters under QEMU's TCG, which keeps translated code per
/// physical page: a frame that held user code and is reused for data is slow to
/// write until a store has covered its old code bytes, and clearing it does that
/// once, up front.
pub fn alloc(order: usize) -> Option<u64> {
    let pa = alloc_uncleared(order)?;
    clear(pa, 1 << order);
    Some(pa)
}

/// As [`alloc`], the frames' old contents left in them: for a caller that
/// never lets anything read a byte before writing it (the heap's
/// [`core::alloc::GlobalAlloc::alloc`]).
fn alloc_uncleared(order: usize) -> Option<u64> {
    if order > MAX_ORDER {
        return None;
    }
    let pfn = if order == 0 {
        alloc_single(0)?
    } else {
        BUDDY.lock().as_mut()?.alloc(order)?
    };
    Some(u64::from(pfn) * PAGE)
}

/// Zeroes `pages` frames from `pa`, just allocated.
fn clear(pa: u64, pages: usize) {
    // SAFETY: the frames were just allocated, so nothing else refers to them, and
    // the direct map covers all managed memory.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0, PAGE_SIZE * pages) };
}

/// Allocates one zeroed frame.
pub fn alloc_zeroed() -> Option<u64> {
    alloc(0)
}

/// A frame holding `bytes` (zero past them) and one reference (`meta`'s count),
/// for a [`super::vm::SharedPages`] to own. None if `bytes` exceeds a page or
/// memory is out.
pub fn alloc_filled(bytes: &[u8]) -> Option<u64> {
    if bytes.len() > PAGE_SIZE {
        return None;
    }
    let pa = alloc_zeroed()?;
    meta(pa).refcount.store(1, Ordering::Release);
    // SAFETY: a fresh frame, ours alone, through the direct map; `bytes` fits.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), phys_to_virt(pa) as *mut u8, bytes.len())
    };
    Some(pa)
}

/// A frame holding `T::default()`, shared with the caller forever as a `&'static
/// T`: it carries one reference for that (never released, so the frame is never
/// freed) and one for a [`super::vm::SharedPages`] that maps it (the vDSO's data
/// page, which user space reads while the kernel updates it through atomics).
pub fn alloc_static<T: Default + Sync>() -> Option<(u64, &'static T)> {
    const { assert!(core::mem::size_of::<T>() <= PAGE_SIZE && core::mem::align_of::<T>() <= PAGE_SIZE) };
    let pa = alloc_zeroed()?;
    meta(pa).refcount.store(2, Ordering::Release);
    let ptr = phys_to_virt(pa) as *mut T;
    // SAFETY: the frame is fresh, page-aligned, big enough (checked above) and never
    // freed (the reference taken for the `&'static T` is never dropped), so a `T`
    // written there lives as long as the kernel. `T: Sync` makes sharing it sound.
    unsafe {
        ptr.write(T::default());
        Some((pa, &*ptr))
    }
}

/// Frames kept for the kernel itself: 1/64 of memory, at least 4 MiB and at most
/// 64 MiB. User pages and the kernel memory that holds user data (file content,
/// pipe and socket buffers) stop short of it.
fn reserve_pages(managed: u64) -> u64 {
    (managed / 64).clamp(1024, 16384)
}

/// Whether `bytes` more may be spent on user data (page cache, pipe and socket
/// buffers) while the kernel keeps its reserve.
pub fn may_hold_user_data(bytes: usize) -> bool {
    let need = bytes.div_ceil(PAGE_SIZE) as u64;
    free_frames() > reserve() + need
}

/// Allocates one frame for user memory, which may not dig into the reserve
/// kept for the kernel (Linux's min_free_kbytes watermark): when user pages run
/// out, the kernel still has memory to kill the process that ran out and tear its
/// address space down, and every other process's system calls keep working.
///
/// `fill` writes its content: it gets the whole frame and returns how many
/// leading bytes it wrote; the rest is zeroed (`|_| 0`: a zeroed frame). A page
/// about to be overwritten (read from a file, copied for copy-on-write) is not
/// zeroed first. Whatever `fill` says, no byte the frame held before reaches
/// the caller unwritten.
pub fn alloc_user_with(fill: impl FnOnce(&mut [u8]) -> usize) -> Option<u64> {
    let pfn = alloc_single(reserve())?;
    let pa = u64::from(pfn) * PAGE;
    // SAFETY: a frame just taken from the allocator, ours alone until we hand its
    // address out, reached through the direct map.
    let buf = unsafe { core::slice::from_raw_parts_mut(phys_to_virt(pa) as *mut u8, PAGE_SIZE) };
    let written = fill(buf).min(PAGE_SIZE);
    buf[written..].fill(0);
    Some(pa)
}

/// Returns 2^order frames starting at `pa` (as returned by [`alloc`]).
pub fn free(pa: u64, order: usize) {
    debug_assert!(pa.is_multiple_of(PAGE));
    if order == 0 {
        free_single((pa / PAGE) as u32);
    } else if let Some(b) = BUDDY.lock().as_mut() {
        b.free((pa / PAGE) as u32, order);
    }
}

/// Allocates `pages` contiguous zeroed frames, giving the rounding excess of the
/// underlying power-of-two block back at once (uncleared: only the frames kept
/// are zeroed). Free with [`free_exact`].
pub fn alloc_exact(pages: usize) -> Option<u64> {
    let pa = alloc_exact_uncleared(pages)?;
    clear(pa, pages);
    Some(pa)
}

/// As [`alloc_exact`], the frames' old contents left in them: the heap's
/// large blocks, which `GlobalAlloc::alloc` need not clear (Rust code cannot
/// read a byte of them before writing it without `unsafe`, and the kernel's
/// `unsafe` never does). A 256 KiB vector growing to 512 KiB used to clear
/// 512 KiB before copying the first 256 KiB over it.
pub fn alloc_exact_uncleared(pages: usize) -> Option<u64> {
    let order = pages.next_power_of_two().trailing_zeros() as usize;
    let pa = alloc_uncleared(order)?;
    for i in pages..(1 << order) {
        free(pa + (i as u64) * PAGE, 0);
    }
    Some(pa)
}

/// Frees `pages` frames from [`alloc_exact`].
pub fn free_exact(pa: u64, pages: usize) {
    let mut guard = BUDDY.lock();
    if let Some(b) = guard.as_mut() {
        for i in 0..pages as u64 {
            b.free((pa / PAGE + i) as u32, 0);
        }
    }
}

/// Gives the whole pages of `[start, end)` to the allocator (a boot module that is no
/// longer needed).
pub fn release_range(start: u64, end: u64) {
    let start = start.next_multiple_of(PAGE);
    let end = end & !(PAGE - 1);
    if end > start
        && let Some(b) = BUDDY.lock().as_mut()
    {
        b.add_range(start, end);
    }
}

/// Frames lent out before they were ever given to the allocator: the
/// initramfs's pages that its adopted files still read from
/// (`fs::initramfs`). They are memory in use like any other, so the total
/// counts them (sysinfo's totalram, the tmpfs default size made from it);
/// each comes back with [`return_lent`].
static LENT: AtomicU64 = AtomicU64::new(0);

/// The whole pages of `[start, end)`, as [`release_range`] takes them.
fn whole_pages(start: u64, end: u64) -> u64 {
    let (start, end) = (start.next_multiple_of(PAGE), end & !(PAGE - 1));
    end.saturating_sub(start) / PAGE
}

/// Counts the whole pages of `[start, end)` as lent (see [`LENT`]).
pub fn lend_range(start: u64, end: u64) {
    LENT.fetch_add(whole_pages(start, end), Ordering::Relaxed);
}

/// Gives the allocator the whole pages of `[start, end)`, lent until now.
pub fn return_lent(start: u64, end: u64) {
    release_range(start, end);
    LENT.fetch_sub(whole_pages(start, end), Ordering::Relaxed);
}

/// (free, total) frame counts: the total is what the allocator manages and
/// what is lent out before it got it.
pub fn stats() -> (u64, u64) {
    let (free, managed) = BUDDY
        .lock()
        .as_ref()
        .map_or((0, 0), |b| (b.free_pages, b.managed_pages));
    (
        free + CACHED.load(Ordering::Relaxed),
        managed + LENT.load(Ordering::Relaxed),
    )
}

/// The metadata of the frame at `pa` (for sharing frames between address spaces).
pub fn meta(pa: u64) -> &'static PageMeta {
    let table = TABLE.get().expect("frame allocator initialised");
    let pfn = (pa / PAGE) as usize;
    let k = pfn / CHUNK_FRAMES;
    if !table.is_ready(k) {
        // A frame the allocator never handed out (none is shared yet): its
        // chunk's metadata is made now.
        if let Some(b) = BUDDY.lock().as_mut() {
            b.make_ready(k);
        }
    }
    &table.chunk(k).meta[pfn % CHUNK_FRAMES]
}
