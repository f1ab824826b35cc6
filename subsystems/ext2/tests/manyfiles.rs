//! 10,000 empty files created in one directory and unlinked again, with the
//! calls the kernel makes for `open(O_CREAT|O_EXCL)` + `close` and for
//! `unlink` (bench/README.md's `fs_create_10k` and `fs_unlink_10k`): the image
//! must be clean afterwards, and the time of each phase is printed, so that
//! `valgrind --tool=callgrind` on this test shows where either goes.

mod common;
use common::*;

use std::time::Instant;

use kestrel_vfs::NodeKind;

const FILES: usize = 10_000;

fn name(i: usize) -> String {
    format!("f{i:05}")
}

#[test]
fn ten_thousand_files_created_and_unlinked_as_the_kernel_does() {
    if !have_tools() {
        return;
    }
    let n: usize = std::env::var("KESTREL_EXT2_FILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(FILES);
    let t = Tmp::new("manyfiles");
    let img = t.path("img");
    mkfs(&img, Cfg { bs: 4096, isz: 256 }, 64 * 1024, &[]);
    let m = mount(&img);
    let fs = &m.fs;
    let dir = m.mkdir(kestrel_ext2::ROOT_INO, "files");
    block_on(fs.sync()).unwrap();

    let t0 = Instant::now();
    for i in 0..n {
        let nm = name(i);
        // The lookup that finds no such name (from the name cache: the
        // directory is new, so its names are all known).
        match fs.cached_lookup(dir, nm.as_bytes()) {
            Some(Err(_)) => {}
            _ => assert!(block_on(fs.lookup(dir, nm.as_bytes())).is_err()),
        }
        let (ino, _, _) =
            block_on(fs.create_stat(dir, nm.as_bytes(), NodeKind::File, 0o644, 0, 0)).unwrap();
        // close: the in-core inode goes.
        fs.release(ino);
    }
    let create = t0.elapsed();
    block_on(fs.sync()).unwrap();

    let t0 = Instant::now();
    for i in 0..n {
        let nm = name(i);
        // The victim looked up (and its metadata read: it is not in core),
        // then the unlink, then the victim let go.
        let ino = match fs.cached_lookup(dir, nm.as_bytes()) {
            Some(r) => r.unwrap(),
            None => block_on(fs.lookup(dir, nm.as_bytes())).unwrap(),
        };
        block_on(fs.metadata(ino)).unwrap();
        block_on(fs.unlink_stat(dir, nm.as_bytes())).unwrap();
        fs.release(ino);
    }
    let unlink = t0.elapsed();
    block_on(fs.sync()).unwrap();
    eprintln!(
        "{n} files: create {:.2} us/file, unlink {:.2} us/file",
        create.as_secs_f64() * 1e6 / n as f64,
        unlink.as_secs_f64() * 1e6 / n as f64
    );
    assert!(m.names(dir).is_empty());
    let m2 = m;
    m2.unmount(&img);
    fsck(&img);
}
