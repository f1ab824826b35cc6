//! FPU, SSE and AVX state of user threads.
//!
//! The kernel never uses these registers (the target is soft-float), so a thread's
//! vector state can stay in the CPU while the kernel runs. Each thread owns an
//! [`FpuState`] (an XSAVE area); the CPU remembers whose state is live ([`Owner`]) and
//! swaps only when a *different* thread is about to enter user mode: a thread that
//! makes syscalls, or is the only one running, never pays for a save.
//!
//! With several CPUs a thread may run on another CPU next time, so its state is
//! saved when its task stops running here ([`release`]): registers are only ever
//! live on the CPU polling the thread. The CPU remembers that its registers still
//! hold that saved state, so a thread that comes back to the CPU it left, with
//! no other thread's state loaded there meanwhile, loads nothing.
//!
//! With one CPU, the thread whose registers were live before the current
//! owner's stays whole in one of the CPU's two XSAVE areas (the "hot" image), its
//! compact copy out of date meanwhile ([`Live::hot`]): two threads taking turns
//! swap with one XSAVE and one XRSTOR.
//!
//! XSAVE covers the components enabled in XCR0 at boot (x87, SSE, AVX where present);
//! CPUs without XSAVE use FXSAVE (x87 and SSE).

use alloc::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::arch::asm;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::cpu::{self, XCR0, XSAVE_SIZE};

/// Room for XSAVE of x87 + SSE + AVX (832 bytes) with margin; checked at boot.
/// At most 64 chunks of 16 bytes, so a u64 says which are kept.
const AREA: usize = 1024;
/// The unit a saved state is kept in: 16 bytes (one XMM register, one x87
/// register, a quarter of the XSAVE header).
const CHUNK: usize = 16;

/// Where XSAVE writes and XRSTOR reads.
#[repr(C, align(64))]
struct Area([u8; AREA]);

/// Each CPU's two XSAVE areas, zero at boot. XSAVE writes and XRSTOR reads
/// only there: one of them may hold the whole image of the thread whose
/// registers were live last ([`Live::hot`]), the other is free (a save writes
/// the image there and keeps its chunks; a restore writes every chunk of the
/// image there, stored ones and zeros, and loads it). Not on the stack: a
/// fresh area would have to be cleared each time (XSAVE leaves reserved bytes
/// alone, and they must not be stack garbage), and clearing 1 KiB is a `rep
/// stos` QEMU runs an iteration at a time; these areas' reserved bytes stay
/// zero (XSAVE never writes them, a restore writes them as zero).
struct Areas(core::cell::UnsafeCell<[Area; 2]>);

// SAFETY: CPU i's areas are only used by CPU i, in `switch_to`,
// `sync_to_memory`, `invalidate`, `release` and `init`, with that CPU's owner
// lock held: never twice at once.
unsafe impl Sync for Areas {}

static AREAS: [Areas; super::acpi::MAX_CPUS] = [const {
    Areas(core::cell::UnsafeCell::new([
        Area([0; AREA]),
        Area([0; AREA]),
    ]))
}; super::acpi::MAX_CPUS];

/// This CPU's two areas: (the one `hot_at` names, the other).
///
/// # Safety
/// Only with this CPU's owner lock held (see [`Areas`]), and the references
/// must not outlive it.
unsafe fn areas(hot_at: usize) -> (&'static mut Area, &'static mut Area) {
    let cpu = super::percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize;
    // SAFETY: the caller holds this CPU's owner lock, so it is the areas' only user.
    let [a, b] = unsafe { &mut *AREAS[cpu % super::acpi::MAX_CPUS].0.get() };
    if hot_at == 0 { (a, b) } else { (b, a) }
}

/// Saves this CPU's registers into `area`, whole.
fn xsave(area: &mut Area) {
    let mask = XCR0.load(Ordering::Relaxed);
    // SAFETY: the area is 64-byte aligned and large enough (checked in init) for
    // the components in XCR0; OSFXSR/OSXSAVE are enabled at boot.
    unsafe {
        if cpu::features().xsave {
            asm!("xsave64 [{}]", in(reg) area.0.as_mut_ptr(), in("eax") mask as u32, in("edx") (mask >> 32) as u32, options(nostack));
        } else {
            asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack));
        }
    }
}

/// Loads this CPU's registers from `area`.
///
/// # Safety
/// `area` holds an image XSAVE wrote (`xsave`) or one unpacked from an
/// `FpuState` (made from such an image, or the initial one, or one
/// `from_user` checked): its header is valid for XRSTOR.
unsafe fn xrstor(area: &Area) {
    let mask = XCR0.load(Ordering::Relaxed);
    // SAFETY: the caller vouches for the header; the area is aligned and large
    // enough as in `xsave`.
    unsafe {
        if cpu::features().xsave {
            asm!("xrstor64 [{}]", in(reg) area.0.as_ptr(), in("eax") mask as u32, in("edx") (mask >> 32) as u32, options(nostack));
        } else {
            asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack));
        }
    }
}

/// One thread's saved FPU/SSE/AVX registers, kept compactly: the XSAVE (or
/// FXSAVE) image in 16-byte chunks, of which only those that differ from the
/// initial state's ([`base`]) are stored, behind a mask of which ones they
/// are. The unused x87 registers, the upper halves of YMM registers a program
/// never used, the XMM registers holding zero, the control words and
/// XSTATE_BV while they are as a new program has them and the reserved bytes
/// cost nothing, so a parked thread keeps a block of a few hundred bytes at
/// most rather than the 1,024 the whole image took, and a thread in the
/// initial state 16 bytes. The block is `[header, chunks...]` in u128
/// units, its size the heap class of `16 * (1 + chunks)` (`mm::heap`); the
/// header is the mask in its low 64 bits and the state's version
/// ([`next_version`]) in its high ones.
pub struct FpuState {
    block: NonNull<u128>,
}

// SAFETY: an FpuState owns its block as a Box owns its contents.
unsafe impl Send for FpuState {}
// SAFETY: shared references only read the block.
unsafe impl Sync for FpuState {}

/// The initial state's image as chunks, the reserved bytes cleared ([`KEPT`]):
/// a chunk equal to its chunk here is not stored. Set once at boot ([`init`]).
static BASE: spin::Once<[u128; AREA / CHUNK]> = spin::Once::new();

/// The chunks a state is kept against: the initial state's, or zeros until
/// `init` has it.
#[inline]
fn base() -> &'static [u128; AREA / CHUNK] {
    static ZERO: [u128; AREA / CHUNK] = [0; AREA / CHUNK];
    BASE.get().unwrap_or(&ZERO)
}

/// The layout of a block holding `chunks` chunks besides the mask: the whole
/// heap block that takes them (its size class, a multiple of 16 bytes), so
/// that the chunks of a later save fill what the block has room for.
fn layout_for(chunks: u32) -> Layout {
    let size = crate::mm::heap::block_size(CHUNK * (1 + chunks as usize), CHUNK);
    Layout::from_size_align(size, CHUNK).expect("a heap block's size")
}

/// A block's first u128: the mask of the chunks it keeps, and a new version.
fn header(mask: u64) -> u128 {
    u128::from(next_version()) << 64 | u128::from(mask)
}

/// The chunks of an image that are kept, as runs `(first, end, high)`: in
/// each, the chunk's high 8 bytes are masked with `high`. What is left out
/// is reserved, and never kept, so it reads as zero in every image (nothing
/// of another thread's state or of a user-supplied image is left there in a
/// CPU's XSAVE area): the upper 6 bytes of each x87 register's slot (chunks
/// 2-9), bytes 416-511 of the legacy area (reserved, and the part software
/// may use, which XRSTOR ignores: chunks 26-31) and the XSAVE header after
/// XSTATE_BV (the high half of chunk 32, chunks 33-35). As runs rather than a
/// test of each chunk's number: a save of a parked thread scans them all.
const KEPT: [(usize, usize, u64); 5] = [
    (0, 2, u64::MAX),
    (2, 10, 0xffff),
    (10, 26, u64::MAX),
    (32, 33, 0),
    (36, AREA / CHUNK, u64::MAX),
];

/// Calls `f(i, chunk)` for each kept chunk `i` of `image` (its reserved bytes
/// cleared) that differs from the initial state's ([`base`]), in order.
#[inline]
fn for_each_changed(image: &[u8], mut f: impl FnMut(usize, u128)) {
    let base = base();
    let n = image.len() / CHUNK;
    for &(first, end, high) in &KEPT {
        let end = end.min(n);
        if first >= end {
            break;
        }
        for (k, c) in image[first * CHUNK..end * CHUNK]
            .chunks_exact(CHUNK)
            .enumerate()
        {
            let (lo, hi) = c.split_at(8);
            let lo = u64::from_le_bytes(lo.try_into().expect("8 bytes"));
            let hi = u64::from_le_bytes(hi.try_into().expect("8 bytes")) & high;
            let v = u128::from(hi) << 64 | u128::from(lo);
            if v != base[first + k] {
                f(first + k, v);
            }
        }
    }
}

/// The mask of the chunks of `image` that are kept and differ from the
/// initial state's.
fn changed_chunks(image: &[u8]) -> u64 {
    let mut mask = 0u64;
    for_each_changed(image, |i, _| mask |= 1 << i);
    mask
}

/// A number no state had before: each saved state gets one, so a CPU that
/// remembers which one its registers hold can tell whether the thread's
/// state is still that one ([`Live::clean`]).
fn next_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl FpuState {
    /// A block for `mask`'s chunks, its mask word written, the chunks not yet.
    fn with_mask(mask: u64) -> Self {
        let layout = layout_for(mask.count_ones());
        // SAFETY: the layout's size is at least 16 bytes.
        let p = unsafe { alloc(layout) }.cast::<u128>();
        let Some(block) = NonNull::new(p) else {
            handle_alloc_error(layout)
        };
        // SAFETY: the block is at least one u128, aligned for it, and ours.
        unsafe { block.as_ptr().write(header(mask)) };
        Self { block }
    }

    fn mask(&self) -> u64 {
        // SAFETY: the first u128 of the block is always the header.
        unsafe { self.block.as_ptr().read() as u64 }
    }

    /// Which state this is ([`next_version`]): a new number at each store.
    fn version(&self) -> u64 {
        // SAFETY: the first u128 of the block is always the header.
        (unsafe { self.block.as_ptr().read() } >> 64) as u64
    }

    /// The stored chunks, in order.
    fn chunks(&self) -> &[u128] {
        // SAFETY: the block holds the mask and then one u128 per mask bit, all
        // written (by `store`).
        unsafe {
            core::slice::from_raw_parts(
                self.block.as_ptr().add(1),
                self.mask().count_ones() as usize,
            )
        }
    }

    /// Keeps `image` (its length a multiple of 16, at most AREA): in this
    /// block when its size class is the same, else in a new one.
    /// One pass over the image (each save of a parked thread makes one): the
    /// changed chunks go straight into this block while they fit; only when
    /// they need a block of another size does a second pass fill a new one.
    fn store(&mut self, image: &[u8]) {
        let old = self.mask().count_ones();
        let room = layout_for(old).size() / CHUNK - 1;
        let mut mask = 0u64;
        let mut count = 0;
        let block = self.block;
        for_each_changed(image, |i, v| {
            if count < room {
                // SAFETY: the block has room for `room` chunks after the
                // header (its size class), and `count < room`. The header is
                // left as it was until the end, so a block given up below is
                // freed with the layout it was allocated with.
                unsafe { block.as_ptr().add(1 + count).write(v) };
            }
            count += 1;
            mask |= 1 << i;
        });
        if layout_for(count as u32) == layout_for(old) {
            // SAFETY: as in `with_mask`: the first u128 is the header.
            unsafe { self.block.as_ptr().write(header(mask)) };
        } else {
            *self = Self::with_mask(mask);
            self.store_masked(image, mask);
        }
    }

    /// [`FpuState::store`] with the mask already computed.
    /// The block must be one made for `mask` (`with_mask(mask)`).
    fn store_masked(&mut self, image: &[u8], mask: u64) {
        debug_assert_eq!(self.mask(), mask);
        let mut at = 0;
        let block = self.block;
        for_each_changed(image, |_, v| {
            at += 1;
            if at <= mask.count_ones() as usize {
                // SAFETY: `at` is at most the number of mask bits, and the
                // block has room for that many chunks after the header.
                unsafe { block.as_ptr().add(at).write(v) };
            }
        });
    }

    /// A state holding `image`.
    fn from_image(image: &[u8]) -> Self {
        let mask = changed_chunks(image);
        let mut s = Self::with_mask(mask);
        s.store_masked(image, mask);
        s
    }

    /// Writes the image into `out`, each 16 bytes once (the initial state's
    /// where no chunk is stored).
    fn unpack(&self, out: &mut [u8]) {
        let mask = self.mask();
        let base = base();
        let mut chunks = self.chunks().iter();
        for (i, c) in out.chunks_exact_mut(CHUNK).enumerate() {
            let v = if mask & (1 << i) != 0 {
                chunks.next().copied().unwrap_or(0)
            } else {
                base[i]
            };
            c.copy_from_slice(&v.to_le_bytes());
        }
    }

    /// The state a new program starts with (Linux's fpstate_init: x87 control word
    /// 0x37f, MXCSR 0x1f80, everything else zero): no chunk differs from
    /// [`base`], so its block is the header alone.
    pub fn initial() -> Self {
        debug_assert!(BASE.get().is_some(), "fpu::init ran at boot");
        Self::with_mask(0)
    }

    /// Saves the CPU's registers here, through `area` (a free one of this
    /// CPU's, see [`Areas`]).
    fn save_via(&mut self, area: &mut Area) {
        xsave(area);
        self.store(&area.0[..image_size()]);
    }

    /// Loads the CPU's registers from here, through `area` (a free one of this
    /// CPU's, see [`Areas`]).
    fn restore_via(&self, area: &mut Area) {
        self.unpack(&mut area.0[..image_size()]);
        // SAFETY: the area holds this state's image, made from one XSAVE wrote
        // (or the initial one, made the same way, or one `from_user` checked).
        unsafe { xrstor(area) };
    }

    /// The saved registers as user space sees them in a signal frame: the XSAVE image
    /// (or the 512-byte FXSAVE one).
    pub fn image(&self) -> Vec<u8> {
        let mut v = alloc::vec![0; image_size()];
        self.unpack(&mut v);
        v
    }

    /// Bytes this state keeps on the heap (its block).
    pub fn heap_bytes(&self) -> usize {
        layout_for(self.mask().count_ones()).size()
    }

    /// A state from an image user space handed back (rt_sigreturn), if it is one the
    /// CPU would load: known components only, standard format, reserved bits clear.
    /// Anything else would fault in the kernel's XRSTOR, so it is refused here.
    pub fn from_user(image: &[u8]) -> Option<Self> {
        if image.len() < 512 || image.len() > AREA {
            return None;
        }
        let mut area = [0u8; AREA];
        area[..image.len()].copy_from_slice(image);
        let mxcsr = u32::from_le_bytes([area[24], area[25], area[26], area[27]]);
        if mxcsr & !0xffff != 0 {
            return None;
        }
        if has_xsave() {
            if image.len() < 576 {
                // A legacy (FXSAVE-only) image: XRSTOR of it loads only x87 and SSE.
                area[512..576].fill(0);
                area[512] = 0b11;
            }
            let word =
                |at: usize| u64::from_le_bytes(area[at..at + 8].try_into().expect("8 bytes"));
            let xstate_bv = word(512);
            let xcomp_bv = word(520);
            if xstate_bv & !xcr0() != 0 || xcomp_bv != 0 || area[528..576].iter().any(|&b| b != 0) {
                return None;
            }
        }
        Some(Self::from_image(&area[..image_size()]))
    }

    /// MXCSR, the SSE control and status register.
    pub fn mxcsr(&self) -> u32 {
        let mut head = [0u8; 2 * CHUNK];
        self.unpack(&mut head);
        u32::from_le_bytes([head[24], head[25], head[26], head[27]])
    }
}

impl Clone for FpuState {
    fn clone(&self) -> Self {
        let s = Self::with_mask(self.mask());
        for (i, v) in self.chunks().iter().enumerate() {
            // SAFETY: the new block has as many chunks as this one's mask says.
            unsafe { s.block.as_ptr().add(1 + i).write(*v) };
        }
        s
    }
}

impl Drop for FpuState {
    fn drop(&mut self) {
        // SAFETY: the block was allocated with the layout of its mask's chunk
        // count (in `with_mask`, or `store`, which keeps a block only when the
        // layout stays the same).
        unsafe {
            dealloc(
                self.block.as_ptr().cast(),
                layout_for(self.mask().count_ones()),
            )
        };
    }
}

/// Whether the CPU saves state with XSAVE (else FXSAVE).
pub fn has_xsave() -> bool {
    cpu::features().xsave
}

/// The XSAVE components enabled for user threads.
pub fn xcr0() -> u64 {
    XCR0.load(Ordering::Relaxed)
}

/// Bytes of a saved state as written to a signal frame.
pub fn image_size() -> usize {
    if has_xsave() {
        XSAVE_SIZE.load(Ordering::Relaxed) as usize
    } else {
        512
    }
}

/// Something that owns an FPU state (a user thread).
pub trait HasFpu: Send + Sync {
    /// The thread's saved state.
    fn fpu(&self) -> &spin::Mutex<FpuState>;
}

/// What a CPU holds of user threads' FPU state, behind its owner lock.
struct Live {
    /// The thread whose registers are live on this CPU.
    owner: Option<Weak<dyn HasFpu>>,
    /// The thread whose registers were live before `owner`'s, kept whole in
    /// the CPU's area `hot_at` (as XSAVE wrote them) rather than compacted
    /// into its `FpuState`, which is out of date meanwhile. Two threads taking
    /// turns on a CPU (a futex or pipe ping-pong) then cost an XSAVE and an
    /// XRSTOR a switch, without the scan of the image and the write of each
    /// chunk; a third thread's switch compacts it ("evicts" it). Only while
    /// one CPU is online (the application processors come up at boot, before
    /// any user thread): a thread parked with several CPUs may resume on
    /// another, and its state must then be in its `FpuState` ([`release`]).
    /// Whoever reads a thread's `FpuState` calls [`sync_to_memory`] first,
    /// which brings it up to date from here as from the registers.
    hot: Option<Weak<dyn HasFpu>>,
    /// Which of the CPU's two areas holds `hot`'s image (0 or 1).
    hot_at: usize,
    /// With several CPUs: non-zero when `owner`'s task stopped running here
    /// ([`release`] saved its registers, this version of its `FpuState`) and
    /// no other thread's state was loaded since, so the registers still hold
    /// that state. If the thread comes back here and its state is still that
    /// version (it ran nowhere else, nothing replaced it), [`switch_to`] has
    /// nothing to load; and a switch to another thread has nothing to save.
    /// Zero: the registers are `owner`'s live state (or there is no owner).
    clean: u64,
}

/// A CPU's [`Live`], and the address of its owner's allocation (0: none), so
/// that a thread going back to user mode on the CPU where its state is already
/// live (every system call) checks with one load. The `Weak`s keep the
/// allocations, so an address cannot be reused by another thread while it is
/// recorded here.
struct Owner(spin::Mutex<Live>, AtomicUsize);

static OWNERS: [Owner; super::acpi::MAX_CPUS] = [const {
    Owner(
        spin::Mutex::new(Live {
            owner: None,
            hot: None,
            hot_at: 0,
            clean: 0,
        }),
        AtomicUsize::new(0),
    )
}; super::acpi::MAX_CPUS];

fn address<T: ?Sized>(p: *const T) -> usize {
    p as *const () as usize
}

fn is<T: ?Sized>(slot: &Option<Weak<T>>, thread: &Arc<T>) -> bool {
    slot.as_ref().is_some_and(|w| {
        core::ptr::addr_eq(w.as_ptr(), Arc::as_ptr(thread)) && w.strong_count() > 0
    })
}

/// Whether `thread`'s registers are the ones live on this CPU.
#[inline(always)]
pub fn is_live<T: HasFpu>(thread: &Arc<T>) -> bool {
    owner().1.load(Ordering::Relaxed) == address(Arc::as_ptr(thread))
}

/// This CPU's owner slot.
#[inline(always)]
fn owner() -> &'static Owner {
    &OWNERS[super::percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize]
}

/// Prepares the FPU and records the initial state. Runs once, after
/// `cpu::enable_features`.
pub fn init() {
    assert!(
        XSAVE_SIZE.load(Ordering::Relaxed) as usize <= AREA,
        "XSAVE area larger than Kestrel's buffer"
    );
    init_cpu();
    let live = owner().0.lock();
    // SAFETY: this CPU's owner lock is held (`live`) until the end.
    let (_, free) = unsafe { areas(live.hot_at) };
    xsave(free);
    // The image as a state keeps it (kept chunks, reserved bytes cleared):
    // against zeros, as `base` is until set.
    let mut chunks = [0u128; AREA / CHUNK];
    for_each_changed(&free.0[..image_size()], |i, v| chunks[i] = v);
    BASE.call_once(|| chunks);
}

/// Prepares the calling CPU's FPU (every CPU, after `cpu::enable_features`).
pub fn init_cpu() {
    // CR0: MP and NE on, EM and TS off, so SSE works and x87 errors raise #MF.
    // SAFETY: these bits only select how the FPU reports errors and whether it traps.
    unsafe {
        let mut cr0: u64;
        asm!("mov {}, cr0", out(reg) cr0, options(nomem, nostack));
        cr0 = (cr0 | (1 << 1) | (1 << 5)) & !((1 << 2) | (1 << 3));
        asm!("mov cr0, {}", in(reg) cr0, options(nomem, nostack));
        asm!("fninit", options(nomem, nostack));
        let mxcsr: u32 = 0x1f80;
        asm!("ldmxcsr [{}]", in(reg) &mxcsr, options(nostack));
    }
}

/// Makes `thread`'s state live, saving the previous owner's first: whole, as
/// this CPU's hot image, when one CPU is online (the hot thread before it is
/// compacted into its `FpuState` unless it is `thread`), else into its
/// `FpuState`. `thread`'s state comes from the hot image when it is that
/// thread's, else from its `FpuState`.
pub fn switch_to(thread: &Arc<dyn HasFpu>) {
    let slot = owner();
    let mut live = slot.0.lock();
    let h = live.hot_at;
    // SAFETY: this CPU's owner lock is held (`live`) until the end.
    let (hot_area, free_area) = unsafe { areas(h) };
    // Non-zero: the owner's registers were saved when its task stopped here.
    let clean = core::mem::take(&mut live.clean);
    if is(&live.owner, thread) {
        if clean != 0 {
            // Back on the CPU it left, with nothing loaded here since: the
            // registers are its state unless that changed meanwhile (it ran on
            // another CPU, or it was replaced).
            let state = thread.fpu().lock();
            if state.version() != clean {
                state.restore_via(free_area);
            }
            slot.1
                .store(address(Arc::as_ptr(thread)), Ordering::Relaxed);
        }
        return;
    }
    // The `Weak`s move between the slots rather than being upgraded and made
    // again: two threads taking turns cost no reference-count updates.
    let prev = live.owner.take().filter(|w| w.strong_count() > 0);
    let resumes_hot = is(&live.hot, thread);
    let single = super::percpu::online() < 2;
    // `prev`'s registers stay whole as the hot image (one CPU; not when they
    // were saved already: `clean`).
    let keep_whole = single && prev.is_some() && clean == 0;
    if let Some(p) = &prev
        && clean == 0
    {
        if keep_whole {
            xsave(free_area);
        } else if let Some(p) = p.upgrade() {
            p.fpu().lock().save_via(free_area);
        }
    }
    let mut me = None;
    if resumes_hot {
        // SAFETY: the hot area holds what XSAVE wrote for `thread` (nothing
        // replaced its state since: `invalidate` forgets the hot image).
        unsafe { xrstor(hot_area) };
        me = live.hot.take();
    } else if keep_whole || !single {
        // The hot area is needed for `prev` (or, with several CPUs, no image
        // stays hot): its thread's state goes back to that thread's block.
        if let Some(c) = live.hot.take().and_then(|w| w.upgrade()) {
            c.fpu().lock().store(&hot_area.0[..image_size()]);
        }
        thread.fpu().lock().restore_via(hot_area);
    } else {
        thread.fpu().lock().restore_via(free_area);
    }
    if keep_whole {
        live.hot = prev;
        live.hot_at = 1 - h;
    }
    live.owner = Some(me.unwrap_or_else(|| Arc::downgrade(thread)));
    slot.1
        .store(address(Arc::as_ptr(thread)), Ordering::Relaxed);
}

/// Brings `thread`'s saved state up to date if its registers are live, or its
/// image is this CPU's hot one (before fork copies it, a signal frame stores
/// it, or ptrace reads it).
pub fn sync_to_memory(thread: &Arc<dyn HasFpu>) {
    let mut live = owner().0.lock();
    // SAFETY: this CPU's owner lock is held (`live`) until the end.
    let (hot_area, free_area) = unsafe { areas(live.hot_at) };
    if is(&live.owner, thread) {
        // Unless the registers were saved at its release (`clean`): the
        // thread may have run on another CPU since, and they are not its
        // state any more.
        if live.clean == 0 {
            thread.fpu().lock().save_via(free_area);
        }
    } else if is(&live.hot, thread) {
        thread.fpu().lock().store(&hot_area.0[..image_size()]);
        live.hot = None;
    }
}

/// Forgets the live state (or the hot image) if it is `thread`'s (its saved
/// copy was replaced, as at execve), so the next switch loads the saved one.
pub fn invalidate(thread: &Arc<dyn HasFpu>) {
    let slot = owner();
    let mut live = slot.0.lock();
    if is(&live.owner, thread) {
        live.owner = None;
        live.clean = 0;
        slot.1.store(0, Ordering::Relaxed);
    }
    if is(&live.hot, thread) {
        live.hot = None;
    }
}

/// `thread` stops running on this CPU for now (its task went back to waiting):
/// with more than one CPU online its next run may be elsewhere, so its registers
/// are saved. The CPU remembers that they still hold that saved state
/// ([`Live::clean`]): if the thread comes back here first, nothing is loaded.
/// With one CPU they stay live (the lazy case: a thread that runs alone never
/// pays for a save).
pub fn release(thread: &Arc<dyn HasFpu>) {
    if super::percpu::online() < 2 {
        return;
    }
    let slot = owner();
    let mut live = slot.0.lock();
    // SAFETY: this CPU's owner lock is held (`live`) until the end.
    let (hot_area, free_area) = unsafe { areas(live.hot_at) };
    if is(&live.owner, thread) {
        if live.clean == 0 {
            let mut state = thread.fpu().lock();
            state.save_via(free_area);
            live.clean = state.version();
        }
        // Not live: the next switch to it looks at its state's version.
        slot.1.store(0, Ordering::Relaxed);
    } else if is(&live.hot, thread) {
        thread.fpu().lock().store(&hot_area.0[..image_size()]);
        live.hot = None;
    }
}

crate::ktest!(
    a_saved_fpu_state_grows_shrinks_and_changes_in_place,
    async {
        let base = FpuState::initial().image();
        let mut s = FpuState::initial();
        // Every XMM register non-zero (a bigger block), then two (a smaller one),
        // then two others (the same block): each time the image comes back whole.
        let mut images = alloc::vec::Vec::new();
        let mut all = base.clone();
        for r in 0..16 {
            all[160 + r * 16] = r as u8 + 1;
        }
        images.push(all);
        let mut two = base.clone();
        two[160] = 9;
        two[160 + 5 * 16 + 15] = 3;
        images.push(two);
        let mut other = base.clone();
        other[160 + 7 * 16] = 4;
        other[160 + 9 * 16 + 8] = 5;
        images.push(other);
        for (n, image) in images.iter().enumerate() {
            let before = s.version();
            s.store(image);
            crate::kcheck!(s.image() == *image, "image {n} came back changed");
            // A CPU that remembers the version its registers hold must see
            // every store (a save on another CPU) as a change.
            crate::kcheck!(s.version() != before, "store {n} kept the version");
        }
        crate::kcheck!(
            s.clone().version() != s.version(),
            "a clone has its original's version"
        );
        crate::kcheck!(
            s.heap_bytes() <= 128,
            "{} bytes kept for two registers",
            s.heap_bytes()
        );
        Ok(())
    }
);
