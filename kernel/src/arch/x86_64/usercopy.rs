//! Memory copies that survive a fault.
//!
//! `rep movsb` is restartable: when it faults, RCX holds the bytes still to copy. Each
//! copy instruction below has an exception-table entry, so a page fault (or #GP for a
//! non-canonical address) on it jumps to the fix-up, which returns that count instead
//! of panicking. The faulting address is left in the per-CPU `fixup_fault_addr`.
//!
//! With SMAP on, the kernel cannot touch user pages except between `stac` and `clac`;
//! the SMAP variant brackets the copy with them (they are #UD on CPUs without SMAP,
//! hence two variants chosen at run time).

use core::arch::global_asm;
use core::sync::atomic::Ordering;

use super::cpu;
use super::percpu::this_cpu;

global_asm!(
    r#"
.section .text
.global kestrel_copy_plain
kestrel_copy_plain:
    mov rcx, rdx
1:  rep movsb
    xor eax, eax
    ret
2:  mov rax, rcx
    ret
.pushsection __ex_table, "a"
.balign 8
.quad 1b, 2b
.popsection

.global kestrel_copy_smap
kestrel_copy_smap:
    mov rcx, rdx
    stac
3:  rep movsb
    clac
    xor eax, eax
    ret
4:  clac
    mov rax, rcx
    ret
.pushsection __ex_table, "a"
.balign 8
.quad 3b, 4b
.popsection

"#
);

unsafe extern "C" {
    fn kestrel_copy_plain(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn kestrel_copy_smap(dst: *mut u8, src: *const u8, len: usize) -> usize;
}

/// A copy stopped by a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Bytes copied before the fault.
    pub done: usize,
    /// The faulting address (CR2; 0 for a #GP on a non-canonical address).
    pub addr: u64,
}

fn result(len: usize, left: usize) -> Result<(), Fault> {
    if left == 0 {
        Ok(())
    } else {
        Err(Fault {
            done: len - left,
            addr: this_cpu().fixup_fault_addr.load(Ordering::Relaxed),
        })
    }
}

/// Copies `len` bytes from `src` to `dst`, stopping at the first fault.
///
/// # Safety
/// Whatever of `dst` and `src` is mapped must be memory the caller may read or write
/// (user memory, or kernel memory it owns); unmapped parts only stop the copy. The
/// ranges must not overlap.
pub unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) -> Result<(), Fault> {
    // SAFETY: delegated to the caller; the routines fault safely (exception table).
    let left = unsafe {
        if cpu::features().smap {
            kestrel_copy_smap(dst, src, len)
        } else {
            kestrel_copy_plain(dst, src, len)
        }
    };
    result(len, left)
}
