//! `cargo xtask trace --cmd 'CMD' [--events GROUPS] [-o FILE]`: a timeline of the
//! kernel's tasks while CMD runs, as a Chrome/Perfetto trace file.
//!
//! Kestrel boots with `kestrel.trace=GROUPS` (kernel/src/trace.rs), runs CMD as
//! `run --cmd` does, and when init exits prints every CPU's event ring between
//! `KTRACE BEGIN` and `KTRACE END`. This file turns those lines into the JSON
//! that ui.perfetto.dev (or chrome://tracing) opens:
//!
//! - one track per CPU: each poll of a task is a slice named after the task
//!   (user threads by process, thread and command), idle periods are `idle`
//!   slices, interrupts short `irq N` slices;
//! - one track per user thread, in its process: each system call is a slice
//!   named after the call, with its result; futex waits and wakes and page
//!   faults are instants;
//! - flows (arrows) from the poll, interrupt or timer that woke a task to the
//!   poll that ran it next.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use crate::Opts;
use crate::build::{self, out_dir};
use crate::initramfs;
use crate::qemu;

/// One event as the kernel printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ev {
    pub cpu: u32,
    pub ts: u64,
    pub kind: String,
    pub a: u64,
    pub b: u64,
}

/// Everything between KTRACE BEGIN and KTRACE END.
#[derive(Debug, Default)]
pub struct Dump {
    pub cpus: u32,
    pub names: HashMap<u64, String>,
    /// (pid, tid) → the last command name noted for it.
    pub comms: HashMap<(u32, u32), String>,
    pub events: Vec<Ev>,
    pub dropped: BTreeMap<u32, u64>,
    pub complete: bool,
}

/// Parses the kernel's trace lines (other lines are ignored).
pub fn parse(lines: &[String]) -> Dump {
    let mut d = Dump::default();
    let mut inside = false;
    for line in lines {
        let Some(at) = line.find("KTRACE ") else {
            continue;
        };
        let rest = &line[at + 7..];
        let w: Vec<&str> = rest.split_whitespace().collect();
        match w.first().copied() {
            Some("BEGIN") => {
                inside = true;
                d.cpus = w.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
            }
            Some("END") => {
                d.complete = inside;
                inside = false;
            }
            Some("name") if inside && w.len() >= 3 => {
                if let Ok(i) = w[1].parse() {
                    d.names.insert(i, w[2..].join(" "));
                }
            }
            Some("comm") if inside && w.len() >= 3 => {
                if let (Ok(pid), Ok(tid)) = (w[1].parse(), w[2].parse()) {
                    d.comms.insert((pid, tid), w[3..].join(" "));
                }
            }
            Some("dropped") if inside && w.len() == 3 => {
                if let (Ok(c), Ok(n)) = (w[1].parse(), w[2].parse()) {
                    d.dropped.insert(c, n);
                }
            }
            Some("e") if inside && w.len() == 6 => {
                let (Ok(cpu), Ok(ts), Ok(a), Ok(b)) =
                    (w[1].parse(), w[2].parse(), w[4].parse(), w[5].parse())
                else {
                    continue;
                };
                d.events.push(Ev {
                    cpu,
                    ts,
                    kind: w[3].to_string(),
                    a,
                    b,
                });
            }
            _ => {}
        }
    }
    d.events.sort_by_key(|e| (e.ts, e.cpu));
    d
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The Chrome trace JSON for a dump, and a few lines of summary.
pub fn to_json(d: &Dump) -> (String, Vec<String>) {
    let syscall_names: HashMap<u64, &str> = kestrel_abi::syscalls::SYSCALLS
        .iter()
        .map(|&(nr, name)| (nr as u64, name))
        .collect();
    // Which task is which thread, and what each task is called.
    let mut thread_of: HashMap<u64, (u32, u32)> = HashMap::new();
    let mut task_name: HashMap<u64, String> = HashMap::new();
    for e in &d.events {
        match e.kind.as_str() {
            "spawn" => {
                let n = d.names.get(&e.b).cloned().unwrap_or_else(|| "task".into());
                task_name.insert(e.a, n);
            }
            "thread" => {
                thread_of.insert(e.a, ((e.b >> 32) as u32, e.b as u32));
            }
            _ => {}
        }
    }
    let label = |task: u64| -> String {
        match thread_of.get(&task) {
            Some(&(pid, tid)) => {
                let comm = d
                    .comms
                    .get(&(pid, tid))
                    .or_else(|| d.comms.get(&(pid, pid)))
                    .map_or("", String::as_str);
                format!("{comm} [{pid}/{tid}]")
            }
            None => format!(
                "{} #{task}",
                task_name.get(&task).map_or("task", String::as_str)
            ),
        }
    };

    let mut out = Vec::new();
    let mut push = |s: String| out.push(s);
    // Track names.
    push(r#"{"ph":"M","pid":0,"name":"process_name","args":{"name":"CPUs"}}"#.into());
    for c in 0..d.cpus.max(1) {
        push(format!(
            r#"{{"ph":"M","pid":0,"tid":{c},"name":"thread_name","args":{{"name":"CPU {c}"}}}}"#
        ));
    }
    let mut pids: BTreeMap<u32, String> = BTreeMap::new();
    for (&(pid, tid), comm) in &d.comms {
        pids.entry(pid).or_insert_with(|| comm.clone());
        push(format!(
            r#"{{"ph":"M","pid":{pid},"tid":{tid},"name":"thread_name","args":{{"name":"{} {tid}"}}}}"#,
            esc(comm)
        ));
    }
    for &(pid, tid) in thread_of.values() {
        pids.entry(pid).or_default();
        let _ = tid;
    }
    for (pid, comm) in &pids {
        push(format!(
            r#"{{"ph":"M","pid":{pid},"name":"process_name","args":{{"name":"{} (pid {pid})"}}}}"#,
            esc(comm)
        ));
    }

    // Slices per CPU: polls and idle; syscalls per thread; flows for wakes.
    let mut poll_open: HashMap<u32, (u64, u64)> = HashMap::new(); // cpu -> (task, ts)
    let mut idle_open: HashMap<u32, u64> = HashMap::new();
    let mut sys_open: HashMap<u32, (u64, u64)> = HashMap::new(); // tid -> (nr, ts)
    let mut pending_flow: HashMap<u64, u64> = HashMap::new(); // task -> flow id
    let mut next_flow = 1u64;
    let (mut polls, mut wakes, mut syscalls) = (0u64, 0u64, 0u64);
    let mut busiest: HashMap<u64, u64> = HashMap::new();
    for e in &d.events {
        let (cpu, ts) = (e.cpu, e.ts);
        match e.kind.as_str() {
            "poll" => {
                poll_open.insert(cpu, (e.a, ts));
                if let Some(id) = pending_flow.remove(&e.a) {
                    push(format!(
                        r#"{{"ph":"f","bp":"e","id":{id},"pid":0,"tid":{cpu},"ts":{:.3},"name":"wake","cat":"wake"}}"#,
                        us(ts)
                    ));
                }
            }
            "pollend" => {
                if let Some((task, start)) = poll_open.remove(&cpu)
                    && task == e.a
                {
                    polls += 1;
                    *busiest.entry(task).or_default() += ts - start;
                    push(format!(
                        r#"{{"ph":"X","pid":0,"tid":{cpu},"ts":{:.3},"dur":{:.3},"name":"{}","cat":"poll","args":{{"task":{task},"done":{}}}}}"#,
                        us(start),
                        us(ts.saturating_sub(start)).max(0.001),
                        esc(&label(task)),
                        e.b == 1
                    ));
                }
            }
            "wake" => {
                wakes += 1;
                let id = next_flow;
                next_flow += 1;
                let who = match e.b {
                    u64::MAX => "irq".to_string(),
                    0 => "executor".to_string(),
                    t => label(t),
                };
                // A short slice to hang the arrow on when no poll is open here.
                if !poll_open.contains_key(&cpu) {
                    push(format!(
                        r#"{{"ph":"X","pid":0,"tid":{cpu},"ts":{:.3},"dur":0.5,"name":"wake by {}","cat":"wake"}}"#,
                        us(ts),
                        esc(&who)
                    ));
                }
                push(format!(
                    r#"{{"ph":"s","id":{id},"pid":0,"tid":{cpu},"ts":{:.3},"name":"wake","cat":"wake","args":{{"woken":"{}","by":"{}"}}}}"#,
                    us(ts),
                    esc(&label(e.a)),
                    esc(&who)
                ));
                pending_flow.insert(e.a, id);
            }
            "idle" => {
                idle_open.insert(cpu, ts);
            }
            "busy" => {
                if let Some(start) = idle_open.remove(&cpu) {
                    push(format!(
                        r#"{{"ph":"X","pid":0,"tid":{cpu},"ts":{:.3},"dur":{:.3},"name":"idle","cat":"idle"}}"#,
                        us(start),
                        us(ts - start)
                    ));
                }
            }
            "irq" => push(format!(
                r#"{{"ph":"i","s":"t","pid":0,"tid":{cpu},"ts":{:.3},"name":"irq {}","cat":"irq"}}"#,
                us(ts),
                e.a
            )),
            "sys" => {
                sys_open.insert(e.a as u32, (e.b, ts));
            }
            "sysret" => {
                let tid = e.a as u32;
                if let Some((nr, start)) = sys_open.remove(&tid) {
                    syscalls += 1;
                    let pid = thread_pid(&thread_of, tid);
                    let name = syscall_names.get(&nr).copied().unwrap_or("syscall");
                    push(format!(
                        r#"{{"ph":"X","pid":{pid},"tid":{tid},"ts":{:.3},"dur":{:.3},"name":"{name}","cat":"syscall","args":{{"nr":{nr},"ret":{}}}}}"#,
                        us(start),
                        us(ts.saturating_sub(start)).max(0.001),
                        e.b as i64
                    ));
                }
            }
            "futexwait" | "fault" => {
                let tid = e.a as u32;
                let pid = thread_pid(&thread_of, tid);
                push(format!(
                    r#"{{"ph":"i","s":"t","pid":{pid},"tid":{tid},"ts":{:.3},"name":"{} {:#x}","cat":"{}"}}"#,
                    us(ts),
                    if e.kind == "fault" {
                        "page fault"
                    } else {
                        "futex wait"
                    },
                    e.b,
                    e.kind
                ));
            }
            "futexwake" => push(format!(
                r#"{{"ph":"i","s":"t","pid":0,"tid":{cpu},"ts":{:.3},"name":"futex wake {:#x} ({})","cat":"futex"}}"#,
                us(ts),
                e.a,
                e.b
            )),
            _ => {}
        }
    }
    let json = format!("{{\"traceEvents\":[\n{}\n]}}\n", out.join(",\n"));

    let mut summary = vec![format!(
        "{} events on {} CPUs: {polls} polls, {wakes} wakes, {syscalls} system calls{}",
        d.events.len(),
        d.cpus,
        if d.dropped.values().any(|&n| n > 0) {
            format!(
                " ({} dropped: the rings were full)",
                d.dropped.values().sum::<u64>()
            )
        } else {
            String::new()
        }
    )];
    let mut top: Vec<(u64, u64)> = busiest.into_iter().collect();
    top.sort_by_key(|b| std::cmp::Reverse(b.1));
    for (task, ns) in top.into_iter().take(5) {
        let mut line = String::new();
        let _ = write!(
            line,
            "  {:>10.3} ms polled: {}",
            ns as f64 / 1e6,
            label(task)
        );
        summary.push(line);
    }
    (json, summary)
}

fn thread_pid(thread_of: &HashMap<u64, (u32, u32)>, tid: u32) -> u32 {
    thread_of
        .values()
        .find(|&&(_, t)| t == tid)
        .map_or(tid, |&(pid, _)| pid)
}

/// `cargo xtask trace`.
pub fn run(opts: &Opts) -> Result<u8, String> {
    let Some(cmd) = &opts.cmd else {
        return Err("trace needs --cmd 'CMD' (the workload to trace)".into());
    };
    initramfs::check_with(&opts.with)?;
    let a = build::build_all(opts)?;
    let groups = opts.events.clone().unwrap_or_else(|| "on".into());
    let (accel, why) = qemu::accelerator(opts);
    eprintln!("xtask: accelerator: {accel} ({why})");
    let c = qemu::run_workload(
        opts,
        &a,
        &qemu::Workload {
            cmd,
            with: &opts.with,
            cpio: "initramfs-trace.cpio",
            cmdline: &format!("kestrel.trace={groups}"),
        },
        Duration::from_secs(3600),
        &mut |line| !line.contains("KTRACE "),
    )?;
    let dump = parse(&c.lines);
    if !dump.complete {
        return Err(format!(
            "no complete trace in the output ({} events read): did the command end and init exit?",
            dump.events.len()
        ));
    }
    let (json, summary) = to_json(&dump);
    let path = opts
        .output
        .clone()
        .unwrap_or_else(|| out_dir().join("trace.json"));
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    for l in summary {
        println!("xtask: {l}");
    }
    println!(
        "xtask: wrote {} (open it at https://ui.perfetto.dev)",
        path.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    #[test]
    fn a_dump_becomes_polls_syscalls_and_a_wake_flow() {
        let d = parse(&lines(
            "noise\n\
             KTRACE BEGIN 2 cpus\n\
             KTRACE name 0 user-thread\n\
             KTRACE comm 7 7 cat\n\
             KTRACE e 0 1000 spawn 5 0\n\
             KTRACE e 0 1100 thread 5 30064771079\n\
             KTRACE e 0 2000 poll 5 0\n\
             KTRACE e 0 2100 sys 7 0\n\
             KTRACE e 0 2500 sysret 7 3\n\
             KTRACE e 0 3000 pollend 5 0\n\
             KTRACE e 1 4000 wake 5 18446744073709551615\n\
             KTRACE e 1 5000 poll 5 0\n\
             KTRACE e 1 6000 pollend 5 1\n\
             KTRACE dropped 0 0\n\
             KTRACE dropped 1 2\n\
             KTRACE END",
        ));
        assert!(d.complete);
        assert_eq!(d.events.len(), 9);
        let (json, summary) = to_json(&d);
        assert!(
            json.contains(r#""name":"cat [7/7]","cat":"poll""#),
            "{json}"
        );
        assert!(
            json.contains(r#""name":"read","cat":"syscall","args":{"nr":0,"ret":3}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""ph":"s","id":1"#) && json.contains(r#""ph":"f","bp":"e","id":1"#)
        );
        assert!(json.contains(r#""by":"irq""#));
        assert!(
            summary[0].contains("2 polls, 1 wakes, 1 system calls (2 dropped"),
            "{summary:?}"
        );
    }

    #[test]
    fn a_dump_cut_short_is_incomplete() {
        let d = parse(&lines("KTRACE BEGIN 1 cpus\nKTRACE e 0 1 idle 0 0"));
        assert!(!d.complete);
    }
}
