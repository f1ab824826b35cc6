//! Random bytes for getrandom(2), /dev/urandom and AT_RANDOM.
//!
//! RDRAND when the CPU has it (QEMU's TCG `-cpu max` does); otherwise a SplitMix64
//! generator seeded from the TSC and the wall clock. Neither blocks, like
//! /dev/urandom after boot.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu;

static STATE: AtomicU64 = AtomicU64::new(0);

fn rdrand() -> Option<u64> {
    cpu::rdrand()
}

fn splitmix() -> u64 {
    if STATE.load(Ordering::Relaxed) == 0 {
        STATE.store(
            cpu::rdtsc() ^ crate::time::realtime_ns().rotate_left(17) | 1,
            Ordering::Relaxed,
        );
    }
    let mut z = STATE
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random 64-bit value.
pub fn u64() -> u64 {
    rdrand().unwrap_or_else(splitmix)
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let v = u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}
