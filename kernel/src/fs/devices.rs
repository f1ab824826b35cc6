//! Character devices, found by device number (Documentation/admin-guide/devices.txt).
//!
//! | node | major:minor | behaviour |
//! |---|---|---|
//! | /dev/null | 1:3 | reads EOF, swallows writes |
//! | /dev/zero | 1:5 | reads zeros, swallows writes |
//! | /dev/kmsg | 1:11 | the kernel log as records ([`super::kmsg`]) |
//! | /dev/full | 1:7 | reads zeros, writes fail with ENOSPC |
//! | /dev/random, /dev/urandom | 1:8, 1:9 | random bytes, never block |
//! | /dev/tty | 5:0 | the caller's controlling terminal |
//! | /dev/console, /dev/ttyS0 | 5:1, 4:64 | the serial console |
//! | /dev/loop-control | 10:237 | makes and finds loop devices ([`super::loopdev`]) |
//! | /dev/userfaultfd | 10:257 | makes userfaultfds ([`super::userfaultfd`]) |

use alloc::sync::Arc;
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::ramfs::RamFs;
use kestrel_vfs::{FileOps, InodeRef, NodeKind, OpenFile, UserPtr, UserSpace};

use super::tty;

/// What a memory-like device does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mem {
    Null,
    Zero,
    Full,
    Random,
}

struct MemDevice(Mem);

impl FileOps for MemDevice {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        match self.0 {
            Mem::Null => Ok(0),
            Mem::Zero | Mem::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Mem::Random => {
                crate::random::fill(buf);
                Ok(buf.len())
            }
        }
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        match self.0 {
            Mem::Full => Err(Errno::ENOSPC),
            _ => Ok(data.len()),
        }
    }

    // Linux lets lseek succeed on these (and always report position 0).
    fn seekable(&self) -> bool {
        true
    }

    fn discards_writes(&self) -> bool {
        matches!(self.0, Mem::Null | Mem::Zero)
    }

    /// The random devices answer RNDGETENTCNT with the pool's entropy in bits:
    /// always a full pool (256, Linux's POOL_READY_BITS since 5.18: the pool is
    /// seeded at boot and never runs out). Their other requests are EINVAL,
    /// the memory devices' ENOTTY.
    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        const RNDGETENTCNT: u32 = 0x8004_5200;
        if self.0 != Mem::Random {
            return Err(Errno::ENOTTY);
        }
        if cmd != RNDGETENTCNT {
            return Err(Errno::EINVAL);
        }
        UserPtr::<i32>::new(arg).write(mem, &256)?;
        Ok(0)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Opens the character device `rdev`.
pub fn open(rdev: u64, flags: u32, caller: &crate::process::Process) -> KResult<Arc<dyn FileOps>> {
    match (major(rdev), minor(rdev)) {
        (1, 3) => Ok(Arc::new(MemDevice(Mem::Null))),
        (1, 5) => Ok(Arc::new(MemDevice(Mem::Zero))),
        (1, 7) => Ok(Arc::new(MemDevice(Mem::Full))),
        (1, 8) | (1, 9) => Ok(Arc::new(MemDevice(Mem::Random))),
        (1, 11) => super::kmsg::open(flags, caller),
        (5, 0) => tty::open_controlling(caller),
        (5, 1) | (4, 64) => Ok(tty::console_file()),
        (5, 2) => super::pty::open_master(caller),
        (super::pty::SLAVE_MAJOR, n) => super::pty::open_slave(n, flags, caller),
        (10, kestrel_abi::block::LOOP_CTRL_MINOR) => Ok(Arc::new(super::loopdev::Control)),
        (10, super::userfaultfd::DEV_MINOR) => Ok(Arc::new(super::userfaultfd::Device)),
        (10, 183) => crate::drivers::entropy_source()
            .map(|e| Arc::new(HwRng(e)) as Arc<dyn FileOps>)
            .ok_or(Errno::ENODEV),
        _ => Err(Errno::ENXIO),
    }
}

/// /dev/console opened read-write (init's standard streams).
pub fn open_console_file() -> KResult<Arc<OpenFile>> {
    let dentry = crate::fs::resolve_kernel(b"/dev/console")?;
    Ok(OpenFile::new(
        Some(dentry),
        tty::console_file(),
        O_RDWR | O_LARGEFILE,
    ))
}

/// The device file system: a ramfs with the nodes above.
pub fn make_devfs() -> KResult<InodeRef> {
    let dev = RamFs::new_root(makedev(0, 5));
    let nodes: [(&[u8], u64, u32); 11] = [
        (b"null", makedev(1, 3), 0o666),
        (b"zero", makedev(1, 5), 0o666),
        (b"full", makedev(1, 7), 0o666),
        (b"random", makedev(1, 8), 0o666),
        (b"urandom", makedev(1, 9), 0o666),
        (b"kmsg", makedev(1, 11), 0o644),
        (b"tty", makedev(5, 0), 0o666),
        (b"console", makedev(5, 1), 0o600),
        (b"ttyS0", makedev(4, 64), 0o660),
        (b"ptmx", makedev(5, 2), 0o666),
        (
            b"userfaultfd",
            makedev(10, super::userfaultfd::DEV_MINOR),
            0o600,
        ),
    ];
    for (name, rdev, mode) in nodes {
        dev.create(name, NodeKind::CharDev(rdev), mode, 0, 0)?;
    }
    dev.create(b"pts", NodeKind::Dir, 0o755, 0, 0)?;
    dev.create(b"shm", NodeKind::Dir, 0o1777, 0, 0)?;
    for (name, target) in [
        (&b"fd"[..], &b"/proc/self/fd"[..]),
        (b"stdin", b"/proc/self/fd/0"),
        (b"stdout", b"/proc/self/fd/1"),
        (b"stderr", b"/proc/self/fd/2"),
    ] {
        dev.create(name, NodeKind::Symlink(target.to_vec()), 0o777, 0, 0)?;
    }
    Ok(dev)
}

/// Adds a node to /dev once the system is up (a driver's device).
pub fn add_node(name: &[u8], kind: NodeKind, mode: u32) {
    let made =
        crate::fs::resolve_kernel(b"/dev").and_then(|d| d.inode.create(name, kind, mode, 0, 0));
    if let Err(e) = made {
        log::warn!(
            "/dev/{}: {e:?}",
            alloc::string::String::from_utf8_lossy(name)
        );
    }
}

/// /dev/hwrng (10:183): bytes straight from the hardware random source.
struct HwRng(Arc<dyn kestrel_driver_kit::EntropySource>);

impl FileOps for HwRng {
    fn read(&self, _file: &OpenFile, _pos: &mut u64, _buf: &mut [u8]) -> KResult<usize> {
        // Every read path goes through read_async; a synchronous caller gets no
        // data now (EAGAIN), which only a stream that already moved data asks for.
        Err(Errno::EAGAIN)
    }
    fn write(&self, _file: &OpenFile, _pos: &mut u64, _data: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn read_async<'a>(
        &'a self,
        _pos: u64,
        buf: &'a mut [u8],
    ) -> Option<kestrel_vfs::file::IoFuture<'a>> {
        Some(alloc::boxed::Box::pin(async move {
            if buf.is_empty() {
                return Ok(0);
            }
            self.0.read(buf).await.map_err(io_errno)
        }))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The errno for a device's I/O error.
pub fn io_errno(e: kestrel_driver_kit::IoError) -> Errno {
    use kestrel_driver_kit::IoError;
    match e {
        IoError::Device | IoError::Timeout => Errno::EIO,
        IoError::OutOfRange => Errno::EINVAL,
        IoError::Unsupported => Errno::EOPNOTSUPP,
        IoError::NoMemory => Errno::ENOMEM,
    }
}

/// Opens the block device `rdev` (/dev/vda...).
pub fn open_block(rdev: u64) -> KResult<Arc<dyn FileOps>> {
    let b = crate::drivers::block_by_rdev(rdev).ok_or(Errno::ENXIO)?;
    super::loopdev::opened(rdev);
    Ok(Arc::new(BlockFile(b)))
}

/// The disk behind `file`, if it is a block device opened as a whole disk
/// (fsync and sync flush its write cache).
pub fn block_of(file: &OpenFile) -> Option<Arc<crate::drivers::Block>> {
    file.ops()
        .as_any()
        .downcast_ref::<BlockFile>()
        .map(|b| b.0.clone())
}

/// A whole disk opened as a file: reads and writes at any offset and length, as
/// Linux's buffered block device files allow (whole sectors are read, and
/// partial ones read, changed and written back). While an ext2 file system is
/// mounted from the disk, both go through its block cache
/// ([`super::ext2::disk_cache`]); otherwise straight to the disk.
struct BlockFile(Arc<crate::drivers::Block>);

const SECTOR: u64 = 512;

impl Drop for BlockFile {
    fn drop(&mut self) {
        // A loop device marked autoclear lets go of its file at its last close.
        super::loopdev::closed(self.0.rdev);
    }
}

impl BlockFile {
    fn bytes(&self) -> u64 {
        self.0.dev.info().sectors * SECTOR
    }

    async fn read_sectors(&self, first: u64, buf: &mut [u8]) -> KResult<()> {
        match super::ext2::disk_cache_current(self.0.rdev).await {
            Some(cache) => kestrel_ext2::BlockIo::read(&*cache, first, buf).await,
            None => self.0.dev.read(first, buf).await.map_err(io_errno),
        }
    }

    async fn write_sectors(&self, first: u64, data: &[u8]) -> KResult<()> {
        match super::ext2::disk_cache(self.0.rdev) {
            Some(cache) => kestrel_ext2::BlockIo::write(&*cache, first, data).await,
            None => self.0.dev.write(first, data).await.map_err(io_errno),
        }
    }

    async fn read_at(&self, pos: u64, buf: &mut [u8]) -> KResult<usize> {
        let size = self.bytes();
        if pos >= size || buf.is_empty() {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(size - pos) as usize;
        let first = pos / SECTOR;
        if pos.is_multiple_of(SECTOR) && (n as u64).is_multiple_of(SECTOR) {
            // Whole sectors: straight into the caller's buffer.
            self.read_sectors(first, &mut buf[..n]).await?;
            return Ok(n);
        }
        let last = (pos + n as u64).div_ceil(SECTOR);
        let mut tmp = crate::syscall::zeroed_vec(((last - first) * SECTOR) as usize)?;
        self.read_sectors(first, &mut tmp).await?;
        let skip = (pos - first * SECTOR) as usize;
        buf[..n].copy_from_slice(&tmp[skip..skip + n]);
        Ok(n)
    }

    async fn write_at(&self, pos: u64, data: &[u8]) -> KResult<usize> {
        if self.0.read_only() {
            return Err(Errno::EPERM);
        }
        // An active swap device (Linux's blkdev_write_iter and IS_SWAPFILE).
        if super::swap::is_swap_device(self.0.rdev) {
            return Err(Errno::ETXTBSY);
        }
        let size = self.bytes();
        if pos >= size {
            return if data.is_empty() {
                Ok(0)
            } else {
                Err(Errno::ENOSPC)
            };
        }
        let n = (data.len() as u64).min(size - pos) as usize;
        let first = pos / SECTOR;
        if pos.is_multiple_of(SECTOR) && (n as u64).is_multiple_of(SECTOR) {
            self.write_sectors(first, &data[..n]).await?;
            return Ok(n);
        }
        let last = (pos + n as u64).div_ceil(SECTOR);
        let mut tmp = crate::syscall::zeroed_vec(((last - first) * SECTOR) as usize)?;
        let skip = (pos - first * SECTOR) as usize;
        // Partial sectors at either end keep the bytes around the write.
        if skip != 0 || !(pos + n as u64).is_multiple_of(SECTOR) {
            self.read_sectors(first, &mut tmp).await?;
        }
        tmp[skip..skip + n].copy_from_slice(&data[..n]);
        self.write_sectors(first, &tmp).await?;
        Ok(n)
    }
}

impl FileOps for BlockFile {
    fn read(&self, _file: &OpenFile, _pos: &mut u64, _buf: &mut [u8]) -> KResult<usize> {
        // Every read path goes through read_async; one that does not fails
        // instead of waiting for readiness that reads never use.
        Err(Errno::EIO)
    }
    fn write(&self, _file: &OpenFile, _pos: &mut u64, _data: &[u8]) -> KResult<usize> {
        Err(Errno::EIO)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn size(&self) -> Option<u64> {
        Some(self.bytes())
    }
    fn read_async<'a>(
        &'a self,
        pos: u64,
        buf: &'a mut [u8],
    ) -> Option<kestrel_vfs::file::IoFuture<'a>> {
        Some(alloc::boxed::Box::pin(self.read_at(pos, buf)))
    }
    fn write_async<'a>(
        &'a self,
        pos: u64,
        data: &'a [u8],
    ) -> Option<kestrel_vfs::file::IoFuture<'a>> {
        Some(alloc::boxed::Box::pin(self.write_at(pos, data)))
    }
    fn ioctl(
        &self,
        _file: &OpenFile,
        cmd: u32,
        arg: u64,
        mem: &dyn kestrel_vfs::UserSpace,
    ) -> KResult<u64> {
        const BLKROSET: u32 = 0x125d;
        const BLKROGET: u32 = 0x125e;
        const BLKGETSIZE: u32 = 0x1260;
        const BLKFLSBUF: u32 = 0x1261;
        const BLKRASET: u32 = 0x1262;
        const BLKRAGET: u32 = 0x1263;
        const BLKSECTGET: u32 = 0x1267;
        const BLKSSZGET: u32 = 0x1268;
        const BLKBSZGET: u32 = 0x8008_1270;
        const BLKGETSIZE64: u32 = 0x8008_1272;
        const BLKIOMIN: u32 = 0x1278;
        const BLKIOOPT: u32 = 0x1279;
        const BLKALIGNOFF: u32 = 0x127a;
        const BLKPBSZGET: u32 = 0x127b;
        const BLKDISCARDZEROES: u32 = 0x127c;
        const BLKROTATIONAL: u32 = 0x127e;
        use core::sync::atomic::Ordering::Relaxed;
        let info = self.0.dev.info();
        let put = |bytes: &[u8]| -> KResult<u64> {
            kestrel_vfs::UserPtr::<u8>::new(arg).write_slice(mem, bytes)?;
            Ok(0)
        };
        let admin = || {
            crate::process::current_thread().is_some_and(|t| {
                t.process
                    .cred
                    .lock()
                    .capable(kestrel_abi::cap::CAP_SYS_ADMIN)
            })
        };
        match cmd {
            BLKGETSIZE64 => put(&self.bytes().to_le_bytes()),
            BLKGETSIZE => put(&info.sectors.to_le_bytes()),
            BLKSSZGET => put(&(info.block_size as i32).to_le_bytes()),
            BLKPBSZGET | BLKIOMIN => put(&info.block_size.to_le_bytes()),
            BLKIOOPT | BLKALIGNOFF | BLKDISCARDZEROES => put(&0u32.to_le_bytes()),
            BLKBSZGET => put(&(info.block_size as i32).to_le_bytes()),
            // The largest request the queue takes, in sectors (an unsigned short).
            BLKSECTGET => put(&255u16.to_le_bytes()),
            BLKROTATIONAL => put(&0u16.to_le_bytes()),
            BLKROGET => put(&i32::from(self.0.read_only()).to_le_bytes()),
            // Linux's blkdev_roset: CAP_SYS_ADMIN, else EACCES; an int, 0 or not.
            BLKROSET => {
                if !admin() {
                    return Err(Errno::EACCES);
                }
                let mut v = [0u8; 4];
                kestrel_vfs::UserPtr::<u8>::new(arg).read_slice(mem, &mut v)?;
                self.0
                    .policy
                    .read_only
                    .store(i32::from_le_bytes(v) != 0, Relaxed);
                Ok(0)
            }
            // Read-ahead in sectors: BLKRAGET writes a long, BLKRASET takes
            // the value itself (CAP_SYS_ADMIN, else EACCES).
            BLKRAGET => put(&self.0.policy.read_ahead.load(Relaxed).to_le_bytes()),
            BLKRASET => {
                if !admin() {
                    return Err(Errno::EACCES);
                }
                self.0.policy.read_ahead.store(arg, Relaxed);
                Ok(0)
            }
            // Write back and drop what is cached for the disk: a mounted file
            // system's clean cached blocks go (CAP_SYS_ADMIN, else EACCES).
            BLKFLSBUF => {
                if !admin() {
                    return Err(Errno::EACCES);
                }
                if let Some(c) = super::ext2::disk_cache(self.0.rdev) {
                    c.drop_clean();
                }
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
