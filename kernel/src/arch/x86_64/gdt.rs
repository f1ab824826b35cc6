//! The GDT and TSS, with Linux's x86-64 segment selectors.
//!
//! User space sees these selectors (in signal frames, ptrace, `%cs`), so they match
//! Linux: kernel CS 0x10, kernel DS 0x18, 32-bit user CS 0x23, user DS 0x2b, user CS
//! 0x33, TSS 0x40. `SYSRET` derives user CS/SS from STAR[63:48] = 0x23: SS = 0x23 + 8,
//! CS = 0x23 + 16.
//!
//! The TSS provides RSP0 (the stack a trap from user mode lands on) and the IST
//! stacks for double fault, NMI and machine check, which must work even when the
//! kernel stack is broken.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::size_of;

pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
pub const USER32_CS: u16 = 0x23;
pub const USER_DS: u16 = 0x2b;
pub const USER_CS: u16 = 0x33;
pub const TSS_SEL: u16 = 0x40;

/// IST slots (1-based in the IDT; `ist[n - 1]` in the TSS).
pub const IST_DOUBLE_FAULT: u8 = 1;
pub const IST_NMI: u8 = 2;
pub const IST_MACHINE_CHECK: u8 = 3;
/// #DB: a data watchpoint's #DB held back by `mov ss` lands on the first
/// instruction of `syscall_entry`, still on the user's RSP; its own stack keeps
/// the CPU from pushing the frame there (CVE-2018-8897).
pub const IST_DEBUG: u8 = 4;

/// Bytes of the I/O permission bitmap: a bit per port (65536), then the all-ones
/// byte the CPU requires after it (an access near port 0xffff reads two bytes).
const IO_BITMAP_BYTES: usize = 65536 / 8 + 1;

/// Offset of the I/O bitmap in the TSS (the fixed part is 104 bytes).
const IO_BITMAP_OFFSET: u16 = 104;

/// An `iomap_base` past the TSS limit: no bitmap, so every port access from user
/// mode is #GP (CPL 3 > IOPL 0).
const IO_BITMAP_CLOSED: u16 = 0xffff;

/// Which ports user mode may reach through this CPU's TSS.
#[derive(Debug, Clone, Copy)]
pub enum IoPorts<'a> {
    /// None (no bitmap).
    Closed,
    /// Every port (iopl(3), as Linux emulates it).
    All,
    /// Those whose bit is clear (ioperm(2)'s bitmap, 8 KiB).
    Bitmap(&'a [u8; 8192]),
}

/// The 64-bit TSS (Intel SDM vol. 3, 8.7), followed by an I/O permission bitmap.
/// `iomap_base` points at the bitmap only while a thread that did iopl(3) or
/// ioperm(2) runs in user mode (as Linux does since 5.5: through the bitmap,
/// never through RFLAGS.IOPL, which would also let user code run `cli`).
#[repr(C, packed(4))]
pub struct Tss {
    _reserved0: u32,
    pub rsp: [u64; 3],
    _reserved1: u64,
    pub ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    /// Switched by [`Tss::set_io_ports`] while the TSS is loaded.
    iomap_base: UnsafeCell<u16>,
    /// A clear bit allows its port; then the terminating 0xff byte.
    io_bitmap: UnsafeCell<[u8; IO_BITMAP_BYTES]>,
}

const _: () = assert!(core::mem::offset_of!(Tss, io_bitmap) == IO_BITMAP_OFFSET as usize);

impl Tss {
    pub const fn new() -> Self {
        let mut io_bitmap = [0xff; IO_BITMAP_BYTES];
        io_bitmap[IO_BITMAP_BYTES - 1] = 0xff;
        Self {
            _reserved0: 0,
            rsp: [0; 3],
            _reserved1: 0,
            ist: [0; 7],
            _reserved2: 0,
            _reserved3: 0,
            iomap_base: UnsafeCell::new(IO_BITMAP_CLOSED),
            io_bitmap: UnsafeCell::new(io_bitmap),
        }
    }

    /// Sets which ports user mode on this CPU may reach. Called only on the CPU
    /// that owns this TSS (from `enter_user`), with interrupts off.
    pub fn set_io_ports(&self, ports: IoPorts<'_>) {
        let bitmap = self.io_bitmap.get() as *mut u8;
        // SAFETY: only the owning CPU touches iomap_base and the bitmap, with
        // interrupts off (enter_user), and nothing in Rust reads them; the CPU
        // reads them at each port access from user mode, which cannot happen
        // now. iomap_base is 2-aligned (offset 102); the bitmap holds 8192 bytes
        // before its terminator.
        unsafe {
            match ports {
                IoPorts::Closed => {}
                IoPorts::All => core::ptr::write_bytes(bitmap, 0, 8192),
                IoPorts::Bitmap(b) => core::ptr::copy_nonoverlapping(b.as_ptr(), bitmap, 8192),
            }
            let base = match ports {
                IoPorts::Closed => IO_BITMAP_CLOSED,
                _ => IO_BITMAP_OFFSET,
            };
            self.iomap_base.get().write_volatile(base);
        }
    }
}

// SAFETY: the only interior mutability is iomap_base and the bitmap, written by
// the owning CPU alone (see set_io_ports).
unsafe impl Sync for Tss {}

impl core::fmt::Debug for Tss {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tss").finish_non_exhaustive()
    }
}

/// One CPU's descriptor table: 8 plain descriptors, the 16-byte TSS descriptor,
/// and up to index 15 the per-CPU descriptor.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Gdt {
    entries: [u64; 16],
}

/// The per-CPU descriptor (index 15, selector 0x7b, as Linux's GDT_ENTRY_PER_CPU):
/// a present, DPL 3, read-only data descriptor with base 0 and limit
/// `cpu | node << 12`. The vDSO's getcpu reads the limit with `lsl`.
fn per_cpu_descriptor(cpu: u32, node: u32) -> u64 {
    let limit = u64::from((cpu & 0xfff) | ((node & 0xff) << 12));
    (limit & 0xffff) | (0xf1 << 40) | (((limit >> 16) & 0xf) << 48) | (0x4 << 52)
}

impl Gdt {
    /// The table for CPU `cpu` (on NUMA node 0) whose TSS lives at `tss`.
    pub fn new(tss: *const Tss, cpu: u32) -> Self {
        let base = tss as u64;
        let limit = (size_of::<Tss>() - 1) as u64;
        let tss_low = (limit & 0xffff)
            | ((base & 0xff_ffff) << 16)
            | (0x89 << 40) // present, 64-bit TSS (available)
            | (((limit >> 16) & 0xf) << 48)
            | (((base >> 24) & 0xff) << 56);
        Self {
            entries: [
                0,
                0x00cf_9b00_0000_ffff, // 0x08 kernel 32-bit code (unused, as in Linux)
                0x00af_9b00_0000_ffff, // 0x10 kernel 64-bit code
                0x00cf_9300_0000_ffff, // 0x18 kernel data
                0x00cf_fb00_0000_ffff, // 0x23 user 32-bit code
                0x00cf_f300_0000_ffff, // 0x2b user data
                0x00af_fb00_0000_ffff, // 0x33 user 64-bit code
                0,
                tss_low, // 0x40 TSS, low half
                base >> 32,
                0,
                0,
                0,
                0,
                0,
                per_cpu_descriptor(cpu, 0), // 0x7b per-CPU (getcpu)
            ],
        }
    }

    /// Loads this table, reloads every segment register and the task register.
    ///
    /// # Safety
    /// `self` and its TSS must live as long as the CPU uses them (forever).
    pub unsafe fn load(&'static self) {
        #[repr(C, packed)]
        struct Pointer {
            limit: u16,
            base: u64,
        }
        let ptr = Pointer {
            limit: (size_of::<Self>() - 1) as u16,
            base: self as *const Self as u64,
        };
        // SAFETY: the descriptors above are valid; the far return reloads CS with the
        // kernel code selector, the data selectors follow. FS and GS are left alone:
        // the boot code loaded null selectors, their bases live in MSRs, and
        // reloading GS could clear the per-CPU base.
        unsafe {
            asm!(
                "lgdt [{ptr}]",
                "push {cs}",
                "lea {tmp}, [rip + 2f]",
                "push {tmp}",
                "retfq",
                "2:",
                "mov {tmp:e}, {ds}",
                "mov ds, {tmp:e}",
                "mov es, {tmp:e}",
                "mov ss, {tmp:e}",
                "ltr {tss:x}",
                ptr = in(reg) &ptr,
                cs = const KERNEL_CS as u64,
                ds = const KERNEL_DS as u32,
                tss = in(reg) TSS_SEL,
                tmp = out(reg) _,
            );
        }
    }
}
