//! poll, ppoll, select, pselect6: waiting on many files at once.
//!
//! Every waitable file has a wait queue and a poll mask (kestrel_vfs::FileOps). A
//! multi-file wait registers the task's waker in each file's queue, *then* computes
//! the masks; any change after the computation wakes the task, which computes again.
//! Dropping the wait (timeout, kill) removes every registration.
//!
//! As in Linux, select, pselect6 and ppoll write the time left back to their
//! timeout argument, and ppoll/pselect6 wait under a temporary signal mask that
//! stays in force until a handler interrupted by the wait has run.

use alloc::sync::Arc;

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use kestrel_abi::fs::*;
use kestrel_abi::time::{Timespec, Timeval};
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitKey;
use kestrel_vfs::OpenFile;

use super::Ctx;
use super::args::*;

/// One file being waited on: what is asked, and what is seen.
struct Watch {
    file: Option<Arc<OpenFile>>,
    events: u16,
    key: Option<WaitKey>,
}

/// Computes every watch's returned events; `POLLNVAL` for a closed descriptor.
fn scan(watches: &[Watch], out: &mut [u16]) -> usize {
    let mut ready = 0;
    for (w, r) in watches.iter().zip(out.iter_mut()) {
        *r = match &w.file {
            None => 0,
            Some(f) => f.poll() & (w.events | POLLERR | POLLHUP),
        };
        if *r != 0 {
            ready += 1;
        }
    }
    ready
}

/// Waits until at least one watch has events; resolves to how many.
struct WaitAny<'a> {
    watches: &'a mut [Watch],
    out: &'a mut [u16],
}

impl Future for WaitAny<'_> {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = self.get_mut();
        for w in this.watches.iter_mut() {
            if let Some(q) = w.file.as_ref().and_then(|f| f.ops().wait_queue()) {
                let events = w.events | POLLERR | POLLHUP;
                w.key = Some(q.register_for(cx.waker(), w.key, u32::from(events)));
            }
        }
        match scan(this.watches, this.out) {
            0 => Poll::Pending,
            n => Poll::Ready(n),
        }
    }
}

impl Drop for WaitAny<'_> {
    fn drop(&mut self) {
        for w in self.watches.iter_mut() {
            if let (Some(f), Some(k)) = (&w.file, w.key.take())
                && let Some(q) = f.ops().wait_queue()
            {
                q.unregister(k);
            }
        }
    }
}

/// Waits on `watches` for at most `timeout_ns` (None: forever); fills `out` and
/// returns how many have events (0 on timeout). A signal ends the wait with
/// ERESTARTNOHAND: EINTR when a handler runs, a restart otherwise (poll(2) and
/// select(2) are never restarted after a handler, even with SA_RESTART).
async fn wait(
    ctx: &Ctx<'_>,
    watches: &mut [Watch],
    out: &mut [u16],
    timeout_ns: Option<u64>,
) -> KResult<usize> {
    let n = scan(watches, out);
    if n > 0 || timeout_ns == Some(0) {
        return Ok(n);
    }
    let waiting = async { Ok(WaitAny { watches, out }.await) };
    let waiting = crate::process::signal::interruptible(ctx.thread, Errno::ERESTARTNOHAND, waiting);
    match timeout_ns {
        None => waiting.await,
        Some(ns) => crate::task::timeout(ns, waiting).await.unwrap_or(Ok(0)),
    }
}

async fn do_poll(
    ctx: &Ctx<'_>,
    fds_ptr: UserPtr<PollFd>,
    nfds: usize,
    timeout_ns: Option<u64>,
) -> KResult<u64> {
    // RLIMIT_NOFILE bounds the array, as in Linux; the buffers below are sized by
    // it, so they are allocated fallibly.
    if nfds > ctx.process().nofile() {
        return Err(Errno::EINVAL);
    }
    let mut fds: Vec<PollFd> = super::zeroed_vec(nfds)?;
    let mm = ctx.mm();
    mm.read_slice(fds_ptr, &mut fds)?;
    let files = ctx.process().files();
    // A first look, which is all a call with a zero timeout or a ready file
    // needs: each file polled in turn, nothing registered, nothing kept.
    let ready = poll_once(&files, &mut fds);
    if ready > 0 || timeout_ns == Some(0) {
        mm.write_slice(fds_ptr, &fds)?;
        return Ok(ready as u64);
    }
    drop(mm);
    let mut nval = Vec::new();
    let mut watches: Vec<Watch> = Vec::new();
    watches.try_reserve_exact(nfds).map_err(|_| Errno::ENOMEM)?;
    {
        let t = files.lock();
        for (i, p) in fds.iter().enumerate() {
            let file = if p.fd < 0 { None } else { t.get(p.fd).ok() };
            if p.fd >= 0 && file.is_none() {
                nval.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                nval.push(i);
            }
            watches.push(Watch {
                file,
                events: p.events as u16,
                key: None,
            });
        }
    }
    let mut out: Vec<u16> = super::zeroed_vec(watches.len())?;
    let n = if nval.is_empty() {
        wait(ctx, &mut watches, &mut out, timeout_ns).await?
    } else {
        scan(&watches, &mut out)
    };
    for i in &nval {
        out[*i] = POLLNVAL;
    }
    for (p, r) in fds.iter_mut().zip(&out) {
        p.revents = *r as i16;
    }
    ctx.mm().write_slice(fds_ptr, &fds)?;
    Ok((n + nval.len()) as u64)
}

/// Polls every descriptor of `fds` once, filling in `revents` (POLLNVAL for a
/// closed one, nothing for a negative one); returns how many have events.
///
/// The descriptor table stays locked for the whole scan and each file is
/// polled through a borrow from it, as [`select_once`] does (see there for
/// why that lock may be held around a file's `poll`).
fn poll_once(files: &crate::process::Shared<kestrel_vfs::FdTable>, fds: &mut [PollFd]) -> usize {
    let t = files.lock();
    let mut ready = 0;
    for p in fds.iter_mut() {
        let revents = if p.fd < 0 {
            0
        } else {
            match t.get_ref(p.fd) {
                Some(f) => f.poll() & (p.events as u16 | POLLERR | POLLHUP),
                None => POLLNVAL,
            }
        };
        p.revents = revents as i16;
        if revents != 0 {
            ready += 1;
        }
    }
    ready
}

pub async fn sys_poll(ctx: &mut Ctx<'_>, fds: UserPtr<PollFd>, nfds: u32, ms: i32) -> KResult<u64> {
    let timeout = if ms < 0 {
        None
    } else {
        Some(ms as u64 * 1_000_000)
    };
    do_poll(ctx, fds, nfds as usize, timeout).await
}

/// A relative timeout (`None`: a null pointer, wait for as long as it takes);
/// EINVAL for a timespec out of range. Also io_getevents' and io_pgetevents'.
pub(super) fn read_timespec_timeout(ctx: &Ctx<'_>, ptr: UserPtr<Timespec>) -> KResult<Option<u64>> {
    if ptr.is_null() {
        return Ok(None);
    }
    let t: Timespec = ctx.read(ptr)?;
    t.to_ns().map(Some).ok_or(Errno::EINVAL)
}

/// Reads the optional sigmask of ppoll/pselect6 (`size` must be 8) and installs it
/// for the wait, remembering the caller's mask.
pub(super) fn push_sigmask(ctx: &Ctx<'_>, ptr: UserPtr<u64>, size: usize) -> KResult<()> {
    if ptr.is_null() {
        return Ok(());
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = ctx.read(ptr)?;
    let t = ctx.thread;
    let old = t.sigmask.swap(
        crate::process::signal::sanitize_mask(mask),
        core::sync::atomic::Ordering::AcqRel,
    );
    t.set_saved_mask(old);
    Ok(())
}

/// Undoes [`push_sigmask`] unless the wait was interrupted: then signal delivery
/// restores the mask after the handler frame is set up (Linux's
/// restore_saved_sigmask_unless).
pub(super) fn pop_sigmask(ctx: &Ctx<'_>, r: &KResult<u64>) {
    if matches!(r, Err(Errno::ERESTARTNOHAND | Errno::EINTR)) {
        return;
    }
    if let Some(m) = ctx.thread.take_saved_mask() {
        ctx.thread
            .sigmask
            .store(m, core::sync::atomic::Ordering::Release);
    }
}

/// The time left until `deadline` (monotonic ns).
fn left(deadline: u64) -> u64 {
    deadline.saturating_sub(crate::time::now_ns())
}

pub async fn sys_ppoll(
    ctx: &mut Ctx<'_>,
    fds: UserPtr<PollFd>,
    nfds: u32,
    tsp: UserPtr<Timespec>,
    sigmask: UserPtr<u64>,
    sigsetsize: usize,
) -> KResult<u64> {
    let timeout = read_timespec_timeout(ctx, tsp)?;
    push_sigmask(ctx, sigmask, sigsetsize)?;
    let deadline = timeout.map(|ns| crate::time::now_ns().saturating_add(ns));
    let r = do_poll(ctx, fds, nfds as usize, timeout).await;
    pop_sigmask(ctx, &r);
    if let Some(d) = deadline {
        // A timeout that cannot be written back is not an error (Linux ignores it).
        let _ = ctx.write(tsp, &Timespec::from_ns(left(d)));
    }
    r
}

/// Sets of up to this many words (FD_SETSIZE, 1024 descriptors) are looked at
/// first from the stack.
const SMALL_SET_WORDS: usize = 16;

/// [`select_once`] with the sets on the stack: no allocation for the common
/// call (a zero timeout, or a file already ready). Sets of `nfds` bits, at
/// most [`SMALL_SET_WORDS`] words.
fn select_small(
    ctx: &Ctx<'_>,
    nfds: usize,
    sets: [UserPtr<u8>; 3],
    timeout_ns: Option<u64>,
) -> KResult<Option<u64>> {
    let words = nfds.div_ceil(64);
    let mut bits = [[0u64; SMALL_SET_WORDS]; 3];
    let mm = ctx.mm();
    for (set, &ptr) in bits.iter_mut().zip(&sets) {
        if !ptr.is_null() && words > 0 {
            mm.read_slice(ptr.cast(), &mut set[..words])?;
        }
    }
    drop(mm);
    let [r, w, x] = &mut bits;
    select_once(
        ctx,
        nfds,
        [&mut r[..words], &mut w[..words], &mut x[..words]],
        sets,
        timeout_ns,
    )
}

/// The poll bits that make a descriptor ready in select's read, write and
/// except sets (Linux's POLLIN_SET, POLLOUT_SET, POLLEX_SET).
const SELECT_IN: u16 = POLLIN | POLLRDNORM | POLLHUP | POLLERR;
const SELECT_OUT: u16 = POLLOUT | POLLWRNORM | POLLERR;
const SELECT_EX: u16 = POLLPRI;

/// select's first look: each file of the sets `bits` polled in turn (nothing
/// registered, nothing kept), the sets replaced by the answer, word by word.
/// With a ready file or a zero timeout that is the answer: the sets are
/// written back and the count returned. `None`: nothing ready, the caller
/// waits (the sets, all zero then, are no longer the question). EBADF for a
/// descriptor in a set that is not open.
///
/// The sets are walked a word at a time, from one set bit to the next (bits
/// at or past `nfds` are not looked at, and are 0 in the answer); each
/// word's answers are gathered in registers and stored once.
///
/// The descriptor table stays locked for the whole scan and each file is
/// polled through a borrow from it, with no reference count. That lock is
/// taken before any file's own, never after: no file's `poll` takes a
/// descriptor table's lock, and nothing that installs or removes descriptors
/// (SCM_RIGHTS, fanotify's read, seccomp's ADDFD, userfaultfd, io_uring)
/// holds a file's lock meanwhile. The scan does not wait, and the lock is let
/// go before the sets are written back.
fn select_once(
    ctx: &Ctx<'_>,
    nfds: usize,
    bits: [&mut [u64]; 3],
    sets: [UserPtr<u8>; 3],
    timeout_ns: Option<u64>,
) -> KResult<Option<u64>> {
    let words = nfds.div_ceil(64);
    let [r, w, x] = bits;
    let (r, w, x) = (&mut r[..words], &mut w[..words], &mut x[..words]);
    let files = ctx.process().files();
    let t = files.lock();
    let mut count = 0;
    for i in 0..words {
        let mut any = r[i] | w[i] | x[i];
        if i == words - 1 && !nfds.is_multiple_of(64) {
            any &= (1 << (nfds % 64)) - 1;
        }
        let (mut rw, mut ww, mut xw) = (0u64, 0u64, 0u64);
        while any != 0 {
            let b = any.trailing_zeros();
            any &= any - 1;
            let fd = (i * 64) as i32 + b as i32;
            let m = t.get_ref(fd).ok_or(Errno::EBADF)?.poll();
            let bit = 1u64 << b;
            if m & SELECT_IN != 0 {
                rw |= bit;
            }
            if m & SELECT_OUT != 0 {
                ww |= bit;
            }
            if m & SELECT_EX != 0 {
                xw |= bit;
            }
        }
        // Only what was asked: a file ready for writing is not in the read set.
        let (rw, ww, xw) = (rw & r[i], ww & w[i], xw & x[i]);
        r[i] = rw;
        w[i] = ww;
        x[i] = xw;
        count += u64::from(rw.count_ones() + ww.count_ones() + xw.count_ones());
    }
    drop(t);
    if count == 0 && timeout_ns != Some(0) {
        return Ok(None);
    }
    let mm = ctx.mm();
    for (set, &ptr) in [&*r, &*w, &*x].iter().zip(&sets) {
        if !ptr.is_null() && !set.is_empty() {
            mm.write_slice(ptr.cast(), set)?;
        }
    }
    Ok(Some(count))
}

/// The three fd_sets of select, as bit vectors of `nfds` bits.
async fn do_select(
    ctx: &Ctx<'_>,
    nfds: i32,
    sets: [UserPtr<u8>; 3],
    timeout_ns: Option<u64>,
) -> KResult<u64> {
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    // A larger nfds is not an error: as Linux caps it at the size of the
    // descriptor table (`max_fds`), the bits past what the table can hold
    // (RLIMIT_NOFILE descriptors, and FD_SETSIZE at least) are neither read
    // nor written back.
    let nfds = (nfds as usize).min(ctx.process().nofile().max(1024));
    let words = nfds.div_ceil(64);
    if words <= SMALL_SET_WORDS
        && let Some(n) = select_small(ctx, nfds, sets, timeout_ns)?
    {
        return Ok(n);
    }
    let mut bits: [Vec<u64>; 3] = [
        super::zeroed_vec(words)?,
        super::zeroed_vec(words)?,
        super::zeroed_vec(words)?,
    ];
    for (set, &ptr) in bits.iter_mut().zip(&sets) {
        if !ptr.is_null() && words > 0 {
            ctx.mm().read_slice(ptr.cast(), set)?;
        }
    }
    let test = |set: &[u64], fd: usize| set[fd / 64] & (1 << (fd % 64)) != 0;
    let files = ctx.process().files();
    if words > SMALL_SET_WORDS {
        // The first look of larger sets (smaller ones had theirs above), on
        // a copy: the sets are still the question if it finds nothing.
        let mut look: [Vec<u64>; 3] = [
            super::zeroed_vec(words)?,
            super::zeroed_vec(words)?,
            super::zeroed_vec(words)?,
        ];
        for (l, b) in look.iter_mut().zip(&bits) {
            l.copy_from_slice(b);
        }
        let [r, w, x] = &mut look;
        if let Some(n) = select_once(ctx, nfds, [r, w, x], sets, timeout_ns)? {
            return Ok(n);
        }
    }
    let mut watches = Vec::new();
    let mut which = Vec::new();
    {
        let t = files.lock();
        for fd in 0..nfds {
            let mut events = 0;
            if test(&bits[0], fd) {
                events |= SELECT_IN;
            }
            if test(&bits[1], fd) {
                events |= SELECT_OUT;
            }
            if test(&bits[2], fd) {
                events |= SELECT_EX;
            }
            if events == 0 {
                continue;
            }
            let file = t.get(fd as i32).map_err(|_| Errno::EBADF)?;
            watches.push(Watch {
                file: Some(file),
                events,
                key: None,
            });
            which.push(fd);
        }
    }
    let mut out: Vec<u16> = super::zeroed_vec(watches.len())?;
    wait(ctx, &mut watches, &mut out, timeout_ns).await?;
    let mut result: [Vec<u64>; 3] = [
        super::zeroed_vec(words)?,
        super::zeroed_vec(words)?,
        super::zeroed_vec(words)?,
    ];
    let mut count = 0;
    for (&fd, &r) in which.iter().zip(&out) {
        let set = |s: &mut Vec<u64>| s[fd / 64] |= 1 << (fd % 64);
        if test(&bits[0], fd) && r & SELECT_IN != 0 {
            set(&mut result[0]);
            count += 1;
        }
        if test(&bits[1], fd) && r & SELECT_OUT != 0 {
            set(&mut result[1]);
            count += 1;
        }
        if test(&bits[2], fd) && r & SELECT_EX != 0 {
            set(&mut result[2]);
            count += 1;
        }
    }
    for (set, &ptr) in result.iter().zip(&sets) {
        if !ptr.is_null() && words > 0 {
            ctx.mm().write_slice(ptr.cast(), set)?;
        }
    }
    Ok(count)
}

pub async fn sys_select(
    ctx: &mut Ctx<'_>,
    nfds: i32,
    readfds: UserPtr<u8>,
    writefds: UserPtr<u8>,
    exceptfds: UserPtr<u8>,
    tv_ptr: UserPtr<Timeval>,
) -> KResult<u64> {
    let timeout = if !tv_ptr.is_null() {
        let tv: Timeval = ctx.read(tv_ptr)?;
        if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_usec) {
            return Err(Errno::EINVAL);
        }
        Some(
            (tv.tv_sec as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(tv.tv_usec as u64 * 1000),
        )
    } else {
        None
    };
    let deadline = timeout.map(|ns| crate::time::now_ns().saturating_add(ns));
    let r = do_select(ctx, nfds, [readfds, writefds, exceptfds], timeout).await;
    if let Some(d) = deadline {
        let ns = left(d);
        let tv = Timeval {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_usec: (ns % 1_000_000_000 / 1000) as i64,
        };
        let _ = ctx.write(tv_ptr, &tv);
    }
    r
}

pub async fn sys_pselect6(
    ctx: &mut Ctx<'_>,
    nfds: i32,
    readfds: UserPtr<u8>,
    writefds: UserPtr<u8>,
    exceptfds: UserPtr<u8>,
    ts_ptr: UserPtr<Timespec>,
    sigmask: UserPtr<[u64; 2]>,
) -> KResult<u64> {
    let timeout = read_timespec_timeout(ctx, ts_ptr)?;
    // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
    if !sigmask.is_null() {
        let [mask_ptr, size]: [u64; 2] = ctx.read(sigmask)?;
        push_sigmask(ctx, UserPtr::new(mask_ptr), size as usize)?;
    }
    let deadline = timeout.map(|ns| crate::time::now_ns().saturating_add(ns));
    let r = do_select(ctx, nfds, [readfds, writefds, exceptfds], timeout).await;
    pop_sigmask(ctx, &r);
    if let Some(d) = deadline {
        let _ = ctx.write(ts_ptr, &Timespec::from_ns(left(d)));
    }
    r
}
