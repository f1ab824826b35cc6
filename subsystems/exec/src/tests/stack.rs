//! `build_stack`: the initial stack, checked word by word against Linux's layout.

use kestrel_abi::Errno;
use kestrel_abi::process::{
    AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS, AT_GID, AT_HWCAP,
    AT_HWCAP2, AT_MINSIGSTKSZ, AT_NULL, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PLATFORM,
    AT_RANDOM, AT_SECURE, AT_SYSINFO_EHDR, AT_UID,
};

use super::writer::Writer;
use crate::{AuxValues, ElfImage, ExecArgs, StackImage, StackParams, build_stack};

const TOP: u64 = 0x7fff_ffff_f000;
const RANDOM: [u8; 16] = *b"0123456789abcdef";

fn aux() -> AuxValues {
    let l = ElfImage::parse(&Writer::static_exec().build())
        .unwrap()
        .layout(0)
        .unwrap();
    AuxValues::new(&l, None)
}

fn build(args: &ExecArgs, aux: &AuxValues, top: u64, pad: u64) -> StackImage {
    build_stack(&StackParams {
        stack_top: top,
        args,
        aux,
        random: RANDOM,
        align_pad: pad,
    })
    .unwrap()
}

fn word(img: &StackImage, addr: u64) -> u64 {
    let off = (addr - img.start) as usize;
    u64::from_le_bytes(img.bytes[off..off + 8].try_into().unwrap())
}

fn cstr(img: &StackImage, addr: u64) -> Vec<u8> {
    let off = (addr - img.start) as usize;
    let len = img.bytes[off..].iter().position(|&c| c == 0).unwrap();
    img.bytes[off..off + len].to_vec()
}

fn auxv(img: &StackImage) -> Vec<(u64, u64)> {
    let mut v = Vec::new();
    let mut at = img.auxv;
    loop {
        let (k, val) = (word(img, at), word(img, at + 8));
        v.push((k, val));
        if k == AT_NULL {
            return v;
        }
        at += 16;
    }
}

fn sample(argc: usize, envc: usize, len: usize) -> ExecArgs {
    let argv: Vec<Vec<u8>> = (0..argc)
        .map(|i| vec![b'a' + (i % 26) as u8; len + i])
        .collect();
    let envp: Vec<Vec<u8>> = (0..envc)
        .map(|i| format!("E{i}={}", "v".repeat(len)).into_bytes())
        .collect();
    let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let envp: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
    ExecArgs::new(b"/usr/bin/prog", &argv, &envp, 8 << 20).unwrap()
}

#[test]
fn stack_is_16_aligned_at_argc() {
    let aux = aux();
    for argc in 0..5 {
        for envc in 0..5 {
            for len in 0..17 {
                for pad in [0, 8, 4095] {
                    let img = build(&sample(argc, envc, len), &aux, TOP, pad);
                    assert_eq!(img.rsp % 16, 0, "argc {argc} envc {envc} len {len}");
                    assert_eq!(img.start, img.rsp);
                    assert_eq!(img.bytes.len() as u64, TOP - img.rsp);
                    assert_eq!(word(&img, img.rsp), img.argc);
                }
            }
        }
    }
}

#[test]
fn argv_and_envp_point_at_their_strings() {
    let args = ExecArgs::new(
        b"./prog",
        &[b"prog", b"", b"two words"],
        &[b"A=1", b"B="],
        8 << 20,
    )
    .unwrap();
    let img = build(&args, &aux(), TOP, 0);
    assert_eq!(img.argc, 3);
    assert_eq!(img.argv, img.rsp + 8);
    let got: Vec<Vec<u8>> = (0..3)
        .map(|i| cstr(&img, word(&img, img.argv + 8 * i)))
        .collect();
    assert_eq!(got, [&b"prog"[..], b"", b"two words"]);
    assert_eq!(word(&img, img.argv + 24), 0);
    assert_eq!(img.envp, img.argv + 32);
    assert_eq!(cstr(&img, word(&img, img.envp)), b"A=1");
    assert_eq!(cstr(&img, word(&img, img.envp + 8)), b"B=");
    assert_eq!(word(&img, img.envp + 16), 0);
    assert_eq!(img.auxv, img.envp + 24);
}

/// The string area is contiguous: argv strings, then envp strings, then the file
/// name, ending 8 bytes below the top (mm->arg_start..arg_end..env_end).
#[test]
fn strings_are_packed_below_an_8_byte_gap_at_the_top() {
    let args = ExecArgs::new(b"./prog", &[b"prog", b"x"], &[b"A=1"], 8 << 20).unwrap();
    let img = build(&args, &aux(), TOP, 0);
    assert_eq!(img.execfn, TOP - 8 - 7);
    assert_eq!(img.env_end, img.execfn);
    assert_eq!(img.env_start, img.execfn - 4);
    assert_eq!(img.arg_end, img.env_start);
    assert_eq!(img.arg_start, img.arg_end - 5 - 2);
    assert_eq!(word(&img, img.argv), img.arg_start);
    assert_eq!(&img.bytes[img.bytes.len() - 8..], &[0; 8]);
    let strings = &img.bytes[(img.arg_start - img.start) as usize..img.bytes.len() - 8];
    assert_eq!(strings, b"prog\0x\0A=1\0./prog\0");
}

#[test]
fn auxv_random_points_at_16_bytes() {
    let img = build(&sample(2, 2, 3), &aux(), TOP, 0);
    let random = auxv(&img).iter().find(|e| e.0 == AT_RANDOM).unwrap().1;
    assert_eq!(random, img.random);
    let off = (random - img.start) as usize;
    assert_eq!(img.bytes[off..off + 16], RANDOM);
    // Between the auxv and the strings, below the platform string.
    assert!(random >= img.auxv + 16 * auxv(&img).len() as u64);
    assert_eq!(random + 16, img.platform.unwrap());
}

#[test]
fn auxv_execfn_and_platform_point_at_their_strings() {
    let img = build(&sample(1, 1, 1), &aux(), TOP, 0);
    let v = auxv(&img);
    let get = |k| v.iter().find(|e| e.0 == k).unwrap().1;
    assert_eq!(cstr(&img, get(AT_EXECFN)), b"/usr/bin/prog");
    assert_eq!(cstr(&img, get(AT_PLATFORM)), b"x86_64");
    // arch_align_stack() aligns below the strings before the platform string.
    assert_eq!((get(AT_PLATFORM) + 7) % 16, 0);
    assert!(get(AT_PLATFORM) + 7 <= img.arg_start);
}

#[test]
fn auxv_order_matches_linux() {
    let mut aux = aux();
    aux.sysinfo_ehdr = Some(0x7fff_f7ff_d000);
    aux.minsigstksz = Some(3632);
    aux.hwcap = 0x178b_fbff;
    aux.hwcap2 = Some(2);
    aux.uid = 1000;
    aux.euid = 1001;
    aux.gid = 100;
    aux.egid = 101;
    aux.extra = vec![(27, 32), (28, 32)];
    let img = build(&sample(1, 0, 1), &aux, TOP, 0);
    let keys: Vec<u64> = auxv(&img).iter().map(|e| e.0).collect();
    assert_eq!(
        keys,
        [
            AT_SYSINFO_EHDR,
            AT_MINSIGSTKSZ,
            AT_HWCAP,
            AT_PAGESZ,
            AT_CLKTCK,
            AT_PHDR,
            AT_PHENT,
            AT_PHNUM,
            AT_BASE,
            AT_FLAGS,
            AT_ENTRY,
            AT_UID,
            AT_EUID,
            AT_GID,
            AT_EGID,
            AT_SECURE,
            AT_RANDOM,
            AT_HWCAP2,
            AT_EXECFN,
            AT_PLATFORM,
            27,
            28,
            AT_NULL
        ]
    );
    assert_eq!(img.auxv_entries, auxv(&img));
    let v = auxv(&img);
    let get = |k| v.iter().find(|e| e.0 == k).unwrap().1;
    assert_eq!(get(AT_PHDR), 0x40_0040);
    assert_eq!(get(AT_PHENT), 56);
    assert_eq!(get(AT_PHNUM), 4);
    assert_eq!(get(AT_ENTRY), 0x40_1000);
    assert_eq!(get(AT_PAGESZ), 4096);
    assert_eq!(get(AT_CLKTCK), 100);
    assert_eq!(get(AT_BASE), 0);
    assert_eq!(
        (get(AT_UID), get(AT_EUID), get(AT_GID), get(AT_EGID)),
        (1000, 1001, 100, 101)
    );
}

#[test]
fn auxv_base_is_the_interpreter_bias() {
    let prog =
        ElfImage::parse(&Writer::static_pie().interp(0x1f00, b"/lib/ld.so\0").build()).unwrap();
    let ld = ElfImage::parse_interpreter(&Writer::static_pie().build()).unwrap();
    let pl = prog.layout(prog.pie_bias(crate::ELF_ET_DYN_BASE)).unwrap();
    let ll = ld.layout(0x7f00_0000_0000).unwrap();
    let aux = AuxValues::new(&pl, Some(&ll));
    assert_eq!(aux.base, 0x7f00_0000_0000);
    assert_eq!(aux.entry, 0x5555_5555_5000, "AT_ENTRY is the program's");
    assert_eq!(aux.phdr, 0x5555_5555_4040);
}

#[test]
fn omitted_platform_leaves_no_string_and_no_entry() {
    let mut aux = aux();
    aux.platform = None;
    aux.hwcap2 = None;
    let img = build(&sample(1, 1, 1), &aux, TOP, 0);
    assert_eq!(img.platform, None);
    let keys: Vec<u64> = auxv(&img).iter().map(|e| e.0).collect();
    assert!(!keys.contains(&AT_PLATFORM) && !keys.contains(&AT_HWCAP2));
    assert_eq!(
        img.random % 16,
        0,
        "random bytes directly below the aligned strings"
    );
}

/// The exact Linux arithmetic for one small case, done by hand.
#[test]
fn layout_matches_create_elf_tables_arithmetic() {
    let args = ExecArgs::new(b"/p", &[b"p"], &[], 8 << 20).unwrap();
    let img = build(&args, &aux(), 0x1000_0000, 0);
    // top 0x1000_0000: gap to ..ff8; "/p\0" at ..ff5; "p\0" at ..ff3; align to ..ff0;
    // "x86_64\0" at ..fe9; random at ..fd9; 19 auxv pairs = 304 bytes -> ..ea9;
    // 4 words (argc, argv[0], NULL, NULL) -> ..e89, rounded down -> ..e80.
    assert_eq!(img.execfn, 0x0fff_fff5);
    assert_eq!(img.arg_start, 0x0fff_fff3);
    assert_eq!(img.platform, Some(0x0fff_ffe9));
    assert_eq!(img.random, 0x0fff_ffd9);
    assert_eq!(img.auxv_entries.len(), 19);
    assert_eq!(img.rsp, 0x0fff_fe80);
    // The 9-byte gap sits between the auxv end and the random bytes.
    assert_eq!(img.auxv + 304, 0x0fff_ffd0);
}

#[test]
fn align_pad_moves_everything_below_the_strings() {
    let args = sample(2, 1, 5);
    let a = build(&args, &aux(), TOP, 0);
    let b = build(&args, &aux(), TOP, 0x100);
    assert_eq!(a.arg_start, b.arg_start);
    assert_eq!(a.random - 0x100, b.random);
    assert_eq!(a.rsp - 0x100, b.rsp);
}

#[test]
fn unaligned_top_is_einval_and_underflow_is_efault() {
    let args = sample(1, 1, 1);
    let aux = aux();
    let p = |top| StackParams {
        stack_top: top,
        args: &args,
        aux: &aux,
        random: RANDOM,
        align_pad: 0,
    };
    assert_eq!(build_stack(&p(TOP - 8)), Err(Errno::EINVAL));
    assert_eq!(build_stack(&p(0x100)), Err(Errno::EFAULT));
}

/// Addresses observed on Linux 6.18 for `env -i A=1 BB=22 setarch -R ./stk x yz`
/// (a static musl program printing them; `-R` turns off `arch_align_stack`'s random
/// pad). Its auxv had 23 entries: vDSO, minsigstksz, hwcap2 and the two rseq ones.
#[test]
fn matches_a_real_linux_process_without_aslr() {
    let args = ExecArgs::new(
        b"./stk",
        &[b"./stk", b"x", b"yz"],
        &[b"A=1", b"BB=22"],
        8 << 20,
    )
    .unwrap();
    let mut aux = aux();
    aux.sysinfo_ehdr = Some(0x7fff_f7ffd000);
    aux.minsigstksz = Some(3632);
    aux.hwcap2 = Some(2);
    aux.extra = vec![(27, 32), (28, 32)];
    let img = build(&args, &aux, 0x7fff_ffff_f000, 0);
    assert_eq!(img.auxv_entries.len(), 23);
    assert_eq!(img.arg_start, 0x7fff_ffff_efdd);
    assert_eq!(img.platform, Some(0x7fff_ffff_efc9));
    assert_eq!(img.random, 0x7fff_ffff_efb9);
    assert_eq!(img.auxv, 0x7fff_ffff_ee40);
    assert_eq!(img.rsp, 0x7fff_ffff_ee00);
}
