//! seccomp (seccomp(2)) as logic: the classic-BPF checker Linux applies to a
//! seccomp filter ([`Program::new`]), the interpreter that runs it on a
//! `struct seccomp_data` ([`Program::run`]), the stack of filters a thread
//! carries ([`Filter`]: installed ones point at the ones before them, shared
//! across fork) and the precedence of actions when the whole stack runs
//! ([`Filter::run_all`], [`Action`]).
//!
//! The kernel (kernel/src/syscall/seccomp.rs) reads the user's program, keeps
//! each thread's stack, runs it at system-call entry and carries out the
//! action.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use kestrel_abi::Errno;
use kestrel_abi::seccomp::*;

pub use kestrel_abi::seccomp::{SeccompData, SockFilter};

/// The most instructions on any path through a thread's filter stack, each
/// filter counted with a four-instruction penalty (Linux's MAX_INSNS_PER_PATH:
/// 256 KiB of instructions). Linux counts a filter by its length once
/// translated for its BPF engine ([`Program::cost`]), not as written.
pub const MAX_INSNS_PER_PATH: usize = (1 << 18) / 8;

// Classic BPF instruction classes and fields (linux/bpf_common.h).
pub const BPF_LD: u16 = 0x00;
pub const BPF_LDX: u16 = 0x01;
pub const BPF_ST: u16 = 0x02;
pub const BPF_STX: u16 = 0x03;
pub const BPF_ALU: u16 = 0x04;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_RET: u16 = 0x06;
pub const BPF_MISC: u16 = 0x07;
pub const BPF_W: u16 = 0x00;
pub const BPF_H: u16 = 0x08;
pub const BPF_B: u16 = 0x10;
pub const BPF_IMM: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_IND: u16 = 0x40;
pub const BPF_MEM: u16 = 0x60;
pub const BPF_LEN: u16 = 0x80;
pub const BPF_MSH: u16 = 0xa0;
pub const BPF_ADD: u16 = 0x00;
pub const BPF_SUB: u16 = 0x10;
pub const BPF_MUL: u16 = 0x20;
pub const BPF_DIV: u16 = 0x30;
pub const BPF_OR: u16 = 0x40;
pub const BPF_AND: u16 = 0x50;
pub const BPF_LSH: u16 = 0x60;
pub const BPF_RSH: u16 = 0x70;
pub const BPF_NEG: u16 = 0x80;
pub const BPF_MOD: u16 = 0x90;
pub const BPF_XOR: u16 = 0xa0;
pub const BPF_JA: u16 = 0x00;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JGT: u16 = 0x20;
pub const BPF_JGE: u16 = 0x30;
pub const BPF_JSET: u16 = 0x40;
pub const BPF_K: u16 = 0x00;
pub const BPF_X: u16 = 0x08;
pub const BPF_A: u16 = 0x10;
pub const BPF_TAX: u16 = 0x00;
pub const BPF_TXA: u16 = 0x80;

/// The size of `struct seccomp_data`, what BPF_LEN loads.
pub const DATA_SIZE: u32 = 64;

/// Whether classic BPF knows `code` at all (Linux's chk_code_allowed: every
/// socket-filter instruction).
fn classic_code_allowed(code: u16) -> bool {
    const ALU_OPS: [u16; 10] = [
        BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH,
    ];
    const JMP_OPS: [u16; 4] = [BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET];
    if ALU_OPS
        .iter()
        .any(|&op| code == BPF_ALU | op | BPF_K || code == BPF_ALU | op | BPF_X)
        || JMP_OPS
            .iter()
            .any(|&op| code == BPF_JMP | op | BPF_K || code == BPF_JMP | op | BPF_X)
    {
        return true;
    }
    matches!(
        code,
        x if x == BPF_ALU | BPF_NEG
            || x == BPF_LD | BPF_W | BPF_ABS
            || x == BPF_LD | BPF_H | BPF_ABS
            || x == BPF_LD | BPF_B | BPF_ABS
            || x == BPF_LD | BPF_W | BPF_LEN
            || x == BPF_LD | BPF_W | BPF_IND
            || x == BPF_LD | BPF_H | BPF_IND
            || x == BPF_LD | BPF_B | BPF_IND
            || x == BPF_LD | BPF_IMM
            || x == BPF_LD | BPF_MEM
            || x == BPF_LDX | BPF_W | BPF_LEN
            || x == BPF_LDX | BPF_B | BPF_MSH
            || x == BPF_LDX | BPF_IMM
            || x == BPF_LDX | BPF_MEM
            || x == BPF_ST
            || x == BPF_STX
            || x == BPF_MISC | BPF_TAX
            || x == BPF_MISC | BPF_TXA
            || x == BPF_RET | BPF_K
            || x == BPF_RET | BPF_A
            || x == BPF_JMP | BPF_JA
    )
}

fn is_cond_jump(code: u16) -> bool {
    code & 0x07 == BPF_JMP && code != BPF_JMP | BPF_JA
}

/// Linux's bpf_check_classic: known instructions, no division by a zero
/// constant, no shift by 32 or more, scratch cells in range, jumps forward and
/// inside the program, the last instruction a return, and no scratch cell read
/// on a path that has not written it.
pub fn check_classic(prog: &[SockFilter]) -> Result<(), Errno> {
    let len = prog.len();
    if len == 0 || len > BPF_MAXINSNS {
        return Err(Errno::EINVAL);
    }
    for (pc, insn) in prog.iter().enumerate() {
        let code = insn.code;
        if !classic_code_allowed(code) {
            return Err(Errno::EINVAL);
        }
        let k = insn.k;
        let bad = match code {
            c if c == BPF_ALU | BPF_DIV | BPF_K || c == BPF_ALU | BPF_MOD | BPF_K => k == 0,
            c if c == BPF_ALU | BPF_LSH | BPF_K || c == BPF_ALU | BPF_RSH | BPF_K => k >= 32,
            c if c == BPF_LD | BPF_MEM || c == BPF_LDX | BPF_MEM || c == BPF_ST || c == BPF_STX => {
                k as usize >= BPF_MEMWORDS
            }
            c if c == BPF_JMP | BPF_JA => k as usize >= len - pc - 1,
            c if is_cond_jump(c) => {
                pc + insn.jt as usize + 1 >= len || pc + insn.jf as usize + 1 >= len
            }
            // Socket filters' ancillary loads (k past SKF_AD_OFF) mean
            // nothing to seccomp, whose own check refuses them below.
            _ => false,
        };
        if bad {
            return Err(Errno::EINVAL);
        }
    }
    let last = prog[len - 1].code;
    if last != BPF_RET | BPF_K && last != BPF_RET | BPF_A {
        return Err(Errno::EINVAL);
    }
    check_loads_and_stores(prog)
}

/// Every scratch-memory read follows a write of that cell on all paths to it
/// (Linux's check_load_and_stores: one bit per cell, anded at jump targets).
fn check_loads_and_stores(prog: &[SockFilter]) -> Result<(), Errno> {
    let mut masks = Vec::new();
    masks
        .try_reserve_exact(prog.len())
        .map_err(|_| Errno::ENOMEM)?;
    masks.resize(prog.len(), u16::MAX);
    let mut valid: u16 = 0;
    for (pc, insn) in prog.iter().enumerate() {
        valid &= masks[pc];
        let code = insn.code;
        let k = insn.k;
        if code == BPF_ST || code == BPF_STX {
            valid |= 1 << k;
        } else if code == BPF_LD | BPF_MEM || code == BPF_LDX | BPF_MEM {
            if valid & (1 << k) == 0 {
                return Err(Errno::EINVAL);
            }
        } else if code == BPF_JMP | BPF_JA {
            masks[pc + 1 + k as usize] &= valid;
            valid = u16::MAX;
        } else if is_cond_jump(code) {
            masks[pc + 1 + insn.jt as usize] &= valid;
            masks[pc + 1 + insn.jf as usize] &= valid;
            valid = u16::MAX;
        }
    }
    Ok(())
}

/// Linux's seccomp_check_filter: of the classic instructions, those a seccomp
/// filter may use. Loads read `struct seccomp_data` only, a 32-bit word at an
/// aligned offset inside it (or its length); no packet loads, no modulo.
pub fn check_seccomp(prog: &[SockFilter]) -> Result<(), Errno> {
    const ALU_OPS: [u16; 9] = [
        BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH,
    ];
    const JMP_OPS: [u16; 4] = [BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET];
    for insn in prog {
        let code = insn.code;
        if code == BPF_LD | BPF_W | BPF_ABS {
            if insn.k >= DATA_SIZE || insn.k & 3 != 0 {
                return Err(Errno::EINVAL);
            }
            continue;
        }
        let ok = ALU_OPS
            .iter()
            .any(|&op| code == BPF_ALU | op | BPF_K || code == BPF_ALU | op | BPF_X)
            || JMP_OPS
                .iter()
                .any(|&op| code == BPF_JMP | op | BPF_K || code == BPF_JMP | op | BPF_X)
            || [
                BPF_LD | BPF_W | BPF_LEN,
                BPF_LDX | BPF_W | BPF_LEN,
                BPF_RET | BPF_K,
                BPF_RET | BPF_A,
                BPF_ALU | BPF_NEG,
                BPF_LD | BPF_IMM,
                BPF_LDX | BPF_IMM,
                BPF_MISC | BPF_TAX,
                BPF_MISC | BPF_TXA,
                BPF_LD | BPF_MEM,
                BPF_LDX | BPF_MEM,
                BPF_ST,
                BPF_STX,
                BPF_JMP | BPF_JA,
            ]
            .contains(&code);
        if !ok {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

/// A checked seccomp filter program.
#[derive(Debug, Clone)]
pub struct Program {
    insns: Vec<SockFilter>,
    cost: usize,
}

/// The length Linux gives a checked program: the number of instructions its
/// translation from classic BPF to its internal BPF has (bpf_convert_filter),
/// which is what MAX_INSNS_PER_PATH limits. Three to start (clear A and X,
/// keep the context pointer); a RET K is two (load the value, exit); a
/// division by X five (zero-extend X, test it, return 0 if it is zero);
/// a conditional jump one, plus one to load a constant above 2^31 into a
/// register, plus one when neither branch falls through (or JSET's true one
/// does not); everything else one. (Measured against Linux 6.18.)
fn translated_len(prog: &[SockFilter]) -> usize {
    3 + prog
        .iter()
        .map(|insn| {
            let code = insn.code;
            if code == BPF_RET | BPF_K {
                2
            } else if code == BPF_ALU | BPF_DIV | BPF_X || code == BPF_ALU | BPF_MOD | BPF_X {
                5
            } else if is_cond_jump(code) {
                let wide = usize::from(code & BPF_X == 0 && (insn.k as i32) < 0);
                let jumps = if insn.jf == 0 || (insn.jt == 0 && code & 0xf0 != BPF_JSET) {
                    1
                } else {
                    2
                };
                wide + jumps
            } else {
                1
            }
        })
        .sum::<usize>()
}

impl Program {
    /// Checks `insns` as Linux does a new seccomp filter (EINVAL if refused):
    /// the classic check, then seccomp's.
    pub fn new(insns: Vec<SockFilter>) -> Result<Self, Errno> {
        check_classic(&insns)?;
        check_seccomp(&insns)?;
        let cost = translated_len(&insns);
        Ok(Self { insns, cost })
    }

    /// The number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// The instructions as installed (PTRACE_SECCOMP_GET_FILTER).
    pub fn insns(&self) -> &[SockFilter] {
        &self.insns
    }

    /// What the program counts for against [`MAX_INSNS_PER_PATH`]: its
    /// length as Linux translates it.
    pub fn cost(&self) -> usize {
        self.cost
    }

    /// Never true: a checked program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Runs the program on `data` and returns its result. The checks made
    /// every jump go forward inside the program, so it ends; an instruction
    /// it should not meet ends it with 0 (SECCOMP_RET_KILL_THREAD), as does a
    /// division by a zero X (classic BPF's rule).
    pub fn run(&self, data: &SeccompData) -> u32 {
        let words = data_words(data);
        let mut a: u32 = 0;
        let mut x: u32 = 0;
        let mut mem = [0u32; BPF_MEMWORDS];
        let mut pc = 0usize;
        while let Some(insn) = self.insns.get(pc) {
            pc += 1;
            let k = insn.k;
            let code = insn.code;
            match code & 0x07 {
                BPF_LD => match code {
                    c if c == BPF_LD | BPF_W | BPF_ABS => {
                        a = words.get(k as usize / 4).copied().unwrap_or(0);
                    }
                    c if c == BPF_LD | BPF_W | BPF_LEN => a = DATA_SIZE,
                    c if c == BPF_LD | BPF_IMM => a = k,
                    c if c == BPF_LD | BPF_MEM => a = mem[k as usize % BPF_MEMWORDS],
                    _ => return 0,
                },
                BPF_LDX => match code {
                    c if c == BPF_LDX | BPF_W | BPF_LEN => x = DATA_SIZE,
                    c if c == BPF_LDX | BPF_IMM => x = k,
                    c if c == BPF_LDX | BPF_MEM => x = mem[k as usize % BPF_MEMWORDS],
                    _ => return 0,
                },
                BPF_ST => mem[k as usize % BPF_MEMWORDS] = a,
                BPF_STX => mem[k as usize % BPF_MEMWORDS] = x,
                BPF_ALU => {
                    if code == BPF_ALU | BPF_NEG {
                        a = a.wrapping_neg();
                        continue;
                    }
                    let v = if code & BPF_X != 0 { x } else { k };
                    a = match code & 0xf0 {
                        BPF_ADD => a.wrapping_add(v),
                        BPF_SUB => a.wrapping_sub(v),
                        BPF_MUL => a.wrapping_mul(v),
                        BPF_DIV => match a.checked_div(v) {
                            Some(q) => q,
                            None => return 0,
                        },
                        BPF_MOD => match a.checked_rem(v) {
                            Some(r) => r,
                            None => return 0,
                        },
                        BPF_AND => a & v,
                        BPF_OR => a | v,
                        BPF_XOR => a ^ v,
                        // A shift by X of 32 or more: x86's, the count's low
                        // five bits (the K forms are checked below 32).
                        BPF_LSH => a.wrapping_shl(v),
                        BPF_RSH => a.wrapping_shr(v),
                        _ => return 0,
                    };
                }
                BPF_JMP => {
                    if code == BPF_JMP | BPF_JA {
                        pc = pc.saturating_add(k as usize);
                        continue;
                    }
                    let v = if code & BPF_X != 0 { x } else { k };
                    let taken = match code & 0xf0 {
                        BPF_JEQ => a == v,
                        BPF_JGT => a > v,
                        BPF_JGE => a >= v,
                        BPF_JSET => a & v != 0,
                        _ => return 0,
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                BPF_RET => {
                    return match code & 0x18 {
                        BPF_K => k,
                        BPF_A => a,
                        _ => 0,
                    };
                }
                _ => match code {
                    c if c == BPF_MISC | BPF_TAX => x = a,
                    c if c == BPF_MISC | BPF_TXA => a = x,
                    _ => return 0,
                },
            }
        }
        0
    }
}

/// `data` as the sixteen native-endian 32-bit words a filter loads.
fn data_words(d: &SeccompData) -> [u32; 16] {
    let mut w = [0u32; 16];
    w[0] = d.nr as u32;
    w[1] = d.arch;
    w[2] = d.instruction_pointer as u32;
    w[3] = (d.instruction_pointer >> 32) as u32;
    for (i, arg) in d.args.iter().enumerate() {
        w[4 + 2 * i] = *arg as u32;
        w[5 + 2 * i] = (*arg >> 32) as u32;
    }
    w
}

/// What a filter's result asks for, its data split off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Kill the whole process (SIGSYS, core dump). Unknown actions mean this
    /// too, as on Linux.
    KillProcess,
    /// Kill the calling thread (the process if it is the last one).
    KillThread,
    /// SIGSYS to the thread, with the data in si_errno; the call is not run.
    Trap(u16),
    /// The call fails with this errno (capped at 4095); it is not run.
    Errno(u32),
    /// Ask the listener of the matching filter.
    UserNotif,
    /// A PTRACE_EVENT_SECCOMP stop with this message, or ENOSYS untraced.
    Trace(u16),
    /// Run the call, and log it.
    Log,
    /// Run the call.
    Allow,
}

/// Linux's MAX_ERRNO: SECCOMP_RET_ERRNO's data is capped here.
pub const MAX_ERRNO: u32 = 4095;

impl Action {
    /// The action a filter result `ret` asks for.
    pub fn of(ret: u32) -> Self {
        let data = (ret & SECCOMP_RET_DATA) as u16;
        match ret & SECCOMP_RET_ACTION_FULL {
            SECCOMP_RET_KILL_THREAD => Self::KillThread,
            SECCOMP_RET_TRAP => Self::Trap(data),
            SECCOMP_RET_ERRNO => Self::Errno(u32::from(data).min(MAX_ERRNO)),
            SECCOMP_RET_USER_NOTIF => Self::UserNotif,
            SECCOMP_RET_TRACE => Self::Trace(data),
            SECCOMP_RET_LOG => Self::Log,
            SECCOMP_RET_ALLOW => Self::Allow,
            _ => Self::KillProcess,
        }
    }

    /// Whether SECCOMP_GET_ACTION_AVAIL reports `action` (an action value,
    /// without data) as supported.
    pub fn available(action: u32) -> bool {
        matches!(
            action,
            SECCOMP_RET_KILL_PROCESS
                | SECCOMP_RET_KILL_THREAD
                | SECCOMP_RET_TRAP
                | SECCOMP_RET_ERRNO
                | SECCOMP_RET_USER_NOTIF
                | SECCOMP_RET_TRACE
                | SECCOMP_RET_LOG
                | SECCOMP_RET_ALLOW
        )
    }
}

/// The precedence key of a filter result: the action bits as a signed number;
/// the lowest wins (KILL_PROCESS, then KILL_THREAD, TRAP, ERRNO, USER_NOTIF,
/// TRACE, LOG, ALLOW), the data left out.
fn precedence(ret: u32) -> i32 {
    (ret & SECCOMP_RET_ACTION_FULL) as i32
}

/// One installed filter and the ones installed before it: a thread's filter
/// stack is its newest `Filter`. Filters never change once installed; fork
/// shares them (an `Arc`), so stacks form a tree.
pub struct Filter {
    prog: Program,
    /// SECCOMP_FILTER_FLAG_LOG: actions other than ALLOW are logged.
    pub log: bool,
    /// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV.
    pub wait_killable_recv: bool,
    /// The kernel's listener state, for a filter installed with
    /// SECCOMP_FILTER_FLAG_NEW_LISTENER (its SECCOMP_RET_USER_NOTIF results
    /// go there).
    pub notif: Option<Arc<dyn Any + Send + Sync>>,
    prev: Option<Arc<Filter>>,
    /// Instructions on the path from here to the root, each filter with
    /// Linux's four-instruction penalty.
    path_insns: usize,
    /// The filters on the stack, this one included.
    count: usize,
}

impl Filter {
    /// Stacks `prog` on `prev` (None: the first filter). ENOMEM if the stack
    /// would hold more than [`MAX_INSNS_PER_PATH`] instructions (the new
    /// program plus each earlier one with four more, each by its
    /// [`Program::cost`]).
    pub fn stack(
        prog: Program,
        prev: Option<Arc<Filter>>,
        log: bool,
        wait_killable_recv: bool,
        notif: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Result<Arc<Self>, Errno> {
        let below = prev.as_ref().map_or(0, |p| p.path_insns);
        if prog.cost() + below > MAX_INSNS_PER_PATH {
            return Err(Errno::ENOMEM);
        }
        Ok(Arc::new(Self {
            path_insns: below + prog.cost() + 4,
            count: prev.as_ref().map_or(0, |p| p.count) + 1,
            prog,
            log,
            wait_killable_recv,
            notif,
            prev,
        }))
    }

    /// The number of filters on this stack (/proc's Seccomp_filters).
    pub fn count(&self) -> usize {
        self.count
    }

    /// The filter installed before this one.
    pub fn prev(&self) -> Option<&Arc<Filter>> {
        self.prev.as_ref()
    }

    /// This filter's program.
    pub fn program(&self) -> &Program {
        &self.prog
    }

    /// Runs every filter of the stack, newest first, and returns the result
    /// whose action comes first in precedence (of equals, the newest
    /// filter's), with the filter that gave it; SECCOMP_RET_ALLOW and no
    /// filter if all allow.
    pub fn run_all<'a>(self: &'a Arc<Self>, data: &SeccompData) -> (u32, Option<&'a Filter>) {
        let mut ret = SECCOMP_RET_ALLOW;
        let mut matched = None;
        let mut f: Option<&'a Filter> = Some(self);
        while let Some(filter) = f {
            let r = filter.prog.run(data);
            if precedence(r) < precedence(ret) {
                ret = r;
                matched = Some(filter);
            }
            f = filter.prev.as_deref();
        }
        (ret, matched)
    }

    /// The `n`th filter of the stack counting from the first installed (0),
    /// as PTRACE_SECCOMP_GET_FILTER numbers them.
    pub fn nth_from_oldest(self: &Arc<Self>, n: usize) -> Option<&Filter> {
        let from_newest = self.count.checked_sub(n + 1)?;
        let mut f: &Filter = self;
        for _ in 0..from_newest {
            f = f.prev.as_deref()?;
        }
        Some(f)
    }

    /// Whether `ancestor` is on `stack` (None, the empty stack, is on every
    /// stack): what TSYNC asks of the other threads' stacks.
    pub fn is_ancestor(ancestor: Option<&Arc<Filter>>, stack: Option<&Arc<Filter>>) -> bool {
        let Some(a) = ancestor else { return true };
        let mut f = stack;
        while let Some(s) = f {
            if Arc::ptr_eq(s, a) {
                return true;
            }
            f = s.prev.as_ref();
        }
        false
    }
}

impl core::fmt::Debug for Filter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Filter")
            .field("len", &self.prog.len())
            .field("log", &self.log)
            .field("listener", &self.notif.is_some())
            .field("count", &self.count)
            .finish()
    }
}

impl Drop for Filter {
    /// Frees a stack with no other owners one filter at a time: thousands of
    /// filters would otherwise drop recursively, one stack frame each.
    fn drop(&mut self) {
        let mut next = self.prev.take();
        while let Some(f) = next {
            match Arc::try_unwrap(f) {
                Ok(mut inner) => next = inner.prev.take(),
                Err(_) => break,
            }
        }
    }
}

/// The `seccomp_data` of a system call: `nr` is orig_rax's low 32 bits (the
/// x32 bit, 0x40000000, stays in it for a filter to see), the architecture
/// is always x86-64.
pub fn data_for(nr: u64, ip: u64, args: [u64; 6]) -> SeccompData {
    SeccompData {
        nr: nr as u32 as i32,
        arch: kestrel_abi::ptrace::AUDIT_ARCH_X86_64,
        instruction_pointer: ip,
        args,
    }
}

/// The system calls strict mode allows: read, write, exit, rt_sigreturn.
pub fn strict_allows(nr: u64) -> bool {
    // Linux compares the number as an int.
    matches!(nr as u32 as i32, 0 | 1 | 60 | 15)
}

#[cfg(test)]
mod tests;
