//! rtnetlink against a stack with lo and eth0: requests in, replies out,
//! and the changes reaching smoltcp's side (the actor's next round).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::Errno;
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address};

use super::msg::*;
use super::route::*;
use super::*;
use crate::inet::stack::{IfaceConfig, Stack};
use crate::inet::{Link, Shared};

fn net() -> (Stack, Arc<Shared>) {
    let lo = IfaceConfig {
        name: "lo".into(),
        mac: None,
        mtu: 65535,
        addrs: vec![
            IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8),
            IpCidr::new(IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 1), 128),
        ],
        gateway4: None,
        gateway6: None,
        link: Arc::new(Link::default()),
    };
    let eth = IfaceConfig {
        name: "eth0".into(),
        mac: Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
        mtu: 1500,
        addrs: vec![IpCidr::new(IpAddress::v4(10, 0, 2, 15), 24)],
        gateway4: Some(Ipv4Address::new(10, 0, 2, 2)),
        gateway6: None,
        link: Arc::new(Link::default()),
    };
    Stack::new(vec![lo, eth], 1, 1_000_000)
}

fn request(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    Builder::new(ty, flags | NLM_F_REQUEST, seq, 0)
        .put(body)
        .finish()
}

/// Every message of the datagrams, in order.
fn messages(dgrams: &[Vec<u8>]) -> Vec<(Header, Vec<u8>)> {
    dgrams
        .iter()
        .flat_map(|d| {
            Messages::new(d)
                .map(|(h, p)| (h, p.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn errno_of(payload: &[u8]) -> i32 {
    -i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]])
}

fn ifaddrmsg(family: u8, prefix: u8, index: u32) -> Vec<u8> {
    let mut b = vec![family, prefix, 0, 0];
    b.extend_from_slice(&index.to_ne_bytes());
    b
}

fn with_attr(mut body: Vec<u8>, ty: u16, payload: &[u8]) -> Vec<u8> {
    body.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    body.extend_from_slice(&ty.to_ne_bytes());
    body.extend_from_slice(payload);
    body.resize(align(body.len()), 0);
    body
}

#[test]
fn link_dump_has_lo_first_with_index_1_then_done() {
    let (_, shared) = net();
    let out = handle(
        &shared,
        77,
        &request(RTM_GETLINK, NLM_F_DUMP, 5, &[0]),
        true,
    );
    let msgs = messages(&out);
    assert_eq!(msgs.len(), 3);
    let (h, p) = &msgs[0];
    assert_eq!(h.ty, RTM_NEWLINK);
    assert_eq!((h.seq, h.pid), (5, 77));
    assert_ne!(h.flags & NLM_F_MULTI, 0);
    assert_eq!(i32::from_ne_bytes(p[4..8].try_into().unwrap()), 1);
    let flags = u32::from_ne_bytes(p[8..12].try_into().unwrap());
    assert_eq!(flags, IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP);
    assert_eq!(attr(&p[IFINFOMSG_LEN..], IFLA_IFNAME), Some(&b"lo\0"[..]));
    let eth = &msgs[1].1;
    assert_eq!(
        attr(&eth[IFINFOMSG_LEN..], IFLA_ADDRESS),
        Some(&[0x52, 0x54, 0, 0x12, 0x34, 0x56][..])
    );
    assert_eq!(msgs[2].0.ty, NLMSG_DONE);
}

#[test]
fn addr_dump_filters_by_family() {
    let (_, shared) = net();
    let v4 = messages(&handle(
        &shared,
        1,
        &request(RTM_GETADDR, NLM_F_DUMP, 1, &ifaddrmsg(AF_INET, 0, 0)),
        true,
    ));
    let addrs: Vec<_> = v4
        .iter()
        .filter(|(h, _)| h.ty == RTM_NEWADDR)
        .map(|(_, p)| (p[1], attr(&p[8..], IFA_LOCAL).unwrap().to_vec()))
        .collect();
    assert_eq!(
        addrs,
        vec![(8, vec![127, 0, 0, 1]), (24, vec![10, 0, 2, 15])]
    );
    let all = messages(&handle(
        &shared,
        1,
        &request(RTM_GETADDR, NLM_F_DUMP, 1, &[AF_UNSPEC]),
        true,
    ));
    assert_eq!(all.len(), 4);
}

#[test]
fn ack_is_error_0_with_the_request_header_only() {
    let (_, shared) = net();
    // A control message with NLM_F_ACK: acknowledged, nothing done.
    let req = request(NLMSG_NOOP, NLM_F_ACK, 9, &[1, 2, 3, 4]);
    let out = handle(&shared, 3, &req, true);
    let msgs = messages(&out);
    assert_eq!(msgs.len(), 1);
    let (h, p) = &msgs[0];
    assert_eq!(
        (h.ty, h.seq, h.pid, h.flags),
        (NLMSG_ERROR, 9, 3, NLM_F_CAPPED)
    );
    assert_eq!(errno_of(p), 0);
    assert_eq!(p.len(), 4 + NLMSG_HDRLEN);
    assert_eq!(Header::parse(&p[4..]).unwrap().len, 20);
}

#[test]
fn error_carries_the_whole_request() {
    let (_, shared) = net();
    let req = request(RTM_GETLINK, 0, 2, &[0u8; 4]);
    let msgs = messages(&handle(&shared, 3, &req, true));
    assert_eq!(msgs.len(), 1);
    assert_eq!(errno_of(&msgs[0].1), Errno::EINVAL as i32);
    assert_eq!(&msgs[0].1[4..], &req[..]);
}

#[test]
fn bad_lengths_are_dropped_silently() {
    let (_, shared) = net();
    let mut req = request(RTM_GETLINK, NLM_F_DUMP | NLM_F_ACK, 1, &[0]);
    req[..4].copy_from_slice(&1000u32.to_ne_bytes());
    assert!(handle(&shared, 1, &req, true).is_empty());
    req[..4].copy_from_slice(&8u32.to_ne_bytes());
    assert!(handle(&shared, 1, &req, true).is_empty());
    assert!(handle(&shared, 1, &[1, 2, 3], true).is_empty());
}

#[test]
fn unknown_type_is_eopnotsupp_and_changes_need_admin() {
    let (_, shared) = net();
    let msgs = messages(&handle(&shared, 1, &request(200, 0, 1, &[0; 16]), true));
    assert_eq!(errno_of(&msgs[0].1), Errno::EOPNOTSUPP as i32);
    let body = with_attr(ifaddrmsg(AF_INET, 24, 2), IFA_LOCAL, &[10, 0, 2, 16]);
    let msgs = messages(&handle(
        &shared,
        1,
        &request(RTM_NEWADDR, NLM_F_ACK, 1, &body),
        false,
    ));
    assert_eq!(errno_of(&msgs[0].1), Errno::EPERM as i32);
}

#[test]
fn addr_add_reaches_smoltcp_and_twice_is_eexist() {
    let (mut stack, shared) = net();
    let body = with_attr(ifaddrmsg(AF_INET, 24, 2), IFA_LOCAL, &[10, 0, 2, 16]);
    let add = request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 1, &body);
    let msgs = messages(&handle(&shared, 1, &add, true));
    assert_eq!(errno_of(&msgs[0].1), 0);
    assert!(shared.is_local(IpAddress::v4(10, 0, 2, 16)));
    stack.poll(2_000_000);
    assert!(stack.has_addr(1, IpAddress::v4(10, 0, 2, 16)));
    let msgs = messages(&handle(&shared, 1, &add, true));
    assert_eq!(errno_of(&msgs[0].1), Errno::EEXIST as i32);
    // Deleted again; a second delete finds nothing.
    let del = request(RTM_DELADDR, NLM_F_ACK, 2, &body);
    assert_eq!(errno_of(&messages(&handle(&shared, 1, &del, true))[0].1), 0);
    stack.poll(3_000_000);
    assert!(!stack.has_addr(1, IpAddress::v4(10, 0, 2, 16)));
    assert_eq!(
        errno_of(&messages(&handle(&shared, 1, &del, true))[0].1),
        Errno::EADDRNOTAVAIL as i32
    );
    // No such interface.
    let body = with_attr(ifaddrmsg(AF_INET, 24, 9), IFA_LOCAL, &[10, 0, 2, 16]);
    let msgs = messages(&handle(
        &shared,
        1,
        &request(RTM_NEWADDR, NLM_F_ACK, 1, &body),
        true,
    ));
    assert_eq!(errno_of(&msgs[0].1), Errno::ENODEV as i32);
}

fn rtmsg(family: u8, dst_len: u8) -> Vec<u8> {
    let mut b = vec![
        family,
        dst_len,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        0,
        RTN_UNICAST,
    ];
    b.extend_from_slice(&0u32.to_ne_bytes());
    b
}

#[test]
fn routes_add_show_and_delete() {
    let (mut stack, shared) = net();
    let dump = |shared: &Shared| -> Vec<RouteEntry> {
        routes(&shared.interfaces())
            .into_iter()
            .filter(|r| r.table == RT_TABLE_MAIN)
            .collect()
    };
    let main = dump(&shared);
    // ::1, 10.0.2.0/24, the default.
    assert_eq!(main.len(), 3);
    assert!(main.iter().any(|r| r.dst.prefix_len() == 0
        && r.gateway == Some(IpAddress::v4(10, 0, 2, 2))
        && r.oif == 2));
    // A default route exists: adding one is EEXIST.
    let body = with_attr(rtmsg(AF_INET, 0), RTA_GATEWAY, &[10, 0, 2, 2]);
    let add = request(
        RTM_NEWROUTE,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        1,
        &body,
    );
    assert_eq!(
        errno_of(&messages(&handle(&shared, 1, &add, true))[0].1),
        Errno::EEXIST as i32
    );
    // A route to a network through the gateway.
    let body = with_attr(
        with_attr(rtmsg(AF_INET, 24), RTA_DST, &[192, 168, 7, 0]),
        RTA_GATEWAY,
        &[10, 0, 2, 2],
    );
    let add = request(
        RTM_NEWROUTE,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        2,
        &body,
    );
    assert_eq!(errno_of(&messages(&handle(&shared, 1, &add, true))[0].1), 0);
    assert_eq!(dump(&shared).len(), 4);
    stack.poll(2_000_000);
    assert_eq!(stack.route_count(1), 2);
    assert_eq!(
        shared
            .route(IpAddress::v4(192, 168, 7, 9), None)
            .map(|r| r.0),
        Some(1)
    );
    // A gateway on no subnet of ours.
    let body = with_attr(
        with_attr(rtmsg(AF_INET, 24), RTA_DST, &[192, 168, 8, 0]),
        RTA_GATEWAY,
        &[172, 16, 0, 1],
    );
    let bad = request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE, 3, &body);
    assert_eq!(
        errno_of(&messages(&handle(&shared, 1, &bad, true))[0].1),
        Errno::ENETUNREACH as i32
    );
    // Delete the default route; deleting it again is ESRCH.
    let del = request(RTM_DELROUTE, NLM_F_ACK, 4, &rtmsg(AF_INET, 0));
    assert_eq!(errno_of(&messages(&handle(&shared, 1, &del, true))[0].1), 0);
    assert_eq!(
        errno_of(&messages(&handle(&shared, 1, &del, true))[0].1),
        Errno::ESRCH as i32
    );
    assert_eq!(shared.route(IpAddress::v4(8, 8, 8, 8), None), None);
}

#[test]
fn link_down_and_up() {
    let (mut stack, shared) = net();
    let mut body = vec![0u8; IFINFOMSG_LEN];
    body[4..8].copy_from_slice(&2i32.to_ne_bytes());
    body[12..16].copy_from_slice(&IFF_UP.to_ne_bytes());
    let down = request(RTM_NEWLINK, NLM_F_ACK, 1, &body);
    assert_eq!(
        errno_of(&messages(&handle(&shared, 1, &down, true))[0].1),
        0
    );
    let f = &shared.interfaces()[1];
    assert_eq!(link_flags(f), IFF_BROADCAST | IFF_MULTICAST);
    assert_eq!(operstate_name(f), "down");
    stack.poll(2_000_000);
    assert!(!stack.is_up(1));
    assert_eq!(shared.route(IpAddress::v4(8, 8, 8, 8), None), None);
    body[8..12].copy_from_slice(&IFF_UP.to_ne_bytes());
    let up = request(RTM_SETLINK, NLM_F_ACK, 2, &body);
    assert_eq!(errno_of(&messages(&handle(&shared, 1, &up, true))[0].1), 0);
    stack.poll(3_000_000);
    assert!(stack.is_up(1));
    // Deleting or creating links is not supported.
    let mut del = vec![0u8; IFINFOMSG_LEN];
    del[4..8].copy_from_slice(&1i32.to_ne_bytes());
    let msgs = messages(&handle(&shared, 1, &request(RTM_DELLINK, 0, 3, &del), true));
    assert_eq!(errno_of(&msgs[0].1), Errno::EOPNOTSUPP as i32);
}

#[test]
fn get_one_link_by_name_and_missing_is_enodev() {
    let (_, shared) = net();
    let body = with_attr(vec![0u8; IFINFOMSG_LEN], IFLA_IFNAME, b"eth0\0");
    let msgs = messages(&handle(
        &shared,
        1,
        &request(RTM_GETLINK, NLM_F_ACK, 1, &body),
        false,
    ));
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].0.ty, RTM_NEWLINK);
    assert_eq!(errno_of(&msgs[1].1), 0);
    let body = with_attr(vec![0u8; IFINFOMSG_LEN], IFLA_IFNAME, b"nope\0");
    let msgs = messages(&handle(
        &shared,
        1,
        &request(RTM_GETLINK, 0, 1, &body),
        false,
    ));
    assert_eq!(errno_of(&msgs[0].1), Errno::ENODEV as i32);
}

#[test]
fn malformed_attributes_never_panic() {
    let (_, shared) = net();
    for ty in [
        RTM_NEWLINK,
        RTM_SETLINK,
        RTM_GETLINK,
        RTM_NEWADDR,
        RTM_DELADDR,
        RTM_NEWROUTE,
        RTM_DELROUTE,
        RTM_GETROUTE,
    ] {
        for len in 0..40 {
            let mut body: Vec<u8> = (0..len).map(|i| (i * 37 + 3) as u8).collect();
            if len > 1 {
                body[0] = AF_INET;
            }
            let _ = handle(&shared, 1, &request(ty, NLM_F_ACK, 1, &body), true);
            let _ = handle(&shared, 1, &request(ty, NLM_F_DUMP, 1, &body), true);
        }
    }
}

#[test]
fn socket_autobinds_to_pid_then_negative_and_truncates() {
    let (_, shared) = net();
    let a = NetlinkSocket::new(NETLINK_ROUTE, 3, Some(shared.clone()));
    let b = NetlinkSocket::new(NETLINK_ROUTE, 3, Some(shared.clone()));
    a.bind(4242, 0, 0).unwrap();
    assert_eq!(a.portid(), 4242);
    b.autobind(4242).unwrap();
    assert!((b.portid() as i32) < 0);
    assert_eq!(b.bind(4242, 4242, 0), Err(Errno::EINVAL));
    let c = NetlinkSocket::new(NETLINK_ROUTE, 3, Some(shared.clone()));
    assert_eq!(c.bind(1, 4242, 0), Err(Errno::EADDRINUSE));
    let req = request(RTM_GETLINK, NLM_F_DUMP, 1, &[0]);
    assert_eq!(a.send(&req, None, 4242, true), Ok(req.len()));
    assert_ne!(a.poll_mask() & POLLIN_BIT, 0);
    let (peeked, r0) = a.recv_vec(usize::MAX, true).unwrap();
    assert_eq!((peeked.len(), r0.full_len), (r0.len, r0.len));
    let mut small = [0u8; 16];
    let r = a.recv(&mut small, true).unwrap();
    assert_eq!(&small[..], &peeked[..16]);
    assert_eq!(r.len, 16);
    assert!(r.full_len > 16);
    let r2 = a.recv(&mut small, false).unwrap();
    assert_eq!(r2.full_len, r.full_len);
    // The whole dump (two links and the DONE) was one datagram, now gone.
    let mut big = [0u8; 8192];
    assert_eq!(a.recv(&mut big, false).err(), Some(Errno::EAGAIN));
    drop(a);
    c.bind(1, 4242, 0).unwrap();
}

const POLLIN_BIT: u16 = kestrel_abi::fs::POLLIN;

#[test]
fn proc_net_route_lists_main_ipv4() {
    let (_, shared) = net();
    let s = proc_net_route(&shared.interfaces());
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.len() == 127));
    assert!(lines[1].starts_with("eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF"));
    assert!(lines[2].starts_with("eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000"));
    assert_eq!(
        proc_net_if_inet6(&shared.interfaces()),
        "00000000000000000000000000000001 01 80 10 80       lo\n"
    );
}

#[test]
fn a_flood_of_dump_requests_fills_the_queue_then_enobufs() {
    let (_, shared) = net();
    let s = NetlinkSocket::new(NETLINK_ROUTE, 3, Some(shared));
    let one = request(RTM_GETLINK, NLM_F_DUMP, 1, &[0; 4]);
    let mut batch = Vec::new();
    while batch.len() + one.len() <= socket::DEFAULT_BUF - 32 {
        batch.extend_from_slice(&one);
    }
    assert_eq!(s.send(&batch, None, 9, true), Ok(batch.len()));
    // Bounded by the receive buffer, and the overrun reported once.
    assert!(s.queued_bytes() <= socket::DEFAULT_BUF);
    let mut buf = vec![0u8; 8192];
    assert_eq!(s.recv(&mut buf, false).err(), Some(Errno::ENOBUFS));
    assert!(s.recv(&mut buf, false).is_ok());
    // Too big for the send buffer at all.
    batch.extend_from_slice(&one);
    batch.extend_from_slice(&one);
    assert_eq!(s.send(&batch, None, 9, true), Err(Errno::EMSGSIZE));
}

#[test]
fn set_mtu_checks_the_link_range() {
    let (_, shared) = net();
    // Ethernet: 68 up to its boot MTU; lo: any size.
    assert_eq!(shared.set_mtu(2, 67), Err(Errno::EINVAL));
    assert_eq!(shared.set_mtu(2, 1501), Err(Errno::EINVAL));
    assert_eq!(shared.set_mtu(2, 1400), Ok(()));
    assert_eq!(shared.set_mtu(1, -1), Err(Errno::EINVAL));
    assert_eq!(shared.set_mtu(1, 1500), Ok(()));
    assert_eq!(shared.set_mtu(9, 1500), Err(Errno::ENODEV));
    let ifs = shared.interfaces();
    assert_eq!((ifs[0].mtu, ifs[1].mtu), (1500, 1400));
}
