//! How the line discipline classifies bytes.
//!
//! Linux classifies input bytes with the kernel's own ctype table (lib/ctype.c), which
//! is ASCII plus Latin-1: bytes 0x80-0x9f are neither control nor printable, bytes
//! 0xc0-0xff other than 0xd7 and 0xf7 are letters. The echo and erase rules depend on
//! exactly these classes, so they are reproduced here rather than taken from `core`.

use kestrel_abi::tty::Termios;

/// A control character: C0 (0x00-0x1f) or DEL. Echoed as `^X` under ECHOCTL and
/// occupying no column on the terminal otherwise.
pub(crate) const fn is_cntrl(c: u8) -> bool {
    c < 0x20 || c == 0x7f
}

/// A word character for VWERASE: alphanumeric in Linux's Latin-1 table, or `_`.
pub(crate) const fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || (c >= 0xc0 && c != 0xd7 && c != 0xf7)
}

/// A UTF-8 continuation byte (10xxxxxx), which with IUTF8 belongs to the character
/// before it and occupies no column of its own.
pub(crate) const fn is_utf8_continuation(c: u8) -> bool {
    c & 0xc0 == 0x80
}

/// Whether `c` is the special character at `c_cc[index]`. A slot holding 0
/// (`_POSIX_VDISABLE`) matches nothing, so a NUL byte is never special.
pub(crate) fn is_special(t: &Termios, index: usize, c: u8) -> bool {
    t.c_cc.get(index).is_some_and(|&v| v != 0 && v == c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_class_is_c0_and_del_only() {
        assert!(is_cntrl(0x00) && is_cntrl(0x1f) && is_cntrl(0x7f));
        assert!(!is_cntrl(b' ') && !is_cntrl(0x80) && !is_cntrl(0x9f) && !is_cntrl(0xff));
    }

    #[test]
    fn word_class_follows_linux_latin1_table() {
        assert!(is_word(b'a') && is_word(b'Z') && is_word(b'0') && is_word(b'_'));
        assert!(is_word(0xc3) && is_word(0xe9));
        assert!(!is_word(b' ') && !is_word(b'.') && !is_word(0xd7) && !is_word(0xf7));
        assert!(!is_word(0xa9));
    }

    #[test]
    fn disabled_slot_matches_nothing() {
        let mut t = Termios::linux_default();
        t.c_cc[kestrel_abi::tty::VEOL] = 0;
        assert!(!is_special(&t, kestrel_abi::tty::VEOL, 0));
        assert!(is_special(&t, kestrel_abi::tty::VINTR, 0x03));
        assert!(!is_special(&t, 99, 0x03));
    }
}
