//! The strings an exec carries to the new program, and Linux's limits on them.
//!
//! Linux copies the file name, the environment and the arguments onto the new stack
//! before it even looks at the file (`do_execveat_common` in fs/exec.c), and fails
//! with `E2BIG` when:
//! - argv or envp has more than [`MAX_ARG_STRINGS`] entries (`count`);
//! - one string, its NUL included, is longer than [`MAX_ARG_STRLEN`] (`valid_arg_len`);
//! - all strings together (file name, envp, argv, each with its NUL) exceed the
//!   argument space: a quarter of the stack rlimit, at most three quarters of
//!   [`STK_LIM`] and at least [`ARG_MAX`], minus one pointer per argv and envp entry
//!   (`bprm_stack_limits`; an empty argv counts as one entry).
//!
//! An empty argv becomes `[""]` (since Linux 5.18), so programs never see argc 0.
//!
//! For a `#!` script, [`ExecArgs::apply_script`] does what `load_script` does to the
//! strings: it drops argv\[0\] (`remove_arg_zero`, which frees its space), then adds
//! the script path, the optional argument and the interpreter, under the same limits.
//! The file name (`AT_EXECFN`) stays the one `execve` was given.

use alloc::vec::Vec;

use kestrel_abi::Errno;

use crate::limits::{ARG_MAX, MAX_ARG_STRINGS, MAX_ARG_STRLEN, MAX_SCRIPT_REWRITES, STK_LIM};
use crate::script::Shebang;

/// The argv/envp byte budget for a stack rlimit (`rlim_cur`), before pointers are
/// subtracted: `max(min(STK_LIM / 4 * 3, rlimit / 4), ARG_MAX)`.
pub fn argument_limit(stack_rlimit: u64) -> u64 {
    (STK_LIM / 4 * 3).min(stack_rlimit / 4).max(ARG_MAX)
}

/// The file name, argv and envp of an exec in progress, with the space they use
/// accounted as Linux does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecArgs {
    filename: Vec<u8>,
    interp: Vec<u8>,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    room: u64,
    rewrites: usize,
}

/// The C string in `s`: up to its first NUL, if any.
fn cstr(s: &[u8]) -> &[u8] {
    s.iter().position(|&c| c == 0).map_or(s, |n| &s[..n])
}

impl ExecArgs {
    /// Copies the strings of `execve(filename, argv, envp)` under the limits for
    /// `stack_rlimit` (the caller's `RLIMIT_STACK` soft limit). The strings are C
    /// strings without their NUL; anything from a NUL on is ignored. `filename` is
    /// the path as given (Linux uses `/dev/fd/N/name` for `execveat` relative to a
    /// directory fd and `/dev/fd/N` for `AT_EMPTY_PATH`).
    pub fn new(
        filename: &[u8],
        argv: &[&[u8]],
        envp: &[&[u8]],
        stack_rlimit: u64,
    ) -> Result<Self, Errno> {
        if argv.len() > MAX_ARG_STRINGS || envp.len() > MAX_ARG_STRINGS {
            return Err(Errno::E2BIG);
        }
        let limit = argument_limit(stack_rlimit);
        let ptr_size = (argv.len().max(1) as u64 + envp.len() as u64) * 8;
        if limit <= ptr_size {
            return Err(Errno::E2BIG);
        }
        let mut args = Self {
            filename: Vec::new(),
            interp: Vec::new(),
            argv: Vec::with_capacity(argv.len().max(1)),
            envp: Vec::with_capacity(envp.len()),
            room: limit - ptr_size,
            rewrites: 0,
        };
        args.filename = args.take(filename)?;
        args.interp = args.filename.clone();
        for s in envp {
            let s = args.take(s)?;
            args.envp.push(s);
        }
        for s in argv {
            let s = args.take(s)?;
            args.argv.push(s);
        }
        if args.argv.is_empty() {
            let s = args.take(b"")?;
            args.argv.push(s);
        }
        Ok(args)
    }

    /// Accounts for one more string (`copy_strings`/`copy_string_kernel`).
    fn take(&mut self, s: &[u8]) -> Result<Vec<u8>, Errno> {
        let s = cstr(s);
        let len = s.len() as u64 + 1;
        if len > MAX_ARG_STRLEN as u64 || len > self.room {
            return Err(Errno::E2BIG);
        }
        self.room -= len;
        Ok(s.to_vec())
    }

    /// Rewrites argv for a `#!` script as `load_script` does: `[interpreter,
    /// argument?, script path, argv[1..]]`, where the script path is the file being
    /// run (the `execve` path, or the previous interpreter for a script run by a
    /// script). `E2BIG` if the new strings do not fit.
    pub fn apply_script(&mut self, shebang: &Shebang<'_>) -> Result<(), Errno> {
        if !self.argv.is_empty() {
            let zero = self.argv.remove(0);
            self.room += zero.len() as u64 + 1;
        }
        let path = {
            let p = self.interp.clone();
            self.take(&p)?
        };
        let arg = match shebang.argument {
            Some(a) => Some(self.take(a)?),
            None => None,
        };
        let name = self.take(shebang.interpreter)?;
        let mut front = Vec::with_capacity(3);
        front.push(name.clone());
        front.extend(arg);
        front.push(path);
        self.argv.splice(0..0, front);
        self.interp = name;
        self.rewrites += 1;
        Ok(())
    }

    /// `ELOOP` once more than [`MAX_SCRIPT_REWRITES`] rewrites were made: call it
    /// before handling each file, as `exec_binprm` does (the first file is depth 0).
    pub fn check_depth(&self) -> Result<(), Errno> {
        if self.rewrites > MAX_SCRIPT_REWRITES {
            Err(Errno::ELOOP)
        } else {
            Ok(())
        }
    }

    /// The path `execve` was given: the `AT_EXECFN` string.
    pub fn filename(&self) -> &[u8] {
        &self.filename
    }

    /// The file to run now: the `execve` path, or the last `#!` interpreter.
    pub fn current_file(&self) -> &[u8] {
        &self.interp
    }

    /// The argument strings, without NULs.
    pub fn argv(&self) -> &[Vec<u8>] {
        &self.argv
    }

    /// The environment strings, without NULs.
    pub fn envp(&self) -> &[Vec<u8>] {
        &self.envp
    }

    /// How many `#!` rewrites were applied.
    pub fn rewrites(&self) -> usize {
        self.rewrites
    }

    /// Bytes of argument space left.
    pub fn room(&self) -> u64 {
        self.room
    }
}
