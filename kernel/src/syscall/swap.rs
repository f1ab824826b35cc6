//! swapon(2) and swapoff(2): swap areas are checked and accounted as Linux
//! does ([`crate::fs::swap`]); Kestrel never pages memory out to them.
//!
//! swapon's checks, in Linux 6.x's order: unknown flags (EINVAL), no
//! CAP_SYS_ADMIN (EPERM), no free area slot (EPERM), the path (opened
//! read-write: ENOENT, EACCES, EISDIR, EROFS...), a device mounted or in use
//! (EBUSY), a file already active (EBUSY), a file whose file system cannot
//! hold swap (tmpfs, procfs: EINVAL), then the header (the last 10 bytes of
//! the first page "SWAPSPACE2", version 1, a last page that is not 0 and lies
//! within the file, no bad pages in a file and at most 637 on a device, some
//! usable page: else EINVAL) and holes in a file (EINVAL).

use alloc::sync::Arc;
use alloc::vec;

use kestrel_abi::cap::CAP_SYS_ADMIN;
use kestrel_abi::fs::{AT_FDCWD, O_LARGEFILE, O_RDWR, S_IFBLK, S_IFREG};
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::OpenFile;

use super::Ctx;
use super::args::UserCStr;
use crate::fs::swap::{self, Area, MAX_SWAPFILES};

const PAGE: usize = 4096;
const SWAP_FLAG_PREFER: u32 = 0x8000;
const SWAP_FLAG_PRIO_MASK: u32 = 0x7fff;
const SWAP_FLAG_DISCARD: u32 = 0x10000;
const SWAP_FLAG_DISCARD_ONCE: u32 = 0x20000;
const SWAP_FLAG_DISCARD_PAGES: u32 = 0x40000;
const SWAP_FLAGS_VALID: u32 = SWAP_FLAG_PRIO_MASK
    | SWAP_FLAG_PREFER
    | SWAP_FLAG_DISCARD
    | SWAP_FLAG_DISCARD_ONCE
    | SWAP_FLAG_DISCARD_PAGES;
/// Where `union swap_header`'s fields are: `info.version`, `last_page`,
/// `nr_badpages` after 1024 boot bytes, the bad page list at 1536, the magic
/// in the page's last 10 bytes.
const VERSION_AT: usize = 1024;
const BADPAGES_AT: usize = 1536;
const MAGIC_AT: usize = PAGE - 10;
/// How many bad pages the header has room for (Linux's MAX_SWAP_BADPAGES).
const MAX_SWAP_BADPAGES: u32 = ((MAGIC_AT - BADPAGES_AT) / 4) as u32;

/// The first page of `file`; zeros past its end (as Linux reads a page).
async fn first_page(file: &OpenFile) -> KResult<alloc::vec::Vec<u8>> {
    let mut page = vec![0u8; PAGE];
    let mut got = 0;
    while got < PAGE {
        let n = match file.read_async(Some(got as u64), &mut page[got..]) {
            Some(io) => io.await?,
            None => return Err(Errno::EINVAL),
        };
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(page)
}

/// The usable pages the header `h` describes for an area of `size_pages`
/// pages (Linux's read_swap_header and the bad-page count of
/// setup_swap_map_and_extents); EINVAL if it describes none.
fn check_header(h: &[u8], size_pages: u64, is_file: bool) -> KResult<(u64, u64)> {
    if &h[MAGIC_AT..] != b"SWAPSPACE2" {
        return Err(Errno::EINVAL);
    }
    let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    // A header of the other byte order (mkswap on a big-endian machine).
    let swapped = word(VERSION_AT).swap_bytes() == 1;
    let field = |at: usize| {
        if swapped {
            word(at).swap_bytes()
        } else {
            word(at)
        }
    };
    if field(VERSION_AT) != 1 {
        return Err(Errno::EINVAL);
    }
    let last_page = field(VERSION_AT + 4);
    let nr_badpages = field(VERSION_AT + 8);
    if last_page == 0 {
        return Err(Errno::EINVAL);
    }
    let maxpages = u64::from(last_page) + 1;
    if size_pages != 0 && maxpages > size_pages {
        return Err(Errno::EINVAL);
    }
    if nr_badpages != 0 && is_file {
        return Err(Errno::EINVAL);
    }
    if nr_badpages > MAX_SWAP_BADPAGES {
        return Err(Errno::EINVAL);
    }
    let mut bad = 0;
    for i in 0..nr_badpages as usize {
        let p = field(BADPAGES_AT + 4 * i);
        if p == 0 || p > last_page {
            return Err(Errno::EINVAL);
        }
        if u64::from(p) < maxpages {
            bad += 1;
        }
    }
    // The header page is not swap space.
    let good = maxpages - 1 - bad;
    if good == 0 {
        return Err(Errno::EINVAL);
    }
    Ok((maxpages, good))
}

pub async fn sys_swapon(ctx: &mut Ctx<'_>, path: UserCStr, flags: i32) -> KResult<u64> {
    let flags = flags as u32;
    if flags & !SWAP_FLAGS_VALID != 0 {
        return Err(Errno::EINVAL);
    }
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    if swap::count() >= MAX_SWAPFILES {
        return Err(Errno::EPERM);
    }
    let path = ctx.read_path(path)?;
    let file = super::fs::open_file_at(ctx, AT_FDCWD, &path, O_RDWR | O_LARGEFILE, 0).await?;
    let inode = file.inode().cloned().ok_or(Errno::EINVAL)?;
    let m = inode.metadata();
    let key = swap::key(&inode);
    let (rdev, size) = match m.file_type() {
        S_IFBLK => {
            // Opened exclusively, as Linux's O_EXCL open of a block device:
            // not while mounted or another area.
            if crate::fs::ext2::disk_cache(m.rdev).is_some() || swap::is_swap_device(m.rdev) {
                return Err(Errno::EBUSY);
            }
            let b = crate::drivers::block_by_rdev(m.rdev).ok_or(Errno::ENXIO)?;
            (Some(m.rdev), b.dev.info().sectors * 512)
        }
        S_IFREG => {
            if swap::is_swapfile(key) {
                return Err(Errno::EBUSY);
            }
            (None, m.size)
        }
        _ => return Err(Errno::EINVAL),
    };
    // Only a disk file system's file can hold swap (Linux: a mapping that can
    // read pages and map blocks; tmpfs's cannot).
    if rdev.is_none() && !crate::fs::ext2::is_ext2_file(file.ops()) {
        return Err(Errno::EINVAL);
    }
    let header = first_page(&file).await?;
    let (maxpages, pages) = check_header(&header, size / PAGE as u64, rdev.is_none())?;
    if rdev.is_none()
        && crate::fs::ext2::swap_file_has_no_holes(file.ops(), maxpages * PAGE as u64).await
            != Some(true)
    {
        return Err(Errno::EINVAL);
    }
    let prio = (flags & SWAP_FLAG_PREFER != 0).then_some((flags & SWAP_FLAG_PRIO_MASK) as i32);
    swap::add(
        Area {
            file: file.clone(),
            key,
            rdev,
            pages,
            prio: 0,
        },
        prio,
    )?;
    Ok(0)
}

pub async fn sys_swapoff(ctx: &mut Ctx<'_>, path: UserCStr) -> KResult<u64> {
    if !ctx.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let path = ctx.read_path(path)?;
    let file: Arc<OpenFile> =
        super::fs::open_file_at(ctx, AT_FDCWD, &path, O_RDWR | O_LARGEFILE, 0).await?;
    let inode = file.inode().ok_or(Errno::EINVAL)?;
    let m = inode.metadata();
    let rdev = (m.file_type() == S_IFBLK).then_some(m.rdev);
    // Nothing was paged out, so there is nothing to bring back in.
    swap::remove(swap::key(inode), rdev).ok_or(Errno::EINVAL)?;
    Ok(0)
}
