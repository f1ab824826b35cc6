//! The vDSO image: the functions `linux-vdso.so.1` exports.
//!
//! This file is the root of its own crate, compiled by xtask (`cargo xtask` builds it
//! with `rustc --emit=obj -C relocation-model=pic` for `x86_64-unknown-none`) and
//! linked with `vdso.lds` and `vdso.ver`; it is not part of the `kestrel-vdso`
//! library. The image must be self-contained: no relocations, no imports, no
//! panics (a reference to core's panic machinery would be an undefined symbol, and
//! the link uses `--no-undefined`).
//!
//! Every function follows the kernel convention, as Linux's vDSO does: 0 or a
//! value on success, `-errno` on failure. libc wrappers turn that into errno.
//! Clocks the vvar page cannot serve (CPU clocks, unknown ids) fall back to the
//! real system call, so error handling stays the kernel's.
#![no_std]
#![allow(clippy::missing_safety_doc)]

#[path = "data.rs"]
#[allow(dead_code)]
mod data;

use core::arch::{asm, global_asm};

use data::{MODE_TSC, Snapshot, VvarData};

const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_MONOTONIC_RAW: i32 = 4;
const CLOCK_REALTIME_COARSE: i32 = 5;
const CLOCK_MONOTONIC_COARSE: i32 = 6;
const CLOCK_BOOTTIME: i32 = 7;
const CLOCK_TAI: i32 = 11;

const SYS_GETTIMEOFDAY: u64 = 96;
const SYS_TIME: u64 = 201;
const SYS_CLOCK_GETTIME: u64 = 228;
const SYS_CLOCK_GETRES: u64 = 229;
const SYS_GETCPU: u64 = 309;

/// The per-CPU GDT entry (index 15, RPL 3) whose limit is `cpu | node << 12`, as
/// in Linux: `lsl` reads it at user level without a system call.
const PER_CPU_SELECTOR: u32 = 15 * 8 + 3;

#[repr(C)]
pub struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

#[repr(C)]
pub struct Timeval {
    tv_sec: i64,
    tv_usec: i64,
}

#[repr(C)]
pub struct Timezone {
    tz_minuteswest: i32,
    tz_dsttime: i32,
}

/// The vvar page, mapped one page below the image's ELF header.
#[inline(always)]
fn vvar() -> &'static VvarData {
    let ehdr: usize;
    // SAFETY: a RIP-relative address computation; `__ehdr_start` is defined by the
    // linker at the image's first byte.
    unsafe { asm!("lea {}, [rip + __ehdr_start]", out(reg) ehdr, options(pure, nomem, nostack, preserves_flags)) };
    // SAFETY: the kernel maps the vvar page, read-only, right below the image for
    // as long as the image is mapped.
    unsafe { &*((ehdr - 4096) as *const VvarData) }
}

#[inline(always)]
fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: LFENCE orders the read after earlier loads (Linux's rdtsc_ordered),
    // RDTSC is allowed in user mode (CR4.TSD is clear
    // unless the thread chose PR_TSC_SIGSEGV: then it faults, as on Linux).
    unsafe { asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    u64::from(lo) | (u64::from(hi) << 32)
}

#[inline(always)]
unsafe fn syscall2(nr: u64, a: u64, b: u64) -> i64 {
    let ret: i64;
    // SAFETY: the caller passes arguments the kernel checks itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr as i64 => ret, in("rdi") a, in("rsi") b,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

#[inline(always)]
unsafe fn syscall3(nr: u64, a: u64, b: u64, c: u64) -> i64 {
    let ret: i64;
    // SAFETY: as for `syscall2`.
    unsafe {
        asm!("syscall", inlateout("rax") nr as i64 => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// The clock's value in ns from a snapshot, if the vvar page serves it.
#[inline(always)]
fn read_clock(s: &Snapshot, clk: i32) -> Option<u64> {
    if s.mode != MODE_TSC {
        return None;
    }
    match clk {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_TAI => Some(s.realtime_ns(rdtsc())),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            Some(s.monotonic_ns(rdtsc()))
        }
        _ => None,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vdso_clock_gettime(clk: i32, ts: *mut Timespec) -> i64 {
    match read_clock(&vvar().snapshot(), clk) {
        Some(ns) => {
            // SAFETY: like Linux's vDSO, a bad pointer faults in the caller.
            unsafe {
                (*ts).tv_sec = (ns / 1_000_000_000) as i64;
                (*ts).tv_nsec = (ns % 1_000_000_000) as i64;
            }
            0
        }
        // SAFETY: the kernel checks the arguments.
        None => unsafe { syscall2(SYS_CLOCK_GETTIME, clk as i64 as u64, ts as u64) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vdso_gettimeofday(tv: *mut Timeval, tz: *mut Timezone) -> i64 {
    let s = vvar().snapshot();
    if s.mode != MODE_TSC {
        // SAFETY: the kernel checks the arguments.
        return unsafe { syscall2(SYS_GETTIMEOFDAY, tv as u64, tz as u64) };
    }
    if !tv.is_null() {
        let ns = s.realtime_ns(rdtsc());
        // SAFETY: a non-null pointer is the caller's to give; a bad one faults.
        unsafe {
            (*tv).tv_sec = (ns / 1_000_000_000) as i64;
            (*tv).tv_usec = (ns % 1_000_000_000 / 1000) as i64;
        }
    }
    if !tz.is_null() {
        // SAFETY: as above.
        unsafe {
            (*tz).tz_minuteswest = s.tz_minuteswest;
            (*tz).tz_dsttime = s.tz_dsttime;
        }
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vdso_time(t: *mut i64) -> i64 {
    let s = vvar().snapshot();
    if s.mode != MODE_TSC {
        // SAFETY: the kernel checks the argument.
        return unsafe { syscall2(SYS_TIME, t as u64, 0) };
    }
    let secs = (s.realtime_ns(rdtsc()) / 1_000_000_000) as i64;
    if !t.is_null() {
        // SAFETY: as in gettimeofday.
        unsafe { *t = secs };
    }
    secs
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vdso_clock_getres(clk: i32, res: *mut Timespec) -> i64 {
    let s = vvar().snapshot();
    if read_clock(&s, clk).is_none() {
        // SAFETY: the kernel checks the arguments.
        return unsafe { syscall2(SYS_CLOCK_GETRES, clk as i64 as u64, res as u64) };
    }
    if !res.is_null() {
        // Every clock the vDSO serves reads the TSC: nanosecond resolution, as the
        // system call reports.
        // SAFETY: as in gettimeofday.
        unsafe {
            (*res).tv_sec = 0;
            (*res).tv_nsec = 1;
        }
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __vdso_getcpu(cpu: *mut u32, node: *mut u32, _cache: *mut u8) -> i64 {
    let limit: u32;
    let ok: u8;
    // SAFETY: LSL only reads the descriptor's limit; ZF says whether it could.
    unsafe {
        asm!("lsl {lim:e}, {sel:e}", "setz {ok}", lim = out(reg) limit, sel = in(reg) PER_CPU_SELECTOR,
             ok = out(reg_byte) ok, options(nomem, nostack));
    }
    if ok == 0 {
        // SAFETY: the kernel checks the arguments.
        return unsafe { syscall3(SYS_GETCPU, cpu as u64, node as u64, 0) };
    }
    // SAFETY: non-null pointers are the caller's; a bad one faults, as in Linux.
    unsafe {
        if !cpu.is_null() {
            *cpu = limit & 0xfff;
        }
        if !node.is_null() {
            *node = limit >> 12;
        }
    }
    0
}

// The names without the prefix, as Linux's vDSO also exports them (weak).
global_asm!(
    ".weak clock_gettime",
    ".set clock_gettime, __vdso_clock_gettime",
    ".weak gettimeofday",
    ".set gettimeofday, __vdso_gettimeofday",
    ".weak time",
    ".set time, __vdso_time",
    ".weak clock_getres",
    ".set clock_getres, __vdso_clock_getres",
    ".weak getcpu",
    ".set getcpu, __vdso_getcpu",
);

// The ELF note that says which Linux this vDSO belongs to (LINUX_VERSION_CODE of
// the release uname reports, 6.8.0).
global_asm!(
    ".pushsection .note.Linux, \"a\", @note",
    ".balign 4",
    ".long 6",
    ".long 4",
    ".long 0",
    ".asciz \"Linux\"",
    ".balign 4",
    ".long 0x060800",
    ".popsection",
);
