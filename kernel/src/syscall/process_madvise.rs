//! process_madvise(2) (Linux 5.10) and process_mrelease(2) (Linux 5.15):
//! madvise on the ranges of an iovec in a process a pidfd names, and
//! hurrying the release of a dying process's memory.
//!
//! process_madvise checks in Linux 6.x's order: flags (EINVAL), the iovec
//! (EINVAL past 1024 entries or a total past `isize::MAX`, EFAULT), the pidfd
//! (EBADF, ESRCH once the process is gone), the right to read its memory as a
//! debugger would (EACCES), and for another process's memory: advice other
//! than MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED and MADV_COLLAPSE (EINVAL),
//! then CAP_SYS_NICE (EPERM). Each range is then advised as madvise(2) does
//! it; the first that fails ends the call, which returns the bytes of the
//! ranges done before it (or its error if none was). MADV_COLD and
//! MADV_PAGEOUT change nothing: Kestrel keeps every page in memory.
//! MADV_COLLAPSE is EINVAL, as on Linux without transparent huge pages.

use alloc::sync::Arc;

use kestrel_abi::cap::CAP_SYS_NICE;
use kestrel_abi::fs::Iovec;
use kestrel_abi::mm::MADV_WILLNEED;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::{Fd, UserPtr};
use super::fs::read_iovecs;
use crate::process::{self, Process};

const PAGE: u64 = 4096;
const MADV_COLD: u32 = 20;
const MADV_PAGEOUT: u32 = 21;
const MADV_COLLAPSE: u32 = 25;

/// The live process `pidfd` names: EBADF for a descriptor that is no pidfd,
/// ESRCH once the process has exited (Linux's pidfd_get_task).
fn pidfd_process(ctx: &Ctx<'_>, pidfd: Fd) -> KResult<Arc<Process>> {
    let file = ctx.file(pidfd)?;
    let p = super::pidfd::process_of(&file).ok_or(Errno::EBADF)?;
    if process::find(p.pid).is_none_or(|q| !Arc::ptr_eq(&q, &p)) {
        return Err(Errno::ESRCH);
    }
    Ok(p)
}

pub async fn sys_process_madvise(
    ctx: &mut Ctx<'_>,
    pidfd: Fd,
    vec: UserPtr<Iovec>,
    vlen: usize,
    advice: i32,
    flags: u32,
) -> KResult<u64> {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let iovs = read_iovecs(ctx, vec, vlen)?;
    let target = pidfd_process(ctx, pidfd)?;
    let me = ctx.process();
    // Its memory is gone once it is a zombie (Linux: no mm, ESRCH).
    if target.state() != process::State::Running {
        return Err(Errno::ESRCH);
    }
    if !super::ptrace::may_access(me, &target) {
        return Err(Errno::EACCES);
    }
    let mm = target.mm();
    let remote = !Arc::ptr_eq(&mm, &ctx.mm());
    let advice = advice as u32;
    if remote
        && !matches!(
            advice,
            MADV_COLD | MADV_PAGEOUT | MADV_WILLNEED | MADV_COLLAPSE
        )
    {
        return Err(Errno::EINVAL);
    }
    if remote && !ctx.capable(CAP_SYS_NICE) {
        return Err(Errno::EPERM);
    }
    let mut done: u64 = 0;
    let mut result = Ok(());
    for iov in &iovs {
        // A length that rounds up to nothing, or a range that wraps: EINVAL
        // (Linux's is_valid_madvise); an empty one is skipped.
        let aligned = iov.len.wrapping_add(PAGE - 1) & !(PAGE - 1);
        if (iov.len != 0 && aligned == 0) || iov.base.checked_add(aligned).is_none() {
            result = Err(Errno::EINVAL);
            break;
        }
        if let Err(e) = super::mm::madvise(&mm, iov.base, iov.len, advice).await {
            result = Err(e);
            break;
        }
        done += iov.len;
    }
    match result {
        Err(e) if done == 0 => Err(e),
        _ => Ok(done),
    }
}

/// process_mrelease(2): for a process that is dying (killed, or exiting) the
/// kernel frees its memory now rather than when its last thread is gone. In
/// Kestrel the dying process's own exit tears its address space down at
/// once, so there is nothing to hurry: 0. A process that is not dying is
/// EINVAL; one whose memory is already gone (a zombie) ESRCH.
pub async fn sys_process_mrelease(ctx: &mut Ctx<'_>, pidfd: Fd, flags: u32) -> KResult<u64> {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let p = pidfd_process(ctx, pidfd)?;
    if p.state() != process::State::Running {
        return Err(Errno::ESRCH);
    }
    if p.exit_status().is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}
