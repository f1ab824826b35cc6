use super::*;
use alloc::vec;

struct NoFacts;

impl Facts for NoFacts {
    fn visible_pid(&self, pid: u32) -> u32 {
        pid
    }
    fn threads(&self, pid: u32) -> Vec<u32> {
        vec![pid]
    }
    fn cpu_usec(&self, pid: u32) -> (u64, u64) {
        (u64::from(pid) * 10, 5)
    }
    fn resident_bytes(&self, pids: &[u32]) -> u64 {
        pids.len() as u64 * 4096
    }
}

fn read(h: &Hierarchy, id: CgId, f: File) -> String {
    String::from_utf8(h.read(id, f, &NoFacts).unwrap()).unwrap()
}

fn root_who() -> Who {
    Who {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        privileged: true,
        ns_root: ROOT,
    }
}

fn user(uid: u32) -> Who {
    Who {
        uid,
        gid: uid,
        groups: Vec::new(),
        privileged: false,
        ns_root: ROOT,
    }
}

#[test]
fn mkdir_of_a_file_name_the_parent_does_not_show() {
    let mut h = Hierarchy::new();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    // The root shows no pids.max, and `a` none while the root does not
    // enable pids for its children: both are free names.
    assert!(h.mkdir(ROOT, b"pids.max", 0, 0, 0o755).is_ok());
    assert!(h.mkdir(a, b"pids.max", 0, 0, 0o755).is_ok());
    assert_eq!(h.mkdir(a, b"cgroup.procs", 0, 0, 0o755), Err(Errno::EEXIST));
    h.write_subtree_control(ROOT, b"+pids").unwrap();
    let b = h.mkdir(ROOT, b"b", 0, 0, 0o755).unwrap();
    assert_eq!(h.mkdir(b, b"pids.max", 0, 0, 0o755), Err(Errno::EEXIST));
}

#[test]
fn mkdir_rmdir_and_paths() {
    let mut h = Hierarchy::new();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    let b = h.mkdir(a, b"b", 0, 0, 0o755).unwrap();
    let c = h.mkdir(ROOT, b"c", 0, 0, 0o755).unwrap();
    assert_eq!(h.path(b), b"/a/b");
    assert_eq!(h.path(ROOT), b"/");
    assert_eq!(h.path_from(b, a), b"/b");
    assert_eq!(h.path_from(c, b), b"/../../c");
    assert_eq!(h.path_from(a, a), b"/");
    assert_eq!(h.mkdir(ROOT, b"a", 0, 0, 0o755), Err(Errno::EEXIST));
    assert_eq!(
        h.mkdir(ROOT, b"cgroup.procs", 0, 0, 0o755),
        Err(Errno::EEXIST)
    );
    assert_eq!(h.mkdir(ROOT, b"x\ny", 0, 0, 0o755), Err(Errno::EINVAL));
    // A file of a controller the parent does not have is a free name.
    assert_eq!(
        read(&h, ROOT, File::Stat),
        "nr_descendants 3\nnr_dying_descendants 0\n"
    );
    assert_eq!(h.rmdir(ROOT, b"a"), Err(Errno::EBUSY), "it has a child");
    assert_eq!(h.rmdir(ROOT, b"zz"), Err(Errno::ENOENT));
    h.rmdir(a, b"b").unwrap();
    h.rmdir(ROOT, b"a").unwrap();
    assert_eq!(h.read(a, File::Procs, &NoFacts), Err(Errno::ENODEV));
    assert_eq!(
        read(&h, ROOT, File::Stat),
        "nr_descendants 1\nnr_dying_descendants 0\n"
    );
}

#[test]
fn limits_on_descendants_and_depth_are_eagain() {
    let mut h = Hierarchy::new();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    h.write(a, File::MaxDescendants, b"1\n").unwrap();
    assert_eq!(read(&h, a, File::MaxDescendants), "1\n");
    let b = h.mkdir(a, b"b", 0, 0, 0o755).unwrap();
    assert_eq!(h.mkdir(a, b"c", 0, 0, 0o755), Err(Errno::EAGAIN));
    h.write(a, File::MaxDescendants, b"max").unwrap();
    h.write(a, File::MaxDepth, b"1").unwrap();
    assert_eq!(h.mkdir(b, b"d", 0, 0, 0o755), Err(Errno::EAGAIN));
    h.mkdir(a, b"e", 0, 0, 0o755).unwrap();
    assert_eq!(h.write(a, File::MaxDepth, b"-1"), Err(Errno::ERANGE));
    assert_eq!(h.write(a, File::MaxDepth, b"x"), Err(Errno::EINVAL));
}

#[test]
fn subtree_control_rules() {
    let mut h = Hierarchy::new();
    assert_eq!(read(&h, ROOT, File::Controllers), "cpu io memory pids\n");
    assert_eq!(read(&h, ROOT, File::SubtreeControl), "");
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    assert_eq!(read(&h, a, File::Controllers), "");
    assert!(!h.has_file(a, File::MemMax));
    assert_eq!(h.write_subtree_control(ROOT, b"memory"), Err(Errno::EINVAL));
    assert_eq!(h.write_subtree_control(ROOT, b"+nope"), Err(Errno::EINVAL));
    assert_eq!(
        h.write_subtree_control(ROOT, b"*memory"),
        Err(Errno::EINVAL)
    );
    h.write_subtree_control(ROOT, b"+memory +pids\n").unwrap();
    assert_eq!(read(&h, a, File::Controllers), "memory pids\n");
    assert!(h.has_file(a, File::MemMax) && h.has_file(a, File::PidsMax));
    assert!(!h.has_file(ROOT, File::MemMax) && h.has_file(ROOT, File::MemStat));
    assert_eq!(h.write_subtree_control(a, b"+cpu"), Err(Errno::ENOENT));
    // A process in `a`: enabling a domain controller below it is EBUSY,
    // a threaded one (pids) is not.
    h.fork(None, 10, Some(a)).unwrap();
    assert_eq!(h.write_subtree_control(a, b"+memory"), Err(Errno::EBUSY));
    h.write_subtree_control(a, b"+pids").unwrap();
    h.write_subtree_control(a, b"-pids").unwrap();
    h.migrate(10, ROOT, (0, 0)).unwrap();
    h.write_subtree_control(a, b"+memory").unwrap();
    // A child enabling it keeps the parent from disabling it.
    let b = h.mkdir(a, b"b", 0, 0, 0o755).unwrap();
    h.write_subtree_control(b, b"+memory").unwrap();
    assert_eq!(h.write_subtree_control(a, b"-memory"), Err(Errno::EBUSY));
    // No internal processes: `a` enables memory, so nothing may join it.
    assert_eq!(h.vet_dst(a), Err(Errno::EBUSY));
    assert_eq!(
        h.attach_check(ROOT, a, &root_who(), true),
        Err(Errno::EBUSY)
    );
    assert_eq!(h.vet_dst(b), Err(Errno::EBUSY));
    h.write_subtree_control(b, b"-memory").unwrap();
    assert_eq!(h.vet_dst(b), Ok(()));
    assert_eq!(
        h.vet_dst(ROOT),
        Ok(()),
        "the root may always hold processes"
    );
}

#[test]
fn disabling_a_controller_resets_its_knobs() {
    let mut h = Hierarchy::new();
    h.write_subtree_control(ROOT, b"+memory +pids +cpu")
        .unwrap();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    h.write(a, File::MemMax, b"1M").unwrap();
    h.write(a, File::PidsMax, b"5").unwrap();
    assert_eq!(read(&h, a, File::MemMax), "1048576\n");
    h.write_subtree_control(ROOT, b"-memory -pids").unwrap();
    h.write_subtree_control(ROOT, b"+memory +pids").unwrap();
    assert_eq!(read(&h, a, File::MemMax), "max\n");
    assert_eq!(read(&h, a, File::PidsMax), "max\n");
}

#[test]
fn pids_max_limits_forks_and_threads() {
    let mut h = Hierarchy::new();
    h.fork(None, 1, None).unwrap();
    h.write_subtree_control(ROOT, b"+pids").unwrap();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    let b = h.mkdir(a, b"b", 0, 0, 0o755).unwrap();
    h.write(a, File::PidsMax, b"2").unwrap();
    assert_eq!(h.write(a, File::PidsMax, b"-1"), Err(Errno::EINVAL));
    assert_eq!(h.write(a, File::PidsMax, b"4194305"), Err(Errno::EINVAL));
    h.fork(Some(1), 2, Some(b)).unwrap();
    h.new_thread(2).unwrap();
    assert_eq!(read(&h, a, File::PidsCurrent), "2\n");
    assert_eq!(h.fork(Some(2), 3, None), Err(Errno::EAGAIN));
    assert_eq!(h.new_thread(2), Err(Errno::EAGAIN));
    // b has no pids controller of its own: a's events count (the nearest).
    assert_eq!(read(&h, a, File::PidsEvents), "max 2\n");
    h.thread_gone(2);
    h.fork(Some(2), 3, None).unwrap();
    assert_eq!(h.cgroup_of(3), Some(b));
    // A zombie counts until it is reaped; it no longer populates.
    h.exit(3);
    assert_eq!(read(&h, a, File::PidsCurrent), "2\n");
    h.release(3, (0, 0));
    assert_eq!(read(&h, a, File::PidsCurrent), "1\n");
    // Moving in goes past the limit (Linux charges migrations without it).
    h.write(a, File::PidsMax, b"0").unwrap();
    h.fork(Some(1), 4, None).unwrap();
    h.migrate(4, b, (0, 0)).unwrap();
    assert_eq!(read(&h, a, File::PidsCurrent), "2\n");
    assert_eq!(read(&h, ROOT, File::Procs), "1\n");
}

#[test]
fn populated_and_rmdir_with_members() {
    let mut h = Hierarchy::new();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    let b = h.mkdir(a, b"b", 0, 0, 0o755).unwrap();
    assert_eq!(read(&h, a, File::Events), "populated 0\nfrozen 0\n");
    h.fork(None, 7, Some(b)).unwrap();
    assert_eq!(read(&h, a, File::Events), "populated 1\nfrozen 0\n");
    assert_eq!(read(&h, b, File::Procs), "7\n");
    assert_eq!(read(&h, a, File::Procs), "");
    assert_eq!(h.rmdir(a, b"b"), Err(Errno::EBUSY));
    h.exit(7);
    assert_eq!(read(&h, a, File::Events), "populated 0\nfrozen 0\n");
    assert_eq!(read(&h, b, File::Procs), "", "zombies are not listed");
    h.rmdir(a, b"b").unwrap();
    assert_eq!(h.cgroup_of(7), Some(a), "the zombie went to the parent");
    h.release(7, (100, 5));
    assert_eq!(h.cgroup_of(7), None);
}

#[test]
fn attach_permissions_follow_delegation() {
    let mut h = Hierarchy::new();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    let b = h.mkdir(a, b"b", 0, 0, 0o755).unwrap();
    let c = h.mkdir(a, b"c", 0, 0, 0o755).unwrap();
    let u = user(1000);
    assert_eq!(h.attach_check(b, c, &u, true), Err(Errno::EACCES));
    // Delegate a: its cgroup.procs belongs to the user. Moves between b and c
    // need a's (the common ancestor's).
    h.set_attr(a, Some(File::Procs), |x| x.uid = 1000).unwrap();
    assert_eq!(h.attach_check(b, c, &u, true), Ok(()));
    assert_eq!(h.attach_check(ROOT, c, &u, true), Err(Errno::EACCES));
    assert_eq!(h.attach_check(b, c, &u, false), Err(Errno::EOPNOTSUPP));
    // Within b, b's own cgroup.procs decides.
    assert_eq!(h.attach_check(b, b, &u, false), Err(Errno::EACCES));
    h.set_attr(b, Some(File::Procs), |x| x.uid = 1000).unwrap();
    assert_eq!(h.attach_check(b, b, &u, false), Ok(()));
    // nsdelegate: both ends within the writer's namespace.
    h.options |= OPT_NSDELEGATE;
    let mut inside = root_who();
    inside.ns_root = b;
    assert_eq!(h.attach_check(b, c, &inside, true), Err(Errno::ENOENT));
}

#[test]
fn knob_formats_and_errors() {
    let mut h = Hierarchy::new();
    h.write_subtree_control(ROOT, b"+cpu +memory +io").unwrap();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    assert_eq!(read(&h, a, File::CpuWeight), "100\n");
    assert_eq!(read(&h, a, File::CpuWeightNice), "0\n");
    assert_eq!(h.write(a, File::CpuWeight, b"0"), Err(Errno::ERANGE));
    assert_eq!(h.write(a, File::CpuWeight, b"10001"), Err(Errno::ERANGE));
    h.write(a, File::CpuWeightNice, b"-20").unwrap();
    assert_eq!(read(&h, a, File::CpuWeight), "8668\n");
    assert_eq!(read(&h, a, File::CpuWeightNice), "-20\n");
    assert_eq!(read(&h, a, File::CpuMax), "max 100000\n");
    h.write(a, File::CpuMax, b"50000").unwrap();
    assert_eq!(read(&h, a, File::CpuMax), "50000 100000\n");
    h.write(a, File::CpuMax, b"max 20000\n").unwrap();
    assert_eq!(read(&h, a, File::CpuMax), "max 20000\n");
    assert_eq!(h.write(a, File::CpuMax, b"500"), Err(Errno::EINVAL));
    assert_eq!(h.write(a, File::CpuMax, b"max 2000000"), Err(Errno::EINVAL));
    assert_eq!(h.write(a, File::CpuMax, b"abc"), Err(Errno::EINVAL));
    h.write(a, File::MemHigh, b"10M").unwrap();
    assert_eq!(read(&h, a, File::MemHigh), "10485760\n");
    assert_eq!(h.write(a, File::MemHigh, b"lots"), Err(Errno::EINVAL));
    assert_eq!(h.write(a, File::MemOomGroup, b"2"), Err(Errno::EINVAL));
    assert_eq!(h.write(a, File::Type, b"domain"), Err(Errno::EINVAL));
    assert_eq!(h.write(a, File::Type, b"threaded"), Err(Errno::EOPNOTSUPP));
    assert_eq!(read(&h, a, File::Type), "domain\n");
    assert_eq!(read(&h, a, File::IoStat), "");
    assert!(read(&h, ROOT, File::CpuStat).starts_with("usage_usec 0\n"));
    assert!(read(&h, a, File::CpuStat).contains("nr_periods 0\n"));
}

#[test]
fn cpu_time_stays_where_it_was_used() {
    let mut h = Hierarchy::new();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    let b = h.mkdir(ROOT, b"b", 0, 0, 0o755).unwrap();
    // NoFacts: pid 3 has used (30, 5).
    h.fork(None, 3, Some(a)).unwrap();
    assert_eq!(
        read(&h, a, File::CpuStat),
        "usage_usec 35\nuser_usec 30\nsystem_usec 5\n"
    );
    h.migrate(3, b, (30, 5)).unwrap();
    assert!(read(&h, a, File::CpuStat).starts_with("usage_usec 35\n"));
    assert!(read(&h, b, File::CpuStat).starts_with("usage_usec 0\n"));
    h.release(3, (40, 5));
    assert!(read(&h, b, File::CpuStat).starts_with("usage_usec 10\n"));
    assert!(read(&h, ROOT, File::CpuStat).starts_with("usage_usec 45\n"));
}

#[test]
fn files_at_the_root_and_below() {
    let mut h = Hierarchy::new();
    let names = |h: &Hierarchy, id| h.files(id).iter().map(|f| f.def().name).collect::<Vec<_>>();
    let root = names(&h, ROOT);
    assert!(root.contains(&"cgroup.procs") && !root.contains(&"cgroup.kill"));
    assert!(!root.contains(&"cgroup.events") && root.contains(&"io.stat"));
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    let below = names(&h, a);
    assert!(below.contains(&"cgroup.kill") && below.contains(&"cgroup.type"));
    assert!(!below.contains(&"io.stat") && below.contains(&"cpu.stat"));
}

#[test]
fn file_attributes_default_to_the_creator() {
    let mut h = Hierarchy::new();
    let a = h.mkdir(ROOT, b"a", 1000, 100, 0o700).unwrap();
    assert_eq!(
        h.attr(a, None),
        Attr {
            uid: 1000,
            gid: 100,
            mode: 0o700
        }
    );
    assert_eq!(h.attr(a, Some(File::Kill)).mode, 0o200);
    assert_eq!(h.attr(a, Some(File::Procs)).uid, 1000);
    h.set_attr(a, Some(File::Procs), |x| x.mode = 0o600)
        .unwrap();
    assert_eq!(h.attr(a, Some(File::Procs)).mode, 0o600);
}

#[test]
fn freezing_is_inherited_below() {
    let mut h = Hierarchy::new();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    let b = h.mkdir(a, b"b", 0, 0, 0o755).unwrap();
    assert_eq!(read(&h, a, File::Freeze), "0\n");
    assert_eq!(h.write(a, File::Freeze, b"2"), Err(Errno::ERANGE));
    assert_eq!(h.write(a, File::Freeze, b"x"), Err(Errno::EINVAL));
    h.write(a, File::Freeze, b"1\n").unwrap();
    assert!(h.frozen(b) && !h.frozen(ROOT));
    assert_eq!(read(&h, b, File::Events), "populated 0\nfrozen 1\n");
    assert_eq!(read(&h, b, File::Freeze), "0\n", "its own setting");
    assert!(!h.has_file(ROOT, File::Freeze));
}

#[test]
fn events_changes_are_recorded_for_notification() {
    let mut h = Hierarchy::new();
    let a = h.mkdir(ROOT, b"a", 0, 0, 0o755).unwrap();
    let b = h.mkdir(a, b"b", 0, 0, 0o755).unwrap();
    h.fork(None, 1, None).unwrap();
    h.take_events();
    h.fork(Some(1), 2, Some(b)).unwrap();
    assert_eq!(h.take_events(), vec![b, a], "b and a became populated");
    h.fork(Some(1), 3, Some(b)).unwrap();
    assert_eq!(h.take_events(), Vec::<CgId>::new(), "no change");
    h.exit(2);
    h.exit(3);
    assert_eq!(h.take_events(), vec![b, a]);
    h.write(a, File::Freeze, b"1").unwrap();
    assert_eq!(h.take_events(), vec![a, b]);
}
