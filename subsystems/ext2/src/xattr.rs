//! Extended attributes: read from the inode's extra space (256-byte inodes) and
//! from the ext2 xattr block (i_file_acl); written to the block.
//!
//! A block is a 32-byte header (magic, reference count, hash), entries from the
//! front (name index, name, value offset and size, hash) ended by four zero bytes,
//! and values packed from the end. Entries are kept sorted by (index, name length,
//! name), with e2fsprogs' hashes, so `e2fsck` accepts what is written. A block
//! shared by several inodes (refcount > 1) is copied before it changes.

use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};
use kestrel_vfs::inode::XattrSet;

use crate::disk::{self, le16, le32, put16, put32, sb};
use crate::inode::Inode;
use crate::io::SECTOR;
use crate::state::State;

const XATTR_MAGIC: u32 = 0xea02_0000;
const HEADER: usize = 32;
const ENTRY: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Attr {
    index: u8,
    name: Vec<u8>,
    value: Vec<u8>,
}

const PREFIXES: &[(u8, &[u8])] = &[
    (1, b"user."),
    (4, b"trusted."),
    (6, b"security."),
    (2, b"system.posix_acl_access"),
    (3, b"system.posix_acl_default"),
];

/// (name index, name without its prefix) of a full attribute name.
fn split_name(full: &[u8]) -> KResult<(u8, &[u8])> {
    for &(i, p) in PREFIXES {
        if i == 2 || i == 3 {
            if full == p {
                return Ok((i, b""));
            }
        } else if let Some(rest) = full.strip_prefix(p)
            && !rest.is_empty()
        {
            return Ok((i, rest));
        }
    }
    Err(Errno::EOPNOTSUPP)
}

fn full_name(a: &Attr) -> Option<Vec<u8>> {
    let (_, p) = PREFIXES.iter().find(|(i, _)| *i == a.index)?;
    let mut v = p.to_vec();
    v.extend_from_slice(&a.name);
    Some(v)
}

fn entry_len(name_len: usize) -> usize {
    (name_len + ENTRY + 3) & !3
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// e2fsprogs' entry hash (ext2fs_ext_attr_hash_entry): name bytes as signed chars,
/// then the value's 32-bit little-endian words.
fn entry_hash(a: &Attr) -> u32 {
    let mut h: u32 = 0;
    for &c in &a.name {
        h = (h << 5) ^ (h >> 27) ^ (c as i8 as i32 as u32);
    }
    if !a.value.is_empty() {
        let mut v = a.value.clone();
        v.resize(pad4(v.len()), 0);
        for w in v.chunks_exact(4) {
            h = (h << 16) ^ (h >> 16) ^ le32(w, 0);
        }
    }
    h
}

/// Parses entries at `buf[start..]` whose values are at `value_base + offs`.
fn parse_entries(buf: &[u8], start: usize, value_base: usize, out: &mut Vec<Attr>) -> KResult<()> {
    let mut p = start;
    loop {
        if p + 4 > buf.len() {
            return Err(Errno::EUCLEAN);
        }
        if le32(buf, p) == 0 {
            return Ok(());
        }
        if p + ENTRY > buf.len() {
            return Err(Errno::EUCLEAN);
        }
        let name_len = usize::from(buf[p]);
        let index = buf[p + 1];
        let offs = usize::from(le16(buf, p + 2));
        let inum = le32(buf, p + 4);
        let size = le32(buf, p + 8) as usize;
        if inum != 0 || p + ENTRY + name_len > buf.len() {
            return Err(Errno::EUCLEAN);
        }
        let vstart = value_base + offs;
        if size > 0 && vstart.checked_add(size).is_none_or(|e| e > buf.len()) {
            return Err(Errno::EUCLEAN);
        }
        out.push(Attr {
            index,
            name: buf[p + ENTRY..p + ENTRY + name_len].to_vec(),
            value: if size > 0 {
                buf[vstart..vstart + size].to_vec()
            } else {
                Vec::new()
            },
        });
        p += entry_len(name_len);
    }
}

/// An xattr block holding `attrs` (sorted here), or ENOSPC if they do not fit.
fn build_block(attrs: &mut [Attr], bs: usize) -> KResult<Vec<u8>> {
    attrs.sort_by(|a, b| (a.index, a.name.len(), &a.name).cmp(&(b.index, b.name.len(), &b.name)));
    let entries: usize = attrs.iter().map(|a| entry_len(a.name.len())).sum();
    let values: usize = attrs.iter().map(|a| pad4(a.value.len())).sum();
    if HEADER + entries + 4 + values > bs {
        return Err(Errno::ENOSPC);
    }
    let mut b = vec![0u8; bs];
    put32(&mut b, 0, XATTR_MAGIC);
    put32(&mut b, 4, 1); // h_refcount
    put32(&mut b, 8, 1); // h_blocks
    let mut p = HEADER;
    let mut vend = bs;
    let mut block_hash: u32 = 0;
    for a in attrs.iter() {
        let offs = if a.value.is_empty() {
            0
        } else {
            vend -= pad4(a.value.len());
            b[vend..vend + a.value.len()].copy_from_slice(&a.value);
            vend
        };
        b[p] = a.name.len() as u8;
        b[p + 1] = a.index;
        put16(&mut b, p + 2, offs as u16);
        put32(&mut b, p + 4, 0);
        put32(&mut b, p + 8, a.value.len() as u32);
        let h = entry_hash(a);
        put32(&mut b, p + 12, h);
        b[p + ENTRY..p + ENTRY + a.name.len()].copy_from_slice(&a.name);
        p += entry_len(a.name.len());
        block_hash = (block_hash << 16) ^ (block_hash >> 16) ^ h;
    }
    put32(&mut b, 12, block_hash);
    Ok(b)
}

impl State {
    /// Where the in-inode attributes start (after i_extra_isize), if the inode has
    /// room for them.
    fn in_inode_start(&self, inode: &Inode) -> Option<usize> {
        if self.geo.inode_size <= disk::GOOD_OLD_INODE_SIZE {
            return None;
        }
        let off = disk::GOOD_OLD_INODE_SIZE + inode.extra_isize();
        (off + 4 <= inode.raw.len()).then_some(off)
    }

    async fn xattr_load(&mut self, inode: &Inode) -> KResult<Vec<Attr>> {
        let mut out = Vec::new();
        if let Some(off) = self.in_inode_start(inode)
            && le32(&inode.raw, off) == XATTR_MAGIC
        {
            parse_entries(&inode.raw, off + 4, off + 4, &mut out)?;
        }
        let blk = inode.file_acl();
        if blk != 0 {
            if !self.geo.valid_block(blk) {
                return Err(Errno::EUCLEAN);
            }
            let b = self.block(blk).await?.clone();
            if le32(&b, 0) != XATTR_MAGIC || le32(&b, 8) != 1 {
                return Err(Errno::EUCLEAN);
            }
            parse_entries(&b, HEADER, 0, &mut out)?;
        }
        Ok(out)
    }

    pub async fn xattr_get(&mut self, inode: &Inode, name: &[u8]) -> KResult<Vec<u8>> {
        let (index, suffix) = split_name(name)?;
        self.xattr_load(inode)
            .await?
            .into_iter()
            .find(|a| a.index == index && a.name == suffix)
            .map(|a| a.value)
            .ok_or(Errno::ENODATA)
    }

    pub async fn xattr_list(&mut self, inode: &Inode) -> KResult<Vec<Vec<u8>>> {
        Ok(self
            .xattr_load(inode)
            .await?
            .iter()
            .filter_map(full_name)
            .collect())
    }

    /// Sets (`Some`) or removes (`None`) an attribute.
    pub async fn xattr_change(
        &mut self,
        inode: &mut Inode,
        name: &[u8],
        value: Option<&[u8]>,
        how: XattrSet,
    ) -> KResult<()> {
        self.check_rw()?;
        let (index, suffix) = split_name(name)?;
        if suffix.len() > 255 || value.is_some_and(|v| v.len() > self.bs()) {
            return Err(Errno::ERANGE);
        }
        let mut attrs = self.xattr_load(inode).await?;
        let pos = attrs
            .iter()
            .position(|a| a.index == index && a.name == suffix);
        match (value, pos) {
            (Some(_), Some(_)) if how == XattrSet::Create => return Err(Errno::EEXIST),
            (Some(_), None) if how == XattrSet::Replace => return Err(Errno::ENODATA),
            (None, None) => return Err(Errno::ENODATA),
            (Some(v), Some(i)) => attrs[i].value = v.to_vec(),
            (Some(v), None) => attrs.push(Attr {
                index,
                name: suffix.to_vec(),
                value: v.to_vec(),
            }),
            (None, Some(i)) => {
                attrs.remove(i);
            }
        }
        self.xattr_store(inode, attrs).await
    }

    /// Writes `attrs` as the inode's attributes: all in its block (attributes that
    /// were in the inode move there).
    async fn xattr_store(&mut self, inode: &mut Inode, mut attrs: Vec<Attr>) -> KResult<()> {
        let spb = (self.bs() / SECTOR) as i64;
        inode.set_ctime(crate::now());
        if attrs.is_empty() {
            if let Some(off) = self.in_inode_start(inode) {
                put32(&mut inode.raw, off, 0);
            }
            return self.xattr_drop_block(inode).await;
        }
        let mut block = build_block(&mut attrs, self.bs())?;
        let old = inode.file_acl();
        let shared = old != 0 && le32(self.block(old).await?, 4) > 1;
        if old != 0 && !shared {
            self.write_meta(old, block).await?;
        } else {
            let g = self.geo.group_of_ino(inode.num);
            let goal = self.gd32(g, disk::gd::INODE_TABLE) + self.geo.itb_per_group;
            let b = self.alloc_block(goal).await?;
            if let Err(e) = self.write_meta(b, core::mem::take(&mut block)).await {
                let _ = self.free_block(b).await;
                return Err(e);
            }
            inode.set_file_acl(b);
            if old == 0 {
                inode.add_sectors(spb);
            }
        }
        if let Some(off) = self.in_inode_start(inode) {
            put32(&mut inode.raw, off, 0);
        }
        self.write_inode(inode).await?;
        if shared {
            self.xattr_release(old).await?;
        }
        let compat = le32(&self.sb, sb::FEATURE_COMPAT);
        if compat & disk::COMPAT_EXT_ATTR == 0 {
            put32(
                &mut self.sb,
                sb::FEATURE_COMPAT,
                compat | disk::COMPAT_EXT_ATTR,
            );
            self.sb_dirty = true;
        }
        Ok(())
    }

    /// Drops the inode's xattr block: the inode stops pointing at it (written),
    /// then the block loses a reference.
    pub async fn xattr_drop_block(&mut self, inode: &mut Inode) -> KResult<()> {
        let old = inode.file_acl();
        if old == 0 {
            return self.write_inode(inode).await;
        }
        inode.set_file_acl(0);
        inode.add_sectors(-((self.bs() / SECTOR) as i64));
        self.write_inode(inode).await?;
        if self.geo.valid_block(old) {
            self.xattr_release(old).await?;
        }
        Ok(())
    }

    /// One reference fewer to an xattr block: freed at zero.
    async fn xattr_release(&mut self, blk: u32) -> KResult<()> {
        let mut b = self.block(blk).await?.clone();
        if le32(&b, 0) != XATTR_MAGIC {
            return Err(Errno::EUCLEAN);
        }
        let refs = le32(&b, 4);
        if refs <= 1 {
            self.free_block(blk).await
        } else {
            put32(&mut b, 4, refs - 1);
            self.write_meta(blk, b).await
        }
    }
}
