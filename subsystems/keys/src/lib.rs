//! The kernel key retention service (keyrings(7), add_key(2), keyctl(2),
//! request_key(2)) as logic, without user memory: the key table, the keyring
//! graph, the permission rules, per-user quotas and the special keyrings a
//! process reaches by negative ids.
//!
//! The kernel keeps one [`Keys`] behind a lock. A process's own keyrings (its
//! thread, process and session keyrings and its request_key default) are kept by
//! the kernel per process and passed in as [`Slots`] for the length of a call;
//! every `Some` in them holds one reference on that keyring.
//!
//! Keys are reference counted: a link from a keyring, a process's slot and a
//! user's keyring table entry each hold one. A key whose last reference goes is
//! destroyed at once (its quota returned, its links dropped), which is Linux's
//! garbage collection without the delay. Links never form a cycle (linking a
//! keyring under itself is EDEADLK), so counting is enough.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

#[cfg(test)]
mod tests;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};

/// A key's serial number (`key_serial_t`).
pub type Serial = i32;

pub const KEY_SPEC_THREAD_KEYRING: i32 = -1;
pub const KEY_SPEC_PROCESS_KEYRING: i32 = -2;
pub const KEY_SPEC_SESSION_KEYRING: i32 = -3;
pub const KEY_SPEC_USER_KEYRING: i32 = -4;
pub const KEY_SPEC_USER_SESSION_KEYRING: i32 = -5;
pub const KEY_SPEC_GROUP_KEYRING: i32 = -6;
pub const KEY_SPEC_REQKEY_AUTH_KEY: i32 = -7;
pub const KEY_SPEC_REQUESTOR_KEYRING: i32 = -8;

/// request_key's default destination (KEYCTL_SET_REQKEY_KEYRING).
pub const KEY_REQKEY_DEFL_NO_CHANGE: i32 = -1;
pub const KEY_REQKEY_DEFL_DEFAULT: i32 = 0;
pub const KEY_REQKEY_DEFL_THREAD_KEYRING: i32 = 1;
pub const KEY_REQKEY_DEFL_PROCESS_KEYRING: i32 = 2;
pub const KEY_REQKEY_DEFL_SESSION_KEYRING: i32 = 3;
pub const KEY_REQKEY_DEFL_USER_KEYRING: i32 = 4;
pub const KEY_REQKEY_DEFL_USER_SESSION_KEYRING: i32 = 5;
pub const KEY_REQKEY_DEFL_GROUP_KEYRING: i32 = 6;
pub const KEY_REQKEY_DEFL_REQUESTOR_KEYRING: i32 = 7;

/// Permission bits, one group of six per class: possessor (bits 24-29), user
/// (16-21), group (8-13), other (0-5).
pub const KEY_VIEW: u32 = 0x01;
pub const KEY_READ: u32 = 0x02;
pub const KEY_WRITE: u32 = 0x04;
pub const KEY_SEARCH: u32 = 0x08;
pub const KEY_LINK: u32 = 0x10;
pub const KEY_SETATTR: u32 = 0x20;
pub const KEY_ALL: u32 = 0x3f;
/// Every bit a permission mask may have (KEYCTL_SETPERM: EINVAL otherwise).
pub const KEY_PERM_VALID: u32 = 0x3f3f_3f3f;

/// The longest type name (including its NUL) and description (without).
pub const KEY_TYPE_MAX: usize = 32;
pub const KEY_DESC_MAX: usize = 4095;
/// The largest payload add_key and KEYCTL_UPDATE take at all.
pub const PAYLOAD_MAX: usize = (1 << 20) - 1;
/// The largest user or logon payload.
pub const USER_PAYLOAD_MAX: usize = 32767;
/// What each link costs its keyring's owner in quota bytes (KEYQUOTA_LINK_BYTES).
pub const LINK_BYTES: usize = 4;
/// How deep keyrings nest below the one searched (KEYRING_SEARCH_MAX_DEPTH).
pub const MAX_DEPTH: usize = 6;
/// How long a negative key from a failed request_key construction lasts (s).
pub const NEGATIVE_TIMEOUT_S: u64 = 60;
/// Links one keyring holds at most (Kestrel's cap; Linux bounds them by quota
/// only): ENFILE past it.
pub const KEYRING_MAX_LINKS: usize = 65536;
/// Keys the whole system holds at most (Kestrel's cap on kernel memory; Linux
/// stops at its per-user quotas): ENOMEM past it.
pub const MAX_KEYS: usize = 65536;

const NS: u64 = 1_000_000_000;

/// The key types Kestrel has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Keyring,
    User,
    /// A user key that user space may not read back.
    Logon,
    /// A user key for large payloads (up to 1 MiB - 1).
    BigKey,
}

impl KeyType {
    /// The type named `name` (None: ENODEV).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"keyring" => Self::Keyring,
            b"user" => Self::User,
            b"logon" => Self::Logon,
            b"big_key" => Self::BigKey,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Keyring => "keyring",
            Self::User => "user",
            Self::Logon => "logon",
            Self::BigKey => "big_key",
        }
    }

    /// Whether KEYCTL_READ can read it.
    fn readable(self) -> bool {
        !matches!(self, Self::Logon)
    }

    /// Whether it can be updated (add_key over it, KEYCTL_UPDATE).
    fn updatable(self) -> bool {
        !matches!(self, Self::Keyring)
    }

    /// Checks a payload for a new key or an update (the type's preparse).
    fn check_payload(self, payload: &[u8]) -> KResult<()> {
        let ok = match self {
            Self::Keyring => payload.is_empty(),
            Self::User | Self::Logon => !payload.is_empty() && payload.len() <= USER_PAYLOAD_MAX,
            Self::BigKey => !payload.is_empty() && payload.len() <= PAYLOAD_MAX,
        };
        if ok { Ok(()) } else { Err(Errno::EINVAL) }
    }

    /// Checks a description: a logon key's must be "service:name".
    fn check_description(self, desc: &[u8]) -> KResult<()> {
        if self == Self::Logon {
            match desc.iter().position(|&c| c == b':') {
                Some(i) if i > 0 => {}
                _ => return Err(Errno::EINVAL),
            }
        }
        Ok(())
    }
}

/// Checks a type name given to add_key, request_key or KEYCTL_SEARCH: names
/// starting with '.' are the kernel's own (EPERM); empty or 32 bytes or more
/// is EINVAL (the caller reads at most 32).
pub fn check_type_name(name: &[u8]) -> KResult<()> {
    if name.is_empty() || name.len() >= KEY_TYPE_MAX {
        return Err(Errno::EINVAL);
    }
    if name[0] == b'.' {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// The per-user limits (/proc/sys/kernel/keys).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub maxkeys: usize,
    pub maxbytes: usize,
    pub root_maxkeys: usize,
    pub root_maxbytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            maxkeys: 200,
            maxbytes: 20000,
            root_maxkeys: 1_000_000,
            root_maxbytes: 25_000_000,
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The real uid: whose user keyrings KEY_SPEC_USER_* are.
    pub ruid: u32,
    /// The file-system uid and gid: who owns new keys, and who permission
    /// checks are about.
    pub fsuid: u32,
    pub fsgid: u32,
    pub groups: &'a [u32],
    /// CAP_SYS_ADMIN: may chown keys and set any key's permissions.
    pub sys_admin: bool,
    /// Now, in nanoseconds of any clock that does not go back (expiry).
    pub now_ns: u64,
}

impl Caller<'_> {
    fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.contains(&gid)
    }
}

/// A process's keyrings, as the kernel keeps them for the calling thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slots {
    pub thread: Option<Serial>,
    pub process: Option<Serial>,
    pub session: Option<Serial>,
    /// KEYCTL_SET_REQKEY_KEYRING's setting (KEY_REQKEY_DEFL_*).
    pub reqkey: i32,
}

/// What a lookup of a key id wants of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// These permission bits.
    Perm(u32),
    /// Nothing now: the caller checks (KEYCTL_READ).
    Defer,
    /// Nothing (KEYCTL_UNLINK: the keyring's write permission is enough).
    Unlink,
}

/// Lookup flags.
pub const LOOKUP_CREATE: u32 = 1;
pub const LOOKUP_PARTIAL: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Uninstantiated,
    Positive,
    Negative(Errno),
}

#[derive(Debug)]
struct Key {
    ktype: KeyType,
    desc: Vec<u8>,
    payload: Vec<u8>,
    /// A keyring's links, in the order they were made.
    links: Vec<Serial>,
    uid: u32,
    /// u32::MAX: no group (shown as 65534, the overflow gid).
    gid: u32,
    perm: u32,
    state: State,
    revoked: bool,
    invalidated: bool,
    /// When it expires (0: never).
    expiry_ns: u64,
    usage: u32,
    /// Quota bytes charged to `uid` for it.
    quotalen: usize,
    /// A user's _uid.N or _uid_ses.N keyring.
    uid_keyring: bool,
    /// KEYCTL_RESTRICT_KEYRING with no type: no more links.
    restricted: bool,
}

impl Key {
    fn expired(&self, now: u64) -> bool {
        self.expiry_ns != 0 && now >= self.expiry_ns
    }

    /// Linux's key_validate: whether it can be used at all.
    fn validate(&self, now: u64) -> KResult<()> {
        if self.invalidated {
            return Err(Errno::ENOKEY);
        }
        if self.revoked {
            return Err(Errno::EKEYREVOKED);
        }
        if self.expired(now) {
            return Err(Errno::EKEYEXPIRED);
        }
        Ok(())
    }

    fn is_keyring(&self) -> bool {
        self.ktype == KeyType::Keyring
    }
}

/// One user's quota use (/proc/key-users).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyUser {
    pub nkeys: usize,
    pub nikeys: usize,
    pub qnkeys: usize,
    pub qnbytes: usize,
}

/// Whether a new key may push its owner past the quota (Linux's
/// KEY_ALLOC_QUOTA_OVERRUN, for the keyrings the kernel makes on demand).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quota {
    Check,
    Overrun,
}

/// The key table.
pub struct Keys {
    keys: BTreeMap<Serial, Key>,
    users: BTreeMap<u32, KeyUser>,
    /// Each user's (_uid.N, _uid_ses.N), made on first use and kept (each entry
    /// holds a reference).
    user_keyrings: BTreeMap<u32, (Serial, Serial)>,
    rng: u32,
    pub limits: Limits,
}

impl Keys {
    /// An empty table; `seed` picks the serial numbers (random, as Linux's).
    pub const fn new(seed: u32) -> Self {
        Self {
            keys: BTreeMap::new(),
            users: BTreeMap::new(),
            user_keyrings: BTreeMap::new(),
            rng: if seed == 0 { 0x2545_f491 } else { seed },
            limits: Limits {
                maxkeys: 200,
                maxbytes: 20000,
                root_maxkeys: 1_000_000,
                root_maxbytes: 25_000_000,
            },
        }
    }

    /// Mixes `seed` into the serial numbers still to come.
    pub fn reseed(&mut self, seed: u32) {
        self.rng ^= seed;
        if self.rng == 0 {
            self.rng = 0x2545_f491;
        }
    }

    /// How many keys exist.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `serial` names a key.
    pub fn exists(&self, serial: Serial) -> bool {
        self.keys.contains_key(&serial)
    }

    fn next_serial(&mut self) -> Serial {
        loop {
            // xorshift32
            let mut x = self.rng;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.rng = x;
            let s = (x & 0x7fff_ffff) as Serial;
            if s >= 3 && !self.keys.contains_key(&s) {
                return s;
            }
        }
    }

    fn key(&self, s: Serial) -> KResult<&Key> {
        self.keys.get(&s).ok_or(Errno::ENOKEY)
    }

    fn key_mut(&mut self, s: Serial) -> KResult<&mut Key> {
        self.keys.get_mut(&s).ok_or(Errno::ENOKEY)
    }

    fn quota_limits(&self, uid: u32) -> (usize, usize) {
        if uid == 0 {
            (self.limits.root_maxkeys, self.limits.root_maxbytes)
        } else {
            (self.limits.maxkeys, self.limits.maxbytes)
        }
    }

    /// Charges `uid` `keys` more keys and `bytes` more bytes (EDQUOT past its
    /// limits unless `quota` is Overrun). Negative deltas never fail.
    fn charge(&mut self, uid: u32, keys: isize, bytes: isize, quota: Quota) -> KResult<()> {
        let (maxkeys, maxbytes) = self.quota_limits(uid);
        let u = self.users.entry(uid).or_default();
        let nk = u.qnkeys as isize + keys;
        let nb = u.qnbytes as isize + bytes;
        if quota == Quota::Check
            && ((keys > 0 && nk as usize > maxkeys) || (bytes > 0 && nb as usize > maxbytes))
        {
            return Err(Errno::EDQUOT);
        }
        u.qnkeys = nk.max(0) as usize;
        u.qnbytes = nb.max(0) as usize;
        Ok(())
    }

    /// Makes a key with one reference (the caller's), charged to `uid`.
    #[allow(clippy::too_many_arguments)]
    fn alloc(
        &mut self,
        ktype: KeyType,
        desc: &[u8],
        uid: u32,
        gid: u32,
        perm: u32,
        quota: Quota,
    ) -> KResult<Serial> {
        if self.keys.len() >= MAX_KEYS {
            return Err(Errno::ENOMEM);
        }
        let quotalen = desc.len() + 1;
        self.charge(uid, 1, quotalen as isize, quota)?;
        let s = self.next_serial();
        self.keys.insert(
            s,
            Key {
                ktype,
                desc: desc.to_vec(),
                payload: Vec::new(),
                links: Vec::new(),
                uid,
                gid,
                perm,
                state: State::Uninstantiated,
                revoked: false,
                invalidated: false,
                expiry_ns: 0,
                usage: 1,
                quotalen,
                uid_keyring: false,
                restricted: false,
            },
        );
        self.users.entry(uid).or_default().nkeys += 1;
        Ok(s)
    }

    /// Changes the quota bytes charged for `s` to its description plus
    /// `datalen` (Linux's key_payload_reserve): EDQUOT past the owner's limit.
    fn reserve(&mut self, s: Serial, datalen: usize, quota: Quota) -> KResult<()> {
        let k = self.key(s)?;
        let want = k.desc.len() + 1 + datalen;
        let delta = want as isize - k.quotalen as isize;
        let uid = k.uid;
        self.charge(uid, 0, delta, quota)?;
        self.key_mut(s)?.quotalen = want;
        Ok(())
    }

    /// Makes a key positive with `payload` (its bytes charged).
    fn instantiate(&mut self, s: Serial, payload: Vec<u8>, quota: Quota) -> KResult<()> {
        self.reserve(s, payload.len(), quota)?;
        let k = self.key_mut(s)?;
        let was = k.state;
        k.payload = payload;
        k.state = State::Positive;
        let uid = k.uid;
        if was != State::Positive {
            self.users.entry(uid).or_default().nikeys += 1;
        }
        Ok(())
    }

    /// Takes one more reference on `s`.
    pub fn get(&mut self, s: Serial) {
        if let Some(k) = self.keys.get_mut(&s) {
            k.usage += 1;
        }
    }

    /// Drops one reference on `s`; the last destroys it and drops its links.
    pub fn put(&mut self, s: Serial) {
        let mut work = alloc::vec![s];
        while let Some(s) = work.pop() {
            let Some(k) = self.keys.get_mut(&s) else {
                continue;
            };
            k.usage = k.usage.saturating_sub(1);
            if k.usage > 0 {
                continue;
            }
            let k = self.keys.remove(&s).expect("present");
            let u = self.users.entry(k.uid).or_default();
            u.nkeys = u.nkeys.saturating_sub(1);
            if k.state == State::Positive {
                u.nikeys = u.nikeys.saturating_sub(1);
            }
            u.qnkeys = u.qnkeys.saturating_sub(1);
            u.qnbytes = u.qnbytes.saturating_sub(k.quotalen);
            work.extend(k.links);
        }
    }

    /// Drops every reference `slots` holds.
    pub fn release(&mut self, slots: &mut Slots) {
        for s in [
            slots.thread.take(),
            slots.process.take(),
            slots.session.take(),
        ]
        .into_iter()
        .flatten()
        {
            self.put(s);
        }
    }

    /// A new thread's keyrings (clone with CLONE_THREAD): the creator's
    /// process and session keyrings, and a thread keyring of its own if the
    /// creator had one. Takes the references the new slots hold.
    pub fn new_thread(&mut self, creator: &Slots, caller: &Caller) -> Slots {
        let mut s = Slots {
            thread: None,
            ..*creator
        };
        if creator.thread.is_some() {
            let _ = self.thread_keyring(&mut s, caller);
        }
        s
    }

    /// The permission bits `caller` has on `k`.
    fn perm_of(k: &Key, caller: &Caller, possessed: bool) -> u32 {
        let mut p = if k.uid == caller.fsuid {
            k.perm >> 16
        } else if k.gid != u32::MAX && k.perm & (KEY_ALL << 8) != 0 && caller.in_group(k.gid) {
            k.perm >> 8
        } else {
            k.perm
        };
        if possessed {
            p |= k.perm >> 24;
        }
        p & KEY_ALL
    }

    fn permits(&self, s: Serial, caller: &Caller, possessed: bool, need: u32) -> bool {
        self.keys
            .get(&s)
            .is_some_and(|k| Self::perm_of(k, caller, possessed) & need == need)
    }

    /// The keyrings a process searches first: its thread, process and session
    /// keyrings (the user session keyring when it has no session).
    fn top_keyrings(&self, slots: &Slots, caller: &Caller) -> Vec<Serial> {
        let mut v: Vec<Serial> = [slots.thread, slots.process]
            .into_iter()
            .flatten()
            .collect();
        match slots.session {
            Some(s) => v.push(s),
            None => {
                if let Some(&(_, ses)) = self.user_keyrings.get(&caller.ruid) {
                    v.push(ses)
                }
            }
        }
        v
    }

    /// Every key the process possesses: its keyrings, and what can be found
    /// from them through keyrings it may search (possessor rights apply along
    /// the way), each checked for search permission itself.
    fn possessed_set(&self, slots: &Slots, caller: &Caller) -> BTreeSet<Serial> {
        let mut set = BTreeSet::new();
        let mut queue: Vec<(Serial, usize)> = Vec::new();
        for s in self.top_keyrings(slots, caller) {
            if set.insert(s) {
                queue.push((s, 0));
            }
        }
        while let Some((r, depth)) = queue.pop() {
            let Some(k) = self.keys.get(&r) else { continue };
            if !k.is_keyring()
                || k.validate(caller.now_ns).is_err()
                || Self::perm_of(k, caller, true) & KEY_SEARCH == 0
            {
                continue;
            }
            for &l in &k.links {
                if set.contains(&l) {
                    continue;
                }
                let Some(lk) = self.keys.get(&l) else {
                    continue;
                };
                if Self::perm_of(lk, caller, true) & KEY_SEARCH == 0 {
                    continue;
                }
                set.insert(l);
                if lk.is_keyring() && depth < MAX_DEPTH {
                    queue.push((l, depth + 1));
                }
            }
        }
        set
    }

    fn possessed(&self, slots: &Slots, caller: &Caller, s: Serial) -> bool {
        self.possessed_set(slots, caller).contains(&s)
    }

    /// A new keyring for a process slot.
    fn new_keyring(
        &mut self,
        desc: &[u8],
        caller: &Caller,
        perm: u32,
        quota: Quota,
    ) -> KResult<Serial> {
        let s = self.alloc(
            KeyType::Keyring,
            desc,
            caller.fsuid,
            caller.fsgid,
            perm,
            quota,
        )?;
        if let Err(e) = self.instantiate(s, Vec::new(), quota) {
            self.put(s);
            return Err(e);
        }
        Ok(s)
    }

    /// `uid`'s user and user session keyrings, made on first use (the user
    /// keyring linked in the session one). Found by uid, never by name, so a
    /// keyring someone else named "_uid.N" is not N's.
    pub fn user_keyrings(&mut self, uid: u32, caller: &Caller) -> KResult<(Serial, Serial)> {
        if let Some(&p) = self.user_keyrings.get(&uid) {
            return Ok(p);
        }
        let perm = ((KEY_ALL & !KEY_SETATTR) << 24) | (KEY_ALL << 16);
        let mk = |this: &mut Self, desc: String| -> KResult<Serial> {
            let s = this.alloc(
                KeyType::Keyring,
                desc.as_bytes(),
                uid,
                u32::MAX,
                perm,
                Quota::Check,
            )?;
            if let Err(e) = this.instantiate(s, Vec::new(), Quota::Check) {
                this.put(s);
                return Err(e);
            }
            this.key_mut(s)?.uid_keyring = true;
            Ok(s)
        };
        let user = mk(self, format!("_uid.{uid}"))?;
        let ses = match mk(self, format!("_uid_ses.{uid}")) {
            Ok(s) => s,
            Err(e) => {
                self.put(user);
                return Err(e);
            }
        };
        let _ = caller;
        if let Err(e) = self.link_in(ses, user) {
            self.put(user);
            self.put(ses);
            return Err(e);
        }
        self.user_keyrings.insert(uid, (user, ses));
        Ok((user, ses))
    }

    fn thread_keyring(&mut self, slots: &mut Slots, caller: &Caller) -> KResult<Serial> {
        if let Some(s) = slots.thread {
            return Ok(s);
        }
        let s = self.new_keyring(
            b"_tid",
            caller,
            (KEY_ALL << 24) | (KEY_VIEW << 16),
            Quota::Overrun,
        )?;
        slots.thread = Some(s);
        Ok(s)
    }

    fn process_keyring(&mut self, slots: &mut Slots, caller: &Caller) -> KResult<Serial> {
        if let Some(s) = slots.process {
            return Ok(s);
        }
        let s = self.new_keyring(
            b"_pid",
            caller,
            (KEY_ALL << 24) | (KEY_VIEW << 16),
            Quota::Overrun,
        )?;
        slots.process = Some(s);
        Ok(s)
    }

    /// Replaces the session keyring with `s` (whose reference `slots` takes).
    fn install_session(&mut self, slots: &mut Slots, s: Serial) {
        if let Some(old) = slots.session.replace(s) {
            self.put(old);
        }
    }

    /// Resolves a key id as Linux's lookup_user_key: special ids name the
    /// process's keyrings (made on demand, some only with LOOKUP_CREATE),
    /// others a key by serial. Checks the key's state (unless LOOKUP_PARTIAL
    /// asks for less) and `need`. Returns the key and whether the caller
    /// possesses it.
    pub fn lookup(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
        flags: u32,
        need: Need,
    ) -> KResult<(Serial, bool)> {
        let create = flags & LOOKUP_CREATE != 0;
        let (s, possessed) = match id {
            KEY_SPEC_THREAD_KEYRING => match slots.thread {
                Some(s) => (s, true),
                None if create => (self.thread_keyring(slots, caller)?, true),
                None => return Err(Errno::ENOKEY),
            },
            KEY_SPEC_PROCESS_KEYRING => match slots.process {
                Some(s) => (s, true),
                None if create => (self.process_keyring(slots, caller)?, true),
                None => return Err(Errno::ENOKEY),
            },
            KEY_SPEC_SESSION_KEYRING => match slots.session {
                Some(s) => (s, true),
                None => {
                    let (_, ses) = self.user_keyrings(caller.ruid, caller)?;
                    if create {
                        (self.join_session(slots, caller, None)?, true)
                    } else {
                        self.get(ses);
                        self.install_session(slots, ses);
                        (ses, true)
                    }
                }
            },
            KEY_SPEC_USER_KEYRING => (self.user_keyrings(caller.ruid, caller)?.0, true),
            KEY_SPEC_USER_SESSION_KEYRING => (self.user_keyrings(caller.ruid, caller)?.1, true),
            // No request_key authorisation is ever held (no upcall runs).
            KEY_SPEC_REQKEY_AUTH_KEY | KEY_SPEC_REQUESTOR_KEYRING => return Err(Errno::ENOKEY),
            i if i < 1 => return Err(Errno::EINVAL),
            s => {
                let k = self.key(s)?;
                if k.usage == 0 {
                    return Err(Errno::ENOKEY);
                }
                (s, self.possessed(slots, caller, s))
            }
        };
        let k = self.key(s)?;
        if flags & LOOKUP_PARTIAL == 0 {
            match k.state {
                State::Negative(e) if need != Need::Defer => return Err(e),
                State::Uninstantiated => return Err(Errno::EIO),
                _ => {}
            }
            if need != Need::Defer {
                k.validate(caller.now_ns)?;
            }
        } else if need != Need::Defer && need != Need::Unlink {
            k.validate(caller.now_ns)?;
        }
        if let Need::Perm(p) = need
            && Self::perm_of(k, caller, possessed) & p != p
        {
            return Err(Errno::EACCES);
        }
        Ok((s, possessed))
    }

    /// Whether keyring `key` may be linked under `ring`: EDEADLK if `ring`
    /// can be reached from it (or is it), ELOOP if keyrings nest MAX_DEPTH
    /// deep below it. Walks level by level and no deeper than that, so a long
    /// chain made from the top down costs no more than a short one.
    fn check_nesting(&self, key: Serial, ring: Serial) -> KResult<()> {
        let mut level = BTreeSet::new();
        level.insert(key);
        for depth in 0..MAX_DEPTH {
            if level.contains(&ring) {
                return Err(Errno::EDEADLK);
            }
            let mut next = BTreeSet::new();
            for s in &level {
                let Some(k) = self.keys.get(s) else { continue };
                for l in &k.links {
                    if self.keys.get(l).is_some_and(|lk| lk.is_keyring()) {
                        next.insert(*l);
                    }
                }
            }
            if next.is_empty() {
                return Ok(());
            }
            if depth + 2 >= MAX_DEPTH {
                return Err(if next.contains(&ring) {
                    Errno::EDEADLK
                } else {
                    Errno::ELOOP
                });
            }
            level = next;
        }
        Err(Errno::ELOOP)
    }

    /// Links `key` into keyring `ring` (no permission checks): a link to a key
    /// of the same type and description is replaced; a new one costs the
    /// keyring's owner LINK_BYTES of quota.
    fn link_in(&mut self, ring: Serial, key: Serial) -> KResult<()> {
        let r = self.key(ring)?;
        if !r.is_keyring() {
            return Err(Errno::ENOTDIR);
        }
        if r.restricted {
            return Err(Errno::EPERM);
        }
        let k = self.key(key)?;
        if k.is_keyring() {
            self.check_nesting(key, ring)?;
        }
        let (kt, kd) = (k.ktype, k.desc.clone());
        let r = self.key(ring)?;
        let same = r.links.iter().position(|&l| {
            self.keys
                .get(&l)
                .is_some_and(|lk| lk.ktype == kt && lk.desc == kd)
        });
        match same {
            Some(i) => {
                let old = r.links[i];
                if old == key {
                    return Ok(());
                }
                self.get(key);
                self.key_mut(ring)?.links[i] = key;
                self.put(old);
            }
            None => {
                if r.links.len() >= KEYRING_MAX_LINKS {
                    return Err(Errno::ENFILE);
                }
                let n = r.links.len() + 1;
                self.reserve(ring, n * LINK_BYTES, Quota::Check)?;
                self.get(key);
                self.key_mut(ring)?.links.push(key);
            }
        }
        Ok(())
    }

    /// Removes `key`'s link from `ring` (ENOENT if there is none).
    fn unlink_from(&mut self, ring: Serial, key: Serial) -> KResult<()> {
        let r = self.key(ring)?;
        if !r.is_keyring() {
            return Err(Errno::ENOTDIR);
        }
        let i = r
            .links
            .iter()
            .position(|&l| l == key)
            .ok_or(Errno::ENOENT)?;
        let n = r.links.len() - 1;
        self.key_mut(ring)?.links.remove(i);
        let _ = self.reserve(ring, n * LINK_BYTES, Quota::Overrun);
        self.put(key);
        Ok(())
    }

    /// Drops every link of keyring `ring`.
    fn clear_links(&mut self, ring: Serial) -> KResult<()> {
        let r = self.key_mut(ring)?;
        if r.ktype != KeyType::Keyring {
            return Err(Errno::ENOTDIR);
        }
        let links = core::mem::take(&mut r.links);
        let _ = self.reserve(ring, 0, Quota::Overrun);
        for l in links {
            self.put(l);
        }
        Ok(())
    }

    /// The default permissions of a new key of `ktype`.
    fn default_perm(ktype: KeyType) -> u32 {
        let mut pos = KEY_VIEW | KEY_SEARCH | KEY_LINK | KEY_SETATTR;
        if ktype.readable() {
            pos |= KEY_READ;
        }
        if ktype == KeyType::Keyring || ktype.updatable() {
            pos |= KEY_WRITE;
        }
        (pos << 24) | (KEY_VIEW << 16)
    }

    /// add_key(2): creates a key in keyring `ringid`, or updates the one of the
    /// same type and description linked there. `ktype` has passed
    /// [`check_type_name`].
    pub fn add_key(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        ktype: &[u8],
        desc: Option<&[u8]>,
        payload: Vec<u8>,
        ringid: i32,
    ) -> KResult<Serial> {
        let (ring, ring_possessed) =
            self.lookup(slots, caller, ringid, LOOKUP_CREATE, Need::Perm(KEY_WRITE))?;
        let ktype = KeyType::from_name(ktype).ok_or(Errno::ENODEV)?;
        if !self.key(ring)?.is_keyring() {
            return Err(Errno::ENOTDIR);
        }
        ktype.check_payload(&payload)?;
        let desc = desc.ok_or(Errno::EINVAL)?;
        ktype.check_description(desc)?;
        if self.key(ring)?.restricted {
            return Err(Errno::EPERM);
        }
        if ktype.updatable() {
            let existing = self.key(ring)?.links.iter().copied().find(|&l| {
                self.keys.get(&l).is_some_and(|k| {
                    k.ktype == ktype && k.desc == desc && !k.revoked && !k.invalidated
                })
            });
            if let Some(e) = existing {
                if !self.permits(e, caller, ring_possessed, KEY_WRITE) {
                    return Err(Errno::EACCES);
                }
                self.update_payload(e, payload)?;
                return Ok(e);
            }
        }
        let s = self.alloc(
            ktype,
            desc,
            caller.fsuid,
            caller.fsgid,
            Self::default_perm(ktype),
            Quota::Check,
        )?;
        let r = self
            .instantiate(s, payload, Quota::Check)
            .and_then(|()| self.link_in(ring, s));
        // The link holds the key now; the creator's reference goes.
        self.put(s);
        r.map(|()| s)
    }

    fn update_payload(&mut self, s: Serial, payload: Vec<u8>) -> KResult<()> {
        let ktype = self.key(s)?.ktype;
        ktype.check_payload(&payload)?;
        self.instantiate(s, payload, Quota::Check)
    }

    /// KEYCTL_GET_KEYRING_ID.
    pub fn get_keyring_id(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
        create: bool,
    ) -> KResult<Serial> {
        let flags = if create { LOOKUP_CREATE } else { 0 };
        Ok(self
            .lookup(slots, caller, id, flags, Need::Perm(KEY_SEARCH))?
            .0)
    }

    /// KEYCTL_JOIN_SESSION_KEYRING: a new anonymous session keyring, or the
    /// keyring called `name` (made if the caller can find none it may search).
    /// Returns its serial (0 when `name` is the session keyring already, as
    /// Linux does).
    pub fn join_session(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        name: Option<&[u8]>,
    ) -> KResult<Serial> {
        let Some(name) = name else {
            let s = self.new_keyring(
                b"_ses",
                caller,
                (KEY_ALL << 24) | ((KEY_VIEW | KEY_READ) << 16),
                Quota::Overrun,
            )?;
            self.install_session(slots, s);
            return Ok(s);
        };
        if name.is_empty() {
            return Err(Errno::EINVAL);
        }
        if name[0] == b'.' {
            return Err(Errno::EPERM);
        }
        let found = self.keys.iter().find_map(|(&s, k)| {
            (k.is_keyring()
                && k.desc == name
                && !k.uid_keyring
                && k.validate(caller.now_ns).is_ok()
                && Self::perm_of(k, caller, false) & KEY_SEARCH != 0)
                .then_some(s)
        });
        match found {
            Some(s) if slots.session == Some(s) => Ok(0),
            Some(s) => {
                self.get(s);
                self.install_session(slots, s);
                Ok(s)
            }
            None => {
                let s = self.new_keyring(
                    name,
                    caller,
                    (KEY_ALL << 24) | ((KEY_VIEW | KEY_READ | KEY_LINK) << 16),
                    Quota::Check,
                )?;
                self.install_session(slots, s);
                Ok(s)
            }
        }
    }

    /// KEYCTL_UPDATE.
    pub fn update(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
        payload: Vec<u8>,
    ) -> KResult<()> {
        let (s, _) = self.lookup(slots, caller, id, 0, Need::Perm(KEY_WRITE))?;
        if !self.key(s)?.ktype.updatable() {
            return Err(Errno::EOPNOTSUPP);
        }
        self.update_payload(s, payload)
    }

    /// KEYCTL_REVOKE: write or setattr permission; a revoked keyring loses its
    /// links, a revoked key its payload.
    pub fn revoke(&mut self, slots: &mut Slots, caller: &Caller, id: i32) -> KResult<()> {
        let s = match self.lookup(slots, caller, id, 0, Need::Perm(KEY_WRITE)) {
            Ok((s, _)) => s,
            Err(Errno::EACCES) => {
                self.lookup(slots, caller, id, 0, Need::Perm(KEY_SETATTR))?
                    .0
            }
            Err(e) => return Err(e),
        };
        let k = self.key_mut(s)?;
        k.revoked = true;
        if k.is_keyring() {
            self.clear_links(s)?;
        } else {
            k.payload = Vec::new();
            let _ = self.reserve(s, 0, Quota::Overrun);
        }
        Ok(())
    }

    /// KEYCTL_CHOWN (u32::MAX: unchanged).
    pub fn chown(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
        uid: u32,
        gid: u32,
    ) -> KResult<()> {
        if uid == u32::MAX && gid == u32::MAX {
            return Ok(());
        }
        let (s, _) = self.lookup(slots, caller, id, LOOKUP_PARTIAL, Need::Perm(KEY_SETATTR))?;
        let k = self.key(s)?;
        if !caller.sys_admin {
            if uid != u32::MAX && uid != k.uid {
                return Err(Errno::EACCES);
            }
            if gid != u32::MAX && gid != k.gid && !caller.in_group(gid) {
                return Err(Errno::EACCES);
            }
        }
        if uid != u32::MAX && uid != k.uid {
            let (old, len, positive) = (k.uid, k.quotalen, k.state == State::Positive);
            self.charge(uid, 1, len as isize, Quota::Check)?;
            self.charge(old, -1, -(len as isize), Quota::Overrun)?;
            let o = self.users.entry(old).or_default();
            o.nkeys = o.nkeys.saturating_sub(1);
            if positive {
                o.nikeys = o.nikeys.saturating_sub(1);
            }
            let n = self.users.entry(uid).or_default();
            n.nkeys += 1;
            if positive {
                n.nikeys += 1;
            }
            self.key_mut(s)?.uid = uid;
        }
        if gid != u32::MAX {
            self.key_mut(s)?.gid = gid;
        }
        Ok(())
    }

    /// KEYCTL_SETPERM: the owner or CAP_SYS_ADMIN.
    pub fn setperm(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
        perm: u32,
    ) -> KResult<()> {
        if perm & !KEY_PERM_VALID != 0 {
            return Err(Errno::EINVAL);
        }
        let (s, _) = self.lookup(
            slots,
            caller,
            id,
            LOOKUP_CREATE | LOOKUP_PARTIAL,
            Need::Perm(KEY_SETATTR),
        )?;
        let k = self.key_mut(s)?;
        if k.uid != caller.fsuid && !caller.sys_admin {
            return Err(Errno::EACCES);
        }
        k.perm = perm;
        Ok(())
    }

    /// KEYCTL_DESCRIBE's text, NUL included: "type;uid;gid;perm;description".
    pub fn describe(&mut self, slots: &mut Slots, caller: &Caller, id: i32) -> KResult<Vec<u8>> {
        let (s, _) = self.lookup(slots, caller, id, LOOKUP_PARTIAL, Need::Perm(KEY_VIEW))?;
        let k = self.key(s)?;
        let mut v = format!(
            "{};{};{};{:08x};",
            k.ktype.name(),
            k.uid,
            shown_gid(k.gid),
            k.perm
        )
        .into_bytes();
        v.extend_from_slice(&k.desc);
        v.push(0);
        Ok(v)
    }

    /// KEYCTL_CLEAR.
    pub fn clear(&mut self, slots: &mut Slots, caller: &Caller, id: i32) -> KResult<()> {
        let (s, _) = self.lookup(slots, caller, id, LOOKUP_CREATE, Need::Perm(KEY_WRITE))?;
        self.clear_links(s)
    }

    /// KEYCTL_LINK.
    pub fn link(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
        ringid: i32,
    ) -> KResult<()> {
        let (ring, _) = self.lookup(slots, caller, ringid, LOOKUP_CREATE, Need::Perm(KEY_WRITE))?;
        let (key, _) = self.lookup(slots, caller, id, LOOKUP_CREATE, Need::Perm(KEY_LINK))?;
        self.link_in(ring, key)
    }

    /// KEYCTL_UNLINK.
    pub fn unlink(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
        ringid: i32,
    ) -> KResult<()> {
        let (ring, _) = self.lookup(slots, caller, ringid, 0, Need::Perm(KEY_WRITE))?;
        let (key, _) = self.lookup(slots, caller, id, LOOKUP_PARTIAL, Need::Unlink)?;
        self.unlink_from(ring, key)
    }

    /// Searches keyring `ring` and those nested in it (that the caller may
    /// search) for a key of `ktype` and `desc`: the first usable one, else
    /// the error of the last unusable match (expired, revoked, negative), else
    /// ENOKEY.
    fn search_tree(
        &self,
        ring: Serial,
        possessed: bool,
        caller: &Caller,
        ktype: KeyType,
        desc: &[u8],
        err: &mut Option<Errno>,
    ) -> Option<Serial> {
        let mut level = alloc::vec![ring];
        let mut seen = BTreeSet::new();
        seen.insert(ring);
        for _ in 0..=MAX_DEPTH {
            let mut next = Vec::new();
            for &r in &level {
                let Some(rk) = self.keys.get(&r) else {
                    continue;
                };
                for &l in &rk.links {
                    let Some(k) = self.keys.get(&l) else { continue };
                    if k.ktype == ktype && k.desc == desc {
                        if Self::perm_of(k, caller, possessed) & KEY_SEARCH == 0 {
                            continue;
                        }
                        if k.revoked || k.invalidated {
                            *err = Some(Errno::EKEYREVOKED);
                            continue;
                        }
                        if k.expired(caller.now_ns) {
                            *err = Some(Errno::EKEYEXPIRED);
                            continue;
                        }
                        if let State::Negative(e) = k.state {
                            *err = Some(e);
                            continue;
                        }
                        return Some(l);
                    }
                    if k.is_keyring()
                        && !seen.contains(&l)
                        && k.validate(caller.now_ns).is_ok()
                        && Self::perm_of(k, caller, possessed) & KEY_SEARCH != 0
                    {
                        seen.insert(l);
                        next.push(l);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        None
    }

    /// KEYCTL_SEARCH: finds a key under `ringid`, links it in `destid` if
    /// that is not 0.
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        ringid: i32,
        ktype: &[u8],
        desc: &[u8],
        destid: i32,
    ) -> KResult<Serial> {
        let (ring, possessed) = self.lookup(slots, caller, ringid, 0, Need::Perm(KEY_SEARCH))?;
        let dest = if destid != 0 {
            Some(
                self.lookup(slots, caller, destid, LOOKUP_CREATE, Need::Perm(KEY_WRITE))?
                    .0,
            )
        } else {
            None
        };
        // Only add_key says ENODEV; a lookup of an unknown type is ENOKEY.
        let ktype = KeyType::from_name(ktype).ok_or(Errno::ENOKEY)?;
        if !self.key(ring)?.is_keyring() {
            return Err(Errno::ENOTDIR);
        }
        let mut err = None;
        let found = self
            .search_tree(ring, possessed, caller, ktype, desc, &mut err)
            .ok_or(err.unwrap_or(Errno::ENOKEY))?;
        if let Some(d) = dest {
            if !self.permits(found, caller, possessed, KEY_LINK) {
                return Err(Errno::EACCES);
            }
            self.link_in(d, found)?;
        }
        Ok(found)
    }

    /// KEYCTL_READ: the payload (a keyring's: its links' serials, 4 bytes
    /// each). Any failure to find the key is ENOKEY, as in Linux.
    pub fn read(&mut self, slots: &mut Slots, caller: &Caller, id: i32) -> KResult<Vec<u8>> {
        let (s, possessed) = self
            .lookup(slots, caller, id, 0, Need::Defer)
            .map_err(|_| Errno::ENOKEY)?;
        let k = self.key(s)?;
        if let State::Negative(e) = k.state {
            return Err(e);
        }
        if !self.permits(s, caller, possessed, KEY_READ) && !possessed {
            return Err(Errno::EACCES);
        }
        if !k.ktype.readable() {
            return Err(Errno::EOPNOTSUPP);
        }
        k.validate(caller.now_ns)?;
        Ok(if k.is_keyring() {
            k.links.iter().flat_map(|l| l.to_ne_bytes()).collect()
        } else {
            k.payload.clone()
        })
    }

    /// KEYCTL_SET_REQKEY_KEYRING: returns the old setting.
    pub fn set_reqkey(&mut self, slots: &mut Slots, caller: &Caller, defl: i32) -> KResult<i32> {
        let old = slots.reqkey;
        match defl {
            KEY_REQKEY_DEFL_NO_CHANGE => return Ok(old),
            KEY_REQKEY_DEFL_THREAD_KEYRING => {
                self.thread_keyring(slots, caller)?;
            }
            KEY_REQKEY_DEFL_PROCESS_KEYRING => {
                self.process_keyring(slots, caller)?;
            }
            KEY_REQKEY_DEFL_DEFAULT
            | KEY_REQKEY_DEFL_SESSION_KEYRING
            | KEY_REQKEY_DEFL_USER_KEYRING
            | KEY_REQKEY_DEFL_USER_SESSION_KEYRING
            | KEY_REQKEY_DEFL_REQUESTOR_KEYRING => {}
            _ => return Err(Errno::EINVAL),
        }
        slots.reqkey = defl;
        Ok(old)
    }

    /// KEYCTL_SET_TIMEOUT (seconds from now; 0: never).
    pub fn set_timeout(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
        timeout_s: u32,
    ) -> KResult<()> {
        let (s, _) = self.lookup(
            slots,
            caller,
            id,
            LOOKUP_CREATE | LOOKUP_PARTIAL,
            Need::Perm(KEY_SETATTR),
        )?;
        let k = self.key_mut(s)?;
        k.expiry_ns = if timeout_s == 0 {
            0
        } else {
            caller.now_ns.saturating_add(u64::from(timeout_s) * NS)
        };
        Ok(())
    }

    /// KEYCTL_INVALIDATE: search permission; the key is unlinked from every
    /// keyring at once.
    pub fn invalidate(&mut self, slots: &mut Slots, caller: &Caller, id: i32) -> KResult<()> {
        let (s, _) = self.lookup(slots, caller, id, 0, Need::Perm(KEY_SEARCH))?;
        self.key_mut(s)?.invalidated = true;
        let holders: Vec<Serial> = self
            .keys
            .iter()
            .filter(|(_, k)| k.links.contains(&s))
            .map(|(&r, _)| r)
            .collect();
        for r in holders {
            let _ = self.unlink_from(r, s);
        }
        Ok(())
    }

    /// KEYCTL_GET_SECURITY: no security module labels keys: "".
    pub fn get_security(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
    ) -> KResult<Vec<u8>> {
        self.lookup(slots, caller, id, LOOKUP_PARTIAL, Need::Perm(KEY_VIEW))?;
        Ok(alloc::vec![0])
    }

    /// KEYCTL_RESTRICT_KEYRING with neither type nor restriction: the keyring
    /// takes no more links (EEXIST if it was restricted already). A key type
    /// (none of Kestrel's has restrictions) is ENOENT, or ENOKEY if unknown.
    pub fn restrict(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        id: i32,
        ktype: Option<&[u8]>,
    ) -> KResult<()> {
        let (s, _) = self.lookup(slots, caller, id, 0, Need::Perm(KEY_SETATTR))?;
        if !self.key(s)?.is_keyring() {
            return Err(Errno::ENOTDIR);
        }
        if let Some(t) = ktype {
            return Err(if KeyType::from_name(t).is_some() {
                Errno::ENOENT
            } else {
                Errno::ENOKEY
            });
        }
        let k = self.key_mut(s)?;
        if k.restricted {
            return Err(Errno::EEXIST);
        }
        k.restricted = true;
        Ok(())
    }

    /// request_key(2) with no upcall: a usable key of `ktype` and `desc` found
    /// in the process's keyrings (linked into `destid` if not 0). Without one
    /// and without callout information, ENOKEY (or the error of an unusable
    /// match). With callout information Linux would run /sbin/request-key;
    /// Kestrel has none, so, as Linux does when that program is missing, a
    /// negative key is left in the destination keyring for 60 s and the
    /// answer is ENOENT.
    #[allow(clippy::too_many_arguments)]
    pub fn request_key(
        &mut self,
        slots: &mut Slots,
        caller: &Caller,
        ktype: &[u8],
        desc: &[u8],
        callout: bool,
        destid: i32,
    ) -> KResult<Serial> {
        let dest = if destid != 0 {
            Some(
                self.lookup(slots, caller, destid, LOOKUP_CREATE, Need::Perm(KEY_WRITE))?
                    .0,
            )
        } else {
            None
        };
        let ktype = KeyType::from_name(ktype).ok_or(Errno::ENOKEY)?;
        let mut err = None;
        let mut found = None;
        for top in self.top_keyrings(slots, caller) {
            if !self.permits(top, caller, true, KEY_SEARCH) {
                continue;
            }
            if let Some(s) = self.search_tree(top, true, caller, ktype, desc, &mut err) {
                found = Some(s);
                break;
            }
        }
        if let Some(s) = found {
            if let Some(d) = dest {
                self.link_in(d, s)?;
            }
            return Ok(s);
        }
        if let Some(e) = err {
            return Err(e);
        }
        if !callout {
            return Err(Errno::ENOKEY);
        }
        if ktype == KeyType::Keyring {
            return Err(Errno::EPERM);
        }
        let dest = match dest {
            Some(d) => d,
            None => self.default_dest(slots, caller)?,
        };
        if !self.permits(dest, caller, true, KEY_WRITE) {
            return Err(Errno::EACCES);
        }
        let s = self.alloc(
            ktype,
            desc,
            caller.fsuid,
            caller.fsgid,
            Self::default_perm(ktype),
            Quota::Check,
        )?;
        let r = self.link_in(dest, s);
        if let Ok(k) = self.key_mut(s) {
            k.state = State::Negative(Errno::ENOKEY);
            k.expiry_ns = caller.now_ns + NEGATIVE_TIMEOUT_S * NS;
        }
        self.put(s);
        r?;
        Err(Errno::ENOENT)
    }

    /// Where request_key puts a key it makes, by the KEYCTL_SET_REQKEY_KEYRING
    /// setting: the first of thread, process, session, user session keyring
    /// that exists, from the one named on.
    fn default_dest(&mut self, slots: &mut Slots, caller: &Caller) -> KResult<Serial> {
        let start = match slots.reqkey {
            KEY_REQKEY_DEFL_USER_KEYRING => return Ok(self.user_keyrings(caller.ruid, caller)?.0),
            KEY_REQKEY_DEFL_USER_SESSION_KEYRING => 3,
            KEY_REQKEY_DEFL_SESSION_KEYRING => 2,
            KEY_REQKEY_DEFL_PROCESS_KEYRING => 1,
            _ => 0,
        };
        let order = [slots.thread, slots.process, slots.session];
        if let Some(&s) = order.iter().skip(start).flatten().next() {
            return Ok(s);
        }
        Ok(self.user_keyrings(caller.ruid, caller)?.1)
    }

    /// /proc/keys: the keys the caller may view.
    pub fn proc_keys(&self, slots: &Slots, caller: &Caller) -> String {
        let possessed = self.possessed_set(slots, caller);
        let mut out = String::new();
        for (&s, k) in &self.keys {
            let pos = possessed.contains(&s);
            if Self::perm_of(k, caller, pos) & KEY_VIEW == 0 {
                continue;
            }
            let flags = [
                if k.state != State::Uninstantiated {
                    'I'
                } else {
                    '-'
                },
                if k.revoked { 'R' } else { '-' },
                '-',
                'Q',
                if k.state == State::Uninstantiated {
                    'U'
                } else {
                    '-'
                },
                if matches!(k.state, State::Negative(_)) {
                    'N'
                } else {
                    '-'
                },
                if k.invalidated { 'i' } else { '-' },
            ];
            let expiry = if k.expiry_ns == 0 {
                String::from("perm")
            } else if k.expired(caller.now_ns) {
                String::from("expd")
            } else {
                let t = (k.expiry_ns - caller.now_ns) / NS;
                match t {
                    0..60 => format!("{t}s"),
                    60..3600 => format!("{}m", t / 60),
                    3600..86400 => format!("{}h", t / 3600),
                    86400..604800 => format!("{}d", t / 86400),
                    _ => format!("{}w", t / 604800),
                }
            };
            let fl: String = flags.iter().collect();
            let desc = String::from_utf8_lossy(&k.desc);
            let what = match (k.ktype, k.state) {
                (_, State::Negative(_)) => format!("{desc}: negative"),
                (KeyType::Keyring, _) if k.links.is_empty() => format!("{desc}: empty"),
                (KeyType::Keyring, _) => format!("{desc}: {}", k.links.len()),
                _ => format!("{desc}: {}", k.payload.len()),
            };
            out.push_str(&format!(
                "{:08x} {} {:5} {:>4} {:08x} {:5} {:5} {:<9.9} {}\n",
                s,
                fl,
                k.usage,
                expiry,
                k.perm,
                k.uid,
                shown_gid(k.gid),
                k.ktype.name(),
                what
            ));
        }
        out
    }

    /// /proc/key-users.
    pub fn proc_key_users(&self) -> String {
        let mut out = String::new();
        for (&uid, u) in &self.users {
            if u.nkeys == 0 {
                continue;
            }
            let (mk, mb) = self.quota_limits(uid);
            out.push_str(&format!(
                "{:5}: {:5} {}/{} {}/{} {}/{}\n",
                uid, u.nkeys, u.nkeys, u.nikeys, u.qnkeys, mk, u.qnbytes, mb
            ));
        }
        out
    }

    /// A user's quota use.
    pub fn key_user(&self, uid: u32) -> KeyUser {
        self.users.get(&uid).copied().unwrap_or_default()
    }
}

/// The gid as Linux shows it: no group is the overflow gid, 65534.
fn shown_gid(gid: u32) -> u32 {
    if gid == u32::MAX { 65534 } else { gid }
}
