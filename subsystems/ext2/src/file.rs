//! File content: reading (holes read as zeros), writing, truncating, fallocate.

use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};

use crate::disk::{self, sb};
use crate::inode::Inode;
use crate::state::State;

/// Blocks read from the disk in one request at most, when they lie in a row
/// (256 KiB with 1 KiB blocks, 1 MiB with 4 KiB: the kernel's read-ahead
/// windows reach 1 MiB).
const READ_RUN: u64 = 256;
/// The most blocks one SEEK_DATA / SEEK_HOLE looks at.
pub const SEEK_SCAN: u32 = 65_536;
/// The most blocks one FIEMAP looks at (4 GiB of a file with 1 KiB blocks,
/// 16 GiB with 4 KiB): past them the map stops, as if the range ended there.
pub const EXTENT_SCAN: u64 = 1 << 22;

/// One run of a file's blocks lying in a row on the disk (FIEMAP's extent):
/// byte offsets in the file and on the disk, and its length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub logical: u64,
    pub physical: u64,
    pub length: u64,
}

impl State {
    pub async fn read_file(&mut self, inode: &Inode, off: u64, buf: &mut [u8]) -> KResult<usize> {
        let size = inode.size();
        if off >= size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(size - off) as usize;
        let bs = self.bs();
        let mut tmp = vec![0u8; bs];
        let mut done = 0;
        while done < n {
            let pos = off + done as u64;
            let lblk = pos / bs as u64;
            let boff = (pos % bs as u64) as usize;
            let chunk = (bs - boff).min(n - done);
            let phys = self.bmap(inode, lblk).await?;
            if phys == 0 {
                buf[done..done + chunk].fill(0);
                done += chunk;
            } else if boff == 0 && chunk == bs {
                // Whole blocks straight into the caller's buffer, contiguous ones
                // in one request.
                let mut run = 1u64;
                while run < READ_RUN
                    && done + (run as usize + 1) * bs <= n
                    && self.bmap(inode, lblk + run).await? == phys + run as u32
                {
                    run += 1;
                }
                let len = run as usize * bs;
                self.dev_read_data(phys, &mut buf[done..done + len]).await?;
                done += len;
            } else {
                self.dev_read_data(phys, &mut tmp).await?;
                buf[done..done + chunk].copy_from_slice(&tmp[boff..boff + chunk]);
                done += chunk;
            }
        }
        Ok(n)
    }

    /// The disk runs holding `[off, off + len)` of `inode` (see
    /// [`crate::Ext2::file_runs`]).
    pub async fn file_runs(
        &mut self,
        inode: &Inode,
        off: u64,
        len: u64,
    ) -> KResult<Vec<(u64, u64, usize)>> {
        let end = off.saturating_add(len).min(inode.size());
        let bs = self.bs() as u64;
        let per_block = bs / 512;
        let mut out: Vec<(u64, u64, usize)> = Vec::new();
        let mut lblk = off / bs;
        while lblk * bs < end {
            let phys = self.bmap(inode, lblk).await?;
            if phys != 0 {
                let sector = u64::from(phys) * per_block;
                match out.last_mut() {
                    Some((at, s, n))
                        if *at + *n as u64 == lblk * bs
                            && *s + *n as u64 / 512 == sector
                            && (*n as u64) < READ_RUN * bs =>
                    {
                        *n += bs as usize;
                    }
                    _ => out.push((lblk * bs, sector, bs as usize)),
                }
            }
            lblk += 1;
        }
        Ok(out)
    }

    /// RWF_NOWAIT: how many bytes from `off` (at most `len`) can be read without
    /// waiting for the disk: up to the first block whose data is not cached
    /// (holes and what lies past the end read as zeros or nothing, so count).
    /// The block map itself is looked up as usual.
    pub async fn cached_prefix(&mut self, inode: &Inode, off: u64, len: u64) -> KResult<u64> {
        let bs = self.bs() as u64;
        let end = off.saturating_add(len);
        let stop = end.min(inode.size());
        let mut lblk = off / bs;
        while lblk * bs < stop {
            let phys = self.bmap(inode, lblk).await?;
            if phys != 0 {
                let spb = self.geo.sectors_per_block();
                if !self.dev.cached(u64::from(phys) * spb, spb) {
                    return Ok((lblk * bs).saturating_sub(off));
                }
            }
            lblk += 1;
        }
        Ok(len)
    }

    /// FIEMAP: the runs of disk blocks in a row that hold `[from, from + len)` of
    /// the file (clipped at its size; holes left out), in file order. At most
    /// `keep` runs are returned; the second value counts every run found (so a
    /// caller learns whether more follow, or counts them with `keep` 0).
    pub async fn extents(
        &mut self,
        inode: &Inode,
        from: u64,
        len: u64,
        keep: usize,
    ) -> KResult<(Vec<Extent>, usize)> {
        let bs = self.bs() as u64;
        let end = from.saturating_add(len).min(inode.size());
        let mut out: Vec<Extent> = Vec::new();
        let mut found = 0usize;
        let mut cur: Option<Extent> = None;
        let mut lblk = from / bs;
        let last = end.div_ceil(bs).min(lblk.saturating_add(EXTENT_SCAN));
        while lblk < last {
            let phys = self.bmap(inode, lblk).await? as u64;
            if phys != 0 {
                let (logical, physical) = (lblk * bs, phys * bs);
                match cur.as_mut() {
                    Some(e)
                        if e.logical + e.length == logical && e.physical + e.length == physical =>
                    {
                        e.length += bs;
                    }
                    _ => {
                        if let Some(e) = cur.take() {
                            found += 1;
                            if out.len() < keep {
                                out.push(e);
                            }
                        }
                        cur = Some(Extent {
                            logical,
                            physical,
                            length: bs,
                        });
                    }
                }
            }
            lblk += 1;
        }
        if let Some(e) = cur {
            found += 1;
            if out.len() < keep {
                out.push(e);
            }
        }
        Ok((out, found))
    }

    /// lseek's SEEK_DATA (`data`) or SEEK_HOLE from `from`: the first offset at or
    /// after it in a block that has (or lacks) a disk block, or the size if there
    /// is none. At most [`SEEK_SCAN`] blocks are looked at; past them what is left
    /// counts as data (which lseek(2) allows), so a huge sparse file costs a
    /// bounded time.
    pub async fn seek_data(&mut self, inode: &Inode, from: u64, data: bool) -> KResult<u64> {
        let size = inode.size();
        let bs = self.bs() as u64;
        let mut lblk = from / bs;
        for _ in 0..SEEK_SCAN {
            if lblk * bs >= size {
                return Ok(size);
            }
            let mapped = self.bmap(inode, lblk).await? != 0;
            if mapped == data {
                return Ok((lblk * bs).max(from));
            }
            lblk += 1;
        }
        Ok(if data { (lblk * bs).max(from) } else { size })
    }

    /// Writes file content, allocating blocks as needed; the inode (new size, new
    /// pointers, times) is written last. A write that runs out of space part-way
    /// returns what it wrote.
    pub async fn write_file(&mut self, inode: &mut Inode, off: u64, data: &[u8]) -> KResult<usize> {
        self.check_rw()?;
        if data.is_empty() {
            return Ok(0);
        }
        let end = off.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
        if end > self.geo.max_file_size {
            return Err(Errno::EFBIG);
        }
        let bs = self.bs();
        let mut goal = self.goal_for(inode, off / bs as u64).await;
        let mut done = 0;
        let mut err = None;
        while done < data.len() {
            let pos = off + done as u64;
            let lblk = pos / bs as u64;
            let boff = (pos % bs as u64) as usize;
            let chunk = (bs - boff).min(data.len() - done);
            let src = &data[done..done + chunk];
            let r = async {
                let phys = self.bmap(inode, lblk).await?;
                if phys != 0 {
                    if chunk == bs {
                        self.write_data(phys, src).await
                    } else {
                        let mut blk = vec![0u8; bs];
                        self.dev_read_data(phys, &mut blk).await?;
                        blk[boff..boff + chunk].copy_from_slice(src);
                        self.write_data(phys, &blk).await
                    }
                } else {
                    let mut blk = vec![0u8; bs];
                    blk[boff..boff + chunk].copy_from_slice(src);
                    self.bmap_alloc(inode, lblk, &mut goal, Some(&blk))
                        .await
                        .map(|_| ())
                }
            }
            .await;
            if let Err(e) = r {
                err = Some(e);
                break;
            }
            done += chunk;
        }
        if done > 0 {
            let new_end = off + done as u64;
            if new_end > inode.size() {
                inode.set_size(new_end);
                self.note_large_file(new_end);
            }
            let now = crate::now();
            inode.set_mtime(now);
            inode.set_ctime(now);
        }
        self.write_inode(inode).await?;
        match (done, err) {
            (0, Some(e)) => Err(e),
            _ => Ok(done),
        }
    }

    /// Sets the large_file feature once a file reaches 2 GiB.
    fn note_large_file(&mut self, size: u64) {
        if size > i32::MAX as u64 {
            let ro = disk::le32(&self.sb, sb::FEATURE_RO_COMPAT);
            if ro & disk::RO_COMPAT_LARGE_FILE == 0 {
                disk::put32(
                    &mut self.sb,
                    sb::FEATURE_RO_COMPAT,
                    ro | disk::RO_COMPAT_LARGE_FILE,
                );
                self.sb_dirty = true;
            }
        }
    }

    /// Sets the size of a regular file. Shrinking zeroes the rest of the last
    /// block (so growing again reads zeros), writes the new size, and only then
    /// frees the blocks past it.
    pub async fn truncate_file(&mut self, inode: &mut Inode, size: u64) -> KResult<()> {
        self.check_rw()?;
        if size > self.geo.max_file_size {
            return Err(Errno::EFBIG);
        }
        let bs = self.bs() as u64;
        let old = inode.size();
        let now = crate::now();
        inode.set_mtime(now);
        inode.set_ctime(now);
        if size < old {
            if !size.is_multiple_of(bs) {
                let phys = self.bmap(inode, size / bs).await?;
                if phys != 0 {
                    let mut blk = vec![0u8; bs as usize];
                    self.dev_read_data(phys, &mut blk).await?;
                    blk[(size % bs) as usize..].fill(0);
                    self.write_data(phys, &blk).await?;
                }
            }
            inode.set_size(size);
            self.write_inode(inode).await?;
            self.free_range(inode, size.div_ceil(bs), u64::MAX).await
        } else {
            inode.set_size(size);
            self.note_large_file(size);
            self.write_inode(inode).await
        }
    }

    /// fallocate(2): makes the blocks of `[off, off + len)` exist (zeroed) and,
    /// unless `keep_size`, grows the file over them. ext2 cannot hold blocks past
    /// the end of a file (e2fsck calls that a wrong i_size), so `keep_size` past the
    /// end is EOPNOTSUPP. Space running out part-way keeps what was allocated, with
    /// the size covering it.
    pub async fn allocate_file(
        &mut self,
        inode: &mut Inode,
        off: u64,
        len: u64,
        keep_size: bool,
    ) -> KResult<()> {
        self.check_rw()?;
        let end = off.checked_add(len).ok_or(Errno::EFBIG)?;
        if end > self.geo.max_file_size {
            return Err(Errno::EFBIG);
        }
        if keep_size && end > inode.size() {
            return Err(Errno::EOPNOTSUPP);
        }
        let bs = self.bs() as u64;
        let mut goal = self.goal_for(inode, off / bs).await;
        let mut r = Ok(());
        let mut covered = off;
        for lblk in off / bs..end.div_ceil(bs) {
            if let Err(e) = self.bmap_alloc(inode, lblk, &mut goal, None).await {
                r = Err(e);
                break;
            }
            covered = ((lblk + 1) * bs).min(end);
        }
        if !keep_size && covered > inode.size() {
            inode.set_size(covered);
            self.note_large_file(covered);
        }
        let now = crate::now();
        inode.set_mtime(now);
        inode.set_ctime(now);
        self.write_inode(inode).await?;
        r
    }

    /// fallocate(2) with FALLOC_FL_PUNCH_HOLE: `[off, off + len)` reads as zeros
    /// afterwards; whole blocks in it are freed, the size stays.
    pub async fn punch_file(&mut self, inode: &mut Inode, off: u64, len: u64) -> KResult<()> {
        self.check_rw()?;
        let end = off.saturating_add(len).min(inode.size());
        if off >= end {
            return Ok(());
        }
        let bs = self.bs() as u64;
        // Zero the partial blocks at either edge.
        if !off.is_multiple_of(bs) {
            let b = off / bs;
            let stop = end.min((b + 1) * bs);
            self.zero_in_block(inode, b, off - b * bs, stop - b * bs)
                .await?;
        }
        if !end.is_multiple_of(bs) && (end / bs != off / bs || off.is_multiple_of(bs)) {
            let b = end / bs;
            self.zero_in_block(inode, b, 0, end - b * bs).await?;
        }
        let now = crate::now();
        inode.set_mtime(now);
        inode.set_ctime(now);
        let (first, last) = (off.div_ceil(bs), end / bs);
        if first < last {
            self.free_range(inode, first, last).await
        } else {
            self.write_inode(inode).await
        }
    }

    /// Zeroes bytes `[from, to)` of logical block `lblk` (nothing for a hole).
    async fn zero_in_block(&mut self, inode: &Inode, lblk: u64, from: u64, to: u64) -> KResult<()> {
        let phys = self.bmap(inode, lblk).await?;
        if phys != 0 {
            let mut blk = vec![0u8; self.bs()];
            self.dev_read_data(phys, &mut blk).await?;
            blk[from as usize..to as usize].fill(0);
            self.write_data(phys, &blk).await?;
        }
        Ok(())
    }

    /// A symlink's target: in i_block (fast) or in its one data block (slow).
    pub async fn read_symlink(&mut self, inode: &Inode) -> KResult<Vec<u8>> {
        if !inode.is_symlink() {
            return Err(Errno::EINVAL);
        }
        let size = inode.size() as usize;
        let bs = self.bs();
        if inode.is_fast_symlink(bs) {
            if size > disk::FAST_SYMLINK_MAX {
                return Err(Errno::EUCLEAN);
            }
            return Ok(inode.block_bytes()[..size].to_vec());
        }
        if size >= bs {
            return Err(Errno::EUCLEAN);
        }
        let phys = self.bmap(inode, 0).await?;
        if phys == 0 {
            return Err(Errno::EUCLEAN);
        }
        let mut blk = vec![0u8; bs];
        self.dev_read_data(phys, &mut blk).await?;
        blk.truncate(size);
        Ok(blk)
    }
}
