//! The initramfs format: cpio "newc" (the `070701` ASCII format of
//! Documentation/driver-api/early-userspace/buffer-format.rst), and unpacking it
//! into a directory.
//!
//! Each entry is a 110-byte header of thirteen 8-digit hex fields, the NUL-terminated
//! name, padding to 4 bytes, the data, padding to 4 bytes. `TRAILER!!!` ends the
//! archive. Hard links share an inode number; their data comes with the last one.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};

use crate::inode::{InodeRef, NodeKind};

/// One archive entry.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub name: &'a [u8],
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub rdev: u64,
    pub data: &'a [u8],
}

const HEADER: usize = 110;

fn hex(field: &[u8]) -> KResult<u32> {
    let s = core::str::from_utf8(field).map_err(|_| Errno::EINVAL)?;
    u32::from_str_radix(s, 16).map_err(|_| Errno::EINVAL)
}

/// Iterates over the entries of a newc archive (EINVAL for a malformed one).
pub fn entries(archive: &[u8]) -> impl Iterator<Item = KResult<Entry<'_>>> {
    let mut at = 0usize;
    let mut done = false;
    core::iter::from_fn(move || {
        if done {
            return None;
        }
        let r = (|| {
            let h = archive.get(at..at + HEADER).ok_or(Errno::EINVAL)?;
            if &h[..6] != b"070701" && &h[..6] != b"070702" {
                return Err(Errno::EINVAL);
            }
            let f = |i: usize| hex(&h[6 + i * 8..14 + i * 8]);
            let (ino, mode, uid, gid, nlink, mtime, size) =
                (f(0)?, f(1)?, f(2)?, f(3)?, f(4)?, f(5)?, f(6)? as usize);
            let (rmaj, rmin, namesize) = (f(9)?, f(10)?, f(11)? as usize);
            let name_at = at + HEADER;
            let name = archive
                .get(name_at..name_at + namesize)
                .ok_or(Errno::EINVAL)?;
            let name = name.strip_suffix(b"\0").ok_or(Errno::EINVAL)?;
            let data_at = (name_at + namesize).next_multiple_of(4);
            let data = archive.get(data_at..data_at + size).ok_or(Errno::EINVAL)?;
            at = (data_at + size).next_multiple_of(4);
            Ok(Entry {
                name,
                ino,
                mode,
                uid,
                gid,
                nlink,
                mtime,
                rdev: makedev(rmaj, rmin),
                data,
            })
        })();
        match r {
            Ok(e) if e.name == b"TRAILER!!!" => {
                done = true;
                None
            }
            Ok(e) => Some(Ok(e)),
            Err(e) => {
                done = true;
                Some(Err(e))
            }
        }
    })
}

/// What [`unpack`] made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    pub others: usize,
    pub bytes: u64,
}

/// Creates (or reuses) `dir/name` as a directory.
fn ensure_dir(dir: &InodeRef, name: &[u8], mode: u32, uid: u32, gid: u32) -> KResult<InodeRef> {
    match dir.lookup(name) {
        Ok(d) if d.metadata().is_dir() => Ok(d),
        Ok(_) => Err(Errno::ENOTDIR),
        Err(Errno::ENOENT) => dir.create(name, NodeKind::Dir, mode, uid, gid),
        Err(e) => Err(e),
    }
}

/// Unpacks a newc archive under `root`, creating missing parent directories.
/// Existing directories are kept (their mode and owner updated); other existing
/// entries are replaced, as the kernel's initramfs unpacker does.
pub fn unpack(archive: &[u8], root: &InodeRef) -> KResult<Unpacked> {
    unpack_with(archive, root, |inode, data| {
        inode.write_at(0, data).map(drop)
    })
}

/// Files at least this big are adopted by [`unpack_adopting`], not copied.
pub const ADOPT_MIN: usize = 64 * 1024;

/// As [`unpack`], but a regular file of at least [`ADOPT_MIN`] bytes whose file
/// system can ([`crate::inode::Inode::adopt_static`]) reads its content from
/// the archive itself, copied only when first written or mapped. Also returns
/// where in `archive` the adopted files' data is, in archive order: that memory
/// must stay until each file gives it back (`crate::set_static_release`).
pub fn unpack_adopting(
    archive: &'static [u8],
    root: &InodeRef,
) -> KResult<(Unpacked, Vec<core::ops::Range<usize>>)> {
    let mut adopted = Vec::new();
    let base = archive.as_ptr() as usize;
    let stats = unpack_with(archive, root, |inode, data| {
        if data.len() >= ADOPT_MIN && inode.adopt_static(data)? {
            let at = data.as_ptr() as usize - base;
            adopted.push(at..at + data.len());
            return Ok(());
        }
        inode.write_at(0, data).map(drop)
    })?;
    Ok((stats, adopted))
}

/// [`unpack`], with `put(inode, data)` giving a new regular file its content
/// (whole, or an error).
fn unpack_with<'a>(
    archive: &'a [u8],
    root: &InodeRef,
    mut put: impl FnMut(&InodeRef, &'a [u8]) -> KResult<()>,
) -> KResult<Unpacked> {
    let mut stats = Unpacked::default();
    let mut links: BTreeMap<u32, InodeRef> = BTreeMap::new();
    for e in entries(archive) {
        let e = e?;
        let path = e.name.strip_prefix(b"./").unwrap_or(e.name);
        let path = path.strip_prefix(b"/").unwrap_or(path);
        if path.is_empty() || path == b"." {
            continue;
        }
        let mut parts: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .collect();
        let Some(last) = parts.pop() else { continue };
        let mut dir = root.clone();
        for p in parts {
            dir = ensure_dir(&dir, p, 0o755, 0, 0)?;
        }
        let perm = e.mode & S_IALLUGO;
        let kind = match e.mode & S_IFMT {
            S_IFDIR => {
                let d = ensure_dir(&dir, last, perm, e.uid, e.gid)?;
                d.set_mode(perm)?;
                d.set_owner(Some(e.uid), Some(e.gid))?;
                stats.dirs += 1;
                continue;
            }
            S_IFREG => NodeKind::File,
            S_IFLNK => NodeKind::Symlink(e.data.to_vec()),
            S_IFCHR => NodeKind::CharDev(e.rdev),
            S_IFBLK => NodeKind::BlockDev(e.rdev),
            S_IFIFO => NodeKind::Fifo,
            S_IFSOCK => NodeKind::Socket,
            _ => return Err(Errno::EINVAL),
        };
        match dir.lookup(last) {
            Ok(old) if old.metadata().is_dir() => return Err(Errno::EISDIR),
            Ok(_) => dir.unlink(last)?,
            Err(_) => {}
        }
        let is_file = kind == NodeKind::File;
        let is_link = matches!(kind, NodeKind::Symlink(_));
        let inode = match links.get(&e.ino).filter(|_| is_file && e.nlink > 1) {
            Some(existing) => {
                dir.link(last, existing)?;
                existing.clone()
            }
            None => {
                let i = dir.create(last, kind, perm, e.uid, e.gid)?;
                if is_file && e.nlink > 1 {
                    links.insert(e.ino, i.clone());
                }
                i
            }
        };
        if is_file && !e.data.is_empty() {
            put(&inode, e.data)?;
            if inode.metadata().size != e.data.len() as u64 {
                return Err(Errno::ENOSPC);
            }
            stats.bytes += e.data.len() as u64;
        }
        let t = kestrel_abi::time::Timespec {
            tv_sec: i64::from(e.mtime),
            tv_nsec: 0,
        };
        if !is_link {
            inode.set_times(Some(t), Some(t))?;
        }
        match (is_file, is_link) {
            (true, _) => stats.files += 1,
            (_, true) => stats.symlinks += 1,
            _ => stats.others += 1,
        }
    }
    Ok(stats)
}

/// Builds a newc archive (for tests, and the format's definition in executable form).
pub fn build(entries: &[(&[u8], u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |name: &[u8], mode: u32, data: &[u8], ino: u32| {
        let fields = [
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(alloc::format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name);
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for (i, (name, mode, data)) in entries.iter().enumerate() {
        push(name, *mode, data, i as u32 + 1);
    }
    push(b"TRAILER!!!", 0, b"", 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ramfs::RamFs;

    #[test]
    fn big_files_are_adopted_and_copied_when_changed_or_mapped() {
        let big: Vec<u8> = (0..ADOPT_MIN as u32 + 5000).map(|i| i as u8).collect();
        let a = build(&[
            (b"small", S_IFREG | 0o644, b"tiny"),
            (b"big", S_IFREG | 0o644, &big),
            (b"big2", S_IFREG | 0o644, &big),
        ]);
        let a: &'static [u8] = Vec::leak(a);
        let root = RamFs::new_root(1);
        let (s, adopted) = unpack_adopting(a, &root).unwrap();
        assert_eq!(s.files, 3);
        assert_eq!(adopted.len(), 2);
        assert_eq!(&a[adopted[0].clone()], &big[..]);
        let f = root.lookup(b"big").unwrap();
        assert_eq!(f.metadata().size, big.len() as u64);
        assert_eq!(f.metadata().blocks, big.len().div_ceil(4096) as u64 * 8);
        let mut buf = alloc::vec![0; 100];
        assert_eq!(f.read_at(70_000, &mut buf).unwrap(), 100);
        assert_eq!(buf, big[70_000..70_100]);
        // A write copies the content first: the rest reads as before.
        f.write_at(10, b"XY").unwrap();
        let mut all = alloc::vec![0; big.len() + 10];
        assert_eq!(f.read_at(0, &mut all).unwrap(), big.len());
        assert_eq!(&all[..10], &big[..10]);
        assert_eq!(&all[10..12], b"XY");
        assert_eq!(&all[12..big.len()], &big[12..]);
        // So does a mapping's page.
        let g = root.lookup(b"big2").unwrap();
        let p = g.shared_page(1).unwrap();
        p.with(|p| assert_eq!(p[..], big[4096..8192]));
        assert_eq!(f.read_at(0, &mut buf[..4]).unwrap(), 4);
        let small = root.lookup(b"small").unwrap();
        assert_eq!(small.read_at(0, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"tiny");
    }

    #[test]
    fn unpacks_files_dirs_and_symlinks_creating_parents() {
        let a = build(&[
            (b"bin", S_IFDIR | 0o755, b""),
            (b"bin/busybox", S_IFREG | 0o755, b"\x7fELF..."),
            (b"bin/sh", S_IFLNK | 0o777, b"busybox"),
            (b"deep/er/file", S_IFREG | 0o644, b"x"),
        ]);
        let root = RamFs::new_root(1);
        let s = unpack(&a, &root).unwrap();
        assert_eq!((s.files, s.dirs, s.symlinks), (2, 1, 1));
        let bin = root.lookup(b"bin").unwrap();
        let bb = bin.lookup(b"busybox").unwrap();
        assert_eq!(bb.metadata().mode, S_IFREG | 0o755);
        assert_eq!(bb.metadata().size, 7);
        assert_eq!(bin.lookup(b"sh").unwrap().readlink().unwrap(), b"busybox");
        assert!(
            root.lookup(b"deep")
                .unwrap()
                .lookup(b"er")
                .unwrap()
                .lookup(b"file")
                .is_ok()
        );
    }

    #[test]
    fn truncated_or_foreign_archives_are_einval() {
        let a = build(&[(b"f", S_IFREG | 0o644, b"data")]);
        let root = RamFs::new_root(1);
        assert_eq!(unpack(&a[..50], &root).err(), Some(Errno::EINVAL));
        assert_eq!(unpack(b"not an archive at all, not at all, not at all, not at all, not at all, not at all, not at all, not at all", &root).err(), Some(Errno::EINVAL));
    }

    #[test]
    fn an_empty_archive_unpacks_nothing() {
        let root = RamFs::new_root(1);
        assert_eq!(unpack(&build(&[]), &root).unwrap(), Unpacked::default());
    }
}
