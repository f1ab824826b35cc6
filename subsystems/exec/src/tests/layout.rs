//! `ElfImage::layout`: the mappings, and the checks Linux makes after the point of no
//! return.

use kestrel_abi::Errno;
use kestrel_abi::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};

use super::writer::{BASE, Ph, Writer};
use crate::elf::{PF_R, PF_W, PF_X};
use crate::{ElfImage, Fatal, Mapping, TASK_SIZE};

fn program(w: &Writer) -> ElfImage {
    ElfImage::parse(&w.build()).expect("valid before commit")
}

fn interpreter(w: &Writer) -> ElfImage {
    ElfImage::parse_interpreter(&w.build()).expect("valid before commit")
}

#[test]
fn static_exec_maps_each_segment() {
    let l = program(&Writer::static_exec()).layout(0).unwrap();
    assert_eq!(l.entry, BASE + 0x1000);
    assert_eq!(l.phdr, BASE + 64);
    assert_eq!(l.phnum, 4);
    assert_eq!(
        l.mappings,
        vec![
            Mapping {
                start: BASE,
                file_end: BASE + 0x1000,
                file_offset: 0,
                zero_start: BASE + 0x1000,
                end: BASE + 0x1000,
                prot: PROT_READ,
                anon_prot: PROT_READ | PROT_WRITE,
            },
            Mapping {
                start: BASE + 0x1000,
                file_end: BASE + 0x2000,
                file_offset: 0x1000,
                zero_start: BASE + 0x2000,
                end: BASE + 0x2000,
                prot: PROT_READ | PROT_EXEC,
                anon_prot: PROT_READ | PROT_WRITE | PROT_EXEC,
            },
            // data at 0x3010 from file 0x2010: page 0x3000 maps file page 0x2000;
            // the bss starts right after the 0x20 file bytes and ends at 0x6010.
            Mapping {
                start: BASE + 0x3000,
                file_end: BASE + 0x4000,
                file_offset: 0x2000,
                zero_start: BASE + 0x3030,
                end: BASE + 0x7000,
                prot: PROT_READ | PROT_WRITE,
                anon_prot: PROT_READ | PROT_WRITE,
            },
        ]
    );
    assert_eq!(l.brk, BASE + 0x7000);
    assert_eq!((l.start_code, l.end_code), (BASE + 0x1000, BASE + 0x1100));
    assert_eq!((l.start_data, l.end_data), (BASE + 0x3010, BASE + 0x3030));
}

#[test]
fn static_pie_layout_adds_the_bias_everywhere() {
    let bias = 0x7f12_3456_7000;
    let l = program(&Writer::static_pie()).layout(bias).unwrap();
    assert_eq!(l.bias, bias);
    assert_eq!(l.entry, bias + 0x1000);
    assert_eq!(l.phdr, bias + 64);
    assert_eq!(l.mappings[2].start, bias + 0x3000);
    assert_eq!(l.mappings[2].zero_start, bias + 0x3030);
    assert_eq!(l.brk, bias + 0x7000);
}

#[test]
fn file_bytes_stop_at_the_bss_or_the_end_of_file() {
    let l = program(&Writer::static_exec()).layout(0).unwrap();
    let data = l.mappings[2];
    assert_eq!(data.file_bytes(0x2030), (0x2000, 0x30));
    assert_eq!(data.file_bytes(0x2010), (0x2000, 0x10));
    assert_eq!(data.file_bytes(0x1000), (0x2000, 0));
    // Without a bss the whole last page comes from the file.
    assert_eq!(l.mappings[1].file_bytes(0x2030), (0x1000, 0x1000));
}

/// padzero() fails on a read-only page and Linux ignores that: the file's bytes stay.
#[test]
fn bss_of_read_only_segment_keeps_file_bytes_in_its_last_page() {
    let mut w = Writer::static_exec();
    w.phdrs[1].memsz = 0x2000;
    let m = program(&w).layout(0).unwrap().mappings[1];
    assert_eq!(m.zero_start, m.file_end);
    assert_eq!(m.end, BASE + 0x3000);
    assert_eq!(m.anon_prot, PROT_READ | PROT_WRITE | PROT_EXEC);
}

#[test]
fn segment_without_file_bytes_is_all_anonymous() {
    let mut w = Writer::static_exec();
    w.phdrs[2].filesz = 0;
    let m = program(&w).layout(0).unwrap().mappings[2];
    assert_eq!(
        (m.start, m.file_end, m.end),
        (BASE + 0x3000, BASE + 0x3000, BASE + 0x7000)
    );
    assert_eq!(m.file_bytes(0x10_0000).1, 0);
}

#[test]
fn filesz_above_memsz_is_fatal_einval() {
    let mut w = Writer::static_exec();
    w.phdrs[1].memsz = 0x10;
    assert_eq!(program(&w).layout(0), Err(Fatal(Errno::EINVAL)));
}

/// mmap() refuses the page-rounded file offset when p_offset and p_vaddr differ
/// modulo the page size.
#[test]
fn offset_not_congruent_to_vaddr_is_fatal_einval() {
    let mut w = Writer::static_exec();
    w.phdrs[1].vaddr += 0x10;
    assert_eq!(program(&w).layout(0), Err(Fatal(Errno::EINVAL)));
    // ... unless nothing is mapped from the file.
    w.phdrs[1].filesz = 0;
    assert!(program(&w).layout(0).is_ok());
}

#[test]
fn segment_above_task_size_is_fatal_enomem() {
    let mut w = Writer::static_exec();
    w.phdrs[2].vaddr = TASK_SIZE + 0x10;
    assert_eq!(program(&w).layout(0), Err(Fatal(Errno::ENOMEM)));
}

/// The file part fits but the bss does not: vm_brk_flags() fails.
#[test]
fn bss_reaching_past_task_size_is_fatal_enomem() {
    let mut w = Writer::static_exec();
    w.phdrs[2].memsz = TASK_SIZE;
    assert_eq!(program(&w).layout(0), Err(Fatal(Errno::ENOMEM)));
}

#[test]
fn memsz_wrapping_the_address_space_is_fatal() {
    let mut w = Writer::static_exec();
    w.phdrs[2].memsz = u64::MAX - 0x1000;
    assert!(program(&w).layout(0).is_err());
    let mut w = Writer::static_exec();
    w.phdrs[2].filesz = u64::MAX - 0x1000;
    w.phdrs[2].memsz = u64::MAX - 0x1000;
    assert!(program(&w).layout(0).is_err());
}

#[test]
fn entry_above_task_size_is_fatal_einval() {
    let mut w = Writer::static_exec();
    w.entry = TASK_SIZE;
    assert_eq!(program(&w).layout(0), Err(Fatal(Errno::EINVAL)));
}

/// With an interpreter, only the interpreter's entry point is checked.
#[test]
fn program_entry_is_not_checked_when_it_has_an_interpreter() {
    let mut w = Writer::static_exec().interp(0x1f00, b"/lib/ld.so\0");
    w.entry = TASK_SIZE;
    assert!(program(&w).layout(0).is_ok());
}

/// Nothing to map is not an error for a program: it faults at its entry point.
#[test]
fn program_without_load_segment_maps_nothing() {
    let mut w = Writer::static_exec();
    w.phdrs.retain(|p| p.p_type != crate::elf::PT_LOAD);
    let l = program(&w).layout(0).unwrap();
    assert!(l.mappings.is_empty());
    assert_eq!(l.phdr, 0);
}

/// The first PT_LOAD of an ET_DYN reserves the whole span, which must fit.
#[test]
fn et_dyn_span_must_fit_below_task_size() {
    let img = program(&Writer::static_pie());
    assert!(img.layout(TASK_SIZE - 0x7000).is_ok());
    assert_eq!(img.layout(TASK_SIZE - 0x6000), Err(Fatal(Errno::ENOMEM)));
}

#[test]
fn et_dyn_with_one_empty_segment_is_fatal_einval() {
    let mut w = Writer::static_pie();
    w.phdrs = vec![Ph::load(PF_R, 0, 0, 0, 0)];
    assert_eq!(program(&w).layout(0x10_0000), Err(Fatal(Errno::EINVAL)));
}

#[test]
fn interpreter_layout_at_a_bias() {
    let l = interpreter(&Writer::static_pie())
        .layout(0x7f00_0000_0000)
        .unwrap();
    assert_eq!(l.entry, 0x7f00_0000_1000);
    assert_eq!(l.mappings.len(), 3);
}

#[test]
fn interpreter_of_wrong_type_is_fatal() {
    let mut w = Writer::static_pie();
    w.e_type = 1;
    assert_eq!(interpreter(&w).layout(0x10_0000), Err(Fatal(Errno::EPERM)));
}

#[test]
fn interpreter_without_load_segment_is_fatal_einval() {
    let mut w = Writer::static_pie();
    w.phdrs.retain(|p| p.p_type != crate::elf::PT_LOAD);
    assert_eq!(interpreter(&w).layout(0x10_0000), Err(Fatal(Errno::EINVAL)));
}

/// load_elf_interp reports its segment checks as ENOMEM, not EINVAL.
#[test]
fn interpreter_segment_checks_are_enomem() {
    let mut w = Writer::static_pie();
    w.phdrs[1].memsz = 0x10;
    assert_eq!(interpreter(&w).layout(0x10_0000), Err(Fatal(Errno::ENOMEM)));
}

#[test]
fn interpreter_entry_above_task_size_is_fatal_einval() {
    let mut w = Writer::static_pie();
    w.entry = TASK_SIZE;
    assert_eq!(interpreter(&w).layout(0x10_0000), Err(Fatal(Errno::EINVAL)));
}

#[test]
fn code_and_data_bounds_follow_linux_definitions() {
    let mut w = Writer::static_exec();
    w.phdrs.push(Ph::load(
        PF_R | PF_W | PF_X,
        0x1000,
        BASE + 0x10_0000,
        0x80,
        0x80,
    ));
    let l = program(&w).layout(0).unwrap();
    assert_eq!(l.start_code, BASE + 0x1000);
    assert_eq!(l.end_code, BASE + 0x10_0080);
    // start_data is the highest p_vaddr of any PT_LOAD.
    assert_eq!(l.start_data, BASE + 0x10_0000);
    assert_eq!(l.end_data, BASE + 0x10_0080);
    assert_eq!(l.brk, BASE + 0x10_1000);
}
