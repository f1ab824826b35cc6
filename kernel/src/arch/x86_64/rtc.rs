//! The CMOS real-time clock: wall-clock time, read once at boot.

use super::port::{inb, outb};

fn cmos(reg: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 are the CMOS index/data pair; bit 7 of the index keeps
    // NMIs enabled state as is (we leave it 0, NMIs enabled).
    unsafe {
        outb(0x70, reg);
        inb(0x71)
    }
}

fn updating() -> bool {
    cmos(0x0a) & 0x80 != 0
}

/// The fields as stored (possibly BCD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Raw {
    sec: u8,
    min: u8,
    hour: u8,
    day: u8,
    month: u8,
    year: u8,
    century: u8,
}

fn read_raw() -> Raw {
    let mut spins = 0;
    while updating() && spins < 1_000_000 {
        spins += 1;
    }
    Raw {
        sec: cmos(0x00),
        min: cmos(0x02),
        hour: cmos(0x04),
        day: cmos(0x07),
        month: cmos(0x08),
        year: cmos(0x09),
        century: cmos(0x32),
    }
}

fn from_bcd(v: u8) -> u8 {
    (v & 0x0f) + (v >> 4) * 10
}

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the Unix epoch, read from the RTC (which holds UTC under QEMU).
pub fn read_unix_seconds() -> u64 {
    // Read until two consecutive reads agree, so an update mid-read is not seen.
    let mut a = read_raw();
    for _ in 0..10 {
        let b = read_raw();
        if a == b {
            break;
        }
        a = b;
    }
    let status_b = cmos(0x0b);
    let bcd = status_b & 0x04 == 0;
    let conv = |v: u8| if bcd { from_bcd(v) } else { v };
    let sec = conv(a.sec);
    let min = conv(a.min);
    let pm = a.hour & 0x80 != 0;
    let mut hour = conv(a.hour & 0x7f);
    if status_b & 0x02 == 0 {
        // 12-hour mode: 12 AM is 0, 12 PM is 12.
        hour %= 12;
        if pm {
            hour += 12;
        }
    }
    let day = conv(a.day);
    let month = conv(a.month);
    let century = match conv(a.century) {
        c @ 19..=30 => u32::from(c),
        _ => 20,
    };
    let year = century * 100 + u32::from(conv(a.year));
    let days = days_from_civil(i64::from(year), u32::from(month), u32::from(day));
    (days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec)).max(0) as u64
}
