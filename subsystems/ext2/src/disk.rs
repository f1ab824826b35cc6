//! The on-disk format: byte offsets of the fields this crate uses, and little-endian
//! accessors. Structures are kept as their raw bytes and edited in place, so fields
//! this crate does not know survive a rewrite untouched.

pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
pub(crate) fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

pub const EXT2_SUPER_MAGIC: u16 = 0xef53;
/// The superblock lives 1024 bytes into the disk, whatever the block size.
pub(crate) const SUPERBLOCK_OFFSET: u64 = 1024;
pub(crate) const SUPERBLOCK_SIZE: usize = 1024;

/// Superblock fields (struct ext2_super_block).
pub(crate) mod sb {
    pub const INODES_COUNT: usize = 0;
    pub const BLOCKS_COUNT: usize = 4;
    pub const R_BLOCKS_COUNT: usize = 8;
    pub const FREE_BLOCKS_COUNT: usize = 12;
    pub const FREE_INODES_COUNT: usize = 16;
    pub const FIRST_DATA_BLOCK: usize = 20;
    pub const LOG_BLOCK_SIZE: usize = 24;
    pub const LOG_CLUSTER_SIZE: usize = 28;
    pub const BLOCKS_PER_GROUP: usize = 32;
    pub const CLUSTERS_PER_GROUP: usize = 36;
    pub const INODES_PER_GROUP: usize = 40;
    pub const MTIME: usize = 44;
    pub const WTIME: usize = 48;
    pub const MNT_COUNT: usize = 52;
    pub const MAGIC: usize = 56;
    pub const STATE: usize = 58;
    pub const REV_LEVEL: usize = 76;
    pub const FIRST_INO: usize = 84;
    pub const INODE_SIZE: usize = 88;
    pub const FEATURE_COMPAT: usize = 92;
    pub const FEATURE_INCOMPAT: usize = 96;
    pub const FEATURE_RO_COMPAT: usize = 100;
    pub const UUID: usize = 104;
    pub const RESERVED_GDT_BLOCKS: usize = 206;
    pub const LAST_ORPHAN: usize = 232;
    pub const WANT_EXTRA_ISIZE: usize = 350;
}

/// s_state bits.
pub(crate) const STATE_VALID: u16 = 1;
pub(crate) const STATE_ERROR: u16 = 2;

pub const COMPAT_EXT_ATTR: u32 = 0x0008;
pub const INCOMPAT_FILETYPE: u32 = 0x0002;
pub const INCOMPAT_RECOVER: u32 = 0x0004;
pub const INCOMPAT_META_BG: u32 = 0x0010;
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
pub const RO_COMPAT_LARGE_FILE: u32 = 0x0002;
/// Incompatible features this crate understands (anything else: no mount).
pub const INCOMPAT_SUPPORTED: u32 = INCOMPAT_FILETYPE;
/// Read-only-compatible features this crate can write with (anything else: read-only).
pub const RO_COMPAT_SUPPORTED: u32 = RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE;

/// Group descriptor fields (struct ext2_group_desc, 32 bytes).
pub(crate) mod gd {
    pub const SIZE: usize = 32;
    pub const BLOCK_BITMAP: usize = 0;
    pub const INODE_BITMAP: usize = 4;
    pub const INODE_TABLE: usize = 8;
    pub const FREE_BLOCKS: usize = 12;
    pub const FREE_INODES: usize = 14;
    pub const USED_DIRS: usize = 16;
}

/// Inode fields (struct ext2_inode; 128 bytes, then the extra fields of larger inodes).
pub(crate) mod ino {
    pub const MODE: usize = 0;
    pub const UID: usize = 2;
    pub const SIZE: usize = 4;
    pub const ATIME: usize = 8;
    pub const CTIME: usize = 12;
    pub const MTIME: usize = 16;
    pub const DTIME: usize = 20;
    pub const GID: usize = 24;
    pub const LINKS: usize = 26;
    pub const BLOCKS: usize = 28;
    pub const FLAGS: usize = 32;
    pub const BLOCK: usize = 40;
    pub const GENERATION: usize = 100;
    pub const FILE_ACL: usize = 104;
    pub const SIZE_HIGH: usize = 108;
    pub const BLOCKS_HIGH: usize = 116;
    pub const FILE_ACL_HIGH: usize = 118;
    pub const UID_HIGH: usize = 120;
    pub const GID_HIGH: usize = 122;
    pub const EXTRA_ISIZE: usize = 128;
    pub const CTIME_EXTRA: usize = 132;
    pub const MTIME_EXTRA: usize = 136;
    pub const ATIME_EXTRA: usize = 140;
    pub const CRTIME: usize = 144;
    pub const CRTIME_EXTRA: usize = 148;
}

/// The first 128 bytes of every inode; larger inodes have extra fields after.
pub(crate) const GOOD_OLD_INODE_SIZE: usize = 128;
/// Inodes below this are reserved in revision-0 file systems.
pub(crate) const GOOD_OLD_FIRST_INO: u32 = 11;
pub const ROOT_INO: u32 = 2;
/// i_block slots: 12 direct, then single, double and triple indirect.
pub(crate) const NDIR_BLOCKS: usize = 12;
pub(crate) const IND_BLOCK: usize = 12;
pub(crate) const DIND_BLOCK: usize = 13;
pub(crate) const TIND_BLOCK: usize = 14;
/// i_flags: the directory has an htree index (EXT2_INDEX_FL).
pub(crate) const INDEX_FL: u32 = 0x1000;
/// The i_flags bits FS_IOC_GETFLAGS shows (EXT2_FL_USER_VISIBLE).
pub const FL_USER_VISIBLE: u32 = 0x004B_DFFF;
/// The i_flags bits FS_IOC_SETFLAGS changes (EXT2_FL_USER_MODIFIABLE); the
/// others it is given are ignored, as by Linux's ext2.
pub const FL_USER_MODIFIABLE: u32 = 0x0003_80FF;
/// The i_flags bits a new inode takes from its directory (EXT2_FL_INHERITED:
/// secrm, unrm, compr, sync, nodump, noatime, comprblk, nocomp, journal_data,
/// notail, dirsync).
const FL_INHERITED: u32 = 0x0001_C6CF;

/// A new inode's i_flags from its directory's `dir_flags`: what directories
/// pass on, of which a regular file keeps all but DIRSYNC and TOPDIR, and other
/// non-directories only NODUMP and NOATIME (Linux's ext2_mask_flags).
pub(crate) fn inherited_flags(dir_flags: u32, kind: &kestrel_vfs::NodeKind) -> u32 {
    use kestrel_vfs::NodeKind;
    let f = dir_flags & FL_INHERITED;
    match kind {
        NodeKind::Dir => f,
        NodeKind::File => f & !(0x1_0000 | 0x2_0000),
        _ => f & (0x40 | 0x80),
    }
}
/// Most hard links to one inode (EXT2_LINK_MAX).
pub const LINK_MAX: u32 = 32000;
/// Fast symlinks keep their target in i_block when shorter than this.
pub(crate) const FAST_SYMLINK_MAX: usize = 60;

/// Directory entry: inode, rec_len, name_len, file_type, name.
pub(crate) mod de {
    pub const INODE: usize = 0;
    pub const REC_LEN: usize = 4;
    pub const NAME_LEN: usize = 6;
    pub const FILE_TYPE: usize = 7;
    pub const NAME: usize = 8;
}

/// The space a directory entry with a name of `len` bytes needs (EXT2_DIR_REC_LEN).
pub(crate) fn dir_rec_len(len: usize) -> usize {
    (len + 8 + 3) & !3
}

/// ext2 file_type values in directory entries.
pub(crate) mod ft {
    pub const UNKNOWN: u8 = 0;
    pub const REG: u8 = 1;
    pub const DIR: u8 = 2;
    pub const CHRDEV: u8 = 3;
    pub const BLKDEV: u8 = 4;
    pub const FIFO: u8 = 5;
    pub const SOCK: u8 = 6;
    pub const SYMLINK: u8 = 7;
}

use kestrel_abi::fs::*;

/// The directory-entry type of an inode mode.
pub(crate) fn ft_of_mode(mode: u32) -> u8 {
    match mode & S_IFMT {
        S_IFREG => ft::REG,
        S_IFDIR => ft::DIR,
        S_IFCHR => ft::CHRDEV,
        S_IFBLK => ft::BLKDEV,
        S_IFIFO => ft::FIFO,
        S_IFSOCK => ft::SOCK,
        S_IFLNK => ft::SYMLINK,
        _ => ft::UNKNOWN,
    }
}

/// d_type (DT_*) of an ext2 file_type.
pub(crate) fn dtype_of_ft(t: u8) -> u8 {
    match t {
        ft::REG => DT_REG,
        ft::DIR => DT_DIR,
        ft::CHRDEV => DT_CHR,
        ft::BLKDEV => DT_BLK,
        ft::FIFO => DT_FIFO,
        ft::SOCK => DT_SOCK,
        ft::SYMLINK => DT_LNK,
        _ => DT_UNKNOWN,
    }
}

/// Whether block group `g` holds a copy of the superblock (and the group
/// descriptors): all of them, or with sparse_super only 0, 1 and powers of 3, 5, 7.
pub(crate) fn group_has_super(g: u32, sparse: bool) -> bool {
    if !sparse || g <= 1 {
        return true;
    }
    let power_of = |b: u32| {
        let mut n = g;
        while n.is_multiple_of(b) {
            n /= b;
        }
        n == 1
    };
    power_of(3) || power_of(5) || power_of(7)
}
