//! ELF64 x86-64 executables and interpreters: the checks Linux makes before it commits
//! to an exec, and what the loader needs from the headers.
//!
//! [`ElfImage::parse`] follows `load_elf_binary` in fs/binfmt_elf.c up to
//! `begin_new_exec`, and returns the errno Linux's `execve` returns for each defect:
//!
//! | defect | errno | Linux |
//! |---|---|---|
//! | no `\x7fELF` magic (an empty or short file reads as zeros) | `ENOEXEC` | `memcmp(elf_ex->e_ident, ELFMAG, SELFMAG)` |
//! | `e_type` not ET_EXEC or ET_DYN (ET_REL, ET_CORE, ...) | `ENOEXEC` | `elf_ex->e_type != ET_EXEC && != ET_DYN` |
//! | `e_machine` not EM_X86_64 (an i386 ELF32 has EM_386) | `ENOEXEC` | `elf_check_arch` |
//! | `e_phentsize` not 56 | `ENOEXEC` | `load_elf_phdrs`: `e_phentsize != sizeof(struct elf_phdr)` |
//! | `e_phnum` 0, or table over 4096 bytes (74+ entries) | `ENOEXEC` | `load_elf_phdrs`: `size == 0 \|\| size > 65536 \|\| size > ELF_MIN_ALIGN` |
//! | table beyond the end of the file | `ENOEXEC` | `load_elf_phdrs` returns NULL; the `EIO` of `elf_read` is dropped |
//! | PT_INTERP `p_filesz` < 2 or > `PATH_MAX` | `ENOEXEC` | `p_filesz > PATH_MAX \|\| p_filesz < 2` |
//! | PT_INTERP string past the end of the file | `EIO` | `elf_read`: short `kernel_read` |
//! | PT_INTERP at an offset negative as `loff_t` | `EINVAL` | `rw_verify_area` via `kernel_read` |
//! | PT_INTERP string's last byte not NUL | `ENOEXEC` | `elf_interpreter[p_filesz - 1] != '\0'` |
//!
//! Only the first PT_INTERP counts (the loop `break`s after it) and the path is the C
//! string at its start, so `"/lib/ld.so\0junk\0"` names `/lib/ld.so`. The kernel then
//! opens that path (`open_exec`: `ENOENT`, `EACCES`, ...) and passes the file to
//! [`ElfImage::parse_interpreter`], which adds Linux's interpreter checks:
//!
//! | defect | errno | Linux |
//! |---|---|---|
//! | shorter than an ELF header (64 bytes) | `EIO` | `elf_read(interpreter, interp_elf_ex, sizeof(*interp_elf_ex), 0)` |
//! | no ELF magic | `ELIBBAD` | "Not an ELF interpreter" |
//! | `e_machine` not EM_X86_64 | `ELIBBAD` | `elf_check_arch(interp_elf_ex)` |
//! | bad program header table (as above) | `ELIBBAD` | `load_elf_phdrs(interp_elf_ex, interpreter)` fails |
//!
//! Linux does *not* look at `e_ident[EI_CLASS]`, `[EI_DATA]`, `[EI_VERSION]`,
//! `e_version` or `e_ehsize`: an ELF64 header with the ELFCLASS32 byte runs. Kestrel
//! matches that. A real 32-bit file is still refused through its `e_machine` (EM_386);
//! Linux would run it only with ia32 emulation, which Kestrel does not have.
//!
//! Everything else (segment addresses and sizes, `p_offset`/`p_vaddr` congruence, the
//! entry point, the interpreter's `e_type` and its PT_LOADs) Linux checks only while
//! mapping, after the point of no return; see [`layout`](crate::layout).

use alloc::vec::Vec;

use kestrel_abi::Errno;
use kestrel_abi::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};

use crate::limits::{EHDR_SIZE, PAGE_SIZE, PATH_MAX, PHDR_SIZE, page_align, page_start};
use crate::read::{elf_read, u16_at, u32_at, u64_at};

/// `e_type` of an executable.
pub const ET_EXEC: u16 = 2;
/// `e_type` of a position-independent executable or shared object.
pub const ET_DYN: u16 = 3;
/// `e_machine` of x86-64.
pub const EM_X86_64: u16 = 62;
/// A loadable segment.
pub const PT_LOAD: u32 = 1;
/// The interpreter path.
pub const PT_INTERP: u32 = 3;
/// The program header table itself.
pub const PT_PHDR: u32 = 6;
/// Stack executability.
pub const PT_GNU_STACK: u32 = 0x6474_e551;
/// Segment flag: executable.
pub const PF_X: u32 = 1;
/// Segment flag: writable.
pub const PF_W: u32 = 2;
/// Segment flag: readable.
pub const PF_R: u32 = 4;

/// The kind of image, from `e_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfType {
    /// ET_EXEC: loaded at its link addresses (bias 0).
    Exec,
    /// ET_DYN: static-pie, PIE, or a dynamic linker; loaded at a bias the kernel picks.
    Dyn,
    /// Any other `e_type`. Only an interpreter can have one: Linux checks the
    /// interpreter's type after the point of no return (see [`ElfImage::layout`]).
    Other(u16),
}

/// Whether an image is the program being executed or its PT_INTERP interpreter;
/// Linux validates the two with different errnos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The file `execve` named (or a script's interpreter).
    Program,
    /// The program's PT_INTERP.
    Interpreter,
}

/// One PT_LOAD program header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// `p_vaddr`, before the load bias.
    pub vaddr: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_offset` in the file.
    pub offset: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `PROT_READ`/`PROT_WRITE`/`PROT_EXEC` from `p_flags` (`make_prot`).
    pub prot: u32,
    /// The raw `p_flags`.
    pub flags: u32,
    /// `p_align`.
    pub align: u64,
}

/// The address range the PT_LOADs cover before biasing, as Linux's
/// `total_mapping_size` computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The lowest page-aligned `p_vaddr`.
    pub start: u64,
    /// The highest `p_vaddr + p_memsz` (saturating at `u64::MAX` on overflow; such an
    /// image fails [`ElfImage::layout`]).
    pub end: u64,
}

impl Span {
    /// Bytes to reserve for the whole image, page aligned (0 if there is no PT_LOAD).
    pub fn len(&self) -> u64 {
        page_align(self.end.wrapping_sub(self.start))
    }

    /// Whether the span is empty (no PT_LOAD, or only empty ones at a page boundary).
    pub fn is_empty(&self) -> bool {
        self.end.wrapping_sub(self.start) == 0
    }
}

/// A validated ELF executable or interpreter: everything the loader needs from its
/// headers, before a load bias is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfImage {
    /// Program or interpreter.
    pub role: Role,
    /// From `e_type`.
    pub elf_type: ElfType,
    /// `e_entry`, before the bias.
    pub entry: u64,
    /// `e_phoff`.
    pub phoff: u64,
    /// `e_phnum` (`AT_PHNUM`).
    pub phnum: u16,
    /// The program headers' address before the bias, for `AT_PHDR`. Linux takes it
    /// from the PT_LOAD whose file range holds `e_phoff` (the last such one), and
    /// uses 0 if there is none; it ignores PT_PHDR.
    pub phdr_vaddr: u64,
    /// The PT_PHDR `p_vaddr`, if present (informational: Linux does not use it).
    pub pt_phdr: Option<u64>,
    /// The PT_LOAD segments, in file order.
    pub segments: Vec<Segment>,
    /// The PT_INTERP path without its NUL (programs only; empty path possible).
    pub interp: Option<Vec<u8>>,
    /// The `p_flags` of the last PT_GNU_STACK, if any.
    pub gnu_stack: Option<u32>,
}

impl ElfImage {
    /// Validates the file `execve` named, as `load_elf_binary` does before
    /// committing. The errno is what Linux's `execve` returns (table in the module
    /// docs).
    pub fn parse(file: &[u8]) -> Result<Self, Errno> {
        // The handler sees the first BINPRM_BUF_SIZE bytes, zero padded: a short
        // file is not an error by itself, its missing fields read as 0.
        let mut ehdr = [0u8; EHDR_SIZE];
        let n = file.len().min(EHDR_SIZE);
        ehdr[..n].copy_from_slice(&file[..n]);

        if &ehdr[..4] != b"\x7fELF" {
            return Err(Errno::ENOEXEC);
        }
        let elf_type = match u16_at(&ehdr, 16) {
            ET_EXEC => ElfType::Exec,
            ET_DYN => ElfType::Dyn,
            _ => return Err(Errno::ENOEXEC),
        };
        if u16_at(&ehdr, 18) != EM_X86_64 {
            return Err(Errno::ENOEXEC);
        }
        let phdrs = load_phdrs(file, &ehdr).ok_or(Errno::ENOEXEC)?;
        let mut image = Self::from_phdrs(Role::Program, elf_type, &ehdr, &phdrs);

        // The first PT_INTERP only: load_elf_binary breaks out of its loop after it.
        if let Some(ph) = phdrs.iter().find(|ph| ph.p_type == PT_INTERP) {
            if ph.filesz > PATH_MAX || ph.filesz < 2 {
                return Err(Errno::ENOEXEC);
            }
            let path = elf_read(file, ph.offset, ph.filesz as usize)?;
            let (last, path) = path.split_last().ok_or(Errno::ENOEXEC)?;
            if *last != 0 {
                return Err(Errno::ENOEXEC);
            }
            // open_exec() takes it as a C string.
            let len = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            image.interp = Some(path[..len].to_vec());
        }
        Ok(image)
    }

    /// Validates the file a program's PT_INTERP named, as `load_elf_binary` does
    /// before committing (table in the module docs). Its `e_type` is checked later,
    /// by [`layout`](Self::layout).
    pub fn parse_interpreter(file: &[u8]) -> Result<Self, Errno> {
        let ehdr: [u8; EHDR_SIZE] = elf_read(file, 0, EHDR_SIZE)?
            .try_into()
            .map_err(|_| Errno::EIO)?;
        if &ehdr[..4] != b"\x7fELF" || u16_at(&ehdr, 18) != EM_X86_64 {
            return Err(Errno::ELIBBAD);
        }
        let phdrs = load_phdrs(file, &ehdr).ok_or(Errno::ELIBBAD)?;
        let elf_type = match u16_at(&ehdr, 16) {
            ET_EXEC => ElfType::Exec,
            ET_DYN => ElfType::Dyn,
            other => ElfType::Other(other),
        };
        Ok(Self::from_phdrs(Role::Interpreter, elf_type, &ehdr, &phdrs))
    }

    fn from_phdrs(role: Role, elf_type: ElfType, ehdr: &[u8], phdrs: &[Phdr]) -> Self {
        let phoff = u64_at(ehdr, 32);
        let mut image = Self {
            role,
            elf_type,
            entry: u64_at(ehdr, 24),
            phoff,
            phnum: u16_at(ehdr, 56),
            phdr_vaddr: 0,
            pt_phdr: None,
            segments: Vec::new(),
            interp: None,
            gnu_stack: None,
        };
        for ph in phdrs {
            match ph.p_type {
                PT_LOAD => {
                    // load_elf_binary: "Figure out which segment in the file contains
                    // the Program Header table" (a later match overrides).
                    if ph.offset <= phoff && phoff < ph.offset.wrapping_add(ph.filesz) {
                        image.phdr_vaddr = (phoff - ph.offset).wrapping_add(ph.vaddr);
                    }
                    image.segments.push(Segment {
                        vaddr: ph.vaddr,
                        memsz: ph.memsz,
                        offset: ph.offset,
                        filesz: ph.filesz,
                        prot: make_prot(ph.flags),
                        flags: ph.flags,
                        align: ph.align,
                    });
                }
                PT_PHDR => image.pt_phdr = Some(ph.vaddr),
                // The last one wins: load_elf_binary's switch has no break-out.
                PT_GNU_STACK if role == Role::Program => image.gnu_stack = Some(ph.flags),
                _ => {}
            }
        }
        image
    }

    /// Whether the stack must be executable: PT_GNU_STACK with `PF_X`. Without a
    /// PT_GNU_STACK (`EXSTACK_DEFAULT`) x86-64 programs get a non-executable stack;
    /// `elf_read_implies_exec` only applies to 32-bit ones.
    pub fn executable_stack(&self) -> bool {
        self.gnu_stack.is_some_and(|f| f & PF_X != 0)
    }

    /// The range of link addresses the PT_LOADs cover (`total_mapping_size`): what an
    /// ET_DYN needs reserved in one piece.
    pub fn span(&self) -> Span {
        let mut span = Span {
            start: u64::MAX,
            end: 0,
        };
        for s in &self.segments {
            span.start = span.start.min(page_start(s.vaddr));
            span.end = span.end.max(s.vaddr.saturating_add(s.memsz));
        }
        if self.segments.is_empty() {
            span.start = 0;
        }
        span
    }

    /// The largest power-of-two `p_align` of the PT_LOADs, page aligned
    /// (`maximum_alignment`: other alignments are skipped as invalid; 0 if none is a
    /// power of two).
    pub fn max_alignment(&self) -> u64 {
        let a = self
            .segments
            .iter()
            .map(|s| s.align)
            .filter(|a| a.is_power_of_two())
            .max()
            .unwrap_or(0);
        page_align(a)
    }

    /// The bias Linux gives a PIE (ET_DYN program with a PT_INTERP): `base` is
    /// [`ELF_ET_DYN_BASE`](crate::ELF_ET_DYN_BASE) plus the page-aligned random offset
    /// (`arch_mmap_rnd()`, 0 without ASLR); it is aligned down to
    /// [`max_alignment`](Self::max_alignment) (if any), then lowered by the first
    /// PT_LOAD's `p_vaddr` and page aligned. Linux maps it `MAP_FIXED_NOREPLACE`.
    pub fn pie_bias(&self, base: u64) -> u64 {
        let align = self.max_alignment();
        let base = if align != 0 {
            base & !(align - 1)
        } else {
            base
        };
        let first = self.segments.first().map_or(0, |s| s.vaddr);
        page_start(base.wrapping_sub(first))
    }

    /// The bias that puts the image at `addr`, for an ET_DYN the kernel places itself
    /// (a static-pie or a dynamic linker run directly, or an ET_DYN interpreter): Linux
    /// lets mmap choose an address for [`span`](Self::span)`.len()` bytes and maps the
    /// first PT_LOAD's page there, so the bias is `addr - page_start(first p_vaddr)`.
    pub fn bias_at(&self, addr: u64) -> u64 {
        let first = self.segments.first().map_or(0, |s| s.vaddr);
        addr.wrapping_sub(page_start(first))
    }
}

/// `make_prot`: `p_flags` to `PROT_*` (x86-64 has no `arch_elf_adjust_prot` changes).
fn make_prot(flags: u32) -> u32 {
    let mut prot = 0;
    if flags & PF_R != 0 {
        prot |= PROT_READ;
    }
    if flags & PF_W != 0 {
        prot |= PROT_WRITE;
    }
    if flags & PF_X != 0 {
        prot |= PROT_EXEC;
    }
    prot
}

/// One raw `Elf64_Phdr`.
struct Phdr {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

/// `load_elf_phdrs`: the program header table, or `None` for any defect (Linux
/// returns NULL and its callers substitute their own errno).
fn load_phdrs(file: &[u8], ehdr: &[u8]) -> Option<Vec<Phdr>> {
    if u16_at(ehdr, 54) as usize != PHDR_SIZE {
        return None;
    }
    let size = PHDR_SIZE * u16_at(ehdr, 56) as usize;
    if size == 0 || size > 65536 || size as u64 > PAGE_SIZE {
        return None;
    }
    let table = elf_read(file, u64_at(ehdr, 32), size).ok()?;
    Some(
        table
            .chunks_exact(PHDR_SIZE)
            .map(|p| Phdr {
                p_type: u32_at(p, 0),
                flags: u32_at(p, 4),
                offset: u64_at(p, 8),
                vaddr: u64_at(p, 16),
                filesz: u64_at(p, 32),
                memsz: u64_at(p, 40),
                align: u64_at(p, 48),
            })
            .collect(),
    )
}
