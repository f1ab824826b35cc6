//! A trace of the kernel's tasks: what `cargo xtask trace` turns into a
//! Perfetto timeline.
//!
//! With `kestrel.trace=on` (or a list of event groups: `tasks`, `syscalls`,
//! `futex`, `irq`, `faults`, `idle`), each CPU records events into a ring of its
//! own: tasks spawned, polled and woken (and by whom: the task running on the
//! waking CPU, an interrupt handler, or the executor's timers), system calls
//! entered and left, futex waits and wakes, interrupts, page faults, idle
//! periods. A slot is claimed with one atomic add, so interrupt handlers record
//! too; a full ring drops events and counts them, it never blocks. When init
//! exits, the rings are written to the console between `KTRACE BEGIN` and
//! `KTRACE END`, one event per line, for xtask to read.
//!
//! Off (the default), every hook is one relaxed load and a branch.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use kestrel_executor::{Event, Tracer};

use crate::arch::percpu;
use crate::task::MAX_CPUS;

/// Events each CPU keeps (about 3 MiB per CPU).
const RING: usize = 1 << 17;

/// Event kinds, as they appear in the dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    Spawn = 1,
    PollStart = 2,
    PollEnd = 3,
    Wake = 4,
    Idle = 5,
    Busy = 6,
    SyscallEnter = 7,
    SyscallExit = 8,
    FutexWait = 9,
    FutexWake = 10,
    Irq = 11,
    PageFault = 12,
    Thread = 13,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Spawn => "spawn",
            Kind::PollStart => "poll",
            Kind::PollEnd => "pollend",
            Kind::Wake => "wake",
            Kind::Idle => "idle",
            Kind::Busy => "busy",
            Kind::SyscallEnter => "sys",
            Kind::SyscallExit => "sysret",
            Kind::FutexWait => "futexwait",
            Kind::FutexWake => "futexwake",
            Kind::Irq => "irq",
            Kind::PageFault => "fault",
            Kind::Thread => "thread",
        }
    }

    fn from_u32(k: u32) -> Option<Self> {
        [
            Kind::Spawn,
            Kind::PollStart,
            Kind::PollEnd,
            Kind::Wake,
            Kind::Idle,
            Kind::Busy,
            Kind::SyscallEnter,
            Kind::SyscallExit,
            Kind::FutexWait,
            Kind::FutexWake,
            Kind::Irq,
            Kind::PageFault,
            Kind::Thread,
        ]
        .into_iter()
        .find(|x| *x as u32 == k)
    }

    /// The `kestrel.trace=` group that turns this kind on.
    fn group(self) -> u32 {
        match self {
            Kind::Spawn | Kind::PollStart | Kind::PollEnd | Kind::Wake | Kind::Thread => TASKS,
            Kind::Idle | Kind::Busy => IDLE,
            Kind::SyscallEnter | Kind::SyscallExit => SYSCALLS,
            Kind::FutexWait | Kind::FutexWake => FUTEX,
            Kind::Irq => IRQ,
            Kind::PageFault => FAULTS,
        }
    }
}

const TASKS: u32 = 1;
const SYSCALLS: u32 = 2;
const FUTEX: u32 = 4;
const IRQ: u32 = 8;
const FAULTS: u32 = 16;
const IDLE: u32 = 32;
const ALL: u32 = 63;

/// A wake's waker when an interrupt handler woke the task (a waker of 0 is the
/// executor itself: its timer queue, or a task finishing).
pub const BY_IRQ: u64 = u64::MAX;

#[derive(Default)]
struct Slot {
    ts: AtomicU64,
    kind: AtomicU32,
    a: AtomicU64,
    b: AtomicU64,
}

struct Ring {
    slots: Box<[Slot]>,
    head: AtomicUsize,
    dropped: AtomicU64,
}

/// Which groups are on (0: tracing off).
static GROUPS: AtomicU32 = AtomicU32::new(0);
static RINGS: spin::Once<Vec<Ring>> = spin::Once::new();
/// The task each CPU is polling (0: none), for naming wakers.
static CURRENT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per CPU: inside an interrupt handler.
static IN_IRQ: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Task names, by the index a Spawn event records.
static NAMES: spin::Mutex<Vec<&'static str>> = spin::Mutex::new(Vec::new());
/// Every command name a process had while tracing (exec and PR_SET_NAME), so
/// processes that are gone by the dump still have names.
static COMMS: spin::Mutex<Vec<(u32, u32, Vec<u8>)>> = spin::Mutex::new(Vec::new());

/// Notes that thread `tid` of process `pid` is now called `comm` (task context).
pub fn note_comm(pid: u32, tid: u32, comm: &[u8]) {
    if GROUPS.load(Ordering::Relaxed) != 0 || crate::profile::period_ns() != 0 {
        let mut c = COMMS.lock();
        if c.len() < 65_536 {
            c.push((pid, tid, comm.to_vec()));
        }
    }
}

fn cpu() -> usize {
    percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize % MAX_CPUS
}

/// Whether events of `kind` are recorded.
#[inline]
pub fn on(kind: Kind) -> bool {
    GROUPS.load(Ordering::Relaxed) & kind.group() != 0
}

/// Records an event on this CPU (if its group is on).
#[inline]
pub fn record(kind: Kind, a: u64, b: u64) {
    if on(kind) {
        record_on(cpu(), kind, a, b);
    }
}

fn record_on(cpu: usize, kind: Kind, a: u64, b: u64) {
    let Some(ring) = RINGS.get().and_then(|r| r.get(cpu)) else {
        return;
    };
    let i = ring.head.fetch_add(1, Ordering::Relaxed);
    let Some(slot) = ring.slots.get(i) else {
        ring.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    slot.ts.store(crate::time::now_ns(), Ordering::Relaxed);
    slot.a.store(a, Ordering::Relaxed);
    slot.b.store(b, Ordering::Relaxed);
    slot.kind.store(kind as u32, Ordering::Release);
}

/// Interrupt handler entry and exit (so wakes in between are the interrupt's).
pub fn irq_enter(vector: u8) {
    if GROUPS.load(Ordering::Relaxed) != 0 {
        IN_IRQ[cpu()].store(true, Ordering::Relaxed);
        record(Kind::Irq, u64::from(vector), 0);
    }
}

pub fn irq_exit() {
    if GROUPS.load(Ordering::Relaxed) != 0 {
        IN_IRQ[cpu()].store(false, Ordering::Relaxed);
    }
}

/// The executor's side: polls, wakes, spawns, idle periods.
struct ExecutorTracer;

impl Tracer for ExecutorTracer {
    fn record(&self, at: Option<usize>, e: Event) {
        let here = cpu();
        let cpu = at.unwrap_or(here) % MAX_CPUS;
        match e {
            Event::Spawn { task, name } => {
                if on(Kind::Spawn) {
                    let idx = name_index(name);
                    record_on(cpu, Kind::Spawn, task, idx);
                }
            }
            Event::PollStart { task } => {
                CURRENT[cpu].store(task, Ordering::Relaxed);
                if on(Kind::PollStart) {
                    record_on(cpu, Kind::PollStart, task, 0);
                }
            }
            Event::PollEnd { task, done } => {
                CURRENT[cpu].store(0, Ordering::Relaxed);
                if on(Kind::PollEnd) {
                    record_on(cpu, Kind::PollEnd, task, u64::from(done));
                }
            }
            Event::Wake { task } => {
                if on(Kind::Wake) {
                    let by = if IN_IRQ[here].load(Ordering::Relaxed) {
                        BY_IRQ
                    } else {
                        CURRENT[here].load(Ordering::Relaxed)
                    };
                    record_on(here, Kind::Wake, task, by);
                }
            }
            Event::Idle => {
                if on(Kind::Idle) {
                    record_on(cpu, Kind::Idle, 0, 0);
                }
            }
            Event::Busy => {
                if on(Kind::Busy) {
                    record_on(cpu, Kind::Busy, 0, 0);
                }
            }
        }
    }
}

/// The index of a task name (spawns happen in task context: taking a lock is
/// fine here, never in an interrupt handler).
fn name_index(name: &'static str) -> u64 {
    let mut names = NAMES.lock();
    let i = names
        .iter()
        .position(|n| core::ptr::eq(*n, name) || *n == name)
        .unwrap_or_else(|| {
            names.push(name);
            names.len() - 1
        });
    i as u64
}

/// Parses `kestrel.trace=`: `on` / `all`, or groups joined by commas.
pub fn parse_groups(v: &str) -> Option<u32> {
    let mut g = 0;
    for w in v.split(',') {
        g |= match w {
            "on" | "all" | "1" => ALL,
            "off" | "0" => 0,
            "tasks" => TASKS,
            "syscalls" => SYSCALLS,
            "futex" => FUTEX,
            "irq" => IRQ,
            "faults" => FAULTS,
            "idle" => IDLE,
            _ => return None,
        };
    }
    Some(g)
}

/// Turns tracing on for `groups` on `cpus` CPUs (at boot, once the executors exist).
pub fn start(groups: u32, cpus: usize) {
    if groups == 0 {
        return;
    }
    RINGS.call_once(|| {
        (0..cpus.clamp(1, MAX_CPUS))
            .map(|_| Ring {
                slots: (0..RING).map(|_| Slot::default()).collect(),
                head: AtomicUsize::new(0),
                dropped: AtomicU64::new(0),
            })
            .collect()
    });
    crate::task::scheduler().set_tracer(Arc::new(ExecutorTracer));
    crate::task::scheduler().set_tracing(true);
    GROUPS.store(groups, Ordering::Release);
    log::info!("trace: on ({RING} events per CPU)");
}

/// Every command name noted: (pid, tid, name).
pub fn comms() -> Vec<(u32, u32, Vec<u8>)> {
    COMMS.lock().clone()
}

/// Stops recording and writes every CPU's events to the console.
pub fn dump() {
    if GROUPS.swap(0, Ordering::AcqRel) == 0 {
        return;
    }
    crate::task::scheduler().set_tracing(false);
    let Some(rings) = RINGS.get() else { return };
    crate::println!("KTRACE BEGIN {} cpus", rings.len());
    for (i, name) in NAMES.lock().iter().enumerate() {
        crate::println!("KTRACE name {i} {name}");
    }
    for (pid, tid, comm) in COMMS.lock().iter() {
        let comm = alloc::string::String::from_utf8_lossy(comm);
        crate::println!("KTRACE comm {pid} {tid} {comm}");
    }
    for (cpu, ring) in rings.iter().enumerate() {
        let n = ring.head.load(Ordering::Acquire).min(RING);
        for slot in &ring.slots[..n] {
            let Some(kind) = Kind::from_u32(slot.kind.load(Ordering::Acquire)) else {
                continue; // claimed but not written yet
            };
            crate::println!(
                "KTRACE e {cpu} {} {} {} {}",
                slot.ts.load(Ordering::Relaxed),
                kind.name(),
                slot.a.load(Ordering::Relaxed),
                slot.b.load(Ordering::Relaxed)
            );
        }
        crate::println!(
            "KTRACE dropped {cpu} {}",
            ring.dropped.load(Ordering::Relaxed)
        );
    }
    crate::println!("KTRACE END");
}

crate::ktest!(trace_groups_parse_like_the_command_line, async {
    crate::kcheck!(parse_groups("on") == Some(ALL), "on");
    crate::kcheck!(
        parse_groups("tasks,futex") == Some(TASKS | FUTEX),
        "tasks,futex"
    );
    crate::kcheck!(parse_groups("tasks,bogus").is_none(), "bogus group");
    Ok(())
});
