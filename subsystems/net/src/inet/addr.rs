//! Internet socket addresses: `sockaddr_in` and `sockaddr_in6` as the system
//! calls carry them, and the endpoints the stack uses.
//!
//! Inside the stack an address is smoltcp's [`IpAddress`], IPv4 or IPv6. An
//! AF_INET6 socket that is not IPV6_V6ONLY also talks IPv4: a v4-mapped address
//! (`::ffff:a.b.c.d`, RFC 4291 2.5.5.2) in its sockaddrs stands for the IPv4
//! address, and IPv4 peers are reported to it mapped, as Linux does.

use alloc::vec::Vec;

use kestrel_abi::net::*;
use kestrel_abi::{Errno, KResult};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address, Ipv6Address};

/// A socket's address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// From socket(2)'s domain.
    pub fn from_domain(domain: u32) -> Option<Family> {
        match domain {
            AF_INET => Some(Family::V4),
            AF_INET6 => Some(Family::V6),
            _ => None,
        }
    }

    /// The AF_* number.
    pub fn domain(self) -> u32 {
        match self {
            Family::V4 => AF_INET,
            Family::V6 => AF_INET6,
        }
    }

    /// The size of this family's sockaddr.
    pub fn sockaddr_len(self) -> usize {
        match self {
            Family::V4 => core::mem::size_of::<SockaddrIn>(),
            Family::V6 => core::mem::size_of::<SockaddrIn6>(),
        }
    }
}

/// The address part of a local name: a wildcard, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// INADDR_ANY (`v4`) or in6addr_any (`v6`, and `v4` too unless IPV6_V6ONLY).
    Any {
        v4: bool,
        v6: bool,
    },
    Addr(IpAddress),
}

impl Local {
    /// Whether a packet for `addr` reaches a socket bound here.
    pub fn matches(self, addr: IpAddress) -> bool {
        match self {
            Local::Any { v4, v6 } => match addr {
                IpAddress::Ipv4(_) => v4,
                IpAddress::Ipv6(_) => v6,
            },
            Local::Addr(a) => a == addr,
        }
    }

    /// Whether two bindings of one port would receive some of the same packets
    /// (which bind refuses with EADDRINUSE unless SO_REUSEADDR allows it).
    pub fn overlaps(self, other: Local) -> bool {
        match (self, other) {
            (Local::Addr(a), Local::Addr(b)) => a == b,
            (Local::Any { .. }, Local::Addr(a)) => self.matches(a),
            (Local::Addr(a), Local::Any { .. }) => other.matches(a),
            (Local::Any { v4: a4, v6: a6 }, Local::Any { v4: b4, v6: b6 }) => {
                (a4 && b4) || (a6 && b6)
            }
        }
    }

    /// The one address, if it is not a wildcard.
    pub fn addr(self) -> Option<IpAddress> {
        match self {
            Local::Addr(a) => Some(a),
            Local::Any { .. } => None,
        }
    }
}

/// What a sockaddr said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockAddr {
    /// AF_UNSPEC (connect: dissolve an association; bind on AF_INET: INADDR_ANY).
    Unspec,
    /// An address and port. The unspecified address (0.0.0.0, ::) is kept as
    /// such: bind reads it as a wildcard, connect as "this host".
    Inet(IpAddress, u16),
}

/// The address of `a` as the stack uses it: a v4-mapped IPv6 address is its
/// IPv4 address.
pub fn unmap(a: Ipv6Address) -> IpAddress {
    match a.to_ipv4_mapped() {
        Some(v4) => IpAddress::Ipv4(v4),
        None => IpAddress::Ipv6(a),
    }
}

/// Parses a sockaddr of `raw.len()` bytes for a socket of `family`, as Linux's
/// inet_bind/inet_stream_connect/inet6_bind read them: too short is EINVAL, the
/// wrong family EAFNOSUPPORT (AF_UNSPEC is returned for the caller to judge).
pub fn parse(family: Family, raw: &[u8]) -> KResult<SockAddr> {
    if raw.len() < 2 {
        return Err(Errno::EINVAL);
    }
    let fam = u32::from(u16::from_ne_bytes([raw[0], raw[1]]));
    match family {
        Family::V4 => {
            if raw.len() < core::mem::size_of::<SockaddrIn>() {
                return Err(Errno::EINVAL);
            }
            if fam == AF_UNSPEC {
                return Ok(SockAddr::Unspec);
            }
            if fam != AF_INET {
                return Err(Errno::EAFNOSUPPORT);
            }
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let a = Ipv4Address::new(raw[4], raw[5], raw[6], raw[7]);
            Ok(SockAddr::Inet(IpAddress::Ipv4(a), port))
        }
        Family::V6 => {
            if fam == AF_UNSPEC {
                return Ok(SockAddr::Unspec);
            }
            // SIN6_LEN_RFC2133: 24 bytes, without the scope id.
            if raw.len() < 24 {
                return Err(Errno::EINVAL);
            }
            if fam != AF_INET6 {
                return Err(Errno::EAFNOSUPPORT);
            }
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let mut b = [0u8; 16];
            b.copy_from_slice(&raw[8..24]);
            Ok(SockAddr::Inet(unmap(Ipv6Address::from(b)), port))
        }
    }
}

/// The sockaddr bytes of `ep` for a socket of `family` (IPv4 endpoints mapped
/// for AF_INET6).
pub fn to_sockaddr(family: Family, addr: IpAddress, port: u16) -> Vec<u8> {
    let port = port.to_be_bytes();
    match family {
        Family::V4 => {
            let a = match addr {
                IpAddress::Ipv4(a) => a.octets(),
                IpAddress::Ipv6(a) => a.to_ipv4_mapped().map_or([0; 4], |v| v.octets()),
            };
            let s = SockaddrIn {
                sin_family: AF_INET as u16,
                sin_port: port,
                sin_addr: a,
                sin_zero: [0; 8],
            };
            kestrel_abi::bytemuck_bytes(&s).to_vec()
        }
        Family::V6 => {
            let a = match addr {
                IpAddress::Ipv4(a) => a.to_ipv6_mapped().octets(),
                IpAddress::Ipv6(a) => a.octets(),
            };
            let s = SockaddrIn6 {
                sin6_family: AF_INET6 as u16,
                sin6_port: port,
                sin6_flowinfo: 0,
                sin6_addr: a,
                sin6_scope_id: 0,
            };
            kestrel_abi::bytemuck_bytes(&s).to_vec()
        }
    }
}

/// The sockaddr of an endpoint.
pub fn endpoint_sockaddr(family: Family, ep: IpEndpoint) -> Vec<u8> {
    to_sockaddr(family, ep.addr, ep.port)
}

/// The unspecified address of a family (what getsockname shows unbound).
pub fn unspecified(family: Family) -> IpAddress {
    match family {
        Family::V4 => IpAddress::Ipv4(Ipv4Address::UNSPECIFIED),
        Family::V6 => IpAddress::Ipv6(Ipv6Address::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_in_round_trips() {
        let raw = to_sockaddr(Family::V4, IpAddress::v4(127, 0, 0, 1), 8080);
        assert_eq!(raw.len(), 16);
        assert_eq!(&raw[2..4], &[0x1f, 0x90]);
        assert_eq!(
            parse(Family::V4, &raw),
            Ok(SockAddr::Inet(IpAddress::v4(127, 0, 0, 1), 8080))
        );
        assert_eq!(parse(Family::V4, &raw[..15]), Err(Errno::EINVAL));
        let mut wrong = raw.clone();
        wrong[0] = AF_INET6 as u8;
        assert_eq!(parse(Family::V4, &wrong), Err(Errno::EAFNOSUPPORT));
    }

    #[test]
    fn a_v4_mapped_address_is_ipv4_inside() {
        let raw = to_sockaddr(Family::V6, IpAddress::v4(10, 0, 2, 15), 80);
        assert_eq!(raw.len(), 28);
        assert_eq!(&raw[8..20], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(
            parse(Family::V6, &raw),
            Ok(SockAddr::Inet(IpAddress::v4(10, 0, 2, 15), 80))
        );
    }

    #[test]
    fn wildcards_overlap_by_family() {
        let any4 = Local::Any {
            v4: true,
            v6: false,
        };
        let any6only = Local::Any {
            v4: false,
            v6: true,
        };
        let dual = Local::Any { v4: true, v6: true };
        let lo = Local::Addr(IpAddress::v4(127, 0, 0, 1));
        assert!(any4.overlaps(lo));
        assert!(!any6only.overlaps(lo));
        assert!(!any4.overlaps(any6only));
        assert!(dual.overlaps(any4));
        assert!(!lo.overlaps(Local::Addr(IpAddress::v4(127, 0, 0, 2))));
    }
}
