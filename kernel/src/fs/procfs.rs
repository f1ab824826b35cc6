//! /proc: processes and the system, computed when read (Linux's procfs).
//!
//! Built from [`kestrel_vfs::pseudo`]: every directory lists and looks up its
//! entries on demand, so `/proc` always shows the processes alive now; every file
//! produces its text from the kernel's state at the moment it is read from the
//! start. `exe`, `cwd`, `root` and `fd/N` are *magic* links: following them goes
//! straight to the file, as in Linux (so `/proc/self/exe` runs the program even
//! if its path is gone, and `/proc/self/fd/N` reopens the file).
//!
//! Formats follow Linux's (fs/proc/array.c, fs/proc/meminfo.c and friends) field
//! for field, since ps, top, free, glibc and test suites parse them. Fields Kestrel
//! has no notion of (page-cache sizes, context-switch counts) read as 0.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::Ordering;

use kestrel_abi::fs::*;
use kestrel_abi::process::{RLIM_INFINITY, RLIM_NLIMITS};
use kestrel_abi::signal::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::pseudo::{Common, PseudoDir, PseudoFile, PseudoLink};
use kestrel_vfs::{DentryRef, InodeRef, OpenFile};

use crate::process::{self, Process, Thread};

/// The device number of /proc.
const PROC_DEV: u64 = makedev(0, 4);
/// Clock ticks per second in /proc (USER_HZ).
const HZ: u64 = 100;

// Inode numbers: 1 the root; small numbers (below 1 << 32) the system files.
// Per-process numbers carry the process's serial (a number no other process
// ever had), so a process that gets a pid back after it was reused has fresh
// numbers, as on Linux. A kind in bits 60..61, then:
//   PID  (1): serial << 16 | entry; entry 0 is /proc/PID itself, 1.. its
//             entries (index + 1), 0x8000 + i its ns/ links. 44 bits of serial:
//             numbers repeat only after 2^44 forks.
//   TASK (2): serial << 38 | tid << 16 | entry, for /proc/PID/task/TID and its
//             entries. Tids are below pid_max <= 2^22 and no two live threads
//             share one, so live threads never collide; the 22 bits of serial
//             tell a reused tid apart unless 2^22 forks came in between.
//   FD   (3): serial << 54 | pid << 32 | fdinfo << 31 | fd, for fd/N and
//             fdinfo/N. Every fd fits (fds are below 2^31) and pids are below
//             2^22, unique among live processes, so no two live links collide;
//             6 bits of serial tell a reused pid apart (64 forks apart).
// Fields are masked to their width, so nothing spills into the kind bits.
const KIND_SHIFT: u32 = 60;
const PID_KIND: u64 = 1;
const TASK_KIND: u64 = 2;
const FD_KIND: u64 = 3;
/// The first entry number of /proc/PID/ns's links.
const NS_ENTRY: u64 = 0x8000;

fn bits(v: u64, width: u32) -> u64 {
    v & ((1 << width) - 1)
}

/// /proc/PID (entry 0) or one of its entries.
fn pid_ino(serial: u64, entry: u64) -> u64 {
    PID_KIND << KIND_SHIFT | bits(serial, 44) << 16 | bits(entry, 16)
}

/// /proc/PID/task/TID (entry 0) or one of its entries.
fn task_ino(serial: u64, tid: u32, entry: u64) -> u64 {
    TASK_KIND << KIND_SHIFT
        | bits(serial, 22) << 38
        | bits(u64::from(tid), 22) << 16
        | bits(entry, 16)
}

/// /proc/PID/fd/N, or /proc/PID/fdinfo/N with `info`.
fn fd_ino(serial: u64, pid: u32, info: bool, fd: i32) -> u64 {
    FD_KIND << KIND_SHIFT
        | bits(serial, 6) << 54
        | bits(u64::from(pid), 22) << 32
        | u64::from(info) << 31
        | bits(fd as u64, 31)
}

fn common(ino: u64, perm: u32) -> Common {
    Common {
        dev: PROC_DEV,
        ino,
        perm,
        owner: None,
    }
}

/// Owned by the process's effective user, as Linux's /proc/PID files are.
fn owned_by(p: &Arc<Process>, ino: u64, perm: u32) -> Common {
    let weak = Arc::downgrade(p);
    Common {
        dev: PROC_DEV,
        ino,
        perm,
        owner: Some(Box::new(move || {
            weak.upgrade().map_or((0, 0), |p| {
                let c = p.cred.lock();
                (c.euid, c.egid)
            })
        })),
    }
}

/// A read-only system file (writes are EIO, as proc_reg_write answers).
fn file(c: Common, read: impl Fn() -> KResult<Vec<u8>> + Send + Sync + 'static) -> InodeRef {
    PseudoFile::new_ref(c, PROC_SUPER_MAGIC, Box::new(read), Err(Errno::EIO))
}

/// A read-only per-process file (writes are EINVAL: no write method at all).
fn pid_file(c: Common, read: impl Fn() -> KResult<Vec<u8>> + Send + Sync + 'static) -> InodeRef {
    PseudoFile::new_ref(c, PROC_SUPER_MAGIC, Box::new(read), Err(Errno::EINVAL))
}

fn rw_file(
    c: Common,
    read: impl Fn() -> KResult<Vec<u8>> + Send + Sync + 'static,
    write: impl Fn(&[u8]) -> KResult<()> + Send + Sync + 'static,
) -> InodeRef {
    PseudoFile::new_ref(c, PROC_SUPER_MAGIC, Box::new(read), Ok(Box::new(write)))
}

fn text(s: String) -> KResult<Vec<u8>> {
    Ok(s.into_bytes())
}

/// The root of a new procfs instance.
/// The /proc/PID directory inodes made, each with the process it is for
/// (keyed by the inode's address): an open /proc/PID directory names that
/// process, not whichever later one reuses its number.
type PidDirs = BTreeMap<usize, (Weak<dyn kestrel_vfs::Inode>, Weak<Process>)>;
static PID_DIRS: spin::Mutex<PidDirs> = spin::Mutex::new(BTreeMap::new());
/// The table is pruned of released inodes when it doubles, and holds at most
/// this many (past it, a directory names no process: pidfd calls on it are
/// ESRCH).
const MAX_PID_DIRS: usize = 1 << 16;
static PID_DIRS_PRUNED_AT: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(64);

fn register_pid_dir(dir: &InodeRef, p: &Arc<Process>) {
    let mut t = PID_DIRS.lock();
    if t.len() >= PID_DIRS_PRUNED_AT.load(Ordering::Relaxed) {
        t.retain(|_, (i, _)| i.strong_count() > 0);
        PID_DIRS_PRUNED_AT.store((t.len() * 2).max(64), Ordering::Relaxed);
    }
    if t.len() < MAX_PID_DIRS {
        let key = Arc::as_ptr(dir) as *const () as usize;
        t.insert(key, (Arc::downgrade(dir), Arc::downgrade(p)));
    }
}

/// The process whose /proc/PID directory `f` is open on (pidfd_send_signal
/// takes such a descriptor as a pidfd, as Linux's tgid_pidfd_to_pid does);
/// None for any other file, a /proc/PID/task/TID directory included, or a
/// process that is gone (its number may name another one by now).
pub fn process_of_dir(f: &OpenFile) -> Option<Arc<Process>> {
    let inode = f.inode()?;
    let key = Arc::as_ptr(inode) as *const () as usize;
    let t = PID_DIRS.lock();
    let (i, p) = t.get(&key)?;
    let live = i.upgrade()?;
    if Arc::as_ptr(&live) as *const () as usize != key {
        return None;
    }
    let p = p.upgrade()?;
    drop(t);
    process::find(p.pid).filter(|q| Arc::ptr_eq(q, &p))
}

/// Whether (`dev`, `ino`) is a /proc/PID directory's.
pub fn is_pid_dir_ino(dev: u64, ino: u64) -> bool {
    dev == PROC_DEV && ino >> KIND_SHIFT == PID_KIND && ino & 0xffff == 0
}

pub fn new_root() -> InodeRef {
    PseudoDir::new_ref(
        common(1, 0o555),
        PROC_SUPER_MAGIC,
        1,
        Box::new(list_root),
        Box::new(lookup_root),
    )
}

/// The names of /proc other than the processes.
const SYSTEM_FILES: &[&str] = &[
    "cgroups",
    "cmdline",
    "config.gz",
    "cpuinfo",
    "devices",
    "diskstats",
    "filesystems",
    "interrupts",
    "kestrel",
    "key-users",
    "keys",
    "loadavg",
    "locks",
    "meminfo",
    "mounts",
    "net",
    "partitions",
    "self",
    "stat",
    "swaps",
    "sys",
    "sysvipc",
    "thread-self",
    "uptime",
    "version",
];

fn list_root() -> Vec<(Vec<u8>, u64, u8)> {
    let mut out: Vec<(Vec<u8>, u64, u8)> = SYSTEM_FILES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let t = match *n {
                "self" | "thread-self" | "mounts" => DT_LNK,
                "sys" | "kestrel" | "net" | "sysvipc" => DT_DIR,
                _ => DT_REG,
            };
            (n.as_bytes().to_vec(), 2 + i as u64, t)
        })
        .collect();
    // Zombies are listed too, as in Linux (their stat shows state Z).
    let mut pids: Vec<(u32, u64)> = process::all().iter().map(|p| (p.pid, p.serial)).collect();
    pids.sort_unstable();
    out.extend(
        pids.into_iter()
            .map(|(pid, serial)| (format!("{pid}").into_bytes(), pid_ino(serial, 0), DT_DIR)),
    );
    out
}

/// The calling thread (procfs answers "self" relative to it).
fn caller() -> KResult<Arc<Thread>> {
    crate::process::current_thread().ok_or(Errno::ENOENT)
}

fn parse_id(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || (name[0] == b'0' && name.len() > 1) {
        return None;
    }
    core::str::from_utf8(name).ok()?.parse().ok()
}

fn lookup_root(name: &[u8]) -> KResult<InodeRef> {
    if let Some(pid) = parse_id(name) {
        let p = process::find(pid).ok_or(Errno::ENOENT)?;
        let dir = pid_dir(&p, None);
        register_pid_dir(&dir, &p);
        return Ok(dir);
    }
    let ino = 2 + SYSTEM_FILES
        .iter()
        .position(|n| n.as_bytes() == name)
        .ok_or(Errno::ENOENT)? as u64;
    let c = || common(ino, 0o444);
    Ok(match name {
        b"self" => PseudoLink::new_ref(
            common(ino, 0o777),
            PROC_SUPER_MAGIC,
            Box::new(|| Ok(format!("{}", caller()?.process.pid).into_bytes())),
            None,
        ),
        b"thread-self" => PseudoLink::new_ref(
            common(ino, 0o777),
            PROC_SUPER_MAGIC,
            Box::new(|| {
                let t = caller()?;
                Ok(format!("{}/task/{}", t.process.pid, t.tid()).into_bytes())
            }),
            None,
        ),
        b"mounts" => PseudoLink::new_ref(
            common(ino, 0o777),
            PROC_SUPER_MAGIC,
            Box::new(|| Ok(b"self/mounts".to_vec())),
            None,
        ),
        b"sys" => sys_dir(),
        b"kestrel" => kestrel_dir(),
        b"net" => net_dir(),
        b"sysvipc" => sysvipc_dir(),
        b"cmdline" => file(c(), || text(format!("{}\n", crate::cmdline::raw()))),
        b"config.gz" => file(c(), || Ok(crate::kconfig::config_gz())),
        b"cpuinfo" => file(c(), || text(cpuinfo())),
        b"devices" => file(c(), || {
            text(String::from(
                "Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n  4 ttyS\n  5 /dev/tty\n  5 /dev/console\n 10 misc\n\nBlock devices:\n254 virtblk\n",
            ))
        }),
        b"cgroups" => file(c(), || Ok(crate::fs::cgroupfs::proc_cgroups())),
        b"filesystems" => file(c(), || {
            let mut s = String::new();
            for (name, nodev) in crate::fs::FILESYSTEMS {
                let _ = writeln!(s, "{}\t{name}", if *nodev { "nodev" } else { "" });
            }
            text(s)
        }),
        b"loadavg" => file(c(), || text(loadavg())),
        b"interrupts" => file(c(), || text(interrupts())),
        b"partitions" => file(c(), || text(partitions())),
        b"diskstats" => file(c(), || text(diskstats())),
        b"locks" => file(c(), || text(crate::syscall::locks::proc_locks())),
        b"keys" => file(c(), || text(crate::syscall::keys::proc_keys())),
        b"key-users" => file(c(), || text(crate::syscall::keys::proc_key_users())),
        b"meminfo" => file(c(), || text(meminfo())),
        b"stat" => file(c(), || text(system_stat())),
        b"swaps" => file(c(), || text(super::swap::proc_swaps())),
        b"uptime" => file(c(), || {
            // CLOCK_BOOTTIME as the reader's time namespace shifts it.
            let up =
                crate::time::now_ns().saturating_add_signed(crate::ns::current().time.offset_of(7));
            let idle = crate::task::idle_ns();
            text(format!(
                "{}.{:02} {}.{:02}\n",
                up / 1_000_000_000,
                up / 10_000_000 % 100,
                idle / 1_000_000_000,
                idle / 10_000_000 % 100
            ))
        }),
        b"version" => file(c(), || {
            text(format!(
                "Linux version {} (kestrel@kestrel) (rustc) {}\n",
                crate::uts::RELEASE,
                crate::uts::VERSION
            ))
        }),
        _ => return Err(Errno::ENOENT),
    })
}

// ---- system files ------------------------------------------------------------------

fn meminfo() -> String {
    let (free, total) = crate::mm::frame::stats();
    let kb = |pages: u64| pages * 4;
    // Cached: the loaded pages of ext2 files (the page cache); Buffers: the
    // ext2 block caches (metadata and written data on its way to the disk,
    // as Linux's buffer cache of block devices). Both give way to memory
    // pressure, so they count as available, less what waits for the disk.
    let cached = kb(crate::fs::ext2::page_cache_stats().0 as u64);
    let (buffers, dirty) = crate::fs::ext2::block_cache_bytes();
    let (buffers, dirty) = (buffers / 1024, dirty / 1024);
    // The kernel heap: every allocation of the kernel's own (Linux's slab).
    let slab = crate::mm::heap::bytes_in_use() as u64 / 1024;
    let (swap_total, swap_free) = super::swap::totals();
    let mut s = String::new();
    let mut line = |name: &str, v: u64| {
        let _ = writeln!(s, "{:<16}{:>8} kB", format!("{name}:"), v);
    };
    line("MemTotal", kb(total));
    line("MemFree", kb(free));
    line(
        "MemAvailable",
        kb(free) + cached + buffers.saturating_sub(dirty),
    );
    line("Buffers", buffers);
    line("Cached", cached);
    // Swap areas are accounted; nothing is ever swapped out (SwapCached 0).
    // Kestrel keeps no active/inactive split or mlock count.
    for name in ["SwapCached", "Active", "Inactive", "Unevictable", "Mlocked"] {
        line(name, 0);
    }
    line("SwapTotal", kb(swap_total));
    line("SwapFree", kb(swap_free));
    line("Dirty", dirty);
    // Pages are not counted by kind (anonymous, mapped, shared memory, page
    // tables): those stay 0. No kernel stack per thread: KernelStack is 0.
    for name in ["Writeback", "AnonPages", "Mapped", "Shmem", "KReclaimable"] {
        line(name, 0);
    }
    line("Slab", slab);
    line("SReclaimable", 0);
    line("SUnreclaim", slab);
    line("KernelStack", 0);
    line("PageTables", 0);
    // Linux's heuristic overcommit limit: swap plus overcommit_ratio (50) %
    // of memory; Kestrel does not sum commitments (Committed_AS 0).
    line("CommitLimit", kb(swap_total) + kb(total) / 2);
    line("Committed_AS", 0);
    // x86-64's vmalloc area with 4-level paging, as Linux prints it.
    line("VmallocTotal", 34_359_738_367);
    line("VmallocUsed", 0);
    // The huge page pool (counts, not kB, as Linux prints them).
    let (total, free, rsvd, surp) = crate::mm::huge::counts();
    let _ = writeln!(s, "HugePages_Total:   {total:>5}");
    let _ = writeln!(s, "HugePages_Free:    {free:>5}");
    let _ = writeln!(s, "HugePages_Rsvd:    {rsvd:>5}");
    let _ = writeln!(s, "HugePages_Surp:    {surp:>5}");
    let _ = writeln!(s, "Hugepagesize:       2048 kB");
    let _ = writeln!(s, "Hugetlb:        {:>8} kB", total * 2048);
    s
}

/// /proc/interrupts: device vectors by CPU, then the local timer, wake-up IPIs
/// (RES) and TLB shootdowns (TLB) per CPU, as Linux names them.
fn interrupts() -> String {
    use crate::arch::{irq, percpu};
    use core::sync::atomic::Ordering::Relaxed;
    let cpus: Vec<_> = (0..percpu::online()).filter_map(percpu::cpu).collect();
    let mut s = String::from("    ");
    for i in 0..cpus.len() {
        let _ = write!(s, "       CPU{i}");
    }
    s.push('\n');
    let labels: Vec<(u8, String)> = crate::drivers::found()
        .into_iter()
        .flat_map(|(f, driver)| {
            let addr = kestrel_driver_kit::PciFunction::address(&*f);
            let name = driver.unwrap_or("pci");
            f.vectors
                .lock()
                .iter()
                .enumerate()
                .map(|(i, (v, _))| (*v, format!("PCI-MSI {addr} {i}-edge      {name}")))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut device_on = alloc::vec![0u64; cpus.len()];
    for (v, cpu, source) in irq::device_vectors() {
        let _ = write!(s, "{v:>3}:");
        for i in 0..cpus.len() {
            let n = if i == usize::from(cpu) {
                source.count()
            } else {
                0
            };
            let _ = write!(s, " {n:>10}");
        }
        if let Some(d) = device_on.get_mut(usize::from(cpu)) {
            *d += source.count();
        }
        let label = labels
            .iter()
            .find(|(lv, _)| *lv == v)
            .map_or(String::from(source.name()), |(_, l)| l.clone());
        let _ = writeln!(s, "   {label}");
    }
    let row = |s: &mut String, name: &str, what: &str, f: &dyn Fn(usize) -> u64| {
        let _ = write!(s, "{name:>3}:");
        for i in 0..cpus.len() {
            let _ = write!(s, " {:>10}", f(i));
        }
        let _ = writeln!(s, "   {what}");
    };
    let wake = |i: usize| cpus[i].wakeups.load(Relaxed);
    let tlb = |i: usize| cpus[i].shootdowns.load(Relaxed);
    row(&mut s, "LOC", "Local timer interrupts", &|i| {
        cpus[i]
            .interrupts
            .load(Relaxed)
            .saturating_sub(wake(i) + tlb(i) + device_on[i])
    });
    row(&mut s, "RES", "Rescheduling interrupts", &wake);
    row(&mut s, "TLB", "TLB shootdowns", &tlb);
    s
}

/// /proc/partitions: every block device (whole disks; no partition tables yet).
fn partitions() -> String {
    let mut s = String::from("major minor  #blocks  name\n\n");
    for b in crate::drivers::block_devices() {
        let _ = writeln!(
            s,
            "{:>5} {:>5} {:>10} {}",
            kestrel_abi::fs::major(b.rdev),
            kestrel_abi::fs::minor(b.rdev),
            b.dev.info().sectors / 2,
            b.name
        );
    }
    s
}

/// /proc/diskstats: every block device's I/O counters (drivers::diskstats).
fn diskstats() -> String {
    crate::drivers::block_devices()
        .iter()
        .map(|b| {
            b.stats.line(
                kestrel_abi::fs::major(b.rdev),
                kestrel_abi::fs::minor(b.rdev),
                &b.name,
            )
        })
        .collect()
}

/// /proc/loadavg: the three averages, runnable/all threads, the last pid.
fn loadavg() -> String {
    format!(
        "{} {}/{} {}\n",
        crate::loadavg::text(),
        crate::loadavg::running_threads(),
        process::thread_count().max(1),
        process::last_pid()
    )
}

fn ticks(ns: u64) -> u64 {
    ns / (1_000_000_000 / HZ)
}

fn system_stat() -> String {
    use crate::arch::percpu;
    let now = crate::time::now_ns();
    // Per CPU: time in user mode, halted (idle), and the rest of its time online
    // (the kernel: syscalls, faults, kernel tasks).
    let per_cpu: Vec<(u64, u64, u64)> = (0..percpu::online())
        .filter_map(percpu::cpu)
        .map(|c| {
            let user = c.user_ns.load(Ordering::Relaxed);
            let idle = c.idle_ns.load(Ordering::Relaxed);
            let up = now.saturating_sub(c.online_at_ns.load(Ordering::Relaxed));
            (user, up.saturating_sub(user + idle), idle)
        })
        .collect();
    let mut s = String::new();
    let (u, sy, id) = per_cpu
        .iter()
        .fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    let _ = writeln!(
        s,
        "cpu  {} 0 {} {} 0 0 0 0 0 0",
        ticks(u),
        ticks(sy),
        ticks(id)
    );
    for (i, (u, sy, id)) in per_cpu.iter().enumerate() {
        let _ = writeln!(
            s,
            "cpu{i} {} 0 {} {} 0 0 0 0 0 0",
            ticks(*u),
            ticks(*sy),
            ticks(*id)
        );
    }
    let boot = crate::time::realtime_ns().saturating_sub(now) / 1_000_000_000;
    let all = process::all();
    let threads: usize = all.iter().map(|p| p.threads.lock().len()).sum();
    // intr: interrupts taken; ctxt: tasks switched to (each poll of a task by
    // an executor is one, the closest thing to Linux's context switches).
    let intr: u64 = (0..percpu::online())
        .filter_map(percpu::cpu)
        .map(|c| c.interrupts.load(Ordering::Relaxed))
        .sum();
    let ctxt = crate::task::polls_total();
    let _ = write!(
        s,
        "intr {intr}\nctxt {ctxt}\nbtime {boot}\nprocesses {}\nprocs_running {}\nprocs_blocked 0\n",
        process::forks().max(threads as u64),
        crate::loadavg::running_threads().max(1)
    );
    s
}

fn cpuinfo() -> String {
    use crate::arch::cpu::{brand_string, cpuid};
    let v = cpuid(0);
    let mut vendor = [0u8; 12];
    vendor[..4].copy_from_slice(&v.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&v.edx.to_le_bytes());
    vendor[8..].copy_from_slice(&v.ecx.to_le_bytes());
    let l1 = cpuid(1);
    let family = ((l1.eax >> 8) & 0xf)
        + if (l1.eax >> 8) & 0xf == 0xf {
            (l1.eax >> 20) & 0xff
        } else {
            0
        };
    let model = ((l1.eax >> 4) & 0xf)
        | if matches!((l1.eax >> 8) & 0xf, 6 | 0xf) {
            ((l1.eax >> 16) & 0xf) << 4
        } else {
            0
        };
    let mut brand = [0u8; 48];
    let name = String::from(brand_string(&mut brand).trim());
    let mhz = crate::time::tsc_hz() as f64 / 1e6;
    let cpus = crate::arch::percpu::online();
    let mut s = String::new();
    for (i, c) in (0..cpus).filter_map(|i| Some((i, crate::arch::percpu::cpu(i)?))) {
        let apic = c.apic_id.load(Ordering::Relaxed);
        let _ = writeln!(s, "processor\t: {i}");
        let _ = writeln!(s, "vendor_id\t: {}", String::from_utf8_lossy(&vendor));
        let _ = writeln!(s, "cpu family\t: {family}");
        let _ = writeln!(s, "model\t\t: {model}");
        let _ = writeln!(s, "model name\t: {name}");
        let _ = writeln!(s, "stepping\t: {}", l1.eax & 0xf);
        let _ = writeln!(s, "cpu MHz\t\t: {mhz:.3}");
        let _ = writeln!(
            s,
            "physical id\t: 0\nsiblings\t: {cpus}\ncore id\t\t: {i}\ncpu cores\t: {cpus}\napicid\t\t: {apic}\ninitial apicid\t: {apic}"
        );
        let _ = writeln!(
            s,
            "fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes",
            v.eax
        );
        let _ = writeln!(s, "flags\t\t: {}", cpu_flags(l1.edx, l1.ecx, cpuid(7).ebx));
        let _ = writeln!(s, "bogomips\t: {:.2}", mhz * 2.0);
        let _ = writeln!(
            s,
            "clflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 48 bits physical, 48 bits virtual\n"
        );
    }
    s
}

/// The Linux names of the CPUID feature bits programs look for.
fn cpu_flags(edx1: u32, ecx1: u32, ebx7: u32) -> String {
    const EDX1: &[(u32, &str)] = &[
        (0, "fpu"),
        (1, "vme"),
        (2, "de"),
        (3, "pse"),
        (4, "tsc"),
        (5, "msr"),
        (6, "pae"),
        (7, "mce"),
        (8, "cx8"),
        (9, "apic"),
        (11, "sep"),
        (12, "mtrr"),
        (13, "pge"),
        (14, "mca"),
        (15, "cmov"),
        (16, "pat"),
        (17, "pse36"),
        (19, "clflush"),
        (23, "mmx"),
        (24, "fxsr"),
        (25, "sse"),
        (26, "sse2"),
        (28, "ht"),
    ];
    const ECX1: &[(u32, &str)] = &[
        (0, "pni"),
        (1, "pclmulqdq"),
        (9, "ssse3"),
        (12, "fma"),
        (13, "cx16"),
        (19, "sse4_1"),
        (20, "sse4_2"),
        (21, "x2apic"),
        (22, "movbe"),
        (23, "popcnt"),
        (25, "aes"),
        (26, "xsave"),
        (28, "avx"),
        (29, "f16c"),
        (30, "rdrand"),
        (31, "hypervisor"),
    ];
    const EBX7: &[(u32, &str)] = &[
        (0, "fsgsbase"),
        (3, "bmi1"),
        (5, "avx2"),
        (7, "smep"),
        (8, "bmi2"),
        (9, "erms"),
        (18, "rdseed"),
        (19, "adx"),
        (20, "smap"),
        (29, "sha_ni"),
    ];
    let mut out = Vec::new();
    for (word, table) in [(edx1, EDX1), (ecx1, ECX1), (ebx7, EBX7)] {
        for (bit, name) in table {
            if word & (1 << bit) != 0 {
                out.push(*name);
            }
        }
    }
    if crate::arch::cpu::cpuid(0x8000_0001).edx & (1 << 20) != 0 {
        out.push("nx");
    }
    if crate::arch::cpu::features().tsc_invariant {
        out.push("constant_tsc");
    }
    out.join(" ")
}

// ---- /proc/sys -------------------------------------------------------------------------

/// /proc/kestrel: what is particular to Kestrel. `tasks` lists every live task
/// of the executors (the task monitor `cargo xtask top` shows).
fn kestrel_dir() -> InodeRef {
    let ino = 2 + SYSTEM_FILES
        .iter()
        .position(|n| *n == "kestrel")
        .unwrap_or(0) as u64;
    const TASKS_INO: u64 = 0x900;
    PseudoDir::new_ref(
        common(ino, 0o555),
        PROC_SUPER_MAGIC,
        1,
        Box::new(|| alloc::vec![(b"tasks".to_vec(), TASKS_INO, DT_REG)]),
        Box::new(|name| match name {
            b"tasks" => Ok(file(common(TASKS_INO, 0o444), || text(kestrel_tasks()))),
            _ => Err(Errno::ENOENT),
        }),
    )
}

/// /proc/net: the interfaces' counters and the internet sockets, in Linux's
/// formats (crate::net). Linux's is a link to self/net (the caller's network
/// namespace); with one namespace this is the same.
fn net_dir() -> InodeRef {
    let ino = 2 + SYSTEM_FILES.iter().position(|n| *n == "net").unwrap_or(0) as u64;
    const NAMES: &[&str] = &[
        "dev", "tcp", "tcp6", "udp", "udp6", "route", "if_inet6", "unix",
    ];
    files_dir(ino, 1, NAMES, 0x980, |i, fino| {
        let c = common(fino, 0o444);
        match NAMES[i] {
            "dev" => file(c, || text(crate::net::proc_dev())),
            "tcp" => file(c, || text(crate::net::proc_sockets(true, false))),
            "tcp6" => file(c, || text(crate::net::proc_sockets(true, true))),
            "udp" => file(c, || text(crate::net::proc_sockets(false, false))),
            "udp6" => file(c, || text(crate::net::proc_sockets(false, true))),
            "route" => file(c, || text(crate::net::proc_route())),
            "if_inet6" => file(c, || text(crate::net::proc_if_inet6())),
            _ => file(c, || text(kestrel_net::unix::proc_net_unix())),
        }
    })
}

/// /proc/sysvipc: msg, sem and shm, one line per object as Linux prints them.
fn sysvipc_dir() -> InodeRef {
    let ino = 2 + SYSTEM_FILES
        .iter()
        .position(|n| *n == "sysvipc")
        .unwrap_or(0) as u64;
    files_dir(ino, 1, &["msg", "sem", "shm"], 0xa00, |i, fino| {
        let c = common(fino, 0o444);
        match i {
            0 => file(c, || text(crate::syscall::ipc::proc_msg())),
            1 => file(c, || text(crate::syscall::ipc::proc_sem())),
            _ => file(c, || text(crate::syscall::ipc::proc_shm())),
        }
    })
}

/// One line per live task: what it is, where it is, how often it ran and for
/// how long, and for a user thread, the system call it waits in.
fn kestrel_tasks() -> String {
    // Which task is which user thread.
    let mut threads: alloc::collections::BTreeMap<u64, Arc<Thread>> = Default::default();
    for p in process::all() {
        for t in p.threads.lock().iter() {
            if let Some(task) = t.task.get() {
                threads.insert(task.id(), t.clone());
            }
        }
    }
    let names: alloc::collections::BTreeMap<usize, &str> = kestrel_abi::syscalls::SYSCALLS
        .iter()
        .map(|&(nr, name)| (nr, name))
        .collect();
    let mut s = String::from(
        "    ID NAME                         KIND     STATE    HOME LAST      POLLS      WAKES     RUN_MS  MAX_MS   AGE_S WAIT\n",
    );
    for t in crate::task::scheduler().tasks() {
        let (name, kind, wait) = match threads.get(&t.id) {
            Some(th) => {
                let comm = String::from_utf8_lossy(&th.comm()).into_owned();
                let nr = th.in_syscall.load(Ordering::Relaxed);
                let wait = match nr {
                    0 => String::from("-"),
                    n => String::from(names.get(&((n - 1) as usize)).copied().unwrap_or("syscall")),
                };
                (
                    format!("{comm}[{}/{}]", th.process.pid, th.tid()),
                    "user",
                    wait,
                )
            }
            None => {
                let kind = match t.name {
                    n if n.starts_with("virtio")
                        || n.starts_with("edu")
                        || n.starts_with("console")
                        || n == "hwrng-feed" =>
                    {
                        "driver"
                    }
                    n if n.starts_with("net") => "network",
                    _ => "kernel",
                };
                (String::from(t.name), kind, String::from("-"))
            }
        };
        let _ = writeln!(
            s,
            "{:>6} {:<28.28} {:<8} {:<8} {:>4} {:>4} {:>10} {:>10} {:>10.3} {:>7.3} {:>7.1} {}",
            t.id,
            name,
            kind,
            t.phase.name(),
            t.home,
            t.last_cpu,
            t.polls,
            t.wakes,
            t.run_ns as f64 / 1e6,
            t.max_poll_ns as f64 / 1e6,
            t.age_ns as f64 / 1e9,
            wait
        );
    }
    s
}

fn sys_dir() -> InodeRef {
    let ino = 2 + SYSTEM_FILES.iter().position(|n| *n == "sys").unwrap_or(0) as u64;
    table_dir(
        ino,
        1,
        &[
            ("fs", 0x100),
            ("kernel", 0x200),
            ("net", 0x400),
            ("vm", 0x300),
        ],
        |name| match name {
            b"fs" => Ok(fs_sys_dir()),
            b"kernel" => Ok(kernel_sys_dir()),
            b"net" => Ok(net_sys_dir()),
            b"vm" => Ok(vm_sys_dir()),
            _ => Err(Errno::ENOENT),
        },
    )
}

/// A fixed directory of subdirectories.
fn table_dir(
    ino: u64,
    parent: u64,
    names: &'static [(&'static str, u64)],
    lookup: impl Fn(&[u8]) -> KResult<InodeRef> + Send + Sync + 'static,
) -> InodeRef {
    PseudoDir::new_ref(
        common(ino, 0o555),
        PROC_SUPER_MAGIC,
        parent,
        Box::new(move || {
            names
                .iter()
                .map(|(n, i)| (n.as_bytes().to_vec(), *i, DT_DIR))
                .collect()
        }),
        Box::new(lookup),
    )
}

/// /proc/sys/fs: fixed values, and the inotify and fanotify directories.
fn fs_sys_dir() -> InodeRef {
    const VALUES: &[(&str, &str)] = &[
        // syscall::aio::AIO_MAX_NR
        ("aio-max-nr", "65536"),
        ("file-max", "9223372036854775807"),
        ("lease-break-time", "45"),
        ("nr_open", "1048576"),
        ("pipe-max-size", "1048576"),
        ("pipe-user-pages-hard", "0"),
        ("pipe-user-pages-soft", "16384"),
    ];
    const INO: u64 = 0x100;
    const INOTIFY_INO: u64 = 0x180;
    const FANOTIFY_INO: u64 = 0x190;
    PseudoDir::new_ref(
        common(INO, 0o555),
        PROC_SUPER_MAGIC,
        INO,
        Box::new(|| {
            let mut v: Vec<(Vec<u8>, u64, u8)> = VALUES
                .iter()
                .enumerate()
                .map(|(i, (n, _))| (n.as_bytes().to_vec(), INO + 1 + i as u64, DT_REG))
                .collect();
            v.push((b"inotify".to_vec(), INOTIFY_INO, DT_DIR));
            v.push((b"fanotify".to_vec(), FANOTIFY_INO, DT_DIR));
            v
        }),
        Box::new(|name| {
            if name == b"inotify" {
                return Ok(inotify_sys_dir(INOTIFY_INO));
            }
            if name == b"fanotify" {
                return Ok(fanotify_sys_dir(FANOTIFY_INO));
            }
            let (i, (_, v)) = VALUES
                .iter()
                .enumerate()
                .find(|(_, (n, _))| n.as_bytes() == name)
                .ok_or(Errno::ENOENT)?;
            if name == b"pipe-max-size" {
                // Root may set it; the value is rounded as a pipe size is.
                use kestrel_vfs::pipe::{PIPE_MAX_SIZE, round_pipe_size};
                return Ok(sysctl_int(
                    INO + 1 + i as u64,
                    || PIPE_MAX_SIZE.load(Ordering::Relaxed) as i128,
                    |v| {
                        let v = u32::try_from(v)
                            .ok()
                            .and_then(|v| round_pipe_size(v as usize))
                            .ok_or(Errno::EINVAL)?;
                        PIPE_MAX_SIZE.store(v, Ordering::Relaxed);
                        Ok(())
                    },
                ));
            }
            if name == b"lease-break-time" {
                // Seconds a lease holder has to give way (root may set it).
                use crate::fs::leases::LEASE_BREAK_TIME;
                return Ok(sysctl_uint(
                    INO + 1 + i as u64,
                    || LEASE_BREAK_TIME.load(Ordering::Relaxed),
                    |v| LEASE_BREAK_TIME.store(u64::from(v), Ordering::Relaxed),
                ));
            }
            if name == b"pipe-user-pages-soft" {
                // Root may set it (pages of pipe buffers per user; 0: none).
                use kestrel_vfs::pipe::PIPE_USER_PAGES_SOFT;
                return Ok(sysctl_uint(
                    INO + 1 + i as u64,
                    || PIPE_USER_PAGES_SOFT.load(Ordering::Relaxed) as u64,
                    |v| PIPE_USER_PAGES_SOFT.store(v as usize, Ordering::Relaxed),
                ));
            }
            if name == b"pipe-user-pages-hard" {
                use kestrel_vfs::pipe::PIPE_USER_PAGES_HARD;
                return Ok(sysctl_uint(
                    INO + 1 + i as u64,
                    || PIPE_USER_PAGES_HARD.load(Ordering::Relaxed) as u64,
                    |v| PIPE_USER_PAGES_HARD.store(v as usize, Ordering::Relaxed),
                ));
            }
            if name == b"nr_open" {
                // Root may set it within Linux's bounds (EINVAL outside).
                return Ok(sysctl_int(
                    INO + 1 + i as u64,
                    || i128::from(process::NR_OPEN.load(Ordering::Relaxed)),
                    |v| {
                        let v = u32::try_from(v)
                            .ok()
                            .filter(|v| (process::NR_OPEN_MIN..=process::NR_OPEN_MAX).contains(v))
                            .ok_or(Errno::EINVAL)?;
                        process::NR_OPEN.store(v, Ordering::Relaxed);
                        Ok(())
                    },
                ));
            }
            Ok(file(common(INO + 1 + i as u64, 0o444), move || {
                text(format!("{v}\n"))
            }))
        }),
    )
}

/// /proc/sys/fs/fanotify: the limits (fixed here).
fn fanotify_sys_dir(ino: u64) -> InodeRef {
    use crate::fs::fanotify;
    const NAMES: &[&str] = &["max_queued_events", "max_user_groups", "max_user_marks"];
    files_dir(ino, 0x100, NAMES, ino + 1, |i, fino| {
        let v = [
            fanotify::MAX_QUEUED_EVENTS,
            fanotify::MAX_USER_GROUPS,
            fanotify::MAX_MARKS,
        ][i];
        file(common(fino, 0o444), move || text(format!("{v}\n")))
    })
}

/// /proc/sys/fs/inotify: the limits (max_user_instances writable).
fn inotify_sys_dir(ino: u64) -> InodeRef {
    use crate::fs::inotify;
    const NAMES: &[&str] = &[
        "max_queued_events",
        "max_user_instances",
        "max_user_watches",
    ];
    files_dir(ino, 0x100, NAMES, ino + 1, |i, fino| match NAMES[i] {
        "max_user_instances" => sysctl_int(
            fino,
            || inotify::MAX_USER_INSTANCES.load(Ordering::Relaxed) as i128,
            |v| {
                let v = usize::try_from(v).map_err(|_| Errno::EINVAL)?;
                inotify::MAX_USER_INSTANCES.store(v, Ordering::Relaxed);
                Ok(())
            },
        ),
        "max_queued_events" => file(common(fino, 0o444), || {
            text(format!("{}\n", inotify::MAX_QUEUED_EVENTS))
        }),
        _ => file(common(fino, 0o444), || {
            text(format!("{}\n", inotify::MAX_USER_WATCHES))
        }),
    })
}

/// /proc/sys/vm: drop_caches and compact_memory (write-only), max_map_count
/// (writable), nr_hugepages (writable: the huge page pool), the overcommit
/// settings and min_free_kbytes (fixed), unprivileged_userfaultfd (writable).
fn vm_sys_dir() -> InodeRef {
    const NAMES: &[&str] = &[
        "compact_memory",
        "drop_caches",
        "max_map_count",
        "min_free_kbytes",
        "nr_hugepages",
        "nr_overcommit_hugepages",
        "overcommit_memory",
        "overcommit_ratio",
        "unprivileged_userfaultfd",
    ];
    const INO: u64 = 0x300;
    files_dir(INO, INO, NAMES, INO + 1, |i, fino| match NAMES[i] {
        // 1 drops the clean page cache, 2 the file systems' clean cached
        // blocks, 3 both; 4 (Linux: stop logging it) does nothing; anything
        // else is EINVAL (Linux's range 1..4). Mode 0200: root writes it.
        "drop_caches" => rw_file(
            common(fino, 0o200),
            || text("0\n".into()),
            |data: &[u8]| {
                let t = core::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
                let v: u32 = t.trim().parse().map_err(|_| Errno::EINVAL)?;
                if !(1..=4).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                crate::fs::ext2::drop_caches(v);
                Ok(())
            },
        ),
        // Kestrel does not move pages to make contiguous room: a write (any
        // number, as Linux takes any) does nothing. Mode 0200 as Linux.
        "compact_memory" => rw_file(
            common(fino, 0o200),
            || text("0\n".into()),
            |data: &[u8]| {
                let t = core::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
                t.trim().parse::<i64>().map_err(|_| Errno::EINVAL)?;
                Ok(())
            },
        ),
        // The huge page pool's size (2 MiB pages): root grows or shrinks it;
        // reading back says how many it got.
        "nr_hugepages" => sysctl_int(
            fino,
            || i128::from(crate::mm::huge::nr()),
            |v| {
                let v = u64::try_from(v).map_err(|_| Errno::EINVAL)?;
                crate::mm::huge::set_nr(v);
                Ok(())
            },
        ),
        // No surplus pages beyond the pool: fixed at 0.
        "nr_overcommit_hugepages" => file(common(fino, 0o444), || text("0\n".into())),
        "max_map_count" => sysctl_int(
            fino,
            || crate::mm::vm::MAX_MAP_COUNT.load(Ordering::Relaxed) as i128,
            |v| {
                let v = usize::try_from(v).map_err(|_| Errno::EINVAL)?;
                crate::mm::vm::MAX_MAP_COUNT.store(v, Ordering::Relaxed);
                Ok(())
            },
        ),
        "overcommit_memory" => file(common(fino, 0o444), || text("0\n".into())),
        // What Linux's init_per_zone_wmark_min would choose for this much
        // memory (sqrt(KiB * 16), 128..262144), for programs that size their
        // allocations by it (LTP's tst_pollute_memory); Kestrel keeps no
        // such watermark, so it is read-only here.
        "min_free_kbytes" => file(common(fino, 0o444), || {
            let kb = crate::mm::frame::stats().1 * 4;
            text(format!("{}\n", (kb * 16).isqrt().clamp(128, 262_144)))
        }),
        // 0 or 1 (Linux's range; anything else EINVAL).
        "unprivileged_userfaultfd" => sysctl_int(
            fino,
            || i128::from(crate::fs::userfaultfd::UNPRIVILEGED.load(Ordering::Relaxed)),
            |v| {
                let v = u32::try_from(v)
                    .ok()
                    .filter(|v| *v <= 1)
                    .ok_or(Errno::EINVAL)?;
                crate::fs::userfaultfd::UNPRIVILEGED.store(v, Ordering::Relaxed);
                Ok(())
            },
        ),
        _ => file(common(fino, 0o444), || text("50\n".into())),
    })
}

/// A /proc directory (number `ino`, parent `parent`) of the regular files
/// `names`, numbered from `first` in that order; `entry(i, number)` makes the
/// file named `names[i]` when it is looked up.
fn files_dir(
    ino: u64,
    parent: u64,
    names: &'static [&'static str],
    first: u64,
    entry: impl Fn(usize, u64) -> InodeRef + Send + Sync + 'static,
) -> InodeRef {
    PseudoDir::new_ref(
        common(ino, 0o555),
        PROC_SUPER_MAGIC,
        parent,
        Box::new(move || {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_bytes().to_vec(), first + i as u64, DT_REG))
                .collect()
        }),
        Box::new(move |name| {
            let i = names
                .iter()
                .position(|n| n.as_bytes() == name)
                .ok_or(Errno::ENOENT)?;
            Ok(entry(i, first + i as u64))
        }),
    )
}

use crate::syscall::ipc;

/// A /proc/sys file holding one integer: root may write it (mode 0644, which
/// procfs enforces for root too); text that is not an integer is EINVAL.
fn sysctl_int(
    ino: u64,
    read: impl Fn() -> i128 + Send + Sync + 'static,
    write: impl Fn(i128) -> KResult<()> + Send + Sync + 'static,
) -> InodeRef {
    rw_file(
        common(ino, 0o644),
        move || text(format!("{}\n", read())),
        move |data: &[u8]| {
            let t = core::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
            let v: i128 = t.trim().parse().map_err(|_| Errno::EINVAL)?;
            write(v)
        },
    )
}

/// kernel.ns_last_pid: the id last given out in the reader's pid namespace;
/// writing it (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE; checkpoint/restore
/// tools do) makes the next process there get the id after it. 0666 as on
/// Linux, which checks the capability at the write.
fn ns_last_pid(ino: u64) -> InodeRef {
    fn pid_ns() -> Option<Arc<crate::ns::PidNs>> {
        process::current_thread().map(|t| t.process.pid_ns.clone())
    }
    rw_file(
        common(ino, 0o666),
        || {
            let last = match pid_ns() {
                Some(ns) if !ns.is_root() => ns.last(),
                _ => process::last_pid(),
            };
            text(format!("{last}\n"))
        },
        |data: &[u8]| {
            let allowed = process::current_thread().is_some_and(|t| {
                let c = t.process.cred.lock();
                c.capable(kestrel_abi::cap::CAP_SYS_ADMIN)
                    || c.capable(kestrel_abi::cap::CAP_CHECKPOINT_RESTORE)
            });
            if !allowed {
                return Err(Errno::EPERM);
            }
            let t = core::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
            let v: i64 = t.trim().parse().map_err(|_| Errno::EINVAL)?;
            let v = u32::try_from(v).map_err(|_| Errno::EINVAL)?;
            match pid_ns() {
                Some(ns) if !ns.is_root() => {
                    if v >= process::pid_max() {
                        return Err(Errno::EINVAL);
                    }
                    ns.set_last(v);
                    Ok(())
                }
                _ => process::set_last_pid(v),
            }
        },
    )
}

/// A sysctl that takes 0 to u32::MAX (Linux's proc_douintvec; EINVAL
/// otherwise), kept wherever `read` and `write` keep it.
fn sysctl_uint(
    ino: u64,
    read: impl Fn() -> u64 + Send + Sync + 'static,
    write: impl Fn(u32) + Send + Sync + 'static,
) -> InodeRef {
    sysctl_int(
        ino,
        move || i128::from(read()),
        move |v| {
            write(u32::try_from(v).map_err(|_| Errno::EINVAL)?);
            Ok(())
        },
    )
}

/// A value a limit may take: 0 to u64::MAX (EINVAL otherwise).
fn nonnegative(v: i128) -> KResult<u64> {
    u64::try_from(v).map_err(|_| Errno::EINVAL)
}

/// kernel.msg_next_id, sem_next_id, shm_next_id: -1, or the id the next
/// object of the kind gets.
fn next_id_file(ino: u64, kind: ipc::Kind) -> InodeRef {
    rw_file(
        common(ino, 0o644),
        move || text(format!("{}\n", ipc::next_id(kind))),
        move |data: &[u8]| {
            let t = core::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
            // 0 and up: -1 comes back by itself once the id is used.
            let v: i32 = t.trim().parse().map_err(|_| Errno::EINVAL)?;
            if v < 0 {
                return Err(Errno::EINVAL);
            }
            ipc::set_next_id(kind, v);
            Ok(())
        },
    )
}

/// /proc/sys/kernel/keys: the key quotas (crate::syscall::keys).
const KEYS_SYS_INO: u64 = 0x280;

fn keys_sys_dir() -> InodeRef {
    use crate::syscall::keys::{SYSCTLS, sysctl_get, sysctl_set};
    PseudoDir::new_ref(
        common(KEYS_SYS_INO, 0o555),
        PROC_SUPER_MAGIC,
        0x200,
        Box::new(|| {
            SYSCTLS
                .iter()
                .enumerate()
                .map(|(i, (n, _))| (n.as_bytes().to_vec(), KEYS_SYS_INO + 1 + i as u64, DT_REG))
                .collect()
        }),
        Box::new(|name| {
            let i = SYSCTLS
                .iter()
                .position(|(n, _)| n.as_bytes() == name)
                .ok_or(Errno::ENOENT)?;
            let which = SYSCTLS[i].1;
            Ok(rw_file(
                common(KEYS_SYS_INO + 1 + i as u64, 0o644),
                move || text(format!("{}\n", sysctl_get(which))),
                move |data: &[u8]| {
                    let t = core::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
                    let v: i128 = t.trim().parse().map_err(|_| Errno::EINVAL)?;
                    sysctl_set(which, v)
                },
            ))
        }),
    )
}

const SECCOMP_SYS_INO: u64 = 0x2e0;

/// /proc/sys/kernel/seccomp: the actions Kestrel knows (actions_avail) and
/// those it logs (actions_logged, which CAP_SYS_ADMIN may change).
fn seccomp_sys_dir() -> InodeRef {
    const NAMES: &[&str] = &["actions_avail", "actions_logged"];
    PseudoDir::new_ref(
        common(SECCOMP_SYS_INO, 0o555),
        PROC_SUPER_MAGIC,
        SECCOMP_SYS_INO,
        Box::new(|| {
            NAMES
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        n.as_bytes().to_vec(),
                        SECCOMP_SYS_INO + 1 + i as u64,
                        DT_REG,
                    )
                })
                .collect()
        }),
        Box::new(|name| {
            use crate::syscall::seccomp;
            Ok(match name {
                b"actions_avail" => file(common(SECCOMP_SYS_INO + 1, 0o444), || {
                    text(format!("{}\n", seccomp::ACTIONS_AVAIL))
                }),
                b"actions_logged" => rw_file(
                    common(SECCOMP_SYS_INO + 2, 0o644),
                    || text(format!("{}\n", seccomp::actions_logged())),
                    |data: &[u8]| {
                        let t = caller()?;
                        if !t
                            .process
                            .cred
                            .lock()
                            .capable(kestrel_abi::cap::CAP_SYS_ADMIN)
                        {
                            return Err(Errno::EPERM);
                        }
                        seccomp::set_actions_logged(data)
                    },
                ),
                _ => return Err(Errno::ENOENT),
            })
        }),
    )
}

const RANDOM_SYS_INO: u64 = 0x2c0;

/// /proc/sys/kernel/random: the pool's entropy and size in bits. Kestrel's
/// generator is seeded at boot and never runs out, so both are a full pool
/// (256, as Linux 5.18+ reports once its generator is ready).
fn random_sys_dir() -> InodeRef {
    const NAMES: &[&str] = &["entropy_avail", "poolsize"];
    PseudoDir::new_ref(
        common(RANDOM_SYS_INO, 0o555),
        PROC_SUPER_MAGIC,
        0x200,
        Box::new(|| {
            NAMES
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_bytes().to_vec(), RANDOM_SYS_INO + 1 + i as u64, DT_REG))
                .collect()
        }),
        Box::new(|name| {
            let i = NAMES
                .iter()
                .position(|n| n.as_bytes() == name)
                .ok_or(Errno::ENOENT)?;
            Ok(file(common(RANDOM_SYS_INO + 1 + i as u64, 0o444), || {
                text(String::from("256\n"))
            }))
        }),
    )
}

fn kernel_sys_dir() -> InodeRef {
    const NAMES: &[&str] = &[
        "core_pattern",
        "core_uses_pid",
        "domainname",
        "hostname",
        "keys",
        "msg_next_id",
        "msgmax",
        "msgmnb",
        "msgmni",
        "ngroups_max",
        "ns_last_pid",
        "osrelease",
        "ostype",
        "perf_event_paranoid",
        "pid_max",
        "printk",
        "random",
        "sched_rr_timeslice_ms",
        "seccomp",
        "sem",
        "sem_next_id",
        "shm_next_id",
        "shmall",
        "shmmax",
        "shmmni",
        "tainted",
        "threads-max",
        "unprivileged_bpf_disabled",
        "version",
    ];
    PseudoDir::new_ref(
        common(0x200, 0o555),
        PROC_SUPER_MAGIC,
        0x200,
        Box::new(|| {
            NAMES
                .iter()
                .enumerate()
                .map(|(i, n)| match *n {
                    "keys" => (n.as_bytes().to_vec(), KEYS_SYS_INO, DT_DIR),
                    "random" => (n.as_bytes().to_vec(), RANDOM_SYS_INO, DT_DIR),
                    "seccomp" => (n.as_bytes().to_vec(), SECCOMP_SYS_INO, DT_DIR),
                    _ => (n.as_bytes().to_vec(), 0x201 + i as u64, DT_REG),
                })
                .collect()
        }),
        Box::new(|name| {
            let i = NAMES
                .iter()
                .position(|n| n.as_bytes() == name)
                .ok_or(Errno::ENOENT)?;
            if name == b"keys" {
                return Ok(keys_sys_dir());
            }
            if name == b"random" {
                return Ok(random_sys_dir());
            }
            if name == b"seccomp" {
                return Ok(seccomp_sys_dir());
            }
            let c = || common(0x201 + i as u64, 0o444);
            let admin_write = |set: fn(&[u8])| {
                move |data: &[u8]| -> KResult<()> {
                    let t = caller()?;
                    if !t
                        .process
                        .cred
                        .lock()
                        .capable(kestrel_abi::cap::CAP_SYS_ADMIN)
                    {
                        return Err(Errno::EPERM);
                    }
                    let v = data.strip_suffix(b"\n").unwrap_or(data);
                    if v.len() > crate::uts::NAME_MAX {
                        return Err(Errno::EINVAL);
                    }
                    set(v);
                    Ok(())
                }
            };
            Ok(match name {
                // Root may write these (mode 0644); the pattern is cut at 127 bytes.
                b"core_pattern" => rw_file(
                    common(0x201 + i as u64, 0o644),
                    || {
                        let mut v = crate::syscall::coredump::core_pattern();
                        v.push(b'\n');
                        Ok(v)
                    },
                    |data: &[u8]| {
                        crate::syscall::coredump::set_core_pattern(data);
                        Ok(())
                    },
                ),
                b"core_uses_pid" => sysctl_int(
                    0x201 + i as u64,
                    || i128::from(crate::syscall::coredump::CORE_USES_PID.load(Ordering::Relaxed)),
                    |v| {
                        let v = i32::try_from(v).map_err(|_| Errno::EINVAL)?;
                        crate::syscall::coredump::CORE_USES_PID.store(v != 0, Ordering::Relaxed);
                        Ok(())
                    },
                ),
                b"hostname" => rw_file(
                    common(0x201 + i as u64, 0o644),
                    || Ok([crate::uts::hostname(), b"\n".to_vec()].concat()),
                    admin_write(crate::uts::set_hostname),
                ),
                b"domainname" => rw_file(
                    common(0x201 + i as u64, 0o644),
                    || Ok([crate::uts::domainname(), b"\n".to_vec()].concat()),
                    admin_write(crate::uts::set_domainname),
                ),
                b"ngroups_max" => file(c(), || text(String::from("65536\n"))),
                // System V IPC's limits (read-only here).
                b"msgmax" => file(c(), || text(format!("{}\n", kestrel_abi::ipc::MSGMAX))),
                b"msgmnb" => file(c(), || text(format!("{}\n", kestrel_abi::ipc::MSGMNB))),
                b"msgmni" => sysctl_int(
                    0x201 + i as u64,
                    || ipc::max_objects(ipc::Kind::Msg) as i128,
                    |v| {
                        ipc::set_max_objects(ipc::Kind::Msg, nonnegative(v)? as usize);
                        Ok(())
                    },
                ),
                b"msg_next_id" => next_id_file(0x201 + i as u64, ipc::Kind::Msg),
                // console_loglevel default_message_loglevel minimum_console_loglevel
                // default_console_loglevel: the first is kept (syslog(2)).
                b"printk" => rw_file(
                    common(0x201 + i as u64, 0o644),
                    || {
                        let l = crate::syscall::misc::CONSOLE_LOGLEVEL.load(Ordering::Relaxed);
                        text(format!("{l}\t4\t1\t7\n"))
                    },
                    |data: &[u8]| {
                        let t = core::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
                        let first = t.split_whitespace().next().ok_or(Errno::EINVAL)?;
                        let v: i32 = first.parse().map_err(|_| Errno::EINVAL)?;
                        crate::syscall::misc::CONSOLE_LOGLEVEL.store(v, Ordering::Relaxed);
                        Ok(())
                    },
                ),
                b"sem_next_id" => next_id_file(0x201 + i as u64, ipc::Kind::Sem),
                b"shm_next_id" => next_id_file(0x201 + i as u64, ipc::Kind::Shm),
                b"sem" => file(c(), || {
                    use kestrel_abi::ipc::{SEMMNI, SEMMNS, SEMMSL, SEMOPM};
                    text(format!("{SEMMSL}\t{SEMMNS}\t{SEMOPM}\t{SEMMNI}\n"))
                }),
                b"shmall" => file(c(), || text(format!("{}\n", kestrel_abi::ipc::SHMALL))),
                b"shmmax" => sysctl_int(
                    0x201 + i as u64,
                    || i128::from(ipc::shmmax()),
                    |v| {
                        ipc::set_shmmax(nonnegative(v)?);
                        Ok(())
                    },
                ),
                b"shmmni" => sysctl_int(
                    0x201 + i as u64,
                    || ipc::max_objects(ipc::Kind::Shm) as i128,
                    |v| {
                        ipc::set_max_objects(ipc::Kind::Shm, nonnegative(v)? as usize);
                        Ok(())
                    },
                ),
                b"ns_last_pid" => ns_last_pid(0x201 + i as u64),
                b"osrelease" => file(c(), || text(format!("{}\n", crate::uts::RELEASE))),
                b"ostype" => file(c(), || text(String::from("Linux\n"))),
                // Who may open which perf events (crate::perf; Linux's default 2).
                b"perf_event_paranoid" => sysctl_int(
                    0x201 + i as u64,
                    || i128::from(crate::perf::PARANOID.load(Ordering::Relaxed)),
                    |v| {
                        let v = i32::try_from(v).map_err(|_| Errno::EINVAL)?;
                        crate::perf::PARANOID.store(v, Ordering::Relaxed);
                        Ok(())
                    },
                ),
                b"pid_max" => sysctl_int(
                    0x201 + i as u64,
                    || i128::from(process::pid_max()),
                    process::set_pid_max,
                ),
                b"sched_rr_timeslice_ms" => file(c(), || {
                    text(format!(
                        "{}\n",
                        crate::syscall::sched::RR_TIMESLICE_NS / 1_000_000
                    ))
                }),
                b"tainted" => file(c(), || text(String::from("0\n"))),
                // Whether bpf(2) needs CAP_BPF or CAP_SYS_ADMIN (crate::syscall::bpf).
                b"unprivileged_bpf_disabled" => sysctl_int(
                    0x201 + i as u64,
                    || i128::from(crate::syscall::bpf::unprivileged_disabled()),
                    crate::syscall::bpf::set_unprivileged_disabled,
                ),
                b"threads-max" => file(c(), || text(format!("{}\n", process::max_threads()))),
                b"version" => file(c(), || text(format!("{}\n", crate::uts::VERSION))),
                _ => return Err(Errno::ENOENT),
            })
        }),
    )
}

// ---- /proc/PID -----------------------------------------------------------------------

/// The entries of /proc/PID (and, with a thread, of /proc/PID/task/TID).
const PID_ENTRIES: &[(&str, u8)] = &[
    ("auxv", DT_REG),
    ("cgroup", DT_REG),
    ("cmdline", DT_REG),
    ("comm", DT_REG),
    ("coredump_filter", DT_REG),
    ("cwd", DT_LNK),
    ("environ", DT_REG),
    ("exe", DT_LNK),
    ("fd", DT_DIR),
    ("fdinfo", DT_DIR),
    ("gid_map", DT_REG),
    ("limits", DT_REG),
    ("loginuid", DT_REG),
    ("maps", DT_REG),
    ("mem", DT_REG),
    ("mountinfo", DT_REG),
    ("mounts", DT_REG),
    ("ns", DT_DIR),
    ("oom_score", DT_REG),
    ("oom_score_adj", DT_REG),
    ("pagemap", DT_REG),
    ("root", DT_LNK),
    ("setgroups", DT_REG),
    ("smaps", DT_REG),
    ("stat", DT_REG),
    ("statm", DT_REG),
    ("status", DT_REG),
    ("task", DT_DIR),
    ("timens_offsets", DT_REG),
    ("uid_map", DT_REG),
    ("wchan", DT_REG),
];

/// The number of /proc/PID's entry `index` of PID_ENTRIES (or of
/// /proc/PID/task/TID's), or of the directory itself for None.
fn entry_ino(serial: u64, tid: Option<u32>, index: Option<usize>) -> u64 {
    let entry = index.map_or(0, |i| i as u64 + 1);
    match tid {
        None => pid_ino(serial, entry),
        Some(t) => task_ino(serial, t, entry),
    }
}

/// The number of /proc/PID/task.
fn task_dir_ino(serial: u64) -> u64 {
    let i = PID_ENTRIES.iter().position(|(n, _)| *n == "task");
    entry_ino(serial, None, i)
}

/// /proc/PID, or /proc/PID/task/TID when `thread` is given.
fn pid_dir(p: &Arc<Process>, thread: Option<&Arc<Thread>>) -> InodeRef {
    let serial = p.serial;
    let tid = thread.map(|t| t.tid());
    let ino = entry_ino(serial, tid, None);
    // /proc for /proc/PID, /proc/PID/task for a thread's directory.
    let parent = if tid.is_some() {
        task_dir_ino(serial)
    } else {
        1
    };
    let weak = Arc::downgrade(p);
    let tweak = thread.map(Arc::downgrade);
    let list = move || {
        PID_ENTRIES
            .iter()
            .enumerate()
            // A thread's directory has no task/ of its own.
            .filter(|(_, (n, _))| tid.is_none() || *n != "task")
            .map(|(i, (n, t))| (n.as_bytes().to_vec(), entry_ino(serial, tid, Some(i)), *t))
            .collect()
    };
    let lookup = move |name: &[u8]| -> KResult<InodeRef> {
        let p = weak.upgrade().ok_or(Errno::ENOENT)?;
        let thread = match &tweak {
            Some(w) => Some(w.upgrade().ok_or(Errno::ENOENT)?),
            None => None,
        };
        let i = PID_ENTRIES
            .iter()
            .position(|(n, _)| n.as_bytes() == name)
            .ok_or(Errno::ENOENT)?;
        if tid.is_some() && name == b"task" {
            return Err(Errno::ENOENT);
        }
        pid_entry(&p, thread, name, entry_ino(serial, tid, Some(i)))
    };
    PseudoDir::new_ref(
        owned_by(p, ino, 0o555),
        PROC_SUPER_MAGIC,
        parent,
        Box::new(list),
        Box::new(lookup),
    )
}

/// The thread that stands for the process in files that show one thread's state:
/// the given one, or the leader (or any live thread once the leader exited).
fn main_thread(p: &Process, thread: &Option<Arc<Thread>>) -> Option<Arc<Thread>> {
    if let Some(t) = thread {
        return Some(t.clone());
    }
    let threads = p.threads.lock();
    threads
        .iter()
        .find(|t| t.tid() == p.pid)
        .or_else(|| threads.first())
        .cloned()
}

fn pid_entry(
    p: &Arc<Process>,
    thread: Option<Arc<Thread>>,
    name: &[u8],
    ino: u64,
) -> KResult<InodeRef> {
    let weak: Weak<Process> = Arc::downgrade(p);
    let get = move || weak.upgrade().ok_or(Errno::ESRCH);
    let tw = thread.as_ref().map(Arc::downgrade);
    let get_thread = move || -> KResult<Option<Arc<Thread>>> {
        match &tw {
            Some(w) => w.upgrade().map(Some).ok_or(Errno::ESRCH),
            None => Ok(None),
        }
    };
    let c = |perm: u32| owned_by(p, ino, perm);
    // The directory the entry is in (/proc/PID or /proc/PID/task/TID), for "..".
    let parent = entry_ino(p.serial, thread.as_ref().map(|t| t.tid()), None);
    Ok(match name {
        b"stat" => {
            let g = get.clone();
            let gt = get_thread.clone();
            pid_file(c(0o444), move || text(stat(&g()?, &gt()?)))
        }
        b"status" => {
            let g = get.clone();
            let gt = get_thread.clone();
            pid_file(c(0o444), move || text(status(&g()?, &gt()?)))
        }
        b"statm" => pid_file(c(0o444), move || {
            let u = get()?.mm().usage();
            text(format!(
                "{} {} 0 0 0 {} 0\n",
                u.total / 4096,
                u.resident,
                (u.data + u.stack) / 4096
            ))
        }),
        b"cmdline" => pid_file(c(0o444), move || {
            let p = get()?;
            let e = p.exec_info.lock().clone();
            Ok(cmdline(&p, e.arg_start, e.arg_end))
        }),
        b"environ" => pid_file(c(0o400), move || {
            let p = get()?;
            let e = p.exec_info.lock().clone();
            Ok(remote_bytes(&p, e.env_start, e.env_end))
        }),
        b"auxv" => pid_file(c(0o400), move || {
            let p = get()?;
            let aux = p.exec_info.lock().auxv.clone();
            Ok(aux
                .iter()
                .flat_map(|(k, v)| [k.to_le_bytes(), v.to_le_bytes()])
                .flatten()
                .collect())
        }),
        b"comm" => {
            let g = get.clone();
            let gt = get_thread.clone();
            let g2 = get.clone();
            let gt2 = get_thread.clone();
            rw_file(
                c(0o644),
                move || {
                    let p = g()?;
                    let t = main_thread(&p, &gt()?).ok_or(Errno::ESRCH)?;
                    Ok([t.comm(), b"\n".to_vec()].concat())
                },
                move |data| {
                    let p = g2()?;
                    let t = main_thread(&p, &gt2()?).ok_or(Errno::ESRCH)?;
                    let name = data.strip_suffix(b"\n").unwrap_or(data);
                    t.set_comm(name);
                    Ok(())
                },
            )
        }
        b"maps" => {
            let get2 = get.clone();
            PseudoFile::with_ioctl(
                c(0o444),
                PROC_SUPER_MAGIC,
                Box::new(move || {
                    let p = get()?;
                    Ok(maps(&p))
                }),
                Err(Errno::EINVAL),
                Box::new(move |cmd, arg, mem| {
                    if cmd != PROCMAP_QUERY {
                        return Err(Errno::ENOTTY);
                    }
                    let p: Arc<Process> = get2()?;
                    procmap_query(&p, arg, mem)
                }),
            )
        }
        b"smaps" => pid_file(c(0o444), move || {
            let p = get()?;
            Ok(smaps(&p))
        }),
        b"mem" => Arc::new(MemFile {
            common: c(0o600),
            process: Arc::downgrade(p),
        }),
        b"pagemap" => Arc::new(PagemapFile {
            common: c(0o400),
            process: Arc::downgrade(p),
        }),
        // The mounts of the process's mount namespace.
        b"mounts" => {
            let g = get.clone();
            pid_file(c(0o444), move || Ok(mounts(&g()?.nsproxy().mnt.mounts)))
        }
        b"mountinfo" => {
            let g = get.clone();
            pid_file(c(0o444), move || Ok(mountinfo(&g()?.nsproxy().mnt.mounts)))
        }
        b"limits" => pid_file(c(0o444), move || {
            let p = get()?;
            text(limits(&p))
        }),
        b"cgroup" => {
            let g = get.clone();
            pid_file(c(0o444), move || {
                Ok(crate::fs::cgroupfs::proc_cgroup(g()?.pid))
            })
        }
        b"loginuid" => pid_file(c(0o644), || text(String::from("4294967295"))),
        b"oom_score" => pid_file(c(0o444), || text(String::from("0\n"))),
        b"oom_score_adj" => {
            let g = get.clone();
            rw_file(
                c(0o644),
                move || text(format!("{}\n", g()?.oom_score_adj.load(Ordering::Relaxed))),
                move |data| {
                    let v: i32 = core::str::from_utf8(data)
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .ok_or(Errno::EINVAL)?;
                    if !(-1000..=1000).contains(&v) {
                        return Err(Errno::EINVAL);
                    }
                    get()?.oom_score_adj.store(v, Ordering::Relaxed);
                    Ok(())
                },
            )
        }
        b"coredump_filter" => {
            use crate::syscall::coredump::COREDUMP_FILTER_MASK;
            let g = get.clone();
            rw_file(
                c(0o644),
                move || {
                    text(format!(
                        "{:08x}\n",
                        g()?.coredump_filter.load(Ordering::Relaxed)
                    ))
                },
                move |data| {
                    // Hexadecimal with 0x, octal with 0, else decimal (kstrtouint
                    // base 0); bits past the filter's nine are dropped.
                    let t = core::str::from_utf8(data)
                        .map_err(|_| Errno::EINVAL)?
                        .trim();
                    let v =
                        if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                            u32::from_str_radix(h, 16)
                        } else if t.len() > 1 && t.starts_with('0') {
                            u32::from_str_radix(&t[1..], 8)
                        } else {
                            t.parse()
                        }
                        .map_err(|_| Errno::EINVAL)?;
                    get()?
                        .coredump_filter
                        .store(v & COREDUMP_FILTER_MASK, Ordering::Relaxed);
                    Ok(())
                },
            )
        }
        b"wchan" => pid_file(c(0o444), || text(String::from("0"))),
        b"exe" => {
            let g = get.clone();
            PseudoLink::new_ref(
                c(0o777),
                PROC_SUPER_MAGIC,
                Box::new(move || g()?.exe.lock().as_ref().map(path_of).ok_or(Errno::ENOENT)),
                Some(Box::new(move || {
                    get()?.exe.lock().clone().ok_or(Errno::ENOENT)
                })),
            )
        }
        b"cwd" | b"root" => {
            let root = name == b"root";
            let pick = move |p: &Arc<Process>| -> DentryRef {
                let fs = p.fs();
                let fs = fs.lock();
                if root {
                    fs.root.clone()
                } else {
                    fs.cwd.clone()
                }
            };
            let g = get.clone();
            PseudoLink::new_ref(
                c(0o777),
                PROC_SUPER_MAGIC,
                Box::new(move || Ok(pick(&g()?).path())),
                Some(Box::new(move || Ok(pick(&get()?)))),
            )
        }
        b"fd" => fd_dir(p, ino, parent, false),
        b"fdinfo" => fd_dir(p, ino, parent, true),
        b"ns" => ns_dir(p, ino, parent),
        b"uid_map" | b"gid_map" => {
            let uid = name == b"uid_map";
            let g = get.clone();
            rw_file(
                c(0o644),
                move || {
                    let ns = g()?.nsproxy().user.clone();
                    let m = if uid { &ns.uid_map } else { &ns.gid_map };
                    Ok(m.lock().clone().unwrap_or_default())
                },
                move |data| write_id_map(&get()?, uid, data),
            )
        }
        b"setgroups" => {
            let g = get.clone();
            rw_file(
                c(0o644),
                move || {
                    let ns = g()?.nsproxy().user.clone();
                    let deny = ns.setgroups_deny.load(Ordering::Relaxed);
                    text(String::from(if deny { "deny\n" } else { "allow\n" }))
                },
                move |data| {
                    let ns = get()?.nsproxy().user.clone();
                    let deny = match data.trim_ascii() {
                        b"deny" => true,
                        b"allow" => false,
                        _ => return Err(Errno::EINVAL),
                    };
                    // Fixed once the gid map is written, and in the initial
                    // namespace (Linux: EPERM).
                    if ns.parent.is_none() || ns.gid_map.lock().is_some() {
                        return Err(Errno::EPERM);
                    }
                    ns.setgroups_deny.store(deny, Ordering::Relaxed);
                    Ok(())
                },
            )
        }
        b"timens_offsets" => {
            let g = get.clone();
            rw_file(
                c(0o644),
                move || {
                    let (m, b) = g()?.nsproxy().time_for_children.offsets();
                    Ok(kestrel_ns::format_offsets(m, b))
                },
                move |data| {
                    let p = get()?;
                    let me = caller()?;
                    if !me
                        .process
                        .cred
                        .lock()
                        .capable(kestrel_abi::cap::CAP_SYS_TIME)
                    {
                        return Err(Errno::EPERM);
                    }
                    let ns = p.nsproxy().time_for_children.clone();
                    let mut monotonic = None;
                    let mut boottime = None;
                    for o in kestrel_ns::parse_offsets(data)? {
                        let now = crate::time::now_ns();
                        let off = kestrel_ns::check_offset(&o, now)?;
                        if o.clock == kestrel_ns::CLOCK_MONOTONIC {
                            monotonic = Some(off);
                        } else {
                            boottime = Some(off);
                        }
                    }
                    ns.set_offsets(monotonic, boottime)
                },
            )
        }
        b"task" => task_dir(p, ino),
        _ => return Err(Errno::ENOENT),
    })
}

/// /proc/PID/mem: the process's memory at the file offset, read and written
/// whatever its protections (a debugger's view; opening it needs the owner's
/// permission, 0600). Unmapped addresses are EIO, as on Linux.
struct MemFile {
    common: Common,
    process: Weak<Process>,
}

impl MemFile {
    fn access(&self, offset: u64, buf: &mut [u8], write: bool) -> KResult<usize> {
        let p = self.process.upgrade().ok_or(Errno::ESRCH)?;
        if buf.is_empty() {
            return Ok(0);
        }
        // A bounded chunk at a time: the address space's lock is held throughout.
        let n = buf.len().min(1 << 20);
        match p.mm().access_forced(offset, &mut buf[..n], write) {
            0 => Err(Errno::EIO),
            done => Ok(done),
        }
    }
}

impl kestrel_vfs::Inode for MemFile {
    fn metadata(&self) -> kestrel_vfs::Metadata {
        self.common.metadata(S_IFREG, 1)
    }
    fn statfs(&self) -> Statfs {
        kestrel_vfs::pseudo::pseudo_statfs(self.common.dev, PROC_SUPER_MAGIC)
    }
    fn set_mode(&self, _: u32) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_owner(&self, _: Option<u32>, _: Option<u32>) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_times(
        &self,
        _: Option<kestrel_abi::time::Timespec>,
        _: Option<kestrel_abi::time::Timespec>,
    ) -> KResult<()> {
        Ok(())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> KResult<usize> {
        self.access(offset, buf, false)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> KResult<usize> {
        let mut copy = data[..data.len().min(1 << 20)].to_vec();
        self.access(offset, &mut copy, true)
    }
    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

/// /proc/PID/pagemap: one u64 per virtual page (reads of whole entries).
struct PagemapFile {
    common: Common,
    process: Weak<Process>,
}

impl kestrel_vfs::Inode for PagemapFile {
    fn metadata(&self) -> kestrel_vfs::Metadata {
        self.common.metadata(S_IFREG, 1)
    }
    fn statfs(&self) -> Statfs {
        kestrel_vfs::pseudo::pseudo_statfs(self.common.dev, PROC_SUPER_MAGIC)
    }
    fn set_mode(&self, _: u32) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_owner(&self, _: Option<u32>, _: Option<u32>) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_times(
        &self,
        _: Option<kestrel_abi::time::Timespec>,
        _: Option<kestrel_abi::time::Timespec>,
    ) -> KResult<()> {
        Ok(())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> KResult<usize> {
        let p = self.process.upgrade().ok_or(Errno::ESRCH)?;
        if !offset.is_multiple_of(8) || !buf.len().is_multiple_of(8) {
            return Err(Errno::EINVAL);
        }
        // At most 8192 entries (32 MiB of address space) a read.
        let n = (buf.len() / 8).min(8192);
        let mut entries = vec![0u64; n];
        p.mm()
            .pagemap((offset / 8).wrapping_mul(4096), &mut entries);
        for (chunk, e) in buf.chunks_exact_mut(8).zip(&entries) {
            chunk.copy_from_slice(&e.to_ne_bytes());
        }
        Ok(n * 8)
    }
    fn write_at(&self, _: u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

/// Bytes `[start, end)` of `p`'s memory (argv or environ strings).
/// /proc/PID/cmdline: the argv strings as they are now in the process's
/// memory. A program may write a title over them (setproctitle, as nginx's
/// "nginx: worker process" and postgres do); once the title runs past the
/// area's last NUL into the environment strings after it, cmdline is, as on
/// Linux, the string at argv[0] up to its NUL, at most a page of it.
fn cmdline(p: &Process, arg_start: u64, arg_end: u64) -> Vec<u8> {
    let args = remote_bytes(p, arg_start, arg_end);
    if args.last().is_none_or(|&b| b == 0) {
        return args;
    }
    // A page at most, read a page at a time: the strings sit near the top of
    // the stack, and what follows them may be the end of user space.
    let mut title = Vec::new();
    let mut at = arg_start;
    while title.len() < 4096 {
        let end = ((at | 4095) + 1).min(arg_start + 4096);
        let chunk = remote_bytes(p, at, end);
        let full = chunk.len() as u64 == end - at;
        if let Some(nul) = chunk.iter().position(|&b| b == 0) {
            title.extend_from_slice(&chunk[..=nul]);
            break;
        }
        title.extend_from_slice(&chunk);
        if !full {
            break;
        }
        at = end;
    }
    title
}

fn remote_bytes(p: &Process, start: u64, end: u64) -> Vec<u8> {
    if end <= start {
        return Vec::new();
    }
    let mut buf = vec![0u8; (end - start).min(1 << 20) as usize];
    let n = p.mm().read_remote(start, &mut buf);
    buf.truncate(n);
    buf
}

/// The one-letter state ps shows.
/// The state letter of /proc/PID/stat and status. For a process it is its main
/// thread's. R: the thread's task is queued or being polled (a thread in user mode
/// runs inside its task's poll); S: its task waits for a wake, which is how every
/// blocking system call waits here. Kestrel has no uninterruptible waits worth
/// calling D (a wait that ignores signals is short: a lock, a disk request). t: the
/// thread is in a ptrace stop, waiting for its tracer.
fn state_letter(p: &Process, t: Option<&Arc<Thread>>) -> char {
    if let process::State::Zombie(_) = p.state() {
        return 'Z';
    }
    if t.is_some_and(|t| t.ptrace_stopped()) {
        return 't';
    }
    if p.signals.stopped.load(Ordering::Acquire) {
        return 'T';
    }
    let Some(t) = t else {
        return 'S';
    };
    if let Some(me) = crate::process::current_thread()
        && Arc::ptr_eq(t, &me)
    {
        return 'R';
    }
    match t.task.get() {
        Some(task) if task.is_runnable() => 'R',
        // A thread whose task is not spawned yet is about to be queued.
        None => 'R',
        Some(_) => 'S',
    }
}

/// tty_nr and the terminal's foreground group, if `p`'s session has the console.
fn tty_of(p: &Process) -> (u64, i64) {
    let c = crate::fs::tty::console();
    if c.session.load(Ordering::Relaxed) == p.sid.load(Ordering::Relaxed)
        && p.sid.load(Ordering::Relaxed) != 0
    {
        // ttyS0 is 4:64; new_encode_dev.
        (4 << 8 | 64, i64::from(c.fg_pgrp.load(Ordering::Relaxed)))
    } else {
        (0, -1)
    }
}

/// Signal sets as /proc shows them: (ignored, caught).
fn dispositions(p: &Process) -> (u64, u64) {
    let acts = p.sigactions();
    let acts = acts.lock();
    let (mut ign, mut cgt) = (0, 0);
    for sig in 1..=NSIG {
        let h = acts.get(sig).handler;
        if h == SIG_IGN {
            ign |= sig_bit(sig);
        } else if h != SIG_DFL {
            cgt |= sig_bit(sig);
        }
    }
    (ign, cgt)
}

fn stat(p: &Arc<Process>, thread: &Option<Arc<Thread>>) -> String {
    let t = main_thread(p, thread);
    let id = thread.as_ref().map_or(p.pid, |t| t.tid());
    let comm = t.as_ref().map(|t| t.comm()).unwrap_or_default();
    let state = state_letter(p, t.as_ref());
    let (tty, tpgid) = tty_of(p);
    let (u, s) = match thread {
        Some(t) => t.cpu.split(),
        None => p.cpu_time(),
    };
    let (cu, cs) = p.children_cpu.get();
    let nice = i64::from(p.nice.load(Ordering::Relaxed));
    let prio = crate::syscall::sched::stat_priority(p);
    let rt_priority = p.rt_priority.load(Ordering::Relaxed);
    let policy = p.sched_policy.load(Ordering::Relaxed);
    let nthreads = p.threads.lock().len();
    let start = ticks(p.start_ns);
    let usage = p.mm().usage();
    let rsslim = p.rlimits.lock()[kestrel_abi::process::RLIMIT_RSS as usize].rlim_cur;
    let e = p.exec_info.lock().clone();
    let mask = t.as_ref().map_or(0, |t| t.sigmask.load(Ordering::Relaxed));
    let pending = p.signals.pending.lock().pending();
    let (ign, cgt) = dispositions(p);
    let exit_code = match p.state() {
        process::State::Zombie(st) => st,
        _ => 0,
    };
    format!(
        "{id} ({}) {state} {} {} {} {tty} {tpgid} 4194560 0 0 0 0 {} {} {} {} {prio} {nice} {nthreads} 0 {start} {} {} {rsslim} 0 0 0 0 0 {pending} {mask} {ign} {cgt} 0 0 0 {} 0 {rt_priority} {policy} 0 0 0 0 0 0 {} {} {} {} {exit_code}\n",
        String::from_utf8_lossy(&comm),
        p.ppid(),
        p.pgid.load(Ordering::Relaxed),
        p.sid.load(Ordering::Relaxed),
        ticks(u),
        ticks(s),
        ticks(cu),
        ticks(cs),
        usage.total,
        usage.resident,
        p.exit_signal,
        e.arg_start,
        e.arg_end,
        e.env_start,
        e.env_end,
    )
}

fn status(p: &Arc<Process>, thread: &Option<Arc<Thread>>) -> String {
    let t = main_thread(p, thread);
    let comm = t.as_ref().map(|t| t.comm()).unwrap_or_default();
    let state = state_letter(p, t.as_ref());
    let state_name = match state {
        'R' => "R (running)",
        'T' => "T (stopped)",
        't' => "t (tracing stop)",
        'Z' => "Z (zombie)",
        _ => "S (sleeping)",
    };
    let c = p.cred.lock().clone();
    let umask = p.fs().lock().umask;
    let usage = p.mm().usage();
    let kb = |b: u64| b / 1024;
    let id = thread.as_ref().map_or(p.pid, |t| t.tid());
    let (ign, cgt) = dispositions(p);
    let mask = t.as_ref().map_or(0, |t| t.sigmask.load(Ordering::Relaxed));
    let thread_pending = t.as_ref().map_or(0, |t| t.signals.pending.lock().pending());
    let shared_pending = p.signals.pending.lock().pending();
    let groups: Vec<String> = c.groups.iter().map(|g| format!("{g}")).collect();
    let mut s = String::new();
    let _ = writeln!(s, "Name:\t{}", String::from_utf8_lossy(&comm));
    let _ = writeln!(s, "Umask:\t{umask:04o}");
    let _ = writeln!(s, "State:\t{state_name}");
    let _ = writeln!(
        s,
        "Tgid:\t{}\nNgid:\t0\nPid:\t{id}\nPPid:\t{}\nTracerPid:\t{}",
        p.pid,
        p.ppid(),
        t.as_ref().map_or(0, |t| t.tracer_pid())
    );
    let _ = writeln!(s, "Uid:\t{}\t{}\t{}\t{}", c.uid, c.euid, c.suid, c.fsuid);
    let _ = writeln!(s, "Gid:\t{}\t{}\t{}\t{}", c.gid, c.egid, c.sgid, c.fsgid);
    let _ = writeln!(
        s,
        "FDSize:\t{}",
        p.files().lock().count().next_power_of_two().max(64)
    );
    let _ = writeln!(s, "Groups:\t{}", groups.join(" "));
    let _ = writeln!(
        s,
        "NStgid:\t{}\nNSpid:\t{id}\nNSpgid:\t{}\nNSsid:\t{}",
        p.pid,
        p.pgid.load(Ordering::Relaxed),
        p.sid.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        s,
        "VmPeak:\t{:8} kB\nVmSize:\t{:8} kB\nVmLck:\t{:8} kB\nVmPin:\t{:8} kB",
        kb(usage.total),
        kb(usage.total),
        kb(p.mm().locked_bytes()),
        0
    );
    let _ = writeln!(
        s,
        "VmHWM:\t{:8} kB\nVmRSS:\t{:8} kB",
        usage.resident * 4,
        usage.resident * 4
    );
    let _ = writeln!(
        s,
        "RssAnon:\t{:8} kB\nRssFile:\t{:8} kB\nRssShmem:\t{:8} kB",
        usage.resident * 4,
        0,
        0
    );
    let _ = writeln!(
        s,
        "VmData:\t{:8} kB\nVmStk:\t{:8} kB\nVmExe:\t{:8} kB\nVmLib:\t{:8} kB",
        kb(usage.data),
        kb(usage.stack),
        0,
        0
    );
    let _ = writeln!(s, "VmPTE:\t{:8} kB\nVmSwap:\t{:8} kB", 0, 0);
    let _ = writeln!(s, "Threads:\t{}", p.threads.lock().len());
    let _ = writeln!(
        s,
        "SigQ:\t0/{}",
        p.rlimits.lock()[kestrel_abi::process::RLIMIT_SIGPENDING as usize].rlim_cur
    );
    let _ = writeln!(
        s,
        "SigPnd:\t{thread_pending:016x}\nShdPnd:\t{shared_pending:016x}\nSigBlk:\t{mask:016x}"
    );
    let _ = writeln!(s, "SigIgn:\t{ign:016x}\nSigCgt:\t{cgt:016x}");
    let _ = writeln!(
        s,
        "CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}",
        c.cap_inheritable, c.cap_permitted, c.cap_effective
    );
    let _ = writeln!(s, "CapBnd:\t{:016x}\nCapAmb:\t{:016x}", c.cap_bounding, 0);
    let _ = writeln!(
        s,
        "NoNewPrivs:\t{}\nSeccomp:\t{}\nSeccomp_filters:\t{}\nCpus_allowed:\t1\nCpus_allowed_list:\t0",
        u8::from(p.no_new_privs.load(Ordering::Relaxed)),
        t.as_ref().map_or(0, |t| t.seccomp_mode()),
        t.as_ref().map_or(0, |t| t.seccomp_filter_count()),
    );
    let _ = writeln!(s, "Mems_allowed:\t1\nMems_allowed_list:\t0");
    // The task's own (the main thread's for /proc/PID/status), as Linux.
    let (v, i) = t.as_ref().map_or((0, 0), |t| t.cpu.switches());
    let _ = writeln!(
        s,
        "voluntary_ctxt_switches:\t{v}\nnonvoluntary_ctxt_switches:\t{i}"
    );
    s
}

fn maps(p: &Process) -> Vec<u8> {
    let mut out = Vec::new();
    for a in p.mm().areas() {
        map_line(&mut out, &a);
    }
    out
}

/// PROCMAP_QUERY: `_IOWR('f', 17, struct procmap_query)` (Linux 6.11).
const PROCMAP_QUERY: u32 = 0xc068_6611;
const PROCMAP_QUERY_SIZE: usize = 104;

/// ioctl(PROCMAP_QUERY) on /proc/PID/maps (do_procmap_query): the area
/// covering `query_addr` (or the next one, with COVERING_OR_NEXT_VMA) whose
/// permissions and backing match the flags; its bounds, flags, page size,
/// file offset, device and inode, and its name when a buffer is given. No
/// build ids: `build_id_size` comes back 0, as for a file that has none.
fn procmap_query(p: &Process, arg: u64, mem: &dyn kestrel_vfs::UserSpace) -> KResult<u64> {
    use kestrel_abi::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};
    const READABLE: u64 = 1;
    const WRITABLE: u64 = 2;
    const EXECUTABLE: u64 = 4;
    const SHARED: u64 = 8;
    const COVERING_OR_NEXT: u64 = 0x10;
    const FILE_BACKED: u64 = 0x20;
    let usize_: u32 = kestrel_vfs::UserPtr::<u32>::new(arg).read(mem)?;
    let usize_ = usize_ as usize;
    if usize_ < 24 {
        return Err(Errno::EINVAL);
    }
    let mut q = [0u8; PROCMAP_QUERY_SIZE];
    kestrel_usermem::UserReader::new(mem, arg, usize_)?.read_extensible(&mut q)?;
    use kestrel_abi::le::{put_u32, put_u64, u32_at, u64_at};
    let (flags, addr) = (u64_at(&q, 8), u64_at(&q, 16));
    let (name_size, build_id_size) = (u32_at(&q, 80), u32_at(&q, 84));
    let (name_addr, build_id_addr) = (u64_at(&q, 88), u64_at(&q, 96));
    if flags & !0x3f != 0
        || (name_size != 0) != (name_addr != 0)
        || (build_id_size != 0) != (build_id_addr != 0)
    {
        return Err(Errno::EINVAL);
    }
    let vma_flags = |a: &crate::mm::vm::AreaInfo| {
        let mut f = 0;
        if a.prot & PROT_READ != 0 {
            f |= READABLE;
        }
        if a.prot & PROT_WRITE != 0 {
            f |= WRITABLE;
        }
        if a.prot & PROT_EXEC != 0 {
            f |= EXECUTABLE;
        }
        if a.shared {
            f |= SHARED;
        }
        f
    };
    let wanted = flags & (READABLE | WRITABLE | EXECUTABLE | SHARED);
    let fits = |a: &crate::mm::vm::AreaInfo| {
        vma_flags(a) & wanted == wanted && (flags & FILE_BACKED == 0 || a.ino != 0)
    };
    // The first area ending above the address; with COVERING_OR_NEXT, the
    // first such one that fits (query_matching_vma).
    let mut found = None;
    for a in p.mm().areas().into_iter().filter(|a| a.end > addr) {
        if fits(&a) {
            if flags & COVERING_OR_NEXT != 0 || a.start <= addr {
                found = Some(a);
            }
            break;
        }
        if flags & COVERING_OR_NEXT == 0 {
            break;
        }
    }
    let found = found.ok_or(Errno::ENOENT)?;
    let mut out = q;
    put_u64(&mut out, 24, found.start);
    put_u64(&mut out, 32, found.end);
    put_u64(&mut out, 40, vma_flags(&found));
    put_u64(&mut out, 48, 4096);
    let file = found.ino != 0;
    put_u64(&mut out, 56, if file { found.offset } else { 0 });
    put_u64(&mut out, 64, found.ino);
    put_u32(&mut out, 72, if file { major(found.dev) } else { 0 });
    put_u32(&mut out, 76, if file { minor(found.dev) } else { 0 });
    put_u32(&mut out, 84, 0);
    let mut name = Vec::new();
    if name_size != 0 {
        if let Some(l) = &found.label {
            name.extend_from_slice(l);
            name.push(0);
            if name.len() > name_size as usize {
                return Err(Errno::ENAMETOOLONG);
            }
        }
        put_u32(&mut out, 80, name.len() as u32);
    }
    if !name.is_empty() {
        kestrel_usermem::UserWriter::new(mem, name_addr, name.len())?.write_all(&name)?;
    }
    let n = usize_.min(PROCMAP_QUERY_SIZE);
    kestrel_usermem::UserWriter::new(mem, arg, n)?.write_all(&out[..n])?;
    Ok(0)
}

/// /proc/PID/smaps: each area's maps line, then its sizes. Every page is a
/// 4 KiB page of this process's own (no sharing is counted: Pss is Rss), and
/// nothing is ever swapped.
fn smaps(p: &Process) -> Vec<u8> {
    let mm = p.mm();
    let mut out = Vec::new();
    for a in mm.areas() {
        map_line(&mut out, &a);
        let size = (a.end - a.start) / 1024;
        let rss = mm.resident_in(a.start, a.end) * 4;
        let anon = if a.ino == 0 { rss } else { 0 };
        let locked = if a.locked { rss } else { 0 };
        let mut s = String::new();
        let _ = write!(
            s,
            "Size:           {size:8} kB\nKernelPageSize:        4 kB\nMMUPageSize:           4 kB\n\
             Rss:            {rss:8} kB\nPss:            {rss:8} kB\n\
             Shared_Clean:          0 kB\nShared_Dirty:          0 kB\n\
             Private_Clean:         0 kB\nPrivate_Dirty:  {rss:8} kB\n\
             Referenced:     {rss:8} kB\nAnonymous:      {anon:8} kB\n\
             Swap:                  0 kB\nSwapPss:               0 kB\n\
             Locked:         {locked:8} kB\n"
        );
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// One line of /proc/PID/maps.
fn map_line(out: &mut Vec<u8>, a: &crate::mm::vm::AreaInfo) {
    let perms = [
        if a.prot & kestrel_abi::mm::PROT_READ != 0 {
            'r'
        } else {
            '-'
        },
        if a.prot & kestrel_abi::mm::PROT_WRITE != 0 {
            'w'
        } else {
            '-'
        },
        if a.prot & kestrel_abi::mm::PROT_EXEC != 0 {
            'x'
        } else {
            '-'
        },
        if a.shared { 's' } else { 'p' },
    ];
    let perms: String = perms.iter().collect();
    // Linux's show_map_vma: the inode is followed by a space; a name starts
    // after padding to column 73.
    let line = format!(
        "{:08x}-{:08x} {perms} {:08x} {:02x}:{:02x} {} ",
        a.start,
        a.end,
        a.offset,
        major(a.dev),
        minor(a.dev),
        a.ino
    );
    out.extend_from_slice(line.as_bytes());
    if let Some(label) = &a.label {
        out.extend(core::iter::repeat_n(
            b' ',
            72usize.saturating_sub(line.len()),
        ));
        out.push(b' ');
        out.extend_from_slice(label);
    }
    out.push(b'\n');
}

fn mount_lines(mounts: &kestrel_vfs::Mounts) -> Vec<kestrel_vfs::MountInfo> {
    let mut all = vec![super::root_line(mounts)];
    all.extend(mounts.infos());
    all
}

fn mounts(table: &kestrel_vfs::Mounts) -> Vec<u8> {
    let mut out = Vec::new();
    for m in mount_lines(table) {
        out.extend_from_slice(
            &[
                m.source,
                b" ".to_vec(),
                m.path,
                b" ".to_vec(),
                m.fstype,
                b" ".to_vec(),
                m.options,
                b" 0 0\n".to_vec(),
            ]
            .concat(),
        );
    }
    out
}

fn mountinfo(mounts: &kestrel_vfs::Mounts) -> Vec<u8> {
    let mut out = Vec::new();
    // The root's line first, then every mount: its id and its parent's (the
    // ids statx's STATX_MNT_ID gives), its device, its root inside its file
    // system, and its propagation.
    let root = mounts.root_mount();
    let mut lines = vec![(
        super::root_line(mounts),
        root.clone(),
        1,
        String::from("0:1"),
        b"/".to_vec(),
    )];
    for m in mounts.list() {
        let dev = m.root.metadata().dev;
        let parent = m.parent.as_ref().unwrap_or(&root).id();
        lines.push((
            m.info,
            m.flags,
            parent,
            format!(
                "{}:{}",
                kestrel_abi::fs::major(dev),
                kestrel_abi::fs::minor(dev)
            ),
            m.root_path,
        ));
    }
    for (m, f, parent, dev, root_path) in lines {
        out.extend_from_slice(format!("{} {parent} {dev} ", f.id()).as_bytes());
        out.extend_from_slice(&root_path);
        out.push(b' ');
        // The optional fields: the peer group shared with, the master's.
        let mut optional = String::new();
        let (shared, master) = f.propagation();
        if shared != 0 {
            optional.push_str(&format!(" shared:{shared}"));
        }
        if master != 0 {
            optional.push_str(&format!(" master:{master}"));
        }
        if f.unbindable() {
            optional.push_str(" unbindable");
        }
        out.extend_from_slice(
            &[
                m.path,
                b" ".to_vec(),
                m.options.clone(),
                optional.into_bytes(),
                b" - ".to_vec(),
                m.fstype,
                b" ".to_vec(),
                m.source,
                b" ".to_vec(),
                m.options,
                b"\n".to_vec(),
            ]
            .concat(),
        );
    }
    out
}

fn limits(p: &Process) -> String {
    const NAMES: [(&str, &str); RLIM_NLIMITS as usize] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let l = *p.rlimits.lock();
    let v = |x: u64| {
        if x == RLIM_INFINITY {
            String::from("unlimited")
        } else {
            format!("{x}")
        }
    };
    let mut s = format!(
        "{:<26}{:<21}{:<21}{:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for (i, (name, unit)) in NAMES.iter().enumerate() {
        let _ = writeln!(
            s,
            "{:<26}{:<21}{:<21}{:<10}",
            name,
            v(l[i].rlim_cur),
            v(l[i].rlim_max),
            unit
        );
    }
    s
}

/// A file's path as procfs links show it: " (deleted)" once its last name is gone.
fn path_of(d: &DentryRef) -> Vec<u8> {
    let mut p = d.path();
    let m = d.inode.metadata();
    if m.nlink == 0 && !m.is_dir() {
        p.extend_from_slice(b" (deleted)");
    }
    p
}

/// What `readlink /proc/PID/fd/N` shows for an open file.
fn fd_target(f: &OpenFile) -> Vec<u8> {
    if let Some(d) = f.dentry() {
        return path_of(d);
    }
    let ino = f.inode().map_or(0, |i| i.metadata().ino);
    match f.metadata().map(|m| m.file_type()) {
        Ok(S_IFIFO) => return format!("pipe:[{ino}]").into_bytes(),
        Ok(S_IFSOCK) => return format!("socket:[{ino}]").into_bytes(),
        _ => {}
    }
    let kind = if kestrel_vfs::epoll::Epoll::of(f).is_some() {
        "[eventpoll]"
    } else if crate::fs::timerfd::TimerFd::of(f).is_some() {
        "[timerfd]"
    } else if crate::syscall::pidfd::process_of(f).is_some() {
        "[pidfd]"
    } else if crate::perf::PerfFile::of(f).is_some() {
        "[perf_event]"
    } else if let Some(b) = crate::syscall::bpf::BpfFile::of(f) {
        b.link_name()
    } else {
        "[anon]"
    };
    format!("anon_inode:{kind}").into_bytes()
}

/// /proc/PID/fd (links) or /proc/PID/fdinfo (position and flags).
fn fd_dir(p: &Arc<Process>, ino: u64, parent: u64, info: bool) -> InodeRef {
    let (pid, serial) = (p.pid, p.serial);
    let number = move |fd: i32| fd_ino(serial, pid, info, fd);
    let weak = Arc::downgrade(p);
    let w2 = weak.clone();
    let list = move || {
        let Some(p) = weak.upgrade() else {
            return Vec::new();
        };
        let files = p.files();
        let t = files.lock();
        t.iter()
            .map(|(fd, _)| {
                (
                    format!("{fd}").into_bytes(),
                    number(fd),
                    if info { DT_REG } else { DT_LNK },
                )
            })
            .collect()
    };
    let powner = p.clone();
    let lookup = move |name: &[u8]| -> KResult<InodeRef> {
        let p = w2.upgrade().ok_or(Errno::ENOENT)?;
        let fd = parse_id(name).ok_or(Errno::ENOENT)? as i32;
        let (f, cloexec) = {
            let files = p.files();
            let t = files.lock();
            (
                t.get(fd).map_err(|_| Errno::ENOENT)?,
                t.cloexec(fd).unwrap_or(false),
            )
        };
        let weak_file = Arc::downgrade(&f);
        let c = owned_by(&powner, number(fd), if info { 0o444 } else { 0o700 });
        Ok(if info {
            pid_file(c, move || {
                let f = weak_file.upgrade().ok_or(Errno::ENOENT)?;
                let pos = f.seek(0, SEEK_CUR).unwrap_or(0);
                let ino = f.inode().map_or(0, |i| i.metadata().ino);
                // The flags as Linux shows them: the status flags plus O_CLOEXEC.
                let flags = f.flags() | if cloexec { O_CLOEXEC } else { 0 };
                // What each kind of anonymous file adds (fs/signalfd.c, fs/eventfd.c).
                let extra = if let Some(s) = crate::fs::signalfd::SignalFd::of(&f) {
                    format!("sigmask:\t{:016x}\n", s.mask())
                } else if let Some(e) = f
                    .ops()
                    .as_any()
                    .downcast_ref::<kestrel_vfs::eventfd::EventFd>()
                {
                    format!("eventfd-count: {:16x}\n", e.count())
                } else if let Some(i) = crate::fs::inotify::instance(&f) {
                    i.fdinfo()
                } else if let Some(g) = crate::fs::fanotify::group(&f) {
                    g.fdinfo()
                } else if let Some(b) = crate::syscall::bpf::BpfFile::of(&f) {
                    b.fdinfo()
                } else {
                    String::new()
                };
                text(format!(
                    "pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t0\nino:\t{ino}\n{extra}"
                ))
            })
        } else {
            let wf = weak_file.clone();
            PseudoLink::new_ref(
                c,
                PROC_SUPER_MAGIC,
                Box::new(move || {
                    let f = weak_file.upgrade().ok_or(Errno::ENOENT)?;
                    Ok(fd_target(&f))
                }),
                Some(Box::new(move || {
                    let f = wf.upgrade().ok_or(Errno::ENOENT)?;
                    // A nameless file (a pipe, an epoll) is reached by its inode alone.
                    match (f.dentry(), f.inode()) {
                        (Some(d), _) => Ok(d.clone()),
                        (None, Some(i)) => Ok(kestrel_vfs::Dentry::root(i.clone())),
                        (None, None) => Err(Errno::ENXIO),
                    }
                })),
            )
        })
    };
    PseudoDir::new_ref(
        owned_by(p, ino, 0o500),
        PROC_SUPER_MAGIC,
        parent,
        Box::new(list),
        Box::new(lookup),
    )
}

/// Writes a user namespace's uid_map (`uid`) or gid_map: once (EPERM after),
/// lines of `inside outside count` (EINVAL otherwise). Without CAP_SETUID
/// (CAP_SETGID) a writer may map only its own effective id, one id long, and a
/// gid map needs setgroups denied first (EPERM), as Linux's new_idmap_permitted.
fn write_id_map(p: &Arc<Process>, uid: bool, data: &[u8]) -> KResult<()> {
    let ns = p.nsproxy().user.clone();
    let map = kestrel_ns::parse_id_map(data)?;
    let writer = caller()?.process.cred.lock().clone();
    let cap = if uid {
        kestrel_abi::cap::CAP_SETUID
    } else {
        kestrel_abi::cap::CAP_SETGID
    };
    if !writer.capable(cap) {
        let own = if uid { writer.euid } else { writer.egid };
        let one = map.len() == 1 && map[0].count == 1 && map[0].outside == own;
        if !one || (!uid && !ns.setgroups_deny.load(Ordering::Relaxed)) {
            return Err(Errno::EPERM);
        }
    }
    let slot = if uid { &ns.uid_map } else { &ns.gid_map };
    let mut slot = slot.lock();
    if slot.is_some() {
        return Err(Errno::EPERM);
    }
    *slot = Some(kestrel_ns::format_id_map(&map));
    Ok(())
}

/// /proc/sys/net: net.ipv4.conf.IF.tag for `all`, `default` and each
/// interface of the reader's network namespace (a value per namespace).
fn net_sys_dir() -> InodeRef {
    let sys = 2 + SYSTEM_FILES.iter().position(|n| *n == "sys").unwrap_or(0) as u64;
    table_dir(0x400, sys, &[("ipv4", 0x401)], |name| match name {
        b"ipv4" => Ok(PseudoDir::new_ref(
            common(0x401, 0o555),
            PROC_SUPER_MAGIC,
            0x400,
            Box::new(|| {
                vec![
                    (b"conf".to_vec(), 0x402, DT_DIR),
                    (b"ping_group_range".to_vec(), 0x403, DT_REG),
                ]
            }),
            Box::new(|name: &[u8]| match name {
                b"conf" => Ok(net_conf_dir()),
                b"ping_group_range" => Ok(ping_group_range_file()),
                _ => Err(Errno::ENOENT),
            }),
        )),
        _ => Err(Errno::ENOENT),
    })
}

/// net.ipv4.ping_group_range: the groups that may make ICMP datagram
/// sockets, a value of the reader's network namespace ("1\t0", Linux's
/// default, lets nobody). A write takes one or two gids (EINVAL past
/// 2^31 - 1 or with none); a low above the high makes it "1 0" again
/// (ipv4_ping_group_range).
fn ping_group_range_file() -> InodeRef {
    rw_file(
        common(0x403, 0o644),
        || {
            let (lo, hi) = crate::net::shared().map_or((1, 0), |s| *s.ping_group_range.lock());
            text(format!("{lo}\t{hi}\n"))
        },
        |data| {
            // proc_dointvec_minmax: up to two values over the current ones
            // (one value replaces the low end only), none is EINVAL.
            let t = core::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
            let Some(s) = crate::net::shared() else {
                return Ok(());
            };
            let (mut lo, mut hi) = *s.ping_group_range.lock();
            let mut n = 0;
            for w in t.split_ascii_whitespace().take(2) {
                let v = w
                    .parse::<i64>()
                    .ok()
                    .filter(|v| (0..=i64::from(i32::MAX)).contains(v))
                    .ok_or(Errno::EINVAL)? as u32;
                if n == 0 {
                    lo = v;
                } else {
                    hi = v;
                }
                n += 1;
            }
            if n == 0 {
                return Err(Errno::EINVAL);
            }
            *s.ping_group_range.lock() = if hi < lo { (1, 0) } else { (lo, hi) };
            Ok(())
        },
    )
}

fn net_conf_names() -> Vec<Vec<u8>> {
    let mut names = vec![b"all".to_vec(), b"default".to_vec()];
    if let Some(s) = crate::net::shared() {
        names.extend(s.interfaces().into_iter().map(|f| f.name.into_bytes()));
    }
    names
}

fn net_conf_dir() -> InodeRef {
    PseudoDir::new_ref(
        common(0x402, 0o555),
        PROC_SUPER_MAGIC,
        0x401,
        Box::new(|| {
            net_conf_names()
                .into_iter()
                .enumerate()
                .map(|(i, n)| (n, 0x410 + i as u64, DT_DIR))
                .collect()
        }),
        Box::new(|name: &[u8]| {
            let i = net_conf_names()
                .iter()
                .position(|n| n == name)
                .ok_or(Errno::ENOENT)?;
            let iface = name.to_vec();
            let dir_ino = 0x410 + i as u64;
            Ok(PseudoDir::new_ref(
                common(dir_ino, 0o555),
                PROC_SUPER_MAGIC,
                0x402,
                Box::new(move || vec![(b"tag".to_vec(), dir_ino + 0x100, DT_REG)]),
                Box::new(move |name: &[u8]| {
                    if name != b"tag" {
                        return Err(Errno::ENOENT);
                    }
                    let (r, w) = (iface.clone(), iface.clone());
                    Ok(rw_file(
                        common(dir_ino + 0x100, 0o644),
                        move || text(format!("{}\n", crate::ns::current().net.conf_tag(&r))),
                        move |data| {
                            let v: i32 = core::str::from_utf8(data)
                                .ok()
                                .and_then(|s| s.trim().parse().ok())
                                .ok_or(Errno::EINVAL)?;
                            crate::ns::current().net.set_conf_tag(&w, v);
                            Ok(())
                        },
                    ))
                }),
            ))
        }),
    )
}

/// /proc/PID/ns: a magic link per namespace the process is in, reading as
/// `uts:[4026531838]` and leading to the namespace's file (for setns(2)).
fn ns_dir(p: &Arc<Process>, ino: u64, parent: u64) -> InodeRef {
    let serial = p.serial;
    let base = pid_ino(serial, NS_ENTRY);
    let list = move || {
        kestrel_ns::NS_ENTRIES
            .iter()
            .enumerate()
            .map(|(i, (n, _, _))| (n.as_bytes().to_vec(), base + i as u64, DT_LNK))
            .collect()
    };
    let weak = Arc::downgrade(p);
    let powner = p.clone();
    let lookup = move |name: &[u8]| -> KResult<InodeRef> {
        let p = weak.upgrade().ok_or(Errno::ENOENT)?;
        let i = kestrel_ns::NS_ENTRIES
            .iter()
            .position(|(n, _, _)| n.as_bytes() == name)
            .ok_or(Errno::ENOENT)?;
        let (_, kind, children) = kestrel_ns::NS_ENTRIES[i];
        let w = Arc::downgrade(&p);
        let w2 = w.clone();
        // Linux's `pid` is the namespace the process is in; Kestrel's proxy
        // holds the one for its children.
        // A new PID namespace has no file until its first process (ENOENT).
        let pick = move |p: &Arc<Process>| -> KResult<crate::ns::NsRef> {
            if kind == kestrel_ns::Kind::Pid && !children {
                return Ok(crate::ns::NsRef::Pid(p.pid_ns.clone()));
            }
            let ns = p.nsproxy().get(kind, children);
            match &ns {
                crate::ns::NsRef::Pid(pid) if !pid.has_init() => Err(Errno::ENOENT),
                _ => Ok(ns),
            }
        };
        Ok(PseudoLink::new_ref(
            owned_by(&powner, base + i as u64, 0o777),
            PROC_SUPER_MAGIC,
            Box::new(move || {
                let p = w.upgrade().ok_or(Errno::ENOENT)?;
                let ns = pick(&p)?;
                Ok(kestrel_ns::link_text(ns.kind(), ns.inum()))
            }),
            Some(Box::new(move || {
                let p = w2.upgrade().ok_or(Errno::ENOENT)?;
                Ok(kestrel_vfs::Dentry::root(crate::ns::NsInode::new_ref(
                    pick(&p)?,
                )))
            })),
        ))
    };
    PseudoDir::new_ref(
        owned_by(p, ino, 0o511),
        PROC_SUPER_MAGIC,
        parent,
        Box::new(list),
        Box::new(lookup),
    )
}

/// /proc/PID/task: one directory per thread.
fn task_dir(p: &Arc<Process>, ino: u64) -> InodeRef {
    let serial = p.serial;
    let weak = Arc::downgrade(p);
    let w2 = weak.clone();
    let list = move || {
        let Some(p) = weak.upgrade() else {
            return Vec::new();
        };
        let mut tids: Vec<u32> = p.threads.lock().iter().map(|t| t.tid()).collect();
        tids.sort_unstable();
        tids.into_iter()
            .map(|t| (format!("{t}").into_bytes(), task_ino(serial, t, 0), DT_DIR))
            .collect()
    };
    let lookup = move |name: &[u8]| -> KResult<InodeRef> {
        let p = w2.upgrade().ok_or(Errno::ENOENT)?;
        let tid = parse_id(name).ok_or(Errno::ENOENT)?;
        let t = p
            .threads
            .lock()
            .iter()
            .find(|t| t.tid() == tid)
            .cloned()
            .ok_or(Errno::ENOENT)?;
        Ok(pid_dir(&p, Some(&t)))
    };
    PseudoDir::new_ref(
        owned_by(p, ino, 0o555),
        PROC_SUPER_MAGIC,
        pid_ino(p.serial, 0),
        Box::new(list),
        Box::new(lookup),
    )
}
