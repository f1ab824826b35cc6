//! Open files: Linux's `struct file` (one per `open`, shared by `dup` and `fork`).
//!
//! An [`OpenFile`] holds the access mode and status flags, the file position, and the
//! [`FileOps`] that give the file its behaviour: regular file, directory, pipe end,
//! device. Operations never block: where data is not there yet they return EAGAIN,
//! and the caller waits on [`FileOps::wait_queue`] until [`FileOps::poll`] says so.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::any::Any;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;

use crate::inode::{InodeRef, Metadata};
use crate::path::DentryRef;
use crate::{UserPtr, UserSpace};

/// What an open file does. Every method is non-blocking.
/// A read or write that waits on a device, as a future (see [`FileOps::read_async`]).
pub type IoFuture<'a> = Pin<Box<dyn Future<Output = KResult<usize>> + Send + 'a>>;
/// An ioctl that may wait, as a future (see [`FileOps::ioctl_waiting`]).
pub type IoctlFuture<'a> = Pin<Box<dyn Future<Output = KResult<u64>> + Send + 'a>>;

pub trait FileOps: Send + Sync + Any {
    /// Reads at `*pos` (seekable files advance it; streams ignore it).
    /// EAGAIN when no data is available yet.
    fn read(&self, file: &OpenFile, pos: &mut u64, buf: &mut [u8]) -> KResult<usize>;
    /// Writes at `*pos` (or at the end with O_APPEND). EAGAIN when there is no room.
    fn write(&self, file: &OpenFile, pos: &mut u64, data: &[u8]) -> KResult<usize>;
    /// Whether lseek, pread and pwrite work (ESPIPE otherwise).
    fn seekable(&self) -> bool {
        false
    }
    /// For a file that is not seekable: whether lseek succeeds anyway, doing
    /// nothing (Linux's noop_llseek, used by epoll, eventfd, timerfd and signalfd)
    /// instead of failing with ESPIPE.
    fn seek_is_noop(&self) -> bool {
        false
    }
    /// The current readiness (POLLIN, POLLOUT, POLLHUP, POLLERR).
    fn poll(&self) -> u16 {
        POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
    }
    /// Woken whenever [`FileOps::poll`]'s answer may have changed. `None` for files
    /// that are always ready.
    fn wait_queue(&self) -> Option<&WaitQueue> {
        None
    }
    /// For files whose reads wait on a device (a disk, a hardware random number
    /// generator): the read of up to `buf.len()` bytes at `pos`, as a future that
    /// the system call awaits instead of calling [`FileOps::read`]. `None` (the
    /// default) for every other file.
    fn read_async<'a>(&'a self, _pos: u64, _buf: &'a mut [u8]) -> Option<IoFuture<'a>> {
        None
    }
    /// The write counterpart of [`FileOps::read_async`].
    fn write_async<'a>(&'a self, _pos: u64, _data: &'a [u8]) -> Option<IoFuture<'a>> {
        None
    }
    /// A file with a seek of its own (/dev/kmsg's record cursor): lseek's
    /// answer, asked before anything else. `None` (the default): the usual
    /// seek, by [`FileOps::seekable`].
    fn llseek(&self, _file: &OpenFile, _offset: i64, _whence: u32) -> Option<KResult<u64>> {
        None
    }
    /// The size SEEK_END is relative to, when it is not the inode's (a block
    /// device's capacity).
    fn size(&self) -> Option<u64> {
        None
    }
    /// A device- or file-specific control (ENOTTY by default).
    fn ioctl(&self, _file: &OpenFile, _cmd: u32, _arg: u64, _mem: &dyn UserSpace) -> KResult<u64> {
        Err(Errno::ENOTTY)
    }
    /// A read that does its own waiting, as one future that the system call
    /// awaits in place of its usual loop (try [`FileOps::read`], wait for POLLIN,
    /// try again): a terminal's read, which checks job control, waits for a line or
    /// for VMIN/VTIME, and ends early with what it has when a signal comes. The
    /// future is made and polled in the calling thread's system call. `None` (the
    /// default) for every other file.
    fn read_waiting<'a>(&'a self, _file: &'a OpenFile, _buf: &'a mut [u8]) -> Option<IoFuture<'a>> {
        None
    }
    /// The write counterpart of [`FileOps::read_waiting`] (a terminal: TOSTOP's
    /// SIGTTOU for a background writer, one writer's data at a time).
    fn write_waiting<'a>(&'a self, _file: &'a OpenFile, _data: &'a [u8]) -> Option<IoFuture<'a>> {
        None
    }
    /// A control request that needs the calling thread or may wait (a terminal's
    /// job control, tcdrain), as a future made in the caller's system call; `None`
    /// (the default) hands the request to [`FileOps::ioctl`].
    fn ioctl_waiting<'a>(
        &'a self,
        _file: &'a OpenFile,
        _cmd: u32,
        _arg: u64,
    ) -> Option<IoctlFuture<'a>> {
        None
    }
    /// Whether every write succeeds whole without its data being looked at
    /// (/dev/null, /dev/zero): the system call layer then checks the buffer's
    /// range, as Linux's access_ok, and copies nothing in.
    fn discards_writes(&self) -> bool {
        false
    }

    /// For the kernel to recognise its own file kinds (a tty, a pipe).
    fn as_any(&self) -> &dyn Any;
}

/// Called as each open file description is released (its last descriptor
/// closed): the kernel drops its flock locks there, as Linux's locks_remove_file.
static CLOSE_HOOK: spin::Once<fn(&OpenFile)> = spin::Once::new();

/// Sets the function run when an open file description is released.
pub fn set_close_hook(hook: fn(&OpenFile)) {
    CLOSE_HOOK.call_once(|| hook);
}

/// Who F_SETOWN named as the owner of an open file (fcntl(2)): the thread,
/// process or process group that O_ASYNC's SIGIO and SIGURG would go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOwner {
    /// F_OWNER_TID: one thread.
    Thread(u32),
    /// F_OWNER_PID (F_SETOWN with a positive id): a process.
    Process(u32),
    /// F_OWNER_PGRP (F_SETOWN with a negative id): a process group.
    Group(u32),
}

impl FileOwner {
    fn encode(o: Option<Self>) -> u64 {
        match o {
            None => 0,
            Some(Self::Thread(id)) => 1 << 32 | u64::from(id),
            Some(Self::Process(id)) => 2 << 32 | u64::from(id),
            Some(Self::Group(id)) => 3 << 32 | u64::from(id),
        }
    }

    fn decode(v: u64) -> Option<Self> {
        let id = v as u32;
        match v >> 32 {
            1 => Some(Self::Thread(id)),
            2 => Some(Self::Process(id)),
            3 => Some(Self::Group(id)),
            _ => None,
        }
    }
}

/// Per-file write access, Linux's i_writecount, keyed by the inode's
/// address (every holder keeps the inode alive, so the key cannot be reused
/// while it counts): above 0, descriptions open for writing; below 0,
/// programs running from it ([`deny_write`]). Either refuses the other with
/// ETXTBSY.
static WRITECOUNT: spin::Mutex<BTreeMap<usize, i64>> = spin::Mutex::new(BTreeMap::new());

fn key(inode: &InodeRef) -> usize {
    Arc::as_ptr(inode) as *const () as usize
}

fn get_write_access(id: usize) -> KResult<()> {
    let mut m = WRITECOUNT.lock();
    let c = m.entry(id).or_insert(0);
    if *c < 0 {
        return Err(Errno::ETXTBSY);
    }
    *c += 1;
    Ok(())
}

fn put_write_access(id: usize) {
    let mut m = WRITECOUNT.lock();
    if let Some(c) = m.get_mut(&id) {
        *c -= 1;
        if *c == 0 {
            m.remove(&id);
        }
    }
}

/// A running program's hold on its file: while it lives, opening the file
/// for writing is ETXTBSY (Linux's deny_write_access for an mm's exe_file).
/// It keeps the inode alive.
pub struct WriteDenial(InodeRef);

impl core::fmt::Debug for WriteDenial {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("WriteDenial")
    }
}

/// Takes a [`WriteDenial`] on `inode`: ETXTBSY while a description has it
/// open for writing.
pub fn deny_write(inode: &InodeRef) -> KResult<WriteDenial> {
    let mut m = WRITECOUNT.lock();
    let c = m.entry(key(inode)).or_insert(0);
    if *c > 0 {
        return Err(Errno::ETXTBSY);
    }
    *c -= 1;
    Ok(WriteDenial(inode.clone()))
}

impl WriteDenial {
    /// Another hold on the same file (a forked process runs it too).
    pub fn again(&self) -> WriteDenial {
        let mut m = WRITECOUNT.lock();
        *m.entry(key(&self.0)).or_insert(0) -= 1;
        WriteDenial(self.0.clone())
    }
}

impl Drop for WriteDenial {
    fn drop(&mut self) {
        let mut m = WRITECOUNT.lock();
        let k = key(&self.0);
        if let Some(c) = m.get_mut(&k) {
            *c += 1;
            if *c == 0 {
                m.remove(&k);
            }
        }
    }
}

/// Whether a program runs from `inode`: writing it is ETXTBSY.
pub fn write_denied(inode: &InodeRef) -> bool {
    WRITECOUNT.lock().get(&key(inode)).is_some_and(|&c| c < 0)
}

/// Whether a description has `inode` open for writing.
pub fn open_for_write(inode: &InodeRef) -> bool {
    WRITECOUNT.lock().get(&key(inode)).is_some_and(|&c| c > 0)
}

/// One open file description.
pub struct OpenFile {
    dentry: Option<DentryRef>,
    inode: Option<InodeRef>,
    ops: Arc<dyn FileOps>,
    flags: AtomicU32,
    pos: spin::Mutex<u64>,
    /// Whether it counts as a writer of its dentry's mount (see [`OpenFile::open`]).
    mount_writer: bool,
    /// It has write access to its regular file (see [`deny_write`]).
    write_access: Option<usize>,
    /// The F_SETOWN owner ([`FileOwner`], encoded; 0 for none): where O_ASYNC's
    /// SIGIO goes.
    owner: AtomicU64,
    /// A watcher sends SIGIO for this file (O_ASYNC with an owner).
    async_armed: AtomicBool,
    /// The signal F_SETSIG chose for readiness (and dnotify) events: 0 for
    /// SIGIO without details, else that signal with si_code, si_band, si_fd.
    io_signal: AtomicU32,
    /// The descriptor through which O_ASYNC was last set (si_fd with F_SETSIG).
    async_fd: AtomicI32,
    /// File-system notification ignores this file (Linux's FMODE_NONOTIFY):
    /// the descriptors fanotify hands its listeners, whose reads and closes
    /// must not become events themselves.
    no_notify: AtomicBool,
    /// The inode's file type (S_IFMT bits; 0 without an inode), which never
    /// changes: read and write ask it on every call, without the inode's lock.
    file_type: u32,
}

/// Where SEEK_DATA (`data`) or SEEK_HOLE from `offset` lands, given what the
/// file system found (`None`: it keeps no holes, so all of the file is data,
/// which lseek(2) allows). The end of the file is a hole; at or past it (or
/// before 0) the answer is ENXIO.
fn hole_seek(found: Option<u64>, size: u64, offset: i64, data: bool) -> KResult<u64> {
    if offset < 0 || offset as u64 >= size {
        return Err(Errno::ENXIO);
    }
    match found {
        Some(at) if at < size => Ok(at),
        Some(_) if data => Err(Errno::ENXIO),
        Some(_) => Ok(size),
        None if data => Ok(offset as u64),
        None => Ok(size),
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if let Some(hook) = CLOSE_HOOK.get() {
            hook(self);
        }
        if self.mount_writer
            && let Some(d) = &self.dentry
        {
            d.mnt().drop_writer();
        }
        if let Some(id) = self.write_access {
            put_write_access(id);
        }
    }
}

impl core::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenFile")
            .field("dentry", &self.dentry)
            .field("flags", &self.flags())
            .finish()
    }
}

impl OpenFile {
    /// A description for `ops`, opened through `dentry` (if it has a name) with the
    /// open(2) `flags` (O_CLOEXEC is a descriptor flag and is dropped here).
    pub fn new(dentry: Option<DentryRef>, ops: Arc<dyn FileOps>, flags: u32) -> Arc<Self> {
        let inode = dentry.as_ref().map(|d| d.inode.clone());
        let file_type = inode.as_ref().map_or(0, |i| i.metadata().file_type());
        Arc::new(Self {
            dentry,
            inode,
            ops,
            flags: AtomicU32::new(flags & !(O_CLOEXEC | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)),
            pos: spin::Mutex::new(0),
            mount_writer: false,
            write_access: None,
            owner: AtomicU64::new(0),
            async_armed: AtomicBool::new(false),
            io_signal: AtomicU32::new(0),
            async_fd: AtomicI32::new(-1),
            no_notify: AtomicBool::new(false),
            file_type,
        })
    }

    /// [`OpenFile::new`] for open(2): a regular file, directory or symlink opened
    /// for writing is a writer of its mount while it is open, and on a read-only
    /// mount that is EROFS (Linux's do_dentry_open; devices, FIFOs and sockets
    /// may be written on a read-only mount).
    pub fn open(dentry: DentryRef, ops: Arc<dyn FileOps>, flags: u32) -> KResult<Arc<Self>> {
        let m = dentry.inode.metadata();
        let writes = flags & O_PATH == 0 && matches!(flags & O_ACCMODE, O_WRONLY | O_RDWR);
        let mount_writer = writes && (m.is_regular() || m.is_dir() || m.is_symlink());
        // A program running from the file: ETXTBSY.
        let write_access = (writes && m.is_regular()).then(|| key(&dentry.inode));
        if let Some(id) = write_access {
            get_write_access(id)?;
        }
        if mount_writer && let Err(e) = dentry.mnt().add_writer() {
            if let Some(id) = write_access {
                put_write_access(id);
            }
            return Err(e);
        }
        let file_type = m.file_type();
        Ok(Arc::new(Self {
            inode: Some(dentry.inode.clone()),
            dentry: Some(dentry),
            ops,
            flags: AtomicU32::new(flags & !(O_CLOEXEC | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)),
            pos: spin::Mutex::new(0),
            mount_writer,
            write_access,
            owner: AtomicU64::new(0),
            async_armed: AtomicBool::new(false),
            io_signal: AtomicU32::new(0),
            async_fd: AtomicI32::new(-1),
            no_notify: AtomicBool::new(false),
            file_type,
        }))
    }

    /// A description for `ops` with an inode but no path (pipes, anonymous files).
    pub fn anonymous(inode: Option<InodeRef>, ops: Arc<dyn FileOps>, flags: u32) -> Arc<Self> {
        let file_type = inode.as_ref().map_or(0, |i| i.metadata().file_type());
        Arc::new(Self {
            dentry: None,
            inode,
            ops,
            flags: AtomicU32::new(flags & !(O_CLOEXEC | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)),
            pos: spin::Mutex::new(0),
            mount_writer: false,
            write_access: None,
            owner: AtomicU64::new(0),
            async_armed: AtomicBool::new(false),
            io_signal: AtomicU32::new(0),
            async_fd: AtomicI32::new(-1),
            no_notify: AtomicBool::new(false),
            file_type,
        })
    }

    /// The name it was opened by.
    #[inline]
    pub fn dentry(&self) -> Option<&DentryRef> {
        self.dentry.as_ref()
    }

    /// The inode's file type (`S_IFMT` bits of its mode), 0 without an inode.
    #[inline]
    pub fn file_type(&self) -> u32 {
        self.file_type
    }

    /// The inode, if it has one.
    pub fn inode(&self) -> Option<&InodeRef> {
        self.inode.as_ref()
    }

    /// The file's behaviour.
    #[inline]
    pub fn ops(&self) -> &Arc<dyn FileOps> {
        &self.ops
    }

    /// Access mode and status flags (what F_GETFL returns).
    #[inline]
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// F_SETFL: changes only O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME, O_NONBLOCK.
    pub fn set_status_flags(&self, new: u32) {
        let old = self.flags();
        self.flags.store(
            (old & !O_SETFL_MASK) | (new & O_SETFL_MASK),
            Ordering::Relaxed,
        );
    }

    /// The owner F_SETOWN or F_SETOWN_EX gave it (shared by dups, as the
    /// description is).
    pub fn owner(&self) -> Option<FileOwner> {
        FileOwner::decode(self.owner.load(Ordering::Relaxed))
    }

    /// F_SETOWN, F_SETOWN_EX: `None` (F_SETOWN 0) clears the owner.
    pub fn set_owner(&self, owner: Option<FileOwner>) {
        self.owner
            .store(FileOwner::encode(owner), Ordering::Relaxed);
    }

    /// F_GETSIG: the signal for I/O events (0: plain SIGIO).
    pub fn io_signal(&self) -> u32 {
        self.io_signal.load(Ordering::Relaxed)
    }

    /// F_SETSIG (the caller checked `sig` is 0 or a signal number).
    pub fn set_io_signal(&self, sig: u32) {
        self.io_signal.store(sig, Ordering::Relaxed);
    }

    /// The descriptor O_ASYNC was set through (-1 if none).
    pub fn async_fd(&self) -> i32 {
        self.async_fd.load(Ordering::Relaxed)
    }

    /// Records the descriptor O_ASYNC is set through (si_fd of its signals).
    pub fn set_async_fd(&self, fd: i32) {
        self.async_fd.store(fd, Ordering::Relaxed);
    }

    /// Marks the file as having an O_ASYNC watcher; false if it had one
    /// already.
    pub fn arm_async(&self) -> bool {
        !self.async_armed.swap(true, Ordering::AcqRel)
    }

    /// The O_ASYNC watcher has gone.
    pub fn disarm_async(&self) {
        self.async_armed.store(false, Ordering::Release);
    }

    /// Makes notification ignore this file ([`OpenFile::no_notify`]).
    pub fn set_no_notify(&self) {
        self.no_notify.store(true, Ordering::Relaxed);
    }

    /// Whether file-system notification ignores this file.
    #[inline]
    pub fn no_notify(&self) -> bool {
        self.no_notify.load(Ordering::Relaxed)
    }

    /// Whether an O_ASYNC watcher is there.
    pub fn async_armed(&self) -> bool {
        self.async_armed.load(Ordering::Acquire)
    }

    /// Whether O_NONBLOCK is set.
    #[inline]
    pub fn nonblocking(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }

    /// Whether the file was opened for reading.
    #[inline]
    pub fn readable(&self) -> bool {
        let f = self.flags();
        f & O_PATH == 0 && f & O_ACCMODE != O_WRONLY
    }

    /// Whether the file was opened for writing.
    #[inline]
    pub fn writable(&self) -> bool {
        let f = self.flags();
        f & O_PATH == 0 && matches!(f & O_ACCMODE, O_WRONLY | O_RDWR)
    }

    /// The inode's metadata (EBADF for a description without one).
    pub fn metadata(&self) -> KResult<Metadata> {
        self.inode
            .as_ref()
            .map(|i| i.metadata())
            .ok_or(Errno::EBADF)
    }

    /// read(2): from the file position.
    #[inline]
    pub fn read(&self, buf: &mut [u8]) -> KResult<usize> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        if self.ops.seekable() {
            let mut pos = self.pos.lock();
            self.ops.read(self, &mut pos, buf)
        } else {
            let mut unused = 0;
            self.ops.read(self, &mut unused, buf)
        }
    }

    /// write(2): at the file position (or the end, with O_APPEND).
    pub fn write(&self, data: &[u8]) -> KResult<usize> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        if self.ops.seekable() {
            let mut pos = self.pos.lock();
            self.ops.write(self, &mut pos, data)
        } else {
            let mut unused = 0;
            self.ops.write(self, &mut unused, data)
        }
    }

    /// pread(2): at `offset`, leaving the file position alone.
    pub fn pread(&self, offset: u64, buf: &mut [u8]) -> KResult<usize> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        if !self.ops.seekable() {
            return Err(Errno::ESPIPE);
        }
        let mut pos = offset;
        self.ops.read(self, &mut pos, buf)
    }

    /// pwrite(2): at `offset` (even with O_APPEND Linux appends; see pwrite(2) BUGS).
    pub fn pwrite(&self, offset: u64, data: &[u8]) -> KResult<usize> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        if !self.ops.seekable() {
            return Err(Errno::ESPIPE);
        }
        let mut pos = offset;
        self.ops.write(self, &mut pos, data)
    }

    /// The read of `buf` at `offset` (or at the file position, which then moves
    /// past what was read) through [`FileOps::read_async`], if the file reads that
    /// way.
    pub fn read_async<'a>(
        &'a self,
        offset: Option<u64>,
        buf: &'a mut [u8],
    ) -> Option<impl Future<Output = KResult<usize>> + Send + 'a> {
        if offset.is_some() && !self.ops.seekable() {
            return None; // pread/pwrite on a stream: ESPIPE from the usual path
        }
        let pos = offset.unwrap_or_else(|| *self.pos.lock());
        let io = self.ops.read_async(pos, buf)?;
        Some(async move {
            let n = io.await?;
            if offset.is_none() && self.ops.seekable() {
                *self.pos.lock() = pos + n as u64;
            }
            Ok(n)
        })
    }

    /// The write counterpart of [`OpenFile::read_async`].
    pub fn write_async<'a>(
        &'a self,
        offset: Option<u64>,
        data: &'a [u8],
    ) -> Option<impl Future<Output = KResult<usize>> + Send + 'a> {
        if offset.is_some() && !self.ops.seekable() {
            return None; // pread/pwrite on a stream: ESPIPE from the usual path
        }
        let pos = match offset {
            Some(p) => p,
            // O_APPEND writes at the end of a regular file.
            None if self.flags() & O_APPEND != 0 && self.ops.seekable() => {
                self.inode.as_ref().map_or(0, |i| i.metadata().size)
            }
            None => *self.pos.lock(),
        };
        let io = self.ops.write_async(pos, data)?;
        Some(async move {
            let n = io.await?;
            if offset.is_none() && self.ops.seekable() {
                *self.pos.lock() = pos + n as u64;
            }
            Ok(n)
        })
    }

    /// The file position (what SEEK_CUR is relative to).
    pub fn position(&self) -> u64 {
        *self.pos.lock()
    }

    /// lseek(2).
    pub fn seek(&self, offset: i64, whence: u32) -> KResult<u64> {
        if let Some(r) = self.ops.llseek(self, offset, whence) {
            return r;
        }
        if !self.ops.seekable() {
            return if self.ops.seek_is_noop() {
                Ok(*self.pos.lock())
            } else {
                Err(Errno::ESPIPE)
            };
        }
        let mut pos = self.pos.lock();
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => *pos as i64,
            SEEK_END => match self.ops.size() {
                Some(size) => size as i64,
                None => self.metadata()?.size as i64,
            },
            SEEK_DATA | SEEK_HOLE => {
                let size = self.metadata()?.size;
                let data = whence == SEEK_DATA;
                let found = match self.inode.as_ref() {
                    Some(i) if offset >= 0 && (offset as u64) < size => {
                        i.seek_data(offset as u64, data)
                    }
                    _ => None,
                };
                *pos = hole_seek(found, size, offset, data)?;
                return Ok(*pos);
            }
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).ok_or(Errno::EOVERFLOW)?;
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        *pos = new as u64;
        Ok(*pos)
    }

    /// lseek(2), with SEEK_DATA and SEEK_HOLE asked of the file system's
    /// [`Inode::seek_data_async`] (ext2 reads its block map).
    ///
    /// [`Inode::seek_data_async`]: crate::inode::Inode::seek_data_async
    pub async fn seek_async(&self, offset: i64, whence: u32) -> KResult<u64> {
        if !(whence == SEEK_DATA || whence == SEEK_HOLE) || !self.ops.seekable() {
            return self.seek(offset, whence);
        }
        let size = self.metadata()?.size;
        let data = whence == SEEK_DATA;
        let found = match self.inode.as_ref() {
            Some(i) if offset >= 0 && (offset as u64) < size => {
                i.seek_data_async(offset as u64, data).await
            }
            _ => None,
        };
        let to = hole_seek(found, size, offset, data)?;
        *self.pos.lock() = to;
        Ok(to)
    }

    /// The directory getdents and getdents64 list: ENOTDIR for anything else,
    /// EBADF through O_PATH, and ENOENT for one removed while open (it lists
    /// nothing: Linux's iterate_dir on a dead directory).
    pub fn listable_dir(&self) -> KResult<&InodeRef> {
        let inode = self.inode.as_ref().ok_or(Errno::ENOTDIR)?;
        let m = inode.metadata();
        if !m.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if self.flags() & O_PATH != 0 {
            return Err(Errno::EBADF);
        }
        if m.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        Ok(inode)
    }

    /// getdents64(2) into `out`; returns the bytes used (0 at the end). The
    /// directory is read through [`Inode::readdir_async`] (the position lock is
    /// not held across the wait: two listings of one description at once may
    /// repeat entries, never lose the position's consistency).
    ///
    /// [`Inode::readdir_async`]: crate::inode::Inode::readdir_async
    pub async fn getdents64(&self, out: &mut [u8]) -> KResult<usize> {
        let inode = self.listable_dir()?;
        let start = *self.pos.lock();
        let (mut used, mut full, mut pos) = (0, false, start);
        inode
            .readdir_async(start, &mut |e| match push_dirent64(
                out,
                used,
                e.ino,
                e.next as i64,
                e.dtype,
                &e.name,
            ) {
                Some(n) => {
                    used += n;
                    pos = e.next;
                    true
                }
                None => {
                    full = true;
                    false
                }
            })
            .await?;
        if used == 0 && full {
            return Err(Errno::EINVAL); // the buffer cannot hold even one entry
        }
        *self.pos.lock() = pos;
        self.accessed();
        Ok(used)
    }

    /// Linux's file_accessed, after a read of the file or a listing of the
    /// directory: the access time becomes now as the mount's atime mode says:
    /// never (`noatime`; `nodiratime` for directories; a read-only mount; a file
    /// opened O_NOATIME), always (`strictatime`), or by default (`relatime`) only
    /// when it is not after the last modification or change, or is a day old, so
    /// that most reads write nothing while "read since last written" stays true.
    pub fn accessed(&self) {
        if self.flags() & O_NOATIME != 0 {
            return;
        }
        let Some(inode) = &self.inode else {
            return;
        };
        let mnt = self.dentry.as_ref().map_or(0, |d| d.mnt().get());
        if mnt & (MS_NOATIME | MS_RDONLY) != 0 {
            return;
        }
        let m = inode.metadata();
        if m.is_dir() && mnt & MS_NODIRATIME != 0 {
            return;
        }
        let now = crate::now();
        let key = |t: Timespec| (t.tv_sec, t.tv_nsec);
        let (atime, now_key) = (key(m.atime), key(now));
        if atime == now_key {
            return;
        }
        let relatime_skips = atime > key(m.mtime)
            && atime > key(m.ctime)
            && now.tv_sec.saturating_sub(m.atime.tv_sec) < 24 * 60 * 60;
        if mnt & MS_STRICTATIME == 0 && relatime_skips {
            return;
        }
        inode.touch_atime(now);
    }

    /// The current readiness.
    pub fn poll(&self) -> u16 {
        self.ops.poll()
    }
}

/// A regular file's behaviour: content through the inode.
pub struct RegularFile;

impl FileOps for RegularFile {
    fn read(&self, file: &OpenFile, pos: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let inode = file.inode().ok_or(Errno::EBADF)?;
        let n = inode.read_at(*pos, buf)?;
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, file: &OpenFile, pos: &mut u64, data: &[u8]) -> KResult<usize> {
        let inode = file.inode().ok_or(Errno::EBADF)?;
        if file.flags() & O_APPEND != 0 {
            *pos = inode.metadata().size;
        }
        let n = inode.write_at(*pos, data)?;
        *pos += n as u64;
        Ok(n)
    }

    fn seekable(&self) -> bool {
        true
    }

    fn ioctl(&self, file: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        if cmd == kestrel_abi::tty::FIONREAD {
            let size = file.metadata()?.size;
            let pos = *file.pos.lock();
            let n = size.saturating_sub(pos).min(i32::MAX as u64) as i32;
            UserPtr::new(arg).write(mem, &n)?;
            return Ok(0);
        }
        file.inode().ok_or(Errno::ENOTTY)?.ioctl(cmd, arg, mem)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A directory's behaviour: no read or write (EISDIR); listing is getdents64.
pub struct Directory;

impl FileOps for Directory {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EISDIR)
    }
    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EISDIR)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What an O_PATH descriptor (or a symlink opened with O_PATH|O_NOFOLLOW) does:
/// nothing but name a file.
pub struct PathOnly;

impl FileOps for PathOnly {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EBADF)
    }
    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EBADF)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inode::NodeKind;
    use crate::path::Dentry;
    use crate::ramfs::RamFs;
    use crate::tests::Now;

    fn file(flags: u32) -> Arc<OpenFile> {
        let root = Dentry::root(RamFs::new_root(1));
        let inode = root
            .inode
            .create(b"f", NodeKind::File, 0o644, 0, 0)
            .unwrap();
        OpenFile::new(
            Some(Dentry::child(&root, b"f", inode)),
            Arc::new(RegularFile),
            flags,
        )
    }

    #[test]
    fn the_owner_is_kept_for_each_kind_and_cleared() {
        let f = file(O_RDWR);
        assert_eq!(f.owner(), None);
        for o in [
            FileOwner::Thread(7),
            FileOwner::Process(u32::MAX >> 1),
            FileOwner::Group(1),
        ] {
            f.set_owner(Some(o));
            assert_eq!(f.owner(), Some(o));
        }
        f.set_owner(None);
        assert_eq!(f.owner(), None);
    }

    #[test]
    fn read_and_write_advance_the_shared_position() {
        let f = file(O_RDWR);
        assert_eq!(f.write(b"hello world").unwrap(), 11);
        assert_eq!(f.seek(0, SEEK_SET).unwrap(), 0);
        let mut buf = [0u8; 5];
        assert_eq!(f.read(&mut buf).unwrap(), 5);
        assert_eq!(&buf, b"hello");
        assert_eq!(f.seek(0, SEEK_CUR).unwrap(), 5);
        assert_eq!(f.seek(-5, SEEK_END).unwrap(), 6);
        assert_eq!(f.seek(-7, SEEK_CUR).err(), Some(Errno::EINVAL));
        assert_eq!(f.seek(0, 99).err(), Some(Errno::EINVAL));
    }

    #[test]
    fn seek_data_and_hole_find_the_pages_written() {
        let f = file(O_RDWR);
        // Data in page 1 and page 3 of a 5-page file; the rest are holes.
        f.pwrite(4096, b"a").unwrap();
        f.pwrite(3 * 4096 + 10, b"b").unwrap();
        f.dentry().unwrap().inode.truncate(5 * 4096).unwrap();
        assert_eq!(f.seek(0, SEEK_DATA).unwrap(), 4096);
        assert_eq!(f.seek(0, SEEK_HOLE).unwrap(), 0);
        assert_eq!(f.seek(4096 + 5, SEEK_HOLE).unwrap(), 2 * 4096);
        assert_eq!(f.seek(2 * 4096, SEEK_DATA).unwrap(), 3 * 4096);
        assert_eq!(f.seek(3 * 4096 + 1, SEEK_DATA).unwrap(), 3 * 4096 + 1);
        assert_eq!(f.seek(4 * 4096, SEEK_DATA), Err(Errno::ENXIO));
        assert_eq!(f.seek(4 * 4096, SEEK_HOLE).unwrap(), 4 * 4096);
        assert_eq!(f.seek(5 * 4096, SEEK_HOLE).err(), Some(Errno::ENXIO));
    }

    #[test]
    fn pread_does_not_move_the_position_and_append_writes_at_the_end() {
        let f = file(O_RDWR | O_APPEND);
        f.write(b"abc").unwrap();
        f.seek(0, SEEK_SET).unwrap();
        f.write(b"def").unwrap();
        let mut buf = [0u8; 6];
        assert_eq!(f.pread(0, &mut buf).unwrap(), 6);
        assert_eq!(&buf, b"abcdef");
        assert_eq!(f.seek(0, SEEK_CUR).unwrap(), 6);
    }

    #[test]
    fn access_mode_is_enforced_with_ebadf() {
        let r = file(O_RDONLY);
        assert_eq!(r.write(b"x").err(), Some(Errno::EBADF));
        let w = file(O_WRONLY);
        assert_eq!(w.read(&mut [0u8; 1]).err(), Some(Errno::EBADF));
        let p = file(O_PATH);
        assert_eq!(p.read(&mut [0u8; 1]).err(), Some(Errno::EBADF));
    }

    #[test]
    fn setfl_changes_only_status_flags() {
        let f = file(O_RDONLY);
        f.set_status_flags(O_NONBLOCK | O_WRONLY | O_APPEND);
        assert_eq!(f.flags() & O_ACCMODE, O_RDONLY);
        assert!(f.nonblocking());
        assert_ne!(f.flags() & O_APPEND, 0);
    }

    #[test]
    fn getdents_lists_in_records_and_resumes() {
        let root = Dentry::root(RamFs::new_root(1));
        for n in [&b"x"[..], b"yy", b"zzz"] {
            root.inode.create(n, NodeKind::File, 0o644, 0, 0).unwrap();
        }
        let d = OpenFile::new(
            Some(root.clone()),
            Arc::new(Directory),
            O_RDONLY | O_DIRECTORY,
        );
        let mut small = [0u8; 10];
        assert_eq!(d.getdents64(&mut small).now().err(), Some(Errno::EINVAL));
        let mut buf = [0u8; 48];
        let n = d.getdents64(&mut buf).now().unwrap();
        assert_eq!(n, 48, "two 24-byte records (\".\" and \"..\")");
        let mut rest = [0u8; 512];
        let n = d.getdents64(&mut rest).now().unwrap();
        assert_eq!(n, 3 * 24);
        assert_eq!(d.getdents64(&mut rest).now().unwrap(), 0);
        assert_eq!(d.read(&mut rest).err(), Some(Errno::EISDIR));
    }
}
