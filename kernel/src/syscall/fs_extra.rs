//! The rest of the file calls: syncing, positional vectored I/O,
//! fallocate, memfd_create, close_range, openat2, chroot, the old getdents.

use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::inode::{NodeKind, access, check_access};
use kestrel_vfs::{Dentry, DentryRef, InodeRef, OpenFile};

use super::Ctx;
use super::args::*;

/// Whether `f` is a file of a file system (not a pipe, socket or anonymous file,
/// not a device): what fsync and friends apply to.
fn on_a_file_system(f: &OpenFile) -> bool {
    f.dentry().is_some()
        && f.metadata()
            .is_ok_and(|m| m.is_regular() || m.is_dir() || m.is_symlink())
}

pub async fn sys_fsync(ctx: &mut Ctx<'_>, fd: Fd) -> KResult<u64> {
    let f = ctx.file(fd)?;
    // A disk's volatile write cache is flushed, as Linux's fsync of a block
    // device does; while a file system is mounted from it, what its cache holds
    // for the disk (raw writes among it) is written first.
    if let Some(b) = crate::fs::devices::block_of(&f) {
        match crate::fs::ext2::disk_cache_current(b.rdev).await {
            Some(cache) => kestrel_ext2::BlockIo::flush(&*cache).await?,
            None => b.dev.flush().await.map_err(crate::fs::devices::io_errno)?,
        }
        return Ok(0);
    }
    // A disk file system writes the file back; in-memory ones have nothing to
    // write, but files that cannot be synced say so, as Linux's do (EINVAL).
    if on_a_file_system(&f) {
        if let Some(i) = f.inode() {
            i.fsync(false).await?;
        }
        Ok(0)
    } else {
        Err(Errno::EINVAL)
    }
}

pub async fn sys_sync(_ctx: &mut Ctx<'_>) -> KResult<u64> {
    // Disk file systems first (their blocks go to the disks), then the disks.
    crate::fs::ext2::sync_all().await;
    // Every disk's write cache; sync(2) reports nothing, so neither do errors.
    for b in crate::drivers::block_devices() {
        let _ = b.dev.flush().await;
    }
    Ok(0)
}

pub async fn sys_syncfs(ctx: &mut Ctx<'_>, fd: Fd) -> KResult<u64> {
    let f = ctx.file(fd)?;
    // fsync of a disk file system's file writes its whole file system.
    if let Some(i) = f.inode() {
        i.fsync(false).await?;
    }
    Ok(0)
}

pub async fn sys_sync_file_range(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    offset: i64,
    nbytes: i64,
    flags: u32,
) -> KResult<u64> {
    const VALID: u32 = 1 | 2 | 4; // SYNC_FILE_RANGE_WAIT_BEFORE | WRITE | WAIT_AFTER
    // The descriptor is looked up first (EBADF before EINVAL, as Linux).
    let f = ctx.file(fd)?;
    if flags & !VALID != 0 || offset < 0 || nbytes < 0 || offset.checked_add(nbytes).is_none() {
        return Err(Errno::EINVAL);
    }
    let m = f.metadata()?;
    if !(m.is_regular() || m.is_dir() || m.is_symlink() || m.file_type() == S_IFBLK) {
        return Err(Errno::ESPIPE);
    }
    Ok(0)
}

pub async fn sys_readahead(ctx: &mut Ctx<'_>, fd: Fd, offset: i64, count: usize) -> KResult<u64> {
    let f = ctx.file(fd)?;
    if !f.readable() {
        return Err(Errno::EBADF);
    }
    if !f.metadata().is_ok_and(|m| m.is_regular()) {
        return Err(Errno::EINVAL);
    }
    // Started in the background on ext2 (the block cache gets the range).
    crate::fs::ext2::advise(f.ops(), offset.max(0) as u64, count as u64, None);
    Ok(0)
}

// ---- positional vectored I/O -----------------------------------------------------

/// RWF_* flags preadv2/pwritev2 know.
const RWF_HIPRI: u32 = 1;
const RWF_DSYNC: u32 = 2;
const RWF_SYNC: u32 = 4;
const RWF_NOWAIT: u32 = 8;
const RWF_APPEND: u32 = 16;
const RWF_NOAPPEND: u32 = 32;

/// The RWF_* flags preadv2 and pwritev2 accept (EOPNOTSUPP for others).
const RWF_KNOWN: u32 = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND;

async fn preadv(
    ctx: &Ctx<'_>,
    fd: Fd,
    iov: UserPtr<Iovec>,
    cnt: usize,
    offset: i64,
    v2_flags: Option<u32>,
) -> KResult<u64> {
    if v2_flags.is_some_and(|f| f & !RWF_KNOWN != 0) {
        return Err(Errno::EOPNOTSUPP);
    }
    let f = ctx.file(fd)?;
    let mut iovecs = super::fs::read_iovecs(ctx, iov, cnt)?;
    if v2_flags.is_some_and(|fl| fl & RWF_NOWAIT != 0) && offset >= -1 {
        nowait_clip(&f, &mut iovecs, offset).await?;
    }
    if offset == -1 && v2_flags.is_some() {
        // preadv2 with -1: the file position, like readv.
        return super::fs::readv_file(ctx, &f, &iovecs).await;
    }
    if offset < 0 {
        return Err(Errno::EINVAL);
    }
    // A pipe or socket is ESPIPE before its access mode is looked at
    // (Linux's do_preadv and do_pwritev test FMODE_PREAD/PWRITE first).
    if !f.ops().seekable() {
        return Err(Errno::ESPIPE);
    }
    if !f.readable() {
        return Err(Errno::EBADF);
    }
    let mut total = 0u64;
    for v in iovecs.iter().filter(|v| v.len > 0) {
        let at = Some(offset as u64 + total);
        let n = match super::fs::read_to_user(ctx, &f, UserPtr::new(v.base), v.len as usize, at)
            .await
        {
            Ok(n) => n,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        total += n as u64;
        if (n as u64) < v.len {
            break;
        }
    }
    Ok(total)
}

/// preadv2's RWF_NOWAIT. On a regular file the read is cut where the file's
/// data stops being cached (a short read), or is EAGAIN if its first byte is
/// not; a file system that cannot tell (tmpfs, as Linux's) says EOPNOTSUPP.
/// A pipe, FIFO or socket with nothing to read is EAGAIN. Other files read
/// as without the flag.
async fn nowait_clip(f: &OpenFile, iovecs: &mut [Iovec], offset: i64) -> KResult<()> {
    if !f.readable() {
        return Ok(()); // EBADF from the read itself
    }
    if !f.ops().seekable() {
        if offset == -1 && f.ops().wait_queue().is_some() && f.poll() & (POLLIN | POLLHUP) == 0 {
            return Err(Errno::EAGAIN);
        }
        return Ok(());
    }
    let Some(inode) = f.inode().filter(|i| i.metadata().is_regular()) else {
        return Ok(());
    };
    let at = if offset == -1 {
        f.position()
    } else {
        offset as u64
    };
    let total: u64 = iovecs.iter().map(|v| v.len).fold(0, u64::saturating_add);
    let mut ok = inode.cached_prefix_async(at, total).await?;
    if ok == 0 && total > 0 && at < inode.metadata().size {
        return Err(Errno::EAGAIN);
    }
    for v in iovecs.iter_mut() {
        v.len = v.len.min(ok);
        ok -= v.len;
    }
    Ok(())
}

async fn pwritev(
    ctx: &Ctx<'_>,
    fd: Fd,
    iov: UserPtr<Iovec>,
    cnt: usize,
    offset: i64,
    v2_flags: Option<u32>,
) -> KResult<u64> {
    let flags = v2_flags.unwrap_or(0);
    if flags & !RWF_KNOWN != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let f = ctx.file(fd)?;
    let n = pwritev_file(ctx, &f, iov, cnt, offset, v2_flags).await?;
    // RWF_DSYNC and RWF_SYNC: this write is on the disk before the call
    // returns, as with O_DSYNC and O_SYNC for the one call.
    if n > 0
        && flags & (RWF_DSYNC | RWF_SYNC) != 0
        && let Some(inode) = f.inode()
    {
        inode.fsync(flags & RWF_SYNC == 0).await?;
    }
    Ok(n)
}

async fn pwritev_file(
    ctx: &Ctx<'_>,
    f: &Arc<OpenFile>,
    iov: UserPtr<Iovec>,
    cnt: usize,
    offset: i64,
    v2_flags: Option<u32>,
) -> KResult<u64> {
    let flags = v2_flags.unwrap_or(0);
    let iovecs = super::fs::read_iovecs(ctx, iov, cnt)?;
    let append = f.flags() & O_APPEND != 0;
    // RWF_APPEND and RWF_NOAPPEND change, for this call, whether a regular file
    // is written at its end (O_APPEND's rule) or where asked.
    let regular = f.metadata().is_ok_and(|m| m.is_regular());
    if regular && f.writable() && (flags & RWF_APPEND != 0 || (flags & RWF_NOAPPEND != 0 && append))
    {
        return write_regular(ctx, f, &iovecs, offset, flags & RWF_APPEND != 0).await;
    }
    if offset == -1 && v2_flags.is_some() {
        return super::fs::writev_file(ctx, f, &iovecs).await;
    }
    if offset < 0 {
        return Err(Errno::EINVAL);
    }
    // A pipe or socket is ESPIPE before its access mode is looked at
    // (Linux's do_preadv and do_pwritev test FMODE_PREAD/PWRITE first).
    if !f.ops().seekable() {
        return Err(Errno::ESPIPE);
    }
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    let mut total = 0u64;
    for v in iovecs.iter().filter(|v| v.len > 0) {
        let at = Some(offset as u64 + total);
        let n = match super::fs::write_from_user(ctx, f, UserPtr::new(v.base), v.len as usize, at)
            .await
        {
            Ok(n) => n,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        total += n as u64;
        if (n as u64) < v.len {
            break;
        }
    }
    Ok(total)
}

/// pwritev2 on a regular file with RWF_APPEND (`at_end`: every chunk goes at the
/// end of the file) or RWF_NOAPPEND (at `offset`, though the file is O_APPEND).
/// With offset -1 the file position is used and moved, as pwritev2 does.
async fn write_regular(
    ctx: &Ctx<'_>,
    f: &OpenFile,
    iovecs: &[Iovec],
    offset: i64,
    at_end: bool,
) -> KResult<u64> {
    if offset < -1 {
        return Err(Errno::EINVAL);
    }
    let inode = f.inode().ok_or(Errno::EBADF)?;
    let use_pos = offset == -1;
    let mut at = if use_pos {
        f.seek(0, SEEK_CUR)?
    } else {
        offset as u64
    };
    let mm = ctx.mm();
    let mut src = kestrel_usermem::UserIoVecs::new(&*mm, iovecs)?;
    let start = if at_end { inode.metadata().size } else { at };
    let allowed = super::fs::fsize_write_limit(ctx, f, Some(start), src.remaining())? as u64;
    let mut buf: Vec<u8> = super::zeroed_vec(src.remaining().min(64 << 10))?;
    let mut total = 0u64;
    while src.remaining() > 0 && total < allowed {
        let room = buf.len().min((allowed - total) as usize);
        let got = src.read(&mut buf[..room]);
        if got == 0 {
            if total == 0 {
                return Err(Errno::EFAULT);
            }
            break;
        }
        if at_end {
            at = inode.metadata().size;
        }
        // A file that writes through a future (ext2) writes that way.
        let wrote = match f.write_async(Some(at), &buf[..got]) {
            Some(io) => io.await,
            None => inode.write_at(at, &buf[..got]),
        };
        let n = match wrote {
            Ok(n) => n,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        at += n as u64;
        total += n as u64;
        if n < got {
            break;
        }
        kestrel_executor::yield_now().await;
    }
    if use_pos {
        f.seek(at as i64, SEEK_SET)?;
    }
    Ok(total)
}

pub async fn sys_preadv(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    iov: UserPtr<Iovec>,
    iovcnt: usize,
    offset: i64,
) -> KResult<u64> {
    preadv(ctx, fd, iov, iovcnt, offset, None).await
}

pub async fn sys_pwritev(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    iov: UserPtr<Iovec>,
    iovcnt: usize,
    offset: i64,
) -> KResult<u64> {
    pwritev(ctx, fd, iov, iovcnt, offset, None).await
}

pub async fn sys_preadv2(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    iov: UserPtr<Iovec>,
    iovcnt: usize,
    offset: i64,
    _offset_high: u64,
    flags: u32,
) -> KResult<u64> {
    preadv(ctx, fd, iov, iovcnt, offset, Some(flags)).await
}

pub async fn sys_pwritev2(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    iov: UserPtr<Iovec>,
    iovcnt: usize,
    offset: i64,
    _offset_high: u64,
    flags: u32,
) -> KResult<u64> {
    pwritev(ctx, fd, iov, iovcnt, offset, Some(flags)).await
}

// ---- fallocate -------------------------------------------------------------------

const FALLOC_FL_KEEP_SIZE: u32 = 0x01;
const FALLOC_FL_PUNCH_HOLE: u32 = 0x02;
const FALLOC_FL_NO_HIDE_STALE: u32 = 0x04;
const FALLOC_FL_COLLAPSE_RANGE: u32 = 0x08;
const FALLOC_FL_ZERO_RANGE: u32 = 0x10;
const FALLOC_FL_INSERT_RANGE: u32 = 0x20;
const FALLOC_FL_UNSHARE_RANGE: u32 = 0x40;

pub async fn sys_fallocate(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    mode: u32,
    offset: i64,
    len: i64,
) -> KResult<u64> {
    // The checks of Linux's vfs_fallocate, in its order (the fd comes first).
    let f = ctx.file(fd)?;
    let all = FALLOC_FL_KEEP_SIZE
        | FALLOC_FL_PUNCH_HOLE
        | FALLOC_FL_NO_HIDE_STALE
        | FALLOC_FL_COLLAPSE_RANGE
        | FALLOC_FL_ZERO_RANGE
        | FALLOC_FL_INSERT_RANGE
        | FALLOC_FL_UNSHARE_RANGE;
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    let both = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
    if mode & !all != 0
        || mode & both == both
        || (mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0)
    {
        return Err(Errno::EOPNOTSUPP);
    }
    let alone = |flag: u32, allowed: u32| mode & flag != 0 && mode & !(flag | allowed) != 0;
    if alone(FALLOC_FL_COLLAPSE_RANGE, 0)
        || alone(FALLOC_FL_INSERT_RANGE, 0)
        || alone(FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_KEEP_SIZE)
    {
        return Err(Errno::EINVAL);
    }
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    let m = f.metadata()?;
    // Only plain allocation on an append-only file; nothing on an immutable one.
    if mode & !FALLOC_FL_KEEP_SIZE != 0 && m.is_append_only() || m.is_immutable() {
        return Err(Errno::EPERM);
    }
    if m.file_type() == S_IFIFO {
        return Err(Errno::ESPIPE);
    }
    if m.is_dir() {
        return Err(Errno::EISDIR);
    }
    if !m.is_regular() {
        return Err(Errno::ENODEV);
    }
    if offset.checked_add(len).is_none() {
        return Err(Errno::EFBIG);
    }
    let inode = f.inode().ok_or(Errno::EBADF)?;
    // Like tmpfs: allocation and punching holes, nothing that shifts or zeroes.
    if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if mode & FALLOC_FL_KEEP_SIZE == 0 {
        super::fs::fsize_grow_ok(ctx, m.size, (offset + len) as u64)?;
    }
    inode
        .allocate_async(
            offset as u64,
            len as u64,
            mode & FALLOC_FL_KEEP_SIZE != 0,
            mode & FALLOC_FL_PUNCH_HOLE != 0,
        )
        .await?;
    Ok(0)
}

// ---- memfd_create ----------------------------------------------------------------

const MFD_CLOEXEC: u32 = 1;
const MFD_ALLOW_SEALING: u32 = 2;
const MFD_HUGETLB: u32 = 4;
const MFD_NOEXEC_SEAL: u32 = 8;
const MFD_EXEC: u32 = 0x10;
const MFD_HUGE_SHIFT: u32 = 26;
const MFD_HUGE_MASK: u32 = 0x3f;

/// The file system memfds live on (unlinked files of an internal ramfs).
fn memfd_root() -> &'static DentryRef {
    static ROOT: spin::Once<DentryRef> = spin::Once::new();
    ROOT.call_once(|| Dentry::root(kestrel_vfs::ramfs::RamFs::new_root(makedev(0, 1_000_001))))
}

pub async fn sys_memfd_create(ctx: &mut Ctx<'_>, name: UserCStr, flags: u32) -> KResult<u64> {
    let all = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
    // With MFD_HUGETLB the huge page size may be given (MFD_HUGE_*).
    let known = if flags & MFD_HUGETLB != 0 {
        all | (MFD_HUGE_MASK << MFD_HUGE_SHIFT)
    } else {
        all
    };
    if flags & !known != 0 || flags & (MFD_NOEXEC_SEAL | MFD_EXEC) == MFD_NOEXEC_SEAL | MFD_EXEC {
        return Err(Errno::EINVAL);
    }
    let name = ctx.mm().read_cstr(name, 250).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::EINVAL
        } else {
            e
        }
    })?;
    if name.len() > 249 {
        return Err(Errno::EINVAL);
    }
    let root = memfd_root();
    if flags & MFD_HUGETLB != 0 {
        // Huge pages of the pool: only the 2 MiB size exists (0: the default),
        // another is ENODEV (Linux's hstate_sizelog finding none).
        let log = (flags >> MFD_HUGE_SHIFT) & MFD_HUGE_MASK;
        if log != 0 && log != 21 {
            return Err(Errno::ENODEV);
        }
        let c = ctx.process().cred.lock().clone();
        let inode: kestrel_vfs::InodeRef =
            crate::fs::hugetlbfs::HugeFile::new(makedev(0, 1_000_002), 0o777, c.fsuid, c.fsgid);
        let shown = [b"memfd:".as_slice(), &name].concat();
        let dentry = Dentry::child(root, &shown, inode.clone());
        let ops = crate::fs::ops_for(&inode, O_RDWR, ctx.process())?;
        let file = OpenFile::new(Some(dentry), ops, O_RDWR | O_LARGEFILE);
        return ctx
            .install(file, flags & MFD_CLOEXEC != 0)
            .map(|fd| fd as u64);
    }
    // A unique name in the hidden directory, unlinked at once: the file lives as
    // long as it is open, and /proc shows "/memfd:NAME (deleted)".
    static SEQ: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
    let tmp = alloc::format!(
        "{}",
        SEQ.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
    )
    .into_bytes();
    let c = ctx.process().cred.lock().clone();
    let inode = root
        .inode
        .create_async(&tmp, NodeKind::File, 0o777, c.fsuid, c.fsgid)
        .await?;
    root.inode.unlink_async(&tmp).await?;
    let allow_sealing = flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL) != 0;
    if allow_sealing
        && let Some(r) = inode
            .as_any()
            .downcast_ref::<kestrel_vfs::ramfs::RamInode>()
    {
        r.allow_sealing();
    }
    if flags & MFD_NOEXEC_SEAL != 0 {
        inode.set_mode(0o666)?;
        inode.add_seals(F_SEAL_EXEC)?;
    }
    let shown = [b"memfd:".as_slice(), &name].concat();
    let dentry = Dentry::child(root, &shown, inode.clone());
    let ops = crate::fs::ops_for(&inode, O_RDWR, ctx.process())?;
    let file = OpenFile::new(Some(dentry), ops, O_RDWR | O_LARGEFILE);
    ctx.install(file, flags & MFD_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

// ---- close_range -----------------------------------------------------------------

const CLOSE_RANGE_UNSHARE: u32 = 2;
const CLOSE_RANGE_CLOEXEC: u32 = 4;

pub async fn sys_close_range(ctx: &mut Ctx<'_>, first: u32, last: u32, flags: u32) -> KResult<u64> {
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_UNSHARE != 0 {
        ctx.process().unshare_files();
    }
    let files = ctx.process().files();
    let mut t = files.lock();
    let fds: Vec<i32> = t
        .iter()
        .map(|(fd, _)| fd)
        .filter(|&fd| fd as u32 >= first && fd as u32 <= last)
        .collect();
    if flags & CLOSE_RANGE_CLOEXEC != 0 {
        for fd in fds {
            t.set_cloexec(fd, true)?;
        }
        return Ok(0);
    }
    let closed: Vec<Arc<OpenFile>> = fds.into_iter().filter_map(|fd| t.remove(fd).ok()).collect();
    drop(t);
    for f in &closed {
        super::locks::descriptor_closed(ctx.process(), f);
    }
    drop(closed); // outside the table lock
    Ok(0)
}

// ---- openat2 ---------------------------------------------------------------------

/// Every open(2) flag Linux knows (VALID_OPEN_FLAGS): openat2 refuses others.
const VALID_OPEN_FLAGS: u32 = O_ACCMODE
    | O_CREAT
    | O_EXCL
    | O_NOCTTY
    | O_TRUNC
    | O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_ASYNC
    | O_DIRECT
    | O_LARGEFILE
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_NOATIME
    | O_CLOEXEC
    | O_SYNC
    | O_PATH
    | O_TMPFILE;

pub async fn sys_openat2(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path_ptr: UserCStr,
    how_ptr: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    use kestrel_vfs::path::*;
    // struct open_how { u64 flags, mode, resolve; }, extensible.
    const HOW: usize = 24;
    if size < HOW {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut how = [0u64; 3];
    ctx.mm()
        .reader(how_ptr, size)?
        .read_extensible(kestrel_abi::bytemuck_slice_bytes_mut(&mut how))?;
    let [flags, mode, resolve] = how;
    if flags > u64::from(u32::MAX) || flags as u32 & !VALID_OPEN_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let flags = flags as u32;
    let creating = flags & O_CREAT != 0 || flags & O_TMPFILE == O_TMPFILE;
    if mode & !0o7777 != 0 || (mode != 0 && !creating) {
        return Err(Errno::EINVAL);
    }
    let known = RESOLVE_NO_XDEV
        | RESOLVE_NO_MAGICLINKS
        | RESOLVE_NO_SYMLINKS
        | RESOLVE_BENEATH
        | RESOLVE_IN_ROOT
        | RESOLVE_CACHED;
    if resolve & !u64::from(known) != 0 {
        return Err(Errno::EINVAL);
    }
    let resolve = resolve as u32;
    if resolve & RESOLVE_BENEATH != 0 && resolve & RESOLVE_IN_ROOT != 0 {
        return Err(Errno::EINVAL);
    }
    if resolve & RESOLVE_CACHED != 0 {
        // Nothing is cached separately: everything is in memory. Linux refuses
        // RESOLVE_CACHED with O_CREAT or O_TRUNC.
        if flags & (O_CREAT | O_TRUNC) != 0 || flags & O_TMPFILE == O_TMPFILE {
            return Err(Errno::EAGAIN);
        }
    }
    let path = ctx.read_path(path_ptr)?;
    ctx.resolve = resolve;
    let r = super::fs::open_at(ctx, dirfd, &path, flags, mode).await;
    ctx.resolve = 0;
    r
}

// ---- chroot ----------------------------------------------------------------------

pub async fn sys_chroot(ctx: &mut Ctx<'_>, path: UserCStr) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(AT_FDCWD, &path, true).await?;
    let m = d.inode.metadata();
    if !m.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    check_access(&m, &ctx.process().cred.lock().fs_cred(), access::EXEC)?;
    if !ctx.capable(kestrel_abi::cap::CAP_SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    ctx.process().fs().lock().root = d;
    Ok(0)
}

// ---- the old getdents ------------------------------------------------------------

pub async fn sys_getdents(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    dirp: UserPtr<u8>,
    count: u32,
) -> KResult<u64> {
    // Records go through a bounded buffer: a bigger one only gets more entries.
    let (ptr, count) = (dirp, (count as usize).min(128 << 10));
    let f = ctx.file(fd)?;
    let inode: InodeRef = f.listable_dir()?.clone();
    // struct linux_dirent: d_ino, d_off, d_reclen, d_name with its NUL, then
    // d_type in the record's last byte; records 8-byte aligned.
    let mut out: Vec<u8> = super::zeroed_vec(count)?;
    let mut used = 0;
    let mut full = false;
    let mut pos = f.seek(0, SEEK_CUR)?;
    inode
        .readdir_async(pos, &mut |e| {
            let reclen = (18 + e.name.len() + 2).next_multiple_of(8);
            if used + reclen > out.len() {
                full = true;
                return false;
            }
            let r = &mut out[used..used + reclen];
            r[..8].copy_from_slice(&e.ino.to_ne_bytes());
            r[8..16].copy_from_slice(&(e.next as i64).to_ne_bytes());
            r[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
            r[18..18 + e.name.len()].copy_from_slice(&e.name);
            r[reclen - 1] = e.dtype;
            used += reclen;
            pos = e.next;
            true
        })
        .await?;
    if used == 0 && full {
        return Err(Errno::EINVAL);
    }
    ctx.mm().writer(ptr, used)?.write_all(&out[..used])?;
    f.seek(pos as i64, SEEK_SET)?;
    Ok(used as u64)
}

/// ustat(2): the free blocks and inodes of the mounted file system on device
/// `dev` (as stat's st_dev gives it); EINVAL if none is mounted.
pub async fn sys_ustat(ctx: &mut Ctx<'_>, dev: u32, ubuf: UserPtr<u8>) -> KResult<u64> {
    let dev = u64::from(dev);
    let root = ctx.process().fs().lock().root.inode.clone();
    let root = if root.metadata().dev == dev {
        root
    } else {
        crate::fs::mounts().root_of_dev(dev).ok_or(Errno::EINVAL)?
    };
    let st = root.statfs_async().await?;
    // struct ustat: int f_tfree; (pad) unsigned long f_tinode; char f_fname[6],
    // f_fpack[6] (empty); (pad): 32 bytes.
    let mut out = [0u8; 32];
    out[0..4].copy_from_slice(&(st.f_bfree as i32).to_ne_bytes());
    out[8..16].copy_from_slice(&st.f_ffree.to_ne_bytes());
    ctx.mm().write_slice(ubuf, &out)?;
    Ok(0)
}

// ---- inotify ---------------------------------------------------------------------

pub async fn sys_inotify_init(ctx: &mut Ctx<'_>) -> KResult<u64> {
    inotify_init(ctx, 0)
}

pub async fn sys_inotify_init1(ctx: &mut Ctx<'_>, flags: u32) -> KResult<u64> {
    inotify_init(ctx, flags)
}

fn inotify_init(ctx: &Ctx<'_>, flags: u32) -> KResult<u64> {
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let uid = ctx.process().cred.lock().uid;
    let ops = crate::fs::inotify::Inotify::new(uid)?;
    let file = crate::fs::anon::anon_file(ops, O_RDONLY | (flags & O_NONBLOCK));
    ctx.install(file, flags & O_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

pub async fn sys_inotify_add_watch(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    path: UserCStr,
    mask: u32,
) -> KResult<u64> {
    // Linux checks the mask before the descriptor: no known bit, or both
    // IN_MASK_ADD and IN_MASK_CREATE, is EINVAL even for a bad descriptor.
    if !crate::fs::inotify::mask_is_valid(mask) {
        return Err(Errno::EINVAL);
    }
    let f = ctx.file(fd)?;
    let inst = crate::fs::inotify::instance(&f).ok_or(Errno::EINVAL)?;
    let path = ctx.read_path(path)?;
    let d = ctx
        .resolve(AT_FDCWD, &path, crate::fs::inotify::follows(mask))
        .await?;
    // Watching needs read permission on the file (Linux's inode_permission).
    let cred = ctx.process().cred.lock().fs_cred();
    check_access(&d.inode.metadata(), &cred, access::READ)?;
    inst.add_watch(&d.inode, mask).map(|wd| wd as u64)
}

pub async fn sys_inotify_rm_watch(ctx: &mut Ctx<'_>, fd: Fd, wd: i32) -> KResult<u64> {
    let f = ctx.file(fd)?;
    let inst = crate::fs::inotify::instance(&f).ok_or(Errno::EINVAL)?;
    inst.rm_watch(wd).map(|_| 0)
}

// ---- fanotify --------------------------------------------------------------------

/// CAP_AUDIT_WRITE (FAN_ENABLE_AUDIT).
const CAP_AUDIT_WRITE: u32 = 29;

pub async fn sys_fanotify_init(ctx: &mut Ctx<'_>, flags: u32, event_f_flags: u32) -> KResult<u64> {
    use kestrel_fanotify as fan;
    let (admin, audit, uid) = {
        let c = ctx.process().cred.lock();
        (
            c.capable(kestrel_abi::cap::CAP_SYS_ADMIN),
            c.capable(CAP_AUDIT_WRITE),
            c.uid,
        )
    };
    let init = fan::check_init(flags, event_f_flags, admin, audit)?;
    let group = crate::fs::fanotify::Group::new(init, uid)?;
    let nonblock = if flags & fan::FAN_NONBLOCK != 0 {
        O_NONBLOCK
    } else {
        0
    };
    let file = crate::fs::anon::anon_file(group, O_RDWR | nonblock);
    ctx.install(file, flags & fan::FAN_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

pub async fn sys_fanotify_mark(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    flags: u32,
    mask: u64,
    dirfd: Fd,
    path: UserCStr,
) -> KResult<u64> {
    use kestrel_fanotify as fan;
    // Linux checks flags and mask before the descriptor.
    let mut req = fan::check_mark(flags, mask)?;
    let f = ctx.file(fd)?;
    let group = crate::fs::fanotify::group(&f).ok_or(Errno::EINVAL)?;
    let admin = ctx.capable(kestrel_abi::cap::CAP_SYS_ADMIN);
    fan::check_mark_for_group(&req, group.init(), admin)?;
    if req.cmd == fan::MarkCmd::Flush {
        group.flush(req.kind);
        return Ok(0);
    }
    // No path: dirfd itself is the object.
    let d = if path.addr() == 0 {
        let df = ctx.file(dirfd)?;
        let d = df.dentry().cloned().ok_or(Errno::EBADF)?;
        if flags & fan::FAN_MARK_ONLYDIR != 0 && !d.inode.metadata().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        d
    } else {
        let path = ctx.read_path(path)?;
        let d = ctx
            .resolve(dirfd, &path, flags & fan::FAN_MARK_DONT_FOLLOW == 0)
            .await?;
        if flags & fan::FAN_MARK_ONLYDIR != 0 && !d.inode.metadata().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        d
    };
    // Marking needs read permission on the object (Linux's path_permission).
    let m = d.inode.metadata();
    let cred = ctx.process().cred.lock().fs_cred();
    check_access(&m, &cred, access::READ)?;
    if req.cmd == fan::MarkCmd::Add {
        fan::check_add_object(&req, m.is_dir(), false)?;
    }
    req.for_object(m.is_dir());
    group.mark(&req, &d).map(|_| 0)
}

// ---- file handles ------------------------------------------------------------------

/// The largest handle (MAX_HANDLE_SZ).
const MAX_HANDLE_SZ: u32 = 128;
/// Linux's FILEID_INO32_GEN: a 32-bit inode number and a generation.
const FILEID_INO32_GEN: i32 = 1;
/// FILEID_INO64_GEN: a 64-bit inode number and a generation.
const FILEID_INO64_GEN: i32 = 0x81;
/// What an encoder answers when the handle does not fit (FILEID_INVALID).
const FILEID_INVALID: i32 = 0xff;

/// The type and bytes of the handle of inode `ino`, generation `generation`.
fn encode_handle(ino: u64, generation: u32) -> (i32, Vec<u8>) {
    let mut b = Vec::with_capacity(12);
    match u32::try_from(ino) {
        Ok(small) => {
            b.extend_from_slice(&small.to_le_bytes());
            b.extend_from_slice(&generation.to_le_bytes());
            (FILEID_INO32_GEN, b)
        }
        Err(_) => {
            b.extend_from_slice(&ino.to_le_bytes());
            b.extend_from_slice(&generation.to_le_bytes());
            (FILEID_INO64_GEN, b)
        }
    }
}

/// (inode number, generation) from a handle; ESTALE for a type or size that
/// names nothing here.
fn decode_handle(kind: i32, b: &[u8]) -> KResult<(u64, u32)> {
    let word = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    match kind {
        FILEID_INO32_GEN if b.len() >= 8 => Ok((u64::from(word(0)), word(4))),
        FILEID_INO64_GEN if b.len() >= 12 => {
            Ok((u64::from(word(0)) | u64::from(word(4)) << 32, word(8)))
        }
        _ => Err(Errno::ESTALE),
    }
}

/// The mount's number as /proc/PID/mountinfo shows it.
fn mount_id(d: &DentryRef) -> i32 {
    d.mnt().id() as i32
}

/// name_to_handle_at(2): a handle for the file at `path` that
/// open_by_handle_at takes back, and the number of its mount. The handle is
/// the inode number and its generation; file systems that cannot find an
/// inode by its number (procfs, sysfs, ext2 so far) are EOPNOTSUPP. A buffer
/// too small is EOVERFLOW with the size needed in `handle_bytes`.
pub async fn sys_name_to_handle_at(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    handle: UserPtr<u8>,
    mount: UserPtr<i32>,
    flags: u32,
) -> KResult<u64> {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = ctx.read_path(path)?;
    let d = if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        ctx.resolve_at(dirfd, &p, AT_EMPTY_PATH).await?
    } else {
        ctx.resolve(dirfd, &p, flags & AT_SYMLINK_FOLLOW != 0)
            .await?
    };
    let (ino, generation) = d.inode.handle().ok_or(Errno::EOPNOTSUPP)?;
    let header: [u32; 2] = ctx.read(UserPtr::new(handle.addr()))?;
    if header[0] > MAX_HANDLE_SZ {
        return Err(Errno::EINVAL);
    }
    let (kind, bytes) = encode_handle(ino, generation);
    let fits = header[0] as usize >= bytes.len();
    // The mount's number and the header go back even when the handle does not
    // fit (the header then says how much it needs).
    ctx.write(mount, &mount_id(&d))?;
    let out_kind = if fits { kind } else { FILEID_INVALID };
    ctx.write(
        UserPtr::<[u32; 2]>::new(handle.addr()),
        &[bytes.len() as u32, out_kind as u32],
    )?;
    if !fits {
        return Err(Errno::EOVERFLOW);
    }
    ctx.mm()
        .write_slice(UserPtr::<u8>::new(handle.addr() + 8), &bytes)?;
    Ok(0)
}

/// open_by_handle_at(2): opens the file a handle of name_to_handle_at names,
/// on the mount of `mount_fd` (AT_FDCWD: the working directory's).
/// CAP_DAC_READ_SEARCH (EPERM); ESTALE when the file is gone. The file's path
/// is found again from the mount's root where the file system lists it
/// (a bounded search); a file with no name left opens as if at the mount's
/// root.
pub async fn sys_open_by_handle_at(
    ctx: &mut Ctx<'_>,
    mount_fd: Fd,
    handle: UserPtr<u8>,
    flags: u32,
) -> KResult<u64> {
    if !ctx.capable(kestrel_abi::cap::CAP_DAC_READ_SEARCH) {
        return Err(Errno::EPERM);
    }
    let at = if mount_fd == AT_FDCWD {
        ctx.process().fs().lock().cwd.clone()
    } else {
        ctx.file(mount_fd)?.dentry().cloned().ok_or(Errno::EBADF)?
    };
    let header: [u32; 2] = ctx.read(UserPtr::new(handle.addr()))?;
    if header[0] > MAX_HANDLE_SZ || header[0] == 0 {
        return Err(Errno::EINVAL);
    }
    let mut bytes = alloc::vec![0u8; header[0] as usize];
    ctx.mm()
        .read_slice(UserPtr::<u8>::new(handle.addr() + 8), &mut bytes)?;
    let (ino, generation) = decode_handle(header[1] as i32, &bytes)?;
    let root = mount_root_of(&at);
    let inode = root.inode.by_handle(ino, generation)?;
    let dentry = find_dentry(&root, &inode)
        .unwrap_or_else(|| Dentry::mount_root(inode.clone(), root.mnt().clone()));
    // No name is created or followed: O_CREAT has nothing to make.
    let flags = super::fs::open_flags(flags) & !(O_CREAT | O_EXCL);
    let file = super::fs::finish_open(ctx, dentry, flags, false).await?;
    ctx.install(file, flags & O_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

/// The root of the mount `d` is on.
fn mount_root_of(d: &DentryRef) -> DentryRef {
    let mut top = d.clone();
    while let Some(p) = top.parent() {
        if !Arc::ptr_eq(p.mnt(), d.mnt()) {
            break;
        }
        top = p.clone();
    }
    top
}

/// A dentry for `inode` under mount root `root`, found by listing directories
/// breadth first (at most 65,536 entries looked at).
fn find_dentry(root: &DentryRef, inode: &InodeRef) -> Option<DentryRef> {
    if Arc::ptr_eq(&root.inode, inode) {
        return Some(root.clone());
    }
    let want = inode.metadata().ino;
    let mounts = crate::fs::mounts();
    let mut queue = alloc::collections::VecDeque::from([root.clone()]);
    let mut budget = 65_536usize;
    while let Some(dir) = queue.pop_front() {
        let mut entries = Vec::new();
        let _ = dir.inode.readdir(0, &mut |e| {
            if budget == 0 {
                return false;
            }
            budget -= 1;
            if e.name != b"." && e.name != b".." {
                entries.push((e.name, e.ino, e.dtype));
            }
            true
        });
        for (name, ino, dtype) in entries {
            let Ok(child) = dir.inode.lookup(&name) else {
                continue;
            };
            if ino == want && Arc::ptr_eq(&child, inode) {
                return Some(mounts.child(&dir, &name, child));
            }
            if dtype == DT_DIR && child.metadata().dev == inode.metadata().dev {
                queue.push_back(mounts.child(&dir, &name, child));
            }
        }
        if budget == 0 {
            break;
        }
    }
    None
}
