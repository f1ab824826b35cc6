//! PCI: the configuration header, BARs, capabilities, MSI-X, and bus enumeration,
//! over a [`ConfigSpace`] the kernel implements (ECAM or the 0xcf8 ports) and a
//! fake implements for tests.
//!
//! A driver sees one function through [`PciFunction`]; the kernel enumerates
//! with [`enumerate`] and sizes BARs with [`size_bar`]. Offsets and bits follow the
//! PCI Local Bus Specification 3.0 (type 0 header) and PCI Express Base 4.0
//! (MSI-X, ECAM).

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::device::ProbeError;
use crate::irq::Irq;
use crate::regs::Registers;

/// Configuration header offsets.
pub mod cfg {
    pub const VENDOR_ID: u16 = 0x00;
    pub const DEVICE_ID: u16 = 0x02;
    pub const COMMAND: u16 = 0x04;
    pub const STATUS: u16 = 0x06;
    pub const REVISION: u16 = 0x08;
    pub const HEADER_TYPE: u16 = 0x0e;
    pub const BAR0: u16 = 0x10;
    pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2c;
    pub const SUBSYSTEM_ID: u16 = 0x2e;
    pub const CAPABILITIES: u16 = 0x34;
    pub const INTERRUPT_LINE: u16 = 0x3c;
    pub const INTERRUPT_PIN: u16 = 0x3d;
}

/// Command register bits.
pub mod command {
    pub const IO_SPACE: u16 = 1 << 0;
    pub const MEMORY_SPACE: u16 = 1 << 1;
    pub const BUS_MASTER: u16 = 1 << 2;
    pub const INTX_DISABLE: u16 = 1 << 10;
}

/// Status register: the function has a capabilities list.
const STATUS_CAPABILITIES: u16 = 1 << 4;

/// Capability IDs.
pub mod cap {
    pub const MSI: u8 = 0x05;
    pub const VENDOR: u8 = 0x09;
    pub const PCIE: u8 = 0x10;
    pub const MSIX: u8 = 0x11;
}

/// Where a function sits: segment (ECAM region), bus, device, function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    pub segment: u16,
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl core::fmt::Display for PciAddress {
    /// As lspci and /sys/bus/pci/devices name it: `0000:00:03.0`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            self.segment, self.bus, self.device, self.function
        )
    }
}

/// What a function is: the IDs drivers match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PciId {
    pub vendor: u16,
    pub device: u16,
    pub subsystem_vendor: u16,
    pub subsystem: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub revision: u8,
}

impl PciId {
    /// The 24-bit class code as /sys shows it (`0x010000`).
    pub fn class_code(&self) -> u32 {
        u32::from(self.class) << 16 | u32::from(self.subclass) << 8 | u32::from(self.prog_if)
    }
}

/// Dword access to configuration space, by function address and offset (0..4096
/// with ECAM, 0..256 through the ports). A read of a function that does not exist
/// returns all-ones.
pub trait ConfigSpace: Send + Sync {
    fn read32(&self, at: PciAddress, offset: u16) -> u32;
    fn write32(&self, at: PciAddress, offset: u16, value: u32);
}

/// A 16-bit configuration register (offset 2-aligned), from its dword.
pub fn read16(cs: &dyn ConfigSpace, at: PciAddress, offset: u16) -> u16 {
    (cs.read32(at, offset & !3) >> ((offset & 2) * 8)) as u16
}

/// An 8-bit configuration register, from its dword.
pub fn read8(cs: &dyn ConfigSpace, at: PciAddress, offset: u16) -> u8 {
    (cs.read32(at, offset & !3) >> ((offset & 3) * 8)) as u8
}

/// Writes a 16-bit configuration register (read-modify-write of its dword).
pub fn write16(cs: &dyn ConfigSpace, at: PciAddress, offset: u16, value: u16) {
    let shift = (offset & 2) * 8;
    let old = cs.read32(at, offset & !3);
    let new = (old & !(0xffff << shift)) | u32::from(value) << shift;
    cs.write32(at, offset & !3, new);
}

/// The IDs of the function at `at`, or `None` if there is none.
pub fn read_id(cs: &dyn ConfigSpace, at: PciAddress) -> Option<PciId> {
    let ids = cs.read32(at, cfg::VENDOR_ID);
    let vendor = ids as u16;
    if vendor == 0xffff || vendor == 0 {
        return None;
    }
    let class = cs.read32(at, cfg::REVISION);
    let sub = cs.read32(at, cfg::SUBSYSTEM_VENDOR_ID);
    Some(PciId {
        vendor,
        device: (ids >> 16) as u16,
        revision: class as u8,
        prog_if: (class >> 8) as u8,
        subclass: (class >> 16) as u8,
        class: (class >> 24) as u8,
        subsystem_vendor: sub as u16,
        subsystem: (sub >> 16) as u16,
    })
}

/// Every function on buses `buses` of `segment`: each device's function 0, and
/// functions 1..8 of multi-function devices.
pub fn enumerate(
    cs: &dyn ConfigSpace,
    segment: u16,
    buses: core::ops::RangeInclusive<u8>,
) -> Vec<(PciAddress, PciId)> {
    let mut found = Vec::new();
    for bus in buses {
        for device in 0..32 {
            let f0 = PciAddress {
                segment,
                bus,
                device,
                function: 0,
            };
            let Some(id) = read_id(cs, f0) else { continue };
            found.push((f0, id));
            if read8(cs, f0, cfg::HEADER_TYPE) & 0x80 == 0 {
                continue;
            }
            for function in 1..8 {
                let at = PciAddress { function, ..f0 };
                if let Some(id) = read_id(cs, at) {
                    found.push((at, id));
                }
            }
        }
    }
    found
}

/// A decoded base address register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bar {
    /// Memory space: where the firmware placed it, its size, whether it is 64-bit
    /// (then it also uses the next BAR) and prefetchable.
    Memory {
        addr: u64,
        size: u64,
        wide: bool,
        prefetchable: bool,
    },
    /// I/O ports.
    Io { port: u32, size: u32 },
}

impl Bar {
    /// The BAR's size in bytes.
    pub fn size(&self) -> u64 {
        match *self {
            Bar::Memory { size, .. } => size,
            Bar::Io { size, .. } => u64::from(size),
        }
    }
}

/// Decodes and sizes BAR `index` (0..6) of a type-0 function: writes all-ones,
/// reads the mask back, restores the value, with the function's decoding turned
/// off meanwhile (so the device never answers at a half-written address). `None`
/// for an unimplemented BAR, the upper half of a 64-bit one, or an index past 5.
pub fn size_bar(cs: &dyn ConfigSpace, at: PciAddress, index: u8) -> Option<Bar> {
    if index > 5 {
        return None;
    }
    let off = cfg::BAR0 + u16::from(index) * 4;
    let cmd = read16(cs, at, cfg::COMMAND);
    write16(
        cs,
        at,
        cfg::COMMAND,
        cmd & !(command::IO_SPACE | command::MEMORY_SPACE),
    );
    let low = cs.read32(at, off);
    cs.write32(at, off, !0);
    let low_mask = cs.read32(at, off);
    cs.write32(at, off, low);
    let bar = if low & 1 == 1 {
        let mask = low_mask & !3;
        (mask != 0).then(|| Bar::Io {
            port: low & !3,
            // I/O BARs decode 16 bits on x86 even if the upper ones read as 0.
            size: (!(mask | 0xffff_0000)).wrapping_add(1),
        })
    } else {
        let wide = (low >> 1) & 3 == 2;
        let prefetchable = low & 8 != 0;
        let (addr, mask) = if wide && index < 5 {
            let high = cs.read32(at, off + 4);
            cs.write32(at, off + 4, !0);
            let high_mask = cs.read32(at, off + 4);
            cs.write32(at, off + 4, high);
            (
                u64::from(high) << 32 | u64::from(low & !0xf),
                u64::from(high_mask) << 32 | u64::from(low_mask & !0xf),
            )
        } else {
            (
                u64::from(low & !0xf),
                0xffff_ffff_0000_0000 | u64::from(low_mask & !0xf),
            )
        };
        (mask & 0xffff_ffff != 0 || (wide && mask >> 32 != 0xffff_ffff)).then(|| Bar::Memory {
            addr,
            size: (!mask).wrapping_add(1),
            wide,
            prefetchable,
        })
    };
    write16(cs, at, cfg::COMMAND, cmd);
    bar.filter(|b| b.size() != 0)
}

/// The capabilities list of the function at `at`: (offset, id) pairs, at most
/// 48 of them (a list that loops or points into the header ends early).
pub fn capabilities(cs: &dyn ConfigSpace, at: PciAddress) -> Vec<(u16, u8)> {
    let mut caps = Vec::new();
    if read16(cs, at, cfg::STATUS) & STATUS_CAPABILITIES == 0 {
        return caps;
    }
    let mut next = u16::from(read8(cs, at, cfg::CAPABILITIES)) & !3;
    while next >= 0x40 && caps.len() < 48 {
        if caps.iter().any(|&(o, _)| o == next) {
            break;
        }
        let word = cs.read32(at, next);
        caps.push((next, word as u8));
        next = ((word >> 8) as u16) & 0xfc;
    }
    caps
}

/// The MSI-X capability, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsiX {
    /// Offset of the capability in configuration space.
    pub cap: u16,
    /// Table entries (vectors the function can use).
    pub table_size: u16,
    /// BAR holding the table, and the table's offset in it.
    pub table_bar: u8,
    pub table_offset: u32,
    /// BAR and offset of the pending-bit array.
    pub pba_bar: u8,
    pub pba_offset: u32,
}

/// Message control bits of the MSI-X capability.
pub mod msix {
    pub const ENABLE: u16 = 1 << 15;
    pub const FUNCTION_MASK: u16 = 1 << 14;
    /// Bytes per table entry: address low, address high, data, vector control.
    pub const ENTRY_SIZE: usize = 16;
    /// Vector control: the entry is masked.
    pub const ENTRY_MASKED: u32 = 1;
}

/// Reads the function's MSI-X capability, if it has one.
pub fn msix(cs: &dyn ConfigSpace, at: PciAddress) -> Option<MsiX> {
    let (cap, _) = capabilities(cs, at)
        .into_iter()
        .find(|&(_, id)| id == cap::MSIX)?;
    let control = read16(cs, at, cap + 2);
    let table = cs.read32(at, cap + 4);
    let pba = cs.read32(at, cap + 8);
    Some(MsiX {
        cap,
        table_size: (control & 0x7ff) + 1,
        table_bar: (table & 7) as u8,
        table_offset: table & !7,
        pba_bar: (pba & 7) as u8,
        pba_offset: pba & !7,
    })
}

/// One PCI function as its driver sees it. The kernel implements it over the
/// real configuration space; the kit's fake implements it for host tests.
pub trait PciFunction: Send + Sync {
    /// Where the function is.
    fn address(&self) -> PciAddress;
    /// Its IDs.
    fn id(&self) -> PciId;
    /// A configuration dword.
    fn config_read32(&self, offset: u16) -> u32;
    /// Writes a configuration dword.
    fn config_write32(&self, offset: u16, value: u32);
    /// BAR `index`, decoded and sized (at probe time).
    fn bar(&self, index: u8) -> Option<Bar>;
    /// Maps memory BAR `index` (or opens I/O BAR `index`) as registers.
    fn map_bar(&self, index: u8) -> Result<Arc<dyn Registers>, ProbeError>;
    /// Lets the function read and write memory on its own (DMA). An MSI or
    /// MSI-X interrupt is such a write too: without this none arrives.
    fn enable_bus_master(&self);
    /// Up to `wanted` interrupt sources: MSI-X vectors when the function has
    /// them (entry i of the table is source i), else one MSI vector. The
    /// kernel does not route legacy INTx lines (that needs ACPI's _PRT): a
    /// function with neither MSI-X nor MSI gets `ProbeError::NoInterrupt`.
    /// (The fake hands out one source when it has no MSI-X vectors.) Message
    /// interrupts are memory writes by the device, so this turns bus mastering
    /// on as well.
    fn interrupts(&self, wanted: usize) -> Result<Vec<Arc<Irq>>, ProbeError>;

    /// A configuration byte.
    fn config_read8(&self, offset: u16) -> u8 {
        (self.config_read32(offset & !3) >> ((offset & 3) * 8)) as u8
    }
    /// A configuration word (2-aligned).
    fn config_read16(&self, offset: u16) -> u16 {
        (self.config_read32(offset & !3) >> ((offset & 2) * 8)) as u16
    }
    /// The capabilities list: (offset, id) pairs.
    fn capabilities(&self) -> Vec<(u16, u8)> {
        capabilities(&AsConfig(self), self.address())
    }
}

/// Lets the free functions above read one [`PciFunction`]'s configuration space.
struct AsConfig<'a, F: ?Sized>(&'a F);

impl<F: PciFunction + ?Sized> ConfigSpace for AsConfig<'_, F> {
    fn read32(&self, _at: PciAddress, offset: u16) -> u32 {
        self.0.config_read32(offset)
    }
    fn write32(&self, _at: PciAddress, offset: u16, value: u32) {
        self.0.config_write32(offset, value)
    }
}
