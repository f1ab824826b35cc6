//! Settings: switching modes, flushing, VMIN/VTIME policy, window size.

use kestrel_abi::signal::SIGINT;
use kestrel_abi::tty::{ICANON, Termios, VMIN, VTIME, Winsize};

use super::{change, feed, feed_full, make_raw, read, tty, tty_with};
use crate::{LineDiscipline, ReadPolicy, WouldBlock};

#[test]
fn new_terminal_is_linux_default_and_24_by_80() {
    let ld = LineDiscipline::default();
    assert_eq!(ld.termios(), Termios::linux_default());
    let w = ld.winsize();
    assert_eq!(
        (w.ws_row, w.ws_col, w.ws_xpixel, w.ws_ypixel),
        (24, 80, 0, 0)
    );
    assert!(!ld.readable() && !ld.output_stopped());
}

#[test]
fn set_termios_is_what_termios_returns() {
    let mut ld = tty();
    let mut t = ld.termios();
    make_raw(&mut t);
    t.c_cc[VMIN] = 5;
    ld.set_termios(t);
    assert_eq!(ld.termios(), t);
}

#[test]
fn switching_to_raw_releases_partial_line() {
    let mut ld = tty();
    feed(&mut ld, b"ab\ncd");
    change(&mut ld, |t| t.c_lflag &= !ICANON);
    assert!(ld.readable());
    assert_eq!(ld.input_available(), 5);
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab\ncd");
}

#[test]
fn switching_to_raw_drops_pending_eof_markers() {
    let mut ld = tty();
    feed(&mut ld, b"ab\x04\x04");
    change(&mut ld, |t| t.c_lflag &= !ICANON);
    assert_eq!(read(&mut ld, 64).unwrap(), b"ab");
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
}

#[test]
fn switching_to_canonical_makes_pending_bytes_one_line() {
    let mut ld = tty_with(|t| t.c_lflag &= !ICANON);
    feed(&mut ld, b"x\nyz");
    change(&mut ld, |t| t.c_lflag |= ICANON);
    assert!(ld.readable());
    feed(&mut ld, b"new\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"x\nyz");
    assert_eq!(read(&mut ld, 64).unwrap(), b"new\n");
}

#[test]
fn bytes_pending_when_switching_to_canonical_cannot_be_erased() {
    let mut ld = tty_with(|t| t.c_lflag &= !ICANON);
    feed(&mut ld, b"xy");
    change(&mut ld, |t| t.c_lflag |= ICANON);
    assert_eq!(feed(&mut ld, b"\x7f"), b"");
    assert_eq!(read(&mut ld, 64).unwrap(), b"xy");
}

#[test]
fn switching_modes_cancels_a_pending_lnext() {
    let mut ld = tty();
    feed(&mut ld, b"\x16");
    change(&mut ld, |t| t.c_lflag &= !ICANON);
    change(&mut ld, |t| t.c_lflag |= ICANON);
    let (_, received) = feed_full(&mut ld, b"\x03");
    assert!(received.signals.contains(SIGINT));
}

#[test]
fn flush_input_discards_lines_and_partial_line() {
    let mut ld = tty();
    feed(&mut ld, b"ab\ncd\x04ef");
    ld.flush_input();
    assert_eq!(ld.input_available(), 0);
    assert_eq!(read(&mut ld, 64), Err(WouldBlock));
    feed(&mut ld, b"g\n");
    assert_eq!(read(&mut ld, 64).unwrap(), b"g\n");
}

#[test]
fn read_policy_reports_the_four_vmin_vtime_cases() {
    let mut ld = tty();
    assert_eq!(ld.read_policy(), ReadPolicy::Canonical);
    let mut with = |min, time| {
        change(&mut ld, |t| {
            t.c_lflag &= !ICANON;
            t.c_cc[VMIN] = min;
            t.c_cc[VTIME] = time;
        });
        ld.read_policy()
    };
    assert_eq!(with(0, 0), ReadPolicy::Poll);
    assert_eq!(with(4, 0), ReadPolicy::Blocking { min: 4 });
    assert_eq!(with(0, 15), ReadPolicy::Timeout { tenths: 15 });
    assert_eq!(with(4, 2), ReadPolicy::Interbyte { min: 4, tenths: 2 });
}

#[test]
fn read_policy_gives_timers_and_completion() {
    assert_eq!(
        ReadPolicy::Timeout { tenths: 15 }.timeout_ns(),
        Some(1_500_000_000)
    );
    let interbyte = ReadPolicy::Interbyte { min: 4, tenths: 1 };
    assert_eq!(interbyte.timeout_ns(), Some(100_000_000));
    assert_eq!(ReadPolicy::Blocking { min: 1 }.timeout_ns(), None);

    let blocking = ReadPolicy::Blocking { min: 4 };
    assert!(!blocking.satisfied(3, 10));
    assert!(blocking.satisfied(4, 10));
    assert!(blocking.satisfied(2, 2));
    assert!(!interbyte.satisfied(1, 10));
    assert!(ReadPolicy::Timeout { tenths: 1 }.satisfied(1, 10));
    assert!(!ReadPolicy::Timeout { tenths: 1 }.satisfied(0, 10));
    assert!(ReadPolicy::Poll.satisfied(0, 10));
    assert!(ReadPolicy::Canonical.satisfied(0, 10));
}

#[test]
fn poll_readable_waits_for_vmin_when_vtime_is_zero() {
    let mut ld = tty_with(|t| {
        make_raw(t);
        t.c_cc[VMIN] = 3;
        t.c_cc[VTIME] = 0;
    });
    feed(&mut ld, b"ab");
    assert!(ld.readable());
    assert!(!ld.poll_readable());
    feed(&mut ld, b"c");
    assert!(ld.poll_readable());

    change(&mut ld, |t| t.c_cc[VTIME] = 1);
    ld.flush_input();
    feed(&mut ld, b"a");
    assert!(ld.poll_readable());
}

#[test]
fn poll_readable_in_canonical_mode_needs_a_line() {
    let mut ld = tty();
    feed(&mut ld, b"ab");
    assert!(!ld.poll_readable());
    feed(&mut ld, b"\x04");
    assert!(ld.poll_readable());
}

#[test]
fn set_winsize_reports_whether_it_changed() {
    let mut ld = tty();
    let w = Winsize {
        ws_row: 50,
        ws_col: 132,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    assert!(ld.set_winsize(w));
    assert_eq!(ld.winsize(), w);
    assert!(!ld.set_winsize(w));
}
