//! A Debian root file system: `cargo xtask rootfs` builds an ext2 image of Debian
//! bookworm with debootstrap, and `cargo xtask run --root debian` boots it from
//! virtio-blk with bash as the shell (docs/storage.md, "Debian root").
//!
//! Everything is cached under `target/kestrel/rootfs/`: `tree/` is what
//! debootstrap made (made again only when it is missing), `debian.img` the ext2
//! image made from it with `mkfs.ext2 -d`. The image is the guest's disk, used in
//! place and read-write, so what the guest writes stays; `cargo xtask rootfs
//! --rebuild` makes it again from the tree, and removing the folder starts over.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::Opts;
use crate::build;
use crate::ext2;
use crate::initramfs;
use crate::qemu::{self, Boot};

/// The Debian release.
const SUITE: &str = "bookworm";

/// Packages on top of `--variant=minbase`.
const INCLUDE: &str = "python3,xz-utils,procps,less,file";

/// Where debootstrap fetches from when the host names no Debian mirror.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Free space the image has beyond what the tree needs.
const FREE_MIB: u64 = 256;

/// What the guest runs as init. With an argument (base64, so that any command
/// survives the kernel command line's word splitting), it runs that command with
/// `bash -c` and exits with its status; without, an interactive bash. When init
/// exits, Kestrel unmounts the disk cleanly and powers off.
const INIT: &str = r#"#!/bin/bash
# Kestrel's init for the Debian root (made by `cargo xtask rootfs`).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=${TERM:-linux} LANG=C.UTF-8 SHELL=/bin/bash
# The kernel moved /dev, /proc and /sys here from the initramfs.
mounted() { grep -q " $1 " /proc/mounts; }
mounted /proc || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mounted /dev/shm || mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mounted /tmp || mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mounted /run || mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir -p /run/lock
hostname kestrel 2>/dev/null
cd /root
if [ $# -gt 0 ]; then
    bash -c "$(printf %s "$1" | base64 -d)"
    status=$?
else
    echo "Debian $(cat /etc/debian_version) on Kestrel; exit (or Ctrl-D) powers off"
    bash -l
    status=$?
fi
sync
exit $status
"#;

/// The paths of the cache.
pub struct Paths {
    pub dir: PathBuf,
    pub tree: PathBuf,
    pub image: PathBuf,
}

pub fn paths() -> Paths {
    let dir = build::out_dir().join("rootfs");
    Paths {
        tree: dir.join("tree"),
        image: dir.join("debian.img"),
        dir,
    }
}

/// The Debian mirror named in the host's apt sources (one-line `deb URI SUITE ...`
/// in sources.list, or deb822 `URIs:` in *.sources), the first one that is not
/// the security archive.
pub fn mirror_from_sources(texts: &[String]) -> Option<String> {
    let good = |uri: &str| {
        (uri.starts_with("http://") || uri.starts_with("https://"))
            && !uri.contains("security")
            && uri.contains("debian")
    };
    for text in texts {
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("deb ") {
                // `deb [options] URI SUITE COMPONENTS...`
                let mut words = rest.split_whitespace();
                let mut uri = words.next();
                if uri.is_some_and(|u| u.starts_with('[')) {
                    // Options end at the word that ends with `]`.
                    uri = if uri.is_some_and(|u| u.ends_with(']')) {
                        words.next()
                    } else {
                        words.find(|w| w.ends_with(']')).and_then(|_| words.next())
                    };
                }
                if let Some(uri) = uri.filter(|u| good(u)) {
                    return Some(uri.trim_end_matches('/').to_string());
                }
            } else if let Some(rest) = line.strip_prefix("URIs:")
                && let Some(uri) = rest.split_whitespace().find(|u| good(u))
            {
                return Some(uri.trim_end_matches('/').to_string());
            }
        }
    }
    None
}

fn host_mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
            .collect();
        more.sort();
        files.extend(more);
    }
    let texts: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    mirror_from_sources(&texts).unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Bytes the tree takes, in MiB, rounded up (`du`, which counts blocks).
fn tree_mib(tree: &Path) -> Result<u64, String> {
    let out = Command::new("du")
        .args(["-s", "-m", "-x"])
        .arg(tree)
        .output()
        .map_err(|e| format!("du: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("du {}: no size", tree.display()))
}

/// Runs debootstrap into `tree` (through a `.partial` folder, so that an
/// interrupted run is never taken for a finished one).
fn debootstrap(tree: &Path) -> Result<(), String> {
    let partial = tree.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    let mirror = host_mirror();
    println!(
        "xtask: debootstrap --variant=minbase --include={INCLUDE} {SUITE} from {mirror} \
         (a few minutes; cached in {})",
        tree.display()
    );
    build::run(
        Command::new("debootstrap")
            .args(["--variant=minbase", &format!("--include={INCLUDE}"), SUITE])
            .arg(&partial)
            .arg(&mirror),
    )?;
    std::fs::rename(&partial, tree).map_err(|e| format!("renaming {}: {e}", partial.display()))
}

/// Kestrel's additions to the tree: init, the host name, root's shell prompt.
fn customise(tree: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let init = tree.join("sbin/kestrel-init");
    std::fs::write(&init, INIT).map_err(|e| format!("{}: {e}", init.display()))?;
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    std::fs::write(tree.join("etc/hostname"), "kestrel\n").map_err(|e| e.to_string())?;
    // debootstrap copied the host's resolv.conf, whose server the guest cannot
    // reach; QEMU's user network answers DNS at 10.0.2.3 (--net user).
    let resolv = tree.join("etc/resolv.conf");
    let _ = std::fs::remove_file(&resolv);
    std::fs::write(&resolv, crate::initramfs::RESOLV_CONF).map_err(|e| e.to_string())?;
    std::fs::write(tree.join("etc/hosts"), crate::initramfs::HOSTS).map_err(|e| e.to_string())?;
    std::fs::write(
        tree.join("etc/fstab"),
        "# Kestrel mounts /dev/vda as / (root=/dev/vda); /sbin/kestrel-init mounts the rest\n",
    )
    .map_err(|e| e.to_string())?;
    for d in ["dev", "proc", "sys", "tmp", "run", "root"] {
        std::fs::create_dir_all(tree.join(d)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Makes sure the tree and the image exist (`rebuild`: the image is made again
/// from the tree) and returns the image's path.
pub fn ensure_image(rebuild: bool) -> Result<PathBuf, String> {
    let p = paths();
    if p.image.is_file() && !rebuild {
        return Ok(p.image);
    }
    crate::deps::ensure_tools(&[("debootstrap", "debootstrap"), ("mke2fs", "e2fsprogs")])?;
    if !is_root() {
        return Err(
            "building the Debian root needs root (debootstrap makes device nodes and \
             root-owned files): run `sudo cargo xtask rootfs`"
                .into(),
        );
    }
    std::fs::create_dir_all(&p.dir).map_err(|e| e.to_string())?;
    if !p.tree.is_dir() {
        debootstrap(&p.tree)?;
    }
    customise(&p.tree)?;
    let mib = tree_mib(&p.tree)? * 11 / 10 + FREE_MIB;
    println!(
        "xtask: mkfs.ext2 -d {} -> {} ({mib} MiB)",
        p.tree.display(),
        p.image.display()
    );
    let tmp = p.image.with_extension("img.tmp");
    ext2::make_image(&tmp, mib, 4096, Some(&p.tree))?;
    std::fs::rename(&tmp, &p.image).map_err(|e| e.to_string())?;
    Ok(p.image)
}

/// The kernel command line that boots the image with `cmd` (or a shell): `first`,
/// the root, `--append`'s words, then init's argument after `--`.
pub fn cmdline(opts: &Opts, first: &str, cmd: Option<&str>) -> String {
    let mut line = qemu::cmdline(
        opts,
        &format!("{first} root=/dev/vda init=/sbin/kestrel-init"),
    );
    if let Some(c) = cmd {
        line.push_str(" -- ");
        line.push_str(&base64(c.as_bytes()));
    }
    line.trim_start().to_string()
}

/// Standard base64 (the guest decodes it with coreutils' `base64 -d`).
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The options for a boot from the image: it is the first disk, and Debian's
/// programs want more memory than the busybox initramfs.
pub fn boot_opts(opts: &Opts, image: &Path) -> Opts {
    let mut o = opts.clone();
    o.disks.insert(
        0,
        crate::Disk {
            path: image.to_path_buf(),
            read_only: false,
        },
    );
    if !opts.mem_given {
        o.mem = "1G".into();
    }
    o
}

/// After a boot: the image must be clean.
pub fn check_clean(image: &Path) -> Result<(), String> {
    ext2::fsck(image)?;
    if !ext2::clean_state(image) {
        return Err(format!(
            "{}: the superblock is not marked clean",
            image.display()
        ));
    }
    Ok(())
}

/// The commands `cargo xtask rootfs --check` runs in one boot, each with what its
/// output must be (a line equal to it, or a number, for counts, above a floor).
const CHECKS: &[(&str, &str, Expect)] = &[
    ("ls", "ls -l /usr/bin | wc -l", Expect::AtLeast(200)),
    (
        "python3_sqlite",
        "rm -f /root/t.db; python3 -c 'import sqlite3; c=sqlite3.connect(\"/root/t.db\"); \
         c.execute(\"create table t(x)\"); c.execute(\"insert into t values (1)\"); c.commit(); \
         print(c.execute(\"select * from t\").fetchall())'",
        Expect::Line("[(1,)]"),
    ),
    ("dpkg", "dpkg -l | wc -l", Expect::AtLeast(100)),
    (
        "tar_gzip",
        "tar czf /tmp/x.tgz /etc 2>/dev/null && tar tzf /tmp/x.tgz | wc -l",
        Expect::AtLeast(100),
    ),
    (
        "gzip",
        "seq 100000 > /root/s && gzip -f /root/s && gzip -t /root/s.gz && zcat /root/s.gz | tail -1; rm -f /root/s.gz",
        Expect::Line("100000"),
    ),
    (
        "find_so",
        "find /usr -name '*.so*' | wc -l",
        Expect::AtLeast(50),
    ),
];

#[derive(Debug, Clone, Copy)]
enum Expect {
    Line(&'static str),
    AtLeast(u64),
}

/// The shell script that runs [`CHECKS`], each between markers.
fn check_script() -> String {
    let mut s = String::new();
    for (name, cmd, _) in CHECKS {
        s.push_str(&format!(
            "echo '>>> {name}'; ( {cmd} ) 2>&1; echo \"<<< {name} $?\"\n"
        ));
    }
    s
}

/// Whether the output of the check `name` (the lines between its markers, and the
/// exit status) is what it should be.
fn judge(lines: &[String], name: &str, expect: Expect) -> Result<(), String> {
    let start = format!(">>> {name}");
    let Some(i) = lines.iter().position(|l| l.trim_end() == start) else {
        return Err("never started".into());
    };
    let end = format!("<<< {name} ");
    let Some(j) = lines[i..].iter().position(|l| l.starts_with(&end)) else {
        return Err("never finished".into());
    };
    let out = &lines[i + 1..i + j];
    let status = lines[i + j][end.len()..].trim();
    if status != "0" {
        return Err(format!("exit status {status}: {out:?}"));
    }
    let ok = match expect {
        Expect::Line(want) => out.iter().any(|l| l.trim_end() == want),
        Expect::AtLeast(n) => out
            .iter()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .any(|v| v >= n),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {expect:?}, got {out:?}"))
    }
}

/// Boots `image` with the artefacts `a` (the kernel), runs [`CHECKS`], then checks
/// that the image is clean; prints a PASS or FAIL line for each and returns the
/// counts.
fn check_image(opts: &Opts, a: &build::Artefacts, image: &Path) -> Result<(u32, u32), String> {
    let mut a = a.clone();
    a.initramfs = Some(initramfs::write(
        &initramfs::base()?,
        "initramfs-rootfs.cpio",
    )?);
    let o = boot_opts(opts, image);
    let line = cmdline(&o, "quiet", Some(&check_script()));
    let c = qemu::capture(
        qemu::command(&o, &a, &Boot::Direct { cmdline: line }),
        Duration::from_secs(600),
        false,
    )?;
    let (mut passed, mut failed) = (0, 0);
    let mut report = |name: &str, r: Result<(), String>| match r {
        Ok(()) => {
            passed += 1;
            println!("PASS rootfs.{name}");
        }
        Err(e) => {
            failed += 1;
            println!("FAIL rootfs.{name}: {e}");
        }
    };
    for (name, _, expect) in CHECKS {
        report(name, judge(&c.lines, name, *expect));
    }
    report("e2fsck_clean_after_poweroff", check_clean(image));
    if failed > 0 {
        for l in c
            .lines
            .iter()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            println!("    | {l}");
        }
    }
    Ok((passed, failed))
}

/// `cargo xtask rootfs --check`: boots the image itself (it is the guest's disk,
/// and stays so) and runs the checks. Needs the network the first time, to make
/// the image.
fn check(opts: &Opts, image: &Path) -> Result<u8, String> {
    let a = build::build_all(opts)?;
    let (passed, failed) = check_image(opts, &a, image)?;
    println!("{passed} passed, {failed} failed");
    Ok(u8::from(failed > 0))
}

/// The checks in `cargo xtask test`, on a copy of the cached image (so the test
/// leaves the user's disk alone), or one SKIP line where there is no image:
/// making one needs root and the network, which the tests do not.
pub fn test_check(opts: &Opts, a: &build::Artefacts) -> Result<(u32, u32), String> {
    let p = paths();
    if !p.image.is_file() {
        println!(
            "SKIP rootfs: no Debian image at {} (`sudo cargo xtask rootfs` makes it)",
            p.image.display()
        );
        return Ok((0, 0));
    }
    let copy = p.dir.join("test.img");
    build::run(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(&p.image)
            .arg(&copy),
    )?;
    let r = check_image(opts, a, &copy);
    let _ = std::fs::remove_file(&copy);
    r
}

/// `cargo xtask run --root debian [--cmd CMD]`: boots the image (made first if
/// missing), then checks it with `e2fsck -fn`.
pub fn boot(opts: &Opts, root: &str) -> Result<u8, String> {
    if root != "debian" {
        return Err(format!("--root {root}: the only root is `debian`"));
    }
    if !opts.with.is_empty() {
        return Err(
            "--with puts files in the initramfs, which the Debian root hides: \
             copy them into target/kestrel/rootfs/tree and run `cargo xtask rootfs --rebuild`"
                .into(),
        );
    }
    let image = ensure_image(false)?;
    let mut a = build::build_all(opts)?;
    // The kernel starts from the initramfs, then mounts the disk over `/` and
    // moves /dev, /proc and /sys onto it.
    a.initramfs = Some(initramfs::write(
        &initramfs::base()?,
        "initramfs-rootfs.cpio",
    )?);
    let o = boot_opts(opts, &image);
    let code = match &opts.cmd {
        Some(cmd) => qemu::run_cmd(&o, &a, &cmdline(&o, "quiet", Some(cmd)))?,
        None => qemu::interactive(&o, &a, &cmdline(&o, "", None))?,
    };
    match check_clean(&image) {
        Ok(()) => {
            eprintln!("xtask: {}: e2fsck -fn finds it clean", image.display());
            Ok(code)
        }
        Err(e) => {
            eprintln!("xtask: after the boot, {e}");
            Ok(code.max(1))
        }
    }
}

/// `cargo xtask rootfs [--rebuild] [--check]`.
pub fn run(opts: &Opts) -> Result<u8, String> {
    let image = ensure_image(opts.rebuild)?;
    println!(
        "xtask: Debian root: {} (boot it with `cargo xtask run --root debian`)",
        image.display()
    );
    if opts.check {
        return check(opts, &image);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_comes_from_one_line_or_deb822_sources() {
        let one = "# comment\ndeb [arch=amd64] http://ftp.fr.debian.org/debian/ bookworm main\n\
                   deb http://security.debian.org/debian-security bookworm-security main\n";
        assert_eq!(
            mirror_from_sources(&[one.to_string()]).as_deref(),
            Some("http://ftp.fr.debian.org/debian")
        );
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: x\n\n\
                      Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n";
        assert_eq!(
            mirror_from_sources(&[deb822.to_string()]).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(mirror_from_sources(&["deb cdrom:[x]/ y".to_string()]), None);
    }

    #[test]
    fn base64_matches_coreutils() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"echo 'a \"b\"'"), "ZWNobyAnYSAiYiIn");
    }

    #[test]
    fn checks_are_judged_by_their_markers() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let out = l(&[
            ">>> ls", "  512", "<<< ls 0", ">>> py", "[(1,)]", "<<< py 1",
        ]);
        assert!(judge(&out, "ls", Expect::AtLeast(200)).is_ok());
        assert!(judge(&out, "ls", Expect::AtLeast(600)).is_err());
        assert!(judge(&out, "py", Expect::Line("[(1,)]")).is_err());
        assert!(judge(&out, "gone", Expect::Line("x")).is_err());
    }
}
