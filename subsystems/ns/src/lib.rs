//! Namespaces, the part that is pure rules: which kinds there are and how the
//! clone flags name them, what unshare(2) accepts, what setns(2) accepts, and the
//! text of `/proc/PID/timens_offsets`.
//!
//! The kernel keeps the namespaces themselves (`kernel/src/ns.rs`); this crate
//! decides, so the decisions are tested on the host.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use kestrel_abi::Errno;

pub const CLONE_NEWTIME: u64 = 0x0000_0080;
pub const CLONE_VM: u64 = 0x0000_0100;
pub const CLONE_FS: u64 = 0x0000_0200;
pub const CLONE_FILES: u64 = 0x0000_0400;
pub const CLONE_SIGHAND: u64 = 0x0000_0800;
pub const CLONE_THREAD: u64 = 0x0001_0000;
pub const CLONE_NEWNS: u64 = 0x0002_0000;
pub const CLONE_SYSVSEM: u64 = 0x0004_0000;
pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
pub const CLONE_NEWUTS: u64 = 0x0400_0000;
pub const CLONE_NEWIPC: u64 = 0x0800_0000;
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
pub const CLONE_NEWNET: u64 = 0x4000_0000;

/// Every namespace flag.
pub const ALL_NAMESPACES: u64 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_NEWTIME;

/// The clock ids a time namespace shifts.
pub const CLOCK_MONOTONIC: i32 = 1;
pub const CLOCK_BOOTTIME: i32 = 7;

/// A kind of namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mnt,
    Uts,
    Ipc,
    Net,
    Pid,
    Time,
    User,
    Cgroup,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Mnt,
        Kind::Uts,
        Kind::Ipc,
        Kind::Net,
        Kind::Pid,
        Kind::Time,
        Kind::User,
        Kind::Cgroup,
    ];

    /// The clone flag that makes one (setns's nstype).
    pub fn flag(self) -> u64 {
        match self {
            Kind::Mnt => CLONE_NEWNS,
            Kind::Uts => CLONE_NEWUTS,
            Kind::Ipc => CLONE_NEWIPC,
            Kind::Net => CLONE_NEWNET,
            Kind::Pid => CLONE_NEWPID,
            Kind::Time => CLONE_NEWTIME,
            Kind::User => CLONE_NEWUSER,
            Kind::Cgroup => CLONE_NEWCGROUP,
        }
    }

    /// The name in `/proc/PID/ns/` and in the link text (`uts:[4026531838]`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mnt => "mnt",
            Kind::Uts => "uts",
            Kind::Ipc => "ipc",
            Kind::Net => "net",
            Kind::Pid => "pid",
            Kind::Time => "time",
            Kind::User => "user",
            Kind::Cgroup => "cgroup",
        }
    }

    /// The inode number of the namespace of this kind that exists at boot:
    /// Linux's fixed numbers (PROC_*_INIT_INO) where it has them, so programs
    /// comparing against them see the same values.
    pub fn init_inum(self) -> u64 {
        match self {
            Kind::Ipc => 0xEFFF_FFFF,
            Kind::Uts => 0xEFFF_FFFE,
            Kind::User => 0xEFFF_FFFD,
            Kind::Pid => 0xEFFF_FFFC,
            Kind::Cgroup => 0xEFFF_FFFB,
            Kind::Time => 0xEFFF_FFFA,
            // Linux numbers these from its allocator; the first two it hands out.
            Kind::Net => 0xF000_0000,
            Kind::Mnt => 0xF000_0001,
        }
    }
}

/// The first inode number given to a namespace made after boot.
pub const FIRST_DYNAMIC_INUM: u64 = 0xF000_0002;

/// The names in `/proc/PID/ns`, in the order Linux lists them, each with the
/// kind it shows and whether it is the `*_for_children` view.
pub const NS_ENTRIES: &[(&str, Kind, bool)] = &[
    ("cgroup", Kind::Cgroup, false),
    ("ipc", Kind::Ipc, false),
    ("mnt", Kind::Mnt, false),
    ("net", Kind::Net, false),
    ("pid", Kind::Pid, false),
    ("pid_for_children", Kind::Pid, true),
    ("time", Kind::Time, false),
    ("time_for_children", Kind::Time, true),
    ("user", Kind::User, false),
    ("uts", Kind::Uts, false),
];

/// The text a namespace link reads as: `uts:[4026531838]`.
pub fn link_text(kind: Kind, inum: u64) -> Vec<u8> {
    let mut v = Vec::from(kind.name().as_bytes());
    v.extend_from_slice(b":[");
    push_u64(&mut v, inum);
    v.push(b']');
    v
}

fn push_u64(v: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    v.extend_from_slice(&digits[i..]);
}

/// What unshare(2) was asked, once checked: the flags as Linux widens them
/// (CLONE_NEWNS and CLONE_NEWUSER take CLONE_FS along, CLONE_NEWUSER also
/// CLONE_THREAD; CLONE_VM and CLONE_SIGHAND imply what they need).
pub fn unshare_flags(flags: u64) -> Result<u64, Errno> {
    let known = CLONE_THREAD
        | CLONE_FS
        | CLONE_SIGHAND
        | CLONE_VM
        | CLONE_FILES
        | CLONE_SYSVSEM
        | ALL_NAMESPACES;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let mut f = flags;
    if f & CLONE_NEWUSER != 0 {
        f |= CLONE_THREAD | CLONE_FS;
    }
    if f & CLONE_VM != 0 {
        f |= CLONE_SIGHAND;
    }
    if f & CLONE_SIGHAND != 0 {
        f |= CLONE_THREAD;
    }
    if f & CLONE_NEWNS != 0 {
        f |= CLONE_FS;
    }
    Ok(f)
}

/// Whether making the namespaces in `flags` needs CAP_SYS_ADMIN (every kind
/// but a user namespace).
pub fn needs_admin(flags: u64) -> bool {
    flags & ALL_NAMESPACES & !CLONE_NEWUSER != 0
}

/// clone(2) and clone3(2)'s checks of namespace flags: CLONE_NEWNS with
/// CLONE_FS, and CLONE_NEWUSER or CLONE_NEWPID with CLONE_THREAD or
/// CLONE_PARENT... (the combinations Linux refuses with EINVAL).
pub fn check_clone_flags(flags: u64) -> Result<(), Errno> {
    const CLONE_PARENT: u64 = 0x0000_8000;
    if flags & (CLONE_NEWNS | CLONE_FS) == (CLONE_NEWNS | CLONE_FS) {
        return Err(Errno::EINVAL);
    }
    if flags & (CLONE_NEWUSER | CLONE_FS) == (CLONE_NEWUSER | CLONE_FS) {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_THREAD != 0 && flags & (CLONE_NEWUSER | CLONE_NEWPID) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_PARENT != 0 && flags & CLONE_NEWPID != 0 {
        // Linux refuses it only for a sibling of init; Kestrel's init may not.
        return Ok(());
    }
    Ok(())
}

/// setns(2)'s check of `nstype` against the namespace `kind` the descriptor
/// names: 0 accepts any kind, one flag must match, anything else is EINVAL.
pub fn setns_type_ok(nstype: i64, kind: Kind) -> bool {
    nstype == 0 || nstype == kind.flag() as i64
}

/// One line of `/proc/PID/timens_offsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    pub clock: i32,
    pub sec: i64,
    pub nsec: i64,
}

/// The longest write to timens_offsets Linux takes (its buffer is one page).
pub const OFFSETS_MAX_WRITE: usize = 4096;

/// Parses what is written to `/proc/PID/timens_offsets`: lines of
/// `<clock> <seconds> <nanoseconds>`, the clock a number (1 monotonic,
/// 7 boottime) or a name ("monotonic", "boottime"), nanoseconds in
/// 0..1_000_000_000. Anything else is EINVAL.
pub fn parse_offsets(text: &[u8]) -> Result<Vec<Offset>, Errno> {
    if text.len() > OFFSETS_MAX_WRITE {
        return Err(Errno::EINVAL);
    }
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let mut words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let Some(clock) = words.next() else {
            continue;
        };
        let clock = match clock {
            b"monotonic" => CLOCK_MONOTONIC,
            b"boottime" => CLOCK_BOOTTIME,
            n => parse_i64(n).ok_or(Errno::EINVAL)? as i32,
        };
        let sec = words.next().and_then(parse_i64).ok_or(Errno::EINVAL)?;
        let nsec = words.next().and_then(parse_i64).ok_or(Errno::EINVAL)?;
        if words.next().is_some() || !(0..1_000_000_000).contains(&nsec) {
            return Err(Errno::EINVAL);
        }
        out.push(Offset { clock, sec, nsec });
    }
    Ok(out)
}

fn parse_i64(w: &[u8]) -> Option<i64> {
    core::str::from_utf8(w).ok()?.parse().ok()
}

/// KTIME_SEC_MAX: the largest second count a ktime holds.
pub const KTIME_SEC_MAX: i64 = i64::MAX / 1_000_000_000;

/// Checks one offset against the clock's current reading `now_ns` (ns): an
/// unknown clock is EINVAL; a shift that would take the clock below zero or
/// past half of KTIME_SEC_MAX is ERANGE, as Linux's proc_timens_set_offset.
/// Returns the offset in ns.
pub fn check_offset(o: &Offset, now_ns: u64) -> Result<i64, Errno> {
    if o.clock != CLOCK_MONOTONIC && o.clock != CLOCK_BOOTTIME {
        return Err(Errno::EINVAL);
    }
    if o.sec > KTIME_SEC_MAX || o.sec < -KTIME_SEC_MAX {
        return Err(Errno::ERANGE);
    }
    let off = o.sec as i128 * 1_000_000_000 + o.nsec as i128;
    let shifted = now_ns as i128 + off;
    if shifted < 0 || shifted / 1_000_000_000 > (KTIME_SEC_MAX / 2) as i128 {
        return Err(Errno::ERANGE);
    }
    Ok(off as i64)
}

/// The text `/proc/PID/timens_offsets` reads as, offsets in ns.
pub fn format_offsets(monotonic: i64, boottime: i64) -> Vec<u8> {
    let mut v = Vec::new();
    for (name, off) in [("monotonic", monotonic), ("boottime", boottime)] {
        let sec = off.div_euclid(1_000_000_000);
        let nsec = off.rem_euclid(1_000_000_000);
        // Linux's "%-10s %10lld %9ld\n".
        let mut s = Vec::new();
        if sec < 0 {
            s.push(b'-');
        }
        push_u64(&mut s, sec.unsigned_abs());
        let mut n = Vec::new();
        push_u64(&mut n, nsec as u64);
        v.extend_from_slice(name.as_bytes());
        v.resize(v.len() + 10 - name.len(), b' ');
        v.push(b' ');
        v.resize(v.len() + 10usize.saturating_sub(s.len()), b' ');
        v.extend_from_slice(&s);
        v.push(b' ');
        v.resize(v.len() + 9usize.saturating_sub(n.len()), b' ');
        v.extend_from_slice(&n);
        v.push(b'\n');
    }
    v
}

/// One line of a user namespace's uid_map or gid_map: ids `inside..inside+count`
/// in the namespace are `outside..` in its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdExtent {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The most lines a map takes (Linux's UID_GID_MAP_MAX_EXTENTS).
pub const ID_MAP_MAX_EXTENTS: usize = 340;

/// Parses what is written to `/proc/PID/uid_map` or `gid_map`: lines of three
/// numbers; a count of 0, a range past 2^32, ranges that overlap (inside or
/// outside), no line or too many lines are EINVAL, as Linux's map_write.
pub fn parse_id_map(text: &[u8]) -> Result<Vec<IdExtent>, Errno> {
    let mut out: Vec<IdExtent> = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let mut w = line
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|w| !w.is_empty());
        let Some(first) = w.next() else {
            continue;
        };
        let num = |x: Option<&[u8]>| -> Result<u32, Errno> {
            core::str::from_utf8(x.ok_or(Errno::EINVAL)?)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(Errno::EINVAL)
        };
        let e = IdExtent {
            inside: num(Some(first))?,
            outside: num(w.next())?,
            count: num(w.next())?,
        };
        if w.next().is_some() || e.count == 0 {
            return Err(Errno::EINVAL);
        }
        let end = |start: u32| u64::from(start) + u64::from(e.count);
        if end(e.inside) > 1 << 32 || end(e.outside) > 1 << 32 {
            return Err(Errno::EINVAL);
        }
        let overlaps = |a: u32, b: u32, n: u32| {
            u64::from(a) < u64::from(b) + u64::from(n)
                && u64::from(b) < u64::from(a) + u64::from(e.count)
        };
        if out.iter().any(|o| {
            overlaps(e.inside, o.inside, o.count) || overlaps(e.outside, o.outside, o.count)
        }) {
            return Err(Errno::EINVAL);
        }
        out.push(e);
        if out.len() > ID_MAP_MAX_EXTENTS {
            return Err(Errno::EINVAL);
        }
    }
    if out.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok(out)
}

/// A map as its file reads (Linux's "%10u %10u %10u\n" per line).
pub fn format_id_map(map: &[IdExtent]) -> Vec<u8> {
    let mut v = Vec::new();
    for e in map {
        for (i, n) in [e.inside, e.outside, e.count].into_iter().enumerate() {
            let mut d = Vec::new();
            push_u64(&mut d, u64::from(n));
            if i > 0 {
                v.push(b' ');
            }
            v.resize(v.len() + 10usize.saturating_sub(d.len()), b' ');
            v.extend_from_slice(&d);
        }
        v.push(b'\n');
    }
    v
}

#[cfg(test)]
mod tests;
