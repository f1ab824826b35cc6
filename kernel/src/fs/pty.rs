//! Pseudo-terminals: `/dev/ptmx` and `/dev/pts/N` (devpts).
//!
//! Opening `/dev/ptmx` makes a pair: the *master* (the returned file) and the
//! *slave* `/dev/pts/N`, a terminal like the console with its line discipline,
//! job control and window size. What the master writes is the slave's input (as
//! if typed); what the slave writes, processed by its line discipline, is what
//! the master reads. A terminal emulator, `script`, `ssh`'s server or Python's
//! `pty` module holds the master and runs a shell on the slave.
//!
//! As on Linux: the slave starts locked (`unlockpt`, i.e. TIOCSPTLCK 0, unlocks
//! it; opening it before is EIO); TIOCGPTN gives N (`ptsname`); a session leader
//! without a controlling terminal that opens the slave without O_NOCTTY makes it
//! its controlling terminal; when the master closes, the slave hangs up (its
//! readers see end of file, writers EIO, and its session's foreground group and
//! leader get SIGHUP and SIGCONT) and `/dev/pts/N` goes away; when the last slave
//! file closes, the master's reads fail with EIO and its poll says POLLHUP.
//!
//! devpts is a ramfs mounted on `/dev/pts` whose nodes this module creates and
//! removes, owned by the user who opened the master (group tty, mode 620).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use alloc::boxed::Box;
use kestrel_abi::fs::*;
use kestrel_abi::signal::{SIGCONT, SIGHUP};
use kestrel_abi::tty::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::file::IoctlFuture;
use kestrel_vfs::ramfs::RamFs;
use kestrel_vfs::{FileOps, InodeRef, NodeKind, OpenFile, UserPtr};

use super::tty::{Output, Tty, TtyFile};
use crate::process::{self, Process, Thread};

/// The major number of pty slaves (Linux's UNIX98_PTY_SLAVE_MAJOR).
pub const SLAVE_MAJOR: u32 = 136;
/// Pairs at most (Linux's default /proc/sys/kernel/pty/max is 4096).
const MAX_PTYS: u32 = 4096;
/// Bytes of slave output the master has not read yet, at most.
const BUFFER: usize = 16 * 1024;
/// The tty group, which owns /dev/pts/N.
const TTY_GID: u32 = 5;

/// The state the two ends share: the slave's output on its way to the master.
pub struct PtyLink {
    index: u32,
    to_master: spin::Mutex<VecDeque<u8>>,
    /// The master's readers wait here.
    master_wq: WaitQueue,
    locked: AtomicBool,
    slave_opens: AtomicU32,
    slave_was_opened: AtomicBool,
    /// The slave terminal (its writers wait for room on its queue).
    slave: spin::Once<Weak<Tty>>,
}

impl PtyLink {
    /// Bytes the master's buffer can still take.
    pub fn room(&self) -> usize {
        BUFFER - self.to_master.lock().len()
    }

    /// Slave output for the master; returns how much fit.
    pub fn push(&self, bytes: &[u8]) -> usize {
        let n = {
            let mut q = self.to_master.lock();
            let n = bytes.len().min(BUFFER - q.len());
            q.extend(&bytes[..n]);
            n
        };
        if n > 0 {
            self.master_wq.wake_all();
        }
        n
    }

    pub fn slave_opened(&self) {
        self.slave_opens.fetch_add(1, Ordering::SeqCst);
        self.slave_was_opened.store(true, Ordering::SeqCst);
    }

    pub fn slave_closed(&self) {
        if self.slave_opens.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.master_wq.wake_all();
        }
    }

    /// Every slave file that was opened is closed again.
    fn slave_gone(&self) -> bool {
        self.slave_was_opened.load(Ordering::SeqCst) && self.slave_opens.load(Ordering::SeqCst) == 0
    }

    fn wake_slave_writers(&self) {
        if let Some(t) = self.slave.get().and_then(Weak::upgrade) {
            t.wait_queue().wake_all();
        }
    }
}

/// A live pair: the link and the slave terminal.
type Pair = (Arc<PtyLink>, Arc<Tty>);

/// The live pairs, by index.
static PTYS: spin::Mutex<BTreeMap<u32, Pair>> = spin::Mutex::new(BTreeMap::new());
/// The devpts file system's root (mounted on /dev/pts at boot).
static DEVPTS: spin::Once<InodeRef> = spin::Once::new();

/// The devpts file system: a ramfs whose `ptmx` node and `N` nodes this module
/// manages.
pub fn make_devpts() -> KResult<InodeRef> {
    let root = RamFs::new_root(makedev(0, 6));
    root.create(b"ptmx", NodeKind::CharDev(makedev(5, 2)), 0o666, 0, 0)?;
    DEVPTS.call_once(|| root.clone());
    Ok(root)
}

/// The slave terminal that is the controlling terminal of session `sid`.
pub fn slave_of_session(sid: u32) -> Option<Arc<Tty>> {
    PTYS.lock()
        .values()
        .find(|(_, t)| t.session.load(Ordering::Relaxed) == sid && !t.is_hung_up())
        .map(|(_, t)| t.clone())
}

/// Opens /dev/ptmx: a new pair, and its master.
pub fn open_master(caller: &Process) -> KResult<Arc<dyn FileOps>> {
    let mut ptys = PTYS.lock();
    let index = (0..MAX_PTYS)
        .find(|i| !ptys.contains_key(i))
        .ok_or(Errno::ENOSPC)?;
    let link = Arc::new(PtyLink {
        index,
        to_master: spin::Mutex::new(VecDeque::new()),
        master_wq: WaitQueue::new(),
        locked: AtomicBool::new(true),
        slave_opens: AtomicU32::new(0),
        slave_was_opened: AtomicBool::new(false),
        slave: spin::Once::new(),
    });
    let slave = Arc::new(Tty::new(Output::Pty(link.clone())));
    link.slave.call_once(|| Arc::downgrade(&slave));
    ptys.insert(index, (link.clone(), slave.clone()));
    drop(ptys);
    if let Some(root) = DEVPTS.get() {
        let uid = caller.cred.lock().euid;
        let name = alloc::format!("{index}");
        let node = root.create(
            name.as_bytes(),
            NodeKind::CharDev(makedev(SLAVE_MAJOR, index)),
            0o620,
            uid,
            TTY_GID,
        );
        if let Err(e) = node {
            log::warn!("devpts: /dev/pts/{index}: {e:?}");
        }
    }
    Ok(Arc::new(PtyMaster { link, slave }))
}

/// Opens /dev/pts/N. A session leader without a controlling terminal takes it
/// as one unless `flags` has O_NOCTTY.
pub fn open_slave(index: u32, flags: u32, caller: &Process) -> KResult<Arc<dyn FileOps>> {
    let (link, tty) = PTYS.lock().get(&index).cloned().ok_or(Errno::EIO)?;
    if link.locked.load(Ordering::SeqCst) || tty.is_hung_up() {
        return Err(Errno::EIO);
    }
    let sid = caller.sid.load(Ordering::Relaxed);
    if flags & O_NOCTTY == 0
        && caller.pid == sid
        && tty.session.load(Ordering::Relaxed) == 0
        && !has_controlling_terminal(sid)
    {
        tty.session.store(sid, Ordering::Relaxed);
        tty.fg_pgrp
            .store(caller.pgid.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    Ok(Arc::new(TtyFile::new(tty)))
}

/// Whether session `sid` already has a controlling terminal.
fn has_controlling_terminal(sid: u32) -> bool {
    super::tty::console().session.load(Ordering::Relaxed) == sid || slave_of_session(sid).is_some()
}

/// The master side of a pair.
pub struct PtyMaster {
    link: Arc<PtyLink>,
    slave: Arc<Tty>,
}

impl PtyMaster {
    /// Master ioctls: the pair's own (TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK), and the
    /// terminal's settings and window size, which apply to the slave.
    pub fn ioctl(&self, t: &Thread, cmd: u32, arg: u64) -> KResult<u64> {
        const TIOCGPTLCK: u32 = 0x8004_5439;
        let mm = t.process.mm();
        match cmd {
            TIOCGPTN => {
                mm.write(UserPtr::<u32>::new(arg), &self.link.index)?;
                Ok(0)
            }
            TIOCSPTLCK => {
                let lock: i32 = mm.read(UserPtr::new(arg))?;
                self.link.locked.store(lock != 0, Ordering::SeqCst);
                Ok(0)
            }
            TIOCGPTLCK => {
                let locked = i32::from(self.link.locked.load(Ordering::SeqCst));
                mm.write(UserPtr::new(arg), &locked)?;
                Ok(0)
            }
            FIONREAD => {
                let n = self.link.to_master.lock().len() as i32;
                mm.write(UserPtr::new(arg), &n)?;
                Ok(0)
            }
            // The slave's settings; the master is never anyone's controlling
            // terminal, so job control does not apply.
            TCGETS | TCSETS | TCSETSW | TCSETSF | TCGETA | TCSETA | TCSETAW | TCSETAF
            | TIOCGWINSZ | TIOCSWINSZ | TCFLSH | TCXONC | TCSBRK => {
                self.slave.ioctl_for_master(t, cmd, arg)
            }
            _ => Err(Errno::ENOTTY),
        }
    }
}

impl Drop for PtyMaster {
    fn drop(&mut self) {
        let index = self.link.index;
        PTYS.lock().remove(&index);
        if let Some(root) = DEVPTS.get() {
            let _ = root.unlink(alloc::format!("{index}").as_bytes());
        }
        // The slave hangs up: its session hears about it.
        hang_up_slave(&self.slave);
    }
}

/// Hangs up a pty slave: reads and writes on it fail from now on, and its
/// foreground process group and session leader get SIGHUP and SIGCONT.
fn hang_up_slave(slave: &Tty) {
    let (sid, fg) = (
        slave.session.load(Ordering::Relaxed),
        slave.fg_pgrp.load(Ordering::Relaxed),
    );
    slave.hang_up();
    let mut told = alloc::vec::Vec::new();
    if fg != 0 {
        told.extend(process::in_group(fg));
    }
    if sid != 0
        && let Some(leader) = process::find(sid)
    {
        told.push(leader);
    }
    for p in told {
        process::signal::send(&p, SIGHUP);
        process::signal::send(&p, SIGCONT);
    }
}

/// vhangup(2)'s work: hangs up session `sid`'s controlling terminal if it is
/// a pty slave (false if the session has none of those).
pub fn hang_up_session(sid: u32) -> bool {
    match slave_of_session(sid) {
        Some(t) => {
            hang_up_slave(&t);
            true
        }
        None => false,
    }
}

impl FileOps for PtyMaster {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let n = {
            let mut q = self.link.to_master.lock();
            let n = buf.len().min(q.len());
            for (dst, src) in buf.iter_mut().zip(q.drain(..n)) {
                *dst = src;
            }
            n
        };
        if n > 0 {
            self.link.wake_slave_writers();
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.link.slave_gone() {
            Err(Errno::EIO)
        } else {
            Err(Errno::EAGAIN)
        }
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        // What the master writes is typed at the slave.
        self.slave.receive(data);
        Ok(data.len())
    }

    fn poll(&self) -> u16 {
        let mut m = POLLOUT | POLLWRNORM;
        if !self.link.to_master.lock().is_empty() {
            m |= POLLIN | POLLRDNORM;
        }
        if self.link.slave_gone() {
            m |= POLLHUP;
        }
        m
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.link.master_wq)
    }

    fn ioctl_waiting<'a>(
        &'a self,
        _file: &'a OpenFile,
        cmd: u32,
        arg: u64,
    ) -> Option<IoctlFuture<'a>> {
        let thread = process::current_thread()?;
        Some(Box::pin(async move { self.ioctl(&thread, cmd, arg) }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
