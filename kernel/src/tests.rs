//! In-kernel tests of the executor and the clocks as the kernel runs them (see
//! `boot::ktest`; the tests of memory and of the CPU live in `mm` and `arch`).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arch::cpu;
use crate::{kcheck, ktest, task, time};

ktest!(sleep_of_50ms_wakes_no_earlier_than_50ms_by_the_tsc, async {
    let t0 = cpu::rdtsc();
    task::sleep(50_000_000).await;
    let elapsed = time::tsc_delta_ns(cpu::rdtsc() - t0);
    kcheck!(elapsed >= 50_000_000, "woke after {elapsed} ns");
    Ok(())
});

ktest!(sleeps_wake_in_deadline_order, async {
    let order = alloc::sync::Arc::new(spin::Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for (id, ms) in [(0u32, 30u64), (1, 10), (2, 20)] {
        let order = order.clone();
        handles.push(task::spawn("sleeper", async move {
            task::sleep(ms * 1_000_000).await;
            order.lock().push(id);
        }));
    }
    for h in handles {
        h.await;
    }
    let order = order.lock().clone();
    kcheck!(order == [1, 2, 0], "woke in order {order:?}");
    Ok(())
});

ktest!(ten_thousand_spawned_tasks_all_complete, async {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    DONE.store(0, Ordering::SeqCst);
    let mut handles = Vec::with_capacity(10_000);
    for i in 0..10_000usize {
        handles.push(task::spawn("many", async move {
            if i % 2 == 0 {
                kestrel_executor::yield_now().await;
            }
            DONE.fetch_add(1, Ordering::SeqCst);
            i
        }));
    }
    let mut sum = 0;
    for h in handles {
        sum += h.await;
    }
    kcheck!(
        DONE.load(Ordering::SeqCst) == 10_000,
        "{} of 10000 tasks ran",
        DONE.load(Ordering::SeqCst)
    );
    kcheck!(sum == 10_000 * 9_999 / 2, "join outputs summed to {sum}");
    Ok(())
});

ktest!(timeout_cancels_a_task_that_never_finishes, async {
    let r = task::timeout(5_000_000, core::future::pending::<()>()).await;
    kcheck!(r.is_err(), "pending future did not time out");
    Ok(())
});

ktest!(wall_clock_is_after_2024, async {
    let secs = time::realtime_ns() / 1_000_000_000;
    kcheck!(
        secs > 1_704_067_200,
        "wall clock reads {secs} s since the epoch"
    );
    Ok(())
});
