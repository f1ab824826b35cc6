//! The per-CPU executor: a run queue, `spawn`, and the run loop.
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
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::task::{Context, Waker};

use crossbeam_queue::ArrayQueue;

use crate::join::{JoinHandle, JoinSlot};
use crate::state::{AfterPoll, TaskState};
use crate::task::Task;
use crate::timer::{Clock, TimerQueue};

/// What the executor needs from the machine it runs on.
pub trait Platform: Clock + Send + Sync {
    /// Make the CPU leave [`Platform::wait_for_work`] no later than `deadline`
    /// (monotonic nanoseconds), or disarm the timer with `None`.
    fn arm_timer(&self, deadline: Option<u64>);

    /// Sleep until something happens, unless `has_work()` is already true. The kernel
    /// checks `has_work` with interrupts disabled and halts with `sti; hlt` so that an
    /// interrupt between the check and the halt still wakes the CPU.
    fn wait_for_work(&self, has_work: &dyn Fn() -> bool);

    /// A task was pushed to this executor's queue, possibly from another CPU or from
    /// an interrupt handler. The kernel sends an IPI if the owning CPU is halted.
    fn notify(&self);
}

/// Why a task could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// The executor already owns as many live tasks as its run queue can hold.
    TooManyTasks,
}

/// The run queue of one executor, shared with the wakers of its tasks.
pub(crate) struct RunQueue {
    ring: ArrayQueue<Arc<Task>>,
    platform: Arc<dyn Platform>,
}

impl RunQueue {
    /// Pushes a task that just moved to QUEUED.
    pub(crate) fn push(&self, task: Arc<Task>) {
        // Cannot fail: live tasks <= capacity and each is queued at most once.
        if self.ring.push(task).is_err() {
            unreachable!("run queue overflow: the live-task bound was broken");
        }
        self.platform.notify();
    }
}

/// One CPU's executor.
pub struct Executor {
    queue: Arc<RunQueue>,
    timers: TimerQueue,
    live: Arc<AtomicUsize>,
    next_id: AtomicU64,
    polls: AtomicU64,
}

/// Decrements the live-task count when a task's future is dropped, however that
/// happens (completion, or the executor being dropped with the task pending).
struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Executor {
    /// An executor that can own at most `max_tasks` live tasks at once.
    pub fn new(platform: Arc<dyn Platform>, max_tasks: usize) -> Self {
        let clock: Arc<dyn Clock> = platform.clone();
        Self {
            queue: Arc::new(RunQueue {
                ring: ArrayQueue::new(max_tasks),
                platform,
            }),
            timers: TimerQueue::new(clock),
            live: Arc::new(AtomicUsize::new(0)),
            next_id: AtomicU64::new(1),
            polls: AtomicU64::new(0),
        }
    }

    /// This executor's timer queue.
    pub fn timers(&self) -> &TimerQueue {
        &self.timers
    }

    /// Tasks spawned here and not yet finished.
    pub fn live_tasks(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Total polls so far (for statistics).
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Whether a task is waiting to be polled.
    pub fn has_ready(&self) -> bool {
        !self.queue.ring.is_empty()
    }

    /// Spawns `fut` as a new task, failing if the executor is full.
    pub fn try_spawn<F>(
        &self,
        name: &'static str,
        fut: F,
    ) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let cap = self.queue.ring.capacity();
        let mut live = self.live.load(Ordering::Acquire);
        loop {
            if live >= cap {
                return Err(SpawnError::TooManyTasks);
            }
            match self.live.compare_exchange_weak(
                live,
                live + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => live = now,
            }
        }
        let guard = LiveGuard(self.live.clone());
        let slot = Arc::new(JoinSlot::new());
        let out = slot.clone();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let wrapped = async move {
            let _guard = guard;
            out.complete(fut.await);
        };
        let task = Arc::new(Task {
            state: TaskState::new_queued(),
            future: spin::Mutex::new(Some(Box::pin(wrapped))),
            queue: self.queue.clone(),
            id,
            name,
        });
        self.queue.push(task);
        Ok(JoinHandle::new(slot, id))
    }

    /// Spawns `fut` as a new task.
    ///
    /// # Panics
    /// If the executor is full; use [`Executor::try_spawn`] where user space decides
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

    /// One pass: expire due timers, then poll each task that was queued at the start.
    /// Returns how many tasks were polled.
    pub fn run_once(&self) -> usize {
        self.timers.expire();
        let n = self.queue.ring.len();
        let mut polled = 0;
        while polled < n {
            let Some(task) = self.queue.ring.pop() else {
                break;
            };
            self.poll_task(task);
            polled += 1;
        }
        self.polls.fetch_add(polled as u64, Ordering::Relaxed);
        polled
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
            if !self.has_ready() {
                self.idle();
            }
        }
    }

    /// Arms the timer for the earliest deadline and waits for work.
    pub fn idle(&self) {
        let platform = &self.queue.platform;
        platform.arm_timer(self.timers.next_deadline());
        let queue = &self.queue;
        let timers = &self.timers;
        let now = || platform.now();
        platform.wait_for_work(&|| {
            !queue.ring.is_empty() || timers.next_deadline().is_some_and(|d| d <= now())
        });
    }

    fn poll_task(&self, task: Arc<Task>) {
        task.state.start_poll();
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = task.future.lock();
        let ready = match slot.as_mut() {
            Some(fut) => fut.as_mut().poll(&mut cx).is_ready(),
            None => true,
        };
        if ready {
            // Drop the future outside the lock: its destructors may wake other tasks.
            let fut = slot.take();
            drop(slot);
            task.state.finish();
            drop(fut);
            return;
        }
        drop(slot);
        if task.state.end_poll_pending() == AfterPoll::Requeue {
            self.queue.push(task);
        }
    }
}

impl core::fmt::Debug for Executor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Executor")
            .field("ready", &self.queue.ring.len())
            .field("live", &self.live_tasks())
            .finish()
    }
}
