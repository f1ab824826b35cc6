//! Which local ports are taken, per protocol: bind's EADDRINUSE and the
//! ephemeral ports of connect and autobind.
//!
//! A binding lives as long as its [`PortGuard`]: a bound socket holds one, an
//! accepted connection holds one on its listener's port (so, as on Linux, a
//! server cannot rebind a port that its connections still use unless
//! SO_REUSEADDR says so), and a closed connection's guard goes only when the
//! stack has finished with the connection (its FIN answered, TIME-WAIT over).
//!
//! The rules are Linux's inet_csk_bind_conflict, simplified: two bindings of
//! one port conflict when their addresses overlap (a wildcard overlaps every
//! address of its families) unless both set SO_REUSEADDR and, for TCP, neither
//! listens. listen(2) checks again, since a port may be shared by sockets that
//! were bound with SO_REUSEADDR but only one of them may listen.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use kestrel_abi::{Errno, KResult};

use super::addr::Local;

/// The transport protocol a port belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

/// The ephemeral range (net.ipv4.ip_local_port_range).
pub const EPHEMERAL: core::ops::RangeInclusive<u16> = 32768..=60999;

struct Binding {
    id: u64,
    local: Local,
    reuse: bool,
    listening: Arc<AtomicBool>,
}

#[derive(Default)]
struct Inner {
    ports: BTreeMap<(Proto, u16), Vec<Binding>>,
    next_ephemeral: u16,
    next_id: u64,
}

/// The port table of one stack.
#[derive(Default)]
pub struct Ports {
    inner: spin::Mutex<Inner>,
}

/// One binding; dropping it frees it.
pub struct PortGuard {
    table: Arc<Ports>,
    proto: Proto,
    port: u16,
    id: u64,
    listening: Arc<AtomicBool>,
}

impl core::fmt::Debug for PortGuard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PortGuard({:?} {})", self.proto, self.port)
    }
}

impl PortGuard {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// listen(2): EADDRINUSE if another socket listens on an overlapping
    /// address of this port.
    pub fn listen(&self) -> KResult<()> {
        let inner = self.table.inner.lock();
        let list = inner.ports.get(&(self.proto, self.port));
        let me = list.and_then(|l| l.iter().find(|b| b.id == self.id));
        if let (Some(list), Some(me)) = (list, me) {
            let clash = list.iter().any(|b| {
                b.id != self.id && b.listening.load(Ordering::Relaxed) && b.local.overlaps(me.local)
            });
            if clash {
                return Err(Errno::EADDRINUSE);
            }
        }
        self.listening.store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for PortGuard {
    fn drop(&mut self) {
        let mut inner = self.table.inner.lock();
        if let Some(list) = inner.ports.get_mut(&(self.proto, self.port)) {
            list.retain(|b| b.id != self.id);
            if list.is_empty() {
                inner.ports.remove(&(self.proto, self.port));
            }
        }
    }
}

impl Ports {
    fn conflicts(list: &[Binding], proto: Proto, local: Local, reuse: bool) -> bool {
        list.iter().any(|b| {
            let shared =
                reuse && b.reuse && (proto == Proto::Udp || !b.listening.load(Ordering::Relaxed));
            b.local.overlaps(local) && !shared
        })
    }

    /// Binds `port` (0: an ephemeral one) at `local`. EADDRINUSE if taken; with
    /// port 0, EADDRINUSE when the whole ephemeral range is.
    pub fn bind(
        self: &Arc<Self>,
        proto: Proto,
        local: Local,
        port: u16,
        reuse: bool,
    ) -> KResult<PortGuard> {
        let mut inner = self.inner.lock();
        let port = if port != 0 {
            let list = inner.ports.get(&(proto, port)).map_or(&[][..], |v| &v[..]);
            if Self::conflicts(list, proto, local, reuse) {
                return Err(Errno::EADDRINUSE);
            }
            port
        } else {
            let span = u32::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
            let start = inner.next_ephemeral;
            let mut found = None;
            for i in 0..span {
                let p = EPHEMERAL.start() + ((u32::from(start) + i) % span) as u16;
                // An ephemeral port is taken only when nobody uses it at all.
                if !inner.ports.contains_key(&(proto, p)) {
                    found = Some(p);
                    inner.next_ephemeral = ((u32::from(start) + i + 1) % span) as u16;
                    break;
                }
            }
            found.ok_or(Errno::EADDRINUSE)?
        };
        inner.next_id += 1;
        let id = inner.next_id;
        let listening = Arc::new(AtomicBool::new(false));
        inner.ports.entry((proto, port)).or_default().push(Binding {
            id,
            local,
            reuse,
            listening: listening.clone(),
        });
        Ok(PortGuard {
            table: self.clone(),
            proto,
            port,
            id,
            listening,
        })
    }

    /// A binding that never conflicts with those already there (an accepted
    /// connection on its listener's port), but counts against later ones.
    pub fn bind_shared(
        self: &Arc<Self>,
        proto: Proto,
        local: Local,
        port: u16,
        reuse: bool,
    ) -> Option<PortGuard> {
        let mut inner = self.inner.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let listening = Arc::new(AtomicBool::new(false));
        inner.ports.entry((proto, port)).or_default().push(Binding {
            id,
            local,
            reuse,
            listening: listening.clone(),
        });
        Some(PortGuard {
            table: self.clone(),
            proto,
            port,
            id,
            listening,
        })
    }

    /// How many bindings there are (for tests and /proc).
    pub fn len(&self) -> usize {
        self.inner.lock().ports.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::IpAddress;

    const ANY4: Local = Local::Any {
        v4: true,
        v6: false,
    };

    #[test]
    fn a_port_is_taken_until_its_guard_goes() {
        let t = Arc::new(Ports::default());
        let g = t.bind(Proto::Tcp, ANY4, 5000, false).unwrap();
        assert_eq!(
            t.bind(Proto::Tcp, ANY4, 5000, false).unwrap_err(),
            Errno::EADDRINUSE
        );
        let lo = Local::Addr(IpAddress::v4(127, 0, 0, 1));
        assert!(t.bind(Proto::Tcp, lo, 5000, false).is_err());
        // Another protocol is another namespace.
        let u = t.bind(Proto::Udp, ANY4, 5000, false).unwrap();
        drop(g);
        let g2 = t.bind(Proto::Tcp, lo, 5000, false).unwrap();
        drop((u, g2));
        assert!(t.is_empty());
    }

    #[test]
    fn reuseaddr_shares_a_port_but_not_two_listeners() {
        let t = Arc::new(Ports::default());
        let a = t.bind(Proto::Tcp, ANY4, 6000, true).unwrap();
        let b = t.bind(Proto::Tcp, ANY4, 6000, true).unwrap();
        a.listen().unwrap();
        assert_eq!(b.listen().unwrap_err(), Errno::EADDRINUSE);
        // Once one listens, a new binding of the port needs it not to.
        assert!(t.bind(Proto::Tcp, ANY4, 6000, true).is_err());
    }

    #[test]
    fn ephemeral_ports_are_distinct_and_in_range() {
        let t = Arc::new(Ports::default());
        let a = t.bind(Proto::Udp, ANY4, 0, false).unwrap();
        let b = t.bind(Proto::Udp, ANY4, 0, false).unwrap();
        assert_ne!(a.port(), b.port());
        assert!(EPHEMERAL.contains(&a.port()) && EPHEMERAL.contains(&b.port()));
    }
}
