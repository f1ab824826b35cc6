//! The verifier: a program loads only if every path through it is safe.
//!
//! Two passes, as Linux's: the control-flow check (known opcodes, reserved
//! fields zero, jumps inside the program and not into the middle of a
//! 16-byte load, no loop, no unreachable instruction, no falling off the
//! end), then a walk of every path tracking what each register and stack
//! slot holds: uninitialised, a number (its value when known), or a pointer
//! to the context, the stack, a map or a map value (with its exact offset).
//! A memory access must fall inside what its pointer points to; a pointer
//! may not be stored where the program or user space could read it as a
//! number (a map value, the context) nor returned; a map lookup's result
//! must be checked against NULL before use; helpers get the argument types
//! they expect.
//!
//! Errors are EINVAL for a malformed program, EACCES for an unsafe one,
//! E2BIG for one too complex to walk, with a line in the log saying which
//! instruction and why.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::Errno;

use crate::interp::{Program, alu, cond, endian};
use crate::map::Map;
use crate::{
    Insn, MAX_INSNS, MAX_PENDING, MAX_PROCESSED, MAX_USED_MAPS, STACK_SIZE, func, op, skb,
};

/// The verifier's log (`log_buf`): what it says is kept up to `cap` bytes.
#[derive(Default)]
pub struct Log {
    pub text: String,
    pub cap: usize,
}

impl Log {
    fn line(&mut self, s: &str) {
        if self.text.len() + s.len() + 1 < self.cap {
            self.text.push_str(s);
            self.text.push('\n');
        }
    }
}

/// What a register (or a spilled stack slot) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Uninit,
    /// A number, with its value when known.
    Scalar(Option<u64>),
    /// The context (`struct __sk_buff`), at an offset.
    Ctx(i64),
    /// The stack, at an offset from r10 (the top).
    Stack(i64),
    /// A map (what `BPF_LD_MAP_FD` loads).
    Map(u8),
    /// A map value, at an offset.
    Value {
        map: u8,
        off: i64,
    },
    /// A map lookup's result: a value or NULL, until checked.
    ValueOrNull {
        map: u8,
        id: u32,
    },
}

impl Reg {
    fn is_pointer(self) -> bool {
        !matches!(self, Reg::Uninit | Reg::Scalar(_))
    }
    fn name(self) -> &'static str {
        match self {
            Reg::Uninit => "uninit",
            Reg::Scalar(_) => "scalar",
            Reg::Ctx(_) => "ctx",
            Reg::Stack(_) => "fp",
            Reg::Map(_) => "map_ptr",
            Reg::Value { .. } => "map_value",
            Reg::ValueOrNull { .. } => "map_value_or_null",
        }
    }
}

/// One 8-byte stack slot: which of its bytes were written, and the register
/// spilled there by an aligned 8-byte store.
#[derive(Clone, Copy, Debug)]
struct Slot {
    init: u8,
    spill: Option<Reg>,
}

#[derive(Clone)]
struct State {
    regs: [Reg; 11],
    stack: [Slot; STACK_SIZE / 8],
}

/// Pointer offsets stay within this (the interpreter's pointers have 32 bits
/// of biased offset).
const MAX_OFF: i64 = 1 << 29;

struct Verifier<'a> {
    insns: &'a [Insn],
    maps: &'a [Arc<Map>],
    log: &'a mut Log,
    next_id: u32,
    /// A loader with CAP_PERFMON: as Linux's allow_ptr_leaks and
    /// allow_uninit_stack, pointers may be stored, compared, returned and
    /// copied as numbers, and unwritten stack read (as zero here: the stack
    /// is cleared for each run). A pointer here is a tag, not an address, so
    /// what "leaks" says nothing about the kernel's memory.
    privileged: bool,
}

type R<T> = Result<T, Errno>;

/// `n` copies of `v`, or ENOMEM.
fn try_vec<T: Clone>(n: usize, v: T) -> R<Vec<T>> {
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    out.resize(n, v);
    Ok(out)
}

/// Queues a branch to walk later: E2BIG past [`MAX_PENDING`], ENOMEM.
fn pend(work: &mut Vec<(usize, State)>, pc: usize, st: State) -> R<()> {
    if work.len() >= MAX_PENDING {
        return Err(Errno::E2BIG);
    }
    work.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
    work.push((pc, st));
    Ok(())
}

fn is_imm64(i: &Insn) -> bool {
    i.code == op::LD | op::IMM | op::DW
}

impl Verifier<'_> {
    fn fail(&mut self, pc: usize, e: Errno, msg: &str) -> Errno {
        self.log.line(&format!("{pc}: {msg}"));
        e
    }

    /// Pass one: opcodes, fields, jumps, loops, reachability.
    fn check_cfg(&mut self) -> R<()> {
        let n = self.insns.len();
        let mut succ: Vec<[Option<usize>; 2]> = try_vec(n, [None, None])?;
        let mut second_half = try_vec(n, false)?;
        let mut pc = 0;
        while pc < n {
            let i = self.insns[pc];
            if i.dst > 10 || i.src > 10 {
                return Err(self.fail(pc, Errno::EINVAL, "R invalid register"));
            }
            let target = |me: &mut Self, off: i16| -> R<usize> {
                match (pc as isize + 1).checked_add(isize::from(off)) {
                    Some(t) if t >= 0 && (t as usize) < n => Ok(t as usize),
                    _ => Err(me.fail(
                        pc,
                        Errno::EINVAL,
                        &format!("jump out of range to {}", pc as isize + 1 + off as isize),
                    )),
                }
            };
            let next = (pc + 1 < n).then_some(pc + 1);
            let bad = |me: &mut Self, what: &str| me.fail(pc, Errno::EINVAL, what);
            match i.class() {
                op::ALU | op::ALU64 => {
                    let o = i.op();
                    if o > op::END || (o == op::END && i.class() == op::ALU64) {
                        return Err(bad(self, &format!("unknown opcode {:02x}", i.code)));
                    }
                    if o == op::END {
                        if i.src != 0 || i.off != 0 || !matches!(i.imm, 16 | 32 | 64) {
                            return Err(bad(self, "BPF_END uses reserved fields"));
                        }
                    } else if o == op::NEG {
                        if i.src != 0 || i.off != 0 || i.imm != 0 || i.uses_x() {
                            return Err(bad(self, "BPF_NEG uses reserved fields"));
                        }
                    } else if i.uses_x() {
                        if i.imm != 0 || i.off != 0 {
                            return Err(bad(self, "BPF_ALU uses reserved fields"));
                        }
                    } else {
                        if i.src != 0 || i.off != 0 {
                            return Err(bad(self, "BPF_ALU uses reserved fields"));
                        }
                        if matches!(o, op::DIV | op::MOD) && i.imm == 0 {
                            return Err(bad(self, "div by zero"));
                        }
                        let width = if i.class() == op::ALU64 { 64 } else { 32 };
                        if matches!(o, op::LSH | op::RSH | op::ARSH) && !(0..width).contains(&i.imm)
                        {
                            return Err(bad(self, &format!("invalid shift {}", i.imm)));
                        }
                    }
                    succ[pc][0] = next;
                }
                op::LDX => {
                    if i.mode() != op::MEM || i.imm != 0 {
                        return Err(bad(self, "BPF_LDX uses reserved fields"));
                    }
                    succ[pc][0] = next;
                }
                op::ST => {
                    if i.mode() != op::MEM || i.src != 0 {
                        return Err(bad(self, "BPF_ST uses reserved fields"));
                    }
                    succ[pc][0] = next;
                }
                op::STX => {
                    match i.mode() {
                        op::MEM if i.imm == 0 => {}
                        op::ATOMIC if matches!(i.size_bytes(), 4 | 8) => {
                            let base = i.imm & !op::FETCH;
                            let known = matches!(base, 0x00 | 0x40 | 0x50 | 0xa0)
                                || matches!(i.imm, op::XCHG | op::CMPXCHG);
                            if !known {
                                return Err(bad(
                                    self,
                                    &format!("BPF_ATOMIC uses invalid atomic opcode {:02x}", i.imm),
                                ));
                            }
                        }
                        _ => return Err(bad(self, "BPF_STX uses reserved fields")),
                    }
                    succ[pc][0] = next;
                }
                op::LD => {
                    if is_imm64(&i) {
                        if pc + 1 >= n {
                            return Err(bad(self, "invalid bpf_ld_imm64 insn"));
                        }
                        let h = self.insns[pc + 1];
                        if h.code != 0 || h.dst != 0 || h.src != 0 || h.off != 0 || i.off != 0 {
                            return Err(bad(self, "invalid bpf_ld_imm64 insn"));
                        }
                        if !matches!(i.src, 0 | op::PSEUDO_MAP_FD) {
                            return Err(bad(self, "unrecognized bpf_ld_imm64 insn"));
                        }
                        second_half[pc + 1] = true;
                        succ[pc][0] = (pc + 2 < n).then_some(pc + 2);
                        pc += 2;
                        continue;
                    }
                    let ok = matches!(i.mode(), op::ABS | op::IND)
                        && i.size_bytes() != 8
                        && i.dst == 0
                        && i.off == 0
                        && !(i.mode() == op::ABS && i.src != 0);
                    if !ok {
                        return Err(bad(self, "BPF_LD_[ABS|IND] uses reserved fields"));
                    }
                    succ[pc][0] = next;
                }
                op::JMP | op::JMP32 => {
                    let wide = i.class() == op::JMP;
                    match i.op() {
                        op::JA if wide => {
                            if i.src != 0 || i.dst != 0 || i.imm != 0 || i.uses_x() {
                                return Err(bad(self, "BPF_JA uses reserved fields"));
                            }
                            succ[pc][0] = Some(target(self, i.off)?);
                        }
                        op::CALL if wide => {
                            if i.src == 1 {
                                return Err(bad(
                                    self,
                                    "function calls to other bpf functions are not supported",
                                ));
                            }
                            if i.src != 0 || i.dst != 0 || i.off != 0 || i.uses_x() {
                                return Err(bad(self, "BPF_CALL uses reserved fields"));
                            }
                            succ[pc][0] = next;
                        }
                        op::EXIT if wide => {
                            if i.src != 0 || i.dst != 0 || i.off != 0 || i.imm != 0 || i.uses_x() {
                                return Err(bad(self, "BPF_EXIT uses reserved fields"));
                            }
                        }
                        op::JEQ
                        | op::JGT
                        | op::JGE
                        | op::JSET
                        | op::JNE
                        | op::JSGT
                        | op::JSGE
                        | op::JLT
                        | op::JLE
                        | op::JSLT
                        | op::JSLE => {
                            if (i.uses_x() && i.imm != 0) || (!i.uses_x() && i.src != 0) {
                                return Err(bad(self, "BPF_JMP/JMP32 uses reserved fields"));
                            }
                            succ[pc] = [next, Some(target(self, i.off)?)];
                        }
                        _ => return Err(bad(self, &format!("unknown opcode {:02x}", i.code))),
                    }
                }
                _ => return Err(bad(self, &format!("unknown opcode {:02x}", i.code))),
            }
            let falls = matches!(i.class(), op::JMP | op::JMP32)
                && (i.op() == op::EXIT || i.op() == op::JA);
            if !falls && pc + 1 >= n {
                return Err(bad(self, "jump out of range (falls off the end)"));
            }
            pc += 1;
        }
        // Depth-first: a jump into a 16-byte load's second half, a back
        // edge (a loop), an instruction never reached.
        const WHITE: u8 = 0;
        const GREY: u8 = 1;
        const BLACK: u8 = 2;
        let mut color = try_vec(n, WHITE)?;
        let mut stack: Vec<(usize, usize)> = Vec::new();
        stack.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        stack.push((0, 0));
        color[0] = GREY;
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            if *k < 2 {
                let e = *k;
                *k += 1;
                let Some(t) = succ[v][e] else { continue };
                if second_half[t] {
                    return Err(self.fail(
                        v,
                        Errno::EINVAL,
                        &format!("jump into the middle of ldimm64 insn {t}"),
                    ));
                }
                match color[t] {
                    GREY => {
                        return Err(self.fail(
                            v,
                            Errno::EINVAL,
                            &format!("back-edge from insn {v} to {t}"),
                        ));
                    }
                    WHITE => {
                        color[t] = GREY;
                        stack.push((t, 0));
                    }
                    _ => {}
                }
            } else {
                color[v] = BLACK;
                stack.pop();
            }
        }
        for pc in 0..n {
            if color[pc] == WHITE && !second_half[pc] {
                return Err(self.fail(pc, Errno::EINVAL, &format!("unreachable insn {pc}")));
            }
        }
        Ok(())
    }

    fn read_reg(&mut self, pc: usize, st: &State, r: u8) -> R<Reg> {
        let v = st.regs[usize::from(r)];
        if v == Reg::Uninit {
            return Err(self.fail(pc, Errno::EACCES, &format!("R{r} !read_ok")));
        }
        Ok(v)
    }

    fn write_reg(&mut self, pc: usize, st: &mut State, r: u8, v: Reg) -> R<()> {
        if r == 10 {
            return Err(self.fail(pc, Errno::EACCES, "frame pointer is read only"));
        }
        st.regs[usize::from(r)] = v;
        Ok(())
    }

    fn alu(&mut self, pc: usize, st: &mut State, i: Insn) -> R<()> {
        let wide = i.class() == op::ALU64;
        let o = i.op();
        let src = if i.uses_x() {
            Some(self.read_reg(pc, st, i.src)?)
        } else {
            None
        };
        let imm = if wide {
            i64::from(i.imm) as u64
        } else {
            u64::from(i.imm as u32)
        };
        if o == op::MOV {
            let v = match src {
                None => Reg::Scalar(Some(imm)),
                Some(Reg::Scalar(k)) if !wide => Reg::Scalar(k.map(|k| k & 0xffff_ffff)),
                Some(r) if wide => r,
                Some(_) if self.privileged => Reg::Scalar(None),
                Some(r) => {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        &format!("R{} partial copy of pointer ({})", i.src, r.name()),
                    ));
                }
            };
            return self.write_reg(pc, st, i.dst, v);
        }
        let dst = self.read_reg(pc, st, i.dst)?;
        let srcv = src.unwrap_or(Reg::Scalar(Some(imm)));
        let out = match (dst, srcv) {
            (Reg::Scalar(a), Reg::Scalar(b)) => Reg::Scalar(match o {
                op::END => a.map(|a| endian(a, i.uses_x(), i.imm)),
                op::NEG => a.map(|a| alu(o, wide, a, 0)),
                _ => match (a, b) {
                    (Some(a), Some(b)) => Some(alu(o, wide, a, b)),
                    // x & 0, x * 0 are known whatever x is; keep it simple.
                    _ => None,
                },
            }),
            (p, Reg::Scalar(k)) if p.is_pointer() && wide && matches!(o, op::ADD | op::SUB) => {
                let Some(k) = k else {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        &format!(
                            "R{} variable offset arithmetic on {} is not supported",
                            i.dst,
                            p.name()
                        ),
                    ));
                };
                let delta = if o == op::ADD {
                    k as i64
                } else {
                    (k as i64).wrapping_neg()
                };
                self.offset(pc, p, delta, i.dst)?
            }
            (Reg::Scalar(k), p) if p.is_pointer() && wide && o == op::ADD => {
                let Some(k) = k else {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        &format!(
                            "R{} variable offset arithmetic on {} is not supported",
                            i.src,
                            p.name()
                        ),
                    ));
                };
                self.offset(pc, p, k as i64, i.src)?
            }
            (p, q) if self.privileged && o == op::SUB && p.is_pointer() && q.is_pointer() => {
                if matches!(p, Reg::ValueOrNull { .. }) || matches!(q, Reg::ValueOrNull { .. }) {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        "pointer arithmetic on map_value_or_null prohibited, null-check it first",
                    ));
                }
                Reg::Scalar(None)
            }
            (p, q) => {
                let which = if p.is_pointer() { p } else { q };
                return Err(self.fail(
                    pc,
                    Errno::EACCES,
                    &format!(
                        "R{} {}pointer arithmetic on {} prohibited",
                        i.dst,
                        if wide { "" } else { "32-bit " },
                        which.name()
                    ),
                ));
            }
        };
        self.write_reg(pc, st, i.dst, out)
    }

    /// A pointer moved by a known amount.
    fn offset(&mut self, pc: usize, p: Reg, delta: i64, r: u8) -> R<Reg> {
        let moved = |off: i64| off.checked_add(delta).filter(|o| o.abs() <= MAX_OFF);
        let out = match p {
            Reg::Stack(off) => moved(off).map(Reg::Stack),
            Reg::Value { map, off } => moved(off).map(|off| Reg::Value { map, off }),
            _ => {
                return Err(self.fail(
                    pc,
                    Errno::EACCES,
                    &format!("R{r} pointer arithmetic on {} prohibited", p.name()),
                ));
            }
        };
        out.ok_or_else(|| {
            self.fail(
                pc,
                Errno::EACCES,
                &format!("R{r} pointer offset {delta} is not allowed"),
            )
        })
    }

    /// The stack slot index and byte of stack offset `off` (from r10).
    fn stack_range(&mut self, pc: usize, off: i64, size: usize, what: &str) -> R<usize> {
        let start = STACK_SIZE as i64 + off;
        if off < -(STACK_SIZE as i64) || off + size as i64 > 0 {
            return Err(self.fail(
                pc,
                Errno::EACCES,
                &format!("invalid {what} stack off={off} size={size}"),
            ));
        }
        Ok(start as usize)
    }

    /// A load or store through `base` (`val`: what a store writes).
    fn access(
        &mut self,
        pc: usize,
        st: &mut State,
        base: u8,
        off: i16,
        size: usize,
        val: Option<Reg>,
    ) -> R<Reg> {
        let b = self.read_reg(pc, st, base)?;
        let write = val.is_some();
        if let Some(v) = val
            && v.is_pointer()
            && !matches!(b, Reg::Stack(_))
            && !self.privileged
        {
            return Err(self.fail(
                pc,
                Errno::EACCES,
                &format!("R{base} leaks addr into {}", b.name()),
            ));
        }
        match b {
            Reg::Stack(o) => {
                let off = o + i64::from(off);
                if off % size as i64 != 0 {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        &format!("misaligned stack access off {off} size {size}"),
                    ));
                }
                let at =
                    self.stack_range(pc, off, size, if write { "write to" } else { "read from" })?;
                let slot = at / 8;
                let privileged = self.privileged;
                let s = &mut st.stack[slot];
                if let Some(v) = val {
                    if size == 8 {
                        *s = Slot {
                            init: 0xff,
                            spill: Some(v),
                        };
                    } else if v.is_pointer() && !privileged {
                        return Err(self.fail(pc, Errno::EACCES, "partial spill of a pointer"));
                    } else {
                        if s.spill.is_some_and(Reg::is_pointer) && !privileged {
                            return Err(self.fail(
                                pc,
                                Errno::EACCES,
                                "attempt to corrupt spilled pointer on stack",
                            ));
                        }
                        s.spill = None;
                        for k in at % 8..at % 8 + size {
                            s.init |= 1 << k;
                        }
                    }
                    return Ok(Reg::Uninit);
                }
                if size == 8
                    && let Some(r) = s.spill
                {
                    return Ok(r);
                }
                if s.spill.is_some_and(Reg::is_pointer) && !privileged {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        &format!("invalid size of register fill off {off} size {size}"),
                    ));
                }
                let mask = (((1u16 << size) - 1) << (at % 8)) as u8;
                if s.init & mask != mask && !privileged {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        &format!("invalid read from stack off {off} size {size}"),
                    ));
                }
                Ok(Reg::Scalar(None))
            }
            Reg::Value { map, off: o } => {
                let off = o + i64::from(off);
                let vs = self.maps[usize::from(map)].value_size as i64;
                if off < 0 || off + size as i64 > vs {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        &format!(
                            "invalid access to map value, value_size={vs} off={off} size={size}"
                        ),
                    ));
                }
                Ok(Reg::Scalar(None))
            }
            Reg::Ctx(o) => {
                let off = o + i64::from(off);
                let in_field = off >= 0
                    && off % size as i64 == 0
                    && size <= 4
                    && off + (size as i64) <= skb::WORDS as i64 * 4;
                let cb = (skb::CB..skb::CB_END).contains(&off) && size == 4;
                if o != 0 || !in_field || (write && !cb) {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        &format!("invalid bpf_context access off={off} size={size}"),
                    ));
                }
                Ok(Reg::Scalar(None))
            }
            other => Err(self.fail(
                pc,
                Errno::EACCES,
                &format!("R{base} invalid mem access '{}'", other.name()),
            )),
        }
    }

    /// `n` bytes at `p` a helper reads: on the stack, all written and no
    /// pointer among them, or inside a map value.
    fn helper_mem(&mut self, pc: usize, st: &State, r: u8, n: usize) -> R<()> {
        match st.regs[usize::from(r)] {
            Reg::Stack(off) => {
                let at = self.stack_range(pc, off, n, "indirect read from")?;
                for b in at..at + n {
                    let s = st.stack[b / 8];
                    let bad = s.init & (1 << (b % 8)) == 0 || s.spill.is_some_and(Reg::is_pointer);
                    if bad && !self.privileged {
                        return Err(self.fail(
                            pc,
                            Errno::EACCES,
                            &format!(
                                "invalid indirect read from stack R{r} off {off}+{} size {n}",
                                b - at
                            ),
                        ));
                    }
                }
                Ok(())
            }
            Reg::Value { map, off } => {
                let vs = self.maps[usize::from(map)].value_size as i64;
                if off < 0 || off + n as i64 > vs {
                    return Err(self.fail(
                        pc,
                        Errno::EACCES,
                        &format!("invalid access to map value, value_size={vs} off={off} size={n}"),
                    ));
                }
                Ok(())
            }
            other => Err(self.fail(
                pc,
                Errno::EACCES,
                &format!("R{r} type={} expected=fp, map_value", other.name()),
            )),
        }
    }

    fn call(&mut self, pc: usize, st: &mut State, id: i32) -> R<()> {
        let map_arg = |me: &mut Self, st: &State| -> R<u8> {
            match st.regs[1] {
                Reg::Map(m) => Ok(m),
                other => Err(me.fail(
                    pc,
                    Errno::EACCES,
                    &format!("R1 type={} expected=map_ptr", other.name()),
                )),
            }
        };
        let r0 = match id {
            func::MAP_LOOKUP_ELEM | func::MAP_DELETE_ELEM | func::MAP_UPDATE_ELEM => {
                let m = map_arg(self, st)?;
                let map = self.maps[usize::from(m)].clone();
                self.helper_mem(pc, st, 2, map.key_size as usize)?;
                if id == func::MAP_UPDATE_ELEM {
                    self.helper_mem(pc, st, 3, map.value_size as usize)?;
                    match st.regs[4] {
                        Reg::Scalar(_) => {}
                        other => {
                            return Err(self.fail(
                                pc,
                                Errno::EACCES,
                                &format!("R4 type={} expected=scalar", other.name()),
                            ));
                        }
                    }
                }
                if id == func::MAP_LOOKUP_ELEM {
                    self.next_id += 1;
                    Reg::ValueOrNull {
                        map: m,
                        id: self.next_id,
                    }
                } else {
                    Reg::Scalar(None)
                }
            }
            func::KTIME_GET_NS
            | func::KTIME_GET_BOOT_NS
            | func::GET_PRANDOM_U32
            | func::GET_SMP_PROCESSOR_ID => Reg::Scalar(None),
            _ => return Err(self.fail(pc, Errno::EINVAL, &format!("invalid func unknown#{id}"))),
        };
        for r in 1..=5 {
            st.regs[r] = Reg::Uninit;
        }
        st.regs[0] = r0;
        Ok(())
    }

    /// Every register and spill that is lookup `id`'s result becomes `to`.
    fn resolve_null(st: &mut State, id: u32, to: impl Fn(u8) -> Reg) {
        let conv = |r: &mut Reg| {
            if let Reg::ValueOrNull { map, id: i } = *r
                && i == id
            {
                *r = to(map);
            }
        };
        st.regs.iter_mut().for_each(conv);
        for s in st.stack.iter_mut() {
            if let Some(r) = s.spill.as_mut() {
                conv(r);
            }
        }
    }

    /// Pass two: every path, from the first instruction to an exit.
    fn walk(&mut self) -> R<()> {
        let mut init = State {
            regs: [Reg::Uninit; 11],
            stack: [Slot {
                init: 0,
                spill: None,
            }; STACK_SIZE / 8],
        };
        init.regs[1] = Reg::Ctx(0);
        init.regs[10] = Reg::Stack(0);
        let mut work: Vec<(usize, State)> = vec![(0, init)];
        let mut processed = 0usize;
        while let Some((mut pc, mut st)) = work.pop() {
            loop {
                processed += 1;
                if processed > MAX_PROCESSED {
                    return Err(self.fail(
                        pc,
                        Errno::E2BIG,
                        &format!("BPF program is too large. Processed {processed} insn"),
                    ));
                }
                let i = self.insns[pc];
                match i.class() {
                    op::ALU | op::ALU64 => {
                        self.alu(pc, &mut st, i)?;
                        pc += 1;
                    }
                    op::LDX => {
                        let v = self.access(pc, &mut st, i.src, i.off, i.size_bytes(), None)?;
                        self.write_reg(pc, &mut st, i.dst, v)?;
                        pc += 1;
                    }
                    op::ST => {
                        let v = Reg::Scalar(Some(i64::from(i.imm) as u64));
                        self.access(pc, &mut st, i.dst, i.off, i.size_bytes(), Some(v))?;
                        pc += 1;
                    }
                    op::STX if i.mode() == op::MEM => {
                        let v = self.read_reg(pc, &st, i.src)?;
                        self.access(pc, &mut st, i.dst, i.off, i.size_bytes(), Some(v))?;
                        pc += 1;
                    }
                    op::STX => {
                        // Atomic: a read and a write of a number.
                        let v = self.read_reg(pc, &st, i.src)?;
                        if v.is_pointer() && !self.privileged {
                            return Err(self.fail(
                                pc,
                                Errno::EACCES,
                                &format!("R{} leaks addr into mem", i.src),
                            ));
                        }
                        if i.imm == op::CMPXCHG
                            && self.read_reg(pc, &st, 0)?.is_pointer()
                            && !self.privileged
                        {
                            return Err(self.fail(pc, Errno::EACCES, "R0 leaks addr into mem"));
                        }
                        if matches!(st.regs[usize::from(i.dst)], Reg::Ctx(_)) {
                            return Err(self.fail(
                                pc,
                                Errno::EACCES,
                                "BPF_ATOMIC stores into R1 ctx is not allowed",
                            ));
                        }
                        self.access(pc, &mut st, i.dst, i.off, i.size_bytes(), None)?;
                        self.access(
                            pc,
                            &mut st,
                            i.dst,
                            i.off,
                            i.size_bytes(),
                            Some(Reg::Scalar(None)),
                        )?;
                        if i.imm == op::CMPXCHG {
                            st.regs[0] = Reg::Scalar(None);
                        } else if i.imm & op::FETCH != 0 {
                            self.write_reg(pc, &mut st, i.src, Reg::Scalar(None))?;
                        }
                        pc += 1;
                    }
                    op::LD if is_imm64(&i) => {
                        let v = if i.src == op::PSEUDO_MAP_FD {
                            Reg::Map(i.imm as u8)
                        } else {
                            let hi = self.insns[pc + 1].imm as u32;
                            Reg::Scalar(Some(u64::from(hi) << 32 | u64::from(i.imm as u32)))
                        };
                        self.write_reg(pc, &mut st, i.dst, v)?;
                        pc += 2;
                    }
                    op::LD => {
                        if st.regs[6] != Reg::Ctx(0) {
                            return Err(self.fail(
                                pc,
                                Errno::EINVAL,
                                "at the time of BPF_LD_ABS|IND R6 != pointer to skb",
                            ));
                        }
                        if i.mode() == op::IND && self.read_reg(pc, &st, i.src)?.is_pointer() {
                            return Err(self.fail(
                                pc,
                                Errno::EACCES,
                                &format!("R{} pointer in BPF_LD_IND", i.src),
                            ));
                        }
                        for r in 1..=5 {
                            st.regs[r] = Reg::Uninit;
                        }
                        st.regs[0] = Reg::Scalar(None);
                        pc += 1;
                    }
                    _ => {
                        let wide = i.class() == op::JMP;
                        match i.op() {
                            op::JA if wide => pc = (pc as isize + 1 + isize::from(i.off)) as usize,
                            op::CALL if wide => {
                                self.call(pc, &mut st, i.imm)?;
                                pc += 1;
                            }
                            op::EXIT if wide => match self.read_reg(pc, &st, 0)? {
                                Reg::Scalar(_) => break,
                                _ if self.privileged => break,
                                other => {
                                    return Err(self.fail(
                                        pc,
                                        Errno::EACCES,
                                        &format!(
                                            "R0 leaks addr as return value ({})",
                                            other.name()
                                        ),
                                    ));
                                }
                            },
                            o => {
                                let target = (pc as isize + 1 + isize::from(i.off)) as usize;
                                let a = self.read_reg(pc, &st, i.dst)?;
                                let b = if i.uses_x() {
                                    self.read_reg(pc, &st, i.src)?
                                } else if wide {
                                    Reg::Scalar(Some(i64::from(i.imm) as u64))
                                } else {
                                    Reg::Scalar(Some(u64::from(i.imm as u32)))
                                };
                                match (a, b) {
                                    (Reg::Scalar(Some(x)), Reg::Scalar(Some(y))) => {
                                        pc = if cond(o, wide, x, y) { target } else { pc + 1 };
                                    }
                                    (Reg::Scalar(_), Reg::Scalar(_)) => {
                                        pend(&mut work, target, st.clone())?;
                                        pc += 1;
                                    }
                                    (Reg::ValueOrNull { id, .. }, Reg::Scalar(Some(0)))
                                        if wide
                                            && !i.uses_x()
                                            && matches!(o, op::JEQ | op::JNE) =>
                                    {
                                        let mut null = st.clone();
                                        Self::resolve_null(&mut null, id, |_| Reg::Scalar(Some(0)));
                                        Self::resolve_null(&mut st, id, |map| Reg::Value {
                                            map,
                                            off: 0,
                                        });
                                        if o == op::JEQ {
                                            pend(&mut work, target, null)?;
                                            pc += 1;
                                        } else {
                                            pend(&mut work, pc + 1, null)?;
                                            pc = target;
                                        }
                                    }
                                    // Pointers compared as numbers: both ways.
                                    _ if self.privileged => {
                                        pend(&mut work, target, st.clone())?;
                                        pc += 1;
                                    }
                                    _ => {
                                        return Err(self.fail(
                                            pc,
                                            Errno::EACCES,
                                            &format!("R{} pointer comparison prohibited", i.dst),
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        self.log.line(&format!("processed {processed} insns"));
        Ok(())
    }
}

/// Checks `insns` and makes a loadable program. `resolve` turns the fd in a
/// `BPF_LD_MAP_FD` into its map (EBADF, EINVAL for a file that is not one);
/// each map is kept once and the instruction then holds its index.
pub fn verify(
    mut insns: Vec<Insn>,
    resolve: &mut dyn FnMut(i32) -> Result<Arc<Map>, Errno>,
    log: &mut Log,
    privileged: bool,
) -> Result<Program, Errno> {
    if insns.is_empty() {
        return Err(Errno::E2BIG);
    }
    if insns.len() > MAX_INSNS {
        return Err(Errno::E2BIG);
    }
    let mut v = Verifier {
        insns: &insns,
        maps: &[],
        log,
        next_id: 0,
        privileged,
    };
    v.check_cfg()?;
    // Maps: one entry each, the instruction's imm becoming the index.
    let mut maps: Vec<Arc<Map>> = Vec::new();
    for (pc, i) in insns.iter_mut().enumerate() {
        if is_imm64(i) && i.src == op::PSEUDO_MAP_FD {
            let m = match resolve(i.imm) {
                Ok(m) => m,
                Err(e) => {
                    log.line(&format!(
                        "{pc}: fd {} is not pointing to valid bpf_map",
                        i.imm
                    ));
                    return Err(e);
                }
            };
            let idx = match maps.iter().position(|x| Arc::ptr_eq(x, &m)) {
                Some(k) => k,
                None if maps.len() >= MAX_USED_MAPS => {
                    log.line("too many maps used by the program");
                    return Err(Errno::E2BIG);
                }
                None => {
                    maps.push(m);
                    maps.len() - 1
                }
            };
            i.imm = idx as i32;
        }
    }
    let mut v = Verifier {
        insns: &insns,
        maps: &maps,
        log,
        next_id: 0,
        privileged,
    };
    v.walk()?;
    Ok(Program { insns, maps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::{Env, SkbCtx};
    use crate::map::{MAP_TYPE_ARRAY, MAP_TYPE_HASH, Spec};

    // The constructors of linux/filter.h, as LTP and the kernel's samples use them.
    fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }
    fn mov64_imm(d: u8, imm: i32) -> Insn {
        ins(op::ALU64 | op::MOV, d, 0, 0, imm)
    }
    fn mov32_imm(d: u8, imm: i32) -> Insn {
        ins(op::ALU | op::MOV, d, 0, 0, imm)
    }
    fn mov64_reg(d: u8, s: u8) -> Insn {
        ins(op::ALU64 | op::MOV | op::X, d, s, 0, 0)
    }
    fn alu64_imm(o: u8, d: u8, imm: i32) -> Insn {
        ins(op::ALU64 | o, d, 0, 0, imm)
    }
    fn alu32_imm(o: u8, d: u8, imm: i32) -> Insn {
        ins(op::ALU | o, d, 0, 0, imm)
    }
    fn alu64_reg(o: u8, d: u8, s: u8) -> Insn {
        ins(op::ALU64 | o | op::X, d, s, 0, 0)
    }
    fn ld_map_fd(d: u8, fd: i32) -> [Insn; 2] {
        [
            ins(op::LD | op::DW, d, op::PSEUDO_MAP_FD, 0, fd),
            ins(0, 0, 0, 0, 0),
        ]
    }
    fn ld_imm64(d: u8, v: u64) -> [Insn; 2] {
        [
            ins(op::LD | op::DW, d, 0, 0, v as u32 as i32),
            ins(0, 0, 0, 0, (v >> 32) as u32 as i32),
        ]
    }
    fn st_mem(size: u8, d: u8, off: i16, imm: i32) -> Insn {
        ins(op::ST | op::MEM | size, d, 0, off, imm)
    }
    fn stx_mem(size: u8, d: u8, s: u8, off: i16) -> Insn {
        ins(op::STX | op::MEM | size, d, s, off, 0)
    }
    fn ldx_mem(size: u8, d: u8, s: u8, off: i16) -> Insn {
        ins(op::LDX | op::MEM | size, d, s, off, 0)
    }
    fn call(f: i32) -> Insn {
        ins(op::JMP | op::CALL, 0, 0, 0, f)
    }
    fn jmp_imm(o: u8, d: u8, imm: i32, off: i16) -> Insn {
        ins(op::JMP | o, d, 0, off, imm)
    }
    fn exit() -> Insn {
        ins(op::JMP | op::EXIT, 0, 0, 0, 0)
    }

    struct TestEnv;
    impl Env for TestEnv {
        fn now_ns(&self) -> u64 {
            1
        }
        fn boot_ns(&self) -> u64 {
            2
        }
        fn random_u32(&self) -> u32 {
            4
        }
        fn cpu(&self) -> u32 {
            0
        }
    }

    fn array(n: u32) -> Arc<Map> {
        Arc::new(
            Map::new(Spec {
                map_type: MAP_TYPE_ARRAY,
                key_size: 4,
                value_size: 8,
                max_entries: n,
                flags: 0,
            })
            .unwrap(),
        )
    }

    fn load(prog: Vec<Insn>, map: &Arc<Map>) -> (Result<Program, Errno>, String) {
        load_as(prog, map, false)
    }

    fn load_as(
        prog: Vec<Insn>,
        map: &Arc<Map>,
        privileged: bool,
    ) -> (Result<Program, Errno>, String) {
        let mut log = Log {
            text: String::new(),
            cap: 4096,
        };
        let m = map.clone();
        let r = verify(
            prog,
            &mut |fd| {
                if fd == 3 {
                    Ok(m.clone())
                } else {
                    Err(Errno::EBADF)
                }
            },
            &mut log,
            privileged,
        );
        (r, log.text)
    }

    fn value(m: &Map, k: u32) -> u64 {
        u64::from_le_bytes(m.lookup(&k.to_le_bytes()).unwrap().try_into().unwrap())
    }

    fn run(p: &Program) -> u32 {
        p.run_filter(b"Ahoj!\0", SkbCtx::new(6, 0, 1), &TestEnv)
    }

    /// LTP bpf_prog01: a lookup, a NULL check, a store through the result.
    #[test]
    fn lookup_and_store_through_the_value() {
        let m = array(1);
        let mut p = ld_map_fd(1, 3).to_vec();
        p.extend([
            mov64_reg(2, 10),
            alu64_imm(op::ADD, 2, -8),
            st_mem(op::DW, 2, 0, 0),
            call(func::MAP_LOOKUP_ELEM),
            jmp_imm(op::JEQ, 0, 0, 3),
            mov64_reg(1, 0),
            st_mem(op::DW, 1, 0, 1),
            mov64_imm(0, 0),
            exit(),
        ]);
        let (prog, log) = load(p, &m);
        let prog = prog.unwrap_or_else(|e| panic!("{e:?}: {log}"));
        assert_eq!(run(&prog), 0);
        assert_eq!(value(&m, 0), 1);
    }

    /// LTP bpf_prog02: 64-bit arithmetic through map values.
    #[test]
    fn sixty_four_bit_arithmetic() {
        let m = array(2);
        const A: u64 = 1 << 60;
        let mut p = vec![mov64_imm(6, 1)];
        for (k, o) in [(0, op::ADD), (1, op::SUB)] {
            p.extend(ld_map_fd(1, 3));
            p.extend([
                mov64_reg(2, 10),
                alu64_imm(op::ADD, 2, -4),
                st_mem(op::W, 2, 0, k),
            ]);
            p.extend([
                call(func::MAP_LOOKUP_ELEM),
                jmp_imm(op::JEQ, 0, 0, if k == 0 { 17 } else { 5 }),
            ]);
            p.push(mov64_reg(3, 0));
            p.extend(ld_imm64(4, A));
            p.extend([alu64_reg(o, 4, 6), stx_mem(op::DW, 3, 4, 0)]);
        }
        p.extend([mov64_imm(0, 0), exit()]);
        let (prog, log) = load(p, &m);
        let prog = prog.unwrap_or_else(|e| panic!("{e:?}: {log}"));
        run(&prog);
        assert_eq!(value(&m, 0), A + 1);
        assert_eq!(value(&m, 1), A - 1);
    }

    /// LTP bpf_prog03 (CVE-2017-16995): a sign-extension mistake made a
    /// pointer go 64 bytes before its map value.
    #[test]
    fn refuses_cve_2017_16995() {
        let m = array(32);
        let mut p = ld_map_fd(1, 3).to_vec();
        p.extend([
            mov64_reg(8, 10),
            alu64_imm(op::ADD, 8, -4),
            mov32_imm(2, 0),
            stx_mem(op::W, 8, 2, 0),
            mov64_reg(2, 8),
            call(func::MAP_LOOKUP_ELEM),
            jmp_imm(op::JNE, 0, 0, 2),
            mov64_reg(0, 0),
            exit(),
            mov32_imm(1, -1),
            alu64_imm(op::ADD, 1, 1),
            alu64_imm(op::RSH, 1, 26),
            stx_mem(op::DW, 0, 1, 0),
            mov64_reg(2, 0),
            alu64_reg(op::SUB, 2, 1),
            mov64_imm(3, 0xdead),
            stx_mem(op::DW, 2, 3, 0),
            mov32_imm(0, 0),
            exit(),
        ]);
        let (prog, log) = load_as(p, &m, true);
        assert_eq!(prog.err(), Some(Errno::EACCES), "{log}");
        assert!(log.contains("invalid access to map value"), "{log}");
    }

    /// LTP bpf_prog04 (CVE-2018-18445): a 32-bit shift truncation.
    #[test]
    fn refuses_cve_2018_18445() {
        let m = array(1);
        let mut p = vec![
            mov64_imm(8, 2),
            alu64_imm(op::LSH, 8, 31),
            alu32_imm(op::RSH, 8, 31),
            alu32_imm(op::SUB, 8, 2),
        ];
        p.extend(ld_map_fd(1, 3));
        p.extend([
            mov64_reg(2, 10),
            alu64_imm(op::ADD, 2, -4),
            st_mem(op::W, 2, 0, 0),
            call(func::MAP_LOOKUP_ELEM),
            jmp_imm(op::JNE, 0, 0, 1),
            exit(),
            alu64_reg(op::ADD, 0, 8),
            stx_mem(op::DW, 0, 8, 0),
            mov64_imm(0, 0),
            exit(),
        ]);
        let (prog, log) = load_as(p, &m, true);
        assert!(prog.is_err(), "{log}");
        assert!(!log.is_empty());
    }

    #[test]
    fn refuses_unsafe_programs() {
        let m = array(1);
        let cases: Vec<(Vec<Insn>, Errno, &str)> = vec![
            (vec![exit()], Errno::EACCES, "R0 !read_ok"),
            (
                vec![mov64_reg(0, 10), exit()],
                Errno::EACCES,
                "leaks addr as return value",
            ),
            (vec![mov64_imm(0, 0)], Errno::EINVAL, "falls off the end"),
            (
                vec![mov64_imm(0, 0), jmp_imm(op::JEQ, 0, 0, -2), exit()],
                Errno::EINVAL,
                "back-edge",
            ),
            (
                vec![mov64_imm(0, 0), exit(), exit()],
                Errno::EINVAL,
                "unreachable insn 2",
            ),
            (
                vec![ldx_mem(op::DW, 0, 10, -8), exit()],
                Errno::EACCES,
                "invalid read from stack",
            ),
            (
                vec![ldx_mem(op::DW, 0, 10, 0), exit()],
                Errno::EACCES,
                "invalid read from stack off=0",
            ),
            (
                vec![st_mem(op::W, 10, -3, 0), mov64_imm(0, 0), exit()],
                Errno::EACCES,
                "misaligned",
            ),
            (
                vec![mov64_imm(10, 0), exit()],
                Errno::EACCES,
                "frame pointer is read only",
            ),
            (
                vec![alu64_imm(op::DIV, 0, 0), exit()],
                Errno::EINVAL,
                "div by zero",
            ),
            (
                vec![mov64_imm(0, 1), alu64_imm(op::LSH, 0, 64), exit()],
                Errno::EINVAL,
                "invalid shift",
            ),
            (
                vec![ins(0xff, 0, 0, 0, 0), exit()],
                Errno::EINVAL,
                "unknown opcode",
            ),
            (
                vec![ldx_mem(op::W, 0, 1, 200), exit()],
                Errno::EACCES,
                "invalid bpf_context access",
            ),
            (
                vec![st_mem(op::W, 1, 0, 0), mov64_imm(0, 0), exit()],
                Errno::EACCES,
                "invalid bpf_context access",
            ),
            (
                vec![mov64_imm(0, 5), ldx_mem(op::W, 0, 0, 0), exit()],
                Errno::EACCES,
                "invalid mem access 'scalar'",
            ),
            (
                vec![
                    mov64_reg(2, 10),
                    alu64_imm(op::MUL, 2, 2),
                    mov64_imm(0, 0),
                    exit(),
                ],
                Errno::EACCES,
                "pointer arithmetic",
            ),
            (
                vec![stx_mem(op::W, 10, 10, -8), mov64_imm(0, 0), exit()],
                Errno::EACCES,
                "partial spill",
            ),
            (vec![call(9999), exit()], Errno::EINVAL, "invalid func"),
        ];
        for (p, e, msg) in cases {
            let (r, log) = load(p.clone(), &m);
            assert_eq!(r.as_ref().err(), Some(&e), "{p:?}: {log}");
            assert!(log.contains(msg), "{p:?}: wanted {msg:?} in {log}");
        }
        // A lookup's result used before the NULL check.
        let mut p = ld_map_fd(1, 3).to_vec();
        p.extend([
            mov64_reg(2, 10),
            alu64_imm(op::ADD, 2, -8),
            st_mem(op::DW, 2, 0, 0),
            call(func::MAP_LOOKUP_ELEM),
            st_mem(op::DW, 0, 0, 1),
            mov64_imm(0, 0),
            exit(),
        ]);
        let (r, log) = load(p, &m);
        assert_eq!(r.err(), Some(Errno::EACCES));
        assert!(log.contains("map_value_or_null"), "{log}");
        // An uninitialised key.
        let mut p = ld_map_fd(1, 3).to_vec();
        p.extend([
            mov64_reg(2, 10),
            alu64_imm(op::ADD, 2, -8),
            call(func::MAP_LOOKUP_ELEM),
            mov64_imm(0, 0),
            exit(),
        ]);
        let (r, log) = load(p, &m);
        assert_eq!(r.err(), Some(Errno::EACCES));
        assert!(log.contains("invalid indirect read"), "{log}");
        // A pointer stored into a map value.
        let mut p = ld_map_fd(1, 3).to_vec();
        p.extend([
            mov64_reg(2, 10),
            alu64_imm(op::ADD, 2, -8),
            st_mem(op::DW, 2, 0, 0),
            call(func::MAP_LOOKUP_ELEM),
            jmp_imm(op::JEQ, 0, 0, 1),
            stx_mem(op::DW, 0, 10, 0),
            mov64_imm(0, 0),
            exit(),
        ]);
        let (r, log) = load(p, &m);
        assert_eq!(r.err(), Some(Errno::EACCES));
        assert!(log.contains("leaks addr"), "{log}");
        // A bad map fd.
        let mut p = ld_map_fd(1, 7).to_vec();
        p.extend([mov64_imm(0, 0), exit()]);
        assert_eq!(load(p, &m).0.err(), Some(Errno::EBADF));
    }

    #[test]
    fn spills_packet_loads_and_context() {
        let m = array(1);
        let p = vec![
            mov64_reg(6, 1),
            stx_mem(op::DW, 10, 6, -16),
            ldx_mem(op::DW, 7, 10, -16),
            ldx_mem(op::W, 8, 7, skb::LEN as i16),
            // r0 = first byte of the packet ('A')
            mov64_reg(6, 7),
            ins(op::LD | op::ABS | op::B, 0, 0, 0, 0),
            alu64_reg(op::ADD, 0, 8),
            stx_mem(op::W, 6, 0, skb::CB as i16),
            ldx_mem(op::W, 0, 6, skb::CB as i16),
            exit(),
        ];
        let (prog, log) = load(p, &m);
        let prog = prog.unwrap_or_else(|e| panic!("{e:?}: {log}"));
        assert_eq!(run(&prog), u32::from(b'A') + 6);
        // A load past the packet's end ends the program with 0.
        let p = vec![
            mov64_reg(6, 1),
            ins(op::LD | op::ABS | op::W, 0, 0, 0, 100),
            exit(),
        ];
        let prog = load(p, &m).0.unwrap();
        assert_eq!(run(&prog), 0);
    }

    #[test]
    fn hash_map_helpers_and_atomics() {
        let h = Arc::new(
            Map::new(Spec {
                map_type: MAP_TYPE_HASH,
                key_size: 4,
                value_size: 8,
                max_entries: 4,
                flags: 0,
            })
            .unwrap(),
        );
        // update(key 7 = 40), then lookup and atomically add 2.
        let mut p = vec![st_mem(op::W, 10, -4, 7), st_mem(op::DW, 10, -16, 40)];
        p.extend(ld_map_fd(1, 3));
        p.extend([
            mov64_reg(2, 10),
            alu64_imm(op::ADD, 2, -4),
            mov64_reg(3, 10),
            alu64_imm(op::ADD, 3, -16),
            mov64_imm(4, 0),
            call(func::MAP_UPDATE_ELEM),
        ]);
        p.extend(ld_map_fd(1, 3));
        p.extend([
            mov64_reg(2, 10),
            alu64_imm(op::ADD, 2, -4),
            call(func::MAP_LOOKUP_ELEM),
            jmp_imm(op::JNE, 0, 0, 1),
            exit(),
            mov64_imm(1, 2),
            ins(op::STX | op::ATOMIC | op::DW, 0, 1, 0, op::FETCH),
            mov64_reg(0, 1),
            exit(),
        ]);
        let (prog, log) = load(p, &h);
        let prog = prog.unwrap_or_else(|e| panic!("{e:?}: {log}"));
        assert_eq!(run(&prog), 40);
        assert_eq!(h.lookup(&7u32.to_le_bytes()).unwrap(), 42u64.to_le_bytes());
    }

    /// With CAP_PERFMON Linux lets a program read unwritten stack, return,
    /// store and compare pointers; the CVE programs stay refused.
    #[test]
    fn privileged_loader_gets_linux_relaxations() {
        let m = array(1);
        let ok = [
            vec![ldx_mem(op::W, 0, 10, -4), exit()],
            vec![mov64_reg(0, 10), exit()],
            vec![
                stx_mem(op::W, 10, 10, -8),
                ldx_mem(op::W, 0, 10, -8),
                exit(),
            ],
        ];
        for p in ok {
            let (r, log) = load_as(p.clone(), &m, true);
            let prog = r.unwrap_or_else(|e| panic!("{p:?}: {e:?} {log}"));
            run(&prog);
            assert!(load(p, &m).0.is_err());
        }
        // Still refused: out of a map value, unchecked lookups, fall-through.
        let mut p = ld_map_fd(1, 3).to_vec();
        p.extend([
            mov64_reg(2, 10),
            alu64_imm(op::ADD, 2, -8),
            st_mem(op::DW, 2, 0, 0),
            call(func::MAP_LOOKUP_ELEM),
            st_mem(op::DW, 0, 0, 1),
            mov64_imm(0, 0),
            exit(),
        ]);
        assert_eq!(load_as(p, &m, true).0.err(), Some(Errno::EACCES));
        assert_eq!(
            load_as(vec![mov64_imm(0, 0)], &m, true).0.err(),
            Some(Errno::EINVAL)
        );
    }

    /// Random programs: the verifier and the interpreter never panic, and a
    /// program that loads runs to an end.
    #[test]
    fn random_programs_never_panic() {
        let m = array(4);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let codes: Vec<u8> = (0..=255u8).collect();
        let mut loaded = 0;
        for round in 0..20_000 {
            let n = 1 + (next() % 24) as usize;
            let mut p: Vec<Insn> = (0..n)
                .map(|_| {
                    let r = next();
                    let code = if r % 7 == 0 {
                        codes[(r >> 8) as usize % 256]
                    } else {
                        [
                            0xb7, 0xbf, 0x07, 0x0f, 0x1f, 0x7a, 0x7b, 0x79, 0x61, 0x63, 0x15, 0x55,
                            0x1d, 0x85, 0x05, 0x30, 0xdb, 0x2f, 0x77, 0xa4,
                        ][(r >> 8) as usize % 20]
                    };
                    let reg = |k: u32| ((r >> k) % 11) as u8;
                    let imm = match (r >> 32) % 5 {
                        0 => 0,
                        1 => 1,
                        2 => 5,
                        3 => -8,
                        _ => (r >> 40) as i32,
                    };
                    let off =
                        (((r >> 16) % 9) as i16 - 6) * if code & 7 == op::JMP { 1 } else { 4 };
                    let x = code & op::X != 0;
                    match code & 7 {
                        op::ALU | op::ALU64 => Insn {
                            code,
                            dst: reg(24),
                            src: if x { reg(28) } else { 0 },
                            off: 0,
                            imm: if x { 0 } else { imm },
                        },
                        op::JMP if code == 0x85 => Insn {
                            code,
                            dst: 0,
                            src: 0,
                            off: 0,
                            imm: [1, 2, 3, 5, 7, 8][(r >> 40) as usize % 6],
                        },
                        op::JMP if code == 0x05 => Insn {
                            code,
                            dst: 0,
                            src: 0,
                            off: off.max(0),
                            imm: 0,
                        },
                        op::JMP => Insn {
                            code,
                            dst: reg(24),
                            src: if x { reg(28) } else { 0 },
                            off,
                            imm: if x { 0 } else { imm },
                        },
                        op::ST => Insn {
                            code,
                            dst: 10,
                            src: 0,
                            off: -8 - off.abs(),
                            imm,
                        },
                        op::STX => Insn {
                            code,
                            dst: reg(24),
                            src: reg(28),
                            off: -8,
                            imm: 0,
                        },
                        op::LDX => Insn {
                            code,
                            dst: reg(24),
                            src: [1, 10, 0][(r >> 28) as usize % 3],
                            off: if r & 1 == 0 { 0 } else { -8 },
                            imm: 0,
                        },
                        op::LD => Insn {
                            code,
                            dst: 0,
                            src: reg(28),
                            off: 0,
                            imm,
                        },
                        _ => Insn {
                            code,
                            dst: reg(24),
                            src: reg(28),
                            off,
                            imm,
                        },
                    }
                })
                .collect();
            p.insert(0, mov64_imm(0, 0));
            p.push(exit());
            let (r, log) = load_as(p, &m, round % 2 == 0);
            let _ = log;
            if let Ok(prog) = r {
                loaded += 1;
                run(&prog);
            }
        }
        assert!(loaded > 100, "only {loaded} random programs loaded");
    }

    #[test]
    fn too_many_branches_is_e2big() {
        let m = array(1);
        // 2,000 independent unknown-value branches: more paths than the
        // pending limit allows at once.
        let mut p = vec![ins(op::LD | op::ABS | op::B, 0, 0, 0, 0)];
        p.insert(0, mov64_reg(6, 1));
        for _ in 0..2000 {
            p.push(jmp_imm(op::JEQ, 0, 7, 0));
        }
        p.push(exit());
        let (r, _) = load_as(p, &m, true);
        assert_eq!(r.err(), Some(Errno::E2BIG));
    }

    #[test]
    fn alu_rules() {
        assert_eq!(alu(op::DIV, true, 5, 0), 0);
        assert_eq!(alu(op::MOD, true, 5, 0), 5);
        assert_eq!(alu(op::MOD, false, 0x1_0000_0005, 0), 5);
        assert_eq!(alu(op::ADD, false, u64::MAX, 1), 0);
        assert_eq!(alu(op::ARSH, true, (-8i64) as u64, 1), (-4i64) as u64);
        assert_eq!(alu(op::ARSH, false, 0xffff_fff8, 1), 0xffff_fffc);
        assert_eq!(endian(0x1234, true, 16), 0x3412);
        assert!(cond(op::JSLT, false, 0xffff_ffff, 0));
        assert!(!cond(op::JSLT, true, 0xffff_ffff, 0));
    }
}
