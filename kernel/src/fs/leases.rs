//! File leases: fcntl(F_SETLEASE, F_GETLEASE) (fcntl(2), "Leases").
//!
//! A lease belongs to an open file description of a regular file. A read
//! lease may be taken while no description has the file open for writing
//! (the taker's own included); a write lease while no other description has it
//! open at all. The taker must own the file or have CAP_LEASE, and becomes the
//! description's owner (F_SETOWN), who hears when the lease is broken.
//!
//! An open(2) that conflicts with a lease — for writing (or O_TRUNC) with any
//! lease, for reading with a write lease — breaks it: the holder's owner gets
//! SIGIO (or the F_SETSIG signal, with si_code POLL_MSG and si_fd), and the
//! opener waits until the holder removes the lease (F_UNLCK), downgrades it to
//! what no longer conflicts (a write lease to a read lease for a reader), or
//! closes the description, or until /proc/sys/fs/lease-break-time seconds
//! (45) have passed, when the lease is removed or downgraded for it. An
//! opener with O_NONBLOCK starts the break and gets EWOULDBLOCK. F_GETLEASE
//! on a lease being broken reports what it is being broken to.
//!
//! Open descriptions are counted by looking through every descriptor table
//! when a lease is asked for (rare): a file held only by a mapping or by a
//! descriptor in flight in a socket is not counted. truncate(2) breaks leases
//! as an open for writing does.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kestrel_abi::fs::{O_ACCMODE, O_PATH, O_RDONLY, O_TRUNC};
use kestrel_abi::signal::{SI_KERNEL, SIGIO, Siginfo};
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOwner, InodeRef, OpenFile};

use crate::process::{self, Thread};

pub const F_RDLCK: u32 = 0;
pub const F_WRLCK: u32 = 1;
pub const F_UNLCK: u32 = 2;

/// /proc/sys/fs/lease-break-time: seconds a lease holder has to give way.
pub static LEASE_BREAK_TIME: AtomicU64 = AtomicU64::new(45);

type Id = (u64, u64);

struct Lease {
    file: Weak<OpenFile>,
    /// The descriptor F_SETLEASE was called on (si_fd of the break signal).
    fd: i32,
    kind: u32,
    /// Being broken: to what (F_RDLCK or F_UNLCK) and by when (ns).
    breaking: Option<(u32, u64)>,
}

static LEASES: spin::Mutex<BTreeMap<Id, Vec<Lease>>> = spin::Mutex::new(BTreeMap::new());
/// Leases held: while 0, an open checks nothing else.
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Woken when a lease goes away or changes; `GENERATION` counts the changes,
/// so a waiter that looked before one sees it.
static CHANGED: WaitQueue = WaitQueue::new();
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn changed() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    CHANGED.wake_all();
}

fn identity(inode: &InodeRef) -> Id {
    let m = inode.metadata();
    (m.dev, m.ino)
}

fn same(w: &Weak<OpenFile>, f: &OpenFile) -> bool {
    core::ptr::eq(w.as_ptr(), f)
}

/// Whether any lease is held (the cheap test before [`break_for_open`]).
pub fn active() -> bool {
    COUNT.load(Ordering::Relaxed) != 0
}

/// Open descriptions of `id` other than `me` in every descriptor table:
/// (read-only ones, ones open for writing).
fn other_opens(id: Id, me: &OpenFile) -> (usize, usize) {
    let mut tables = Vec::new();
    let mut seen: Vec<*const OpenFile> = Vec::new();
    let (mut readers, mut writers) = (0, 0);
    for p in process::all() {
        let t = p.files();
        let key = Arc::as_ptr(&t) as *const () as usize;
        if tables.contains(&key) {
            continue;
        }
        tables.push(key);
        let t = t.lock();
        for (_, f) in t.iter() {
            let ptr = Arc::as_ptr(f);
            if core::ptr::eq(ptr, me) || seen.contains(&ptr) || f.flags() & O_PATH != 0 {
                continue;
            }
            if f.inode().is_some_and(|i| identity(i) == id) {
                seen.push(ptr);
                if f.writable() {
                    writers += 1;
                } else {
                    readers += 1;
                }
            }
        }
    }
    (readers, writers)
}

/// F_SETLEASE through descriptor `fd` of `file` by process `pid` (file-system
/// uid `fsuid`, `cap_lease`: CAP_LEASE).
pub fn set(
    file: &Arc<OpenFile>,
    fd: i32,
    arg: u32,
    pid: u32,
    fsuid: u32,
    cap_lease: bool,
) -> KResult<()> {
    let inode = file.inode().ok_or(Errno::EINVAL)?;
    let m = inode.metadata();
    if !m.is_regular() {
        return Err(Errno::EINVAL);
    }
    if !matches!(arg, F_RDLCK | F_WRLCK | F_UNLCK) {
        return Err(Errno::EINVAL);
    }
    if m.uid != fsuid && !cap_lease {
        return Err(Errno::EACCES);
    }
    let id = (m.dev, m.ino);
    if arg == F_UNLCK {
        let mut all = LEASES.lock();
        let list = all.get_mut(&id).ok_or(Errno::EAGAIN)?;
        let at = list
            .iter()
            .position(|l| same(&l.file, file))
            .ok_or(Errno::EAGAIN)?;
        list.remove(at);
        COUNT.fetch_sub(1, Ordering::Relaxed);
        if list.is_empty() {
            all.remove(&id);
        }
        drop(all);
        changed();
        return Ok(());
    }
    // The scan takes descriptor-table locks: before the lease table's.
    let (readers, writers) = other_opens(id, file);
    let conflict = match arg {
        F_RDLCK => writers > 0 || file.writable(),
        _ => readers > 0 || writers > 0,
    };
    if conflict {
        return Err(Errno::EAGAIN);
    }
    let mut all = LEASES.lock();
    let list = all.entry(id).or_default();
    list.retain(|l| {
        let live = l.file.strong_count() > 0;
        if !live {
            COUNT.fetch_sub(1, Ordering::Relaxed);
        }
        live
    });
    // Another description's lease: no write lease beside it, and no lease at
    // all while it is being broken.
    if list
        .iter()
        .any(|l| !same(&l.file, file) && (arg == F_WRLCK || l.breaking.is_some()))
    {
        if list.is_empty() {
            all.remove(&id);
        }
        return Err(Errno::EAGAIN);
    }
    file.set_owner(Some(FileOwner::Process(pid)));
    match list.iter_mut().find(|l| same(&l.file, file)) {
        Some(l) => {
            l.fd = fd;
            l.kind = arg;
            // A holder that gives way as asked ends the break.
            if l.breaking
                .is_some_and(|(to, _)| to == arg || arg == F_RDLCK)
            {
                l.breaking = None;
            }
        }
        None => {
            list.push(Lease {
                file: Arc::downgrade(file),
                fd,
                kind: arg,
                breaking: None,
            });
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
    }
    drop(all);
    changed();
    Ok(())
}

/// F_GETLEASE: the lease `file` holds (F_UNLCK for none); one being broken
/// reports what it is being broken to.
pub fn get(file: &OpenFile) -> u32 {
    let Some(inode) = file.inode() else {
        return F_UNLCK;
    };
    let all = LEASES.lock();
    all.get(&identity(inode))
        .and_then(|list| list.iter().find(|l| same(&l.file, file)))
        .map_or(F_UNLCK, |l| l.breaking.map_or(l.kind, |(to, _)| to))
}

/// The description `f` was released: its lease goes.
pub fn file_released(f: &OpenFile) {
    if !active() {
        return;
    }
    let mut all = LEASES.lock();
    let mut gone = false;
    all.retain(|_, list| {
        list.retain(|l| {
            let keep = !same(&l.file, f) && l.file.strong_count() > 0;
            if !keep {
                COUNT.fetch_sub(1, Ordering::Relaxed);
                gone = true;
            }
            keep
        });
        !list.is_empty()
    });
    drop(all);
    if gone {
        changed();
    }
}

/// One look at the leases of `id` for an opener (`write`: for writing):
/// starts breaking the conflicting ones (returned to be told), applies the
/// breaks whose time is up, and says when the earliest remaining one is due
/// (None: nothing conflicts any more).
fn look(id: Id, write: bool, now: u64) -> (Vec<(Arc<OpenFile>, i32)>, Option<u64>) {
    let mut tell = Vec::new();
    let mut due: Option<u64> = None;
    // The files looked at are dropped after the lock: a last reference going
    // runs the close hook, which takes it.
    let mut held: Vec<Arc<OpenFile>> = Vec::new();
    let mut all = LEASES.lock();
    let Some(list) = all.get_mut(&id) else {
        return (tell, None);
    };
    let grace = LEASE_BREAK_TIME
        .load(Ordering::Relaxed)
        .saturating_mul(1_000_000_000);
    list.retain_mut(|l| {
        let Some(f) = l.file.upgrade() else {
            COUNT.fetch_sub(1, Ordering::Relaxed);
            return false;
        };
        if !(write || l.kind == F_WRLCK) {
            held.push(f);
            return true;
        }
        let target = if write { F_UNLCK } else { F_RDLCK };
        match l.breaking {
            None => {
                l.breaking = Some((target, now.saturating_add(grace)));
                tell.push((f, l.fd));
            }
            Some((to, at)) if to != F_UNLCK && target == F_UNLCK => {
                l.breaking = Some((F_UNLCK, at));
                held.push(f);
            }
            _ => held.push(f),
        }
        let (to, at) = l.breaking.unwrap_or((target, now));
        if at <= now {
            // Time is up: the lease becomes what the break asked.
            if to == F_UNLCK {
                COUNT.fetch_sub(1, Ordering::Relaxed);
                return false;
            }
            l.kind = to;
            l.breaking = None;
            return true;
        }
        due = Some(due.map_or(at, |d: u64| d.min(at)));
        true
    });
    if list.is_empty() {
        all.remove(&id);
    }
    drop(all);
    drop(held);
    (tell, due)
}

/// Tells a lease holder its lease is being broken.
fn notify(f: &OpenFile, fd: i32) {
    let Some(owner) = f.owner() else { return };
    let sig = f.io_signal();
    let info = if sig == 0 {
        Siginfo::new(SIGIO, SI_KERNEL)
    } else {
        // POLL_MSG with its band (POLLIN | POLLRDNORM | POLLMSG).
        super::fasync::poll_siginfo(sig, 3, 0x1 | 0x40 | 0x400, fd)
    };
    super::fasync::send(owner, &info);
}

/// Breaks the leases an open of `inode` with `flags` conflicts with, and
/// waits for them to go (EWOULDBLOCK with `nonblock`; ERESTARTSYS if a signal
/// comes first).
pub async fn break_for_open(
    thread: &Thread,
    inode: &InodeRef,
    flags: u32,
    nonblock: bool,
) -> KResult<()> {
    if !active() || !inode.metadata().is_regular() {
        return Ok(());
    }
    let id = identity(inode);
    let write = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0;
    loop {
        let seen = GENERATION.load(Ordering::Acquire);
        let (tell, due) = look(id, write, crate::time::now_ns());
        for (f, fd) in &tell {
            notify(f, *fd);
        }
        let Some(due) = due else {
            return Ok(());
        };
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        let wait = async {
            // Until the leases change (then look again).
            CHANGED
                .wait_until(|| (GENERATION.load(Ordering::Acquire) != seen).then_some(()))
                .await;
            Ok(())
        };
        let left = due.saturating_sub(crate::time::now_ns());
        crate::task::timeout(
            left,
            process::signal::interruptible(thread, Errno::ERESTARTSYS, wait),
        )
        .await
        .unwrap_or(Ok(()))?;
    }
}
