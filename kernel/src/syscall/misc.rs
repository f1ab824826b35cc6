//! The rest: uname, sysinfo, resource limits, randomness, yielding, futexes.

use kestrel_abi::process::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};

use super::{Args, Ctx, arg_i32};
use crate::{futex, process, task};

pub async fn sys_uname(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let u = Utsname {
        sysname: Utsname::field("Linux"),
        nodename: Utsname::field("kestrel"),
        release: Utsname::field("6.8.0-kestrel"),
        version: Utsname::field(concat!("#1 SMP Kestrel ", env!("CARGO_PKG_VERSION"))),
        machine: Utsname::field("x86_64"),
        domainname: Utsname::field("(none)"),
    };
    ctx.write(a[0], &u)?;
    Ok(0)
}

pub async fn sys_sysinfo(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (free, total) = crate::mm::frame::stats();
    let info = Sysinfo {
        uptime: (crate::time::now_ns() / 1_000_000_000) as i64,
        totalram: total * 4096,
        freeram: free * 4096,
        procs: process::count().min(u16::MAX as usize) as u16,
        mem_unit: 1,
        ..Sysinfo::default()
    };
    ctx.write(a[0], &info)?;
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
    if r == RLIMIT_NOFILE && new.rlim_max > 1 << 20 {
        return Err(Errno::EPERM); // above fs.nr_open
    }
    l[r as usize] = new;
    Ok(())
}

pub async fn sys_getrlimit(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let l = get_limit(ctx.process(), a[0] as u32)?;
    ctx.write(a[1], &l)?;
    Ok(0)
}

pub async fn sys_setrlimit(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let new: Rlimit = ctx.read(a[1])?;
    let root = ctx.process().cred.lock().euid == 0;
    set_limit(ctx.process(), root, a[0] as u32, new).map(|_| 0)
}

pub async fn sys_prlimit64(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (pid, r, new_ptr, old_ptr) = (arg_i32(a[0]), a[1] as u32, a[2], a[3]);
    let p = match pid {
        0 => ctx.process().clone(),
        p if p > 0 => process::find(p as u32).ok_or(Errno::ESRCH)?,
        _ => return Err(Errno::EINVAL),
    };
    let new = if new_ptr != 0 {
        Some(ctx.read::<Rlimit>(new_ptr)?)
    } else {
        None
    };
    let old = get_limit(&p, r)?;
    if let Some(n) = new {
        let root = ctx.process().cred.lock().euid == 0;
        set_limit(&p, root, r, n)?;
    }
    if old_ptr != 0 {
        ctx.write(old_ptr, &old)?;
    }
    Ok(0)
}

pub async fn sys_getrandom(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (buf, len, flags) = (a[0], a[1] as usize, a[2] as u32);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    let len = len.min(32 << 20);
    let mut kbuf = alloc::vec![0u8; len.min(256)];
    let mm = ctx.mm();
    let mut done = 0;
    while done < len {
        let n = (len - done).min(kbuf.len());
        crate::random::fill(&mut kbuf[..n]);
        let w = mm.write_user_partial(buf + done as u64, &kbuf[..n]);
        done += w;
        if w < n {
            return if done > 0 {
                Ok(done as u64)
            } else {
                Err(Errno::EFAULT)
            };
        }
    }
    Ok(done as u64)
}

pub async fn sys_sched_yield(_: &mut Ctx<'_>, _: Args) -> KResult<u64> {
    kestrel_executor::yield_now().await;
    Ok(0)
}

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;

pub async fn sys_futex(ctx: &mut Ctx<'_>, a: Args) -> KResult<u64> {
    let (uaddr, op, val, timeout_ptr, val3) = (a[0], a[1] as u32, a[2] as u32, a[3], a[5] as u32);
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if uaddr % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    let mm = ctx.mm();
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { u32::MAX } else { val3 };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let deadline = if timeout_ptr != 0 {
                let t: Timespec = ctx.read(timeout_ptr)?;
                let ns = t.to_ns().ok_or(Errno::EINVAL)?;
                // FUTEX_WAIT takes a relative timeout; WAIT_BITSET an absolute one.
                Some(if cmd == FUTEX_WAIT {
                    crate::time::now_ns().saturating_add(ns)
                } else if op & FUTEX_CLOCK_REALTIME != 0 {
                    crate::time::now_ns()
                        .saturating_add(ns.saturating_sub(crate::time::realtime_ns()))
                } else {
                    ns
                })
            } else {
                None
            };
            let wait = futex::enqueue(&mm, uaddr, bitset);
            let mut cur = [0u8; 4];
            mm.read_user(uaddr, &mut cur)?;
            if u32::from_le_bytes(cur) != val {
                return Err(Errno::EAGAIN);
            }
            match deadline {
                Some(d) => task::timeout(d.saturating_sub(crate::time::now_ns()), wait)
                    .await
                    .map_err(|_| Errno::ETIMEDOUT)?,
                None => wait.await,
            }
            Ok(0)
        }
        FUTEX_WAKE => Ok(futex::wake(&mm, uaddr, val as usize) as u64),
        FUTEX_WAKE_BITSET => {
            if val3 == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(futex::wake_bitset(&mm, uaddr, val as usize, val3) as u64)
        }
        _ => Err(Errno::ENOSYS),
    }
}
