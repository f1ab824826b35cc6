//! `ExecArgs`: Linux's argument limits and the `#!` argv rewrite.

use kestrel_abi::Errno;

use crate::args::argument_limit;
use crate::{ARG_MAX, ExecArgs, MAX_ARG_STRLEN, Shebang};

const MIB: u64 = 1 << 20;

fn strs(v: &[Vec<u8>]) -> Vec<String> {
    v.iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

#[test]
fn limit_is_a_quarter_of_the_stack_rlimit_within_bounds() {
    assert_eq!(argument_limit(8 * MIB), 2 * MIB);
    assert_eq!(argument_limit(MIB), MIB / 4);
    assert_eq!(argument_limit(64 * 1024), ARG_MAX);
    assert_eq!(argument_limit(0), ARG_MAX);
    assert_eq!(argument_limit(u64::MAX), 6 * MIB);
}

#[test]
fn keeps_the_strings() {
    let a = ExecArgs::new(b"/bin/prog", &[b"prog", b"-v"], &[b"A=1"], 8 * MIB).unwrap();
    assert_eq!(a.filename(), b"/bin/prog");
    assert_eq!(a.current_file(), b"/bin/prog");
    assert_eq!(strs(a.argv()), ["prog", "-v"]);
    assert_eq!(strs(a.envp()), ["A=1"]);
    // strings with their NULs, and one pointer per entry.
    assert_eq!(a.room(), 2 * MIB - 3 * 8 - (10 + 5 + 3 + 4));
}

#[test]
fn strings_end_at_their_first_nul() {
    let a = ExecArgs::new(b"/p\0x", &[b"a\0b"], &[], 8 * MIB).unwrap();
    assert_eq!(a.filename(), b"/p");
    assert_eq!(strs(a.argv()), ["a"]);
}

/// Since Linux 5.18 an empty argv becomes { "" }.
#[test]
fn empty_argv_becomes_one_empty_string() {
    let a = ExecArgs::new(b"/p", &[], &[], 8 * MIB).unwrap();
    assert_eq!(strs(a.argv()), [""]);
    // The pointer for it was reserved up front as if argc were 1.
    assert_eq!(a.room(), 2 * MIB - 8 - 3 - 1);
}

#[test]
fn string_of_max_arg_strlen_fits_and_one_more_is_e2big() {
    let s = vec![b'x'; MAX_ARG_STRLEN - 1];
    assert!(ExecArgs::new(b"/p", &[&s], &[], 8 * MIB).is_ok());
    assert!(ExecArgs::new(b"/p", &[], &[&s], 8 * MIB).is_ok());
    let s = vec![b'x'; MAX_ARG_STRLEN];
    assert_eq!(ExecArgs::new(b"/p", &[&s], &[], 8 * MIB), Err(Errno::E2BIG));
    assert_eq!(ExecArgs::new(b"/p", &[], &[&s], 8 * MIB), Err(Errno::E2BIG));
    assert_eq!(ExecArgs::new(&s, &[], &[], 8 * MIB), Err(Errno::E2BIG));
}

/// The same numbers as exec_elf.argument_total_is_limited_to_a_quarter_of_the_stack_rlimit.
#[test]
fn argv_too_large_is_e2big() {
    let path = b"/tmp/kt-exec_elf-XXXXXX/prog";
    let budget = (MIB / 4 - 4 * 8) as usize;
    let used = path.len() + 1 + 4 + path.len() + 1;
    let len = budget - used - 1;
    let a = len / 2;
    let b = len - a - 1;
    let s1 = vec![b'c'; a];
    let s2 = vec![b'c'; b];
    let fits = ExecArgs::new(path, &[path, &s1, &s2], &[b"A=1"], MIB).unwrap();
    assert_eq!(fits.room(), 0);
    let s2 = vec![b'c'; b + 1];
    assert_eq!(
        ExecArgs::new(path, &[path, &s1, &s2], &[b"A=1"], MIB),
        Err(Errno::E2BIG)
    );
}

#[test]
fn pointers_alone_can_exhaust_the_limit() {
    let many = vec![&b""[..]; (ARG_MAX / 8) as usize];
    assert_eq!(ExecArgs::new(b"/p", &many, &[], 0), Err(Errno::E2BIG));
}

#[test]
fn script_rewrite_puts_interpreter_argument_and_path_first() {
    let mut a = ExecArgs::new(b"./script", &[b"whatever", b"x", b"y"], &[], 8 * MIB).unwrap();
    let room = a.room();
    a.apply_script(&Shebang {
        interpreter: b"/bin/sh",
        argument: Some(b"-e -x"),
    })
    .unwrap();
    assert_eq!(strs(a.argv()), ["/bin/sh", "-e -x", "./script", "x", "y"]);
    assert_eq!(a.filename(), b"./script", "AT_EXECFN stays the execve path");
    assert_eq!(a.current_file(), b"/bin/sh");
    assert_eq!(a.rewrites(), 1);
    // argv[0] "whatever" was given back; the three new strings were taken.
    assert_eq!(a.room(), room + 9 - 8 - 6 - 9);
}

#[test]
fn script_run_by_a_script_passes_the_previous_interpreter_as_path() {
    let mut a = ExecArgs::new(b"/t/s1", &[b"s1", b"arg"], &[], 8 * MIB).unwrap();
    for next in [&b"/t/s2"[..], b"/t/s3", b"/bin/sh"] {
        a.check_depth().unwrap();
        a.apply_script(&Shebang {
            interpreter: next,
            argument: None,
        })
        .unwrap();
    }
    a.check_depth().unwrap();
    assert_eq!(
        strs(a.argv()),
        ["/bin/sh", "/t/s3", "/t/s2", "/t/s1", "arg"]
    );
}

#[test]
fn sixth_rewrite_is_eloop() {
    let mut a = ExecArgs::new(b"/t/s1", &[b"s1"], &[], 8 * MIB).unwrap();
    let sh = Shebang {
        interpreter: b"/t/next",
        argument: None,
    };
    for _ in 0..5 {
        a.apply_script(&sh).unwrap();
        assert_eq!(a.check_depth(), Ok(()));
    }
    a.apply_script(&sh).unwrap();
    assert_eq!(a.check_depth(), Err(Errno::ELOOP));
}

#[test]
fn script_rewrite_can_be_e2big() {
    let big = vec![b'z'; (ARG_MAX as usize) - 8 - 3 - 2 - 1];
    let mut a = ExecArgs::new(b"/p", &[&big], &[], 0).unwrap();
    assert_eq!(a.room(), 2);
    // "big" is given back by remove_arg_zero, but the new strings do not fit.
    let long = vec![b'i'; 200];
    assert_eq!(
        a.apply_script(&Shebang {
            interpreter: &long,
            argument: Some(&big),
        }),
        Err(Errno::E2BIG)
    );
}
