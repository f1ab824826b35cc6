//! Shared by the host tests: a `block_on`, images made by e2fsprogs in a temporary
//! directory, and checks with `e2fsck` and `debugfs`.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};

use kestrel_abi::Errno;
use kestrel_ext2::{BlockIo, Ext2, MemDisk, MountOptions};

/// Runs a future to completion. The in-memory disk completes at once and nothing
/// contends for the file system's lock, so a few polls always do.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete");
}

/// Whether e2fsprogs is here; prints a note when it is not (the test then passes
/// without checking anything).
pub fn have_tools() -> bool {
    let ok = ["mkfs.ext2", "debugfs", "e2fsck"]
        .iter()
        .all(|t| Command::new(t).arg("-V").output().is_ok());
    if !ok {
        eprintln!("note: e2fsprogs (mkfs.ext2, debugfs, e2fsck) missing: test skipped");
    }
    ok
}

/// A temporary directory, removed when dropped.
pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "kestrel-ext2-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One file system configuration: block size and inode size.
#[derive(Debug, Clone, Copy)]
pub struct Cfg {
    pub bs: u32,
    pub isz: u32,
}

pub const CONFIGS: [Cfg; 4] = [
    Cfg { bs: 1024, isz: 128 },
    Cfg { bs: 1024, isz: 256 },
    Cfg { bs: 4096, isz: 128 },
    Cfg { bs: 4096, isz: 256 },
];

/// Makes an image with `mkfs.ext2 -b BS -I ISZ [extra] IMG SIZE_KiB`.
pub fn mkfs(img: &Path, cfg: Cfg, size_kib: u64, extra: &[&str]) {
    let out = Command::new("mkfs.ext2")
        .args([
            "-q",
            "-F",
            "-b",
            &cfg.bs.to_string(),
            "-I",
            &cfg.isz.to_string(),
        ])
        .args(extra)
        .arg(img)
        .arg(format!("{size_kib}k"))
        .env("MKE2FS_CONFIG", "/etc/mke2fs.conf")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mkfs.ext2 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs debugfs commands (writable) on an image.
pub fn debugfs_w(img: &Path, cmds: &[&str]) {
    let script = img.with_extension("cmds");
    std::fs::write(&script, cmds.join("\n") + "\n").unwrap();
    let out = Command::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&script)
        .arg(img)
        .output()
        .unwrap();
    assert!(out.status.success(), "debugfs failed");
    let err = String::from_utf8_lossy(&out.stderr);
    // debugfs reports failures of single commands on stderr but exits 0.
    let bad: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("debugfs ") && !l.trim().is_empty())
        .collect();
    assert!(bad.is_empty(), "debugfs: {}", bad.join("\n"));
}

/// One debugfs request's output (`debugfs -R CMD IMG`).
pub fn debugfs(img: &Path, cmd: &str) -> Vec<u8> {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(cmd)
        .arg(img)
        .output()
        .unwrap();
    out.stdout
}

/// A file's content as debugfs reads it.
pub fn debugfs_cat(img: &Path, path: &str) -> Vec<u8> {
    debugfs(img, &format!("cat {path}"))
}

/// `e2fsck -fn`: must find nothing wrong.
pub fn fsck(img: &Path) {
    let out = Command::new("e2fsck").arg("-fn").arg(img).output().unwrap();
    assert!(
        out.status.success(),
        "e2fsck -fn found problems (exit {:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A mounted image: the file system and the in-memory disk it runs on.
pub struct Mounted {
    pub fs: Arc<Ext2>,
    pub disk: Arc<MemDisk>,
}

fn wall_clock() -> kestrel_abi::time::Timespec {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    kestrel_abi::time::Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

pub fn mount_opts(img: &Path, opts: MountOptions) -> Result<Mounted, kestrel_ext2::MountError> {
    kestrel_vfs::set_clock(wall_clock);
    let disk = Arc::new(MemDisk::new(std::fs::read(img).unwrap()));
    let fs = block_on(Ext2::mount(disk.clone() as Arc<dyn BlockIo>, opts))?;
    Ok(Mounted { fs, disk })
}

pub fn mount(img: &Path) -> Mounted {
    let m = mount_opts(img, MountOptions::default()).unwrap();
    assert!(!m.fs.read_only());
    m
}

impl Mounted {
    /// Unmounts cleanly and writes the disk back to the image file.
    pub fn unmount(self, img: &Path) {
        block_on(self.fs.unmount()).unwrap();
        self.save(img);
    }

    /// Writes the disk as it is (no unmount: a crash) to the image file.
    pub fn save(&self, img: &Path) {
        std::fs::write(img, self.disk.contents()).unwrap();
    }

    /// The inode at an absolute path (following no symlinks), released at once.
    pub fn walk(&self, path: &str) -> Result<u32, Errno> {
        let mut ino = kestrel_ext2::ROOT_INO;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let next = block_on(self.fs.lookup(ino, comp.as_bytes()))?;
            self.fs.release(next);
            ino = next;
        }
        Ok(ino)
    }

    /// The whole content of a file.
    pub fn read_all(&self, ino: u32) -> Vec<u8> {
        let size = block_on(self.fs.metadata(ino)).unwrap().size as usize;
        let mut buf = vec![0u8; size];
        let mut done = 0;
        while done < size {
            let n = block_on(self.fs.read(ino, done as u64, &mut buf[done..])).unwrap();
            assert!(n > 0);
            done += n;
        }
        buf
    }

    /// The names in a directory (without "." and "..").
    pub fn names(&self, dir: u32) -> Vec<String> {
        let mut v = Vec::new();
        block_on(self.fs.readdir(dir, 0, &mut |e| {
            v.push(String::from_utf8(e.name).unwrap());
            true
        }))
        .unwrap();
        v.retain(|n| n != "." && n != "..");
        v.sort();
        v
    }

    /// Creates a file (released at once) and writes `data` into it.
    pub fn create_file(&self, dir: u32, name: &str, data: &[u8]) -> u32 {
        let ino = block_on(self.fs.create(
            dir,
            name.as_bytes(),
            kestrel_vfs::NodeKind::File,
            0o644,
            0,
            0,
        ))
        .unwrap();
        self.fs.release(ino);
        let mut done = 0;
        while done < data.len() {
            done += block_on(self.fs.write(ino, done as u64, &data[done..])).unwrap();
        }
        ino
    }

    pub fn mkdir(&self, dir: u32, name: &str) -> u32 {
        let ino = block_on(self.fs.create(
            dir,
            name.as_bytes(),
            kestrel_vfs::NodeKind::Dir,
            0o755,
            0,
            0,
        ))
        .unwrap();
        self.fs.release(ino);
        ino
    }

    pub fn free_blocks(&self) -> u64 {
        block_on(self.fs.statfs()).unwrap().f_bfree
    }
}

/// Bytes that differ from block to block and file to file.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
