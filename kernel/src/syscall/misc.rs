//! The rest: uname, sysinfo, resource limits, randomness, yielding, futexes.

use alloc::sync::Arc;

use kestrel_abi::cap::*;
use kestrel_abi::process::*;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::*;
use crate::process;

pub async fn sys_uname(ctx: &mut Ctx<'_>, buf: UserPtr<Utsname>) -> KResult<u64> {
    let bytes = |v: &[u8]| {
        let mut f = [0u8; 65];
        let n = v.len().min(64);
        f[..n].copy_from_slice(&v[..n]);
        f
    };
    let u = Utsname {
        sysname: Utsname::field("Linux"),
        nodename: bytes(&crate::uts::hostname()),
        release: Utsname::field(crate::uts::RELEASE),
        version: Utsname::field(crate::uts::VERSION),
        machine: Utsname::field("x86_64"),
        domainname: bytes(&crate::uts::domainname()),
    };
    ctx.write(buf, &u)?;
    Ok(0)
}

/// sethostname/setdomainname: CAP_SYS_ADMIN, at most 64 bytes (EINVAL beyond or
/// negative).
fn set_uts_name(ctx: &Ctx<'_>, name: UserPtr<u8>, len: i32, set: fn(&[u8])) -> KResult<u64> {
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= crate::uts::NAME_MAX)
        .ok_or(Errno::EINVAL)?;
    let mut buf = [0u8; crate::uts::NAME_MAX];
    ctx.mm().reader(name, len)?.read_exact(&mut buf[..len])?;
    set(&buf[..len]);
    Ok(0)
}

pub async fn sys_sethostname(ctx: &mut Ctx<'_>, name: UserPtr<u8>, len: i32) -> KResult<u64> {
    set_uts_name(ctx, name, len, crate::uts::set_hostname)
}

pub async fn sys_setdomainname(ctx: &mut Ctx<'_>, name: UserPtr<u8>, len: i32) -> KResult<u64> {
    set_uts_name(ctx, name, len, crate::uts::set_domainname)
}

pub async fn sys_sysinfo(ctx: &mut Ctx<'_>, out: UserPtr<Sysinfo>) -> KResult<u64> {
    let (free, total) = crate::mm::frame::stats();
    let info = Sysinfo {
        // CLOCK_BOOTTIME in the caller's time namespace, a started second
        // counting whole (as Linux's do_sysinfo rounds it).
        uptime: crate::time::now_ns()
            .saturating_add_signed(ctx.process().nsproxy().time.offset_of(7))
            .div_ceil(1_000_000_000) as i64,
        totalram: total * 4096,
        freeram: free * 4096,
        totalswap: crate::fs::swap::totals().0 * 4096,
        freeswap: crate::fs::swap::totals().1 * 4096,
        // The averages with 16 bits of fraction (SI_LOAD_SHIFT).
        loads: crate::loadavg::averages().map(|a| a << (16 - crate::loadavg::FSHIFT)),
        // Threads, as Linux's nr_threads.
        procs: process::thread_count().min(u16::MAX as usize) as u16,
        mem_unit: 1,
        ..Sysinfo::default()
    };
    ctx.write(out, &info)?;
    Ok(0)
}

fn get_limit(p: &process::Process, r: u32) -> KResult<Rlimit> {
    if r >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    Ok(p.rlimits.lock()[r as usize])
}

fn set_limit(p: &process::Process, caller_root: bool, r: u32, new: Rlimit) -> KResult<()> {
    if r >= RLIM_NLIMITS || new.rlim_cur > new.rlim_max {
        return Err(Errno::EINVAL);
    }
    let mut l = p.rlimits.lock();
    if new.rlim_max > l[r as usize].rlim_max && !caller_root {
        return Err(Errno::EPERM);
    }
    if r == RLIMIT_NOFILE
        && new.rlim_max > u64::from(process::NR_OPEN.load(core::sync::atomic::Ordering::Relaxed))
    {
        return Err(Errno::EPERM); // above fs.nr_open
    }
    l[r as usize] = new;
    drop(l);
    match r {
        RLIMIT_CPU => process::timers::rlimit_cpu_changed(p),
        RLIMIT_STACK | RLIMIT_AS | RLIMIT_DATA => p.mm().set_limits(p.mm_limits()),
        _ => {}
    }
    Ok(())
}

pub async fn sys_getrlimit(
    ctx: &mut Ctx<'_>,
    resource: u32,
    rlim: UserPtr<Rlimit>,
) -> KResult<u64> {
    let l = get_limit(ctx.process(), resource)?;
    ctx.write(rlim, &l)?;
    Ok(0)
}

pub async fn sys_setrlimit(
    ctx: &mut Ctx<'_>,
    resource: u32,
    rlim: UserPtr<Rlimit>,
) -> KResult<u64> {
    let new: Rlimit = ctx.read(rlim)?;
    let root = ctx.capable(CAP_SYS_RESOURCE);
    set_limit(ctx.process(), root, resource, new).map(|_| 0)
}

pub async fn sys_prlimit64(
    ctx: &mut Ctx<'_>,
    pid: Pid,
    r: u32,
    new_ptr: UserPtr<Rlimit>,
    old_ptr: UserPtr<Rlimit>,
) -> KResult<u64> {
    // Linux's order: the new limit is read (EFAULT), the task looked up
    // (ESRCH; a thread id names its process, a negative id nothing), the
    // permission checked (EPERM), and only then the resource (EINVAL).
    let new = if new_ptr.is_null() {
        None
    } else {
        Some(ctx.read(new_ptr)?)
    };
    let p = match pid {
        0 => ctx.process().clone(),
        p if p > 0 => process::find_thread(p as u32)
            .map(|t| t.process.clone())
            .or_else(|| process::find(p as u32))
            .ok_or(Errno::ESRCH)?,
        _ => return Err(Errno::ESRCH),
    };
    // Another process's limits: only if all its uids equal the caller's real uid
    // and all its gids the caller's real gid, or with CAP_SYS_RESOURCE.
    if !Arc::ptr_eq(&p, ctx.process()) {
        let me = ctx.process().cred.lock().clone();
        let them = p.cred.lock().clone();
        let same = [them.uid, them.euid, them.suid]
            .iter()
            .all(|&u| u == me.uid)
            && [them.gid, them.egid, them.sgid]
                .iter()
                .all(|&g| g == me.gid);
        if !same && !me.capable(CAP_SYS_RESOURCE) {
            return Err(Errno::EPERM);
        }
    }
    let old = get_limit(&p, r)?;
    if let Some(n) = new {
        let root = ctx.capable(CAP_SYS_RESOURCE);
        set_limit(&p, root, r, n)?;
    }
    if !old_ptr.is_null() {
        ctx.write(old_ptr, &old)?;
    }
    Ok(0)
}

pub async fn sys_getrandom(
    ctx: &mut Ctx<'_>,
    buf: UserPtr<u8>,
    len: usize,
    flags: u32,
) -> KResult<u64> {
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    // Linux returns at most 32 MiB per call (and fills a page at a time).
    let len = len.min(32 << 20);
    let mm = ctx.mm();
    let mut out = mm.writer(buf, len)?;
    let mut kbuf = [0u8; 256];
    while out.remaining() > 0 {
        let n = out.remaining().min(kbuf.len());
        crate::random::fill(&mut kbuf[..n]);
        if out.write(&kbuf[..n]) < n {
            break;
        }
        if out.remaining() % 65536 == 0 {
            kestrel_executor::yield_now().await;
        }
    }
    match len - out.remaining() {
        0 if len > 0 => Err(Errno::EFAULT),
        done => Ok(done as u64),
    }
}

/// personality(2): the execution domain is always Linux's (PER_LINUX); the flag
/// bits (ADDR_NO_RANDOMIZE, which debuggers set, and the others) are kept and
/// reported back, and inherited by children. Kestrel does not randomize
/// addresses, so ADDR_NO_RANDOMIZE holds whatever it says.
pub async fn sys_personality(ctx: &mut Ctx<'_>, persona: u32) -> KResult<u64> {
    use core::sync::atomic::Ordering;
    let p = ctx.process();
    if persona == u32::MAX {
        return Ok(u64::from(p.personality.load(Ordering::Relaxed)));
    }
    // Any value is kept, as Linux keeps it: its execution domains are gone
    // (every domain runs as PER_LINUX), so the domain byte changes nothing.
    Ok(u64::from(p.personality.swap(persona, Ordering::Relaxed)))
}

pub async fn sys_sched_yield(ctx: &mut Ctx<'_>) -> KResult<u64> {
    crate::process::thread::yielding(ctx.thread);
    kestrel_executor::yield_now().await;
    Ok(0)
}

/// membarrier(2). One CPU runs one thread at a time, so every barrier is already
/// complete when the call is made: the commands only need the checks Linux does.
pub async fn sys_membarrier(ctx: &mut Ctx<'_>, cmd: u32, flags: u32, _cpu_id: i32) -> KResult<u64> {
    const QUERY: u64 = 0;
    const GLOBAL: u64 = 1;
    const GLOBAL_EXPEDITED: u64 = 1 << 1;
    const REGISTER_GLOBAL_EXPEDITED: u64 = 1 << 2;
    const PRIVATE_EXPEDITED: u64 = 1 << 3;
    const REGISTER_PRIVATE_EXPEDITED: u64 = 1 << 4;
    const PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 5;
    const REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 6;
    const SUPPORTED: u64 = GLOBAL
        | GLOBAL_EXPEDITED
        | REGISTER_GLOBAL_EXPEDITED
        | PRIVATE_EXPEDITED
        | REGISTER_PRIVATE_EXPEDITED
        | PRIVATE_EXPEDITED_SYNC_CORE
        | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;
    const FLAG_CPU: u64 = 1;
    let (cmd, flags) = (u64::from(cmd), u64::from(flags));
    if flags & !FLAG_CPU != 0 || (flags != 0 && cmd != PRIVATE_EXPEDITED) {
        return Err(Errno::EINVAL);
    }
    let p = ctx.process();
    let registered = |bit: u64| p.membarrier.load(core::sync::atomic::Ordering::Relaxed) & bit != 0;
    match cmd {
        QUERY => Ok(SUPPORTED),
        GLOBAL | GLOBAL_EXPEDITED => Ok(0),
        REGISTER_GLOBAL_EXPEDITED
        | REGISTER_PRIVATE_EXPEDITED
        | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
            p.membarrier
                .fetch_or(cmd, core::sync::atomic::Ordering::Relaxed);
            Ok(0)
        }
        // The expedited private commands need registering first (EPERM).
        PRIVATE_EXPEDITED if registered(REGISTER_PRIVATE_EXPEDITED) => Ok(0),
        PRIVATE_EXPEDITED_SYNC_CORE if registered(REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) => Ok(0),
        PRIVATE_EXPEDITED | PRIVATE_EXPEDITED_SYNC_CORE => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

/// sysfs(2), the old way to list file system types: 1 maps a type's name to
/// its index, 2 writes the name at an index to a buffer, 3 counts the types.
pub async fn sys_sysfs(ctx: &mut Ctx<'_>, option: i32, arg1: u64, arg2: u64) -> KResult<u64> {
    let types = crate::fs::FILESYSTEMS;
    match option {
        1 => {
            // A name longer than any type's is no type's (read no further).
            let name = ctx.mm().read_cstr(UserCStr::new(arg1), 64).map_err(|e| {
                if e == Errno::ENAMETOOLONG {
                    Errno::EINVAL
                } else {
                    e
                }
            })?;
            types
                .iter()
                .position(|(t, _)| t.as_bytes() == name.as_slice())
                .map(|i| i as u64)
                .ok_or(Errno::EINVAL)
        }
        2 => {
            let (name, _) = usize::try_from(arg1 as u32)
                .ok()
                .and_then(|i| types.get(i))
                .ok_or(Errno::EINVAL)?;
            let mut bytes = alloc::vec::Vec::from(name.as_bytes());
            bytes.push(0);
            ctx.mm().write_slice(UserPtr::<u8>::new(arg2), &bytes)?;
            Ok(0)
        }
        3 => Ok(types.len() as u64),
        _ => Err(Errno::EINVAL),
    }
}

/// Whether Ctrl-Alt-Del reboots at once (LINUX_REBOOT_CMD_CAD_ON) rather than
/// signalling init; kept for reboot(2), nothing sends the key combination.
static CAD_ENABLED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// reboot(2): CAP_SYS_BOOT (EPERM), both magic numbers (EINVAL), then the
/// command. Halting, powering off and restarting all leave the virtual machine
/// (Kestrel has no reset: a restart is a power-off); no kexec or suspend.
pub async fn sys_reboot(
    ctx: &mut Ctx<'_>,
    magic1: u32,
    magic2: u32,
    cmd: u32,
    _arg: u64,
) -> KResult<u64> {
    const MAGIC1: u32 = 0xfee1_dead;
    const MAGIC2: [u32; 4] = [672_274_793, 85_072_278, 369_367_448, 537_993_216];
    const CMD_RESTART: u32 = 0x0123_4567;
    const CMD_HALT: u32 = 0xcdef_0123;
    const CMD_CAD_ON: u32 = 0x89ab_cdef;
    const CMD_CAD_OFF: u32 = 0;
    const CMD_POWER_OFF: u32 = 0x4321_fedc;
    const CMD_RESTART2: u32 = 0xa1b2_c3d4;
    if !ctx.capable(CAP_SYS_BOOT) {
        return Err(Errno::EPERM);
    }
    if magic1 != MAGIC1 || !MAGIC2.contains(&magic2) {
        return Err(Errno::EINVAL);
    }
    match cmd {
        CMD_CAD_ON | CMD_CAD_OFF => {
            CAD_ENABLED.store(cmd == CMD_CAD_ON, core::sync::atomic::Ordering::Relaxed);
            Ok(0)
        }
        CMD_RESTART | CMD_RESTART2 | CMD_HALT | CMD_POWER_OFF => {
            crate::println!("\nkestrel: reboot({cmd:#x}): powering off");
            crate::arch::qemu::exit(crate::arch::qemu::ExitCode::Success)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// kcmp(2): whether two tasks share a kernel object: 0 the same, 1 or 2 an
/// ordering of two different ones (by address, as Linux orders them, so
/// that a program may sort), EINVAL for an unknown type; EBADF for a
/// descriptor either task does not have; EPERM unless the caller may trace
/// both.
pub async fn sys_kcmp(
    ctx: &mut Ctx<'_>,
    pid1: Pid,
    pid2: Pid,
    kind: i32,
    idx1: u64,
    idx2: u64,
) -> KResult<u64> {
    const KCMP_FILE: i32 = 0;
    const KCMP_VM: i32 = 1;
    const KCMP_FILES: i32 = 2;
    const KCMP_FS: i32 = 3;
    const KCMP_SIGHAND: i32 = 4;
    const KCMP_IO: i32 = 5;
    const KCMP_SYSVSEM: i32 = 6;
    let task = |pid: Pid| {
        u32::try_from(pid)
            .ok()
            .filter(|&p| p > 0)
            .and_then(process::find_thread)
            .map(|t| t.process.clone())
            .ok_or(Errno::ESRCH)
    };
    let (a, b) = (task(pid1)?, task(pid2)?);
    let me = ctx.process();
    for t in [&a, &b] {
        if !super::ptrace::may_access(me, t) {
            return Err(Errno::EPERM);
        }
    }
    fn addr<T: ?Sized>(p: &Arc<T>) -> usize {
        Arc::as_ptr(p) as *const u8 as usize
    }
    let (x, y) = match kind {
        KCMP_FILE => {
            let file = |p: &Arc<process::Process>, fd: u64| {
                let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
                p.files().lock().get(fd).map(|f| addr(&f))
            };
            (file(&a, idx1)?, file(&b, idx2)?)
        }
        KCMP_VM => (addr(&a.mm()), addr(&b.mm())),
        KCMP_FILES => (addr(&a.files()), addr(&b.files())),
        KCMP_FS => (addr(&a.fs()), addr(&b.fs())),
        KCMP_SIGHAND => (addr(&a.sigactions()), addr(&b.sigactions())),
        // No task has an I/O context of its own: all have none, the same.
        KCMP_IO => (0, 0),
        // SEM_UNDO adjustments are kept per process; a process without any
        // has no undo list, and two without compare equal (as Linux's NULL
        // undo_list pointers do).
        KCMP_SYSVSEM => {
            let list = |p: &Arc<process::Process>| {
                if super::ipc::has_undo(p.pid) {
                    addr(p)
                } else {
                    0
                }
            };
            (list(&a), list(&b))
        }
        _ => return Err(Errno::EINVAL),
    };
    Ok(match x.cmp(&y) {
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Less => 1,
        core::cmp::Ordering::Greater => 2,
    })
}

/// The console log level (/proc/sys/kernel/printk's first field, syslog(2)'s
/// CONSOLE_LEVEL); kept and reported, not acted on: the serial console shows
/// every record the log filter lets through.
pub static CONSOLE_LOGLEVEL: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(7);
/// The level CONSOLE_ON restores (-1: none saved).
static SAVED_LOGLEVEL: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(-1);

/// SYSLOG_ACTION_READ_ALL (also what opening /dev/kmsg to read needs).
pub const SYSLOG_READ_ALL: i32 = 3;

/// Whether `c` may do syslog(2) action `kind` (Linux's
/// check_syslog_permissions): reading everything (3) and the buffer's size
/// (10) are open to all (Kestrel has dmesg_restrict 0); the rest need
/// CAP_SYSLOG (or CAP_SYS_ADMIN), else EPERM.
pub fn syslog_permission(c: &process::Credentials, kind: i32) -> KResult<()> {
    const SIZE_BUFFER: i32 = 10;
    let restricted = kind != SYSLOG_READ_ALL && kind != SIZE_BUFFER;
    if restricted && !c.capable(CAP_SYSLOG) && !c.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// syslog(2): the kernel log ring, with the permissions of
/// [`syslog_permission`].
pub async fn sys_syslog(ctx: &mut Ctx<'_>, kind: i32, buf: UserPtr<u8>, len: i32) -> KResult<u64> {
    use core::sync::atomic::Ordering;
    const READ: i32 = 2;
    const READ_ALL: i32 = SYSLOG_READ_ALL;
    const READ_CLEAR: i32 = 4;
    const SIZE_BUFFER: i32 = 10;
    syslog_permission(&ctx.process().cred.lock().clone(), kind)?;
    match kind {
        0 | 1 => Ok(0),
        READ | READ_ALL | READ_CLEAR => {
            if buf.is_null() || len < 0 {
                return Err(Errno::EINVAL);
            }
            if len == 0 {
                return Ok(0);
            }
            let n = (len as usize).min(crate::logger::LOG_SIZE);
            let mm = ctx.mm();
            let mut out = mm.writer(buf, n)?;
            let mut tmp = super::zeroed_vec::<u8>(n)?;
            let got = if kind == READ {
                let wait = async {
                    Ok(crate::logger::LOG_WAIT
                        .wait_until(|| {
                            let k = crate::logger::read_unread(&mut tmp);
                            (k > 0).then_some(k)
                        })
                        .await)
                };
                crate::process::signal::interruptible(ctx.thread, Errno::ERESTARTSYS, wait).await?
            } else {
                crate::logger::read_all(&mut tmp, kind == READ_CLEAR)
            };
            out.write_all(&tmp[..got])?;
            Ok(got as u64)
        }
        5 => {
            crate::logger::clear();
            Ok(0)
        }
        6 => {
            let _ = SAVED_LOGLEVEL.compare_exchange(
                -1,
                CONSOLE_LOGLEVEL.load(Ordering::Relaxed),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            CONSOLE_LOGLEVEL.store(1, Ordering::Relaxed);
            Ok(0)
        }
        7 => {
            let saved = SAVED_LOGLEVEL.swap(-1, Ordering::Relaxed);
            if saved != -1 {
                CONSOLE_LOGLEVEL.store(saved, Ordering::Relaxed);
            }
            Ok(0)
        }
        8 => {
            if !(1..=8).contains(&len) {
                return Err(Errno::EINVAL);
            }
            CONSOLE_LOGLEVEL.store(len, Ordering::Relaxed);
            SAVED_LOGLEVEL.store(-1, Ordering::Relaxed);
            Ok(0)
        }
        9 => Ok(crate::logger::unread() as u64),
        SIZE_BUFFER => Ok(crate::logger::LOG_SIZE as u64),
        _ => Err(Errno::EINVAL),
    }
}

/// vhangup(2): hangs up the caller's controlling terminal, as if the line had
/// dropped; needs CAP_SYS_TTY_CONFIG (EPERM). A pty slave is hung up (reads
/// and writes fail, its foreground group and session leader get SIGHUP and
/// SIGCONT); Kestrel leaves its console alone. No controlling terminal: 0.
pub async fn sys_vhangup(ctx: &mut Ctx<'_>) -> KResult<u64> {
    const CAP_SYS_TTY_CONFIG: u32 = 26;
    if !ctx.process().cred.lock().capable(CAP_SYS_TTY_CONFIG) {
        return Err(Errno::EPERM);
    }
    let sid = ctx
        .process()
        .sid
        .load(core::sync::atomic::Ordering::Relaxed);
    crate::fs::pty::hang_up_session(sid);
    Ok(0)
}

/// delete_module(2): Kestrel loads no modules, so every name is ENOENT, after
/// Linux's checks: CAP_SYS_MODULE (EPERM), then the name must be readable
/// (EFAULT; it is cut at MODULE_NAME_LEN - 1 bytes, as strncpy_from_user).
pub async fn sys_delete_module(ctx: &mut Ctx<'_>, name: UserCStr, _flags: u32) -> KResult<u64> {
    const CAP_SYS_MODULE: u32 = 16;
    const MODULE_NAME_LEN: usize = 64 - 8;
    if !ctx.process().cred.lock().capable(CAP_SYS_MODULE) {
        return Err(Errno::EPERM);
    }
    match ctx.mm().read_cstr(name, MODULE_NAME_LEN - 1) {
        Ok(_) | Err(Errno::ENAMETOOLONG) => Err(Errno::ENOENT),
        Err(e) => Err(e),
    }
}
