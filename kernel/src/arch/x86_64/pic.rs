//! The legacy 8259 PICs: remapped away from the exception vectors, then masked for
//! good (the I/O APIC delivers device interrupts).

use super::port::outb;

/// Remaps both PICs to vectors 0x20..0x2f (so a stray interrupt cannot look like a CPU
/// exception) and masks every line.
pub fn disable() {
    // SAFETY: the standard ICW1-ICW4 initialisation sequence on the PICs' fixed ports,
    // followed by masking all lines. Nothing else in Kestrel uses the PICs.
    unsafe {
        outb(0x20, 0x11);
        outb(0xa0, 0x11);
        outb(0x21, 0x20);
        outb(0xa1, 0x28);
        outb(0x21, 0x04);
        outb(0xa1, 0x02);
        outb(0x21, 0x01);
        outb(0xa1, 0x01);
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
    }
}
