//! The terminal line discipline (Linux's N_TTY) as a pure state machine.
//!
//! Between a serial port and the programs reading and writing it sits the line
//! discipline: it turns the raw bytes typed into what `read(2)` returns (editing the
//! line, raising SIGINT on ^C, ...), decides what to echo, and post-processes what
//! programs write (NL → CR NL). This crate is that logic with no I/O, no waiting and
//! no locking: the kernel glue owns the device and the wait queues and calls in.
//!
//! # Model
//!
//! Input flows through two stages:
//! - **The line being edited** (canonical mode only). Typed bytes collect here, where
//!   VERASE, VWERASE and VKILL can still take them back. Nothing here is readable.
//! - **The input queue**: what `read` may take. In canonical mode it holds completed
//!   lines: a line enters it when NL, VEOL, VEOL2 or VEOF ends it, and each read
//!   returns from one line only. In non-canonical ("raw") mode every byte goes
//!   straight into the queue.
//!
//! Both together hold at most [`N_TTY_BUF_SIZE`] (4096) bytes, so a canonical line
//! is at most 4095 bytes plus its NL; data that does not fit is dropped.
//!
//! Echo never waits in here: [`LineDiscipline::receive`] returns the echo of what it
//! was given, already output-processed, for the glue to send. Output written by
//! programs goes through [`LineDiscipline::process_output`]. Both paths move the
//! tracked cursor column, which is how erasing a TAB knows how far to back up.
//!
//! # What the kernel glue does
//!
//! - **Device input**: pass received bytes to [`LineDiscipline::receive`]. Send the
//!   returned [`Received::signals`] to the foreground process group; if
//!   [`Received::flush_output`], discard unsent output first; queue the echo for the
//!   device; wake readers and pollers if [`LineDiscipline::readable`].
//! - **Transmit**: hold output back while [`LineDiscipline::output_stopped`] (^S).
//! - **`read(2)`**: job control (SIGTTIN) first. Then call [`LineDiscipline::read`]
//!   and wait on [`WouldBlock`] according to [`LineDiscipline::read_policy`], which
//!   covers VMIN and VTIME (O_NONBLOCK turns waiting into EAGAIN, except for
//!   [`ReadPolicy::Poll`], which returns 0).
//! - **`write(2)`**: TOSTOP job control; then [`LineDiscipline::process_output`] and
//!   queue the result.
//! - **ioctls**: TCGETS/TCSETS* → [`LineDiscipline::termios`] /
//!   [`LineDiscipline::set_termios`] (TCSETSF and TCFLSH also
//!   [`LineDiscipline::flush_input`]); FIONREAD → [`LineDiscipline::input_available`];
//!   TIOCGWINSZ/TIOCSWINSZ → [`LineDiscipline::winsize`] /
//!   [`LineDiscipline::set_winsize`] (SIGWINCH when it changed); TCXONC TCOOFF/TCOON →
//!   [`LineDiscipline::suspend_output`] / [`LineDiscipline::resume_output`];
//!   `poll(2)` POLLIN → [`LineDiscipline::poll_readable`].
//!
//! # Files
//!
//! - [`discipline`]: [`LineDiscipline`] and its public operations.
//! - `receive`: per-byte input processing and canonical special characters.
//! - `erase`: VERASE, VWERASE, VKILL and how they look on screen.
//! - `echo`: echo collected during a `receive` and rendered at its end.
//! - `output`: OPOST processing and the cursor column.
//! - `input`: the queue `read` takes from.
//! - `flow`: VSTOP/VSTART and `tcflow` state.
//! - [`policy`]: [`ReadPolicy`], the VMIN/VTIME cases.
//! - `chars`: byte classes as Linux's kernel ctype sees them.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod chars;
pub mod discipline;
mod echo;
mod erase;
mod flow;
mod input;
mod output;
pub mod policy;
mod receive;
mod signals;

pub use discipline::{LineDiscipline, N_TTY_BUF_SIZE, Received, WouldBlock};
pub use policy::ReadPolicy;
pub use signals::Signals;

#[cfg(test)]
mod tests;
