//! `cargo xtask`: build, run and test Kestrel.
//!
//! ```text
//! cargo xtask build    [--release]
//! cargo xtask run      [--release] [--mem SIZE] [--smp N] [--no-kvm] [--direct] [--append ARGS]
//!                      [--cmd 'SHELL COMMAND'] [--with HOST[:GUEST]]...
//! cargo xtask test     [--release] [--host]
//! cargo xtask syscalls
//! cargo xtask gdb      [--release] [--mem SIZE]
//! cargo xtask bench    [--scaling] [--no-linux] [--smp N] [--mem SIZE] [--no-kvm]
//! ```
//! Missing host tools are installed with apt-get when running as root, otherwise
//! xtask stops and prints the command to run.

mod bench;
mod build;
mod deps;
mod docs;
mod dynlib;
mod initramfs;
mod qemu;
mod session;
mod syscalls;
mod test;
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
    /// `bench --scaling`: also boot each kernel at 1, 2 and 4 CPUs for the scaling
    /// benchmarks.
    pub scaling: bool,
    /// `bench --no-linux`: no Linux baseline.
    pub no_linux: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            release: false,
            mem: "512M".into(),
            smp: 2,
            smp_given: false,
            no_kvm: false,
            direct: false,
            append: String::new(),
            host: false,
            cmd: None,
            with: Vec::new(),
            scaling: false,
            no_linux: false,
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
  bench    benchmarks on Kestrel and Linux (one CPU unless --smp), writes docs/benchmarks.md

options:
  --release        optimised kernel
  --mem SIZE       guest memory, e.g. 256M or 2G (default 512M)
  --smp N          number of CPUs, 1 to 64 (default 2; TCG runs each on its own host thread)
  --no-kvm         never use KVM, even where it would be fast
  --direct         boot with QEMU -kernel (multiboot1) instead of the GRUB ISO
  --append ARGS    extra kernel command-line arguments
  --cmd 'CMD'      (run) run CMD with /bin/sh -c, print its output, exit with its status
  --with H[:G]     (run) put host file or folder H into the guest at G (default: the same
                   path, with the host's symlinks and what they lead to)
  --host           (test) run the userland tests on this machine's Linux instead
  --scaling        (bench) also the scaling benchmarks: each kernel booted at 1, 2 and 4
                   CPUs, throughput and speedup per workload (a few minutes more under TCG)
  --no-linux       (bench) Kestrel only, no Linux baseline (or KESTREL_BENCH_NO_LINUX=1)
";

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
            "--mem" => o.mem = value("--mem")?,
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
            "--scaling" => o.scaling = true,
            "--no-linux" => o.no_linux = true,
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
    fn bench_options_parse() {
        let (cmd, o) = parse(&args(&["bench", "--scaling", "--no-linux"])).unwrap();
        assert_eq!(cmd, "bench");
        assert!(o.scaling && o.no_linux);
        assert!(!o.smp_given, "bench's default CPU count is its own");
        let (_, o) = parse(&args(&["bench", "--smp", "2"])).unwrap();
        assert!(o.smp_given && o.smp == 2 && !o.scaling);
        assert!(parse(&args(&["bench", "--smp", "0"])).is_err());
        assert!(parse(&args(&["bench", "--scale"])).is_err());
    }
}
