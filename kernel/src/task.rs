//! The kernel's executors, one per CPU over shared run queues (kestrel-executor's
//! `Scheduler`: wakes go to a task's home CPU, an idle CPU steals), and the
//! functions the rest of the kernel uses to spawn, sleep and time out.

use alloc::sync::Arc;
use core::future::Future;

use kestrel_executor::timer::Clock;
use kestrel_executor::{Executor, JoinHandle, Platform, Scheduler, Sleep, SpawnError, Timeout};

use core::sync::atomic::Ordering;

use crate::arch::{apic, cpu, percpu};
use crate::time;

/// Live tasks one CPU may own: the run queue is a ring of this many slots
/// (8 bytes each), so a wake never allocates (executor/src/executor.rs).
pub const MAX_TASKS_PER_CPU: usize = 1 << 16;

/// The most CPUs Kestrel runs on (the affinity masks it reports are one word).
pub const MAX_CPUS: usize = crate::arch::acpi::MAX_CPUS;

/// The machine side of the executors: TSC time, each CPU's LAPIC one-shot timer,
/// `sti; hlt`, and wake-up IPIs.
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
        // `halted` is set before the check, so a CPU that queues work for us after
        // it sees the flag also sends the IPI that ends the halt.
        let me = percpu::this_cpu();
        cpu::disable_interrupts();
        me.halted.store(true, Ordering::SeqCst);
        if has_work() {
            me.halted.store(false, Ordering::SeqCst);
            cpu::enable_interrupts();
        } else {
            let start = time::now_ns();
            cpu::enable_interrupts_and_halt();
            me.halted.store(false, Ordering::SeqCst);
            me.idle_ns
                .fetch_add(time::now_ns().saturating_sub(start), Ordering::Relaxed);
        }
    }

    fn notify(&self, cpu: usize, stealable: bool) {
        // A halted owner gets a wake-up IPI. A busy one will see the task at its next
        // pass; then a halted CPU, if there is one, is woken to steal it instead
        // (unless the task is pinned: only its home may run it).
        let Some(target) = percpu::cpu(cpu) else {
            return;
        };
        if target.halted.load(Ordering::SeqCst) {
            wake_cpu(cpu);
        } else if stealable
            && let Some(idle) = (0..percpu::online()).find(|&c| {
                c != cpu && percpu::cpu(c).is_some_and(|p| p.halted.load(Ordering::SeqCst))
            })
        {
            wake_cpu(idle);
        }
    }
}

/// Interrupts CPU `cpu` (not this one): user code it runs traps to the
/// kernel, which looks at the thread's state again (a kill, a signal).
pub fn interrupt_cpu(cpu: usize) {
    wake_cpu(cpu);
}

/// Ends CPU `cpu`'s halt (nothing to do if it is this CPU: it is running).
fn wake_cpu(cpu: usize) {
    let me = percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize;
    if cpu != me
        && let Some(p) = percpu::cpu(cpu)
    {
        apic::send_ipi(
            p.apic_id.load(Ordering::Relaxed),
            crate::arch::irq::WAKE_IPI_VECTOR,
        );
    }
}

static SCHEDULER: spin::Once<Arc<Scheduler>> = spin::Once::new();
static EXECUTORS: [spin::Once<Executor>; MAX_CPUS] = [const { spin::Once::new() }; MAX_CPUS];

/// Nanoseconds CPU `cpu` spent halted, waiting for work (/proc/stat).
pub fn idle_ns_of(cpu: usize) -> u64 {
    percpu::cpu(cpu).map_or(0, |p| p.idle_ns.load(Ordering::Relaxed))
}

/// Nanoseconds spent idle since boot, summed over the CPUs (/proc/uptime).
pub fn idle_ns() -> u64 {
    (0..percpu::online()).map(idle_ns_of).sum()
}

/// Creates the run queues for `cpus` CPUs and the bootstrap CPU's executor.
pub fn init(cpus: usize) {
    let sched = SCHEDULER.call_once(|| {
        Scheduler::new(
            Arc::new(CpuPlatform),
            cpus.clamp(1, MAX_CPUS),
            MAX_TASKS_PER_CPU,
        )
    });
    EXECUTORS[0].call_once(|| Executor::on(sched.clone(), 0));
}

/// Creates the executor of application processor `cpu` (called on that CPU).
pub fn init_cpu(cpu: usize) {
    let sched = SCHEDULER
        .get()
        .expect("task::init ran on the bootstrap CPU");
    EXECUTORS[cpu].call_once(|| Executor::on(sched.clone(), cpu));
}

/// The run queues every CPU's executor shares (the task list, the trace hook).
pub fn scheduler() -> &'static Arc<Scheduler> {
    SCHEDULER.get().expect("task::init ran at boot")
}

/// This CPU's executor.
#[inline]
pub fn executor() -> &'static Executor {
    executor_of(percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize)
}

/// CPU `cpu`'s executor.
#[inline]
pub fn executor_of(cpu: usize) -> &'static Executor {
    EXECUTORS[cpu]
        .get()
        .expect("executor initialised when its CPU came up")
}

/// Task polls on every CPU so far (/proc/stat's ctxt).
pub fn polls_total() -> u64 {
    EXECUTORS
        .iter()
        .filter_map(|e| e.get())
        .map(|e| e.polls())
        .sum()
}

/// The CPU this code runs on.
pub fn this_cpu() -> usize {
    percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize
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

/// Spawns a kernel task that runs only on the CPUs in `affinity` (bit n: CPU n).
/// Panics if the system's task table is full.
pub fn spawn_on<F>(name: &'static str, affinity: u64, fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match try_spawn_on(name, affinity, |_| {}, fut) {
        Ok(h) => h,
        Err(e) => panic!("cannot spawn task {name}: {e:?}"),
    }
}

/// Spawns a task that may run on the CPUs in `affinity` (bit n: CPU n), failing
/// when the system's task table is full. `before_queued` sees the task's handle
/// before any CPU can run it.
pub fn try_spawn_on<F>(
    name: &'static str,
    affinity: u64,
    before_queued: impl FnOnce(&kestrel_executor::TaskRef),
    fut: F,
) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    executor().try_spawn_with(name, affinity, before_queued, fut)
}

/// [`try_spawn_on`] for a task nobody joins (a user thread): `fut` is the
/// task's whole future, with no slot for an output.
pub fn try_spawn_detached_on<F>(
    name: &'static str,
    affinity: u64,
    before_queued: impl FnOnce(&kestrel_executor::TaskRef),
    fut: F,
) -> Result<kestrel_executor::TaskRef, SpawnError>
where
    F: Future<Output = ()> + Send + 'static,
{
    executor().try_spawn_detached_with(name, affinity, before_queued, fut)
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
