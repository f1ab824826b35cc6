//! User address spaces: VMAs over a page table, filled on demand.
//!
//! An [`AddressSpace`] is a set of non-overlapping [`Vma`]s (virtual memory areas:
//! a range, its protection and what backs it) and a page table that caches which
//! pages are present. Nothing is mapped eagerly: the first access to a page faults,
//! and [`AddressSpace::fault`] fills it from its backing:
//!
//! * **anonymous private** memory gets a zeroed frame;
//! * **shared anonymous** memory (MAP_SHARED|MAP_ANONYMOUS) gets the frame that the
//!   area's [`SharedPages`] object holds for that offset, so every process sharing
//!   the area sees the same page, even pages first touched after a fork;
//! * **private file** mappings get a copy of the file's page (zero past the end of
//!   the file; SIGBUS for a page wholly past it).
//!
//! `fork` shares every present private page copy-on-write: both page tables map the
//! frame read-only with the software COW bit, and the frame's reference count (one
//! per mapping, in `frame::PageMeta`) says how many share it. A write fault on a COW
//! page copies it, or just makes it writable again when it is the last reference.
//!
//! User memory is read and written only through the gate of `kestrel_usermem`
//! (checked [`UserRange`]s), which [`super::user`] implements for an address space
//! with the fault-recovering copy of `arch::usercopy`, resolving faults through
//! [`AddressSpace::fault`].

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::mm::*;
use kestrel_abi::{Errno, KResult};
use kestrel_usermem::{UserPtr, UserRange};
use kestrel_vfs::InodeRef;
use kestrel_vfs::ramfs::PageBuf;

use super::paging::{PageTable, PteFlags, flush};
use super::{PAGE_SIZE, frame, phys_to_virt};
use crate::arch::{cpu, tlb};

const PAGE: u64 = PAGE_SIZE as u64;
use super::huge::HPAGE_SIZE as HPAGE;
/// One past the highest user address (Linux's TASK_SIZE with 4-level paging).
pub use kestrel_usermem::USER_END;
/// Lowest address mmap hands out (vm.mmap_min_addr).
pub const MMAP_MIN: u64 = 0x10000;
/// The stack's top; the stack grows down from here.
pub const STACK_TOP: u64 = USER_END;
/// Where mmap allocates downward from: 128 MiB of room for the stack below its top
/// (Linux's minimum stack gap).
pub const MMAP_TOP: u64 = STACK_TOP - (128 << 20);
/// How far a MAP_GROWSDOWN stack may grow (RLIMIT_STACK's default, 8 MiB).
pub const STACK_LIMIT: u64 = 8 << 20;
/// Where a position-independent executable is placed (ELF_ET_DYN_BASE without ASLR).
pub const PIE_BASE: u64 = 0x5555_5555_4000;

/// Software PTE bit: a frame kept in a PROT_NONE page (present bit clear).
const PROT_NONE_BIT: u64 = 1 << 11;
/// Software PTE bit: a page write-protected by userfaultfd (UFFDIO_WRITEPROTECT;
/// the writable bit is clear while it is set).
const UFFD_WP_BIT: u64 = 1 << 52;
/// Software PTE bit of a non-present entry: a page poisoned by UFFDIO_POISON (no
/// frame; the SHARED bit keeps the teardown paths from releasing one).
const UFFD_POISON_BIT: u64 = 1 << 53;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

pub mod mempolicy;
pub mod uffd;
pub use mempolicy::MemPolicy;
pub use uffd::{UffdCtx, UffdReg, UserFault};

const fn page_down(v: u64) -> u64 {
    v & !(PAGE - 1)
}

fn page_up(v: u64) -> Option<u64> {
    v.checked_add(PAGE - 1).map(page_down)
}

/// Takes one more reference to a user frame.
fn get_page(pa: u64) {
    frame::meta(pa)
        .refcount
        .fetch_add(1, core::sync::atomic::Ordering::AcqRel);
}

/// Drops a reference a page-table entry held: nothing for a file's own page
/// (Backing::SharedFile keeps those alive), else the frame's count.
fn put_pte(pte: u64) {
    if pte & PteFlags::SHARED.bits() == 0 {
        put_page(pte & ADDR_MASK);
    }
}

/// Drops a reference to a user frame, freeing it with the last one.
fn put_page(pa: u64) {
    if frame::meta(pa)
        .refcount
        .fetch_sub(1, core::sync::atomic::Ordering::AcqRel)
        == 1
    {
        frame::free(pa, 0);
    }
}

/// A new zeroed user frame holding one reference (None when only the kernel's
/// reserve is left).
fn new_page() -> Option<u64> {
    new_page_with(|_| 0)
}

/// [`new_page`], its content written by `fill` (as [`frame::alloc_user_with`]):
/// a page about to be overwritten is not zeroed first.
fn new_page_with(fill: impl FnOnce(&mut [u8]) -> usize) -> Option<u64> {
    let pa = frame::alloc_user_with(fill)?;
    frame::meta(pa)
        .refcount
        .store(1, core::sync::atomic::Ordering::Release);
    Some(pa)
}

/// The frames of a shared anonymous area, by page index, shared by every address
/// space that maps the area. Each frame carries one reference for this object.
///
/// In huge mode ([`SharedPages::new_huge`]) its pages are the frames of 2 MiB
/// blocks from the huge page pool ([`super::huge`]), taken by
/// [`SharedPages::reserve_huge`] (at mmap, shmget, or a hugetlbfs file's mmap)
/// and given back to the pool with the object; a page with no block is never
/// made up (the fault is SIGBUS). The frames are mapped with 4 KiB entries,
/// 512 to a block.
#[derive(Default)]
pub struct SharedPages {
    pages: spin::Mutex<BTreeMap<u64, u64>>,
    /// Huge mode: the pool's blocks by block index.
    huge: Option<spin::Mutex<BTreeMap<u64, u64>>>,
    /// A private (MAP_PRIVATE) huge mapping's pages: fork shares them
    /// copy-on-write instead of sharing the object.
    private: bool,
    /// A private huge mapping's object since a fork shared its pages: a page
    /// faulted in again (after MADV_DONTNEED) is mapped copy-on-write too, as
    /// another process may map its frame.
    forked: core::sync::atomic::AtomicBool,
}

impl SharedPages {
    /// An object holding `frames` (one reference each, handed over) as its pages
    /// 0, 1, ... (the vDSO's image and data page).
    pub fn from_frames(frames: &[u64]) -> Self {
        Self {
            pages: spin::Mutex::new(
                frames
                    .iter()
                    .enumerate()
                    .map(|(i, &pa)| (i as u64, pa))
                    .collect(),
            ),
            huge: None,
            private: false,
            forked: Default::default(),
        }
    }

    /// An empty object of huge pages (see [`SharedPages::reserve_huge`]);
    /// `private` for a MAP_PRIVATE mapping.
    pub fn new_huge(private: bool) -> Self {
        Self {
            pages: Default::default(),
            huge: Some(Default::default()),
            private,
            forked: Default::default(),
        }
    }

    /// Whether its pages are huge pages.
    pub fn is_huge(&self) -> bool {
        self.huge.is_some()
    }

    /// Whether it backs a private huge mapping.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Makes huge blocks `first..first+count` exist, taking the missing ones
    /// from the pool, all or none (ENOMEM when the pool has too few free).
    pub fn reserve_huge(&self, first: u64, count: u64) -> KResult<()> {
        let Some(huge) = &self.huge else {
            return Ok(());
        };
        let mut blocks = huge.lock();
        let end = first.checked_add(count).ok_or(Errno::ENOMEM)?;
        let missing: Vec<u64> = (first..end).filter(|b| !blocks.contains_key(b)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let got = super::huge::take(missing.len() as u64).ok_or(Errno::ENOMEM)?;
        let mut pages = self.pages.lock();
        for (&b, pa) in missing.iter().zip(got) {
            blocks.insert(b, pa);
            for i in 0..super::huge::FRAMES_PER_HPAGE {
                pages.insert(
                    b * super::huge::FRAMES_PER_HPAGE + i,
                    super::huge::frame_of(pa, i),
                );
            }
        }
        Ok(())
    }

    /// Drops the huge blocks from block `from` on (a hugetlbfs file cut short),
    /// back to the pool once nothing maps them.
    pub fn truncate_huge(&self, from: u64) {
        let Some(huge) = &self.huge else {
            return;
        };
        let mut blocks = huge.lock();
        let gone = blocks.split_off(&from);
        if gone.is_empty() {
            return;
        }
        let mut pages = self.pages.lock();
        for &pa in pages
            .split_off(&from.saturating_mul(super::huge::FRAMES_PER_HPAGE))
            .values()
        {
            put_page(pa);
        }
        drop(pages);
        super::huge::give(gone.into_values());
    }

    /// Whether huge block `b` exists.
    pub fn has_huge_block(&self, b: u64) -> bool {
        self.huge
            .as_ref()
            .is_some_and(|h| h.lock().contains_key(&b))
    }

    /// Huge blocks it holds.
    pub fn huge_blocks(&self) -> u64 {
        self.huge.as_ref().map_or(0, |h| h.lock().len() as u64)
    }

    /// How many pages have frames (have been touched).
    pub fn resident(&self) -> usize {
        self.pages.lock().len()
    }

    /// An object of `pages` zeroed pages, all allocated now (None when memory
    /// runs out): memory the kernel itself reads and writes while user space
    /// maps it (io_uring's rings), so the kernel's accessors below never meet
    /// a missing page. The object's frames live as long as it does, whatever
    /// user space unmaps.
    pub fn allocate(pages: usize) -> Option<Self> {
        let mut frames = Vec::new();
        frames.try_reserve_exact(pages).ok()?;
        for _ in 0..pages {
            match new_page() {
                Some(pa) => frames.push(pa),
                None => {
                    for pa in frames {
                        put_page(pa);
                    }
                    return None;
                }
            }
        }
        Some(Self::from_frames(&frames))
    }

    /// The kernel's address of byte `off` of the object and how many bytes of
    /// its page follow, if that page exists.
    fn kernel_addr(&self, off: u64) -> Option<(*mut u8, usize)> {
        let pa = *self.pages.lock().get(&(off / PAGE))?;
        let in_page = off % PAGE;
        Some((
            (phys_to_virt(pa) + in_page) as *mut u8,
            (PAGE - in_page) as usize,
        ))
    }

    /// Reads the 32-bit word at byte `off` (4-aligned) with acquire ordering: a
    /// ring index user space publishes. 0 when the page does not exist.
    pub fn load_u32(&self, off: u64) -> u32 {
        debug_assert!(off.is_multiple_of(4));
        match self.kernel_addr(off & !3) {
            // SAFETY: the address is 4-aligned inside a frame this object holds a
            // reference to (so it stays allocated), reached through the direct
            // map; user space may write it concurrently, hence the atomic access.
            Some((p, _)) => unsafe {
                (*(p as *const core::sync::atomic::AtomicU32))
                    .load(core::sync::atomic::Ordering::Acquire)
            },
            None => 0,
        }
    }

    /// Writes the 32-bit word at byte `off` (4-aligned) with release ordering,
    /// publishing what was written before it. Nothing when the page does not
    /// exist.
    pub fn store_u32(&self, off: u64, v: u32) {
        debug_assert!(off.is_multiple_of(4));
        if let Some((p, _)) = self.kernel_addr(off & !3) {
            // SAFETY: as in load_u32.
            unsafe {
                (*(p as *const core::sync::atomic::AtomicU32))
                    .store(v, core::sync::atomic::Ordering::Release)
            }
        }
    }

    /// Reads the 64-bit word at byte `off` (8-aligned) with acquire ordering
    /// (perf's data_tail). 0 when the page does not exist.
    pub fn load_u64(&self, off: u64) -> u64 {
        debug_assert!(off.is_multiple_of(8));
        match self.kernel_addr(off & !7) {
            // SAFETY: as in load_u32, 8-aligned.
            Some((p, _)) => unsafe {
                (*(p as *const core::sync::atomic::AtomicU64))
                    .load(core::sync::atomic::Ordering::Acquire)
            },
            None => 0,
        }
    }

    /// Writes the 64-bit word at byte `off` (8-aligned) with release ordering
    /// (perf's data_head, published after the records it covers).
    pub fn store_u64(&self, off: u64, v: u64) {
        debug_assert!(off.is_multiple_of(8));
        if let Some((p, _)) = self.kernel_addr(off & !7) {
            // SAFETY: as in load_u32, 8-aligned.
            unsafe {
                (*(p as *const core::sync::atomic::AtomicU64))
                    .store(v, core::sync::atomic::Ordering::Release)
            }
        }
    }

    /// Copies `buf.len()` bytes from byte `off` of the object (zeros where a
    /// page does not exist).
    pub fn read_bytes(&self, off: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let at = off + done as u64;
            let n = ((PAGE - at % PAGE) as usize).min(buf.len() - done);
            match self.kernel_addr(at) {
                // SAFETY: `n` bytes from `p` lie in one frame the object holds;
                // user space may change them meanwhile, as during a copy from
                // user memory (the caller validates what it reads).
                Some((p, _)) => unsafe {
                    core::ptr::copy_nonoverlapping(p as *const u8, buf[done..].as_mut_ptr(), n)
                },
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
    }

    /// Copies `data` to byte `off` of the object (dropped where a page does not
    /// exist).
    pub fn write_bytes(&self, off: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let at = off + done as u64;
            let n = ((PAGE - at % PAGE) as usize).min(data.len() - done);
            if let Some((p, _)) = self.kernel_addr(at) {
                // SAFETY: `n` bytes from `p` lie in one frame the object holds.
                unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), p, n) };
            }
            done += n;
        }
    }

    /// The frame for page `index`, with a new reference for the caller's mapping.
    fn get(&self, index: u64) -> Option<u64> {
        let mut pages = self.pages.lock();
        let pa = match pages.get(&index) {
            Some(&pa) => pa,
            None if self.huge.is_some() => return None,
            None => {
                let pa = new_page()?;
                pages.insert(index, pa);
                pa
            }
        };
        get_page(pa);
        Some(pa)
    }
}

impl Drop for SharedPages {
    fn drop(&mut self) {
        for &pa in self.pages.get_mut().values() {
            put_page(pa);
        }
        if let Some(huge) = &mut self.huge {
            super::huge::give(core::mem::take(huge.get_mut()).into_values());
        }
    }
}

/// A System V shared memory segment's token, opaque to the memory manager.
pub type Segment = Arc<dyn core::any::Any + Send + Sync>;

/// What fills an area's pages.
#[derive(Clone)]
pub enum Backing {
    /// Zero pages, private to the address space (and copy-on-write after fork).
    Anonymous,
    /// Pages shared with every address space mapping the same object; the area's
    /// start is byte `offset` of the object (nonzero after a split).
    SharedAnonymous {
        pages: Arc<SharedPages>,
        offset: u64,
        /// The System V shared memory segment this area attaches (shmat), if any:
        /// each area holds a reference, so the segment's attach count is the
        /// number of areas, through fork, splits, munmap, exec and exit, as
        /// Linux counts shm_nattch.
        segment: Option<Segment>,
    },
    /// A private copy of a file's content, starting at `offset` for the area's start.
    /// A read or execute fault maps the file's own page (when the file has one to
    /// give, [`Inode::shared_page`]) read-only and copy-on-write, as Linux maps
    /// page-cache pages; only the first write copies it. `held` keeps those pages
    /// alive while mapped, as for [`Backing::SharedFile`]. Sharing the frame saves
    /// the copy, and under QEMU's TCG, which keeps translated code per physical
    /// page, it keeps a program's translated code valid from one exec to the next.
    File {
        inode: InodeRef,
        offset: u64,
        held: HeldPages,
    },
    /// The file's own pages (MAP_SHARED): writes reach the file, and read/write see
    /// the mapping. `held` keeps every page this area has mapped alive, so a page is
    /// never freed while mapped (even if the file is truncated meanwhile).
    SharedFile {
        inode: InodeRef,
        offset: u64,
        held: HeldPages,
        /// Present while the mapping may write the file (made from a writable
        /// descriptor): the file counts it, and refuses F_SEAL_WRITE meanwhile.
        _writer: Option<Arc<WritableMapping>>,
    },
}

/// The frame of a file's page, to map as it is: the page is a whole kernel-heap
/// frame (the heap serves 4 KiB requests with frames); `None` if it is not.
fn file_frame(page: &PageBuf) -> Option<u64> {
    Some(super::virt_to_phys(page.addr() as u64)).filter(|pa| pa.is_multiple_of(PAGE))
}

/// A file's own pages an area has mapped, by page index in the file.
pub type HeldPages = Arc<spin::Mutex<BTreeMap<u64, Arc<PageBuf>>>>;

impl Backing {
    /// A private mapping of `inode` from byte `offset`.
    pub fn file(inode: InodeRef, offset: u64) -> Self {
        Backing::File {
            inode,
            offset,
            held: Default::default(),
        }
    }
}

/// A shared mapping that may write its file, counted by the file for as long as
/// any piece of the mapping (after splits and forks) exists.
pub struct WritableMapping(InodeRef);

impl WritableMapping {
    pub fn new(inode: InodeRef) -> Arc<Self> {
        inode.map_writable(true);
        Arc::new(Self(inode))
    }
}

impl Drop for WritableMapping {
    fn drop(&mut self) {
        self.0.map_writable(false);
    }
}

/// Where a new mapping goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Anywhere; near this address if it is free.
    Hint(u64),
    /// Exactly here, replacing what is there (MAP_FIXED).
    Fixed(u64),
    /// Exactly here, or EEXIST if anything is there (MAP_FIXED_NOREPLACE).
    FixedNoReplace(u64),
}

/// One line of /proc/PID/maps.
#[derive(Debug, Clone)]
pub struct AreaInfo {
    pub start: u64,
    pub end: u64,
    pub prot: u32,
    pub shared: bool,
    pub offset: u64,
    pub dev: u64,
    pub ino: u64,
    /// A file's path, or `[heap]`, `[stack]`, `[vdso]`, `[vvar]`.
    pub label: Option<Vec<u8>>,
    /// mlock(2)ed.
    pub locked: bool,
}

/// What fork does with an area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFork {
    /// The child gets a copy (copy-on-write), the default.
    Copy,
    /// The child gets zero-filled memory (MADV_WIPEONFORK).
    Wipe,
    /// The child has nothing mapped here (MADV_DONTFORK).
    Skip,
}

/// An address space's size: bytes mapped, pages resident, data and stack bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemUsage {
    pub total: u64,
    pub resident: u64,
    pub data: u64,
    pub stack: u64,
}

/// What an area is for (shown in /proc/PID/maps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    Normal,
    Heap,
    Stack,
    /// The vDSO image: read and execute, never writable.
    Vdso,
    /// The vDSO's data page: read only.
    Vvar,
}

impl VmaKind {
    /// The protections mprotect may grant an area of this kind (EACCES beyond).
    fn max_prot(self) -> u32 {
        match self {
            VmaKind::Vdso => PROT_READ | PROT_EXEC,
            VmaKind::Vvar => PROT_READ,
            _ => PROT_READ | PROT_WRITE | PROT_EXEC,
        }
    }
}

/// A virtual memory area.
#[derive(Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    /// PROT_* bits.
    pub prot: u32,
    pub backing: Backing,
    pub kind: VmaKind,
    /// The file it maps, as it was opened (for /proc/PID/maps).
    pub name: Option<kestrel_vfs::DentryRef>,
    /// mlock(2)ed (Linux's VM_LOCKED): its pages were made present and count
    /// against RLIMIT_MEMLOCK. Kestrel never pages memory out, so being present
    /// is all locking has to guarantee.
    pub locked: bool,
    /// A shared mapping that may never be made writable (Linux's VM_MAYWRITE
    /// clear): /dev/zero mapped shared from a descriptor without write access.
    pub no_write: bool,
    /// A mapping of a file on a noexec mount, which may never be made
    /// executable (Linux's VM_MAYEXEC clear): mprotect adding PROT_EXEC is EACCES.
    pub no_exec: bool,
    /// What a child of fork gets here (madvise's MADV_DONTFORK, MADV_WIPEONFORK).
    pub on_fork: OnFork,
    /// The protection key of its pages (pkey_mprotect(2)); 0 by default.
    pub pkey: u8,
    /// Left out of core dumps (madvise's MADV_DONTDUMP; Linux's VM_DONTDUMP).
    pub dont_dump: bool,
    /// Sealed by mseal(2) (Linux's VM_SEALED): never unmapped, moved, resized,
    /// mapped over or given another protection while the address space lives
    /// (EPERM); kept over fork, gone at exec with the address space.
    pub sealed: bool,
    /// Registered with a userfaultfd (Linux's vm_userfaultfd_ctx and VM_UFFD_*).
    pub uffd: Option<UffdReg>,
    /// mbind(2)'s NUMA policy for the area (`None`: MPOL_DEFAULT, the thread's).
    pub policy: Option<MemPolicy>,
}

impl Vma {
    fn shared(&self) -> bool {
        match &self.backing {
            // A private huge mapping's pages are its own (copy-on-write after fork).
            Backing::SharedAnonymous { pages, .. } => !pages.is_private(),
            Backing::SharedFile { .. } => true,
            _ => false,
        }
    }

    /// A huge page mapping (MAP_HUGETLB, hugetlbfs, SHM_HUGETLB): its bounds
    /// stay on 2 MiB boundaries.
    pub fn huge(&self) -> bool {
        matches!(&self.backing, Backing::SharedAnonymous { pages, .. } if pages.is_huge())
    }

    /// The area from `at` on, split off (the caller keeps `[start, at)` in `self`).
    /// The load a fault at `page` of this file area needs: the page and up to
    /// [`FAULT_AROUND_PAGES`] around it (a quarter before, the rest after, as a
    /// forward scan is the common case), within the area. `offset` is the file
    /// offset of the area's start.
    fn read_around(&self, inode: &InodeRef, offset: u64, page: u64) -> PageLoad {
        let before = (FAULT_AROUND_PAGES / 4 * PAGE).min(page - self.start);
        let start = page - before;
        let end = (start + FAULT_AROUND_PAGES * PAGE)
            .min(self.end)
            .max(page + PAGE);
        PageLoad::File {
            inode: inode.clone(),
            offset: offset + (start - self.start),
            len: end - start,
        }
    }

    fn split_off(&mut self, at: u64) -> Vma {
        let mut tail = self.clone();
        tail.start = at;
        if let Backing::File { offset, .. }
        | Backing::SharedFile { offset, .. }
        | Backing::SharedAnonymous { offset, .. } = &mut tail.backing
        {
            *offset += at - self.start;
        }
        self.end = at;
        tail
    }
}

/// What a fault needs before it can be resolved: a file's pages brought in (the
/// faulting page with a read-around window, clipped to the area), or, for a
/// copy of the kernel's into a userfaultfd-registered page, its handler's answer.
#[derive(Clone)]
pub enum PageLoad {
    File {
        inode: InodeRef,
        /// Byte offset in the file (page-aligned).
        offset: u64,
        len: u64,
    },
    UserFault(UserFault),
}

impl core::fmt::Debug for PageLoad {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PageLoad::File { offset, len, .. } => write!(f, "PageLoad({offset:#x}+{len:#x})"),
            PageLoad::UserFault(u) => write!(f, "UserFault({:#x})", u.addr),
        }
    }
}

impl PageLoad {
    /// Brings the pages in (awaiting the disk); EIO when the disk fails them.
    /// For a userfault: waits for the handler (EINTR if a signal comes first).
    pub async fn load(&self) -> KResult<()> {
        match self {
            PageLoad::File { inode, offset, len } => inode.load_pages(*offset, *len).await,
            PageLoad::UserFault(u) => u.wait_current().await,
        }
    }
}

/// Pages of read-around a file fault brings in (Linux's fault-around and
/// read-around: `ra_pages`, 128 KiB, centred on the fault).
pub const FAULT_AROUND_PAGES: u64 = 32;

/// Why a fault could not be resolved: the signal the thread gets.
#[derive(Debug, Clone)]
pub enum FaultError {
    /// The file's page is not in memory yet: await the load, then fault again.
    /// (The page-fault handler and the system-call layer do; anything that cannot
    /// wait treats it as an unreachable page.)
    NotLoaded(PageLoad),
    /// SIGSEGV with SEGV_MAPERR: no area covers the address.
    Unmapped,
    /// SIGSEGV with SEGV_ACCERR: the area forbids this access.
    Protection,
    /// SIGBUS: a file mapping's page lies wholly beyond the end of the file.
    PastEndOfFile,
    /// SIGBUS: the file of a shared mapping could not supply the page (its tmpfs is
    /// full), as Linux says for any failed file fault other than out of memory.
    NoPage,
    /// No memory for the page (the kernel treats it like Linux's OOM kill).
    OutOfMemory,
    /// The page is registered with a userfaultfd: the thread waits for its
    /// handler ([`UserFault::wait`]), then faults again.
    UserFault(UserFault),
}

/// The access that faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

struct Vm {
    table: PageTable,
    vmas: BTreeMap<u64, Vma>,
    brk_start: u64,
    brk: u64,
    limits: Limits,
    /// mlockall(MCL_FUTURE): new areas are locked as they are mapped.
    lock_future: bool,
}

/// The resource limits an address space enforces (bytes; u64::MAX: none). The
/// owning process keeps them in step with its RLIMIT_STACK, RLIMIT_AS and
/// RLIMIT_DATA ([`AddressSpace::set_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub stack: u64,
    pub address_space: u64,
    pub data: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            stack: STACK_LIMIT,
            address_space: u64::MAX,
            data: u64::MAX,
        }
    }
}

/// vm.max_map_count: the most areas an address space may have (Linux's
/// default). A new mapping past it, or an munmap that would split an area
/// past it, is ENOMEM.
pub static MAX_MAP_COUNT: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(65530);

fn max_map_count() -> usize {
    MAX_MAP_COUNT.load(core::sync::atomic::Ordering::Relaxed)
}

/// A user address space.
pub struct AddressSpace {
    vm: spin::Mutex<Vm>,
    root: u64,
    /// The asynchronous I/O contexts of io_setup(2), by id: they belong to the
    /// address space (Linux's mm->ioctx_table), so exec and exit end them and a
    /// child of fork has none. Opaque here (syscall::aio).
    pub aio: spin::Mutex<BTreeMap<u64, Arc<dyn core::any::Any + Send + Sync>>>,
    /// The protection keys pkey_alloc(2) handed out, one bit per key (key 0
    /// always), as Linux's mm->context.pkey_allocation_map: per address space,
    /// so a child of fork has its parent's and exec starts afresh.
    pub pkeys: core::sync::atomic::AtomicU16,
}

/// The PTE bits (59-62) holding a page's protection key.
const PKEY_SHIFT: u64 = 59;
const PKEY_MASK: u64 = 0xf << PKEY_SHIFT;

/// The PTE bits for protection key `pkey`.
fn pkey_bits(pkey: u8) -> u64 {
    (u64::from(pkey) & 0xf) << PKEY_SHIFT
}

fn pte_flags(prot: u32, cow: bool) -> PteFlags {
    let mut f = PteFlags::PRESENT | PteFlags::USER;
    if prot & PROT_WRITE != 0 && !cow {
        f |= PteFlags::WRITABLE;
    }
    if cow {
        f |= PteFlags::COW;
    }
    if prot & PROT_EXEC == 0 && cpu::features().nx {
        f |= PteFlags::NO_EXECUTE;
    }
    f
}

impl Vma {
    /// Whether the area counts as data for RLIMIT_DATA: private, writable and not
    /// a stack (Linux's is_data_mapping).
    fn is_data(&self) -> bool {
        self.prot & PROT_WRITE != 0 && !self.shared() && self.kind != VmaKind::Stack
    }
}

impl Vm {
    /// Bytes mapped in `[start, end)`, in all areas and in data areas.
    fn mapped_in(&self, start: u64, end: u64) -> (u64, u64) {
        let (mut total, mut data) = (0, 0);
        for v in self.vmas.values() {
            let (s, e) = (v.start.max(start), v.end.min(end));
            if s < e {
                total += e - s;
                if v.is_data() {
                    data += e - s;
                }
            }
        }
        (total, data)
    }

    /// ENOMEM if mapping `len` more bytes (`data` of them data), after unmapping
    /// `[replace_start, replace_end)`, would pass RLIMIT_AS or RLIMIT_DATA (Linux's
    /// may_expand_vm).
    fn may_expand(
        &self,
        len: u64,
        data: bool,
        replace_start: u64,
        replace_end: u64,
    ) -> KResult<()> {
        // Without limits (the usual case) there is nothing to add up.
        if self.limits.address_space == u64::MAX && (!data || self.limits.data == u64::MAX) {
            return Ok(());
        }
        let (total, data_now) = self.mapped_in(0, u64::MAX);
        let (gone, gone_data) = self.mapped_in(replace_start, replace_end);
        if (total - gone).saturating_add(len) > self.limits.address_space {
            return Err(Errno::ENOMEM);
        }
        if data && (data_now - gone_data).saturating_add(len) > self.limits.data {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// The area containing `addr`.
    fn find(&self, addr: u64) -> Option<&Vma> {
        self.vmas
            .range(..=addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| addr < v.end)
    }

    /// Whether an area overlapping `[start, end)` is sealed (mseal(2)).
    fn any_sealed(&self, start: u64, end: u64) -> bool {
        self.vmas
            .range(..end)
            .rev()
            .take_while(|(_, v)| v.end > start)
            .any(|(_, v)| v.sealed)
    }

    /// EINVAL when cutting an area at `at` would split a huge page (Linux's
    /// hugetlb_vm_op_split: munmap, mprotect and MAP_FIXED keep a huge area on
    /// 2 MiB boundaries).
    fn check_huge_cut(&self, at: u64) -> KResult<()> {
        match self.find(at) {
            Some(v) if v.huge() && v.start < at && !at.is_multiple_of(HPAGE) => Err(Errno::EINVAL),
            _ => Ok(()),
        }
    }

    /// Maps every page of the private huge area `v` that is not mapped yet
    /// (before fork shares them copy-on-write: the child must not later
    /// fault in the object's page itself).
    fn fill_huge(&mut self, v: &Vma) {
        let Backing::SharedAnonymous { pages, offset, .. } = &v.backing else {
            return;
        };
        pages
            .forked
            .store(true, core::sync::atomic::Ordering::Release);
        let mut page = v.start;
        while page < v.end {
            if let Ok(pte) = self.table.pte_create(page)
                && pte.get() == 0
                && let Some(pa) = pages.get((offset + (page - v.start)) / PAGE)
            {
                // As mprotect leaves a PROT_NONE page: kept, not present.
                pte.set(if v.prot == PROT_NONE {
                    pa | PROT_NONE_BIT | pkey_bits(v.pkey)
                } else {
                    pa | pte_flags(v.prot, false).bits() | pkey_bits(v.pkey)
                });
            }
            page += PAGE;
        }
    }

    /// Whether `[start, end)` overlaps any area.
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas
            .range(..end)
            .next_back()
            .is_some_and(|(_, v)| v.end > start)
    }

    /// Splits the area containing `at` so that an area boundary falls on `at`.
    fn split_at(&mut self, at: u64) {
        let key = match self.vmas.range(..at).next_back() {
            Some((&k, v)) if v.end > at => k,
            _ => return,
        };
        let tail = self
            .vmas
            .get_mut(&key)
            .expect("area found above")
            .split_off(at);
        self.vmas.insert(at, tail);
    }

    /// Whether `a` and `b`, side by side, may be one area: private anonymous
    /// memory with the same attributes (Linux's vma_merge). One area for many
    /// adjacent mmap calls keeps the area count, and so fork, exit and the
    /// free-range search, from growing with each call.
    fn mergeable(a: &Vma, b: &Vma) -> bool {
        matches!(a.backing, Backing::Anonymous)
            && matches!(b.backing, Backing::Anonymous)
            && a.kind == VmaKind::Normal
            && b.kind == VmaKind::Normal
            && a.name.is_none()
            && b.name.is_none()
            && a.prot == b.prot
            && a.locked == b.locked
            && a.no_write == b.no_write
            && a.no_exec == b.no_exec
            && a.on_fork == b.on_fork
            && a.pkey == b.pkey
            && a.dont_dump == b.dont_dump
            && a.sealed == b.sealed
            && a.uffd.is_none()
            && b.uffd.is_none()
            && a.policy == b.policy
    }

    /// Adds the new area `v` (its range free), merged with a neighbour it
    /// may join.
    fn insert_merged(&mut self, mut v: Vma) {
        if let Some(next) = self.vmas.get(&v.end)
            && Self::mergeable(&v, next)
        {
            v.end = next.end;
            let key = next.start;
            self.vmas.remove(&key);
        }
        if let Some((_, prev)) = self.vmas.range_mut(..v.start).next_back()
            && prev.end == v.start
            && Self::mergeable(prev, &v)
        {
            prev.end = v.end;
            return;
        }
        self.vmas.insert(v.start, v);
    }

    /// The highest free range of `len` bytes below `top`.
    fn find_free(&self, len: u64, top: u64) -> Option<u64> {
        let mut top = top;
        for v in self.vmas.range(..top).rev().map(|(_, v)| v) {
            if v.end <= top && top - v.end >= len {
                return Some(top - len);
            }
            top = top.min(v.start);
        }
        top.checked_sub(len).filter(|&start| start >= MMAP_MIN)
    }

    /// Makes the other CPUs that may cache this address space's translations drop
    /// them (after entries were removed or downgraded; see `arch::tlb`).
    fn shootdown(&self) {
        tlb::shootdown(self.table.root(), false);
    }

    /// Drops every mapping in `[start, end)` (area boundaries must already be there).
    fn unmap_pages(&mut self, start: u64, end: u64) {
        // Each frame is released once its entry is gone from every TLB: entries are
        // cleared a batch at a time, other CPUs told, then the batch's frames freed.
        // Nothing is allocated (this runs when memory is short, too).
        const BATCH: usize = 64;
        let root = self.table.root();
        let mut batch = [0u64; BATCH];
        let mut n = 0;
        let release = |batch: &mut [u64; BATCH], n: &mut usize| {
            tlb::shootdown(root, false);
            for &old in &batch[..*n] {
                put_pte(old);
            }
            *n = 0;
        };
        self.table.for_each_pte(start, end, &mut |va, pte| {
            let old = *pte;
            *pte = 0;
            flush(va);
            batch[n] = old;
            n += 1;
            if n == BATCH {
                release(&mut batch, &mut n);
            }
        });
        release(&mut batch, &mut n);
    }

    fn remove_range(&mut self, start: u64, end: u64) {
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.vmas.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            self.vmas.remove(&k);
        }
        self.unmap_pages(start, end);
    }

    /// Makes the page at `page` present (and writable if `write`) from its area's
    /// backing. `force` skips the protection check (the kernel writing an exec image).
    fn populate(&mut self, page: u64, access: Access, force: bool) -> Result<(), FaultError> {
        self.populate_as(page, access, force, false)
    }

    /// [`Vm::populate`], `user` when the program's own access faulted (not a
    /// copy of the kernel's): what a userfaultfd with UFFD_USER_MODE_ONLY handles.
    fn populate_as(
        &mut self,
        page: u64,
        access: Access,
        force: bool,
        user: bool,
    ) -> Result<(), FaultError> {
        let vma = match self.find(page) {
            Some(v) => v.clone(),
            None => self.grow_stack(page)?,
        };
        if !force {
            let ok = match access {
                Access::Write => vma.prot & PROT_WRITE != 0,
                Access::Execute => vma.prot & PROT_EXEC != 0,
                Access::Read => vma.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0,
            };
            if !ok {
                return Err(FaultError::Protection);
            }
        }
        let prot = if force {
            vma.prot | PROT_READ | PROT_WRITE
        } else {
            vma.prot
        };
        let pte = self
            .table
            .pte_create(page)
            .map_err(|_| FaultError::OutOfMemory)?;
        let old = pte.get();
        if old & UFFD_POISON_BIT != 0 {
            // SIGBUS with BUS_ADRERR, as Linux without CONFIG_MEMORY_FAILURE
            // (which Kestrel is: MADV_HWPOISON is EINVAL); with it Linux says
            // BUS_MCEERR_AR.
            return Err(FaultError::NoPage);
        }
        if !force
            && let Some(reg) = &vma.uffd
            && let Some(e) = uffd::must_wait(reg, &vma, page, old, access, user)
        {
            return Err(e);
        }
        if old != 0 {
            let cow = old & PteFlags::COW.bits() != 0;
            if access == Access::Write && cow {
                let pa = old & ADDR_MASK;
                // A file's own page (SHARED in a private area) is never written
                // through the mapping: it is always copied, and its area keeps it.
                let file_page = old & PteFlags::SHARED.bits() != 0;
                if !file_page
                    && frame::meta(pa)
                        .refcount
                        .load(core::sync::atomic::Ordering::Acquire)
                        == 1
                {
                    pte.set(pa | pte_flags(prot, false).bits() | pkey_bits(vma.pkey));
                } else {
                    // The copy, into a frame not zeroed first.
                    let new = new_page_with(|buf| {
                        // SAFETY: `pa` is a user frame this area maps (held by the
                        // PTE), read through the direct map.
                        let old = unsafe {
                            core::slice::from_raw_parts(phys_to_virt(pa) as *const u8, PAGE_SIZE)
                        };
                        buf.copy_from_slice(old);
                        PAGE_SIZE
                    })
                    .ok_or(FaultError::OutOfMemory)?;
                    pte.set(new | pte_flags(prot, false).bits() | pkey_bits(vma.pkey));
                    // Another CPU may still read the shared frame through the old
                    // entry: it forgets it before the frame can go.
                    flush(page);
                    self.shootdown();
                    if !file_page {
                        put_page(pa);
                    }
                }
            } else {
                // Present already (another thread won), or a PROT_NONE page whose area
                // allows access again: restore the flags the area asks for (a
                // userfaultfd write protection stays for a read; a write that got
                // here is no longer protected).
                let wp = old & UFFD_WP_BIT != 0 && access != Access::Write;
                let mut flags = pte_flags(prot, cow).bits();
                if wp {
                    flags = (flags & !PteFlags::WRITABLE.bits()) | UFFD_WP_BIT;
                }
                pte.set(
                    (old & ADDR_MASK)
                        | (old & PteFlags::SHARED.bits())
                        | flags
                        | pkey_bits(vma.pkey),
                );
            }
            flush(page);
            return Ok(());
        }
        let mut extra = PteFlags::empty();
        let mut cow = false;
        let pa = match &vma.backing {
            Backing::Anonymous => new_page().ok_or(FaultError::OutOfMemory)?,
            // A huge page object never makes a page up: none there is SIGBUS.
            Backing::SharedAnonymous { pages, offset, .. } => {
                cow = pages.private && pages.forked.load(core::sync::atomic::Ordering::Acquire);
                pages
                    .get((offset + (page - vma.start)) / PAGE)
                    .ok_or(if pages.is_huge() {
                        FaultError::NoPage
                    } else {
                        FaultError::OutOfMemory
                    })?
            }
            Backing::File {
                inode,
                offset,
                held,
            } => {
                let file_off = offset + (page - vma.start);
                if file_off >= inode.metadata().size.next_multiple_of(PAGE) {
                    return Err(FaultError::PastEndOfFile);
                }
                let index = file_off / PAGE;
                let shared = match access {
                    Access::Write => None,
                    _ => match inode.shared_page(index) {
                        Ok(b) => file_frame(&b).map(|pa| (pa, b)),
                        // A disk file's page not in memory yet: await it first.
                        Err(Errno::EAGAIN) => {
                            return Err(FaultError::NotLoaded(
                                vma.read_around(inode, *offset, page),
                            ));
                        }
                        Err(_) => None,
                    },
                };
                match shared {
                    Some((pa, buf)) => {
                        // The file's page, read-only until a write copies it.
                        held.lock().insert(index, buf);
                        extra = PteFlags::SHARED;
                        cow = true;
                        pa
                    }
                    // A write, or a file with no page to give: a private copy,
                    // filled from the file (zeros past its end), not zeroed first.
                    // A disk file may not have the page in memory yet (EAGAIN).
                    None => {
                        let mut missing = false;
                        let pa = new_page_with(|buf| match inode.read_at(file_off, buf) {
                            Ok(n) => n,
                            Err(e) => {
                                missing = e == Errno::EAGAIN;
                                0
                            }
                        })
                        .ok_or(FaultError::OutOfMemory)?;
                        if missing {
                            put_page(pa);
                            return Err(FaultError::NotLoaded(
                                vma.read_around(inode, *offset, page),
                            ));
                        }
                        pa
                    }
                }
            }
            Backing::SharedFile {
                inode,
                offset,
                held,
                ..
            } => {
                let index = (offset + (page - vma.start)) / PAGE;
                let buf = match inode.shared_page(index) {
                    Ok(b) => b,
                    Err(Errno::EAGAIN) => {
                        return Err(FaultError::NotLoaded(vma.read_around(inode, *offset, page)));
                    }
                    Err(Errno::ENXIO) => return Err(FaultError::PastEndOfFile),
                    Err(Errno::ENOMEM) => return Err(FaultError::OutOfMemory),
                    Err(_) => return Err(FaultError::NoPage),
                };
                let pa = file_frame(&buf).ok_or(FaultError::OutOfMemory)?;
                held.lock().insert(index, buf);
                extra = PteFlags::SHARED;
                pa
            }
        };
        let pte = self
            .table
            .pte_create(page)
            .map_err(|_| FaultError::OutOfMemory)?;
        pte.set(pa | (pte_flags(prot, cow) | extra).bits() | pkey_bits(vma.pkey));
        flush(page);
        if cow && !force {
            self.fault_around(&vma, page);
        }
        Ok(())
    }

    /// After a read fault mapped a file's page into the private area `vma`, maps
    /// the file's pages around it too (read-only, copy-on-write), as Linux's
    /// fault-around does (fault_around_bytes, 64 KiB): the pages of the aligned
    /// 64 KiB window that the area covers, the file has and no entry maps yet. A
    /// program reading through a mapped file then faults once per 16 pages. The
    /// window lies in one page table, which the fault just made, so nothing is
    /// allocated but the file's own pages (a ramfs hole becomes a page, as a read
    /// fault there would make it anyway).
    fn fault_around(&mut self, vma: &Vma, page: u64) {
        const WINDOW: u64 = 16 * PAGE;
        let Backing::File {
            inode,
            offset,
            held,
        } = &vma.backing
        else {
            return;
        };
        let size = inode.metadata().size;
        let start = (page & !(WINDOW - 1)).max(vma.start);
        let end = (page & !(WINDOW - 1)).saturating_add(WINDOW).min(vma.end);
        let flags = (pte_flags(vma.prot, true) | PteFlags::SHARED).bits() | pkey_bits(vma.pkey);
        let mut held = held.lock();
        let mut at = start;
        while at < end {
            let file_off = offset + (at - vma.start);
            if file_off >= size {
                break;
            }
            if at != page
                && let Ok(pte) = self.table.pte_create(at)
                && pte.get() == 0
            {
                let index = file_off / PAGE;
                let Ok(buf) = inode.shared_page(index) else {
                    break;
                };
                let Some(pa) = file_frame(&buf) else {
                    break;
                };
                held.insert(index, buf);
                pte.set(pa | flags);
            }
            at += PAGE;
        }
    }

    /// A fault below a stack area grows it (within the stack limit).
    fn grow_stack(&mut self, page: u64) -> Result<Vma, FaultError> {
        let (&key, stack) = self.vmas.range(page..).next().ok_or(FaultError::Unmapped)?;
        if stack.kind != VmaKind::Stack
            || stack.end - page > self.limits.stack
            || self.may_expand(stack.start - page, false, 0, 0).is_err()
            || self.overlaps(page, stack.start)
        {
            return Err(FaultError::Unmapped);
        }
        // A stack keeps Linux's guard gap (stack_guard_gap, 256 pages) above
        // an accessible area below it that is not a stack itself.
        const STACK_GUARD_GAP: u64 = 256 * PAGE;
        if let Some((_, below)) = self.vmas.range(..page).next_back()
            && below.kind != VmaKind::Stack
            && below.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0
            && page < below.end.saturating_add(STACK_GUARD_GAP)
        {
            return Err(FaultError::Unmapped);
        }
        let mut grown = self.vmas.remove(&key).expect("stack area found above");
        grown.start = page;
        self.vmas.insert(page, grown.clone());
        Ok(grown)
    }

    /// Makes the pages of `[start, end)` present as their areas allow (writable
    /// ones written, so copy-on-write is broken up front, as Linux's mlock
    /// populates); inaccessible areas and pages past a file's end are left.
    fn populate_range(&mut self, start: u64, end: u64) {
        let mut page = page_down(start);
        while page < end {
            let Some(v) = self.find(page) else {
                // A hole: on to the next area.
                match self.vmas.range(page..end).next() {
                    Some((&next, _)) => page = next,
                    None => break,
                }
                continue;
            };
            let access = if v.prot & PROT_WRITE != 0 && !v.shared() {
                Access::Write
            } else if v.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
                Access::Read
            } else {
                page = v.end;
                continue;
            };
            let _ = self.populate(page, access, false);
            page += PAGE;
        }
    }

    /// Bytes in locked areas within `[start, end)`.
    fn locked_in(&self, start: u64, end: u64) -> u64 {
        self.vmas
            .values()
            .filter(|v| v.locked)
            .map(|v| v.end.min(end).saturating_sub(v.start.max(start)))
            .sum()
    }
}

impl AddressSpace {
    /// An empty address space sharing the kernel half.
    pub fn new() -> KResult<Arc<Self>> {
        let table = PageTable::new_user().ok_or(Errno::ENOMEM)?;
        Ok(Arc::new(Self {
            aio: spin::Mutex::new(BTreeMap::new()),
            pkeys: core::sync::atomic::AtomicU16::new(1),
            root: table.root(),
            vm: spin::Mutex::new(Vm {
                table,
                vmas: BTreeMap::new(),
                brk_start: 0,
                brk: 0,
                limits: Limits::default(),
                lock_future: false,
            }),
        }))
    }

    /// Sets the limits this address space enforces (from the process's rlimits).
    pub fn set_limits(&self, limits: Limits) {
        self.vm.lock().limits = limits;
    }

    /// Physical address of the page table (what CR3 holds while this runs).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Makes this the current address space on this CPU, if it is not already.
    pub fn activate(&self) {
        let active = crate::arch::percpu::this_cpu()
            .active_root
            .load(core::sync::atomic::Ordering::Relaxed);
        if active != self.root {
            // SAFETY: the table shares the kernel half (PageTable::new_user).
            unsafe { PageTable::from_root(self.root).activate() };
        }
    }

    /// Maps a new area of `len` bytes where `at` says.
    pub fn map(
        &self,
        at: Placement,
        len: u64,
        prot: u32,
        backing: Backing,
        kind: VmaKind,
    ) -> KResult<u64> {
        let huge = matches!(&backing, Backing::SharedAnonymous { pages, .. } if pages.is_huge());
        let len = if huge {
            len.checked_next_multiple_of(HPAGE).ok_or(Errno::ENOMEM)?
        } else {
            page_up(len).ok_or(Errno::ENOMEM)?
        };
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let (addr, fixed, noreplace) = match at {
            Placement::Hint(a) => (a, false, false),
            Placement::Fixed(a) => (a, true, false),
            Placement::FixedNoReplace(a) => (a, true, true),
        };
        let mut vm = self.vm.lock();
        if vm.vmas.len() > max_map_count() {
            return Err(Errno::ENOMEM);
        }
        // As Vma::is_data (a private huge mapping is data too).
        let shared = match &backing {
            Backing::SharedAnonymous { pages, .. } => !pages.is_private(),
            Backing::SharedFile { .. } => true,
            _ => false,
        };
        let is_data = prot & PROT_WRITE != 0 && !shared && kind != VmaKind::Stack;
        let start = if fixed {
            if !addr.is_multiple_of(if huge { HPAGE } else { PAGE }) {
                return Err(Errno::EINVAL);
            }
            let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
            if end > USER_END {
                return Err(Errno::ENOMEM);
            }
            if !noreplace {
                vm.check_huge_cut(addr)?;
                vm.check_huge_cut(end)?;
            }
            // A sealed area is never mapped over (Linux checks it while
            // gathering what MAP_FIXED replaces, before the address space limit).
            if !noreplace && vm.any_sealed(addr, end) {
                return Err(Errno::EPERM);
            }
            vm.may_expand(len, is_data, addr, end)?;
            if vm.overlaps(addr, end) {
                if noreplace {
                    return Err(Errno::EEXIST);
                }
                vm.remove_range(addr, end);
            }
            addr
        } else {
            vm.may_expand(len, is_data, 0, 0)?;
            let hint = page_down(addr);
            match hint.checked_add(len) {
                Some(end)
                    if hint >= MMAP_MIN
                        && end <= USER_END
                        && !vm.overlaps(hint, end)
                        && (!huge || hint.is_multiple_of(HPAGE)) =>
                {
                    hint
                }
                // A huge mapping starts on a 2 MiB boundary: room for one
                // more huge page, rounded up.
                _ if huge => vm
                    .find_free(len + HPAGE - PAGE, MMAP_TOP)
                    .ok_or(Errno::ENOMEM)?
                    .next_multiple_of(HPAGE),
                _ => vm.find_free(len, MMAP_TOP).ok_or(Errno::ENOMEM)?,
            }
        };
        let locked = vm.lock_future;
        let new = Vma {
            start,
            end: start + len,
            prot,
            backing,
            kind,
            name: None,
            locked,
            no_write: false,
            no_exec: false,
            on_fork: OnFork::Copy,
            pkey: 0,
            dont_dump: false,
            sealed: false,
            uffd: None,
            policy: None,
        };
        vm.insert_merged(new);
        if locked {
            vm.populate_range(start, start + len);
        }
        Ok(start)
    }

    /// madvise's MADV_DOFORK, MADV_DONTFORK, MADV_WIPEONFORK, MADV_KEEPONFORK:
    /// what a child of fork gets in `[addr, addr+len)` (mapped without holes,
    /// else ENOMEM). Wiping is for private anonymous memory only (EINVAL).
    /// `from` limits the change to areas now so (KEEPONFORK undoes only a
    /// wipe, DOFORK only a skip).
    pub fn set_on_fork(&self, addr: u64, len: u64, from: OnFork, to: OnFork) -> KResult<()> {
        let end = self.check_mapped(addr, len)?;
        let mut vm = self.vm.lock();
        if to == OnFork::Wipe
            && vm
                .vmas
                .values()
                .any(|v| v.start < end && v.end > addr && !matches!(v.backing, Backing::Anonymous))
        {
            return Err(Errno::EINVAL);
        }
        vm.split_at(addr);
        vm.split_at(end);
        for v in vm.vmas.range_mut(addr..end).map(|(_, v)| v) {
            if to == OnFork::Wipe || to == OnFork::Skip || v.on_fork == from {
                v.on_fork = to;
            }
        }
        Ok(())
    }

    /// mbind(2): gives `[start, end)` (page-aligned) the policy `policy`. A
    /// range with no area in it is EFAULT, and so is one with a hole unless
    /// `holes_ok` (Linux allows holes for MPOL_DEFAULT only).
    pub fn set_policy(
        &self,
        start: u64,
        end: u64,
        policy: Option<MemPolicy>,
        holes_ok: bool,
    ) -> KResult<()> {
        let mut vm = self.vm.lock();
        let (mut at, mut any) = (start, false);
        for v in vm.vmas.values().filter(|v| v.start < end && v.end > start) {
            if v.start > at && !holes_ok {
                return Err(Errno::EFAULT);
            }
            (at, any) = (v.end, true);
        }
        if !any || (at < end && !holes_ok) {
            return Err(Errno::EFAULT);
        }
        vm.split_at(start);
        vm.split_at(end);
        for v in vm.vmas.range_mut(start..end).map(|(_, v)| v) {
            v.policy = policy;
        }
        Ok(())
    }

    /// set_mempolicy_home_node(2): the areas of `[start, end)` with an
    /// MPOL_BIND or MPOL_PREFERRED_MANY policy get home node `node`. ENOENT
    /// when no area there has a policy; EOPNOTSUPP at the first with another
    /// mode (the areas before it keep their new home node, as on Linux).
    pub fn set_home_node(&self, start: u64, end: u64, node: u16) -> KResult<()> {
        use kestrel_abi::mm::{MPOL_BIND, MPOL_PREFERRED_MANY};
        let mut vm = self.vm.lock();
        let starts: Vec<u64> = vm
            .vmas
            .values()
            .filter(|v| v.start < end && v.end > start && v.policy.is_some())
            .map(|v| v.start)
            .collect();
        let mut r = Err(Errno::ENOENT);
        for s in starts {
            let Some(v) = vm.vmas.get(&s) else { continue };
            let Some(mut p) = v.policy else { continue };
            if p.mode != MPOL_BIND && p.mode != MPOL_PREFERRED_MANY {
                return Err(Errno::EOPNOTSUPP);
            }
            let (from, to) = (s.max(start), v.end.min(end));
            vm.split_at(from);
            vm.split_at(to);
            p.home_node = Some(node);
            for v in vm.vmas.range_mut(from..to).map(|(_, v)| v) {
                v.policy = Some(p);
            }
            r = Ok(());
        }
        r
    }

    /// The policy of the area holding `addr` (get_mempolicy's MPOL_F_ADDR):
    /// `None` when no area holds it.
    pub fn policy_at(&self, addr: u64) -> Option<Option<MemPolicy>> {
        self.vm.lock().find(addr).map(|v| v.policy)
    }

    /// What move_pages(2) finds at `addr`: `None` outside every area,
    /// else whether a page is present there.
    pub fn page_present(&self, addr: u64) -> Option<bool> {
        let vm = self.vm.lock();
        vm.find(addr)?;
        Some(vm.table.translate(page_down(addr)).is_some())
    }

    /// madvise's MADV_DONTDUMP (`dont` true) and MADV_DODUMP over
    /// `[addr, addr+len)` (mapped without holes, else ENOMEM). MADV_DODUMP of the
    /// vDSO's data page is EINVAL, as Linux refuses it for special mappings.
    pub fn set_dont_dump(&self, addr: u64, len: u64, dont: bool) -> KResult<()> {
        let end = self.check_mapped(addr, len)?;
        let mut vm = self.vm.lock();
        if !dont
            && vm
                .vmas
                .values()
                .any(|v| v.start < end && v.end > addr && v.kind == VmaKind::Vvar)
        {
            return Err(Errno::EINVAL);
        }
        vm.split_at(addr);
        vm.split_at(end);
        for v in vm.vmas.range_mut(addr..end).map(|(_, v)| v) {
            v.dont_dump = dont;
        }
        Ok(())
    }

    /// The areas as a core dump sees them, in address order: (start, end, prot,
    /// whether its bytes are dumped, whether it is anonymous memory, whose pages
    /// never touched are holes in the file). `filter` is /proc/PID/coredump_filter's
    /// bits: 0 private anonymous, 1 shared anonymous, 2 private file, 3 shared
    /// file. As Linux does, a private area that was written (here: anonymous or
    /// writable) counts as anonymous, the vDSO is always dumped, the vDSO's data
    /// page and MADV_DONTDUMP areas never.
    pub fn dump_areas(&self, filter: u32) -> Vec<(u64, u64, u32, bool, bool)> {
        let bit = |n: u32| filter & (1 << n) != 0;
        let vm = self.vm.lock();
        vm.vmas
            .values()
            .map(|v| {
                let dump = match (&v.backing, v.kind) {
                    _ if v.dont_dump => false,
                    (_, VmaKind::Vvar) => false,
                    (_, VmaKind::Vdso) => true,
                    (Backing::SharedAnonymous { .. }, _) => bit(1),
                    (Backing::SharedFile { .. }, _) => bit(3),
                    (Backing::Anonymous, _) => bit(0),
                    (Backing::File { .. }, _) => (v.prot & PROT_WRITE != 0 && bit(0)) || bit(2),
                };
                let anonymous = matches!(
                    v.backing,
                    Backing::Anonymous | Backing::SharedAnonymous { .. }
                ) && !matches!(v.kind, VmaKind::Vdso | VmaKind::Vvar);
                (v.start, v.end, v.prot, dump, anonymous)
            })
            .collect()
    }

    /// The pages of `[start, end)` that have a frame in this address space
    /// (present, or parked under PROT_NONE), in address order: what a core dump
    /// of anonymous memory writes; the others read as zeros and stay holes.
    pub fn pages_with_frames(&self, start: u64, end: u64) -> Vec<u64> {
        let vm = self.vm.lock();
        let mut pages = Vec::new();
        vm.table
            .for_each_pte(start, end, &mut |va, _| pages.push(va));
        pages
    }

    /// Reads the page at `page` for a core dump: a private anonymous page never
    /// touched reads as zeros without being allocated; others are faulted in
    /// (whatever the protections) and copied. False if the page is gone.
    pub fn read_page_for_dump(&self, page: u64, buf: &mut [u8; 4096]) -> bool {
        if UserRange::new(page, buf.len()).is_err() || !page.is_multiple_of(PAGE) {
            return false;
        }
        let mut vm = self.vm.lock();
        let Some(vma) = vm.find(page) else {
            return false;
        };
        let anonymous = matches!(vma.backing, Backing::Anonymous);
        if vm.table.translate(page).is_none() {
            if anonymous {
                buf.fill(0);
                return true;
            }
            if vm.populate(page, Access::Read, true).is_err() {
                return false;
            }
        }
        let Some((pa, _)) = vm.table.translate(page) else {
            return false;
        };
        // SAFETY: `pa` is the frame mapped at `page` in this address space, kept
        // alive by the lock we hold, read through the direct map.
        unsafe {
            core::ptr::copy_nonoverlapping(
                phys_to_virt(pa) as *const u8,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        true
    }

    /// remap_file_pages(2), as Linux has emulated it since 3.16: the pages of
    /// `[start, start+size)`, inside one shared file mapping (EINVAL
    /// otherwise), show the file from page `pgoff` instead: a new mapping of
    /// the same file, protections and name replaces them.
    pub fn remap_file_pages(&self, start: u64, size: u64, pgoff: u64) -> KResult<()> {
        let start = page_down(start);
        let size = page_up(size).ok_or(Errno::EINVAL)?;
        let end = start.checked_add(size).ok_or(Errno::EINVAL)?;
        let offset = pgoff.checked_mul(PAGE).ok_or(Errno::EINVAL)?;
        if size == 0 || offset.checked_add(size).is_none() {
            return Err(Errno::EINVAL);
        }
        let mut vm = self.vm.lock();
        let vma = vm.find(start).cloned().ok_or(Errno::EINVAL)?;
        if end > vma.end || !matches!(vma.backing, Backing::SharedFile { .. }) {
            return Err(Errno::EINVAL);
        }
        // Linux maps the new pages MAP_FIXED over the old: not over sealed ones.
        if vma.sealed {
            return Err(Errno::EPERM);
        }
        let mut new = vma.clone();
        new.start = start;
        new.end = end;
        if let Backing::SharedFile { inode, _writer, .. } = &vma.backing {
            new.backing = Backing::SharedFile {
                inode: inode.clone(),
                offset,
                held: Default::default(),
                _writer: _writer.clone(),
            };
        }
        vm.remove_range(start, end);
        vm.vmas.insert(start, new);
        Ok(())
    }

    /// Marks the area at `start` as never to be made writable (mprotect EACCES).
    pub fn deny_write(&self, start: u64) {
        if let Some(v) = self.vm.lock().vmas.get_mut(&start) {
            v.no_write = true;
        }
    }

    /// Marks the area at `start` as never to be made executable (mprotect
    /// EACCES): it maps a file on a noexec mount.
    pub fn deny_exec(&self, start: u64) {
        if let Some(v) = self.vm.lock().vmas.get_mut(&start) {
            v.no_exec = true;
        }
    }

    /// Records which file the area at `start` maps (shown in /proc/PID/maps).
    pub fn name_area(&self, start: u64, file: kestrel_vfs::DentryRef) {
        if let Some(v) = self.vm.lock().vmas.get_mut(&start) {
            v.name = Some(file);
        }
    }

    /// Every area, in address order, as /proc/PID/maps lists them.
    pub fn areas(&self) -> Vec<AreaInfo> {
        let vm = self.vm.lock();
        vm.vmas
            .values()
            .map(|v| {
                let (offset, ino, dev) = match &v.backing {
                    Backing::File { inode, offset, .. }
                    | Backing::SharedFile { inode, offset, .. } => {
                        let m = inode.metadata();
                        (*offset, m.ino, m.dev)
                    }
                    Backing::SharedAnonymous { offset, .. } => (*offset, 0, 0),
                    Backing::Anonymous => (0, 0, 0),
                };
                let label = match v.kind {
                    VmaKind::Heap => Some(b"[heap]".to_vec()),
                    VmaKind::Stack if v.end == STACK_TOP => Some(b"[stack]".to_vec()),
                    VmaKind::Vdso => Some(b"[vdso]".to_vec()),
                    VmaKind::Vvar => Some(b"[vvar]".to_vec()),
                    _ => v.name.as_ref().map(|d| d.path()),
                };
                // The vDSO pages are shared by every process, but they are private
                // mappings as far as anyone can tell (Linux shows r-xp).
                let shared = v.shared() && !matches!(v.kind, VmaKind::Vdso | VmaKind::Vvar);
                AreaInfo {
                    start: v.start,
                    end: v.end,
                    prot: v.prot,
                    shared,
                    offset,
                    dev,
                    ino,
                    label,
                    locked: v.locked,
                }
            })
            .collect()
    }

    /// (total mapped bytes, resident pages, data bytes, stack bytes).
    pub fn usage(&self) -> MemUsage {
        let vm = self.vm.lock();
        let mut u = MemUsage::default();
        for v in vm.vmas.values() {
            let len = v.end - v.start;
            u.total += len;
            if v.is_data() {
                u.data += len;
            }
            if v.kind == VmaKind::Stack {
                u.stack += len;
            }
        }
        vm.table.for_each_pte(0, USER_END, &mut |_, pte| {
            if *pte & PteFlags::PRESENT.bits() != 0 {
                u.resident += 1;
            }
        });
        u
    }

    /// The segment attached by the area that starts at `addr` at the segment's
    /// start (what shmdt detaches).
    pub fn segment_at(&self, addr: u64) -> Option<Segment> {
        let vm = self.vm.lock();
        match &vm.vmas.get(&addr)?.backing {
            Backing::SharedAnonymous {
                offset: 0,
                segment: Some(s),
                ..
            } => Some(s.clone()),
            _ => None,
        }
    }

    /// The areas within `[from, to)` that attach `segment`, as (start, end).
    pub fn segment_areas(&self, segment: &Segment, from: u64, to: u64) -> Vec<(u64, u64)> {
        let vm = self.vm.lock();
        vm.vmas
            .range(from..to)
            .filter(|(_, v)| {
                matches!(&v.backing, Backing::SharedAnonymous { segment: Some(s), .. }
                    if Arc::ptr_eq(s, segment))
            })
            .map(|(_, v)| (v.start, v.end.min(to)))
            .collect()
    }

    /// munmap: removes every mapping in the range (holes are fine).
    pub fn unmap(&self, addr: u64, len: u64) -> KResult<()> {
        if !addr.is_multiple_of(PAGE) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len)
            .and_then(|l| addr.checked_add(l))
            .ok_or(Errno::EINVAL)?;
        if end > USER_END {
            return Err(Errno::EINVAL);
        }
        let mut vm = self.vm.lock();
        // A hole punched in the middle of an area makes one area two.
        if vm.vmas.len() >= max_map_count()
            && vm.find(addr).is_some_and(|v| v.start < addr && end < v.end)
        {
            return Err(Errno::ENOMEM);
        }
        if vm.any_sealed(addr, end) {
            return Err(Errno::EPERM);
        }
        vm.check_huge_cut(addr)?;
        vm.check_huge_cut(end)?;
        vm.remove_range(addr, end);
        Ok(())
    }

    /// mprotect: the whole range must be mapped (ENOMEM otherwise).
    pub fn protect(&self, addr: u64, len: u64, prot: u32) -> KResult<()> {
        self.protect_key(addr, len, prot, None)
    }

    /// The protection key of the area holding `addr` (0 if none).
    pub fn pkey_at(&self, addr: u64) -> u8 {
        self.vm.lock().find(addr).map_or(0, |v| v.pkey)
    }

    /// Whether protection key `pkey` is allocated in this address space.
    pub fn pkey_allocated(&self, pkey: i32) -> bool {
        // Without protection keys not even key 0 is allocated (Linux sets up
        // the allocation map only on a CPU with OSPKE).
        cpu::features().pku
            && (0..16).contains(&pkey)
            && self.pkeys.load(core::sync::atomic::Ordering::Acquire) & (1 << pkey) != 0
    }

    /// mprotect, or with `pkey` pkey_mprotect: the areas' pages also get that
    /// protection key (EINVAL unless it is allocated, checked after the
    /// address and length as Linux's do_mprotect_pkey).
    pub fn protect_key(&self, addr: u64, len: u64, prot: u32, pkey: Option<u8>) -> KResult<()> {
        if !addr.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len)
            .and_then(|l| addr.checked_add(l))
            .ok_or(Errno::ENOMEM)?;
        if end > USER_END {
            return Err(Errno::ENOMEM);
        }
        if len == 0 {
            return Ok(());
        }
        if pkey.is_some_and(|k| !self.pkey_allocated(i32::from(k))) {
            return Err(Errno::EINVAL);
        }
        let mut vm = self.vm.lock();
        // Every byte must be covered, without holes, by areas that allow `prot`.
        let mut at = addr;
        while at < end {
            match vm.find(at) {
                Some(v)
                    if prot & !v.kind.max_prot() & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0 =>
                {
                    return Err(Errno::EACCES);
                }
                // A shared mapping of a file opened without write access never
                // becomes writable (Linux: VM_MAYWRITE is clear): it would write
                // the file.
                Some(Vma {
                    backing: Backing::SharedFile { _writer: None, .. },
                    ..
                }) if prot & PROT_WRITE != 0 => return Err(Errno::EACCES),
                Some(v) if v.no_write && prot & PROT_WRITE != 0 => return Err(Errno::EACCES),
                Some(v) if v.no_exec && prot & PROT_EXEC != 0 => return Err(Errno::EACCES),
                // Linux's mprotect_fixup: a sealed area's protection stays.
                Some(v) if v.sealed => return Err(Errno::EPERM),
                Some(v) => at = v.end,
                None => return Err(Errno::ENOMEM),
            }
        }
        vm.check_huge_cut(addr)?;
        vm.check_huge_cut(end)?;
        vm.split_at(addr);
        vm.split_at(end);
        for v in vm.vmas.range_mut(addr..end).map(|(_, v)| v) {
            v.prot = prot;
            if let Some(k) = pkey {
                v.pkey = k;
            }
        }
        vm.table.for_each_pte(addr, end, &mut |va, pte| {
            if *pte & UFFD_POISON_BIT != 0 {
                return;
            }
            let pa = *pte & ADDR_MASK;
            let cow = *pte & PteFlags::COW.bits() != 0;
            let key = match pkey {
                Some(k) => pkey_bits(k),
                None => *pte & PKEY_MASK,
            };
            let keep = *pte & ((PteFlags::COW | PteFlags::SHARED).bits() | UFFD_WP_BIT) | key;
            *pte = if prot == PROT_NONE {
                pa | PROT_NONE_BIT | keep
            } else if keep & UFFD_WP_BIT != 0 {
                pa | keep | (pte_flags(prot, cow).bits() & !PteFlags::WRITABLE.bits())
            } else {
                pa | keep | pte_flags(prot, cow).bits()
            };
            flush(va);
        });
        vm.shootdown();
        Ok(())
    }

    /// mremap(2): grows or shrinks the area at `old`, in place if there is room, else
    /// (with `may_move`) at a new address, moving the pages (no copy). `fixed` gives
    /// the new address (MREMAP_FIXED).
    pub fn remap(
        &self,
        old: u64,
        old_len: u64,
        new_len: u64,
        may_move: bool,
        fixed: Option<u64>,
        dont_unmap: Option<u64>,
    ) -> KResult<u64> {
        if !old.is_multiple_of(PAGE) || new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::ENOMEM)?;
        let old_end = old.checked_add(old_len).ok_or(Errno::EINVAL)?;
        let mut vm = self.vm.lock();
        // The old range must lie within one area.
        let vma = vm.find(old).cloned().ok_or(Errno::EFAULT)?;
        // A sealed area is neither moved nor resized; shrinking unmaps the
        // tail first, which is refused if sealed (before Linux looks at
        // whether the old range fits the area).
        if vma.sealed || (new_len < old_len && vm.any_sealed(old.saturating_add(new_len), old_end))
        {
            return Err(Errno::EPERM);
        }
        if old_end > vma.end || old_len == 0 {
            return Err(if old_len == 0 {
                Errno::EINVAL
            } else {
                Errno::EFAULT
            });
        }
        // A huge page area is neither moved nor resized here (Linux 6.1's
        // vma_to_resize refuses to grow one; moving it is not done).
        if vma.huge() {
            return Err(Errno::EINVAL);
        }
        if let Some(to) = fixed {
            if !to.is_multiple_of(PAGE) || to.checked_add(new_len).is_none_or(|e| e > USER_END) {
                return Err(Errno::EINVAL);
            }
            if to < old_end && old < to + new_len {
                return Err(Errno::EINVAL); // the ranges overlap
            }
            // MREMAP_FIXED unmaps what is at the target first.
            if vm.any_sealed(to, to + new_len) {
                return Err(Errno::EPERM);
            }
        }
        if dont_unmap.is_some() {
            // The old range stays mapped (so counts again), and an area the
            // kernel made (the vDSO's) cannot be moved out of (VM_DONTEXPAND).
            if matches!(vma.kind, VmaKind::Vdso | VmaKind::Vvar) {
                return Err(Errno::EINVAL);
            }
            vm.may_expand(old_len, vma.is_data(), 0, 0)?;
        }
        if fixed.is_none() && dont_unmap.is_none() && new_len <= old_len {
            vm.remove_range(old + new_len, old_end);
            return Ok(old);
        }
        let grow_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if new_len > old_len {
            vm.may_expand(new_len - old_len, vma.is_data(), 0, 0)?;
        }
        if fixed.is_none()
            && dont_unmap.is_none()
            && old_end == vma.end
            && grow_end <= USER_END
            && !vm.overlaps(old_end, grow_end)
        {
            vm.split_at(old);
            if let Some(v) = vm.vmas.get_mut(&old) {
                v.end = grow_end;
            }
            return Ok(old);
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let to = match fixed {
            Some(to) => {
                vm.remove_range(to, to + new_len);
                to
            }
            None => match dont_unmap.map(page_down) {
                // MREMAP_DONTUNMAP's new_addr is a hint, as mmap's.
                Some(hint)
                    if hint >= MMAP_MIN
                        && hint.checked_add(new_len).is_some_and(|e| e <= USER_END)
                        && !vm.overlaps(hint, hint + new_len) =>
                {
                    hint
                }
                _ => vm.find_free(new_len, MMAP_TOP).ok_or(Errno::ENOMEM)?,
            },
        };
        // Carve [old, old_end) out as its own area and move it, entries and all.
        // With MREMAP_DONTUNMAP the old area stays, empty: its next accesses
        // fault as on a fresh mapping (zero pages for private anonymous memory,
        // the object's pages for a shared or file one), and it is no longer
        // locked.
        vm.split_at(old);
        vm.split_at(old_end);
        let mut moved = if dont_unmap.is_some() {
            let v = vm.vmas.get_mut(&old).ok_or(Errno::EFAULT)?;
            v.locked = false;
            let mut m = v.clone();
            m.locked = vma.locked;
            m
        } else {
            vm.vmas.remove(&old).ok_or(Errno::EFAULT)?
        };
        let mut entries = Vec::new();
        vm.table.for_each_pte(old, old_end, &mut |va, pte| {
            entries.push((va - old, *pte));
            *pte = 0;
            flush(va);
        });
        vm.shootdown();
        for (off, pte) in entries {
            if off < new_len {
                let e = vm.table.pte_create(to + off).map_err(|_| Errno::ENOMEM)?;
                e.set(pte);
            } else {
                put_pte(pte);
            }
        }
        moved.start = to;
        moved.end = to + new_len;
        // Without UFFD_FEATURE_EVENT_REMAP the moved area leaves its userfaultfd
        // (Linux's mremap_userfaultfd_prep); with MREMAP_DONTUNMAP the old stays.
        if moved
            .uffd
            .as_ref()
            .is_none_or(|r| r.ctx.features() & uffd::FEATURE_EVENT_REMAP == 0)
        {
            moved.uffd = None;
        }
        vm.vmas.insert(to, moved);
        Ok(to)
    }

    /// mseal(2): seals every area of `[start, end)` (page-aligned, checked by
    /// the caller), splitting those that reach past it. A hole anywhere is
    /// ENOMEM, and then nothing is sealed (Linux checks first, then seals).
    pub fn seal(&self, start: u64, end: u64) -> KResult<()> {
        let mut vm = self.vm.lock();
        let mut at = start;
        while at < end {
            match vm.find(at) {
                Some(v) => at = v.end,
                None => return Err(Errno::ENOMEM),
            }
        }
        // A split makes one area two (Linux's vma_modify fails past the limit).
        let splits = [start, end]
            .iter()
            .filter(|&&x| vm.find(x).is_some_and(|v| v.start < x && !v.sealed))
            .count();
        if splits > 0 && vm.vmas.len() + splits > max_map_count() {
            return Err(Errno::ENOMEM);
        }
        vm.split_at(start);
        vm.split_at(end);
        for v in vm.vmas.range_mut(start..end).map(|(_, v)| v) {
            v.sealed = true;
        }
        Ok(())
    }

    /// madvise's advice that discards pages (DONTNEED, FREE, REMOVE, DONTFORK,
    /// WIPEONFORK) is EPERM on a sealed area of private anonymous memory that
    /// cannot be written (Linux's can_madvise_modify: dropping its pages would
    /// change memory the seal keeps read-only).
    pub fn check_discard_sealed(&self, addr: u64, len: u64) -> KResult<()> {
        let end = addr.saturating_add(len);
        let vm = self.vm.lock();
        let refused = vm
            .vmas
            .range(..end)
            .rev()
            .take_while(|(_, v)| v.end > addr)
            .any(|(_, v)| {
                v.sealed && matches!(v.backing, Backing::Anonymous) && v.prot & PROT_WRITE == 0
            });
        if refused { Err(Errno::EPERM) } else { Ok(()) }
    }

    /// madvise(2) MADV_DONTNEED: drops the pages of `[addr, addr+len)`; private
    /// anonymous memory reads back as zeros, file mappings re-read the file.
    /// ENOMEM if part of the range is unmapped (the rest is still done).
    /// EINVAL for locked memory unless `locked_too` (MADV_DONTNEED_LOCKED),
    /// and with `anonymous_only` (MADV_FREE) for anything but private
    /// anonymous memory (Linux's checks per area).
    pub fn discard(
        &self,
        addr: u64,
        len: u64,
        anonymous_only: bool,
        locked_too: bool,
    ) -> KResult<()> {
        let end = self.check_mapped(addr, len)?;
        let mut vm = self.vm.lock();
        if vm.vmas.values().any(|v| {
            v.start < end
                && v.end > addr
                && ((v.locked && !locked_too)
                    || (anonymous_only && !matches!(v.backing, Backing::Anonymous)))
        }) {
            return Err(Errno::EINVAL);
        }
        vm.unmap_pages(addr, end);
        Ok(())
    }

    /// Checks `[addr, addr+len)` is page-aligned and mapped without holes (ENOMEM),
    /// returning its end.
    pub fn check_mapped(&self, addr: u64, len: u64) -> KResult<u64> {
        if !addr.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len)
            .and_then(|l| addr.checked_add(l))
            .ok_or(Errno::ENOMEM)?;
        if end > USER_END {
            return Err(Errno::ENOMEM);
        }
        let vm = self.vm.lock();
        let mut at = addr;
        while at < end {
            match vm.find(at) {
                Some(v) => at = v.end,
                None => return Err(Errno::ENOMEM),
            }
        }
        Ok(end)
    }

    /// MADV_POPULATE_READ / MADV_POPULATE_WRITE: every page of the range is
    /// mapped (ENOMEM), readable and, for `write`, writable, and not the vDSO's
    /// data page (EINVAL, as Linux for PROT_NONE, read-only and VM_IO areas);
    /// then each page is faulted in as an access would, a megabyte between
    /// yields. Returns the end of the range.
    pub async fn populate_checked(&self, addr: u64, len: u64, write: bool) -> KResult<u64> {
        let end = self.check_mapped(addr, len)?;
        {
            let vm = self.vm.lock();
            let mut at = addr;
            while at < end {
                let v = vm.find(at).ok_or(Errno::ENOMEM)?;
                let readable = v.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0;
                if !readable
                    || v.kind == VmaKind::Vvar
                    || (write && (v.prot & PROT_WRITE == 0 || v.no_write))
                {
                    return Err(Errno::EINVAL);
                }
                at = v.end;
            }
        }
        let access = if write { Access::Write } else { Access::Read };
        let mut page = addr;
        let mut done = 0u32;
        while page < end {
            let r = self.vm.lock().populate(page, access, false);
            match r {
                Ok(()) => page += PAGE,
                // A file page from the disk, or a userfaultfd's answer: wait
                // for it and fault again (EINTR if a signal comes first).
                Err(FaultError::NotLoaded(load)) => load
                    .load()
                    .await
                    .map_err(|e| if e == Errno::EINTR { e } else { Errno::EFAULT })?,
                Err(FaultError::UserFault(u)) => u.wait_current().await?,
                Err(FaultError::OutOfMemory) => return Err(Errno::ENOMEM),
                // Unmapped or changed meanwhile.
                Err(FaultError::Unmapped) => return Err(Errno::ENOMEM),
                Err(FaultError::Protection) => return Err(Errno::EINVAL),
                // What would be SIGBUS (past the end of the file, no page).
                Err(FaultError::PastEndOfFile | FaultError::NoPage) => {
                    return Err(Errno::EFAULT);
                }
            }
            done += 1;
            if done.is_multiple_of(256) {
                kestrel_executor::yield_now().await;
            }
        }
        Ok(end)
    }

    /// The files that MAP_SHARED mappings in `addr..addr + len` map (each once;
    /// the caller checked the range is mapped): what msync(MS_SYNC) writes back.
    /// The file ranges the file mappings in `[addr, addr + len)` show:
    /// (file, offset, length) for each area's part in the range
    /// (madvise(MADV_WILLNEED) loads them).
    pub fn file_ranges(&self, addr: u64, len: u64) -> Vec<(InodeRef, u64, u64)> {
        let end = addr.saturating_add(len);
        let vm = self.vm.lock();
        let mut out = Vec::new();
        for v in vm.vmas.values() {
            if v.end <= addr || v.start >= end {
                continue;
            }
            if let Backing::File { inode, offset, .. } | Backing::SharedFile { inode, offset, .. } =
                &v.backing
            {
                let from = v.start.max(addr);
                let to = v.end.min(end);
                out.push((inode.clone(), offset + (from - v.start), to - from));
            }
        }
        out
    }

    pub fn shared_files(&self, addr: u64, len: u64) -> Vec<InodeRef> {
        let end = addr.saturating_add(len);
        let vm = self.vm.lock();
        let mut out: Vec<InodeRef> = Vec::new();
        let mut at = addr;
        while at < end {
            let Some(v) = vm.find(at) else { break };
            if let Backing::SharedFile { inode, .. } = &v.backing
                && !out.iter().any(|i| Arc::ptr_eq(i, inode))
            {
                out.push(inode.clone());
            }
            at = v.end;
        }
        out
    }

    /// mincore(2)'s answer for `out.len()` pages from `addr` (which the caller has
    /// checked are mapped): 1 for each resident page. A file page is resident when
    /// the file holds it in memory (ramfs: every page; ext2: loaded pages).
    pub fn residency(&self, addr: u64, out: &mut [u8]) {
        let vm = self.vm.lock();
        for (i, r) in out.iter_mut().enumerate() {
            let page = addr + i as u64 * PAGE;
            let present = vm.table.translate(page).is_some();
            let file_page = vm.find(page).is_some_and(|v| match &v.backing {
                Backing::File { inode, offset, .. } | Backing::SharedFile { inode, offset, .. } => {
                    let at = offset + (page - v.start);
                    at < inode.metadata().size && inode.page_cached(at / PAGE)
                }
                _ => false,
            });
            *r = u8::from(present || file_page);
        }
    }

    /// Resolves a fault at `addr`: fills the page, breaks copy-on-write, grows the
    /// stack, or says which signal the thread gets, or which file pages must be
    /// loaded first ([`FaultError::NotLoaded`]: the caller awaits the load and
    /// faults again).
    pub fn fault(&self, addr: u64, access: Access) -> Result<(), FaultError> {
        if !kestrel_usermem::is_user_address(addr) {
            return Err(FaultError::Unmapped);
        }
        self.vm.lock().populate(page_down(addr), access, false)
    }

    /// [`AddressSpace::fault`] for a fault of the program's own access (user
    /// mode), which a userfaultfd with UFFD_USER_MODE_ONLY handles too.
    pub fn fault_user(&self, addr: u64, access: Access) -> Result<(), FaultError> {
        if !kestrel_usermem::is_user_address(addr) {
            return Err(FaultError::Unmapped);
        }
        self.vm
            .lock()
            .populate_as(page_down(addr), access, false, true)
    }

    /// Sets the start of the heap (after the executable's last segment).
    pub fn init_brk(&self, at: u64) {
        let mut vm = self.vm.lock();
        vm.brk_start = at;
        vm.brk = at;
    }

    /// brk(2): moves the end of the heap; returns the (possibly unchanged) break.
    pub fn brk(&self, new: u64) -> u64 {
        let mut vm = self.vm.lock();
        let (start, old) = (vm.brk_start, vm.brk);
        if new < start || new >= USER_END {
            return old;
        }
        let (Some(old_end), Some(new_end)) = (page_up(old), page_up(new)) else {
            return old;
        };
        if new_end > old_end {
            // RLIMIT_DATA bounds the heap (check_data_rlimit), RLIMIT_AS everything.
            if new - start > vm.limits.data || vm.may_expand(new_end - old_end, true, 0, 0).is_err()
            {
                return old;
            }
            if vm.overlaps(old_end, new_end) {
                return old;
            }
            let lock_future = vm.lock_future;
            match vm
                .vmas
                .iter_mut()
                // A heap area registered with a userfaultfd is not extended
                // (Linux does not merge the new part into it): a new one follows.
                .find(|(_, v)| v.kind == VmaKind::Heap && v.end == old_end && v.uffd.is_none())
            {
                Some((_, heap)) => heap.end = new_end,
                None => {
                    vm.vmas.insert(
                        old_end,
                        Vma {
                            start: old_end,
                            end: new_end,
                            prot: PROT_READ | PROT_WRITE,
                            backing: Backing::Anonymous,
                            kind: VmaKind::Heap,
                            name: None,
                            locked: lock_future,
                            no_write: false,
                            no_exec: false,
                            on_fork: OnFork::Copy,
                            pkey: 0,
                            dont_dump: false,
                            sealed: false,
                            uffd: None,
                            policy: None,
                        },
                    );
                }
            }
        } else if new_end < old_end {
            if vm.any_sealed(new_end, old_end) {
                return old;
            }
            vm.remove_range(new_end, old_end);
        }
        vm.brk = new;
        new
    }

    /// fork: a copy of this address space, private pages shared copy-on-write.
    pub fn fork(&self) -> KResult<Arc<Self>> {
        let child = AddressSpace::new()?;
        child.pkeys.store(
            self.pkeys.load(core::sync::atomic::Ordering::Acquire),
            core::sync::atomic::Ordering::Release,
        );
        {
            let mut vm = self.vm.lock();
            let private_huge: Vec<Vma> = vm
                .vmas
                .values()
                .filter(|v| v.huge() && !v.shared() && v.on_fork == OnFork::Copy)
                .cloned()
                .collect();
            for v in &private_huge {
                vm.fill_huge(v);
            }
            let mut cvm = child.vm.lock();
            cvm.brk_start = vm.brk_start;
            cvm.brk = vm.brk;
            cvm.limits = vm.limits;
            let areas: Vec<Vma> = vm.vmas.values().cloned().collect();
            let mut forked = Vec::new();
            for mut v in areas {
                // Memory locks are not inherited by a child (mlock(2)), nor a
                // userfaultfd registration (without UFFD_FEATURE_EVENT_FORK).
                v.locked = false;
                v.uffd = uffd::fork_registration(v.uffd.take(), &child, &mut forked);
                match v.on_fork {
                    OnFork::Skip => continue,
                    OnFork::Wipe => {
                        // Fresh zero pages; the setting stays for its children.
                        v.backing = Backing::Anonymous;
                        cvm.vmas.insert(v.start, v);
                        continue;
                    }
                    OnFork::Copy => {}
                }
                if !v.shared() {
                    let mut failed = false;
                    let ctable = cvm.table;
                    vm.table.for_each_pte(v.start, v.end, &mut |va, pte| {
                        if failed {
                            return;
                        }
                        // Both sides map the frame read-only and COW.
                        let pa = *pte & ADDR_MASK;
                        let mut bits = *pte & !ADDR_MASK;
                        if bits & PteFlags::PRESENT.bits() != 0 {
                            bits = (bits & !PteFlags::WRITABLE.bits()) | PteFlags::COW.bits();
                        } else {
                            bits |= PteFlags::COW.bits();
                        }
                        match ctable.pte_create(va) {
                            Ok(cpte) => {
                                *pte = pa | bits;
                                cpte.set(pa | bits);
                                // A file's own page is held by the area (whose
                                // `held` the child's copy shares), not counted.
                                if bits & PteFlags::SHARED.bits() == 0 {
                                    get_page(pa);
                                }
                            }
                            Err(_) => failed = true,
                        }
                    });
                    if failed {
                        return Err(Errno::ENOMEM);
                    }
                }
                cvm.vmas.insert(v.start, v);
            }
            uffd::note_forked(&child, forked);
        }
        // The parent's writable entries became read-only: flush them all, here and
        // on the CPUs running the parent's other threads.
        // SAFETY: reloading CR3 with the active root only flushes the TLB.
        unsafe { cpu::write_cr3(cpu::read_cr3()) };
        tlb::shootdown(self.root, false);
        Ok(child)
    }

    /// The futex key of the word at `uaddr` (Linux's get_futex_key): the address
    /// space and address for private memory or a PRIVATE operation; the shared object
    /// and offset for shared memory. EFAULT for an address outside user space, or one
    /// no area covers for a shared operation.
    pub fn futex_key(&self, uaddr: UserPtr<u32>, private_op: bool) -> KResult<crate::futex::Key> {
        let addr = UserRange::new(uaddr.addr(), 4)?.start();
        if private_op {
            return Ok((self.root, addr));
        }
        let vm = self.vm.lock();
        let vma = vm.find(addr).ok_or(Errno::EFAULT)?;
        Ok(match &vma.backing {
            Backing::SharedAnonymous { pages, offset, .. } => {
                (Arc::as_ptr(pages) as u64, offset + (addr - vma.start))
            }
            // The file itself and the offset in it: two mappings of one file meet.
            Backing::SharedFile { inode, offset, .. } => (
                Arc::as_ptr(inode) as *const () as u64,
                offset + (addr - vma.start),
            ),
            _ => (self.root, addr),
        })
    }

    /// Writes into this address space while it may not be the active one (building a
    /// new program's stack), allocating pages as needed, ignoring protections.
    pub fn write_remote(&self, addr: u64, data: &[u8]) -> KResult<()> {
        let addr = UserRange::new(addr, data.len())?.start();
        let mut vm = self.vm.lock();
        let mut done = 0;
        while done < data.len() {
            let at = addr + done as u64;
            let page = page_down(at);
            vm.populate(page, Access::Write, true)
                .map_err(|_| Errno::EFAULT)?;
            let (pa, _) = vm.table.translate(at).ok_or(Errno::EFAULT)?;
            let n = ((page + PAGE - at) as usize).min(data.len() - done);
            // SAFETY: `pa` is the frame now mapped at `at` in this address space, private
            // to it (populate broke any sharing), reached through the direct map.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    data[done..].as_ptr(),
                    phys_to_virt(pa) as *mut u8,
                    n,
                )
            };
            done += n;
        }
        Ok(())
    }

    /// Reads another address space's memory (procfs's cmdline and environ, as
    /// Linux's access_remote_vm): pages are faulted in for reading; stops at the
    /// first address that cannot be read and returns how many bytes it copied.
    pub fn read_remote(&self, addr: u64, buf: &mut [u8]) -> usize {
        if UserRange::new(addr, buf.len()).is_err() {
            return 0;
        }
        let mut vm = self.vm.lock();
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let page = page_down(at);
            if let Err(e) = vm.populate(page, Access::Read, true) {
                note_pending_load(e);
                break;
            }
            let Some((pa, _)) = vm.table.translate(at) else {
                break;
            };
            let n = ((page + PAGE - at) as usize).min(buf.len() - done);
            // SAFETY: `pa` is a frame mapped at `at` in this address space, kept alive
            // by the lock we hold, read through the direct map.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    phys_to_virt(pa) as *const u8,
                    buf[done..].as_mut_ptr(),
                    n,
                )
            };
            done += n;
        }
        done
    }

    /// Reads (`write` false) or writes `buf` at `addr` in this address space as
    /// its own threads could (process_vm_readv and process_vm_writev): pages are
    /// faulted in as the areas' protections allow. Returns the bytes moved,
    /// stopping at the first address that cannot be reached.
    pub fn access_checked(&self, addr: u64, buf: &mut [u8], write: bool) -> usize {
        if buf.is_empty() || UserRange::new(addr, buf.len()).is_err() {
            return 0;
        }
        let access = if write { Access::Write } else { Access::Read };
        let mut vm = self.vm.lock();
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let page = page_down(at);
            if let Err(e) = vm.populate(page, access, false) {
                note_pending_load(e);
                break;
            }
            let Some((pa, _)) = vm.table.translate(at) else {
                break;
            };
            let n = ((page + PAGE - at) as usize).min(buf.len() - done);
            // SAFETY: `pa` is the frame mapped at `at` in this address space (its
            // own copy when writing: populate broke any copy-on-write sharing),
            // kept alive by the lock we hold, reached through the direct map.
            unsafe {
                let p = phys_to_virt(pa) as *mut u8;
                if write {
                    core::ptr::copy_nonoverlapping(buf[done..].as_ptr(), p, n);
                } else {
                    core::ptr::copy_nonoverlapping(p as *const u8, buf[done..].as_mut_ptr(), n);
                }
            }
            done += n;
        }
        done
    }

    /// Reads (`write` false) or writes `buf` at `addr` in this address space
    /// whatever its protections, as a debugger does (ptrace's PEEK and POKE,
    /// /proc/PID/mem; Linux's access_remote_vm with FOLL_FORCE). A write to a
    /// private page gives the page its own copy first (a breakpoint reaches
    /// neither the file nor a forked relative); a shared mapping the process may
    /// not write is refused. The pages keep their protections. Returns the bytes
    /// moved, stopping at the first page that cannot be reached.
    pub fn access_forced(&self, addr: u64, buf: &mut [u8], write: bool) -> usize {
        if buf.is_empty() || UserRange::new(addr, buf.len()).is_err() {
            return 0;
        }
        let mut vm = self.vm.lock();
        let mut done = 0;
        let mut changed = false;
        while done < buf.len() {
            let at = addr + done as u64;
            let page = page_down(at);
            let Some(vma) = vm.find(page).cloned() else {
                break;
            };
            if write && vma.shared() && vma.prot & PROT_WRITE == 0 {
                break;
            }
            let access = if write { Access::Write } else { Access::Read };
            if let Err(e) = vm.populate(page, access, true) {
                note_pending_load(e);
                break;
            }
            // populate gave us read and write access; the area's own comes back.
            let Ok(pte) = vm.table.pte_create(page) else {
                break;
            };
            let old = pte.get();
            let pa = old & ADDR_MASK;
            let cow = old & PteFlags::COW.bits() != 0;
            let keep = old & (PteFlags::COW | PteFlags::SHARED).bits();
            pte.set(if vma.prot == PROT_NONE {
                pa | PROT_NONE_BIT | keep
            } else {
                pa | keep | pte_flags(vma.prot, cow).bits() | pkey_bits(vma.pkey)
            });
            flush(page);
            changed = true;
            let n = ((page + PAGE - at) as usize).min(buf.len() - done);
            let frame = phys_to_virt(pa) as *mut u8;
            // SAFETY: `pa` is the frame mapped at `page` in this address space (a
            // private copy when writing: populate broke any sharing), kept alive by
            // the lock we hold, reached through the direct map; `at - page + n`
            // stays within the page.
            unsafe {
                let p = frame.add((at - page) as usize);
                if write {
                    core::ptr::copy_nonoverlapping(buf[done..].as_ptr(), p, n);
                } else {
                    core::ptr::copy_nonoverlapping(p, buf[done..].as_mut_ptr(), n);
                }
            }
            done += n;
        }
        if changed {
            vm.shootdown();
        }
        done
    }

    /// mlock(2) and munlock(2) of `[start, end)` (page-aligned by the caller):
    /// ENOMEM if part of it is not mapped, or if locking it would take the
    /// locked total past `limit` bytes (`None`: no limit, CAP_IPC_LOCK).
    /// Locking makes the pages present, unless `on_fault` (MLOCK_ONFAULT: the
    /// pages are locked as they are touched).
    pub fn mlock(
        &self,
        start: u64,
        end: u64,
        lock: bool,
        limit: Option<u64>,
        on_fault: bool,
    ) -> KResult<()> {
        if end > USER_END {
            return Err(Errno::ENOMEM);
        }
        let mut vm = self.vm.lock();
        let mut at = start;
        while at < end {
            match vm.find(at) {
                Some(v) => at = v.end,
                None => return Err(Errno::ENOMEM),
            }
        }
        if lock && let Some(limit) = limit {
            let now = vm.locked_in(0, u64::MAX);
            let more = (end - start) - vm.locked_in(start, end);
            if now.saturating_add(more) > limit {
                return Err(Errno::ENOMEM);
            }
        }
        vm.split_at(start);
        vm.split_at(end);
        for v in vm.vmas.range_mut(start..end).map(|(_, v)| v) {
            v.locked = lock;
        }
        if lock && !on_fault {
            vm.populate_range(start, end);
        }
        Ok(())
    }

    /// mlockall(2): locks every area now (`current`; ENOMEM past `limit` bytes)
    /// and, with `future`, every area mapped from now on. With `on_fault`
    /// (MCL_ONFAULT) the areas' pages are not made present now.
    pub fn mlockall(
        &self,
        current: bool,
        future: bool,
        limit: Option<u64>,
        on_fault: bool,
    ) -> KResult<()> {
        let mut vm = self.vm.lock();
        if current && let Some(limit) = limit {
            let (total, _) = vm.mapped_in(0, u64::MAX);
            if total > limit {
                return Err(Errno::ENOMEM);
            }
        }
        vm.lock_future = future;
        if current {
            for v in vm.vmas.values_mut() {
                v.locked = true;
            }
            if !on_fault {
                vm.populate_range(0, USER_END);
            }
        }
        Ok(())
    }

    /// munlockall(2): nothing is locked, now or later.
    pub fn munlockall(&self) {
        let mut vm = self.vm.lock();
        vm.lock_future = false;
        for v in vm.vmas.values_mut() {
            v.locked = false;
        }
    }

    /// Whether part of `[start, end)` is in a locked area.
    pub fn any_locked(&self, start: u64, end: u64) -> bool {
        self.vm.lock().locked_in(start, end) > 0
    }

    /// Bytes in locked areas (VmLck).
    pub fn locked_bytes(&self) -> u64 {
        self.vm.lock().locked_in(0, u64::MAX)
    }

    /// /proc/PID/pagemap entries for the pages from `addr`: bit 63 when the
    /// page is present, bit 61 when it is a file or shared page; no frame
    /// numbers (Linux shows them to CAP_SYS_ADMIN only).
    pub fn pagemap(&self, addr: u64, out: &mut [u64]) {
        let vm = self.vm.lock();
        for (i, e) in out.iter_mut().enumerate() {
            let page = addr.wrapping_add(i as u64 * PAGE);
            *e = 0;
            if vm.table.translate(page).is_none() {
                continue;
            }
            *e |= 1 << 63;
            if vm
                .find(page)
                .is_some_and(|v| !matches!(v.backing, Backing::Anonymous))
            {
                *e |= 1 << 61;
            }
        }
    }

    /// Pages present in `[start, end)` (an area's Rss in /proc/PID/smaps).
    pub fn resident_in(&self, start: u64, end: u64) -> u64 {
        let vm = self.vm.lock();
        let mut n = 0;
        vm.table.for_each_pte(start, end, &mut |_, pte| {
            if *pte & PteFlags::PRESENT.bits() != 0 {
                n += 1;
            }
        });
        n
    }

    /// Faults in every page of `range` (MAP_POPULATE), ignoring failures.
    pub fn populate(&self, range: UserRange, write: bool) {
        let mut vm = self.vm.lock();
        let mut page = page_down(range.start());
        while page < range.end() {
            let _ = vm.populate(
                page,
                if write { Access::Write } else { Access::Read },
                false,
            );
            page += PAGE;
        }
    }
}

/// A copy between the kernel and user memory (a system call's) found a file
/// page not in memory: it cannot wait for the disk there, so the current thread
/// remembers the load, and the system-call layer awaits it and runs the call
/// again if it failed with EFAULT ([`crate::syscall::dispatch`]).
pub fn note_pending_load(e: FaultError) {
    let load = match e {
        FaultError::NotLoaded(load) => load,
        FaultError::UserFault(u) => PageLoad::UserFault(u),
        _ => return,
    };
    if let Some(t) = crate::process::current_thread() {
        t.set_pending_load(load);
    }
}

/// The load a thread's system call is waiting to make ([`note_pending_load`]),
/// in the thread's rarely used part ([`crate::process::ThreadRare`], made the
/// first time a thread has one): almost always none, which the thread learns
/// without a lock (it is asked on every system call).
#[derive(Default)]
pub struct PendingLoad {
    set: core::sync::atomic::AtomicBool,
    load: spin::Mutex<Option<PageLoad>>,
}

impl crate::process::Thread {
    /// Remembers `load` (the latest wins).
    pub fn set_pending_load(&self, load: PageLoad) {
        let p = &self.rare().pending_load;
        *p.load.lock() = Some(load);
        p.set.store(true, core::sync::atomic::Ordering::Release);
    }

    /// Whether a load is remembered (a load or two, no lock).
    #[inline]
    pub fn pending_load_is_set(&self) -> bool {
        self.rare_if_made().is_some_and(|r| {
            r.pending_load
                .set
                .load(core::sync::atomic::Ordering::Acquire)
        })
    }

    /// The load remembered, if any, and forgets it.
    #[inline]
    pub fn take_pending_load(&self) -> Option<PageLoad> {
        let p = &self.rare_if_made()?.pending_load;
        if !p.set.load(core::sync::atomic::Ordering::Acquire) {
            return None;
        }
        p.set.store(false, core::sync::atomic::Ordering::Relaxed);
        p.load.lock().take()
    }
}

/// Address spaces being torn down right now: their pages are on the way back to
/// the frame allocator (the OOM killer waits for them).
static TEARDOWNS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Whether some address space is being freed at this moment.
pub fn teardown_in_progress() -> bool {
    TEARDOWNS.load(core::sync::atomic::Ordering::Acquire) > 0
}

/// Counts a teardown for as long as it lives.
struct Teardown;

impl Teardown {
    fn begin() -> Self {
        TEARDOWNS.fetch_add(1, core::sync::atomic::Ordering::AcqRel);
        Teardown
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        TEARDOWNS.fetch_sub(1, core::sync::atomic::Ordering::AcqRel);
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        let _teardown = Teardown::begin();
        // No CPU may keep these tables loaded once they are freed: this one switches
        // to the kernel's, the others are told to (a CPU keeps the last user table
        // loaded while it runs kernel tasks).
        if cpu::read_cr3() & ADDR_MASK == self.root {
            // SAFETY: the kernel table maps the kernel.
            unsafe { super::paging::kernel_table().activate() };
        }
        tlb::shootdown(self.root, true);
        let vm = self.vm.get_mut();
        // Release each page as it is found: no allocation here, because an address
        // space is often torn down exactly when memory has run out (an OOM kill).
        // A file's own pages (SHARED) are held by their area's backing, not the PTE.
        vm.table.for_each_pte(0, USER_END, &mut |_, pte| {
            put_pte(*pte);
            *pte = 0;
        });
        vm.vmas.clear();
        PageTable::from_root(self.root).free_user_tables();
    }
}
