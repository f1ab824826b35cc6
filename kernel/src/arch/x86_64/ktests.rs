//! In-kernel tests of the CPU layer: exceptions taken and resumed in kernel mode,
//! the FPU state new threads start with, the timer armed only ever earlier (see
//! `boot::ktest`).

use core::sync::atomic::Ordering;

use crate::arch::percpu::this_cpu;
use crate::{kcheck, ktest};

ktest!(breakpoint_exception_is_caught_and_resumed, async {
    let before = this_cpu().kernel_breakpoints.load(Ordering::Relaxed);
    // SAFETY: int3 traps to the kernel handler, which counts it and returns.
    unsafe { core::arch::asm!("int3") };
    let after = this_cpu().kernel_breakpoints.load(Ordering::Relaxed);
    kcheck!(
        after == before + 1,
        "breakpoint count went from {before} to {after}"
    );
    Ok(())
});

ktest!(new_threads_start_with_linux_initial_fpu_state, async {
    let s = crate::arch::fpu::FpuState::initial();
    kcheck!(
        s.mxcsr() == 0x1f80,
        "initial MXCSR is {:#x}, Linux uses 0x1f80",
        s.mxcsr()
    );
    // Kept compactly: every chunk is the initial state's, so the block is
    // its header (the mask and the version) alone.
    kcheck!(
        s.heap_bytes() <= 16,
        "the initial FPU state keeps {} bytes",
        s.heap_bytes()
    );
    Ok(())
});

ktest!(
    a_compact_fpu_state_gives_back_the_image_it_was_made_from,
    async {
        use crate::arch::fpu::{FpuState, image_size};
        let mut image = FpuState::initial().image();
        kcheck!(
            image.len() == image_size(),
            "image of {} bytes",
            image.len()
        );
        // ST1's 80 bits, XMM3 and XMM15 non-zero, the rest as it was.
        image[48..58].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0x40]);
        image[160 + 3 * 16..160 + 4 * 16].fill(0xa5);
        image[160 + 15 * 16] = 7;
        let s = FpuState::from_user(&image).ok_or("from_user refused the image")?;
        kcheck!(s.image() == image, "the image came back changed");
        kcheck!(s.clone().image() == image, "a clone's image differs");
        kcheck!(
            s.heap_bytes() <= 128,
            "{} bytes kept for 3 non-zero registers",
            s.heap_bytes()
        );
        Ok(())
    }
);

ktest!(
    a_shootdown_reaches_the_cpu_that_has_the_table_loaded,
    async {
        use crate::arch::percpu;
        use crate::task;

        if percpu::online() < 2 {
            return Ok(());
        }
        // Shot from CPU 0 (pinned, so CPU 1 cannot steal the test) at CPU 1.
        task::spawn_on("shooter", 1, shoot_at_cpu_1()).await
    }
);

async fn shoot_at_cpu_1() -> Result<(), alloc::string::String> {
    use alloc::sync::Arc;
    use core::sync::atomic::AtomicBool;

    use crate::arch::percpu;
    use crate::mm::vm::AddressSpace;
    use crate::task;

    let other = 1;
    let space = AddressSpace::new().map_err(|e| alloc::format!("{e:?}"))?;
    let root = space.root();
    let (loaded, release) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (s, l, r) = (space.clone(), loaded.clone(), release.clone());
    // The other CPU loads the table and keeps it loaded while it waits (a CPU keeps
    // the last user table until it needs another).
    let holder = task::spawn_on("holder", 1 << other, async move {
        s.activate();
        l.store(true, Ordering::SeqCst);
        while !r.load(Ordering::SeqCst) {
            task::sleep(1_000_000).await;
        }
    });
    while !loaded.load(Ordering::SeqCst) {
        task::sleep(1_000_000).await;
    }
    let area = percpu::cpu(other).ok_or("other CPU has no per-CPU area")?;
    kcheck!(
        super::tlb::others_using(root) & (1 << other) != 0,
        "CPU {other} loaded the table but is not counted as using it"
    );
    let before = area.shootdowns.load(Ordering::SeqCst);
    super::tlb::shootdown(root, false);
    kcheck!(
        area.shootdowns.load(Ordering::SeqCst) == before + 1,
        "CPU {other} did not answer the shootdown"
    );
    kcheck!(
        area.active_root.load(Ordering::SeqCst) == root,
        "a flush must not switch tables"
    );
    release.store(true, Ordering::SeqCst);
    holder.await;
    // The last reference gone, the table is freed: the other CPU must leave it first.
    drop(space);
    kcheck!(
        area.active_root.load(Ordering::SeqCst) != root,
        "CPU {other} still has a freed page table loaded"
    );
    Ok(())
}

ktest!(
    the_timer_is_armed_again_only_for_an_earlier_deadline,
    async {
        use crate::arch::{apic, cpu};
        // Interrupts off: no timer interrupt (which forgets the armed deadline)
        // between the steps. Deadlines a second and more away, so none fires.
        cpu::disable_interrupts();
        let now = crate::time::now_ns();
        let before = apic::armed_deadline();
        let far = now + 3_000_000_000;
        apic::arm_at(far, now);
        let first = apic::armed_deadline();
        apic::arm_at(far + 1_000_000_000, now);
        let later = apic::armed_deadline();
        apic::arm_at(far - 1_000_000_000, now);
        let earlier = apic::armed_deadline();
        // (Left armed 2 s ahead at most: that interrupt finds nothing due.)
        cpu::enable_interrupts();
        kcheck!(
            first == before.min(far),
            "armed {first} after arming {far} over {before}"
        );
        kcheck!(
            later == first,
            "a later deadline moved the timer from {first} to {later}"
        );
        kcheck!(
            earlier == (far - 1_000_000_000).min(first),
            "an earlier deadline left the timer at {earlier}"
        );
        Ok(())
    }
);
