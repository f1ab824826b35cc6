//! mount(2), umount2(2), pivot_root(2) and mount_setattr(2), on the caller's
//! mount namespace's table (kernel/src/ns.rs; `kestrel_vfs::Mounts`).
//!
//! New mounts of `ext2` (a block device's file system, kernel/src/fs/ext2.rs),
//! `proc`, `tmpfs` and `ramfs` (a fresh ramfs for the last two), `devtmpfs` (the
//! one device file system /dev shows, as on Linux), bind mounts of a directory
//! (MS_BIND), remounts (MS_REMOUNT, with MS_BIND: of the mount alone), MS_MOVE,
//! and the propagation types (MS_SHARED and friends), shown in mountinfo: a
//! new mount on a shared mount's directory is copied to its peers and slaves
//! (Linux's propagate_mnt); unmounts and moves do not propagate.
//!
//! Per-mount flags live with the mount ([`kestrel_vfs::path::MountFlags`]) and
//! every dentry reached through it. MS_RDONLY is enforced: the calls that change a
//! file system ask [`want_write`] first, as Linux's mnt_want_write. MS_NOEXEC
//! is enforced by execve (EACCES, for interpreters too), mmap (PROT_EXEC is
//! EPERM) and mprotect (adding PROT_EXEC later is EACCES), MS_NODEV by open
//! (EACCES for device nodes), MS_NOSUID by execve (set-user-ID and
//! set-group-ID bits are ignored there). There is one flag set per mount, no
//! separate superblock: a remount without MS_BIND makes only that mount
//! read-only, not other bind mounts of the same file system as Linux would.
//!
//! umount2 of a disk file system's last mount writes it back and marks it
//! clean (EBUSY while its files are in use); MNT_DETACH takes the mount and
//! the mounts under it out of the table even then, and the disk is finished
//! with when it is next mounted and nothing uses it. An in-memory file system
//! unmounts even while its files are open (Linux: EBUSY without MNT_DETACH),
//! and MNT_EXPIRE marks the mount first (EAGAIN) and unmounts on a second call
//! when nothing walked into it between (Linux's expiry mark). When the last
//! mount of a file system goes, inotify's watches on it hear IN_UNMOUNT.

use alloc::string::String;
use alloc::vec::Vec;

use kestrel_abi::cap::CAP_SYS_ADMIN;
use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::path::MountRef;
use kestrel_vfs::ramfs::RamFs;
use kestrel_vfs::{Dentry, MountInfo, OpenFile};

use super::Ctx;
use super::args::*;

/// The mount(2) flags a mount keeps (the rest act on the call or the superblock).
pub(super) const PER_MOUNT: u64 = MS_RDONLY
    | MS_NOSUID
    | MS_NODEV
    | MS_NOEXEC
    | MS_SYNCHRONOUS
    | MS_NOATIME
    | MS_NODIRATIME
    | MS_STRICTATIME
    | MS_NOSYMFOLLOW;

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
        (MS_NOSYMFOLLOW, ST_NOSYMFOLLOW),
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

pub(super) fn options(flags: u64) -> Vec<u8> {
    let mut o = String::from(if flags & MS_RDONLY != 0 { "ro" } else { "rw" });
    for (bit, name) in [
        (MS_NOSUID, "nosuid"),
        (MS_NODEV, "nodev"),
        (MS_NOEXEC, "noexec"),
        (MS_SYNCHRONOUS, "sync"),
        (MS_NOATIME, "noatime"),
        (MS_NODIRATIME, "nodiratime"),
        (MS_NOSYMFOLLOW, "nosymfollow"),
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
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    // The old magic number in the high half is ignored (mount(2)).
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    let target_path = ctx.read_path(target_ptr)?;
    let target = ctx.resolve(AT_FDCWD, &target_path, true).await?;
    let propagation = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
    if flags & propagation != 0 {
        // The propagation type of the mount at `target` (and with MS_REC of
        // those under it): exactly one type (EINVAL), at a mount's root
        // (EINVAL). Kestrel records it for mountinfo; no mount events travel
        // between peers.
        let kind = flags & propagation;
        if kind.count_ones() != 1 {
            return Err(Errno::EINVAL);
        }
        change_propagation(&target, kind, flags & MS_REC != 0)?;
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
        // Without MS_BIND the file system itself changes too (an ext2 disk
        // becomes writable or read-only); a refusal leaves the mount read-only.
        if flags & MS_BIND == 0
            && let Err(e) = crate::fs::ext2::remount(&target.inode, flags & MS_RDONLY != 0).await
        {
            let back = flags | MS_RDONLY;
            let _ = crate::fs::mounts().remount(&target, back, options(back));
            return Err(e);
        }
        return Ok(0);
    }
    if flags & MS_MOVE != 0 {
        // A mount moves whole to another directory (switch_root's first step):
        // only a mount's root moves (EINVAL), never into itself (ELOOP).
        let src = source
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(Errno::EINVAL)?;
        let from = ctx.resolve(AT_FDCWD, src, true).await?;
        let id = kestrel_vfs::path::identity(&from.inode);
        if crate::fs::mounts().root_at(id).is_none() {
            return Err(Errno::EINVAL);
        }
        move_attached(&from, &target)?;
        return Ok(0);
    }
    // A symlink itself can be the target only through a magic link to an
    // O_PATH descriptor of one (/proc/PID/fd/N): nothing mounts there
    // (ENOENT, as Linux since d80b065bb172).
    if target.inode.metadata().is_symlink() {
        return Err(Errno::ENOENT);
    }
    // A new file system's root is a directory, and so must its mount point
    // be; a bind mount puts a file on a file or a directory on a directory
    // (Linux's graft_tree: ENOTDIR otherwise), as containers bind
    // /etc/resolv.conf.
    if flags & MS_BIND == 0 && !target.inode.metadata().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let mut peer_of = None;
    // MS_BIND | MS_REC: the mounts under the source come along.
    let mut tree_of = None;
    let (root, source, fstype, mount_flags, root_path) = if flags & MS_BIND != 0 {
        let src_path = source.ok_or(Errno::EFAULT)?;
        let src = ctx.resolve(AT_FDCWD, &src_path, true).await?;
        // An unbindable mount is no bind mount's source (EINVAL).
        if src.mnt().unbindable() {
            return Err(Errno::EINVAL);
        }
        if src.inode.metadata().is_dir() != target.inode.metadata().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        // A bind mount starts with its source mount's flags: MS_RDONLY and the
        // like take a second call, MS_REMOUNT | MS_BIND (as on Linux). It
        // shows its source's device and file system type.
        let inherited = src.mnt().get();
        peer_of = Some(src.mnt().clone());
        if flags & MS_REC != 0 {
            tree_of = Some((src.mnt().clone(), src.path()));
        }
        let (source, fstype, root_path) = source_of(&src);
        (src.inode.clone(), source, fstype, inherited, root_path)
    } else {
        let fstype = fstype.ok_or(Errno::EINVAL)?;
        let mut flags = flags & PER_MOUNT;
        // "ro" in the data string is MS_RDONLY, as mount(8) would have passed it.
        if data.as_deref().is_some_and(|d| has_option(d, b"ro")) {
            flags |= MS_RDONLY;
        }
        let root = create_fs(
            ctx,
            &fstype,
            source.as_deref(),
            data.as_deref().unwrap_or_default(),
            flags,
        )
        .await?;
        let source = source.unwrap_or_else(|| b"none".to_vec());
        (root, source, fstype, flags, b"/".to_vec())
    };
    let mut mount_options = options(mount_flags);
    if fstype == b"cgroup2" && flags & MS_BIND == 0 {
        // The hierarchy's own options (nsdelegate...), as Linux shows them.
        mount_options.extend_from_slice(crate::fs::cgroupfs::super_options().as_bytes());
    }
    let info = MountInfo {
        source,
        fstype,
        path: target.path(),
        options: mount_options,
    };
    let m = kestrel_vfs::path::MountFlags::new(mount_flags);
    // A bind mount of a shared mount is one of its peers.
    if let Some(src) = peer_of {
        m.join_peers_of(&src);
    }
    let mounts = crate::fs::mounts();
    if mounts.count() >= MOUNT_MAX {
        return Err(Errno::ENOSPC);
    }
    let new = kestrel_vfs::path::Mount {
        at: kestrel_vfs::path::identity(&target.inode),
        root,
        info,
        flags: m,
        parent: Some(target.mnt().clone()),
        root_path,
    };
    let peers = propagation_targets(&target);
    let under = tree_of.map(|(m, p)| (submounts(&m, &p), p));
    mounts.attach(new.clone(), false);
    if let Some((under, from_path)) = under {
        copy_tree(&under, &from_path, &new.flags, &new.info.path);
    }
    propagate(&new, &peers);
    Ok(0)
}

/// The mounts under the directory `path` (its namespace path) of the mount
/// `from`, and theirs in turn: what a recursive bind (MS_BIND | MS_REC,
/// open_tree's AT_RECURSIVE) copies, parents before their children.
/// Unbindable ones (and what is under them) are left out.
pub(super) fn submounts(from: &MountRef, path: &[u8]) -> Vec<kestrel_vfs::path::Mount> {
    let all = crate::fs::mounts().list();
    let mut out: Vec<kestrel_vfs::path::Mount> = Vec::new();
    let mut parents: Vec<(MountRef, Vec<u8>)> = alloc::vec![(from.clone(), path.to_vec())];
    while let Some((p, p_path)) = parents.pop() {
        for e in &all {
            let child = e
                .parent
                .as_ref()
                .is_some_and(|x| alloc::sync::Arc::ptr_eq(x, &p));
            let below = p_path == b"/"
                || e.info.path == p_path
                || (e.info.path.starts_with(&p_path)
                    && e.info.path.get(p_path.len()) == Some(&b'/'));
            if child && below && !e.flags.unbindable() && out.len() < MOUNT_MAX {
                out.push(e.clone());
                parents.push((e.flags.clone(), e.info.path.clone()));
            }
        }
    }
    out
}

/// Copies the mounts `under` (from [`submounts`] of a source whose
/// namespace path was `from_path`) onto the new mount `to` at `to_path`:
/// each copy on the copy of its parent, a peer of its original if that is
/// shared.
pub(super) fn copy_tree(
    under: &[kestrel_vfs::path::Mount],
    from_path: &[u8],
    to: &MountRef,
    to_path: &[u8],
) {
    let mounts = crate::fs::mounts();
    let mut copies: Vec<(MountRef, MountRef)> = Vec::new();
    for e in under {
        if mounts.count() >= MOUNT_MAX {
            return;
        }
        let copy = kestrel_vfs::path::MountFlags::new(e.flags.get());
        copy.join_peers_of(&e.flags);
        let parent = e
            .parent
            .as_ref()
            .and_then(|p| copies.iter().find(|(o, _)| alloc::sync::Arc::ptr_eq(o, p)))
            .map_or_else(|| to.clone(), |(_, c)| c.clone());
        // Its path: `to_path` with the part below `from_path`.
        let rest = if from_path == b"/" {
            &e.info.path[..]
        } else {
            e.info.path.get(from_path.len()..).unwrap_or_default()
        };
        let mut path = if to_path == b"/" {
            Vec::new()
        } else {
            to_path.to_vec()
        };
        path.extend_from_slice(rest);
        if path.is_empty() {
            path.push(b'/');
        }
        let mut info = e.info.clone();
        info.path = path;
        mounts.attach(
            kestrel_vfs::path::Mount {
                at: e.at,
                root: e.root.clone(),
                info,
                flags: copy.clone(),
                parent: Some(parent),
                root_path: e.root_path.clone(),
            },
            false,
        );
        copies.push((e.flags.clone(), copy));
    }
}

/// Unmount propagation (Linux's propagate_umount): when `gone` was mounted
/// on a shared mount, its copies on the peers and slaves of that mount (same
/// directory, same root, nothing mounted on them) go too.
fn propagate_umount(gone: &kestrel_vfs::path::Mount) {
    let Some(parent) = &gone.parent else { return };
    let (group, _) = parent.propagation();
    if group == 0 {
        return;
    }
    let mounts = crate::fs::mounts();
    let root = kestrel_vfs::path::identity(&gone.root);
    let all = mounts.list();
    for e in &all {
        let in_group = e.parent.as_ref().is_some_and(|p| {
            let (s, m) = p.propagation();
            s == group || m == group
        });
        let covered = all.iter().any(|c| {
            c.parent
                .as_ref()
                .is_some_and(|p| alloc::sync::Arc::ptr_eq(p, &e.flags))
        });
        if in_group && e.at == gone.at && kestrel_vfs::path::identity(&e.root) == root && !covered {
            mounts.unmount_exact(&e.flags, root);
        }
    }
    // A disk whose last copy went that way is let go of (as after
    // MNT_DETACH: finished when it is next mounted).
    if mounts.mounts_of(root) == 0 {
        crate::fs::ext2::detach(&gone.root);
    }
}

/// The most mounts a namespace holds (Linux's /proc/sys/fs/mount-max
/// default): more is ENOSPC.
pub(super) const MOUNT_MAX: usize = 100_000;

/// Where a mount made on the directory `d` propagates to (taken before the
/// new mount is attached): when `d`'s mount is shared, the other mounts of
/// its peer group and its slaves that show `d`, each with the path `d` has
/// there.
pub(super) fn propagation_targets(d: &Dentry) -> Vec<(kestrel_vfs::path::Mount, Vec<u8>)> {
    let (group, _) = d.mnt().propagation();
    if group == 0 {
        return Vec::new();
    }
    let (_, _, fs_path) = source_of(d);
    let dev = d.inode.metadata().dev;
    let mut out = Vec::new();
    for q in crate::fs::mounts().list() {
        let (shared, master) = q.flags.propagation();
        if alloc::sync::Arc::ptr_eq(&q.flags, d.mnt())
            || (shared != group && master != group)
            || q.root.metadata().dev != dev
        {
            continue;
        }
        // The part of `d`'s path below the peer's root (none: `d` is not
        // in what the peer shows).
        let rest = if q.root_path == b"/" {
            Some(&fs_path[..])
        } else {
            fs_path
                .strip_prefix(&q.root_path[..])
                .filter(|r| r.is_empty() || r.first() == Some(&b'/'))
        };
        let Some(rest) = rest else { continue };
        let mut path = q.info.path.clone();
        if rest != b"/" && !rest.is_empty() {
            if path == b"/" {
                path.clear();
            }
            path.extend_from_slice(rest);
        }
        out.push((q, path));
    }
    out
}

/// Mount propagation (Linux's propagate_mnt): a copy of the new mount `m` on
/// each target of [`propagation_targets`], a peer of `m` on a peer, a slave
/// of `m`'s group on a slave.
pub(super) fn propagate(
    m: &kestrel_vfs::path::Mount,
    targets: &[(kestrel_vfs::path::Mount, Vec<u8>)],
) {
    let mounts = crate::fs::mounts();
    for (q, path) in targets {
        if mounts.count() >= MOUNT_MAX {
            return;
        }
        let copy = kestrel_vfs::path::MountFlags::new(m.flags.get());
        copy.join_peers_of(&m.flags);
        let (group, _) = m.flags.propagation();
        let (q_shared, _) = q.flags.propagation();
        if q_shared == 0 && group != 0 {
            // On a slave: a slave of the new mount's group.
            copy.change_propagation(MS_SLAVE);
        }
        let mut info = m.info.clone();
        info.path = path.clone();
        mounts.attach(
            kestrel_vfs::path::Mount {
                at: m.at,
                root: m.root.clone(),
                info,
                flags: copy,
                parent: Some(q.flags.clone()),
                root_path: m.root_path.clone(),
            },
            false,
        );
    }
}

/// A new file system of type `fstype` for mount(2) or fsconfig's
/// FSCONFIG_CMD_CREATE: its root. `data` holds its options (comma-separated,
/// as mount(2)'s data string), `flags` the MS_* flags (MS_RDONLY).
/// `ext2` needs a block device `source` (EINVAL without one, ENOTBLK, EACCES
/// on a nodev mount); an unknown type is ENODEV; bad options EINVAL.
pub(super) async fn create_fs(
    ctx: &Ctx<'_>,
    fstype: &[u8],
    source: Option<&[u8]>,
    data: &[u8],
    flags: u64,
) -> KResult<kestrel_vfs::InodeRef> {
    check_options(fstype, data)?;
    let dev = || {
        makedev(
            0,
            NEXT_DEV.fetch_add(1, core::sync::atomic::Ordering::Relaxed),
        )
    };
    let root = match fstype {
        b"ext2" => {
            // The source is a block device file (ENOTBLK otherwise); none
            // at all is EINVAL ("no source specified").
            let source = source.ok_or(Errno::EINVAL)?;
            let dev = ctx.resolve(AT_FDCWD, source, true).await?;
            let m = dev.inode.metadata();
            if m.file_type() != S_IFBLK {
                return Err(Errno::ENOTBLK);
            }
            if dev.mnt().get() & MS_NODEV != 0 {
                return Err(Errno::EACCES);
            }
            crate::fs::ext2::mount(m.rdev, flags & MS_RDONLY != 0).await?
        }
        b"proc" => crate::fs::procfs::new_root(),
        b"tmpfs" => RamFs::new_root_sized(dev(), tmpfs_size(Some(data))),
        // One instance, as Linux's: the nodes /dev has (its options are the
        // boot mount's).
        b"devtmpfs" => crate::fs::devtmpfs(),
        b"ramfs" => RamFs::new_root(dev()),
        b"hugetlbfs" => crate::fs::hugetlbfs::HugeDir::new_root(dev(), data),
        // One hierarchy, whoever mounts it (from their cgroup namespace's root).
        b"cgroup2" => crate::fs::cgroupfs::new_root(data)?,
        _ => return Err(Errno::ENODEV),
    };
    if fstype != b"proc" && fstype != b"ext2" && fstype != b"devtmpfs" && fstype != b"cgroup2" {
        set_root_attributes(ctx, &root, fstype, data)?;
    }
    Ok(root)
}

/// What a bind mount (or a clone: open_tree) of `d` shows as its source,
/// its file system type and its root's path inside the file system: those
/// of the mount `d` was reached through, with `d`'s path below its root.
pub(super) fn source_of(d: &Dentry) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mounts = crate::fs::mounts();
    let (source, fstype, base) = if let Some(e) = mounts.entry_of(d.mnt()) {
        (e.info.source, e.info.fstype, e.root_path)
    } else if let Some(m) = super::newmount::detached_info(d.mnt()) {
        m
    } else {
        let r = crate::fs::root_line(&mounts);
        (r.source, r.fstype, b"/".to_vec())
    };
    // The names from the mount's root down to `d`.
    let mut names = Vec::new();
    let mut x = d;
    while let Some(p) = x.parent() {
        if !alloc::sync::Arc::ptr_eq(p.mnt(), x.mnt()) {
            break;
        }
        names.push(x.name().to_vec());
        x = p;
    }
    let mut path = if base == b"/" { Vec::new() } else { base };
    for n in names.iter().rev() {
        path.push(b'/');
        path.extend_from_slice(n);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    (source, fstype, path)
}

/// MS_MOVE (and move_mount of an attached mount): the mount whose root
/// `from` is goes to the directory `to` (ELOOP into itself), with the
/// mounts under it; its parent becomes `to`'s mount.
pub(super) fn move_attached(from: &Dentry, to: &Dentry) -> KResult<()> {
    let id = kestrel_vfs::path::identity(&from.inode);
    let (dst, old) = (to.path(), from.path());
    if dst == old || (dst.starts_with(&old) && dst.get(old.len()) == Some(&b'/')) {
        return Err(Errno::ELOOP);
    }
    let mounts = crate::fs::mounts();
    mounts.move_mount_to(id, &to.inode, dst)?;
    mounts.set_parent(from.mnt(), to.mnt().clone(), None);
    Ok(())
}

/// MS_SHARED and friends (`kind`) on the mount whose root `d` is, and with
/// `recursive` on every mount under it (EINVAL when `d` is no mount's root).
fn change_propagation(d: &Dentry, kind: u64, recursive: bool) -> KResult<()> {
    let mounts = crate::fs::mounts();
    let (m, path) = mounts.mount_of(d).ok_or(Errno::EINVAL)?;
    if recursive {
        for m in mounts.mounts_under(&path) {
            m.change_propagation(kind);
        }
    } else {
        m.change_propagation(kind);
    }
    Ok(())
}

/// struct mount_attr's fields, as mount_setattr(2) reads them.
pub(super) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(super) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(super) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(super) const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub(super) const MOUNT_ATTR__ATIME: u64 = 0x70;
pub(super) const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub(super) const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub(super) const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub(super) const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
pub(super) const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
pub(super) const MOUNT_ATTR_SIZE_VER0: usize = 32;
pub(super) const AT_RECURSIVE: u32 = 0x8000;

/// mount_setattr(dfd, path, flags, attr, size): changes the per-mount flags
/// (attr_set, attr_clr) and the propagation type of the mount at `path`
/// (with AT_RECURSIVE, of every mount under it too). Linux's checks in its
/// order: unknown flags EINVAL, size E2BIG/EINVAL, privilege EPERM, a call
/// that changes nothing succeeds before the path is looked at, then the
/// attribute checks (EINVAL), then the path (EINVAL unless a mount's root).
/// Id-mapped mounts (MOUNT_ATTR_IDMAP) are not offered: EINVAL.
pub async fn sys_mount_setattr(
    ctx: &mut Ctx<'_>,
    dfd: Fd,
    path: UserCStr,
    flags: u32,
    attr: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    if flags & !(AT_EMPTY_PATH | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    if size < MOUNT_ATTR_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let Some(attr) = read_mount_attr(ctx, attr, size)? else {
        return Ok(0);
    };
    let path = ctx.read_path(path)?;
    let lookup = if flags & AT_SYMLINK_NOFOLLOW != 0 {
        flags & AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW
    } else {
        flags & AT_EMPTY_PATH
    };
    let d = ctx.resolve_at(dfd, &path, lookup).await?;
    apply_mount_attr(&d, &attr, flags & AT_RECURSIVE != 0)?;
    Ok(0)
}

/// A struct mount_attr read and checked (see [`read_mount_attr`]).
pub(super) struct MountAttr {
    set: u64,
    clr: u64,
    propagation: u64,
}

/// Reads and checks the struct mount_attr of mount_setattr(2) and
/// open_tree_attr(2) (`size` checked by the caller): `None` when it
/// changes nothing; EINVAL for unknown attributes, an id mapping, a second
/// propagation type or a partial change of the atime mode.
pub(super) fn read_mount_attr(
    ctx: &Ctx<'_>,
    attr: UserPtr<u8>,
    size: usize,
) -> KResult<Option<MountAttr>> {
    let mut raw = [0u8; MOUNT_ATTR_SIZE_VER0];
    ctx.mm().reader(attr, size)?.read_extensible(&mut raw)?;
    let field = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let (set, clr, propagation) = (field(0), field(1), field(2));
    if set == 0 && clr == 0 && propagation == 0 {
        return Ok(None);
    }
    let types = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
    if propagation & !types != 0 || propagation.count_ones() > 1 {
        return Err(Errno::EINVAL);
    }
    let valid = MOUNT_ATTR_RDONLY
        | MOUNT_ATTR_NOSUID
        | MOUNT_ATTR_NODEV
        | MOUNT_ATTR_NOEXEC
        | MOUNT_ATTR__ATIME
        | MOUNT_ATTR_NODIRATIME
        | MOUNT_ATTR_IDMAP
        | MOUNT_ATTR_NOSYMFOLLOW;
    if (set | clr) & !valid != 0 || (set | clr) & MOUNT_ATTR_IDMAP != 0 {
        return Err(Errno::EINVAL);
    }
    // The atime mode is changed whole: clearing part of MOUNT_ATTR__ATIME,
    // or setting one without clearing the field, is EINVAL.
    let atime_clr = clr & MOUNT_ATTR__ATIME;
    if (atime_clr != 0 && atime_clr != MOUNT_ATTR__ATIME)
        || (atime_clr == 0 && set & MOUNT_ATTR__ATIME != 0)
    {
        return Err(Errno::EINVAL);
    }
    if (set & MOUNT_ATTR__ATIME).count_ones() > 1 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(MountAttr {
        set,
        clr,
        propagation,
    }))
}

/// Each MOUNT_ATTR_* attribute and the MS_* flag it stands for.
const ATTR_MS: [(u64, u64); 8] = [
    (MOUNT_ATTR_RDONLY, MS_RDONLY),
    (MOUNT_ATTR_NOSUID, MS_NOSUID),
    (MOUNT_ATTR_NODEV, MS_NODEV),
    (MOUNT_ATTR_NOEXEC, MS_NOEXEC),
    (MOUNT_ATTR_NOATIME, MS_NOATIME),
    (MOUNT_ATTR_STRICTATIME, MS_STRICTATIME),
    (MOUNT_ATTR_NODIRATIME, MS_NODIRATIME),
    (MOUNT_ATTR_NOSYMFOLLOW, MS_NOSYMFOLLOW),
];

/// The MS_* flags of MOUNT_ATTR_* attributes.
pub(super) fn attr_to_ms(a: u64) -> u64 {
    ATTR_MS
        .iter()
        .filter(|(attr, _)| a & attr != 0)
        .fold(0, |f, (_, ms)| f | ms)
}

/// The MOUNT_ATTR_* attributes of a mount with MS_* `flags` (statmount).
pub(super) fn ms_to_attr(flags: u64) -> u64 {
    ATTR_MS
        .iter()
        .filter(|(_, ms)| flags & ms != 0)
        .fold(0, |a, (attr, _)| a | attr)
}

/// Applies `attr` to the mount whose root `d` is (EINVAL if it is no
/// mount's root), and with `recursive` to every mount under it. A detached
/// mount (fsmount, open_tree's clone) is changed alone.
pub(super) fn apply_mount_attr(d: &Dentry, attr: &MountAttr, recursive: bool) -> KResult<()> {
    let mounts = crate::fs::mounts();
    let (targets, attached) = match mounts.mount_of(d) {
        Some((m, mpath)) if recursive => (mounts.mounts_under(&mpath), Some(m)),
        Some((m, _)) => (alloc::vec![m.clone()], Some(m)),
        None if d.parent().is_none() && super::newmount::detached_info(d.mnt()).is_some() => {
            (alloc::vec![d.mnt().clone()], None)
        }
        None => return Err(Errno::EINVAL),
    };
    let mut clr_ms = attr_to_ms(attr.clr);
    if attr.clr & MOUNT_ATTR__ATIME != 0 {
        clr_ms |= MS_NOATIME | MS_STRICTATIME;
    }
    let set_ms = attr_to_ms(attr.set);
    if attr.set != 0 || attr.clr != 0 {
        if attached.is_some() && !recursive {
            // One mount: its /proc/mounts options follow.
            let new = (targets[0].get() & !clr_ms) | set_ms;
            mounts.remount(d, new, options(new))?;
        } else {
            for t in &targets {
                t.set((t.get() & !clr_ms) | set_ms)?;
            }
        }
    }
    if attr.propagation != 0 {
        for t in &targets {
            t.change_propagation(attr.propagation);
        }
    }
    Ok(())
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
    if fstype == b"tmpfs" || fstype == b"hugetlbfs" {
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
pub(super) fn has_option(data: &[u8], name: &[u8]) -> bool {
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
pub(super) fn tmpfs_size(data: Option<&[u8]>) -> u64 {
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
pub(super) fn check_options(fstype: &[u8], data: &[u8]) -> KResult<()> {
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
            // Linux's hugetlbfs_parse_param: sizes in bytes (K, M, G...) or a
            // percentage of the pool; the only page size is 2 MiB (see
            // fs/hugetlbfs.rs for what the limits do).
            b"hugetlbfs" => match key {
                b"mode" => number(value, 8),
                b"uid" | b"gid" => number(value, 10),
                b"size" | b"min_size" | b"nr_inodes" => size(value),
                b"pagesize" => value
                    .is_some_and(|v| matches!(v, b"2M" | b"2m" | b"2048K" | b"2048k" | b"2097152")),
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
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let detach = flags & MNT_DETACH != 0;
    let path = ctx.read_path(target)?;
    let target = ctx
        .resolve(AT_FDCWD, &path, flags & UMOUNT_NOFOLLOW == 0)
        .await?;
    // The path resolved to the root of what is mounted there (EINVAL if nothing).
    let at = kestrel_vfs::path::identity(&target.inode);
    let mounts = crate::fs::mounts();
    let root = mounts.root_at(at).ok_or(Errno::EINVAL)?;
    // MNT_EXPIRE: the first call marks the mount (EAGAIN); a second one with
    // no use of it between unmounts (Linux's mnt_expiry_mark). Never the root.
    if flags & MNT_EXPIRE != 0 {
        if mounts.is_root_mount(target.mnt()) {
            return Err(Errno::EINVAL);
        }
        if !target.mnt().expire() {
            return Err(Errno::EAGAIN);
        }
    }
    // The mount the path reached (its root), to take out that one entry.
    let reached = mounts
        .mount_of(&target)
        .map(|(m, _)| (m, kestrel_vfs::path::identity(&target.inode)));
    drop(target);
    let dev = root.metadata().dev;
    // A disk file system writes everything and is marked clean first (EBUSY
    // while its files are in use, and then it stays mounted) when this is its
    // last mount; a bind mount of it just goes. MNT_DETACH takes a busy one
    // out of the table all the same: it lives on for its open files.
    let id = kestrel_vfs::path::identity(&root);
    if mounts.mounts_of(id) == 1 {
        match crate::fs::ext2::unmount(root).await {
            Err(Errno::EBUSY) if detach => {
                if let Some(r) = mounts.root_at(at) {
                    crate::fs::ext2::detach(&r);
                }
            }
            r => r?,
        }
    } else {
        drop(root);
    }
    let gone = if detach {
        // The mounts under it go too (Linux's umount_tree).
        let top = ctx.process().fs().lock().root.clone();
        let mut top = &top;
        while let Some(p) = top.parent() {
            top = p;
        }
        let gone = mounts.unmount_tree_of(
            at,
            reached.as_ref().map(|(m, _)| m),
            top.inode.metadata().dev,
        )?;
        for r in gone.iter().skip(1) {
            if mounts.mounts_of(kestrel_vfs::path::identity(r)) == 0
                && crate::fs::ext2::unmount(r.clone()).await == Err(Errno::EBUSY)
            {
                crate::fs::ext2::detach(r);
            }
        }
        gone.iter().map(|r| r.metadata().dev).collect()
    } else {
        match reached.and_then(|(m, r)| mounts.unmount_exact(&m, r)) {
            Some(gone) => propagate_umount(&gone),
            None => mounts.unmount(at)?,
        }
        alloc::vec![dev]
    };
    // inotify's watches on a file system no mount shows any more hear
    // IN_UNMOUNT.
    for dev in gone {
        if !crate::fs::dev_mounted(dev) {
            crate::fs::inotify::unmounted(dev);
        }
    }
    Ok(0)
}

/// pivot_root(new_root, put_old): the mount at `new_root` becomes the root of
/// the caller's mount namespace and the old root is mounted on `put_old`, as
/// Linux's: CAP_SYS_ADMIN (EPERM, before the paths are looked at);
/// directories (ENOTDIR, ENOENT); neither on the root's own mount (EBUSY);
/// the root and `new_root` each a mount's root, and `put_old` at or under
/// `new_root` (EINVAL). Every process of the namespace whose root or working
/// directory was the old root gets the new one (Linux's chroot_fs_refs), and
/// working directories under `new_root` are seen from it. Unlike Linux, the
/// root may be the boot file system (Linux refuses rootfs, EINVAL), and the
/// shared-propagation refusal (EINVAL) is not made.
pub async fn sys_pivot_root(
    ctx: &mut Ctx<'_>,
    new_root: UserCStr,
    put_old: UserCStr,
) -> KResult<u64> {
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let new_path = ctx.read_path(new_root)?;
    let new = ctx.resolve(AT_FDCWD, &new_path, true).await?;
    if !new.inode.metadata().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let old_path = ctx.read_path(put_old)?;
    let old = ctx.resolve(AT_FDCWD, &old_path, true).await?;
    if !old.inode.metadata().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let root = ctx.process().fs().lock().root.clone();
    let mounts = crate::fs::mounts();
    if alloc::sync::Arc::ptr_eq(new.mnt(), root.mnt())
        || alloc::sync::Arc::ptr_eq(old.mnt(), root.mnt())
    {
        return Err(Errno::EBUSY);
    }
    if mounts.mount_of(&root).is_none()
        || mounts.mount_of(&new).is_none()
        || !new.is_ancestor_of(&old)
        || !root.is_ancestor_of(&new)
    {
        return Err(Errno::EINVAL);
    }
    // /proc/mounts paths: the new root's mounts lose its path; the old
    // root's get put_old's (relative to the new root) in front.
    let new_abs = new.path();
    let under = |p: &[u8]| -> Option<Vec<u8>> {
        let rest = p.strip_prefix(&new_abs[..])?;
        match rest.first() {
            None => Some(b"/".to_vec()),
            Some(b'/') => Some(rest.to_vec()),
            _ => None,
        }
    };
    let put_old_path = under(&old.path()).ok_or(Errno::EINVAL)?;
    let rename = |p: &[u8]| -> Vec<u8> {
        under(p).unwrap_or_else(|| {
            if put_old_path == b"/" {
                p.to_vec()
            } else if p == b"/" {
                put_old_path.clone()
            } else {
                [&put_old_path[..], p].concat()
            }
        })
    };
    let mut old_info = if mounts.is_root_mount(root.mnt()) {
        crate::fs::root_line(&mounts)
    } else {
        mounts
            .entries()
            .into_iter()
            .rfind(|(_, m)| alloc::sync::Arc::ptr_eq(m, root.mnt()))
            .map(|(i, _)| i)
            .ok_or(Errno::EINVAL)?
    };
    old_info.path = put_old_path.clone();
    mounts.pivot(
        (&root.inode, root.mnt()),
        old_info,
        (&new.inode, new.mnt()),
        kestrel_vfs::path::identity(&old.inode),
        rename,
    )?;
    let new_root = Dentry::mount_root(new.inode.clone(), new.mnt().clone());
    let same = |a: &Dentry, b: &Dentry| {
        kestrel_vfs::path::identity(&a.inode) == kestrel_vfs::path::identity(&b.inode)
            && alloc::sync::Arc::ptr_eq(a.mnt(), b.mnt())
    };
    for p in crate::process::all() {
        if !alloc::sync::Arc::ptr_eq(&p.nsproxy().mnt.mounts, &mounts) {
            continue;
        }
        let fs = p.fs();
        let mut fs = fs.lock();
        let fs = &mut *fs;
        for d in [&mut fs.root, &mut fs.cwd] {
            if same(d, &root) {
                *d = new_root.clone();
            } else if let Some(r) = d.rebased(&new, &new_root) {
                *d = r;
            }
        }
    }
    crate::fs::root_pivoted(&mounts, &root, &new_root);
    Ok(0)
}
