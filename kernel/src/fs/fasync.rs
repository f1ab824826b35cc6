//! O_ASYNC: SIGIO to a file's owner (F_SETOWN) when its readiness changes.
//!
//! A file with O_ASYNC and an owner gets a watcher: a small task whose waker
//! sits in the file's wait queue, the queue every change of the file's
//! readiness (data in, room to write, hang-up) wakes. Each wake sends SIGIO to
//! the owner while the file is ready for something (the task's first poll only
//! if the readiness changed since O_ASYNC was set: the task may start after the
//! first event), as Linux's kill_fasync does on each such event; as on Linux,
//! SIGIO may come
//! when there is nothing new (a program reads until EAGAIN). The watcher holds
//! the file weakly, so a file being watched still closes; the close hook wakes
//! the watcher, which then finds the file gone and ends. A watcher polled on
//! another CPU holds the file while it looks: if its hold is the last one, the
//! file has closed and it ends without a signal. A file without a wait
//! queue (a regular file) is always ready and gets no SIGIO, as on Linux, where
//! such files have no fasync.

use alloc::sync::{Arc, Weak};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use kestrel_abi::fs::O_ASYNC;
use kestrel_abi::signal::{SI_KERNEL, SIGIO, Siginfo};
use kestrel_sync::WaitKey;
use kestrel_vfs::{FileOwner, OpenFile};

use crate::process;

/// The readiness that counts (Linux's POLL_IN, POLL_OUT, POLL_ERR, POLL_HUP,
/// POLL_PRI).
const READY: u16 = kestrel_abi::fs::POLLIN
    | kestrel_abi::fs::POLLOUT
    | kestrel_abi::fs::POLLERR
    | kestrel_abi::fs::POLLHUP
    | kestrel_abi::fs::POLLPRI;

fn wanted(f: &OpenFile) -> bool {
    f.flags() & O_ASYNC != 0 && f.owner().is_some() && f.ops().wait_queue().is_some()
}

/// After a change of `f`'s O_ASYNC flag or owner: starts its watcher if it
/// now wants one. Without room for another task, SIGIO is not sent (never a
/// panic: user space decides how many files there are).
pub fn changed(f: &Arc<OpenFile>) {
    if !wanted(f) || !f.arm_async() {
        return;
    }
    let watch = Watch {
        file: Arc::downgrade(f),
        key: None,
        started: false,
        armed_with: f.ops().poll() & READY,
    };
    if crate::task::try_spawn_on("fasync", u64::MAX, |_| {}, watch).is_err() {
        f.disarm_async();
    }
}

/// The close hook: a watched file going away wakes its watcher, which ends.
pub fn file_released(f: &OpenFile) {
    if f.async_armed()
        && let Some(q) = f.ops().wait_queue()
    {
        // A watcher polled from now on (another CPU may run it before the last
        // reference goes) finds O_ASYNC off and ends without a SIGIO: a closed
        // file signals no one, as on Linux, whose close removes its fasync entry.
        f.set_status_flags(f.flags() & !O_ASYNC);
        q.wake_all();
    }
}

struct Watch {
    file: Weak<OpenFile>,
    key: Option<WaitKey>,
    started: bool,
    /// The readiness when O_ASYNC was set: the task's first poll may come
    /// after the first event, which a change from this shows.
    armed_with: u16,
}

impl Future for Watch {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(f) = self.file.upgrade() else {
            return Poll::Ready(());
        };
        if !wanted(&f) {
            // O_ASYNC cleared or the owner gone. A change racing with this
            // one may have found the file still armed: look again.
            f.disarm_async();
            if !wanted(&f) || !f.arm_async() {
                if let (Some(q), Some(k)) = (f.ops().wait_queue(), self.key) {
                    q.unregister(k);
                }
                return Poll::Ready(());
            }
        }
        let Some(q) = f.ops().wait_queue() else {
            f.disarm_async();
            return Poll::Ready(());
        };
        let key = q.register(cx.waker(), self.key);
        self.key = Some(key);
        let ready = f.ops().poll() & READY;
        // Only this task holds the file: every descriptor for it has closed,
        // possibly on another CPU while this poll ran, and what made it ready
        // may be the close of the other end after that. A closed file signals
        // no one (Linux removes the fasync entry before close returns); dropping
        // `f` here runs the close hook. Read after `ready`: a change seen there
        // that came after the last close is seen here as that close.
        if Arc::strong_count(&f) == 1 {
            q.unregister(key);
            self.key = None;
            return Poll::Ready(());
        }
        let event = if self.started {
            ready != 0
        } else {
            ready != self.armed_with
        };
        if event && let Some(owner) = f.owner() {
            send(owner);
        }
        self.started = true;
        Poll::Pending
    }
}

/// SIGIO to the owner, as Linux sends it without F_SETSIG (SI_KERNEL).
fn send(owner: FileOwner) {
    let info = || Siginfo::new(SIGIO, SI_KERNEL);
    match owner {
        FileOwner::Thread(tid) => {
            if let Some(t) = process::find_thread(tid) {
                process::signal::send_thread(&t, info());
            }
        }
        FileOwner::Process(pid) => {
            if let Some(p) = process::find(pid) {
                process::signal::send_process(&p, info());
            }
        }
        FileOwner::Group(pgid) => {
            for p in process::in_group(pgid) {
                process::signal::send_process(&p, info());
            }
        }
    }
}
