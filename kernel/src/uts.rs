//! The system's names, as uname(2) reports them: fixed ones (the kernel's release)
//! and the two an administrator sets (sethostname, setdomainname, or writing
//! /proc/sys/kernel/hostname).

use alloc::vec::Vec;

/// `uname -r`: a Linux release number programs can compare against, marked as
/// Kestrel's.
pub const RELEASE: &str = "6.8.0-kestrel";
/// `uname -v`.
pub const VERSION: &str = concat!("#1 SMP Kestrel ", env!("CARGO_PKG_VERSION"));
/// The longest host or domain name (__NEW_UTS_LEN).
pub const NAME_MAX: usize = 64;

static HOSTNAME: spin::Mutex<Option<Vec<u8>>> = spin::Mutex::new(None);
static DOMAINNAME: spin::Mutex<Option<Vec<u8>>> = spin::Mutex::new(None);

/// The host name ("kestrel" until set).
pub fn hostname() -> Vec<u8> {
    HOSTNAME
        .lock()
        .clone()
        .unwrap_or_else(|| b"kestrel".to_vec())
}

/// The NIS domain name ("(none)" until set).
pub fn domainname() -> Vec<u8> {
    DOMAINNAME
        .lock()
        .clone()
        .unwrap_or_else(|| b"(none)".to_vec())
}

/// Sets the host name (the caller checked the length and privilege).
pub fn set_hostname(name: &[u8]) {
    *HOSTNAME.lock() = Some(name.to_vec());
}

/// Sets the domain name.
pub fn set_domainname(name: &[u8]) {
    *DOMAINNAME.lock() = Some(name.to_vec());
}
