//! CPU identification, control registers and model-specific registers.

use core::arch::asm;
use core::arch::x86_64::{__cpuid, __cpuid_count, CpuidResult};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Model-specific registers Kestrel uses (Intel SDM vol. 4).
pub mod msr {
    pub const APIC_BASE: u32 = 0x1b;
    pub const EFER: u32 = 0xc000_0080;
    pub const STAR: u32 = 0xc000_0081;
    pub const LSTAR: u32 = 0xc000_0082;
    pub const FMASK: u32 = 0xc000_0084;
    pub const FS_BASE: u32 = 0xc000_0100;
    pub const GS_BASE: u32 = 0xc000_0101;
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
}

/// EFER.SCE: the `syscall` instruction is enabled.
pub const EFER_SCE: u64 = 1 << 0;

/// CR4 bits.
pub mod cr4 {
    /// Time Stamp Disable: RDTSC and RDTSCP fault (#GP) outside ring 0.
    pub const TSD: u64 = 1 << 2;
    pub const OSFXSR: u64 = 1 << 9;
    pub const OSXMMEXCPT: u64 = 1 << 10;
    pub const UMIP: u64 = 1 << 11;
    pub const OSXSAVE: u64 = 1 << 18;
    pub const SMEP: u64 = 1 << 20;
    pub const SMAP: u64 = 1 << 21;
    /// Protection keys for user pages (PKRU).
    pub const PKE: u64 = 1 << 22;
}

/// PKRU a new program starts with (Linux's init_pkru_value): key 0 allows
/// everything, every other key disables access until pkey_alloc(2) sets it.
pub const INIT_PKRU: u32 = 0x5555_5554;

/// Reads PKRU (only on a CPU with CR4.PKE set).
pub fn rdpkru() -> u32 {
    let v: u32;
    // SAFETY: RDPKRU (0f 01 ee) with ECX = 0 only reads PKRU; callers check
    // that protection keys are enabled (else it is #UD).
    unsafe {
        asm!(".byte 0x0f, 0x01, 0xee", in("ecx") 0, out("eax") v, out("edx") _,
             options(nomem, nostack, preserves_flags))
    };
    v
}

/// Makes `v` this CPU's PKRU, for the thread it now works for: user mode and
/// the kernel's copies to and from user memory both honour it. Written only
/// when it changes (the CPU's value is kept in `PerCpu::pkru`): under QEMU's
/// TCG every WRPKRU flushes the TLB. Nothing on a CPU without protection keys.
#[inline]
pub fn load_pkru(v: u32) {
    let cpu = super::percpu::this_cpu();
    if features().pku && cpu.pkru.load(Ordering::Relaxed) != v {
        wrpkru(v);
        cpu.pkru.store(v, Ordering::Relaxed);
    }
}

/// Writes PKRU (only on a CPU with CR4.PKE set).
pub fn wrpkru(v: u32) {
    // SAFETY: WRPKRU (0f 01 ef) with ECX = EDX = 0 sets the access rights of
    // user pages by key; callers check that protection keys are enabled.
    unsafe {
        asm!(".byte 0x0f, 0x01, 0xef", in("eax") v, in("ecx") 0, in("edx") 0,
             options(nostack, preserves_flags))
    };
}

/// Reads an MSR.
pub fn rdmsr(reg: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reading the MSRs Kestrel names in `msr` has no side effects; all exist
    // on every x86-64 CPU with the features checked at boot.
    unsafe { asm!("rdmsr", in("ecx") reg, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes an MSR.
///
/// # Safety
/// The caller must know what the register controls: a wrong value can break
/// paging, system calls or segment bases.
pub unsafe fn wrmsr(reg: u32, value: u64) {
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("wrmsr", in("ecx") reg, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nostack))
    };
}

/// Reads CR2, the address of the last page fault.
pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Reads CR3 (the physical address of the current top-level page table, plus flags).
pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Loads CR3.
///
/// # Safety
/// `value` must be the physical address of a valid PML4 that maps the running kernel.
pub unsafe fn write_cr3(value: u64) {
    // SAFETY: delegated to the caller.
    unsafe { asm!("mov cr3, {}", in(reg) value, options(nostack, preserves_flags)) };
}

/// Reads CR4.
pub fn read_cr4() -> u64 {
    let v: u64;
    // SAFETY: reading CR4 has no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Sets bits in CR4.
///
/// # Safety
/// Each bit changes how the CPU runs; the caller must have checked CPUID support.
pub unsafe fn set_cr4_bits(bits: u64) {
    // SAFETY: delegated to the caller.
    unsafe { asm!("mov cr4, {}", in(reg) read_cr4() | bits, options(nostack, preserves_flags)) };
}

/// Clears bits in CR4.
///
/// # Safety
/// As [`set_cr4_bits`]: the caller must know nothing running depends on them.
pub unsafe fn clear_cr4_bits(bits: u64) {
    // SAFETY: delegated to the caller.
    unsafe { asm!("mov cr4, {}", in(reg) read_cr4() & !bits, options(nostack, preserves_flags)) };
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; Kestrel requires a TSC.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// A random number from RDRAND (None without it, or when it keeps failing).
pub fn rdrand() -> Option<u64> {
    if !features().rdrand {
        return None;
    }
    for _ in 0..10 {
        let v: u64;
        let ok: u8;
        // SAFETY: RDRAND exists (checked above); it only writes the output register
        // and CF.
        unsafe {
            core::arch::asm!("rdrand {}", "setc {}", out(reg) v, out(reg_byte) ok, options(nomem, nostack))
        };
        if ok != 0 {
            return Some(v);
        }
    }
    None
}

/// Executes CPUID.
pub fn cpuid(leaf: u32) -> CpuidResult {
    __cpuid(leaf)
}

/// Executes CPUID with a sub-leaf.
pub fn cpuid_count(leaf: u32, sub: u32) -> CpuidResult {
    __cpuid_count(leaf, sub)
}

/// Features Kestrel uses when present, detected once at boot.
#[derive(Debug, Default, Clone, Copy)]
pub struct Features {
    pub nx: bool,
    pub pdpe1gb: bool,
    pub smep: bool,
    pub smap: bool,
    pub umip: bool,
    pub xsave: bool,
    pub avx: bool,
    pub tsc_invariant: bool,
    pub x2apic: bool,
    pub rdrand: bool,
    pub fsgsbase: bool,
    /// Protection keys for user-mode pages (CPUID.7.0:ECX.PKU).
    pub pku: bool,
}

static FEATURES_READY: AtomicBool = AtomicBool::new(false);
static FEATURE_BITS: AtomicU32 = AtomicU32::new(0);
/// XCR0 value enabled at boot (the XSAVE state components user threads may use).
pub static XCR0: AtomicU64 = AtomicU64::new(0);
/// Bytes needed by XSAVE for the components in XCR0 (512 for FXSAVE-only CPUs).
pub static XSAVE_SIZE: AtomicU32 = AtomicU32::new(512);

impl Features {
    fn detect() -> Self {
        let l1 = cpuid(1);
        let max = cpuid(0).eax;
        let l7 = if max >= 7 {
            cpuid_count(7, 0)
        } else {
            CpuidResult {
                eax: 0,
                ebx: 0,
                ecx: 0,
                edx: 0,
            }
        };
        let ext_max = cpuid(0x8000_0000).eax;
        let e1 = if ext_max >= 0x8000_0001 {
            cpuid(0x8000_0001)
        } else {
            CpuidResult {
                eax: 0,
                ebx: 0,
                ecx: 0,
                edx: 0,
            }
        };
        let e7 = if ext_max >= 0x8000_0007 {
            cpuid(0x8000_0007)
        } else {
            CpuidResult {
                eax: 0,
                ebx: 0,
                ecx: 0,
                edx: 0,
            }
        };
        Self {
            nx: e1.edx & (1 << 20) != 0,
            pdpe1gb: e1.edx & (1 << 26) != 0,
            smep: l7.ebx & (1 << 7) != 0,
            smap: l7.ebx & (1 << 20) != 0,
            umip: l7.ecx & (1 << 2) != 0,
            xsave: l1.ecx & (1 << 26) != 0,
            avx: l1.ecx & (1 << 28) != 0,
            tsc_invariant: e7.edx & (1 << 8) != 0,
            x2apic: l1.ecx & (1 << 21) != 0,
            rdrand: l1.ecx & (1 << 30) != 0,
            fsgsbase: l7.ebx & 1 != 0,
            pku: l7.ecx & (1 << 3) != 0,
        }
    }

    fn to_bits(self) -> u32 {
        [
            self.nx,
            self.pdpe1gb,
            self.smep,
            self.smap,
            self.umip,
            self.xsave,
            self.avx,
            self.tsc_invariant,
            self.x2apic,
            self.rdrand,
            self.fsgsbase,
            self.pku,
        ]
        .iter()
        .enumerate()
        .fold(0, |acc, (i, &b)| acc | (u32::from(b) << i))
    }

    #[inline(always)]
    fn from_bits(b: u32) -> Self {
        let f = |i: u32| b & (1 << i) != 0;
        Self {
            nx: f(0),
            pdpe1gb: f(1),
            smep: f(2),
            smap: f(3),
            umip: f(4),
            xsave: f(5),
            avx: f(6),
            tsc_invariant: f(7),
            x2apic: f(8),
            rdrand: f(9),
            fsgsbase: f(10),
            pku: f(11),
        }
    }
}

/// The CPU features detected at boot.
///
/// Inline, the detection out of line: every user copy asks for `smap`, and
/// out of line this built the whole struct (a dozen shifts and stores, a call
/// and a return) for the one bit: ~50 instructions a copy.
#[inline(always)]
pub fn features() -> Features {
    if !FEATURES_READY.load(Ordering::Acquire) {
        detect_features();
    }
    Features::from_bits(FEATURE_BITS.load(Ordering::Acquire))
}

#[cold]
#[inline(never)]
fn detect_features() {
    FEATURE_BITS.store(Features::detect().to_bits(), Ordering::Release);
    FEATURES_READY.store(true, Ordering::Release);
}

/// Writes the 48-byte processor brand string (CPUID 0x80000002..4) into `buf`.
pub fn brand_string(buf: &mut [u8; 48]) -> &str {
    if cpuid(0x8000_0000).eax < 0x8000_0004 {
        return "unknown x86-64 CPU";
    }
    for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
        let r = cpuid(leaf);
        for (j, reg) in [r.eax, r.ebx, r.ecx, r.edx].iter().enumerate() {
            buf[i * 16 + j * 4..i * 16 + j * 4 + 4].copy_from_slice(&reg.to_le_bytes());
        }
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(48);
    core::str::from_utf8(&buf[..end]).unwrap_or("?").trim()
}

/// The hypervisor signature from CPUID 0x40000000 ("TCGTCGTCGTCG", "KVMKVMKVM", ...).
pub fn hypervisor(buf: &mut [u8; 12]) -> Option<&str> {
    if cpuid(1).ecx & (1 << 31) == 0 {
        return None;
    }
    let r = cpuid(0x4000_0000);
    buf[0..4].copy_from_slice(&r.ebx.to_le_bytes());
    buf[4..8].copy_from_slice(&r.ecx.to_le_bytes());
    buf[8..12].copy_from_slice(&r.edx.to_le_bytes());
    let end = buf.iter().position(|&b| b == 0).unwrap_or(12);
    core::str::from_utf8(&buf[..end]).ok()
}

/// Turns on the protection and state-saving features the CPU has: SMEP, SMAP, UMIP,
/// SSE state (OSFXSR), and XSAVE with every user state component the CPU supports
/// among x87, SSE and AVX (so glibc's AVX string functions work in user space).
pub fn enable_features() {
    let f = features();
    let mut bits = cr4::OSFXSR | cr4::OSXMMEXCPT;
    if f.smep {
        bits |= cr4::SMEP;
    }
    if f.smap {
        bits |= cr4::SMAP;
    }
    if f.umip {
        bits |= cr4::UMIP;
    }
    if f.xsave {
        bits |= cr4::OSXSAVE;
    }
    if f.pku {
        bits |= cr4::PKE;
    }
    // SAFETY: each bit was checked against CPUID above; the kernel itself uses no
    // SSE (soft-float target), and user memory is only touched inside stac/clac.
    unsafe { set_cr4_bits(bits) };
    if f.xsave {
        let supported = u64::from(cpuid_count(0xd, 0).eax);
        // x87 (bit 0) and SSE (bit 1) always; AVX (bit 2) if supported.
        let xcr0 = supported & 0b111;
        // SAFETY: XCR0 bits are a subset of what CPUID leaf 0xD reports, x87 included.
        unsafe {
            asm!("xsetbv", in("ecx") 0, in("eax") xcr0 as u32, in("edx") (xcr0 >> 32) as u32,
                 options(nostack));
        }
        XCR0.store(xcr0, Ordering::Relaxed);
        // EBX of leaf 0xD/0 after XSETBV: size for the enabled components.
        XSAVE_SIZE.store(cpuid_count(0xd, 0).ebx, Ordering::Relaxed);
    }
}

/// Whether interrupts are enabled on this CPU.
pub fn interrupts_enabled() -> bool {
    let rflags: u64;
    // SAFETY: reading RFLAGS has no side effects.
    unsafe { asm!("pushfq; pop {}", out(reg) rflags, options(nomem, preserves_flags)) };
    rflags & (1 << 9) != 0
}

/// Enables interrupts.
pub fn enable_interrupts() {
    // SAFETY: the IDT is loaded before the first call (kernel::arch::init).
    unsafe { asm!("sti", options(nomem, nostack)) };
}

/// Disables interrupts.
pub fn disable_interrupts() {
    // SAFETY: disabling interrupts cannot break memory safety.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// Enables interrupts and halts until the next one, atomically: `sti` takes effect
/// after the following instruction, so an interrupt pending at `sti` wakes the `hlt`.
pub fn enable_interrupts_and_halt() {
    // SAFETY: see above; the IDT is loaded.
    unsafe { asm!("sti; hlt", options(nomem, nostack)) };
}

/// Halts forever with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        disable_interrupts();
        // SAFETY: halting with interrupts off stops this CPU (NMIs aside).
        unsafe { asm!("hlt", options(nomem, nostack)) };
    }
}
