//! perf events: the software counters of perf_event_open(2), as Linux keeps them
//! on a machine with no hardware PMU (QEMU's TCG has none).
//!
//! An [`Event`] counts one thing for one thread (`pid` given, `cpu` -1 or a
//! CPU) or for one CPU (`pid` -1): CPU time (cpu-clock, task-clock), page
//! faults (all, minor, major), context switches and CPU migrations; the other
//! software configs (alignment and emulation faults, dummy, bpf-output,
//! cgroup-switches) are events that never count on x86-64 here.
//!
//! Where counting happens:
//!
//! - Time is read, not counted: a thread's event takes the thread's CPU clock
//!   ([`crate::process::CpuClock`], which the scheduler keeps anyway) when it
//!   starts counting and again when read or stopped; a CPU's event takes the
//!   monotonic clock. Nothing runs per tick.
//! - A thread's event on one CPU opens and closes its windows as the thread
//!   comes onto that CPU and leaves it (the same poll wrapper).
//! - Faults, switches and migrations are counted where they happen (the
//!   thread loop's page-fault arm, the user-copy fault path, the poll wrapper
//!   that runs a thread's task). Each of those sites first reads one flag,
//!   `Process::perf.active` (any thread of the process has events), and the
//!   global count of CPU-wide events: a process without events pays two
//!   relaxed loads and a branch. `Thread` has no room left (it must stay
//!   within 496 bytes, docs/hot-paths.md), so the events of a thread live in
//!   its process's table ([`ProcessPerf`]), by thread id.
//!
//! A sampling event writes a record into its [`Ring`] each period: fault,
//! switch and migration events at the same counting sites; a thread's
//! clock events at a timer interrupt in user mode, which the thread loop
//! arms for the next one due ([`sample_budget`], [`clock_tick`]).
//!
//! Each event has the Linux states that matter for counting: enabled or not,
//! counting (enabled, and its group leader enabled), exited (its thread is
//! gone). `time_enabled` and `time_running` advance while it counts (a
//! software event never waits for a counter, so the two are equal), with
//! the thread's CPU time (a thread's events live in the thread's context,
//! whose time only runs while the thread does: 34 us enabled over a 100 ms
//! sleep on Linux) or with the monotonic clock (a CPU's). Events made
//! with `inherit` are copied into the threads and processes a thread creates
//! afterwards; a copy's count joins its parent's when its thread exits, and a
//! read of the parent adds the live copies, as Linux's child events.
//!
//! Control paths (open, ioctl, exec, clone, exit, close) serialize on one
//! lock ([`CONTROL`]); the counting sites take only the per-thread list and
//! the event's own state lock. No perf lock is held across a user-memory copy
//! (a fault there counts, and would take them again).

use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use kestrel_abi::fs::{POLLHUP, POLLIN, POLLRDNORM};
use kestrel_abi::perf::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_usermem::UserReader;

use crate::mm::vm::{Backing, SharedPages};
use kestrel_vfs::{FileOps, OpenFile, UserPtr, UserSpace};

use crate::process::{Pid, Process, Thread};

/// kernel.perf_event_paranoid (Linux's default: 2).
pub static PARANOID: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(2);
/// kernel.perf_event_max_sample_rate (Linux's default).
pub const MAX_SAMPLE_RATE: u64 = 100_000;

/// Serializes every change of events, groups and their threads.
static CONTROL: spin::Mutex<()> = spin::Mutex::new(());
/// Events whose files were closed, to be taken apart under [`CONTROL`]. A
/// file may be dropped anywhere, even under `CONTROL` itself (the last
/// reference to a thread dropped there can take its process and its
/// descriptors with it), so closing only queues the event.
static DEFERRED: spin::Mutex<Vec<Arc<Event>>> = spin::Mutex::new(Vec::new());

/// [`CONTROL`] held; releases the closed events on the way out.
struct Control(#[allow(dead_code)] spin::MutexGuard<'static, ()>);

fn control_lock() -> Control {
    Control(CONTROL.lock())
}

impl Drop for Control {
    fn drop(&mut self) {
        release_deferred();
    }
}

/// Releases the queued events (with [`CONTROL`] held).
fn release_deferred() {
    loop {
        let batch = core::mem::take(&mut *DEFERRED.lock());
        if batch.is_empty() {
            break;
        }
        for e in &batch {
            release(e);
        }
    }
}
/// Events on a CPU (pid -1), and how many there are (read by the counting sites).
static CPU_EVENTS: spin::Mutex<Vec<Arc<Event>>> = spin::Mutex::new(Vec::new());
static CPU_WIDE: AtomicUsize = AtomicUsize::new(0);
/// How many processes have threads with events (for the counting site that
/// has no thread at hand: a system call's fault on user memory).
static ACTIVE_PROCESSES: AtomicUsize = AtomicUsize::new(0);
/// Event ids (Linux's perf_event_id: the first is 1).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What an event counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// cpu-clock and task-clock: nanoseconds of running.
    Clock,
    Faults,
    FaultsMin,
    FaultsMaj,
    Switches,
    Migrations,
    /// A software event nothing on x86-64 counts.
    Never,
}

impl Kind {
    /// The kind of a PERF_TYPE_SOFTWARE config (below PERF_COUNT_SW_MAX).
    pub fn of(config: u64) -> Kind {
        match config {
            PERF_COUNT_SW_CPU_CLOCK | PERF_COUNT_SW_TASK_CLOCK => Kind::Clock,
            PERF_COUNT_SW_PAGE_FAULTS => Kind::Faults,
            PERF_COUNT_SW_PAGE_FAULTS_MIN => Kind::FaultsMin,
            PERF_COUNT_SW_PAGE_FAULTS_MAJ => Kind::FaultsMaj,
            PERF_COUNT_SW_CONTEXT_SWITCHES => Kind::Switches,
            PERF_COUNT_SW_CPU_MIGRATIONS => Kind::Migrations,
            _ => Kind::Never,
        }
    }
}

/// Where an occurrence happened, for a sample: user or kernel mode, the
/// instruction (0 when not known: a switch or migration, which happen in the
/// kernel) and the data address (a fault's).
#[derive(Clone, Copy, Debug, Default)]
pub struct Site {
    pub user: bool,
    pub ip: u64,
    pub addr: u64,
}

/// Whose events: a thread's or a CPU's.
pub enum Target {
    Thread { thread: Weak<Thread>, tid: Pid },
    Cpu,
}

#[derive(Default)]
struct State {
    enabled: bool,
    /// Enabled, its leader enabled, its thread alive: counts now.
    counting: bool,
    exited: bool,
    enable_on_exec: bool,
    /// The count (nanoseconds for a clock).
    count: u64,
    enabled_acc: u64,
    running_acc: u64,
    /// Where the open time windows began, on the event's clock.
    enabled_since: Option<u64>,
    running_since: Option<u64>,
    /// A sampling event's period (0: a counting event), what is left of it
    /// before the next sample, and how many samples PERF_EVENT_IOC_REFRESH
    /// allows before the event disables itself (0: no limit).
    period: u64,
    period_left: u64,
    limit: u64,
    /// A sampling clock's count (ns) at which its next sample is due.
    next_sample: u64,
    /// Whether its group leader was on at the last resync.
    group_on: bool,
    /// For a thread's event on one CPU: the thread is running there.
    on_cpu: bool,
    /// What exited inherited copies left (Linux's child_count, child_total_*).
    child_count: u64,
    child_enabled: u64,
    child_running: u64,
}

/// One perf event (Linux's `struct perf_event`).
pub struct Event {
    /// The id PERF_EVENT_IOC_ID and PERF_FORMAT_ID give (a copy's is its parent's).
    pub id: u64,
    /// Its own id (a copy's differs from its parent's): a sample's STREAM_ID.
    own_id: u64,
    pub attr: Attr,
    pub kind: Kind,
    pub cpu: i32,
    pub target: Target,
    /// attr.clockid when use_clockid is set, else -1 (groups share one clock).
    pub clock_id: i32,
    /// For an inherited copy: the event it was copied from (the first one).
    parent: Option<Weak<Event>>,
    /// Live inherited copies of this event.
    children: spin::Mutex<Vec<Arc<Event>>>,
    /// The group leader (None: this event leads its group).
    leader: spin::Mutex<Option<Arc<Event>>>,
    siblings: spin::Mutex<Vec<Weak<Event>>>,
    /// The thread that opened it (PR_TASK_PERF_EVENTS_*), and its process.
    owner: spin::Mutex<Option<(Weak<Process>, Pid)>>,
    state: spin::Mutex<State>,
    /// The ring buffer mmap made (samples of its copies go there too).
    ring: spin::Mutex<Option<Arc<Ring>>>,
    /// Samples that found no room (PERF_FORMAT_LOST).
    lost: AtomicU64,
    /// Pollers of the ring.
    wq: WaitQueue,
}

/// The events counting one thread.
#[derive(Default)]
struct ThreadPerf {
    events: spin::Mutex<Vec<Arc<Event>>>,
    /// The CPU the thread last ran on (u32::MAX: not yet).
    last_cpu: AtomicU32,
}

/// A process's perf state: its threads' events, and the events its threads own.
#[derive(Default)]
pub struct ProcessPerf {
    /// Some thread of the process has events (the counting sites' one check).
    active: AtomicBool,
    /// Some thread of the process owns events.
    owners: AtomicBool,
    threads: spin::Mutex<Vec<(Pid, Arc<ThreadPerf>)>>,
    owned: spin::Mutex<Vec<(Pid, Weak<Event>)>>,
}

impl ProcessPerf {
    /// Whether some thread of the process has events (the system call fast
    /// path leaves such a process to the thread loop).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    fn get(&self, tid: Pid) -> Option<Arc<ThreadPerf>> {
        self.threads
            .lock()
            .iter()
            .find(|(t, _)| *t == tid)
            .map(|(_, tp)| tp.clone())
    }

    fn get_or_make(&self, tid: Pid) -> Arc<ThreadPerf> {
        let mut threads = self.threads.lock();
        if let Some((_, tp)) = threads.iter().find(|(t, _)| *t == tid) {
            return tp.clone();
        }
        let tp = Arc::new(ThreadPerf {
            events: spin::Mutex::new(Vec::new()),
            last_cpu: AtomicU32::new(u32::MAX),
        });
        threads.push((tid, tp.clone()));
        self.set_active(true);
        tp
    }

    /// Takes `e` off thread `tid`'s list (and the thread off the table once
    /// its list is empty).
    fn remove(&self, tid: Pid, e: &Arc<Event>) {
        let mut threads = self.threads.lock();
        if let Some(i) = threads.iter().position(|(t, _)| *t == tid) {
            let empty = {
                let mut ev = threads[i].1.events.lock();
                ev.retain(|x| !Arc::ptr_eq(x, e));
                ev.is_empty()
            };
            if empty {
                threads.swap_remove(i);
            }
        }
        if threads.is_empty() {
            self.set_active(false);
        }
    }

    fn set_active(&self, on: bool) {
        if self.active.swap(on, Ordering::AcqRel) != on {
            if on {
                ACTIVE_PROCESSES.fetch_add(1, Ordering::Relaxed);
            } else {
                ACTIVE_PROCESSES.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Event {
    fn new(
        attr: Attr,
        cpu: i32,
        target: Target,
        id: u64,
        parent: Option<Weak<Event>>,
        leader: Option<Arc<Event>>,
    ) -> Arc<Event> {
        let kind = if attr.type_ == PERF_TYPE_SOFTWARE {
            Kind::of(attr.config)
        } else {
            Kind::Never
        };
        Arc::new(Event {
            id,
            own_id: if parent.is_some() {
                NEXT_ID.fetch_add(1, Ordering::Relaxed)
            } else {
                id
            },
            attr,
            kind,
            cpu,
            target,
            clock_id: if attr.has(flag::USE_CLOCKID) {
                attr.clockid
            } else {
                -1
            },
            parent,
            children: spin::Mutex::new(Vec::new()),
            leader: spin::Mutex::new(leader),
            siblings: spin::Mutex::new(Vec::new()),
            owner: spin::Mutex::new(None),
            state: spin::Mutex::new(State {
                period: sample_period(&attr),
                period_left: sample_period(&attr),
                next_sample: sample_period(&attr),
                ..State::default()
            }),
            ring: spin::Mutex::new(None),
            lost: AtomicU64::new(0),
            wq: WaitQueue::new(),
        })
    }

    /// The event's clock now: its thread's CPU time, or monotonic time for a
    /// CPU's event (None once the thread is gone).
    fn now(&self) -> Option<u64> {
        match &self.target {
            Target::Cpu => Some(crate::time::now_ns()),
            Target::Thread { thread, .. } => thread.upgrade().map(|t| {
                let (u, s) = t.cpu.split();
                u + s
            }),
        }
    }

    /// Closes the open windows up to `now` and opens them again there.
    fn advance(&self, st: &mut State, now: u64) {
        if let Some(s) = st.enabled_since {
            st.enabled_acc += now.saturating_sub(s);
            st.enabled_since = Some(s.max(now));
        }
        if let Some(s) = st.running_since {
            let d = now.saturating_sub(s);
            st.running_acc += d;
            if self.kind == Kind::Clock {
                st.count += d;
            }
            st.running_since = Some(s.max(now));
        }
    }

    /// Sets the windows and `counting` from the state (after `advance`).
    fn settle(&self, st: &mut State, now: Option<u64>, leader_enabled: bool) {
        st.group_on = leader_enabled;
        let Some(now) = now else {
            st.enabled_since = None;
            st.running_since = None;
            st.counting = false;
            return;
        };
        // A software event in a thread's context is enabled whenever it
        // and its group are on (its context's time only runs while the
        // thread does): the group is off, and as Linux shows even its
        // enabled time stands still, while the leader is. It runs when
        // it is also on its CPU, if it names one.
        let en = st.enabled && !st.exited && leader_enabled;
        let run = en && (self.cpu < 0 || matches!(self.target, Target::Cpu) || st.on_cpu);
        st.enabled_since = if en {
            Some(st.enabled_since.unwrap_or(now))
        } else {
            None
        };
        st.running_since = if run {
            Some(st.running_since.unwrap_or(now))
        } else {
            None
        };
        st.counting = run;
    }

    /// A thread's event on one CPU: the thread came onto a CPU (`Some`) or
    /// left it (`None`), with its CPU clock at `now`.
    fn on_cpu(&self, cpu: Option<i32>, now: u64) {
        let mut st = self.state.lock();
        self.advance(&mut st, now);
        st.on_cpu = cpu == Some(self.cpu);
        let group_on = st.group_on;
        self.settle(&mut st, Some(now), group_on);
    }

    fn leader(&self) -> Option<Arc<Event>> {
        self.leader.lock().clone()
    }

    /// The group's leader (this event if it leads).
    fn group_leader(self: &Arc<Self>) -> Arc<Event> {
        self.leader().unwrap_or_else(|| self.clone())
    }

    /// The leader and its live siblings, in the order they joined.
    fn group(self: &Arc<Self>) -> Vec<Arc<Event>> {
        let l = self.group_leader();
        let mut v = vec![l.clone()];
        v.extend(l.siblings.lock().iter().filter_map(Weak::upgrade));
        v
    }

    /// Recomputes whether this event counts (under [`CONTROL`]).
    fn resync(&self) {
        let leader_enabled = match self.leader() {
            None => true,
            Some(l) => {
                let st = l.state.lock();
                st.enabled && !st.exited
            }
        };
        let now = self.now();
        let mut st = self.state.lock();
        if let Some(n) = now {
            self.advance(&mut st, n);
        }
        self.settle(&mut st, now, leader_enabled);
    }

    /// This event's own (count, enabled, running), exited copies included.
    fn own_values(&self) -> (u64, u64, u64) {
        let now = self.now();
        let mut st = self.state.lock();
        if let Some(n) = now {
            self.advance(&mut st, n);
        }
        (
            st.count + st.child_count,
            st.enabled_acc + st.child_enabled,
            st.running_acc + st.child_running,
        )
    }

    /// What a read reports: this event's values plus its live copies'.
    pub fn values(&self) -> Values {
        let (mut count, mut enabled, mut running) = self.own_values();
        let children = self.children.lock().clone();
        for c in children {
            let (a, b, d) = c.own_values();
            count += a;
            enabled += b;
            running += d;
        }
        Values {
            count,
            enabled,
            running,
            id: self.id,
            lost: self.lost.load(Ordering::Relaxed),
        }
    }

    fn exited(&self) -> bool {
        self.state.lock().exited
    }

    /// Whether an occurrence in user (`user`) or kernel mode counts here.
    fn excluded(&self, user: bool) -> bool {
        if user {
            self.attr.has(flag::EXCLUDE_USER)
        } else {
            self.attr.has(flag::EXCLUDE_KERNEL)
        }
    }

    /// Counts `n` occurrences if they are this event's; returns the period
    /// when a sampling event's period ran out (a sample is due).
    fn add(&self, kind: Kind, user: bool, cpu: i32, n: u64) -> Option<u64> {
        if self.kind != kind || (self.cpu >= 0 && self.cpu != cpu) || self.excluded(user) {
            return None;
        }
        let mut st = self.state.lock();
        if !st.counting {
            return None;
        }
        st.count += n;
        if st.period == 0 {
            return None;
        }
        if st.period_left > n {
            st.period_left -= n;
            return None;
        }
        st.period_left = st.period;
        let period = st.period;
        drop(st);
        // PERF_EVENT_IOC_REFRESH's allowance: the last sample disables the
        // event (Linux's perf_event_disable_inatomic).
        self.spend_limit();
        Some(period)
    }

    /// One more sample against PERF_EVENT_IOC_REFRESH's allowance (with
    /// the state lock released): the last one disables the event.
    fn spend_limit(&self) {
        let mut st = self.state.lock();
        if st.limit == 0 {
            return;
        }
        st.limit -= 1;
        if st.limit == 0 {
            drop(st);
            let now = self.now();
            let mut st = self.state.lock();
            if let Some(t) = now {
                self.advance(&mut st, t);
            }
            st.enabled = false;
            let group_on = st.group_on;
            self.settle(&mut st, now, group_on);
        }
    }

    /// Writes a sample into the ring (a copy's into its parent's); none
    /// without a ring, as Linux.
    fn sample(&self, thread: &Thread, site: Site, cpu: i32, period: u64) {
        let top = self.parent.as_ref().and_then(Weak::upgrade);
        let sink: &Event = top.as_deref().unwrap_or(self);
        let Some(ring) = sink.ring.lock().clone() else {
            return;
        };
        let time = match self.clock_id {
            kestrel_abi::time::CLOCK_REALTIME | kestrel_abi::time::CLOCK_TAI => {
                crate::time::realtime_ns()
            }
            _ => crate::time::now_ns(),
        };
        let s = Sample {
            user: site.user,
            ip: site.ip,
            pid: thread.process.pid,
            tid: thread.tid(),
            time,
            addr: site.addr,
            id: self.id,
            stream_id: self.own_id,
            cpu: cpu as u32,
            period,
        };
        let mut rec = [0u8; 88];
        let n = encode_sample(self.attr.sample_type, &s, &mut rec);
        if !ring.write(sink, &rec[..n]) {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ---- counting sites ----------------------------------------------------------------

/// Counts `n` occurrences of `kind` in `thread`, at `site`: the check every
/// counting site makes first.
#[inline]
pub fn count(thread: &Thread, kind: Kind, site: Site, n: u64) {
    if thread.process.perf.active.load(Ordering::Relaxed) || CPU_WIDE.load(Ordering::Relaxed) != 0 {
        count_slow(thread, kind, site, n);
    }
}

#[inline(never)]
fn count_slow(thread: &Thread, kind: Kind, site: Site, n: u64) {
    let cpu = crate::task::this_cpu() as i32;
    if thread.process.perf.active.load(Ordering::Relaxed)
        && let Some(tp) = thread.process.perf.get(thread.tid())
    {
        for e in tp.events.lock().iter() {
            if let Some(period) = e.add(kind, site.user, cpu, n) {
                e.sample(thread, site, cpu, period);
            }
        }
    }
    if CPU_WIDE.load(Ordering::Relaxed) != 0 {
        for e in CPU_EVENTS.lock().iter() {
            if e.cpu == cpu
                && let Some(period) = e.add(kind, site.user, cpu, n)
            {
                e.sample(thread, site, cpu, period);
            }
        }
    }
}

/// A user-mode page fault at `addr` by the instruction at `ip`: `done` None
/// at the fault (PAGE_FAULTS counts every one), then Some(major) once it was
/// resolved (PAGE_FAULTS_MIN/MAJ).
#[inline]
pub fn user_fault(thread: &Thread, ip: u64, addr: u64, done: Option<bool>) {
    let kind = match done {
        None => Kind::Faults,
        Some(false) => Kind::FaultsMin,
        Some(true) => Kind::FaultsMaj,
    };
    count(
        thread,
        kind,
        Site {
            user: true,
            ip,
            addr,
        },
        1,
    );
}

/// A fault the kernel took on user memory at `addr` (a system call's copy),
/// for the thread running on this CPU: `resolved` says whether it was filled.
pub fn kernel_fault(addr: u64, resolved: bool) {
    if CPU_WIDE.load(Ordering::Relaxed) == 0 && ACTIVE_PROCESSES.load(Ordering::Relaxed) == 0 {
        return;
    }
    if let Some(t) = crate::process::current_thread() {
        let site = Site {
            user: false,
            ip: 0,
            addr,
        };
        count(&t, Kind::Faults, site, 1);
        if resolved {
            count(&t, Kind::FaultsMin, site, 1);
        }
    }
}

/// The thread's task starts a poll on this CPU: a migration if it last ran
/// on another.
#[inline]
pub fn sched_in(thread: &Thread) {
    if thread.process.perf.active.load(Ordering::Relaxed) {
        sched_in_slow(thread);
    }
}

#[inline(never)]
fn sched_in_slow(thread: &Thread) {
    if let Some(tp) = thread.process.perf.get(thread.tid()) {
        let cpu = crate::task::this_cpu() as u32;
        let last = tp.last_cpu.swap(cpu, Ordering::Relaxed);
        if last != u32::MAX && last != cpu {
            count(thread, Kind::Migrations, Site::default(), 1);
        }
        cpu_bound(thread, &tp, Some(cpu as i32));
    }
}

/// Opens or closes the windows of the thread's events that name a CPU.
fn cpu_bound(thread: &Thread, tp: &ThreadPerf, cpu: Option<i32>) {
    let events = tp.events.lock();
    if events.iter().all(|e| e.cpu < 0) {
        return;
    }
    let (u, s) = thread.cpu.split();
    for e in events.iter().filter(|e| e.cpu >= 0) {
        e.on_cpu(cpu, u + s);
    }
}

/// The thread's task stops running (it waits, or it yielded): a context switch.
#[inline]
pub fn sched_out(thread: &Thread) {
    count(thread, Kind::Switches, Site::default(), 1);
    if thread.process.perf.active.load(Ordering::Relaxed) {
        sched_out_slow(thread);
    }
}

#[inline(never)]
fn sched_out_slow(thread: &Thread) {
    if let Some(tp) = thread.process.perf.get(thread.tid()) {
        cpu_bound(thread, &tp, None);
    }
}

/// For a thread with sampling clock events: how much more CPU time until
/// the next sample is due (the thread loop arms its timer no later).
#[inline]
pub fn sample_budget(thread: &Thread) -> Option<u64> {
    if thread.process.perf.active.load(Ordering::Relaxed) {
        sample_budget_slow(thread)
    } else {
        None
    }
}

#[inline(never)]
fn sample_budget_slow(thread: &Thread) -> Option<u64> {
    let tp = thread.process.perf.get(thread.tid())?;
    let (u, s) = thread.cpu.split();
    let mut best: Option<u64> = None;
    for e in tp.events.lock().iter().filter(|e| e.kind == Kind::Clock) {
        let mut st = e.state.lock();
        if st.period == 0 || !st.counting {
            continue;
        }
        e.advance(&mut st, u + s);
        let left = st.next_sample.saturating_sub(st.count);
        best = Some(best.map_or(left, |b| b.min(left)));
    }
    best
}

/// A timer interrupt in user mode at `ip`: the sampling clock events whose
/// period has run out take a sample there (one per interrupt, as Linux's
/// hrtimer; the next is a period later, at least 10 us).
#[inline]
pub fn clock_tick(thread: &Thread, ip: u64) {
    if thread.process.perf.active.load(Ordering::Relaxed) {
        clock_tick_slow(thread, ip);
    }
}

#[inline(never)]
fn clock_tick_slow(thread: &Thread, ip: u64) {
    let Some(tp) = thread.process.perf.get(thread.tid()) else {
        return;
    };
    let (u, s) = thread.cpu.split();
    let cpu = crate::task::this_cpu() as i32;
    for e in tp.events.lock().iter().filter(|e| e.kind == Kind::Clock) {
        let period = {
            let mut st = e.state.lock();
            if st.period == 0 || !st.counting || e.attr.has(flag::EXCLUDE_USER) {
                continue;
            }
            e.advance(&mut st, u + s);
            if st.count < st.next_sample {
                continue;
            }
            st.next_sample = st.count + st.period.max(10_000);
            st.period
        };
        e.spend_limit();
        let site = Site {
            user: true,
            ip,
            addr: 0,
        };
        e.sample(thread, site, cpu, period);
    }
}

// ---- the life of a thread ----------------------------------------------------------

/// Ends `e`'s counting for good: its thread is gone (or exec removed it).
/// A copy's values join its parent's.
fn exit_event(e: &Arc<Event>) {
    let now = e.now();
    let (count, enabled, running) = {
        let mut st = e.state.lock();
        if let Some(n) = now {
            e.advance(&mut st, n);
        }
        st.exited = true;
        e.settle(&mut st, None, false);
        (st.count, st.enabled_acc, st.running_acc)
    };
    if let Some(parent) = e.parent.as_ref().and_then(Weak::upgrade) {
        parent.children.lock().retain(|c| !Arc::ptr_eq(c, e));
        let mut st = parent.state.lock();
        st.child_count += count;
        st.child_enabled += enabled;
        st.child_running += running;
    }
}

/// A thread is exiting: its events stop (a copy's count goes to its parent)
/// and the events it owns lose their owner.
pub fn thread_exit(thread: &Arc<Thread>) {
    let pp = &thread.process.perf;
    if !pp.active.load(Ordering::Acquire) && !pp.owners.load(Ordering::Acquire) {
        return;
    }
    let _g = control_lock();
    let tp = {
        let mut threads = pp.threads.lock();
        let tp = threads
            .iter()
            .position(|(t, _)| *t == thread.tid())
            .map(|i| threads.swap_remove(i).1);
        if threads.is_empty() {
            pp.set_active(false);
        }
        tp
    };
    if let Some(tp) = tp {
        let events = core::mem::take(&mut *tp.events.lock());
        for e in &events {
            exit_event(e);
        }
    }
    let mut owned = pp.owned.lock();
    owned.retain(|(t, _)| *t != thread.tid());
    if owned.is_empty() {
        pp.owners.store(false, Ordering::Release);
    }
}

/// A thread that exec'd took its process's id (it was `old`): the events
/// it has and owns are found under the new one.
pub fn retid(thread: &Thread, old: Pid) {
    let pp = &thread.process.perf;
    let new = thread.tid();
    let _g = control_lock();
    for (t, _) in pp.threads.lock().iter_mut().filter(|(t, _)| *t == old) {
        *t = new;
    }
    for (t, _) in pp.owned.lock().iter_mut().filter(|(t, _)| *t == old) {
        *t = new;
    }
}

/// execve: enable_on_exec events start; remove_on_exec ones end.
pub fn exec(thread: &Arc<Thread>) {
    let pp = &thread.process.perf;
    if !pp.active.load(Ordering::Acquire) {
        return;
    }
    let _g = control_lock();
    let Some(tp) = pp.get(thread.tid()) else {
        return;
    };
    let events = tp.events.lock().clone();
    let mut changed = Vec::new();
    for e in &events {
        if e.attr.has(flag::REMOVE_ON_EXEC) {
            pp.remove(thread.tid(), e);
            exit_event(e);
            continue;
        }
        let mut st = e.state.lock();
        if core::mem::take(&mut st.enable_on_exec) && !st.enabled {
            st.enabled = true;
            changed.push(e.clone());
        }
    }
    for e in changed {
        for m in e.group() {
            m.resync();
        }
    }
    drop(_g);
    // Side-band records for the new program, as Linux's exec: its name,
    // then its executable mappings.
    let comm = thread.comm();
    side_band(thread, |e, out| {
        if !e.attr.has(flag::COMM) {
            return false;
        }
        let misc = PERF_RECORD_MISC_USER
            | if e.attr.has(flag::COMM_EXEC) {
                PERF_RECORD_MISC_COMM_EXEC
            } else {
                0
            };
        record_start(out, PERF_RECORD_COMM, misc, thread);
        put_str(out, &comm);
        true
    });
    for a in thread.process.mm().areas() {
        mmap_record(thread, &a);
    }
}

/// A file mapping made (at exec, or by mmap): MMAP or MMAP2 records for the
/// events that ask (executable mappings; data ones too with `mmap_data`).
pub fn mmap_record(thread: &Thread, a: &crate::mm::vm::AreaInfo) {
    if !thread.process.perf.active.load(Ordering::Relaxed) {
        return;
    }
    let Some(name) = a.label.as_ref().filter(|_| a.ino != 0) else {
        return;
    };
    let exec = a.prot & kestrel_abi::mm::PROT_EXEC != 0;
    side_band(thread, |e, out| {
        let two = e.attr.has(flag::MMAP2);
        if !(two || e.attr.has(flag::MMAP)) || (!exec && !e.attr.has(flag::MMAP_DATA)) {
            return false;
        }
        let misc = PERF_RECORD_MISC_USER | if exec { 0 } else { PERF_RECORD_MISC_MMAP_DATA };
        let kind = if two {
            PERF_RECORD_MMAP2
        } else {
            PERF_RECORD_MMAP
        };
        record_start(out, kind, misc, thread);
        out.extend_from_slice(&a.start.to_ne_bytes());
        out.extend_from_slice(&(a.end - a.start).to_ne_bytes());
        out.extend_from_slice(&a.offset.to_ne_bytes());
        if two {
            let (maj, min) = ((a.dev >> 8) as u32 & 0xfff, (a.dev & 0xff) as u32);
            out.extend_from_slice(&maj.to_ne_bytes());
            out.extend_from_slice(&min.to_ne_bytes());
            out.extend_from_slice(&a.ino.to_ne_bytes());
            out.extend_from_slice(&0u64.to_ne_bytes()); // ino_generation
            out.extend_from_slice(&a.prot.to_ne_bytes());
            let flags: u32 = if a.shared { 1 } else { 2 }; // MAP_SHARED, MAP_PRIVATE
            out.extend_from_slice(&flags.to_ne_bytes());
        }
        put_str(out, name);
        true
    });
}

/// mmap(2) made a mapping at `at`: its record, if a file's.
pub fn mmap_made(thread: &Thread, mm: &crate::mm::vm::AddressSpace, at: u64) {
    if !thread.process.perf.active.load(Ordering::Relaxed) {
        return;
    }
    if let Some(a) = mm.areas().into_iter().find(|a| a.start <= at && at < a.end) {
        mmap_record(thread, &a);
    }
}

/// The header (size filled in later) and pid/tid of a side-band record.
fn record_start(out: &mut Vec<u8>, kind: u32, misc: u16, thread: &Thread) {
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&misc.to_ne_bytes());
    out.extend_from_slice(&0u16.to_ne_bytes());
    out.extend_from_slice(&thread.process.pid.to_ne_bytes());
    out.extend_from_slice(&thread.tid().to_ne_bytes());
}

/// A NUL-terminated string padded to 8 bytes.
fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let s = &s[..s.len().min(4095)];
    out.extend_from_slice(s);
    let pad = 8 - s.len() % 8;
    out.extend(core::iter::repeat_n(0u8, pad));
}

/// Writes a side-band record into the ring of each enabled event of
/// `thread` (on this CPU, if it names one) that `build` makes one for,
/// with the `sample_id_all` trailer.
fn side_band(thread: &Thread, build: impl Fn(&Event, &mut Vec<u8>) -> bool) {
    let Some(tp) = thread.process.perf.get(thread.tid()) else {
        return;
    };
    let cpu = crate::task::this_cpu() as i32;
    let events = tp.events.lock().clone();
    for e in events {
        if (e.cpu >= 0 && e.cpu != cpu) || !e.state.lock().enabled {
            continue;
        }
        let mut rec = Vec::new();
        if !build(&e, &mut rec) {
            continue;
        }
        if e.attr.has(flag::SAMPLE_ID_ALL) {
            let st = e.attr.sample_type;
            if st & PERF_SAMPLE_TID != 0 {
                rec.extend_from_slice(&thread.process.pid.to_ne_bytes());
                rec.extend_from_slice(&thread.tid().to_ne_bytes());
            }
            if st & PERF_SAMPLE_TIME != 0 {
                rec.extend_from_slice(&crate::time::now_ns().to_ne_bytes());
            }
            if st & PERF_SAMPLE_ID != 0 {
                rec.extend_from_slice(&e.id.to_ne_bytes());
            }
            if st & PERF_SAMPLE_STREAM_ID != 0 {
                rec.extend_from_slice(&e.own_id.to_ne_bytes());
            }
            if st & PERF_SAMPLE_CPU != 0 {
                rec.extend_from_slice(&(cpu as u64).to_ne_bytes());
            }
            if st & PERF_SAMPLE_IDENTIFIER != 0 {
                rec.extend_from_slice(&e.id.to_ne_bytes());
            }
        }
        let Ok(len) = u16::try_from(rec.len()) else {
            continue;
        };
        rec[6..8].copy_from_slice(&len.to_ne_bytes());
        let top = e.parent.as_ref().and_then(Weak::upgrade);
        let sink: &Event = top.as_deref().unwrap_or(&e);
        let ring = sink.ring.lock().clone();
        if let Some(ring) = ring {
            ring.write(sink, &rec);
        }
    }
}

/// clone/fork made `child` from `parent`: inherited events get copies there
/// (whole groups, as Linux's inherit_task_group).
pub fn inherit(parent: &Arc<Thread>, child: &Arc<Thread>, clone_flags: u64) {
    const CLONE_THREAD: u64 = 0x0001_0000;
    const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
    if !parent.process.perf.active.load(Ordering::Acquire) {
        return;
    }
    let _g = control_lock();
    let Some(tp) = parent.process.perf.get(parent.tid()) else {
        return;
    };
    let events = tp.events.lock().clone();
    let inheritable = |e: &Event| {
        e.attr.has(flag::INHERIT)
            && (!e.attr.has(flag::INHERIT_THREAD) || clone_flags & CLONE_THREAD != 0)
            && !(e.attr.has(flag::SIGTRAP) && clone_flags & CLONE_CLEAR_SIGHAND != 0)
            && !e.exited()
    };
    let mut copies = Vec::new();
    for lead in events.iter().filter(|e| e.leader().is_none()) {
        if !inheritable(lead) {
            continue;
        }
        let cl = copy_for(lead, child, None);
        copies.push(cl.clone());
        for s in lead.siblings.lock().iter().filter_map(Weak::upgrade) {
            let cs = copy_for(&s, child, Some(cl.clone()));
            cl.siblings.lock().push(Arc::downgrade(&cs));
            copies.push(cs);
        }
    }
    if copies.is_empty() {
        return;
    }
    let ctp = child.process.perf.get_or_make(child.tid());
    child.mark_work();
    ctp.events.lock().extend(copies.iter().cloned());
    for c in &copies {
        c.resync();
    }
}

/// A copy of `e` for `child`, listed with the event it descends from.
fn copy_for(e: &Arc<Event>, child: &Arc<Thread>, leader: Option<Arc<Event>>) -> Arc<Event> {
    let top = e
        .parent
        .as_ref()
        .and_then(Weak::upgrade)
        .unwrap_or_else(|| e.clone());
    let c = Event::new(
        e.attr,
        e.cpu,
        Target::Thread {
            thread: Arc::downgrade(child),
            tid: child.tid(),
        },
        top.id,
        Some(Arc::downgrade(&top)),
        leader,
    );
    {
        let src = e.state.lock();
        let mut st = c.state.lock();
        st.enabled = src.enabled;
        st.enable_on_exec = src.enable_on_exec;
    }
    top.children.lock().push(c.clone());
    c
}

// ---- control -------------------------------------------------------------------------

/// What PERF_EVENT_IOC_ENABLE, DISABLE and RESET do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Enable,
    Disable,
    Reset,
}

/// Applies `op` to `e` and its inherited copies, or to its whole group
/// (PERF_IOC_FLAG_GROUP), as Linux's perf_event_for_each(_child).
pub fn control(e: &Arc<Event>, op: Op, group: bool) {
    let _g = control_lock();
    control_locked(e, op, group);
}

fn control_locked(e: &Arc<Event>, op: Op, group: bool) {
    let targets = if group { e.group() } else { vec![e.clone()] };
    let mut touched = Vec::new();
    for t in targets {
        let mut all = vec![t.clone()];
        all.extend(t.children.lock().iter().cloned());
        for x in all {
            let now = x.now();
            {
                let mut st = x.state.lock();
                if let Some(n) = now {
                    x.advance(&mut st, n);
                }
                match op {
                    Op::Enable => st.enabled = true,
                    Op::Disable => st.enabled = false,
                    // The count only: the times and what exited copies left
                    // stay, as Linux's _perf_event_reset.
                    Op::Reset => {
                        st.count = 0;
                        st.next_sample = st.period;
                    }
                }
            }
            touched.push(x);
        }
    }
    if op != Op::Reset {
        // A leader's change starts or stops its whole group.
        for x in touched {
            for m in x.group() {
                m.resync();
            }
        }
    }
}

/// prctl(PR_TASK_PERF_EVENTS_DISABLE/ENABLE): every event the calling thread opened.
pub fn owner_control(thread: &Arc<Thread>, enable: bool) {
    let pp = &thread.process.perf;
    if !pp.owners.load(Ordering::Acquire) {
        return;
    }
    let _g = control_lock();
    let mine: Vec<Arc<Event>> = pp
        .owned
        .lock()
        .iter()
        .filter(|(t, _)| *t == thread.tid())
        .filter_map(|(_, e)| e.upgrade())
        .collect();
    let op = if enable { Op::Enable } else { Op::Disable };
    for e in mine {
        control_locked(&e, op, false);
    }
}

/// The checks perf_event_open makes between a new event and the group it
/// joins (EINVAL each), and the group's read size (E2BIG).
pub fn check_group(
    leader: &Arc<Event>,
    attr: &Attr,
    cpu: i32,
    target_tid: Option<Pid>,
) -> KResult<()> {
    if leader.leader().is_some() {
        return Err(Errno::EINVAL);
    }
    let clock = if attr.has(flag::USE_CLOCKID) {
        attr.clockid
    } else {
        -1
    };
    if leader.clock_id != clock || leader.cpu != cpu {
        return Err(Errno::EINVAL);
    }
    let same_context = match (&leader.target, target_tid) {
        (Target::Thread { tid, .. }, Some(t)) => *tid == t && !leader.exited(),
        (Target::Cpu, None) => true,
        _ => false,
    };
    if !same_context || attr.has(flag::EXCLUSIVE) || attr.has(flag::PINNED) {
        return Err(Errno::EINVAL);
    }
    let members = leader.group().len() + 1;
    let too_big = |rf: u64| read_size(rf, members) > MAX_READ_SIZE;
    if too_big(attr.read_format) || leader.group().iter().any(|m| too_big(m.attr.read_format)) {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

/// The checks of PERF_EVENT_IOC_SET_OUTPUT (and PERF_FLAG_FD_OUTPUT): both
/// on one CPU, or one thread, with one clock. There is no ring buffer to
/// redirect, so that is all it does.
pub fn check_output(e: &Event, out: &Event) -> KResult<()> {
    if core::ptr::eq(e, out) {
        return Err(Errno::EINVAL);
    }
    if out.cpu != e.cpu || out.clock_id != e.clock_id {
        return Err(Errno::EINVAL);
    }
    if out.cpu == -1 {
        let tid = |x: &Event| match &x.target {
            Target::Thread { tid, .. } => Some(*tid),
            Target::Cpu => None,
        };
        if tid(out) != tid(e) {
            return Err(Errno::EINVAL);
        }
    }
    if out.attr.has(flag::WRITE_BACKWARD) != e.attr.has(flag::WRITE_BACKWARD) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A new event, attached to its thread (or CPU) and group, and owned by `owner`.
pub fn open(
    attr: Attr,
    cpu: i32,
    target: Option<&Arc<Thread>>,
    leader: Option<Arc<Event>>,
    owner: &Arc<Thread>,
) -> Arc<Event> {
    let _g = control_lock();
    let t = match target {
        Some(t) => Target::Thread {
            thread: Arc::downgrade(t),
            tid: t.tid(),
        },
        None => Target::Cpu,
    };
    let e = Event::new(
        attr,
        cpu,
        t,
        NEXT_ID.fetch_add(1, Ordering::Relaxed),
        None,
        leader.clone(),
    );
    {
        let mut st = e.state.lock();
        st.enabled = !attr.has(flag::DISABLED);
        st.enable_on_exec = attr.has(flag::ENABLE_ON_EXEC);
        // The opener runs here now; another thread is placed at its next
        // time on a CPU.
        st.on_cpu =
            target.is_some_and(|t| Arc::ptr_eq(t, owner)) && cpu == crate::task::this_cpu() as i32;
    }
    if let Some(l) = &leader {
        l.siblings.lock().push(Arc::downgrade(&e));
    }
    match target {
        Some(t) => {
            let tp = t.process.perf.get_or_make(t.tid());
            // Its system calls leave the fast path (the sampling clock).
            t.mark_work();
            if tp.last_cpu.load(Ordering::Relaxed) == u32::MAX && Arc::ptr_eq(t, owner) {
                tp.last_cpu
                    .store(crate::task::this_cpu() as u32, Ordering::Relaxed);
            }
            tp.events.lock().push(e.clone());
        }
        None => {
            let mut cpu_events = CPU_EVENTS.lock();
            cpu_events.push(e.clone());
            CPU_WIDE.store(cpu_events.len(), Ordering::Release);
        }
    }
    *e.owner.lock() = Some((Arc::downgrade(&owner.process), owner.tid()));
    owner
        .process
        .perf
        .owned
        .lock()
        .push((owner.tid(), Arc::downgrade(&e)));
    owner.process.perf.owners.store(true, Ordering::Release);
    e.resync();
    e
}

/// Takes `e` off its thread's list or the CPU list.
fn detach(e: &Arc<Event>) {
    match &e.target {
        Target::Thread { thread, tid } => {
            if let Some(t) = thread.upgrade() {
                t.process.perf.remove(*tid, e);
            }
        }
        Target::Cpu => {
            let mut cpu_events = CPU_EVENTS.lock();
            cpu_events.retain(|x| !Arc::ptr_eq(x, e));
            CPU_WIDE.store(cpu_events.len(), Ordering::Release);
        }
    }
}

/// The event's file is closed: it stops, with its copies; its siblings go
/// on as groups of their own (Linux's perf_group_detach).
fn release(e: &Arc<Event>) {
    detach(e);
    let children = core::mem::take(&mut *e.children.lock());
    for c in &children {
        detach(c);
        let mut st = c.state.lock();
        st.exited = true;
        c.settle(&mut st, None, false);
        drop(st);
        // A copy that led a group in its thread: the copies of the
        // siblings there go on as groups of their own.
        if c.leader.lock().take().is_none() {
            let sibs: Vec<Arc<Event>> = core::mem::take(&mut *c.siblings.lock())
                .iter()
                .filter_map(Weak::upgrade)
                .collect();
            for s in sibs {
                *s.leader.lock() = None;
                s.resync();
            }
        }
    }
    let leader = e.leader.lock().take();
    match leader {
        Some(l) => l
            .siblings
            .lock()
            .retain(|w| w.upgrade().is_some_and(|s| !Arc::ptr_eq(&s, e))),
        None => {
            let sibs: Vec<Arc<Event>> = core::mem::take(&mut *e.siblings.lock())
                .iter()
                .filter_map(Weak::upgrade)
                .collect();
            for s in sibs {
                *s.leader.lock() = None;
                s.resync();
            }
        }
    }
    if let Some((p, tid)) = e.owner.lock().take()
        && let Some(p) = p.upgrade()
    {
        let mut owned = p.perf.owned.lock();
        owned.retain(|(t, w)| {
            *t != tid || w.upgrade().is_some_and(|x| !Arc::ptr_eq(&x, e)) && w.strong_count() > 0
        });
        if owned.is_empty() {
            p.perf.owners.store(false, Ordering::Release);
        }
    }
}

/// Reads a `struct perf_event_attr` as Linux's perf_copy_attr: the size
/// first (0 is the first version; below it or above a page, E2BIG with
/// Kestrel's size written back), the bytes past what Kestrel knows must be
/// zero (E2BIG, size written back), then [`Attr::parse`]'s checks. Also
/// says whether the branch mask asks for kernel branches (a privilege check
/// the caller makes).
pub fn copy_attr(mem: &dyn UserSpace, addr: u64) -> KResult<(Attr, bool)> {
    let size_ptr = UserPtr::<u32>::new(addr.wrapping_add(4));
    let mut size = size_ptr.read(mem)? as usize;
    if size == 0 {
        size = PERF_ATTR_SIZE_VER0;
    }
    let too_big = || {
        let _ = size_ptr.write(mem, &(ATTR_SIZE as u32));
        Err(Errno::E2BIG)
    };
    if !(PERF_ATTR_SIZE_VER0..=4096).contains(&size) {
        return too_big();
    }
    let mut b = [0u8; ATTR_SIZE];
    match UserReader::new(mem, addr, size)?.read_extensible(&mut b) {
        Ok(()) => {}
        Err(Errno::E2BIG) => return too_big(),
        Err(e) => return Err(e),
    }
    Attr::parse(&b, size as u32)
}

/// The calling thread's open file `fd` (EBADF).
fn caller_file(fd: i32) -> KResult<Arc<OpenFile>> {
    let t = crate::process::current_thread().ok_or(Errno::EBADF)?;
    let files = t.process.files();
    let table = files.lock();
    table.get(fd)
}

// ---- the ring buffer ------------------------------------------------------------------

/// The most pages one event's ring may have, whoever asks (16 MiB of data).
const MAX_RING_PAGES: u64 = 4096 + 1;
/// Linux's kernel.perf_event_mlock_kb (516 KiB) per CPU, in pages: the most
/// a user without CAP_IPC_LOCK may map (EPERM beyond, as Linux's mlock
/// accounting with no other rings).
const MLOCK_PAGES_PER_CPU: u64 = 516 / 4;

/// A sampling event's ring buffer: the first page is `struct
/// perf_event_mmap_page` (data_head, data_tail, data_offset, data_size), the
/// rest the records, as Linux lays it out.
pub struct Ring {
    pages: Arc<SharedPages>,
    /// Bytes of records (a power of two pages; 0 with the first page alone).
    size: u64,
    /// Mapped writable: the reader moves data_tail and a full ring drops
    /// records; read-only, the ring overwrites.
    writable: bool,
    st: spin::Mutex<RingState>,
}

#[derive(Default)]
struct RingState {
    head: u64,
    /// Records dropped since the last PERF_RECORD_LOST.
    lost: u64,
    /// Records since the last wakeup (wakeup_events).
    records: u64,
    /// data_head at the last wakeup: readable (POLLIN) until the reader's
    /// tail passes it.
    wake_head: u64,
    /// PERF_EVENT_IOC_PAUSE_OUTPUT.
    paused: bool,
}

impl Ring {
    fn put(&self, st: &mut RingState, rec: &[u8]) {
        let at = st.head % self.size;
        let first = (self.size - at).min(rec.len() as u64) as usize;
        self.pages.write_bytes(4096 + at, &rec[..first]);
        if first < rec.len() {
            self.pages.write_bytes(4096, &rec[first..]);
        }
        st.head += rec.len() as u64;
    }

    /// Appends a record for event `e` (the ring's owner); false when it
    /// found no room (it counts as lost, and a PERF_RECORD_LOST says so once
    /// there is room again).
    fn write(&self, e: &Event, rec: &[u8]) -> bool {
        if self.size == 0 {
            return false;
        }
        let mut st = self.st.lock();
        let free = |st: &RingState| {
            if self.writable {
                let tail = self.pages.load_u64(MMAP_DATA_TAIL);
                self.size.saturating_sub(st.head.saturating_sub(tail))
            } else {
                self.size
            }
        };
        if st.paused {
            st.lost += 1;
            return false;
        }
        if st.lost > 0 && free(&st) >= (24 + rec.len()) as u64 {
            let lost = encode_lost(e.id, st.lost);
            self.put(&mut st, &lost);
            st.lost = 0;
        }
        if free(&st) < rec.len() as u64 {
            st.lost += 1;
            return false;
        }
        self.put(&mut st, rec);
        self.pages.store_u64(MMAP_DATA_HEAD, st.head);
        // Wake the reader after wakeup_events records, or once the data
        // since the last wakeup reaches the watermark (half the ring when
        // none is given), as Linux's perf_output_end.
        let wake = if e.attr.has(flag::WATERMARK) || e.attr.wakeup_events == 0 {
            let mark = match e.attr.wakeup_events {
                0 => self.size / 2,
                w if e.attr.has(flag::WATERMARK) => u64::from(w).min(self.size),
                _ => self.size / 2,
            };
            st.head - st.wake_head >= mark.max(1)
        } else {
            st.records += 1;
            st.records >= u64::from(e.attr.wakeup_events)
        };
        if wake {
            st.records = 0;
            st.wake_head = st.head;
            drop(st);
            e.wq.wake_all();
        }
        true
    }

    /// Whether a wakeup left data the reader has not taken.
    fn readable(&self) -> bool {
        let st = self.st.lock();
        if self.writable {
            st.wake_head > self.pages.load_u64(MMAP_DATA_TAIL)
        } else {
            st.wake_head > 0
        }
    }
}

/// What mmap(2) of an event's file maps (None: not one): its ring buffer,
/// made by the first mmap, as Linux's perf_mmap: MAP_SHARED (EINVAL
/// otherwise), offset 0 (there is no AUX area: EINVAL), one page plus a
/// power of two (EINVAL), the size the ring already has (EINVAL), within
/// 516 KiB a CPU without CAP_IPC_LOCK (EPERM).
pub fn mmap_backing(
    f: &OpenFile,
    off: u64,
    len: u64,
    writable: bool,
    shared: bool,
    may_lock: bool,
) -> Option<KResult<Backing>> {
    let e = PerfFile::of(f)?;
    Some((|| {
        if !shared || off != 0 {
            return Err(Errno::EINVAL);
        }
        let pages = len.div_ceil(4096);
        let nr = pages.checked_sub(1).ok_or(Errno::EINVAL)?;
        if nr != 0 && !nr.is_power_of_two() {
            return Err(Errno::EINVAL);
        }
        let mut slot = e.ring.lock();
        if let Some(r) = &*slot {
            if r.size != nr * 4096 {
                return Err(Errno::EINVAL);
            }
            return Ok(Backing::SharedAnonymous {
                pages: r.pages.clone(),
                offset: 0,
                segment: None,
            });
        }
        let cpus = crate::arch::percpu::online() as u64;
        if pages > MLOCK_PAGES_PER_CPU * cpus && PARANOID.load(Ordering::Relaxed) > -1 && !may_lock
        {
            return Err(Errno::EPERM);
        }
        if pages > MAX_RING_PAGES {
            return Err(Errno::ENOMEM);
        }
        let sp = Arc::new(SharedPages::allocate(pages as usize).ok_or(Errno::ENOMEM)?);
        sp.store_u64(MMAP_DATA_OFFSET, 4096);
        sp.store_u64(MMAP_DATA_SIZE, nr * 4096);
        *slot = Some(Arc::new(Ring {
            pages: sp.clone(),
            size: nr * 4096,
            writable,
            st: spin::Mutex::new(RingState::default()),
        }));
        Ok(Backing::SharedAnonymous {
            pages: sp,
            offset: 0,
            segment: None,
        })
    })())
}

/// Whether Kestrel can sample `attr`'s event: a software event with sample
/// fields among [`SAMPLE_SUPPORTED`]; one that counts occurrences with a
/// fixed period, or a thread's clock (`thread`) with a period or frequency.
pub fn can_sample(attr: &Attr, thread: bool) -> bool {
    let clock = Kind::of(attr.config) == Kind::Clock;
    attr.type_ == PERF_TYPE_SOFTWARE
        && (!clock || thread)
        && (clock || !attr.has(flag::FREQ))
        && attr.sample_type & !SAMPLE_SUPPORTED == 0
}

/// A sampling event's period: `sample_period`, or for a clock given a
/// frequency, the nanoseconds between samples (Linux's
/// perf_swevent_init_hrtimer turns one into the other).
fn sample_period(attr: &Attr) -> u64 {
    if attr.has(flag::FREQ) {
        1_000_000_000u64
            .checked_div(attr.sample_period)
            .unwrap_or(0)
    } else {
        attr.sample_period
    }
}

// ---- the file --------------------------------------------------------------------------

/// An open perf event: "anon_inode:[perf_event]".
pub struct PerfFile {
    pub event: Arc<Event>,
}

impl PerfFile {
    /// The event behind an open file, if it is one.
    pub fn of(file: &OpenFile) -> Option<&Arc<Event>> {
        file.ops()
            .as_any()
            .downcast_ref::<PerfFile>()
            .map(|p| &p.event)
    }
}

impl Drop for PerfFile {
    fn drop(&mut self) {
        DEFERRED.lock().push(self.event.clone());
        // Busy: its holder releases the queue before it lets go.
        if let Some(_g) = CONTROL.try_lock() {
            release_deferred();
        }
    }
}

impl FileOps for PerfFile {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let e = &self.event;
        let rf = e.attr.read_format;
        let members = if rf & PERF_FORMAT_GROUP != 0 {
            let _g = control_lock();
            e.group()
        } else {
            vec![e.clone()]
        };
        let size = read_size(rf, members.len());
        if buf.len() < size {
            return Err(Errno::ENOSPC);
        }
        let values: Vec<Values> = members.iter().map(|m| m.values()).collect();
        Ok(encode_read(rf, &values, buf))
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        // Linux's perf_poll: with no ring buffer, hung up; with one,
        // readable after a wakeup (here until the reader's tail passes
        // it), and hung up once the thread is gone and no copy counts on.
        let e = &self.event;
        let Some(ring) = e.ring.lock().clone() else {
            return POLLHUP;
        };
        let mut r = 0;
        if ring.readable() {
            r |= POLLIN | POLLRDNORM;
        }
        if e.exited() && e.children.lock().is_empty() {
            r |= POLLHUP;
        }
        r
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.event.wq)
    }

    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        let e = &self.event;
        let group = arg & PERF_IOC_FLAG_GROUP != 0;
        match cmd {
            PERF_EVENT_IOC_ENABLE => control(e, Op::Enable, group),
            PERF_EVENT_IOC_DISABLE => control(e, Op::Disable, group),
            PERF_EVENT_IOC_RESET => control(e, Op::Reset, group),
            // Only sampling events have an overflow limit (and not
            // inherited ones): that many more samples, then it disables
            // itself.
            PERF_EVENT_IOC_REFRESH => {
                if e.attr.has(flag::INHERIT) || !e.attr.sampling() {
                    return Err(Errno::EINVAL);
                }
                {
                    let mut st = e.state.lock();
                    st.limit = st.limit.saturating_add_signed(i64::from(arg as i32));
                }
                control(e, Op::Enable, false);
            }
            PERF_EVENT_IOC_PERIOD => {
                let v: u64 = UserPtr::new(arg).read(mem)?;
                if !e.attr.sampling() || v == 0 || v & (1 << 63) != 0 {
                    return Err(Errno::EINVAL);
                }
                let mut st = e.state.lock();
                st.period = v;
                st.period_left = v;
                st.next_sample = st.count + v;
            }
            PERF_EVENT_IOC_ID => {
                UserPtr::new(arg).write(mem, &e.id)?;
            }
            PERF_EVENT_IOC_PAUSE_OUTPUT => {
                let ring = e.ring.lock().clone().ok_or(Errno::EINVAL)?;
                if ring.size == 0 {
                    return Err(Errno::EINVAL);
                }
                ring.st.lock().paused = arg != 0;
            }
            // Filters are for tracepoints and address filters; BPF programs
            // for tracing events (there are neither).
            PERF_EVENT_IOC_SET_FILTER => {
                let _: u8 = UserPtr::new(arg).read(mem)?;
                return Err(Errno::EINVAL);
            }
            PERF_EVENT_IOC_QUERY_BPF => return Err(Errno::EINVAL),
            PERF_EVENT_IOC_SET_OUTPUT => {
                let fd = arg as i32;
                if fd != -1 {
                    let out = caller_file(fd)?;
                    let out = PerfFile::of(&out).ok_or(Errno::EBADF)?;
                    check_output(e, out)?;
                }
            }
            // A BPF program's descriptor: there are no BPF programs.
            PERF_EVENT_IOC_SET_BPF => {
                caller_file(arg as i32)?;
                return Err(Errno::EINVAL);
            }
            // Linux changes only breakpoints' attributes.
            PERF_EVENT_IOC_MODIFY_ATTRIBUTES => {
                let (new, _) = copy_attr(mem, arg)?;
                if new.type_ != e.attr.type_ {
                    return Err(Errno::EINVAL);
                }
                return Err(Errno::EOPNOTSUPP);
            }
            _ => return Err(Errno::ENOTTY),
        }
        Ok(0)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
