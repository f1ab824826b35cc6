//! Building the vDSO (`kernel/vdso`): `image.rs` compiled by rustc into one
//! position-independent object for `x86_64-unknown-none`, then linked by the
//! toolchain's own `rust-lld` with `vdso.lds` (layout) and `vdso.ver` (exports at
//! version LINUX_2.6) into `linux-vdso.so.1`. The kernel gets it as the `vdso`
//! boot module. Nothing but the Rust toolchain is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build::{out_dir, root, run};

fn rustc_output(args: &[&str]) -> Result<String, String> {
    let out = Command::new("rustc")
        .current_dir(root())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !out.status.success() {
        return Err(format!("rustc {args:?} failed"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `rust-lld` that ships with the toolchain rust-toolchain.toml selects.
fn rust_lld() -> Result<PathBuf, String> {
    let sysroot = rustc_output(&["--print", "sysroot"])?;
    let version = rustc_output(&["-vV"])?;
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .ok_or("rustc -vV printed no host triple")?;
    let lld = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/rust-lld");
    if lld.exists() {
        Ok(lld)
    } else {
        Err(format!(
            "{} not found (the rustc component ships it)",
            lld.display()
        ))
    }
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    p.metadata().and_then(|m| m.modified()).ok()
}

/// Builds `linux-vdso.so.1` (only when a source changed) and returns its path.
pub fn build() -> Result<PathBuf, String> {
    let src = root().join("kernel/vdso");
    let inputs = ["src/image.rs", "src/data.rs", "vdso.lds", "vdso.ver"].map(|f| src.join(f));
    let dir = out_dir().join("vdso");
    let so = dir.join("linux-vdso.so.1");
    let newest = inputs.iter().filter_map(|p| modified(p)).max();
    if modified(&so).is_some_and(|built| newest.is_some_and(|n| built >= n)) {
        return Ok(so);
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let obj = dir.join("vdso.o");
    run(Command::new("rustc")
        .current_dir(root())
        .args([
            "--edition=2024",
            "--crate-type=lib",
            "--crate-name=kestrel_vdso_image",
            "--target=x86_64-unknown-none",
            "--emit=obj",
            "-Copt-level=2",
            "-Cpanic=abort",
            "-Crelocation-model=pic",
            "-Cdebuginfo=0",
            "-Cforce-unwind-tables=no",
        ])
        .arg("-o")
        .arg(&obj)
        .arg(&inputs[0]))?;
    run(Command::new(rust_lld()?)
        .args([
            "-flavor",
            "gnu",
            "-shared",
            "--hash-style=both",
            "-soname",
            "linux-vdso.so.1",
        ])
        .args([
            "-z",
            "max-page-size=4096",
            "-z",
            "noexecstack",
            "--no-undefined",
            "--build-id=none",
        ])
        // Nothing in the image may need relocating: no one relocates the vDSO.
        .args(["-Bsymbolic", "-z", "text"])
        .arg("--version-script")
        .arg(&inputs[3])
        .arg("-T")
        .arg(&inputs[2])
        .arg("-o")
        .arg(&so)
        .arg(&obj))?;
    println!("xtask: built the vDSO ({})", so.display());
    Ok(so)
}
