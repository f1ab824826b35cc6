//! userfaultfd(2) and /dev/userfaultfd: page faults handed to a thread of the
//! program (Documentation/admin-guide/mm/userfaultfd.rst).
//!
//! The file is the handler's end: UFFDIO_API (the handshake), UFFDIO_REGISTER
//! and UNREGISTER of ranges, read(2) of `struct uffd_msg` fault messages (poll
//! and epoll readiness), and the ioctls that resolve faults: COPY, ZEROPAGE,
//! WAKE, WRITEPROTECT, MOVE, POISON, CONTINUE. The faults themselves, the
//! waiting threads and the page operations are the memory manager's
//! ([`crate::mm::vm::UffdCtx`]). Closing the last descriptor unregisters every
//! range and lets the waiting threads fault normally.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, Ordering};

use kestrel_abi::fs::{O_CLOEXEC, O_NONBLOCK, O_RDONLY, POLLERR, POLLIN, POLLRDNORM};
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::file::IoFuture;
use kestrel_vfs::{FileOps, OpenFile, UserPtr, UserSpace};

use crate::mm::vm::{self, AddressSpace, UffdCtx, uffd};

/// vm.unprivileged_userfaultfd: 1 lets a caller without CAP_SYS_PTRACE make a
/// userfaultfd that handles kernel faults too (default 0: only
/// UFFD_USER_MODE_ONLY).
pub static UNPRIVILEGED: AtomicU32 = AtomicU32::new(0);

/// userfaultfd(2)'s own flag: handle user-mode faults only.
pub const UFFD_USER_MODE_ONLY: u32 = 1;
/// /dev/userfaultfd's one request.
pub const USERFAULTFD_IOC_NEW: u32 = 0xaa00;
/// /dev/userfaultfd's device number (a misc device; Linux's minor is dynamic).
pub const DEV_MINOR: u32 = 257;

const UFFD_API: u64 = 0xaa;
const UFFDIO_API: u32 = 0xc018_aa3f;
const UFFDIO_REGISTER: u32 = 0xc020_aa00;
const UFFDIO_UNREGISTER: u32 = 0x8010_aa01;
const UFFDIO_WAKE: u32 = 0x8010_aa02;
const UFFDIO_COPY: u32 = 0xc028_aa03;
const UFFDIO_ZEROPAGE: u32 = 0xc020_aa04;
const UFFDIO_MOVE: u32 = 0xc028_aa05;
const UFFDIO_WRITEPROTECT: u32 = 0xc018_aa06;
const UFFDIO_CONTINUE: u32 = 0xc020_aa07;
const UFFDIO_POISON: u32 = 0xc020_aa08;

/// The ioctls a registered range takes (bit = the request's number).
const RANGE_IOCTLS: u64 =
    (1 << 0x02) | (1 << 0x03) | (1 << 0x04) | (1 << 0x05) | (1 << 0x06) | (1 << 0x07) | (1 << 0x08);
const CONTINUE_BIT: u64 = 1 << 0x07;
/// The ioctls of the file itself (REGISTER, UNREGISTER, API).
const API_IOCTLS: u64 = (1 << 0x00) | (1 << 0x01) | (1 << 0x3f);

/// The features offered: PAGEFAULT_FLAG_WP, the events (FORK, REMAP, REMOVE,
/// UNMAP), MISSING_SHMEM, SIGBUS, THREAD_ID, MINOR_SHMEM, POISON, MOVE. No
/// hugetlbfs, no EXACT_ADDRESS, WP_UNPOPULATED or WP_ASYNC.
const FEATURES: u64 = (1 << 0)
    | uffd::FEATURE_EVENT_FORK
    | uffd::FEATURE_EVENT_REMAP
    | uffd::FEATURE_EVENT_REMOVE
    | uffd::FEATURE_EVENT_UNMAP
    | (1 << 5)
    | (1 << 7)
    | (1 << 8)
    | (1 << 10)
    | (1 << 14)
    | (1 << 16);

const MODE_DONTWAKE: u64 = 1 << 0;
/// COPY's and CONTINUE's WP; WRITEPROTECT's WP is bit 0 and DONTWAKE bit 1.
const MODE_WP: u64 = 1 << 1;
const MOVE_ALLOW_SRC_HOLES: u64 = 1 << 1;

const PAGE: u64 = crate::mm::PAGE_SIZE as u64;

/// Linux's validate_range: a page-aligned, non-empty range of whole pages
/// between vm.mmap_min_addr and the end of user space (EINVAL otherwise).
fn validate_range(start: u64, len: u64) -> KResult<()> {
    if !start.is_multiple_of(PAGE)
        || !len.is_multiple_of(PAGE)
        || len == 0
        || !(vm::MMAP_MIN..vm::USER_END).contains(&start)
        || len > vm::USER_END - start
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A userfaultfd's open file. Dropped with the last descriptor: the context
/// is released then.
pub struct UffdFile {
    ctx: Arc<UffdCtx>,
    /// Its open file description (for poll, which answers by O_NONBLOCK).
    file: spin::Once<Weak<OpenFile>>,
}

impl Drop for UffdFile {
    fn drop(&mut self) {
        self.ctx.release();
    }
}

/// Makes a userfaultfd in the calling process (userfaultfd(2) after its
/// permission check, and USERFAULTFD_IOC_NEW): EINVAL for unknown flags.
fn new_userfaultfd(flags: u32) -> KResult<u64> {
    if flags & !(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY) != 0 {
        return Err(Errno::EINVAL);
    }
    let t = crate::process::current_thread().ok_or(Errno::EINVAL)?;
    let mm = t.process.mm();
    install(&t, UffdCtx::new(&mm, flags)).map(|fd| fd as u64)
}

/// A descriptor of `t`'s process for a new userfaultfd file on `ctx` (the flags
/// its context was made with).
fn install(t: &crate::process::Thread, ctx: Arc<UffdCtx>) -> KResult<i32> {
    let flags = ctx.flags;
    let ops = Arc::new(UffdFile {
        ctx,
        file: spin::Once::new(),
    });
    let file = crate::fs::anon::anon_file(ops.clone(), O_RDONLY | (flags & O_NONBLOCK));
    ops.file.call_once(|| Arc::downgrade(&file));
    let limit = t.process.nofile();
    t.process
        .files()
        .lock()
        .insert(file, flags & O_CLOEXEC != 0, 0, limit)
}

/// userfaultfd(2): without CAP_SYS_PTRACE (or vm.unprivileged_userfaultfd)
/// only a userfaultfd for user-mode faults may be made (EPERM).
pub fn userfaultfd(flags: u32, privileged: bool) -> KResult<u64> {
    if flags & UFFD_USER_MODE_ONLY == 0 && !privileged && UNPRIVILEGED.load(Ordering::Relaxed) == 0
    {
        return Err(Errno::EPERM);
    }
    new_userfaultfd(flags)
}

fn read_args<const N: usize>(mem: &dyn UserSpace, arg: u64) -> KResult<[u64; N]> {
    UserPtr::<[u64; N]>::new(arg).read(mem)
}

fn write_result(mem: &dyn UserSpace, at: u64, v: i64) -> KResult<()> {
    UserPtr::<i64>::new(at).write(mem, &v)
}

impl UffdFile {
    fn api(&self, mem: &dyn UserSpace, arg: u64) -> KResult<u64> {
        let [api, features, _] = read_args::<3>(mem, arg)?;
        let fail = |e: Errno| -> KResult<u64> {
            UserPtr::<[u64; 3]>::new(arg).write(mem, &[0; 3])?;
            Err(e)
        };
        if api != UFFD_API || features & !FEATURES != 0 {
            return fail(Errno::EINVAL);
        }
        if features & uffd::FEATURE_EVENT_FORK != 0 && !capable_ptrace() {
            return fail(Errno::EPERM);
        }
        UserPtr::<[u64; 3]>::new(arg).write(mem, &[UFFD_API, FEATURES, API_IOCTLS])?;
        if !self.ctx.set_features(features) {
            return fail(Errno::EINVAL);
        }
        Ok(0)
    }

    fn register(&self, mem: &dyn UserSpace, arg: u64) -> KResult<u64> {
        let [start, len, mode] = read_args::<3>(mem, arg)?;
        if mode == 0 || mode & !(uffd::MODE_MISSING | uffd::MODE_WP | uffd::MODE_MINOR) != 0 {
            return Err(Errno::EINVAL);
        }
        validate_range(start, len)?;
        let mm = self.ctx.mm().map_err(|_| Errno::ENOMEM)?;
        mm.uffd_register(&self.ctx, start, start + len, mode)?;
        let mut ioctls = RANGE_IOCTLS;
        if mode & uffd::MODE_MINOR == 0 {
            ioctls &= !CONTINUE_BIT;
        }
        UserPtr::<u64>::new(arg + 24).write(mem, &ioctls)?;
        Ok(0)
    }

    fn unregister(&self, mem: &dyn UserSpace, arg: u64) -> KResult<u64> {
        let [start, len] = read_args::<2>(mem, arg)?;
        validate_range(start, len)?;
        let mm = self.ctx.mm().map_err(|_| Errno::ENOMEM)?;
        for ctx in mm.uffd_unregister(start, start + len)? {
            ctx.wake_range(start, len);
        }
        Ok(0)
    }

    fn wake(&self, mem: &dyn UserSpace, arg: u64) -> KResult<u64> {
        let [start, len] = read_args::<2>(mem, arg)?;
        validate_range(start, len)?;
        self.ctx.wake_range(start, len);
        Ok(0)
    }

    /// A fill loop's end, as Linux's: the bytes done (or, if none, the error
    /// that stopped it, negated) written back at `result_at`; the waiters on
    /// the pages done woken unless DONTWAKE; 0 if all of `len` was done, else
    /// EAGAIN (or that error when nothing was).
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        mem: &dyn UserSpace,
        result_at: u64,
        start: u64,
        len: u64,
        (done, err): (u64, Option<Errno>),
        dontwake: bool,
    ) -> KResult<u64> {
        if let Some(e) = err
            && done == 0
        {
            write_result(mem, result_at, -(e as i32 as i64))?;
            return Err(e);
        }
        write_result(mem, result_at, done as i64)?;
        if !dontwake {
            self.ctx.wake_range(start, done);
        }
        if done == len {
            Ok(0)
        } else {
            Err(Errno::EAGAIN)
        }
    }

    fn copy(&self, mem: &dyn UserSpace, arg: u64) -> KResult<u64> {
        let [dst, src, len, mode] = read_args::<4>(mem, arg)?;
        validate_range(dst, len)?;
        if src.checked_add(len).is_none_or(|e| e > vm::USER_END) {
            return Err(Errno::EINVAL);
        }
        if mode & !(MODE_DONTWAKE | MODE_WP) != 0 {
            return Err(Errno::EINVAL);
        }
        let wp = mode & MODE_WP != 0;
        let mm = self.ctx.mm()?;
        let r = match mm.uffd_fill_check(dst, len, wp, false) {
            Err(e) => (0, Some(e)),
            Ok(()) => {
                let mut buf = vec![0u8; crate::mm::PAGE_SIZE];
                let mut done = 0;
                let mut err = None;
                while done < len {
                    if killed() {
                        err = Some(Errno::EINTR);
                        break;
                    }
                    let read = kestrel_usermem::UserReader::new(mem, src + done, buf.len())
                        .map(|mut r| r.read(&mut buf));
                    if read != Ok(buf.len()) {
                        err = Some(Errno::EFAULT);
                        break;
                    }
                    if let Err(e) = mm.uffd_fill(dst + done, uffd::Fill::Copy(&buf, wp)) {
                        err = Some(e);
                        break;
                    }
                    done += PAGE;
                }
                (done, err)
            }
        };
        self.finish(mem, arg + 32, dst, len, r, mode & MODE_DONTWAKE != 0)
    }

    /// ZEROPAGE, POISON and CONTINUE: a range, a mode, and the count after.
    fn fill_range(&self, mem: &dyn UserSpace, arg: u64, cmd: u32) -> KResult<u64> {
        let [start, len, mode] = read_args::<3>(mem, arg)?;
        validate_range(start, len)?;
        let allowed = if cmd == UFFDIO_CONTINUE {
            MODE_DONTWAKE | MODE_WP
        } else {
            MODE_DONTWAKE
        };
        if mode & !allowed != 0 {
            return Err(Errno::EINVAL);
        }
        let wp = cmd == UFFDIO_CONTINUE && mode & MODE_WP != 0;
        let mm = self.ctx.mm()?;
        let r = match mm.uffd_fill_check(start, len, wp, cmd == UFFDIO_CONTINUE) {
            Err(e) => (0, Some(e)),
            Ok(()) => {
                let mut done = 0;
                let mut err = None;
                while done < len {
                    if killed() {
                        err = Some(Errno::EINTR);
                        break;
                    }
                    let fill = match cmd {
                        UFFDIO_ZEROPAGE => uffd::Fill::Zero,
                        UFFDIO_POISON => uffd::Fill::Poison,
                        _ => uffd::Fill::Continue(wp),
                    };
                    if let Err(e) = mm.uffd_fill(start + done, fill) {
                        err = Some(e);
                        break;
                    }
                    done += PAGE;
                }
                (done, err)
            }
        };
        self.finish(mem, arg + 24, start, len, r, mode & MODE_DONTWAKE != 0)
    }

    fn writeprotect(&self, mem: &dyn UserSpace, arg: u64) -> KResult<u64> {
        let [start, len, mode] = read_args::<3>(mem, arg)?;
        validate_range(start, len)?;
        // UFFDIO_WRITEPROTECT_MODE_WP is bit 0, DONTWAKE bit 1.
        let (wp, dontwake) = (mode & 1 != 0, mode & 2 != 0);
        if mode & !3 != 0 || (wp && dontwake) {
            return Err(Errno::EINVAL);
        }
        self.ctx.mm()?.uffd_writeprotect(start, start + len, wp)?;
        if !wp && !dontwake {
            self.ctx.wake_range(start, len);
        }
        Ok(0)
    }

    fn move_pages(&self, mem: &dyn UserSpace, arg: u64) -> KResult<u64> {
        let [dst, src, len, mode] = read_args::<4>(mem, arg)?;
        let mm = self.ctx.mm()?;
        // No moves across address spaces.
        let own = crate::process::current_thread().map(|t| t.process.mm());
        if !own.is_some_and(|m| Arc::ptr_eq(&m, &mm)) {
            return Err(Errno::EINVAL);
        }
        validate_range(dst, len)?;
        validate_range(src, len)?;
        if mode & !(MODE_DONTWAKE | MOVE_ALLOW_SRC_HOLES) != 0 {
            return Err(Errno::EINVAL);
        }
        let r = if src < dst + len && dst < src + len {
            (0, Some(Errno::EINVAL))
        } else {
            mm.uffd_move(&self.ctx, dst, src, len, mode & MOVE_ALLOW_SRC_HOLES != 0)
        };
        self.finish(mem, arg + 32, dst, len, r, mode & MODE_DONTWAKE != 0)
    }
}

/// Whether the caller has CAP_SYS_PTRACE (UFFD_FEATURE_EVENT_FORK needs it).
fn capable_ptrace() -> bool {
    crate::process::current_thread().is_some_and(|t| {
        t.process
            .cred
            .lock()
            .capable(kestrel_abi::cap::CAP_SYS_PTRACE)
    })
}

// ---- non-cooperative events -------------------------------------------------

/// The userfaultfds with `feature` registered in `[start, start + len)` of
/// `mm` (none for a range that is not a valid one: the call fails anyway).
fn watchers(mm: &AddressSpace, start: u64, len: u64, feature: u64) -> Vec<Arc<UffdCtx>> {
    match len
        .checked_add(PAGE - 1)
        .and_then(|l| start.checked_add(l & !(PAGE - 1)))
    {
        Some(end) if len > 0 => mm.uffd_watchers(start, end, feature),
        _ => Vec::new(),
    }
}

/// munmap of `[start, start + len)`: the userfaultfds with UFFD_FEATURE_EVENT_UNMAP
/// registered there (before the unmap; [`send_unmap`] after it).
pub fn unmap_watchers(mm: &AddressSpace, start: u64, len: u64) -> Vec<Arc<UffdCtx>> {
    watchers(mm, start, len, uffd::FEATURE_EVENT_UNMAP)
}

/// UFFD_EVENT_UNMAP (start, end) to each of `to`; waits until each is read.
pub async fn send_unmap(to: Vec<Arc<UffdCtx>>, start: u64, len: u64) {
    let end = len
        .checked_next_multiple_of(PAGE)
        .map_or(u64::MAX, |l| start.saturating_add(l));
    for c in to {
        c.notify(UffdCtx::message(uffd::EVENT_UNMAP, &[start, end]), None)
            .await;
    }
}

/// madvise(MADV_DONTNEED, MADV_FREE) of `[start, start + len)`: UFFD_EVENT_REMOVE
/// (start, end) to the userfaultfds with UFFD_FEATURE_EVENT_REMOVE registered
/// there, before the pages go (as Linux's userfaultfd_remove); waits until read.
pub async fn send_remove(mm: &AddressSpace, start: u64, len: u64) {
    // Before madvise checked the range: any length may come here.
    let Some(end) = len
        .checked_next_multiple_of(PAGE)
        .and_then(|l| start.checked_add(l))
    else {
        return;
    };
    for c in watchers(mm, start, len, uffd::FEATURE_EVENT_REMOVE) {
        c.notify(UffdCtx::message(uffd::EVENT_REMOVE, &[start, end]), None)
            .await;
    }
}

/// The events an mremap sends, found before it runs ([`RemapEvents::new`])
/// and sent after it succeeded ([`RemapEvents::send`]), in Linux's order:
/// REMAP (from, to, len) when the area moved, UNMAP of what MREMAP_FIXED
/// replaced, UNMAP of the old range (moved without MREMAP_DONTUNMAP) or of
/// the tail a shrink cut off.
pub struct RemapEvents {
    remap: Vec<Arc<UffdCtx>>,
    target: Option<(Vec<Arc<UffdCtx>>, u64, u64)>,
    old: Vec<Arc<UffdCtx>>,
    tail: Vec<Arc<UffdCtx>>,
    from: u64,
    old_len: u64,
    new_len: u64,
    dont_unmap: bool,
}

impl RemapEvents {
    pub fn new(
        mm: &AddressSpace,
        from: u64,
        old_len: u64,
        new_len: u64,
        fixed: Option<u64>,
        dont_unmap: bool,
    ) -> Self {
        let (old_len, new_len) = (
            old_len.saturating_add(PAGE - 1) & !(PAGE - 1),
            new_len.saturating_add(PAGE - 1) & !(PAGE - 1),
        );
        Self {
            remap: watchers(mm, from, old_len, uffd::FEATURE_EVENT_REMAP),
            target: fixed.map(|to| (unmap_watchers(mm, to, new_len), to, new_len)),
            old: unmap_watchers(mm, from, old_len),
            tail: if new_len < old_len {
                unmap_watchers(mm, from.saturating_add(new_len), old_len - new_len)
            } else {
                Vec::new()
            },
            from,
            old_len,
            new_len,
            dont_unmap,
        }
    }

    /// Sends the events of an mremap that put the area at `to`; waits until
    /// each is read.
    pub async fn send(self, to: u64) {
        let moved = to != self.from;
        if moved {
            let msg = UffdCtx::message(uffd::EVENT_REMAP, &[self.from, to, self.old_len]);
            for c in &self.remap {
                c.notify(msg, None).await;
            }
        }
        if let Some((w, at, len)) = self.target {
            send_unmap(w, at, len).await;
        }
        if moved && !self.dont_unmap {
            send_unmap(self.old, self.from, self.old_len).await;
        } else if !moved && self.new_len < self.old_len {
            send_unmap(
                self.tail,
                self.from + self.new_len,
                self.old_len - self.new_len,
            )
            .await;
        }
    }
}

/// After fork made `child`: UFFD_EVENT_FORK to each userfaultfd with
/// UFFD_FEATURE_EVENT_FORK whose areas the child inherited; its reader gets
/// a new userfaultfd for the child's areas. Waits until each is read.
pub async fn send_fork(child: &Arc<AddressSpace>) {
    for (parent, kid) in vm::uffd::take_forked(child) {
        parent
            .notify(UffdCtx::message(uffd::EVENT_FORK, &[]), Some(kid))
            .await;
    }
}

/// Whether the calling thread is being killed (a long fill stops: EINTR).
fn killed() -> bool {
    crate::process::current_thread().is_some_and(|t| t.killed())
}

impl FileOps for UffdFile {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        if !self.ctx.initialized() || buf.len() < uffd::MSG_SIZE {
            return Err(Errno::EINVAL);
        }
        let t = crate::process::current_thread();
        let mut failed = None;
        let mut put = |child: Arc<UffdCtx>| {
            let r = t
                .as_ref()
                .ok_or(Errno::EINVAL)
                .and_then(|t| install(t, child));
            r.map_err(|e| failed = Some(e)).ok().map(|fd| fd as u32)
        };
        match self.ctx.read_messages(buf, &mut put) {
            0 => Err(failed.unwrap_or(Errno::EAGAIN)),
            n => Ok(n),
        }
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        if !self.ctx.initialized() {
            return POLLERR;
        }
        // As Linux: poll never promises a read of a blocking userfaultfd will
        // not block (a fault may be woken before it is read), so it says POLLERR.
        let blocking = self
            .file
            .get()
            .and_then(Weak::upgrade)
            .is_some_and(|f| !f.nonblocking());
        if blocking {
            return POLLERR;
        }
        if self.ctx.readable() {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.ctx.readers)
    }

    /// A blocking read waits for a message itself (poll answers POLLERR for a
    /// blocking userfaultfd, so the usual wait for POLLIN would not do); a
    /// signal ends the wait (ERESTARTSYS).
    fn read_waiting<'a>(&'a self, file: &'a OpenFile, buf: &'a mut [u8]) -> Option<IoFuture<'a>> {
        Some(Box::pin(async move {
            loop {
                match self.read(file, &mut 0, buf) {
                    Err(Errno::EAGAIN) if !file.nonblocking() => {
                        let t = crate::process::current_thread().ok_or(Errno::EINTR)?;
                        let ctx = &self.ctx;
                        crate::process::signal::interruptible(&t, Errno::ERESTARTSYS, async {
                            ctx.readers
                                .wait_until(|| ctx.readable().then_some(()))
                                .await;
                            Ok(())
                        })
                        .await?;
                    }
                    r => return r,
                }
            }
        }))
    }

    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
        if cmd != UFFDIO_API && !self.ctx.initialized() {
            return Err(Errno::EINVAL);
        }
        match cmd {
            UFFDIO_API => self.api(mem, arg),
            UFFDIO_REGISTER => self.register(mem, arg),
            UFFDIO_UNREGISTER => self.unregister(mem, arg),
            UFFDIO_WAKE => self.wake(mem, arg),
            UFFDIO_COPY => self.copy(mem, arg),
            UFFDIO_ZEROPAGE | UFFDIO_POISON | UFFDIO_CONTINUE => self.fill_range(mem, arg, cmd),
            UFFDIO_WRITEPROTECT => self.writeprotect(mem, arg),
            UFFDIO_MOVE => self.move_pages(mem, arg),
            _ => Err(Errno::EINVAL),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// /dev/userfaultfd (10:257): USERFAULTFD_IOC_NEW makes a userfaultfd, with no
/// sysctl check (the node's permissions decide who may).
pub struct Device;

impl FileOps for Device {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }

    fn ioctl(&self, _: &OpenFile, cmd: u32, arg: u64, _: &dyn UserSpace) -> KResult<u64> {
        match cmd {
            USERFAULTFD_IOC_NEW => new_userfaultfd(arg as u32),
            _ => Err(Errno::EINVAL),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
