//! An in-memory index of large directories, so that a lookup, a create and an
//! unlink in a directory of n entries read one or two of its blocks instead of all
//! of them. Nothing of it is on the disk: directories stay the linear lists of
//! entries `e2fsck` and Linux read (an htree directory still loses its index flag at
//! its first new entry, see [`crate::dir`]).
//!
//! Per directory (by inode number) it keeps
//! * `names`: for every live entry, the hash of its name and the entry's position
//!   in the directory, packed into one `u64` ordered by hash — a lookup checks the
//!   few entries of that hash in their blocks (a collision is another name there);
//! * `room`: for every block, the longest new entry it can take where the linear
//!   scan would look (an unused entry's length, or the slack after a used one), so
//!   that an insert goes to the block the scan would have chosen, at the same place.
//!
//! It is built by one scan, the first time a directory of at least
//! [`MIN_BLOCKS`] blocks is searched, and kept exact by every change of an entry
//! ([`State::dir_add`], [`State::dir_remove`]; [`State::dir_set`] changes only an
//! inode number, which the index does not keep). Directories never shrink; a freed
//! directory inode drops its index, and so does any error in the middle of a change
//! (the next search builds it again from the disk). An entry the index points at
//! that does not hold a name of that hash means the index is wrong: it is dropped
//! and the search scans.
//!
//! Memory is bounded: all indexes together keep at most [`MAX_ENTRIES`] names
//! (about 15 bytes each); the least recently used are dropped to make room, and a
//! directory with more entries than that is searched by scanning.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::disk::{de, dir_rec_len, le32};

/// Directories shorter than this many blocks are scanned (an index would save
/// little).
pub(crate) const MIN_BLOCKS: u64 = 4;

/// Names all indexes together may hold.
pub(crate) const MAX_ENTRIES: usize = 1 << 19;

/// The hash of a name (FNV-1a, 64 bits, folded to 32). Not secret: names that
/// collide only cost a look at each other's entries.
pub(crate) fn name_hash(name: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

/// The room a directory entry offers to a new one, as the linear scan of
/// [`crate::dir`] judges it: all of an unused entry, the slack after a used one.
pub(crate) fn entry_room(ino: u32, rec_len: usize, name_len: usize) -> usize {
    if ino == 0 {
        rec_len
    } else {
        rec_len.saturating_sub(dir_rec_len(name_len))
    }
}

/// One directory's index.
pub(crate) struct DirIndex {
    /// `hash << 32 | position / 4` of every live entry (positions are byte offsets
    /// in the directory, multiples of 4).
    names: BTreeSet<u64>,
    /// Per logical block: the longest entry it can take (0 for a hole).
    room: Vec<u32>,
    /// No block before this one has room for the shortest entry.
    first_room: usize,
    used: u64,
}

impl DirIndex {
    fn key(hash: u32, pos: u64) -> u64 {
        (u64::from(hash) << 32) | (pos / 4)
    }

    /// Positions of entries whose name has hash `h`.
    pub fn candidates(&self, h: u32) -> impl Iterator<Item = u64> + '_ {
        let lo = u64::from(h) << 32;
        self.names
            .range(lo..=lo | 0xffff_ffff)
            .map(|k| (k & 0xffff_ffff) * 4)
    }

    /// The first block that can take an entry of `need` bytes, if any.
    pub fn block_with_room(&mut self, need: usize) -> Option<u64> {
        let min = dir_rec_len(1) as u32;
        while self.first_room < self.room.len() && self.room[self.first_room] < min {
            self.first_room += 1;
        }
        (self.first_room..self.room.len())
            .find(|&i| self.room[i] as usize >= need)
            .map(|i| i as u64)
    }

    pub fn blocks(&self) -> u64 {
        self.room.len() as u64
    }
}

/// Every directory's index, with the shared memory bound.
pub(crate) struct DirIndexes {
    dirs: BTreeMap<u32, DirIndex>,
    /// Names held by all of `dirs`.
    entries: usize,
    tick: u64,
    /// Directories with more names than [`MAX_ENTRIES`]: scanned, not indexed again.
    pub too_big: BTreeSet<u32>,
    /// Whether indexes are used at all (host tests compare with the scan).
    pub disabled: bool,
    /// Names all indexes may hold ([`MAX_ENTRIES`]; host tests lower it).
    pub max_entries: usize,
}

impl Default for DirIndexes {
    fn default() -> Self {
        Self {
            dirs: BTreeMap::new(),
            entries: 0,
            tick: 0,
            too_big: BTreeSet::new(),
            disabled: false,
            max_entries: MAX_ENTRIES,
        }
    }
}

impl DirIndexes {
    pub fn get(&mut self, dir: u32) -> Option<&mut DirIndex> {
        self.tick += 1;
        let tick = self.tick;
        let d = self.dirs.get_mut(&dir)?;
        d.used = tick;
        Some(d)
    }

    /// A directory inode freed: its index goes, and whatever was known of its size.
    pub fn forget(&mut self, dir: u32) {
        self.drop_dir(dir);
        self.too_big.remove(&dir);
    }

    pub fn drop_dir(&mut self, dir: u32) {
        if let Some(d) = self.dirs.remove(&dir) {
            self.entries -= d.names.len();
        }
    }

    pub fn clear(&mut self) {
        self.dirs.clear();
        self.too_big.clear();
        self.entries = 0;
    }

    /// Records a live entry whose name has hash `h` at byte position `pos` of
    /// directory `dir`; false (and the index dropped) when the bound does not
    /// allow it.
    pub fn add_hash(&mut self, dir: u32, h: u32, pos: u64) -> bool {
        if self.entries >= self.max_entries && !self.make_room(dir) {
            self.drop_dir(dir);
            return false;
        }
        if let Some(d) = self.dirs.get_mut(&dir)
            && d.names.insert(DirIndex::key(h, pos))
        {
            self.entries += 1;
        }
        true
    }

    pub fn remove_hash(&mut self, dir: u32, h: u32, pos: u64) {
        if let Some(d) = self.dirs.get_mut(&dir)
            && d.names.remove(&DirIndex::key(h, pos))
        {
            self.entries -= 1;
        }
    }

    /// Sets the room of block `lblk` (a block one past the end is appended).
    pub fn set_room(&mut self, dir: u32, lblk: u64, room: usize) {
        if let Some(d) = self.dirs.get_mut(&dir) {
            let i = lblk as usize;
            if i == d.room.len() {
                d.room.push(room as u32);
            } else if i < d.room.len() {
                d.room[i] = room as u32;
            } else {
                // Not the next block: something is out of step.
                self.drop_dir(dir);
                return;
            }
            if i < d.first_room {
                d.first_room = i;
            }
        }
    }

    /// Drops least recently used indexes other than `keep`'s until one more name
    /// fits; false if none is left to drop.
    fn make_room(&mut self, keep: u32) -> bool {
        while self.entries >= self.max_entries {
            let victim = self
                .dirs
                .iter()
                .filter(|&(&k, _)| k != keep)
                .min_by_key(|(_, d)| d.used)
                .map(|(&k, _)| k);
            match victim {
                Some(v) => self.drop_dir(v),
                None => return false,
            }
        }
        true
    }

    /// Starts an empty index for `dir`, filled by [`DirIndexes::add_name`] and
    /// [`DirIndexes::set_room`] in block order.
    pub fn start(&mut self, dir: u32) {
        self.drop_dir(dir);
        self.tick += 1;
        self.dirs.insert(
            dir,
            DirIndex {
                names: BTreeSet::new(),
                room: Vec::new(),
                first_room: 0,
                used: self.tick,
            },
        );
    }

    /// Indexed directories, and the names they hold.
    pub fn stats(&self) -> (usize, usize) {
        (self.dirs.len(), self.entries)
    }

    /// The room index of `dir` records for its block `lblk` (`None`: no
    /// index, or no such block in it).
    pub fn room(&self, dir: u32, lblk: u64) -> Option<usize> {
        let d = self.dirs.get(&dir)?;
        d.room.get(usize::try_from(lblk).ok()?).map(|&r| r as usize)
    }

    pub fn has(&self, dir: u32) -> bool {
        self.dirs.contains_key(&dir)
    }
}

/// Whether the entry at `off` of a directory block is live and named `name`
/// (bounds checked: the index may only be wrong, never make a read go astray).
/// `Err(())` when it is live but named something whose hash is not `h`: then the
/// index is stale.
pub(crate) fn entry_is(b: &[u8], off: usize, name: &[u8], h: u32) -> Result<Option<u32>, ()> {
    if off + de::NAME > b.len() || !off.is_multiple_of(4) {
        return Err(());
    }
    let ino = le32(b, off + de::INODE);
    let name_len = usize::from(b[off + de::NAME_LEN]);
    if ino == 0 || off + de::NAME + name_len > b.len() {
        return Err(());
    }
    let found = &b[off + de::NAME..off + de::NAME + name_len];
    if found == name {
        return Ok(Some(ino));
    }
    if name_hash(found) != h {
        return Err(());
    }
    Ok(None)
}
