//! fanotify(7): groups that hear about file accesses through marks on
//! inodes, mounts and file systems, read events carrying an open descriptor
//! of the file, and may answer permission events (the opener or reader waits
//! for FAN_ALLOW or FAN_DENY).
//!
//! The decisions (flag checks, which marks make an event reach a group, mark
//! updates) are in the `kestrel-fanotify` crate; this module keeps the groups,
//! their marks and queues, and is one of the two back ends of
//! [`super::fsnotify`], which the system calls report to.
//!
//! A permission event is an `.await` of the opener on the event's wait queue
//! (no lock held): answered by a write of struct fanotify_response, or by the
//! group's release (every pending event is allowed then). A SIGKILL ends the
//! wait by dropping the system call's future; the event leaves the queue if
//! it was not read yet (as Linux's killable wait).
//!
//! Limits, as Linux's defaults: 16384 queued events per group (then one
//! FAN_Q_OVERFLOW), 8192 marks per group (ENOSPC), 128 groups per user
//! (EMFILE). FAN_UNLIMITED_QUEUE and FAN_UNLIMITED_MARKS lift the first two to
//! a ceiling of 2^20 (the kernel allocates nothing sized by a user's number
//! without a cap), and a queue that cannot grow overflows.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicUsize, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_fanotify::{self as fan, InitFlags, MarkCmd, MarkMasks, MarkRequest, MarkType, Role};
use kestrel_sync::WaitQueue;
use kestrel_vfs::file::{FileOps, OpenFile};
use kestrel_vfs::path::MountRef;
use kestrel_vfs::{DentryRef, InodeRef, UserPtr, UserSpace};

use crate::process::Thread;

/// /proc/sys/fs/fanotify/max_queued_events.
pub const MAX_QUEUED_EVENTS: usize = 16384;
/// Marks per group (Linux's smallest max_user_marks).
pub const MAX_MARKS: usize = 8192;
/// /proc/sys/fs/fanotify/max_user_groups.
pub const MAX_USER_GROUPS: usize = 128;
/// What "unlimited" queues and mark counts stop at.
const UNLIMITED_CEILING: usize = 1 << 20;
/// How far back in the queue an event looks for one to merge with (Linux's
/// FANOTIFY_MAX_MERGE_EVENTS).
const MERGE_WINDOW: usize = 128;

/// What a mark is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// (device, inode number).
    Inode(u64, u64),
    /// The mount, by the address of its flags (kept alive by the mark).
    Mount(usize),
    /// The file system, by device.
    Sb(u64),
}

struct Mark {
    masks: MarkMasks,
    /// A mount mark holds its mount, so its address is not reused.
    _mnt: Option<MountRef>,
}

/// The state of a permission event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PermState {
    /// In the queue, not read yet.
    Queued,
    /// Read by the listener, waiting for its answer.
    Reported,
    /// Answered (FAN_ALLOW or FAN_DENY, maybe with FAN_AUDIT).
    Answered(u32),
}

/// A permission event's answer, which its opener waits for.
struct Perm {
    state: spin::Mutex<PermState>,
    wq: WaitQueue,
}

impl Perm {
    fn answer(&self, response: u32) {
        *self.state.lock() = PermState::Answered(response);
        self.wq.wake_all();
    }
}

/// (device, inode number, mount): which file an event is about, for merging.
type Object = (u64, u64, usize);

struct Event {
    mask: u32,
    /// The file (None for FAN_Q_OVERFLOW).
    path: Option<DentryRef>,
    object: Object,
    pid: u32,
    perm: Option<Arc<Perm>>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Event>,
    marks: BTreeMap<Key, Mark>,
    /// Permission events read and not answered yet, by their descriptor.
    pending: Vec<(i32, Arc<Perm>)>,
    /// A FAN_Q_OVERFLOW is in the queue.
    overflow_queued: bool,
    released: bool,
}

/// A fanotify group: the file behind a fanotify descriptor.
pub struct Group {
    inner: spin::Mutex<Inner>,
    wq: WaitQueue,
    init: InitFlags,
}

/// Every live group (a group leaves when its descriptor's file is released).
/// (No Arc of a group is dropped under this lock: the last one's drop takes it.)
static GROUPS: spin::Mutex<Vec<(Weak<Group>, u32)>> = spin::Mutex::new(Vec::new());
/// Marks in all groups (0: reporting returns at once).
static MARK_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Whether any group has a mark (the cheap test before the hooks' work).
#[inline]
pub fn watching() -> bool {
    MARK_COUNT.load(Ordering::Relaxed) != 0
}

fn identity(inode: &InodeRef) -> (u64, u64) {
    let m = inode.metadata();
    (m.dev, m.ino)
}

fn mount_key(d: &DentryRef) -> usize {
    Arc::as_ptr(d.mnt()) as usize
}

impl Group {
    /// A new group (EMFILE past 128 groups of user `uid`).
    pub fn new(init: InitFlags, uid: u32) -> KResult<Arc<Self>> {
        let mut all = GROUPS.lock();
        all.retain(|(g, _)| g.strong_count() > 0);
        let mine = all.iter().filter(|(_, u)| *u == uid).count();
        if mine >= MAX_USER_GROUPS {
            return Err(Errno::EMFILE);
        }
        all.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        let g = Arc::new(Self {
            inner: spin::Mutex::new(Inner::default()),
            wq: WaitQueue::new(),
            init,
        });
        all.push((Arc::downgrade(&g), uid));
        Ok(g)
    }

    fn max_events(&self) -> usize {
        if self.init.flags & fan::FAN_UNLIMITED_QUEUE != 0 {
            UNLIMITED_CEILING
        } else {
            MAX_QUEUED_EVENTS
        }
    }

    fn max_marks(&self) -> usize {
        if self.init.flags & fan::FAN_UNLIMITED_MARKS != 0 {
            UNLIMITED_CEILING
        } else {
            MAX_MARKS
        }
    }

    /// The group's fanotify_init flags.
    pub fn init(&self) -> &InitFlags {
        &self.init
    }

    /// FAN_MARK_FLUSH: every mark of one kind goes.
    pub fn flush(&self, kind: MarkType) {
        let mut i = self.inner.lock();
        let before = i.marks.len();
        i.marks.retain(|k, _| {
            !matches!(
                (k, kind),
                (Key::Inode(..), MarkType::Inode)
                    | (Key::Mount(_), MarkType::Mount)
                    | (Key::Sb(_), MarkType::Filesystem)
            )
        });
        MARK_COUNT.fetch_sub(before - i.marks.len(), Ordering::Relaxed);
    }

    /// FAN_MARK_ADD or FAN_MARK_REMOVE of `req` on the object `d` names.
    pub fn mark(&self, req: &MarkRequest, d: &DentryRef) -> KResult<()> {
        let (dev, ino) = identity(&d.inode);
        let (key, mnt) = match req.kind {
            MarkType::Inode => (Key::Inode(dev, ino), None),
            MarkType::Mount => (Key::Mount(mount_key(d)), Some(d.mnt().clone())),
            MarkType::Filesystem => (Key::Sb(dev), None),
        };
        let mut i = self.inner.lock();
        match req.cmd {
            MarkCmd::Add => {
                if let Some(m) = i.marks.get_mut(&key) {
                    return m.masks.add(req, false);
                }
                if i.marks.len() >= self.max_marks() {
                    return Err(Errno::ENOSPC);
                }
                let mut masks = MarkMasks::default();
                masks.add(req, true)?;
                i.marks.insert(key, Mark { masks, _mnt: mnt });
                MARK_COUNT.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            MarkCmd::Remove => {
                let m = i.marks.get_mut(&key).ok_or(Errno::ENOENT)?;
                if m.masks.remove(req) {
                    i.marks.remove(&key);
                    MARK_COUNT.fetch_sub(1, Ordering::Relaxed);
                }
                Ok(())
            }
            MarkCmd::Flush => Ok(()),
        }
    }

    /// Hands the group an event `mask` on `ev`: queued (merged with a queued
    /// one where it may) if the group's marks want it.
    fn handle(&self, mask: u32, ev: &Target<'_>) -> Outcome {
        let mut guard = self.inner.lock();
        let i = &mut *guard;
        if i.released {
            return Outcome::Nothing;
        }
        let keys = [
            (Role::Object, Some(Key::Inode(ev.object.0, ev.object.1))),
            (Role::Parent, ev.parent.map(|(d, n)| Key::Inode(d, n))),
            (Role::Object, Some(Key::Mount(ev.object.2))),
            (Role::Object, Some(Key::Sb(ev.object.0))),
        ];
        // A modification ends the ignore masks that do not survive it.
        if mask & fan::FAN_MODIFY != 0 {
            for (_, k) in &keys {
                if let Some(m) = k.and_then(|k| i.marks.get_mut(&k))
                    && !m.masks.ignore_surv_modify
                {
                    m.masks.ignore = 0;
                }
            }
        }
        let marks = keys
            .iter()
            .filter_map(|(role, k)| Some((*role, &i.marks.get(&(*k)?)?.masks)));
        let reported = fan::reported(mask, ev.is_dir, marks);
        if reported == 0 {
            return Outcome::Nothing;
        }
        let pid = if self.init.flags & fan::FAN_REPORT_TID != 0 {
            ev.tid
        } else {
            ev.pid
        };
        if reported & fan::PERM_EVENTS == 0 {
            let merge = i.queue.iter_mut().rev().take(MERGE_WINDOW).find(|e| {
                e.object == ev.object && e.pid == pid && fan::may_merge(e.mask, reported)
            });
            if let Some(e) = merge {
                e.mask |= reported;
                return Outcome::Nothing;
            }
        }
        if i.queue.len() >= self.max_events() || i.queue.try_reserve(1).is_err() {
            // Past the limit: one FAN_Q_OVERFLOW (a permission event is
            // dropped, and so allowed, as on Linux).
            // One at a time in the queue, as Linux's single overflow event.
            if !i.overflow_queued && i.queue.try_reserve(1).is_ok() {
                i.overflow_queued = true;
                i.queue.push_back(Event {
                    mask: fan::FAN_Q_OVERFLOW,
                    path: None,
                    object: (0, 0, 0),
                    pid: 0,
                    perm: None,
                });
                return Outcome::Queued;
            }
            return Outcome::Nothing;
        }
        let perm = (reported & fan::PERM_EVENTS != 0).then(|| {
            Arc::new(Perm {
                state: spin::Mutex::new(PermState::Queued),
                wq: WaitQueue::new(),
            })
        });
        i.queue.push_back(Event {
            mask: reported,
            path: Some(ev.dentry.clone()),
            object: ev.object,
            pid,
            perm: perm.clone(),
        });
        match perm {
            Some(p) => Outcome::Perm(p),
            None => Outcome::Queued,
        }
    }

    /// The group's descriptor went: its marks go, and every permission event
    /// not answered yet is allowed (so nobody waits for a listener that is
    /// gone).
    fn release(&self) {
        GROUPS
            .lock()
            .retain(|(g, _)| g.strong_count() > 0 && !core::ptr::eq(g.as_ptr(), self));
        let (queue, pending) = {
            let mut i = self.inner.lock();
            if i.released {
                return;
            }
            i.released = true;
            MARK_COUNT.fetch_sub(i.marks.len(), Ordering::Relaxed);
            i.marks.clear();
            (
                core::mem::take(&mut i.queue),
                core::mem::take(&mut i.pending),
            )
        };
        for p in queue.iter().filter_map(|e| e.perm.as_ref()) {
            p.answer(fan::FAN_ALLOW);
        }
        for (_, p) in pending {
            p.answer(fan::FAN_ALLOW);
        }
        self.wq.wake_all();
    }

    /// The /proc/PID/fdinfo lines (fs/notify/fdinfo.c's form).
    pub fn fdinfo(&self) -> alloc::string::String {
        use core::fmt::Write;
        let mut s = alloc::string::String::new();
        let _ = writeln!(
            s,
            "fanotify flags:{:x} event-flags:{:x}",
            self.init.flags, self.init.event_f_flags
        );
        for (k, m) in &self.inner.lock().marks {
            let (mask, ignored) = (m.masks.mask, m.masks.ignore);
            let flags = if m.masks.ignore_surv_modify { 1 } else { 0 };
            let _ = match k {
                Key::Inode(dev, ino) => writeln!(
                    s,
                    "fanotify ino:{ino:x} sdev:{dev:x} mflags:{flags:x} mask:{mask:x} ignored_mask:{ignored:x}"
                ),
                Key::Mount(_) => writeln!(
                    s,
                    "fanotify mnt_id:0 mflags:{flags:x} mask:{mask:x} ignored_mask:{ignored:x}"
                ),
                Key::Sb(dev) => writeln!(
                    s,
                    "fanotify sdev:{dev:x} mflags:{flags:x} mask:{mask:x} ignored_mask:{ignored:x}"
                ),
            };
        }
        s
    }

    /// One event for the reader, with its descriptor opened in `thread`'s
    /// process: the metadata bytes.
    fn report(&self, e: &Event, thread: &Thread) -> KResult<[u8; fan::METADATA_LEN]> {
        let fd = match &e.path {
            None => fan::FAN_NOFD,
            Some(d) => {
                let flags = self.init.event_f_flags;
                let file = super::open_dentry(d.clone(), flags & !O_CLOEXEC, &thread.process)?;
                file.set_no_notify();
                let limit = thread.process.nofile();
                thread
                    .process
                    .files()
                    .lock()
                    .insert(file, flags & O_CLOEXEC != 0, 0, limit)?
            }
        };
        let mut out = [0u8; fan::METADATA_LEN];
        out[0..4].copy_from_slice(&(fan::METADATA_LEN as u32).to_ne_bytes());
        out[4] = fan::METADATA_VERSION;
        out[6..8].copy_from_slice(&(fan::METADATA_LEN as u16).to_ne_bytes());
        out[8..16].copy_from_slice(&u64::from(e.mask).to_ne_bytes());
        out[16..20].copy_from_slice(&fd.to_ne_bytes());
        out[20..24].copy_from_slice(&e.pid.to_ne_bytes());
        Ok(out)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.release();
    }
}

impl FileOps for Group {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let Some(thread) = crate::process::current_thread() else {
            return Err(Errno::EINVAL);
        };
        let mut n = 0;
        loop {
            let e = {
                let mut i = self.inner.lock();
                match i.queue.front() {
                    None => break,
                    Some(_) if n + fan::METADATA_LEN > buf.len() => {
                        if n == 0 {
                            return Err(Errno::EINVAL);
                        }
                        break;
                    }
                    Some(_) => {
                        let e = i.queue.pop_front().expect("front checked");
                        if e.mask == fan::FAN_Q_OVERFLOW {
                            i.overflow_queued = false;
                        }
                        if let Some(p) = &e.perm {
                            *p.state.lock() = PermState::Reported;
                        }
                        e
                    }
                }
            };
            match self.report(&e, &thread) {
                Ok(bytes) => {
                    buf[n..n + bytes.len()].copy_from_slice(&bytes);
                    n += bytes.len();
                    if let Some(p) = e.perm {
                        let fd = i32::from_ne_bytes(bytes[16..20].try_into().expect("4 bytes"));
                        let mut i = self.inner.lock();
                        if i.released {
                            drop(i);
                            p.answer(fan::FAN_ALLOW);
                        } else if i.pending.try_reserve(1).is_ok() {
                            i.pending.push((fd, p));
                        } else {
                            drop(i);
                            p.answer(fan::FAN_ALLOW);
                        }
                    }
                }
                Err(err) => {
                    // An event whose file cannot be opened is lost; a
                    // permission event is denied (Linux's fanotify_read).
                    if let Some(p) = e.perm {
                        p.answer(fan::FAN_DENY);
                    }
                    if n == 0 {
                        return Err(err);
                    }
                    break;
                }
            }
        }
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        Ok(n)
    }

    /// A struct fanotify_response: the answer to a permission event read
    /// with descriptor `fd`.
    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        if data.len() < fan::RESPONSE_LEN {
            return Err(Errno::EINVAL);
        }
        let fd = i32::from_ne_bytes(data[0..4].try_into().expect("4 bytes"));
        let response = u32::from_ne_bytes(data[4..8].try_into().expect("4 bytes"));
        match response & !fan::FAN_AUDIT {
            fan::FAN_ALLOW | fan::FAN_DENY => {}
            _ => return Err(Errno::EINVAL),
        }
        if response & fan::FAN_AUDIT != 0 && self.init.flags & fan::FAN_ENABLE_AUDIT == 0 {
            return Err(Errno::EINVAL);
        }
        if fd < 0 {
            return Err(Errno::EINVAL);
        }
        let p = {
            let mut i = self.inner.lock();
            let at = i
                .pending
                .iter()
                .position(|(f, _)| *f == fd)
                .ok_or(Errno::ENOENT)?;
            i.pending.remove(at).1
        };
        p.answer(response);
        Ok(data.len())
    }

    fn poll(&self) -> u16 {
        if self.inner.lock().queue.is_empty() {
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
        let n = (self.inner.lock().queue.len() * fan::METADATA_LEN) as i32;
        UserPtr::<i32>::new(arg).write(mem, &n)?;
        Ok(0)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The group behind `f`, if it is a fanotify descriptor.
pub fn group(f: &OpenFile) -> Option<Arc<Group>> {
    let ops = f.ops().clone();
    let any: Arc<dyn Any + Send + Sync> = ops;
    any.downcast::<Group>().ok()
}

/// What [`Group::handle`] did with an event.
enum Outcome {
    /// Nothing new to read (not wanted, merged, or lost to an overflow).
    Nothing,
    /// A new event is queued.
    Queued,
    /// A permission event is queued: its answer.
    Perm(Arc<Perm>),
}

/// What an event is about, worked out once for all groups.
struct Target<'a> {
    dentry: &'a DentryRef,
    object: Object,
    /// The directory it is in, when that is in the same mount.
    parent: Option<(u64, u64)>,
    is_dir: bool,
    pid: u32,
    tid: u32,
}

impl<'a> Target<'a> {
    fn new(d: &'a DentryRef, thread: Option<&Thread>) -> Self {
        let m = d.inode.metadata();
        let parent = d
            .parent()
            .filter(|p| Arc::ptr_eq(p.mnt(), d.mnt()))
            .map(|p| identity(&p.inode));
        Self {
            dentry: d,
            object: (m.dev, m.ino, mount_key(d)),
            parent,
            is_dir: m.is_dir(),
            pid: thread.map_or(0, |t| t.process.pid),
            tid: thread.map_or(0, |t| t.tid()),
        }
    }
}

/// The live groups, highest priority first (permission classes hear an
/// event before notification groups).
fn groups() -> Vec<Arc<Group>> {
    let mut v: Vec<Arc<Group>> = {
        let all = GROUPS.lock();
        let mut v = Vec::with_capacity(all.len());
        v.extend(all.iter().filter_map(|(g, _)| g.upgrade()));
        v
    };
    v.sort_by_key(|g| core::cmp::Reverse(g.init.priority()));
    v
}

/// `mask` (FAN_ACCESS, FAN_MODIFY, FAN_OPEN...) happened to the file `d`
/// names, done by the current thread.
pub fn notify(d: &DentryRef, mask: u32) {
    if !watching() || mask & fan::PATH_EVENTS == 0 {
        return;
    }
    let thread = crate::process::current_thread();
    let target = Target::new(d, thread.as_deref());
    for g in groups() {
        if let Outcome::Queued = g.handle(mask, &target) {
            g.wq.wake(u32::from(POLLIN | POLLRDNORM));
        }
    }
}

/// Takes a queued permission event back out when its opener stops waiting
/// (killed): a read one stays until answered, as on Linux.
struct Withdraw<'a> {
    group: &'a Group,
    perm: &'a Arc<Perm>,
    armed: bool,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut i = self.group.inner.lock();
        if *self.perm.state.lock() == PermState::Queued {
            i.queue
                .retain(|e| !e.perm.as_ref().is_some_and(|p| Arc::ptr_eq(p, self.perm)));
        }
    }
}

/// A permission event `mask` (FAN_OPEN_PERM, FAN_ACCESS_PERM,
/// FAN_OPEN_EXEC_PERM) on `d` by `thread`: each group that wants it is asked
/// in turn, and the first FAN_DENY is EPERM.
pub async fn permission(d: &DentryRef, mask: u32, thread: &Thread) -> KResult<()> {
    if !watching() {
        return Ok(());
    }
    let target = Target::new(d, Some(thread));
    for g in groups() {
        if !g.init.permission_class() {
            continue;
        }
        let Outcome::Perm(perm) = g.handle(mask, &target) else {
            continue;
        };
        g.wq.wake(u32::from(POLLIN | POLLRDNORM));
        let mut withdraw = Withdraw {
            group: &g,
            perm: &perm,
            armed: true,
        };
        let response = perm
            .wq
            .wait_until(|| match *perm.state.lock() {
                PermState::Answered(r) => Some(r),
                _ => None,
            })
            .await;
        withdraw.armed = false;
        if response & !fan::FAN_AUDIT == fan::FAN_DENY {
            return Err(Errno::EPERM);
        }
    }
    Ok(())
}

/// `inode` lost its last name: marks on it go (Linux drops them when the
/// inode is evicted).
pub fn inode_deleted(inode: &InodeRef) {
    if !watching() {
        return;
    }
    let (dev, ino) = identity(inode);
    for g in groups() {
        let mut i = g.inner.lock();
        if i.marks.remove(&Key::Inode(dev, ino)).is_some() {
            MARK_COUNT.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// An open file was released: a fanotify descriptor's group goes.
pub fn file_released(f: &OpenFile) {
    if let Some(g) = f.ops().as_any().downcast_ref::<Group>() {
        g.release();
    }
}
