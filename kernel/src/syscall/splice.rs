//! splice(2), tee(2) and vmsplice(2): data between a pipe and another file, a
//! pipe's data duplicated into another pipe, and a pipe's data to or from user
//! memory.
//!
//! Linux moves page references between pipe buffers; Kestrel's pipes are byte
//! queues, so these copy through a kernel buffer, at most 128 KiB a call (a
//! pipe holds 64 KiB by default). From a pipe, the bytes are looked at first and
//! taken only once the output has them, so a failed or short write leaves the
//! rest in the pipe, as on Linux. Unlike Linux, which holds the pipe's lock
//! throughout, a second reader of the same pipe may take the same bytes in
//! between.

use alloc::boxed::Box;
use alloc::sync::Arc;

use kestrel_abi::fs::{Iovec, O_APPEND, POLLIN, POLLOUT};
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::OpenFile;
use kestrel_vfs::pipe::{Pipe, PipeReadWrite, PipeReader, PipeWriter};

use super::args::{Fd, UserPtr};
use super::{Ctx, wait_for};
use crate::process::signal::interruptible;

const SPLICE_F_MOVE: u32 = 1;
const SPLICE_F_NONBLOCK: u32 = 2;
const SPLICE_F_MORE: u32 = 4;
const SPLICE_F_GIFT: u32 = 8;
const SPLICE_F_ALL: u32 = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;

/// The most one call moves.
const MAX_MOVE: usize = 128 * 1024;

/// The pipe behind `f`, if it is one end of a pipe or FIFO.
fn pipe_of(f: &OpenFile) -> Option<&Arc<Pipe>> {
    let any = f.ops().as_any();
    any.downcast_ref::<PipeReader>()
        .map(PipeReader::pipe)
        .or_else(|| any.downcast_ref::<PipeWriter>().map(PipeWriter::pipe))
        .or_else(|| any.downcast_ref::<PipeReadWrite>().map(PipeReadWrite::pipe))
}

/// Whether `f` is a file Linux splices to or from a pipe: regular files, block
/// and character devices (as Linux 6.5 on, which splices any file that reads
/// and writes by iterator; 6.1 refuses most character devices), sockets.
fn spliceable(f: &OpenFile) -> bool {
    use kestrel_abi::fs::{S_IFBLK, S_IFCHR, S_IFREG};
    super::socket::is_socket(f)
        || f.metadata()
            .is_ok_and(|m| matches!(m.file_type(), S_IFREG | S_IFBLK | S_IFCHR))
}

/// A file offset argument: read, checked (EINVAL below 0) and only for files
/// that have positions (ESPIPE).
fn offset_arg(ctx: &Ctx<'_>, f: &OpenFile, p: UserPtr<i64>) -> KResult<Option<u64>> {
    if p.is_null() {
        return Ok(None);
    }
    if !f.ops().seekable() {
        return Err(Errno::ESPIPE);
    }
    let off: i64 = ctx.read(p)?;
    u64::try_from(off).map(Some).map_err(|_| Errno::EINVAL)
}

/// Waits until `file` (a pipe end) has `events`, unless the call or the file is
/// non-blocking (then EAGAIN); a signal ends the wait (ERESTARTSYS).
async fn wait_pipe(ctx: &Ctx<'_>, file: &OpenFile, events: u16, nonblock: bool) -> KResult<()> {
    if nonblock || file.nonblocking() {
        return Err(Errno::EAGAIN);
    }
    wait_signalled(ctx, file, events).await
}

/// Waits for `events` on `file` until a signal comes (ERESTARTSYS).
async fn wait_signalled(ctx: &Ctx<'_>, file: &OpenFile, events: u16) -> KResult<()> {
    Box::pin(interruptible(ctx.thread, Errno::ERESTARTSYS, async {
        wait_for(file, events).await;
        Ok(())
    }))
    .await
}

/// Up to `len` bytes from the front of `pipe` (through `file`, its read end),
/// waiting for some; empty at end of file (no writers).
async fn peek_some(
    ctx: &Ctx<'_>,
    file: &OpenFile,
    pipe: &Pipe,
    len: usize,
    nonblock: bool,
) -> KResult<alloc::vec::Vec<u8>> {
    let mut buf = super::zeroed_vec(len.min(MAX_MOVE))?;
    loop {
        match pipe.peek(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::EAGAIN) => wait_pipe(ctx, file, POLLIN, nonblock).await?,
            Err(e) => return Err(e),
        }
    }
}

/// Takes `n` bytes that were peeked from the read end `file`.
fn consume(file: &OpenFile, n: usize) -> KResult<()> {
    let mut scratch = [0u8; 512];
    let mut left = n;
    while left > 0 {
        let k = left.min(scratch.len());
        match file.read(&mut scratch[..k]) {
            Ok(0) | Err(_) => break, // someone else took them
            Ok(got) => left -= got,
        }
    }
    Ok(())
}

pub async fn sys_splice(
    ctx: &mut Ctx<'_>,
    fd_in: Fd,
    off_in: UserPtr<i64>,
    fd_out: Fd,
    off_out: UserPtr<i64>,
    len: usize,
    flags: u32,
) -> KResult<u64> {
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let input = ctx.file(fd_in)?;
    let output = ctx.file(fd_out)?;
    if !input.readable() || !output.writable() {
        return Err(Errno::EBADF);
    }
    let (in_pipe, out_pipe) = (pipe_of(&input), pipe_of(&output));
    match (in_pipe, out_pipe) {
        (None, None) => return Err(Errno::EINVAL),
        (Some(a), Some(b)) if Arc::ptr_eq(a, b) => return Err(Errno::EINVAL),
        _ => {}
    }
    if (in_pipe.is_some() && !off_in.is_null()) || (out_pipe.is_some() && !off_out.is_null()) {
        return Err(Errno::ESPIPE);
    }
    if out_pipe.is_none() && output.flags() & O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    // The other end must be a kind Linux splices: a regular file, a block
    // device or a socket (directories, eventfds, timerfds, epoll and the like
    // have no splice_read or splice_write there: EINVAL).
    if (in_pipe.is_none() && !spliceable(&input)) || (out_pipe.is_none() && !spliceable(&output)) {
        return Err(Errno::EINVAL);
    }
    let in_off = offset_arg(ctx, &input, off_in)?;
    let out_off = offset_arg(ctx, &output, off_out)?;
    if len == 0 {
        return Ok(0);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;

    let moved = if let Some(pipe) = in_pipe {
        // From a pipe: look, write, then take what the output took.
        let data = peek_some(ctx, &input, pipe, len, nonblock).await?;
        if data.is_empty() {
            return Ok(0);
        }
        let put = match (out_pipe, out_off) {
            (Some(out), _) => {
                while out.room() == 0 {
                    wait_pipe(ctx, &output, POLLOUT, nonblock).await?;
                }
                output.write(&data[..data.len().min(out.room())])?
            }
            (None, Some(off)) => output.pwrite(off, &data)?,
            (None, None) => super::fs::write_blocking(ctx, &output, &data).await?,
        };
        consume(&input, put)?;
        if let Some(off) = out_off {
            ctx.write(off_out, &((off + put as u64) as i64))?;
        }
        put
    } else {
        // Into a pipe: as much as it has room for.
        let out = out_pipe.expect("one end is a pipe");
        while out.room() == 0 {
            wait_pipe(ctx, &output, POLLOUT, nonblock).await?;
        }
        let mut buf = super::zeroed_vec(len.min(out.room()).min(MAX_MOVE))?;
        let got = match in_off {
            Some(off) if input.ops().read_async(off, &mut []).is_some() => {
                match input.read_async(Some(off), &mut buf) {
                    Some(io) => io.await?,
                    None => 0,
                }
            }
            Some(off) => input.pread(off, &mut buf)?,
            None => super::fs::read_blocking(ctx, &input, &mut buf).await?,
        };
        let put = if got == 0 {
            0
        } else {
            super::fs::write_blocking(ctx, &output, &buf[..got]).await?
        };
        if let Some(off) = in_off {
            ctx.write(off_in, &((off + put as u64) as i64))?;
        }
        put
    };
    Ok(moved as u64)
}

pub async fn sys_tee(
    ctx: &mut Ctx<'_>,
    fd_in: Fd,
    fd_out: Fd,
    len: usize,
    flags: u32,
) -> KResult<u64> {
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let input = ctx.file(fd_in)?;
    let output = ctx.file(fd_out)?;
    if !input.readable() || !output.writable() {
        return Err(Errno::EBADF);
    }
    let (Some(a), Some(b)) = (pipe_of(&input), pipe_of(&output)) else {
        return Err(Errno::EINVAL);
    };
    if Arc::ptr_eq(a, b) {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let data = peek_some(ctx, &input, a, len, nonblock).await?;
    if data.is_empty() {
        return Ok(0);
    }
    while b.room() == 0 {
        wait_pipe(ctx, &output, POLLOUT, nonblock).await?;
    }
    let n = output.write(&data[..data.len().min(b.room())])?;
    Ok(n as u64)
}

pub async fn sys_vmsplice(
    ctx: &mut Ctx<'_>,
    fd: Fd,
    iov: UserPtr<Iovec>,
    nr_segs: usize,
    flags: u32,
) -> KResult<u64> {
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let file = ctx.file(fd)?;
    let Some(pipe) = pipe_of(&file) else {
        return Err(Errno::EBADF);
    };
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    // Linux's order: the vector is read (EINVAL, EFAULT) before anything moves.
    let iovs = super::fs::read_iovecs(ctx, iov, nr_segs)?;
    if iovs.iter().all(|v| v.len == 0) {
        return Ok(0);
    }
    if file.writable() {
        // Linux's vmsplice_to_pipe: wait for room (unless SPLICE_F_NONBLOCK:
        // the pipe's own O_NONBLOCK is not looked at), then fill what there
        // is and return the count; a vector larger than the pipe is not
        // waited for in full, as a blocking write would be.
        while pipe.room() == 0 {
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            wait_signalled(ctx, &file, POLLOUT).await?;
        }
        let mut left = pipe.room() as u64;
        let fits: alloc::vec::Vec<Iovec> = iovs
            .iter()
            .map(|v| {
                let n = v.len.min(left);
                left -= n;
                Iovec {
                    base: v.base,
                    len: n,
                }
            })
            .filter(|v| v.len > 0)
            .collect();
        super::fs::writev_file(ctx, &file, &fits).await
    } else {
        if nonblock && pipe.is_empty() {
            return Err(Errno::EAGAIN);
        }
        super::fs::sys_readv(ctx, fd, iov, nr_segs).await
    }
}
