//! The system's names, as uname(2) reports them: fixed ones (the kernel's release)
//! and the two an administrator sets (sethostname, setdomainname, or writing
//! /proc/sys/kernel/hostname), each UTS namespace its own ([`crate::ns`]).

use alloc::vec::Vec;

/// `uname -r`: a Linux release number programs can compare against, marked as
/// Kestrel's.
pub const RELEASE: &str = "6.8.0-kestrel";
/// `uname -v`.
pub const VERSION: &str = concat!("#1 SMP Kestrel ", env!("CARGO_PKG_VERSION"));
/// The longest host or domain name (__NEW_UTS_LEN).
pub const NAME_MAX: usize = 64;

/// The host name of the caller's UTS namespace ("kestrel" until set).
pub fn hostname() -> Vec<u8> {
    crate::ns::current().uts.hostname()
}

/// The NIS domain name of the caller's UTS namespace ("(none)" until set).
pub fn domainname() -> Vec<u8> {
    crate::ns::current().uts.domainname()
}

/// Sets the host name (the caller checked the length and privilege).
pub fn set_hostname(name: &[u8]) {
    crate::ns::current().uts.set_hostname(name);
}

/// Sets the domain name.
pub fn set_domainname(name: &[u8]) {
    crate::ns::current().uts.set_domainname(name);
}
