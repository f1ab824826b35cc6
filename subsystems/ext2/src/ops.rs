//! Name-space operations: create, link, unlink, rmdir, rename; freeing inodes and
//! the orphan list. Each writes in an order that leaves a state `e2fsck` can repair
//! (see the crate documentation).

use alloc::vec;

use kestrel_abi::fs::{NAME_MAX, RENAME_EXCHANGE, RENAME_NOREPLACE};
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::NodeKind;

use crate::dir::new_dir_block;
use crate::disk::{self, LINK_MAX, ROOT_INO, ft, ft_of_mode, gd, le32, put32, sb};
use crate::inode::Inode;
use crate::state::{Batch, State};

/// A name to create: not empty, no '/', not "." or "..", at most 255 bytes.
pub(crate) fn check_name(name: &[u8]) -> KResult<()> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl State {
    fn held(&self, ino: u32) -> bool {
        self.holds.lock().get(&ino).is_some_and(|&n| n > 0)
    }

    /// A live directory.
    async fn read_dir(&mut self, ino: u32) -> KResult<Inode> {
        let d = self.read_live_inode(ino).await?;
        if !d.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(d)
    }

    fn touch_dir(dir: &mut Inode) {
        let now = crate::now();
        dir.set_mtime(now);
        dir.set_ctime(now);
    }

    pub async fn lookup(&mut self, dir_ino: u32, name: &[u8]) -> KResult<u32> {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let dir = self.read_dir(dir_ino).await?;
        match self.dir_find(&dir, name).await? {
            Some(f) => {
                self.names.lock().found(dir_ino, name, f.ino);
                Ok(f.ino)
            }
            None => {
                self.names.lock().absent(dir_ino, name);
                Err(Errno::ENOENT)
            }
        }
    }

    pub async fn create(
        &mut self,
        dir_ino: u32,
        name: &[u8],
        kind: &NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> KResult<u32> {
        self.check_rw()?;
        check_name(name)?;
        // An inode without blocks is made in a batch with the creates around it
        // (see `State::begin`); a directory or a symlink is written at once.
        let batch = match kind {
            NodeKind::File
            | NodeKind::Fifo
            | NodeKind::Socket
            | NodeKind::CharDev(_)
            | NodeKind::BlockDev(_) => Batch::Alloc,
            NodeKind::Dir | NodeKind::Symlink(_) => Batch::None,
        };
        self.begin(batch).await?;
        let mut dir = self.read_dir(dir_ino).await?;
        if dir.links() == 0 {
            return Err(Errno::ENOENT);
        }
        // The name cache is exact (`names`): a name it knows is absent needs
        // no search of the directory (for a directory of fewer than four
        // blocks, which has no index, a scan of every entry).
        let absent = self.names.lock().knows_absent(dir_ino, name);
        if !absent && self.dir_find(&dir, name).await?.is_some() {
            return Err(Errno::EEXIST);
        }
        let is_dir = *kind == NodeKind::Dir;
        if is_dir && dir.links() >= LINK_MAX {
            return Err(Errno::EMLINK);
        }
        if let NodeKind::Symlink(t) = kind {
            if t.is_empty() {
                return Err(Errno::ENOENT);
            }
            if t.len() >= self.bs() {
                return Err(Errno::ENAMETOOLONG);
            }
        }
        // 1. The inode's bit, 2. the inode (and its first block), 3. the parent's
        // link count (for a directory), 4. the entry naming it.
        let ino = self.alloc_inode(dir_ino, is_dir).await?;
        let mut inode = self.blank_inode(ino);
        let mode = kind.type_bits() | (mode & 0o7777);
        inode.set_mode(mode);
        inode.set_uid(uid);
        inode.set_gid(gid);
        let now = crate::now();
        inode.set_atime(now);
        inode.set_mtime(now);
        inode.set_ctime(now);
        inode.set_crtime(now);
        inode.set_links(if is_dir { 2 } else { 1 });
        inode.set_flags(disk::inherited_flags(dir.flags(), kind));
        if let Err(e) = self.fill_new(&mut inode, kind, dir_ino).await {
            self.undo_new(inode).await;
            return Err(e);
        }
        if is_dir {
            // Nothing has looked into it: it is known to be empty.
            self.names.lock().new_dir(ino);
        }
        if is_dir {
            dir.set_links(dir.links() + 1);
            if let Err(e) = self.write_inode(&dir).await {
                self.undo_new(inode).await;
                return Err(e);
            }
        }
        if let Err(e) = self.dir_add(&mut dir, name, ino, ft_of_mode(mode)).await {
            if is_dir {
                dir.set_links(dir.links() - 1);
            }
            let _ = self.write_inode(&dir).await;
            self.undo_new(inode).await;
            return Err(e);
        }
        Self::touch_dir(&mut dir);
        self.write_inode(&dir).await?;
        Ok(ino)
    }

    /// Writes a new inode with what its kind needs (a directory's first block, a
    /// symlink's target, a device number).
    async fn fill_new(&mut self, inode: &mut Inode, kind: &NodeKind, parent: u32) -> KResult<()> {
        let bs = self.bs();
        match kind {
            NodeKind::File | NodeKind::Fifo | NodeKind::Socket => {}
            NodeKind::CharDev(d) | NodeKind::BlockDev(d) => inode.set_rdev(*d),
            NodeKind::Symlink(t) if t.len() < disk::FAST_SYMLINK_MAX => {
                inode.block_bytes_mut()[..t.len()].copy_from_slice(t);
                inode.set_size(t.len() as u64);
            }
            NodeKind::Symlink(t) => {
                let mut b = vec![0u8; bs];
                b[..t.len()].copy_from_slice(t);
                let mut goal = self.goal_for(inode, 0).await;
                self.bmap_alloc(inode, 0, &mut goal, Some(&b)).await?;
                inode.set_size(t.len() as u64);
            }
            NodeKind::Dir => {
                let b = new_dir_block(bs, inode.num, parent, self.geo.filetype);
                let mut goal = self.goal_for(inode, 0).await;
                self.bmap_alloc(inode, 0, &mut goal, Some(&b)).await?;
                inode.set_size(bs as u64);
            }
        }
        self.write_inode(inode).await
    }

    /// Takes back an inode whose creation failed (nothing names it).
    async fn undo_new(&mut self, mut inode: Inode) {
        inode.set_links(0);
        let _ = self.free_inode(&mut inode).await;
    }

    pub async fn link(&mut self, dir_ino: u32, name: &[u8], target: u32) -> KResult<()> {
        self.check_rw()?;
        check_name(name)?;
        let mut dir = self.read_dir(dir_ino).await?;
        if dir.links() == 0 {
            return Err(Errno::ENOENT);
        }
        let mut t = self.read_live_inode(target).await?;
        if t.is_dir() {
            return Err(Errno::EPERM);
        }
        if t.links() == 0 {
            // Only a file something still holds has no links and is not freed:
            // an O_TMPFILE file (the kernel names no other), which leaves the
            // orphan list (or the queue for it) as it gets its name.
            if !self.held(target) {
                return Err(Errno::ENOENT);
            }
            if !self.pending_orphans.remove(&target) {
                self.orphan_remove(&t).await?;
            }
            t.set_dtime(0);
        }
        if t.links() >= LINK_MAX {
            return Err(Errno::EMLINK);
        }
        if self.dir_find(&dir, name).await?.is_some() {
            return Err(Errno::EEXIST);
        }
        // The count goes up before the name exists: too high is what a crash may leave.
        t.set_links(t.links() + 1);
        t.set_ctime(crate::now());
        self.write_inode(&t).await?;
        if let Err(e) = self
            .dir_add(&mut dir, name, target, ft_of_mode(t.mode()))
            .await
        {
            t.set_links(t.links() - 1);
            let _ = self.write_inode(&t).await;
            let _ = self.write_inode(&dir).await;
            return Err(e);
        }
        Self::touch_dir(&mut dir);
        self.write_inode(&dir).await
    }

    pub async fn unlink(&mut self, dir_ino: u32, name: &[u8]) -> KResult<u32> {
        self.check_rw()?;
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        // In a batch with the unlinks around it (see `State::begin`).
        self.begin(Batch::Free).await?;
        let mut dir = self.read_dir(dir_ino).await?;
        let f = self.dir_find(&dir, name).await?.ok_or(Errno::ENOENT)?;
        let mut inode = self.read_live_inode(f.ino).await?;
        if inode.is_dir() {
            return Err(Errno::EISDIR);
        }
        // The name goes first, then the count drops: too high is what a crash may leave.
        self.dir_remove(&f).await?;
        Self::touch_dir(&mut dir);
        self.write_inode(&dir).await?;
        inode.set_links(inode.links().saturating_sub(1));
        inode.set_ctime(crate::now());
        let ino = inode.num;
        if inode.links() == 0 {
            self.drop_last_link(inode).await?;
        } else {
            self.write_inode(&inode).await?;
        }
        Ok(ino)
    }

    pub async fn rmdir(&mut self, dir_ino: u32, name: &[u8]) -> KResult<()> {
        self.check_rw()?;
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if name == b"." {
            return Err(Errno::EINVAL);
        }
        if name == b".." {
            return Err(Errno::ENOTEMPTY);
        }
        let mut dir = self.read_dir(dir_ino).await?;
        let f = self.dir_find(&dir, name).await?.ok_or(Errno::ENOENT)?;
        let mut victim = self.read_live_inode(f.ino).await?;
        if !victim.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if !self.dir_is_empty(&victim).await? {
            return Err(Errno::ENOTEMPTY);
        }
        self.dir_remove(&f).await?;
        dir.set_links(dir.links().saturating_sub(1));
        Self::touch_dir(&mut dir);
        self.write_inode(&dir).await?;
        victim.set_links(0);
        victim.set_ctime(crate::now());
        self.drop_last_link(victim).await
    }

    /// An inode lost its last name: freed now, or, while something in memory still
    /// holds it, written with no links and freed when released. It joins the
    /// on-disk orphan list only if it is still held at the next
    /// [`State::commit_all`] (the flusher's round, sync): many holds are brief
    /// (a system call's own reference to the file it works on), gone by the
    /// next operation, and the list costs two superblock writes. A crash before leaves an inode
    /// with no links and no name, which `e2fsck -p` frees ("deleted inode has zero
    /// dtime"), as after a crash of Linux's ext2, which has no orphan list.
    async fn drop_last_link(&mut self, mut inode: Inode) -> KResult<()> {
        if self.held(inode.num) {
            self.write_inode(&inode).await?;
            self.pending_orphans.insert(inode.num);
            Ok(())
        } else {
            self.free_inode(&mut inode).await
        }
    }

    /// Puts the inodes that lost their last name while held (`drop_last_link`) on
    /// the on-disk orphan list: each inode chained to the old head, then the
    /// superblock (written by the caller's commit) names it.
    pub async fn orphans_to_disk(&mut self) -> KResult<()> {
        while let Some(ino) = self.pending_orphans.pop_first() {
            let mut inode = self.read_inode(ino).await?;
            if inode.links() != 0 || inode.mode() == 0 {
                continue;
            }
            let head = le32(&self.sb, sb::LAST_ORPHAN);
            inode.set_dtime(head);
            self.write_inode(&inode).await?;
            put32(&mut self.sb, sb::LAST_ORPHAN, ino);
            self.sb_dirty = true;
        }
        Ok(())
    }

    /// Whether an inode's bit is set.
    async fn inode_in_use(&mut self, ino: u32) -> KResult<bool> {
        if ino == 0 || ino > self.geo.inodes_count {
            return Ok(false);
        }
        let g = self.geo.group_of_ino(ino);
        let bit = ((ino - 1) % self.geo.inodes_per_group) as usize;
        let bitmap = self.gd32(g, gd::INODE_BITMAP);
        if !self.geo.valid_block(bitmap) {
            return Err(Errno::EUCLEAN);
        }
        Ok(self.block(bitmap).await?[bit / 8] & (1 << (bit % 8)) != 0)
    }

    /// Frees an inode with no links: its blocks (after the inode stops pointing at
    /// them), its xattr block, then its bit.
    pub async fn free_inode(&mut self, inode: &mut Inode) -> KResult<()> {
        let was_dir = inode.is_dir();
        // The number may name a new directory next: nothing of this one's index may
        // stay.
        self.dindex.forget(inode.num);
        self.names.lock().forget(inode.num);
        inode.set_links(0);
        // Never zero: e2fsck takes a zero dtime for an inode still in use.
        inode.set_dtime(crate::now_secs().max(1));
        if inode.has_block_map(self.bs()) {
            inode.set_size(0);
            // An empty file has nothing to free: the inode is written once, below.
            if (0..=disk::TIND_BLOCK).any(|i| inode.block(i) != 0) {
                self.free_range(inode, 0, u64::MAX).await?;
            }
        }
        // Writes the inode (deleted, pointing at nothing) before the xattr block goes.
        self.xattr_drop_block(inode).await?;
        self.free_inode_bit(inode.num, was_dir).await
    }

    /// A released inode: freed if it has no links left (it is on the orphan list,
    /// or about to go on it).
    pub async fn evict(&mut self, ino: u32) -> KResult<()> {
        if self.read_only || self.held(ino) || !self.inode_in_use(ino).await? {
            return Ok(());
        }
        let mut inode = self.read_inode(ino).await?;
        let pending = self.pending_orphans.remove(&ino);
        if inode.links() != 0 || inode.mode() == 0 {
            return Ok(());
        }
        // Freeing joins a batch of unlinks (see `State::begin`).
        self.begin(Batch::Free).await?;
        if !pending {
            self.orphan_remove(&inode).await?;
        }
        self.free_inode(&mut inode).await
    }

    /// Takes an inode off the orphan list (chained through i_dtime from
    /// s_last_orphan).
    async fn orphan_remove(&mut self, inode: &Inode) -> KResult<()> {
        let next = inode.dtime();
        let head = le32(&self.sb, sb::LAST_ORPHAN);
        if head == inode.num {
            put32(&mut self.sb, sb::LAST_ORPHAN, next);
            self.sb_dirty = true;
            return self.commit().await;
        }
        let mut cur = head;
        for _ in 0..self.geo.inodes_count {
            if cur == 0 || cur > self.geo.inodes_count {
                break;
            }
            let mut ci = self.read_inode(cur).await?;
            if ci.dtime() == inode.num {
                ci.set_dtime(next);
                return self.write_inode(&ci).await;
            }
            cur = ci.dtime();
        }
        Ok(())
    }

    /// Frees every inode on the orphan list that has no links (at mount: left by a
    /// crash; at unmount: nothing can hold them any more). An inode on the list that
    /// has links again just leaves it.
    pub async fn free_orphans(&mut self) -> KResult<()> {
        self.orphans_to_disk().await?;
        self.commit().await?;
        let mut cur = le32(&self.sb, sb::LAST_ORPHAN);
        for _ in 0..self.geo.inodes_count {
            if cur == 0 || cur > self.geo.inodes_count {
                break;
            }
            let mut ci = self.read_inode(cur).await?;
            let next = ci.dtime();
            put32(&mut self.sb, sb::LAST_ORPHAN, next);
            self.sb_dirty = true;
            self.commit().await?;
            if ci.links() == 0 && ci.mode() != 0 && self.inode_in_use(cur).await? {
                self.free_inode(&mut ci).await?;
            } else {
                ci.set_dtime(0);
                self.write_inode(&ci).await?;
            }
            cur = next;
        }
        if le32(&self.sb, sb::LAST_ORPHAN) != 0 {
            put32(&mut self.sb, sb::LAST_ORPHAN, 0);
            self.sb_dirty = true;
        }
        Ok(())
    }

    /// Whether directory `anc` is `d` or one of its ancestors (walking "..").
    async fn is_ancestor(&mut self, anc: u32, mut d: u32) -> KResult<bool> {
        for _ in 0..self.geo.inodes_count {
            if d == anc {
                return Ok(true);
            }
            if d == ROOT_INO {
                return Ok(false);
            }
            let di = self.read_dir(d).await?;
            let parent = self.dir_find(&di, b"..").await?.ok_or(Errno::EUCLEAN)?.ino;
            if parent == d {
                return Ok(false);
            }
            d = parent;
        }
        Err(Errno::EUCLEAN) // a loop of ".." entries
    }

    /// Points a directory's ".." at `parent`.
    async fn set_dotdot(&mut self, dir: &Inode, parent: u32) -> KResult<()> {
        let f = self.dir_find(dir, b"..").await?.ok_or(Errno::EUCLEAN)?;
        self.dir_set(&f, parent, ft::DIR).await
    }

    pub async fn rename(
        &mut self,
        odir_ino: u32,
        old: &[u8],
        ndir_ino: u32,
        new: &[u8],
        flags: u32,
    ) -> KResult<()> {
        self.check_rw()?;
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
            || flags & (RENAME_NOREPLACE | RENAME_EXCHANGE) == (RENAME_NOREPLACE | RENAME_EXCHANGE)
        {
            return Err(Errno::EINVAL);
        }
        if old.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        check_name(new)?;
        if old.is_empty() || old == b"." || old == b".." {
            return Err(Errno::EINVAL);
        }
        let same = odir_ino == ndir_ino;
        let mut odir = self.read_dir(odir_ino).await?;
        let mut ndir = if same {
            odir.clone()
        } else {
            self.read_dir(ndir_ino).await?
        };
        if ndir.links() == 0 {
            // A directory removed while still held (someone's cwd, an open fd) takes
            // no new names, as on Linux: a directory moved into it would be left
            // unconnected once it is freed, and its old parent one link short.
            return Err(Errno::ENOENT);
        }
        let sf = self.dir_find(&odir, old).await?.ok_or(Errno::ENOENT)?;
        let mut src = self.read_live_inode(sf.ino).await?;
        let df = self.dir_find(&ndir, new).await?;
        if flags & RENAME_NOREPLACE != 0 && df.is_some() {
            return Err(Errno::EEXIST);
        }
        if flags & RENAME_EXCHANGE != 0 && df.is_none() {
            return Err(Errno::ENOENT);
        }
        if df.is_some_and(|d| d.ino == sf.ino) {
            return Ok(()); // two names of one file: nothing to do
        }
        if src.is_dir() && !same && self.is_ancestor(src.num, ndir_ino).await? {
            return Err(Errno::EINVAL);
        }
        let now = crate::now();
        src.set_ctime(now);

        if flags & RENAME_EXCHANGE != 0 {
            let df = df.ok_or(Errno::ENOENT)?;
            let mut dst = self.read_live_inode(df.ino).await?;
            if dst.is_dir() && !same && self.is_ancestor(dst.num, odir_ino).await? {
                return Err(Errno::EINVAL);
            }
            let (sd, dd) = (src.is_dir(), dst.is_dir());
            if !same && sd != dd {
                let gainer = if sd { &ndir } else { &odir };
                if gainer.links() >= LINK_MAX {
                    return Err(Errno::EMLINK);
                }
            }
            self.dir_set(&df, src.num, ft_of_mode(src.mode())).await?;
            self.dir_set(&sf, dst.num, ft_of_mode(dst.mode())).await?;
            if !same {
                if sd {
                    self.set_dotdot(&src, ndir_ino).await?;
                }
                if dd {
                    self.set_dotdot(&dst, odir_ino).await?;
                }
                if sd && !dd {
                    ndir.set_links(ndir.links() + 1);
                    odir.set_links(odir.links() - 1);
                } else if dd && !sd {
                    odir.set_links(odir.links() + 1);
                    ndir.set_links(ndir.links() - 1);
                }
            }
            dst.set_ctime(now);
            self.write_inode(&dst).await?;
        } else if let Some(df) = df {
            let mut dst = self.read_live_inode(df.ino).await?;
            match (src.is_dir(), dst.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !self.dir_is_empty(&dst).await? => {
                    return Err(Errno::ENOTEMPTY);
                }
                _ => {}
            }
            // The new name takes the source, then the old name goes, then the
            // replaced inode loses its link.
            self.dir_set(&df, src.num, ft_of_mode(src.mode())).await?;
            self.dir_remove(&sf).await?;
            if src.is_dir() && !same {
                self.set_dotdot(&src, ndir_ino).await?;
                odir.set_links(odir.links().saturating_sub(1));
            }
            if dst.is_dir() {
                dst.set_links(0);
                // The replaced directory's ".." no longer counts in the new parent;
                // the moved one's does.
                if same {
                    odir.set_links(odir.links().saturating_sub(1));
                } else {
                    ndir.set_links(ndir.links().saturating_sub(1));
                    ndir.set_links(ndir.links() + 1);
                }
            } else {
                dst.set_links(dst.links().saturating_sub(1));
            }
            dst.set_ctime(now);
            if same {
                ndir = odir.clone();
            }
            self.finish_rename(&src, &mut odir, &mut ndir, same).await?;
            return if dst.links() == 0 {
                self.drop_last_link(dst).await
            } else {
                self.write_inode(&dst).await
            };
        } else {
            if src.is_dir() && !same {
                if ndir.links() >= LINK_MAX {
                    return Err(Errno::EMLINK);
                }
                ndir.set_links(ndir.links() + 1);
                self.write_inode(&ndir).await?;
            }
            if let Err(e) = self
                .dir_add(&mut ndir, new, src.num, ft_of_mode(src.mode()))
                .await
            {
                if src.is_dir() && !same {
                    ndir.set_links(ndir.links() - 1);
                }
                let _ = self.write_inode(&ndir).await;
                return Err(e);
            }
            if same {
                odir = ndir.clone();
            }
            self.dir_remove(&sf).await?;
            if src.is_dir() && !same {
                self.set_dotdot(&src, ndir_ino).await?;
                odir.set_links(odir.links().saturating_sub(1));
            }
        }
        self.finish_rename(&src, &mut odir, &mut ndir, same).await
    }

    async fn finish_rename(
        &mut self,
        src: &Inode,
        odir: &mut Inode,
        ndir: &mut Inode,
        same: bool,
    ) -> KResult<()> {
        self.write_inode(src).await?;
        Self::touch_dir(odir);
        self.write_inode(odir).await?;
        if !same {
            Self::touch_dir(ndir);
            self.write_inode(ndir).await?;
        }
        Ok(())
    }
}
