//! NUMA memory policy: set_mempolicy(2), get_mempolicy(2), mbind(2),
//! set_mempolicy_home_node(2), migrate_pages(2) and move_pages(2), as Linux
//! answers them on a machine of one node.
//!
//! Kestrel's machine is node 0, holding all memory and every CPU (the node
//! masks it takes are Linux's with MAX_NUMNODES 64, `CONFIG_NODES_SHIFT=6`).
//! So a policy never changes where a page comes from, and no page ever has
//! another node to move to; what the calls check and what they report are
//! Linux's all the same (mm/mempolicy.c, mm/migrate.c):
//! - the mode, its flags and the node mask are validated as Linux does, and
//!   a mask must name node 0 (or, with MPOL_F_RELATIVE_NODES, any node) for a
//!   mode that needs nodes;
//! - the thread's policy (inherited by fork and clone, kept over execve) and
//!   each area's (split and kept with the area, copied by fork) are what
//!   get_mempolicy reports, with the caller's own mask for
//!   MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES;
//! - move_pages reports node 0 for every present page, and moving one to node
//!   0 leaves it there; other nodes are ENODEV;
//! - migrate_pages finds nothing to move.
//!
//! Shared memory (SysV segments, tmpfs files) keeps its policy in the area, not
//! in the object as Linux does, so two mappings of one segment may differ.

use alloc::sync::Arc;

use kestrel_abi::cap::CAP_SYS_NICE;
use kestrel_abi::mm::*;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::mm::vm::MemPolicy;
use crate::process;

/// Linux's MAX_NUMNODES for the masks Kestrel takes.
const MAX_NUMNODES: u64 = 64;
/// The nodes that exist (and hold memory, and that a task may use): node 0.
const ONLINE: u64 = 1;
const PAGE: u64 = 4096;

/// Splits the mode argument into mode and flags (Linux's sanitize_mpol_flags).
fn split_mode(mode: i32) -> KResult<(u16, u16)> {
    let mode = mode as u32;
    let flags = (mode & u32::from(MPOL_MODE_FLAGS)) as u16;
    let mode = mode & !u32::from(MPOL_MODE_FLAGS);
    if mode >= u32::from(MPOL_MAX) {
        return Err(Errno::EINVAL);
    }
    if flags & MPOL_F_STATIC_NODES != 0 && flags & MPOL_F_RELATIVE_NODES != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MPOL_F_NUMA_BALANCING != 0 && mode != u32::from(MPOL_BIND) {
        return Err(Errno::EINVAL);
    }
    Ok((mode as u16, flags))
}

/// Reads a node mask of `maxnode` bits, as Linux's get_nodes: `maxnode - 1`
/// bits are used (none for a null mask or a `maxnode` of 1); more than a
/// page's worth of bits is EINVAL, and so is any bit set past node 63 in the
/// words holding them.
fn read_nodes(ctx: &Ctx<'_>, mask: UserPtr<u64>, maxnode: u64) -> KResult<u64> {
    let bits = maxnode.wrapping_sub(1);
    if bits == 0 || mask.is_null() {
        return Ok(0);
    }
    if bits > PAGE * 8 {
        return Err(Errno::EINVAL);
    }
    // Linux reads the words past MAX_NUMNODES from the last down, each whole.
    let words = bits.div_ceil(64);
    for w in (1..words).rev() {
        let at = UserPtr::<u64>::new(mask.addr().wrapping_add(w * 8));
        if ctx.read(at)? != 0 {
            return Err(Errno::EINVAL);
        }
    }
    let first = ctx.read(mask)?;
    Ok(if bits < MAX_NUMNODES {
        first & ((1 << bits) - 1)
    } else {
        first
    })
}

/// Writes node mask `nodes` for a caller's mask of `maxnode` bits, as Linux's
/// copy_nodes_to_user: `maxnode - 1` bits rounded up to whole words, the
/// words past the first (the one node word Linux has with one node) cleared,
/// more than a page of them EINVAL.
fn write_nodes(ctx: &Ctx<'_>, mask: UserPtr<u64>, maxnode: u64, nodes: u64) -> KResult<()> {
    let bytes = maxnode.wrapping_sub(1).div_ceil(64) * 8;
    if bytes == 0 {
        return Ok(());
    }
    if bytes > 8 {
        if bytes > PAGE {
            return Err(Errno::EINVAL);
        }
        let mm = ctx.mm();
        let mut w = mm.writer(
            UserPtr::<u8>::new(mask.addr().wrapping_add(8)),
            (bytes - 8) as usize,
        )?;
        if w.zero((bytes - 8) as usize) < (bytes - 8) as usize {
            return Err(Errno::EFAULT);
        }
    }
    ctx.write(mask, &nodes)
}

/// Makes the policy for `mode` and the caller's node mask `nodes` (Linux's
/// mpol_new and mpol_set_nodemask): `None` for MPOL_DEFAULT.
fn new_policy(mode: u16, flags: u16, nodes: u64) -> KResult<Option<MemPolicy>> {
    let user_mask = flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES) != 0;
    let mut mode = mode;
    match mode {
        MPOL_DEFAULT if nodes != 0 => return Err(Errno::EINVAL),
        MPOL_DEFAULT => return Ok(None),
        // An empty preferred set is local allocation.
        MPOL_PREFERRED if nodes == 0 && user_mask => return Err(Errno::EINVAL),
        MPOL_PREFERRED if nodes == 0 => mode = MPOL_LOCAL,
        MPOL_LOCAL if nodes != 0 || user_mask => return Err(Errno::EINVAL),
        MPOL_PREFERRED | MPOL_LOCAL => {}
        _ if nodes == 0 => return Err(Errno::EINVAL),
        _ => {}
    }
    // The nodes the policy resolves to: the mask limited to the nodes there
    // are, or with MPOL_F_RELATIVE_NODES folded onto them (any node of the
    // mask is then the first node there is).
    let resolved = match mode {
        MPOL_LOCAL => 0,
        _ if flags & MPOL_F_RELATIVE_NODES != 0 => ONLINE,
        _ => nodes & ONLINE,
    };
    if mode != MPOL_LOCAL && resolved == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(MemPolicy {
        mode,
        flags,
        home_node: None,
        nodes: if user_mask { nodes } else { resolved },
    }))
}

pub async fn sys_set_mempolicy(
    ctx: &mut Ctx<'_>,
    mode: i32,
    nmask: UserPtr<u64>,
    maxnode: u64,
) -> KResult<u64> {
    let (mode, flags) = split_mode(mode)?;
    let nodes = read_nodes(ctx, nmask, maxnode)?;
    let p = new_policy(mode, flags, nodes)?;
    ctx.thread.set_mempolicy(p);
    Ok(0)
}

pub async fn sys_get_mempolicy(
    ctx: &mut Ctx<'_>,
    policy: UserPtr<i32>,
    nmask: UserPtr<u64>,
    maxnode: u64,
    addr: u64,
    flags: u64,
) -> KResult<u64> {
    // nr_node_ids is 1.
    if !nmask.is_null() && maxnode < 1 {
        return Err(Errno::EINVAL);
    }
    if flags & !(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED) != 0 {
        return Err(Errno::EINVAL);
    }
    let (value, nodes) = if flags & MPOL_F_MEMS_ALLOWED != 0 {
        if flags & (MPOL_F_NODE | MPOL_F_ADDR) != 0 {
            return Err(Errno::EINVAL);
        }
        (0, ONLINE)
    } else {
        // With MPOL_F_ADDR, the area's own policy (MPOL_DEFAULT when it has
        // none: no fallback to the thread's).
        let (pol, own) = if flags & MPOL_F_ADDR != 0 {
            let p = ctx.mm().policy_at(addr).ok_or(Errno::EFAULT)?;
            (p, false)
        } else if addr != 0 {
            return Err(Errno::EINVAL);
        } else {
            (ctx.thread.mempolicy(), true)
        };
        let value = if flags & MPOL_F_NODE != 0 {
            if flags & MPOL_F_ADDR != 0 {
                // The node of the page at `addr`, faulted in for reading.
                let page = addr & !(PAGE - 1);
                ctx.mm()
                    .populate_checked(page, PAGE, false)
                    .await
                    .map_err(|e| if e == Errno::EINTR { e } else { Errno::EFAULT })?;
                0
            } else if own
                && pol.is_some_and(|p| matches!(p.mode, MPOL_INTERLEAVE | MPOL_WEIGHTED_INTERLEAVE))
            {
                // The node the next interleaved allocation takes.
                0
            } else {
                return Err(Errno::EINVAL);
            }
        } else {
            pol.map_or(0, |p| {
                i32::from(p.mode) | i32::from(p.flags & MPOL_MODE_FLAGS)
            })
        };
        // MPOL_LOCAL's nodes are none.
        let nodes = pol.map_or(0, |p| p.nodes);
        (value, nodes)
    };
    if !policy.is_null() {
        ctx.write(policy, &value)?;
    }
    if !nmask.is_null() {
        write_nodes(ctx, nmask, maxnode, nodes)?;
    }
    Ok(0)
}

/// The page-aligned range of mbind and set_mempolicy_home_node: EINVAL for
/// an unaligned start or a range that wraps; `None` when it is empty.
fn policy_range(start: u64, len: u64) -> KResult<Option<(u64, u64)>> {
    if !start.is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    let len = len.wrapping_add(PAGE - 1) & !(PAGE - 1);
    let end = start.wrapping_add(len);
    if end < start {
        return Err(Errno::EINVAL);
    }
    Ok((end > start).then_some((start, end)))
}

pub async fn sys_mbind(
    ctx: &mut Ctx<'_>,
    start: u64,
    len: u64,
    mode: u64,
    nmask: UserPtr<u64>,
    maxnode: u64,
    flags: u32,
) -> KResult<u64> {
    let (mode, mode_flags) = split_mode(mode as i32)?;
    let nodes = read_nodes(ctx, nmask, maxnode)?;
    if flags & !(MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MPOL_MF_MOVE_ALL != 0 && !ctx.capable(CAP_SYS_NICE) {
        return Err(Errno::EPERM);
    }
    let Some((start, end)) = policy_range(start, len)? else {
        return Ok(0);
    };
    let policy = new_policy(mode, mode_flags, nodes)?;
    let mm = ctx.mm();
    // A page present on a node outside the mask: with MPOL_MF_STRICT alone,
    // EIO (moving it would put it on node 0 again). Only a mask without node 0
    // (MPOL_F_RELATIVE_NODES) can leave node 0 out.
    let strict = flags & MPOL_MF_STRICT != 0 && mode != MPOL_DEFAULT;
    let misplaced = strict && nodes & ONLINE == 0 && mm.resident_in(start, end) > 0;
    mm.set_policy(start, end, policy, policy.is_none())?;
    if misplaced && flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) == 0 {
        return Err(Errno::EIO);
    }
    Ok(0)
}

pub async fn sys_set_mempolicy_home_node(
    ctx: &mut Ctx<'_>,
    start: u64,
    len: u64,
    home_node: u64,
    flags: u64,
) -> KResult<u64> {
    if !start.is_multiple_of(PAGE) || flags != 0 {
        return Err(Errno::EINVAL);
    }
    if home_node >= MAX_NUMNODES || ONLINE & (1 << home_node) == 0 {
        return Err(Errno::EINVAL);
    }
    let Some((start, end)) = policy_range(start, len)? else {
        return Ok(0);
    };
    ctx.mm().set_home_node(start, end, home_node as u16)?;
    Ok(0)
}

/// The process whose memory migrate_pages and move_pages act on (0: the
/// caller's): ESRCH, or EPERM without the right to read its memory (Linux's
/// PTRACE_MODE_READ_REALCREDS).
fn target(ctx: &Ctx<'_>, pid: Pid) -> KResult<Arc<process::Process>> {
    if pid == 0 {
        return Ok(ctx.process().clone());
    }
    let p = u32::try_from(pid)
        .ok()
        .and_then(process::find)
        .ok_or(Errno::ESRCH)?;
    if !super::ptrace::may_access(ctx.process(), &p) {
        return Err(Errno::EPERM);
    }
    Ok(p)
}

pub async fn sys_migrate_pages(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    maxnode: u64,
    old_nodes: UserPtr<u64>,
    new_nodes: UserPtr<u64>,
) -> KResult<u64> {
    read_nodes(ctx, old_nodes, maxnode)?;
    let new = read_nodes(ctx, new_nodes, maxnode)?;
    target(ctx, pid)?;
    if new & !ONLINE != 0 && !ctx.capable(CAP_SYS_NICE) {
        return Err(Errno::EPERM);
    }
    if new & ONLINE == 0 {
        return Err(Errno::EINVAL);
    }
    // Every page is on node 0 already: none left behind.
    Ok(0)
}

/// Pages move_pages looks at between two yields, as Linux's chunks of 16.
const MOVE_CHUNK: u64 = 16;

pub async fn sys_move_pages(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    count: u64,
    pages: UserPtr<u64>,
    nodes: UserPtr<i32>,
    status: UserPtr<i32>,
    flags: i32,
) -> KResult<u64> {
    let flags = flags as u32;
    if flags & !(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MPOL_MF_MOVE_ALL != 0 && !ctx.capable(CAP_SYS_NICE) {
        return Err(Errno::EPERM);
    }
    let theirs = target(ctx, pid)?.mm();
    for i in 0..count {
        let at = |base: u64, size: u64| base.wrapping_add(i.wrapping_mul(size));
        let addr: u64 = ctx.read(UserPtr::new(at(pages.addr(), 8)))?;
        let addr = addr & !(PAGE - 1);
        if !nodes.is_null() {
            let node: i32 = ctx.read(UserPtr::new(at(nodes.addr(), 4)))?;
            if node < 0 || node as u64 >= MAX_NUMNODES || ONLINE & (1 << node) == 0 {
                return Err(Errno::ENODEV);
            }
        }
        // Linux gives EFAULT outside every area and ENOENT for a page not
        // present; a present page is on node 0, where a move leaves it.
        let st = match theirs.page_present(addr) {
            None => -(Errno::EFAULT as i32),
            Some(false) => -(Errno::ENOENT as i32),
            Some(true) => 0,
        };
        ctx.write(UserPtr::new(at(status.addr(), 4)), &st)?;
        if (i + 1).is_multiple_of(MOVE_CHUNK) {
            kestrel_executor::yield_now().await;
        }
    }
    Ok(0)
}
