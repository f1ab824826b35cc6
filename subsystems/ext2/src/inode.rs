//! An inode as its raw bytes, with typed accessors.

use alloc::vec::Vec;

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;

use crate::disk::{self, ino, le16, le32, put16, put32};

/// One inode: its number and its on-disk bytes (the whole inode size, so the extra
/// fields of 256-byte inodes and anything this crate does not know survive).
#[derive(Clone, Debug)]
pub(crate) struct Inode {
    pub num: u32,
    pub raw: Vec<u8>,
}

impl Inode {
    pub fn mode(&self) -> u32 {
        u32::from(le16(&self.raw, ino::MODE))
    }
    pub fn set_mode(&mut self, m: u32) {
        put16(&mut self.raw, ino::MODE, m as u16);
    }
    pub fn kind(&self) -> u32 {
        self.mode() & S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.kind() == S_IFDIR
    }
    pub fn is_reg(&self) -> bool {
        self.kind() == S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.kind() == S_IFLNK
    }

    pub fn uid(&self) -> u32 {
        u32::from(le16(&self.raw, ino::UID)) | u32::from(le16(&self.raw, ino::UID_HIGH)) << 16
    }
    pub fn set_uid(&mut self, v: u32) {
        put16(&mut self.raw, ino::UID, v as u16);
        put16(&mut self.raw, ino::UID_HIGH, (v >> 16) as u16);
    }
    pub fn gid(&self) -> u32 {
        u32::from(le16(&self.raw, ino::GID)) | u32::from(le16(&self.raw, ino::GID_HIGH)) << 16
    }
    pub fn set_gid(&mut self, v: u32) {
        put16(&mut self.raw, ino::GID, v as u16);
        put16(&mut self.raw, ino::GID_HIGH, (v >> 16) as u16);
    }

    pub fn links(&self) -> u32 {
        u32::from(le16(&self.raw, ino::LINKS))
    }
    pub fn set_links(&mut self, n: u32) {
        put16(&mut self.raw, ino::LINKS, n as u16);
    }

    /// The size; i_size_high counts for regular files only (for directories it was
    /// i_dir_acl in ext2).
    pub fn size(&self) -> u64 {
        let lo = u64::from(le32(&self.raw, ino::SIZE));
        if self.is_reg() {
            lo | u64::from(le32(&self.raw, ino::SIZE_HIGH)) << 32
        } else {
            lo
        }
    }
    pub fn set_size(&mut self, s: u64) {
        put32(&mut self.raw, ino::SIZE, s as u32);
        if self.is_reg() {
            put32(&mut self.raw, ino::SIZE_HIGH, (s >> 32) as u32);
        }
    }

    /// i_blocks: 512-byte units of every block the inode holds, indirect and xattr
    /// blocks included.
    pub fn sectors(&self) -> u64 {
        u64::from(le32(&self.raw, ino::BLOCKS))
    }
    pub fn add_sectors(&mut self, delta: i64) {
        let v = (self.sectors() as i64 + delta).max(0);
        put32(&mut self.raw, ino::BLOCKS, v as u32);
        put16(&mut self.raw, ino::BLOCKS_HIGH, 0);
    }

    pub fn block(&self, i: usize) -> u32 {
        le32(&self.raw, ino::BLOCK + 4 * i)
    }
    pub fn set_block(&mut self, i: usize, v: u32) {
        put32(&mut self.raw, ino::BLOCK + 4 * i, v);
    }
    /// The 60 bytes of i_block (a fast symlink's target lives there).
    pub fn block_bytes(&self) -> &[u8] {
        &self.raw[ino::BLOCK..ino::BLOCK + 60]
    }
    pub fn block_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.raw[ino::BLOCK..ino::BLOCK + 60]
    }

    pub fn flags(&self) -> u32 {
        le32(&self.raw, ino::FLAGS)
    }
    pub fn set_flags(&mut self, f: u32) {
        put32(&mut self.raw, ino::FLAGS, f);
    }
    pub fn file_acl(&self) -> u32 {
        le32(&self.raw, ino::FILE_ACL)
    }
    pub fn set_file_acl(&mut self, b: u32) {
        put32(&mut self.raw, ino::FILE_ACL, b);
        put16(&mut self.raw, ino::FILE_ACL_HIGH, 0);
    }
    pub fn dtime(&self) -> u32 {
        le32(&self.raw, ino::DTIME)
    }
    pub fn set_dtime(&mut self, t: u32) {
        put32(&mut self.raw, ino::DTIME, t);
    }
    pub fn set_generation(&mut self, g: u32) {
        put32(&mut self.raw, ino::GENERATION, g);
    }

    /// i_extra_isize: how much of the space past 128 bytes holds fields.
    pub fn extra_isize(&self) -> usize {
        if self.raw.len() > disk::GOOD_OLD_INODE_SIZE {
            usize::from(le16(&self.raw, ino::EXTRA_ISIZE))
        } else {
            0
        }
    }

    /// Whether the extra field at `off` (4 bytes) is inside i_extra_isize.
    fn has_extra(&self, off: usize) -> bool {
        off + 4 <= disk::GOOD_OLD_INODE_SIZE + self.extra_isize() && off + 4 <= self.raw.len()
    }

    fn time(&self, base: usize, extra: usize) -> Timespec {
        let mut sec = i64::from(le32(&self.raw, base) as i32);
        let mut nsec = 0;
        if self.has_extra(extra) {
            let x = le32(&self.raw, extra);
            sec += i64::from(x & 3) << 32;
            nsec = i64::from(x >> 2).min(999_999_999);
        }
        Timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        }
    }

    fn set_time(&mut self, base: usize, extra: usize, t: Timespec) {
        put32(&mut self.raw, base, t.tv_sec as u32);
        if self.has_extra(extra) {
            let epoch = ((t.tv_sec - i64::from(t.tv_sec as i32)) >> 32) as u32 & 3;
            let nsec = t.tv_nsec.clamp(0, 999_999_999) as u32;
            put32(&mut self.raw, extra, epoch | nsec << 2);
        }
    }

    pub fn atime(&self) -> Timespec {
        self.time(ino::ATIME, ino::ATIME_EXTRA)
    }
    pub fn mtime(&self) -> Timespec {
        self.time(ino::MTIME, ino::MTIME_EXTRA)
    }
    pub fn ctime(&self) -> Timespec {
        self.time(ino::CTIME, ino::CTIME_EXTRA)
    }
    pub fn set_atime(&mut self, t: Timespec) {
        self.set_time(ino::ATIME, ino::ATIME_EXTRA, t);
    }
    pub fn set_mtime(&mut self, t: Timespec) {
        self.set_time(ino::MTIME, ino::MTIME_EXTRA, t);
    }
    pub fn set_ctime(&mut self, t: Timespec) {
        self.set_time(ino::CTIME, ino::CTIME_EXTRA, t);
    }
    pub fn set_crtime(&mut self, t: Timespec) {
        if self.has_extra(ino::CRTIME) {
            self.set_time(ino::CRTIME, ino::CRTIME_EXTRA, t);
        }
    }

    /// The device number of a device node: the old 16-bit encoding in i_block[0],
    /// or, when that is zero, Linux's new encoding in i_block[1] (the same layout as
    /// Kestrel's `makedev`).
    pub fn rdev(&self) -> u64 {
        match self.block(0) {
            0 => u64::from(self.block(1)),
            old => u64::from(old & 0xffff),
        }
    }
    pub fn set_rdev(&mut self, dev: u64) {
        let (major, minor) = (major(dev), minor(dev));
        if major < 256 && minor < 256 {
            self.set_block(0, major << 8 | minor);
            self.set_block(1, 0);
        } else {
            self.set_block(0, 0);
            self.set_block(1, makedev(major, minor) as u32);
        }
        self.set_block(2, 0);
    }

    /// Whether i_block holds block pointers (regular files, directories and slow
    /// symlinks) rather than a symlink's text or a device number.
    pub fn has_block_map(&self, block_size: usize) -> bool {
        match self.kind() {
            S_IFREG | S_IFDIR => true,
            S_IFLNK => !self.is_fast_symlink(block_size),
            _ => false,
        }
    }

    /// A fast symlink has no data blocks (an xattr block does not count), as
    /// e2fsprogs and Linux decide.
    pub fn is_fast_symlink(&self, block_size: usize) -> bool {
        let acl = if self.file_acl() != 0 {
            (block_size / 512) as u64
        } else {
            0
        };
        self.is_symlink() && self.sectors().saturating_sub(acl) == 0
    }
}
