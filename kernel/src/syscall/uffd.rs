//! userfaultfd(2): the system call; the file and the faults are
//! [`crate::fs::userfaultfd`]'s and the memory manager's.

use kestrel_abi::KResult;
use kestrel_abi::cap::CAP_SYS_PTRACE;

use super::Ctx;

pub async fn sys_userfaultfd(ctx: &mut Ctx<'_>, flags: u32) -> KResult<u64> {
    let privileged =
        flags & crate::fs::userfaultfd::UFFD_USER_MODE_ONLY == 0 && ctx.capable(CAP_SYS_PTRACE);
    crate::fs::userfaultfd::userfaultfd(flags, privileged)
}
