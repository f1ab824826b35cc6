//! [`LineDiscipline`]: the state of one terminal and the operations the kernel glue
//! calls on it.

use alloc::vec::Vec;

use kestrel_abi::tty::{ICANON, IXON, Termios, VMIN, VTIME, Winsize};

use crate::echo::EchoQueue;
use crate::flow::Flow;
use crate::input::InputQueue;
use crate::output::Column;
use crate::{ReadPolicy, Signals};

/// Capacity of the input side, as Linux's `N_TTY_BUF_SIZE`: completed lines, VEOF
/// markers and the line being edited together hold at most this many bytes, and data
/// bytes at most one less (the last byte is kept for a line terminator).
pub const N_TTY_BUF_SIZE: usize = 4096;

/// Rows and columns of a new terminal.
const DEFAULT_WINSIZE: Winsize = Winsize {
    ws_row: 24,
    ws_col: 80,
    ws_xpixel: 0,
    ws_ypixel: 0,
};

/// [`LineDiscipline::read`] found nothing it may return yet: the caller waits for
/// input (or fails with EAGAIN under O_NONBLOCK, except under
/// [`ReadPolicy::Poll`], where the read returns 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldBlock;

/// What [`LineDiscipline::receive`] asks of the kernel beyond writing the echo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct Received {
    /// Signals to send to the terminal's foreground process group (VINTR → SIGINT,
    /// VQUIT → SIGQUIT, VSUSP → SIGTSTP, under ISIG).
    pub signals: Signals,
    /// A signal character flushed the queues (NOFLSH was clear): discard output
    /// queued for the device and not yet sent, *then* send this call's echo. The
    /// input side has already been flushed.
    pub flush_output: bool,
}

/// The N_TTY line discipline of one terminal. See the crate documentation.
#[derive(Debug)]
pub struct LineDiscipline {
    pub(crate) termios: Termios,
    winsize: Winsize,
    /// What `read` can take.
    pub(crate) input: InputQueue,
    /// Canonical mode: the line being edited (not readable yet).
    pub(crate) line: Vec<u8>,
    /// The previous byte was VLNEXT: take the next one literally.
    pub(crate) lnext: bool,
    /// ECHOPRT: a `\` was echoed and the matching `/` is still due.
    pub(crate) erasing: bool,
    /// Echo of the batch being received, not yet rendered.
    pub(crate) echo: EchoQueue,
    /// The cursor, for output processing and erasing tabs.
    pub(crate) column: Column,
    pub(crate) flow: Flow,
}

impl Default for LineDiscipline {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDiscipline {
    /// A terminal in Linux's default mode ([`Termios::linux_default`]: canonical,
    /// echoing, signals on, CR → NL in, NL → CR NL out) with a 24 × 80 window.
    pub fn new() -> Self {
        Self {
            termios: Termios::linux_default(),
            winsize: DEFAULT_WINSIZE,
            input: InputQueue::default(),
            line: Vec::new(),
            lnext: false,
            erasing: false,
            echo: EchoQueue::default(),
            column: Column::default(),
            flow: Flow::default(),
        }
    }

    /// Takes `bytes` received from the device, in order. Appends to `echo` what must
    /// be sent back to the device (already output-processed, e.g. NL as CR NL), and
    /// returns the signals to raise and whether to flush pending output.
    ///
    /// Afterwards the glue should wake readers if [`readable`](Self::readable), and
    /// resume transmitting if [`output_stopped`](Self::output_stopped) turned false
    /// (VSTART, IXANY). Bytes that do not fit in [`N_TTY_BUF_SIZE`] are dropped.
    pub fn receive(&mut self, bytes: &[u8], echo: &mut Vec<u8>) -> Received {
        let mut received = Received::default();
        for &c in bytes {
            self.receive_byte(c, &mut received);
        }
        self.echo.render(&self.termios, &mut self.column, echo);
        received
    }

    /// A user read: copies into `buf` what the rules allow now.
    ///
    /// Canonical mode: at most one line per read, up to and including its NL (or
    /// VEOL/VEOL2); a line longer than `buf` is returned over several reads. A line
    /// ended by VEOF is returned without the VEOF, and VEOF on an empty line reads as
    /// `Ok(0)`, end of file. The line being edited is never returned.
    ///
    /// Non-canonical mode: whatever is queued, up to `buf.len()`.
    ///
    /// An empty `buf` returns `Ok(0)` and takes nothing. `Err(WouldBlock)` means there
    /// is nothing to return yet; see [`ReadPolicy`] for how long to wait.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, WouldBlock> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = if self.is_canonical() {
            self.input.read_line(buf)
        } else {
            self.input.read_raw(buf)
        };
        n.ok_or(WouldBlock)
    }

    /// Whether [`read`](Self::read) would return something other than
    /// [`WouldBlock`]: a complete line or end of file in canonical mode, any byte
    /// otherwise.
    pub fn readable(&self) -> bool {
        if self.is_canonical() {
            self.input.has_line()
        } else {
            self.input.len() > 0
        }
    }

    /// Whether `poll(2)` reports POLLIN. Like [`readable`](Self::readable), except
    /// that in non-canonical mode with VTIME 0 and VMIN > 0 it waits for VMIN bytes,
    /// as Linux does.
    pub fn poll_readable(&self) -> bool {
        if self.is_canonical() {
            return self.input.has_line();
        }
        let (min, time) = (self.termios.c_cc[VMIN], self.termios.c_cc[VTIME]);
        let needed = if time == 0 && min > 0 {
            usize::from(min)
        } else {
            1
        };
        self.input.len() >= needed
    }

    /// Bytes a read could take now (FIONREAD / TIOCINQ): in canonical mode those of
    /// the completed lines, not the line being edited.
    pub fn input_available(&self) -> usize {
        self.input.len()
    }

    /// How a read waits (VMIN/VTIME in non-canonical mode); see [`ReadPolicy`].
    pub fn read_policy(&self) -> ReadPolicy {
        ReadPolicy::of(&self.termios)
    }

    /// Output processing of a user write (OPOST: ONLCR turns NL into CR NL, OCRNL
    /// CR into NL, ...): appends to `out` what to send to the device. Takes `&mut`
    /// because it follows the cursor column, which erasing a tab needs.
    pub fn process_output(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.column.write(&self.termios, data, out);
    }

    /// The current settings (TCGETS).
    pub fn termios(&self) -> Termios {
        self.termios
    }

    /// New settings (TCSETS; for TCSETSW the glue first waits for output to drain,
    /// for TCSETSF it also calls [`flush_input`](Self::flush_input)).
    ///
    /// Leaving canonical mode makes the line being edited readable at once. Entering
    /// it turns the bytes already queued into one complete line, so they stay
    /// readable. Clearing IXON resumes output suspended by VSTOP.
    pub fn set_termios(&mut self, t: Termios) {
        let old = core::mem::replace(&mut self.termios, t);
        if (old.c_lflag ^ t.c_lflag) & ICANON != 0 {
            if t.c_lflag & ICANON != 0 {
                self.input.make_line_of_pending();
            } else {
                self.input.forget_lines();
                for &c in &self.line {
                    self.input.push_byte(c);
                }
                self.line.clear();
            }
            self.erasing = false;
            self.lnext = false;
        }
        if old.c_iflag & IXON != 0 && t.c_iflag & IXON == 0 {
            self.flow.start();
        }
    }

    /// Discards all input: completed lines and the line being edited (TCFLSH with
    /// TCIFLUSH or TCIOFLUSH, TCSETSF).
    pub fn flush_input(&mut self) {
        self.input.clear();
        self.line.clear();
        self.erasing = false;
    }

    /// The window size (TIOCGWINSZ).
    pub fn winsize(&self) -> Winsize {
        self.winsize
    }

    /// Sets the window size (TIOCSWINSZ). Returns whether it changed, in which case
    /// the glue sends SIGWINCH to the foreground process group.
    pub fn set_winsize(&mut self, w: Winsize) -> bool {
        let changed = self.winsize != w;
        self.winsize = w;
        changed
    }

    /// Whether output to the device is suspended (VSTOP under IXON, or
    /// [`suspend_output`](Self::suspend_output)): the glue holds back its transmit
    /// queue, echo included, until this turns false.
    pub fn output_stopped(&self) -> bool {
        self.flow.stopped
    }

    /// `tcflow(TCOOFF)`: suspends output until [`resume_output`](Self::resume_output);
    /// VSTART does not resume it.
    pub fn suspend_output(&mut self) {
        self.flow.tc_off();
    }

    /// `tcflow(TCOON)`: resumes output suspended by
    /// [`suspend_output`](Self::suspend_output) (and by VSTOP).
    pub fn resume_output(&mut self) {
        self.flow.tc_on();
    }

    /// Whether canonical mode (ICANON) is on.
    pub(crate) fn is_canonical(&self) -> bool {
        self.termios.c_lflag & ICANON != 0
    }
}
