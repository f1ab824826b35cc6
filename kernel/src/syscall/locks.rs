//! File locks: fcntl's record locks (F_GETLK, F_SETLK, F_SETLKW and their
//! open-file-description forms F_OFD_*) and flock(2), kept by
//! [`kestrel_vfs::lock::LockManager`].
//!
//! Who owns what, as in Linux:
//! * a POSIX record lock belongs to the process (its pid): it goes when the process
//!   closes *any* descriptor of the file (close, dup2 over it, close_range, exec's
//!   close-on-exec) and when the process exits;
//! * an OFD record lock and a flock lock belong to the open file description: they
//!   go when its last descriptor is closed ([`file_released`], the VFS close hook).
//!
//! Linux takes a POSIX owner to be the descriptor table (`files_struct`); here it is
//! the process, which is the same thing except for processes that share a table
//! with CLONE_FILES and not CLONE_THREAD.

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::Write;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::OpenFile;
use kestrel_vfs::lock::{FileKey, LockKind, LockManager, Owner, Range, Request};

use super::Ctx;
use super::args::*;
use crate::process::Process;
use crate::process::signal::interruptible;

/// Every file lock in the system.
static LOCKS: spin::Mutex<LockManager> = spin::Mutex::new(LockManager::new());

fn lock_key(f: &OpenFile) -> Option<FileKey> {
    f.inode().map(kestrel_vfs::path::identity)
}

/// An open file description's id: its address, unique while it lives (its locks
/// are gone before it is freed).
fn file_id(f: &OpenFile) -> u64 {
    f as *const OpenFile as usize as u64
}

fn posix_owner(p: &Process) -> Owner {
    Owner::Posix(u64::from(p.pid))
}

/// An open file description is being released: its OFD and flock locks go.
pub fn file_released(f: &OpenFile) {
    // Nobody else can lock through `f` any more: an empty manager stays so.
    if LOCKS.lock().is_empty() {
        return;
    }
    let Some(key) = lock_key(f) else { return };
    let wake = LOCKS.lock().release_file(key, file_id(f));
    wake.wake();
}

/// `p` closed a descriptor of `f`: its POSIX locks on the file go, whichever
/// descriptor set them (Linux's locks_remove_posix). O_PATH descriptors do not
/// count, as in Linux.
pub fn descriptor_closed(p: &Process, f: &OpenFile) {
    // A close also ends the description's dnotify watch (Linux's dnotify_flush,
    // called from filp_close as the lock release is).
    crate::fs::dnotify::descriptor_closed(f);
    if f.flags() & O_PATH != 0 || LOCKS.lock().is_empty() {
        return;
    }
    let Some(key) = lock_key(f) else { return };
    let wake = LOCKS.lock().release_records(key, posix_owner(p));
    wake.wake();
}

/// The last thread of `p` is gone: every POSIX lock it held goes.
pub fn process_exited(p: &Process) {
    let wake = LOCKS.lock().release_owner(posix_owner(p));
    wake.wake();
}

/// A blocking request registered with the manager, ended however the wait ends
/// (granted, refused, a signal, the thread killed).
struct Waiting(kestrel_vfs::lock::WaitToken);

impl Drop for Waiting {
    fn drop(&mut self) {
        LOCKS.lock().end_wait(self.0);
    }
}

/// /proc/locks: one line per lock, as Linux writes them.
pub fn proc_locks() -> String {
    let mut s = String::new();
    for (i, ((dev, ino), lock)) in LOCKS.lock().all().into_iter().enumerate() {
        let (kind, ty, pid, range) = match lock {
            Ok(l) => (
                match l.owner {
                    Owner::Posix(_) => "POSIX ",
                    Owner::Ofd(_) => "OFDLCK",
                },
                l.kind == LockKind::Write,
                l.l_pid(),
                Some(l.range),
            ),
            Err(f) => ("FLOCK ", f.exclusive, f.pid, None),
        };
        let _ = write!(
            s,
            "{}: {kind} ADVISORY  {} {pid} {:02x}:{:02x}:{ino} ",
            i + 1,
            if ty { "WRITE" } else { "READ" },
            major(dev),
            minor(dev),
        );
        let _ = match range {
            Some(r) if r.end != kestrel_vfs::lock::OFFSET_MAX => {
                writeln!(s, "{} {}", r.start, r.end)
            }
            Some(r) => writeln!(s, "{} EOF", r.start),
            None => writeln!(s, "0 EOF"),
        };
    }
    s
}

// ---- fcntl -------------------------------------------------------------------------

/// fcntl's lock commands; the descriptor is already known to be open.
pub async fn fcntl(ctx: &mut Ctx<'_>, fd: Fd, cmd: u32, arg: u64) -> KResult<u64> {
    let f = ctx.file(fd)?;
    let arg = UserPtr::<Flock>::new(arg);
    // On an O_PATH descriptor fcntl only knows the descriptor commands.
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let mut fl: Flock = ctx.read(arg)?;
    let key = lock_key(&f).ok_or(Errno::EBADF)?;
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    let owner = if ofd {
        Owner::Ofd(file_id(&f))
    } else {
        posix_owner(ctx.process())
    };
    if matches!(cmd, F_GETLK | F_OFD_GETLK) {
        // F_OFD_GETLK also takes F_UNLCK (Linux 6.6): which of this description's
        // own locks cover the range.
        let kind = match fl.l_type {
            F_RDLCK => Some(LockKind::Read),
            F_WRLCK => Some(LockKind::Write),
            F_UNLCK if ofd => None,
            _ => return Err(Errno::EINVAL),
        };
        let range = flock_range(&f, &fl)?;
        if ofd && fl.l_pid != 0 {
            return Err(Errno::EINVAL);
        }
        // No conflict: only l_type changes (to F_UNLCK); the rest is given back
        // as it came.
        fl.l_type = F_UNLCK;
        if let Some(l) = LOCKS.lock().test(key, owner, kind, range) {
            (fl.l_start, fl.l_len) = l.range.to_flock();
            fl.l_type = match l.kind {
                LockKind::Read => F_RDLCK,
                LockKind::Write => F_WRLCK,
            };
            fl.l_whence = SEEK_SET as i16;
            fl.l_pid = l.l_pid();
        }
        ctx.write(arg, &fl)?;
        return Ok(0);
    }
    let range = flock_range(&f, &fl)?;
    let kind = match fl.l_type {
        F_RDLCK => Some(LockKind::Read),
        F_WRLCK => Some(LockKind::Write),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    match kind {
        Some(LockKind::Read) if !f.readable() => return Err(Errno::EBADF),
        Some(LockKind::Write) if !f.writable() => return Err(Errno::EBADF),
        _ => {}
    }
    if ofd && fl.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let req = Request {
        owner,
        kind,
        range,
        pid: ctx.process().pid as i32,
    };
    if matches!(cmd, F_SETLK | F_OFD_SETLK) || kind.is_none() {
        LOCKS.lock().set(key, &req, None).finish()?;
    } else {
        let (token, wq) = LOCKS.lock().begin_wait(key);
        let _waiting = Waiting(token);
        // Each wake-up (a lock on the file released or changed) retries.
        interruptible(ctx.thread, Errno::ERESTARTSYS, async {
            let outcome = wq
                .wait_until(|| {
                    let o = LOCKS.lock().set(key, &req, Some(token));
                    (o.result != Err(Errno::EAGAIN)).then_some(o)
                })
                .await;
            outcome.finish()
        })
        .await?;
    }
    // A POSIX lock set while another thread closed the descriptor would outlive
    // the close that should have released it: undo it (as Linux does).
    if !ofd && kind.is_some() {
        let still_open = ctx
            .process()
            .files()
            .lock()
            .get(fd)
            .is_ok_and(|g| Arc::ptr_eq(&g, &f));
        if !still_open {
            let undo = Request { kind: None, ..req };
            let _ = LOCKS.lock().set(key, &undo, None).finish();
        }
    }
    Ok(0)
}

/// The byte range a struct flock names for `f` (l_whence SEEK_SET, SEEK_CUR or
/// SEEK_END).
fn flock_range(f: &OpenFile, fl: &Flock) -> KResult<Range> {
    let base = match fl.l_whence as u32 {
        SEEK_SET => 0,
        SEEK_CUR => f.position(),
        SEEK_END => f.metadata()?.size,
        _ => return Err(Errno::EINVAL),
    };
    Range::from_flock(base, fl.l_start, fl.l_len)
}

// ---- flock -------------------------------------------------------------------------

const LOCK_SH: u32 = 1;
const LOCK_EX: u32 = 2;
const LOCK_NB: u32 = 4;
const LOCK_UN: u32 = 8;

/// The obsolete LOCK_MAND: Linux accepts it and does nothing.
const LOCK_MAND: u32 = 32;

pub async fn sys_flock(ctx: &mut Ctx<'_>, fd: Fd, op: u32) -> KResult<u64> {
    if op & LOCK_MAND != 0 {
        return Ok(0);
    }
    // The operation is checked before the descriptor, as Linux does.
    let (cmd, nonblock) = (op & !LOCK_NB, op & LOCK_NB != 0);
    let exclusive = match cmd {
        LOCK_UN => None,
        LOCK_SH => Some(false),
        LOCK_EX => Some(true),
        _ => return Err(Errno::EINVAL),
    };
    let f = ctx.file(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let key = lock_key(&f).ok_or(Errno::EINVAL)?;
    let id = file_id(&f);
    let pid = ctx.process().pid as i32;
    if nonblock || exclusive.is_none() {
        return LOCKS
            .lock()
            .flock(key, id, exclusive, pid)
            .finish()
            .map(|_| 0);
    }
    let (token, wq) = LOCKS.lock().begin_wait(key);
    let _waiting = Waiting(token);
    interruptible(ctx.thread, Errno::ERESTARTSYS, async {
        let outcome = wq
            .wait_until(|| {
                let o = LOCKS.lock().flock(key, id, exclusive, pid);
                // A conversion that lost the old lock has woken the queue already.
                if o.result == Err(Errno::EAGAIN) {
                    o.wake.wake();
                    None
                } else {
                    Some(o)
                }
            })
            .await;
        outcome.finish()
    })
    .await?;
    Ok(0)
}
