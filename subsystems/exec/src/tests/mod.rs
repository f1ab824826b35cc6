//! Host tests, one file per module under test, plus a tiny ELF writer (no binaries are
//! checked in) and checks against the host's own executables.

mod args;
mod elf;
mod host;
mod layout;
mod probe;
mod script;
mod stack;
mod writer;
