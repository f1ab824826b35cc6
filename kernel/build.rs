//! Links the kernel with its own linker script (absolute path, so it does not depend
//! on the directory cargo runs the linker from), and with the hot functions first.
//!
//! `hot-text.txt` (made by `cargo xtask hot-text`) names the functions the common
//! system calls and hand-offs run; lld places them, in that order, at the start of
//! the linker script's `*(.text .text.*)` (rustc puts every function in a section
//! of its own), so that a round trip touches few code pages: under TCG every page
//! touched after an address-space switch costs QEMU a TLB fill
//! (docs/hot-paths.md, "Hot code on few pages"). Names the build does not have (a
//! debug build's, or a function since renamed or inlined) are skipped silently.
use std::path::Path;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target == "x86_64-unknown-none" {
        println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg-bins=--no-relax");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
        let order = Path::new(&dir).join("hot-text.txt");
        if order.exists() {
            println!(
                "cargo:rustc-link-arg-bins=--symbol-ordering-file={}",
                order.display()
            );
            println!("cargo:rustc-link-arg-bins=--no-warn-symbol-ordering");
        }
    }
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=hot-text.txt");
    println!("cargo:rerun-if-changed=build.rs");
}
