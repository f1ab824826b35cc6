//! signalfd: signals read from a file descriptor (signalfd(2)).
//!
//! A signalfd holds a set of signals. Reading it takes pending signals of that set
//! from the *reading* thread (its own queue, then its process's), as
//! `struct signalfd_siginfo` records; it is readable while one is pending. The
//! signals are normally blocked, so they wait in the queue instead of being
//! delivered. As in Linux the answer depends on who asks, so the file has no state
//! but its mask: it looks at the current thread.
//!
//! Readers and pollers wait on one queue shared by every signalfd, woken whenever
//! a signal is sent while any signalfd exists.

use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::signal::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOps, OpenFile};

use crate::process::{self, signal};

static WAITERS: WaitQueue = WaitQueue::new();
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Called whenever a signal is queued: wakes signalfd readers, if there are any.
pub fn signal_sent() {
    if LIVE.load(Ordering::Acquire) > 0 {
        WAITERS.wake_all();
    }
}

/// The record for `info`, laid out by the kind of signal it is (the siginfo
/// union), as Linux's signalfd_copyinfo.
fn record(info: &Siginfo) -> SignalfdSiginfo {
    let f = info.fields;
    let mut s = SignalfdSiginfo {
        ssi_signo: info.si_signo as u32,
        ssi_errno: info.si_errno,
        ssi_code: info.si_code,
        ..SignalfdSiginfo::default()
    };
    let sig = info.si_signo as u32;
    if info.si_code == SI_TIMER {
        s.ssi_tid = f[0] as u32;
        s.ssi_overrun = (f[0] >> 32) as u32;
        s.ssi_int = f[1] as i32;
        s.ssi_ptr = f[1];
    } else if sig == SIGCHLD && info.si_code > 0 {
        s.ssi_pid = f[0] as u32;
        s.ssi_uid = (f[0] >> 32) as u32;
        s.ssi_status = f[1] as i32;
        s.ssi_utime = f[2];
        s.ssi_stime = f[3];
    } else if matches!(sig, SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP) && info.si_code > 0 {
        s.ssi_addr = f[0];
    } else {
        // kill, sigqueue, tgkill: sender and value.
        s.ssi_pid = f[0] as u32;
        s.ssi_uid = (f[0] >> 32) as u32;
        s.ssi_int = f[1] as i32;
        s.ssi_ptr = f[1];
    }
    s
}

/// A signalfd's behaviour: its signal set.
pub struct SignalFd {
    mask: AtomicU64,
}

impl SignalFd {
    /// A signalfd for `mask` (SIGKILL and SIGSTOP never included).
    pub fn new(mask: u64) -> Arc<Self> {
        LIVE.fetch_add(1, Ordering::AcqRel);
        Arc::new(Self {
            mask: AtomicU64::new(signal::sanitize_mask(mask)),
        })
    }

    /// The signalfd behind an open file, if it is one.
    pub fn of(file: &OpenFile) -> Option<&SignalFd> {
        file.ops().as_any().downcast_ref::<SignalFd>()
    }

    /// signalfd on an existing descriptor: a new set.
    pub fn set_mask(&self, mask: u64) {
        self.mask
            .store(signal::sanitize_mask(mask), Ordering::Release);
        WAITERS.wake_all();
    }

    /// The signal set.
    pub fn mask(&self) -> u64 {
        self.mask.load(Ordering::Acquire)
    }
}

impl Drop for SignalFd {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

impl FileOps for SignalFd {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        const RECORD: usize = core::mem::size_of::<SignalfdSiginfo>();
        if buf.len() < RECORD {
            return Err(Errno::EINVAL);
        }
        let t = process::current_thread().ok_or(Errno::EINVAL)?;
        let mut n = 0;
        while n + RECORD <= buf.len() {
            let Some(info) = signal::dequeue_from(&t, self.mask()) else {
                break;
            };
            let rec = record(&info);
            buf[n..n + RECORD].copy_from_slice(kestrel_abi::bytemuck_bytes(&rec));
            n += RECORD;
        }
        if n == 0 { Err(Errno::EAGAIN) } else { Ok(n) }
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        match process::current_thread() {
            Some(t) if signal::pending_of(&t) & self.mask() != 0 => POLLIN | POLLRDNORM,
            _ => 0,
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&WAITERS)
    }

    fn seek_is_noop(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
