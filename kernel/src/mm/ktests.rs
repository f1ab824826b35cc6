//! In-kernel tests of memory: the frame allocator, the heap, kernel page tables and
//! the fault-recovering copy (see `boot::ktest`). Each names the behaviour it checks.

use alloc::boxed::Box;
use alloc::vec::Vec;

use core::sync::atomic::AtomicUsize;

use crate::arch::{cpu, usercopy};
use crate::mm::paging::{PageSize, PteFlags, kernel_table};
use crate::mm::{PAGE_SIZE, frame, phys_to_virt};
use crate::{kcheck, ktest};

ktest!(frame_allocator_splits_and_coalesces, async {
    let (free_before, _) = frame::stats();
    let a = frame::alloc(3).ok_or("no order-3 block")?;
    kcheck!(
        a % (8 * 4096) == 0,
        "order-3 block at {a:#x} is not 32 KiB aligned"
    );
    let b = frame::alloc(0).ok_or("no frame")?;
    kcheck!(
        b < a || b >= a + 8 * 4096,
        "frame {b:#x} overlaps the order-3 block"
    );
    kcheck!(
        frame::stats().0 == free_before - 9,
        "free count did not drop by 9"
    );
    frame::free(b, 0);
    frame::free(a, 3);
    kcheck!(
        frame::stats().0 == free_before,
        "free count not restored after freeing"
    );
    // After coalescing, a block as large as before is available again.
    let big = frame::alloc(frame::MAX_ORDER).ok_or("no max-order block after coalescing")?;
    frame::free(big, frame::MAX_ORDER);
    Ok(())
});

ktest!(
    frame_whole_chunks_come_lowest_first_and_a_freed_one_comes_back,
    async {
        // Two whole 4 MiB chunks: the allocator takes the lowest whole chunk
        // first, so the second is above the first, and `a`, freed, is the
        // lowest again.
        let (free_before, _) = frame::stats();
        let a = frame::alloc(frame::MAX_ORDER).ok_or("no whole chunk")?;
        let b = frame::alloc(frame::MAX_ORDER).ok_or("no second whole chunk")?;
        kcheck!(
            a % (4 << 20) == 0 && b % (4 << 20) == 0,
            "chunks at {a:#x} and {b:#x} are not 4 MiB aligned"
        );
        kcheck!(b > a, "the second chunk {b:#x} is below the first {a:#x}");
        // Their frames' metadata is ready (zero: not shared) and usable.
        for pa in [a, a + 4096, b + (4 << 20) - 4096] {
            let m = frame::meta(pa);
            kcheck!(
                m.refcount.load(core::sync::atomic::Ordering::Acquire) == 0,
                "frame {pa:#x} of a fresh chunk has references"
            );
        }
        frame::free(a, frame::MAX_ORDER);
        frame::free(b, frame::MAX_ORDER);
        kcheck!(
            frame::stats().0 == free_before,
            "free count not restored after freeing"
        );
        let again = frame::alloc(frame::MAX_ORDER).ok_or("no whole chunk after merging")?;
        kcheck!(
            again <= a,
            "a freed chunk did not come back whole: got {again:#x}, freed {a:#x}"
        );
        frame::free(again, frame::MAX_ORDER);
        Ok(())
    }
);

ktest!(frame_alloc_exact_returns_the_rounding_excess, async {
    let (free_before, _) = frame::stats();
    let pa = frame::alloc_exact(5).ok_or("no 5 frames")?;
    kcheck!(
        frame::stats().0 == free_before - 5,
        "alloc_exact(5) took {} frames",
        free_before - frame::stats().0
    );
    frame::free_exact(pa, 5);
    kcheck!(
        frame::stats().0 == free_before,
        "free_exact did not give the frames back"
    );
    Ok(())
});

ktest!(heap_serves_every_size_class_aligned, async {
    let mut boxes: Vec<(Vec<u8>, usize)> = Vec::new();
    for shift in 0..14 {
        let size = (1usize << shift) + 3;
        let mut v = Vec::with_capacity(size);
        v.resize(size, (shift as u8).wrapping_mul(7));
        boxes.push((v, shift));
    }
    for (v, shift) in &boxes {
        kcheck!(
            v.iter().all(|&b| b == (*shift as u8).wrapping_mul(7)),
            "heap block {shift} was overwritten"
        );
    }
    #[repr(align(256))]
    struct Aligned([u8; 256]);
    let a = Box::new(Aligned([1; 256]));
    kcheck!(
        (&*a as *const Aligned as usize).is_multiple_of(256),
        "Box<align(256)> is misaligned"
    );
    kcheck!(a.0.iter().all(|&b| b == 1), "Box<align(256)> contents lost");
    Ok(())
});

ktest!(
    heap_classes_between_powers_of_two_are_aligned_and_disjoint,
    async {
        use core::alloc::Layout;
        // Sizes that fall in the classes between powers of two (72 in 80, 260 in
        // 320, 440 in 448, 700 in 768...), at every alignment up to 256: each block
        // is aligned as asked, and holds its bytes while its neighbours are written.
        let mut held: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut tag = 0u8;
        for size in [
            72usize, 88, 100, 150, 200, 260, 300, 380, 440, 500, 600, 700, 900, 1500,
        ] {
            for align in [1usize, 8, 16, 32, 64, 128, 256] {
                let layout = Layout::from_size_align(size, align).expect("a valid layout");
                for _ in 0..12 {
                    // SAFETY: the layout's size is not zero; the block is freed below
                    // with the same layout.
                    let p = unsafe { alloc::alloc::alloc(layout) };
                    kcheck!(!p.is_null(), "no memory for {size} bytes");
                    kcheck!(
                        (p as usize).is_multiple_of(align),
                        "{size} bytes at {p:p} not aligned to {align}"
                    );
                    tag = tag.wrapping_add(1);
                    // SAFETY: `p` is a fresh block of `size` bytes.
                    unsafe { core::ptr::write_bytes(p, tag, size) };
                    held.push((p, layout, tag));
                }
            }
        }
        for &(p, layout, tag) in &held {
            // SAFETY: `p` is a live block of `layout.size()` bytes written above.
            let bytes = unsafe { core::slice::from_raw_parts(p, layout.size()) };
            kcheck!(
                bytes.iter().all(|&b| b == tag),
                "a block of {} bytes was overwritten",
                layout.size()
            );
        }
        for (p, layout, _) in held {
            // SAFETY: allocated above with this layout, freed once.
            unsafe { alloc::alloc::dealloc(p, layout) };
        }
        Ok(())
    }
);

ktest!(heap_memory_is_returned_on_free, async {
    let before = crate::mm::heap::bytes_in_use();
    let v: Vec<u64> = (0..100_000).collect();
    kcheck!(
        crate::mm::heap::bytes_in_use() >= before + 800_000,
        "a 800 KB vector is not counted"
    );
    drop(v);
    // Other CPUs and background tasks (the network actor, timers) allocate and
    // free meanwhile, so equality would be a race: allow them 64 KiB, far below
    // the 800 KB that a lost free would leave behind.
    let after = crate::mm::heap::bytes_in_use();
    kcheck!(
        after <= before + 64 * 1024,
        "heap use did not return to {before} (now {after})"
    );
    Ok(())
});

ktest!(page_mapping_and_unmapping, async {
    let table = kernel_table();
    let va = 0xffff_c07f_0000_0000u64;
    let pa = frame::alloc_zeroed().ok_or("no frame")?;
    table
        .map(
            va,
            pa,
            PageSize::Size4K,
            PteFlags::WRITABLE | PteFlags::NO_EXECUTE,
        )
        .map_err(|e| alloc::format!("map failed: {e:?}"))?;
    // SAFETY: `va` was just mapped to a frame this test owns.
    unsafe { (va as *mut u64).write_volatile(0x4b65_7374_7265_6c21) };
    // SAFETY: the same frame through the direct map.
    let seen = unsafe { (phys_to_virt(pa) as *const u64).read_volatile() };
    kcheck!(
        seen == 0x4b65_7374_7265_6c21,
        "write through the new mapping not visible in the direct map"
    );
    kcheck!(
        table.translate(va + 8).map(|t| t.0) == Some(pa + 8),
        "translate gave the wrong address"
    );
    kcheck!(
        table.unmap(va).map(|t| t.0) == Some(pa),
        "unmap returned the wrong frame"
    );
    kcheck!(
        table.translate(va).is_none(),
        "page still mapped after unmap"
    );
    let mut byte = 0u8;
    // SAFETY: reading into a local; the source is unmapped, so the copy must fault.
    let r = unsafe { usercopy::copy(&mut byte, va as *const u8, 1) };
    kcheck!(
        matches!(r, Err(f) if f.addr == va && f.done == 0),
        "read of unmapped page gave {r:?}"
    );
    frame::free(pa, 0);
    Ok(())
});

ktest!(kernel_text_is_read_only_and_data_is_not_executable, async {
    let text = page_mapping_and_unmapping_marker as *const () as u64;
    let (_, flags) = kernel_table()
        .translate(text)
        .ok_or("kernel text not mapped")?;
    kcheck!(
        !flags.contains(PteFlags::WRITABLE),
        "kernel text is writable"
    );
    kcheck!(
        !flags.contains(PteFlags::NO_EXECUTE),
        "kernel text is not executable"
    );
    static DATA: AtomicUsize = AtomicUsize::new(0);
    let (_, flags) = kernel_table()
        .translate(&DATA as *const _ as u64)
        .ok_or("kernel data not mapped")?;
    if cpu::features().nx {
        kcheck!(
            flags.contains(PteFlags::NO_EXECUTE),
            "kernel data is executable"
        );
    }
    Ok(())
});

fn page_mapping_and_unmapping_marker() {}

ktest!(
    copy_stops_at_the_faulting_byte_in_the_middle_of_a_buffer,
    async {
        let table = kernel_table();
        let va = 0xffff_c07f_0001_0000u64;
        let pa = frame::alloc_zeroed().ok_or("no frame")?;
        table
            .map(
                va,
                pa,
                PageSize::Size4K,
                PteFlags::WRITABLE | PteFlags::NO_EXECUTE,
            )
            .map_err(|_| "map failed")?;
        // Copy 100 bytes starting 40 bytes before the end of the mapped page.
        let mut buf = [0u8; 100];
        let src = va + PAGE_SIZE as u64 - 40;
        // SAFETY: the source is 40 mapped bytes followed by an unmapped page.
        let r = unsafe { usercopy::copy(buf.as_mut_ptr(), src as *const u8, 100) };
        table.unmap(va);
        frame::free(pa, 0);
        kcheck!(
            r == Err(usercopy::Fault {
                done: 40,
                addr: va + PAGE_SIZE as u64
            }),
            "got {r:?}"
        );
        Ok(())
    }
);

ktest!(
    non_canonical_access_is_caught_as_general_protection,
    async {
        let mut byte = 0u8;
        // SAFETY: the source is non-canonical; the copy must fault (#GP) and stop.
        let r = unsafe { usercopy::copy(&mut byte, 0x8000_0000_0000_0000u64 as *const u8, 1) };
        kcheck!(
            matches!(r, Err(f) if f.done == 0),
            "non-canonical read gave {r:?}"
        );
        Ok(())
    }
);

ktest!(
    huge_pool_hands_out_aligned_blocks_only_once_nothing_maps_them,
    async {
        use crate::mm::huge;
        if huge::counts() != (0, 0, 0, 0) {
            return Ok(()); // someone sized the pool already: the counts below assume 0
        }
        huge::set_nr(2);
        kcheck!(
            huge::counts() == (2, 2, 0, 0) && huge::nr() == 2,
            "pool of 2: counts {:?}",
            huge::counts()
        );
        let blocks = huge::take(2).ok_or("no 2 blocks from a pool of 2")?;
        for &pa in &blocks {
            kcheck!(
                pa.is_multiple_of(huge::HPAGE_SIZE),
                "block {pa:#x} not 2 MiB aligned"
            );
        }
        kcheck!(huge::take(1).is_none(), "a third block from a pool of 2");
        // A page table still maps a frame of the first block when both come back.
        let held = huge::frame_of(blocks[0], 7);
        huge::give(blocks.iter().copied());
        kcheck!(huge::counts().1 == 2, "both blocks free again");
        kcheck!(
            huge::take(2).is_none(),
            "a block still mapped was handed out again"
        );
        let one = huge::take(1).ok_or("the idle block is not handed out")?;
        kcheck!(one[0] == blocks[1], "handed out the mapped block");
        huge::give(one);
        // Shrinking while the first block is mapped: it stays, as surplus.
        huge::set_nr(0);
        kcheck!(
            huge::counts() == (1, 1, 0, 1),
            "shrunk with a mapped block: counts {:?}",
            huge::counts()
        );
        frame::meta(held)
            .refcount
            .fetch_sub(1, core::sync::atomic::Ordering::AcqRel);
        huge::set_nr(0);
        kcheck!(
            huge::counts() == (0, 0, 0, 0),
            "pool not empty after the last mapping went: {:?}",
            huge::counts()
        );
        Ok(())
    }
);
