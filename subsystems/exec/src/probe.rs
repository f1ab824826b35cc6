//! Which format handler a file belongs to, from its first bytes.
//!
//! Linux offers the first [`BINPRM_BUF_SIZE`](crate::BINPRM_BUF_SIZE) bytes to each
//! registered handler in turn (`search_binary_handler` in `fs/exec.c`); a handler that
//! does not recognise them returns `ENOEXEC` and the next one is tried. Kestrel has
//! two handlers: ELF (`\x7fELF`, `load_elf_binary`) and scripts (`#!`, `load_script`).
//! They never both match, so the order does not matter. A file neither recognises,
//! an empty one included, is `ENOEXEC`; so is a file with the ELF magic that the ELF
//! checks then reject, because the script handler does not take it either.

use kestrel_abi::Errno;

/// A recognised executable format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Starts with `\x7fELF`: see [`ElfImage::parse`](crate::ElfImage::parse).
    Elf,
    /// Starts with `#!`: see [`parse_shebang`](crate::parse_shebang).
    Script,
}

/// Classifies a file by its first bytes (any number; only 4 are looked at).
pub fn probe(head: &[u8]) -> Result<Format, Errno> {
    if head.starts_with(b"\x7fELF") {
        Ok(Format::Elf)
    } else if head.starts_with(b"#!") {
        Ok(Format::Script)
    } else {
        Err(Errno::ENOEXEC)
    }
}
