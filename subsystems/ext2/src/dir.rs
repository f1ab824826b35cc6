//! Directories: linear lists of entries in blocks. An htree-indexed directory reads
//! the same way (its index blocks look like blocks of unused entries); the first
//! change that adds an entry clears its index flag, so the index is never stale.

use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};
use kestrel_vfs::inode::DirEntry;

use crate::disk::{self, de, dir_rec_len, le16, le32, put16, put32};
use crate::inode::Inode;
use crate::state::State;

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
        let e = Ent {
            off,
            ino,
            rec_len,
            name_len,
            ftype: if filetype { b[off + de::FILE_TYPE] } else { 0 },
        };
        if found.is_none() && pick(e) {
            found = Some(e);
        }
        off += rec_len;
    }
    Ok(found)
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
        let (ft, n) = (self.geo.filetype, self.geo.inodes_count);
        for lblk in 0..self.dir_blocks(dir) {
            let phys = self.bmap(dir, lblk).await?;
            if phys == 0 {
                continue;
            }
            let b = self.block(phys).await?;
            if let Some(e) = walk_block(b, ft, n, |e| e.ino != 0 && e.name(b) == name)? {
                return Ok(Some(Found {
                    phys,
                    off: e.off,
                    ino: e.ino,
                }));
            }
        }
        Ok(None)
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
        let bs = self.bs();
        let ftype = self.ft(ftype);
        if dir.flags() & disk::INDEX_FL != 0 {
            // Entries placed linearly would break the hash index: drop it first.
            dir.set_flags(dir.flags() & !disk::INDEX_FL);
            self.write_inode(dir).await?;
        }
        let need = dir_rec_len(name.len());
        let (ft, n) = (self.geo.filetype, self.geo.inodes_count);
        for lblk in 0..self.dir_blocks(dir) {
            let phys = self.bmap(dir, lblk).await?;
            if phys == 0 {
                continue;
            }
            // Found in place; only the block that takes the entry is copied.
            let room = |e: Ent| {
                (e.ino == 0 && e.rec_len >= need)
                    || (e.ino != 0 && e.rec_len - dir_rec_len(e.name_len) >= need)
            };
            let Some(e) = walk_block(self.block(phys).await?, ft, n, room)? else {
                continue;
            };
            let mut b = self.block(phys).await?.clone();
            if e.ino == 0 {
                put_entry(&mut b, e.off, e.rec_len, ino, name, ftype);
            } else {
                let used = dir_rec_len(e.name_len);
                put16(&mut b, e.off + de::REC_LEN, rec_len_to_disk(used, bs));
                put_entry(&mut b, e.off + used, e.rec_len - used, ino, name, ftype);
            }
            return self.write_meta(phys, b).await;
        }
        let lblk = self.dir_blocks(dir);
        let mut b = vec![0u8; bs];
        put_entry(&mut b, 0, bs, ino, name, ftype);
        let mut goal = self.goal_for(dir, lblk).await;
        self.bmap_alloc(dir, lblk, &mut goal, Some(&b)).await?;
        dir.set_size((lblk + 1) * bs as u64);
        // The block's content went straight to the disk: keep the cache the same.
        Ok(())
    }

    /// Removes an entry: merged into the entry before it, or marked unused when it
    /// is the first of its block.
    pub async fn dir_remove(&mut self, f: &Found) -> KResult<()> {
        let (ft, n) = (self.geo.filetype, self.geo.inodes_count);
        let bs = self.bs();
        let mut b = self.block(f.phys).await?.clone();
        let ents = parse_block(&b, ft, n)?;
        let pos = ents
            .iter()
            .position(|e| e.off == f.off)
            .ok_or(Errno::EUCLEAN)?;
        if pos == 0 {
            put32(&mut b, f.off + de::INODE, 0);
        } else {
            let prev = ents[pos - 1];
            let merged = prev.rec_len + ents[pos].rec_len;
            put16(&mut b, prev.off + de::REC_LEN, rec_len_to_disk(merged, bs));
        }
        self.write_meta(f.phys, b).await
    }

    /// Points an existing entry at another inode.
    pub async fn dir_set(&mut self, f: &Found, ino: u32, ftype: u8) -> KResult<()> {
        let ftype = self.ft(ftype);
        let mut b = self.block(f.phys).await?.clone();
        put32(&mut b, f.off + de::INODE, ino);
        b[f.off + de::FILE_TYPE] = ftype;
        self.write_meta(f.phys, b).await
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
