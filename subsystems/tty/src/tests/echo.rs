//! Echo of ordinary input.

use kestrel_abi::tty::{ECHO, ECHOCTL, ECHONL, ICANON, OPOST, VERASE};

use super::{feed, read, tty, tty_with};

#[test]
fn printable_chars_are_echoed() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"hello, world"), b"hello, world");
}

#[test]
fn newline_echoes_as_crlf_with_onlcr() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"a\n"), b"a\r\n");
}

#[test]
fn echoctl_shows_control_chars_with_caret() {
    let mut ld = tty_with(|t| t.c_cc[VERASE] = 0x08);
    assert_eq!(feed(&mut ld, b"\x01\x1b\x00\x7f"), b"^A^[^@^?");
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\x01\x1b\x00\x7f\n");
}

#[test]
fn tab_is_echoed_as_is() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"\t"), b"\t");
}

#[test]
fn control_chars_echo_raw_without_echoctl() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHOCTL);
    assert_eq!(feed(&mut ld, b"\x01\x1b"), b"\x01\x1b");
}

#[test]
fn high_bytes_are_echoed_unchanged() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"\x80\x9f\xff"), b"\x80\x9f\xff");
}

#[test]
fn echo_off_echoes_nothing_but_echonl_echoes_newline() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHO);
    assert_eq!(feed(&mut ld, b"secret\n"), b"");
    assert_eq!(read(&mut ld, 64).unwrap(), b"secret\n");

    let mut ld = tty_with(|t| {
        t.c_lflag &= !ECHO;
        t.c_lflag |= ECHONL;
    });
    assert_eq!(feed(&mut ld, b"pw\r"), b"\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"pw\n");
}

#[test]
fn echonl_has_no_effect_in_noncanonical_mode() {
    let mut ld = tty_with(|t| {
        t.c_lflag &= !(ECHO | ICANON);
        t.c_lflag |= ECHONL;
    });
    assert_eq!(feed(&mut ld, b"a\r"), b"");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\n");
}

#[test]
fn echo_without_opost_is_not_translated() {
    let mut ld = tty_with(|t| t.c_oflag &= !OPOST);
    assert_eq!(feed(&mut ld, b"a\r"), b"a\n");
}

#[test]
fn eof_char_is_not_echoed() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"ab\x04"), b"ab");
}
