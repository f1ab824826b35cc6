//! The initramfs's memory after unpacking: its big files are adopted by ramfs
//! (`kestrel_vfs::cpio::unpack_adopting`), read from the archive itself and copied
//! only when first written or mapped, so the boot does not copy them. Memory no
//! adopted file reads from goes back to the frame allocator at boot; each adopted
//! file's pages go back when it is copied or deleted.
//!
//! The pages adopted files read from are counted as lent (`frame::lend_range`):
//! memory in use, part of the total sysinfo and the tmpfs default size see, as
//! they were when the whole archive went back at boot.
//!
//! A page holding the start or the end of an adopted file's data may hold a
//! neighbour's too (the archive's data is 4-byte aligned): such an edge page is
//! counted, and goes back when the last adopted file on it lets go.

use alloc::collections::BTreeMap;
use core::ops::Range;

const PAGE: u64 = 4096;

/// Adopted files on each edge page (by physical address).
static EDGES: spin::Mutex<BTreeMap<u64, u32>> = spin::Mutex::new(BTreeMap::new());

fn phys(bytes: &[u8]) -> Range<u64> {
    let start = crate::mm::virt_to_phys(bytes.as_ptr() as u64);
    start..start + bytes.len() as u64
}

/// The pages of `r` it shares with memory outside it (first and last, when not
/// page-aligned there).
fn edges(r: &Range<u64>) -> impl Iterator<Item = u64> {
    let first = (!r.start.is_multiple_of(PAGE)).then_some(r.start & !(PAGE - 1));
    let last = (!r.end.is_multiple_of(PAGE)).then_some(r.end & !(PAGE - 1));
    first.into_iter().chain(last.filter(|&l| Some(l) != first))
}

/// After unpacking the archive at physical `[start, end)`, with the adopted
/// files' data at `adopted` (offsets into the archive, in order): gives back
/// every page no adopted file reads from, and sets up the rest to go back as
/// the files let go.
pub fn release_unadopted(start: u64, end: u64, adopted: &[Range<usize>]) {
    kestrel_vfs::set_static_release(release);
    let mut edge_pages = EDGES.lock();
    let mut at = start;
    for r in adopted {
        let r = start + r.start as u64..start + r.end as u64;
        // Whole pages between the previous adopted file and this one.
        crate::mm::frame::release_range(at, r.start);
        crate::mm::frame::lend_range(r.start, r.end);
        // A page partly outside the archive is never given back (as before,
        // when the whole archive went back with frame::release_range).
        for p in edges(&r).filter(|&p| p >= start && p + PAGE <= end) {
            let n = edge_pages.entry(p).or_insert(0);
            if *n == 0 {
                crate::mm::frame::lend_range(p, p + PAGE);
            }
            *n += 1;
        }
        at = r.end;
    }
    crate::mm::frame::release_range(at, end);
}

/// An adopted file no longer reads `bytes` (copied into its own pages, or deleted).
fn release(bytes: &'static [u8]) {
    let r = phys(bytes);
    crate::mm::frame::return_lent(r.start, r.end);
    let mut edge_pages = EDGES.lock();
    for p in edges(&r) {
        if let Some(n) = edge_pages.get_mut(&p) {
            *n -= 1;
            if *n == 0 {
                edge_pages.remove(&p);
                crate::mm::frame::return_lent(p, p + PAGE);
            }
        }
    }
}
