//! x86 I/O port access.

use core::arch::asm;

use kestrel_driver_kit::pci::{ConfigSpace, PciAddress};

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

/// Reads 16 bits from an I/O port.
///
/// # Safety
/// As [`inb`].
#[inline]
pub unsafe fn inw(port: u16) -> u16 {
    let v: u16;
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("in ax, dx", in("dx") port, out("ax") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Reads 32 bits from an I/O port.
///
/// # Safety
/// As [`inb`].
#[inline]
pub unsafe fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Writes 16 bits to an I/O port.
///
/// # Safety
/// The caller must own the device behind `port`.
#[inline]
pub unsafe fn outw(port: u16, v: u16) {
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") v, options(nomem, nostack, preserves_flags))
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

/// Configuration mechanism #1: an address written to port 0xcf8, the dword read
/// or written at 0xcfc. Segment 0 and the first 256 bytes only.
pub struct PciConfigPorts {
    lock: spin::Mutex<()>,
}

impl PciConfigPorts {
    pub const fn new() -> Self {
        Self {
            lock: spin::Mutex::new(()),
        }
    }

    fn address(at: PciAddress, offset: u16) -> Option<u32> {
        (at.segment == 0 && offset < 256).then(|| {
            0x8000_0000
                | u32::from(at.bus) << 16
                | u32::from(at.device & 31) << 11
                | u32::from(at.function & 7) << 8
                | u32::from(offset & 0xfc)
        })
    }
}

impl ConfigSpace for PciConfigPorts {
    fn read32(&self, at: PciAddress, offset: u16) -> u32 {
        let Some(a) = Self::address(at, offset) else {
            return !0;
        };
        let _g = self.lock.lock();
        // SAFETY: ports 0xcf8/0xcfc are the PCI configuration mechanism, which the
        // kernel owns; the lock keeps the address/data pair together.
        unsafe {
            outl(0xcf8, a);
            inl(0xcfc)
        }
    }
    fn write32(&self, at: PciAddress, offset: u16, value: u32) {
        let Some(a) = Self::address(at, offset) else {
            return;
        };
        let _g = self.lock.lock();
        // SAFETY: as for the read.
        unsafe {
            outl(0xcf8, a);
            outl(0xcfc, value);
        }
    }
}
