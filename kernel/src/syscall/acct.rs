//! BSD process accounting: acct(2) names a file, and every process that ends
//! appends a `struct acct_v3` record to it (what `lastcomm` and `sa` read), as
//! Linux with CONFIG_BSD_PROCESS_ACCT_V3 writes them.
//!
//! The record is written by the process's last thread before the process
//! becomes a zombie, so a parent's wait returns after it is in the file. One
//! accounting file for the whole system (Linux keeps one per pid namespace).
//! Accounting pauses while the file's file system has less than 2 % of its
//! space free and resumes at 4 %, as Linux's does.

use alloc::sync::Arc;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::OpenFile;

use super::Ctx;
use super::args::*;
use crate::process::Process;

/// The accounting file, and whether writing is paused for want of space.
struct Acct {
    file: Arc<OpenFile>,
    paused: bool,
}

static ACCT: spin::Mutex<Option<Acct>> = spin::Mutex::new(None);

/// Whether an accounting file is set (a process's exit asks first).
pub fn enabled() -> bool {
    ACCT.lock().is_some()
}

/// The first byte of a record: how the process ended.
const AFORK: u8 = 0x01;
const ASU: u8 = 0x02;
const ACORE: u8 = 0x08;
const AXSIG: u8 = 0x10;
/// `struct acct_v3` is version 3 (little-endian: no 0x80 bit).
const ACCT_VERSION: u8 = 3;
/// Ticks per second of the record's times (Linux's AHZ, USER_HZ).
const AHZ: u64 = 100;

/// acct(2): `name` becomes the accounting file (opened for appending; a file
/// that is not regular is EACCES), or with NULL accounting stops. Needs
/// CAP_SYS_PACCT before anything else (EPERM).
pub async fn sys_acct(ctx: &mut Ctx<'_>, name: UserCStr) -> KResult<u64> {
    if !ctx.capable(kestrel_abi::cap::CAP_SYS_PACCT) {
        return Err(Errno::EPERM);
    }
    if name.is_null() {
        drop(ACCT.lock().take());
        return Ok(0);
    }
    let path = ctx.read_path(name)?;
    let file = super::fs::open_file_at(ctx, AT_FDCWD, &path, O_WRONLY | O_APPEND, 0).await?;
    if !file.metadata()?.is_regular() {
        return Err(Errno::EACCES);
    }
    let old = ACCT.lock().replace(Acct {
        file,
        paused: false,
    });
    drop(old);
    Ok(0)
}

/// Linux's comp_t: a 13-bit mantissa and a 3-bit base-8 exponent, rounded.
fn comp_t(mut v: u64) -> u16 {
    let mut exp = 0u16;
    let mut round = false;
    while v > 0x1fff {
        round = v & 4 != 0;
        v >>= 3;
        exp += 1;
    }
    if round {
        v += 1;
        if v > 0x1fff {
            v >>= 3;
            exp += 1;
        }
    }
    if exp > 7 {
        return 0xffff;
    }
    (exp << 13) | v as u16
}

/// The 64-byte `struct acct_v3` for `p`, ended with wait status `wstatus`.
fn record(p: &Process, comm: &[u8], wstatus: u32) -> [u8; 64] {
    let mut r = [0u8; 64];
    let mut flag = 0;
    if !p.did_exec.load(core::sync::atomic::Ordering::Relaxed) {
        flag |= AFORK;
    }
    let (uid, gid, euid) = {
        let c = p.cred.lock();
        (c.uid, c.gid, c.euid)
    };
    if euid == 0 {
        flag |= ASU;
    }
    if wstatus & 0x7f != 0 {
        flag |= AXSIG;
    }
    if wstatus & 0x80 != 0 {
        flag |= ACORE;
    }
    let now = crate::time::now_ns();
    let elapsed = now.saturating_sub(p.start_ns);
    let btime = crate::time::realtime_ns().saturating_sub(elapsed) / 1_000_000_000;
    let ticks = |ns: u64| ns / (1_000_000_000 / AHZ);
    let (utime, stime) = p.cpu_time();
    r[0] = flag;
    r[1] = ACCT_VERSION;
    // r[2..4]: ac_tty, 0 (no controlling terminal recorded).
    r[4..8].copy_from_slice(&wstatus.to_le_bytes());
    r[8..12].copy_from_slice(&uid.to_le_bytes());
    r[12..16].copy_from_slice(&gid.to_le_bytes());
    r[16..20].copy_from_slice(&p.pid.to_le_bytes());
    r[20..24].copy_from_slice(&p.ppid().to_le_bytes());
    r[24..28].copy_from_slice(&(btime as u32).to_le_bytes());
    r[28..32].copy_from_slice(&(ticks(elapsed) as f32).to_le_bytes());
    r[32..34].copy_from_slice(&comp_t(ticks(utime)).to_le_bytes());
    r[34..36].copy_from_slice(&comp_t(ticks(stime)).to_le_bytes());
    // ac_mem: the largest resident set, KiB.
    r[36..38].copy_from_slice(&comp_t(p.sample_rss()).to_le_bytes());
    // ac_io, ac_rw, ac_minflt, ac_majflt, ac_swaps: not counted, 0.
    let n = comm.len().min(15);
    r[48..48 + n].copy_from_slice(&comm[..n]);
    r
}

/// Appends the record of `p` (its last thread `comm` ending with `wstatus`)
/// to the accounting file, if there is one and its file system has room.
pub async fn process_exited(p: &Process, comm: &[u8], wstatus: u32) {
    let Some(file) = ACCT.lock().as_ref().map(|a| a.file.clone()) else {
        return;
    };
    // Linux's check_free_space: below 2 % free the records stop, from 4 % on
    // they resume.
    if let Some(inode) = file.inode()
        && let Ok(st) = inode.statfs_async().await
        && st.f_blocks > 0
    {
        let free = st.f_bavail.saturating_mul(100) / st.f_blocks;
        let mut a = ACCT.lock();
        let Some(a) = a.as_mut().filter(|a| Arc::ptr_eq(&a.file, &file)) else {
            return;
        };
        if a.paused && free >= 4 {
            a.paused = false;
        } else if !a.paused && free < 2 {
            a.paused = true;
        }
        if a.paused {
            return;
        }
    }
    let rec = record(p, comm, wstatus);
    let _ = match file.write_async(None, &rec) {
        Some(io) => io.await,
        None => file.write(&rec),
    };
}
