//! userfaultfd(2)'s side in the memory manager: registered areas, the faults
//! they hand to a handler thread, and the page operations that resolve them.
//!
//! An area registered with a userfaultfd ([`Vma::uffd`]) carries the context
//! ([`UffdCtx`]) and the modes: MISSING (a page with no entry), WP (a write to a
//! page UFFDIO_WRITEPROTECT protected: the software bit `UFFD_WP_BIT`, the
//! writable bit clear) and MINOR (shared anonymous memory: a page the object has
//! but this mapping has not mapped). Such a fault does not fill the page:
//! [`Vm::populate`] answers [`FaultError::UserFault`], and the faulting thread
//! waits ([`UserFault::wait`]) as a parked future on the context's queue until
//! an ioctl resolves the page and wakes it (or the file is closed, or a signal
//! comes), then faults again. Only the faulting thread waits: no lock is held
//! across the wait, and a handler that never answers keeps only that thread.
//!
//! A copy of the kernel's (a system call's buffer) that faults there notes the
//! wait as the thread's pending load (`note_pending_load`); the system-call
//! layer awaits it and goes on, as for a file page not in memory.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;

use super::{
    ADDR_MASK, Access, AddressSpace, Backing, FaultError, PAGE, PROT_NONE_BIT, PteFlags,
    SharedPages, UFFD_POISON_BIT, UFFD_WP_BIT, Vm, Vma, VmaKind, flush, get_page, new_page,
    new_page_with, pkey_bits, pte_flags, put_page,
};
use crate::mm::PAGE_SIZE;

/// UFFDIO_REGISTER's modes.
pub const MODE_MISSING: u64 = 1 << 0;
pub const MODE_WP: u64 = 1 << 1;
pub const MODE_MINOR: u64 = 1 << 2;
/// uffd_msg.arg.pagefault.flags.
pub const FLAG_WRITE: u64 = 1 << 0;
pub const FLAG_WP: u64 = 1 << 1;
pub const FLAG_MINOR: u64 = 1 << 2;
/// The features this module acts on.
pub const FEATURE_EVENT_FORK: u64 = 1 << 1;
pub const FEATURE_EVENT_REMAP: u64 = 1 << 2;
pub const FEATURE_EVENT_REMOVE: u64 = 1 << 3;
pub const FEATURE_EVENT_UNMAP: u64 = 1 << 6;
pub const FEATURE_SIGBUS: u64 = 1 << 7;
pub const FEATURE_THREAD_ID: u64 = 1 << 8;
/// Set in [`UffdCtx`]'s features once UFFDIO_API succeeded.
const INITIALIZED: u64 = 1 << 63;
/// uffd_msg.event.
const EVENT_PAGEFAULT: u8 = 0x12;
pub const EVENT_FORK: u8 = 0x13;
pub const EVENT_REMAP: u8 = 0x14;
pub const EVENT_REMOVE: u8 = 0x15;
pub const EVENT_UNMAP: u8 = 0x16;
/// sizeof(struct uffd_msg).
pub const MSG_SIZE: usize = 32;

/// One thread waiting for the handler.
struct Waiter {
    /// The faulting address (exact).
    addr: u64,
    flags: u64,
    tid: u32,
    /// Its message was read: no longer reported by read or poll.
    read: bool,
    /// Woken by an ioctl covering its page: it faults again.
    woken: bool,
}

/// A non-cooperative event (FORK, REMAP, REMOVE, UNMAP): its sender waits
/// until it is read.
struct Event {
    msg: [u8; MSG_SIZE],
    /// For FORK: the child's context, handed to the reader as a new descriptor.
    fork: Option<Arc<UffdCtx>>,
    read: bool,
}

#[derive(Default)]
struct State {
    next: u64,
    waiters: BTreeMap<u64, Waiter>,
    events: BTreeMap<u64, Event>,
    released: bool,
}

/// A userfaultfd's context: what Linux's struct userfaultfd_ctx holds.
pub struct UffdCtx {
    /// UFFD_USER_MODE_ONLY: only faults of user-mode accesses are handled; a
    /// copy of the kernel's there fails (EFAULT).
    pub user_mode_only: bool,
    /// userfaultfd(2)'s flags (O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY): a
    /// FORK event's new descriptor gets them too.
    pub flags: u32,
    /// The features UFFDIO_API enabled, with [`INITIALIZED`].
    features: AtomicU64,
    /// The address space it was made in (what its ioctls act on).
    mm: Weak<AddressSpace>,
    state: spin::Mutex<State>,
    /// Faulting threads wait here.
    faults: WaitQueue,
    /// Readers and pollers of the file wait here.
    pub readers: WaitQueue,
}

impl UffdCtx {
    /// A context for `mm`, made with userfaultfd(2)'s `flags` (bit 0:
    /// UFFD_USER_MODE_ONLY).
    pub fn new(mm: &Arc<AddressSpace>, flags: u32) -> Arc<Self> {
        Arc::new(Self {
            user_mode_only: flags & 1 != 0,
            flags,
            features: AtomicU64::new(0),
            mm: Arc::downgrade(mm),
            state: spin::Mutex::new(State::default()),
            faults: WaitQueue::new(),
            readers: WaitQueue::new(),
        })
    }

    /// Whether UFFDIO_API has succeeded.
    pub fn initialized(&self) -> bool {
        self.features.load(Ordering::Acquire) & INITIALIZED != 0
    }

    /// UFFDIO_API's features, once (false if they were set before).
    pub fn set_features(&self, features: u64) -> bool {
        let set = self
            .features
            .compare_exchange(
                0,
                features | INITIALIZED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if set && features & EVENTS != 0 {
            WITH_EVENTS.fetch_add(1, Ordering::AcqRel);
        }
        set
    }

    pub fn features(&self) -> u64 {
        self.features.load(Ordering::Acquire) & !INITIALIZED
    }

    /// The address space, while it lives (ESRCH after its last user left).
    pub fn mm(&self) -> KResult<Arc<AddressSpace>> {
        self.mm.upgrade().ok_or(Errno::ESRCH)
    }

    /// Whether a fault or event message is waiting to be read.
    pub fn readable(&self) -> bool {
        let st = self.state.lock();
        st.waiters.values().any(|w| !w.read && !w.woken) || st.events.values().any(|e| !e.read)
    }

    /// Fills `out` with as many unread messages as fit (whole `struct
    /// uffd_msg`s): faults, oldest first, then events. A FORK event's new
    /// userfaultfd is installed by `install` (its descriptor goes in the
    /// message; if it fails, the event stays unread and reading stops).
    /// Returns the bytes written.
    pub fn read_messages(
        &self,
        out: &mut [u8],
        install: &mut dyn FnMut(Arc<UffdCtx>) -> Option<u32>,
    ) -> usize {
        let n = self.read_faults(out);
        let mut n = n;
        let mut any = false;
        loop {
            if n + MSG_SIZE > out.len() {
                break;
            }
            // Claimed under the lock, so that two readers never both take it.
            let next = {
                let mut st = self.state.lock();
                st.events.iter_mut().find(|(_, e)| !e.read).map(|(&id, e)| {
                    e.read = true;
                    (id, e.msg, e.fork.take())
                })
            };
            let Some((id, mut msg, fork)) = next else {
                break;
            };
            if let Some(child) = fork {
                // Installed outside the lock (it takes the descriptor table's).
                let Some(fd) = install(child.clone()) else {
                    // Not delivered: the event is unread again (or, if its
                    // sender has gone meanwhile, the child's context goes).
                    let mut st = self.state.lock();
                    match st.events.get_mut(&id) {
                        Some(e) => {
                            e.read = false;
                            e.fork = Some(child);
                        }
                        None => {
                            drop(st);
                            child.release();
                        }
                    }
                    break;
                };
                msg[8..12].copy_from_slice(&fd.to_ne_bytes());
            }
            out[n..n + MSG_SIZE].copy_from_slice(&msg);
            n += MSG_SIZE;
            any = true;
        }
        if any {
            // The senders of the events read go on.
            self.faults.wake_all();
        }
        n
    }

    fn read_faults(&self, out: &mut [u8]) -> usize {
        let features = self.features();
        let mut st = self.state.lock();
        let mut n = 0;
        for w in st.waiters.values_mut() {
            if n + MSG_SIZE > out.len() {
                break;
            }
            if w.read || w.woken {
                continue;
            }
            w.read = true;
            let msg = &mut out[n..n + MSG_SIZE];
            msg.fill(0);
            msg[0] = EVENT_PAGEFAULT;
            // Faults are taken by page: the address is the page's (Linux's
            // without UFFD_FEATURE_EXACT_ADDRESS, which is not offered).
            let addr = w.addr & !(PAGE - 1);
            msg[8..16].copy_from_slice(&w.flags.to_ne_bytes());
            msg[16..24].copy_from_slice(&addr.to_ne_bytes());
            if features & FEATURE_THREAD_ID != 0 {
                msg[24..28].copy_from_slice(&w.tid.to_ne_bytes());
            }
            n += MSG_SIZE;
        }
        n
    }

    /// Wakes the threads waiting on a page of `[start, start + len)` (they
    /// fault again).
    pub fn wake_range(&self, start: u64, len: u64) {
        let end = start.saturating_add(len);
        let mut any = false;
        for w in self.state.lock().waiters.values_mut() {
            let page = w.addr & !(PAGE - 1);
            if page >= start && page < end {
                w.woken = true;
                any = true;
            }
        }
        if any {
            self.faults.wake_all();
        }
    }

    /// The file's last reference is gone: the areas leave it and every waiting
    /// thread faults again (now as on an unregistered area).
    pub fn release(self: &Arc<Self>) {
        if let Some(mm) = self.mm.upgrade() {
            mm.uffd_release(self);
        }
        let children: Vec<Arc<UffdCtx>> = {
            let mut st = self.state.lock();
            st.released = true;
            st.events
                .values_mut()
                .filter_map(|e| e.fork.take())
                .collect()
        };
        // A FORK event never read: its child's areas leave the child context.
        for c in children {
            c.release();
        }
        self.faults.wake_all();
        self.readers.wake_all();
    }

    /// Sends a non-cooperative event and waits until a reader took it (or the
    /// file is closed); the caller's system call stays killable.
    pub async fn notify(&self, msg: [u8; MSG_SIZE], fork: Option<Arc<UffdCtx>>) {
        let id = {
            let mut st = self.state.lock();
            if st.released {
                drop(st);
                if let Some(c) = fork {
                    c.release();
                }
                return;
            }
            let id = st.next;
            st.next += 1;
            st.events.insert(
                id,
                Event {
                    msg,
                    fork,
                    read: false,
                },
            );
            id
        };
        self.readers.wake_all();
        /// Takes the event out however the wait ends (read, close, kill).
        struct Remove<'a>(&'a UffdCtx, u64);
        impl Drop for Remove<'_> {
            fn drop(&mut self) {
                let left = self.0.state.lock().events.remove(&self.1);
                if let Some(c) = left.and_then(|e| e.fork) {
                    c.release();
                }
            }
        }
        let _remove = Remove(self, id);
        self.faults
            .wait_until(|| {
                let st = self.state.lock();
                (st.released || st.events.get(&id).is_none_or(|e| e.read)).then_some(())
            })
            .await;
    }

    /// A message of `event` with the words `args` (after the 8-byte header).
    pub fn message(event: u8, args: &[u64]) -> [u8; MSG_SIZE] {
        let mut msg = [0; MSG_SIZE];
        msg[0] = event;
        for (i, a) in args.iter().take(3).enumerate() {
            msg[8 + 8 * i..16 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        msg
    }

    fn enqueue(&self, addr: u64, flags: u64, tid: u32) -> u64 {
        let id = {
            let mut st = self.state.lock();
            let id = st.next;
            st.next += 1;
            st.waiters.insert(
                id,
                Waiter {
                    addr,
                    flags,
                    tid,
                    read: false,
                    woken: false,
                },
            );
            id
        };
        self.readers.wake_all();
        id
    }

    fn done(&self, id: u64) -> bool {
        let st = self.state.lock();
        st.released || st.waiters.get(&id).is_none_or(|w| w.woken)
    }

    fn leave(&self, id: u64) {
        self.state.lock().waiters.remove(&id);
    }
}

/// Children whose areas fork registered with new contexts
/// (UFFD_FEATURE_EVENT_FORK): (child, parent's context, child's context), until
/// the forking call sends the events ([`take_forked`]).
#[allow(clippy::type_complexity)]
static FORKED: spin::Mutex<Vec<(Weak<AddressSpace>, Arc<UffdCtx>, Arc<UffdCtx>)>> =
    spin::Mutex::new(Vec::new());

/// What fork makes of an area's registration in the child `child`: none,
/// unless the userfaultfd has UFFD_FEATURE_EVENT_FORK; then the child's own
/// context (one per parent context, in `made`), with the same flags and
/// features.
pub(super) fn fork_registration(
    reg: Option<UffdReg>,
    child: &Arc<AddressSpace>,
    made: &mut Vec<(Arc<UffdCtx>, Arc<UffdCtx>)>,
) -> Option<UffdReg> {
    let reg = reg?;
    if reg.ctx.features() & FEATURE_EVENT_FORK == 0 {
        return None;
    }
    let ctx = match made.iter().find(|(p, _)| Arc::ptr_eq(p, &reg.ctx)) {
        Some((_, c)) => c.clone(),
        None => {
            let c = UffdCtx::new(child, reg.ctx.flags);
            c.set_features(reg.ctx.features());
            made.push((reg.ctx.clone(), c.clone()));
            c
        }
    };
    Some(UffdReg {
        ctx,
        mode: reg.mode,
    })
}

/// Records the contexts fork made for `child` ([`fork_registration`]).
pub(super) fn note_forked(child: &Arc<AddressSpace>, made: Vec<(Arc<UffdCtx>, Arc<UffdCtx>)>) {
    if made.is_empty() {
        return;
    }
    let mut forked = FORKED.lock();
    // Children that died before their events were sent.
    forked.retain(|(c, _, _)| c.strong_count() > 0);
    for (p, c) in made {
        forked.push((Arc::downgrade(child), p, c));
    }
}

/// The (parent's, child's) contexts fork made for `child`, taken.
pub fn take_forked(child: &Arc<AddressSpace>) -> Vec<(Arc<UffdCtx>, Arc<UffdCtx>)> {
    if !events_wanted() {
        return Vec::new();
    }
    let mut forked = FORKED.lock();
    if forked.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    forked.retain(|(c, p, k)| {
        if core::ptr::eq(c.as_ptr(), Arc::as_ptr(child)) {
            out.push((p.clone(), k.clone()));
            false
        } else {
            true
        }
    });
    out
}

/// The features that make munmap, mremap, madvise, mmap and fork send events.
const EVENTS: u64 =
    FEATURE_EVENT_FORK | FEATURE_EVENT_REMAP | FEATURE_EVENT_REMOVE | FEATURE_EVENT_UNMAP;

/// Contexts with an event feature: while there are none (the usual case),
/// munmap and friends need not look for whom to tell.
static WITH_EVENTS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Whether some userfaultfd asked for events.
pub fn events_wanted() -> bool {
    WITH_EVENTS.load(Ordering::Acquire) > 0
}

impl Drop for UffdCtx {
    fn drop(&mut self) {
        if self.features() & EVENTS != 0 {
            WITH_EVENTS.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// An area's registration.
#[derive(Clone)]
pub struct UffdReg {
    pub ctx: Arc<UffdCtx>,
    /// MODE_* bits.
    pub mode: u64,
}

/// A fault the handler of a userfaultfd must resolve.
#[derive(Clone)]
pub struct UserFault {
    ctx: Arc<UffdCtx>,
    /// The faulting address.
    pub addr: u64,
    flags: u64,
    access: Access,
    user: bool,
}

impl core::fmt::Debug for UserFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "UserFault({:#x}, flags {:#x})", self.addr, self.flags)
    }
}

/// Removes a waiter however its wait ends (resolved, signal, kill).
struct Leave<'a>(&'a UffdCtx, u64);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

impl UserFault {
    /// Queues the fault's message and waits until an ioctl resolves its page,
    /// the file is closed, or the page no longer needs the handler. The caller
    /// faults again afterwards. `tid` is the faulting thread's (for
    /// UFFD_FEATURE_THREAD_ID).
    pub async fn wait(&self, tid: u32) {
        let id = self.ctx.enqueue(self.addr, self.flags, tid);
        let _leave = Leave(&self.ctx, id);
        // The page may have been resolved between the fault and the queueing:
        // then no wake-up will come for it.
        if !self.still_blocked() {
            return;
        }
        let ctx = &self.ctx;
        ctx.faults.wait_until(|| ctx.done(id).then_some(())).await;
    }

    /// [`UserFault::wait`] in the current thread, ended by a signal (EINTR) or
    /// by the thread being killed.
    pub async fn wait_current(&self) -> KResult<()> {
        let Some(t) = crate::process::current_thread() else {
            return Err(Errno::EFAULT);
        };
        let tid = t.tid();
        crate::process::signal::interruptible(&t, Errno::EINTR, async {
            alloc::boxed::Box::pin(self.wait(tid)).await;
            Ok(())
        })
        .await
    }

    /// Whether the fault would still be handed to this context.
    fn still_blocked(&self) -> bool {
        let Ok(mm) = self.ctx.mm() else {
            return false;
        };
        let vm = mm.vm.lock();
        let page = self.addr & !(PAGE - 1);
        let Some(vma) = vm.find(page) else {
            return false;
        };
        let Some(reg) = &vma.uffd else {
            return false;
        };
        if !Arc::ptr_eq(&reg.ctx, &self.ctx) {
            return false;
        }
        let old = raw_pte(&vm, page);
        matches!(
            must_wait(reg, vma, page, old, self.access, self.user),
            Some(FaultError::UserFault(_))
        )
    }
}

/// The entry at `page` as it is (0 for none).
fn raw_pte(vm: &Vm, page: u64) -> u64 {
    let mut v = 0;
    vm.table
        .for_each_pte(page, page + PAGE, &mut |_, pte| v = *pte);
    v
}

/// Whether the object of a shared anonymous area has page `index`.
fn object_has(pages: &SharedPages, index: u64) -> bool {
    pages.pages.lock().contains_key(&index)
}

/// What a fault at `page` of the registered area `vma` (entry `old`) becomes:
/// `None` when the userfaultfd does not handle it (the fault goes on as usual),
/// else the wait, or the error the context asks for instead (SIGBUS with
/// UFFD_FEATURE_SIGBUS; an unreachable page for a kernel copy with
/// UFFD_USER_MODE_ONLY).
pub(super) fn must_wait(
    reg: &UffdReg,
    vma: &Vma,
    page: u64,
    old: u64,
    access: Access,
    user: bool,
) -> Option<FaultError> {
    let mut flags = 0;
    if old & PteFlags::PRESENT.bits() != 0 {
        if access == Access::Write && reg.mode & MODE_WP != 0 && old & UFFD_WP_BIT != 0 {
            flags |= FLAG_WP;
        } else {
            return None;
        }
    } else if old != 0 {
        return None;
    } else {
        match &vma.backing {
            Backing::Anonymous if reg.mode & MODE_MISSING != 0 => {}
            Backing::SharedAnonymous { pages, offset, .. } => {
                let index = (offset + (page - vma.start)) / PAGE;
                if object_has(pages, index) {
                    if reg.mode & MODE_MINOR == 0 {
                        return None;
                    }
                    flags |= FLAG_MINOR;
                } else if reg.mode & MODE_MISSING == 0 {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if access == Access::Write {
        flags |= FLAG_WRITE;
    }
    if reg.ctx.features() & FEATURE_SIGBUS != 0 {
        return Some(FaultError::NoPage);
    }
    if reg.ctx.user_mode_only && !user {
        return Some(FaultError::Unmapped);
    }
    Some(FaultError::UserFault(UserFault {
        ctx: reg.ctx.clone(),
        addr: page,
        flags,
        access,
        user,
    }))
}

/// Whether an area may be registered with `mode` (Linux's vma_can_userfault):
/// private anonymous memory for MISSING and WP, shared anonymous memory for
/// MISSING and MINOR; nothing else here (file mappings, the vDSO, huge page
/// areas, whose pages all exist from mmap on).
fn can_userfault(v: &Vma, mode: u64) -> bool {
    if matches!(v.kind, VmaKind::Vdso | VmaKind::Vvar) || v.huge() {
        return false;
    }
    match v.backing {
        Backing::Anonymous => mode & MODE_MINOR == 0,
        Backing::SharedAnonymous { .. } => mode & MODE_WP == 0,
        _ => false,
    }
}

/// How UFFDIO_COPY, ZEROPAGE, POISON and CONTINUE fill a page.
pub enum Fill<'a> {
    /// The page's new content (UFFDIO_COPY), write-protected with `wp`.
    Copy(&'a [u8], bool),
    Zero,
    Poison,
    /// Maps the shared object's page (UFFDIO_CONTINUE), write-protected with `wp`.
    Continue(bool),
}

impl Vm {
    /// Clears the userfaultfd write protection of the entries in `[start, end)`
    /// of area `v`, giving back the access the area allows.
    fn uffd_clear_wp(&mut self, v: &Vma, start: u64, end: u64) {
        let (prot, pkey) = (v.prot, v.pkey);
        self.table.for_each_pte(start, end, &mut |va, pte| {
            if *pte & UFFD_WP_BIT == 0 {
                return;
            }
            let old = *pte & !UFFD_WP_BIT;
            let pa = old & ADDR_MASK;
            let cow = old & PteFlags::COW.bits() != 0;
            let keep = old & (PteFlags::COW | PteFlags::SHARED).bits();
            *pte = if old & PteFlags::PRESENT.bits() == 0 {
                old
            } else {
                pa | keep | pte_flags(prot, cow).bits() | pkey_bits(pkey)
            };
            flush(va);
        });
        self.shootdown();
    }

    /// The flags of a page UFFDIO_COPY, ZEROPAGE or CONTINUE maps in `v`.
    fn uffd_pte_bits(v: &Vma, wp: bool) -> u64 {
        if v.prot == kestrel_abi::mm::PROT_NONE {
            return PROT_NONE_BIT | pkey_bits(v.pkey);
        }
        let mut bits = pte_flags(v.prot, false).bits() | pkey_bits(v.pkey);
        if wp {
            bits = (bits & !PteFlags::WRITABLE.bits()) | UFFD_WP_BIT;
        }
        bits
    }
}

impl AddressSpace {
    /// UFFDIO_REGISTER of `[start, end)` (page-aligned, checked) with `mode`:
    /// EINVAL if no area is there (holes between areas are fine) or for an area
    /// that cannot be registered so, EBUSY for one another userfaultfd has; else the areas (split at the
    /// ends) take the registration (a new mode replaces an old one).
    pub fn uffd_register(
        &self,
        ctx: &Arc<UffdCtx>,
        start: u64,
        end: u64,
        mode: u64,
    ) -> KResult<()> {
        let mut vm = self.vm.lock();
        if !vm.overlaps(start, end) {
            return Err(Errno::EINVAL);
        }
        let keys: Vec<u64> = vm
            .vmas
            .range(..end)
            .filter(|(_, v)| v.end > start)
            .map(|(&k, _)| k)
            .collect();
        for k in &keys {
            let v = &vm.vmas[k];
            if !can_userfault(v, mode) || v.no_write {
                return Err(Errno::EINVAL);
            }
            if let Some(r) = &v.uffd
                && !Arc::ptr_eq(&r.ctx, ctx)
            {
                return Err(Errno::EBUSY);
            }
        }
        vm.split_at(start);
        vm.split_at(end);
        let mut cleared = Vec::new();
        for v in vm.vmas.range_mut(start..end).map(|(_, v)| v) {
            if let Some(old) = &v.uffd
                && old.mode & MODE_WP != 0
                && mode & MODE_WP == 0
            {
                cleared.push(v.clone());
            }
            v.uffd = Some(UffdReg {
                ctx: ctx.clone(),
                mode,
            });
        }
        for v in cleared {
            vm.uffd_clear_wp(&v, v.start, v.end);
        }
        Ok(())
    }

    /// UFFDIO_UNREGISTER of `[start, end)`: EINVAL if no area is there or for
    /// an area that could never be registered; the registered areas leave
    /// their userfaultfd (their write protection goes). Returns the contexts
    /// they left, whose waiters in the range the caller wakes.
    pub fn uffd_unregister(&self, start: u64, end: u64) -> KResult<Vec<Arc<UffdCtx>>> {
        let mut vm = self.vm.lock();
        if !vm.overlaps(start, end) {
            return Err(Errno::EINVAL);
        }
        if vm
            .vmas
            .range(..end)
            .filter(|(_, v)| v.end > start)
            .any(|(_, v)| !can_userfault(v, 0))
        {
            return Err(Errno::EINVAL);
        }
        if vm.find(start).is_some_and(|v| v.uffd.is_some()) {
            vm.split_at(start);
        }
        if vm.find(end).is_some_and(|v| v.uffd.is_some()) {
            vm.split_at(end);
        }
        let mut ctxs: Vec<Arc<UffdCtx>> = Vec::new();
        let mut cleared = Vec::new();
        for v in vm.vmas.range_mut(start..end).map(|(_, v)| v) {
            if let Some(r) = v.uffd.take() {
                if r.mode & MODE_WP != 0 {
                    cleared.push(v.clone());
                }
                if !ctxs.iter().any(|c| Arc::ptr_eq(c, &r.ctx)) {
                    ctxs.push(r.ctx);
                }
            }
        }
        for v in cleared {
            vm.uffd_clear_wp(&v, v.start, v.end);
        }
        Ok(ctxs)
    }

    /// The userfaultfds with `feature` that areas in `[start, end)` are
    /// registered with (each once): who hears of an unmap, remap or remove there.
    pub fn uffd_watchers(&self, start: u64, end: u64, feature: u64) -> Vec<Arc<UffdCtx>> {
        if !events_wanted() {
            return Vec::new();
        }
        let vm = self.vm.lock();
        let mut out: Vec<Arc<UffdCtx>> = Vec::new();
        for (_, v) in vm.vmas.range(..end).filter(|(_, v)| v.end > start) {
            if let Some(r) = &v.uffd
                && r.ctx.features() & feature != 0
                && !out.iter().any(|c| Arc::ptr_eq(c, &r.ctx))
            {
                out.push(r.ctx.clone());
            }
        }
        out
    }

    /// Every area registered with `ctx` leaves it (the file was closed).
    fn uffd_release(&self, ctx: &Arc<UffdCtx>) {
        let mut vm = self.vm.lock();
        let mut cleared = Vec::new();
        for v in vm.vmas.values_mut() {
            if v.uffd.as_ref().is_some_and(|r| Arc::ptr_eq(&r.ctx, ctx)) {
                let r = v.uffd.take().expect("checked above");
                if r.mode & MODE_WP != 0 {
                    cleared.push(v.clone());
                }
            }
        }
        for v in cleared {
            vm.uffd_clear_wp(&v, v.start, v.end);
        }
    }

    /// The checks of UFFDIO_COPY, ZEROPAGE, POISON and CONTINUE on the
    /// destination `[start, start + len)` (Linux's mfill_atomic): ENOENT unless
    /// one registered area holds it all; EINVAL for a write-protected fill of an
    /// area not registered for WP, or CONTINUE outside shared memory.
    pub fn uffd_fill_check(&self, start: u64, len: u64, wp: bool, cont: bool) -> KResult<()> {
        let vm = self.vm.lock();
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        let v = vm
            .find(start)
            .filter(|v| end <= v.end && v.uffd.is_some())
            .ok_or(Errno::ENOENT)?;
        let mode = v.uffd.as_ref().map_or(0, |r| r.mode);
        if wp && mode & MODE_WP == 0 {
            return Err(Errno::EINVAL);
        }
        if cont && !matches!(v.backing, Backing::SharedAnonymous { .. }) {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// Fills the page at `page` of a registered area as `fill` says: EEXIST if
    /// something is mapped there already (or, in shared memory, the object has
    /// the page: CONTINUE needs it, EFAULT without), ENOENT if the area is gone,
    /// ENOMEM without memory.
    pub fn uffd_fill(&self, page: u64, fill: Fill<'_>) -> KResult<()> {
        let vm = self.vm.lock();
        let v = vm
            .find(page)
            .filter(|v| v.uffd.is_some())
            .cloned()
            .ok_or(Errno::ENOENT)?;
        if raw_pte(&vm, page) != 0 {
            return Err(Errno::EEXIST);
        }
        let make = |data: Option<&[u8]>| match data {
            Some(d) => new_page_with(|buf| {
                buf.copy_from_slice(&d[..PAGE_SIZE]);
                PAGE_SIZE
            }),
            None => new_page(),
        };
        let entry = match (&fill, &v.backing) {
            (Fill::Poison, _) => UFFD_POISON_BIT | PteFlags::SHARED.bits(),
            (Fill::Continue(wp), Backing::SharedAnonymous { pages, offset, .. }) => {
                let index = (offset + (page - v.start)) / PAGE;
                let pa = *pages.pages.lock().get(&index).ok_or(Errno::EFAULT)?;
                get_page(pa);
                pa | Vm::uffd_pte_bits(&v, *wp)
            }
            (Fill::Continue(_), _) => return Err(Errno::EINVAL),
            (Fill::Copy(..) | Fill::Zero, Backing::SharedAnonymous { pages, offset, .. }) => {
                let index = (offset + (page - v.start)) / PAGE;
                let mut object = pages.pages.lock();
                if object.contains_key(&index) {
                    return Err(Errno::EEXIST);
                }
                let (data, wp) = match &fill {
                    Fill::Copy(d, wp) => (Some(*d), *wp),
                    _ => (None, false),
                };
                let pa = make(data).ok_or(Errno::ENOMEM)?;
                object.insert(index, pa);
                get_page(pa);
                pa | Vm::uffd_pte_bits(&v, wp)
            }
            (Fill::Copy(d, wp), _) => {
                make(Some(d)).ok_or(Errno::ENOMEM)? | Vm::uffd_pte_bits(&v, *wp)
            }
            (Fill::Zero, _) => make(None).ok_or(Errno::ENOMEM)? | Vm::uffd_pte_bits(&v, false),
        };
        match vm.table.pte_create(page) {
            Ok(pte) => {
                pte.set(entry);
                flush(page);
                Ok(())
            }
            Err(_) => {
                if entry & UFFD_POISON_BIT == 0 {
                    put_page(entry & ADDR_MASK);
                }
                Err(Errno::ENOMEM)
            }
        }
    }

    /// UFFDIO_WRITEPROTECT: sets (`wp`) or clears the write protection of the
    /// pages present in `[start, end)`, which areas registered for WP must
    /// cover (ENOENT otherwise).
    pub fn uffd_writeprotect(&self, start: u64, end: u64, wp: bool) -> KResult<()> {
        let mut vm = self.vm.lock();
        let mut at = start;
        let mut areas = Vec::new();
        while at < end {
            match vm.find(at) {
                Some(v) if v.uffd.as_ref().is_some_and(|r| r.mode & MODE_WP != 0) => {
                    areas.push(v.clone());
                    at = v.end;
                }
                _ => return Err(Errno::ENOENT),
            }
        }
        for v in areas {
            let (s, e) = (v.start.max(start), v.end.min(end));
            if wp {
                vm.table.for_each_pte(s, e, &mut |va, pte| {
                    if *pte & PteFlags::PRESENT.bits() != 0 {
                        *pte = (*pte & !PteFlags::WRITABLE.bits()) | UFFD_WP_BIT;
                        flush(va);
                    }
                });
                vm.shootdown();
            } else {
                vm.uffd_clear_wp(&v, s, e);
            }
        }
        Ok(())
    }

    /// UFFDIO_MOVE of `len` bytes from `src` to `dst` (page-aligned, checked,
    /// not overlapping): both ranges in one private anonymous area each (ENOENT
    /// otherwise) with the same protections and locking, the source writable,
    /// the destination registered with `ctx` (EINVAL otherwise). Page by page:
    /// a hole at the source is ENOENT (skipped with `allow_holes`), a page the
    /// source shares (after fork) EBUSY, a page at the destination EEXIST.
    /// Returns the bytes moved and the error that stopped it, if any.
    pub fn uffd_move(
        &self,
        ctx: &Arc<UffdCtx>,
        dst: u64,
        src: u64,
        len: u64,
        allow_holes: bool,
    ) -> (u64, Option<Errno>) {
        let vm = self.vm.lock();
        let within = |vm: &Vm, a: u64| vm.find(a).filter(|v| a + len <= v.end).cloned();
        let (Some(sv), Some(dv)) = (within(&vm, src), within(&vm, dst)) else {
            return (0, Some(Errno::ENOENT));
        };
        if sv.prot != dv.prot
            || sv.pkey != dv.pkey
            || sv.locked != dv.locked
            || sv.prot & kestrel_abi::mm::PROT_WRITE == 0
            || !matches!(sv.backing, Backing::Anonymous)
            || !matches!(dv.backing, Backing::Anonymous)
            || !dv.uffd.as_ref().is_some_and(|r| Arc::ptr_eq(&r.ctx, ctx))
        {
            return (0, Some(Errno::EINVAL));
        }
        let mut moved = 0;
        let mut err = None;
        while moved < len {
            let (s, d) = (src + moved, dst + moved);
            let old = raw_pte(&vm, s);
            if old == 0 {
                if allow_holes {
                    moved += PAGE;
                    continue;
                }
                err = Some(Errno::ENOENT);
                break;
            }
            let shared = old & (PteFlags::COW | PteFlags::SHARED).bits() != 0
                || old & UFFD_POISON_BIT != 0
                || super::frame::meta(old & ADDR_MASK)
                    .refcount
                    .load(Ordering::Acquire)
                    != 1;
            if shared {
                err = Some(Errno::EBUSY);
                break;
            }
            if raw_pte(&vm, d) != 0 {
                err = Some(Errno::EEXIST);
                break;
            }
            let Ok(dpte) = vm.table.pte_create(d) else {
                err = Some(Errno::ENOMEM);
                break;
            };
            dpte.set(old & !UFFD_WP_BIT);
            flush(d);
            vm.table.for_each_pte(s, s + PAGE, &mut |_, pte| *pte = 0);
            flush(s);
            moved += PAGE;
        }
        vm.shootdown();
        (moved, err)
    }
}
