//! Placing an ELF image at a load bias: the mappings to make, and the checks Linux
//! makes only while making them.
//!
//! Linux maps segments after `begin_new_exec`, the point of no return: the old image
//! is gone, so a failure there cannot be returned by `execve`; `bprm_execve` kills the
//! process with `SIGSEGV` instead. [`ElfImage::layout`] runs those checks before the
//! kernel touches anything and reports them as [`Fatal`], carrying the errno Linux
//! computed internally (useful in logs). To behave like Linux, the kernel should still
//! commit (tear down the old image) and then kill the process with `SIGSEGV`.
//!
//! Per PT_LOAD, in file order, the checks are (`load_elf_binary`, `elf_load`,
//! `elf_map`, and for the interpreter `load_elf_interp`):
//! - the file mapping (`vm_mmap` of whole pages, when `p_filesz` > 0): a file offset
//!   that is not page aligned, i.e. `p_offset` and `p_vaddr` not congruent modulo the
//!   page size, is `EINVAL`; a range above [`TASK_SIZE`] is `ENOMEM`; an offset
//!   overflow is `EOVERFLOW`. For the first PT_LOAD of an ET_DYN the whole span is
//!   mapped at once (`total_size`), so the span must fit;
//! - the zero-filled rest (`vm_brk_flags`, when `p_memsz` > `p_filesz`): `ENOMEM` if
//!   it does not fit below [`TASK_SIZE`];
//! - then `p_vaddr` (unbiased for a program, biased for an interpreter) must be a user
//!   address, `p_filesz <= p_memsz`, and `p_vaddr + p_memsz` must not pass
//!   [`TASK_SIZE`]: else `EINVAL` for a program ("set_brk can never work"), `ENOMEM`
//!   for an interpreter.
//!
//! Then the entry point (biased) must be a user address, else `EINVAL`; for a program
//! with an interpreter only the interpreter's entry is checked. An interpreter whose
//! `e_type` is not ET_EXEC/ET_DYN fails with `EPERM` (`load_elf_interp` returns `~0UL`,
//! which reads as -1) and one without PT_LOAD with `EINVAL`. A *program* without
//! PT_LOAD is not an error: nothing is mapped and it faults at its entry point.
//!
//! What the bytes cannot tell, and the kernel decides: the bias (see
//! [`ElfImage::pie_bias`] and [`ElfImage::bias_at`]; ET_EXEC uses 0), overlaps with
//! mappings that already exist (Linux: `EEXIST` from `MAP_FIXED_NOREPLACE`),
//! `vm.mmap_min_addr` (Linux: `EPERM` below it without `CAP_SYS_RAWIO`), memory and
//! `RLIMIT_AS`/`RLIMIT_DATA` (`ENOMEM`), and brk randomisation.

use alloc::vec::Vec;

use kestrel_abi::Errno;
use kestrel_abi::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};

use crate::elf::{ElfImage, ElfType, PF_X, Role, Segment};
use crate::limits::{PAGE_SIZE, TASK_SIZE, bad_addr, page_align, page_offset, page_start};

/// An exec failure Linux detects only after the point of no return: `execve` does not
/// return; the process is killed with `SIGSEGV`. The errno is the one Linux computed
/// (`load_elf_binary`'s `retval`), for diagnostics only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fatal(pub Errno);

/// One PT_LOAD placed in memory. All bounds are page aligned except `zero_start`.
///
/// `[start, file_end)` holds file pages from `file_offset` with `prot`; within it,
/// `[zero_start, file_end)` is cleared. `[file_end, end)` is anonymous zero memory
/// with `anon_prot`. Apply the mappings in order: where two share a page, the later
/// one replaces it (Linux maps with `MAP_FIXED` and `vm_brk_flags` unmaps first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// First page.
    pub start: u64,
    /// End of the file-backed pages (`start` if `p_filesz` is 0).
    pub file_end: u64,
    /// File offset mapped at `start` (`p_offset` rounded down to a page).
    pub file_offset: u64,
    /// Where the file bytes stop: `bias + p_vaddr + p_filesz` when `p_memsz` >
    /// `p_filesz` and the segment is writable (`padzero`; Linux ignores its failure on
    /// a read-only segment, which therefore keeps the file's bytes there), else
    /// `file_end`.
    pub zero_start: u64,
    /// End of the whole mapping.
    pub end: u64,
    /// Protection of the file-backed pages.
    pub prot: u32,
    /// Protection of the anonymous pages: `vm_brk_flags` makes them read-write, and
    /// executable if the segment is.
    pub anon_prot: u32,
}

impl Mapping {
    /// The file bytes to copy to `start`, as (offset, length), given the file's
    /// length; the rest of the mapping is zero. Linux maps whole file pages, so a page
    /// wholly past the end of the file raises `SIGBUS` when touched; Kestrel, copying
    /// from an in-memory file, zero-fills it instead.
    pub fn file_bytes(&self, file_len: u64) -> (u64, u64) {
        let want = self.zero_start.wrapping_sub(self.start);
        let have = file_len.saturating_sub(self.file_offset);
        (self.file_offset, want.min(have))
    }
}

/// An image at its final addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The load bias added to every link address.
    pub bias: u64,
    /// `e_entry + bias` (`AT_ENTRY` for a program; where the CPU starts for an
    /// interpreter, or for a program without one).
    pub entry: u64,
    /// The program headers in memory (`AT_PHDR`).
    pub phdr: u64,
    /// `e_phnum` (`AT_PHNUM`).
    pub phnum: u16,
    /// The mappings to make, in order.
    pub mappings: Vec<Mapping>,
    /// The initial program break: the page after the highest `p_vaddr + p_memsz`
    /// (before Linux's brk randomisation, if the kernel does it).
    pub brk: u64,
    /// `mm->start_code`: the lowest executable `p_vaddr` (biased).
    pub start_code: u64,
    /// `mm->end_code`: the highest executable `p_vaddr + p_filesz`.
    pub end_code: u64,
    /// `mm->start_data`: the highest `p_vaddr` of any PT_LOAD (Linux's definition).
    pub start_data: u64,
    /// `mm->end_data`: the highest `p_vaddr + p_filesz`.
    pub end_data: u64,
}

impl ElfImage {
    /// Places the image at `bias` (0 for ET_EXEC) and runs Linux's post-commit checks
    /// (module docs). An error means Linux would kill the process with `SIGSEGV`.
    pub fn layout(&self, bias: u64) -> Result<Layout, Fatal> {
        let program = self.role == Role::Program;
        // total_mapping_size(), with C's wrapping arithmetic.
        let total = {
            let lo = self.segments.iter().map(|s| page_start(s.vaddr)).min();
            let hi = self
                .segments
                .iter()
                .map(|s| s.vaddr.wrapping_add(s.memsz))
                .max();
            lo.zip(hi).map_or(0, |(lo, hi)| hi.wrapping_sub(lo))
        };
        if !program {
            if !matches!(self.elf_type, ElfType::Exec | ElfType::Dyn) {
                return Err(Fatal(Errno::EPERM));
            }
            if total == 0 {
                return Err(Fatal(Errno::EINVAL));
            }
        }

        let mut out = Layout {
            bias,
            entry: self.entry.wrapping_add(bias),
            phdr: self.phdr_vaddr.wrapping_add(bias),
            phnum: self.phnum,
            mappings: Vec::with_capacity(self.segments.len()),
            brk: 0,
            start_code: u64::MAX,
            end_code: 0,
            start_data: 0,
            end_data: 0,
        };
        let mut elf_brk = 0u64;
        for (i, s) in self.segments.iter().enumerate() {
            // The first mapping of an ET_DYN program, and of any interpreter, reserves
            // the whole image.
            let mut total_size = 0;
            if i == 0 && (!program || self.elf_type == ElfType::Dyn) {
                if total == 0 {
                    return Err(Fatal(Errno::EINVAL));
                }
                total_size = total;
            }
            let m = elf_load(s, bias, total_size).map_err(Fatal)?;
            if bad_addr(m.start) {
                return Err(Fatal(Errno::EINVAL));
            }
            let k = if program {
                s.vaddr
            } else {
                bias.wrapping_add(s.vaddr)
            };
            if bad_addr(k) || s.filesz > s.memsz || s.memsz > TASK_SIZE || TASK_SIZE - s.memsz < k {
                return Err(Fatal(if program {
                    Errno::EINVAL
                } else {
                    Errno::ENOMEM
                }));
            }
            out.mappings.push(m);

            if s.flags & PF_X != 0 && s.vaddr < out.start_code {
                out.start_code = s.vaddr;
            }
            out.start_data = out.start_data.max(s.vaddr);
            let file_end = s.vaddr.wrapping_add(s.filesz);
            if s.flags & PF_X != 0 {
                out.end_code = out.end_code.max(file_end);
            }
            out.end_data = out.end_data.max(file_end);
            elf_brk = elf_brk.max(s.vaddr.wrapping_add(s.memsz));
        }
        out.start_code = out.start_code.wrapping_add(bias);
        out.end_code = out.end_code.wrapping_add(bias);
        out.start_data = out.start_data.wrapping_add(bias);
        out.end_data = out.end_data.wrapping_add(bias);
        out.brk = page_align(elf_brk.wrapping_add(bias));

        // A program with an interpreter starts in the interpreter, whose entry is the
        // one checked.
        if (!program || self.interp.is_none()) && bad_addr(out.entry) {
            return Err(Fatal(Errno::EINVAL));
        }
        Ok(out)
    }
}

/// `elf_load`: the mapping for one PT_LOAD at `bias`, or the errno of the `vm_mmap`
/// or `vm_brk_flags` call that would fail.
fn elf_load(s: &Segment, bias: u64, total_size: u64) -> Result<Mapping, Errno> {
    let addr = bias.wrapping_add(s.vaddr);
    let in_page = page_offset(s.vaddr);
    let start = page_start(addr);
    let mut m = Mapping {
        start,
        file_end: start,
        file_offset: 0,
        zero_start: start,
        end: start,
        prot: s.prot,
        anon_prot: PROT_READ | PROT_WRITE | (s.prot & PROT_EXEC),
    };
    let zero_end;
    if s.filesz != 0 {
        // elf_map(): whole pages from the page-aligned file offset.
        let size = page_align(s.filesz.wrapping_add(in_page));
        let off = s.offset.wrapping_sub(in_page);
        if size != 0 {
            let len = if total_size != 0 {
                page_align(total_size)
            } else {
                size
            };
            vm_mmap(start, len, off)?;
        }
        m.file_end = start.wrapping_add(size);
        m.file_offset = off;
        m.zero_start = m.file_end;
        if s.memsz > s.filesz && s.prot & PROT_WRITE != 0 {
            m.zero_start = start.wrapping_add(in_page).wrapping_add(s.filesz);
        }
        zero_end = start.wrapping_add(in_page).wrapping_add(s.memsz);
    } else {
        zero_end = start.wrapping_add(in_page).wrapping_add(s.memsz);
    }
    m.end = m.file_end;
    if s.memsz > s.filesz {
        let from = page_align(if s.filesz != 0 {
            start.wrapping_add(in_page).wrapping_add(s.filesz)
        } else {
            start
        });
        let to = page_align(zero_end);
        vm_brk(from, to.wrapping_sub(from))?;
        m.end = to.max(m.end);
    }
    Ok(m)
}

/// The checks `vm_mmap` → `do_mmap` → `__get_unmapped_area` → `file_mmap_ok` make on
/// a `MAP_FIXED` private file mapping of a regular file.
fn vm_mmap(addr: u64, len: u64, off: u64) -> Result<(), Errno> {
    // vm_mmap(): the offset must not overflow and must be page aligned.
    if off.wrapping_add(page_align(len)) < off || page_offset(off) != 0 {
        return Err(Errno::EINVAL);
    }
    // do_mmap()
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_align(len);
    if len == 0 {
        return Err(Errno::ENOMEM);
    }
    let pgoff = off / PAGE_SIZE;
    if pgoff.wrapping_add(len / PAGE_SIZE) < pgoff {
        return Err(Errno::EOVERFLOW);
    }
    // __get_unmapped_area()
    if len > TASK_SIZE || addr > TASK_SIZE - len {
        return Err(Errno::ENOMEM);
    }
    // file_mmap_ok(): a regular file's limit is MAX_LFS_FILESIZE (LLONG_MAX).
    let max = i64::MAX as u64;
    if len > max || pgoff > (max - len) / PAGE_SIZE {
        return Err(Errno::EOVERFLOW);
    }
    Ok(())
}

/// The checks `vm_brk_flags` → `check_brk_limits` make on an anonymous mapping.
fn vm_brk(addr: u64, request: u64) -> Result<(), Errno> {
    let len = page_align(request);
    if len < request {
        return Err(Errno::ENOMEM);
    }
    if len == 0 {
        return Ok(());
    }
    if len > TASK_SIZE || addr > TASK_SIZE - len {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}
