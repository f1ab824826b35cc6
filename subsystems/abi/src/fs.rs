//! Files: open flags, `*at` flags, modes, `struct stat`, `struct statx`, dirents,
//! iovecs, poll (include/uapi/asm-generic/fcntl.h, linux/stat.h, linux/fcntl.h).

use bytemuck::{Pod, Zeroable};

use crate::time::Timespec;

// open(2) flags (x86-64 values).
pub const O_ACCMODE: u32 = 0o3;
pub const O_RDONLY: u32 = 0o0;
pub const O_WRONLY: u32 = 0o1;
pub const O_RDWR: u32 = 0o2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_NOCTTY: u32 = 0o400;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DSYNC: u32 = 0o10000;
pub const O_ASYNC: u32 = 0o20000;
pub const O_DIRECT: u32 = 0o40000;
pub const O_LARGEFILE: u32 = 0o100000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_NOATIME: u32 = 0o1000000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const O_SYNC: u32 = 0o4010000;
pub const O_PATH: u32 = 0o10000000;
pub const O_TMPFILE: u32 = 0o20200000;
/// Every flag open(2) knows; others are ignored by Linux (not EINVAL).
pub const O_VALID: u32 = O_ACCMODE
    | O_CREAT
    | O_EXCL
    | O_NOCTTY
    | O_TRUNC
    | O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_ASYNC
    | O_DIRECT
    | O_LARGEFILE
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_NOATIME
    | O_CLOEXEC
    | O_SYNC
    | O_PATH
    | O_TMPFILE;
/// Flags F_SETFL may change.
pub const O_SETFL_MASK: u32 = O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK;

// *at(2) flags.
pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
pub const AT_EACCESS: u32 = 0x200;
pub const AT_REMOVEDIR: u32 = 0x200;
pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
pub const AT_NO_AUTOMOUNT: u32 = 0x800;
pub const AT_EMPTY_PATH: u32 = 0x1000;
pub const AT_STATX_SYNC_TYPE: u32 = 0x6000;

// renameat2 flags.
pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;
pub const RENAME_WHITEOUT: u32 = 4;

// access(2) modes.
pub const F_OK: u32 = 0;
pub const X_OK: u32 = 1;
pub const W_OK: u32 = 2;
pub const R_OK: u32 = 4;

// File types and permission bits (st_mode).
pub const S_IFMT: u32 = 0o170000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_ISUID: u32 = 0o4000;
pub const S_ISGID: u32 = 0o2000;
pub const S_ISVTX: u32 = 0o1000;
/// Permission bits plus setuid/setgid/sticky.
pub const S_IALLUGO: u32 = 0o7777;

// getdents64 d_type values.
pub const DT_UNKNOWN: u8 = 0;
pub const DT_FIFO: u8 = 1;
pub const DT_CHR: u8 = 2;
pub const DT_DIR: u8 = 4;
pub const DT_BLK: u8 = 6;
pub const DT_REG: u8 = 8;
pub const DT_LNK: u8 = 10;
pub const DT_SOCK: u8 = 12;

/// The d_type for a mode's file type.
pub const fn dtype_of(mode: u32) -> u8 {
    match mode & S_IFMT {
        S_IFIFO => DT_FIFO,
        S_IFCHR => DT_CHR,
        S_IFDIR => DT_DIR,
        S_IFBLK => DT_BLK,
        S_IFREG => DT_REG,
        S_IFLNK => DT_LNK,
        S_IFSOCK => DT_SOCK,
        _ => DT_UNKNOWN,
    }
}

// lseek whence.
pub const SEEK_SET: u32 = 0;
pub const SEEK_CUR: u32 = 1;
pub const SEEK_END: u32 = 2;
pub const SEEK_DATA: u32 = 3;
pub const SEEK_HOLE: u32 = 4;

// fcntl commands.
pub const F_DUPFD: u32 = 0;
pub const F_GETFD: u32 = 1;
pub const F_SETFD: u32 = 2;
pub const F_GETFL: u32 = 3;
pub const F_SETFL: u32 = 4;
pub const F_GETLK: u32 = 5;
pub const F_SETLK: u32 = 6;
pub const F_SETLKW: u32 = 7;
pub const F_SETOWN: u32 = 8;
/// fcntl: the signal for I/O readiness (and dnotify) events, and reading it.
pub const F_SETSIG: u32 = 10;
pub const F_GETSIG: u32 = 11;
/// fcntl: file leases.
pub const F_SETLEASE: u32 = 1024;
pub const F_GETLEASE: u32 = 1025;
/// fcntl: directory notification (dnotify).
pub const F_NOTIFY: u32 = 1026;
// F_NOTIFY's event bits.
pub const DN_ACCESS: u32 = 0x1;
pub const DN_MODIFY: u32 = 0x2;
pub const DN_CREATE: u32 = 0x4;
pub const DN_DELETE: u32 = 0x8;
pub const DN_RENAME: u32 = 0x10;
pub const DN_ATTRIB: u32 = 0x20;
pub const DN_MULTISHOT: u32 = 0x8000_0000;
pub const F_GETOWN: u32 = 9;
pub const F_SETOWN_EX: u32 = 15;
pub const F_GETOWN_EX: u32 = 16;
/// struct f_owner_ex's type.
pub const F_OWNER_TID: i32 = 0;
pub const F_OWNER_PID: i32 = 1;
pub const F_OWNER_PGRP: i32 = 2;
pub const F_DUPFD_CLOEXEC: u32 = 1030;
pub const F_GETPIPE_SZ: u32 = 1032;
pub const F_SETPIPE_SZ: u32 = 1031;
pub const FD_CLOEXEC: u32 = 1;
/// Open-file-description locks (fcntl(2)): owned by the open file, not the process.
pub const F_OFD_GETLK: u32 = 36;
pub const F_OFD_SETLK: u32 = 37;
pub const F_OFD_SETLKW: u32 = 38;

// struct flock l_type.
pub const F_RDLCK: i16 = 0;
pub const F_WRLCK: i16 = 1;
pub const F_UNLCK: i16 = 2;

/// `struct flock` on x86-64 (the same as flock64).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Flock {
    pub l_type: i16,
    pub l_whence: i16,
    pub __pad0: u32,
    pub l_start: i64,
    pub l_len: i64,
    pub l_pid: i32,
    pub __pad1: u32,
}

// utimensat special nanosecond values.
pub const UTIME_NOW: i64 = (1 << 30) - 1;
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

// Maximums.
pub const PATH_MAX: usize = 4096;
pub const NAME_MAX: usize = 255;
/// Symlinks followed in one lookup before ELOOP (Linux's MAXSYMLINKS).
pub const MAXSYMLINKS: u32 = 40;
/// iovecs per readv/writev (UIO_MAXIOV).
pub const IOV_MAX: usize = 1024;

/// Makes a device number from major and minor (Linux's new_encode_dev layout).
pub const fn makedev(major: u32, minor: u32) -> u64 {
    ((major as u64 & 0xfff) << 8) | (minor as u64 & 0xff) | ((minor as u64 & !0xff) << 12)
}
/// The major number of a device number.
pub const fn major(dev: u64) -> u32 {
    ((dev >> 8) & 0xfff) as u32
}
/// The minor number of a device number.
pub const fn minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

/// `struct stat` on x86-64.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub __pad0: u32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: Timespec,
    pub st_mtime: Timespec,
    pub st_ctime: Timespec,
    pub __unused: [i64; 3],
}

/// `struct statx_timestamp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct StatxTimestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub __reserved: i32,
}

impl From<Timespec> for StatxTimestamp {
    fn from(t: Timespec) -> Self {
        Self {
            tv_sec: t.tv_sec,
            tv_nsec: t.tv_nsec as u32,
            __reserved: 0,
        }
    }
}

/// `struct statx` (256 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub __spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    pub stx_atime: StatxTimestamp,
    pub stx_btime: StatxTimestamp,
    pub stx_ctime: StatxTimestamp,
    pub stx_mtime: StatxTimestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub stx_mnt_id: u64,
    pub stx_dio_mem_align: u32,
    pub stx_dio_offset_align: u32,
    pub __spare3: [u64; 12],
}

// statx mask bits.
pub const STATX_TYPE: u32 = 0x1;
pub const STATX_MODE: u32 = 0x2;
pub const STATX_NLINK: u32 = 0x4;
pub const STATX_UID: u32 = 0x8;
pub const STATX_GID: u32 = 0x10;
pub const STATX_ATIME: u32 = 0x20;
pub const STATX_MTIME: u32 = 0x40;
pub const STATX_CTIME: u32 = 0x80;
pub const STATX_INO: u32 = 0x100;
pub const STATX_SIZE: u32 = 0x200;
pub const STATX_BLOCKS: u32 = 0x400;
pub const STATX_BASIC_STATS: u32 = 0x7ff;
pub const STATX_BTIME: u32 = 0x800;
pub const STATX_MNT_ID: u32 = 0x1000;
pub const STATX_DIOALIGN: u32 = 0x2000;
pub const STATX_MNT_ID_UNIQUE: u32 = 0x4000;
pub const STATX_RESERVED: u32 = 0x8000_0000;
/// stx_attributes: the file is the root of a mount.
pub const STATX_ATTR_MOUNT_ROOT: u64 = 0x2000;

/// `struct iovec`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Iovec {
    pub base: u64,
    pub len: u64,
}

/// `struct pollfd`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

// poll events.
pub const POLLIN: u16 = 0x001;
pub const POLLPRI: u16 = 0x002;
pub const POLLOUT: u16 = 0x004;
pub const POLLERR: u16 = 0x008;
pub const POLLHUP: u16 = 0x010;
pub const POLLNVAL: u16 = 0x020;
pub const POLLRDNORM: u16 = 0x040;
pub const POLLRDBAND: u16 = 0x080;
pub const POLLWRNORM: u16 = 0x100;
pub const POLLWRBAND: u16 = 0x200;
pub const POLLRDHUP: u16 = 0x2000;

/// `struct epoll_event`: packed on x86-64 (12 bytes).
#[repr(C, packed)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct EpollEvent {
    pub events: u32,
    pub data: u64,
}

// epoll: the event bits are the poll ones, widened; these are the extras.
pub const EPOLLMSG: u32 = 0x400;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
pub const EPOLLERR: u32 = POLLERR as u32;
pub const EPOLLHUP: u32 = POLLHUP as u32;
pub const EPOLL_CLOEXEC: u32 = O_CLOEXEC;
pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;

/// The fixed part of `struct linux_dirent64`; the NUL-terminated name follows and the
/// record is padded to 8 bytes.
pub const DIRENT64_HEADER: usize = 19;

/// Appends one `linux_dirent64` record to `out` if it fits in `room` bytes; returns
/// whether it did.
pub fn push_dirent64(
    out: &mut [u8],
    at: usize,
    ino: u64,
    off: i64,
    dtype: u8,
    name: &[u8],
) -> Option<usize> {
    let reclen = (DIRENT64_HEADER + name.len() + 1).next_multiple_of(8);
    let rec = out.get_mut(at..at + reclen)?;
    rec[0..8].copy_from_slice(&ino.to_le_bytes());
    rec[8..16].copy_from_slice(&off.to_le_bytes());
    rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
    rec[18] = dtype;
    rec[19..19 + name.len()].copy_from_slice(name);
    rec[19 + name.len()..].fill(0);
    Some(reclen)
}

/// `struct cachestat_range` (cachestat(2)): bytes `off..off + len` of a file,
/// `len` 0 meaning to the end.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct CachestatRange {
    pub off: u64,
    pub len: u64,
}

/// `struct cachestat` (cachestat(2)): page counts of a range of a file's cache.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Cachestat {
    /// Pages in memory.
    pub nr_cache: u64,
    /// Of those, changed and not yet written.
    pub nr_dirty: u64,
    /// Of those, being written now.
    pub nr_writeback: u64,
    /// Pages that were in memory and were evicted.
    pub nr_evicted: u64,
    /// Of those, evicted recently (Linux: would have stayed with a little more memory).
    pub nr_recently_evicted: u64,
}

/// `struct statfs` (statfs, fstatfs).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Statfs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}

// File system magic numbers (include/uapi/linux/magic.h).
pub const RAMFS_MAGIC: i64 = 0x8584_58f6;
pub const TMPFS_MAGIC: i64 = 0x0102_1994;
pub const PIPEFS_MAGIC: i64 = 0x5049_5045;
pub const ANON_INODE_FS_MAGIC: i64 = 0x0904_1934;
/// pidfs (Linux 6.9): where pidfds live.
pub const PID_FS_MAGIC: i64 = 0x5049_4446;
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
pub const SOCKFS_MAGIC: i64 = 0x534f_434b;
// statfs f_flags (ST_*).
pub const ST_RDONLY: i64 = 0x0001;
pub const ST_NOSUID: i64 = 0x0002;
pub const ST_NODEV: i64 = 0x0004;
pub const ST_NOEXEC: i64 = 0x0008;
pub const ST_SYNCHRONOUS: i64 = 0x0010;
pub const ST_NOATIME: i64 = 0x0400;
pub const ST_NODIRATIME: i64 = 0x0800;
pub const ST_RELATIME: i64 = 0x1000;
pub const ST_NOSYMFOLLOW: i64 = 0x2000;
pub const ST_VALID: i64 = 0x0020;

// File seals (fcntl F_ADD_SEALS / F_GET_SEALS, memfd_create).
pub const F_ADD_SEALS: u32 = 1033;
pub const F_GET_SEALS: u32 = 1034;
pub const F_SEAL_SEAL: u32 = 0x0001;
pub const F_SEAL_SHRINK: u32 = 0x0002;
pub const F_SEAL_GROW: u32 = 0x0004;
pub const F_SEAL_WRITE: u32 = 0x0008;
pub const F_SEAL_FUTURE_WRITE: u32 = 0x0010;
pub const F_SEAL_EXEC: u32 = 0x0020;

// mount(2) flags.
pub const MS_RDONLY: u64 = 1;
pub const MS_NOSUID: u64 = 2;
pub const MS_NODEV: u64 = 4;
pub const MS_NOEXEC: u64 = 8;
pub const MS_SYNCHRONOUS: u64 = 16;
pub const MS_REMOUNT: u64 = 32;
pub const MS_MANDLOCK: u64 = 64;
pub const MS_DIRSYNC: u64 = 128;
pub const MS_NOSYMFOLLOW: u64 = 256;
pub const MS_NOATIME: u64 = 1024;
pub const MS_NODIRATIME: u64 = 2048;
pub const MS_BIND: u64 = 4096;
pub const MS_MOVE: u64 = 8192;
pub const MS_REC: u64 = 16384;
pub const MS_SILENT: u64 = 32768;
pub const MS_UNBINDABLE: u64 = 1 << 17;
pub const MS_PRIVATE: u64 = 1 << 18;
pub const MS_SLAVE: u64 = 1 << 19;
pub const MS_SHARED: u64 = 1 << 20;
pub const MS_RELATIME: u64 = 1 << 21;
pub const MS_STRICTATIME: u64 = 1 << 24;
pub const MS_LAZYTIME: u64 = 1 << 25;
pub const MS_MGC_VAL: u64 = 0xc0ed_0000;
pub const MS_MGC_MSK: u64 = 0xffff_0000;
// umount2(2) flags.
pub const MNT_FORCE: u32 = 1;
pub const MNT_DETACH: u32 = 2;
pub const MNT_EXPIRE: u32 = 4;
pub const UMOUNT_NOFOLLOW: u32 = 8;
// Block maps: FIBMAP (a logical block's disk block, CAP_SYS_RAWIO), FIGETBSZ
// (the file system's block size) and FS_IOC_FIEMAP (struct Fiemap, then
// fm_extent_count FiemapExtents).
pub const FIBMAP: u32 = 1;
pub const FIGETBSZ: u32 = 2;
pub const FS_IOC_FIEMAP: u32 = 0xc020_660b;
pub const FIEMAP_FLAG_SYNC: u32 = 0x1;
pub const FIEMAP_FLAG_XATTR: u32 = 0x2;
pub const FIEMAP_EXTENT_LAST: u32 = 0x1;
/// UINT_MAX / sizeof(struct fiemap_extent): more is EINVAL.
pub const FIEMAP_MAX_EXTENTS: u32 = u32::MAX / 56;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Fiemap {
    pub fm_start: u64,
    pub fm_length: u64,
    pub fm_flags: u32,
    pub fm_mapped_extents: u32,
    pub fm_extent_count: u32,
    pub fm_reserved: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct FiemapExtent {
    pub fe_logical: u64,
    pub fe_physical: u64,
    pub fe_length: u64,
    pub fe_reserved64: [u64; 2],
    pub fe_flags: u32,
    pub fe_reserved: [u32; 3],
}

// Inode flags (chattr(1), lsattr(1)): FS_IOC_GETFLAGS and FS_IOC_SETFLAGS take a
// pointer to an int holding the FS_*_FL bits.
pub const FS_IOC_GETFLAGS: u32 = 0x8008_6601;
pub const FS_IOC_SETFLAGS: u32 = 0x4008_6602;
pub const FS_SECRM_FL: u32 = 0x1;
pub const FS_UNRM_FL: u32 = 0x2;
pub const FS_COMPR_FL: u32 = 0x4;
pub const FS_SYNC_FL: u32 = 0x8;
pub const FS_IMMUTABLE_FL: u32 = 0x10;
pub const FS_APPEND_FL: u32 = 0x20;
pub const FS_NODUMP_FL: u32 = 0x40;
pub const FS_NOATIME_FL: u32 = 0x80;
pub const FS_DIRSYNC_FL: u32 = 0x1_0000;
pub const FS_DAX_FL: u32 = 0x0200_0000;
pub const FS_PROJINHERIT_FL: u32 = 0x2000_0000;

// Extended inode attributes (struct fsxattr, struct file_attr): the FS_XFLAG_*
// bits of xfs, of which the common ones mirror FS_*_FL flags.
pub const FS_IOC_FSGETXATTR: u32 = 0x801c_581f;
pub const FS_IOC_FSSETXATTR: u32 = 0x401c_5820;
pub const FS_XFLAG_SYNC: u32 = 0x20;
pub const FS_XFLAG_IMMUTABLE: u32 = 0x8;
pub const FS_XFLAG_APPEND: u32 = 0x10;
pub const FS_XFLAG_NOATIME: u32 = 0x40;
pub const FS_XFLAG_NODUMP: u32 = 0x80;
pub const FS_XFLAG_PROJINHERIT: u32 = 0x200;
pub const FS_XFLAG_EXTSIZE: u32 = 0x800;
pub const FS_XFLAG_EXTSZINHERIT: u32 = 0x1000;
pub const FS_XFLAG_DAX: u32 = 0x8000;
pub const FS_XFLAG_COWEXTSIZE: u32 = 0x1_0000;
/// Every FS_XFLAG_* bit defined (Linux 6.17's FS_XFLAG_VALUES_MASK).
pub const FS_XFLAG_VALUES: u32 = 0x1_fffb;
/// `struct file_attr`'s first size (file_getattr, file_setattr).
pub const FILE_ATTR_SIZE_VER0: usize = 24;
