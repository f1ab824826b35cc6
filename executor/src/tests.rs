//! Host tests of the executor's guarantees (brief §1 and §7).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::timer::Clock;
use crate::{Elapsed, Executor, Platform, Sleep, SpawnError, Timeout, yield_now};

/// A platform with a manual clock, for deterministic single-threaded tests.
#[derive(Default)]
struct ManualPlatform {
    now: AtomicU64,
    notified: AtomicUsize,
}

impl Clock for ManualPlatform {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl Platform for ManualPlatform {
    fn arm_timer(&self, _deadline: Option<u64>) {}
    fn wait_for_work(&self, _has_work: &dyn Fn() -> bool) {}
    fn notify(&self, _cpu: usize, _stealable: bool) {
        self.notified.fetch_add(1, Ordering::SeqCst);
    }
}

fn manual(capacity: usize) -> (Arc<ManualPlatform>, &'static Executor) {
    let p = Arc::new(ManualPlatform::default());
    let ex = Box::leak(Box::new(Executor::new(p.clone(), capacity)));
    (p, ex)
}

/// A platform whose idle parks the executor thread, like `sti; hlt`: `notify` is the
/// interrupt. `park` keeps an unpark that arrives before it, as the CPU keeps a pending
/// interrupt across `sti; hlt`.
struct ThreadPlatform {
    start: Instant,
    executor_thread: Mutex<Option<thread::Thread>>,
}

impl Clock for ThreadPlatform {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

impl Platform for ThreadPlatform {
    fn arm_timer(&self, _deadline: Option<u64>) {}
    fn wait_for_work(&self, has_work: &dyn Fn() -> bool) {
        if !has_work() {
            thread::park_timeout(Duration::from_millis(1));
        }
    }
    fn notify(&self, _cpu: usize, _stealable: bool) {
        if let Some(t) = self.executor_thread.lock().unwrap().as_ref() {
            t.unpark();
        }
    }
}

/// Counts its polls; on the first poll wakes itself `wakes` times, then stays pending.
struct SelfWaking {
    polls: Arc<AtomicUsize>,
    wakes: usize,
}

impl Future for SelfWaking {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let n = self.polls.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            for _ in 0..self.wakes {
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

#[test]
fn wake_while_running_repolls_exactly_once() {
    let (_, ex) = manual(16);
    let polls = Arc::new(AtomicUsize::new(0));
    let _h = ex.spawn(
        "self-waking",
        SelfWaking {
            polls: polls.clone(),
            wakes: 3,
        },
    );
    ex.run_until_idle();
    assert_eq!(polls.load(Ordering::SeqCst), 2);
}

#[test]
fn wakes_of_a_queued_task_poll_it_once() {
    let (_, ex) = manual(16);
    let polls = Arc::new(AtomicUsize::new(0));
    let waker = Arc::new(Mutex::new(None::<Waker>));
    let (p, w) = (polls.clone(), waker.clone());
    let _h = ex.spawn(
        "parked",
        std::future::poll_fn(move |cx| {
            p.fetch_add(1, Ordering::SeqCst);
            *w.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }),
    );
    ex.run_until_idle();
    let w = waker.lock().unwrap().clone().unwrap();
    for _ in 0..5 {
        w.wake_by_ref();
    }
    ex.run_until_idle();
    assert_eq!(polls.load(Ordering::SeqCst), 2);
}

#[test]
fn wake_after_completion_is_ignored() {
    let (_, ex) = manual(4);
    let waker = Arc::new(Mutex::new(None::<Waker>));
    let w = waker.clone();
    let h = ex.spawn(
        "done",
        std::future::poll_fn(move |cx| {
            *w.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(7)
        }),
    );
    ex.run_until_idle();
    assert!(h.is_finished());
    waker.lock().unwrap().take().unwrap().wake();
    assert!(!ex.has_ready());
    assert_eq!(ex.live_tasks(), 0);
}

#[test]
fn join_handle_resolves_to_output() {
    let (_, ex) = manual(16);
    let child = ex.spawn("child", async {
        yield_now().await;
        41
    });
    let result = Arc::new(AtomicUsize::new(0));
    let r = result.clone();
    let _parent = ex.spawn("parent", async move {
        r.store(child.await + 1, Ordering::SeqCst);
    });
    ex.run_until_idle();
    assert_eq!(result.load(Ordering::SeqCst), 42);
    assert_eq!(ex.live_tasks(), 0);
}

#[test]
fn yielding_tasks_take_strict_turns() {
    const TASKS: usize = 5;
    const ROUNDS: usize = 50;
    let (_, ex) = manual(16);
    let log = Arc::new(Mutex::new(Vec::new()));
    for id in 0..TASKS {
        let log = log.clone();
        ex.spawn("yielder", async move {
            for _ in 0..ROUNDS {
                log.lock().unwrap().push(id);
                yield_now().await;
            }
        })
        .detach();
    }
    ex.run_until_idle();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), TASKS * ROUNDS);
    // Round-robin: the log is 0 1 2 3 4 0 1 2 3 4 ...
    for (i, id) in log.iter().enumerate() {
        assert_eq!(*id, i % TASKS, "turn {i} went to task {id}");
    }
}

#[test]
fn sleeps_complete_in_deadline_order_and_not_early() {
    let (clock, ex) = manual(16);
    let order = Arc::new(Mutex::new(Vec::new()));
    for (id, ns) in [(0usize, 300u64), (1, 100), (2, 200), (3, 100)] {
        let order = order.clone();
        ex.spawn("sleeper", async move {
            Sleep::for_ns(ex.timers(), ns).await;
            order.lock().unwrap().push((id, ex.timers().now()));
        })
        .detach();
    }
    ex.run_until_idle();
    assert_eq!(ex.timers().len(), 4);
    assert_eq!(ex.timers().next_deadline(), Some(100));
    for t in [50, 100, 150, 200, 250, 300] {
        clock.now.store(t, Ordering::SeqCst);
        ex.run_until_idle();
    }
    let order = order.lock().unwrap();
    // Equal deadlines keep registration order; nothing woke before its deadline.
    assert_eq!(*order, vec![(1, 100), (3, 100), (2, 200), (0, 300)]);
    assert!(ex.timers().is_empty());
}

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn timeout_drops_its_inner_future_when_the_deadline_passes() {
    let (clock, ex) = manual(16);
    let dropped = Arc::new(AtomicBool::new(false));
    let outcome = Arc::new(Mutex::new(None));
    let (d, o) = (dropped.clone(), outcome.clone());
    ex.spawn("timeout", async move {
        let flag = DropFlag(d);
        let never = async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        };
        let r = Timeout::until(ex.timers(), 1_000, never).await;
        *o.lock().unwrap() = Some(r);
    })
    .detach();
    ex.run_until_idle();
    assert!(!dropped.load(Ordering::SeqCst));
    clock.now.store(1_000, Ordering::SeqCst);
    ex.run_until_idle();
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(*outcome.lock().unwrap(), Some(Err(Elapsed)));
    assert!(ex.timers().is_empty());
}

#[test]
fn timeout_prefers_a_ready_inner_future() {
    let (clock, ex) = manual(4);
    clock.now.store(5_000, Ordering::SeqCst);
    let h = ex.spawn("t", async move {
        Timeout::until(ex.timers(), 1_000, async { 3 }).await
    });
    ex.run_until_idle();
    assert!(h.is_finished());
}

#[test]
fn dropping_a_sleep_deregisters_it() {
    let (_, ex) = manual(4);
    {
        let mut s = Sleep::for_ns(ex.timers(), 10);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut s).poll(&mut cx).is_pending());
        assert_eq!(ex.timers().len(), 1);
    }
    assert!(ex.timers().is_empty());
}

#[test]
fn spawn_beyond_capacity_fails_and_frees_up() {
    let (_, ex) = manual(2);
    let a = ex.try_spawn("a", async {}).unwrap();
    let _b = ex.try_spawn("b", async {}).unwrap();
    assert_eq!(
        ex.try_spawn("c", async {}).err(),
        Some(SpawnError::TooManyTasks)
    );
    ex.run_until_idle();
    assert!(a.is_finished());
    assert_eq!(ex.live_tasks(), 0);
    assert!(ex.try_spawn("c", async {}).is_ok());
}

#[test]
fn a_detached_task_runs_counts_as_live_and_frees_its_place() {
    let (_, ex) = manual(2);
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let mut seen = None;
    let t = ex
        .try_spawn_detached_with("detached", u64::MAX, |t| seen = Some(t.id()), async move {
            yield_now().await;
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert_eq!(seen, Some(t.id()));
    let _b = ex.try_spawn("b", async {}).unwrap();
    assert_eq!(
        ex.try_spawn_detached_with("c", u64::MAX, |_| {}, async {})
            .err(),
        Some(SpawnError::TooManyTasks)
    );
    ex.run_until_idle();
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert_eq!(ex.live_tasks(), 0);
}

#[test]
fn ten_thousand_tasks_all_complete() {
    let (_, ex) = manual(10_000);
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..10_000 {
        let done = done.clone();
        ex.spawn("many", async move {
            yield_now().await;
            done.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
    }
    ex.run_until_idle();
    assert_eq!(done.load(Ordering::SeqCst), 10_000);
    assert_eq!(ex.live_tasks(), 0);
}

/// A one-shot event whose waiter registers its waker and re-checks, the pattern every
/// kernel wait queue follows.
#[derive(Default)]
struct Event {
    generation: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

#[test]
fn no_lost_wakeup_under_a_wake_park_race() {
    const ROUNDS: u64 = 20_000;
    let platform = Arc::new(ThreadPlatform {
        start: Instant::now(),
        executor_thread: Mutex::new(None),
    });
    let ex: &'static Executor = Box::leak(Box::new(Executor::new(platform.clone(), 8)));
    let event = Arc::new(Event::default());
    let seen = Arc::new(AtomicU64::new(0));

    // The task waits for each generation in turn and acknowledges it.
    let (ev, s) = (event.clone(), seen.clone());
    ex.spawn("waiter", async move {
        for want in 1..=ROUNDS {
            std::future::poll_fn(|cx| {
                *ev.waker.lock().unwrap() = Some(cx.waker().clone());
                if ev.generation.load(Ordering::SeqCst) >= want {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            s.store(want, Ordering::SeqCst);
        }
    })
    .detach();

    // Another "CPU" produces generations as fast as the waiter acknowledges them,
    // waking it from outside the executor thread.
    let (ev, s) = (event.clone(), seen.clone());
    let producer = thread::spawn(move || {
        for g in 1..=ROUNDS {
            while s.load(Ordering::SeqCst) < g - 1 {
                std::hint::spin_loop();
            }
            ev.generation.store(g, Ordering::SeqCst);
            if let Some(w) = ev.waker.lock().unwrap().take() {
                w.wake();
            }
        }
    });

    *platform.executor_thread.lock().unwrap() = Some(thread::current());
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.load(Ordering::SeqCst) < ROUNDS {
        assert!(
            Instant::now() < deadline,
            "lost wake-up: stuck at {}",
            seen.load(Ordering::SeqCst)
        );
        ex.run_once();
        if !ex.has_ready() {
            ex.idle();
        }
    }
    producer.join().unwrap();
    assert_eq!(ex.live_tasks(), 0);
}

// ---- several CPUs ---------------------------------------------------------------

/// A platform for several executor threads: records which CPU each notify named.
#[derive(Default)]
struct MultiPlatform {
    now: AtomicU64,
    notified: Mutex<Vec<usize>>,
}

impl Clock for MultiPlatform {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl Platform for MultiPlatform {
    fn arm_timer(&self, _deadline: Option<u64>) {}
    fn wait_for_work(&self, _has_work: &dyn Fn() -> bool) {}
    fn notify(&self, cpu: usize, _stealable: bool) {
        self.notified.lock().unwrap().push(cpu);
    }
}

fn cpus(n: usize, capacity: usize) -> (Arc<MultiPlatform>, Vec<&'static Executor>) {
    let p = Arc::new(MultiPlatform::default());
    let sched = crate::Scheduler::new(p.clone(), n, capacity);
    let ex = (0..n)
        .map(|cpu| &*Box::leak(Box::new(Executor::on(sched.clone(), cpu))))
        .collect();
    (p, ex)
}

#[test]
fn an_idle_cpu_steals_and_the_task_then_wakes_on_the_thief() {
    let (p, ex) = cpus(2, 8);
    let polls = Arc::new(AtomicUsize::new(0));
    let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let (c, w) = (polls.clone(), waker.clone());
    ex[0]
        .spawn(
            "stolen",
            std::future::poll_fn(move |cx| {
                c.fetch_add(1, Ordering::SeqCst);
                *w.lock().unwrap() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }),
        )
        .detach();
    assert!(ex[0].has_ready());
    // CPU 1 has nothing of its own: it takes the task from CPU 0.
    assert!(ex[1].steal());
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    assert_eq!(ex[1].steals(), 1);
    assert!(!ex[0].has_ready());
    // Woken now, it goes to its new home, and CPU 1 is the one told.
    p.notified.lock().unwrap().clear();
    waker.lock().unwrap().take().unwrap().wake();
    assert!(ex[1].has_ready() && !ex[0].has_ready());
    assert_eq!(*p.notified.lock().unwrap(), vec![1]);
    assert!(!ex[0].steal() || !ex[1].has_ready());
}

#[test]
fn a_task_is_never_polled_by_two_cpus_at_once_while_four_steal() {
    const TASKS: usize = 64;
    const YIELDS: usize = 200;
    let (_p, ex) = cpus(4, TASKS + 1);
    let done = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    for _ in 0..TASKS {
        let (d, o) = (done.clone(), overlaps.clone());
        let busy = Arc::new(AtomicBool::new(false));
        ex[0]
            .spawn("hopper", async move {
                for _ in 0..YIELDS {
                    if busy.swap(true, Ordering::SeqCst) {
                        o.fetch_add(1, Ordering::SeqCst);
                    }
                    std::hint::spin_loop();
                    busy.store(false, Ordering::SeqCst);
                    yield_now().await;
                }
                d.fetch_add(1, Ordering::SeqCst);
            })
            .detach();
    }
    let start = Arc::new(std::sync::Barrier::new(ex.len()));
    let threads: Vec<_> = ex
        .iter()
        .map(|&e| {
            let (d, start) = (done.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                if e.cpu() == 0 {
                    // Every task starts on CPU 0; let the others find them first.
                    thread::sleep(Duration::from_millis(20));
                }
                let deadline = Instant::now() + Duration::from_secs(60);
                while d.load(Ordering::SeqCst) < TASKS && Instant::now() < deadline {
                    e.run_once();
                    if !e.has_ready() {
                        e.steal();
                    }
                }
                e.steals()
            })
        })
        .collect();
    let steals: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(done.load(Ordering::SeqCst), TASKS);
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "a task was polled on two CPUs at once"
    );
    assert!(steals > 0, "nobody stole");
    assert_eq!(ex[0].live_tasks(), 0);
}

#[test]
fn the_live_bound_is_shared_by_every_cpu() {
    let (_p, ex) = cpus(2, 2);
    ex[0].spawn("a", std::future::pending::<()>()).detach();
    ex[1].spawn("b", std::future::pending::<()>()).detach();
    assert_eq!(
        ex[1].try_spawn("c", async {}).err(),
        Some(SpawnError::TooManyTasks)
    );
}

#[test]
fn a_pinned_task_is_never_stolen() {
    let (p, ex) = cpus(3, 8);
    let h = ex[0]
        .try_spawn_with("pinned", 0b101, |_| {}, std::future::pending::<()>())
        .unwrap();
    // Pinned (allowed on some CPUs only): it waits on its home, and nobody is told
    // it could be stolen.
    assert_eq!(*p.notified.lock().unwrap(), vec![0]);
    assert!(!ex[1].steal() && !ex[2].steal());
    assert!(ex[0].has_ready());
    let t = h.task();
    assert!(t.allowed_on(0) && t.allowed_on(2) && !t.allowed_on(1));
    // Restricted to CPU 2: its home moves there, and so does its next wake.
    t.set_affinity(0b100);
    assert_eq!(t.home(), 2);
    // A mask naming no CPU that exists changes nothing.
    t.set_affinity(1 << 40);
    assert_eq!(t.affinity(), 0b100);
    h.detach();
}

#[test]
fn a_task_pinned_while_queued_is_handed_to_its_new_home() {
    let (_p, ex) = cpus(3, 8);
    let h = ex[0].spawn("free", std::future::pending::<()>());
    // Queued on CPU 0 as free to move; then pinned to CPU 2.
    h.task().set_affinity(0b100);
    // CPU 1 finds it, may not run it, and passes it to CPU 2's pinned queue.
    assert!(!ex[1].steal());
    assert!(!ex[0].has_ready() && ex[2].has_ready());
    assert_eq!(ex[2].run_once(), 1);
    h.detach();
}

#[test]
fn pinned_and_free_tasks_take_turns_and_all_run_each_pass() {
    let (_p, ex) = cpus(2, 16);
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let o = order.clone();
        ex[0]
            .spawn("free", async move { o.lock().unwrap().push(("free", i)) })
            .detach();
        let o = order.clone();
        ex[0]
            .try_spawn_with("pinned", 0b01, |_| {}, async move {
                o.lock().unwrap().push(("pinned", i))
            })
            .unwrap()
            .detach();
    }
    assert_eq!(ex[0].run_once(), 6);
    let order = order.lock().unwrap();
    let kinds: Vec<_> = order.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        ["free", "pinned", "free", "pinned", "free", "pinned"]
    );
}

#[test]
fn the_task_list_shows_each_live_task_with_its_phase_and_counts() {
    let (_p, ex) = manual(8);
    let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let w = waker.clone();
    let parked = ex.spawn(
        "parked",
        std::future::poll_fn(move |cx| {
            *w.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }),
    );
    ex.spawn("done-at-once", async {}).detach();
    ex.run_until_idle();
    let tasks = ex.scheduler().tasks();
    assert_eq!(tasks.len(), 1, "the finished task left the list: {tasks:?}");
    let t = &tasks[0];
    assert_eq!(
        (t.name, t.phase, t.polls, t.wakes),
        ("parked", crate::TaskPhase::Parked, 1, 0)
    );
    waker.lock().unwrap().take().unwrap().wake();
    let t = &ex.scheduler().tasks()[0];
    assert_eq!((t.phase, t.wakes), (crate::TaskPhase::Queued, 1));
    parked.detach();
}

#[test]
fn a_tracer_sees_spawn_polls_wakes_and_idle_in_order() {
    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);
    impl crate::Tracer for Log {
        fn record(&self, cpu: Option<usize>, e: crate::Event) {
            self.0.lock().unwrap().push(format!("{cpu:?} {e:?}"));
        }
    }
    let (_p, ex) = manual(8);
    let log = Arc::new(Log::default());
    ex.scheduler().set_tracer(log.clone());
    // Off until switched on.
    ex.spawn("quiet", async {}).detach();
    ex.run_until_idle();
    assert!(log.0.lock().unwrap().is_empty());
    ex.scheduler().set_tracing(true);
    let h = ex.spawn("traced", async { yield_now().await });
    ex.run_until_idle();
    let id = h.id();
    drop(h);
    let got = log.0.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            format!("Some(0) Spawn {{ task: {id}, name: \"traced\" }}"),
            format!("Some(0) PollStart {{ task: {id} }}"),
            format!("None Wake {{ task: {id} }}"),
            format!("Some(0) PollEnd {{ task: {id}, done: false }}"),
            format!("Some(0) PollStart {{ task: {id} }}"),
            format!("Some(0) PollEnd {{ task: {id}, done: true }}"),
        ]
    );
}

#[test]
fn a_task_that_yields_on_its_home_cpu_disturbs_no_other_cpu() {
    let (p, ex) = cpus(2, 8);
    ex[0]
        .spawn("yielder", async {
            for _ in 0..3 {
                yield_now().await;
            }
        })
        .detach();
    p.notified.lock().unwrap().clear();
    ex[0].run_until_idle();
    assert!(
        p.notified.lock().unwrap().is_empty(),
        "requeued yields notified {:?}",
        p.notified.lock().unwrap()
    );
}

#[test]
fn a_busy_cpu_takes_work_from_one_with_a_longer_queue() {
    let (_p, ex) = cpus(2, 8);
    for _ in 0..3 {
        ex[1].spawn("waiting", async {}).detach();
    }
    // CPU 0 has nothing queued, CPU 1 three: CPU 0 takes one and runs it.
    _p.now.store(crate::executor::BALANCE_NS, Ordering::SeqCst);
    assert!(ex[0].balance());
    assert_eq!(ex[0].scheduler().queued(1), 2);
    // Not again until the interval has passed.
    assert!(!ex[0].balance());
    _p.now
        .store(2 * crate::executor::BALANCE_NS, Ordering::SeqCst);
    assert!(ex[0].balance());
    _p.now
        .store(3 * crate::executor::BALANCE_NS, Ordering::SeqCst);
    assert!(ex[0].balance(), "one waiting there, none here: take it");
    _p.now
        .store(4 * crate::executor::BALANCE_NS, Ordering::SeqCst);
    assert!(!ex[0].balance(), "nothing left to take");
}

#[test]
fn a_task_is_runnable_while_queued_or_polled_and_not_while_parked_or_done() {
    let (_, ex) = manual(4);
    let waker = Arc::new(Mutex::new(None::<Waker>));
    let seen_in_poll = Arc::new(Mutex::new(None::<crate::TaskRef>));
    let runnable_in_poll = Arc::new(AtomicBool::new(false));
    let finish = Arc::new(AtomicBool::new(false));
    let (w, s, r, f) = (
        waker.clone(),
        seen_in_poll.clone(),
        runnable_in_poll.clone(),
        finish.clone(),
    );
    let h = ex.spawn(
        "sleeper",
        std::future::poll_fn(move |cx| {
            // Being polled: runnable, as a thread in user mode is.
            if let Some(t) = s.lock().unwrap().as_ref() {
                r.store(t.is_runnable(), Ordering::SeqCst);
            }
            *w.lock().unwrap() = Some(cx.waker().clone());
            if f.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }),
    );
    let t = h.task();
    *seen_in_poll.lock().unwrap() = Some(t.clone());
    // Spawned: queued.
    assert!(t.is_runnable());
    ex.run_until_idle();
    assert!(runnable_in_poll.load(Ordering::SeqCst));
    // Pending with nobody to wake it: asleep.
    assert!(!t.is_runnable());
    waker.lock().unwrap().as_ref().unwrap().wake_by_ref();
    assert!(t.is_runnable());
    finish.store(true, Ordering::SeqCst);
    ex.run_until_idle();
    assert!(h.is_finished());
    assert!(!t.is_runnable());
}

#[test]
fn a_task_fits_a_96_byte_block_with_its_arc_counts() {
    // One per user thread, parked or not (issue #14's 1 KiB a parked thread).
    assert!(
        core::mem::size_of::<crate::task::Task>() <= 80,
        "Task is {} bytes",
        core::mem::size_of::<crate::task::Task>()
    );
}
