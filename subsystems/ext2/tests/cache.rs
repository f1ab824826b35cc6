//! The file system through the block cache (as the kernel runs it): what reaches
//! the disk is whole and in order, so an unmount is clean and a crash with writes
//! still queued leaves what `e2fsck -p` repairs.

mod common;
use common::*;

use std::process::Command;
use std::sync::Arc;

use kestrel_ext2::{BlockCache, BlockIo, Ext2, MemDisk, MountOptions};
use kestrel_vfs::NodeKind;

fn mount_cached(
    img: &std::path::Path,
    dirty_cap: usize,
) -> (Arc<Ext2>, Arc<BlockCache>, Arc<MemDisk>) {
    // Real times: a freed inode's dtime of 0 would look like an orphan list link.
    kestrel_vfs::set_clock(wall_clock);
    let disk = Arc::new(MemDisk::new(std::fs::read(img).unwrap()));
    // A small cache: eviction and refills happen along the way.
    let cache = Arc::new(BlockCache::new(disk.clone(), 64 * 4096, dirty_cap));
    let fs = block_on(Ext2::mount(
        cache.clone() as Arc<dyn BlockIo>,
        MountOptions::default(),
    ))
    .unwrap();
    (fs, cache, disk)
}

/// Files of several sizes in a directory, a rename, an unlink and a truncate; the
/// files left and their contents.
fn workload(fs: &Ext2, after_each: &mut dyn FnMut()) -> Vec<(String, Vec<u8>)> {
    let d = block_on(fs.create(2, b"d", NodeKind::Dir, 0o755, 0, 0)).unwrap();
    fs.release(d);
    after_each();
    let mut left = Vec::new();
    for (i, size) in [0usize, 100, 5000, 70_000, 300_000].into_iter().enumerate() {
        let name = format!("f{i}");
        let data = pattern(size, i as u32 + 1);
        let f = block_on(fs.create(d, name.as_bytes(), NodeKind::File, 0o644, 0, 0)).unwrap();
        // In pieces, as write(2) calls come.
        for (k, chunk) in data.chunks(7000).enumerate() {
            block_on(fs.write(f, (k * 7000) as u64, chunk)).unwrap();
            after_each();
        }
        fs.release(f);
        left.push((format!("/d/{name}"), data));
    }
    block_on(fs.rename(d, b"f3", 2, b"moved", 0)).unwrap();
    after_each();
    let (_, moved) = left.remove(3);
    left.push(("/moved".into(), moved));
    block_on(fs.unlink(d, b"f1")).unwrap();
    after_each();
    left.retain(|(n, _)| n != "/d/f1");
    let f4 = block_on(fs.lookup(d, b"f4")).unwrap();
    block_on(fs.truncate(f4, 1234)).unwrap();
    fs.release(f4);
    after_each();
    for (n, data) in &mut left {
        if n == "/d/f4" {
            data.truncate(1234);
        }
    }
    left
}

#[test]
fn a_workload_through_the_cache_unmounts_clean_and_reads_back() {
    if !have_tools() {
        return;
    }
    for cfg in [CONFIGS[0], CONFIGS[3]] {
        let t = Tmp::new("cache");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &[]);
        let (fs, cache, disk) = mount_cached(&img, 256 * 1024);
        let left = workload(&fs, &mut || {});
        // Reads are served by the cache (and what it evicted comes back from the
        // disk, merged with what is still queued).
        for (name, data) in &left {
            let mut ino = kestrel_ext2::ROOT_INO;
            for comp in name.split('/').filter(|c| !c.is_empty()) {
                let next = block_on(fs.lookup(ino, comp.as_bytes())).unwrap();
                fs.release(next);
                ino = next;
            }
            let mut buf = vec![0u8; data.len() + 10];
            let n = block_on(fs.read(ino, 0, &mut buf)).unwrap();
            assert_eq!(&buf[..n], &data[..], "{cfg:?} {name}");
        }
        block_on(fs.unmount()).unwrap();
        assert!(!cache.dirty(), "unmount flushed the cache");
        assert!(cache.stats().merged > 0, "sequential writes merged");
        std::fs::write(&img, disk.contents()).unwrap();
        fsck(&img);
        for (name, data) in &left {
            assert_eq!(&debugfs_cat(&img, name), data, "{cfg:?} {name}");
        }
    }
}

#[test]
fn a_crash_with_writes_still_queued_leaves_what_e2fsck_repairs() {
    if !have_tools() {
        return;
    }
    let t = Tmp::new("cache-crash");
    let img = t.path("img");
    mkfs(&img, CONFIGS[0], 4096, &[]);
    // The smallest dirty cap: writers drain often, so the disk holds every kind of
    // prefix of the writes when the power goes.
    let (fs, _cache, disk) = mount_cached(&img, 0);
    let mut snapshots = Vec::new();
    workload(&fs, &mut || snapshots.push(disk.contents()));
    assert!(snapshots.len() > 20);
    for (i, snap) in snapshots.iter().enumerate().step_by(3) {
        let crashed = t.path(&format!("crash{i}"));
        std::fs::write(&crashed, snap).unwrap();
        let out = Command::new("e2fsck")
            .arg("-fp")
            .arg(&crashed)
            .output()
            .unwrap();
        let code = out.status.code().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if code > 1 {
            // The windows ext2 has without a journal (see the crate
            // documentation): an inode with content but no name yet, which only
            // `e2fsck -y` puts in lost+found.
            let inherent = text.lines().all(|l| {
                !l.contains("UNEXPECTED")
                    || text.contains("Unconnected directory inode")
                    || text.contains("Unattached inode")
            });
            assert!(
                inherent && code == 4,
                "after step {i}: e2fsck -p could not repair (exit {code}):\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = Command::new("e2fsck")
                .arg("-fy")
                .arg(&crashed)
                .output()
                .unwrap();
            assert!(out.status.code().unwrap() <= 1);
        }
        fsck(&crashed);
    }
}
