//! The cgroup v2 (unified) hierarchy, the part that is data and rules: the
//! tree of cgroups, which processes are in which, the controllers enabled
//! for each subtree and their knobs and counters, and the text of every
//! interface file, as Linux 6.1's `Documentation/admin-guide/cgroup-v2.rst`
//! describes them.
//!
//! The kernel (`kernel/src/fs/cgroupfs.rs`) holds one [`Hierarchy`] behind a
//! lock, shows it as the `cgroup2` file system and calls in at fork, thread
//! creation, exit and reaping; whatever needs a live process (its CPU time,
//! its resident pages, its threads) it answers through [`Facts`].
//!
//! Membership is per process (a thread is where its process is): threaded
//! cgroups are not offered, so `cgroup.type` is always "domain" and writing
//! "threaded" is EOPNOTSUPP.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod files;
pub mod parse;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use kestrel_abi::{Errno, KResult};

pub use files::{FILES, File, FileDef, Place};
use parse::{PAGE_COUNTER_MAX, kstrtoint, kstrtoll, kstrtoull, page_counter_memparse, strip};

/// A cgroup's id (the root's is 1, as on Linux).
pub type CgId = u64;
/// The root cgroup.
pub const ROOT: CgId = 1;

pub const CTRL_CPU: u8 = 1;
pub const CTRL_IO: u8 = 2;
pub const CTRL_MEMORY: u8 = 4;
pub const CTRL_PIDS: u8 = 8;
/// Every controller, in Linux's order (its subsystem ids).
pub const CONTROLLERS: [(u8, &str); 4] = [
    (CTRL_CPU, "cpu"),
    (CTRL_IO, "io"),
    (CTRL_MEMORY, "memory"),
    (CTRL_PIDS, "pids"),
];
/// All controllers.
pub const ALL_CTRLS: u8 = CTRL_CPU | CTRL_IO | CTRL_MEMORY | CTRL_PIDS;
/// The controllers that may work per thread (Linux's threaded controllers):
/// enabling only these does not make a cgroup with processes an internal
/// node (it may become a thread root).
pub const THREADED_CTRLS: u8 = CTRL_CPU | CTRL_PIDS;
/// pids.max's "max" (Linux's PIDS_MAX: PID_MAX_LIMIT + 1).
pub const PIDS_MAX: u64 = 4_194_305;
/// cgroup.max.descendants and cgroup.max.depth's "max".
pub const INT_MAX: u32 = i32::MAX as u32;
/// The mount option nsdelegate: cgroup namespaces are delegation boundaries.
pub const OPT_NSDELEGATE: u32 = 1;
/// The mount option memory_localevents.
pub const OPT_MEMORY_LOCALEVENTS: u32 = 2;
/// The mount option memory_recursiveprot.
pub const OPT_MEMORY_RECURSIVEPROT: u32 = 4;
/// The mount option favordynmods.
pub const OPT_FAVORDYNMODS: u32 = 8;
/// Each mount option and its bit.
pub const OPTIONS: [(&str, u32); 4] = [
    ("nsdelegate", OPT_NSDELEGATE),
    ("favordynmods", OPT_FAVORDYNMODS),
    ("memory_localevents", OPT_MEMORY_LOCALEVENTS),
    ("memory_recursiveprot", OPT_MEMORY_RECURSIVEPROT),
];

/// The names of the controllers in `mask`, space-separated, newline-ended
/// (empty if there are none).
pub fn ctrl_names(mask: u8) -> String {
    let mut s = String::new();
    for (bit, name) in CONTROLLERS {
        if mask & bit != 0 {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(name);
        }
    }
    // Nothing at all for an empty set (Linux's cgroup_print_ss_mask).
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

/// Who owns a directory or file, and its permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Who asks: file-system ids, and whether it may override permission bits
/// (CAP_DAC_OVERRIDE); `ns_root` is its cgroup namespace's root cgroup.
#[derive(Debug, Clone)]
pub struct Who {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub privileged: bool,
    pub ns_root: CgId,
}

impl Who {
    /// Whether the permission bits of `a` grant `want` (4 read, 2 write).
    pub fn may(&self, a: &Attr, want: u32) -> bool {
        if self.privileged {
            return true;
        }
        let bits = if self.uid == a.uid {
            a.mode >> 6
        } else if self.gid == a.gid || self.groups.contains(&a.gid) {
            a.mode >> 3
        } else {
            a.mode
        } & 7;
        bits & want == want
    }
}

/// The memory controller's knobs (page counts; [`PAGE_COUNTER_MAX`] is "max").
/// Stored and reported; Kestrel does not enforce them (docs/cgroups.md).
#[derive(Debug, Clone)]
pub struct Mem {
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub max: u64,
    pub swap_high: u64,
    pub swap_max: u64,
    pub oom_group: bool,
}

impl Default for Mem {
    fn default() -> Self {
        Self {
            min: 0,
            low: 0,
            high: PAGE_COUNTER_MAX,
            max: PAGE_COUNTER_MAX,
            swap_high: PAGE_COUNTER_MAX,
            swap_max: PAGE_COUNTER_MAX,
            oom_group: false,
        }
    }
}

/// The cpu controller's knobs: weight (1..10000), quota per period (µs;
/// `None` is "max"). Stored and reported, not enforced.
#[derive(Debug, Clone)]
pub struct Cpu {
    pub weight: u64,
    pub quota: Option<u64>,
    pub period: u64,
}

impl Default for Cpu {
    fn default() -> Self {
        Self {
            weight: 100,
            quota: None,
            period: 100_000,
        }
    }
}

/// One cgroup.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: CgId,
    pub name: Vec<u8>,
    pub parent: Option<CgId>,
    pub children: BTreeMap<Vec<u8>, CgId>,
    /// The root is level 0.
    pub level: u32,
    pub subtree_control: u8,
    pub max_descendants: u32,
    pub max_depth: u32,
    pub nr_descendants: u32,
    /// Live processes directly here.
    pub nr_procs: u32,
    /// Live processes here and below (cgroup.events' populated).
    pub nr_populated: u32,
    /// Tasks (threads, zombies until reaped) charged here and below: pids.current.
    pub tasks: u64,
    pub pids_max: u64,
    /// cgroup.freeze: its processes (and those below) run no user code.
    pub freeze: bool,
    /// Forks refused for a pids limit, counted where the child would have gone.
    pub pids_events_max: u64,
    /// How many times cgroup.events changed (a poller that saw fewer is told
    /// with POLLPRI).
    pub events_gen: u64,
    pub mem: Mem,
    pub cpu: Cpu,
    /// CPU time (user, system; µs) of processes that left this cgroup (reaped
    /// or moved away), since they came.
    pub dead_cpu: (u64, u64),
    /// The directory's owner and mode.
    pub dir: Attr,
    /// The files' owner (the creator's, as Linux's cgroup_kn_set_ugid).
    pub owner: (u32, u32),
    /// Files whose owner or mode was changed (delegation).
    pub file_attrs: BTreeMap<File, Attr>,
}

impl Node {
    fn new(id: CgId, name: &[u8], parent: Option<CgId>, level: u32, dir: Attr) -> Self {
        Self {
            id,
            name: name.to_vec(),
            parent,
            children: BTreeMap::new(),
            level,
            subtree_control: 0,
            max_descendants: INT_MAX,
            max_depth: INT_MAX,
            nr_descendants: 0,
            nr_procs: 0,
            nr_populated: 0,
            tasks: 0,
            pids_max: PIDS_MAX,
            freeze: false,
            pids_events_max: 0,
            events_gen: 0,
            mem: Mem::default(),
            cpu: Cpu::default(),
            dead_cpu: (0, 0),
            dir,
            owner: (dir.uid, dir.gid),
            file_attrs: BTreeMap::new(),
        }
    }
}

/// A process's membership.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub cg: CgId,
    /// Its tasks charged to the pids counters (threads; the leader until reaped).
    pub tasks: u32,
    /// False once it exited (a zombie: no longer populates its cgroup).
    pub live: bool,
    /// Its CPU time (µs) when it came into `cg`.
    pub base: (u64, u64),
}

/// What the kernel knows of live processes, for the files that report on them.
pub trait Facts {
    /// The id `pid` has for the reader (0: it cannot see it).
    fn visible_pid(&self, pid: u32) -> u32;
    /// The thread ids of process `pid` as the reader sees them.
    fn threads(&self, pid: u32) -> Vec<u32>;
    /// Its CPU time so far (user, system; µs).
    fn cpu_usec(&self, pid: u32) -> (u64, u64);
    /// The resident bytes of these processes (address spaces counted once).
    fn resident_bytes(&self, pids: &[u32]) -> u64;
}

/// The unified hierarchy.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    nodes: BTreeMap<CgId, Node>,
    members: BTreeMap<u32, Member>,
    next: CgId,
    /// OPT_* mount options.
    pub options: u32,
    /// Cgroups whose cgroup.events changed (populated or frozen) since the
    /// kernel last took them ([`Hierarchy::take_events`]), for file
    /// notification (bounded: [`MAX_EVENTS`]).
    events: Vec<CgId>,
}

/// Most pending cgroup.events changes kept (more are dropped).
pub const MAX_EVENTS: usize = 1024;

impl Default for Hierarchy {
    fn default() -> Self {
        Self::new()
    }
}

/// Most cgroups a hierarchy holds, whatever cgroup.max.descendants says: a
/// bound on kernel memory that user space cannot move.
pub const MAX_CGROUPS: usize = 65_536;

impl Hierarchy {
    /// A hierarchy with only the root (owned by root, 0755), every
    /// controller available.
    pub fn new() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            ROOT,
            Node::new(
                ROOT,
                b"",
                None,
                0,
                Attr {
                    uid: 0,
                    gid: 0,
                    mode: 0o755,
                },
            ),
        );
        Self {
            nodes,
            members: BTreeMap::new(),
            next: ROOT + 1,
            options: 0,
            events: Vec::new(),
        }
    }

    pub fn node(&self, id: CgId) -> Option<&Node> {
        self.nodes.get(&id)
    }

    fn node_mut(&mut self, id: CgId) -> KResult<&mut Node> {
        self.nodes.get_mut(&id).ok_or(Errno::ENODEV)
    }

    /// How many cgroups exist.
    pub fn count(&self) -> usize {
        self.nodes.len()
    }

    /// The cgroup `name` under `parent`.
    pub fn lookup(&self, parent: CgId, name: &[u8]) -> Option<CgId> {
        self.nodes.get(&parent)?.children.get(name).copied()
    }

    /// The controllers available in `id` (cgroup.controllers): every one at
    /// the root, else those its parent enables for its children.
    pub fn controllers(&self, id: CgId) -> u8 {
        match self.nodes.get(&id).and_then(|n| n.parent) {
            None => ALL_CTRLS,
            Some(p) => self.nodes.get(&p).map_or(0, |p| p.subtree_control),
        }
    }

    /// Whether `id` is `of` or below it.
    pub fn is_descendant(&self, id: CgId, of: CgId) -> bool {
        let mut x = Some(id);
        while let Some(c) = x {
            if c == of {
                return true;
            }
            x = self.nodes.get(&c).and_then(|n| n.parent);
        }
        false
    }

    /// `id` and its ancestors, from `id` up.
    fn chain(&self, id: CgId) -> Vec<CgId> {
        let mut v = Vec::new();
        let mut x = Some(id);
        while let Some(c) = x {
            v.push(c);
            x = self.nodes.get(&c).and_then(|n| n.parent);
        }
        v
    }

    /// The path of `id` from the root: "/" or "/a/b".
    pub fn path(&self, id: CgId) -> Vec<u8> {
        self.path_from(id, ROOT)
    }

    /// The path of `id` as seen from `root` (a cgroup namespace's root):
    /// "/x/y" below it, else "/.." for each step up to the common ancestor
    /// and down from there (Linux's kernfs_path_from_node).
    pub fn path_from(&self, id: CgId, root: CgId) -> Vec<u8> {
        let to = self.chain(id);
        let from = self.chain(root);
        // The common ancestor: the first of `to`'s chain that `from` has.
        let common = to
            .iter()
            .copied()
            .find(|c| from.contains(c))
            .unwrap_or(ROOT);
        let mut out = Vec::new();
        for _ in from.iter().take_while(|&&c| c != common) {
            out.extend_from_slice(b"/..");
        }
        for c in to
            .iter()
            .take_while(|&&c| c != common)
            .collect::<Vec<_>>()
            .iter()
            .rev()
        {
            out.push(b'/');
            out.extend_from_slice(&self.nodes[c].name);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        out
    }

    /// mkdir: a new cgroup `name` under `parent`, its directory owned by
    /// `uid`/`gid` with `mode`. EINVAL for a name with a newline, EEXIST if
    /// a child or a file the parent shows has it, EAGAIN past an ancestor's cgroup.max.descendants or
    /// cgroup.max.depth (Linux's cgroup_check_hierarchy_limits), ENOSPC
    /// past [`MAX_CGROUPS`].
    pub fn mkdir(
        &mut self,
        parent: CgId,
        name: &[u8],
        uid: u32,
        gid: u32,
        mode: u32,
    ) -> KResult<CgId> {
        if name.contains(&b'\n') {
            return Err(Errno::EINVAL);
        }
        let p = self.nodes.get(&parent).ok_or(Errno::ENODEV)?;
        // Taken: a child of that name, or a file the parent shows now (the
        // files of a controller it does not have are free names, as on Linux).
        if p.children.contains_key(name)
            || FILES
                .iter()
                .any(|f| f.name.as_bytes() == name && self.has_file(parent, f.file))
        {
            return Err(Errno::EEXIST);
        }
        let chain = self.chain(parent);
        for (level, c) in (1u32..).zip(chain.iter()) {
            let n = &self.nodes[c];
            if n.nr_descendants >= n.max_descendants || level > n.max_depth {
                return Err(Errno::EAGAIN);
            }
        }
        if self.nodes.len() >= MAX_CGROUPS {
            return Err(Errno::ENOSPC);
        }
        let id = self.next;
        self.next += 1;
        let level = p.level + 1;
        let node = Node::new(
            id,
            name,
            Some(parent),
            level,
            Attr {
                uid,
                gid,
                mode: mode & 0o7777,
            },
        );
        self.nodes.insert(id, node);
        self.node_mut(parent)?.children.insert(name.to_vec(), id);
        for c in chain {
            self.node_mut(c)?.nr_descendants += 1;
        }
        Ok(id)
    }

    /// rmdir: removes the cgroup `name` under `parent`. ENOENT if there is
    /// none, EBUSY while it has live processes (here or below) or children.
    /// Zombies still in it move to the parent.
    pub fn rmdir(&mut self, parent: CgId, name: &[u8]) -> KResult<CgId> {
        let id = self.lookup(parent, name).ok_or(Errno::ENOENT)?;
        let n = &self.nodes[&id];
        if n.nr_populated > 0 || !n.children.is_empty() {
            return Err(Errno::EBUSY);
        }
        let dead = n.dead_cpu;
        for m in self.members.values_mut() {
            if m.cg == id {
                m.cg = parent;
            }
        }
        // Its tasks (zombies) are counted in the parent's subtree already.
        self.nodes.remove(&id);
        let p = self.node_mut(parent)?;
        p.children.remove(name);
        p.dead_cpu.0 += dead.0;
        p.dead_cpu.1 += dead.1;
        for c in self.chain(parent) {
            self.node_mut(c)?.nr_descendants -= 1;
        }
        Ok(id)
    }

    /// The cgroup process `pid` is in.
    pub fn cgroup_of(&self, pid: u32) -> Option<CgId> {
        self.members.get(&pid).map(|m| m.cg)
    }

    /// The membership of `pid`.
    pub fn member(&self, pid: u32) -> Option<&Member> {
        self.members.get(&pid)
    }

    /// `id` and its ancestors, from `id` up, without allocating (thread
    /// creation and exit walk them).
    fn ancestors(&self, id: CgId) -> impl Iterator<Item = CgId> + '_ {
        core::iter::successors(Some(id), |c| self.nodes.get(c).and_then(|n| n.parent))
            .filter(|c| self.nodes.contains_key(c))
    }

    fn add_tasks(&mut self, cg: CgId, n: u64, up: bool) {
        let mut x = Some(cg);
        while let Some(node) = x.and_then(|c| self.nodes.get_mut(&c)) {
            if up {
                node.tasks += n;
            } else {
                node.tasks = node.tasks.saturating_sub(n);
            }
            x = node.parent;
        }
    }

    fn add_populated(&mut self, cg: CgId, up: bool) {
        if let Some(x) = self.nodes.get_mut(&cg) {
            if up {
                x.nr_procs += 1;
            } else {
                x.nr_procs = x.nr_procs.saturating_sub(1);
            }
        }
        for c in self.chain(cg) {
            if let Some(x) = self.nodes.get_mut(&c) {
                let was = x.nr_populated > 0;
                if up {
                    x.nr_populated += 1;
                } else {
                    x.nr_populated = x.nr_populated.saturating_sub(1);
                }
                if was != (x.nr_populated > 0) {
                    self.changed(c);
                }
            }
        }
    }

    fn changed(&mut self, id: CgId) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.events_gen += 1;
        }
        if self.events.len() < MAX_EVENTS && !self.events.contains(&id) {
            self.events.push(id);
        }
    }

    /// The cgroups whose cgroup.events changed since the last call.
    pub fn take_events(&mut self) -> Vec<CgId> {
        core::mem::take(&mut self.events)
    }

    /// Whether `n` more tasks fit in `cg` under every pids.max from it up:
    /// the limits of ancestors where the pids controller is enabled. On
    /// failure the pids.events "max" of `cg`'s pids cgroup (itself or the
    /// nearest ancestor with the controller) counts it: EAGAIN.
    fn try_charge(&mut self, cg: CgId, n: u64) -> KResult<()> {
        let over = self.ancestors(cg).any(|c| {
            self.controllers(c) & CTRL_PIDS != 0 && {
                let x = &self.nodes[&c];
                x.tasks + n > x.pids_max
            }
        });
        if over {
            let limited = self
                .ancestors(cg)
                .find(|&c| self.controllers(c) & CTRL_PIDS != 0 && c != ROOT);
            if let Some(c) = limited
                && let Some(x) = self.nodes.get_mut(&c)
            {
                x.pids_events_max += 1;
            }
            return Err(Errno::EAGAIN);
        }
        self.add_tasks(cg, n, true);
        Ok(())
    }

    /// A new process `child` (forked by `parent`; none for init): it goes
    /// into `into` (CLONE_INTO_CGROUP) or its parent's cgroup. EAGAIN past a
    /// pids.max; ENODEV if `into` is gone.
    pub fn fork(&mut self, parent: Option<u32>, child: u32, into: Option<CgId>) -> KResult<()> {
        let cg = match into {
            Some(c) => {
                self.nodes.get(&c).ok_or(Errno::ENODEV)?;
                c
            }
            None => parent.and_then(|p| self.cgroup_of(p)).unwrap_or(ROOT),
        };
        self.try_charge(cg, 1)?;
        // A pid is taken again only once its process was released; should
        // the kernel ever say otherwise, the old membership goes first.
        if self.members.contains_key(&child) {
            self.release(child, (0, 0));
        }
        self.add_populated(cg, true);
        self.members.insert(
            child,
            Member {
                cg,
                tasks: 1,
                live: true,
                base: (0, 0),
            },
        );
        Ok(())
    }

    /// A new thread of process `pid`: EAGAIN past a pids.max.
    pub fn new_thread(&mut self, pid: u32) -> KResult<()> {
        let Some(m) = self.members.get(&pid).copied() else {
            return Ok(());
        };
        self.try_charge(m.cg, 1)?;
        if let Some(m) = self.members.get_mut(&pid) {
            m.tasks += 1;
        }
        Ok(())
    }

    /// A thread of `pid` other than its last one is gone.
    pub fn thread_gone(&mut self, pid: u32) {
        let Some(m) = self.members.get_mut(&pid) else {
            return;
        };
        if m.tasks > 1 {
            m.tasks -= 1;
            let cg = m.cg;
            self.add_tasks(cg, 1, false);
        }
    }

    /// Process `pid` exited (a zombie now): it no longer populates its cgroup.
    pub fn exit(&mut self, pid: u32) {
        let Some(m) = self.members.get_mut(&pid) else {
            return;
        };
        if m.live {
            m.live = false;
            let cg = m.cg;
            self.add_populated(cg, false);
        }
    }

    /// Process `pid` is gone (reaped, or its creation undone), having used
    /// `cpu` (µs) in all: its tasks are uncharged, its time stays with its cgroup.
    pub fn release(&mut self, pid: u32, cpu: (u64, u64)) {
        self.exit(pid);
        let Some(m) = self.members.remove(&pid) else {
            return;
        };
        self.add_tasks(m.cg, u64::from(m.tasks), false);
        if let Some(x) = self.nodes.get_mut(&m.cg) {
            x.dead_cpu.0 += cpu.0.saturating_sub(m.base.0);
            x.dead_cpu.1 += cpu.1.saturating_sub(m.base.1);
        }
    }

    /// Whether `who` may write `cg`'s cgroup.procs (Linux's cgroup_may_write).
    pub fn may_write(&self, cg: CgId, who: &Who) -> KResult<()> {
        if who.may(&self.attr(cg, Some(File::Procs)), 2) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }

    /// Whether `id` could become a thread root (Linux's
    /// cgroup_can_be_thread_root): the root; else no populated children and
    /// no domain controller enabled for them.
    fn can_be_thread_root(&self, id: CgId) -> bool {
        if id == ROOT {
            return true;
        }
        let n = &self.nodes[&id];
        let populated_child = n
            .children
            .values()
            .any(|c| self.nodes.get(c).is_some_and(|c| c.nr_populated > 0));
        !populated_child && n.subtree_control & !THREADED_CTRLS == 0
    }

    /// Whether processes may go into `dst` (Linux's cgroup_migrate_vet_dst):
    /// EBUSY for a cgroup that enables domain controllers for its children
    /// (no internal processes).
    pub fn vet_dst(&self, dst: CgId) -> KResult<()> {
        self.nodes.get(&dst).ok_or(Errno::ENODEV)?;
        if self.can_be_thread_root(dst) {
            return Ok(());
        }
        if self.nodes[&dst].subtree_control != 0 {
            return Err(Errno::EBUSY);
        }
        Ok(())
    }

    /// The checks of moving a process (`threadgroup`) or one thread from
    /// `src` to `dst`, in Linux's order (cgroup_attach_permissions): write
    /// access to the common ancestor's cgroup.procs (EACCES); with
    /// nsdelegate, both within the writer's namespace (ENOENT); `dst` may
    /// hold processes (EBUSY); a thread only within its own domain
    /// (EOPNOTSUPP: there are no threaded subtrees, so only to `src`).
    pub fn attach_check(&self, src: CgId, dst: CgId, who: &Who, threadgroup: bool) -> KResult<()> {
        let mut com = src;
        while !self.is_descendant(dst, com) {
            com = self.nodes.get(&com).and_then(|n| n.parent).unwrap_or(ROOT);
        }
        self.may_write(com, who)?;
        if self.options & OPT_NSDELEGATE != 0
            && (!self.is_descendant(src, who.ns_root) || !self.is_descendant(dst, who.ns_root))
        {
            return Err(Errno::ENOENT);
        }
        self.vet_dst(dst)?;
        if !threadgroup && src != dst {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(())
    }

    /// Moves process `pid` to `dst`, its CPU time so far (`cpu`) left with
    /// its old cgroup. Its tasks go with it, whatever pids.max says there (as
    /// Linux's pids_can_attach).
    pub fn migrate(&mut self, pid: u32, dst: CgId, cpu: (u64, u64)) -> KResult<()> {
        self.nodes.get(&dst).ok_or(Errno::ENODEV)?;
        let m = *self.members.get(&pid).ok_or(Errno::ESRCH)?;
        if m.cg == dst {
            return Ok(());
        }
        self.add_tasks(m.cg, u64::from(m.tasks), false);
        self.add_tasks(dst, u64::from(m.tasks), true);
        if m.live {
            self.add_populated(m.cg, false);
            self.add_populated(dst, true);
        }
        if let Some(x) = self.nodes.get_mut(&m.cg) {
            x.dead_cpu.0 += cpu.0.saturating_sub(m.base.0);
            x.dead_cpu.1 += cpu.1.saturating_sub(m.base.1);
        }
        self.members.insert(
            pid,
            Member {
                cg: dst,
                base: cpu,
                ..m
            },
        );
        Ok(())
    }

    /// Whether `id` is frozen: its own cgroup.freeze or an ancestor's.
    pub fn frozen(&self, id: CgId) -> bool {
        self.chain(id)
            .iter()
            .any(|c| self.nodes.get(c).is_some_and(|n| n.freeze))
    }

    /// The live processes directly in `id` (cgroup.procs).
    pub fn procs(&self, id: CgId) -> Vec<u32> {
        self.members
            .iter()
            .filter(|(_, m)| m.cg == id && m.live)
            .map(|(&p, _)| p)
            .collect()
    }

    /// Every process (zombies too with `zombies`) in `id` or below.
    pub fn procs_under(&self, id: CgId, zombies: bool) -> Vec<u32> {
        self.members
            .iter()
            .filter(|(_, m)| (m.live || zombies) && self.is_descendant(m.cg, id))
            .map(|(&p, _)| p)
            .collect()
    }

    /// The owner and mode of `id`'s directory (`None`) or of one of its files.
    pub fn attr(&self, id: CgId, file: Option<File>) -> Attr {
        let Some(n) = self.nodes.get(&id) else {
            return Attr {
                uid: 0,
                gid: 0,
                mode: 0,
            };
        };
        match file {
            None => n.dir,
            Some(f) => n.file_attrs.get(&f).copied().unwrap_or(Attr {
                uid: n.owner.0,
                gid: n.owner.1,
                mode: f.def().mode,
            }),
        }
    }

    /// chown/chmod of `id`'s directory or one of its files.
    pub fn set_attr(
        &mut self,
        id: CgId,
        file: Option<File>,
        f: impl FnOnce(&mut Attr),
    ) -> KResult<()> {
        let mut a = self.attr(id, file);
        f(&mut a);
        let n = self.node_mut(id)?;
        match file {
            None => n.dir = a,
            Some(file) => {
                n.file_attrs.insert(file, a);
            }
        }
        Ok(())
    }

    /// Whether `file` exists in `id`: the core's files (some not at the
    /// root), and a controller's where the controller is available (at the
    /// root: those Linux has there).
    pub fn has_file(&self, id: CgId, file: File) -> bool {
        let d = file.def();
        if id == ROOT && d.place == Place::NotRoot {
            return false;
        }
        d.ctrl == 0 || self.controllers(id) & d.ctrl != 0
    }

    /// The files of `id`, in listing order.
    pub fn files(&self, id: CgId) -> Vec<File> {
        FILES
            .iter()
            .map(|d| d.file)
            .filter(|&f| self.has_file(id, f))
            .collect()
    }

    /// cgroup.subtree_control's write: "+name" enables, "-name" disables,
    /// space-separated. EINVAL for another word; ENOENT to enable what the
    /// cgroup does not have; EBUSY to disable what a child enables for its
    /// own children, or to enable a domain controller for a cgroup with
    /// processes of its own (Linux's cgroup_vet_subtree_control_enable).
    /// A disabled controller's knobs go back to their defaults below.
    pub fn write_subtree_control(&mut self, id: CgId, buf: &[u8]) -> KResult<()> {
        let (mut enable, mut disable) = (0u8, 0u8);
        for tok in strip(buf).split(|&b| b == b' ') {
            if tok.is_empty() {
                continue;
            }
            let bit = CONTROLLERS
                .iter()
                .find(|(_, name)| tok.get(1..) == Some(name.as_bytes()))
                .map(|&(bit, _)| bit)
                .ok_or(Errno::EINVAL)?;
            match tok[0] {
                b'+' => {
                    enable |= bit;
                    disable &= !bit;
                }
                b'-' => {
                    disable |= bit;
                    enable &= !bit;
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        let n = self.nodes.get(&id).ok_or(Errno::ENODEV)?;
        let have = self.controllers(id);
        for (bit, _) in CONTROLLERS {
            if enable & bit != 0 {
                if n.subtree_control & bit != 0 {
                    enable &= !bit;
                } else if have & bit == 0 {
                    return Err(Errno::ENOENT);
                }
            } else if disable & bit != 0 {
                if n.subtree_control & bit == 0 {
                    disable &= !bit;
                } else if n
                    .children
                    .values()
                    .any(|c| self.nodes[c].subtree_control & bit != 0)
                {
                    return Err(Errno::EBUSY);
                }
            }
        }
        if enable == 0 && disable == 0 {
            return Ok(());
        }
        if enable != 0 && id != ROOT {
            let domain = enable & !THREADED_CTRLS;
            if (domain != 0 || !self.can_be_thread_root(id)) && n.nr_procs > 0 {
                return Err(Errno::EBUSY);
            }
        }
        let children: Vec<CgId> = n.children.values().copied().collect();
        let n = self.node_mut(id)?;
        n.subtree_control = (n.subtree_control | enable) & !disable;
        for c in children {
            let c = self.node_mut(c)?;
            if disable & CTRL_PIDS != 0 {
                c.pids_max = PIDS_MAX;
            }
            if disable & CTRL_MEMORY != 0 {
                c.mem = Mem::default();
            }
            if disable & CTRL_CPU != 0 {
                c.cpu = Cpu::default();
            }
        }
        Ok(())
    }

    /// The CPU time (user, system; µs) used in `id` and below.
    fn cpu_usage(&self, id: CgId, facts: &dyn Facts) -> (u64, u64) {
        let mut t = (0u64, 0u64);
        for (c, n) in &self.nodes {
            if self.is_descendant(*c, id) {
                t.0 += n.dead_cpu.0;
                t.1 += n.dead_cpu.1;
            }
        }
        for (&pid, m) in &self.members {
            if self.is_descendant(m.cg, id) {
                let (u, s) = facts.cpu_usec(pid);
                t.0 += u.saturating_sub(m.base.0);
                t.1 += s.saturating_sub(m.base.1);
            }
        }
        t
    }

    /// The content of `file` of `id` (ENODEV once the cgroup is gone;
    /// EINVAL for cgroup.kill, which cannot be read).
    pub fn read(&self, id: CgId, file: File, facts: &dyn Facts) -> KResult<Vec<u8>> {
        let n = self.nodes.get(&id).ok_or(Errno::ENODEV)?;
        let pages = |v: u64| {
            if v >= PAGE_COUNTER_MAX {
                String::from("max\n")
            } else {
                format!("{}\n", v * 4096)
            }
        };
        let mut s = String::new();
        match file {
            File::Type => s.push_str("domain\n"),
            File::Procs => {
                let mut ids: Vec<u32> = self
                    .procs(id)
                    .into_iter()
                    .map(|p| facts.visible_pid(p))
                    .filter(|&p| p != 0)
                    .collect();
                ids.sort_unstable();
                for p in ids {
                    let _ = writeln!(s, "{p}");
                }
            }
            File::Threads => {
                let mut ids: Vec<u32> = self
                    .procs(id)
                    .into_iter()
                    .flat_map(|p| facts.threads(p))
                    .filter(|&p| p != 0)
                    .collect();
                ids.sort_unstable();
                for p in ids {
                    let _ = writeln!(s, "{p}");
                }
            }
            File::Controllers => s = ctrl_names(self.controllers(id)),
            File::SubtreeControl => s = ctrl_names(n.subtree_control),
            File::Events => {
                let _ = write!(
                    s,
                    "populated {}\nfrozen {}\n",
                    u8::from(n.nr_populated > 0),
                    u8::from(self.frozen(id))
                );
            }
            File::MaxDescendants | File::MaxDepth => {
                let v = if file == File::MaxDepth {
                    n.max_depth
                } else {
                    n.max_descendants
                };
                if v == INT_MAX {
                    s.push_str("max\n");
                } else {
                    let _ = writeln!(s, "{v}");
                }
            }
            File::Stat => {
                let _ = write!(
                    s,
                    "nr_descendants {}\nnr_dying_descendants 0\n",
                    n.nr_descendants
                );
            }
            File::Kill => return Err(Errno::EINVAL),
            File::Freeze => {
                let _ = writeln!(s, "{}", u8::from(n.freeze));
            }
            File::CpuStat => {
                let (u, sy) = self.cpu_usage(id, facts);
                let _ = write!(
                    s,
                    "usage_usec {}\nuser_usec {u}\nsystem_usec {sy}\n",
                    u + sy
                );
                if id != ROOT && self.controllers(id) & CTRL_CPU != 0 {
                    s.push_str(
                        "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n",
                    );
                }
            }
            File::CpuWeight => {
                let _ = writeln!(s, "{}", n.cpu.weight);
            }
            File::CpuWeightNice => {
                let _ = writeln!(s, "{}", weight_to_nice(n.cpu.weight));
            }
            File::CpuMax => {
                match n.cpu.quota {
                    Some(q) => {
                        let _ = write!(s, "{q}");
                    }
                    None => s.push_str("max"),
                }
                let _ = writeln!(s, " {}", n.cpu.period);
            }
            File::IoStat => {}
            File::MemCurrent => {
                let _ = writeln!(s, "{}", facts.resident_bytes(&self.procs_under(id, false)));
            }
            File::MemMin => s = pages(n.mem.min),
            File::MemLow => s = pages(n.mem.low),
            File::MemHigh => s = pages(n.mem.high),
            File::MemMax => s = pages(n.mem.max),
            File::MemSwapHigh => s = pages(n.mem.swap_high),
            File::MemSwapMax => s = pages(n.mem.swap_max),
            File::MemEvents | File::MemEventsLocal => {
                s.push_str("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
            }
            File::MemStat => {
                let anon = facts.resident_bytes(&self.procs_under(id, false));
                let _ = writeln!(s, "anon {anon}");
                for k in [
                    "file",
                    "kernel",
                    "kernel_stack",
                    "pagetables",
                    "sec_pagetables",
                    "percpu",
                    "sock",
                    "vmalloc",
                    "shmem",
                    "file_mapped",
                    "file_dirty",
                    "file_writeback",
                    "swapcached",
                    "anon_thp",
                    "file_thp",
                    "shmem_thp",
                    "inactive_anon",
                ] {
                    let _ = writeln!(s, "{k} 0");
                }
                let _ = writeln!(s, "active_anon {anon}");
                for k in [
                    "inactive_file",
                    "active_file",
                    "unevictable",
                    "slab_reclaimable",
                    "slab_unreclaimable",
                    "pgfault",
                    "pgmajfault",
                ] {
                    let _ = writeln!(s, "{k} 0");
                }
            }
            File::MemOomGroup => {
                let _ = writeln!(s, "{}", u8::from(n.mem.oom_group));
            }
            File::MemSwapCurrent => s.push_str("0\n"),
            File::MemSwapEvents => s.push_str("high 0\nmax 0\nfail 0\n"),
            File::PidsMax => {
                if n.pids_max >= PIDS_MAX {
                    s.push_str("max\n");
                } else {
                    let _ = writeln!(s, "{}", n.pids_max);
                }
            }
            File::PidsCurrent => {
                let _ = writeln!(s, "{}", n.tasks);
            }
            File::PidsEvents => {
                let _ = writeln!(s, "max {}", n.pids_events_max);
            }
        }
        Ok(s.into_bytes())
    }

    /// A write to one of `id`'s knobs (not cgroup.procs, cgroup.threads or
    /// cgroup.kill, which act on processes: the kernel does those). Each
    /// file's parsing and errors are Linux's.
    pub fn write(&mut self, id: CgId, file: File, buf: &[u8]) -> KResult<()> {
        let b = strip(buf);
        let n = self.node_mut(id)?;
        match file {
            File::Type => {
                // Only "threaded" may be written; Kestrel has no threaded
                // cgroups (membership is per process).
                if b != b"threaded" {
                    return Err(Errno::EINVAL);
                }
                return Err(Errno::EOPNOTSUPP);
            }
            File::MaxDescendants | File::MaxDepth => {
                let v = if b == b"max" {
                    INT_MAX
                } else {
                    let v = kstrtoint(b)?;
                    u32::try_from(v).map_err(|_| Errno::ERANGE)?
                };
                if file == File::MaxDepth {
                    n.max_depth = v;
                } else {
                    n.max_descendants = v;
                }
            }
            File::Freeze => {
                let v = kstrtoint(b)?;
                if !(0..=1).contains(&v) {
                    return Err(Errno::ERANGE);
                }
                let changed = n.freeze != (v == 1);
                n.freeze = v == 1;
                if changed {
                    let below: Vec<CgId> = self
                        .nodes
                        .keys()
                        .copied()
                        .filter(|&c| self.is_descendant(c, id))
                        .collect();
                    for c in below {
                        self.changed(c);
                    }
                }
            }
            File::CpuWeight => {
                let w = kstrtoull(b)?;
                if !(1..=10_000).contains(&w) {
                    return Err(Errno::ERANGE);
                }
                n.cpu.weight = w;
            }
            File::CpuWeightNice => {
                let nice = kstrtoll(b)?;
                if !(-20..=19).contains(&nice) {
                    return Err(Errno::ERANGE);
                }
                n.cpu.weight = nice_to_weight(nice as i32);
            }
            File::CpuMax => {
                // "$MAX [$PERIOD]": Linux's cpu_period_quota_parse and
                // tg_set_cfs_bandwidth's bounds (1 ms..1 s periods, quotas
                // of 1 ms or more).
                let mut words = b.split(|&c| c == b' ').filter(|w| !w.is_empty());
                let tok = words.next().ok_or(Errno::EINVAL)?;
                let mut period = n.cpu.period;
                if let Some(p) = words.next() {
                    period = leading_u64(p).ok_or(Errno::EINVAL)?;
                }
                let quota = if tok == b"max" {
                    None
                } else {
                    Some(leading_u64(tok).ok_or(Errno::EINVAL)?)
                };
                if !(1000..=1_000_000).contains(&period) {
                    return Err(Errno::EINVAL);
                }
                if let Some(q) = quota
                    && !(1000..=(1u64 << 44)).contains(&q)
                {
                    return Err(Errno::EINVAL);
                }
                n.cpu.quota = quota;
                n.cpu.period = period;
            }
            File::MemMin => n.mem.min = page_counter_memparse(b)?,
            File::MemLow => n.mem.low = page_counter_memparse(b)?,
            File::MemHigh => n.mem.high = page_counter_memparse(b)?,
            File::MemMax => n.mem.max = page_counter_memparse(b)?,
            File::MemSwapHigh => n.mem.swap_high = page_counter_memparse(b)?,
            File::MemSwapMax => n.mem.swap_max = page_counter_memparse(b)?,
            File::MemOomGroup => {
                let v = kstrtoint(b)?;
                if v != 0 && v != 1 {
                    return Err(Errno::EINVAL);
                }
                n.mem.oom_group = v == 1;
            }
            File::PidsMax => {
                let v = if b == b"max" {
                    PIDS_MAX
                } else {
                    let v = kstrtoll(b)?;
                    if v < 0 || v as u64 >= PIDS_MAX {
                        return Err(Errno::EINVAL);
                    }
                    v as u64
                };
                n.pids_max = v;
            }
            File::SubtreeControl => return self.write_subtree_control(id, buf),
            // Read-only files (their mode says so; a privileged writer that
            // gets this far is refused as Linux's kernfs refuses a file
            // without a write operation).
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }
}

/// `sscanf("%llu")`: the leading decimal digits (none: `None`).
fn leading_u64(s: &[u8]) -> Option<u64> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    core::str::from_utf8(&s[..digits]).ok()?.parse().ok()
}

/// The scheduler's weight of each nice value from -20 (Linux's sched_prio_to_weight).
const PRIO_TO_WEIGHT: [u64; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87,
    70, 56, 45, 36, 29, 23, 18, 15,
];

/// cpu.weight of a nice value (Linux's sched_weight_to_cgroup, clamped).
pub fn nice_to_weight(nice: i32) -> u64 {
    let w = PRIO_TO_WEIGHT[(nice + 20).clamp(0, 39) as usize];
    ((w * 100 + 512) / 1024).clamp(1, 10_000)
}

/// The nice value whose weight is closest to cpu.weight `weight`.
pub fn weight_to_nice(weight: u64) -> i32 {
    let w = (weight * 1024 + 50) / 100;
    let mut best = 0;
    let mut delta = u64::MAX;
    for (i, &pw) in PRIO_TO_WEIGHT.iter().enumerate() {
        let d = pw.abs_diff(w);
        if d < delta {
            delta = d;
            best = i;
        }
    }
    best as i32 - 20
}

#[cfg(test)]
mod tests;
