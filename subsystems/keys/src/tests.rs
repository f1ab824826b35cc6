use super::*;

fn root() -> Caller<'static> {
    Caller {
        ruid: 0,
        fsuid: 0,
        fsgid: 0,
        groups: &[],
        sys_admin: true,
        now_ns: 1000 * NS,
    }
}

fn user(uid: u32) -> Caller<'static> {
    Caller {
        ruid: uid,
        fsuid: uid,
        fsgid: uid,
        groups: &[],
        sys_admin: false,
        now_ns: 1000 * NS,
    }
}

#[test]
fn add_user_key_and_read_it_back() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    let s = k
        .add_key(
            &mut sl,
            &c,
            b"user",
            Some(b"k1"),
            b"abc".to_vec(),
            KEY_SPEC_SESSION_KEYRING,
        )
        .unwrap();
    assert!(s >= 3);
    assert!(sl.session.is_some());
    assert_eq!(k.read(&mut sl, &c, s).unwrap(), b"abc");
    assert_eq!(
        k.describe(&mut sl, &c, s).unwrap(),
        b"user;0;0;3f010000;k1\0"
    );
    let ring = k.read(&mut sl, &c, KEY_SPEC_SESSION_KEYRING).unwrap();
    assert_eq!(ring, s.to_ne_bytes());
}

#[test]
fn payload_limits_per_type() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    let t = KEY_SPEC_THREAD_KEYRING;
    assert!(
        k.add_key(&mut sl, &c, b"user", Some(b"a"), vec![0; 32767], t)
            .is_ok()
    );
    assert_eq!(
        k.add_key(&mut sl, &c, b"user", Some(b"b"), vec![0; 32768], t),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        k.add_key(&mut sl, &c, b"keyring", Some(b"r"), vec![0; 1], t),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        k.add_key(&mut sl, &c, b"logon", Some(b"nocolon"), vec![1], t),
        Err(Errno::EINVAL)
    );
    let l = k
        .add_key(&mut sl, &c, b"logon", Some(b"a:b"), vec![1], t)
        .unwrap();
    assert_eq!(k.read(&mut sl, &c, l), Err(Errno::EOPNOTSUPP));
    assert!(
        k.add_key(&mut sl, &c, b"big_key", Some(b"g"), vec![0; PAYLOAD_MAX], t)
            .is_ok()
    );
    assert_eq!(
        k.add_key(&mut sl, &c, b"nosuch", Some(b"g"), vec![1], t),
        Err(Errno::ENODEV)
    );
    assert_eq!(
        k.add_key(&mut sl, &c, b"user", None, vec![1], t),
        Err(Errno::EINVAL)
    );
}

#[test]
fn same_description_updates_in_place() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    let p = KEY_SPEC_PROCESS_KEYRING;
    let a = k
        .add_key(&mut sl, &c, b"user", Some(b"x"), b"1".to_vec(), p)
        .unwrap();
    let b = k
        .add_key(&mut sl, &c, b"user", Some(b"x"), b"22".to_vec(), p)
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(k.read(&mut sl, &c, a).unwrap(), b"22");
    // A keyring of the same name replaces the link.
    let r1 = k
        .add_key(&mut sl, &c, b"keyring", Some(b"r"), vec![], p)
        .unwrap();
    let r2 = k
        .add_key(&mut sl, &c, b"keyring", Some(b"r"), vec![], p)
        .unwrap();
    assert_ne!(r1, r2);
    assert!(!k.exists(r1));
}

#[test]
fn revoked_and_expired_keys_answer_their_errors() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let mut c = root();
    let p = KEY_SPEC_PROCESS_KEYRING;
    let a = k
        .add_key(&mut sl, &c, b"user", Some(b"x"), b"1".to_vec(), p)
        .unwrap();
    k.revoke(&mut sl, &c, a).unwrap();
    assert_eq!(k.revoke(&mut sl, &c, a), Err(Errno::EKEYREVOKED));
    assert_eq!(k.read(&mut sl, &c, a), Err(Errno::EKEYREVOKED));
    assert_eq!(k.unlink(&mut sl, &c, a, p), Ok(()));
    assert!(!k.exists(a));
    assert_eq!(k.read(&mut sl, &c, a), Err(Errno::ENOKEY));
    let b = k
        .add_key(&mut sl, &c, b"user", Some(b"y"), b"1".to_vec(), p)
        .unwrap();
    k.set_timeout(&mut sl, &c, b, 1).unwrap();
    c.now_ns += 2 * NS;
    assert_eq!(k.read(&mut sl, &c, b), Err(Errno::EKEYEXPIRED));
    assert_eq!(
        k.search(&mut sl, &c, p, b"user", b"y", 0),
        Err(Errno::EKEYEXPIRED)
    );
    assert_eq!(
        k.search(&mut sl, &c, p, b"user", b"z", 0),
        Err(Errno::ENOKEY)
    );
}

#[test]
fn links_may_not_make_a_cycle() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    let s = KEY_SPEC_SESSION_KEYRING;
    let p = KEY_SPEC_PROCESS_KEYRING;
    k.link(&mut sl, &c, p, s).unwrap();
    assert_eq!(k.link(&mut sl, &c, s, p), Err(Errno::EDEADLK));
    assert_eq!(k.link(&mut sl, &c, s, s), Err(Errno::EDEADLK));
    // A chain too deep is ELOOP.
    let mut prev = k
        .add_key(&mut sl, &c, b"keyring", Some(b"d0"), vec![], p)
        .unwrap();
    let mut err = None;
    for i in 1..10 {
        let d = alloc::format!("d{i}");
        let r = k
            .add_key(&mut sl, &c, b"keyring", Some(d.as_bytes()), vec![], p)
            .unwrap();
        if let Err(e) = k.link(&mut sl, &c, prev, r) {
            err = Some(e);
            break;
        }
        prev = r;
    }
    assert_eq!(err, Some(Errno::ELOOP));
}

#[test]
fn keys_go_when_their_last_link_does() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    let p = KEY_SPEC_PROCESS_KEYRING;
    let r = k
        .add_key(&mut sl, &c, b"keyring", Some(b"r"), vec![], p)
        .unwrap();
    let a = k
        .add_key(&mut sl, &c, b"user", Some(b"a"), b"1".to_vec(), r)
        .unwrap();
    k.clear(&mut sl, &c, p).unwrap();
    assert!(!k.exists(r));
    assert!(!k.exists(a));
    k.release(&mut sl);
    assert!(k.is_empty());
    assert_eq!(k.key_user(0).qnkeys, 0);
    assert_eq!(k.key_user(0).qnbytes, 0);
}

#[test]
fn quota_counts_description_payload_and_links() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = user(1000);
    let t = KEY_SPEC_THREAD_KEYRING;
    k.add_key(&mut sl, &c, b"user", Some(b"test1"), vec![0; 64], t)
        .unwrap();
    // _tid (5) + link (4) + test1 (6 + 64).
    assert_eq!(k.key_user(1000).qnbytes, 5 + 4 + 6 + 64);
    let used = k.key_user(1000).qnbytes;
    let left = 20000 - used - 4 - "test_max".len() - 1;
    assert_eq!(
        k.add_key(
            &mut sl,
            &c,
            b"user",
            Some(b"test_inv"),
            vec![0; left + 1],
            t
        ),
        Err(Errno::EDQUOT)
    );
    k.add_key(&mut sl, &c, b"user", Some(b"test_max"), vec![0; left], t)
        .unwrap();
    assert_eq!(k.key_user(1000).qnbytes, 20000);
    let mut sl2 = Slots::default();
    let mut n = k.key_user(1000).qnkeys;
    k.limits.maxbytes = 1 << 30;
    while n < 200 {
        let d = alloc::format!("k{n}");
        k.add_key(
            &mut sl2,
            &c,
            b"user",
            Some(d.as_bytes()),
            vec![1],
            KEY_SPEC_PROCESS_KEYRING,
        )
        .unwrap();
        n = k.key_user(1000).qnkeys;
    }
    assert_eq!(
        k.add_key(
            &mut sl2,
            &c,
            b"user",
            Some(b"one_more"),
            vec![1],
            KEY_SPEC_PROCESS_KEYRING
        ),
        Err(Errno::EDQUOT)
    );
}

#[test]
fn permissions_follow_owner_group_other_and_possession() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = user(1000);
    let p = KEY_SPEC_PROCESS_KEYRING;
    let a = k
        .add_key(&mut sl, &c, b"user", Some(b"a"), b"1".to_vec(), p)
        .unwrap();
    // Another user's process possesses nothing of ours and has no rights.
    let o = user(2000);
    let mut sl2 = Slots::default();
    assert_eq!(k.describe(&mut sl2, &o, a), Err(Errno::EACCES));
    k.setperm(&mut sl, &c, a, 0x3f01_0001).unwrap();
    assert!(k.describe(&mut sl2, &o, a).is_ok());
    assert_eq!(k.read(&mut sl2, &o, a), Err(Errno::EACCES));
    // The owner reads it through possession even without user read.
    k.setperm(&mut sl, &c, a, 0x3f00_0000).unwrap();
    assert_eq!(k.read(&mut sl, &c, a).unwrap(), b"1");
    // Another user may not change its mask; its owner may not give it away.
    assert_eq!(k.setperm(&mut sl2, &o, a, 0), Err(Errno::EACCES));
    assert_eq!(k.chown(&mut sl, &c, a, 0, u32::MAX), Err(Errno::EACCES));
    assert_eq!(k.chown(&mut sl, &c, a, u32::MAX, 1000), Ok(()));
    assert_eq!(k.chown(&mut sl, &c, a, u32::MAX, 5), Err(Errno::EACCES));
    // Root may, and the quota moves with the key.
    let before = k.key_user(1000).qnkeys;
    assert_eq!(k.chown(&mut sl, &root(), a, 0, u32::MAX), Ok(()));
    assert_eq!(k.key_user(1000).qnkeys, before - 1);
}

#[test]
fn special_keyrings_are_made_on_demand() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    assert_eq!(
        k.get_keyring_id(&mut sl, &c, KEY_SPEC_THREAD_KEYRING, false),
        Err(Errno::ENOKEY)
    );
    let t = k
        .get_keyring_id(&mut sl, &c, KEY_SPEC_THREAD_KEYRING, true)
        .unwrap();
    assert_eq!(
        k.set_reqkey(&mut sl, &c, KEY_REQKEY_DEFL_THREAD_KEYRING),
        Ok(0)
    );
    assert_eq!(
        k.get_keyring_id(&mut sl, &c, KEY_SPEC_THREAD_KEYRING, false),
        Ok(t)
    );
    assert_eq!(
        k.set_reqkey(&mut sl, &c, KEY_REQKEY_DEFL_GROUP_KEYRING),
        Err(Errno::EINVAL)
    );
    assert_eq!(k.set_reqkey(&mut sl, &c, KEY_REQKEY_DEFL_NO_CHANGE), Ok(1));
    // Without a session, the user session keyring is installed.
    let us = k
        .get_keyring_id(&mut sl, &c, KEY_SPEC_USER_SESSION_KEYRING, false)
        .unwrap();
    assert_eq!(
        k.get_keyring_id(&mut sl, &c, KEY_SPEC_SESSION_KEYRING, false),
        Ok(us)
    );
    assert_eq!(k.get_keyring_id(&mut sl, &c, 0, false), Err(Errno::EINVAL));
    assert_eq!(k.get_keyring_id(&mut sl, &c, -9, false), Err(Errno::EINVAL));
    assert_eq!(
        k.get_keyring_id(&mut sl, &c, KEY_SPEC_GROUP_KEYRING, false),
        Err(Errno::EINVAL)
    );
}

#[test]
fn forged_uid_keyrings_are_not_the_users() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    let fake = k
        .add_key(
            &mut sl,
            &c,
            b"keyring",
            Some(b"_uid.5"),
            vec![],
            KEY_SPEC_PROCESS_KEYRING,
        )
        .unwrap();
    let u = user(5);
    assert_ne!(
        k.get_keyring_id(&mut sl, &u, KEY_SPEC_USER_KEYRING, true),
        Ok(fake)
    );
}

#[test]
fn join_session_by_name() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    assert_eq!(
        k.join_session(&mut sl, &c, Some(b".builtin_trusted_keys")),
        Err(Errno::EPERM)
    );
    assert_eq!(k.join_session(&mut sl, &c, Some(b"")), Err(Errno::EINVAL));
    let a = k.join_session(&mut sl, &c, None).unwrap();
    let b = k.join_session(&mut sl, &c, Some(b"named")).unwrap();
    assert_ne!(a, b);
    assert!(!k.exists(a));
    assert_eq!(
        k.describe(&mut sl, &c, KEY_SPEC_SESSION_KEYRING).unwrap(),
        b"keyring;0;0;3f130000;named\0".to_vec()
    );
}

#[test]
fn request_key_without_upcall() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    let p = KEY_SPEC_PROCESS_KEYRING;
    let a = k
        .add_key(&mut sl, &c, b"user", Some(b"a"), b"1".to_vec(), p)
        .unwrap();
    assert_eq!(k.request_key(&mut sl, &c, b"user", b"a", false, 0), Ok(a));
    assert_eq!(
        k.request_key(&mut sl, &c, b"user", b"b", false, 0),
        Err(Errno::ENOKEY)
    );
    assert_eq!(
        k.request_key(&mut sl, &c, b"keyring", b"b", true, 0),
        Err(Errno::EPERM)
    );
    assert_eq!(
        k.request_key(&mut sl, &c, b"user", b"b", true, p),
        Err(Errno::ENOENT)
    );
    let ring = k.read(&mut sl, &c, p).unwrap();
    assert_eq!(ring.len(), 8);
    let neg = i32::from_ne_bytes(ring[4..8].try_into().unwrap());
    assert_eq!(k.read(&mut sl, &c, neg), Err(Errno::ENOKEY));
    assert!(k.describe(&mut sl, &c, neg).is_ok());
    assert_eq!(
        k.request_key(&mut sl, &c, b"user", b"b", true, p),
        Err(Errno::ENOKEY)
    );
}

#[test]
fn proc_files_list_keys_and_users() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    k.add_key(
        &mut sl,
        &c,
        b"user",
        Some(b"a"),
        b"1".to_vec(),
        KEY_SPEC_PROCESS_KEYRING,
    )
    .unwrap();
    let keys = k.proc_keys(&sl, &c);
    assert!(keys.contains("user      a: 1"), "{keys}");
    assert!(keys.contains("keyring   _pid: 1"), "{keys}");
    let users = k.proc_key_users();
    assert!(users.starts_with("    0:     2 2/2 2/1000000 "), "{users}");
}

#[test]
fn a_long_chain_built_from_the_top_costs_nothing_to_link() {
    let mut k = Keys::new(1);
    let mut sl = Slots::default();
    let c = root();
    let top = k
        .add_key(
            &mut sl,
            &c,
            b"keyring",
            Some(b"top"),
            vec![],
            KEY_SPEC_PROCESS_KEYRING,
        )
        .unwrap();
    k.setperm(&mut sl, &c, top, 0x3f3f_0000).unwrap();
    let mut at = top;
    let p = KEY_SPEC_PROCESS_KEYRING;
    for i in 0..2000 {
        // Made where it is possessed, opened to its owner, hung below the last.
        let d = alloc::format!("c{i}");
        let r = k
            .add_key(&mut sl, &c, b"keyring", Some(d.as_bytes()), vec![], p)
            .unwrap();
        k.setperm(&mut sl, &c, r, 0x3f3f_0000).unwrap();
        k.link(&mut sl, &c, r, at).unwrap();
        k.unlink(&mut sl, &c, r, p).unwrap();
        at = r;
    }
    // Linking the top anywhere sees it is too deep; under its own bottom, too.
    assert_eq!(
        k.link(&mut sl, &c, top, KEY_SPEC_SESSION_KEYRING),
        Err(Errno::ELOOP)
    );
    assert!(matches!(
        k.link(&mut sl, &c, top, at),
        Err(Errno::ELOOP | Errno::EDEADLK)
    ));
    // Dropping the chain frees it all, iteratively.
    k.clear(&mut sl, &c, KEY_SPEC_PROCESS_KEYRING).unwrap();
    k.release(&mut sl);
    // What stays: root's user and user session keyrings (the session lookup
    // made them), which live as long as the user's table entry.
    assert_eq!(k.len(), 2);
}
