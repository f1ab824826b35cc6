//! Swap areas: what swapon(2) turned on and swapoff(2) turns off.
//!
//! An area is a regular file on a disk file system or a block device holding
//! a `mkswap` header. Kestrel accounts the areas, as Linux does: /proc/swaps
//! lists them, /proc/meminfo's SwapTotal/SwapFree and sysinfo(2)'s
//! totalswap/freeswap count their pages, and the file or device of an active
//! area is held as Linux holds it (S_SWAPFILE): writing it, shrinking it and
//! fallocate on it are ETXTBSY, a device in use cannot be mounted (EBUSY).
//! Kestrel never pages memory out, so no page of an area is ever used: Used is
//! always 0 and SwapFree equals SwapTotal.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};

use kestrel_vfs::{InodeRef, OpenFile};

/// The most areas at once: Linux's MAX_SWAPFILES on an x86-64 build without
/// device-private memory (32 swap entry types less 3 for migration entries and
/// 1 for hardware poison), what the 6.18 host the tests run on allows. One
/// more is EPERM.
pub const MAX_SWAPFILES: usize = 28;

/// One active swap area.
pub struct Area {
    /// The file or device, open as swapon opened it (read-write); held so
    /// that its inode, whose address is `key`, lives while the area does.
    pub file: Arc<OpenFile>,
    /// Its inode's address (what [`is_swapfile`] compares).
    pub key: usize,
    /// The device number, for a block device.
    pub rdev: Option<u64>,
    /// Usable pages: the header's, less the header page and bad pages.
    pub pages: u64,
    pub prio: i32,
}

struct Areas {
    list: Vec<Area>,
    /// The priority the next area without SWAP_FLAG_PREFER gets, less one
    /// (Linux's least_priority: the first such area is -2).
    least_priority: i32,
}

static AREAS: spin::Mutex<Areas> = spin::Mutex::new(Areas {
    list: Vec::new(),
    least_priority: -1,
});
/// How many areas are active: the write paths ask [`is_swapfile`] only when
/// there are some.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// The key of an inode, as [`Area::key`].
pub fn key(inode: &InodeRef) -> usize {
    Arc::as_ptr(inode) as *const () as usize
}

/// Whether the inode at address `key` is an active swap file (Linux's
/// IS_SWAPFILE): writes, truncation and fallocate are ETXTBSY.
pub fn is_swapfile(key: usize) -> bool {
    ACTIVE.load(Ordering::Acquire) != 0 && AREAS.lock().list.iter().any(|a| a.key == key)
}

/// Whether block device `rdev` is an active swap area.
pub fn is_swap_device(rdev: u64) -> bool {
    ACTIVE.load(Ordering::Acquire) != 0 && AREAS.lock().list.iter().any(|a| a.rdev == Some(rdev))
}

/// How many areas are active.
pub fn count() -> usize {
    AREAS.lock().list.len()
}

/// Adds an area (the caller checked the header, that it is not active, and
/// that there is room); `prio` None gives it the next automatic priority.
/// EPERM past [`MAX_SWAPFILES`], EBUSY if another swapon took it meanwhile.
pub fn add(mut area: Area, prio: Option<i32>) -> kestrel_abi::KResult<()> {
    let mut a = AREAS.lock();
    if a.list.len() >= MAX_SWAPFILES {
        return Err(kestrel_abi::Errno::EPERM);
    }
    if a.list
        .iter()
        .any(|x| x.key == area.key || (area.rdev.is_some() && x.rdev == area.rdev))
    {
        return Err(kestrel_abi::Errno::EBUSY);
    }
    area.prio = match prio {
        Some(p) => p,
        None => {
            a.least_priority -= 1;
            a.least_priority
        }
    };
    a.list.push(area);
    ACTIVE.fetch_add(1, Ordering::Release);
    Ok(())
}

/// Removes the area of inode `key` (or device `rdev`); None if there is none
/// (swapoff's EINVAL). As Linux, removing an automatic-priority area moves the
/// lower automatic ones up by one.
pub fn remove(key: usize, rdev: Option<u64>) -> Option<Area> {
    let mut a = AREAS.lock();
    let i = a
        .list
        .iter()
        .position(|x| x.key == key || (rdev.is_some() && x.rdev == rdev))?;
    let area = a.list.remove(i);
    if area.prio < 0 {
        for x in a.list.iter_mut() {
            if x.prio < area.prio {
                x.prio += 1;
            }
        }
        a.least_priority += 1;
    }
    ACTIVE.fetch_sub(1, Ordering::Release);
    Some(area)
}

/// (total, free) swap pages over all areas. Nothing is ever swapped out.
pub fn totals() -> (u64, u64) {
    let total = AREAS.lock().list.iter().map(|a| a.pages).sum();
    (total, total)
}

/// /proc/swaps, in Linux's layout (sizes in KiB), highest priority first.
pub fn proc_swaps() -> String {
    let mut s = String::from("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    let mut list: Vec<(Vec<u8>, bool, u64, i32)> = AREAS
        .lock()
        .list
        .iter()
        .map(|a| {
            let path = a.file.dentry().map(|d| d.path()).unwrap_or_default();
            (path, a.rdev.is_some(), a.pages * 4, a.prio)
        })
        .collect();
    list.sort_by_key(|x| -(x.3 as i64));
    for (path, dev, kib, prio) in list {
        // Linux's seq_file_path escapes space, tab, newline and backslash.
        let mut name = String::new();
        for &b in &path {
            match b {
                b' ' | b'\t' | b'\n' | b'\\' => {
                    let _ = write!(name, "\\{b:03o}");
                }
                _ => name.push(b as char),
            }
        }
        let pad = if name.len() < 40 { 40 - name.len() } else { 1 };
        // Linux: "%*s%s\t%lu\t%s%lu\t%s%d\n", the used count (always 0 here)
        // after a second tab while it is short.
        let kind = if dev { "partition" } else { "file\t" };
        let tab = if kib < 10_000_000 { "\t" } else { "" };
        let _ = writeln!(s, "{name}{:pad$}{kind}\t{kib}\t{tab}0\t\t{prio}", "");
    }
    s
}
