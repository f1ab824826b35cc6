//! Terminal ioctls and `struct termios` (include/uapi/asm-generic/termbits.h,
//! ioctls.h).

use bytemuck::{Pod, Zeroable};

pub const TCGETS: u32 = 0x5401;
pub const TCSETS: u32 = 0x5402;
pub const TCSETSW: u32 = 0x5403;
pub const TCSETSF: u32 = 0x5404;
/// The old `struct termio` calls (16-bit flags, 8 control characters).
pub const TCGETA: u32 = 0x5405;
pub const TCSETA: u32 = 0x5406;
pub const TCSETAW: u32 = 0x5407;
pub const TCSETAF: u32 = 0x5408;
pub const TCSBRK: u32 = 0x5409;
pub const TCXONC: u32 = 0x540a;
pub const TCFLSH: u32 = 0x540b;
pub const TIOCEXCL: u32 = 0x540c;
pub const TIOCNXCL: u32 = 0x540d;
pub const TIOCSCTTY: u32 = 0x540e;
pub const TIOCGPGRP: u32 = 0x540f;
pub const TIOCSPGRP: u32 = 0x5410;
pub const TIOCOUTQ: u32 = 0x5411;
pub const TIOCGWINSZ: u32 = 0x5413;
pub const TIOCSWINSZ: u32 = 0x5414;
pub const FIONREAD: u32 = 0x541b;
pub const TIOCNOTTY: u32 = 0x5422;
pub const FIONBIO: u32 = 0x5421;
pub const FIONCLEX: u32 = 0x5450;
pub const FIOCLEX: u32 = 0x5451;
pub const FIOASYNC: u32 = 0x5452;
pub const TIOCGSID: u32 = 0x5429;
pub const TIOCGPTN: u32 = 0x8004_5430;
pub const TIOCSPTLCK: u32 = 0x4004_5431;

/// Number of control characters in the kernel's termios.
pub const NCCS: usize = 19;

/// The kernel's `struct termios` (what TCGETS/TCSETS copy; glibc converts).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Termios {
    pub c_iflag: u32,
    pub c_oflag: u32,
    pub c_cflag: u32,
    pub c_lflag: u32,
    pub c_line: u8,
    pub c_cc: [u8; NCCS],
}

/// Number of control characters in the old `struct termio`.
pub const NCC: usize = 8;

/// The old `struct termio` (TCGETA/TCSETA): the low 16 bits of each flag
/// word, the line discipline and the first [`NCC`] control characters.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Termio {
    pub c_iflag: u16,
    pub c_oflag: u16,
    pub c_cflag: u16,
    pub c_lflag: u16,
    pub c_line: u8,
    pub c_cc: [u8; NCC],
    /// The compiler's padding to the struct's 2-byte alignment.
    pub _pad: u8,
}

impl Termio {
    /// What TCGETA reports of `t`.
    pub fn from_termios(t: &Termios) -> Termio {
        let mut cc = [0u8; NCC];
        cc.copy_from_slice(&t.c_cc[..NCC]);
        Termio {
            c_iflag: t.c_iflag as u16,
            c_oflag: t.c_oflag as u16,
            c_cflag: t.c_cflag as u16,
            c_lflag: t.c_lflag as u16,
            c_line: t.c_line,
            c_cc: cc,
            _pad: 0,
        }
    }

    /// `t` with this termio set over it, as TCSETA does: the low 16 bits of
    /// each flag word and the first [`NCC`] control characters change, the
    /// rest stays.
    pub fn apply_to(&self, t: &Termios) -> Termios {
        let mut n = *t;
        n.c_iflag = (t.c_iflag & 0xffff_0000) | u32::from(self.c_iflag);
        n.c_oflag = (t.c_oflag & 0xffff_0000) | u32::from(self.c_oflag);
        n.c_cflag = (t.c_cflag & 0xffff_0000) | u32::from(self.c_cflag);
        n.c_lflag = (t.c_lflag & 0xffff_0000) | u32::from(self.c_lflag);
        n.c_line = self.c_line;
        n.c_cc[..NCC].copy_from_slice(&self.c_cc);
        n
    }
}

/// `struct winsize`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Winsize {
    pub ws_row: u16,
    pub ws_col: u16,
    pub ws_xpixel: u16,
    pub ws_ypixel: u16,
}

// c_cc indices.
pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VTIME: usize = 5;
pub const VMIN: usize = 6;
pub const VSWTC: usize = 7;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VREPRINT: usize = 12;
pub const VDISCARD: usize = 13;
pub const VWERASE: usize = 14;
pub const VLNEXT: usize = 15;
pub const VEOL2: usize = 16;

// c_iflag bits.
pub const IGNBRK: u32 = 0o1;
pub const BRKINT: u32 = 0o2;
pub const IGNPAR: u32 = 0o4;
pub const ISTRIP: u32 = 0o40;
pub const INLCR: u32 = 0o100;
pub const IGNCR: u32 = 0o200;
pub const ICRNL: u32 = 0o400;
pub const IXON: u32 = 0o2000;
pub const IXANY: u32 = 0o4000;
pub const IXOFF: u32 = 0o10000;
pub const IMAXBEL: u32 = 0o20000;
pub const IUTF8: u32 = 0o40000;

// c_oflag bits.
pub const OPOST: u32 = 0o1;
pub const ONLCR: u32 = 0o4;
pub const OCRNL: u32 = 0o10;

// c_cflag bits.
pub const B38400: u32 = 0o17;
pub const CS8: u32 = 0o60;
pub const CREAD: u32 = 0o200;
pub const HUPCL: u32 = 0o2000;
pub const CLOCAL: u32 = 0o4000;

// c_lflag bits.
pub const ISIG: u32 = 0o1;
pub const ICANON: u32 = 0o2;
pub const ECHO: u32 = 0o10;
pub const ECHOE: u32 = 0o20;
pub const ECHOK: u32 = 0o40;
pub const ECHONL: u32 = 0o100;
pub const NOFLSH: u32 = 0o200;
pub const TOSTOP: u32 = 0o400;
pub const ECHOCTL: u32 = 0o1000;
pub const ECHOPRT: u32 = 0o2000;
pub const ECHOKE: u32 = 0o4000;
pub const IEXTEN: u32 = 0o100000;

impl Termios {
    /// Linux's defaults for a new terminal (`tty_std_termios`): cooked mode with
    /// echo, signals, CR→NL on input and NL→CRNL on output.
    pub fn linux_default() -> Self {
        let mut c_cc = [0u8; NCCS];
        c_cc[VINTR] = 0x03; // ^C
        c_cc[VQUIT] = 0x1c; // ^\
        c_cc[VERASE] = 0x7f; // DEL
        c_cc[VKILL] = 0x15; // ^U
        c_cc[VEOF] = 0x04; // ^D
        c_cc[VTIME] = 0;
        c_cc[VMIN] = 1;
        c_cc[VSTART] = 0x11; // ^Q
        c_cc[VSTOP] = 0x13; // ^S
        c_cc[VSUSP] = 0x1a; // ^Z
        c_cc[VREPRINT] = 0x12; // ^R
        c_cc[VDISCARD] = 0x0f; // ^O
        c_cc[VWERASE] = 0x17; // ^W
        c_cc[VLNEXT] = 0x16; // ^V
        Self {
            c_iflag: ICRNL | IXON,
            c_oflag: OPOST | ONLCR,
            c_cflag: B38400 | CS8 | CREAD | HUPCL,
            c_lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            c_line: 0,
            c_cc,
        }
    }
}
