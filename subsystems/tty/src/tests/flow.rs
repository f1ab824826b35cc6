//! Output flow control: VSTOP/VSTART (IXON), IXANY, tcflow.

use kestrel_abi::signal::SIGINT;
use kestrel_abi::tty::{IXANY, IXON};

use super::{change, feed, feed_full, read, tty, tty_with};

#[test]
fn ctrl_s_stops_and_ctrl_q_restarts_output() {
    let mut ld = tty();
    assert_eq!(feed(&mut ld, b"a\x13"), b"a");
    assert!(ld.output_stopped());
    assert_eq!(feed(&mut ld, b"b"), b"b");
    assert!(ld.output_stopped());
    assert_eq!(feed(&mut ld, b"\x11"), b"");
    assert!(!ld.output_stopped());
    feed(&mut ld, b"\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab\n");
}

#[test]
fn ixany_restarts_output_on_any_char() {
    let mut ld = tty_with(|t| t.c_iflag |= IXANY);
    feed(&mut ld, b"\x13");
    assert!(ld.output_stopped());
    assert_eq!(feed(&mut ld, b"x\n"), b"x\r\n");
    assert!(!ld.output_stopped());
    assert_eq!(read(&mut ld, 64).unwrap(), b"x\n");
}

#[test]
fn signal_char_restarts_output() {
    let mut ld = tty();
    let (_, received) = feed_full(&mut ld, b"\x13\x03");
    assert!(received.signals.contains(SIGINT));
    assert!(!ld.output_stopped());
}

#[test]
fn clearing_ixon_restarts_output() {
    let mut ld = tty();
    feed(&mut ld, b"\x13");
    change(&mut ld, |t| t.c_iflag &= !IXON);
    assert!(!ld.output_stopped());
}

#[test]
fn without_ixon_ctrl_s_and_ctrl_q_are_data() {
    let mut ld = tty_with(|t| t.c_iflag &= !IXON);
    assert_eq!(feed(&mut ld, b"\x13\x11\n"), b"^S^Q\r\n");
    assert!(!ld.output_stopped());
    assert_eq!(read(&mut ld, 64).unwrap(), b"\x13\x11\n");
}

#[test]
fn tcooff_is_only_undone_by_tcoon() {
    let mut ld = tty_with(|t| t.c_iflag |= IXANY);
    ld.suspend_output();
    assert!(ld.output_stopped());
    feed(&mut ld, b"\x11x");
    assert!(ld.output_stopped());
    ld.resume_output();
    assert!(!ld.output_stopped());
}

#[test]
fn tcoon_does_not_undo_ctrl_s() {
    // Linux's TCOON only undoes TCOOFF.
    let mut ld = tty();
    feed(&mut ld, b"\x13");
    ld.resume_output();
    assert!(ld.output_stopped());
}
