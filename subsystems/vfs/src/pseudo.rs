//! Building blocks for file systems whose files are computed, not stored: procfs
//! and the like.
//!
//! * [`PseudoFile`]: its content is produced by a function each time it is read
//!   from offset 0 (`cat` sees a consistent snapshot; a reader that goes on with
//!   later offsets gets the snapshot taken at offset 0). Writes go to a function.
//!   Like Linux's proc files it reports size 0.
//! * [`PseudoLink`]: a symlink whose target is computed. It may also be a *magic*
//!   link: following it leads straight to a dentry (`/proc/self/exe`, `cwd`,
//!   `fd/N`), not to a path parsed from the target text.
//! * [`PseudoDir`]: a directory whose entries are listed and looked up by
//!   functions, so `/proc` shows the processes alive right now.
//!
//! None of them can be created in, renamed or unlinked: those calls fail with EPERM
//! or EACCES as in procfs.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};

use crate::inode::{DirEntry, Inode, InodeRef, Metadata, NodeKind};
use crate::path::DentryRef;

/// Who owns a pseudo file: (uid, gid), computed (a process's files belong to its
/// effective user).
pub type OwnerFn = Box<dyn Fn() -> (u32, u32) + Send + Sync>;
/// Produces a file's content.
pub type ReadFn = Box<dyn Fn() -> KResult<Vec<u8>> + Send + Sync>;
/// Takes what is written to a file.
pub type WriteFn = Box<dyn Fn(&[u8]) -> KResult<()> + Send + Sync>;
/// What answers a pseudo file's ioctls: the command, the argument, the
/// caller's memory.
pub type IoctlFn = Box<dyn Fn(u32, u64, &dyn crate::UserSpace) -> KResult<u64> + Send + Sync>;
/// A link's target text.
pub type TargetFn = Box<dyn Fn() -> KResult<Vec<u8>> + Send + Sync>;
/// Where a magic link leads.
pub type MagicFn = Box<dyn Fn() -> KResult<DentryRef> + Send + Sync>;
/// A directory's entries: (name, inode number, d_type), without "." and "..".
pub type ListFn = Box<dyn Fn() -> Vec<(Vec<u8>, u64, u8)> + Send + Sync>;
/// Looks a name up in a directory.
pub type LookupFn = Box<dyn Fn(&[u8]) -> KResult<InodeRef> + Send + Sync>;

/// What every pseudo inode has: its identity, permissions and owner.
pub struct Common {
    pub dev: u64,
    pub ino: u64,
    /// Permission bits (the type bits are the kind's).
    pub perm: u32,
    pub owner: Option<OwnerFn>,
}

impl Common {
    /// The metadata of a pseudo file of `file_type` with `nlink` links.
    pub fn metadata(&self, file_type: u32, nlink: u32) -> Metadata {
        let (uid, gid) = self.owner.as_ref().map_or((0, 0), |f| f());
        let now = crate::now();
        Metadata {
            dev: self.dev,
            ino: self.ino,
            mode: file_type | self.perm,
            nlink,
            uid,
            gid,
            rdev: 0,
            size: 0,
            blksize: 1024,
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
            flags: 0,
        }
    }
}

/// The statfs answer for a pseudo file system with magic number `magic`.
pub fn pseudo_statfs(dev: u64, magic: i64) -> Statfs {
    Statfs {
        f_type: magic,
        f_bsize: 4096,
        f_fsid: [dev as i32, (dev >> 32) as i32],
        f_namelen: 255,
        f_frsize: 4096,
        f_flags: ST_VALID | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME,
        ..Default::default()
    }
}

/// A file whose content is computed.
pub struct PseudoFile {
    pub common: Common,
    pub magic: i64,
    read: ReadFn,
    /// Where writes go, or the errno a write gets (procfs answers EIO for its
    /// system files and EINVAL for per-process ones, as Linux does).
    write: Result<WriteFn, Errno>,
    /// The content as of the last read from offset 0.
    snapshot: spin::Mutex<Option<Arc<Vec<u8>>>>,
    /// Its ioctls (None: ENOTTY).
    ioctl: Option<IoctlFn>,
}

impl PseudoFile {
    /// A computed file; `write` takes what is written, or is the errno writes get.
    pub fn new_ref(
        common: Common,
        magic: i64,
        read: ReadFn,
        write: Result<WriteFn, Errno>,
    ) -> InodeRef {
        Self::make(common, magic, read, write, None)
    }

    fn make(
        common: Common,
        magic: i64,
        read: ReadFn,
        write: Result<WriteFn, Errno>,
        ioctl: Option<IoctlFn>,
    ) -> InodeRef {
        Arc::new(Self {
            common,
            magic,
            read,
            write,
            snapshot: spin::Mutex::new(None),
            ioctl,
        })
    }

    /// A computed read-only-or-writable file that also answers ioctls.
    pub fn with_ioctl(
        common: Common,
        magic: i64,
        read: ReadFn,
        write: Result<WriteFn, Errno>,
        ioctl: IoctlFn,
    ) -> InodeRef {
        Self::make(common, magic, read, write, Some(ioctl))
    }
}

impl Inode for PseudoFile {
    fn metadata(&self) -> Metadata {
        self.common.metadata(S_IFREG, 1)
    }
    fn statfs(&self) -> Statfs {
        pseudo_statfs(self.common.dev, self.magic)
    }
    fn set_mode(&self, _: u32) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_owner(&self, _: Option<u32>, _: Option<u32>) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_times(&self, _: Option<Timespec>, _: Option<Timespec>) -> KResult<()> {
        Ok(())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> KResult<usize> {
        let content = {
            let mut snap = self.snapshot.lock();
            match (&*snap, offset) {
                (Some(s), o) if o > 0 => s.clone(),
                _ => {
                    let fresh = Arc::new((self.read)()?);
                    *snap = Some(fresh.clone());
                    fresh
                }
            }
        };
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= content.len() {
            return Ok(0);
        }
        let n = buf.len().min(content.len() - start);
        buf[..n].copy_from_slice(&content[start..start + n]);
        Ok(n)
    }
    fn write_at(&self, _offset: u64, data: &[u8]) -> KResult<usize> {
        match &self.write {
            Ok(w) => {
                w(data)?;
                Ok(data.len())
            }
            Err(e) => Err(*e),
        }
    }
    fn truncate(&self, _size: u64) -> KResult<()> {
        // O_TRUNC on a writable proc file is accepted and means nothing.
        if self.write.is_ok() {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }
    fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn crate::UserSpace) -> KResult<u64> {
        match &self.ioctl {
            Some(f) => f(cmd, arg, mem),
            None => Err(Errno::ENOTTY),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A symlink whose target is computed; optionally a magic link.
pub struct PseudoLink {
    pub common: Common,
    pub magic: i64,
    target: TargetFn,
    follow: Option<MagicFn>,
}

impl PseudoLink {
    /// A link reading as `target()`; with `follow`, walking through it leads to
    /// `follow()`'s dentry instead of to the path the text names.
    pub fn new_ref(
        common: Common,
        magic: i64,
        target: TargetFn,
        follow: Option<MagicFn>,
    ) -> InodeRef {
        Arc::new(Self {
            common,
            magic,
            target,
            follow,
        })
    }
}

impl Inode for PseudoLink {
    fn metadata(&self) -> Metadata {
        self.common.metadata(S_IFLNK, 1)
    }
    fn statfs(&self) -> Statfs {
        pseudo_statfs(self.common.dev, self.magic)
    }
    fn set_mode(&self, _: u32) -> KResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
    fn set_owner(&self, _: Option<u32>, _: Option<u32>) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_times(&self, _: Option<Timespec>, _: Option<Timespec>) -> KResult<()> {
        Ok(())
    }
    fn readlink(&self) -> KResult<Vec<u8>> {
        (self.target)()
    }
    fn magic_link(&self) -> Option<KResult<DentryRef>> {
        self.follow.as_ref().map(|f| f())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A directory whose entries are computed.
pub struct PseudoDir {
    pub common: Common,
    pub magic: i64,
    list: ListFn,
    lookup: LookupFn,
    /// The parent's inode number, for "..".
    parent_ino: u64,
}

impl PseudoDir {
    /// A directory listing `list()` and resolving names with `lookup`.
    pub fn new_ref(
        common: Common,
        magic: i64,
        parent_ino: u64,
        list: ListFn,
        lookup: LookupFn,
    ) -> InodeRef {
        Arc::new(Self {
            common,
            magic,
            list,
            lookup,
            parent_ino,
        })
    }
}

impl Inode for PseudoDir {
    fn metadata(&self) -> Metadata {
        self.common.metadata(S_IFDIR, 2)
    }
    fn statfs(&self) -> Statfs {
        pseudo_statfs(self.common.dev, self.magic)
    }
    fn set_mode(&self, _: u32) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_owner(&self, _: Option<u32>, _: Option<u32>) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_times(&self, _: Option<Timespec>, _: Option<Timespec>) -> KResult<()> {
        Ok(())
    }
    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        (self.lookup)(name)
    }
    // As procfs: nothing can be created (the name is not there: ENOENT) or removed.
    fn create(&self, _: &[u8], _: NodeKind, _: u32, _: u32, _: u32) -> KResult<InodeRef> {
        Err(Errno::ENOENT)
    }
    fn link(&self, _: &[u8], _: &InodeRef) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn unlink(&self, _: &[u8]) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn rmdir(&self, _: &[u8]) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn rename(&self, _: &[u8], _: &InodeRef, _: &[u8], _: u32) -> KResult<()> {
        Err(Errno::EACCES)
    }
    fn readdir(&self, pos: u64, emit: &mut dyn FnMut(DirEntry) -> bool) -> KResult<()> {
        // Positions: 0 ".", 1 "..", 2 + i the i-th computed entry. Entries that come
        // and go between calls (processes) may shift, as in procfs.
        let mut all = Vec::new();
        all.push((b".".to_vec(), self.common.ino, DT_DIR));
        all.push((b"..".to_vec(), self.parent_ino, DT_DIR));
        all.extend((self.list)());
        emit_listing(all, pos, emit);
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Hands `emit` the entries of a listing made whole for one readdir, from
/// position `pos` on: entry i is at position i, and the next position after
/// it is i + 1 (what a directory whose entries are computed on each call
/// gives getdents). Stops where `emit` has no more room.
pub fn emit_listing(
    all: Vec<(Vec<u8>, u64, u8)>,
    pos: u64,
    emit: &mut dyn FnMut(DirEntry) -> bool,
) {
    for (i, (name, ino, dtype)) in all.into_iter().enumerate().skip(pos as usize) {
        if !emit(DirEntry {
            ino,
            dtype,
            name,
            next: i as u64 + 1,
        }) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU32, Ordering};

    fn common(ino: u64) -> Common {
        Common {
            dev: 9,
            ino,
            perm: 0o444,
            owner: None,
        }
    }

    #[test]
    fn a_file_is_computed_at_offset_zero_and_read_on_from_the_snapshot() {
        let n = Arc::new(AtomicU32::new(0));
        let m = n.clone();
        let f = PseudoFile::new_ref(
            common(5),
            1,
            Box::new(move || {
                Ok(alloc::format!("count {}\n", m.fetch_add(1, Ordering::Relaxed)).into_bytes())
            }),
            Err(Errno::EIO),
        );
        let mut buf = [0u8; 3];
        assert_eq!(f.read_at(0, &mut buf).unwrap(), 3);
        assert_eq!(&buf, b"cou");
        let mut rest = [0u8; 16];
        let k = f.read_at(3, &mut rest).unwrap();
        assert_eq!(&rest[..k], b"nt 0\n", "the rest of the same snapshot");
        assert_eq!(f.read_at(8, &mut rest).unwrap(), 0);
        let k = f.read_at(0, &mut rest).unwrap();
        assert_eq!(&rest[..k], b"count 1\n", "a new read from 0 recomputes");
        assert_eq!(f.metadata().size, 0);
        assert_eq!(f.write_at(0, b"x"), Err(Errno::EIO));
    }

    #[test]
    fn a_directory_lists_dot_dotdot_and_its_entries() {
        let d = PseudoDir::new_ref(
            common(1),
            1,
            1,
            Box::new(|| alloc::vec![(b"a".to_vec(), 7, DT_REG), (b"b".to_vec(), 8, DT_LNK)]),
            Box::new(|_| Err(Errno::ENOENT)),
        );
        let mut names = Vec::new();
        d.readdir(1, &mut |e| {
            names.push(e.name);
            true
        })
        .unwrap();
        assert_eq!(names, [b"..".to_vec(), b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(d.lookup(b"zz").err(), Some(Errno::ENOENT));
        assert_eq!(
            d.create(b"x", NodeKind::File, 0o644, 0, 0).err(),
            Some(Errno::ENOENT)
        );
    }
}
