//! A netlink socket: its port id, its queue of datagrams, its options.
//!
//! The port id is what the kernel addresses replies to. bind(2) sets it
//! (0 asks the kernel to choose); otherwise the first send or connect
//! chooses one: the process's id for its first netlink socket, then
//! negative numbers (Linux's netlink_autobind). Port ids are per protocol.
//!
//! A datagram sent to port 0 is a request for the kernel ([`super::route`]),
//! answered at once into this socket's queue; one sent to another port goes
//! to that socket's queue, as a unicast between processes.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, Ordering};

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;
use kestrel_vfs::{FileOps, OpenFile};

use crate::inet::Shared;

/// Default receive and send buffers (net.core.rmem_default, wmem_default).
pub const DEFAULT_BUF: usize = 212_992;
/// The largest SO_RCVBUF/SO_SNDBUF (net.core.rmem_max doubled, as Linux
/// doubles what is asked).
pub const MAX_BUF: usize = 425_984;
const MIN_RCVBUF: usize = 2304;
const MIN_SNDBUF: usize = 4608;
/// What a queued datagram costs besides its bytes (an skb's overhead),
/// so a flood of small messages is bounded too.
const OVERHEAD: usize = 576;

/// One datagram waiting to be received.
struct Datagram {
    data: Vec<u8>,
    /// The sender's port id (0: the kernel).
    from: u32,
}

struct State {
    portid: u32,
    groups: u32,
    /// connect(2)'s destination: (port id, groups).
    dst: (u32, u32),
    queue: VecDeque<Datagram>,
    queued: usize,
    rcvbuf: usize,
    sndbuf: usize,
    /// A reply dropped for want of room: the next receive reports ENOBUFS.
    error: Option<Errno>,
    timeouts: [Option<u64>; 2],
    ext_ack: bool,
    strict: bool,
    cap_ack: bool,
    pktinfo: bool,
    no_enobufs: bool,
    released: bool,
}

pub struct NetlinkSocket {
    /// This socket, for the port table.
    me: Weak<NetlinkSocket>,
    protocol: u32,
    /// SOCK_RAW or SOCK_DGRAM (they behave the same).
    ty: u32,
    shared: Option<Arc<Shared>>,
    st: spin::Mutex<State>,
    wq: WaitQueue,
}

/// Bound sockets by (protocol, port id).
static PORTS: spin::Mutex<BTreeMap<(u32, u32), Weak<NetlinkSocket>>> =
    spin::Mutex::new(BTreeMap::new());
/// The next port id autobind tries once the process's id is taken.
static ROVER: AtomicU32 = AtomicU32::new(-4097i32 as u32);

/// What a receive took.
pub struct Received {
    /// Bytes copied.
    pub len: usize,
    /// The datagram's whole length.
    pub full_len: usize,
    /// The sender's port id.
    pub from: u32,
}

impl NetlinkSocket {
    /// A socket of `protocol` (checked by the caller) and type `ty`; the
    /// stack's interfaces answer NETLINK_ROUTE requests.
    pub fn new(protocol: u32, ty: u32, shared: Option<Arc<Shared>>) -> Arc<Self> {
        Arc::new_cyclic(|me| NetlinkSocket {
            me: me.clone(),
            protocol,
            ty,
            shared,
            st: spin::Mutex::new(State {
                portid: 0,
                groups: 0,
                dst: (0, 0),
                queue: VecDeque::new(),
                queued: 0,
                rcvbuf: DEFAULT_BUF,
                sndbuf: DEFAULT_BUF,
                error: None,
                timeouts: [None, None],
                ext_ack: false,
                strict: false,
                cap_ack: false,
                pktinfo: false,
                no_enobufs: false,
                released: false,
            }),
            wq: WaitQueue::new(),
        })
    }

    pub fn of(file: &OpenFile) -> Option<&NetlinkSocket> {
        file.ops().as_any().downcast_ref()
    }

    pub fn protocol(&self) -> u32 {
        self.protocol
    }

    pub fn sock_type(&self) -> u32 {
        self.ty
    }

    pub fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    /// The port id (0 until bound).
    pub fn portid(&self) -> u32 {
        self.st.lock().portid
    }

    /// getsockname: this socket's port id and groups.
    pub fn local_name(&self) -> [u8; super::SOCKADDR_NL_LEN] {
        let st = self.st.lock();
        super::sockaddr(st.portid, st.groups)
    }

    /// getpeername: where connect(2) pointed it (all zero: the kernel).
    pub fn peer_name(&self) -> [u8; super::SOCKADDR_NL_LEN] {
        let st = self.st.lock();
        super::sockaddr(st.dst.0, st.dst.1)
    }

    /// Takes `portid` in the table (EADDRINUSE if another socket has it).
    fn claim(&self, portid: u32) -> KResult<()> {
        let mut ports = PORTS.lock();
        let key = (self.protocol, portid);
        if ports.get(&key).is_some_and(|w| w.strong_count() > 0) {
            return Err(Errno::EADDRINUSE);
        }
        ports.insert(key, self.me.clone());
        Ok(())
    }

    /// bind(2) with the sockaddr_nl's port id and groups: a bound socket
    /// may only be bound to its own port id again (EINVAL, 0 included); 0
    /// autobinds.
    pub fn bind(&self, pid: u32, portid: u32, groups: u32) -> KResult<()> {
        let bound = self.portid();
        if bound != 0 {
            if portid != bound {
                return Err(Errno::EINVAL);
            }
        } else if portid == 0 {
            self.autobind(pid)?;
        } else {
            self.claim(portid)?;
            self.st.lock().portid = portid;
        }
        self.st.lock().groups = groups;
        Ok(())
    }

    /// Gives an unbound socket a port id: the process's id if free, else a
    /// negative one.
    pub fn autobind(&self, pid: u32) -> KResult<()> {
        if self.portid() != 0 {
            return Ok(());
        }
        let mut candidate = pid;
        for _ in 0..4096 {
            if candidate != 0 && self.claim(candidate).is_ok() {
                self.st.lock().portid = candidate;
                return Ok(());
            }
            candidate = ROVER.fetch_sub(1, Ordering::Relaxed);
        }
        Err(Errno::EADDRINUSE)
    }

    /// connect(2): AF_UNSPEC undoes it; otherwise sends without an address
    /// go to `portid`/`groups`. The socket is autobound.
    pub fn connect(&self, pid: u32, dst: Option<(u32, u32)>) -> KResult<()> {
        match dst {
            None => self.st.lock().dst = (0, 0),
            Some(d) => {
                self.autobind(pid)?;
                self.st.lock().dst = d;
            }
        }
        Ok(())
    }

    /// Queues a datagram from `from`; false if it does not fit the receive
    /// buffer (the socket then reports ENOBUFS once).
    fn deliver(&self, data: Vec<u8>, from: u32) -> bool {
        let mut st = self.st.lock();
        if st.released {
            return false;
        }
        let cost = data.len() + OVERHEAD;
        if st.queued + cost > st.rcvbuf && !st.queue.is_empty() {
            if !st.no_enobufs {
                st.error = Some(Errno::ENOBUFS);
            }
            drop(st);
            self.wq.wake(u32::from(POLLERR | POLLIN));
            return false;
        }
        st.queued += cost;
        st.queue.push_back(Datagram { data, from });
        drop(st);
        self.wq.wake(u32::from(POLLIN | POLLRDNORM));
        true
    }

    /// Queues a message from the kernel itself (port 0) that is no reply to a
    /// request: mq_notify's SIGEV_THREAD cookie. False if it did not fit.
    pub fn deliver_from_kernel(&self, data: Vec<u8>) -> bool {
        self.deliver(data, 0)
    }

    /// sendmsg with `data` to `to` (else the connected destination): the
    /// kernel (port 0) answers a request at once; another port gets the
    /// datagram (ECONNREFUSED if no socket has it). `pid` is the sender's
    /// process (for autobind), `admin` whether it has CAP_NET_ADMIN.
    pub fn send(
        &self,
        data: &[u8],
        to: Option<(u32, u32)>,
        pid: u32,
        admin: bool,
    ) -> KResult<usize> {
        let sndbuf = self.st.lock().sndbuf;
        if data.len() > sndbuf.saturating_sub(32) {
            return Err(Errno::EMSGSIZE);
        }
        let (dst, groups) = to.unwrap_or_else(|| self.st.lock().dst);
        // Sending to a multicast group or another process needs
        // CAP_NET_ADMIN for NETLINK_ROUTE (netlink_allowed).
        if (dst != 0 || groups != 0) && !admin {
            return Err(Errno::EPERM);
        }
        self.autobind(pid)?;
        let me = self.portid();
        if dst != 0 {
            let peer = PORTS
                .lock()
                .get(&(self.protocol, dst))
                .and_then(Weak::upgrade)
                .ok_or(Errno::ECONNREFUSED)?;
            peer.deliver(data.to_vec(), me);
            return Ok(data.len());
        }
        if groups != 0 {
            // Multicast between processes: nobody else listens here (partial).
            return Ok(data.len());
        }
        if self.protocol == super::NETLINK_ROUTE
            && let Some(shared) = &self.shared
        {
            // Once a reply does not fit the queue (ENOBUFS), the rest of
            // the batch is dropped unread: Linux would still carry it out,
            // but here a send's work and memory stay bounded by the queue.
            super::route::handle_each(shared, me, data, admin, &mut |reply| self.deliver(reply, 0));
        }
        Ok(data.len())
    }

    /// Receives the next datagram into `buf` (the rest of a longer one is
    /// discarded unless peeking). EAGAIN when there is none; a pending
    /// ENOBUFS comes first.
    pub fn recv(&self, buf: &mut [u8], peek: bool) -> KResult<Received> {
        let mut st = self.st.lock();
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        let d = if peek {
            st.queue.front().map(|d| (d.data.len(), d.from))
        } else {
            st.queue.pop_front().map(|d| {
                let n = d.data.len().min(buf.len());
                buf[..n].copy_from_slice(&d.data[..n]);
                (d.data.len(), d.from)
            })
        };
        let Some((full, from)) = d else {
            return Err(Errno::EAGAIN);
        };
        let n = full.min(buf.len());
        if peek {
            let front = st.queue.front().expect("just seen");
            buf[..n].copy_from_slice(&front.data[..n]);
        } else {
            st.queued = st.queued.saturating_sub(full + OVERHEAD);
        }
        Ok(Received {
            len: n,
            full_len: full,
            from,
        })
    }

    /// Like [`Self::recv`], into a buffer of at most `max` bytes made here
    /// (no bigger than the datagram: a large user buffer costs nothing).
    pub fn recv_vec(&self, max: usize, peek: bool) -> KResult<(Vec<u8>, Received)> {
        let mut st = self.st.lock();
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        let (data, full, from) = if peek {
            let d = st.queue.front().ok_or(Errno::EAGAIN)?;
            let n = d.data.len().min(max);
            (d.data[..n].to_vec(), d.data.len(), d.from)
        } else {
            let mut d = st.queue.pop_front().ok_or(Errno::EAGAIN)?;
            let full = d.data.len();
            st.queued = st.queued.saturating_sub(full + OVERHEAD);
            d.data.truncate(max);
            (d.data, full, d.from)
        };
        let len = data.len();
        Ok((
            data,
            Received {
                len,
                full_len: full,
                from,
            },
        ))
    }

    /// The length of the next datagram (FIONREAD/SIOCINQ report the bytes
    /// queued: Linux gives the whole queue for netlink).
    pub fn queued_bytes(&self) -> usize {
        self.st.lock().queue.iter().map(|d| d.data.len()).sum()
    }

    pub fn poll_mask(&self) -> u16 {
        let st = self.st.lock();
        let mut m = POLLOUT | POLLWRNORM;
        if !st.queue.is_empty() {
            m |= POLLIN | POLLRDNORM;
        }
        if st.error.is_some() {
            m |= POLLERR;
        }
        m
    }

    pub fn set_buf(&self, send: bool, val: usize) {
        let mut st = self.st.lock();
        let v = val.min(MAX_BUF / 2).saturating_mul(2);
        if send {
            st.sndbuf = v.max(MIN_SNDBUF);
        } else {
            st.rcvbuf = v.max(MIN_RCVBUF);
        }
    }

    pub fn buf(&self, send: bool) -> usize {
        let st = self.st.lock();
        if send { st.sndbuf } else { st.rcvbuf }
    }

    pub fn set_timeout(&self, send: bool, ns: Option<u64>) {
        self.st.lock().timeouts[usize::from(send)] = ns;
    }

    pub fn timeout(&self, send: bool) -> Option<u64> {
        self.st.lock().timeouts[usize::from(send)]
    }

    pub fn take_error(&self) -> Option<Errno> {
        self.st.lock().error.take()
    }

    /// A SOL_NETLINK option: (set) stores it; EOPNOTSUPP... see the kernel.
    pub fn set_flag(&self, name: i32, on: bool) -> KResult<()> {
        let mut st = self.st.lock();
        match name {
            super::NETLINK_EXT_ACK => st.ext_ack = on,
            super::NETLINK_GET_STRICT_CHK => st.strict = on,
            super::NETLINK_CAP_ACK => st.cap_ack = on,
            super::NETLINK_PKTINFO => st.pktinfo = on,
            super::NETLINK_NO_ENOBUFS => st.no_enobufs = on,
            super::NETLINK_BROADCAST_ERROR | super::NETLINK_LISTEN_ALL_NSID => {}
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }

    pub fn flag(&self, name: i32) -> KResult<bool> {
        let st = self.st.lock();
        Ok(match name {
            super::NETLINK_EXT_ACK => st.ext_ack,
            super::NETLINK_GET_STRICT_CHK => st.strict,
            super::NETLINK_CAP_ACK => st.cap_ack,
            super::NETLINK_PKTINFO => st.pktinfo,
            super::NETLINK_NO_ENOBUFS => st.no_enobufs,
            super::NETLINK_BROADCAST_ERROR | super::NETLINK_LISTEN_ALL_NSID => false,
            _ => return Err(Errno::ENOPROTOOPT),
        })
    }

    /// NETLINK_ADD_MEMBERSHIP/DROP_MEMBERSHIP: groups 1..=32 are the bits
    /// of the bind(2) mask (EINVAL for group 0; larger groups are accepted
    /// and never hear anything).
    pub fn membership(&self, group: u32, add: bool) -> KResult<()> {
        if group == 0 {
            return Err(Errno::EINVAL);
        }
        if group <= 32 {
            let bit = 1u32 << (group - 1);
            let mut st = self.st.lock();
            if add {
                st.groups |= bit;
            } else {
                st.groups &= !bit;
            }
        }
        Ok(())
    }

    /// The last file closed: the port id is free again and the queue goes.
    pub fn release(&self) {
        let mut st = self.st.lock();
        st.released = true;
        st.queue.clear();
        st.queued = 0;
        let key = (self.protocol, st.portid);
        drop(st);
        let mut ports = PORTS.lock();
        if ports
            .get(&key)
            .is_some_and(|w| core::ptr::eq(w.as_ptr(), self))
        {
            ports.remove(&key);
        }
    }
}

impl FileOps for NetlinkSocket {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        self.recv(buf, false).map(|r| r.len)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        // Sends go through the kernel's socket path (it knows the sender).
        Err(Errno::EOPNOTSUPP)
    }

    fn poll(&self) -> u16 {
        self.poll_mask()
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.wq)
    }

    fn ioctl(
        &self,
        _: &OpenFile,
        cmd: u32,
        arg: u64,
        mem: &dyn kestrel_vfs::UserSpace,
    ) -> KResult<u64> {
        if crate::inet::ifreq::is_ifreq(cmd)
            && let Some(shared) = &self.shared
        {
            return crate::inet::ifreq::ioctl(shared, cmd, arg, mem);
        }
        match cmd {
            kestrel_abi::net::SIOCINQ => {
                let n = self.queued_bytes().min(i32::MAX as usize) as i32;
                kestrel_vfs::UserPtr::<i32>::new(arg).write(mem, &n)?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for NetlinkSocket {
    fn drop(&mut self) {
        self.release();
    }
}
