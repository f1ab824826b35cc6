//! In-kernel tests: code that can only be tested on the machine (page tables, traps,
//! the timer), run by `cargo xtask test` in a boot with `kestrel.test`.
//!
//! A test is an async block returning `Result<(), String>`, registered with
//! [`ktest!`](crate::ktest) next to the code it tests; the linker gathers them all in
//! the `.ktests` section. The runner prints `PASS kernel::<name>` or
//! `FAIL kernel::<name>: <why>` per test and a closing `N passed, N failed` line,
//! then exits QEMU with the result.

use alloc::boxed::Box;
use alloc::string::String;
use core::future::Future;
use core::pin::Pin;

use crate::arch::qemu::{self, ExitCode};

/// A running test: resolves to `Err(why)` on failure.
pub type TestFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A registered test.
#[repr(C)]
pub struct KTest {
    pub name: &'static str,
    pub run: fn() -> TestFuture,
}

/// Registers an in-kernel test: `ktest!(name, async { ...; Ok(()) });`
///
/// The test is a static placed in the `.ktests` link section, which [`all`] reads
/// back as an array; placing it there is the only unsafe thing about it, and it
/// is vouched for here, where the section is defined and read.
#[macro_export]
macro_rules! ktest {
    ($name:ident, $body:expr) => {
        const _: () = {
            #[used]
            #[allow(unsafe_code)]
            #[unsafe(link_section = ".ktests")]
            static TEST: $crate::ktest::KTest = $crate::ktest::KTest {
                name: stringify!($name),
                run: || alloc::boxed::Box::pin($body),
            };
        };
    };
}

/// Fails the enclosing test with a formatted reason unless `cond` holds.
#[macro_export]
macro_rules! kcheck {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(alloc::format!($($why)+));
        }
    };
}

fn all() -> &'static [KTest] {
    // Linker-script symbols, not C objects: only their addresses are used.
    #[allow(improper_ctypes)]
    unsafe extern "C" {
        static __ktests_start: KTest;
        static __ktests_end: KTest;
    }
    // SAFETY: the linker script gathers every `.ktests` static (each a KTest, 8-byte
    // aligned, so they form an array) between these two symbols.
    unsafe {
        let start = &raw const __ktests_start;
        let end = &raw const __ktests_end;
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

/// Per-test time limit: generous, because the emulator may be slow.
const TEST_TIMEOUT_NS: u64 = 60_000_000_000;

/// Runs every test in order, reports, and exits QEMU with the result.
pub async fn run_all() -> ! {
    let only = crate::cmdline::options().test_only;
    let tests: alloc::vec::Vec<&KTest> = all()
        .iter()
        .filter(|t| only.is_none_or(|w| t.name.contains(w)))
        .collect();
    crate::println!("running {} in-kernel tests", tests.len());
    let (mut passed, mut failed) = (0, 0);
    for t in tests {
        match crate::task::timeout(TEST_TIMEOUT_NS, (t.run)()).await {
            Ok(Ok(())) => {
                passed += 1;
                crate::println!("PASS kernel::{}", t.name);
            }
            Ok(Err(why)) => {
                failed += 1;
                crate::println!("FAIL kernel::{}: {}", t.name, why);
            }
            Err(_) => {
                failed += 1;
                crate::println!("FAIL kernel::{}: timed out", t.name);
            }
        }
    }
    crate::println!("{} passed, {} failed", passed, failed);
    qemu::exit(if failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}
