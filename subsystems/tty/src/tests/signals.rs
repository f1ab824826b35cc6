//! Signal characters (ISIG): VINTR, VQUIT, VSUSP.

use kestrel_abi::signal::{SIGINT, SIGQUIT, SIGTSTP};
use kestrel_abi::tty::{ECHO, ECHOCTL, ICANON, ISIG, NOFLSH, VINTR};

use super::{feed, feed_full, read, tty, tty_with};
use crate::WouldBlock;

#[test]
fn ctrl_c_raises_sigint_flushes_and_echoes_caret_c() {
    let mut ld = tty();
    feed(&mut ld, b"done\n");
    let (echo, received) = feed_full(&mut ld, b"partial\x03");
    // The echo of "partial" was still pending, so the flush discarded it too.
    assert_eq!(echo, b"^C");
    assert_eq!(received.signals.iter().collect::<Vec<_>>(), [SIGINT]);
    assert!(received.flush_output);
    assert!(!ld.readable());
    assert_eq!(ld.input_available(), 0);
    feed(&mut ld, b"x\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"x\n");
}

#[test]
fn echo_already_returned_is_left_to_the_flush_output_flag() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"ab"), b"ab");
    let (echo, received) = feed_full(&mut ld, b"\x03");
    assert_eq!(echo, b"^C");
    assert!(received.flush_output);
}

#[test]
fn input_after_the_signal_char_in_the_same_batch_is_kept() {
    let mut ld = tty();
    let (echo, received) = feed_full(&mut ld, b"ab\x03cd\n");
    assert_eq!(echo, b"^Ccd\r\n");
    assert!(received.signals.contains(SIGINT));
    assert_eq!(read(&mut ld, 64).unwrap(), b"cd\n");
}

#[test]
fn ctrl_backslash_raises_sigquit() {
    let mut ld = tty();
    let (echo, received) = feed_full(&mut ld, b"\x1c");
    assert_eq!(echo, b"^\\");
    assert_eq!(received.signals.iter().collect::<Vec<_>>(), [SIGQUIT]);
}

#[test]
fn ctrl_z_raises_sigtstp() {
    let mut ld = tty();
    let (echo, received) = feed_full(&mut ld, b"\x1a");
    assert_eq!(echo, b"^Z");
    assert_eq!(received.signals.iter().collect::<Vec<_>>(), [SIGTSTP]);
}

#[test]
fn several_signals_in_one_batch_are_all_reported() {
    let mut ld = tty();
    let (echo, received) = feed_full(&mut ld, b"\x03\x1c");
    // As in Linux, the second flush also discards the first one's pending echo.
    assert_eq!(echo, b"^\\");
    assert!(received.signals.contains(SIGINT) && received.signals.contains(SIGQUIT));
    assert!(!received.signals.contains(SIGTSTP));
}

#[test]
fn noflsh_keeps_input() {
    let mut ld = tty_with(|t| t.c_lflag |= NOFLSH);
    let (echo, received) = feed_full(&mut ld, b"ab\ncd\x03");
    assert_eq!(echo, b"ab\r\ncd^C");
    assert!(received.signals.contains(SIGINT));
    assert!(!received.flush_output);
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"cd\n");
}

#[test]
fn isig_off_makes_signal_chars_data() {
    let mut ld = tty_with(|t| t.c_lflag &= !ISIG);
    assert_eq!(feed(&mut ld, b"\x03\x1a\n"), b"^C^Z\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\x03\x1a\n");
}

#[test]
fn signal_char_with_echo_off_is_silent() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHO);
    let (echo, received) = feed_full(&mut ld, b"\x03");
    assert_eq!(echo, b"");
    assert!(received.signals.contains(SIGINT));
}

#[test]
fn signal_char_without_echoctl_echoes_itself() {
    let mut ld = tty_with(|t| t.c_lflag &= !ECHOCTL);
    let (echo, _) = feed_full(&mut ld, b"\x03");
    assert_eq!(echo, b"\x03");
}

#[test]
fn signal_char_works_and_flushes_in_noncanonical_mode() {
    let mut ld = tty_with(|t| t.c_lflag &= !ICANON);
    let (echo, received) = feed_full(&mut ld, b"ab\x03");
    assert_eq!(echo, b"^C");
    assert!(received.signals.contains(SIGINT));
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
}

#[test]
fn intr_char_can_be_changed_or_disabled() {
    let mut ld = tty_with(|t| t.c_cc[VINTR] = b'q');
    let (echo, received) = feed_full(&mut ld, b"q");
    assert_eq!(echo, b"q");
    assert!(received.signals.contains(SIGINT));

    let mut ld = tty_with(|t| t.c_cc[VINTR] = 0);
    assert_eq!(feed(&mut ld, b"\x03\0\n"), b"^C^@\r\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"\x03\0\n");
}
