//! The auxiliary vector: what the kernel tells a new program (and its dynamic linker)
//! besides argv and envp.
//!
//! [`AuxValues`] holds the values; [`AuxValues::entries`] lays them out in the exact
//! order of Linux's `create_elf_tables` (fs/binfmt_elf.c), with x86-64's `ARCH_DLINFO`
//! first, and the three pointers into the stack (`AT_RANDOM`, `AT_EXECFN`,
//! `AT_PLATFORM`) that only [`build_stack`](crate::build_stack) can know:
//!
//! `AT_SYSINFO_EHDR`?, `AT_MINSIGSTKSZ`?, `AT_HWCAP`, `AT_PAGESZ`, `AT_CLKTCK`,
//! `AT_PHDR`, `AT_PHENT`, `AT_PHNUM`, `AT_BASE`, `AT_FLAGS`, `AT_ENTRY`, `AT_UID`,
//! `AT_EUID`, `AT_GID`, `AT_EGID`, `AT_SECURE`, `AT_RANDOM`, `AT_HWCAP2`?,
//! `AT_EXECFN`, `AT_PLATFORM`?, extra entries, `AT_NULL`.

use alloc::vec::Vec;

use kestrel_abi::process::{
    AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS, AT_GID, AT_HWCAP,
    AT_HWCAP2, AT_MINSIGSTKSZ, AT_NULL, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PLATFORM,
    AT_RANDOM, AT_SECURE, AT_SYSINFO_EHDR, AT_UID,
};

use crate::layout::Layout;
use crate::limits::{PAGE_SIZE, PHDR_SIZE, PLATFORM};

/// Values for the auxiliary vector, minus the stack pointers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuxValues {
    /// `AT_SYSINFO_EHDR`: the vDSO's ELF header, if one is mapped.
    pub sysinfo_ehdr: Option<u64>,
    /// `AT_MINSIGSTKSZ`: the signal frame size (Linux always sends it on x86-64).
    pub minsigstksz: Option<u64>,
    /// `AT_HWCAP`: CPUID leaf 1 EDX on x86.
    pub hwcap: u64,
    /// `AT_PAGESZ`.
    pub pagesz: u64,
    /// `AT_CLKTCK`: `USER_HZ`, 100.
    pub clktck: u64,
    /// `AT_PHDR`: the program's headers in memory.
    pub phdr: u64,
    /// `AT_PHENT`: 56.
    pub phent: u64,
    /// `AT_PHNUM`.
    pub phnum: u64,
    /// `AT_BASE`: the interpreter's load bias, 0 without one.
    pub base: u64,
    /// `AT_FLAGS`: 0 (only binfmt_misc sets `AT_FLAGS_PRESERVE_ARGV0`).
    pub flags: u64,
    /// `AT_ENTRY`: the program's entry point (not the interpreter's).
    pub entry: u64,
    /// `AT_UID`.
    pub uid: u64,
    /// `AT_EUID`.
    pub euid: u64,
    /// `AT_GID`.
    pub gid: u64,
    /// `AT_EGID`.
    pub egid: u64,
    /// `AT_SECURE`: 1 for a set-id exec.
    pub secure: u64,
    /// `AT_HWCAP2` (x86 always defines `ELF_HWCAP2`).
    pub hwcap2: Option<u64>,
    /// The `AT_PLATFORM` string, copied onto the stack; `None` omits the entry.
    pub platform: Option<&'static [u8]>,
    /// Further `(key, value)` entries placed before `AT_NULL` (Linux puts
    /// `AT_RSEQ_FEATURE_SIZE` and `AT_RSEQ_ALIGN` there).
    pub extra: Vec<(u64, u64)>,
}

impl AuxValues {
    /// The values for a program at `program`, started through `interp` if it has one;
    /// credentials 0, no vDSO, no hardware capabilities: the kernel fills in those.
    pub fn new(program: &Layout, interp: Option<&Layout>) -> Self {
        Self {
            sysinfo_ehdr: None,
            minsigstksz: None,
            hwcap: 0,
            pagesz: PAGE_SIZE,
            clktck: 100,
            phdr: program.phdr,
            phent: PHDR_SIZE as u64,
            phnum: program.phnum as u64,
            base: interp.map_or(0, |l| l.bias),
            flags: 0,
            entry: program.entry,
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
            secure: 0,
            hwcap2: Some(0),
            platform: Some(PLATFORM),
            extra: Vec::new(),
        }
    }

    /// The vector in Linux's order, `AT_NULL` included, given where the stack holds
    /// the random bytes, the exec file name and the platform string.
    pub fn entries(&self, random: u64, execfn: u64, platform: Option<u64>) -> Vec<(u64, u64)> {
        let mut v = Vec::with_capacity(24 + self.extra.len());
        if let Some(ehdr) = self.sysinfo_ehdr {
            v.push((AT_SYSINFO_EHDR, ehdr));
        }
        if let Some(sz) = self.minsigstksz {
            v.push((AT_MINSIGSTKSZ, sz));
        }
        v.extend([
            (AT_HWCAP, self.hwcap),
            (AT_PAGESZ, self.pagesz),
            (AT_CLKTCK, self.clktck),
            (AT_PHDR, self.phdr),
            (AT_PHENT, self.phent),
            (AT_PHNUM, self.phnum),
            (AT_BASE, self.base),
            (AT_FLAGS, self.flags),
            (AT_ENTRY, self.entry),
            (AT_UID, self.uid),
            (AT_EUID, self.euid),
            (AT_GID, self.gid),
            (AT_EGID, self.egid),
            (AT_SECURE, self.secure),
            (AT_RANDOM, random),
        ]);
        if let Some(h) = self.hwcap2 {
            v.push((AT_HWCAP2, h));
        }
        v.push((AT_EXECFN, execfn));
        if let Some(p) = platform {
            v.push((AT_PLATFORM, p));
        }
        v.extend(self.extra.iter().copied());
        v.push((AT_NULL, 0));
        v
    }
}
