//! What the boot loader tells us, in one loader-independent shape.
//!
//! Kestrel boots two ways (docs/boot.md): GRUB with multiboot2 (`cargo xtask run`),
//! and QEMU's `-kernel` with multiboot1 (fast test boots). Both hand over a memory
//! map, a command line and modules (the initramfs, the symbol table). [`parse`]
//! copies all of it into a static [`BootInfo`] before the frame allocator starts
//! handing out the memory the loader's structures live in.
#![allow(unsafe_code)] // one of the three layers that may (see main.rs)

core::arch::global_asm!(include_str!("entry.s"));

pub mod ktest;
mod multiboot1;
mod multiboot2;

/// Multiboot1 loaders put this in EAX.
pub const MULTIBOOT1_MAGIC: u32 = 0x2bad_b002;
/// Multiboot2 loaders put this in EAX.
pub const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;

/// How much of each kind of information is kept.
const MAX_REGIONS: usize = 128;
const MAX_MODULES: usize = 8;
const CMDLINE_MAX: usize = 4096;
const NAME_MAX: usize = 64;

/// The kind of a memory-map region (e820 types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemKind {
    Usable,
    Reserved,
    AcpiReclaimable,
    AcpiNvs,
    Defective,
}

impl MemKind {
    /// From an e820 / multiboot type number; unknown types are reserved.
    pub fn from_e820(t: u32) -> Self {
        match t {
            1 => Self::Usable,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Defective,
            _ => Self::Reserved,
        }
    }
}

/// A physical memory region.
#[derive(Debug, Clone, Copy)]
pub struct MemRegion {
    pub start: u64,
    pub len: u64,
    pub kind: MemKind,
}

/// A boot module: a file the loader placed in memory, named by its command line.
#[derive(Debug, Clone, Copy)]
pub struct Module {
    pub start: u64,
    pub end: u64,
    name: [u8; NAME_MAX],
    name_len: usize,
}

impl Module {
    /// The last word of the module's command line (xtask names them `initramfs`,
    /// `symbols` and `vdso`).
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("")
    }

    /// The module's bytes, through the direct map.
    pub fn bytes(&self) -> &'static [u8] {
        // SAFETY: the module range is reserved from the frame allocator (frame::init)
        // and lies in memory covered by the direct map.
        unsafe {
            core::slice::from_raw_parts(
                crate::mm::phys_to_virt(self.start) as *const u8,
                (self.end - self.start) as usize,
            )
        }
    }
}

/// Which protocol started the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Multiboot1,
    Multiboot2,
}

/// Everything Kestrel keeps from the boot loader.
pub struct BootInfo {
    pub protocol: Protocol,
    regions: [MemRegion; MAX_REGIONS],
    region_count: usize,
    cmdline: [u8; CMDLINE_MAX],
    cmdline_len: usize,
    modules: [Module; MAX_MODULES],
    module_count: usize,
    loader: [u8; NAME_MAX],
    loader_len: usize,
    /// Physical address of a copy of the ACPI RSDP, if the loader provided one.
    pub rsdp: Option<u64>,
    /// What was dropped because the fixed-size tables were full.
    pub truncated: bool,
}

impl BootInfo {
    fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            regions: [MemRegion {
                start: 0,
                len: 0,
                kind: MemKind::Reserved,
            }; MAX_REGIONS],
            region_count: 0,
            cmdline: [0; CMDLINE_MAX],
            cmdline_len: 0,
            modules: [Module {
                start: 0,
                end: 0,
                name: [0; NAME_MAX],
                name_len: 0,
            }; MAX_MODULES],
            module_count: 0,
            loader: [0; NAME_MAX],
            loader_len: 0,
            rsdp: None,
            truncated: false,
        }
    }

    fn add_region(&mut self, start: u64, len: u64, kind: MemKind) {
        if len == 0 {
            return;
        }
        if self.region_count == MAX_REGIONS {
            self.truncated = true;
            return;
        }
        self.regions[self.region_count] = MemRegion { start, len, kind };
        self.region_count += 1;
    }

    fn add_module(&mut self, start: u64, end: u64, name: &[u8]) {
        if self.module_count == MAX_MODULES || end < start {
            self.truncated = true;
            return;
        }
        let mut m = Module {
            start,
            end,
            name: [0; NAME_MAX],
            name_len: 0,
        };
        // QEMU's `-initrd "path name"` passes the path too: keep the last word, so
        // that a long path cannot push the name out of the buffer.
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        let name = name.rsplit(|&b| b == b' ').next().unwrap_or_default();
        if name.len() > NAME_MAX {
            self.truncated = true;
        }
        m.name_len = copy_str(&mut m.name, name);
        self.modules[self.module_count] = m;
        self.module_count += 1;
    }

    fn set_cmdline(&mut self, s: &[u8]) {
        self.cmdline_len = copy_str(&mut self.cmdline, s);
        if s.len() > CMDLINE_MAX {
            self.truncated = true;
        }
    }

    fn set_loader(&mut self, s: &[u8]) {
        self.loader_len = copy_str(&mut self.loader, s);
    }

    /// The memory map.
    pub fn memory(&self) -> &[MemRegion] {
        &self.regions[..self.region_count]
    }

    /// The kernel command line.
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// The boot modules.
    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.module_count]
    }

    /// The module with the given name (the last word of its command line).
    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules().iter().find(|m| m.name() == name)
    }

    /// The boot loader's name, if it gave one.
    pub fn loader(&self) -> &str {
        core::str::from_utf8(&self.loader[..self.loader_len]).unwrap_or("")
    }

    /// Total usable RAM in bytes.
    pub fn usable_bytes(&self) -> u64 {
        self.memory()
            .iter()
            .filter(|r| r.kind == MemKind::Usable)
            .map(|r| r.len)
            .sum()
    }

    /// Physical range of the loaded kernel image (text through bss).
    pub fn kernel_phys_range(&self) -> (u64, u64) {
        unsafe extern "C" {
            static __load_start_phys: u8;
            static __bss_end_phys: u8;
        }
        // Only the (absolute) values of the linker-script symbols are taken.
        (
            &raw const __load_start_phys as u64,
            &raw const __bss_end_phys as u64,
        )
    }
}

/// Copies at most `dst.len()` bytes of `src` up to its first NUL; returns the length.
fn copy_str(dst: &mut [u8], src: &[u8]) -> usize {
    let src = &src[..src.iter().position(|&b| b == 0).unwrap_or(src.len())];
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    n
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownMagic(m) => write!(f, "not started by a multiboot loader (EAX = {m:#x})"),
            Self::Multiboot2(why) => write!(f, "multiboot2 information: {why}"),
        }
    }
}

static BOOT: spin::Once<BootInfo> = spin::Once::new();

/// Why the boot information could not be read.
#[derive(Debug)]
pub enum ParseError {
    /// EAX did not hold a multiboot magic number: some other loader started us.
    UnknownMagic(u32),
    /// The multiboot2 structure failed validation.
    Multiboot2(&'static str),
}

/// Reads the loader's boot information at physical address `info` into the static
/// [`BootInfo`]. Runs on the boot page tables, which map the first 4 GiB at the
/// direct-map offset.
pub fn parse(magic: u32, info: u32) -> Result<&'static BootInfo, ParseError> {
    let parsed = match magic {
        MULTIBOOT1_MAGIC => multiboot1::parse(u64::from(info)),
        MULTIBOOT2_MAGIC => multiboot2::parse(u64::from(info))?,
        other => return Err(ParseError::UnknownMagic(other)),
    };
    Ok(BOOT.call_once(|| parsed))
}

/// The boot information, once parsed.
pub fn info() -> &'static BootInfo {
    BOOT.get().expect("boot information parsed at entry")
}

impl core::fmt::Debug for BootInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut s = f.debug_struct("BootInfo");
        s.field("protocol", &self.protocol)
            .field("loader", &self.loader())
            .field("cmdline", &self.cmdline());
        s.field("usable_mib", &(self.usable_bytes() >> 20));
        s.finish()
    }
}

/// Logs the memory map and modules at debug level.
pub fn log_details(b: &BootInfo) {
    for r in b.memory() {
        log::debug!(
            "memory {:#012x}..{:#012x} {:?}",
            r.start,
            r.start + r.len,
            r.kind
        );
    }
    for m in b.modules() {
        log::debug!(
            "module {:?} at {:#x}..{:#x} ({} KiB)",
            m.name(),
            m.start,
            m.end,
            (m.end - m.start) / 1024
        );
    }
    if b.truncated {
        log::warn!("boot information was larger than Kestrel's tables; some of it was dropped");
    }
}

/// Called by `entry.s` in 64-bit mode on the boot stack, with the loader's magic and
/// the physical address of its boot information.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry(magic: u32, info: u32) -> ! {
    crate::kernel_entry(magic, info)
}

/// Switches to the stack whose top is `top` and runs `main` there; the boot stack is
/// never used again.
pub fn continue_on_stack(top: u64, main: extern "C" fn() -> !) -> ! {
    // SAFETY: the caller got `top` from a freshly mapped, unused kernel stack;
    // `main` never returns, so nothing on the boot stack is needed again.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {main}",
            "ud2",
            top = in(reg) top,
            main = in(reg) main,
            options(noreturn)
        )
    }
}
