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
//!
//! SIGURG (TCP urgent data from the peer) goes to the owner of a TCP socket
//! whatever its O_ASYNC, as Linux's sk_send_sigurg: the sockets with an
//! owner are noted here, and the network stack calls [`urgent`] when one of
//! them learns of new urgent data.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use kestrel_abi::fs::O_ASYNC;
use kestrel_abi::signal::{SI_KERNEL, SIGIO, SIGURG, Siginfo};
use kestrel_net::inet::InetSocket;
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
    note_urgent_owner(f);
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

/// Internet sockets with an owner, by the socket's address: where SIGURG
/// goes. Entries of closed files are swept when the table grows.
static URGENT_OWNERS: spin::Mutex<BTreeMap<usize, Weak<OpenFile>>> =
    spin::Mutex::new(BTreeMap::new());

/// After a change of `f`'s owner: notes (or forgets) it as the one to get
/// SIGURG if `f` is an internet socket.
fn note_urgent_owner(f: &Arc<OpenFile>) {
    let Some(s) = InetSocket::of(f) else {
        return;
    };
    kestrel_net::inet::URGENT_HOOK.call_once(|| urgent);
    let key = core::ptr::from_ref(s) as usize;
    let mut owners = URGENT_OWNERS.lock();
    if f.owner().is_some() {
        if owners.len() >= 1024 {
            owners.retain(|_, w| w.strong_count() > 0);
        }
        owners.insert(key, Arc::downgrade(f));
    } else {
        owners.remove(&key);
    }
}

/// The stack's hook: `s` learned of new urgent data; SIGURG (SI_KERNEL, as
/// Linux's send_sigurg) to its file's owner, if it has one.
fn urgent(s: &Arc<InetSocket>) {
    let key = Arc::as_ptr(s) as usize;
    let file = URGENT_OWNERS.lock().get(&key).and_then(Weak::upgrade);
    let Some(f) = file else {
        return;
    };
    // The address may have been reused by another socket since.
    let same = InetSocket::of(&f).is_some_and(|x| core::ptr::eq(x, Arc::as_ptr(s)));
    if same && let Some(owner) = f.owner() {
        send(owner, &Siginfo::new(SIGURG, SI_KERNEL));
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
            send(owner, &io_siginfo(&f, ready));
        }
        self.started = true;
        Poll::Pending
    }
}

/// What an I/O event on `f` sends: SIGIO from the kernel (SI_KERNEL) without
/// F_SETSIG, as Linux; with it, that signal with si_code POLL_IN, POLL_OUT,
/// POLL_ERR, POLL_PRI or POLL_HUP for `ready`'s first event, si_band its poll
/// bits and si_fd the descriptor O_ASYNC was set through (Linux's
/// send_sigio_to_task).
fn io_siginfo(f: &OpenFile, ready: u16) -> Siginfo {
    use kestrel_abi::fs::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI};
    let sig = f.io_signal();
    if sig == 0 {
        return Siginfo::new(SIGIO, SI_KERNEL);
    }
    // (si_code, si_band) as Linux's band_table has them.
    const POLLRDNORM: u64 = 0x40;
    const POLLRDBAND: u64 = 0x80;
    const POLLWRNORM: u64 = 0x100;
    const POLLWRBAND: u64 = 0x200;
    const POLLMSG: u64 = 0x400;
    let (code, band) = if ready & POLLIN != 0 {
        (1, u64::from(POLLIN) | POLLRDNORM | POLLMSG)
    } else if ready & POLLOUT != 0 {
        (2, u64::from(POLLOUT) | POLLWRNORM | POLLWRBAND)
    } else if ready & POLLHUP != 0 {
        (6, u64::from(POLLHUP | POLLERR))
    } else if ready & POLLERR != 0 {
        (4, u64::from(POLLERR))
    } else if ready & POLLPRI != 0 {
        (5, u64::from(POLLPRI) | POLLRDBAND)
    } else {
        (1, u64::from(POLLIN) | POLLRDNORM | POLLMSG)
    };
    poll_siginfo(sig, code, band, f.async_fd())
}

/// A SIGPOLL-layout siginfo: `_sigpoll { long si_band; int si_fd; }`.
pub fn poll_siginfo(sig: u32, code: i32, band: u64, fd: i32) -> Siginfo {
    let mut i = Siginfo::new(sig, code);
    i.fields[0] = band;
    i.fields[1] = u64::from(fd as u32);
    i
}

/// `info` to the owner: a thread, a process or every process of a group.
pub fn send(owner: FileOwner, info: &Siginfo) {
    let info = || *info;
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
