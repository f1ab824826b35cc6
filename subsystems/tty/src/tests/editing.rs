//! Canonical line editing: VERASE, VKILL, VWERASE, VLNEXT, VREPRINT.

use kestrel_abi::tty::{ECHO, ECHOCTL, ECHOE, ECHOK, ECHOKE, ECHOPRT, IEXTEN, IUTF8};

use super::{feed, feed_full, read, rubouts, tty, tty_with, write};
use crate::WouldBlock;

#[test]
fn erase_removes_last_char_and_echoes_backspace_space_backspace() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"abc\x7f"), b"abc\x08 \x08");
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab\n");
}

#[test]
fn erase_at_line_start_does_nothing() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"\x7f\x7f"), b"");
    feed(&mut ld, b"x\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"x\n");
}

#[test]
fn erase_cannot_reach_into_a_completed_line() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"ab\n\x7f"), b"ab\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab\n");
}

#[test]
fn erase_without_echoe_echoes_the_erase_char() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHOE);
    assert_eq!(feed(&mut ld, b"ab\x7f"), b"ab^?");
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\n");
}

#[test]
fn erase_without_echoe_or_echoctl_echoes_the_raw_erase_char() {
    let mut ld = tty_with(|t| t.c_lflag &= !(ECHOE | ECHOCTL));
    assert_eq!(feed(&mut ld, b"ab\x7f"), b"ab\x7f");
}

#[test]
fn erase_of_control_char_with_echoctl_rubs_out_two_columns() {
    let mut ld = tty();
    let mut expected = b"a^A".to_vec();
    expected.extend(rubouts(2));
    assert_eq!(feed(&mut ld, b"a\x01\x7f"), expected);
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\n");
}

#[test]
fn erase_of_control_char_without_echoctl_outputs_nothing_for_it() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHOCTL);
    assert_eq!(feed(&mut ld, b"a\x01\x7f"), b"a\x01");
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\n");
}

#[test]
fn erase_of_tab_backs_up_to_where_the_tab_started() {
    let mut ld = tty();
    // "ab" ends in column 2; the tab took columns 2..8.
    let mut expected = b"ab\t".to_vec();
    expected.extend([0x08; 6]);
    assert_eq!(feed(&mut ld, b"ab\t\x7f"), expected);
}

#[test]
fn erase_of_tab_accounts_for_the_prompt_before_the_line() {
    let mut ld = tty();
    assert_eq!(write(&mut ld, b"$ "), b"$ ");
    // The line starts in column 2, "a" ends in column 3, the tab took 3..8.
    let mut expected = b"a\t".to_vec();
    expected.extend([0x08; 5]);
    assert_eq!(feed(&mut ld, b"a\t\x7f"), expected);
}

#[test]
fn erase_of_tab_after_a_tab_counts_from_that_tab() {
    let mut ld = tty();
    assert_eq!(write(&mut ld, b"$ "), b"$ ");
    let mut expected = b"\tab\t".to_vec();
    expected.extend([0x08; 6]);
    assert_eq!(feed(&mut ld, b"\tab\t\x7f"), expected);
}

#[test]
fn erase_of_tab_counts_caret_shown_controls_as_two_columns() {
    let mut ld = tty();
    let mut expected = b"^A\t".to_vec();
    expected.extend([0x08; 6]);
    assert_eq!(feed(&mut ld, b"\x01\t\x7f"), expected);
}

#[test]
fn erase_of_utf8_char_with_iutf8_removes_the_whole_char() {
    let mut ld = tty_with(|t| t.c_iflag |= IUTF8);
    assert_eq!(
        feed(&mut ld, "aé€\x7f\x7f".as_bytes()),
        [b"a".as_slice(), "é€".as_bytes(), &rubouts(2)].concat()
    );
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\n");
}

#[test]
fn erase_of_utf8_char_without_iutf8_removes_one_byte() {
    let mut ld = tty_with(|t| t.c_iflag &= !IUTF8);
    feed(&mut ld, "aé\x7f\n".as_bytes());
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\xc3\n");
}

#[test]
fn erase_of_stray_continuation_bytes_removes_one_byte() {
    let mut ld = tty_with(|t| t.c_iflag |= IUTF8);
    feed(&mut ld, b"\x80\x81\x7f\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\x80\n");
}

#[test]
fn kill_erases_whole_line() {
    let mut ld = tty();
    let mut expected = b"abc".to_vec();
    expected.extend(rubouts(3));
    assert_eq!(feed(&mut ld, b"abc\x15"), expected);
    feed(&mut ld, b"x\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"x\n");
}

#[test]
fn kill_on_an_empty_line_echoes_nothing() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHOKE);
    assert_eq!(feed(&mut ld, b"\x15"), b"");
}

#[test]
fn kill_without_echoke_echoes_kill_char_and_newline() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHOKE);
    assert_eq!(feed(&mut ld, b"ab\x15"), b"ab^U\r\n");
    feed(&mut ld, b"c\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"c\n");
}

#[test]
fn kill_without_echok_echoes_kill_char_only() {
    let mut ld = tty_with(|t| t.c_lflag &= !(ECHOK | ECHOKE));
    assert_eq!(feed(&mut ld, b"ab\x15"), b"ab^U");
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\n");
}

#[test]
fn kill_with_echo_off_clears_silently() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHO);
    assert_eq!(feed(&mut ld, b"ab\x15c\n"), b"");
    assert_eq!(read(&mut ld, 64).unwrap(), b"c\n");
}

#[test]
fn werase_erases_previous_word() {
    let mut ld = tty();
    let mut expected = b"foo bar  ".to_vec();
    expected.extend(rubouts(5));
    assert_eq!(feed(&mut ld, b"foo bar  \x17"), expected);
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"foo \n");
}

#[test]
fn werase_stops_at_punctuation() {
    let mut ld = tty();
    feed(&mut ld, b"path/to/my_file\x17\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"path/to/\n");
}

#[test]
fn werase_of_only_blanks_erases_them_all() {
    let mut ld = tty();
    assert_eq!(
        feed(&mut ld, b"   \x17"),
        [b"   ".as_slice(), &rubouts(3)].concat()
    );
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\n");
}

#[test]
fn werase_needs_iexten() {
    let mut ld = tty_with(|t| t.c_lflag &= !IEXTEN);
    assert_eq!(feed(&mut ld, b"ab\x17\n"), b"ab^W\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab\x17\n");
}

#[test]
fn lnext_makes_next_char_literal_and_echoes_caret_backspace() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"\x16"), b"^\x08");
    assert_eq!(feed(&mut ld, b"\x7f"), b"^?");
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\x7f\n");
}

#[test]
fn lnext_quotes_signal_eof_and_newline() {
    let mut ld = tty();
    let echo = feed(&mut ld, b"\x16\x03\x16\x04\x16\n\n");
    assert_eq!(echo, b"^\x08^C^\x08^D^\x08^J\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\x03\x04\n\n");
}

#[test]
fn lnext_without_echoctl_echoes_only_the_quoted_char() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHOCTL);
    assert_eq!(feed(&mut ld, b"\x16x"), b"x");
}

#[test]
fn lnext_needs_iexten() {
    let mut ld = tty_with(|t| t.c_lflag &= !IEXTEN);
    let (_, received) = feed_full(&mut ld, b"a\x16\x03");
    assert!(!received.signals.is_empty());
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
}

#[test]
fn reprint_echoes_caret_r_newline_and_the_line() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"ab\x01\x12"), b"ab^A^R\r\nab^A");
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab\x01\n");
}

#[test]
fn reprint_without_echo_is_data() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHO);
    feed(&mut ld, b"a\x12\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"a\x12\n");
}

#[test]
fn echoprt_prints_erased_chars_between_backslash_and_slash() {
    let mut ld = tty_with(|t| t.c_lflag |= ECHOPRT);
    assert_eq!(feed(&mut ld, b"abc\x7f\x7fd\n"), b"abc\\cb/d\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ad\n");
}

#[test]
fn echoprt_closes_the_bracket_when_the_line_is_emptied() {
    let mut ld = tty_with(|t| t.c_lflag |= ECHOPRT);
    assert_eq!(feed(&mut ld, b"ab\x15"), b"ab\\ba/");
}

#[test]
fn echoprt_bracket_is_closed_by_the_end_of_the_line() {
    let mut ld = tty_with(|t| t.c_lflag |= ECHOPRT);
    assert_eq!(feed(&mut ld, b"ab\x7f\nc"), b"ab\\b/\r\nc");
}
