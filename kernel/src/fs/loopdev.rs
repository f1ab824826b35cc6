//! Loop devices: a file as a block device (`/dev/loopN`, 7:N), set up through
//! `/dev/loop-control` (10:237) and the loop ioctls, as Linux's `loop` driver.
//!
//! Eight devices exist from boot (Linux's default `max_loop`); LOOP_CTL_GET_FREE
//! and LOOP_CTL_ADD make more, up to [`MAX_LOOPS`]. A device is *unbound* (size
//! 0; LOOP_GET_STATUS is ENXIO, which is how old tools find a free one) until
//! LOOP_SET_FD or LOOP_CONFIGURE binds a regular file or a block device to it:
//! then sector `s` of the device is byte `offset + 512 s` of the file, up to
//! `sizelimit` (or the file's end), read and written through the file's own
//! read and write paths (the page cache of a tmpfs file, ext2's of an ext2
//! file), so a loop device can hold a file system Kestrel mounts (`mount -t ext2
//! /dev/loop0`, or busybox's `mount -o loop`) or mkfs writes. A device bound to
//! a file opened read-only, or set up with LO_FLAGS_READ_ONLY, is read-only.
//!
//! LOOP_CLR_FD unbinds at once when only the caller has the device open and
//! nothing is mounted from it; otherwise it sets LO_FLAGS_AUTOCLEAR (Linux 5.19+),
//! and the device lets go of its file when the last opener closes it or the
//! file system on it is unmounted. Not done: partitions (LO_FLAGS_PARTSCAN is
//! kept and reported, nothing is scanned), direct I/O (LOOP_SET_DIRECT_IO(1) is
//! EINVAL, as Linux answers for a file that cannot do it), discard.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use kestrel_abi::block::*;
use kestrel_abi::fs::{S_IFBLK, S_IFMT, S_IFREG, major, makedev, minor};
use kestrel_abi::{Errno, KResult};
use kestrel_driver_kit::{BlockDevice, BlockInfo, BoxFuture, IoError};
use kestrel_vfs::{FileOps, OpenFile, UserPtr};

use crate::syscall::Ctx;

/// Devices made at boot (Linux's CONFIG_BLK_DEV_LOOP_MIN_COUNT).
const AT_BOOT: u32 = 8;
/// The most loop devices there may be (LOOP_CTL_ADD and GET_FREE make them on
/// request: user space does not size kernel memory without a bound).
pub const MAX_LOOPS: usize = 256;
/// The largest device number LOOP_CTL_ADD takes (Linux: 2^20 minors).
const MAX_INDEX: i64 = 1 << 20;
const SECTOR: u64 = 512;

/// What a bound device reads and writes.
#[derive(Clone)]
struct Binding {
    file: Arc<OpenFile>,
    offset: u64,
    sizelimit: u64,
    flags: u32,
    file_name: [u8; LO_NAME_SIZE],
    crypt_name: [u8; LO_NAME_SIZE],
    block_size: u32,
}

/// One loop device.
pub struct Loop {
    number: u32,
    state: spin::Mutex<Option<Binding>>,
    /// Open files of /dev/loopN (LOOP_CLR_FD's "only the caller").
    openers: AtomicUsize,
}

static LOOPS: spin::Mutex<BTreeMap<u32, Arc<Loop>>> = spin::Mutex::new(BTreeMap::new());

fn rdev_of(n: u32) -> u64 {
    makedev(LOOP_MAJOR, n)
}

fn get(rdev: u64) -> Option<Arc<Loop>> {
    if major(rdev) != LOOP_MAJOR {
        return None;
    }
    LOOPS.lock().get(&minor(rdev)).cloned()
}

/// Makes loop0..loop7 and /dev/loop-control (at boot, before /sys is built).
pub fn init() {
    crate::fs::devices::add_node(
        b"loop-control",
        kestrel_vfs::NodeKind::CharDev(makedev(10, LOOP_CTRL_MINOR)),
        0o660,
    );
    for n in 0..AT_BOOT {
        let _ = add(n);
    }
}

/// Makes loop device `n` with its /dev node (EEXIST if it exists).
fn add(n: u32) -> KResult<()> {
    let dev = Arc::new(Loop {
        number: n,
        state: spin::Mutex::new(None),
        openers: AtomicUsize::new(0),
    });
    {
        let mut loops = LOOPS.lock();
        if loops.contains_key(&n) {
            return Err(Errno::EEXIST);
        }
        if loops.len() >= MAX_LOOPS {
            return Err(Errno::ENOSPC);
        }
        loops.insert(n, dev.clone());
    }
    let b = crate::drivers::add_block(format!("loop{n}"), rdev_of(n), dev);
    crate::fs::devices::add_node(
        format!("loop{n}").as_bytes(),
        kestrel_vfs::NodeKind::BlockDev(b.rdev),
        0o660,
    );
    crate::fs::sysfs::refresh_block(&b);
    Ok(())
}

/// LOOP_CTL_REMOVE: EBUSY while bound, open or mounted.
fn remove(n: u32) -> KResult<()> {
    let rdev = rdev_of(n);
    {
        let mut loops = LOOPS.lock();
        let l = loops.get(&n).ok_or(Errno::ENODEV)?;
        if l.state.lock().is_some()
            || l.openers.load(Ordering::Acquire) > 0
            || super::ext2::disk_cache(rdev).is_some()
        {
            return Err(Errno::EBUSY);
        }
        loops.remove(&n);
    }
    crate::drivers::remove_block(rdev);
    let name = format!("loop{n}");
    if let Ok(d) = crate::fs::resolve_kernel(b"/dev") {
        let _ = d.inode.unlink(name.as_bytes());
    }
    crate::fs::sysfs::remove_block(&name);
    Ok(())
}

/// The ioctls of /dev/loop-control.
pub fn control_ioctl(cmd: u32, arg: u64) -> KResult<u64> {
    // Linux takes the number as an int (the low half of the argument).
    let index = i64::from(arg as u32 as i32);
    match cmd {
        LOOP_CTL_GET_FREE => {
            let free = LOOPS
                .lock()
                .values()
                .find(|l| l.state.lock().is_none())
                .map(|l| l.number);
            if let Some(n) = free {
                return Ok(u64::from(n));
            }
            let n = next_number()?;
            add(n)?;
            Ok(u64::from(n))
        }
        LOOP_CTL_ADD => {
            let n = if index < 0 {
                next_number()?
            } else if index >= MAX_INDEX {
                return Err(Errno::EINVAL);
            } else {
                index as u32
            };
            add(n)?;
            Ok(u64::from(n))
        }
        LOOP_CTL_REMOVE => {
            if index < 0 {
                // Linux: "deleting an unspecified loop device is not supported".
                return Err(Errno::EINVAL);
            }
            if index >= MAX_INDEX {
                return Err(Errno::ENODEV);
            }
            remove(index as u32).map(|()| 0)
        }
        _ => Err(Errno::ENOTTY),
    }
}

/// The lowest number no device has.
fn next_number() -> KResult<u32> {
    let loops = LOOPS.lock();
    (0..MAX_INDEX as u32)
        .find(|n| !loops.contains_key(n))
        .ok_or(Errno::ENOSPC)
}

/// /dev/loop-control as an open file.
pub struct Control;

impl FileOps for Control {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn ioctl(
        &self,
        _file: &OpenFile,
        cmd: u32,
        arg: u64,
        _mem: &dyn kestrel_vfs::UserSpace,
    ) -> KResult<u64> {
        control_ioctl(cmd, arg)
    }
    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

/// A file of /dev/loopN was opened.
pub fn opened(rdev: u64) {
    if let Some(l) = get(rdev) {
        l.openers.fetch_add(1, Ordering::AcqRel);
    }
}

/// A file of /dev/loopN was closed: the last close of a device marked
/// autoclear unbinds it (unless a file system is mounted from it).
pub fn closed(rdev: u64) {
    if let Some(l) = get(rdev) {
        l.openers.fetch_sub(1, Ordering::AcqRel);
        autoclear(&l);
    }
}

/// The file system mounted from `rdev` was unmounted.
pub fn unmounted(rdev: u64) {
    if let Some(l) = get(rdev) {
        autoclear(&l);
    }
}

fn autoclear(l: &Arc<Loop>) {
    let unused = l.openers.load(Ordering::Acquire) == 0
        && super::ext2::disk_cache(rdev_of(l.number)).is_none();
    // The file is let go of outside the lock (its close may do work).
    let cleared = unused
        .then(|| {
            let mut s = l.state.lock();
            match &*s {
                Some(b) if b.flags & LO_FLAGS_AUTOCLEAR != 0 => s.take(),
                _ => None,
            }
        })
        .flatten();
    if cleared.is_some() {
        drop(cleared);
        refresh_sysfs(l.number);
    }
}

fn refresh_sysfs(n: u32) {
    if let Some(b) = crate::drivers::block_by_rdev(rdev_of(n)) {
        crate::fs::sysfs::refresh_block(&b);
    }
}

/// /sys/block/loopN/loop/'s files while the device is bound.
pub fn sysfs_attrs(rdev: u64) -> Option<Vec<(&'static str, String)>> {
    let l = get(rdev)?;
    let b = l.state.lock().clone()?;
    let flag = |f: u32| if b.flags & f != 0 { "1\n" } else { "0\n" };
    Some(alloc::vec![
        (
            "backing_file",
            format!("{}\n", String::from_utf8_lossy(&backing_path(&b.file)))
        ),
        ("offset", format!("{}\n", b.offset)),
        ("sizelimit", format!("{}\n", b.sizelimit)),
        ("autoclear", flag(LO_FLAGS_AUTOCLEAR).into()),
        ("partscan", flag(LO_FLAGS_PARTSCAN).into()),
        ("dio", flag(LO_FLAGS_DIRECT_IO).into()),
    ])
}

/// The backing file's path, as /proc/PID/fd shows it.
fn backing_path(f: &OpenFile) -> Vec<u8> {
    f.dentry().map(|d| d.path()).unwrap_or_default()
}

/// The size of `file` from `offset`, cut at `sizelimit`, in sectors (Linux's
/// get_size).
fn sectors_of(file: &OpenFile, offset: u64, sizelimit: u64) -> u64 {
    let size = file_size(file);
    let mut bytes = size.saturating_sub(offset);
    if sizelimit > 0 && sizelimit < bytes {
        bytes = sizelimit;
    }
    bytes / SECTOR
}

fn file_size(file: &OpenFile) -> u64 {
    match file.inode().map(|i| i.metadata()) {
        Some(m) if m.mode & S_IFMT == S_IFREG => m.size,
        _ => file.ops().size().unwrap_or(0),
    }
}

impl Loop {
    fn binding(&self) -> Option<Binding> {
        self.state.lock().clone()
    }
}

impl BlockDevice for Loop {
    fn info(&self) -> BlockInfo {
        match &*self.state.lock() {
            Some(b) => BlockInfo {
                sectors: sectors_of(&b.file, b.offset, b.sizelimit),
                block_size: b.block_size,
                read_only: b.flags & LO_FLAGS_READ_ONLY != 0,
                discard: false,
            },
            None => BlockInfo {
                sectors: 0,
                block_size: SECTOR as u32,
                read_only: false,
                discard: false,
            },
        }
    }

    fn read<'a>(&'a self, sector: u64, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(), IoError>> {
        alloc::boxed::Box::pin(async move {
            let b = self.binding().ok_or(IoError::Device)?;
            let mut pos = b.offset + sector * SECTOR;
            let mut done = 0;
            while done < buf.len() {
                let n = if let Some(io) = b.file.read_async(Some(pos), &mut buf[done..]) {
                    io.await
                } else {
                    b.file.pread(pos, &mut buf[done..])
                }
                .map_err(|_| IoError::Device)?;
                if n == 0 {
                    // Past the file's end (it shrank): zeros, as Linux's loop.
                    buf[done..].fill(0);
                    break;
                }
                done += n;
                pos += n as u64;
            }
            Ok(())
        })
    }

    fn write<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, Result<(), IoError>> {
        alloc::boxed::Box::pin(async move {
            let b = self.binding().ok_or(IoError::Device)?;
            if b.flags & LO_FLAGS_READ_ONLY != 0 {
                return Err(IoError::Device);
            }
            let mut pos = b.offset + sector * SECTOR;
            let mut done = 0;
            while done < data.len() {
                let n = if let Some(io) = b.file.write_async(Some(pos), &data[done..]) {
                    io.await
                } else {
                    b.file.pwrite(pos, &data[done..])
                }
                .map_err(|e| match e {
                    Errno::ENOMEM => IoError::NoMemory,
                    _ => IoError::Device,
                })?;
                if n == 0 {
                    return Err(IoError::Device);
                }
                done += n;
                pos += n as u64;
            }
            Ok(())
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), IoError>> {
        alloc::boxed::Box::pin(async move {
            let Some(b) = self.binding() else {
                return Ok(());
            };
            match b.file.inode() {
                Some(i) => i.fsync(false).await.map_err(|_| IoError::Device),
                None => Ok(()),
            }
        })
    }

    fn discard(&self, _sector: u64, _count: u64) -> BoxFuture<'_, Result<(), IoError>> {
        alloc::boxed::Box::pin(async { Err(IoError::Unsupported) })
    }
}

/// Whether `cmd` is one of /dev/loopN's own ioctls.
pub fn is_loop_ioctl(cmd: u32) -> bool {
    (LOOP_SET_FD..=LOOP_CONFIGURE).contains(&cmd)
}

/// The file `fd` names as a backing file: a regular file or a block device
/// (EINVAL otherwise, EBADF for a bad or O_PATH descriptor).
fn backing_file(ctx: &Ctx<'_>, fd: u32, me: u64) -> KResult<Arc<OpenFile>> {
    let file = ctx.file(fd as i32).map_err(|_| Errno::EBADF)?;
    if file.flags() & kestrel_abi::fs::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let m = file.inode().map(|i| i.metadata()).ok_or(Errno::EINVAL)?;
    match m.mode & S_IFMT {
        S_IFREG => Ok(file),
        S_IFBLK if m.rdev == me => Err(Errno::EBADF),
        S_IFBLK => {
            // A loop device backed by a chain that comes back to this one.
            let mut next = m.rdev;
            for _ in 0..MAX_LOOPS {
                let Some(l) = get(next) else { break };
                let Some(b) = l.binding() else { break };
                let Some(bm) = b.file.inode().map(|i| i.metadata()) else {
                    break;
                };
                if bm.mode & S_IFMT != S_IFBLK {
                    break;
                }
                if bm.rdev == me {
                    return Err(Errno::EINVAL);
                }
                next = bm.rdev;
            }
            Ok(file)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Checks a loop_info64 as Linux's loop_set_status_from_info does.
fn check_info(info: &LoopInfo64) -> KResult<()> {
    if info.lo_encrypt_key_size as usize > LO_KEY_SIZE || info.lo_encrypt_type != LO_CRYPT_NONE {
        return Err(Errno::EINVAL);
    }
    if info.lo_offset > i64::MAX as u64 || info.lo_sizelimit > i64::MAX as u64 {
        return Err(Errno::EOVERFLOW);
    }
    Ok(())
}

/// blk_validate_block_size.
fn check_block_size(size: u64) -> KResult<u32> {
    if !(512..=4096).contains(&size) || !size.is_power_of_two() {
        return Err(Errno::EINVAL);
    }
    Ok(size as u32)
}

fn name_of(src: &[u8; LO_NAME_SIZE]) -> [u8; LO_NAME_SIZE] {
    let mut n = *src;
    n[LO_NAME_SIZE - 1] = 0;
    n
}

/// LOOP_SET_FD and LOOP_CONFIGURE.
fn configure(ctx: &Ctx<'_>, l: &Loop, dev_file: &OpenFile, cfg: &LoopConfig) -> KResult<()> {
    let me = rdev_of(l.number);
    let file = backing_file(ctx, cfg.fd, me)?;
    let mut state = l.state.lock();
    if state.is_some() {
        return Err(Errno::EBUSY);
    }
    if cfg.info.lo_flags & !LOOP_CONFIGURE_SETTABLE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let block_size = if cfg.block_size != 0 {
        check_block_size(u64::from(cfg.block_size))?
    } else {
        SECTOR as u32
    };
    check_info(&cfg.info)?;
    let mut flags = cfg.info.lo_flags & !LO_FLAGS_DIRECT_IO;
    if !file.writable() || !dev_file.writable() {
        flags |= LO_FLAGS_READ_ONLY;
    }
    *state = Some(Binding {
        file,
        offset: cfg.info.lo_offset,
        sizelimit: cfg.info.lo_sizelimit,
        flags,
        file_name: name_of(&cfg.info.lo_file_name),
        crypt_name: name_of(&cfg.info.lo_crypt_name),
        block_size,
    });
    Ok(())
}

/// LOOP_SET_STATUS(64).
fn set_status(l: &Loop, info: &LoopInfo64) -> KResult<()> {
    let mut state = l.state.lock();
    let b = state.as_mut().ok_or(Errno::ENXIO)?;
    check_info(info)?;
    let prev = b.flags;
    // Linux's loop_set_status: the settable flags as asked, the others as
    // they were, and a flag that cannot be cleared (LO_FLAGS_PARTSCAN once
    // set) kept.
    let mut flags = info.lo_flags & LOOP_SET_STATUS_SETTABLE_FLAGS;
    flags |= prev & !LOOP_SET_STATUS_SETTABLE_FLAGS;
    flags |= prev & !LOOP_SET_STATUS_CLEARABLE_FLAGS;
    b.offset = info.lo_offset;
    b.sizelimit = info.lo_sizelimit;
    b.file_name = name_of(&info.lo_file_name);
    b.crypt_name = name_of(&info.lo_crypt_name);
    b.flags = flags;
    Ok(())
}

/// LOOP_GET_STATUS64's answer.
fn status(l: &Loop) -> KResult<LoopInfo64> {
    let b = l.binding().ok_or(Errno::ENXIO)?;
    let m = b.file.inode().map(|i| i.metadata()).unwrap_or_default();
    Ok(LoopInfo64 {
        lo_device: m.dev,
        lo_inode: m.ino,
        lo_rdevice: m.rdev,
        lo_offset: b.offset,
        lo_sizelimit: b.sizelimit,
        lo_number: l.number,
        lo_encrypt_type: LO_CRYPT_NONE,
        lo_encrypt_key_size: 0,
        lo_flags: b.flags,
        lo_file_name: b.file_name,
        lo_crypt_name: b.crypt_name,
        lo_encrypt_key: [0; LO_KEY_SIZE],
        lo_init: [0; 2],
    })
}

/// The old `struct loop_info` as Linux's loop_info64_to_old makes it: EOVERFLOW
/// for an offset past an `int` (its device numbers are `unsigned long` on
/// x86-64, and it has no size limit to lose).
fn to_old(i: &LoopInfo64) -> KResult<LoopInfo> {
    let offset = i32::try_from(i.lo_offset).map_err(|_| Errno::EOVERFLOW)?;
    Ok(LoopInfo {
        lo_number: i.lo_number as i32,
        _pad0: 0,
        lo_device: i.lo_device,
        lo_inode: i.lo_inode,
        lo_rdevice: i.lo_rdevice,
        lo_offset: offset,
        lo_encrypt_type: i.lo_encrypt_type as i32,
        lo_encrypt_key_size: i.lo_encrypt_key_size as i32,
        lo_flags: i.lo_flags as i32,
        lo_name: i.lo_file_name,
        lo_encrypt_key: i.lo_encrypt_key,
        lo_init: i.lo_init,
        reserved: [0; 4],
        _pad1: [0; 4],
    })
}

/// The old struct as a loop_info64 (loop_info_to_info64: no size limit).
fn from_old(o: &LoopInfo) -> LoopInfo64 {
    LoopInfo64 {
        lo_device: o.lo_device,
        lo_inode: o.lo_inode,
        lo_rdevice: o.lo_rdevice,
        lo_offset: o.lo_offset as i64 as u64,
        lo_sizelimit: 0,
        lo_number: o.lo_number as u32,
        lo_encrypt_type: o.lo_encrypt_type as u32,
        lo_encrypt_key_size: o.lo_encrypt_key_size as u32,
        lo_flags: o.lo_flags as u32,
        lo_file_name: o.lo_name,
        lo_crypt_name: [0; LO_NAME_SIZE],
        lo_encrypt_key: o.lo_encrypt_key,
        lo_init: o.lo_init,
    }
}

/// The loop ioctls of an open /dev/loopN (`dev_file`).
pub fn ioctl(ctx: &Ctx<'_>, dev_file: &OpenFile, rdev: u64, cmd: u32, arg: u64) -> KResult<u64> {
    let l = get(rdev).ok_or(Errno::ENXIO)?;
    // Changing a device takes it open for writing, or CAP_SYS_ADMIN.
    if matches!(
        cmd,
        LOOP_SET_STATUS
            | LOOP_SET_STATUS64
            | LOOP_SET_CAPACITY
            | LOOP_SET_DIRECT_IO
            | LOOP_SET_BLOCK_SIZE
    ) && !dev_file.writable()
        && !ctx.capable(kestrel_abi::cap::CAP_SYS_ADMIN)
    {
        return Err(Errno::EPERM);
    }
    let r = match cmd {
        LOOP_SET_FD => {
            let cfg = LoopConfig {
                fd: arg as u32,
                block_size: 0,
                info: bytemuck_zeroed(),
                reserved: [0; 8],
            };
            if arg > u64::from(u32::MAX) {
                return Err(Errno::EBADF);
            }
            configure(ctx, &l, dev_file, &cfg)
        }
        LOOP_CONFIGURE => {
            let cfg: LoopConfig = ctx.read(UserPtr::new(arg))?;
            configure(ctx, &l, dev_file, &cfg)
        }
        LOOP_CLR_FD => {
            let busy =
                l.openers.load(Ordering::Acquire) > 1 || super::ext2::disk_cache(rdev).is_some();
            let mut state = l.state.lock();
            let b = state.as_mut().ok_or(Errno::ENXIO)?;
            let old = if busy {
                // In use elsewhere: unbound when the last user lets go.
                b.flags |= LO_FLAGS_AUTOCLEAR;
                None
            } else {
                state.take()
            };
            drop(state);
            drop(old);
            Ok(())
        }
        LOOP_SET_STATUS64 => {
            let info: LoopInfo64 = ctx.read(UserPtr::new(arg))?;
            set_status(&l, &info)
        }
        LOOP_SET_STATUS => {
            let info: LoopInfo = ctx.read(UserPtr::new(arg))?;
            set_status(&l, &from_old(&info))
        }
        LOOP_GET_STATUS64 => {
            let ptr = UserPtr::<LoopInfo64>::new(arg);
            if arg == 0 {
                return Err(Errno::EINVAL);
            }
            let info = status(&l)?;
            ctx.write(ptr, &info)?;
            Ok(())
        }
        LOOP_GET_STATUS => {
            if arg == 0 {
                return Err(Errno::EINVAL);
            }
            let info = to_old(&status(&l)?)?;
            ctx.write(UserPtr::<LoopInfo>::new(arg), &info)?;
            Ok(())
        }
        LOOP_CHANGE_FD => {
            let b = l.binding().ok_or(Errno::ENXIO)?;
            if b.flags & LO_FLAGS_READ_ONLY == 0 {
                return Err(Errno::EINVAL);
            }
            if arg > u64::from(u32::MAX) {
                return Err(Errno::EBADF);
            }
            let file = backing_file(ctx, arg as u32, rdev)?;
            if sectors_of(&file, b.offset, b.sizelimit)
                != sectors_of(&b.file, b.offset, b.sizelimit)
            {
                return Err(Errno::EINVAL);
            }
            let mut state = l.state.lock();
            let cur = state.as_mut().ok_or(Errno::ENXIO)?;
            cur.file = file;
            Ok(())
        }
        LOOP_SET_CAPACITY => l.binding().map(|_| ()).ok_or(Errno::ENXIO),
        LOOP_SET_DIRECT_IO => {
            let mut state = l.state.lock();
            let b = state.as_mut().ok_or(Errno::ENXIO)?;
            if arg != 0 {
                // No direct path to the backing file's disk.
                return Err(Errno::EINVAL);
            }
            b.flags &= !LO_FLAGS_DIRECT_IO;
            Ok(())
        }
        LOOP_SET_BLOCK_SIZE => {
            let mut state = l.state.lock();
            let b = state.as_mut().ok_or(Errno::ENXIO)?;
            b.block_size = check_block_size(arg)?;
            Ok(())
        }
        _ => Err(Errno::ENOTTY),
    };
    r?;
    if matches!(
        cmd,
        LOOP_SET_FD
            | LOOP_CONFIGURE
            | LOOP_CLR_FD
            | LOOP_SET_STATUS
            | LOOP_SET_STATUS64
            | LOOP_CHANGE_FD
            | LOOP_SET_CAPACITY
            | LOOP_SET_DIRECT_IO
            | LOOP_SET_BLOCK_SIZE
    ) {
        refresh_sysfs(l.number);
    }
    Ok(0)
}

fn bytemuck_zeroed<T: kestrel_abi::Zeroable>() -> T {
    T::zeroed()
}
