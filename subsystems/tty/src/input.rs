//! The input queue: what `read()` can take.
//!
//! In non-canonical mode every received byte goes straight here and any of it can be
//! read. In canonical mode only completed lines are here (the line being edited lives
//! in [`LineDiscipline`](crate::LineDiscipline) until it is terminated), and each
//! read takes from one line only.
//!
//! Lines are kept as lengths beside one byte queue. A line ended by NL, VEOL or VEOL2
//! includes its terminator; a line ended by VEOF does not (the VEOF character is never
//! returned), so VEOF on an empty line queues a line of length 0, which a read turns
//! into end of file. Like Linux, each such VEOF marker takes one byte of the
//! [`N_TTY_BUF_SIZE`](crate::N_TTY_BUF_SIZE) budget, so repeated ^D cannot grow the
//! queue without bound.

use alloc::collections::VecDeque;

/// One completed line: `len` bytes still unread at the front of the byte queue.
#[derive(Debug, Clone, Copy)]
struct Line {
    len: usize,
    /// Ended by VEOF (occupies a marker slot in the budget).
    eof: bool,
}

/// Readable bytes, and in canonical mode the line boundaries among them.
#[derive(Debug, Default)]
pub(crate) struct InputQueue {
    bytes: VecDeque<u8>,
    /// Canonical mode only: the completed lines, oldest first. Their lengths add up
    /// to `bytes.len()`.
    lines: VecDeque<Line>,
    /// How many of `lines` were ended by VEOF.
    eof_lines: usize,
}

impl InputQueue {
    /// Bytes readable now (FIONREAD); VEOF markers are not counted.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// How much of the input budget the queue uses: its bytes plus one per VEOF.
    pub(crate) fn used(&self) -> usize {
        self.bytes.len() + self.eof_lines
    }

    /// Whether a complete line (or end of file) is waiting: canonical readability.
    pub(crate) fn has_line(&self) -> bool {
        !self.lines.is_empty()
    }

    /// Non-canonical mode: queue one byte.
    pub(crate) fn push_byte(&mut self, c: u8) {
        self.bytes.push_back(c);
    }

    /// Canonical mode: queue a completed line. `data` includes the terminator if it is
    /// one that reads return (NL, VEOL, VEOL2); `eof` says VEOF ended it.
    pub(crate) fn push_line(&mut self, data: &[u8], eof: bool) {
        self.bytes.extend(data);
        self.lines.push_back(Line {
            len: data.len(),
            eof,
        });
        if eof {
            self.eof_lines += 1;
        }
    }

    /// Canonical read: copies as much of the oldest line as fits in `buf`, never
    /// crossing into the next line. `None` if no line is complete; `Some(0)` for end
    /// of file (or an empty `buf`, which takes nothing).
    pub(crate) fn read_line(&mut self, buf: &mut [u8]) -> Option<usize> {
        let line = self.lines.front_mut()?;
        if buf.is_empty() {
            return Some(0);
        }
        let n = line.len.min(buf.len());
        line.len -= n;
        if line.len == 0 {
            // A read that reaches the end of a VEOF-terminated line also consumes the
            // VEOF (Linux's canon_skip_eof), so it does not read as a later EOF.
            if line.eof {
                self.eof_lines -= 1;
            }
            self.lines.pop_front();
        }
        self.take(&mut buf[..n]);
        Some(n)
    }

    /// Non-canonical read: copies whatever is queued, up to `buf.len()`. `None` if the
    /// queue is empty.
    pub(crate) fn read_raw(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.bytes.is_empty() {
            return None;
        }
        let n = self.bytes.len().min(buf.len());
        self.take(&mut buf[..n]);
        Some(n)
    }

    /// Moves the first `buf.len()` queued bytes into `buf`.
    fn take(&mut self, buf: &mut [u8]) {
        let n = buf.len();
        for (dst, src) in buf.iter_mut().zip(self.bytes.drain(..n)) {
            *dst = src;
        }
    }

    /// Discards everything (TCFLSH, or a signal character without NOFLSH).
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.lines.clear();
        self.eof_lines = 0;
    }

    /// Leaving canonical mode: the line structure goes away and all bytes become
    /// readable at once. VEOF markers vanish with it (see the crate docs).
    pub(crate) fn forget_lines(&mut self) {
        self.lines.clear();
        self.eof_lines = 0;
    }

    /// Entering canonical mode: bytes already queued form one completed line without
    /// a terminator, so they stay readable (Linux "pushes" them as if by VEOF).
    pub(crate) fn make_line_of_pending(&mut self) {
        if !self.bytes.is_empty() {
            self.lines.clear();
            self.lines.push_back(Line {
                len: self.bytes.len(),
                eof: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_one_at_a_time_and_in_pieces() {
        let mut q = InputQueue::default();
        q.push_line(b"abc\n", false);
        q.push_line(b"de", true);
        q.push_line(b"", true);
        assert_eq!((q.len(), q.used()), (6, 8));
        let mut buf = [0u8; 3];
        assert_eq!(q.read_line(&mut buf), Some(3));
        assert_eq!(&buf, b"abc");
        assert_eq!(q.read_line(&mut buf), Some(1));
        assert_eq!(buf[0], b'\n');
        assert_eq!(q.read_line(&mut buf), Some(2));
        assert_eq!(&buf[..2], b"de");
        assert_eq!(q.used(), 1);
        assert_eq!(q.read_line(&mut buf), Some(0));
        assert_eq!(q.read_line(&mut buf), None);
        assert_eq!(q.used(), 0);
    }

    #[test]
    fn raw_read_takes_up_to_the_buffer_and_reports_empty() {
        let mut q = InputQueue::default();
        let mut buf = [0u8; 2];
        assert_eq!(q.read_raw(&mut buf), None);
        for &c in b"xyz" {
            q.push_byte(c);
        }
        assert_eq!(q.read_raw(&mut buf), Some(2));
        assert_eq!(&buf, b"xy");
        assert_eq!(q.read_raw(&mut buf), Some(1));
        assert_eq!(buf[0], b'z');
    }
}
