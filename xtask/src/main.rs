//! `cargo xtask`: build, run and test Kestrel.
//!
//! ```text
//! cargo xtask build    [--release]
//! cargo xtask run      [--release] [--mem SIZE] [--smp N] [--no-kvm] [--direct] [--append ARGS]
//!                      [--root debian]
//!                      [--disk FILE[,ro]]... [--net user[,hostfwd=...]] [--device ARGS]...
//!                      [--cmd 'SHELL COMMAND'] [--with HOST[:GUEST]]...
//! cargo xtask test     [--release] [--host]
//! cargo xtask syscalls
//! cargo xtask ltp      [--ltp DIR|TARBALL | --build SRC] [--only REGEX] [--timeout S] [--smp N] [--mem SIZE]
//! cargo xtask gdb      [--release] [--mem SIZE]
//! cargo xtask trace    --cmd 'CMD' [--events GROUPS] [-o FILE]
//! cargo xtask top      --cmd 'CMD'
//! cargo xtask profile  --cmd 'CMD' [--hz N] [-o FILE.svg]
//! cargo xtask fuzz     [--calls N] [--seed S] [--children C] [--exclude NAME]... [--only REGEX]
//! cargo xtask hot-text [--check] [--iterations N]
//! cargo xtask bench    [--scaling] [--no-linux] [--only REGEX] [--icount] [--smp N] [--mem SIZE] [--no-kvm]
//! cargo xtask rootfs   [--rebuild] [--check]
//! cargo xtask apps
//! ```
//! Missing host tools are installed with apt-get when running as root, otherwise
//! xtask stops and prints the command to run.

mod apps;
mod bench;
mod build;
mod charts;
mod deps;
mod docs;
mod dynlib;
mod ext2;
mod fuzz;
mod hot_text;
mod initramfs;
mod ltp;
mod profile;
mod qemu;
mod rootfs;
mod session;
mod syscalls;
mod test;
mod top;
mod trace;
mod userland;
mod vdso;

use std::process::ExitCode;

/// Options shared by the subcommands.
#[derive(Debug, Clone)]
pub struct Opts {
    pub release: bool,
    pub mem: String,
    pub smp: u32,
    /// `--smp` was given (bench runs on one CPU otherwise).
    pub smp_given: bool,
    pub no_kvm: bool,
    pub direct: bool,
    pub append: String,
    pub host: bool,
    /// `run --cmd`: run this through /bin/sh -c and exit with its status.
    pub cmd: Option<String>,
    /// `--with HOST[:GUEST]`: extra files for the initramfs.
    pub with: Vec<String>,
    /// `--disk FILE[,ro]`: disk images, each a virtio-blk device (vda, vdb, ...).
    pub disks: Vec<Disk>,
    /// `--net user[,hostfwd=...]`: a virtio-net device on QEMU's user network.
    pub net: Option<String>,
    /// `--device ARGS`: more QEMU devices, each given to QEMU as `-device ARGS`
    /// (a driver author's device: `--device edu`).
    pub devices: Vec<String>,
    /// Whether `--mem` was given (`ltp` picks its own default otherwise).
    pub mem_given: bool,
    /// `ltp --ltp DIR|TARBALL`: the LTP tree.
    pub ltp: Option<std::path::PathBuf>,
    /// `ltp --build SRC`: build the LTP tree from LTP's source first.
    pub ltp_build: Option<std::path::PathBuf>,
    /// `ltp --only REGEX`: the tests whose tag matches; `fuzz --only REGEX`: the
    /// system calls whose whole name matches; `bench --only REGEX`: the rows whose
    /// name matches.
    pub only: Option<String>,
    /// `ltp --timeout S`: seconds each test may take.
    pub timeout: Option<u64>,
    /// `fuzz --calls/--seed/--children/--exclude`.
    pub fuzz: fuzz::Params,
    /// `trace --events GROUPS`: which of the kernel's trace events to record.
    pub events: Option<String>,
    /// `trace -o FILE`, `profile -o FILE.svg`: where the result goes.
    pub output: Option<std::path::PathBuf>,
    /// `profile --hz N`: samples per second.
    pub hz: Option<u32>,
    /// `bench --scaling`: also boot each kernel at 1, 2 and 4 CPUs for the scaling
    /// benchmarks.
    pub scaling: bool,
    /// `bench --icount`: TCG with `-icount shift=0`, so that a guest
    /// nanosecond is one instruction: the rows count instructions, the same in
    /// every run whatever the host's load (docs/benchmarks.md is not written).
    pub icount: bool,
    /// `bench --no-linux`: no Linux baseline.
    pub no_linux: bool,
    /// `run --root debian`: boot the Debian image of `cargo xtask rootfs`.
    pub root: Option<String>,
    /// `rootfs --rebuild`: make the image again from the cached tree.
    pub rebuild: bool,
    /// `rootfs --check`: boot the image and run the Debian checks; `hot-text
    /// --check`: measure, but leave kernel/hot-text.txt as it is.
    pub check: bool,
    /// `hot-text --iterations N`: iterations of each workload.
    pub iterations: Option<u32>,
}

/// A disk image given with `--disk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub path: std::path::PathBuf,
    pub read_only: bool,
}

impl Disk {
    /// Parses `FILE[,ro]`; the file must exist.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (path, read_only) = match spec.strip_suffix(",ro") {
            Some(p) => (p, true),
            None => (spec, false),
        };
        let path = std::path::PathBuf::from(path);
        if !path.is_file() {
            return Err(format!(
                "--disk {spec}: {} is not a file (make one with `truncate -s 64M disk.img`)",
                path.display()
            ));
        }
        Ok(Self { path, read_only })
    }
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            release: false,
            mem: "512M".into(),
            smp: 2,
            smp_given: false,
            no_kvm: false,
            icount: false,
            direct: false,
            append: String::new(),
            host: false,
            cmd: None,
            with: Vec::new(),
            disks: Vec::new(),
            net: None,
            devices: Vec::new(),
            mem_given: false,
            ltp: None,
            ltp_build: None,
            only: None,
            timeout: None,
            fuzz: fuzz::Params::default(),
            events: None,
            output: None,
            hz: None,
            scaling: false,
            no_linux: false,
            root: None,
            rebuild: false,
            check: false,
            iterations: None,
        }
    }
}

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build    build the kernel (and the boot ISO)
  run      boot Kestrel in QEMU with the serial console on this terminal (Ctrl-A X quits)
  test     host unit tests, then the in-kernel tests in QEMU
  gdb      boot paused under QEMU's gdbstub and attach gdb
  syscalls print the system call status table and write docs/syscalls.md
  fuzz     run Debian's trinity system call fuzzer on Kestrel; fails on a panic or a hang
  trace    run --cmd CMD with the kernel's task trace on; write a Perfetto timeline
  top      run --cmd CMD and show the kernel's tasks (/proc/kestrel/tasks) every second
  profile  run --cmd CMD sampling every CPU's stacks; write a flame graph (SVG)
  ltp      the Linux Test Project's syscall tests on Kestrel, compared with Linux (docs/ltp.md)
  hot-text find the kernel functions the common system calls and hand-offs run (QEMU's
           exec log) and write kernel/hot-text.txt, the order the kernel is linked in
  bench    benchmarks on Kestrel and Linux (one CPU unless --smp), writes docs/benchmarks.md
  apps     the real-program checks of `test` alone: redis, nginx with wrk and the host's
           curl, python3's http.server, iperf3, a socat UDP echo (docs/networking.md)
  rootfs   build the Debian bookworm ext2 image (debootstrap, as root; cached in
           target/kestrel/rootfs/) that `run --root debian` boots

options:
  --release        optimised kernel
  --mem SIZE       guest memory, e.g. 256M or 2G (default 512M; ltp: 2G, more for a large tree)
  --smp N          number of CPUs, 1 to 64 (default 2; TCG runs each on its own host thread)
  --no-kvm         never use KVM, even where it would be fast
  --direct         boot with QEMU -kernel (multiboot1) instead of the GRUB ISO
  --append ARGS    extra kernel command-line arguments
  --cmd 'CMD'      (run) run CMD with /bin/sh -c, print its output, exit with its status
  --with H[:G]     (run) put host file or folder H into the guest at G (default: the same
                   path, with the host's symlinks and what they lead to)
  --disk FILE[,ro]  (run) a raw disk image as a virtio-blk disk (/dev/vda, then vdb...);
                   ,ro makes it read-only
  --net user[,hostfwd=tcp::HOST-:GUEST]
                   (run) a virtio-net NIC on QEMU's user network (10.0.2.15/24)
  --device ARGS    (run) one more QEMU device, passed as `-device ARGS` (repeatable),
                   e.g. --device edu for the template driver (docs/writing-a-driver.md)
  --root debian    (run) boot the Debian image of `cargo xtask rootfs` (made first if
                   missing) from virtio-blk, bash as the shell; e2fsck -fn checks it after
  --rebuild        (rootfs) make the image again from the cached debootstrap tree
  --check          (rootfs) boot the image, run ls, python3 with sqlite, dpkg, tar, gzip
                   and find in it, then e2fsck -fn it; (hot-text) measure and compare with
                   kernel/hot-text.txt, but do not write it
  --iterations N   (hot-text) iterations of each workload (default 1000)
  --host           (test) run the userland tests on this machine's Linux instead
  --ltp DIR|TARBALL  (ltp) the LTP tree or its tarball (default: ../shared/ltp/
                   ltp-syscalls-musl.tar.xz, else the tree cached under target/kestrel/ltp/)
  --build SRC      (ltp) build the LTP tree from LTP's source in SRC first (untested)
  --only REGEX     (ltp) only the tests whose tag matches REGEX, e.g. '^(abort|access)';
                   (fuzz) only the system calls whose whole name matches, e.g. 'p?readv2?';
                   (bench) only the rows whose name matches, e.g. '^tcp_', and the table
                   is printed, not written to docs/benchmarks.md
  --timeout S      (ltp) kill a test after S seconds (default 60)
  --calls N        (fuzz) system calls trinity makes (default: what CI runs)
  --seed S         (fuzz) trinity's random seed (default: a new one, printed)
  --children C     (fuzz) trinity's fuzzing processes
  --exclude NAME   (fuzz) do not fuzz system call NAME (repeatable)
  --events GROUPS  (trace) on (default), or some of tasks,syscalls,futex,irq,faults,idle
  -o FILE          (trace) where the trace goes (default target/kestrel/trace.json);
                   (profile) the flame graph (default target/kestrel/profile.svg)
  --hz N           (profile) samples per second on each busy CPU (default 997)
  --scaling        (bench) also the scaling benchmarks: each kernel booted at 1, 2 and 4
                   CPUs, throughput and speedup per workload (a few minutes more under TCG)
  --no-linux       (bench) Kestrel only, no Linux baseline (or KESTREL_BENCH_NO_LINUX=1)
  --icount         (bench) TCG with -icount shift=0: each row in guest instructions rather
                   than time, the same in every run however loaded the host (docs untouched)
";

fn number<T: std::str::FromStr>(s: &str, name: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{name} takes a number, not {s:?}"))
}

fn parse(args: &[String]) -> Result<(String, Opts), String> {
    let mut it = args.iter();
    let cmd = it
        .next()
        .ok_or_else(|| "no command given".to_string())?
        .clone();
    let mut o = Opts::default();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--release" => o.release = true,
            "--mem" => {
                o.mem = value("--mem")?;
                o.mem_given = true;
            }
            "--smp" => {
                o.smp = value("--smp")?
                    .parse()
                    .map_err(|_| "--smp takes a number".to_string())?;
                if o.smp == 0 || o.smp > 64 {
                    return Err("--smp takes 1 to 64 CPUs".into());
                }
                o.smp_given = true;
            }
            "--no-kvm" => o.no_kvm = true,
            "--direct" => o.direct = true,
            "--append" => o.append = value("--append")?,
            "--host" => o.host = true,
            "--cmd" => o.cmd = Some(value("--cmd")?),
            "--with" => o.with.push(value("--with")?),
            "--disk" => o.disks.push(Disk::parse(&value("--disk")?)?),
            "--net" => {
                let v = value("--net")?;
                if v != "user" && !v.starts_with("user,") {
                    return Err(format!(
                        "--net {v}: only QEMU's user network is supported (--net user[,hostfwd=tcp::8080-:80])"
                    ));
                }
                o.net = Some(v);
            }
            "--device" => o.devices.push(value("--device")?),
            "--ltp" => o.ltp = Some(value("--ltp")?.into()),
            "--build" => o.ltp_build = Some(value("--build")?.into()),
            "--only" => o.only = Some(value("--only")?),
            "--timeout" => {
                let t: u64 = value("--timeout")?
                    .parse()
                    .map_err(|_| "--timeout takes a number of seconds".to_string())?;
                if t == 0 {
                    return Err("--timeout must be at least 1".into());
                }
                o.timeout = Some(t);
            }
            "--calls" => o.fuzz.calls = Some(number(&value("--calls")?, "--calls")?),
            "--seed" => o.fuzz.seed = Some(number(&value("--seed")?, "--seed")?),
            "--children" => o.fuzz.children = Some(number(&value("--children")?, "--children")?),
            "--exclude" => o.fuzz.exclude.push(value("--exclude")?),
            "--events" => o.events = Some(value("--events")?),
            "-o" => o.output = Some(value("-o")?.into()),
            "--hz" => {
                o.hz = Some(
                    value("--hz")?
                        .parse()
                        .ok()
                        .filter(|&n| (1..=10_000).contains(&n))
                        .ok_or("--hz takes 1 to 10000 samples a second")?,
                )
            }
            "--scaling" => o.scaling = true,
            "--no-linux" => o.no_linux = true,
            "--icount" => {
                o.icount = true;
                o.no_kvm = true;
            }
            "--root" => {
                let v = value("--root")?;
                if v != "debian" {
                    return Err(format!(
                        "--root {v}: the only root is `debian` (cargo xtask rootfs)"
                    ));
                }
                o.root = Some(v);
            }
            "--rebuild" => o.rebuild = true,
            "--check" => o.check = true,
            "--iterations" => {
                o.iterations = Some(
                    value("--iterations")?
                        .parse()
                        .ok()
                        .filter(|&n| n >= 10)
                        .ok_or("--iterations takes a number, at least 10")?,
                )
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok((cmd, o))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, opts) = match parse(&args) {
        Ok(x) => x,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("xtask: {e}\n");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd.as_str() {
        "build" => build::build_all(&opts).map(|_| 0),
        "run" => qemu::run(&opts),
        "test" => test::test(&opts),
        "gdb" => qemu::gdb(&opts),
        "syscalls" => syscalls::run().map(|_| 0),
        "bench" => bench::run(&opts),
        "fuzz" => fuzz::run(&opts),
        "trace" => trace::run(&opts),
        "top" => top::run(&opts),
        "profile" => profile::run(&opts),
        "hot-text" => hot_text::run(&opts),
        "ltp" => ltp::run(&opts),
        "rootfs" => rootfs::run(&opts),
        "apps" => apps::run(&opts),
        other => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn disk_options_parse_and_refuse_missing_files() {
        let dir = std::env::temp_dir().join(format!("xtask-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("d.img");
        std::fs::write(&img, [0u8; 512]).unwrap();
        let spec = format!("{},ro", img.display());
        let (_, o) = parse(&args(&[
            "run",
            "--disk",
            &spec,
            "--disk",
            img.to_str().unwrap(),
        ]))
        .unwrap();
        assert_eq!(
            o.disks,
            vec![
                Disk {
                    path: img.clone(),
                    read_only: true
                },
                Disk {
                    path: img.clone(),
                    read_only: false
                }
            ]
        );
        let missing = dir.join("nope.img");
        let e = parse(&args(&["run", "--disk", missing.to_str().unwrap()])).unwrap_err();
        assert!(e.contains("is not a file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn net_takes_the_user_network_only() {
        let (_, o) = parse(&args(&["run", "--net", "user,hostfwd=tcp::8080-:80"])).unwrap();
        assert_eq!(o.net.as_deref(), Some("user,hostfwd=tcp::8080-:80"));
        assert!(parse(&args(&["run", "--net", "tap"])).is_err());
        assert!(parse(&args(&["run", "--smp", "65"])).is_err());
    }

    #[test]
    fn device_is_repeatable_and_kept_in_order() {
        let (_, o) = parse(&args(&[
            "run",
            "--device",
            "edu",
            "--device",
            "edu,dma_mask=0xffffffff",
        ]))
        .unwrap();
        assert_eq!(o.devices, ["edu", "edu,dma_mask=0xffffffff"]);
        assert!(parse(&args(&["run", "--device"])).is_err());
    }

    #[test]
    fn bench_options_parse() {
        let (cmd, o) = parse(&args(&["bench", "--scaling", "--no-linux"])).unwrap();
        assert_eq!(cmd, "bench");
        assert!(o.scaling && o.no_linux);
        assert!(!o.smp_given, "bench's default CPU count is its own");
        assert!(!o.icount);
        let (_, o) = parse(&args(&["bench", "--icount"])).unwrap();
        assert!(o.icount && o.no_kvm, "instruction counts need TCG");
        let (_, o) = parse(&args(&["bench", "--smp", "2"])).unwrap();
        assert!(o.smp_given && o.smp == 2 && !o.scaling);
        assert!(parse(&args(&["bench", "--smp", "0"])).is_err());
        assert!(parse(&args(&["bench", "--scale"])).is_err());
    }
}
