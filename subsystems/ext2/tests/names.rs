//! The name cache: after random creates, links, unlinks, renames (plain,
//! NOREPLACE, EXCHANGE, over files and empty directories, across directories),
//! mkdirs and rmdirs, every answer the cache gives without the lock must be what
//! the directory holds; with a small memory bound too.

mod common;
use common::*;

use kestrel_abi::Errno;
use kestrel_abi::fs::{RENAME_EXCHANGE, RENAME_NOREPLACE};
use kestrel_vfs::NodeKind;

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

/// The directory's names and numbers, from the disk (readdir).
fn truth(m: &Mounted, dir: u32) -> Option<std::collections::BTreeMap<String, u32>> {
    let mut v = std::collections::BTreeMap::new();
    block_on(m.fs.readdir(dir, 0, &mut |e| {
        v.insert(String::from_utf8(e.name).unwrap(), e.ino as u32);
        true
    }))
    .ok()?;
    Some(v)
}

/// Every cached answer about `names` in `dirs` agrees with the directories.
fn check(m: &Mounted, dirs: &[u32], names: &[String]) -> usize {
    let mut answered = 0;
    for &d in dirs {
        let Some(t) = truth(m, d) else { continue };
        for n in names {
            if let Some(r) = m.fs.cached_lookup(d, n.as_bytes()) {
                answered += 1;
                match (r, t.get(n)) {
                    (Ok(ino), Some(&want)) => {
                        assert_eq!(ino, want, "{n} in {d}");
                        m.fs.release(ino);
                    }
                    (Err(Errno::ENOENT), None) => {}
                    (r, want) => panic!("{n} in {d}: cached {r:?}, directory {want:?}"),
                }
            }
        }
    }
    answered
}

fn run(cfg: Cfg, seed: u64, ops: usize, bound: Option<usize>) {
    let t = Tmp::new("names");
    let img = t.path("img");
    mkfs(&img, cfg, 16 * 1024, &[]);
    let m = mount(&img);
    if let Some(b) = bound {
        m.fs.set_name_cache_bytes(b);
    }
    let mut dirs = vec![2u32, m.mkdir(2, "a"), m.mkdir(2, "b")];
    let sub = m.mkdir(dirs[1], "sub");
    dirs.push(sub);
    let names: Vec<String> = (0..40).map(|i| format!("n{i}")).collect();
    let mut rng = Rng(seed);
    let mut answered = 0;
    for i in 0..ops {
        let d = dirs[rng.below(dirs.len())];
        let d2 = dirs[rng.below(dirs.len())];
        let a = names[rng.below(names.len())].as_bytes();
        let b = names[rng.below(names.len())].as_bytes();
        let fs = &m.fs;
        match rng.below(100) {
            0..=29 => {
                if let Ok(i) = block_on(fs.create(d, a, NodeKind::File, 0o644, 0, 0)) {
                    fs.release(i);
                }
            }
            30..=49 => {
                let _ = block_on(fs.unlink(d, a));
            }
            50..=64 => {
                let flags = [0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE][rng.below(4)];
                let _ = block_on(fs.rename(d, a, d2, b, flags));
            }
            65..=79 => {
                if let Ok(i) = block_on(fs.lookup(d, a)) {
                    fs.release(i);
                }
            }
            80..=84 => {
                if let Ok(i) = block_on(fs.lookup(d, a)) {
                    fs.release(i);
                    let _ = block_on(fs.link(d2, b, i));
                }
            }
            85..=91 => {
                if let Ok(i) = block_on(fs.create(d, a, NodeKind::Dir, 0o755, 0, 0)) {
                    fs.release(i);
                }
            }
            92..=95 => {
                let _ = block_on(fs.create(d, a, NodeKind::Symlink(b.to_vec()), 0o777, 0, 0))
                    .map(|i| fs.release(i));
            }
            _ => {
                let _ = block_on(fs.rmdir(d, a));
            }
        }
        // Directories made on the way are looked into too (their numbers
        // come and go with mkdir and rmdir).
        if i % 50 == 0 {
            for &d in &dirs.clone() {
                if let Some(t) = truth(&m, d) {
                    for (n, ino) in t {
                        if n != "."
                            && n != ".."
                            && !dirs.contains(&ino)
                            && dirs.len() < 12
                            && block_on(fs.metadata(ino)).is_ok_and(|md| md.is_dir())
                        {
                            dirs.push(ino);
                        }
                    }
                }
            }
        }
        answered += check(&m, &dirs, &names);
    }
    // The cache answered most questions, and stayed within its bound.
    assert!(answered > ops * 10, "{answered}");
    let (_, _, bytes, hits, _) = m.fs.name_cache_stats();
    assert!(hits > 0);
    if let Some(b) = bound {
        assert!(bytes <= b, "{bytes} > {b}");
    }
    m.unmount(&img);
    fsck(&img);
}

#[test]
fn cached_answers_agree_with_the_directories() {
    if !have_tools() {
        return;
    }
    run(CONFIGS[0], 0x5eed_0001, 4000, None);
    run(CONFIGS[3], 0x5eed_0002, 4000, None);
}

#[test]
fn a_small_bound_drops_names_and_still_agrees() {
    if !have_tools() {
        return;
    }
    run(CONFIGS[1], 0x5eed_0003, 3000, Some(1500));
}

#[test]
fn a_new_directory_answers_creates_without_the_disk() {
    if !have_tools() {
        return;
    }
    let t = Tmp::new("names-new");
    let img = t.path("img");
    mkfs(&img, CONFIGS[2], 16 * 1024, &[]);
    let m = mount(&img);
    let d = m.mkdir(2, "files");
    // Looked up in the root already (the mkdir added it).
    let got = m.fs.cached_lookup(2, b"files").unwrap().unwrap();
    m.fs.release(got);
    assert_eq!(got, d);
    for i in 0..500 {
        let n = format!("f{i}");
        assert_eq!(
            m.fs.cached_lookup(d, n.as_bytes()),
            Some(Err(Errno::ENOENT))
        );
        m.create_file(d, &n, b"");
        let got = m.fs.cached_lookup(d, n.as_bytes()).unwrap().unwrap();
        m.fs.release(got);
    }
    for i in 0..500 {
        block_on(m.fs.unlink(d, format!("f{i}").as_bytes())).unwrap();
    }
    assert_eq!(m.fs.cached_lookup(d, b"f7"), Some(Err(Errno::ENOENT)));
    block_on(m.fs.rmdir(2, b"files")).unwrap();
    assert_eq!(m.fs.cached_lookup(2, b"files"), Some(Err(Errno::ENOENT)));
    // The freed directory's names went with it.
    assert_eq!(m.fs.cached_lookup(d, b"f7"), None);
    assert!(m.fs.shrink_names() > 0);
    assert_eq!(m.fs.cached_lookup(2, b"files"), None);
    m.unmount(&img);
    fsck(&img);
}
