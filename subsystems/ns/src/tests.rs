use super::*;

#[test]
fn link_text_is_kind_and_inode() {
    assert_eq!(link_text(Kind::Uts, 4026531838), b"uts:[4026531838]");
    assert_eq!(link_text(Kind::Time, 0), b"time:[0]");
}

#[test]
fn init_inums_are_linuxs() {
    assert_eq!(Kind::Uts.init_inum(), 4026531838);
    assert_eq!(Kind::Ipc.init_inum(), 4026531839);
    assert_eq!(Kind::Time.init_inum(), 4026531834);
    for k in Kind::ALL {
        assert!(k.init_inum() < FIRST_DYNAMIC_INUM);
    }
}

#[test]
fn unshare_rejects_unknown_flags_and_widens() {
    assert_eq!(unshare_flags(0x1), Err(Errno::EINVAL));
    assert_eq!(unshare_flags(CLONE_NEWNS), Ok(CLONE_NEWNS | CLONE_FS));
    assert_eq!(
        unshare_flags(CLONE_NEWUSER),
        Ok(CLONE_NEWUSER | CLONE_FS | CLONE_THREAD)
    );
    assert_eq!(
        unshare_flags(CLONE_VM),
        Ok(CLONE_VM | CLONE_SIGHAND | CLONE_THREAD)
    );
    assert_eq!(unshare_flags(0), Ok(0));
}

#[test]
fn admin_needed_for_all_but_user() {
    assert!(!needs_admin(CLONE_NEWUSER));
    assert!(needs_admin(CLONE_NEWUSER | CLONE_NEWNS));
    assert!(needs_admin(CLONE_NEWTIME));
    assert!(!needs_admin(CLONE_FS | CLONE_FILES));
}

#[test]
fn clone_flag_combinations() {
    assert_eq!(
        check_clone_flags(CLONE_NEWNS | CLONE_FS),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        check_clone_flags(CLONE_NEWPID | CLONE_THREAD),
        Err(Errno::EINVAL)
    );
    assert_eq!(check_clone_flags(CLONE_NEWNS), Ok(()));
}

#[test]
fn setns_type() {
    assert!(setns_type_ok(0, Kind::Net));
    assert!(setns_type_ok(CLONE_NEWNET as i64, Kind::Net));
    assert!(!setns_type_ok(CLONE_NEWUTS as i64, Kind::Net));
    assert!(!setns_type_ok(-1, Kind::Net));
}

#[test]
fn offsets_parse() {
    assert_eq!(
        parse_offsets(b"1 10 0"),
        Ok(alloc::vec![Offset {
            clock: 1,
            sec: 10,
            nsec: 0
        }])
    );
    assert_eq!(
        parse_offsets(b"monotonic -10 5\nboottime 3600 0\n").map(|v| v.len()),
        Ok(2)
    );
    assert_eq!(parse_offsets(b"1 10"), Err(Errno::EINVAL));
    assert_eq!(parse_offsets(b"1 10 1000000000"), Err(Errno::EINVAL));
    assert_eq!(parse_offsets(b"x 1 0"), Err(Errno::EINVAL));
    assert_eq!(parse_offsets(b""), Ok(alloc::vec![]));
}

#[test]
fn offsets_check() {
    let o = |clock, sec| Offset {
        clock,
        sec,
        nsec: 0,
    };
    assert_eq!(check_offset(&o(1, 10), 5_000_000_000), Ok(10_000_000_000));
    assert_eq!(check_offset(&o(7, -10), 5_000_000_000), Err(Errno::ERANGE));
    assert_eq!(check_offset(&o(0, 1), 5_000_000_000), Err(Errno::EINVAL));
    assert_eq!(check_offset(&o(1, KTIME_SEC_MAX), 0), Err(Errno::ERANGE));
}

#[test]
fn offsets_format_as_linux() {
    let t = format_offsets(10_000_000_000, -1);
    assert_eq!(
        core::str::from_utf8(&t).unwrap(),
        "monotonic          10         0\nboottime           -1 999999999\n"
    );
}

#[test]
fn id_maps_parse_and_format() {
    let m = parse_id_map(b"0 1000 1\n").unwrap();
    assert_eq!(
        m,
        alloc::vec![IdExtent {
            inside: 0,
            outside: 1000,
            count: 1
        }]
    );
    assert_eq!(format_id_map(&m), b"         0       1000          1\n");
    assert_eq!(
        format_id_map(&[IdExtent {
            inside: 0,
            outside: 0,
            count: u32::MAX
        }]),
        b"         0          0 4294967295\n"
    );
    assert_eq!(parse_id_map(b"0 1000 0"), Err(Errno::EINVAL));
    assert_eq!(parse_id_map(b""), Err(Errno::EINVAL));
    assert_eq!(parse_id_map(b"0 1000"), Err(Errno::EINVAL));
    assert_eq!(parse_id_map(b"0 1 5\n3 100 1\n"), Err(Errno::EINVAL));
    assert_eq!(parse_id_map(b"4294967295 0 2"), Err(Errno::EINVAL));
    assert_eq!(parse_id_map(b"0 0 1\n1 1 1\n").map(|m| m.len()), Ok(2));
}
