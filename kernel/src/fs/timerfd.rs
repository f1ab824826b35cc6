//! timerfd: a timer whose expirations are read from a file descriptor
//! (timerfd_create(2)).
//!
//! The file counts expirations; reading returns the count as a u64 and resets it,
//! or fails with EAGAIN while it is zero (the syscall layer blocks on the wait queue
//! unless O_NONBLOCK). The timer itself is an [`HrTimer`] whose callback adds to the
//! count and wakes readers and pollers.

use alloc::sync::{Arc, Weak};
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOps, OpenFile, UserPtr, UserSpace};

use crate::process::timers::Clock;
use crate::timer::HrTimer;

/// The behaviour of a timerfd.
pub struct TimerFd {
    pub clock: Clock,
    timer: Arc<HrTimer>,
    shared: Arc<Shared>,
}

struct Shared {
    ticks: spin::Mutex<u64>,
    wq: WaitQueue,
}

impl TimerFd {
    /// A disarmed timerfd on `clock` (a wall or monotonic clock).
    pub fn new(clock: Clock) -> Arc<Self> {
        let shared = Arc::new(Shared {
            ticks: spin::Mutex::new(0),
            wq: WaitQueue::new(),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        let timer = HrTimer::new(move |n| {
            if let Some(s) = weak.upgrade() {
                {
                    let mut t = s.ticks.lock();
                    *t = t.saturating_add(n);
                }
                s.wq.wake_all();
            }
        });
        Arc::new(Self {
            clock,
            timer,
            shared,
        })
    }

    /// The timerfd behind an open file, if it is one.
    pub fn of(file: &OpenFile) -> Option<&TimerFd> {
        file.ops().as_any().downcast_ref::<TimerFd>()
    }

    /// (time left, interval) in ns.
    pub fn get(&self) -> (u64, u64) {
        self.timer.get()
    }

    /// Arms the timer for clock value `at` (None: disarm), then every `interval` ns.
    /// Expirations not yet read are discarded, as in Linux.
    pub fn set(&self, at: Option<u64>, interval: u64) {
        *self.shared.ticks.lock() = 0;
        match at {
            Some(at) => self.timer.arm(self.clock.to_monotonic(at), interval),
            None => self.timer.disarm(),
        }
    }

    /// TFD_IOC_SET_TICKS: sets the expiration count (and wakes readers if nonzero).
    pub fn set_ticks(&self, n: u64) {
        *self.shared.ticks.lock() = n;
        if n != 0 {
            self.shared.wq.wake_all();
        }
    }
}

impl FileOps for TimerFd {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let n = core::mem::take(&mut *self.shared.ticks.lock());
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        buf[..8].copy_from_slice(&n.to_ne_bytes());
        Ok(8)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        if *self.shared.ticks.lock() > 0 {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.shared.wq)
    }

    fn seek_is_noop(&self) -> bool {
        true
    }

    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        /// _IOW('T', 0, u64)
        const TFD_IOC_SET_TICKS: u32 = 0x4008_5400;
        if cmd != TFD_IOC_SET_TICKS {
            return Err(Errno::ENOTTY);
        }
        let n: u64 = UserPtr::new(arg).read(mem)?;
        if n == 0 {
            return Err(Errno::EINVAL);
        }
        self.set_ticks(n);
        Ok(0)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for TimerFd {
    fn drop(&mut self) {
        self.timer.disarm();
    }
}
