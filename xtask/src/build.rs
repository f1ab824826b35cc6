//! Building the kernel, its symbol table, and the GRUB ISO.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Opts;

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Where xtask puts what it makes.
pub fn out_dir() -> PathBuf {
    root().join("target").join("kestrel")
}

/// Runs a command, failing with its name if it cannot start or exits non-zero.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed ({status})", cmd.get_program()))
    }
}

/// Built artefacts.
#[derive(Debug, Clone)]
pub struct Artefacts {
    pub kernel: PathBuf,
    pub symbols: PathBuf,
    /// The vDSO image (`linux-vdso.so.1`).
    pub vdso: PathBuf,
    /// The initramfs, if this boot runs user programs.
    pub initramfs: Option<PathBuf>,
}

/// Builds the kernel ELF for `x86_64-unknown-none`.
pub fn kernel(opts: &Opts) -> Result<PathBuf, String> {
    println!(
        "xtask: building the kernel ({})",
        if opts.release { "release" } else { "debug" }
    );
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root())
        .args([
            "build",
            "--package",
            "kestrel-kernel",
            "--target",
            "x86_64-unknown-none",
        ])
        // RUSTFLAGS would replace .cargo/config.toml's target rustflags wholesale.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if opts.release {
        cmd.arg("--release");
    }
    run(&mut cmd)?;
    let profile = if opts.release { "release" } else { "debug" };
    Ok(root()
        .join("target/x86_64-unknown-none")
        .join(profile)
        .join("kestrel"))
}

/// Writes the kernel's function symbols (`nm -n -C`, text symbols only) for the
/// in-kernel backtrace.
pub fn symbols(kernel: &Path) -> Result<PathBuf, String> {
    let text: String = nm(kernel, &["-n", "-C", "--defined-only"])?
        .lines()
        .filter(|l| matches!(l.split(' ').nth(1), Some("T" | "t" | "W" | "w")))
        .map(|l| format!("{l}\n"))
        .collect();
    // One table per kernel build: a release and a debug kernel must never share one.
    let profile = kernel
        .parent()
        .and_then(|p| p.file_name())
        .map_or("kernel".into(), |n| n.to_string_lossy().into_owned());
    let path = out_dir().join(format!("kestrel-{profile}.sym"));
    fs::create_dir_all(out_dir()).map_err(|e| e.to_string())?;
    fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

/// What `nm ARGS path` prints (the kernel's symbols, a program's), or why it
/// could not be run.
pub fn nm(path: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("nm")
        .args(args)
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run nm: {e}"))?;
    if !out.status.success() {
        return Err(format!("nm failed on {}", path.display()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds everything a boot needs.
pub fn build_all(opts: &Opts) -> Result<Artefacts, String> {
    crate::deps::ensure()?;
    let kernel = kernel(opts)?;
    let symbols = symbols(&kernel)?;
    let vdso = crate::vdso::build()?;
    Ok(Artefacts {
        kernel,
        symbols,
        vdso,
        initramfs: None,
    })
}

/// Makes a BIOS-bootable GRUB ISO that boots the kernel with multiboot2 and passes
/// `cmdline` and the modules.
pub fn iso(a: &Artefacts, cmdline: &str) -> Result<PathBuf, String> {
    let dir = out_dir().join("iso");
    let boot = dir.join("boot");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(boot.join("grub")).map_err(|e| e.to_string())?;
    fs::copy(&a.kernel, boot.join("kestrel")).map_err(|e| e.to_string())?;
    fs::copy(&a.symbols, boot.join("kestrel.sym")).map_err(|e| e.to_string())?;
    fs::copy(&a.vdso, boot.join("vdso.so")).map_err(|e| e.to_string())?;
    let initrd = match &a.initramfs {
        Some(p) => {
            fs::copy(p, boot.join("initramfs.cpio")).map_err(|e| e.to_string())?;
            "  module2 /boot/initramfs.cpio initramfs\n"
        }
        None => "",
    };
    let cfg = format!(
        "set timeout=0\nset default=0\nserial --unit=0 --speed=115200\nterminal_input serial\n\
         terminal_output serial\nmenuentry \"Kestrel\" {{\n  multiboot2 /boot/kestrel {cmdline}\n  \
         module2 /boot/kestrel.sym symbols\n  module2 /boot/vdso.so vdso\n{initrd}  boot\n}}\n"
    );
    fs::write(boot.join("grub/grub.cfg"), cfg).map_err(|e| e.to_string())?;
    let iso = out_dir().join("kestrel.iso");
    let out = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(&iso)
        .arg(&dir)
        .output()
        .map_err(|e| format!("cannot run grub-mkrescue: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "grub-mkrescue failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(iso)
}
