//! Named pipes (FIFOs): a FIFO's inode stands for one pipe while anyone has it
//! open; opening it joins that pipe as a reader, a writer or both.
//!
//! Opening follows fifo(7): O_RDONLY waits until a writer opens (unless
//! O_NONBLOCK), O_WRONLY waits for a reader (and with O_NONBLOCK fails with ENXIO
//! when there is none), O_RDWR never waits. An anonymous pipe opened through
//! /proc/PID/fd/N joins that pipe and never waits. The waiting is the open system call's
//! ([`wait_for_partner`]); this module only joins the pipe.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::pipe::{Pipe, PipeReader, PipeWriter};
use kestrel_vfs::{FileOps, InodeRef, OpenFile};

/// The pipe of each FIFO inode that is open somewhere, by (device, inode).
static OPEN_FIFOS: spin::Mutex<BTreeMap<(u64, u64), Weak<Pipe>>> =
    spin::Mutex::new(BTreeMap::new());

/// The pipe of the named FIFO `inode` (made when the first end opens it).
fn fifo_pipe(inode: &InodeRef) -> Arc<Pipe> {
    let id = kestrel_vfs::path::identity(inode);
    let mut open = OPEN_FIFOS.lock();
    if let Some(p) = open.get(&id).and_then(Weak::upgrade) {
        return p;
    }
    // Forget pipes whose every end closed (their data is gone, as in Linux).
    open.retain(|_, w| w.strong_count() > 0);
    let p = Pipe::new_fifo();
    open.insert(id, Arc::downgrade(&p));
    p
}

/// Joins the FIFO `inode`'s pipe with the access `flags` asks for.
pub fn open(inode: &InodeRef, flags: u32) -> KResult<Arc<dyn FileOps>> {
    // An anonymous pipe reached through /proc/PID/fd/N: that very pipe.
    let anonymous = super::anon::pipe_of_inode(inode);
    let p = match &anonymous {
        Some(p) => p.clone(),
        None => fifo_pipe(inode),
    };
    let anonymous = anonymous.is_some();
    Ok(match flags & O_ACCMODE {
        O_RDONLY => Pipe::open_reader(&p),
        O_WRONLY => {
            // ENXIO is a named pipe's answer (checked on Linux 6.18: a pipe's
            // write end opened again without a reader is no error).
            if flags & O_NONBLOCK != 0 && p.ends().0 == 0 && !anonymous {
                return Err(Errno::ENXIO);
            }
            Pipe::open_writer(&p)
        }
        _ => Pipe::open_read_write(&p),
    })
}

/// The open FIFO end `file`, if its opener must wait for the other side: a
/// blocking reader that had no writer when it joined the pipe, or a blocking
/// writer that had no reader, and whose partner has not opened since (see
/// [`wait_for_partner`]); None when no waiting is needed.
pub fn partner_to_wait_for(file: &OpenFile) -> Option<Arc<dyn FileOps>> {
    if file.nonblocking() {
        return None;
    }
    // An anonymous pipe opened again through /proc/PID/fd/N (`/dev/stdin`)
    // never waits, as Linux's fifo_open waits only for named pipes: its
    // writer may be long gone, the reader then reads to end of file.
    if file
        .inode()
        .is_some_and(|i| super::anon::pipe_of_inode(i).is_some())
    {
        return None;
    }
    let ops = file.ops().as_any();
    let waits = if let Some(r) = ops.downcast_ref::<PipeReader>() {
        !r.has_partner()
    } else if let Some(w) = ops.downcast_ref::<PipeWriter>() {
        !w.has_partner()
    } else {
        false
    };
    waits.then(|| file.ops().clone())
}

/// Waits until the other side of the FIFO end `ops` (a [`PipeReader`] or
/// [`PipeWriter`]) has opened since this end joined, as Linux's wait_for_partner.
/// Both facts are the end's own, taken when it joined: whether a partner was open
/// then, and the count of the other side's opens. Looking later would miss a
/// partner that was there at the join and is gone by the look (a writer that
/// opened, wrote and closed), and wait for ever.
pub async fn wait_for_partner(ops: &Arc<dyn FileOps>) {
    let any = ops.as_any();
    if let Some(r) = any.downcast_ref::<PipeReader>() {
        let came = || r.has_partner().then_some(());
        r.pipe().wait_queue().wait_until(came).await;
    } else if let Some(w) = any.downcast_ref::<PipeWriter>() {
        let came = || w.has_partner().then_some(());
        w.pipe().wait_queue().wait_until(came).await;
    }
}
