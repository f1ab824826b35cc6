//! The kernel side of the file system: the root and its mounts, the initramfs, and
//! the devices behind `/dev`.
//!
//! The root is a ramfs filled from the `initramfs` boot module (a cpio archive made
//! by xtask), sized as a tmpfs: half of memory. `/dev` is a second ramfs (Linux's
//! devtmpfs) holding character device nodes; opening one goes through
//! [`devices::open`] by device number, as in Linux.

pub mod anon;
pub mod cgroupfs;
pub mod devices;
pub mod dnotify;
pub mod ext2;
pub mod fanotify;
pub mod fasync;
pub mod fifo;
pub mod fsnotify;
pub mod hugetlbfs;
mod initramfs;
pub mod inotify;
pub mod kmsg;
pub mod leases;
pub mod loopdev;
pub mod procfs;
pub mod pty;
pub mod signalfd;
pub mod swap;
pub mod sysfs;
pub mod timerfd;
pub mod tmpfile;
pub mod tty;
pub mod userfaultfd;

use alloc::sync::Arc;

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::file::{Directory, PathOnly, RegularFile};
use kestrel_vfs::ramfs::RamFs;
use kestrel_vfs::{Dentry, DentryRef, FileOps, InodeRef, Mounts, NodeKind, OpenFile};

use crate::boot::BootInfo;

/// The root directory: the initramfs's ramfs, or the disk file system `root=`
/// names once it is mounted (before init starts).
static ROOT: spin::RwLock<Option<DentryRef>> = spin::RwLock::new(None);
static MOUNTS: spin::Once<Arc<Mounts>> = spin::Once::new();
static DEVFS: spin::Once<InodeRef> = spin::Once::new();

/// The device file system's root. Like Linux's devtmpfs it is one instance:
/// every `mount -t devtmpfs` shows the same nodes as /dev.
pub fn devtmpfs() -> InodeRef {
    DEVFS
        .get()
        .expect("file system initialised at boot")
        .clone()
}

/// The root directory.
pub fn root() -> DentryRef {
    ROOT.read()
        .clone()
        .expect("file system initialised at boot")
}

/// What /proc/mounts says of `/` when a disk file system replaced the initramfs.
static ROOT_INFO: spin::Mutex<Option<kestrel_vfs::MountInfo>> = spin::Mutex::new(None);

/// Makes `inode` the root directory (`root=`), described by `info`.
pub fn set_root(inode: InodeRef, info: kestrel_vfs::MountInfo) {
    *ROOT.write() = Some(Dentry::mount_root(inode, mounts().root_mount().clone()));
    *ROOT_INFO.lock() = Some(info);
}

/// The /proc/mounts line of `/` if a disk file system is the root.
pub fn root_info() -> Option<kestrel_vfs::MountInfo> {
    ROOT_INFO.lock().clone()
}

/// What /proc/mounts says of the root of `mounts`: the file system a
/// pivot_root made the root, else the disk `root=` named, else the initramfs.
pub fn root_line(mounts: &Mounts) -> kestrel_vfs::MountInfo {
    mounts.root_info().or_else(root_info).unwrap_or_else(|| {
        let ro = mounts.root_mount().readonly();
        kestrel_vfs::MountInfo {
            source: b"rootfs".to_vec(),
            fstype: b"rootfs".to_vec(),
            path: b"/".to_vec(),
            options: if ro { b"ro".to_vec() } else { b"rw".to_vec() },
        }
    })
}

/// pivot_root in `mounts` replaced the root `old` with `new`: the kernel's
/// own root follows when it was the old one in the initial namespace.
pub fn root_pivoted(mounts: &Arc<Mounts>, old: &DentryRef, new: &DentryRef) {
    if !MOUNTS.get().is_some_and(|m| Arc::ptr_eq(m, mounts)) {
        return;
    }
    let mut r = ROOT.write();
    if r.as_ref().is_some_and(|r| Arc::ptr_eq(r, old)) {
        *r = Some(new.clone());
    }
}

/// Whether a file system on device `dev` is mounted anywhere: in some mount
/// namespace's table, or some process's root (inotify's IN_UNMOUNT waits for
/// the last mount to go, as Linux's superblock shutdown).
pub fn dev_mounted(dev: u64) -> bool {
    let mut seen: alloc::vec::Vec<Arc<Mounts>> = alloc::vec::Vec::new();
    for p in crate::process::all() {
        let top = p.fs().lock().root.clone();
        let mut top = &top;
        while let Some(up) = top.parent() {
            top = up;
        }
        if top.inode.metadata().dev == dev {
            return true;
        }
        let m = p.nsproxy().mnt.mounts.clone();
        if seen.iter().any(|s| Arc::ptr_eq(s, &m)) {
            continue;
        }
        if m.entries_roots().iter().any(|r| r.metadata().dev == dev) {
            return true;
        }
        seen.push(m);
    }
    false
}

/// The file system types mount(2) knows, in the order /proc/filesystems and
/// sysfs(2) list them, each with whether it needs no device ("nodev").
pub const FILESYSTEMS: &[(&str, bool)] = &[
    ("proc", true),
    ("ramfs", true),
    ("tmpfs", true),
    ("devtmpfs", true),
    ("hugetlbfs", true),
    ("cgroup2", true),
    ("ext2", false),
];

/// The caller's mount table: its mount namespace's.
pub fn mounts() -> Arc<Mounts> {
    crate::ns::current().mnt.mounts.clone()
}

/// The mount table made at boot (the initial mount namespace's).
pub fn init_mounts() -> Arc<Mounts> {
    MOUNTS
        .get()
        .expect("file system initialised at boot")
        .clone()
}

fn wall_clock() -> Timespec {
    Timespec::from_ns(crate::time::realtime_ns())
}

fn mkdir(dir: &InodeRef, name: &[u8], mode: u32) -> KResult<InodeRef> {
    match dir.lookup(name) {
        Ok(d) => Ok(d),
        Err(Errno::ENOENT) => dir.create(name, NodeKind::Dir, mode, 0, 0),
        Err(e) => Err(e),
    }
}

/// What the root file system was made from.
#[derive(Debug)]
pub struct RootInfo {
    pub files: usize,
    pub bytes: u64,
    pub from_initramfs: bool,
}

/// Builds the root: unpacks the initramfs (if any), adds the directories every
/// system has, and mounts the device file system on /dev.
pub fn init(boot: &BootInfo) -> KResult<RootInfo> {
    kestrel_vfs::set_clock(wall_clock);
    // File content and pipe buffers live in kernel memory: never in its reserve.
    kestrel_vfs::set_memory_check(crate::mm::frame::may_hold_user_data);
    // OFD and flock locks belong to the open file description: released with it;
    // so is a socket.
    // O_ASYNC goes first: the socket's release wakes its queues, and no SIGIO
    // may come of that (Linux removes a file's fasync entry as it closes).
    kestrel_vfs::file::set_close_hook(|f| {
        fasync::file_released(f);
        crate::syscall::locks::file_released(f);
        crate::syscall::socket::file_released(f);
        fsnotify::file_released(f);
        leases::file_released(f);
    });
    // The root holds at most half of memory, as Linux's rootfs when it is a
    // tmpfs (and every tmpfs without size=): a full root is ENOSPC for its
    // writer, not the whole system out of memory. Memory here is what the frame
    // allocator will manage once the initramfs's pages are given back below.
    let initramfs_pages = boot.module("initramfs").map_or(0, |m| {
        ((m.end & !4095).saturating_sub(m.start.next_multiple_of(4096))) / 4096
    });
    let memory = (crate::mm::frame::stats().1 + initramfs_pages) * 4096;
    let root_inode = RamFs::new_root_sized(makedev(0, 1), memory / 2);
    let mut info = RootInfo {
        files: 0,
        bytes: 0,
        from_initramfs: false,
    };
    if let Some(m) = boot.module("initramfs") {
        let (s, adopted) = kestrel_vfs::cpio::unpack_adopting(m.bytes(), &root_inode)
            .inspect_err(|e| log::error!("initramfs: malformed cpio archive ({e})"))?;
        info = RootInfo {
            files: s.files,
            bytes: s.bytes,
            from_initramfs: true,
        };
        // The archive's pages are copied into ramfs, or read by the files that
        // adopted them: give back the former now, the latter as they let go.
        initramfs::release_unadopted(m.start, m.end, &adopted);
    }
    for (name, mode) in [
        (&b"dev"[..], 0o755),
        (b"tmp", 0o1777),
        (b"proc", 0o555),
        (b"root", 0o700),
        (b"etc", 0o755),
        (b"sys", 0o555),
    ] {
        let d = mkdir(&root_inode, name, mode)?;
        d.set_mode(mode)?;
    }
    let mounts = Mounts::new();
    let root = Dentry::mount_root(root_inode.clone(), mounts.root_mount().clone());
    let mount_info =
        |source: &str, fstype: &str, path: &str, options: &str| kestrel_vfs::MountInfo {
            source: source.as_bytes().to_vec(),
            fstype: fstype.as_bytes().to_vec(),
            path: path.as_bytes().to_vec(),
            options: options.as_bytes().to_vec(),
        };
    let dev_mount_point = root_inode.lookup(b"dev")?;
    let devfs = devices::make_devfs()?;
    DEVFS.call_once(|| devfs.clone());
    let pts_mount_point = devfs.lookup(b"pts")?;
    mounts.mount(
        &dev_mount_point,
        devfs,
        mount_info("devtmpfs", "devtmpfs", "/dev", "rw,nosuid,relatime"),
        MS_NOSUID,
    )?;
    // devpts on /dev/pts, as every Linux system's init mounts it.
    mounts.mount(
        &pts_mount_point,
        pty::make_devpts()?,
        mount_info(
            "devpts",
            "devpts",
            "/dev/pts",
            "rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666",
        ),
        MS_NOSUID | MS_NOEXEC,
    )?;
    // /proc is mounted at boot, as every Linux system's init does first.
    let proc_mount_point = root_inode.lookup(b"proc")?;
    mounts.mount(
        &proc_mount_point,
        procfs::new_root(),
        mount_info("proc", "proc", "/proc", "rw,nosuid,nodev,noexec,relatime"),
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
    )?;
    *ROOT.write() = Some(root);
    MOUNTS.call_once(|| Arc::new(mounts));
    Ok(info)
}

/// Resolves an absolute path as the kernel (root credentials, following links),
/// synchronously: only for paths in in-memory trees (EAGAIN where the walk would
/// wait on a disk).
pub fn resolve_kernel(path: &[u8]) -> KResult<DentryRef> {
    let cred = kestrel_vfs::Cred::root();
    let root = root();
    let mounts = mounts();
    kestrel_vfs::poll_now(
        kestrel_vfs::Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        }
        .lookup(&root, path, true),
    )
    .unwrap_or(Err(Errno::EAGAIN))
}

/// The behaviour of a file opened by name: by its type, or its device.
pub fn ops_for(
    inode: &InodeRef,
    flags: u32,
    caller: &crate::process::Process,
) -> KResult<Arc<dyn FileOps>> {
    if flags & O_PATH != 0 {
        return Ok(Arc::new(PathOnly));
    }
    let m = inode.metadata();
    if let Some(ops) = cgroupfs::events_ops(inode) {
        return Ok(ops);
    }
    match m.file_type() {
        S_IFREG => Ok(ext2::Ext2File::for_inode(inode).unwrap_or_else(|| Arc::new(RegularFile))),
        S_IFDIR => Ok(Arc::new(Directory)),
        S_IFCHR => devices::open(m.rdev, flags, caller),
        S_IFBLK => devices::open_block(m.rdev),
        S_IFLNK => Err(Errno::ELOOP),
        S_IFIFO => fifo::open(inode, flags),
        // Sockets are opened through their subsystem, not by name.
        S_IFSOCK => Err(Errno::ENXIO),
        _ => Err(Errno::ENXIO),
    }
}

/// Opens `dentry` with `flags` (no permission checks: the caller did them).
pub fn open_dentry(
    dentry: DentryRef,
    flags: u32,
    caller: &crate::process::Process,
) -> KResult<Arc<OpenFile>> {
    // Device nodes on a nodev mount do not open (Linux's may_open); O_PATH
    // handles still name them.
    if flags & O_PATH == 0
        && dentry.mnt().get() & MS_NODEV != 0
        && matches!(dentry.inode.metadata().file_type(), S_IFCHR | S_IFBLK)
    {
        return Err(Errno::EACCES);
    }
    let ops = ops_for(&dentry.inode, flags, caller)?;
    OpenFile::open(dentry, ops, flags)
}
