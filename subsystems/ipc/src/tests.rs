use super::msg::{Msg, MsgQueue};
use super::sem::{Block, SemSet};
use super::*;
use kestrel_abi::ipc::*;

const ROOT: Cred = Cred {
    euid: 0,
    egid: 0,
    groups: &[],
    ipc_owner: true,
    sys_admin: true,
};
const USER: Cred = Cred {
    euid: 1000,
    egid: 1000,
    groups: &[],
    ipc_owner: false,
    sys_admin: false,
};

#[test]
fn get_follows_creat_and_excl() {
    let mut r: Registry<u32> = Registry::new(4);
    assert_eq!(r.get(5, 0, &ROOT, |_| Ok(())), Err(Errno::ENOENT));
    assert_eq!(r.get(5, IPC_CREAT, &ROOT, |_| Ok(())), Ok(Lookup::Create));
    let id = r.insert(5, 0o600, &ROOT, 1).unwrap();
    assert_eq!(r.get(5, 0, &ROOT, |_| Ok(())), Ok(Lookup::Found(id)));
    assert_eq!(
        r.get(5, IPC_CREAT, &ROOT, |_| Ok(())),
        Ok(Lookup::Found(id))
    );
    assert_eq!(
        r.get(5, IPC_CREAT | IPC_EXCL, &ROOT, |_| Ok(())),
        Err(Errno::EEXIST)
    );
    assert_eq!(r.get(IPC_PRIVATE, 0, &ROOT, |_| Ok(())), Ok(Lookup::Create));
}

#[test]
fn stale_ids_are_einval_and_limit_is_enospc() {
    let mut r: Registry<u32> = Registry::new(2);
    let a = r.insert(0, 0o600, &ROOT, 1).unwrap();
    r.insert(0, 0o600, &ROOT, 2).unwrap();
    assert_eq!(r.insert(0, 0o600, &ROOT, 3), Err(Errno::ENOSPC));
    r.remove(a).unwrap();
    let c = r.insert(0, 0o600, &ROOT, 3).unwrap();
    assert_ne!(a, c);
    assert!(r.lookup(a).is_err());
    assert_eq!(r.lookup(c).unwrap().obj, 3);
    assert!(r.lookup(-1).is_err());
    assert_eq!(r.max_index(), 1);
}

#[test]
fn next_id_is_used_once_or_the_next_free_index_with_its_sequence() {
    let mut r: Registry<u32> = Registry::new(8);
    assert_eq!(r.next_id(), -1);
    r.set_next_id(3 * 32768 + 5);
    assert_eq!(r.insert(0, 0o600, &ROOT, 1), Ok(3 * 32768 + 5));
    assert_eq!(r.next_id(), -1);
    assert_eq!(r.lookup(3 * 32768 + 5).unwrap().obj, 1);
    // Taken: the next free index, the asked sequence.
    r.set_next_id(3 * 32768 + 5);
    assert_eq!(r.insert(0, 0o600, &ROOT, 2), Ok(3 * 32768 + 6));
    // A smaller limit refuses more, keeps what exists.
    r.set_max(2);
    assert_eq!(r.insert(0, 0o600, &ROOT, 3), Err(Errno::ENOSPC));
    assert_eq!(r.len(), 2);
}

#[test]
fn ids_count_up_and_wrap_with_a_new_sequence() {
    let mut r: Registry<u32> = Registry::new(3);
    let ids: alloc::vec::Vec<i32> = (0..3)
        .map(|i| r.insert(0, 0o600, &ROOT, i).unwrap())
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    r.remove(1).unwrap();
    r.remove(0).unwrap();
    // Past the end: back to the first free index, one sequence up.
    assert_eq!(r.insert(0, 0o600, &ROOT, 9), Ok(32768));
    assert_eq!(r.insert(0, 0o600, &ROOT, 9), Ok(32769));
    assert_eq!(r.by_index(1).unwrap().0, 32769);
    assert!(r.lookup(1).is_err());
}

#[test]
fn permissions_by_class() {
    let mut r: Registry<u32> = Registry::new(4);
    let id = r.insert(9, 0o640, &ROOT, 0).unwrap();
    let p = r.lookup(id).unwrap().perm;
    assert!(!p.allows(&USER, READ));
    let grp = Cred {
        groups: &[0],
        ..USER
    };
    assert!(p.allows(&grp, READ));
    assert!(!p.allows(&grp, WRITE));
    assert!(p.allows(&ROOT, READ | WRITE));
    assert!(!p.may_control(&USER));
    assert_eq!(r.get(9, 0o400, &USER, |_| Ok(())), Err(Errno::EACCES));
    assert!(r.get(9, 0, &USER, |_| Ok(())).is_ok());
}

fn m(t: i64, n: usize) -> Msg {
    Msg {
        mtype: t,
        text: alloc::vec![t as u8; n],
    }
}

#[test]
fn receive_selects_by_type() {
    let mut q = MsgQueue::new(0);
    for t in [3, 1, 2, 1] {
        q.push(m(t, 4), 1, 0).unwrap();
    }
    assert_eq!(q.receive(2, 100, 0, 2, 0).unwrap().mtype, 2);
    assert_eq!(q.receive(1, 100, MSG_EXCEPT, 2, 0).unwrap().mtype, 3);
    assert_eq!(q.receive(-5, 100, 0, 2, 0).unwrap().mtype, 1);
    assert_eq!(q.receive(7, 100, 0, 2, 0), Err(Errno::ENOMSG));
    assert_eq!(q.receive(0, 100, 0, 2, 0).unwrap().mtype, 1);
    assert_eq!(q.qnum(), 0);
    assert_eq!(q.cbytes, 0);
    assert_eq!(q.receive(i64::MIN, 1, 0, 2, 0), Err(Errno::ENOMSG));
}

#[test]
fn receive_too_long_is_e2big_unless_noerror() {
    let mut q = MsgQueue::new(0);
    q.push(m(1, 10), 1, 0).unwrap();
    assert_eq!(q.receive(0, 4, 0, 2, 0), Err(Errno::E2BIG));
    assert_eq!(q.qnum(), 1);
    assert_eq!(q.receive(0, 4, MSG_NOERROR, 2, 0).unwrap().text.len(), 4);
}

#[test]
fn room_counts_bytes_and_messages() {
    let mut q = MsgQueue::new(0);
    q.qbytes = 8;
    assert!(q.has_room(8));
    assert!(!q.has_room(9));
    q.push(m(1, 6), 1, 0).unwrap();
    assert!(!q.has_room(3));
    q.qbytes = 2;
    q.receive(0, 100, 0, 1, 0).unwrap();
    q.push(m(1, 0), 1, 0).unwrap();
    q.push(m(1, 0), 1, 0).unwrap();
    assert!(!q.has_room(0));
}

fn op(num: u16, op: i16, flg: i16) -> Sembuf {
    Sembuf {
        sem_num: num,
        sem_op: op,
        sem_flg: flg,
    }
}

#[test]
fn semop_is_all_or_nothing() {
    let mut s = SemSet::new(2, 0).unwrap();
    assert_eq!(
        s.apply(&[op(0, 1, 0), op(1, -1, 0)], 7, 1),
        Ok(Some(Block {
            num: 1,
            zero: false
        }))
    );
    assert_eq!(s.sems[0].val, 0);
    assert_eq!(
        s.apply(&[op(0, 1, 0), op(1, -1, IPC_NOWAIT as i16)], 7, 1),
        Err(Errno::EAGAIN)
    );
    assert_eq!(s.apply(&[op(0, 2, 0), op(0, -1, 0)], 7, 1), Ok(None));
    assert_eq!(s.sems[0].val, 1);
    assert_eq!(s.sems[0].pid, 7);
    assert_eq!(s.apply(&[op(1, 0, 0)], 7, 1), Ok(None));
    assert_eq!(
        s.apply(&[op(0, 0, 0)], 7, 1),
        Ok(Some(Block { num: 0, zero: true }))
    );
    assert_eq!(s.apply(&[op(2, 1, 0)], 7, 1), Err(Errno::EFBIG));
    assert_eq!(s.apply(&[op(0, 32767, 0)], 7, 1), Err(Errno::ERANGE));
}

#[test]
fn undo_applies_at_exit_and_setval_clears_it() {
    let mut s = SemSet::new(1, 0).unwrap();
    s.apply(&[op(0, 3, SEM_UNDO)], 7, 1).unwrap();
    s.apply(&[op(0, 1, 0)], 8, 1).unwrap();
    assert!(s.has_undo(7));
    assert!(s.exit(7));
    assert_eq!(s.sems[0].val, 1);
    assert!(!s.exit(7));
    s.apply(&[op(0, 2, SEM_UNDO)], 7, 1).unwrap();
    s.set_val(0, 0, 9, 2).unwrap();
    s.exit(7);
    assert_eq!(s.sems[0].val, 0);
    // A decrement's undo adds back, clamped at SEMVMX.
    s.set_val(0, 5, 9, 2).unwrap();
    s.apply(&[op(0, -5, SEM_UNDO)], 7, 1).unwrap();
    s.set_all(&[32767], 9, 3).unwrap();
    assert!(!s.exit(7));
    assert_eq!(s.set_val(0, 40000, 9, 3), Err(Errno::ERANGE));
}
