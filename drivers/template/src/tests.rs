//! The driver against a fake edu: the kit's FakePci and FakeRegisters, with a
//! write hook that plays the device (it computes, moves memory, and fires the
//! interrupt at once, inside the write that started the work).

use alloc::sync::{Arc, Weak};
use core::pin::pin;
use core::task::Poll;

use kestrel_driver_kit::fake::{FakeDma, FakeHost, FakePci, FakeRegisters, poll_once};
use kestrel_driver_kit::{Driver, Host, IoError, PciId, ProbeError};

use super::{Edu, EduDriver, reg};

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn set_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// How the fake misbehaves.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// The liveness register reads back what was written, not its inverse.
    dead_liveness: bool,
    /// The device never interrupts.
    silent: bool,
    /// The device interrupts, but says it was for DMA.
    wrong_bit: bool,
}

/// An edu function with its BAR and the host it reaches memory through.
fn fake_edu(host: &Arc<FakeHost>, faults: Faults) -> (Arc<FakePci>, Arc<FakeRegisters>) {
    let id = PciId {
        vendor: 0x1234,
        device: 0x11e8,
        revision: 0x10,
        class: 0xff,
        ..PciId::default()
    };
    let pci = FakePci::new(id, 0);
    let regs = FakeRegisters::new(1 << 20);
    regs.poke(reg::ID, &0x0100_00edu32.to_le_bytes());
    let weak: Weak<FakePci> = Arc::downgrade(&pci);
    let dma: Arc<FakeDma> = host.dma.clone();
    // Buffers where edu reaches them (below 256 MiB).
    dma.place_next_at(0x10_0000);
    let mut buffer = [0u8; 4096];
    // The device's side: what edu does after each register write.
    regs.on_write(move |offset, value, r| {
        let value = value as u32;
        let mut raise = 0;
        match offset {
            reg::LIVENESS if !faults.dead_liveness => set_u32(r, reg::LIVENESS, !value),
            reg::STATUS => set_u32(r, reg::STATUS, value & reg::STATUS_IRQ_FACTORIAL),
            reg::FACTORIAL => {
                set_u32(r, reg::FACTORIAL, (1..=value).product());
                if u32_at(r, reg::STATUS) & reg::STATUS_IRQ_FACTORIAL != 0 {
                    raise = reg::IRQ_FACTORIAL;
                }
            }
            reg::IRQ_ACK => {
                let left = u32_at(r, reg::IRQ_STATUS) & !value;
                set_u32(r, reg::IRQ_STATUS, left);
            }
            reg::DMA_CMD if value & reg::DMA_START != 0 => {
                let (src, dst) = (u32_at(r, reg::DMA_SRC), u32_at(r, reg::DMA_DST));
                let n = u32_at(r, reg::DMA_COUNT) as usize;
                if value & reg::DMA_TO_RAM != 0 {
                    let at = (src - 0x4_0000) as usize;
                    assert!(dma.write_at(u64::from(dst), &buffer[at..at + n]));
                } else {
                    let at = (dst - 0x4_0000) as usize;
                    let data = dma.read_at(u64::from(src), n).expect("a wild DMA read");
                    buffer[at..at + n].copy_from_slice(&data);
                }
                if value & reg::DMA_IRQ != 0 {
                    raise = reg::IRQ_DMA;
                }
            }
            _ => {}
        }
        if faults.wrong_bit && raise != 0 {
            raise = reg::IRQ_DMA;
        }
        if raise != 0 && !faults.silent {
            set_u32(r, reg::IRQ_STATUS, u32_at(r, reg::IRQ_STATUS) | raise);
            if let Some(pci) = weak.upgrade() {
                pci.irqs.lock()[0].fire();
            }
        }
    });
    pci.set_bar(0, regs.clone());
    (pci, regs)
}

fn probe(host: &Arc<FakeHost>, pci: &Arc<FakePci>) -> Result<(), ProbeError> {
    let h: Arc<dyn Host> = host.clone();
    EduDriver.probe(pci.clone(), h)
}

#[test]
fn matches_the_edu_device_only() {
    let id = |vendor, device| PciId {
        vendor,
        device,
        ..PciId::default()
    };
    assert!(EduDriver.matches(&id(0x1234, 0x11e8)));
    assert!(!EduDriver.matches(&id(0x1234, 0x1111)), "QEMU's VGA");
    assert!(!EduDriver.matches(&id(0x1af4, 0x11e8)));
}

#[test]
fn probe_spawns_a_task_that_computes_5_factorial_by_interrupt() {
    let host = FakeHost::new();
    let (pci, regs) = fake_edu(&host, Faults::default());
    probe(&host, &pci).expect("probe");
    assert!(pci.bus_master.load(core::sync::atomic::Ordering::SeqCst));
    host.run(4);
    assert!(host.tasks.lock().is_empty(), "the demo task finished");
    assert_eq!(u32_at(&regs.peek(0, 0x100), reg::FACTORIAL), 120);
    assert_eq!(pci.irqs.lock()[0].count(), 3, "a factorial and two DMAs");
    assert_eq!(regs.peek(reg::IRQ_STATUS, 4), [0; 4], "all acknowledged");
    assert_eq!(host.dma.live(), 0, "the DMA buffer was freed");
}

#[test]
fn a_device_that_does_not_identify_or_answer_is_refused() {
    let host = FakeHost::new();
    let (pci, regs) = fake_edu(&host, Faults::default());
    regs.poke(reg::ID, &0xffff_ffffu32.to_le_bytes());
    assert!(matches!(probe(&host, &pci), Err(ProbeError::Device(_))));
    let (pci, _) = fake_edu(
        &host,
        Faults {
            dead_liveness: true,
            ..Faults::default()
        },
    );
    assert!(matches!(probe(&host, &pci), Err(ProbeError::Device(_))));
    assert!(host.tasks.lock().is_empty(), "nothing spawned");
}

#[test]
fn factorials_come_back_and_large_ones_are_refused() {
    let host = FakeHost::new();
    let (pci, _) = fake_edu(&host, Faults::default());
    let edu = Edu::new(pci.clone(), host.clone()).unwrap();
    let mut f = pin!(edu.factorial(12));
    assert_eq!(poll_once(&mut f), Poll::Ready(Ok(479_001_600)));
    let mut f = pin!(edu.factorial(13));
    assert_eq!(poll_once(&mut f), Poll::Ready(Err(IoError::OutOfRange)));
}

#[test]
fn dma_copies_through_the_device_and_back() {
    let host = FakeHost::new();
    let (pci, _) = fake_edu(&host, Faults::default());
    let edu = Edu::new(pci.clone(), host.clone()).unwrap();
    let data: [u8; 64] = core::array::from_fn(|i| i as u8);
    let mut f = pin!(edu.dma_round_trip(&data));
    assert_eq!(poll_once(&mut f), Poll::Ready(Ok(Some(data.to_vec()))));
    let mut f = pin!(edu.dma_round_trip(&[0; 2049]));
    assert_eq!(poll_once(&mut f), Poll::Ready(Err(IoError::OutOfRange)));
}

#[test]
fn a_silent_device_times_out_and_keeps_its_dma_buffer() {
    let host = FakeHost::new();
    let (pci, _) = fake_edu(
        &host,
        Faults {
            silent: true,
            ..Faults::default()
        },
    );
    let edu = Edu::new(pci.clone(), host.clone()).unwrap();
    // Fake time does not pass, and a fake sleep is over at once: the first
    // wait that is not answered at once times out.
    let mut f = pin!(edu.factorial(5));
    assert_eq!(poll_once(&mut f), Poll::Ready(Err(IoError::Timeout)));
    let mut f = pin!(edu.dma_round_trip(&[1; 8]));
    assert_eq!(poll_once(&mut f), Poll::Ready(Err(IoError::Timeout)));
    assert_eq!(
        host.dma.live(),
        1,
        "the device may still write the buffer: it is not freed"
    );
}

#[test]
fn an_interrupt_that_is_not_ours_does_not_end_the_wait() {
    let host = FakeHost::new();
    let (pci, regs) = fake_edu(
        &host,
        Faults {
            wrong_bit: true,
            ..Faults::default()
        },
    );
    let edu = Edu::new(pci.clone(), host.clone()).unwrap();
    let mut f = pin!(edu.factorial(5));
    assert_eq!(poll_once(&mut f), Poll::Ready(Err(IoError::Timeout)));
    assert_eq!(pci.irqs.lock()[0].count(), 1, "it did interrupt");
    assert_eq!(
        regs.peek(reg::IRQ_STATUS, 4),
        reg::IRQ_DMA.to_le_bytes(),
        "a bit the wait was not for is left alone"
    );
}

#[test]
fn dma_out_of_the_devices_reach_is_skipped() {
    let host = FakeHost::new();
    let (pci, regs) = fake_edu(&host, Faults::default());
    host.dma.place_next_at(1 << 28);
    let edu = Edu::new(pci.clone(), host.clone()).unwrap();
    let mut f = pin!(edu.dma_round_trip(&[1; 8]));
    assert_eq!(poll_once(&mut f), Poll::Ready(Ok(None)));
    assert_eq!(
        regs.peek(reg::DMA_CMD, 4),
        [0; 4],
        "the device was not asked"
    );
}
