//! The kernel key retention service: add_key(2), request_key(2), keyctl(2),
//! as Linux has them (keyrings(7)).
//!
//! The rules live in [`kestrel_keys`]; this file copies strings and payloads
//! in before it takes a lock and results out after, and keeps each process's
//! keyrings ([`ProcKeyrings`]): the session keyring (inherited by fork and
//! kept across execve), the process keyring (shared by its threads, not
//! inherited, dropped by execve), a keyring per thread (dropped by execve) and
//! the request_key default. Locks: a process's `keyrings`, then [`KEYS`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::cap::CAP_SYS_ADMIN;
use kestrel_abi::{Errno, KResult};
use kestrel_keys::{Caller, KEY_DESC_MAX, KEY_TYPE_MAX, Keys, PAYLOAD_MAX, Serial, Slots};

use super::args::*;
use super::{Ctx, zeroed_vec};
use crate::process::Process;

/// Every key in the system.
static KEYS: spin::Mutex<Keys> = spin::Mutex::new(Keys::new(0x9e37_79b9));

/// Whether the serial numbers have been seeded from the random pool.
static SEEDED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// /proc/sys/kernel/keys/gc_delay and persistent_keyring_expiry: kept for
/// programs that set them (keys are collected at once; there are no
/// persistent keyrings).
static GC_DELAY: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(300);
static PERSISTENT_EXPIRY: core::sync::atomic::AtomicU32 =
    core::sync::atomic::AtomicU32::new(259_200);

/// A process's keyrings: each serial here holds a reference on its key.
#[derive(Default)]
pub struct ProcKeyrings {
    session: Option<Serial>,
    process: Option<Serial>,
    /// Thread keyrings by tid (one goes when its thread ends or the process execs).
    threads: BTreeMap<u32, Serial>,
    reqkey: i32,
}

impl Drop for ProcKeyrings {
    fn drop(&mut self) {
        let held: Vec<Serial> = self
            .session
            .take()
            .into_iter()
            .chain(self.process.take())
            .chain(core::mem::take(&mut self.threads).into_values())
            .collect();
        if !held.is_empty() {
            let mut keys = KEYS.lock();
            for s in held {
                keys.put(s);
            }
        }
    }
}

/// fork: the child shares its parent's session keyring and request_key
/// default; it has no process or thread keyring of its own yet.
pub fn fork(parent: &Process, child: &Process) {
    let (session, reqkey) = {
        let pk = parent.keyrings.lock();
        (pk.session, pk.reqkey)
    };
    let mut ck = child.keyrings.lock();
    if let Some(s) = session {
        KEYS.lock().get(s);
        ck.session = Some(s);
    }
    ck.reqkey = reqkey;
}

/// clone(CLONE_THREAD): a new thread whose creator has a thread keyring gets
/// a new one of its own (as Linux's copy_creds gives it).
pub fn new_thread(creator: &crate::process::Thread, tid: u32) {
    let p = &creator.process;
    let mut pk = p.keyrings.lock();
    let Some(&t) = pk.threads.get(&creator.tid()) else {
        return;
    };
    let cred = p.cred.lock().clone();
    let caller = caller_of(&cred);
    let slots = Slots {
        thread: Some(t),
        ..Slots::default()
    };
    if let Some(s) = KEYS.lock().new_thread(&slots, &caller).thread {
        pk.threads.insert(tid, s);
    }
}

fn caller_of(cred: &crate::process::Credentials) -> Caller<'_> {
    Caller {
        ruid: cred.uid,
        fsuid: cred.fsuid,
        fsgid: cred.fsgid,
        groups: &cred.groups,
        sys_admin: cred.capable(CAP_SYS_ADMIN),
        now_ns: crate::time::now_ns(),
    }
}

/// A thread has ended: its thread keyring goes.
pub fn thread_exited(p: &Process, tid: u32) {
    let t = p.keyrings.lock().threads.remove(&tid);
    if let Some(t) = t {
        KEYS.lock().put(t);
    }
}

/// execve: the thread and process keyrings go; the session stays.
pub fn exec(p: &Process) {
    let mut pk = p.keyrings.lock();
    let held: Vec<Serial> = pk
        .process
        .take()
        .into_iter()
        .chain(core::mem::take(&mut pk.threads).into_values())
        .collect();
    drop(pk);
    let mut keys = KEYS.lock();
    for s in held {
        keys.put(s);
    }
}

/// Runs `f` on the key table with the calling thread's keyrings and
/// credentials, and keeps what it did to the keyrings.
fn with_keys<R>(
    ctx: &Ctx<'_>,
    f: impl FnOnce(&mut Keys, &mut Slots, &Caller) -> KResult<R>,
) -> KResult<R> {
    let p = ctx.process();
    let cred = p.cred.lock().clone();
    let caller = caller_of(&cred);
    let tid = ctx.thread.tid();
    let mut pk = p.keyrings.lock();
    let mut slots = Slots {
        thread: pk.threads.get(&tid).copied(),
        process: pk.process,
        session: pk.session,
        reqkey: pk.reqkey,
    };
    let mut keys = KEYS.lock();
    if !SEEDED.swap(true, core::sync::atomic::Ordering::Relaxed) {
        // Serial numbers are random, as Linux's are: not the same each boot.
        let mut b = [0u8; 4];
        crate::random::fill(&mut b);
        keys.reseed(u32::from_ne_bytes(b));
    }
    let r = f(&mut keys, &mut slots, &caller);
    drop(keys);
    match slots.thread {
        Some(s) => {
            pk.threads.insert(tid, s);
        }
        None => {
            pk.threads.remove(&tid);
        }
    }
    pk.process = slots.process;
    pk.session = slots.session;
    pk.reqkey = slots.reqkey;
    r
}

/// Reads a key type name (at most 31 bytes; EPERM for the kernel's own).
fn read_type(ctx: &Ctx<'_>, s: UserCStr) -> KResult<Vec<u8>> {
    let t = read_str(ctx, s, KEY_TYPE_MAX - 1)?;
    kestrel_keys::check_type_name(&t)?;
    Ok(t)
}

/// Reads a string argument: EFAULT, or EINVAL when longer than `max`.
fn read_str(ctx: &Ctx<'_>, s: UserCStr, max: usize) -> KResult<Vec<u8>> {
    ctx.mm().read_cstr(s, max).map_err(|e| match e {
        Errno::ENAMETOOLONG => Errno::EINVAL,
        e => e,
    })
}

/// Reads a payload of `len` bytes (at most PAYLOAD_MAX: EINVAL).
fn read_payload(ctx: &Ctx<'_>, ptr: u64, len: usize) -> KResult<Vec<u8>> {
    if len > PAYLOAD_MAX {
        return Err(Errno::EINVAL);
    }
    let mut v = zeroed_vec::<u8>(len)?;
    if len > 0 {
        ctx.mm().read_slice(UserPtr::<u8>::new(ptr), &mut v)?;
    }
    Ok(v)
}

pub async fn sys_add_key(
    ctx: &mut Ctx<'_>,
    ktype: UserCStr,
    desc: UserCStr,
    payload: UserPtr<u8>,
    plen: usize,
    ringid: i32,
) -> KResult<u64> {
    if plen > PAYLOAD_MAX {
        return Err(Errno::EINVAL);
    }
    let t = read_type(ctx, ktype)?;
    let d = if desc.is_null() {
        None
    } else {
        let d = read_str(ctx, desc, KEY_DESC_MAX)?;
        if d.is_empty() {
            None
        } else {
            // Keyrings named ".…" are the kernel's.
            if d[0] == b'.' && t.starts_with(b"keyring") {
                return Err(Errno::EPERM);
            }
            Some(d)
        }
    };
    let data = read_payload(ctx, payload.addr(), plen)?;
    let s = with_keys(ctx, |k, sl, c| {
        k.add_key(sl, c, &t, d.as_deref(), data, ringid)
    })?;
    Ok(s as u64)
}

pub async fn sys_request_key(
    ctx: &mut Ctx<'_>,
    ktype: UserCStr,
    desc: UserCStr,
    callout: UserCStr,
    destid: i32,
) -> KResult<u64> {
    let t = read_type(ctx, ktype)?;
    let d = read_str(ctx, desc, KEY_DESC_MAX)?;
    let has_callout = if callout.is_null() {
        false
    } else {
        read_str(ctx, callout, 4096)?;
        true
    };
    let s = with_keys(ctx, |k, sl, c| {
        k.request_key(sl, c, &t, &d, has_callout, destid)
    })?;
    Ok(s as u64)
}

const KEYCTL_GET_KEYRING_ID: i32 = 0;
const KEYCTL_JOIN_SESSION_KEYRING: i32 = 1;
const KEYCTL_UPDATE: i32 = 2;
const KEYCTL_REVOKE: i32 = 3;
const KEYCTL_CHOWN: i32 = 4;
const KEYCTL_SETPERM: i32 = 5;
const KEYCTL_DESCRIBE: i32 = 6;
const KEYCTL_CLEAR: i32 = 7;
const KEYCTL_LINK: i32 = 8;
const KEYCTL_UNLINK: i32 = 9;
const KEYCTL_SEARCH: i32 = 10;
const KEYCTL_READ: i32 = 11;
const KEYCTL_INSTANTIATE: i32 = 12;
const KEYCTL_NEGATE: i32 = 13;
const KEYCTL_SET_REQKEY_KEYRING: i32 = 14;
const KEYCTL_SET_TIMEOUT: i32 = 15;
const KEYCTL_ASSUME_AUTHORITY: i32 = 16;
const KEYCTL_GET_SECURITY: i32 = 17;
const KEYCTL_SESSION_TO_PARENT: i32 = 18;
const KEYCTL_REJECT: i32 = 19;
const KEYCTL_INSTANTIATE_IOV: i32 = 20;
const KEYCTL_INVALIDATE: i32 = 21;
const KEYCTL_RESTRICT_KEYRING: i32 = 29;

/// Copies `data` out as KEYCTL_DESCRIBE and GET_SECURITY do: all of it if the
/// buffer is large enough, nothing otherwise; the length either way.
fn copy_whole(ctx: &Ctx<'_>, buf: u64, buflen: usize, data: &[u8]) -> KResult<u64> {
    if buf != 0 && buflen >= data.len() {
        ctx.mm().write_slice(UserPtr::<u8>::new(buf), data)?;
    }
    Ok(data.len() as u64)
}

pub async fn sys_keyctl(
    ctx: &mut Ctx<'_>,
    cmd: i32,
    arg2: u64,
    arg3: u64,
    arg4: u64,
    arg5: u64,
) -> KResult<u64> {
    // Key ids, uids, gids and permissions are C ints: the low 32 bits.
    let id = arg2 as u32 as i32;
    match cmd {
        KEYCTL_GET_KEYRING_ID => {
            let create = arg3 as u32 != 0;
            with_keys(ctx, |k, sl, c| k.get_keyring_id(sl, c, id, create)).map(|s| s as u64)
        }
        KEYCTL_JOIN_SESSION_KEYRING => {
            let name = if arg2 == 0 {
                None
            } else {
                Some(read_str(ctx, UserCStr::new(arg2), KEY_DESC_MAX)?)
            };
            with_keys(ctx, |k, sl, c| k.join_session(sl, c, name.as_deref())).map(|s| s as u64)
        }
        KEYCTL_UPDATE => {
            // An update carries at most a page (add_key takes up to 1 MiB).
            if arg4 as usize > 4096 {
                return Err(Errno::EINVAL);
            }
            let data = read_payload(ctx, arg3, arg4 as usize)?;
            with_keys(ctx, |k, sl, c| k.update(sl, c, id, data)).map(|()| 0)
        }
        KEYCTL_REVOKE => with_keys(ctx, |k, sl, c| k.revoke(sl, c, id)).map(|()| 0),
        KEYCTL_CHOWN => {
            let (uid, gid) = (arg3 as u32, arg4 as u32);
            with_keys(ctx, |k, sl, c| k.chown(sl, c, id, uid, gid)).map(|()| 0)
        }
        KEYCTL_SETPERM => {
            let perm = arg3 as u32;
            with_keys(ctx, |k, sl, c| k.setperm(sl, c, id, perm)).map(|()| 0)
        }
        KEYCTL_DESCRIBE => {
            let text = with_keys(ctx, |k, sl, c| k.describe(sl, c, id))?;
            copy_whole(ctx, arg3, arg4 as usize, &text)
        }
        KEYCTL_CLEAR => with_keys(ctx, |k, sl, c| k.clear(sl, c, id)).map(|()| 0),
        KEYCTL_LINK => {
            let ring = arg3 as u32 as i32;
            with_keys(ctx, |k, sl, c| k.link(sl, c, id, ring)).map(|()| 0)
        }
        KEYCTL_UNLINK => {
            let ring = arg3 as u32 as i32;
            with_keys(ctx, |k, sl, c| k.unlink(sl, c, id, ring)).map(|()| 0)
        }
        KEYCTL_SEARCH => {
            let t = read_type(ctx, UserCStr::new(arg3))?;
            let d = read_str(ctx, UserCStr::new(arg4), KEY_DESC_MAX)?;
            let dest = arg5 as u32 as i32;
            with_keys(ctx, |k, sl, c| k.search(sl, c, id, &t, &d, dest)).map(|s| s as u64)
        }
        KEYCTL_READ => {
            let data = with_keys(ctx, |k, sl, c| k.read(sl, c, id))?;
            // A short buffer gets what fits (its contents are unspecified).
            let n = data.len().min(arg4 as usize);
            if arg3 != 0 && n > 0 {
                ctx.mm().write_slice(UserPtr::<u8>::new(arg3), &data[..n])?;
            }
            Ok(data.len() as u64)
        }
        KEYCTL_INSTANTIATE | KEYCTL_INSTANTIATE_IOV => {
            // Only a request_key upcall may instantiate, and none runs.
            if cmd == KEYCTL_INSTANTIATE && arg4 as usize > PAYLOAD_MAX {
                return Err(Errno::EINVAL);
            }
            Err(Errno::EPERM)
        }
        KEYCTL_NEGATE => Err(Errno::EPERM),
        KEYCTL_REJECT => {
            let error = arg4 as u32;
            if error == 0 || error >= 4096 || error == 512 {
                return Err(Errno::EINVAL);
            }
            Err(Errno::EPERM)
        }
        KEYCTL_SET_REQKEY_KEYRING => {
            with_keys(ctx, |k, sl, c| k.set_reqkey(sl, c, id)).map(|o| o as u64)
        }
        KEYCTL_SET_TIMEOUT => {
            let t = arg3 as u32;
            with_keys(ctx, |k, sl, c| k.set_timeout(sl, c, id, t)).map(|()| 0)
        }
        KEYCTL_ASSUME_AUTHORITY => match id {
            0 => Ok(0),
            i if i < 0 => Err(Errno::EINVAL),
            _ => Err(Errno::ENOKEY),
        },
        KEYCTL_GET_SECURITY => {
            let text = with_keys(ctx, |k, sl, c| k.get_security(sl, c, id))?;
            copy_whole(ctx, arg3, arg4 as usize, &text)
        }
        KEYCTL_SESSION_TO_PARENT => session_to_parent(ctx),
        KEYCTL_INVALIDATE => with_keys(ctx, |k, sl, c| k.invalidate(sl, c, id)).map(|()| 0),
        KEYCTL_RESTRICT_KEYRING => {
            let t = if arg3 == 0 {
                None
            } else {
                Some(read_type(ctx, UserCStr::new(arg3))?)
            };
            if arg4 != 0 {
                read_str(ctx, UserCStr::new(arg4), 4096)?;
            }
            with_keys(ctx, |k, sl, c| k.restrict(sl, c, id, t.as_deref())).map(|()| 0)
        }
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// KEYCTL_SESSION_TO_PARENT: the parent takes the caller's session keyring.
/// Linux applies it when the parent next returns to user space; Kestrel at
/// once. The parent must not be init, must be single-threaded and must have
/// the caller's effective ids throughout.
fn session_to_parent(ctx: &Ctx<'_>) -> KResult<u64> {
    let ses = with_keys(ctx, |k, sl, c| {
        let (s, _) = k.lookup(
            sl,
            c,
            kestrel_keys::KEY_SPEC_SESSION_KEYRING,
            0,
            kestrel_keys::Need::Perm(kestrel_keys::KEY_LINK),
        )?;
        Ok(s)
    })?;
    let me = ctx.process();
    let parent: Arc<Process> = me.parent().ok_or(Errno::EPERM)?;
    if parent.pid <= 1 || parent.threads.lock().len() != 1 {
        return Err(Errno::EPERM);
    }
    {
        let (m, pc) = (me.cred.lock().clone(), parent.cred.lock().clone());
        let same = [pc.uid, pc.euid, pc.suid].iter().all(|&u| u == m.euid)
            && [pc.gid, pc.egid, pc.sgid].iter().all(|&g| g == m.egid);
        if !same {
            return Err(Errno::EPERM);
        }
    }
    let mut pk = parent.keyrings.lock();
    if pk.session == Some(ses) {
        return Ok(0);
    }
    let mut keys = KEYS.lock();
    keys.get(ses);
    if let Some(old) = pk.session.replace(ses) {
        keys.put(old);
    }
    Ok(0)
}

/// /proc/keys: the keys the reading process may view.
pub fn proc_keys() -> String {
    let Some(t) = crate::process::current_thread() else {
        return String::new();
    };
    let p = &t.process;
    let cred = p.cred.lock().clone();
    let caller = caller_of(&cred);
    let pk = p.keyrings.lock();
    let slots = Slots {
        thread: pk.threads.get(&t.tid()).copied(),
        process: pk.process,
        session: pk.session,
        reqkey: pk.reqkey,
    };
    KEYS.lock().proc_keys(&slots, &caller)
}

/// /proc/key-users.
pub fn proc_key_users() -> String {
    KEYS.lock().proc_key_users()
}

/// The /proc/sys/kernel/keys files.
#[derive(Clone, Copy)]
pub enum Sysctl {
    GcDelay,
    MaxBytes,
    MaxKeys,
    PersistentExpiry,
    RootMaxBytes,
    RootMaxKeys,
}

pub const SYSCTLS: &[(&str, Sysctl)] = &[
    ("gc_delay", Sysctl::GcDelay),
    ("maxbytes", Sysctl::MaxBytes),
    ("maxkeys", Sysctl::MaxKeys),
    ("persistent_keyring_expiry", Sysctl::PersistentExpiry),
    ("root_maxbytes", Sysctl::RootMaxBytes),
    ("root_maxkeys", Sysctl::RootMaxKeys),
];

pub fn sysctl_get(which: Sysctl) -> i128 {
    use core::sync::atomic::Ordering::Relaxed;
    let l = KEYS.lock().limits;
    match which {
        Sysctl::GcDelay => GC_DELAY.load(Relaxed).into(),
        Sysctl::MaxBytes => l.maxbytes as i128,
        Sysctl::MaxKeys => l.maxkeys as i128,
        Sysctl::PersistentExpiry => PERSISTENT_EXPIRY.load(Relaxed).into(),
        Sysctl::RootMaxBytes => l.root_maxbytes as i128,
        Sysctl::RootMaxKeys => l.root_maxkeys as i128,
    }
}

/// Sets one: 0 to INT_MAX, as Linux's proc_dointvec_minmax bounds them.
pub fn sysctl_set(which: Sysctl, v: i128) -> KResult<()> {
    use core::sync::atomic::Ordering::Relaxed;
    let v = u32::try_from(v)
        .ok()
        .filter(|&v| v <= i32::MAX as u32)
        .ok_or(Errno::EINVAL)?;
    let mut keys = KEYS.lock();
    let l = &mut keys.limits;
    match which {
        Sysctl::GcDelay => GC_DELAY.store(v, Relaxed),
        Sysctl::MaxBytes => l.maxbytes = v as usize,
        Sysctl::MaxKeys => l.maxkeys = v as usize,
        Sysctl::PersistentExpiry => PERSISTENT_EXPIRY.store(v, Relaxed),
        Sysctl::RootMaxBytes => l.root_maxbytes = v as usize,
        Sysctl::RootMaxKeys => l.root_maxkeys = v as usize,
    }
    Ok(())
}
