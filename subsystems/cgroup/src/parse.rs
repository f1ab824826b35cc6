//! Numbers as Linux's cgroup files take them: `strstrip`, `kstrtoint` and
//! friends (base 0: `0x` hex, a leading `0` octal), and `memparse` (a size
//! with an optional K, M, G, T, P or E suffix).

use kestrel_abi::{Errno, KResult};

/// Linux's `isspace` for the bytes `strstrip` removes.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Leading and trailing white space removed (Linux's `strstrip`).
pub fn strip(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// The radix of a base-0 number and the digits after its prefix.
fn radix(s: &[u8]) -> (u32, &[u8]) {
    if (s.starts_with(b"0x") || s.starts_with(b"0X")) && s.len() > 2 && s[2].is_ascii_hexdigit() {
        (16, &s[2..])
    } else if s.starts_with(b"0") && s.len() > 1 {
        (8, &s[1..])
    } else {
        (10, s)
    }
}

/// Linux's `kstrtoull(s, 0)`: the whole string (one trailing newline
/// allowed) is an unsigned number; EINVAL if not, ERANGE past u64.
pub fn kstrtoull(s: &[u8]) -> KResult<u64> {
    let s = s.strip_prefix(b"+").unwrap_or(s);
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    let (base, digits) = radix(s);
    if digits.is_empty() {
        return Err(Errno::EINVAL);
    }
    let mut v: u64 = 0;
    let mut overflow = false;
    for &b in digits {
        let d = (b as char).to_digit(base).ok_or(Errno::EINVAL)?;
        match v
            .checked_mul(u64::from(base))
            .and_then(|x| x.checked_add(u64::from(d)))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
    }
    if overflow { Err(Errno::ERANGE) } else { Ok(v) }
}

/// Linux's `kstrtoll(s, 0)`.
pub fn kstrtoll(s: &[u8]) -> KResult<i64> {
    if let Some(rest) = s.strip_prefix(b"-") {
        let v = kstrtoull(rest)?;
        if v > i64::MAX as u64 + 1 {
            return Err(Errno::ERANGE);
        }
        Ok((v as i64).wrapping_neg())
    } else {
        let v = kstrtoull(s)?;
        i64::try_from(v).map_err(|_| Errno::ERANGE)
    }
}

/// Linux's `kstrtoint(s, 0)`.
pub fn kstrtoint(s: &[u8]) -> KResult<i32> {
    let v = kstrtoll(s)?;
    i32::try_from(v).map_err(|_| Errno::ERANGE)
}

/// Linux's `memparse`: a number (base 0) and an optional size suffix; the
/// bytes not taken are returned with it (the caller decides whether any may
/// remain). Nothing at all parses as 0, as `simple_strtoull` answers.
pub fn memparse(s: &[u8]) -> (u64, &[u8]) {
    let (base, digits) = radix(s);
    let mut v: u64 = 0;
    let mut i = 0;
    while let Some(d) = digits.get(i).and_then(|&b| (b as char).to_digit(base)) {
        v = v.wrapping_mul(u64::from(base)).wrapping_add(u64::from(d));
        i += 1;
    }
    // "0x" with no hex digit after it is the number 0 followed by "x...".
    let mut rest = &digits[i..];
    let shift = match rest.first() {
        Some(b'E' | b'e') => 60,
        Some(b'P' | b'p') => 50,
        Some(b'T' | b't') => 40,
        Some(b'G' | b'g') => 30,
        Some(b'M' | b'm') => 20,
        Some(b'K' | b'k') => 10,
        _ => 0,
    };
    if shift != 0 {
        v = v.wrapping_shl(shift);
        rest = &rest[1..];
    }
    (v, rest)
}

/// The largest page count a page counter holds (Linux's PAGE_COUNTER_MAX on
/// 64-bit machines: LONG_MAX / PAGE_SIZE); it reads as "max".
pub const PAGE_COUNTER_MAX: u64 = i64::MAX as u64 / 4096;

/// Linux's `page_counter_memparse` with "max": a byte count, rounded down to
/// pages (the count returned), or [`PAGE_COUNTER_MAX`]; EINVAL for anything
/// after the number and its suffix.
pub fn page_counter_memparse(s: &[u8]) -> KResult<u64> {
    if s == b"max" {
        return Ok(PAGE_COUNTER_MAX);
    }
    let (bytes, rest) = memparse(s);
    if !rest.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok((bytes / 4096).min(PAGE_COUNTER_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_kstrto_does() {
        assert_eq!(kstrtoint(b"12"), Ok(12));
        assert_eq!(kstrtoint(b"0x10"), Ok(16));
        assert_eq!(kstrtoint(b"010"), Ok(8));
        assert_eq!(kstrtoint(b"-3"), Ok(-3));
        assert_eq!(kstrtoint(b"+3"), Ok(3));
        assert_eq!(kstrtoint(b"3\n"), Ok(3));
        assert_eq!(kstrtoint(b""), Err(Errno::EINVAL));
        assert_eq!(kstrtoint(b"1a"), Err(Errno::EINVAL));
        assert_eq!(kstrtoint(b"08"), Err(Errno::EINVAL));
        assert_eq!(kstrtoint(b"3000000000"), Err(Errno::ERANGE));
        assert_eq!(kstrtoull(b"99999999999999999999"), Err(Errno::ERANGE));
        assert_eq!(kstrtoll(b"-9223372036854775808"), Ok(i64::MIN));
    }

    #[test]
    fn strip_removes_white_space_at_both_ends() {
        assert_eq!(strip(b"  +memory \n"), b"+memory");
        assert_eq!(strip(b"\n"), b"");
        assert_eq!(strip(b""), b"");
    }

    #[test]
    fn memory_sizes_take_suffixes_and_round_to_pages() {
        assert_eq!(page_counter_memparse(b"max"), Ok(PAGE_COUNTER_MAX));
        assert_eq!(page_counter_memparse(b"1M"), Ok(256));
        assert_eq!(page_counter_memparse(b"4097"), Ok(1));
        assert_eq!(page_counter_memparse(b"1k"), Ok(0));
        assert_eq!(page_counter_memparse(b""), Ok(0));
        assert_eq!(page_counter_memparse(b"-1"), Err(Errno::EINVAL));
        assert_eq!(page_counter_memparse(b"1MB"), Err(Errno::EINVAL));
        assert_eq!(page_counter_memparse(b"0x1000"), Ok(1));
        assert_eq!(page_counter_memparse(b"8E"), Ok(PAGE_COUNTER_MAX));
    }
}
