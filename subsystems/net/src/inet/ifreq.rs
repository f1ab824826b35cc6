//! The interface ioctls on an internet socket (netdevice(7)): SIOCGIFCONF,
//! SIOCGIFNAME, SIOCGIFINDEX, SIOCGIFFLAGS/SIOCSIFFLAGS, SIOCGIFADDR,
//! SIOCGIFNETMASK, SIOCGIFBRDADDR, SIOCGIFMTU/SIOCSIFMTU and SIOCGIFHWADDR.
//! Not there: SIOCSIFNAME, SIOCSIFHWADDR, SIOCSIFBRDADDR, SIOCSIFDSTADDR,
//! SIOCSIFMAP, SIOCSIFTXQLEN, SIOCGIFPFLAGS/SIOCSIFPFLAGS, SIOCADDMULTI and
//! SIOCDELMULTI (ENOTTY). SIOCETHTOOL is EOPNOTSUPP for every interface (no
//! ethtool operations).
//!
//! A `struct ifreq` is 40 bytes: the interface's name (16 bytes, NUL-padded)
//! and a 24-byte union whose member depends on the request. SIOCSIFFLAGS
//! brings an interface up or down (busybox `ip link set IF up` uses it); its
//! other flags cannot change and are ignored. SIOCSIFADDR and SIOCSIFNETMASK
//! (`ifconfig IF ADDR netmask MASK`) set the first IPv4 address. The kernel
//! checks CAP_NET_ADMIN for the changes before it calls [`ioctl`], for a
//! socket of any family.

use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};
use kestrel_vfs::{UserPtr, UserSpace};
use smoltcp::wire::{IpAddress, IpCidr};

use super::{IfaceInfo, Shared};

pub const SIOCGIFNAME: u32 = 0x8910;
pub const SIOCGIFCONF: u32 = 0x8912;
pub const SIOCGIFFLAGS: u32 = 0x8913;
pub const SIOCSIFFLAGS: u32 = 0x8914;
pub const SIOCGIFADDR: u32 = 0x8915;
pub const SIOCGIFBRDADDR: u32 = 0x8919;
pub const SIOCGIFNETMASK: u32 = 0x891b;
pub const SIOCGIFMTU: u32 = 0x8921;
pub const SIOCSIFMTU: u32 = 0x8922;
pub const SIOCSIFMETRIC: u32 = 0x891e;
pub const SIOCGIFHWADDR: u32 = 0x8927;
pub const SIOCGIFINDEX: u32 = 0x8933;
pub const SIOCGIFDSTADDR: u32 = 0x8917;
pub const SIOCSIFADDR: u32 = 0x8916;
pub const SIOCSIFNETMASK: u32 = 0x891c;
pub const SIOCGIFMETRIC: u32 = 0x891d;
pub const SIOCGIFMAP: u32 = 0x8970;
pub const SIOCGIFTXQLEN: u32 = 0x8942;

const IFF_UP: u16 = 0x1;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const IFREQ: usize = 40;
const AF_INET: u16 = 2;

/// Whether `cmd` is one of these requests.
pub fn is_ifreq(cmd: u32) -> bool {
    matches!(
        cmd,
        SIOCGIFNAME
            | SIOCGIFCONF
            | SIOCGIFFLAGS
            | SIOCSIFFLAGS
            | SIOCGIFADDR
            | SIOCGIFBRDADDR
            | SIOCGIFNETMASK
            | SIOCGIFMTU
            | SIOCSIFMTU
            | SIOCSIFMETRIC
            | SIOCGIFHWADDR
            | SIOCGIFINDEX
            | SIOCGIFDSTADDR
            | SIOCSIFADDR
            | SIOCSIFNETMASK
            | SIOCGIFMETRIC
            | SIOCGIFMAP
            | SIOCGIFTXQLEN
            | SIOCETHTOOL
    )
}

/// SIOCETHTOOL: the interfaces have no ethtool operations here, so every
/// ethtool command on an existing interface is EOPNOTSUPP (partial; libpcap
/// takes that as "not supported" for its timestamping and offload queries).
pub const SIOCETHTOOL: u32 = 0x8946;

/// ifr_flags is a short: IFF_LOWER_UP and above do not fit (dev_ifsioc_locked).
fn flags(f: &IfaceInfo) -> u16 {
    crate::netlink::route::link_flags(f) as u16
}

fn v4(f: &IfaceInfo) -> Option<IpCidr> {
    f.addrs
        .iter()
        .copied()
        .find(|c| matches!(c.address(), IpAddress::Ipv4(_)))
}

/// A sockaddr_in (16 bytes) of an IPv4 address.
fn sockaddr_in(a: [u8; 4]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..2].copy_from_slice(&AF_INET.to_ne_bytes());
    b[4..8].copy_from_slice(&a);
    b
}

fn octets(a: IpAddress) -> [u8; 4] {
    match a {
        IpAddress::Ipv4(x) => x.octets(),
        IpAddress::Ipv6(_) => [0; 4],
    }
}

fn name_of(req: &[u8; IFREQ]) -> &[u8] {
    let n = req[..16].iter().position(|&b| b == 0).unwrap_or(16);
    &req[..n]
}

/// Runs the request `cmd` with the `struct ifreq` (or `struct ifconf`) at `arg`.
pub fn ioctl(shared: &Shared, cmd: u32, arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
    let ifs = shared.interfaces();
    if cmd == SIOCGIFCONF {
        return ifconf(&ifs, arg, mem);
    }
    let ptr = UserPtr::<[u8; IFREQ]>::new(arg);
    let mut req = ptr.read(mem)?;
    if cmd == SIOCGIFNAME {
        let index = u32::from_ne_bytes([req[16], req[17], req[18], req[19]]);
        let f = ifs.iter().find(|f| f.index == index).ok_or(Errno::ENODEV)?;
        req[..16].fill(0);
        let n = f.name.len().min(15);
        req[..n].copy_from_slice(&f.name.as_bytes()[..n]);
        ptr.write(mem, &req)?;
        return Ok(0);
    }
    let name = name_of(&req);
    let f = ifs
        .iter()
        .find(|f| f.name.as_bytes() == name)
        .ok_or(Errno::ENODEV)?;
    if cmd == SIOCETHTOOL {
        return Err(Errno::EOPNOTSUPP);
    }
    let data = &mut req[16..];
    match cmd {
        SIOCGIFINDEX => data[..4].copy_from_slice(&f.index.to_ne_bytes()),
        SIOCGIFFLAGS => data[..2].copy_from_slice(&flags(f).to_ne_bytes()),
        SIOCSIFFLAGS => {
            let fl = u16::from_ne_bytes([data[0], data[1]]);
            shared.set_link_up(f.index, fl & IFF_UP != 0)?;
            return Ok(0);
        }
        SIOCGIFMTU => data[..4].copy_from_slice(&(f.mtu as i32).to_ne_bytes()),
        SIOCSIFMTU => {
            let mtu = i32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
            shared.set_mtu(f.index, mtu)?;
            return Ok(0);
        }
        // Linux keeps no metric to set (dev_ifsioc).
        SIOCSIFMETRIC => return Err(Errno::EOPNOTSUPP),
        SIOCGIFTXQLEN => data[..4].copy_from_slice(&1000i32.to_ne_bytes()),
        SIOCGIFMETRIC => data[..4].fill(0),
        // struct ifmap: no memory window, IRQ, DMA or port.
        SIOCGIFMAP => data.fill(0),
        SIOCSIFADDR | SIOCSIFNETMASK => {
            let fam = u16::from_ne_bytes([data[0], data[1]]);
            if fam != AF_INET {
                return Err(Errno::EINVAL);
            }
            let a = [data[4], data[5], data[6], data[7]];
            if cmd == SIOCSIFADDR {
                shared.set_ipv4(f.index, Some(smoltcp::wire::Ipv4Address::from(a)), None)?;
            } else {
                let mask = u32::from_be_bytes(a);
                // A mask must be contiguous ones (EINVAL, bad_mask).
                if mask.leading_ones() + mask.trailing_zeros() != 32 {
                    return Err(Errno::EINVAL);
                }
                shared.set_ipv4(f.index, None, Some(mask.leading_ones() as u8))?;
            }
            return Ok(0);
        }
        SIOCGIFHWADDR => {
            data.fill(0);
            let fam = if f.loopback() {
                ARPHRD_LOOPBACK
            } else {
                ARPHRD_ETHER
            };
            data[..2].copy_from_slice(&fam.to_ne_bytes());
            if let Some(m) = f.mac {
                data[2..8].copy_from_slice(&m);
            }
        }
        SIOCGIFADDR | SIOCGIFNETMASK | SIOCGIFBRDADDR | SIOCGIFDSTADDR => {
            let c = v4(f).ok_or(Errno::EADDRNOTAVAIL)?;
            let a = match cmd {
                SIOCGIFADDR | SIOCGIFDSTADDR => octets(c.address()),
                SIOCGIFNETMASK => {
                    let bits = u32::MAX
                        .checked_shl(32 - u32::from(c.prefix_len()))
                        .unwrap_or(0);
                    bits.to_be_bytes()
                }
                _ => match c {
                    IpCidr::Ipv4(c4) if !f.loopback() => {
                        c4.broadcast().map_or([0; 4], |b| b.octets())
                    }
                    _ => [0; 4],
                },
            };
            data[..16].copy_from_slice(&sockaddr_in(a));
        }
        _ => return Err(Errno::ENOTTY),
    }
    ptr.write(mem, &req)?;
    Ok(0)
}

/// SIOCGIFCONF: an ifreq with the IPv4 address of each interface that has
/// one, as many as `ifc_len` bytes hold; a null buffer asks for the length.
fn ifconf(ifs: &[IfaceInfo], arg: u64, mem: &dyn UserSpace) -> KResult<u64> {
    // struct ifconf { int ifc_len; (pad) char *ifc_buf; }
    let ptr = UserPtr::<[u8; 16]>::new(arg);
    let mut conf = ptr.read(mem)?;
    let len = i32::from_ne_bytes([conf[0], conf[1], conf[2], conf[3]]);
    let buf = u64::from_ne_bytes(conf[8..16].try_into().expect("8 bytes"));
    let mut reqs: Vec<[u8; IFREQ]> = Vec::new();
    for f in ifs {
        if let Some(c) = v4(f) {
            let mut r = [0u8; IFREQ];
            let n = f.name.len().min(15);
            r[..n].copy_from_slice(&f.name.as_bytes()[..n]);
            r[16..32].copy_from_slice(&sockaddr_in(octets(c.address())));
            reqs.push(r);
        }
    }
    let used = if buf == 0 {
        reqs.len() * IFREQ
    } else {
        let fit = usize::try_from(len.max(0)).unwrap_or(0) / IFREQ;
        for (i, r) in reqs.iter().take(fit).enumerate() {
            UserPtr::<[u8; IFREQ]>::new(buf + (i * IFREQ) as u64).write(mem, r)?;
        }
        reqs.len().min(fit) * IFREQ
    };
    conf[..4].copy_from_slice(&(used as i32).to_ne_bytes());
    ptr.write(mem, &conf)?;
    Ok(0)
}
