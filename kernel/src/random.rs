//! Random bytes for getrandom(2), /dev/urandom and AT_RANDOM.
//!
//! A ChaCha20 generator (RFC 8439's block function) with fast key erasure: each
//! request takes keystream after a fresh 32-byte key, then replaces the key with
//! more keystream, so a later look at the state cannot recover earlier output.
//! The key is seeded at first use from RDRAND (when the CPU has it: QEMU's TCG
//! `-cpu max` does), the TSC and the wall clock, and stirred with more of them on
//! every request. A hardware source found later (virtio-rng) is read by a task
//! that mixes 32 bytes into the key at once and again every minute. Reads never
//! block, as /dev/urandom after boot.

use alloc::sync::Arc;

use crate::arch::cpu;

struct ChaCha {
    key: [u32; 8],
    /// Blocks generated since the last rekey (the block counter).
    counter: u32,
    /// Distinguishes calls (the nonce).
    nonce: u64,
    seeded: bool,
}

static STATE: spin::Mutex<ChaCha> = spin::Mutex::new(ChaCha {
    key: [0; 8],
    counter: 0,
    nonce: 0,
    seeded: false,
});

fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// One 64-byte ChaCha20 block with a 64-bit nonce (state words 14 and 15).
fn block(key: &[u32; 8], counter: u32, nonce: u64) -> [u8; 64] {
    block_words(key, counter, [0, nonce as u32, (nonce >> 32) as u32])
}

/// The ChaCha20 block function (RFC 8439, 2.3): key, block counter (word 12) and
/// nonce (words 13 to 15).
fn block_words(key: &[u32; 8], counter: u32, nonce: [u32; 3]) -> [u8; 64] {
    let init: [u32; 16] = [
        0x6170_7865,
        0x3320_646e,
        0x7962_2d32,
        0x6b20_6574,
        key[0],
        key[1],
        key[2],
        key[3],
        key[4],
        key[5],
        key[6],
        key[7],
        counter,
        nonce[0],
        nonce[1],
        nonce[2],
    ];
    let mut s = init;
    for _ in 0..10 {
        quarter(&mut s, 0, 4, 8, 12);
        quarter(&mut s, 1, 5, 9, 13);
        quarter(&mut s, 2, 6, 10, 14);
        quarter(&mut s, 3, 7, 11, 15);
        quarter(&mut s, 0, 5, 10, 15);
        quarter(&mut s, 1, 6, 11, 12);
        quarter(&mut s, 2, 7, 8, 13);
        quarter(&mut s, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for (i, w) in s.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.wrapping_add(init[i]).to_le_bytes());
    }
    out
}

impl ChaCha {
    /// Folds `input` into the key: key' = first half of block(key ^ input).
    fn stir(&mut self, input: &[u8]) {
        for (i, chunk) in input.chunks(4).enumerate() {
            let mut w = [0u8; 4];
            w[..chunk.len()].copy_from_slice(chunk);
            self.key[i % 8] ^= u32::from_le_bytes(w);
        }
        self.nonce = self.nonce.wrapping_add(1);
        self.rekey();
    }

    /// Replaces the key with fresh keystream (fast key erasure).
    fn rekey(&mut self) {
        let b = block(&self.key, u32::MAX, self.nonce);
        for (i, k) in self.key.iter_mut().enumerate() {
            *k = u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        }
        self.counter = 0;
    }

    /// What the machine offers now: RDRAND (if any), the TSC, the wall clock.
    fn machine_noise(&mut self) {
        let mut noise = [0u8; 32];
        for (i, chunk) in noise.chunks_mut(8).enumerate() {
            let v = cpu::rdrand().unwrap_or(0)
                ^ cpu::rdtsc().rotate_left(i as u32 * 13)
                ^ crate::time::realtime_ns().rotate_left(29);
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        self.stir(&noise);
    }

    fn fill(&mut self, buf: &mut [u8]) {
        if !self.seeded {
            self.machine_noise();
            self.seeded = true;
        }
        // A little fresh noise per call: a snapshot of the state is not enough to
        // predict the next call.
        self.stir(&cpu::rdtsc().to_le_bytes());
        for chunk in buf.chunks_mut(64) {
            let b = block(&self.key, self.counter, self.nonce);
            self.counter = self.counter.wrapping_add(1);
            chunk.copy_from_slice(&b[..chunk.len()]);
            if self.counter == u32::MAX - 1 {
                self.rekey();
            }
        }
        self.rekey();
    }
}

/// Fills `buf` with random bytes (at most a few KiB per call are expected; the
/// lock is held while they are made).
pub fn fill(buf: &mut [u8]) {
    STATE.lock().fill(buf);
}

/// Mixes `bytes` (from a hardware source) into the generator.
pub fn add_entropy(bytes: &[u8]) {
    let mut s = STATE.lock();
    s.stir(bytes);
    s.seeded = true;
}

/// A hardware random source was registered: a task reads 32 bytes from it into
/// the generator now and every minute after.
pub fn hardware_source_arrived() {
    let Some(source) = crate::drivers::entropy_source() else {
        return;
    };
    crate::task::spawn("hwrng-feed", feed(source)).detach();
}

async fn feed(source: Arc<dyn kestrel_driver_kit::EntropySource>) {
    loop {
        let mut buf = [0u8; 32];
        let mut got = 0;
        while got < buf.len() {
            match source.read(&mut buf[got..]).await {
                Ok(n) if n > 0 => got += n,
                _ => break,
            }
        }
        if got > 0 {
            add_entropy(&buf[..got]);
        }
        crate::task::sleep(60_000_000_000).await;
    }
}

crate::ktest!(chacha20_block_matches_rfc_8439, async {
    // RFC 8439, 2.3.2: key 00 01 .. 1f, counter 1, nonce 00:00:00:09:00:00:00:4a:00:00:00:00.
    let key: [u32; 8] = core::array::from_fn(|i| {
        let b = 4 * i as u8;
        u32::from_le_bytes([b, b + 1, b + 2, b + 3])
    });
    let out = block_words(&key, 1, [0x0900_0000, 0x4a00_0000, 0]);
    let want: [u8; 16] = [
        0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71,
        0xc4,
    ];
    crate::kcheck!(out[..16] == want, "first 16 bytes {:02x?}", &out[..16]);
    crate::kcheck!(
        out[48..]
            == [
                0xb5, 0x12, 0x9c, 0xd1, 0xde, 0x16, 0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50,
                0x3c, 0x4e
            ],
        "last 16 bytes {:02x?}",
        &out[48..]
    );
    Ok(())
});

crate::ktest!(random_fills_differ, async {
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    fill(&mut a);
    fill(&mut b);
    crate::kcheck!(
        a != b && a != [0; 32],
        "two fills gave {a:02x?} and {b:02x?}"
    );
    Ok(())
});
