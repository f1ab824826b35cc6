//! Behaviour tests of the line discipline, through its public API only. Every test
//! checks what a program or the terminal would observe: bytes read, bytes echoed or
//! output, signals raised.

mod canonical;
mod echo;
mod editing;
mod flow;
mod modes;
mod noncanonical;
mod output;
mod signals;

use kestrel_abi::tty::{
    BRKINT, ECHO, ECHONL, ICANON, ICRNL, IEXTEN, IGNBRK, IGNCR, INLCR, ISIG, ISTRIP, IXON, OPOST,
    Termios,
};

use crate::{LineDiscipline, Received, WouldBlock};

/// A terminal in Linux's default (cooked) mode.
fn tty() -> LineDiscipline {
    LineDiscipline::new()
}

/// A terminal whose default settings were changed by `f`.
fn tty_with(f: impl FnOnce(&mut Termios)) -> LineDiscipline {
    let mut ld = tty();
    change(&mut ld, f);
    ld
}

/// Changes the settings of `ld` as `tcsetattr(TCSANOW)` would.
fn change(ld: &mut LineDiscipline, f: impl FnOnce(&mut Termios)) {
    let mut t = ld.termios();
    f(&mut t);
    ld.set_termios(t);
}

/// `cfmakeraw`: no input or output processing, no echo, no signals.
fn make_raw(t: &mut Termios) {
    const PARMRK: u32 = 0o10;
    t.c_iflag &= !(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= !OPOST;
    t.c_lflag &= !(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
}

/// Types `input`; returns the echo. Fails the test if a signal was raised.
fn feed(ld: &mut LineDiscipline, input: &[u8]) -> Vec<u8> {
    let (echo, received) = feed_full(ld, input);
    assert_eq!(received, Received::default(), "unexpected signal or flush");
    echo
}

/// Types `input`; returns the echo and what else the glue must do.
fn feed_full(ld: &mut LineDiscipline, input: &[u8]) -> (Vec<u8>, Received) {
    let mut echo = Vec::new();
    let received = ld.receive(input, &mut echo);
    (echo, received)
}

/// One `read(2)` with a buffer of `len` bytes.
fn read(ld: &mut LineDiscipline, len: usize) -> Result<Vec<u8>, WouldBlock> {
    let mut buf = vec![0u8; len];
    let n = ld.read(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// What a user write puts on the wire.
fn write(ld: &mut LineDiscipline, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ld.process_output(data, &mut out);
    out
}

/// `n` backspace-space-backspace rubouts.
fn rubouts(n: usize) -> Vec<u8> {
    b"\x08 \x08".repeat(n)
}
