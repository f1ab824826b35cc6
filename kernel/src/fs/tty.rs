//! Terminals: the console (the serial port plus the line discipline) and the
//! slave sides of pseudo-terminals (`pty.rs`), which differ only in where their
//! output goes ([`Output`]).
//!
//! For the console, an input task owns the receive side: it waits for bytes from
//! the UART, feeds them to the [`LineDiscipline`], writes the echo back, sends
//! ^C/^\/^Z signals to the foreground process group, and wakes readers. For a
//! pty, the master's writes are the input. Readers and writers are user threads
//! in `read`/`write`; reads that find no data wait on the tty's wait queue.
//!
//! Job control state is Linux's: the terminal belongs to one session (the controlling
//! terminal of that session's processes) and has a foreground process group.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::tty::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_tty::{LineDiscipline, ReadPolicy, WouldBlock};
use kestrel_vfs::file::{IoFuture, IoctlFuture};
use kestrel_vfs::{FileOps, OpenFile, UserPtr};

use crate::process::signal::interruptible;
use alloc::boxed::Box;

use kestrel_abi::signal::{SIGTTIN, SIGTTOU};

use crate::process::{self, Process, Thread};

/// Where a terminal's output goes.
pub enum Output {
    /// The serial console's transmit ring.
    Console,
    /// The master side of a pseudo-terminal.
    Pty(Arc<super::pty::PtyLink>),
}

/// A terminal.
pub struct Tty {
    ldisc: spin::Mutex<LineDiscipline>,
    output: Output,
    /// The other end went away (a pty's master closed): reads see end of file,
    /// writes fail with EIO, as after Linux's hangup.
    hung_up: core::sync::atomic::AtomicBool,
    wq: WaitQueue,
    /// Writers take turns, each for a whole write (Linux's atomic_write_lock):
    /// one write's bytes are not interleaved with another's, and a writer
    /// waiting for room is not starved by busier ones.
    pub writers: kestrel_sync::FifoLock,
    /// The session this is the controlling terminal of (0: none).
    pub session: AtomicU32,
    /// The foreground process group.
    pub fg_pgrp: AtomicU32,
}

static CONSOLE: spin::Once<Arc<Tty>> = spin::Once::new();

/// The console terminal.
pub fn console() -> &'static Arc<Tty> {
    let tty = CONSOLE.call_once(|| Arc::new(Tty::new(Output::Console)));
    // Writers waiting for room in the transmit ring sleep on the terminal's queue.
    crate::console::set_tx_waiters(&tty.wq);
    tty
}

/// An open file on the console.
pub fn console_file() -> Arc<dyn FileOps> {
    Arc::new(TtyFile::new(console().clone()))
}

/// /dev/tty: the caller's controlling terminal (ENXIO without one).
pub fn open_controlling(caller: &Process) -> KResult<Arc<dyn FileOps>> {
    let sid = caller.sid.load(Ordering::Relaxed);
    if sid == console().session.load(Ordering::Relaxed) {
        return Ok(console_file());
    }
    super::pty::slave_of_session(sid)
        .map(|t| Arc::new(TtyFile::new(t)) as Arc<dyn FileOps>)
        .ok_or(Errno::ENXIO)
}

/// Makes the console the controlling terminal of init's session.
pub fn attach_console_to(p: &Process) {
    let c = console();
    c.session
        .store(p.sid.load(Ordering::Relaxed), Ordering::Relaxed);
    c.fg_pgrp
        .store(p.pgid.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// The task that feeds typed bytes to the console (runs forever).
pub async fn console_input_task() {
    let tty = console().clone();
    let mut buf = [0u8; 64];
    loop {
        let n = crate::console::read(&mut buf).await;
        tty.receive(&buf[..n]);
    }
}

impl Tty {
    /// A terminal with default settings whose output goes to `output`.
    pub fn new(output: Output) -> Self {
        Tty {
            ldisc: spin::Mutex::new(LineDiscipline::new()),
            output,
            hung_up: core::sync::atomic::AtomicBool::new(false),
            wq: WaitQueue::new(),
            writers: kestrel_sync::FifoLock::new(),
            session: AtomicU32::new(0),
            fg_pgrp: AtomicU32::new(0),
        }
    }

    /// Bytes of output the other end can take now.
    fn out_room(&self) -> usize {
        match &self.output {
            Output::Console => crate::console::tx_room(),
            Output::Pty(link) => link.room(),
        }
    }

    /// Queues processed output for the other end; returns how much fit.
    fn out_push(&self, bytes: &[u8]) -> usize {
        match &self.output {
            Output::Console => crate::console::try_write_raw(bytes),
            Output::Pty(link) => link.push(bytes),
        }
    }

    /// Marks the terminal hung up (its pty master closed) and wakes everyone.
    pub fn hang_up(&self) {
        self.hung_up.store(true, Ordering::SeqCst);
        self.wq.wake_all();
    }

    /// Whether the terminal was hung up.
    pub fn is_hung_up(&self) -> bool {
        self.hung_up.load(Ordering::SeqCst)
    }

    /// Input from the device.
    pub fn receive(&self, bytes: &[u8]) {
        let mut echo = Vec::new();
        let mut ldisc = self.ldisc.lock();
        let r = ldisc.receive(bytes, &mut echo);
        if !echo.is_empty() {
            // Echo never waits: with the ring full it is dropped, as Linux drops
            // echo when the output buffer is full.
            self.out_push(&echo);
        }
        drop(ldisc);
        let fg = self.fg_pgrp.load(Ordering::Relaxed);
        if fg != 0 {
            for sig in r.signals.iter() {
                for p in process::in_group(fg) {
                    process::signal::send(&p, sig);
                }
            }
        }
        self.wq.wake_all();
    }

    /// Output: as much of `data` as surely fits in the transmit ring once the
    /// line discipline has processed it, or EAGAIN when there is no room (the
    /// writer waits for POLLOUT). A byte becomes at most [`MAX_EXPANSION`] (a tab
    /// expanded to spaces). The line discipline's lock is held from the room check
    /// to the push: every producer of console output takes it (writers, echo), so
    /// the room can only grow meanwhile (the transmitter drains, never fills).
    fn write(&self, data: &[u8]) -> KResult<usize> {
        if self.is_hung_up() {
            return Err(Errno::EIO);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let mut ldisc = self.ldisc.lock();
        let take = data.len().min(self.out_room() / MAX_EXPANSION);
        if take == 0 {
            return Err(Errno::EAGAIN);
        }
        let mut out = Vec::with_capacity(take * 2);
        ldisc.process_output(&data[..take], &mut out);
        let queued = self.out_push(&out);
        drop(ldisc);
        if queued < out.len() {
            log::warn!("tty: {} bytes of output lost", out.len() - queued);
        }
        Ok(take)
    }

    /// Waits until everything written has been sent (tcdrain, TCSETSW).
    pub async fn drain(&self) {
        if let Output::Console = self.output {
            self.wq
                .wait_until(|| crate::console::tx_empty().then_some(()))
                .await;
        }
        // A pty's output is in the master's buffer already, as far as the slave
        // can tell (Linux's pty has no output queue to wait for).
    }

    /// The wait queue readers sleep on.
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    /// Reads per the termios rules (see kestrel_tty::ReadPolicy). Non-blocking part:
    /// returns Ok(Some(n)) when done, Ok(None) when the caller must wait.
    pub fn try_read(&self, buf: &mut [u8], got: &mut usize) -> Option<usize> {
        let mut l = self.ldisc.lock();
        if self.is_hung_up() && !l.poll_readable() {
            return Some(*got); // end of file after a hangup
        }
        let policy = l.read_policy();
        while *got < buf.len() {
            match l.read(&mut buf[*got..]) {
                Ok(0) if policy == ReadPolicy::Canonical => return Some(*got), // EOF
                Ok(n) => {
                    *got += n;
                    if policy.satisfied(*got, buf.len()) {
                        return Some(*got);
                    }
                }
                Err(WouldBlock) => {
                    return if policy == ReadPolicy::Poll {
                        Some(*got)
                    } else {
                        None
                    };
                }
            }
        }
        Some(*got)
    }

    /// The current read policy.
    pub fn read_policy(&self) -> ReadPolicy {
        self.ldisc.lock().read_policy()
    }

    /// Whether a read would return now.
    pub fn readable(&self) -> bool {
        self.is_hung_up() || self.ldisc.lock().poll_readable()
    }

    /// Job control (Linux's tty_check_change): a process of a background group
    /// that reads (`SIGTTIN`), or writes with TOSTOP or changes the terminal
    /// (`SIGTTOU`), stops its group with `sig` and the call is restarted once the
    /// group is continued. If `sig` is blocked or ignored the call goes ahead
    /// (reads get EIO); an orphaned group gets EIO.
    pub fn check_change(&self, t: &Thread, sig: u32) -> KResult<()> {
        let p = &t.process;
        if self.session.load(Ordering::Relaxed) != p.sid.load(Ordering::Relaxed) {
            return Ok(()); // not our controlling terminal
        }
        let (pgrp, fg) = (
            p.pgid.load(Ordering::Relaxed),
            self.fg_pgrp.load(Ordering::Relaxed),
        );
        if fg == 0 || pgrp == fg {
            return Ok(());
        }
        if process::signal::blocked_or_ignored(t, sig) {
            return if sig == SIGTTIN {
                Err(Errno::EIO)
            } else {
                Ok(())
            };
        }
        if process::pgrp_orphaned(pgrp) {
            return Err(Errno::EIO);
        }
        for q in process::in_group(pgrp) {
            process::signal::send(&q, sig);
        }
        Err(Errno::ERESTARTSYS)
    }

    /// Whether output must pass job control (termios TOSTOP).
    pub fn tostop(&self) -> bool {
        self.ldisc.lock().termios().c_lflag & TOSTOP != 0
    }

    /// Terminal ioctls, with the calling thread for the job-control ones.
    pub fn ioctl(&self, t: &Thread, cmd: u32, arg: u64) -> KResult<u64> {
        // The calls that change the terminal are job-controlled.
        if matches!(
            cmd,
            TCSETS | TCSETSW | TCSETSF | TCSETA | TCSETAW | TCSETAF | TIOCSPGRP | TCFLSH | TCXONC
        ) {
            self.check_change(t, SIGTTOU)?;
        }
        self.ioctl_for_master(t, cmd, arg)
    }

    /// The ioctls without job control: what a pty master's settings and window
    /// size calls do to its slave.
    pub fn ioctl_for_master(&self, t: &Thread, cmd: u32, arg: u64) -> KResult<u64> {
        let p = &t.process;
        let mm = p.mm();
        let is_ctty = self.session.load(Ordering::Relaxed) == p.sid.load(Ordering::Relaxed);
        match cmd {
            TCGETS => {
                let t = self.ldisc.lock().termios();
                mm.write(UserPtr::new(arg), &t)?;
                Ok(0)
            }
            TCGETA => {
                let t = Termio::from_termios(&self.ldisc.lock().termios());
                // Linux stores the fields one by one: not the padding byte.
                let mut b = [0u8; 17];
                for (i, f) in [t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag]
                    .iter()
                    .enumerate()
                {
                    b[2 * i..2 * i + 2].copy_from_slice(&f.to_ne_bytes());
                }
                b[8] = t.c_line;
                b[9..].copy_from_slice(&t.c_cc);
                mm.write(UserPtr::<[u8; 17]>::new(arg), &b)?;
                Ok(0)
            }
            TCSETA | TCSETAW | TCSETAF => {
                let old: Termio = mm.read(UserPtr::new(arg))?;
                let mut l = self.ldisc.lock();
                if cmd == TCSETAF {
                    l.flush_input();
                }
                let t = old.apply_to(&l.termios());
                l.set_termios(t);
                drop(l);
                self.wq.wake_all();
                Ok(0)
            }
            TCSETS | TCSETSW | TCSETSF => {
                let t: Termios = mm.read(UserPtr::new(arg))?;
                let mut l = self.ldisc.lock();
                if cmd == TCSETSF {
                    l.flush_input();
                }
                l.set_termios(t);
                drop(l);
                self.wq.wake_all();
                Ok(0)
            }
            TIOCGWINSZ => {
                let w = self.ldisc.lock().winsize();
                mm.write(UserPtr::new(arg), &w)?;
                Ok(0)
            }
            TIOCSWINSZ => {
                let w: Winsize = mm.read(UserPtr::new(arg))?;
                if self.ldisc.lock().set_winsize(w) {
                    let fg = self.fg_pgrp.load(Ordering::Relaxed);
                    for q in process::in_group(fg) {
                        process::signal::send(&q, kestrel_abi::signal::SIGWINCH);
                    }
                }
                Ok(0)
            }
            TIOCGPGRP => {
                if !is_ctty {
                    return Err(Errno::ENOTTY);
                }
                mm.write(UserPtr::new(arg), &self.fg_pgrp.load(Ordering::Relaxed))?;
                Ok(0)
            }
            TIOCSPGRP => {
                if !is_ctty {
                    return Err(Errno::ENOTTY);
                }
                let pgrp: i32 = mm.read(UserPtr::new(arg))?;
                if pgrp < 0 {
                    return Err(Errno::EINVAL);
                }
                let sid = p.sid.load(Ordering::Relaxed);
                let members = process::in_group(pgrp as u32);
                if members.is_empty() {
                    return Err(Errno::ESRCH);
                }
                if members.iter().any(|m| m.sid.load(Ordering::Relaxed) != sid) {
                    return Err(Errno::EPERM);
                }
                self.fg_pgrp.store(pgrp as u32, Ordering::Relaxed);
                Ok(0)
            }
            TIOCGSID => {
                if !is_ctty {
                    return Err(Errno::ENOTTY);
                }
                mm.write(UserPtr::new(arg), &self.session.load(Ordering::Relaxed))?;
                Ok(0)
            }
            TIOCSCTTY => {
                // Only a session leader without a controlling terminal may take one.
                let sid = p.sid.load(Ordering::Relaxed);
                if p.pid != sid {
                    return Err(Errno::EPERM);
                }
                if is_ctty {
                    return Ok(0);
                }
                let owner = self.session.load(Ordering::Relaxed);
                let owner_alive = owner != 0 && process::find(owner).is_some();
                if owner_alive && !(arg == 1 && p.cred.lock().euid == 0) {
                    return Err(Errno::EPERM);
                }
                self.session.store(sid, Ordering::Relaxed);
                self.fg_pgrp
                    .store(p.pgid.load(Ordering::Relaxed), Ordering::Relaxed);
                Ok(0)
            }
            TIOCNOTTY => {
                if !is_ctty {
                    return Err(Errno::ENOTTY);
                }
                if p.pid == p.sid.load(Ordering::Relaxed) {
                    self.session.store(0, Ordering::Relaxed);
                    self.fg_pgrp.store(0, Ordering::Relaxed);
                }
                Ok(0)
            }
            FIONREAD => {
                let n = self.ldisc.lock().input_available() as i32;
                mm.write(UserPtr::new(arg), &n)?;
                Ok(0)
            }
            TCFLSH => {
                // 0: input, 1: output, 2: both. Output is never queued here.
                if arg > 2 {
                    return Err(Errno::EINVAL);
                }
                if arg != 1 {
                    self.ldisc.lock().flush_input();
                }
                Ok(0)
            }
            TCXONC => {
                match arg {
                    0 => self.ldisc.lock().suspend_output(),
                    1 => self.ldisc.lock().resume_output(),
                    2 | 3 => {}
                    _ => return Err(Errno::EINVAL),
                }
                Ok(0)
            }
            TCSBRK => Ok(0), // sys_ioctl drained the output first
            _ => Err(Errno::ENOTTY),
        }
    }
}

/// The most bytes one byte of output becomes (a tab expanded to spaces).
const MAX_EXPANSION: usize = 8;

/// An open terminal. A pty slave counts its open files, so the master learns
/// when the last one closes.
pub struct TtyFile(pub Arc<Tty>);

impl TtyFile {
    pub fn new(tty: Arc<Tty>) -> Self {
        if let Output::Pty(link) = &tty.output {
            link.slave_opened();
        }
        Self(tty)
    }
}

impl Drop for TtyFile {
    fn drop(&mut self) {
        if let Output::Pty(link) = &self.0.output {
            link.slave_closed();
        }
    }
}

impl FileOps for TtyFile {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let mut got = 0;
        match self.0.try_read(buf, &mut got) {
            Some(n) => Ok(n),
            None if got > 0 => Ok(got),
            None => Err(Errno::EAGAIN),
        }
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        self.0.write(data)
    }

    fn poll(&self) -> u16 {
        let mut m = if self.0.out_room() >= MAX_EXPANSION {
            POLLOUT | POLLWRNORM
        } else {
            0
        };
        if self.0.is_hung_up() {
            m |= POLLHUP;
        }
        if self.0.readable() {
            m |= POLLIN | POLLRDNORM;
        }
        m
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.wq)
    }

    fn read_waiting<'a>(&'a self, file: &'a OpenFile, buf: &'a mut [u8]) -> Option<IoFuture<'a>> {
        let thread = process::current_thread()?;
        Some(Box::pin(async move {
            self.0.read_for(&thread, file, buf).await
        }))
    }

    fn write_waiting<'a>(&'a self, file: &'a OpenFile, data: &'a [u8]) -> Option<IoFuture<'a>> {
        let thread = process::current_thread()?;
        Some(Box::pin(async move {
            let t = &self.0;
            if t.tostop() {
                t.check_change(&thread, SIGTTOU)?;
            }
            // One writer's data at a time, so that lines from two writers do not
            // interleave (Linux's tty write lock).
            let _turn = if file.nonblocking() {
                t.writers.try_lock().ok_or(Errno::EAGAIN)?
            } else {
                interruptible(&thread, Errno::ERESTARTSYS, async {
                    Ok(t.writers.lock().await)
                })
                .await?
            };
            crate::syscall::fs::write_plain(&thread, file, data).await
        }))
    }

    fn ioctl_waiting<'a>(
        &'a self,
        _file: &'a OpenFile,
        cmd: u32,
        arg: u64,
    ) -> Option<IoctlFuture<'a>> {
        let thread = process::current_thread()?;
        Some(Box::pin(async move {
            // tcdrain (TCSBRK) and the termios changes that wait for output first.
            const TCSETSW: u32 = 0x5403;
            const TCSETSF: u32 = 0x5404;
            const TCSBRK: u32 = 0x5409;
            if matches!(cmd, TCSETSW | TCSETSF | TCSBRK) {
                interruptible(&thread, Errno::ERESTARTSYS, async {
                    self.0.drain().await;
                    Ok(())
                })
                .await?;
            }
            self.0.ioctl(&thread, cmd, arg)
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Tty {
    /// A terminal read by `thread`: canonical lines, or VMIN/VTIME in raw mode
    /// (termios(3)); a background process group's read is job control's SIGTTIN.
    async fn read_for(&self, thread: &Thread, file: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        self.check_change(thread, SIGTTIN)?;
        let mut got = 0;
        loop {
            if let Some(n) = self.try_read(buf, &mut got) {
                return Ok(n);
            }
            if file.nonblocking() {
                return if got > 0 { Ok(got) } else { Err(Errno::EAGAIN) };
            }
            let wait = async {
                self.wait_queue()
                    .wait_until(|| self.readable().then_some(()))
                    .await;
                Ok(())
            };
            let interrupted = |e: Errno| if got > 0 { Ok(got) } else { Err(e) };
            match self.read_policy().timeout_ns() {
                // VTIME: the timer runs from the start (VMIN 0) or from each byte.
                Some(ns) => {
                    match crate::task::timeout(ns, interruptible(thread, Errno::ERESTARTSYS, wait))
                        .await
                    {
                        Err(_) => {
                            let mut g = got;
                            let _ = self.try_read(buf, &mut g);
                            return Ok(g);
                        }
                        Ok(Err(e)) => return interrupted(e),
                        Ok(Ok(())) => {}
                    }
                }
                None => {
                    if let Err(e) = interruptible(thread, Errno::ERESTARTSYS, wait).await {
                        return interrupted(e);
                    }
                }
            }
        }
    }
}
