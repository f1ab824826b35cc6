//! The system call table: the one place that says which Linux calls Kestrel has.
//!
//! Format, one call per line (parsed by `cargo xtask syscalls`, keep it so):
//! `NAME => handler;` or `NAME => handler, partial "what is missing";`
//! The partial notes are for that status page; the macro ignores them.

use kestrel_abi::KResult;

use super::{
    Args, Ctx, cred, epoll, fd, fs, futex, misc, mm, mount, poll, process, sched, signal, socket,
    time, timer, xattr,
};

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
    MMAP => mm::sys_mmap, partial "no MAP_HUGETLB or MAP_LOCKED semantics (accepted, not honoured)";
    MPROTECT => mm::sys_mprotect;
    MUNMAP => mm::sys_munmap;
    BRK => mm::sys_brk;
    MREMAP => mm::sys_mremap, partial "no MREMAP_DONTUNMAP";
    MSYNC => mm::sys_msync;
    MINCORE => mm::sys_mincore;
    MADVISE => mm::sys_madvise, partial "MADV_FREE frees at once; other hints are accepted and ignored";
    RT_SIGACTION => signal::sys_rt_sigaction;
    RT_SIGPROCMASK => signal::sys_rt_sigprocmask;
    RT_SIGRETURN => signal::sys_rt_sigreturn;
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
    PAUSE => signal::sys_pause;
    DUP => fd::sys_dup;
    DUP2 => fd::sys_dup2;
    NANOSLEEP => time::sys_nanosleep;
    GETITIMER => timer::sys_getitimer;
    ALARM => timer::sys_alarm;
    SETITIMER => timer::sys_setitimer;
    SENDFILE => fs::sys_sendfile;
    SOCKET => socket::sys_socket, partial "AF_UNIX only (AF_INET and AF_INET6: EAFNOSUPPORT)";
    CONNECT => socket::sys_connect;
    ACCEPT => socket::sys_accept;
    SENDTO => socket::sys_sendto;
    RECVFROM => socket::sys_recvfrom;
    SENDMSG => socket::sys_sendmsg;
    RECVMSG => socket::sys_recvmsg;
    SHUTDOWN => socket::sys_shutdown;
    BIND => socket::sys_bind;
    LISTEN => socket::sys_listen;
    GETSOCKNAME => socket::sys_getsockname;
    GETPEERNAME => socket::sys_getpeername;
    SOCKETPAIR => socket::sys_socketpair;
    SETSOCKOPT => socket::sys_setsockopt, partial "SOL_SOCKET options of AF_UNIX sockets";
    GETSOCKOPT => socket::sys_getsockopt, partial "SOL_SOCKET options of AF_UNIX sockets";
    GETPID => process::sys_getpid;
    CLONE => process::sys_clone;
    FORK => process::sys_fork;
    VFORK => process::sys_vfork;
    EXECVE => process::sys_execve;
    EXIT => process::sys_exit;
    WAIT4 => process::sys_wait4, partial "rusage reports CPU times only";
    KILL => signal::sys_kill;
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
    GETRUSAGE => time::sys_getrusage, partial "CPU times only; the other fields are zero";
    TIMES => time::sys_times;
    GETRLIMIT => misc::sys_getrlimit;
    SYSINFO => misc::sys_sysinfo;
    GETUID => process::sys_getuid;
    SETUID => cred::sys_setuid;
    SETGID => cred::sys_setgid;
    SETREUID => cred::sys_setreuid;
    SETREGID => cred::sys_setregid;
    GETGROUPS => cred::sys_getgroups;
    SETGROUPS => cred::sys_setgroups;
    SETRESUID => cred::sys_setresuid;
    GETRESUID => cred::sys_getresuid;
    SETRESGID => cred::sys_setresgid;
    GETRESGID => cred::sys_getresgid;
    SETFSUID => cred::sys_setfsuid;
    SETFSGID => cred::sys_setfsgid;
    CAPGET => cred::sys_capget;
    CAPSET => cred::sys_capset;
    MKNOD => fs::sys_mknod;
    STATFS => fs::sys_statfs;
    FSTATFS => fs::sys_fstatfs;
    GETPRIORITY => sched::sys_getpriority;
    SETPRIORITY => sched::sys_setpriority;
    SCHED_SETPARAM => sched::sys_sched_setparam;
    SCHED_GETPARAM => sched::sys_sched_getparam;
    SCHED_SETSCHEDULER => sched::sys_sched_setscheduler, partial "real-time policies are accepted but scheduled like SCHED_OTHER";
    SCHED_GETSCHEDULER => sched::sys_sched_getscheduler;
    SCHED_GET_PRIORITY_MAX => sched::sys_sched_get_priority_max;
    SCHED_GET_PRIORITY_MIN => sched::sys_sched_get_priority_min;
    SCHED_RR_GET_INTERVAL => sched::sys_sched_rr_get_interval;
    PRCTL => sched::sys_prctl, partial "the options Kestrel knows: names, death signal, dumpable, keepcaps, subreaper, no_new_privs, timer slack";
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
    ADJTIMEX => time::sys_adjtimex, partial "reports a free-running, unsynchronised clock; ADJ_OFFSET and ADJ_FREQUENCY are recorded, not applied";
    SETTIMEOFDAY => time::sys_settimeofday;
    MOUNT => mount::sys_mount, partial "proc, tmpfs, ramfs, devtmpfs and bind mounts; per-mount flags (ro, noexec, nosuid) are recorded, not enforced; no MS_MOVE";
    UMOUNT2 => mount::sys_umount2;
    SETHOSTNAME => misc::sys_sethostname;
    SETDOMAINNAME => misc::sys_setdomainname;
    SETXATTR => xattr::sys_setxattr;
    LSETXATTR => xattr::sys_lsetxattr;
    FSETXATTR => xattr::sys_fsetxattr;
    GETXATTR => xattr::sys_getxattr;
    LGETXATTR => xattr::sys_lgetxattr;
    FGETXATTR => xattr::sys_fgetxattr;
    LISTXATTR => xattr::sys_listxattr;
    LLISTXATTR => xattr::sys_llistxattr;
    FLISTXATTR => xattr::sys_flistxattr;
    REMOVEXATTR => xattr::sys_removexattr;
    LREMOVEXATTR => xattr::sys_lremovexattr;
    FREMOVEXATTR => xattr::sys_fremovexattr;
    RT_SIGPENDING => signal::sys_rt_sigpending;
    RT_SIGTIMEDWAIT => signal::sys_rt_sigtimedwait;
    RT_SIGQUEUEINFO => signal::sys_rt_sigqueueinfo;
    RT_SIGSUSPEND => signal::sys_rt_sigsuspend;
    SIGALTSTACK => signal::sys_sigaltstack;
    ARCH_PRCTL => process::sys_arch_prctl;
    GETTID => process::sys_gettid;
    TIME => time::sys_time;
    TKILL => signal::sys_tkill;
    SCHED_SETAFFINITY => sched::sys_sched_setaffinity, partial "one CPU: the mask must include CPU 0";
    SCHED_GETAFFINITY => sched::sys_sched_getaffinity;
    FUTEX => futex::sys_futex, partial "no priority-inheritance operations (FUTEX_LOCK_PI and friends)";
    EPOLL_CREATE => epoll::sys_epoll_create;
    GETDENTS64 => fs::sys_getdents64;
    FADVISE64 => fs::sys_fadvise64, partial "advice is checked and has no effect (files live in memory)";
    SET_TID_ADDRESS => process::sys_set_tid_address;
    RESTART_SYSCALL => signal::sys_restart_syscall;
    SET_ROBUST_LIST => futex::sys_set_robust_list;
    GET_ROBUST_LIST => futex::sys_get_robust_list;
    TIMER_CREATE => timer::sys_timer_create;
    TIMER_SETTIME => timer::sys_timer_settime;
    TIMER_GETTIME => timer::sys_timer_gettime;
    TIMER_GETOVERRUN => timer::sys_timer_getoverrun;
    TIMER_DELETE => timer::sys_timer_delete;
    CLOCK_SETTIME => time::sys_clock_settime, partial "absolute CLOCK_REALTIME timers keep their deadline when the clock is set";
    CLOCK_GETTIME => time::sys_clock_gettime;
    CLOCK_GETRES => time::sys_clock_getres;
    CLOCK_NANOSLEEP => time::sys_clock_nanosleep;
    EXIT_GROUP => process::sys_exit_group;
    EPOLL_WAIT => epoll::sys_epoll_wait;
    EPOLL_CTL => epoll::sys_epoll_ctl;
    TGKILL => signal::sys_tgkill;
    WAITID => process::sys_waitid, partial "P_PIDFD is not supported";
    OPENAT => fs::sys_openat;
    MKDIRAT => fs::sys_mkdirat;
    MKNODAT => fs::sys_mknodat;
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
    EPOLL_PWAIT => epoll::sys_epoll_pwait;
    SIGNALFD => timer::sys_signalfd;
    TIMERFD_CREATE => timer::sys_timerfd_create;
    EVENTFD => timer::sys_eventfd;
    TIMERFD_SETTIME => timer::sys_timerfd_settime, partial "TFD_TIMER_CANCEL_ON_SET is accepted but never cancels";
    TIMERFD_GETTIME => timer::sys_timerfd_gettime;
    PSELECT6 => poll::sys_pselect6;
    PPOLL => poll::sys_ppoll;
    SIGNALFD4 => timer::sys_signalfd4;
    EVENTFD2 => timer::sys_eventfd2;
    EPOLL_CREATE1 => epoll::sys_epoll_create1;
    DUP3 => fd::sys_dup3;
    PIPE2 => fd::sys_pipe2;
    RT_TGSIGQUEUEINFO => signal::sys_rt_tgsigqueueinfo;
    CLONE3 => process::sys_clone3, partial "no CLONE_PIDFD, set_tid or cgroup";
    ACCEPT4 => socket::sys_accept4;
    RECVMMSG => socket::sys_recvmmsg;
    PRLIMIT64 => misc::sys_prlimit64;
    SENDMMSG => socket::sys_sendmmsg;
    CLOCK_ADJTIME => time::sys_clock_adjtime;
    RENAMEAT2 => fs::sys_renameat2, partial "RENAME_WHITEOUT is EINVAL";
    GETRANDOM => misc::sys_getrandom;
    COPY_FILE_RANGE => fs::sys_copy_file_range;
    MEMBARRIER => misc::sys_membarrier;
    GETCPU => sched::sys_getcpu;
    STATX => fs::sys_statx, partial "no birth time (STATX_BTIME)";
    FACCESSAT2 => fs::sys_faccessat2;
    EPOLL_PWAIT2 => epoll::sys_epoll_pwait2;
}
