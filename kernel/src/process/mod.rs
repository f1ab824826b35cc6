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
pub mod signal;
pub mod thread;

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kestrel_abi::process::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{DentryRef, FdTable};

use crate::arch::fpu::{self, FpuState, HasFpu};
use crate::mm::vm::AddressSpace;
use signal::SigActions;

/// Process and thread ids share one number space, as in Linux.
pub type Pid = u32;

/// Something several processes may share (`clone` flags decide).
pub type Shared<T> = Arc<spin::Mutex<T>>;

/// Linux's default pid_max on small machines.
const PID_MAX: Pid = 32_768;

/// The current directory, root and umask (shared with CLONE_FS).
#[derive(Clone, Debug)]
pub struct FsContext {
    pub root: DentryRef,
    pub cwd: DentryRef,
    pub umask: u32,
}

/// User and group ids (credentials(7)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
}

impl Credentials {
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
    parent: spin::Mutex<Weak<Process>>,
    children: spin::Mutex<Vec<Arc<Process>>>,
    pub threads: spin::Mutex<Vec<Arc<Thread>>>,
    pub mm: spin::Mutex<Arc<AddressSpace>>,
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
    /// The command name (comm, 15 bytes + NUL).
    pub comm: spin::Mutex<[u8; 16]>,
    /// The executable.
    pub exe: spin::Mutex<Option<DentryRef>>,
    /// Set while a vfork child has not exec'd or exited yet: the parent waits.
    pub vfork: spin::Mutex<Option<Arc<VforkDone>>>,
    /// The signal sent to the parent at exit (SIGCHLD for fork).
    pub exit_signal: u32,
    /// Set once exit_group or a fatal signal has decided the process's fate.
    exiting: spin::Mutex<Option<u32>>,
    /// Monotonic ns at creation.
    pub start_ns: u64,
    /// Set by execve (setpgid on a child that exec'd is EACCES).
    pub did_exec: AtomicBool,
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

/// A user thread.
pub struct Thread {
    pub tid: Pid,
    pub process: Arc<Process>,
    /// Blocked signals.
    pub sigmask: AtomicU64,
    /// set_tid_address / CLONE_CHILD_CLEARTID: cleared and futex-woken at exit.
    pub clear_child_tid: AtomicU64,
    kill: AtomicBool,
    kill_wq: WaitQueue,
    /// Set when this thread asked to exit (exit or exit_group).
    exit_requested: AtomicBool,
    /// The status passed to exit/exit_group.
    exit_code: AtomicU32,
    /// Saved FPU/SSE/AVX registers (live in the CPU while this thread owns it).
    pub fpu: spin::Mutex<alloc::boxed::Box<FpuState>>,
}

impl HasFpu for Thread {
    fn fpu(&self) -> &spin::Mutex<alloc::boxed::Box<FpuState>> {
        &self.fpu
    }
}

static PROCESSES: spin::Mutex<BTreeMap<Pid, Weak<Process>>> = spin::Mutex::new(BTreeMap::new());
static THREADS: spin::Mutex<BTreeMap<Pid, Weak<Thread>>> = spin::Mutex::new(BTreeMap::new());
static NEXT_PID: AtomicU32 = AtomicU32::new(1);
static INIT: spin::Once<Arc<Process>> = spin::Once::new();

/// A free id (pids and tids share the space; wraps at pid_max, skipping live ones).
fn alloc_pid() -> KResult<Pid> {
    let procs = PROCESSES.lock();
    let threads = THREADS.lock();
    for _ in 0..PID_MAX {
        let pid = NEXT_PID.fetch_add(1, Ordering::Relaxed);
        let pid = if pid >= PID_MAX {
            NEXT_PID.store(301, Ordering::Relaxed); // Linux restarts above the reserved range
            300
        } else {
            pid
        };
        if !procs.contains_key(&pid) && !threads.contains_key(&pid) {
            return Ok(pid);
        }
    }
    Err(Errno::EAGAIN)
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

/// How many processes exist (sysinfo).
pub fn count() -> usize {
    PROCESSES.lock().len()
}

/// What a new process starts with.
struct NewProcess {
    pid: Pid,
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
            parent: spin::Mutex::new(n.parent),
            children: spin::Mutex::new(Vec::new()),
            threads: spin::Mutex::new(Vec::new()),
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
            comm: spin::Mutex::new([0; 16]),
            exe: spin::Mutex::new(None),
            vfork: spin::Mutex::new(None),
            exit_signal: n.exit_signal,
            exiting: spin::Mutex::new(None),
            start_ns: crate::time::now_ns(),
            did_exec: AtomicBool::new(false),
        });
        PROCESSES.lock().insert(pid, Arc::downgrade(&p));
        p
    }

    /// The parent's pid (0 for init).
    pub fn ppid(&self) -> Pid {
        self.parent.lock().upgrade().map_or(0, |p| p.pid)
    }

    /// The parent.
    pub fn parent(&self) -> Option<Arc<Process>> {
        self.parent.lock().upgrade()
    }

    /// This process's address space.
    pub fn mm(&self) -> Arc<AddressSpace> {
        self.mm.lock().clone()
    }

    /// The fd table (possibly shared).
    pub fn files(&self) -> Shared<FdTable> {
        self.files.lock().clone()
    }

    /// The fs context (possibly shared).
    pub fn fs(&self) -> Shared<FsContext> {
        self.fs.lock().clone()
    }

    /// The signal dispositions (possibly shared).
    pub fn sigactions(&self) -> Shared<SigActions> {
        self.sigactions.lock().clone()
    }

    /// The current state.
    pub fn state(&self) -> State {
        *self.state.lock()
    }

    /// The soft limit of resource `r`.
    pub fn rlimit(&self, r: u32) -> u64 {
        self.rlimits.lock()[r as usize].rlim_cur
    }

    /// The open-file limit as a table bound.
    pub fn nofile(&self) -> usize {
        self.rlimit(RLIMIT_NOFILE).min(1 << 20) as usize
    }

    /// Sets the command name (the first 15 bytes of `name`).
    pub fn set_comm(&self, name: &[u8]) {
        let mut c = [0u8; 16];
        let n = name.len().min(15);
        c[..n].copy_from_slice(&name[..n]);
        *self.comm.lock() = c;
    }

    /// The command name.
    pub fn comm(&self) -> Vec<u8> {
        let c = *self.comm.lock();
        c[..c.iter().position(|&b| b == 0).unwrap_or(16)].to_vec()
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

    /// The wait status exit_group or a fatal signal decided on, if any.
    pub fn exit_status(&self) -> Option<u32> {
        *self.exiting.lock()
    }
}

impl Thread {
    fn new(
        tid: Pid,
        process: Arc<Process>,
        sigmask: u64,
        fpu: alloc::boxed::Box<FpuState>,
    ) -> Arc<Self> {
        let t = Arc::new(Self {
            tid,
            process,
            sigmask: AtomicU64::new(sigmask),
            clear_child_tid: AtomicU64::new(0),
            kill: AtomicBool::new(false),
            kill_wq: WaitQueue::new(),
            exit_requested: AtomicBool::new(false),
            exit_code: AtomicU32::new(0),
            fpu: spin::Mutex::new(fpu),
        });
        THREADS.lock().insert(tid, Arc::downgrade(&t));
        t.process.threads.lock().push(t.clone());
        t
    }

    /// A copy of this thread's FPU state as it is now (for a child of fork or clone).
    pub fn fpu_snapshot(self: &Arc<Self>) -> alloc::boxed::Box<FpuState> {
        let me: Arc<dyn HasFpu> = self.clone();
        fpu::sync_to_memory(&me);
        self.fpu.lock().clone()
    }

    /// Stops the thread: whatever it awaits is dropped and it exits.
    pub fn kill(&self) {
        self.kill.store(true, Ordering::Release);
        self.kill_wq.wake_all();
    }

    /// Whether [`Thread::kill`] was called.
    pub fn killed(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }

    /// Completes when the thread is killed; raced against every syscall.
    pub async fn until_killed(&self) {
        self.kill_wq
            .wait_until(|| self.killed().then_some(()))
            .await;
    }

    /// The thread asked to exit; the thread loop ends after the current syscall.
    pub fn request_exit(&self) {
        self.exit_requested.store(true, Ordering::Release);
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
    pub fn should_exit(&self) -> bool {
        self.killed() || self.exit_requested.load(Ordering::Acquire)
    }
}

/// What a new process (fork/clone) shares with its parent.
#[derive(Debug, Clone, Copy)]
pub struct CloneShare {
    pub vm: bool,
    pub files: bool,
    pub fs: bool,
    pub sighand: bool,
    /// CLONE_PARENT: the new process is a sibling, not a child.
    pub parent: bool,
    pub exit_signal: u32,
}

/// Creates a child process of `parent_thread`'s process, and its first thread.
/// Returns the new thread (its task is not started yet).
pub fn fork_process(parent_thread: &Arc<Thread>, share: CloneShare) -> KResult<Arc<Thread>> {
    let parent = &parent_thread.process;
    // RLIMIT_NPROC counts the processes of the real user (root is exempt in Linux
    // only with CAP_SYS_RESOURCE; we apply the limit to everyone but root).
    let cred = parent.cred.lock().clone();
    if cred.uid != 0 {
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
        Arc::new(spin::Mutex::new(parent.files().lock().clone()))
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
    let pid = alloc_pid()?;
    let child = Process::new(NewProcess {
        pid,
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
    *child.comm.lock() = *parent.comm.lock();
    *child.exe.lock() = parent.exe.lock().clone();
    real_parent.children.lock().push(child.clone());
    let thread = Thread::new(
        pid,
        child,
        parent_thread.sigmask.load(Ordering::Relaxed),
        parent_thread.fpu_snapshot(),
    );
    Ok(thread)
}

/// Creates a new thread in `parent_thread`'s process (CLONE_THREAD).
pub fn new_thread(parent_thread: &Arc<Thread>) -> KResult<Arc<Thread>> {
    let tid = alloc_pid()?;
    Ok(Thread::new(
        tid,
        parent_thread.process.clone(),
        parent_thread.sigmask.load(Ordering::Relaxed),
        parent_thread.fpu_snapshot(),
    ))
}

/// Undoes a clone whose task could not be started.
pub fn abandon(thread: &Arc<Thread>) {
    THREADS.lock().remove(&thread.tid);
    let p = &thread.process;
    let alone = {
        let mut threads = p.threads.lock();
        threads.retain(|t| !Arc::ptr_eq(t, thread));
        threads.is_empty()
    };
    if alone {
        if let Some(parent) = p.parent() {
            parent.children.lock().retain(|c| !Arc::ptr_eq(c, p));
        }
        PROCESSES.lock().remove(&p.pid);
    }
}

/// Creates init (pid 1) with an empty address space, the given fs context and fds.
pub fn create_init(fs: FsContext, files: FdTable) -> KResult<Arc<Thread>> {
    let pid = alloc_pid()?;
    let p = Process::new(NewProcess {
        pid,
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
    p.set_comm(b"init");
    INIT.call_once(|| p.clone());
    Ok(Thread::new(pid, p, 0, FpuState::initial()))
}

/// A thread has left its loop: release it, and if it was the last one, the process.
pub fn thread_exited(thread: &Arc<Thread>) {
    let code = thread.exit_code();
    let p = thread.process.clone();
    let tidptr = thread.clear_child_tid.swap(0, Ordering::AcqRel);
    if tidptr != 0 {
        // CLONE_CHILD_CLEARTID: zero the tid word (futex wake arrives with futexes).
        let _ = p.mm().write_user(tidptr, &0u32.to_le_bytes());
        crate::futex::wake(&p.mm(), tidptr, 1);
    }
    THREADS.lock().remove(&thread.tid);
    let last = {
        let mut threads = p.threads.lock();
        threads.retain(|t| !Arc::ptr_eq(t, thread));
        threads.is_empty()
    };
    if last {
        let status = p
            .exit_status()
            .unwrap_or_else(|| wstatus_exited(code as u8));
        process_exited(&p, status);
    }
}

/// The last thread of `p` is gone: free what it held, become a zombie, tell the
/// parent, hand the children to init.
fn process_exited(p: &Arc<Process>, wstatus: u32) {
    // Release the vfork parent, if any.
    if let Some(v) = p.vfork.lock().take() {
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
    // The address space goes when its last user does (threads are gone).
    let empty = AddressSpace::new();
    if let Ok(empty) = empty {
        let old = core::mem::replace(&mut *p.mm.lock(), empty);
        drop(old);
    }
    // Orphans go to init.
    let orphans = core::mem::take(&mut *p.children.lock());
    if let Some(init) = INIT.get().filter(|i| !Arc::ptr_eq(i, p)) {
        let any_zombie = orphans.iter().any(|c| c.state() != State::Running);
        for c in &orphans {
            *c.parent.lock() = Arc::downgrade(init);
        }
        init.children.lock().extend(orphans);
        if any_zombie {
            init.child_event.wake_all();
        }
    }
    *p.state.lock() = State::Zombie(wstatus);
    log::debug!(
        "process {} ({}) exited with status {:#x}",
        p.pid,
        alloc::string::String::from_utf8_lossy(&p.comm()),
        wstatus
    );
    if p.pid == 1 {
        crate::power::init_exited(wstatus);
    }
    match p.parent() {
        Some(parent) => {
            if signal::parent_ignores_children(&parent) {
                reap(&parent, p);
            } else {
                signal::child_exited(&parent, p);
                parent.child_event.wake_all();
            }
        }
        None => {
            PROCESSES.lock().remove(&p.pid);
        }
    }
}

/// Removes a zombie child from its parent and the process table.
fn reap(parent: &Process, child: &Arc<Process>) {
    parent.children.lock().retain(|c| !Arc::ptr_eq(c, child));
    PROCESSES.lock().remove(&child.pid);
}

/// Which children a wait4/waitid call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    Any,
    Pid(Pid),
    Pgid(Pid),
}

/// One round of wait4: a zombie child that matches (reaped unless `nowait`), or
/// `Ok(None)` if matching children exist but none has exited, or ECHILD.
pub fn try_wait(
    parent: &Arc<Process>,
    which: WaitFor,
    nowait: bool,
) -> KResult<Option<(Pid, u32)>> {
    let children = parent.children.lock().clone();
    let matching: Vec<&Arc<Process>> = children
        .iter()
        .filter(|c| match which {
            WaitFor::Any => true,
            WaitFor::Pid(pid) => c.pid == pid,
            WaitFor::Pgid(g) => c.pgid.load(Ordering::Relaxed) == g,
        })
        .collect();
    if matching.is_empty() {
        return Err(Errno::ECHILD);
    }
    for c in matching {
        if let State::Zombie(status) = c.state() {
            if !nowait {
                reap(parent, c);
            }
            return Ok(Some((c.pid, status)));
        }
    }
    Ok(None)
}

/// Processes in process group `pgid`.
pub fn in_group(pgid: Pid) -> Vec<Arc<Process>> {
    all()
        .into_iter()
        .filter(|p| p.pgid.load(Ordering::Relaxed) == pgid && p.state() == State::Running)
        .collect()
}
