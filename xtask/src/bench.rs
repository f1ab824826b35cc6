//! `cargo xtask bench`: Kestrel against Linux on the same virtual machine.
//!
//! Builds the release kernel and the C programs in `bench/`, puts them under `/bench`
//! in the initramfs with a command file that runs them, boots Kestrel (`qemu -kernel`,
//! `quiet`), then boots Debian's cloud kernel with the same initramfs, QEMU machine,
//! memory, CPUs and accelerator. Both print `BENCH name value unit` lines; xtask
//! prints a table of the two and writes `docs/benchmarks.md`.
//!
//! * `KESTREL_BENCH_NO_LINUX=1` (or `--no-linux`, once the option parser knows it)
//!   skips the Linux baseline;
//! * `KESTREL_BENCH_LINUX=/path/to/bzImage` boots that Linux kernel instead of the one
//!   downloaded with `apt-get download` into `target/kestrel/linux/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::Opts;
use crate::build::{self, Artefacts, out_dir, root};
use crate::initramfs::{self, Node};
use crate::qemu::{self, Boot};

/// Guest memory when `--mem` is left at its default: 10,000 threads need more than
/// Linux's 512 MiB default thread limit and memory allow.
const BENCH_MEM: &str = "1G";

/// The command file both kernels run (through the base initramfs's `/init`). The
/// mounts and the thread limit matter to Linux only; on Kestrel they fail quietly.
const GUEST_SCRIPT: &str = "\
mount -t proc proc /proc 2>/dev/null || true
mount -t sysfs sys /sys 2>/dev/null || true
mount -t devtmpfs dev /dev 2>/dev/null || true
if [ -w /proc/sys/kernel/threads-max ]; then echo 100000 > /proc/sys/kernel/threads-max; fi
/bench/kbench";

/// The Linux command line: panic=-1 turns \"init exited\" into a reboot, which
/// `-no-reboot` turns into QEMU exiting.
const LINUX_APPEND: &str = "console=ttyS0 quiet rdinit=/init panic=-1";

/// The metapackage naming Debian's current cloud kernel.
const LINUX_META: &str = "linux-image-cloud-amd64";

/// Longest a whole boot may take; each benchmark also has its own limit in kbench.
const BOOT_LIMIT: Duration = Duration::from_secs(30 * 60);

/// One benchmark, as `kbench --list` describes it.
#[derive(Debug, Clone)]
struct Desc {
    name: String,
    unit: String,
    what: String,
}

/// A benchmark's result on one kernel.
#[derive(Debug, Clone)]
enum Value {
    /// The number as the guest printed it, and parsed (the unit is the one
    /// `kbench --list` gives).
    Num(String, f64),
    Unsupported,
}

/// What one boot produced.
#[derive(Debug, Default)]
struct Outcome {
    values: BTreeMap<String, Value>,
    notes: Vec<(String, String)>,
    info: Vec<(String, String)>,
    /// kbench printed BENCH_END.
    finished: bool,
    /// Seconds from starting QEMU to kbench's first line.
    boot_s: Option<f64>,
    total_s: f64,
    /// What went wrong with the boot itself, if anything.
    problem: Option<String>,
}

impl Outcome {
    fn parse(&mut self, line: &str) {
        let Some(at) = line.find("BENCH") else {
            return;
        };
        let line = &line[at..];
        let mut words = line.splitn(2, ' ');
        let kind = words.next().unwrap_or("");
        let rest = words.next().unwrap_or("").trim();
        match kind {
            "BENCH_END" => self.finished = true,
            "BENCH" => {
                let w: Vec<&str> = rest.split_whitespace().collect();
                if w.len() < 2 || self.values.contains_key(w[0]) {
                    return; // the first line for a name wins
                }
                let v = match w[1].parse::<f64>() {
                    Ok(x) if x.is_finite() => Value::Num(w[1].to_string(), x),
                    _ => Value::Unsupported,
                };
                self.values.insert(w[0].to_string(), v);
            }
            "BENCHNOTE" | "BENCHINFO" => {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                let list = if kind == "BENCHNOTE" {
                    &mut self.notes
                } else {
                    &mut self.info
                };
                list.push((k.to_string(), v.to_string()));
            }
            _ => {}
        }
    }

    fn info(&self, key: &str) -> Option<&str> {
        self.info
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `cargo xtask bench`.
pub fn run(opts: &Opts) -> Result<u8, String> {
    let no_linux = std::env::var("KESTREL_BENCH_NO_LINUX").is_ok_and(|v| !v.is_empty() && v != "0")
        || std::env::args().any(|a| a == "--no-linux");
    let mut o = opts.clone();
    o.release = true; // a debug kernel's numbers say little
    if o.mem == Opts::default().mem {
        o.mem = BENCH_MEM.into();
    }
    let started = Instant::now();

    // A kernel that does not build (others may be half-way through a change) still
    // leaves the Linux baseline worth running.
    let built = build::build_all(&o);
    let progs = compile()?;
    let descs = list(&progs)?;
    let mut tree = initramfs::base()?;
    for (name, path) in &progs {
        let data = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        tree.add(&format!("bench/{name}"), Node::File(0o755, data));
    }
    initramfs::add_cmd(&mut tree, GUEST_SCRIPT);
    let cpio = initramfs::write(&tree, "initramfs-bench.cpio")?;

    let (accel, why) = qemu::accelerator(&o);
    println!("xtask: accelerator: {accel} ({why})");

    // Kestrel.
    let (a, kestrel, kline) = match built {
        Ok(mut a) => {
            a.initramfs = Some(cpio.clone());
            let kcmd = qemu::command(
                &o,
                &a,
                &Boot::Direct {
                    cmdline: qemu::cmdline(&o, "quiet"),
                },
            );
            let kline = shell_line(&kcmd);
            println!("xtask: benchmarks on Kestrel (qemu -kernel, release build)");
            let kestrel = boot("kestrel", kcmd, &descs)?;
            (a, kestrel, kline)
        }
        Err(e) => {
            println!("xtask: the kernel did not build, so no Kestrel numbers: {e}");
            let none = Artefacts {
                kernel: PathBuf::new(),
                symbols: PathBuf::new(),
                vdso: PathBuf::new(),
                initramfs: None,
            };
            let kestrel = Outcome {
                problem: Some(format!("the kernel did not build: {e}")),
                ..Outcome::default()
            };
            (none, kestrel, String::new())
        }
    };

    // Linux.
    let mut linux_about = String::new();
    let mut lline = String::new();
    let linux = if no_linux {
        println!("xtask: Linux baseline skipped (KESTREL_BENCH_NO_LINUX)");
        None
    } else {
        match linux_kernel() {
            Ok((vmlinuz, about)) => {
                linux_about = about;
                let lcmd = linux_command(&o, &a, &vmlinuz, &cpio);
                lline = shell_line(&lcmd);
                println!("xtask: benchmarks on Linux ({linux_about})");
                Some(boot("linux", lcmd, &descs)?)
            }
            Err(e) => {
                println!("xtask: no Linux baseline: {e}");
                linux_about = format!("not run: {e}");
                None
            }
        }
    };

    let table = table(&descs, &kestrel, linux.as_ref());
    println!();
    print!("{}", text_table(&table, linux.is_some()));
    for (who, out) in [("Kestrel", Some(&kestrel)), ("Linux", linux.as_ref())] {
        if let Some(p) = out.and_then(|o| o.problem.as_ref()) {
            println!("xtask: {who}: {p}");
        }
    }

    let doc = Doc {
        opts: &o,
        accel: (accel, &why),
        kestrel: &kestrel,
        linux: linux.as_ref(),
        linux_about: &linux_about,
        kestrel_line: &kline,
        linux_line: &lline,
        descs: &descs,
        table: &table,
    };
    let path = root().join("docs/benchmarks.md");
    fs::write(&path, doc.render()).map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!(
        "xtask: wrote docs/benchmarks.md ({:.0} s in all)",
        started.elapsed().as_secs_f64()
    );
    let ok = kestrel.finished && linux.as_ref().is_none_or(|l| l.finished);
    Ok(u8::from(!ok))
}

/// Compiles every `bench/*.c` into `target/kestrel/bench/`; returns (name, path).
fn compile() -> Result<Vec<(String, PathBuf)>, String> {
    let dir = out_dir().join("bench");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut srcs: Vec<PathBuf> = fs::read_dir(root().join("bench"))
        .map_err(|e| format!("bench/: {e}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    srcs.sort();
    let mut out = Vec::new();
    for src in srcs {
        let name = src
            .file_stem()
            .expect("a .c file has a stem")
            .to_string_lossy()
            .into_owned();
        let bin = dir.join(&name);
        let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
        if mtime(&bin).is_none() || mtime(&src) > mtime(&bin) {
            build::run(
                Command::new("musl-gcc")
                    .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
                    .arg(&bin)
                    .arg(&src),
            )
            .map_err(|e| format!("{e} on {}", src.display()))?;
        }
        out.push((name, bin));
    }
    if !out.iter().any(|(n, _)| n == "kbench") {
        return Err("bench/kbench.c is missing".into());
    }
    Ok(out)
}

/// The benchmarks, from `kbench --list` run on this machine.
fn list(progs: &[(String, PathBuf)]) -> Result<Vec<Desc>, String> {
    let kbench = &progs
        .iter()
        .find(|(n, _)| n == "kbench")
        .expect("compile checked")
        .1;
    let out = Command::new(kbench)
        .arg("--list")
        .output()
        .map_err(|e| format!("kbench --list: {e}"))?;
    let descs: Vec<Desc> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.splitn(3, ' ');
            Some(Desc {
                name: w.next()?.to_string(),
                unit: w.next()?.to_string(),
                what: w.next().unwrap_or("").to_string(),
            })
        })
        .collect();
    if descs.is_empty() {
        return Err("kbench --list printed nothing".into());
    }
    Ok(descs)
}

/// Boots one kernel with the benchmark initramfs and collects what kbench prints.
fn boot(who: &str, cmd: Command, descs: &[Desc]) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let t0 = Instant::now();
    let mut log = String::new();
    let c = qemu::capture_with(cmd, BOOT_LIMIT, &mut |line| {
        let _ = writeln!(log, "{line}");
        let was_done = out.finished;
        out.parse(line);
        if out.boot_s.is_none() && line.contains("BENCHINFO") {
            out.boot_s = Some(t0.elapsed().as_secs_f64());
        }
        if !was_done {
            println!("  {who}| {line}");
        }
        false
    })?;
    out.total_s = t0.elapsed().as_secs_f64();
    let log_path = out_dir().join(format!("bench-{who}.log"));
    let _ = fs::write(&log_path, &log);
    if !out.finished {
        out.problem = Some(format!(
            "the benchmarks did not finish ({}; QEMU status {:?}); the serial output is in {}",
            if c.timed_out {
                "timed out"
            } else {
                "the machine stopped"
            },
            c.status,
            log_path.display()
        ));
        println!(
            "xtask: {who}: {}; its last lines:",
            out.problem.as_ref().unwrap()
        );
        for l in c.lines.iter().rev().take(20).rev() {
            println!("    | {l}");
        }
    }
    let missing = descs
        .iter()
        .filter(|d| !out.values.contains_key(&d.name))
        .count();
    println!(
        "xtask: {who}: {} results, {missing} missing, {:.1} s (first output after {:.1} s)",
        out.values.len(),
        out.total_s,
        out.boot_s.unwrap_or(f64::NAN)
    );
    Ok(out)
}

/// The QEMU command for Linux: the same machine as Kestrel's (taken from
/// `qemu::command` so the two cannot drift apart) with SeaBIOS and a bzImage.
fn linux_command(o: &Opts, a: &Artefacts, vmlinuz: &Path, cpio: &Path) -> Command {
    let base = qemu::command(
        o,
        a,
        &Boot::Grub {
            iso: PathBuf::from("unused.iso"),
        },
    );
    let mut cmd = Command::new(base.get_program());
    let mut args = base.get_args();
    while let Some(arg) = args.next() {
        if arg == "-cdrom" || arg == "-boot" {
            args.next();
            continue;
        }
        cmd.arg(arg);
    }
    cmd.arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(cpio)
        .arg("-append")
        .arg(LINUX_APPEND);
    cmd
}

/// A bzImage of Debian's cloud kernel: `KESTREL_BENCH_LINUX`, an earlier download,
/// one installed on this machine, or a fresh `apt-get download`.
/// Returns its path and a description.
fn linux_kernel() -> Result<(PathBuf, String), String> {
    if let Some(p) = std::env::var_os("KESTREL_BENCH_LINUX").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return Ok((
            p.clone(),
            format!("{} (from KESTREL_BENCH_LINUX)", p.display()),
        ));
    }
    let dir = out_dir().join("linux");
    let vmlinuz = dir.join("vmlinuz");
    let about = dir.join("package.txt");
    if vmlinuz.is_file() {
        let text = fs::read_to_string(&about).unwrap_or_else(|_| "downloaded earlier".into());
        return Ok((vmlinuz, text.trim().to_string()));
    }
    if let Ok(rd) = fs::read_dir("/boot") {
        let mut found: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().unwrap_or_default().to_string_lossy();
                n.starts_with("vmlinuz-") && n.ends_with("-cloud-amd64")
            })
            .collect();
        found.sort();
        if let Some(p) = found.pop() {
            return Ok((
                p.clone(),
                format!("{} (installed on this machine)", p.display()),
            ));
        }
    }

    let pkg = resolve_linux_package()?;
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    println!("xtask: downloading {pkg} with apt-get download into target/kestrel/linux/");
    let t0 = Instant::now();
    build::run(
        Command::new("apt-get")
            .arg("download")
            .arg(&pkg)
            .current_dir(&dir),
    )?;
    let deb = fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with(&format!("{pkg}_")) && n.ends_with(".deb")
        })
        .ok_or_else(|| format!("apt-get download {pkg} left no .deb in {}", dir.display()))?;
    let deb_mb = fs::metadata(&deb).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    let version = Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let x = dir.join("extract");
    let _ = fs::remove_dir_all(&x);
    build::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x))?;
    let image = fs::read_dir(x.join("boot"))
        .map_err(|e| format!("{}: no boot/ in the package: {e}", deb.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .starts_with("vmlinuz-")
        })
        .ok_or_else(|| format!("{} has no boot/vmlinuz-*", deb.display()))?;
    fs::copy(&image, &vmlinuz).map_err(|e| e.to_string())?;
    let image_mb = fs::metadata(&vmlinuz).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    let _ = fs::remove_dir_all(&x);
    let _ = fs::remove_file(&deb);
    let text = format!(
        "Debian {pkg} {version} (the .deb is {deb_mb:.0} MB, its vmlinuz {image_mb:.1} MB)"
    );
    fs::write(&about, format!("{text}\n")).map_err(|e| e.to_string())?;
    println!(
        "xtask: {text}: downloaded and extracted in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    Ok((vmlinuz, text))
}

/// The versioned package `linux-image-cloud-amd64` depends on, e.g.
/// `linux-image-6.1.0-56-cloud-amd64` (running `apt-get update` once if apt knows
/// nothing yet and we are root).
fn resolve_linux_package() -> Result<String, String> {
    let depends = || -> Option<String> {
        let out = Command::new("apt-cache")
            .args(["depends", LINUX_META])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            let dep = l.trim().strip_prefix("|").unwrap_or(l.trim());
            let pkg = dep.strip_prefix("Depends:")?.trim();
            let pkg = pkg.trim_start_matches('<').trim_end_matches('>');
            (pkg.starts_with("linux-image-") && pkg.ends_with("-cloud-amd64")).then(|| pkg.into())
        })
    };
    if let Some(p) = depends() {
        return Ok(p);
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root_user {
        println!("xtask: apt-cache does not know {LINUX_META}; running apt-get update");
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        if let Some(p) = depends() {
            return Ok(p);
        }
    }
    Err(format!(
        "apt-cache cannot resolve {LINUX_META} (run apt-get update), \
         or set KESTREL_BENCH_LINUX=/path/to/bzImage"
    ))
}

/// One table row: name, unit, Kestrel, Linux, ratio.
type Row = [String; 5];

fn table(descs: &[Desc], k: &Outcome, l: Option<&Outcome>) -> Vec<Row> {
    let cell = |o: Option<&Outcome>, name: &str| match o.and_then(|o| o.values.get(name)) {
        Some(Value::Num(s, _)) => s.clone(),
        _ => "—".into(),
    };
    let num = |o: Option<&Outcome>, name: &str| match o.and_then(|o| o.values.get(name)) {
        Some(Value::Num(_, x)) => Some(*x),
        _ => None,
    };
    descs
        .iter()
        .map(|d| {
            let ratio = match (num(Some(k), &d.name), num(l, &d.name)) {
                (Some(a), Some(b)) if b > 0.0 && a >= 0.0 => format!("{:.2}", a / b),
                _ => "—".into(),
            };
            [
                d.name.clone(),
                d.unit.clone(),
                cell(Some(k), &d.name),
                cell(l, &d.name),
                ratio,
            ]
        })
        .collect()
}

fn text_table(rows: &[Row], with_linux: bool) -> String {
    let head: Row = [
        "benchmark".into(),
        "unit".into(),
        "Kestrel".into(),
        "Linux".into(),
        "Kestrel/Linux".into(),
    ];
    let cols = if with_linux { 5 } else { 3 };
    let mut width = [0usize; 5];
    for r in std::iter::once(&head).chain(rows) {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in std::iter::once(&head).chain(rows) {
        for (i, c) in r.iter().enumerate().take(cols) {
            let pad = " ".repeat(width[i] - c.chars().count());
            if i < 2 {
                let _ = write!(s, "{c}{pad}  ");
            } else {
                let _ = write!(s, "{pad}{c}  ");
            }
        }
        s = s.trim_end().to_string();
        s.push('\n');
    }
    s
}

/// A command line as one could paste it into a shell, with the arguments
/// `qemu::capture_with` adds, and paths relative to the repository.
fn shell_line(cmd: &Command) -> String {
    let root = root();
    let rel = |s: String| {
        s.replace(&format!("{}/", root.display()), "")
            .replace(&root.display().to_string(), ".")
    };
    let quote = |s: &str| {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c))
        {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(
        cmd.get_args()
            .map(|a| quote(&rel(a.to_string_lossy().into_owned()))),
    );
    parts.extend(["-display", "none", "-monitor", "none", "-serial", "stdio"].map(String::from));
    parts.join(" ")
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// This machine: CPU model, cores, memory.
fn host_machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb: f64 = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    format!(
        "{model}, {cores} cores, {:.1} GiB memory ({})",
        mem_kb / 1024.0 / 1024.0,
        output("uname", &["-sr"])
    )
}

/// Everything docs/benchmarks.md says.
struct Doc<'a> {
    opts: &'a Opts,
    accel: (&'a str, &'a str),
    kestrel: &'a Outcome,
    linux: Option<&'a Outcome>,
    linux_about: &'a str,
    kestrel_line: &'a str,
    linux_line: &'a str,
    descs: &'a [Desc],
    table: &'a [Row],
}

impl Doc<'_> {
    fn render(&self) -> String {
        let mut s = String::new();
        let commit = output(
            "git",
            &[
                "-C",
                &root().to_string_lossy(),
                "rev-parse",
                "--short",
                "HEAD",
            ],
        );
        // This file itself does not make the measured tree dirty.
        let dirty = output(
            "git",
            &["-C", &root().to_string_lossy(), "status", "--porcelain"],
        )
        .lines()
        .any(|l| !l.ends_with("docs/benchmarks.md"));
        let qemu_version = output("qemu-system-x86_64", &["--version"])
            .lines()
            .next()
            .unwrap_or("unknown")
            .to_string();
        let _ = writeln!(
            s,
            "# Benchmarks\n\n\
             Generated by `cargo xtask bench`; do not edit by hand. What each benchmark measures \
             and how is in [bench/README.md](../bench/README.md).\n"
        );
        let _ = writeln!(s, "* **Date**: {}", output("date", &["-u"]));
        let _ = writeln!(s, "* **Machine**: {}", host_machine());
        let _ = writeln!(s, "* **QEMU**: {qemu_version}");
        let _ = writeln!(s, "* **Accelerator**: {} ({})", self.accel.0, self.accel.1);
        let _ = writeln!(
            s,
            "* **Guest**: q35, `-cpu {}`, {} CPU(s), {} memory",
            if self.accel.0 == "kvm" { "host" } else { "max" },
            self.opts.smp,
            self.opts.mem
        );
        let _ = writeln!(
            s,
            "* **Kestrel**: commit {commit}{}, release build, booted with `qemu -kernel` \
             (multiboot1, qboot); first benchmark output after {}",
            if dirty {
                " with uncommitted changes"
            } else {
                ""
            },
            secs(self.kestrel.boot_s)
        );
        match self.linux {
            Some(l) => {
                let _ = writeln!(
                    s,
                    "* **Linux**: {}; `uname`: {}; booted with `qemu -kernel` (bzImage, SeaBIOS); \
                     first benchmark output after {}",
                    self.linux_about,
                    l.info("kernel").unwrap_or("?"),
                    secs(l.boot_s)
                );
            }
            None => {
                let _ = writeln!(s, "* **Linux**: {}", none_or(self.linux_about, "skipped"));
            }
        }
        let _ = writeln!(
            s,
            "\n## Results\n\n\
             Lower is better in every row. The ratio is Kestrel/Linux: below 1, Kestrel is \
             faster or smaller. \"—\" means the kernel could not run the benchmark (yet); \
             the notes say why. Under TCG every guest instruction is emulated, so these \
             numbers compare the two kernels on the same emulated machine; they are not \
             what either would do on hardware.\n"
        );
        let _ = writeln!(s, "| benchmark | unit | Kestrel | Linux | Kestrel/Linux |");
        let _ = writeln!(s, "|---|---|---:|---:|---:|");
        for r in self.table {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} |",
                r[0], r[1], r[2], r[3], r[4]
            );
        }
        let _ = writeln!(s, "\n### What each row is\n");
        for d in self.descs {
            let _ = writeln!(s, "* `{}`: {}", d.name, d.what);
        }
        for (who, out) in [("Kestrel", Some(self.kestrel)), ("Linux", self.linux)] {
            let Some(out) = out else { continue };
            if out.notes.is_empty() && out.problem.is_none() && out.info.is_empty() {
                continue;
            }
            let _ = writeln!(s, "\n### Notes from the {who} run\n");
            if let Some(p) = &out.problem {
                let _ = writeln!(s, "* **{p}**");
            }
            for (k, v) in &out.info {
                let _ = writeln!(s, "* {k}: {v}");
            }
            for (k, v) in &out.notes {
                let _ = writeln!(s, "* `{k}`: {v}");
            }
        }
        let _ = writeln!(
            s,
            "\n## How to reproduce\n\n\
             ```sh\n\
             cargo xtask bench                          # Kestrel and Linux, rewrites this file\n\
             KESTREL_BENCH_NO_LINUX=1 cargo xtask bench # Kestrel only\n\
             ```\n\n\
             xtask builds the release kernel and `bench/*.c` (`musl-gcc -static -O2`), makes \
             `target/kestrel/initramfs-bench.cpio` (busybox, `/bench/kbench`, `/bench/nop`, \
             and a command file that the initramfs's `/init` runs), then boots each kernel \
             with it. The command file:\n\n\
             ```sh\n{GUEST_SCRIPT}\n```\n\n\
             Kestrel:\n\n```sh\n{}\n```\n",
            none_or(self.kestrel_line, "# not booted: the kernel did not build")
        );
        if self.linux.is_some() {
            let _ = writeln!(
                s,
                "Linux (the same machine; init exiting panics Linux, `panic=-1` reboots and \
                 `-no-reboot` ends QEMU):\n\n```sh\n{}\n```\n\n\
                 The Linux kernel is Debian's `{LINUX_META}`: xtask resolves it with \
                 `apt-cache depends {LINUX_META}`, fetches the versioned package with \
                 `apt-get download` into `target/kestrel/linux/` and keeps only its \
                 `vmlinuz` (`dpkg-deb -x`). Delete that folder to fetch a newer one, or set \
                 `KESTREL_BENCH_LINUX=/path/to/bzImage` to boot another kernel.",
                self.linux_line
            );
        }
        s
    }
}

fn secs(s: Option<f64>) -> String {
    s.map_or("— (no output)".into(), |s| format!("{s:.1} s"))
}

fn none_or<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() { default } else { s }
}
