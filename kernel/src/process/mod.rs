//! Processes and threads.
//!
//! A [`Thread`] is a task: its future runs the thread in user mode and handles each
//! trap with `.await` ([`thread::run`]); it owns its register state, and no kernel
//! stack. A [`Process`] is what threads share: the address space, the file
//! descriptors, the current directory, signal dispositions, credentials, limits, and
//! its place in the process tree (parent, children, process group, session).
//!
//! Resources that `clone` can share between processes (files, fs context, signal
//! handlers) sit behind their own `Arc` so two processes can hold the same one.
//!
//! Lifetime: a process lives in the process table while it runs and as a zombie
//! until its parent reaps it with `wait4`; orphans are adopted by init (pid 1). When
//! init exits, Kestrel powers off with init's exit status (xtask's `--cmd` relies on
//! it).

pub mod exec;
pub mod oom;
pub mod ptrace;
pub mod signal;
pub mod thread;
pub mod timers;

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use core::task::{Context, Poll};

use kestrel_abi::cap::*;
use kestrel_abi::process::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{DentryRef, FdTable, OpenFile};

use crate::arch::fpu::{self, FpuState, HasFpu};
use crate::mm::vm::AddressSpace;
use signal::SigActions;

/// Process and thread ids share one number space, as in Linux.
pub type Pid = u32;

/// Something several processes may share (`clone` flags decide).
pub type Shared<T> = Arc<spin::Mutex<T>>;

/// kernel.pid_max: process ids wrap around below it. Linux's default on small
/// machines; root may set it from [`PID_MAX_MIN`] to [`PID_MAX_LIMIT`].
static PID_MAX: AtomicU32 = AtomicU32::new(32_768);
/// The least pid_max (Linux's RESERVED_PIDS + 1).
pub const PID_MAX_MIN: Pid = 301;
/// The largest pid_max on 64-bit Linux (PID_MAX_LIMIT, 4 Mi).
pub const PID_MAX_LIMIT: Pid = 4 * 1024 * 1024;

/// The current kernel.pid_max.
pub fn pid_max() -> Pid {
    PID_MAX.load(Ordering::Relaxed)
}

/// Writing kernel.pid_max: EINVAL outside [`PID_MAX_MIN`]..=[`PID_MAX_LIMIT`].
/// Live ids above a lowered limit stay; new ones wrap below it.
pub fn set_pid_max(v: i128) -> KResult<()> {
    let v = Pid::try_from(v).map_err(|_| Errno::EINVAL)?;
    if !(PID_MAX_MIN..=PID_MAX_LIMIT).contains(&v) {
        return Err(Errno::EINVAL);
    }
    PID_MAX.store(v, Ordering::Relaxed);
    Ok(())
}

/// Processes and threads created since boot (/proc/stat's `processes`).
static FORKS: AtomicU64 = AtomicU64::new(0);

/// The thread each CPU is running, by CPU index.
static CURRENT: [spin::Mutex<Option<Arc<Thread>>>; crate::task::MAX_CPUS] =
    [const { spin::Mutex::new(None) }; crate::task::MAX_CPUS];

/// The thread being run on this CPU, for code that has no syscall context (a
/// procfs file answering "self").
pub fn current_thread() -> Option<Arc<Thread>> {
    CURRENT[crate::task::this_cpu()].lock().clone()
}

/// The thread being run on this CPU, without waiting for the lock (for an
/// interrupt handler, which must not spin on a lock its CPU may hold).
pub fn try_current_thread() -> Option<Arc<Thread>> {
    CURRENT[crate::task::this_cpu()].try_lock()?.clone()
}

/// Records which thread this CPU is running (set around each poll of its task).
pub fn set_current(t: Option<Arc<Thread>>) {
    let old = core::mem::replace(&mut *CURRENT[crate::task::this_cpu()].lock(), t);
    drop(old);
}

/// Processes and threads created since boot.
pub fn forks() -> u64 {
    FORKS.load(Ordering::Relaxed)
}

/// The current directory, root and umask (shared with CLONE_FS).
#[derive(Clone, Debug)]
pub struct FsContext {
    pub root: DentryRef,
    pub cwd: DentryRef,
    pub umask: u32,
}

/// User and group ids and capabilities (credentials(7), capabilities(7)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
    /// The capability bounding set (PR_CAPBSET_DROP takes from it; execve
    /// grants nothing outside it; capset's inheritable set stays within it
    /// and the old inheritable set).
    pub cap_bounding: u64,
    /// PR_SET_KEEPCAPS: keep permitted capabilities when no uid stays 0.
    pub keep_caps: bool,
    /// The Landlock rulesets the process restricted itself with (kept
    /// across fork and exec, as Linux keeps them in the credentials).
    pub landlock: kestrel_landlock::Domain,
}

impl Default for Credentials {
    /// Root, with every capability.
    fn default() -> Self {
        Self {
            uid: 0,
            euid: 0,
            suid: 0,
            fsuid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
            fsgid: 0,
            groups: Vec::new(),
            cap_effective: ALL_CAPS,
            cap_permitted: ALL_CAPS,
            cap_inheritable: 0,
            cap_bounding: ALL_CAPS,
            keep_caps: false,
            landlock: kestrel_landlock::Domain::default(),
        }
    }
}

impl Credentials {
    /// Whether the effective set holds capability `cap`.
    pub fn capable(&self, cap: u32) -> bool {
        self.cap_effective & (1 << cap) != 0
    }

    /// Applies the capability rules of a uid change (capabilities(7), "Effect of user
    /// ID changes on capabilities"), given the ids before it.
    pub fn fix_caps_after_uid_change(&mut self, old: &Credentials) {
        let was_root = old.uid == 0 || old.euid == 0 || old.suid == 0;
        let is_root = self.uid == 0 || self.euid == 0 || self.suid == 0;
        if was_root && !is_root && !self.keep_caps {
            self.cap_permitted = 0;
            self.cap_effective = 0;
        }
        if old.euid == 0 && self.euid != 0 {
            self.cap_effective = 0;
        }
        if old.euid != 0 && self.euid == 0 {
            self.cap_effective = self.cap_permitted;
        }
        // The file-system capabilities follow fsuid (the ones permission checks use).
        const FS_CAPS: u64 =
            (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 9) | (1 << 27);
        if old.fsuid == 0 && self.fsuid != 0 {
            self.cap_effective &= !FS_CAPS;
        } else if old.fsuid != 0 && self.fsuid == 0 {
            self.cap_effective |= self.cap_permitted & FS_CAPS;
        }
    }

    /// What file permission checks use.
    pub fn fs_cred(&self) -> kestrel_vfs::Cred {
        kestrel_vfs::Cred {
            uid: self.fsuid,
            gid: self.fsgid,
            groups: self.groups.clone(),
        }
    }
}

/// How a process stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    /// Exited; the wait status its parent will collect.
    Zombie(u32),
}

/// Linux's default resource limits (as a shell would see them on Debian).
fn default_rlimits() -> [Rlimit; RLIM_NLIMITS as usize] {
    let inf = Rlimit {
        rlim_cur: RLIM_INFINITY,
        rlim_max: RLIM_INFINITY,
    };
    let mut r = [inf; RLIM_NLIMITS as usize];
    r[RLIMIT_STACK as usize] = Rlimit {
        rlim_cur: 8 << 20,
        rlim_max: RLIM_INFINITY,
    };
    r[RLIMIT_CORE as usize] = Rlimit {
        rlim_cur: 0,
        rlim_max: RLIM_INFINITY,
    };
    r[RLIMIT_NOFILE as usize] = Rlimit {
        rlim_cur: 1024,
        rlim_max: 1024 * 1024,
    };
    r[RLIMIT_NPROC as usize] = Rlimit {
        rlim_cur: 4096,
        rlim_max: 4096,
    };
    r[RLIMIT_MEMLOCK as usize] = Rlimit {
        rlim_cur: 8 << 20,
        rlim_max: 8 << 20,
    };
    r[RLIMIT_SIGPENDING as usize] = Rlimit {
        rlim_cur: 4096,
        rlim_max: 4096,
    };
    r[RLIMIT_MSGQUEUE as usize] = Rlimit {
        rlim_cur: 819_200,
        rlim_max: 819_200,
    };
    r[RLIMIT_NICE as usize] = Rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    r[RLIMIT_RTPRIO as usize] = Rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    r
}

/// A process.
pub struct Process {
    pub pid: Pid,
    /// The id in its own PID namespace (`pid` in the initial one).
    pub vpid: Pid,
    /// The PID namespace it was made in (fixed for its life).
    pub pid_ns: Arc<crate::ns::PidNs>,
    /// The namespaces it is in (unshare and setns replace the proxy).
    nsproxy: spin::Mutex<Arc<crate::ns::NsProxy>>,
    parent: spin::Mutex<Weak<Process>>,
    /// The parent's pid (0: none), kept with `parent` so that getppid, a
    /// call on the fast path, reads one word instead of taking the lock and
    /// the parent's reference counts.
    parent_pid: AtomicU32,
    children: spin::Mutex<Vec<Arc<Process>>>,
    pub threads: spin::Mutex<Vec<Arc<Thread>>>,
    mm: spin::Mutex<Arc<AddressSpace>>,
    /// The page-table root of `mm`, readable without the lock (every poll of a thread
    /// checks it is the active one).
    mm_root: AtomicU64,
    pub files: spin::Mutex<Shared<FdTable>>,
    pub fs: spin::Mutex<Shared<FsContext>>,
    pub sigactions: spin::Mutex<Shared<SigActions>>,
    pub pgid: AtomicU32,
    pub sid: AtomicU32,
    pub cred: spin::Mutex<Credentials>,
    pub rlimits: spin::Mutex<[Rlimit; RLIM_NLIMITS as usize]>,
    state: spin::Mutex<State>,
    /// Woken when a child changes state (exits), for wait4.
    pub child_event: WaitQueue,
    /// Woken when the process becomes a zombie (pidfds poll it).
    pub exit_wq: WaitQueue,
    /// The executable.
    pub exe: spin::Mutex<Option<DentryRef>>,
    /// The process's hold on its program file while it runs: writing the file
    /// is ETXTBSY meanwhile (dropped at exit and at the next execve).
    pub exe_hold: spin::Mutex<Option<kestrel_vfs::file::WriteDenial>>,
    /// Where execve put the arguments and environment, and the auxv it passed.
    pub exec_info: spin::Mutex<ExecInfo>,
    /// Monotonic ns at creation (fork), for /proc/PID/stat's start time.
    pub start_ns: u64,
    /// A number no other process ever had (pidfs's inode number: pidfds of
    /// one process have the same st_ino, of another a different one).
    pub serial: u64,
    /// Set while a vfork child has not exec'd or exited yet: the parent waits.
    pub vfork: spin::Mutex<Option<Arc<VforkDone>>>,
    /// The signal sent to the parent at exit (SIGCHLD for fork).
    pub exit_signal: u32,
    /// Set once exit_group or a fatal signal has decided the process's fate.
    exiting: spin::Mutex<Option<u32>>,
    /// Set while a thread's execve waits for the other threads to end
    /// (Linux's group_exec_task; changed only under `exiting`'s lock, which
    /// makes an exit and an exec exclude each other): [`Process::begin_exec`].
    execing: AtomicBool,
    /// Set by execve (setpgid on a child that exec'd is EACCES).
    pub did_exec: AtomicBool,
    /// PR_SET_PDEATHSIG: the signal this process gets when the thread that created it
    /// exits (0: none).
    pub pdeathsig: AtomicU32,
    /// The thread of the parent that created this process.
    pub parent_tid: AtomicU32,
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants are adopted here, not by init.
    pub subreaper: AtomicBool,
    /// PR_SET_DUMPABLE.
    pub dumpable: AtomicBool,
    /// /proc/PID/coredump_filter: which kinds of memory a core dump holds.
    pub coredump_filter: AtomicU32,
    /// PR_SET_NO_NEW_PRIVS: set once, never cleared, inherited.
    pub no_new_privs: AtomicBool,
    /// PR_SET_TIMERSLACK: the slack its timers may take (ns), and the value
    /// setting 0 restores (the creator's slack when it forked). Linux keeps
    /// both per thread; Kestrel per process, and does not act on them (timers
    /// fire when due).
    pub timer_slack_ns: AtomicU64,
    pub default_timer_slack_ns: AtomicU64,
    /// The nice value (-20..19).
    pub nice: core::sync::atomic::AtomicI32,
    /// The scheduling policy (SCHED_OTHER, SCHED_FIFO...; `syscall::sched`),
    /// its real-time priority (1..=99 for SCHED_FIFO and SCHED_RR, else 0)
    /// and SCHED_RESET_ON_FORK. Linux keeps them per thread; Kestrel per
    /// process, as the nice value.
    pub sched_policy: AtomicU32,
    pub rt_priority: AtomicU32,
    pub sched_reset_on_fork: AtomicBool,
    /// rseq(2)'s concurrency ids (`mm_cid`) its running threads hold.
    pub rseq_cids: crate::syscall::rseq::CidMap,
    /// SCHED_DEADLINE's runtime, deadline and period (ns), and the bandwidth
    /// admitted for them (`syscall::sched`; given back when it leaves the
    /// policy or exits).
    pub dl_params: spin::Mutex<(u64, u64, u64)>,
    pub dl_bw: AtomicU64,
    /// Signals pending for the whole process, and job-control state.
    pub signals: signal::ProcessSignals,
    /// CPU time of this process's threads that have exited.
    pub dead_threads_cpu: CpuTotals,
    /// CPU time of reaped children (and their reaped children): RUSAGE_CHILDREN.
    pub children_cpu: CpuTotals,
    /// ru_maxrss (KiB): the largest resident set seen of this process's
    /// address spaces, sampled when one goes (exec, exit) and at getrusage;
    /// a peak between samples is missed (Kestrel keeps no resident counter).
    pub maxrss_kb: AtomicU64,
    /// RUSAGE_CHILDREN's ru_maxrss: the largest of the waited-for children's
    /// (and theirs).
    pub cmaxrss_kb: AtomicU64,
    /// setitimer/alarm timers (kept across execve, not inherited by fork).
    pub itimers: spin::Mutex<timers::ITimers>,
    /// timer_create timers by id (deleted by execve, not inherited by fork).
    pub posix_timers: spin::Mutex<BTreeMap<i32, Arc<timers::PosixTimer>>>,
    /// Whether a CPU-time expiry (itimer, RLIMIT_CPU, CPU-clock timer) is armed.
    pub cpu_timers_armed: AtomicBool,
    /// /proc/PID/oom_score_adj (kept for programs that set it; the OOM policy does
    /// not read it yet).
    pub oom_score_adj: core::sync::atomic::AtomicI32,
    /// membarrier(2) registrations (MEMBARRIER_CMD_REGISTER_* bits).
    pub membarrier: AtomicU64,
    /// System calls made, by number (`kestrel.syscall_stats` only).
    pub syscall_counts: Option<alloc::boxed::Box<crate::syscall::stats::SyscallCounts>>,
    /// Its threads' perf events and the events they opened ([`crate::perf`]).
    pub perf: crate::perf::ProcessPerf,
    /// The threads this process traces (ptrace), whose stops and exits its wait
    /// collects.
    pub tracees: spin::Mutex<Vec<Arc<Thread>>>,
    /// Set when the process exits: it traces nothing more (ptrace::link).
    pub tracing_closed: AtomicBool,
    /// personality(2) flags (the domain is always PER_LINUX).
    pub personality: AtomicU32,
    /// Its session, process and thread keyrings (keyrings(7)).
    pub keyrings: spin::Mutex<crate::syscall::keys::ProcKeyrings>,
}

/// What the last execve left in the address space (Linux keeps these in mm_struct):
/// the argument and environment strings' bounds and the auxiliary vector.
#[derive(Debug, Clone, Default)]
pub struct ExecInfo {
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    pub auxv: Vec<(u64, u64)>,
}

/// Released when a vfork child execs or exits.
#[derive(Default)]
pub struct VforkDone {
    done: AtomicBool,
    wq: WaitQueue,
}

impl VforkDone {
    /// Lets the waiting parent go on.
    pub fn release(&self) {
        self.done.store(true, Ordering::Release);
        self.wq.wake_all();
    }

    /// Waits for [`VforkDone::release`].
    pub async fn wait(&self) {
        self.wq
            .wait_until(|| self.done.load(Ordering::Acquire).then_some(()))
            .await;
    }
}

/// The bits of `Thread::work`.
pub mod work {
    /// Work for the thread loop before or after a system call: the fast path
    /// leaves the call to it.
    pub const LOOP: u8 = 1;
    /// [`super::Thread::kill`] was called (always with `LOOP`).
    pub const KILL: u8 = 2;
    /// The thread asked to exit (exit, exit_group; always with `LOOP`).
    pub const EXIT: u8 = 4;
}

/// A user thread.
pub struct Thread {
    /// Its thread id (a non-leader's becomes the process's id when it execs:
    /// [`Thread::tid`]).
    tid: AtomicU32,
    pub process: Arc<Process>,
    /// Blocked signals.
    pub sigmask: AtomicU64,
    /// set_tid_address / CLONE_CHILD_CLEARTID: cleared and futex-woken at exit.
    pub clear_child_tid: AtomicU64,
    /// set_robust_list: the head of the thread's robust futex list (0: none).
    pub robust_list: AtomicU64,
    /// [`work`] bits: work for the thread loop ([`work::LOOP`], Linux's
    /// thread-info work flags as one bit), set by everything that makes a
    /// system call need more than the call ([`Thread::mark_work`]: a kill,
    /// an exit, ptrace, seccomp, a signal or a freeze, a job-control stop, a
    /// CPU-time timer, a perf event, a saved mask) and cleared only by the
    /// thread's own loop when none of these holds ([`Thread::recheck_work`]);
    /// the kill ([`work::KILL`]) and the exit request ([`work::EXIT`]), which
    /// are never cleared. The fast path tests this one byte instead of each
    /// condition. (One byte for the three: `Thread` stays in its 256-byte
    /// allocation class with its counts.)
    work: core::sync::atomic::AtomicU8,
    /// The thread's own waits: its loop's for a kill, its calls' for a signal
    /// (interruptible waits, sigsuspend, sigtimedwait, seccomp's user
    /// notification) and its ptrace stops' for the tracer. Only the thread's
    /// own task waits here, with its one waker, so a slot for one waker does
    /// (a wait queue took 40 bytes here and a 32-byte entry while parked); a
    /// kill, a signal and a tracer's resume all wake it, and each wait checks
    /// its own condition again ([`Thread::wait_until`]).
    waker: futures_util::task::AtomicWaker,
    /// The status passed to exit/exit_group.
    exit_code: AtomicU32,
    /// Saved FPU/SSE/AVX registers (live in the CPU while this thread owns it).
    pub fpu: spin::Mutex<FpuState>,
    /// Pending signals, alternate stack, restart state.
    pub signals: signal::ThreadSignals,
    /// CPU time used.
    pub cpu: CpuClock,
    /// The command name (comm, 15 bytes + NUL): per thread, as PR_SET_NAME sets
    /// it; execve sets it from the program name.
    comm: spin::Mutex<[u8; 16]>,
    /// The thread's task, once spawned: where it runs and may run (affinity).
    pub task: spin::Once<kestrel_executor::TaskRef>,
    /// The system call it is in, plus one (0: none), for the task monitor.
    pub in_syscall: AtomicU32,
    /// ptrace state: the tracer, the current stop and its registers.
    pub ptrace: ptrace::TraceeSlot,
    /// [`ptrace::flag`] bits, read on every trap without the lock. (A stopped
    /// tracee waits for its tracer with [`Thread::wait_until`].)
    pub ptrace_flags: AtomicU32,
    /// The thread's protection-key rights (PKRU), as it last left user mode
    /// or pkey_alloc(2) set them. Loaded whenever the thread's task is polled
    /// ([`Thread::make_current`]), because the kernel's copies to and from
    /// the thread's memory honour them too: with another thread's value
    /// loaded, a copy could fault on a page the thread may use, or reach one
    /// it may not. Inherited by clone and fork, reset by execve.
    pub pkru: AtomicU32,
    /// seccomp mode (see [`Thread::seccomp_mode`]; the filters, inherited by
    /// fork and clone and kept by execve, are in `rare`).
    pub seccomp_mode: core::sync::atomic::AtomicU8,
    /// What few threads ever have, made the first time one is set.
    rare: spin::Once<alloc::boxed::Box<ThreadRare>>,
}

/// The future of [`Thread::wait_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct ThreadWait<'a, F> {
    thread: &'a Thread,
    cond: F,
}

impl<T, F: FnMut() -> Option<T> + Unpin> Future for ThreadWait<'_, F> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        // Register first, then check: a wake between the two is not lost.
        this.thread.waker.register(cx.waker());
        match (this.cond)() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }
}

/// A thread's rarely used state: an alternate signal stack, a mask to put
/// back, a restart block, seccomp filters, a file page a system call's copy
/// could not wait for. In a block of its own made the first time one is set
/// (16 bytes in every `Thread` instead of 136: with them `Thread` took a
/// 448-byte heap block, without them a 320-byte one; a parked thread's
/// memory: docs/hot-paths.md). Readers look without making it.
#[derive(Default)]
pub struct ThreadRare {
    pub signals: signal::RareSignals,
    pub seccomp_filter: spin::Mutex<Option<Arc<kestrel_seccomp::Filter>>>,
    /// A file page a user-memory copy of the current system call needed and
    /// could not wait for ([`crate::mm::vm::note_pending_load`]).
    pub pending_load: crate::mm::vm::PendingLoad,
    /// set_mempolicy(2)'s policy (`None`: MPOL_DEFAULT).
    pub mempolicy: spin::Mutex<Option<crate::mm::vm::MemPolicy>>,
    /// The I/O priority ioprio_set gave it (class << 13 | level; 0: none set),
    /// inherited by the threads and processes it makes. Kestrel's block layer
    /// does not order requests by it.
    pub ioprio: AtomicU32,
    /// rseq(2)'s registration, its pending work and concurrency id (a
    /// thread without `rare` has none: one load says so).
    pub rseq: crate::syscall::rseq::RseqState,
}

impl Thread {
    /// The rarely used part, made if the thread has none yet.
    pub fn rare(&self) -> &ThreadRare {
        self.rare
            .call_once(|| alloc::boxed::Box::new(ThreadRare::default()))
    }

    /// The rarely used part if it was made.
    #[inline]
    pub fn rare_if_made(&self) -> Option<&ThreadRare> {
        self.rare.get().map(|r| &**r)
    }

    /// The thread's NUMA memory policy (set_mempolicy(2); `None`: MPOL_DEFAULT).
    pub fn mempolicy(&self) -> Option<crate::mm::vm::MemPolicy> {
        self.rare_if_made().and_then(|r| *r.mempolicy.lock())
    }

    /// The I/O priority ioprio_set(2) gave the thread (0: none).
    pub fn ioprio(&self) -> u32 {
        self.rare_if_made()
            .map_or(0, |r| r.ioprio.load(Ordering::Relaxed))
    }

    /// Sets the thread's I/O priority (0 makes nothing for a thread that
    /// never had one).
    pub fn set_ioprio(&self, v: u32) {
        match self.rare_if_made() {
            Some(r) => r.ioprio.store(v, Ordering::Relaxed),
            None if v == 0 => {}
            None => self.rare().ioprio.store(v, Ordering::Relaxed),
        }
    }

    /// Sets the thread's NUMA memory policy (none: makes nothing for a thread
    /// that never had one).
    pub fn set_mempolicy(&self, p: Option<crate::mm::vm::MemPolicy>) {
        match self.rare_if_made() {
            Some(r) => *r.mempolicy.lock() = p,
            None if p.is_none() => {}
            None => *self.rare().mempolicy.lock() = p,
        }
    }
}

/// A thread's CPU time in nanoseconds: `total` is all time its task was polled,
/// `user` the part spent in user mode; system time is the difference.
#[derive(Debug, Default)]
pub struct CpuClock {
    pub total: AtomicU64,
    pub user: AtomicU64,
    /// When the current poll of the thread's task began (0: not running). A thread
    /// may run for a long time inside one poll; this keeps its clock exact.
    pub running_since: AtomicU64,
    /// Context switches, as Linux counts them (getrusage's ru_nvcsw and
    /// ru_nivcsw, /proc's voluntary_ctxt_switches): voluntary when the thread
    /// waits (its task's poll ends pending), involuntary when it gives up the
    /// CPU while still runnable (its time slice ended or a sched_yield, with
    /// another task ready). One writer, the thread's own CPU.
    pub voluntary: AtomicU64,
    pub involuntary: AtomicU64,
}

impl CpuClock {
    /// (voluntary, involuntary) context switches.
    pub fn switches(&self) -> (u64, u64) {
        (
            self.voluntary.load(Ordering::Relaxed),
            self.involuntary.load(Ordering::Relaxed),
        )
    }
}

impl CpuClock {
    /// (user, system) nanoseconds.
    pub fn split(&self) -> (u64, u64) {
        let since = self.running_since.load(Ordering::Acquire);
        let running = if since != 0 {
            crate::time::now_ns().saturating_sub(since)
        } else {
            0
        };
        let total = self.total.load(Ordering::Relaxed) + running;
        let user = self.user.load(Ordering::Relaxed).min(total);
        (user, total - user)
    }
}

/// CPU time of threads that are gone: (user, system) nanoseconds; and their
/// (voluntary, involuntary) context switches.
#[derive(Debug, Default)]
pub struct CpuTotals {
    pub user: AtomicU64,
    pub system: AtomicU64,
    pub voluntary: AtomicU64,
    pub involuntary: AtomicU64,
}

impl CpuTotals {
    fn add_switches(&self, (v, i): (u64, u64)) {
        self.voluntary.fetch_add(v, Ordering::Relaxed);
        self.involuntary.fetch_add(i, Ordering::Relaxed);
    }

    /// (voluntary, involuntary) context switches.
    pub fn switches(&self) -> (u64, u64) {
        (
            self.voluntary.load(Ordering::Relaxed),
            self.involuntary.load(Ordering::Relaxed),
        )
    }

    fn add(&self, (u, s): (u64, u64)) {
        self.user.fetch_add(u, Ordering::Relaxed);
        self.system.fetch_add(s, Ordering::Relaxed);
    }

    /// (user, system) nanoseconds.
    pub fn get(&self) -> (u64, u64) {
        (
            self.user.load(Ordering::Relaxed),
            self.system.load(Ordering::Relaxed),
        )
    }
}

impl HasFpu for Thread {
    fn fpu(&self) -> &spin::Mutex<FpuState> {
        &self.fpu
    }
}

static PROCESSES: spin::Mutex<BTreeMap<Pid, Weak<Process>>> = spin::Mutex::new(BTreeMap::new());
static THREADS: spin::Mutex<BTreeMap<Pid, Weak<Thread>>> = spin::Mutex::new(BTreeMap::new());
static NEXT_PID: AtomicU32 = AtomicU32::new(1);
static INIT: spin::Once<Arc<Process>> = spin::Once::new();

/// The address space of every process that has exited: empty, made once at boot,
/// so that an exit never needs memory to give memory back.
fn empty_mm() -> Arc<AddressSpace> {
    static EMPTY: spin::Once<Arc<AddressSpace>> = spin::Once::new();
    EMPTY
        .call_once(|| AddressSpace::new().expect("memory for one page table at boot"))
        .clone()
}

/// A free id (pids and tids share the space; wraps at pid_max, skipping live ones).
/// The most threads the system runs at once (Linux's kernel.threads-max), so
/// that not even root's fork bomb can fill the kernel with tasks; fork and clone
/// are EAGAIN beyond it. From memory as Linux does it, but a thread per 16 pages
/// rather than Linux's 32 (eight 16 KiB kernel stacks): a parked Kestrel thread
/// has no kernel stack and costs a few KiB, and a 1 GiB guest should run the
/// 10,000 blocked threads of `kbench` as Linux's does.
pub fn max_threads() -> usize {
    let pages = crate::mm::frame::stats().1 as usize;
    (pages / 16).clamp(20, crate::task::MAX_TASKS_PER_CPU - 1024)
}

fn alloc_pid() -> KResult<Pid> {
    let procs = PROCESSES.lock();
    let threads = THREADS.lock();
    if threads.len() >= max_threads() {
        return Err(Errno::EAGAIN);
    }
    let max = pid_max();
    for _ in 0..max {
        let pid = NEXT_PID.fetch_add(1, Ordering::Relaxed);
        let pid = if pid >= max {
            NEXT_PID.store(301, Ordering::Relaxed); // Linux restarts above the reserved range
            300
        } else {
            pid
        };
        if !procs.contains_key(&pid) && !threads.contains_key(&pid) {
            FORKS.fetch_add(1, Ordering::Relaxed);
            return Ok(pid);
        }
    }
    Err(Errno::EAGAIN)
}

/// kernel.ns_last_pid for the initial namespace: the id given out last.
pub fn last_pid() -> Pid {
    NEXT_PID.load(Ordering::Relaxed).saturating_sub(1)
}

/// Writing kernel.ns_last_pid (checkpoint/restore): the next id tried is
/// `last + 1` (EINVAL past pid_max).
pub fn set_last_pid(last: Pid) -> KResult<()> {
    if last >= pid_max() {
        return Err(Errno::EINVAL);
    }
    NEXT_PID.store(last + 1, Ordering::Relaxed);
    Ok(())
}

/// Takes `pid` itself for a new process (clone3's set_tid): EEXIST if a
/// process or thread has it.
fn alloc_pid_at(pid: Pid) -> KResult<Pid> {
    let procs = PROCESSES.lock();
    let threads = THREADS.lock();
    if threads.len() >= max_threads() {
        return Err(Errno::EAGAIN);
    }
    if procs.contains_key(&pid) || threads.contains_key(&pid) {
        return Err(Errno::EEXIST);
    }
    FORKS.fetch_add(1, Ordering::Relaxed);
    Ok(pid)
}

/// fs.nr_open: the most descriptors a table may hold, and the ceiling of
/// RLIMIT_NOFILE (Linux's sysctl_nr_open, default 1024 * 1024).
pub static NR_OPEN: AtomicU32 = AtomicU32::new(1 << 20);
/// The range /proc/sys/fs/nr_open takes (Linux's sysctl_nr_open_min and _max).
pub const NR_OPEN_MIN: u32 = 64;
pub const NR_OPEN_MAX: u32 = 2_147_483_584;

/// A copy of a descriptor table is made in whole words of 64 descriptors up
/// to fs.nr_open (rounded up the same way): one whose highest descriptor lies
/// beyond cannot be copied (EMFILE), as Linux's dup_fd.
fn check_nr_open(t: &kestrel_vfs::FdTable) -> KResult<()> {
    let cap = u64::from(NR_OPEN.load(Ordering::Relaxed)).next_multiple_of(64);
    match t.highest_fd() {
        Some(h) if h as u64 >= cap => Err(Errno::EMFILE),
        _ => Ok(()),
    }
}

/// The live process with `pid`.
pub fn find(pid: Pid) -> Option<Arc<Process>> {
    PROCESSES.lock().get(&pid).and_then(Weak::upgrade)
}

/// The live thread with `tid`.
pub fn find_thread(tid: Pid) -> Option<Arc<Thread>> {
    THREADS.lock().get(&tid).and_then(Weak::upgrade)
}

/// Every live (or zombie, unreaped) process.
pub fn all() -> Vec<Arc<Process>> {
    PROCESSES
        .lock()
        .values()
        .filter_map(Weak::upgrade)
        .collect()
}

/// How many threads exist (sysinfo's procs, /proc/loadavg's second count).
pub fn thread_count() -> usize {
    THREADS.lock().len()
}

/// What a new process starts with.
struct NewProcess {
    pid: Pid,
    vpid: Pid,
    pid_ns: Arc<crate::ns::PidNs>,
    nsproxy: Arc<crate::ns::NsProxy>,
    parent: Weak<Process>,
    mm: Arc<AddressSpace>,
    files: Shared<FdTable>,
    fs: Shared<FsContext>,
    sigactions: Shared<SigActions>,
    pgid: Pid,
    sid: Pid,
    cred: Credentials,
    rlimits: [Rlimit; RLIM_NLIMITS as usize],
    exit_signal: u32,
}

impl Process {
    fn new(n: NewProcess) -> Arc<Self> {
        let pid = n.pid;
        let p = Arc::new(Self {
            pid,
            vpid: n.vpid,
            pid_ns: n.pid_ns,
            nsproxy: spin::Mutex::new(n.nsproxy),
            parent_pid: AtomicU32::new(n.parent.upgrade().map_or(0, |p| p.pid)),
            parent: spin::Mutex::new(n.parent),
            children: spin::Mutex::new(Vec::new()),
            threads: spin::Mutex::new(Vec::new()),
            mm_root: AtomicU64::new(n.mm.root()),
            mm: spin::Mutex::new(n.mm),
            files: spin::Mutex::new(n.files),
            fs: spin::Mutex::new(n.fs),
            sigactions: spin::Mutex::new(n.sigactions),
            pgid: AtomicU32::new(n.pgid),
            sid: AtomicU32::new(n.sid),
            cred: spin::Mutex::new(n.cred),
            rlimits: spin::Mutex::new(n.rlimits),
            state: spin::Mutex::new(State::Running),
            child_event: WaitQueue::new(),
            exit_wq: WaitQueue::new(),
            exe: spin::Mutex::new(None),
            exe_hold: spin::Mutex::new(None),
            exec_info: spin::Mutex::new(ExecInfo::default()),
            start_ns: crate::time::now_ns(),
            serial: {
                static SERIAL: AtomicU64 = AtomicU64::new(1);
                SERIAL.fetch_add(1, Ordering::Relaxed)
            },
            vfork: spin::Mutex::new(None),
            exit_signal: n.exit_signal,
            exiting: spin::Mutex::new(None),
            execing: AtomicBool::new(false),
            did_exec: AtomicBool::new(false),
            pdeathsig: AtomicU32::new(0),
            parent_tid: AtomicU32::new(0),
            subreaper: AtomicBool::new(false),
            dumpable: AtomicBool::new(true),
            coredump_filter: AtomicU32::new(crate::syscall::coredump::COREDUMP_FILTER_DEFAULT),
            no_new_privs: AtomicBool::new(false),
            timer_slack_ns: AtomicU64::new(50_000),
            default_timer_slack_ns: AtomicU64::new(50_000),
            nice: core::sync::atomic::AtomicI32::new(0),
            sched_policy: AtomicU32::new(0),
            rt_priority: AtomicU32::new(0),
            sched_reset_on_fork: AtomicBool::new(false),
            rseq_cids: crate::syscall::rseq::CidMap::default(),
            dl_params: spin::Mutex::new((0, 0, 0)),
            dl_bw: AtomicU64::new(0),
            signals: signal::ProcessSignals::default(),
            dead_threads_cpu: CpuTotals::default(),
            children_cpu: CpuTotals::default(),
            maxrss_kb: AtomicU64::new(0),
            cmaxrss_kb: AtomicU64::new(0),
            itimers: spin::Mutex::new(timers::ITimers::default()),
            posix_timers: spin::Mutex::new(BTreeMap::new()),
            cpu_timers_armed: AtomicBool::new(false),
            membarrier: AtomicU64::new(0),
            oom_score_adj: core::sync::atomic::AtomicI32::new(0),
            syscall_counts: crate::syscall::stats::SyscallCounts::for_new_process(),
            perf: Default::default(),
            tracees: spin::Mutex::new(Vec::new()),
            tracing_closed: AtomicBool::new(false),
            personality: AtomicU32::new(0),
            keyrings: spin::Mutex::new(Default::default()),
        });
        timers::rlimit_cpu_changed(&p);
        PROCESSES.lock().insert(pid, Arc::downgrade(&p));
        p
    }

    /// The namespaces the process is in.
    pub fn nsproxy(&self) -> Arc<crate::ns::NsProxy> {
        self.nsproxy.lock().clone()
    }

    /// Moves the process into other namespaces (unshare, setns).
    pub fn set_nsproxy(&self, n: Arc<crate::ns::NsProxy>) {
        *self.nsproxy.lock() = n;
    }

    /// The id of this process as a process in `ns` sees it: its own id there,
    /// the global id from the initial namespace, 0 from a namespace it is not
    /// in. (Kestrel keeps ids for two levels only: a process's own namespace's
    /// and the initial one's.)
    pub fn pid_in(&self, ns: &crate::ns::PidNs) -> Pid {
        if core::ptr::eq(&*self.pid_ns, ns) {
            self.vpid
        } else if ns.is_root() {
            self.pid
        } else {
            0
        }
    }

    /// Folds the current address space's resident set into ru_maxrss; the
    /// largest seen (KiB).
    pub fn sample_rss(&self) -> u64 {
        let kb = self.mm().usage().resident * 4;
        self.maxrss_kb.fetch_max(kb, Ordering::Relaxed).max(kb)
    }

    /// The parent's pid (0 for init).
    pub fn ppid(&self) -> Pid {
        self.parent_pid.load(Ordering::Relaxed)
    }

    /// The parent.
    pub fn parent(&self) -> Option<Arc<Process>> {
        self.parent.lock().upgrade()
    }

    /// This process's address space.
    #[inline]
    pub fn mm(&self) -> Arc<AddressSpace> {
        self.mm.lock().clone()
    }

    /// Replaces the address space (exec, exit), returning the old one.
    pub fn replace_mm(&self, new: Arc<AddressSpace>) -> Arc<AddressSpace> {
        let mut mm = self.mm.lock();
        self.mm_root.store(new.root(), Ordering::Release);
        core::mem::replace(&mut *mm, new)
    }

    /// Makes this process's address space the active one on this CPU.
    pub fn activate_mm(&self) {
        let root = self.mm_root.load(Ordering::Acquire);
        if crate::arch::cpu::read_cr3() & 0x000f_ffff_ffff_f000 != root {
            self.mm().activate();
        }
    }

    /// The fd table (possibly shared).
    pub fn files(&self) -> Shared<FdTable> {
        self.files.lock().clone()
    }

    /// The open file behind `fd` (EBADF if none): as `files().lock().get(fd)`,
    /// without the reference count on the table (two atomic operations). The
    /// table's lock is taken inside this process's `files` lock, the order
    /// [`Process::unshare_files`] uses too; nothing takes a process's `files`
    /// lock while it holds a table's.
    #[inline]
    pub fn file(&self, fd: i32) -> KResult<Arc<OpenFile>> {
        let files = self.files.lock();
        files.lock().get(fd)
    }

    /// Gives the process its own copy of a descriptor table it shares (execve,
    /// close_range's CLOSE_RANGE_UNSHARE).
    /// unshare(2)'s CLONE_FILES: as [`Process::unshare_files`], but a table
    /// the copy could not hold under fs.nr_open is EMFILE (Linux's dup_fd).
    pub fn try_unshare_files(&self) -> KResult<()> {
        let mut files = self.files.lock();
        if Arc::strong_count(&files) > 1 {
            let copy = files.lock().clone();
            check_nr_open(&copy)?;
            *files = Arc::new(spin::Mutex::new(copy));
        }
        Ok(())
    }

    pub fn unshare_files(&self) {
        let mut files = self.files.lock();
        if Arc::strong_count(&files) > 1 {
            let copy = files.lock().clone();
            *files = Arc::new(spin::Mutex::new(copy));
        }
    }

    /// Gives the process its own copy of an fs context (root, cwd, umask) it
    /// shares (unshare's CLONE_FS).
    pub fn unshare_fs(&self) {
        let mut fs = self.fs.lock();
        if Arc::strong_count(&fs) > 1 {
            let copy = fs.lock().clone();
            *fs = Arc::new(spin::Mutex::new(copy));
        }
    }

    /// The fs context (possibly shared).
    pub fn fs(&self) -> Shared<FsContext> {
        self.fs.lock().clone()
    }

    /// The signal dispositions (possibly shared).
    pub fn sigactions(&self) -> Shared<SigActions> {
        self.sigactions.lock().clone()
    }

    /// Runs `f` on the signal dispositions under their lock, without the
    /// reference count [`Process::sigactions`] takes. The dispositions' lock is
    /// taken inside this process's `sigactions` lock, the order execve's reset
    /// uses too; nothing takes a process's `sigactions` lock while it holds
    /// the dispositions'. `f` must not take either.
    #[inline]
    pub fn with_sigactions<R>(&self, f: impl FnOnce(&mut SigActions) -> R) -> R {
        let shared = self.sigactions.lock();
        let mut actions = shared.lock();
        f(&mut actions)
    }

    /// The current state.
    pub fn state(&self) -> State {
        *self.state.lock()
    }

    /// The soft limit of resource `r`.
    pub fn rlimit(&self, r: u32) -> u64 {
        self.rlimits.lock()[r as usize].rlim_cur
    }

    /// The limits its address space enforces: RLIMIT_STACK, RLIMIT_AS and
    /// RLIMIT_DATA (soft values).
    pub fn mm_limits(&self) -> crate::mm::vm::Limits {
        let l = self.rlimits.lock();
        crate::mm::vm::Limits {
            stack: l[RLIMIT_STACK as usize].rlim_cur,
            address_space: l[RLIMIT_AS as usize].rlim_cur,
            data: l[RLIMIT_DATA as usize].rlim_cur,
        }
    }

    /// The open-file limit as a table bound.
    pub fn nofile(&self) -> usize {
        self.rlimit(RLIMIT_NOFILE)
            .min(NR_OPEN.load(Ordering::Relaxed) as u64) as usize
    }

    /// The command name of the process: its leader's (or, once the leader has
    /// exited, any live thread's).
    pub fn comm(&self) -> Vec<u8> {
        let threads = self.threads.lock();
        threads
            .iter()
            .find(|t| t.tid() == self.pid)
            .or_else(|| threads.first())
            .map(|t| t.comm())
            .unwrap_or_default()
    }

    /// Decides that the process ends with `wstatus` and stops all its threads. The
    /// first decision wins (a fatal signal racing exit_group).
    pub fn begin_exit(&self, wstatus: u32) {
        {
            let mut e = self.exiting.lock();
            if e.is_none() {
                *e = Some(wstatus);
            }
        }
        for t in self.threads.lock().iter() {
            t.kill();
        }
    }

    /// exit_group(2): [`Process::begin_exit`], unless another thread's
    /// execve waits for the others to end; then only the calling thread
    /// exits, with status 0, and the exec goes on (Linux's do_group_exit
    /// with group_exec_task set). False then.
    pub fn exit_group(&self, wstatus: u32) -> bool {
        {
            let mut e = self.exiting.lock();
            if e.is_none() {
                if self.execing.load(Ordering::Relaxed) {
                    return false;
                }
                *e = Some(wstatus);
            }
        }
        for t in self.threads.lock().iter() {
            t.kill();
        }
        true
    }

    /// Like [`Process::begin_exit`], but tells only the threads other than `me`
    /// to exit, so `me` can write a core file first. False if an exit was already
    /// under way (then that one stands, and nothing is dumped).
    pub fn claim_exit(&self, wstatus: u32, me: &Arc<Thread>) -> bool {
        {
            let mut e = self.exiting.lock();
            if e.is_some() {
                return false;
            }
            *e = Some(wstatus);
        }
        for t in self.threads.lock().iter() {
            if !Arc::ptr_eq(t, me) {
                t.kill();
            }
        }
        true
    }

    /// The start of execve's de_thread (Linux's zap_other_threads): every
    /// thread but `me` is killed, and those running user code on another CPU
    /// are interrupted so that they stop at once. EAGAIN if an exit or
    /// another thread's exec is under way (`me` was killed then, or is about
    /// to be: it dies, as the loser of Linux's race does). The caller waits
    /// until it is alone ([`Process::alone`]), then calls
    /// [`Process::end_exec`]; meanwhile a thread being made is born killed.
    pub fn begin_exec(&self, me: &Arc<Thread>) -> KResult<()> {
        {
            let e = self.exiting.lock();
            if e.is_some() || self.execing.load(Ordering::Relaxed) {
                // The exit or the other exec kills every thread but its own,
                // this one too: it may be about to, so `me` is killed now,
                // lest it go back to user mode with EAGAIN in between (on
                // Linux the kill comes in the same step as the mark).
                me.kill();
                return Err(Errno::EAGAIN);
            }
            self.execing.store(true, Ordering::Release);
        }
        let others: Vec<Arc<Thread>> = self
            .threads
            .lock()
            .iter()
            .filter(|t| !Arc::ptr_eq(t, me))
            .cloned()
            .collect();
        for t in &others {
            t.kill();
        }
        interrupt_user(&others);
        Ok(())
    }

    /// The end of an exec's wait ([`Process::begin_exec`]), whatever its
    /// outcome.
    pub fn end_exec(&self) {
        let _e = self.exiting.lock();
        self.execing.store(false, Ordering::Release);
    }

    /// Whether an exec waits for the other threads to end.
    pub fn exec_in_progress(&self) -> bool {
        self.execing.load(Ordering::Acquire)
    }

    /// Whether `me` is the process's only thread.
    pub fn alone(&self, me: &Arc<Thread>) -> bool {
        let threads = self.threads.lock();
        threads.len() == 1 && Arc::ptr_eq(&threads[0], me)
    }

    /// An exec's thread, now alone, takes the leader's identity if it is
    /// not the leader (Linux's exchange_tids in de_thread): its id becomes
    /// the process's, in the thread table and for the children it made.
    /// Returns its former id.
    pub fn become_leader(&self, me: &Arc<Thread>) -> Pid {
        let old = me.tid();
        if old == self.pid {
            return old;
        }
        {
            // The leader's entry went when it exited (before it left
            // `threads`, so it is gone now that `me` is alone).
            let mut table = THREADS.lock();
            table.remove(&old);
            table.insert(self.pid, Arc::downgrade(me));
            me.tid.store(self.pid, Ordering::Relaxed);
        }
        for c in self.children.lock().iter() {
            let _ =
                c.parent_tid
                    .compare_exchange(old, self.pid, Ordering::Relaxed, Ordering::Relaxed);
        }
        crate::perf::retid(me, old);
        crate::trace::note_comm(self.pid, self.pid, &me.comm());
        old
    }

    /// Sets the core-dumped bit (0x80) of the exit's wait status.
    pub fn mark_core_dumped(&self) {
        if let Some(s) = self.exiting.lock().as_mut() {
            *s |= 0x80;
        }
    }

    /// CPU time of the process: live threads plus exited ones, (user, system) ns.
    pub fn cpu_time(&self) -> (u64, u64) {
        let (mut u, mut s) = self.dead_threads_cpu.get();
        for t in self.threads.lock().iter() {
            let (tu, ts) = t.cpu.split();
            u += tu;
            s += ts;
        }
        (u, s)
    }

    /// Context switches of the process: live threads plus exited ones,
    /// (voluntary, involuntary).
    pub fn switches(&self) -> (u64, u64) {
        let (mut v, mut i) = self.dead_threads_cpu.switches();
        for t in self.threads.lock().iter() {
            let (tv, ti) = t.cpu.switches();
            v += tv;
            i += ti;
        }
        (v, i)
    }

    /// The wait status exit_group or a fatal signal decided on, if any.
    pub fn exit_status(&self) -> Option<u32> {
        *self.exiting.lock()
    }
}

impl Thread {
    /// The thread id. Fixed for the thread's life, but for one change: a
    /// thread other than the leader that execs takes the process's id
    /// ([`exec`]'s de_thread, as Linux's exchange_tids).
    #[inline]
    pub fn tid(&self) -> Pid {
        self.tid.load(Ordering::Relaxed)
    }

    fn new(
        tid: Pid,
        process: Arc<Process>,
        sigmask: u64,
        fpu: FpuState,
        comm: [u8; 16],
    ) -> Arc<Self> {
        let t = Arc::new(Self {
            tid: AtomicU32::new(tid),
            process,
            sigmask: AtomicU64::new(sigmask),
            clear_child_tid: AtomicU64::new(0),
            robust_list: AtomicU64::new(0),
            waker: futures_util::task::AtomicWaker::new(),
            // Until the thread loop first looks: a process-wide condition set
            // while this thread was made reaches it through `recheck_work`.
            work: core::sync::atomic::AtomicU8::new(work::LOOP),
            exit_code: AtomicU32::new(0),
            fpu: spin::Mutex::new(fpu),
            signals: signal::ThreadSignals::default(),
            cpu: CpuClock::default(),
            comm: spin::Mutex::new(comm),
            task: spin::Once::new(),
            in_syscall: AtomicU32::new(0),
            ptrace: ptrace::TraceeSlot::default(),
            ptrace_flags: AtomicU32::new(0),
            pkru: AtomicU32::new(crate::arch::cpu::INIT_PKRU),
            seccomp_mode: core::sync::atomic::AtomicU8::new(0),
            rare: spin::Once::new(),
        });
        THREADS.lock().insert(tid, Arc::downgrade(&t));
        {
            let mut threads = t.process.threads.lock();
            // A thread made while its process exits or execs (a clone that
            // raced exit_group, a fatal signal or execve's de_thread) would
            // outlive the killing: it is born killed, and ends before it runs
            // user code.
            if t.process.exec_in_progress() || t.process.exiting.lock().is_some() {
                t.work.fetch_or(work::KILL | work::LOOP, Ordering::SeqCst);
            }
            threads.push(t.clone());
        }
        crate::trace::note_comm(t.process.pid, tid, &t.comm());
        t
    }

    /// A thread `parent` makes (fork or clone) in `process`: it inherits the
    /// parent's signal mask, FPU state, name, I/O priority, protection-key
    /// rights, seccomp filters and NUMA policy.
    fn new_child(tid: Pid, process: Arc<Process>, parent: &Arc<Thread>) -> Arc<Self> {
        let t = Thread::new(
            tid,
            process,
            parent.sigmask.load(Ordering::Relaxed),
            parent.fpu_snapshot(),
            *parent.comm.lock(),
        );
        t.set_ioprio(parent.ioprio());
        t.pkru
            .store(parent.pkru.load(Ordering::Relaxed), Ordering::Relaxed);
        crate::syscall::seccomp::inherit(parent, &t);
        t.set_mempolicy(parent.mempolicy());
        t
    }

    /// Sets the protection-key rights of this thread, the one the CPU works
    /// for now, in force at once (for the kernel's copies too).
    pub fn set_pkru(&self, v: u32) {
        self.pkru.store(v, Ordering::Relaxed);
        crate::arch::cpu::load_pkru(v);
    }

    /// Makes this thread the one the CPU works for, before its task (or a
    /// task acting for it) runs: its address space loaded, its protection-key
    /// rights in PKRU, and itself as the current thread.
    pub fn make_current(self: &Arc<Self>) {
        self.process.activate_mm();
        crate::arch::cpu::load_pkru(self.pkru.load(Ordering::Relaxed));
        set_current(Some(self.clone()));
    }

    /// A copy of this thread's FPU state as it is now (for a child of fork or clone).
    pub fn fpu_snapshot(self: &Arc<Self>) -> FpuState {
        let me: Arc<dyn HasFpu> = self.clone();
        fpu::sync_to_memory(&me);
        self.fpu.lock().clone()
    }

    /// The CPUs this thread may run on (bit n: CPU n).
    pub fn affinity(&self) -> u64 {
        self.task.get().map_or(u64::MAX, |t| t.affinity())
    }

    /// Sets the command name (the first 15 bytes of `name`).
    pub fn set_comm(&self, name: &[u8]) {
        let mut c = [0u8; 16];
        let n = name.len().min(15);
        c[..n].copy_from_slice(&name[..n]);
        *self.comm.lock() = c;
        crate::trace::note_comm(self.process.pid, self.tid(), &name[..n]);
    }

    /// The command name.
    pub fn comm(&self) -> Vec<u8> {
        let c = *self.comm.lock();
        c[..c.iter().position(|&b| b == 0).unwrap_or(16)].to_vec()
    }

    /// Stops the thread: whatever it awaits is dropped and it exits.
    pub fn kill(&self) {
        self.work
            .fetch_or(work::KILL | work::LOOP, Ordering::SeqCst);
        self.wake_waits();
    }

    /// Something that sends this thread's system calls the general way (see
    /// [`Thread::needs_loop`]) may have become true: set after the condition
    /// itself, so that the fast path, which tests only this, either sees the
    /// mark or ran before the condition was set. (A locked OR: ordered after
    /// the condition's store, and against [`Thread::recheck_work`]'s exchange.)
    #[inline]
    pub fn mark_work(&self) {
        self.work.fetch_or(work::LOOP, Ordering::SeqCst);
    }

    /// Whether the thread loop has work before or after a system call (the
    /// fast path's one test for everything in [`Thread::needs_loop`]).
    #[inline(always)]
    pub fn has_work(&self) -> bool {
        self.work.load(Ordering::Acquire) != 0
    }

    /// Clears the work mark if nothing of [`Thread::needs_loop`] holds; called
    /// by the thread's own loop before each return to user mode. The mark is
    /// taken first and the conditions read after it: a condition set while they
    /// are read marks the thread again (its setter's OR comes after this
    /// exchange) or is seen by the reads (its OR came before). A killed or
    /// exiting thread keeps it.
    #[inline]
    pub fn recheck_work(&self) {
        if self.work.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.work.fetch_and(!work::LOOP, Ordering::SeqCst);
        if self.needs_loop() {
            self.work.fetch_or(work::LOOP, Ordering::SeqCst);
        }
    }

    /// What sends a system call the general way, unrun, or makes the loop act
    /// after one: traced (ptrace's stops), in seccomp, killed or exiting, a
    /// CPU-time timer (setitimer's virtual and profiling clocks, RLIMIT_CPU,
    /// CPU-time POSIX timers) or a perf event in the process, a job-control
    /// stop or a freeze, a mask to put back. (Pending signals are not here:
    /// the fast path tests them itself, from the pending sets.)
    fn needs_loop(&self) -> bool {
        let p = &self.process;
        self.ptraced()
            || self.seccomp_active()
            || self.should_exit()
            || p.cpu_timers_armed.load(Ordering::Acquire)
            || p.perf.active()
            || p.signals.stopped.load(Ordering::Acquire)
            || p.signals.frozen.load(Ordering::Acquire)
            || self.has_saved_mask()
    }

    /// Wakes the thread's own waits (a signal arrived, its tracer resumed it,
    /// it was killed): whichever is pending checks its condition again.
    pub fn wake_waits(&self) {
        self.waker.wake();
    }

    /// Waits until `cond` gives a value, checked at each [`Thread::wake_waits`].
    /// Only for the thread's own task (a wait for a signal, a stop's end),
    /// polled with that task's waker: the slot keeps one waker.
    pub fn wait_until<T, F: FnMut() -> Option<T> + Unpin>(&self, cond: F) -> ThreadWait<'_, F> {
        ThreadWait { thread: self, cond }
    }

    /// Whether [`Thread::kill`] was called.
    #[inline]
    pub fn killed(&self) -> bool {
        self.work.load(Ordering::Acquire) & work::KILL != 0
    }

    /// Whether the thread was killed; if not, `cx` is woken when it is (every
    /// pending system call is raced against this).
    pub fn poll_killed(&self, cx: &mut core::task::Context<'_>) -> bool {
        self.waker.register(cx.waker());
        self.killed()
    }

    /// The thread asked to exit; the thread loop ends after the current syscall.
    pub fn request_exit(&self) {
        self.work
            .fetch_or(work::EXIT | work::LOOP, Ordering::SeqCst);
    }

    /// Records the status given to exit or exit_group.
    pub fn set_exit_code(&self, code: u32) {
        self.exit_code.store(code, Ordering::Relaxed);
    }

    /// The status given to exit or exit_group.
    pub fn exit_code(&self) -> u32 {
        self.exit_code.load(Ordering::Relaxed)
    }

    /// Whether the thread should leave its loop.
    #[inline]
    pub fn should_exit(&self) -> bool {
        self.work.load(Ordering::Acquire) & (work::KILL | work::EXIT) != 0
    }
}

/// What a new process (fork/clone) shares with its parent.
#[derive(Clone)]
pub struct CloneShare {
    /// The namespaces it starts in when clone made new ones (else the parent's).
    pub nsproxy: Option<Arc<crate::ns::NsProxy>>,
    pub vm: bool,
    pub files: bool,
    pub fs: bool,
    pub sighand: bool,
    /// CLONE_PARENT: the new process is a sibling, not a child.
    pub parent: bool,
    pub exit_signal: u32,
    /// clone3's set_tid: the pid the new process must get.
    pub pid: Option<Pid>,
    /// clone3's CLONE_INTO_CGROUP: the cgroup it starts in (else the parent's).
    pub cgroup: Option<kestrel_cgroup::CgId>,
}

/// Creates a child process of `parent_thread`'s process, and its first thread.
/// Returns the new thread (its task is not started yet).
pub fn fork_process(parent_thread: &Arc<Thread>, share: CloneShare) -> KResult<Arc<Thread>> {
    let parent = &parent_thread.process;
    // A SCHED_DEADLINE process cannot fork (its bandwidth is its own) unless
    // SCHED_RESET_ON_FORK gives the child SCHED_OTHER.
    crate::syscall::sched::may_fork(parent)?;
    // RLIMIT_NPROC counts the processes of the real user (root is exempt in Linux
    // only with CAP_SYS_RESOURCE; we apply the limit to everyone but root).
    let cred = parent.cred.lock().clone();
    // CAP_SYS_RESOURCE and CAP_SYS_ADMIN exempt from RLIMIT_NPROC, as in Linux.
    if !cred.capable(CAP_SYS_RESOURCE) && !cred.capable(CAP_SYS_ADMIN) {
        let limit = parent.rlimit(RLIMIT_NPROC);
        let mine = all()
            .iter()
            .filter(|p| p.cred.lock().uid == cred.uid)
            .count() as u64;
        if mine >= limit {
            return Err(Errno::EAGAIN);
        }
    }
    let mm = if share.vm {
        parent.mm()
    } else {
        parent.mm().fork()?
    };
    let files = if share.files {
        parent.files()
    } else {
        let copy = parent.files().lock().clone();
        check_nr_open(&copy)?;
        Arc::new(spin::Mutex::new(copy))
    };
    let fs = if share.fs {
        parent.fs()
    } else {
        Arc::new(spin::Mutex::new(parent.fs().lock().clone()))
    };
    let sigactions = if share.sighand {
        parent.sigactions()
    } else {
        Arc::new(spin::Mutex::new(parent.sigactions().lock().clone()))
    };
    let real_parent = if share.parent {
        parent.parent().unwrap_or_else(|| parent.clone())
    } else {
        parent.clone()
    };
    let pid = share.pid.map_or_else(alloc_pid, alloc_pid_at)?;
    // Its cgroup's pids.max (and every ancestor's) may refuse it: EAGAIN.
    let frozen = crate::fs::cgroupfs::fork(Some(parent.pid), pid, share.cgroup)?;
    let nsproxy = share
        .nsproxy
        .clone()
        .unwrap_or_else(|| parent.nsproxy())
        .for_child();
    let pid_ns = nsproxy.pid_for_children.clone();
    let vpid = if pid_ns.is_root() {
        pid
    } else {
        pid_ns.alloc()
    };
    let child = Process::new(NewProcess {
        pid,
        vpid,
        pid_ns,
        nsproxy,
        parent: Arc::downgrade(&real_parent),
        mm,
        files,
        fs,
        sigactions,
        pgid: parent.pgid.load(Ordering::Relaxed),
        sid: parent.sid.load(Ordering::Relaxed),
        cred,
        rlimits: *parent.rlimits.lock(),
        exit_signal: share.exit_signal,
    });
    child
        .parent_tid
        .store(parent_thread.tid(), Ordering::Relaxed);
    // Into a frozen cgroup: it runs no user code until thawed.
    child.signals.frozen.store(frozen, Ordering::Relaxed);
    child
        .nice
        .store(parent.nice.load(Ordering::Relaxed), Ordering::Relaxed);
    crate::syscall::sched::inherit(parent, &child);
    child.no_new_privs.store(
        parent.no_new_privs.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    let slack = parent.timer_slack_ns.load(Ordering::Relaxed);
    child.timer_slack_ns.store(slack, Ordering::Relaxed);
    child.default_timer_slack_ns.store(slack, Ordering::Relaxed);
    *child.exe.lock() = parent.exe.lock().clone();
    *child.exe_hold.lock() = parent.exe_hold.lock().as_ref().map(|h| h.again());
    child.personality.store(
        parent.personality.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    *child.exec_info.lock() = parent.exec_info.lock().clone();
    crate::syscall::keys::fork(parent, &child);
    child.coredump_filter.store(
        parent.coredump_filter.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    // A child that starts in another time namespace than its parent's reads
    // the clock through the kernel (or again through the vDSO).
    let child_root_time = child.nsproxy().time.is_root();
    if !share.vm && child_root_time != parent.nsproxy().time.is_root() {
        crate::vdso::use_syscalls(&child.mm(), !child_root_time)?;
    }
    real_parent.children.lock().push(child.clone());
    let thread = Thread::new_child(pid, child, parent_thread);
    if !share.vm {
        crate::syscall::rseq::fork(parent_thread, &thread);
    }
    Ok(thread)
}

/// Creates a new thread in `parent_thread`'s process (CLONE_THREAD).
pub fn new_thread(parent_thread: &Arc<Thread>) -> KResult<Arc<Thread>> {
    let tid = alloc_pid()?;
    // A thread counts against pids.max as a process does.
    crate::fs::cgroupfs::new_thread(parent_thread.process.pid)?;
    crate::syscall::keys::new_thread(parent_thread, tid);
    Ok(Thread::new_child(
        tid,
        parent_thread.process.clone(),
        parent_thread,
    ))
}

/// A thread of `p` is gone: if one is left and it waits in execve for the
/// others to end, it goes on.
fn wake_exec(p: &Process, threads: &[Arc<Thread>]) {
    if let [last] = threads
        && p.exec_in_progress()
    {
        last.wake_waits();
    }
}

/// Interrupts the CPUs running any of `threads` in user mode, so that a kill
/// takes effect now rather than at the end of the time slice (Linux's
/// kick_process).
fn interrupt_user(threads: &[Arc<Thread>]) {
    if threads.is_empty() {
        return;
    }
    let me = crate::task::this_cpu();
    for (cpu, current) in CURRENT
        .iter()
        .enumerate()
        .take(crate::arch::percpu::online())
    {
        if cpu == me {
            continue;
        }
        let running = current
            .lock()
            .as_ref()
            .is_some_and(|c| threads.iter().any(|t| Arc::ptr_eq(c, t)));
        if running {
            crate::task::interrupt_cpu(cpu);
        }
    }
}

/// Undoes a clone whose task could not be started.
pub fn abandon(thread: &Arc<Thread>) {
    crate::perf::thread_exit(thread);
    THREADS.lock().remove(&thread.tid());
    let p = &thread.process;
    let alone = {
        let mut threads = p.threads.lock();
        threads.retain(|t| !Arc::ptr_eq(t, thread));
        wake_exec(p, &threads);
        threads.is_empty()
    };
    if alone {
        if let Some(parent) = p.parent() {
            parent.children.lock().retain(|c| !Arc::ptr_eq(c, p));
        }
        // Its cgroup charge goes before its pid can be taken again.
        crate::fs::cgroupfs::released(p);
        PROCESSES.lock().remove(&p.pid);
    } else {
        crate::fs::cgroupfs::thread_gone(p.pid);
    }
}

/// Creates init (pid 1) with an empty address space, the given fs context and fds.
pub fn create_init(fs: FsContext, files: FdTable) -> KResult<Arc<Thread>> {
    let pid = alloc_pid()?;
    let p = Process::new(NewProcess {
        pid,
        vpid: pid,
        pid_ns: crate::ns::init_pid_ns(),
        nsproxy: crate::ns::init_proxy(),
        parent: Weak::new(),
        mm: AddressSpace::new()?,
        files: Arc::new(spin::Mutex::new(files)),
        fs: Arc::new(spin::Mutex::new(fs)),
        sigactions: Arc::new(spin::Mutex::new(SigActions::default())),
        pgid: pid,
        sid: pid,
        cred: Credentials::default(),
        rlimits: default_rlimits(),
        exit_signal: 0,
    });
    INIT.call_once(|| p.clone());
    crate::fs::cgroupfs::fork(None, pid, None)?;
    empty_mm();
    let t = Thread::new(pid, p, 0, FpuState::initial(), [0; 16]);
    t.set_comm(b"init");
    Ok(t)
}

/// A thread has left its loop: release it, and if it was the last one, the process.
/// Returns the process's wait status when `thread` was its last: the caller
/// then ends the process with [`process_exited`] (after its accounting
/// record, which may wait for a disk).
pub fn thread_exited(thread: &Arc<Thread>) -> Option<u32> {
    let code = thread.exit_code();
    let p = thread.process.clone();
    let mm = p.mm();
    crate::syscall::futex::exit_robust_list(
        &mm,
        thread.robust_list.swap(0, Ordering::AcqRel),
        thread.tid(),
    );
    let tidptr = thread.clear_child_tid.swap(0, Ordering::AcqRel);
    if tidptr != 0 {
        // CLONE_CHILD_CLEARTID: zero the tid word and wake its futex (pthread_join).
        let tidptr = kestrel_usermem::UserPtr::<u32>::new(tidptr);
        if mm.write(tidptr, &0).is_ok()
            && let Ok(key) = mm.futex_key(tidptr, false)
        {
            crate::futex::wake(key, 1, u32::MAX);
        }
    }
    // Not held past here: the last thread's address space must be gone before the
    // parent hears of the exit (its System V shm attachments with it, as Linux's
    // exit_mm comes before exit_notify).
    drop(mm);
    // Its perf events stop (inherited copies add their counts to their
    // parents') before the parent can reap it, as Linux's perf_event_exit_task.
    crate::perf::thread_exit(thread);
    THREADS.lock().remove(&thread.tid());
    crate::syscall::keys::thread_exited(&p, thread.tid());
    p.dead_threads_cpu.add(thread.cpu.split());
    p.dead_threads_cpu.add_switches(thread.cpu.switches());
    // PR_SET_PDEATHSIG: children this thread created are told it is gone.
    for c in p.children.lock().clone() {
        let sig = c.pdeathsig.load(Ordering::Relaxed);
        if sig != 0 && c.parent_tid.load(Ordering::Relaxed) == thread.tid() {
            signal::send(&c, sig);
        }
    }
    let (last, replaced) = {
        let mut threads = p.threads.lock();
        threads.retain(|t| !Arc::ptr_eq(t, thread));
        // The leader killed by another thread's execve, whose id that thread
        // takes: known here, before the exec can go on (it waits for this).
        let replaced = !threads.is_empty() && thread.tid() == p.pid && p.exec_in_progress();
        wake_exec(&p, &threads);
        (threads.is_empty(), replaced)
    };
    let status = p
        .exit_status()
        .unwrap_or_else(|| wstatus_exited(code as u8));
    ptrace::thread_exited(thread, status, last, replaced);
    if !last {
        crate::fs::cgroupfs::thread_gone(p.pid);
    }
    if last {
        if let Some(counts) = &p.syscall_counts {
            counts.report(p.pid, &thread.comm());
        }
        return Some(status);
    }
    None
}

/// The last thread of `p` is gone: free what it held, become a zombie, tell the
/// parent, hand the children to init.
pub fn process_exited(p: &Arc<Process>, wstatus: u32) {
    // Its program may be written again (Linux drops the mm's exe_file).
    drop(p.exe_hold.lock().take());
    timers::exit(p);
    ptrace::tracer_exited(p);
    // Release the vfork parent, if any.
    let vfork = p.vfork.lock().take();
    if let Some(v) = vfork {
        v.release();
    }
    // Drop the files outside every lock (closing pipe ends wakes other tasks).
    let closed = {
        let files = p.files();
        let mut t = files.lock();
        if Arc::strong_count(&files) <= 2 {
            t.clear()
        } else {
            Vec::new()
        }
    };
    drop(closed);
    // Its POSIX locks go with it, whoever else still has the files open.
    crate::syscall::locks::process_exited(p);
    // Its SEM_UNDO adjustments apply.
    crate::syscall::ipc::process_exited(p);
    // Its keyrings go (keys nothing else holds with them).
    drop(core::mem::take(&mut *p.keyrings.lock()));
    // Its SCHED_DEADLINE bandwidth is free for others.
    crate::syscall::sched::exited(p);
    // The address space goes when its last user does (threads are gone). The
    // stand-in needs no memory: this is how memory comes back when it ran out.
    p.sample_rss();
    let old = p.replace_mm(empty_mm());
    drop(old);
    // It no longer populates its cgroup (Linux's cgroup_exit); its pids
    // charge stays until it is reaped.
    crate::fs::cgroupfs::exited(p);
    // Orphans go to the nearest subreaper ancestor, else init.
    let orphans = core::mem::take(&mut *p.children.lock());
    let mut adopter = p.parent();
    while let Some(a) = adopter.clone() {
        if a.subreaper.load(Ordering::Relaxed) && a.state() == State::Running {
            break;
        }
        adopter = a.parent();
    }
    let adopter = adopter
        .or_else(|| INIT.get().cloned())
        .filter(|i| !Arc::ptr_eq(i, p));
    if let Some(adopter) = adopter {
        let any_zombie = orphans.iter().any(|c| c.state() != State::Running);
        for c in &orphans {
            *c.parent.lock() = Arc::downgrade(&adopter);
            c.parent_pid.store(adopter.pid, Ordering::Relaxed);
            c.parent_tid.store(0, Ordering::Relaxed);
        }
        adopter.children.lock().extend(orphans);
        if any_zombie {
            adopter.child_event.wake_all();
        }
    }
    // Becoming a zombie and the parent's SIGCHLD happen under the parent's
    // children lock, which wait holds while it looks: a wait on another CPU sees
    // both or neither (as Linux's tasklist_lock makes them one step). A parent
    // that discards its children's status never sees this one: it leaves the list
    // in the same step.
    let parent = p.parent();
    let discarded = match &parent {
        Some(parent) => {
            let mut siblings = parent.children.lock();
            let discard = signal::parent_ignores_children(parent);
            if discard {
                siblings.retain(|c| !Arc::ptr_eq(c, p));
            }
            *p.state.lock() = State::Zombie(wstatus);
            if !discard {
                signal::child_exited(parent, p, wstatus);
            }
            drop(siblings);
            discard
        }
        None => {
            *p.state.lock() = State::Zombie(wstatus);
            false
        }
    };
    p.exit_wq.wake_all();
    log::debug!(
        "process {} ({}) exited with status {:#x}",
        p.pid,
        alloc::string::String::from_utf8_lossy(&p.comm()),
        wstatus
    );
    if p.pid == 1 {
        if crate::fs::ext2::any_mounted() {
            // Disk file systems are written and marked clean first (a task: it
            // waits on the disks), then the machine powers off.
            crate::task::spawn("poweroff", async move {
                crate::fs::ext2::unmount_all().await;
                crate::power::init_exited(wstatus)
            })
            .detach();
        } else {
            crate::power::init_exited(wstatus);
        }
    }
    match parent {
        Some(parent) => {
            if discarded {
                // Reaped at once; a parent blocked in wait then finds no child
                // (ECHILD).
                account_reaped(&parent, p);
            }
            parent.child_event.wake_all();
        }
        None => {
            crate::fs::cgroupfs::released(p);
            PROCESSES.lock().remove(&p.pid);
        }
    }
}

/// A zombie child left its parent's list: its CPU time (and its children's)
/// joins the parent's RUSAGE_CHILDREN, and it leaves the process table.
fn account_reaped(parent: &Process, child: &Arc<Process>) {
    let (u, s) = child.cpu_time();
    let (cu, cs) = child.children_cpu.get();
    parent.children_cpu.add((u + cu, s + cs));
    let (v, i) = child.switches();
    let (cv, ci) = child.children_cpu.switches();
    parent.children_cpu.add_switches((v + cv, i + ci));
    // Its cgroup charge goes before its pid can be taken again.
    crate::fs::cgroupfs::released(child);
    PROCESSES.lock().remove(&child.pid);
}

/// Which children a wait4/waitid call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    Any,
    Pid(Pid),
    Pgid(Pid),
}

/// Which state changes a wait collects (wait4/waitid options).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitOptions {
    pub exited: bool,
    pub stopped: bool,
    pub continued: bool,
    /// Leave the child waitable (WNOWAIT).
    pub nowait: bool,
}

/// What a wait found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitResult {
    pub pid: Pid,
    pub uid: u32,
    /// The wait status (WIFEXITED/WIFSIGNALED/WIFSTOPPED/WIFCONTINUED encoding).
    pub status: u32,
    /// The child's CPU time (user, system) ns, its reaped children's included.
    pub cpu: (u64, u64),
    /// The child's (voluntary, involuntary) context switches, the same way.
    pub switches: (u64, u64),
}

/// One round of a wait: a matching child with a state change it asks for (a zombie is
/// reaped unless `nowait`), `Ok(None)` if matching children exist but none changed,
/// or ECHILD.
pub fn try_wait(
    parent: &Arc<Process>,
    which: WaitFor,
    opts: WaitOptions,
) -> KResult<Option<WaitResult>> {
    // Held while looking: a child's state change and its SIGCHLD are published
    // under this lock (process_exited, signal::notify_parent).
    let mut children = parent.children.lock();
    let matching: Vec<Arc<Process>> = children
        .iter()
        .filter(|c| match which {
            WaitFor::Any => true,
            WaitFor::Pid(pid) => c.pid == pid,
            WaitFor::Pgid(g) => c.pgid.load(Ordering::Relaxed) == g,
        })
        .cloned()
        .collect();
    // Threads it traces: their ptrace stops are reported whatever the options
    // ask (WUNTRACED is not needed), and their exits.
    let tracees: Vec<Arc<Thread>> = parent
        .tracees
        .lock()
        .iter()
        .filter(|t| match which {
            WaitFor::Any => true,
            WaitFor::Pid(pid) => t.tid() == pid,
            WaitFor::Pgid(g) => t.process.pgid.load(Ordering::Relaxed) == g,
        })
        .cloned()
        .collect();
    if matching.is_empty() && tracees.is_empty() {
        return Err(Errno::ECHILD);
    }
    for t in &tracees {
        if let Some(status) = ptrace::wait_report(parent, t, opts.exited, opts.nowait) {
            let uid = t.process.cred.lock().uid;
            return Ok(Some(WaitResult {
                pid: t.tid(),
                uid,
                status,
                cpu: t.cpu.split(),
                switches: t.cpu.switches(),
            }));
        }
    }
    for c in &matching {
        let uid = c.cred.lock().uid;
        let (u, s) = c.cpu_time();
        let (cu, cs) = c.children_cpu.get();
        let cpu = (u + cu, s + cs);
        let (v, i) = c.switches();
        let (cv, ci) = c.children_cpu.switches();
        let switches = (v + cv, i + ci);
        if let State::Zombie(status) = c.state() {
            if opts.exited {
                if !opts.nowait {
                    children.retain(|x| !Arc::ptr_eq(x, c));
                    drop(children);
                    account_reaped(parent, c);
                    // A child waited for (not one discarded with SIGCHLD
                    // ignored) gives its ru_maxrss, as Linux's wait_task_zombie.
                    let kb = c
                        .maxrss_kb
                        .load(Ordering::Relaxed)
                        .max(c.cmaxrss_kb.load(Ordering::Relaxed));
                    parent.cmaxrss_kb.fetch_max(kb, Ordering::Relaxed);
                }
                return Ok(Some(WaitResult {
                    pid: c.pid,
                    uid,
                    status,
                    cpu,
                    switches,
                }));
            }
            continue;
        }
        if c.threads
            .lock()
            .iter()
            .any(|t| t.ptraced() && ptrace::tracer_of(t).is_some_and(|tr| Arc::ptr_eq(&tr, parent)))
        {
            continue;
        }
        let mut report = c.signals.report.lock();
        let wanted = match *report {
            Some(0xffff) => opts.continued,
            Some(_) => opts.stopped,
            None => false,
        };
        if wanted {
            let status = report.expect("checked above");
            if !opts.nowait {
                *report = None;
            }
            return Ok(Some(WaitResult {
                pid: c.pid,
                uid,
                status,
                cpu,
                switches,
            }));
        }
    }
    Ok(None)
}

/// Processes in process group `pgid`.
/// Whether process group `pgid` is orphaned (POSIX): no member has a parent in
/// another group of the same session, so no shell is there to continue it. A
/// stopped orphaned group could never be resumed, so the terminal refuses to stop
/// it (EIO instead of SIGTTIN/SIGTTOU).
pub fn pgrp_orphaned(pgid: Pid) -> bool {
    !in_group(pgid).iter().any(|p| {
        p.parent().is_some_and(|parent| {
            parent.pid != 1
                && parent.pgid.load(Ordering::Relaxed) != pgid
                && parent.sid.load(Ordering::Relaxed) == p.sid.load(Ordering::Relaxed)
        })
    })
}

pub fn in_group(pgid: Pid) -> Vec<Arc<Process>> {
    all()
        .into_iter()
        .filter(|p| p.pgid.load(Ordering::Relaxed) == pgid && p.state() == State::Running)
        .collect()
}
