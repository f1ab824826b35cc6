//! The system call table: the one place that says which Linux calls Kestrel has.
//!
//! Format, one call per line (parsed by `cargo xtask syscalls`, keep it so):
//! `NAME => handler;` or `NAME => handler, partial "what is missing";`
//! The partial notes are for that status page; the macro ignores them.

use kestrel_abi::KResult;

use super::{Args, Ctx, fd, fs, misc, mm, poll, process, signal, time};

macro_rules! syscall_table {
    ($($name:ident => $handler:path $(, partial $note:literal)?;)*) => {
        /// Runs the handler for `nr`.
        pub async fn call(ctx: &mut Ctx<'_>, nr: u64, a: Args) -> KResult<u64> {
            match nr as usize {
                $(kestrel_abi::syscalls::nr::$name => $handler(ctx, a).await,)*
                _ => Err(super::unknown(ctx, nr)),
            }
        }

    };
}

syscall_table! {
    READ => fs::sys_read;
    WRITE => fs::sys_write;
    OPEN => fs::sys_open;
    CLOSE => fd::sys_close;
    STAT => fs::sys_stat;
    FSTAT => fs::sys_fstat;
    LSTAT => fs::sys_lstat;
    LSEEK => fs::sys_lseek;
    MMAP => mm::sys_mmap, partial "MAP_SHARED file mappings are private snapshots and refuse PROT_WRITE (ENODEV) until the page cache exists";
    MPROTECT => mm::sys_mprotect;
    MUNMAP => mm::sys_munmap;
    BRK => mm::sys_brk;
    RT_SIGACTION => signal::sys_rt_sigaction, partial "dispositions are recorded and the default actions applied; user handlers are not run yet";
    RT_SIGPROCMASK => signal::sys_rt_sigprocmask;
    IOCTL => fd::sys_ioctl;
    PREAD64 => fs::sys_pread64;
    PWRITE64 => fs::sys_pwrite64;
    READV => fs::sys_readv;
    WRITEV => fs::sys_writev;
    ACCESS => fs::sys_access;
    PIPE => fd::sys_pipe;
    POLL => poll::sys_poll;
    SELECT => poll::sys_select;
    SCHED_YIELD => misc::sys_sched_yield;
    DUP => fd::sys_dup;
    DUP2 => fd::sys_dup2;
    NANOSLEEP => time::sys_nanosleep;
    GETPID => process::sys_getpid;
    CLONE => process::sys_clone;
    FORK => process::sys_fork;
    VFORK => process::sys_vfork;
    EXECVE => process::sys_execve;
    EXIT => process::sys_exit;
    WAIT4 => process::sys_wait4, partial "rusage is reported as zeros";
    KILL => signal::sys_kill, partial "default actions only (terminate, ignore); stop/continue and handlers arrive with signal delivery";
    UNAME => misc::sys_uname;
    FCNTL => fd::sys_fcntl, partial "no record locks (F_GETLK, F_SETLK, F_SETLKW) or F_SETOWN";
    TRUNCATE => fs::sys_truncate;
    FTRUNCATE => fs::sys_ftruncate;
    GETCWD => fs::sys_getcwd;
    CHDIR => fs::sys_chdir;
    FCHDIR => fs::sys_fchdir;
    RENAME => fs::sys_rename;
    MKDIR => fs::sys_mkdir;
    RMDIR => fs::sys_rmdir;
    CREAT => fs::sys_creat;
    LINK => fs::sys_link;
    UNLINK => fs::sys_unlink;
    SYMLINK => fs::sys_symlink;
    READLINK => fs::sys_readlink;
    CHMOD => fs::sys_chmod;
    FCHMOD => fs::sys_fchmod;
    CHOWN => fs::sys_chown;
    FCHOWN => fs::sys_fchown;
    LCHOWN => fs::sys_lchown;
    UMASK => fs::sys_umask;
    GETTIMEOFDAY => time::sys_gettimeofday;
    GETRLIMIT => misc::sys_getrlimit;
    SYSINFO => misc::sys_sysinfo;
    GETUID => process::sys_getuid;
    GETGID => process::sys_getgid;
    GETEUID => process::sys_geteuid;
    GETEGID => process::sys_getegid;
    SETPGID => process::sys_setpgid;
    GETPPID => process::sys_getppid;
    GETPGRP => process::sys_getpgrp;
    SETSID => process::sys_setsid;
    GETPGID => process::sys_getpgid;
    GETSID => process::sys_getsid;
    SETRLIMIT => misc::sys_setrlimit;
    ARCH_PRCTL => process::sys_arch_prctl;
    GETTID => process::sys_gettid;
    TIME => time::sys_time;
    TKILL => signal::sys_tkill, partial "default actions only, as kill";
    FUTEX => misc::sys_futex, partial "FUTEX_WAIT, FUTEX_WAKE and FUTEX_WAIT_BITSET/WAKE_BITSET only";
    GETDENTS64 => fs::sys_getdents64;
    SET_TID_ADDRESS => process::sys_set_tid_address;
    CLOCK_GETTIME => time::sys_clock_gettime, partial "CPU-time clocks report time since the process started, not CPU time";
    CLOCK_GETRES => time::sys_clock_getres;
    CLOCK_NANOSLEEP => time::sys_clock_nanosleep;
    EXIT_GROUP => process::sys_exit_group;
    TGKILL => signal::sys_tgkill, partial "default actions only, as kill";
    OPENAT => fs::sys_openat;
    MKDIRAT => fs::sys_mkdirat;
    FCHOWNAT => fs::sys_fchownat;
    NEWFSTATAT => fs::sys_newfstatat;
    UNLINKAT => fs::sys_unlinkat;
    RENAMEAT => fs::sys_renameat;
    LINKAT => fs::sys_linkat;
    SYMLINKAT => fs::sys_symlinkat;
    READLINKAT => fs::sys_readlinkat;
    FCHMODAT => fs::sys_fchmodat;
    FACCESSAT => fs::sys_faccessat;
    UTIMENSAT => fs::sys_utimensat;
    PSELECT6 => poll::sys_pselect6, partial "the signal mask argument is not applied yet";
    PPOLL => poll::sys_ppoll, partial "the signal mask argument is not applied yet";
    DUP3 => fd::sys_dup3;
    PIPE2 => fd::sys_pipe2;
    PRLIMIT64 => misc::sys_prlimit64;
    RENAMEAT2 => fs::sys_renameat2, partial "RENAME_WHITEOUT is EINVAL";
    GETRANDOM => misc::sys_getrandom;
    STATX => fs::sys_statx, partial "no birth time (STATX_BTIME)";
    FACCESSAT2 => fs::sys_faccessat2;
}
