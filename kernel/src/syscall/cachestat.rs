//! cachestat(2) (Linux 6.5): how much of a range of a file is in memory.
//!
//! The counts come from the file's inode ([`kestrel_vfs::Inode::cachestat`]): a
//! tmpfs file's pages are its content (never dirty, as Linux's shmem pages);
//! an ext2 file's pages are cached when its page cache or the block
//! cache under the file system holds them (see docs/storage.md); pipes,
//! sockets and devices have none. Kestrel does not remember evicted pages, so
//! `nr_evicted` and `nr_recently_evicted` are always 0.
//!
//! The checks are in Linux's order: the descriptor (EBADF, O_PATH included),
//! the range read (EFAULT), the caller's right to learn about the file (EPERM:
//! opened for writing, or owned, or writable by the caller: Linux 6.14's
//! `can_do_cachestat`, which the host kernels the tests run on have), the flags
//! (EINVAL), then the result written (EFAULT).

use kestrel_abi::cap::CAP_FOWNER;
use kestrel_abi::fs::{Cachestat, CachestatRange, O_PATH};
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::inode::{access, may_access};

use super::Ctx;
use super::args::{Fd, UserPtr};

const PAGE_SHIFT: u32 = 12;
/// The most pages one call looks at (4 GiB of file from the range's start):
/// a huge sparse file would otherwise cost a lookup per block.
const MAX_PAGES: u64 = 1 << 20;

pub async fn sys_cachestat(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    range: UserPtr<CachestatRange>,
    out: UserPtr<Cachestat>,
    flags: u32,
) -> KResult<u64> {
    let f = ctx.file(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    // Huge page files have no page cache to count (Linux: EOPNOTSUPP first).
    if f.inode()
        .is_some_and(|i| crate::fs::hugetlbfs::HugeFile::of(i).is_some())
    {
        return Err(Errno::EOPNOTSUPP);
    }
    let r = ctx.read(range)?;
    if let Some(inode) = f.inode()
        && !f.writable()
    {
        let m = inode.metadata();
        let c = ctx.process().cred.lock().clone();
        let owner = c.fsuid == m.uid || c.capable(CAP_FOWNER);
        if !owner && !may_access(&m, &c.fs_cred(), access::WRITE) {
            return Err(Errno::EPERM);
        }
    }
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let first = r.off >> PAGE_SHIFT;
    let last = if r.len == 0 {
        u64::MAX
    } else {
        r.off.wrapping_add(r.len).wrapping_sub(1) >> PAGE_SHIFT
    };
    let cs = match f.inode() {
        Some(inode) if first <= last => {
            let last = last.min(first.saturating_add(MAX_PAGES - 1));
            inode.cachestat(first, last).await
        }
        _ => Cachestat::default(),
    };
    ctx.write(out, &cs)?;
    Ok(0)
}
