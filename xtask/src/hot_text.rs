//! `cargo xtask hot-text [--check] [--iterations N]`: which kernel functions the
//! common system calls and hand-offs run, written to `kernel/hot-text.txt`, the
//! symbol ordering file the kernel is linked with (kernel/build.rs).
//!
//! Why (docs/hot-paths.md, "Hot code on few pages"): under TCG, QEMU flushes its
//! whole software TLB and its jump cache at every CR3 write, so after a switch
//! between two processes every kernel code page touched costs a page walk, and
//! every jump to another page a hash-table lookup. Functions that run together
//! should sit on as few pages as possible.
//!
//! How: the release kernel boots under QEMU (TCG, one CPU, `-icount shift=0`, so
//! that a run does the same work whatever the host's load) with `-d exec,nochain`,
//! which logs every translated block executed, and runs `bench/hotload.c`: a
//! fixed number of iterations of each workload, each iteration starting with a
//! call to the workload's marker function. The log comes through a pipe (QEMU's
//! stderr; some 15 million lines for the whole run, never written to disk) and
//! is split at the markers; each iteration's kernel block addresses are mapped
//! to the kernel's function symbols. A function is hot when at least
//! [`HOT_SHARE`] of some workload's iterations run it. The list puts the hot
//! functions that most workloads run first (the entry and return paths, the
//! executor), those of the same workloads together, and the few very large ones
//! last (see [`Tally::order`]). The rest of the kernel follows them in the
//! linker's usual order. Before writing the list, the run estimates each
//! workload's pages with it ([`Tally::estimate`]), and with the committed one.
//!
//! The names are the mangled ones of the ELF symbol table. A legacy Rust name's
//! hash comes from the crate and the item, not the code, so the list outlives
//! most edits; a name with a `.llvm.N` suffix (a function LLVM made visible to
//! the crate's other codegen units) changes with the code of its unit. A
//! generic function or an async fn's future used from several codegen units is
//! compiled into each under the same name, and lld moves every copy, run or
//! not: the estimates count them, and the run says how much they weigh.
//! `--check` measures the kernel as it is and says how many hot functions the
//! committed list misses, without writing it.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Opts;
use crate::build::{self, root};
use crate::initramfs::{self, Node};
use crate::qemu::{self, Boot};

/// A function is hot when at least this share of one workload's iterations run it.
pub const HOT_SHARE: f64 = 0.02;

/// Functions larger than this go after the others: each spans several pages
/// anyway, of which an iteration touches a few, and in the middle of the list
/// they would push apart the small functions around them.
pub const LARGE: u64 = 16 * 1024;

/// Iterations of each workload unless `--iterations` says otherwise.
const ITERATIONS: u32 = 1000;

/// The first iterations of each workload are left out of the counts: the first
/// calls fault pages in and fill caches.
const WARM_UP_SHARE: f64 = 0.1;

/// Kernel addresses are in the top half.
const KERNEL_BASE: u64 = 0xffff_8000_0000_0000;

/// The committed list, relative to the workspace root.
pub const LIST: &str = "kernel/hot-text.txt";

/// Lines of the exec log that are not about a block run to its end: with
/// `-icount`, QEMU stops a chain of blocks when the instruction budget runs out,
/// and runs a block again when it touched a device (the block's `Trace` line is
/// then written twice, which the distinct counts do not see).
const QUIET: [&[u8]; 2] = [b"Stopped execution of TB chain", b"cpu_io_recompile"];

/// The longest the boot may take.
const LIMIT: Duration = Duration::from_secs(20 * 60);

/// The kernel's function symbols, by address.
#[derive(Debug, Default)]
pub struct Functions {
    /// (address, size, mangled name), sorted by address, one entry per address
    /// (aliases dropped); the size runs to the next symbol.
    syms: Vec<(u64, u64, String)>,
    /// Every name, aliases too → the functions of that name (a local function
    /// may have copies of the same name in several codegen units; lld moves
    /// them all).
    by_name: HashMap<String, Vec<u32>>,
}

impl Functions {
    /// From `nm -n` output (`ADDR TYPE NAME` lines); text symbols only.
    pub fn from_nm(text: &str) -> Self {
        let mut syms: Vec<(u64, u64, String)> = Vec::new();
        let mut names: Vec<(u64, String)> = Vec::new();
        for l in text.lines() {
            let mut w = l.split_whitespace();
            let (Some(a), Some(t), Some(name)) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(a, 16) else {
                continue;
            };
            // Code only, and the kernel's (not the linker script's physical addresses).
            if !matches!(t, "T" | "t" | "W" | "w") || addr < KERNEL_BASE {
                continue;
            }
            names.push((addr, name.to_string()));
            // One name per address: of aliases (functions LLVM merged), the first,
            // unless a later one has no `.llvm.N` suffix, which lasts longer.
            if let Some(last) = syms.last_mut()
                && last.0 == addr
            {
                if last.2.contains(".llvm.") && !name.contains(".llvm.") {
                    last.2 = name.to_string();
                }
                continue;
            }
            syms.push((addr, 0, name.to_string()));
        }
        syms.sort_by_key(|s| s.0);
        for i in 1..syms.len() {
            syms[i - 1].1 = syms[i].0 - syms[i - 1].0;
        }
        let mut f = Self {
            syms,
            by_name: HashMap::new(),
        };
        for (addr, name) in names {
            if let Some(i) = f.index(addr) {
                f.by_name.entry(name).or_default().push(i);
            }
        }
        f
    }

    /// The functions a list of names places, in its order.
    pub fn listed(&self, names: &[&str]) -> Vec<u32> {
        let mut seen = HashSet::new();
        names
            .iter()
            .flat_map(|n| self.by_name.get(*n).into_iter().flatten())
            .copied()
            .filter(|&i| seen.insert(i))
            .collect()
    }

    /// The index of the function containing `addr`: the last symbol at or below it
    /// (the assembly entry code's labels have no size).
    pub fn index(&self, addr: u64) -> Option<u32> {
        let i = self.syms.partition_point(|s| s.0 <= addr);
        i.checked_sub(1).map(|i| i as u32)
    }

    pub fn name(&self, i: u32) -> &str {
        &self.syms[i as usize].2
    }

    pub fn size(&self, i: u32) -> u64 {
        self.syms[i as usize].1
    }

    pub fn address(&self, i: u32) -> u64 {
        self.syms[i as usize].0
    }
}

/// What one iteration ran in the kernel.
#[derive(Debug, Default, Clone)]
pub struct Iteration {
    /// Translated blocks executed, user and kernel.
    pub blocks: u32,
    /// Distinct kernel blocks (start addresses).
    pub kernel_blocks: u32,
    /// Distinct kernel code pages (of the blocks' start addresses).
    pub kernel_pages: u32,
    /// The kernel functions run, as indices into [`Functions`], sorted.
    pub functions: Vec<u32>,
    /// The distinct kernel block addresses, sorted.
    pub pcs: Vec<u64>,
}

/// Splits the exec log into iterations at the marker addresses.
pub struct Tally<'a> {
    functions: &'a Functions,
    /// Marker address → workload index; `None` for `mark_end`.
    markers: HashMap<u64, Option<usize>>,
    pub names: Vec<String>,
    /// Per workload, its iterations in order.
    pub iterations: Vec<Vec<Iteration>>,
    current: Option<usize>,
    blocks: u32,
    pcs: Vec<u64>,
    /// Blocks executed outside any iteration (the boot, the set-ups).
    pub outside: u64,
    /// `Trace` lines read.
    pub lines: u64,
}

impl<'a> Tally<'a> {
    /// `markers`: (address, workload name) of each `mark_*` function, the name
    /// without `mark_`; `end` closes an iteration without opening one.
    pub fn new(functions: &'a Functions, markers: &[(u64, String)]) -> Self {
        let mut names = Vec::new();
        let mut map = HashMap::new();
        for (addr, name) in markers {
            if name == "end" {
                map.insert(*addr, None);
            } else {
                map.insert(*addr, Some(names.len()));
                names.push(name.clone());
            }
        }
        Self {
            functions,
            markers: map,
            iterations: vec![Vec::new(); names.len()],
            names,
            current: None,
            blocks: 0,
            pcs: Vec::new(),
            outside: 0,
            lines: 0,
        }
    }

    /// One line of the log; lines that are not `Trace` lines are ignored.
    pub fn line(&mut self, line: &[u8]) {
        let Some(pc) = trace_pc(line) else {
            return;
        };
        self.lines += 1;
        if let Some(&m) = self.markers.get(&pc) {
            self.close();
            self.current = m;
            return;
        }
        if self.current.is_none() {
            self.outside += 1;
            return;
        }
        self.blocks += 1;
        if pc >= KERNEL_BASE {
            self.pcs.push(pc);
        }
    }

    /// Ends the iteration under way, if any.
    pub fn close(&mut self) {
        let Some(w) = self.current.take() else {
            return;
        };
        self.pcs.sort_unstable();
        self.pcs.dedup();
        let mut pages: Vec<u64> = self.pcs.iter().map(|p| p >> 12).collect();
        pages.dedup();
        let mut functions: Vec<u32> = self
            .pcs
            .iter()
            .filter_map(|&p| self.functions.index(p))
            .collect();
        functions.sort_unstable();
        functions.dedup();
        self.iterations[w].push(Iteration {
            blocks: self.blocks,
            kernel_blocks: self.pcs.len() as u32,
            kernel_pages: pages.len() as u32,
            functions,
            pcs: std::mem::take(&mut self.pcs),
        });
        self.blocks = 0;
    }

    /// Each workload's iterations after the warm-up.
    pub fn steady(&self) -> impl Iterator<Item = (&str, &[Iteration])> {
        self.names.iter().zip(&self.iterations).map(|(n, its)| {
            let skip = (its.len() as f64 * WARM_UP_SHARE) as usize;
            (n.as_str(), &its[skip..])
        })
    }

    /// Each function hot in some workload, with the workloads (indices, in
    /// order) where it is and the sum of its shares of their iterations.
    pub fn hot(&self) -> HashMap<u32, Hot> {
        let mut hot: HashMap<u32, Hot> = HashMap::new();
        for (w, (_, its)) in self.steady().enumerate() {
            if its.is_empty() {
                continue;
            }
            let mut runs: HashMap<u32, u32> = HashMap::new();
            for it in its {
                for &f in &it.functions {
                    *runs.entry(f).or_default() += 1;
                }
            }
            for (f, n) in runs {
                let share = f64::from(n) / its.len() as f64;
                if share >= HOT_SHARE {
                    let h = hot.entry(f).or_default();
                    h.workloads.push(w);
                    h.shares += share;
                }
            }
        }
        hot
    }

    /// The hot functions in link order. Small ones first, large ones last (see
    /// [`LARGE`]); then those that about as many workloads run in full (the sum
    /// of the shares, rounded) first; among those, the functions of the same
    /// workloads together, so that one workload's own functions are not spread
    /// among another's; then the most run first; ties by address, so that the
    /// same log gives the same order.
    pub fn order(&self) -> Vec<u32> {
        let hot = self.hot();
        let mut v: Vec<u32> = hot.keys().copied().collect();
        v.sort_by(|a, b| {
            let large = |f: &u32| self.functions.size(*f) > LARGE;
            let (ha, hb) = (&hot[a], &hot[b]);
            large(a)
                .cmp(&large(b))
                .then(hb.shares.round().total_cmp(&ha.shares.round()))
                .then(ha.workloads.cmp(&hb.workloads))
                .then(hb.shares.total_cmp(&ha.shares))
                .then(self.functions.address(*a).cmp(&self.functions.address(*b)))
        });
        v
    }

    /// Each workload's kernel code pages per iteration (the median) if the
    /// functions of `order` were placed in that order from a page boundary and
    /// the rest stayed where they are: what a list should give before the kernel
    /// is linked with it (lld aligns functions as the compiler asked, 16 bytes
    /// here, as this does).
    pub fn estimate(&self, order: &[u32]) -> Vec<u32> {
        let mut moved: HashMap<u32, u64> = HashMap::new();
        let mut at = 0u64;
        for &f in order {
            at = at.next_multiple_of(16);
            moved.insert(f, at);
            at += self.functions.size(f);
        }
        self.steady()
            .map(|(_, its)| {
                median(
                    its.iter()
                        .map(|it| {
                            let mut pages: Vec<(bool, u64)> = it
                                .pcs
                                .iter()
                                .map(|&pc| {
                                    let f = self.functions.index(pc);
                                    match f.and_then(|f| moved.get(&f).map(|to| (f, to))) {
                                        Some((f, to)) => {
                                            (true, (to + pc - self.functions.address(f)) >> 12)
                                        }
                                        None => (false, pc >> 12),
                                    }
                                })
                                .collect();
                            pages.sort_unstable();
                            pages.dedup();
                            pages.len() as u32
                        })
                        .collect(),
                )
            })
            .collect()
    }
}

/// What [`Tally::hot`] finds about a function.
#[derive(Debug, Default, Clone)]
pub struct Hot {
    /// The workloads (indices) where at least [`HOT_SHARE`] of the iterations run it.
    pub workloads: Vec<usize>,
    /// The sum of those shares: about the number of workloads that run it each time.
    pub shares: f64,
}

/// The guest pc of a `-d exec` line: `Trace 0: 0x7f.. [cs_base/PC/flags/cflags] ...`.
pub fn trace_pc(line: &[u8]) -> Option<u64> {
    if !line.starts_with(b"Trace ") {
        return None;
    }
    let open = line.iter().position(|&b| b == b'[')?;
    let rest = &line[open + 1..];
    let first = rest.iter().position(|&b| b == b'/')?;
    let rest = &rest[first + 1..];
    let end = rest.iter().position(|&b| b == b'/')?;
    let mut pc: u64 = 0;
    for &b in &rest[..end] {
        let d = (b as char).to_digit(16)?;
        pc = pc.checked_mul(16)? | u64::from(d);
    }
    Some(pc)
}

fn median(mut v: Vec<u32>) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// The per-workload table: iterations, then medians of blocks, kernel blocks,
/// kernel functions and kernel pages, then `more` columns (a heading, a value
/// per workload).
pub fn table(t: &Tally, more: &[(&str, Vec<u32>)]) -> String {
    let mut s = String::from(
        "workload        iterations  blocks  kernel blocks  kernel functions  kernel pages",
    );
    for (head, _) in more {
        let _ = write!(s, "  {head}");
    }
    s.push('\n');
    for (i, (name, its)) in t.steady().enumerate() {
        let col = |f: fn(&Iteration) -> u32| median(its.iter().map(f).collect());
        let _ = write!(
            s,
            "{name:<15} {:>10} {:>7} {:>14} {:>17} {:>13}",
            its.len(),
            col(|i| i.blocks),
            col(|i| i.kernel_blocks),
            col(|i| i.functions.len() as u32),
            col(|i| i.kernel_pages),
        );
        for (head, values) in more {
            let _ = write!(
                s,
                "  {:>w$}",
                values.get(i).copied().unwrap_or(0),
                w = head.len()
            );
        }
        s.push('\n');
    }
    s
}

/// The list file: a comment saying what it is, then one mangled name a line.
pub fn list_text(t: &Tally, order: &[u32], iterations: u32) -> String {
    let mut s = String::from(
        "# The kernel's hot functions, in the order the linker places them at the start\n\
         # of .text (kernel/build.rs: lld's --symbol-ordering-file; lines starting with\n\
         # '#' are comments). Made by `cargo xtask hot-text`; regenerate it with that\n\
         # after changes to the paths below (docs/hot-paths.md, \"Hot code on few pages\").\n",
    );
    let _ = writeln!(
        s,
        "# Workloads (bench/hotload.c, {iterations} iterations each): {}.",
        t.names.join(", ")
    );
    let mut seen = HashSet::new();
    for &f in order {
        let name = t.functions.name(f);
        if seen.insert(name) {
            s.push_str(name);
            s.push('\n');
        }
    }
    s
}

/// The names of a list file (comments and blank lines left out).
pub fn list_names(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The symbols of an ELF file, mangled, by address (`nm -n`).
fn nm(path: &Path) -> Result<String, String> {
    crate::build::nm(path, &["-n", "--defined-only"])
}

/// The `mark_*` functions of hotload: (address, workload).
fn markers(prog: &Path) -> Result<Vec<(u64, String)>, String> {
    let m: Vec<(u64, String)> = nm(prog)?
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let addr = u64::from_str_radix(w.next()?, 16).ok()?;
            let _ = w.next()?;
            let name = w.next()?.strip_prefix("mark_")?;
            Some((addr, name.to_string()))
        })
        .collect();
    if !m.iter().any(|(_, n)| n == "end") || m.len() < 2 {
        return Err(format!("{}: no mark_* functions", prog.display()));
    }
    Ok(m)
}

/// `cargo xtask hot-text`.
pub fn run(opts: &Opts) -> Result<u8, String> {
    let mut o = opts.clone();
    o.release = true;
    o.smp = 1;
    o.no_kvm = true;
    o.icount = true;
    let iterations = opts.iterations.unwrap_or(ITERATIONS);
    let a = build::build_all(&o)?;
    let progs = crate::bench::compile()?;
    let prog = progs
        .iter()
        .find(|(n, _)| n == "hotload")
        .map(|(_, p)| p.clone())
        .ok_or("bench/hotload.c is missing")?;
    let functions = Functions::from_nm(&nm(&a.kernel)?);
    let marks = markers(&prog)?;
    let mut tree = initramfs::base()?;
    let data = std::fs::read(&prog).map_err(|e| format!("{}: {e}", prog.display()))?;
    tree.add("bench/hotload", Node::File(0o755, data));
    initramfs::add_cmd(&mut tree, &format!("/bench/hotload -n {iterations}"));
    let mut a = a;
    a.initramfs = Some(initramfs::write(&tree, "initramfs-hot-text.cpio")?);
    let mut cmd = qemu::command(
        &o,
        &a,
        &Boot::Direct {
            cmdline: qemu::cmdline(&o, "quiet"),
        },
    );
    // The log goes to QEMU's stderr, a pipe read here as it comes.
    cmd.args(["-d", "exec,nochain", "-D", "/dev/stderr"])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    println!(
        "xtask: booting the release kernel with QEMU's exec log ({iterations} iterations of each workload)"
    );
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start qemu: {e}"))?;
    let serial = child.stdout.take().expect("piped stdout");
    let log = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(serial).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let tally = std::thread::scope(|s| {
        let parser = s.spawn(|| {
            let mut t = Tally::new(&functions, &marks);
            let mut r = BufReader::with_capacity(1 << 20, log);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if line.starts_with(b"Trace ") {
                            t.line(&line);
                        } else if !QUIET.iter().any(|q| line.starts_with(q)) {
                            // QEMU's own messages.
                            let _ = std::io::stderr().write_all(&line);
                        }
                    }
                }
            }
            t.close();
            t
        });
        let mut status = None;
        let mut timed_out = false;
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if line.contains("HOTLOAD") {
                        println!("  {line}");
                    }
                    if let Some(rest) = line.strip_prefix(qemu::EXIT_MARKER) {
                        status = rest.split_whitespace().next().map(str::to_string);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if started.elapsed() > LIMIT {
                        timed_out = true;
                        let _ = child.kill();
                        break;
                    }
                }
            }
        }
        let _ = child.wait();
        let t = parser.join().map_err(|_| "the log parser panicked")?;
        if timed_out {
            return Err(format!("the run took over {} s", LIMIT.as_secs()));
        }
        if status.as_deref() != Some("0") {
            return Err(format!(
                "hotload did not finish (init's status {status:?}); run it by hand: \
                 cargo xtask run --release --direct --smp 1 --with {}:/bench/hotload --cmd '/bench/hotload -n 10'",
                prog.display()
            ));
        }
        Ok(t)
    })?;
    if tally.iterations.iter().any(Vec::is_empty) {
        return Err("a workload has no iterations in the log".into());
    }
    let order = tally.order();
    let path = root().join(LIST);
    let text = list_text(&tally, &order, iterations);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let old_names = list_names(&old);
    let new_names = list_names(&text);
    println!(
        "xtask: {:.0} s, {} blocks logged; kernel {}; per iteration, medians after the first \
         {:.0} %; the last two columns estimate the pages with the functions of {LIST}, and \
         with those of a new list, moved to the start of .text in the list's order:",
        started.elapsed().as_secs_f64(),
        tally.lines,
        a.kernel.display(),
        WARM_UP_SHARE * 100.0
    );
    print!(
        "{}",
        table(
            &tally,
            &[
                (
                    "with the list",
                    tally.estimate(&functions.listed(&old_names))
                ),
                (
                    "with a new list",
                    tally.estimate(&functions.listed(&new_names))
                ),
            ]
        )
    );
    let bytes: u64 = order.iter().map(|&f| functions.size(f)).sum();
    println!(
        "xtask: {} hot functions (run by at least {:.0} % of some workload's iterations), \
         {} KiB, now spread over {} of the kernel's {} code pages",
        order.len(),
        HOT_SHARE * 100.0,
        bytes / 1024,
        span_pages(&functions, &order),
        functions_pages(&functions)
    );
    // Copies: a generic function (or an async fn's future) used from several
    // codegen units is compiled into each, under the same name; lld moves them
    // all, and the estimates count them.
    let moved = functions.listed(&new_names);
    let copies: u64 = moved
        .iter()
        .filter(|f| !order.contains(f))
        .map(|&f| functions.size(f))
        .sum();
    println!(
        "xtask: their names also name {} other copies ({} KiB), which the linker moves with them",
        moved.len() - order.len(),
        copies / 1024
    );
    let listed: HashSet<&str> = old_names.iter().copied().collect();
    let missing = new_names.iter().filter(|n| !listed.contains(*n)).count();
    let stale = listed.len() - new_names.iter().filter(|n| listed.contains(*n)).count();
    println!(
        "xtask: {LIST}: {missing} of the {} hot functions are not in it, {stale} of its {} names are not hot (or gone)",
        new_names.len(),
        listed.len()
    );
    if opts.check {
        println!("xtask: --check: {LIST} left as it is");
        return Ok(0);
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("xtask: wrote {LIST}; the next kernel build links with it");
    Ok(0)
}

/// The code pages that hold at least one of `fs`.
fn span_pages(functions: &Functions, fs: &[u32]) -> usize {
    let mut pages: Vec<u64> = fs
        .iter()
        .flat_map(|&f| {
            let a = functions.address(f);
            (a >> 12)..=((a + functions.size(f).max(1) - 1) >> 12)
        })
        .collect();
    pages.sort_unstable();
    pages.dedup();
    pages.len()
}

/// The kernel's text pages.
fn functions_pages(functions: &Functions) -> u64 {
    match (functions.syms.first(), functions.syms.last()) {
        (Some(f), Some(l)) => ((l.0 - f.0) >> 12) + 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NM: &str = "\
0000000000100000 T __load_start_phys
ffffffff80100000 T _start32
ffffffff80101000 T syscall_entry
ffffffff80101080 t user_trap_common
ffffffff80102000 t _ZN7kestrel7syscall4read17h0123456789abcdefE
ffffffff80102000 t _ZN7kestrel7syscall5alias17h1111111111111111E.llvm.42
ffffffff80103000 d some_data
ffffffff80103000 T _ZN7kestrel7syscall5write17hfedcba9876543210E.llvm.7
ffffffff80103000 T _ZN7kestrel7syscall9write_now17haaaaaaaaaaaaaaaaE
ffffffff80104000 T _ZN7kestrel7syscall4stat17hccccccccccccccccE
ffffffff80108000 T _ZN7kestrel7syscall5table4call17hbbbbbbbbbbbbbbbbE
ffffffff8010e000 T __text_end
";

    fn line(pc: u64) -> String {
        format!("Trace 0: 0x7f68ac000100 [00000000/{pc:016x}/00000040/ff000200] \n")
    }

    #[test]
    fn exec_lines_give_the_guest_pc() {
        assert_eq!(
            trace_pc(line(0xffffffff80102010).as_bytes()),
            Some(0xffffffff80102010)
        );
        assert_eq!(
            trace_pc(
                b"Trace 0: 0x7f68ac000100 [00000000ffff0000/00000000fffffff0/00000040/ff000200] "
            ),
            Some(0xfffffff0)
        );
        assert_eq!(trace_pc(b"qemu-system-x86_64: warning: something"), None);
        assert_eq!(trace_pc(b"Trace 0: garbled"), None);
    }

    #[test]
    fn symbols_cover_asm_labels_and_prefer_names_without_llvm_suffixes() {
        let f = Functions::from_nm(NM);
        let name = |a| f.name(f.index(a).unwrap()).to_string();
        assert_eq!(name(0xffffffff80101004), "syscall_entry");
        assert_eq!(name(0xffffffff80101090), "user_trap_common");
        // The first of two aliases, the suffixed one only if it is the only kind.
        assert_eq!(
            name(0xffffffff80102040),
            "_ZN7kestrel7syscall4read17h0123456789abcdefE"
        );
        assert_eq!(
            name(0xffffffff80103010),
            "_ZN7kestrel7syscall9write_now17haaaaaaaaaaaaaaaaE"
        );
        assert_eq!(f.size(f.index(0xffffffff80103000).unwrap()), 0x1000);
        // The linker script's physical addresses are not functions.
        assert_eq!(f.index(0x100010), None);
    }

    /// Feeds a tally the log of `iterations`, each a (workload, kernel pcs) pair.
    fn tally<'a>(f: &'a Functions, iterations: &[(&str, &[u64])]) -> Tally<'a> {
        let marks = vec![
            (0x401000, "end".to_string()),
            (0x401010, "pipe".to_string()),
            (0x401020, "getppid".to_string()),
        ];
        let mut t = Tally::new(f, &marks);
        // The boot, outside any iteration.
        t.line(line(0xffffffff80100000).as_bytes());
        for (w, pcs) in iterations {
            let m = marks.iter().find(|(_, n)| n == w).unwrap().0;
            t.line(line(m).as_bytes());
            t.line(line(0x401100).as_bytes());
            for &pc in *pcs {
                t.line(line(pc).as_bytes());
            }
        }
        t.line(line(0x401000).as_bytes());
        t.line(line(0xffffffff80100000).as_bytes());
        t.close();
        t
    }

    #[test]
    fn iterations_count_blocks_pages_and_functions() {
        let f = Functions::from_nm(NM);
        let t = tally(
            &f,
            &[(
                "pipe",
                &[
                    0xffffffff80101000,
                    0xffffffff80102000,
                    0xffffffff80102040,
                    0xffffffff80102000,
                    0xffffffff80109000,
                ],
            )],
        );
        assert_eq!((t.outside, t.lines), (2, 10));
        assert_eq!(t.iterations[1].len(), 0);
        let it = &t.iterations[0][0];
        assert_eq!((it.blocks, it.kernel_blocks, it.kernel_pages), (6, 4, 3));
        assert_eq!(it.functions.len(), 3);
    }

    #[test]
    fn the_order_puts_shared_functions_first_and_large_ones_last() {
        let f = Functions::from_nm(NM);
        let entry = 0xffffffff80101000;
        let read = 0xffffffff80102000;
        let write = 0xffffffff80103000;
        let table = 0xffffffff80108000;
        let (all, with_write, entry_only) =
            ([entry, table, read], [entry, table, read, write], [entry]);
        let mut its: Vec<(&str, &[u64])> = Vec::new();
        // Ten iterations of each: the entry in all, the table (large) in all,
        // read in the pipe's, write in one pipe iteration of ten (hot: 1 of the
        // 9 after the warm-up).
        for i in 0..10 {
            its.push(("pipe", if i == 5 { &with_write } else { &all }));
            its.push(("getppid", &entry_only));
        }
        let t = tally(&f, &its);
        let names: Vec<&str> = t.order().iter().map(|&i| f.name(i)).collect();
        assert_eq!(
            names,
            [
                "syscall_entry",
                "_ZN7kestrel7syscall4read17h0123456789abcdefE",
                "_ZN7kestrel7syscall9write_now17haaaaaaaaaaaaaaaaE",
                "_ZN7kestrel7syscall5table4call17hbbbbbbbbbbbbbbbbE",
            ]
        );
        let text = list_text(&t, &t.order(), 10);
        assert!(text.starts_with('#'));
        assert_eq!(list_names(&text), names);
    }

    #[test]
    fn the_estimate_moves_the_listed_functions_and_their_copies_together() {
        // Two small functions three pages apart, and a copy of the second under
        // the same name (a generic compiled into two codegen units).
        let nm = "\
ffffffff80100000 T _start32
ffffffff80101000 t _ZN1a3one17h0000000000000001E
ffffffff80101100 t _ZN1a6filler17h0000000000000002E
ffffffff80104000 t _ZN1a3two17h0000000000000003E
ffffffff80104100 t _ZN1a6filler17h0000000000000004E
ffffffff80108000 t _ZN1a3two17h0000000000000003E
ffffffff80108100 t _ZN1a6filler17h0000000000000005E
ffffffff8010a000 T __text_end
";
        let f = Functions::from_nm(nm);
        let (one, two) = (0xffffffff80101000, 0xffffffff80104000);
        let pcs = [one, two];
        let its: Vec<(&str, &[u64])> = vec![("pipe", &pcs); 10];
        let t = tally(&f, &its);
        assert!(table(&t, &[]).lines().nth(1).unwrap().ends_with(" 2"));
        let order = t.order();
        assert_eq!(order.len(), 2);
        // 0x100 and 0x100 bytes: one page.
        assert_eq!(t.estimate(&order), [1, 0]);
        let names: Vec<&str> = order.iter().map(|&i| f.name(i)).collect();
        let moved = f.listed(&names);
        assert_eq!(moved.len(), 3, "the copy goes along");
        assert_eq!(t.estimate(&moved), [1, 0]);
    }
}
