//! System V IPC: message queues (msgget, msgsnd, msgrcv, msgctl), semaphore
//! sets (semget, semop, semtimedop, semctl) and shared memory (shmget, shmat,
//! shmdt, shmctl), as Linux has them.
//!
//! The rules live in [`kestrel_ipc`]; this file copies user memory in and out
//! (never under a registry lock) and waits. Each object has a [`Shared`] half
//! outside the registry lock: the wait queue its waiters sleep on, and a flag
//! that says it was removed, so a waiter woken by IPC_RMID answers EIDRM even if
//! a new object has taken the slot meanwhile. Every change that may let a waiter
//! go on wakes the whole queue, after the registry lock is released; each waiter
//! retries its operation and goes back to sleep if it still cannot proceed.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use kestrel_abi::cap::{CAP_IPC_LOCK, CAP_IPC_OWNER, CAP_SYS_ADMIN, CAP_SYS_RESOURCE};
use kestrel_abi::ipc::*;
use kestrel_abi::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_ipc::msg::{Msg, MsgQueue};
use kestrel_ipc::sem::{Block, SemSet};
use kestrel_ipc::{Cred, Lookup, READ, Registry, WRITE};
use kestrel_sync::WaitQueue;

use super::args::*;
use super::{Ctx, zeroed_vec};
use crate::mm::frame;
use crate::mm::vm::{Backing, Placement, Segment, SharedPages, VmaKind};
use crate::process::signal::interruptible;
use crate::process::{Credentials, Process};
use crate::{task, time};

/// The half of an object that waiters hold on to.
#[derive(Default)]
struct Shared {
    wq: WaitQueue,
    removed: AtomicBool,
}

impl Shared {
    fn remove(&self) {
        self.removed.store(true, Ordering::Release);
        self.wq.wake_all();
    }

    fn removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }
}

struct MsqObj {
    q: MsgQueue,
    shared: Arc<Shared>,
}

struct SemObj {
    set: SemSet,
    shared: Arc<Shared>,
}

/// An IPC namespace (CLONE_NEWIPC): its own message queues, semaphore sets and
/// shared memory segments, so ids and keys of one are not seen from another.
pub struct IpcNamespace {
    pub inum: u64,
    /// The user namespace that owns it.
    pub owner: Arc<crate::ns::UserNs>,
    msg: spin::Mutex<Registry<MsqObj>>,
    sem: spin::Mutex<Registry<SemObj>>,
    shm: spin::Mutex<Registry<ShmObj>>,
}

impl IpcNamespace {
    /// An empty namespace with the inode number `inum`.
    pub fn new(inum: u64, owner: Arc<crate::ns::UserNs>) -> Arc<Self> {
        Arc::new(Self {
            inum,
            owner,
            msg: spin::Mutex::new(Registry::new(MSGMNI)),
            sem: spin::Mutex::new(Registry::new(SEMMNI)),
            shm: spin::Mutex::new(Registry::new(SHMMNI)),
        })
    }
}

/// The caller's IPC namespace (the initial one for kernel code without a caller).
fn ipc_ns() -> Arc<IpcNamespace> {
    crate::ns::current().ipc.clone()
}

/// kernel.shmmax: the largest segment shmget makes (writable in /proc/sys).
static SHM_CTLMAX: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(SHMMAX);

/// Which kind of System V IPC object a /proc/sys/kernel file is about.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Msg,
    Sem,
    Shm,
}

/// kernel.msg_next_id, sem_next_id, shm_next_id: the id the next object of
/// `kind` gets (-1: the usual one).
pub fn next_id(kind: Kind) -> i32 {
    match kind {
        Kind::Msg => ipc_ns().msg.lock().next_id(),
        Kind::Sem => ipc_ns().sem.lock().next_id(),
        Kind::Shm => ipc_ns().shm.lock().next_id(),
    }
}

/// Writes kernel.*_next_id.
pub fn set_next_id(kind: Kind, id: i32) {
    match kind {
        Kind::Msg => ipc_ns().msg.lock().set_next_id(id),
        Kind::Sem => ipc_ns().sem.lock().set_next_id(id),
        Kind::Shm => ipc_ns().shm.lock().set_next_id(id),
    }
}

/// kernel.msgmni and shmmni: how many queues or segments there may be.
pub fn max_objects(kind: Kind) -> usize {
    match kind {
        Kind::Msg => ipc_ns().msg.lock().max(),
        Kind::Sem => ipc_ns().sem.lock().max(),
        Kind::Shm => ipc_ns().shm.lock().max(),
    }
}

/// Writes kernel.msgmni or shmmni (at most IPCMNI, 32768, as Linux caps them).
pub fn set_max_objects(kind: Kind, n: usize) {
    let n = n.min(32768);
    match kind {
        Kind::Msg => ipc_ns().msg.lock().set_max(n),
        Kind::Sem => ipc_ns().sem.lock().set_max(n),
        Kind::Shm => ipc_ns().shm.lock().set_max(n),
    }
}

/// Whether process `pid` has SEM_UNDO adjustments on any set (what Linux
/// keeps as the task's undo list; kcmp's KCMP_SYSVSEM compares them).
pub fn has_undo(pid: u32) -> bool {
    ipc_ns()
        .sem
        .lock()
        .iter()
        .any(|(_, e)| e.obj.set.has_undo(pid))
}

/// kernel.shmmax.
pub fn shmmax() -> u64 {
    SHM_CTLMAX.load(core::sync::atomic::Ordering::Relaxed)
}

/// Writes kernel.shmmax.
pub fn set_shmmax(v: u64) {
    SHM_CTLMAX.store(v, core::sync::atomic::Ordering::Relaxed);
}

/// Seconds since the epoch, for the *_time fields.
fn now() -> i64 {
    (time::realtime_ns() / 1_000_000_000) as i64
}

fn pid(ctx: &Ctx<'_>) -> u32 {
    ctx.process().pid
}

/// The caller's credentials, and the view of them the rules take.
fn creds(ctx: &Ctx<'_>) -> Credentials {
    ctx.process().cred.lock().clone()
}

fn view(c: &Credentials) -> Cred<'_> {
    Cred {
        euid: c.euid,
        egid: c.egid,
        groups: &c.groups,
        ipc_owner: c.capable(CAP_IPC_OWNER),
        sys_admin: c.capable(CAP_SYS_ADMIN),
    }
}

/// The *_INFO commands return the highest index in use, 0 for none.
fn max_index<T>(r: &Registry<T>) -> u64 {
    r.max_index().max(0) as u64
}

// ---- message queues ----------------------------------------------------------------

pub async fn sys_msgget(ctx: &mut Ctx<'_>, key: i32, msgflg: u32) -> KResult<u64> {
    let c = creds(ctx);
    let cred = view(&c);
    let ns = ipc_ns();
    let mut r = ns.msg.lock();
    match r.get(key, msgflg, &cred, |_| Ok(()))? {
        Lookup::Found(id) => Ok(id as u64),
        Lookup::Create => {
            let obj = MsqObj {
                q: MsgQueue::new(now()),
                shared: Arc::new(Shared::default()),
            };
            r.insert(key, msgflg, &cred, obj).map(|id| id as u64)
        }
    }
}

/// The queue `id` names if the caller may `want` (READ or WRITE) it.
fn msq_shared(id: i32, cred: &Cred, want: u32) -> KResult<Arc<Shared>> {
    let ns = ipc_ns();
    let r = ns.msg.lock();
    let e = r.lookup(id)?;
    if !e.perm.allows(cred, want) {
        return Err(Errno::EACCES);
    }
    Ok(e.obj.shared.clone())
}

/// Runs `attempt` on queue or set `id` until it gives an answer: now, or (unless
/// `nowait`, when `busy` is the answer) after waits on the object's queue,
/// interrupted by a signal with `signal_code`, by IPC_RMID with EIDRM, and by
/// `deadline` (monotonic ns) with EAGAIN.
async fn wait_for<T>(
    ctx: &Ctx<'_>,
    shared: &Shared,
    nowait: bool,
    busy: Errno,
    signal_code: Errno,
    deadline: Option<u64>,
    mut attempt: impl FnMut() -> Option<KResult<T>> + Unpin,
) -> KResult<T> {
    if let Some(r) = attempt() {
        return r;
    }
    if nowait {
        return Err(busy);
    }
    let waited = async {
        shared
            .wq
            .wait_until(|| {
                if shared.removed() {
                    return Some(Err(Errno::EIDRM));
                }
                attempt()
            })
            .await
    };
    match deadline {
        None => interruptible(ctx.thread, signal_code, waited).await,
        Some(d) => {
            let timed = async {
                task::timeout(d.saturating_sub(time::now_ns()), waited)
                    .await
                    .map_err(|_| Errno::EAGAIN)?
            };
            interruptible(ctx.thread, signal_code, timed).await
        }
    }
}

pub async fn sys_msgsnd(
    ctx: &mut Ctx<'_>,
    msqid: i32,
    msgp: UserPtr<u8>,
    msgsz: usize,
    msgflg: u32,
) -> KResult<u64> {
    // The mtype is read first (EFAULT), then the sizes and the type are checked.
    let mtype: i64 = ctx.read(UserPtr::<i64>::new(msgp.addr()))?;
    if msgsz > MSGMAX || msqid < 0 || mtype < 1 {
        return Err(Errno::EINVAL);
    }
    // Queued text is kernel memory a program chose: it may not dig into the
    // kernel's reserve (as pipe buffers may not).
    if !frame::may_hold_user_data(msgsz + 64) {
        return Err(Errno::ENOMEM);
    }
    let mut text = zeroed_vec::<u8>(msgsz)?;
    ctx.mm()
        .read_slice(UserPtr::<u8>::new(msgp.addr().wrapping_add(8)), &mut text)?;
    let c = creds(ctx);
    let cred = view(&c);
    let shared = msq_shared(msqid, &cred, WRITE)?;
    let pid = pid(ctx) as i32;
    let mut msg = Some(Msg { mtype, text });
    let attempt = || {
        let ns = ipc_ns();
        let mut r = ns.msg.lock();
        let e = match r.lookup_mut(msqid) {
            Ok(e) if Arc::ptr_eq(&e.obj.shared, &shared) => e,
            _ => return Some(Err(Errno::EIDRM)),
        };
        let len = msg.as_ref().map_or(0, |m| m.text.len());
        if !e.obj.q.has_room(len) {
            return None;
        }
        let m = msg.take()?;
        Some(e.obj.q.push(m, pid, now()).map(|_| 0))
    };
    let r = wait_for(
        ctx,
        &shared,
        msgflg & IPC_NOWAIT != 0,
        Errno::EAGAIN,
        Errno::ERESTARTNOHAND,
        None,
        attempt,
    )
    .await;
    if r.is_ok() {
        shared.wq.wake_all();
    }
    r
}

pub async fn sys_msgrcv(
    ctx: &mut Ctx<'_>,
    msqid: i32,
    msgp: UserPtr<u8>,
    msgsz: usize,
    msgtyp: i64,
    msgflg: u32,
) -> KResult<u64> {
    if msqid < 0 || (msgsz as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let copy = msgflg & MSG_COPY != 0;
    if copy && (msgflg & MSG_EXCEPT != 0 || msgflg & IPC_NOWAIT == 0) {
        return Err(Errno::EINVAL);
    }
    let c = creds(ctx);
    let cred = view(&c);
    let shared = msq_shared(msqid, &cred, READ)?;
    let pid = pid(ctx) as i32;
    let attempt = || {
        let ns = ipc_ns();
        let mut r = ns.msg.lock();
        let e = match r.lookup_mut(msqid) {
            Ok(e) if Arc::ptr_eq(&e.obj.shared, &shared) => e,
            _ => return Some(Err(Errno::EIDRM)),
        };
        let got = if copy {
            let idx = usize::try_from(msgtyp).map_err(|_| Errno::ENOMSG);
            idx.and_then(|i| e.obj.q.peek(i, msgsz, msgflg))
        } else {
            e.obj.q.receive(msgtyp, msgsz, msgflg, pid, now())
        };
        match got {
            Err(Errno::ENOMSG) => None,
            r => Some(r),
        }
    };
    let m = wait_for(
        ctx,
        &shared,
        msgflg & IPC_NOWAIT != 0,
        Errno::ENOMSG,
        Errno::ERESTARTNOHAND,
        None,
        attempt,
    )
    .await?;
    if !copy {
        // Room for senders.
        shared.wq.wake_all();
    }
    // As in Linux, a message that cannot be copied out is lost.
    ctx.write(UserPtr::<i64>::new(msgp.addr()), &m.mtype)?;
    ctx.mm()
        .write_slice(UserPtr::<u8>::new(msgp.addr().wrapping_add(8)), &m.text)?;
    Ok(m.text.len() as u64)
}

fn msqid_ds(perm: &kestrel_ipc::Perm, q: &MsgQueue) -> MsqidDs {
    MsqidDs {
        msg_perm: perm.to_abi(),
        msg_stime: q.stime,
        msg_rtime: q.rtime,
        msg_ctime: q.ctime,
        msg_cbytes: q.cbytes as u64,
        msg_qnum: q.qnum() as u64,
        msg_qbytes: q.qbytes as u64,
        msg_lspid: q.lspid,
        msg_lrpid: q.lrpid,
        ..MsqidDs::default()
    }
}

pub async fn sys_msgctl(
    ctx: &mut Ctx<'_>,
    msqid: i32,
    cmd: i32,
    buf: UserPtr<MsqidDs>,
) -> KResult<u64> {
    if msqid < 0 || cmd < 0 {
        return Err(Errno::EINVAL);
    }
    let c = creds(ctx);
    let cred = view(&c);
    match cmd {
        IPC_INFO | MSG_INFO => {
            let (info, ret) = {
                let ns = ipc_ns();
                let r = ns.msg.lock();
                let mut info = Msginfo {
                    msgmax: MSGMAX as i32,
                    msgmnb: MSGMNB as i32,
                    msgmni: r.max() as i32,
                    msgssz: 16,
                    msgseg: 0xffff,
                    ..Msginfo::default()
                };
                if cmd == MSG_INFO {
                    info.msgpool = r.len() as i32;
                    info.msgmap = r.iter().map(|(_, e)| e.obj.q.qnum()).sum::<usize>() as i32;
                    info.msgtql = r.iter().map(|(_, e)| e.obj.q.cbytes).sum::<usize>() as i32;
                } else {
                    info.msgpool = (r.max() * MSGMNB / 1024) as i32;
                    info.msgmap = MSGMNB as i32;
                    info.msgtql = MSGMNB as i32;
                }
                (info, max_index(&r))
            };
            ctx.write(UserPtr::<Msginfo>::new(buf.addr()), &info)?;
            Ok(ret)
        }
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            let (ds, ret) = {
                let ns = ipc_ns();
                let r = ns.msg.lock();
                let (id, e) = if cmd == IPC_STAT {
                    (0, r.lookup(msqid)?)
                } else {
                    r.by_index(msqid)?
                };
                if cmd != MSG_STAT_ANY && !e.perm.allows(&cred, READ) {
                    return Err(Errno::EACCES);
                }
                (msqid_ds(&e.perm, &e.obj.q), id as u64)
            };
            ctx.write(buf, &ds)?;
            Ok(ret)
        }
        IPC_SET => {
            let ds = ctx.read(buf)?;
            let shared = {
                let ns = ipc_ns();
                let mut r = ns.msg.lock();
                let e = r.lookup_mut(msqid)?;
                if !e.perm.may_control(&cred) {
                    return Err(Errno::EPERM);
                }
                let qbytes = usize::try_from(ds.msg_qbytes).map_err(|_| Errno::EINVAL)?;
                if qbytes > MSGMNB && !c.capable(CAP_SYS_RESOURCE) {
                    return Err(Errno::EPERM);
                }
                e.perm
                    .set(ds.msg_perm.uid, ds.msg_perm.gid, ds.msg_perm.mode);
                e.obj.q.qbytes = qbytes;
                e.obj.q.ctime = now();
                e.obj.shared.clone()
            };
            // A larger queue may let senders in.
            shared.wq.wake_all();
            Ok(0)
        }
        IPC_RMID => {
            let e = {
                let ns = ipc_ns();
                let mut r = ns.msg.lock();
                if !r.lookup(msqid)?.perm.may_control(&cred) {
                    return Err(Errno::EPERM);
                }
                r.remove(msqid)?
            };
            e.obj.shared.remove();
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---- semaphores --------------------------------------------------------------------

pub async fn sys_semget(ctx: &mut Ctx<'_>, key: i32, nsems: i32, semflg: u32) -> KResult<u64> {
    if nsems < 0 || nsems as usize > SEMMSL {
        return Err(Errno::EINVAL);
    }
    let n = nsems as usize;
    let c = creds(ctx);
    let cred = view(&c);
    let ns = ipc_ns();
    let mut r = ns.sem.lock();
    let check = |o: &SemObj| {
        if n > o.set.len() {
            Err(Errno::EINVAL)
        } else {
            Ok(())
        }
    };
    match r.get(key, semflg, &cred, check)? {
        Lookup::Found(id) => Ok(id as u64),
        Lookup::Create => {
            if n == 0 {
                return Err(Errno::EINVAL);
            }
            if !frame::may_hold_user_data(n * size_of::<kestrel_ipc::sem::Sem>()) {
                return Err(Errno::ENOSPC);
            }
            let obj = SemObj {
                set: SemSet::new(n, now())?,
                shared: Arc::new(Shared::default()),
            };
            r.insert(key, semflg, &cred, obj).map(|id| id as u64)
        }
    }
}

pub async fn sys_semop(
    ctx: &mut Ctx<'_>,
    semid: i32,
    sops: UserPtr<Sembuf>,
    nsops: u32,
) -> KResult<u64> {
    semtimedop(ctx, semid, sops, nsops as usize, UserPtr::new(0)).await
}

pub async fn sys_semtimedop(
    ctx: &mut Ctx<'_>,
    semid: i32,
    sops: UserPtr<Sembuf>,
    nsops: u32,
    timeout: UserPtr<Timespec>,
) -> KResult<u64> {
    semtimedop(ctx, semid, sops, nsops as usize, timeout).await
}

/// A waiter's place in GETNCNT or GETZCNT, moved as what it waits for changes and
/// given back when it stops waiting.
struct Counted {
    id: i32,
    shared: Arc<Shared>,
    /// Only touched under the SEM lock.
    cur: spin::Mutex<Option<Block>>,
}

impl Counted {
    /// Counts the waiter under `b` (None: not waiting) in `set`.
    fn set(&self, set: &mut SemSet, b: Option<Block>) {
        let mut cur = self.cur.lock();
        if let Some(old) = *cur {
            let s = &mut set.sems[usize::from(old.num)];
            if old.zero {
                s.zcnt -= 1;
            } else {
                s.ncnt -= 1;
            }
        }
        if let Some(new) = b {
            let s = &mut set.sems[usize::from(new.num)];
            if new.zero {
                s.zcnt += 1;
            } else {
                s.ncnt += 1;
            }
        }
        *cur = b;
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.cur.lock().is_none() {
            return;
        }
        let ns = ipc_ns();
        let mut r = ns.sem.lock();
        if let Ok(e) = r.lookup_mut(self.id)
            && Arc::ptr_eq(&e.obj.shared, &self.shared)
        {
            self.set(&mut e.obj.set, None);
        }
    }
}

async fn semtimedop(
    ctx: &Ctx<'_>,
    semid: i32,
    sops: UserPtr<Sembuf>,
    nsops: usize,
    timeout: UserPtr<Timespec>,
) -> KResult<u64> {
    if nsops < 1 || semid < 0 {
        return Err(Errno::EINVAL);
    }
    if nsops > SEMOPM {
        return Err(Errno::E2BIG);
    }
    let mut ops = zeroed_vec::<Sembuf>(nsops)?;
    ctx.mm().read_slice(sops, &mut ops)?;
    let deadline = if timeout.addr() != 0 {
        let t: Timespec = ctx.read(timeout)?;
        let ns = t.to_ns().ok_or(Errno::EINVAL)?;
        Some(time::now_ns().saturating_add(ns))
    } else {
        None
    };
    let c = creds(ctx);
    let cred = view(&c);
    let nowait = ops.iter().all(|o| o.sem_flg & IPC_NOWAIT as i16 != 0);
    let alter = ops.iter().any(|o| o.sem_op != 0);
    let shared = {
        let ns = ipc_ns();
        let r = ns.sem.lock();
        let e = r.lookup(semid)?;
        if ops
            .iter()
            .any(|o| usize::from(o.sem_num) >= e.obj.set.len())
        {
            return Err(Errno::EFBIG);
        }
        if !e.perm.allows(&cred, if alter { WRITE } else { READ }) {
            return Err(Errno::EACCES);
        }
        e.obj.shared.clone()
    };
    let pid = pid(ctx);
    let counted = Counted {
        id: semid,
        shared: shared.clone(),
        cur: spin::Mutex::new(None),
    };
    let attempt = || {
        let ns = ipc_ns();
        let mut r = ns.sem.lock();
        let e = match r.lookup_mut(semid) {
            Ok(e) if Arc::ptr_eq(&e.obj.shared, &shared) => e,
            _ => return Some(Err(Errno::EIDRM)),
        };
        match e.obj.set.apply(&ops, pid, now()) {
            Ok(Some(b)) => {
                counted.set(&mut e.obj.set, Some(b));
                None
            }
            r => {
                counted.set(&mut e.obj.set, None);
                Some(r.map(|_| 0))
            }
        }
    };
    // Each operation that would block has its own IPC_NOWAIT, which apply()
    // honours; `nowait` only spares a registration when all have it.
    let r = wait_for(
        ctx,
        &shared,
        nowait,
        Errno::EAGAIN,
        Errno::EINTR,
        deadline,
        attempt,
    )
    .await;
    drop(counted);
    if r.is_ok() && alter {
        shared.wq.wake_all();
    }
    r
}

fn semid_ds(perm: &kestrel_ipc::Perm, set: &SemSet) -> SemidDs {
    SemidDs {
        sem_perm: perm.to_abi(),
        sem_otime: set.otime,
        sem_ctime: set.ctime,
        sem_nsems: set.len() as u64,
        ..SemidDs::default()
    }
}

pub async fn sys_semctl(
    ctx: &mut Ctx<'_>,
    semid: i32,
    semnum: i32,
    cmd: i32,
    arg: u64,
) -> KResult<u64> {
    if semid < 0 || cmd < 0 {
        return Err(Errno::EINVAL);
    }
    let c = creds(ctx);
    let cred = view(&c);
    let pid = pid(ctx);
    match cmd {
        IPC_INFO | SEM_INFO => {
            let (info, ret) = {
                let ns = ipc_ns();
                let r = ns.sem.lock();
                let mut info = Seminfo {
                    semmni: SEMMNI as i32,
                    semmns: SEMMNS as i32,
                    semmsl: SEMMSL as i32,
                    semopm: SEMOPM as i32,
                    semvmx: SEMVMX,
                    semmnu: SEMMNS as i32,
                    semmap: SEMMNS as i32,
                    semume: SEMOPM as i32,
                    semusz: 20,
                    semaem: SEMAEM,
                };
                if cmd == SEM_INFO {
                    info.semusz = r.len() as i32;
                    info.semaem = r.iter().map(|(_, e)| e.obj.set.len()).sum::<usize>() as i32;
                }
                (info, max_index(&r))
            };
            ctx.write(UserPtr::<Seminfo>::new(arg), &info)?;
            Ok(ret)
        }
        IPC_STAT | SEM_STAT | SEM_STAT_ANY => {
            let (ds, ret) = {
                let ns = ipc_ns();
                let r = ns.sem.lock();
                let (id, e) = if cmd == IPC_STAT {
                    (0, r.lookup(semid)?)
                } else {
                    r.by_index(semid)?
                };
                if cmd != SEM_STAT_ANY && !e.perm.allows(&cred, READ) {
                    return Err(Errno::EACCES);
                }
                (semid_ds(&e.perm, &e.obj.set), id as u64)
            };
            ctx.write(UserPtr::<SemidDs>::new(arg), &ds)?;
            Ok(ret)
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            let ns = ipc_ns();
            let r = ns.sem.lock();
            let e = r.lookup(semid)?;
            if !e.perm.allows(&cred, READ) {
                return Err(Errno::EACCES);
            }
            let s = usize::try_from(semnum)
                .ok()
                .and_then(|i| e.obj.set.sems.get(i))
                .ok_or(Errno::EINVAL)?;
            Ok(match cmd {
                GETVAL => s.val as u64,
                GETPID => s.pid as u64,
                GETNCNT => u64::from(s.ncnt),
                _ => u64::from(s.zcnt),
            })
        }
        GETALL => {
            let vals: Vec<u16> = {
                let ns = ipc_ns();
                let r = ns.sem.lock();
                let e = r.lookup(semid)?;
                if !e.perm.allows(&cred, READ) {
                    return Err(Errno::EACCES);
                }
                let mut v = zeroed_vec::<u16>(e.obj.set.len())?;
                for (d, s) in v.iter_mut().zip(&e.obj.set.sems) {
                    *d = s.val as u16;
                }
                v
            };
            ctx.mm().write_slice(UserPtr::<u16>::new(arg), &vals)?;
            Ok(0)
        }
        SETVAL => {
            let shared = {
                let ns = ipc_ns();
                let mut r = ns.sem.lock();
                let e = r.lookup_mut(semid)?;
                if !e.perm.allows(&cred, WRITE) {
                    return Err(Errno::EACCES);
                }
                let n = usize::try_from(semnum)
                    .ok()
                    .filter(|&i| i < e.obj.set.len())
                    .ok_or(Errno::EINVAL)?;
                e.obj.set.set_val(n, arg as u32 as i32, pid, now())?;
                e.obj.shared.clone()
            };
            shared.wq.wake_all();
            Ok(0)
        }
        SETALL => {
            let (n, shared) = {
                let ns = ipc_ns();
                let r = ns.sem.lock();
                let e = r.lookup(semid)?;
                if !e.perm.allows(&cred, WRITE) {
                    return Err(Errno::EACCES);
                }
                (e.obj.set.len(), e.obj.shared.clone())
            };
            let mut vals = zeroed_vec::<u16>(n)?;
            ctx.mm().read_slice(UserPtr::<u16>::new(arg), &mut vals)?;
            {
                let ns = ipc_ns();
                let mut r = ns.sem.lock();
                let e = match r.lookup_mut(semid) {
                    Ok(e) if Arc::ptr_eq(&e.obj.shared, &shared) => e,
                    _ => return Err(Errno::EIDRM),
                };
                e.obj.set.set_all(&vals, pid, now())?;
            }
            shared.wq.wake_all();
            Ok(0)
        }
        IPC_SET => {
            let ds: SemidDs = ctx.read(UserPtr::new(arg))?;
            let ns = ipc_ns();
            let mut r = ns.sem.lock();
            let e = r.lookup_mut(semid)?;
            if !e.perm.may_control(&cred) {
                return Err(Errno::EPERM);
            }
            e.perm
                .set(ds.sem_perm.uid, ds.sem_perm.gid, ds.sem_perm.mode);
            e.obj.set.ctime = now();
            Ok(0)
        }
        IPC_RMID => {
            let e = {
                let ns = ipc_ns();
                let mut r = ns.sem.lock();
                if !r.lookup(semid)?.perm.may_control(&cred) {
                    return Err(Errno::EPERM);
                }
                r.remove(semid)?
            };
            e.obj.shared.remove();
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// The last thread of `p` is gone: its SEM_UNDO adjustments apply.
pub fn process_exited(p: &Process) {
    let woken: Vec<Arc<Shared>> = {
        let ns = p.nsproxy().ipc.clone();
        let mut r = ns.sem.lock();
        if r.is_empty() {
            return;
        }
        r.iter_mut()
            .filter_map(|e| e.obj.set.exit(p.pid).then(|| e.obj.shared.clone()))
            .collect()
    };
    for s in woken {
        s.wq.wake_all();
    }
}

// ---- shared memory -----------------------------------------------------------------

/// A segment's pages and numbers.
struct ShmObj {
    pages: Arc<SharedPages>,
    /// The size asked for (shm_segsz); attachments cover it rounded up to pages.
    size: u64,
    atime: i64,
    dtime: i64,
    ctime: i64,
    cpid: i32,
    lpid: i32,
    /// What every attached area holds: shm_nattch is its strong count.
    attach: Weak<Attach>,
}

/// The token attached areas hold ([`crate::mm::vm::Backing::SharedAnonymous`]'s
/// `segment`). When the last one goes, a segment removed with IPC_RMID goes too.
struct Attach {
    id: i32,
    pages: Arc<SharedPages>,
    size: u64,
    /// The IPC namespace the segment is in (the last detach may happen in a
    /// process that has since joined another, or in no process at all).
    ns: Weak<IpcNamespace>,
}

impl Drop for Attach {
    fn drop(&mut self) {
        let Some(ns) = self.ns.upgrade() else {
            return;
        };
        let gone = {
            let mut r = ns.shm.lock();
            match r.lookup(self.id) {
                Ok(e)
                    if Arc::ptr_eq(&e.obj.pages, &self.pages)
                        && e.perm.mode & SHM_DEST != 0
                        && e.obj.attach.strong_count() == 0 =>
                {
                    r.remove(self.id).ok()
                }
                _ => None,
            }
        };
        // The pages go here, outside the lock.
        drop(gone);
    }
}

fn pages_of(size: u64) -> u64 {
    size.div_ceil(4096)
}

/// Where shmget's flags give a huge page size (its log2), with SHM_HUGETLB.
const SHM_HUGE_SHIFT: u32 = 26;
const SHM_HUGE_MASK: u32 = 0x3f;

/// The pages of a new SHM_HUGETLB segment of `size` bytes, reserved from the
/// huge page pool (Linux's newseg and hugetlb_file_setup): a size other than
/// 2 MiB is EINVAL; a caller without CAP_IPC_LOCK outside group 0
/// (vm.hugetlb_shm_group) may only have as much as RLIMIT_MEMLOCK allows
/// (EPERM); too few free pages is ENOMEM.
fn huge_segment(ctx: &Ctx<'_>, c: &Credentials, size: u64, shmflg: u32) -> KResult<SharedPages> {
    use crate::mm::huge::HPAGE_SIZE;
    let log = (shmflg >> SHM_HUGE_SHIFT) & SHM_HUGE_MASK;
    if log != 0 && log != 21 {
        return Err(Errno::EINVAL);
    }
    let hugesize = size.next_multiple_of(HPAGE_SIZE);
    let in_group = c.egid == 0 || c.groups.contains(&0);
    if !c.capable(CAP_IPC_LOCK) && !in_group {
        let limit = ctx.process().rlimit(kestrel_abi::process::RLIMIT_MEMLOCK);
        if limit != u64::MAX && hugesize.div_ceil(4096) > limit / 4096 {
            return Err(Errno::EPERM);
        }
    }
    let pages = SharedPages::new_huge(false);
    pages.reserve_huge(0, hugesize / HPAGE_SIZE)?;
    Ok(pages)
}

pub async fn sys_shmget(ctx: &mut Ctx<'_>, key: i32, size: usize, shmflg: u32) -> KResult<u64> {
    let size = size as u64;
    let c = creds(ctx);
    let cred = view(&c);
    let ns = ipc_ns();
    let mut r = ns.shm.lock();
    let check = |o: &ShmObj| {
        if size > o.size {
            Err(Errno::EINVAL)
        } else {
            Ok(())
        }
    };
    match r.get(key, shmflg, &cred, check)? {
        Lookup::Found(id) => Ok(id as u64),
        Lookup::Create => {
            if !(SHMMIN..=shmmax()).contains(&size) {
                return Err(Errno::EINVAL);
            }
            let pages = if shmflg & SHM_HUGETLB != 0 {
                huge_segment(ctx, &c, size, shmflg)?
            } else {
                SharedPages::default()
            };
            let obj = ShmObj {
                pages: Arc::new(pages),
                size,
                atime: 0,
                dtime: 0,
                ctime: now(),
                cpid: pid(ctx) as i32,
                lpid: 0,
                attach: Weak::new(),
            };
            r.insert(key, shmflg, &cred, obj).map(|id| id as u64)
        }
    }
}

pub async fn sys_shmat(ctx: &mut Ctx<'_>, shmid: i32, shmaddr: u64, shmflg: u32) -> KResult<u64> {
    if shmid < 0 {
        return Err(Errno::EINVAL);
    }
    let mut addr = shmaddr;
    if !addr.is_multiple_of(SHMLBA) {
        if shmflg & SHM_RND == 0 {
            return Err(Errno::EINVAL);
        }
        addr -= addr % SHMLBA;
        if addr == 0 && shmflg & SHM_REMAP != 0 {
            return Err(Errno::EINVAL);
        }
    }
    let (mut prot, want) = if shmflg & SHM_RDONLY != 0 {
        (PROT_READ, READ)
    } else {
        (PROT_READ | PROT_WRITE, READ | WRITE)
    };
    if shmflg & SHM_EXEC != 0 {
        prot |= PROT_EXEC;
    }
    let c = creds(ctx);
    let cred = view(&c);
    // Counted as attached from here, so an IPC_RMID meanwhile waits for us.
    let (attach, pages, size) = {
        let ns = ipc_ns();
        let mut r = ns.shm.lock();
        let e = r.lookup_mut(shmid)?;
        if !e.perm.allows(&cred, want) {
            return Err(Errno::EACCES);
        }
        let attach = match e.obj.attach.upgrade() {
            Some(a) => a,
            None => {
                let a = Arc::new(Attach {
                    id: shmid,
                    pages: e.obj.pages.clone(),
                    size: e.obj.size,
                    ns: Arc::downgrade(&ns),
                });
                e.obj.attach = Arc::downgrade(&a);
                a
            }
        };
        (attach, e.obj.pages.clone(), e.obj.size)
    };
    let at = if addr == 0 {
        Placement::Hint(0)
    } else if shmflg & SHM_REMAP != 0 {
        Placement::Fixed(addr)
    } else {
        Placement::FixedNoReplace(addr)
    };
    let segment: Segment = attach;
    let backing = Backing::SharedAnonymous {
        pages,
        offset: 0,
        segment: Some(segment),
    };
    let start = match ctx
        .mm()
        .map(at, pages_of(size) * 4096, prot, backing, VmaKind::Normal)
    {
        Err(Errno::EEXIST) => return Err(Errno::EINVAL),
        r => r?,
    };
    if let Ok(e) = ipc_ns().shm.lock().lookup_mut(shmid) {
        e.obj.atime = now();
        e.obj.lpid = pid(ctx) as i32;
    }
    Ok(start)
}

pub async fn sys_shmdt(ctx: &mut Ctx<'_>, shmaddr: u64) -> KResult<u64> {
    if !shmaddr.is_multiple_of(4096) {
        return Err(Errno::EINVAL);
    }
    let mm = ctx.mm();
    let segment = mm.segment_at(shmaddr).ok_or(Errno::EINVAL)?;
    let Some(a) = segment.downcast_ref::<Attach>() else {
        return Err(Errno::EINVAL);
    };
    let (id, size) = (a.id, a.size);
    // Every piece of this attachment within the segment's size from here (an
    // mprotect may have split it), as Linux's shmdt does.
    let end = shmaddr.saturating_add(pages_of(size) * 4096);
    for (s, e) in mm.segment_areas(&segment, shmaddr, end) {
        mm.unmap(s, e - s)?;
    }
    if let Ok(e) = ipc_ns().shm.lock().lookup_mut(id) {
        e.obj.dtime = now();
        e.obj.lpid = pid(ctx) as i32;
    }
    // The last reference may remove the segment (outside the lock).
    drop(segment);
    Ok(0)
}

fn shmid_ds(perm: &kestrel_ipc::Perm, o: &ShmObj) -> ShmidDs {
    ShmidDs {
        shm_perm: perm.to_abi(),
        shm_segsz: o.size,
        shm_atime: o.atime,
        shm_dtime: o.dtime,
        shm_ctime: o.ctime,
        shm_cpid: o.cpid,
        shm_lpid: o.lpid,
        shm_nattch: o.attach.strong_count() as u64,
        ..ShmidDs::default()
    }
}

pub async fn sys_shmctl(
    ctx: &mut Ctx<'_>,
    shmid: i32,
    cmd: i32,
    buf: UserPtr<ShmidDs>,
) -> KResult<u64> {
    if shmid < 0 || cmd < 0 {
        return Err(Errno::EINVAL);
    }
    let c = creds(ctx);
    let cred = view(&c);
    match cmd {
        IPC_INFO => {
            let info = Shminfo {
                shmmax: shmmax(),
                shmmin: SHMMIN,
                shmmni: max_objects(Kind::Shm) as u64,
                shmseg: max_objects(Kind::Shm) as u64,
                shmall: SHMALL,
                ..Shminfo::default()
            };
            let ret = max_index(&ipc_ns().shm.lock());
            ctx.write(UserPtr::<Shminfo>::new(buf.addr()), &info)?;
            Ok(ret)
        }
        SHM_INFO => {
            let (info, ret) = {
                let ns = ipc_ns();
                let r = ns.shm.lock();
                let info = ShmInfo {
                    used_ids: r.len() as i32,
                    shm_tot: r.iter().map(|(_, e)| pages_of(e.obj.size)).sum(),
                    shm_rss: r.iter().map(|(_, e)| e.obj.pages.resident() as u64).sum(),
                    ..ShmInfo::default()
                };
                (info, max_index(&r))
            };
            ctx.write(UserPtr::<ShmInfo>::new(buf.addr()), &info)?;
            Ok(ret)
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let (ds, ret) = {
                let ns = ipc_ns();
                let r = ns.shm.lock();
                let (id, e) = if cmd == IPC_STAT {
                    (0, r.lookup(shmid)?)
                } else {
                    r.by_index(shmid)?
                };
                if cmd != SHM_STAT_ANY && !e.perm.allows(&cred, READ) {
                    return Err(Errno::EACCES);
                }
                (shmid_ds(&e.perm, &e.obj), id as u64)
            };
            ctx.write(buf, &ds)?;
            Ok(ret)
        }
        IPC_SET => {
            let ds = ctx.read(buf)?;
            let ns = ipc_ns();
            let mut r = ns.shm.lock();
            let e = r.lookup_mut(shmid)?;
            if !e.perm.may_control(&cred) {
                return Err(Errno::EPERM);
            }
            e.perm
                .set(ds.shm_perm.uid, ds.shm_perm.gid, ds.shm_perm.mode);
            e.obj.ctime = now();
            Ok(0)
        }
        IPC_RMID => {
            let gone = {
                let ns = ipc_ns();
                let mut r = ns.shm.lock();
                let e = r.lookup_mut(shmid)?;
                if !e.perm.may_control(&cred) {
                    return Err(Errno::EPERM);
                }
                if e.obj.attach.strong_count() == 0 {
                    Some(r.remove(shmid)?)
                } else {
                    // Gone when the last attachment goes; its key is free now.
                    e.perm.mode |= SHM_DEST;
                    e.perm.key = IPC_PRIVATE;
                    None
                }
            };
            drop(gone);
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            // Nothing is ever swapped out: only the flag changes.
            let ns = ipc_ns();
            let mut r = ns.shm.lock();
            let e = r.lookup_mut(shmid)?;
            if !c.capable(CAP_IPC_LOCK) && !e.perm.may_control(&cred) {
                return Err(Errno::EPERM);
            }
            if cmd == SHM_LOCK {
                e.perm.mode |= SHM_LOCKED;
            } else {
                e.perm.mode &= !SHM_LOCKED;
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---- /proc/sysvipc -----------------------------------------------------------------

/// /proc/sysvipc/msg.
pub fn proc_msg() -> alloc::string::String {
    use core::fmt::Write;
    let mut out = alloc::string::String::from(
        "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n",
    );
    for (id, e) in ipc_ns().msg.lock().iter() {
        let (p, q) = (&e.perm, &e.obj.q);
        let _ = writeln!(
            out,
            "{:10} {:10}  {:4o}  {:10} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}",
            p.key,
            id,
            p.mode,
            q.cbytes,
            q.qnum(),
            q.lspid,
            q.lrpid,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            q.stime,
            q.rtime,
            q.ctime
        );
    }
    out
}

/// /proc/sysvipc/sem.
pub fn proc_sem() -> alloc::string::String {
    use core::fmt::Write;
    let mut out = alloc::string::String::from(
        "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n",
    );
    for (id, e) in ipc_ns().sem.lock().iter() {
        let p = &e.perm;
        let _ = writeln!(
            out,
            "{:10} {:10}  {:4o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}",
            p.key,
            id,
            p.mode,
            e.obj.set.len(),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            e.obj.set.otime,
            e.obj.set.ctime
        );
    }
    out
}

/// /proc/sysvipc/shm.
pub fn proc_shm() -> alloc::string::String {
    use core::fmt::Write;
    let mut out = alloc::string::String::from(
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n",
    );
    for (id, e) in ipc_ns().shm.lock().iter() {
        let (p, o) = (&e.perm, &e.obj);
        let _ = writeln!(
            out,
            "{:10} {:10}  {:4o} {:21} {:5} {:5}  {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10} {:21} {:21}",
            p.key,
            id,
            p.mode,
            o.size,
            o.cpid,
            o.lpid,
            o.attach.strong_count(),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            o.atime,
            o.dtime,
            o.ctime,
            o.pages.resident() * 4096,
            0
        );
    }
    out
}
