//! The task header: state word, boxed future, and the run queue it belongs to.
//!
//! A task is an `Arc<Task>`. Its [`Waker`](core::task::Waker) is the same `Arc` (through
//! [`alloc::task::Wake`]), so cloning a waker is an atomic increment and waking never
//! allocates: a wake flips the state word and, only on IDLE → QUEUED, pushes one more
//! reference into a bounded queue that was sized for every live task up front.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::executor::Scheduler;
use crate::state::{TaskState, WakeAction};

/// A boxed, sendable future with no output: what a task runs.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub(crate) struct Task {
    pub(crate) state: TaskState,
    /// Taken (and dropped) when the future completes. Only the owning executor polls
    /// it, so the lock is never contended; it exists to make `Task: Sync`.
    pub(crate) future: spin::Mutex<Option<TaskFuture>>,
    /// The run queues; a wake pushes the task onto its home CPU's.
    pub(crate) sched: Arc<Scheduler>,
    /// The CPU whose queue the task goes back to when woken (changed by stealing).
    /// CPU numbers are 8 bits here and in `last_cpu` (a scheduler has at most
    /// 256 CPUs; affinity masks name 64), the name is an index into the
    /// scheduler's table of names and the counts are 32 bits, which keeps a
    /// task at 80 bytes: with the `Arc`'s counts a 96-byte block, one per user
    /// thread (112 bytes, a 128-byte block, with a `&str` name, 16-bit CPU
    /// numbers and 64-bit counts).
    pub(crate) home: AtomicU8,
    /// The CPU that polled it last (for the task list).
    pub(crate) last_cpu: AtomicU8,
    /// Its name's index in [`Scheduler::name`]'s table.
    pub(crate) name: u8,
    /// The CPUs it may run on (bit n: CPU n); stealing respects it.
    pub(crate) affinity: AtomicU64,
    /// For logs, the task monitor and traces.
    pub(crate) id: u64,
    /// Times polled and woken (wrapping: the task monitor's counts).
    pub(crate) polls: AtomicU32,
    pub(crate) wakes: AtomicU32,
    /// The longest single poll, in nanoseconds (at most `u32::MAX`, 4.3 s): a
    /// task that keeps its CPU too long between awaits shows here (every other
    /// task on that CPU waited).
    pub(crate) max_poll_ns: AtomicU32,
    /// Nanoseconds spent being polled.
    pub(crate) run_ns: AtomicU64,
    /// When it was spawned (the platform clock).
    pub(crate) spawned_at: u64,
}

impl Task {
    /// The CPU whose queue the task goes back to when woken.
    pub(crate) fn home(&self) -> usize {
        usize::from(self.home.load(Ordering::Acquire))
    }

    /// Makes `cpu` the task's home (a CPU number of the scheduler: below 256).
    pub(crate) fn set_home(&self, cpu: usize) {
        self.home.store(cpu as u8, Ordering::Release);
    }

    /// The name it was spawned with.
    pub(crate) fn name(&self) -> &'static str {
        self.sched.name(self.name)
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.sched
            .hook
            .record(None, crate::observe::Event::Wake { task: self.id });
        if self.state.wake() == WakeAction::Enqueue {
            self.sched.push(self.clone());
        }
    }
}

impl core::fmt::Debug for Task {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name())
            .field("state", &self.state.get())
            .finish()
    }
}

/// A handle on a spawned task for the code that owns it: where it may run.
#[derive(Clone)]
pub struct TaskRef(pub(crate) Arc<Task>);

impl TaskRef {
    /// The task's id.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The CPU whose queue the task returns to.
    pub fn home(&self) -> usize {
        self.0.home()
    }

    /// The CPUs the task may run on.
    pub fn affinity(&self) -> u64 {
        self.0.affinity.load(Ordering::Acquire)
    }

    /// Restricts the task to the CPUs in `mask` (bit n: CPU n; at least one of them
    /// must exist). If its home is not among them, its home becomes the first that
    /// is: its next wake takes it there. A task being polled on a CPU it may no
    /// longer use finds out from [`TaskRef::allowed_on`] and moves itself by waking.
    pub fn set_affinity(&self, mask: u64) {
        let usable = self.0.sched.usable(mask);
        if usable == 0 {
            return;
        }
        self.0.affinity.store(usable, Ordering::Release);
        if usable & (1 << self.home()) == 0 {
            self.0.set_home(usable.trailing_zeros() as usize);
        }
    }

    /// Whether the task is queued or being polled (Linux's R state) rather than
    /// waiting for a wake or finished. A snapshot: it can change at once.
    pub fn is_runnable(&self) -> bool {
        matches!(
            self.0.state.get(),
            crate::state::QUEUED | crate::state::RUNNING | crate::state::RUNNING_WOKEN
        )
    }

    /// Whether the task may run on CPU `cpu`.
    pub fn allowed_on(&self, cpu: usize) -> bool {
        cpu < 64 && self.affinity() & (1 << cpu) != 0
    }
}

impl core::fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}
