//! mount(2) and umount2(2): one mount table for the whole system (no mount
//! namespaces yet).
//!
//! New mounts of `proc`, `tmpfs`, `ramfs` and `devtmpfs` (a fresh ramfs for the
//! last three), bind mounts of a directory (MS_BIND), remounts (MS_REMOUNT, with
//! MS_BIND: of the mount alone), and the propagation calls programs make on the
//! way (MS_PRIVATE and friends), which change nothing here.
//!
//! Per-mount flags live with the mount ([`kestrel_vfs::path::MountFlags`]) and
//! every dentry reached through it. MS_RDONLY is enforced: the calls that change a
//! file system ask [`want_write`] first, as Linux's mnt_want_write. MS_NOSUID,
//! MS_NODEV and MS_NOEXEC are shown in /proc/mounts and statfs but not enforced
//! yet. There is one flag set per mount, no separate superblock: a remount
//! without MS_BIND makes only that mount read-only, not other bind mounts of the
//! same file system as Linux would.

use alloc::string::String;
use alloc::vec::Vec;

use kestrel_abi::cap::CAP_SYS_ADMIN;
use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::ramfs::RamFs;
use kestrel_vfs::{Dentry, MountInfo, OpenFile};

use super::Ctx;
use super::args::*;

/// The mount(2) flags a mount keeps (the rest act on the call or the superblock).
const PER_MOUNT: u64 = MS_RDONLY
    | MS_NOSUID
    | MS_NODEV
    | MS_NOEXEC
    | MS_SYNCHRONOUS
    | MS_NOATIME
    | MS_NODIRATIME
    | MS_STRICTATIME;

/// Linux's mnt_want_write: EROFS where `d` was reached through a read-only mount.
pub fn want_write(d: &Dentry) -> KResult<()> {
    d.mnt().want_write()
}

/// Linux's mnt_want_write_file: EROFS for a file opened through a read-only
/// mount (files without a name have no mount and may change).
pub fn want_write_file(f: &OpenFile) -> KResult<()> {
    f.dentry().map_or(Ok(()), |d| want_write(d))
}

/// statfs's f_flags for a file on `d`'s mount (Linux's calculate_f_flags).
pub fn statfs_flags(d: Option<&Dentry>) -> i64 {
    let flags = d.map_or(0, |d| d.mnt().get());
    let mut f = ST_VALID;
    for (ms, st) in [
        (MS_RDONLY, ST_RDONLY),
        (MS_NOSUID, ST_NOSUID),
        (MS_NODEV, ST_NODEV),
        (MS_NOEXEC, ST_NOEXEC),
        (MS_SYNCHRONOUS, ST_SYNCHRONOUS),
        (MS_NOATIME, ST_NOATIME),
        (MS_NODIRATIME, ST_NODIRATIME),
    ] {
        if flags & ms != 0 {
            f |= st;
        }
    }
    if flags & (MS_NOATIME | MS_STRICTATIME) == 0 {
        f |= ST_RELATIME;
    }
    f
}

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

fn optional_string(ctx: &Ctx<'_>, ptr: UserCStr) -> KResult<Option<Vec<u8>>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        ctx.read_path(ptr).map(Some)
    }
}

pub async fn sys_mount(
    ctx: &mut Ctx<'_>,
    src_ptr: UserCStr,
    target_ptr: UserCStr,
    type_ptr: UserCStr,
    mut flags: u64,
    data_ptr: UserPtr<u8>,
) -> KResult<u64> {
    // Linux copies the type, the source and the data in before anything else.
    let fstype = optional_string(ctx, type_ptr)?;
    let source = optional_string(ctx, src_ptr)?;
    let data = mount_data(ctx, data_ptr)?;
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
        // Only the root of a mount can be remounted (EINVAL). The new flags
        // replace the mount's; without MS_BIND the file system's own options
        // are checked as for a new mount.
        if flags & MS_BIND == 0
            && let Some(t) = &fstype
        {
            check_options(t, data.as_deref().unwrap_or_default())?;
        }
        let mut flags = flags & PER_MOUNT;
        if data
            .as_deref()
            .is_some_and(|d| has_option(d, b"ro") && flags & MS_BIND == 0)
        {
            flags |= MS_RDONLY;
        }
        crate::fs::mounts().remount(&target, flags, options(flags))?;
        return Ok(0);
    }
    if flags & MS_MOVE != 0 {
        return Err(Errno::EINVAL);
    }
    if !target.inode.metadata().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let (root, source, fstype, mount_flags) = if flags & MS_BIND != 0 {
        let src_path = source.ok_or(Errno::EFAULT)?;
        let src = ctx.resolve(AT_FDCWD, &src_path, true)?;
        if !src.inode.metadata().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        // A bind mount starts with its source mount's flags: MS_RDONLY and the
        // like take a second call, MS_REMOUNT | MS_BIND (as on Linux).
        let inherited = src.mnt().get();
        (src.inode.clone(), src.path(), b"none".to_vec(), inherited)
    } else {
        let fstype = fstype.ok_or(Errno::EINVAL)?;
        let source = source.unwrap_or_else(|| b"none".to_vec());
        check_options(&fstype, data.as_deref().unwrap_or_default())?;
        let dev = || {
            makedev(
                0,
                NEXT_DEV.fetch_add(1, core::sync::atomic::Ordering::Relaxed),
            )
        };
        let root = match &fstype[..] {
            b"proc" => crate::fs::procfs::new_root(),
            b"tmpfs" | b"devtmpfs" => RamFs::new_root_sized(dev(), tmpfs_size(data.as_deref())),
            b"ramfs" => RamFs::new_root(dev()),
            _ => return Err(Errno::ENODEV),
        };
        if fstype != b"proc" {
            set_root_attributes(ctx, &root, &fstype, data.as_deref().unwrap_or_default())?;
        }
        let mut flags = flags & PER_MOUNT;
        // "ro" in the data string is MS_RDONLY, as mount(8) would have passed it.
        if data.as_deref().is_some_and(|d| has_option(d, b"ro")) {
            flags |= MS_RDONLY;
        }
        (root, source, fstype, flags)
    };
    let info = MountInfo {
        source,
        fstype,
        path: target.path(),
        options: options(mount_flags),
    };
    crate::fs::mounts().mount(&target.inode, root, info, mount_flags)?;
    Ok(0)
}

/// The value of the last `key=value` option of the data string (up to its NUL).
fn option_value<'a>(data: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let data = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
    data.split(|&b| b == b',')
        .filter_map(|o| o.strip_prefix(key)?.strip_prefix(b"="))
        .next_back()
}

/// The root directory of a new tmpfs or ramfs: mode 1777 for tmpfs, 0755 for
/// ramfs and devtmpfs unless `mode=` says otherwise; owned by the mounter unless
/// `uid=` and `gid=` (tmpfs) say otherwise, as Linux's shmem_fill_super.
fn set_root_attributes(
    ctx: &Ctx<'_>,
    root: &kestrel_vfs::InodeRef,
    fstype: &[u8],
    data: &[u8],
) -> KResult<()> {
    let number = |key: &[u8], radix: u32| -> KResult<Option<u32>> {
        option_value(data, key)
            .map(|v| {
                core::str::from_utf8(v)
                    .ok()
                    .and_then(|v| u32::from_str_radix(v, radix).ok())
                    .ok_or(Errno::EINVAL)
            })
            .transpose()
    };
    let default_mode = if fstype == b"tmpfs" { 0o1777 } else { 0o755 };
    let mode = number(b"mode", 8)?.map_or(default_mode, |m| m & 0o7777);
    let (mut uid, mut gid) = {
        let c = ctx.process().cred.lock();
        (c.fsuid, c.fsgid)
    };
    if fstype == b"tmpfs" {
        // -1 is no user or group at all (Linux's invalid kuid): EINVAL.
        let id = |v: Option<u32>| match v {
            Some(u32::MAX) => Err(Errno::EINVAL),
            v => Ok(v),
        };
        uid = id(number(b"uid", 10)?)?.unwrap_or(uid);
        gid = id(number(b"gid", 10)?)?.unwrap_or(gid);
    }
    root.set_owner(Some(uid), Some(gid))?;
    root.set_mode(mode)?;
    Ok(())
}

/// Whether the comma-separated data string (up to its NUL) has the option `name`
/// with no value; the last of "ro" and "rw" wins.
fn has_option(data: &[u8], name: &[u8]) -> bool {
    let data = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
    let last = data
        .split(|&b| b == b',')
        .rfind(|o| *o == b"ro" || *o == b"rw");
    match name {
        b"ro" | b"rw" => last == Some(name),
        _ => data.split(|&b| b == b',').any(|o| o == name),
    }
}

/// The data page of mount(2): up to a page from `ptr`, less if the page after
/// it cannot be read (EFAULT only if nothing can), as Linux's copy_mount_options.
fn mount_data(ctx: &Ctx<'_>, ptr: UserPtr<u8>) -> KResult<Option<Vec<u8>>> {
    if ptr.is_null() {
        return Ok(None);
    }
    let mut page: Vec<u8> = super::zeroed_vec(4096)?;
    // The range may reach past the end of user space; the copy stops there.
    let len = (kestrel_usermem::USER_END.saturating_sub(ptr.addr()) as usize).min(page.len());
    let n = ctx.mm().reader(ptr, len)?.read(&mut page);
    if n == 0 {
        return Err(Errno::EFAULT);
    }
    page.truncate(n);
    Ok(Some(page))
}

/// The size of a new tmpfs: its `size=` option (bytes with an optional k/m/g/t/p/e
/// suffix, or a percentage of memory), else half of memory, as Linux's default.
fn tmpfs_size(data: Option<&[u8]>) -> u64 {
    let memory = crate::mm::frame::stats().1 * 4096;
    let data = data.unwrap_or_default();
    let data = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
    let size = data
        .split(|&b| b == b',')
        .filter_map(|o| o.strip_prefix(b"size="))
        .next_back()
        .and_then(|v| {
            let (digits, unit) = match v.last()? {
                b'%' => (&v[..v.len() - 1], None),
                c if c.is_ascii_alphabetic() => (&v[..v.len() - 1], Some(c.to_ascii_lowercase())),
                _ => (v, Some(b'b')),
            };
            let n: u64 = core::str::from_utf8(digits).ok()?.parse().ok()?;
            let shift = match unit {
                None => return Some(memory / 100 * n),
                Some(b'b') => 0,
                Some(b'k') => 10,
                Some(b'm') => 20,
                Some(b'g') => 30,
                Some(b't') => 40,
                Some(b'p') => 50,
                Some(b'e') => 60,
                _ => return None,
            };
            n.checked_mul(1 << shift)
        });
    match size {
        // size=0 means no limit on tmpfs.
        Some(0) => u64::MAX,
        Some(n) => n,
        None => memory / 2,
    }
}

/// Checks the comma-separated options of a new mount's data string (up to its
/// NUL): the superblock flags every file system takes, and each file system's
/// own. tmpfs and proc refuse what they do not know (EINVAL); ramfs ignores it,
/// as Linux's does.
fn check_options(fstype: &[u8], data: &[u8]) -> KResult<()> {
    let data = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
    for opt in data.split(|&b| b == b',').filter(|o| !o.is_empty()) {
        let (key, value) = match opt.iter().position(|&b| b == b'=') {
            Some(i) => (&opt[..i], Some(&opt[i + 1..])),
            None => (opt, None),
        };
        let generic = [
            &b"ro"[..],
            b"rw",
            b"sync",
            b"async",
            b"dirsync",
            b"lazytime",
            b"nolazytime",
            b"mand",
            b"nomand",
            b"silent",
        ];
        if value.is_none() && generic.contains(&key) {
            continue;
        }
        let number = |v: Option<&[u8]>, radix: u32| {
            v.and_then(|v| core::str::from_utf8(v).ok())
                .and_then(|v| u64::from_str_radix(v, radix).ok())
                .is_some()
        };
        let size = |v: Option<&[u8]>| {
            v.is_some_and(|v| {
                let digits = v.strip_suffix(b"%").unwrap_or(v);
                let digits = match digits.last() {
                    Some(
                        b'k' | b'K' | b'm' | b'M' | b'g' | b'G' | b't' | b'T' | b'p' | b'P' | b'e'
                        | b'E',
                    ) => &digits[..digits.len() - 1],
                    _ => digits,
                };
                number(Some(digits), 10)
            })
        };
        let ok = match fstype {
            b"tmpfs" | b"devtmpfs" => match key {
                b"size" | b"nr_blocks" | b"nr_inodes" => size(value),
                b"mode" => number(value, 8),
                b"uid" | b"gid" => number(value, 10),
                b"huge" => matches!(
                    value,
                    Some(b"never" | b"always" | b"within_size" | b"advise" | b"deny" | b"force")
                ),
                b"mpol" => value.is_some(),
                b"inode32" | b"inode64" | b"noswap" => value.is_none(),
                _ => false,
            },
            b"proc" => match key {
                b"hidepid" | b"subset" => value.is_some(),
                b"gid" => number(value, 10),
                _ => false,
            },
            _ => true,
        };
        if !ok {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

pub async fn sys_umount2(ctx: &mut Ctx<'_>, target: UserCStr, flags: u32) -> KResult<u64> {
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0
        || (flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0)
    {
        return Err(Errno::EINVAL);
    }
    if !ctx.process().cred.lock().capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let path = ctx.read_path(target)?;
    let target = ctx.resolve(AT_FDCWD, &path, flags & UMOUNT_NOFOLLOW == 0)?;
    // The path resolved to the root of what is mounted there (EINVAL if nothing).
    crate::fs::mounts().unmount(kestrel_vfs::path::identity(&target.inode))?;
    Ok(0)
}
