//! The multiboot1 information structure (Multiboot Specification 0.6.96, section 3.3),
//! read by hand: it is small and fixed.

use super::{BootInfo, MemKind, Protocol};
use crate::mm::phys_to_virt;

const FLAG_CMDLINE: u32 = 1 << 2;
const FLAG_MODS: u32 = 1 << 3;
const FLAG_MMAP: u32 = 1 << 6;
const FLAG_LOADER_NAME: u32 = 1 << 9;
const FLAG_MEM: u32 = 1 << 0;

fn read<T: Copy>(phys: u64) -> T {
    // SAFETY: the loader's structures lie below 4 GiB, which the boot page tables map
    // at the direct-map offset; reads are unaligned-safe.
    unsafe { core::ptr::read_unaligned(phys_to_virt(phys) as *const T) }
}

/// A NUL-terminated string at a physical address (at most `max` bytes).
fn c_str(phys: u64, max: usize) -> &'static [u8] {
    let base = phys_to_virt(phys) as *const u8;
    let mut len = 0;
    // SAFETY: as in `read`; the loader NUL-terminates its strings.
    unsafe {
        while len < max && *base.add(len) != 0 {
            len += 1;
        }
        core::slice::from_raw_parts(base, len)
    }
}

pub(super) fn parse(info: u64) -> BootInfo {
    let mut b = BootInfo::new(Protocol::Multiboot1);
    let flags: u32 = read(info);
    if flags & FLAG_CMDLINE != 0 {
        // Multiboot1 loaders (QEMU, GRUB legacy) put the kernel's path first.
        let line = c_str(u64::from(read::<u32>(info + 16)), 4096);
        let first_end = line.iter().position(|&c| c == b' ').unwrap_or(line.len());
        let first = &line[..first_end];
        let line = if first.contains(&b'/') && !first.contains(&b'=') {
            &line[(first_end + 1).min(line.len())..]
        } else {
            line
        };
        b.set_cmdline(line);
    }
    if flags & FLAG_LOADER_NAME != 0 {
        b.set_loader(c_str(u64::from(read::<u32>(info + 64)), 64));
    }
    if flags & FLAG_MODS != 0 {
        let count: u32 = read(info + 20);
        let addr = u64::from(read::<u32>(info + 24));
        for i in 0..u64::from(count.min(16)) {
            let m = addr + i * 16;
            // As long as a command line: the name is its last word, after the path.
            let name = c_str(u64::from(read::<u32>(m + 8)), 4096);
            b.add_module(
                u64::from(read::<u32>(m)),
                u64::from(read::<u32>(m + 4)),
                name,
            );
        }
    }
    if flags & FLAG_MMAP != 0 {
        let len = u64::from(read::<u32>(info + 44));
        let addr = u64::from(read::<u32>(info + 48));
        let mut at = addr;
        while at + 24 <= addr + len {
            let size: u32 = read(at);
            b.add_region(
                read(at + 4),
                read(at + 12),
                MemKind::from_e820(read(at + 20)),
            );
            at += u64::from(size) + 4;
        }
    } else if flags & FLAG_MEM != 0 {
        // No map: mem_upper KiB of usable memory from 1 MiB.
        let upper_kib = u64::from(read::<u32>(info + 8));
        b.add_region(1 << 20, upper_kib * 1024, MemKind::Usable);
    }
    b
}
