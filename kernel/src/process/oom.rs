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
use crate::mm::vm::AddressSpace;

/// The address space of the process killed to free memory: the memory is back
/// when the last reference to it is gone (the process may be a zombie well
/// before that, while another CPU still tears its mappings down).
static VICTIM: spin::Mutex<Option<Weak<AddressSpace>>> = spin::Mutex::new(None);

/// What the faulting thread does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Another process is dying for its memory: wait a little and retry.
    Retry,
    /// The thread's own process was the one to go.
    KilledSelf,
}

/// Whether the victim's memory is still on its way back: its address space is
/// alive, or being freed (that takes a while for a large one, and the last
/// reference is gone as soon as it starts).
fn still_dying(mm: &Weak<AddressSpace>) -> bool {
    mm.strong_count() > 0 || crate::mm::vm::teardown_in_progress()
}

/// A fault of `t` found no memory. `waited` says how many times it already retried.
pub fn out_of_memory(t: &Arc<Thread>, waited: u32) -> Outcome {
    /// About five seconds of 10 ms retries.
    const MAX_WAITS: u32 = 500;
    let me = &t.process;
    if waited >= MAX_WAITS {
        return kill(me, "no memory came back");
    }
    // File pages that can be read again go before any process does, and the
    // ext2 name cache (names are looked up again).
    if crate::fs::ext2::reclaim_page_cache() + crate::fs::ext2::reclaim_names() > 0 {
        return Outcome::Retry;
    }
    let mut victim = VICTIM.lock();
    if victim.as_ref().is_some_and(still_dying) {
        // Another CPU's fault already chose who dies (possibly this very process):
        // its memory is on the way back.
        return if me.exit_status().is_some() {
            Outcome::KilledSelf
        } else {
            Outcome::Retry
        };
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
    *victim = Some(Arc::downgrade(&p.mm()));
    if Arc::ptr_eq(&p, me) {
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
