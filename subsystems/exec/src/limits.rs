//! The Linux x86-64 constants that decide what `execve` accepts and where things go.
//!
//! Each value is Linux's, with the header it comes from; Kestrel must not tune them,
//! since programs (and the userland tests) observe every one of them.

/// The page size (`PAGE_SIZE`, and `ELF_MIN_ALIGN` in `fs/binfmt_elf.c`, which is the
/// larger of `PAGE_SIZE` and `ELF_EXEC_PAGESIZE`: both 4096 on x86-64).
pub const PAGE_SIZE: u64 = 4096;

/// The end of the user address space with 4-level paging (`TASK_SIZE_MAX` =
/// `(1 << 47) - PAGE_SIZE`, arch/x86/include/asm/page_64_types.h). Addresses at or
/// above it are `BAD_ADDR` in `fs/binfmt_elf.c`.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// Where a PIE (an ET_DYN program with an interpreter) is placed before
/// randomisation: `ELF_ET_DYN_BASE` = `DEFAULT_MAP_WINDOW / 3 * 2`
/// (arch/x86/include/asm/elf.h). Without ASLR, PIEs load at 0x5555_5555_4000.
pub const ELF_ET_DYN_BASE: u64 = TASK_SIZE / 3 * 2;

/// How many bytes of a file the format handlers see (`BINPRM_BUF_SIZE`,
/// include/uapi/linux/binfmts.h); shorter files are padded with zeros.
pub const BINPRM_BUF_SIZE: usize = 256;

/// `PATH_MAX` (include/uapi/linux/limits.h), the limit on a PT_INTERP string.
pub const PATH_MAX: u64 = 4096;

/// The longest argv or envp string, its NUL included (`MAX_ARG_STRLEN` =
/// `PAGE_SIZE * 32`, include/uapi/linux/binfmts.h).
pub const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;

/// The most argv (or envp) entries (`MAX_ARG_STRINGS`, include/uapi/linux/binfmts.h).
pub const MAX_ARG_STRINGS: usize = 0x7fff_ffff;

/// The argument space Linux always grants, however small the stack rlimit
/// (`ARG_MAX` = 32 pages, include/uapi/linux/limits.h).
pub const ARG_MAX: u64 = 131_072;

/// The default stack rlimit (`_STK_LIM`, include/uapi/linux/resource.h); argument
/// space never exceeds three quarters of it.
pub const STK_LIM: u64 = 8 * 1024 * 1024;

/// How many times an exec may be handed on to an interpreter (`#!` rewrites) before
/// `exec_binprm` fails with `ELOOP` (its loop runs handlers for depth 0..=5).
pub const MAX_SCRIPT_REWRITES: usize = 5;

/// `sizeof(Elf64_Ehdr)`.
pub const EHDR_SIZE: usize = 64;

/// `sizeof(Elf64_Phdr)`: the only `e_phentsize` Linux accepts, and `AT_PHENT`.
pub const PHDR_SIZE: usize = 56;

/// `AT_PLATFORM` on x86-64 (`ELF_PLATFORM` is `utsname()->machine`).
pub const PLATFORM: &[u8] = b"x86_64";

/// `ELF_PAGESTART`: round down to a page boundary.
pub const fn page_start(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// `ELF_PAGEOFFSET`: the offset within a page.
pub const fn page_offset(v: u64) -> u64 {
    v & (PAGE_SIZE - 1)
}

/// `ELF_PAGEALIGN`: round up to a page boundary, wrapping like C's unsigned long.
pub const fn page_align(v: u64) -> u64 {
    v.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// `BAD_ADDR` in `fs/binfmt_elf.c`: not a user address.
pub const fn bad_addr(v: u64) -> bool {
    v >= TASK_SIZE
}
