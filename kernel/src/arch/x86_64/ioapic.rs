//! The I/O APIC: routes device interrupt lines (GSIs) to vectors on a CPU.

use core::sync::atomic::{AtomicU64, Ordering};

/// Virtual address of the I/O APIC registers (0 before `init`).
static BASE: AtomicU64 = AtomicU64::new(0);

const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const REG_VER: u32 = 0x01;
const REDIR_BASE: u32 = 0x10;
const MASKED: u64 = 1 << 16;

fn read(reg: u32) -> u32 {
    let base = BASE.load(Ordering::Relaxed) as usize;
    // SAFETY: `base` maps the I/O APIC uncached (init); IOREGSEL/IOWIN is its protocol.
    unsafe {
        core::ptr::write_volatile((base + IOREGSEL) as *mut u32, reg);
        core::ptr::read_volatile((base + IOWIN) as *const u32)
    }
}

fn write(reg: u32, v: u32) {
    let base = BASE.load(Ordering::Relaxed) as usize;
    // SAFETY: as in `read`.
    unsafe {
        core::ptr::write_volatile((base + IOREGSEL) as *mut u32, reg);
        core::ptr::write_volatile((base + IOWIN) as *mut u32, v);
    }
}

/// Takes over the I/O APIC mapped at `virt` and masks every line.
pub fn init(virt: u64) -> u32 {
    BASE.store(virt, Ordering::Relaxed);
    let lines = ((read(REG_VER) >> 16) & 0xff) + 1;
    for i in 0..lines {
        write(REDIR_BASE + 2 * i, MASKED as u32);
        write(REDIR_BASE + 2 * i + 1, 0);
    }
    lines
}

/// Routes `gsi` to `vector` on the CPU with APIC id `dest`, fixed delivery.
/// `active_low` and `level` give the line's polarity and trigger mode (ISA lines are
/// active-high, edge-triggered unless ACPI says otherwise).
pub fn route(gsi: u32, vector: u8, dest: u32, active_low: bool, level: bool) {
    let mut low = u64::from(vector);
    if active_low {
        low |= 1 << 13;
    }
    if level {
        low |= 1 << 15;
    }
    write(REDIR_BASE + 2 * gsi + 1, dest << 24);
    write(REDIR_BASE + 2 * gsi, low as u32);
}
