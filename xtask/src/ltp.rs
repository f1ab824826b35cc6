//! `cargo xtask ltp`: the Linux Test Project's syscall tests on Kestrel, and the
//! check of `cargo xtask test` that the tests listed in
//! `userland-tests/ltp/expected-pass.txt` still pass. See docs/ltp.md.
//!
//! The LTP tree (as LTP installs itself: `runtest/syscalls`, `testcases/bin/`, ...)
//! goes into the initramfs at /opt/ltp with the in-guest driver
//! (`userland-tests/tools/ltp-driver.c`), which runs each test with a timeout in a
//! fresh tmpfs and prints `@@ltp begin TAG` / `@@ltp end TAG STATUS EXIT SECONDS`
//! around its output. A kernel panic, a hung system (no output for the timeout and
//! a margin) or a boot that ends early is blamed on the test that was running, and
//! the run goes on after it on a fresh boot.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::build::{self, Artefacts, out_dir, root};
use crate::initramfs::{self, Node, Tree};
use crate::qemu::{self, Boot, EXIT_PANIC};
use crate::{Opts, userland};

/// The LTP tarball and Linux's results, beside the repository (`../shared/ltp`).
fn shared_dir() -> PathBuf {
    let dir = root().join("../shared/ltp");
    fs::canonicalize(&dir).unwrap_or(dir)
}

const TARBALL: &str = "ltp-syscalls-musl.tar.xz";
const LINUX_RESULTS: &str = "linux-6.1-results.tsv";

/// The pass list: one tag a line, kept sorted; it only grows.
pub fn expected_pass_path() -> PathBuf {
    root().join("userland-tests/ltp/expected-pass.txt")
}

/// Where an unpacked or built LTP tree is kept between runs.
fn cache_dir() -> PathBuf {
    out_dir().join("ltp")
}

/// Where the guest has the tree (LTPROOT).
const GUEST_ROOT: &str = "/opt/ltp";
/// The list of tests a boot runs (`tag command args...`).
const GUEST_LIST: &str = "/opt/ltp/kestrel-run";
const GUEST_DRIVER: &str = "/tests/tools/ltp-driver";

/// Silence after which the whole system is taken to hang: the driver prints a
/// line at each test's end, at the latest at its timeout; cleaning up after a
/// test takes a few seconds more at most.
const HANG_MARGIN: Duration = Duration::from_secs(30);

/// How to get an LTP tree when there is none.
const HOW_TO_GET_LTP: &str = "\
The syscall tests of the Linux Test Project are built as static musl programs:
  - with the prebuilt tarball: cargo xtask ltp --ltp PATH/ltp-syscalls-musl.tar.xz
    (the project keeps it in ../shared/ltp/ beside the repository)
  - with an installed LTP tree (LTPROOT, holding runtest/ and testcases/bin/):
    cargo xtask ltp --ltp DIR
  - from LTP's source (github.com/linux-test-project/ltp, tag 20260529):
    cargo xtask ltp --build SRC   (needs musl-tools linux-libc-dev autoconf automake
    pkg-config bison flex make; the tree is kept under target/kestrel/ltp/)";

/// One line of a runtest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    pub tag: String,
    /// The command and its arguments.
    pub argv: Vec<String>,
}

/// An LTP tree on the host.
#[derive(Debug)]
pub struct Ltp {
    pub dir: PathBuf,
    pub version: String,
    pub tests: Vec<Test>,
}

/// What finding the tree gave: none at all is not an error for `cargo xtask
/// test`, which then skips its LTP check.
#[derive(Debug)]
pub enum Found {
    Tree(Ltp),
    Missing(String),
}

/// Parses a runtest file: `tag command args...`, `#` comments, blank lines.
pub fn parse_runtest(text: &str) -> Result<Vec<Test>, String> {
    let mut tests = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace().map(str::to_string);
        let tag = words.next().expect("a non-empty line has a word");
        let argv: Vec<String> = words.collect();
        if argv.is_empty() {
            return Err(format!("line {}: {tag:?} has no command", n + 1));
        }
        tests.push(Test { tag, argv });
    }
    Ok(tests)
}

/// The LTP exit status as a word, as the driver and Linux's results give it: 0
/// PASS; TFAIL (1) FAIL; else TBROK (2) BROK; else TWARN (4) FAIL; TCONF (32)
/// alone CONF; anything that is not made of those bits (127, 128 + a signal) BROK.
pub fn status_of(code: i32) -> &'static str {
    match code {
        0 => "PASS",
        c if c & !(1 | 2 | 4 | 32) != 0 => "BROK",
        c if c & 1 != 0 => "FAIL",
        c if c & 2 != 0 => "BROK",
        c if c & 4 != 0 => "FAIL",
        _ => "CONF",
    }
}

/// Checks that `dir` is an LTP tree (or holds one as `ltp/`), with one error
/// saying what is wrong if not.
pub fn open_tree(dir: &Path) -> Result<Ltp, String> {
    let dir = if !dir.join("runtest").exists() && dir.join("ltp/runtest").exists() {
        dir.join("ltp")
    } else {
        dir.to_path_buf()
    };
    let d = dir.display();
    if !dir.is_dir() {
        return Err(format!("{d}: not a directory"));
    }
    let runtest = dir.join("runtest/syscalls");
    let text = fs::read_to_string(&runtest)
        .map_err(|e| format!("{d} is not an LTP tree: cannot read runtest/syscalls ({e})"))?;
    let tests =
        parse_runtest(&text).map_err(|e| format!("{d}: runtest/syscalls is damaged: {e}"))?;
    if tests.is_empty() {
        return Err(format!("{d}: runtest/syscalls lists no test"));
    }
    let bin = dir.join("testcases/bin");
    if !bin.is_dir() {
        return Err(format!("{d} is not an LTP tree: no testcases/bin/"));
    }
    // Every program there must look like one: a truncated unpack leaves files
    // that are not, and each would fail on its own in the guest.
    let mut present = 0;
    let mut damaged = Vec::new();
    for t in &tests {
        let p = bin.join(&t.argv[0]);
        let Ok(mut f) = fs::File::open(&p) else {
            continue;
        };
        present += 1;
        let mut head = [0u8; 4];
        let ok = std::io::Read::read_exact(&mut f, &mut head).is_ok()
            && (head == *b"\x7fELF" || head[..2] == *b"#!");
        if !ok && !damaged.contains(&t.argv[0]) {
            damaged.push(t.argv[0].clone());
        }
    }
    if present == 0 {
        return Err(format!(
            "{d}: none of the programs runtest/syscalls names is in testcases/bin/"
        ));
    }
    if !damaged.is_empty() {
        return Err(format!(
            "{d} is damaged: {} programs in testcases/bin/ are not executables (first: {})",
            damaged.len(),
            damaged[0]
        ));
    }
    let version = fs::read_to_string(dir.join("Version"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Ok(Ltp {
        dir,
        version,
        tests,
    })
}

/// Unpacks `tarball` into `cache` (once per tarball: its path, size and mtime
/// are the key) and opens it.
fn unpack_to(tarball: &Path, cache: &Path) -> Result<Ltp, String> {
    let meta = fs::metadata(tarball).map_err(|e| format!("{}: {e}", tarball.display()))?;
    let key = format!(
        "{} {} {}",
        fs::canonicalize(tarball)
            .unwrap_or_else(|_| tarball.to_path_buf())
            .display(),
        meta.len(),
        meta.modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs())
    );
    let tree = cache.join("tree");
    let stamp = cache.join("tree.source");
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == key)
        && let Ok(ltp) = open_tree(&tree)
    {
        return Ok(ltp);
    }
    println!(
        "xtask: unpacking {} into {}",
        tarball.display(),
        tree.display()
    );
    let tmp = cache.join("unpack.tmp");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let out = Command::new("tar")
        .arg("-xf")
        .arg(tarball)
        .arg("-C")
        .arg(&tmp)
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&tmp);
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{}: cannot unpack it, is it damaged? ({})",
            tarball.display(),
            why.lines().next().unwrap_or("tar failed").trim()
        ));
    }
    let ltp = open_tree(&tmp)
        .map_err(|e| format!("{} holds no usable LTP tree: {e}", tarball.display()))?;
    let inner = ltp.dir.clone();
    let _ = fs::remove_dir_all(&tree);
    let _ = fs::remove_file(&stamp);
    fs::rename(&inner, &tree).map_err(|e| format!("{}: {e}", tree.display()))?;
    let _ = fs::remove_dir_all(&tmp);
    fs::write(&stamp, format!("{key}\n")).map_err(|e| e.to_string())?;
    open_tree(&tree)
}

/// Finds the LTP tree: `--ltp DIR|TARBALL`, else the project's tarball in
/// `../shared/ltp/`, else one unpacked or built before under target/.
pub fn find(given: Option<&Path>) -> Result<Found, String> {
    find_in(given, &shared_dir(), &cache_dir())
}

fn find_in(given: Option<&Path>, shared: &Path, cache: &Path) -> Result<Found, String> {
    if let Some(p) = given {
        let shown = p.display();
        let meta = fs::metadata(p).map_err(|e| format!("--ltp {shown}: {e}"))?;
        let ltp = if meta.is_dir() {
            open_tree(p)
        } else {
            unpack_to(p, cache)
        };
        return ltp
            .map(Found::Tree)
            .map_err(|e| format!("--ltp {shown}: {e}"));
    }
    let tarball = shared.join(TARBALL);
    if tarball.is_file() {
        return unpack_to(&tarball, cache).map(Found::Tree);
    }
    let tree = cache.join("tree");
    if tree.exists() {
        return open_tree(&tree).map(Found::Tree);
    }
    Ok(Found::Missing(format!(
        "no LTP tree: neither {} nor {}",
        tarball.display(),
        tree.display()
    )))
}

/// Linux's results for the same tests: tag → status.
fn linux_results(ltp: &Ltp) -> Option<BTreeMap<String, String>> {
    let candidates = [
        shared_dir().join(LINUX_RESULTS),
        ltp.dir.join(LINUX_RESULTS),
        ltp.dir.join("..").join(LINUX_RESULTS),
    ];
    let text = candidates.iter().find_map(|p| fs::read_to_string(p).ok())?;
    Some(
        text.lines()
            .skip_while(|l| l.starts_with("tag"))
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((f.next()?.to_string(), f.next()?.to_string()))
            })
            .collect(),
    )
}

/// The tests the pass list names as flaky (`# flaky: TAG why`): passing, but
/// not reliably, so not listed.
pub fn read_flaky() -> BTreeSet<String> {
    fs::read_to_string(expected_pass_path())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("# flaky: "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The tags in the pass list.
pub fn read_expected() -> Result<BTreeSet<String>, String> {
    let path = expected_pass_path();
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// A test's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub tag: String,
    /// PASS, FAIL, BROK, CONF, TIMEOUT; or, for the whole system, PANIC (the
    /// kernel panicked), HANG (no output at all), LOST (the boot ended).
    pub status: String,
    pub exit: i32,
    pub secs: f64,
    /// The line of the test's output that says why, if any.
    pub why: String,
}

/// The first line of `log` that tells why a test did not pass.
fn reason(status: &str, log: &[String]) -> String {
    let keys: &[&str] = match status {
        "PASS" => return String::new(),
        "CONF" => &["TCONF"],
        "PANIC" => &["KERNEL PANIC", "PANIC", "in kernel mode"],
        _ => &["TFAIL", "TBROK", "TWARN", "ltp-driver:", "TCONF"],
    };
    let line = keys
        .iter()
        .find_map(|k| log.iter().find(|l| l.contains(k)))
        .map(|l| strip_ansi(l))
        .unwrap_or_default();
    let line = line.trim();
    match line.char_indices().nth(160) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A marker the driver prints, found anywhere in a console line.
#[derive(Debug, PartialEq)]
enum Marker<'a> {
    Begin(&'a str),
    End(&'a str, &'a str, i32, f64),
    Done,
    Other,
}

fn marker(line: &str) -> Option<Marker<'_>> {
    let at = line.find("@@ltp ")?;
    let mut w = line[at + 6..].split_whitespace();
    Some(match w.next()? {
        "begin" => Marker::Begin(w.next()?),
        "end" => {
            let tag = w.next()?;
            let status = w.next()?;
            let exit = w.next()?.parse().ok()?;
            let secs = w.next()?.parse().ok()?;
            Marker::End(tag, status, exit, secs)
        }
        "done" => Marker::Done,
        _ => Marker::Other,
    })
}

/// How one run of the driver is set up.
pub struct Plan {
    pub timeout: u64,
    /// Print each test's line as it ends.
    pub verbose: bool,
    /// Where each test's output is written (`TAG.log`).
    pub logs: PathBuf,
}

/// /etc/passwd and /etc/group with the users and groups LTP looks up
/// (`nobody`, `bin`, `daemon`), as a Debian system has them.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";
const GROUP: &str = "root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
users:x:100:
nogroup:x:65534:
";

/// The initramfs of an LTP run: busybox, the driver, and of the tree the files
/// the selected tests need: their programs, and every program of testcases/bin/
/// that no runtest line names (helpers the tests run: `*_child`, `tst_*`, ...).
fn make_tree(ltp: &Ltp, selected: &[Test]) -> Result<Tree, String> {
    let mut t = initramfs::base()?;
    t.add("etc/passwd", Node::File(0o644, PASSWD.as_bytes().to_vec()));
    t.add("etc/group", Node::File(0o644, GROUP.as_bytes().to_vec()));
    let driver = userland::build_tool("ltp-driver")?;
    t.add_host(&driver, GUEST_DRIVER)?;
    let bin = ltp.dir.join("testcases/bin");
    let commands: BTreeSet<&str> = ltp.tests.iter().map(|t| t.argv[0].as_str()).collect();
    let wanted: BTreeSet<&str> = selected.iter().map(|t| t.argv[0].as_str()).collect();
    let mut entries: Vec<_> = fs::read_dir(&bin)
        .map_err(|e| format!("{}: {e}", bin.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if commands.contains(name.as_str()) && !wanted.contains(name.as_str()) {
            continue;
        }
        t.add_host(&e.path(), &format!("{GUEST_ROOT}/testcases/bin/{name}"))?;
    }
    // Tests that need a block device make a file system on a loop device with
    // `mkfs.<type>` (tst_mkfs.c): e2fsprogs' mkfs.ext2, as on a Linux host
    // (busybox's mke2fs refuses other names). ext2 is the default type
    // (tst_dev_fs_type) and the only disk file system Kestrel mounts.
    if let Ok(mkfs) = fs::canonicalize(crate::ext2::tool("mkfs.ext2")) {
        t.add_host(&mkfs, "/usr/sbin/mkfs.ext2")?;
        crate::dynlib::add_needs(&mut t, &mkfs, "/usr/sbin/mkfs.ext2")?;
        if Path::new("/etc/mke2fs.conf").is_file() {
            t.add_host(Path::new("/etc/mke2fs.conf"), "/etc/mke2fs.conf")?;
        }
    }
    for extra in ["Version", "IDcheck.sh", "runtest", "testcases/data"] {
        let p = ltp.dir.join(extra);
        if p.exists() {
            t.add_host(&p, &format!("{GUEST_ROOT}/{extra}"))?;
        }
    }
    Ok(t)
}

/// Runs `tests` on Kestrel, on as many boots as panics and hangs make needed.
pub fn run_tests(
    opts: &Opts,
    a: &Artefacts,
    ltp: &Ltp,
    tests: &[Test],
    plan: &Plan,
) -> Result<Vec<Outcome>, String> {
    let mut tree = make_tree(ltp, tests)?;
    fs::create_dir_all(&plan.logs).map_err(|e| format!("{}: {e}", plan.logs.display()))?;
    let mut results: Vec<Outcome> = Vec::new();
    let mut next = 0;
    let mut boots = 0;
    while next < tests.len() {
        boots += 1;
        let rest = &tests[next..];
        let list: String = rest
            .iter()
            .map(|t| format!("{} {}\n", t.tag, t.argv.join(" ")))
            .collect();
        tree.add(
            GUEST_LIST.trim_start_matches('/'),
            Node::File(0o644, list.into_bytes()),
        );
        initramfs::add_cmd(
            &mut tree,
            &format!(
                "export LTPROOT={GUEST_ROOT} TMPDIR=/tmp LTP_COLORIZE_OUTPUT=0 \
                 PATH={GUEST_ROOT}/testcases/bin:$PATH\nexec {GUEST_DRIVER} {GUEST_LIST} {}",
                plan.timeout
            ),
        );
        let mut ba = a.clone();
        ba.initramfs = Some(initramfs::write(&tree, "initramfs-ltp.cpio")?);
        if boots > 1 && plan.verbose {
            println!(
                "xtask: boot {boots}: going on with {} tests from {}",
                rest.len(),
                rest[0].tag
            );
        }
        let before = results.len();
        let end = boot(opts, &ba, plan, &mut results)?;
        // Where the next boot starts: after the last test that ended, and after
        // the one the boot ended in.
        let done: BTreeSet<String> = results[before..].iter().map(|r| r.tag.clone()).collect();
        let mut advanced = 0;
        for t in rest {
            if done.contains(&t.tag) {
                advanced += 1;
            } else {
                break;
            }
        }
        match end {
            BootEnd::Done => {
                // Tests the driver skipped (it would not print nothing for a line,
                // but be safe): lost.
                for t in &rest[advanced..] {
                    if !done.contains(&t.tag) {
                        results.push(lost(t, "the driver finished without running it"));
                    }
                }
                break;
            }
            BootEnd::Stopped {
                status,
                tail,
                running,
            } => {
                let culprit = running
                    .as_deref()
                    .and_then(|tag| rest.iter().position(|t| t.tag == tag))
                    .unwrap_or(advanced.min(rest.len() - 1));
                // Tests before the culprit that the boot never reported (it should
                // not happen): lost too.
                for t in &rest[advanced..culprit] {
                    results.push(lost(t, "not reported"));
                }
                let t = &rest[culprit];
                let o = Outcome {
                    tag: t.tag.clone(),
                    status: status.to_string(),
                    exit: -1,
                    secs: 0.0,
                    why: if status == "PANIC" {
                        reason(status, &tail)
                    } else {
                        tail.last().cloned().unwrap_or_default()
                    },
                };
                let _ = fs::write(plan.logs.join(format!("{}.log", t.tag)), tail.join("\n"));
                print_outcome(plan, &o, None);
                if running.is_none() {
                    println!(
                        "xtask: the boot stopped ({status}) between tests, after {}",
                        results.last().map_or("none", |r| r.tag.as_str())
                    );
                }
                results.push(o);
                next += culprit + 1;
            }
        }
    }
    Ok(results)
}

fn lost(t: &Test, why: &str) -> Outcome {
    Outcome {
        tag: t.tag.clone(),
        status: "LOST".into(),
        exit: -1,
        secs: 0.0,
        why: why.into(),
    }
}

enum BootEnd {
    Done,
    /// PANIC, HANG or LOST, with the console's last lines and the test that was
    /// running.
    Stopped {
        status: &'static str,
        tail: Vec<String>,
        running: Option<String>,
    },
}

fn print_outcome(plan: &Plan, o: &Outcome, linux: Option<&str>) {
    if !plan.verbose {
        return;
    }
    let mut line = format!("{:<7} {:<24} {:>7.2} s", o.status, o.tag, o.secs);
    if let Some(l) = linux.filter(|l| *l != o.status) {
        line.push_str(&format!("  (Linux: {l})"));
    }
    if !o.why.is_empty() {
        line.push_str("  ");
        line.push_str(&o.why);
    }
    println!("{line}");
    let _ = std::io::stdout().flush();
}

/// One boot of the driver: streams the console, records each test's result and
/// output, and says how the boot ended.
fn boot(
    opts: &Opts,
    a: &Artefacts,
    plan: &Plan,
    results: &mut Vec<Outcome>,
) -> Result<BootEnd, String> {
    let mut cmd = qemu::command(
        opts,
        a,
        &Boot::Direct {
            cmdline: qemu::cmdline(opts, "quiet"),
        },
    );
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
    let linux = LINUX.get().cloned().flatten();
    let silence = Duration::from_secs(plan.timeout) + HANG_MARGIN;
    let mut last = Instant::now();
    let mut running: Option<String> = None;
    let mut log: Vec<String> = Vec::new();
    // The console's last lines, for a panic's report.
    let mut tail: Vec<String> = Vec::new();
    let mut done = false;
    let mut hung = false;
    let mut began = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => {
                last = Instant::now();
                tail.push(line.clone());
                if tail.len() > 60 {
                    tail.remove(0);
                }
                match marker(&line) {
                    Some(Marker::Begin(tag)) => {
                        began = true;
                        running = Some(tag.to_string());
                        log.clear();
                    }
                    Some(Marker::End(tag, status, exit, secs)) => {
                        // The driver's word for a timeout; otherwise the exit status
                        // read the way Linux's results were.
                        let status = if status == "TIMEOUT" {
                            status
                        } else {
                            status_of(exit)
                        };
                        let before = line[..line.find("@@ltp ").unwrap_or(0)].to_string();
                        if !before.is_empty() {
                            log.push(before);
                        }
                        let o = Outcome {
                            tag: tag.to_string(),
                            status: status.to_string(),
                            exit,
                            secs,
                            why: reason(status, &log),
                        };
                        let _ = fs::write(plan.logs.join(format!("{tag}.log")), log.join("\n"));
                        print_outcome(
                            plan,
                            &o,
                            linux.as_ref().and_then(|l| l.get(tag)).map(String::as_str),
                        );
                        results.push(o);
                        running = None;
                        log.clear();
                    }
                    Some(Marker::Done) => done = true,
                    Some(Marker::Other) => {}
                    None => {
                        if running.is_some() {
                            log.push(line);
                        }
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if last.elapsed() >= silence {
                    hung = true;
                    let _ = child.kill();
                    break;
                }
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if done {
        return Ok(BootEnd::Done);
    }
    if !began {
        // No test to blame: the boot itself is broken, and every boot would be.
        return Err(format!(
            "the boot ended before the LTP driver started a test (QEMU status {:?}{}); \
             its last lines:\n{}",
            status.code(),
            if hung { ", no output" } else { "" },
            tail.join("\n")
        ));
    }
    let what = if hung {
        "HANG"
    } else if status.code() == Some(EXIT_PANIC) {
        "PANIC"
    } else {
        "LOST"
    };
    if what == "HANG" {
        tail.push(format!(
            "xtask: no output for {} s: the system hangs",
            silence.as_secs()
        ));
    } else if what == "LOST" {
        tail.push(format!(
            "xtask: the boot ended without the driver's last line (QEMU status {:?})",
            status.code()
        ));
    }
    Ok(BootEnd::Stopped {
        status: what,
        tail,
        running,
    })
}

/// Linux's results, for the per-test lines (set once per run).
static LINUX: std::sync::OnceLock<Option<BTreeMap<String, String>>> = std::sync::OnceLock::new();

/// The guest memory a run needs: the initramfs is held twice while the kernel
/// unpacks it (the archive and the ramfs copy), and the tests want room of their
/// own (Linux's reference run had 2 GiB).
fn memory_for(opts: &Opts, archive: u64) -> String {
    if opts.mem_given {
        return opts.mem.clone();
    }
    let mib = (2 * archive / (1 << 20) + 1024).max(2048);
    let mib = mib.div_ceil(256) * 256;
    format!("{mib}M")
}

/// The size of the programs a run packs.
fn packed_bytes(ltp: &Ltp, selected: &[Test]) -> u64 {
    let commands: BTreeSet<&str> = ltp.tests.iter().map(|t| t.argv[0].as_str()).collect();
    let wanted: BTreeSet<&str> = selected.iter().map(|t| t.argv[0].as_str()).collect();
    fs::read_dir(ltp.dir.join("testcases/bin"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    !commands.contains(n.as_str()) || wanted.contains(n.as_str())
                })
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Writes the results as Linux's are: `tag status exit seconds`.
fn write_tsv(path: &Path, results: &[Outcome]) -> Result<(), String> {
    let mut s = String::from("tag\tstatus\texit\tsecs\n");
    for r in results {
        s.push_str(&format!(
            "{}\t{}\t{}\t{:.2}\n",
            r.tag, r.status, r.exit, r.secs
        ));
    }
    fs::write(path, s).map_err(|e| format!("{}: {e}", path.display()))
}

/// `cargo xtask ltp`.
pub fn run(opts: &Opts) -> Result<u8, String> {
    let started = Instant::now();
    let ltp = match &opts.ltp_build {
        Some(src) => build_from_source(src)?,
        None => match find(opts.ltp.as_deref())? {
            Found::Tree(l) => l,
            Found::Missing(why) => return Err(format!("{why}.\n{HOW_TO_GET_LTP}")),
        },
    };
    let only = match &opts.only {
        Some(re) => Some(regex::Regex::new(re).map_err(|e| {
            // regex's message draws the pattern over several lines; its last
            // line says what is wrong.
            let msg = e.to_string();
            let why = msg
                .lines()
                .last()
                .unwrap_or("")
                .trim_start_matches("error: ");
            format!("--only {re:?}: not a regular expression ({why})")
        })?),
        None => None,
    };
    let selected: Vec<Test> = ltp
        .tests
        .iter()
        .filter(|t| only.as_ref().is_none_or(|re| re.is_match(&t.tag)))
        .cloned()
        .collect();
    if selected.is_empty() {
        return Err(format!(
            "--only {:?} matches none of the {} tests of runtest/syscalls",
            opts.only.as_deref().unwrap_or(""),
            ltp.tests.len()
        ));
    }
    let linux = linux_results(&ltp);
    let _ = LINUX.set(linux.clone());
    let timeout = opts.timeout.unwrap_or(60);
    let a = build::build_all(opts)?;
    let mut o = opts.clone();
    o.mem = memory_for(opts, packed_bytes(&ltp, &selected));
    let (accel, why) = qemu::accelerator(opts);
    println!(
        "xtask: LTP {} from {}: {} of {} tests, {timeout} s each at most; guest memory {}, \
         {} CPU(s), {accel} ({why})",
        ltp.version,
        ltp.dir.display(),
        selected.len(),
        ltp.tests.len(),
        o.mem,
        o.smp
    );
    let logs = cache_dir().join("logs");
    let _ = fs::remove_dir_all(&logs);
    let plan = Plan {
        timeout,
        verbose: true,
        logs: logs.clone(),
    };
    let results = run_tests(&o, &a, &ltp, &selected, &plan)?;
    let tsv = cache_dir().join("results.tsv");
    write_tsv(&tsv, &results)?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok(summary(&results, linux.as_ref(), elapsed, &tsv, &logs))
}

/// Prints the counts, the comparison with Linux and what changed against the
/// pass list; 1 when a listed test did not pass or the system crashed.
fn summary(
    results: &[Outcome],
    linux: Option<&BTreeMap<String, String>>,
    elapsed: f64,
    tsv: &Path,
    logs: &Path,
) -> u8 {
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    println!();
    println!(
        "xtask: LTP finished in {:.0} min {:.0} s; results in {}, each test's output in {}/",
        (elapsed / 60.0).floor(),
        elapsed % 60.0,
        tsv.display(),
        logs.display()
    );
    let statuses = [
        "PASS", "FAIL", "BROK", "CONF", "TIMEOUT", "PANIC", "HANG", "LOST",
    ];
    let counts: Vec<String> = statuses
        .iter()
        .map(|s| (s, count(s)))
        .filter(|(s, n)| *n > 0 || ["PASS", "FAIL", "BROK", "CONF", "TIMEOUT"].contains(s))
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    println!("xtask: {} tests: {}", results.len(), counts.join(", "));
    if let Some(linux) = linux.filter(|l| results.iter().any(|r| l.contains_key(&r.tag))) {
        let linux_pass: Vec<&Outcome> = results
            .iter()
            .filter(|r| linux.get(&r.tag).is_some_and(|s| s == "PASS"))
            .collect();
        let both = linux_pass.iter().filter(|r| r.status == "PASS").count();
        let only_here: Vec<&str> = results
            .iter()
            .filter(|r| r.status == "PASS" && linux.get(&r.tag).is_some_and(|s| s != "PASS"))
            .map(|r| r.tag.as_str())
            .collect();
        let pct = if linux_pass.is_empty() {
            0.0
        } else {
            100.0 * both as f64 / linux_pass.len() as f64
        };
        println!(
            "xtask: Linux 6.1 passes {} of these tests; Kestrel passes {both} of them ({pct:.1}%)",
            linux_pass.len()
        );
        if !only_here.is_empty() {
            println!(
                "xtask: Kestrel also passes {} that Linux does not: {}",
                only_here.len(),
                only_here.join(" ")
            );
        }
    }
    for (what, label) in [
        ("PANIC", "kernel panics"),
        ("HANG", "system hangs"),
        ("LOST", "boots that ended early"),
    ] {
        for r in results.iter().filter(|r| r.status == what) {
            println!("xtask: {label}: {} ({})", r.tag, r.why);
        }
    }
    let mut code = u8::from(count("PANIC") + count("HANG") + count("LOST") > 0);
    match read_expected() {
        Ok(expected) => {
            let flaky = read_flaky();
            let newly: Vec<&str> = results
                .iter()
                .filter(|r| {
                    r.status == "PASS" && !expected.contains(&r.tag) && !flaky.contains(&r.tag)
                })
                .map(|r| r.tag.as_str())
                .collect();
            let flaky_passed: Vec<&str> = results
                .iter()
                .filter(|r| r.status == "PASS" && flaky.contains(&r.tag))
                .map(|r| r.tag.as_str())
                .collect();
            if !flaky_passed.is_empty() {
                println!(
                    "xtask: passed, but named flaky in the pass list (left out): {}",
                    flaky_passed.join(" ")
                );
            }
            let lost: Vec<String> = results
                .iter()
                .filter(|r| r.status != "PASS" && expected.contains(&r.tag))
                .map(|r| format!("{} ({})", r.tag, r.status))
                .collect();
            if !newly.is_empty() {
                println!(
                    "xtask: {} tests pass that {} does not list; add them in the same commit:",
                    newly.len(),
                    expected_pass_path().display()
                );
                for t in &newly {
                    println!("    {t}");
                }
            }
            if !lost.is_empty() {
                println!(
                    "xtask: {} listed tests no longer pass: {}",
                    lost.len(),
                    lost.join(", ")
                );
                code = 1;
            }
        }
        Err(e) => println!("xtask: no pass list to compare with ({e})"),
    }
    let total_pass = count("PASS");
    println!("{total_pass} passed, {} failed", results.len() - total_pass);
    code
}

/// The check of `cargo xtask test`: every test of the pass list passes, in one
/// boot with a short timeout each. Returns (passed, failed); prints a SKIP line
/// and counts nothing without an LTP tree.
pub fn check_expected(opts: &Opts, a: &Artefacts) -> Result<(u32, u32), String> {
    const NAME: &str = "ltp.expected_pass";
    let ltp = match find(None) {
        Ok(Found::Tree(l)) => l,
        Ok(Found::Missing(why)) => {
            println!("SKIP {NAME}: {why} (see docs/ltp.md)");
            return Ok((0, 0));
        }
        Err(e) => {
            println!("FAIL {NAME}: {e}");
            return Ok((0, 1));
        }
    };
    let expected = match read_expected() {
        Ok(e) => e,
        Err(e) => {
            println!("FAIL {NAME}: {e}");
            return Ok((0, 1));
        }
    };
    let tests: Vec<Test> = ltp
        .tests
        .iter()
        .filter(|t| expected.contains(&t.tag))
        .cloned()
        .collect();
    let mut failed = 0;
    for tag in &expected {
        if !tests.iter().any(|t| &t.tag == tag) {
            println!("FAIL ltp.{tag}: listed as passing but not in runtest/syscalls");
            failed += 1;
        }
    }
    let started = Instant::now();
    let mut o = opts.clone();
    o.mem = memory_for(opts, packed_bytes(&ltp, &tests));
    // 60 s, as `cargo xtask ltp`: a test run once per file system (fallocate05
    // fills each) takes 38-41 s under TCG on a quiet two-core host, past the
    // 30 s this used to allow. Only a test that fails waits that long.
    let plan = Plan {
        timeout: 60,
        verbose: false,
        logs: cache_dir().join("check-logs"),
    };
    let results = run_tests(&o, a, &ltp, &tests, &plan)?;
    let mut passed = 0;
    for r in &results {
        if r.status == "PASS" {
            passed += 1;
        } else {
            failed += 1;
            println!(
                "FAIL ltp.{}: {} (exit {}, {:.1} s) {}",
                r.tag, r.status, r.exit, r.secs, r.why
            );
        }
    }
    if failed == 0 {
        println!(
            "PASS {NAME}: the {passed} LTP tests of userland-tests/ltp/expected-pass.txt pass \
             ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }
    Ok((passed, failed))
}

/// Host tools the LTP build needs: (command, Debian package).
const BUILD_TOOLS: &[(&str, &str)] = &[
    ("musl-gcc", "musl-tools"),
    ("autoconf", "autoconf"),
    ("automake", "automake"),
    ("pkg-config", "pkg-config"),
    ("bison", "bison"),
    ("flex", "flex"),
    ("make", "make"),
    ("strip", "binutils"),
];

/// The recipe of ../shared/ltp/build-ltp.sh (see its README): LTP's syscall
/// tests as static musl programs, installed into `$PREFIX`. Arguments: SRC
/// PREFIX KH (a directory for the kernel UAPI headers) LOGS.
const BUILD_SCRIPT: &str = r#"
set -eu
SRC=$1 PREFIX=$2 KH=$3 LOGS=$4
JOBS=${JOBS:-2}
MAKE="nice -n 10 make -j$JOBS"
mkdir -p "$LOGS"
# musl-gcc does not see /usr/include: give it the kernel UAPI headers only.
rm -rf "$KH"; mkdir -p "$KH"
for d in linux asm-generic mtd rdma scsi sound video misc drm xen; do
    [ -d /usr/include/$d ] && ln -s /usr/include/$d "$KH/$d"
done
ln -s /usr/include/x86_64-linux-gnu/asm "$KH/asm"
cd "$SRC"
# LTP's own CI (ci/alpine.sh) drops these for musl.
rm -f testcases/kernel/syscalls/fmtmsg/fmtmsg01.c \
      testcases/kernel/syscalls/timer_create/timer_create01.c \
      testcases/kernel/syscalls/timer_create/timer_create03.c
DIRS="testcases/kernel/syscalls testcases/kernel/ipc/pipeio
      testcases/kernel/security/dirtyc0w testcases/kernel/security/dirtyc0w_shmem
      testcases/kernel/security/dirtypipe testcases/kernel/security/prot_hsymlinks
      tools/apicmds"
[ -x configure ] || $MAKE autotools
if [ ! -f include/mk/config.mk ] || [ "${RECONFIGURE:-0}" = 1 ]; then
    PKG_CONFIG_LIBDIR=/nonexistent ./configure \
        CC=musl-gcc \
        CFLAGS="-static -O2 -g0 -ffunction-sections -fdata-sections -isystem $KH -D_GNU_SOURCE" \
        LDFLAGS="-static -Wl,--gc-sections" \
        --prefix="$PREFIX" \
        --without-tirpc --without-numa --without-modules --without-expect --without-perl --without-python \
        > "$LOGS/configure.log" 2>&1 || { tail -30 "$LOGS/configure.log"; exit 1; }
    for d in lib libs testcases/lib $DIRS; do $MAKE -C $d -k clean > /dev/null 2>&1 || true; done
fi
$MAKE -C lib all
$MAKE -C libs all || true
$MAKE -C testcases/lib -k all || true
: > "$LOGS/make.log"
for d in $DIRS; do
    $MAKE -C $d -k all >> "$LOGS/make.log" 2>&1 || true
done
rm -rf "$PREFIX"; : > "$LOGS/install.log"
for d in $DIRS testcases/lib; do
    $MAKE -C $d -k install >> "$LOGS/install.log" 2>&1 || true
done
find "$PREFIX/testcases/bin" -type f -perm -u+x | while read -r f; do
    head -c4 "$f" | grep -q ELF && strip --strip-all "$f"
done
mkdir -p "$PREFIX/runtest" "$PREFIX/testcases/data"
cp runtest/syscalls "$PREFIX/runtest/"
cp -f IDcheck.sh "$PREFIX/" 2>/dev/null || true
echo "$(cat VERSION 2>/dev/null || echo unknown)" > "$PREFIX/Version"
grep -E "^make.*Error|error:" "$LOGS/make.log" > "$LOGS/errors.log" || true
echo "LTP: $(find "$PREFIX/testcases/bin" -type f -perm -u+x | wc -l) executables in $PREFIX/testcases/bin"
"#;

/// `cargo xtask ltp --build SRC`: builds LTP's syscall tests from an LTP source
/// tree into the cache under target/, where later runs find them. It follows
/// ../shared/ltp/build-ltp.sh step by step; it has not been run here (no LTP
/// source on the machine it was written on).
fn build_from_source(src: &Path) -> Result<Ltp, String> {
    if !src.join("configure.ac").is_file() {
        return Err(format!(
            "--build {}: not an LTP source tree (no configure.ac)\n{HOW_TO_GET_LTP}",
            src.display()
        ));
    }
    let src = fs::canonicalize(src).map_err(|e| format!("--build {}: {e}", src.display()))?;
    let missing: Vec<&str> = BUILD_TOOLS
        .iter()
        .filter(|(cmd, _)| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {cmd}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|(_, pkg)| *pkg)
        .collect();
    if !missing.is_empty() || !Path::new("/usr/include/linux/types.h").exists() {
        let mut pkgs: Vec<&str> = missing;
        pkgs.push("linux-libc-dev");
        return Err(format!(
            "building LTP needs host packages: apt-get install {}",
            pkgs.join(" ")
        ));
    }
    let cache = cache_dir();
    let prefix = cache.join("tree");
    let _ = fs::remove_file(cache.join("tree.source"));
    println!(
        "xtask: building LTP's syscall tests from {} into {} (logs in {})",
        src.display(),
        prefix.display(),
        cache.join("build-logs").display()
    );
    build::run(
        Command::new("sh")
            .args(["-c", BUILD_SCRIPT, "build-ltp"])
            .arg(&src)
            .arg(&prefix)
            .arg(cache.join("kheaders"))
            .arg(cache.join("build-logs")),
    )?;
    let ltp = open_tree(&prefix)?;
    fs::write(
        cache.join("tree.source"),
        format!("built from {}\n", src.display()),
    )
    .map_err(|e| e.to_string())?;
    Ok(ltp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtest_lines_are_tag_command_and_arguments() {
        let t = parse_runtest("# comment\n\nabort01 abort01\nfork06 fork_procs -n 1000\n").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].tag, "fork06");
        assert_eq!(t[1].argv, ["fork_procs", "-n", "1000"]);
        assert!(parse_runtest("lonely\n").is_err());
    }

    #[test]
    fn exit_bits_give_the_status_as_for_linux() {
        for (code, want) in [
            (0, "PASS"),
            (1, "FAIL"),
            (2, "BROK"),
            (6, "BROK"),
            (36, "FAIL"),
            (32, "CONF"),
            (127, "BROK"),
            (134, "BROK"),
        ] {
            assert_eq!(status_of(code), want, "{code}");
        }
    }

    #[test]
    fn markers_are_found_after_output_without_a_newline() {
        assert_eq!(
            marker("@@ltp begin abort01"),
            Some(Marker::Begin("abort01"))
        );
        assert_eq!(
            marker("no newline@@ltp end x01 FAIL 1 0.25"),
            Some(Marker::End("x01", "FAIL", 1, 0.25))
        );
        assert_eq!(marker("@@ltp done"), Some(Marker::Done));
        assert_eq!(marker("tst_test.c:1: TINFO"), None);
    }

    #[test]
    fn the_reason_is_the_first_failure_line_without_colours() {
        let log = vec![
            "tst_test.c:1: \x1b[1;34mTINFO: \x1b[0mhello".to_string(),
            "a.c:2: \x1b[1;31mTFAIL: \x1b[0mENOSYS".to_string(),
        ];
        assert_eq!(reason("FAIL", &log), "a.c:2: TFAIL: ENOSYS");
        assert_eq!(reason("PASS", &log), "");
    }

    #[test]
    fn the_pass_list_is_sorted_one_tag_a_line() {
        let text = fs::read_to_string(expected_pass_path()).unwrap();
        let tags: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        assert!(!tags.is_empty());
        for f in read_flaky() {
            assert!(!tags.contains(&f.as_str()), "{f} is listed and named flaky");
        }
        for w in tags.windows(2) {
            assert!(
                w[0] < w[1],
                "not sorted or repeated: {} then {}",
                w[0],
                w[1]
            );
        }
        for t in &tags {
            assert!(
                !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{t:?} is not a tag"
            );
        }
    }

    #[test]
    fn a_missing_or_damaged_tree_is_one_error() {
        let dir = std::env::temp_dir().join(format!("xtask-ltp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("runtest")).unwrap();
        let err = open_tree(&dir).unwrap_err();
        assert!(err.contains("not an LTP tree"), "{err}");
        fs::write(dir.join("runtest/syscalls"), "a01 a01\n").unwrap();
        let err = open_tree(&dir).unwrap_err();
        assert!(err.contains("no testcases/bin"), "{err}");
        fs::create_dir_all(dir.join("testcases/bin")).unwrap();
        fs::write(dir.join("testcases/bin/a01"), b"\x7fEL").unwrap();
        let err = open_tree(&dir).unwrap_err();
        assert!(err.contains("damaged"), "{err}");
        fs::write(dir.join("testcases/bin/a01"), b"\x7fELF....").unwrap();
        let ltp = open_tree(&dir).unwrap();
        assert_eq!(ltp.tests.len(), 1);
        let nowhere = dir.join("nowhere");
        assert!(matches!(
            find_in(None, &nowhere, &nowhere),
            Ok(Found::Missing(_))
        ));
        let err = find_in(Some(&nowhere), &nowhere, &nowhere).unwrap_err();
        assert!(err.starts_with("--ltp "), "{err}");
        let bad = dir.join("bad.tar.xz");
        fs::write(&bad, b"not a tarball").unwrap();
        let err = unpack_to(&bad, &dir.join("cache")).unwrap_err();
        assert!(err.contains("cannot unpack"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
