//! Powering off.
//!
//! When init (pid 1) exits, Linux panics ("Attempted to kill init!"). Kestrel, a
//! kernel for experiments in a virtual machine, powers off instead and reports init's
//! wait status, so `cargo xtask run --cmd` can exit with the command's status.

use kestrel_abi::process::{wstatus_exited, wstatus_signaled};

use crate::arch::qemu::{self, ExitCode};

/// The line xtask looks for to learn init's exit status.
pub const EXIT_MARKER: &str = "kestrel: init exited with status";

/// Init exited with wait status `wstatus`: report it and leave QEMU.
pub fn init_exited(wstatus: u32) -> ! {
    let (code, how) = if wstatus & 0x7f == 0 {
        (((wstatus >> 8) & 0xff) as u8, "")
    } else {
        let sig = wstatus & 0x7f;
        (
            128u8.wrapping_add(sig as u8),
            kestrel_abi::signal::name(sig),
        )
    };
    debug_assert!(
        wstatus == wstatus_exited(code)
            || wstatus == wstatus_signaled(wstatus & 0x7f, false)
            || wstatus & 0x80 != 0
    );
    crate::profile::dump();
    crate::trace::dump();
    if how.is_empty() {
        crate::println!("\n{EXIT_MARKER} {code}");
    } else {
        crate::println!("\n{EXIT_MARKER} {code} (killed by {how})");
    }
    qemu::exit(if code == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}
