//! Advisory file locks: fcntl record locks (POSIX and open-file-description) and
//! flock(2) locks, per inode, as Linux keeps them.
//!
//! * A **record lock** covers a byte range `[start, end]` (inclusive; a lock "to the
//!   end of the file" ends at [`OFFSET_MAX`]) and is a read or a write lock. Its owner
//!   is either a process ([`Owner::Posix`], fcntl F_SETLK) or an open file description
//!   ([`Owner::Ofd`], F_OFD_SETLK). Two record locks conflict when their ranges
//!   overlap, their owners differ, and one of them is a write lock; POSIX and OFD
//!   locks live in the same list and conflict with each other, even within one
//!   process. An owner's own locks never overlap: setting a lock replaces what the
//!   owner held on that range (splitting a lock of the other type, merging adjacent
//!   or overlapping locks of the same type), as POSIX requires.
//! * A **flock lock** covers the whole file, belongs to an open file description, is
//!   shared or exclusive, and does not interact with record locks (as on Linux's
//!   local file systems). Converting one drops the old lock first, so a conversion
//!   that fails leaves the description with no lock (flock(2): "not atomic").
//!
//! Waiting is the kernel's business: a request that cannot be granted fails with
//! EAGAIN, and a blocking caller registers with [`LockManager::begin_wait`], retries
//! each time the inode's [`WaitQueue`] is woken, and ends with
//! [`LockManager::end_wait`]. Every operation that removes or changes locks hands
//! back a [`Wake`] for the caller to fire once it has released the manager's lock.
//! While waiting for a record lock, a POSIX owner is recorded as waiting for the
//! owner of the lock in its way, which is how a request that would close a cycle of
//! waiting processes is refused with EDEADLK (Linux's posix_locks_deadlock).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;

/// Which file: (device, inode number).
pub type FileKey = (u64, u64);

/// The largest file offset (Linux's OFFSET_MAX): the end of a lock to end of file.
pub const OFFSET_MAX: u64 = i64::MAX as u64;

/// How many owners the deadlock detector follows before giving up (Linux's
/// MAX_DEADLK_ITERATIONS): a chain longer than that is not reported.
const MAX_DEADLK_ITERATIONS: usize = 10;

/// Who holds a record lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// A process (fcntl F_SETLK): the id the kernel chose for it.
    Posix(u64),
    /// An open file description (F_OFD_SETLK): the id the kernel chose for it.
    Ofd(u64),
}

/// A read (shared) or write (exclusive) lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Read,
    Write,
}

impl LockKind {
    fn conflicts_with(self, other: LockKind) -> bool {
        self == LockKind::Write || other == LockKind::Write
    }
}

/// A byte range, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    /// `[start, end]`; `end` must not be below `start`.
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// From `start` to the end of the file, however long it grows.
    pub const fn to_eof(start: u64) -> Self {
        Self::new(start, OFFSET_MAX)
    }

    fn overlaps(&self, o: &Range) -> bool {
        self.start <= o.end && o.start <= self.end
    }

    /// Overlapping or touching (`[0,4]` and `[5,9]`): what merges.
    fn touches(&self, o: &Range) -> bool {
        self.start <= o.end.saturating_add(1) && o.start <= self.end.saturating_add(1)
    }

    /// The range as struct flock gives it back: (l_start, l_len), l_len 0 meaning
    /// "to the end of the file".
    pub fn to_flock(&self) -> (i64, i64) {
        let len = if self.end == OFFSET_MAX {
            0
        } else {
            (self.end - self.start + 1) as i64
        };
        (self.start as i64, len)
    }

    /// The range a struct flock names, `base` being where l_whence points (0, the
    /// file position or the file size). A negative `l_len` covers the bytes before
    /// the start; 0 runs to the end of the file. EINVAL for a range that starts
    /// before 0, EOVERFLOW for one that ends past [`OFFSET_MAX`].
    pub fn from_flock(base: u64, l_start: i64, l_len: i64) -> KResult<Range> {
        let base = i64::try_from(base).map_err(|_| Errno::EOVERFLOW)?;
        let start = base.checked_add(l_start).ok_or(Errno::EOVERFLOW)?;
        if start < 0 {
            return Err(Errno::EINVAL);
        }
        match l_len {
            0 => Ok(Range::to_eof(start as u64)),
            len if len > 0 => {
                let end = start.checked_add(len - 1).ok_or(Errno::EOVERFLOW)?;
                Ok(Range::new(start as u64, end as u64))
            }
            len => {
                // Cannot overflow: start >= 0 and len < 0.
                let first = start + len;
                if first < 0 {
                    return Err(Errno::EINVAL);
                }
                Ok(Range::new(first as u64, start as u64 - 1))
            }
        }
    }
}

/// One record lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLock {
    pub owner: Owner,
    pub kind: LockKind,
    pub range: Range,
    /// The process that set it (OFD locks report -1 through [`RecordLock::l_pid`]).
    pub pid: i32,
}

impl RecordLock {
    /// What F_GETLK reports as l_pid: the holder's pid, -1 for OFD locks (they
    /// belong to no process).
    pub fn l_pid(&self) -> i32 {
        match self.owner {
            Owner::Posix(_) => self.pid,
            Owner::Ofd(_) => -1,
        }
    }
}

/// One flock lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlockLock {
    /// The open file description's id.
    pub file: u64,
    pub exclusive: bool,
    /// The process that took it (shown in /proc/locks).
    pub pid: i32,
}

/// A record-lock request: `kind` None unlocks the range.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub owner: Owner,
    pub kind: Option<LockKind>,
    pub range: Range,
    pub pid: i32,
}

/// A registered blocking request (see [`LockManager::begin_wait`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitToken(u64);

/// Wait queues to wake once the manager's lock is released.
#[must_use = "waiters are stuck unless the wake is fired"]
#[derive(Default)]
pub struct Wake(Vec<Arc<WaitQueue>>);

impl Wake {
    /// Wakes everyone waiting on the inodes that changed.
    pub fn wake(self) {
        for q in self.0 {
            q.wake_all();
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn add(&mut self, q: &Arc<WaitQueue>) {
        if !self.0.iter().any(|x| Arc::ptr_eq(x, q)) {
            self.0.push(q.clone());
        }
    }

    fn merge(&mut self, other: Wake) {
        for q in &other.0 {
            self.add(q);
        }
    }
}

/// What a lock request came to, with the wake-ups it owes either way (a flock
/// conversion that fails has still dropped the old lock).
#[must_use = "the result and the wake-ups both matter"]
pub struct Outcome {
    /// Ok, EAGAIN (a conflict), or EDEADLK (waiting would deadlock).
    pub result: KResult<()>,
    pub wake: Wake,
}

impl Outcome {
    /// Fires the wake-ups and returns the result.
    pub fn finish(self) -> KResult<()> {
        self.wake.wake();
        self.result
    }
}

/// The locks on one inode.
#[derive(Default)]
struct FileLocks {
    /// Record locks (POSIX and OFD), ordered by start.
    records: Vec<RecordLock>,
    flocks: Vec<FlockLock>,
    /// Blocking requests registered on this inode: the entry stays while any
    /// waits, so their wait queue stays the one that is woken.
    waiters: usize,
    wq: Arc<WaitQueue>,
}

impl FileLocks {
    fn is_unused(&self) -> bool {
        self.records.is_empty() && self.flocks.is_empty() && self.waiters == 0
    }

    fn record_conflict(&self, owner: Owner, kind: LockKind, range: &Range) -> Option<&RecordLock> {
        self.records
            .iter()
            .find(|l| l.owner != owner && l.range.overlaps(range) && l.kind.conflicts_with(kind))
    }

    /// Applies a request known not to conflict. Returns whether anything changed.
    fn apply(&mut self, req: &Request) -> bool {
        let mut range = req.range;
        let mut next = Vec::with_capacity(self.records.len() + 2);
        for l in &self.records {
            if l.owner != req.owner {
                next.push(*l);
            } else if Some(l.kind) == req.kind && l.range.touches(&req.range) {
                // Same type, overlapping or adjacent: absorbed into the new lock.
                // (An owner's locks never overlap each other, so this only adds
                // bytes of this very lock to the range.)
                range.start = range.start.min(l.range.start);
                range.end = range.end.max(l.range.end);
            } else if !l.range.overlaps(&req.range) {
                next.push(*l);
            } else {
                // The other type (or an unlock) over part of it: what sticks out
                // on either side stays.
                if l.range.start < req.range.start {
                    next.push(RecordLock {
                        range: Range::new(l.range.start, req.range.start - 1),
                        ..*l
                    });
                }
                if l.range.end > req.range.end {
                    next.push(RecordLock {
                        range: Range::new(req.range.end + 1, l.range.end),
                        ..*l
                    });
                }
            }
        }
        if let Some(kind) = req.kind {
            next.push(RecordLock {
                owner: req.owner,
                kind,
                range,
                pid: req.pid,
            });
        }
        next.sort_by_key(|l| (l.range.start, l.owner));
        let changed = next != self.records;
        self.records = next;
        changed
    }
}

/// A blocked request.
#[derive(Debug, Clone, Copy)]
struct Blocked {
    token: u64,
    key: FileKey,
    /// Who waits, and (for POSIX-owned blockers only, as Linux tracks) for whom.
    owner: Option<Owner>,
    blocker: Option<Owner>,
}

/// Every lock in the system, by inode.
#[derive(Default)]
pub struct LockManager {
    files: BTreeMap<FileKey, FileLocks>,
    blocked: Vec<Blocked>,
    next_token: u64,
}

impl LockManager {
    /// No locks.
    pub const fn new() -> Self {
        Self {
            files: BTreeMap::new(),
            blocked: Vec::new(),
            next_token: 0,
        }
    }

    /// Whether no file has locks or waiters (the common case, checked first on
    /// every close).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// F_GETLK: the first lock (lowest start) that would stop `owner` from taking
    /// `kind` over `range`, or None if it could. With `kind` None (F_OFD_GETLK with
    /// F_UNLCK, since Linux 6.6), the first of `owner`'s own locks over `range`.
    pub fn test(
        &self,
        key: FileKey,
        owner: Owner,
        kind: Option<LockKind>,
        range: Range,
    ) -> Option<RecordLock> {
        let f = self.files.get(&key)?;
        match kind {
            Some(kind) => f.record_conflict(owner, kind, &range).copied(),
            None => f
                .records
                .iter()
                .find(|l| l.owner == owner && l.range.overlaps(&range))
                .copied(),
        }
    }

    /// F_SETLK: sets, changes or (with `kind` None) removes a record lock. Fails with
    /// EAGAIN on a conflict; with `wait` (a blocking request) a POSIX request that
    /// would wait for a process that waits for it, directly or through others,
    /// fails with EDEADLK instead, and otherwise is recorded as waiting.
    pub fn set(&mut self, key: FileKey, req: &Request, wait: Option<WaitToken>) -> Outcome {
        let Some(kind) = req.kind else {
            return Outcome {
                result: Ok(()),
                wake: self.unlock(key, req),
            };
        };
        let blocker = self
            .files
            .get(&key)
            .and_then(|f| f.record_conflict(req.owner, kind, &req.range))
            .map(|l| l.owner);
        if let Some(blocker) = blocker {
            let mut result = Err(Errno::EAGAIN);
            if let Some(WaitToken(t)) = wait {
                let waits_for = matches!(blocker, Owner::Posix(_)).then_some(blocker);
                if matches!(req.owner, Owner::Posix(_))
                    && self.would_deadlock(req.owner, blocker, t)
                {
                    result = Err(Errno::EDEADLK);
                } else if let Some(b) = self.blocked.iter_mut().find(|b| b.token == t) {
                    b.owner = Some(req.owner);
                    b.blocker = waits_for;
                }
            }
            return Outcome {
                result,
                wake: Wake::default(),
            };
        }
        if let Some(WaitToken(t)) = wait
            && let Some(b) = self.blocked.iter_mut().find(|b| b.token == t)
        {
            b.blocker = None;
        }
        let f = self.files.entry(key).or_default();
        let mut wake = Wake::default();
        if f.apply(req) {
            wake.add(&f.wq);
        }
        Outcome {
            result: Ok(()),
            wake,
        }
    }

    fn unlock(&mut self, key: FileKey, req: &Request) -> Wake {
        let mut wake = Wake::default();
        if let Some(f) = self.files.get_mut(&key) {
            if f.apply(req) {
                wake.add(&f.wq);
            }
            self.tidy(key);
        }
        wake
    }

    /// Whether `caller`, about to wait for `blocker`, closes a cycle: `blocker` waits
    /// for someone who waits ... for `caller`.
    fn would_deadlock(&self, caller: Owner, mut blocker: Owner, token: u64) -> bool {
        for _ in 0..MAX_DEADLK_ITERATIONS {
            let next = self
                .blocked
                .iter()
                .find(|b| b.token != token && b.owner == Some(blocker) && b.blocker.is_some())
                .and_then(|b| b.blocker);
            match next {
                None => return false,
                Some(o) if o == caller => return true,
                Some(o) => blocker = o,
            }
        }
        false
    }

    /// Registers a blocking request on `key`; returns its token and the queue to
    /// wait on (woken whenever locks on `key` are released or change). Every token
    /// must be ended with [`LockManager::end_wait`].
    pub fn begin_wait(&mut self, key: FileKey) -> (WaitToken, Arc<WaitQueue>) {
        self.next_token += 1;
        let token = self.next_token;
        let f = self.files.entry(key).or_default();
        f.waiters += 1;
        self.blocked.push(Blocked {
            token,
            key,
            owner: None,
            blocker: None,
        });
        (WaitToken(token), f.wq.clone())
    }

    /// Ends a blocking request (granted, refused or interrupted).
    pub fn end_wait(&mut self, token: WaitToken) {
        let Some(i) = self.blocked.iter().position(|b| b.token == token.0) else {
            return;
        };
        let key = self.blocked.swap_remove(i).key;
        if let Some(f) = self.files.get_mut(&key) {
            f.waiters -= 1;
        }
        self.tidy(key);
    }

    /// Drops the entry for `key` if nothing is held or awaited there.
    fn tidy(&mut self, key: FileKey) {
        if self.files.get(&key).is_some_and(FileLocks::is_unused) {
            self.files.remove(&key);
        }
    }

    /// Removes every record lock `owner` holds on `key` (a process closed a
    /// descriptor of the file; an open file description was released).
    pub fn release_records(&mut self, key: FileKey, owner: Owner) -> Wake {
        let mut wake = Wake::default();
        if let Some(f) = self.files.get_mut(&key) {
            let before = f.records.len();
            f.records.retain(|l| l.owner != owner);
            if f.records.len() != before {
                wake.add(&f.wq);
            }
            self.tidy(key);
        }
        wake
    }

    /// Removes every record lock `owner` holds on any file (a process exited).
    pub fn release_owner(&mut self, owner: Owner) -> Wake {
        let keys: Vec<FileKey> = self
            .files
            .iter()
            .filter(|(_, f)| f.records.iter().any(|l| l.owner == owner))
            .map(|(k, _)| *k)
            .collect();
        let mut wake = Wake::default();
        for k in keys {
            wake.merge(self.release_records(k, owner));
        }
        wake
    }

    /// Removes the OFD and flock locks of the open file description `file` on
    /// `key` (the description is being released).
    pub fn release_file(&mut self, key: FileKey, file: u64) -> Wake {
        let mut wake = self.release_records(key, Owner::Ofd(file));
        if let Some(f) = self.files.get_mut(&key) {
            let before = f.flocks.len();
            f.flocks.retain(|l| l.file != file);
            if f.flocks.len() != before {
                wake.add(&f.wq);
            }
            self.tidy(key);
        }
        wake
    }

    /// Whether `file` could take a flock lock on `key` now.
    fn flock_conflict(&self, key: FileKey, file: u64, exclusive: bool) -> bool {
        self.files.get(&key).is_some_and(|f| {
            f.flocks
                .iter()
                .any(|l| l.file != file && (l.exclusive || exclusive))
        })
    }

    /// flock(2) by the open file description `file`: `exclusive` None is LOCK_UN.
    /// A description that holds the other kind of lock loses it first, even if the
    /// new one is then refused with EAGAIN.
    pub fn flock(&mut self, key: FileKey, file: u64, exclusive: Option<bool>, pid: i32) -> Outcome {
        let mut wake = Wake::default();
        if let Some(f) = self.files.get_mut(&key)
            && let Some(i) = f.flocks.iter().position(|l| l.file == file)
        {
            if Some(f.flocks[i].exclusive) == exclusive {
                return Outcome {
                    result: Ok(()),
                    wake,
                };
            }
            f.flocks.remove(i);
            wake.add(&f.wq);
        }
        let Some(exclusive) = exclusive else {
            self.tidy(key);
            return Outcome {
                result: Ok(()),
                wake,
            };
        };
        if self.flock_conflict(key, file, exclusive) {
            self.tidy(key);
            return Outcome {
                result: Err(Errno::EAGAIN),
                wake,
            };
        }
        self.files.entry(key).or_default().flocks.push(FlockLock {
            file,
            exclusive,
            pid,
        });
        Outcome {
            result: Ok(()),
            wake,
        }
    }

    /// Every lock, for /proc/locks: (file, record lock or flock lock).
    pub fn all(&self) -> Vec<(FileKey, Result<RecordLock, FlockLock>)> {
        let mut out = Vec::new();
        for (k, f) in &self.files {
            out.extend(f.flocks.iter().map(|l| (*k, Err(*l))));
            out.extend(f.records.iter().map(|l| (*k, Ok(*l))));
        }
        out
    }

    /// The record locks on `key`, ordered by start (for tests and /proc).
    pub fn records(&self, key: FileKey) -> Vec<RecordLock> {
        self.files
            .get(&key)
            .map_or_else(Vec::new, |f| f.records.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: FileKey = (1, 10);
    const G: FileKey = (1, 11);
    const A: Owner = Owner::Posix(100);
    const B: Owner = Owner::Posix(200);
    const C: Owner = Owner::Posix(300);
    use LockKind::{Read, Write};

    fn req(owner: Owner, kind: Option<LockKind>, start: u64, end: u64) -> Request {
        let pid = match owner {
            Owner::Posix(p) | Owner::Ofd(p) => p as i32,
        };
        Request {
            owner,
            kind,
            range: Range::new(start, end),
            pid,
        }
    }

    fn set(
        m: &mut LockManager,
        owner: Owner,
        kind: Option<LockKind>,
        s: u64,
        e: u64,
    ) -> KResult<()> {
        m.set(F, &req(owner, kind, s, e), None).finish()
    }

    /// The locks on F as (owner, kind, start, end).
    fn held(m: &LockManager) -> Vec<(Owner, LockKind, u64, u64)> {
        m.records(F)
            .iter()
            .map(|l| (l.owner, l.kind, l.range.start, l.range.end))
            .collect()
    }

    #[test]
    fn flock_ranges_follow_linux_arithmetic() {
        assert_eq!(Range::from_flock(0, 10, 5), Ok(Range::new(10, 14)));
        assert_eq!(Range::from_flock(0, 10, 0), Ok(Range::to_eof(10)));
        assert_eq!(Range::from_flock(100, -10, 0), Ok(Range::to_eof(90)));
        // A negative length covers the bytes before the start.
        assert_eq!(Range::from_flock(0, 10, -5), Ok(Range::new(5, 9)));
        assert_eq!(Range::from_flock(0, 10, -10), Ok(Range::new(0, 9)));
        assert_eq!(Range::from_flock(0, 10, -11), Err(Errno::EINVAL));
        assert_eq!(Range::from_flock(0, -1, 1), Err(Errno::EINVAL));
        assert_eq!(Range::from_flock(5, -6, 1), Err(Errno::EINVAL));
        assert_eq!(Range::from_flock(1, i64::MAX, 1), Err(Errno::EOVERFLOW));
        assert_eq!(Range::from_flock(0, i64::MAX, 2), Err(Errno::EOVERFLOW));
        assert_eq!(
            Range::from_flock(0, i64::MAX, 1),
            Ok(Range::new(OFFSET_MAX, OFFSET_MAX))
        );
        assert_eq!(Range::new(10, 14).to_flock(), (10, 5));
        assert_eq!(Range::to_eof(7).to_flock(), (7, 0));
    }

    #[test]
    fn read_locks_share_and_write_locks_conflict() {
        let mut m = LockManager::new();
        set(&mut m, A, Some(Read), 0, 9).unwrap();
        set(&mut m, B, Some(Read), 5, 14).unwrap();
        assert_eq!(set(&mut m, C, Some(Write), 9, 9), Err(Errno::EAGAIN));
        assert_eq!(set(&mut m, C, Some(Write), 15, 20), Ok(()));
        let c = m.test(F, C, Some(Write), Range::new(0, 100)).unwrap();
        assert_eq!((c.owner, c.kind, c.range), (A, Read, Range::new(0, 9)));
        assert_eq!(c.l_pid(), 100);
        assert!(m.test(F, C, Some(Read), Range::new(0, 14)).is_none());
        let c = m.test(F, A, Some(Read), Range::new(12, 30)).unwrap();
        assert_eq!((c.owner, c.kind), (C, Write));
        // An owner never conflicts with itself.
        assert!(m.test(F, C, Some(Write), Range::new(15, 20)).is_none());
        assert!(m.test(G, C, Some(Write), Range::to_eof(0)).is_none());
    }

    #[test]
    fn ofd_locks_conflict_with_posix_locks_of_the_same_process() {
        let mut m = LockManager::new();
        set(&mut m, A, Some(Write), 0, 9).unwrap();
        let ofd = Owner::Ofd(7);
        assert_eq!(
            m.set(F, &req(ofd, Some(Read), 0, 0), None).finish(),
            Err(Errno::EAGAIN)
        );
        set(&mut m, A, None, 0, 9).unwrap();
        m.set(F, &req(ofd, Some(Read), 0, 0), None)
            .finish()
            .unwrap();
        let c = m.test(F, A, Some(Write), Range::to_eof(0)).unwrap();
        assert_eq!((c.owner, c.l_pid()), (ofd, -1));
        // F_OFD_GETLK with F_UNLCK: the description's own locks, no one else's.
        set(&mut m, B, Some(Read), 5, 5).unwrap();
        let own = m.test(F, ofd, None, Range::to_eof(0)).unwrap();
        assert_eq!((own.owner, own.range), (ofd, Range::new(0, 0)));
        assert!(m.test(F, ofd, None, Range::to_eof(1)).is_none());
    }

    #[test]
    fn changing_the_type_of_a_sub_range_splits_the_lock() {
        let mut m = LockManager::new();
        set(&mut m, A, Some(Read), 0, 99).unwrap();
        set(&mut m, A, Some(Write), 40, 59).unwrap();
        assert_eq!(
            held(&m),
            [(A, Read, 0, 39), (A, Write, 40, 59), (A, Read, 60, 99)]
        );
        // Unlocking the middle of the left piece splits it again.
        set(&mut m, A, None, 10, 19).unwrap();
        assert_eq!(
            held(&m),
            [
                (A, Read, 0, 9),
                (A, Read, 20, 39),
                (A, Write, 40, 59),
                (A, Read, 60, 99)
            ]
        );
    }

    #[test]
    fn adjacent_and_overlapping_locks_of_one_type_merge() {
        let mut m = LockManager::new();
        set(&mut m, A, Some(Read), 0, 9).unwrap();
        set(&mut m, A, Some(Read), 10, 19).unwrap();
        assert_eq!(held(&m), [(A, Read, 0, 19)]);
        set(&mut m, A, Some(Read), 30, 39).unwrap();
        assert_eq!(held(&m), [(A, Read, 0, 19), (A, Read, 30, 39)]);
        // Filling the gap joins all three; a lock to EOF swallows what follows.
        set(&mut m, A, Some(Read), 15, 32).unwrap();
        assert_eq!(held(&m), [(A, Read, 0, 39)]);
        set(&mut m, A, Some(Read), 40, OFFSET_MAX).unwrap();
        assert_eq!(held(&m), [(A, Read, 0, OFFSET_MAX)]);
        // Other owners' locks are never merged with.
        set(&mut m, B, Some(Read), 0, 0).unwrap();
        assert_eq!(held(&m), [(A, Read, 0, OFFSET_MAX), (B, Read, 0, 0)]);
    }

    #[test]
    fn a_lock_over_both_types_replaces_them() {
        let mut m = LockManager::new();
        set(&mut m, A, Some(Read), 0, 9).unwrap();
        set(&mut m, A, Some(Write), 10, 19).unwrap();
        set(&mut m, A, Some(Read), 20, 29).unwrap();
        set(&mut m, A, Some(Read), 5, 25).unwrap();
        assert_eq!(held(&m), [(A, Read, 0, 29)]);
        set(&mut m, A, Some(Write), 0, OFFSET_MAX).unwrap();
        assert_eq!(held(&m), [(A, Write, 0, OFFSET_MAX)]);
        set(&mut m, A, None, 0, OFFSET_MAX).unwrap();
        assert!(held(&m).is_empty());
        assert!(m.is_empty(), "an inode without locks is forgotten");
    }

    #[test]
    fn changes_wake_and_identical_requests_do_not() {
        let mut m = LockManager::new();
        let o = m.set(F, &req(A, Some(Write), 0, 9), None);
        assert!(o.result.is_ok());
        assert!(!o.wake.is_empty());
        let o = m.set(F, &req(A, Some(Write), 0, 9), None);
        assert!(o.wake.is_empty());
        let o = m.set(F, &req(A, Some(Write), 2, 3), None);
        assert!(o.wake.is_empty(), "already covered");
        let o = m.set(F, &req(A, Some(Read), 2, 3), None);
        assert!(!o.wake.is_empty(), "a downgrade may let readers in");
        assert!(m.set(G, &req(A, None, 0, 9), None).wake.is_empty());
        o.wake.wake();
    }

    #[test]
    fn a_cycle_of_waiting_processes_is_edeadlk() {
        let mut m = LockManager::new();
        set(&mut m, A, Some(Write), 0, 0).unwrap();
        m.set(G, &req(B, Some(Write), 0, 0), None).finish().unwrap();
        // B waits for A's lock on F.
        let (tb, _) = m.begin_wait(F);
        assert_eq!(
            m.set(F, &req(B, Some(Write), 0, 0), Some(tb)).finish(),
            Err(Errno::EAGAIN)
        );
        // A asking for B's lock on G would wait for B, which waits for A.
        let (ta, _) = m.begin_wait(G);
        assert_eq!(
            m.set(G, &req(A, Some(Write), 0, 0), Some(ta)).finish(),
            Err(Errno::EDEADLK)
        );
        // Without waiting it is only a conflict.
        assert_eq!(
            m.set(G, &req(A, Some(Write), 0, 0), None).finish(),
            Err(Errno::EAGAIN)
        );
        m.end_wait(ta);
        // Once B stops waiting, A may wait for B.
        m.end_wait(tb);
        let (ta, _) = m.begin_wait(G);
        assert_eq!(
            m.set(G, &req(A, Some(Write), 0, 0), Some(ta)).finish(),
            Err(Errno::EAGAIN)
        );
        m.end_wait(ta);
    }

    #[test]
    fn deadlock_detection_follows_a_chain_of_waiters() {
        let mut m = LockManager::new();
        let h = (9, 9);
        set(&mut m, A, Some(Write), 0, 0).unwrap();
        m.set(G, &req(B, Some(Write), 0, 0), None).finish().unwrap();
        m.set(h, &req(C, Some(Write), 0, 0), None).finish().unwrap();
        // C waits for A, B waits for C; A asking for B's lock closes A->B->C->A.
        let (tc, _) = m.begin_wait(F);
        let _ = m.set(F, &req(C, Some(Write), 0, 0), Some(tc)).finish();
        let (tb, _) = m.begin_wait(h);
        let _ = m.set(h, &req(B, Some(Read), 0, 0), Some(tb)).finish();
        let (ta, _) = m.begin_wait(G);
        assert_eq!(
            m.set(G, &req(A, Some(Read), 0, 0), Some(ta)).finish(),
            Err(Errno::EDEADLK)
        );
        // OFD requests are never refused so (they belong to no process).
        let ofd = Owner::Ofd(1);
        m.set(h, &req(ofd, Some(Write), 1, 1), None)
            .finish()
            .unwrap();
        let (to, _) = m.begin_wait(F);
        assert_eq!(
            m.set(F, &req(ofd, Some(Write), 0, 0), Some(to)).finish(),
            Err(Errno::EAGAIN)
        );
        for t in [ta, tb, tc, to] {
            m.end_wait(t);
        }
        assert!(m.blocked.is_empty());
    }

    #[test]
    fn waiting_on_an_ofd_lock_is_not_part_of_a_cycle() {
        let mut m = LockManager::new();
        let ofd = Owner::Ofd(5);
        m.set(F, &req(ofd, Some(Write), 0, 0), None)
            .finish()
            .unwrap();
        m.set(G, &req(A, Some(Write), 0, 0), None).finish().unwrap();
        let (tb, _) = m.begin_wait(F);
        let _ = m.set(F, &req(A, Some(Write), 0, 0), Some(tb)).finish();
        // B waits on A's lock: A waits for an OFD lock, which Linux does not follow.
        let (ta, _) = m.begin_wait(G);
        assert_eq!(
            m.set(G, &req(B, Some(Write), 0, 0), Some(ta)).finish(),
            Err(Errno::EAGAIN)
        );
        m.end_wait(ta);
        m.end_wait(tb);
    }

    #[test]
    fn waiting_keeps_the_inode_and_its_queue() {
        let mut m = LockManager::new();
        set(&mut m, A, Some(Write), 0, 0).unwrap();
        let (t, q) = m.begin_wait(F);
        let o = m.release_records(F, A);
        assert!(Arc::ptr_eq(&o.0[0], &q), "the waiter's queue is woken");
        o.wake();
        set(&mut m, B, Some(Write), 0, 0).unwrap();
        let (_, q2) = m.begin_wait(F);
        assert!(Arc::ptr_eq(&q, &q2));
        m.end_wait(t);
        assert!(!m.files.is_empty());
    }

    #[test]
    fn release_drops_only_what_the_owner_holds() {
        let mut m = LockManager::new();
        let ofd = Owner::Ofd(42);
        set(&mut m, A, Some(Read), 0, 9).unwrap();
        set(&mut m, A, Some(Read), 20, 29).unwrap();
        set(&mut m, B, Some(Read), 0, 9).unwrap();
        m.set(F, &req(ofd, Some(Read), 50, 59), None)
            .finish()
            .unwrap();
        m.set(G, &req(A, Some(Write), 0, 0), None).finish().unwrap();
        assert!(m.flock(F, 42, Some(true), 1).finish().is_ok());
        m.release_records(F, A).wake();
        assert_eq!(held(&m), [(B, Read, 0, 9), (ofd, Read, 50, 59)]);
        assert_eq!(m.records(G).len(), 1, "other inodes keep A's locks");
        m.release_file(F, 42).wake();
        assert_eq!(held(&m), [(B, Read, 0, 9)]);
        assert!(m.flock(F, 43, Some(true), 1).finish().is_ok(), "flock gone");
        m.release_owner(A).wake();
        assert!(m.records(G).is_empty());
        assert!(!m.files.contains_key(&G));
    }

    #[test]
    fn flock_locks_share_exclude_and_convert() {
        let mut m = LockManager::new();
        m.flock(F, 1, Some(false), 10).finish().unwrap();
        m.flock(F, 2, Some(false), 20).finish().unwrap();
        assert_eq!(m.flock(F, 3, Some(true), 30).finish(), Err(Errno::EAGAIN));
        // Record locks are another world.
        set(&mut m, A, Some(Write), 0, OFFSET_MAX).unwrap();
        // Converting to exclusive while another holds it shared fails, and (as
        // Linux) the converting description has lost its shared lock.
        let o = m.flock(F, 1, Some(true), 10);
        assert_eq!(o.result, Err(Errno::EAGAIN));
        assert!(!o.wake.is_empty());
        o.wake.wake();
        m.flock(F, 2, Some(true), 20).finish().unwrap();
        assert_eq!(m.flock(F, 1, Some(false), 10).finish(), Err(Errno::EAGAIN));
        // Taking the lock already held changes nothing.
        assert!(m.flock(F, 2, Some(true), 20).wake.is_empty());
        m.flock(F, 2, None, 20).finish().unwrap();
        m.flock(F, 1, Some(false), 10).finish().unwrap();
        assert_eq!(m.all().len(), 2);
        m.flock(F, 1, None, 10).finish().unwrap();
        set(&mut m, A, None, 0, OFFSET_MAX).unwrap();
        assert!(m.files.is_empty());
    }
}
