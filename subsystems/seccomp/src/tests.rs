use super::*;

fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

fn ld_nr() -> SockFilter {
    stmt(BPF_LD | BPF_W | BPF_ABS, 0)
}

fn ret(k: u32) -> SockFilter {
    stmt(BPF_RET | BPF_K, k)
}

fn data(nr: u64, args: [u64; 6]) -> SeccompData {
    data_for(nr, 0x40_1000, args)
}

/// nr == `nr` ? `hit` : ALLOW.
fn deny(nr: u32, hit: u32) -> Program {
    Program::new(alloc::vec![
        ld_nr(),
        jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
        ret(hit),
        ret(SECCOMP_RET_ALLOW),
    ])
    .unwrap()
}

#[test]
fn empty_and_oversized_programs_are_einval() {
    assert_eq!(Program::new(alloc::vec![]).unwrap_err(), Errno::EINVAL);
    let mut big = alloc::vec![stmt(BPF_LD | BPF_IMM, 1); BPF_MAXINSNS];
    big.push(ret(SECCOMP_RET_ALLOW));
    assert_eq!(Program::new(big).unwrap_err(), Errno::EINVAL);
    let mut max = alloc::vec![stmt(BPF_LD | BPF_IMM, 1); BPF_MAXINSNS - 1];
    max.push(ret(SECCOMP_RET_ALLOW));
    assert!(Program::new(max).is_ok());
}

#[test]
fn last_instruction_must_return() {
    assert_eq!(
        Program::new(alloc::vec![ld_nr()]).unwrap_err(),
        Errno::EINVAL
    );
    assert!(Program::new(alloc::vec![stmt(BPF_RET | BPF_A, 0)]).is_ok());
}

#[test]
fn unknown_and_socket_only_opcodes_are_refused() {
    for code in [
        0xffff,
        BPF_LD | BPF_H | BPF_ABS,
        BPF_LD | BPF_B | BPF_ABS,
        BPF_LD | BPF_W | BPF_IND,
        BPF_LDX | BPF_B | BPF_MSH,
        BPF_ALU | BPF_MOD | BPF_K,
        BPF_ALU | BPF_MOD | BPF_X,
        BPF_RET | BPF_X,
    ] {
        let p = alloc::vec![stmt(code, 1), ret(SECCOMP_RET_ALLOW)];
        assert_eq!(Program::new(p).unwrap_err(), Errno::EINVAL, "{code:#x}");
    }
}

#[test]
fn loads_must_be_aligned_words_inside_seccomp_data() {
    for k in [1, 2, 3, 64, 68, 0xffff_f000] {
        let p = alloc::vec![stmt(BPF_LD | BPF_W | BPF_ABS, k), ret(SECCOMP_RET_ALLOW)];
        assert_eq!(Program::new(p).unwrap_err(), Errno::EINVAL, "{k}");
    }
    for k in (0..64).step_by(4) {
        let p = alloc::vec![stmt(BPF_LD | BPF_W | BPF_ABS, k), ret(SECCOMP_RET_ALLOW)];
        assert!(Program::new(p).is_ok(), "{k}");
    }
}

#[test]
fn jumps_must_land_inside_the_program() {
    let p = alloc::vec![
        ld_nr(),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 0),
        ret(0),
        ret(SECCOMP_RET_ALLOW)
    ];
    assert_eq!(Program::new(p).unwrap_err(), Errno::EINVAL);
    let p = alloc::vec![stmt(BPF_JMP | BPF_JA, 1), ret(0)];
    assert_eq!(Program::new(p).unwrap_err(), Errno::EINVAL);
    let p = alloc::vec![stmt(BPF_JMP | BPF_JA, 1), ret(0), ret(SECCOMP_RET_ALLOW)];
    let p = Program::new(p).unwrap();
    assert_eq!(p.run(&data(0, [0; 6])), SECCOMP_RET_ALLOW);
}

#[test]
fn constant_division_by_zero_and_wide_shifts_are_refused() {
    for (code, k) in [
        (BPF_ALU | BPF_DIV | BPF_K, 0),
        (BPF_ALU | BPF_LSH | BPF_K, 32),
        (BPF_ALU | BPF_RSH | BPF_K, 40),
    ] {
        let p = alloc::vec![stmt(code, k), ret(SECCOMP_RET_ALLOW)];
        assert_eq!(Program::new(p).unwrap_err(), Errno::EINVAL);
    }
}

#[test]
fn scratch_memory_must_be_written_before_read() {
    let p = alloc::vec![stmt(BPF_LD | BPF_MEM, 3), stmt(BPF_RET | BPF_A, 0)];
    assert_eq!(Program::new(p).unwrap_err(), Errno::EINVAL);
    let p = alloc::vec![stmt(BPF_ST, 16), stmt(BPF_RET | BPF_A, 0)];
    assert_eq!(Program::new(p).unwrap_err(), Errno::EINVAL);
    // Written on one branch only.
    let p = alloc::vec![
        ld_nr(),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
        stmt(BPF_ST, 2),
        stmt(BPF_LDX | BPF_MEM, 2),
        stmt(BPF_RET | BPF_A, 0),
    ];
    assert_eq!(Program::new(p).unwrap_err(), Errno::EINVAL);
    let p = alloc::vec![
        stmt(BPF_LD | BPF_IMM, SECCOMP_RET_ERRNO | 7),
        stmt(BPF_ST, 2),
        stmt(BPF_LD | BPF_IMM, 0),
        stmt(BPF_LD | BPF_MEM, 2),
        stmt(BPF_RET | BPF_A, 0),
    ];
    assert_eq!(
        Program::new(p).unwrap().run(&data(0, [0; 6])),
        SECCOMP_RET_ERRNO | 7
    );
}

#[test]
fn filter_matches_number_and_arguments() {
    // getpid -> ERRNO(1); write with fd 2 and high arg word 0x1 -> TRAP(9).
    let p = Program::new(alloc::vec![
        ld_nr(),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1),
        ret(SECCOMP_RET_ERRNO | 1),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 5),
        stmt(BPF_LD | BPF_W | BPF_ABS, 16),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 3),
        stmt(BPF_LD | BPF_W | BPF_ABS, 20),
        jump(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1),
        ret(SECCOMP_RET_TRAP | 9),
        ret(SECCOMP_RET_ALLOW),
    ])
    .unwrap();
    assert_eq!(p.run(&data(39, [0; 6])), SECCOMP_RET_ERRNO | 1);
    assert_eq!(p.run(&data(1, [2, 0, 0, 0, 0, 0])), SECCOMP_RET_ALLOW);
    assert_eq!(
        p.run(&data(1, [0x1_0000_0002, 0, 0, 0, 0, 0])),
        SECCOMP_RET_TRAP | 9
    );
    assert_eq!(p.run(&data(0, [2, 0, 0, 0, 0, 0])), SECCOMP_RET_ALLOW);
}

#[test]
fn arch_ip_and_length_are_visible() {
    let p = Program::new(alloc::vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, 4),
        stmt(BPF_RET | BPF_A, 0)
    ])
    .unwrap();
    assert_eq!(p.run(&data(0, [0; 6])), 0xc000_003e);
    let p = Program::new(alloc::vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, 8),
        stmt(BPF_RET | BPF_A, 0)
    ])
    .unwrap();
    assert_eq!(p.run(&data(0, [0; 6])), 0x40_1000);
    let p = Program::new(alloc::vec![
        stmt(BPF_LDX | BPF_W | BPF_LEN, 0),
        stmt(BPF_MISC | BPF_TXA, 0),
        stmt(BPF_RET | BPF_A, 0)
    ])
    .unwrap();
    assert_eq!(p.run(&data(0, [0; 6])), 64);
}

#[test]
fn x32_bit_stays_in_nr() {
    let p = Program::new(alloc::vec![ld_nr(), stmt(BPF_RET | BPF_A, 0)]).unwrap();
    assert_eq!(p.run(&data(0x4000_0001, [0; 6])), 0x4000_0001);
}

#[test]
fn alu_operations() {
    let run = |ops: &[SockFilter]| {
        let mut v = alloc::vec![stmt(BPF_LD | BPF_IMM, 100), stmt(BPF_LDX | BPF_IMM, 7)];
        v.extend_from_slice(ops);
        v.push(stmt(BPF_RET | BPF_A, 0));
        Program::new(v).unwrap().run(&data(0, [0; 6]))
    };
    assert_eq!(run(&[stmt(BPF_ALU | BPF_ADD | BPF_X, 0)]), 107);
    assert_eq!(run(&[stmt(BPF_ALU | BPF_SUB | BPF_K, 1)]), 99);
    assert_eq!(run(&[stmt(BPF_ALU | BPF_MUL | BPF_X, 0)]), 700);
    assert_eq!(run(&[stmt(BPF_ALU | BPF_DIV | BPF_X, 0)]), 14);
    assert_eq!(run(&[stmt(BPF_ALU | BPF_AND | BPF_K, 6)]), 4);
    assert_eq!(run(&[stmt(BPF_ALU | BPF_OR | BPF_X, 0)]), 103);
    assert_eq!(run(&[stmt(BPF_ALU | BPF_XOR | BPF_K, 100)]), 0);
    assert_eq!(run(&[stmt(BPF_ALU | BPF_LSH | BPF_K, 2)]), 400);
    assert_eq!(run(&[stmt(BPF_ALU | BPF_RSH | BPF_X, 0)]), 0);
    assert_eq!(run(&[stmt(BPF_ALU | BPF_NEG, 0)]), 100u32.wrapping_neg());
    assert_eq!(
        run(&[stmt(BPF_MISC | BPF_TAX, 0), stmt(BPF_MISC | BPF_TXA, 0)]),
        100
    );
    // A division by a zero X ends the program with 0 (KILL_THREAD).
    assert_eq!(
        run(&[
            stmt(BPF_LDX | BPF_IMM, 0),
            stmt(BPF_ALU | BPF_DIV | BPF_X, 0)
        ]),
        0
    );
}

#[test]
fn jump_comparisons_are_unsigned() {
    let p = |code| {
        Program::new(alloc::vec![
            ld_nr(),
            jump(BPF_JMP | code | BPF_K, 10, 0, 1),
            ret(1),
            ret(2),
        ])
        .unwrap()
    };
    assert_eq!(p(BPF_JGT).run(&data(11, [0; 6])), 1);
    assert_eq!(p(BPF_JGT).run(&data(10, [0; 6])), 2);
    assert_eq!(p(BPF_JGE).run(&data(10, [0; 6])), 1);
    assert_eq!(p(BPF_JGE).run(&data(u64::from(u32::MAX), [0; 6])), 1);
    assert_eq!(p(BPF_JSET).run(&data(2, [0; 6])), 1);
    assert_eq!(p(BPF_JSET).run(&data(5, [0; 6])), 2);
}

#[test]
fn actions_and_errno_cap() {
    assert_eq!(Action::of(SECCOMP_RET_ERRNO | 0xffff), Action::Errno(4095));
    assert_eq!(Action::of(SECCOMP_RET_ERRNO | 13), Action::Errno(13));
    assert_eq!(Action::of(SECCOMP_RET_TRAP | 5), Action::Trap(5));
    assert_eq!(Action::of(SECCOMP_RET_KILL_PROCESS), Action::KillProcess);
    assert_eq!(Action::of(0), Action::KillThread);
    assert_eq!(Action::of(0x0001_0000), Action::KillProcess);
    assert_eq!(Action::of(SECCOMP_RET_TRACE | 3), Action::Trace(3));
    assert!(Action::available(SECCOMP_RET_LOG));
    assert!(!Action::available(SECCOMP_RET_LOG | 1));
    assert!(!Action::available(0x0001_0000));
}

#[test]
fn stack_runs_every_filter_and_the_most_restrictive_wins() {
    let a = Filter::stack(deny(39, SECCOMP_RET_ERRNO | 1), None, false, false, None).unwrap();
    let b = Filter::stack(
        deny(39, SECCOMP_RET_TRAP | 2),
        Some(a.clone()),
        false,
        false,
        None,
    )
    .unwrap();
    let c = Filter::stack(
        deny(39, SECCOMP_RET_LOG),
        Some(b.clone()),
        true,
        false,
        None,
    )
    .unwrap();
    assert_eq!(c.count(), 3);
    let (r, m) = c.run_all(&data(39, [0; 6]));
    assert_eq!(r, SECCOMP_RET_TRAP | 2);
    assert!(core::ptr::eq(m.unwrap(), &*b));
    let (r, m) = c.run_all(&data(1, [0; 6]));
    assert_eq!(r, SECCOMP_RET_ALLOW);
    assert!(m.is_none());
    // KILL_PROCESS (negative) beats everything.
    let d = Filter::stack(
        deny(39, SECCOMP_RET_KILL_PROCESS),
        Some(c.clone()),
        false,
        false,
        None,
    )
    .unwrap();
    assert_eq!(d.run_all(&data(39, [0; 6])).0, SECCOMP_RET_KILL_PROCESS);
    // Of equal actions the newest filter's data is kept.
    let e = Filter::stack(
        deny(39, SECCOMP_RET_TRAP | 7),
        Some(b.clone()),
        false,
        false,
        None,
    )
    .unwrap();
    assert_eq!(e.run_all(&data(39, [0; 6])).0, SECCOMP_RET_TRAP | 7);
    assert!(core::ptr::eq(e.nth_from_oldest(0).unwrap(), &*a));
    assert!(core::ptr::eq(e.nth_from_oldest(1).unwrap(), &*b));
    assert!(core::ptr::eq(e.nth_from_oldest(2).unwrap(), &*e));
    assert!(e.nth_from_oldest(3).is_none());
    assert!(Filter::is_ancestor(Some(&a), Some(&e)));
    assert!(Filter::is_ancestor(None, Some(&e)));
    assert!(!Filter::is_ancestor(Some(&c), Some(&e)));
    assert!(!Filter::is_ancestor(Some(&a), None));
}

#[test]
fn translated_lengths_are_linux_s() {
    // Values measured on Linux 6.18 (see translated_len).
    let cost = |v: alloc::vec::Vec<SockFilter>| Program::new(v).unwrap().cost();
    assert_eq!(cost(alloc::vec![ret(SECCOMP_RET_ALLOW)]), 5);
    assert_eq!(cost(alloc::vec![stmt(BPF_RET | BPF_A, 0)]), 4);
    assert_eq!(
        cost(alloc::vec![
            stmt(BPF_LDX | BPF_IMM, 1),
            stmt(BPF_ALU | BPF_DIV | BPF_X, 0),
            stmt(BPF_RET | BPF_A, 0)
        ]),
        10
    );
    let two = |j: SockFilter, n: usize| {
        let mut v = alloc::vec![ld_nr(), j];
        v.extend(core::iter::repeat_n(stmt(BPF_RET | BPF_A, 0), n));
        cost(v)
    };
    assert_eq!(two(jump(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 0), 1), 6);
    assert_eq!(two(jump(BPF_JMP | BPF_JEQ | BPF_K, 5, 1, 0), 2), 7);
    assert_eq!(two(jump(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1), 2), 7);
    assert_eq!(two(jump(BPF_JMP | BPF_JEQ | BPF_K, 5, 1, 1), 3), 9);
    assert_eq!(two(jump(BPF_JMP | BPF_JSET | BPF_K, 5, 0, 1), 2), 8);
    assert_eq!(two(jump(BPF_JMP | BPF_JSET | BPF_K, 5, 1, 1), 3), 9);
    assert_eq!(two(jump(BPF_JMP | BPF_JEQ | BPF_K, 1 << 31, 0, 1), 2), 8);
    assert_eq!(two(jump(BPF_JMP | BPF_JEQ | BPF_K, 1 << 31, 0, 0), 1), 7);
    assert_eq!(two(jump(BPF_JMP | BPF_JEQ | BPF_K, 1 << 31, 1, 1), 3), 10);
    assert_eq!(two(jump(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1), 2), 7);
    assert_eq!(two(jump(BPF_JMP | BPF_JGT | BPF_K, 5, 0, 1), 2), 7);
}

#[test]
fn path_length_limit_is_enomem() {
    // 4096 RET K: 8195 translated, 8199 with the penalty: three fit.
    let big = || Program::new(alloc::vec![ret(SECCOMP_RET_ALLOW); BPF_MAXINSNS]).unwrap();
    let mut top: Option<Arc<Filter>> = None;
    for _ in 0..3 {
        top = Some(Filter::stack(big(), top, false, false, None).unwrap());
    }
    assert_eq!(
        Filter::stack(big(), top.clone(), false, false, None).unwrap_err(),
        Errno::ENOMEM
    );
    // 32768 - 3 * 8199 = 8171 left: a program of cost 8171 fits, 8172 not.
    let fill = |n: usize| {
        // n - 3 - 1 loads and a RET A.
        let mut v = alloc::vec![stmt(BPF_LD | BPF_IMM, SECCOMP_RET_ALLOW); n - 4];
        v.push(stmt(BPF_RET | BPF_A, 0));
        Program::new(v).unwrap()
    };
    assert_eq!(fill(4099).cost(), 4099);
    // Build the rest of the budget from two programs of at most 4096 each.
    let mid = Filter::stack(fill(4099), top.clone(), false, false, None).unwrap();
    // 8171 - 4103 = 4068 left.
    assert!(Filter::stack(fill(4068), Some(mid.clone()), false, false, None).is_ok());
    assert_eq!(
        Filter::stack(fill(4069), Some(mid), false, false, None).unwrap_err(),
        Errno::ENOMEM
    );
}

#[test]
fn a_deep_stack_drops_without_recursion() {
    let mut top: Option<Arc<Filter>> = None;
    // 5 + 4 per filter: 3640 is the most a path holds.
    for _ in 0..3640 {
        let p = Program::new(alloc::vec![ret(SECCOMP_RET_ALLOW)]).unwrap();
        top = Some(Filter::stack(p, top, false, false, None).unwrap());
    }
    assert_eq!(top.as_ref().unwrap().count(), 3640);
    drop(top);
}

#[test]
fn strict_mode_set() {
    for nr in [0, 1, 60, 15] {
        assert!(strict_allows(nr));
    }
    for nr in [2, 3, 231, 39, 0x4000_0000, u64::MAX] {
        assert!(!strict_allows(nr));
    }
}
