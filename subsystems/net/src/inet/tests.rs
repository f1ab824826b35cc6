//! The stack on loopback, driven by hand: the system calls' side of a socket
//! ([`InetSocket`]) against the actor ([`Stack`]) with a fake clock.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::Errno;
use smoltcp::wire::{IpAddress, IpCidr};

use super::stack::{IfaceConfig, Stack};
use super::*;

struct Net {
    stack: Stack,
    shared: Arc<Shared>,
    now: u64,
}

const LO: IpAddress = IpAddress::v4(127, 0, 0, 1);

impl Net {
    fn new() -> Net {
        let lo = IfaceConfig {
            name: "lo".into(),
            mac: None,
            mtu: 65535,
            addrs: vec![
                IpCidr::new(LO, 8),
                IpCidr::new(IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 1), 128),
            ],
            gateway4: None,
            gateway6: None,
            link: Arc::new(Link::default()),
        };
        let (stack, shared) = Stack::new(vec![lo], 42, 1_000_000_000);
        Net {
            stack,
            shared,
            now: 1_000_000_000,
        }
    }

    /// Runs the actor until it is idle (time stands still).
    fn run(&mut self) {
        for _ in 0..10_000 {
            let more = self.stack.poll(self.now);
            let due = self.stack.poll_at(self.now).is_some_and(|t| t <= self.now);
            if !more && !due && !self.shared.notify.take() {
                return;
            }
        }
        panic!("the stack never went idle");
    }

    /// Lets `ms` of time pass, running whatever falls due.
    fn wait(&mut self, ms: u64) {
        let end = self.now + ms * 1_000_000;
        loop {
            self.run();
            match self.stack.poll_at(self.now) {
                Some(t) if t <= end => self.now = t.max(self.now + 1000),
                _ => break,
            }
        }
        self.now = end;
        self.run();
    }

    fn tcp(&self) -> Arc<InetSocket> {
        InetSocket::new(&self.shared, Family::V4, Kind::Stream)
    }

    fn udp(&self) -> Arc<InetSocket> {
        InetSocket::new(&self.shared, Family::V4, Kind::Dgram)
    }

    /// A listener on 127.0.0.1 with an ephemeral port: (socket, port).
    fn listener(&mut self, backlog: usize) -> (Arc<InetSocket>, u16) {
        let l = self.tcp();
        l.bind(SockAddr::Inet(LO, 0)).unwrap();
        l.listen(backlog).unwrap();
        self.run();
        let port = port_of(&l);
        (l, port)
    }

    /// A connected pair: (client, server side).
    fn pair(&mut self) -> (Arc<InetSocket>, Arc<InetSocket>, Arc<InetSocket>) {
        let (l, port) = self.listener(8);
        let c = self.tcp();
        assert_eq!(c.connect(SockAddr::Inet(LO, port)), Err(Errno::EINPROGRESS));
        self.run();
        assert_eq!(c.connect_result(), Some(Ok(())));
        let s = l.accept().unwrap();
        (c, s, l)
    }
}

fn port_of(s: &InetSocket) -> u16 {
    let raw = s.local_name();
    u16::from_be_bytes([raw[2], raw[3]])
}

fn read_all(s: &Arc<InetSocket>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.recv_stream(&mut buf, false) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn a_connection_carries_bytes_both_ways_and_ends_with_eof() {
    let mut net = Net::new();
    let (c, s, _l) = net.pair();
    assert_eq!(c.send_stream(b"hello").unwrap(), 5);
    net.run();
    let mut buf = [0u8; 16];
    assert_eq!(s.recv_stream(&mut buf, true).unwrap(), 5);
    assert_eq!(s.recv_stream(&mut buf, false).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(s.recv_stream(&mut buf, false), Err(Errno::EAGAIN));
    s.send_stream(b"world").unwrap();
    c.shutdown(kestrel_abi::net::SHUT_WR).unwrap();
    net.run();
    assert_eq!(
        s.recv_stream(&mut buf, false).unwrap(),
        0,
        "EOF after SHUT_WR"
    );
    assert_eq!(read_all(&c), b"world");
    // The writer's side may no longer send.
    assert_eq!(c.send_stream(b"x"), Err(Errno::EPIPE));
}

#[test]
fn a_closed_port_refuses() {
    let mut net = Net::new();
    let c = net.tcp();
    assert_eq!(c.connect(SockAddr::Inet(LO, 9)), Err(Errno::EINPROGRESS));
    assert_eq!(c.connect_result(), None);
    net.run();
    assert_eq!(c.connect_result(), Some(Err(Errno::ECONNREFUSED)));
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    let mut net = Net::new();
    let (c, s, _l) = net.pair();
    c.send_stream(b"unread").unwrap();
    net.run();
    s.release();
    net.run();
    let mut buf = [0u8; 8];
    assert_eq!(c.recv_stream(&mut buf, false), Err(Errno::ECONNRESET));
    assert_eq!(c.recv_stream(&mut buf, false), Ok(0));
    assert_eq!(c.send_stream(b"x"), Err(Errno::EPIPE));
}

#[test]
fn close_delivers_what_was_queued_then_eof() {
    let mut net = Net::new();
    let (c, s, _l) = net.pair();
    let data: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut rounds = 0;
    while sent < data.len() {
        rounds += 1;
        assert!(rounds < 1000, "stuck at {sent} sent, {} got", got.len());
        sent += c.send_stream(&data[sent..]).unwrap_or(0);
        net.wait(1);
        got.extend(read_all_nonblocking(&s));
    }
    c.release();
    net.run();
    got.extend(read_all(&s));
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    net.wait(11_000);
    // Everything is gone once TIME-WAIT is over (the listener and the
    // accepted socket, still open here, remain).
    s.release();
    net.wait(11_000);
    assert_eq!(net.stack.socket_count(), 1);
}

#[test]
fn buffers_start_small_and_grow_for_bulk_data_which_arrives_intact() {
    use super::stack::{TCP_BUF_INITIAL, TCP_RX_BUF, TCP_TX_BUF};
    let mut net = Net::new();
    let (c, s, _l) = net.pair();
    let small = Some((TCP_BUF_INITIAL, TCP_BUF_INITIAL));
    assert_eq!(net.stack.tcp_buffers(c.id()), small);
    assert_eq!(net.stack.tcp_buffers(s.id()), small);
    // Small messages back and forth leave them small.
    for i in 0..50u8 {
        c.send_stream(&[i; 64]).unwrap();
        net.run();
        let got = read_all_nonblocking(&s);
        assert_eq!(got, [i; 64]);
        s.send_stream(&got).unwrap();
        net.run();
        assert_eq!(read_all_nonblocking(&c), [i; 64]);
    }
    assert_eq!(net.stack.tcp_buffers(c.id()), small);
    assert_eq!(net.stack.tcp_buffers(s.id()), small);
    // A bulk write grows the sender's send buffer and the receiver's receive
    // buffer; every byte arrives, in order.
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i * 7 + (i >> 9)) as u8)
        .collect();
    let (mut sent, mut got, mut rounds) = (0, Vec::new(), 0);
    while got.len() < data.len() {
        rounds += 1;
        assert!(rounds < 10_000, "stuck at {sent} sent, {} got", got.len());
        if sent < data.len() {
            sent += c.send_stream(&data[sent..]).unwrap_or(0);
        }
        net.wait(1);
        got.extend(read_all_nonblocking(&s));
    }
    assert!(got == data);
    assert_eq!(net.stack.tcp_buffers(c.id()).unwrap().1, TCP_TX_BUF);
    assert_eq!(net.stack.tcp_buffers(s.id()).unwrap().0, TCP_RX_BUF);
    // The other direction, unused for bulk data, stayed small.
    assert_eq!(net.stack.tcp_buffers(c.id()).unwrap().0, TCP_BUF_INITIAL);
    assert_eq!(net.stack.tcp_buffers(s.id()).unwrap().1, TCP_BUF_INITIAL);
}

fn read_all_nonblocking(s: &Arc<InetSocket>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = s.recv_stream(&mut buf, false) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn a_full_backlog_drops_syns_until_accept_makes_room() {
    let mut net = Net::new();
    let (l, port) = net.listener(0);
    let a = net.tcp();
    let b = net.tcp();
    let _ = a.connect(SockAddr::Inet(LO, port));
    net.run();
    let _ = b.connect(SockAddr::Inet(LO, port));
    net.run();
    assert_eq!(a.connect_result(), Some(Ok(())));
    assert_eq!(b.connect_result(), None, "the second SYN waits");
    assert!(net.stack.stats.syn_dropped >= 1);
    let _first = l.accept().unwrap();
    net.wait(3_000);
    assert_eq!(b.connect_result(), Some(Ok(())));
    assert!(l.accept().is_ok());
}

#[test]
fn a_hundred_clients_are_echoed() {
    let mut net = Net::new();
    let (l, port) = net.listener(128);
    let clients: Vec<_> = (0..100).map(|_| net.tcp()).collect();
    for c in &clients {
        assert_eq!(c.connect(SockAddr::Inet(LO, port)), Err(Errno::EINPROGRESS));
    }
    net.run();
    let mut servers = Vec::new();
    while let Ok(s) = l.accept() {
        servers.push(s);
    }
    assert_eq!(servers.len(), 100);
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(c.connect_result(), Some(Ok(())));
        c.send_stream(alloc::format!("client {i}").as_bytes())
            .unwrap();
    }
    net.run();
    for s in &servers {
        let got = read_all_nonblocking(s);
        s.send_stream(&got).unwrap();
    }
    net.run();
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(
            read_all_nonblocking(c),
            alloc::format!("client {i}").as_bytes()
        );
    }
}

#[test]
fn udp_datagrams_keep_boundaries_and_name_their_sender() {
    let mut net = Net::new();
    let a = net.udp();
    let b = net.udp();
    a.bind(SockAddr::Inet(LO, 0)).unwrap();
    b.bind(SockAddr::Inet(LO, 0)).unwrap();
    net.run();
    let to = SockAddr::Inet(LO, port_of(&b));
    assert_eq!(a.send_dgram(b"one", Some(to)).unwrap(), 3);
    assert_eq!(a.send_dgram(b"two!", Some(to)).unwrap(), 4);
    net.run();
    let mut buf = [0u8; 2];
    let (n, full, from) = b.recv_dgram(&mut buf, false).unwrap();
    assert_eq!((n, full), (2, 3), "truncated, full length reported");
    assert_eq!(from, smoltcp::wire::IpEndpoint::new(LO, port_of(&a)));
    let mut buf = [0u8; 8];
    assert_eq!(b.recv_dgram(&mut buf, false).unwrap().0, 4);
    assert_eq!(b.recv_dgram(&mut buf, false).unwrap_err(), Errno::EAGAIN);
}

#[test]
fn ports_are_freed_when_sockets_go() {
    let mut net = Net::new();
    let (c, s, l) = net.pair();
    for x in [c, s, l] {
        x.release();
    }
    net.wait(25_000);
    assert_eq!(net.stack.socket_count(), 0);
    assert_eq!(net.stack.smoltcp_socket_count(), 0);
    assert!(net.shared.ports.is_empty());
}

#[test]
fn ipv6_loopback_connects() {
    let mut net = Net::new();
    let one = IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 1);
    let l = InetSocket::new(&net.shared, Family::V6, Kind::Stream);
    l.bind(SockAddr::Inet(IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 0), 0))
        .unwrap();
    l.listen(4).unwrap();
    net.run();
    let port = {
        let raw = l.local_name();
        u16::from_be_bytes([raw[2], raw[3]])
    };
    let c6 = InetSocket::new(&net.shared, Family::V6, Kind::Stream);
    let _ = c6.connect(SockAddr::Inet(one, port));
    // A dual-stack listener takes IPv4 too.
    let c4 = net.tcp();
    let _ = c4.connect(SockAddr::Inet(LO, port));
    net.run();
    assert_eq!(c6.connect_result(), Some(Ok(())));
    assert_eq!(c4.connect_result(), Some(Ok(())));
    assert!(l.accept().is_ok() && l.accept().is_ok());
}

#[test]
fn a_datagram_sent_just_before_close_is_delivered() {
    let mut net = Net::new();
    let b = net.udp();
    b.bind(SockAddr::Inet(LO, 0)).unwrap();
    net.run();
    let a = net.udp();
    let to = SockAddr::Inet(LO, port_of(&b));
    assert_eq!(a.send_dgram(b"last", Some(to)).unwrap(), 4);
    // Closed before the actor ran (a program that sends and exits).
    a.release();
    drop(a);
    net.run();
    let mut buf = [0u8; 8];
    assert_eq!(b.recv_dgram(&mut buf, false).unwrap().0, 4);
}

#[test]
fn a_connected_udp_socket_hears_port_unreachable_as_econnrefused() {
    let mut net = Net::new();
    let a = net.udp();
    // A port nobody has: bind one and let it go.
    let gone = net.udp();
    gone.bind(SockAddr::Inet(LO, 0)).unwrap();
    let port = port_of(&gone);
    gone.release();
    drop(gone);
    net.run();
    a.connect(SockAddr::Inet(LO, port)).unwrap();
    assert_eq!(a.send_dgram(b"anyone?", None).unwrap(), 7);
    net.run();
    let mut buf = [0u8; 8];
    assert_eq!(
        a.recv_dgram(&mut buf, false).unwrap_err(),
        Errno::ECONNREFUSED
    );
    assert_eq!(a.recv_dgram(&mut buf, false).unwrap_err(), Errno::EAGAIN);
}

#[test]
fn msg_more_joins_udp_sends_into_one_datagram() {
    let mut net = Net::new();
    let (a, b) = (net.udp(), net.udp());
    b.bind(SockAddr::Inet(LO, 0)).unwrap();
    net.run();
    let to = SockAddr::Inet(LO, port_of(&b));
    assert_eq!(a.send_dgram_more(b"one ", Some(to), true).unwrap(), 4);
    net.run();
    let mut buf = [0u8; 16];
    assert_eq!(b.recv_dgram(&mut buf, false).unwrap_err(), Errno::EAGAIN);
    assert_eq!(a.send_dgram_more(b"two", None, false).unwrap(), 3);
    net.run();
    let (n, _, _) = b.recv_dgram(&mut buf, false).unwrap();
    assert_eq!(&buf[..n], b"one two");
}

#[test]
fn msg_more_holds_stream_bytes_until_the_next_send() {
    let mut net = Net::new();
    let (c, s, _l) = net.pair();
    assert_eq!(c.send_stream_more(b"abc", true).unwrap(), 3);
    net.run();
    // Something else brings the socket to the stack: the bytes still wait.
    c.options_changed();
    net.run();
    let mut buf = [0u8; 8];
    assert_eq!(s.recv_stream(&mut buf, false).unwrap_err(), Errno::EAGAIN);
    assert_eq!(c.send_stream(b"d").unwrap(), 1);
    net.run();
    assert_eq!(s.recv_stream(&mut buf, false).unwrap(), 4);
}

#[test]
fn a_closed_listener_frees_its_port_before_the_stack_runs() {
    let mut net = Net::new();
    let (l, port) = net.listener(4);
    l.release();
    // No net.run(): close(2) has returned and the port is free already.
    let again = net.tcp();
    again.bind(SockAddr::Inet(LO, port)).unwrap();
    again.listen(4).unwrap();
    net.run();
    let c = net.tcp();
    assert_eq!(c.connect(SockAddr::Inet(LO, port)), Err(Errno::EINPROGRESS));
    net.run();
    assert_eq!(c.connect_result(), Some(Ok(())));
    assert!(again.accept().is_ok());
}

#[test]
fn states_follow_the_close_handshake() {
    let mut net = Net::new();
    let (c, s, _l) = net.pair();
    assert_eq!((c.tcp_state(), s.tcp_state()), (1, 1));
    c.shutdown(kestrel_abi::net::SHUT_WR).unwrap();
    net.run();
    // FIN_WAIT2 and CLOSE_WAIT.
    assert_eq!((c.tcp_state(), s.tcp_state()), (5, 8));
    s.release();
    net.run();
    // The side that closed first waits in TIME_WAIT; its socket is CLOSE.
    assert_eq!((c.tcp_state(), c.tcpi_state()), (6, 7));
}

/// A raw ICMP socket sees its echo request to 127.0.0.1 come back in, and
/// smoltcp's reply, each with its IP header; a ping socket gets the reply.
#[test]
fn raw_icmp_echo_on_lo() {
    use crate::raw::{RawKind, RawSocket};
    let mut net = Net::new();
    let s = RawSocket::new(false, RawKind::Raw, 1, Some(net.shared.clone()));
    let mut m = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'h', b'i'];
    let c = crate::raw::checksum(0, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(s.send(&m, Some(LO), None), Ok(m.len()));
    net.run();
    let a = s.recv(2048, false).expect("the request");
    assert_eq!(a.data.len(), 30);
    assert_eq!(a.data[20], 8);
    let b = s.recv(2048, false).expect("the reply");
    assert_eq!(b.data[20], 0);
    assert_eq!(crate::raw::checksum(0, &b.data[..20]), 0);
    assert_eq!(crate::raw::checksum(0, &b.data[20..]), 0);
    *net.shared.ping_group_range.lock() = (0, 0);
    let p = RawSocket::new(false, RawKind::Ping, 1, Some(net.shared.clone()));
    assert_eq!(p.send(&m, Some(LO), None), Ok(m.len()));
    net.run();
    let r = p.recv(2048, false).expect("the ping reply");
    assert_eq!(r.data.len(), m.len());
    assert_eq!(r.data[0], 0);
    let v6 = RawSocket::new(true, RawKind::Raw, 58, Some(net.shared.clone()));
    let m6 = [128u8, 0, 0, 0, 0x12, 0x34, 0, 1];
    let lo6 = IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 1);
    assert_eq!(v6.send(&m6, Some(lo6), None), Ok(8));
    net.run();
    assert_eq!(v6.recv(2048, false).expect("request").data[0], 128);
    assert_eq!(v6.recv(2048, false).expect("reply").data[0], 129);
}
