//! The interpreter: runs a verified socket filter on one packet.
//!
//! Registers hold plain 64-bit values. A pointer is a tagged value naming
//! what it points into (the stack, the context, a map element) and an offset
//! biased by 2^31, so that the constant arithmetic the verifier allowed works
//! on it as on a number. Every access decodes the tag and checks the bounds
//! again: a program the verifier let through wrongly stops with 0 instead of
//! touching anything outside its stack, its context and its maps' values.

use alloc::sync::Arc;

use crate::map::Map;
use crate::{Insn, STACK_SIZE, func, op};

const TAG_SHIFT: u32 = 60;
pub(crate) const TAG_STACK: u64 = 1;
pub(crate) const TAG_CTX: u64 = 2;
pub(crate) const TAG_MAPVAL: u64 = 3;
pub(crate) const TAG_MAP: u64 = 4;
const BIAS: u64 = 1 << 31;

pub(crate) fn ptr(tag: u64, map: usize, elem: u32, off: i64) -> u64 {
    (tag << TAG_SHIFT)
        | ((map as u64 & 0x3f) << 54)
        | ((u64::from(elem) & 0x3f_ffff) << 32)
        | (BIAS.wrapping_add(off as u64) & 0xffff_ffff)
}

/// The tag, map, element and offset of a pointer value.
fn decode(p: u64) -> (u64, usize, u32, i64) {
    (
        p >> TAG_SHIFT,
        ((p >> 54) & 0x3f) as usize,
        ((p >> 32) & 0x3f_ffff) as u32,
        (p & 0xffff_ffff) as i64 - BIAS as i64,
    )
}

/// What the kernel supplies to a running program.
pub trait Env {
    /// CLOCK_MONOTONIC, for bpf_ktime_get_ns.
    fn now_ns(&self) -> u64;
    /// CLOCK_BOOTTIME, for bpf_ktime_get_boot_ns.
    fn boot_ns(&self) -> u64;
    fn random_u32(&self) -> u32;
    fn cpu(&self) -> u32;
}

/// The `struct __sk_buff` words a socket filter sees ([`crate::skb`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SkbCtx {
    pub words: [u32; crate::skb::WORDS],
}

impl SkbCtx {
    /// A context for a packet of `len` bytes with the given protocol (in
    /// network order, as skb->protocol) and interface.
    pub fn new(len: u32, protocol_be: u16, ifindex: u32) -> Self {
        let mut c = SkbCtx::default();
        c.words[(crate::skb::LEN / 4) as usize] = len;
        c.words[(crate::skb::PROTOCOL / 4) as usize] = u32::from(protocol_be);
        c.words[(crate::skb::IFINDEX / 4) as usize] = ifindex;
        c.words[(crate::skb::INGRESS_IFINDEX / 4) as usize] = ifindex;
        c
    }
}

/// The result of an ALU operation (`op` without the class and source bits)
/// on `dst` and `src`, 32-bit (`wide` false: operands and result truncated,
/// the result zero-extended) or 64-bit. Division by zero gives 0, modulo by
/// zero leaves `dst`, shifts use their count's low bits: eBPF's rules.
pub fn alu(op: u8, wide: bool, dst: u64, src: u64) -> u64 {
    if wide {
        match op {
            op::ADD => dst.wrapping_add(src),
            op::SUB => dst.wrapping_sub(src),
            op::MUL => dst.wrapping_mul(src),
            op::DIV => dst.checked_div(src).unwrap_or(0),
            op::OR => dst | src,
            op::AND => dst & src,
            op::LSH => dst << (src & 63),
            op::RSH => dst >> (src & 63),
            op::NEG => dst.wrapping_neg(),
            op::MOD => dst.checked_rem(src).unwrap_or(dst),
            op::XOR => dst ^ src,
            op::MOV => src,
            op::ARSH => ((dst as i64) >> (src & 63)) as u64,
            _ => 0,
        }
    } else {
        let (d, s) = (dst as u32, src as u32);
        u64::from(match op {
            op::ADD => d.wrapping_add(s),
            op::SUB => d.wrapping_sub(s),
            op::MUL => d.wrapping_mul(s),
            op::DIV => d.checked_div(s).unwrap_or(0),
            op::OR => d | s,
            op::AND => d & s,
            op::LSH => d << (s & 31),
            op::RSH => d >> (s & 31),
            op::NEG => d.wrapping_neg(),
            op::MOD => d.checked_rem(s).unwrap_or(d),
            op::XOR => d ^ s,
            op::MOV => s,
            op::ARSH => ((d as i32) >> (s & 31)) as u32,
            _ => 0,
        })
    }
}

/// BPF_END: to little-endian (`to_be` false: truncation on x86-64) or
/// big-endian, over `bits` bits.
pub fn endian(dst: u64, to_be: bool, bits: i32) -> u64 {
    match (bits, to_be) {
        (16, false) => dst & 0xffff,
        (32, false) => dst & 0xffff_ffff,
        (16, true) => u64::from((dst as u16).swap_bytes()),
        (32, true) => u64::from((dst as u32).swap_bytes()),
        (_, true) => dst.swap_bytes(),
        _ => dst,
    }
}

/// Whether a conditional jump (`op` without class and source bits) is taken.
pub fn cond(op: u8, wide: bool, a: u64, b: u64) -> bool {
    let (a, b) = if wide {
        (a, b)
    } else {
        (u64::from(a as u32), u64::from(b as u32))
    };
    let (sa, sb) = if wide {
        (a as i64, b as i64)
    } else {
        (i64::from(a as u32 as i32), i64::from(b as u32 as i32))
    };
    match op {
        op::JEQ => a == b,
        op::JNE => a != b,
        op::JGT => a > b,
        op::JGE => a >= b,
        op::JLT => a < b,
        op::JLE => a <= b,
        op::JSET => a & b != 0,
        op::JSGT => sa > sb,
        op::JSGE => sa >= sb,
        op::JSLT => sa < sb,
        op::JSLE => sa <= sb,
        _ => false,
    }
}

/// A loaded program: verified instructions (map fds replaced by indices into
/// `maps`) and the maps it uses.
pub struct Program {
    pub insns: alloc::vec::Vec<Insn>,
    pub maps: alloc::vec::Vec<Arc<Map>>,
}

struct Vm<'a> {
    prog: &'a Program,
    stack: [u8; STACK_SIZE],
    ctx: SkbCtx,
    data: &'a [u8],
    env: &'a dyn Env,
}

impl Vm<'_> {
    /// Reads `size` bytes at pointer `p` (little-endian), or None.
    fn load(&self, p: u64, size: usize) -> Option<u64> {
        let (tag, map, elem, off) = decode(p);
        let mut buf = [0u8; 8];
        match tag {
            TAG_STACK => {
                let at = usize::try_from(off).ok()?;
                buf[..size].copy_from_slice(self.stack.get(at..at.checked_add(size)?)?);
            }
            TAG_CTX => {
                let at = usize::try_from(off).ok()?;
                let end = at.checked_add(size)?;
                if end > self.ctx.words.len() * 4 {
                    return None;
                }
                for (i, b) in buf[..size].iter_mut().enumerate() {
                    let j = at + i;
                    *b = self.ctx.words[j / 4].to_le_bytes()[j % 4];
                }
            }
            TAG_MAPVAL => {
                let at = usize::try_from(off).ok()?;
                self.prog.maps.get(map)?.with_value(elem, |v| {
                    v.get(at..at.checked_add(size)?)
                        .map(|s| buf[..size].copy_from_slice(s))
                })??;
            }
            _ => return None,
        }
        Some(u64::from_le_bytes(buf))
    }

    /// Writes the low `size` bytes of `v` at pointer `p`; false if it cannot.
    fn store(&mut self, p: u64, size: usize, v: u64) -> bool {
        let (tag, map, elem, off) = decode(p);
        let bytes = v.to_le_bytes();
        let Ok(at) = usize::try_from(off) else {
            return false;
        };
        match tag {
            TAG_STACK => match self.stack.get_mut(at..at.saturating_add(size)) {
                Some(s) if s.len() == size => {
                    s.copy_from_slice(&bytes[..size]);
                    true
                }
                _ => false,
            },
            TAG_CTX => {
                let (cb, end) = (crate::skb::CB as usize, crate::skb::CB_END as usize);
                if size != 4 || at < cb || at + 4 > end || at % 4 != 0 {
                    return false;
                }
                self.ctx.words[at / 4] = v as u32;
                true
            }
            TAG_MAPVAL => self
                .prog
                .maps
                .get(map)
                .and_then(|m| {
                    m.with_value(elem, |val| match val.get_mut(at..at.saturating_add(size)) {
                        Some(s) if s.len() == size => {
                            s.copy_from_slice(&bytes[..size]);
                            true
                        }
                        _ => false,
                    })
                })
                .unwrap_or(false),
            _ => false,
        }
    }

    /// `n` bytes at pointer `p` (a key or value for a helper), or None.
    fn bytes(&self, p: u64, n: usize) -> Option<alloc::vec::Vec<u8>> {
        let (tag, map, elem, off) = decode(p);
        let at = usize::try_from(off).ok()?;
        match tag {
            TAG_STACK => self.stack.get(at..at.checked_add(n)?).map(|s| s.to_vec()),
            TAG_MAPVAL => self
                .prog
                .maps
                .get(map)?
                .with_value(elem, |v| v.get(at..at.checked_add(n)?).map(|s| s.to_vec()))?,
            _ => None,
        }
    }

    fn map_of(&self, p: u64) -> Option<(usize, &Arc<Map>)> {
        let (tag, map, _, _) = decode(p);
        (tag == TAG_MAP).then_some(())?;
        Some((map, self.prog.maps.get(map)?))
    }

    fn call(&mut self, id: i32, r: &[u64; 11]) -> Option<u64> {
        let errno = |e: kestrel_abi::Errno| (-(e as i64)) as u64;
        Some(match id {
            func::MAP_LOOKUP_ELEM => {
                let (mi, m) = self.map_of(r[1])?;
                let key = self.bytes(r[2], m.key_size as usize)?;
                match m.find(&key) {
                    Some(elem) => ptr(TAG_MAPVAL, mi, elem, 0),
                    None => 0,
                }
            }
            func::MAP_UPDATE_ELEM => {
                let (_, m) = self.map_of(r[1])?;
                let m = m.clone();
                let key = self.bytes(r[2], m.key_size as usize)?;
                let value = self.bytes(r[3], m.value_size as usize)?;
                m.update(&key, &value, r[4]).map_or_else(errno, |_| 0)
            }
            func::MAP_DELETE_ELEM => {
                let (_, m) = self.map_of(r[1])?;
                let m = m.clone();
                let key = self.bytes(r[2], m.key_size as usize)?;
                m.delete(&key).map_or_else(errno, |_| 0)
            }
            func::KTIME_GET_NS => self.env.now_ns(),
            func::KTIME_GET_BOOT_NS => self.env.boot_ns(),
            func::GET_PRANDOM_U32 => u64::from(self.env.random_u32()),
            func::GET_SMP_PROCESSOR_ID => u64::from(self.env.cpu()),
            _ => return None,
        })
    }

    fn packet(&self, at: i64, size: usize) -> Option<u64> {
        let at = usize::try_from(at).ok()?;
        let s = self.data.get(at..at.checked_add(size)?)?;
        Some(s.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }

    fn run(&mut self) -> Option<u64> {
        let insns = &self.prog.insns;
        let mut r = [0u64; 11];
        r[1] = ptr(TAG_CTX, 0, 0, 0);
        r[10] = ptr(TAG_STACK, 0, 0, STACK_SIZE as i64);
        let mut pc = 0usize;
        // No loops (the verifier refuses them): a run is at most one pass.
        for _ in 0..=insns.len() {
            let i = *insns.get(pc)?;
            let (d, s) = (usize::from(i.dst), usize::from(i.src));
            if d > 10 || s > 10 {
                return None;
            }
            let imm64 = i64::from(i.imm) as u64;
            pc += 1;
            match i.class() {
                op::ALU | op::ALU64 => {
                    let wide = i.class() == op::ALU64;
                    if i.op() == op::END {
                        r[d] = endian(r[d], i.uses_x(), i.imm);
                    } else {
                        let src = if i.uses_x() {
                            r[s]
                        } else if wide {
                            imm64
                        } else {
                            u64::from(i.imm as u32)
                        };
                        r[d] = alu(i.op(), wide, r[d], src);
                    }
                }
                op::LDX => {
                    let a = r[s].wrapping_add(i64::from(i.off) as u64);
                    r[d] = self.load(a, i.size_bytes())?;
                }
                op::ST | op::STX if i.mode() == op::MEM => {
                    let a = r[d].wrapping_add(i64::from(i.off) as u64);
                    let v = if i.class() == op::ST { imm64 } else { r[s] };
                    if !self.store(a, i.size_bytes(), v) {
                        return None;
                    }
                }
                op::STX => {
                    // BPF_ATOMIC
                    let a = r[d].wrapping_add(i64::from(i.off) as u64);
                    let size = i.size_bytes();
                    let mask = if size == 8 { u64::MAX } else { 0xffff_ffff };
                    let old = self.load(a, size)?;
                    let new = match i.imm {
                        op::XCHG => r[s],
                        op::CMPXCHG if old == r[0] & mask => r[s],
                        op::CMPXCHG => old,
                        imm => alu((imm & 0xf0) as u8, true, old, r[s]),
                    };
                    if !self.store(a, size, new & mask) {
                        return None;
                    }
                    if i.imm == op::CMPXCHG {
                        r[0] = old;
                    } else if i.imm & op::FETCH != 0 {
                        r[s] = old;
                    }
                }
                op::LD if i.mode() == op::IMM => {
                    let hi = insns.get(pc)?.imm as u32;
                    pc += 1;
                    r[d] = if i.src == op::PSEUDO_MAP_FD {
                        ptr(TAG_MAP, i.imm as usize, 0, 0)
                    } else {
                        u64::from(hi) << 32 | u64::from(i.imm as u32)
                    };
                }
                op::LD => {
                    let mut at = i64::from(i.imm);
                    if i.mode() == op::IND {
                        at = at.wrapping_add(i64::from(r[s] as i32));
                    }
                    // Out of the packet: the program ends returning 0.
                    r[0] = self.packet(at, i.size_bytes())?;
                }
                op::JMP | op::JMP32 => {
                    let wide = i.class() == op::JMP;
                    match i.op() {
                        op::JA if wide => pc = pc.checked_add_signed(isize::from(i.off))?,
                        op::CALL if wide => {
                            r[0] = self.call(i.imm, &r)?;
                        }
                        op::EXIT if wide => return Some(r[0]),
                        o => {
                            let b = if i.uses_x() {
                                r[s]
                            } else if wide {
                                imm64
                            } else {
                                u64::from(i.imm as u32)
                            };
                            if cond(o, wide, r[d], b) {
                                pc = pc.checked_add_signed(isize::from(i.off))?;
                            }
                        }
                    }
                }
                _ => return None,
            }
        }
        None
    }
}

impl Program {
    /// Runs the program as a socket filter on `data`: the bytes of the
    /// packet to keep (0: drop it). A run that went wrong (which the
    /// verifier should have made impossible) also gives 0.
    pub fn run_filter(&self, data: &[u8], ctx: SkbCtx, env: &dyn Env) -> u32 {
        let mut vm = Vm {
            prog: self,
            stack: [0; STACK_SIZE],
            ctx,
            data,
            env,
        };
        vm.run().map_or(0, |r0| r0 as u32)
    }
}
