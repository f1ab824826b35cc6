//! System V IPC as logic, without user memory or waiting: the id and key
//! registry each kind of object lives in ([`Registry`]), the permission rules
//! ([`Perm`]), message queues ([`msg::MsgQueue`]) and semaphore sets
//! ([`sem::SemSet`]).
//!
//! The kernel keeps one registry per kind behind a lock, copies user memory in
//! before it takes the lock and out after, and turns "would block" answers into
//! waits on a queue; everything that decides an outcome is here and host-tested.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod msg;
pub mod sem;

use alloc::collections::BTreeMap;

use kestrel_abi::ipc::{IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IpcPerm};
use kestrel_abi::{Errno, KResult};

/// The permission bits a read asks for (Linux's S_IRUGO).
pub const READ: u32 = 0o444;
/// The permission bits a write (or alter) asks for (S_IWUGO).
pub const WRITE: u32 = 0o222;

/// An id is its slot index plus its sequence number times this (Linux's IPCMNI
/// without ipcmni_extend). Indices are handed out cyclically, as Linux does,
/// and the sequence number goes up each time they wrap, so ids count up
/// (0, 1, 2...) and a stale id is refused for a long while.
const SEQ_MULTIPLIER: i32 = 32768;

/// Who is asking: what the permission rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Cred<'a> {
    pub euid: u32,
    pub egid: u32,
    pub groups: &'a [u32],
    /// CAP_IPC_OWNER: permission bits do not apply.
    pub ipc_owner: bool,
    /// CAP_SYS_ADMIN: IPC_SET and IPC_RMID on objects of others.
    pub sys_admin: bool,
}

impl Cred<'_> {
    fn in_group(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.contains(&gid)
    }
}

/// An object's owner, creator, mode and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// The low 9 bits are the permissions; Linux keeps state flags above them
    /// (SHM_DEST, SHM_LOCKED) that IPC_STAT shows.
    pub mode: u32,
    pub seq: u16,
}

impl Perm {
    /// Whether `c` may do what the permission bits in `flag` ask (Linux's
    /// ipcperms: the owner class if the caller is the owner or creator, else the
    /// group class if the caller is in the owner's or the creator's group, else
    /// others).
    pub fn allows(&self, c: &Cred, flag: u32) -> bool {
        let requested = (flag >> 6) | (flag >> 3) | flag;
        let mut granted = self.mode;
        if c.euid == self.cuid || c.euid == self.uid {
            granted >>= 6;
        } else if c.in_group(self.cgid) || c.in_group(self.gid) {
            granted >>= 3;
        }
        requested & !granted & 0o7 == 0 || c.ipc_owner
    }

    /// Whether `c` may change or remove the object (its owner, its creator, or
    /// CAP_SYS_ADMIN).
    pub fn may_control(&self, c: &Cred) -> bool {
        c.euid == self.uid || c.euid == self.cuid || c.sys_admin
    }

    /// IPC_SET's part: the new owner and permission bits.
    pub fn set(&mut self, uid: u32, gid: u32, mode: u32) {
        self.uid = uid;
        self.gid = gid;
        self.mode = (self.mode & !0o777) | (mode & 0o777);
    }

    /// As IPC_STAT shows it.
    pub fn to_abi(&self) -> IpcPerm {
        IpcPerm {
            key: self.key,
            uid: self.uid,
            gid: self.gid,
            cuid: self.cuid,
            cgid: self.cgid,
            mode: self.mode,
            seq: self.seq,
            ..IpcPerm::default()
        }
    }
}

/// One object in a registry.
#[derive(Debug)]
pub struct Entry<T> {
    pub perm: Perm,
    pub obj: T,
}

/// Every object of one kind: ids, keys, and the limit on how many there are.
#[derive(Debug)]
pub struct Registry<T> {
    /// By slot index.
    slots: BTreeMap<usize, Entry<T>>,
    /// The index handed out last: the next one is looked for after it.
    last_idx: Option<usize>,
    seq: u16,
    max: usize,
    /// msg_next_id, sem_next_id, shm_next_id: the id the next object asks for
    /// (-1: none). Used once.
    next_id: i32,
}

/// What `*get` found for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// An existing object the caller may use.
    Found(i32),
    /// None: the caller makes one (IPC_CREAT or IPC_PRIVATE).
    Create,
}

impl<T> Registry<T> {
    /// An empty registry for at most `max` objects (msgmni, semmni, shmmni).
    pub const fn new(max: usize) -> Self {
        Self {
            slots: BTreeMap::new(),
            last_idx: None,
            seq: 0,
            max,
            next_id: -1,
        }
    }

    /// Changes the most objects there may be (kernel.msgmni...); those that
    /// exist stay.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// The id the next object asks for (-1: none).
    pub fn next_id(&self) -> i32 {
        self.next_id
    }

    /// Asks for id `id` for the next object (-1 or any negative: none). Its
    /// sequence number is used as it is; its index, or the first free one
    /// after it, as Linux's ipc_idr_alloc does.
    pub fn set_next_id(&mut self, id: i32) {
        self.next_id = id.max(-1);
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The most objects there may be.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The `*get` rules for `key` and `flags`, before anything is made:
    /// ENOENT without IPC_CREAT, EEXIST with IPC_CREAT|IPC_EXCL, EACCES when the
    /// mode bits in `flags` ask for more than the object allows. `check` is the
    /// kind's own test of an existing object (semget's nsems, shmget's size).
    pub fn get(
        &self,
        key: i32,
        flags: u32,
        cred: &Cred,
        check: impl FnOnce(&T) -> KResult<()>,
    ) -> KResult<Lookup> {
        if key == IPC_PRIVATE {
            return Ok(Lookup::Create);
        }
        let found = self.slots.iter().find(|(_, e)| e.perm.key == key);
        match found {
            None if flags & IPC_CREAT != 0 => Ok(Lookup::Create),
            None => Err(Errno::ENOENT),
            Some(_) if flags & (IPC_CREAT | IPC_EXCL) == IPC_CREAT | IPC_EXCL => Err(Errno::EEXIST),
            Some((&i, e)) => {
                // Linux checks the kind's own rule (EINVAL) before permissions.
                check(&e.obj)?;
                if !e.perm.allows(cred, flags & 0o777) {
                    return Err(Errno::EACCES);
                }
                Ok(Lookup::Found(Self::id(i, e.perm.seq)))
            }
        }
    }

    fn id(idx: usize, seq: u16) -> i32 {
        i32::from(seq) * SEQ_MULTIPLIER + idx as i32
    }

    /// The first free index at or after `from` and below the limit.
    fn free_from(&self, from: usize) -> Option<usize> {
        let mut cand = from;
        for &k in self.slots.range(from..).map(|(k, _)| k) {
            if k != cand {
                break;
            }
            cand += 1;
        }
        (cand < self.max).then_some(cand)
    }

    /// Adds an object owned and created by `cred` with permission bits `mode`;
    /// ENOSPC at the limit.
    pub fn insert(&mut self, key: i32, mode: u32, cred: &Cred, obj: T) -> KResult<i32> {
        if self.slots.len() >= self.max {
            return Err(Errno::ENOSPC);
        }
        let (idx, seq) = if self.next_id >= 0 {
            let wanted = self.next_id;
            self.next_id = -1;
            let mut idx = (wanted % SEQ_MULTIPLIER) as usize;
            while self.slots.contains_key(&idx) {
                idx += 1;
            }
            if idx >= SEQ_MULTIPLIER as usize {
                return Err(Errno::ENOSPC);
            }
            (idx, (wanted / SEQ_MULTIPLIER) as u16)
        } else {
            let start = self.last_idx.map_or(0, |l| l + 1);
            let idx = self
                .free_from(start)
                .or_else(|| self.free_from(0))
                .ok_or(Errno::ENOSPC)?;
            if self.last_idx.is_some_and(|l| idx <= l) {
                self.seq = self.seq.wrapping_add(1);
            }
            self.last_idx = Some(idx);
            (idx, self.seq)
        };
        self.slots.insert(
            idx,
            Entry {
                perm: Perm {
                    key,
                    uid: cred.euid,
                    gid: cred.egid,
                    cuid: cred.euid,
                    cgid: cred.egid,
                    mode: mode & 0o777,
                    seq,
                },
                obj,
            },
        );
        Ok(Self::id(idx, seq))
    }

    fn slot(id: i32) -> Option<(usize, u16)> {
        if id < 0 {
            return None;
        }
        Some(((id % SEQ_MULTIPLIER) as usize, (id / SEQ_MULTIPLIER) as u16))
    }

    /// The object `id` names (EINVAL for none, as Linux says for a stale id too).
    pub fn lookup(&self, id: i32) -> KResult<&Entry<T>> {
        let (idx, seq) = Self::slot(id).ok_or(Errno::EINVAL)?;
        match self.slots.get(&idx) {
            Some(e) if e.perm.seq == seq => Ok(e),
            _ => Err(Errno::EINVAL),
        }
    }

    /// As [`Registry::lookup`], to change it.
    pub fn lookup_mut(&mut self, id: i32) -> KResult<&mut Entry<T>> {
        let (idx, seq) = Self::slot(id).ok_or(Errno::EINVAL)?;
        match self.slots.get_mut(&idx) {
            Some(e) if e.perm.seq == seq => Ok(e),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Takes object `id` out (its key is free again).
    pub fn remove(&mut self, id: i32) -> KResult<Entry<T>> {
        self.lookup(id)?;
        let (idx, _) = Self::slot(id).ok_or(Errno::EINVAL)?;
        self.slots.remove(&idx).ok_or(Errno::EINVAL)
    }

    /// The highest slot index in use, -1 for none (what IPC_INFO and *_INFO return).
    pub fn max_index(&self) -> i32 {
        self.slots.keys().next_back().map_or(-1, |&i| i as i32)
    }

    /// The object in slot `idx`, with its id (the *_STAT commands take an index).
    pub fn by_index(&self, idx: i32) -> KResult<(i32, &Entry<T>)> {
        let i = usize::try_from(idx).map_err(|_| Errno::EINVAL)?;
        match self.slots.get(&i) {
            Some(e) => Ok((Self::id(i, e.perm.seq), e)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Every object with its id, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Entry<T>)> {
        self.slots
            .iter()
            .map(|(&i, e)| (Self::id(i, e.perm.seq), e))
    }

    /// Every object, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry<T>> {
        self.slots.values_mut()
    }
}

#[cfg(test)]
mod tests;
