//! Kestrel's executor: one cooperative run queue per CPU, and a timer queue.
//!
//! Everything in the kernel that waits is a future polled by an [`Executor`]: user
//! threads, driver actors, the network stack. There is no kernel stack per thread;
//! a blocked thread is a parked future.
//!
//! The pieces, one file each:
//! - [`state`]: the atomic state of a task, which makes a wake enqueue a task at most
//!   once and never lose a wake that arrives while the task is being polled.
//! - [`task`]: the task header (state + boxed future) and its waker.
//! - [`executor`]: the per-CPU run queues, `spawn`, stealing, the run loop and the
//!   idle protocol.
//! - [`join`]: the [`JoinHandle`] returned by `spawn`.
//! - [`observe`]: per-task statistics and a trace hook (a task monitor, a timeline).
//! - [`timer`]: a queue of (deadline, waker) with [`Sleep`] and [`Timeout`] futures.
//! - [`yield_now`]: giving the CPU to the other ready tasks.
//!
//! The crate knows nothing about the hardware: the kernel supplies a [`Platform`]
//! (clock, idle, cross-CPU notification). Host unit tests supply a std one.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod executor;
pub mod join;
pub mod observe;
pub mod state;
pub mod task;
pub mod timer;
pub mod yield_now;

pub use executor::{Executor, Platform, Scheduler, SpawnError};
pub use join::JoinHandle;
pub use observe::{Event, TaskInfo, TaskPhase, Tracer};
pub use task::TaskRef;
pub use timer::{Elapsed, Sleep, Timeout, TimerQueue};
pub use yield_now::yield_now;

#[cfg(test)]
mod tests;
