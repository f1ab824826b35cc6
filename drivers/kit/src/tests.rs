//! Host tests of the kit itself: interrupt tickets, register windows, and the PCI
//! configuration-space logic against a fake bus.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::task::Poll;

use crate::fake::{self, FakeRegisters};
use crate::pci::{self, Bar, ConfigSpace, PciAddress};
use crate::regs::{Registers, Window};
use crate::{DmaAllocator, Irq};

#[test]
fn an_interrupt_after_the_ticket_but_before_the_await_is_not_lost() {
    let irq = Irq::new("t");
    let mut ticket = irq.ticket();
    irq.fire();
    assert_eq!(fake::poll_once(&mut ticket), Poll::Ready(()));
}

#[test]
fn a_ticket_waits_for_an_interrupt_after_it_was_taken() {
    let irq = Irq::new("t");
    irq.fire();
    let mut ticket = irq.ticket();
    assert_eq!(fake::poll_once(&mut ticket), Poll::Pending);
    irq.fire();
    assert_eq!(fake::poll_once(&mut ticket), Poll::Ready(()));
    assert_eq!(irq.count(), 2);
}

#[test]
fn a_window_clips_accesses_to_its_range() {
    let regs = FakeRegisters::new(64);
    regs.poke(16, &[1, 2, 3, 4]);
    let inner: Arc<dyn Registers> = regs.clone();
    let w = Window::new(inner, 16, 8);
    assert_eq!(w.len(), 8);
    assert_eq!(w.read32(0), 0x0403_0201);
    assert_eq!(w.read32(6), !0, "straddles the end");
    assert_eq!(w.read8(usize::MAX), !0, "overflowing offset");
    w.write32(8, 0xdead_beef);
    assert_eq!(
        regs.peek(24, 4),
        vec![0; 4],
        "write past the window ignored"
    );
    // A window larger than what it sits in is cut to it.
    let inner: Arc<dyn Registers> = regs.clone();
    assert_eq!(Window::new(inner, 60, 100).len(), 4);
}

#[test]
fn a_read_hook_can_clear_a_read_to_clear_register() {
    let regs = FakeRegisters::new(8);
    regs.poke(4, &[3]);
    regs.on_read(|offset, _, bytes| {
        if offset == 4 {
            bytes[4] = 0;
        }
    });
    assert_eq!(regs.read8(4), 3);
    assert_eq!(regs.read8(4), 0, "the first read cleared it");
    assert_eq!(regs.read8(0), 0);
}

#[test]
fn dma_buffer_accesses_past_the_end_are_clipped() {
    let dma = fake::FakeDma::new();
    let alloc = fake::FakeDmaAllocator(dma.clone());
    let b = alloc.alloc(100).unwrap();
    assert_eq!(b.len(), 4096);
    assert_eq!(b.write(4090, &[7; 10]), 6);
    let mut out = [0; 10];
    assert_eq!(b.read(4090, &mut out), 6);
    assert_eq!(&out[..6], &[7; 6]);
    assert_eq!(b.read_u32(4094), 0, "straddling u32 reads as 0");
    b.write_u16(4095, 1); // misaligned: ignored
    assert!(dma.read_at(b.device_addr() + 4090, 6).is_some());
    assert!(
        dma.read_at(b.device_addr() + 4090, 7).is_none(),
        "wild read"
    );
    drop(b);
    assert_eq!(dma.live(), 0);
    assert_eq!(alloc.alloc(0).err(), Some(crate::DmaError::BadSize));
}

/// One function of a [`FakeBus`]: its address, config dwords, BAR size masks.
type FakeFunction = (PciAddress, Vec<u32>, [u32; 6]);

/// A bus of type-0 functions, each a 256-byte config space; BARs answer the
/// sizing protocol with the masks given.
struct FakeBus {
    functions: spin::Mutex<Vec<FakeFunction>>,
}

impl FakeBus {
    fn new() -> Self {
        Self {
            functions: spin::Mutex::new(Vec::new()),
        }
    }

    fn add(&self, at: PciAddress, vendor: u16, device: u16, header: u8, bars: [(u32, u32); 6]) {
        let mut cfg = vec![0u32; 64];
        cfg[0] = u32::from(device) << 16 | u32::from(vendor);
        cfg[3] = u32::from(header) << 16;
        let mut masks = [0; 6];
        for (i, (value, mask)) in bars.into_iter().enumerate() {
            cfg[4 + i] = value;
            masks[i] = mask;
        }
        self.functions.lock().push((at, cfg, masks));
    }
}

impl ConfigSpace for FakeBus {
    fn read32(&self, at: PciAddress, offset: u16) -> u32 {
        let f = self.functions.lock();
        f.iter()
            .find(|(a, ..)| *a == at)
            .map_or(!0, |(_, cfg, _)| cfg[usize::from(offset / 4)])
    }
    fn write32(&self, at: PciAddress, offset: u16, value: u32) {
        let mut f = self.functions.lock();
        if let Some((_, cfg, masks)) = f.iter_mut().find(|(a, ..)| *a == at) {
            let i = usize::from(offset / 4);
            cfg[i] = if (4..10).contains(&i) && value == !0 {
                // Sizing: the writable bits read back, the type bits stay.
                let old = cfg[i];
                masks[i - 4] | (old & if old & 1 == 1 { 3 } else { 0xf })
            } else {
                value
            };
        }
    }
}

fn at(bus: u8, device: u8, function: u8) -> PciAddress {
    PciAddress {
        segment: 0,
        bus,
        device,
        function,
    }
}

#[test]
fn enumeration_finds_functions_and_the_other_functions_of_multifunction_devices() {
    let bus = FakeBus::new();
    let none = [(0, 0); 6];
    bus.add(at(0, 0, 0), 0x8086, 0x29c0, 0, none);
    bus.add(at(0, 3, 0), 0x1af4, 0x1041, 0x80, none);
    bus.add(at(0, 3, 2), 0x1af4, 0x1042, 0, none);
    // Function 1 of a single-function device is not looked at.
    bus.add(at(0, 0, 1), 0x1234, 0x1111, 0, none);
    bus.add(at(1, 0, 0), 0x1b36, 0x000d, 0, none);
    let found: Vec<_> = pci::enumerate(&bus, 0, 0..=1)
        .into_iter()
        .map(|(a, id)| (a, id.device))
        .collect();
    assert_eq!(
        found,
        vec![
            (at(0, 0, 0), 0x29c0),
            (at(0, 3, 0), 0x1041),
            (at(0, 3, 2), 0x1042),
            (at(1, 0, 0), 0x000d),
        ]
    );
}

#[test]
fn bars_decode_and_size_32_64_bit_memory_and_io() {
    let bus = FakeBus::new();
    bus.add(
        at(0, 1, 0),
        0x1af4,
        0x1041,
        0,
        [
            (0x0000_c001, 0xffff_ffe0), // I/O, 32 ports at 0xc000
            (0xfebd_1000, 0xffff_f000), // 32-bit memory, 4 KiB
            (0xfe00_000c, 0xffff_c000), // 64-bit prefetchable, 16 KiB...
            (0x0000_0001, 0xffff_ffff), // ...its upper half: at 0x1_fe00_0000
            (0, 0),                     // unimplemented
            (0, 0),
        ],
    );
    let f = at(0, 1, 0);
    assert_eq!(
        pci::size_bar(&bus, f, 0),
        Some(Bar::Io {
            port: 0xc000,
            size: 32
        })
    );
    assert_eq!(
        pci::size_bar(&bus, f, 1),
        Some(Bar::Memory {
            addr: 0xfebd_1000,
            size: 0x1000,
            wide: false,
            prefetchable: false
        })
    );
    assert_eq!(
        pci::size_bar(&bus, f, 2),
        Some(Bar::Memory {
            addr: 0x1_fe00_0000,
            size: 0x4000,
            wide: true,
            prefetchable: true
        })
    );
    assert_eq!(pci::size_bar(&bus, f, 4), None);
    assert_eq!(pci::size_bar(&bus, f, 6), None);
    // Sizing put the values back.
    assert_eq!(bus.read32(f, 0x14), 0xfebd_1000);
    assert_eq!(bus.read32(f, 0x1c), 0x0000_0001);
}

#[test]
fn a_capability_list_that_loops_ends() {
    let bus = FakeBus::new();
    bus.add(at(0, 2, 0), 0x1af4, 0x1041, 0, [(0, 0); 6]);
    {
        let mut f = bus.functions.lock();
        let cfg = &mut f[0].1;
        cfg[1] |= 1 << 20; // status: capabilities
        cfg[0x34 / 4] = 0x40;
        cfg[0x40 / 4] = 0x50 << 8 | 0x11; // MSI-X -> 0x50
        cfg[0x44 / 4] = 0x2000_0003; // table: BAR 3, offset 0x2000_0000
        cfg[0x50 / 4] = 0x40 << 8 | 0x09; // vendor -> back to 0x40
    }
    let caps = pci::capabilities(&bus, at(0, 2, 0));
    assert_eq!(caps, vec![(0x40, 0x11), (0x50, 0x09)]);
    let m = pci::msix(&bus, at(0, 2, 0)).unwrap();
    assert_eq!(m.table_bar, 3);
    assert_eq!(m.table_offset, 0x2000_0000);
}
