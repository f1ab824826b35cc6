//! The per-CPU executors: run queues, `spawn`, stealing, and the run loop.
//!
//! # The run loop
//! Each pass first expires due timers, then polls the tasks that were queued when the
//! pass began (tasks woken during the pass wait for the next one, so timers are checked
//! between passes however busy the CPU is). When the queue is empty the loop arms the
//! platform timer for the earliest deadline and calls
//! [`Platform::wait_for_work`], which must re-check the queue with interrupts off
//! before halting (`cli; check; sti; hlt`), so a wake that races with going idle is
//! never lost.
//!
//! # Bounded queue, no allocation on wake
//! The run queue is a fixed-capacity lock-free ring sized for every task the executor
//! may own. The task state machine ([`crate::state`]) queues a task at most once, so
//! the ring cannot overflow while the number of live tasks is at most its capacity;
//! [`Executor::try_spawn`] enforces that bound. A wake therefore never allocates and
//! never fails, and interrupt handlers may wake tasks.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

use crossbeam_queue::ArrayQueue;

use crate::join::{JoinHandle, JoinSlot};
use crate::state::{AfterPoll, TaskState};
use crate::task::{Task, TaskRef};
use crate::timer::{Clock, TimerQueue};

/// What the executor needs from the machine it runs on.
pub trait Platform: Clock + Send + Sync {
    /// Make the calling CPU leave [`Platform::wait_for_work`] no later than
    /// `deadline` (monotonic nanoseconds), or disarm its timer with `None`.
    fn arm_timer(&self, deadline: Option<u64>);

    /// Sleep until something happens, unless `has_work()` is already true. The kernel
    /// checks `has_work` with interrupts disabled and halts with `sti; hlt` so that an
    /// interrupt between the check and the halt still wakes the CPU.
    fn wait_for_work(&self, has_work: &dyn Fn() -> bool);

    /// A task was pushed to CPU `cpu`'s queue, possibly from another CPU or from an
    /// interrupt handler. The kernel sends a wake-up IPI if that CPU is halted, and
    /// if `cpu` is busy and the task is `stealable` (it may run on any CPU), it may
    /// wake an idle CPU to take it.
    fn notify(&self, cpu: usize, stealable: bool);
}

/// Why a task could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// The system already owns as many live tasks as a run queue can hold.
    TooManyTasks,
}

/// The run queue of one CPU: tasks any CPU may take, and tasks pinned by their
/// affinity (only run here, never stolen, so a thief never has to look at a task
/// and put it back, which would reorder the queue).
pub(crate) struct RunQueue {
    ring: ArrayQueue<Arc<Task>>,
    pinned: ArrayQueue<Arc<Task>>,
    /// 1 while the CPU polls a task (for the load the balancer compares).
    polling: AtomicUsize,
}

impl RunQueue {
    fn len(&self) -> usize {
        self.ring.len() + self.pinned.len()
    }

    fn is_empty(&self) -> bool {
        self.ring.is_empty() && self.pinned.is_empty()
    }
}

/// The run queues of every CPU, shared by their executors and by every task's
/// waker.
///
/// # Where a task runs
/// A task has a home CPU (`Task::home`); a wake pushes it onto that CPU's queue.
/// An executor that finds its own queue empty steals: it pops a task from another
/// CPU's queue, makes itself the task's home and polls it (the task then stays
/// there until stolen again). Stealing never breaks the queued-once guarantee:
/// whichever queue holds a task, the task got there through the single IDLE →
/// QUEUED transition of [`crate::state`], and a pop hands it to exactly one CPU,
/// which moves it to RUNNING; so a task is polled by at most one CPU at a time.
///
/// # Bounded queues, no allocation on wake
/// Each queue is a fixed-capacity lock-free ring sized for every task the system
/// may own, because stealing and waking can gather any task on any queue. The live
/// count is global, and [`Executor::try_spawn`] keeps it within that capacity, so a
/// push never fails and a wake never allocates: interrupt handlers may wake tasks.
pub struct Scheduler {
    queues: alloc::vec::Vec<RunQueue>,
    platform: Arc<dyn Platform>,
    live: AtomicUsize,
    next_id: AtomicU64,
    capacity: usize,
    /// Every live task, for the task monitor.
    registry: spin::Mutex<alloc::collections::BTreeMap<u64, alloc::sync::Weak<Task>>>,
    /// The names tasks were spawned with, each once: a task keeps its name's
    /// index (one byte rather than a 16-byte `&str`).
    names: spin::Mutex<alloc::vec::Vec<&'static str>>,
    pub(crate) hook: crate::observe::TraceHook,
}

impl Scheduler {
    /// Run queues for `cpus` CPUs, each holding up to `max_tasks` tasks (also the
    /// bound on live tasks in the whole system).
    pub fn new(platform: Arc<dyn Platform>, cpus: usize, max_tasks: usize) -> Arc<Self> {
        // A task keeps its CPU numbers in 8 bits.
        assert!(cpus <= 1 << 8, "at most 256 CPUs");
        Arc::new(Self {
            queues: (0..cpus.max(1))
                .map(|_| RunQueue {
                    ring: ArrayQueue::new(max_tasks),
                    pinned: ArrayQueue::new(max_tasks),
                    polling: AtomicUsize::new(0),
                })
                .collect(),
            platform,
            live: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            capacity: max_tasks,
            registry: spin::Mutex::new(alloc::collections::BTreeMap::new()),
            names: spin::Mutex::new(alloc::vec::Vec::new()),
            hook: crate::observe::TraceHook::default(),
        })
    }

    /// The index of `name` in the table of names, added if new. Past 255
    /// names, the last index stands for every further one (its name is
    /// "other").
    fn name_index(&self, name: &'static str) -> u8 {
        let mut names = self.names.lock();
        if let Some(i) = names.iter().position(|n| *n == name) {
            return i as u8;
        }
        if names.len() < usize::from(u8::MAX) {
            names.push(name);
            return (names.len() - 1) as u8;
        }
        u8::MAX
    }

    /// The name of index `i` ([`Scheduler::name_index`]).
    pub(crate) fn name(&self, i: u8) -> &'static str {
        self.names
            .lock()
            .get(usize::from(i))
            .copied()
            .unwrap_or("other")
    }

    /// A snapshot of every live task, by id.
    pub fn tasks(&self) -> alloc::vec::Vec<crate::observe::TaskInfo> {
        let live = self
            .registry
            .lock()
            .values()
            .filter_map(alloc::sync::Weak::upgrade)
            .collect();
        self.describe(live)
    }

    /// As [`Scheduler::tasks`], unless the task list is locked (by a CPU
    /// that may be the one stuck: the lockup watchdog asks this way).
    pub fn try_tasks(&self) -> Option<alloc::vec::Vec<crate::observe::TaskInfo>> {
        let live = self
            .registry
            .try_lock()?
            .values()
            .filter_map(alloc::sync::Weak::upgrade)
            .collect();
        Some(self.describe(live))
    }

    fn describe(
        &self,
        live: alloc::vec::Vec<Arc<Task>>,
    ) -> alloc::vec::Vec<crate::observe::TaskInfo> {
        let now = self.platform.now();
        live.iter()
            .map(|t| crate::observe::TaskInfo {
                id: t.id,
                name: t.name(),
                phase: crate::observe::TaskPhase::from_state(t.state.get()),
                home: t.home(),
                last_cpu: usize::from(t.last_cpu.load(Ordering::Relaxed)),
                polls: u64::from(t.polls.load(Ordering::Relaxed)),
                wakes: u64::from(t.wakes.load(Ordering::Relaxed)),
                run_ns: t.run_ns.load(Ordering::Relaxed),
                max_poll_ns: u64::from(t.max_poll_ns.load(Ordering::Relaxed)),
                age_ns: now.saturating_sub(t.spawned_at),
            })
            .collect()
    }

    /// Installs the tracer that [`Scheduler::set_tracing`] turns on and off (once).
    pub fn set_tracer(&self, tracer: Arc<dyn crate::observe::Tracer>) {
        self.hook.install(tracer);
    }

    /// Starts or stops sending events to the tracer.
    pub fn set_tracing(&self, on: bool) {
        self.hook.set_on(on);
    }

    /// The number of CPUs (run queues).
    pub fn cpus(&self) -> usize {
        self.queues.len()
    }

    /// Tasks spawned and not yet finished, on every CPU.
    pub fn live_tasks(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Tasks waiting in `cpu`'s queue.
    pub fn queued(&self, cpu: usize) -> usize {
        self.queues.get(cpu).map_or(0, RunQueue::len)
    }

    /// Pushes a task that just moved to QUEUED onto its home CPU's queue.
    pub(crate) fn push(&self, task: Arc<Task>) {
        self.push_from(task, None);
    }

    /// As [`Scheduler::push`], for the CPU `from` that just polled the task and
    /// found it woken meanwhile (a yield, a time slice ending): if the task's home
    /// is that CPU, nobody is told. The CPU runs it again at its next pass, and
    /// waking an idle CPU to steal it would only move a busy thread back and forth
    /// between CPUs (a trace of one CPU-bound thread showed a migration and a
    /// wake-up IPI at every slice).
    pub(crate) fn push_from(&self, task: Arc<Task>, from: Option<usize>) {
        let cpu = task.home().min(self.queues.len() - 1);
        let all = self.usable(u64::MAX);
        let stealable = self.usable(task.affinity.load(Ordering::Acquire)) == all;
        let q = &self.queues[cpu];
        let ring = if stealable { &q.ring } else { &q.pinned };
        // Cannot fail: live tasks <= capacity and each is queued at most once.
        if ring.push(task).is_err() {
            unreachable!("run queue overflow: the live-task bound was broken");
        }
        if from != Some(cpu) {
            self.platform.notify(cpu, stealable);
        }
    }

    /// The CPU with the most work (tasks waiting that may be stolen, plus the
    /// one it polls), that work, and how many of its tasks may be stolen.
    fn busiest(&self) -> Option<(usize, usize, usize)> {
        self.queues
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let free = q.ring.len();
                (
                    i,
                    free + q.pinned.len() + q.polling.load(Ordering::Relaxed),
                    free,
                )
            })
            .max_by_key(|&(_, load, _)| load)
    }

    /// The CPUs of `mask` that exist.
    pub fn usable(&self, mask: u64) -> u64 {
        match self.queues.len() {
            n if n >= 64 => mask,
            n => mask & ((1u64 << n) - 1),
        }
    }

    /// Whether some CPU other than `cpu` has a task waiting.
    fn stealable(&self, cpu: usize) -> bool {
        self.queues
            .iter()
            .enumerate()
            .any(|(i, q)| i != cpu && !q.ring.is_empty())
    }
}

/// One CPU's executor.
pub struct Executor {
    cpu: usize,
    sched: Arc<Scheduler>,
    timers: TimerQueue,
    polls: AtomicU64,
    steals: AtomicU64,
    /// When [`Executor::balance`] last looked.
    last_balance: AtomicU64,
}

/// How often a busy CPU compares queue lengths with the others (a little under
/// a time slice, so that rotation keeps pace with the slices).
pub const BALANCE_NS: u64 = 4_000_000;

/// Decrements the live-task count when a task's future is dropped, however that
/// happens (completion, or the executor being dropped with the task pending).
struct LiveGuard(Arc<Scheduler>);

/// A detached task's future: `fut` itself, and the live count it holds.
#[pin_project::pin_project]
struct Counted<F> {
    #[pin]
    fut: F,
    _guard: LiveGuard,
}

impl<F: Future<Output = ()>> Future for Counted<F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().fut.poll(cx)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Executor {
    /// A single-CPU system: an executor that can own at most `max_tasks` live tasks.
    pub fn new(platform: Arc<dyn Platform>, max_tasks: usize) -> Self {
        Self::on(Scheduler::new(platform, 1, max_tasks), 0)
    }

    /// The executor of CPU `cpu` over the shared run queues `sched`.
    pub fn on(sched: Arc<Scheduler>, cpu: usize) -> Self {
        let clock: Arc<dyn Clock> = sched.platform.clone();
        Self {
            cpu,
            sched,
            timers: TimerQueue::new(clock),
            polls: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            last_balance: AtomicU64::new(0),
        }
    }

    /// The CPU this executor runs on.
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// The run queues this executor shares with the other CPUs'.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.sched
    }

    /// This executor's timer queue.
    pub fn timers(&self) -> &TimerQueue {
        &self.timers
    }

    /// Tasks spawned and not yet finished, on every CPU.
    pub fn live_tasks(&self) -> usize {
        self.sched.live_tasks()
    }

    /// Total polls on this CPU so far (for statistics).
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Tasks this CPU took from other CPUs' queues (for statistics).
    pub fn steals(&self) -> u64 {
        self.steals.load(Ordering::Relaxed)
    }

    fn queue(&self) -> &RunQueue {
        &self.sched.queues[self.cpu]
    }

    /// Whether a task is waiting in this CPU's queue.
    pub fn has_ready(&self) -> bool {
        !self.queue().is_empty()
    }

    /// Spawns `fut` as a new task on this CPU, failing if the system is full.
    pub fn try_spawn<F>(
        &self,
        name: &'static str,
        fut: F,
    ) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.try_spawn_with(name, u64::MAX, |_| {}, fut)
    }

    /// Spawns `fut` as a new task that may run only on the CPUs in `affinity` (bit
    /// n: CPU n; CPUs that do not exist are ignored, and a mask naming none of the
    /// others means every CPU). It starts on this CPU if allowed, else on the first
    /// CPU of the mask. `before_queued` gets the task's handle before the task is
    /// queued, so whatever it records is there when the task first runs (on any
    /// CPU).
    pub fn try_spawn_with<F>(
        &self,
        name: &'static str,
        affinity: u64,
        before_queued: impl FnOnce(&TaskRef),
        fut: F,
    ) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let guard = self.reserve()?;
        let slot = Arc::new(JoinSlot::new());
        let out = slot.clone();
        let wrapped = async move {
            let _guard = guard;
            out.complete(fut.await);
        };
        let handle = self.start(name, affinity, before_queued, Box::pin(wrapped));
        Ok(JoinHandle::new(slot, handle))
    }

    /// As [`Executor::try_spawn_with`], for a task nobody joins: no slot for
    /// its output, and `fut` goes on the heap as it is, with nothing around it
    /// but the count of live tasks (the task's future is one allocation of
    /// about `fut`'s size: what a parked user thread keeps).
    pub fn try_spawn_detached_with<F>(
        &self,
        name: &'static str,
        affinity: u64,
        before_queued: impl FnOnce(&TaskRef),
        fut: F,
    ) -> Result<TaskRef, SpawnError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let guard = self.reserve()?;
        Ok(self.start(
            name,
            affinity,
            before_queued,
            Box::pin(Counted { fut, _guard: guard }),
        ))
    }

    /// Counts one more live task, or fails when the system is full.
    fn reserve(&self) -> Result<LiveGuard, SpawnError> {
        let cap = self.sched.capacity;
        let mut live = self.sched.live.load(Ordering::Acquire);
        loop {
            if live >= cap {
                return Err(SpawnError::TooManyTasks);
            }
            match self.sched.live.compare_exchange_weak(
                live,
                live + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(LiveGuard(self.sched.clone())),
                Err(now) => live = now,
            }
        }
    }

    /// Makes the task for `future` (its live count already taken) and queues it.
    fn start(
        &self,
        name: &'static str,
        affinity: u64,
        before_queued: impl FnOnce(&TaskRef),
        future: crate::task::TaskFuture,
    ) -> TaskRef {
        let affinity = match self.sched.usable(affinity) {
            0 => u64::MAX,
            _ => affinity,
        };
        let home = if self.cpu < 64 && affinity & (1 << self.cpu) != 0 {
            self.cpu
        } else {
            self.sched.usable(affinity).trailing_zeros() as usize
        };
        let id = self.sched.next_id.fetch_add(1, Ordering::Relaxed);
        let task = Arc::new(Task {
            state: TaskState::new_queued(),
            future: spin::Mutex::new(Some(future)),
            sched: self.sched.clone(),
            home: AtomicU8::new(home as u8),
            last_cpu: AtomicU8::new(0),
            name: self.sched.name_index(name),
            affinity: AtomicU64::new(affinity),
            id,
            polls: AtomicU32::new(0),
            wakes: AtomicU32::new(0),
            max_poll_ns: AtomicU32::new(0),
            run_ns: AtomicU64::new(0),
            spawned_at: self.sched.platform.now(),
        });
        self.sched.registry.lock().insert(id, Arc::downgrade(&task));
        self.sched.hook.record(
            Some(self.cpu),
            crate::observe::Event::Spawn { task: id, name },
        );
        let handle = TaskRef(task.clone());
        before_queued(&handle);
        self.sched.push(task);
        handle
    }

    /// Spawns `fut` as a new task.
    ///
    /// # Panics
    /// If the system is full; use [`Executor::try_spawn`] where user space decides
    /// how many tasks exist.
    pub fn spawn<F>(&self, name: &'static str, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.try_spawn(name, fut) {
            Ok(h) => h,
            Err(e) => panic!("cannot spawn task {name}: {e:?}"),
        }
    }

    /// One pass: expire due timers, then poll each task that was queued on this CPU
    /// at the start. Returns how many tasks were polled.
    pub fn run_once(&self) -> usize {
        self.timers.expire();
        let q = self.queue();
        // Take turns between the two queues, each up to what it held at the start.
        let (mut free, mut pinned) = (q.ring.len(), q.pinned.len());
        let mut polled = 0;
        while free + pinned > 0 {
            let task = if pinned > 0 && (free == 0 || polled % 2 == 1) {
                pinned -= 1;
                q.pinned.pop()
            } else {
                free -= 1;
                q.ring.pop()
            };
            if let Some(task) = task {
                self.poll_task(task);
                polled += 1;
            }
        }
        self.polls.fetch_add(polled as u64, Ordering::Relaxed);
        polled
    }

    /// Takes one task from another CPU's queue, makes this CPU its home and polls
    /// it. Looks at the other CPUs in turn, starting after this one, so thieves
    /// spread over victims. Returns whether it found one.
    pub fn steal(&self) -> bool {
        let n = self.sched.queues.len();
        (1..n).any(|k| self.steal_from((self.cpu + k) % n))
    }

    /// Takes one task from CPU `victim`'s stealable queue (if it may run here),
    /// makes this CPU its home and polls it.
    fn steal_from(&self, victim: usize) -> bool {
        let n = self.sched.queues.len();
        let Some(task) = self.sched.queues[victim].ring.pop() else {
            return false;
        };
        if self.cpu >= 64 || task.affinity.load(Ordering::Acquire) & (1 << self.cpu) == 0 {
            // Its affinity changed after it was queued: it goes to the pinned
            // queue of the home set_affinity chose (there is room: it was
            // queued, and each task is queued once).
            let home = task.home().min(n - 1);
            if self.sched.queues[home].pinned.push(task).is_err() {
                unreachable!("a queue cannot fill up while one of its tasks is out");
            }
            self.sched.platform.notify(home, false);
            return false;
        }
        task.set_home(self.cpu);
        self.steals.fetch_add(1, Ordering::Relaxed);
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.poll_task(task);
        true
    }

    /// Runs passes until no task is ready, and returns. Timers that are not yet due
    /// are left pending (host tests advance the clock and call this again).
    pub fn run_until_idle(&self) {
        while self.run_once() > 0 || self.has_ready() {}
    }

    /// The CPU's main loop. Never returns.
    pub fn run(&self) -> ! {
        loop {
            self.run_once();
            if !self.has_ready() && !self.steal() {
                self.idle();
            } else {
                self.balance();
            }
        }
    }

    /// Evens out the queues between passes, at most every [`BALANCE_NS`]: if
    /// another CPU has more tasks waiting than this one, take one. Idle CPUs steal
    /// anyway; this is for CPUs that stay busy. Three spinning threads on two CPUs
    /// would otherwise keep one thread to itself on one CPU and share the other
    /// between two (3 : 1.5 : 1.5 CPU-seconds in 3 s); moving one task per
    /// interval rotates them, so each gets its share over time.
    pub fn balance(&self) -> bool {
        if self.sched.queues.len() < 2 {
            // Nobody to balance with: no clock read between the passes of a
            // lone CPU (two threads handing a futex back and forth).
            return false;
        }
        let now = self.sched.platform.now();
        if now.saturating_sub(self.last_balance.load(Ordering::Relaxed)) < BALANCE_NS {
            return false;
        }
        self.last_balance.store(now, Ordering::Relaxed);
        let mine = self.queue().len();
        match self.sched.busiest() {
            Some((cpu, load, free)) if cpu != self.cpu && load > mine && free > 0 => {
                self.steal_from(cpu)
            }
            _ => false,
        }
    }

    /// Arms the timer for the earliest deadline and waits for work: a task in this
    /// CPU's queue or another's (to steal), or a due timer.
    pub fn idle(&self) {
        let platform = &self.sched.platform;
        platform.arm_timer(self.timers.next_deadline());
        let timers = &self.timers;
        let now = || platform.now();
        self.sched
            .hook
            .record(Some(self.cpu), crate::observe::Event::Idle);
        platform.wait_for_work(&|| {
            self.has_ready()
                || self.sched.stealable(self.cpu)
                || timers.next_deadline().is_some_and(|d| d <= now())
        });
        self.sched
            .hook
            .record(Some(self.cpu), crate::observe::Event::Busy);
    }

    fn poll_task(&self, task: Arc<Task>) {
        let q = &self.sched.queues[self.cpu];
        q.polling.store(1, Ordering::Relaxed);
        self.poll_inner(task);
        q.polling.store(0, Ordering::Relaxed);
    }

    fn poll_inner(&self, task: Arc<Task>) {
        use crate::observe::Event;
        task.state.start_poll();
        task.polls.fetch_add(1, Ordering::Relaxed);
        task.last_cpu.store(self.cpu as u8, Ordering::Relaxed);
        self.sched
            .hook
            .record(Some(self.cpu), Event::PollStart { task: task.id });
        let started = self.sched.platform.now();
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = task.future.lock();
        let ready = match slot.as_mut() {
            Some(fut) => fut.as_mut().poll(&mut cx).is_ready(),
            None => true,
        };
        let took = self.sched.platform.now().saturating_sub(started);
        task.run_ns.fetch_add(took, Ordering::Relaxed);
        // One CPU polls a task at a time: a plain maximum, no read-modify-write.
        let took32 = u32::try_from(took).unwrap_or(u32::MAX);
        if took32 > task.max_poll_ns.load(Ordering::Relaxed) {
            task.max_poll_ns.store(took32, Ordering::Relaxed);
        }
        self.sched.hook.record(
            Some(self.cpu),
            Event::PollEnd {
                task: task.id,
                done: ready,
            },
        );
        if ready {
            // Drop the future outside the lock: its destructors may wake other tasks.
            let fut = slot.take();
            drop(slot);
            task.state.finish();
            self.sched.registry.lock().remove(&task.id);
            drop(fut);
            return;
        }
        drop(slot);
        if task.state.end_poll_pending() == AfterPoll::Requeue {
            self.sched.push_from(task, Some(self.cpu));
        }
    }
}

impl core::fmt::Debug for Executor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Executor")
            .field("cpu", &self.cpu)
            .field("ready", &self.queue().len())
            .field("live", &self.live_tasks())
            .finish()
    }
}
