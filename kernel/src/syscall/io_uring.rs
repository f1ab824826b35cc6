//! io_uring(7): io_uring_setup, io_uring_enter, io_uring_register.
//!
//! A ring is two areas of kernel-allocated pages that user space maps with
//! mmap(2) on the ring's descriptor: the ring area (both rings' indices, the
//! completion entries and the submission index array: IORING_FEAT_SINGLE_MMAP)
//! and the submission entries. The kernel keeps its own handle on those pages
//! ([`SharedPages`]) and reads submissions and writes completions through it,
//! never through the user's mapping, so nothing user space unmaps or remaps can
//! make the kernel fault.
//!
//! Each submitted request (or IOSQE_IO_LINK chain) becomes a task on the
//! executor that runs the system call the opcode stands for, with the
//! submitting thread's identity (its process's files, root, credentials and
//! address space), posts the completion and wakes io_uring_enter's waiters:
//! requests that block (a read on an empty pipe, POLL_ADD, TIMEOUT) wait as
//! tasks, not in io_uring_enter. With IORING_SETUP_SQPOLL a kernel task polls
//! the submission ring instead, and after `sq_thread_idle` ms without work sets
//! IORING_SQ_NEED_WAKEUP and sleeps until io_uring_enter(IORING_ENTER_SQ_WAKEUP).
//!
//! The pure rules (sizes, layout, entry formats, IO_DRAIN ordering) are in
//! kestrel-uring. Design notes: docs/io_uring.md.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::pin::pin;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures_util::future::{Either, select};
use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_uring::{
    Cqe, Flight, Layout, OFF_CQ_RING, OFF_SQ_RING, OFF_SQES, SQ_CQ_OVERFLOW, SQ_NEED_WAKEUP, Sqe,
    enter, feat, op, register, setup, sqe_flags,
};
use kestrel_vfs::eventfd::EventFd;
use kestrel_vfs::{FileOps, OpenFile};

use super::args::*;
use super::{Ctx, wait_for};
use crate::arch::trap::UserContext;
use crate::mm::vm::{Backing, SharedPages};
use crate::process::Thread;
use crate::process::signal::interruptible;
use crate::{task, time};

const PAGE: u64 = 4096;
/// How often an SQPOLL task looks at the submission ring while it is active.
const SQPOLL_INTERVAL_NS: u64 = 200_000;
/// sq_thread_idle when the caller gives 0 (Linux: one second).
const SQPOLL_DEFAULT_IDLE_MS: u32 = 1000;
/// IORING_TIMEOUT_* flags.
const TIMEOUT_ABS: u32 = 1 << 0;
const TIMEOUT_BOOTTIME: u32 = 1 << 2;
const TIMEOUT_REALTIME: u32 = 1 << 3;
/// IORING_FSYNC_DATASYNC.
const FSYNC_DATASYNC: u32 = 1;
/// IORING_ASYNC_CANCEL_*.
const CANCEL_ALL: u32 = 1 << 0;
const CANCEL_FD: u32 = 1 << 1;
const CANCEL_ANY: u32 = 1 << 2;
/// The IOSQE_* flags Linux 6.1 knows.
const KNOWN_SQE_FLAGS: u8 = 0x7f;

/// A request in flight, as cancellation finds it.
struct Request {
    user_data: u64,
    opcode: u8,
    fd: i32,
    cancel: Arc<AtomicBool>,
    /// `Ring::posted` when it was submitted: a TIMEOUT's count runs from
    /// there, not from when its task first ran (completions may come between).
    posted: u64,
}

#[derive(Default)]
struct InFlight {
    order: Flight,
    requests: BTreeMap<u64, Request>,
}

/// The completion side: the kernel's copy of the CQ tail (user space may
/// scribble on the shared one) and completions waiting for room.
#[derive(Default)]
struct CqState {
    tail: u32,
    overflow: VecDeque<Cqe>,
    /// Completions lost because even the overflow list was full.
    dropped: u32,
}

/// One io_uring instance.
pub struct Ring {
    layout: Layout,
    flags: u32,
    rings: Arc<SharedPages>,
    sqes: Arc<SharedPages>,
    /// The kernel's SQ head (entries consumed); the lock also makes
    /// submitters (io_uring_enter callers, the SQPOLL task) take turns.
    sq_head: spin::Mutex<u32>,
    sq_flags: spin::Mutex<u32>,
    cq: spin::Mutex<CqState>,
    /// How many completions were ever posted (TIMEOUT's completion count).
    posted: AtomicU64,
    flight: spin::Mutex<InFlight>,
    /// IORING_REGISTER_BUFFERS: (address, length) of each buffer.
    buffers: spin::Mutex<Vec<(u64, u64)>>,
    eventfd: spin::Mutex<Option<Arc<OpenFile>>>,
    /// Woken on each completion, each request's end, cancellations, close.
    wq: WaitQueue,
    /// The SQPOLL task sleeps here once idle.
    sq_wq: WaitQueue,
    closed: AtomicBool,
}

/// The descriptor's side of a ring: closing the last descriptor (dropping
/// the open file) ends the ring's requests and its SQPOLL task.
struct RingFile(Arc<Ring>);

impl Drop for RingFile {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.wq.wake_all();
        self.0.sq_wq.wake_all();
    }
}

impl FileOps for RingFile {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn seekable(&self) -> bool {
        false
    }
    /// Readable while completions are waiting (Linux's io_uring_poll).
    fn poll(&self) -> u16 {
        let r = &self.0;
        let mut events = POLLOUT | POLLWRNORM;
        if r.cq_ready() > 0 || !r.cq.lock().overflow.is_empty() {
            events |= POLLIN | POLLRDNORM;
        }
        events
    }
    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.wq)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The ring behind an open file, if it is one.
fn ring_of(f: &OpenFile) -> Option<Arc<Ring>> {
    f.ops()
        .as_any()
        .downcast_ref::<RingFile>()
        .map(|r| r.0.clone())
}

/// What mmap(2) of an io_uring descriptor maps: the ring area at
/// IORING_OFF_SQ_RING or IORING_OFF_CQ_RING, the entries at IORING_OFF_SQES
/// (None: not an io_uring file; EINVAL for another offset or a length past
/// the area, as Linux).
pub fn mmap_backing(f: &OpenFile, offset: u64, len: u64) -> Option<KResult<Backing>> {
    let ring = ring_of(f)?;
    // Linux looks only at the bits that pick an area (IORING_OFF_MMAP_MASK).
    let (pages, bytes) = match offset & 0xf800_0000 {
        OFF_SQ_RING | OFF_CQ_RING => (ring.rings.clone(), ring.layout.ring_bytes()),
        OFF_SQES => (ring.sqes.clone(), ring.layout.sqe_bytes()),
        _ => return Some(Err(Errno::EINVAL)),
    };
    if len > bytes.next_multiple_of(PAGE) {
        return Some(Err(Errno::EINVAL));
    }
    Some(Ok(Backing::SharedAnonymous {
        pages,
        offset: 0,
        segment: None,
    }))
}

fn res_of(r: KResult<u64>) -> i32 {
    match r {
        Ok(n) => n.min(i32::MAX as u64) as i32,
        // The kernel's internal restart codes never reach a completion.
        Err(e) if e as i32 >= 512 => -(Errno::EINTR as i32),
        Err(e) => -(e as i32),
    }
}

impl Ring {
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn sq_mask(&self) -> u32 {
        self.layout.sq_entries - 1
    }

    /// Completions user space has not consumed yet.
    fn cq_ready(&self) -> u32 {
        let tail = self.cq.lock().tail;
        let head = self.rings.load_u32(u64::from(Layout::CQ_HEAD));
        kestrel_uring::pending(head, tail, self.layout.cq_entries)
    }

    fn set_sq_flag(&self, bit: u32, on: bool) {
        let mut f = self.sq_flags.lock();
        if on {
            *f |= bit;
        } else {
            *f &= !bit;
        }
        self.rings.store_u32(u64::from(Layout::SQ_FLAGS), *f);
    }

    /// Writes `cqe` into the ring at the kernel's tail if there is room.
    fn try_write(&self, cq: &mut CqState, cqe: Cqe) -> bool {
        let head = self.rings.load_u32(u64::from(Layout::CQ_HEAD));
        let used = cq.tail.wrapping_sub(head);
        // A head user space moved past the tail is treated as a full ring.
        if used >= self.layout.cq_entries {
            return false;
        }
        let slot = cq.tail & (self.layout.cq_entries - 1);
        let at = u64::from(Layout::CQES) + u64::from(slot) * Cqe::SIZE as u64;
        self.rings.write_bytes(at, &cqe.to_bytes());
        cq.tail = cq.tail.wrapping_add(1);
        self.rings.store_u32(u64::from(Layout::CQ_TAIL), cq.tail);
        true
    }

    /// Moves overflowed completions into the ring as room appears.
    fn flush_overflow(&self) {
        let mut cq = self.cq.lock();
        if cq.overflow.is_empty() {
            return;
        }
        while let Some(&c) = cq.overflow.front() {
            if !self.try_write(&mut cq, c) {
                break;
            }
            cq.overflow.pop_front();
        }
        let empty = cq.overflow.is_empty();
        drop(cq);
        if empty {
            self.set_sq_flag(SQ_CQ_OVERFLOW, false);
        }
    }

    /// Posts a completion: into the ring, or onto the overflow list while the
    /// ring is full (IORING_FEAT_NODROP; the list is as long as the ring at
    /// most, past that the completion is counted in cq.overflow and lost).
    fn post(&self, cqe: Cqe) {
        let mut cq = self.cq.lock();
        let mut overflowed = false;
        if !(cq.overflow.is_empty() && self.try_write(&mut cq, cqe)) {
            if cq.overflow.len() < self.layout.cq_entries as usize {
                cq.overflow.push_back(cqe);
            } else {
                cq.dropped = cq.dropped.wrapping_add(1);
                self.rings
                    .store_u32(u64::from(Layout::CQ_OVERFLOW), cq.dropped);
            }
            overflowed = true;
        }
        drop(cq);
        if overflowed {
            self.set_sq_flag(SQ_CQ_OVERFLOW, true);
        }
        self.posted.fetch_add(1, Ordering::AcqRel);
        let efd = self.eventfd.lock().clone();
        if let Some(e) = efd
            .as_ref()
            .and_then(|f| f.ops().as_any().downcast_ref::<EventFd>())
        {
            e.signal(1);
        }
        self.wq.wake_all();
    }

    /// Records the end of request `seq` and lets requests drained behind it go.
    fn finish(&self, seq: u64) {
        {
            let mut f = self.flight.lock();
            f.order.complete(seq);
            f.requests.remove(&seq);
        }
        self.wq.wake_all();
    }

    /// Marks the requests `matches` selects as cancelled (all of them, or the
    /// first); returns how many.
    fn cancel(&self, me: u64, all: bool, matches: impl Fn(&Request) -> bool) -> usize {
        let mut n = 0;
        {
            let f = self.flight.lock();
            for (_, r) in f.requests.iter().filter(|(s, _)| **s != me) {
                if matches(r) && !r.cancel.swap(true, Ordering::AcqRel) {
                    n += 1;
                    if !all {
                        break;
                    }
                }
            }
        }
        if n > 0 {
            self.wq.wake_all();
        }
        n
    }

    /// Whether submission entries are waiting to be consumed.
    fn sq_pending(&self) -> bool {
        let head = *self.sq_head.lock();
        let tail = self.rings.load_u32(u64::from(Layout::SQ_TAIL));
        kestrel_uring::pending(head, tail, self.layout.sq_entries) > 0
    }
}

/// Consumes up to `max` submission entries and starts them (a task per
/// request, or per IOSQE_IO_LINK chain), as `thread`. Returns how many were
/// consumed; EBUSY when none could be because too many requests are in
/// flight or waiting for room in the completion ring.
fn submit(ring: &Arc<Ring>, thread: &Arc<Thread>, max: u32) -> KResult<u32> {
    let mut chains: Vec<Vec<(u64, Sqe, Arc<AtomicBool>)>> = Vec::new();
    let mut chain: Vec<(u64, Sqe, Arc<AtomicBool>)> = Vec::new();
    let mut done = 0u32;
    let cap = ring.layout.cq_entries as usize;
    {
        let mut head = ring.sq_head.lock();
        let tail = ring.rings.load_u32(u64::from(Layout::SQ_TAIL));
        let avail = kestrel_uring::pending(*head, tail, ring.layout.sq_entries).min(max);
        let array = u64::from(ring.layout.sq_array());
        while done < avail {
            let busy = ring.flight.lock().order.len() + ring.cq.lock().overflow.len();
            if busy >= cap {
                break;
            }
            let idx = ring
                .rings
                .load_u32(array + 4 * u64::from(*head & ring.sq_mask()));
            *head = head.wrapping_add(1);
            if idx >= ring.layout.sq_entries {
                // An index past the entries is skipped and counted (sq.dropped).
                let d = ring.rings.load_u32(u64::from(Layout::SQ_DROPPED));
                ring.rings
                    .store_u32(u64::from(Layout::SQ_DROPPED), d.wrapping_add(1));
                break;
            }
            let mut b = [0u8; 64];
            ring.sqes
                .read_bytes(u64::from(idx) * Sqe::SIZE as u64, &mut b);
            let sqe = Sqe::parse(&b);
            done += 1;
            let cancel = Arc::new(AtomicBool::new(false));
            let seq = {
                let mut f = ring.flight.lock();
                let seq = f.order.submit(sqe.flags & sqe_flags::IO_DRAIN != 0);
                f.requests.insert(
                    seq,
                    Request {
                        user_data: sqe.user_data,
                        opcode: sqe.opcode,
                        fd: sqe.fd,
                        cancel: cancel.clone(),
                        posted: ring.posted.load(Ordering::Acquire),
                    },
                );
                seq
            };
            chain.push((seq, sqe, cancel));
            if sqe.flags & (sqe_flags::IO_LINK | sqe_flags::IO_HARDLINK) == 0 {
                chains.push(core::mem::take(&mut chain));
            }
        }
        ring.rings.store_u32(u64::from(Layout::SQ_HEAD), *head);
    }
    // A chain still open at the end of the submission is run as it is.
    if !chain.is_empty() {
        chains.push(chain);
    }
    for c in chains {
        let fut = AsThread {
            thread: thread.clone(),
            fut: Box::pin(run_chain(thread.clone(), ring.clone(), c.clone())),
        };
        if task::try_spawn_on("io_uring", u64::MAX, |_| {}, fut).is_err() {
            // No room for another task: the requests fail with EAGAIN.
            for (seq, sqe, _) in c {
                ring.post(Cqe {
                    user_data: sqe.user_data,
                    res: -(Errno::EAGAIN as i32),
                    flags: 0,
                });
                ring.finish(seq);
            }
        }
    }
    if done == 0 && max > 0 && ring.sq_pending() {
        return Err(Errno::EBUSY);
    }
    Ok(done)
}

/// Polls a request's future as its submitting thread: with the thread's
/// address space active (the user-memory gate copies through the loaded page
/// table) and the thread as the CPU's current one, as the thread's own task
/// does for its system calls.
struct AsThread<F> {
    thread: Arc<Thread>,
    fut: core::pin::Pin<Box<F>>,
}

impl<F: core::future::Future> core::future::Future for AsThread<F> {
    type Output = F::Output;
    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<F::Output> {
        self.thread.make_current();
        let r = self.fut.as_mut().poll(cx);
        crate::process::set_current(None);
        r
    }
}

/// Whether `res` breaks an IOSQE_IO_LINK chain after `sqe` (an error, or a
/// short read or write, as Linux counts it).
fn breaks_chain(sqe: &Sqe, res: i32) -> bool {
    if res < 0 {
        return true;
    }
    matches!(
        sqe.opcode,
        op::READ | op::WRITE | op::READ_FIXED | op::WRITE_FIXED
    ) && (res as u32) < sqe.len
}

/// Runs one request, or a chain of linked ones in order, as `thread`.
async fn run_chain(thread: Arc<Thread>, ring: Arc<Ring>, chain: Vec<(u64, Sqe, Arc<AtomicBool>)>) {
    let mut regs = UserContext::default();
    let mut ctx = Ctx {
        thread: &thread,
        regs: &mut regs,
        resolve: 0,
    };
    let mut failed = false;
    for (seq, sqe, cancel) in chain {
        // IOSQE_IO_DRAIN: wait for the requests before (or for the drain
        // before this one).
        ring.wq
            .wait_until(|| (ring.closed() || ring.flight.lock().order.may_start(seq)).then_some(()))
            .await;
        let res = if failed || ring.closed() || cancel.load(Ordering::Acquire) {
            -(Errno::ECANCELED as i32)
        } else {
            let work = Box::pin(execute(&mut ctx, &ring, seq, &sqe));
            let stop = ring
                .wq
                .wait_until(|| (cancel.load(Ordering::Acquire) || ring.closed()).then_some(()));
            match select(work, pin!(stop)).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => -(Errno::ECANCELED as i32),
            }
        };
        if sqe.flags & sqe_flags::IO_LINK != 0 && breaks_chain(&sqe, res) {
            failed = true;
        }
        let skip = sqe.flags & sqe_flags::CQE_SKIP_SUCCESS != 0 && res >= 0;
        if !skip {
            ring.post(Cqe {
                user_data: sqe.user_data,
                res,
                flags: 0,
            });
        }
        ring.finish(seq);
    }
}

/// Whether file position -1 ("the current position") or a non-seekable file
/// makes a read or write use the file position rather than `off`.
fn uses_position(ctx: &Ctx<'_>, fd: i32, off: u64) -> bool {
    off == u64::MAX || ctx.file(fd).is_ok_and(|f| !f.ops().seekable())
}

/// Checks that `[addr, addr + len)` lies in registered buffer `index`
/// (READ_FIXED, WRITE_FIXED).
fn check_fixed(ring: &Ring, index: u16, addr: u64, len: u32) -> KResult<()> {
    let bufs = ring.buffers.lock();
    let &(base, size) = bufs.get(usize::from(index)).ok_or(Errno::EFAULT)?;
    let end = addr.checked_add(u64::from(len)).ok_or(Errno::EFAULT)?;
    if addr < base || end > base + size {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// Carries out one request; returns the completion's result.
async fn execute(ctx: &mut Ctx<'_>, ring: &Ring, seq: u64, sqe: &Sqe) -> i32 {
    if sqe.flags & !KNOWN_SQE_FLAGS != 0 || sqe.flags & sqe_flags::BUFFER_SELECT != 0 {
        return -(Errno::EINVAL as i32);
    }
    if sqe.flags & sqe_flags::FIXED_FILE != 0 {
        // No files are ever registered.
        return -(Errno::EBADF as i32);
    }
    res_of(execute_op(ctx, ring, seq, sqe).await)
}

async fn execute_op(ctx: &mut Ctx<'_>, ring: &Ring, seq: u64, s: &Sqe) -> KResult<u64> {
    use super::{epoll, fd, fs, fs_extra, mm, socket};
    let (fdn, addr, len, off) = (s.fd, s.addr, s.len, s.off);
    match s.opcode {
        op::NOP => Ok(0),
        op::READ | op::READ_FIXED | op::WRITE | op::WRITE_FIXED => {
            let fixed = matches!(s.opcode, op::READ_FIXED | op::WRITE_FIXED);
            if fixed {
                check_fixed(ring, s.buf_index, addr, len)?;
            } else if s.buf_index != 0 {
                return Err(Errno::EINVAL);
            }
            let write = matches!(s.opcode, op::WRITE | op::WRITE_FIXED);
            let (buf, n) = (UserPtr::new(addr), len as usize);
            match (write, uses_position(ctx, fdn, off)) {
                (false, true) => fs::sys_read(ctx, fdn, buf, n).await,
                (false, false) => fs::sys_pread64(ctx, fdn, buf, n, off as i64).await,
                (true, true) => fs::sys_write(ctx, fdn, buf, n).await,
                (true, false) => fs::sys_pwrite64(ctx, fdn, buf, n, off as i64).await,
            }
        }
        op::READV | op::WRITEV => {
            if s.buf_index != 0 {
                return Err(Errno::EINVAL);
            }
            let (iov, n) = (UserPtr::new(addr), len as usize);
            match (s.opcode == op::WRITEV, uses_position(ctx, fdn, off)) {
                (false, true) => fs::sys_readv(ctx, fdn, iov, n).await,
                (false, false) => fs_extra::sys_preadv(ctx, fdn, iov, n, off as i64).await,
                (true, true) => fs::sys_writev(ctx, fdn, iov, n).await,
                (true, false) => fs_extra::sys_pwritev(ctx, fdn, iov, n, off as i64).await,
            }
        }
        op::FSYNC => {
            if addr != 0 || s.buf_index != 0 || s.op_flags & !FSYNC_DATASYNC != 0 {
                return Err(Errno::EINVAL);
            }
            fs_extra::sys_fsync(ctx, fdn).await
        }
        op::SYNC_FILE_RANGE => {
            fs_extra::sys_sync_file_range(ctx, fdn, off as i64, i64::from(len), s.op_flags).await
        }
        op::POLL_ADD => {
            // Only one-shot polls (IORING_POLL_ADD_MULTI and the update
            // flags in len are not supported).
            if addr != 0 || off != 0 || len != 0 {
                return Err(Errno::EINVAL);
            }
            let file = ctx.file(fdn)?;
            let events = (s.op_flags & 0xffff) as u16;
            wait_for(&file, events).await;
            Ok(u64::from(
                file.poll() & (events | POLLERR | POLLHUP | POLLNVAL),
            ))
        }
        op::POLL_REMOVE | op::TIMEOUT_REMOVE => {
            if s.op_flags != 0 || len != 0 {
                return Err(Errno::EINVAL);
            }
            let kind = if s.opcode == op::POLL_REMOVE {
                op::POLL_ADD
            } else {
                op::TIMEOUT
            };
            match ring.cancel(seq, false, |r| r.opcode == kind && r.user_data == addr) {
                0 => Err(Errno::ENOENT),
                _ => Ok(0),
            }
        }
        op::ASYNC_CANCEL => {
            let f = s.op_flags;
            if f & !(CANCEL_ALL | CANCEL_FD | CANCEL_ANY) != 0 {
                return Err(Errno::EINVAL);
            }
            let all = f & (CANCEL_ALL | CANCEL_ANY) != 0;
            let n = ring.cancel(seq, all, |r| {
                f & CANCEL_ANY != 0
                    || if f & CANCEL_FD != 0 {
                        r.fd == fdn
                    } else {
                        r.user_data == addr
                    }
            });
            match n {
                0 => Err(Errno::ENOENT),
                n if all => Ok(n as u64),
                _ => Ok(0),
            }
        }
        op::TIMEOUT => timeout(ctx, ring, seq, s).await,
        op::SENDMSG => socket::sys_sendmsg(ctx, fdn, UserPtr::new(addr), s.op_flags).await,
        op::RECVMSG => socket::sys_recvmsg(ctx, fdn, UserPtr::new(addr), s.op_flags).await,
        op::SEND => {
            let (buf, n) = (UserPtr::new(addr), len as usize);
            socket::sys_sendto(ctx, fdn, buf, n, s.op_flags, UserPtr::new(0), 0).await
        }
        op::RECV => {
            let (buf, n) = (UserPtr::new(addr), len as usize);
            socket::sys_recvfrom(
                ctx,
                fdn,
                buf,
                n,
                s.op_flags,
                UserPtr::new(0),
                UserPtr::new(0),
            )
            .await
        }
        op::ACCEPT => {
            socket::sys_accept4(ctx, fdn, UserPtr::new(addr), UserPtr::new(off), s.op_flags).await
        }
        op::CONNECT => socket::sys_connect(ctx, fdn, UserPtr::new(addr), off as u32).await,
        op::SHUTDOWN => socket::sys_shutdown(ctx, fdn, len).await,
        op::FALLOCATE => fs_extra::sys_fallocate(ctx, fdn, len, off as i64, addr as i64).await,
        op::FADVISE => {
            fs::sys_fadvise64(ctx, fdn, off as i64, i64::from(len), s.op_flags as i32).await
        }
        op::MADVISE => mm::sys_madvise(ctx, addr, u64::from(len), s.op_flags).await,
        op::OPENAT => {
            if s.buf_index != 0 || s.splice_fd_in != 0 {
                return Err(Errno::EINVAL);
            }
            let flags = s.op_flags | O_LARGEFILE;
            fs::sys_openat(ctx, fdn, UserCStr::new(addr), flags, len as u16).await
        }
        op::OPENAT2 => {
            if s.buf_index != 0 || s.splice_fd_in != 0 {
                return Err(Errno::EINVAL);
            }
            fs_extra::sys_openat2(
                ctx,
                fdn,
                UserCStr::new(addr),
                UserPtr::new(off),
                len as usize,
            )
            .await
        }
        op::CLOSE => {
            if addr != 0 || len != 0 || off != 0 || s.op_flags != 0 || s.buf_index != 0 {
                return Err(Errno::EINVAL);
            }
            if s.splice_fd_in != 0 {
                return Err(Errno::EINVAL);
            }
            // A ring cannot close itself (nor any ring) this way.
            if ring_of(&*ctx.file(fdn)?).is_some() {
                return Err(Errno::EBADF);
            }
            fd::sys_close(ctx, fdn).await
        }
        op::STATX => {
            fs::sys_statx(
                ctx,
                fdn,
                UserCStr::new(addr),
                s.op_flags,
                len,
                UserPtr::new(off),
            )
            .await
        }
        op::EPOLL_CTL => {
            epoll::sys_epoll_ctl(ctx, fdn, len as i32, off as i32, UserPtr::new(addr)).await
        }
        op::RENAMEAT => {
            let (old, new) = (UserCStr::new(addr), UserCStr::new(off));
            fs::sys_renameat2(ctx, fdn, old, len as i32, new, s.op_flags).await
        }
        op::UNLINKAT => fs::sys_unlinkat(ctx, fdn, UserCStr::new(addr), s.op_flags).await,
        op::MKDIRAT => fs::sys_mkdirat(ctx, fdn, UserCStr::new(addr), len as u16).await,
        op::SYMLINKAT => fs::sys_symlinkat(ctx, UserCStr::new(addr), fdn, UserCStr::new(off)).await,
        op::LINKAT => {
            let (old, new) = (UserCStr::new(addr), UserCStr::new(off));
            fs::sys_linkat(ctx, fdn, old, len as i32, new, s.op_flags).await
        }
        _ => Err(Errno::EINVAL),
    }
}

/// IORING_OP_TIMEOUT: completes with ETIME when the time passes, or with 0
/// once `off` other completions were posted since it was submitted (if `off`
/// is not 0).
async fn timeout(ctx: &Ctx<'_>, ring: &Ring, seq: u64, s: &Sqe) -> KResult<u64> {
    if s.len != 1 || s.buf_index != 0 {
        return Err(Errno::EINVAL);
    }
    if s.op_flags & !(TIMEOUT_ABS | TIMEOUT_BOOTTIME | TIMEOUT_REALTIME) != 0
        || s.op_flags & TIMEOUT_BOOTTIME != 0 && s.op_flags & TIMEOUT_REALTIME != 0
    {
        return Err(Errno::EINVAL);
    }
    let ts: Timespec = ctx.read(UserPtr::new(s.addr))?;
    let ns = ts.to_ns().ok_or(Errno::EINVAL)?;
    let now = time::now_ns();
    let deadline = if s.op_flags & TIMEOUT_ABS == 0 {
        now.saturating_add(ns)
    } else if s.op_flags & TIMEOUT_REALTIME != 0 {
        time::realtime_to_monotonic(ns)
    } else {
        ns
    };
    let count = s.off;
    let start = ring
        .flight
        .lock()
        .requests
        .get(&seq)
        .map_or_else(|| ring.posted.load(Ordering::Acquire), |r| r.posted);
    let counted = ring.wq.wait_until(|| {
        (count != 0 && ring.posted.load(Ordering::Acquire).wrapping_sub(start) >= count)
            .then_some(())
    });
    match task::timeout(deadline.saturating_sub(now), counted).await {
        Ok(()) => Ok(0),
        Err(_) => Err(Errno::ETIME),
    }
}

/// The SQPOLL task: submits what user space queues, as `thread`, without
/// system calls; idle for `idle_ns` it sets IORING_SQ_NEED_WAKEUP and sleeps
/// until io_uring_enter(IORING_ENTER_SQ_WAKEUP) or the ring's end.
async fn sq_poller(ring: Arc<Ring>, thread: Arc<Thread>, idle_ns: u64) {
    let mut last = time::now_ns();
    while !ring.closed() {
        if submit(&ring, &thread, u32::MAX).unwrap_or(0) > 0 {
            last = time::now_ns();
            kestrel_executor::yield_now().await;
            continue;
        }
        if time::now_ns().saturating_sub(last) < idle_ns {
            task::sleep(SQPOLL_INTERVAL_NS).await;
            continue;
        }
        ring.set_sq_flag(SQ_NEED_WAKEUP, true);
        // Entries queued before user space saw the flag are found here.
        ring.sq_wq
            .wait_until(|| (ring.closed() || ring.sq_pending()).then_some(()))
            .await;
        ring.set_sq_flag(SQ_NEED_WAKEUP, false);
        last = time::now_ns();
    }
}

/// struct io_uring_params, as io_uring_setup reads and writes it.
const PARAMS_SIZE: usize = 120;

pub async fn sys_io_uring_setup(
    ctx: &mut Ctx<'_>,
    entries: u32,
    params: UserPtr<u8>,
) -> KResult<u64> {
    let mut p = [0u8; PARAMS_SIZE];
    ctx.mm().read_slice(params, &mut p)?;
    let word = |o: usize| u32::from_ne_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]]);
    let (cq_entries, flags, sq_cpu, idle_ms) = (word(4), word(8), word(12), word(16));
    // resv[3] must be zero.
    if p[28..40].iter().any(|&b| b != 0) || flags & !setup::SUPPORTED != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & setup::SQPOLL == 0 && flags & setup::SQ_AFF != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & setup::SQ_AFF != 0 && sq_cpu as usize >= crate::arch::percpu::online() {
        return Err(Errno::EINVAL);
    }
    let (sq, cq) = kestrel_uring::sizes(entries, flags, cq_entries)?;
    let layout = Layout {
        sq_entries: sq,
        cq_entries: cq,
    };
    let pages = |bytes: u64| bytes.div_ceil(PAGE) as usize;
    let rings = SharedPages::allocate(pages(layout.ring_bytes())).ok_or(Errno::ENOMEM)?;
    let sqes = SharedPages::allocate(pages(layout.sqe_bytes())).ok_or(Errno::ENOMEM)?;
    for (off, v) in [
        (Layout::SQ_RING_MASK, sq - 1),
        (Layout::CQ_RING_MASK, cq - 1),
        (Layout::SQ_RING_ENTRIES, sq),
        (Layout::CQ_RING_ENTRIES, cq),
    ] {
        rings.store_u32(u64::from(off), v);
    }
    let idle_ms = if idle_ms == 0 {
        SQPOLL_DEFAULT_IDLE_MS
    } else {
        idle_ms
    };
    let ring = Arc::new(Ring {
        layout,
        flags,
        rings: Arc::new(rings),
        sqes: Arc::new(sqes),
        sq_head: spin::Mutex::new(0),
        sq_flags: spin::Mutex::new(0),
        cq: spin::Mutex::new(CqState::default()),
        posted: AtomicU64::new(0),
        flight: spin::Mutex::new(InFlight::default()),
        buffers: spin::Mutex::new(Vec::new()),
        eventfd: spin::Mutex::new(None),
        wq: WaitQueue::new(),
        sq_wq: WaitQueue::new(),
        closed: AtomicBool::new(false),
    });
    // The answer: sq_entries, cq_entries, features, sq_off, cq_off (flags,
    // sq_thread_cpu and sq_thread_idle as given).
    p[0..4].copy_from_slice(&sq.to_ne_bytes());
    p[4..8].copy_from_slice(&cq.to_ne_bytes());
    p[20..24].copy_from_slice(&feat::ALL.to_ne_bytes());
    p[40..80].copy_from_slice(&layout.sq_off());
    p[80..120].copy_from_slice(&layout.cq_off());
    ctx.mm().write_slice(params, &p)?;
    let file = crate::fs::anon::anon_file(Arc::new(RingFile(ring.clone())), O_RDWR);
    let fd = ctx.install(file, true)?;
    if flags & setup::SQPOLL != 0 {
        let affinity = if flags & setup::SQ_AFF != 0 {
            1u64 << sq_cpu
        } else {
            u64::MAX
        };
        let poller = sq_poller(ring, ctx.thread.clone(), u64::from(idle_ms) * 1_000_000);
        if task::try_spawn_on("io_uring-sq", affinity, |_| {}, poller).is_err() {
            let _ = ctx.process().files().lock().remove(fd);
            return Err(Errno::ENOMEM);
        }
    }
    Ok(fd as u64)
}

/// The wait of io_uring_enter(IORING_ENTER_GETEVENTS): its signal mask and
/// timeout, from `arg` (a sigset_t) or with IORING_ENTER_EXT_ARG a struct
/// io_uring_getevents_arg.
fn wait_args(
    ctx: &Ctx<'_>,
    flags: u32,
    arg: UserPtr<u8>,
    argsz: usize,
) -> KResult<(UserPtr<u64>, usize, Option<u64>)> {
    if flags & enter::EXT_ARG == 0 {
        return Ok((UserPtr::new(arg.addr()), argsz, None));
    }
    if arg.is_null() {
        return Ok((UserPtr::new(0), 0, None));
    }
    if argsz != 24 {
        return Err(Errno::EINVAL);
    }
    let a: [u64; 3] = ctx.read(UserPtr::new(arg.addr()))?;
    let ts = if a[2] != 0 {
        let t: Timespec = ctx.read(UserPtr::new(a[2]))?;
        Some(t.to_ns().ok_or(Errno::EINVAL)?)
    } else {
        None
    };
    Ok((UserPtr::new(a[0]), (a[1] & 0xffff_ffff) as usize, ts))
}

pub async fn sys_io_uring_enter(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    arg: UserPtr<u8>,
    argsz: usize,
) -> KResult<u64> {
    if flags & !enter::SUPPORTED != 0 {
        return Err(Errno::EINVAL);
    }
    let file = ctx.file(fd)?;
    let ring = ring_of(&file).ok_or(Errno::EOPNOTSUPP)?;
    let mut submitted = 0u32;
    if ring.flags & setup::SQPOLL != 0 {
        if flags & enter::SQ_WAKEUP != 0 {
            ring.sq_wq.wake_all();
        }
        if flags & enter::SQ_WAIT != 0 {
            let full = || {
                let head = *ring.sq_head.lock();
                let tail = ring.rings.load_u32(u64::from(Layout::SQ_TAIL));
                (kestrel_uring::pending(head, tail, ring.layout.sq_entries)
                    < ring.layout.sq_entries
                    || ring.closed())
                .then_some(())
            };
            ring.sq_wq.wake_all();
            interruptible(ctx.thread, Errno::EINTR, async {
                ring.wq.wait_until(full).await;
                Ok(())
            })
            .await?;
        }
        submitted = to_submit;
    } else if to_submit > 0 {
        submitted = submit(&ring, ctx.thread, to_submit)?;
    }
    if flags & enter::GETEVENTS != 0 {
        let (sigmask, sigsz, ts) = wait_args(ctx, flags, arg, argsz)?;
        let want = min_complete.min(ring.layout.cq_entries);
        super::poll::push_sigmask(ctx, sigmask, sigsz)?;
        let ready = || {
            ring.flush_overflow();
            (ring.cq_ready() >= want || ring.closed()).then_some(())
        };
        let r = if want == 0 || ready().is_some() {
            Ok(0)
        } else {
            let waited = async {
                ring.wq.wait_until(ready).await;
                Ok(0u64)
            };
            match ts {
                None => interruptible(ctx.thread, Errno::EINTR, waited).await,
                Some(ns) => {
                    let timed =
                        async { task::timeout(ns, waited).await.unwrap_or(Err(Errno::ETIME)) };
                    interruptible(ctx.thread, Errno::EINTR, timed).await
                }
            }
        };
        super::poll::pop_sigmask(ctx, &r);
        if let Err(e) = r
            && submitted == 0
        {
            return Err(e);
        }
    }
    Ok(u64::from(submitted))
}

/// struct io_uring_probe_op's IO_URING_OP_SUPPORTED.
const OP_SUPPORTED: u16 = 1;
/// The most entries REGISTER_PROBE fills (Linux's IORING_OP_LAST bound).
const PROBE_OPS: u32 = 256;

pub async fn sys_io_uring_register(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    opcode: u32,
    arg: u64,
    nr_args: u32,
) -> KResult<u64> {
    let file = ctx.file(fd)?;
    let ring = ring_of(&file).ok_or(Errno::EOPNOTSUPP)?;
    match opcode {
        register::REGISTER_BUFFERS => {
            if nr_args == 0 || nr_args > kestrel_uring::MAX_REG_BUFFERS {
                return Err(Errno::EINVAL);
            }
            if !ring.buffers.lock().is_empty() {
                return Err(Errno::EBUSY);
            }
            let mut bufs = super::zeroed_vec::<(u64, u64)>(nr_args as usize)?;
            let mm = ctx.mm();
            for (i, b) in bufs.iter_mut().enumerate() {
                let iov: [u64; 2] = ctx.read(UserPtr::new(arg.wrapping_add(i as u64 * 16)))?;
                let (base, len) = (iov[0], iov[1]);
                if base == 0 || len == 0 || len > kestrel_uring::MAX_REG_BUFFER_LEN {
                    return Err(Errno::EFAULT);
                }
                // The buffer must be mapped now (Linux pins its pages).
                let end = base.checked_add(len).ok_or(Errno::EFAULT)?;
                let start = base & !(PAGE - 1);
                mm.check_mapped(start, end.next_multiple_of(PAGE) - start)
                    .map_err(|_| Errno::EFAULT)?;
                *b = (base, len);
            }
            let mut cur = ring.buffers.lock();
            if !cur.is_empty() {
                return Err(Errno::EBUSY);
            }
            *cur = bufs;
            Ok(0)
        }
        register::UNREGISTER_BUFFERS => {
            if arg != 0 || nr_args != 0 {
                return Err(Errno::EINVAL);
            }
            let mut cur = ring.buffers.lock();
            if cur.is_empty() {
                return Err(Errno::ENXIO);
            }
            cur.clear();
            Ok(0)
        }
        register::REGISTER_EVENTFD | register::REGISTER_EVENTFD_ASYNC => {
            if nr_args != 1 {
                return Err(Errno::EINVAL);
            }
            let efd: i32 = ctx.read(UserPtr::new(arg))?;
            let f = ctx.file(efd)?;
            if f.ops().as_any().downcast_ref::<EventFd>().is_none() {
                return Err(Errno::EINVAL);
            }
            let mut cur = ring.eventfd.lock();
            if cur.is_some() {
                return Err(Errno::EBUSY);
            }
            *cur = Some(f);
            Ok(0)
        }
        register::UNREGISTER_EVENTFD => {
            if arg != 0 || nr_args != 0 {
                return Err(Errno::EINVAL);
            }
            ring.eventfd.lock().take().map(|_| 0).ok_or(Errno::ENXIO)
        }
        register::REGISTER_PROBE => {
            let n = nr_args.min(PROBE_OPS);
            let size = 16 + n as usize * 8;
            let mut buf = super::zeroed_vec::<u8>(size)?;
            ctx.mm().read_slice(UserPtr::new(arg), &mut buf)?;
            if buf.iter().any(|&b| b != 0) {
                return Err(Errno::EINVAL);
            }
            buf[0] = op::LAST - 1;
            buf[1] = n.min(u32::from(op::LAST)) as u8;
            for i in 0..u32::from(buf[1]) {
                let at = 16 + i as usize * 8;
                buf[at] = i as u8;
                if op::supported(i as u8) {
                    buf[at + 2..at + 4].copy_from_slice(&OP_SUPPORTED.to_ne_bytes());
                }
            }
            ctx.mm().write_slice(UserPtr::new(arg), &buf)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
