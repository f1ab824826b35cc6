//! A process's file descriptors: small integers naming open files, each with its own
//! close-on-exec flag. Threads created with CLONE_FILES share one table; `fork` copies
//! it (the copies name the same open files, so they share positions).

use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};

use crate::file::OpenFile;

#[derive(Clone)]
struct Entry {
    file: Arc<OpenFile>,
    cloexec: bool,
}

/// A file-descriptor table.
///
/// Methods that remove descriptors return the files they removed instead of dropping
/// them, so the caller can drop them after releasing the table's lock (closing the
/// last reference to a pipe end wakes other tasks: never under a lock).
#[derive(Clone, Default)]
pub struct FdTable {
    entries: Vec<Option<Entry>>,
    /// Every descriptor below this one is open (Linux's `next_fd`): the search
    /// for the lowest free one starts here. Without it, a process holding
    /// 10,000 sockets looked at every one of them for each accept.
    first_free: usize,
}

impl FdTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The open file behind `fd` (EBADF if none).
    pub fn get(&self, fd: i32) -> KResult<Arc<OpenFile>> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.entries.get(i))
            .and_then(|e| e.as_ref())
            .map(|e| e.file.clone())
            .ok_or(Errno::EBADF)
    }

    /// The open file behind `fd`, borrowed: for a caller that uses it only
    /// while it holds the table's lock (select and poll's first look), which
    /// saves the reference count's two atomic operations.
    #[inline]
    pub fn get_ref(&self, fd: i32) -> Option<&OpenFile> {
        let e = self.entries.get(usize::try_from(fd).ok()?)?.as_ref()?;
        Some(&e.file)
    }

    /// The lowest free descriptor `>= min` below `limit` (RLIMIT_NOFILE): EMFILE
    /// when there is none. A call that must not consume anything it could not
    /// hand over (accept) asks first, as Linux reserves the descriptor first.
    pub fn lowest_free(&self, min: usize, limit: usize) -> KResult<usize> {
        let start = min.max(self.first_free).min(self.entries.len());
        let free = (start..self.entries.len()).find(|&i| i >= min && self.entries[i].is_none());
        let fd = match free {
            Some(i) => i,
            None => self.entries.len().max(min),
        };
        if fd >= limit {
            return Err(Errno::EMFILE);
        }
        Ok(fd)
    }

    /// Installs `file` at the lowest free descriptor `>= min` below `limit`
    /// (RLIMIT_NOFILE): EMFILE when there is none.
    pub fn insert(
        &mut self,
        file: Arc<OpenFile>,
        cloexec: bool,
        min: usize,
        limit: usize,
    ) -> KResult<i32> {
        let fd = self.lowest_free(min, limit)?;
        if fd >= self.entries.len() {
            self.entries
                .try_reserve(fd + 1 - self.entries.len())
                .map_err(|_| Errno::ENOMEM)?;
            self.entries.resize(fd + 1, None);
        }
        self.entries[fd] = Some(Entry { file, cloexec });
        if min <= self.first_free {
            // The search started at `first_free` and found every descriptor
            // before `fd` open.
            self.first_free = fd + 1;
        }
        Ok(fd as i32)
    }

    /// Installs `file` at exactly `fd` (dup2/dup3), returning what was there.
    pub fn insert_at(
        &mut self,
        fd: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
        limit: usize,
    ) -> KResult<Option<Arc<OpenFile>>> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        if i >= limit {
            return Err(Errno::EBADF);
        }
        if i >= self.entries.len() {
            self.entries
                .try_reserve(i + 1 - self.entries.len())
                .map_err(|_| Errno::ENOMEM)?;
            self.entries.resize(i + 1, None);
        }
        Ok(self.entries[i]
            .replace(Entry { file, cloexec })
            .map(|e| e.file))
    }

    /// The highest open descriptor, if any.
    pub fn highest_fd(&self) -> Option<usize> {
        self.entries.iter().rposition(|e| e.is_some())
    }

    /// Removes `fd`, returning its open file.
    pub fn remove(&mut self, fd: i32) -> KResult<Arc<OpenFile>> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        let e = self
            .entries
            .get_mut(i)
            .and_then(|e| e.take())
            .ok_or(Errno::EBADF)?;
        self.first_free = self.first_free.min(i);
        while matches!(self.entries.last(), Some(None)) {
            self.entries.pop();
        }
        Ok(e.file)
    }

    /// The close-on-exec flag of `fd`.
    pub fn cloexec(&self, fd: i32) -> KResult<bool> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.entries.get(i))
            .and_then(|e| e.as_ref())
            .map(|e| e.cloexec)
            .ok_or(Errno::EBADF)
    }

    /// Sets the close-on-exec flag of `fd`.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> KResult<()> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        let e = self
            .entries
            .get_mut(i)
            .and_then(|e| e.as_mut())
            .ok_or(Errno::EBADF)?;
        e.cloexec = on;
        Ok(())
    }

    /// execve: closes every close-on-exec descriptor, returning their files.
    pub fn close_on_exec(&mut self) -> Vec<Arc<OpenFile>> {
        let mut closed = Vec::new();
        for (i, slot) in self.entries.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|e| e.cloexec) {
                closed.extend(slot.take().map(|e| e.file));
                self.first_free = self.first_free.min(i);
            }
        }
        closed
    }

    /// Removes every descriptor (process exit), returning the files.
    pub fn clear(&mut self) -> Vec<Arc<OpenFile>> {
        self.first_free = 0;
        core::mem::take(&mut self.entries)
            .into_iter()
            .flatten()
            .map(|e| e.file)
            .collect()
    }

    /// The open descriptors, in order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Arc<OpenFile>)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as i32, &e.file)))
    }

    /// How many descriptors are open.
    pub fn count(&self) -> usize {
        self.entries.iter().filter(|e| e.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::PathOnly;

    fn f() -> Arc<OpenFile> {
        OpenFile::anonymous(None, Arc::new(PathOnly), 0)
    }

    #[test]
    fn lowest_free_descriptor_is_used() {
        let mut t = FdTable::new();
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(0));
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(1));
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(2));
        t.remove(1).unwrap();
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(1));
        assert_eq!(t.insert(f(), false, 10, 1024), Ok(10));
        assert_eq!(t.insert(f(), false, 5, 1024), Ok(5));
    }

    #[test]
    fn lowest_free_is_found_after_closes_dups_and_exec() {
        let mut t = FdTable::new();
        for n in 0..8 {
            assert_eq!(t.insert(f(), n % 2 == 1, 0, 1024), Ok(n));
        }
        t.insert_at(9, f(), false, 1024).unwrap();
        t.insert_at(8, f(), false, 1024).unwrap();
        t.remove(8).unwrap();
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(8));
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(10));
        t.remove(4).unwrap();
        t.remove(2).unwrap();
        assert_eq!(t.insert(f(), false, 3, 1024), Ok(4));
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(2));
        assert_eq!(t.close_on_exec().len(), 4);
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(1));
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(3));
        t.clear();
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(0));
        // A descriptor filled by dup2 at the first free one does not leave
        // the search starting there for good.
        t.insert_at(1, f(), false, 1024).unwrap();
        assert_eq!(t.insert(f(), false, 0, 1024), Ok(2));
        assert_eq!(t.first_free, 3);
    }

    #[test]
    fn limits_give_emfile_and_bad_descriptors_ebadf() {
        let mut t = FdTable::new();
        t.insert(f(), false, 0, 2).unwrap();
        assert_eq!(t.lowest_free(0, 2), Ok(1));
        t.insert(f(), false, 0, 2).unwrap();
        assert_eq!(t.lowest_free(0, 2), Err(Errno::EMFILE));
        assert_eq!(t.insert(f(), false, 0, 2), Err(Errno::EMFILE));
        assert_eq!(t.get(5).err(), Some(Errno::EBADF));
        assert_eq!(t.get(-1).err(), Some(Errno::EBADF));
        assert_eq!(t.remove(7).err(), Some(Errno::EBADF));
        assert!(t.insert_at(2, f(), false, 2).is_err());
    }

    #[test]
    fn close_on_exec_closes_only_marked_descriptors() {
        let mut t = FdTable::new();
        t.insert(f(), false, 0, 64).unwrap();
        t.insert(f(), true, 0, 64).unwrap();
        t.insert(f(), false, 0, 64).unwrap();
        t.set_cloexec(2, true).unwrap();
        assert_eq!(t.close_on_exec().len(), 2);
        assert_eq!(t.iter().map(|(fd, _)| fd).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn insert_at_replaces_and_returns_the_old_file() {
        let mut t = FdTable::new();
        let a = f();
        t.insert(a.clone(), false, 0, 64).unwrap();
        let old = t.insert_at(0, f(), true, 64).unwrap().unwrap();
        assert!(Arc::ptr_eq(&old, &a));
        assert_eq!(t.cloexec(0), Ok(true));
        assert!(t.insert_at(9, f(), false, 64).unwrap().is_none());
    }
}
