//! Sockets.
//!
//! * [`unix`]: AF_UNIX sockets (unix(7)): stream, datagram and seqpacket, named in
//!   the file system or the abstract namespace, with descriptor passing
//!   (SCM_RIGHTS) and credentials (SCM_CREDENTIALS, SO_PEERCRED).
//! * [`inet`]: AF_INET and AF_INET6 TCP and UDP on smoltcp.
//! * [`netlink`]: AF_NETLINK's NETLINK_ROUTE: links, addresses and routes.
//! * [`packet`]: AF_PACKET sockets: the frames the interfaces send and receive.
//! * [`raw`]: raw IP sockets and ICMP ("ping") datagram sockets.
//!
//! Like the VFS, nothing here blocks: operations that would wait return EAGAIN,
//! and every socket is a [`kestrel_vfs::FileOps`] with a poll mask and a wait
//! queue, so the kernel's read, write, poll and epoll treat it like any file, and
//! its socket system calls wait the same way.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bpf;
pub mod inet;
pub mod netlink;
pub mod packet;
pub mod raw;
pub mod unix;
