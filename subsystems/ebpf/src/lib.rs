//! eBPF (bpf(2)) as logic: maps ([`map`]), the verifier every program passes
//! before it loads ([`verifier`]) and the interpreter that runs a loaded
//! socket filter ([`interp`]).
//!
//! The kernel (kernel/src/syscall/bpf.rs) reads `union bpf_attr`, keeps maps
//! and programs behind file descriptors and runs a socket's filter on each
//! datagram it receives.
//!
//! What is here is the part of eBPF a socket filter needs: array and hash
//! maps, programs of type `BPF_PROG_TYPE_SOCKET_FILTER`, the helpers for map
//! elements, time, random numbers and the CPU number, packet loads
//! (`BPF_LD_ABS`/`BPF_LD_IND`) and atomic operations. The verifier is
//! stricter than Linux's in three ways (a program Linux refuses is refused
//! here too): no loops, pointer arithmetic only with constants, and no
//! pointer comparisons but the NULL check of a map lookup's result.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod interp;
pub mod map;
pub mod verifier;

use alloc::vec::Vec;

/// One instruction, as `struct bpf_insn`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub const SIZE: usize = 8;

    /// Decodes `struct bpf_insn`s (little-endian; the registers' nibbles
    /// are dst low, src high).
    pub fn decode_all(raw: &[u8]) -> Vec<Insn> {
        raw.chunks_exact(Self::SIZE)
            .map(|c| Insn {
                code: c[0],
                dst: c[1] & 0xf,
                src: c[1] >> 4,
                off: i16::from_le_bytes([c[2], c[3]]),
                imm: i32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect()
    }

    pub fn class(&self) -> u8 {
        self.code & 7
    }
    pub fn op(&self) -> u8 {
        self.code & 0xf0
    }
    pub fn size_bytes(&self) -> usize {
        match self.code & 0x18 {
            op::W => 4,
            op::H => 2,
            op::B => 1,
            _ => 8,
        }
    }
    pub fn mode(&self) -> u8 {
        self.code & 0xe0
    }
    pub fn uses_x(&self) -> bool {
        self.code & op::X != 0
    }
}

/// Opcode parts (linux/bpf_common.h, linux/bpf.h).
pub mod op {
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const JMP32: u8 = 0x06;
    pub const ALU64: u8 = 0x07;

    pub const W: u8 = 0x00;
    pub const H: u8 = 0x08;
    pub const B: u8 = 0x10;
    pub const DW: u8 = 0x18;

    pub const IMM: u8 = 0x00;
    pub const ABS: u8 = 0x20;
    pub const IND: u8 = 0x40;
    pub const MEM: u8 = 0x60;
    pub const ATOMIC: u8 = 0xc0;

    pub const X: u8 = 0x08;

    pub const ADD: u8 = 0x00;
    pub const SUB: u8 = 0x10;
    pub const MUL: u8 = 0x20;
    pub const DIV: u8 = 0x30;
    pub const OR: u8 = 0x40;
    pub const AND: u8 = 0x50;
    pub const LSH: u8 = 0x60;
    pub const RSH: u8 = 0x70;
    pub const NEG: u8 = 0x80;
    pub const MOD: u8 = 0x90;
    pub const XOR: u8 = 0xa0;
    pub const MOV: u8 = 0xb0;
    pub const ARSH: u8 = 0xc0;
    pub const END: u8 = 0xd0;

    pub const JA: u8 = 0x00;
    pub const JEQ: u8 = 0x10;
    pub const JGT: u8 = 0x20;
    pub const JGE: u8 = 0x30;
    pub const JSET: u8 = 0x40;
    pub const JNE: u8 = 0x50;
    pub const JSGT: u8 = 0x60;
    pub const JSGE: u8 = 0x70;
    pub const CALL: u8 = 0x80;
    pub const EXIT: u8 = 0x90;
    pub const JLT: u8 = 0xa0;
    pub const JLE: u8 = 0xb0;
    pub const JSLT: u8 = 0xc0;
    pub const JSLE: u8 = 0xd0;

    /// Atomic operations (in `imm`).
    pub const FETCH: i32 = 0x01;
    pub const XCHG: i32 = 0xe0 | FETCH;
    pub const CMPXCHG: i32 = 0xf0 | FETCH;

    /// `BPF_LD | BPF_IMM | BPF_DW`'s src: the immediate is a map's fd.
    pub const PSEUDO_MAP_FD: u8 = 1;
}

/// Helper functions a program may call (`enum bpf_func_id`).
pub mod func {
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const MAP_UPDATE_ELEM: i32 = 2;
    pub const MAP_DELETE_ELEM: i32 = 3;
    pub const KTIME_GET_NS: i32 = 5;
    pub const GET_PRANDOM_U32: i32 = 7;
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    pub const KTIME_GET_BOOT_NS: i32 = 125;
}

/// The stack a program has: 512 bytes below r10.
pub const STACK_SIZE: usize = 512;

/// The most instructions a program may have. Linux lets a privileged loader
/// have a million (BPF_COMPLEXITY_LIMIT_INSNS); Kestrel's verifier runs
/// within one system call without yielding, so its work is kept to tens of
/// milliseconds under TCG by these limits: a longer program is E2BIG.
pub const MAX_INSNS: usize = 65_536;

/// The most instructions the verifier walks over all paths before it gives
/// up on a program as too complex (E2BIG; Linux's limit is a million).
pub const MAX_PROCESSED: usize = 131_072;

/// The most branches waiting to be walked at once (E2BIG past it; Linux's
/// BPF_COMPLEXITY_LIMIT_JMP_SEQ is 8,192).
pub const MAX_PENDING: usize = 1024;

/// The most maps one program may use (MAX_USED_MAPS).
pub const MAX_USED_MAPS: usize = 64;

/// `struct __sk_buff` fields a socket filter reads, by offset: the ones
/// known here (every other offset up to the end of the structure is refused).
pub mod skb {
    pub const LEN: i64 = 0;
    pub const PKT_TYPE: i64 = 4;
    pub const MARK: i64 = 8;
    pub const QUEUE_MAPPING: i64 = 12;
    pub const PROTOCOL: i64 = 16;
    pub const VLAN_PRESENT: i64 = 20;
    pub const VLAN_TCI: i64 = 24;
    pub const VLAN_PROTO: i64 = 28;
    pub const PRIORITY: i64 = 32;
    pub const INGRESS_IFINDEX: i64 = 36;
    pub const IFINDEX: i64 = 40;
    pub const TC_INDEX: i64 = 44;
    /// `cb[5]`: scratch words a program may also write.
    pub const CB: i64 = 48;
    pub const CB_END: i64 = 68;
    pub const HASH: i64 = 68;
    /// The words kept in [`crate::interp::SkbCtx`]: `len` through `hash`.
    pub const WORDS: usize = 18;
}
