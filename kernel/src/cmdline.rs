//! The kernel command line, parsed the way Linux parses its own: space-separated
//! words, `key=value` options, double quotes around values with spaces, and
//! everything after `--` handed to init.
//!
//! | option | meaning | default |
//! |---|---|---|
//! | `log=LEVEL` | `error`, `warn`, `info`, `debug`, `trace` or `off` | `info` |
//! | `init=PATH` | the first user program | `/init` |
//! | `console=ttyS0` | the console device (only COM1 exists) | `ttyS0` |
//! | `kestrel.test` | run the in-kernel tests and power off (`kestrel.test=WORD`: only those whose name contains WORD) | off |
//! | `quiet` | no boot banner; only warnings and errors are logged | off |
//! | `kestrel.heartbeat=on\|off` | print uptime every second | `on` without an init program, else `off` |
//! | `kestrel.syscall_stats=on\|COMM` | count each process's system calls and print them when it exits (all processes, or those whose command name is COMM) | off |
//! | `kestrel.crash=KIND` | crash on purpose after boot, to see (and test) the report: `panic`, `page-fault`, `stack-overflow`, `divide-error` | off |
//! | `maxcpus=N` | start at most N CPUs, the bootstrap CPU included (Linux's option; `nosmp` is `maxcpus=1`) | every CPU |
//! | `kestrel.trace=GROUPS` | record a trace of the kernel's tasks (`on`, or any of `tasks,syscalls,futex,irq,faults,idle`) and print it when init exits (`cargo xtask trace`) | off |
//! | `kestrel.profile=HZ` | sample every CPU's stacks HZ times a second and print them when init exits (`cargo xtask profile`) | off |
//! | `kestrel.page_cache_pages=N` | the most ext2 file pages kept loaded (the page cache), to exercise eviction | a quarter of memory |
//! | `kestrel.watchdog=SECS` | log a CPU that ran no executor pass for more than SECS seconds, with the task it polls and where it is (an NMI sample, or the timer interrupt's with one CPU); 0: off (kernel/src/watchdog.rs) | `2` |
//! | `kestrel.stall_cpu=N` | application processor N never reports in, to see (and test) that a CPU that does not start is left out | off |
//!
//! An unknown or malformed option logs a warning and the boot goes on.

use log::LevelFilter;

/// The options Kestrel understands.
#[derive(Debug, Clone)]
pub struct Options {
    pub log_level: LevelFilter,
    pub init: &'static str,
    /// Words after `--`, for init's argv.
    pub init_args: &'static str,
    pub test_mode: bool,
    /// `kestrel.test=WORD`: run only the in-kernel tests whose name contains WORD.
    pub test_only: Option<&'static str>,
    pub heartbeat: bool,
    /// Whether `kestrel.heartbeat=` was given (with an init program the heartbeat is
    /// off unless asked for: it would interleave with the shell).
    pub heartbeat_given: bool,
    pub crash: Option<Crash>,
    /// `quiet`: no banner, only warnings and errors (unless `log=` says otherwise).
    pub quiet: bool,
    /// `kestrel.syscall_stats=`: count system calls; report every process (`Some("")`)
    /// or those with this command name.
    pub syscall_stats: Option<&'static str>,
    /// `maxcpus=`: the most CPUs to run on (at least 1).
    pub max_cpus: usize,
    /// `kestrel.stall_cpu=`: the CPU index whose start-up is made to hang.
    pub stall_cpu: Option<usize>,
    /// `kestrel.page_cache_pages=`: the page cache's bound in pages.
    pub page_cache_pages: Option<usize>,
    /// `kestrel.watchdog=`: the lockup watchdog's threshold in seconds (0: off).
    pub watchdog: u64,
    /// `kestrel.trace=`: the trace event groups to record (0: none).
    pub trace: u32,
    /// `kestrel.profile=`: samples per second (0: off).
    pub profile: u32,
    /// `root=`: the block device whose ext2 file system becomes `/` (init is
    /// started from it); `None`: the initramfs stays the root.
    pub root: Option<&'static str>,
    /// `ro` / `rw`: whether `root=` is mounted read-only (`rw` is the default).
    pub root_ro: bool,
}

/// A deliberate crash (`kestrel.crash=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    Panic,
    PageFault,
    StackOverflow,
    DivideError,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            log_level: LevelFilter::Info,
            init: "/init",
            init_args: "",
            test_mode: false,
            test_only: None,
            heartbeat: true,
            heartbeat_given: false,
            crash: None,
            quiet: false,
            syscall_stats: None,
            max_cpus: usize::MAX,
            stall_cpu: None,
            page_cache_pages: None,
            watchdog: 2,
            trace: 0,
            profile: 0,
            root: None,
            root_ro: false,
        }
    }
}

/// Splits a command line into words, honouring double quotes (which are removed
/// only around the whole value, as `key="a b"`), up to a lone `--`.
pub fn words(line: &str) -> impl Iterator<Item = &str> {
    let mut rest = line.trim_start();
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut in_quotes = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c == ' ' && !in_quotes
            })
            .map_or(rest.len(), |(i, _)| i);
        let word = &rest[..end];
        rest = rest[end..].trim_start();
        Some(word)
    })
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

fn parse_level(v: &str) -> Option<LevelFilter> {
    Some(match v {
        "off" => LevelFilter::Off,
        "error" => LevelFilter::Error,
        "warn" => LevelFilter::Warn,
        "info" => LevelFilter::Info,
        "debug" => LevelFilter::Debug,
        "trace" => LevelFilter::Trace,
        _ => return None,
    })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// Just the log level, read before the logger exists (malformed values are reported
/// by the full [`parse`] afterwards): `log=`, else warn with `quiet`, else info.
pub fn log_level(line: &str) -> LevelFilter {
    let opts = || words(line).take_while(|w| *w != "--");
    let quiet = opts().any(|w| w == "quiet");
    opts()
        .filter_map(|w| w.strip_prefix("log="))
        .filter_map(|v| parse_level(unquote(v)))
        .last()
        .unwrap_or(if quiet {
            LevelFilter::Warn
        } else {
            LevelFilter::Info
        })
}

/// Parses the command line, calling `warn` for each option it cannot use.
pub fn parse(line: &'static str, mut warn: impl FnMut(&str, &'static str)) -> Options {
    let mut o = Options::default();
    let mut it = words(line);
    for w in it.by_ref() {
        if w == "--" {
            break;
        }
        let (key, value) = match w.split_once('=') {
            Some((k, v)) => (k, Some(unquote(v))),
            None => (w, None),
        };
        match (key, value) {
            ("log", Some(v)) => match parse_level(v) {
                Some(l) => o.log_level = l,
                None => warn(
                    w,
                    "log level must be off, error, warn, info, debug or trace",
                ),
            },
            ("init", Some(v)) if v.starts_with('/') => o.init = v,
            ("init", _) => warn(w, "init= needs an absolute path"),
            ("console", Some("ttyS0")) => {}
            ("console", _) => warn(w, "only console=ttyS0 exists"),
            ("kestrel.test", None) => o.test_mode = true,
            ("kestrel.test", Some(v)) => match parse_bool(v) {
                Some(b) => o.test_mode = b,
                None if !v.is_empty() => {
                    o.test_mode = true;
                    o.test_only = Some(v);
                }
                None => warn(w, "expected on, off or part of a test name"),
            },
            ("kestrel.heartbeat", Some(v)) => match parse_bool(v) {
                Some(b) => {
                    o.heartbeat = b;
                    o.heartbeat_given = true;
                }
                None => warn(w, "expected on or off"),
            },
            ("kestrel.crash", Some(v)) => match v {
                "panic" => o.crash = Some(Crash::Panic),
                "page-fault" => o.crash = Some(Crash::PageFault),
                "stack-overflow" => o.crash = Some(Crash::StackOverflow),
                "divide-error" => o.crash = Some(Crash::DivideError),
                _ => warn(
                    w,
                    "expected panic, page-fault, stack-overflow or divide-error",
                ),
            },
            ("quiet", None) => o.quiet = true,
            ("kestrel.syscall_stats", Some(v)) => match parse_bool(v) {
                Some(true) => o.syscall_stats = Some(""),
                Some(false) => o.syscall_stats = None,
                None => o.syscall_stats = Some(v),
            },
            ("maxcpus", Some(v)) => match v.parse::<usize>() {
                // Linux takes 0 as "no other CPU", as nosmp.
                Ok(n) => o.max_cpus = n.max(1),
                Err(_) => warn(w, "expected a number of CPUs"),
            },
            ("nosmp", None) => o.max_cpus = 1,
            ("kestrel.trace", Some(v)) => match crate::trace::parse_groups(v) {
                Some(g) => o.trace = g,
                None => warn(
                    w,
                    "expected on, off, or groups of tasks,syscalls,futex,irq,faults,idle",
                ),
            },
            ("kestrel.profile", Some(v)) => match v.parse::<u32>() {
                Ok(hz) if hz <= 10_000 => o.profile = hz,
                _ => warn(w, "expected samples per second, 0 to 10000"),
            },
            ("kestrel.stall_cpu", Some(v)) => match v.parse::<usize>() {
                Ok(n) if n >= 1 => o.stall_cpu = Some(n),
                _ => warn(
                    w,
                    "expected the index of an application processor (1 or more)",
                ),
            },
            ("kestrel.watchdog", Some(v)) => match v.parse::<u64>() {
                Ok(s) if s <= 3600 => o.watchdog = s,
                _ => warn(w, "expected seconds, 0 (off) to 3600"),
            },
            ("kestrel.page_cache_pages", Some(v)) => match v.parse::<usize>() {
                Ok(n) => o.page_cache_pages = Some(n),
                Err(_) => warn(w, "expected a number of pages"),
            },
            ("root", Some(v)) if v.starts_with("/dev/") => o.root = Some(v),
            ("root", _) => warn(w, "root= needs a device path such as /dev/vda"),
            ("ro", None) => o.root_ro = true,
            ("rw", None) => o.root_ro = false,
            // Options GRUB or QEMU add for any kernel.
            ("BOOT_IMAGE", _) => {}
            _ => warn(w, "unknown option, ignored"),
        }
    }
    // The rest, verbatim, is init's arguments. (Found byte by byte: `str::find`
    // with a string pattern brings in the two-way searcher, 60 blocks of code
    // QEMU's TCG would translate at every boot for this one search.)
    if let Some(pos) = line.as_bytes().windows(4).position(|w| w == b" -- ") {
        o.init_args = line[pos + 4..].trim();
    } else if let Some(rest) = line.strip_prefix("-- ") {
        o.init_args = rest.trim();
    }
    o
}

static OPTIONS: spin::Once<Options> = spin::Once::new();

static RAW: spin::Once<&'static str> = spin::Once::new();

/// The command line as the boot loader gave it (/proc/cmdline).
pub fn raw() -> &'static str {
    RAW.get().copied().unwrap_or("")
}

/// Records the raw command line.
pub fn set_raw(line: &'static str) {
    RAW.call_once(|| line);
}

/// Records the parsed options for the rest of the kernel.
pub fn set(o: Options) -> &'static Options {
    OPTIONS.call_once(|| o)
}

/// The boot options.
pub fn options() -> &'static Options {
    OPTIONS.get().expect("command line parsed at boot")
}
