//! Canonical line editing: VERASE, VWERASE and VKILL (Linux's `eraser`).
//!
//! Each erases from the end of the line being edited: VERASE one character, VWERASE
//! back to the start of the previous word (trailing non-word characters first, then
//! the word; word characters are alphanumerics and `_`, as BSD's ALTWERASE), VKILL
//! the whole line. Nothing can be erased past the start of the line: completed lines
//! are out of reach.
//!
//! With IUTF8 a character is a lead byte and its continuation bytes, erased together.
//! A run of stray continuation bytes with no lead byte before it is erased one byte
//! at a time (Linux refuses to erase it at all).
//!
//! On the screen (with ECHO), an erased character is rubbed out with `\b \b`: twice
//! for a control character shown as `^X` under ECHOCTL, not at all for one that was
//! echoed without taking a column, and with as many backspaces as the tab took for a
//! TAB. Without ECHOE, VERASE just echoes itself. VKILL rubs out the line character
//! by character when ECHOK, ECHOKE and ECHOE are all set; otherwise it echoes the
//! kill character, followed by a newline if ECHOK is set. ECHOPRT (for hardcopy
//! terminals) instead prints the erased characters between `\` and `/`.

use kestrel_abi::tty::{ECHO, ECHOCTL, ECHOE, ECHOK, ECHOKE, ECHOPRT, IUTF8, VERASE, VKILL};

use crate::LineDiscipline;
use crate::chars::{is_cntrl, is_utf8_continuation, is_word};
use crate::echo::EchoOp;

/// Which editing character was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Erase {
    /// VERASE: one character.
    Char,
    /// VWERASE: one word.
    Word,
    /// VKILL: the whole line.
    Line,
}

impl LineDiscipline {
    /// Applies an editing character to the line being edited, with its echo.
    pub(crate) fn erase(&mut self, kind: Erase) {
        if self.line.is_empty() {
            return;
        }
        let lflag = self.termios.c_lflag;
        let echo = lflag & ECHO != 0;
        if kind == Erase::Line {
            if !echo {
                self.line.clear();
                return;
            }
            let visual = ECHOK | ECHOKE | ECHOE;
            if lflag & visual != visual {
                self.line.clear();
                self.finish_erasing();
                self.echo_char(self.termios.c_cc[VKILL]);
                if lflag & ECHOK != 0 {
                    self.echo_raw(b'\n');
                }
                return;
            }
        }

        let mut seen_word = false;
        while !self.line.is_empty() {
            let start = self.last_char_start();
            let c = self.line[start];
            if kind == Erase::Word {
                if is_word(c) {
                    seen_word = true;
                } else if seen_word {
                    break;
                }
            }
            if echo {
                self.echo_rubout(start, kind);
            }
            self.line.truncate(start);
            if kind == Erase::Char {
                break;
            }
        }
        if self.line.is_empty() && echo {
            self.finish_erasing();
        }
    }

    /// Where the last character of the (non-empty) line being edited starts.
    fn last_char_start(&self) -> usize {
        let last = self.line.len() - 1;
        if self.termios.c_iflag & IUTF8 == 0 {
            return last;
        }
        match self.line.iter().rposition(|&c| !is_utf8_continuation(c)) {
            Some(lead) => lead,
            None => last,
        }
    }

    /// Echoes the erasure of the character `line[start..]`, which is still in the line.
    fn echo_rubout(&mut self, start: usize, kind: Erase) {
        let lflag = self.termios.c_lflag;
        let c = self.line[start];
        if lflag & ECHOPRT != 0 {
            if !self.erasing {
                self.echo_raw(b'\\');
                self.erasing = true;
            }
            self.echo_char(c);
            // The rest of a multi-byte character; continuation bytes take no column.
            for i in start + 1..self.line.len() {
                let b = self.line[i];
                self.echo_raw(b);
            }
        } else if kind == Erase::Char && lflag & ECHOE == 0 {
            self.echo_char(self.termios.c_cc[VERASE]);
        } else if c == b'\t' {
            let (chars, after_tab) = self.columns_before_tab(start);
            self.echo_op(EchoOp::EraseTab { chars, after_tab });
        } else {
            let ctl = is_cntrl(c);
            let echoctl = lflag & ECHOCTL != 0;
            let width = match (ctl, echoctl) {
                (false, _) => 1,
                (true, true) => 2,
                (true, false) => 0,
            };
            for _ in 0..width {
                self.echo_raw(0x08);
                self.echo_raw(b' ');
                self.echo_raw(0x08);
            }
        }
    }

    /// Columns the characters of `line[..end]` occupy after the previous tab (and
    /// whether there was one), for rubbing out the tab at `end`.
    fn columns_before_tab(&self, end: usize) -> (usize, bool) {
        let utf8 = self.termios.c_iflag & IUTF8 != 0;
        let echoctl = self.termios.c_lflag & ECHOCTL != 0;
        let mut chars = 0;
        for &c in self.line[..end].iter().rev() {
            if c == b'\t' {
                return (chars, true);
            } else if is_cntrl(c) {
                if echoctl {
                    chars += 2;
                }
            } else if !(utf8 && is_utf8_continuation(c)) {
                chars += 1;
            }
        }
        (chars, false)
    }
}
