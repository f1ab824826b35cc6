//! Traps: the IDT, the entry stubs, and the two ways back.
//!
//! Every exception, interrupt and system call enters through assembly below that
//! saves the registers as a [`TrapFrame`]. Then it depends on where the CPU was:
//!
//! * **Kernel mode** (an interrupt while a future was being polled, or a fault in
//!   kernel code): [`kernel_trap`] handles it on the current stack and `iretq`
//!   resumes the interrupted code. Interrupt handlers only acknowledge the device and
//!   wake wakers; a page fault in a user-memory copy is redirected to the copy's
//!   fix-up through the exception table; anything else is a kernel bug and panics.
//! * **User mode**: the frame is copied into the running thread's [`UserContext`] and
//!   the CPU resumes the kernel *inside* [`enter_user`], which returns the trap to the
//!   thread's task as a value. No kernel stack is kept per thread: the task handles
//!   the trap with `.await` like any other event (brief §1).
//!
//! Traps from user mode land on a small per-CPU entry stack (TSS.RSP0, and the
//! syscall entry switches to it by hand), used only long enough to build the frame.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::cpu::{self, msr};
use super::gdt::{self, KERNEL_CS, USER_CS, USER_DS};
use super::percpu::{offset, this_cpu};

/// Register state at a trap, in the order the entry code pushes it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Interrupt vector, or [`SYSCALL_VECTOR`] for the `syscall` instruction.
    pub vector: u64,
    /// The CPU's error code for the exceptions that push one, else 0.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Size of a [`TrapFrame`] in quadwords (the entry code copies this many).
const FRAME_QWORDS: usize = core::mem::size_of::<TrapFrame>() / 8;

/// The `vector` recorded for a trap through the `syscall` instruction.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// The `vector` of a system call that the fast path ran but could not return
/// from (work for the thread loop after the call): [`Trap::SyscallDone`].
const SYSCALL_DONE_VECTOR: u64 = 0x101;

/// RFLAGS bits.
pub mod rflags {
    pub const FIXED: u64 = 1 << 1;
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const IOPL: u64 = 3 << 12;
    pub const NT: u64 = 1 << 14;
    pub const RF: u64 = 1 << 16;
    pub const AC: u64 = 1 << 18;
    /// Flags user code may set (everything else is forced, as Linux's FIX_EFLAGS).
    pub const USER_MASK: u64 =
        0x1 | 0x4 | 0x10 | 0x40 | 0x80 | TF | DF | (1 << 11) | AC | RF | (1 << 21);
}

/// The saved user-mode state of a thread. The first part is exactly a [`TrapFrame`]:
/// the entry code copies the frame there.
#[repr(C)]
#[derive(Debug, Clone, Default)]
pub struct UserContext {
    pub regs: TrapFrame,
    /// User FS base (TLS), loaded into `IA32_FS_BASE` on entry.
    pub fs_base: u64,
    /// User GS base, loaded into `IA32_KERNEL_GS_BASE` (swapped in by `swapgs`).
    pub gs_base: u64,
    /// The system call number of the last syscall (to restart it).
    pub orig_rax: u64,
    /// The address of the last page fault (CR2, for the signal frame).
    pub fault_addr: u64,
    /// The level iopl(2) last set (0-3; Linux's iopl_emul). At 3 the CPU's I/O
    /// bitmap is opened while this thread runs in user mode; RFLAGS.IOPL stays 0.
    pub iopl_emul: u8,
    /// prctl(PR_SET_TSC, PR_TSC_SIGSEGV): RDTSC and RDTSCP in user mode raise
    /// SIGSEGV (CR4.TSD is set while this thread runs in user mode). Per
    /// thread, inherited by clone and fork and kept over execve, as Linux's
    /// TIF_NOTSC.
    pub tsc_sigsegv: bool,
    /// ioperm(2)'s ports, shared copy-on-write with the threads and children
    /// that inherited them.
    pub io_bitmap: Option<alloc::sync::Arc<IoBitmap>>,
}
/// A thread's ioperm(2) permissions: a bit per port, clear to allow it.
#[derive(Clone)]
pub struct IoBitmap {
    pub bits: [u8; 8192],
    /// Unique per content (from 2 up): tells a CPU whether its TSS holds it.
    pub id: u64,
}
impl IoBitmap {
    /// Every port denied.
    pub fn new() -> Self {
        Self {
            bits: [0xff; 8192],
            id: Self::next_id(),
        }
    }
    /// A fresh id, for a bitmap just changed.
    pub fn next_id() -> u64 {
        static NEXT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(2);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
impl Default for IoBitmap {
    fn default() -> Self {
        Self::new()
    }
}
impl core::fmt::Debug for IoBitmap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IoBitmap")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl UserContext {
    /// A context that starts user code at `rip` with stack `rsp`, interrupts enabled.
    pub fn new(rip: u64, rsp: u64) -> Self {
        Self {
            regs: TrapFrame {
                rip,
                rsp,
                cs: u64::from(USER_CS),
                ss: u64::from(USER_DS),
                rflags: rflags::FIXED | rflags::IF,
                ..TrapFrame::default()
            },
            fs_base: 0,
            gs_base: 0,
            orig_rax: 0,
            fault_addr: 0,
            iopl_emul: 0,
            tsc_sigsegv: false,
            io_bitmap: None,
        }
    }
}

/// Why [`enter_user`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// The thread executed `syscall`; the number is in `rax`.
    Syscall,
    /// The thread executed `syscall` and the fast hook ([`enter_user`]) ran the
    /// call: its number is in `orig_rax`, its result in `rax`, and what follows
    /// a call (signals, stops, timers) is still to do.
    SyscallDone,
    /// A page fault at `addr` with the CPU's error code.
    PageFault { addr: u64, code: u64 },
    /// An interrupt arrived while user code ran; it has been handled (the device
    /// acknowledged, wakers woken). The thread decides whether to yield.
    Interrupt(u8),
    /// Any other exception (vector, error code), e.g. #GP, #UD, #DE, #BP.
    Exception { vector: u8, code: u64 },
}

/// Page-fault error code bits.
pub mod pf {
    pub const WRITE: u64 = 1 << 1;
    pub const FETCH: u64 = 1 << 4;
    /// A protection-key violation (PKRU denied the access).
    pub const PK: u64 = 1 << 5;
}

global_asm!(
    r#"
.section .text
.balign 16
.global trap_stubs
trap_stubs:
.set vec, 0
/* One 16-byte stub per vector. Exceptions 8, 10-14, 17, 21, 29 and 30 push an
 * error code; for the others a 0 keeps the frame layout uniform. */
.rept 256
    .balign 16
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    push 0
    .endif
    push vec
    jmp trap_common
    .set vec, vec + 1
.endr

trap_common:
    cld
    test byte ptr [rsp + 24], 3
    jnz trap_from_user
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    call {kernel_trap}
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq

trap_from_user:
    swapgs
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    jmp user_trap_common

.global syscall_entry
syscall_entry:
    swapgs
    mov gs:[{user_rsp}], rsp
    mov rsp, gs:[{entry_top}]
    push {user_ds}
    push qword ptr gs:[{user_rsp}]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {syscall_vector}
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15

/* The fast path: the thread's hook (fast_syscall) may run the call and return
 * to user mode from here, on the kernel stack below enter_user's saved
 * registers (unused while the thread is in user mode). rbx, already in the
 * frame, keeps the frame's address across the call. A number not in
 * FAST_SYSCALLS (rax still holds it) goes the general way at once. */
    cmp rax, 255
    ja user_trap_common
    bt qword ptr [rip + {fast_set}], rax
    jnc user_trap_common
    mov rbx, rsp
    mov rsp, gs:[{kernel_rsp}]
    and rsp, -16
    mov rdi, rbx
    call {fast_syscall}
    mov rsp, rbx
    test al, al
    jz user_trap_common
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    swapgs
    mov rsp, [rsp + 40]
    sysretq

/* Copy the frame into the thread's UserContext and resume enter_user's caller. */
user_trap_common:
    mov rdi, gs:[{user_ctx}]
    mov rsi, rsp
    mov ecx, {frame_qwords}
    rep movsq
    mov rsp, gs:[{kernel_rsp}]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

/* enter_user_asm(ctx: *mut UserContext, sysret: u64)
 * Saves the kernel's callee-saved registers and RSP, then returns to user mode
 * from ctx. Comes back (as a normal return) on the next trap from user mode. */
.global enter_user_asm
enter_user_asm:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    cli
    mov gs:[{kernel_rsp}], rsp
    mov gs:[{user_ctx}], rdi
    mov rsp, rdi
    test rsi, rsi
    swapgs
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    jnz 1f
    add rsp, 16
    iretq
1:  mov rsp, [rsp + 40]
    sysretq
"#,
    kernel_trap = sym kernel_trap,
    fast_syscall = sym fast_syscall,
    fast_set = sym FAST_SYSCALLS,
    user_rsp = const offset::USER_RSP_SCRATCH,
    entry_top = const offset::ENTRY_STACK_TOP,
    user_ctx = const offset::USER_CTX,
    kernel_rsp = const offset::KERNEL_RSP,
    user_ds = const USER_DS as u64,
    user_cs = const USER_CS as u64,
    syscall_vector = const SYSCALL_VECTOR,
    frame_qwords = const FRAME_QWORDS,
);

// The assembly reads and writes only the TrapFrame at the start of a
// UserContext (repr(C)); the Rust-only fields after it need no C layout.
#[allow(improper_ctypes)]
unsafe extern "C" {
    static trap_stubs: [u8; 256 * 16];
    fn syscall_entry();
    fn enter_user_asm(ctx: *mut UserContext, sysret: u64);
}

/// One IDT gate (Intel SDM vol. 3, 6.14.1).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    _zero: u32,
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: spin::Once<Idt> = spin::Once::new();

fn build_idt() -> Idt {
    let base = core::ptr::addr_of!(trap_stubs) as u64;
    let mut idt = Idt([Gate::default(); 256]);
    for (v, gate) in idt.0.iter_mut().enumerate() {
        let addr = base + 16 * v as u64;
        // Present, 64-bit interrupt gate (IF cleared on entry). DPL 3 for #BP and #OF
        // so `int3` from user mode is a breakpoint (SIGTRAP) rather than #GP.
        let dpl = if v == 3 || v == 4 { 3 } else { 0 };
        *gate = Gate {
            offset_low: addr as u16,
            selector: KERNEL_CS,
            ist: match v {
                8 => gdt::IST_DOUBLE_FAULT,
                2 => gdt::IST_NMI,
                18 => gdt::IST_MACHINE_CHECK,
                1 => gdt::IST_DEBUG,
                _ => 0,
            },
            type_attr: 0x8e | (dpl << 5),
            offset_mid: (addr >> 16) as u16,
            offset_high: (addr >> 32) as u32,
            _zero: 0,
        };
    }
    idt
}

/// Loads the IDT on this CPU.
pub fn load_idt() {
    let idt = IDT.call_once(build_idt);
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let ptr = Pointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: idt as *const Idt as u64,
    };
    // SAFETY: the IDT is 'static and every gate points at a stub in trap_stubs.
    unsafe { asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack, preserves_flags)) };
}

/// Programs the `syscall` instruction: entry point, segments, and the RFLAGS bits
/// cleared on entry (IF so the entry runs with interrupts off until the frame is
/// saved; DF, TF, AC, NT, IOPL as Linux does).
pub fn init_syscall() {
    let star = (u64::from(gdt::USER32_CS) << 48) | (u64::from(KERNEL_CS) << 32);
    let fmask = rflags::TF | rflags::DF | rflags::IF | rflags::IOPL | rflags::AC | rflags::NT;
    // SAFETY: STAR matches the GDT layout (see gdt.rs), LSTAR is our entry stub.
    unsafe {
        cpu::wrmsr(msr::STAR, star);
        cpu::wrmsr(msr::LSTAR, syscall_entry as *const () as u64);
        cpu::wrmsr(msr::FMASK, fmask);
        cpu::wrmsr(msr::EFER, cpu::rdmsr(msr::EFER) | cpu::EFER_SCE);
    }
}

/// What a fast system call hook did with a call ([`enter_user`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// Nothing: the call goes the general way ([`Trap::Syscall`]).
    Slow,
    /// Ran it, its result in the frame's `rax`; back to user mode at once.
    Return,
    /// Ran it, its result in the frame's `rax`, but the thread has something
    /// to do before user mode ([`Trap::SyscallDone`]).
    Done,
}

/// A thread's fast system call hook: called at a `syscall` with the trap frame
/// (on the entry stack, not copied into the `UserContext` yet, whose `regs`
/// are stale) and the thread's `UserContext`, with interrupts disabled. It may
/// enable them; they are disabled again when it returns.
pub type FastHook<'a> = &'a mut (dyn FnMut(&mut TrapFrame, &mut UserContext) -> Fast + 'a);

/// The system call numbers (below 256) offered to the fast hook, a bit each
/// ([`allow_fast_syscalls`]); the entry code sends any other the general way
/// without calling [`fast_syscall`].
static FAST_SYSCALLS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Offers system calls `nrs` (each below 256) to the threads' fast hooks.
pub fn allow_fast_syscalls(nrs: &[usize]) {
    for &nr in nrs.iter().filter(|&&nr| nr < 256) {
        FAST_SYSCALLS[nr / 64].fetch_or(1 << (nr % 64), Ordering::Relaxed);
    }
}

/// Called by the syscall entry code, on the kernel stack, for a system
/// call in [`FAST_SYSCALLS`]: true when the running thread's hook ran the call and the entry code
/// is to return to user mode from the frame with `sysret`.
extern "C" fn fast_syscall(frame: &mut TrapFrame) -> bool {
    let cpu = this_cpu();
    let hook = cpu.fast_hook.load(Ordering::Relaxed) as *mut FastHook<'static>;
    // sysret resumes at rcx with the flags in r11; only where enter_user
    // would use it too (a canonical user address, flags user code may have).
    let r11 = frame.r11;
    if hook.is_null()
        || !kestrel_usermem::is_user_address(frame.rcx)
        || r11 != (r11 & rflags::USER_MASK) | rflags::FIXED | rflags::IF
    {
        return false;
    }
    let ctx = cpu.user_ctx.load(Ordering::Relaxed) as *mut UserContext;
    // SAFETY: `fast_hook` and `user_ctx` are set by `enter_user` and
    // `enter_user_asm` for the thread now in user mode, and a `syscall` only
    // comes from user mode, which exists only inside `enter_user_asm`: the hook
    // (on `enter_user`'s stack) and the `UserContext` (which `enter_user` lent
    // to the assembly by pointer and does not touch until it returns) are both
    // alive and used by nothing else while this runs.
    let r = unsafe { (*hook)(frame, &mut *ctx) };
    cpu::disable_interrupts();
    match r {
        Fast::Return => true,
        Fast::Done => {
            frame.vector = SYSCALL_DONE_VECTOR;
            false
        }
        Fast::Slow => false,
    }
}

/// Runs the thread described by `ctx` in user mode until the next trap, and returns
/// that trap. Interrupts taken from user mode are already handled when this returns.
///
/// `fast` is offered every system call first, and may complete it without this
/// returning ([`FastHook`], [`Fast`]): the thread goes back to user mode from
/// the entry code with `sysret`, with its FS, GS, PKRU, I/O bitmap and timer
/// as they are.
///
/// Called with interrupts enabled or disabled; they are off from the moment the
/// registers are loaded until user mode starts (then on, always).
///
/// `ctx` is sanitised first: user code and stack selectors, and only the RFLAGS bits
/// user space may set (IF always on). `ctx.regs.rip` must be canonical; the thread
/// layer checks that and delivers SIGSEGV instead (an `iret` to a non-canonical
/// address would fault in kernel mode with the user's GS loaded).
///
/// `pkru` is the thread's protection-key rights: loaded for user mode (the
/// thread's task loaded them already when it was polled, so normally this
/// writes nothing), and updated when user mode is left, since WRPKRU needs no
/// privilege.
pub fn enter_user(ctx: &mut UserContext, pkru: &AtomicU32, mut fast: FastHook<'_>) -> Trap {
    debug_assert!(kestrel_usermem::is_user_address(ctx.regs.rip));
    let r = &mut ctx.regs;
    r.cs = u64::from(USER_CS);
    r.ss = u64::from(USER_DS);
    r.rflags = (r.rflags & rflags::USER_MASK) | rflags::FIXED | rflags::IF;
    // SYSRET is faster but loads RIP from RCX and RFLAGS from R11; use it only when
    // those registers hold exactly that (after a syscall they do, by the ABI).
    let sysret = r.vector == SYSCALL_VECTOR
        && r.rcx == r.rip
        && r.r11 == r.rflags
        && kestrel_usermem::is_user_address(r.rip);
    // User code cannot change these MSRs itself (CR4.FSGSBASE is off), so a cached
    // copy says whether a write is needed; WRMSR is slow, and most returns need none.
    let cpu = this_cpu();
    let want = match &ctx.io_bitmap {
        _ if ctx.iopl_emul == 3 => 1,
        Some(b) => b.id,
        None => 0,
    };
    // One writer (this CPU): a load and a store, no locked exchange (slow
    // when emulated).
    if cpu.io_loaded.load(Ordering::Relaxed) != want {
        cpu.io_loaded.store(want, Ordering::Relaxed);
        let tss = cpu.tss.load(Ordering::Relaxed);
        // SAFETY: `tss` is this CPU's 'static TSS (set at bring-up, never freed).
        if let Some(tss) = unsafe { tss.as_ref() } {
            tss.set_io_ports(match (&ctx.io_bitmap, want) {
                (_, 0) => gdt::IoPorts::Closed,
                (_, 1) => gdt::IoPorts::All,
                (Some(b), _) => gdt::IoPorts::Bitmap(&b.bits),
                (None, _) => gdt::IoPorts::Closed,
            });
        }
    }
    // One writer (this CPU) here too: a load and a store, not an exchange.
    if cpu.user_fs_base.load(Ordering::Relaxed) != ctx.fs_base {
        cpu.user_fs_base.store(ctx.fs_base, Ordering::Relaxed);
        // SAFETY: the user FS base only affects user mode; arch_prctl checked it is
        // canonical.
        unsafe { cpu::wrmsr(msr::FS_BASE, ctx.fs_base) };
    }
    if cpu.user_gs_base.load(Ordering::Relaxed) != ctx.gs_base {
        cpu.user_gs_base.store(ctx.gs_base, Ordering::Relaxed);
        // SAFETY: KERNEL_GS_BASE becomes the user GS base at `swapgs` on the way out;
        // the kernel's own GS base is untouched.
        unsafe { cpu::wrmsr(msr::KERNEL_GS_BASE, ctx.gs_base) };
    }
    if cpu.tsd.load(Ordering::Relaxed) != ctx.tsc_sigsegv {
        cpu.tsd.store(ctx.tsc_sigsegv, Ordering::Relaxed);
        // SAFETY: CR4.TSD only restricts RDTSC/RDTSCP outside ring 0; the kernel's
        // own reads of the TSC are unaffected.
        unsafe {
            if ctx.tsc_sigsegv {
                cpu::set_cr4_bits(cpu::cr4::TSD);
            } else {
                cpu::clear_cr4_bits(cpu::cr4::TSD);
            }
        }
    }
    // The thread's protection-key rights (written only when another value is
    // loaded: under QEMU's TCG every WRPKRU flushes the TLB, and writing it on
    // each entry and exit made a null system call cost 12 us instead of 1).
    cpu::load_pkru(pkru.load(Ordering::Relaxed));
    // The hook, for `fast_syscall` while the thread is in user mode (cleared
    // when it is back: `fast` lives on this stack).
    cpu.fast_hook.store(&raw mut fast as u64, Ordering::Relaxed);
    // SAFETY: `ctx` starts with a TrapFrame that enter_user_asm pops and returns to;
    // the selectors and flags were forced above, so the return cannot fault. This
    // CPU's entry stack (TSS.RSP0) and kernel_rsp slot are set up by init_cpu.
    unsafe { enter_user_asm(ctx as *mut UserContext, u64::from(sysret)) };
    cpu.fast_hook.store(0, Ordering::Relaxed);
    // Back with interrupts disabled. Read CR2 before anything can fault again.
    let vector = ctx.regs.vector;
    if cpu::features().pku {
        // User mode may have changed it (WRPKRU needs no privilege).
        let now = cpu::rdpkru();
        cpu.pkru.store(now, Ordering::Relaxed);
        pkru.store(now, Ordering::Relaxed);
    }
    let trap = match vector {
        SYSCALL_VECTOR => Trap::Syscall,
        SYSCALL_DONE_VECTOR => {
            // A syscall still, for the next return (sysret).
            ctx.regs.vector = SYSCALL_VECTOR;
            Trap::SyscallDone
        }
        14 => Trap::PageFault {
            addr: cpu::read_cr2(),
            code: ctx.regs.error_code,
        },
        2 => {
            crate::panic::on_nmi(ctx.regs.rip, ctx.regs.rbp, true);
            Trap::Interrupt(2)
        }
        0..=31 => Trap::Exception {
            vector: vector as u8,
            code: ctx.regs.error_code,
        },
        v => {
            super::irq::dispatch(v as u8);
            Trap::Interrupt(v as u8)
        }
    };
    cpu::enable_interrupts();
    trap
}

/// The exception table: pairs of (faulting instruction, fix-up) emitted next to each
/// instruction that may fault on purpose (user-memory copies).
#[repr(C)]
struct ExceptionEntry {
    insn: u64,
    fixup: u64,
}

fn find_fixup(rip: u64) -> Option<u64> {
    unsafe extern "C" {
        static __ex_table_start: ExceptionEntry;
        static __ex_table_end: ExceptionEntry;
    }
    // SAFETY: the linker script places every __ex_table entry between these symbols.
    let table = unsafe {
        let start = core::ptr::addr_of!(__ex_table_start);
        let end = core::ptr::addr_of!(__ex_table_end);
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    };
    table.iter().find(|e| e.insn == rip).map(|e| e.fixup)
}

/// Handles a trap taken in kernel mode. Called from the entry code.
extern "C" fn kernel_trap(frame: &mut TrapFrame) {
    let vector = frame.vector;
    match vector {
        3 => {
            // int3 in kernel code: counted (the in-kernel tests use it) and resumed.
            this_cpu()
                .kernel_breakpoints
                .fetch_add(1, Ordering::Relaxed);
        }
        2 => crate::panic::on_nmi(frame.rip, frame.rbp, false),
        1 => {
            // #DB in kernel mode: a user data watchpoint that the kernel's own
            // access to user memory hit, or one held back by `mov ss` to the
            // first instruction of a kernel entry (see debugreg.rs). GS may
            // still be the user's here: reset DR6 and resume, nothing else.
            let _ = super::debugreg::take_dr6();
            frame.rflags &= !rflags::TF;
        }
        13 | 14 => match find_fixup(frame.rip) {
            Some(fixup) => {
                let addr = if vector == 14 { cpu::read_cr2() } else { 0 };
                this_cpu().fixup_fault_addr.store(addr, Ordering::Relaxed);
                frame.rip = fixup;
            }
            None => crate::panic::exception(frame),
        },
        0..=31 => crate::panic::exception(frame),
        v => {
            if v == u64::from(super::irq::TIMER_VECTOR) {
                crate::profile::kernel_tick(frame.rip, frame.rbp);
                crate::watchdog::kernel_tick(frame.rip, frame.rbp);
            }
            super::irq::dispatch(v as u8)
        }
    }
}

/// The name of a CPU exception vector.
pub fn exception_name(vector: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "divide error (#DE)",
        "debug (#DB)",
        "non-maskable interrupt",
        "breakpoint (#BP)",
        "overflow (#OF)",
        "bound range (#BR)",
        "invalid opcode (#UD)",
        "device not available (#NM)",
        "double fault (#DF)",
        "coprocessor segment overrun",
        "invalid TSS (#TS)",
        "segment not present (#NP)",
        "stack fault (#SS)",
        "general protection (#GP)",
        "page fault (#PF)",
        "reserved",
        "x87 floating point (#MF)",
        "alignment check (#AC)",
        "machine check (#MC)",
        "SIMD floating point (#XM)",
        "virtualization (#VE)",
        "control protection (#CP)",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "hypervisor injection (#HV)",
        "VMM communication (#VC)",
        "security (#SX)",
        "reserved",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("interrupt")
}

const _: () = assert!(FRAME_QWORDS == 22);
