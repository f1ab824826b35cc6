//! Running out of memory: which process dies.
//!
//! When a page fault finds no free frame (user pages stop short of the kernel's
//! reserve), the process holding the most memory is killed, as Linux's OOM killer
//! picks by resident size: the faulting thread then waits for that memory to come
//! back and retries its access, so a small process that happens to fault is not
//! the one that dies. Init is never chosen. While one victim is dying no other is
//! picked; a fault that still finds no memory after a few seconds kills its own
//! process.

use alloc::sync::{Arc, Weak};

use kestrel_abi::process::wstatus_signaled;
use kestrel_abi::signal::SIGKILL;

use super::{Process, State, Thread, all};

/// The process killed to free memory, until its memory is back.
static VICTIM: spin::Mutex<Option<Weak<Process>>> = spin::Mutex::new(None);

/// What the faulting thread does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Another process is dying for its memory: wait a little and retry.
    Retry,
    /// The thread's own process was the one to go.
    KilledSelf,
}

/// Whether `p` still holds the memory it is dying to free.
fn still_dying(p: &Weak<Process>) -> bool {
    p.upgrade().is_some_and(|p| p.state() == State::Running)
}

/// A fault of `t` found no memory. `waited` says how many times it already retried.
pub fn out_of_memory(t: &Arc<Thread>, waited: u32) -> Outcome {
    /// About five seconds of 10 ms retries.
    const MAX_WAITS: u32 = 500;
    let me = &t.process;
    if waited >= MAX_WAITS {
        return kill(me, "no memory came back");
    }
    let mut victim = VICTIM.lock();
    if victim.as_ref().is_some_and(still_dying) {
        return Outcome::Retry;
    }
    let chosen = all()
        .into_iter()
        .filter(|p| p.pid != 1 && p.state() == State::Running && p.exit_status().is_none())
        .map(|p| {
            let rss = p.mm().usage().resident;
            (rss, p)
        })
        .max_by_key(|(rss, _)| *rss);
    let Some((rss, p)) = chosen else {
        drop(victim);
        return kill(me, "nothing else to kill");
    };
    if Arc::ptr_eq(&p, me) {
        *victim = None;
        drop(victim);
        return kill(me, "largest process");
    }
    log::warn!(
        "out of memory: killed process {} ({}), {} KiB resident, for pid {}",
        p.pid,
        alloc::string::String::from_utf8_lossy(&p.comm()),
        rss * 4,
        me.pid
    );
    *victim = Some(Arc::downgrade(&p));
    drop(victim);
    p.begin_exit(wstatus_signaled(SIGKILL, false));
    Outcome::Retry
}

fn kill(p: &Process, why: &str) -> Outcome {
    log::warn!(
        "out of memory: killed process {} ({}): {why}",
        p.pid,
        alloc::string::String::from_utf8_lossy(&p.comm())
    );
    p.begin_exit(wstatus_signaled(SIGKILL, false));
    Outcome::KilledSelf
}
