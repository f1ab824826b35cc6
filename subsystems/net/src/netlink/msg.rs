//! The netlink wire format: messages (`struct nlmsghdr` and a payload,
//! 4-byte aligned) and attributes (`struct rtattr`: length, type, payload,
//! 4-byte aligned), all in host byte order.

use alloc::vec::Vec;

/// `struct nlmsghdr`: length (header included), type, flags, sequence
/// number, port id.
pub const NLMSG_HDRLEN: usize = 16;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
/// Types below this are control messages the kernel does not handle.
pub const NLMSG_MIN_TYPE: u16 = 0x10;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_ECHO: u16 = 0x8;
/// GET requests.
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// NEW requests.
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
/// On an NLMSG_ERROR: the request's payload is left out.
pub const NLM_F_CAPPED: u16 = 0x100;

/// Rounds up to the 4-byte alignment of messages and attributes.
pub const fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A message's header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl Header {
    /// The header at the start of `b` (at least [`NLMSG_HDRLEN`] bytes).
    pub fn parse(b: &[u8]) -> Option<Header> {
        let b: &[u8; NLMSG_HDRLEN] = b.get(..NLMSG_HDRLEN)?.try_into().ok()?;
        Some(Header {
            len: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            ty: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            pid: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
        })
    }

    pub fn bytes(&self) -> [u8; NLMSG_HDRLEN] {
        let mut b = [0u8; NLMSG_HDRLEN];
        b[0..4].copy_from_slice(&self.len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.ty.to_ne_bytes());
        b[6..8].copy_from_slice(&self.flags.to_ne_bytes());
        b[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        b[12..16].copy_from_slice(&self.pid.to_ne_bytes());
        b
    }
}

/// The messages of one send, in order: (header, payload). Iteration stops
/// at the first message whose length is shorter than a header or longer
/// than what is left: Linux's netlink_rcv_skb drops the rest silently.
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Messages { rest: buf }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = (Header, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let h = Header::parse(self.rest)?;
        let len = h.len as usize;
        if len < NLMSG_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let payload = &self.rest[NLMSG_HDRLEN..len];
        let step = align(len).min(self.rest.len());
        self.rest = &self.rest[step..];
        Some((h, payload))
    }
}

/// The attributes in `b`: (type without the NESTED and NET_BYTEORDER bits,
/// payload). A malformed one ends the list (what is after it is ignored, as
/// Linux's non-strict parsing does).
pub fn attrs(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = b;
    core::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let ty = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            rest = &[];
            return None;
        }
        let payload = &rest[4..len];
        rest = &rest[align(len).min(rest.len())..];
        Some((ty, payload))
    })
}

/// The last attribute of type `ty` in `b` (a later one overrides, as in
/// Linux's nla_parse).
pub fn attr(b: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(b).filter(|(t, _)| *t == ty).map(|(_, p)| p).last()
}

/// An attribute as a u32 (ERANGE if shorter, as Linux's policy check).
pub fn attr_u32(b: &[u8], ty: u16) -> kestrel_abi::KResult<Option<u32>> {
    match attr(b, ty) {
        None => Ok(None),
        Some(p) if p.len() < 4 => Err(kestrel_abi::Errno::ERANGE),
        Some(p) => Ok(Some(u32::from_ne_bytes([p[0], p[1], p[2], p[3]]))),
    }
}

/// A message being built: header, fixed part, attributes.
pub struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    pub fn new(ty: u16, flags: u16, seq: u32, pid: u32) -> Builder {
        let h = Header {
            len: 0,
            ty,
            flags,
            seq,
            pid,
        };
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&h.bytes());
        Builder { buf }
    }

    /// Appends raw bytes, padded to the alignment.
    pub fn put(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// Appends an attribute.
    pub fn attr(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let len = (4 + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.put(payload)
    }

    pub fn attr_u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.attr(ty, &[v])
    }

    pub fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A NUL-terminated string attribute.
    pub fn attr_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut b = Vec::with_capacity(s.len() + 1);
        b.extend_from_slice(s.as_bytes());
        b.push(0);
        self.attr(ty, &b)
    }

    /// The message, its length filled in.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut buf = core::mem::take(&mut self.buf);
        let len = buf.len() as u32;
        buf[..4].copy_from_slice(&len.to_ne_bytes());
        buf
    }
}

/// NLMSG_DONE ending a dump: its payload is the dump's status (0).
pub fn done(seq: u32, pid: u32) -> Vec<u8> {
    Builder::new(NLMSG_DONE, NLM_F_MULTI, seq, pid)
        .put(&0i32.to_ne_bytes())
        .finish()
}

/// NLMSG_ERROR for the request `req` (header and payload): `errno` 0 is an
/// acknowledgement, which carries only the request's header (NLM_F_CAPPED);
/// an error carries the whole request, as Linux's netlink_ack does without
/// NETLINK_CAP_ACK.
pub fn error(req: &Header, payload: &[u8], errno: i32, pid: u32) -> Vec<u8> {
    let capped = errno == 0;
    let mut b = Builder::new(
        NLMSG_ERROR,
        if capped { NLM_F_CAPPED } else { 0 },
        req.seq,
        pid,
    );
    b.put(&(-errno).to_ne_bytes());
    // The request's header as it came (its own length).
    let h = *req;
    if capped {
        b.put(&h.bytes());
    } else {
        let mut whole = Vec::with_capacity(NLMSG_HDRLEN + payload.len());
        whole.extend_from_slice(&h.bytes());
        whole.extend_from_slice(payload);
        b.put(&whole);
    }
    b.finish()
}
