//! The name cache (Linux's dentry cache, for names only): what a name in a
//! directory is — an inode number, or known to be absent — answered without the
//! file system's lock, so that a path walk over cached names, and the lookup a
//! create makes of a name that does not exist yet, take no operation.
//!
//! It is exact, not a hint: every change of a directory entry goes through
//! [`crate::state::State::dir_add`], `dir_remove` or `dir_set`, which update the
//! cache under the file system's lock in the same step as the directory block,
//! and a lookup that misses fills it under that lock too. So an answer read
//! from it (under its own spin lock) is the directory's content at that moment,
//! the same answer the lookup operation would give. Anything uncertain (an error
//! in the middle of a change) drops that directory's names; a freed inode drops
//! the names kept for it (its number may name a new directory next).
//!
//! Per directory it keeps
//! * positive entries: name → inode number;
//! * negative entries: names looked up and not found, or removed;
//! * `complete`: every name of the directory is in the map (a directory this
//!   mount made is empty and complete): then a name not in the map is absent
//!   with no negative entry of its own — the create of a new name in a new
//!   directory (`tar x`, a build) asks the disk nothing before the create.
//!
//! Memory is bounded: each entry counts its name plus [`ENTRY_COST`] bytes, and
//! past [`NameCache::max_bytes`] the least recently used directories' names go
//! (whole directories: a complete one would stop being complete anyway). The
//! kernel sets the bound from its memory and empties the cache under memory
//! pressure ([`crate::Ext2::shrink_names`]). "." and ".." are never cached
//! (the VFS walks them itself), nor names longer than `NAME_MAX`.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;

use kestrel_abi::fs::NAME_MAX;

/// Bytes an entry is counted for besides its name (the map's node share, the
/// key's box, the value).
pub const ENTRY_COST: usize = 64;
/// Bytes a directory's record is counted for besides its entries.
pub const DIR_COST: usize = 96;
/// The bound when nothing sets one.
pub const DEFAULT_MAX_BYTES: usize = 4 << 20;

/// What the cache knows of a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cached {
    /// The name is an entry for this inode.
    Found(u32),
    /// No entry has this name.
    Absent,
}

struct DirNames {
    /// Name → inode number (0: known absent).
    names: BTreeMap<Box<[u8]>, u32>,
    /// Every name the directory has is in `names`.
    complete: bool,
    /// The tick of the last use (the key in [`NameCache::lru`]).
    used: u64,
    /// What this record is counted for.
    bytes: usize,
}

/// Every cached name of one mounted file system.
pub struct NameCache {
    dirs: BTreeMap<u32, DirNames>,
    /// Directories by last use, oldest first.
    lru: BTreeMap<u64, u32>,
    tick: u64,
    bytes: usize,
    /// The bound on [`NameCache::bytes`].
    pub max_bytes: usize,
    /// Answers given, and lookups the cache could not answer.
    pub hits: u64,
    pub misses: u64,
}

impl Default for NameCache {
    fn default() -> Self {
        Self {
            dirs: BTreeMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            max_bytes: DEFAULT_MAX_BYTES,
            hits: 0,
            misses: 0,
        }
    }
}

/// Names the cache keeps: not ".", "..", empty, or too long.
fn cacheable(name: &[u8]) -> bool {
    !(name.is_empty() || name == b"." || name == b".." || name.len() > NAME_MAX)
}

fn cost(name: &[u8]) -> usize {
    ENTRY_COST + name.len()
}

impl NameCache {
    /// What `name` in `dir` is, if the cache knows.
    pub fn get(&mut self, dir: u32, name: &[u8]) -> Option<Cached> {
        if !cacheable(name) {
            return None;
        }
        let answer = self.dirs.get(&dir).and_then(|d| match d.names.get(name) {
            Some(0) => Some(Cached::Absent),
            Some(&ino) => Some(Cached::Found(ino)),
            None if d.complete => Some(Cached::Absent),
            None => None,
        });
        if answer.is_some() {
            self.hits += 1;
            self.touch(dir);
        } else {
            self.misses += 1;
        }
        answer
    }

    /// Whether the cache knows `name` is not in `dir` (not counted as a hit
    /// or a miss: for the file system's own checks under its lock).
    pub fn knows_absent(&self, dir: u32, name: &[u8]) -> bool {
        cacheable(name)
            && self
                .dirs
                .get(&dir)
                .is_some_and(|d| match d.names.get(name) {
                    Some(&ino) => ino == 0,
                    None => d.complete,
                })
    }

    fn touch(&mut self, dir: u32) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(d) = self.dirs.get_mut(&dir) {
            self.lru.remove(&d.used);
            d.used = tick;
            self.lru.insert(tick, dir);
        }
    }

    /// The record of `dir`, made (incomplete, empty) if there is none.
    fn record(&mut self, dir: u32) -> &mut DirNames {
        if !self.dirs.contains_key(&dir) {
            self.tick += 1;
            self.lru.insert(self.tick, dir);
            self.bytes += DIR_COST;
            self.dirs.insert(
                dir,
                DirNames {
                    names: BTreeMap::new(),
                    complete: false,
                    used: self.tick,
                    bytes: DIR_COST,
                },
            );
        } else {
            self.touch(dir);
        }
        self.dirs.get_mut(&dir).expect("made above")
    }

    /// Sets what `name` in `dir` is (`0`: absent), then keeps within the bound.
    fn put(&mut self, dir: u32, name: &[u8], ino: u32) {
        if !cacheable(name) {
            return;
        }
        let d = self.record(dir);
        let before = d.bytes;
        if ino == 0 && d.complete {
            // Absence is implied.
            if d.names.remove(name).is_some() {
                d.bytes -= cost(name);
            }
        } else if let Some(v) = d.names.get_mut(name) {
            *v = ino;
        } else {
            d.names.insert(name.into(), ino);
            d.bytes += cost(name);
        }
        let after = d.bytes;
        self.bytes = self.bytes + after - before;
        self.trim();
    }

    /// Drops the least recently used directories while over the bound.
    fn trim(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((_, dir)) = self.lru.pop_first() else {
                break;
            };
            if let Some(d) = self.dirs.remove(&dir) {
                self.bytes -= d.bytes;
            }
        }
    }

    /// A lookup found `name` in `dir` naming `ino`.
    pub fn found(&mut self, dir: u32, name: &[u8], ino: u32) {
        if ino != 0 {
            self.put(dir, name, ino);
        }
    }

    /// A lookup found no `name` in `dir`.
    pub fn absent(&mut self, dir: u32, name: &[u8]) {
        self.put(dir, name, 0);
    }

    /// An entry `name` → `ino` was added to `dir`, or an entry was pointed at `ino`.
    pub fn added(&mut self, dir: u32, name: &[u8], ino: u32) {
        if ino != 0 {
            self.put(dir, name, ino);
        } else {
            self.forget(dir);
        }
    }

    /// The entry `name` left `dir`.
    pub fn removed(&mut self, dir: u32, name: &[u8]) {
        self.put(dir, name, 0);
    }

    /// `dir` was just made: it holds no names ("." and ".." are not kept).
    pub fn new_dir(&mut self, dir: u32) {
        self.forget(dir);
        self.record(dir).complete = true;
        self.trim();
    }

    /// Nothing is known of `dir` any more (freed, or an error left its blocks
    /// uncertain).
    pub fn forget(&mut self, dir: u32) {
        if let Some(d) = self.dirs.remove(&dir) {
            self.lru.remove(&d.used);
            self.bytes -= d.bytes;
        }
    }

    /// Everything goes; the bytes it was counted for.
    pub fn clear(&mut self) -> usize {
        let b = self.bytes;
        self.dirs.clear();
        self.lru.clear();
        self.bytes = 0;
        b
    }

    /// (directories, entries, bytes counted).
    pub fn stats(&self) -> (usize, usize, usize) {
        let entries = self.dirs.values().map(|d| d.names.len()).sum();
        (self.dirs.len(), entries, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_changes() {
        let mut c = NameCache::default();
        assert_eq!(c.get(2, b"a"), None);
        c.absent(2, b"a");
        assert_eq!(c.get(2, b"a"), Some(Cached::Absent));
        c.added(2, b"a", 12);
        assert_eq!(c.get(2, b"a"), Some(Cached::Found(12)));
        c.removed(2, b"a");
        assert_eq!(c.get(2, b"a"), Some(Cached::Absent));
        assert_eq!(c.get(2, b"b"), None);
        c.found(2, b"b", 13);
        assert_eq!(c.get(2, b"b"), Some(Cached::Found(13)));
        c.forget(2);
        assert_eq!(c.get(2, b"b"), None);
        assert_eq!(c.stats(), (0, 0, 0));
    }

    #[test]
    fn a_new_directory_is_complete() {
        let mut c = NameCache::default();
        c.new_dir(20);
        assert_eq!(c.get(20, b"x"), Some(Cached::Absent));
        c.added(20, b"x", 21);
        assert_eq!(c.get(20, b"x"), Some(Cached::Found(21)));
        c.removed(20, b"x");
        assert_eq!(c.get(20, b"x"), Some(Cached::Absent));
        // Absence in a complete directory takes no entry.
        assert_eq!(c.stats().1, 0);
        // Dots and long names are never answered.
        assert_eq!(c.get(20, b"."), None);
        assert_eq!(c.get(20, b".."), None);
        assert_eq!(c.get(20, &[b'a'; 256]), None);
    }

    #[test]
    fn the_bound_drops_the_least_recently_used_directories() {
        let mut c = NameCache {
            max_bytes: 10 * (ENTRY_COST + 2) + 3 * DIR_COST,
            ..Default::default()
        };
        for d in 1..=3u32 {
            for i in 0..3u8 {
                c.added(d, &[b'n', i], 100 + u32::from(i));
            }
        }
        assert_eq!(c.stats().0, 3);
        // Directory 1 used last: 2 goes first.
        assert!(c.get(1, b"n\x00").is_some());
        for i in 0..3u8 {
            c.added(4, &[b'm', i], 200);
        }
        assert_eq!(c.get(2, b"n\x00"), None);
        assert!(c.get(1, b"n\x00").is_some());
        let (_, _, bytes) = c.stats();
        assert!(bytes <= c.max_bytes);
        assert_eq!(c.clear(), bytes);
        assert_eq!(c.stats(), (0, 0, 0));
    }
}
