//! Path resolution.
//!
//! A [`Dentry`] is a resolved name: an inode plus the chain of parents it was reached
//! through, up to the root. Dentries are made during a walk and kept by whoever needs
//! a *place* rather than just a file (the current directory, an open directory), so
//! `..` and `getcwd` follow the way the process came, across mount points.
//!
//! The walk ([`Walker`]) is a future: each lookup and symlink read awaits the
//! inode's `_async` operation (at once for in-memory file systems, on the disk for
//! block-backed ones). It is iterative: a symlink's target is spliced into the queue of
//! components still to resolve, so a chain of links costs queue entries, not kernel
//! stack. It follows Linux's `path_lookupat` rules:
//!
//! * an empty path is ENOENT; a path of PATH_MAX (4096) bytes or more, or a component
//!   longer than NAME_MAX (255), is ENAMETOOLONG;
//! * every directory passed through needs search (execute) permission: EACCES;
//! * a non-directory in the middle is ENOTDIR, and so is a trailing `/` after a
//!   non-directory;
//! * more than 40 symlinks in one lookup is ELOOP;
//! * `..` at the process root stays at the root;
//! * an inode that is a mount point is replaced by the mounted file system's root,
//!   and the dentries below it carry that mount's [`MountFlags`] (read-only, ...),
//!   as Linux's paths carry their vfsmount.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kestrel_abi::fs::{MAXSYMLINKS, MS_NOSYMFOLLOW, MS_RDONLY, NAME_MAX, PATH_MAX};
use kestrel_abi::{Errno, KResult};

use crate::Cred;
use crate::inode::{InodeRef, access, check_access};

/// What one mount allows: its per-mount flags (MS_RDONLY, MS_NOSUID, MS_NODEV,
/// MS_NOEXEC and the atime flags, as mount(2) names them), shared by every dentry
/// reached through it, and how many open files write through it (a mount with
/// writers cannot become read-only: EBUSY, as Linux's mnt_make_readonly).
#[derive(Debug)]
pub struct MountFlags {
    flags: AtomicU64,
    writers: AtomicUsize,
    /// The propagation type, as /proc/PID/mountinfo shows it: the peer group
    /// the mount is shared with (low half; 0: not shared) and the group it
    /// receives from (high half; 0: not a slave). New mounts propagate to
    /// peers and slaves (kernel/src/syscall/mount.rs); unmounts do not.
    propagation: AtomicU64,
    /// umount2's MNT_EXPIRE mark: 0 none, 1 marked, 2 marked and crossed into
    /// once since (by the path walk of the umount2 that finds it again, when
    /// nothing else came: see [`MountFlags::expire`]).
    expiry: core::sync::atomic::AtomicU8,
    /// MS_UNBINDABLE (private, and refused as a bind mount's source).
    unbindable: core::sync::atomic::AtomicBool,
    /// The mount's number as /proc/PID/mountinfo and statx's STATX_MNT_ID show
    /// it (Linux's mnt_id).
    id: u32,
    /// The 64-bit number no other mount ever gets (statx's
    /// STATX_MNT_ID_UNIQUE, statmount and listmount; Linux's mnt_id_unique).
    unique: u64,
}

/// Unique mount ids start above this (Linux's MNT_UNIQUE_ID_OFFSET): anything
/// at or below it is no mount's.
pub const MNT_UNIQUE_ID_OFFSET: u64 = 1 << 31;

/// The next mount numbers (mountinfo's, and the unique ones).
static NEXT_MOUNT_ID: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(21);
static NEXT_UNIQUE_ID: AtomicU64 = AtomicU64::new(MNT_UNIQUE_ID_OFFSET + 1);

impl Default for MountFlags {
    fn default() -> Self {
        Self::fresh(0)
    }
}

/// A new peer group number (mountinfo's `shared:N`).
static NEXT_PEER_GROUP: AtomicU64 = AtomicU64::new(1);

/// A shared [`MountFlags`].
pub type MountRef = Arc<MountFlags>;

impl MountFlags {
    /// A mount with `flags` (MS_* bits).
    pub fn new(flags: u64) -> MountRef {
        Arc::new(Self::fresh(flags))
    }

    /// A mount with `flags` and new ids.
    fn fresh(flags: u64) -> Self {
        Self {
            flags: AtomicU64::new(flags),
            writers: AtomicUsize::new(0),
            propagation: AtomicU64::new(0),
            expiry: core::sync::atomic::AtomicU8::new(0),
            unbindable: core::sync::atomic::AtomicBool::new(false),
            id: NEXT_MOUNT_ID.fetch_add(1, Ordering::Relaxed),
            unique: NEXT_UNIQUE_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The mount's number (mountinfo's first field, STATX_MNT_ID).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The mount's unique 64-bit number (STATX_MNT_ID_UNIQUE).
    pub fn unique_id(&self) -> u64 {
        self.unique
    }

    /// Whether the mount is MS_UNBINDABLE.
    pub fn unbindable(&self) -> bool {
        self.unbindable.load(Ordering::Acquire)
    }

    /// A path walk entered the mount: it is in use, so an expiry mark goes
    /// (Linux's mntput clears mnt_expiry_mark). The first crossing after the
    /// mark is taken to be the walk of the umount2 that asks again.
    fn crossed(&self) {
        let s = self.expiry.load(Ordering::Relaxed);
        if s != 0 {
            let _ = self.expiry.compare_exchange(
                s,
                if s == 1 { 2 } else { 0 },
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// umount2(MNT_EXPIRE) of this mount, after its walk to it: whether to
    /// unmount now (marked before, and not used since); otherwise it is
    /// marked, and the caller answers EAGAIN.
    pub fn expire(&self) -> bool {
        if self.expiry.load(Ordering::Acquire) == 2 {
            return true;
        }
        self.expiry.store(1, Ordering::Release);
        false
    }

    /// (shared peer group, master peer group); 0 for none.
    pub fn propagation(&self) -> (u32, u32) {
        let v = self.propagation.load(Ordering::Acquire);
        (v as u32, (v >> 32) as u32)
    }

    fn set_propagation(&self, shared: u32, master: u32) {
        self.propagation.store(
            u64::from(shared) | u64::from(master) << 32,
            Ordering::Release,
        );
    }

    /// Changes the propagation type as mount(2)'s MS_SHARED, MS_SLAVE,
    /// MS_PRIVATE or MS_UNBINDABLE (`kind`) asks: shared joins a new peer group
    /// (unless already shared); slave turns the peer group into the master;
    /// private and unbindable leave both.
    pub fn change_propagation(&self, kind: u64) {
        use kestrel_abi::fs::{MS_PRIVATE, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
        let (shared, master) = self.propagation();
        self.unbindable
            .store(kind == MS_UNBINDABLE, Ordering::Release);
        match kind {
            MS_SHARED if shared == 0 => {
                let g = NEXT_PEER_GROUP.fetch_add(1, Ordering::Relaxed) as u32;
                self.set_propagation(g, master);
            }
            MS_SLAVE if shared != 0 => self.set_propagation(0, shared),
            MS_PRIVATE | MS_UNBINDABLE => self.set_propagation(0, 0),
            _ => {}
        }
    }

    /// A bind mount of a shared mount is its peer (same group).
    pub fn join_peers_of(&self, other: &MountFlags) {
        let (shared, _) = other.propagation();
        if shared != 0 {
            self.set_propagation(shared, 0);
        }
    }

    /// The MS_* flags.
    pub fn get(&self) -> u64 {
        self.flags.load(Ordering::Acquire)
    }

    /// Whether writes through this mount fail with EROFS.
    pub fn readonly(&self) -> bool {
        self.get() & MS_RDONLY != 0
    }

    /// Linux's mnt_want_write: EROFS on a read-only mount.
    pub fn want_write(&self) -> KResult<()> {
        if self.readonly() {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// Replaces the flags (a remount). Making a mount read-only while files are
    /// open for writing through it is EBUSY.
    pub fn set(&self, flags: u64) -> KResult<()> {
        if flags & MS_RDONLY != 0 && !self.readonly() && self.writers() != 0 {
            return Err(Errno::EBUSY);
        }
        self.flags.store(flags, Ordering::Release);
        Ok(())
    }

    /// How many open files write through this mount.
    pub fn writers(&self) -> usize {
        self.writers.load(Ordering::Acquire)
    }

    /// An open file starts writing through this mount (EROFS if read-only).
    pub(crate) fn add_writer(&self) -> KResult<()> {
        self.writers.fetch_add(1, Ordering::AcqRel);
        if self.readonly() {
            self.drop_writer();
            return Err(Errno::EROFS);
        }
        Ok(())
    }

    /// An open file that wrote through this mount is gone.
    pub(crate) fn drop_writer(&self) {
        self.writers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A resolved name.
pub struct Dentry {
    pub inode: InodeRef,
    name: Vec<u8>,
    parent: Option<DentryRef>,
    /// The mount it was reached through.
    mnt: MountRef,
}

/// A shared dentry.
pub type DentryRef = Arc<Dentry>;

impl core::fmt::Debug for Dentry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dentry")
            .field(
                "path",
                &alloc::string::String::from_utf8_lossy(&self.path()),
            )
            .finish()
    }
}

impl Dentry {
    /// The root of a tree, on a writable mount of its own.
    pub fn root(inode: InodeRef) -> DentryRef {
        Self::mount_root(inode, MountFlags::new(0))
    }

    /// The root of a tree, reached through the mount `mnt`.
    pub fn mount_root(inode: InodeRef, mnt: MountRef) -> DentryRef {
        Arc::new(Dentry {
            inode,
            name: Vec::new(),
            parent: None,
            mnt,
        })
    }

    /// `inode`, reached as `name` inside `parent` (on `parent`'s mount: `inode` is
    /// not a mount point, or the caller does not cross it; see [`Mounts::child`]).
    pub fn child(parent: &DentryRef, name: &[u8], inode: InodeRef) -> DentryRef {
        Arc::new(Dentry {
            inode,
            name: name.to_vec(),
            parent: Some(parent.clone()),
            mnt: parent.mnt.clone(),
        })
    }

    /// The mount this was reached through.
    pub fn mnt(&self) -> &MountRef {
        &self.mnt
    }

    /// Whether this is the root of the mount it was reached through (the
    /// root of the tree, or where a mount was crossed): statx's
    /// STATX_ATTR_MOUNT_ROOT.
    pub fn is_mount_root(&self) -> bool {
        self.parent
            .as_ref()
            .is_none_or(|p| !Arc::ptr_eq(&p.mnt, &self.mnt))
    }

    /// The directory this was reached through (`None` at the root).
    pub fn parent(&self) -> Option<&DentryRef> {
        self.parent.as_ref()
    }

    /// The last component of the path ("" for the root).
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The absolute path from the root ("/" for the root).
    pub fn path(&self) -> Vec<u8> {
        let mut parts = Vec::new();
        let mut d = Some(self);
        while let Some(x) = d {
            if x.parent.is_some() {
                parts.push(&x.name[..]);
            }
            d = x.parent.as_deref();
        }
        if parts.is_empty() {
            return b"/".to_vec();
        }
        let mut p = Vec::new();
        for part in parts.iter().rev() {
            p.push(b'/');
            p.extend_from_slice(part);
        }
        p
    }

    /// `self` as seen from `to` rather than `from`: when `from` (the same
    /// inode, reached through the same mount) is `self` or one of its
    /// ancestors, the names below it rebuilt on `to` (pivot_root moves the
    /// current directories under the new root onto it); `None` otherwise.
    pub fn rebased(self: &Arc<Self>, from: &Dentry, to: &DentryRef) -> Option<DentryRef> {
        let id = identity(&from.inode);
        let mut below: Vec<&DentryRef> = Vec::new();
        let mut d = Some(self);
        while let Some(x) = d {
            if identity(&x.inode) == id && Arc::ptr_eq(&x.mnt, &from.mnt) {
                let mut at = to.clone();
                for b in below.iter().rev() {
                    at = Arc::new(Dentry {
                        inode: b.inode.clone(),
                        name: b.name.clone(),
                        parent: Some(at),
                        mnt: b.mnt.clone(),
                    });
                }
                return Some(at);
            }
            below.push(x);
            d = x.parent.as_ref();
        }
        None
    }

    /// Whether `self` is `other` or one of its ancestors (rename of a directory into
    /// its own subtree is EINVAL).
    pub fn is_ancestor_of(&self, other: &Dentry) -> bool {
        let me = identity(&self.inode);
        let mut d = Some(other);
        while let Some(x) = d {
            if identity(&x.inode) == me {
                return true;
            }
            d = x.parent.as_deref();
        }
        false
    }
}

/// (device, inode number): what makes two inodes the same file.
pub fn identity(i: &InodeRef) -> (u64, u64) {
    let m = i.metadata();
    (m.dev, m.ino)
}

/// One mount of the table.
#[derive(Clone)]
pub struct Mount {
    /// The directory it is mounted on (its identity).
    pub at: (u64, u64),
    /// The root of what is mounted.
    pub root: InodeRef,
    /// What /proc/mounts says of it.
    pub info: MountInfo,
    /// Its flags (and ids).
    pub flags: MountRef,
    /// The mount it is mounted on (`None`: the root's, or not known).
    pub parent: Option<MountRef>,
    /// Its root's path inside its file system (mountinfo's fourth field):
    /// "/" but for bind mounts of a directory below a file system's root.
    pub root_path: Vec<u8>,
}

/// What /proc/mounts says of a mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The device or name it was mounted from ("proc", "tmpfs", "devtmpfs").
    pub source: Vec<u8>,
    /// The file system type.
    pub fstype: Vec<u8>,
    /// Where it is mounted (absolute path).
    pub path: Vec<u8>,
    /// The mount options ("rw,nosuid,nodev,noexec,relatime").
    pub options: Vec<u8>,
}

/// The mount table: which directories have another file system mounted on them.
#[derive(Default)]
pub struct Mounts {
    list: spin::RwLock<Vec<Mount>>,
    /// The root file system's mount (it has no entry in the list); pivot_root
    /// replaces it.
    root: spin::RwLock<MountRef>,
    /// What /proc/mounts says of the root once pivot_root made another file
    /// system the root (`None`: the boot root's line).
    root_info: spin::RwLock<Option<MountInfo>>,
}

impl Mounts {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new table with the same mounts, for a new mount namespace: mounting
    /// and unmounting in one is not seen in the other. The per-mount flags stay
    /// shared with the original's mounts (a remount shows in both), as do the
    /// root's, so dentries reached through either table keep working.
    pub fn copy(&self) -> Self {
        Self {
            list: spin::RwLock::new(self.list.read().clone()),
            root: spin::RwLock::new(self.root_mount()),
            root_info: spin::RwLock::new(self.root_info()),
        }
    }

    /// The root file system's mount.
    pub fn root_mount(&self) -> MountRef {
        self.root.read().clone()
    }

    /// What /proc/mounts says of the root after a pivot_root (`None`: the
    /// boot root's line).
    pub fn root_info(&self) -> Option<MountInfo> {
        self.root_info.read().clone()
    }

    /// Whether `m` is the root file system's mount.
    pub fn is_root_mount(&self, m: &MountRef) -> bool {
        Arc::ptr_eq(m, &self.root.read())
    }

    /// pivot_root(2)'s change to the table: the mount `new` (its root inode
    /// and its mount) takes the place of `old` (the caller's root), and `old`
    /// is mounted on the directory `put_old` (its identity) instead,
    /// described by `old_info`. `rename` gives every other mount its new
    /// /proc/mounts path. EINVAL if either is not a mount of this table.
    pub fn pivot(
        &self,
        old: (&InodeRef, &MountRef),
        old_info: MountInfo,
        new: (&InodeRef, &MountRef),
        put_old: (u64, u64),
        rename: impl Fn(&[u8]) -> Vec<u8>,
    ) -> KResult<()> {
        let ((old_root, old_mnt), (new_root, new_mnt)) = (old, new);
        let mut l = self.list.write();
        let find = |l: &[Mount], mnt: &MountRef, root: &InodeRef| {
            l.iter()
                .rposition(|m| Arc::ptr_eq(&m.flags, mnt) && identity(&m.root) == identity(root))
        };
        let ni = find(&l, new_mnt, new_root).ok_or(Errno::EINVAL)?;
        let old_at = if self.is_root_mount(old_mnt) {
            None
        } else {
            Some(find(&l, old_mnt, old_root).ok_or(Errno::EINVAL)?)
        };
        let mut new = l.remove(ni);
        for m in l.iter_mut() {
            m.info.path = rename(&m.info.path);
        }
        match old_at {
            None => {
                // The new root has no place in the list: it is the root.
                let mut info = new.info.clone();
                info.path = b"/".to_vec();
                *self.root.write() = new.flags.clone();
                *self.root_info.write() = Some(info);
            }
            Some(oi) => {
                let oi = if oi > ni { oi - 1 } else { oi };
                let old = l.remove(oi);
                new.at = old.at;
                new.info.path = old.info.path.clone();
                l.insert(oi, new);
            }
        }
        l.push(Mount {
            at: put_old,
            root: old_root.clone(),
            info: old_info,
            flags: old_mnt.clone(),
            parent: None,
            root_path: b"/".to_vec(),
        });
        Ok(())
    }

    /// Mounts the file system whose root is `root` on the directory `at`, with the
    /// per-mount `flags` (MS_RDONLY, ...). Returns the new mount's flags.
    pub fn mount(
        &self,
        at: &InodeRef,
        root: InodeRef,
        info: MountInfo,
        flags: u64,
    ) -> KResult<MountRef> {
        if !at.metadata().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let m = MountFlags::new(flags);
        self.list.write().push(Mount {
            at: identity(at),
            root,
            info,
            flags: m.clone(),
            parent: None,
            root_path: b"/".to_vec(),
        });
        Ok(m)
    }

    /// Mounts `m` on the directory `m.at` (its identity): on top of what is
    /// mounted there already, or with `beneath` under the topmost mount there
    /// (move_mount's MOVE_MOUNT_BENEATH).
    pub fn attach(&self, m: Mount, beneath: bool) {
        let mut l = self.list.write();
        let top = if beneath {
            l.iter().rposition(|x| x.at == m.at)
        } else {
            None
        };
        match top {
            Some(i) => l.insert(i, m),
            None => l.push(m),
        }
    }

    /// How many mounts the table has (the root's not counted).
    pub fn count(&self) -> usize {
        self.list.read().len()
    }

    /// Every mount of the table, oldest first (the root's not included).
    pub fn list(&self) -> Vec<Mount> {
        self.list.read().clone()
    }

    /// The table's entry for the mount `m` (`None`: the root's, or not here).
    pub fn entry_of(&self, m: &MountRef) -> Option<Mount> {
        self.list
            .read()
            .iter()
            .rev()
            .find(|x| Arc::ptr_eq(&x.flags, m))
            .cloned()
    }

    /// Sets the parent of the mount `m` (after a move), and with `at` the
    /// directory it covers (a mount put beneath it: its root).
    pub fn set_parent(&self, m: &MountRef, parent: MountRef, at: Option<(u64, u64)>) {
        if let Some(x) = self
            .list
            .write()
            .iter_mut()
            .rev()
            .find(|x| Arc::ptr_eq(&x.flags, m))
        {
            x.parent = Some(parent);
            if let Some(at) = at {
                x.at = at;
            }
        }
    }

    /// The mount whose root `d` is (None: `d` is not the root of a mount),
    /// with its path as /proc/mounts shows it.
    pub fn mount_of(&self, d: &Dentry) -> Option<(MountRef, Vec<u8>)> {
        if d.parent.is_none() && self.is_root_mount(&d.mnt) {
            return Some((self.root_mount(), b"/".to_vec()));
        }
        let id = identity(&d.inode);
        self.list
            .read()
            .iter()
            .rev()
            .find(|m| Arc::ptr_eq(&m.flags, &d.mnt) && identity(&m.root) == id)
            .map(|m| (m.flags.clone(), m.info.path.clone()))
    }

    /// The mounts at `path` or below it (by /proc/mounts path), the root's
    /// first when `path` is "/".
    pub fn mounts_under(&self, path: &[u8]) -> Vec<MountRef> {
        let mut out = Vec::new();
        if path == b"/" {
            out.push(self.root_mount());
        }
        for m in self.list.read().iter() {
            let p = &m.info.path;
            if path == b"/"
                || p == path
                || (p.starts_with(path) && p.get(path.len()) == Some(&b'/'))
            {
                out.push(m.flags.clone());
            }
        }
        out
    }

    /// Every mount with its flags, oldest first (the root's not included).
    pub fn entries(&self) -> Vec<(MountInfo, MountRef)> {
        self.list
            .read()
            .iter()
            .map(|m| (m.info.clone(), m.flags.clone()))
            .collect()
    }

    /// Changes the flags of the mount whose root `d` is (and its /proc/mounts
    /// options to `options`). EINVAL if `d` is not the root of a mount; EBUSY if
    /// the mount would become read-only with files open for writing.
    pub fn remount(&self, d: &Dentry, flags: u64, options: Vec<u8>) -> KResult<()> {
        if d.parent.is_none() && self.is_root_mount(&d.mnt) {
            return self.root_mount().set(flags);
        }
        let mut l = self.list.write();
        let id = identity(&d.inode);
        let m = l
            .iter_mut()
            .rev()
            .find(|m| Arc::ptr_eq(&m.flags, &d.mnt) && identity(&m.root) == id)
            .ok_or(Errno::EINVAL)?;
        m.flags.set(flags)?;
        m.info.options = options;
        Ok(())
    }

    /// The root of every mount, oldest first.
    pub fn entries_roots(&self) -> Vec<InodeRef> {
        self.list.read().iter().map(|m| m.root.clone()).collect()
    }

    /// Every mount, oldest first.
    pub fn infos(&self) -> Vec<MountInfo> {
        self.list.read().iter().map(|m| m.info.clone()).collect()
    }

    /// `inode` found as `name` in `parent`: its dentry, on the mount stacked on it
    /// if it is a mount point.
    pub fn child(&self, parent: &DentryRef, name: &[u8], inode: InodeRef) -> DentryRef {
        let (inode, mnt) = self.cross_mount(inode, Some(&parent.mnt));
        Arc::new(Dentry {
            inode,
            name: name.to_vec(),
            parent: Some(parent.clone()),
            mnt: mnt.unwrap_or_else(|| parent.mnt.clone()),
        })
    }

    /// MS_MOVE: what is mounted on `from` (its identity) is mounted on `to`
    /// instead (EINVAL if nothing is mounted there, and unless `to` is a
    /// directory for a directory's mount, a non-directory for a file's, as
    /// Linux's do_move_mount).
    pub fn move_mount(&self, from: (u64, u64), to: &InodeRef) -> KResult<()> {
        let to_id = identity(to);
        let root = self.root_at(from).ok_or(Errno::EINVAL)?;
        if root.metadata().is_dir() != to.metadata().is_dir() {
            return Err(Errno::EINVAL);
        }
        let mut l = self.list.write();
        let m = l
            .iter_mut()
            .rev()
            .find(|m| m.at == from || identity(&m.root) == from)
            .ok_or(Errno::EINVAL)?;
        m.at = to_id;
        Ok(())
    }

    /// MS_MOVE from mount(2): as [`Mounts::move_mount`], and the mount's path (as
    /// /proc/mounts shows it) becomes `path`, with those of the mounts under it.
    pub fn move_mount_to(&self, from: (u64, u64), to: &InodeRef, path: Vec<u8>) -> KResult<()> {
        let old = self
            .list
            .read()
            .iter()
            .rev()
            .find(|m| m.at == from || identity(&m.root) == from)
            .map(|m| m.info.path.clone())
            .ok_or(Errno::EINVAL)?;
        self.move_mount(from, to)?;
        let mut l = self.list.write();
        for m in l.iter_mut() {
            if m.info.path == old {
                m.info.path = path.clone();
            } else if let Some(rest) = m.info.path.strip_prefix(&old[..])
                && rest.first() == Some(&b'/')
            {
                let mut p = path.clone();
                p.extend_from_slice(rest);
                m.info.path = p;
            }
        }
        Ok(())
    }

    /// The root of the most recent mount whose root or mount point is `at`.
    pub fn root_at(&self, at: (u64, u64)) -> Option<InodeRef> {
        self.list
            .read()
            .iter()
            .rev()
            .find(|m| identity(&m.root) == at || m.at == at)
            .map(|m| m.root.clone())
    }

    /// The root of a mounted file system whose device is `dev` (ustat(2)).
    pub fn root_of_dev(&self, dev: u64) -> Option<InodeRef> {
        self.list
            .read()
            .iter()
            .find(|m| m.root.metadata().dev == dev)
            .map(|m| m.root.clone())
    }

    /// How many mounts have a root with identity `root` (a file system mounted
    /// once and bound elsewhere has several).
    pub fn mounts_of(&self, root: (u64, u64)) -> usize {
        self.list
            .read()
            .iter()
            .filter(|m| identity(&m.root) == root)
            .count()
    }

    /// Unmounts the mount `m` whose root has identity `root` (the entry
    /// itself, not another mount of the same file system): the entry taken
    /// out, `None` if `m` is no mount of the table.
    pub fn unmount_exact(&self, m: &MountRef, root: (u64, u64)) -> Option<Mount> {
        let mut l = self.list.write();
        let i = l
            .iter()
            .rposition(|x| Arc::ptr_eq(&x.flags, m) && identity(&x.root) == root)?;
        Some(l.remove(i))
    }

    /// Unmounts what is mounted on `at` (the most recent mount there).
    pub fn unmount(&self, at: (u64, u64)) -> KResult<()> {
        let mut l = self.list.write();
        let i = l
            .iter()
            .rposition(|m| identity(&m.root) == at || m.at == at)
            .ok_or(Errno::EINVAL)?;
        l.remove(i);
        Ok(())
    }

    /// umount2's MNT_DETACH: unmounts what is mounted on `at` (as
    /// [`Mounts::unmount`]) and every mount under it: those on a directory of
    /// its file system (by device, while no other mount shows that file
    /// system, nor the root, on device `root_dev`), and theirs in turn.
    /// Returns the roots of the mounts taken away, the one on `at` first.
    pub fn unmount_tree(&self, at: (u64, u64), root_dev: u64) -> KResult<Vec<InodeRef>> {
        self.unmount_tree_of(at, None, root_dev)
    }

    /// [`Mounts::unmount_tree`] of the mount `m` when given (the entry the
    /// path reached), and of every mount whose parent is a mount taken.
    pub fn unmount_tree_of(
        &self,
        at: (u64, u64),
        m: Option<&MountRef>,
        root_dev: u64,
    ) -> KResult<Vec<InodeRef>> {
        let mut l = self.list.write();
        let i = m
            .and_then(|m| {
                l.iter()
                    .rposition(|x| Arc::ptr_eq(&x.flags, m) && identity(&x.root) == at)
            })
            .or_else(|| {
                l.iter()
                    .rposition(|m| identity(&m.root) == at || m.at == at)
            })
            .ok_or(Errno::EINVAL)?;
        let first = l.remove(i);
        let mut gone_mounts = alloc::vec![first.flags.clone()];
        let mut gone = alloc::vec![first.root];
        let mut k = 0;
        while k < gone.len() {
            let dev = gone[k].metadata().dev;
            let shown_elsewhere = dev == root_dev || l.iter().any(|m| m.root.metadata().dev == dev);
            if !shown_elsewhere {
                while let Some(j) = l.iter().position(|m| m.at.0 == dev && m.parent.is_none()) {
                    let x = l.remove(j);
                    gone_mounts.push(x.flags);
                    gone.push(x.root);
                }
            }
            // The mounts on a mount taken go with it.
            while let Some(j) = l.iter().position(|x| {
                x.parent
                    .as_ref()
                    .is_some_and(|p| gone_mounts.iter().any(|g| Arc::ptr_eq(g, p)))
            }) {
                let x = l.remove(j);
                gone_mounts.push(x.flags);
                gone.push(x.root);
            }
            k += 1;
        }
        Ok(gone)
    }

    /// `inode`, or the root of what is mounted on it (repeatedly, for stacked mounts).
    pub fn cross(&self, inode: InodeRef) -> InodeRef {
        self.cross_mount(inode, None).0
    }

    /// [`Mounts::cross`], with the mount crossed into (`None`: none).
    fn cross_mount(
        &self,
        mut inode: InodeRef,
        from: Option<&MountRef>,
    ) -> (InodeRef, Option<MountRef>) {
        let l = self.list.read();
        let mut mnt = None;
        if l.is_empty() {
            return (inode, mnt);
        }
        let mut cur = from.cloned();
        for _ in 0..l.len() {
            let id = identity(&inode);
            // A mount covers its directory as reached through the mount it
            // was mounted on (its parent, where known), as Linux's mounts
            // hang on a (mount, dentry) pair: a bind mount of a directory
            // that is itself a mount point does not show what covers it.
            let covers = |m: &&Mount| {
                m.at == id
                    && match (&m.parent, &cur) {
                        (Some(p), Some(c)) => Arc::ptr_eq(p, c),
                        _ => true,
                    }
            };
            match l.iter().rev().find(covers) {
                Some(m) => {
                    inode = m.root.clone();
                    m.flags.crossed();
                    mnt = Some(m.flags.clone());
                    cur = Some(m.flags.clone());
                }
                None => break,
            }
        }
        (inode, mnt)
    }
}

/// The result of [`Walker::lookup_parent`].
#[derive(Debug)]
pub struct ParentLookup {
    /// The directory that holds (or would hold) the last component.
    pub dir: DentryRef,
    /// The last component; may be "." or ".." (the caller decides what that means).
    pub name: Vec<u8>,
    /// Whether the path ended in `/`.
    pub trailing_slash: bool,
}

/// Resolves paths for one caller: its root, the mount table and its credentials.
pub struct Walker<'a> {
    pub root: &'a DentryRef,
    pub mounts: &'a Mounts,
    pub cred: &'a Cred,
    /// openat2's RESOLVE_* restrictions (0 for ordinary lookups).
    pub resolve: u32,
}

/// openat2(2) resolve flags.
pub const RESOLVE_NO_XDEV: u32 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u32 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u32 = 0x04;
pub const RESOLVE_BENEATH: u32 = 0x08;
pub const RESOLVE_IN_ROOT: u32 = 0x10;
pub const RESOLVE_CACHED: u32 = 0x20;

fn components(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(|c| c.to_vec())
        .collect()
}

impl Walker<'_> {
    fn check_path(path: &[u8]) -> KResult<()> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok(())
    }

    fn step_up(&self, cur: &DentryRef) -> DentryRef {
        if Arc::ptr_eq(cur, self.root) {
            return cur.clone();
        }
        cur.parent.clone().unwrap_or_else(|| cur.clone())
    }

    /// Walks `queue` from `cur`. With `stop_before_last`, the final component is left
    /// unresolved and returned.
    async fn walk(
        &self,
        mut cur: DentryRef,
        mut queue: VecDeque<Vec<u8>>,
        follow_last: bool,
        stop_before_last: bool,
    ) -> KResult<(DentryRef, Option<Vec<u8>>)> {
        let mut links = 0;
        // RESOLVE_BENEATH: how far below the starting directory the walk is.
        let mut depth: usize = 0;
        let beneath = self.resolve & RESOLVE_BENEATH != 0;
        while let Some(comp) = queue.pop_front() {
            let last = queue.is_empty();
            if !cur.inode.metadata().is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if comp.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            check_access(&cur.inode.metadata(), self.cred, access::EXEC)?;
            if last && stop_before_last {
                return Ok((cur, Some(comp)));
            }
            match &comp[..] {
                b"." => continue,
                b".." => {
                    if beneath {
                        // Leaving the starting directory is refused.
                        depth = depth.checked_sub(1).ok_or(Errno::EXDEV)?;
                    }
                    cur = self.step_up(&cur);
                    continue;
                }
                _ => {}
            }
            let found = cur.inode.lookup_async(&comp).await?;
            let child = self.mounts.child(&cur, &comp, found.clone());
            if self.resolve & RESOLVE_NO_XDEV != 0 && !Arc::ptr_eq(&found, &child.inode) {
                return Err(Errno::EXDEV);
            }
            let inode = &child.inode;
            let m = inode.metadata();
            if m.is_symlink() && (!last || follow_last) {
                links += 1;
                // A symlink on a nosymfollow mount is not followed (Linux's
                // pick_link); it can still be read with readlink.
                if links > MAXSYMLINKS
                    || self.resolve & RESOLVE_NO_SYMLINKS != 0
                    || child.mnt().get() & MS_NOSYMFOLLOW != 0
                {
                    return Err(Errno::ELOOP);
                }
                if let Some(to) = inode.magic_link() {
                    if self.resolve & (RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT)
                        != 0
                    {
                        return Err(Errno::ELOOP);
                    }
                    cur = to?;
                    continue;
                }
                let target = inode.readlink_async().await?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target[0] == b'/' {
                    if beneath {
                        return Err(Errno::EXDEV);
                    }
                    cur = self.root.clone();
                }
                for c in components(&target).into_iter().rev() {
                    queue.push_front(c);
                }
                continue;
            }
            cur = child;
            depth += 1;
        }
        Ok((cur, None))
    }

    /// Resolves `path`, relative paths from `start`. `follow` says whether a symlink
    /// as the last component is followed (no for lstat, O_NOFOLLOW, ...).
    pub async fn lookup(&self, start: &DentryRef, path: &[u8], follow: bool) -> KResult<DentryRef> {
        Self::check_path(path)?;
        let trailing = path.ends_with(b"/");
        if path[0] == b'/' && self.resolve & RESOLVE_BENEATH != 0 {
            return Err(Errno::EXDEV);
        }
        let from = if path[0] == b'/' {
            self.root.clone()
        } else {
            start.clone()
        };
        let (d, _) = self
            .walk(from, components(path), follow || trailing, false)
            .await?;
        if trailing && !d.inode.metadata().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(d)
    }

    /// Resolves all but the last component of `path`: where a new file would be
    /// created, or an existing one unlinked or renamed. A path with no components
    /// ("/", or only slashes) yields the root itself and the name ".".
    pub async fn lookup_parent(&self, start: &DentryRef, path: &[u8]) -> KResult<ParentLookup> {
        Self::check_path(path)?;
        let trailing_slash = path.ends_with(b"/");
        if path[0] == b'/' && self.resolve & RESOLVE_BENEATH != 0 {
            return Err(Errno::EXDEV);
        }
        let from = if path[0] == b'/' {
            self.root.clone()
        } else {
            start.clone()
        };
        let queue = components(path);
        if queue.is_empty() {
            return Ok(ParentLookup {
                dir: from,
                name: b".".to_vec(),
                trailing_slash,
            });
        }
        let (dir, name) = self.walk(from, queue, true, true).await?;
        Ok(ParentLookup {
            dir,
            name: name.unwrap_or_else(|| b".".to_vec()),
            trailing_slash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inode::NodeKind;
    use crate::ramfs::RamFs;
    use crate::tests::Now;

    fn setup() -> (DentryRef, Mounts) {
        let root = Dentry::root(RamFs::new_root(1));
        let a = root.inode.create(b"a", NodeKind::Dir, 0o755, 0, 0).unwrap();
        let b = a.create(b"b", NodeKind::Dir, 0o755, 0, 0).unwrap();
        b.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        root.inode
            .create(b"abs", NodeKind::Symlink(b"/a/b".to_vec()), 0o777, 0, 0)
            .unwrap();
        a.create(b"rel", NodeKind::Symlink(b"b/f".to_vec()), 0o777, 0, 0)
            .unwrap();
        root.inode
            .create(b"loop", NodeKind::Symlink(b"loop".to_vec()), 0o777, 0, 0)
            .unwrap();
        root.inode
            .create(
                b"dangling",
                NodeKind::Symlink(b"nowhere".to_vec()),
                0o777,
                0,
                0,
            )
            .unwrap();
        (root, Mounts::new())
    }

    fn path_of(d: &DentryRef) -> alloc::string::String {
        alloc::string::String::from_utf8(d.path()).unwrap()
    }

    #[test]
    fn absolute_relative_dot_and_dotdot() {
        let (root, mounts) = setup();
        let cred = Cred::root();
        let w = Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        let b = w.lookup(&root, b"/a/b", true).now().unwrap();
        assert_eq!(path_of(&b), "/a/b");
        assert_eq!(
            path_of(&w.lookup(&b, b"../../a/./b/f", true).now().unwrap()),
            "/a/b/f"
        );
        assert_eq!(
            path_of(&w.lookup(&b, b"../../../../..", true).now().unwrap()),
            "/"
        );
        assert_eq!(
            path_of(&w.lookup(&root, b"//a//b//", true).now().unwrap()),
            "/a/b"
        );
    }

    #[test]
    fn symlinks_are_followed_except_last_when_asked() {
        let (root, mounts) = setup();
        let cred = Cred::root();
        let w = Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        assert_eq!(
            path_of(&w.lookup(&root, b"/abs/f", true).now().unwrap()),
            "/a/b/f"
        );
        assert_eq!(
            path_of(&w.lookup(&root, b"/a/rel", true).now().unwrap()),
            "/a/b/f"
        );
        let link = w.lookup(&root, b"/a/rel", false).now().unwrap();
        assert!(link.inode.metadata().is_symlink());
        // A trailing slash forces the last symlink to be followed.
        assert!(
            w.lookup(&root, b"/abs/", false)
                .now()
                .unwrap()
                .inode
                .metadata()
                .is_dir()
        );
    }

    #[test]
    fn errors_match_linux() {
        let (root, mounts) = setup();
        let cred = Cred::root();
        let w = Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        assert_eq!(w.lookup(&root, b"", true).now().err(), Some(Errno::ENOENT));
        assert_eq!(
            w.lookup(&root, b"/nope", true).now().err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(
            w.lookup(&root, b"/a/b/f/x", true).now().err(),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(
            w.lookup(&root, b"/a/b/f/", true).now().err(),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(
            w.lookup(&root, b"/loop", true).now().err(),
            Some(Errno::ELOOP)
        );
        assert!(w.lookup(&root, b"/loop", false).now().is_ok());
        assert_eq!(
            w.lookup(&root, b"/dangling", true).now().err(),
            Some(Errno::ENOENT)
        );
        let long = alloc::vec![b'x'; 256];
        assert_eq!(
            w.lookup(&root, &long, true).now().err(),
            Some(Errno::ENAMETOOLONG)
        );
        let huge = alloc::vec![b'/'; 4096];
        assert_eq!(
            w.lookup(&root, &huge, true).now().err(),
            Some(Errno::ENAMETOOLONG)
        );
    }

    #[test]
    fn search_permission_is_needed_for_non_root() {
        let (root, mounts) = setup();
        let user = Cred {
            uid: 1000,
            gid: 1000,
            groups: Vec::new(),
        };
        let w = Walker {
            root: &root,
            mounts: &mounts,
            cred: &user,
            resolve: 0,
        };
        assert!(w.lookup(&root, b"/a/b/f", true).now().is_ok());
        w.lookup(&root, b"/a", true)
            .now()
            .unwrap()
            .inode
            .set_mode(0o700)
            .unwrap();
        assert_eq!(
            w.lookup(&root, b"/a/b/f", true).now().err(),
            Some(Errno::EACCES)
        );
    }

    #[test]
    fn resolve_flags_restrict_the_walk() {
        let root = Dentry::root(RamFs::new_root(1));
        let mounts = Mounts::new();
        let cred = Cred::root();
        let a = root.inode.create(b"a", NodeKind::Dir, 0o755, 0, 0).unwrap();
        a.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        a.create(b"l", NodeKind::Symlink(b"f".to_vec()), 0o777, 0, 0)
            .unwrap();
        let start = Dentry::child(&root, b"a", a);
        let w = |resolve| Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve,
        };
        assert!(w(RESOLVE_BENEATH).lookup(&start, b"f", true).now().is_ok());
        assert_eq!(
            w(RESOLVE_BENEATH)
                .lookup(&start, b"../a/f", true)
                .now()
                .err(),
            Some(Errno::EXDEV)
        );
        assert_eq!(
            w(RESOLVE_BENEATH).lookup(&start, b"/a/f", true).now().err(),
            Some(Errno::EXDEV)
        );
        assert_eq!(
            w(RESOLVE_NO_SYMLINKS)
                .lookup(&start, b"l", true)
                .now()
                .err(),
            Some(Errno::ELOOP)
        );
        assert!(
            w(RESOLVE_NO_SYMLINKS)
                .lookup(&start, b"l", false)
                .now()
                .is_ok()
        );
    }

    #[test]
    fn lookup_parent_returns_the_last_name_unresolved() {
        let (root, mounts) = setup();
        let cred = Cred::root();
        let w = Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        let p = w.lookup_parent(&root, b"/a/b/new").now().unwrap();
        assert_eq!(
            (path_of(&p.dir).as_str(), &p.name[..], p.trailing_slash),
            ("/a/b", &b"new"[..], false)
        );
        let p = w.lookup_parent(&root, b"/abs/new/").now().unwrap();
        assert_eq!(
            (path_of(&p.dir).as_str(), &p.name[..], p.trailing_slash),
            ("/a/b", &b"new"[..], true)
        );
        let p = w.lookup_parent(&root, b"/").now().unwrap();
        assert_eq!(&p.name[..], b".");
        assert_eq!(
            w.lookup_parent(&root, b"/nope/x").now().err(),
            Some(Errno::ENOENT)
        );
    }

    #[test]
    fn mounts_replace_the_mount_point_and_dotdot_climbs_out() {
        let (root, mounts) = setup();
        let cred = Cred::root();
        let other = RamFs::new_root(2);
        other
            .create(b"inside", NodeKind::File, 0o644, 0, 0)
            .unwrap();
        let at = root.inode.lookup(b"a").unwrap();
        let info = MountInfo {
            source: b"t".to_vec(),
            fstype: b"ramfs".to_vec(),
            path: b"/mnt".to_vec(),
            options: b"rw".to_vec(),
        };
        mounts.mount(&at, other, info.clone(), 0).unwrap();
        assert_eq!(mounts.infos(), [info]);
        let w = Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        let f = w.lookup(&root, b"/a/inside", true).now().unwrap();
        assert_eq!(f.inode.metadata().dev, 2);
        assert_eq!(
            w.lookup(&root, b"/a/b", true).now().err(),
            Some(Errno::ENOENT)
        );
        let mounted_root = f.parent().unwrap();
        assert_eq!(path_of(mounted_root), "/a");
        let up = w.lookup(mounted_root, b"../abs", false).now().unwrap();
        assert_eq!(path_of(&up), "/abs");
        assert_eq!(
            w.lookup(&f, b"../abs", false).now().err(),
            Some(Errno::ENOTDIR)
        );
    }

    #[test]
    fn dentries_carry_the_mount_they_were_reached_through() {
        let (root, mounts) = setup();
        let root = Dentry::mount_root(root.inode.clone(), mounts.root_mount().clone());
        let cred = Cred::root();
        let other = RamFs::new_root(2);
        other.create(b"f", NodeKind::File, 0o644, 0, 0).unwrap();
        let at = root.inode.lookup(b"a").unwrap();
        let info = MountInfo {
            source: b"t".to_vec(),
            fstype: b"tmpfs".to_vec(),
            path: b"/a".to_vec(),
            options: b"ro".to_vec(),
        };
        mounts.mount(&at, other, info, MS_RDONLY).unwrap();
        let w = Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        let f = w.lookup(&root, b"/a/f", true).now().unwrap();
        assert!(f.mnt().readonly());
        assert_eq!(f.mnt().want_write(), Err(Errno::EROFS));
        // ".." climbs back onto the root's writable mount.
        let up = w
            .lookup(f.parent().unwrap(), b"../abs", false)
            .now()
            .unwrap();
        assert!(!up.mnt().readonly());
        assert!(Arc::ptr_eq(up.mnt(), &mounts.root_mount()));
        // Only a mount's root can be remounted.
        let top = w.lookup(&root, b"/a", true).now().unwrap();
        assert_eq!(
            mounts.remount(&f, 0, b"rw".to_vec()).err(),
            Some(Errno::EINVAL)
        );
        mounts.remount(&top, 0, b"rw".to_vec()).unwrap();
        assert!(!f.mnt().readonly());
        assert_eq!(mounts.infos()[0].options, b"rw");
        // A file open for writing keeps it from becoming read-only.
        let file = crate::OpenFile::open(f.clone(), Arc::new(crate::file::RegularFile), 2).unwrap();
        assert_eq!(f.mnt().writers(), 1);
        assert_eq!(
            mounts.remount(&top, MS_RDONLY, b"ro".to_vec()).err(),
            Some(Errno::EBUSY)
        );
        drop(file);
        assert_eq!(f.mnt().writers(), 0);
        mounts.remount(&top, MS_RDONLY, b"ro".to_vec()).unwrap();
        assert_eq!(
            crate::OpenFile::open(f.clone(), Arc::new(crate::file::RegularFile), 2).err(),
            Some(Errno::EROFS)
        );
        // Read-only opens are fine.
        assert!(crate::OpenFile::open(f, Arc::new(crate::file::RegularFile), 0).is_ok());
        // The root mount too.
        mounts.remount(&root, MS_RDONLY, b"ro".to_vec()).unwrap();
        assert!(up.mnt().readonly());
    }

    #[test]
    fn ancestry_for_rename_checks() {
        let (root, mounts) = setup();
        let cred = Cred::root();
        let w = Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        let a = w.lookup(&root, b"/a", true).now().unwrap();
        let b = w.lookup(&root, b"/a/b", true).now().unwrap();
        assert!(a.is_ancestor_of(&b));
        assert!(!b.is_ancestor_of(&a));
    }

    /// An inode whose lookups and symlink reads wait once before answering, as a
    /// disk file system's do; everything it finds is wrapped the same way.
    struct Slow(InodeRef);

    /// Pending once (waking itself), then ready.
    struct YieldOnce(bool);

    impl core::future::Future for YieldOnce {
        type Output = ();
        fn poll(
            mut self: core::pin::Pin<&mut Self>,
            cx: &mut core::task::Context<'_>,
        ) -> core::task::Poll<()> {
            if self.0 {
                return core::task::Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            core::task::Poll::Pending
        }
    }

    impl crate::Inode for Slow {
        fn metadata(&self) -> crate::Metadata {
            self.0.metadata()
        }
        fn set_mode(&self, mode: u32) -> KResult<()> {
            self.0.set_mode(mode)
        }
        fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
            self.0.set_owner(uid, gid)
        }
        fn set_times(
            &self,
            a: Option<kestrel_abi::time::Timespec>,
            m: Option<kestrel_abi::time::Timespec>,
        ) -> KResult<()> {
            self.0.set_times(a, m)
        }
        fn statfs(&self) -> kestrel_abi::fs::Statfs {
            self.0.statfs()
        }
        // The synchronous forms are never used by the walk.
        fn lookup(&self, _name: &[u8]) -> KResult<InodeRef> {
            Err(Errno::EIO)
        }
        fn readlink(&self) -> KResult<Vec<u8>> {
            Err(Errno::EIO)
        }
        fn lookup_async<'a>(
            &'a self,
            name: &'a [u8],
        ) -> crate::inode::Later<'a, KResult<InodeRef>> {
            crate::inode::Later::wait(async move {
                YieldOnce(false).await;
                self.0.lookup(name).map(|i| Arc::new(Slow(i)) as InodeRef)
            })
        }
        fn readlink_async(&self) -> crate::inode::Later<'_, KResult<Vec<u8>>> {
            crate::inode::Later::wait(async move {
                YieldOnce(false).await;
                self.0.readlink()
            })
        }
        fn as_any(&self) -> &dyn core::any::Any {
            self
        }
    }

    /// Polls `f` until it completes (its wakers wake at once here).
    fn run<F: core::future::Future>(f: F) -> F::Output {
        let mut f = core::pin::pin!(f);
        let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
        for _ in 0..1000 {
            if let core::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
        panic!("the walk did not finish");
    }

    #[test]
    fn the_walk_awaits_lookups_and_symlinks_that_wait() {
        let (root, mounts) = setup();
        let slow = Dentry::root(Arc::new(Slow(root.inode.clone())));
        let cred = Cred::root();
        let w = Walker {
            root: &slow,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        // It does wait: one poll is not enough.
        assert!(crate::poll_now(w.lookup(&slow, b"/abs/f", true)).is_none());
        let f = run(w.lookup(&slow, b"/abs/f", true)).unwrap();
        assert_eq!(path_of(&f), "/a/b/f");
        assert!(f.inode.as_any().is::<Slow>());
        assert_eq!(
            run(w.lookup(&slow, b"/a/nope", true)).err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(
            run(w.lookup(&slow, b"/loop", true)).err(),
            Some(Errno::ELOOP)
        );
        let p = run(w.lookup_parent(&slow, b"/a/rel/x")).err();
        assert_eq!(p, Some(Errno::ENOTDIR));
    }

    fn info(path: &str) -> MountInfo {
        MountInfo {
            source: b"t".to_vec(),
            fstype: b"tmpfs".to_vec(),
            path: path.as_bytes().to_vec(),
            options: b"rw".to_vec(),
        }
    }

    #[test]
    fn pivot_makes_a_mount_the_root_and_mounts_the_old_root_at_put_old() {
        let (root, mounts) = setup();
        let root = Dentry::mount_root(root.inode.clone(), mounts.root_mount());
        let cred = Cred::root();
        let new = RamFs::new_root(2);
        new.create(b"old", NodeKind::Dir, 0o755, 0, 0).unwrap();
        new.create(b"marker", NodeKind::File, 0o644, 0, 0).unwrap();
        let at = root.inode.lookup(b"a").unwrap();
        mounts.mount(&at, new.clone(), info("/a"), 0).unwrap();
        let w = Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        let new_d = w.lookup(&root, b"/a", true).now().unwrap();
        let put_old = w.lookup(&root, b"/a/old", true).now().unwrap();
        let cwd = w.lookup(&root, b"/a/old", true).now().unwrap();
        let old_root_mnt = mounts.root_mount();
        mounts
            .pivot(
                (&root.inode, &old_root_mnt),
                info("/old"),
                (&new_d.inode, new_d.mnt()),
                identity(&put_old.inode),
                |p| p.to_vec(),
            )
            .unwrap();
        assert!(Arc::ptr_eq(&mounts.root_mount(), new_d.mnt()));
        assert_eq!(mounts.root_info().unwrap().path, b"/");
        let new_root = Dentry::mount_root(new_d.inode.clone(), new_d.mnt().clone());
        let w = Walker {
            root: &new_root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        };
        assert!(w.lookup(&new_root, b"/marker", true).now().is_ok());
        // The old root is at /old: its /a/b/f is /old/a/b/f.
        let f = w.lookup(&new_root, b"/old/a/b/f", true).now().unwrap();
        assert!(Arc::ptr_eq(f.mnt(), &old_root_mnt));
        // A working directory under the new root is seen from it.
        let moved = cwd.rebased(&new_d, &new_root).unwrap();
        assert_eq!(path_of(&moved), "/old");
        assert!(root.rebased(&new_d, &new_root).is_none());
        // Detaching /old takes the old root away.
        let gone = mounts.unmount_tree(identity(&put_old.inode), 2).unwrap();
        assert_eq!(gone.len(), 1);
        assert!(w.lookup(&new_root, b"/old/a", true).now().is_err());
    }

    #[test]
    fn unmount_tree_takes_the_mounts_on_the_file_system_it_unmounts() {
        let (root, mounts) = setup();
        let top = RamFs::new_root(2);
        let sub = top.create(b"sub", NodeKind::Dir, 0o755, 0, 0).unwrap();
        let at = root.inode.lookup(b"a").unwrap();
        mounts.mount(&at, top.clone(), info("/a"), 0).unwrap();
        mounts
            .mount(&sub, RamFs::new_root(3), info("/a/sub"), 0)
            .unwrap();
        // Another mount on the root file system stays.
        let b = at.lookup(b"b").unwrap();
        mounts
            .mount(&b, RamFs::new_root(4), info("/a/b"), 0)
            .unwrap();
        let gone = mounts.unmount_tree(identity(&top), 1).unwrap();
        assert_eq!(gone.len(), 2);
        assert_eq!(mounts.infos(), [info("/a/b")]);
    }
}
