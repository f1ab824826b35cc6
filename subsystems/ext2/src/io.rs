//! What the file system reads and writes through: an async block interface.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;

use kestrel_abi::{Errno, KResult};

/// A boxed, sendable future (the driver kit's `BoxFuture`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The size of one sector: every offset of [`BlockIo`] counts these.
pub const SECTOR: usize = 512;

/// A disk as ext2 sees it: whole 512-byte sectors, read and written by futures. It has
/// the shape of the driver kit's `BlockDevice` so that the kernel can put a virtio-blk
/// disk (or the page cache in front of one) behind it with a few lines.
///
/// **Order.** A [`write`](BlockIo::write) is *ordered*: it may become durable only
/// after every write issued before it. A [`write_unordered`](BlockIo::write_unordered)
/// may become durable in any order with the writes issued since the last ordered
/// write (that one included), but still after everything issued before that, and
/// before every write issued after it that is ordered. In other words every ordered
/// write opens an *epoch*, unordered writes join the newest epoch, and epochs become
/// durable one after the other, the writes of one in any order. The
/// crash-consistency ordering of this crate (see the crate documentation) relies on
/// it; ext2 issues only file data and the first content of new blocks unordered. An
/// implementation that reorders more (a write-back cache) must keep this order when
/// it writes back, or make `flush` the only point where anything becomes durable;
/// one that keeps plain issue order (a disk written one request at a time) keeps it
/// too, which is what the default `write_unordered` does.
///
/// A driver-kit disk fits behind it directly (the kernel would put its page cache
/// in between):
/// ```ignore
/// struct KitDisk(Arc<dyn kestrel_driver_kit::BlockDevice>);
/// fn eio(e: IoError) -> Errno { match e { IoError::NoMemory => Errno::ENOMEM, _ => Errno::EIO } }
/// impl BlockIo for KitDisk {
///     fn sectors(&self) -> u64 { self.0.info().sectors }
///     fn read<'a>(&'a self, s: u64, b: &'a mut [u8]) -> BoxFuture<'a, KResult<()>> {
///         Box::pin(async move { self.0.read(s, b).await.map_err(eio) })
///     }
///     fn write<'a>(&'a self, s: u64, d: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
///         Box::pin(async move { self.0.write(s, d).await.map_err(eio) })
///     }
///     fn flush(&self) -> BoxFuture<'_, KResult<()>> {
///         Box::pin(async move { self.0.flush().await.map_err(eio) })
///     }
/// }
/// ```
pub trait BlockIo: Send + Sync {
    /// The size of the disk in sectors.
    fn sectors(&self) -> u64;
    /// Reads `buf.len() / 512` sectors starting at `sector`.
    fn read<'a>(&'a self, sector: u64, buf: &'a mut [u8]) -> BoxFuture<'a, KResult<()>>;
    /// Writes `data` (whole sectors) at `sector`.
    fn write<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, KResult<()>>;
    /// Writes `data` at `sector` with the weaker order above: it may reach the disk
    /// before the writes issued since the last ordered [`write`](BlockIo::write),
    /// that one included. The default is an ordered write.
    fn write_unordered<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
        self.write(sector, data)
    }
    /// Writes file data at `sector`, unordered as
    /// [`write_unordered`](BlockIo::write_unordered): a cache in between may keep
    /// it only until the disk has it (the kernel keeps file content in its page
    /// cache). The default is an unordered write.
    fn write_data<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
        self.write_unordered(sector, data)
    }
    /// Reads file data: as [`read`](BlockIo::read), but a cache in between
    /// answers from what it holds without keeping what it had to read (the
    /// caller keeps it). The default is a read.
    fn read_data<'a>(&'a self, sector: u64, buf: &'a mut [u8]) -> BoxFuture<'a, KResult<()>> {
        self.read(sector, buf)
    }
    /// Makes every completed write durable.
    fn flush(&self) -> BoxFuture<'_, KResult<()>>;
    /// Whether `count` sectors from `sector` can be read without waiting for
    /// the disk (RWF_NOWAIT): a cache answers for what it holds; a disk in
    /// memory always can (the default).
    fn cached(&self, _sector: u64, _count: u64) -> bool {
        true
    }
}

/// A disk in memory: for tests, and for images loaded whole.
pub struct MemDisk {
    bytes: spin::Mutex<Vec<u8>>,
    /// When set, the number of further writes that succeed before every write
    /// fails with EIO (a disk dying, or power lost, in tests).
    writes_left: spin::Mutex<Option<u64>>,
    writes: core::sync::atomic::AtomicU64,
}

impl MemDisk {
    /// A disk holding `bytes` (its length rounded down to whole sectors).
    pub fn new(mut bytes: Vec<u8>) -> Self {
        bytes.truncate(bytes.len() / SECTOR * SECTOR);
        Self {
            bytes: spin::Mutex::new(bytes),
            writes_left: spin::Mutex::new(None),
            writes: core::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A copy of the disk's content.
    pub fn contents(&self) -> Vec<u8> {
        self.bytes.lock().clone()
    }

    /// How many write requests succeeded so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// Lets `n` more writes through, then fails every write with EIO (`None`: all
    /// writes succeed).
    pub fn fail_writes_after(&self, n: Option<u64>) {
        *self.writes_left.lock() = n;
    }

    fn range(&self, sector: u64, len: usize) -> KResult<core::ops::Range<usize>> {
        let start = usize::try_from(sector)
            .ok()
            .and_then(|s| s.checked_mul(SECTOR))
            .ok_or(Errno::EIO)?;
        let end = start.checked_add(len).ok_or(Errno::EIO)?;
        if end > self.bytes.lock().len() || !len.is_multiple_of(SECTOR) {
            return Err(Errno::EIO);
        }
        Ok(start..end)
    }
}

impl BlockIo for MemDisk {
    fn sectors(&self) -> u64 {
        (self.bytes.lock().len() / SECTOR) as u64
    }

    fn read<'a>(&'a self, sector: u64, buf: &'a mut [u8]) -> BoxFuture<'a, KResult<()>> {
        Box::pin(async move {
            let r = self.range(sector, buf.len())?;
            buf.copy_from_slice(&self.bytes.lock()[r]);
            Ok(())
        })
    }

    fn write<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, KResult<()>> {
        Box::pin(async move {
            let r = self.range(sector, data.len())?;
            {
                let mut left = self.writes_left.lock();
                match left.as_mut() {
                    Some(0) => return Err(Errno::EIO),
                    Some(n) => *n -= 1,
                    None => {}
                }
            }
            self.bytes.lock()[r].copy_from_slice(data);
            self.writes
                .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
    }

    fn flush(&self) -> BoxFuture<'_, KResult<()>> {
        Box::pin(async { Ok(()) })
    }
}
