//! A tiny ELF64 writer for the tests: a header, a program header table, and bytes
//! placed at chosen offsets. Every field can be set to something broken.

use crate::elf::{EM_X86_64, ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD};

/// One program header.
#[derive(Debug, Clone, Copy)]
pub struct Ph {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

impl Ph {
    pub fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Self {
        Self {
            p_type: PT_LOAD,
            flags,
            offset,
            vaddr,
            filesz,
            memsz,
            align: 0x1000,
        }
    }

    pub fn other(p_type: u32, flags: u32) -> Self {
        Self {
            p_type,
            flags,
            offset: 0,
            vaddr: 0,
            filesz: 0,
            memsz: 0,
            align: 0,
        }
    }
}

/// An ELF file under construction.
#[derive(Debug, Clone)]
pub struct Writer {
    pub ident: [u8; 16],
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phentsize: u16,
    /// Overrides `phdrs.len()` in the header.
    pub phnum: Option<u16>,
    pub phdrs: Vec<Ph>,
    pub len: usize,
    pub blobs: Vec<(usize, Vec<u8>)>,
}

pub const BASE: u64 = 0x40_0000;

impl Writer {
    /// A static ET_EXEC laid out like a real one: a read-only segment holding the
    /// headers, text, and data + bss, then PT_GNU_STACK.
    pub fn static_exec() -> Self {
        Self::laid_out(ET_EXEC, BASE)
    }

    /// The same at link address 0 as ET_DYN: a static-pie.
    pub fn static_pie() -> Self {
        Self::laid_out(ET_DYN, 0)
    }

    fn laid_out(e_type: u16, base: u64) -> Self {
        let mut ident = [0u8; 16];
        ident[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        Self {
            ident,
            e_type,
            machine: EM_X86_64,
            entry: base + 0x1000,
            phoff: 64,
            phentsize: 56,
            phnum: None,
            phdrs: vec![
                Ph::load(PF_R, 0, base, 0x200, 0x200),
                Ph::load(PF_R | PF_X, 0x1000, base + 0x1000, 0x100, 0x100),
                Ph::load(PF_R | PF_W, 0x2010, base + 0x3010, 0x20, 0x3000),
                Ph::other(PT_GNU_STACK, PF_R | PF_W),
            ],
            len: 0x2030,
            blobs: vec![(0x1000, vec![0xcc; 0x100])],
        }
    }

    /// Adds a PT_INTERP whose bytes (NUL included if wanted) sit at `offset`.
    pub fn interp(mut self, offset: usize, bytes: &[u8]) -> Self {
        self.phdrs.push(Ph {
            p_type: PT_INTERP,
            flags: PF_R,
            offset: offset as u64,
            vaddr: offset as u64,
            filesz: bytes.len() as u64,
            memsz: bytes.len() as u64,
            align: 1,
        });
        self.blobs.push((offset, bytes.to_vec()));
        self.len = self.len.max(offset + bytes.len());
        self
    }

    /// The file: at least `len` bytes, longer if the table or a blob reaches further.
    pub fn build(&self) -> Vec<u8> {
        let phnum = self.phnum.unwrap_or(self.phdrs.len() as u16);
        let table_end = self.phoff as usize + 56 * self.phdrs.len();
        let mut f = vec![0u8; self.len.max(64)];
        f[..16].copy_from_slice(&self.ident);
        f[16..18].copy_from_slice(&self.e_type.to_le_bytes());
        f[18..20].copy_from_slice(&self.machine.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&self.entry.to_le_bytes());
        f[32..40].copy_from_slice(&self.phoff.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&self.phentsize.to_le_bytes());
        f[56..58].copy_from_slice(&phnum.to_le_bytes());
        if table_end > f.len() {
            f.resize(table_end, 0);
        }
        for (i, ph) in self.phdrs.iter().enumerate() {
            let p = &mut f[self.phoff as usize + 56 * i..][..56];
            p[0..4].copy_from_slice(&ph.p_type.to_le_bytes());
            p[4..8].copy_from_slice(&ph.flags.to_le_bytes());
            p[8..16].copy_from_slice(&ph.offset.to_le_bytes());
            p[16..24].copy_from_slice(&ph.vaddr.to_le_bytes());
            p[24..32].copy_from_slice(&ph.vaddr.to_le_bytes());
            p[32..40].copy_from_slice(&ph.filesz.to_le_bytes());
            p[40..48].copy_from_slice(&ph.memsz.to_le_bytes());
            p[48..56].copy_from_slice(&ph.align.to_le_bytes());
        }
        for (off, bytes) in &self.blobs {
            if off + bytes.len() > f.len() {
                f.resize(off + bytes.len(), 0);
            }
            f[*off..off + bytes.len()].copy_from_slice(bytes);
        }
        f
    }
}

/// `build()` then cut the file to `len` bytes.
pub fn truncated(w: &Writer, len: usize) -> Vec<u8> {
    let mut f = w.build();
    f.truncate(len);
    f
}
