//! Memory copies that survive a fault.
//!
//! `rep movsb` is restartable: when it faults, RCX holds the bytes still to copy. Each
//! copy instruction below has an exception-table entry, so a page fault (or #GP for a
//! non-canonical address) on it jumps to the fix-up, which returns that count instead
//! of panicking. The faulting address is left in the per-CPU `fixup_fault_addr`.
//!
//! The bulk moves eight bytes at a time (`rep movsq`), the rest a byte at a time:
//! under QEMU's TCG each iteration of a `rep` instruction is a trip through the
//! translated block, so a 144-byte `struct stat` cost 144 of them. A fault in the
//! eight-byte part (which writes nothing of the word that faults) goes on byte by
//! byte from that word, so the count copied is exact, as with bytes alone.
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
    shr rcx, 3
1:  rep movsq
    mov rcx, rdx
    and rcx, 7
2:  rep movsb
    xor eax, eax
    ret
9:  shl rcx, 3
    and edx, 7
    add rcx, rdx
    jmp 2b
10: mov rax, rcx
    ret
.pushsection __ex_table, "a"
.balign 8
.quad 1b, 9b
.quad 2b, 10b
.popsection

.global kestrel_copy_smap
kestrel_copy_smap:
    mov rcx, rdx
    shr rcx, 3
    stac
3:  rep movsq
    mov rcx, rdx
    and rcx, 7
4:  rep movsb
    clac
    xor eax, eax
    ret
11: shl rcx, 3
    and edx, 7
    add rcx, rdx
    jmp 4b
12: clac
    mov rax, rcx
    ret
.pushsection __ex_table, "a"
.balign 8
.quad 3b, 11b
.quad 4b, 12b
.popsection

.global kestrel_probe_write_plain
kestrel_probe_write_plain:
5:  lock or byte ptr [rdi], 0
    mov eax, 1
    ret
6:  xor eax, eax
    ret
.pushsection __ex_table, "a"
.balign 8
.quad 5b, 6b
.popsection

.global kestrel_probe_write_smap
kestrel_probe_write_smap:
    stac
7:  lock or byte ptr [rdi], 0
    clac
    mov eax, 1
    ret
8:  clac
    xor eax, eax
    ret
.pushsection __ex_table, "a"
.balign 8
.quad 7b, 8b
.popsection

"#
);

unsafe extern "C" {
    fn kestrel_copy_plain(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn kestrel_copy_smap(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn kestrel_probe_write_plain(addr: *mut u8) -> u32;
    fn kestrel_probe_write_smap(addr: *mut u8) -> u32;
}

/// A copy stopped by a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Bytes copied before the fault.
    pub done: usize,
    /// The faulting address (CR2; 0 for a #GP on a non-canonical address).
    pub addr: u64,
}

#[inline]
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
#[inline]
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

/// Whether the byte at `addr` can be written as it is mapped now, without a
/// fault: a locked OR of zero, a write that changes nothing even while other
/// threads write the same byte. A fault (not present, read-only, copy-on-write)
/// only makes it say no; nothing is resolved.
///
/// # Safety
/// `addr`, if mapped, must be memory the caller may write (user memory).
#[inline]
pub unsafe fn probe_write(addr: *mut u8) -> bool {
    // SAFETY: delegated to the caller; the routines fault safely (exception table).
    let ok = unsafe {
        if cpu::features().smap {
            kestrel_probe_write_smap(addr)
        } else {
            kestrel_probe_write_plain(addr)
        }
    };
    ok != 0
}
