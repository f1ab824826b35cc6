//! Mounting: reading and checking the superblock and group descriptors.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::Errno;

use crate::disk::{self, gd, le16, le32, put16, put32, sb};
use crate::io::{BlockIo, SECTOR};
use crate::state::{Geometry, State};

/// Why a disk could not be mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountError {
    /// What `mount(2)` returns: EINVAL for something that is not a usable ext2 file
    /// system, EUCLEAN for a corrupted one, EIO when the disk fails.
    pub errno: Errno,
    /// What is wrong, for the kernel log.
    pub reason: String,
}

impl core::fmt::Display for MountError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ext2: {} ({})", self.reason, self.errno.name())
    }
}

fn err(errno: Errno, reason: impl Into<String>) -> MountError {
    MountError {
        errno,
        reason: reason.into(),
    }
}

/// How to mount.
#[derive(Debug, Clone, Copy, Default)]
pub struct MountOptions {
    /// Never write (`mount -o ro`).
    pub read_only: bool,
    /// When the file system has read-only-compatible features this crate cannot
    /// write with: mount read-only (with a warning) instead of failing.
    pub ro_fallback: bool,
    /// The device number `stat` reports as st_dev.
    pub dev: u64,
}

pub(crate) struct Mounted {
    pub state: State,
    pub read_only: bool,
    pub warnings: Vec<String>,
}

pub(crate) async fn mount(
    dev: Arc<dyn BlockIo>,
    opts: MountOptions,
    holds: Arc<spin::Mutex<BTreeMap<u32, usize>>>,
) -> Result<Mounted, MountError> {
    let mut warnings = Vec::new();
    let disk_sectors = dev.sectors();
    if disk_sectors < 4 {
        return Err(err(Errno::EINVAL, "the disk is too small for ext2"));
    }
    let mut sbuf = vec![0u8; disk::SUPERBLOCK_SIZE];
    dev.read(disk::SUPERBLOCK_OFFSET / SECTOR as u64, &mut sbuf)
        .await
        .map_err(|e| err(e, "cannot read the superblock"))?;
    if le16(&sbuf, sb::MAGIC) != disk::EXT2_SUPER_MAGIC {
        return Err(err(Errno::EINVAL, "no ext2 superblock (bad magic)"));
    }
    let rev = le32(&sbuf, sb::REV_LEVEL);
    if rev > 1 {
        return Err(err(Errno::EINVAL, "unknown revision level"));
    }
    let log = le32(&sbuf, sb::LOG_BLOCK_SIZE);
    if log > 6 {
        return Err(err(Errno::EUCLEAN, "impossible block size"));
    }
    let bs = 1024usize << log;
    let (compat, incompat, ro_compat) = if rev == 0 {
        (0, 0, 0)
    } else {
        (
            le32(&sbuf, sb::FEATURE_COMPAT),
            le32(&sbuf, sb::FEATURE_INCOMPAT),
            le32(&sbuf, sb::FEATURE_RO_COMPAT),
        )
    };
    let _ = compat; // compatible features are safe by definition (resize_inode, dir_index...)
    let unknown = incompat & !disk::INCOMPAT_SUPPORTED;
    if unknown != 0 {
        let what = if unknown & disk::INCOMPAT_RECOVER != 0 {
            "the journal needs recovery"
        } else if unknown & disk::INCOMPAT_META_BG != 0 {
            "meta_bg"
        } else {
            "incompatible features"
        };
        return Err(err(
            Errno::EINVAL,
            alloc::format!("unsupported {what} (incompat {unknown:#x}); cannot mount"),
        ));
    }
    let mut read_only = opts.read_only;
    let unknown_ro = ro_compat & !disk::RO_COMPAT_SUPPORTED;
    if unknown_ro != 0 && !read_only {
        if !opts.ro_fallback {
            return Err(err(
                Errno::EINVAL,
                alloc::format!(
                    "unsupported read-only-compatible features (ro_compat {unknown_ro:#x}); \
                     cannot mount read-write"
                ),
            ));
        }
        warnings.push(alloc::format!(
            "unsupported ro_compat features {unknown_ro:#x}: mounted read-only"
        ));
        read_only = true;
    }
    if le32(&sbuf, sb::LOG_CLUSTER_SIZE) != log {
        return Err(err(Errno::EINVAL, "cluster size differs from block size"));
    }
    let state_bits = le16(&sbuf, sb::STATE);
    if state_bits & disk::STATE_VALID == 0 {
        warnings.push("mounting a file system that was not cleanly unmounted; run e2fsck".into());
    }
    if state_bits & disk::STATE_ERROR != 0 {
        warnings.push("mounting a file system with errors; run e2fsck".into());
    }

    let blocks_count = le32(&sbuf, sb::BLOCKS_COUNT);
    let first_data_block = le32(&sbuf, sb::FIRST_DATA_BLOCK);
    let bpg = le32(&sbuf, sb::BLOCKS_PER_GROUP);
    let ipg = le32(&sbuf, sb::INODES_PER_GROUP);
    let inodes_count = le32(&sbuf, sb::INODES_COUNT);
    let (inode_size, first_ino) = if rev == 0 {
        (disk::GOOD_OLD_INODE_SIZE, disk::GOOD_OLD_FIRST_INO)
    } else {
        (
            usize::from(le16(&sbuf, sb::INODE_SIZE)),
            le32(&sbuf, sb::FIRST_INO),
        )
    };
    let bad = |what: &str| err(Errno::EUCLEAN, alloc::format!("bad geometry: {what}"));
    if bpg == 0 || bpg as usize > bs * 8 || bpg != le32(&sbuf, sb::CLUSTERS_PER_GROUP) {
        return Err(bad("blocks per group"));
    }
    if ipg == 0 || ipg as usize > bs * 8 {
        return Err(bad("inodes per group"));
    }
    if inode_size < disk::GOOD_OLD_INODE_SIZE || inode_size > bs || !inode_size.is_power_of_two() {
        return Err(bad("inode size"));
    }
    if first_data_block >= blocks_count || first_data_block > 1 {
        return Err(bad("first data block"));
    }
    let groups = (blocks_count - first_data_block).div_ceil(bpg);
    if u64::from(groups) * u64::from(ipg) != u64::from(inodes_count) {
        return Err(bad("inode count does not match the groups"));
    }
    if first_ino < disk::ROOT_INO + 1 || first_ino > inodes_count {
        return Err(bad("first inode"));
    }
    if u64::from(blocks_count) * (bs / SECTOR) as u64 > disk_sectors {
        return Err(err(
            Errno::EINVAL,
            "the file system is larger than the disk holding it",
        ));
    }
    let gdt_bytes = groups as usize * gd::SIZE;
    let gdt_blocks = gdt_bytes.div_ceil(bs) as u32;
    let ipb = bs / inode_size;
    let itb_per_group = (ipg as usize).div_ceil(ipb) as u32;
    let ppb = (bs / 4) as u64;
    // The largest file: what the block map addresses, and what i_blocks (512-byte
    // units in 32 bits) can count with the indirect blocks a file that big needs.
    let addressable = (12 + ppb + ppb * ppb + ppb * ppb * ppb) * bs as u64;
    let by_iblocks =
        (u64::from(u32::MAX) * SECTOR as u64) / (ppb + 1) * ppb / bs as u64 * bs as u64;
    let mut max_file_size = addressable.min(by_iblocks);
    if rev == 0 {
        max_file_size = max_file_size.min(i32::MAX as u64);
    }
    let new_extra_isize = if inode_size > disk::GOOD_OLD_INODE_SIZE {
        let want = le16(&sbuf, sb::WANT_EXTRA_ISIZE);
        let max = (inode_size - disk::GOOD_OLD_INODE_SIZE) as u16;
        if want >= 4 && want <= max && want.is_multiple_of(4) {
            want
        } else {
            32.min(max)
        }
    } else {
        0
    };
    let geo = Geometry {
        bs,
        blocks_count,
        first_data_block,
        blocks_per_group: bpg,
        inodes_per_group: ipg,
        inodes_count,
        inode_size,
        first_ino,
        groups,
        gdt_blocks,
        itb_per_group,
        ppb,
        filetype: incompat & disk::INCOMPAT_FILETYPE != 0,
        sparse_super: ro_compat & disk::RO_COMPAT_SPARSE_SUPER != 0,
        new_extra_isize,
        max_file_size,
    };

    let mut gdt = vec![0u8; gdt_blocks as usize * bs];
    dev.read(
        u64::from(first_data_block + 1) * (bs / SECTOR) as u64,
        &mut gdt,
    )
    .await
    .map_err(|e| err(e, "cannot read the group descriptors"))?;
    for g in 0..groups {
        let first = geo.group_first_block(g);
        let last = first + geo.group_blocks(g) - 1;
        let at = |f| le32(&gdt, g as usize * gd::SIZE + f);
        let (bb, ib, it) = (
            at(gd::BLOCK_BITMAP),
            at(gd::INODE_BITMAP),
            at(gd::INODE_TABLE),
        );
        if bb < first
            || bb > last
            || ib < first
            || ib > last
            || it < first
            || it + itb_per_group - 1 > last
        {
            return Err(err(
                Errno::EUCLEAN,
                alloc::format!("group descriptor {g} points outside its group"),
            ));
        }
    }

    let mut state = State::new(dev, geo, sbuf, gdt, read_only, holds);
    if !read_only {
        // Mark the file system in use until a clean unmount (e2fsck then knows a
        // crash happened), and finish what a crash left on the orphan list.
        let now = crate::now_secs();
        put16(&mut state.sb, sb::STATE, state_bits & !disk::STATE_VALID);
        let mounts = le16(&state.sb, sb::MNT_COUNT).wrapping_add(1);
        put16(&mut state.sb, sb::MNT_COUNT, mounts);
        put32(&mut state.sb, sb::MTIME, now);
        state
            .write_super()
            .await
            .map_err(|e| err(e, "cannot write the superblock"))?;
        if state_bits & disk::STATE_VALID == 0 {
            state
                .recount_free()
                .await
                .map_err(|e| err(e, "cannot read the bitmaps"))?;
        }
        state
            .free_orphans()
            .await
            .map_err(|e| err(e, "cannot process the orphan list"))?;
        state
            .commit_all()
            .await
            .map_err(|e| err(e, "cannot write the superblock"))?;
    }
    Ok(Mounted {
        state,
        read_only,
        warnings,
    })
}
