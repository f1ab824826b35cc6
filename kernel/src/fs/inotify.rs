//! inotify(7): watches on inodes, and the events file operations generate on
//! them, read from an inotify descriptor.
//!
//! A watch is (instance, wd, mask) on an inode's identity (device, inode
//! number). The system-call layer reports what it did ([`notify`],
//! [`notify_dentry`]): an event goes to the watches on the inode itself and,
//! with the name, to those on its parent directory (the parent's first, as
//! Linux's fsnotify_parent). When nothing is watched at all, reporting is one
//! atomic load.
//!
//! Limits, as Linux's defaults: 16384 queued events per instance (then one
//! IN_Q_OVERFLOW), 128 instances per user (max_user_instances, writable),
//! 8192 watches per user (the /proc/sys/fs/inotify files show them).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::file::{FileOps, OpenFile};
use kestrel_vfs::{Dentry, InodeRef, UserPtr, UserSpace};

pub const IN_ACCESS: u32 = 0x0000_0001;
pub const IN_MODIFY: u32 = 0x0000_0002;
pub const IN_ATTRIB: u32 = 0x0000_0004;
pub const IN_CLOSE_WRITE: u32 = 0x0000_0008;
pub const IN_CLOSE_NOWRITE: u32 = 0x0000_0010;
pub const IN_OPEN: u32 = 0x0000_0020;
pub const IN_MOVED_FROM: u32 = 0x0000_0040;
pub const IN_MOVED_TO: u32 = 0x0000_0080;
pub const IN_CREATE: u32 = 0x0000_0100;
pub const IN_DELETE: u32 = 0x0000_0200;
pub const IN_DELETE_SELF: u32 = 0x0000_0400;
pub const IN_MOVE_SELF: u32 = 0x0000_0800;
const IN_ALL_EVENTS: u32 = 0x0000_0fff;
const IN_UNMOUNT: u32 = 0x0000_2000;
const IN_Q_OVERFLOW: u32 = 0x0000_4000;
const IN_IGNORED: u32 = 0x0000_8000;
const IN_ONLYDIR: u32 = 0x0100_0000;
const IN_DONT_FOLLOW: u32 = 0x0200_0000;
const IN_EXCL_UNLINK: u32 = 0x0400_0000;
const IN_MASK_CREATE: u32 = 0x1000_0000;
const IN_MASK_ADD: u32 = 0x2000_0000;
const IN_ISDIR: u32 = 0x4000_0000;
const IN_ONESHOT: u32 = 0x8000_0000;

/// /proc/sys/fs/inotify/max_queued_events.
pub const MAX_QUEUED_EVENTS: usize = 16384;
/// /proc/sys/fs/inotify/max_user_instances (writable).
pub static MAX_USER_INSTANCES: AtomicUsize = AtomicUsize::new(128);
/// /proc/sys/fs/inotify/max_user_watches.
pub const MAX_USER_WATCHES: usize = 8192;

/// (device, inode number).
type Id = (u64, u64);

/// One queued event, as read(2) returns it.
#[derive(Clone, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// struct inotify_event and its name, NUL-padded to a multiple of 16.
    fn len(&self) -> usize {
        16 + self.name_len()
    }

    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).next_multiple_of(16)
        }
    }
}

struct Watch {
    id: Id,
    mask: u32,
    /// The inode watched is a directory (IN_UNMOUNT carries IN_ISDIR).
    isdir: bool,
}

#[derive(Default)]
struct Inner {
    events: VecDeque<Event>,
    bytes: usize,
    watches: BTreeMap<i32, Watch>,
    last_wd: i32,
}

/// An inotify instance: the file behind an inotify descriptor.
pub struct Inotify {
    inner: spin::Mutex<Inner>,
    wq: WaitQueue,
    uid: u32,
}

/// The watches on one inode: (instance, wd).
type Watchers = Vec<(Weak<Inotify>, i32)>;

/// Every watch in the system, by the inode watched.
static WATCHES: spin::Mutex<BTreeMap<Id, Watchers>> = spin::Mutex::new(BTreeMap::new());
/// How many watches exist (0: reporting returns at once).
static WATCH_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Instances and watches per user: (uid, instances, watches).
static PER_USER: spin::Mutex<Vec<(u32, usize, usize)>> = spin::Mutex::new(Vec::new());
/// The cookie tying an IN_MOVED_FROM to its IN_MOVED_TO.
static COOKIE: AtomicU32 = AtomicU32::new(0);

fn user_counts(uid: u32, f: impl FnOnce(&mut usize, &mut usize) -> KResult<()>) -> KResult<()> {
    let mut l = PER_USER.lock();
    let i = match l.iter().position(|e| e.0 == uid) {
        Some(i) => i,
        None => {
            l.push((uid, 0, 0));
            l.len() - 1
        }
    };
    let (_, inst, watches) = &mut l[i];
    let r = f(inst, watches);
    if l[i].1 == 0 && l[i].2 == 0 {
        l.swap_remove(i);
    }
    r
}

fn identity(inode: &InodeRef) -> Id {
    let m = inode.metadata();
    (m.dev, m.ino)
}

/// Whether inotify_add_watch may take `mask` at all (Linux's first checks, made
/// before the descriptor is looked at): some bit inotify knows (events, flags,
/// or the bits only events carry), and not IN_MASK_ADD with IN_MASK_CREATE.
pub fn mask_is_valid(mask: u32) -> bool {
    const ALL_INOTIFY_BITS: u32 = IN_ALL_EVENTS
        | IN_UNMOUNT
        | IN_Q_OVERFLOW
        | IN_IGNORED
        | IN_ONLYDIR
        | IN_DONT_FOLLOW
        | IN_EXCL_UNLINK
        | IN_MASK_ADD
        | IN_MASK_CREATE
        | IN_ISDIR
        | IN_ONESHOT;
    mask & ALL_INOTIFY_BITS != 0 && !(mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0)
}

impl Inotify {
    /// A new instance for user `uid` (EMFILE past max_user_instances).
    pub fn new(uid: u32) -> KResult<Arc<Self>> {
        user_counts(uid, |inst, _| {
            if *inst >= MAX_USER_INSTANCES.load(Ordering::Relaxed) {
                return Err(Errno::EMFILE);
            }
            *inst += 1;
            Ok(())
        })?;
        Ok(Arc::new(Self {
            inner: spin::Mutex::new(Inner::default()),
            wq: WaitQueue::new(),
            uid,
        }))
    }

    /// Queues an event (merged with an identical last one; past the limit,
    /// one IN_Q_OVERFLOW).
    fn queue(&self, ev: Event) {
        {
            let mut i = self.inner.lock();
            if i.events.back() == Some(&ev) {
                return;
            }
            let ev = if i.events.len() >= MAX_QUEUED_EVENTS {
                if i.events.back().is_some_and(|e| e.mask == IN_Q_OVERFLOW) {
                    return;
                }
                Event {
                    wd: -1,
                    mask: IN_Q_OVERFLOW,
                    cookie: 0,
                    name: Vec::new(),
                }
            } else {
                ev
            };
            i.bytes += ev.len();
            i.events.push_back(ev);
        }
        self.wq.wake(u32::from(POLLIN | POLLRDNORM));
    }

    /// inotify_add_watch on `inode`: the watch descriptor.
    pub fn add_watch(self: &Arc<Self>, inode: &InodeRef, mask: u32) -> KResult<i32> {
        if mask & IN_ALL_EVENTS == 0 {
            return Err(Errno::EINVAL);
        }
        if mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0 {
            return Err(Errno::EINVAL);
        }
        if mask & IN_ONLYDIR != 0 && !inode.metadata().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let id = identity(inode);
        let kept = mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK);
        let mut all = WATCHES.lock();
        let mut i = self.inner.lock();
        if let Some((&wd, w)) = i.watches.iter_mut().find(|(_, w)| w.id == id) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(Errno::EEXIST);
            }
            w.mask = if mask & IN_MASK_ADD != 0 {
                w.mask | kept
            } else {
                kept
            };
            return Ok(wd);
        }
        user_counts(self.uid, |_, watches| {
            if *watches >= MAX_USER_WATCHES {
                return Err(Errno::ENOSPC);
            }
            *watches += 1;
            Ok(())
        })?;
        // Watch descriptors count up and are not reused while the instance
        // lives (as Linux's idr_alloc_cyclic).
        let mut wd = i.last_wd;
        loop {
            wd = if wd == i32::MAX { 1 } else { wd + 1 };
            if !i.watches.contains_key(&wd) {
                break;
            }
        }
        i.last_wd = wd;
        let isdir = inode.metadata().is_dir();
        i.watches.insert(
            wd,
            Watch {
                id,
                mask: kept,
                isdir,
            },
        );
        all.entry(id).or_default().push((Arc::downgrade(self), wd));
        WATCH_COUNT.fetch_add(1, Ordering::Relaxed);
        Ok(wd)
    }

    /// The /proc/PID/fdinfo lines of the watches (fs/notify/fdinfo.c's form).
    pub fn fdinfo(&self) -> alloc::string::String {
        use core::fmt::Write;
        let mut s = alloc::string::String::new();
        for (wd, w) in &self.inner.lock().watches {
            let _ = writeln!(
                s,
                "inotify wd:{wd:x} ino:{:x} sdev:{:x} mask:{:x} ignored_mask:0",
                w.id.1, w.id.0, w.mask
            );
        }
        s
    }

    /// inotify_rm_watch: EINVAL for a wd this instance does not have.
    pub fn rm_watch(&self, wd: i32) -> KResult<()> {
        {
            let mut all = WATCHES.lock();
            let id = self
                .inner
                .lock()
                .watches
                .remove(&wd)
                .ok_or(Errno::EINVAL)?
                .id;
            forget(&mut all, id, self, wd);
        }
        self.queue(Event {
            wd,
            mask: IN_IGNORED,
            cookie: 0,
            name: Vec::new(),
        });
        Ok(())
    }
}

/// Drops `(me, wd)` from the watches on `id`.
fn forget(all: &mut BTreeMap<Id, Watchers>, id: Id, me: &Inotify, wd: i32) {
    if let Some(v) = all.get_mut(&id) {
        let before = v.len();
        v.retain(|(w, d)| !(*d == wd && core::ptr::eq(w.as_ptr(), me)));
        let gone = before - v.len();
        if v.is_empty() {
            all.remove(&id);
        }
        WATCH_COUNT.fetch_sub(gone, Ordering::Relaxed);
        let _ = user_counts(me.uid, |_, watches| {
            *watches = watches.saturating_sub(gone);
            Ok(())
        });
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let watches = core::mem::take(&mut self.inner.lock().watches);
        {
            let mut all = WATCHES.lock();
            for (wd, w) in watches {
                forget(&mut all, w.id, self, wd);
            }
        }
        let _ = user_counts(self.uid, |inst, _| {
            *inst = inst.saturating_sub(1);
            Ok(())
        });
    }
}

impl FileOps for Inotify {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let mut i = self.inner.lock();
        let Some(first) = i.events.front() else {
            return Err(Errno::EAGAIN);
        };
        if buf.len() < first.len() {
            return Err(Errno::EINVAL);
        }
        let mut n = 0;
        while let Some(e) = i.events.front() {
            let len = e.len();
            if n + len > buf.len() {
                break;
            }
            let out = &mut buf[n..n + len];
            out.fill(0);
            out[0..4].copy_from_slice(&e.wd.to_ne_bytes());
            out[4..8].copy_from_slice(&e.mask.to_ne_bytes());
            out[8..12].copy_from_slice(&e.cookie.to_ne_bytes());
            out[12..16].copy_from_slice(&(e.name_len() as u32).to_ne_bytes());
            out[16..16 + e.name.len()].copy_from_slice(&e.name);
            n += len;
            i.bytes -= len;
            i.events.pop_front();
        }
        Ok(n)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        if self.inner.lock().events.is_empty() {
            0
        } else {
            POLLIN | POLLRDNORM
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.wq)
    }

    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        if cmd != kestrel_abi::tty::FIONREAD {
            return Err(Errno::ENOTTY);
        }
        let n = self.inner.lock().bytes as i32;
        UserPtr::<i32>::new(arg).write(mem, &n)?;
        Ok(0)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Sends `mask` (with `name` and `cookie`) to every watch on `id` that wants
/// it; `isdir` adds IN_ISDIR. A one-shot watch ends after its first event.
fn deliver(id: Id, mask: u32, cookie: u32, name: &[u8], isdir: bool) {
    deliver_to(id, mask, cookie, name, isdir, false);
}

/// [`deliver`]; `unlinked_child` leaves out watches with IN_EXCL_UNLINK (the
/// event is about a child of the watched directory that has no name left).
fn deliver_to(id: Id, mask: u32, cookie: u32, name: &[u8], isdir: bool, unlinked_child: bool) {
    let targets: Vec<(Arc<Inotify>, i32)> = {
        let all = WATCHES.lock();
        match all.get(&id) {
            Some(v) => v
                .iter()
                .filter_map(|(w, wd)| w.upgrade().map(|i| (i, *wd)))
                .collect(),
            None => return,
        }
    };
    for (inst, wd) in targets {
        let (wanted, oneshot) = {
            let i = inst.inner.lock();
            match i.watches.get(&wd) {
                Some(w) if unlinked_child && w.mask & IN_EXCL_UNLINK != 0 => continue,
                Some(w) => (w.mask & mask != 0, w.mask & IN_ONESHOT != 0),
                None => continue,
            }
        };
        if !wanted {
            continue;
        }
        inst.queue(Event {
            wd,
            mask: mask | if isdir { IN_ISDIR } else { 0 },
            cookie,
            name: name.to_vec(),
        });
        if oneshot {
            let _ = inst.rm_watch(wd);
        }
    }
}

/// Whether anything is watched at all.
#[inline]
pub(super) fn watching() -> bool {
    WATCH_COUNT.load(Ordering::Relaxed) != 0
}

/// `mask` happened to `inode` (no parent known: only its own watches hear).
pub fn notify(inode: &InodeRef, mask: u32) {
    if !watching() {
        return;
    }
    let isdir = inode.metadata().is_dir();
    deliver(identity(inode), mask, 0, &[], isdir);
}

/// `mask` happened to the file `d` names: its parent's watches hear it with
/// the name, then its own.
pub fn notify_dentry(d: &Dentry, mask: u32) {
    if !watching() {
        return;
    }
    let m = d.inode.metadata();
    let isdir = m.is_dir();
    if let Some(parent) = d.parent() {
        deliver_to(
            identity(&parent.inode),
            mask,
            0,
            d.name(),
            isdir,
            m.nlink == 0,
        );
    }
    deliver(identity(&d.inode), mask, 0, &[], isdir);
}

/// `name` appeared in (IN_CREATE) or left (IN_DELETE) directory `dir`.
pub fn notify_child(dir: &InodeRef, mask: u32, name: &[u8], isdir: bool) {
    if !watching() {
        return;
    }
    deliver(identity(dir), mask, 0, name, isdir);
}

/// `inode` lost its last name: IN_DELETE_SELF, then its watches end
/// (IN_IGNORED).
pub fn inode_deleted(inode: &InodeRef) {
    if !watching() {
        return;
    }
    let id = identity(inode);
    deliver(id, IN_DELETE_SELF, 0, &[], false);
    end_watches(id);
}

/// The file system on device `dev` was unmounted (its last mount went):
/// every watch on one of its inodes hears IN_UNMOUNT, whatever its mask
/// (with IN_ISDIR on a directory), then ends (IN_IGNORED), as Linux's
/// fsnotify_unmount_inodes.
pub fn unmounted(dev: u64) {
    if !watching() {
        return;
    }
    let on_dev: Vec<(Id, Watchers)> = WATCHES
        .lock()
        .range((dev, 0)..=(dev, u64::MAX))
        .map(|(id, w)| (*id, w.clone()))
        .collect();
    for (id, watchers) in on_dev {
        for (w, wd) in watchers {
            let Some(inst) = w.upgrade() else { continue };
            let isdir = {
                let i = inst.inner.lock();
                match i.watches.get(&wd) {
                    Some(w) => w.isdir,
                    None => continue,
                }
            };
            inst.queue(Event {
                wd,
                mask: IN_UNMOUNT | if isdir { IN_ISDIR } else { 0 },
                cookie: 0,
                name: Vec::new(),
            });
        }
        end_watches(id);
    }
}

fn end_watches(id: Id) {
    let list = WATCHES.lock().get(&id).cloned().unwrap_or_default();
    for (w, wd) in list {
        if let Some(inst) = w.upgrade() {
            let _ = inst.rm_watch(wd);
        }
    }
}

/// A rename of `name` in `from` to `new_name` in `to` (the moved inode is
/// `inode`): IN_MOVED_FROM and IN_MOVED_TO with one cookie, IN_MOVE_SELF.
pub fn renamed(from: &InodeRef, name: &[u8], to: &InodeRef, new_name: &[u8], inode: &InodeRef) {
    if !watching() {
        return;
    }
    let isdir = inode.metadata().is_dir();
    let cookie = COOKIE.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    deliver(identity(from), IN_MOVED_FROM, cookie, name, isdir);
    deliver(identity(to), IN_MOVED_TO, cookie, new_name, isdir);
    // The self events carry no IN_ISDIR (Linux's fsnotify_move).
    deliver(identity(inode), IN_MOVE_SELF, 0, &[], false);
}

/// The instance behind `f`, if it is an inotify descriptor.
pub fn instance(f: &OpenFile) -> Option<Arc<Inotify>> {
    let ops = f.ops().clone();
    let any: Arc<dyn Any + Send + Sync> = ops;
    any.downcast::<Inotify>().ok()
}

/// The flags of inotify_add_watch that are not events (for the syscall).
pub fn follows(mask: u32) -> bool {
    mask & IN_DONT_FOLLOW == 0
}
