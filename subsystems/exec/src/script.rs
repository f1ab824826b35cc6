//! `#!` scripts, parsed exactly as Linux's `load_script` (fs/binfmt_script.c) does.
//!
//! Only the first [`BINPRM_BUF_SIZE`] bytes of the file count, zero-padded when the
//! file is shorter (`prepare_binprm` clears the buffer before reading). The line ends
//! at the first newline *before any NUL* (`strnchr` stops at a NUL). Then:
//! - leading spaces and tabs after `#!` are skipped; the interpreter runs up to the
//!   first space, tab or NUL; nothing else (not `\r`) ends it;
//! - the optional argument is the rest of the line with leading and trailing spaces
//!   and tabs removed, as *one* string: `#!/bin/sh -e -x` passes `"-e -x"`;
//! - a line with nothing after `#!` but spaces and tabs is `ENOEXEC`;
//! - with no newline in the buffer, the interpreter must still be followed by a space,
//!   tab or NUL inside it, else it may be cut short and the script is `ENOEXEC`; the
//!   argument, though, is silently cut at byte 255 (the interpreter can re-read the
//!   script for the rest);
//! - a NUL ends the interpreter or the argument early. Note that a file of just `#!`
//!   (or `#!` then a NUL) yields the *empty* interpreter path, not `ENOEXEC`: Linux
//!   then calls `open_exec("")`, which resolves to the current directory and fails
//!   with `EACCES`. The kernel's lookup of an empty name must do the same.
//!
//! The kernel then rewrites argv with [`ExecArgs::apply_script`] to
//! `[interpreter, argument?, script path, argv[1..]]` and runs the interpreter, which
//! may itself be a script (up to [`MAX_SCRIPT_REWRITES`] rewrites).
//!
//! [`ExecArgs::apply_script`]: crate::ExecArgs::apply_script
//! [`MAX_SCRIPT_REWRITES`]: crate::MAX_SCRIPT_REWRITES

use kestrel_abi::Errno;

use crate::limits::BINPRM_BUF_SIZE;

/// The parsed `#!` line: byte strings borrowed from the file's first bytes, without
/// NULs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shebang<'a> {
    /// The interpreter path (possibly empty, see the module docs).
    pub interpreter: &'a [u8],
    /// The single optional argument, inner spaces kept.
    pub argument: Option<&'a [u8]>,
}

fn spacetab(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// `next_non_spacetab(first, last)`: the first index in `first..=last` that is not a
/// space or tab.
fn next_non_spacetab(buf: &[u8], first: usize, last: usize) -> Option<usize> {
    (first..=last).find(|&i| !spacetab(buf[i]))
}

/// `next_terminator(first, last)`: the first index in `first..=last` holding a space,
/// tab or NUL.
fn next_terminator(buf: &[u8], first: usize, last: usize) -> Option<usize> {
    (first..=last).find(|&i| spacetab(buf[i]) || buf[i] == 0)
}

/// Parses the `#!` line from the first bytes of a file (any length; only the first
/// [`BINPRM_BUF_SIZE`] bytes are used). `ENOEXEC` if it is not a usable script.
pub fn parse_shebang(head: &[u8]) -> Result<Shebang<'_>, Errno> {
    // The buffer load_script sees: at most 256 bytes, zero padded.
    let mut buf = [0u8; BINPRM_BUF_SIZE];
    let n = head.len().min(BINPRM_BUF_SIZE);
    buf[..n].copy_from_slice(&head[..n]);
    if buf[0] != b'#' || buf[1] != b'!' {
        return Err(Errno::ENOEXEC);
    }
    let buf_end = BINPRM_BUF_SIZE - 1;

    // i_end = strnchr(buf, sizeof(buf), '\n'), which gives up at the first NUL.
    let newline = buf
        .iter()
        .take_while(|&&c| c != 0)
        .position(|&c| c == b'\n');
    let mut i_end = match newline {
        Some(i) => i,
        None => {
            // No newline: refuse a possibly truncated interpreter path.
            let first = next_non_spacetab(&buf, 2, buf_end).ok_or(Errno::ENOEXEC)?;
            next_terminator(&buf, first, buf_end).ok_or(Errno::ENOEXEC)?;
            buf_end
        }
    };
    // Trim trailing spaces and tabs (buf[1] is '!', so this stops by index 2).
    while spacetab(buf[i_end - 1]) {
        i_end -= 1;
    }
    let i_name = match next_non_spacetab(&buf, 2, i_end) {
        Some(i) if i != i_end => i,
        _ => return Err(Errno::ENOEXEC), // no interpreter name found
    };
    let i_sep = next_terminator(&buf, i_name, i_end);
    let i_arg = match i_sep {
        Some(sep) if buf[sep] != 0 => next_non_spacetab(&buf, sep, i_end),
        _ => None,
    };
    // load_script NUL-terminates both strings in place before copying them.
    buf[i_end] = 0;
    if let (Some(_), Some(sep)) = (i_arg, i_sep) {
        buf[sep] = 0;
    }
    // Both are C strings in the buffer; their bytes are unchanged from `head` (only
    // NULs were written), and all lie within it, since the padding is NUL.
    let cstr = |start: usize| {
        let len = buf[start..].iter().position(|&c| c == 0).unwrap_or(0);
        &head[start.min(n)..(start + len).min(n)]
    };
    Ok(Shebang {
        interpreter: cstr(i_name),
        argument: i_arg.map(cstr),
    })
}
