//! `cargo xtask fuzz`: Debian's `trinity` system call fuzzer against every call Kestrel
//! implements, with a watchdog that fails the run if the kernel panics or stops
//! answering.
//!
//! How a run goes:
//! - The calls to fuzz come from the kernel's table (kernel/src/syscall/table.rs),
//!   matched by number to trinity's own table (`trinity -a 64 -L` on the host, since
//!   trinity's names differ: `newstat` for stat, `fstatat64` for newfstatat, `umount`
//!   for umount2), and each is passed as `-c NAME`, so no call is wasted on ENOSYS.
//!   `-a 64`: the 32-bit entry points (int 0x80) are not Kestrel's ABI.
//! - trinity and its loader and libraries go into the initramfs as `--with` would
//!   bring them. The guest's /init runs a script that starts a heartbeat (a busybox
//!   shell loop printing a line every few seconds), runs trinity as an unprivileged
//!   user in a session of its own, and afterwards runs one more program and prints
//!   its answer, so the run shows that the system still works.
//! - xtask reads the serial console: it fails the run on a kernel panic report, when
//!   no heartbeat arrives for [`HEARTBEAT_LIMIT`] (the kernel hangs), when trinity
//!   prints nothing for [`STALL_LIMIT`] while the heartbeat goes on (a call that
//!   never returns, and trinity could not kill its child), when trinity does not
//!   finish its calls (killed by SIGKILL: Kestrel's out-of-memory kill), when its
//!   processes outlive SIGKILL, or when the shell does not answer at the end. For a
//!   hang it first asks QEMU's monitor where the CPU is (registers and the kernel's
//!   frame-pointer backtrace, named from the kernel's symbols). The whole serial log
//!   is kept in target/kestrel/fuzz-serial.log.
//!
//! Why trinity runs unprivileged (uid 1000, via busybox `su`) and not with
//! `--dangerous` as root: as root its children may legitimately end the run — signal
//! the heartbeat or the shell, unlink or chmod the busybox binary, mount over /dev,
//! set the clock — and trinity also wants to be told `--dangerous` and then waits ten
//! seconds. As a user, every such call must fail with EPERM or EACCES, which is
//! itself worth fuzzing (Kestrel's permission checks). `--dropprivs` (root main
//! process, children as nobody) is marked experimental by trinity. The run is in a
//! session of its own (`setsid`), without a controlling terminal, so no child can
//! change the console's foreground group or stop its output.
//!
//! What else keeps the run about the kernel rather than about memory: trinity
//! works in a tmpfs of its own with a size ([`TMPFS_SIZE`]), as it would on a disk
//! or a sized tmpfs on Linux, so gigabyte fallocate and sendfile calls on its files
//! end in ENOSPC; and trinity's main process opens no memfds for its children
//! (`--disable-fds=memfd`: a memfd has no size limit, and a gigabyte fallocate on
//! one that the main process holds runs the guest out of memory until the
//! out-of-memory killer ends trinity, as Linux's would). Children still make
//! memfd_create and fallocate calls of their own.
//!
//! Why trinity prints every call to the console (no `-q`) and keeps no log files
//! (`-l off`): trinity prints a call with its decoded arguments before making it,
//! and the kernel writes console output synchronously, so after a panic or a hang the
//! serial log ends with the call each child was making. Its per-child log files
//! (`-l DIR`) would be in the guest's memory, lost with it.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::build::{self, out_dir};
use crate::initramfs::{self, Node};
use crate::qemu::{self, Boot};
use crate::{Opts, deps, dynlib, syscalls};

/// Calls in a run without `--calls` (CI runs 100,000: .ci/run).
pub const DEFAULT_CALLS: u64 = 200_000;
/// trinity's fuzzing processes by default (its own default is four per CPU, and
/// Kestrel uses one). trinity cuts off a call that blocks with SIGALRM after a
/// second, so with few children the CPU mostly waits: under TCG one child makes
/// about 200 calls a second, 4 about 800, 8 about 1400, 32 about 2000-2800.
pub const DEFAULT_CHILDREN: u32 = 32;
/// The heartbeat's period in the guest, in seconds.
const HEARTBEAT_EVERY: u32 = 5;
/// No heartbeat for this long: the kernel stopped answering.
const HEARTBEAT_LIMIT: Duration = Duration::from_secs(30);
/// trinity silent this long while the heartbeat goes on: a call blocks for good.
/// (trinity interrupts each call after a second with SIGALRM, and kills a child
/// that stops making progress, so this only fires when neither works.)
const STALL_LIMIT: Duration = Duration::from_secs(120);
/// The size of the tmpfs trinity works in.
const TMPFS_SIZE: &str = "128m";
/// The unprivileged user trinity runs as.
const FUZZ_UID: u32 = 1000;
/// Lines of the serial log shown after a failure.
const TAIL_LINES: usize = 40;

/// `fuzz` options.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub calls: Option<u64>,
    pub seed: Option<u32>,
    pub children: Option<u32>,
    /// Calls not to fuzz (Linux or trinity names), to get past a known bug.
    pub exclude: Vec<String>,
}

/// Implemented calls that are never fuzzed, and why. Only calls that would end the
/// run (or each fuzzing process) by design belong here; everything else that
/// could hurt the run is kept out by running trinity unprivileged (see above).
/// trinity itself never makes the calls it marks AVOID (kill, tkill, tgkill,
/// rt_sigqueueinfo, clone, fork, pause, rt_sigreturn, ...; the run prints them).
/// reboot needs no entry: an unprivileged caller gets EPERM (it needs
/// CAP_SYS_BOOT), so trinity cannot power the machine off.
const EXCLUDED: &[(&str, &str)] = &[
    // Ends the calling fuzzing process: trinity would spend its time starting new
    // children instead of making calls (trinity also marks it AVOID).
    ("exit", "ends the fuzzing process that makes it"),
    // Likewise for the whole (single-threaded) child. Init cannot be reached with
    // it: exit_group only ends the caller.
    ("exit_group", "ends the fuzzing process that makes it"),
];

/// Which implemented calls trinity fuzzes, and which not and why.
#[derive(Debug, Default)]
struct Selection {
    /// trinity's names of the calls to fuzz.
    fuzz: Vec<String>,
    /// Kestrel calls trinity marks AVOID and never makes.
    avoided: Vec<String>,
    /// Kestrel calls trinity's table does not have.
    unknown: Vec<String>,
    /// (name, why) of the calls left out here.
    excluded: Vec<(String, String)>,
    /// How many calls `--only` left out.
    left_out: usize,
}

/// trinity's 64-bit table: number -> (its name, marked AVOID).
fn trinity_table() -> Result<BTreeMap<usize, (String, bool)>, String> {
    std::fs::create_dir_all(out_dir()).map_err(|e| e.to_string())?;
    // `-L` lists and exits before any uid check or set-up; run it where it can
    // change nothing (it would chdir into a "tmp/" under its working directory).
    let out = Command::new("trinity")
        .args(["-a", "64", "-L"])
        .current_dir(out_dir())
        .output()
        .map_err(|e| format!("cannot run trinity -L: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut table = BTreeMap::new();
    // "entrypoint 4 newstat : [64-bit] Enabled" (then " AVOID" when avoided)
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("entrypoint ") else {
            continue;
        };
        let Some((head, state)) = rest.split_once(" : [64-bit] ") else {
            continue;
        };
        let Some((nr, name)) = head.split_once(' ') else {
            continue;
        };
        let Ok(nr) = nr.parse::<usize>() else {
            continue;
        };
        table.insert(nr, (name.to_string(), state.contains("AVOID")));
    }
    if table.is_empty() {
        return Err(format!(
            "trinity -a 64 -L listed no 64-bit system calls:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(table)
}

/// The calls to fuzz: `only` (`--only REGEX`) must match a call's whole Linux or
/// trinity name.
fn select(p: &Params, only: Option<&str>) -> Result<Selection, String> {
    let only = only
        .map(|re| {
            regex::Regex::new(&format!("^(?:{re})$"))
                .map_err(|e| format!("--only {re:?}: not a regular expression ({e})"))
        })
        .transpose()?;
    let table = syscalls::parse_table()?;
    let trinity = trinity_table()?;
    let mut s = Selection::default();
    let mut unused: Vec<&String> = p.exclude.iter().collect();
    let mut only_matched = false;
    for entry in &table {
        let name = &entry.name;
        let nr = kestrel_abi::syscalls::SYSCALLS
            .iter()
            .find(|(_, n)| n == name)
            .map(|(nr, _)| *nr)
            .ok_or_else(|| format!("the kernel's table names {name}, not a Linux call"))?;
        let theirs = trinity.get(&nr);
        let named = |list: &[String]| {
            list.iter()
                .any(|x| x == name || theirs.is_some_and(|(t, _)| x == t))
        };
        unused.retain(|x| *x != name && theirs.is_none_or(|(t, _)| *x != t));
        if let Some((_, why)) = EXCLUDED.iter().find(|(n, _)| n == name) {
            s.excluded.push((name.clone(), why.to_string()));
        } else if named(&p.exclude) {
            s.excluded.push((name.clone(), "--exclude".into()));
        } else if let Some(re) = &only
            && !re.is_match(name)
            && theirs.is_none_or(|(t, _)| !re.is_match(t))
        {
            s.left_out += 1;
        } else {
            only_matched = true;
            match theirs {
                None => s.unknown.push(name.clone()),
                // A name `-c` cannot take: trinity 1.9's table calls rseq
                // "rseq," and its list parsing splits at the comma ("No idea
                // what syscall (rseq) is"), so it cannot be chosen by name.
                Some((t, false)) if t.contains(',') => s.unknown.push(name.clone()),
                Some((_, true)) => s.avoided.push(name.clone()),
                Some((t, false)) => s.fuzz.push(t.clone()),
            }
        }
    }
    if let Some(x) = unused.first() {
        return Err(format!(
            "--exclude {x}: not a system call Kestrel implements (see `cargo xtask syscalls`)"
        ));
    }
    if let (Some(re), false) = (only.as_ref(), only_matched) {
        return Err(format!(
            "--only {re}: matches none of Kestrel's system calls (see `cargo xtask syscalls`)"
        ));
    }
    if s.fuzz.is_empty() {
        return Err("no system call left to fuzz".into());
    }
    Ok(s)
}

/// The guest's job: /etc/kestrel/cmd, run by /init's shell; init's exit powers off.
fn script(s: &Selection, calls: u64, seed: u32, children: u32) -> String {
    let list: String = s.fuzz.iter().map(|n| format!(" -c {n}")).collect();
    format!(
        r#"# made by cargo xtask fuzz
# The heartbeat: xtask fails the run when these lines stop. It ignores the
# terminal-stop signals so that nothing done to the console can stop it.
trap '' TTOU TTIN
(
    trap '' TTOU TTIN
    n=0
    while :; do
        n=$((n + 1))
        {{ read -r _ total _; read -r _ free _; }} < /proc/meminfo
        echo "fuzz: heartbeat $n, MemFree $free kB"
        sleep {HEARTBEAT_EVERY}
    done
) &
heartbeat=$!
# trinity's files (its test files, what its calls create) go to a tmpfs of their
# own, as on a Linux machine where they would be on a disk or a sized tmpfs:
# fallocate or sendfile of gigabytes then ends in ENOSPC there, not in the root
# ramfs with all of memory.
mkdir -p /tmp/fuzz && mount -t tmpfs -o size={TMPFS_SIZE} tmpfs /tmp/fuzz &&
    chown {FUZZ_UID}:{FUZZ_UID} /tmp/fuzz && cd /tmp/fuzz || exit 1
echo "fuzz: memory before: $(free | awk 'NR==2 {{print $3 " KiB used of " $2}}')"
echo "fuzz: trinity starts"
setsid su fuzz -s /bin/sh -c 'exec trinity -a 64 -N {calls} -s {seed} -C {children} -l off --stats --disable-fds=memfd{list}'
echo "fuzz: trinity exited with status $?"
kill $heartbeat
# trinity's children outlive it if it is killed; they must all be gone (SIGKILL
# must work) before the memory check.
echo "fuzz: trinity processes left: $(ps | grep -c '[t]rinity')"
su fuzz -s /bin/sh -c 'kill -9 -1' 2>/dev/null
sleep 1
echo "fuzz: trinity processes left after kill -9: $(ps | grep -c '[t]rinity')"
# What trinity left in memory once its files are gone: kernel memory it leaked.
cd / && umount /tmp/fuzz
echo "fuzz: memory after (trinity's files removed): $(free | awk 'NR==2 {{print $3 " KiB used of " $2}}')"
echo "fuzz: the shell still answers: $(/bin/busybox expr 6 '*' 7)"
"#
    )
}

/// The console lines xtask looks for (some written by the script above).
const HEARTBEAT: &str = "fuzz: heartbeat ";
const ANSWER: &str = "fuzz: the shell still answers: 42";
const TRINITY_EXIT: &str = "fuzz: trinity exited with status ";
const TRINITY_START: &str = "fuzz: trinity starts";
const LEFT_AFTER_KILL: &str = "fuzz: trinity processes left after kill -9: ";
/// kernel/src/panic.rs starts every report with this ("!!! KERNEL PANIC: ..."), or
/// with the second when the report itself fails; the third is the report's last line.
const PANIC: &str = "KERNEL PANIC";
const PANIC_AGAIN: &str = "panic while panicking";
const PANIC_END: &str = "Kestrel halted";
/// kernel/src/watchdog.rs logs a CPU that ran no executor pass for 2 s with
/// this (and its return after): shown as the run goes, the backtrace is in the
/// serial log. Not a failure by itself: a long fork's page-table copy under
/// TCG can take that long (docs/reliability.md, "Known gaps").
const LOCKUP: &str = "watchdog: CPU";
/// kernel/src/power.rs, when init exits.
const INIT_EXIT: &str = "kestrel: init exited with status ";

/// How the boot ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    /// QEMU exited by itself (status).
    Exited(Option<i32>),
    /// No heartbeat, nor anything from trinity, for this long.
    NoHeartbeat(Duration),
    /// No heartbeat for this long while trinity went on printing.
    HeartbeatLost(Duration),
    /// trinity printed nothing for this long while the heartbeat went on.
    Stalled(Duration),
    /// The run took longer than its limit.
    TimedOut(Duration),
}

/// What the serial console showed.
#[derive(Default)]
struct Seen {
    tail: VecDeque<String>,
    /// The panic report's lines.
    panic: Vec<String>,
    /// Per trinity child: (pid, the last call it started, as trinity printed it).
    last_call: BTreeMap<u32, (u32, String)>,
    heartbeats: u32,
    /// The longest wait between two heartbeats.
    max_gap: Duration,
    /// The guest's MemFree (kB) at the last heartbeat, and the lowest seen.
    last_free: Option<u64>,
    min_free: Option<u64>,
    /// From trinity's "[main] N iterations." progress lines.
    progress: u64,
    /// Calls the children were seen to start.
    started: u64,
    /// From "[main] Ran N syscalls. Successes: S  Failures: F".
    ran: Option<(u64, u64, u64)>,
    trinity_started: Option<Instant>,
    trinity_ended: Option<Instant>,
    trinity_status: Option<i32>,
    answered: bool,
    /// trinity's processes still there after `kill -9 -1` as its user.
    unkillable: u32,
    init_status: Option<i32>,
    /// trinity's "[main]" lines after start-up (exit reasons and such).
    main_lines: Vec<String>,
    /// Where the CPU was when the watchdog fired.
    cpu: Vec<String>,
    /// trinity's `--stats` at its exit: per call, attempts, successes, and the
    /// errors (strerror text, count).
    stats: BTreeMap<String, CallStats>,
    /// The call whose error lines come next in the stats.
    stats_of: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct CallStats {
    attempted: u64,
    succeeded: u64,
    errors: Vec<(String, u64)>,
}

impl Seen {
    /// Notes the calls trinity's children start in `line`. A child prints
    /// "[childN:PID] [OP] name(args) " before the call and "= result" after it;
    /// the children's output can interleave on one line.
    fn note_calls(&mut self, line: &str) {
        let mut rest = line;
        while let Some(i) = rest.find("[child") {
            rest = &rest[i..];
            let next = rest[1..].find("[child").map_or(rest.len(), |j| j + 1);
            let seg = &rest[..next];
            rest = &rest[next..];
            let Some((head, call)) = seg.split_once("] ") else {
                continue;
            };
            let Some((child, pid)) = head.trim_start_matches("[child").split_once(':') else {
                continue;
            };
            if !call.starts_with('[') {
                continue; // not a call: the child's notes on objects it made
            }
            if let (Ok(child), Ok(pid)) = (child.parse(), pid.parse()) {
                self.started += 1;
                self.last_call
                    .insert(child, (pid, call.trim_end().to_string()));
            }
        }
    }

    /// trinity's `--stats` lines: "NAME: (attempted:N. success:N. failures:N."
    /// then "    strerror text: N" per error.
    fn note_stats(&mut self, line: &str) {
        if let Some((name, rest)) = line.split_once(": (attempted:") {
            let nums: Vec<u64> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect();
            if let [attempted, succeeded, _failed] = nums[..] {
                self.stats.insert(
                    name.to_string(),
                    CallStats {
                        attempted,
                        succeeded,
                        errors: Vec::new(),
                    },
                );
                self.stats_of = Some(name.to_string());
                return;
            }
        }
        if let (Some(name), Some(err)) = (&self.stats_of, line.strip_prefix("    "))
            && let Some((text, n)) = err.rsplit_once(": ")
            && let Ok(n) = n.trim().parse()
            && let Some(st) = self.stats.get_mut(name)
        {
            st.errors.push((text.to_string(), n));
            return;
        }
        self.stats_of = None;
    }

    fn note(&mut self, line: &str, now: Instant) {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
        if !self.panic.is_empty() || line.contains(PANIC) || line.contains(PANIC_AGAIN) {
            // The report runs from its first line to "Kestrel halted".
            if self.panic.last().is_none_or(|l| !l.contains(PANIC_END)) {
                let from = line.find("!!!").unwrap_or(0);
                self.panic.push(line[from..].to_string());
            }
        }
        if line.contains("[child") {
            self.note_calls(line);
        }
        if let Some(rest) = line.strip_prefix("[main] ") {
            if let Some(n) = rest
                .split(" iterations.")
                .next()
                .and_then(|n| n.parse().ok())
            {
                self.progress = n;
            }
            if let Some(r) = rest.strip_prefix("Ran ") {
                // "Ran 3000 syscalls. Successes: 968  Failures: 2025"
                let nums: Vec<u64> = r
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|w| w.parse().ok())
                    .collect();
                if let [n, s, f] = nums[..] {
                    self.ran = Some((n, s, f));
                }
            }
            if self.progress > 0 || self.ran.is_some() {
                self.main_lines.push(line.to_string());
            }
        }
        self.note_stats(line);
        if line.starts_with(TRINITY_START) {
            self.trinity_started = Some(now);
        }
        if let Some(s) = line.strip_prefix(TRINITY_EXIT) {
            self.trinity_ended = Some(now);
            self.trinity_status = s.trim().parse().ok();
        }
        if let Some(n) = line.strip_prefix(LEFT_AFTER_KILL) {
            self.unkillable = n.trim().parse().unwrap_or(0);
        }
        if line.starts_with(ANSWER) {
            self.answered = true;
        }
        if let Some(s) = line.strip_prefix(INIT_EXIT) {
            self.init_status = s.split_whitespace().next().and_then(|s| s.parse().ok());
        }
    }

    /// Whether the line is worth showing as the run goes.
    fn show(line: &str) -> bool {
        (line.starts_with("fuzz: ") && !line.starts_with(HEARTBEAT))
            || (line.starts_with("[main] ")
                && (line.contains(" iterations.")
                    || line.contains("Ran ")
                    || line.contains("Reached limit")
                    || line.contains("Bailing")
                    || line.contains("exit")))
            || line.contains(PANIC)
            || line.contains(LOCKUP)
    }
}

/// Streams QEMU's serial output into `log` and `seen`, echoing the interesting lines,
/// and kills QEMU when the watchdog or the time limit says so.
fn watch(
    mut child: Child,
    log: &mut BufWriter<File>,
    seen: &mut Seen,
    limit: Duration,
    monitor: (&Path, &Path),
) -> Result<End, String> {
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
    let start = Instant::now();
    // The heartbeat starts with the script, after the boot; count from the start.
    let mut last_beat = start;
    let mut last_trinity = start;
    let end = loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => {
                let now = Instant::now();
                writeln!(log, "{line}").map_err(|e| e.to_string())?;
                if let Some(i) = line.find(HEARTBEAT) {
                    // "fuzz: heartbeat 7, MemFree 123456 kB"
                    if let Some(kb) = line[i..]
                        .split("MemFree ")
                        .nth(1)
                        .and_then(|r| r.split(' ').next())
                        .and_then(|n| n.parse::<u64>().ok())
                    {
                        seen.min_free = Some(seen.min_free.map_or(kb, |m| m.min(kb)));
                        seen.last_free = Some(kb);
                    }
                    if seen.heartbeats > 0 {
                        seen.max_gap = seen.max_gap.max(now - last_beat);
                    }
                    seen.heartbeats += 1;
                    last_beat = now;
                } else if line.contains("[child") || line.starts_with("[main]") {
                    last_trinity = now;
                }
                seen.note(&line, now);
                if Seen::show(&line) {
                    println!("{line}");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map_err(|e| e.to_string())?;
                break End::Exited(status.code());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        // After a panic report QEMU exits by itself; let it finish the report.
        if !seen.panic.is_empty() {
            continue;
        }
        if now - last_beat > HEARTBEAT_LIMIT {
            // A hung kernel stops everything; a heartbeat that stops alone was killed
            // or is blocked while the rest of the system goes on.
            if now - last_trinity < HEARTBEAT_LIMIT / 3 {
                break End::HeartbeatLost(now - last_beat);
            }
            break End::NoHeartbeat(now - last_beat);
        }
        let running = seen.trinity_started.is_some() && seen.trinity_ended.is_none();
        if running && now - last_trinity.max(seen.trinity_started.unwrap_or(start)) > STALL_LIMIT {
            break End::Stalled(now - last_trinity);
        }
        if now - start > limit {
            break End::TimedOut(limit);
        }
    };
    if !matches!(end, End::Exited(_)) {
        seen.cpu = cpu_state(monitor.0, monitor.1);
        let _ = child.kill();
        let _ = child.wait();
        // The call a child was making when output stopped is printed without its
        // line end (the result comes after it): the reader hands it over at EOF.
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
            writeln!(log, "{line}").map_err(|e| e.to_string())?;
            seen.note(&line, Instant::now());
        }
        for l in &seen.cpu {
            writeln!(log, "xtask: cpu: {l}").map_err(|e| e.to_string())?;
        }
    }
    log.flush().map_err(|e| e.to_string())?;
    Ok(end)
}

/// A time limit for the whole boot: generous for TCG at its slowest.
fn time_limit(calls: u64) -> Duration {
    Duration::from_secs(120 + calls / 200)
}

fn new_seed() -> u32 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Any 31 bits will do (trinity parses the seed with strtol).
    ((t.as_secs() ^ u64::from(t.subsec_nanos()) ^ u64::from(std::process::id())) & 0x7fff_ffff)
        as u32
}

/// `cargo xtask fuzz`.
pub fn run(opts: &Opts) -> Result<u8, String> {
    deps::ensure_tools(deps::FUZZ_TOOLS)?;
    let p = &opts.fuzz;
    let calls = p.calls.unwrap_or(DEFAULT_CALLS);
    let seed = p.seed.unwrap_or_else(new_seed);
    let children = p.children.unwrap_or(DEFAULT_CHILDREN);
    if calls == 0 || children == 0 {
        return Err("--calls and --children must be at least 1".into());
    }
    let sel = select(p, opts.only.as_deref())?;

    let mut a = build::build_all(opts)?;
    let mut tree = initramfs::base()?;
    tree.add(
        "etc/passwd",
        Node::File(
            0o644,
            format!("root:x:0:0:root:/root:/bin/sh\nfuzz:x:{FUZZ_UID}:{FUZZ_UID}:trinity:/tmp/fuzz:/bin/sh\n")
                .into_bytes(),
        ),
    );
    tree.add(
        "etc/group",
        Node::File(
            0o644,
            format!("root:x:0:\nfuzz:x:{FUZZ_UID}:\n").into_bytes(),
        ),
    );
    let trinity = which("trinity")?;
    tree.add_host(&trinity, "/usr/bin/trinity")?;
    dynlib::add_needs(&mut tree, &trinity, "/usr/bin/trinity")?;
    initramfs::add_with(&mut tree, &opts.with)?;
    initramfs::add_cmd(&mut tree, &script(&sel, calls, seed, children));
    a.initramfs = Some(initramfs::write(&tree, "initramfs-fuzz.cpio")?);

    let (accel, why) = qemu::accelerator(opts);
    println!("xtask: accelerator: {accel} ({why})");
    println!(
        "xtask: trinity fuzzes {} of Kestrel's {} system calls",
        sel.fuzz.len(),
        sel.fuzz.len() + sel.avoided.len() + sel.unknown.len() + sel.excluded.len() + sel.left_out
    );
    if !sel.avoided.is_empty() {
        println!(
            "xtask: not fuzzed, trinity avoids them: {}",
            sel.avoided.join(" ")
        );
    }
    if !sel.unknown.is_empty() {
        println!(
            "xtask: not fuzzed, trinity does not know them: {}",
            sel.unknown.join(" ")
        );
    }
    for (name, why) in &sel.excluded {
        println!("xtask: not fuzzed: {name} ({why})");
    }
    let log_path = out_dir().join("fuzz-serial.log");
    println!(
        "xtask: trinity: {calls} calls, seed {seed}, {children} children; serial log in {}",
        log_path.display()
    );

    let mut cmd = qemu::command(
        opts,
        &a,
        &Boot::Direct {
            cmdline: qemu::cmdline(opts, "quiet"),
        },
    );
    let monitor = out_dir().join("fuzz-monitor.sock");
    let _ = std::fs::remove_file(&monitor);
    cmd.args(["-display", "none", "-serial", "stdio", "-monitor"])
        .arg(format!("unix:{},server=on,wait=off", monitor.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let child = cmd.spawn().map_err(|e| format!("cannot start qemu: {e}"))?;
    let mut log = BufWriter::new(
        File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?,
    );
    let mut seen = Seen::default();
    let started = Instant::now();
    let end = watch(
        child,
        &mut log,
        &mut seen,
        time_limit(calls),
        (&monitor, &a.symbols),
    )?;
    let _ = std::fs::remove_file(&monitor);
    let wall = started.elapsed();
    Ok(report(&Run {
        calls,
        seed,
        children,
        params: p,
        only: opts.only.as_deref(),
        fuzzed: &sel.fuzz,
        log: log_path,
        end,
        wall,
        seen: &seen,
    }))
}

fn which(cmd: &str) -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(cmd))
                .find(|f| f.is_file())
        })
        .ok_or_else(|| format!("{cmd} is not on PATH"))
}

struct Run<'a> {
    calls: u64,
    seed: u32,
    children: u32,
    params: &'a Params,
    only: Option<&'a str>,
    /// trinity's names of the calls it was given.
    fuzzed: &'a [String],
    log: PathBuf,
    end: End,
    wall: Duration,
    seen: &'a Seen,
}

/// Prints the verdict; returns the exit status.
fn report(r: &Run) -> u8 {
    let s = r.seen;
    let fuzz_time = match (s.trinity_started, s.trinity_ended) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let made = s
        .ran
        .map(|(n, _, _)| n)
        .unwrap_or(s.progress.max(s.started));
    if let Some((n, ok, failed)) = s.ran {
        let t = fuzz_time.unwrap_or(r.wall).as_secs_f64();
        println!(
            "xtask: trinity made {n} system calls in {t:.1} s ({:.0} calls/s): {ok} succeeded, {failed} failed",
            n as f64 / t.max(0.001)
        );
    }
    if !s.stats.is_empty() {
        let never: Vec<&str> = r
            .fuzzed
            .iter()
            .filter(|n| s.stats.get(*n).is_none_or(|st| st.attempted == 0))
            .map(|n| n.as_str())
            .collect();
        let failing: Vec<String> = s
            .stats
            .iter()
            .filter(|(_, st)| st.attempted > 0 && st.succeeded == 0)
            .map(|(n, st)| {
                let top = st.errors.iter().max_by_key(|(_, c)| *c);
                match top {
                    Some((e, c)) => format!("{n} ({e} {}%)", c * 100 / st.attempted),
                    None => n.clone(),
                }
            })
            .collect();
        println!(
            "xtask: trinity called {} of the {} system calls it was given",
            r.fuzzed.len() - never.len(),
            r.fuzzed.len()
        );
        if !never.is_empty() {
            println!("xtask: never called: {}", never.join(" "));
        }
        if !failing.is_empty() {
            println!(
                "xtask: never succeeded (their commonest error): {}",
                failing.join(", ")
            );
        }
    }
    println!(
        "xtask: {} heartbeats, the longest gap {:.1} s; wall time {:.1} s",
        s.heartbeats,
        s.max_gap.as_secs_f64(),
        r.wall.as_secs_f64()
    );
    if let (Some(last), Some(min)) = (s.last_free, s.min_free) {
        println!("xtask: guest MemFree {last} kB at the last heartbeat, {min} kB at the lowest");
    }
    let problem = if !s.panic.is_empty() || r.end == End::Exited(Some(qemu::EXIT_PANIC)) {
        Some(format!("Kestrel panicked after about {made} calls"))
    } else {
        match &r.end {
            End::NoHeartbeat(d) => Some(format!(
                "Kestrel stopped answering: no heartbeat for {:.0} s (after about {made} calls)",
                d.as_secs_f64()
            )),
            End::HeartbeatLost(d) => Some(format!(
                "the heartbeat (a root shell loop) stopped for {:.0} s while trinity went on, \
                 after about {made} calls: it was killed or is blocked (Kestrel kills whichever \
                 process faults when memory runs out; the lowest MemFree seen was {} kB)",
                d.as_secs_f64(),
                s.min_free.map_or("?".into(), |k| k.to_string())
            )),
            End::Stalled(d) => Some(format!(
                "trinity made no progress for {:.0} s while the heartbeat went on: a call never returns",
                d.as_secs_f64()
            )),
            End::TimedOut(d) => Some(format!(
                "the run did not finish within {:.0} s, though trinity went on (about {made} \
                 calls made; a call that blocks takes a second, until trinity's SIGALRM, so \
                 runs of such calls alone are slow: ask for fewer --calls)",
                d.as_secs_f64()
            )),
            End::Exited(status) => {
                if s.trinity_status.is_none() {
                    Some(match s.init_status {
                        Some(st) => format!(
                            "init exited with status {st} before trinity finished{}",
                            if st == 128 + 9 {
                                " (killed by SIGKILL: which trinity, an unprivileged user, \
                                 cannot send; Kestrel kills a process that runs out of memory)"
                            } else {
                                ""
                            }
                        ),
                        None => format!(
                            "Kestrel stopped before trinity finished (QEMU status {status:?})"
                        ),
                    })
                } else if s.trinity_status == Some(128 + 9) {
                    Some(format!(
                        "trinity was killed by SIGKILL after about {made} of {} calls: most \
                         likely by Kestrel's out-of-memory killer (the lowest MemFree seen was {} kB)",
                        r.calls,
                        s.min_free.map_or("?".into(), |k| k.to_string())
                    ))
                } else if s.trinity_status != Some(0) || s.ran.is_none_or(|(n, _, _)| n < r.calls) {
                    Some(format!(
                        "trinity stopped early (exit status {:?}, {made} of {} calls)",
                        s.trinity_status, r.calls
                    ))
                } else if s.unkillable > 0 {
                    Some(format!(
                        "{} of trinity's processes outlived SIGKILL",
                        s.unkillable
                    ))
                } else if !s.answered {
                    Some("the shell did not answer after trinity".to_string())
                } else if s.init_status != Some(0) || *status != Some(qemu::EXIT_SUCCESS) {
                    Some(format!(
                        "Kestrel did not power off cleanly (init status {:?}, QEMU status {status:?})",
                        s.init_status
                    ))
                } else {
                    None
                }
            }
        }
    };
    let Some(problem) = problem else {
        println!(
            "PASS fuzz: {made} calls (seed {}), no panic, no hang, the shell answered afterwards",
            r.seed
        );
        return 0;
    };
    println!("FAIL fuzz: {problem} (seed {})", r.seed);
    if !s.panic.is_empty() {
        println!("  the panic report:");
        for l in &s.panic {
            println!("    | {l}");
        }
    }
    if !s.cpu.is_empty() {
        println!("  where the CPU was (QEMU's monitor):");
        for l in &s.cpu {
            println!("    {l}");
        }
    }
    // A call whose result trinity has not printed was still being made, or was cut
    // off by trinity's SIGALRM (it prints no result then), or its result went to a
    // line of its own when the children's output interleaved.
    let open: Vec<_> = s
        .last_call
        .iter()
        .filter(|(_, (_, call))| !call.contains(") = "))
        .collect();
    if !open.is_empty() {
        println!(
            "  each trinity child's last call, where no result followed (the culprit is among them):"
        );
        for (child, (pid, call)) in open {
            println!("    child{child} (pid {pid}): {call}");
        }
    }
    for l in &s.main_lines {
        if !l.contains(" iterations.") {
            println!("  trinity: {l}");
        }
    }
    println!("  the last lines of the serial log:");
    for l in &s.tail {
        println!("    | {l}");
    }
    let mut again = format!(
        "cargo xtask fuzz --seed {} --calls {} --children {}",
        r.seed, r.calls, r.children
    );
    for x in &r.params.exclude {
        again.push_str(&format!(" --exclude {x}"));
    }
    if let Some(re) = r.only {
        again.push_str(&format!(" --only '{re}'"));
    }
    println!("  reproduce: {again}");
    println!("  (with one child, `--children 1`, trinity's calls follow from the seed alone)");
    println!("  the whole serial log: {}", r.log.display());
    1
}

/// Where the CPU is, read through QEMU's human monitor (a unix socket) when the
/// watchdog fires: the registers, and the kernel's frame-pointer chain (the kernel is
/// built with frame pointers), each address named from the kernel's symbol table.
fn cpu_state(sock: &Path, symbols: &Path) -> Vec<String> {
    match cpu_state_inner(sock, symbols) {
        Ok(lines) => lines,
        Err(e) => vec![format!("(could not ask QEMU's monitor: {e})")],
    }
}

fn cpu_state_inner(sock: &Path, symbols: &Path) -> Result<Vec<String>, String> {
    let mut m = UnixStream::connect(sock).map_err(|e| e.to_string())?;
    m.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut ask = |cmd: &str| -> Result<String, String> {
        if !cmd.is_empty() {
            m.write_all(format!("{cmd}\n").as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&out).ends_with("(qemu) ") {
            let n = m.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the monitor closed".into());
            }
            out.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    ask("")?; // the banner and the first prompt
    // Stop the CPU so that the registers and the stack agree.
    ask("stop")?;
    // Every CPU: `info cpus` lists them ("* CPU #0: ..."), `cpu N` selects one.
    let cpus = ask("info cpus")?
        .lines()
        .filter(|l| l.contains("CPU #"))
        .count()
        .max(1);
    let syms = Symbols::load(symbols);
    let mut out = Vec::new();
    for cpu in 0..cpus {
        ask(&format!("cpu {cpu}"))?;
        if cpus > 1 {
            out.push(format!("CPU {cpu}:"));
        }
        out.extend(one_cpu(&mut ask, &syms)?);
    }
    Ok(out)
}

/// The registers and kernel backtrace of the monitor's current CPU.
fn one_cpu(
    ask: &mut dyn FnMut(&str) -> Result<String, String>,
    syms: &Symbols,
) -> Result<Vec<String>, String> {
    let regs = ask("info registers")?;
    let reg = |name: &str| -> Option<u64> {
        let at = regs.find(&format!("{name}="))? + name.len() + 1;
        u64::from_str_radix(regs.get(at..at + 16)?, 16).ok()
    };
    let mut out = Vec::new();
    let (Some(rip), Some(rbp)) = (reg("RIP"), reg("RBP")) else {
        return Err(format!("no RIP/RBP in: {regs}"));
    };
    let cpl = regs
        .find("CPL=")
        .and_then(|i| regs.get(i + 4..i + 5))
        .unwrap_or("?");
    let halted = regs.contains("HLT=1");
    out.push(format!(
        "CPL {cpl}{}, RIP {rip:#018x} {}",
        if halted {
            " (halted: waiting for an interrupt)"
        } else {
            ""
        },
        syms.name(rip)
    ));
    for l in regs.lines() {
        let l = l.trim_end();
        if l.starts_with("RAX=") || l.starts_with("RSI=") || l.starts_with("R8 =") {
            out.push(l.to_string());
        }
    }
    if cpl == "0" {
        out.push("kernel backtrace (frame pointers):".into());
        let mut fp = rbp;
        for _ in 0..32 {
            if fp < 0xffff_8000_0000_0000 || fp % 8 != 0 {
                break;
            }
            let words = ask(&format!("x/2gx {fp:#x}"))?;
            // "ffffffff80412f40: 0xffffffff80412f80 0xffffffff8012345a"
            let vals: Vec<u64> = words
                .lines()
                .filter_map(|l| l.split_once(": "))
                .flat_map(|(_, v)| v.split_whitespace())
                .filter_map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
                .collect();
            let [next, ret, ..] = vals[..] else {
                break;
            };
            if ret == 0 {
                break;
            }
            out.push(format!("  {ret:#018x} {}", syms.name(ret)));
            fp = next;
        }
    }
    Ok(out)
}

/// The kernel's function symbols (`nm -n -C`, as xtask writes them for the kernel).
struct Symbols(Vec<(u64, String)>);

impl Symbols {
    fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut v: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.splitn(3, ' ');
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let _kind = it.next()?;
                Some((addr, it.next()?.to_string()))
            })
            .collect();
        v.sort_by_key(|(a, _)| *a);
        Self(v)
    }

    fn name(&self, addr: u64) -> String {
        let i = self.0.partition_point(|(a, _)| *a <= addr);
        match i.checked_sub(1).map(|i| &self.0[i]) {
            Some((a, n)) if addr >= 0xffff_8000_0000_0000 => format!("{n}+{:#x}", addr - a),
            _ => "(not in the kernel)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_child_output_gives_each_childs_last_call() {
        let mut s = Seen::default();
        let now = Instant::now();
        s.note(
            "[child0:8] [5] read(fd=3, buf=0x1, count=1) [child1:9] [7] getpid() = 9",
            now,
        );
        s.note("= 1", now);
        s.note("[child1:9] [8] execve(name=\"/proc/sys\", argv=0x5) ", now);
        assert_eq!(
            s.last_call.get(&0),
            Some(&(8, "[5] read(fd=3, buf=0x1, count=1)".to_string()))
        );
        assert_eq!(
            s.last_call.get(&1),
            Some(&(9, "[8] execve(name=\"/proc/sys\", argv=0x5)".to_string()))
        );
    }

    #[test]
    fn trinity_stats_are_read() {
        let mut s = Seen::default();
        let now = Instant::now();
        for l in [
            "64bit:",
            "read: (attempted:10. success:4. failures:6.",
            "    Bad file descriptor: 5",
            "    Bad address: 1",
            "mount: (attempted:3. success:0. failures:3.",
            "    Operation not permitted: 3",
            "[main] Ran 13 syscalls. Successes: 4  Failures: 9",
        ] {
            s.note(l, now);
        }
        assert_eq!(
            s.stats.get("read"),
            Some(&CallStats {
                attempted: 10,
                succeeded: 4,
                errors: vec![("Bad file descriptor".into(), 5), ("Bad address".into(), 1)],
            })
        );
        assert_eq!(
            s.stats["mount"].errors,
            vec![("Operation not permitted".into(), 3)]
        );
        assert_eq!(s.stats.len(), 2);
    }

    #[test]
    fn trinity_summary_and_panic_report_are_read() {
        let mut s = Seen::default();
        let now = Instant::now();
        s.note("[main] 10000 iterations. [F:1 S:2 HI:3]", now);
        s.note(
            "[main] Ran 3000 syscalls. Successes: 968  Failures: 2025",
            now,
        );
        s.note("[child3:11] [120] execve(name=\"/proc/sys\") ", now);
        s.note("!!! KERNEL PANIC: attempt to add with overflow", now);
        s.note("    at kernel/src/mm/vm.rs:1166:27", now);
        s.note("Kestrel halted: kernel panic (QEMU exit status 37)", now);
        s.note("after", now);
        assert_eq!(s.progress, 10000);
        assert_eq!(s.ran, Some((3000, 968, 2025)));
        assert_eq!(s.panic.len(), 3);
        assert!(s.panic[0].starts_with("!!! KERNEL PANIC"));
    }
}
