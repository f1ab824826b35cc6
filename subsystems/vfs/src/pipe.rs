//! Pipes: a bounded byte queue between a read end and a write end.
//!
//! Linux semantics (pipe(7)): capacity 64 KiB; a read of an empty pipe is EAGAIN
//! while a writer exists and end-of-file (0) once none does; a write with no reader is
//! EPIPE (the kernel adds SIGPIPE); writes of at most PIPE_BUF (4096) bytes are atomic,
//! so they wait until they fit whole; larger writes may be split.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicUsize, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;

use crate::file::{FileOps, OpenFile};
use crate::{UserPtr, UserSpace};

/// Bytes a pipe holds by default.
pub const PIPE_CAPACITY: usize = 65_536;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

struct State {
    buf: VecDeque<u8>,
    capacity: usize,
    readers: usize,
    writers: usize,
    /// How many read and write opens there have been (a FIFO opener waits for the
    /// other side's count to change, as Linux's wait_for_partner).
    read_opens: u64,
    write_opens: u64,
}

/// The shared part of a pipe.
pub struct Pipe {
    state: spin::Mutex<State>,
    wq: WaitQueue,
    /// The user its buffer pages are counted against, and how many (a pipe
    /// made by pipe(2); FIFOs are not counted).
    account: spin::Mutex<Option<(u32, usize)>>,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if let Some((uid, pages)) = self.account.lock().take() {
            account(uid, pages, 0);
        }
    }
}

/// /proc/sys/fs/pipe-user-pages-soft: past this many pipe buffer pages, a
/// user without CAP_SYS_RESOURCE or CAP_SYS_ADMIN gets two-page pipes.
pub static PIPE_USER_PAGES_SOFT: AtomicUsize = AtomicUsize::new(16384);
/// /proc/sys/fs/pipe-user-pages-hard: past this many, such a user gets no
/// new pipe (0: no limit).
pub static PIPE_USER_PAGES_HARD: AtomicUsize = AtomicUsize::new(0);
/// A soft-limited pipe's pages (Linux's PIPE_MIN_DEF_BUFFERS).
const PIPE_MIN_DEF_BUFFERS: usize = 2;
/// Pipe buffer pages per user id (Linux's user_struct pipe_bufs).
static USER_PAGES: spin::Mutex<BTreeMap<u32, usize>> = spin::Mutex::new(BTreeMap::new());

/// Moves `uid`'s count from `old` pages to `new`; returns the new total.
fn account(uid: u32, old: usize, new: usize) -> usize {
    let mut m = USER_PAGES.lock();
    let e = m.entry(uid).or_insert(0);
    *e = e.saturating_sub(old).saturating_add(new);
    let total = *e;
    if total == 0 {
        m.remove(&uid);
    }
    total
}

fn too_many_soft(pages: usize) -> bool {
    let soft = PIPE_USER_PAGES_SOFT.load(Ordering::Relaxed);
    soft != 0 && pages > soft
}

fn too_many_hard(pages: usize) -> bool {
    let hard = PIPE_USER_PAGES_HARD.load(Ordering::Relaxed);
    hard != 0 && pages > hard
}

/// pipe(2) for user `uid` (`privileged`: CAP_SYS_RESOURCE): its pages are
/// counted against the user; past pipe-user-pages-soft an unprivileged user
/// gets a two-page pipe, past pipe-user-pages-hard none (ENFILE), as Linux's
/// alloc_pipe_info.
pub fn pipe_for(uid: u32, privileged: bool) -> KResult<(Arc<PipeReader>, Arc<PipeWriter>)> {
    let mut pages = initial_capacity(privileged) / 4096;
    let mut total = account(uid, 0, pages);
    if !privileged && too_many_soft(total) {
        total = account(uid, pages, PIPE_MIN_DEF_BUFFERS);
        pages = PIPE_MIN_DEF_BUFFERS;
    }
    if !privileged && too_many_hard(total) {
        account(uid, pages, 0);
        return Err(Errno::ENFILE);
    }
    let p = Pipe::new_fifo();
    p.state.lock().capacity = pages * 4096;
    *p.account.lock() = Some((uid, pages));
    Ok((Pipe::open_reader(&p), Pipe::open_writer(&p)))
}

/// The read end's behaviour, and how many writers had opened the pipe when it
/// was opened: a FIFO reader reports POLLHUP only once a writer has come and gone
/// since (Linux compares against the writers' open counter).
pub struct PipeReader(Arc<Pipe>, Joined);
/// The write end's behaviour, and how many readers had opened the pipe when it
/// was opened (what a FIFO writer waiting for a reader compares against).
pub struct PipeWriter(Arc<Pipe>, Joined);

/// What an end saw of the other side when it joined the pipe (under the pipe's
/// lock): its open count, and whether one of its ends was open.
#[derive(Debug, Clone, Copy)]
struct Joined {
    opens: u64,
    present: bool,
}
/// Both ends at once: a FIFO opened O_RDWR.
pub struct PipeReadWrite(Arc<Pipe>);

/// A new pipe: (read end, write end). Each end counts as one reader or writer until
/// it is dropped, which happens when its last open file description closes.
pub fn pipe() -> (Arc<PipeReader>, Arc<PipeWriter>) {
    let p = Pipe::new_fifo();
    (Pipe::open_reader(&p), Pipe::open_writer(&p))
}

/// /proc/sys/fs/pipe-max-size: the largest F_SETPIPE_SZ an unprivileged
/// process may ask for (Linux's default, 1 MiB).
pub static PIPE_MAX_SIZE: AtomicUsize = AtomicUsize::new(1 << 20);

/// The capacity a new pipe or FIFO starts with: [`PIPE_CAPACITY`], but no
/// more than /proc/sys/fs/pipe-max-size for a creator without
/// CAP_SYS_RESOURCE (`privileged`), as Linux's alloc_pipe_info.
pub fn initial_capacity(privileged: bool) -> usize {
    let max = PIPE_MAX_SIZE.load(Ordering::Relaxed);
    if privileged || PIPE_CAPACITY <= max {
        PIPE_CAPACITY
    } else {
        round_pipe_size(max)
            .unwrap_or(PIPE_CAPACITY)
            .min(PIPE_CAPACITY)
    }
}

/// A pipe size as Linux rounds one (round_pipe_size): at least a page, a power
/// of two; None above 2^31.
pub fn round_pipe_size(size: usize) -> Option<usize> {
    if size > 1 << 31 {
        return None;
    }
    Some(size.max(4096).next_power_of_two())
}

/// Copies the front of `buf` into `out` (as much as fits) with at most two
/// slice copies, not a byte at a time; returns how many bytes.
fn copy_front(buf: &VecDeque<u8>, out: &mut [u8]) -> usize {
    let n = out.len().min(buf.len());
    let (a, b) = buf.as_slices();
    let from_a = n.min(a.len());
    out[..from_a].copy_from_slice(&a[..from_a]);
    out[from_a..n].copy_from_slice(&b[..n - from_a]);
    n
}

impl Pipe {
    /// A pipe with no ends yet: what a FIFO's inode refers to while it is open.
    pub fn new_fifo() -> Arc<Self> {
        Arc::new(Pipe {
            state: spin::Mutex::new(State {
                buf: VecDeque::new(),
                capacity: PIPE_CAPACITY,
                readers: 0,
                writers: 0,
                read_opens: 0,
                write_opens: 0,
            }),
            wq: WaitQueue::new(),
            account: spin::Mutex::new(None),
        })
    }

    /// A new read end.
    pub fn open_reader(p: &Arc<Self>) -> Arc<PipeReader> {
        let j = p.add_ends(true, false);
        Arc::new(PipeReader(p.clone(), j.1))
    }

    /// A new write end.
    pub fn open_writer(p: &Arc<Self>) -> Arc<PipeWriter> {
        let j = p.add_ends(false, true);
        Arc::new(PipeWriter(p.clone(), j.0))
    }

    /// An end that reads and writes (counts as a reader and a writer).
    pub fn open_read_write(p: &Arc<Self>) -> Arc<PipeReadWrite> {
        p.add_ends(true, true);
        Arc::new(PipeReadWrite(p.clone()))
    }

    /// Joins the pipe; returns what it saw of the readers and of the writers then,
    /// read under the same lock, so that no other open can slip in between.
    fn add_ends(&self, read: bool, write: bool) -> (Joined, Joined) {
        let opens = {
            let mut s = self.state.lock();
            if read {
                s.readers += 1;
                s.read_opens += 1;
            }
            if write {
                s.writers += 1;
                s.write_opens += 1;
            }
            // The other side as it stood: for a reader joining, the writers
            // before this end was counted (it adds no writer).
            (
                Joined {
                    opens: s.read_opens,
                    present: s.readers > usize::from(read),
                },
                Joined {
                    opens: s.write_opens,
                    present: s.writers > usize::from(write),
                },
            )
        };
        self.wq.wake_all();
        opens
    }

    /// Whether an end that joined having seen `j` of the other side has a
    /// partner: one was open when it joined, or one has opened since (and may
    /// have closed again). `writer`: the partner wanted is a writer. A blocking
    /// FIFO open waits until this holds (Linux's wait_for_partner); testing "is
    /// the other side open" at some later moment would miss a partner that came
    /// and went before it, and wait for ever.
    fn partner_came(&self, writer: bool, j: Joined) -> bool {
        let s = self.state.lock();
        j.present || if writer { s.write_opens } else { s.read_opens } != j.opens
    }

    fn drop_ends(&self, read: bool, write: bool) {
        {
            let mut s = self.state.lock();
            if read {
                s.readers -= 1;
            }
            if write {
                s.writers -= 1;
            }
        }
        self.wq.wake_all();
    }

    /// (readers, writers) now.
    pub fn ends(&self) -> (usize, usize) {
        let s = self.state.lock();
        (s.readers, s.writers)
    }

    /// (read opens, write opens) so far.
    pub fn opens(&self) -> (u64, u64) {
        let s = self.state.lock();
        (s.read_opens, s.write_opens)
    }

    /// Woken on every change: data, room, an end opened or closed.
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    /// Bytes waiting to be read.
    pub fn len(&self) -> usize {
        self.state.lock().buf.len()
    }
    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// F_GETPIPE_SZ.
    pub fn capacity(&self) -> usize {
        self.state.lock().capacity
    }
    /// F_SETPIPE_SZ: rounds up to a power of two pages ([`round_pipe_size`]);
    /// EPERM above /proc/sys/fs/pipe-max-size unless `privileged`
    /// (CAP_SYS_RESOURCE); EBUSY if the data would not fit.
    pub fn set_capacity(&self, want: usize, privileged: bool) -> KResult<usize> {
        let cap = round_pipe_size(want).ok_or(Errno::EINVAL)?;
        if cap > PIPE_MAX_SIZE.load(Ordering::Relaxed) && !privileged {
            return Err(Errno::EPERM);
        }
        // A user past its page limits may not grow a pipe (Linux's
        // pipe_set_size).
        let mut acct = self.account.lock();
        let new_pages = cap / 4096;
        if let Some((uid, pages)) = *acct {
            let total = account(uid, pages, new_pages);
            if new_pages > pages && !privileged && (too_many_hard(total) || too_many_soft(total)) {
                account(uid, new_pages, pages);
                return Err(Errno::EPERM);
            }
        }
        let mut s = self.state.lock();
        if s.buf.len() > cap {
            drop(s);
            if let Some((uid, pages)) = *acct {
                account(uid, new_pages, pages);
            }
            return Err(Errno::EBUSY);
        }
        s.capacity = cap;
        drop(s);
        if let Some((_, pages)) = acct.as_mut() {
            *pages = new_pages;
        }
        drop(acct);
        self.wq.wake_all();
        Ok(cap)
    }

    /// Copies up to `out.len()` bytes from the front of the pipe without taking
    /// them (tee(2)); as a read: 0 when empty with no writer, EAGAIN when empty.
    pub fn peek(&self, out: &mut [u8]) -> KResult<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let s = self.state.lock();
        if s.buf.is_empty() {
            return if s.writers == 0 {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        Ok(copy_front(&s.buf, out))
    }

    /// Room for this many more bytes.
    pub fn room(&self) -> usize {
        let s = self.state.lock();
        s.capacity - s.buf.len()
    }

    fn read(&self, out: &mut [u8]) -> KResult<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let n = {
            let mut s = self.state.lock();
            if s.buf.is_empty() {
                return if s.writers == 0 {
                    Ok(0)
                } else {
                    Err(Errno::EAGAIN)
                };
            }
            let n = copy_front(&s.buf, out);
            s.buf.drain(..n);
            n
        };
        // Room appeared: wake writers, not other readers.
        self.wq.wake(u32::from(POLLOUT | POLLWRNORM));
        Ok(n)
    }

    fn write(&self, data: &[u8]) -> KResult<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let n = {
            let mut s = self.state.lock();
            if s.readers == 0 {
                return Err(Errno::EPIPE);
            }
            let room = s.capacity - s.buf.len();
            if room == 0 || (data.len() <= PIPE_BUF && room < data.len()) {
                return Err(Errno::EAGAIN);
            }
            let n = data.len().min(room);
            // The buffer grows as it fills; growing it must leave the kernel its
            // reserve (ENOMEM otherwise, as Linux's pipe_write when no page comes).
            let grow = (s.buf.len() + n).saturating_sub(s.buf.capacity());
            if (grow > 0 && !crate::may_hold(grow)) || s.buf.try_reserve(n).is_err() {
                return Err(Errno::ENOMEM);
            }
            s.buf.extend(&data[..n]);
            n
        };
        // Data appeared: wake readers.
        self.wq.wake(u32::from(POLLIN | POLLRDNORM));
        Ok(n)
    }

    /// Read readiness; `j` is what the reader saw of the writers when it joined.
    /// POLLHUP needs a writer to have been there: one open at the join, or one
    /// that opened since. (Linux suppresses the HUP only for a FIFO reader that
    /// opened non-blocking with no writer, until a writer comes; testing the open
    /// count alone would also hide it from a reader whose writer was open when it
    /// joined and then left, and a blocking read, which waits for POLLIN or
    /// POLLHUP, would wait for ever on a pipe whose read already says EOF.)
    fn poll_read(&self, j: Joined) -> u16 {
        let s = self.state.lock();
        let mut m = 0;
        if !s.buf.is_empty() {
            m |= POLLIN | POLLRDNORM;
        }
        if s.writers == 0 && (j.present || s.write_opens != j.opens) {
            m |= POLLHUP;
        }
        m
    }

    fn poll_write(&self) -> u16 {
        let s = self.state.lock();
        let mut m = 0;
        if s.capacity - s.buf.len() >= PIPE_BUF.min(s.capacity) {
            m |= POLLOUT | POLLWRNORM;
        }
        if s.readers == 0 {
            m |= POLLERR;
        }
        m
    }

    fn fionread(&self, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        if cmd == kestrel_abi::tty::FIONREAD {
            UserPtr::<i32>::new(arg).write(mem, &(self.len() as i32))?;
            return Ok(0);
        }
        Err(Errno::ENOTTY)
    }
}

impl PipeReader {
    /// The pipe this end belongs to.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.0
    }

    /// Whether a writer is open, or has opened since this end did.
    pub fn has_partner(&self) -> bool {
        self.0.partner_came(true, self.1)
    }
}

impl PipeWriter {
    /// The pipe this end belongs to.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.0
    }

    /// Whether a reader is open, or has opened since this end did.
    pub fn has_partner(&self) -> bool {
        self.0.partner_came(false, self.1)
    }
}

impl PipeReadWrite {
    /// The pipe this end belongs to.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.0
    }
}

impl FileOps for PipeReader {
    fn read(&self, _: &OpenFile, _: &mut u64, out: &mut [u8]) -> KResult<usize> {
        self.0.read(out)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EBADF)
    }

    fn poll(&self) -> u16 {
        self.0.poll_read(self.1)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.wq)
    }

    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        self.0.fionread(cmd, arg, mem)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl FileOps for PipeWriter {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EBADF)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        self.0.write(data)
    }

    fn poll(&self) -> u16 {
        self.0.poll_write()
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.wq)
    }

    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        self.0.fionread(cmd, arg, mem)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl FileOps for PipeReadWrite {
    fn read(&self, _: &OpenFile, _: &mut u64, out: &mut [u8]) -> KResult<usize> {
        self.0.read(out)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        self.0.write(data)
    }

    fn poll(&self) -> u16 {
        // It is its own writer: no hang-up, no error while it is open.
        self.0.poll_read(Joined {
            opens: u64::MAX,
            present: false,
        }) | self.0.poll_write()
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.wq)
    }

    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        self.0.fionread(cmd, arg, mem)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.0.drop_ends(true, false);
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.0.drop_ends(false, true);
    }
}

impl Drop for PipeReadWrite {
    fn drop(&mut self) {
        self.0.drop_ends(true, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends() -> (Arc<OpenFile>, Arc<OpenFile>) {
        let (r, w) = pipe();
        (
            OpenFile::anonymous(None, r, O_RDONLY),
            OpenFile::anonymous(None, w, O_WRONLY),
        )
    }

    #[test]
    fn bytes_flow_in_order() {
        let (r, w) = ends();
        assert_eq!(w.write(b"hello ").unwrap(), 6);
        assert_eq!(w.write(b"world").unwrap(), 5);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 8);
        assert_eq!(&buf, b"hello wo");
        assert_eq!(r.read(&mut buf).unwrap(), 3);
    }

    #[test]
    fn data_that_wraps_around_the_ring_reads_back_in_order() {
        // Reads and writes of odd sizes walk the queue's start around its
        // buffer, so reads and peeks copy from both halves of it.
        let (r, w) = ends();
        let p = w
            .ops()
            .as_any()
            .downcast_ref::<PipeWriter>()
            .unwrap()
            .pipe()
            .clone();
        let mut next_in = 0u32;
        let mut next_out = 0u32;
        for round in 0..200usize {
            let chunk: Vec<u8> = (0..(round * 37) % 5000 + 1)
                .map(|_| {
                    next_in += 1;
                    next_in as u8
                })
                .collect();
            let n = w.write(&chunk).unwrap();
            next_in -= (chunk.len() - n) as u32;
            let mut peek = alloc::vec![0u8; (round * 53) % 7000 + 1];
            let k = p.peek(&mut peek).unwrap();
            let mut out = alloc::vec![0u8; (round * 53) % 7000 + 1];
            let m = r.read(&mut out).unwrap();
            assert_eq!(&peek[..k], &out[..k.min(m)]);
            for b in &out[..m] {
                next_out += 1;
                assert_eq!(*b, next_out as u8);
            }
        }
    }

    #[test]
    fn empty_pipe_is_eagain_then_eof_after_writer_closes() {
        let (r, w) = ends();
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).err(), Some(Errno::EAGAIN));
        assert_eq!(r.poll() & POLLIN, 0);
        drop(w);
        assert_eq!(r.read(&mut buf), Ok(0));
        assert_ne!(r.poll() & POLLHUP, 0);
    }

    #[test]
    fn a_fifo_partner_that_came_and_went_before_the_check_still_counts() {
        // The reader joins alone; a writer opens, writes and closes before the
        // reader's open looks for a partner: the reader must not wait for another.
        let p = Pipe::new_fifo();
        let r = Pipe::open_reader(&p);
        assert!(!r.has_partner());
        let w = Pipe::open_writer(&p);
        assert!(w.has_partner() && r.has_partner());
        drop(w);
        assert!(r.has_partner(), "the writer came after the reader joined");
        // A reader that joins after every writer left waits for the next one.
        let r2 = Pipe::open_reader(&p);
        assert!(!r2.has_partner());
        // A reader that joins while a writer is open has its partner, even once
        // that writer has gone.
        let w = Pipe::open_writer(&p);
        let r3 = Pipe::open_reader(&p);
        drop(w);
        assert!(r3.has_partner());
        // The same for a writer whose reader came and went.
        let q = Pipe::new_fifo();
        let w = Pipe::open_writer(&q);
        assert!(!w.has_partner());
        drop(Pipe::open_reader(&q));
        assert!(w.has_partner());
    }

    #[test]
    fn a_fifo_reader_that_joined_an_open_writer_sees_hup_when_it_leaves() {
        // The writer was waiting for a reader; the reader joins, the writer
        // writes and goes: the reader drains the data, then reads EOF and polls
        // POLLHUP (what a blocking read waits for), with no new writer needed.
        let p = Pipe::new_fifo();
        let w = Pipe::open_writer(&p);
        let r = Pipe::open_reader(&p);
        drop(w);
        assert_ne!(r.poll() & POLLHUP, 0);
        // A reader that joined with no writer waits for one before HUP.
        let q = Pipe::new_fifo();
        let r = Pipe::open_reader(&q);
        assert_eq!(r.poll() & POLLHUP, 0);
        drop(Pipe::open_writer(&q));
        assert_ne!(r.poll() & POLLHUP, 0);
    }

    #[test]
    fn write_without_reader_is_epipe() {
        let (r, w) = ends();
        drop(r);
        assert_eq!(w.write(b"x").err(), Some(Errno::EPIPE));
        assert_ne!(w.poll() & POLLERR, 0);
    }

    #[test]
    fn full_pipe_takes_partial_large_writes_but_not_small_ones() {
        let (r, w) = ends();
        let big = alloc::vec![7u8; PIPE_CAPACITY - 100];
        assert_eq!(w.write(&big).unwrap(), PIPE_CAPACITY - 100);
        // 200 <= PIPE_BUF bytes do not fit whole: atomic, so EAGAIN.
        assert_eq!(w.write(&[1u8; 200]).err(), Some(Errno::EAGAIN));
        // A large write takes what fits.
        assert_eq!(w.write(&[1u8; 10_000]).unwrap(), 100);
        assert_eq!(w.poll() & POLLOUT, 0);
        let mut sink = alloc::vec![0u8; 8192];
        r.read(&mut sink).unwrap();
        assert_ne!(w.poll() & POLLOUT, 0);
    }

    #[test]
    fn reading_wakes_blocked_writers_and_writing_wakes_readers() {
        let (r, w) = ends();
        let q = r.ops().wait_queue().unwrap();
        let waker = core::task::Waker::noop();
        q.register(waker, None);
        w.write(b"x").unwrap();
        assert!(q.is_empty(), "the write woke (and so removed) the waiter");
    }
}
