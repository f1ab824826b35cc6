//! Writing through the crate, then checking with `e2fsck -fn` and `debugfs`.

mod common;
use common::*;

use kestrel_abi::Errno;
use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_vfs::NodeKind;
use kestrel_vfs::inode::XattrSet;

#[test]
fn files_crossing_every_indirect_level_write_and_read_back() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("levels");
        let img = t.path("img");
        mkfs(&img, cfg, 8192, &[]);
        let bs = cfg.bs as usize;
        let p = bs / 4;
        let sizes = [0, 1, 12 * bs, (12 + p) * bs + 1, 1_000_003];
        let m = mount(&img);
        let free0 = m.free_blocks();
        let mut made = Vec::new();
        for (i, &s) in sizes.iter().enumerate() {
            let data = pattern(s, 100 + i as u32);
            let ino = m.create_file(2, &format!("f{i}"), &data);
            assert_eq!(m.read_all(ino), data);
            made.push((format!("f{i}"), data));
        }
        // A sparse file reaching the triple-indirect level with one byte.
        let tind = ((12 + p + p * p) * bs) as u64;
        let sp = m.create_file(2, "sparse", b"");
        assert_eq!(block_on(m.fs.write(sp, tind, b"Z")).unwrap(), 1);
        assert_eq!(block_on(m.fs.write(sp, 7, b"head")).unwrap(), 4);
        let md = block_on(m.fs.metadata(sp)).unwrap();
        assert_eq!(md.size, tind + 1);
        // Two data blocks, plus the single, double and triple indirect blocks on
        // the way to the last one.
        assert_eq!(md.blocks, 5 * (bs as u64 / 512));
        let mut buf = [9u8; 16];
        assert_eq!(block_on(m.fs.read(sp, tind - 8, &mut buf)).unwrap(), 9);
        assert_eq!(&buf[..9], b"\0\0\0\0\0\0\0\0Z");
        // Overwrite in the middle, across a block boundary.
        let f3 = m.walk("/f3").unwrap();
        let patch = pattern(3 * bs, 7);
        block_on(m.fs.write(f3, (bs / 2) as u64, &patch)).unwrap();
        made[3].1[bs / 2..bs / 2 + 3 * bs].copy_from_slice(&patch);
        assert_eq!(m.read_all(f3), made[3].1);
        m.unmount(&img);
        fsck(&img);
        for (name, data) in &made {
            assert_eq!(
                &debugfs_cat(&img, &format!("/{name}")),
                data,
                "{cfg:?} {name}"
            );
        }
        // Everything freed again gives every block back.
        let m = mount(&img);
        for (name, _) in &made {
            block_on(m.fs.unlink(2, name.as_bytes())).unwrap();
        }
        block_on(m.fs.unlink(2, b"sparse")).unwrap();
        assert_eq!(m.free_blocks(), free0);
        m.unmount(&img);
        fsck(&img);
    }
}

#[test]
fn a_directory_grows_past_one_block_and_shrinks() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("dirs");
        let img = t.path("img");
        mkfs(&img, cfg, 8192, &[]);
        let m = mount(&img);
        let d = m.mkdir(2, "many");
        let n = if cfg.bs == 1024 { 300 } else { 700 };
        for i in 0..n {
            m.create_file(
                d,
                &format!("a-fairly-long-file-name-number-{i:05}"),
                &[i as u8],
            );
        }
        let md = block_on(m.fs.metadata(d)).unwrap();
        assert!(md.size > u64::from(cfg.bs) * 4, "{md:?}");
        assert_eq!(m.names(d).len(), n);
        for i in (0..n).step_by(2) {
            block_on(m.fs.unlink(
                d,
                format!("a-fairly-long-file-name-number-{i:05}").as_bytes(),
            ))
            .unwrap();
        }
        assert_eq!(m.names(d).len(), n / 2);
        // Freed slots are used again; names of every length fit.
        for len in [1, 2, 3, 4, 5, 13, 100, 255] {
            m.create_file(d, &"n".repeat(len), b"");
        }
        assert_eq!(m.names(d).len(), n / 2 + 8);
        m.unmount(&img);
        fsck(&img);
        let ls = String::from_utf8(debugfs(&img, "ls -l /many")).unwrap();
        assert!(ls.contains("a-fairly-long-file-name-number-00001"));
        assert!(!ls.contains("a-fairly-long-file-name-number-00002"));
        assert!(ls.contains(&"n".repeat(255)));
    }
}

#[test]
fn readdir_resumes_where_it_stopped_while_entries_go() {
    if !have_tools() {
        return;
    }
    let t = Tmp::new("resume");
    let img = t.path("img");
    mkfs(&img, CONFIGS[0], 4096, &[]);
    let m = mount(&img);
    for i in 0..100 {
        m.create_file(2, &format!("file{i:03}"), b"");
    }
    // Read five entries, delete everything seen so far and some not yet seen,
    // continue: nothing repeats, nothing left is missed.
    let mut seen = Vec::new();
    let mut pos = 0;
    block_on(m.fs.readdir(2, 0, &mut |e| {
        seen.push(String::from_utf8(e.name).unwrap());
        pos = e.next;
        seen.len() < 5
    }))
    .unwrap();
    for n in seen.iter().filter(|n| n.starts_with("file")) {
        block_on(m.fs.unlink(2, n.as_bytes())).unwrap();
    }
    for i in 50..60 {
        block_on(m.fs.unlink(2, format!("file{i:03}").as_bytes())).unwrap();
    }
    let mut rest = Vec::new();
    block_on(m.fs.readdir(2, pos, &mut |e| {
        rest.push(String::from_utf8(e.name).unwrap());
        true
    }))
    .unwrap();
    for n in &rest {
        assert!(!seen.contains(n), "{n} repeated");
    }
    let mut all: Vec<_> = seen
        .iter()
        .chain(&rest)
        .filter(|n| n.starts_with("file"))
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 90);
    m.unmount(&img);
    fsck(&img);
}

#[test]
fn a_removed_directory_still_held_takes_no_new_names() {
    if !have_tools() {
        return;
    }
    let t = Tmp::new("deaddir");
    let img = t.path("img");
    mkfs(&img, CONFIGS[0], 4096, &[]);
    let m = mount(&img);
    let gone = m.mkdir(2, "gone");
    let sub = m.mkdir(2, "sub");
    m.create_file(2, "f", b"x");
    // Held, as a cwd or an open directory holds it: rmdir leaves it an orphan.
    m.fs.hold(gone);
    block_on(m.fs.rmdir(2, b"gone")).unwrap();
    assert_eq!(
        block_on(m.fs.rename(2, b"sub", gone, b"sub", 0)),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        block_on(m.fs.rename(2, b"f", gone, b"f", 0)),
        Err(Errno::ENOENT)
    );
    assert_eq!(block_on(m.fs.lookup(2, b"sub")).unwrap(), sub);
    m.fs.release(gone);
    m.unmount(&img);
    fsck(&img);
}

#[test]
fn renames_of_files_and_directories() {
    if !have_tools() {
        return;
    }
    for cfg in [CONFIGS[0], CONFIGS[3]] {
        let t = Tmp::new("rename");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &[]);
        let m = mount(&img);
        let a = m.mkdir(2, "a");
        let b = m.mkdir(2, "b");
        let f = m.create_file(a, "f", b"content");
        // Within a directory, then across.
        block_on(m.fs.rename(a, b"f", a, b"g", 0)).unwrap();
        block_on(m.fs.rename(a, b"g", b, b"h", 0)).unwrap();
        assert_eq!(m.walk("/b/h").unwrap(), f);
        assert_eq!(m.walk("/a/g"), Err(Errno::ENOENT));
        // A directory moves: "..", and both parents' link counts follow.
        let sub = m.mkdir(a, "sub");
        m.create_file(sub, "inner", b"x");
        let nl = |i| block_on(m.fs.metadata(i)).unwrap().nlink;
        assert_eq!((nl(a), nl(b)), (3, 2));
        block_on(m.fs.rename(a, b"sub", b, b"moved", 0)).unwrap();
        assert_eq!((nl(a), nl(b)), (2, 3));
        assert_eq!(block_on(m.fs.lookup(sub, b"..")).unwrap(), b);
        // Into itself: EINVAL.
        assert_eq!(
            block_on(m.fs.rename(b, b"moved", sub, b"x", 0)),
            Err(Errno::EINVAL)
        );
        // Replacing a file frees the old one; replacing an empty directory too.
        let victim = m.create_file(b, "victim", &pattern(20_000, 1));
        let free_before = m.free_blocks();
        block_on(m.fs.rename(b, b"h", b, b"victim", 0)).unwrap();
        assert_eq!(m.walk("/b/victim").unwrap(), f);
        assert!(m.free_blocks() > free_before);
        let _ = victim;
        m.mkdir(a, "empty");
        block_on(m.fs.rename(b, b"moved", a, b"empty", 0)).unwrap();
        assert_eq!((nl(a), nl(b)), (3, 2));
        assert!(m.walk("/a/empty/inner").is_ok());
        // Refusals.
        m.create_file(a, "file", b"");
        assert_eq!(
            block_on(m.fs.rename(a, b"empty", a, b"file", 0)),
            Err(Errno::ENOTDIR)
        );
        assert_eq!(
            block_on(m.fs.rename(a, b"file", a, b"empty", 0)),
            Err(Errno::EISDIR)
        );
        m.mkdir(a, "other");
        assert_eq!(
            block_on(m.fs.rename(a, b"other", a, b"empty", 0)),
            Err(Errno::ENOTEMPTY)
        );
        assert_eq!(
            block_on(m.fs.rename(a, b"file", a, b"other", RENAME_NOREPLACE)),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            block_on(m.fs.rename(a, b"nothing", a, b"x", 0)),
            Err(Errno::ENOENT)
        );
        // Exchange a file and a directory across parents.
        block_on(m.fs.rename(a, b"empty", b, b"victim", RENAME_EXCHANGE)).unwrap();
        assert_eq!(m.walk("/a/empty").unwrap(), f);
        assert!(m.walk("/b/victim/inner").is_ok());
        assert_eq!((nl(a), nl(b)), (3, 3));
        let moved = m.walk("/b/victim").unwrap();
        assert_eq!(block_on(m.fs.lookup(moved, b"..")).unwrap(), b);
        // Two names of one file: nothing happens.
        block_on(m.fs.link(a, b"alias", f)).unwrap();
        block_on(m.fs.rename(a, b"alias", a, b"empty", 0)).unwrap();
        assert_eq!(nl(f), 2);
        m.unmount(&img);
        fsck(&img);
        assert_eq!(debugfs_cat(&img, "/a/empty"), b"content");
        assert_eq!(debugfs_cat(&img, "/b/victim/inner"), b"x");
    }
}

#[test]
fn hard_links_symlinks_and_special_files() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("kinds");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &[]);
        let m = mount(&img);
        let f = m.create_file(2, "f", b"shared");
        block_on(m.fs.link(2, b"g", f)).unwrap();
        let d = m.mkdir(2, "d");
        block_on(m.fs.link(d, b"h", f)).unwrap();
        assert_eq!(block_on(m.fs.metadata(f)).unwrap().nlink, 3);
        block_on(m.fs.unlink(2, b"f")).unwrap();
        assert_eq!(m.read_all(m.walk("/d/h").unwrap()), b"shared");
        assert_eq!(block_on(m.fs.link(2, b"dd", d)), Err(Errno::EPERM));
        let mk = |name: &str, kind: NodeKind| {
            let i = block_on(m.fs.create(2, name.as_bytes(), kind, 0o640, 1000, 1000)).unwrap();
            m.fs.release(i);
            i
        };
        let short = mk("short", NodeKind::Symlink(b"d/h".to_vec()));
        let target59 = "t".repeat(59);
        let fast59 = mk("fast59", NodeKind::Symlink(target59.clone().into_bytes()));
        let target60 = "s".repeat(60);
        let slow60 = mk("slow60", NodeKind::Symlink(target60.clone().into_bytes()));
        let longest = "l".repeat(cfg.bs as usize - 1);
        let slow = mk("slow", NodeKind::Symlink(longest.clone().into_bytes()));
        let chr = mk("chr", NodeKind::CharDev(makedev(1, 3)));
        let blk = mk("blk", NodeKind::BlockDev(makedev(259, 70000)));
        let fifo = mk("fifo", NodeKind::Fifo);
        let sock = mk("sock", NodeKind::Socket);
        assert_eq!(block_on(m.fs.readlink(short)).unwrap(), b"d/h");
        assert_eq!(
            block_on(m.fs.readlink(fast59)).unwrap(),
            target59.as_bytes()
        );
        assert_eq!(
            block_on(m.fs.readlink(slow60)).unwrap(),
            target60.as_bytes()
        );
        assert_eq!(block_on(m.fs.readlink(slow)).unwrap(), longest.as_bytes());
        assert_eq!(block_on(m.fs.metadata(fast59)).unwrap().blocks, 0);
        assert!(block_on(m.fs.metadata(slow60)).unwrap().blocks > 0);
        assert_eq!(block_on(m.fs.readlink(f)), Err(Errno::EINVAL));
        assert_eq!(
            block_on(m.fs.create(
                2,
                b"toolong",
                NodeKind::Symlink(vec![b'x'; cfg.bs as usize]),
                0o777,
                0,
                0
            )),
            Err(Errno::ENAMETOOLONG)
        );
        let md = |i| block_on(m.fs.metadata(i)).unwrap();
        assert_eq!(
            (md(chr).mode, md(chr).rdev),
            (S_IFCHR | 0o640, makedev(1, 3))
        );
        assert_eq!(
            (md(blk).mode, md(blk).rdev),
            (S_IFBLK | 0o640, makedev(259, 70000))
        );
        assert_eq!(md(fifo).mode, S_IFIFO | 0o640);
        assert_eq!(md(sock).mode, S_IFSOCK | 0o640);
        assert_eq!((md(sock).uid, md(sock).gid), (1000, 1000));
        assert_eq!(
            block_on(m.fs.read(fifo, 0, &mut [0; 4])),
            Err(Errno::EINVAL)
        );
        assert_eq!(block_on(m.fs.write(d, 0, b"x")), Err(Errno::EISDIR));
        // Unlinking the symlinks and devices frees them cleanly too.
        block_on(m.fs.unlink(2, b"slow60")).unwrap();
        block_on(m.fs.unlink(2, b"chr")).unwrap();
        m.unmount(&img);
        fsck(&img);
        let stat = |p: &str| String::from_utf8(debugfs(&img, &format!("stat {p}"))).unwrap();
        assert!(stat("/fast59").contains(&format!("Fast link dest: \"{target59}\"")));
        assert!(
            stat("/blk").contains("Device major/minor number: 259:70000"),
            "{}",
            stat("/blk")
        );
        assert!(stat("/fifo").contains("Type: FIFO"));
        assert!(stat("/sock").contains("Type: socket"));
        assert_eq!(debugfs_cat(&img, "/g"), b"shared");
        assert!(stat("/g").contains("Links: 2"));
    }
}

#[test]
fn truncate_grows_with_zeros_and_shrinks_freeing_blocks() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("trunc");
        let img = t.path("img");
        mkfs(&img, cfg, 8192, &[]);
        let m = mount(&img);
        let bs = cfg.bs as u64;
        let p = bs / 4;
        let free0 = m.free_blocks();
        let size = (12 + p + 3) * bs + 100;
        let data = pattern(size as usize, 3);
        let f = m.create_file(2, "f", &data);
        // Cut back into the direct blocks, mid-block: the tail reads zero on regrowth.
        let cut = 5 * bs + 17;
        block_on(m.fs.truncate(f, cut)).unwrap();
        assert_eq!(block_on(m.fs.metadata(f)).unwrap().blocks, 6 * (bs / 512));
        block_on(m.fs.truncate(f, 8 * bs)).unwrap();
        let back = m.read_all(f);
        assert_eq!(&back[..cut as usize], &data[..cut as usize]);
        assert!(back[cut as usize..].iter().all(|&b| b == 0));
        assert_eq!(block_on(m.fs.metadata(f)).unwrap().blocks, 6 * (bs / 512));
        // Grow far (a hole), write at the end, shrink to zero.
        block_on(m.fs.truncate(f, 10 << 20)).unwrap();
        block_on(m.fs.write(f, (10 << 20) - 1, b"!")).unwrap();
        block_on(m.fs.truncate(f, 0)).unwrap();
        assert_eq!(block_on(m.fs.metadata(f)).unwrap().blocks, 0);
        assert_eq!(m.free_blocks(), free0);
        assert_eq!(block_on(m.fs.truncate(2, 0)), Err(Errno::EISDIR));
        // fallocate: allocate, keep size, punch.
        let g = m.create_file(2, "g", &pattern(4 * bs as usize, 4));
        block_on(m.fs.truncate(g, 8 * bs)).unwrap();
        block_on(m.fs.allocate(g, 5 * bs, bs, true, false)).unwrap();
        assert_eq!(block_on(m.fs.metadata(g)).unwrap().size, 8 * bs);
        assert_eq!(block_on(m.fs.metadata(g)).unwrap().blocks, 5 * (bs / 512));
        // Blocks past the end cannot be kept in ext2.
        assert_eq!(
            block_on(m.fs.allocate(g, 0, 9 * bs, true, false)),
            Err(Errno::EOPNOTSUPP)
        );
        block_on(m.fs.truncate(g, 4 * bs)).unwrap();
        block_on(m.fs.allocate(g, 0, 8 * bs, false, false)).unwrap();
        assert_eq!(block_on(m.fs.metadata(g)).unwrap().size, 8 * bs);
        assert_eq!(block_on(m.fs.metadata(g)).unwrap().blocks, 8 * (bs / 512));
        block_on(m.fs.allocate(g, 10, 2 * bs, false, true)).unwrap();
        let back = m.read_all(g);
        assert!(back[10..10 + 2 * bs as usize].iter().all(|&b| b == 0));
        assert_eq!(&back[..10], &pattern(4 * bs as usize, 4)[..10]);
        assert_eq!(block_on(m.fs.metadata(g)).unwrap().blocks, 7 * (bs / 512));
        m.unmount(&img);
        fsck(&img);
        assert_eq!(debugfs_cat(&img, "/f"), b"");
        assert_eq!(debugfs_cat(&img, "/g"), back);
    }
}

#[test]
fn owners_modes_and_timestamps() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("attrs");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &[]);
        let m = mount(&img);
        let f = m.create_file(2, "f", b"x");
        block_on(m.fs.set_owner(f, Some(100_000), Some(70_000))).unwrap();
        block_on(m.fs.set_mode(f, 0o2755 | S_IFDIR)).unwrap();
        let at = Timespec {
            tv_sec: 1_000_000_000,
            tv_nsec: 123_456_789,
        };
        // Past 2038: the epoch bits of 256-byte inodes carry it.
        let mt = Timespec {
            tv_sec: 5_000_000_000,
            tv_nsec: 5,
        };
        block_on(m.fs.set_times(f, Some(at), Some(mt))).unwrap();
        let md = block_on(m.fs.metadata(f)).unwrap();
        assert_eq!(
            (md.uid, md.gid, md.mode),
            (100_000, 70_000, S_IFREG | 0o2755)
        );
        if cfg.isz == 256 {
            assert_eq!((md.atime, md.mtime), (at, mt));
        } else {
            assert_eq!(
                md.atime,
                Timespec {
                    tv_sec: at.tv_sec,
                    tv_nsec: 0
                }
            );
            assert_eq!(md.mtime.tv_sec, mt.tv_sec as i32 as i64);
        }
        m.unmount(&img);
        fsck(&img);
        let stat = String::from_utf8(debugfs(&img, "stat /f")).unwrap();
        assert!(stat.contains("User: 100000   Group: 70000"), "{stat}");
        if cfg.isz == 256 {
            assert!(stat.contains("atime: 0x3b9aca00:1d6f3454"), "{stat}");
        }
    }
}

#[test]
fn inode_flags_persist_in_i_flags_and_new_files_inherit_them() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("iflags");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &[]);
        let m = mount(&img);
        let f = m.create_file(2, "f", b"x");
        let d = m.mkdir(2, "d");
        // Immutable and append-only; JOURNAL_DATA (0x4000) is not a bit
        // chattr may change on ext2: ignored, as by Linux's ext2.
        block_on(m.fs.set_flags(f, FS_IMMUTABLE_FL | FS_APPEND_FL | 0x4000)).unwrap();
        block_on(m.fs.set_flags(d, FS_NODUMP_FL | FS_NOATIME_FL | FS_DIRSYNC_FL)).unwrap();
        let g = m.create_file(d, "g", b"y");
        let sub = m.mkdir(d, "sub");
        let flags = |ino| block_on(m.fs.metadata(ino)).unwrap().flags;
        assert_eq!(flags(f), FS_IMMUTABLE_FL | FS_APPEND_FL);
        // A file takes NODUMP and NOATIME, a directory DIRSYNC as well.
        assert_eq!(flags(g), FS_NODUMP_FL | FS_NOATIME_FL);
        assert_eq!(flags(sub), FS_NODUMP_FL | FS_NOATIME_FL | FS_DIRSYNC_FL);
        m.unmount(&img);
        fsck(&img);
        let stat = String::from_utf8(debugfs(&img, "stat /f")).unwrap();
        assert!(stat.contains("Flags: 0x30"), "{stat}");
        let stat = String::from_utf8(debugfs(&img, "stat /d/g")).unwrap();
        assert!(stat.contains("Flags: 0xc0"), "{stat}");
        // chmod-style write-back (set_attrs) keeps them, and clearing works.
        let m = mount(&img);
        let f = m.walk("/f").unwrap();
        let mut md = block_on(m.fs.metadata(f)).unwrap();
        md.mode = S_IFREG | 0o600;
        block_on(m.fs.set_attrs(f, &md)).unwrap();
        assert_eq!(
            block_on(m.fs.metadata(f)).unwrap().flags,
            FS_IMMUTABLE_FL | FS_APPEND_FL
        );
        block_on(m.fs.set_flags(f, 0)).unwrap();
        m.unmount(&img);
        fsck(&img);
        let stat = String::from_utf8(debugfs(&img, "stat /f")).unwrap();
        assert!(stat.contains("Flags: 0x0"), "{stat}");
    }
}

#[test]
fn xattrs_set_list_remove_and_survive_fsck() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("xattr");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &["-O", "^ext_attr"]);
        let m = mount(&img);
        let f = m.create_file(2, "f", b"x");
        let x = |r| block_on(r);
        x(m.fs.xattr_set(f, b"user.a", b"1", XattrSet::Any)).unwrap();
        x(m.fs.xattr_set(f, b"user.bb", b"", XattrSet::Create)).unwrap();
        x(m.fs.xattr_set(
            f,
            b"security.selinux",
            b"system_u:object_r:x",
            XattrSet::Any,
        ))
        .unwrap();
        assert_eq!(
            x(m.fs.xattr_set(f, b"user.a", b"2", XattrSet::Create)),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            x(m.fs.xattr_set(f, b"user.z", b"2", XattrSet::Replace)),
            Err(Errno::ENODATA)
        );
        assert_eq!(
            x(m.fs.xattr_set(f, b"other.z", b"2", XattrSet::Any)),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(
            block_on(m.fs.xattr_set(f, b"user.huge", &vec![0; cfg.bs as usize], XattrSet::Any)),
            Err(Errno::ENOSPC)
        );
        assert_eq!(block_on(m.fs.xattr_get(f, b"user.bb")).unwrap(), b"");
        let g = m.create_file(2, "g", b"y");
        x(m.fs.xattr_set(g, b"user.gone", b"soon", XattrSet::Any)).unwrap();
        block_on(m.fs.xattr_remove(g, b"user.gone")).unwrap();
        assert_eq!(
            block_on(m.fs.xattr_remove(g, b"user.gone")),
            Err(Errno::ENODATA)
        );
        assert_eq!(
            block_on(m.fs.metadata(g)).unwrap().blocks,
            if cfg.bs == 1024 { 2 } else { 8 }
        );
        let h = m.create_file(2, "h", b"z");
        x(m.fs.xattr_set(h, b"user.h", b"v", XattrSet::Any)).unwrap();
        block_on(m.fs.unlink(2, b"h")).unwrap();
        m.unmount(&img);
        fsck(&img);
        let get = |n: &str| String::from_utf8(debugfs(&img, &format!("ea_get /f {n}"))).unwrap();
        assert!(get("user.a").contains('1'));
        assert!(get("security.selinux").contains("system_u:object_r:x"));
        assert!(
            String::from_utf8(debugfs(&img, "stats"))
                .unwrap()
                .contains("ext_attr")
        );
    }
}

#[test]
fn a_sequential_write_costs_about_one_disk_write_per_block() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("cost");
        let img = t.path("img");
        mkfs(&img, cfg, 16384, &[]);
        let m = mount(&img);
        let f = m.create_file(2, "f", b"");
        let blocks = 1000u64;
        let data = pattern((blocks * u64::from(cfg.bs)) as usize, 1);
        let before = m.disk.writes();
        assert_eq!(block_on(m.fs.write(f, 0, &data)).unwrap(), data.len());
        let cost = m.disk.writes() - before;
        // Data blocks, plus bitmaps, indirect blocks, the inode, the group
        // descriptors and the superblock once each.
        assert!(
            cost <= blocks + 12,
            "{cfg:?}: {cost} writes for {blocks} blocks"
        );
        m.unmount(&img);
        fsck(&img);
        assert_eq!(debugfs_cat(&img, "/f"), data);
    }
}

/// Creates of empty files and unlinks are batched: their inode table and
/// directory blocks are written once per batch, not once per operation.
#[test]
fn creates_and_unlinks_in_a_batch_cost_a_few_writes_in_all() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("batch");
        let img = t.path("img");
        mkfs(&img, cfg, 16384, &[]);
        let m = mount(&img);
        let d = m.mkdir(2, "d");
        block_on(m.fs.sync()).unwrap();
        let n = 1000u32;
        let before = m.disk.writes();
        for i in 0..n {
            let f = block_on(m.fs.create(
                d,
                format!("f{i:04}").as_bytes(),
                NodeKind::File,
                0o644,
                0,
                0,
            ))
            .unwrap();
            m.fs.release(f);
        }
        // The names are there before anything is written.
        assert!(block_on(m.fs.lookup(d, b"f0999")).is_ok_and(|f| {
            m.fs.release(f);
            true
        }));
        block_on(m.fs.sync()).unwrap();
        let created = m.disk.writes() - before;
        let before = m.disk.writes();
        for i in (0..n).filter(|i| i % 3 != 0) {
            block_on(m.fs.unlink(d, format!("f{i:04}").as_bytes())).unwrap();
        }
        block_on(m.fs.sync()).unwrap();
        let unlinked = m.disk.writes() - before;
        // Per file: one inode of an inode table block (8 to 32 a block) and one
        // entry of a directory block; the directory grows a block at a time
        // (each growth ends the batch: a few writes more). Written as they
        // changed, it was about four writes per create.
        let inodes_per_block = u64::from(cfg.bs / cfg.isz);
        let dir_blocks = u64::from(n) * 16 / u64::from(cfg.bs) + 1;
        let bound = u64::from(n) / inodes_per_block + dir_blocks * 6 + 20;
        assert!(
            created <= bound,
            "{cfg:?}: {created} writes for {n} creates"
        );
        assert!(
            unlinked <= bound,
            "{cfg:?}: {unlinked} writes for the unlinks"
        );
        m.unmount(&img);
        fsck(&img);
        let ls = String::from_utf8(debugfs(&img, "ls -l /d")).unwrap();
        assert!(ls.contains("f0999") && ls.contains("f0000") && !ls.contains("f0998"));
    }
}

/// Linux's own driver reads what the crate wrote (needs root and a loop device;
/// skipped otherwise).
#[test]
fn linux_reads_what_was_written() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("linux");
        let img = t.path("img");
        mkfs(&img, cfg, 16384, &[]);
        let m = mount(&img);
        let bs = cfg.bs as usize;
        let d = m.mkdir(2, "dir");
        let big = pattern((12 + bs / 4) * bs + 77, 5);
        let f = m.create_file(d, "big", &big);
        block_on(m.fs.set_owner(f, Some(70_000), Some(80_000))).unwrap();
        let when = Timespec {
            tv_sec: 1_700_000_000,
            tv_nsec: 987_654_321,
        };
        block_on(m.fs.set_times(f, Some(when), Some(when))).unwrap();
        block_on(m.fs.link(2, b"hard", f)).unwrap();
        let sp = m.create_file(2, "sparse", b"");
        block_on(m.fs.write(sp, 50 << 20, b"tail")).unwrap();
        for (name, kind) in [
            ("sym", NodeKind::Symlink(b"dir/big".to_vec())),
            ("longsym", NodeKind::Symlink(vec![b'q'; 300])),
            ("chr", NodeKind::CharDev(makedev(1, 7))),
            ("fifo", NodeKind::Fifo),
        ] {
            let i = block_on(m.fs.create(2, name.as_bytes(), kind, 0o600, 0, 0)).unwrap();
            m.fs.release(i);
        }
        block_on(m.fs.xattr_set(f, b"user.note", b"hi", XattrSet::Any)).unwrap();
        m.unmount(&img);
        fsck(&img);
        let mnt = t.path("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "ext2", "-o", "loop,ro"])
            .arg(&img)
            .arg(&mnt)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!("note: cannot loop-mount here: not read back by Linux");
            return;
        }
        let check = || {
            assert_eq!(std::fs::read(mnt.join("dir/big")).unwrap(), big);
            let md = std::fs::metadata(mnt.join("hard")).unwrap();
            assert_eq!((md.uid(), md.gid(), md.nlink()), (70_000, 80_000, 2));
            assert_eq!(md.mtime(), when.tv_sec);
            if cfg.isz == 256 {
                assert_eq!(md.mtime_nsec(), when.tv_nsec);
            }
            let sp = std::fs::read(mnt.join("sparse")).unwrap();
            assert_eq!(sp.len(), (50 << 20) + 4);
            assert_eq!(&sp[50 << 20..], b"tail");
            assert_eq!(
                std::fs::read_link(mnt.join("sym")).unwrap().to_str(),
                Some("dir/big")
            );
            assert_eq!(
                std::fs::read_link(mnt.join("longsym"))
                    .unwrap()
                    .as_os_str()
                    .len(),
                300
            );
            let c = std::fs::symlink_metadata(mnt.join("chr")).unwrap();
            assert!(c.file_type().is_char_device());
            assert_eq!(c.rdev(), libc_makedev(1, 7));
            assert!(
                std::fs::symlink_metadata(mnt.join("fifo"))
                    .unwrap()
                    .file_type()
                    .is_fifo()
            );
            let names: Vec<_> = std::fs::read_dir(&mnt)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(names.len(), 8, "{names:?}");
            let x = std::process::Command::new("getfattr")
                .args(["-n", "user.note", "--only-values"])
                .arg(mnt.join("dir/big"))
                .output();
            if let Ok(x) = x
                && x.status.success()
            {
                assert_eq!(x.stdout, b"hi");
            }
        };
        let r = std::panic::catch_unwind(check);
        let _ = std::process::Command::new("umount").arg(&mnt).status();
        if let Err(e) = r {
            std::panic::resume_unwind(e);
        }
    }
}

/// glibc's makedev (what st_rdev holds on the host).
fn libc_makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

#[test]
fn write_within_never_grows_the_file() {
    if !have_tools() {
        return;
    }
    let cfg = CONFIGS[0];
    let t = Tmp::new("within");
    let img = t.path("img");
    mkfs(&img, cfg, 2048, &[]);
    let m = mount(&img);
    let f = m.create_file(2, "f", &pattern(100, 7));
    // Cut at the size: 50 of the 100 bytes land, the file stays 100 long.
    assert_eq!(
        block_on(m.fs.write_within(f, 50, &[b'x'; 100])).unwrap(),
        50
    );
    let mut want = pattern(100, 7);
    want[50..].fill(b'x');
    assert_eq!(m.read_all(f), want);
    // At or past the end nothing is written.
    assert_eq!(block_on(m.fs.write_within(f, 100, b"y")).unwrap(), 0);
    assert_eq!(block_on(m.fs.write_within(f, 5000, b"y")).unwrap(), 0);
    assert_eq!(m.read_all(f), want);
    m.unmount(&img);
    fsck(&img);
}

#[test]
fn remount_read_only_and_back_to_read_write() {
    if !have_tools() {
        return;
    }
    let t = Tmp::new("remount");
    let img = t.path("img");
    mkfs(&img, CONFIGS[0], 4096, &[]);
    let m = mount(&img);
    m.create_file(2, "before", b"one");
    block_on(m.fs.remount(true)).unwrap();
    assert!(m.fs.read_only());
    assert_eq!(
        block_on(m.fs.create(2, b"refused", NodeKind::File, 0o644, 0, 0)),
        Err(Errno::EROFS)
    );
    // Read-only again: the image as it is now is clean for e2fsck.
    m.save(&img);
    fsck(&img);
    block_on(m.fs.remount(false)).unwrap();
    assert!(!m.fs.read_only());
    m.create_file(2, "after", b"two");
    m.unmount(&img);
    fsck(&img);
    let m = mount(&img);
    assert!(m.walk("/before").is_ok() && m.walk("/after").is_ok());
    assert_eq!(m.walk("/refused"), Err(Errno::ENOENT));
    m.unmount(&img);
}

#[test]
fn extents_are_runs_of_blocks_in_a_row_with_holes_left_out() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("extents");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &[]);
        let bs = cfg.bs as u64;
        let m = mount(&img);
        let f = m.create_file(2, "f", b"");
        let (none, n) = block_on(m.fs.extents(f, 0, u64::MAX, 8)).unwrap();
        assert!(none.is_empty() && n == 0, "an empty file has no extents");
        // Blocks 0, 2 and 4 written: three extents of one block, holes between.
        for b in [0, 2, 4] {
            let blk = pattern(bs as usize, b as u32);
            assert_eq!(block_on(m.fs.write(f, b * bs, &blk)).unwrap(), bs as usize);
        }
        let (all, n) = block_on(m.fs.extents(f, 0, u64::MAX, 8)).unwrap();
        assert_eq!(n, 3);
        let logical: Vec<u64> = all.iter().map(|e| e.logical).collect();
        assert_eq!(logical, [0, 2 * bs, 4 * bs]);
        assert!(
            all.iter()
                .all(|e| e.length == bs && e.physical % bs == 0 && e.physical > 0)
        );
        // Kept fewer than found; counted only; a range inside the file.
        let (one, n) = block_on(m.fs.extents(f, 0, u64::MAX, 1)).unwrap();
        assert_eq!((one.len(), n), (1, 3));
        let (_, n) = block_on(m.fs.extents(f, 0, u64::MAX, 0)).unwrap();
        assert_eq!(n, 3);
        let (mid, n) = block_on(m.fs.extents(f, bs, 2 * bs, 8)).unwrap();
        assert_eq!((n, mid[0].logical), (1, 2 * bs));
        // One write of eight blocks on a fresh disk lands in a row: one extent.
        let g = m.create_file(2, "g", &pattern(8 * bs as usize, 9));
        let (run, n) = block_on(m.fs.extents(g, 0, u64::MAX, 8)).unwrap();
        assert_eq!((n, run[0].length), (1, 8 * bs));
        // A directory's blocks are mapped the same way.
        let (_, n) = block_on(m.fs.extents(2, 0, u64::MAX, 8)).unwrap();
        assert!(n >= 1, "the root directory has a block");
    }
}
