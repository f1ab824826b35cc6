//! The huge page pool: 2 MiB blocks of physically contiguous, 2 MiB-aligned
//! frames (buddy blocks of order 9), set aside by root through
//! /proc/sys/vm/nr_hugepages and handed out to MAP_HUGETLB mappings, hugetlbfs
//! and MFD_HUGETLB files and SHM_HUGETLB segments (Linux's hstate for the one
//! size x86-64 has by default).
//!
//! A block in the pool belongs to the pool whether it is free or in use: each
//! of its 512 frames carries a reference count of [`BIAS`] for the pool, so the
//! page-table code's references (taken and dropped as for any user frame) never
//! bring it to zero and never give a frame back to the buddy allocator on their
//! own. A block returns to the free list when the object that took it (a
//! [`super::vm::SharedPages`] in huge mode) is dropped; it is handed out again,
//! or given back to the buddy allocator when the pool shrinks, only once every
//! frame's count is back to [`BIAS`] (no page table or pin still maps it).
//!
//! Pages are reserved when a mapping or segment is made, as Linux's reservation
//! does (so running out is ENOMEM at mmap, shmget or memfd's mmap, never SIGBUS
//! on touch); Kestrel takes the blocks at that point too, so HugePages_Free
//! drops at mmap where Linux's drops at first touch (and HugePages_Rsvd stays
//! 0). No surplus pages are made (nr_overcommit_hugepages is 0): only the pool.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::{PAGE_SIZE, frame, phys_to_virt};

/// Size of a huge page.
pub const HPAGE_SIZE: u64 = 2 << 20;
/// Its buddy order.
const HPAGE_ORDER: usize = 9;
/// Frames in a huge page.
pub const FRAMES_PER_HPAGE: u64 = HPAGE_SIZE / PAGE_SIZE as u64;
/// The pool's reference on each frame of its blocks.
const BIAS: u32 = 1 << 24;

struct Pool {
    /// Blocks not in use (physical addresses).
    free: Vec<u64>,
    /// Blocks the pool owns, free or in use.
    total: u64,
    /// What nr_hugepages asked for: blocks in use beyond it are surplus and
    /// go back to the buddy allocator when freed.
    target: u64,
}

static POOL: spin::Mutex<Pool> = spin::Mutex::new(Pool {
    free: Vec::new(),
    total: 0,
    target: 0,
});

/// (HugePages_Total, HugePages_Free, HugePages_Rsvd, HugePages_Surp).
pub fn counts() -> (u64, u64, u64, u64) {
    let p = POOL.lock();
    let surplus = p.total.saturating_sub(p.target);
    (p.total, p.free.len() as u64, 0, surplus)
}

/// Whether every frame of the block at `pa` holds only the pool's reference.
fn idle(pa: u64) -> bool {
    (0..FRAMES_PER_HPAGE).all(|i| {
        frame::meta(pa + i * PAGE_SIZE as u64)
            .refcount
            .load(Ordering::Acquire)
            == BIAS
    })
}

/// A new block from the buddy allocator for the pool, if memory allows (the
/// kernel's reserve stays, as for any user memory).
fn new_block() -> Option<u64> {
    if !frame::may_hold_user_data(HPAGE_SIZE as usize) {
        return None;
    }
    let pa = frame::alloc(HPAGE_ORDER)?;
    for i in 0..FRAMES_PER_HPAGE {
        frame::meta(pa + i * PAGE_SIZE as u64)
            .refcount
            .store(BIAS, Ordering::Release);
    }
    Some(pa)
}

/// Gives an idle block back to the buddy allocator.
fn release_block(pa: u64) {
    for i in 0..FRAMES_PER_HPAGE {
        frame::meta(pa + i * PAGE_SIZE as u64)
            .refcount
            .store(0, Ordering::Release);
    }
    frame::free(pa, HPAGE_ORDER);
}

/// Writing /proc/sys/vm/nr_hugepages: grows the pool towards `want` blocks as
/// far as memory allows (as Linux, which stops short when it cannot allocate,
/// the count read back says how far it got), or shrinks it by giving idle free
/// blocks back; blocks in use over the new count become surplus.
pub fn set_nr(want: u64) {
    // Never more than all of memory could hold (a huge number does not loop).
    let (_, managed) = frame::stats();
    let want = want.min(managed / FRAMES_PER_HPAGE);
    POOL.lock().target = want;
    // Each block is allocated (and cleared) without the pool's lock held, so
    // mappings taking pages meanwhile do not wait on it.
    loop {
        if POOL.lock().total >= want {
            break;
        }
        let Some(pa) = new_block() else { break };
        let mut p = POOL.lock();
        if p.total < want {
            p.free.push(pa);
            p.total += 1;
        } else {
            drop(p);
            release_block(pa);
        }
    }
    let mut p = POOL.lock();
    // A grow that stopped short: the pool is what it got.
    p.target = want.min(p.total);
    let mut i = 0;
    while p.total > p.target && i < p.free.len() {
        if idle(p.free[i]) {
            let pa = p.free.swap_remove(i);
            release_block(pa);
            p.total -= 1;
        } else {
            i += 1;
        }
    }
    drop(p);
    crate::fs::sysfs::refresh_hugepages();
}

/// nr_hugepages as read back: the pool's persistent size (Linux's total less
/// the surplus).
pub fn nr() -> u64 {
    POOL.lock().target
}

/// Takes `n` zeroed blocks from the pool, all or none (None: not enough free).
pub fn take(n: u64) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    out.try_reserve_exact(n as usize).ok()?;
    {
        let mut p = POOL.lock();
        if (p.free.len() as u64) < n {
            return None;
        }
        let mut i = 0;
        while (out.len() as u64) < n && i < p.free.len() {
            if idle(p.free[i]) {
                out.push(p.free.swap_remove(i));
            } else {
                i += 1;
            }
        }
        if (out.len() as u64) < n {
            p.free.append(&mut out);
            return None;
        }
    }
    for &pa in &out {
        // SAFETY: the block was free in the pool and idle (no mapping holds a
        // frame of it), so it is ours alone now; the direct map covers it.
        unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0, HPAGE_SIZE as usize) };
    }
    crate::fs::sysfs::refresh_hugepages();
    Some(out)
}

/// Returns blocks from [`take`] to the pool (or to the buddy allocator, for
/// surplus blocks that are idle already).
pub fn give(blocks: impl IntoIterator<Item = u64>) {
    let mut p = POOL.lock();
    for pa in blocks {
        if p.total > p.target && idle(pa) {
            release_block(pa);
            p.total -= 1;
        } else {
            p.free.push(pa);
        }
    }
    drop(p);
    crate::fs::sysfs::refresh_hugepages();
}

/// Frame `i` (0..512) of the block at `pa`, with one more reference for the
/// caller (the pool's stays).
pub fn frame_of(pa: u64, i: u64) -> u64 {
    let f = pa + i * PAGE_SIZE as u64;
    frame::meta(f).refcount.fetch_add(1, Ordering::AcqRel);
    f
}
