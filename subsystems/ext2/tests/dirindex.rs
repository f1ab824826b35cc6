//! Large directories through the in-memory index: the same operations on two
//! mounts of one image, one with indexes and one scanning every block, must give
//! the same answers and leave the same directories (entries in the same places),
//! which `e2fsck -fn` finds clean.

mod common;
use common::*;

use std::process::Command;

use kestrel_abi::Errno;
use kestrel_abi::fs::{RENAME_EXCHANGE, RENAME_NOREPLACE};
use kestrel_vfs::NodeKind;

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Names of varied lengths (1 to 200 bytes), so that new entries fit some gaps
/// and not others.
fn name(i: usize) -> String {
    let len = [1usize, 3, 8, 15, 30, 60, 200][i % 7];
    let base = format!("n{i}-");
    let mut s = base.repeat(len / base.len() + 1);
    s.truncate(len.max(base.len()));
    s
}

/// An image with `/big` holding `n` files, made by `mkfs.ext2 -d`.
fn image(t: &Tmp, cfg: Cfg, n: usize, extra: &[&str]) -> std::path::PathBuf {
    let src = t.path("src");
    std::fs::create_dir_all(src.join("big/sub")).unwrap();
    std::fs::create_dir_all(src.join("other")).unwrap();
    for i in 0..n {
        std::fs::write(src.join(format!("big/{}", name(i))), []).unwrap();
    }
    let img = t.path("img");
    let src = src.to_str().unwrap();
    mkfs(&img, cfg, 16 * 1024, &[extra, &["-d", src]].concat());
    img
}

/// Every name of a directory with its inode, in directory order (the order shows
/// where each entry went).
fn listing(m: &Mounted, dir: u32) -> Vec<(String, u64, u64)> {
    let mut v = Vec::new();
    block_on(m.fs.readdir(dir, 0, &mut |e| {
        v.push((String::from_utf8(e.name).unwrap(), e.ino, e.next));
        true
    }))
    .unwrap();
    v
}

/// One random operation on both mounts; their results must agree.
fn step(rng: &mut Rng, ms: &[&Mounted; 2], dirs: &[u32], pool: usize) -> bool {
    let d = dirs[rng.below(dirs.len())];
    let d2 = dirs[rng.below(dirs.len())];
    let a = name(rng.below(pool));
    let b = name(rng.below(pool));
    let op = rng.below(100);
    let r: Vec<Result<u64, Errno>> = ms
        .iter()
        .map(|m| {
            let fs = &m.fs;
            match op {
                0..=34 => {
                    let r = block_on(fs.create(d, a.as_bytes(), NodeKind::File, 0o644, 0, 0));
                    if let Ok(i) = r {
                        fs.release(i);
                    }
                    r.map(u64::from)
                }
                35..=59 => block_on(fs.unlink(d, a.as_bytes())).map(|_| 0),
                60..=74 => {
                    let flags = [0, 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE][rng.0 as usize % 5];
                    block_on(fs.rename(d, a.as_bytes(), d2, b.as_bytes(), flags)).map(|_| 0)
                }
                75..=84 => {
                    let r = block_on(fs.lookup(d, a.as_bytes()));
                    if let Ok(i) = r {
                        fs.release(i);
                    }
                    r.map(u64::from)
                }
                85..=89 => match block_on(fs.lookup(d, a.as_bytes())) {
                    Ok(i) => {
                        fs.release(i);
                        block_on(fs.link(d2, b.as_bytes(), i)).map(|_| 1)
                    }
                    Err(e) => Err(e),
                },
                90..=94 => {
                    let r = block_on(fs.create(d, a.as_bytes(), NodeKind::Dir, 0o755, 0, 0));
                    if let Ok(i) = r {
                        fs.release(i);
                    }
                    r.map(u64::from)
                }
                _ => block_on(fs.rmdir(d, a.as_bytes())).map(|_| 0),
            }
        })
        .collect();
    assert_eq!(r[0], r[1], "op {op} in {d} on {a:?} / {b:?} in {d2}");
    r[0].is_ok()
}

fn same_dirs(ms: &[&Mounted; 2], dirs: &[u32]) {
    for &d in dirs {
        assert_eq!(listing(ms[0], d), listing(ms[1], d), "directory {d}");
    }
}

fn lockstep(cfg: Cfg, seed: u64, ops: usize, limit: usize, extra: &[&str]) {
    let t = Tmp::new("dirindex");
    let img = image(&t, cfg, 1500, extra);
    let scan_img = t.path("scan.img");
    std::fs::copy(&img, &scan_img).unwrap();
    let (mi, ms) = (mount(&img), mount(&scan_img));
    block_on(mi.fs.set_dir_index(true, limit));
    block_on(ms.fs.set_dir_index(false, limit));
    let both = [&mi, &ms];
    let dirs: Vec<u32> = ["/big", "/big/sub", "/other", "/"]
        .iter()
        .map(|p| mi.walk(p).unwrap())
        .collect();
    let mut rng = Rng(seed);
    let mut ok = 0;
    for i in 0..ops {
        // Names from a pool a little larger than /big, so that creates both find
        // and miss them, and unlinks make gaps that later creates fill.
        ok += usize::from(step(&mut rng, &both, &dirs, 2200));
        if i % 500 == 0 {
            same_dirs(&both, &dirs);
        }
    }
    // Enough of them did something, and the indexes were used (within the bound).
    assert!(ok > ops / 3, "{ok} of {ops}");
    let (n, entries) = block_on(mi.fs.dir_index_stats());
    assert!(n >= 1 && entries <= limit, "{n} {entries}");
    assert_eq!(block_on(ms.fs.dir_index_stats()), (0, 0));
    // Every name in every directory is found the same way.
    for &d in &dirs {
        for (n, ino, _) in listing(&mi, d) {
            for m in both {
                let got = block_on(m.fs.lookup(d, n.as_bytes())).unwrap();
                m.fs.release(got);
                assert_eq!(u64::from(got), ino, "{n}");
            }
        }
    }
    same_dirs(&both, &dirs);
    mi.unmount(&img);
    ms.unmount(&scan_img);
    fsck(&img);
    fsck(&scan_img);
}

#[test]
fn indexed_directories_agree_with_the_scan() {
    if !have_tools() {
        return;
    }
    for (i, cfg) in [CONFIGS[0], CONFIGS[3]].into_iter().enumerate() {
        lockstep(cfg, 0x1234_5678 + i as u64, 6000, 1 << 19, &[]);
    }
}

#[test]
fn a_small_memory_bound_drops_indexes_and_still_agrees() {
    if !have_tools() {
        return;
    }
    // /big alone has more names than the bound (it is scanned); the others grow
    // to a few hundred each, share the bound and push each other out.
    for (i, cfg) in [CONFIGS[1], CONFIGS[2]].into_iter().enumerate() {
        lockstep(cfg, 0x9e37_79b9 + i as u64, 4000, 600, &[]);
    }
}

#[test]
fn htree_directories_made_by_e2fsck_agree_with_the_scan() {
    if !have_tools() {
        return;
    }
    let cfg = CONFIGS[2];
    let t = Tmp::new("dirindex-htree");
    let img = image(&t, cfg, 3000, &["-O", "dir_index"]);
    let st = Command::new("e2fsck")
        .arg("-fyD")
        .arg(&img)
        .output()
        .unwrap();
    assert!(st.status.code().unwrap() <= 1);
    assert!(String::from_utf8_lossy(&debugfs(&img, "stat /big")).contains("Flags: 0x1000"));
    let scan_img = t.path("scan.img");
    std::fs::copy(&img, &scan_img).unwrap();
    let (mi, ms) = (mount(&img), mount(&scan_img));
    block_on(ms.fs.set_dir_index(false, 0));
    let both = [&mi, &ms];
    let dirs = [mi.walk("/big").unwrap()];
    let mut rng = Rng(77);
    for _ in 0..3000 {
        step(&mut rng, &both, &dirs, 3500);
    }
    assert_eq!(block_on(mi.fs.dir_index_stats()).0, 1);
    same_dirs(&both, &dirs);
    mi.unmount(&img);
    ms.unmount(&scan_img);
    fsck(&img);
    fsck(&scan_img);
}

#[test]
fn ten_thousand_creates_and_unlinks_in_one_directory() {
    if !have_tools() {
        return;
    }
    for cfg in [CONFIGS[0], CONFIGS[3]] {
        let t = Tmp::new("dirindex-10k");
        let img = t.path("img");
        mkfs(&img, cfg, 65536, &[]);
        let m = mount(&img);
        let d = m.mkdir(2, "files");
        for i in 0..10_000 {
            m.create_file(d, &format!("f{i:05}"), b"");
        }
        assert_eq!(
            block_on(m.fs.create(d, b"f04242", NodeKind::File, 0o644, 0, 0)),
            Err(Errno::EEXIST)
        );
        assert_eq!(m.names(d).len(), 10_000);
        for i in (0..10_000).step_by(2) {
            block_on(m.fs.unlink(d, format!("f{i:05}").as_bytes())).unwrap();
        }
        // The gaps are used again before the directory grows.
        let size = block_on(m.fs.metadata(d)).unwrap().size;
        for i in 0..5_000 {
            m.create_file(d, &format!("g{i:05}"), b"");
        }
        assert_eq!(block_on(m.fs.metadata(d)).unwrap().size, size);
        assert_eq!(block_on(m.fs.dir_index_stats()), (1, 10_002));
        assert_eq!(m.names(d).len(), 10_000);
        m.unmount(&img);
        fsck(&img);
    }
}
