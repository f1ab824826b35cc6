//! Leaving QEMU with a status, through the `isa-debug-exit` device.
//!
//! QEMU exits with `(value << 1) | 1` for a value written to port 0xf4, so an exit
//! code of 0 cannot be produced this way; xtask maps these codes back (see
//! xtask's `qemu` module) and prints what each means.

use super::port::outl;

/// Values written to isa-debug-exit. QEMU's exit status is `(value << 1) | 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Clean power-off, or every in-kernel test passed (QEMU exits 33).
    Success = 0x10,
    /// A test failed, or boot stopped on a clear error such as too little memory
    /// (QEMU exits 35).
    Failure = 0x11,
    /// Kernel panic or an unhandled CPU exception (QEMU exits 37).
    Panic = 0x12,
}

/// Exits QEMU. On a machine without isa-debug-exit, halts.
pub fn exit(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is the isa-debug-exit device in every QEMU configuration
    // xtask starts; on other machines the write is ignored and we halt below.
    unsafe { outl(0xf4, code as u32) };
    super::cpu::halt_forever()
}
