//! Credentials: user and group ids, supplementary groups, capabilities
//! (credentials(7), setresuid(2), capabilities(7)).

use alloc::vec::Vec;

use kestrel_abi::cap::*;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::process::Credentials;

const NGROUPS_MAX: usize = 65_536;
/// -1: "leave unchanged".
const KEEP: u32 = u32::MAX;

/// Applies `change` to the caller's credentials, then the capability rules.
fn update(ctx: &Ctx<'_>, change: impl FnOnce(&mut Credentials) -> KResult<()>) -> KResult<u64> {
    let p = ctx.process();
    let mut c = p.cred.lock();
    let old = c.clone();
    let mut new = old.clone();
    change(&mut new)?;
    new.fix_caps_after_uid_change(&old);
    *c = new;
    Ok(0)
}

pub async fn sys_setuid(ctx: &mut Ctx<'_>, uid: Id) -> KResult<u64> {
    if uid == KEEP {
        return Err(Errno::EINVAL);
    }
    update(ctx, |c| {
        if c.capable(CAP_SETUID) {
            (c.uid, c.euid, c.suid, c.fsuid) = (uid, uid, uid, uid);
        } else if uid == c.uid || uid == c.suid {
            (c.euid, c.fsuid) = (uid, uid);
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    })
}

pub async fn sys_setgid(ctx: &mut Ctx<'_>, gid: Id) -> KResult<u64> {
    if gid == KEEP {
        return Err(Errno::EINVAL);
    }
    update(ctx, |c| {
        if c.capable(CAP_SETGID) {
            (c.gid, c.egid, c.sgid, c.fsgid) = (gid, gid, gid, gid);
        } else if gid == c.gid || gid == c.sgid {
            (c.egid, c.fsgid) = (gid, gid);
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    })
}

pub async fn sys_setreuid(ctx: &mut Ctx<'_>, r: Id, e: Id) -> KResult<u64> {
    update(ctx, |c| {
        let privileged = c.capable(CAP_SETUID);
        let (old_r, old_e) = (c.uid, c.euid);
        if r != KEEP {
            if !privileged && r != c.uid && r != c.euid {
                return Err(Errno::EPERM);
            }
            c.uid = r;
        }
        if e != KEEP {
            if !privileged && e != old_r && e != old_e && e != c.suid {
                return Err(Errno::EPERM);
            }
            c.euid = e;
        }
        // setreuid(2): the saved id follows the new effective one when the real id
        // is set or the effective one becomes something other than the old real id.
        if r != KEEP || (e != KEEP && e != old_r) {
            c.suid = c.euid;
        }
        c.fsuid = c.euid;
        Ok(())
    })
}

pub async fn sys_setregid(ctx: &mut Ctx<'_>, r: Id, e: Id) -> KResult<u64> {
    update(ctx, |c| {
        let privileged = c.capable(CAP_SETGID);
        let (old_r, old_e) = (c.gid, c.egid);
        if r != KEEP {
            if !privileged && r != c.gid && r != c.egid {
                return Err(Errno::EPERM);
            }
            c.gid = r;
        }
        if e != KEEP {
            if !privileged && e != old_r && e != old_e && e != c.sgid {
                return Err(Errno::EPERM);
            }
            c.egid = e;
        }
        if r != KEEP || (e != KEEP && e != old_r) {
            c.sgid = c.egid;
        }
        c.fsgid = c.egid;
        Ok(())
    })
}

pub async fn sys_setresuid(ctx: &mut Ctx<'_>, ruid: Id, euid: Id, suid: Id) -> KResult<u64> {
    let ids = [ruid, euid, suid];
    update(ctx, |c| {
        let current = [c.uid, c.euid, c.suid];
        if !c.capable(CAP_SETUID) && ids.iter().any(|&v| v != KEEP && !current.contains(&v)) {
            return Err(Errno::EPERM);
        }
        let pick = |new: u32, old: u32| if new == KEEP { old } else { new };
        (c.uid, c.euid, c.suid) = (
            pick(ids[0], c.uid),
            pick(ids[1], c.euid),
            pick(ids[2], c.suid),
        );
        c.fsuid = c.euid;
        Ok(())
    })
}

pub async fn sys_setresgid(ctx: &mut Ctx<'_>, rgid: Id, egid: Id, sgid: Id) -> KResult<u64> {
    let ids = [rgid, egid, sgid];
    update(ctx, |c| {
        let current = [c.gid, c.egid, c.sgid];
        if !c.capable(CAP_SETGID) && ids.iter().any(|&v| v != KEEP && !current.contains(&v)) {
            return Err(Errno::EPERM);
        }
        let pick = |new: u32, old: u32| if new == KEEP { old } else { new };
        (c.gid, c.egid, c.sgid) = (
            pick(ids[0], c.gid),
            pick(ids[1], c.egid),
            pick(ids[2], c.sgid),
        );
        c.fsgid = c.egid;
        Ok(())
    })
}

fn write_ids(ctx: &Ctx<'_>, ptrs: [UserPtr<u32>; 3], ids: [u32; 3]) -> KResult<u64> {
    for (p, v) in ptrs.iter().zip(ids) {
        ctx.write(*p, &v)?;
    }
    Ok(0)
}

pub async fn sys_getresuid(
    ctx: &mut Ctx<'_>,
    ruid: UserPtr<u32>,
    euid: UserPtr<u32>,
    suid: UserPtr<u32>,
) -> KResult<u64> {
    let c = ctx.process().cred.lock().clone();
    write_ids(ctx, [ruid, euid, suid], [c.uid, c.euid, c.suid])
}

pub async fn sys_getresgid(
    ctx: &mut Ctx<'_>,
    rgid: UserPtr<u32>,
    egid: UserPtr<u32>,
    sgid: UserPtr<u32>,
) -> KResult<u64> {
    let c = ctx.process().cred.lock().clone();
    write_ids(ctx, [rgid, egid, sgid], [c.gid, c.egid, c.sgid])
}

/// setfsuid(2) always returns the previous fsuid and silently ignores an id it may
/// not set.
pub async fn sys_setfsuid(ctx: &mut Ctx<'_>, uid: Id) -> KResult<u64> {
    let p = ctx.process();
    let mut c = p.cred.lock();
    let old = c.clone();
    if uid != KEEP && (c.capable(CAP_SETUID) || [c.uid, c.euid, c.suid, c.fsuid].contains(&uid)) {
        c.fsuid = uid;
        let prev = old.clone();
        c.fix_caps_after_uid_change(&prev);
    }
    Ok(u64::from(old.fsuid))
}

pub async fn sys_setfsgid(ctx: &mut Ctx<'_>, gid: Id) -> KResult<u64> {
    let p = ctx.process();
    let mut c = p.cred.lock();
    let old = c.fsgid;
    if gid != KEEP && (c.capable(CAP_SETGID) || [c.gid, c.egid, c.sgid, c.fsgid].contains(&gid)) {
        c.fsgid = gid;
    }
    Ok(u64::from(old))
}

pub async fn sys_getgroups(ctx: &mut Ctx<'_>, size: i32, list: UserPtr<u32>) -> KResult<u64> {
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    let groups = ctx.process().cred.lock().groups.clone();
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    ctx.mm().write_slice(list, &groups)?;
    Ok(groups.len() as u64)
}

pub async fn sys_setgroups(ctx: &mut Ctx<'_>, size: i32, list: UserPtr<u32>) -> KResult<u64> {
    // A negative size is EINVAL too (Linux compares it as unsigned).
    let size = size as u32 as usize;
    if size > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    if !ctx.capable(CAP_SETGID) {
        return Err(Errno::EPERM);
    }
    let mut groups: Vec<u32> = super::zeroed_vec(size)?;
    ctx.mm().read_slice(list, &mut groups)?;
    groups.sort_unstable();
    ctx.process().cred.lock().groups = groups;
    Ok(0)
}

/// Reads a capability header: (version, pid, how many 32-bit data structs). An
/// unknown version is answered with the preferred one written back and EINVAL.
fn cap_header(
    ctx: &Ctx<'_>,
    hdr: UserPtr<[u32; 2]>,
    data: UserPtr<u32>,
) -> KResult<Option<(i32, usize)>> {
    let h: [u32; 2] = ctx.read(hdr)?;
    let n = match h[0] {
        LINUX_CAPABILITY_VERSION_1 => 1,
        LINUX_CAPABILITY_VERSION_2 | LINUX_CAPABILITY_VERSION_3 => 2,
        _ => {
            ctx.write(hdr.cast(), &LINUX_CAPABILITY_VERSION_3)?;
            return if data.is_null() {
                Ok(None)
            } else {
                Err(Errno::EINVAL)
            };
        }
    };
    Ok(Some((h[1] as i32, n)))
}

pub async fn sys_capget(
    ctx: &mut Ctx<'_>,
    hdr: UserPtr<[u32; 2]>,
    data: UserPtr<u32>,
) -> KResult<u64> {
    let Some((pid, n)) = cap_header(ctx, hdr, data)? else {
        return Ok(0);
    };
    // A negative pid is EINVAL (Linux's capget), a pid no task has ESRCH.
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let p = if pid == 0 {
        ctx.process().clone()
    } else {
        crate::process::find(pid as u32).ok_or(Errno::ESRCH)?
    };
    if data.is_null() {
        return Ok(0);
    }
    let c = p.cred.lock().clone();
    let mut out = [0u32; 6];
    for i in 0..n {
        for (j, set) in [c.cap_effective, c.cap_permitted, c.cap_inheritable]
            .into_iter()
            .enumerate()
        {
            out[3 * i + j] = (set >> (32 * i)) as u32;
        }
    }
    ctx.mm().write_slice(data, &out[..3 * n])?;
    Ok(0)
}

pub async fn sys_capset(
    ctx: &mut Ctx<'_>,
    hdr: UserPtr<[u32; 2]>,
    data: UserPtr<u32>,
) -> KResult<u64> {
    let Some((pid, n)) = cap_header(ctx, hdr, data)? else {
        return Err(Errno::EINVAL);
    };
    if pid != 0 && pid as u32 != ctx.process().pid {
        return Err(Errno::EPERM);
    }
    let mut raw = [0u32; 6];
    ctx.mm().read_slice(data, &mut raw[..3 * n])?;
    let mut sets = [0u64; 3];
    for i in 0..n {
        for (j, s) in sets.iter_mut().enumerate() {
            *s |= u64::from(raw[3 * i + j]) << (32 * i);
        }
    }
    let [effective, permitted, inheritable] = sets;
    let p = ctx.process();
    let mut c = p.cred.lock();
    // Linux's cap_capset, in its order: the inheritable set grows only within
    // the permitted one (unless CAP_SETPCAP) and never past the bounding set;
    // the permitted set only shrinks; the effective set stays within it.
    if !c.capable(kestrel_abi::cap::CAP_SETPCAP)
        && inheritable & !(c.cap_inheritable | c.cap_permitted) != 0
    {
        return Err(Errno::EPERM);
    }
    if inheritable & !(c.cap_inheritable | c.cap_bounding) != 0 {
        return Err(Errno::EPERM);
    }
    if permitted & !c.cap_permitted != 0 || effective & !permitted != 0 {
        return Err(Errno::EPERM);
    }
    (c.cap_effective, c.cap_permitted, c.cap_inheritable) = (effective, permitted, inheritable);
    Ok(0)
}
