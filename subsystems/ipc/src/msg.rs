//! A message queue (msgsnd, msgrcv).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use kestrel_abi::ipc::{MSG_EXCEPT, MSG_NOERROR, MSGMNB};
use kestrel_abi::{Errno, KResult};

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub mtype: i64,
    pub text: Vec<u8>,
}

/// A queue's messages and the numbers IPC_STAT shows.
#[derive(Debug, Clone)]
pub struct MsgQueue {
    msgs: VecDeque<Msg>,
    /// Bytes of text queued (msg_cbytes).
    pub cbytes: usize,
    /// The most bytes (and, as in Linux, messages) the queue holds (msg_qbytes).
    pub qbytes: usize,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub lspid: i32,
    pub lrpid: i32,
}

impl MsgQueue {
    /// An empty queue made at `now`.
    pub fn new(now: i64) -> Self {
        Self {
            msgs: VecDeque::new(),
            cbytes: 0,
            qbytes: MSGMNB,
            stime: 0,
            rtime: 0,
            ctime: now,
            lspid: 0,
            lrpid: 0,
        }
    }

    /// How many messages are queued (msg_qnum).
    pub fn qnum(&self) -> usize {
        self.msgs.len()
    }

    /// Whether a message of `len` bytes fits now. Linux also counts messages
    /// against msg_qbytes, so a queue of empty messages fills too.
    pub fn has_room(&self, len: usize) -> bool {
        self.cbytes + len <= self.qbytes && self.msgs.len() < self.qbytes
    }

    /// Queues `m` (the caller has checked [`MsgQueue::has_room`]); ENOMEM when
    /// the kernel has no memory for it.
    pub fn push(&mut self, m: Msg, pid: i32, now: i64) -> KResult<()> {
        self.msgs.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.cbytes += m.text.len();
        self.msgs.push_back(m);
        self.lspid = pid;
        self.stime = now;
        Ok(())
    }

    /// The message msgrcv's `msgtyp` selects: the first for 0, the first of
    /// type `msgtyp` for a positive one (the first of another type with
    /// MSG_EXCEPT), the first of the lowest type not above `-msgtyp` for a
    /// negative one.
    fn select(&self, msgtyp: i64, flags: u32) -> Option<usize> {
        if msgtyp == 0 {
            return (!self.msgs.is_empty()).then_some(0);
        }
        if msgtyp > 0 {
            let except = flags & MSG_EXCEPT != 0;
            return self.msgs.iter().position(|m| (m.mtype == msgtyp) != except);
        }
        let limit = msgtyp.unsigned_abs();
        let mut best: Option<(usize, i64)> = None;
        for (i, m) in self.msgs.iter().enumerate() {
            if (m.mtype as u64) <= limit && best.is_none_or(|(_, t)| m.mtype < t) {
                best = Some((i, m.mtype));
            }
        }
        best.map(|(i, _)| i)
    }

    /// A copy of the message at position `idx` (msgrcv's MSG_COPY), ENOMSG
    /// when there are not that many, E2BIG when it is longer than `max` without
    /// MSG_NOERROR.
    pub fn peek(&self, idx: usize, max: usize, flags: u32) -> KResult<Msg> {
        let m = self.msgs.get(idx).ok_or(Errno::ENOMSG)?;
        if m.text.len() > max && flags & MSG_NOERROR == 0 {
            return Err(Errno::E2BIG);
        }
        let n = m.text.len().min(max);
        let mut text = Vec::new();
        text.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        text.extend_from_slice(&m.text[..n]);
        Ok(Msg {
            mtype: m.mtype,
            text,
        })
    }

    /// msgrcv without waiting: the selected message, its text cut to `max`
    /// bytes with MSG_NOERROR. ENOMSG when none is there (the caller waits or
    /// not), E2BIG when it is longer than `max` without MSG_NOERROR (it stays).
    pub fn receive(
        &mut self,
        msgtyp: i64,
        max: usize,
        flags: u32,
        pid: i32,
        now: i64,
    ) -> KResult<Msg> {
        let i = self.select(msgtyp, flags).ok_or(Errno::ENOMSG)?;
        if self.msgs[i].text.len() > max && flags & MSG_NOERROR == 0 {
            return Err(Errno::E2BIG);
        }
        let mut m = self.msgs.remove(i).ok_or(Errno::ENOMSG)?;
        self.cbytes -= m.text.len();
        m.text.truncate(max);
        self.lrpid = pid;
        self.rtime = now;
        Ok(m)
    }
}
