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
        let mut line = heapless_line();
        let _ = core::fmt::write(
            &mut line,
            format_args!(
                "<{prio}>[{:5}.{:06}] {target}: {}\n",
                ns / 1_000_000_000,
                (ns / 1000) % 1_000_000,
                record.args()
            ),
        );
        append(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the console logger at `level`.
pub fn init(level: LevelFilter) {
    // Only fails if a logger is already set, which would be a boot-order bug.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
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

fn append(data: &[u8]) {
    {
        let mut r = RING.lock();
        for &b in data {
            let at = (r.end % LOG_SIZE as u64) as usize;
            r.buf[at] = b;
            r.end += 1;
        }
    }
    LOG_WAIT.wake_all();
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
    }
    n
}

/// SYSLOG_ACTION_CLEAR.
pub fn clear() {
    let mut r = RING.lock();
    r.clear = r.end;
}

/// SYSLOG_ACTION_SIZE_UNREAD.
pub fn unread() -> usize {
    let r = RING.lock();
    (r.end - r.read.max(r.end.saturating_sub(LOG_SIZE as u64))) as usize
}
