//! Namespaces: what a process sees of the system's names, mounts, IPC objects,
//! process ids and clocks.
//!
//! Each process holds an [`NsProxy`] (Linux's name): one `Arc` for each kind of
//! namespace it is in. Processes in the same namespaces share one proxy; fork
//! shares the parent's, and unshare(2), clone(2) with CLONE_NEW* and setns(2)
//! give the caller a new proxy that differs in the namespaces they name. A
//! namespace lives as long as a proxy or an open `/proc/PID/ns/*` file holds it.
//!
//! What each kind holds:
//! * UTS: the host and domain names;
//! * IPC: the System V registries ([`crate::syscall::ipc::IpcNamespace`]);
//! * mount: a mount table (a copy of the creator's when made);
//! * PID: a counter of ids; a process made in a new PID namespace has a second,
//!   namespace-local id ([`crate::process::Process::vpid`]);
//! * time: offsets of CLOCK_MONOTONIC and CLOCK_BOOTTIME;
//! * network: a network stack of its own, with `lo` alone ([`NetNs`]);
//! * user: id maps, recorded ([`UserNs`]); cgroup: an identity only.
//!
//! The pure rules (flag checks, the timens_offsets text) are in [`kestrel_ns`].

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use kestrel_abi::fs::{S_IFREG, Statfs};
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_ns::Kind;
use kestrel_vfs::{Inode, InodeRef, Metadata, Mounts};

use crate::syscall::ipc::IpcNamespace;

pub use kestrel_ns::{
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME,
    CLONE_NEWUSER, CLONE_NEWUTS,
};

static NEXT_INUM: AtomicU64 = AtomicU64::new(kestrel_ns::FIRST_DYNAMIC_INUM);

/// The inode number of a new namespace (its identity in /proc/PID/ns).
fn new_inum() -> u64 {
    NEXT_INUM.fetch_add(1, Ordering::Relaxed)
}

/// A UTS namespace: the names uname(2) reports that an administrator sets.
pub struct UtsNs {
    pub inum: u64,
    /// The user namespace that owns it (its creator's), as for every kind.
    pub owner: Arc<UserNs>,
    hostname: spin::Mutex<Vec<u8>>,
    domainname: spin::Mutex<Vec<u8>>,
}

impl UtsNs {
    pub fn hostname(&self) -> Vec<u8> {
        self.hostname.lock().clone()
    }
    pub fn domainname(&self) -> Vec<u8> {
        self.domainname.lock().clone()
    }
    pub fn set_hostname(&self, name: &[u8]) {
        *self.hostname.lock() = name.to_vec();
    }
    pub fn set_domainname(&self, name: &[u8]) {
        *self.domainname.lock() = name.to_vec();
    }
    /// A new namespace starting with this one's names (as Linux copies them).
    fn copy(&self, owner: Arc<UserNs>) -> Arc<Self> {
        Arc::new(Self {
            inum: new_inum(),
            owner,
            hostname: spin::Mutex::new(self.hostname()),
            domainname: spin::Mutex::new(self.domainname()),
        })
    }
}

/// A mount namespace: its own mount table.
pub struct MntNs {
    pub inum: u64,
    pub owner: Arc<UserNs>,
    pub mounts: Arc<Mounts>,
}

/// A PID namespace: where the ids of the processes made in it are counted.
pub struct PidNs {
    pub inum: u64,
    /// 0 for the initial namespace.
    pub level: u32,
    pub parent: Option<Arc<PidNs>>,
    /// The user namespace that owns it (its creator's): privilege over the
    /// namespace (clone3's set_tid) is privilege in that user namespace.
    pub owner: Arc<UserNs>,
    next: AtomicU32,
}

impl PidNs {
    /// Whether this is the initial namespace (whose ids are the global ones).
    pub fn is_root(&self) -> bool {
        self.level == 0
    }
    /// Whether a process was ever made in it (its init); Linux shows no file
    /// for a PID namespace before that.
    pub fn has_init(&self) -> bool {
        self.is_root() || self.next.load(Ordering::Relaxed) > 1
    }

    /// The next id in this namespace (1 for its first process, its init).
    pub fn alloc(&self) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// kernel.ns_last_pid in a namespace below the initial one: the id given
    /// out last.
    pub fn last(&self) -> u32 {
        self.next.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// Writing kernel.ns_last_pid there: the next process gets `last + 1`.
    pub fn set_last(&self, last: u32) {
        self.next.store(last + 1, Ordering::Relaxed);
    }
}

/// A time namespace: how far CLOCK_MONOTONIC and CLOCK_BOOTTIME (and their
/// RAW, COARSE and ALARM variants) are shifted for the processes in it.
pub struct TimeNs {
    pub inum: u64,
    pub owner: Arc<UserNs>,
    monotonic: AtomicI64,
    boottime: AtomicI64,
    /// Set once a process is in it: from then on the offsets are fixed
    /// (writing timens_offsets is EACCES), as in Linux.
    frozen: AtomicBool,
}

impl TimeNs {
    fn new(inum: u64, owner: Arc<UserNs>) -> Arc<Self> {
        Arc::new(Self {
            inum,
            owner,
            monotonic: AtomicI64::new(0),
            boottime: AtomicI64::new(0),
            frozen: AtomicBool::new(false),
        })
    }
    pub fn is_root(&self) -> bool {
        self.inum == Kind::Time.init_inum()
    }
    /// The (monotonic, boottime) offsets in ns.
    pub fn offsets(&self) -> (i64, i64) {
        (
            self.monotonic.load(Ordering::Relaxed),
            self.boottime.load(Ordering::Relaxed),
        )
    }
    /// A process entered: the offsets can no longer change.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Relaxed);
    }
    /// Writes offsets (already checked) unless a process is in the namespace.
    pub fn set_offsets(&self, monotonic: Option<i64>, boottime: Option<i64>) -> KResult<()> {
        if self.frozen.load(Ordering::Relaxed) {
            return Err(Errno::EACCES);
        }
        if let Some(m) = monotonic {
            self.monotonic.store(m, Ordering::Relaxed);
        }
        if let Some(b) = boottime {
            self.boottime.store(b, Ordering::Relaxed);
        }
        Ok(())
    }
    /// The offset (ns) this namespace adds to `clock`.
    pub fn offset_of(&self, clock: i32) -> i64 {
        match clock {
            // MONOTONIC, MONOTONIC_RAW, MONOTONIC_COARSE.
            1 | 4 | 6 => self.monotonic.load(Ordering::Relaxed),
            // BOOTTIME, BOOTTIME_ALARM.
            7 | 9 => self.boottime.load(Ordering::Relaxed),
            _ => 0,
        }
    }
}

/// A network namespace: a network stack of its own (`lo` alone), with its own
/// actor task, and the per-interface sysctls Kestrel keeps
/// (/proc/sys/net/ipv4/conf/IF/tag). The initial one uses the stack
/// [`crate::net::init`] built (`stack` None).
pub struct NetNs {
    pub inum: u64,
    pub owner: Arc<UserNs>,
    stack: Option<Arc<kestrel_net::inet::Shared>>,
    /// Cleared when the namespace goes: its actor then ends.
    alive: Arc<AtomicBool>,
    /// net.ipv4.conf.IF.tag, by interface name ("all", "default" too).
    conf_tag: spin::Mutex<alloc::collections::BTreeMap<Vec<u8>, i32>>,
}

impl NetNs {
    fn new(inum: u64, owner: Arc<UserNs>, own_stack: bool) -> KResult<Arc<Self>> {
        let alive = Arc::new(AtomicBool::new(true));
        let stack = if own_stack {
            // Before the network exists (early boot) there is nothing to copy.
            Some(crate::net::namespace_stack(alive.clone()).ok_or(Errno::EINVAL)?)
        } else {
            None
        };
        Ok(Arc::new(Self {
            inum,
            owner,
            stack,
            alive,
            conf_tag: spin::Mutex::new(alloc::collections::BTreeMap::new()),
        }))
    }
    /// Its stack (None: the initial namespace's, [`crate::net::init_shared`]).
    pub fn stack(&self) -> Option<Arc<kestrel_net::inet::Shared>> {
        self.stack.clone()
    }
    /// net.ipv4.conf.`iface`.tag (0 until written, as Linux's default).
    pub fn conf_tag(&self, iface: &[u8]) -> i32 {
        self.conf_tag.lock().get(iface).copied().unwrap_or(0)
    }
    pub fn set_conf_tag(&self, iface: &[u8], v: i32) {
        self.conf_tag.lock().insert(iface.to_vec(), v);
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Release);
        if let Some(s) = &self.stack {
            s.notify.notify();
        }
    }
}

/// A user namespace: its id maps (/proc/PID/uid_map, gid_map, each written
/// once) and whether setgroups is denied. Kestrel records the maps but does
/// not translate ids through them, nor grant capabilities in the namespace.
pub struct UserNs {
    pub inum: u64,
    pub parent: Option<Arc<UserNs>>,
    /// The effective uid of its creator (NS_GET_OWNER_UID).
    pub owner_uid: u32,
    pub uid_map: spin::Mutex<Option<Vec<u8>>>,
    pub gid_map: spin::Mutex<Option<Vec<u8>>>,
    pub setgroups_deny: AtomicBool,
}

impl UserNs {
    /// Whether `self` is `other` or one of its ancestors.
    pub fn is_ancestor_of(self: &Arc<Self>, other: &Arc<UserNs>) -> bool {
        let mut x = Some(other);
        while let Some(y) = x {
            if Arc::ptr_eq(y, self) {
                return true;
            }
            x = y.parent.as_ref();
        }
        false
    }
}

/// A cgroup namespace: its identity and its root, the cgroup its creator
/// was in (/proc/PID/cgroup paths are relative to it; a cgroup2 mount made
/// in it shows the hierarchy from there).
pub struct PlainNs {
    pub inum: u64,
    pub owner: Arc<UserNs>,
    pub cg_root: kestrel_cgroup::CgId,
}

/// The namespaces a process is in.
#[derive(Clone)]
pub struct NsProxy {
    pub uts: Arc<UtsNs>,
    pub ipc: Arc<IpcNamespace>,
    pub mnt: Arc<MntNs>,
    pub net: Arc<NetNs>,
    /// Where the process's children go (unshare(CLONE_NEWPID) changes only this;
    /// the process's own namespace is fixed: `Process::pid_ns`).
    pub pid_for_children: Arc<PidNs>,
    pub time: Arc<TimeNs>,
    /// Where the children go (unshare(CLONE_NEWTIME) changes only this).
    pub time_for_children: Arc<TimeNs>,
    pub cgroup: Arc<PlainNs>,
    /// Linux keeps the user namespace with the credentials; Kestrel keeps it here.
    pub user: Arc<UserNs>,
}

static INIT: spin::Once<Arc<NsProxy>> = spin::Once::new();

/// The namespaces that exist at boot (made on first use, after the file system).
pub fn init_proxy() -> Arc<NsProxy> {
    INIT.call_once(|| {
        let user = init_user_ns();
        let time = TimeNs::new(Kind::Time.init_inum(), user.clone());
        time.freeze();
        Arc::new(NsProxy {
            uts: Arc::new(UtsNs {
                inum: Kind::Uts.init_inum(),
                owner: user.clone(),
                hostname: spin::Mutex::new(b"kestrel".to_vec()),
                domainname: spin::Mutex::new(b"(none)".to_vec()),
            }),
            ipc: IpcNamespace::new(Kind::Ipc.init_inum(), user.clone()),
            mnt: Arc::new(MntNs {
                inum: Kind::Mnt.init_inum(),
                owner: user.clone(),
                mounts: crate::fs::init_mounts(),
            }),
            net: NetNs::new(Kind::Net.init_inum(), user.clone(), false)
                .expect("the initial one has no stack to make"),
            pid_for_children: init_pid_ns(),
            time: time.clone(),
            time_for_children: time,
            cgroup: Arc::new(PlainNs {
                inum: Kind::Cgroup.init_inum(),
                owner: user.clone(),
                cg_root: kestrel_cgroup::ROOT,
            }),
            user,
        })
    })
    .clone()
}

static INIT_USER: spin::Once<Arc<UserNs>> = spin::Once::new();

/// The initial user namespace (its maps are the identity over every id).
pub fn init_user_ns() -> Arc<UserNs> {
    INIT_USER
        .call_once(|| {
            let all = b"         0          0 4294967295\n".to_vec();
            Arc::new(UserNs {
                inum: Kind::User.init_inum(),
                parent: None,
                owner_uid: 0,
                uid_map: spin::Mutex::new(Some(all.clone())),
                gid_map: spin::Mutex::new(Some(all)),
                setgroups_deny: AtomicBool::new(false),
            })
        })
        .clone()
}

static INIT_PID: spin::Once<Arc<PidNs>> = spin::Once::new();

/// The initial PID namespace.
pub fn init_pid_ns() -> Arc<PidNs> {
    INIT_PID
        .call_once(|| {
            Arc::new(PidNs {
                inum: Kind::Pid.init_inum(),
                level: 0,
                parent: None,
                owner: init_user_ns(),
                next: AtomicU32::new(1),
            })
        })
        .clone()
}

/// The calling process's namespaces (the initial ones when there is no caller).
pub fn current() -> Arc<NsProxy> {
    match crate::process::current_thread() {
        Some(t) => t.process.nsproxy(),
        None => init_proxy(),
    }
}

impl NsProxy {
    /// A copy with new namespaces of the kinds in `flags` (CLONE_NEW*), as
    /// unshare(2) and clone(2) make them. CLONE_NEWPID and CLONE_NEWTIME change
    /// only the `*_for_children` namespaces; the caller applies them to a child.
    /// CLONE_NEWNET starts a network stack (and its task) with `lo` alone.
    /// `euid` is the creator's effective uid (a user namespace's owner).
    pub fn copy_with(&self, flags: u64, euid: u32) -> KResult<Arc<NsProxy>> {
        let mut n = self.clone();
        // The user namespace first: it owns the others made with it.
        if flags & CLONE_NEWUSER != 0 {
            let mut depth = 0;
            let mut u = Some(&self.user);
            while let Some(x) = u {
                depth += 1;
                u = x.parent.as_ref();
            }
            // Linux: at most 32 nested user namespaces (EUSERS past them).
            if depth > 32 {
                return Err(Errno::EUSERS);
            }
            n.user = Arc::new(UserNs {
                inum: new_inum(),
                parent: Some(self.user.clone()),
                owner_uid: euid,
                uid_map: spin::Mutex::new(None),
                gid_map: spin::Mutex::new(None),
                setgroups_deny: AtomicBool::new(false),
            });
        }
        let owner = n.user.clone();
        if flags & CLONE_NEWNET != 0 {
            n.net = NetNs::new(new_inum(), owner.clone(), true)?;
        }
        if flags & CLONE_NEWUTS != 0 {
            n.uts = self.uts.copy(owner.clone());
        }
        if flags & CLONE_NEWIPC != 0 {
            n.ipc = IpcNamespace::new(new_inum(), owner.clone());
        }
        if flags & CLONE_NEWNS != 0 {
            n.mnt = Arc::new(MntNs {
                inum: new_inum(),
                owner: owner.clone(),
                mounts: Arc::new(self.mnt.mounts.copy()),
            });
        }
        if flags & CLONE_NEWPID != 0 {
            let parent = self.pid_for_children.clone();
            // Linux nests at most 32 levels (MAX_PID_NS_LEVEL): ENOSPC past them.
            if parent.level >= 32 {
                return Err(Errno::ENOSPC);
            }
            n.pid_for_children = Arc::new(PidNs {
                inum: new_inum(),
                level: parent.level + 1,
                parent: Some(parent),
                owner: n.user.clone(),
                next: AtomicU32::new(1),
            });
        }
        if flags & CLONE_NEWTIME != 0 {
            n.time_for_children = TimeNs::new(new_inum(), owner.clone());
        }
        if flags & CLONE_NEWCGROUP != 0 {
            // Rooted at the creator's cgroup (the caller's: unshare and
            // clone make namespaces from the calling thread).
            let cg_root = crate::process::current_thread().map_or(kestrel_cgroup::ROOT, |t| {
                crate::fs::cgroupfs::cgroup_of(t.process.pid)
            });
            n.cgroup = Arc::new(PlainNs {
                inum: new_inum(),
                owner,
                cg_root,
            });
        }
        Ok(Arc::new(n))
    }

    /// The proxy a new child process gets: the same, except that its time
    /// namespace is the creator's time_for_children (which is then frozen).
    pub fn for_child(self: &Arc<Self>) -> Arc<NsProxy> {
        if Arc::ptr_eq(&self.time, &self.time_for_children) {
            return self.clone();
        }
        self.time_for_children.freeze();
        let mut n = (**self).clone();
        n.time = self.time_for_children.clone();
        Arc::new(n)
    }

    /// The namespace of `kind` this proxy shows in /proc/PID/ns (`children`:
    /// the `*_for_children` view).
    pub fn get(&self, kind: Kind, children: bool) -> NsRef {
        match kind {
            Kind::Mnt => NsRef::Mnt(self.mnt.clone()),
            Kind::Uts => NsRef::Uts(self.uts.clone()),
            Kind::Ipc => NsRef::Ipc(self.ipc.clone()),
            Kind::Net => NsRef::Net(self.net.clone()),
            Kind::Pid => NsRef::Pid(self.pid_for_children.clone()),
            Kind::Time if children => NsRef::Time(self.time_for_children.clone()),
            Kind::Time => NsRef::Time(self.time.clone()),
            Kind::User => NsRef::User(self.user.clone()),
            Kind::Cgroup => NsRef::Plain(Kind::Cgroup, self.cgroup.clone()),
        }
    }
}

/// One namespace of any kind, as a /proc/PID/ns file holds it.
#[derive(Clone)]
pub enum NsRef {
    Mnt(Arc<MntNs>),
    Uts(Arc<UtsNs>),
    Ipc(Arc<IpcNamespace>),
    Pid(Arc<PidNs>),
    Time(Arc<TimeNs>),
    Net(Arc<NetNs>),
    User(Arc<UserNs>),
    Plain(Kind, Arc<PlainNs>),
}

impl NsRef {
    pub fn kind(&self) -> Kind {
        match self {
            NsRef::Mnt(_) => Kind::Mnt,
            NsRef::Uts(_) => Kind::Uts,
            NsRef::Ipc(_) => Kind::Ipc,
            NsRef::Pid(_) => Kind::Pid,
            NsRef::Time(_) => Kind::Time,
            NsRef::Net(_) => Kind::Net,
            NsRef::User(_) => Kind::User,
            NsRef::Plain(k, _) => *k,
        }
    }
    /// The user namespace that owns it (for a user namespace, its parent).
    pub fn owner(&self) -> Option<Arc<UserNs>> {
        match self {
            NsRef::Mnt(n) => Some(n.owner.clone()),
            NsRef::Uts(n) => Some(n.owner.clone()),
            NsRef::Ipc(n) => Some(n.owner.clone()),
            NsRef::Pid(n) => Some(n.owner.clone()),
            NsRef::Time(n) => Some(n.owner.clone()),
            NsRef::Net(n) => Some(n.owner.clone()),
            NsRef::User(n) => n.parent.clone(),
            NsRef::Plain(_, n) => Some(n.owner.clone()),
        }
    }

    pub fn inum(&self) -> u64 {
        match self {
            NsRef::Mnt(n) => n.inum,
            NsRef::Uts(n) => n.inum,
            NsRef::Ipc(n) => n.inum,
            NsRef::Pid(n) => n.inum,
            NsRef::Time(n) => n.inum,
            NsRef::Net(n) => n.inum,
            NsRef::User(n) => n.inum,
            NsRef::Plain(_, n) => n.inum,
        }
    }
}

/// The device number of nsfs (Linux's is an anonymous device too).
pub const NSFS_DEV: u64 = kestrel_abi::fs::makedev(0, 3);
/// NSFS_MAGIC, statfs's f_type for a namespace file.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The file a /proc/PID/ns link leads to: it holds the namespace; its inode
/// number is the namespace's. setns(2) takes a descriptor opened on it.
pub struct NsInode {
    pub ns: NsRef,
}

impl NsInode {
    pub fn new_ref(ns: NsRef) -> InodeRef {
        Arc::new(Self { ns })
    }
}

impl Inode for NsInode {
    fn metadata(&self) -> Metadata {
        let now = Timespec::from_ns(0);
        Metadata {
            dev: NSFS_DEV,
            ino: self.ns.inum(),
            mode: S_IFREG | 0o444,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev: 0,
            size: 0,
            blksize: 4096,
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
            flags: 0,
        }
    }
    fn statfs(&self) -> Statfs {
        kestrel_vfs::pseudo::pseudo_statfs(NSFS_DEV, NSFS_MAGIC)
    }
    fn set_mode(&self, _: u32) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_owner(&self, _: Option<u32>, _: Option<u32>) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn set_times(&self, _: Option<Timespec>, _: Option<Timespec>) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn read_at(&self, _: u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write_at(&self, _: u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The namespace an open file names, if it is a namespace file.
pub fn of_file(f: &kestrel_vfs::OpenFile) -> Option<NsRef> {
    let d = f.dentry()?;
    d.inode
        .as_any()
        .downcast_ref::<NsInode>()
        .map(|n| n.ns.clone())
}
