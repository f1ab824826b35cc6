//! ioprio_get(2), ioprio_set(2): each thread's I/O scheduling class and level.
//!
//! The value is `class << 13 | level` (IOPRIO_PRIO_VALUE). It is kept per
//! thread, inherited over clone and fork, and reported back; Kestrel's block
//! layer does not order requests by it (as Linux with a scheduler that ignores
//! priorities, such as "none"). The checks are Linux 6.1's: the real-time class
//! needs CAP_SYS_NICE (or CAP_SYS_ADMIN), the real-time and best-effort levels
//! are 0 to 7, the idle class takes any level, "none" only level 0; changing
//! another user's thread needs CAP_SYS_NICE.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use kestrel_abi::cap::{CAP_SYS_ADMIN, CAP_SYS_NICE};
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use crate::process::{self, Process, Thread};

const IOPRIO_WHO_PROCESS: i32 = 1;
const IOPRIO_WHO_PGRP: i32 = 2;
const IOPRIO_WHO_USER: i32 = 3;

const IOPRIO_CLASS_SHIFT: u32 = 13;
const IOPRIO_CLASS_NONE: u32 = 0;
const IOPRIO_CLASS_RT: u32 = 1;
const IOPRIO_CLASS_BE: u32 = 2;
const IOPRIO_CLASS_IDLE: u32 = 3;
/// Levels of the real-time and best-effort classes (IOPRIO_NR_LEVELS).
const IOPRIO_NR_LEVELS: u32 = 8;
/// What a thread that set nothing counts as when threads are compared
/// (IOPRIO_DEFAULT: best effort, level 4, IOPRIO_BE_NORM).
const IOPRIO_DEFAULT: u32 = IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT | 4;

/// The threads `which`/`who` names (ESRCH if none; EINVAL for an unknown
/// `which`): a thread by id, every thread of a process group, or every thread
/// of the processes whose real user id is `who` (0: the caller's own).
fn targets(ctx: &Ctx<'_>, which: i32, who: i32) -> KResult<Vec<Arc<Thread>>> {
    let threads_of = |p: &Arc<Process>| p.threads.lock().clone();
    let found: Vec<Arc<Thread>> = match which {
        IOPRIO_WHO_PROCESS => {
            if who == 0 {
                alloc::vec![ctx.thread.clone()]
            } else {
                u32::try_from(who)
                    .ok()
                    .and_then(process::find_thread)
                    .into_iter()
                    .collect()
            }
        }
        IOPRIO_WHO_PGRP => {
            let pgid = if who == 0 {
                ctx.process().pgid.load(Ordering::Relaxed)
            } else {
                u32::try_from(who).map_err(|_| Errno::ESRCH)?
            };
            process::in_group(pgid)
                .iter()
                .flat_map(threads_of)
                .collect()
        }
        IOPRIO_WHO_USER => {
            let uid = if who == 0 {
                ctx.process().cred.lock().uid
            } else {
                who as u32
            };
            process::all()
                .iter()
                .filter(|p| p.cred.lock().uid == uid)
                .flat_map(threads_of)
                .collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    if found.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(found)
}

/// The better of two priorities (Linux's ioprio_best): the lower value, a
/// thread that set none counting as [`IOPRIO_DEFAULT`].
fn best(a: u32, b: u32) -> u32 {
    let norm = |v: u32| {
        if v >> IOPRIO_CLASS_SHIFT == IOPRIO_CLASS_NONE {
            IOPRIO_DEFAULT
        } else {
            v
        }
    };
    norm(a).min(norm(b))
}

pub async fn sys_ioprio_get(ctx: &mut Ctx<'_>, which: i32, who: i32) -> KResult<u64> {
    let threads = targets(ctx, which, who)?;
    let value = if which == IOPRIO_WHO_PROCESS {
        threads[0].ioprio()
    } else {
        threads.iter().map(|t| t.ioprio()).reduce(best).unwrap_or(0)
    };
    Ok(u64::from(value))
}

pub async fn sys_ioprio_set(ctx: &mut Ctx<'_>, which: i32, who: i32, ioprio: i32) -> KResult<u64> {
    let value = ioprio as u32 & 0xffff;
    let class = (value >> IOPRIO_CLASS_SHIFT) & 0x7;
    let level = value & ((1 << IOPRIO_CLASS_SHIFT) - 1);
    let me = ctx.process().cred.lock().clone();
    match class {
        IOPRIO_CLASS_RT => {
            if !me.capable(CAP_SYS_NICE) && !me.capable(CAP_SYS_ADMIN) {
                return Err(Errno::EPERM);
            }
            if level >= IOPRIO_NR_LEVELS {
                return Err(Errno::EINVAL);
            }
        }
        IOPRIO_CLASS_BE if level >= IOPRIO_NR_LEVELS => return Err(Errno::EINVAL),
        IOPRIO_CLASS_BE | IOPRIO_CLASS_IDLE => {}
        IOPRIO_CLASS_NONE if level != 0 => return Err(Errno::EINVAL),
        IOPRIO_CLASS_NONE => {}
        _ => return Err(Errno::EINVAL),
    }
    let threads = targets(ctx, which, who)?;
    for t in threads {
        // Another user's thread: CAP_SYS_NICE (Linux's set_task_ioprio).
        let owner = t.process.cred.lock().uid;
        if owner != me.uid && owner != me.euid && !me.capable(CAP_SYS_NICE) {
            return Err(Errno::EPERM);
        }
        t.set_ioprio(value);
    }
    Ok(0)
}
