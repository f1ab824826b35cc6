//! Core dumps: when a signal whose default action is to dump core kills a
//! process, the thread that took it writes an ELF core file before the process
//! exits, as Linux's do_coredump does.
//!
//! The file is named by /proc/sys/kernel/core_pattern (default "core", relative
//! to the process's working directory; `%` specifiers expanded, ".PID" appended
//! when /proc/sys/kernel/core_uses_pid is set and the pattern has no `%p`). A
//! pattern starting with '|' would pipe to a helper program, which Kestrel does
//! not start: then no core is written. Nothing is written either when RLIMIT_CORE
//! is below a page or the process is not dumpable (PR_SET_DUMPABLE 0).
//!
//! The layout (notes, one PT_LOAD per area, which areas' bytes go in as
//! /proc/PID/coredump_filter and MADV_DONTDUMP say) comes from
//! [`kestrel_exec::coredump`]; here the dying thread gathers its registers, ids
//! and memory and writes them with the file's ordinary async writes, a page at a
//! time, stopping at RLIMIT_CORE. As on Linux, the wait status's core bit says a
//! core file was made, even when the limit cut it short.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use kestrel_abi::KResult;
use kestrel_abi::fs::{AT_FDCWD, O_CREAT, O_EXCL, O_LARGEFILE, O_NOFOLLOW, O_RDWR};
use kestrel_abi::process::RLIMIT_CORE;
use kestrel_abi::signal::Siginfo;
use kestrel_exec::coredump::{
    self, Area, MIN_CORE_LIMIT, NGREG, NT_AUXV, NT_PRFPREG, NT_PRPSINFO, NT_PRSTATUS, NT_SIGINFO,
    Note, PF_R, PF_W, PF_X, PatternFields, PrPsInfo, PrStatus,
};
use kestrel_vfs::OpenFile;

use super::Ctx;
use crate::arch::gdt::{USER_CS, USER_DS};
use crate::arch::trap::UserContext;
use crate::process::Thread;

/// Longest core_pattern kept (Linux's CORENAME_MAX_SIZE, with its NUL).
pub const CORE_PATTERN_MAX: usize = 128;

/// /proc/sys/kernel/core_pattern.
static CORE_PATTERN: spin::Mutex<Vec<u8>> = spin::Mutex::new(Vec::new());
/// Whether CORE_PATTERN was ever set (before that it reads "core").
static CORE_PATTERN_SET: AtomicBool = AtomicBool::new(false);
/// /proc/sys/kernel/core_uses_pid.
pub static CORE_USES_PID: AtomicBool = AtomicBool::new(false);

/// The core_pattern, as /proc/sys/kernel/core_pattern shows it (no newline).
pub fn core_pattern() -> Vec<u8> {
    if CORE_PATTERN_SET.load(Ordering::Acquire) {
        CORE_PATTERN.lock().clone()
    } else {
        b"core".to_vec()
    }
}

/// Sets the core_pattern from what was written to /proc/sys/kernel/core_pattern:
/// one trailing newline dropped, the rest cut at CORENAME_MAX_SIZE - 1 bytes, as
/// Linux's proc_dostring does.
pub fn set_core_pattern(data: &[u8]) {
    let v = data.strip_suffix(b"\n").unwrap_or(data);
    let v = &v[..v.len().min(CORE_PATTERN_MAX - 1)];
    *CORE_PATTERN.lock() = v.to_vec();
    CORE_PATTERN_SET.store(true, Ordering::Release);
}

/// /proc/PID/coredump_filter's default (Linux's MMF_DUMP_FILTER_DEFAULT):
/// anonymous private and shared memory, ELF headers, private huge pages.
pub const COREDUMP_FILTER_DEFAULT: u32 = 0x33;
/// The bits coredump_filter keeps (MMF_DUMP_FILTER_BITS).
pub const COREDUMP_FILTER_MASK: u32 = 0x1ff;

/// The registers as `struct user_regs_struct` lays them out.
fn gregs(c: &UserContext) -> [u64; NGREG] {
    let r = &c.regs;
    [
        r.r15,
        r.r14,
        r.r13,
        r.r12,
        r.rbp,
        r.rbx,
        r.r11,
        r.r10,
        r.r9,
        r.r8,
        r.rax,
        r.rcx,
        r.rdx,
        r.rsi,
        r.rdi,
        c.orig_rax,
        r.rip,
        u64::from(USER_CS),
        r.rflags,
        r.rsp,
        u64::from(USER_DS),
        c.fs_base,
        c.gs_base,
        0,
        0,
        0,
        0,
    ]
}

/// Writes a core file for `t`'s process, killed by the signal in `info` while
/// `t` ran with `regs`. Returns whether a core file was made (the wait status's
/// core bit). Called by the dying thread, the others already told to exit.
pub async fn dump(t: &Arc<Thread>, regs: &UserContext, info: &Siginfo) -> bool {
    let p = &t.process;
    let limit = p.rlimit(RLIMIT_CORE);
    if limit < MIN_CORE_LIMIT || !p.dumpable.load(Ordering::Relaxed) {
        return false;
    }
    let (uid, gid) = {
        let c = p.cred.lock();
        (c.uid, c.gid)
    };
    let comm = p.comm();
    let exe = p.exe.lock().as_ref().map(|d| d.path()).unwrap_or_default();
    let hostname = crate::uts::hostname();
    let sig = info.si_signo as u32;
    let fields = PatternFields {
        pid: p.pid,
        tid: t.tid(),
        uid,
        gid,
        signal: sig,
        time: crate::time::realtime_ns() / 1_000_000_000,
        hostname: &hostname,
        comm: &comm,
        exe: &exe,
        core_limit: limit,
        dumpable: 1,
    };
    let pattern = core_pattern();
    if pattern.first() == Some(&b'|') {
        return false;
    }
    let name = coredump::expand_pattern(&pattern, &fields, CORE_USES_PID.load(Ordering::Relaxed));
    if name.is_empty() {
        return false;
    }
    // The path is resolved as the process would, from its cwd and root.
    let mut regs_copy = regs.clone();
    let ctx = Ctx {
        thread: t,
        regs: &mut regs_copy,
        resolve: 0,
    };
    // An old core is replaced, never written through (a link or a file someone
    // else holds open): unlink it, then create exclusively.
    let _ = super::fs::unlink_at(&ctx, AT_FDCWD, &name).await;
    let flags = O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_LARGEFILE;
    let Ok(file) = super::fs::open_file_at(&ctx, AT_FDCWD, &name, flags, 0o600).await else {
        return false;
    };
    write_core(t, regs, info, &file, limit).await;
    true
}

/// The notes and memory of the core, written to `file` up to `limit` bytes.
async fn write_core(
    t: &Arc<Thread>,
    regs: &UserContext,
    info: &Siginfo,
    file: &Arc<OpenFile>,
    limit: u64,
) {
    let p = &t.process;
    let mm = p.mm();
    let (uid, gid) = {
        let c = p.cred.lock();
        (c.uid, c.gid)
    };
    let (utime, stime) = t.cpu.split();
    let pgrp = p.pgid.load(Ordering::Relaxed);
    let sid = p.sid.load(Ordering::Relaxed);
    let prstatus = PrStatus {
        signal: info.si_signo as u32,
        sigpend: crate::process::signal::pending_of(t),
        sighold: t.sigmask.load(Ordering::Relaxed),
        pid: t.tid(),
        ppid: p.ppid(),
        pgrp,
        sid,
        utime_us: utime / 1000,
        stime_us: stime / 1000,
        regs: gregs(regs),
        fpvalid: true,
    }
    .to_bytes();
    let (args, auxv) = {
        let e = p.exec_info.lock();
        (
            (e.arg_start, e.arg_end.saturating_sub(e.arg_start).min(80)),
            e.auxv
                .iter()
                .flat_map(|(k, v)| [k.to_le_bytes(), v.to_le_bytes()])
                .flatten()
                .collect::<Vec<u8>>(),
        )
    };
    let mut argbuf = vec![0u8; args.1 as usize];
    let n = mm.read_remote(args.0, &mut argbuf);
    argbuf.truncate(n);
    let comm = p.comm();
    let prpsinfo = PrPsInfo {
        nice: p.nice.load(Ordering::Relaxed) as i8,
        uid,
        gid,
        pid: p.pid,
        ppid: p.ppid(),
        pgrp,
        sid,
        fname: &comm,
        args: &argbuf,
    }
    .to_bytes();
    let siginfo = kestrel_abi::bytemuck_bytes(info).to_vec();
    let fpregs = super::ptrace::fpu_image(t);
    let fpregs = &fpregs[..fpregs.len().min(512)];
    let notes = [
        Note {
            kind: NT_PRSTATUS,
            desc: &prstatus,
        },
        Note {
            kind: NT_PRPSINFO,
            desc: &prpsinfo,
        },
        Note {
            kind: NT_SIGINFO,
            desc: &siginfo,
        },
        Note {
            kind: NT_AUXV,
            desc: &auxv,
        },
        Note {
            kind: NT_PRFPREG,
            desc: fpregs,
        },
    ];
    let filter = p.coredump_filter.load(Ordering::Relaxed);
    let found = mm.dump_areas(filter);
    let areas: Vec<Area> = found
        .iter()
        .map(|&(start, end, prot, dump, _)| Area {
            start,
            memsz: end - start,
            filesz: if dump { end - start } else { 0 },
            flags: prot_flags(prot),
        })
        .collect();
    let layout = coredump::layout(&notes, &areas);
    if write_capped(file, 0, &layout.header, limit).await.is_err() {
        return;
    }
    let mut page = vec![0u8; 4096];
    let page: &mut [u8; 4096] = page.as_mut_slice().try_into().expect("4096 bytes");
    let mut pages = 0u64;
    for ((a, &off), &(.., anonymous)) in areas.iter().zip(&layout.offsets).zip(&found) {
        if a.filesz == 0 {
            continue;
        }
        // Anonymous memory: only the pages that have a frame; the rest read as
        // zeros and stay holes in the file (a sparse area of any size costs
        // nothing). Other areas: every page, read as a debugger would.
        let mut chunk = a.start;
        while chunk < a.start + a.filesz {
            let chunk_end = (chunk + (2 << 20)).min(a.start + a.filesz);
            let list = if anonymous {
                mm.pages_with_frames(chunk, chunk_end)
            } else {
                (chunk..chunk_end).step_by(4096).collect()
            };
            for at in list {
                if !mm.read_page_for_dump(at, page) {
                    if anonymous {
                        continue;
                    }
                    page.fill(0);
                }
                if write_capped(file, off + (at - a.start), page, limit)
                    .await
                    .is_err()
                {
                    return;
                }
                pages += 1;
                if pages.is_multiple_of(64) {
                    kestrel_executor::yield_now().await;
                }
            }
            chunk = chunk_end;
            kestrel_executor::yield_now().await;
        }
    }
    // Holes at the end: the file still has the whole size the headers say
    // (Linux writes a last byte the same way).
    let size = file.inode().map_or(0, |i| i.metadata().size);
    if size < layout.size {
        let _ = write_capped(file, layout.size - 1, &[0], limit).await;
    }
}

fn prot_flags(prot: u32) -> u32 {
    use kestrel_abi::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};
    let mut f = 0;
    if prot & PROT_READ != 0 {
        f |= PF_R;
    }
    if prot & PROT_WRITE != 0 {
        f |= PF_W;
    }
    if prot & PROT_EXEC != 0 {
        f |= PF_X;
    }
    f
}

/// Writes `data` at `at`, all of it, unless that passes `limit` (then nothing,
/// and an error: the dump stops there, as Linux's dump_emit).
async fn write_capped(file: &OpenFile, at: u64, data: &[u8], limit: u64) -> KResult<()> {
    if at + data.len() as u64 > limit {
        return Err(kestrel_abi::Errno::EFBIG);
    }
    let mut done = 0;
    while done < data.len() {
        let pos = at + done as u64;
        let n = match file.write_async(Some(pos), &data[done..]) {
            Some(io) => io.await?,
            None => file.pwrite(pos, &data[done..])?,
        };
        if n == 0 {
            return Err(kestrel_abi::Errno::EIO);
        }
        done += n;
    }
    Ok(())
}
