//! Watching the executor: what each task is doing (always kept, for a task
//! monitor such as the kernel's `/proc/kestrel/tasks`), and a hook that sees
//! every spawn, poll, wake and idle period (for a trace, when one is wanted).
//!
//! The statistics are a few relaxed atomic increments per poll and two clock
//! reads; the trace hook costs one relaxed load and a branch when no tracer is
//! switched on.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use crate::state;

/// Where a task is, from its state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskPhase {
    /// In a run queue, waiting for a CPU.
    Queued,
    /// Being polled now.
    Running,
    /// Waiting for a wake (its future returned Pending).
    Parked,
    /// Finished.
    Done,
}

impl TaskPhase {
    pub(crate) fn from_state(s: u8) -> Self {
        match s {
            state::QUEUED => TaskPhase::Queued,
            state::RUNNING | state::RUNNING_WOKEN => TaskPhase::Running,
            state::DONE => TaskPhase::Done,
            _ => TaskPhase::Parked,
        }
    }

    /// One word for a listing.
    pub fn name(self) -> &'static str {
        match self {
            TaskPhase::Queued => "queued",
            TaskPhase::Running => "running",
            TaskPhase::Parked => "parked",
            TaskPhase::Done => "done",
        }
    }
}

/// A snapshot of one live task.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The task's id (as `TaskRef::id`).
    pub id: u64,
    /// The name it was spawned with.
    pub name: &'static str,
    /// Where it is.
    pub phase: TaskPhase,
    /// The CPU whose queue it returns to.
    pub home: usize,
    /// The CPU that polled it last.
    pub last_cpu: usize,
    /// Times it was polled.
    pub polls: u64,
    /// Times it was woken.
    pub wakes: u64,
    /// Nanoseconds spent being polled.
    pub run_ns: u64,
    /// The longest single poll, in nanoseconds.
    pub max_poll_ns: u64,
    /// Nanoseconds since it was spawned.
    pub age_ns: u64,
}

/// What the executor reports to a [`Tracer`].
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)] // the fields are the task's id and name, and whether it finished
pub enum Event {
    /// A task was spawned (by whatever runs on this CPU now).
    Spawn { task: u64, name: &'static str },
    /// This CPU starts polling a task.
    PollStart { task: u64 },
    /// The poll ended: the future completed, or returned Pending.
    PollEnd { task: u64, done: bool },
    /// A task was woken (by whatever runs on the waking CPU now: a task, an
    /// interrupt handler, the timer queue).
    Wake { task: u64 },
    /// This CPU has nothing to do and waits.
    Idle,
    /// This CPU's wait ended.
    Busy,
}

/// Receives the executor's events. Called on the CPU where the event happens,
/// possibly from an interrupt handler (wakes): it must not block or allocate.
pub trait Tracer: Send + Sync {
    /// `cpu` is the executor's CPU for poll and idle events, `None` for wakes
    /// (the tracer knows where it runs).
    fn record(&self, cpu: Option<usize>, event: Event);
}

/// The tracer slot of a scheduler: one load and a branch when off.
#[derive(Default)]
pub(crate) struct TraceHook {
    on: core::sync::atomic::AtomicBool,
    tracer: spin::Once<Arc<dyn Tracer>>,
}

impl TraceHook {
    #[inline]
    pub(crate) fn record(&self, cpu: Option<usize>, event: Event) {
        if self.on.load(Ordering::Relaxed)
            && let Some(t) = self.tracer.get()
        {
            t.record(cpu, event);
        }
    }

    pub(crate) fn install(&self, tracer: Arc<dyn Tracer>) {
        self.tracer.call_once(|| tracer);
    }

    pub(crate) fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Release);
    }
}
