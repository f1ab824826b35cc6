//! [`ReadPolicy`]: how long a read waits, from ICANON, VMIN and VTIME.
//!
//! [`LineDiscipline::read`](crate::LineDiscipline::read) never waits: it copies what
//! the rules allow right now or says [`WouldBlock`](crate::WouldBlock). The kernel
//! glue does the waiting, and this tells it when a read is complete. The glue should
//! read the way Linux's `n_tty_read` does: call `read` on the unfilled rest of the
//! user's buffer each time input arrives, accumulating, until the policy says the
//! read is done (or a signal interrupts it, in which case bytes already copied are
//! returned). Input copied so far is then the reader's, as in Linux: a later flush
//! cannot take it back.

use kestrel_abi::tty::{ICANON, Termios, VMIN, VTIME};

/// When a `read(2)` on the terminal returns (termios(3), "Canonical and
/// noncanonical mode"). `count` below is the size of the user's buffer; TIME is in
/// tenths of a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPolicy {
    /// ICANON: wait until a line is complete (or VEOF ends one, possibly empty), then
    /// return it with a single `read`; VMIN and VTIME do not apply.
    Canonical,
    /// MIN == 0, TIME == 0: polling read. Return at once with what is available,
    /// possibly 0 bytes. Linux returns 0, not EAGAIN, here even with O_NONBLOCK.
    Poll,
    /// MIN > 0, TIME == 0: blocking read. Wait, with no time limit, until
    /// `min(MIN, count)` bytes have been read.
    Blocking {
        /// VMIN.
        min: u8,
    },
    /// MIN == 0, TIME > 0: read with timeout. A timer of TIME starts when `read(2)`
    /// is called; return as soon as at least one byte has been read, or with 0 bytes
    /// when the timer expires.
    Timeout {
        /// VTIME, in tenths of a second.
        tenths: u8,
    },
    /// MIN > 0, TIME > 0: read with interbyte timeout. Wait with no time limit for the
    /// first byte; after that a timer of TIME restarts whenever a byte arrives. Return
    /// when `min(MIN, count)` bytes have been read or the timer expires (then with the
    /// at least one byte read so far).
    Interbyte {
        /// VMIN.
        min: u8,
        /// VTIME, in tenths of a second.
        tenths: u8,
    },
}

impl ReadPolicy {
    /// The policy `t` sets.
    pub fn of(t: &Termios) -> Self {
        if t.c_lflag & ICANON != 0 {
            return Self::Canonical;
        }
        match (t.c_cc[VMIN], t.c_cc[VTIME]) {
            (0, 0) => Self::Poll,
            (min, 0) => Self::Blocking { min },
            (0, tenths) => Self::Timeout { tenths },
            (min, tenths) => Self::Interbyte { min, tenths },
        }
    }

    /// The VTIME timer in nanoseconds, if this policy has one.
    pub fn timeout_ns(self) -> Option<u64> {
        match self {
            Self::Timeout { tenths } | Self::Interbyte { tenths, .. } => {
                Some(u64::from(tenths) * 100_000_000)
            }
            Self::Canonical | Self::Poll | Self::Blocking { .. } => None,
        }
    }

    /// Whether a read is complete, asked after a successful
    /// [`read`](crate::LineDiscipline::read) has brought the total copied to `got` of
    /// the `count` bytes requested. If not, the glue waits for more input (or the
    /// timer) and reads again.
    pub fn satisfied(self, got: usize, count: usize) -> bool {
        match self {
            // One successful read is one line (or end of file).
            Self::Canonical | Self::Poll => true,
            Self::Timeout { .. } => got > 0 || count == 0,
            Self::Blocking { min } | Self::Interbyte { min, .. } => {
                got >= usize::from(min).min(count)
            }
        }
    }
}
