//! A semaphore set (semop, semctl) with its SEM_UNDO adjustments.

use alloc::vec::Vec;

use kestrel_abi::ipc::{IPC_NOWAIT, SEM_UNDO, SEMAEM, SEMVMX, Sembuf};
use kestrel_abi::{Errno, KResult};

/// One semaphore.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sem {
    pub val: i32,
    /// The process that last changed it (GETPID).
    pub pid: i32,
    /// Tasks waiting for it to grow (GETNCNT) and to reach zero (GETZCNT).
    pub ncnt: u32,
    pub zcnt: u32,
}

/// A set of semaphores.
#[derive(Debug, Clone)]
pub struct SemSet {
    pub sems: Vec<Sem>,
    pub otime: i64,
    pub ctime: i64,
    /// Each process's SEM_UNDO adjustments, one per semaphore, applied when it
    /// exits (Linux keeps them per process, or per CLONE_SYSVSEM group).
    undo: Vec<(u32, Vec<i32>)>,
}

/// What a semop that did not complete waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// The semaphore the first operation that could not proceed names.
    pub num: u16,
    /// It waits for zero (a zero operation), else for the value to grow.
    pub zero: bool,
}

impl SemSet {
    /// `n` semaphores at zero, made at `now`; ENOMEM when there is no memory.
    pub fn new(n: usize, now: i64) -> KResult<Self> {
        let mut sems = Vec::new();
        sems.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        sems.resize(n, Sem::default());
        Ok(Self {
            sems,
            otime: 0,
            ctime: now,
            undo: Vec::new(),
        })
    }

    /// The number of semaphores.
    pub fn len(&self) -> usize {
        self.sems.len()
    }

    /// Whether the set is empty (it never is: semget makes at least one).
    pub fn is_empty(&self) -> bool {
        self.sems.is_empty()
    }

    /// Applies `ops` all together or not at all. `Ok(None)`: done. `Ok(Some(b))`:
    /// nothing changed and the caller waits (it has checked IPC_NOWAIT: EAGAIN
    /// comes back instead when the blocking operation has it). ERANGE when a
    /// value would pass SEMVMX or an undo adjustment SEMAEM; EFBIG for a
    /// semaphore number out of range.
    pub fn apply(&mut self, ops: &[Sembuf], pid: u32, now: i64) -> KResult<Option<Block>> {
        let n = self.sems.len();
        if ops.iter().any(|o| usize::from(o.sem_num) >= n) {
            return Err(Errno::EFBIG);
        }
        // Work on copies so that a failing operation leaves everything as it was.
        let mut vals: Vec<i32> = Vec::new();
        vals.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        vals.extend(self.sems.iter().map(|s| s.val));
        let wants_undo = ops.iter().any(|o| o.sem_flg & SEM_UNDO != 0);
        let mut adj: Vec<i32> = Vec::new();
        if wants_undo {
            adj.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
            match self.undo.iter().find(|(p, _)| *p == pid) {
                Some((_, a)) => adj.extend_from_slice(a),
                None => adj.resize(n, 0),
            }
        }
        for o in ops {
            let i = usize::from(o.sem_num);
            let op = i32::from(o.sem_op);
            let v = vals[i];
            let blocked = if op == 0 { v != 0 } else { v + op < 0 };
            if blocked {
                if o.sem_flg & IPC_NOWAIT as i16 != 0 {
                    return Err(Errno::EAGAIN);
                }
                return Ok(Some(Block {
                    num: o.sem_num,
                    zero: op == 0,
                }));
            }
            if v + op > SEMVMX {
                return Err(Errno::ERANGE);
            }
            vals[i] = v + op;
            if o.sem_flg & SEM_UNDO != 0 {
                let a = adj[i] - op;
                if !(-SEMAEM - 1..=SEMAEM).contains(&a) {
                    return Err(Errno::ERANGE);
                }
                adj[i] = a;
            }
        }
        for o in ops {
            self.sems[usize::from(o.sem_num)].pid = pid as i32;
        }
        for (s, v) in self.sems.iter_mut().zip(vals) {
            s.val = v;
        }
        if wants_undo {
            self.undo.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            match self.undo.iter_mut().find(|(p, _)| *p == pid) {
                Some((_, a)) => *a = adj,
                None => self.undo.push((pid, adj)),
            }
        }
        self.otime = now;
        Ok(None)
    }

    /// SETVAL: one value, and every process's adjustment for it goes.
    pub fn set_val(&mut self, num: usize, val: i32, pid: u32, now: i64) -> KResult<()> {
        if !(0..=SEMVMX).contains(&val) {
            return Err(Errno::ERANGE);
        }
        let s = self.sems.get_mut(num).ok_or(Errno::EINVAL)?;
        s.val = val;
        s.pid = pid as i32;
        for (_, a) in self.undo.iter_mut() {
            a[num] = 0;
        }
        self.ctime = now;
        Ok(())
    }

    /// SETALL: every value (ERANGE above SEMVMX), and every adjustment goes.
    pub fn set_all(&mut self, vals: &[u16], pid: u32, now: i64) -> KResult<()> {
        if vals.len() != self.sems.len() {
            return Err(Errno::EINVAL);
        }
        if vals.iter().any(|&v| i32::from(v) > SEMVMX) {
            return Err(Errno::ERANGE);
        }
        for (s, &v) in self.sems.iter_mut().zip(vals) {
            s.val = i32::from(v);
            s.pid = pid as i32;
        }
        self.undo.clear();
        self.ctime = now;
        Ok(())
    }

    /// Process `pid` is gone: its adjustments apply, each value kept within 0
    /// and SEMVMX as Linux does. Whether anything changed.
    pub fn exit(&mut self, pid: u32) -> bool {
        let Some(i) = self.undo.iter().position(|(p, _)| *p == pid) else {
            return false;
        };
        let (_, adj) = self.undo.swap_remove(i);
        for (s, a) in self.sems.iter_mut().zip(adj) {
            if a != 0 {
                s.val = (s.val + a).clamp(0, SEMVMX);
                s.pid = pid as i32;
            }
        }
        true
    }

    /// Whether process `pid` has adjustments here.
    pub fn has_undo(&self, pid: u32) -> bool {
        self.undo.iter().any(|(p, _)| *p == pid)
    }
}
