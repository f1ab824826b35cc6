//! Non-canonical ("raw") mode.

use kestrel_abi::tty::ICANON;

use super::{feed, make_raw, read, tty_with};
use crate::{N_TTY_BUF_SIZE, WouldBlock};

#[test]
fn raw_mode_delivers_bytes_immediately() {
    let mut ld = tty_with(make_raw);
    assert_eq!(feed(&mut ld, b"ab"), b"");
    assert!(ld.readable());
    assert_eq!(ld.input_available(), 2);
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab");
}

#[test]
fn raw_mode_read_returns_what_is_available_up_to_the_buffer() {
    let mut ld = tty_with(make_raw);
    feed(&mut ld, b"abc\ndef");
    assert_eq!(read(&mut ld, 4).unwrap(), b"abc\n");
    assert_eq!(read(&mut ld, 4).unwrap(), b"def");
}

#[test]
fn raw_mode_empty_queue_would_block() {
    let mut ld = tty_with(make_raw);
    assert!(!ld.readable());
    assert_eq!(read(&mut ld, 4), Err(WouldBlock));
}

#[test]
fn raw_mode_passes_every_byte_through_unchanged() {
    let mut ld = tty_with(make_raw);
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(feed(&mut ld, &all), b"");
    assert_eq!(read(&mut ld, 512).unwrap(), all);
}

#[test]
fn noncanonical_editing_and_eof_chars_are_data() {
    let mut ld = tty_with(|t| t.c_lflag &= !ICANON);
    assert_eq!(feed(&mut ld, b"a\x7f\x15\x17\x04"), b"a^?^U^W^D");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\x7f\x15\x17\x04");
}

#[test]
fn noncanonical_echo_shows_literal_lf_as_caret_j_but_cr_as_newline() {
    // As in Linux: only the NL that ICRNL made from CR echoes as a newline.
    let mut ld = tty_with(|t| t.c_lflag &= !ICANON);
    assert_eq!(feed(&mut ld, b"\n\r"), b"^J\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\n\n");
}

#[test]
fn raw_mode_input_limit_is_4095_bytes() {
    let mut ld = tty_with(make_raw);
    feed(&mut ld, &[b'r'; 5000]);
    assert_eq!(ld.input_available(), N_TTY_BUF_SIZE - 1);
    assert_eq!(read(&mut ld, 8192).unwrap(), vec![b'r'; N_TTY_BUF_SIZE - 1]);
    feed(&mut ld, b"s");
    assert_eq!(read(&mut ld, 8).unwrap(), b"s");
}
