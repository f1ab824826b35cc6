//! /dev/kmsg (1:11): the kernel log as records (Linux's
//! Documentation/ABI/testing/dev-kmsg).
//!
//! Each read gives one record, "PRIO,SEQ,TIMESTAMP_US,FLAGS;MESSAGE\n", the
//! message's unprintable bytes (and backslash) escaped as `\xNN`; a buffer too
//! small for it is EINVAL (and the record is passed, as Linux's). Every open
//! file has its own place, starting at the oldest record kept. When records it
//! had not read were overwritten, one read says EPIPE and the next goes on from
//! the oldest. At the end a read is EAGAIN (O_NONBLOCK) or waits for a record.
//! lseek with offset 0 moves the place: SEEK_SET to the oldest record, SEEK_END
//! past the newest, SEEK_DATA to the first after the last syslog(2) clear.
//! A write adds one record (a leading "<N>" gives its priority; by default the
//! user facility at level 4), at most 10 records per 5 s for each open file
//! (Linux's default printk.devkmsg=ratelimit; the rest are taken and dropped).
//! Opening to read needs syslog(2)'s permission to read everything.

use alloc::vec::Vec;
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOps, OpenFile};

use crate::logger::{self, CursorAt, NextRecord, RecordCursor};

/// Linux's default for records written from user space without a level
/// (MESSAGE_LOGLEVEL_DEFAULT).
const DEFAULT_LEVEL: u8 = 4;
/// LOG_USER.
const USER_FACILITY: u8 = 1;
/// The write rate limit: this many records per interval.
const BURST: u32 = 10;
const INTERVAL_NS: u64 = 5_000_000_000;

/// One open /dev/kmsg.
pub struct Kmsg {
    /// The read place (a write-only file has one too, as Linux 6.x's: lseek
    /// and poll work on it).
    cursor: spin::Mutex<RecordCursor>,
    /// The write rate limit: when the interval began, and records taken in it.
    rate: spin::Mutex<(u64, u32)>,
}

/// Opens /dev/kmsg with `flags` for `caller`.
pub fn open(
    flags: u32,
    caller: &crate::process::Process,
) -> KResult<alloc::sync::Arc<dyn FileOps>> {
    if flags & O_ACCMODE != O_WRONLY {
        let cred = caller.cred.lock().clone();
        crate::syscall::misc::syslog_permission(&cred, crate::syscall::misc::SYSLOG_READ_ALL)?;
    }
    Ok(alloc::sync::Arc::new(Kmsg {
        cursor: spin::Mutex::new(logger::cursor(CursorAt::First)),
        rate: spin::Mutex::new((0, 0)),
    }))
}

/// The record as a read gives it.
fn format(seq: u64, ts: u64, prio: u16, text: &[u8]) -> Vec<u8> {
    use core::fmt::Write;
    struct Out(Vec<u8>);
    impl Write for Out {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    let mut out = Out(Vec::with_capacity(48 + text.len() * 4));
    let _ = write!(out, "{prio},{seq},{ts},-;");
    for &c in text {
        if !(b' '..127).contains(&c) || c == b'\\' {
            let _ = write!(out, "\\x{c:02x}");
        } else {
            out.0.push(c);
        }
    }
    out.0.push(b'\n');
    out.0
}

/// A written record's priority prefix: "<N>" sets the level (N & 7) and, when
/// N's facility is not 0, the facility; anything else is part of the text.
fn parse_prefix(data: &[u8]) -> (u8, u8, &[u8]) {
    let (mut facility, mut level) = (USER_FACILITY, DEFAULT_LEVEL);
    let mut text = data;
    if data.first() == Some(&b'<') {
        let digits = data[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if data.get(1 + digits) == Some(&b'>') {
            let u = data[1..1 + digits].iter().fold(0u32, |v, &c| {
                v.wrapping_mul(10).wrapping_add(u32::from(c - b'0'))
            });
            level = (u & 7) as u8;
            if (u >> 3) & 0xff != 0 {
                facility = ((u >> 3) & 0xff) as u8;
            }
            text = &data[2 + digits..];
        }
    }
    (facility, level, text)
}

impl FileOps for Kmsg {
    fn read(&self, _file: &OpenFile, _pos: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        let mut text = alloc::vec![0u8; logger::RECORD_MAX];
        let mut c = self.cursor.lock();
        match logger::next_record(&mut c, &mut text) {
            NextRecord::None => Err(Errno::EAGAIN),
            NextRecord::Lost => Err(Errno::EPIPE),
            NextRecord::Record(seq, ts, prio, len) => {
                drop(c);
                let line = format(seq, ts, prio, &text[..len]);
                if line.len() > buf.len() {
                    return Err(Errno::EINVAL);
                }
                buf[..line.len()].copy_from_slice(&line);
                Ok(line.len())
            }
        }
    }

    fn write(&self, _file: &OpenFile, _pos: &mut u64, data: &[u8]) -> KResult<usize> {
        if data.len() > logger::RECORD_MAX {
            return Err(Errno::EINVAL);
        }
        let now = crate::time::now_ns();
        {
            let mut r = self.rate.lock();
            if r.1 == 0 || now > r.0 + INTERVAL_NS {
                *r = (now, 0);
            }
            if r.1 >= BURST {
                return Ok(data.len());
            }
            r.1 += 1;
        }
        let (facility, level, text) = parse_prefix(data);
        // The text is a C string in Linux ("%s"): it ends at a NUL.
        let text = text
            .iter()
            .position(|&c| c == 0)
            .map_or(text, |n| &text[..n]);
        logger::emit(now, facility, level, text);
        Ok(data.len())
    }

    fn llseek(&self, _file: &OpenFile, offset: i64, whence: u32) -> Option<KResult<u64>> {
        if offset != 0 {
            return Some(Err(Errno::ESPIPE));
        }
        let at = match whence {
            SEEK_SET => CursorAt::First,
            SEEK_DATA => CursorAt::Clear,
            SEEK_END => CursorAt::End,
            _ => return Some(Err(Errno::EINVAL)),
        };
        *self.cursor.lock() = logger::cursor(at);
        Some(Ok(0))
    }

    fn poll(&self) -> u16 {
        match logger::record_state(&self.cursor.lock()) {
            (true, true) => POLLIN | POLLRDNORM | POLLERR | POLLPRI,
            (true, false) => POLLIN | POLLRDNORM,
            _ => 0,
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&logger::LOG_WAIT)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
