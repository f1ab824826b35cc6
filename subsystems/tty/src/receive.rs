//! Input processing: one received byte at a time (Linux's `n_tty_receive_char*`).
//!
//! The order of checks is Linux's, which decides what wins when special characters
//! coincide:
//! 1. A byte after VLNEXT is taken literally (only ISTRIP applies).
//! 2. ISTRIP clears bit 7.
//! 3. With IXON, VSTART and VSTOP resume and suspend output and are not input.
//! 4. With ISIG, VINTR, VQUIT and VSUSP raise SIGINT, SIGQUIT and SIGTSTP.
//! 5. IGNCR drops CR, ICRNL turns CR into NL, INLCR turns NL into CR.
//! 6. In canonical mode, the editing characters and line terminators.
//! 7. Anything else is data: echoed, then stored if there is room.
//!
//! Room: like Linux's 4096-byte read buffer, the completed lines, VEOF markers and
//! the line being edited share [`N_TTY_BUF_SIZE`] bytes, of which data may fill all
//! but one, kept for a line terminator. So the longest canonical line is 4095 bytes
//! plus its NL. A data byte that does not fit is dropped without echo; editing
//! characters, signals and terminators keep working.

use kestrel_abi::signal::{SIGINT, SIGQUIT, SIGTSTP};
use kestrel_abi::tty::{
    ECHO, ECHOCTL, ECHONL, ICRNL, IEXTEN, IGNCR, INLCR, ISIG, ISTRIP, IXANY, IXON, NOFLSH, VEOF,
    VEOL, VEOL2, VERASE, VINTR, VKILL, VLNEXT, VQUIT, VREPRINT, VSTART, VSTOP, VSUSP, VWERASE,
};

use crate::chars::is_special;
use crate::echo::EchoOp;
use crate::erase::Erase;
use crate::{LineDiscipline, N_TTY_BUF_SIZE, Received};

/// How a data byte is echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EchoAs {
    /// Through [`LineDiscipline::echo_char`] (`^X` for controls under ECHOCTL).
    Char,
    /// As a newline: NL made from CR by ICRNL in non-canonical mode. (A literal NL
    /// byte in non-canonical mode is an ordinary control character and shows as
    /// `^J` under ECHOCTL, as in Linux.)
    Newline,
}

impl LineDiscipline {
    /// Processes one byte from the device.
    pub(crate) fn receive_byte(&mut self, byte: u8, received: &mut Received) {
        let t = self.termios;
        let c = if t.c_iflag & ISTRIP != 0 {
            byte & 0x7f
        } else {
            byte
        };
        if self.lnext {
            self.lnext = false;
            self.restart_on_any_char();
            self.store_data(c, EchoAs::Char);
            return;
        }
        if t.c_iflag & IXON != 0 {
            if is_special(&t, VSTART, c) {
                self.flow.start();
                return;
            }
            if is_special(&t, VSTOP, c) {
                self.flow.stop();
                return;
            }
        }
        if t.c_lflag & ISIG != 0 {
            let signal = [(VINTR, SIGINT), (VQUIT, SIGQUIT), (VSUSP, SIGTSTP)]
                .into_iter()
                .find(|&(index, _)| is_special(&t, index, c));
            if let Some((_, sig)) = signal {
                self.signal_char(sig, c, received);
                return;
            }
        }
        self.restart_on_any_char();

        let mut c = c;
        let mut echo_as = EchoAs::Char;
        if c == b'\r' {
            if t.c_iflag & IGNCR != 0 {
                return;
            }
            if t.c_iflag & ICRNL != 0 {
                c = b'\n';
                echo_as = EchoAs::Newline;
            }
        } else if c == b'\n' && t.c_iflag & INLCR != 0 {
            c = b'\r';
        }
        if self.is_canonical() && self.receive_canonical(c) {
            return;
        }
        self.store_data(c, echo_as);
    }

    /// IXANY: any input character other than VSTART/VSTOP resumes output.
    fn restart_on_any_char(&mut self) {
        let iflag = self.termios.c_iflag;
        if iflag & IXON != 0 && iflag & IXANY != 0 {
            self.flow.start();
        }
    }

    /// A signal character `c` raising `sig` (Linux's `isig` and
    /// `n_tty_receive_signal_char`): unless NOFLSH, everything queued in both
    /// directions is discarded, including echo not yet rendered; then the character
    /// is echoed (`^C` under ECHO and ECHOCTL). It never becomes input.
    fn signal_char(&mut self, sig: u32, c: u8, received: &mut Received) {
        received.signals.insert(sig);
        if self.termios.c_lflag & NOFLSH == 0 {
            self.echo.clear();
            received.flush_output = true;
            self.flush_input();
        }
        if self.termios.c_iflag & IXON != 0 {
            self.flow.start();
        }
        if self.termios.c_lflag & ECHO != 0 {
            self.echo_char(c);
        }
    }

    /// Canonical-mode special characters; returns whether `c` was one (and so is
    /// consumed).
    fn receive_canonical(&mut self, c: u8) -> bool {
        let t = self.termios;
        let iexten = t.c_lflag & IEXTEN != 0;
        let echo = t.c_lflag & ECHO != 0;
        if is_special(&t, VERASE, c) {
            self.erase(Erase::Char);
        } else if is_special(&t, VKILL, c) {
            self.erase(Erase::Line);
        } else if iexten && is_special(&t, VWERASE, c) {
            self.erase(Erase::Word);
        } else if iexten && is_special(&t, VLNEXT, c) {
            // The next byte is data. Show "^" under the cursor until it arrives (the
            // backspace puts the cursor back on the caret, which the next echo
            // overwrites), as Linux does.
            self.lnext = true;
            if echo {
                self.finish_erasing();
                if t.c_lflag & ECHOCTL != 0 {
                    self.echo_raw(b'^');
                    self.echo_raw(0x08);
                }
            }
        } else if iexten && echo && is_special(&t, VREPRINT, c) {
            self.finish_erasing();
            self.echo_char(c);
            self.echo_raw(b'\n');
            for i in 0..self.line.len() {
                let b = self.line[i];
                self.echo_char(b);
            }
        } else if c == b'\n' {
            if self.has_room(true) {
                if echo || t.c_lflag & ECHONL != 0 {
                    self.finish_erasing();
                    self.echo_raw(b'\n');
                }
                self.end_line(Some(c));
            }
        } else if is_special(&t, VEOF, c) {
            // Not echoed; the line ends without the VEOF in it.
            if self.has_room(true) {
                if echo {
                    self.finish_erasing();
                }
                self.end_line(None);
            }
        } else if is_special(&t, VEOL, c) || (iexten && is_special(&t, VEOL2, c)) {
            if self.has_room(true) {
                if echo {
                    self.finish_erasing();
                    if self.line.is_empty() {
                        self.echo_op(EchoOp::SetCanonColumn);
                    }
                    self.echo_char(c);
                }
                self.end_line(Some(c));
            }
        } else {
            return false;
        }
        true
    }

    /// A data byte: echoed, then stored in the line being edited (canonical) or the
    /// input queue (non-canonical). Dropped, unechoed, when there is no room.
    fn store_data(&mut self, c: u8, echo_as: EchoAs) {
        if !self.has_room(false) {
            return;
        }
        if self.termios.c_lflag & ECHO != 0 {
            self.finish_erasing();
            match echo_as {
                EchoAs::Newline => self.echo_raw(b'\n'),
                EchoAs::Char => {
                    if self.is_canonical() && self.line.is_empty() {
                        self.echo_op(EchoOp::SetCanonColumn);
                    }
                    self.echo_char(c);
                }
            }
        }
        if self.is_canonical() {
            self.line.push(c);
        } else {
            self.input.push_byte(c);
        }
    }

    /// Whether one more byte fits: a data byte must leave room for a terminator.
    fn has_room(&self, terminator: bool) -> bool {
        let used = self.input.used() + self.line.len();
        let limit = if terminator {
            N_TTY_BUF_SIZE
        } else {
            N_TTY_BUF_SIZE - 1
        };
        used < limit
    }

    /// Completes the line being edited, with `terminator` appended (NL, VEOL, VEOL2),
    /// or as VEOF ended it (`None`).
    fn end_line(&mut self, terminator: Option<u8>) {
        if let Some(c) = terminator {
            self.line.push(c);
        }
        self.input.push_line(&self.line, terminator.is_none());
        self.line.clear();
    }
}
