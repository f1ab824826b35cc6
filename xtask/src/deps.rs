//! Host tools Kestrel needs, and installing them.

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

/// Makes sure every host tool exists: installs the missing packages with apt-get when
/// running as root, otherwise fails with the command to run.
pub fn ensure() -> Result<(), String> {
    let mut missing: Vec<&str> = TOOLS
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
    let still: Vec<&str> = TOOLS
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
