//! Starting QEMU: accelerator choice, boot paths, and what its exit status means.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::build::{self, Artefacts};
use crate::{Opts, initramfs};

/// QEMU's exit status for the kernel's isa-debug-exit codes (`(value << 1) | 1`).
pub const EXIT_SUCCESS: i32 = 33;
pub const EXIT_FAILURE: i32 = 35;
pub const EXIT_PANIC: i32 = 37;

/// The accelerator to use and why.
pub fn accelerator(opts: &Opts) -> (&'static str, String) {
    if opts.no_kvm {
        return ("tcg", "--no-kvm given".into());
    }
    let kvm = std::path::Path::new("/dev/kvm").exists();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let vmx = cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && (l.contains(" vmx") || l.contains(" svm")));
    match (kvm, vmx) {
        (true, true) => (
            "kvm",
            "/dev/kvm and hardware virtualisation (vmx/svm) present".into(),
        ),
        (true, false) => (
            "tcg",
            "/dev/kvm exists but the CPU has no vmx/svm: nested KVM would be far slower than TCG"
                .into(),
        ),
        _ => ("tcg", "no /dev/kvm".into()),
    }
}

/// How the machine boots.
#[derive(Debug, Clone)]
pub enum Boot {
    /// QEMU loads the kernel itself (multiboot1) with the qboot firmware: fast.
    Direct { cmdline: String },
    /// SeaBIOS boots a GRUB ISO, which loads the kernel with multiboot2.
    Grub { iso: PathBuf },
}

/// The QEMU command line for a boot.
pub fn command(opts: &Opts, a: &Artefacts, boot: &Boot) -> Command {
    let (accel, _) = accelerator(opts);
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-machine",
        "q35",
        "-accel",
        accel,
        "-cpu",
        if accel == "kvm" { "host" } else { "max" },
    ])
    .args(["-m", &opts.mem, "-smp", &opts.smp.to_string()]);
    if opts.icount && accel == "tcg" {
        // A virtual nanosecond per guest instruction (the TSC and the timers
        // follow the count): timings become instruction counts.
        cmd.args(["-icount", "shift=0"]);
    }
    cmd.args([
        "-no-reboot",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        // A hardware random source (virtio-rng, fed from the host's /dev/urandom).
        "-device",
        "virtio-rng-pci",
    ]);
    for (i, d) in opts.disks.iter().enumerate() {
        let mut drive = format!("file={},if=none,id=disk{i},format=raw", d.path.display());
        if d.read_only {
            drive.push_str(",readonly=on");
        }
        cmd.arg("-drive")
            .arg(drive)
            .arg("-device")
            .arg(format!("virtio-blk-pci,drive=disk{i}"));
    }
    match &opts.net {
        Some(net) => {
            let extra = net.strip_prefix("user").unwrap_or("");
            cmd.arg("-netdev")
                .arg(format!("user,id=net0{extra}"))
                .args(["-device", "virtio-net-pci,netdev=net0"]);
        }
        // No NIC unless asked (QEMU would add an e1000e nobody drives).
        None => {
            cmd.args(["-nic", "none"]);
        }
    }
    // Devices a driver author asked for (`--device edu`), last, so the usual
    // devices keep their PCI slots.
    for d in &opts.devices {
        cmd.arg("-device").arg(d);
    }
    match boot {
        Boot::Direct { cmdline } => {
            let mut modules = format!("{} symbols,{} vdso", a.symbols.display(), a.vdso.display());
            if let Some(initrd) = &a.initramfs {
                modules.push_str(&format!(",{} initramfs", initrd.display()));
            }
            cmd.args(["-bios", "/usr/share/qemu/qboot.rom", "-kernel"])
                .arg(&a.kernel)
                .arg("-initrd")
                .arg(modules)
                .arg("-append")
                .arg(cmdline);
        }
        Boot::Grub { iso } => {
            cmd.arg("-cdrom").arg(iso).args(["-boot", "d"]);
        }
    }
    cmd
}

/// The kernel command line for a boot with these options.
pub fn cmdline(opts: &Opts, extra: &str) -> String {
    [extra, opts.append.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe_exit(code: Option<i32>) -> (u8, &'static str) {
    match code {
        Some(EXIT_SUCCESS) => (0, "Kestrel powered off"),
        Some(EXIT_FAILURE) => (1, "Kestrel reported a failure"),
        Some(EXIT_PANIC) => (EXIT_PANIC as u8, "Kestrel panicked"),
        Some(0) => (0, "QEMU exited"),
        Some(c) => (
            c.clamp(1, 255) as u8,
            "QEMU exited with an unexpected status",
        ),
        None => (1, "QEMU was killed by a signal"),
    }
}

/// The line the kernel prints when init exits (kernel/src/power.rs).
pub const EXIT_MARKER: &str = "kestrel: init exited with status ";

/// `cargo xtask run`: an interactive boot with the serial console on this terminal,
/// or with `--cmd`, a boot that runs one command and exits with its status.
pub fn run(opts: &Opts) -> Result<u8, String> {
    if let Some(root) = &opts.root {
        return crate::rootfs::boot(opts, root);
    }
    // The packages of the real programs a --with names (redis, nginx, ...),
    // then a mistyped --with, are dealt with before anything is built.
    crate::apps::ensure_for_with(&opts.with)?;
    initramfs::check_with(&opts.with)?;
    let mut a = build::build_all(opts)?;
    let mut tree = initramfs::base()?;
    initramfs::add_with(&mut tree, &opts.with)?;
    if let Some(cmd) = &opts.cmd {
        initramfs::add_cmd(&mut tree, cmd);
        a.initramfs = Some(initramfs::write(&tree, "initramfs-cmd.cpio")?);
        return run_cmd(opts, &a, &cmdline(opts, "quiet"));
    }
    a.initramfs = Some(initramfs::write(&tree, "initramfs.cpio")?);
    interactive(opts, &a, &cmdline(opts, ""))
}

/// Boots with the serial console on this terminal until QEMU exits.
pub fn interactive(opts: &Opts, a: &Artefacts, line: &str) -> Result<u8, String> {
    let (accel, why) = accelerator(opts);
    let boot = if opts.direct {
        Boot::Direct {
            cmdline: line.to_string(),
        }
    } else {
        println!("xtask: making the GRUB ISO");
        Boot::Grub {
            iso: build::iso(a, line)?,
        }
    };
    println!("xtask: accelerator: {accel} ({why})");
    println!(
        "xtask: booting Kestrel ({}); quit with Ctrl-A X",
        if opts.direct {
            "qemu -kernel"
        } else {
            "GRUB ISO"
        }
    );
    let mut cmd = command(opts, a, &boot);
    cmd.arg("-nographic");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start qemu: {e}"))?;
    let (code, what) = describe_exit(status.code());
    println!("\nxtask: {what} (QEMU status {:?})", status.code());
    Ok(code)
}

/// `run --cmd`: boots (directly, for speed) with the kernel command line `line`,
/// whose init runs the command; streams what it prints, and exits with its status.
pub fn run_cmd(opts: &Opts, a: &Artefacts, line: &str) -> Result<u8, String> {
    let (accel, why) = accelerator(opts);
    eprintln!("xtask: accelerator: {accel} ({why})");
    let cmd = command(
        opts,
        a,
        &Boot::Direct {
            cmdline: line.to_string(),
        },
    );
    let mut status = None;
    let c = capture_with(cmd, Duration::from_secs(3600), &mut |line| {
        if let Some(rest) = line.strip_prefix(EXIT_MARKER) {
            status = rest
                .split_whitespace()
                .next()
                .and_then(|s| s.parse::<u8>().ok());
            return false;
        }
        true
    })?;
    if c.timed_out {
        return Err("the command did not finish within an hour".into());
    }
    match (status, c.status) {
        (Some(s), _) => Ok(s),
        (None, Some(EXIT_PANIC)) => {
            eprintln!("xtask: Kestrel panicked");
            Ok(EXIT_PANIC as u8)
        }
        (None, code) => {
            eprintln!(
                "xtask: Kestrel stopped without reporting the command's status (QEMU status {code:?})"
            );
            Ok(1)
        }
    }
}

/// What a captured boot printed and how it ended.
#[derive(Debug)]
pub struct Captured {
    pub lines: Vec<String>,
    pub status: Option<i32>,
    pub timed_out: bool,
}

/// Boots without a terminal, collecting the serial output (echoed when `echo`), and
/// kills QEMU after `limit`.
pub fn capture(cmd: Command, limit: Duration, echo: bool) -> Result<Captured, String> {
    capture_with(cmd, limit, &mut |_| echo)
}

/// A workload to boot: `cmd` run by init, with `with`'s files, from an
/// initramfs written as `cpio`; `cmdline` follows `quiet` on the kernel's command
/// line (`kestrel.trace=on`, `kestrel.profile=997`).
pub struct Workload<'a> {
    pub cmd: &'a str,
    pub with: &'a [String],
    pub cpio: &'a str,
    pub cmdline: &'a str,
}

/// Boots kernel `a` directly (`qemu -kernel`) with busybox and `w`, and captures
/// the serial output, `show` deciding which lines are echoed. The tools that
/// study a workload (trace, profile) and their checks in `cargo xtask test` boot
/// this way.
pub fn run_workload(
    opts: &Opts,
    a: &Artefacts,
    w: &Workload,
    limit: Duration,
    show: &mut dyn FnMut(&str) -> bool,
) -> Result<Captured, String> {
    let mut tree = initramfs::base()?;
    initramfs::add_with(&mut tree, w.with)?;
    initramfs::add_cmd(&mut tree, w.cmd);
    let mut a = a.clone();
    a.initramfs = Some(initramfs::write(&tree, w.cpio)?);
    capture_with(
        command(
            opts,
            &a,
            &Boot::Direct {
                cmdline: cmdline(opts, &format!("quiet {}", w.cmdline)),
            },
        ),
        limit,
        show,
    )
}

pub fn capture_with(
    mut cmd: Command,
    limit: Duration,
    show: &mut dyn FnMut(&str) -> bool,
) -> Result<Captured, String> {
    cmd.args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start qemu: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let deadline = Instant::now() + limit;
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => {
                if show(&line) {
                    println!("{line}");
                    let _ = std::io::stdout().flush();
                }
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if Instant::now() >= deadline {
                    timed_out = true;
                    let _ = child.kill();
                    break;
                }
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok(Captured {
        lines,
        status: status.code(),
        timed_out,
    })
}

/// `cargo xtask gdb`: boot paused with QEMU's gdbstub on :1234 and attach gdb.
pub fn gdb(opts: &Opts) -> Result<u8, String> {
    let a = build::build_all(opts)?;
    let boot = Boot::Direct {
        cmdline: cmdline(opts, ""),
    };
    let mut cmd = command(opts, &a, &boot);
    cmd.args([
        "-s",
        "-S",
        "-display",
        "none",
        "-serial",
        "file:target/kestrel/serial.log",
        "-monitor",
        "none",
    ]);
    println!(
        "xtask: QEMU waits for gdb on localhost:1234; serial output goes to target/kestrel/serial.log"
    );
    let mut qemu = cmd.spawn().map_err(|e| format!("cannot start qemu: {e}"))?;
    let status = Command::new("gdb")
        .arg(&a.kernel)
        .args([
            "-ex",
            "set confirm off",
            "-ex",
            "target remote localhost:1234",
            "-ex",
            "break kernel_entry",
        ])
        .status();
    let _ = qemu.kill();
    let _ = qemu.wait();
    match status {
        Ok(s) if s.success() => Ok(0),
        Ok(_) => Ok(1),
        Err(e) => Err(format!("cannot start gdb: {e} (apt-get install gdb)")),
    }
}
