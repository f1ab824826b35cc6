//! Output processing (OPOST) and the cursor column it tracks.
//!
//! Everything sent to the terminal goes through here: user writes and echo alike.
//! With OPOST, ONLCR turns NL into CR NL, OCRNL turns CR into NL, ONOCR drops a CR in
//! column 0, ONLRET makes NL return the carriage, and XTABS expands tabs to spaces;
//! without OPOST bytes pass untouched. The delay flags (NLDLY, CRDLY, ...) are ignored,
//! as Linux ignores them.
//!
//! Erasing a tab on the screen needs to know how many columns it took, which depends
//! on where the line started. So this module follows the cursor like Linux's `n_tty`
//! does: `column` is where the next byte lands, and `canon_column` is the column at
//! which the line now being edited started (usually just after a prompt).

use alloc::vec::Vec;

use kestrel_abi::tty::{IUTF8, OCRNL, ONLCR, OPOST, Termios};

use crate::chars::{is_cntrl, is_utf8_continuation};

/// `c_oflag` ONOCR: don't output CR at column 0 (not yet in `kestrel-abi`).
pub(crate) const ONOCR: u32 = 0o20;
/// `c_oflag` ONLRET: NL also returns the carriage (not yet in `kestrel-abi`).
pub(crate) const ONLRET: u32 = 0o40;
/// `c_oflag` TABDLY mask (not yet in `kestrel-abi`).
pub(crate) const TABDLY: u32 = 0o14000;
/// `c_oflag` XTABS (TAB3): expand tabs to spaces (not yet in `kestrel-abi`).
pub(crate) const XTABS: u32 = 0o14000;

/// Where the cursor is, as far as the line discipline can tell.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Column {
    /// Column the next output byte lands in (0 = left margin).
    pub(crate) column: usize,
    /// Column at which the line being edited started.
    pub(crate) canon_column: usize,
}

impl Column {
    /// Outputs one byte with OPOST processing (Linux's `do_output_char`), appending
    /// what the terminal must receive to `out`. The caller checks OPOST.
    pub(crate) fn put(&mut self, t: &Termios, c: u8, out: &mut Vec<u8>) {
        let oflag = t.c_oflag;
        match c {
            b'\n' => {
                if oflag & ONLRET != 0 {
                    self.column = 0;
                }
                if oflag & ONLCR != 0 {
                    self.column = 0;
                    self.canon_column = 0;
                    out.extend_from_slice(b"\r\n");
                    return;
                }
                self.canon_column = self.column;
            }
            b'\r' => {
                if oflag & ONOCR != 0 && self.column == 0 {
                    return;
                }
                if oflag & OCRNL != 0 {
                    if oflag & ONLRET != 0 {
                        self.column = 0;
                        self.canon_column = 0;
                    }
                    out.push(b'\n');
                    return;
                }
                self.column = 0;
                self.canon_column = 0;
            }
            b'\t' => {
                let spaces = 8 - (self.column & 7);
                self.column += spaces;
                if oflag & TABDLY == XTABS {
                    out.extend(core::iter::repeat_n(b' ', spaces));
                    return;
                }
            }
            0x08 => self.back(),
            _ => {
                let continuation = t.c_iflag & IUTF8 != 0 && is_utf8_continuation(c);
                if !is_cntrl(c) && !continuation {
                    self.column += 1;
                }
            }
        }
        out.push(c);
    }

    /// Processes a user write: with OPOST byte by byte through [`Column::put`],
    /// without it unchanged (and, like Linux, without moving the tracked column).
    pub(crate) fn write(&mut self, t: &Termios, data: &[u8], out: &mut Vec<u8>) {
        if t.c_oflag & OPOST == 0 {
            out.extend_from_slice(data);
            return;
        }
        out.reserve(data.len());
        for &c in data {
            self.put(t, c, out);
        }
    }

    /// The cursor moved one column left (never past the margin).
    pub(crate) fn back(&mut self) {
        self.column = self.column.saturating_sub(1);
    }
}
