//! `cargo xtask test`: host unit tests, then the kernel in QEMU.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::Opts;
use crate::qemu::{self, Boot, EXIT_FAILURE, EXIT_PANIC, EXIT_SUCCESS};
use crate::{build, initramfs, userland};

/// Library crates whose unit tests run on the host.
const HOST_CRATES: &[&str] = &[
    "kestrel-executor",
    "kestrel-uart16550",
    "kestrel-abi",
    "kestrel-sync",
    "kestrel-vfs",
    "kestrel-ext2",
    "kestrel-tty",
    "kestrel-exec",
    "kestrel-net",
    "kestrel-usermem",
    "kestrel-ipc",
    "kestrel-fanotify",
    "kestrel-uring",
    "kestrel-landlock",
    "kestrel-seccomp",
    "kestrel-ebpf",
    "kestrel-keys",
    "kestrel-ns",
    "kestrel-driver-kit",
    "kestrel-virtio-rng",
    "kestrel-virtio",
    "kestrel-virtio-blk",
    "kestrel-virtio-net",
    "kestrel-driver-template",
    "xtask",
];

/// Counts of one stage.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
    }
}

/// Runs `cargo test` on the library crates and sums cargo's "test result" lines.
fn host_unit_tests() -> Result<Tally, String> {
    println!("xtask: host unit tests ({})", HOST_CRATES.join(", "));
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(build::root()).arg("test");
    for c in HOST_CRATES {
        cmd.args(["--package", c]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let mut t = Tally::default();
    for line in text.lines().filter(|l| l.starts_with("test result:")) {
        let num = |word: &str| -> u32 {
            line.split(';')
                .find(|p| p.contains(word))
                .and_then(|p| p.split_whitespace().rev().nth(1)?.parse().ok())
                .unwrap_or(0)
        };
        t.passed += num("passed");
        t.failed += num("failed");
    }
    if !out.status.success() && t.failed == 0 {
        t.failed += 1;
        println!("FAIL host: cargo test failed to build or run");
    }
    Ok(t)
}

/// Counts PASS/FAIL lines of a boot and checks how QEMU exited.
fn tally_boot(name: &str, c: &qemu::Captured) -> Tally {
    let mut t = Tally::default();
    for l in &c.lines {
        if l.starts_with("PASS ") {
            t.passed += 1;
        } else if l.starts_with("FAIL ") {
            t.failed += 1;
        }
    }
    let closing = c
        .lines
        .iter()
        .any(|l| l.ends_with(" failed") && l.contains(" passed, "));
    if c.timed_out {
        println!("FAIL {name}: timed out");
        t.failed += 1;
    } else if !closing || (c.status != Some(EXIT_SUCCESS) && t.failed == 0) {
        println!(
            "FAIL {name}: the kernel stopped without a result (QEMU status {:?})",
            c.status
        );
        t.failed += 1;
    }
    t
}

/// Counts the userland runner's PASS/FAIL lines; the boot must end with the runner's
/// closing line and init's exit status.
fn tally_userland(c: &qemu::Captured) -> Tally {
    let mut t = Tally::default();
    for l in &c.lines {
        if l.starts_with("PASS ") {
            t.passed += 1;
        } else if l.starts_with("FAIL ") {
            t.failed += 1;
        }
    }
    let closing = c
        .lines
        .iter()
        .any(|l| l.contains(" passed, ") && l.contains(" failed, ") && l.ends_with(" skipped"));
    if c.timed_out {
        println!("FAIL userland: timed out (last line: {:?})", c.lines.last());
        t.failed += 1;
    } else if !closing {
        println!(
            "FAIL userland: the runner did not finish (QEMU status {:?}, last line: {:?})",
            c.status,
            c.lines.last()
        );
        t.failed += 1;
    }
    t
}

/// The vDSO keeps clock reads out of the kernel: `vdso-clockloop` reads the clock
/// 200,000 times through the libc, and its system-call count (printed by
/// `kestrel.syscall_stats`) must be only its start-up and exit.
fn vdso_check(c: &qemu::Captured) -> bool {
    const NAME: &str = "vdso.clock_reads_through_libc_make_no_system_calls";
    let report = c
        .lines
        .iter()
        .find(|l| l.starts_with("syscalls: pid ") && l.contains("(vdso-clockloop)"));
    // `...): N interrupts, N page faults, N calls: ...`
    let calls = report.and_then(|l| {
        let before = l.split(" calls").next()?;
        before.rsplit(' ').next()?.parse::<u64>().ok()
    });
    let clean = c
        .lines
        .iter()
        .any(|l| l.contains("monotonic went backwards 0 times"));
    match calls {
        Some(n) if n < 50 && clean => {
            println!("PASS {NAME}: {n} system calls in all");
            true
        }
        _ => {
            println!("FAIL {NAME}: report {report:?}, monotonic order kept: {clean}");
            false
        }
    }
}

/// Dynamically linked programs run: musl's and glibc's (threads, TLS, errno, the
/// vDSO through the libc), and the host's own `/usr/bin/seq`.
fn dynamic_check(c: &qemu::Captured) -> bool {
    const NAME: &str = "exec.dynamically_linked_musl_glibc_and_host_programs_run";
    let want = ["dynlink musl: ok", "dynlink glibc: ok", "seq: 1 2 3"];
    let missing: Vec<&str> = want
        .iter()
        .filter(|w| !c.lines.iter().any(|l| l.trim_end() == **w))
        .copied()
        .collect();
    if missing.is_empty() {
        println!("PASS {NAME}");
        true
    } else {
        println!("FAIL {NAME}: missing {missing:?}");
        for l in c
            .lines
            .iter()
            .filter(|l| l.starts_with("dynlink") || l.starts_with("seq"))
        {
            println!("    | {l}");
        }
        false
    }
}

/// `--with` brings what the host's symlinks lead to: a symlinked program with
/// its libraries (one of them behind a symlink), a program under a symlinked
/// directory, and on a merged-/usr host `/bin/dash` through `/bin -> usr/bin`.
fn with_check(c: &qemu::Captured, want: &[&str]) -> bool {
    const NAME: &str = "xtask.with_brings_symlinks_what_they_lead_to_and_libraries";
    let missing: Vec<&str> = want
        .iter()
        .filter(|w| !c.lines.iter().any(|l| l.trim_end() == **w))
        .copied()
        .collect();
    if missing.is_empty() {
        println!("PASS {NAME}");
        return true;
    }
    println!("FAIL {NAME}: missing {missing:?}");
    for l in c
        .lines
        .iter()
        .filter(|l| l.contains("with ") || l.contains("kt-with"))
    {
        println!("    | {l}");
    }
    false
}

/// Where `cmd` is on the host's PATH.
fn which(cmd: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// Debian's strace traced `sh -c 'echo strace-probe | /bin/cat'` with `-f`: the
/// shell's exec, its pipe, both children (attached through PTRACE_O_TRACEFORK
/// or TRACECLONE, their lines tagged with their pid), their execs and exits, the
/// shell's waits, and the pipeline's output.
fn strace_check(c: &qemu::Captured, ran: bool) -> bool {
    const NAME: &str = "xtask.strace_follows_a_pipeline_through_ptrace";
    if !ran {
        println!("SKIP {NAME}: no strace on this host");
        return true;
    }
    let lines: Vec<&str> = c
        .lines
        .iter()
        .filter_map(|l| l.trim_end().strip_prefix("strace: "))
        .collect();
    let has = |f: &dyn Fn(&str) -> bool| lines.iter().any(|l| f(l));
    let want: [(&str, bool); 7] = [
        (
            "execve of /bin/sh",
            has(&|l| l.starts_with("execve(\"/bin/sh\"")),
        ),
        ("pipe2", has(&|l| l.contains("pipe2(["))),
        (
            "a child's execve of /bin/cat",
            has(&|l| l.starts_with("[pid") && l.contains("execve(\"/bin/cat\"")),
        ),
        ("the output", has(&|l| l.contains("strace-probe"))),
        ("wait4", has(&|l| l.contains("wait4("))),
        (
            "a child's exit",
            has(&|l| l.starts_with("[pid") && l.contains("+++ exited with 0 +++")),
        ),
        ("the shell's exit", has(&|l| l == "+++ exited with 0 +++")),
    ];
    let missing: Vec<&str> = want.iter().filter(|w| !w.1).map(|w| w.0).collect();
    if missing.is_empty() {
        println!("PASS {NAME}");
        return true;
    }
    println!("FAIL {NAME}: missing {missing:?}");
    for l in &lines {
        println!("    | {l}");
    }
    false
}

/// Running out of memory kills the largest process (SIGKILL), never the kernel,
/// and not the small processes faulting at the same time; the system goes on
/// allocating.
fn oom_check(c: &qemu::Captured) -> bool {
    const NAME: &str = "mm.running_out_of_memory_kills_the_largest_process_not_the_kernel";
    let want = "oom: child killed by signal 9, bystanders 3/3 alive, afterwards allocated 8 MiB";
    if c.lines.iter().any(|l| l == want) {
        println!("PASS {NAME}");
        true
    } else {
        let seen: Vec<&String> = c
            .lines
            .iter()
            .filter(|l| l.starts_with("oom:") || l.contains("PANIC"))
            .collect();
        println!("FAIL {NAME}: saw {seen:?}");
        false
    }
}

/// Types at the interactive shell (busybox ash on the console, as `cargo xtask
/// run` starts it) the way a person would: ^C stops a foreground job and not the
/// shell, ^Z stops it and `fg` resumes it, `kill %1` ends a background job, `trap`
/// runs, a background read stops with SIGTTIN, and `exit` powers off. Patterns
/// are chosen so that the echo of the typed command cannot match them.
/// /dev/hwrng (virtio-rng) gives 16 bytes in each of two boots, and they
/// differ: the bytes come from the host, not from a seed in the kernel.
fn hwrng_check(opts: &Opts, a: &build::Artefacts) -> Result<bool, String> {
    const NAME: &str = "drivers.hwrng_bytes_differ_between_boots";
    let mut tree = initramfs::base()?;
    initramfs::add_cmd(
        &mut tree,
        "echo \"hwrng $(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \\n')\"",
    );
    let mut ra = a.clone();
    ra.initramfs = Some(initramfs::write(&tree, "initramfs-hwrng.cpio")?);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let c = qemu::capture(
            qemu::command(
                opts,
                &ra,
                &Boot::Direct {
                    cmdline: qemu::cmdline(opts, "quiet"),
                },
            ),
            Duration::from_secs(120),
            false,
        )?;
        let got = c
            .lines
            .iter()
            .find_map(|l| l.trim_end().strip_prefix("hwrng ").map(str::to_string));
        seen.push(got);
    }
    let ok = match (&seen[0], &seen[1]) {
        (Some(x), Some(y)) => x.len() == 32 && y.len() == 32 && x != y,
        _ => false,
    };
    if ok {
        println!("PASS {NAME}");
    } else {
        println!("FAIL {NAME}: the two boots read {seen:?}");
    }
    Ok(ok)
}

/// `cargo xtask trace`'s data: a pipe between two processes (`dd` writing 64 KiB
/// at a time, a pipe's whole capacity, so one side waits for the other) gives
/// wake flows between the two programs' threads, and their write and read calls.
fn trace_check(opts: &Opts, a: &build::Artefacts) -> Result<bool, String> {
    const NAME: &str = "tools.trace_of_a_pipe_shows_wakes_across_it_and_the_calls";
    let lines = qemu::run_workload(
        opts,
        a,
        &qemu::Workload {
            cmd: "dd if=/dev/zero bs=65536 count=32 2>/dev/null | cat > /dev/null",
            with: &[],
            cpio: "initramfs-trace-check.cpio",
            cmdline: "kestrel.trace=on",
        },
        Duration::from_secs(180),
        &mut |_| false,
    )?
    .lines;
    let d = crate::trace::parse(&lines);
    // Task id -> command of each user thread, and who woke whom among them.
    let mut comm_of = std::collections::HashMap::new();
    for e in d.events.iter().filter(|e| e.kind == "thread") {
        let (pid, tid) = ((e.b >> 32) as u32, e.b as u32);
        if let Some(c) = d.comms.get(&(pid, tid)) {
            comm_of.insert(e.a, c.as_str());
        }
    }
    let mut flows = std::collections::BTreeSet::new();
    for e in d.events.iter().filter(|e| e.kind == "wake") {
        if let (Some(&woken), Some(&by)) = (comm_of.get(&e.a), comm_of.get(&e.b))
            && woken != by
        {
            flows.insert((by, woken));
        }
    }
    // Which side waits depends on timing (most runs show both): at least one
    // wake across the pipe.
    let across = flows.contains(&("dd", "cat")) || flows.contains(&("cat", "dd"));
    let calls: std::collections::HashSet<u64> = d
        .events
        .iter()
        .filter(|e| e.kind == "sys")
        .map(|e| e.b)
        .collect();
    let rw = calls.contains(&0) && calls.contains(&1); // read, write
    let ok = d.complete && across && rw;
    if ok {
        println!(
            "PASS {NAME}: {} events, wakes between processes {flows:?}",
            d.events.len()
        );
    } else {
        println!(
            "FAIL {NAME}: complete {}, {} events, wakes between processes {flows:?}, read and write seen {rw}",
            d.complete,
            d.events.len()
        );
    }
    Ok(ok)
}

/// `cargo xtask profile`'s data: a loop of one-byte reads of /dev/zero spends its
/// samples in the read path, and the folded stacks name it.
fn profile_check(opts: &Opts, a: &build::Artefacts) -> Result<bool, String> {
    const NAME: &str = "tools.profile_of_a_read_loop_names_the_read_path";
    let lines = qemu::run_workload(
        opts,
        a,
        &qemu::Workload {
            cmd: "dd if=/dev/zero of=/dev/null bs=1 count=200000 2>/dev/null",
            with: &[],
            cpio: "initramfs-profile-check.cpio",
            cmdline: "kestrel.profile=997",
        },
        Duration::from_secs(180),
        &mut |_| false,
    )?
    .lines;
    let d = crate::profile::parse(&lines);
    let kernel = crate::profile::Symbols::from_nm_text(
        &std::fs::read_to_string(&a.symbols).unwrap_or_default(),
    );
    let folded = crate::profile::fold(&d, &kernel, &std::collections::HashMap::new());
    let total: u64 = folded.values().sum();
    let in_read: u64 = folded
        .iter()
        .filter(|(s, _)| s.contains("sys_read") || s.contains("read_to_user"))
        .map(|(_, n)| n)
        .sum();
    let ok = d.complete && in_read > 0;
    if ok {
        println!("PASS {NAME}: {in_read} of {total} samples in the read path");
    } else {
        println!(
            "FAIL {NAME}: complete {}, {} samples, {in_read} naming sys_read or read_to_user",
            d.complete,
            d.samples.len()
        );
    }
    Ok(ok)
}

/// `seq 1 140000` (1 MiB) written to the console: every line arrives, in order,
/// through the console's transmit ring and interrupt-driven transmitter.
fn tty_bulk_check(opts: &Opts, a: &build::Artefacts) -> Result<bool, String> {
    const NAME: &str = "tty.a_mebibyte_of_output_arrives_intact";
    const LINES: u32 = 140_000;
    let mut tree = initramfs::base()?;
    initramfs::add_cmd(&mut tree, &format!("seq 1 {LINES}; echo seq-done"));
    let mut ta = a.clone();
    ta.initramfs = Some(initramfs::write(&tree, "initramfs-tty.cpio")?);
    let c = qemu::capture(
        qemu::command(
            opts,
            &ta,
            &Boot::Direct {
                cmdline: qemu::cmdline(opts, "quiet"),
            },
        ),
        Duration::from_secs(300),
        false,
    )?;
    let numbers: Vec<&str> = c
        .lines
        .iter()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    let in_order = numbers
        .iter()
        .enumerate()
        .all(|(i, n)| n.parse::<u32>() == Ok(i as u32 + 1));
    let done = c.lines.iter().any(|l| l.trim_end() == "seq-done");
    if numbers.len() == LINES as usize && in_order && done {
        println!("PASS {NAME}");
        return Ok(true);
    }
    let first_bad = numbers
        .iter()
        .enumerate()
        .find(|(i, n)| n.parse::<u32>() != Ok(*i as u32 + 1))
        .map(|(i, n)| format!("line {} reads {n:?}", i + 1));
    println!(
        "FAIL {NAME}: {} of {LINES} lines, {}, seq-done {}",
        numbers.len(),
        first_bad.unwrap_or_else(|| "all in order".into()),
        if done { "seen" } else { "missing" }
    );
    Ok(false)
}

fn shell_check(opts: &Opts, a: &build::Artefacts) -> Result<bool, String> {
    const NAME: &str = "tty.shell_job_control_ctrl_c_ctrl_z_fg_kill_trap_answers_while_8_spin";
    let mut sa = a.clone();
    sa.initramfs = Some(initramfs::write(
        &initramfs::base()?,
        "initramfs-shell.cpio",
    )?);
    let cmd = qemu::command(
        opts,
        &sa,
        &Boot::Direct {
            cmdline: qemu::cmdline(opts, "quiet"),
        },
    );
    let mut s = crate::session::Session::start(cmd)?;
    let short = Duration::from_secs(30);
    let settle = Duration::from_millis(1500);
    let steps = (|| -> Result<(), String> {
        s.expect("kestrel:~# ", Duration::from_secs(120))?;
        // ^C ends the foreground job; the shell reports 128 + SIGINT.
        s.send("sleep 30\n")?;
        s.pause(settle);
        s.send("\x03")?;
        s.send("echo status=$?\n")?;
        s.expect("status=130", short)?;
        // ^Z stops it, fg brings it back, ^C ends it.
        s.send("sleep 30\n")?;
        s.pause(settle);
        s.send("\x1a")?;
        s.expect("Stopped", short)?;
        s.send("fg\n")?;
        s.pause(settle);
        s.send("\x03")?;
        s.send("echo fg-$((1+1))\n")?;
        s.expect("fg-2", short)?;
        // A background job ended with kill %% (SIGTERM: 128 + 15).
        s.send("sleep 30 &\n")?;
        s.pause(settle);
        s.send("kill %%; wait $!; echo killed=$?\n")?;
        s.expect("killed=143", short)?;
        // trap runs its handler.
        s.send("trap 'echo trap-$((2+3))' USR1; kill -USR1 $$\n")?;
        s.expect("trap-5", short)?;
        // A background read from the terminal stops the job (SIGTTIN).
        s.send("cat &\n")?;
        s.pause(settle);
        s.send("jobs\n")?;
        s.expect("Stopped (tty input)", short)?;
        s.pause(settle);
        // `jobs` after the kill lets the shell note the job is gone, or `exit`
        // would first say "You have stopped jobs" (as it would on Linux).
        s.send("kill -9 %%; sleep 1; jobs; echo done-$((3+4))\n")?;
        s.expect("done-7", short)?;
        s.pause(settle);
        // The shell answers at once while eight jobs spin in user mode.
        s.send("for i in 1 2 3 4 5 6 7 8; do (while :; do :; done) & done\n")?;
        s.pause(settle);
        s.send("echo answered-$((4+5))\n")?;
        s.expect("answered-9", Duration::from_secs(10))?;
        s.send("kill -9 $(jobs -p); wait; jobs; echo calm-$((5+6))\n")?;
        s.expect("calm-11", short)?;
        s.pause(settle);
        s.send("exit\n")?;
        Ok(())
    })();
    let tail = s.tail(1500);
    let status = s.finish(Duration::from_secs(30));
    match (steps, status) {
        (Ok(()), Some(qemu::EXIT_SUCCESS)) => {
            println!("PASS {NAME}");
            Ok(true)
        }
        (Ok(()), other) => {
            println!(
                "FAIL {NAME}: exit did not power off cleanly (QEMU status {other:?}):\n{tail}"
            );
            Ok(false)
        }
        (Err(e), _) => {
            println!("FAIL {NAME}: {e}");
            Ok(false)
        }
    }
}

/// The scratch disk's contents as xtask writes them: each 512-byte sector
/// starts with its number in text (`kestrel sector 004321\n`), then bytes that
/// differ from sector to sector.
fn disk_pattern(sectors: usize) -> Vec<u8> {
    let mut d = Vec::with_capacity(sectors * 512);
    for i in 0..sectors {
        let text = format!("kestrel sector {i:06}\n");
        d.extend_from_slice(text.as_bytes());
        d.extend((text.len()..512).map(|j| (i * 7 + j) as u8));
    }
    d
}

/// The MD5 sum of `data` as md5sum prints it (the host's md5sum, so the guest's
/// busybox is checked against another implementation).
pub(crate) fn md5(data: &[u8]) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run md5sum: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("md5sum: no stdin")?
        .write_all(data)
        .map_err(|e| format!("md5sum: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("md5sum: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| "md5sum printed nothing".into())
}

/// The guest's side of [`devices_check`]: reads of the disk xtask filled
/// (one sector, the whole disk in two block sizes, four regions at once),
/// writes the host then looks for, a flush, a write to a read-only disk, and
/// the NIC's address and link; then TCP: busybox httpd and wget over
/// loopback (IPv4 and IPv6), and wget from the host's server (xtask's, at
/// 10.0.2.2:HOSTPORT) over eth0; busybox `ping` (a raw ICMP socket) to
/// 127.0.0.1, ::1 and QEMU's gateway; then busybox `ip` over netlink: links,
/// addresses and routes shown, an address and a route added and shown (also
/// by `route -n` from /proc/net/route), the default route deleted (8.8.8.8
/// unreachable, the host's server still reached on the link) and added
/// again, eth0 down (unreachable) and up (reached), lo down and up.
const DEVICES_SCRIPT: &str = "\
echo \"disk size $(cat /sys/block/vda/size) ro $(cat /sys/block/vda/ro) $(cat /sys/block/vdb/ro)\"; \
echo \"disk sector $(dd if=/dev/vda bs=512 skip=4321 count=1 2>/dev/null | head -c 21)\"; \
echo \"disk md5 $(md5sum < /dev/vda)\"; \
echo \"disk md5 $(dd if=/dev/vda bs=64k 2>/dev/null | md5sum)\"; \
for i in 0 1 2 3; do echo \"disk part $i $(dd if=/dev/vda bs=4k skip=$((i * 512)) count=512 2>/dev/null | md5sum)\" & done; wait; \
printf 'written by kestrel' | dd of=/dev/vda bs=512 seek=100 conv=notrunc 2>/dev/null && echo 'disk wrote text'; \
dd if=/dev/zero of=/dev/vda bs=4096 seek=3 count=2 conv=notrunc 2>/dev/null && echo 'disk wrote zeros'; \
sync /dev/vda && echo 'disk synced'; \
echo \"disk back $(dd if=/dev/vda bs=512 skip=100 count=1 2>/dev/null | head -c 18)\"; \
printf x | dd of=/dev/vdb conv=notrunc 2>/dev/null; echo \"disk read-only write status $?\"; \
echo \"net $(cat /sys/class/net/eth0/address) $(cat /sys/class/net/eth0/operstate)\"; \
mkdir -p /www && seq 1 20000 > /www/f && httpd -p 8080 -h /www && \
echo \"tcp lo4 $(wget -q -O - http://127.0.0.1:8080/f | md5sum)\" && \
echo \"tcp lo6 $(wget -q -O - 'http://[::1]:8080/f' | md5sum)\" && \
echo \"tcp served $(md5sum < /www/f)\"; \
echo \"tcp eth0 $(wget -q -O - http://10.0.2.2:HOSTPORT/ | md5sum)\"; \
ping -c 3 127.0.0.1 | grep -q '^3 packets transmitted, 3 packets received' && echo 'ping lo 3 of 3'; \
ping6 -c 2 ::1 | grep -q '^2 packets transmitted, 2 packets received' && echo 'ping lo6 2 of 2'; \
ping -c 2 10.0.2.2 | grep -q '^2 packets transmitted, 2 packets received' && echo 'ping gateway 2 of 2'; \
ip link | grep -q '^1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65535' && echo 'nl link lo'; \
ip link show eth0 | grep -q 'link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff' && echo 'nl link eth0'; \
ip addr | grep -q 'inet 127.0.0.1/8 scope host lo' && echo 'nl addr lo'; \
ip addr show dev eth0 | grep -q 'inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0' && echo 'nl addr eth0'; \
ip route | grep -q '^default via 10.0.2.2 dev eth0' && echo 'nl route default'; \
ip addr add 10.0.2.16/24 dev eth0 && ip addr show dev eth0 | grep -q 'inet 10.0.2.16/24 .*secondary' && echo 'nl addr added'; \
ip addr add 10.0.2.16/24 dev eth0 2>&1 | grep -q 'File exists' && echo 'nl addr again eexist'; \
ip route add 192.168.77.0/24 via 10.0.2.2 && ip route | grep -q '^192.168.77.0/24 via 10.0.2.2 dev eth0' && echo 'nl route added'; \
route -n | grep -q '^192.168.77.0 *10.0.2.2 *255.255.255.0 *UG' && echo 'nl route -n'; \
ip route del default && ! ip route | grep -q default && echo 'nl default deleted'; \
wget -q -O /dev/null http://8.8.8.8/ 2>&1 | grep -q 'unreachable' && echo 'nl no route to 8.8.8.8'; \
echo \"nl on link $(wget -q -O - http://10.0.2.2:HOSTPORT/ | md5sum)\"; \
ip route add default via 10.0.2.2 && ip route | grep -q '^default via 10.0.2.2 dev eth0' && echo 'nl default added'; \
ip link set eth0 down && ip link show eth0 | grep -q 'eth0: <BROADCAST,MULTICAST> ' && echo \"nl eth0 down $(cat /sys/class/net/eth0/operstate)\"; \
wget -q -O /dev/null http://10.0.2.2:HOSTPORT/ 2>&1 | grep -q 'unreachable' && echo 'nl eth0 down unreachable'; \
ip link set eth0 up && echo \"nl eth0 up $(cat /sys/class/net/eth0/operstate) $(wget -q -O - http://10.0.2.2:HOSTPORT/ | md5sum)\"; \
ip link set lo down && ip link show lo | grep -q 'lo: <LOOPBACK> ' && ip link set lo up && echo \"nl lo down up $(cat /sys/class/net/lo/operstate) $(wget -q -O - http://127.0.0.1:8080/f | md5sum)\"";

/// A web server on the host's loopback for the guest to fetch from through
/// QEMU's user network: every request gets `body`. Returns its port; the
/// thread lives until xtask exits.
fn host_server(body: Vec<u8>) -> Result<u16, String> {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = c.write_all(head.as_bytes());
            let _ = c.write_all(&body);
        }
    });
    Ok(port)
}

/// Disks and NICs through the virtio drivers, in one boot with QEMU's
/// virtio-blk and virtio-net: the guest reads a disk image xtask filled with a
/// known pattern and writes to it, and xtask checks the image afterwards.
fn devices_check(opts: &Opts, a: &build::Artefacts) -> Result<Tally, String> {
    const SECTORS: usize = 16384; // 8 MiB: four regions of 2 MiB
    let dir = build::out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (rw, ro) = (dir.join("disk-check.img"), dir.join("disk-check-ro.img"));
    let image = disk_pattern(SECTORS);
    std::fs::write(&rw, &image).map_err(|e| format!("{}: {e}", rw.display()))?;
    std::fs::write(&ro, &image[..1 << 20]).map_err(|e| format!("{}: {e}", ro.display()))?;

    let mut o = opts.clone();
    o.disks = vec![
        crate::Disk {
            path: rw.clone(),
            read_only: false,
        },
        crate::Disk {
            path: ro.clone(),
            read_only: true,
        },
    ];
    o.net = Some("user".into());
    let mut tree = initramfs::base()?;
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + (i >> 9)) as u8).collect();
    let body_md5 = md5(&body)?;
    let port = host_server(body)?;
    initramfs::add_cmd(
        &mut tree,
        &DEVICES_SCRIPT.replace("HOSTPORT", &port.to_string()),
    );
    let mut da = a.clone();
    da.initramfs = Some(initramfs::write(&tree, "initramfs-devices.cpio")?);
    let c = qemu::capture(
        qemu::command(
            &o,
            &da,
            &Boot::Direct {
                cmdline: qemu::cmdline(opts, "quiet"),
            },
        ),
        Duration::from_secs(300),
        false,
    )?;
    let has = |want: &str| c.lines.iter().any(|l| l.trim_end() == want);
    let show = |prefix: &str| {
        for l in c
            .lines
            .iter()
            .filter(|l| l.starts_with(prefix) || l.contains("PANIC"))
        {
            println!("    | {l}");
        }
    };
    let mut t = Tally::default();
    let mut report = |name: &str, missing: Vec<String>, prefix: &str| {
        if missing.is_empty() && !c.timed_out {
            println!("PASS {name}");
            t.passed += 1;
        } else {
            println!(
                "FAIL {name}: missing {missing:?}{}",
                if c.timed_out { " (timed out)" } else { "" }
            );
            show(prefix);
            t.failed += 1;
        }
    };

    let whole = md5(&image)?;
    let mut want = vec![
        format!("disk size {SECTORS} ro 0 1"),
        "disk sector kestrel sector 004321".to_string(),
        format!("disk md5 {whole}  -"),
    ];
    for i in 0..4 {
        let part = md5(&image[i << 21..(i + 1) << 21])?;
        want.push(format!("disk part {i} {part}  -"));
    }
    let missing = want.into_iter().filter(|w| !has(w)).collect();
    report(
        "blockdev.guest_reads_the_disk_the_host_filled_whole_and_in_parallel",
        missing,
        "disk",
    );

    // What the guest wrote: 18 bytes into sector 100 (the rest of the sector
    // kept), and zeros over 8 KiB from byte 12288; the read-only disk untouched.
    let mut expect = image.clone();
    expect[51200..51218].copy_from_slice(b"written by kestrel");
    expect[12288..20480].fill(0);
    let after = std::fs::read(&rw).map_err(|e| format!("{}: {e}", rw.display()))?;
    let after_ro = std::fs::read(&ro).map_err(|e| format!("{}: {e}", ro.display()))?;
    let mut missing: Vec<String> = [
        "disk wrote text",
        "disk wrote zeros",
        "disk synced",
        "disk back written by kestrel",
        "disk read-only write status 1",
    ]
    .into_iter()
    .filter(|w| !has(w))
    .map(String::from)
    .collect();
    if after != expect {
        let first = after.iter().zip(&expect).position(|(x, y)| x != y);
        missing.push(format!(
            "the image as expected (first difference at byte {first:?})"
        ));
    }
    if after_ro[..] != image[..1 << 20] {
        missing.push("the read-only image unchanged".into());
    }
    report(
        "blockdev.host_sees_what_the_guest_wrote_and_a_read_only_disk_refuses_writes",
        missing,
        "disk",
    );

    // QEMU's default address for the first NIC.
    let net = "net 52:54:00:12:34:56 up";
    let missing = if has(net) {
        vec![]
    } else {
        vec![net.to_string()]
    };
    report(
        "net.virtio_nic_is_eth0_with_its_mac_and_link_up",
        missing,
        "net",
    );

    // busybox's httpd and wget over lo, and the host's server over eth0.
    let served = c
        .lines
        .iter()
        .find_map(|l| l.trim_end().strip_prefix("tcp served "))
        .unwrap_or("(no md5)")
        .to_string();
    let want = [
        format!("tcp lo4 {served}"),
        format!("tcp lo6 {served}"),
        format!("tcp eth0 {body_md5}  -"),
    ];
    let missing = want.into_iter().filter(|w| !has(w)).collect();
    report(
        "net.tcp_over_loopback_and_eth0_carries_files_intact",
        missing,
        "tcp",
    );

    // busybox ping's raw ICMP sockets on lo and through eth0 (slirp answers
    // its gateway address itself).
    let want = ["ping lo 3 of 3", "ping lo6 2 of 2", "ping gateway 2 of 2"];
    let missing = want
        .into_iter()
        .filter(|w| !has(w))
        .map(String::from)
        .collect();
    report(
        "net.busybox_ping_reaches_lo_and_the_gateway",
        missing,
        "ping",
    );

    // busybox ip over netlink (and route -n over /proc/net/route).
    let mut want: Vec<String> = [
        "nl link lo",
        "nl link eth0",
        "nl addr lo",
        "nl addr eth0",
        "nl route default",
        "nl addr added",
        "nl addr again eexist",
        "nl route added",
        "nl route -n",
        "nl default deleted",
        "nl no route to 8.8.8.8",
        "nl default added",
        "nl eth0 down down",
        "nl eth0 down unreachable",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    want.push(format!("nl on link {body_md5}  -"));
    want.push(format!("nl eth0 up up {body_md5}  -"));
    want.push(format!("nl lo down up unknown {served}"));
    let missing = want.into_iter().filter(|w| !has(w)).collect();
    report(
        "net.busybox_ip_shows_and_changes_links_addresses_and_routes",
        missing,
        "nl ",
    );
    Ok(t)
}

/// The template driver (drivers/template) on QEMU's edu device, as a driver
/// author runs it (`cargo xtask run --device edu --append log=info`): probed,
/// its factorial answered by an MSI, its DMA round trip done (128M keeps the
/// buffer in the 256 MiB edu reaches), and from user space its interrupts in
/// /proc/interrupts and its name in /sys. The shell waits for the third
/// interrupt (a factorial, two DMA transfers) before it looks.
fn template_driver_check(opts: &Opts, a: &build::Artefacts) -> Result<bool, String> {
    const NAME: &str = "drivers.template_drives_qemu_edu_by_interrupt_and_dma";
    let mut tree = initramfs::base()?;
    initramfs::add_cmd(
        &mut tree,
        "n=0; while [ $n -lt 100 ]; do \
           c=$(awk '/ edu$/ { for (i = 2; i <= NF - 4; i++) s += $i } END { print s + 0 }' /proc/interrupts); \
           [ \"$c\" -ge 3 ] && break; n=$((n + 1)); sleep 0.1; done; sleep 0.5; \
         echo \"edu interrupts: $c\"; cat /sys/bus/pci/devices/*/driver_name",
    );
    let mut ea = a.clone();
    ea.initramfs = Some(initramfs::write(&tree, "initramfs-edu.cpio")?);
    let mut o = opts.clone();
    o.mem = "128M".into();
    o.devices.push("edu".into());
    let c = qemu::capture(
        qemu::command(
            &o,
            &ea,
            &Boot::Direct {
                cmdline: qemu::cmdline(opts, "quiet log=info"),
            },
        ),
        Duration::from_secs(120),
        false,
    )?;
    let want = [
        "1234:11e8 class 00ff00 -> edu",
        ": 5! = 120 (by interrupt)",
        ": DMA round trip of 64 bytes matches",
        "edu interrupts: 3",
    ];
    let mut missing: Vec<&str> = want
        .iter()
        .filter(|w| !c.lines.iter().any(|l| l.contains(**w)))
        .copied()
        .collect();
    if !c.lines.iter().any(|l| l.trim_end() == "edu") {
        missing.push("edu (in /sys/bus/pci/devices/*/driver_name)");
    }
    if missing.is_empty() && !c.timed_out {
        println!("PASS {NAME}");
        return Ok(true);
    }
    println!(
        "FAIL {NAME}: missing {missing:?} (QEMU status {:?})",
        c.status
    );
    for l in c.lines.iter().rev().take(15).rev() {
        println!("    | {l}");
    }
    Ok(false)
}

/// A boot that must end a certain way: robustness checks of the boot path itself.
struct BootCheck {
    name: &'static str,
    cmdline: &'static str,
    mem: &'static str,
    status: i32,
    /// Every one of these must appear in the serial output.
    expect: &'static [&'static str],
    /// CPUs for this boot (else `--smp`).
    smp: Option<u32>,
}

const BOOT_CHECKS: &[BootCheck] = &[
    BootCheck {
        name: "boot.unknown_cmdline_option_warns_and_boots_on",
        cmdline: "kestrel.test log=warn kestrel.no_such_option=1 log=loud",
        mem: "128M",
        status: EXIT_SUCCESS,
        expect: &[
            "\"kestrel.no_such_option=1\": unknown option",
            "\"log=loud\": log level must be",
            " passed, 0 failed",
        ],
        smp: None,
    },
    BootCheck {
        name: "boot.too_little_memory_stops_with_a_clear_message",
        cmdline: "",
        mem: "8M",
        status: EXIT_FAILURE,
        expect: &["Kestrel: not enough memory"],
        smp: None,
    },
    BootCheck {
        name: "boot.panic_reports_location_and_symbolised_backtrace",
        cmdline: "kestrel.crash=panic",
        mem: "128M",
        status: EXIT_PANIC,
        expect: &[
            "KERNEL PANIC: kestrel.crash=panic was given",
            "at kernel/src/main.rs:",
            "kestrel::crash+0x",
        ],
        smp: None,
    },
    BootCheck {
        name: "boot.kernel_page_fault_reports_registers_and_cr2",
        cmdline: "kestrel.crash=page-fault",
        mem: "128M",
        status: EXIT_PANIC,
        expect: &[
            "page fault (#PF) (vector 14) in kernel mode",
            "CR2 0xffffc07fdead0000",
            "RAX 0x",
            "kestrel::crash+0x",
        ],
        smp: None,
    },
    BootCheck {
        name: "boot.kernel_stack_overflow_is_a_double_fault_report",
        cmdline: "kestrel.crash=stack-overflow",
        mem: "128M",
        status: EXIT_PANIC,
        expect: &["double fault (#DF) (vector 8) in kernel mode"],
        smp: None,
    },
    BootCheck {
        name: "boot.a_cpu_that_does_not_start_is_left_out",
        cmdline: "kestrel.test log=warn kestrel.stall_cpu=1",
        mem: "128M",
        status: EXIT_SUCCESS,
        expect: &[
            "cpu 1 (APIC 1) did not start within 1 s: left out",
            "(1 of 2 CPUs in ACPI online)",
            " passed, 0 failed",
        ],
        smp: Some(2),
    },
    BootCheck {
        name: "boot.the_lockup_watchdog_reports_a_spinning_poll_on_one_cpu",
        cmdline: "kestrel.test=watchdog log=warn",
        mem: "128M",
        status: EXIT_SUCCESS,
        expect: &[
            "watchdog: CPU 0 stuck for",
            "in the kernel at 0x",
            "kestrel::tests::spin_until+0x",
            "1 passed, 0 failed",
        ],
        smp: Some(1),
    },
    BootCheck {
        name: "boot.maxcpus_limits_the_cpus_started",
        cmdline: "kestrel.test log=warn maxcpus=2",
        mem: "128M",
        status: EXIT_SUCCESS,
        expect: &["(2 of 3 CPUs in ACPI online)", " passed, 0 failed"],
        smp: Some(3),
    },
];

fn boot_check(opts: &Opts, a: &build::Artefacts, check: &BootCheck) -> Result<bool, String> {
    let mut o = opts.clone();
    o.mem = check.mem.to_string();
    if let Some(n) = check.smp {
        o.smp = n;
    }
    let cmd = qemu::command(
        &o,
        a,
        &Boot::Direct {
            cmdline: check.cmdline.to_string(),
        },
    );
    let c = qemu::capture(cmd, Duration::from_secs(120), false)?;
    let text = c.lines.join("\n");
    let missing: Vec<&str> = check
        .expect
        .iter()
        .filter(|e| !text.contains(**e))
        .copied()
        .collect();
    if c.status == Some(check.status) && missing.is_empty() && !c.timed_out {
        println!("PASS {}", check.name);
        return Ok(true);
    }
    println!(
        "FAIL {}: QEMU status {:?} (want {}), missing output {:?}",
        check.name, c.status, check.status, missing
    );
    for l in c.lines.iter().rev().take(15).rev() {
        println!("    | {l}");
    }
    Ok(false)
}

/// `cargo xtask test`.
pub fn test(opts: &Opts) -> Result<u8, String> {
    if opts.host {
        return crate::userland::run_host();
    }
    let started = Instant::now();
    let mut total = host_unit_tests()?;

    println!("xtask: documentation links");
    let (passed, failed) = crate::docs::check();
    total.add(Tally { passed, failed });

    let a = build::build_all(opts)?;
    let (accel, why) = qemu::accelerator(opts);
    println!("xtask: accelerator: {accel} ({why})");

    println!("xtask: in-kernel tests, direct boot (qemu -kernel, multiboot1)");
    let line = qemu::cmdline(opts, "kestrel.test log=warn");
    let c = qemu::capture(
        qemu::command(
            opts,
            &a,
            &Boot::Direct {
                cmdline: line.clone(),
            },
        ),
        Duration::from_secs(300),
        true,
    )?;
    total.add(tally_boot("kernel boot (direct)", &c));

    println!("xtask: in-kernel tests, GRUB boot (multiboot2)");
    let iso = build::iso(&a, &line)?;
    let c = qemu::capture(
        qemu::command(opts, &a, &Boot::Grub { iso }),
        Duration::from_secs(300),
        false,
    )?;
    let grub = tally_boot("kernel boot (GRUB)", &c);
    if grub.failed == 0 && grub.passed > 0 {
        println!(
            "PASS boot.grub_multiboot2: {} in-kernel tests passed",
            grub.passed
        );
        total.passed += 1;
    } else {
        for l in c
            .lines
            .iter()
            .filter(|l| l.starts_with("FAIL ") || l.contains("PANIC"))
        {
            println!("{l}");
        }
        println!(
            "FAIL boot.grub_multiboot2: {} passed, {} failed",
            grub.passed, grub.failed
        );
        total.failed += 1;
    }

    println!("xtask: userland suite on Kestrel (static C tests, busybox)");
    let (runner, tests) = userland::build()?;
    let clockloop = userland::build_tool("vdso-clockloop")?;
    let oom = userland::build_tool("oom")?;
    let mut tree = initramfs::base()?;
    userland::add_to(&mut tree, &runner, &tests)?;
    tree.add_host(&clockloop, "/tests/tools/vdso-clockloop")?;
    tree.add_host(&oom, "/tests/tools/oom")?;
    // Dynamically linked programs, with their interpreters and libraries.
    let dynamic = [
        (
            userland::build_dynamic_tool("dynlink", "musl-gcc", "dynlink-musl")?,
            "/tests/tools/dynlink-musl",
        ),
        (
            userland::build_dynamic_tool("dynlink", "gcc", "dynlink-glibc")?,
            "/tests/tools/dynlink-glibc",
        ),
        (std::path::PathBuf::from("/usr/bin/seq"), "/usr/bin/seq"),
    ];
    for (host, guest) in &dynamic {
        tree.add_host(host, guest)?;
        crate::dynlib::add_needs(&mut tree, host, guest)?;
    }
    // `--with` as a user types it, for symlinks on the host.
    let fixture = build::out_dir().join("with-fixture");
    userland::build_with_fixture(&fixture, "gcc")?;
    let fixture = std::fs::canonicalize(&fixture).map_err(|e| e.to_string())?;
    let (link, under_link) = (
        fixture.join("real/bin/kt-with-link"),
        fixture.join("link/bin/kt-with"),
    );
    let mut with = vec![
        link.to_string_lossy().into_owned(),
        under_link.to_string_lossy().into_owned(),
    ];
    let mut with_cmd = format!(
        "{} symlinked-program; {} symlinked-directory",
        link.display(),
        under_link.display()
    );
    let mut with_want = vec![
        "with symlinked-program: libkt-with",
        "with symlinked-directory: libkt-with",
    ];
    // Debian's strace, following a pipeline's processes through ptrace.
    let strace = which("strace");
    if let Some(s) = &strace {
        with.push(s.to_string_lossy().into_owned());
        with_cmd.push_str(&format!(
            "; {} -f -e trace=execve,pipe2,wait4,exit_group /bin/sh -c \
             'echo strace-probe | /bin/cat' 2>&1 | sed 's/^/strace: /'",
            s.display()
        ));
    }
    if std::path::Path::new("/bin/dash").is_file() {
        with.push("/bin/dash".into());
        with_cmd.push_str("; /bin/dash -c 'echo with bin-dash: $((6 * 7))'");
        with_want.push("with bin-dash: 42");
    }
    initramfs::add_with(&mut tree, &with)?;
    // After the suite: a loop of clock reads whose system calls the kernel counts,
    // then the dynamic programs.
    initramfs::add_cmd(
        &mut tree,
        &format!(
            "/tests/runner /tests/bin; /tests/tools/vdso-clockloop; /tests/tools/dynlink-musl; \
             /tests/tools/dynlink-glibc; echo \"seq: $(/usr/bin/seq 3 | tr '\\n' ' ')\"; \
             {with_cmd}; /tests/tools/oom"
        ),
    );
    let mut ua = a.clone();
    ua.initramfs = Some(initramfs::write(&tree, "initramfs-test.cpio")?);
    let mut o = opts.clone();
    o.mem = "512M".into();
    let c = qemu::capture(
        qemu::command(
            &o,
            &ua,
            &Boot::Direct {
                cmdline: qemu::cmdline(opts, "quiet kestrel.syscall_stats=vdso-clockloop"),
            },
        ),
        Duration::from_secs(600),
        true,
    )?;
    let u = tally_userland(&c);
    total.add(u);
    for ok in [
        vdso_check(&c),
        dynamic_check(&c),
        with_check(&c, &with_want),
        strace_check(&c, strace.is_some()),
        oom_check(&c),
    ] {
        if ok {
            total.passed += 1;
        } else {
            total.failed += 1;
        }
    }

    println!("xtask: the hardware random source");
    if hwrng_check(opts, &a)? {
        total.passed += 1;
    } else {
        total.failed += 1;
    }

    println!("xtask: a mebibyte of terminal output");
    if tty_bulk_check(opts, &a)? {
        total.passed += 1;
    } else {
        total.failed += 1;
    }

    println!("xtask: the study tools (trace, profile)");
    for ok in [trace_check(opts, &a)?, profile_check(opts, &a)?] {
        if ok {
            total.passed += 1;
        } else {
            total.failed += 1;
        }
    }

    println!("xtask: the interactive shell's job control");
    if shell_check(opts, &a)? {
        total.passed += 1;
    } else {
        total.failed += 1;
    }

    println!("xtask: disks and network cards (virtio-blk, virtio-net)");
    total.add(devices_check(opts, &a)?);

    println!(
        "xtask: ext2 on virtio-blk: the file-system tests on a disk, fsx and fsstress, mount, umount, e2fsck"
    );
    let (passed, failed) = crate::ext2::check(opts, &a)?;
    total.add(Tally { passed, failed });
    let (passed, failed) = crate::ext2::fsx_check(opts, &a)?;
    total.add(Tally { passed, failed });
    for check in [crate::ext2::root_check, crate::ext2::crash_check] {
        if check(opts, &a)? {
            total.passed += 1;
        } else {
            total.failed += 1;
        }
    }

    println!("xtask: the Debian root (cargo xtask rootfs), on a copy of its cached image");
    let (passed, failed) = crate::rootfs::test_check(opts, &a)?;
    total.add(Tally { passed, failed });

    println!("xtask: real programs over TCP/IP (redis, nginx, python3, iperf3, socat)");
    let (passed, failed) = crate::apps::check(opts, &a)?;
    total.add(Tally { passed, failed });

    println!("xtask: LTP tests that pass on Kestrel (userland-tests/ltp/expected-pass.txt)");
    let (passed, failed) = crate::ltp::check_expected(opts, &a)?;
    total.add(Tally { passed, failed });

    println!("xtask: the template driver on QEMU's edu device");
    if template_driver_check(opts, &a)? {
        total.passed += 1;
    } else {
        total.failed += 1;
    }

    println!("xtask: boot robustness checks");
    for check in BOOT_CHECKS {
        if boot_check(opts, &a, check)? {
            total.passed += 1;
        } else {
            total.failed += 1;
        }
    }

    println!(
        "xtask: finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("{} passed, {} failed", total.passed, total.failed);
    Ok(u8::from(total.failed > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_pattern_names_each_sector_and_differs_between_them() {
        let d = disk_pattern(5000);
        assert_eq!(d.len(), 5000 * 512);
        assert!(d[4321 * 512..].starts_with(b"kestrel sector 004321\n"));
        assert_ne!(d[512 + 100..1024], d[1024 + 100..1536]);
    }

    #[test]
    fn md5_is_the_host_s() {
        assert_eq!(md5(b"").unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
