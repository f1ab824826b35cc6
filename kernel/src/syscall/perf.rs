//! perf_event_open(2): the checks, in Linux 6.x's order, then an event from
//! [`crate::perf`] on an anonymous-inode file.

use alloc::sync::Arc;

use kestrel_abi::cap::{CAP_PERFMON, CAP_SYS_ADMIN};
use kestrel_abi::fs::O_RDWR;
use kestrel_abi::perf::*;
use kestrel_abi::{Errno, KResult};

use super::Ctx;
use super::args::{Fd, Pid, UserPtr};
use crate::perf::{self, PerfFile};

/// CAP_PERFMON or CAP_SYS_ADMIN (Linux's perfmon_capable).
fn perfmon_capable(ctx: &Ctx<'_>) -> bool {
    ctx.capable(CAP_PERFMON) || ctx.capable(CAP_SYS_ADMIN)
}

fn paranoid() -> i32 {
    perf::PARANOID.load(core::sync::atomic::Ordering::Relaxed)
}

/// perf_allow_kernel: counting kernel-mode events needs paranoia 1 or less,
/// or CAP_PERFMON.
fn allow_kernel(ctx: &Ctx<'_>) -> KResult<()> {
    if paranoid() > 1 && !perfmon_capable(ctx) {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// The clocks use_clockid may name (Linux's perf_event_set_clock).
fn valid_clock(id: i32) -> bool {
    use kestrel_abi::time::*;
    matches!(
        id,
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_REALTIME | CLOCK_BOOTTIME | CLOCK_TAI
    )
}

/// What the PMU of `attr.type` says of the event (Linux's perf_init_event):
/// only software events exist. Hardware, cache and raw events have no PMU on
/// a machine without one (ENOENT); there are no tracepoints (no tracefs:
/// ENOENT, as a kernel without event tracing) and no dynamic PMUs.
fn init_event(attr: &Attr) -> KResult<()> {
    match attr.type_ {
        PERF_TYPE_SOFTWARE => {
            if attr.config >= PERF_COUNT_SW_MAX {
                return Err(Errno::ENOENT);
            }
            // No branch sampling for software events.
            if attr.sample_type & PERF_SAMPLE_BRANCH_STACK != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            Ok(())
        }
        // Breakpoint events are not built (see the table's note).
        PERF_TYPE_BREAKPOINT => Err(Errno::EINVAL),
        _ => Err(Errno::ENOENT),
    }
}

pub async fn sys_perf_event_open(
    ctx: &mut Ctx<'_>,
    attr_ptr: UserPtr<u8>,
    pid: Pid,
    cpu: i32,
    group_fd: Fd,
    flags: u64,
) -> KResult<u64> {
    if flags & !PERF_FLAG_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let (attr, branch_kernel) = perf::copy_attr(&*ctx.mm(), attr_ptr.addr())?;
    if branch_kernel {
        allow_kernel(ctx)?;
    }
    if !attr.has(flag::EXCLUDE_KERNEL) {
        allow_kernel(ctx)?;
    }
    if attr.has(flag::NAMESPACES) && !perfmon_capable(ctx) {
        return Err(Errno::EACCES);
    }
    if attr.has(flag::FREQ) {
        if attr.sample_period > perf::MAX_SAMPLE_RATE {
            return Err(Errno::EINVAL);
        }
    } else if attr.sample_period & (1 << 63) != 0 {
        return Err(Errno::EINVAL);
    }
    if attr.sample_type & PERF_SAMPLE_PHYS_ADDR != 0 {
        allow_kernel(ctx)?;
    }
    let cgroup = flags & PERF_FLAG_PID_CGROUP != 0;
    if cgroup && (pid == -1 || cpu == -1) {
        return Err(Errno::EINVAL);
    }
    // A descriptor must be free before anything is looked up (get_unused_fd).
    let limit = ctx.process().nofile();
    ctx.process().files().lock().lowest_free(0, limit)?;
    let mut leader = None;
    let mut output = None;
    if group_fd != -1 {
        let f = ctx.file(group_fd)?;
        let g = PerfFile::of(&f).ok_or(Errno::EBADF)?.clone();
        if flags & PERF_FLAG_FD_OUTPUT != 0 {
            output = Some(g.clone());
        }
        if flags & PERF_FLAG_FD_NO_GROUP == 0 {
            leader = Some(g);
        }
    }
    let target = if pid != -1 && !cgroup {
        let t = match pid {
            0 => ctx.thread.clone(),
            p => u32::try_from(p)
                .ok()
                .and_then(crate::process::find_thread)
                .filter(|t| !t.should_exit())
                .ok_or(Errno::ESRCH)?,
        };
        Some(t)
    } else {
        None
    };
    if target.is_some()
        && let Some(l) = &leader
        && l.attr.has(flag::INHERIT) != attr.has(flag::INHERIT)
    {
        return Err(Errno::EINVAL);
    }
    // perf_event_alloc.
    let ncpus = crate::arch::percpu::online();
    if (cpu as u32 as usize) >= ncpus && (target.is_none() || cpu != -1) {
        return Err(Errno::EINVAL);
    }
    if attr.has(flag::SIGTRAP) && target.is_none() {
        return Err(Errno::EINVAL);
    }
    if attr.has(flag::INHERIT) && attr.sample_type & PERF_SAMPLE_READ != 0 {
        return Err(Errno::EINVAL);
    }
    init_event(&attr)?;
    if cgroup {
        // No perf_event cgroup controller (a kernel without CONFIG_CGROUP_PERF).
        return Err(Errno::EINVAL);
    }
    // What Kestrel cannot sample (clocks, frequencies, some sample fields)
    // it refuses as a PMU without an interrupt does.
    if attr.sampling() && !perf::can_sample(&attr, target.is_some()) {
        return Err(Errno::EOPNOTSUPP);
    }
    if attr.has(flag::USE_CLOCKID) && !valid_clock(attr.clockid) {
        return Err(Errno::EINVAL);
    }
    if let Some(t) = &target
        && !super::ptrace::may_access(ctx.process(), &t.process)
    {
        return Err(Errno::EACCES);
    }
    // find_get_context: a CPU's events need privilege at paranoia above 0.
    if target.is_none() && paranoid() > 0 && !perfmon_capable(ctx) {
        return Err(Errno::EACCES);
    }
    if let Some(l) = &leader {
        perf::check_group(l, &attr, cpu, target.as_ref().map(|t| t.tid()))?;
    }
    let event = perf::open(attr, cpu, target.as_ref(), leader, ctx.thread);
    if let Some(out) = &output
        && let Err(e) = perf::check_output(&event, out)
    {
        // Dropping the file takes the event apart again.
        drop(PerfFile { event });
        return Err(e);
    }
    let file = crate::fs::anon::anon_file(Arc::new(PerfFile { event }), O_RDWR);
    ctx.install(file, flags & PERF_FLAG_FD_CLOEXEC != 0)
        .map(|fd| fd as u64)
}
