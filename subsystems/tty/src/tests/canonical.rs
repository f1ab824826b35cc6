//! Canonical mode: lines, reads, terminators, input translation, the line limit.

use kestrel_abi::tty::{ICRNL, IEXTEN, IGNCR, INLCR, ISTRIP, VEOL, VEOL2, VERASE};

use super::{feed, read, tty, tty_with};
use crate::{N_TTY_BUF_SIZE, WouldBlock};

#[test]
fn typed_line_is_not_readable_until_newline() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"hello"), b"hello");
    assert!(!ld.readable());
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
    assert_eq!(ld.input_available(), 0);
    assert_eq!(feed(&mut ld, b"\n"), b"\r\n");
    assert!(ld.readable());
    assert_eq!(read(&mut ld, 64).unwrap(), b"hello\n");
    assert!(!ld.readable());
}

#[test]
fn one_line_per_canonical_read() {
    let mut ld = tty();
    feed(&mut ld, b"one\ntwo\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"one\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"two\n");
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
}

#[test]
fn small_buffer_read_returns_rest_of_line_next_time() {
    let mut ld = tty();
    feed(&mut ld, b"abcdef\nxy\n");
    assert_eq!(read(&mut ld, 4).unwrap(), b"abcd");
    assert_eq!(read(&mut ld, 4).unwrap(), b"ef\n");
    assert_eq!(read(&mut ld, 4).unwrap(), b"xy\n");
}

#[test]
fn eof_at_line_start_reads_zero() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"\x04"), b"");
    assert!(ld.readable());
    assert_eq!(ld.input_available(), 0);
    assert_eq!(read(&mut ld, 64).unwrap(), b"");
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
}

#[test]
fn eof_mid_line_returns_partial_line_without_eof_char() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"abc\x04"), b"abc");
    assert_eq!(ld.input_available(), 3);
    assert_eq!(read(&mut ld, 64).unwrap(), b"abc");
    // The VEOF went with the line: no end of file follows.
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
}

#[test]
fn eof_after_a_read_that_fills_the_buffer_exactly_is_consumed() {
    let mut ld = tty();
    feed(&mut ld, b"ab\x04");
    assert_eq!(read(&mut ld, 2).unwrap(), b"ab");
    assert_eq!(read(&mut ld, 2), Err(WouldBlock));
}

#[test]
fn eof_ended_line_read_in_pieces_ends_with_its_last_piece() {
    let mut ld = tty();
    feed(&mut ld, b"abcd\x04x\n");
    assert_eq!(read(&mut ld, 3).unwrap(), b"abc");
    assert_eq!(read(&mut ld, 3).unwrap(), b"d");
    assert_eq!(read(&mut ld, 3).unwrap(), b"x\n");
}

#[test]
fn each_eof_on_an_empty_line_is_one_end_of_file() {
    let mut ld = tty();
    feed(&mut ld, b"\x04\x04");
    assert_eq!(read(&mut ld, 8).unwrap(), b"");
    assert_eq!(read(&mut ld, 8).unwrap(), b"");
    assert_eq!(read(&mut ld, 8), Err(WouldBlock));
}

#[test]
fn eol_ends_a_line_and_is_returned_with_it() {
    let mut ld = tty_with(|t| t.c_cc[VEOL] = b';');
    assert_eq!(feed(&mut ld, b"a;b"), b"a;b");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a;");
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
}

#[test]
fn control_char_eol_is_echoed_with_caret() {
    let mut ld = tty_with(|t| t.c_cc[VEOL] = 0x1d);
    assert_eq!(feed(&mut ld, b"a\x1d"), b"a^]");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\x1d");
}

#[test]
fn eol2_ends_a_line_only_with_iexten() {
    let mut ld = tty_with(|t| t.c_cc[VEOL2] = b'|');
    feed(&mut ld, b"a|");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a|");

    let mut ld = tty_with(|t| {
        t.c_cc[VEOL2] = b'|';
        t.c_lflag &= !IEXTEN;
    });
    feed(&mut ld, b"a|b");
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a|b\n");
}

#[test]
fn cr_becomes_nl_with_icrnl() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"hi\r"), b"hi\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"hi\n");
}

#[test]
fn igncr_drops_cr() {
    let mut ld = tty_with(|t| t.c_iflag |= IGNCR);
    assert_eq!(feed(&mut ld, b"a\rb\n"), b"ab\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab\n");
}

#[test]
fn without_icrnl_cr_is_data_and_does_not_end_the_line() {
    let mut ld = tty_with(|t| t.c_iflag &= !ICRNL);
    assert_eq!(feed(&mut ld, b"a\r"), b"a^M");
    assert!(!ld.readable());
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\r\n");
}

#[test]
fn inlcr_and_icrnl_swap_cr_and_nl() {
    let mut ld = tty_with(|t| t.c_iflag |= INLCR);
    assert_eq!(feed(&mut ld, b"x\ny"), b"x^My");
    assert!(!ld.readable());
    feed(&mut ld, b"\r");
    assert_eq!(read(&mut ld, 64).unwrap(), b"x\ry\n");
}

#[test]
fn istrip_clears_the_high_bit() {
    let mut ld = tty_with(|t| t.c_iflag |= ISTRIP);
    // 0x8d strips to CR, which ICRNL then turns into NL.
    assert_eq!(feed(&mut ld, &[0xe1, 0x8d]), b"a\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\n");
}

#[test]
fn line_limit_drops_extra_chars() {
    let mut ld = tty();
    let echo = feed(&mut ld, &[b'a'; 5000]);
    assert_eq!(echo, vec![b'a'; N_TTY_BUF_SIZE - 1]);
    assert_eq!(feed(&mut ld, b"\n"), b"\r\n");
    let mut expected = vec![b'a'; N_TTY_BUF_SIZE - 1];
    expected.push(b'\n');
    assert_eq!(read(&mut ld, 8192).unwrap(), expected);
}

#[test]
fn full_line_can_still_be_edited_and_ended() {
    let mut ld = tty();
    feed(&mut ld, &[b'x'; N_TTY_BUF_SIZE - 1]);
    assert_eq!(feed(&mut ld, b"\x7f"), b"\x08 \x08");
    // Room for one more data byte: "y" fits, "z" is dropped unechoed.
    assert_eq!(feed(&mut ld, b"yz\n"), b"y\r\n");
    let line = read(&mut ld, 8192).unwrap();
    assert_eq!(line.len(), N_TTY_BUF_SIZE);
    assert_eq!(&line[N_TTY_BUF_SIZE - 3..], b"xy\n");
}

#[test]
fn unread_lines_and_the_edited_line_share_the_buffer() {
    let mut ld = tty();
    let mut first = vec![b'a'; 3000];
    first.push(b'\n');
    feed(&mut ld, &first);
    let echo = feed(&mut ld, &[b'b'; 2000]);
    let room = N_TTY_BUF_SIZE - 1 - first.len();
    assert_eq!(echo.len(), room);
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 8192).unwrap(), first);
    let mut second = vec![b'b'; room];
    second.push(b'\n');
    assert_eq!(read(&mut ld, 8192).unwrap(), second);
}

#[test]
fn empty_read_buffer_returns_zero_and_takes_nothing() {
    let mut ld = tty();
    feed(&mut ld, b"ab\n");
    assert_eq!(ld.read(&mut []), Ok(0));
    assert_eq!(read(&mut ld, 8).unwrap(), b"ab\n");
}

#[test]
fn input_available_counts_completed_lines_only() {
    let mut ld = tty();
    feed(&mut ld, b"abc\nde");
    assert_eq!(ld.input_available(), 4);
    read(&mut ld, 2).unwrap();
    assert_eq!(ld.input_available(), 2);
}

#[test]
fn disabled_special_char_is_ordinary_data() {
    let mut ld = tty_with(|t| t.c_cc[VERASE] = 0);
    assert_eq!(feed(&mut ld, b"a\x7f\0\n"), b"a^?^@\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\x7f\0\n");
}
