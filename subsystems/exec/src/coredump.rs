//! ELF core files: the layout of a core dump and the name it gets.
//!
//! A core file is an ELF file of type `ET_CORE`: the ELF header, one program
//! header for the notes (`PT_NOTE`) and one `PT_LOAD` per memory area, the notes
//! (registers, process information, the signal, the auxiliary vector), then, from
//! the next page boundary, the dumped bytes of each area in order. An area that
//! is not dumped still has its `PT_LOAD`, with `p_filesz` 0, so a debugger knows
//! the address space's shape. This module computes the header bytes and where
//! each area's data goes; the kernel reads the memory and writes the file.
//!
//! It also expands `/proc/sys/kernel/core_pattern` into the file name
//! ([`expand_pattern`]) as core(5) describes.

use alloc::vec::Vec;

/// `e_type` of a core file.
pub const ET_CORE: u16 = 4;
/// `e_machine` for x86-64.
pub const EM_X86_64: u16 = 62;
/// Program header types.
pub const PT_LOAD: u32 = 1;
/// The notes' program header.
pub const PT_NOTE: u32 = 4;
/// Segment permission bits (`p_flags`).
pub const PF_X: u32 = 1;
/// Writable segment.
pub const PF_W: u32 = 2;
/// Readable segment.
pub const PF_R: u32 = 4;

/// `struct elf_prstatus`: the signal, ids, times and the registers.
pub const NT_PRSTATUS: u32 = 1;
/// `struct user_fpregs_struct` (the FXSAVE area).
pub const NT_PRFPREG: u32 = 2;
/// `struct elf_prpsinfo`: state, ids, command name and arguments.
pub const NT_PRPSINFO: u32 = 3;
/// The auxiliary vector, as the process got it.
pub const NT_AUXV: u32 = 6;
/// The `siginfo_t` of the signal that killed the process ("SIGI").
pub const NT_SIGINFO: u32 = 0x5349_4749;

/// Size of `struct elf_prstatus` on x86-64.
pub const PRSTATUS_SIZE: usize = 336;
/// Size of `struct elf_prpsinfo` on x86-64.
pub const PRPSINFO_SIZE: usize = 136;
/// Registers in `elf_gregset_t` (`struct user_regs_struct`).
pub const NGREG: usize = 27;

/// The smallest RLIMIT_CORE that allows a dump (Linux's ELF `min_coredump`, a
/// page): below it no file is made.
pub const MIN_CORE_LIMIT: u64 = 4096;

/// The page size data is aligned to.
const PAGE: u64 = 4096;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
/// The most program headers `e_phnum` can count without extended numbering.
pub const MAX_SEGMENTS: usize = 0xfffe;

/// A note in the `PT_NOTE` segment, named "CORE" (as Linux names all of these).
#[derive(Debug, Clone, Copy)]
pub struct Note<'a> {
    /// The note type (`NT_*`).
    pub kind: u32,
    /// Its contents.
    pub desc: &'a [u8],
}

/// One memory area of the dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    /// Start address (page-aligned).
    pub start: u64,
    /// Size in memory.
    pub memsz: u64,
    /// Bytes of it written to the file: `memsz` or 0.
    pub filesz: u64,
    /// `PF_*` bits.
    pub flags: u32,
}

/// The start of a core file and where each area's bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreLayout {
    /// ELF header, program headers and notes, padded to the first data offset.
    pub header: Vec<u8>,
    /// The file offset of each area's data (in the order given).
    pub offsets: Vec<u64>,
    /// The whole file's size: the end of the last area's data.
    pub size: u64,
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn pad4(n: usize) -> usize {
    n.next_multiple_of(4)
}

/// Bytes one note takes: its header, "CORE\0" padded to 8, the contents padded.
fn note_size(n: &Note<'_>) -> usize {
    12 + 8 + pad4(n.desc.len())
}

/// Lays out a core file holding `notes` and `areas` (at most [`MAX_SEGMENTS`] - 1
/// areas: the caller drops the rest).
pub fn layout(notes: &[Note<'_>], areas: &[Area]) -> CoreLayout {
    let areas = &areas[..areas.len().min(MAX_SEGMENTS - 1)];
    let phnum = 1 + areas.len();
    let notes_off = EHDR_SIZE + phnum * PHDR_SIZE;
    let notes_len: usize = notes.iter().map(note_size).sum();
    let data_off = ((notes_off + notes_len) as u64).next_multiple_of(PAGE);

    let mut h = Vec::with_capacity(data_off as usize);
    // ELF header.
    h.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    h.extend_from_slice(&[0; 8]);
    put16(&mut h, ET_CORE);
    put16(&mut h, EM_X86_64);
    put32(&mut h, 1); // e_version
    put64(&mut h, 0); // e_entry
    put64(&mut h, EHDR_SIZE as u64); // e_phoff
    put64(&mut h, 0); // e_shoff
    put32(&mut h, 0); // e_flags
    put16(&mut h, EHDR_SIZE as u16);
    put16(&mut h, PHDR_SIZE as u16);
    put16(&mut h, phnum as u16);
    put16(&mut h, 64); // e_shentsize
    put16(&mut h, 0); // e_shnum
    put16(&mut h, 0); // e_shstrndx
    // PT_NOTE.
    put32(&mut h, PT_NOTE);
    put32(&mut h, 0);
    put64(&mut h, notes_off as u64);
    put64(&mut h, 0);
    put64(&mut h, 0);
    put64(&mut h, notes_len as u64);
    put64(&mut h, 0);
    put64(&mut h, 4);
    // PT_LOADs.
    let mut offsets = Vec::with_capacity(areas.len());
    let mut at = data_off;
    for a in areas {
        put32(&mut h, PT_LOAD);
        put32(&mut h, a.flags);
        put64(&mut h, at);
        put64(&mut h, a.start);
        put64(&mut h, 0);
        put64(&mut h, a.filesz);
        put64(&mut h, a.memsz);
        put64(&mut h, PAGE);
        offsets.push(at);
        at += a.filesz;
    }
    // Notes.
    for n in notes {
        put32(&mut h, 5); // namesz: "CORE\0"
        put32(&mut h, n.desc.len() as u32);
        put32(&mut h, n.kind);
        h.extend_from_slice(b"CORE\0\0\0\0");
        h.extend_from_slice(n.desc);
        h.resize(pad4(h.len()), 0);
    }
    h.resize(data_off as usize, 0);
    CoreLayout {
        header: h,
        offsets,
        size: at,
    }
}

/// What `struct elf_prstatus` records.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrStatus {
    /// The signal that killed the process (pr_info.si_signo and pr_cursig).
    pub signal: u32,
    /// Pending and blocked signal masks.
    pub sigpend: u64,
    /// The thread's blocked mask.
    pub sighold: u64,
    /// Thread id, parent's pid, process group, session.
    pub pid: u32,
    /// The parent's pid.
    pub ppid: u32,
    /// Process group.
    pub pgrp: u32,
    /// Session.
    pub sid: u32,
    /// User and system CPU time in microseconds.
    pub utime_us: u64,
    /// System CPU time in microseconds.
    pub stime_us: u64,
    /// The registers, in `struct user_regs_struct` order.
    pub regs: [u64; NGREG],
    /// Whether an NT_PRFPREG note follows.
    pub fpvalid: bool,
}

fn timeval(v: &mut Vec<u8>, us: u64) {
    put64(v, us / 1_000_000);
    put64(v, us % 1_000_000);
}

impl PrStatus {
    /// The note's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(PRSTATUS_SIZE);
        put32(&mut v, self.signal); // pr_info.si_signo
        put32(&mut v, 0); // si_code
        put32(&mut v, 0); // si_errno
        put16(&mut v, self.signal as u16); // pr_cursig
        put16(&mut v, 0);
        put64(&mut v, self.sigpend);
        put64(&mut v, self.sighold);
        for id in [self.pid, self.ppid, self.pgrp, self.sid] {
            put32(&mut v, id);
        }
        timeval(&mut v, self.utime_us);
        timeval(&mut v, self.stime_us);
        timeval(&mut v, 0); // pr_cutime
        timeval(&mut v, 0); // pr_cstime
        for r in self.regs {
            put64(&mut v, r);
        }
        put32(&mut v, u32::from(self.fpvalid));
        v.resize(PRSTATUS_SIZE, 0);
        v
    }
}

/// What `struct elf_prpsinfo` records.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrPsInfo<'a> {
    /// Nice value.
    pub nice: i8,
    /// Real user and group ids.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// Process id, parent's, process group, session.
    pub pid: u32,
    /// The parent's pid.
    pub ppid: u32,
    /// Process group.
    pub pgrp: u32,
    /// Session.
    pub sid: u32,
    /// The command name (comm, up to 16 bytes).
    pub fname: &'a [u8],
    /// The command line as /proc/PID/cmdline has it (NUL-separated).
    pub args: &'a [u8],
}

impl PrPsInfo<'_> {
    /// The note's bytes. The process is running when it dumps: state 0, 'R'.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(PRPSINFO_SIZE);
        v.extend_from_slice(&[0, b'R', 0, self.nice as u8]);
        put32(&mut v, 0);
        put64(&mut v, 0); // pr_flag
        for id in [self.uid, self.gid, self.pid, self.ppid, self.pgrp, self.sid] {
            put32(&mut v, id);
        }
        let mut fname = [0u8; 16];
        let n = self.fname.len().min(15);
        fname[..n].copy_from_slice(&self.fname[..n]);
        v.extend_from_slice(&fname);
        // The arguments, NULs made spaces, at most 79 bytes and a NUL.
        let mut args = [0u8; 80];
        let args_in = self.args.strip_suffix(b"\0").unwrap_or(self.args);
        for (d, s) in args.iter_mut().zip(args_in.iter().take(79)) {
            *d = if *s == 0 { b' ' } else { *s };
        }
        v.extend_from_slice(&args);
        v
    }
}

/// What `%` specifiers of core_pattern stand for.
#[derive(Debug, Clone, Copy, Default)]
pub struct PatternFields<'a> {
    /// %p and %P: the process id.
    pub pid: u32,
    /// %i and %I: the thread id of the thread that took the signal.
    pub tid: u32,
    /// %u: the real user id.
    pub uid: u32,
    /// %g: the real group id.
    pub gid: u32,
    /// %s: the signal number.
    pub signal: u32,
    /// %t: seconds since the epoch.
    pub time: u64,
    /// %h: the host name.
    pub hostname: &'a [u8],
    /// %e: the command name (comm).
    pub comm: &'a [u8],
    /// %E: the executable's path; %f its last component.
    pub exe: &'a [u8],
    /// %c: the soft RLIMIT_CORE.
    pub core_limit: u64,
    /// %d: the dump mode (prctl's PR_GET_DUMPABLE).
    pub dumpable: u32,
}

fn push_num(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A name that must not add a directory level: '/' becomes '!' (Linux's
/// cn_esc_printf), and a name of "." or ".." becomes "!" too.
fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    if s == b"." || s == b".." {
        out.push(b'!');
        return;
    }
    out.extend(s.iter().map(|&c| if c == b'/' { b'!' } else { c }));
}

/// Expands a core_pattern into the core file's name (core(5)): `%%`, `%p`, `%P`,
/// `%i`, `%I`, `%u`, `%g`, `%d`, `%s`, `%t`, `%h`, `%e`, `%f`, `%E`, `%c`. An
/// unknown specifier and a lone trailing `%` vanish. When the pattern has no `%p`
/// and `uses_pid` (/proc/sys/kernel/core_uses_pid) is set, ".PID" is appended.
/// A pattern starting with '|' names a program to pipe to: it is returned as it
/// is, and the caller decides.
pub fn expand_pattern(pattern: &[u8], f: &PatternFields<'_>, uses_pid: bool) -> Vec<u8> {
    if pattern.first() == Some(&b'|') {
        return pattern.to_vec();
    }
    let mut out = Vec::new();
    let mut pid_in_pattern = false;
    let mut it = pattern.iter().copied();
    while let Some(c) = it.next() {
        if c != b'%' {
            out.push(c);
            continue;
        }
        let Some(spec) = it.next() else { break };
        match spec {
            b'%' => out.push(b'%'),
            b'p' | b'P' => {
                pid_in_pattern = true;
                push_num(&mut out, f.pid.into());
            }
            b'i' | b'I' => push_num(&mut out, f.tid.into()),
            b'u' => push_num(&mut out, f.uid.into()),
            b'g' => push_num(&mut out, f.gid.into()),
            b'd' => push_num(&mut out, f.dumpable.into()),
            b's' => push_num(&mut out, f.signal.into()),
            b't' => push_num(&mut out, f.time),
            b'c' => push_num(&mut out, f.core_limit),
            b'h' => push_escaped(&mut out, f.hostname),
            b'e' => push_escaped(&mut out, f.comm),
            b'f' => {
                let base = f.exe.rsplit(|&c| c == b'/').next().unwrap_or(f.exe);
                push_escaped(&mut out, base);
            }
            b'E' => push_escaped(&mut out, f.exe),
            _ => {}
        }
    }
    if !pid_in_pattern && uses_pid {
        out.push(b'.');
        push_num(&mut out, f.pid.into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn layout_has_elf_core_header_note_and_loads() {
        let desc = [1u8, 2, 3, 4, 5];
        let notes = [Note {
            kind: NT_AUXV,
            desc: &desc,
        }];
        let areas = [
            Area {
                start: 0x1000,
                memsz: 0x2000,
                filesz: 0x2000,
                flags: PF_R | PF_W,
            },
            Area {
                start: 0x10000,
                memsz: 0x1000,
                filesz: 0,
                flags: PF_R | PF_X,
            },
            Area {
                start: 0x20000,
                memsz: 0x1000,
                filesz: 0x1000,
                flags: PF_R,
            },
        ];
        let l = layout(&notes, &areas);
        let h = &l.header;
        assert_eq!(&h[..4], b"\x7fELF");
        assert_eq!(h[4], 2);
        assert_eq!(u16_at(h, 16), ET_CORE);
        assert_eq!(u16_at(h, 18), EM_X86_64);
        assert_eq!(u64_at(h, 32), 64);
        assert_eq!(u16_at(h, 56), 4);
        // PT_NOTE first, pointing just past the program headers.
        let notes_off = 64 + 4 * 56;
        assert_eq!(u32_at(h, 64), PT_NOTE);
        assert_eq!(u64_at(h, 64 + 8), notes_off as u64);
        assert_eq!(u64_at(h, 64 + 32), 12 + 8 + 8);
        assert_eq!(u32_at(h, notes_off), 5);
        assert_eq!(u32_at(h, notes_off + 4), 5);
        assert_eq!(u32_at(h, notes_off + 8), NT_AUXV);
        assert_eq!(&h[notes_off + 12..notes_off + 17], b"CORE\0");
        assert_eq!(&h[notes_off + 20..notes_off + 25], &desc);
        // Data from the next page, areas back to back, skipped ones taking none.
        assert_eq!(h.len(), 4096);
        assert_eq!(l.offsets, [4096, 4096 + 0x2000, 4096 + 0x2000]);
        assert_eq!(l.size, 4096 + 0x3000);
        let ph = 64 + 56;
        assert_eq!(u32_at(h, ph), PT_LOAD);
        assert_eq!(u32_at(h, ph + 4), PF_R | PF_W);
        assert_eq!(u64_at(h, ph + 8), 4096);
        assert_eq!(u64_at(h, ph + 16), 0x1000);
        assert_eq!(u64_at(h, ph + 32), 0x2000);
        assert_eq!(u64_at(h, ph + 40), 0x2000);
        assert_eq!(u64_at(h, ph + 56 + 32), 0);
        assert_eq!(u64_at(h, ph + 56 + 40), 0x1000);
    }

    #[test]
    fn prstatus_and_prpsinfo_have_linux_sizes_and_offsets() {
        let mut regs = [0u64; NGREG];
        regs[16] = 0x401000; // rip
        let s = PrStatus {
            signal: 6,
            pid: 42,
            ppid: 1,
            utime_us: 1_500_000,
            regs,
            ..PrStatus::default()
        }
        .to_bytes();
        assert_eq!(s.len(), PRSTATUS_SIZE);
        assert_eq!(u32_at(&s, 0), 6);
        assert_eq!(u16_at(&s, 12), 6);
        assert_eq!(u32_at(&s, 32), 42);
        assert_eq!(u32_at(&s, 36), 1);
        assert_eq!(u64_at(&s, 48), 1);
        assert_eq!(u64_at(&s, 56), 500_000);
        assert_eq!(u64_at(&s, 112 + 16 * 8), 0x401000);
        let p = PrPsInfo {
            pid: 42,
            fname: b"sleep",
            args: b"sleep\x0010\0",
            ..PrPsInfo::default()
        }
        .to_bytes();
        assert_eq!(p.len(), PRPSINFO_SIZE);
        assert_eq!(p[1], b'R');
        assert_eq!(u32_at(&p, 24), 42);
        assert_eq!(&p[40..46], b"sleep\0");
        assert_eq!(&p[56..65], b"sleep 10\0");
    }

    #[test]
    fn pattern_expands_specifiers() {
        let f = PatternFields {
            pid: 123,
            tid: 124,
            uid: 1000,
            gid: 100,
            signal: 11,
            time: 1_700_000_000,
            hostname: b"kestrel",
            comm: b"a/b",
            exe: b"/usr/bin/prog",
            core_limit: 4096,
            dumpable: 1,
        };
        assert_eq!(expand_pattern(b"core", &f, false), b"core");
        assert_eq!(expand_pattern(b"core", &f, true), b"core.123");
        assert_eq!(expand_pattern(b"/tmp/dump-%p", &f, true), b"/tmp/dump-123");
        assert_eq!(
            expand_pattern(b"%e.%i.%u.%g.%s.%t.%h.%c.%d%%", &f, false),
            b"a!b.124.1000.100.11.1700000000.kestrel.4096.1%"
        );
        assert_eq!(expand_pattern(b"%E|%f", &f, false), b"!usr!bin!prog|prog");
        // Unknown specifiers and a trailing '%' vanish.
        assert_eq!(expand_pattern(b"c%z%", &f, false), b"c");
        // A pipe is left for the caller.
        assert_eq!(expand_pattern(b"|/bin/x %p", &f, true), b"|/bin/x %p");
    }
}
