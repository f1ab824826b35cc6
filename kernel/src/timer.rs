//! Callback timers: Linux's hrtimers, on the executor's timer queue.
//!
//! An [`HrTimer`] fires a callback at a monotonic deadline, and again every
//! `interval` if it has one. It needs no task of its own: its registration in the
//! executor's [`TimerQueue`](kestrel_executor::timer::TimerQueue) holds a waker whose
//! `wake` runs the callback. The executor expires timers between polls, outside its
//! locks, so a callback runs in task context and may send signals or wake queues —
//! but must not block.
//!
//! Periodic timers catch up rather than drift: when the callback runs late (a long
//! busy loop, a slow host), it is told how many periods passed (`expirations`), which
//! is what timer overruns and timerfd reads report, and the next deadline stays on
//! the original grid.
//!
//! Re-arming bumps a generation number; a registration of an older generation that
//! fires anyway (it was already being expired) is ignored.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::task::Wake;
use core::task::Waker;

use kestrel_executor::timer::TimerKey;

use crate::{task, time};

/// A one-shot or periodic timer that calls a function when it expires.
pub struct HrTimer {
    me: Weak<HrTimer>,
    state: spin::Mutex<State>,
    fire: Box<dyn Fn(u64) + Send + Sync>,
}

#[derive(Default)]
struct State {
    /// The next expiry (monotonic ns), if armed.
    deadline: Option<u64>,
    interval: u64,
    key: Option<TimerKey>,
    generation: u64,
}

/// The waker of one registration.
struct Expiry {
    timer: Weak<HrTimer>,
    generation: u64,
}

impl Wake for Expiry {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(t) = self.timer.upgrade() {
            t.expired(self.generation);
        }
    }
}

impl HrTimer {
    /// A disarmed timer that calls `fire(expirations)` each time it expires;
    /// `expirations` >= 1 counts the periods that passed since the last call.
    pub fn new(fire: impl Fn(u64) + Send + Sync + 'static) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            state: spin::Mutex::new(State::default()),
            fire: Box::new(fire),
        })
    }

    /// Arms the timer for monotonic time `deadline`, then every `interval` ns (0:
    /// once). Replaces any previous setting.
    pub fn arm(&self, deadline: u64, interval: u64) {
        let old = {
            let mut st = self.state.lock();
            st.generation += 1;
            st.deadline = Some(deadline);
            st.interval = interval;
            let old = st.key.take();
            st.key = Some(self.register(deadline, st.generation));
            old
        };
        if let Some(k) = old {
            task::executor().timers().cancel(k);
        }
    }

    /// Stops the timer.
    pub fn disarm(&self) {
        let old = {
            let mut st = self.state.lock();
            st.generation += 1;
            st.deadline = None;
            st.interval = 0;
            st.key.take()
        };
        if let Some(k) = old {
            task::executor().timers().cancel(k);
        }
    }

    /// (time left, interval) in ns; (0, interval) when disarmed. An armed timer whose
    /// expiry is being processed reports 1 ns left, so "armed" never reads as 0.
    pub fn get(&self) -> (u64, u64) {
        let st = self.state.lock();
        match st.deadline {
            Some(d) => (d.saturating_sub(time::now_ns()).max(1), st.interval),
            None => (0, st.interval),
        }
    }

    fn register(&self, deadline: u64, generation: u64) -> TimerKey {
        let waker = Waker::from(Arc::new(Expiry {
            timer: self.me.clone(),
            generation,
        }));
        task::executor().timers().register(deadline, waker)
    }

    fn expired(&self, generation: u64) {
        let n = {
            let mut st = self.state.lock();
            let Some(deadline) = st.deadline.filter(|_| st.generation == generation) else {
                return;
            };
            let now = time::now_ns();
            if now < deadline {
                // Woken early (cannot happen with the executor's queue, but cheap to
                // tolerate): wait for the real deadline.
                st.key = Some(self.register(deadline, generation));
                return;
            }
            match (now - deadline).checked_div(st.interval) {
                None => {
                    // One-shot.
                    st.deadline = None;
                    st.key = None;
                    1
                }
                Some(missed) => {
                    let n = missed + 1;
                    let next = deadline.saturating_add(n.saturating_mul(st.interval));
                    st.deadline = Some(next);
                    st.key = Some(self.register(next, generation));
                    n
                }
            }
        };
        (self.fire)(n);
    }
}

impl Drop for HrTimer {
    fn drop(&mut self) {
        if let Some(k) = self.state.get_mut().key.take() {
            task::executor().timers().cancel(k);
        }
    }
}
