//! Typed system-call arguments.
//!
//! The table ([`super::table`]) declares every argument of every call with one of
//! the types here, and the dispatcher decodes the six argument registers into them
//! once, the way Linux's syscall wrappers do: a C `int` or `unsigned int` takes the
//! low 32 bits of its register (so `0xffff_ffff_0000_0003` is fd 3), `long`,
//! `size_t` and pointers take all 64. Handlers then never cast registers themselves.
//!
//! Pointers arrive as [`UserPtr<T>`] and strings as [`UserCStr`]: nothing is checked
//! when they are decoded (Linux checks a buffer only when it uses it, after the fd
//! and the flags), and they can only be dereferenced through the user-memory gate.

pub use kestrel_usermem::{UserCStr, UserPtr};

/// A file descriptor (a C `int`; negative values are EBADF where a file is needed).
pub type Fd = i32;
/// A process, thread or process-group id (`pid_t`; 0 and negatives mean what each
/// call says).
pub type Pid = i32;
/// A file mode (`umode_t`: 16 bits, as Linux truncates it).
pub type Mode = u16;
/// A user or group id (`uid_t`/`gid_t`; -1 means "leave unchanged" where allowed).
pub type Id = u32;

/// A type the dispatcher can decode from one argument register.
pub trait SyscallArg {
    fn from_reg(reg: u64) -> Self;
}

impl SyscallArg for u64 {
    fn from_reg(reg: u64) -> Self {
        reg
    }
}

impl SyscallArg for i64 {
    fn from_reg(reg: u64) -> Self {
        reg as i64
    }
}

impl SyscallArg for usize {
    fn from_reg(reg: u64) -> Self {
        reg as usize
    }
}

impl SyscallArg for u32 {
    fn from_reg(reg: u64) -> Self {
        reg as u32
    }
}

impl SyscallArg for i32 {
    fn from_reg(reg: u64) -> Self {
        reg as u32 as i32
    }
}

impl SyscallArg for u16 {
    fn from_reg(reg: u64) -> Self {
        reg as u16
    }
}

impl<T> SyscallArg for UserPtr<T> {
    fn from_reg(reg: u64) -> Self {
        UserPtr::new(reg)
    }
}

impl SyscallArg for UserCStr {
    fn from_reg(reg: u64) -> Self {
        UserCStr::new(reg)
    }
}

/// The argument registers, decoded in order as the handler's parameters are
/// evaluated (Rust evaluates call arguments left to right).
pub struct Regs {
    regs: [u64; 6],
    next: usize,
}

impl Regs {
    pub fn new(regs: [u64; 6]) -> Self {
        Self { regs, next: 0 }
    }

    /// The next argument as `T`.
    pub fn next<T: SyscallArg>(&mut self) -> T {
        let v = self.regs[self.next];
        self.next += 1;
        T::from_reg(v)
    }
}
