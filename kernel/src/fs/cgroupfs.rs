//! `cgroup2`: the unified cgroup hierarchy as a file system (Linux's
//! cgroup v2, Documentation/admin-guide/cgroup-v2.rst).
//!
//! There is one hierarchy ([`kestrel_cgroup::Hierarchy`], behind a lock):
//! every mount of `cgroup2` shows it (from the mounter's cgroup namespace
//! root), as on Linux; the kernel mounts it on /sys/fs/cgroup at boot. A
//! directory is a cgroup ([`CgDir`]: mkdir makes one, rmdir removes it), a
//! file one of its interface files ([`CgFile`]). Processes join their
//! parent's cgroup at fork (or CLONE_INTO_CGROUP's), leave it populated no
//! more when they exit and uncharged when reaped: the hooks below
//! ([`fork`], [`new_thread`], [`thread_gone`], [`exited`], [`released`]).
//!
//! Enforced: pids.max (fork, clone and thread creation fail with EAGAIN),
//! cgroup.freeze (a flag in the process's signal state parks its threads
//! before they return to user mode), cgroup.kill. Reported from the
//! processes: memory.current (resident pages), cpu.stat (their CPU time).
//! Stored and shown but not enforced: memory.min/low/high/max,
//! memory.swap.*, cpu.weight, cpu.max (docs/cgroups.md). cgroup.events
//! changes reach inotify (IN_MODIFY) and pollers (POLLPRI).
//!
//! Lock order: the hierarchy's lock is innermost. Nothing else is locked
//! while it is held (what a file reports of the processes is gathered
//! first: [`Snapshot`]), and file notification happens after it is let go.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::time::Timespec;
use kestrel_abi::{Errno, KResult};
use kestrel_cgroup::{CgId, Facts, File, Hierarchy, ROOT, Who};
use kestrel_vfs::inode::{DirEntry, Inode, InodeRef, Metadata, NodeKind};

use crate::process::{self, Process};

/// cgroup2's magic number (statfs).
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

static HIER: spin::Once<spin::Mutex<Hierarchy>> = spin::Once::new();

/// The hierarchy.
pub fn hier() -> &'static spin::Mutex<Hierarchy> {
    HIER.call_once(|| spin::Mutex::new(Hierarchy::new()))
}

/// Runs `f` on the hierarchy, then tells inotify of the cgroup.events files
/// it changed (IN_MODIFY, as Linux's cgroup_file_notify), outside the lock.
fn with_hier<R>(f: impl FnOnce(&mut Hierarchy) -> R) -> R {
    let (r, changed) = {
        let mut h = hier().lock();
        let r = f(&mut h);
        (r, h.take_events())
    };
    if !changed.is_empty() {
        EVENTS_WQ.wake_all();
    }
    for id in changed {
        let inode: InodeRef = Arc::new(CgFile {
            id,
            file: File::Events,
            snapshot: spin::Mutex::new(None),
        });
        super::fsnotify::notify(&inode, super::fsnotify::FS_MODIFY);
    }
    r
}

/// Woken whenever some cgroup.events changes (its pollers look again).
static EVENTS_WQ: kestrel_sync::WaitQueue = kestrel_sync::WaitQueue::new();

/// How many times `id`'s cgroup.events changed.
fn events_gen(id: CgId) -> u64 {
    hier().lock().node(id).map_or(0, |n| n.events_gen)
}

/// An open cgroup.events: read as any cgroup file, and poll says POLLPRI
/// and POLLERR once the content changed since it was opened or last read
/// (Linux's kernfs_generic_poll).
struct EventsFile {
    id: CgId,
    seen: core::sync::atomic::AtomicU64,
}

impl kestrel_vfs::FileOps for EventsFile {
    fn read(&self, file: &kestrel_vfs::OpenFile, pos: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        self.seen
            .store(events_gen(self.id), core::sync::atomic::Ordering::Relaxed);
        kestrel_vfs::file::RegularFile.read(file, pos, buf)
    }
    fn write(&self, file: &kestrel_vfs::OpenFile, pos: &mut u64, data: &[u8]) -> KResult<usize> {
        kestrel_vfs::file::RegularFile.write(file, pos, data)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn poll(&self) -> u16 {
        let mut mask = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
        if events_gen(self.id) != self.seen.load(core::sync::atomic::Ordering::Relaxed) {
            mask |= POLLERR | POLLPRI;
        }
        mask
    }
    fn wait_queue(&self) -> Option<&kestrel_sync::WaitQueue> {
        Some(&EVENTS_WQ)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The file operations of an open cgroup.events (`None` for other inodes).
pub fn events_ops(inode: &InodeRef) -> Option<Arc<dyn kestrel_vfs::FileOps>> {
    let f = inode.as_any().downcast_ref::<CgFile>()?;
    (f.file == File::Events).then(|| {
        Arc::new(EventsFile {
            id: f.id,
            seen: core::sync::atomic::AtomicU64::new(events_gen(f.id)),
        }) as Arc<dyn kestrel_vfs::FileOps>
    })
}

/// The device number of the one cgroup2 super block.
fn dev() -> u64 {
    makedev(0, 19)
}

/// Inode numbers: a directory's is its id times 64, a file's adds its index + 1.
fn ino(id: CgId, file: Option<File>) -> u64 {
    (id << 6) | file.map_or(0, |f| f.index() as u64 + 1)
}

/// The process making the current system call.
fn caller() -> Option<Arc<Process>> {
    process::current_thread().map(|t| t.process.clone())
}

/// The root cgroup of the caller's cgroup namespace.
pub fn ns_root() -> CgId {
    crate::ns::current().cgroup.cg_root
}

/// Who `p` is for the hierarchy's permission checks.
fn who(p: &Process) -> Who {
    let (fc, privileged) = {
        let c = p.cred.lock();
        (c.fs_cred(), c.capable(kestrel_abi::cap::CAP_DAC_OVERRIDE))
    };
    Who {
        uid: fc.uid,
        gid: fc.gid,
        groups: fc.groups,
        privileged,
        ns_root: p.nsproxy().cgroup.cg_root,
    }
}

/// CPU time of `p` in µs.
fn cpu_usec(p: &Process) -> (u64, u64) {
    let (u, s) = p.cpu_time();
    (u / 1000, s / 1000)
}

/// The live processes' side of a file, for the caller: gathered before the
/// file is rendered, without the hierarchy's lock (so that lock is never held
/// while a process's, its address space's or the process table's is taken).
#[derive(Default)]
struct Snapshot {
    procs: alloc::collections::BTreeMap<u32, ProcFacts>,
    /// The resident bytes of the live ones (address spaces counted once).
    resident: u64,
}

/// One process, as a [`Snapshot`] holds it.
struct ProcFacts {
    /// The id the reader sees.
    seen: u32,
    /// Its threads as the reader sees them.
    threads: Vec<u32>,
    /// Its CPU time (µs).
    cpu: (u64, u64),
}

impl Snapshot {
    /// What `file` needs of the processes `all` (zombies too) and `live`.
    fn take(file: File, all: &[u32], live: &[u32]) -> Self {
        let mut snap = Self::default();
        let wants = |f: &[File]| f.contains(&file);
        if !wants(&[
            File::Procs,
            File::Threads,
            File::CpuStat,
            File::MemCurrent,
            File::MemStat,
        ]) {
            return snap;
        }
        let reader_ns = caller().map(|p| p.pid_ns.clone());
        let seen = |p: &Process| match &reader_ns {
            Some(ns) => p.pid_in(ns),
            None => p.pid,
        };
        for &pid in all {
            let Some(p) = process::find(pid) else {
                continue;
            };
            let vis = seen(&p);
            let threads = if !wants(&[File::Threads]) {
                Vec::new()
            } else if vis != p.pid {
                // In another PID namespace only the process's own id is known.
                alloc::vec![vis]
            } else {
                p.threads.lock().iter().map(|t| t.tid()).collect()
            };
            snap.procs.insert(
                pid,
                ProcFacts {
                    seen: vis,
                    threads,
                    cpu: cpu_usec(&p),
                },
            );
        }
        if wants(&[File::MemCurrent, File::MemStat]) {
            let mut spaces: Vec<Arc<crate::mm::vm::AddressSpace>> = Vec::new();
            for &pid in live {
                let Some(p) = process::find(pid) else {
                    continue;
                };
                let mm = p.mm();
                if !spaces.iter().any(|m| Arc::ptr_eq(m, &mm)) {
                    snap.resident += mm.usage().resident * 4096;
                    spaces.push(mm);
                }
            }
        }
        snap
    }
}

impl Facts for Snapshot {
    fn visible_pid(&self, pid: u32) -> u32 {
        self.procs.get(&pid).map_or(0, |p| p.seen)
    }
    fn threads(&self, pid: u32) -> Vec<u32> {
        self.procs
            .get(&pid)
            .map_or_else(Vec::new, |p| p.threads.clone())
    }
    fn cpu_usec(&self, pid: u32) -> (u64, u64) {
        self.procs.get(&pid).map_or((0, 0), |p| p.cpu)
    }
    fn resident_bytes(&self, _pids: &[u32]) -> u64 {
        self.resident
    }
}

// Hooks from the process code.

/// A new process `child` forked by `parent` (none for init) joins `into`
/// or its parent's cgroup: EAGAIN past a pids.max. Whether that cgroup is
/// frozen (the child then starts frozen).
pub fn fork(parent: Option<u32>, child: u32, into: Option<CgId>) -> KResult<bool> {
    with_hier(|h| {
        h.fork(parent, child, into)?;
        Ok(h.cgroup_of(child).is_some_and(|c| h.frozen(c)))
    })
}

/// Makes the processes `pids` frozen or not as their cgroups now are: a
/// newly frozen one's threads are kicked into the kernel (they park before
/// returning to user mode), a thawed one's woken.
fn sync_frozen(pids: &[u32]) {
    let states: Vec<(u32, bool)> = {
        let h = hier().lock();
        pids.iter()
            .map(|&p| (p, h.cgroup_of(p).is_some_and(|c| h.frozen(c))))
            .collect()
    };
    for (pid, frozen) in states {
        let Some(p) = process::find(pid) else {
            continue;
        };
        let was = p
            .signals
            .frozen
            .swap(frozen, core::sync::atomic::Ordering::AcqRel);
        if frozen && !was {
            for t in p.threads.lock().iter() {
                process::signal::kick(t);
            }
        } else if !frozen && was {
            p.signals.stop_wq.wake_all();
        }
    }
}

/// A new thread of process `pid`: EAGAIN past a pids.max.
pub fn new_thread(pid: u32) -> KResult<()> {
    hier().lock().new_thread(pid)
}

/// A thread (not the last) of process `pid` is gone.
pub fn thread_gone(pid: u32) {
    hier().lock().thread_gone(pid);
}

/// Process `p` exited: it no longer populates its cgroup.
pub fn exited(p: &Process) {
    with_hier(|h| h.exit(p.pid));
}

/// Process `p` is gone (reaped or never started): its charge goes.
pub fn released(p: &Process) {
    let cpu = cpu_usec(p);
    with_hier(|h| h.release(p.pid, cpu));
}

/// The cgroup of process `pid`.
pub fn cgroup_of(pid: u32) -> CgId {
    hier().lock().cgroup_of(pid).unwrap_or(ROOT)
}

/// The id of the cgroup of process `pid` as pidfds and file handles give
/// it: its directory's inode number.
pub fn cgroup_ino(pid: u32) -> u64 {
    ino(cgroup_of(pid), None)
}

/// /proc/PID/cgroup of process `pid`, for the caller: "0::/path" relative
/// to the caller's cgroup namespace.
pub fn proc_cgroup(pid: u32) -> Vec<u8> {
    let root = ns_root();
    let h = hier().lock();
    let cg = h.cgroup_of(pid).unwrap_or(ROOT);
    let mut s = b"0::".to_vec();
    s.extend_from_slice(&h.path_from(cg, root));
    s.push(b'\n');
    s
}

/// /proc/cgroups: the controllers, all on the unified hierarchy (0), with
/// the number of cgroups (Linux's v1 names: io is "blkio").
pub fn proc_cgroups() -> Vec<u8> {
    let n = hier().lock().count();
    let mut s = alloc::string::String::from("#subsys_name\thierarchy\tnum_cgroups\tenabled\n");
    for name in ["cpu", "blkio", "memory", "pids"] {
        s.push_str(&alloc::format!("{name}\t0\t{n}\t1\n"));
    }
    s.into_bytes()
}

/// The cgroup a CLONE_INTO_CGROUP descriptor names, checked for a child of
/// the caller (a thread with `thread`), in Linux's order: a cgroup2
/// directory (EBADF otherwise), still there (ENODEV), writable by the
/// caller (EACCES), and the migration rules (cgroup_attach_permissions:
/// EACCES, ENOENT, EBUSY, EOPNOTSUPP).
pub fn clone_target(file: &kestrel_vfs::OpenFile, caller: &Process, thread: bool) -> KResult<CgId> {
    let d = file.dentry().ok_or(Errno::EBADF)?;
    let dir = d
        .inode
        .as_any()
        .downcast_ref::<CgDir>()
        .ok_or(Errno::EBADF)?;
    let w = who(caller);
    let h = hier().lock();
    h.node(dir.id).ok_or(Errno::ENODEV)?;
    h.may_write(dir.id, &w)?;
    let src = h.cgroup_of(caller.pid).unwrap_or(ROOT);
    h.attach_check(src, dir.id, &w, !thread)?;
    Ok(dir.id)
}

/// A new root for a mount of cgroup2 with `data` options (nsdelegate,
/// favordynmods, memory_localevents, memory_recursiveprot; EINVAL for
/// others): the caller's cgroup namespace root. As on Linux, a mount from
/// the initial namespace sets the hierarchy's options to those given.
pub fn new_root(data: &[u8]) -> KResult<InodeRef> {
    let data = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
    let mut opts = 0;
    for o in data.split(|&b| b == b',').filter(|o| !o.is_empty()) {
        let generic = [
            &b"rw"[..],
            b"ro",
            b"nosuid",
            b"suid",
            b"nodev",
            b"dev",
            b"noexec",
            b"exec",
            b"relatime",
            b"norelatime",
            b"strictatime",
            b"noatime",
            b"nodiratime",
            b"silent",
        ];
        if generic.contains(&o) {
            continue;
        }
        let bit = kestrel_cgroup::OPTIONS
            .iter()
            .find(|(name, _)| name.as_bytes() == o)
            .map(|&(_, bit)| bit)
            .ok_or(Errno::EINVAL)?;
        opts |= bit;
    }
    let root = ns_root();
    if root == ROOT && crate::ns::current().cgroup.inum == kestrel_ns::Kind::Cgroup.init_inum() {
        hier().lock().options = opts;
    }
    Ok(Arc::new(CgDir { id: root }))
}

/// The options of the hierarchy, as /proc/mounts adds them.
pub fn super_options() -> alloc::string::String {
    let opts = hier().lock().options;
    let mut s = alloc::string::String::new();
    for (name, bit) in kestrel_cgroup::OPTIONS {
        if opts & bit != 0 {
            s.push(',');
            s.push_str(name);
        }
    }
    s
}

fn meta(id: CgId, file: Option<File>, h: &Hierarchy) -> Metadata {
    let a = h.attr(id, file);
    let kind = if file.is_some() { S_IFREG } else { S_IFDIR };
    let nlink = match file {
        Some(_) => 1,
        None => 2 + h.node(id).map_or(0, |n| n.children.len() as u32),
    };
    let now = kestrel_vfs::now();
    Metadata {
        dev: dev(),
        ino: ino(id, file),
        mode: kind | a.mode,
        nlink,
        uid: a.uid,
        gid: a.gid,
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

/// A cgroup's directory.
pub struct CgDir {
    pub id: CgId,
}

impl Inode for CgDir {
    fn metadata(&self) -> Metadata {
        meta(self.id, None, &hier().lock())
    }
    fn statfs(&self) -> Statfs {
        kestrel_vfs::pseudo::pseudo_statfs(dev(), CGROUP2_SUPER_MAGIC)
    }
    fn set_mode(&self, mode: u32) -> KResult<()> {
        hier()
            .lock()
            .set_attr(self.id, None, |a| a.mode = mode & 0o7777)
    }
    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
        hier().lock().set_attr(self.id, None, |a| {
            a.uid = uid.unwrap_or(a.uid);
            a.gid = gid.unwrap_or(a.gid);
        })
    }
    fn set_times(&self, _: Option<Timespec>, _: Option<Timespec>) -> KResult<()> {
        Ok(())
    }
    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        let h = hier().lock();
        h.node(self.id).ok_or(Errno::ENOENT)?;
        if let Some(c) = h.lookup(self.id, name) {
            return Ok(Arc::new(CgDir { id: c }));
        }
        let f = kestrel_cgroup::FILES
            .iter()
            .find(|d| d.name.as_bytes() == name)
            .map(|d| d.file)
            .filter(|&f| h.has_file(self.id, f))
            .ok_or(Errno::ENOENT)?;
        Ok(Arc::new(CgFile {
            id: self.id,
            file: f,
            snapshot: spin::Mutex::new(None),
        }))
    }
    fn create(
        &self,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> KResult<InodeRef> {
        match kind {
            NodeKind::Dir => {
                let id = hier().lock().mkdir(self.id, name, uid, gid, mode)?;
                Ok(Arc::new(CgDir { id }))
            }
            // No create operation: open(O_CREAT) is EACCES; mknod,
            // symlink and the like EPERM.
            NodeKind::File => Err(Errno::EACCES),
            _ => Err(Errno::EPERM),
        }
    }
    fn link(&self, _: &[u8], _: &InodeRef) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn unlink(&self, name: &[u8]) -> KResult<()> {
        let h = hier().lock();
        if h.lookup(self.id, name).is_some() {
            return Err(Errno::EISDIR);
        }
        if kestrel_cgroup::FILES
            .iter()
            .any(|d| d.name.as_bytes() == name && h.has_file(self.id, d.file))
        {
            return Err(Errno::EPERM);
        }
        Err(Errno::ENOENT)
    }
    fn rmdir(&self, name: &[u8]) -> KResult<()> {
        let mut h = hier().lock();
        if h.lookup(self.id, name).is_none()
            && kestrel_cgroup::FILES
                .iter()
                .any(|d| d.name.as_bytes() == name && h.has_file(self.id, d.file))
        {
            return Err(Errno::ENOTDIR);
        }
        h.rmdir(self.id, name).map(|_| ())
    }
    // cgroup2 has no rename (Linux's kernfs answers EPERM without one).
    fn rename(&self, _: &[u8], _: &InodeRef, _: &[u8], _: u32) -> KResult<()> {
        Err(Errno::EPERM)
    }
    fn readdir(&self, pos: u64, emit: &mut dyn FnMut(DirEntry) -> bool) -> KResult<()> {
        let all = {
            let h = hier().lock();
            let n = h.node(self.id).ok_or(Errno::ENOENT)?;
            let parent = n.parent.unwrap_or(self.id);
            let mut all = alloc::vec![
                (b".".to_vec(), ino(self.id, None), DT_DIR),
                (b"..".to_vec(), ino(parent, None), DT_DIR),
            ];
            for f in h.files(self.id) {
                all.push((
                    f.def().name.as_bytes().to_vec(),
                    ino(self.id, Some(f)),
                    DT_REG,
                ));
            }
            for (name, &c) in &n.children {
                all.push((name.clone(), ino(c, None), DT_DIR));
            }
            all
        };
        kestrel_vfs::pseudo::emit_listing(all, pos, emit);
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One interface file of a cgroup.
pub struct CgFile {
    id: CgId,
    file: File,
    /// The content as of the last read from offset 0.
    snapshot: spin::Mutex<Option<Arc<Vec<u8>>>>,
}

/// The most of one write a cgroup file takes (Linux's kernfs passes a page).
const WRITE_MAX: usize = 4096;

impl CgFile {
    fn render(&self) -> KResult<Vec<u8>> {
        let (all, live) = {
            let h = hier().lock();
            h.node(self.id).ok_or(Errno::ENODEV)?;
            (h.procs_under(self.id, true), h.procs_under(self.id, false))
        };
        let facts = Snapshot::take(self.file, &all, &live);
        hier().lock().read(self.id, self.file, &facts)
    }

    /// cgroup.procs and cgroup.threads: moves the process (or checks the
    /// thread) named by `buf` here.
    fn attach(&self, buf: &[u8], threadgroup: bool) -> KResult<()> {
        let v = kestrel_cgroup::parse::kstrtoint(kestrel_cgroup::parse::strip(buf))?;
        if v < 0 {
            return Err(Errno::EINVAL);
        }
        let me = caller().ok_or(Errno::ESRCH)?;
        let target = if v == 0 {
            me.clone()
        } else if !me.pid_ns.is_root() {
            // The id as the writer's PID namespace numbers processes.
            process::all()
                .into_iter()
                .find(|p| p.pid_in(&me.pid_ns) == v as u32)
                .ok_or(Errno::ESRCH)?
        } else {
            process::find_thread(v as u32)
                .map(|t| t.process.clone())
                .or_else(|| process::find(v as u32))
                .ok_or(Errno::ESRCH)?
        };
        let w = who(&me);
        let cpu = cpu_usec(&target);
        let running = target.state() == process::State::Running;
        with_hier(|h| {
            h.node(self.id).ok_or(Errno::ENODEV)?;
            let src = h.cgroup_of(target.pid).ok_or(Errno::ESRCH)?;
            h.attach_check(src, self.id, &w, threadgroup)?;
            // An exiting process is not moved (Linux skips PF_EXITING tasks).
            if !threadgroup || !running {
                return Ok(());
            }
            h.migrate(target.pid, self.id, cpu)
        })?;
        sync_frozen(&[target.pid]);
        Ok(())
    }

    /// cgroup.kill: "1" sends SIGKILL to every process here and below
    /// (ERANGE for another number).
    fn kill(&self, buf: &[u8]) -> KResult<()> {
        let v = kestrel_cgroup::parse::kstrtoint(kestrel_cgroup::parse::strip(buf))?;
        if v != 1 {
            return Err(Errno::ERANGE);
        }
        let pids = {
            let h = hier().lock();
            h.node(self.id).ok_or(Errno::ENODEV)?;
            h.procs_under(self.id, false)
        };
        for pid in pids {
            if let Some(p) = process::find(pid) {
                process::signal::send(&p, kestrel_abi::signal::SIGKILL);
            }
        }
        Ok(())
    }
}

impl Inode for CgFile {
    fn metadata(&self) -> Metadata {
        meta(self.id, Some(self.file), &hier().lock())
    }
    fn statfs(&self) -> Statfs {
        kestrel_vfs::pseudo::pseudo_statfs(dev(), CGROUP2_SUPER_MAGIC)
    }
    fn set_mode(&self, mode: u32) -> KResult<()> {
        hier()
            .lock()
            .set_attr(self.id, Some(self.file), |a| a.mode = mode & 0o7777)
    }
    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
        hier().lock().set_attr(self.id, Some(self.file), |a| {
            a.uid = uid.unwrap_or(a.uid);
            a.gid = gid.unwrap_or(a.gid);
        })
    }
    fn set_times(&self, _: Option<Timespec>, _: Option<Timespec>) -> KResult<()> {
        Ok(())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> KResult<usize> {
        // Computed at offset 0; later offsets read on from that snapshot.
        let cached = if offset > 0 {
            self.snapshot.lock().clone()
        } else {
            None
        };
        let content = match cached {
            Some(c) => c,
            None => {
                let fresh = Arc::new(self.render()?);
                *self.snapshot.lock() = Some(fresh.clone());
                fresh
            }
        };
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= content.len() {
            return Ok(0);
        }
        let n = buf.len().min(content.len() - start);
        buf[..n].copy_from_slice(&content[start..start + n]);
        Ok(n)
    }
    fn write_at(&self, _offset: u64, data: &[u8]) -> KResult<usize> {
        // A cgroup file reads each write as a whole command (reading
        // cgroup.kill and writing a read-only file are EINVAL, as Linux's
        // cgroup_seqfile_show and cgroup_file_write answer).
        let data = &data[..data.len().min(WRITE_MAX)];
        if data.is_empty() {
            return Ok(0);
        }
        match self.file {
            File::Procs => self.attach(data, true)?,
            File::Threads => self.attach(data, false)?,
            File::Kill => self.kill(data)?,
            File::Freeze => {
                let pids = with_hier(|h| {
                    h.write(self.id, File::Freeze, data)?;
                    KResult::Ok(h.procs_under(self.id, false))
                })?;
                sync_frozen(&pids);
            }
            f => hier().lock().write(self.id, f, data)?,
        }
        Ok(data.len())
    }
    fn truncate(&self, _size: u64) -> KResult<()> {
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// /sys/fs/cgroup: mounted at boot, as systemd expects.
pub fn mount_at_boot(mount_point: &InodeRef) -> KResult<()> {
    crate::fs::mounts().mount(
        mount_point,
        Arc::new(CgDir { id: ROOT }),
        kestrel_vfs::MountInfo {
            source: b"cgroup2".to_vec(),
            fstype: b"cgroup2".to_vec(),
            path: b"/sys/fs/cgroup".to_vec(),
            options: b"rw,nosuid,nodev,noexec,relatime".to_vec(),
        },
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
    )?;
    Ok(())
}
