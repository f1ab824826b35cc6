//! Directories: linear lists of entries in blocks. An htree-indexed directory reads
//! the same way (its index blocks look like blocks of unused entries); the first
//! change that adds an entry clears its index flag, so the index is never stale.
//! A large directory is searched through an in-memory index ([`crate::dirindex`])
//! that finds the same entries, and the same place for a new one, as the scan.

use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};
use kestrel_vfs::inode::DirEntry;

use crate::dirindex::{MIN_BLOCKS, entry_is, entry_room, name_hash};
use crate::disk::{self, de, dir_rec_len, le16, le32, put16, put32};
use crate::inode::Inode;
use crate::state::{Batch, DIRENTS, State};

/// One entry in a directory block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ent {
    pub off: usize,
    pub ino: u32,
    pub rec_len: usize,
    pub name_len: usize,
    pub ftype: u8,
}

impl Ent {
    pub fn name<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        &block[self.off + de::NAME..self.off + de::NAME + self.name_len]
    }
}

/// Where an entry was found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    /// The directory and the logical block the entry is in.
    pub dir: u32,
    pub lblk: u64,
    pub phys: u32,
    pub off: usize,
    pub ino: u32,
}

fn rec_len_from_disk(v: u16, bs: usize) -> usize {
    if bs >= 65536 && (v == 0 || v == 0xffff) {
        return bs;
    }
    usize::from(v)
}

fn rec_len_to_disk(len: usize, bs: usize) -> u16 {
    if len >= 65536 && bs >= 65536 {
        0xffff
    } else {
        len as u16
    }
}

/// The entries of one directory block, checked as Linux's ext2 checks them: EUCLEAN
/// for impossible lengths or inode numbers.
pub(crate) fn parse_block(b: &[u8], filetype: bool, inodes: u32) -> KResult<Vec<Ent>> {
    let mut v = Vec::new();
    walk_block(b, filetype, inodes, |e| {
        v.push(e);
        false
    })?;
    Ok(v)
}

/// Walks the entries of one directory block in place, checking every one as
/// [`parse_block`] does (EUCLEAN for the whole block if any is impossible), and
/// returns the first for which `pick` says yes. No copy of the block and no list
/// of its entries: a lookup in a large directory reads each block where the cache
/// keeps it.
pub(crate) fn walk_block(
    b: &[u8],
    filetype: bool,
    inodes: u32,
    mut pick: impl FnMut(Ent) -> bool,
) -> KResult<Option<Ent>> {
    let bs = b.len();
    let mut found = None;
    let mut off = 0;
    while off < bs {
        let e = entry_at(b, off, filetype, inodes)?;
        if found.is_none() && pick(e) {
            found = Some(e);
        }
        off += e.rec_len;
    }
    Ok(found)
}

/// The entry at `off` of a directory block, checked as Linux's ext2 checks
/// entries: EUCLEAN for impossible lengths or inode numbers.
fn entry_at(b: &[u8], off: usize, filetype: bool, inodes: u32) -> KResult<Ent> {
    let bs = b.len();
    if off + de::NAME > bs {
        return Err(Errno::EUCLEAN);
    }
    let rec_len = rec_len_from_disk(le16(b, off + de::REC_LEN), bs);
    let name_len = usize::from(b[off + de::NAME_LEN]);
    let ino = le32(b, off + de::INODE);
    if rec_len < dir_rec_len(1)
        || !rec_len.is_multiple_of(4)
        || rec_len < dir_rec_len(name_len)
        || off + rec_len > bs
        || ino > inodes
    {
        return Err(Errno::EUCLEAN);
    }
    Ok(Ent {
        off,
        ino,
        rec_len,
        name_len,
        ftype: if filetype { b[off + de::FILE_TYPE] } else { 0 },
    })
}

/// The entry at `off` of a directory block and the one before it (`None` for
/// the first), walking (and checking) the entries from the start of the block
/// up to it only, as Linux's ext2_delete_entry does: EUCLEAN if no entry
/// starts at `off`.
fn entry_and_prev(
    b: &[u8],
    off: usize,
    filetype: bool,
    inodes: u32,
) -> KResult<(Option<Ent>, Ent)> {
    let mut prev = None;
    let mut at = 0;
    while at <= off {
        let e = entry_at(b, at, filetype, inodes)?;
        if at == off {
            return Ok((prev, e));
        }
        prev = Some(e);
        at += e.rec_len;
    }
    Err(Errno::EUCLEAN)
}

fn put_entry(b: &mut [u8], off: usize, rec_len: usize, ino: u32, name: &[u8], ftype: u8) {
    let bs = b.len();
    put32(b, off + de::INODE, ino);
    put16(b, off + de::REC_LEN, rec_len_to_disk(rec_len, bs));
    b[off + de::NAME_LEN] = name.len() as u8;
    b[off + de::FILE_TYPE] = ftype;
    b[off + de::NAME..off + de::NAME + name.len()].copy_from_slice(name);
}

/// A new directory's first block: "." and "..".
pub(crate) fn new_dir_block(bs: usize, ino: u32, parent: u32, filetype: bool) -> Vec<u8> {
    let mut b = vec![0u8; bs];
    let t = if filetype { disk::ft::DIR } else { 0 };
    put_entry(&mut b, 0, 12, ino, b".", t);
    put_entry(&mut b, 12, bs - 12, parent, b"..", t);
    b
}

impl State {
    fn ft(&self, t: u8) -> u8 {
        if self.geo.filetype { t } else { 0 }
    }

    /// Logical blocks in a directory.
    fn dir_blocks(&self, dir: &Inode) -> u64 {
        dir.size() / self.bs() as u64
    }

    /// Block `lblk` of a directory and its entries (`None` for a hole).
    async fn dir_block(
        &mut self,
        dir: &Inode,
        lblk: u64,
    ) -> KResult<Option<(u32, Vec<u8>, Vec<Ent>)>> {
        let phys = self.bmap(dir, lblk).await?;
        if phys == 0 {
            return Ok(None);
        }
        let (ft, n) = (self.geo.filetype, self.geo.inodes_count);
        let b = self.block(phys).await?.clone();
        let ents = parse_block(&b, ft, n)?;
        Ok(Some((phys, b, ents)))
    }

    pub async fn dir_find(&mut self, dir: &Inode, name: &[u8]) -> KResult<Option<Found>> {
        if self.dir_indexed(dir).await?
            && let Some(found) = self.dir_find_indexed(dir, name).await?
        {
            return Ok(found);
        }
        let (ft, n) = (self.geo.filetype, self.geo.inodes_count);
        for lblk in 0..self.dir_blocks(dir) {
            let phys = self.bmap(dir, lblk).await?;
            if phys == 0 {
                continue;
            }
            let b = self.block(phys).await?;
            if let Some(e) = walk_block(b, ft, n, |e| e.ino != 0 && e.name(b) == name)? {
                return Ok(Some(Found {
                    dir: dir.num,
                    lblk,
                    phys,
                    off: e.off,
                    ino: e.ino,
                }));
            }
        }
        Ok(None)
    }

    /// Whether `dir` has an index (built now if it is large enough and has none).
    async fn dir_indexed(&mut self, dir: &Inode) -> KResult<bool> {
        let blocks = self.dir_blocks(dir);
        let ix = &mut self.dindex;
        if ix.disabled || blocks < MIN_BLOCKS || ix.too_big.contains(&dir.num) {
            return Ok(false);
        }
        if ix.get(dir.num).is_some_and(|d| d.blocks() == blocks) {
            return Ok(true);
        }
        let r = self.dir_index_build(dir, blocks).await;
        if !matches!(r, Ok(true)) {
            self.dindex.drop_dir(dir.num);
        }
        r
    }

    /// Indexes every block of `dir` (one scan); false if it has too many names.
    async fn dir_index_build(&mut self, dir: &Inode, blocks: u64) -> KResult<bool> {
        let (ft, n) = (self.geo.filetype, self.geo.inodes_count);
        let bs = self.bs() as u64;
        self.dindex.start(dir.num);
        let mut names = Vec::new();
        for lblk in 0..blocks {
            let phys = self.bmap(dir, lblk).await?;
            let mut room = 0;
            names.clear();
            if phys != 0 {
                let b = self.block(phys).await?;
                walk_block(b, ft, n, |e| {
                    if e.ino != 0 {
                        names.push((name_hash(e.name(b)), e.off));
                    }
                    room = room.max(entry_room(e.ino, e.rec_len, e.name_len));
                    false
                })?;
            }
            for &(h, off) in &names {
                if !self.dindex.add_hash(dir.num, h, lblk * bs + off as u64) {
                    self.dindex.too_big.insert(dir.num);
                    return Ok(false);
                }
            }
            self.dindex.set_room(dir.num, lblk, room);
        }
        Ok(self.dindex.has(dir.num))
    }

    /// A lookup through the index: `None` if the index proved wrong (it is
    /// dropped; the caller scans).
    async fn dir_find_indexed(
        &mut self,
        dir: &Inode,
        name: &[u8],
    ) -> KResult<Option<Option<Found>>> {
        let h = name_hash(name);
        let bs = self.bs() as u64;
        let Some(ix) = self.dindex.get(dir.num) else {
            return Ok(None);
        };
        let candidates: Vec<u64> = ix.candidates(h).collect();
        for pos in candidates {
            let (lblk, off) = (pos / bs, (pos % bs) as usize);
            let phys = self.bmap(dir, lblk).await?;
            let hit = if phys == 0 {
                Err(())
            } else {
                entry_is(self.block(phys).await?, off, name, h)
            };
            match hit {
                Ok(Some(ino)) => {
                    return Ok(Some(Some(Found {
                        dir: dir.num,
                        lblk,
                        phys,
                        off,
                        ino,
                    })));
                }
                Ok(None) => {}
                Err(()) => {
                    self.dindex.drop_dir(dir.num);
                    return Ok(None);
                }
            }
        }
        Ok(Some(None))
    }

    /// Adds an entry: into the slack of an existing entry or an unused one, else in a
    /// new block at the end (zeroed with the entry, then pointed at). The caller
    /// writes `dir` afterwards (its size, pointers and times).
    pub async fn dir_add(
        &mut self,
        dir: &mut Inode,
        name: &[u8],
        ino: u32,
        ftype: u8,
    ) -> KResult<()> {
        let r = self.dir_add_entry(dir, name, ino, ftype).await;
        if r.is_err() {
            // Whatever reached the disk, the index is rebuilt from it (and the
            // names are looked up in it again).
            self.dindex.drop_dir(dir.num);
            self.names.lock().forget(dir.num);
        } else {
            self.names.lock().added(dir.num, name, ino);
        }
        r
    }

    /// The first block (and entry in it) with room for `need` bytes, as the scan
    /// finds it; through the index when `dir` has one.
    async fn dir_room(&mut self, dir: &Inode, need: usize) -> KResult<Option<(u64, u32, Ent)>> {
        let (ft, n) = (self.geo.filetype, self.geo.inodes_count);
        let room = |e: Ent| entry_room(e.ino, e.rec_len, e.name_len) >= need;
        if self.dir_indexed(dir).await? {
            let Some(lblk) = self
                .dindex
                .get(dir.num)
                .and_then(|ix| ix.block_with_room(need))
            else {
                return Ok(None);
            };
            let phys = self.bmap(dir, lblk).await?;
            if phys != 0
                && let Some(e) = walk_block(self.block(phys).await?, ft, n, room)?
            {
                return Ok(Some((lblk, phys, e)));
            }
            // The index was wrong about this block: scan.
            self.dindex.drop_dir(dir.num);
        }
        for lblk in 0..self.dir_blocks(dir) {
            let phys = self.bmap(dir, lblk).await?;
            if phys == 0 {
                continue;
            }
            // Found in place; only the block that takes the entry is copied.
            if let Some(e) = walk_block(self.block(phys).await?, ft, n, room)? {
                return Ok(Some((lblk, phys, e)));
            }
        }
        Ok(None)
    }

    async fn dir_add_entry(
        &mut self,
        dir: &mut Inode,
        name: &[u8],
        ino: u32,
        ftype: u8,
    ) -> KResult<()> {
        let bs = self.bs();
        let ftype = self.ft(ftype);
        if dir.flags() & disk::INDEX_FL != 0 {
            // Entries placed linearly would break the hash index: drop it first.
            dir.set_flags(dir.flags() & !disk::INDEX_FL);
            self.write_inode(dir).await?;
        }
        let need = dir_rec_len(name.len());
        let h = name_hash(name);
        if let Some((lblk, phys, e)) = self.dir_room(dir, need).await? {
            let mut b = self.block(phys).await?.clone();
            let off = if e.ino == 0 {
                put_entry(&mut b, e.off, e.rec_len, ino, name, ftype);
                e.off
            } else {
                let used = dir_rec_len(e.name_len);
                put16(&mut b, e.off + de::REC_LEN, rec_len_to_disk(used, bs));
                put_entry(&mut b, e.off + used, e.rec_len - used, ino, name, ftype);
                e.off + used
            };
            let room = self.block_room(&b)?;
            self.write_meta_as(phys, b, crate::state::DIRENTS).await?;
            if self.dindex.has(dir.num) {
                self.dindex
                    .add_hash(dir.num, h, lblk * bs as u64 + off as u64);
                self.dindex.set_room(dir.num, lblk, room);
            }
            return Ok(());
        }
        let lblk = self.dir_blocks(dir);
        let mut b = vec![0u8; bs];
        put_entry(&mut b, 0, bs, ino, name, ftype);
        let mut goal = self.goal_for(dir, lblk).await;
        self.bmap_alloc(dir, lblk, &mut goal, Some(&b)).await?;
        dir.set_size((lblk + 1) * bs as u64);
        // The block's content went straight to the disk: keep the cache the same.
        if self.dindex.has(dir.num) {
            self.dindex.add_hash(dir.num, h, lblk * bs as u64);
            self.dindex.set_room(dir.num, lblk, bs - need);
        }
        Ok(())
    }

    /// The longest entry a directory block can take.
    fn block_room(&self, b: &[u8]) -> KResult<usize> {
        let mut room = 0;
        walk_block(b, self.geo.filetype, self.geo.inodes_count, |e| {
            room = room.max(entry_room(e.ino, e.rec_len, e.name_len));
            false
        })?;
        Ok(room)
    }

    /// Removes an entry: merged into the entry before it, or marked unused when it
    /// is the first of its block.
    pub async fn dir_remove(&mut self, f: &Found) -> KResult<()> {
        let r = self.dir_remove_entry(f).await;
        if r.is_err() {
            self.dindex.drop_dir(f.dir);
            self.names.lock().forget(f.dir);
        }
        r
    }

    async fn dir_remove_entry(&mut self, f: &Found) -> KResult<()> {
        let (ft, n) = (self.geo.filetype, self.geo.inodes_count);
        let bs = self.bs();
        let batched = self.batch != Batch::None;
        let b = self.block(f.phys).await?;
        // Only the entries up to this one are walked: the block's other
        // entries do not change (an unlink of files in directory order so
        // walks two entries, not the whole block, twice).
        let (prev, victim) = entry_and_prev(b, f.off, ft, n)?;
        let h = name_hash(victim.name(b));
        let name = victim.name(b).to_vec();
        // The space the entry leaves: the entry before takes it (its room is
        // now its own slack plus the whole of this entry), or, the first of
        // its block, it stays as an unused entry.
        let (merged, room) = match prev {
            None => (None, victim.rec_len),
            Some(p) => {
                let len = p.rec_len + victim.rec_len;
                (Some((p.off, len)), entry_room(p.ino, len, p.name_len))
            }
        };
        let edit = |b: &mut [u8]| match merged {
            None => put32(b, f.off + de::INODE, 0),
            Some((off, len)) => put16(b, off + de::REC_LEN, rec_len_to_disk(len, bs)),
        };
        if batched {
            // Changed where the cache keeps it, written with the batch (as
            // `write_meta_as` would, without copying the block).
            edit(b.as_mut_slice());
            self.mark_dirty(f.phys, DIRENTS);
        } else {
            let mut copy = b.clone();
            edit(copy.as_mut_slice());
            self.write_meta(f.phys, copy).await?;
        }
        self.names.lock().removed(f.dir, &name);
        if self.dindex.has(f.dir) {
            let pos = f.lblk * bs as u64 + f.off as u64;
            self.dindex.remove_hash(f.dir, h, pos);
            // Nothing else in the block changed: its room is what it was, or
            // the freed space if that is more.
            match self.dindex.room(f.dir, f.lblk) {
                Some(old) => self.dindex.set_room(f.dir, f.lblk, room.max(old)),
                None => self.dindex.drop_dir(f.dir),
            }
        }
        Ok(())
    }

    /// Points an existing entry at another inode.
    pub async fn dir_set(&mut self, f: &Found, ino: u32, ftype: u8) -> KResult<()> {
        let ftype = self.ft(ftype);
        let mut b = self.block(f.phys).await?.clone();
        put32(&mut b, f.off + de::INODE, ino);
        b[f.off + de::FILE_TYPE] = ftype;
        let name = b
            .get(f.off + de::NAME..)
            .and_then(|n| n.get(..usize::from(b[f.off + de::NAME_LEN])))
            .map(<[u8]>::to_vec);
        let r = self.write_meta(f.phys, b).await;
        let mut names = self.names.lock();
        match (&r, name) {
            // ".." is not cached: nothing to do for it.
            (Ok(()), Some(name)) => names.added(f.dir, &name, ino),
            _ => names.forget(f.dir),
        }
        r
    }

    /// Whether a directory holds nothing but "." and "..".
    pub async fn dir_is_empty(&mut self, dir: &Inode) -> KResult<bool> {
        let (ft, n) = (self.geo.filetype, self.geo.inodes_count);
        for lblk in 0..self.dir_blocks(dir) {
            let phys = self.bmap(dir, lblk).await?;
            if phys == 0 {
                continue;
            }
            let b = self.block(phys).await?;
            let named = |e: Ent| e.ino != 0 && e.name(b) != b"." && e.name(b) != b"..";
            if walk_block(b, ft, n, named)?.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Lists entries from byte position `pos` (positions are offsets in the
    /// directory, so they stay valid while entries come and go: an entry is never
    /// moved, and a position inside a merged entry resumes at the next one).
    pub async fn dir_list(
        &mut self,
        dir: &Inode,
        pos: u64,
        emit: &mut (dyn FnMut(DirEntry) -> bool + Send),
    ) -> KResult<()> {
        let bs = self.bs() as u64;
        let mut lblk = pos / bs;
        let mut start = (pos % bs) as usize;
        while lblk < self.dir_blocks(dir) {
            if let Some((_, b, ents)) = self.dir_block(dir, lblk).await? {
                for e in ents {
                    if e.off < start || e.ino == 0 {
                        continue;
                    }
                    let d = DirEntry {
                        ino: u64::from(e.ino),
                        dtype: disk::dtype_of_ft(e.ftype),
                        name: e.name(&b).to_vec(),
                        next: lblk * bs + (e.off + e.rec_len) as u64,
                    };
                    if !emit(d) {
                        return Ok(());
                    }
                }
            }
            lblk += 1;
            start = 0;
        }
        Ok(())
    }
}
