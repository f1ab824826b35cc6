//! Host tools Kestrel needs, and installing them; the kernel's Rust target.

use std::path::Path;
use std::process::Command;

/// (command or file that must exist, Debian package providing it)
const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("/usr/share/qemu/qboot.rom", "qemu-system-x86"),
    ("grub-mkrescue", "grub-common"),
    ("/usr/lib/grub/i386-pc/modinfo.sh", "grub-pc-bin"),
    ("xorriso", "xorriso"),
    ("mformat", "mtools"),
    ("musl-gcc", "musl-tools"),
    ("mke2fs", "e2fsprogs"),
    ("/bin/busybox", "busybox-static"),
    ("strace", "strace"),
    ("nm", "binutils"),
];

fn present(what: &str) -> bool {
    if what.starts_with('/') {
        return Path::new(what).exists();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(what).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// The target the kernel and the vDSO are built for.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// Whether `rustup target list --installed` output lists `target`.
fn target_listed(installed: &str, target: &str) -> bool {
    installed.lines().any(|l| l.trim() == target)
}

/// Adds the kernel's target to the toolchain with rustup when it lacks it.
/// rust-toolchain.toml names the target, but rustup only installs it with the
/// toolchain: a machine that already had the pinned toolchain (installed for
/// another project, or before the target was listed) has it without the target,
/// and the kernel build would fail with "can't find crate for `core`". Without
/// rustup (a distribution's Rust) there is nothing to do here.
pub fn ensure_target() -> Result<(), String> {
    let root = crate::build::root();
    let Ok(out) = Command::new("rustup")
        .current_dir(&root)
        .args(["target", "list", "--installed"])
        .output()
    else {
        return Ok(());
    };
    if !out.status.success() || target_listed(&String::from_utf8_lossy(&out.stdout), KERNEL_TARGET)
    {
        return Ok(());
    }
    println!(
        "xtask: the Rust toolchain lacks the {KERNEL_TARGET} target; \
         running rustup target add {KERNEL_TARGET}"
    );
    crate::build::run(Command::new("rustup").current_dir(&root).args([
        "target",
        "add",
        KERNEL_TARGET,
    ]))
}

/// Makes sure the kernel's Rust target and every host tool exist: installs the
/// missing packages with apt-get when running as root, otherwise fails with the
/// command to run.
pub fn ensure() -> Result<(), String> {
    ensure_target()?;
    ensure_tools(TOOLS)
}

/// What `cargo xtask fuzz` needs on top: Debian's system call fuzzer.
pub const FUZZ_TOOLS: &[(&str, &str)] = &[("trinity", "trinity")];

/// Makes sure the host tools in `tools` (command or file, Debian package) exist:
/// installs the missing packages with apt-get when running as root, otherwise fails
/// with the command to run.
pub fn ensure_tools(tools: &[(&str, &str)]) -> Result<(), String> {
    let mut missing: Vec<&str> = tools
        .iter()
        .filter(|(t, _)| !present(t))
        .map(|(_, p)| *p)
        .collect();
    missing.sort();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !(is_root() && present("apt-get")) {
        return Err(format!(
            "missing host packages: {list}\n  install them with: sudo apt-get install -y {list}"
        ));
    }
    println!("xtask: installing missing host packages with apt-get: {list}");
    let install = |update: bool| -> bool {
        if update {
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        }
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !install(false) && !install(true) {
        return Err(format!("apt-get could not install: {list}"));
    }
    let still: Vec<&str> = tools
        .iter()
        .filter(|(t, _)| !present(t))
        .map(|(t, _)| *t)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("still missing after install: {}", still.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_target_is_found_only_when_listed() {
        let listed = "x86_64-unknown-linux-gnu\nx86_64-unknown-none\n";
        assert!(target_listed(listed, KERNEL_TARGET));
        assert!(!target_listed("x86_64-unknown-linux-gnu\n", KERNEL_TARGET));
        assert!(!target_listed("", KERNEL_TARGET));
        assert!(!target_listed(
            "x86_64-unknown-none-softfloat\n",
            KERNEL_TARGET
        ));
    }

    #[test]
    fn rust_toolchain_toml_names_the_kernel_target() {
        let toml =
            std::fs::read_to_string(crate::build::root().join("rust-toolchain.toml")).unwrap();
        assert!(toml.contains(&format!("\"{KERNEL_TARGET}\"")), "{toml}");
    }
}
