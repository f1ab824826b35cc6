//! The kernel's executors: one per CPU (only the bootstrap CPU so far), and the
//! functions the rest of the kernel uses to spawn, sleep and time out.

use alloc::sync::Arc;
use core::future::Future;

use kestrel_executor::timer::Clock;
use kestrel_executor::{Executor, JoinHandle, Platform, Sleep, SpawnError, Timeout};

use crate::arch::{apic, cpu};
use crate::time;

/// Live tasks one CPU may own: the run queue is a ring of this many slots
/// (8 bytes each), so a wake never allocates (executor/src/executor.rs).
pub const MAX_TASKS_PER_CPU: usize = 1 << 16;

/// The machine side of an executor: TSC time, the LAPIC one-shot timer, `sti; hlt`.
struct CpuPlatform;

impl Clock for CpuPlatform {
    fn now(&self) -> u64 {
        time::now_ns()
    }
}

impl Platform for CpuPlatform {
    fn arm_timer(&self, deadline: Option<u64>) {
        match deadline {
            Some(d) => apic::arm_at(d, time::now_ns()),
            None => apic::disarm(),
        }
    }

    fn wait_for_work(&self, has_work: &dyn Fn() -> bool) {
        // Check with interrupts off, then `sti; hlt` atomically: a wake from an
        // interrupt after the check still ends the halt (brief §7, "Idle and IPIs").
        cpu::disable_interrupts();
        if has_work() {
            cpu::enable_interrupts();
        } else {
            let start = time::now_ns();
            cpu::enable_interrupts_and_halt();
            IDLE_NS.fetch_add(
                time::now_ns().saturating_sub(start),
                core::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    fn notify(&self) {
        // One CPU: a wake comes from a task on this CPU or from an interrupt handler,
        // and either way this CPU is not halted. With more CPUs this sends the
        // wake-up IPI to a halted owner.
    }
}

static EXECUTOR: spin::Once<Executor> = spin::Once::new();

/// Time this CPU spent halted, waiting for work (/proc/uptime, /proc/stat).
static IDLE_NS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Nanoseconds spent idle since boot.
pub fn idle_ns() -> u64 {
    IDLE_NS.load(core::sync::atomic::Ordering::Relaxed)
}

/// Creates this CPU's executor.
pub fn init() {
    EXECUTOR.call_once(|| Executor::new(Arc::new(CpuPlatform), MAX_TASKS_PER_CPU));
}

/// This CPU's executor.
pub fn executor() -> &'static Executor {
    EXECUTOR.get().expect("executor initialised at boot")
}

/// Spawns a kernel task. Panics if the CPU's task table is full: use
/// [`try_spawn`] where user space controls how many tasks exist.
pub fn spawn<F>(name: &'static str, fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    executor().spawn(name, fut)
}

/// Spawns a task, failing when the CPU's task table is full.
pub fn try_spawn<F>(name: &'static str, fut: F) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    executor().try_spawn(name, fut)
}

/// Completes `ns` nanoseconds from now.
pub fn sleep(ns: u64) -> Sleep<'static> {
    Sleep::for_ns(executor().timers(), ns)
}

/// Completes at monotonic time `deadline` (ns since boot).
pub fn sleep_until(deadline: u64) -> Sleep<'static> {
    Sleep::until(executor().timers(), deadline)
}

/// Runs `fut` for at most `ns` nanoseconds; on expiry the future is dropped.
pub fn timeout<F: Future>(ns: u64, fut: F) -> Timeout<'static, F> {
    Timeout::until(executor().timers(), time::now_ns().saturating_add(ns), fut)
}

/// Runs this CPU's executor forever.
pub fn run() -> ! {
    cpu::enable_interrupts();
    executor().run()
}
