//! Clocks and timers of processes: clock ids (including CPU-time clocks), the
//! interval timers of setitimer/alarm, POSIX timers (timer_create), and the CPU-time
//! checks behind ITIMER_VIRTUAL, ITIMER_PROF, RLIMIT_CPU and CPU-clock timers.
//!
//! Timers on wall or monotonic clocks are [`HrTimer`]s: callbacks on the executor's
//! timer queue. Timers on CPU-time clocks cannot be put on a queue of wall-clock
//! deadlines, so, as Linux does, they are checked when CPU time is accounted: after
//! every return from user mode ([`check_cpu_timers`]). While one is armed, a thread
//! in user mode is interrupted no later than its nearest CPU-time expiry
//! ([`cpu_budget`]), so they fire on time even in a busy loop.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::Ordering;

use kestrel_abi::process::{RLIM_INFINITY, RLIMIT_CPU};
use kestrel_abi::signal::*;
use kestrel_abi::time::*;
use kestrel_abi::{Errno, KResult};

use super::{Process, Thread};
use crate::process::signal;
use crate::time;
use crate::timer::HrTimer;

/// Which CPU time a CPU clock counts (the low two bits of a CPU clock id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuKind {
    /// User plus system time (CPUCLOCK_PROF).
    Prof,
    /// User time (CPUCLOCK_VIRT).
    Virt,
    /// All time on a CPU (CPUCLOCK_SCHED; equal to Prof here).
    Sched,
}

/// A clock a clockid_t names.
#[derive(Clone)]
pub enum Clock {
    Realtime,
    /// The monotonic clocks carry the offset (ns) of the time namespace of the
    /// thread that named them (0 in the initial one).
    Monotonic(i64),
    /// Monotonic time including suspend (no suspend here: equals Monotonic).
    Boottime(i64),
    Tai,
    /// The coarse and raw variants: readable, but no timers or sleeps (EOPNOTSUPP).
    RealtimeCoarse,
    MonotonicCoarse(i64),
    MonotonicRaw(i64),
    ProcessCpu(Arc<Process>, CpuKind),
    ThreadCpu(Arc<Thread>, CpuKind),
}

const CPUCLOCK_PERTHREAD: i32 = 4;
const CPUCLOCK_CLOCK_MASK: i32 = 3;

impl Clock {
    /// The clock `clk` names for `caller` (clock_gettime(2), clock_getcpuclockid(3)
    /// encodings included). EINVAL for an unknown clock or a CPU clock of a process or
    /// thread that does not exist.
    pub fn from_id(caller: &Arc<Thread>, clk: i32) -> KResult<Clock> {
        // Under the proxy's lock, without taking a reference to it: this is
        // on every clock_gettime that the vDSO does not answer.
        let off = |c: i32| caller.process.nsproxy.lock().time.offset_of(c);
        Ok(match clk {
            CLOCK_REALTIME | CLOCK_REALTIME_ALARM => Clock::Realtime,
            CLOCK_MONOTONIC => Clock::Monotonic(off(clk)),
            CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => Clock::Boottime(off(clk)),
            CLOCK_TAI => Clock::Tai,
            CLOCK_REALTIME_COARSE => Clock::RealtimeCoarse,
            CLOCK_MONOTONIC_COARSE => Clock::MonotonicCoarse(off(clk)),
            CLOCK_MONOTONIC_RAW => Clock::MonotonicRaw(off(clk)),
            CLOCK_PROCESS_CPUTIME_ID => Clock::ProcessCpu(caller.process.clone(), CpuKind::Sched),
            CLOCK_THREAD_CPUTIME_ID => Clock::ThreadCpu(caller.clone(), CpuKind::Sched),
            c if c < 0 => {
                // ~pid << 3 | per-thread bit | kind.
                let kind = match c & CPUCLOCK_CLOCK_MASK {
                    0 => CpuKind::Prof,
                    1 => CpuKind::Virt,
                    2 => CpuKind::Sched,
                    _ => return Err(Errno::EINVAL),
                };
                let id = !(c >> 3) as u32;
                if c & CPUCLOCK_PERTHREAD != 0 {
                    let t = if id == 0 {
                        caller.clone()
                    } else {
                        // A thread clock must name a thread of the caller's process.
                        super::find_thread(id)
                            .filter(|t| Arc::ptr_eq(&t.process, &caller.process))
                            .ok_or(Errno::EINVAL)?
                    };
                    Clock::ThreadCpu(t, kind)
                } else {
                    let p = if id == 0 {
                        caller.process.clone()
                    } else {
                        super::find(id).ok_or(Errno::EINVAL)?
                    };
                    Clock::ProcessCpu(p, kind)
                }
            }
            _ => return Err(Errno::EINVAL),
        })
    }

    /// CLOCK_MONOTONIC's reading for `caller`: `from_id(caller,
    /// CLOCK_MONOTONIC)?.now()` without making the `Clock`.
    #[inline]
    pub fn monotonic_now(caller: &Thread) -> u64 {
        let off = caller
            .process
            .nsproxy
            .lock()
            .time
            .offset_of(CLOCK_MONOTONIC);
        time::now_ns().saturating_add_signed(off)
    }

    /// The clock's reading in ns.
    pub fn now(&self) -> u64 {
        match self {
            Clock::Realtime | Clock::Tai | Clock::RealtimeCoarse => time::realtime_ns(),
            Clock::Monotonic(off)
            | Clock::Boottime(off)
            | Clock::MonotonicCoarse(off)
            | Clock::MonotonicRaw(off) => time::now_ns().saturating_add_signed(*off),
            Clock::ProcessCpu(p, kind) => cpu_reading(p.cpu_time(), *kind),
            Clock::ThreadCpu(t, kind) => cpu_reading(t.cpu.split(), *kind),
        }
    }

    /// Whether timers and sleeps work on this clock (EOPNOTSUPP otherwise).
    pub fn has_timers(&self) -> bool {
        !matches!(
            self,
            Clock::RealtimeCoarse | Clock::MonotonicCoarse(_) | Clock::MonotonicRaw(_)
        )
    }

    /// Whether it measures CPU time.
    pub fn is_cpu(&self) -> bool {
        matches!(self, Clock::ProcessCpu(..) | Clock::ThreadCpu(..))
    }

    /// The monotonic time at which this (wall or monotonic) clock reads `value`.
    pub fn to_monotonic(&self, value: u64) -> u64 {
        match self {
            Clock::Realtime | Clock::Tai | Clock::RealtimeCoarse => {
                time::realtime_to_monotonic(value)
            }
            // A time namespace's reading, back on the kernel's clock.
            Clock::Monotonic(off)
            | Clock::Boottime(off)
            | Clock::MonotonicCoarse(off)
            | Clock::MonotonicRaw(off) => value.saturating_add_signed(-*off),
            _ => value,
        }
    }
}

fn cpu_reading((user, system): (u64, u64), kind: CpuKind) -> u64 {
    match kind {
        CpuKind::Virt => user,
        CpuKind::Prof | CpuKind::Sched => user + system,
    }
}

// ---- CPU-time expiries ---------------------------------------------------------

/// One armed CPU-time expiry: when the clock reaches `expires`, fire and reload
/// with `interval` (0: disarm).
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuArm {
    pub expires: u64,
    pub interval: u64,
}

impl CpuArm {
    fn armed(&self) -> bool {
        self.expires != 0
    }

    /// If `now` has reached the expiry: the number of expirations, reloading.
    fn check(&mut self, now: u64) -> u64 {
        if !self.armed() || now < self.expires {
            return 0;
        }
        match (now - self.expires).checked_div(self.interval) {
            None => {
                self.expires = 0;
                1
            }
            Some(missed) => {
                let n = missed + 1;
                self.expires = self.expires.saturating_add(n.saturating_mul(self.interval));
                n
            }
        }
    }

    /// (time left, interval) as getitimer/timer_gettime report it.
    fn get(&self, now: u64) -> (u64, u64) {
        if !self.armed() {
            return (0, self.interval);
        }
        (self.expires.saturating_sub(now).max(1), self.interval)
    }
}

/// A process's interval timers (setitimer(2)): ITIMER_REAL on the monotonic clock,
/// ITIMER_VIRTUAL and ITIMER_PROF on its CPU time.
#[derive(Default)]
pub struct ITimers {
    pub real: Option<Arc<HrTimer>>,
    pub virt: CpuArm,
    pub prof: CpuArm,
    /// The RLIMIT_CPU soft limit already reported (SIGXCPU once per second past it).
    pub xcpu_next: u64,
}

pub const ITIMER_REAL: i32 = 0;
pub const ITIMER_VIRTUAL: i32 = 1;
pub const ITIMER_PROF: i32 = 2;

/// Reads interval timer `which`: (value left, interval) in ns.
pub fn getitimer(p: &Arc<Process>, which: i32) -> KResult<(u64, u64)> {
    let cpu = p.cpu_time();
    let it = p.itimers.lock();
    Ok(match which {
        ITIMER_REAL => it.real.as_ref().map_or((0, 0), |t| t.get()),
        ITIMER_VIRTUAL => it.virt.get(cpu.0),
        ITIMER_PROF => it.prof.get(cpu.0 + cpu.1),
        _ => return Err(Errno::EINVAL),
    })
}

/// Sets interval timer `which` to fire after `value` ns (0: disarm), then every
/// `interval` ns. Returns the previous (value left, interval).
pub fn setitimer(p: &Arc<Process>, which: i32, value: u64, interval: u64) -> KResult<(u64, u64)> {
    let old = getitimer(p, which)?;
    let cpu = p.cpu_time();
    let mut it = p.itimers.lock();
    match which {
        ITIMER_REAL => {
            let t = it.real.get_or_insert_with(|| {
                let weak = Arc::downgrade(p);
                HrTimer::new(move |_| {
                    if let Some(p) = weak.upgrade() {
                        signal::send_process(&p, Siginfo::new(SIGALRM, SI_KERNEL));
                    }
                })
            });
            if value == 0 {
                t.disarm();
            } else {
                t.arm(time::now_ns().saturating_add(value), interval);
            }
        }
        ITIMER_VIRTUAL | ITIMER_PROF => {
            let (arm, now) = if which == ITIMER_VIRTUAL {
                (&mut it.virt, cpu.0)
            } else {
                (&mut it.prof, cpu.0 + cpu.1)
            };
            *arm = if value == 0 {
                CpuArm::default()
            } else {
                CpuArm {
                    expires: now.saturating_add(value),
                    interval,
                }
            };
        }
        _ => unreachable!("checked by getitimer"),
    }
    drop(it);
    update_cpu_timers_armed(p);
    Ok(old)
}

/// Whether any CPU-time expiry is armed for `p` (or RLIMIT_CPU is finite).
fn update_cpu_timers_armed(p: &Process) {
    let armed = {
        let it = p.itimers.lock();
        it.virt.armed() || it.prof.armed()
    } || p
        .posix_timers
        .lock()
        .values()
        .any(|t| t.clock.is_cpu() && t.cpu.lock().armed())
        || p.rlimit(RLIMIT_CPU) != RLIM_INFINITY;
    let was = p.cpu_timers_armed.swap(armed, Ordering::AcqRel);
    if armed && !was {
        // The fast path of each thread's system calls tests its work mark.
        for t in p.threads.lock().iter() {
            t.mark_work();
        }
    }
}

/// Called when RLIMIT_CPU changes.
pub fn rlimit_cpu_changed(p: &Process) {
    update_cpu_timers_armed(p);
}

/// Fires every CPU-time expiry of `t`'s process that its CPU time has reached:
/// SIGVTALRM, SIGPROF, RLIMIT_CPU's SIGXCPU/SIGKILL, CPU-clock POSIX timers.
/// Inline, the one load a thread without CPU-time timers pays on each trip.
#[inline]
pub fn check_cpu_timers(t: &Arc<Thread>) {
    if t.process.cpu_timers_armed.load(Ordering::Acquire) {
        check_armed_cpu_timers(t);
    }
}

#[inline(never)]
fn check_armed_cpu_timers(t: &Arc<Thread>) {
    let p = &t.process;
    let (user, system) = p.cpu_time();
    let (virt, prof) = {
        let mut it = p.itimers.lock();
        (it.virt.check(user), it.prof.check(user + system))
    };
    if virt > 0 {
        signal::send_process(p, Siginfo::new(SIGVTALRM, SI_KERNEL));
    }
    if prof > 0 {
        signal::send_process(p, Siginfo::new(SIGPROF, SI_KERNEL));
    }
    // RLIMIT_CPU (seconds): SIGXCPU at the soft limit and every second after it, up
    // to the hard limit, then SIGKILL (setrlimit(2)).
    let limits = p.rlimits.lock()[RLIMIT_CPU as usize];
    if limits.rlim_cur != RLIM_INFINITY {
        let secs = (user + system) / 1_000_000_000;
        if secs >= limits.rlim_max {
            signal::send_process(p, Siginfo::new(SIGKILL, SI_KERNEL));
        } else if secs >= limits.rlim_cur {
            let mut it = p.itimers.lock();
            if secs >= it.xcpu_next {
                it.xcpu_next = secs + 1;
                drop(it);
                signal::send_process(p, Siginfo::new(SIGXCPU, SI_KERNEL));
            }
        }
    }
    let cpu_timers: alloc::vec::Vec<Arc<PosixTimer>> = p
        .posix_timers
        .lock()
        .values()
        .filter(|pt| pt.clock.is_cpu())
        .cloned()
        .collect();
    for pt in cpu_timers {
        let n = pt.cpu.lock().check(pt.clock.now());
        if n > 0 {
            pt.fired(n);
        }
    }
    update_cpu_timers_armed(p);
}

/// How long `t` may run in user mode before a CPU-time expiry of its process is due
/// (None: nothing armed). One CPU runs one thread at a time, so CPU time advances no
/// faster than wall time while it runs.
/// Inline, the one load a thread without CPU-time timers pays on each trip.
#[inline]
pub fn cpu_budget(t: &Thread) -> Option<u64> {
    if !t.process.cpu_timers_armed.load(Ordering::Acquire) {
        return None;
    }
    cpu_budget_armed(t)
}

#[inline(never)]
fn cpu_budget_armed(t: &Thread) -> Option<u64> {
    let p = &t.process;
    let (user, system) = p.cpu_time();
    let mut budget = u64::MAX;
    {
        let it = p.itimers.lock();
        if it.virt.armed() {
            budget = budget.min(it.virt.expires.saturating_sub(user));
        }
        if it.prof.armed() {
            budget = budget.min(it.prof.expires.saturating_sub(user + system));
        }
    }
    let limit = p.rlimits.lock()[RLIMIT_CPU as usize].rlim_cur;
    if limit != RLIM_INFINITY {
        let next_second = ((user + system) / 1_000_000_000 + 1)
            .max(limit)
            .saturating_mul(1_000_000_000);
        budget = budget.min(next_second.saturating_sub(user + system));
    }
    for pt in p
        .posix_timers
        .lock()
        .values()
        .filter(|pt| pt.clock.is_cpu())
    {
        let arm = *pt.cpu.lock();
        if arm.armed() {
            budget = budget.min(arm.expires.saturating_sub(pt.clock.now()));
        }
    }
    (budget != u64::MAX).then_some(budget)
}

// ---- POSIX timers ---------------------------------------------------------------

/// How a POSIX timer reports an expiry (struct sigevent).
#[derive(Clone)]
pub enum Notify {
    /// SIGEV_NONE: only timer_gettime shows it.
    None,
    /// SIGEV_SIGNAL (to the process) or SIGEV_THREAD_ID (to one thread).
    Signal {
        signo: u32,
        value: u64,
        thread: Option<Weak<Thread>>,
    },
}

/// A timer made by timer_create(2).
pub struct PosixTimer {
    pub id: i32,
    pub clock: Clock,
    process: Weak<Process>,
    notify: Notify,
    /// For wall and monotonic clocks.
    hr: spin::Mutex<Option<Arc<HrTimer>>>,
    /// For CPU-time clocks.
    cpu: spin::Mutex<CpuArm>,
    overrun: spin::Mutex<Overrun>,
}

#[derive(Default)]
struct Overrun {
    /// Its signal is queued and not yet taken.
    queued: bool,
    /// Expirations since the queued signal was generated.
    extra: u64,
    /// What timer_getoverrun reports: the count of the last taken signal.
    last: i32,
}

/// The most POSIX timers a process may have (Linux bounds them by RLIMIT_SIGPENDING
/// and memory; a fixed cap keeps the table small).
const MAX_TIMERS: usize = 4096;

impl PosixTimer {
    /// Creates a disarmed timer in `p`'s table and returns its id. Without a
    /// `notify` it sends SIGALRM to the process with its id as the value.
    pub fn create(p: &Arc<Process>, clock: Clock, notify: Option<Notify>) -> KResult<i32> {
        let mut table = p.posix_timers.lock();
        if table.len() >= MAX_TIMERS {
            return Err(Errno::EAGAIN);
        }
        // The lowest free id, as Linux hands them out in a fresh process.
        let id = (0..)
            .find(|i| !table.contains_key(i))
            .ok_or(Errno::EAGAIN)?;
        let timer = Arc::new(PosixTimer {
            id,
            clock,
            process: Arc::downgrade(p),
            notify: notify.unwrap_or(Notify::Signal {
                signo: SIGALRM,
                value: id as u64,
                thread: None,
            }),
            hr: spin::Mutex::new(None),
            cpu: spin::Mutex::new(CpuArm::default()),
            overrun: spin::Mutex::new(Overrun::default()),
        });
        table.insert(id, timer);
        Ok(id)
    }

    /// The timer `id` of `p` (EINVAL if there is none).
    pub fn find(p: &Process, id: i32) -> KResult<Arc<PosixTimer>> {
        p.posix_timers.lock().get(&id).cloned().ok_or(Errno::EINVAL)
    }

    /// (time left, interval) in ns.
    pub fn get(&self) -> (u64, u64) {
        if self.clock.is_cpu() {
            self.cpu.lock().get(self.clock.now())
        } else {
            self.hr.lock().as_ref().map_or((0, 0), |t| t.get())
        }
    }

    /// Arms the timer to expire at clock value `at` (absolute), then every `interval`
    /// ns; `at == None` disarms.
    pub fn set(self: &Arc<Self>, at: Option<u64>, interval: u64) {
        if self.clock.is_cpu() {
            *self.cpu.lock() = match at {
                Some(at) => CpuArm {
                    expires: at.max(1),
                    interval,
                },
                None => CpuArm::default(),
            };
            if let Some(p) = self.process.upgrade() {
                update_cpu_timers_armed(&p);
            }
            return;
        }
        let mut hr = self.hr.lock();
        let t = hr.get_or_insert_with(|| {
            let weak = Arc::downgrade(self);
            HrTimer::new(move |n| {
                if let Some(pt) = weak.upgrade() {
                    pt.fired(n);
                }
            })
        });
        match at {
            Some(at) => t.arm(self.clock.to_monotonic(at), interval),
            None => t.disarm(),
        }
    }

    /// Stops the timer for good (timer_delete, exec, exit).
    pub fn delete(&self) {
        let hr = self.hr.lock().take();
        if let Some(t) = hr {
            t.disarm();
        }
        *self.cpu.lock() = CpuArm::default();
    }

    /// timer_getoverrun.
    pub fn overrun(&self) -> i32 {
        self.overrun.lock().last
    }

    /// `n` expirations happened: queue the signal, or count overruns while the last
    /// one is still pending (one queued signal per timer, as in Linux).
    fn fired(&self, n: u64) {
        let Notify::Signal {
            signo,
            value,
            ref thread,
        } = self.notify
        else {
            return;
        };
        let Some(p) = self.process.upgrade() else {
            return;
        };
        {
            let mut o = self.overrun.lock();
            if o.queued {
                o.extra = o.extra.saturating_add(n);
                return;
            }
            o.queued = true;
            o.extra = n - 1;
        }
        let mut info = Siginfo::new(signo, SI_TIMER);
        info.fields[0] = u64::from(self.id as u32);
        info.fields[1] = value;
        let queued = match thread.as_ref().and_then(Weak::upgrade) {
            Some(t) => signal::send_thread(&t, info),
            None => signal::send_process(&p, info),
        };
        if !queued {
            // Ignored or the queue was full: nothing will be taken, so don't wait.
            self.overrun.lock().queued = false;
        }
    }
}

/// A signal of a POSIX timer is being taken: fill in its overrun count (si_overrun)
/// and let the timer queue the next one.
pub fn taking_timer_signal(p: &Process, info: &mut Siginfo) {
    let id = info.fields[0] as u32 as i32;
    let Ok(timer) = PosixTimer::find(p, id) else {
        return;
    };
    let mut o = timer.overrun.lock();
    let n = o.extra.min(i32::MAX as u64) as i32;
    o.last = n;
    o.extra = 0;
    o.queued = false;
    info.fields[0] = u64::from(id as u32) | (u64::from(n as u32) << 32);
}

/// Deletes every POSIX timer of `p` (execve and exit).
pub fn delete_all(p: &Process) {
    let timers: BTreeMap<i32, Arc<PosixTimer>> = core::mem::take(&mut *p.posix_timers.lock());
    for t in timers.values() {
        t.delete();
    }
}

/// Stops every timer of an exiting process.
pub fn exit(p: &Process) {
    delete_all(p);
    let real = p.itimers.lock().real.take();
    if let Some(t) = real {
        t.disarm();
    }
}
