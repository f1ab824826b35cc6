//! Just enough ACPI to find the interrupt hardware and PCI: the RSDP, the
//! RSDT/XSDT, the MADT ("APIC") with the local APICs, I/O APICs and ISA interrupt
//! overrides, and the MCFG with the PCI Express configuration windows (ECAM).
//! Layouts follow the ACPI 6.5 specification, sections 5.2.5 to 5.2.12, and the
//! PCI Firmware Specification 3.2, section 4.1.2 (MCFG); and where the HPET is.

use crate::mm::phys_to_virt;

/// Upper bound on CPUs Kestrel tracks.
pub const MAX_CPUS: usize = 64;

/// An ISA interrupt override: ISA `irq` is wired to `gsi` with these polarity and
/// trigger flags (MPS INTI flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct IrqOverride {
    pub irq: u8,
    pub gsi: u32,
    pub flags: u16,
}

/// What the MADT says about interrupt routing.
#[derive(Debug, Clone, Copy)]
pub struct Madt {
    pub ioapic_phys: u64,
    pub ioapic_gsi_base: u32,
    pub cpu_apic_ids: [u32; MAX_CPUS],
    pub cpu_count: usize,
    pub overrides: [IrqOverride; 16],
    pub override_count: usize,
}

impl Madt {
    /// What a PC without usable ACPI tables has: one I/O APIC at its usual address,
    /// the timer IRQ 0 on GSI 2, one CPU.
    pub const fn fallback() -> Self {
        let mut overrides = [IrqOverride {
            irq: 0,
            gsi: 0,
            flags: 0,
        }; 16];
        overrides[0] = IrqOverride {
            irq: 0,
            gsi: 2,
            flags: 0,
        };
        Self {
            ioapic_phys: 0xfec0_0000,
            ioapic_gsi_base: 0,
            cpu_apic_ids: [0; MAX_CPUS],
            cpu_count: 1,
            overrides,
            override_count: 1,
        }
    }

    /// The GSI and (active_low, level) of ISA IRQ `irq`.
    pub fn isa_irq(&self, irq: u8) -> (u32, bool, bool) {
        for o in &self.overrides[..self.override_count] {
            if o.irq == irq {
                // Polarity bits 0-1: 3 = active low; trigger bits 2-3: 3 = level.
                return (o.gsi, o.flags & 3 == 3, (o.flags >> 2) & 3 == 3);
            }
        }
        (u32::from(irq), false, false)
    }
}

fn read<T: Copy>(phys: u64) -> T {
    // SAFETY: callers pass physical addresses inside firmware tables, which lie in
    // memory the direct map covers; the read is unaligned-safe.
    unsafe { core::ptr::read_unaligned(phys_to_virt(phys) as *const T) }
}

fn checksum_ok(phys: u64, len: usize) -> bool {
    (0..len as u64).fold(0u8, |s, i| s.wrapping_add(read::<u8>(phys + i))) == 0
}

fn find_rsdp_in(start: u64, end: u64) -> Option<u64> {
    (start..end)
        .step_by(16)
        .find(|&a| read::<[u8; 8]>(a) == *b"RSD PTR " && checksum_ok(a, 20))
}

/// The RSDP: where the boot loader said (multiboot2 gives a copy), else the BIOS
/// areas: the first KiB of the EBDA and 0xE0000..0xFFFFF.
pub fn find_rsdp(hint: Option<u64>) -> Option<u64> {
    if let Some(h) = hint.filter(|&h| read::<[u8; 8]>(h) == *b"RSD PTR ") {
        return Some(h);
    }
    let ebda = u64::from(read::<u16>(0x40e)) << 4;
    if let Some(r) = (0x80000..0xa0000)
        .contains(&ebda)
        .then(|| find_rsdp_in(ebda, ebda + 1024))
        .flatten()
    {
        return Some(r);
    }
    find_rsdp_in(0xe0000, 0x100000)
}

/// Finds the table with `signature` through the RSDT or XSDT.
fn find_table(rsdp: u64, signature: &[u8; 4]) -> Option<u64> {
    let revision: u8 = read(rsdp + 15);
    let (root, entry_size) = if revision >= 2 {
        (read::<u64>(rsdp + 24), 8)
    } else {
        (u64::from(read::<u32>(rsdp + 16)), 4)
    };
    if root == 0 {
        return None;
    }
    let len = u64::from(read::<u32>(root + 4));
    let count = len.saturating_sub(36) / entry_size;
    (0..count.min(256))
        .map(|i| {
            let at = root + 36 + i * entry_size;
            if entry_size == 8 {
                read::<u64>(at)
            } else {
                u64::from(read::<u32>(at))
            }
        })
        .find(|&t| t != 0 && read::<[u8; 4]>(t) == *signature)
}

/// The physical address of the HPET's registers, from the ACPI HPET table (IA-PC
/// HPET specification 1.0a, section 3.2.4: a Generic Address Structure at offset
/// 40, its address at 44), if there is one in memory space.
pub fn find_hpet(rsdp_hint: Option<u64>) -> Option<u64> {
    let t = find_table(find_rsdp(rsdp_hint)?, b"HPET")?;
    if read::<u32>(t + 4) < 56 || read::<u8>(t + 40) != 0 {
        return None;
    }
    Some(read::<u64>(t + 44)).filter(|&a| a != 0)
}

/// Parses the MADT, or returns `None` if there is no usable one.
pub fn parse_madt(rsdp_hint: Option<u64>) -> Option<Madt> {
    let madt = find_table(find_rsdp(rsdp_hint)?, b"APIC")?;
    let len = u64::from(read::<u32>(madt + 4));
    let mut info = Madt::fallback();
    info.cpu_count = 0;
    info.override_count = 1; // keep IRQ 0 -> GSI 2 unless the table says otherwise
    let mut ioapic_found = false;
    let mut at = madt + 44;
    while at + 2 <= madt + len {
        let kind: u8 = read(at);
        let entry_len = u64::from(read::<u8>(at + 1));
        if entry_len < 2 {
            break;
        }
        match kind {
            0 => {
                // Processor Local APIC: flags bit 0 enabled, bit 1 online-capable.
                let apic_id = u32::from(read::<u8>(at + 3));
                let flags: u32 = read(at + 4);
                if flags & 3 != 0 && info.cpu_count < MAX_CPUS {
                    info.cpu_apic_ids[info.cpu_count] = apic_id;
                    info.cpu_count += 1;
                }
            }
            1 if !ioapic_found => {
                info.ioapic_phys = u64::from(read::<u32>(at + 4));
                info.ioapic_gsi_base = read(at + 8);
                ioapic_found = true;
            }
            2 => {
                let o = IrqOverride {
                    irq: read(at + 3),
                    gsi: read(at + 4),
                    flags: read(at + 8),
                };
                if let Some(slot) = info.overrides[..info.override_count]
                    .iter_mut()
                    .find(|x| x.irq == o.irq)
                {
                    *slot = o;
                } else if info.override_count < info.overrides.len() {
                    info.overrides[info.override_count] = o;
                    info.override_count += 1;
                }
            }
            _ => {}
        }
        at += entry_len;
    }
    if info.cpu_count == 0 {
        info.cpu_count = 1;
    }
    Some(info)
}

/// One ECAM window: configuration space of `segment`'s buses
/// `start_bus..=end_bus`, 4 KiB per function, at physical `base` (which is where
/// bus 0 would be, even when `start_bus` is not 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcamRegion {
    pub base: u64,
    pub segment: u16,
    pub start_bus: u8,
    pub end_bus: u8,
}

/// The ECAM windows the MCFG lists (at most 8), or none without one.
pub fn parse_mcfg(rsdp_hint: Option<u64>) -> alloc::vec::Vec<EcamRegion> {
    let mut out = alloc::vec::Vec::new();
    let Some(mcfg) = find_rsdp(rsdp_hint).and_then(|r| find_table(r, b"MCFG")) else {
        return out;
    };
    let len = u64::from(read::<u32>(mcfg + 4));
    if len < 44 || !checksum_ok(mcfg, len as usize) {
        return out;
    }
    // 36-byte header, 8 reserved bytes, then 16-byte entries.
    let mut at = mcfg + 44;
    while at + 16 <= mcfg + len && out.len() < 8 {
        let r = EcamRegion {
            base: read(at),
            segment: read(at + 8),
            start_bus: read(at + 10),
            end_bus: read(at + 11),
        };
        if r.base != 0 && r.end_bus >= r.start_bus {
            out.push(r);
        }
        at += 16;
    }
    out
}
