//! io_uring(7) as logic, without memory or tasks: what io_uring_setup accepts
//! and the sizes it picks ([`sizes`]), where each field of the shared rings
//! lies ([`Layout`]), the submission and completion entries as bytes ([`Sqe`],
//! [`Cqe`]), and the order IOSQE_IO_DRAIN imposes on requests in flight
//! ([`Flight`]).
//!
//! The kernel (kernel/src/syscall/io_uring.rs) owns the ring memory and the
//! tasks that carry requests out; everything that decides an outcome from
//! numbers is here and host-tested.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeSet;

use kestrel_abi::{Errno, KResult};

/// The most submission entries a ring may have (Linux's IORING_MAX_ENTRIES).
pub const MAX_ENTRIES: u32 = 32768;
/// The most completion entries (IORING_MAX_CQ_ENTRIES).
pub const MAX_CQ_ENTRIES: u32 = 2 * MAX_ENTRIES;
/// The most buffers IORING_REGISTER_BUFFERS takes (IORING_MAX_REG_BUFFERS).
pub const MAX_REG_BUFFERS: u32 = 1 << 14;
/// The largest registered buffer (Linux refuses more than 1 GiB).
pub const MAX_REG_BUFFER_LEN: u64 = 1 << 30;

/// mmap(2) offsets of the three areas.
pub const OFF_SQ_RING: u64 = 0;
pub const OFF_CQ_RING: u64 = 0x800_0000;
pub const OFF_SQES: u64 = 0x1000_0000;

/// io_uring_setup flags.
pub mod setup {
    pub const IOPOLL: u32 = 1 << 0;
    pub const SQPOLL: u32 = 1 << 1;
    pub const SQ_AFF: u32 = 1 << 2;
    pub const CQSIZE: u32 = 1 << 3;
    pub const CLAMP: u32 = 1 << 4;
    pub const ATTACH_WQ: u32 = 1 << 5;
    pub const R_DISABLED: u32 = 1 << 6;
    pub const SUBMIT_ALL: u32 = 1 << 7;
    pub const COOP_TASKRUN: u32 = 1 << 8;
    pub const TASKRUN_FLAG: u32 = 1 << 9;
    pub const SQE128: u32 = 1 << 10;
    pub const CQE32: u32 = 1 << 11;
    pub const SINGLE_ISSUER: u32 = 1 << 12;
    pub const DEFER_TASKRUN: u32 = 1 << 13;
    /// The flags Kestrel accepts: the others are EINVAL, as on a kernel that
    /// does not know them. IOPOLL (polled block I/O) and the 128-byte entries
    /// are not here.
    pub const SUPPORTED: u32 =
        SQPOLL | SQ_AFF | CQSIZE | CLAMP | SUBMIT_ALL | COOP_TASKRUN | TASKRUN_FLAG | SINGLE_ISSUER;
}

/// io_uring_enter flags.
pub mod enter {
    pub const GETEVENTS: u32 = 1 << 0;
    pub const SQ_WAKEUP: u32 = 1 << 1;
    pub const SQ_WAIT: u32 = 1 << 2;
    pub const EXT_ARG: u32 = 1 << 3;
    pub const SUPPORTED: u32 = GETEVENTS | SQ_WAKEUP | SQ_WAIT | EXT_ARG;
}

/// io_uring_params.features Kestrel reports.
pub mod feat {
    pub const SINGLE_MMAP: u32 = 1 << 0;
    pub const NODROP: u32 = 1 << 1;
    pub const SUBMIT_STABLE: u32 = 1 << 2;
    pub const RW_CUR_POS: u32 = 1 << 3;
    pub const CUR_PERSONALITY: u32 = 1 << 4;
    pub const SQPOLL_NONFIXED: u32 = 1 << 7;
    pub const EXT_ARG: u32 = 1 << 8;
    pub const NATIVE_WORKERS: u32 = 1 << 9;
    pub const ALL: u32 = SINGLE_MMAP
        | NODROP
        | SUBMIT_STABLE
        | RW_CUR_POS
        | CUR_PERSONALITY
        | SQPOLL_NONFIXED
        | EXT_ARG
        | NATIVE_WORKERS;
}

/// The SQ ring's flags word.
pub const SQ_NEED_WAKEUP: u32 = 1 << 0;
pub const SQ_CQ_OVERFLOW: u32 = 1 << 1;

/// IOSQE_* flags of a submission entry.
pub mod sqe_flags {
    pub const FIXED_FILE: u8 = 1 << 0;
    pub const IO_DRAIN: u8 = 1 << 1;
    pub const IO_LINK: u8 = 1 << 2;
    pub const IO_HARDLINK: u8 = 1 << 3;
    pub const ASYNC: u8 = 1 << 4;
    pub const BUFFER_SELECT: u8 = 1 << 5;
    pub const CQE_SKIP_SUCCESS: u8 = 1 << 6;
}

/// Opcodes (enum io_uring_op).
pub mod op {
    pub const NOP: u8 = 0;
    pub const READV: u8 = 1;
    pub const WRITEV: u8 = 2;
    pub const FSYNC: u8 = 3;
    pub const READ_FIXED: u8 = 4;
    pub const WRITE_FIXED: u8 = 5;
    pub const POLL_ADD: u8 = 6;
    pub const POLL_REMOVE: u8 = 7;
    pub const SYNC_FILE_RANGE: u8 = 8;
    pub const SENDMSG: u8 = 9;
    pub const RECVMSG: u8 = 10;
    pub const TIMEOUT: u8 = 11;
    pub const TIMEOUT_REMOVE: u8 = 12;
    pub const ACCEPT: u8 = 13;
    pub const ASYNC_CANCEL: u8 = 14;
    pub const LINK_TIMEOUT: u8 = 15;
    pub const CONNECT: u8 = 16;
    pub const FALLOCATE: u8 = 17;
    pub const OPENAT: u8 = 18;
    pub const CLOSE: u8 = 19;
    pub const FILES_UPDATE: u8 = 20;
    pub const STATX: u8 = 21;
    pub const READ: u8 = 22;
    pub const WRITE: u8 = 23;
    pub const FADVISE: u8 = 24;
    pub const MADVISE: u8 = 25;
    pub const SEND: u8 = 26;
    pub const RECV: u8 = 27;
    pub const OPENAT2: u8 = 28;
    pub const EPOLL_CTL: u8 = 29;
    pub const SPLICE: u8 = 30;
    pub const PROVIDE_BUFFERS: u8 = 31;
    pub const REMOVE_BUFFERS: u8 = 32;
    pub const TEE: u8 = 33;
    pub const SHUTDOWN: u8 = 34;
    pub const RENAMEAT: u8 = 35;
    pub const UNLINKAT: u8 = 36;
    pub const MKDIRAT: u8 = 37;
    pub const SYMLINKAT: u8 = 38;
    pub const LINKAT: u8 = 39;
    /// One past the last opcode Linux 6.1 knows (IORING_OP_LAST there).
    pub const LAST: u8 = 48;

    /// Whether Kestrel carries out `op` (the others complete with EINVAL, as
    /// on a kernel without them, and REGISTER_PROBE leaves them out).
    pub fn supported(op: u8) -> bool {
        matches!(
            op,
            NOP | READV
                | WRITEV
                | FSYNC
                | READ_FIXED
                | WRITE_FIXED
                | POLL_ADD
                | POLL_REMOVE
                | SYNC_FILE_RANGE
                | SENDMSG
                | RECVMSG
                | TIMEOUT
                | TIMEOUT_REMOVE
                | ACCEPT
                | ASYNC_CANCEL
                | CONNECT
                | FALLOCATE
                | OPENAT
                | CLOSE
                | STATX
                | READ
                | WRITE
                | FADVISE
                | MADVISE
                | SEND
                | RECV
                | OPENAT2
                | EPOLL_CTL
                | SHUTDOWN
                | RENAMEAT
                | UNLINKAT
                | MKDIRAT
                | SYMLINKAT
                | LINKAT
        )
    }
}

/// io_uring_register opcodes.
pub mod register {
    pub const REGISTER_BUFFERS: u32 = 0;
    pub const UNREGISTER_BUFFERS: u32 = 1;
    pub const REGISTER_FILES: u32 = 2;
    pub const UNREGISTER_FILES: u32 = 3;
    pub const REGISTER_EVENTFD: u32 = 4;
    pub const UNREGISTER_EVENTFD: u32 = 5;
    pub const REGISTER_EVENTFD_ASYNC: u32 = 7;
    pub const REGISTER_PROBE: u32 = 8;
}

/// The entry counts io_uring_setup gives a ring for `entries` submission
/// entries, the setup `flags` and the requested `cq_entries` (used with
/// IORING_SETUP_CQSIZE): (sq_entries, cq_entries), both powers of two.
///
/// Linux's rules: 0 entries is EINVAL; more than [`MAX_ENTRIES`] is EINVAL
/// unless IORING_SETUP_CLAMP clamps it; the completion ring is twice the
/// submission ring, or with CQSIZE the requested size (EINVAL for 0, clamped
/// or EINVAL above [`MAX_CQ_ENTRIES`]), which may not be smaller than the
/// submission ring.
pub fn sizes(entries: u32, flags: u32, cq_entries: u32) -> KResult<(u32, u32)> {
    if entries == 0 {
        return Err(Errno::EINVAL);
    }
    let clamp = flags & setup::CLAMP != 0;
    let entries = if entries > MAX_ENTRIES {
        if !clamp {
            return Err(Errno::EINVAL);
        }
        MAX_ENTRIES
    } else {
        entries
    };
    let sq = entries.next_power_of_two();
    let cq = if flags & setup::CQSIZE != 0 {
        if cq_entries == 0 {
            return Err(Errno::EINVAL);
        }
        let c = if cq_entries > MAX_CQ_ENTRIES {
            if !clamp {
                return Err(Errno::EINVAL);
            }
            MAX_CQ_ENTRIES
        } else {
            cq_entries
        };
        let c = c.next_power_of_two();
        if c < sq {
            return Err(Errno::EINVAL);
        }
        c
    } else {
        2 * sq
    };
    Ok((sq, cq))
}

/// Where each field of the shared ring area lies (one area holds both rings:
/// IORING_FEAT_SINGLE_MMAP). Indices that one side writes and the other
/// reads get a cache line each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub sq_entries: u32,
    pub cq_entries: u32,
}

impl Layout {
    pub const SQ_HEAD: u32 = 0;
    pub const SQ_TAIL: u32 = 64;
    pub const CQ_HEAD: u32 = 128;
    pub const CQ_TAIL: u32 = 192;
    pub const SQ_RING_MASK: u32 = 256;
    pub const CQ_RING_MASK: u32 = 260;
    pub const SQ_RING_ENTRIES: u32 = 264;
    pub const CQ_RING_ENTRIES: u32 = 268;
    pub const SQ_DROPPED: u32 = 272;
    pub const SQ_FLAGS: u32 = 276;
    pub const CQ_FLAGS: u32 = 280;
    pub const CQ_OVERFLOW: u32 = 284;
    pub const CQES: u32 = 320;

    /// Offset of the SQ index array (after the completion entries).
    pub fn sq_array(&self) -> u32 {
        Self::CQES + self.cq_entries * Cqe::SIZE as u32
    }

    /// Bytes of the ring area.
    pub fn ring_bytes(&self) -> u64 {
        u64::from(self.sq_array()) + u64::from(self.sq_entries) * 4
    }

    /// Bytes of the submission entry array.
    pub fn sqe_bytes(&self) -> u64 {
        u64::from(self.sq_entries) * Sqe::SIZE as u64
    }

    /// io_uring_params's sq_off: head, tail, ring_mask, ring_entries, flags,
    /// dropped, array, resv1, user_addr (u64).
    pub fn sq_off(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        let words = [
            Self::SQ_HEAD,
            Self::SQ_TAIL,
            Self::SQ_RING_MASK,
            Self::SQ_RING_ENTRIES,
            Self::SQ_FLAGS,
            Self::SQ_DROPPED,
            self.sq_array(),
        ];
        for (i, w) in words.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        b
    }

    /// io_uring_params's cq_off: head, tail, ring_mask, ring_entries,
    /// overflow, cqes, flags, resv1, user_addr (u64).
    pub fn cq_off(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        let words = [
            Self::CQ_HEAD,
            Self::CQ_TAIL,
            Self::CQ_RING_MASK,
            Self::CQ_RING_ENTRIES,
            Self::CQ_OVERFLOW,
            Self::CQES,
            Self::CQ_FLAGS,
        ];
        for (i, w) in words.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        b
    }
}

/// A submission entry (struct io_uring_sqe, 64 bytes), decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sqe {
    pub opcode: u8,
    pub flags: u8,
    pub ioprio: u16,
    pub fd: i32,
    /// `off`, or `addr2` for the calls that take a second pointer.
    pub off: u64,
    pub addr: u64,
    pub len: u32,
    /// The per-opcode flags word (rw_flags, fsync_flags, poll32_events,
    /// timeout_flags, open_flags, msg_flags...).
    pub op_flags: u32,
    pub user_data: u64,
    pub buf_index: u16,
    pub personality: u16,
    pub splice_fd_in: i32,
    pub addr3: u64,
}

impl Sqe {
    pub const SIZE: usize = 64;

    pub fn parse(b: &[u8; 64]) -> Self {
        let u16_at = |o: usize| u16::from_ne_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| u64::from(u32_at(o)) | u64::from(u32_at(o + 4)) << 32;
        Self {
            opcode: b[0],
            flags: b[1],
            ioprio: u16_at(2),
            fd: u32_at(4) as i32,
            off: u64_at(8),
            addr: u64_at(16),
            len: u32_at(24),
            op_flags: u32_at(28),
            user_data: u64_at(32),
            buf_index: u16_at(40),
            personality: u16_at(42),
            splice_fd_in: u32_at(44) as i32,
            addr3: u64_at(48),
        }
    }
}

/// A completion entry (struct io_uring_cqe, 16 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cqe {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
}

impl Cqe {
    pub const SIZE: usize = 16;

    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.user_data.to_ne_bytes());
        b[8..12].copy_from_slice(&self.res.to_ne_bytes());
        b[12..].copy_from_slice(&self.flags.to_ne_bytes());
        b
    }
}

/// How many entries a ring with producer index `tail` and consumer index
/// `head` holds (indices are free-running u32s), capped at `entries` (a
/// consumer that wrote a head past the tail is treated as holding none, one
/// that fell behind by more than the ring as holding a full ring).
pub fn pending(head: u32, tail: u32, entries: u32) -> u32 {
    let n = tail.wrapping_sub(head);
    if n > entries {
        if n > u32::MAX / 2 { 0 } else { entries }
    } else {
        n
    }
}

/// The requests of a ring in flight, by submission sequence number, and the
/// IOSQE_IO_DRAIN barriers among them: a drained request starts only once
/// every request submitted before it has completed, and requests submitted
/// after it start only once it has completed.
#[derive(Debug, Default)]
pub struct Flight {
    running: BTreeSet<u64>,
    drains: BTreeSet<u64>,
    next: u64,
}

impl Flight {
    /// Records a new request; returns its sequence number.
    pub fn submit(&mut self, drain: bool) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.running.insert(seq);
        if drain {
            self.drains.insert(seq);
        }
        seq
    }

    /// Whether request `seq` may start now.
    pub fn may_start(&self, seq: u64) -> bool {
        if self.drains.contains(&seq) {
            // Every earlier request done.
            return self.running.range(..seq).next().is_none();
        }
        // No drain barrier submitted before it still pending.
        self.drains.range(..seq).next().is_none()
    }

    /// Records that request `seq` completed.
    pub fn complete(&mut self, seq: u64) {
        self.running.remove(&seq);
        self.drains.remove(&seq);
    }

    /// How many requests are in flight.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_and_double_the_completion_ring() {
        assert_eq!(sizes(1, 0, 0), Ok((1, 2)));
        assert_eq!(sizes(3, 0, 0), Ok((4, 8)));
        assert_eq!(sizes(512, 0, 0), Ok((512, 1024)));
        assert_eq!(sizes(MAX_ENTRIES, 0, 0), Ok((MAX_ENTRIES, MAX_CQ_ENTRIES)));
    }

    #[test]
    fn zero_and_too_many_entries_are_einval_unless_clamped() {
        assert_eq!(sizes(0, 0, 0), Err(Errno::EINVAL));
        assert_eq!(sizes(0, setup::CLAMP, 0), Err(Errno::EINVAL));
        assert_eq!(sizes(MAX_ENTRIES + 1, 0, 0), Err(Errno::EINVAL));
        assert_eq!(
            sizes(u32::MAX, setup::CLAMP, 0),
            Ok((MAX_ENTRIES, MAX_CQ_ENTRIES))
        );
    }

    #[test]
    fn cqsize_is_checked_against_the_submission_ring() {
        assert_eq!(sizes(8, setup::CQSIZE, 0), Err(Errno::EINVAL));
        assert_eq!(sizes(8, setup::CQSIZE, 4), Err(Errno::EINVAL));
        assert_eq!(sizes(8, setup::CQSIZE, 9), Ok((8, 16)));
        assert_eq!(
            sizes(8, setup::CQSIZE, MAX_CQ_ENTRIES + 1),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            sizes(8, setup::CQSIZE | setup::CLAMP, u32::MAX),
            Ok((8, MAX_CQ_ENTRIES))
        );
    }

    #[test]
    fn layout_fields_do_not_overlap_and_the_array_follows_the_cqes() {
        let l = Layout {
            sq_entries: 4,
            cq_entries: 8,
        };
        assert_eq!(l.sq_array(), Layout::CQES + 8 * 16);
        assert_eq!(l.ring_bytes(), u64::from(l.sq_array()) + 16);
        assert_eq!(l.sqe_bytes(), 256);
        const { assert!(Layout::CQ_OVERFLOW + 4 <= Layout::CQES) };
        let so = l.sq_off();
        assert_eq!(
            u32::from_ne_bytes(so[24..28].try_into().unwrap()),
            l.sq_array()
        );
        let co = l.cq_off();
        assert_eq!(
            u32::from_ne_bytes(co[20..24].try_into().unwrap()),
            Layout::CQES
        );
        // The largest ring stays a bounded size.
        let big = Layout {
            sq_entries: MAX_ENTRIES,
            cq_entries: MAX_CQ_ENTRIES,
        };
        assert!(big.ring_bytes() < 2 << 20);
        assert_eq!(big.sqe_bytes(), 2 << 20);
    }

    #[test]
    fn sqe_fields_are_read_at_their_abi_offsets() {
        let mut b = [0u8; 64];
        b[0] = op::READ;
        b[1] = sqe_flags::IO_LINK;
        b[4..8].copy_from_slice(&(-100i32).to_ne_bytes());
        b[8..16].copy_from_slice(&u64::MAX.to_ne_bytes());
        b[16..24].copy_from_slice(&0x1234_5678_9abc_u64.to_ne_bytes());
        b[24..28].copy_from_slice(&4096u32.to_ne_bytes());
        b[28..32].copy_from_slice(&7u32.to_ne_bytes());
        b[32..40].copy_from_slice(&0xfeed_u64.to_ne_bytes());
        b[40..42].copy_from_slice(&3u16.to_ne_bytes());
        let s = Sqe::parse(&b);
        assert_eq!(s.opcode, op::READ);
        assert_eq!(s.flags, sqe_flags::IO_LINK);
        assert_eq!(s.fd, -100);
        assert_eq!(s.off, u64::MAX);
        assert_eq!(s.addr, 0x1234_5678_9abc);
        assert_eq!(s.len, 4096);
        assert_eq!(s.op_flags, 7);
        assert_eq!(s.user_data, 0xfeed);
        assert_eq!(s.buf_index, 3);
    }

    #[test]
    fn cqe_bytes_are_user_data_res_flags() {
        let b = Cqe {
            user_data: 9,
            res: -22,
            flags: 1,
        }
        .to_bytes();
        assert_eq!(u64::from_ne_bytes(b[..8].try_into().unwrap()), 9);
        assert_eq!(i32::from_ne_bytes(b[8..12].try_into().unwrap()), -22);
        assert_eq!(u32::from_ne_bytes(b[12..].try_into().unwrap()), 1);
    }

    #[test]
    fn pending_handles_wrap_and_bogus_heads() {
        assert_eq!(pending(0, 0, 8), 0);
        assert_eq!(pending(u32::MAX, 1, 8), 2);
        assert_eq!(pending(5, 3, 8), 0);
        assert_eq!(pending(0, 100, 8), 8);
    }

    #[test]
    fn a_drain_waits_for_earlier_requests_and_holds_later_ones() {
        let mut f = Flight::default();
        let a = f.submit(false);
        let d = f.submit(true);
        let b = f.submit(false);
        assert!(f.may_start(a));
        assert!(!f.may_start(d));
        assert!(!f.may_start(b));
        f.complete(a);
        assert!(f.may_start(d));
        assert!(!f.may_start(b));
        f.complete(d);
        assert!(f.may_start(b));
        f.complete(b);
        assert!(f.is_empty());
    }

    #[test]
    fn without_drains_everything_starts_at_once() {
        let mut f = Flight::default();
        let s: alloc::vec::Vec<u64> = (0..4).map(|_| f.submit(false)).collect();
        assert!(s.iter().all(|&x| f.may_start(x)));
        assert_eq!(f.len(), 4);
    }
}
