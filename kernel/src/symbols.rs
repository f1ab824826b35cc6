//! Kernel symbol names for backtraces.
//!
//! xtask writes `nm -n -C` output of the kernel ELF (`ADDRESS TYPE NAME` per line,
//! sorted by address) and passes it as the boot module named `symbols`. The kernel
//! reads it in place, without allocating, so it works on the panic path.

static TABLE: spin::Once<&'static [u8]> = spin::Once::new();

/// Remembers where the symbol module is (it stays reserved for the kernel's life).
pub fn init(bytes: &'static [u8]) {
    TABLE.call_once(|| bytes);
}

fn table() -> &'static [u8] {
    TABLE.get().copied().unwrap_or_default()
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
