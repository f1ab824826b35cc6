//! Extended attributes: setxattr, getxattr, listxattr, removexattr and their
//! l- (no symlink following) and f- (open file) variants (xattr(7)).
//!
//! The namespaces are those of Linux's tmpfs: `user.` (regular files and
//! directories, by file permission), `trusted.` (CAP_SYS_ADMIN only: invisible to
//! others), `security.` (readable by all, set with CAP_SYS_ADMIN). `system.`
//! (POSIX ACLs) and unknown prefixes are EOPNOTSUPP. Storage is the file system's
//! ([`Inode::xattr_get`] and friends).

use alloc::vec::Vec;

use kestrel_abi::cap::CAP_SYS_ADMIN;
use kestrel_abi::fs::{AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_PATH, S_ISVTX};
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::InodeRef;
use kestrel_vfs::inode::{XattrSet, access, check_access};

use super::Ctx;
use super::args::*;

/// XATTR_NAME_MAX, XATTR_SIZE_MAX, XATTR_LIST_MAX.
const NAME_MAX: usize = 255;
const SIZE_MAX: usize = 65_536;
const LIST_MAX: usize = 65_536;
const XATTR_CREATE: u64 = 1;
const XATTR_REPLACE: u64 = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Namespace {
    User,
    Trusted,
    Security,
}

/// The namespace of `name`: EOPNOTSUPP for an unknown prefix, EINVAL for a
/// prefix with nothing after it ("user.").
fn namespace(name: &[u8]) -> KResult<Namespace> {
    let spaces: [(&[u8], Namespace); 3] = [
        (b"user.", Namespace::User),
        (b"trusted.", Namespace::Trusted),
        (b"security.", Namespace::Security),
    ];
    for (prefix, ns) in spaces {
        if let Some(rest) = name.strip_prefix(prefix) {
            return if rest.is_empty() {
                Err(Errno::EINVAL)
            } else {
                Ok(ns)
            };
        }
    }
    Err(Errno::EOPNOTSUPP)
}

/// Where the call's file comes from: a path (followed or not), a descriptor,
/// or (the `*xattrat` calls) a path from a directory descriptor with
/// AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH.
#[derive(Clone, Copy)]
enum Target {
    Path(UserCStr, bool),
    Fd(Fd),
    At(Fd, UserCStr, u32),
}

/// The file `target` names. With `write` (set, remove), EROFS on a read-only
/// mount, before the namespace and permission checks, as Linux's mnt_want_write.
async fn inode_of(ctx: &Ctx<'_>, target: Target, write: bool) -> KResult<InodeRef> {
    match target {
        Target::Path(path, follow) => {
            let path = ctx.read_path(path)?;
            let d = ctx.resolve(AT_FDCWD, &path, follow).await?;
            if write {
                super::mount::want_write(&d)?;
            }
            Ok(d.inode.clone())
        }
        Target::At(dirfd, path, flags) => {
            // Linux's getname_maybe_null: with AT_EMPTY_PATH, a NULL or empty
            // path names the descriptor's file (the working directory for
            // AT_FDCWD).
            let path = if flags & AT_EMPTY_PATH != 0 && path.is_null() {
                Vec::new()
            } else {
                ctx.read_path(path)?
            };
            if path.is_empty() && flags & AT_EMPTY_PATH != 0 && dirfd != AT_FDCWD {
                return fd_inode(ctx, dirfd, write);
            }
            let d = ctx.resolve_at(dirfd, &path, flags).await?;
            if write {
                super::mount::want_write(&d)?;
            }
            Ok(d.inode.clone())
        }
        Target::Fd(fd) => fd_inode(ctx, fd, write),
    }
}

/// The file of descriptor `fd` (not an O_PATH one: EBADF, as fdget).
fn fd_inode(ctx: &Ctx<'_>, fd: Fd, write: bool) -> KResult<InodeRef> {
    let f = ctx.file(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    if write {
        super::mount::want_write_file(&f)?;
    }
    f.inode().cloned().ok_or(Errno::EOPNOTSUPP)
}

/// Reads an attribute name: ERANGE if empty or longer than 255 bytes.
fn read_name(ctx: &Ctx<'_>, ptr: UserCStr) -> KResult<Vec<u8>> {
    match ctx.mm().read_cstr(ptr, NAME_MAX) {
        Ok(name) if name.is_empty() => Err(Errno::ERANGE),
        Err(Errno::ENAMETOOLONG) => Err(Errno::ERANGE),
        r => r,
    }
}

/// Linux's xattr_permission: who may read (`write` false) or change an attribute.
fn permitted(ctx: &Ctx<'_>, inode: &InodeRef, ns: Namespace, write: bool) -> KResult<()> {
    let cred = ctx.process().cred.lock().clone();
    let m = inode.metadata();
    // No attribute changes on an immutable or append-only file, whatever the
    // namespace.
    if write {
        m.check_changeable()?;
    }
    match ns {
        Namespace::Trusted if !cred.capable(CAP_SYS_ADMIN) => {
            Err(if write { Errno::EPERM } else { Errno::ENODATA })
        }
        Namespace::Trusted => Ok(()),
        Namespace::Security if write && !cred.capable(CAP_SYS_ADMIN) => Err(Errno::EPERM),
        Namespace::Security => Ok(()),
        Namespace::User => {
            if !m.is_regular() && !m.is_dir() {
                return Err(if write { Errno::EPERM } else { Errno::ENODATA });
            }
            let fs = cred.fs_cred();
            if write && m.is_dir() && m.mode & S_ISVTX != 0 && fs.uid != m.uid && fs.uid != 0 {
                return Err(Errno::EPERM);
            }
            check_access(&m, &fs, if write { access::WRITE } else { access::READ })
        }
    }
}

async fn set(
    ctx: &Ctx<'_>,
    target: Target,
    name: UserCStr,
    value_ptr: UserPtr<u8>,
    size: usize,
    flags: i32,
) -> KResult<u64> {
    let flags = flags as u32 as u64;
    if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = read_name(ctx, name)?;
    if size > SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let value = ctx.mm().reader(value_ptr, size)?.read_to_vec()?;
    let inode = inode_of(ctx, target, true).await?;
    let ns = namespace(&name)?;
    permitted(ctx, &inode, ns, true)?;
    let how = match flags {
        XATTR_CREATE => XattrSet::Create,
        XATTR_REPLACE => XattrSet::Replace,
        0 => XattrSet::Any,
        _ => return Err(Errno::EINVAL),
    };
    inode.xattr_set_async(&name, &value, how).await?;
    Ok(0)
}

async fn get(
    ctx: &Ctx<'_>,
    target: Target,
    name: UserCStr,
    value_ptr: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    let size = size.min(SIZE_MAX);
    let name = read_name(ctx, name)?;
    let inode = inode_of(ctx, target, false).await?;
    let ns = namespace(&name)?;
    permitted(ctx, &inode, ns, false)?;
    let value = inode.xattr_get_async(&name).await?;
    if size == 0 {
        return Ok(value.len() as u64);
    }
    if value.len() > size {
        return Err(Errno::ERANGE);
    }
    ctx.mm().writer(value_ptr, value.len())?.write_all(&value)?;
    Ok(value.len() as u64)
}

async fn list(ctx: &Ctx<'_>, target: Target, list_ptr: UserPtr<u8>, size: usize) -> KResult<u64> {
    let size = size.min(LIST_MAX);
    let inode = inode_of(ctx, target, false).await?;
    let admin = ctx.capable(CAP_SYS_ADMIN);
    let mut out = Vec::new();
    for name in inode.xattr_list_async().await? {
        // trusted.* is invisible without CAP_SYS_ADMIN.
        if name.starts_with(b"trusted.") && !admin {
            continue;
        }
        out.extend_from_slice(&name);
        out.push(0);
    }
    if size == 0 {
        return Ok(out.len() as u64);
    }
    if out.len() > size {
        return Err(Errno::ERANGE);
    }
    ctx.mm().writer(list_ptr, out.len())?.write_all(&out)?;
    Ok(out.len() as u64)
}

async fn remove(ctx: &Ctx<'_>, target: Target, name: UserCStr) -> KResult<u64> {
    let name = read_name(ctx, name)?;
    let inode = inode_of(ctx, target, true).await?;
    let ns = namespace(&name)?;
    permitted(ctx, &inode, ns, true)?;
    inode.xattr_remove_async(&name).await?;
    Ok(0)
}

pub async fn sys_setxattr(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    name: UserCStr,
    value: UserPtr<u8>,
    size: usize,
    flags: i32,
) -> KResult<u64> {
    set(ctx, Target::Path(path, true), name, value, size, flags).await
}

pub async fn sys_lsetxattr(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    name: UserCStr,
    value: UserPtr<u8>,
    size: usize,
    flags: i32,
) -> KResult<u64> {
    set(ctx, Target::Path(path, false), name, value, size, flags).await
}

pub async fn sys_fsetxattr(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    name: UserCStr,
    value: UserPtr<u8>,
    size: usize,
    flags: i32,
) -> KResult<u64> {
    set(ctx, Target::Fd(fd), name, value, size, flags).await
}

pub async fn sys_getxattr(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    name: UserCStr,
    value: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    get(ctx, Target::Path(path, true), name, value, size).await
}

pub async fn sys_lgetxattr(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    name: UserCStr,
    value: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    get(ctx, Target::Path(path, false), name, value, size).await
}

pub async fn sys_fgetxattr(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    name: UserCStr,
    value: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    get(ctx, Target::Fd(fd), name, value, size).await
}

pub async fn sys_listxattr(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    out: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    list(ctx, Target::Path(path, true), out, size).await
}

pub async fn sys_llistxattr(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    out: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    list(ctx, Target::Path(path, false), out, size).await
}

pub async fn sys_flistxattr(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    out: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    list(ctx, Target::Fd(fd), out, size).await
}

pub async fn sys_removexattr(ctx: &mut Ctx<'_>, path: UserCStr, name: UserCStr) -> KResult<u64> {
    remove(ctx, Target::Path(path, true), name).await
}

pub async fn sys_lremovexattr(ctx: &mut Ctx<'_>, path: UserCStr, name: UserCStr) -> KResult<u64> {
    remove(ctx, Target::Path(path, false), name).await
}

pub async fn sys_fremovexattr(ctx: &mut Ctx<'_>, fd: Fd, name: UserCStr) -> KResult<u64> {
    remove(ctx, Target::Fd(fd), name).await
}

// ---- the *xattrat calls (Linux 6.13) ----------------------------------------

/// The size of `struct xattr_args` version 0: `u64 value; u32 size; u32 flags`.
const XATTR_ARGS_SIZE_VER0: usize = 16;

/// Reads `struct xattr_args` as Linux's copy_struct_from_user: EINVAL below
/// version 0's size, E2BIG past a page or with unknown bytes not zero, EFAULT.
/// (value, size, flags).
fn xattr_args(ctx: &Ctx<'_>, uargs: UserPtr<u8>, usize_: usize) -> KResult<(u64, usize, u32)> {
    if usize_ < XATTR_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if usize_ > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut raw = [0u8; XATTR_ARGS_SIZE_VER0];
    ctx.mm().reader(uargs, usize_)?.read_extensible(&mut raw)?;
    let value = u64::from_ne_bytes(raw[0..8].try_into().unwrap_or_default());
    let size = u32::from_ne_bytes(raw[8..12].try_into().unwrap_or_default());
    let flags = u32::from_ne_bytes(raw[12..16].try_into().unwrap_or_default());
    Ok((value, size as usize, flags))
}

/// The `*xattrat` calls' own flags: AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH.
fn at_target(dirfd: Fd, path: UserCStr, at_flags: u32) -> KResult<Target> {
    if at_flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Target::At(dirfd, path, at_flags))
}

/// setxattrat(2): setxattr on the file `dirfd` and `path` name, the value,
/// its size and XATTR_CREATE/XATTR_REPLACE in `struct xattr_args`.
pub async fn sys_setxattrat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    at_flags: u32,
    name: UserCStr,
    uargs: UserPtr<u8>,
    usize_: usize,
) -> KResult<u64> {
    let (value, size, flags) = xattr_args(ctx, uargs, usize_)?;
    let target = at_target(dirfd, path, at_flags)?;
    set(ctx, target, name, UserPtr::new(value), size, flags as i32).await
}

/// getxattrat(2): getxattr with the buffer and its size in `struct
/// xattr_args` (whose flags must be 0: EINVAL).
pub async fn sys_getxattrat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    at_flags: u32,
    name: UserCStr,
    uargs: UserPtr<u8>,
    usize_: usize,
) -> KResult<u64> {
    let (value, size, flags) = xattr_args(ctx, uargs, usize_)?;
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let target = at_target(dirfd, path, at_flags)?;
    get(ctx, target, name, UserPtr::new(value), size).await
}

/// listxattrat(2).
pub async fn sys_listxattrat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    at_flags: u32,
    out: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    let target = at_target(dirfd, path, at_flags)?;
    list(ctx, target, out, size).await
}

/// removexattrat(2).
pub async fn sys_removexattrat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    at_flags: u32,
    name: UserCStr,
) -> KResult<u64> {
    let target = at_target(dirfd, path, at_flags)?;
    remove(ctx, target, name).await
}
