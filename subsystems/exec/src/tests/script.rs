//! `parse_shebang`: Linux's fs/binfmt_script.c, case by case.

use kestrel_abi::Errno;

use crate::{Shebang, parse_shebang};

fn ok(head: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let s = parse_shebang(head).unwrap_or_else(|e| panic!("{head:?}: {e}"));
    (s.interpreter.to_vec(), s.argument.map(<[u8]>::to_vec))
}

fn name(s: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    (s.as_bytes().to_vec(), None)
}

fn name_arg(s: &str, a: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    (s.as_bytes().to_vec(), Some(a.as_bytes().to_vec()))
}

#[test]
fn interpreter_alone() {
    assert_eq!(ok(b"#!/bin/sh\necho hi\n"), name("/bin/sh"));
}

#[test]
fn shebang_with_argument_keeps_spaces_inside() {
    assert_eq!(
        ok(b"#!/usr/bin/env -S a  b\tc\n"),
        name_arg("/usr/bin/env", "-S a  b\tc")
    );
}

#[test]
fn leading_and_trailing_blanks_are_dropped() {
    assert_eq!(ok(b"#! \t /bin/sh \t -e  \t\nx"), name_arg("/bin/sh", "-e"));
    assert_eq!(ok(b"#!/bin/sh \t \n"), name("/bin/sh"));
}

#[test]
fn no_newline_in_a_short_file_is_fine() {
    assert_eq!(ok(b"#!/bin/sh"), name("/bin/sh"));
    assert_eq!(ok(b"#!/bin/sh -x"), name_arg("/bin/sh", "-x"));
}

#[test]
fn empty_line_is_enoexec() {
    for head in [&b"#!\n"[..], b"#! \t \nexit 0\n", b"#!\n/bin/sh"] {
        assert_eq!(parse_shebang(head), Err(Errno::ENOEXEC), "{head:?}");
    }
}

#[test]
fn all_blanks_to_the_end_of_the_buffer_is_enoexec() {
    let mut head = b"#!".to_vec();
    head.resize(300, b' ');
    assert_eq!(parse_shebang(&head), Err(Errno::ENOEXEC));
}

/// "#!" then the zero padding: the NUL is not a blank, so Linux sees an empty
/// interpreter path rather than none (and open_exec("") fails with EACCES).
#[test]
fn bare_shebang_names_the_empty_path() {
    assert_eq!(ok(b"#!"), name(""));
    assert_eq!(ok(b"#!\0/bin/sh\n"), name(""));
}

#[test]
fn not_a_script_is_enoexec() {
    assert_eq!(parse_shebang(b"\x7fELF"), Err(Errno::ENOEXEC));
    assert_eq!(parse_shebang(b""), Err(Errno::ENOEXEC));
    assert_eq!(parse_shebang(b"#"), Err(Errno::ENOEXEC));
}

#[test]
fn carriage_return_is_part_of_the_name() {
    assert_eq!(ok(b"#!/bin/sh\r\n"), name("/bin/sh\r"));
}

/// strnchr() stops at the first NUL: a newline after it does not end the line,
/// and the NUL ends the strings.
#[test]
fn nul_ends_the_line() {
    assert_eq!(ok(b"#!/bin/sh\0 -x\n"), name("/bin/sh"));
    assert_eq!(ok(b"#!/bin/sh -x\0 -y\n"), name_arg("/bin/sh", "-x"));
    // Blanks before the NUL are not trimmed in that case: only those before the
    // end of the buffer are.
    assert_eq!(ok(b"#!/bin/sh -x  \0"), name_arg("/bin/sh", "-x  "));
}

fn long_line(prefix: &[u8], fill: u8, total: usize) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.resize(total, fill);
    v.extend_from_slice(b"\nrest\n");
    v
}

#[test]
fn truncated_interpreter_is_enoexec() {
    assert_eq!(
        parse_shebang(&long_line(b"#!/", b'a', 400)),
        Err(Errno::ENOEXEC)
    );
    assert_eq!(
        parse_shebang(&long_line(b"#!  /", b'a', 400)),
        Err(Errno::ENOEXEC)
    );
}

/// A blank after the name and then the end of the line at a NUL (or the end of a
/// short file): the "first non-blank" Linux finds is the NUL, so the argument is
/// the empty string (argv gets a "" entry).
#[test]
fn trailing_blank_before_a_nul_gives_an_empty_argument() {
    assert_eq!(ok(b"#!/bin/sh "), name_arg("/bin/sh", ""));
    assert_eq!(ok(b"#!/bin/sh \t\0\n"), name_arg("/bin/sh", ""));
    assert_eq!(ok(b"#!/bin/sh \n"), name("/bin/sh"));
}

/// The interpreter ends inside the buffer; the argument is cut at byte 255 (the
/// 256th byte is never used).
#[test]
fn long_argument_is_truncated_at_byte_255() {
    let head = long_line(b"#!/bin/sh ", b'A', 400);
    let (interp, arg) = ok(&head);
    assert_eq!(interp, b"/bin/sh");
    assert_eq!(arg.unwrap(), vec![b'A'; 255 - 10]);
}

#[test]
fn interpreter_filling_the_buffer_up_to_a_final_blank() {
    // "#!" + 253 x + " ": the blank at index 255 is the terminator.
    let mut head = b"#!".to_vec();
    head.resize(255, b'x');
    head.push(b' ');
    head.extend_from_slice(b"more");
    let (interp, arg) = ok(&head);
    assert_eq!(interp.len(), 253);
    assert_eq!(arg, None);
}

#[test]
fn newline_within_the_buffer_wins_over_its_end() {
    let mut head = b"#!/bin/sh -e\n".to_vec();
    head.resize(1000, b'z');
    assert_eq!(ok(&head), name_arg("/bin/sh", "-e"));
}

#[test]
fn returned_strings_borrow_the_head() {
    let head = b"#!/bin/sh -x\n".to_vec();
    let s: Shebang<'_> = parse_shebang(&head).unwrap();
    assert_eq!(s.interpreter.as_ptr(), head[2..].as_ptr());
}

/// Cross-check against a direct model of the rules on many generated lines.
#[test]
fn agrees_with_a_simple_model_on_generated_lines() {
    let pieces: [&[u8]; 8] = [b" ", b"\t", b"/bin/sh", b"-x", b"a b", b"\n", b"\0", b"\r"];
    let mut seed = 0x1234_5678_u32;
    for _ in 0..20_000 {
        let mut head = b"#!".to_vec();
        let n = (seed % 7) as usize;
        for _ in 0..n {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            head.extend_from_slice(pieces[(seed >> 16) as usize % pieces.len()]);
        }
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        assert_eq!(
            parse_shebang(&head).map(|s| (s.interpreter.to_vec(), s.argument.map(<[u8]>::to_vec))),
            model(&head),
            "{:?}",
            String::from_utf8_lossy(&head)
        );
    }
}

/// The rules for lines shorter than the buffer, stated directly: the line ends at
/// the first newline or NUL; a NUL line end still yields a (maybe empty) name.
fn model(head: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), Errno> {
    let body = &head[2..];
    let end = body
        .iter()
        .position(|&c| c == b'\n' || c == 0)
        .unwrap_or(body.len());
    let ends_with_nul = end == body.len() || body[end] == 0;
    let line = &body[..end];
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = line.iter().position(|c| !blank(c)).unwrap_or(line.len());
    let line = &line[start..];
    if line.is_empty() && !ends_with_nul {
        return Err(Errno::ENOEXEC);
    }
    if line.is_empty() {
        // Only blanks then the NUL: the NUL itself is the (empty) name, unless the
        // blanks were trimmed back to "#!" with a newline (handled above).
        return Ok((Vec::new(), None));
    }
    let name_len = line.iter().position(blank).unwrap_or(line.len());
    let name = line[..name_len].to_vec();
    let rest = &line[name_len..];
    if rest.is_empty() {
        return Ok((name, None));
    }
    let rest_start = rest.iter().position(|c| !blank(c)).unwrap_or(rest.len());
    let mut arg = &rest[rest_start..];
    if ends_with_nul {
        // Linux finds "the first non-blank" after the separator even if that is the
        // NUL: the argument is then the empty string.
        return Ok((name, Some(arg.to_vec())));
    }
    while arg.last().is_some_and(blank) {
        arg = &arg[..arg.len() - 1];
    }
    Ok((name, (!arg.is_empty()).then(|| arg.to_vec())))
}
