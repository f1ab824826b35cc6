//! Sockets: address families, types, options, message headers (sys/socket.h,
//! linux/un.h).

use bytemuck::{Pod, Zeroable};

pub const AF_UNSPEC: u32 = 0;
pub const AF_UNIX: u32 = 1;
pub const AF_INET: u32 = 2;
pub const AF_INET6: u32 = 10;
pub const AF_NETLINK: u32 = 16;
pub const AF_PACKET: u32 = 17;
/// One past the last address family Linux knows (AF_MAX).
pub const AF_MAX: u32 = 46;

pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;
pub const SOCK_RAW: u32 = 3;
pub const SOCK_RDM: u32 = 4;
pub const SOCK_SEQPACKET: u32 = 5;
pub const SOCK_PACKET: u32 = 10;
/// One past the last socket type Linux knows (SOCK_MAX).
pub const SOCK_MAX: u32 = 11;
pub const SOCK_TYPE_MASK: u32 = 0xf;
pub const SOCK_NONBLOCK: u32 = crate::fs::O_NONBLOCK;
pub const SOCK_CLOEXEC: u32 = crate::fs::O_CLOEXEC;

pub const SOL_SOCKET: i32 = 1;
pub const SO_DEBUG: i32 = 1;
pub const SO_REUSEADDR: i32 = 2;
pub const SO_TYPE: i32 = 3;
pub const SO_ERROR: i32 = 4;
pub const SO_DONTROUTE: i32 = 5;
pub const SO_BROADCAST: i32 = 6;
pub const SO_SNDBUF: i32 = 7;
pub const SO_RCVBUF: i32 = 8;
pub const SO_KEEPALIVE: i32 = 9;
pub const SO_OOBINLINE: i32 = 10;
pub const SO_NO_CHECK: i32 = 11;
pub const SO_PRIORITY: i32 = 12;
pub const SO_LINGER: i32 = 13;
pub const SO_BSDCOMPAT: i32 = 14;
pub const SO_REUSEPORT: i32 = 15;
pub const SO_PASSCRED: i32 = 16;
pub const SO_PEERCRED: i32 = 17;
pub const SO_RCVLOWAT: i32 = 18;
pub const SO_SNDLOWAT: i32 = 19;
pub const SO_RCVTIMEO: i32 = 20;
pub const SO_SNDTIMEO: i32 = 21;
pub const SO_ACCEPTCONN: i32 = 30;
pub const SO_SNDBUFFORCE: i32 = 32;
pub const SO_RCVBUFFORCE: i32 = 33;
/// Socket filters: classic BPF, its removal, an eBPF program's descriptor.
pub const SO_ATTACH_FILTER: i32 = 26;
pub const SO_DETACH_FILTER: i32 = 27;
pub const SO_ATTACH_BPF: i32 = 50;
pub const SO_PASSSEC: i32 = 34;
pub const SO_PROTOCOL: i32 = 38;
pub const SO_DOMAIN: i32 = 39;
pub const SO_PEEK_OFF: i32 = 42;

pub const MSG_OOB: u32 = 1;
pub const MSG_PEEK: u32 = 2;
pub const MSG_DONTROUTE: u32 = 4;
pub const MSG_CTRUNC: u32 = 8;
pub const MSG_TRUNC: u32 = 0x20;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const MSG_EOR: u32 = 0x80;
pub const MSG_WAITALL: u32 = 0x100;
pub const MSG_NOSIGNAL: u32 = 0x4000;
pub const MSG_MORE: u32 = 0x8000;
pub const MSG_ERRQUEUE: u32 = 0x2000;
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

pub const SCM_RIGHTS: i32 = 1;
pub const SCM_CREDENTIALS: i32 = 2;
/// The most descriptors one SCM_RIGHTS message carries (SCM_MAX_FD).
pub const SCM_MAX_FD: usize = 253;

pub const SHUT_RD: u32 = 0;
pub const SHUT_WR: u32 = 1;
pub const SHUT_RDWR: u32 = 2;

/// The size of `sun_path`.
pub const UNIX_PATH_MAX: usize = 108;

/// `struct msghdr`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct Msghdr {
    pub msg_name: u64,
    pub msg_namelen: u32,
    pub _pad0: u32,
    pub msg_iov: u64,
    pub msg_iovlen: u64,
    pub msg_control: u64,
    pub msg_controllen: u64,
    pub msg_flags: u32,
    pub _pad1: u32,
}

/// `struct mmsghdr` (sendmmsg, recvmmsg).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct Mmsghdr {
    pub msg_hdr: Msghdr,
    pub msg_len: u32,
    pub _pad: u32,
}

/// `struct cmsghdr`'s fixed part; the data follows, aligned to 8 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct Cmsghdr {
    pub cmsg_len: u64,
    pub cmsg_level: i32,
    pub cmsg_type: i32,
}

/// `struct ucred` (SO_PEERCRED, SCM_CREDENTIALS).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Ucred {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// `struct linger`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct Linger {
    pub l_onoff: i32,
    pub l_linger: i32,
}

/// CMSG_ALIGN.
pub const fn cmsg_align(len: usize) -> usize {
    (len + 7) & !7
}

// AF_INET and AF_INET6 (ip(7), ipv6(7), tcp(7), udp(7)).
pub const IPPROTO_IP: i32 = 0;
pub const IPPROTO_ICMP: i32 = 1;
pub const IPPROTO_TCP: i32 = 6;
pub const IPPROTO_UDP: i32 = 17;
pub const IPPROTO_IPV6: i32 = 41;
pub const IPPROTO_ICMPV6: i32 = 58;
pub const SOL_IP: i32 = 0;
pub const SOL_TCP: i32 = 6;
pub const SOL_UDP: i32 = 17;
pub const SOL_IPV6: i32 = 41;

pub const IP_TOS: i32 = 1;
pub const IP_TTL: i32 = 2;
/// Turns an AF_INET6 socket connected to a v4-mapped address into AF_INET.
pub const IPV6_ADDRFORM: i32 = 1;
pub const IPV6_UNICAST_HOPS: i32 = 16;
/// Extended errors to the error queue (IPPROTO_IP, IPPROTO_IPV6).
pub const IP_RECVERR: i32 = 11;
pub const IPV6_RECVERR: i32 = 25;
pub const IPV6_V6ONLY: i32 = 26;

// Receive-side control messages (recvmsg's msg_control): the option that asks
// for one, and the type the message carries.
/// SOL_SOCKET: a struct timeval of the arrival (SCM_TIMESTAMP, same number).
pub const SO_TIMESTAMP_OLD: i32 = 29;
/// SOL_SOCKET: a struct timespec (SCM_TIMESTAMPNS, same number).
pub const SO_TIMESTAMPNS_OLD: i32 = 35;
/// The 64-bit-time spellings (the same layouts on x86-64, other types).
pub const SO_TIMESTAMP_NEW: i32 = 63;
pub const SO_TIMESTAMPNS_NEW: i32 = 64;
/// IPPROTO_IP: struct in_pktinfo (message type IP_PKTINFO).
pub const IP_PKTINFO: i32 = 8;
/// IPPROTO_IP: the TTL as an int (message type IP_TTL).
pub const IP_RECVTTL: i32 = 12;
/// IPPROTO_IP: the TOS byte (message type IP_TOS, one byte).
pub const IP_RECVTOS: i32 = 13;
/// IPPROTO_IP: the destination as a sockaddr_in (message type IP_ORIGDSTADDR).
pub const IP_RECVORIGDSTADDR: i32 = 20;
pub const IP_ORIGDSTADDR: i32 = 20;
/// IPPROTO_IPV6: struct in6_pktinfo (message type IPV6_PKTINFO).
pub const IPV6_RECVPKTINFO: i32 = 49;
pub const IPV6_PKTINFO: i32 = 50;
/// IPPROTO_IPV6: the hop limit as an int (message type IPV6_HOPLIMIT).
pub const IPV6_RECVHOPLIMIT: i32 = 51;
pub const IPV6_HOPLIMIT: i32 = 52;
/// IPPROTO_IPV6: the traffic class as an int (message type IPV6_TCLASS).
pub const IPV6_RECVTCLASS: i32 = 66;
pub const IPV6_TCLASS: i32 = 67;
/// IPPROTO_IPV6: the destination as a sockaddr_in6 (IPV6_ORIGDSTADDR).
pub const IPV6_RECVORIGDSTADDR: i32 = 74;
pub const IPV6_ORIGDSTADDR: i32 = 74;

// Send-side control messages (sendmsg's msg_control) beyond the above.
/// SOL_SOCKET: the packet's mark (CAP_NET_RAW or CAP_NET_ADMIN).
pub const SO_MARK: i32 = 36;
/// SOL_SOCKET: transmit timestamp requests (a u32 of SOF_TIMESTAMPING_* bits).
pub const SO_TIMESTAMPING_OLD: i32 = 37;
pub const SO_TIMESTAMPING_NEW: i32 = 65;
/// SOL_SOCKET: a transmit time (needs SO_TXTIME on the socket).
pub const SCM_TXTIME: i32 = 61;
/// The SOF_TIMESTAMPING_* bits a send may ask for (TX_RECORD_MASK).
pub const SOF_TIMESTAMPING_TX_RECORD_MASK: u32 = 1 | 2 | 1 << 8 | 1 << 9;
/// IPPROTO_IP: IP options for one packet.
pub const IP_RETOPTS: i32 = 7;
/// IPPROTO_IPV6: RFC 2292's numbers for IPV6_PKTINFO and IPV6_HOPLIMIT.
pub const IPV6_2292PKTINFO: i32 = 2;
pub const IPV6_2292HOPLIMIT: i32 = 8;
pub const IPV6_FLOWINFO: i32 = 11;
pub const IPV6_DONTFRAG: i32 = 62;

pub const TCP_NODELAY: i32 = 1;
pub const TCP_MAXSEG: i32 = 2;
pub const TCP_CORK: i32 = 3;
pub const TCP_KEEPIDLE: i32 = 4;
pub const TCP_KEEPINTVL: i32 = 5;
pub const TCP_KEEPCNT: i32 = 6;
pub const TCP_INFO: i32 = 11;
pub const TCP_QUICKACK: i32 = 12;

pub const SO_BINDTODEVICE: i32 = 25;

/// ioctl: bytes waiting to be read (FIONREAD), and bytes not yet sent.
/// Whether the next byte is urgent data (sockatmark(3)).
pub const SIOCATMARK: u32 = 0x8905;
pub const SIOCINQ: u32 = 0x541b;
pub const SIOCOUTQ: u32 = 0x5411;

/// The most a listen(2) backlog counts (net.core.somaxconn).
pub const SOMAXCONN: usize = 4096;

/// `struct sockaddr_in`: the family, the port and address in network order, and
/// eight bytes of padding.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct SockaddrIn {
    pub sin_family: u16,
    pub sin_port: [u8; 2],
    pub sin_addr: [u8; 4],
    pub sin_zero: [u8; 8],
}

/// `struct sockaddr_in6`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct SockaddrIn6 {
    pub sin6_family: u16,
    pub sin6_port: [u8; 2],
    pub sin6_flowinfo: u32,
    pub sin6_addr: [u8; 16],
    pub sin6_scope_id: u32,
}
