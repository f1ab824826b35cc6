//! Output processing of user writes (OPOST).

use kestrel_abi::tty::{OCRNL, ONLCR, OPOST};

use super::{feed, tty, tty_with, write};
use crate::output::{ONLRET, ONOCR, XTABS};

#[test]
fn onlcr_turns_newline_into_crlf() {
    let mut ld = tty();
    assert_eq!(write(&mut ld, b"a\nb\n"), b"a\r\nb\r\n");
}

#[test]
fn without_onlcr_newline_is_unchanged() {
    let mut ld = tty_with(|t| t.c_oflag &= !ONLCR);
    assert_eq!(write(&mut ld, b"a\n"), b"a\n");
}

#[test]
fn ocrnl_turns_cr_into_newline() {
    let mut ld = tty_with(|t| t.c_oflag |= OCRNL);
    assert_eq!(write(&mut ld, b"a\rb"), b"a\nb");
}

#[test]
fn without_opost_output_is_unchanged() {
    let mut ld = tty_with(|t| t.c_oflag = (t.c_oflag & !OPOST) | OCRNL);
    assert_eq!(write(&mut ld, b"a\n\r\t"), b"a\n\r\t");
}

#[test]
fn onocr_drops_cr_in_column_zero() {
    let mut ld = tty_with(|t| t.c_oflag |= ONOCR);
    assert_eq!(write(&mut ld, b"\rab\r\r"), b"ab\r");
}

#[test]
fn xtabs_expands_tabs_to_spaces_in_output_and_echo() {
    let mut ld = tty_with(|t| t.c_oflag |= XTABS);
    assert_eq!(write(&mut ld, b"ab\tc"), b"ab      c");
    assert_eq!(feed(&mut ld, b"\n\t"), b"\r\n        ");
}

#[test]
fn onlret_makes_newline_return_the_carriage() {
    // Seen through tab erasure, which backs up to the column the line started in.
    let mut ld = tty_with(|t| t.c_oflag = (t.c_oflag & !ONLCR) | ONLRET);
    write(&mut ld, b"ab\n");
    let mut expected = b"x\t".to_vec();
    expected.extend([0x08; 7]);
    assert_eq!(feed(&mut ld, b"x\t\x7f"), expected);

    let mut ld = tty_with(|t| t.c_oflag &= !ONLCR);
    write(&mut ld, b"ab\n");
    let mut expected = b"x\t".to_vec();
    expected.extend([0x08; 5]);
    assert_eq!(feed(&mut ld, b"x\t\x7f"), expected);
}
