//! `cargo xtask top --cmd 'CMD'`: a `top` of the kernel's tasks while CMD runs,
//! refreshed every second from `/proc/kestrel/tasks` (tokio-console for a
//! kernel: every task, user thread or not, with its state, its CPU, how often
//! it is polled and woken, and the system call a thread waits in).
//!
//! The guest runs CMD in the background and prints the task list between
//! `KTOP BEGIN` and `KTOP END` once a second until CMD ends; xtask redraws the
//! terminal with each list, adding each task's share of a CPU over the last
//! second (from the change in its polled time), busiest first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::Opts;
use crate::build;
use crate::initramfs;
use crate::qemu::{self, Boot};

/// One row of /proc/kestrel/tasks, with its fields split.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: u64,
    pub run_ms: f64,
    pub line: String,
}

/// Parses the task list (the header line first).
pub fn parse(lines: &[String]) -> (String, Vec<Row>) {
    let header = lines.first().cloned().unwrap_or_default();
    // RUN_MS's place counted from the end (a name may hold spaces).
    let words: Vec<&str> = header.split_whitespace().collect();
    let from_end = words
        .iter()
        .position(|w| *w == "RUN_MS")
        .map_or(3, |p| words.len() - p);
    let rows = lines
        .iter()
        .skip(1)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let id = w.first()?.parse().ok()?;
            let run_ms = w.get(w.len().checked_sub(from_end)?)?.parse().ok()?;
            Some(Row {
                id,
                run_ms,
                line: l.clone(),
            })
        })
        .collect();
    (header, rows)
}

/// The rows with each task's CPU share since `before` (over `secs`), busiest first.
pub fn rank(rows: &[Row], before: &HashMap<u64, f64>, secs: f64) -> Vec<(f64, String)> {
    let mut out: Vec<(f64, String)> = rows
        .iter()
        .map(|r| {
            let prev = before.get(&r.id).copied().unwrap_or(0.0);
            let pct = ((r.run_ms - prev) / (secs * 1000.0) * 100.0).max(0.0);
            (pct, r.line.clone())
        })
        .collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out
}

/// `cargo xtask top`.
pub fn run(opts: &Opts) -> Result<u8, String> {
    let Some(cmd) = &opts.cmd else {
        return Err("top needs --cmd 'CMD' (the workload to watch)".into());
    };
    initramfs::check_with(&opts.with)?;
    let mut a = build::build_all(opts)?;
    let mut tree = initramfs::base()?;
    initramfs::add_with(&mut tree, &opts.with)?;
    let script = format!(
        "( {cmd} ) & pid=$!; \
         while kill -0 $pid 2>/dev/null; do \
           echo KTOP BEGIN; cat /proc/kestrel/tasks; echo KTOP END; sleep 1; \
         done; wait $pid"
    );
    initramfs::add_cmd(&mut tree, &script);
    a.initramfs = Some(initramfs::write(&tree, "initramfs-top.cpio")?);
    let mut frame: Option<Vec<String>> = None;
    let mut before: HashMap<u64, f64> = HashMap::new();
    let mut last = Instant::now();
    let mut status = None;
    let c = qemu::capture_with(
        qemu::command(
            opts,
            &a,
            &Boot::Direct {
                cmdline: qemu::cmdline(opts, "quiet"),
            },
        ),
        Duration::from_secs(3600),
        &mut |line| {
            if line.contains("KTOP BEGIN") {
                frame = Some(Vec::new());
                return false;
            }
            if line.contains("KTOP END") {
                if let Some(lines) = frame.take() {
                    let (header, rows) = parse(&lines);
                    let secs = last.elapsed().as_secs_f64().max(0.1);
                    last = Instant::now();
                    print!("\x1b[H\x1b[2J");
                    println!("xtask top: {} tasks ({cmd})", rows.len());
                    println!(" %CPU {header}");
                    for (pct, l) in rank(&rows, &before, secs).into_iter().take(40) {
                        println!("{pct:5.1} {l}");
                    }
                    before = rows.iter().map(|r| (r.id, r.run_ms)).collect();
                }
                return false;
            }
            if let Some(f) = frame.as_mut() {
                f.push(line.to_string());
                return false;
            }
            if let Some(rest) = line.strip_prefix(qemu::EXIT_MARKER) {
                status = rest
                    .split_whitespace()
                    .next()
                    .and_then(|s| s.parse::<u8>().ok());
            }
            true
        },
    )?;
    Ok(status.unwrap_or(u8::from(c.status != Some(qemu::EXIT_SUCCESS))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_ranked_by_cpu_share_since_the_last_frame() {
        let lines: Vec<String> = [
            "    ID NAME KIND STATE HOME LAST POLLS WAKES RUN_MS MAX_MS AGE_S WAIT",
            "     6 init[1/1] user parked 0 0 4 3 40.000 1.000 1.0 wait4",
            "     9 spin[4/4] user running 1 1 9 2 900.000 500.000 1.0 -",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (header, rows) = parse(&lines);
        assert!(header.contains("RUN_MS"));
        assert_eq!(rows.len(), 2);
        let before: HashMap<u64, f64> = [(6, 40.0), (9, 400.0)].into_iter().collect();
        let ranked = rank(&rows, &before, 1.0);
        assert!(ranked[0].1.contains("spin"));
        assert!((ranked[0].0 - 50.0).abs() < 1e-9);
        assert_eq!(ranked[1].0, 0.0);
    }
}
