//! inotify: file-system events read from a file descriptor (inotify(7)).
//!
//! An [`Inotify`] instance is a queue of events and a set of watches, each a
//! watched inode and the events wanted from it, numbered by a watch descriptor.
//! The syscall layer reports what happens to files with [`event`] (and
//! [`removed`] when a watched file is deleted); every watch of the inode gets
//! the event if its mask asks for it, and a directory's watches also get the
//! events of the files in it, with the file's name.
//!
//! Watches are found by inode through one global table keyed by the inode's
//! address: a watch holds its inode (as Linux's inode mark pins it), so the
//! address stays the inode's while watched. The table's lock is never held while
//! an instance's is taken (events are collected, then queued), so the two locks
//! are never nested in opposite orders.
//!
//! Reading returns whole `struct inotify_event` records, each followed by its name
//! padded with NULs to a multiple of 16 bytes; a buffer too small for the first
//! record is EINVAL; an empty queue is EAGAIN (the syscall layer waits unless the
//! file is non-blocking). An event equal to the one last queued and not yet read
//! is merged with it; past [`MAX_QUEUED`] events one IN_Q_OVERFLOW (wd -1) ends
//! the queue and later events are dropped until it is read.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;

use crate::file::{FileOps, OpenFile};
use crate::inode::InodeRef;
use crate::{UserPtr, UserSpace};

pub const IN_ACCESS: u32 = 0x1;
pub const IN_MODIFY: u32 = 0x2;
pub const IN_ATTRIB: u32 = 0x4;
pub const IN_CLOSE_WRITE: u32 = 0x8;
pub const IN_CLOSE_NOWRITE: u32 = 0x10;
pub const IN_OPEN: u32 = 0x20;
pub const IN_MOVED_FROM: u32 = 0x40;
pub const IN_MOVED_TO: u32 = 0x80;
pub const IN_CREATE: u32 = 0x100;
pub const IN_DELETE: u32 = 0x200;
pub const IN_DELETE_SELF: u32 = 0x400;
pub const IN_MOVE_SELF: u32 = 0x800;
pub const IN_UNMOUNT: u32 = 0x2000;
pub const IN_Q_OVERFLOW: u32 = 0x4000;
pub const IN_IGNORED: u32 = 0x8000;
pub const IN_ONLYDIR: u32 = 0x0100_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
pub const IN_MASK_ADD: u32 = 0x2000_0000;
pub const IN_ISDIR: u32 = 0x4000_0000;
pub const IN_ONESHOT: u32 = 0x8000_0000;
/// Every event a watch may ask for.
pub const IN_ALL_EVENTS: u32 = 0xfff;
/// Every bit inotify_add_watch knows (Linux's ALL_INOTIFY_BITS); a mask with none
/// of them is EINVAL.
pub const ALL_INOTIFY_BITS: u32 = IN_ALL_EVENTS
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
/// Events reported to a directory's watches for the files in it (with a name).
const CHILD_EVENTS: u32 = IN_ACCESS
    | IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_CLOSE_NOWRITE
    | IN_OPEN
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE;

/// Events queued per instance before IN_Q_OVERFLOW (Linux's default
/// /proc/sys/fs/inotify/max_queued_events).
pub const MAX_QUEUED: usize = 16384;
/// Instances at once (Linux's max_user_instances is 128 per user; one limit for
/// everyone here). More is EMFILE.
pub const MAX_INSTANCES: usize = 128;
/// Watches at once, all instances together (Linux's max_user_watches is per
/// user and scales with memory). More is ENOSPC.
pub const MAX_WATCHES: usize = 65536;
/// The fixed part of a record: wd, mask, cookie, len.
pub const EVENT_HEADER: usize = 16;
/// A name is at most this long (NAME_MAX), so a record at most this big.
const NAME_MAX: usize = 255;

/// One watch of an instance.
struct Watch {
    inode: InodeRef,
    /// Events wanted, with IN_ONESHOT and IN_EXCL_UNLINK kept.
    mask: u32,
}

/// A queued event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// The name's bytes in the record: NUL-terminated and padded to 16.
    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).next_multiple_of(EVENT_HEADER)
        }
    }
    fn size(&self) -> usize {
        EVENT_HEADER + self.name_len()
    }
}

struct State {
    events: VecDeque<Event>,
    /// Bytes the queued records take (FIONREAD).
    bytes: usize,
    next_wd: i32,
    watches: BTreeMap<i32, Watch>,
}

/// An inotify instance (the file behind inotify_init's descriptor).
pub struct Inotify {
    state: spin::Mutex<State>,
    wq: WaitQueue,
    /// Itself, for the watch table's entries.
    me: Weak<Inotify>,
}

/// Where a watch sends its events.
#[derive(Clone)]
struct Target {
    instance: Weak<Inotify>,
    wd: i32,
    mask: u32,
}

/// Watches by the address of their inode.
static TABLE: spin::Mutex<BTreeMap<usize, Vec<Target>>> = spin::Mutex::new(BTreeMap::new());
/// Watches in the table: nothing to look up while it is zero (the common case).
static WATCHES: AtomicUsize = AtomicUsize::new(0);
static INSTANCES: AtomicUsize = AtomicUsize::new(0);
/// The cookie joining a rename's IN_MOVED_FROM and IN_MOVED_TO.
static COOKIE: AtomicU32 = AtomicU32::new(0);

fn key(inode: &InodeRef) -> usize {
    Arc::as_ptr(inode) as *const () as usize
}

/// Whether any watch exists: callers may skip building an event when not.
pub fn watching() -> bool {
    WATCHES.load(Ordering::Acquire) > 0
}

/// A new cookie for a rename's pair of events.
pub fn next_cookie() -> u32 {
    COOKIE
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(1)
        .max(1)
}

impl Inotify {
    /// A new instance; EMFILE past [`MAX_INSTANCES`].
    pub fn new() -> KResult<Arc<Self>> {
        if INSTANCES.fetch_add(1, Ordering::AcqRel) >= MAX_INSTANCES {
            INSTANCES.fetch_sub(1, Ordering::AcqRel);
            return Err(Errno::EMFILE);
        }
        Ok(Arc::new_cyclic(|me| Self {
            state: spin::Mutex::new(State {
                events: VecDeque::new(),
                bytes: 0,
                next_wd: 1,
                watches: BTreeMap::new(),
            }),
            wq: WaitQueue::new(),
            me: me.clone(),
        }))
    }

    /// The instance behind an open file, if it is one.
    pub fn of(file: &OpenFile) -> Option<&Inotify> {
        file.ops().as_any().downcast_ref::<Inotify>()
    }

    /// inotify_add_watch: watches `inode` for `mask` (checked by the caller against
    /// [`ALL_INOTIFY_BITS`]); the watch descriptor. The same inode again is the same
    /// descriptor, its mask replaced (or, with IN_MASK_ADD, added to; with
    /// IN_MASK_CREATE, EEXIST). ENOSPC past [`MAX_WATCHES`].
    pub fn add_watch(&self, inode: InodeRef, mask: u32) -> KResult<i32> {
        let k = key(&inode);
        let keep = (mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK)) | IN_IGNORED;
        let mut s = self.state.lock();
        let existing = s
            .watches
            .iter()
            .find(|(_, w)| key(&w.inode) == k)
            .map(|(&wd, _)| wd);
        if let Some(wd) = existing {
            if mask & IN_MASK_CREATE != 0 {
                return Err(Errno::EEXIST);
            }
            let w = s.watches.get_mut(&wd).expect("found above");
            w.mask = if mask & IN_MASK_ADD != 0 {
                w.mask | keep
            } else {
                keep
            };
            let m = w.mask;
            if let Some(ts) = TABLE.lock().get_mut(&k) {
                for t in ts.iter_mut() {
                    if t.wd == wd && core::ptr::eq(t.instance.as_ptr(), self) {
                        t.mask = m;
                    }
                }
            }
            return Ok(wd);
        }
        if WATCHES.fetch_add(1, Ordering::AcqRel) >= MAX_WATCHES {
            WATCHES.fetch_sub(1, Ordering::AcqRel);
            return Err(Errno::ENOSPC);
        }
        let wd = s.next_wd;
        // Descriptors are not reused while the instance lives (as Linux's idr
        // cyclic allocation), so a late event never names a newer watch.
        s.next_wd = s.next_wd.checked_add(1).unwrap_or(1);
        s.watches.insert(wd, Watch { inode, mask: keep });
        TABLE.lock().entry(k).or_default().push(Target {
            instance: self.me.clone(),
            wd,
            mask: keep,
        });
        Ok(wd)
    }

    /// inotify_rm_watch: ends watch `wd` with IN_IGNORED; EINVAL if there is none.
    pub fn rm_watch(&self, wd: i32) -> KResult<()> {
        let w = self.state.lock().watches.remove(&wd).ok_or(Errno::EINVAL)?;
        self.unregister(&w.inode, wd);
        self.queue(Event {
            wd,
            mask: IN_IGNORED,
            cookie: 0,
            name: Vec::new(),
        });
        Ok(())
    }

    fn unregister(&self, inode: &InodeRef, wd: i32) {
        let k = key(inode);
        let mut t = TABLE.lock();
        if let Some(ts) = t.get_mut(&k) {
            let me = self as *const Self;
            let before = ts.len();
            ts.retain(|x| !(x.wd == wd && x.instance.as_ptr() == me));
            WATCHES.fetch_sub(before - ts.len(), Ordering::AcqRel);
            if ts.is_empty() {
                t.remove(&k);
            }
        }
    }

    /// Queues `e` (merged with an equal last event; dropped after an overflow) and
    /// wakes readers.
    fn queue(&self, e: Event) {
        {
            let mut s = self.state.lock();
            if s.events.back() == Some(&e) {
                return;
            }
            if s.events.back().is_some_and(|b| b.mask == IN_Q_OVERFLOW) {
                return;
            }
            let e = if s.events.len() >= MAX_QUEUED {
                Event {
                    wd: -1,
                    mask: IN_Q_OVERFLOW,
                    cookie: 0,
                    name: Vec::new(),
                }
            } else {
                e
            };
            s.bytes += e.size();
            s.events.push_back(e);
        }
        self.wq.wake_all();
    }

    /// Bytes of queued records (FIONREAD).
    pub fn pending_bytes(&self) -> usize {
        self.state.lock().bytes
    }

    /// How many watches the instance has.
    pub fn watch_count(&self) -> usize {
        self.state.lock().watches.len()
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let watches = core::mem::take(&mut self.state.lock().watches);
        for (wd, w) in watches {
            self.unregister(&w.inode, wd);
        }
        INSTANCES.fetch_sub(1, Ordering::AcqRel);
    }
}

impl FileOps for Inotify {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let mut s = self.state.lock();
        let Some(first) = s.events.front() else {
            return Err(Errno::EAGAIN);
        };
        if buf.len() < first.size() {
            return Err(Errno::EINVAL);
        }
        let mut n = 0;
        while let Some(e) = s.events.front() {
            let size = e.size();
            if n + size > buf.len() {
                break;
            }
            let rec = &mut buf[n..n + size];
            rec[0..4].copy_from_slice(&e.wd.to_ne_bytes());
            rec[4..8].copy_from_slice(&e.mask.to_ne_bytes());
            rec[8..12].copy_from_slice(&e.cookie.to_ne_bytes());
            rec[12..16].copy_from_slice(&(e.name_len() as u32).to_ne_bytes());
            let name = &mut rec[EVENT_HEADER..];
            name.fill(0);
            name[..e.name.len()].copy_from_slice(&e.name);
            n += size;
            s.bytes -= size;
            s.events.pop_front();
        }
        Ok(n)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        if self.state.lock().events.is_empty() {
            0
        } else {
            POLLIN | POLLRDNORM
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.wq)
    }

    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        if cmd == kestrel_abi::tty::FIONREAD {
            let n = i32::try_from(self.pending_bytes()).unwrap_or(i32::MAX);
            UserPtr::<i32>::new(arg).write(mem, &n)?;
            return Ok(0);
        }
        Err(Errno::ENOTTY)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The watches of `inode`.
fn targets(inode: &InodeRef) -> Vec<Target> {
    TABLE.lock().get(&key(inode)).cloned().unwrap_or_default()
}

/// Queues an event for every watch of `inode` that wants it; `name` is the
/// file's name when `inode` is the directory it happened in. A one-shot watch
/// ends (IN_IGNORED) after its event.
fn deliver(inode: &InodeRef, mask: u32, cookie: u32, name: &[u8], isdir: bool) {
    let name = &name[..name.len().min(NAME_MAX)];
    for t in targets(inode) {
        let bits = mask & t.mask & IN_ALL_EVENTS;
        if bits == 0 {
            continue;
        }
        let Some(i) = t.instance.upgrade() else {
            continue;
        };
        // inotify never set IN_ISDIR on IN_MOVE_SELF and IN_DELETE_SELF, and
        // Linux keeps it so for the programs that rely on it.
        let isdir = isdir && bits & (IN_MOVE_SELF | IN_DELETE_SELF) == 0;
        i.queue(Event {
            wd: t.wd,
            mask: bits | if isdir { IN_ISDIR } else { 0 },
            cookie,
            name: name.to_vec(),
        });
        if t.mask & IN_ONESHOT != 0 {
            // Linux ends a one-shot watch once it has reported an event.
            let _ = i.rm_watch(t.wd);
        }
    }
}

/// Reports `mask` (one of the IN_* events) on `inode`, and to the watches of the
/// directory `parent` it is in, with its `name`, if given. `inode` may be None
/// when only the directory hears of it (IN_CREATE, IN_DELETE, moves).
pub fn event(inode: Option<&InodeRef>, parent: Option<(&InodeRef, &[u8])>, mask: u32, cookie: u32) {
    if !watching() {
        return;
    }
    let isdir = inode.is_some_and(|i| i.metadata().is_dir());
    // The directory's watches first, then the file's own (Linux's order when
    // one instance watches both).
    if let Some((dir, name)) = parent {
        let child = mask & CHILD_EVENTS;
        if child != 0 {
            deliver(dir, child, cookie, name, isdir);
        }
    }
    if let Some(i) = inode {
        // A directory's own create/delete/move-to events are for names in it;
        // the file itself hears only of what happens to it.
        let own = mask & !(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO);
        if own != 0 {
            deliver(i, own, 0, &[], isdir);
        }
    }
}

/// `inode` is gone (its last link removed): IN_DELETE_SELF, then each of its
/// watches ends with IN_IGNORED.
pub fn removed(inode: &InodeRef) {
    if !watching() {
        return;
    }
    deliver(inode, IN_DELETE_SELF, 0, &[], false);
    end_all(inode, 0);
}

/// Ends every watch of `inode`, queuing `first` (if any) before IN_IGNORED
/// (IN_UNMOUNT will use it once unmount looks for watches).
fn end_all(inode: &InodeRef, first: u32) {
    for t in targets(inode) {
        let Some(i) = t.instance.upgrade() else {
            continue;
        };
        if first != 0 {
            i.queue(Event {
                wd: t.wd,
                mask: first,
                cookie: 0,
                name: Vec::new(),
            });
        }
        let _ = i.rm_watch(t.wd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeKind;
    use crate::ramfs::RamFs;

    fn read_all(i: &Inotify) -> Vec<(i32, u32, u32, Vec<u8>)> {
        let f = OpenFile::anonymous(None, Arc::new(NullOps), 0);
        let mut buf = [0u8; 4096];
        let mut out = Vec::new();
        let Ok(n) = i.read(&f, &mut 0, &mut buf) else {
            return out;
        };
        let mut at = 0;
        while at < n {
            let r = &buf[at..];
            let wd = i32::from_ne_bytes(r[0..4].try_into().unwrap());
            let mask = u32::from_ne_bytes(r[4..8].try_into().unwrap());
            let cookie = u32::from_ne_bytes(r[8..12].try_into().unwrap());
            let len = u32::from_ne_bytes(r[12..16].try_into().unwrap()) as usize;
            let name: Vec<u8> = r[16..16 + len]
                .iter()
                .copied()
                .take_while(|&b| b != 0)
                .collect();
            out.push((wd, mask, cookie, name));
            at += 16 + len;
        }
        out
    }

    struct NullOps;
    impl FileOps for NullOps {
        fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
            Ok(0)
        }
        fn write(&self, _: &OpenFile, _: &mut u64, d: &[u8]) -> KResult<usize> {
            Ok(d.len())
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    #[test]
    fn events_reach_file_and_directory_watches_and_merge() {
        let root = RamFs::new_root(0);
        let dir = root.create(b"d", NodeKind::Dir, 0o755, 0, 0).unwrap();
        let file = dir.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        let ino = Inotify::new().unwrap();
        let wd_dir = ino.add_watch(dir.clone(), IN_ALL_EVENTS).unwrap();
        let wd_file = ino.add_watch(file.clone(), IN_MODIFY).unwrap();
        assert_ne!(wd_dir, wd_file);
        // The same inode again: the same descriptor.
        assert_eq!(
            ino.add_watch(file.clone(), IN_MODIFY | IN_ATTRIB).unwrap(),
            wd_file
        );
        assert_eq!(
            ino.add_watch(file.clone(), IN_MODIFY | IN_MASK_CREATE),
            Err(Errno::EEXIST)
        );
        event(Some(&file), Some((&dir, b"f")), IN_MODIFY, 0);
        event(Some(&file), None, IN_MODIFY, 0); // merged with the last
        event(Some(&file), Some((&dir, b"f")), IN_OPEN, 0);
        let got = read_all(&ino);
        assert_eq!(
            got,
            [
                (wd_dir, IN_MODIFY, 0, b"f".to_vec()),
                (wd_file, IN_MODIFY, 0, Vec::new()),
                (wd_dir, IN_OPEN, 0, b"f".to_vec()),
            ]
        );
        ino.rm_watch(wd_file).unwrap();
        assert_eq!(ino.rm_watch(wd_file), Err(Errno::EINVAL));
        assert_eq!(read_all(&ino), [(wd_file, IN_IGNORED, 0, Vec::new())]);
        drop(ino);
    }

    #[test]
    fn a_small_buffer_is_einval_and_the_queue_overflows_once() {
        let root = RamFs::new_root(0);
        let ino = Inotify::new().unwrap();
        let wd = ino.add_watch(root.clone(), IN_CREATE).unwrap();
        let f = OpenFile::anonymous(None, Arc::new(NullOps), 0);
        event(None, Some((&root, b"x")), IN_CREATE, 0);
        let mut small = [0u8; 20];
        assert_eq!(ino.read(&f, &mut 0, &mut small), Err(Errno::EINVAL));
        assert_eq!(ino.pending_bytes(), 32);
        let _ = read_all(&ino);
        for n in 0..MAX_QUEUED + 10 {
            let name = alloc::format!("n{n}");
            event(None, Some((&root, name.as_bytes())), IN_CREATE, 0);
        }
        let s = ino.state.lock();
        assert_eq!(s.events.len(), MAX_QUEUED + 1);
        assert_eq!(s.events.back().unwrap().mask, IN_Q_OVERFLOW);
        assert_eq!(s.events.back().unwrap().wd, -1);
        drop(s);
        let _ = wd;
    }

    #[test]
    fn oneshot_and_removal_end_the_watch_with_ignored() {
        let root = RamFs::new_root(0);
        let file = root.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        let ino = Inotify::new().unwrap();
        let wd = ino.add_watch(file.clone(), IN_ATTRIB | IN_ONESHOT).unwrap();
        event(Some(&file), None, IN_ATTRIB, 0);
        event(Some(&file), None, IN_ATTRIB, 0);
        assert_eq!(
            read_all(&ino),
            [
                (wd, IN_ATTRIB, 0, Vec::new()),
                (wd, IN_IGNORED, 0, Vec::new())
            ]
        );
        let wd2 = ino.add_watch(file.clone(), IN_ALL_EVENTS).unwrap();
        assert!(wd2 > wd, "descriptors are not reused");
        removed(&file);
        assert_eq!(
            read_all(&ino),
            [
                (wd2, IN_DELETE_SELF, 0, Vec::new()),
                (wd2, IN_IGNORED, 0, Vec::new())
            ]
        );
        assert_eq!(ino.watch_count(), 0);
    }
}
