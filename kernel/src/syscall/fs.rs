//! File system calls: open, read and write, metadata, directories, names.
//!
//! Data moves through kernel buffers: a read fills a kernel buffer from the file and
//! copies it out; a write copies in first. Before a read consumes data it checks how
//! much of the user buffer is writable, so data is never taken from a pipe or a tty
//! and then lost to EFAULT. As Linux, a regular file takes or gives the part of a
//! partly valid buffer that is valid (a short count); a stream fails with EFAULT.

use alloc::boxed::Box;
use alloc::sync::Arc;

use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::process::RLIM_INFINITY;
use kestrel_abi::time::{Timespec, Timeval};
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::inode::{access, check_access, may_access};
use kestrel_vfs::{DentryRef, InodeRef, NodeKind, OpenFile};

use super::args::*;
use super::{Ctx, MAX_RW_COUNT, wait_for};
use crate::process::Thread;
use crate::process::signal::interruptible;
use kestrel_landlock::access as LL;

/// Bytes moved per step of a read or write.
const CHUNK: usize = 128 * 1024;

fn is_stream(f: &OpenFile) -> bool {
    !f.ops().seekable()
}

/// Waits until `file` polls readable (ERESTARTSYS if a signal comes first),
/// for a blocking read that found nothing. A file whose poll said "readable"
/// while its read still says EAGAIN must not pin the CPU: after a wait that
/// found nothing (`waited`), others get a turn first. (Not after every wait:
/// a woken reader that finds its data is the common case, and an extra trip
/// through the executor there is a pipe hand-off's cost.)
async fn wait_readable(ctx: &Ctx<'_>, file: &OpenFile, waited: bool) -> KResult<()> {
    if waited {
        kestrel_executor::yield_now().await;
    }
    // Boxed, as every wait here: a parked thread keeps its system call's
    // future, and these would make every read's larger.
    Box::pin(interruptible(ctx.thread, Errno::ERESTARTSYS, async {
        wait_for(file, POLLIN).await;
        Ok(())
    }))
    .await
}

/// A read that waits for data unless the file is non-blocking. A signal ends the
/// wait with ERESTARTSYS (restarted with SA_RESTART, else EINTR).
pub async fn read_blocking(ctx: &Ctx<'_>, file: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
    if let Some(io) = file.ops().read_waiting(file, buf) {
        return io.await;
    }
    if let Some(io) = file.read_async(None, buf) {
        return io.await;
    }
    let mut waited = false;
    loop {
        match file.read(buf) {
            Err(Errno::EAGAIN) if !file.nonblocking() => {
                wait_readable(ctx, file, waited).await?;
                waited = true;
            }
            r => return r,
        }
    }
}

/// A write that waits for room, writing everything unless non-blocking.
pub async fn write_blocking(ctx: &Ctx<'_>, file: &OpenFile, data: &[u8]) -> KResult<usize> {
    if let Some(io) = file.ops().write_waiting(file, data) {
        return io.await;
    }
    write_plain(ctx.thread, file, data).await
}

/// [`write_blocking`] for a file that does no waiting of its own: write, wait for
/// POLLOUT, write on (a terminal's [`FileOps::write_waiting`] ends here too).
pub async fn write_plain(thread: &Thread, file: &OpenFile, data: &[u8]) -> KResult<usize> {
    if let Some(io) = file.write_async(None, data) {
        return io.await;
    }
    let mut done = 0;
    while done < data.len() {
        match file.write(&data[done..]) {
            Ok(n) => done += n,
            Err(Errno::EAGAIN) if !file.nonblocking() => {
                let wait = async {
                    wait_for(file, POLLOUT).await;
                    Ok(())
                };
                if let Err(e) = Box::pin(interruptible(thread, Errno::ERESTARTSYS, wait)).await {
                    // A write that already moved data returns the count (pipe(7)).
                    return if done > 0 { Ok(done) } else { Err(e) };
                }
            }
            Err(Errno::EAGAIN) if done > 0 => break,
            Err(Errno::EPIPE) => {
                crate::process::signal::send(&thread.process, kestrel_abi::signal::SIGPIPE);
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EPIPE)
                };
            }
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        }
        if !file.ops().seekable() && done > 0 && file.nonblocking() {
            break;
        }
    }
    Ok(done)
}

/// The soft RLIMIT_FSIZE of the caller (RLIM_INFINITY: none).
fn fsize_soft_limit(ctx: &Ctx<'_>) -> u64 {
    ctx.process().rlimits.lock()[kestrel_abi::process::RLIMIT_FSIZE as usize].rlim_cur
}

/// EFBIG, and SIGXFSZ to the caller: a file would grow past RLIMIT_FSIZE.
fn fsize_exceeded(ctx: &Ctx<'_>) -> Errno {
    crate::process::signal::send(ctx.process(), kestrel_abi::signal::SIGXFSZ);
    Errno::EFBIG
}

/// How much of a write of `count` bytes to `file` at `offset` (None: at its
/// position, or its end with O_APPEND) RLIMIT_FSIZE lets through, as Linux's
/// generic_write_check_limits: for a regular file, up to the limit; from at or
/// past it, nothing: EFBIG and SIGXFSZ.
pub(super) fn fsize_write_limit(
    ctx: &Ctx<'_>,
    file: &OpenFile,
    offset: Option<u64>,
    count: usize,
) -> KResult<usize> {
    let limit = fsize_soft_limit(ctx);
    if limit == RLIM_INFINITY || count == 0 {
        return Ok(count);
    }
    let Ok(m) = file.metadata() else {
        return Ok(count);
    };
    if !m.is_regular() {
        return Ok(count);
    }
    let pos = match offset {
        Some(p) => p,
        None if file.flags() & O_APPEND != 0 => m.size,
        None => file.position(),
    };
    if pos >= limit {
        return Err(fsize_exceeded(ctx));
    }
    Ok(count.min(usize::try_from(limit - pos).unwrap_or(usize::MAX)))
}

/// Whether a regular file of `size` bytes may become `new_size` bytes long under
/// RLIMIT_FSIZE (Linux's inode_newsize_ok): growing past the limit is EFBIG and
/// SIGXFSZ.
pub(super) fn fsize_grow_ok(ctx: &Ctx<'_>, size: u64, new_size: u64) -> KResult<()> {
    let limit = fsize_soft_limit(ctx);
    if new_size > size && limit != RLIM_INFINITY && new_size > limit {
        return Err(fsize_exceeded(ctx));
    }
    Ok(())
}

/// A kernel buffer for moving `len` bytes a chunk at a time (ENOMEM if the heap
/// cannot give even one chunk).
pub(super) fn bounce(len: usize) -> KResult<Bounce> {
    let len = len.min(CHUNK);
    if len >= BOUNCE_REUSE_FROM
        && let Some(buf) = BOUNCE_POOL.lock().pop()
    {
        return Ok(Bounce { buf, len });
    }
    let size = if len >= BOUNCE_REUSE_FROM { CHUNK } else { len };
    let buf = crate::mm::heap::zeroed_bytes(size).ok_or(Errno::ENOMEM)?;
    Ok(Bounce { buf, len })
}

/// Bounce buffers of at least this many bytes are CHUNK-sized and reused.
const BOUNCE_REUSE_FROM: usize = 4096;
/// At most this many are kept (2 MiB).
const BOUNCE_KEEP: usize = 16;

/// Large bounce buffers kept between calls. A fresh one is 32 frames that the
/// frame allocator clears (a third of the time of a 128 KiB read of a disk went
/// there); a reused one holds bytes of an earlier transfer, which only the
/// bytes a file or the user fills are ever copied from, as with Linux's pages.
static BOUNCE_POOL: spin::Mutex<Vec<Vec<u8>>> = spin::Mutex::new(Vec::new());

/// A system call's kernel buffer: `len` bytes, back to the pool when dropped.
pub(super) struct Bounce {
    buf: Vec<u8>,
    len: usize,
}

impl core::ops::Deref for Bounce {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl core::ops::DerefMut for Bounce {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Bounce {
    fn drop(&mut self) {
        if self.buf.len() == CHUNK {
            let buf = core::mem::take(&mut self.buf);
            let mut pool = BOUNCE_POOL.lock();
            if pool.len() < BOUNCE_KEEP {
                pool.push(buf);
                return;
            }
            drop(pool);
            drop(buf); // freed outside the lock
        }
    }
}

/// read(2) into the user buffer `buf`.
///
/// Data moves a chunk at a time through a kernel buffer, and the executor gets a
/// turn between chunks, so a read of hundreds of megabytes neither holds a
/// proportional kernel buffer nor the CPU.
pub(super) async fn read_to_user(
    ctx: &Ctx<'_>,
    file: &OpenFile,
    buf: UserPtr<u8>,
    count: usize,
    offset: Option<u64>,
) -> KResult<usize> {
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    // The whole buffer must be user memory (Linux's access_ok on the count asked).
    let mm = ctx.mm();
    let mut out = mm.writer(buf, count)?;
    let file_type = file.file_type();
    if file_type == S_IFDIR {
        return Err(Errno::EISDIR);
    }
    // Sockets have a sockfs inode (S_IFSOCK) or none: the downcasts that
    // recognise one are for those alone.
    let maybe_socket = !matches!(file_type, S_IFCHR | S_IFIFO | S_IFREG | S_IFBLK);
    if maybe_socket && super::socket::is_socket(file) && offset.is_none() {
        return alloc::boxed::Box::pin(super::socket::read(ctx, file, buf, count)).await;
    }
    // A fanotify listener may have to allow the read first (FAN_ACCESS_PERM).
    if fsnotify::permission_watched() && count > 0 {
        fsnotify::access_permission(file, ctx.thread).await?;
    }
    let count = count.min(MAX_RW_COUNT);
    if count == 0 {
        // Still asked: files with a minimum read size (eventfd, signalfd) say EINVAL.
        return match file.read(&mut []) {
            Err(Errno::EAGAIN) => Ok(0),
            r => r,
        };
    }
    if count <= SMALL_READ
        // Regular files and block devices read from a disk or a cache.
        && !matches!(file_type, S_IFREG | S_IFBLK)
    {
        // A blocking small read with nothing to read yet (the reader of a
        // pipe hand-off) waits here and tries again: no bounce buffer, and
        // no read that is sure to fail again first (read_blocking's loop).
        let mut waited = false;
        loop {
            match read_small(file, &mut out, count, offset, false) {
                Small::Done(r) => return r,
                Small::General => break,
                Small::WouldBlock => {
                    wait_readable(ctx, file, waited).await?;
                    waited = true;
                }
            }
        }
    }
    let mut kbuf = bounce(count)?;
    let mut total = 0;
    while total < count {
        let want = (count - total).min(CHUNK);
        // Never take more from the file than can be delivered. A buffer in a
        // file mapping whose pages are not loaded yet waits for them.
        let mut room = out.writable(want);
        let mut loads = 0;
        while room < want && loads < 64 && ctx.load_pending().await {
            room = out.writable(want);
            loads += 1;
        }
        if room == 0 || (room < want && is_stream(file)) {
            return if total > 0 {
                Ok(total)
            } else {
                Err(Errno::EFAULT)
            };
        }
        let at = offset.map(|off| off + total as u64);
        let n = if let Some(io) = file.read_async(at, &mut kbuf[..room]) {
            io.await?
        } else {
            match at {
                Some(at) => file.pread(at, &mut kbuf[..room])?,
                None => read_blocking(ctx, file, &mut kbuf[..room]).await?,
            }
        };
        let copied = out.write(&kbuf[..n]);
        total += copied;
        // Streams return what one read gave; regular files go on until satisfied.
        if n < room || copied < n || is_stream(file) {
            break;
        }
        if total < count {
            kestrel_executor::yield_now().await;
        }
    }
    if total > 0 {
        fsnotify::access(file);
    }
    if file_type == S_IFREG {
        // Even a read at the end of the file is an access (Linux's filemap_read).
        file.accessed();
    }
    Ok(total)
}

/// Reads of at most this many bytes try [`read_small`] first.
const SMALL_READ: usize = 64;

/// What [`read_small`] did.
enum Small {
    /// The read, done (or failed) at once.
    Done(KResult<usize>),
    /// Nothing to read yet and the file blocks: nothing was consumed.
    WouldBlock,
    /// Not a read it does (a terminal, a device read, a buffer that needs a
    /// page loaded): nothing was done.
    General,
}

/// A small read that needs no waiting (a byte of /dev/zero, an eventfd's
/// counter, a pipe with data), done synchronously through a buffer on the
/// stack: no bounce buffer to allocate, and no buffer in the call's future.
/// `None` sends the call down the general path: a terminal, a file read from
/// a device ([`OpenFile::read_async`]), or a blocking read with nothing to
/// read yet (nothing was consumed, so the general path starts afresh).
fn read_small(
    file: &OpenFile,
    out: &mut kestrel_usermem::UserWriter<'_, crate::mm::vm::AddressSpace>,
    count: usize,
    offset: Option<u64>,
    whole: bool,
) -> Small {
    let mut kbuf = [0u8; SMALL_READ];
    if file.ops().read_waiting(file, &mut kbuf).is_some() {
        // A file that waits its own way (a terminal: job control, VMIN/VTIME);
        // the future, made but never polled, did nothing.
        return Small::General;
    }
    // Never take more from the file than can be delivered.
    let room = out.writable(count);
    if whole && room < count {
        // [`read_now`]: the general path deals with the rest (a page to load).
        return Small::General;
    }
    if room == 0 || (room < count && is_stream(file)) {
        return Small::Done(Err(Errno::EFAULT));
    }
    let buf = &mut kbuf[..room];
    if file.ops().read_async(0, buf).is_some() {
        // A device read (a hardware random number generator): a future made
        // but never polled did nothing.
        return Small::General;
    }
    let r = match offset {
        Some(at) => file.pread(at, buf),
        None => match file.read(buf) {
            Err(Errno::EAGAIN) if !file.nonblocking() => return Small::WouldBlock,
            r => r,
        },
    };
    Small::Done(r.map(|n| {
        let copied = out.write(&kbuf[..n]);
        if copied > 0 {
            fsnotify::access(file);
        }
        copied
    }))
}

/// read(2) of at most [`SMALL_READ`] bytes from a character device or a pipe
/// with something to read (/dev/zero, an eventfd, a pipe with data), at once:
/// [`super::call_now`]. `None`, with nothing done, for everything else
/// (another file type, a bad descriptor or buffer, a buffer not all
/// writable now, a read that would wait, a fanotify permission watch), which
/// [`sys_read`] does the general way. The checks are [`read_to_user`]'s.
#[inline]
pub(super) fn read_now(
    ctx: &Ctx<'_>,
    fd: Fd,
    buf: UserPtr<u8>,
    count: usize,
) -> Option<KResult<u64>> {
    if count == 0 || count > SMALL_READ || fsnotify::permission_watched() {
        return None;
    }
    let file = ctx.file(fd).ok()?;
    if !file.readable() || !matches!(file.file_type(), S_IFCHR | S_IFIFO) {
        return None;
    }
    let mm = ctx.mm();
    let mut out = mm.writer(buf, count).ok()?;
    match read_small(&file, &mut out, count, None, true) {
        Small::Done(r) => Some(r.map(|n| n as u64)),
        Small::WouldBlock | Small::General => None,
    }
}

/// Writes of at most this many bytes to a pipe try [`write_now`].
const SMALL_WRITE: usize = 64;

/// write(2) of at most [`SMALL_WRITE`] bytes to a pipe or FIFO with room for
/// them, at once ([`super::call_now`]): the bytes through a buffer on the
/// stack, no bounce buffer and no future (a pipe hand-off's write, `echo`'s
/// byte). `None`, with nothing done, for everything else: another file type,
/// a bad descriptor, a buffer not all readable now, a full pipe that a
/// blocking write waits on, a pipe with no reader (SIGPIPE), a synchronous
/// write; [`sys_write`] does those the general way. A write of at most
/// PIPE_BUF bytes is all or nothing (pipe(7)), so a pipe that takes it takes
/// all of it.
#[inline]
pub(super) fn write_now(
    ctx: &Ctx<'_>,
    fd: Fd,
    buf: UserPtr<u8>,
    count: usize,
) -> Option<KResult<u64>> {
    if count == 0 || count > SMALL_WRITE {
        return None;
    }
    let file = ctx.file(fd).ok()?;
    if !file.writable() || file.file_type() != S_IFIFO || file.flags() & O_DSYNC != 0 {
        return None;
    }
    let sync_mount = file
        .dentry()
        .is_some_and(|d| d.mnt().get() & MS_SYNCHRONOUS != 0);
    if sync_mount {
        return None;
    }
    let mut kbuf = [0u8; SMALL_WRITE];
    let data = &mut kbuf[..count];
    if file.ops().write_waiting(&file, data).is_some() || file.write_async(None, data).is_some() {
        // A file that writes its own way: the future, made but never
        // polled, did nothing.
        return None;
    }
    let mm = ctx.mm();
    let mut input = mm.reader(buf, count).ok()?;
    if input.read(data) < count {
        // A fault, or a page not loaded yet: the general path waits for it
        // or says EFAULT.
        return None;
    }
    match file.write(data) {
        Err(Errno::EAGAIN) if !file.nonblocking() => None,
        Err(Errno::EPIPE) => None,
        r => Some(r.map(|n| {
            if n > 0 {
                fsnotify::modify(&file);
            }
            n as u64
        })),
    }
}

/// write(2) from the user buffer `buf`, a chunk at a time (as [`read_to_user`]).
pub(super) async fn write_from_user(
    ctx: &Ctx<'_>,
    file: &OpenFile,
    buf: UserPtr<u8>,
    count: usize,
    offset: Option<u64>,
) -> KResult<usize> {
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    let mm = ctx.mm();
    let mut input = mm.reader(buf, count)?;
    if super::socket::is_socket(file) && offset.is_none() {
        return alloc::boxed::Box::pin(super::socket::write(ctx, file, buf, count)).await;
    }
    let count = count.min(MAX_RW_COUNT);
    if count == 0 {
        // Still asked: files with an exact write size (eventfd) say EINVAL.
        return match file.write(&[]) {
            Err(Errno::EAGAIN) => Ok(0),
            r => r,
        };
    }
    if file.ops().discards_writes() {
        // /dev/null: the range was checked above; nothing is copied in (a
        // `dd ... of=/dev/null` spent a quarter of its time copying).
        fsnotify::modify(file);
        return Ok(count);
    }
    // With O_APPEND, even pwrite writes at the end (pwrite(2) BUGS).
    let at = offset.filter(|_| file.flags() & O_APPEND == 0);
    let count = fsize_write_limit(ctx, file, at, count)?;
    let mut kbuf = bounce(count)?;
    let mut total = 0;
    while total < count {
        let want = (count - total).min(CHUNK);
        let mut got = input.read(&mut kbuf[..want]);
        // Data in a file mapping whose pages are not loaded yet: they are
        // awaited and the copy goes on.
        let mut loads = 0;
        while got < want && loads < 64 && ctx.load_pending().await {
            got += input.read(&mut kbuf[got..want]);
            loads += 1;
        }
        if got == 0 || (got < want && is_stream(file)) {
            return if total > 0 {
                Ok(total)
            } else {
                Err(Errno::EFAULT)
            };
        }
        let at = match offset {
            // pwrite on an O_APPEND regular file: at the end, the file
            // position left alone (pwrite(2) BUGS).
            Some(_) if at.is_none() => match file.inode() {
                Some(inode) if inode.metadata().is_regular() => Some(inode.metadata().size),
                _ => Some(offset.unwrap_or(0) + total as u64),
            },
            Some(off) => Some(off + total as u64),
            None => None,
        };
        let n = if let Some(io) = file.write_async(at, &kbuf[..got]) {
            io.await?
        } else {
            match at {
                Some(at) => file.pwrite(at, &kbuf[..got])?,
                None => write_blocking(ctx, file, &kbuf[..got]).await?,
            }
        };
        total += n;
        if n < got || got < want {
            break;
        }
        if total < count {
            kestrel_executor::yield_now().await;
        }
    }
    // O_SYNC and O_DSYNC (O_SYNC includes its bit), or a mount with
    // MS_SYNCHRONOUS: the data is on the disk before the write returns.
    let sync_mount = file
        .dentry()
        .is_some_and(|d| d.mnt().get() & MS_SYNCHRONOUS != 0);
    if total > 0
        && (file.flags() & O_DSYNC != 0 || sync_mount)
        && let Some(inode) = file.inode()
    {
        inode.fsync(true).await?;
    }
    if total > 0 {
        fsnotify::modify(file);
    }
    Ok(total)
}

pub async fn sys_read(ctx: &mut Ctx<'_>, fd: Fd, buf: UserPtr<u8>, count: usize) -> KResult<u64> {
    let file = ctx.file(fd)?;
    read_to_user(ctx, &file, buf, count, None)
        .await
        .map(|n| n as u64)
}

pub async fn sys_write(ctx: &mut Ctx<'_>, fd: Fd, buf: UserPtr<u8>, count: usize) -> KResult<u64> {
    let file = ctx.file(fd)?;
    write_from_user(ctx, &file, buf, count, None)
        .await
        .map(|n| n as u64)
}

pub async fn sys_pread64(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    buf: UserPtr<u8>,
    count: usize,
    offset: i64,
) -> KResult<u64> {
    let file = ctx.file(fd)?;
    if offset < 0 {
        return Err(Errno::EINVAL);
    }
    if !file.ops().seekable() {
        return Err(Errno::ESPIPE);
    }
    read_to_user(ctx, &file, buf, count, Some(offset as u64))
        .await
        .map(|n| n as u64)
}

pub async fn sys_pwrite64(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    buf: UserPtr<u8>,
    count: usize,
    offset: i64,
) -> KResult<u64> {
    let file = ctx.file(fd)?;
    if offset < 0 {
        return Err(Errno::EINVAL);
    }
    if !file.ops().seekable() {
        return Err(Errno::ESPIPE);
    }
    write_from_user(ctx, &file, buf, count, Some(offset as u64))
        .await
        .map(|n| n as u64)
}

/// Reads an iovec array (EINVAL beyond IOV_MAX or a total over SSIZE_MAX).
pub(super) fn read_iovecs(ctx: &Ctx<'_>, ptr: UserPtr<Iovec>, count: usize) -> KResult<Vec<Iovec>> {
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut v: Vec<Iovec> = super::zeroed_vec(count)?;
    ctx.mm().read_slice(ptr, &mut v)?;
    let mut total: u64 = 0;
    for iov in &v {
        total = total
            .checked_add(iov.len)
            .filter(|&t| t <= isize::MAX as u64)
            .ok_or(Errno::EINVAL)?;
    }
    Ok(v)
}

pub async fn sys_readv(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    iov: UserPtr<Iovec>,
    iovcnt: usize,
) -> KResult<u64> {
    let file = ctx.file(fd)?;
    let iovs = read_iovecs(ctx, iov, iovcnt)?;
    readv_file(ctx, &file, &iovs).await
}

/// readv on an open file at its position (also preadv2 with offset -1).
pub(super) async fn readv_file(
    ctx: &Ctx<'_>,
    file: &Arc<OpenFile>,
    iovs: &[Iovec],
) -> KResult<u64> {
    let file = file.clone();
    if super::socket::is_socket(&file) {
        return alloc::boxed::Box::pin(super::socket::readv(ctx, &file, iovs)).await;
    }
    let mut total = 0u64;
    for (i, iov) in iovs.iter().enumerate() {
        if iov.len == 0 {
            continue;
        }
        // Only the first segment may block; later ones take what is there.
        let n = if i > 0 && is_stream(&file) && file.poll() & POLLIN == 0 {
            0
        } else {
            let base = UserPtr::new(iov.base);
            match read_to_user(ctx, &file, base, iov.len as usize, None).await {
                Ok(n) => n,
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
        };
        total += n as u64;
        if (n as u64) < iov.len {
            break;
        }
    }
    Ok(total)
}

pub async fn sys_writev(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    iov: UserPtr<Iovec>,
    iovcnt: usize,
) -> KResult<u64> {
    let file = ctx.file(fd)?;
    let iovs = read_iovecs(ctx, iov, iovcnt)?;
    writev_file(ctx, &file, &iovs).await
}

/// writev on an open file at its position (also pwritev2 with offset -1).
///
/// Up to a chunk, the segments are gathered into one kernel buffer and written
/// at once, so a pipe or terminal sees one write (atomic up to PIPE_BUF, as
/// Linux). Larger writes go segment by segment, each a chunk at a time.
pub(super) async fn writev_file(
    ctx: &Ctx<'_>,
    file: &Arc<OpenFile>,
    iovs: &[Iovec],
) -> KResult<u64> {
    let file = file.clone();
    if super::socket::is_socket(&file) {
        return alloc::boxed::Box::pin(super::socket::writev(ctx, &file, iovs)).await;
    }
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    let total: u64 = iovs.iter().map(|v| v.len).sum();
    if total > CHUNK as u64 {
        let mut done = 0u64;
        for iov in iovs.iter().filter(|v| v.len > 0) {
            let base = UserPtr::new(iov.base);
            match write_from_user(ctx, &file, base, iov.len as usize, None).await {
                Ok(n) => {
                    done += n as u64;
                    if (n as u64) < iov.len {
                        break;
                    }
                }
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        return Ok(done);
    }
    let mm = ctx.mm();
    let mut data = bounce(total as usize)?;
    let mut len = 0;
    for iov in iovs {
        let mut r = mm.reader(UserPtr::<u8>::new(iov.base), iov.len as usize)?;
        let got = r.read(&mut data[len..len + iov.len as usize]);
        len += got;
        if got < iov.len as usize {
            // A regular file takes the part before the fault; a stream, like
            // Linux's pipe_write, fails the whole write.
            if len == 0 || is_stream(&file) {
                return Err(Errno::EFAULT);
            }
            break;
        }
    }
    if len == 0 {
        return Ok(0);
    }
    let len = fsize_write_limit(ctx, &file, None, len)?;
    write_blocking(ctx, &file, &data[..len])
        .await
        .map(|n| n as u64)
}

pub async fn sys_lseek(ctx: &mut Ctx<'_>, fd: Fd, offset: i64, whence: u32) -> KResult<u64> {
    let file = ctx.file(fd)?;
    file.seek_async(offset, whence).await
}

/// The mode and group of a new node: the requested bits (within `mask`), the
/// set-group-ID rules of [`new_node_owner`] on them, then the umask, in that
/// order (Linux's vfs_prepare_mode: a group-executable set-group-ID request
/// loses the bit even when the umask then takes the group's execute bit away).
fn creation_mode(ctx: &Ctx<'_>, dir: &InodeRef, mode: u64, mask: u32, is_dir: bool) -> (u32, u32) {
    let (mode, gid) = new_node_owner(ctx, dir, (mode as u32) & mask, is_dir);
    (mode & !ctx.process().fs().lock().umask, gid)
}

/// The mode and group of a new node in `dir` (Linux's inode_init_owner and
/// mode_strip_sgid): in a set-group-ID directory it takes the directory's
/// group, and a new directory the set-group-ID bit too; elsewhere the creator's
/// fsgid. There, a group-executable set-group-ID file of a creator outside the
/// directory's group and without CAP_FSETID loses the bit.
pub(super) fn new_node_owner(ctx: &Ctx<'_>, dir: &InodeRef, mode: u32, is_dir: bool) -> (u32, u32) {
    let c = ctx.process().cred.lock().clone();
    let dm = dir.metadata();
    if dm.mode & S_ISGID == 0 {
        return (mode, c.fsgid);
    }
    let mut mode = mode;
    if is_dir {
        mode |= S_ISGID;
    } else if mode & (S_ISGID | 0o010) == S_ISGID | 0o010
        && !c.fs_cred().in_group(dm.gid)
        && !c.capable(kestrel_abi::cap::CAP_FSETID)
    {
        mode &= !S_ISGID;
    }
    (mode, dm.gid)
}

fn cred(ctx: &Ctx<'_>) -> kestrel_vfs::Cred {
    ctx.process().cred.lock().fs_cred()
}

use super::mount::{want_write, want_write_file};
use crate::fs::fsnotify;

/// Write and search permission on the directory that gains or loses a name
/// (EPERM for an immutable one, as Linux's inode_permission for MAY_WRITE).
fn check_dir_write(ctx: &Ctx<'_>, dir: &InodeRef) -> KResult<()> {
    let m = dir.metadata();
    if m.is_immutable() {
        return Err(Errno::EPERM);
    }
    check_access(&m, &cred(ctx), access::WRITE | access::EXEC)
}

/// openat(2).
pub async fn open_at(
    ctx: &Ctx<'_>,
    dirfd: i32,
    path: &[u8],
    flags: u32,
    mode: u64,
) -> KResult<u64> {
    let file = open_file_at(ctx, dirfd, path, flags, mode).await?;
    ctx.install(file, flags & O_CLOEXEC != 0)
        .map(|fd| fd as u64)
}

/// openat(2) up to the open file, not yet given a descriptor (the kernel opens
/// core files this way).
pub(crate) async fn open_file_at(
    ctx: &Ctx<'_>,
    dirfd: i32,
    path: &[u8],
    flags: u32,
    mode: u64,
) -> KResult<Arc<OpenFile>> {
    if flags & O_TMPFILE == O_TMPFILE {
        return Box::pin(open_tmpfile(ctx, dirfd, path, flags, mode)).await;
    }
    let flags = open_flags(flags);
    let follow = flags & O_NOFOLLOW == 0;
    let (dentry, created): (DentryRef, bool) = if flags & O_CREAT != 0 {
        // Boxed: the lookup-or-create loop would make every open's future (and
        // so every thread's) larger.
        Box::pin(open_or_create(ctx, dirfd, path, flags, mode, follow)).await?
    } else {
        (ctx.resolve(dirfd, path, follow).await?, false)
    };
    finish_open(ctx, dentry, flags, created).await
}

/// O_TMPFILE: a regular file with no name in the directory `path` names, on
/// the file systems that can make one (tmpfs, ramfs and ext2; the pseudo file
/// systems say EOPNOTSUPP). It needs write access (EINVAL
/// without, or with O_CREAT) and the directory's write and search
/// permission. The file is made under a name of its own and unlinked at once,
/// without inotify events; unless O_EXCL was given, linkat may give it a name
/// later (through /proc/self/fd/N or AT_EMPTY_PATH), once.
async fn open_tmpfile(
    ctx: &Ctx<'_>,
    dirfd: i32,
    path: &[u8],
    flags: u32,
    mode: u64,
) -> KResult<Arc<OpenFile>> {
    let acc = flags & O_ACCMODE;
    if flags & O_CREAT != 0 || !(acc == O_WRONLY || acc == O_RDWR) {
        return Err(Errno::EINVAL);
    }
    let dir = ctx.resolve(dirfd, path, flags & O_NOFOLLOW == 0).await?;
    if !dir.inode.metadata().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let f_type = dir.inode.statfs_async().await?.f_type;
    let ext2 = i64::from(kestrel_ext2::EXT2_SUPER_MAGIC);
    if ![TMPFS_MAGIC, RAMFS_MAGIC, ext2].contains(&f_type) {
        return Err(Errno::EOPNOTSUPP);
    }
    want_write(&dir)?;
    check_dir_write(ctx, &dir.inode)?;
    super::landlock::check(ctx, &dir, LL::MAKE_REG)?;
    let fsuid = ctx.process().cred.lock().fsuid;
    let (mode, gid) = creation_mode(ctx, &dir.inode, mode, 0o7777, false);
    static SEQ: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);
    let seq = SEQ.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let name = alloc::format!(".#kestrel-tmpfile-{seq}").into_bytes();
    let inode = dir
        .inode
        .create_async(&name, NodeKind::File, mode, fsuid, gid)
        .await?;
    dir.inode.unlink_async(&name).await?;
    if flags & O_EXCL == 0 {
        crate::fs::tmpfile::make_linkable(&inode);
    }
    // /proc/PID/fd shows "DIR/#INO (deleted)", as Linux names such files.
    let shown = alloc::format!("#{}", inode.metadata().ino).into_bytes();
    let dentry = kestrel_vfs::Dentry::child(&dir, &shown, inode);
    finish_open(ctx, dentry, open_flags(flags & !O_TMPFILE), true).await
}

/// The flags an open goes on with: O_LARGEFILE always (x86-64), and for
/// O_PATH only the flags it keeps.
pub(super) fn open_flags(flags: u32) -> u32 {
    let flags = flags | O_LARGEFILE;
    if flags & O_PATH != 0 {
        flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    } else {
        flags
    }
}

/// The rest of an open once the file is found (or was just `created`): the
/// kind and permission checks, Landlock and fanotify, O_TRUNC, the open file
/// (and a FIFO's wait for its other end). open_by_handle_at comes here too.
/// `flags` carries O_LARGEFILE and, for O_PATH, only the flags it keeps.
pub(super) async fn finish_open(
    ctx: &Ctx<'_>,
    dentry: DentryRef,
    flags: u32,
    created: bool,
) -> KResult<Arc<OpenFile>> {
    let acc = flags & O_ACCMODE;
    let m = dentry.inode.metadata();
    if m.is_symlink() && flags & O_PATH == 0 {
        return Err(Errno::ELOOP);
    }
    if flags & O_DIRECTORY != 0 && !m.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if m.is_dir()
        && flags & O_PATH == 0
        && (acc != O_RDONLY || flags & O_TRUNC != 0 || flags & O_CREAT != 0)
    {
        return Err(Errno::EISDIR);
    }
    if !created && flags & O_PATH == 0 {
        let mut want = 0;
        if acc == O_RDONLY || acc == O_RDWR || acc == O_ACCMODE {
            want |= access::READ;
        }
        if acc == O_WRONLY || acc == O_RDWR || acc == O_ACCMODE || flags & O_TRUNC != 0 {
            want |= access::WRITE;
            // A read-only file system refuses writes to its files before any
            // permission check (Linux's sb_permission); devices and FIFOs on it
            // may still be written.
            if m.is_regular() || m.is_dir() || m.is_symlink() {
                want_write(&dentry)?;
            }
            // Nobody writes an immutable file (Linux's inode_permission).
            if m.is_immutable() {
                return Err(Errno::EPERM);
            }
        }
        check_access(&m, &cred(ctx), want)?;
        // An append-only file opens for writing only with O_APPEND, and never
        // truncated (Linux's may_open).
        if m.is_append_only()
            && ((acc != O_RDONLY && flags & O_APPEND == 0) || flags & O_TRUNC != 0)
        {
            return Err(Errno::EPERM);
        }
        // O_NOATIME is for the file's owner (or CAP_FOWNER): Linux's may_open.
        if flags & O_NOATIME != 0 {
            let c = ctx.process().cred.lock();
            if c.fsuid != m.uid && !c.capable(kestrel_abi::cap::CAP_FOWNER) {
                return Err(Errno::EPERM);
            }
        }
    }
    super::landlock::check(
        ctx,
        &dentry,
        super::landlock::open_rights(flags, m.is_dir()),
    )?;
    // An open that conflicts with a lease breaks it and waits for the holder
    // (Linux's break_lease in do_dentry_open).
    if flags & O_PATH == 0 && crate::fs::leases::active() {
        Box::pin(crate::fs::leases::break_for_open(
            ctx.thread,
            &dentry.inode,
            flags,
            flags & O_NONBLOCK != 0,
        ))
        .await?;
    }
    // A fanotify listener may refuse the open (FAN_OPEN_PERM): before the
    // truncation, as Linux asks in do_dentry_open.
    if flags & O_PATH == 0 && fsnotify::permission_watched() {
        fsnotify::open_permission(&dentry, false, ctx.thread).await?;
    }
    if flags & O_TRUNC != 0 && m.is_regular() && flags & O_PATH == 0 && !created {
        dentry.inode.truncate_async(0).await?;
        fsnotify::notify_dentry(&dentry, fsnotify::FS_MODIFY);
    }
    if flags & O_PATH == 0 {
        fsnotify::opened(&dentry, false);
    }
    let file = crate::fs::open_dentry(dentry, flags, ctx.process())?;
    // A FIFO opened for reading or writing alone waits for the other side.
    if let Some(end) = crate::fs::fifo::partner_to_wait_for(&file) {
        Box::pin(interruptible(ctx.thread, Errno::ERESTARTSYS, async {
            crate::fs::fifo::wait_for_partner(&end).await;
            Ok(())
        }))
        .await?;
    }
    Ok(file)
}

/// The O_CREAT part of [`open_file_at`]: the last component looked up, a
/// symlink there followed (even a dangling one: its target is created, as
/// Linux's open_last_lookups does), up to MAXSYMLINKS times, or the file
/// created. Returns the dentry and whether this call created it.
async fn open_or_create(
    ctx: &Ctx<'_>,
    dirfd: i32,
    path: &[u8],
    flags: u32,
    mode: u64,
    follow: bool,
) -> KResult<(DentryRef, bool)> {
    let mut p = ctx.resolve_parent(dirfd, path).await?;
    if p.name == b"." || p.name == b".." || p.trailing_slash {
        return Err(Errno::EISDIR);
    }
    let mut links = 0;
    loop {
        match p.dir.inode.lookup_async(&p.name).await {
            Ok(inode) => {
                let child = crate::fs::mounts().child(&p.dir, &p.name, inode);
                if !child.inode.metadata().is_symlink() {
                    if flags & O_EXCL != 0 {
                        return Err(Errno::EEXIST);
                    }
                    return Ok((child, false));
                }
                if flags & O_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                if !follow {
                    return Err(Errno::ELOOP);
                }
                links += 1;
                if links > MAXSYMLINKS
                    || ctx.resolve & kestrel_vfs::path::RESOLVE_NO_SYMLINKS != 0
                    || child.mnt().get() & MS_NOSYMFOLLOW != 0
                {
                    return Err(Errno::ELOOP);
                }
                // A magic link (/proc/PID/fd/N, exe, cwd, root) leads to the
                // file itself; openat2 may refuse to follow one.
                if let Some(to) = child.inode.magic_link() {
                    use kestrel_vfs::path::{
                        RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS,
                    };
                    if ctx.resolve & (RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT)
                        != 0
                    {
                        return Err(Errno::ELOOP);
                    }
                    return Ok((to?, false));
                }
                let target = child.inode.readlink_async().await?;
                if target.first() == Some(&b'/')
                    && ctx.resolve & kestrel_vfs::path::RESOLVE_BENEATH != 0
                {
                    return Err(Errno::EXDEV);
                }
                p = ctx.resolve_parent_from(&p.dir, &target).await?;
                if p.name == b"." || p.name == b".." || p.trailing_slash {
                    return Err(Errno::EISDIR);
                }
            }
            Err(Errno::ENOENT) => {
                want_write(&p.dir)?;
                check_dir_write(ctx, &p.dir.inode)?;
                super::landlock::check(ctx, &p.dir, LL::MAKE_REG)?;
                let c = ctx.process().cred.lock().clone();
                let (mode, gid) = creation_mode(ctx, &p.dir.inode, mode, 0o7777, false);
                let inode = p
                    .dir
                    .inode
                    .create_async(&p.name, NodeKind::File, mode, c.fsuid, gid)
                    .await?;
                fsnotify::notify_child(&p.dir.inode, fsnotify::FS_CREATE, &p.name, false);
                return Ok((kestrel_vfs::Dentry::child(&p.dir, &p.name, inode), true));
            }
            Err(e) => return Err(e),
        }
    }
}

pub async fn sys_open(ctx: &mut Ctx<'_>, path: UserCStr, flags: u32, mode: Mode) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    open_at(ctx, AT_FDCWD, &path, flags, mode as u64).await
}

pub async fn sys_openat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    flags: u32,
    mode: Mode,
) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    open_at(ctx, dirfd, &path, flags, mode as u64).await
}

pub async fn sys_creat(ctx: &mut Ctx<'_>, path: UserCStr, mode: Mode) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    open_at(
        ctx,
        AT_FDCWD,
        &path,
        O_CREAT | O_WRONLY | O_TRUNC,
        mode as u64,
    )
    .await
}

fn stat_out(ctx: &Ctx<'_>, d: &DentryRef, addr: UserPtr<Stat>) -> KResult<u64> {
    ctx.write(addr, &d.inode.metadata().to_stat())?;
    Ok(0)
}

pub async fn sys_stat(ctx: &mut Ctx<'_>, path: UserCStr, statbuf: UserPtr<Stat>) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(AT_FDCWD, &path, true).await?;
    stat_out(ctx, &d, statbuf)
}

pub async fn sys_lstat(ctx: &mut Ctx<'_>, path: UserCStr, statbuf: UserPtr<Stat>) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(AT_FDCWD, &path, false).await?;
    stat_out(ctx, &d, statbuf)
}

pub async fn sys_fstat(ctx: &mut Ctx<'_>, fd: Fd, statbuf: UserPtr<Stat>) -> KResult<u64> {
    let file = ctx.file(fd)?;
    let m = file.metadata()?;
    ctx.write(statbuf, &m.to_stat())?;
    Ok(0)
}

pub async fn sys_newfstatat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    statbuf: UserPtr<Stat>,
    flags: u32,
) -> KResult<u64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = ctx.read_path(path)?;
    if path.is_empty() && flags & AT_EMPTY_PATH != 0 && dirfd != AT_FDCWD {
        let m = ctx.file(dirfd)?.metadata()?;
        ctx.write(statbuf, &m.to_stat())?;
        return Ok(0);
    }
    let d = ctx.resolve_at(dirfd, &path, flags).await?;
    stat_out(ctx, &d, statbuf)
}

pub async fn sys_statx(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    flags: u32,
    mask: u32,
    statxbuf: UserPtr<Statx>,
) -> KResult<u64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX_RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let path = ctx.read_path(path)?;
    let (m, kept, ids, mount_root) =
        if path.is_empty() && flags & AT_EMPTY_PATH != 0 && dirfd != AT_FDCWD {
            let f = ctx.file(dirfd)?;
            let ids = f.dentry().map(|d| super::newmount::mount_ids(d));
            let root = f.dentry().is_some_and(|d| d.is_mount_root());
            (
                f.metadata()?,
                f.inode().map_or(0, |i| i.iflags_kept()),
                ids,
                root,
            )
        } else {
            let d = ctx.resolve_at(dirfd, &path, flags).await?;
            let ids = Some(super::newmount::mount_ids(&d));
            (
                d.inode.metadata(),
                d.inode.iflags_kept(),
                ids,
                d.is_mount_root(),
            )
        };
    let mut sx = m.to_statx();
    // A block device's direct I/O alignment (bdev_statx_dioalign): its
    // queue's DMA alignment for memory, its logical block size for offsets.
    if mask & STATX_DIOALIGN != 0
        && m.file_type() == S_IFBLK
        && let Some(b) = crate::drivers::block_by_rdev(m.rdev)
    {
        sx.stx_mask |= STATX_DIOALIGN;
        sx.stx_dio_mem_align = crate::fs::sysfs::DMA_ALIGNMENT;
        sx.stx_dio_offset_align = b.dev.info().block_size;
    }
    // Every file system says whether the file is a mount's root (vfs_statx).
    sx.stx_attributes_mask |= STATX_ATTR_MOUNT_ROOT;
    if mount_root {
        sx.stx_attributes |= STATX_ATTR_MOUNT_ROOT;
    }
    // The mount's id: the unique 64-bit one when asked for, else mountinfo's.
    if let Some((id, unique)) = ids {
        if mask & STATX_MNT_ID_UNIQUE != 0 {
            sx.stx_mnt_id = unique;
            sx.stx_mask |= STATX_MNT_ID_UNIQUE;
        } else {
            sx.stx_mnt_id = id;
            sx.stx_mask |= STATX_MNT_ID;
        }
    }
    // The inode flags statx shares the bits of (STATX_ATTR_COMPRESSED,
    // _IMMUTABLE, _APPEND, _NODUMP), where the file system keeps them, as
    // Linux's ext2 and tmpfs getattr report them.
    let shown = kept & (FS_COMPR_FL | FS_IMMUTABLE_FL | FS_APPEND_FL | FS_NODUMP_FL);
    sx.stx_attributes_mask |= u64::from(shown);
    sx.stx_attributes |= u64::from(m.flags & shown);
    ctx.write(statxbuf, &sx)?;
    Ok(0)
}

pub async fn sys_getdents64(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    dirp: UserPtr<u8>,
    count: u32,
) -> KResult<u64> {
    let file = ctx.file(fd)?;
    let mut kbuf = bounce(count as usize)?;
    let n = file.getdents64(&mut kbuf).await?;
    ctx.mm().writer(dirp, n)?.write_all(&kbuf[..n])?;
    Ok(n as u64)
}

async fn access_check(
    ctx: &Ctx<'_>,
    dirfd: i32,
    path: &[u8],
    mode: u32,
    flags: u32,
) -> KResult<u64> {
    if mode & !(R_OK | W_OK | X_OK) != 0 {
        return Err(Errno::EINVAL);
    }
    let d = ctx.resolve_at(dirfd, path, flags).await?;
    if mode == F_OK {
        return Ok(0);
    }
    // access(2) checks with the real ids unless AT_EACCESS.
    let c = ctx.process().cred.lock().clone();
    let who = if flags & AT_EACCESS != 0 {
        c.fs_cred()
    } else {
        kestrel_vfs::Cred {
            uid: c.uid,
            gid: c.gid,
            groups: c.groups.clone(),
        }
    };
    let m = d.inode.metadata();
    // W_OK on a read-only file system: EROFS for its files (Linux's sb_permission
    // and do_faccessat); its devices, FIFOs and sockets may still be written.
    if mode & W_OK != 0 && (m.is_regular() || m.is_dir() || m.is_symlink()) {
        want_write(&d)?;
    }
    if mode & W_OK != 0 && m.is_immutable() {
        return Err(Errno::EPERM);
    }
    check_access(&m, &who, mode).map(|_| 0)
}

pub async fn sys_access(ctx: &mut Ctx<'_>, path: UserCStr, mode: u32) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    access_check(ctx, AT_FDCWD, &path, mode, 0).await
}

pub async fn sys_faccessat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    mode: u32,
) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    access_check(ctx, dirfd, &path, mode, 0).await
}

pub async fn sys_faccessat2(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    mode: u32,
    flags: u32,
) -> KResult<u64> {
    if flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = ctx.read_path(path)?;
    access_check(ctx, dirfd, &path, mode, flags).await
}

async fn readlink_at(
    ctx: &Ctx<'_>,
    dirfd: Fd,
    path: &[u8],
    buf: UserPtr<u8>,
    size: i32,
) -> KResult<u64> {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let d = if path.is_empty() {
        ctx.resolve_at(dirfd, path, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
            .await
            .map_err(|_| Errno::ENOENT)?
    } else {
        ctx.resolve(dirfd, path, false).await?
    };
    let target = d.inode.readlink_async().await?;
    let n = target.len().min(size as usize);
    ctx.mm().writer(buf, n)?.write_all(&target[..n])?;
    Ok(n as u64)
}

pub async fn sys_readlink(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    buf: UserPtr<u8>,
    bufsiz: i32,
) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    readlink_at(ctx, AT_FDCWD, &path, buf, bufsiz).await
}

pub async fn sys_readlinkat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    buf: UserPtr<u8>,
    bufsiz: i32,
) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    readlink_at(ctx, dirfd, &path, buf, bufsiz).await
}

/// `d`'s path as the process whose root is `root` sees it: the names below
/// `root`; for a directory outside it (a chroot below the working directory),
/// "(unreachable)" and the path from the system's root, as Linux's getcwd
/// gives it (C libraries then report ENOENT).
fn path_from_root(d: &DentryRef, root: &DentryRef) -> Vec<u8> {
    let id = |x: &DentryRef| {
        let m = x.inode.metadata();
        (m.dev, m.ino)
    };
    let root_id = id(root);
    let mut names: Vec<&[u8]> = Vec::new();
    let mut at = Some(d);
    while let Some(x) = at {
        if id(x) == root_id && Arc::ptr_eq(x.mnt(), root.mnt()) {
            let mut p = Vec::new();
            for n in names.iter().rev() {
                p.push(b'/');
                p.extend_from_slice(n);
            }
            if p.is_empty() {
                p.push(b'/');
            }
            return p;
        }
        names.push(x.name());
        at = x.parent();
    }
    [b"(unreachable)".as_slice(), &d.path()].concat()
}

pub async fn sys_getcwd(ctx: &mut Ctx<'_>, buf: UserPtr<u8>, size: usize) -> KResult<u64> {
    let cwd = ctx.process().fs().lock().cwd.clone();
    if cwd.inode.metadata().nlink == 0 {
        return Err(Errno::ENOENT); // the directory was removed
    }
    let root = ctx.process().fs().lock().root.clone();
    let mut path = path_from_root(&cwd, &root);
    path.push(0);
    if size < path.len() {
        return Err(Errno::ERANGE);
    }
    ctx.mm().writer(buf, path.len())?.write_all(&path)?;
    Ok(path.len() as u64)
}

async fn set_cwd(ctx: &Ctx<'_>, d: DentryRef) -> KResult<u64> {
    let m = d.inode.metadata();
    if !m.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    check_access(&m, &cred(ctx), access::EXEC)?;
    ctx.process().fs().lock().cwd = d;
    Ok(0)
}

pub async fn sys_chdir(ctx: &mut Ctx<'_>, path: UserCStr) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(AT_FDCWD, &path, true).await?;
    set_cwd(ctx, d).await
}

pub async fn sys_fchdir(ctx: &mut Ctx<'_>, fd: Fd) -> KResult<u64> {
    let f = ctx.file(fd)?;
    let d = f.dentry().cloned().ok_or(Errno::ENOTDIR)?;
    set_cwd(ctx, d).await
}

async fn mkdir_at(ctx: &Ctx<'_>, dirfd: i32, path: &[u8], mode: u64) -> KResult<u64> {
    let p = ctx.resolve_parent(dirfd, path).await?;
    if p.name == b"." || p.name == b".." {
        return Err(Errno::EEXIST);
    }
    if p.dir.inode.lookup_async(&p.name).await.is_ok() {
        return Err(Errno::EEXIST);
    }
    want_write(&p.dir)?;
    check_dir_write(ctx, &p.dir.inode)?;
    super::landlock::check(ctx, &p.dir, LL::MAKE_DIR)?;
    let c = ctx.process().cred.lock().clone();
    let (mode, gid) = creation_mode(ctx, &p.dir.inode, mode, 0o1777, true);
    p.dir
        .inode
        .create_async(&p.name, NodeKind::Dir, mode, c.fsuid, gid)
        .await?;
    fsnotify::notify_child(&p.dir.inode, fsnotify::FS_CREATE, &p.name, true);
    Ok(0)
}

/// mknod(2): a regular file, FIFO or socket node for anyone who may write the
/// directory; character and block devices need CAP_MKNOD.
async fn mknod_at(ctx: &Ctx<'_>, dirfd: i32, path: &[u8], mode: u64, dev: u64) -> KResult<u64> {
    let mode = mode as u32;
    let kind = match mode & S_IFMT {
        0 | S_IFREG => NodeKind::File,
        S_IFIFO => NodeKind::Fifo,
        S_IFSOCK => NodeKind::Socket,
        S_IFCHR | S_IFBLK => {
            if !ctx.capable(kestrel_abi::cap::CAP_MKNOD) {
                return Err(Errno::EPERM);
            }
            // The 32-bit device number of the system call is new_encode_dev's layout.
            let dev = dev as u32 as u64;
            if mode & S_IFMT == S_IFCHR {
                NodeKind::CharDev(dev)
            } else {
                NodeKind::BlockDev(dev)
            }
        }
        S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let p = ctx.resolve_parent(dirfd, path).await?;
    if p.name == b"." || p.name == b".." || p.dir.inode.lookup_async(&p.name).await.is_ok() {
        return Err(Errno::EEXIST);
    }
    if p.trailing_slash {
        return Err(Errno::ENOENT);
    }
    want_write(&p.dir)?;
    check_dir_write(ctx, &p.dir.inode)?;
    super::landlock::check(ctx, &p.dir, super::landlock::make_right(mode))?;
    let c = ctx.process().cred.lock().clone();
    let (mode, gid) = creation_mode(ctx, &p.dir.inode, u64::from(mode), 0o7777, false);
    p.dir
        .inode
        .create_async(&p.name, kind, mode, c.fsuid, gid)
        .await?;
    fsnotify::notify_child(&p.dir.inode, fsnotify::FS_CREATE, &p.name, false);
    Ok(0)
}

pub async fn sys_mknod(ctx: &mut Ctx<'_>, path: UserCStr, mode: Mode, dev: u32) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    mknod_at(ctx, AT_FDCWD, &path, mode as u64, u64::from(dev)).await
}

pub async fn sys_mknodat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    mode: Mode,
    dev: u32,
) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    mknod_at(ctx, dirfd, &path, mode as u64, u64::from(dev)).await
}

pub async fn sys_mkdir(ctx: &mut Ctx<'_>, path: UserCStr, mode: Mode) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    mkdir_at(ctx, AT_FDCWD, &path, mode as u64).await
}

pub async fn sys_mkdirat(ctx: &mut Ctx<'_>, dirfd: Fd, path: UserCStr, mode: Mode) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    mkdir_at(ctx, dirfd, &path, mode as u64).await
}

/// The sticky-bit rule: in a sticky directory only the owner of the entry, the owner
/// of the directory, or root may remove it.
/// Whether `victim` may lose its name in `dir` (Linux's may_delete after the
/// directory's permission): not out of an append-only directory, not an
/// immutable or append-only file, and the sticky bit's rule.
fn check_sticky(ctx: &Ctx<'_>, dir: &InodeRef, victim: &InodeRef) -> KResult<()> {
    let dm = dir.metadata();
    if dm.is_append_only() {
        return Err(Errno::EPERM);
    }
    victim.metadata().check_changeable()?;
    if dm.mode & S_ISVTX == 0 {
        return Ok(());
    }
    let uid = ctx.process().cred.lock().fsuid;
    if uid == 0 || uid == dm.uid || uid == victim.metadata().uid {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// Whether something is mounted on `inode` (in the caller's mount namespace).
fn is_mount_point(inode: &InodeRef) -> bool {
    !alloc::sync::Arc::ptr_eq(&crate::fs::mounts().cross(inode.clone()), inode)
}

async fn rmdir_at(ctx: &Ctx<'_>, dirfd: i32, path: &[u8]) -> KResult<u64> {
    let p = ctx.resolve_parent(dirfd, path).await?;
    match &p.name[..] {
        b"." => return Err(Errno::EINVAL),
        b".." => return Err(Errno::ENOTEMPTY),
        _ => {}
    }
    want_write(&p.dir)?;
    let victim = p.dir.inode.lookup_async(&p.name).await?;
    if !victim.metadata().is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if is_mount_point(&victim) {
        return Err(Errno::EBUSY);
    }
    check_dir_write(ctx, &p.dir.inode)?;
    check_sticky(ctx, &p.dir.inode, &victim)?;
    super::landlock::check(ctx, &p.dir, LL::REMOVE_DIR)?;
    p.dir.inode.rmdir_async(&p.name).await?;
    fsnotify::notify_child(&p.dir.inode, fsnotify::FS_DELETE, &p.name, true);
    fsnotify::inode_deleted(&victim);
    Ok(0)
}

pub(crate) async fn unlink_at(ctx: &Ctx<'_>, dirfd: i32, path: &[u8]) -> KResult<u64> {
    let p = ctx.resolve_parent(dirfd, path).await?;
    if p.name == b"." || p.name == b".." {
        return Err(Errno::EISDIR);
    }
    want_write(&p.dir)?;
    let victim = p.dir.inode.lookup_async(&p.name).await?;
    let vm = victim.metadata();
    if vm.is_dir() {
        return Err(Errno::EISDIR);
    }
    if p.trailing_slash {
        return Err(Errno::ENOTDIR);
    }
    check_dir_write(ctx, &p.dir.inode)?;
    check_sticky(ctx, &p.dir.inode, &victim)?;
    // A file something is bind-mounted on stays (vfs_unlink's EBUSY).
    if is_mount_point(&victim) {
        return Err(Errno::EBUSY);
    }
    super::landlock::check(ctx, &p.dir, LL::REMOVE_FILE)?;
    p.dir.inode.unlink_async(&p.name).await?;
    // The link count changed (IN_ATTRIB), the name went (IN_DELETE); the last
    // name gone, IN_DELETE_SELF (Linux sends it when the inode goes: an open
    // file keeps it; Kestrel sends it at the last unlink).
    fsnotify::notify(&victim, fsnotify::FS_ATTRIB);
    fsnotify::notify_child(&p.dir.inode, fsnotify::FS_DELETE, &p.name, false);
    if victim.metadata().nlink == 0 {
        fsnotify::inode_deleted(&victim);
    }
    Ok(0)
}

pub async fn sys_rmdir(ctx: &mut Ctx<'_>, path: UserCStr) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    rmdir_at(ctx, AT_FDCWD, &path).await
}

pub async fn sys_unlink(ctx: &mut Ctx<'_>, path: UserCStr) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    unlink_at(ctx, AT_FDCWD, &path).await
}

pub async fn sys_unlinkat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    flags: u32,
) -> KResult<u64> {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let path = ctx.read_path(path)?;
    if flags & AT_REMOVEDIR != 0 {
        rmdir_at(ctx, dirfd, &path).await
    } else {
        unlink_at(ctx, dirfd, &path).await
    }
}

async fn rename_at(
    ctx: &Ctx<'_>,
    olddir: i32,
    old: &[u8],
    newdir: i32,
    new: &[u8],
    flags: u32,
) -> KResult<u64> {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
        || flags == RENAME_NOREPLACE | RENAME_EXCHANGE
    {
        return Err(Errno::EINVAL);
    }
    let op = ctx.resolve_parent(olddir, old).await?;
    let np = ctx.resolve_parent(newdir, new).await?;
    if op.name == b"." || op.name == b".." || np.name == b"." || np.name == b".." {
        return Err(Errno::EBUSY);
    }
    want_write(&op.dir)?;
    want_write(&np.dir)?;
    let src = op.dir.inode.lookup_async(&op.name).await?;
    let src_is_dir = src.metadata().is_dir();
    if (op.trailing_slash || np.trailing_slash) && !src_is_dir {
        return Err(Errno::ENOTDIR);
    }
    if op.dir.inode.metadata().dev != np.dir.inode.metadata().dev {
        return Err(Errno::EXDEV);
    }
    super::landlock::check_rename(ctx, &op.dir, &np.dir, src_is_dir)?;
    if src_is_dir {
        let src_d = crate::fs::mounts().child(&op.dir, &op.name, src.clone());
        if src_d.is_ancestor_of(&np.dir) {
            return Err(Errno::EINVAL);
        }
    }
    if flags & RENAME_EXCHANGE != 0
        && let Ok(dst) = np.dir.inode.lookup_async(&np.name).await
        && dst.metadata().is_dir()
    {
        let dst_d = crate::fs::mounts().child(&np.dir, &np.name, dst);
        if dst_d.is_ancestor_of(&op.dir) {
            return Err(Errno::EINVAL);
        }
    }
    check_dir_write(ctx, &op.dir.inode)?;
    check_dir_write(ctx, &np.dir.inode)?;
    check_sticky(ctx, &op.dir.inode, &src)?;
    // The name replaced (or exchanged) is deleted as well.
    let target = np.dir.inode.lookup_async(&np.name).await.ok();
    if let Some(t) = &target {
        check_sticky(ctx, &np.dir.inode, t)?;
    }
    // Neither name may be a mount point (vfs_rename's EBUSY).
    if is_mount_point(&src) || target.as_ref().is_some_and(is_mount_point) {
        return Err(Errno::EBUSY);
    }
    let replaced = if flags & RENAME_EXCHANGE == 0 {
        target
    } else {
        None
    };
    op.dir
        .inode
        .rename_async(&op.name, &np.dir.inode, &np.name, flags)
        .await?;
    fsnotify::renamed(&op.dir.inode, &op.name, &np.dir.inode, &np.name, &src);
    if let Some(r) = replaced
        && !alloc::sync::Arc::ptr_eq(&r, &src)
        && (r.metadata().nlink == 0 || r.metadata().is_dir())
    {
        fsnotify::inode_deleted(&r);
    }
    Ok(0)
}

pub async fn sys_rename(ctx: &mut Ctx<'_>, oldpath: UserCStr, newpath: UserCStr) -> KResult<u64> {
    let (old, new) = (ctx.read_path(oldpath)?, ctx.read_path(newpath)?);
    rename_at(ctx, AT_FDCWD, &old, AT_FDCWD, &new, 0).await
}

pub async fn sys_renameat(
    ctx: &mut Ctx<'_>,
    olddirfd: Fd,
    oldpath: UserCStr,
    newdirfd: Fd,
    newpath: UserCStr,
) -> KResult<u64> {
    let (old, new) = (ctx.read_path(oldpath)?, ctx.read_path(newpath)?);
    rename_at(ctx, olddirfd, &old, newdirfd, &new, 0).await
}

pub async fn sys_renameat2(
    ctx: &mut Ctx<'_>,
    olddirfd: Fd,
    oldpath: UserCStr,
    newdirfd: Fd,
    newpath: UserCStr,
    flags: u32,
) -> KResult<u64> {
    let (old, new) = (ctx.read_path(oldpath)?, ctx.read_path(newpath)?);
    rename_at(ctx, olddirfd, &old, newdirfd, &new, flags).await
}

async fn link_at(
    ctx: &Ctx<'_>,
    olddir: i32,
    old: &[u8],
    newdir: i32,
    new: &[u8],
    flags: u32,
) -> KResult<u64> {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let src = if old.is_empty() && flags & AT_EMPTY_PATH != 0 {
        ctx.resolve_at(olddir, old, AT_EMPTY_PATH).await?
    } else {
        ctx.resolve(olddir, old, flags & AT_SYMLINK_FOLLOW != 0)
            .await?
    };
    let np = ctx.resolve_parent(newdir, new).await?;
    if np.name == b"." || np.name == b".." || np.dir.inode.lookup_async(&np.name).await.is_ok() {
        return Err(Errno::EEXIST);
    }
    if np.trailing_slash {
        return Err(Errno::ENOENT);
    }
    want_write(&np.dir)?;
    if src.inode.metadata().dev != np.dir.inode.metadata().dev {
        return Err(Errno::EXDEV);
    }
    check_dir_write(ctx, &np.dir.inode)?;
    // After the new name's checks (EEXIST, EROFS, EXDEV, EACCES), as Linux's
    // vfs_link refuses a directory only once it gets there.
    if src.inode.metadata().is_dir() {
        return Err(Errno::EPERM);
    }
    // No new names for an immutable or append-only file (Linux's vfs_link).
    src.inode.metadata().check_changeable()?;
    // Nor for a file whose last name is gone, but an O_TMPFILE one (once).
    if src.inode.metadata().nlink == 0 && !crate::fs::tmpfile::take_linkable(&src.inode) {
        return Err(Errno::ENOENT);
    }
    super::landlock::check_link(ctx, &src, &np.dir)?;
    np.dir.inode.link_async(&np.name, &src.inode).await?;
    fsnotify::notify_child(&np.dir.inode, fsnotify::FS_CREATE, &np.name, false);
    fsnotify::notify(&src.inode, fsnotify::FS_ATTRIB);
    Ok(0)
}

pub async fn sys_link(ctx: &mut Ctx<'_>, oldpath: UserCStr, newpath: UserCStr) -> KResult<u64> {
    let (old, new) = (ctx.read_path(oldpath)?, ctx.read_path(newpath)?);
    link_at(ctx, AT_FDCWD, &old, AT_FDCWD, &new, 0).await
}

pub async fn sys_linkat(
    ctx: &mut Ctx<'_>,
    olddirfd: Fd,
    oldpath: UserCStr,
    newdirfd: Fd,
    newpath: UserCStr,
    flags: u32,
) -> KResult<u64> {
    let (old, new) = (ctx.read_path(oldpath)?, ctx.read_path(newpath)?);
    link_at(ctx, olddirfd, &old, newdirfd, &new, flags).await
}

async fn symlink_at(ctx: &Ctx<'_>, target: &[u8], newdir: i32, new: &[u8]) -> KResult<u64> {
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let np = ctx.resolve_parent(newdir, new).await?;
    if np.name == b"." || np.name == b".." || np.dir.inode.lookup_async(&np.name).await.is_ok() {
        return Err(Errno::EEXIST);
    }
    if np.trailing_slash {
        return Err(Errno::ENOENT);
    }
    want_write(&np.dir)?;
    check_dir_write(ctx, &np.dir.inode)?;
    super::landlock::check(ctx, &np.dir, LL::MAKE_SYM)?;
    let c = ctx.process().cred.lock().clone();
    let (_, gid) = new_node_owner(ctx, &np.dir.inode, 0o777, false);
    np.dir
        .inode
        .create_async(
            &np.name,
            NodeKind::Symlink(target.to_vec()),
            0o777,
            c.fsuid,
            gid,
        )
        .await?;
    fsnotify::notify_child(&np.dir.inode, fsnotify::FS_CREATE, &np.name, false);
    Ok(0)
}

pub async fn sys_symlink(ctx: &mut Ctx<'_>, target: UserCStr, linkpath: UserCStr) -> KResult<u64> {
    let (target, new) = (ctx.read_path(target)?, ctx.read_path(linkpath)?);
    symlink_at(ctx, &target, AT_FDCWD, &new).await
}

pub async fn sys_symlinkat(
    ctx: &mut Ctx<'_>,
    target: UserCStr,
    newdirfd: Fd,
    linkpath: UserCStr,
) -> KResult<u64> {
    let (target, new) = (ctx.read_path(target)?, ctx.read_path(linkpath)?);
    symlink_at(ctx, &target, newdirfd, &new).await
}

/// IN_ATTRIB for the file `d` names (inotify).
fn attrib(d: &DentryRef) {
    fsnotify::notify_dentry(d, fsnotify::FS_ATTRIB);
}

/// IN_ATTRIB for an open file: by its name when it has one.
fn attrib_file(f: &OpenFile, inode: &InodeRef) {
    attrib_file_mask(f, inode, fsnotify::FS_ATTRIB);
}

fn attrib_file_mask(f: &OpenFile, inode: &InodeRef, mask: u32) {
    match f.dentry() {
        Some(d) => fsnotify::notify_dentry(d, mask),
        None => fsnotify::notify(inode, mask),
    }
}

/// Whether the caller owns `inode` or is root (chmod, utimes with explicit times).
fn owner_or_root(ctx: &Ctx<'_>, inode: &InodeRef) -> bool {
    let uid = ctx.process().cred.lock().fsuid;
    uid == 0 || uid == inode.metadata().uid
}

fn chmod_inode(ctx: &Ctx<'_>, inode: &InodeRef, mode: u64) -> KResult<u64> {
    let m = inode.metadata();
    m.check_changeable()?;
    // Linux 6.6's notify_change: a symlink's mode never changes (reachable only
    // through fchmodat2's AT_SYMLINK_NOFOLLOW), after the immutable check and
    // before the owner check.
    if m.is_symlink() {
        return Err(Errno::EOPNOTSUPP);
    }
    if !owner_or_root(ctx, inode) {
        return Err(Errno::EPERM);
    }
    let mut mode = mode as u32 & S_IALLUGO;
    let c = ctx.process().cred.lock().clone();
    // A non-root caller outside the file's group cannot set setgid (chmod(2)).
    if c.fsuid != 0 && !c.fs_cred().in_group(inode.metadata().gid) {
        mode &= !S_ISGID;
    }
    inode.set_mode(mode)?;
    Ok(0)
}

pub async fn sys_chmod(ctx: &mut Ctx<'_>, path: UserCStr, mode: Mode) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(AT_FDCWD, &path, true).await?;
    want_write(&d)?;
    chmod_inode(ctx, &d.inode, mode as u64).inspect(|_| attrib(&d))
}

pub async fn sys_fchmod(ctx: &mut Ctx<'_>, fd: Fd, mode: Mode) -> KResult<u64> {
    let f = ctx.file(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let inode = f.inode().cloned().ok_or(Errno::EBADF)?;
    want_write_file(&f)?;
    chmod_inode(ctx, &inode, mode as u64).inspect(|_| attrib_file(&f, &inode))
}

pub async fn sys_fchmodat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    mode: Mode,
) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(dirfd, &path, true).await?;
    want_write(&d)?;
    chmod_inode(ctx, &d.inode, mode as u64).inspect(|_| attrib(&d))
}

/// fchmodat2(2) (Linux 6.6): fchmodat with the flags the old call lacks.
/// AT_SYMLINK_NOFOLLOW on a symlink is EOPNOTSUPP (see [`chmod_inode`]).
pub async fn sys_fchmodat2(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    mode: Mode,
    flags: u32,
) -> KResult<u64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = ctx.read_path(path)?;
    let d = ctx.resolve_at(dirfd, &path, flags).await?;
    want_write(&d)?;
    chmod_inode(ctx, &d.inode, mode as u64).inspect(|_| attrib(&d))
}

fn chown_inode(ctx: &Ctx<'_>, inode: &InodeRef, uid: u64, gid: u64) -> KResult<u64> {
    let uid = (uid as u32 != u32::MAX).then_some(uid as u32);
    let gid = (gid as u32 != u32::MAX).then_some(gid as u32);
    let m = inode.metadata();
    if uid.is_some() || gid.is_some() {
        m.check_changeable()?;
    }
    let c = ctx.process().cred.lock().clone();
    if c.fsuid != 0 {
        // Only root changes the owner; an owner may change the group to one of its own.
        if uid.is_some_and(|u| u != m.uid)
            || c.fsuid != m.uid
            || gid.is_some_and(|g| !c.fs_cred().in_group(g))
        {
            return Err(Errno::EPERM);
        }
    }
    inode.set_owner(uid, gid)?;
    // chown(2): set-user-ID is cleared, and set-group-ID when group-executable,
    // for non-directories, even when root makes the change.
    if !m.is_dir() && (uid.is_some() || gid.is_some()) {
        let mut mode = m.mode & S_IALLUGO & !S_ISUID;
        if m.mode & 0o010 != 0 {
            mode &= !S_ISGID;
        }
        inode.set_mode(mode)?;
    }
    Ok(0)
}

pub async fn sys_chown(ctx: &mut Ctx<'_>, path: UserCStr, owner: Id, group: Id) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(AT_FDCWD, &path, true).await?;
    want_write(&d)?;
    chown_inode(ctx, &d.inode, u64::from(owner), u64::from(group)).inspect(|_| attrib(&d))
}

pub async fn sys_lchown(ctx: &mut Ctx<'_>, path: UserCStr, owner: Id, group: Id) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(AT_FDCWD, &path, false).await?;
    want_write(&d)?;
    chown_inode(ctx, &d.inode, u64::from(owner), u64::from(group)).inspect(|_| attrib(&d))
}

pub async fn sys_fchown(ctx: &mut Ctx<'_>, fd: Fd, owner: Id, group: Id) -> KResult<u64> {
    let f = ctx.file(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let inode = f.inode().cloned().ok_or(Errno::EBADF)?;
    want_write_file(&f)?;
    chown_inode(ctx, &inode, u64::from(owner), u64::from(group))
        .inspect(|_| attrib_file(&f, &inode))
}

pub async fn sys_fchownat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    owner: Id,
    group: Id,
    flags: u32,
) -> KResult<u64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = ctx.read_path(path)?;
    let d = ctx.resolve_at(dirfd, &path, flags).await?;
    want_write(&d)?;
    chown_inode(ctx, &d.inode, u64::from(owner), u64::from(group)).inspect(|_| attrib(&d))
}

async fn truncate_path(ctx: &Ctx<'_>, d: &DentryRef, len: u64) -> KResult<u64> {
    let inode = &d.inode;
    if (len as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let m = inode.metadata();
    if m.is_dir() {
        return Err(Errno::EISDIR);
    }
    if !m.is_regular() {
        return Err(Errno::EINVAL);
    }
    want_write(d)?;
    if m.is_immutable() {
        return Err(Errno::EPERM);
    }
    check_access(&m, &cred(ctx), access::WRITE)?;
    // Linux's vfs_truncate: an append-only file is never cut.
    if m.is_append_only() {
        return Err(Errno::EPERM);
    }
    // A running program's file (Linux's get_write_access in vfs_truncate).
    if kestrel_vfs::file::write_denied(inode) {
        return Err(Errno::ETXTBSY);
    }
    fsize_grow_ok(ctx, m.size, len)?;
    // A truncation breaks leases as an open for writing does.
    if crate::fs::leases::active() {
        Box::pin(crate::fs::leases::break_for_open(
            ctx.thread, inode, O_WRONLY, false,
        ))
        .await?;
    }
    inode.truncate_async(len).await?;
    fsnotify::notify_dentry(d, fsnotify::FS_MODIFY);
    Ok(0)
}

pub async fn sys_truncate(ctx: &mut Ctx<'_>, path: UserCStr, length: i64) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(AT_FDCWD, &path, true).await?;
    truncate_path(ctx, &d, length as u64).await
}

pub async fn sys_ftruncate(ctx: &mut Ctx<'_>, fd: Fd, length: i64) -> KResult<u64> {
    let f = ctx.file(fd)?;
    if (length) < 0 {
        return Err(Errno::EINVAL);
    }
    // Linux: EINVAL unless a regular file open for writing.
    let inode = f.inode().cloned().ok_or(Errno::EINVAL)?;
    let m = inode.metadata();
    if !f.writable() || !m.is_regular() {
        return Err(Errno::EINVAL);
    }
    // Opened for writing before the flag came (Linux's do_sys_ftruncate).
    if m.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL) != 0 {
        return Err(Errno::EPERM);
    }
    fsize_grow_ok(ctx, m.size, length as u64)?;
    inode.truncate_async(length as u64).await?;
    attrib_file_mask(&f, &inode, fsnotify::FS_MODIFY);
    Ok(0)
}

pub async fn sys_umask(ctx: &mut Ctx<'_>, mask: u32) -> KResult<u64> {
    let fs = ctx.process().fs();
    let mut fs = fs.lock();
    let old = fs.umask;
    fs.umask = mask & 0o777;
    Ok(u64::from(old))
}

pub async fn sys_utimensat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path_ptr: UserCStr,
    times_ptr: UserPtr<[Timespec; 2]>,
    flags: u32,
) -> KResult<u64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let times = if times_ptr.is_null() {
        None
    } else {
        Some(ctx.read::<[Timespec; 2]>(times_ptr)?)
    };
    // futimens' form (no path, a descriptor) takes no flags (Linux's
    // do_utimes_fd).
    if path_ptr.is_null() && dirfd != AT_FDCWD && flags != 0 {
        return Err(Errno::EINVAL);
    }
    let path = optional_path(ctx, dirfd, path_ptr)?;
    utimens(ctx, dirfd, path.as_deref(), times, flags).await
}

/// The path of utimensat or futimesat: NULL names `dirfd` itself, unless that is
/// AT_FDCWD, where Linux reads the NULL path (EFAULT).
fn optional_path(ctx: &Ctx<'_>, dirfd: Fd, path: UserCStr) -> KResult<Option<Vec<u8>>> {
    if path.is_null() && dirfd != AT_FDCWD {
        return Ok(None);
    }
    ctx.read_path(path).map(Some)
}

/// The core of utimensat and its older forms: sets the access and modification
/// times of the file `path` names from `dirfd` (or of `dirfd` itself without a
/// path) to `times` (UTIME_NOW, UTIME_OMIT allowed; None: both now).
async fn utimens(
    ctx: &Ctx<'_>,
    dirfd: i32,
    path: Option<&[u8]>,
    times: Option<[Timespec; 2]>,
    flags: u32,
) -> KResult<u64> {
    let now = Timespec::from_ns(crate::time::realtime_ns());
    let pick = |ts: Timespec| -> KResult<Option<Timespec>> {
        match ts.tv_nsec {
            UTIME_OMIT => Ok(None),
            UTIME_NOW => Ok(Some(now)),
            n if (0..1_000_000_000).contains(&n) => Ok(Some(ts)),
            _ => Err(Errno::EINVAL),
        }
    };
    let (atime, mtime) = match times {
        None => (Some(now), Some(now)),
        Some(t) => (pick(t[0])?, pick(t[1])?),
    };
    // futimens: the file behind dirfd.
    let (inode, dentry): (InodeRef, Option<DentryRef>) = match path {
        None => {
            let f = ctx.file(dirfd)?;
            let inode = f.inode().cloned().ok_or(Errno::EBADF)?;
            (inode, f.dentry().cloned())
        }
        Some(p) => {
            let d = ctx.resolve_at(dirfd, p, flags).await?;
            (d.inode.clone(), Some(d))
        }
    };
    if atime.is_none() && mtime.is_none() {
        return Ok(0);
    }
    if let Some(d) = &dentry {
        want_write(d)?;
    }
    // Explicit times need ownership; "now" needs ownership or write permission.
    let only_now = times.is_none_or(|t| {
        t.iter()
            .all(|ts| matches!(ts.tv_nsec, UTIME_NOW | UTIME_OMIT))
    });
    // Times given (even UTIME_NOW with UTIME_OMIT) are an attribute change
    // (EPERM on an immutable or append-only file); a "touch" (no times, or
    // both UTIME_NOW) writes the file (EPERM on an immutable one only), as
    // Linux's vfs_utimes and notify_change.
    let m = inode.metadata();
    if times.is_none_or(|t| t.iter().all(|ts| ts.tv_nsec == UTIME_NOW)) {
        if m.is_immutable() {
            return Err(Errno::EPERM);
        }
    } else {
        m.check_changeable()?;
    }
    if !owner_or_root(ctx, &inode) {
        if !only_now {
            return Err(Errno::EPERM);
        }
        if !may_access(&inode.metadata(), &cred(ctx), access::WRITE) {
            return Err(Errno::EACCES);
        }
    }
    inode.set_times(atime, mtime)?;
    match &dentry {
        Some(d) => attrib(d),
        None => fsnotify::notify(&inode, fsnotify::FS_ATTRIB),
    }
    Ok(0)
}

/// Timevals (utimes, futimesat) as timespecs; EINVAL for microseconds out of range.
fn timevals(ctx: &Ctx<'_>, ptr: UserPtr<[Timeval; 2]>) -> KResult<Option<[Timespec; 2]>> {
    if ptr.is_null() {
        return Ok(None);
    }
    let tv: [Timeval; 2] = ctx.read(ptr)?;
    let conv = |t: Timeval| -> KResult<Timespec> {
        if !(0..1_000_000).contains(&t.tv_usec) {
            return Err(Errno::EINVAL);
        }
        Ok(Timespec {
            tv_sec: t.tv_sec,
            tv_nsec: t.tv_usec * 1000,
        })
    };
    Ok(Some([conv(tv[0])?, conv(tv[1])?]))
}

pub async fn sys_utime(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    times: UserPtr<[i64; 2]>,
) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    // struct utimbuf: two time_t seconds.
    let times = if times.is_null() {
        None
    } else {
        let t: [i64; 2] = ctx.read(times)?;
        Some([
            Timespec {
                tv_sec: t[0],
                tv_nsec: 0,
            },
            Timespec {
                tv_sec: t[1],
                tv_nsec: 0,
            },
        ])
    };
    utimens(ctx, AT_FDCWD, Some(&path), times, 0).await
}

pub async fn sys_utimes(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    times: UserPtr<[Timeval; 2]>,
) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let times = timevals(ctx, times)?;
    utimens(ctx, AT_FDCWD, Some(&path), times, 0).await
}

pub async fn sys_futimesat(
    ctx: &mut Ctx<'_>,
    dirfd: Fd,
    path: UserCStr,
    times: UserPtr<[Timeval; 2]>,
) -> KResult<u64> {
    let path = optional_path(ctx, dirfd, path)?;
    let times = timevals(ctx, times)?;
    utimens(ctx, dirfd, path.as_deref(), times, 0).await
}

/// Moves up to `count` bytes from `input` to `output` through the kernel: from
/// `pos` when given (positional reads), else from `input`'s own position. Stops at
/// end of input or a short write. Returns how many bytes reached `output`.
async fn copy_between(
    ctx: &Ctx<'_>,
    input: &OpenFile,
    output: &OpenFile,
    mut pos: Option<u64>,
    count: usize,
) -> KResult<usize> {
    let count = count.min(MAX_RW_COUNT);
    let mut total = 0;
    let mut chunk = bounce(count)?;
    while total < count {
        let want = (count - total).min(CHUNK);
        let buf = &mut chunk[..want];
        let got = match pos {
            Some(p) if input.ops().read_async(p, &mut []).is_some() => {
                match input.read_async(Some(p), buf) {
                    Some(io) => io.await?,
                    None => 0,
                }
            }
            Some(p) => input.pread(p, buf)?,
            None if total > 0 && is_stream(input) => {
                // A stream gives what it has; don't wait for more once data moved.
                match input.read(buf) {
                    Ok(n) => n,
                    Err(Errno::EAGAIN) => break,
                    Err(e) => return Err(e),
                }
            }
            None => read_blocking(ctx, input, buf).await?,
        };
        if got == 0 {
            break;
        }
        let put = match write_blocking(ctx, output, &chunk[..got]).await {
            Ok(n) => n,
            Err(_) if total > 0 => break,
            Err(e) => return Err(e),
        };
        total += put;
        if let Some(p) = pos.as_mut() {
            *p += put as u64;
        }
        if put < got {
            break;
        }
        kestrel_executor::yield_now().await;
    }
    Ok(total)
}

/// sendfile(2): `count` bytes from `in_fd` (at `*offset` if given, leaving its file
/// position alone) to `out_fd`.
pub async fn sys_sendfile(
    ctx: &mut Ctx<'_>,
    out_fd: Fd,
    in_fd: Fd,
    off_ptr: UserPtr<i64>,
    count: usize,
) -> KResult<u64> {
    let input = ctx.file(in_fd)?;
    let output = ctx.file(out_fd)?;
    if !input.readable() || !output.writable() {
        return Err(Errno::EBADF);
    }
    if output.flags() & O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    if input.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Errno::EINVAL);
    }
    let start = if !off_ptr.is_null() {
        let off: i64 = ctx.read(off_ptr)?;
        if !input.ops().seekable() {
            return Err(Errno::ESPIPE);
        }
        Some(off)
    } else if input.ops().seekable() {
        Some(input.seek(0, SEEK_CUR)? as i64)
    } else {
        // Linux reads the input with splice_read, which files and devices that
        // seek have and streams (pipes, sockets, eventfd, timerfd, terminals)
        // do not.
        return Err(Errno::EINVAL);
    };
    if let Some(p) = start
        && (p < 0 || p.checked_add(count.min(MAX_RW_COUNT) as i64).is_none())
    {
        return Err(Errno::EINVAL);
    }
    let start = start.map(|p| p as u64);
    let asked = count.min(MAX_RW_COUNT);
    let count = fsize_write_limit(ctx, &output, None, asked)?;
    let n = copy_between(ctx, &input, &output, start, count).await?;
    // Linux moves the data through a pipe and writes until the pipe is empty:
    // stopped at RLIMIT_FSIZE with more input read, its next write raises SIGXFSZ.
    if count < asked
        && n == count
        && let (Some(p), Ok(m)) = (start, input.metadata())
        && m.is_regular()
        && m.size > p + n as u64
    {
        fsize_exceeded(ctx);
    }
    if let Some(p) = start {
        let end = p + n as u64;
        if !off_ptr.is_null() {
            ctx.write(off_ptr, &(end as i64))?;
        } else {
            input.seek(end as i64, SEEK_SET)?;
        }
    }
    Ok(n as u64)
}

/// copy_file_range(2) between regular files, each at its `*off` if given, else at
/// (and advancing) its file position.
/// pread(2) of a file, through its async read where it has one (a disk file).
async fn pread_any(f: &OpenFile, offset: u64, buf: &mut [u8]) -> KResult<usize> {
    if f.ops().read_async(offset, &mut []).is_some()
        && let Some(io) = f.read_async(Some(offset), buf)
    {
        return io.await;
    }
    f.pread(offset, buf)
}

/// pwrite(2) of a file, through its async write where it has one.
async fn pwrite_any(f: &OpenFile, offset: u64, data: &[u8]) -> KResult<usize> {
    match f.write_async(Some(offset), data) {
        Some(io) => io.await,
        None => f.pwrite(offset, data),
    }
}

pub async fn sys_copy_file_range(
    ctx: &mut Ctx<'_>,
    in_fd: Fd,
    in_off: UserPtr<i64>,
    out_fd: Fd,
    out_off: UserPtr<i64>,
    len: usize,
    flags: u32,
) -> KResult<u64> {
    // Linux's order: the descriptors, the offsets from user memory, the flags,
    // then generic_file_rw_checks (kinds before modes) and the wrap check on
    // the whole length.
    let input = ctx.file(in_fd)?;
    let output = ctx.file(out_fd)?;
    let read_off = |ptr: UserPtr<i64>, f: &OpenFile| -> KResult<i64> {
        if ptr.is_null() {
            return Ok(f.position() as i64);
        }
        ctx.read(ptr)
    };
    let (ipos, opos) = (read_off(in_off, &input)?, read_off(out_off, &output)?);
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (im, om) = (input.metadata()?, output.metadata()?);
    if im.is_dir() || om.is_dir() {
        return Err(Errno::EISDIR);
    }
    if !im.is_regular() || !om.is_regular() {
        return Err(Errno::EINVAL);
    }
    if !input.readable() || !output.writable() || output.flags() & O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    // Not into an immutable file, even through a descriptor opened before.
    if om.is_immutable() {
        return Err(Errno::EPERM);
    }
    if (ipos as u64).checked_add(len as u64).is_none()
        || (opos as u64).checked_add(len as u64).is_none()
    {
        return Err(Errno::EOVERFLOW);
    }
    let (Ok(ipos), Ok(opos)) = (u64::try_from(ipos), u64::try_from(opos)) else {
        return Err(Errno::EINVAL);
    };
    let len = len.min(MAX_RW_COUNT);
    // The same file with overlapping ranges is EINVAL.
    let same = match (input.inode(), output.inode()) {
        (Some(x), Some(y)) => Arc::ptr_eq(x, y),
        _ => false,
    };
    if same && ipos < opos + len as u64 && opos < ipos + len as u64 {
        return Err(Errno::EINVAL);
    }
    let len = fsize_write_limit(ctx, &output, Some(opos), len)?;
    let mut done = 0usize;
    let mut buf = bounce(len)?;
    while done < len {
        let want = (len - done).min(CHUNK);
        let got = pread_any(&input, ipos + done as u64, &mut buf[..want]).await?;
        if got == 0 {
            break;
        }
        let put = pwrite_any(&output, opos + done as u64, &buf[..got]).await?;
        done += put;
        if put < got {
            break;
        }
        kestrel_executor::yield_now().await;
    }
    let advance = |ptr: UserPtr<i64>, f: &OpenFile, start: u64| -> KResult<()> {
        let end = start + done as u64;
        if ptr.is_null() {
            f.seek(end as i64, SEEK_SET).map(|_| ())
        } else {
            ctx.write(ptr, &(end as i64))
        }
    };
    advance(in_off, &input, ipos)?;
    advance(out_off, &output, opos)?;
    Ok(done as u64)
}

pub async fn sys_statfs(ctx: &mut Ctx<'_>, path: UserCStr, buf: UserPtr<Statfs>) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let d = ctx.resolve(AT_FDCWD, &path, true).await?;
    let mut st = d.inode.statfs_async().await?;
    st.f_flags = super::mount::statfs_flags(Some(&d));
    ctx.write(buf, &st)?;
    Ok(0)
}

pub async fn sys_fstatfs(ctx: &mut Ctx<'_>, fd: Fd, buf: UserPtr<Statfs>) -> KResult<u64> {
    let f = ctx.file(fd)?;
    let inode = f.inode().ok_or(Errno::EBADF)?;
    let mut st = inode.statfs_async().await?;
    // A file with a name shows its mount's flags; a pipe or socket its own.
    if let Some(d) = f.dentry() {
        st.f_flags = super::mount::statfs_flags(Some(d));
    }
    ctx.write(buf, &st)?;
    Ok(0)
}

/// fadvise64(2): every file lives in memory, so the advice changes nothing; the
/// arguments are checked as Linux does.
pub async fn sys_fadvise64(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    offset: i64,
    len: i64,
    advice: i32,
) -> KResult<u64> {
    const POSIX_FADV_NOREUSE: u64 = 5;
    let f = ctx.file(fd)?;
    if (len) < 0 || (advice as u64) > POSIX_FADV_NOREUSE {
        return Err(Errno::EINVAL);
    }
    if f.metadata().is_ok_and(|m| m.file_type() == S_IFIFO) || f.inode().is_none() {
        return Err(Errno::ESPIPE);
    }
    // ext2 files act on it (read-ahead mode, prefetch, dropping clean pages);
    // other files keep everything in memory anyway.
    crate::fs::ext2::advise(
        f.ops(),
        offset.max(0) as u64,
        len as u64,
        Some(advice as u32),
    );
    Ok(0)
}
