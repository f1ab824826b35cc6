//! Memory: brk, mmap, munmap, mprotect.

use alloc::sync::Arc;

use kestrel_abi::fs::*;
use kestrel_abi::mm::*;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::fs::hugetlbfs::HugeFile;
use crate::mm::huge::HPAGE_SIZE;
use crate::mm::vm::{Backing, OnFork, Placement, SharedPages, VmaKind, WritableMapping};
use kestrel_usermem::UserRange;

pub async fn sys_brk(ctx: &mut Ctx<'_>, brk: u64) -> KResult<u64> {
    // brk(2) never fails as a system call: it returns the (possibly unchanged) break.
    Ok(ctx.mm().brk(brk))
}

/// Where mmap's flags give a huge page size (its log2), with MAP_HUGETLB.
const MAP_HUGE_SHIFT: u32 = 26;
const MAP_HUGE_MASK: u32 = 0x3f;

pub async fn sys_mmap(
    ctx: &mut Ctx<'_>,
    addr: u64,
    len: u64,
    prot: u32,
    flags: u32,
    fd: Fd,
    offset: u64,
) -> KResult<u64> {
    let off = offset;
    if !off.is_multiple_of(4096) {
        return Err(Errno::EINVAL);
    }
    // The descriptor is looked up before the length is checked (Linux's
    // ksys_mmap_pgoff, then do_mmap): a closed fd is EBADF even with length 0.
    if flags & MAP_ANONYMOUS == 0 {
        ctx.file(fd)?;
    }
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    // MAP_LOCKED needs the right to lock memory (EPERM), before anything is
    // mapped.
    let lock_limit = if flags & MAP_LOCKED != 0 {
        Some(memlock_limit(ctx)?)
    } else {
        None
    };
    let mut deny_write = false;
    let mut deny_exec = false;
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
        return Err(Errno::EINVAL);
    }
    let shared = match flags & MAP_TYPE {
        MAP_SHARED | MAP_SHARED_VALIDATE => true,
        MAP_PRIVATE => false,
        _ => return Err(Errno::EINVAL),
    };
    if flags & MAP_TYPE == MAP_SHARED_VALIDATE {
        let known = MAP_TYPE
            | MAP_FIXED
            | MAP_ANONYMOUS
            | MAP_GROWSDOWN
            | MAP_DENYWRITE
            | MAP_EXECUTABLE
            | MAP_LOCKED
            | MAP_NORESERVE
            | MAP_POPULATE
            | MAP_NONBLOCK
            | MAP_STACK
            | MAP_HUGETLB
            | (MAP_HUGE_MASK << MAP_HUGE_SHIFT)
            | MAP_FIXED_NOREPLACE;
        if flags & !known != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
    }
    if len.checked_add(4095).is_none() {
        return Err(Errno::ENOMEM);
    }
    let huge_file = if flags & MAP_ANONYMOUS == 0 {
        let file = ctx.file(fd)?;
        file.inode()
            .is_some_and(|i| HugeFile::of(i).is_some())
            .then_some(file)
    } else {
        None
    };
    // Huge pages (MAP_HUGETLB, or a hugetlbfs/MFD_HUGETLB file): the length
    // is rounded up to 2 MiB (Linux's ksys_mmap_pgoff), MAP_FIXED wants a
    // 2 MiB-aligned address (EINVAL, before any page is reserved); another
    // file with MAP_HUGETLB is EINVAL.
    let huge = flags & MAP_HUGETLB != 0 || huge_file.is_some();
    if flags & MAP_HUGETLB != 0 && flags & MAP_ANONYMOUS == 0 && huge_file.is_none() {
        return Err(Errno::EINVAL);
    }
    if flags & MAP_HUGETLB != 0 && flags & MAP_ANONYMOUS != 0 {
        // MAP_HUGE_2MB or the default size; any other is EINVAL.
        let log = (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
        if log != 0 && log != 21 {
            return Err(Errno::EINVAL);
        }
    }
    let len = if huge {
        len.checked_next_multiple_of(HPAGE_SIZE)
            .ok_or(Errno::ENOMEM)?
    } else {
        len
    };
    if huge && flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 && !addr.is_multiple_of(HPAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let mut name = None;
    let backing = if let Some(file) = huge_file {
        name = file.dentry().cloned();
        huge_file_backing(&file, off, len, prot, shared)?
    } else if flags & MAP_ANONYMOUS != 0 && flags & MAP_HUGETLB != 0 {
        // Pages reserved from the pool now (ENOMEM when it has too few); a
        // private mapping's pages are its own after fork (copy-on-write).
        let pages = SharedPages::new_huge(!shared);
        pages.reserve_huge(0, len / HPAGE_SIZE)?;
        Backing::SharedAnonymous {
            pages: Arc::new(pages),
            offset: 0,
            segment: None,
        }
    } else if flags & MAP_ANONYMOUS != 0 {
        if shared {
            Backing::SharedAnonymous {
                pages: Arc::new(SharedPages::default()),
                offset: 0,
                segment: None,
            }
        } else {
            Backing::Anonymous
        }
    } else {
        let file = ctx.file(fd)?;
        if file.flags() & O_PATH != 0 {
            return Err(Errno::EBADF);
        }
        if let Some(b) = super::io_uring::mmap_backing(&file, off, len) {
            b?
        } else if let Some(b) = super::socket::packet_mmap_backing(&file, off, len) {
            b?
        } else if let Some(b) = crate::perf::mmap_backing(
            &file,
            off,
            len,
            prot & PROT_WRITE != 0,
            shared,
            ctx.capable(kestrel_abi::cap::CAP_IPC_LOCK),
        ) {
            b?
        } else {
            let inode = file.inode().cloned().ok_or(Errno::ENODEV)?;
            let m = inode.metadata();
            let is_zero = m.file_type() == S_IFCHR && m.rdev == makedev(1, 5);
            // Only files with content to map: /dev/zero and ramfs files, not procfs
            // files, which read like regular files.
            let mappable = is_zero || (m.is_regular() && inode.mappable());
            if !mappable {
                return Err(Errno::ENODEV);
            }
            if !file.readable() {
                return Err(Errno::EACCES);
            }
            if shared && prot & PROT_WRITE != 0 && !file.writable() {
                return Err(Errno::EACCES);
            }
            // A file on a noexec mount is never mapped executable (Linux's
            // do_mmap): EPERM now, EACCES from a later mprotect.
            deny_exec = file
                .dentry()
                .is_some_and(|d| d.mnt().get() & kestrel_abi::fs::MS_NOEXEC != 0);
            if prot & PROT_EXEC != 0 && deny_exec {
                return Err(Errno::EPERM);
            }
            if is_zero {
                // Shared from a descriptor without write access, the mapping may
                // never become writable (Linux clears VM_MAYWRITE).
                deny_write = shared && !file.writable();
                if shared {
                    Backing::SharedAnonymous {
                        pages: Arc::new(SharedPages::default()),
                        offset: 0,
                        segment: None,
                    }
                } else {
                    Backing::Anonymous
                }
            } else if shared {
                // Pages fault in on use (awaiting the disk for a disk file),
                // except those MAP_POPULATE or MAP_LOCKED want present now.
                if flags & (MAP_POPULATE | MAP_LOCKED) != 0 {
                    inode.load_pages(off, len).await?;
                }
                name = file.dentry().cloned();
                file.accessed(); // generic_file_mmap's file_accessed
                // A file sealed against writes cannot be mapped shared for writing;
                // mapped read-only, the mapping may never write it (memfd_create(2)).
                let sealed = inode
                    .seals()
                    .is_ok_and(|s| s & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0);
                if sealed && prot & PROT_WRITE != 0 {
                    return Err(Errno::EPERM);
                }
                let writer =
                    (file.writable() && !sealed).then(|| WritableMapping::new(inode.clone()));
                Backing::SharedFile {
                    inode,
                    offset: off,
                    held: Default::default(),
                    _writer: writer,
                }
            } else {
                name = file.dentry().cloned();
                file.accessed(); // generic_file_mmap's file_accessed
                // Pages fault in on use, each the file's own page until written
                // (a disk file's page awaits the disk first).
                if flags & (MAP_POPULATE | MAP_LOCKED) != 0 {
                    inode.load_pages(off, len).await?;
                }
                Backing::file(inode, off)
            }
        }
    };
    let kind = if flags & MAP_GROWSDOWN != 0 {
        VmaKind::Stack
    } else {
        VmaKind::Normal
    };
    let mm = ctx.mm();
    let at = if flags & MAP_FIXED != 0 {
        Placement::Fixed(addr)
    } else if flags & MAP_FIXED_NOREPLACE != 0 {
        Placement::FixedNoReplace(addr)
    } else {
        Placement::Hint(addr)
    };
    // What MAP_FIXED replaces is unmapped: a userfaultfd with
    // UFFD_FEATURE_EVENT_UNMAP registered there hears of it.
    let uffd = match at {
        Placement::Fixed(a) => crate::fs::userfaultfd::unmap_watchers(&mm, a, len),
        _ => alloc::vec::Vec::new(),
    };
    let at = mm.map(at, len, prot, backing, kind)?;
    if !uffd.is_empty() {
        crate::fs::userfaultfd::send_unmap(uffd, at, len).await;
    }
    if let Some(d) = name {
        mm.name_area(at, d);
    }
    if deny_write {
        mm.deny_write(at);
    }
    if deny_exec {
        mm.deny_exec(at);
    }
    if let Some(limit) = lock_limit {
        // Locked and populated now; past RLIMIT_MEMLOCK the mapping is undone
        // and the call fails with EAGAIN (Linux's mlock_future_ok).
        let end = at + len.next_multiple_of(4096);
        if let Err(e) = mm.mlock(at, end, true, limit, false) {
            let _ = mm.unmap(at, end - at);
            return Err(if e == Errno::ENOMEM { Errno::EAGAIN } else { e });
        }
    }
    if flags & MAP_POPULATE != 0 {
        // A megabyte at a time, letting other tasks run in between.
        let mut rest = UserRange::new(at, len as usize)?;
        while !rest.is_empty() {
            let (now, later) = rest.split_at(1 << 20);
            mm.populate(now, prot & PROT_WRITE != 0 && !shared);
            rest = later;
            kestrel_executor::yield_now().await;
        }
    }
    // perf events that record mappings hear of a file's (one flag load
    // without events).
    crate::perf::mmap_made(ctx.thread, &mm, at);
    Ok(at)
}

/// The backing of a mapping of the huge page file `file` from `off` (2 MiB
/// aligned, EINVAL otherwise) for `len` bytes (whole huge pages): the file's
/// own pages for MAP_SHARED, pages of its own filled with the file's content
/// for MAP_PRIVATE, reserved from the pool now (ENOMEM). A writable mapping
/// grows the file to cover itself, as Linux's hugetlbfs_file_mmap.
fn huge_file_backing(
    file: &kestrel_vfs::OpenFile,
    off: u64,
    len: u64,
    prot: u32,
    shared: bool,
) -> KResult<Backing> {
    if file.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let inode = file.inode().ok_or(Errno::ENODEV)?;
    let hf = HugeFile::of(inode).ok_or(Errno::ENODEV)?;
    if !off.is_multiple_of(HPAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    if !file.readable() {
        return Err(Errno::EACCES);
    }
    if shared && prot & PROT_WRITE != 0 && !file.writable() {
        return Err(Errno::EACCES);
    }
    let end = off.checked_add(len).ok_or(Errno::EOVERFLOW)?;
    let first = off / HPAGE_SIZE;
    let count = len / HPAGE_SIZE;
    let backing = if shared {
        hf.reserve(first, count)?;
        Backing::SharedAnonymous {
            pages: hf.pages.clone(),
            offset: off,
            segment: None,
        }
    } else {
        let own = SharedPages::new_huge(true);
        own.reserve_huge(0, count)?;
        // The file's content as it is now, a page at a time.
        let mut buf = alloc::vec![0u8; 4096];
        let mut at = 0;
        while at < len {
            hf.pages.read_bytes(off + at, &mut buf);
            own.write_bytes(at, &buf);
            at += 4096;
        }
        Backing::SharedAnonymous {
            pages: Arc::new(own),
            offset: 0,
            segment: None,
        }
    };
    if prot & PROT_WRITE != 0 {
        hf.grow_to(end);
    }
    Ok(backing)
}

pub async fn sys_munmap(ctx: &mut Ctx<'_>, addr: u64, len: u64) -> KResult<u64> {
    let mm = ctx.mm();
    let uffd = crate::fs::userfaultfd::unmap_watchers(&mm, addr, len);
    mm.unmap(addr, len)?;
    if !uffd.is_empty() {
        crate::fs::userfaultfd::send_unmap(uffd, addr, len).await;
    }
    Ok(0)
}

pub async fn sys_mprotect(ctx: &mut Ctx<'_>, addr: u64, len: u64, prot: u32) -> KResult<u64> {
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
        return Err(Errno::EINVAL);
    }
    ctx.mm()
        .protect(addr, len, prot & (PROT_READ | PROT_WRITE | PROT_EXEC))
        .map(|_| 0)
}

/// PKEY_DISABLE_ACCESS | PKEY_DISABLE_WRITE.
const PKEY_ACCESS_MASK: u64 = 3;

/// pkey_alloc(2): a free protection key of the 16 (key 0 is the default of
/// every page and always taken), with its rights in the calling thread's PKRU
/// set to `access_rights`. On a CPU without protection keys only key 0
/// exists, so this is ENOSPC, as on Linux.
pub async fn sys_pkey_alloc(ctx: &mut Ctx<'_>, flags: u64, access_rights: u64) -> KResult<u64> {
    use core::sync::atomic::Ordering;
    if flags != 0 || access_rights & !PKEY_ACCESS_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    if !crate::arch::cpu::features().pku {
        return Err(Errno::ENOSPC);
    }
    let mm = ctx.mm();
    let mut map = mm.pkeys.load(Ordering::Acquire);
    let key = loop {
        let key = (!map).trailing_zeros();
        if key >= 16 {
            return Err(Errno::ENOSPC);
        }
        match mm
            .pkeys
            .compare_exchange(map, map | 1 << key, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => break key,
            Err(now) => map = now,
        }
    };
    // The rights of key k are PKRU bits 2k (access disable) and 2k+1 (write
    // disable), in force at once (for the kernel's copies too).
    let shift = 2 * key;
    let old = ctx.thread.pkru.load(Ordering::Relaxed);
    ctx.thread
        .set_pkru((old & !(3 << shift)) | ((access_rights as u32) << shift));
    Ok(u64::from(key))
}

/// pkey_free(2): EINVAL unless `pkey` is allocated; key 0, the default of
/// every page, is allocated but can never be freed (Linux's mm_pkey_free),
/// so pkey_alloc never gives it out. Pages keep the key; PKRU is left as it
/// is.
pub async fn sys_pkey_free(ctx: &mut Ctx<'_>, pkey: i32) -> KResult<u64> {
    let mm = ctx.mm();
    if pkey == 0 || !mm.pkey_allocated(pkey) {
        return Err(Errno::EINVAL);
    }
    mm.pkeys
        .fetch_and(!(1 << pkey), core::sync::atomic::Ordering::AcqRel);
    Ok(0)
}

/// mseal(2) (Linux 6.10): seals the areas of `[start, start + len)` against
/// being unmapped, moved, resized, mapped over, given another protection, or
/// (read-only private anonymous ones) having their pages discarded by
/// madvise; each of those is then EPERM. Checks in Linux's order: flags
/// (EINVAL), a start not page-aligned (EINVAL), a length that wraps when
/// rounded up to pages or a range that wraps (EINVAL), len 0 (nothing to
/// do), then a hole in the range (ENOMEM, nothing sealed).
pub async fn sys_mseal(ctx: &mut Ctx<'_>, start: u64, len: u64, flags: u64) -> KResult<u64> {
    if flags != 0 || !start.is_multiple_of(4096) {
        return Err(Errno::EINVAL);
    }
    let aligned = len.wrapping_add(4095) & !4095;
    if len != 0 && aligned == 0 {
        return Err(Errno::EINVAL);
    }
    let end = start.checked_add(aligned).ok_or(Errno::EINVAL)?;
    if end == start {
        return Ok(0);
    }
    ctx.mm().seal(start, end)?;
    Ok(0)
}

/// pkey_mprotect(2): mprotect that also gives the pages protection key
/// `pkey` (-1: keep each area's key, which is mprotect itself).
pub async fn sys_pkey_mprotect(
    ctx: &mut Ctx<'_>,
    addr: u64,
    len: u64,
    prot: u32,
    pkey: i32,
) -> KResult<u64> {
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
        return Err(Errno::EINVAL);
    }
    let key = match pkey {
        -1 => None,
        k if (0..16).contains(&k) => Some(k as u8),
        _ => {
            // Not a key that can be allocated: EINVAL after the address checks.
            if !addr.is_multiple_of(4096) {
                return Err(Errno::EINVAL);
            }
            if len == 0 {
                return Ok(0);
            }
            return Err(Errno::EINVAL);
        }
    };
    ctx.mm()
        .protect_key(addr, len, prot & (PROT_READ | PROT_WRITE | PROT_EXEC), key)
        .map(|_| 0)
}

pub async fn sys_mremap(
    ctx: &mut Ctx<'_>,
    old: u64,
    old_len: u64,
    new_len: u64,
    flags: u32,
    new_addr: u64,
) -> KResult<u64> {
    // MREMAP_DONTUNMAP moves the pages and leaves the old range mapped and
    // empty; it needs MREMAP_MAYMOVE and an unchanged length.
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
        || (flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0)
        || (flags & MREMAP_DONTUNMAP != 0 && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len))
    {
        return Err(Errno::EINVAL);
    }
    let fixed = (flags & MREMAP_FIXED != 0).then_some(new_addr);
    let dont_unmap = (flags & MREMAP_DONTUNMAP != 0).then_some(new_addr);
    let mm = ctx.mm();
    let uffd = crate::fs::userfaultfd::RemapEvents::new(
        &mm,
        old,
        old_len,
        new_len,
        fixed,
        dont_unmap.is_some(),
    );
    let to = mm.remap(
        old,
        old_len,
        new_len,
        flags & MREMAP_MAYMOVE != 0,
        fixed,
        dont_unmap,
    )?;
    uffd.send(to).await;
    Ok(to)
}

pub async fn sys_madvise(ctx: &mut Ctx<'_>, addr: u64, len: u64, advice: u32) -> KResult<u64> {
    madvise(&ctx.mm(), addr, len, advice).await.map(|()| 0)
}

/// madvise(2) on the address space `mm` (the caller's, or another process's
/// through process_madvise(2)).
pub(super) async fn madvise(
    mm: &Arc<crate::mm::vm::AddressSpace>,
    addr: u64,
    len: u64,
    advice: u32,
) -> KResult<()> {
    // Linux's order: the advice, the address's alignment, then a length that
    // wraps once rounded up to pages (EINVAL), then nothing to do for 0.
    if !advice_valid(advice) || !addr.is_multiple_of(4096) {
        return Err(Errno::EINVAL);
    }
    if len
        .checked_next_multiple_of(4096)
        .is_none_or(|l| addr.checked_add(l).is_none())
    {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(());
    }
    // Advice that discards pages (DONTNEED, FREE, REMOVE, DONTFORK,
    // WIPEONFORK, DONTNEED_LOCKED) may not drop a sealed read-only anonymous
    // area's (mseal(2)).
    if matches!(advice, MADV_DONTNEED | MADV_FREE | 9 | 10 | 18 | 24) {
        mm.check_discard_sealed(addr, len)?;
    }
    match advice {
        // Pages are dropped; MADV_FREE may drop them lazily, Kestrel does it at
        // once. MADV_DONTNEED_LOCKED (24) drops locked pages as well.
        MADV_DONTNEED | MADV_FREE | 24 => {
            // A userfaultfd with UFFD_FEATURE_EVENT_REMOVE hears of it first.
            crate::fs::userfaultfd::send_remove(mm, addr, len).await;
            mm.discard(addr, len, advice == MADV_FREE, advice == 24)
        }
        // What fork gives the child (MADV_DONTFORK, DOFORK, WIPEONFORK, KEEPONFORK).
        10 => mm.set_on_fork(addr, len, OnFork::Copy, OnFork::Skip),
        11 => mm.set_on_fork(addr, len, OnFork::Skip, OnFork::Copy),
        18 => mm.set_on_fork(addr, len, OnFork::Copy, OnFork::Wipe),
        19 => mm.set_on_fork(addr, len, OnFork::Wipe, OnFork::Copy),
        // MADV_DONTDUMP, MADV_DODUMP: left out of core dumps, or back in.
        16 | 17 => mm.set_dont_dump(addr, len, advice == 16),
        // The file pages of the range are read in the background (a disk
        // file's; in-memory ones are there), as Linux starts read-ahead.
        MADV_WILLNEED => {
            mm.check_mapped(addr, len)?;
            let mut budget: u64 = 32 << 20;
            for (inode, off, n) in mm.file_ranges(addr, len) {
                let n = n.min(budget);
                if n == 0 {
                    break;
                }
                budget -= n;
                crate::task::spawn("madvise-willneed", async move {
                    let _ = inode.load_pages(off, n).await;
                })
                .detach();
            }
            Ok(())
        }
        // MADV_POPULATE_READ, MADV_POPULATE_WRITE: the pages are faulted in
        // now, as reads or as writes (breaking copy-on-write).
        22 | 23 => mm
            .populate_checked(addr, len, advice == 23)
            .await
            .map(|_| ()),
        // Hints Kestrel does not act on, but accepts as Linux does.
        MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL | 10..=17 | 18..=21 => {
            mm.check_mapped(addr, len).map(|_| ())
        }
        _ => Err(Errno::EINVAL),
    }
}

/// The advice values Linux 6.8 accepts built as Kestrel is (madvise_behavior_valid):
/// no KSM (MADV_MERGEABLE/UNMERGEABLE), no memory-failure injection
/// (MADV_HWPOISON, MADV_SOFT_OFFLINE), no transparent huge pages to collapse
/// (MADV_COLLAPSE); MADV_HUGEPAGE and MADV_NOHUGEPAGE are taken as hints.
fn advice_valid(advice: u32) -> bool {
    matches!(advice, 0..=4 | 8..=11 | 14..=24)
}

pub async fn sys_msync(ctx: &mut Ctx<'_>, addr: u64, len: u64, flags: u32) -> KResult<u64> {
    if !addr.is_multiple_of(4096)
        || flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
        || (flags & MS_ASYNC != 0 && flags & MS_SYNC != 0)
    {
        return Err(Errno::EINVAL);
    }
    let end = ctx.mm().check_mapped(addr, len)?;
    // Locked pages cannot be dropped: MS_INVALIDATE on them is EBUSY.
    if flags & MS_INVALIDATE != 0 && ctx.mm().any_locked(addr, end) {
        return Err(Errno::EBUSY);
    }
    // Shared file mappings are the file's own pages, so MS_ASYNC has nothing to
    // do (Linux's since 2.6.19: writeback finds them); MS_SYNC writes them to the
    // disk, as fsync of each file mapped in the range.
    if flags & MS_SYNC != 0 {
        for inode in ctx.mm().shared_files(addr, len) {
            inode.fsync(false).await?;
        }
    }
    Ok(0)
}

pub async fn sys_mincore(ctx: &mut Ctx<'_>, addr: u64, len: u64, vec: UserPtr<u8>) -> KResult<u64> {
    let mm = ctx.mm();
    let end = mm.check_mapped(addr, len)?;
    let pages = ((end - addr) / 4096) as usize;
    let mut out = mm.writer(vec, pages)?;
    // A page of answers at a time: the length is the program's choice.
    let mut buf = [0u8; 512];
    let mut at = addr;
    while out.remaining() > 0 {
        let n = out.remaining().min(buf.len());
        mm.residency(at, &mut buf[..n]);
        out.write_all(&buf[..n])?;
        at += n as u64 * 4096;
        if out.remaining() > 0 {
            kestrel_executor::yield_now().await;
        }
    }
    Ok(0)
}

/// The RLIMIT_MEMLOCK a lock is held to: `None` with CAP_IPC_LOCK; EPERM when the
/// limit is 0 without it (Linux's can_do_mlock).
fn memlock_limit(ctx: &Ctx<'_>) -> KResult<Option<u64>> {
    use kestrel_abi::process::RLIMIT_MEMLOCK;
    if ctx.capable(kestrel_abi::cap::CAP_IPC_LOCK) {
        return Ok(None);
    }
    match ctx.process().rlimit(RLIMIT_MEMLOCK) {
        0 => Err(Errno::EPERM),
        limit => Ok(Some(limit)),
    }
}

/// The page-aligned range mlock and munlock act on: from `addr`'s page to the
/// end of the page holding its last byte (EINVAL if that wraps).
fn lock_range(addr: u64, len: u64) -> KResult<(u64, u64)> {
    let start = addr & !4095;
    let end = addr
        .checked_add(len)
        .and_then(|e| e.checked_add(4095))
        .map(|e| e & !4095)
        .ok_or(Errno::EINVAL)?;
    Ok((start, end))
}

async fn do_mlock(ctx: &Ctx<'_>, addr: u64, len: u64, on_fault: bool) -> KResult<u64> {
    let limit = memlock_limit(ctx)?;
    let (start, end) = lock_range(addr, len)?;
    if start == end {
        return Ok(0);
    }
    ctx.mm().mlock(start, end, true, limit, on_fault)?;
    Ok(0)
}

pub async fn sys_mlock(ctx: &mut Ctx<'_>, addr: u64, len: u64) -> KResult<u64> {
    do_mlock(ctx, addr, len, false).await
}

/// mlock2(2): with MLOCK_ONFAULT the range is locked but its pages are made
/// present only as they are touched (mincore shows only those).
pub async fn sys_mlock2(ctx: &mut Ctx<'_>, addr: u64, len: u64, flags: u32) -> KResult<u64> {
    if flags & !MLOCK_ONFAULT != 0 {
        return Err(Errno::EINVAL);
    }
    do_mlock(ctx, addr, len, flags & MLOCK_ONFAULT != 0).await
}

pub async fn sys_munlock(ctx: &mut Ctx<'_>, addr: u64, len: u64) -> KResult<u64> {
    let (start, end) = lock_range(addr, len)?;
    if start == end {
        return Ok(0);
    }
    ctx.mm().mlock(start, end, false, None, false)?;
    Ok(0)
}

pub async fn sys_mlockall(ctx: &mut Ctx<'_>, flags: u32) -> KResult<u64> {
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT
    {
        return Err(Errno::EINVAL);
    }
    let limit = memlock_limit(ctx)?;
    ctx.mm().mlockall(
        flags & MCL_CURRENT != 0,
        flags & MCL_FUTURE != 0,
        limit,
        flags & MCL_ONFAULT != 0,
    )?;
    Ok(0)
}

pub async fn sys_munlockall(ctx: &mut Ctx<'_>) -> KResult<u64> {
    ctx.mm().munlockall();
    Ok(0)
}

/// remap_file_pages(2): deprecated, emulated as Linux does (a new mapping of
/// the file at `pgoff`); `prot` must be 0 and `flags` 0 or MAP_NONBLOCK.
pub async fn sys_remap_file_pages(
    ctx: &mut Ctx<'_>,
    start: u64,
    size: u64,
    prot: u64,
    pgoff: u64,
    flags: u64,
) -> KResult<u64> {
    if prot != 0 || flags & !u64::from(MAP_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    ctx.mm().remap_file_pages(start, size, pgoff)?;
    Ok(0)
}
