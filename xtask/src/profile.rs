//! `cargo xtask profile --cmd 'CMD' [--hz N] [-o FILE.svg]`: a flame graph of
//! where every CPU's time goes while CMD runs.
//!
//! Kestrel boots with `kestrel.profile=HZ` (kernel/src/profile.rs): each timer
//! tick on a busy CPU records the interrupted stack, the kernel's through its
//! frame pointers, a user program's as far as its frame pointers go. When init
//! exits the samples are printed between `KPROF BEGIN` and `KPROF END`; here
//! kernel addresses are named from the kernel's symbols, user addresses from the
//! symbols of the programs brought in with `--with` (non-PIE executables: a
//! static musl build is one), and the stacks are folded (`comm;outer;...;leaf
//! COUNT`, the format of Brendan Gregg's flamegraph.pl) and drawn as an SVG with
//! the `inferno` crate. Idle CPUs are sampled too, as `[idle]`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Opts;
use crate::build::{self, out_dir};
use crate::initramfs;
use crate::qemu;

/// One sample as the kernel printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub pid: u32,
    pub tid: u32,
    /// Innermost first.
    pub kernel: Vec<u64>,
    /// Innermost first.
    pub user: Vec<u64>,
}

/// Everything between KPROF BEGIN and KPROF END.
#[derive(Debug, Default)]
pub struct Dump {
    pub hz: u32,
    pub comms: HashMap<(u32, u32), String>,
    pub samples: Vec<Sample>,
    pub dropped: u64,
    pub complete: bool,
}

/// Parses the kernel's profile lines (others are ignored).
pub fn parse(lines: &[String]) -> Dump {
    let mut d = Dump::default();
    let mut inside = false;
    for line in lines {
        let Some(at) = line.find("KPROF ") else {
            continue;
        };
        let w: Vec<&str> = line[at + 6..].split_whitespace().collect();
        match w.first().copied() {
            Some("BEGIN") => {
                inside = true;
                d.hz = w.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            }
            Some("END") => {
                d.complete = inside;
                inside = false;
            }
            Some("comm") if inside && w.len() >= 3 => {
                if let (Ok(p), Ok(t)) = (w[1].parse(), w[2].parse()) {
                    d.comms.insert((p, t), w[3..].join(" "));
                }
            }
            Some("dropped") if inside => {
                d.dropped += w.get(2).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            }
            Some("s") if inside && w.len() >= 6 => {
                let (Ok(pid), Ok(tid)) = (w[2].parse(), w[3].parse()) else {
                    continue;
                };
                let hex = |s: &&str| u64::from_str_radix(s, 16).ok();
                let k_at = w.iter().position(|x| *x == "k");
                let u_at = w.iter().position(|x| *x == "u");
                let (Some(k_at), Some(u_at)) = (k_at, u_at) else {
                    continue;
                };
                d.samples.push(Sample {
                    pid,
                    tid,
                    kernel: w[k_at + 1..u_at].iter().filter_map(hex).collect(),
                    user: w[u_at + 1..].iter().filter_map(hex).collect(),
                });
            }
            _ => {}
        }
    }
    d
}

/// Address → function name, from `nm -n` output or the kernel's symbol file
/// (`ADDR TYPE NAME` lines).
#[derive(Debug, Default)]
pub struct Symbols(Vec<(u64, String)>);

impl Symbols {
    pub fn from_nm_text(text: &str) -> Self {
        let mut v: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.splitn(3, ' ');
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let kind = it.next()?;
                // Functions only (text symbols), so data does not swallow addresses.
                if !matches!(kind, "T" | "t" | "W" | "w") {
                    return None;
                }
                Some((addr, it.next()?.to_string()))
            })
            .collect();
        v.sort_by_key(|(a, _)| *a);
        Self(v)
    }

    /// The function containing `addr`, if any.
    pub fn name(&self, addr: u64) -> Option<&str> {
        let i = self.0.partition_point(|(a, _)| *a <= addr);
        i.checked_sub(1).map(|i| self.0[i].1.as_str())
    }
}

/// Folds the samples: `who;outer;...;leaf` → count.
pub fn fold(d: &Dump, kernel: &Symbols, user: &HashMap<String, Symbols>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for s in &d.samples {
        let comm = d
            .comms
            .get(&(s.pid, s.tid))
            .or_else(|| d.comms.get(&(s.pid, s.pid)))
            .cloned()
            .unwrap_or_default();
        let kfuncs: Vec<String> = s
            .kernel
            .iter()
            .rev()
            .map(|&a| {
                kernel
                    .name(a)
                    .map_or_else(|| format!("{a:#x}"), |n| simplify(n).to_string())
            })
            .collect();
        let idle = s.pid == 0 && kfuncs.iter().any(|f| f.contains("wait_for_work"));
        let mut frames: Vec<String> = Vec::new();
        frames.push(if idle {
            "[idle]".into()
        } else if s.pid == 0 {
            "[kernel task]".into()
        } else {
            format!("{comm} [{}]", s.pid)
        });
        let syms = user.get(&comm);
        for &a in s.user.iter().rev() {
            frames.push(
                syms.and_then(|m| m.name(a))
                    .map_or_else(|| format!("[user {a:#x}]"), str::to_string),
            );
        }
        if !idle {
            frames.extend(kfuncs);
        }
        let line = frames.join(";").replace(' ', "_");
        *out.entry(line).or_insert(0) += 1;
    }
    out
}

/// Drops the generic parts of a Rust symbol that make frames unreadable
/// (closure suffixes), keeping the path.
fn simplify(name: &str) -> &str {
    name.split("::{{closure}}").next().unwrap_or(name)
}

/// The symbols of each `--with` program that is a non-PIE executable, by the
/// command name it runs under (the first 15 bytes of its file name).
fn user_symbols(with: &[String]) -> HashMap<String, Symbols> {
    let mut m = HashMap::new();
    for spec in with {
        let (host, guest) = spec.split_once(':').unwrap_or((spec, spec));
        let host = Path::new(host);
        let Ok(bytes) = std::fs::read(host) else {
            continue;
        };
        // ELF, and e_type ET_EXEC: addresses in the file are where it runs.
        if bytes.len() < 18 || &bytes[..4] != b"\x7fELF" || bytes[16] != 2 {
            continue;
        }
        let Ok(text) = crate::build::nm(host, &["-n", "-C"]) else {
            continue;
        };
        let name = Path::new(guest)
            .file_name()
            .map(|n| n.to_string_lossy().chars().take(15).collect::<String>())
            .unwrap_or_default();
        m.insert(name, Symbols::from_nm_text(&text));
    }
    m
}

/// `cargo xtask profile`.
pub fn run(opts: &Opts) -> Result<u8, String> {
    let Some(cmd) = &opts.cmd else {
        return Err("profile needs --cmd 'CMD' (the workload to profile)".into());
    };
    initramfs::check_with(&opts.with)?;
    let a = build::build_all(opts)?;
    let hz = opts.hz.unwrap_or(997);
    let (accel, why) = qemu::accelerator(opts);
    eprintln!("xtask: accelerator: {accel} ({why})");
    let c = qemu::run_workload(
        opts,
        &a,
        &qemu::Workload {
            cmd,
            with: &opts.with,
            cpio: "initramfs-profile.cpio",
            cmdline: &format!("kestrel.profile={hz}"),
        },
        Duration::from_secs(3600),
        &mut |line| !line.contains("KPROF "),
    )?;
    let dump = parse(&c.lines);
    if !dump.complete {
        return Err(format!(
            "no complete profile in the output ({} samples read): did the command end and init exit?",
            dump.samples.len()
        ));
    }
    let kernel = Symbols::from_nm_text(&std::fs::read_to_string(&a.symbols).unwrap_or_default());
    let folded = fold(&dump, &kernel, &user_symbols(&opts.with));
    let svg: PathBuf = opts
        .output
        .clone()
        .unwrap_or_else(|| out_dir().join("profile.svg"));
    let folded_path = svg.with_extension("folded");
    let text: String = folded.iter().map(|(s, n)| format!("{s} {n}\n")).collect();
    std::fs::write(&folded_path, &text).map_err(|e| format!("{}: {e}", folded_path.display()))?;
    let mut fg = inferno::flamegraph::Options::default();
    fg.title = format!("Kestrel: {cmd} ({} samples at {hz} Hz)", dump.samples.len());
    let file = std::fs::File::create(&svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    inferno::flamegraph::from_lines(&mut fg, text.lines(), file)
        .map_err(|e| format!("flame graph: {e}"))?;
    // The functions where samples landed most (the leaves).
    let mut leaves: HashMap<&str, u64> = HashMap::new();
    for (stack, n) in &folded {
        *leaves
            .entry(stack.rsplit(';').next().unwrap_or(""))
            .or_default() += n;
    }
    let mut top: Vec<_> = leaves.into_iter().collect();
    top.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let total = dump.samples.len().max(1) as f64;
    println!(
        "xtask: {} samples at {hz} Hz{}; where they landed:",
        dump.samples.len(),
        if dump.dropped > 0 {
            format!(" ({} dropped: the rings were full)", dump.dropped)
        } else {
            String::new()
        }
    );
    for (f, n) in top.into_iter().take(10) {
        println!("  {:5.1}%  {f}", n as f64 * 100.0 / total);
    }
    println!(
        "xtask: wrote {} and {}",
        svg.display(),
        folded_path.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_fold_into_named_stacks_outermost_first() {
        let lines: Vec<String> = [
            "KPROF BEGIN 997 hz",
            "KPROF comm 3 3 spin",
            "KPROF s 0 3 3 k u 401020 401100",
            "KPROF s 1 3 3 k ffffffff80100010 ffffffff80100100 u",
            "KPROF s 1 0 0 k ffffffff80100210 u",
            "KPROF dropped 0 1",
            "KPROF END",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = parse(&lines);
        assert!(d.complete);
        assert_eq!((d.hz, d.samples.len(), d.dropped), (997, 3, 1));
        let kernel = Symbols::from_nm_text(
            "ffffffff80100000 T kestrel::syscall::fs::sys_read::{{closure}}\n\
             ffffffff80100100 T kestrel::syscall::dispatch\n\
             ffffffff80100200 T <kestrel::task::CpuPlatform as Platform>::wait_for_work\n\
             ffffffff80100300 D some_data",
        );
        let user: HashMap<String, Symbols> = [(
            "spin".to_string(),
            Symbols::from_nm_text("0000000000401000 T spin\n00000000004010f0 T main"),
        )]
        .into_iter()
        .collect();
        let f = fold(&d, &kernel, &user);
        assert_eq!(f.get("spin_[3];main;spin"), Some(&1), "{f:?}");
        assert_eq!(
            f.get("spin_[3];kestrel::syscall::dispatch;kestrel::syscall::fs::sys_read"),
            Some(&1),
            "{f:?}"
        );
        assert_eq!(f.get("[idle]"), Some(&1), "{f:?}");
    }
}
