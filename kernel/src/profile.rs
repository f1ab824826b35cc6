//! A sampling profiler: what `cargo xtask profile` turns into a flame graph.
//!
//! With `kestrel.profile=HZ`, every CPU's timer interrupt comes at least HZ
//! times a second while the CPU is busy, and each one records a sample: in
//! kernel mode, the interrupted instruction and the kernel's frame-pointer chain
//! (the kernel is built with frame pointers); in user mode, the user instruction
//! and the user frame-pointer chain as far as the program keeps one (read from
//! the thread's own task, where touching user memory is allowed). Samples go to
//! a ring per CPU, a slot claimed with one atomic add; a full ring drops and
//! counts. When init exits the rings are printed between `KPROF BEGIN` and
//! `KPROF END`, addresses in hex, for xtask to name and fold.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::arch::percpu;
use crate::process::Thread;
use crate::task::MAX_CPUS;

/// Samples each CPU keeps.
const RING: usize = 8192;
/// Frames kept per sample, kernel and user.
const KFRAMES: usize = 24;
const UFRAMES: usize = 16;
/// Words per sample: ids, lengths, then the frames.
const WORDS: usize = 2 + KFRAMES + UFRAMES;

/// Nanoseconds between samples (0: off).
static PERIOD_NS: AtomicU64 = AtomicU64::new(0);

struct Ring {
    words: Box<[AtomicU64]>,
    head: AtomicUsize,
    dropped: AtomicU64,
}

static RINGS: spin::Once<Vec<Ring>> = spin::Once::new();

/// The sampling period, or 0 when the profiler is off.
#[inline]
pub fn period_ns() -> u64 {
    PERIOD_NS.load(Ordering::Relaxed)
}

/// Starts sampling at `hz` on `cpus` CPUs.
pub fn start(hz: u32, cpus: usize) {
    if hz == 0 {
        return;
    }
    RINGS.call_once(|| {
        (0..cpus.clamp(1, MAX_CPUS))
            .map(|_| Ring {
                words: (0..RING * WORDS).map(|_| AtomicU64::new(0)).collect(),
                head: AtomicUsize::new(0),
                dropped: AtomicU64::new(0),
            })
            .collect()
    });
    PERIOD_NS.store(
        1_000_000_000 / u64::from(hz.clamp(1, 10_000)),
        Ordering::Release,
    );
    log::info!("profile: sampling at {hz} Hz");
}

/// Stores one sample on this CPU.
fn store(pid_tid: u64, kernel: &[u64], user: &[u64]) {
    let cpu = percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize;
    let Some(ring) = RINGS.get().and_then(|r| r.get(cpu)) else {
        return;
    };
    let i = ring.head.fetch_add(1, Ordering::Relaxed);
    if i >= RING {
        ring.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let w = &ring.words[i * WORDS..(i + 1) * WORDS];
    let (k, u) = (kernel.len().min(KFRAMES), user.len().min(UFRAMES));
    w[0].store(pid_tid, Ordering::Relaxed);
    for (slot, &a) in w[2..].iter().zip(&kernel[..k]) {
        slot.store(a, Ordering::Relaxed);
    }
    for (slot, &a) in w[2 + KFRAMES..].iter().zip(&user[..u]) {
        slot.store(a, Ordering::Relaxed);
    }
    // Written last: a sample with lengths is complete.
    w[1].store(((k as u64) << 8 | u as u64) | 1 << 32, Ordering::Release);
}

/// The timer interrupt arrived in kernel mode at `rip`, frame pointer `rbp`.
pub fn kernel_tick(rip: u64, rbp: u64) {
    if period_ns() == 0 {
        return;
    }
    let mut frames = [0u64; KFRAMES];
    frames[0] = rip;
    let mut n = 1;
    crate::arch::backtrace::walk(rbp, KFRAMES - 1, |ret| {
        frames[n] = ret;
        n += 1;
    });
    // Which thread, if the CPU is polling one (not waiting for the lock: an
    // interrupt must never spin on a lock its own CPU may hold).
    let who = crate::process::try_current_thread()
        .map_or(0, |t| u64::from(t.process.pid) << 32 | u64::from(t.tid()));
    store(who, &frames[..n], &[]);
}

/// The timer interrupt arrived in user mode: `thread` at `rip` with frame
/// pointer `rbp` (called from the thread's task).
pub fn user_tick(thread: &Thread, rip: u64, rbp: u64) {
    if period_ns() == 0 {
        return;
    }
    let mut frames = [0u64; UFRAMES];
    frames[0] = rip;
    let mut n = 1;
    let mm = thread.process.mm();
    let mut fp = rbp;
    while n < UFRAMES && fp != 0 && fp.is_multiple_of(8) {
        // [fp] = the caller's frame pointer, [fp + 8] = the return address.
        let Ok(pair) = mm.read(kestrel_usermem::UserPtr::<[u64; 2]>::new(fp)) else {
            break;
        };
        if pair[1] == 0 || pair[0] <= fp {
            break;
        }
        frames[n] = pair[1];
        n += 1;
        fp = pair[0];
    }
    let who = u64::from(thread.process.pid) << 32 | u64::from(thread.tid());
    store(who, &[], &frames[..n]);
}

/// Stops sampling and prints every CPU's samples.
pub fn dump() {
    let period = PERIOD_NS.swap(0, Ordering::AcqRel);
    if period == 0 {
        return;
    }
    let Some(rings) = RINGS.get() else { return };
    crate::println!("KPROF BEGIN {} hz", 1_000_000_000 / period);
    for (pid, tid, comm) in crate::trace::comms() {
        let comm = alloc::string::String::from_utf8_lossy(&comm);
        crate::println!("KPROF comm {pid} {tid} {comm}");
    }
    for (cpu, ring) in rings.iter().enumerate() {
        let n = ring.head.load(Ordering::Acquire).min(RING);
        for i in 0..n {
            let w = &ring.words[i * WORDS..(i + 1) * WORDS];
            let lens = w[1].load(Ordering::Acquire);
            if lens >> 32 == 0 {
                continue; // claimed, not written
            }
            let (k, u) = (((lens >> 8) & 0xff) as usize, (lens & 0xff) as usize);
            let who = w[0].load(Ordering::Relaxed);
            let mut line = alloc::format!("KPROF s {cpu} {} {} k", who >> 32, who as u32);
            for a in &w[2..2 + k] {
                line.push_str(&alloc::format!(" {:x}", a.load(Ordering::Relaxed)));
            }
            line.push_str(" u");
            for a in &w[2 + KFRAMES..2 + KFRAMES + u] {
                line.push_str(&alloc::format!(" {:x}", a.load(Ordering::Relaxed)));
            }
            crate::println!("{line}");
        }
        crate::println!(
            "KPROF dropped {cpu} {}",
            ring.dropped.load(Ordering::Relaxed)
        );
    }
    crate::println!("KPROF END");
}
