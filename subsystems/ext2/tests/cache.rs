//! The file system through the block cache (as the kernel runs it): what reaches
//! the disk is whole and in order, so an unmount is clean and a crash with writes
//! still queued leaves what `e2fsck -p` repairs.

mod common;
use common::*;

use std::process::Command;
use std::sync::Arc;

use kestrel_abi::Errno;
use kestrel_ext2::{BlockCache, BlockIo, BoxFuture, Ext2, MemDisk, MountOptions};
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
        check_crashed(&crashed, &format!("after step {i}"));
    }
}

/// A disk that records every write with the writeback epoch it belongs to (the
/// cache's count of epochs finished when the write was sent).
struct Recorder {
    mem: MemDisk,
    cache: std::sync::OnceLock<std::sync::Weak<BlockCache>>,
    log: std::sync::Mutex<Vec<(u64, u64, Vec<u8>)>>,
}

impl BlockIo for Recorder {
    fn sectors(&self) -> u64 {
        self.mem.sectors()
    }
    fn read<'a>(&'a self, s: u64, b: &'a mut [u8]) -> BoxFuture<'a, Result<(), Errno>> {
        self.mem.read(s, b)
    }
    fn write<'a>(&'a self, s: u64, d: &'a [u8]) -> BoxFuture<'a, Result<(), Errno>> {
        let epoch = self
            .cache
            .get()
            .and_then(|c| c.upgrade())
            .map_or(0, |c| c.stats().epochs);
        self.log.lock().unwrap().push((epoch, s, d.to_vec()));
        self.mem.write(s, d)
    }
    fn flush(&self) -> BoxFuture<'_, Result<(), Errno>> {
        self.mem.flush()
    }
}

/// Runs `e2fsck -fp` on a crashed image: it must repair everything by itself,
/// except the windows ext2 has without a journal (see the crate documentation),
/// which `e2fsck -fy` must then repair; after that `e2fsck -fn` finds nothing.
fn check_crashed(img: &std::path::Path, what: &str) {
    let out = Command::new("e2fsck").arg("-fp").arg(img).output().unwrap();
    let code = out.status.code().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if code > 1 {
        let inherent = text.lines().all(|l| {
            !l.contains("UNEXPECTED")
                || text.contains("Unconnected directory inode")
                || text.contains("Unattached inode")
        });
        assert!(
            inherent && code == 4,
            "{what}: e2fsck -p could not repair (exit {code}):\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("e2fsck").arg("-fy").arg(img).output().unwrap();
        assert!(
            out.status.code().unwrap() <= 1,
            "{what}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    fsck(img);
}

/// Directories that grow past a block, links, a slow symlink, renames, rmdir, and
/// new files in the blocks freed by an unlink and a truncate (an indirect block
/// freed comes back as data).
fn workload2(fs: &Ext2) {
    let d = block_on(fs.create(2, b"e", NodeKind::Dir, 0o755, 0, 0)).unwrap();
    for i in 0..30 {
        let name = format!("a-long-entry-name-to-fill-blocks-{i:02}");
        let f = block_on(fs.create(d, name.as_bytes(), NodeKind::File, 0o644, 0, 0)).unwrap();
        if i % 10 == 0 {
            block_on(fs.write(f, 0, &pattern(3000, i))).unwrap();
        }
        fs.release(f);
    }
    let s = block_on(fs.create(d, b"s", NodeKind::Symlink(vec![b'y'; 200]), 0o777, 0, 0));
    fs.release(s.unwrap());
    let sub = block_on(fs.create(d, b"sub", NodeKind::Dir, 0o755, 0, 0)).unwrap();
    fs.release(sub);
    block_on(fs.rename(d, b"sub", 2, b"sub2", 0)).unwrap();
    let f = block_on(fs.lookup(d, b"a-long-entry-name-to-fill-blocks-10")).unwrap();
    block_on(fs.link(2, b"hard", f)).unwrap();
    fs.release(f);
    block_on(fs.unlink(d, b"a-long-entry-name-to-fill-blocks-10")).unwrap();
    block_on(fs.rmdir(2, b"sub2")).unwrap();
    let f4 = block_on(fs.lookup(2, b"moved")).unwrap();
    block_on(fs.truncate(f4, 0)).unwrap();
    fs.release(f4);
    let g = block_on(fs.create(2, b"g", NodeKind::File, 0o644, 0, 0)).unwrap();
    block_on(fs.write(g, 0, &pattern(90_000, 9))).unwrap();
    fs.release(g);
    let h = block_on(fs.create(d, b"h", NodeKind::Dir, 0o755, 0, 0)).unwrap();
    fs.release(h);
}

/// Writeback sends the writes of an epoch together, so a crash may keep any subset
/// of one epoch's writes (every earlier epoch whole, nothing later). Every such
/// state — all subsets of small epochs, random ones of large — is what `e2fsck -p`
/// repairs.
#[test]
fn a_crash_keeping_any_subset_of_an_epoch_leaves_what_e2fsck_repairs() {
    if !have_tools() {
        return;
    }
    for cfg in [CONFIGS[0], CONFIGS[3]] {
        let t = Tmp::new("cache-epochs");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &[]);
        // Free blocks full of garbage, not zeros: a block whose new content did
        // not reach the disk before the pointer to it would show.
        {
            let m = mount(&img);
            let junk = pattern(3 << 20, 0xa5);
            let f = block_on(m.fs.create(2, b"junk", NodeKind::File, 0o644, 0, 0)).unwrap();
            block_on(m.fs.write(f, 0, &junk)).unwrap();
            block_on(m.fs.unlink(2, b"junk")).unwrap();
            m.fs.release(f);
            m.unmount(&img);
        }
        let base = std::fs::read(&img).unwrap();
        kestrel_vfs::set_clock(wall_clock);
        let rec = Arc::new(Recorder {
            mem: MemDisk::new(base.clone()),
            cache: std::sync::OnceLock::new(),
            log: std::sync::Mutex::new(Vec::new()),
        });
        let cache = Arc::new(BlockCache::new(rec.clone(), 64 * 4096, 1 << 20));
        rec.cache.set(Arc::downgrade(&cache)).ok();
        let fs = block_on(Ext2::mount(
            cache.clone() as Arc<dyn BlockIo>,
            MountOptions::default(),
        ))
        .unwrap();
        let left = workload(&fs, &mut || {});
        block_on(cache.flush()).unwrap();
        // Files written and flushed before workload2, which leaves them alone:
        // every crash after this point must keep them whole.
        let kept: Vec<_> = left.into_iter().filter(|(n, _)| n != "/moved").collect();
        let flushed = rec.log.lock().unwrap().last().map_or(0, |w| w.0 + 1);
        workload2(&fs);
        block_on(fs.unmount()).unwrap();
        let log = std::mem::take(&mut *rec.log.lock().unwrap());
        assert!(cache.stats().max_in_flight > 1, "writes went out together");
        // The epochs, in order.
        let mut epochs: Vec<Vec<(u64, Vec<u8>)>> = Vec::new();
        let mut first_epoch = Vec::new();
        let mut last = None;
        for (e, s, d) in log {
            if last != Some(e) {
                epochs.push(Vec::new());
                first_epoch.push(e);
                last = Some(e);
            }
            epochs.last_mut().unwrap().push((s, d));
        }
        let largest = epochs.iter().map(Vec::len).max().unwrap();
        assert!(largest >= 3, "some epochs hold several writes ({largest})");
        let apply = |disk: &mut Vec<u8>, s: u64, d: &[u8]| {
            let at = s as usize * 512;
            disk[at..at + d.len()].copy_from_slice(d);
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut disk = base.clone();
        let crashed = t.path("crashed");
        let mut states = 0;
        for (k, writes) in epochs.iter().enumerate() {
            let n = writes.len();
            // Within an epoch no two writes overlap: their order is any.
            for (i, (s, d)) in writes.iter().enumerate() {
                for (s2, d2) in &writes[i + 1..] {
                    let (e, e2) = (s + (d.len() / 512) as u64, s2 + (d2.len() / 512) as u64);
                    assert!(
                        e <= *s2 || e2 <= *s,
                        "epoch {k}: writes at {s} and {s2} overlap"
                    );
                }
            }
            let subsets: Vec<u64> = if n <= 5 {
                (1..1u64 << n).collect()
            } else {
                let mut v: Vec<u64> = (0..20)
                    .map(|_| {
                        let r = rand();
                        (0..n)
                            .filter(|i| r >> (i % 64) & 1 == 1)
                            .fold(0, |m, i| m | 1 << i)
                    })
                    .collect();
                // Each write alone and each one missing.
                v.extend((0..n.min(64)).map(|i| 1u64 << i));
                v.extend((0..n.min(64)).map(|i| !(1u64 << i)));
                v
            };
            for mask in subsets {
                let mut img_now = disk.clone();
                for (i, (s, d)) in writes.iter().enumerate() {
                    if i >= 64 || mask >> i & 1 == 1 {
                        apply(&mut img_now, *s, d);
                    }
                }
                std::fs::write(&crashed, &img_now).unwrap();
                let what = format!("{cfg:?} epoch {k} of {n} writes, kept {mask:#x}");
                check_crashed(&crashed, &what);
                if first_epoch[k] >= flushed && states % 4 == 0 {
                    for (name, data) in &kept {
                        assert_eq!(&debugfs_cat(&crashed, name), data, "{what}: {name}");
                    }
                }
                states += 1;
            }
            for (s, d) in writes {
                apply(&mut disk, *s, d);
            }
        }
        std::fs::write(&crashed, &disk).unwrap();
        fsck(&crashed);
        eprintln!(
            "{cfg:?}: {} epochs (largest {largest} writes), {states} crash states",
            epochs.len()
        );
    }
}
