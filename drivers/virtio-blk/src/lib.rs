//! virtio-blk: a virtio disk, offered to the kernel as a [`BlockDevice`]
//! (`/dev/vda`, `/dev/vdb`...).
//!
//! The device (virtio 1.2, section 5.2) has request queues and a configuration
//! that says how big the disk is and what requests it takes. A request is one
//! chain of buffers:
//!
//! | part | who writes it | what |
//! |---|---|---|
//! | header, 16 bytes | driver | `type` (le32), reserved (le32), `sector` (le64, always 512-byte units) |
//! | data | driver (write) or device (read) | whole sectors |
//! | status, 1 byte | device | `VIRTIO_BLK_S_OK`, `_IOERR` or `_UNSUPP` |
//!
//! A discard puts a 16-byte range (`sector`, `num_sectors`, `flags`) where the
//! data would be; a flush has no data at all.
//!
//! **What this driver does.** It negotiates `VIRTIO_BLK_F_RO`, `_BLK_SIZE`,
//! `_FLUSH`, `_DISCARD`, `_SEG_MAX` and `_SIZE_MAX` when offered (VERSION_1 is
//! the transport's). It uses one request queue, of up to 256 entries: not
//! `VIRTIO_BLK_F_MQ` (the queue itself takes many requests at once; several
//! queues would only spread completions over CPUs). Every [`BlockDevice`] call
//! is its own future and becomes one or more requests on the queue, which
//! completes them in whatever order the device finishes them. A call larger
//! than one request may be is split at the device's limits (at most
//! `seg_max` segments of at most `size_max` bytes each, and 128 KiB), and up to
//! 8 of its pieces are in flight at once.
//!
//! **Bounce buffers.** The caller's slices are ordinary kernel memory, not DMA
//! memory, so data is copied through DMA buffers: one small buffer per request
//! (header, discard range, status) and one data buffer of the largest request
//! size. Both are kept in pools for the next request; a buffer the device might
//! still hold (its request timed out) is never reused: the queue frees it when
//! the device gives it back.
//!
//! **Errors.** A request past the end of the disk, or not in whole sectors, is
//! `OutOfRange` before the device sees anything. The device's `IOERR` is
//! `IoError::Device`, `UNSUPP` is `Unsupported`; a status byte the device did
//! not write (it starts as 0xff), a read it says it did not fill, or a broken
//! queue are `Device`; a device that does not answer within the queue's
//! timeout (30 s, noticed by the queue's watchdog within 2 s more) is
//! `Timeout`. Writes and discards on a read-only disk are
//! `Unsupported` without a request. Without `VIRTIO_BLK_F_FLUSH` the device has
//! no volatile cache (its writes are durable when they complete), so
//! [`BlockDevice::flush`] has nothing to do.
//!
//! A configuration-change interrupt re-reads the capacity (a disk resized
//! under a running guest, as QEMU's `block_resize` does).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::sync::atomic::{AtomicU64, Ordering};

use kestrel_driver_kit::{
    BlockDevice, BlockInfo, BoxFuture, ClassDevice, DmaAllocator, DmaBuffer, Driver, Host, IoError,
    PciFunction, PciId, ProbeError,
};
use kestrel_virtio::id::VIRTIO_ID_BLOCK;
use kestrel_virtio::{Segment, VirtioPci, Virtqueue, virtio_device_type};

/// Feature bits (`VIRTIO_BLK_F_*`), as masks.
pub mod feature {
    /// `size_max` is the largest segment.
    pub const VIRTIO_BLK_F_SIZE_MAX: u64 = 1 << 1;
    /// `seg_max` is the most data segments in a request.
    pub const VIRTIO_BLK_F_SEG_MAX: u64 = 1 << 2;
    pub const VIRTIO_BLK_F_GEOMETRY: u64 = 1 << 4;
    /// The disk is read-only.
    pub const VIRTIO_BLK_F_RO: u64 = 1 << 5;
    /// `blk_size` is the logical block size.
    pub const VIRTIO_BLK_F_BLK_SIZE: u64 = 1 << 6;
    /// The device has a volatile write cache and takes flush requests.
    pub const VIRTIO_BLK_F_FLUSH: u64 = 1 << 9;
    pub const VIRTIO_BLK_F_TOPOLOGY: u64 = 1 << 10;
    pub const VIRTIO_BLK_F_CONFIG_WCE: u64 = 1 << 11;
    /// Several request queues (not used: one is enough here).
    pub const VIRTIO_BLK_F_MQ: u64 = 1 << 12;
    /// Discard requests, limited by `max_discard_sectors` and `max_discard_seg`.
    pub const VIRTIO_BLK_F_DISCARD: u64 = 1 << 13;
    pub const VIRTIO_BLK_F_WRITE_ZEROES: u64 = 1 << 14;
}

/// Offsets in the device configuration (`struct virtio_blk_config`).
pub mod config {
    /// le64: the size in 512-byte sectors.
    pub const CAPACITY: usize = 0;
    /// le32.
    pub const SIZE_MAX: usize = 8;
    /// le32.
    pub const SEG_MAX: usize = 12;
    /// le32.
    pub const BLK_SIZE: usize = 20;
    /// le32.
    pub const MAX_DISCARD_SECTORS: usize = 36;
    /// le32.
    pub const MAX_DISCARD_SEG: usize = 40;
    /// le32.
    pub const DISCARD_SECTOR_ALIGNMENT: usize = 44;
}

/// Request types (`VIRTIO_BLK_T_*`).
pub mod request {
    pub const VIRTIO_BLK_T_IN: u32 = 0;
    pub const VIRTIO_BLK_T_OUT: u32 = 1;
    pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
    pub const VIRTIO_BLK_T_GET_ID: u32 = 8;
    pub const VIRTIO_BLK_T_DISCARD: u32 = 11;
    pub const VIRTIO_BLK_T_WRITE_ZEROES: u32 = 13;
}

/// Request status bytes (`VIRTIO_BLK_S_*`).
pub mod status {
    pub const VIRTIO_BLK_S_OK: u8 = 0;
    pub const VIRTIO_BLK_S_IOERR: u8 = 1;
    pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;
}

use feature::*;
use request::*;
use status::*;

/// The protocol's sector: every offset and count is in these.
pub const SECTOR: usize = 512;
/// The features this driver accepts when the device offers them.
pub const WANTED: u64 = VIRTIO_BLK_F_RO
    | VIRTIO_BLK_F_BLK_SIZE
    | VIRTIO_BLK_F_FLUSH
    | VIRTIO_BLK_F_DISCARD
    | VIRTIO_BLK_F_SEG_MAX
    | VIRTIO_BLK_F_SIZE_MAX;
/// Entries asked for in the request queue (QEMU's default size).
pub const QUEUE_SIZE: u16 = 256;
/// The most data bytes in one request, whatever the device allows: the size
/// of a bounce buffer (a power of two, so it wastes nothing in a buddy
/// allocator).
pub const MAX_REQUEST_BYTES: usize = 128 * 1024;
/// Pieces of one call in flight at once.
pub const PARALLEL: usize = 8;
/// Buffers of each kind kept for reuse: enough for 32 requests in flight (a
/// fresh buffer is a zeroed allocation of up to 128 KiB; with 16 kept, 32
/// readers spent their time making them), 4 MiB of data buffers at most.
const KEEP: usize = 32;

/// Where things are in a request's small buffer: the header, then the discard
/// range (so the device reads both as one segment), then the status byte.
const HEADER_AT: usize = 0;
const HEADER_LEN: usize = 16;
const RANGE_LEN: usize = 16;
const STATUS_AT: usize = HEADER_LEN + RANGE_LEN;
const META_LEN: usize = STATUS_AT + 1;
/// What the status byte holds until the device writes it (no valid status).
const STATUS_UNWRITTEN: u8 = 0xff;

/// The driver: takes every virtio block device.
pub struct VirtioBlkDriver;

impl Driver for VirtioBlkDriver {
    fn name(&self) -> &'static str {
        "virtio-blk"
    }

    fn matches(&self, id: &PciId) -> bool {
        virtio_device_type(id) == Some(VIRTIO_ID_BLOCK)
    }

    fn probe(&self, function: Arc<dyn PciFunction>, host: Arc<dyn Host>) -> Result<(), ProbeError> {
        let disk = VirtioBlk::probe(function, &host)?;
        host.register(ClassDevice::Block("vd", disk));
        Ok(())
    }
}

/// How big a request may be, from the device's limits and the queue's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Data bytes in one request: whole sectors (whole blocks where possible).
    pub request_bytes: usize,
    /// Bytes in one data segment.
    pub segment_bytes: usize,
    /// Sectors in one discard request.
    pub discard_sectors: u64,
}

impl Limits {
    /// The limits for a device offering `size_max` and `seg_max` (when
    /// negotiated; 0 otherwise) through a queue of `queue_size` entries.
    pub fn new(
        size_max: u32,
        seg_max: u32,
        queue_size: u16,
        block_size: u32,
        max_discard_sectors: u32,
    ) -> Result<Self, ProbeError> {
        // Without VIRTIO_BLK_F_SEG_MAX nothing says more than one segment is
        // fine; the header and status take two descriptors of every chain.
        let segments = (seg_max.max(1) as usize).min(usize::from(queue_size).saturating_sub(2));
        let segment_bytes = match size_max {
            0 => MAX_REQUEST_BYTES,
            n => (n as usize).min(MAX_REQUEST_BYTES),
        };
        let most = segment_bytes
            .saturating_mul(segments)
            .min(MAX_REQUEST_BYTES);
        let unit = if most >= block_size as usize {
            block_size as usize
        } else {
            SECTOR
        };
        let request_bytes = most - most % unit;
        if request_bytes == 0 {
            return Err(ProbeError::Unsupported(
                "the device's segment limits hold less than one sector",
            ));
        }
        Ok(Self {
            request_bytes,
            segment_bytes,
            discard_sectors: match max_discard_sectors {
                0 => u64::from(u32::MAX),
                n => u64::from(n),
            },
        })
    }
}

/// What the device configuration says, read once at probe.
#[derive(Debug, Clone, Copy)]
struct Config {
    capacity: u64,
    size_max: u32,
    seg_max: u32,
    blk_size: u32,
    max_discard_sectors: u32,
}

/// DMA buffers of one size, kept for reuse.
struct Pool {
    dma: Arc<dyn DmaAllocator>,
    len: usize,
    free: spin::Mutex<Vec<Arc<DmaBuffer>>>,
}

impl Pool {
    fn new(dma: Arc<dyn DmaAllocator>, len: usize) -> Self {
        Self {
            dma,
            len,
            free: spin::Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Result<Arc<DmaBuffer>, IoError> {
        if let Some(b) = self.free.lock().pop() {
            return Ok(b);
        }
        self.dma
            .alloc(self.len)
            .map(Arc::new)
            .map_err(|_| IoError::NoMemory)
    }

    /// Keeps `b` for the next request, unless the queue still holds it (its
    /// request timed out: the device may yet write it) or enough are kept.
    fn give(&self, b: Arc<DmaBuffer>) {
        if Arc::strong_count(&b) != 1 {
            return;
        }
        let mut free = self.free.lock();
        if free.len() < KEEP {
            free.push(b);
        }
    }

    /// Buffers kept now.
    fn kept(&self) -> usize {
        self.free.lock().len()
    }
}

/// One virtio disk.
pub struct VirtioBlk {
    virtio: Arc<VirtioPci>,
    queue: Arc<Virtqueue>,
    sectors: AtomicU64,
    block_size: u32,
    read_only: bool,
    flush: bool,
    discard: bool,
    limits: Limits,
    meta: Pool,
    data: Pool,
}

impl VirtioBlk {
    /// Sets the device up: features, configuration, the request queue, its
    /// interrupts, and a task that follows configuration changes.
    pub fn probe(
        function: Arc<dyn PciFunction>,
        host: &Arc<dyn Host>,
    ) -> Result<Arc<Self>, ProbeError> {
        let virtio = Arc::new(VirtioPci::new(function)?);
        let features = virtio.negotiate(WANTED)?;
        let has = |f: u64| features & f == f;
        let fail = |e: ProbeError| {
            log::warn!("virtio-blk {}: {e}", virtio.function().address());
            virtio.fail();
            e
        };
        if virtio.config_len() < config::SEG_MAX + 4 {
            return Err(fail(ProbeError::Unsupported(
                "no device configuration (capacity)",
            )));
        }
        let cfg = virtio.read_config(|c| Config {
            capacity: c.read64(config::CAPACITY),
            size_max: if has(VIRTIO_BLK_F_SIZE_MAX) {
                c.read32(config::SIZE_MAX)
            } else {
                0
            },
            seg_max: if has(VIRTIO_BLK_F_SEG_MAX) {
                c.read32(config::SEG_MAX)
            } else {
                0
            },
            blk_size: if has(VIRTIO_BLK_F_BLK_SIZE) {
                c.read32(config::BLK_SIZE)
            } else {
                SECTOR as u32
            },
            max_discard_sectors: if has(VIRTIO_BLK_F_DISCARD) {
                c.read32(config::MAX_DISCARD_SECTORS)
            } else {
                0
            },
        });
        let block_size = if cfg.blk_size.is_power_of_two() && (512..=65536).contains(&cfg.blk_size)
        {
            cfg.blk_size
        } else {
            log::warn!(
                "virtio-blk {}: block size {} is not a power of two from 512 to 64 KiB; using 512",
                virtio.function().address(),
                cfg.blk_size
            );
            SECTOR as u32
        };
        let queue = virtio
            .setup_queues(host, &[QUEUE_SIZE])?
            .pop()
            .ok_or_else(|| fail(ProbeError::Device("no request queue")))?;
        let limits = Limits::new(
            cfg.size_max,
            cfg.seg_max,
            queue.size(),
            block_size,
            cfg.max_discard_sectors,
        )
        .map_err(fail)?;
        virtio.driver_ok();
        let dma = host.dma();
        let disk = Arc::new(Self {
            virtio: virtio.clone(),
            queue,
            sectors: AtomicU64::new(cfg.capacity),
            block_size,
            read_only: has(VIRTIO_BLK_F_RO),
            flush: has(VIRTIO_BLK_F_FLUSH),
            discard: has(VIRTIO_BLK_F_DISCARD),
            limits,
            meta: Pool::new(dma.clone(), META_LEN),
            data: Pool::new(dma, limits.request_bytes),
        });
        log::info!(
            "virtio-blk {}: {} sectors of 512 bytes, blocks of {}{}{}{}; requests up to {} KiB in {}-byte segments, queue of {}",
            virtio.function().address(),
            cfg.capacity,
            block_size,
            if disk.read_only { ", read-only" } else { "" },
            if disk.flush {
                ", write cache (flush)"
            } else {
                ""
            },
            if disk.discard { ", discard" } else { "" },
            limits.request_bytes / 1024,
            limits.segment_bytes,
            disk.queue.size()
        );
        host.spawn("virtio-blk-config", disk.clone().follow_config());
        Ok(disk)
    }

    /// Re-reads the capacity whenever the device says its configuration changed.
    fn follow_config(self: Arc<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let irq = self.virtio.config_changed().clone();
            loop {
                let ticket = irq.ticket();
                let capacity = self.virtio.read_config(|c| c.read64(config::CAPACITY));
                let old = self.sectors.swap(capacity, Ordering::Relaxed);
                if old != capacity {
                    log::info!(
                        "virtio-blk {}: capacity changed from {old} to {capacity} sectors",
                        self.virtio.function().address()
                    );
                }
                ticket.await;
            }
        })
    }

    /// The request limits in use.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The request queue.
    pub fn queue(&self) -> &Arc<Virtqueue> {
        &self.queue
    }

    /// Bounce buffers kept for reuse now: (small ones, data ones).
    pub fn pooled(&self) -> (usize, usize) {
        (self.meta.kept(), self.data.kept())
    }

    /// The sectors `bytes` covers from `sector`, if they are whole and on the
    /// disk.
    fn check(&self, sector: u64, bytes: usize) -> Result<u64, IoError> {
        if !bytes.is_multiple_of(SECTOR) {
            return Err(IoError::OutOfRange);
        }
        let count = (bytes / SECTOR) as u64;
        match sector.checked_add(count) {
            Some(end) if end <= self.sectors.load(Ordering::Relaxed) => Ok(count),
            _ => Err(IoError::OutOfRange),
        }
    }

    /// One request: the header (and `range`, for a discard) from `meta`, then
    /// `len` bytes of `data` (read by the device, or written by it if
    /// `device_writes`), then the status byte. Returns once the device has
    /// answered, with its status as the result.
    async fn submit(
        &self,
        meta: &Arc<DmaBuffer>,
        kind: u32,
        sector: u64,
        range: Option<[u8; RANGE_LEN]>,
        data: Option<(&Arc<DmaBuffer>, usize, bool)>,
    ) -> Result<(), IoError> {
        let mut header = [0u8; HEADER_LEN];
        header[0..4].copy_from_slice(&kind.to_le_bytes());
        header[8..16].copy_from_slice(&sector.to_le_bytes());
        meta.write(HEADER_AT, &header);
        let mut out_len = HEADER_LEN;
        if let Some(r) = range {
            meta.write(HEADER_LEN, &r);
            out_len += RANGE_LEN;
        }
        meta.write(STATUS_AT, &[STATUS_UNWRITTEN]);

        // One Vec for the whole chain, handed to the queue as it is: the
        // header, the data segments, the status byte.
        let step = self.limits.segment_bytes;
        let data_segments = data.map_or(0, |(_, len, _)| len.div_ceil(step));
        let mut chain = Vec::with_capacity(data_segments + 2);
        chain.push(Segment::new(meta.clone(), HEADER_AT, out_len));
        let mut device_fills = 0;
        let mut readable = 1;
        if let Some((buf, len, device_writes)) = data {
            chain.extend(
                (0..len)
                    .step_by(step)
                    .map(|at| Segment::new(buf.clone(), at, step.min(len - at))),
            );
            if device_writes {
                device_fills = len;
            } else {
                readable = chain.len();
            }
        }
        chain.push(Segment::new(meta.clone(), STATUS_AT, 1));

        let done = self.queue.submit_chain(chain, readable).await?;
        let mut status = [0u8];
        meta.read(STATUS_AT, &mut status);
        let addr = self.virtio.function().address();
        match status[0] {
            VIRTIO_BLK_S_OK => {}
            VIRTIO_BLK_S_IOERR => {
                log::warn!("virtio-blk {addr}: I/O error (request {kind} at sector {sector})");
                return Err(IoError::Device);
            }
            VIRTIO_BLK_S_UNSUPP => return Err(IoError::Unsupported),
            other => {
                log::error!(
                    "virtio-blk {addr}: status {other:#x} (request {kind} at sector {sector}); failed"
                );
                return Err(IoError::Device);
            }
        }
        // The used length counts the data and the status byte; Linux ignores
        // it, and some devices leave the status byte out, but data it says it
        // did not write is not data.
        if done.written < device_fills {
            log::error!(
                "virtio-blk {addr}: a read of {device_fills} bytes at sector {sector} came back with {} bytes; failed",
                done.written
            );
            return Err(IoError::Device);
        }
        Ok(())
    }

    /// Reads `out.len()` bytes (at most one request's worth) from `sector`.
    async fn read_piece(&self, sector: u64, out: &mut [u8]) -> Result<(), IoError> {
        let meta = self.meta.take()?;
        let data = self.data.take()?;
        let r = self
            .submit(
                &meta,
                VIRTIO_BLK_T_IN,
                sector,
                None,
                Some((&data, out.len(), true)),
            )
            .await;
        if r.is_ok() {
            data.read(0, out);
        }
        self.meta.give(meta);
        self.data.give(data);
        r
    }

    /// Writes `chunk` (at most one request's worth) at `sector`.
    async fn write_piece(&self, sector: u64, chunk: &[u8]) -> Result<(), IoError> {
        let meta = self.meta.take()?;
        let data = self.data.take()?;
        data.write(0, chunk);
        let r = self
            .submit(
                &meta,
                VIRTIO_BLK_T_OUT,
                sector,
                None,
                Some((&data, chunk.len(), false)),
            )
            .await;
        self.meta.give(meta);
        self.data.give(data);
        r
    }

    /// Discards `count` sectors (at most one request's worth) from `sector`.
    async fn discard_piece(&self, sector: u64, count: u32) -> Result<(), IoError> {
        let meta = self.meta.take()?;
        // struct virtio_blk_discard_write_zeroes: sector, num_sectors, flags.
        let mut range = [0u8; RANGE_LEN];
        range[0..8].copy_from_slice(&sector.to_le_bytes());
        range[8..12].copy_from_slice(&count.to_le_bytes());
        let r = self
            .submit(&meta, VIRTIO_BLK_T_DISCARD, 0, Some(range), None)
            .await;
        self.meta.give(meta);
        r
    }

    async fn do_read(&self, sector: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.check(sector, buf.len())?;
        let step = self.limits.request_bytes;
        if buf.is_empty() {
            return Ok(());
        }
        if buf.len() <= step {
            // One request (a 128 KiB read, a block of a file system): no list
            // of pieces to build and join.
            return self.read_piece(sector, buf).await;
        }
        let per = (step / SECTOR) as u64;
        // Collected first: an iterator with a closure held across an await
        // trips the compiler's Send check (rust-lang/rust#102211).
        let pieces: Vec<_> = buf
            .chunks_mut(step)
            .zip((0..).map(|i: u64| sector + i * per))
            .map(|(chunk, s)| self.read_piece(s, chunk))
            .collect();
        all(pieces).await
    }

    async fn do_write(&self, sector: u64, data: &[u8]) -> Result<(), IoError> {
        if self.read_only {
            return Err(IoError::Unsupported);
        }
        self.check(sector, data.len())?;
        let step = self.limits.request_bytes;
        if data.is_empty() {
            return Ok(());
        }
        if data.len() <= step {
            return self.write_piece(sector, data).await;
        }
        let per = (step / SECTOR) as u64;
        let pieces: Vec<_> = data
            .chunks(step)
            .zip((0..).map(|i: u64| sector + i * per))
            .map(|(chunk, s)| self.write_piece(s, chunk))
            .collect();
        all(pieces).await
    }

    async fn do_flush(&self) -> Result<(), IoError> {
        if !self.flush {
            // No volatile cache: every completed write is already durable.
            return Ok(());
        }
        let meta = self.meta.take()?;
        let r = self.submit(&meta, VIRTIO_BLK_T_FLUSH, 0, None, None).await;
        self.meta.give(meta);
        r
    }

    async fn do_discard(&self, sector: u64, count: u64) -> Result<(), IoError> {
        if !self.discard || self.read_only {
            return Err(IoError::Unsupported);
        }
        let bytes = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(SECTOR))
            .ok_or(IoError::OutOfRange)?;
        self.check(sector, bytes)?;
        let step = self.limits.discard_sectors;
        let pieces: Vec<_> = (0..count.div_ceil(step))
            .map(|i| {
                let s = sector + i * step;
                self.discard_piece(s, step.min(sector + count - s) as u32)
            })
            .collect();
        all(pieces).await
    }
}

/// Runs `pieces` (requests of one call), [`PARALLEL`] at a time; the first
/// error ends the call once the pieces in flight are done.
async fn all<F: Future<Output = Result<(), IoError>>>(pieces: Vec<F>) -> Result<(), IoError> {
    let mut pieces = pieces.into_iter();
    while pieces.len() > 0 {
        let batch: Vec<F> = pieces.by_ref().take(PARALLEL).collect();
        for r in futures_util::future::join_all(batch).await {
            r?;
        }
    }
    Ok(())
}

impl BlockDevice for VirtioBlk {
    fn info(&self) -> BlockInfo {
        BlockInfo {
            sectors: self.sectors.load(Ordering::Relaxed),
            block_size: self.block_size,
            read_only: self.read_only,
            discard: self.discard && !self.read_only,
        }
    }

    fn read<'a>(&'a self, sector: u64, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(), IoError>> {
        Box::pin(self.do_read(sector, buf))
    }

    fn write<'a>(&'a self, sector: u64, data: &'a [u8]) -> BoxFuture<'a, Result<(), IoError>> {
        Box::pin(self.do_write(sector, data))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), IoError>> {
        Box::pin(self.do_flush())
    }

    fn discard(&self, sector: u64, count: u64) -> BoxFuture<'_, Result<(), IoError>> {
        Box::pin(self.do_discard(sector, count))
    }
}

#[cfg(test)]
mod tests;
