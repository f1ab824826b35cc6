//! `probe`: which handler a file's first bytes select.

use kestrel_abi::Errno;

use crate::{Format, probe};

#[test]
fn elf_magic_is_elf() {
    assert_eq!(probe(b"\x7fELF\x02\x01\x01"), Ok(Format::Elf));
    assert_eq!(probe(b"\x7fELF"), Ok(Format::Elf));
}

#[test]
fn hash_bang_is_script() {
    assert_eq!(probe(b"#!/bin/sh\n"), Ok(Format::Script));
    assert_eq!(probe(b"#!"), Ok(Format::Script));
}

#[test]
fn anything_else_is_enoexec() {
    for head in [
        &b""[..],
        b"#",
        b"\x7fEL",
        b"# !/bin/sh",
        b"\x7felf",
        b"MZ\x90\x00",
        b" #!/bin/sh",
    ] {
        assert_eq!(probe(head), Err(Errno::ENOEXEC), "{head:?}");
    }
}
