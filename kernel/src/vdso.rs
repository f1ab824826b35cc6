//! The vDSO: `linux-vdso.so.1` and its data page, mapped into every new program.
//!
//! xtask builds the image from `kernel/vdso` and hands it over as the `vdso` boot
//! module. At boot it is checked (an x86-64 ELF shared object whose one PT_LOAD
//! starts at address 0 and fits in a few pages) and copied into frames; a zeroed
//! frame becomes the *vvar* page, where the kernel publishes the clock parameters
//! ([`kestrel_vdso::data::VvarData`]) under a sequence lock.
//!
//! execve maps both into the new address space, vvar first and the image right
//! above it (the image finds vvar one page below its own ELF header), shared by
//! every process, and passes the image's address as AT_SYSINFO_EHDR. The areas
//! cannot be made writable (mprotect: EACCES), so no process can change what the
//! others run or read.
//!
//! A process in a time namespace other than the initial one gets a second vvar
//! page instead, whose mode is MODE_SYSCALL: its vDSO makes the system call,
//! and the kernel applies the namespace's offsets. (Linux publishes a vvar page
//! per time namespace with the offsets in it; Kestrel gives up the fast path in
//! such namespaces instead.) [`use_syscalls`] switches an address space between
//! the two when the process enters another time namespace.
//!
//! Without the module the kernel still runs: programs get no AT_SYSINFO_EHDR and
//! their libc makes system calls.

use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::KResult;
use kestrel_abi::mm::{PROT_EXEC, PROT_READ};
use kestrel_vdso::data::{MODE_TSC, Snapshot, VvarData};

use crate::boot::BootInfo;
use crate::mm::frame;
use crate::mm::vm::{AddressSpace, Backing, Placement, SharedPages, VmaKind};

const PAGE: u64 = 4096;
/// The most image pages accepted (the real image is one page).
const MAX_PAGES: usize = 16;

struct Vdso {
    image: Arc<SharedPages>,
    pages: u64,
    vvar: Arc<SharedPages>,
    data: &'static VvarData,
    /// The vvar page of processes in a non-initial time namespace: never
    /// published, so its mode stays MODE_SYSCALL.
    vvar_syscall: Arc<SharedPages>,
}

static VDSO: spin::Once<Vdso> = spin::Once::new();

/// Why a vdso module was refused.
fn check(elf: &[u8]) -> Result<(u64, u64), &'static str> {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    };
    if elf.get(..4) != Some(b"\x7fELF".as_slice())
        || elf.get(4) != Some(&2)
        || elf.get(5) != Some(&1)
    {
        return Err("not a 64-bit little-endian ELF file");
    }
    if u16_at(16) != Some(3) || u16_at(18) != Some(62) {
        return Err("not an x86-64 shared object");
    }
    let phoff = u64_at(32).ok_or("truncated")? as usize;
    let phentsize = u16_at(54).ok_or("truncated")? as usize;
    let phnum = u16_at(56).ok_or("truncated")? as usize;
    let mut load = None;
    for i in 0..phnum {
        let ph = phoff
            .checked_add(i * phentsize)
            .ok_or("bad program headers")?;
        if u32_at(ph) != Some(1) {
            continue;
        }
        if load.is_some() {
            return Err("more than one PT_LOAD");
        }
        let (offset, vaddr) = (
            u64_at(ph + 8).ok_or("truncated")?,
            u64_at(ph + 16).ok_or("truncated")?,
        );
        let (filesz, memsz) = (
            u64_at(ph + 32).ok_or("truncated")?,
            u64_at(ph + 40).ok_or("truncated")?,
        );
        if offset != 0 || vaddr != 0 || filesz != memsz || filesz > elf.len() as u64 {
            return Err("the PT_LOAD must map the file from offset 0 at address 0");
        }
        load = Some(memsz);
    }
    // The whole file is mapped, as Linux maps its vDSO: the section headers and
    // symbol table past the PT_LOAD are what a debugger reads from memory to
    // name the vDSO's functions (gdb warns of a corrupt image without them).
    let size = load.ok_or("no PT_LOAD")?.max(elf.len() as u64);
    let pages = size.div_ceil(PAGE);
    if pages == 0 || pages as usize > MAX_PAGES {
        return Err("image too large");
    }
    Ok((size, pages))
}

/// Loads the `vdso` boot module, if there is one, and publishes the clock.
pub fn init(boot: &BootInfo) {
    let Some(m) = boot.module("vdso") else {
        log::warn!("no vdso boot module: programs will make system calls for the time");
        return;
    };
    let elf = m.bytes();
    let (size, pages) = match check(elf) {
        Ok(v) => v,
        Err(why) => {
            log::error!("vdso module refused: {why}");
            return;
        }
    };
    let mut frames = Vec::new();
    for chunk in elf[..size as usize].chunks(PAGE as usize) {
        match frame::alloc_filled(chunk) {
            Some(pa) => frames.push(pa),
            None => {
                log::error!("vdso: out of memory");
                return;
            }
        }
    }
    let Some((vvar_pa, data)) = frame::alloc_static::<VvarData>() else {
        log::error!("vdso: out of memory");
        return;
    };
    let Some((syscall_pa, _)) = frame::alloc_static::<VvarData>() else {
        log::error!("vdso: out of memory");
        return;
    };
    VDSO.call_once(|| Vdso {
        image: Arc::new(SharedPages::from_frames(&frames)),
        pages,
        vvar: Arc::new(SharedPages::from_frames(&[vvar_pa])),
        data,
        vvar_syscall: Arc::new(SharedPages::from_frames(&[syscall_pa])),
    });
    publish();
    log::debug!("vdso: {size} bytes in {pages} page(s)");
}

/// Publishes the current clock parameters to the vvar page (after calibration,
/// clock_settime, settimeofday).
pub fn publish() {
    let Some(v) = VDSO.get() else { return };
    let (tsc_base, mult) = crate::time::tsc_params();
    let (tz_minuteswest, tz_dsttime) = crate::time::timezone();
    v.data.update(&Snapshot {
        mode: if mult != 0 { MODE_TSC } else { 0 },
        tsc_base,
        mult,
        realtime_offset: crate::time::realtime_offset(),
        tz_minuteswest,
        tz_dsttime,
    });
}

/// Maps vvar and the image into a new program's address space; returns the
/// image's address for AT_SYSINFO_EHDR (None without a vDSO). With `syscalls`
/// (a process in a non-initial time namespace) the vvar page sends every
/// clock read to the kernel.
pub fn map_into(mm: &AddressSpace, syscalls: bool) -> KResult<Option<u64>> {
    let Some(v) = VDSO.get() else { return Ok(None) };
    // One free range for both, then the image over its upper part.
    let base = mm.map(
        Placement::Hint(0),
        (1 + v.pages) * PAGE,
        PROT_READ,
        Backing::SharedAnonymous {
            pages: if syscalls {
                v.vvar_syscall.clone()
            } else {
                v.vvar.clone()
            },
            offset: 0,
            segment: None,
        },
        VmaKind::Vvar,
    )?;
    let image = base + PAGE;
    mm.map(
        Placement::Fixed(image),
        v.pages * PAGE,
        PROT_READ | PROT_EXEC,
        Backing::SharedAnonymous {
            pages: v.image.clone(),
            offset: 0,
            segment: None,
        },
        VmaKind::Vdso,
    )?;
    Ok(Some(image))
}

/// The process owning `mm` entered a time namespace: with `syscalls` (not the
/// initial one) its vDSO must make system calls, else it may read the clock
/// itself. Replaces the page under its `[vvar]` area (if it still has one).
pub fn use_syscalls(mm: &AddressSpace, syscalls: bool) -> KResult<()> {
    let Some(v) = VDSO.get() else { return Ok(()) };
    let Some(area) = mm
        .areas()
        .into_iter()
        .find(|a| a.label.as_deref() == Some(b"[vvar]".as_slice()))
    else {
        return Ok(());
    };
    mm.map(
        Placement::Fixed(area.start),
        PAGE,
        PROT_READ,
        Backing::SharedAnonymous {
            pages: if syscalls {
                v.vvar_syscall.clone()
            } else {
                v.vvar.clone()
            },
            offset: 0,
            segment: None,
        },
        VmaKind::Vvar,
    )?;
    Ok(())
}
