//! PCI for the driver kit: configuration space through ECAM (the ACPI MCFG's
//! windows) or, without one, the 0xcf8/0xcfc ports; and [`Function`], the
//! kernel's `PciFunction` that a probe gets: BARs mapped on request, bus
//! mastering, MSI-X or MSI vectors wired to the interrupt registry.
//!
//! Legacy INTx lines are not routed (that needs the ACPI _PRT, i.e. an AML
//! interpreter): a function without MSI-X or MSI gets `ProbeError::NoInterrupt`.
//! Every virtio device QEMU offers has MSI-X.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use kestrel_driver_kit::pci::{
    self, Bar, ConfigSpace, PciAddress, PciFunction, PciId, cfg, command, msix,
};
use kestrel_driver_kit::{Irq, ProbeError, Registers};

use crate::arch::acpi::EcamRegion;
use crate::arch::mmio::{Mmio, Ports};
pub use crate::arch::port::PciConfigPorts as PortConfig;
use crate::arch::{irq, percpu};

/// Configuration space through ECAM windows.
pub struct Ecam {
    windows: Vec<(EcamRegion, Mmio)>,
}

impl Ecam {
    /// Maps the configuration windows of `regions` (those that fail to map are
    /// skipped with a warning).
    pub fn new(regions: &[EcamRegion]) -> Self {
        let windows = regions
            .iter()
            .filter_map(|r| {
                let buses = u64::from(r.end_bus - r.start_bus) + 1;
                let start = r.base + (u64::from(r.start_bus) << 20);
                let m = Mmio::map(start, buses << 20);
                if m.is_none() {
                    log::warn!("pci: cannot map the ECAM window at {start:#x}");
                }
                Some((*r, m?))
            })
            .collect();
        Self { windows }
    }

    /// The window and offset of configuration dword `offset` of `at`.
    fn find(&self, at: PciAddress, offset: u16) -> Option<(&Mmio, usize)> {
        if offset >= 4096 {
            return None;
        }
        self.windows.iter().find_map(|(r, m)| {
            (r.segment == at.segment && (r.start_bus..=r.end_bus).contains(&at.bus)).then(|| {
                let o = usize::from(at.bus - r.start_bus) << 20
                    | usize::from(at.device & 31) << 15
                    | usize::from(at.function & 7) << 12
                    | usize::from(offset & !3);
                (m, o)
            })
        })
    }

    /// The (segment, buses) the windows cover.
    pub fn ranges(&self) -> Vec<(u16, core::ops::RangeInclusive<u8>)> {
        self.windows
            .iter()
            .map(|(r, _)| (r.segment, r.start_bus..=r.end_bus))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

impl ConfigSpace for Ecam {
    fn read32(&self, at: PciAddress, offset: u16) -> u32 {
        self.find(at, offset).map_or(!0, |(m, o)| m.read32(o))
    }
    fn write32(&self, at: PciAddress, offset: u16, value: u32) {
        if let Some((m, o)) = self.find(at, offset) {
            m.write32(o, value);
        }
    }
}

/// One PCI function as the kernel hands it to a driver.
pub struct Function {
    cs: &'static dyn ConfigSpace,
    addr: PciAddress,
    id: PciId,
    bars: [Option<Bar>; 6],
    /// The driver being probed, for the interrupt sources' names.
    driver: spin::Mutex<&'static str>,
    /// Interrupt vectors given out: (vector, CPU).
    pub vectors: spin::Mutex<Vec<(u8, u8)>>,
}

impl Function {
    /// The function at `addr`, its BARs sized now (before any driver touches it).
    pub fn new(cs: &'static dyn ConfigSpace, addr: PciAddress, id: PciId) -> Self {
        let mut bars = [None; 6];
        let mut i = 0u8;
        while i < 6 {
            bars[usize::from(i)] = pci::size_bar(cs, addr, i);
            // A 64-bit BAR uses the next slot too.
            i += if matches!(bars[usize::from(i)], Some(Bar::Memory { wide: true, .. })) {
                2
            } else {
                1
            };
        }
        Self {
            cs,
            addr,
            id,
            bars,
            driver: spin::Mutex::new("pci"),
            vectors: spin::Mutex::new(Vec::new()),
        }
    }

    /// Places every BAR the firmware left unassigned (address 0) with `space`,
    /// then sizes the BARs again. Only functions on bus 0: one behind a bridge
    /// would also need the bridge's windows set.
    pub fn assign(&mut self, space: &mut AddressSpace) {
        if self.addr.bus != 0 {
            return;
        }
        let mut changed = false;
        for i in 0..6u8 {
            let off = cfg::BAR0 + u16::from(i) * 4;
            match self.bars[usize::from(i)] {
                Some(Bar::Memory {
                    addr: 0,
                    size,
                    wide,
                    ..
                }) => match space.memory(size) {
                    Some(at) => {
                        self.cs.write32(
                            self.addr,
                            off,
                            at as u32 | (self.cs.read32(self.addr, off) & 0xf),
                        );
                        if wide {
                            self.cs.write32(self.addr, off + 4, (at >> 32) as u32);
                        }
                        changed = true;
                    }
                    None => log::warn!("pci {}: no room for BAR {i} ({size:#x} bytes)", self.addr),
                },
                Some(Bar::Io { port: 0, size }) => match space.io(size) {
                    Some(at) => {
                        self.cs.write32(self.addr, off, at | 1);
                        changed = true;
                    }
                    None => log::warn!("pci {}: no room for I/O BAR {i} ({size} ports)", self.addr),
                },
                _ => {}
            }
        }
        if changed {
            *self = Self::new(self.cs, self.addr, self.id);
        }
    }

    pub fn set_driver(&self, name: &'static str) {
        *self.driver.lock() = name;
    }

    /// The sized BARs (for the boot log and /sys).
    pub fn bars(&self) -> &[Option<Bar>; 6] {
        &self.bars
    }

    fn set_command(&self, bits: u16) {
        let c = pci::read16(self.cs, self.addr, cfg::COMMAND);
        pci::write16(self.cs, self.addr, cfg::COMMAND, c | bits);
    }

    /// A new interrupt source with its own vector, spread over the CPUs. Returns
    /// the source and the MSI address and data that raise it.
    fn vector(&self, n: usize) -> Result<(Arc<Irq>, u64, u32), ProbeError> {
        let irq = Arc::new(Irq::new(*self.driver.lock()));
        let cpu = (n % percpu::online()) as u8;
        let apic_id = percpu::cpu(usize::from(cpu))
            .map(|p| p.apic_id.load(Ordering::Relaxed))
            .unwrap_or(0);
        let vector = irq::alloc_device_vector(irq.clone(), cpu).ok_or(ProbeError::NoInterrupt)?;
        self.vectors.lock().push((vector, cpu));
        // Intel SDM vol. 3, 11.11: fixed delivery, edge, physical destination.
        Ok((
            irq,
            0xfee0_0000 | u64::from(apic_id & 0xff) << 12,
            u32::from(vector),
        ))
    }

    fn msix(&self, table: pci::MsiX, wanted: usize) -> Result<Vec<Arc<Irq>>, ProbeError> {
        let n = wanted.clamp(1, usize::from(table.table_size).min(32));
        let regs = self.map_bar(table.table_bar)?;
        let base = table.table_offset as usize;
        // Mask the whole function while the table is written.
        let control_at = table.cap + 2;
        let control = pci::read16(self.cs, self.addr, control_at);
        pci::write16(
            self.cs,
            self.addr,
            control_at,
            control | msix::ENABLE | msix::FUNCTION_MASK,
        );
        let mut irqs = Vec::with_capacity(n);
        for i in 0..n {
            let (irq, addr, data) = self.vector(i)?;
            let e = base + i * msix::ENTRY_SIZE;
            regs.write32(e, addr as u32);
            regs.write32(e + 4, (addr >> 32) as u32);
            regs.write32(e + 8, data);
            regs.write32(e + 12, 0); // unmasked
            irqs.push(irq);
        }
        self.set_command(command::INTX_DISABLE);
        pci::write16(
            self.cs,
            self.addr,
            control_at,
            (control | msix::ENABLE) & !msix::FUNCTION_MASK,
        );
        Ok(irqs)
    }

    fn msi(&self, cap: u16) -> Result<Vec<Arc<Irq>>, ProbeError> {
        let (irq, addr, data) = self.vector(0)?;
        let control = pci::read16(self.cs, self.addr, cap + 2);
        let wide = control & (1 << 7) != 0;
        self.cs.write32(self.addr, cap + 4, addr as u32);
        let data_at = if wide {
            self.cs.write32(self.addr, cap + 8, (addr >> 32) as u32);
            cap + 12
        } else {
            cap + 8
        };
        pci::write16(self.cs, self.addr, data_at, data as u16);
        self.set_command(command::INTX_DISABLE);
        // Enable, one message (multiple message enable = 0).
        pci::write16(self.cs, self.addr, cap + 2, (control & !(7 << 4)) | 1);
        Ok(alloc::vec![irq])
    }
}

impl PciFunction for Function {
    fn address(&self) -> PciAddress {
        self.addr
    }
    fn id(&self) -> PciId {
        self.id
    }
    fn config_read32(&self, offset: u16) -> u32 {
        self.cs.read32(self.addr, offset)
    }
    fn config_write32(&self, offset: u16, value: u32) {
        self.cs.write32(self.addr, offset, value)
    }
    fn bar(&self, index: u8) -> Option<Bar> {
        *self.bars.get(usize::from(index))?
    }
    fn map_bar(&self, index: u8) -> Result<Arc<dyn Registers>, ProbeError> {
        match self.bar(index) {
            Some(Bar::Memory { addr: 0, .. }) | Some(Bar::Io { port: 0, .. }) => {
                Err(ProbeError::Unsupported("BAR not assigned by the firmware"))
            }
            Some(Bar::Memory { addr, size, .. }) => {
                let m =
                    Mmio::map(addr, size).ok_or(ProbeError::Unsupported("BAR too large to map"))?;
                self.set_command(command::MEMORY_SPACE);
                Ok(Arc::new(m))
            }
            Some(Bar::Io { port, size }) => {
                let p = Ports::new(port, size)
                    .ok_or(ProbeError::Unsupported("I/O BAR out of range"))?;
                self.set_command(command::IO_SPACE);
                Ok(Arc::new(p))
            }
            None => Err(ProbeError::Unsupported("no such BAR")),
        }
    }
    fn enable_bus_master(&self) {
        self.set_command(command::BUS_MASTER);
    }
    fn interrupts(&self, wanted: usize) -> Result<Vec<Arc<Irq>>, ProbeError> {
        // An MSI is a memory write by the device: without bus mastering it never
        // arrives.
        self.set_command(command::BUS_MASTER);
        if let Some(table) = pci::msix(self.cs, self.addr) {
            return self.msix(table, wanted);
        }
        if let Some((cap, _)) = pci::capabilities(self.cs, self.addr)
            .into_iter()
            .find(|&(_, id)| id == pci::cap::MSI)
        {
            return self.msi(cap);
        }
        Err(ProbeError::NoInterrupt)
    }
}

/// Where BARs the firmware left unassigned go: a bump allocator over q35's PCI
/// memory hole above the ECAM window (0xc000_0000..0xfec0_0000, below the I/O
/// APIC) and I/O ports 0xc000..0x10000, skipping ranges already in use (BARs the
/// firmware did place, and any RAM the memory map reports there). Linux would
/// read the host bridge's _CRS; that needs an AML interpreter.
pub struct AddressSpace {
    mem_next: u64,
    mem_end: u64,
    io_next: u32,
    used: Vec<(u64, u64)>,
}

impl AddressSpace {
    pub fn new(used: Vec<(u64, u64)>) -> Self {
        Self {
            mem_next: 0xc000_0000,
            mem_end: 0xfec0_0000,
            io_next: 0xc000,
            used,
        }
    }

    /// `size` bytes of memory space, aligned to `size` (a power of two).
    pub fn memory(&mut self, size: u64) -> Option<u64> {
        if !size.is_power_of_two() {
            return None;
        }
        let mut at = self.mem_next.next_multiple_of(size);
        while at.checked_add(size)? <= self.mem_end {
            match self.used.iter().find(|&&(s, e)| at < e && s < at + size) {
                Some(&(_, e)) => at = e.next_multiple_of(size),
                None => {
                    self.mem_next = at + size;
                    self.used.push((at, at + size));
                    return Some(at);
                }
            }
        }
        None
    }

    /// `size` I/O ports, aligned to `size`.
    pub fn io(&mut self, size: u32) -> Option<u32> {
        if !size.is_power_of_two() {
            return None;
        }
        let at = self.io_next.next_multiple_of(size);
        let end = at.checked_add(size)?;
        (end <= 0x1_0000).then(|| {
            self.io_next = end;
            at
        })
    }
}
