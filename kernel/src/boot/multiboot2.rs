//! The multiboot2 boot information, read with the `multiboot2` crate.

use ::multiboot2::{BootInformation, BootInformationHeader, MemoryAreaType};

use super::{BootInfo, MemKind, ParseError, Protocol};
use crate::mm::{phys_to_virt, virt_to_phys};

pub(super) fn parse(info: u64) -> Result<BootInfo, ParseError> {
    let ptr = phys_to_virt(info) as *const BootInformationHeader;
    // SAFETY: a multiboot2 loader put a boot information structure at `info` (EAX held
    // the magic), below 4 GiB, which the boot page tables map at the direct-map offset.
    let mbi = unsafe { BootInformation::load(ptr) }
        .map_err(|_| ParseError::Multiboot2("invalid boot information"))?;
    let mut b = BootInfo::new(Protocol::Multiboot2);
    if let Some(cmd) = mbi.command_line_tag().and_then(|t| t.cmdline().ok()) {
        b.set_cmdline(cmd.as_bytes());
    }
    if let Some(name) = mbi.boot_loader_name_tag().and_then(|t| t.name().ok()) {
        b.set_loader(name.as_bytes());
    }
    for m in mbi.module_tags() {
        let name = m.cmdline().unwrap_or("");
        b.add_module(
            u64::from(m.start_address()),
            u64::from(m.end_address()),
            name.as_bytes(),
        );
    }
    if let Some(mmap) = mbi.memory_map_tag() {
        for a in mmap.memory_areas() {
            let kind = match a.typ() {
                MemoryAreaType::Available => MemKind::Usable,
                MemoryAreaType::AcpiAvailable => MemKind::AcpiReclaimable,
                MemoryAreaType::ReservedHibernate => MemKind::AcpiNvs,
                MemoryAreaType::Defective => MemKind::Defective,
                _ => MemKind::Reserved,
            };
            b.add_region(a.start_address(), a.size(), kind);
        }
    } else if let Some(basic) = mbi.basic_memory_info_tag() {
        b.add_region(
            1 << 20,
            u64::from(basic.memory_upper()) * 1024,
            MemKind::Usable,
        );
    }
    // The RSDP copy sits right after the 8-byte tag header.
    let rsdp_tag = mbi
        .rsdp_v2_tag()
        .map(|t| t as *const _ as *const u8 as u64)
        .or_else(|| mbi.rsdp_v1_tag().map(|t| t as *const _ as *const u8 as u64));
    b.rsdp = rsdp_tag.map(|va| virt_to_phys(va + 8));
    Ok(b)
}
