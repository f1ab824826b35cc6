//! x86 I/O port access.

use core::arch::asm;

/// Reads a byte from an I/O port.
///
/// # Safety
/// Reading some device registers has side effects (it can acknowledge an interrupt
/// or pop a FIFO); the caller must own the device.
#[inline]
pub unsafe fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Writes a byte to an I/O port.
///
/// # Safety
/// The caller must own the device behind `port`.
#[inline]
pub unsafe fn outb(port: u16, v: u8) {
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags))
    };
}

/// Writes a 32-bit value to an I/O port.
///
/// # Safety
/// The caller must own the device behind `port`.
#[inline]
pub unsafe fn outl(port: u16, v: u32) {
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") v, options(nomem, nostack, preserves_flags))
    };
}

/// A UART's registers through port I/O, for the safe [`kestrel_uart16550`] driver.
#[derive(Debug, Clone, Copy)]
pub struct UartPorts {
    base: u16,
}

impl UartPorts {
    /// COM1, the serial console.
    pub const COM1: Self = Self { base: 0x3f8 };
}

impl kestrel_uart16550::PortIo for UartPorts {
    fn read(&self, offset: u16) -> u8 {
        // SAFETY: the kernel owns COM1 (the console); offsets are 0..=7.
        unsafe { inb(self.base + offset) }
    }
    fn write(&self, offset: u16, value: u8) {
        // SAFETY: as above.
        unsafe { outb(self.base + offset, value) }
    }
}
