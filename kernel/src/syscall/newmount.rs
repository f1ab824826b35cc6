//! Linux's new mount API: fsopen(2), fsconfig(2), fsmount(2), fspick(2),
//! move_mount(2), open_tree(2) and open_tree_attr(2), and the mount queries
//! statmount(2) and listmount(2), on the mount table mount(2) uses
//! (kernel/src/syscall/mount.rs, `kestrel_vfs::Mounts`).
//!
//! A file-system context ([`FsContext`], fsopen's and fspick's descriptor)
//! collects parameters: the superblock flags every file system takes ("ro",
//! "sync", ...), "source", and each file system's own options, checked by the
//! same code mount(2)'s data string goes through. FSCONFIG_CMD_CREATE makes
//! the file system, fsmount turns it into a *detached* mount: a mount in no
//! table, reached through an O_PATH-like descriptor ([`DetachedMount`]) that
//! the `*at` calls, fstatfs and mount_setattr take; move_mount attaches it
//! (or moves an attached mount), and a detached mount whose last descriptor
//! closes is released (an ext2 disk is finished with when it is next mounted,
//! as after umount2's MNT_DETACH). Errors the context explains are kept as
//! "e ..." messages read(2) returns one at a time (the last 8), as Linux.
//!
//! What differs from Linux: a recursive clone (open_tree's AT_RECURSIVE)
//! gets the mounts under its source when it is attached, not while it is
//! detached; a context holds no
//! superblock after fsmount, so a later FSCONFIG_CMD_RECONFIGURE on it is
//! EINVAL; binary, path and descriptor parameters are accepted only for the
//! superblock flags (no file system here takes one: EINVAL).

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, Ordering};

use kestrel_abi::cap::CAP_SYS_ADMIN;
use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::path::{MNT_UNIQUE_ID_OFFSET, Mount, MountFlags, MountRef, identity};
use kestrel_vfs::{Dentry, DentryRef, FileOps, InodeRef, MountInfo, OpenFile};

use super::Ctx;
use super::args::*;
use super::mount::{
    AT_RECURSIVE, MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_SIZE_VER0, MOUNT_ATTR_STRICTATIME, PER_MOUNT,
};

const FSOPEN_CLOEXEC: u32 = 1;
const FSPICK_CLOEXEC: u32 = 1;
const FSPICK_SYMLINK_NOFOLLOW: u32 = 2;
const FSPICK_NO_AUTOMOUNT: u32 = 4;
const FSPICK_EMPTY_PATH: u32 = 8;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_SET_BINARY: u32 = 2;
const FSCONFIG_SET_PATH: u32 = 3;
const FSCONFIG_SET_PATH_EMPTY: u32 = 4;
const FSCONFIG_SET_FD: u32 = 5;
const FSCONFIG_CMD_CREATE: u32 = 6;
const FSCONFIG_CMD_RECONFIGURE: u32 = 7;
const FSCONFIG_CMD_CREATE_EXCL: u32 = 8;
const FSMOUNT_CLOEXEC: u32 = 1;
const MOVE_MOUNT_F_SYMLINKS: u32 = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_SYMLINKS: u32 = 0x10;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
const MOVE_MOUNT_SET_GROUP: u32 = 0x100;
const MOVE_MOUNT_BENEATH: u32 = 0x200;
const MOVE_MOUNT_MASK: u32 = 0x377;
const OPEN_TREE_CLONE: u32 = 1;
const OPEN_TREE_CLOEXEC: u32 = O_CLOEXEC;
const STATMOUNT_SB_BASIC: u64 = 0x1;
const STATMOUNT_MNT_BASIC: u64 = 0x2;
const STATMOUNT_PROPAGATE_FROM: u64 = 0x4;
const STATMOUNT_MNT_ROOT: u64 = 0x8;
const STATMOUNT_MNT_POINT: u64 = 0x10;
const STATMOUNT_FS_TYPE: u64 = 0x20;
const LSMT_ROOT: u64 = u64::MAX;
const LISTMOUNT_REVERSE: u32 = 1;
const MNT_ID_REQ_SIZE_VER0: usize = 24;
const MNT_ID_REQ_SIZE_VER1: usize = 32;
/// struct statmount's size (its strings follow it in the caller's buffer).
const STATMOUNT_SIZE: usize = 512;
/// How many messages a context keeps for read(2) (Linux's log ring).
const LOG_SIZE: usize = 8;
/// The longest key or string value fsconfig copies in (Linux's strndup_user
/// limit of 256 bytes).
const PARAM_MAX: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// fsopen: parameters for a new file system.
    CreateParams,
    /// FSCONFIG_CMD_CREATE is at work.
    Creating,
    /// The file system exists; fsmount may mount it.
    AwaitingMount,
    /// fspick, or after a reconfiguration or fsmount: parameters for a
    /// reconfiguration.
    ReconfParams,
    /// FSCONFIG_CMD_RECONFIGURE is at work.
    Reconfiguring,
    /// A creation failed: nothing more can be done with the context.
    Failed,
}

struct FcState {
    fstype: Vec<u8>,
    phase: Phase,
    source: Option<Vec<u8>>,
    /// The file system's own options, as a mount(2) data string has them.
    options: Vec<Vec<u8>>,
    /// Superblock flags set and cleared.
    sb_set: u64,
    sb_clr: u64,
    /// The new file system, between FSCONFIG_CMD_CREATE and fsmount.
    root: Option<InodeRef>,
    /// fspick's mount (its root).
    target: Option<DentryRef>,
    /// fsmount made a mount of it (a second fsmount is EBUSY).
    mounted: bool,
    log: VecDeque<Vec<u8>>,
}

impl FcState {
    /// Linux's invalf: logs "e `msg`" (a line) and answers EINVAL.
    fn invalid(&mut self, msg: &[u8]) -> Errno {
        if self.log.len() == LOG_SIZE {
            self.log.pop_front();
        }
        let mut m = b"e ".to_vec();
        m.extend_from_slice(msg);
        m.push(b'\n');
        self.log.push_back(m);
        Errno::EINVAL
    }

    /// The data string of the options, for the code mount(2) uses.
    fn data(&self) -> Vec<u8> {
        self.options.join(&b","[..])
    }

    /// Forgets the parameters (Linux's vfs_clean_context).
    fn clean(&mut self) {
        self.source = None;
        self.options.clear();
        self.sb_set = 0;
        self.sb_clr = 0;
        self.phase = Phase::ReconfParams;
    }
}

/// A file-system context: fsopen's and fspick's descriptor.
pub struct FsContext {
    st: spin::Mutex<FcState>,
}

impl FsContext {
    fn new(fstype: Vec<u8>, phase: Phase, target: Option<DentryRef>) -> Self {
        Self {
            st: spin::Mutex::new(FcState {
                fstype,
                phase,
                source: None,
                options: Vec::new(),
                sb_set: 0,
                sb_clr: 0,
                root: None,
                target,
                mounted: false,
                log: VecDeque::new(),
            }),
        }
    }
}

impl Drop for FsContext {
    fn drop(&mut self) {
        // A file system made and never mounted goes with its context.
        if let Some(root) = self.st.get_mut().root.take() {
            release(&root);
        }
    }
}

impl FileOps for FsContext {
    /// One logged message per read (ENODATA when there is none; EMSGSIZE,
    /// the message kept, when `buf` is too small).
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let mut st = self.st.lock();
        let n = st.log.front().ok_or(Errno::ENODATA)?.len();
        if n > buf.len() {
            return Err(Errno::EMSGSIZE);
        }
        let m = st.log.pop_front().ok_or(Errno::ENODATA)?;
        buf[..n].copy_from_slice(&m);
        Ok(n)
    }
    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A mount in no table (fsmount's, open_tree's clone), while a descriptor
/// names it.
pub struct DetachedState {
    mnt: MountRef,
    root: InodeRef,
    source: Vec<u8>,
    fstype: Vec<u8>,
    root_path: Vec<u8>,
    /// open_tree's AT_RECURSIVE: the mounts under the source (and its
    /// path), copied onto the mount when it is attached.
    tree: Option<(Vec<Mount>, Vec<u8>)>,
    /// move_mount attached it: closing the descriptor changes nothing.
    attached: AtomicBool,
}

impl Drop for DetachedState {
    fn drop(&mut self) {
        if !self.attached.load(Ordering::Acquire) {
            release(&self.root);
        }
    }
}

/// The detached mounts, to find one by its mount.
static DETACHED: spin::Mutex<Vec<Weak<DetachedState>>> = spin::Mutex::new(Vec::new());

fn detached_state(m: &MountRef) -> Option<Arc<DetachedState>> {
    DETACHED
        .lock()
        .iter()
        .filter_map(Weak::upgrade)
        .find(|s| Arc::ptr_eq(&s.mnt, m) && !s.attached.load(Ordering::Acquire))
}

/// The source, file system type and root path of the detached mount `m`
/// (`None`: `m` is no detached mount).
pub(super) fn detached_info(m: &MountRef) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    detached_state(m).map(|s| (s.source.clone(), s.fstype.clone(), s.root_path.clone()))
}

/// A new detached mount of `root` and its descriptor's file.
fn detach_new(
    mnt: MountRef,
    root: InodeRef,
    source: Vec<u8>,
    fstype: Vec<u8>,
    root_path: Vec<u8>,
    tree: Option<(Vec<Mount>, Vec<u8>)>,
) -> Arc<OpenFile> {
    let st = Arc::new(DetachedState {
        mnt: mnt.clone(),
        root: root.clone(),
        source,
        fstype,
        root_path,
        tree,
        attached: AtomicBool::new(false),
    });
    {
        let mut l = DETACHED.lock();
        l.retain(|w| w.strong_count() > 0);
        l.push(Arc::downgrade(&st));
    }
    OpenFile::new(
        Some(Dentry::mount_root(root, mnt)),
        Arc::new(DetachedMount { _state: st }),
        O_PATH,
    )
}

/// The O_PATH-like descriptor of a detached mount: it keeps the mount's
/// state (and so the mount) alive.
pub struct DetachedMount {
    _state: Arc<DetachedState>,
}

impl FileOps for DetachedMount {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EBADF)
    }
    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EBADF)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A file system no mount shows any more (a context's, a detached mount's):
/// an ext2 disk is let go of as after MNT_DETACH (finished when next
/// mounted); memory file systems go with their last reference.
fn release(root: &InodeRef) {
    if crate::fs::mounts().mounts_of(identity(root)) == 0 {
        crate::fs::ext2::detach(root);
    }
}

/// Reads a string argument of at most [`PARAM_MAX`] bytes (EFAULT;
/// EINVAL when longer, as strndup_user).
fn read_param(ctx: &Ctx<'_>, p: UserCStr) -> KResult<Vec<u8>> {
    ctx.mm().read_cstr(p, PARAM_MAX - 1).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::EINVAL
        } else {
            e
        }
    })
}

pub async fn sys_fsopen(ctx: &mut Ctx<'_>, name: UserCStr, flags: u32) -> KResult<u64> {
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    if flags & !FSOPEN_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    // Up to a page, as strndup_user (EINVAL beyond).
    let name = ctx.mm().read_cstr(name, 4095).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::EINVAL
        } else {
            e
        }
    })?;
    if !crate::fs::FILESYSTEMS
        .iter()
        .any(|(n, _)| n.as_bytes() == &name[..])
    {
        return Err(Errno::ENODEV);
    }
    let fc = FsContext::new(name, Phase::CreateParams, None);
    let file = OpenFile::anonymous(None, Arc::new(fc), O_RDWR);
    ctx.install(file, flags & FSOPEN_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

pub async fn sys_fspick(ctx: &mut Ctx<'_>, dfd: Fd, path: UserCStr, flags: u32) -> KResult<u64> {
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    if flags & !(FSPICK_CLOEXEC | FSPICK_SYMLINK_NOFOLLOW | FSPICK_NO_AUTOMOUNT | FSPICK_EMPTY_PATH)
        != 0
    {
        return Err(Errno::EINVAL);
    }
    let path = ctx.read_path(path)?;
    let mut lookup = 0;
    if flags & FSPICK_SYMLINK_NOFOLLOW != 0 {
        lookup |= AT_SYMLINK_NOFOLLOW;
    }
    if flags & FSPICK_EMPTY_PATH != 0 {
        lookup |= AT_EMPTY_PATH;
    }
    let d = ctx.resolve_at(dfd, &path, lookup).await?;
    // Only a mount's root (EINVAL), attached or detached.
    let mounts = crate::fs::mounts();
    let detached = if d.parent().is_none() {
        detached_info(d.mnt())
    } else {
        None
    };
    if mounts.mount_of(&d).is_none() && detached.is_none() {
        return Err(Errno::EINVAL);
    }
    let fstype = match (mounts.entry_of(d.mnt()), detached) {
        (Some(e), _) => e.info.fstype,
        (None, Some((_, t, _))) => t,
        (None, None) => crate::fs::root_line(&mounts).fstype,
    };
    let fc = FsContext::new(fstype, Phase::ReconfParams, Some(d));
    let file = OpenFile::anonymous(None, Arc::new(fc), O_RDWR);
    ctx.install(file, flags & FSPICK_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

/// An fsconfig parameter's value.
enum Value {
    Flag,
    Str(Vec<u8>),
    Other,
}

/// ext2's own options (Linux's ext2 and ext4 drivers): those taking a value
/// and those that do not.
const EXT2_VALUED: &[&[u8]] = &[
    b"errors", b"resgid", b"resuid", b"sb", b"check", b"data", b"commit", b"stripe",
];
const EXT2_FLAGS: &[&[u8]] = &[
    b"acl",
    b"noacl",
    b"user_xattr",
    b"nouser_xattr",
    b"grpid",
    b"bsdgroups",
    b"nogrpid",
    b"sysvgroups",
    b"nocheck",
    b"debug",
    b"oldalloc",
    b"orlov",
    b"nobh",
    b"bh",
    b"barrier",
    b"nobarrier",
    b"minixdf",
    b"bsddf",
    b"nouid32",
    b"quota",
    b"noquota",
    b"usrquota",
    b"grpquota",
    b"discard",
    b"nodiscard",
    b"noload",
    b"i_version",
    b"block_validity",
    b"noblock_validity",
];

/// Linux's vfs_parse_fs_param for one parameter: the superblock flags by
/// key alone, then the file system's own options (checked as mount(2)'s),
/// then "source"; anything else is EINVAL ("Unknown parameter") but on
/// ramfs, which ignores what it does not know.
fn parse_param(st: &mut FcState, key: &[u8], value: &Value) -> KResult<()> {
    let set: &[(&[u8], u64)] = &[
        (b"dirsync", MS_DIRSYNC),
        (b"lazytime", MS_LAZYTIME),
        (b"mand", MS_MANDLOCK),
        (b"ro", MS_RDONLY),
        (b"sync", MS_SYNCHRONOUS),
    ];
    let clear: &[(&[u8], u64)] = &[
        (b"async", MS_SYNCHRONOUS),
        (b"nolazytime", MS_LAZYTIME),
        (b"nomand", MS_MANDLOCK),
        (b"rw", MS_RDONLY),
    ];
    if let Some((_, f)) = set.iter().find(|(k, _)| *k == key) {
        st.sb_set |= f;
        st.sb_clr &= !f;
        return Ok(());
    }
    if let Some((_, f)) = clear.iter().find(|(k, _)| *k == key) {
        st.sb_clr |= f;
        st.sb_set &= !f;
        return Ok(());
    }
    let fstype = st.fstype.clone();
    let known = match &fstype[..] {
        b"tmpfs" | b"devtmpfs" => [
            &b"size"[..],
            b"nr_blocks",
            b"nr_inodes",
            b"mode",
            b"uid",
            b"gid",
            b"huge",
            b"mpol",
            b"inode32",
            b"inode64",
            b"noswap",
        ]
        .contains(&key),
        b"proc" => [&b"hidepid"[..], b"subset", b"gid"].contains(&key),
        b"ramfs" => key == b"mode",
        b"hugetlbfs" => [
            &b"uid"[..],
            b"gid",
            b"mode",
            b"size",
            b"min_size",
            b"nr_inodes",
            b"pagesize",
        ]
        .contains(&key),
        b"ext2" => EXT2_VALUED.contains(&key) || EXT2_FLAGS.contains(&key),
        _ => false,
    };
    if known {
        let opt = match value {
            Value::Flag => key.to_vec(),
            Value::Str(v) => [key, b"=", v].concat(),
            Value::Other => {
                return Err(st.invalid(&[&fstype[..], b": Bad value for '", key, b"'"].concat()));
            }
        };
        let ok = if fstype == b"ext2" {
            EXT2_VALUED.contains(&key) == matches!(value, Value::Str(_))
        } else {
            super::mount::check_options(&fstype, &opt).is_ok()
        };
        if !ok {
            return Err(st.invalid(&[&fstype[..], b": Bad value for '", key, b"'"].concat()));
        }
        st.options.push(opt);
        return Ok(());
    }
    if key == b"source" {
        let Value::Str(v) = value else {
            return Err(st.invalid(b"Non-string source"));
        };
        if st.source.is_some() {
            return Err(st.invalid(b"Multiple sources"));
        }
        st.source = Some(v.clone());
        return Ok(());
    }
    if fstype == b"ramfs" {
        return Ok(());
    }
    Err(st.invalid(&[&fstype[..], b": Unknown parameter '", key, b"'"].concat()))
}

pub async fn sys_fsconfig(
    ctx: &mut Ctx<'_>,
    fd: i32,
    cmd: u32,
    key: UserCStr,
    value: UserPtr<u8>,
    aux: i32,
) -> KResult<u64> {
    // The arguments each command takes, before the descriptor is looked at.
    if fd < 0 {
        return Err(Errno::EINVAL);
    }
    let (k, v) = (!key.is_null(), !value.is_null());
    let ok = match cmd {
        FSCONFIG_SET_FLAG => k && !v && aux == 0,
        FSCONFIG_SET_STRING => k && v && aux == 0,
        FSCONFIG_SET_BINARY => k && v && aux > 0 && aux <= 1024 * 1024,
        FSCONFIG_SET_PATH | FSCONFIG_SET_PATH_EMPTY => k && v && (aux == AT_FDCWD || aux >= 0),
        FSCONFIG_SET_FD => k && !v && aux >= 0,
        FSCONFIG_CMD_CREATE | FSCONFIG_CMD_CREATE_EXCL | FSCONFIG_CMD_RECONFIGURE => {
            !k && !v && aux == 0
        }
        _ => return Err(Errno::EOPNOTSUPP),
    };
    if !ok {
        return Err(Errno::EINVAL);
    }
    let file = ctx.file(fd)?;
    let Some(fc) = file.ops().as_any().downcast_ref::<FsContext>() else {
        return Err(Errno::EINVAL);
    };
    let key = if k { Some(read_param(ctx, key)?) } else { None };
    let value = match cmd {
        FSCONFIG_SET_FLAG => Value::Flag,
        FSCONFIG_SET_STRING => Value::Str(read_param(ctx, UserCStr::new(value.addr()))?),
        FSCONFIG_SET_BINARY => {
            // Copied in (EFAULT), for no file system here takes one.
            let mut buf = super::zeroed_vec(aux as usize)?;
            ctx.mm().reader(value, aux as usize)?.read_exact(&mut buf)?;
            Value::Other
        }
        FSCONFIG_SET_PATH | FSCONFIG_SET_PATH_EMPTY => {
            let p = ctx.read_path(UserCStr::new(value.addr()))?;
            if p.is_empty() && cmd == FSCONFIG_SET_PATH {
                return Err(Errno::ENOENT);
            }
            Value::Other
        }
        FSCONFIG_SET_FD => {
            ctx.file(aux).map_err(|_| Errno::EBADF)?;
            Value::Other
        }
        _ => Value::Flag,
    };
    match cmd {
        FSCONFIG_CMD_CREATE | FSCONFIG_CMD_CREATE_EXCL => create(ctx, fc).await,
        FSCONFIG_CMD_RECONFIGURE => reconfigure(ctx, fc).await,
        _ => {
            let mut st = fc.st.lock();
            if st.phase != Phase::CreateParams && st.phase != Phase::ReconfParams {
                return Err(Errno::EBUSY);
            }
            parse_param(&mut st, &key.unwrap_or_default(), &value).map(|_| 0)
        }
    }
}

/// FSCONFIG_CMD_CREATE: the file system the parameters describe.
async fn create(ctx: &Ctx<'_>, fc: &FsContext) -> KResult<u64> {
    let (fstype, source, data, flags) = {
        let mut st = fc.st.lock();
        if st.phase != Phase::CreateParams {
            return Err(Errno::EBUSY);
        }
        st.phase = Phase::Creating;
        (st.fstype.clone(), st.source.clone(), st.data(), st.sb_set)
    };
    let r = if ctx.capable(CAP_SYS_ADMIN) {
        super::mount::create_fs(ctx, &fstype, source.as_deref(), &data, flags & MS_RDONLY).await
    } else {
        Err(Errno::EPERM)
    };
    let mut st = fc.st.lock();
    match r {
        Ok(root) => {
            st.root = Some(root);
            st.phase = Phase::AwaitingMount;
            Ok(0)
        }
        Err(e) => {
            st.phase = Phase::Failed;
            if e == Errno::EINVAL && fstype == b"ext2" && source.is_none() {
                st.invalid(b"ext2: No source specified");
            }
            Err(e)
        }
    }
}

/// FSCONFIG_CMD_RECONFIGURE of fspick's mount: the superblock flags set and
/// cleared apply to it (an ext2 disk becomes read-only or writable).
async fn reconfigure(ctx: &Ctx<'_>, fc: &FsContext) -> KResult<u64> {
    let (target, set, clr) = {
        let mut st = fc.st.lock();
        if st.phase != Phase::ReconfParams {
            return Err(Errno::EBUSY);
        }
        let Some(t) = st.target.clone() else {
            return Err(Errno::EINVAL);
        };
        st.phase = Phase::Reconfiguring;
        (t, st.sb_set, st.sb_clr)
    };
    let r = async {
        if !ctx.capable(CAP_SYS_ADMIN) {
            return Err(Errno::EPERM);
        }
        let old = target.mnt().get();
        let keep = MS_RDONLY | MS_SYNCHRONOUS;
        let new = (old & !(clr & keep)) | (set & keep);
        let mounts = crate::fs::mounts();
        if mounts.mount_of(&target).is_some() {
            mounts.remount(&target, new, super::mount::options(new))?;
        } else {
            // A detached mount: its options are written when it is attached.
            target.mnt().set(new)?;
        }
        if (old ^ new) & MS_RDONLY != 0
            && let Err(e) = crate::fs::ext2::remount(&target.inode, new & MS_RDONLY != 0).await
        {
            let back = new | MS_RDONLY;
            let _ = crate::fs::mounts().remount(&target, back, super::mount::options(back));
            return Err(e);
        }
        Ok(0)
    }
    .await;
    let mut st = fc.st.lock();
    st.clean();
    r
}

/// fsmount's MOUNT_ATTR_* as MS_* flags (EINVAL for unknown ones or an
/// atime mode that is not one of relatime, noatime and strictatime).
fn fsmount_flags(attr: u32) -> KResult<u64> {
    let attr = u64::from(attr);
    let valid = MOUNT_ATTR_RDONLY
        | MOUNT_ATTR_NOSUID
        | MOUNT_ATTR_NODEV
        | MOUNT_ATTR_NOEXEC
        | MOUNT_ATTR__ATIME
        | MOUNT_ATTR_NODIRATIME
        | MOUNT_ATTR_NOSYMFOLLOW;
    if attr & !valid != 0 {
        return Err(Errno::EINVAL);
    }
    if !matches!(
        attr & MOUNT_ATTR__ATIME,
        0 | MOUNT_ATTR_NOATIME | MOUNT_ATTR_STRICTATIME
    ) {
        return Err(Errno::EINVAL);
    }
    Ok(super::mount::attr_to_ms(attr))
}

pub async fn sys_fsmount(ctx: &mut Ctx<'_>, fs_fd: Fd, flags: u32, attr: u32) -> KResult<u64> {
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    if flags & !FSMOUNT_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let mnt_flags = fsmount_flags(attr)?;
    let file = ctx.file(fs_fd)?;
    let Some(fc) = file.ops().as_any().downcast_ref::<FsContext>() else {
        return Err(Errno::EINVAL);
    };
    let (root, fstype, source, sb) = {
        let mut st = fc.st.lock();
        if st.root.is_none() && !st.mounted {
            return Err(Errno::EINVAL);
        }
        if st.phase != Phase::AwaitingMount {
            return Err(Errno::EBUSY);
        }
        let root = st.root.take().ok_or(Errno::EBUSY)?;
        st.mounted = true;
        let out = (
            root,
            st.fstype.clone(),
            st.source.clone().unwrap_or_else(|| b"none".to_vec()),
            st.sb_set,
        );
        st.clean();
        out
    };
    // The superblock's read-only and sync flags show in the mount's.
    let mnt = MountFlags::new(mnt_flags | (sb & (MS_RDONLY | MS_SYNCHRONOUS)));
    let f = detach_new(mnt, root, source, fstype, b"/".to_vec(), None);
    ctx.install(f, flags & FSMOUNT_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

pub async fn sys_move_mount(
    ctx: &mut Ctx<'_>,
    from_dfd: Fd,
    from_path: UserCStr,
    to_dfd: Fd,
    to_path: UserCStr,
    flags: u32,
) -> KResult<u64> {
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    if flags & !MOVE_MOUNT_MASK != 0
        || flags & (MOVE_MOUNT_BENEATH | MOVE_MOUNT_SET_GROUP)
            == (MOVE_MOUNT_BENEATH | MOVE_MOUNT_SET_GROUP)
    {
        return Err(Errno::EINVAL);
    }
    let lookup = |follow: bool, empty: bool| {
        (if follow { 0 } else { AT_SYMLINK_NOFOLLOW }) | if empty { AT_EMPTY_PATH } else { 0 }
    };
    let p = ctx.read_path(from_path)?;
    let from = ctx
        .resolve_at(
            from_dfd,
            &p,
            lookup(
                flags & MOVE_MOUNT_F_SYMLINKS != 0,
                flags & MOVE_MOUNT_F_EMPTY_PATH != 0,
            ),
        )
        .await?;
    let p = ctx.read_path(to_path)?;
    let to = ctx
        .resolve_at(
            to_dfd,
            &p,
            lookup(
                flags & MOVE_MOUNT_T_SYMLINKS != 0,
                flags & MOVE_MOUNT_T_EMPTY_PATH != 0,
            ),
        )
        .await?;
    let mounts = crate::fs::mounts();
    if flags & MOVE_MOUNT_SET_GROUP != 0 {
        // Both must be mounts' roots; `to` joins `from`'s peer group.
        if mounts.mount_of(&from).is_none() || mounts.mount_of(&to).is_none() {
            return Err(Errno::EINVAL);
        }
        to.mnt().join_peers_of(from.mnt());
        return Ok(0);
    }
    // Only a mount's root moves, onto the same kind of file (EINVAL, as
    // do_move_mount).
    let detached = if from.parent().is_none() {
        detached_state(from.mnt())
    } else {
        None
    };
    if detached.is_none() && mounts.mount_of(&from).is_none() {
        return Err(Errno::EINVAL);
    }
    if from.inode.metadata().is_dir() != to.inode.metadata().is_dir() {
        return Err(Errno::EINVAL);
    }
    let beneath = flags & MOVE_MOUNT_BENEATH != 0;
    // Beneath: `to` must be the root of a mount other than the root's.
    let top = if beneath {
        if mounts.mount_of(&to).is_none() || mounts.is_root_mount(to.mnt()) {
            return Err(Errno::EINVAL);
        }
        Some(mounts.entry_of(to.mnt()).ok_or(Errno::EINVAL)?)
    } else {
        None
    };
    let Some(st) = detached else {
        if beneath {
            // Kestrel moves a mount beneath another only from a detached one.
            return Err(Errno::EINVAL);
        }
        super::mount::move_attached(&from, &to)?;
        return Ok(0);
    };
    let info = MountInfo {
        source: st.source.clone(),
        fstype: st.fstype.clone(),
        path: to.path(),
        options: super::mount::options(st.mnt.get()),
    };
    let (at, parent) = match &top {
        Some(t) => (t.at, t.parent.clone()),
        None => (identity(&to.inode), Some(to.mnt().clone())),
    };
    if mounts.count() >= super::mount::MOUNT_MAX {
        return Err(Errno::ENOSPC);
    }
    let new = Mount {
        at,
        root: st.root.clone(),
        info,
        flags: st.mnt.clone(),
        parent,
        root_path: st.root_path.clone(),
    };
    let peers = if beneath {
        Vec::new()
    } else {
        super::mount::propagation_targets(&to)
    };
    mounts.attach(new.clone(), beneath);
    if let Some((under, from_path)) = &st.tree {
        super::mount::copy_tree(under, from_path, &st.mnt, &new.info.path);
    }
    super::mount::propagate(&new, &peers);
    if let Some(t) = top {
        // The top mount now covers the new one's root.
        mounts.set_parent(&t.flags, st.mnt.clone(), Some(identity(&st.root)));
    }
    st.attached.store(true, Ordering::Release);
    Ok(0)
}

/// open_tree's lookup and descriptor; with OPEN_TREE_CLONE a detached copy
/// of the mount at `path` (EINVAL for an unbindable one).
async fn open_tree(ctx: &Ctx<'_>, dfd: i32, path: UserCStr, flags: u32) -> KResult<Arc<OpenFile>> {
    if flags
        & !(AT_EMPTY_PATH
            | AT_NO_AUTOMOUNT
            | AT_RECURSIVE
            | AT_SYMLINK_NOFOLLOW
            | OPEN_TREE_CLONE
            | OPEN_TREE_CLOEXEC)
        != 0
        || flags & (AT_RECURSIVE | OPEN_TREE_CLONE) == AT_RECURSIVE
    {
        return Err(Errno::EINVAL);
    }
    let clone = flags & OPEN_TREE_CLONE != 0;
    if clone && !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let p = ctx.read_path(path)?;
    let d = ctx
        .resolve_at(dfd, &p, flags & (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
        .await?;
    if !clone {
        return Ok(OpenFile::new(
            Some(d),
            Arc::new(kestrel_vfs::file::PathOnly),
            O_PATH,
        ));
    }
    let src = d.mnt();
    if src.unbindable() {
        return Err(Errno::EINVAL);
    }
    // A detached mount is not cloned (EINVAL, as a mount of another
    // namespace).
    let mounts = crate::fs::mounts();
    if !mounts.is_root_mount(src) && mounts.entry_of(src).is_none() {
        return Err(Errno::EINVAL);
    }
    let mnt = MountFlags::new(src.get() & PER_MOUNT);
    mnt.join_peers_of(src);
    let (source, fstype, root_path) = super::mount::source_of(&d);
    let tree = (flags & AT_RECURSIVE != 0).then(|| {
        let path = d.path();
        (super::mount::submounts(src, &path), path)
    });
    Ok(detach_new(
        mnt,
        d.inode.clone(),
        source,
        fstype,
        root_path,
        tree,
    ))
}

pub async fn sys_open_tree(ctx: &mut Ctx<'_>, dfd: Fd, path: UserCStr, flags: u32) -> KResult<u64> {
    let f = open_tree(ctx, dfd, path, flags).await?;
    ctx.install(f, flags & OPEN_TREE_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

/// open_tree_attr(2): open_tree, and mount_setattr's `attr` applied to the
/// new mount (EINVAL: a size without attributes).
pub async fn sys_open_tree_attr(
    ctx: &mut Ctx<'_>,
    dfd: Fd,
    path: UserCStr,
    flags: u32,
    attr: UserPtr<u8>,
    size: usize,
) -> KResult<u64> {
    if attr.is_null() && size != 0 {
        return Err(Errno::EINVAL);
    }
    let f = open_tree(ctx, dfd, path, flags).await?;
    if !attr.is_null() {
        if size > 4096 {
            return Err(Errno::E2BIG);
        }
        if size < MOUNT_ATTR_SIZE_VER0 {
            return Err(Errno::EINVAL);
        }
        if let Some(a) = super::mount::read_mount_attr(ctx, attr, size)? {
            let d = f.dentry().cloned().ok_or(Errno::EINVAL)?;
            super::mount::apply_mount_attr(&d, &a, flags & AT_RECURSIVE != 0)?;
        }
    }
    ctx.install(f, flags & OPEN_TREE_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

/// struct mnt_id_req: (mnt_id, param). EFAULT; E2BIG beyond a page;
/// EINVAL for a size below the first version's, a non-zero spare field or
/// a mount id no mount can have.
fn read_mnt_id_req(ctx: &Ctx<'_>, req: UserPtr<u8>) -> KResult<(u64, u64)> {
    let size: u32 = ctx.read(UserPtr::new(req.addr()))?;
    let size = size as usize;
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    if size < MNT_ID_REQ_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; MNT_ID_REQ_SIZE_VER1];
    ctx.mm().reader(req, size)?.read_extensible(&mut raw)?;
    let word = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().unwrap_or_default());
    let spare = u32::from_le_bytes(raw[4..8].try_into().unwrap_or_default());
    if spare != 0 {
        return Err(Errno::EINVAL);
    }
    let (id, param) = (word(8), word(16));
    if id <= MNT_UNIQUE_ID_OFFSET {
        return Err(Errno::EINVAL);
    }
    Ok((id, param))
}

/// A mount of the caller's namespace as statmount and listmount see it.
struct View {
    mnt: MountRef,
    /// Its root (`None` for the namespace's root mount: the caller's root's top).
    root: InodeRef,
    info: MountInfo,
    parent: MountRef,
    root_path: Vec<u8>,
}

/// Every mount of the caller's namespace, the root's first.
fn views(ctx: &Ctx<'_>) -> Vec<View> {
    let mounts = crate::fs::mounts();
    let top = {
        let mut t = ctx.process().fs().lock().root.clone();
        while let Some(p) = t.parent().cloned() {
            t = p;
        }
        t
    };
    let root = mounts.root_mount();
    let mut out = alloc::vec![View {
        mnt: root.clone(),
        root: top.inode.clone(),
        info: crate::fs::root_line(&mounts),
        parent: root.clone(),
        root_path: b"/".to_vec(),
    }];
    for m in mounts.list() {
        out.push(View {
            parent: m.parent.unwrap_or_else(|| root.clone()),
            mnt: m.flags,
            root: m.root,
            info: m.info,
            root_path: m.root_path,
        });
    }
    out
}

/// The caller's root's path in its namespace ("/" unless chrooted).
fn root_path(ctx: &Ctx<'_>) -> Vec<u8> {
    ctx.process().fs().lock().root.path()
}

/// Whether `path` is `under` or below it.
fn is_under(path: &[u8], under: &[u8]) -> bool {
    under == b"/"
        || path == under
        || (path.starts_with(under) && path.get(under.len()) == Some(&b'/'))
}

pub async fn sys_statmount(
    ctx: &mut Ctx<'_>,
    req: UserPtr<u8>,
    buf: UserPtr<u8>,
    bufsize: usize,
    flags: u32,
) -> KResult<u64> {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (id, mask) = read_mnt_id_req(ctx, req)?;
    let all = views(ctx);
    let v = all
        .iter()
        .find(|v| v.mnt.unique_id() == id)
        .ok_or(Errno::ENOENT)?;
    let rp = root_path(ctx);
    // A mount outside the caller's root is shown only to the privileged.
    if !is_under(&v.info.path, &rp) && !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let mut sm = [0u8; STATMOUNT_SIZE];
    let put32 = |sm: &mut [u8], at: usize, x: u32| sm[at..at + 4].copy_from_slice(&x.to_le_bytes());
    let put64 = |sm: &mut [u8], at: usize, x: u64| sm[at..at + 8].copy_from_slice(&x.to_le_bytes());
    let mut got = 0u64;
    let mut strings: Vec<u8> = Vec::new();
    let (shared, master) = v.mnt.propagation();
    if mask & STATMOUNT_SB_BASIC != 0 {
        got |= STATMOUNT_SB_BASIC;
        let m = v.root.metadata().to_statx();
        put32(&mut sm, 16, m.stx_dev_major);
        put32(&mut sm, 20, m.stx_dev_minor);
        let magic = v.root.statfs_async().await.map_or(0, |s| s.f_type as u64);
        put64(&mut sm, 24, magic);
        put32(
            &mut sm,
            32,
            (v.mnt.get() & (MS_RDONLY | MS_SYNCHRONOUS)) as u32,
        );
    }
    if mask & STATMOUNT_MNT_BASIC != 0 {
        got |= STATMOUNT_MNT_BASIC;
        put64(&mut sm, 40, v.mnt.unique_id());
        put64(&mut sm, 48, v.parent.unique_id());
        put32(&mut sm, 56, v.mnt.id());
        put32(&mut sm, 60, v.parent.id());
        put64(&mut sm, 64, super::mount::ms_to_attr(v.mnt.get()));
        let mut prop = 0;
        if shared != 0 {
            prop |= MS_SHARED;
        }
        if master != 0 {
            prop |= MS_SLAVE;
        }
        if v.mnt.unbindable() {
            prop |= MS_UNBINDABLE;
        }
        if prop == 0 {
            prop = MS_PRIVATE;
        }
        put64(&mut sm, 72, prop);
        put64(&mut sm, 80, u64::from(shared));
        put64(&mut sm, 88, u64::from(master));
    }
    if mask & STATMOUNT_PROPAGATE_FROM != 0 {
        got |= STATMOUNT_PROPAGATE_FROM;
        put64(&mut sm, 96, u64::from(master));
    }
    // The strings follow the structure, each NUL-terminated; EOVERFLOW when
    // the buffer cannot hold them.
    let mut string = |field: usize, s: &[u8], sm: &mut [u8]| -> KResult<()> {
        if STATMOUNT_SIZE + strings.len() + s.len() + 1 > bufsize {
            return Err(Errno::EOVERFLOW);
        }
        put32(sm, field, strings.len() as u32);
        strings.extend_from_slice(s);
        strings.push(0);
        Ok(())
    };
    if mask & STATMOUNT_FS_TYPE != 0 {
        got |= STATMOUNT_FS_TYPE;
        string(36, &v.info.fstype, &mut sm)?;
    }
    if mask & STATMOUNT_MNT_ROOT != 0 {
        got |= STATMOUNT_MNT_ROOT;
        string(104, &v.root_path, &mut sm)?;
    }
    if mask & STATMOUNT_MNT_POINT != 0 {
        got |= STATMOUNT_MNT_POINT;
        let p = &v.info.path;
        let shown = if rp == b"/" {
            p.clone()
        } else if p.len() > rp.len() && p.starts_with(&rp) {
            p[rp.len()..].to_vec()
        } else {
            b"/".to_vec()
        };
        string(108, &shown, &mut sm)?;
    }
    let copy = bufsize.min(STATMOUNT_SIZE);
    put32(&mut sm, 0, (copy + strings.len()) as u32);
    put64(&mut sm, 8, got);
    if !strings.is_empty() {
        ctx.mm()
            .writer(
                UserPtr::<u8>::new(buf.addr() + STATMOUNT_SIZE as u64),
                strings.len(),
            )?
            .write_all(&strings)?;
    }
    ctx.mm().writer(buf, copy)?.write_all(&sm[..copy])?;
    Ok(0)
}

pub async fn sys_listmount(
    ctx: &mut Ctx<'_>,
    req: UserPtr<u8>,
    ids: UserPtr<u64>,
    nr: usize,
    flags: u32,
) -> KResult<u64> {
    if flags & !LISTMOUNT_REVERSE != 0 {
        return Err(Errno::EINVAL);
    }
    let (id, last) = read_mnt_id_req(ctx, req)?;
    // The last id seen (0: from the start) is a mount id too.
    if last != 0 && last <= MNT_UNIQUE_ID_OFFSET {
        return Err(Errno::EINVAL);
    }
    let all = views(ctx);
    let rp = root_path(ctx);
    let orig = if id == LSMT_ROOT {
        rp.clone()
    } else {
        all.iter()
            .find(|v| v.mnt.unique_id() == id)
            .ok_or(Errno::ENOENT)?
            .info
            .path
            .clone()
    };
    if !is_under(&orig, &rp) && !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let mut found: Vec<u64> = all
        .iter()
        .filter(|v| v.mnt.unique_id() != id && is_under(&v.info.path, &orig))
        .map(|v| v.mnt.unique_id())
        .collect();
    found.sort_unstable();
    found.dedup();
    let reverse = flags & LISTMOUNT_REVERSE != 0;
    if reverse {
        found.reverse();
    }
    let mut n = 0usize;
    for x in found {
        if n >= nr {
            break;
        }
        if last != 0 && (if reverse { x >= last } else { x <= last }) {
            continue;
        }
        ctx.write(UserPtr::<u64>::new(ids.addr() + 8 * n as u64), &x)?;
        n += 1;
    }
    Ok(n as u64)
}

/// statx's mount ids for `d`'s mount: (STATX_MNT_ID's, STATX_MNT_ID_UNIQUE's).
pub fn mount_ids(d: &Dentry) -> (u64, u64) {
    (u64::from(d.mnt().id()), d.mnt().unique_id())
}
