//! Kernel symbol names for backtraces.
//!
//! xtask writes `nm -n -C` output of the kernel ELF (`ADDRESS TYPE NAME` per line,
//! sorted by address) and passes it as the boot module named `symbols`. The kernel
//! reads it in place, without allocating, so it works on the panic path.

use core::sync::atomic::{AtomicU64, Ordering};

static START: AtomicU64 = AtomicU64::new(0);
static LEN: AtomicU64 = AtomicU64::new(0);

/// Remembers where the symbol module is (it stays reserved for the kernel's life).
pub fn init(bytes: &'static [u8]) {
    START.store(bytes.as_ptr() as u64, Ordering::Relaxed);
    LEN.store(bytes.len() as u64, Ordering::Relaxed);
}

fn table() -> &'static [u8] {
    let (start, len) = (START.load(Ordering::Relaxed), LEN.load(Ordering::Relaxed));
    if start == 0 {
        return &[];
    }
    // SAFETY: set by `init` from a 'static slice.
    unsafe { core::slice::from_raw_parts(start as *const u8, len as usize) }
}

fn parse_line(line: &[u8]) -> Option<(u64, &str)> {
    let line = core::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    let addr = u64::from_str_radix(parts.next()?, 16).ok()?;
    let kind = parts.next()?;
    if !matches!(kind, "T" | "t" | "W" | "w") {
        return None;
    }
    Some((addr, parts.next()?.trim_end()))
}

/// The function containing `addr`: its name and the offset into it.
pub fn lookup(addr: u64) -> Option<(&'static str, u64)> {
    let mut best = None;
    for line in table().split(|&b| b == b'\n') {
        if let Some((a, name)) = parse_line(line) {
            if a > addr {
                break;
            }
            best = Some((name, addr - a));
        }
    }
    best
}
