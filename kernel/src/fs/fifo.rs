//! Named pipes (FIFOs): a FIFO's inode stands for one pipe while anyone has it
//! open; opening it joins that pipe as a reader, a writer or both.
//!
//! Opening follows fifo(7): O_RDONLY waits until a writer opens (unless
//! O_NONBLOCK), O_WRONLY waits for a reader (and with O_NONBLOCK fails with ENXIO
//! when there is none), O_RDWR never waits. The waiting is the open system call's
//! ([`wait_for_partner`]); this module only joins the pipe.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::pipe::{Pipe, PipeReadWrite, PipeReader, PipeWriter};
use kestrel_vfs::{FileOps, InodeRef, OpenFile};

/// The pipe of each FIFO inode that is open somewhere, by (device, inode).
static OPEN_FIFOS: spin::Mutex<BTreeMap<(u64, u64), Weak<Pipe>>> =
    spin::Mutex::new(BTreeMap::new());

fn pipe_of(inode: &InodeRef) -> Arc<Pipe> {
    // An anonymous pipe reached through /proc/PID/fd/N: that very pipe.
    if let Some(p) = super::anon::pipe_of_inode(inode) {
        return p;
    }
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
    let p = pipe_of(inode);
    Ok(match flags & O_ACCMODE {
        O_RDONLY => Pipe::open_reader(&p),
        O_WRONLY => {
            if flags & O_NONBLOCK != 0 && p.ends().0 == 0 {
                return Err(Errno::ENXIO);
            }
            Pipe::open_writer(&p)
        }
        _ => Pipe::open_read_write(&p),
    })
}

/// The pipe behind an open FIFO end, and whether the opener must wait for the
/// other side: (pipe, wait for a writer) for a blocking reader, (pipe, wait for
/// a reader) for a blocking writer; None when no waiting is needed.
pub fn partner_to_wait_for(file: &OpenFile) -> Option<(Arc<Pipe>, bool)> {
    if file.nonblocking() {
        return None;
    }
    let ops = file.ops().as_any();
    if let Some(r) = ops.downcast_ref::<PipeReader>() {
        return (r.pipe().ends().1 == 0).then(|| (r.pipe().clone(), true));
    }
    if let Some(w) = ops.downcast_ref::<PipeWriter>() {
        return (w.pipe().ends().0 == 0).then(|| (w.pipe().clone(), false));
    }
    let _ = ops.downcast_ref::<PipeReadWrite>();
    None
}

/// Waits until the other side opens (its open count changes), as Linux's
/// wait_for_partner.
pub async fn wait_for_partner(pipe: &Pipe, writer: bool) {
    let count = |p: &Pipe| if writer { p.opens().1 } else { p.opens().0 };
    let start = count(pipe);
    pipe.wait_queue()
        .wait_until(|| (count(pipe) != start).then_some(()))
        .await;
}
