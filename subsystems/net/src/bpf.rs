//! Classic BPF socket filters (SO_ATTACH_FILTER): checked as Linux's
//! bpf_check_classic checks a program, and run on each frame a packet
//! socket would take. The result is how many bytes of the frame to keep
//! (0: drop it).
//!
//! Loads beyond the frame end the program with 0, as Linux's interpreter.
//! The ancillary loads (SKF_AD_OFF + n) give the protocol, packet type,
//! interface index and hardware type; the others read 0 (partial).

use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};

/// One instruction (struct sock_filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// BPF_MAXINSNS.
pub const MAX_INSNS: usize = 4096;
/// BPF_MEMWORDS.
const MEM_WORDS: u32 = 16;

const SKF_AD_OFF: i32 = -0x1000;
const SKF_NET_OFF: i32 = -0x10_0000;
const SKF_LL_OFF: i32 = -0x20_0000;

const LD: u16 = 0;
const LDX: u16 = 1;
const ST: u16 = 2;
const STX: u16 = 3;
const ALU: u16 = 4;
const JMP: u16 = 5;
const RET: u16 = 6;
const MISC: u16 = 7;

/// What the ancillary loads and SKF_NET_OFF see of a frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct Meta {
    /// The Ethertype (host order).
    pub protocol: u16,
    pub pkttype: u8,
    pub ifindex: u32,
    pub hatype: u16,
    /// Where the network header starts in the data the filter sees
    /// (SOCK_RAW: after the link header; SOCK_DGRAM: 0), and where the link
    /// header does (it may be before the data: negative).
    pub net_off: i64,
    pub mac_off: i64,
}

/// Parses and checks a program of `n` instructions (`raw`: 8 bytes each):
/// EINVAL for none or more than BPF_MAXINSNS, an unknown opcode, a scratch
/// word past 16, a division by a constant 0, a jump out of the program, or
/// a last instruction that does not return.
pub fn parse(raw: &[u8]) -> KResult<Vec<Insn>> {
    let n = raw.len() / 8;
    if n == 0 || n > MAX_INSNS {
        return Err(Errno::EINVAL);
    }
    let mut prog = Vec::new();
    prog.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    for c in raw.chunks_exact(8) {
        prog.push(Insn {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        });
    }
    for (pc, i) in prog.iter().enumerate() {
        if !valid(i) {
            return Err(Errno::EINVAL);
        }
        let class = i.code & 7;
        let mode = i.code & 0xe0;
        match class {
            LD | LDX if mode == 0x60 && i.k >= MEM_WORDS => return Err(Errno::EINVAL),
            ST | STX if i.k >= MEM_WORDS => return Err(Errno::EINVAL),
            ALU if matches!(i.code & 0xf0, 0x30 | 0x90) && i.code & 8 == 0 && i.k == 0 => {
                return Err(Errno::EINVAL);
            }
            JMP => {
                let left = (n - pc - 1) as u64;
                if i.code & 0xf0 == 0 {
                    if u64::from(i.k) >= left {
                        return Err(Errno::EINVAL);
                    }
                } else if u64::from(i.jt) >= left || u64::from(i.jf) >= left {
                    return Err(Errno::EINVAL);
                }
            }
            _ => {}
        }
    }
    if prog[n - 1].code & 7 != RET {
        return Err(Errno::EINVAL);
    }
    Ok(prog)
}

/// Whether an instruction's opcode is one classic BPF has.
fn valid(i: &Insn) -> bool {
    let c = i.code;
    match c & 7 {
        LD => {
            let size = c & 0x18;
            match c & 0xe0 {
                0x00 | 0x60 | 0x80 => size == 0 && c & !0xe7 == 0,
                0x20 | 0x40 => size != 0x18 && c & !0xff == 0,
                _ => false,
            }
        }
        LDX => matches!(c, 0x01 | 0x61 | 0x81 | 0xb1),
        ST => c == 0x02,
        STX => c == 0x03,
        ALU => {
            let op = c & 0xf0;
            c & !0xff == 0 && op <= 0xa0 && !(op == 0x80 && c & 8 != 0)
        }
        JMP => c & !0xff == 0 && c & 0xf0 <= 0x40 && !(c & 0xf0 == 0 && c & 8 != 0),
        RET => matches!(c & 0x18, 0x00 | 0x08 | 0x10) && c & !0x1f == 0,
        MISC => matches!(c, 0x07 | 0x87),
        _ => false,
    }
}

/// Loads `size` bytes (4, 2, 1) big-endian at `off` of the data, with the
/// special offsets; None past the end.
fn load(data: &[u8], meta: &Meta, off: i64, size: usize) -> Option<u32> {
    let at = if off >= 0 {
        off
    } else if off >= i64::from(SKF_AD_OFF) {
        return None;
    } else if off >= i64::from(SKF_NET_OFF) && off < i64::from(SKF_NET_OFF) + 0x10_0000 {
        meta.net_off + (off - i64::from(SKF_NET_OFF))
    } else if off >= i64::from(SKF_LL_OFF) {
        meta.mac_off + (off - i64::from(SKF_LL_OFF))
    } else {
        return None;
    };
    let at = usize::try_from(at).ok()?;
    let b = data.get(at..at.checked_add(size)?)?;
    Some(b.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x)))
}

/// The ancillary word SKF_AD_OFF + `n`.
fn ancillary(meta: &Meta, n: u32) -> u32 {
    match n {
        0 => u32::from(meta.protocol.to_be()),
        4 => u32::from(meta.pkttype),
        8 => meta.ifindex,
        28 => u32::from(meta.hatype),
        _ => 0,
    }
}

/// Runs a checked program on `data`: the bytes to keep (0: drop).
pub fn run(prog: &[Insn], data: &[u8], meta: &Meta) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEM_WORDS as usize];
    let mut pc = 0usize;
    let len = data.len() as u32;
    // Each instruction runs at most once per pass: jumps only go forward.
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let c = i.code;
        let size = match c & 0x18 {
            0x00 => 4,
            0x08 => 2,
            _ => 1,
        };
        match c & 7 {
            LD => {
                a = match c & 0xe0 {
                    0x00 => i.k,
                    0x20 => {
                        let off = i.k as i32;
                        if (SKF_AD_OFF..0).contains(&off) {
                            ancillary(meta, (off - SKF_AD_OFF) as u32)
                        } else {
                            match load(data, meta, i64::from(off), size) {
                                Some(v) => v,
                                None => return 0,
                            }
                        }
                    }
                    0x40 => match load(data, meta, i64::from(x) + i64::from(i.k as i32), size) {
                        Some(v) => v,
                        None => return 0,
                    },
                    0x60 => mem[i.k as usize],
                    _ => len,
                };
            }
            LDX => {
                x = match c & 0xe0 {
                    0x00 => i.k,
                    0x60 => mem[i.k as usize],
                    0x80 => len,
                    _ => match load(data, meta, i64::from(i.k), 1) {
                        Some(v) => (v & 0xf) << 2,
                        None => return 0,
                    },
                };
            }
            ST => mem[i.k as usize] = a,
            STX => mem[i.k as usize] = x,
            ALU => {
                let v = if c & 8 != 0 { x } else { i.k };
                a = match c & 0xf0 {
                    0x00 => a.wrapping_add(v),
                    0x10 => a.wrapping_sub(v),
                    0x20 => a.wrapping_mul(v),
                    0x30 => match a.checked_div(v) {
                        Some(r) => r,
                        None => return 0,
                    },
                    0x40 => a | v,
                    0x50 => a & v,
                    0x60 => a.checked_shl(v).unwrap_or(0),
                    0x70 => a.checked_shr(v).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => match a.checked_rem(v) {
                        Some(r) => r,
                        None => return 0,
                    },
                    _ => a ^ v,
                };
            }
            JMP => {
                let v = if c & 8 != 0 { x } else { i.k };
                let taken = match c & 0xf0 {
                    0x00 => {
                        pc += i.k as usize;
                        continue;
                    }
                    0x10 => a == v,
                    0x20 => a > v,
                    0x30 => a >= v,
                    _ => a & v != 0,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            RET => {
                return match c & 0x18 {
                    0x00 => i.k,
                    0x08 => x,
                    _ => a,
                };
            }
            _ => {
                if c & 0x80 != 0 {
                    a = x;
                } else {
                    x = a;
                }
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(p: &[(u16, u8, u8, u32)]) -> Vec<u8> {
        let mut v = Vec::new();
        for &(c, t, f, k) in p {
            v.extend_from_slice(&c.to_ne_bytes());
            v.push(t);
            v.push(f);
            v.extend_from_slice(&k.to_ne_bytes());
        }
        v
    }

    #[test]
    fn ethertype_filter() {
        // ldh [12]; jeq #0x88b5, keep, drop; ret #0x40000; ret #0
        let p = parse(&enc(&[
            (0x28, 0, 0, 12),
            (0x15, 0, 1, 0x88b5),
            (0x06, 0, 0, 0x40000),
            (0x06, 0, 0, 0),
        ]))
        .unwrap();
        let mut f = vec![0u8; 60];
        f[12] = 0x88;
        f[13] = 0xb5;
        let m = Meta::default();
        assert_eq!(run(&p, &f, &m), 0x40000);
        f[13] = 0;
        assert_eq!(run(&p, &f, &m), 0);
        // Past the end: drop.
        assert_eq!(run(&p, &f[..10], &m), 0);
    }

    #[test]
    fn ancillary_and_checks() {
        // ld pkttype; jeq #4 drop; ret #-1
        let p = parse(&enc(&[
            (0x20, 0, 0, (SKF_AD_OFF + 4) as u32),
            (0x15, 0, 1, 4),
            (0x06, 0, 0, 0),
            (0x06, 0, 0, u32::MAX),
        ]))
        .unwrap();
        let out = Meta {
            pkttype: 4,
            ..Default::default()
        };
        assert_eq!(run(&p, &[0; 20], &out), 0);
        assert_eq!(run(&p, &[0; 20], &Meta::default()), u32::MAX);
        assert_eq!(parse(&[]), Err(Errno::EINVAL));
        // No return at the end; a jump out; division by 0; scratch 16.
        assert_eq!(parse(&enc(&[(0x28, 0, 0, 12)])), Err(Errno::EINVAL));
        assert_eq!(
            parse(&enc(&[(0x15, 1, 0, 0), (0x06, 0, 0, 0)])),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            parse(&enc(&[(0x34, 0, 0, 0), (0x06, 0, 0, 0)])),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            parse(&enc(&[(0x02, 0, 0, 16), (0x06, 0, 0, 0)])),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            parse(&enc(&[(0xffff, 0, 0, 0), (0x06, 0, 0, 0)])),
            Err(Errno::EINVAL)
        );
    }
}
