//! Echo: what the terminal shows of the user's typing.
//!
//! While a batch of input is processed, echo is collected as [`EchoOp`]s rather than
//! bytes, because some of it can only be rendered against the cursor position
//! ([`Column`]) at output time, and because a signal character that flushes
//! discards the echo of everything typed before it in the batch (Linux's `isig`
//! clears the echo buffer). At the end of
//! [`receive`](crate::LineDiscipline::receive) the ops are rendered into bytes that
//! have already been through output processing.
//!
//! The two ways to echo a byte, as in Linux: [`LineDiscipline::echo_raw`] sends it
//! as is (through OPOST, so NL becomes CR NL with ONLCR), and
//! [`LineDiscipline::echo_char`] shows a control character other than TAB as `^X`
//! when ECHOCTL is set (DEL as `^?`).

use alloc::vec::Vec;

use kestrel_abi::tty::{ECHOCTL, OPOST, Termios};

use crate::LineDiscipline;
use crate::chars::is_cntrl;
use crate::output::Column;

/// One pending piece of echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EchoOp {
    /// A byte, output-processed if OPOST is set.
    Byte(u8),
    /// A control character shown as `^` followed by `c ^ 0x40`.
    Caret(u8),
    /// The line being edited starts at the current column.
    SetCanonColumn,
    /// Back up over an erased tab. `chars` counts the columns (mod 8) used since the
    /// previous tab if `after_tab`, else since the start of the line.
    EraseTab { chars: usize, after_tab: bool },
}

/// Echo collected during one [`receive`](crate::LineDiscipline::receive) call.
#[derive(Debug, Default)]
pub(crate) struct EchoQueue {
    ops: Vec<EchoOp>,
}

impl EchoQueue {
    /// Drops what has not been rendered yet.
    pub(crate) fn clear(&mut self) {
        self.ops.clear();
    }

    /// Renders and empties the queue, appending terminal bytes to `out`.
    pub(crate) fn render(&mut self, t: &Termios, col: &mut Column, out: &mut Vec<u8>) {
        for op in self.ops.drain(..) {
            match op {
                EchoOp::Byte(c) if t.c_oflag & OPOST != 0 => col.put(t, c, out),
                EchoOp::Byte(c) => out.push(c),
                EchoOp::Caret(c) => {
                    out.extend_from_slice(&[b'^', c ^ 0x40]);
                    col.column += 2;
                }
                EchoOp::SetCanonColumn => col.canon_column = col.column,
                EchoOp::EraseTab { chars, after_tab } => {
                    let chars = if after_tab {
                        chars
                    } else {
                        chars + col.canon_column
                    };
                    for _ in 0..8 - (chars & 7) {
                        out.push(0x08);
                        col.back();
                    }
                }
            }
        }
    }
}

impl LineDiscipline {
    /// Queues `op` for echo.
    pub(crate) fn echo_op(&mut self, op: EchoOp) {
        self.echo.ops.push(op);
    }

    /// Echoes `c` as is (Linux's `echo_char_raw`).
    pub(crate) fn echo_raw(&mut self, c: u8) {
        self.echo_op(EchoOp::Byte(c));
    }

    /// Echoes `c`, as `^X` if it is a control character other than TAB and ECHOCTL is
    /// set (Linux's `echo_char`).
    pub(crate) fn echo_char(&mut self, c: u8) {
        if self.termios.c_lflag & ECHOCTL != 0 && is_cntrl(c) && c != b'\t' {
            self.echo_op(EchoOp::Caret(c));
        } else {
            self.echo_op(EchoOp::Byte(c));
        }
    }

    /// ECHOPRT: closes a `\...` run of printed erased characters with `/`.
    pub(crate) fn finish_erasing(&mut self) {
        if self.erasing {
            self.echo_raw(b'/');
            self.erasing = false;
        }
    }
}
