//! `log` records to the serial console, stamped with seconds since boot:
//! `[    1.234567] INFO  kestrel::mm: message`.

use log::{LevelFilter, Log, Metadata, Record};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ns = crate::time::now_ns();
        let target = record
            .target()
            .strip_prefix("kestrel_kernel")
            .map_or(record.target(), |t| t);
        let target = target.strip_prefix("::").unwrap_or(target);
        let target = if target.is_empty() { "kernel" } else { target };
        crate::println!(
            "[{:5}.{:06}] {:5} {}: {}",
            ns / 1_000_000_000,
            (ns / 1000) % 1_000_000,
            record.level(),
            target,
            record.args()
        );
        // The kernel log syslog(2) reads, with the syslog priority first
        // ("<6>[    1.234567] kestrel::mm: ...", as Linux's dmesg -r).
        let prio = match record.level() {
            log::Level::Error => 3,
            log::Level::Warn => 4,
            log::Level::Info => 6,
            log::Level::Debug | log::Level::Trace => 7,
        };
        let mut msg = heapless_line();
        let _ = core::fmt::write(&mut msg, format_args!("{target}: {}", record.args()));
        emit(ns, 0, prio, msg.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the console logger at `level`.
pub fn init(level: LevelFilter) {
    // Only fails if a logger is already set, which would be a boot-order bug.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
    // The log's first record, whatever the level filter lets through: the
    // version banner, as /proc/version's (Linux's KERN_NOTICE "Linux version").
    let mut banner = heapless_line();
    let _ = core::fmt::write(
        &mut banner,
        format_args!(
            "Linux version {} (kestrel@kestrel) (rustc) {}",
            crate::uts::RELEASE,
            crate::uts::VERSION
        ),
    );
    emit(crate::time::now_ns(), 0, 5, banner.as_bytes());
}

/// The kernel log ring (syslog(2)): the last [`LOG_SIZE`] bytes of log text.
pub const LOG_SIZE: usize = 64 * 1024;

struct Ring {
    buf: [u8; LOG_SIZE],
    /// Bytes ever written; the ring holds the last LOG_SIZE of them.
    end: u64,
    /// Where SYSLOG_ACTION_READ goes on from, and where READ_ALL starts
    /// (moved by CLEAR).
    read: u64,
    clear: u64,
}

static RING: crate::sync::IrqMutex<Ring> = crate::sync::IrqMutex::new(Ring {
    buf: [0; LOG_SIZE],
    end: 0,
    read: 0,
    clear: 0,
});

/// Readers of SYSLOG_ACTION_READ wait here for new text.
pub static LOG_WAIT: kestrel_sync::WaitQueue = kestrel_sync::WaitQueue::new();

/// A line being formatted: at most 512 bytes (longer ones are cut).
struct Line {
    buf: [u8; 512],
    len: usize,
}

fn heapless_line() -> Line {
    Line {
        buf: [0; 512],
        len: 0,
    }
}

impl Line {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Adds one record to the log: its text line ("<prio>[secs.micros] message",
/// with the facility in the priority as Linux's) to the syslog(2) ring and the
/// record itself to the /dev/kmsg ring, then wakes the readers of both.
/// `msg` is cut at [`RECORD_MAX`] bytes and loses one trailing newline.
pub fn emit(ns: u64, facility: u8, level: u8, msg: &[u8]) {
    let msg = msg.strip_suffix(b"\n").unwrap_or(msg);
    let msg = &msg[..msg.len().min(RECORD_MAX)];
    let prio = (u16::from(facility) << 3) | u16::from(level & 7);
    let mut head = heapless_line();
    let _ = core::fmt::write(
        &mut head,
        format_args!(
            "<{prio}>[{:5}.{:06}] ",
            ns / 1_000_000_000,
            (ns / 1000) % 1_000_000
        ),
    );
    {
        let mut r = RING.lock();
        for &b in head.as_bytes().iter().chain(msg).chain(b"\n") {
            let at = (r.end % LOG_SIZE as u64) as usize;
            r.buf[at] = b;
            r.end += 1;
        }
    }
    RECORDS.lock().push(ns / 1000, prio, msg);
    LOG_WAIT.wake_all();
}

/// The longest record text (Linux's PRINTKRB_RECORD_MAX): longer writes to
/// /dev/kmsg are EINVAL.
pub const RECORD_MAX: usize = 1024;

/// Bytes the /dev/kmsg record ring holds (headers and text).
const REC_SIZE: usize = 64 * 1024;
/// A record's header in the ring: the timestamp in microseconds (8 bytes),
/// the priority (2), the text's length (2), 4 unused.
const REC_HEAD: u64 = 16;

/// The log as records (what /dev/kmsg reads): each record is a header and its
/// text, laid one after another in a ring; when a new one does not fit, the
/// oldest go. Positions are byte counts since boot, sequence numbers count
/// records since boot.
struct Records {
    buf: [u8; REC_SIZE],
    /// The oldest record kept: its position and sequence number.
    first_pos: u64,
    first_seq: u64,
    /// Where the next record goes, and its sequence number.
    next_pos: u64,
    next_seq: u64,
    /// The first record after the last SYSLOG_ACTION_CLEAR (SEEK_DATA).
    clear_seq: u64,
}

static RECORDS: crate::sync::IrqMutex<Records> = crate::sync::IrqMutex::new(Records {
    buf: [0; REC_SIZE],
    first_pos: 0,
    first_seq: 0,
    next_pos: 0,
    next_seq: 0,
    clear_seq: 0,
});

impl Records {
    fn put(&mut self, pos: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            self.buf[((pos + i as u64) % REC_SIZE as u64) as usize] = b;
        }
    }

    fn get(&self, pos: u64, out: &mut [u8]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.buf[((pos + i as u64) % REC_SIZE as u64) as usize];
        }
    }

    /// The header at `pos`: (timestamp, priority, text length).
    fn head(&self, pos: u64) -> (u64, u16, usize) {
        let mut h = [0u8; REC_HEAD as usize];
        self.get(pos, &mut h);
        let ts = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        let prio = u16::from_le_bytes([h[8], h[9]]);
        let len = u16::from_le_bytes([h[10], h[11]]) as usize;
        (ts, prio, len)
    }

    fn push(&mut self, ts_us: u64, prio: u16, text: &[u8]) {
        let need = REC_HEAD + text.len() as u64;
        while self.next_pos + need - self.first_pos > REC_SIZE as u64 {
            let (_, _, len) = self.head(self.first_pos);
            self.first_pos += REC_HEAD + len as u64;
            self.first_seq += 1;
        }
        let mut h = [0u8; REC_HEAD as usize];
        h[..8].copy_from_slice(&ts_us.to_le_bytes());
        h[8..10].copy_from_slice(&prio.to_le_bytes());
        h[10..12].copy_from_slice(&(text.len() as u16).to_le_bytes());
        let at = self.next_pos;
        self.put(at, &h);
        self.put(at + REC_HEAD, text);
        self.next_pos += need;
        self.next_seq += 1;
    }

    /// The position of record `seq` (which must be kept), walking from the
    /// reader's last known (`seq`, `pos`) pair when it is still valid.
    fn find(&self, seq: u64, hint: Option<(u64, u64)>) -> u64 {
        let (mut s, mut p) = match hint {
            Some((hs, hp)) if hs >= self.first_seq && hs <= seq => (hs, hp),
            _ => (self.first_seq, self.first_pos),
        };
        while s < seq {
            let (_, _, len) = self.head(p);
            p += REC_HEAD + len as u64;
            s += 1;
        }
        p
    }
}

/// A /dev/kmsg reader's place: the sequence number of the next record it
/// reads, and that record's position when known.
#[derive(Clone, Copy)]
pub struct RecordCursor {
    seq: u64,
    pos: Option<u64>,
}

/// Where a cursor can be put ([`cursor`]).
#[derive(Clone, Copy)]
pub enum CursorAt {
    /// The oldest record kept.
    First,
    /// After the newest record.
    End,
    /// The first record after the last clear.
    Clear,
}

/// A cursor at `at`.
pub fn cursor(at: CursorAt) -> RecordCursor {
    let r = RECORDS.lock();
    match at {
        CursorAt::First => RecordCursor {
            seq: r.first_seq,
            pos: Some(r.first_pos),
        },
        CursorAt::End => RecordCursor {
            seq: r.next_seq,
            pos: Some(r.next_pos),
        },
        CursorAt::Clear => RecordCursor {
            seq: r.clear_seq.max(r.first_seq),
            pos: None,
        },
    }
}

/// What a cursor finds ([`next_record`]).
pub enum NextRecord {
    /// No record after the cursor yet.
    None,
    /// Records the cursor had not read were overwritten; it now points at the
    /// oldest one kept.
    Lost,
    /// The next record: (sequence number, timestamp in microseconds, priority)
    /// and its text's length (copied into the caller's buffer).
    Record(u64, u64, u16, usize),
}

/// Whether a record is waiting at `c`: (one is, records were lost).
pub fn record_state(c: &RecordCursor) -> (bool, bool) {
    let r = RECORDS.lock();
    (c.seq < r.next_seq, c.seq < r.first_seq)
}

/// The record at `c`, its text copied into `text` (at least [`RECORD_MAX`]
/// bytes); the cursor moves past it.
pub fn next_record(c: &mut RecordCursor, text: &mut [u8]) -> NextRecord {
    let r = RECORDS.lock();
    if c.seq < r.first_seq {
        c.seq = r.first_seq;
        c.pos = Some(r.first_pos);
        return NextRecord::Lost;
    }
    if c.seq >= r.next_seq {
        return NextRecord::None;
    }
    let pos = r.find(c.seq, c.pos.map(|p| (c.seq, p)));
    let (ts, prio, len) = r.head(pos);
    let copied = len.min(text.len());
    r.get(pos + REC_HEAD, &mut text[..copied]);
    let seq = c.seq;
    c.seq += 1;
    c.pos = Some(pos + REC_HEAD + len as u64);
    NextRecord::Record(seq, ts, prio, copied)
}

/// Copies log text from `from` (clamped to what the ring still holds) into
/// `out`; returns (bytes, the position after them).
fn copy_from(r: &Ring, from: u64, out: &mut [u8]) -> (usize, u64) {
    let from = from.max(r.end.saturating_sub(LOG_SIZE as u64));
    let n = ((r.end - from) as usize).min(out.len());
    for (i, o) in out[..n].iter_mut().enumerate() {
        *o = r.buf[((from + i as u64) % LOG_SIZE as u64) as usize];
    }
    (n, from + n as u64)
}

/// SYSLOG_ACTION_READ: unread text, consumed (0 if there is none).
pub fn read_unread(out: &mut [u8]) -> usize {
    let mut r = RING.lock();
    let (n, next) = copy_from(&r, r.read, out);
    r.read = next;
    n
}

/// SYSLOG_ACTION_READ_ALL: the last `out.len()` bytes since the last clear
/// (with `clear`, then cleared).
pub fn read_all(out: &mut [u8], clear: bool) -> usize {
    let mut r = RING.lock();
    let start = r.clear.max(r.end.saturating_sub(out.len() as u64));
    let (n, _) = copy_from(&r, start, out);
    if clear {
        r.clear = r.end;
        drop(r);
        let mut rec = RECORDS.lock();
        rec.clear_seq = rec.next_seq;
    }
    n
}

/// SYSLOG_ACTION_CLEAR (also where /dev/kmsg's SEEK_DATA goes).
pub fn clear() {
    let mut r = RING.lock();
    r.clear = r.end;
    drop(r);
    let mut rec = RECORDS.lock();
    rec.clear_seq = rec.next_seq;
}

/// SYSLOG_ACTION_SIZE_UNREAD.
pub fn unread() -> usize {
    let r = RING.lock();
    (r.end - r.read.max(r.end.saturating_sub(LOG_SIZE as u64))) as usize
}
