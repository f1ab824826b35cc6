//! The LSM system calls (Linux 6.8): lsm_list_modules, lsm_get_self_attr,
//! lsm_set_self_attr.
//!
//! Kestrel's security modules are Linux's "capability" (the capability
//! checks every kernel has) and Landlock (syscall/landlock.rs). Neither keeps
//! process attributes (LSM_ATTR_CURRENT and the others belong to SELinux,
//! AppArmor and Smack), so the attribute calls check their arguments as
//! Linux's security_getselfattr and security_setselfattr do and then find no
//! module to answer: EOPNOTSUPP, as Linux with the same modules gives.
//! /sys/kernel/security/lsm lists the same modules (fs/sysfs.rs).

use kestrel_abi::le::u64_at;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;

/// The active modules in Linux's order (capability is always first) with
/// their LSM_ID_* numbers.
pub const ACTIVE: [(u64, &str); 2] = [(100, "capability"), (110, "landlock")];

/// The contents of /sys/kernel/security/lsm: the names, comma-separated, no
/// newline (as Linux's lsm_read gives them).
pub fn names() -> alloc::string::String {
    ACTIVE
        .iter()
        .map(|(_, n)| *n)
        .collect::<alloc::vec::Vec<_>>()
        .join(",")
}

const LSM_FLAG_SINGLE: u32 = 1;
/// `struct lsm_ctx`'s header: id, flags, len, ctx_len.
const LSM_CTX_HEADER: usize = 32;

/// lsm_list_modules(ids, size, flags): the active modules' ids. The size
/// needed is written back before it is checked (E2BIG when short).
pub async fn sys_lsm_list_modules(
    ctx: &mut Ctx<'_>,
    ids: UserPtr<u64>,
    size: UserPtr<u32>,
    flags: u32,
) -> KResult<u64> {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let total = (ACTIVE.len() * 8) as u32;
    let room: u32 = ctx.read(size)?;
    ctx.write(size, &total)?;
    if room < total {
        return Err(Errno::E2BIG);
    }
    let list: [u64; ACTIVE.len()] = core::array::from_fn(|i| ACTIVE[i].0);
    ctx.mm().write_slice(ids, &list)?;
    Ok(ACTIVE.len() as u64)
}

/// lsm_get_self_attr(attr, ctx, size, flags): no active module keeps process
/// attributes, so after Linux's checks (EINVAL for attribute 0, a NULL size,
/// flags other than LSM_FLAG_SINGLE, SINGLE without a module id; EFAULT) the
/// total written back is 0 and the answer EOPNOTSUPP.
pub async fn sys_lsm_get_self_attr(
    ctx: &mut Ctx<'_>,
    attr: u32,
    uctx: UserPtr<u64>,
    size: UserPtr<u32>,
    flags: u32,
) -> KResult<u64> {
    if attr == 0 || size.is_null() {
        return Err(Errno::EINVAL);
    }
    let _room: u32 = ctx.read(size)?;
    if flags != 0 {
        if flags != LSM_FLAG_SINGLE || uctx.is_null() {
            return Err(Errno::EINVAL);
        }
        let id: u64 = ctx.read(uctx)?;
        if id == 0 {
            return Err(Errno::EINVAL);
        }
    }
    ctx.write(size, &0u32)?;
    Err(Errno::EOPNOTSUPP)
}

/// lsm_set_self_attr(attr, ctx, size, flags): the context is checked as
/// security_setselfattr does (EINVAL for flags, a size below the header or
/// lengths that disagree; E2BIG past a page; EFAULT), and then no active
/// module takes it: EOPNOTSUPP.
pub async fn sys_lsm_set_self_attr(
    ctx: &mut Ctx<'_>,
    _attr: u32,
    uctx: UserPtr<u8>,
    size: u32,
    flags: u32,
) -> KResult<u64> {
    let size = size as usize;
    if flags != 0 || size < LSM_CTX_HEADER {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut h = [0u8; LSM_CTX_HEADER];
    ctx.mm().reader(uctx, size)?.read_exact(&mut h)?;
    let (len, ctx_len) = (u64_at(&h, 16), u64_at(&h, 24));
    let header = LSM_CTX_HEADER as u64;
    if (size as u64) < len
        || (size as u64) < ctx_len.saturating_add(header)
        || len < ctx_len.saturating_add(header)
    {
        return Err(Errno::EINVAL);
    }
    Err(Errno::EOPNOTSUPP)
}
