//! `ElfImage::parse` and `parse_interpreter`: what Linux accepts before committing.

use kestrel_abi::Errno;
use kestrel_abi::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};

use super::writer::{BASE, Ph, Writer, truncated};
use crate::elf::{PF_R, PF_W, PF_X, PT_GNU_STACK, PT_PHDR, Role};
use crate::{ELF_ET_DYN_BASE, ElfImage, ElfType, Span};

fn parse(w: &Writer) -> Result<ElfImage, Errno> {
    ElfImage::parse(&w.build())
}

#[test]
fn static_exec_reports_segments_entry_and_phdrs() {
    let img = parse(&Writer::static_exec()).unwrap();
    assert_eq!(img.role, Role::Program);
    assert_eq!(img.elf_type, ElfType::Exec);
    assert_eq!(img.entry, BASE + 0x1000);
    assert_eq!(img.phnum, 4);
    assert_eq!(img.phoff, 64);
    assert_eq!(img.segments.len(), 3);
    let text = img.segments[1];
    assert_eq!(
        (text.vaddr, text.offset, text.filesz, text.memsz),
        (BASE + 0x1000, 0x1000, 0x100, 0x100)
    );
    assert_eq!(text.prot, PROT_READ | PROT_EXEC);
    assert_eq!(img.segments[2].prot, PROT_READ | PROT_WRITE);
    assert_eq!(img.interp, None);
    assert!(!img.executable_stack());
}

#[test]
fn static_pie_reports_dyn_and_span() {
    let img = parse(&Writer::static_pie()).unwrap();
    assert_eq!(img.elf_type, ElfType::Dyn);
    assert_eq!(img.entry, 0x1000);
    assert_eq!(
        img.span(),
        Span {
            start: 0,
            end: 0x3010 + 0x3000
        }
    );
    assert_eq!(img.span().len(), 0x7000);
}

#[test]
fn span_starts_at_the_page_of_the_lowest_segment() {
    let mut w = Writer::static_pie();
    w.phdrs[0].vaddr = 0x10_0123;
    w.phdrs[0].offset = 0x123;
    w.phdrs[1].vaddr = 0x20_0000;
    w.phdrs[2].vaddr = 0x30_0010;
    let img = parse(&w).unwrap();
    assert_eq!(img.span().start, 0x10_0000);
    assert_eq!(img.span().end, 0x30_3010);
}

#[test]
fn empty_file_is_enoexec() {
    assert_eq!(ElfImage::parse(&[]), Err(Errno::ENOEXEC));
}

#[test]
fn bad_magic_is_enoexec() {
    let mut w = Writer::static_exec();
    w.ident[3] = b'X';
    assert_eq!(parse(&w), Err(Errno::ENOEXEC));
}

/// The missing fields of a short file read as zeros: here e_machine.
#[test]
fn truncated_header_is_enoexec() {
    let f = truncated(&Writer::static_exec(), 18);
    assert_eq!(ElfImage::parse(&f), Err(Errno::ENOEXEC));
}

/// A real ELF32 header: its e_machine is EM_386, and at ELF64 offsets its fields
/// are garbage anyway.
#[test]
fn elf32_is_enoexec() {
    let mut f = vec![0u8; 128];
    f[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
    f[16..18].copy_from_slice(&2u16.to_le_bytes());
    f[18..20].copy_from_slice(&3u16.to_le_bytes()); // EM_386
    f[28..32].copy_from_slice(&52u32.to_le_bytes()); // e_phoff
    f[42..44].copy_from_slice(&32u16.to_le_bytes()); // e_phentsize
    f[44..46].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
    assert_eq!(ElfImage::parse(&f), Err(Errno::ENOEXEC));
}

/// Linux never looks at EI_CLASS, EI_DATA or EI_VERSION (the userland test
/// exec_elf.elf_class_and_data_bytes_are_not_checked runs such a file).
#[test]
fn class_data_and_version_bytes_are_ignored_like_linux() {
    let mut w = Writer::static_exec();
    w.ident[4] = 1; // ELFCLASS32
    w.ident[5] = 2; // ELFDATA2MSB
    w.ident[6] = 0;
    assert_eq!(parse(&w).unwrap().elf_type, ElfType::Exec);
}

#[test]
fn wrong_machine_is_enoexec() {
    let mut w = Writer::static_exec();
    w.machine = 183; // EM_AARCH64
    assert_eq!(parse(&w), Err(Errno::ENOEXEC));
}

#[test]
fn et_rel_and_et_core_are_enoexec() {
    for t in [0u16, 1, 4, 0xfe00] {
        let mut w = Writer::static_exec();
        w.e_type = t;
        assert_eq!(parse(&w), Err(Errno::ENOEXEC), "e_type {t}");
    }
}

#[test]
fn wrong_phentsize_is_enoexec() {
    for size in [0u16, 32, 55, 57, 64] {
        let mut w = Writer::static_exec();
        w.phentsize = size;
        assert_eq!(parse(&w), Err(Errno::ENOEXEC), "e_phentsize {size}");
    }
}

#[test]
fn zero_phnum_is_enoexec() {
    let mut w = Writer::static_exec();
    w.phnum = Some(0);
    assert_eq!(parse(&w), Err(Errno::ENOEXEC));
}

fn with_phnum(n: usize) -> Writer {
    let mut w = Writer::static_exec();
    w.phoff = 0x3000;
    while w.phdrs.len() < n {
        w.phdrs.push(Ph::other(0, 0));
    }
    w
}

/// `size > ELF_MIN_ALIGN`: 73 * 56 = 4088 fits a page, 74 * 56 = 4144 does not.
#[test]
fn phdr_table_over_a_page_is_enoexec() {
    assert_eq!(parse(&with_phnum(73)).unwrap().phnum, 73);
    assert_eq!(parse(&with_phnum(74)), Err(Errno::ENOEXEC));
    let mut w = Writer::static_exec();
    w.phnum = Some(0xffff); // PN_XNUM is not special for exec
    assert_eq!(parse(&w), Err(Errno::ENOEXEC));
}

/// load_elf_phdrs() returns NULL on the short read, and load_elf_binary reports its
/// own ENOEXEC rather than the EIO.
#[test]
fn phdrs_beyond_eof_are_enoexec() {
    let w = Writer::static_exec();
    let f = w.build();
    let mut f2 = f.clone();
    f2[32..40].copy_from_slice(&(f.len() as u64 - 20).to_le_bytes());
    assert_eq!(ElfImage::parse(&f2), Err(Errno::ENOEXEC));
    let f3 = truncated(&w, 64 + 56 * 2);
    assert_eq!(ElfImage::parse(&f3), Err(Errno::ENOEXEC));
    for off in [u64::MAX - 10, 1 << 63] {
        let mut f4 = f.clone();
        f4[32..40].copy_from_slice(&off.to_le_bytes());
        assert_eq!(ElfImage::parse(&f4), Err(Errno::ENOEXEC));
    }
}

#[test]
fn pt_interp_path_is_read_up_to_its_first_nul() {
    let img = parse(&Writer::static_exec().interp(0x1f00, b"/lib/ld-musl.so\0junk\0")).unwrap();
    assert_eq!(img.interp.as_deref(), Some(&b"/lib/ld-musl.so"[..]));
}

/// "\0\0" is a valid PT_INTERP naming the empty path (open_exec("") then fails with
/// EACCES on Linux: it resolves to the current directory).
#[test]
fn pt_interp_may_name_the_empty_path() {
    let img = parse(&Writer::static_exec().interp(0x1f00, b"\0\0")).unwrap();
    assert_eq!(img.interp.as_deref(), Some(&b""[..]));
}

#[test]
fn only_the_first_pt_interp_counts() {
    let w = Writer::static_exec()
        .interp(0x1f00, b"/first\0")
        .interp(0x1f80, b"/second"); // not even NUL-terminated: never read
    assert_eq!(parse(&w).unwrap().interp.as_deref(), Some(&b"/first"[..]));
}

#[test]
fn pt_interp_not_nul_terminated_is_enoexec() {
    let w = Writer::static_exec().interp(0x1f00, b"/lib/ld.so");
    assert_eq!(parse(&w), Err(Errno::ENOEXEC));
}

#[test]
fn pt_interp_shorter_than_two_bytes_is_enoexec() {
    assert_eq!(
        parse(&Writer::static_exec().interp(0x1f00, b"\0")),
        Err(Errno::ENOEXEC)
    );
    assert_eq!(
        parse(&Writer::static_exec().interp(0x1f00, b"")),
        Err(Errno::ENOEXEC)
    );
}

#[test]
fn pt_interp_longer_than_path_max_is_enoexec() {
    let mut long = vec![b'a'; 4096];
    *long.last_mut().unwrap() = 0;
    assert!(parse(&Writer::static_exec().interp(0x3000, &long)).is_ok());
    long.push(0);
    assert_eq!(
        parse(&Writer::static_exec().interp(0x3000, &long)),
        Err(Errno::ENOEXEC)
    );
}

#[test]
fn pt_interp_beyond_eof_is_eio() {
    let w = Writer::static_exec().interp(0x2030, b"/lib/ld.so\0");
    let f = w.build();
    assert_eq!(f.len(), 0x2030 + 11);
    let cut = truncated(&w, f.len() - 1);
    assert_eq!(ElfImage::parse(&cut), Err(Errno::EIO));
}

/// kernel_read() refuses a position that is negative as a loff_t, or whose end is.
#[test]
fn pt_interp_at_negative_offset_is_einval() {
    let mut w = Writer::static_exec().interp(0x1f00, b"/lib/ld.so\0");
    w.phdrs.last_mut().unwrap().offset = 1 << 63;
    assert_eq!(parse(&w), Err(Errno::EINVAL));
    w.phdrs.last_mut().unwrap().offset = i64::MAX as u64 - 3;
    assert_eq!(parse(&w), Err(Errno::EINVAL));
    w.phdrs.last_mut().unwrap().offset = i64::MAX as u64 - 20;
    assert_eq!(parse(&w), Err(Errno::EIO));
}

/// Linux ignores PT_PHDR: AT_PHDR comes from the PT_LOAD whose file range holds
/// e_phoff.
#[test]
fn phdr_address_from_first_load_segment() {
    let mut w = Writer::static_exec();
    w.phdrs.push(Ph {
        vaddr: 0x12_3456,
        ..Ph::other(PT_PHDR, PF_R)
    });
    let img = parse(&w).unwrap();
    assert_eq!(img.phdr_vaddr, BASE + 64);
    assert_eq!(img.pt_phdr, Some(0x12_3456));
}

#[test]
fn phdr_address_from_the_segment_holding_e_phoff() {
    let mut w = Writer::static_exec();
    w.phoff = 0x1040; // inside the text segment: file 0x1000.. at BASE + 0x1000
    w.blobs.clear();
    let img = parse(&w).unwrap();
    assert_eq!(img.phdr_vaddr, BASE + 0x1040);
}

#[test]
fn phdr_address_is_zero_when_no_segment_holds_it() {
    let mut w = Writer::static_exec();
    w.phoff = 0x3000; // past every PT_LOAD's file range
    assert_eq!(parse(&w).unwrap().phdr_vaddr, 0);
}

#[test]
fn last_gnu_stack_decides_stack_execution() {
    let mut w = Writer::static_exec();
    assert!(!parse(&w).unwrap().executable_stack());
    w.phdrs.push(Ph::other(PT_GNU_STACK, PF_R | PF_W | PF_X));
    assert!(parse(&w).unwrap().executable_stack());
    w.phdrs.push(Ph::other(PT_GNU_STACK, PF_R | PF_W));
    assert!(!parse(&w).unwrap().executable_stack());
    w.phdrs.retain(|p| p.p_type != PT_GNU_STACK);
    let img = parse(&w).unwrap();
    assert_eq!(img.gnu_stack, None);
    assert!(
        !img.executable_stack(),
        "x86-64 default is a non-executable stack"
    );
}

#[test]
fn interpreter_shorter_than_a_header_is_eio() {
    let f = truncated(&Writer::static_pie(), 63);
    assert_eq!(ElfImage::parse_interpreter(&f), Err(Errno::EIO));
    assert_eq!(ElfImage::parse_interpreter(&[]), Err(Errno::EIO));
}

#[test]
fn interpreter_that_is_not_elf_is_elibbad() {
    assert_eq!(
        ElfImage::parse_interpreter(&[b'x'; 200]),
        Err(Errno::ELIBBAD)
    );
}

#[test]
fn interpreter_for_another_machine_is_elibbad() {
    let mut w = Writer::static_pie();
    w.machine = 3;
    assert_eq!(ElfImage::parse_interpreter(&w.build()), Err(Errno::ELIBBAD));
}

#[test]
fn interpreter_with_bad_phdrs_is_elibbad() {
    let mut w = Writer::static_pie();
    w.phentsize = 32;
    assert_eq!(ElfImage::parse_interpreter(&w.build()), Err(Errno::ELIBBAD));
    let f = truncated(&Writer::static_pie(), 100);
    assert_eq!(ElfImage::parse_interpreter(&f), Err(Errno::ELIBBAD));
}

/// The interpreter's e_type is only checked by load_elf_interp, after the point of
/// no return.
#[test]
fn interpreter_type_is_not_checked_before_commit() {
    let mut w = Writer::static_pie();
    w.e_type = 1;
    let img = ElfImage::parse_interpreter(&w.build()).unwrap();
    assert_eq!(img.role, Role::Interpreter);
    assert_eq!(img.elf_type, ElfType::Other(1));
}

#[test]
fn interpreter_ignores_its_own_pt_interp_and_gnu_stack() {
    let mut w = Writer::static_pie().interp(0x1f00, b"/nope");
    w.phdrs.push(Ph::other(PT_GNU_STACK, PF_X));
    let img = ElfImage::parse_interpreter(&w.build()).unwrap();
    assert_eq!(img.interp, None);
    assert!(!img.executable_stack());
}

#[test]
fn max_alignment_ignores_alignments_that_are_not_powers_of_two() {
    let mut w = Writer::static_pie();
    w.phdrs[0].align = 0x20_0000;
    w.phdrs[1].align = 0x30_0000;
    assert_eq!(parse(&w).unwrap().max_alignment(), 0x20_0000);
    for p in &mut w.phdrs {
        p.align = 0;
    }
    assert_eq!(parse(&w).unwrap().max_alignment(), 0);
    w.phdrs[2].align = 8;
    assert_eq!(parse(&w).unwrap().max_alignment(), 0x1000);
}

/// With ASLR off, Linux puts a PIE at 0x555555554000 (what gdb users know).
#[test]
fn pie_bias_matches_linux_without_aslr() {
    let img = parse(&Writer::static_pie()).unwrap();
    assert_eq!(ELF_ET_DYN_BASE, 0x5555_5555_4aaa);
    assert_eq!(img.pie_bias(ELF_ET_DYN_BASE), 0x5555_5555_4000);
    let mut w = Writer::static_pie();
    w.phdrs[0].align = 0x20_0000;
    let img = parse(&w).unwrap();
    assert_eq!(
        img.pie_bias(ELF_ET_DYN_BASE + 0x1234_5000),
        0x5555_6780_0000
    );
}

#[test]
fn bias_at_puts_the_first_segment_page_there() {
    let mut w = Writer::static_pie();
    for p in &mut w.phdrs {
        p.vaddr += 0x1_0000;
    }
    let img = parse(&w).unwrap();
    assert_eq!(img.bias_at(0x7f00_0000_0000), 0x7f00_0000_0000 - 0x1_0000);
}
