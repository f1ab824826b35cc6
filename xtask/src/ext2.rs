//! ext2 disk images for tests: made with e2fsprogs' `mkfs.ext2` on the host,
//! checked with `e2fsck -fn` after the guest unmounted them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::qemu::{self, Boot};
use crate::{Opts, build, initramfs, userland};

/// The userland tests that run a second time on ext2 (with `KT_TMPDIR` naming a
/// directory there): the file-system tests whose cases hold on Linux's ext2 as on
/// its tmpfs. fs_extra is left out: it checks tmpfs's own answers (fallocate,
/// statfs) and puts a tmpfs on /tmp for them.
pub const SUITE: &[&str] = &[
    "fs_file",
    "fs_dir",
    "fs_stat",
    "fs_attr",
    "fs_copy",
    "xattr",
    "inode_flags",
    "vm",
    "inotify",
    "fcntl_lock",
    "fifo",
    "fs_pagecache",
    "newcalls",
    "namecache",
];

/// An e2fsprogs program: in /usr/sbin or /sbin, which a user's PATH may lack.
pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// Makes an empty ext2 file system of `mib` MiB with `block_size`-byte blocks
/// at `path` (with `from`, holding that directory's files, `mkfs.ext2 -d`).
pub fn make_image(
    path: &Path,
    mib: u64,
    block_size: u32,
    from: Option<&Path>,
) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    let mut c = Command::new(tool("mkfs.ext2"));
    c.args(["-q", "-F", "-b", &block_size.to_string()]);
    if let Some(d) = from {
        c.arg("-d").arg(d);
    }
    c.arg(path).arg(format!("{mib}M"));
    let out = c.output().map_err(|e| format!("mkfs.ext2: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mkfs.ext2 {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// `e2fsck -fn`: Ok(()) for a clean file system, else what it said.
pub fn fsck(path: &Path) -> Result<(), String> {
    let out = Command::new(tool("e2fsck"))
        .arg("-fn")
        .arg(path)
        .output()
        .map_err(|e| format!("e2fsck: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "e2fsck -fn {} exited {:?}: {}{}",
            path.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether the superblock says the file system was cleanly unmounted.
pub fn clean_state(path: &Path) -> bool {
    Command::new(tool("dumpe2fs"))
        .arg("-h")
        .arg(path)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("Filesystem state:") && l.trim_end().ends_with(" clean"))
        })
        .unwrap_or(false)
}

/// Corrupted images: (file name, how it is broken, the bytes to write where).
fn corrupt(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    // 1. The superblock's magic number zeroed.
    let p = dir.join("ext2-bad-magic.img");
    make_image(&p, 8, 1024, None)?;
    let mut b = std::fs::read(&p).map_err(|e| e.to_string())?;
    b[1024 + 56] = 0;
    b[1024 + 57] = 0;
    std::fs::write(&p, &b).map_err(|e| e.to_string())?;
    out.push(p);
    // 2. The group descriptors (block 2 with 1 KiB blocks) overwritten with
    //    garbage: bitmaps and inode tables past the end of the disk.
    let p = dir.join("ext2-bad-groups.img");
    make_image(&p, 8, 1024, None)?;
    let mut b = std::fs::read(&p).map_err(|e| e.to_string())?;
    for (i, x) in b[2048..3072].iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(151).wrapping_add(7) | 0x80;
    }
    std::fs::write(&p, &b).map_err(|e| e.to_string())?;
    out.push(p);
    // 3. The root directory's first block (found through its inode) filled with
    //    entries of impossible lengths.
    let p = dir.join("ext2-bad-dir.img");
    make_image(&p, 8, 1024, None)?;
    let mut b = std::fs::read(&p).map_err(|e| e.to_string())?;
    let le32 =
        |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
    let inode_table = le32(&b, 2048 + 8);
    let inode_size = u16::from_le_bytes([b[1024 + 88], b[1024 + 89]]) as usize;
    let root = inode_table * 1024 + inode_size; // inode 2
    let first_block = le32(&b, root + 40);
    for chunk in b[first_block * 1024..(first_block + 1) * 1024].chunks_mut(8) {
        chunk.copy_from_slice(&[2, 0, 0, 0, 3, 0, 0xff, 1]);
    }
    std::fs::write(&p, &b).map_err(|e| e.to_string())?;
    out.push(p);
    Ok(out)
}

/// The guest's side: mounts both images, runs [`SUITE`] in a directory on each,
/// checks a read-only mount, unmounts, and tries the corrupted images.
const SCRIPT: &str = "\
mkdir -p /mnt/a /mnt/b /mnt/c; \
mount -t ext2 /dev/vda /mnt/a && echo 'ext2 mounted a'; \
mount -t ext2 /dev/vdb /mnt/b && echo 'ext2 mounted b'; \
grep -q '^/dev/vda /mnt/a ext2 rw' /proc/mounts && echo 'ext2 in proc mounts'; \
for m in a b; do mkdir /mnt/$m/t && chmod 1777 /mnt/$m/t; echo \"== ext2 suite on /mnt/$m\"; \
KT_TMPDIR=/mnt/$m/t /tests/runner /tests/ext2; done; \
mkdir /mnt/a/kestrel-raw-read-sees-this && grep -q kestrel-raw-read-sees-this /dev/vda \
&& echo 'ext2 raw disk read sees the mounted fs'; \
touch /mnt/a/kestrel-raw-read-sees-file && grep -q kestrel-raw-read-sees-file /dev/vda \
&& echo 'ext2 raw disk read sees a batched create'; \
echo persisted > /mnt/a/note; sync; \
/tests/tools/mapwrite /mnt/a/mapped map-persisted; \
cd /mnt/a; umount /mnt/a; echo \"ext2 umount while cwd inside $?\"; cd /; \
umount /mnt/a && echo 'ext2 unmounted a'; umount /mnt/b && echo 'ext2 unmounted b'; \
mount -t ext2 -o ro /dev/vda /mnt/a && echo \"ext2 ro read $(cat /mnt/a/note)\"; \
echo \"ext2 ro mapped $(cat /mnt/a/mapped)\"; \
touch /mnt/a/x 2>/dev/null; echo \"ext2 ro write status $?\"; \
mount -o remount,rw /mnt/a && touch /mnt/a/x && echo 'ext2 remount rw writes'; \
mount -o remount,ro /mnt/a && { touch /mnt/a/y 2>/dev/null || echo 'ext2 remount ro refuses writes'; }; \
umount /mnt/a; \
for d in vdc vdd vde; do mount -t ext2 /dev/$d /mnt/c 2>/dev/null; s=$?; \
ls -R /mnt/c >/dev/null 2>&1; cat /mnt/c/* >/dev/null 2>&1; echo hi > /mnt/c/new 2>/dev/null; \
umount /mnt/c 2>/dev/null; echo \"ext2 corrupt $d mount status $s\"; done; \
echo 'ext2 corrupt done'";

/// Runs the file-system tests on ext2 (1 KiB and 4 KiB blocks) and the mount,
/// unmount and bad-image checks; then `e2fsck -fn` on the host.
pub fn check(opts: &Opts, a: &build::Artefacts) -> Result<(u32, u32), String> {
    let dir = build::out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (one, four) = (dir.join("ext2-1k.img"), dir.join("ext2-4k.img"));
    make_image(&one, 96, 1024, None)?;
    make_image(&four, 96, 4096, None)?;
    let bad = corrupt(&dir)?;

    let (runner, tests) = userland::build()?;
    let mut tree = initramfs::base()?;
    tree.add_host(&runner, "/tests/runner")?;
    tree.add_host(&userland::build_tool("mapwrite")?, "/tests/tools/mapwrite")?;
    for (name, path) in &tests {
        if SUITE.contains(&name.as_str()) {
            tree.add_host(path, &format!("/tests/ext2/{name}"))?;
        }
    }
    initramfs::add_cmd(&mut tree, SCRIPT);
    let mut ea = a.clone();
    ea.initramfs = Some(initramfs::write(&tree, "initramfs-ext2.cpio")?);
    let mut o = opts.clone();
    o.mem = "512M".into();
    o.disks = [&one, &four]
        .into_iter()
        .chain(bad.iter())
        .map(|p| crate::Disk {
            path: p.clone(),
            read_only: false,
        })
        .collect();
    let c = qemu::capture(
        qemu::command(
            &o,
            &ea,
            &Boot::Direct {
                cmdline: qemu::cmdline(opts, "quiet"),
            },
        ),
        Duration::from_secs(600),
        true,
    )?;
    let (mut passed, mut failed) = (0u32, 0u32);
    for l in &c.lines {
        if l.starts_with("PASS ") {
            passed += 1;
        } else if l.starts_with("FAIL ") {
            failed += 1;
        }
    }
    let has = |want: &str| c.lines.iter().any(|l| l.trim_end() == want);
    let suites = c
        .lines
        .iter()
        .filter(|l| l.contains(" passed, ") && l.ends_with(" skipped"))
        .count();
    let panicked = c
        .lines
        .iter()
        .any(|l| l.contains("PANIC") || l.contains("panicked"));
    let mut report = |name: &str, ok: bool, why: String| {
        if ok {
            println!("PASS {name}");
            passed += 1;
        } else {
            println!("FAIL {name}: {why}");
            failed += 1;
        }
    };
    report(
        "ext2.suite_ran_on_both_block_sizes",
        suites == 2 && !c.timed_out,
        format!("{suites} runs finished of 2 (timed out: {})", c.timed_out),
    );
    for want in [
        "ext2 mounted a",
        "ext2 mounted b",
        "ext2 in proc mounts",
        "ext2 unmounted a",
        "ext2 unmounted b",
        "ext2 ro read persisted",
        // Stored through a MAP_SHARED mapping, unmapped and closed without
        // msync or fsync: the unmount wrote the pages.
        "ext2 ro mapped map-persisted",
        "ext2 ro write status 1",
        // mount -o remount,rw makes the disk writable, remount,ro read-only
        // again (and the image stays clean: e2fsck below).
        "ext2 remount rw writes",
        "ext2 remount ro refuses writes",
        // A new directory's entry, read from /dev/vda at once (before any
        // writeback): the disk file reads through the mounted fs's cache.
        "ext2 raw disk read sees the mounted fs",
        // A new empty file's entry: a create batched in the file system's own
        // cache is written to the disk's cache before the raw read.
        "ext2 raw disk read sees a batched create",
    ] {
        report(
            &format!(
                "ext2.{}",
                want.trim_start_matches("ext2 ").replace(' ', "_")
            ),
            has(want),
            format!("no line {want:?}"),
        );
    }
    report(
        "ext2.umount_is_ebusy_while_a_cwd_is_inside",
        c.lines
            .iter()
            .any(|l| l.starts_with("ext2 umount while cwd inside ") && !l.ends_with(" 0")),
        "the unmount succeeded".into(),
    );
    let refused = ["vdc", "vdd", "vde"].iter().all(|d| {
        c.lines
            .iter()
            .any(|l| l.starts_with(&format!("ext2 corrupt {d} mount status ")))
    });
    report(
        "ext2.corrupted_images_are_refused_or_fail_with_errors_never_a_panic",
        refused && has("ext2 corrupt done") && !panicked,
        format!(
            "panic: {panicked}; lines: {:?}",
            c.lines
                .iter()
                .filter(|l| l.starts_with("ext2 corrupt"))
                .collect::<Vec<_>>()
        ),
    );
    report(
        "ext2.bad_magic_is_refused",
        has("ext2 corrupt vdc mount status 255"),
        "mounted".into(),
    );
    for (name, img) in [("1k", &one), ("4k", &four)] {
        let r = fsck(img);
        report(
            &format!("ext2.e2fsck_clean_after_the_guest_unmounted_{name}"),
            r.is_ok(),
            r.err().unwrap_or_default(),
        );
        report(
            &format!("ext2.marked_clean_by_umount_{name}"),
            clean_state(img),
            "the superblock's state is not clean".into(),
        );
    }
    if failed > 0 {
        for l in c.lines.iter().filter(|l| {
            l.starts_with("FAIL ")
                || l.starts_with("ext2 ")
                || l.contains("PANIC")
                || l.starts_with("==")
        }) {
            println!("    | {l}");
        }
    }
    Ok((passed, failed))
}

/// A Kestrel root file system image: busybox, an /init script running `cmd`, and
/// the directories the kernel mounts on (`cargo xtask run --disk IMG --append
/// root=/dev/vda`).
pub fn root_check(opts: &Opts, a: &build::Artefacts) -> Result<bool, String> {
    let dir = build::out_dir().join("ext2-root");
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox"))
        .map_err(|e| format!("/bin/busybox: {e}"))?;
    std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).map_err(|e| e.to_string())?;
    let init = "#!/bin/sh\n/bin/busybox echo \"root $(/bin/busybox grep ' / ' /proc/mounts)\"\n\
                /bin/busybox echo from-guest > /etc/written; /bin/busybox ls /dev/null && /bin/busybox echo root done\n";
    std::fs::write(dir.join("init"), init).map_err(|e| e.to_string())?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("init"), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    let img = build::out_dir().join("ext2-root.img");
    make_image(&img, 32, 4096, Some(&dir))?;
    let mut o = opts.clone();
    o.disks = vec![crate::Disk {
        path: img.clone(),
        read_only: false,
    }];
    // The initramfs is there too (the kernel starts from it, then mounts the
    // disk over `/`); its /init is not the one that runs.
    let mut ra = a.clone();
    ra.initramfs = Some(initramfs::write(
        &initramfs::base()?,
        "initramfs-ext2-root.cpio",
    )?);
    let c = qemu::capture(
        qemu::command(
            &o,
            &ra,
            &Boot::Direct {
                cmdline: qemu::cmdline(opts, "quiet root=/dev/vda"),
            },
        ),
        Duration::from_secs(120),
        true,
    )?;
    let has = |want: &str| c.lines.iter().any(|l| l.trim_end() == want);
    let written = Command::new(tool("debugfs"))
        .args(["-R", "cat /etc/written"])
        .arg(&img)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "from-guest")
        .unwrap_or(false);
    let ok = has("root /dev/vda / ext2 rw,relatime 0 0")
        && has("root done")
        && written
        && fsck(&img).is_ok()
        && clean_state(&img);
    if ok {
        println!("PASS ext2.root_on_dev_vda_runs_init_from_the_disk_and_is_clean_at_power_off");
    } else {
        println!(
            "FAIL ext2.root_on_dev_vda_runs_init_from_the_disk_and_is_clean_at_power_off: written {written}, fsck {:?}, clean {}",
            fsck(&img),
            clean_state(&img)
        );
        for l in c
            .lines
            .iter()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            println!("    | {l}");
        }
    }
    Ok(ok)
}

/// The guest's side of [`crash_check`]: a writer that fsyncs file after file and
/// says so, while two others churn the disk without syncing.
const CRASH_SCRIPT: &str = "\
mkdir -p /mnt; mount -t ext2 /dev/vda /mnt || exit 1; mkdir -p /mnt/k /mnt/churn; \
for w in 1 2; do (i=0; while true; do i=$((i + 1)); \
dd if=/dev/zero of=/mnt/churn/$w-$i bs=4k count=64 2>/dev/null; \
mkdir /mnt/churn/d$w-$i; [ $i -gt 3 ] && rm -rf /mnt/churn/$w-$((i - 3)) /mnt/churn/d$w-$((i - 3)); \
done) & done; \
i=0; while true; do i=$((i + 1)); yes $i | head -c 20000 > /mnt/k/f$i; sync /mnt/k/f$i; \
echo \"fsynced $i\"; done";

/// QEMU killed in the middle of a write-heavy workload: afterwards `e2fsck -fy`
/// repairs the image (at most what ext2 without a journal leaves) and every file
/// whose fsync returned before the kill is there, whole.
pub fn crash_check(opts: &Opts, a: &build::Artefacts) -> Result<bool, String> {
    const NAME: &str = "ext2.power_cut_during_writes_leaves_fsynced_files_whole_and_e2fsck_repairs";
    const SYNCED: u32 = 12;
    let img = build::out_dir().join("ext2-crash.img");
    make_image(&img, 64, 1024, None)?;
    let mut tree = initramfs::base()?;
    initramfs::add_cmd(&mut tree, CRASH_SCRIPT);
    let mut ca = a.clone();
    ca.initramfs = Some(initramfs::write(&tree, "initramfs-ext2-crash.cpio")?);
    let mut o = opts.clone();
    o.disks = vec![crate::Disk {
        path: img.clone(),
        read_only: false,
    }];
    let cmd = qemu::command(
        &o,
        &ca,
        &Boot::Direct {
            cmdline: qemu::cmdline(opts, "quiet"),
        },
    );
    let mut s = crate::session::Session::start(cmd)?;
    // The console ends lines with CR LF.
    let waited = s.expect(&format!("fsynced {SYNCED}\r"), Duration::from_secs(180));
    let tail = s.tail(600);
    // The power goes: QEMU is killed with the churn still writing.
    drop(s);
    if let Err(e) = waited {
        println!("FAIL {NAME}: {e}");
        return Ok(false);
    }
    let out = Command::new(tool("e2fsck"))
        .arg("-fy")
        .arg(&img)
        .output()
        .map_err(|e| format!("e2fsck: {e}"))?;
    let code = out.status.code().unwrap_or(8);
    let mut why = Vec::new();
    if code > 2 {
        why.push(format!(
            "e2fsck -fy exited {code}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    if let Err(e) = fsck(&img) {
        why.push(e);
    }
    for i in 1..=SYNCED {
        let want: Vec<u8> = format!("{i}\n").bytes().cycle().take(20000).collect();
        let got = Command::new(tool("debugfs"))
            .args(["-R", &format!("cat /k/f{i}")])
            .arg(&img)
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        if got != want {
            why.push(format!(
                "/k/f{i}: {} bytes, not the 20000 written",
                got.len()
            ));
        }
    }
    if why.is_empty() {
        println!("PASS {NAME}");
        Ok(true)
    } else {
        println!("FAIL {NAME}: {}", why.join("; "));
        println!("    | {}", tail.replace('\n', "\n    | "));
        Ok(false)
    }
}

/// fsx's operations per run, and the largest file it makes (past 268 KiB a 1 KiB
/// block file needs double-indirect blocks).
const FSX_OPS: u32 = 3000;
const FSX_MAX_SIZE: u32 = 400_000;
/// fsstress: processes, and operations each (eight by a thousand found a race that
/// four by four hundred showed one run in five).
const FSSTRESS_PROCS: u32 = 8;
const FSSTRESS_OPS: u32 = 1000;

/// A seed that differs from run to run (printed, so a failure can be replayed).
fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_secs().wrapping_mul(1_000_003)
        ^ u64::from(t.subsec_nanos())
        ^ u64::from(std::process::id()))
        % 1_000_000_000
        + 1
}

/// The guest's side of [`fsx_check`]: on each disk, fsx with a fixed seed and
/// with `seed`, then fsstress, then the unmount.
fn fsx_script(seed: u64) -> String {
    format!(
        "mkdir -p /mnt/a /mnt/b; \
mount -t ext2 /dev/vda /mnt/a && mount -t ext2 /dev/vdb /mnt/b || echo 'fsx mount failed'; \
for m in a b; do \
/tests/tools/fsx -n {FSX_OPS} -s 1 -m {FSX_MAX_SIZE} /mnt/$m/fixed; echo \"fsx fixed $m status $?\"; \
/tests/tools/fsx -n {FSX_OPS} -s {seed} -m {FSX_MAX_SIZE} /mnt/$m/random; echo \"fsx random $m status $?\"; \
/tests/tools/fsstress -p {FSSTRESS_PROCS} -n {FSSTRESS_OPS} -s {seed} /mnt/$m/stress; echo \"fsstress $m status $?\"; \
done; \
umount /mnt/a && echo 'fsx unmounted a'; umount /mnt/b && echo 'fsx unmounted b'"
    )
}

/// fsx and fsstress (userland-tests/tools) on fresh ext2 disks with 1 KiB and 4
/// KiB blocks: fsx with seed 1 and with a random seed (printed, with the
/// command that replays it), fsstress with several processes; after the
/// unmount, `e2fsck -fn` must find both disks clean.
pub fn fsx_check(opts: &Opts, a: &build::Artefacts) -> Result<(u32, u32), String> {
    let dir = build::out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (one, four) = (dir.join("ext2-fsx-1k.img"), dir.join("ext2-fsx-4k.img"));
    make_image(&one, 64, 1024, None)?;
    make_image(&four, 64, 4096, None)?;
    let seed = random_seed();
    let fsx = userland::build_tool("fsx")?;
    let fsstress = userland::build_tool("fsstress")?;
    println!(
        "xtask: fsx and fsstress random seed {seed}; replay fsx with: mkfs.ext2 -q -b 1024 /tmp/d.img 64M && \
cargo xtask run --disk /tmp/d.img --with {}:/t/fsx --cmd 'mkdir -p /mnt; mount -t ext2 /dev/vda /mnt && \
/t/fsx -n {FSX_OPS} -s {seed} -m {FSX_MAX_SIZE} /mnt/f' (4 KiB blocks: mkfs.ext2 -b 4096; fsstress: --with {}:/t/fsstress and /t/fsstress -p {FSSTRESS_PROCS} -n {FSSTRESS_OPS} -s {seed} /mnt/s)",
        fsx.display(),
        fsstress.display()
    );
    let mut tree = initramfs::base()?;
    tree.add_host(&fsx, "/tests/tools/fsx")?;
    tree.add_host(&fsstress, "/tests/tools/fsstress")?;
    initramfs::add_cmd(&mut tree, &fsx_script(seed));
    let mut fa = a.clone();
    fa.initramfs = Some(initramfs::write(&tree, "initramfs-ext2-fsx.cpio")?);
    let mut o = opts.clone();
    o.disks = [&one, &four]
        .into_iter()
        .map(|p| crate::Disk {
            path: p.clone(),
            read_only: false,
        })
        .collect();
    let c = qemu::capture(
        qemu::command(
            &o,
            &fa,
            &Boot::Direct {
                cmdline: qemu::cmdline(opts, "quiet"),
            },
        ),
        Duration::from_secs(300),
        false,
    )?;
    let has = |want: &str| c.lines.iter().any(|l| l.trim_end() == want);
    let (mut passed, mut failed) = (0u32, 0u32);
    let mut report = |name: &str, ok: bool, why: String| {
        if ok {
            println!("PASS {name}");
            passed += 1;
        } else {
            println!("FAIL {name}: {why}");
            failed += 1;
        }
    };
    for (m, bs) in [("a", "1k"), ("b", "4k")] {
        for (what, name, s) in [
            ("fsx fixed", format!("ext2.fsx_seed_1_{bs}"), 1),
            ("fsx random", format!("ext2.fsx_random_seed_{bs}"), seed),
            (
                "fsstress",
                format!("ext2.fsstress_{FSSTRESS_PROCS}_processes_{bs}"),
                seed,
            ),
        ] {
            report(
                &name,
                has(&format!("{what} {m} status 0")),
                format!(
                    "seed {s}: no line {:?} (timed out: {})",
                    format!("{what} {m} status 0"),
                    c.timed_out
                ),
            );
        }
    }
    for (m, bs, img) in [("a", "1k", &one), ("b", "4k", &four)] {
        let r = if has(&format!("fsx unmounted {m}")) {
            fsck(img)
        } else {
            Err("the guest did not unmount it".into())
        };
        report(
            &format!("ext2.fsx_fsstress_then_e2fsck_clean_{bs}"),
            r.is_ok(),
            r.err().unwrap_or_default(),
        );
    }
    if failed > 0 {
        for l in c.lines.iter().filter(|l| {
            l.starts_with("fsx")
                || l.starts_with("fsstress")
                || l.starts_with("  ")
                || l.contains("PANIC")
        }) {
            println!("    | {l}");
        }
    }
    Ok((passed, failed))
}
