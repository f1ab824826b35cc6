//! mount(2) and umount2(2): one mount table for the whole system (no mount
//! namespaces yet).
//!
//! New mounts of `proc`, `tmpfs`, `ramfs` and `devtmpfs` (a fresh ramfs for the
//! last three), bind mounts of a directory (MS_BIND), and the propagation and
//! remount calls programs make on the way (MS_PRIVATE and friends, MS_REMOUNT),
//! which change nothing here. Per-mount flags (MS_RDONLY, MS_NOEXEC, ...) are
//! recorded for /proc/mounts but not enforced yet: the table entry says so.

use alloc::string::String;
use alloc::vec::Vec;

use kestrel_abi::cap::CAP_SYS_ADMIN;
use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::MountInfo;
use kestrel_vfs::ramfs::RamFs;

use super::{Args, Ctx};

/// Device numbers for new in-memory file systems (anonymous block devices).
static NEXT_DEV: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(32);

fn options(flags: u64) -> Vec<u8> {
    let mut o = String::from(if flags & MS_RDONLY != 0 { "ro" } else { "rw" });
    for (bit, name) in [
        (MS_NOSUID, "nosuid"),
        (MS_NODEV, "nodev"),
        (MS_NOEXEC, "noexec"),
        (MS_SYNCHRONOUS, "sync"),
        (MS_NOATIME, "noatime"),
        (MS_NODIRATIME, "nodiratime"),
    ] {
        if flags & bit != 0 {
            o.push(',');
            o.push_str(name);
        }
    }
    if flags & (MS_NOATIME | MS_STRICTATIME) == 0 {
        o.push_str(",relatime");
    }
    o.into_bytes()
}

fn optional_string(ctx: &Ctx<'_>, ptr: u64) -> KResult<Option<Vec<u8>>> {
    if ptr == 0 {
        Ok(None)
    } else {
        ctx.read_path(ptr).map(Some)
    }
}

pub async fn sys_mount(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (src_ptr, target_ptr, type_ptr, mut flags) = (a[0], a[1], a[2], a[3]);
    if !ctx.process().cred.lock().capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    // The old magic number in the high half is ignored (mount(2)).
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    let target_path = ctx.read_path(target_ptr)?;
    let target = ctx.resolve(AT_FDCWD, &target_path, true)?;
    let propagation = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
    if flags & propagation != 0 {
        // One mount namespace, nothing shared: propagation types change nothing.
        return Ok(0);
    }
    if flags & MS_REMOUNT != 0 {
        // Only a mount point can be remounted; the new flags are not enforced.
        let at_mount = crate::fs::mounts()
            .infos()
            .iter()
            .any(|m| m.path == target.path());
        return if at_mount || target.parent().is_none() {
            Ok(0)
        } else {
            Err(Errno::EINVAL)
        };
    }
    if flags & MS_MOVE != 0 {
        return Err(Errno::EINVAL);
    }
    if !target.inode.metadata().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let (root, source, fstype) = if flags & MS_BIND != 0 {
        let src_path = ctx.read_path(src_ptr)?;
        let src = ctx.resolve(AT_FDCWD, &src_path, true)?;
        if !src.inode.metadata().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        (src.inode.clone(), src.path(), b"none".to_vec())
    } else {
        let fstype = optional_string(ctx, type_ptr)?.ok_or(Errno::EFAULT)?;
        let source = optional_string(ctx, src_ptr)?.unwrap_or_else(|| b"none".to_vec());
        let dev = || {
            makedev(
                0,
                NEXT_DEV.fetch_add(1, core::sync::atomic::Ordering::Relaxed),
            )
        };
        let root = match &fstype[..] {
            b"proc" => crate::fs::procfs::new_root(),
            b"tmpfs" | b"ramfs" | b"devtmpfs" => RamFs::new_root(dev()),
            _ => return Err(Errno::ENODEV),
        };
        (root, source, fstype)
    };
    let info = MountInfo {
        source,
        fstype,
        path: target.path(),
        options: options(flags),
    };
    crate::fs::mounts().mount(&target.inode, root, info)?;
    Ok(0)
}

pub async fn sys_umount2(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let flags = a[1] as u32;
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0
        || (flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0)
    {
        return Err(Errno::EINVAL);
    }
    if !ctx.process().cred.lock().capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let path = ctx.read_path(a[0])?;
    let target = ctx.resolve(AT_FDCWD, &path, flags & UMOUNT_NOFOLLOW == 0)?;
    // The path resolved to the root of what is mounted there (EINVAL if nothing).
    crate::fs::mounts().unmount(kestrel_vfs::path::identity(&target.inode))?;
    Ok(0)
}
