//! Reading what e2fsprogs wrote: trees made with `mkfs.ext2 -d` and `debugfs -w`.

mod common;
use common::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use kestrel_abi::fs::*;
use kestrel_ext2::MountOptions;

/// Builds a source tree exercising every kind of file.
fn build_tree(src: &Path, bs: usize) -> Vec<(String, Vec<u8>)> {
    std::fs::create_dir_all(src.join("d/e/f")).unwrap();
    std::fs::create_dir_all(src.join("big")).unwrap();
    let sizes = [
        0,
        1,
        bs - 1,
        bs,
        12 * bs,
        12 * bs + 1,
        (12 + bs / 4) * bs + 1,
        300_000,
    ];
    let mut files = Vec::new();
    for (i, &s) in sizes.iter().enumerate() {
        let name = format!("f{i}");
        let data = pattern(s, i as u32);
        std::fs::write(src.join(&name), &data).unwrap();
        files.push((name, data));
    }
    std::fs::write(src.join("d/e/f/deep"), b"deep file\n").unwrap();
    // A sparse file: data, a hole of a few MiB, data.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(src.join("sparse")).unwrap();
        f.write_all(b"start").unwrap();
        f.seek(SeekFrom::Start(5 << 20)).unwrap();
        f.write_all(b"end").unwrap();
    }
    std::os::unix::fs::symlink("f1", src.join("short")).unwrap();
    let long = "x/".repeat(100) + "target";
    std::os::unix::fs::symlink(&long, src.join("long")).unwrap();
    std::fs::hard_link(src.join("f1"), src.join("f1-link")).unwrap();
    for i in 0..400 {
        std::fs::write(src.join(format!("big/entry-with-a-long-name-{i:04}")), []).unwrap();
    }
    let f = src.join("owned");
    std::fs::write(&f, b"o").unwrap();
    // chown clears setuid: set the mode after.
    // Ids past 16 bits (the high halves live in osd2); needs root.
    let _ = std::os::unix::fs::chown(&f, Some(100_000), Some(200_001));
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o4751)).unwrap();
    let fifo = std::ffi::CString::new(src.join("fifo").to_str().unwrap()).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(src.join("fifo"))
            .status()
            .unwrap()
            .success()
    );
    drop(fifo);
    let _sock = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    // Device nodes (old and new encodings of the number); creating them needs root.
    for (n, t, maj, min) in [("chr", "c", "4", "5"), ("blk", "b", "259", "70000")] {
        let ok = std::process::Command::new("mknod")
            .arg(src.join(n))
            .args([t, maj, min])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("note: mknod failed (not root?): device nodes not checked");
        }
    }
    files
}

#[test]
fn reads_a_tree_made_by_mkfs_d() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("read");
        let src = t.path("src");
        let files = build_tree(&src, cfg.bs as usize);
        let img = t.path("img");
        mkfs(&img, cfg, 16 * 1024, &["-d", src.to_str().unwrap()]);
        // An htree index on the big directory (e2fsck -D).
        let st = std::process::Command::new("e2fsck")
            .arg("-fyD")
            .arg(&img)
            .output()
            .unwrap();
        assert!(
            st.status.code().unwrap() <= 1,
            "{}",
            String::from_utf8_lossy(&st.stdout)
        );
        assert!(String::from_utf8_lossy(&debugfs(&img, "stat /big")).contains("Flags: 0x1000"));

        let m = mount(&img);
        let raw = std::fs::read(&img).unwrap();
        for (name, data) in &files {
            let ino = m.walk(&format!("/{name}")).unwrap();
            assert_eq!(&m.read_all(ino), data, "{cfg:?} {name}");
            // The disk runs read-ahead uses hold the file's bytes.
            let runs = block_on(m.fs.file_runs(ino, 0, data.len() as u64)).unwrap();
            let mut covered = 0;
            for (at, sector, n) in runs {
                let at = at as usize;
                let k = n.min(data.len() - at);
                let disk = &raw[sector as usize * 512..sector as usize * 512 + k];
                assert_eq!(disk, &data[at..at + k], "{cfg:?} {name} run at {at}");
                covered += k;
            }
            // Only holes (zeros) are left out.
            let zeros = data.iter().filter(|&&b| b == 0).count();
            assert!(
                covered + zeros >= data.len(),
                "{cfg:?} {name}: runs cover {covered}"
            );
            // Reads at odd offsets and lengths.
            if data.len() > 5000 {
                let mut buf = vec![0u8; 3000];
                let n = kestrel_block(&m, ino, 1234, &mut buf);
                assert_eq!(n, 3000);
                assert_eq!(&buf[..], &data[1234..4234]);
            }
            let md = block_on(m.fs.metadata(ino)).unwrap();
            let host = std::fs::metadata(src.join(name)).unwrap();
            assert_eq!(md.size, host.len());
            assert_eq!(md.mode, host.mode());
            assert_eq!(md.mtime.tv_sec, host.mtime());
        }
        assert_eq!(m.read_all(m.walk("/d/e/f/deep").unwrap()), b"deep file\n");
        let sp = m.walk("/sparse").unwrap();
        let data = m.read_all(sp);
        assert_eq!(data.len(), (5 << 20) + 3);
        assert_eq!(&data[..5], b"start");
        assert!(data[5..5 << 20].iter().all(|&b| b == 0));
        assert_eq!(&data[5 << 20..], b"end");
        assert!(
            block_on(m.fs.metadata(sp)).unwrap().blocks < 64,
            "holes take no blocks"
        );

        assert_eq!(
            block_on(m.fs.readlink(m.walk("/short").unwrap())).unwrap(),
            b"f1"
        );
        let long = "x/".repeat(100) + "target";
        assert_eq!(
            block_on(m.fs.readlink(m.walk("/long").unwrap())).unwrap(),
            long.as_bytes()
        );
        let f1 = m.walk("/f1").unwrap();
        assert_eq!(m.walk("/f1-link").unwrap(), f1);
        assert_eq!(block_on(m.fs.metadata(f1)).unwrap().nlink, 2);

        let o = block_on(m.fs.metadata(m.walk("/owned").unwrap())).unwrap();
        assert_eq!(o.mode, S_IFREG | 0o4751);
        let host = std::fs::metadata(src.join("owned")).unwrap();
        assert_eq!((o.uid, o.gid), (host.uid(), host.gid()));
        let kind = |p: &str| block_on(m.fs.metadata(m.walk(p).unwrap())).unwrap();
        assert_eq!(kind("/fifo").file_type(), S_IFIFO);
        assert_eq!(kind("/sock").file_type(), S_IFSOCK);
        if src.join("blk").exists() {
            let c = kind("/chr");
            assert_eq!((c.file_type(), c.rdev), (S_IFCHR, makedev(4, 5)));
            let b = kind("/blk");
            assert_eq!(
                (b.file_type(), major(b.rdev), minor(b.rdev)),
                (S_IFBLK, 259, 70000)
            );
        }

        // The htree directory lists and finds every entry.
        let big = m.walk("/big").unwrap();
        let names = m.names(big);
        assert_eq!(names.len(), 400);
        for i in (0..400).step_by(37) {
            m.walk(&format!("/big/entry-with-a-long-name-{i:04}"))
                .unwrap();
        }
        // Directory entries carry their types.
        let mut types = std::collections::BTreeMap::new();
        block_on(m.fs.readdir(2, 0, &mut |e| {
            types.insert(String::from_utf8(e.name).unwrap(), e.dtype);
            true
        }))
        .unwrap();
        assert_eq!(types["."], DT_DIR);
        assert_eq!(types["f1"], DT_REG);
        assert_eq!(types["short"], DT_LNK);
        assert_eq!(types["fifo"], DT_FIFO);
        assert_eq!(types["sock"], DT_SOCK);
        if src.join("blk").exists() {
            assert_eq!(types["chr"], DT_CHR);
            assert_eq!(types["blk"], DT_BLK);
        }
        assert_eq!(types["d"], DT_DIR);

        // statfs as Linux's ext2 counts.
        let s = block_on(m.fs.statfs()).unwrap();
        assert_eq!(s.f_type, 0xef53);
        assert_eq!(s.f_bsize, i64::from(cfg.bs));
        let dump = String::from_utf8(
            std::process::Command::new("dumpe2fs")
                .arg("-h")
                .arg(&img)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let field = |k: &str| -> u64 {
            dump.lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().parse().unwrap())
                .unwrap()
        };
        assert_eq!(s.f_bfree, field("Free blocks"));
        assert_eq!(s.f_ffree, field("Free inodes"));
        assert_eq!(s.f_files, field("Inode count"));
        assert_eq!(
            s.f_bavail,
            field("Free blocks") - field("Reserved block count")
        );
        assert!(s.f_blocks < field("Block count") && s.f_blocks > field("Block count") * 8 / 10);
        drop(m);
        fsck(&img);
    }
}

fn kestrel_block(m: &Mounted, ino: u32, off: u64, buf: &mut [u8]) -> usize {
    block_on(m.fs.read(ino, off, buf)).unwrap()
}

#[test]
fn reads_xattrs_debugfs_wrote_in_the_inode_and_in_a_block() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("xr");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &[]);
        let big = "v".repeat(300);
        debugfs_w(
            &img,
            &[
                "write /dev/null f",
                "ea_set /f user.small hello",
                &format!("ea_set /f user.big {big}"),
                "ea_set /f trusted.t 1",
            ],
        );
        let m = mount(&img);
        let f = m.walk("/f").unwrap();
        assert_eq!(
            block_on(m.fs.xattr_get(f, b"user.small")).unwrap(),
            b"hello"
        );
        assert_eq!(
            block_on(m.fs.xattr_get(f, b"user.big")).unwrap(),
            big.as_bytes()
        );
        assert_eq!(block_on(m.fs.xattr_get(f, b"trusted.t")).unwrap(), b"1");
        assert_eq!(
            block_on(m.fs.xattr_get(f, b"user.none")),
            Err(kestrel_abi::Errno::ENODATA)
        );
        let mut l = block_on(m.fs.xattr_list(f)).unwrap();
        l.sort();
        assert_eq!(
            l,
            vec![
                b"trusted.t".to_vec(),
                b"user.big".to_vec(),
                b"user.small".to_vec()
            ]
        );
        // Changing one moves them all to the block; e2fsck and debugfs agree.
        block_on(m.fs.xattr_set(
            f,
            b"user.small",
            b"HELLO",
            kestrel_vfs::inode::XattrSet::Replace,
        ))
        .unwrap();
        m.unmount(&img);
        fsck(&img);
        let out = String::from_utf8(debugfs(&img, "ea_get /f user.small")).unwrap();
        assert!(out.contains("HELLO"), "{out}");
        let out = String::from_utf8(debugfs(&img, "ea_list /f")).unwrap();
        assert!(
            out.contains("user.big") && out.contains("trusted.t"),
            "{out}"
        );
    }
}

#[test]
fn a_read_only_mount_reads_and_refuses_writes() {
    if !have_tools() {
        return;
    }
    let t = Tmp::new("ro");
    let img = t.path("img");
    mkfs(&img, CONFIGS[0], 2048, &[]);
    let before = std::fs::read(&img).unwrap();
    let m = mount_opts(
        &img,
        MountOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(m.fs.read_only());
    assert_eq!(m.names(2), vec!["lost+found"]);
    assert_eq!(
        block_on(m.fs.create(2, b"x", kestrel_vfs::NodeKind::File, 0o644, 0, 0)),
        Err(kestrel_abi::Errno::EROFS)
    );
    assert_eq!(
        block_on(m.fs.set_mode(2, 0o700)),
        Err(kestrel_abi::Errno::EROFS)
    );
    block_on(m.fs.unmount()).unwrap();
    assert!(
        m.disk.contents() == before,
        "a read-only mount wrote nothing"
    );
}

/// statfs as Linux's ext2 driver reports it for the same image (needs root and a
/// loop device; skipped otherwise).
#[test]
fn statfs_matches_linux_on_the_same_image() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("statfs");
        let img = t.path("img");
        mkfs(&img, cfg, 40 * 1024, &[]);
        debugfs_w(&img, &["write /etc/services f", "mkdir d"]);
        let mnt = t.path("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "ext2", "-o", "loop,ro"])
            .arg(&img)
            .arg(&mnt)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!("note: cannot loop-mount here: statfs not compared with Linux");
            return;
        }
        let out = std::process::Command::new("stat")
            .args(["-f", "-c", "%b %f %a %c %d %S %l %i"])
            .arg(&mnt)
            .output()
            .unwrap();
        let _ = std::process::Command::new("umount").arg(&mnt).status();
        let linux = String::from_utf8(out.stdout).unwrap();
        let m = mount_opts(
            &img,
            MountOptions {
                read_only: true,
                ..Default::default()
            },
        )
        .unwrap();
        let s = block_on(m.fs.statfs()).unwrap();
        // stat(1) prints f_fsid's first word first.
        let fsid = (u64::from(s.f_fsid[0] as u32) << 32) | u64::from(s.f_fsid[1] as u32);
        let ours = format!(
            "{} {} {} {} {} {} {} {:x}",
            s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree, s.f_bsize, s.f_namelen, fsid
        );
        assert_eq!(ours, linux.trim(), "{cfg:?}");
    }
}
