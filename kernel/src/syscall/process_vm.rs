//! process_vm_readv(2) and process_vm_writev(2): copying between the caller's
//! memory and another process's, as a debugger may.

use kestrel_abi::fs::Iovec;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use super::fs::read_iovecs;
use crate::process;

/// Bytes moved through the kernel at a time.
const CHUNK: usize = 4096;

#[allow(clippy::too_many_arguments)]
async fn process_vm_rw(
    ctx: &Ctx<'_>,
    pid: Pid,
    lvec: UserPtr<Iovec>,
    liovcnt: usize,
    rvec: UserPtr<Iovec>,
    riovcnt: usize,
    flags: u64,
    write: bool,
) -> KResult<u64> {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let local = read_iovecs(ctx, lvec, liovcnt)?;
    if local.iter().all(|v| v.len == 0) {
        return Ok(0);
    }
    let remote = read_iovecs(ctx, rvec, riovcnt)?;
    let target = u32::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .and_then(process::find)
        .ok_or(Errno::ESRCH)?;
    let me = ctx.process();
    if !super::ptrace::may_access(me, &target) {
        return Err(Errno::EPERM);
    }
    let (mine, theirs) = (ctx.mm(), target.mm());
    let mut buf = [0u8; CHUNK];
    let mut done: u64 = 0;
    // Walk both lists together, a chunk at a time: (index, offset in it).
    let (mut li, mut loff) = (0usize, 0u64);
    let (mut ri, mut roff) = (0usize, 0u64);
    'copy: loop {
        while li < local.len() && loff == local[li].len {
            (li, loff) = (li + 1, 0);
        }
        while ri < remote.len() && roff == remote[ri].len {
            (ri, roff) = (ri + 1, 0);
        }
        if li == local.len() || ri == remote.len() {
            break;
        }
        let n = (local[li].len - loff)
            .min(remote[ri].len - roff)
            .min(CHUNK as u64) as usize;
        let laddr = local[li].base.wrapping_add(loff);
        let raddr = remote[ri].base.wrapping_add(roff);
        let chunk = &mut buf[..n];
        let moved = if write {
            if mine.read_slice(UserPtr::<u8>::new(laddr), chunk).is_err() {
                break 'copy;
            }
            theirs.access_checked(raddr, chunk, true)
        } else {
            let got = theirs.access_checked(raddr, chunk, false);
            if got > 0
                && mine
                    .write_slice(UserPtr::<u8>::new(laddr), &chunk[..got])
                    .is_err()
            {
                break 'copy;
            }
            got
        };
        done += moved as u64;
        if moved < n {
            break;
        }
        loff += n as u64;
        roff += n as u64;
    }
    // A fault before anything moved is EFAULT; after, the count so far.
    if done == 0 {
        return Err(Errno::EFAULT);
    }
    Ok(done)
}

pub async fn sys_process_vm_readv(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    lvec: UserPtr<Iovec>,
    liovcnt: usize,
    rvec: UserPtr<Iovec>,
    riovcnt: usize,
    flags: u64,
) -> KResult<u64> {
    process_vm_rw(ctx, pid, lvec, liovcnt, rvec, riovcnt, flags, false).await
}

pub async fn sys_process_vm_writev(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    lvec: UserPtr<Iovec>,
    liovcnt: usize,
    rvec: UserPtr<Iovec>,
    riovcnt: usize,
    flags: u64,
) -> KResult<u64> {
    process_vm_rw(ctx, pid, lvec, liovcnt, rvec, riovcnt, flags, true).await
}
