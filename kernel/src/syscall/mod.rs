//! System calls.
//!
//! [`table`] is the single list of implemented calls: each line names the Linux
//! call and its handler, and says when support is partial. A macro turns it into the
//! dispatcher (a `match` whose arms `.await` the handlers); `cargo xtask syscalls`
//! reads the same lines to write docs/syscalls.md. A number not in the table
//! returns ENOSYS and is logged once with its name.
//!
//! Handlers are `async fn(&mut Ctx, Args) -> KResult<u64>`, one file per family.
//! Blocking is `.await` on a wait queue ([`wait_for`]); the thread loop races each
//! call against the thread being killed, so a killed thread's call is dropped
//! wherever it waits.

pub(crate) mod acct;
mod aio;
mod args;
pub mod bpf;
mod cachestat;
pub mod coredump;
mod cred;
mod epoll;
mod fd;
pub(crate) mod fs;
pub(crate) mod fs_extra;
pub mod futex;
mod futex2;
pub(crate) mod io_uring;
mod ioprio;
pub(crate) mod ipc;
pub(crate) mod keys;
pub(crate) mod landlock;
pub(crate) mod locks;
pub mod lsm;
mod mempolicy;
pub(crate) mod misc;
mod mm;
mod mount;
mod mqueue;
mod newmount;
mod perf;
pub(crate) mod pidfd;
mod poll;
mod process;
mod process_madvise;
mod process_vm;
mod ptrace;
pub mod rseq;
pub mod sched;
pub mod seccomp;
mod signal;
pub(crate) mod socket;
mod splice;
pub mod stats;
mod swap;
pub mod table;
mod time;
mod timer;
mod uffd;
mod xattr;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult, Pod};
use kestrel_vfs::path::ParentLookup;
use kestrel_vfs::{DentryRef, OpenFile, Walker};

use crate::arch::trap::UserContext;
use crate::mm::vm::AddressSpace;
use crate::process::{Process, Thread};
use args::{Fd, UserCStr, UserPtr};

/// The six argument registers (rdi, rsi, rdx, r10, r8, r9).
pub type Args = [u64; 6];

/// Largest byte count one read or write moves (Linux's MAX_RW_COUNT).
pub const MAX_RW_COUNT: usize = 0x7fff_f000;

/// What a system call handler sees.
pub struct Ctx<'a> {
    pub thread: &'a Arc<Thread>,
    pub regs: &'a mut UserContext,
    /// openat2's RESOLVE_* flags for the lookups of this call (0 otherwise).
    pub resolve: u32,
}

impl Ctx<'_> {
    /// Loads the file page a user-memory copy of this call stopped at (not in
    /// memory yet: [`crate::mm::vm::note_pending_load`]), so that the copy can
    /// go on; false if there was none or the disk failed it.
    pub async fn load_pending(&self) -> bool {
        let load = self.thread.take_pending_load();
        match load {
            Some(l) => l.load().await.is_ok(),
            None => false,
        }
    }

    /// The calling process.
    pub fn process(&self) -> &Arc<Process> {
        &self.thread.process
    }

    /// The calling process's address space.
    pub fn mm(&self) -> Arc<AddressSpace> {
        self.thread.process.mm()
    }

    /// Whether the calling process has capability `cap` in effect.
    pub fn capable(&self, cap: u32) -> bool {
        self.process().cred.lock().capable(cap)
    }

    /// Reads a plain-old-data value from user memory.
    pub fn read<T: Pod>(&self, ptr: UserPtr<T>) -> KResult<T> {
        self.mm().read(ptr)
    }

    /// Writes a plain-old-data value to user memory.
    pub fn write<T: Pod>(&self, ptr: UserPtr<T>, v: &T) -> KResult<()> {
        self.mm().write(ptr, v)
    }

    /// Reads a path argument (EFAULT, ENAMETOOLONG at PATH_MAX).
    pub fn read_path(&self, path: UserCStr) -> KResult<Vec<u8>> {
        self.mm().read_cstr(path, PATH_MAX - 1)
    }

    /// The open file behind `fd`.
    #[inline]
    pub fn file(&self, fd: Fd) -> KResult<Arc<OpenFile>> {
        self.process().file(fd)
    }

    /// The directory a `*at` call starts from: the cwd for AT_FDCWD, else `dirfd`'s.
    fn start_dir(&self, dirfd: i32) -> KResult<DentryRef> {
        if dirfd == AT_FDCWD {
            return Ok(self.process().fs().lock().cwd.clone());
        }
        let f = self.file(dirfd)?;
        let d = f.dentry().cloned().ok_or(Errno::ENOTDIR)?;
        if !d.inode.metadata().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(d)
    }

    /// Resolves `path` relative to `dirfd` (absolute paths ignore it).
    pub async fn resolve(&self, dirfd: i32, path: &[u8], follow: bool) -> KResult<DentryRef> {
        // An empty path is ENOENT before `dirfd` is looked at (Linux's getname).
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        // A name may lead to a device: not before the devices are set up.
        crate::drivers::settled().await;
        let (root, cred) = self.walk_params_at(dirfd)?;
        let mounts = crate::fs::mounts();
        let start = if path.first() == Some(&b'/') {
            root.clone()
        } else {
            self.start_dir(dirfd)?
        };
        // Boxed: the walk's future (it may wait on a disk) stays out of every
        // path-taking handler's future, which the dispatch future is as big as.
        alloc::boxed::Box::pin(
            Walker {
                root: &root,
                mounts: &mounts,
                cred: &cred,
                resolve: self.resolve,
            }
            .lookup(&start, path, follow),
        )
        .await
    }

    /// The root a lookup from `dirfd` uses (RESOLVE_IN_ROOT: `dirfd` itself) and
    /// the caller's file-system credentials.
    fn walk_params_at(&self, dirfd: i32) -> KResult<(DentryRef, kestrel_vfs::Cred)> {
        let (root, cred) = self.walk_params();
        if self.resolve & kestrel_vfs::path::RESOLVE_IN_ROOT != 0 {
            return Ok((self.start_dir(dirfd)?, cred));
        }
        Ok((root, cred))
    }

    /// Resolves `path`, or with AT_EMPTY_PATH and an empty path, `dirfd` itself.
    pub async fn resolve_at(&self, dirfd: i32, path: &[u8], flags: u32) -> KResult<DentryRef> {
        if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
            if dirfd == AT_FDCWD {
                return Ok(self.process().fs().lock().cwd.clone());
            }
            return self.file(dirfd)?.dentry().cloned().ok_or(Errno::EBADF);
        }
        self.resolve(dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0)
            .await
    }

    /// Resolves all but the last component of `path`.
    pub async fn resolve_parent(&self, dirfd: i32, path: &[u8]) -> KResult<ParentLookup> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        crate::drivers::settled().await;
        // The root is dirfd's with RESOLVE_IN_ROOT, for absolute paths too.
        let (root, cred) = self.walk_params_at(dirfd)?;
        let mounts = crate::fs::mounts();
        let start = if path.first() == Some(&b'/') {
            root.clone()
        } else {
            self.start_dir(dirfd)?
        };
        alloc::boxed::Box::pin(
            Walker {
                root: &root,
                mounts: &mounts,
                cred: &cred,
                resolve: self.resolve,
            }
            .lookup_parent(&start, path),
        )
        .await
    }

    /// Resolves all but the last component of `path`, relative paths from `start`.
    pub async fn resolve_parent_from(
        &self,
        start: &DentryRef,
        path: &[u8],
    ) -> KResult<ParentLookup> {
        crate::drivers::settled().await;
        let (root, cred) = self.walk_params();
        let mounts = crate::fs::mounts();
        let start = if path.first() == Some(&b'/') {
            root.clone()
        } else {
            start.clone()
        };
        alloc::boxed::Box::pin(
            Walker {
                root: &root,
                mounts: &mounts,
                cred: &cred,
                resolve: self.resolve,
            }
            .lookup_parent(&start, path),
        )
        .await
    }

    fn walk_params(&self) -> (DentryRef, kestrel_vfs::Cred) {
        (
            self.process().fs().lock().root.clone(),
            self.process().cred.lock().fs_cred(),
        )
    }

    /// Installs an open file as a new descriptor.
    pub fn install(&self, file: Arc<OpenFile>, cloexec: bool) -> KResult<i32> {
        let limit = self.process().nofile();
        self.process()
            .files()
            .lock()
            .insert(file, cloexec, 0, limit)
    }
}

/// Waits until `file` reports one of `events` (or an error or hang-up).
pub async fn wait_for(file: &OpenFile, events: u16) {
    let Some(wq) = file.ops().wait_queue() else {
        return;
    };
    let events = events | POLLERR | POLLHUP;
    wq.wait_until_for(u32::from(events), || {
        (file.poll() & events != 0).then_some(())
    })
    .await;
}

/// Which unknown system calls were already logged (one bit per number below 512).
static LOGGED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

fn unknown(ctx: &Ctx<'_>, nr: u64) -> Errno {
    let first = nr < 512
        && LOGGED[(nr / 64) as usize].fetch_or(1 << (nr % 64), Ordering::Relaxed)
            & (1 << (nr % 64))
            == 0;
    if first {
        let name = kestrel_abi::syscalls::syscall_name(nr as usize).unwrap_or("unknown");
        log::info!(
            "{} (pid {}) called unimplemented syscall {} ({}): ENOSYS",
            alloc::string::String::from_utf8_lossy(&ctx.process().comm()),
            ctx.process().pid,
            nr,
            name
        );
    }
    Errno::ENOSYS
}

/// The call `regs` asks for: its number (`orig_rax`, which a tracer may
/// have changed at the syscall-enter stop) and its six argument registers.
pub fn call_of(regs: &UserContext) -> (u64, Args) {
    let r = &regs.regs;
    (regs.orig_rax, [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9])
}

/// Starts the system call `ctx.regs` asks for ([`call_of`]): the future that
/// runs it until it completes (`Some(result)`) or the thread is killed
/// (`None`); then [`after_call`]. `ctx` lives in the thread loop's future,
/// beside this one, which holds only the table's future (a pointer to the
/// handler's future in its [`CallBox`](crate::mm::callbox::CallBox) and
/// `ctx`) and the thread for the kill: while a call is pending the thread's
/// future keeps `Ctx` once and no copy of the number or arguments (read from
/// the registers where they are needed), which puts the task's future in a
/// 320-byte block rather than a 384 (docs/hot-paths.md, "Futures and a parked
/// thread's memory").
#[inline(always)]
pub fn dispatch<'c>(
    ctx: &'c mut Ctx<'_>,
) -> UntilKilled<'c, impl core::future::Future<Output = KResult<u64>> + Send + 'c> {
    let thread = ctx.thread;
    if let Some(counts) = &thread.process.syscall_counts {
        counts.count(ctx.regs.orig_rax);
    }
    thread.take_pending_load();
    UntilKilled {
        call: table::call(ctx),
        thread,
    }
}

/// What follows a call [`dispatch`] ran for `thread`: the value for rax, or,
/// when a copy from or to user memory met a file page not in memory, the
/// load and the call run again ([`after_load`], out of line so that the
/// common call carries none of it; killable as the call was). `None`:
/// killed.
///
/// A `Ctx` of its own (in the box, when there is a load; the call's
/// RESOLVE_* flags are not wanted again, a call run again starts from 0), so
/// that the thread loop keeps the call's across one wait only.
#[inline(always)]
pub fn after_call<'a>(
    thread: &'a Arc<Thread>,
    regs: &'a mut UserContext,
    r: KResult<u64>,
) -> AfterCall<'a> {
    match thread.take_pending_load() {
        None => AfterCall::Done(rax(r)),
        Some(load) => load_and_rerun(thread, regs, r, load),
    }
}

/// [`after_call`]'s load, out of line (rare).
#[cold]
#[inline(never)]
fn load_and_rerun<'a>(
    thread: &'a Arc<Thread>,
    regs: &'a mut UserContext,
    r: KResult<u64>,
    load: crate::mm::vm::PageLoad,
) -> AfterCall<'a> {
    AfterCall::Loading(alloc::boxed::Box::pin(async move {
        let mut ctx = Ctx {
            thread,
            regs,
            resolve: 0,
        };
        let call = UntilKilled {
            call: after_load(&mut ctx, r, load),
            thread,
        };
        call.await.map(rax)
    }))
}

/// [`after_call`]'s future: ready at once, but for a page load.
pub enum AfterCall<'c> {
    Done(i64),
    Loading(
        core::pin::Pin<
            alloc::boxed::Box<dyn core::future::Future<Output = Option<i64>> + Send + 'c>,
        >,
    ),
}

impl core::future::Future for AfterCall<'_> {
    type Output = Option<i64>;
    #[inline(always)]
    fn poll(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Option<i64>> {
        match self.get_mut() {
            AfterCall::Done(v) => core::task::Poll::Ready(Some(*v)),
            AfterCall::Loading(f) => f.as_mut().poll(cx),
        }
    }
}

/// A call's result as the value for rax.
#[inline(always)]
fn rax(r: KResult<u64>) -> i64 {
    match r {
        Ok(v) => v as i64,
        Err(e) => -(e as i32 as i64),
    }
}

/// A system call until it completes (`Some(result)`) or its thread is killed
/// (`None`: the call is dropped, cancelled). The kill is checked, and its waker
/// registered, only when the call is still pending, so a call that completes on
/// its first poll costs nothing more. The call's future is held here, not a
/// pinned reference to it (8 bytes less in the thread's future).
#[pin_project::pin_project]
pub struct UntilKilled<'a, F> {
    #[pin]
    call: F,
    thread: &'a Thread,
}

impl<F: core::future::Future> core::future::Future for UntilKilled<'_, F> {
    type Output = Option<F::Output>;
    #[inline(always)]
    fn poll(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Self::Output> {
        let this = self.project();
        if let core::task::Poll::Ready(r) = this.call.poll(cx) {
            return core::task::Poll::Ready(Some(r));
        }
        if this.thread.poll_killed(cx) {
            core::task::Poll::Ready(None)
        } else {
            core::task::Poll::Pending
        }
    }
}

/// Runs at once, with no future at all, the few hot calls that never wait
/// (the id getters, clock_gettime): `None` for any other call, which goes
/// through [`dispatch`]. Under TCG every call, return and indirect jump is a
/// lookup of the next translated block, and the general way is several of
/// them even for a call that completes on its first poll: the dispatch
/// future's construction, the table's future (a jump on its state, another on
/// the number), the handler's poll, and the table future's drop (out of line,
/// a third jump table).
///
/// Everything around the call is the same as for the others (ptrace's and
/// seccomp's entry checks before it, signals and the kill after it); a copy to
/// user memory that met a file page not in memory (it cannot wait here) is
/// `None` too, so that [`dispatch`] runs the call again and loads the page.
///
/// The handlers here never read `ctx.regs`: on the fast path
/// (`process::thread`'s `fast_syscall`) the registers are still in the trap
/// frame, and the `UserContext` holds those of the thread's last slow trap.
/// `None` means nothing was done.
#[inline(always)]
pub fn call_now(thread: &Arc<Thread>, regs: &mut UserContext, nr: u64, args: Args) -> Option<i64> {
    use kestrel_abi::syscalls::nr as n;
    let ctx = Ctx {
        thread,
        regs,
        resolve: 0,
    };
    let r = match nr as usize {
        n::READ => read_now(&ctx, args)?,
        n::WRITE => write_now(&ctx, args)?,
        n::FUTEX => futex::wake_now(&ctx, args)?,
        n::RT_SIGACTION => sigaction_now(&ctx, args)?,
        n::GETPID => process::getpid(&ctx),
        n::GETPPID => process::getppid(&ctx),
        n::GETTID => process::gettid(&ctx),
        n::GETUID => process::getuid(&ctx),
        n::GETEUID => process::geteuid(&ctx),
        n::GETGID => process::getgid(&ctx),
        n::GETEGID => process::getegid(&ctx),
        n::CLOCK_GETTIME => {
            let mut a = args::Regs::new(args);
            let r = time::clock_gettime(&ctx, a.next(), a.next());
            if thread.pending_load_is_set() {
                return None;
            }
            r
        }
        _ => return None,
    };
    if let Some(counts) = &thread.process.syscall_counts {
        counts.count(nr);
    }
    Some(match r {
        Ok(v) => v as i64,
        Err(e) => -(e as i32 as i64),
    })
}

/// The calls of [`call_now`] that only load a field (no lock, no user
/// memory): getpid, gettid, and getppid in the initial PID namespace. The
/// fast path runs these with interrupts still disabled: under TCG `sti` ends
/// the translated block and goes back to QEMU's main loop, a large part of a
/// null call. `None` for any other call (or getppid in a PID namespace, which
/// takes the parent's lock), which [`call_now`] runs with interrupts on.
#[inline(always)]
pub fn call_trivial(thread: &Arc<Thread>, nr: u64) -> Option<i64> {
    use kestrel_abi::syscalls::nr as n;
    let p = &thread.process;
    let r = match nr as usize {
        n::GETPID => p.vpid,
        n::GETTID if thread.tid() != p.pid => thread.tid(),
        n::GETTID => p.vpid,
        n::GETPPID if p.pid_ns.is_root() => p.ppid(),
        _ => return None,
    };
    if let Some(counts) = &p.syscall_counts {
        counts.count(nr);
    }
    Some(i64::from(r))
}

/// read(2) for [`call_now`]. Out of line (as [`sigaction_now`]): inline,
/// its code in the thread loop's (where `call_now` is inlined) made every
/// other call's general way slower.
#[inline(never)]
fn read_now(ctx: &Ctx<'_>, args: Args) -> Option<KResult<u64>> {
    let mut a = args::Regs::new(args);
    let r = fs::read_now(ctx, a.next(), a.next(), a.next())?;
    if ctx.thread.pending_load_is_set() {
        return None;
    }
    Some(r)
}

/// write(2) for [`call_now`] (out of line, as [`read_now`]).
#[inline(never)]
fn write_now(ctx: &Ctx<'_>, args: Args) -> Option<KResult<u64>> {
    let mut a = args::Regs::new(args);
    let r = fs::write_now(ctx, a.next(), a.next(), a.next())?;
    if ctx.thread.pending_load_is_set() {
        return None;
    }
    Some(r)
}

/// rt_sigaction(2) for [`call_now`].
#[inline(never)]
fn sigaction_now(ctx: &Ctx<'_>, args: Args) -> Option<KResult<u64>> {
    let mut a = args::Regs::new(args);
    let r = signal::rt_sigaction(ctx, a.next(), a.next(), a.next(), a.next());
    if ctx.thread.pending_load_is_set() {
        // Failed with EFAULT before changing anything: the general path
        // loads the page and runs it again.
        return None;
    }
    Some(r)
}

/// The calls [`call_now`] runs, which the syscall entry code offers to the
/// fast path (`arch::trap::allow_fast_syscalls`; the entry code tests the
/// number against them before the hook, and `call_now` runs no other).
pub const FAST: [usize; 12] = {
    use kestrel_abi::syscalls::nr as n;
    [
        n::READ,
        n::WRITE,
        n::FUTEX,
        n::RT_SIGACTION,
        n::GETPID,
        n::GETPPID,
        n::GETTID,
        n::GETUID,
        n::GETEUID,
        n::GETGID,
        n::GETEGID,
        n::CLOCK_GETTIME,
    ]
};

/// The size of [`dispatch`]'s future, which the thread future holds while a
/// call is pending, beside the call's `Ctx` (the `syscall_future_sizes_report`
/// kernel test).
pub fn dispatch_future_size() -> usize {
    table::output_size(&|ctx: &'static mut Ctx<'static>, _: ()| dispatch(ctx))
}

/// A copy from or to user memory met a file page not in memory (a program's
/// string in a mapped binary, a buffer in a file mapping): the copy could not
/// wait for the disk, so the load happens here. A call that failed for it
/// (EFAULT, with nothing done) runs again, up to 8 times; one cut short keeps its
/// count, and the page is there for the next call.
async fn after_load(
    ctx: &mut Ctx<'_>,
    mut r: KResult<u64>,
    mut load: crate::mm::vm::PageLoad,
) -> KResult<u64> {
    for _ in 0..8 {
        let loaded = load.load().await;
        if r != Err(Errno::EFAULT) || loaded.is_err() {
            return r;
        }
        ctx.resolve = 0;
        r = table::call(ctx).await;
        match ctx.thread.take_pending_load() {
            Some(next) => load = next,
            None => return r,
        }
    }
    r
}

/// A vector of `n` zeroed elements, or ENOMEM: for buffers whose size a program
/// chose (within a cap the caller has already applied).
pub fn zeroed_vec<T: Clone + Default>(n: usize) -> KResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    v.resize(n, T::default());
    Ok(v)
}
