//! The rest of the file calls: syncing, positional vectored I/O,
//! fallocate, memfd_create, close_range, openat2, chroot, the old getdents.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::inode::{NodeKind, access, check_access};
use kestrel_vfs::{Dentry, DentryRef, InodeRef, OpenFile};

use super::{Args, Ctx, arg_i32};

/// Whether `f` is a file of a file system (not a pipe, socket or anonymous file,
/// not a device): what fsync and friends apply to.
fn on_a_file_system(f: &OpenFile) -> bool {
    f.dentry().is_some()
        && f.metadata()
            .is_ok_and(|m| m.is_regular() || m.is_dir() || m.is_symlink())
}

pub async fn sys_fsync(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = ctx.file(arg_i32(a[0]))?;
    // Everything is in memory: nothing to write back, but files that cannot be
    // synced say so, as Linux's do (EINVAL).
    if on_a_file_system(&f) {
        Ok(0)
    } else {
        Err(Errno::EINVAL)
    }
}

pub async fn sys_sync(_ctx: &mut Ctx<'_>, _a: Args) -> KResult<u64> {
    Ok(0)
}

pub async fn sys_syncfs(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    ctx.file(arg_i32(a[0]))?;
    Ok(0)
}

pub async fn sys_sync_file_range(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (fd, offset, nbytes, flags) = (arg_i32(a[0]), a[1] as i64, a[2] as i64, a[3] as u32);
    const VALID: u32 = 1 | 2 | 4; // SYNC_FILE_RANGE_WAIT_BEFORE | WRITE | WAIT_AFTER
    if flags & !VALID != 0 || offset < 0 || nbytes < 0 || offset.checked_add(nbytes).is_none() {
        return Err(Errno::EINVAL);
    }
    let f = ctx.file(fd)?;
    let m = f.metadata()?;
    if !(m.is_regular() || m.is_dir() || m.is_symlink() || m.file_type() == S_IFBLK) {
        return Err(Errno::ESPIPE);
    }
    Ok(0)
}

pub async fn sys_readahead(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let f = ctx.file(arg_i32(a[0]))?;
    if !f.readable() {
        return Err(Errno::EBADF);
    }
    if !f.metadata().is_ok_and(|m| m.is_regular()) {
        return Err(Errno::EINVAL);
    }
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

async fn preadv(
    ctx: &Ctx<'_>,
    fd: i32,
    iov: u64,
    cnt: u64,
    offset: i64,
    flags: u32,
) -> KResult<u64> {
    if flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let f = ctx.file(fd)?;
    let iovecs = super::fs::read_iovecs(ctx, iov, cnt as usize)?;
    if offset == -1 {
        // preadv2 with -1: the file position, like readv.
        return super::fs::readv_file(ctx, &f, &iovecs).await;
    }
    if offset < 0 {
        return Err(Errno::EINVAL);
    }
    if !f.readable() {
        return Err(Errno::EBADF);
    }
    if !f.ops().seekable() {
        return Err(Errno::ESPIPE);
    }
    let mut total = 0u64;
    for v in &iovecs {
        if v.len == 0 {
            continue;
        }
        let mut buf = vec![0u8; (v.len as usize).min(super::MAX_RW_COUNT)];
        let n = f.pread(offset as u64 + total, &mut buf)?;
        ctx.mm().write_user(v.base, &buf[..n])?;
        total += n as u64;
        if n < buf.len() {
            break;
        }
    }
    Ok(total)
}

async fn pwritev(
    ctx: &Ctx<'_>,
    fd: i32,
    iov: u64,
    cnt: u64,
    offset: i64,
    flags: u32,
) -> KResult<u64> {
    if flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let f = ctx.file(fd)?;
    let iovecs = super::fs::read_iovecs(ctx, iov, cnt as usize)?;
    if offset == -1 {
        return super::fs::writev_file(ctx, &f, &iovecs).await;
    }
    if offset < 0 {
        return Err(Errno::EINVAL);
    }
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    if !f.ops().seekable() {
        return Err(Errno::ESPIPE);
    }
    let mut data = Vec::new();
    for v in &iovecs {
        let start = data.len();
        data.resize(start + v.len as usize, 0);
        ctx.mm().read_user(v.base, &mut data[start..])?;
    }
    f.pwrite(offset as u64, &data).map(|n| n as u64)
}

pub async fn sys_preadv(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    preadv(ctx, arg_i32(a[0]), a[1], a[2], a[3] as i64, 0).await
}

pub async fn sys_pwritev(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    pwritev(ctx, arg_i32(a[0]), a[1], a[2], a[3] as i64, 0).await
}

pub async fn sys_preadv2(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    preadv(ctx, arg_i32(a[0]), a[1], a[2], a[3] as i64, a[5] as u32).await
}

pub async fn sys_pwritev2(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    pwritev(ctx, arg_i32(a[0]), a[1], a[2], a[3] as i64, a[5] as u32).await
}

// ---- fallocate -------------------------------------------------------------------

const FALLOC_FL_KEEP_SIZE: u32 = 0x01;
const FALLOC_FL_PUNCH_HOLE: u32 = 0x02;
const FALLOC_FL_NO_HIDE_STALE: u32 = 0x04;
const FALLOC_FL_COLLAPSE_RANGE: u32 = 0x08;
const FALLOC_FL_ZERO_RANGE: u32 = 0x10;
const FALLOC_FL_INSERT_RANGE: u32 = 0x20;
const FALLOC_FL_UNSHARE_RANGE: u32 = 0x40;

pub async fn sys_fallocate(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (fd, mode, offset, len) = (arg_i32(a[0]), a[1] as u32, a[2] as i64, a[3] as i64);
    let all = FALLOC_FL_KEEP_SIZE
        | FALLOC_FL_PUNCH_HOLE
        | FALLOC_FL_NO_HIDE_STALE
        | FALLOC_FL_COLLAPSE_RANGE
        | FALLOC_FL_ZERO_RANGE
        | FALLOC_FL_INSERT_RANGE
        | FALLOC_FL_UNSHARE_RANGE;
    if offset < 0 || len <= 0 || mode & !all != 0 {
        return Err(Errno::EINVAL);
    }
    // A hole is punched without changing the size, and only that way.
    if mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let f = ctx.file(fd)?;
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    let m = f.metadata()?;
    if m.is_dir() {
        return Err(Errno::EISDIR);
    }
    if m.file_type() == S_IFIFO || m.file_type() == S_IFSOCK {
        return Err(Errno::ESPIPE);
    }
    if !m.is_regular() {
        return Err(Errno::ENODEV);
    }
    let end = offset.checked_add(len).ok_or(Errno::EFBIG)? as u64;
    let inode = f.inode().ok_or(Errno::EBADF)?;
    match mode & !FALLOC_FL_KEEP_SIZE {
        0 => {
            if end > m.size && mode & FALLOC_FL_KEEP_SIZE == 0 {
                inode.truncate(end)?;
            }
        }
        FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE => {
            // Zero what lies inside the file; ZERO_RANGE may also extend it.
            let stop = end.min(m.size);
            let mut at = offset as u64;
            let zeros = vec![0u8; 65536];
            while at < stop {
                let n = ((stop - at) as usize).min(zeros.len());
                inode.write_at(at, &zeros[..n])?;
                at += n as u64;
            }
            if mode & FALLOC_FL_ZERO_RANGE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0 && end > m.size {
                inode.truncate(end)?;
            }
        }
        // The in-memory file systems cannot shift ranges (tmpfs says the same).
        _ => return Err(Errno::EOPNOTSUPP),
    }
    Ok(0)
}

// ---- memfd_create ----------------------------------------------------------------

const MFD_CLOEXEC: u32 = 1;
const MFD_ALLOW_SEALING: u32 = 2;
const MFD_HUGETLB: u32 = 4;
const MFD_NOEXEC_SEAL: u32 = 8;
const MFD_EXEC: u32 = 0x10;

/// The file system memfds live on (unlinked files of an internal ramfs).
fn memfd_root() -> &'static DentryRef {
    static ROOT: spin::Once<DentryRef> = spin::Once::new();
    ROOT.call_once(|| Dentry::root(kestrel_vfs::ramfs::RamFs::new_root(makedev(0, 1_000_001))))
}

pub async fn sys_memfd_create(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let flags = a[1] as u32;
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC) != 0
        || flags & (MFD_NOEXEC_SEAL | MFD_EXEC) == MFD_NOEXEC_SEAL | MFD_EXEC
    {
        return Err(Errno::EINVAL);
    }
    if flags & MFD_HUGETLB != 0 {
        return Err(Errno::EINVAL); // no huge pages
    }
    let name = ctx.mm().read_cstr(a[0], 250).map_err(|e| {
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
        .create(&tmp, NodeKind::File, 0o777, c.fsuid, c.fsgid)?;
    root.inode.unlink(&tmp)?;
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

pub async fn sys_close_range(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (first, last, flags) = (a[0] as u32, a[1] as u32, a[2] as u32);
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

pub async fn sys_openat2(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    use kestrel_vfs::path::*;
    let (dirfd, path_ptr, how_ptr, size) = (arg_i32(a[0]), a[1], a[2], a[3] as usize);
    const HOW: usize = 24;
    if size < HOW {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut raw = vec![0u8; size];
    ctx.mm().read_user(how_ptr, &mut raw)?;
    if raw[HOW..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let word = |i: usize| u64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let (flags, mode, resolve) = (word(0), word(1), word(2));
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

pub async fn sys_chroot(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let path = ctx.read_path(a[0])?;
    let d = ctx.resolve(AT_FDCWD, &path, true)?;
    let m = d.inode.metadata();
    if !m.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    check_access(&m, &ctx.process().cred.lock().fs_cred(), access::EXEC)?;
    if !ctx
        .process()
        .cred
        .lock()
        .capable(kestrel_abi::cap::CAP_SYS_CHROOT)
    {
        return Err(Errno::EPERM);
    }
    ctx.process().fs().lock().root = d;
    Ok(0)
}

// ---- the old getdents ------------------------------------------------------------

pub async fn sys_getdents(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (fd, ptr, count) = (arg_i32(a[0]), a[1], (a[2] as u32 as usize).min(1 << 20));
    let f = ctx.file(fd)?;
    let inode: InodeRef = f.inode().cloned().ok_or(Errno::ENOTDIR)?;
    if !inode.metadata().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    // struct linux_dirent: d_ino, d_off, d_reclen, d_name with its NUL, then
    // d_type in the record's last byte; records 8-byte aligned.
    let mut out = vec![0u8; count];
    let mut used = 0;
    let mut full = false;
    let mut pos = f.seek(0, SEEK_CUR)?;
    inode.readdir(pos, &mut |e| {
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
    })?;
    if used == 0 && full {
        return Err(Errno::EINVAL);
    }
    ctx.mm().write_user(ptr, &out[..used])?;
    f.seek(pos as i64, SEEK_SET)?;
    Ok(used as u64)
}
