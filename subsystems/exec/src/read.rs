//! Reading a file held in memory the way Linux's exec code reads it from disk.
//!
//! Linux reads executables with `kernel_read`, whose position is a signed `loff_t`:
//! `rw_verify_area` refuses a negative position, or one whose end overflows, with
//! `EINVAL` (regular files have no `FMODE_UNSIGNED_OFFSET`). A read past the end of
//! the file is short, which `elf_read` in `fs/binfmt_elf.c` turns into `EIO`. Fields
//! are little-endian and read explicitly, byte by byte.

use kestrel_abi::Errno;

/// `elf_read(file, buf, len, pos)`: exactly `len` bytes at `pos`, else the error
/// Linux gives (`EINVAL` for an impossible position, `EIO` for a short read).
pub(crate) fn elf_read(file: &[u8], pos: u64, len: usize) -> Result<&[u8], Errno> {
    let end = (pos as i64)
        .checked_add(len as i64)
        .filter(|_| pos <= i64::MAX as u64)
        .ok_or(Errno::EINVAL)? as u64;
    if end > file.len() as u64 {
        return Err(Errno::EIO);
    }
    Ok(&file[pos as usize..end as usize])
}

/// A little-endian `u16` at `off` (the caller guarantees the bounds).
pub(crate) fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// A little-endian `u32` at `off`.
pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(v)
}

/// A little-endian `u64` at `off`.
pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(v)
}
