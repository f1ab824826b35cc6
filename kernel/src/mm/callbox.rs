//! Heap blocks for system-call futures, recycled per CPU.
//!
//! A thread's future used to hold the pending call's future inline, so every
//! thread, parked or not, kept room for the largest handler's. Each call's future
//! now goes in a [`CallBox`] of its own size class instead, and a parked thread
//! keeps only the block its call needs (a futex wait's, not an execve's).
//!
//! Most calls complete on their first poll. To keep those from paying for an
//! allocation, each CPU keeps one spare block per heap size class: a call takes
//! the spare of its class (or allocates when there is none), and when its future
//! is done the block goes back to the CPU it ends on (or to the heap when that
//! CPU already has a spare of the class). A call that completes at once thus
//! moves one pointer out of a slot and back; only a call that stays pending makes
//! the next call of its class on that CPU allocate.

use alloc::alloc::{alloc, dealloc};
use core::alloc::Layout;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::ptr::{NonNull, null_mut};
use core::sync::atomic::{AtomicPtr, Ordering};
use core::task::{Context, Poll};

use crate::arch::acpi::MAX_CPUS;
use crate::arch::percpu;

/// The heap's small classes (16 to 2,048 bytes), the ones a spare is kept for.
const MIN_SHIFT: usize = 4;
const CLASSES: usize = 8;

/// Each CPU's spare block per class (null: none).
static SPARE: [[AtomicPtr<u8>; CLASSES]; MAX_CPUS] =
    [const { [const { AtomicPtr::new(null_mut()) }; CLASSES] }; MAX_CPUS];

/// Where a value of type `F` goes: a spare-able class, or its own allocation.
struct Placement<F>(PhantomData<F>);

impl<F> Placement<F> {
    /// Bytes of the block: the heap class that holds `F` (a power of two, at
    /// least its alignment, so a block of the class is aligned for it).
    const BLOCK: usize = {
        let need = if size_of::<F>() > align_of::<F>() {
            size_of::<F>()
        } else {
            align_of::<F>()
        };
        let need = if need < (1 << MIN_SHIFT) {
            1 << MIN_SHIFT
        } else {
            need
        };
        need.next_power_of_two()
    };
    /// The class index, if the block is one of the recycled classes.
    const CLASS: Option<usize> = {
        let shift = Self::BLOCK.trailing_zeros() as usize;
        if size_of::<F>() != 0 && shift - MIN_SHIFT < CLASSES {
            Some(shift - MIN_SHIFT)
        } else {
            None
        }
    };

    /// The layout every block of `F`'s placement is allocated and freed with:
    /// size and alignment the class's, so that a block taken from a spare slot
    /// (allocated for another type of the same class) is freed with the layout
    /// it was allocated with.
    fn layout() -> Layout {
        match Self::CLASS {
            Some(_) => Layout::from_size_align(Self::BLOCK, Self::BLOCK).expect("a power of two"),
            None => Layout::new::<F>(),
        }
    }
}

/// This CPU's spare slot of `class`. Only code running on this CPU touches
/// it, and never from an interrupt handler, so taking and giving back are a
/// plain load and store (no locked instruction) with nothing in between.
#[inline(always)]
fn spare(class: usize) -> &'static AtomicPtr<u8> {
    let cpu = percpu::this_cpu().cpu_id.load(Ordering::Relaxed) as usize;
    &SPARE[cpu % MAX_CPUS][class]
}

/// Takes this CPU's spare block of `class` (null: none).
#[inline(always)]
fn take_spare(class: usize) -> *mut u8 {
    let slot = spare(class);
    let p = slot.load(Ordering::Relaxed);
    if !p.is_null() {
        slot.store(null_mut(), Ordering::Relaxed);
    }
    p
}

/// Keeps `p` as this CPU's spare block of `class` unless it has one already;
/// false then (the caller frees it).
#[inline(always)]
fn give_spare(class: usize, p: *mut u8) -> bool {
    let slot = spare(class);
    if slot.load(Ordering::Relaxed).is_null() {
        slot.store(p, Ordering::Relaxed);
        true
    } else {
        false
    }
}

/// A future on the heap in a block of its size class, recycled through this
/// CPU's spare when it is dropped.
pub struct CallBox<F> {
    ptr: NonNull<F>,
}

// SAFETY: a CallBox owns its `F` as a Box would.
unsafe impl<F: Send> Send for CallBox<F> {}
// SAFETY: shared access gives no access to the `F` at all.
unsafe impl<F> Sync for CallBox<F> {}

impl<F> CallBox<F> {
    /// Makes the future with `make` straight into a block (this CPU's spare of
    /// its class, else a new one): taking the block first lets the compiler
    /// build the future in place instead of copying it there. `None` (and
    /// `make` is not called) when there is no memory for it.
    #[inline(always)]
    pub fn new_with(make: impl FnOnce() -> F) -> Option<Self> {
        let p = if size_of::<F>() == 0 {
            NonNull::<F>::dangling().as_ptr().cast::<u8>()
        } else {
            let spared = match Placement::<F>::CLASS {
                Some(c) => take_spare(c),
                None => null_mut(),
            };
            if spared.is_null() {
                // SAFETY: the layout's size is not zero (F is not zero-sized).
                unsafe { alloc(Placement::<F>::layout()) }
            } else {
                spared
            }
        };
        let ptr = NonNull::new(p.cast::<F>())?;
        // SAFETY: `ptr` is a block of at least size_of::<F>() bytes aligned for F
        // (its class is a power of two no smaller than F's size and alignment),
        // owned by nobody else (taken from the slot or just allocated).
        unsafe { ptr.as_ptr().write(make()) };
        Some(Self { ptr })
    }
}

// Inlined into each call's arm (as is `poll`): under TCG every call and
// return is a lookup of the next translated block, which cost more than the
// rest of the box.
impl<F> Drop for CallBox<F> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: the block holds an F written by `new`, dropped only here.
        unsafe { core::ptr::drop_in_place(self.ptr.as_ptr()) };
        if size_of::<F>() == 0 {
            return;
        }
        let p = self.ptr.as_ptr().cast::<u8>();
        if let Some(c) = Placement::<F>::CLASS
            && give_spare(c, p)
        {
            return;
        }
        // SAFETY: `p` was allocated with this layout (by `new`, or by another
        // CallBox of the same class, which uses the same class layout).
        unsafe { dealloc(p, Placement::<F>::layout()) };
    }
}

impl<F: Future> Future for CallBox<F> {
    type Output = F::Output;
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: the F lives in its heap block until the CallBox is dropped and
        // is never moved out of it (the CallBox only moves the pointer), so
        // pinning it is sound whether or not the CallBox itself is pinned.
        unsafe { Pin::new_unchecked(&mut *self.ptr.as_ptr()) }.poll(cx)
    }
}

impl<F> Unpin for CallBox<F> {}

crate::ktest!(callbox_cost_report, async {
    // A report (issue #14): what a call's trip through a CallBox costs next
    // to its future kept inline, and next to a heap allocation and free.
    use core::task::{Context, Waker};
    async fn small(x: u64) -> u64 {
        x + 1
    }
    let cx = &mut Context::from_waker(Waker::noop());
    let n = 20_000u64;
    let mut sum = 0;
    let t0 = crate::time::now_ns();
    for i in 0..n {
        let mut f = core::pin::pin!(small(core::hint::black_box(i)));
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            sum += v;
        }
    }
    let t1 = crate::time::now_ns();
    for i in 0..n {
        let Some(mut b) = CallBox::new_with(|| small(core::hint::black_box(i))) else {
            return Err("no memory for a CallBox".into());
        };
        if let Poll::Ready(v) = Pin::new(&mut b).poll(cx) {
            sum += v;
        }
    }
    let t2 = crate::time::now_ns();
    for i in 0..n {
        let b = core::hint::black_box(alloc::boxed::Box::new(i));
        sum += *b;
    }
    let t3 = crate::time::now_ns();
    crate::println!(
        "call future costs (ns a call): inline {}, CallBox {}, Box {} ({sum})",
        (t1 - t0) / n,
        (t2 - t1) / n,
        (t3 - t2) / n
    );
    Ok(())
});
