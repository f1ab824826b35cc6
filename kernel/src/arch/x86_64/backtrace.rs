//! Walking the kernel's frame-pointer chain (the kernel is built with frame
//! pointers) for the panic report.

use crate::mm::paging::kernel_table;

/// The current frame pointer (RBP).
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: reading RBP has no side effects.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack)) };
    rbp
}

/// Whether the kernel can read the word at `va` without faulting.
fn readable(va: u64) -> bool {
    va >= 0xffff_8000_0000_0000
        && va.is_multiple_of(8)
        && kernel_table().root() != 0
        && kernel_table().translate(va).is_some()
}

/// Calls `f` with each return address of the chain starting at frame `rbp`, up to
/// `max` frames; stops at anything that does not look like a frame.
pub fn walk(mut rbp: u64, max: usize, mut f: impl FnMut(u64)) {
    for _ in 0..max {
        if rbp == 0 || !readable(rbp) || !readable(rbp + 8) {
            break;
        }
        // SAFETY: both words were checked to be mapped kernel memory.
        let (next, ret) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        if ret == 0 {
            break;
        }
        f(ret);
        if next <= rbp {
            break; // frames grow towards higher addresses; anything else is garbage
        }
        rbp = next;
    }
}
