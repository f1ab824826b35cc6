/*
 * Bad pointers passed to every pointer-taking system call Kestrel implements
 * (kernel/src/syscall/table.rs), checked against what Linux returns.
 *
 * Each row of the table below names one pointer argument of one call: how to
 * make the call (the other arguments valid: real fds, real lengths, flags
 * that reach the pointer) and what Linux gives when that pointer is, in turn:
 *
 *   null      NULL
 *   kernel    0xffff800000001000, an address in the kernel half
 *   unmapped  a page that was mapped and then unmapped
 *   straddle  the last bytes of a mapped page followed by an unmapped page,
 *             so that the object crosses into the hole. For a string the
 *             mapped bytes are '/' with no NUL, unless the row says to put a
 *             whole NUL-terminated string there (it then ends on the page's
 *             last byte and the call must work).
 *
 * Most rows want -1/EFAULT for all four. Where Linux differs the row says so:
 * NULL often means "no argument" (times, old values, timeouts), some calls
 * fail earlier (EINVAL, EBADF), a regular-file read or write through a
 * straddling buffer gives a short count, a futex word cannot straddle (it is
 * aligned) so the misaligned pointer is EINVAL, and a few pointers are only
 * used later (set_tid_address, CLONE_*SETTID), so the call succeeds.
 *
 * Every call runs in a fresh child (fork), with fresh fixtures (pipe with 16
 * bytes queued, socketpair, files in a fresh temp dir, ...), so a side effect
 * of a bad pointer (consumed data, exec, blocked signals) cannot leak into
 * the next row. The child also checks that a failed call moved no data
 * (rows with F_KEEP) and that no fd appeared. A child that hangs is killed
 * after a few seconds and the row fails.
 *
 * Adding a call is one row. Options (for finding a row that crashes a kernel):
 *   badptr [-v] [-f FIRST_ROW] [-x PAT]... [PAT]...
 * PAT is a row name or a substring of one, optionally with ":null", ":kernel",
 * ":unmapped" or ":straddle" to pick one column; PATs select rows, -x
 * excludes them; -f starts at the row so named; -v prints each call to
 * stderr before making it. (-c runs each row once with a valid object
 * instead, to check the table's setup: see run_control.)
 */
#define KT_AREA "badptr"
#include "kt.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>

/* Rows leave the fields they do not need to zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define PG 4096L
#define KERNEL_ADDR 0xffff800000001000UL
#define DATA "0123456789abcdef" /* 16 bytes queued in pipes and sockets */
#define PROBE_EXIT 123          /* exit status of this program exec'd as a probe */
#define HANG_MS 5000

/* musl ships no linux headers: the ABI constants used here. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_PRIVATE 128
#define CAP_V3 0x20080522
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004
#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define CLONE3_SIZE 88 /* CLONE_ARGS_SIZE_VER2 */
#define SIGEV_NONE_ 1

/* ---- the columns and what a row wants in each ------------------------- */

enum { K_NULL, K_KERNEL, K_UNMAPPED, K_STRADDLE, NKIND, K_VALID = NKIND };
static const char *const kind_name[NKIND + 1] = {"null", "kernel", "unmapped", "straddle", "valid"};

/* A want is an errno (the call returns -1 with it), or one of: */
#define OKR (-1)           /* succeeds: any result >= 0 */
#define NA (-2)            /* column not run */
#define R(n) (-100 - (n))  /* returns exactly n */
#define EF EFAULT
#define EF4 {EF, EF, EF, EF}
#define W(a, b, c, d) {a, b, c, d}

/* ---- argument kinds --------------------------------------------------- */

enum {
    A_VAL, /* the constant v */
    A_BAD, /* the bad pointer of the column */
    /* fds, made fresh for each call */
    A_PIPE_R,      /* read end of a pipe holding DATA */
    A_PIPE_W,      /* write end of that pipe */
    A_FILE_R,      /* d/f (16 bytes, xattr user.k) open O_RDONLY */
    A_FILE_RW,     /* d/f open O_RDWR */
    A_FILE2_RW,    /* d/g (empty) open O_RDWR */
    A_DIR_FD,      /* the temp dir d, open O_DIRECTORY */
    A_SOCK,        /* AF_UNIX stream socketpair end with DATA queued to read */
    A_SOCK_RIGHTS, /* the same, DATA sent with SCM_RIGHTS (one fd) */
    A_DGRAM_NAMED, /* AF_UNIX datagram socket bound to d/r, a datagram from d/s queued */
    A_LISTEN,      /* AF_UNIX listener on d/L with one connection pending */
    A_SOCK_NEW,    /* a fresh unconnected AF_UNIX stream socket */
    A_EPOLL,       /* an empty epoll instance */
    A_EPOLL_READY, /* an epoll instance watching the pipe's (readable) read end */
    A_TIMERFD,     /* a disarmed CLOCK_MONOTONIC timerfd */
    A_EVENTFD,     /* an eventfd with count 1 */
    A_SIGNALFD,    /* a signalfd for SIGUSR1, which is blocked and pending */
    A_PROC_FD,     /* /proc/self/stat, open */
    A_PROC_DIR_FD, /* /proc/self, open O_DIRECTORY */
    /* strings */
    A_FILE_PATH, /* d/f */
    A_NEW_PATH,  /* d/n, which does not exist */
    A_DIR_PATH,  /* d */
    A_LINK_PATH, /* d/l, a symlink to d/f */
    A_MNT_DIR,   /* d/m, an empty dir */
    A_EXE,       /* this program */
    A_PROC_EXE,  /* "/proc/self/exe" */
    A_XNAME,     /* "user.k" */
    A_S_NONE,    /* "none" */
    A_S_TMPFS,   /* "tmpfs" */
    /* other values */
    A_SELF,    /* getpid() */
    A_CHILD,   /* pid of a child that exits at once */
    A_TIMER,   /* a POSIX timer (SIGEV_NONE) */
    A_NFDS,    /* pipe read end + 1 */
    A_NGROUPS, /* 16, after setgroups({0}) so there is a group to copy */
    A_MAP16,   /* 16 mapped, touched pages */
    A_CWD_SIZE,/* 4096, after moving the cwd into d (so the cwd is over 20 bytes) */
    /* pointers to valid objects (also the templates for straddles) */
    A_BUF, A_BUF2, /* 4096 bytes each; A_BUF starts with DATA */
    A_LENP,        /* socklen_t sizeof(struct sockaddr_un) */
    A_INTP,        /* int 0 */
    A_INTLENP,     /* socklen_t 4 */
    A_TS0,         /* timespec {0, 0} */
    A_TS1US,       /* timespec {0, 1000} */
    A_TS_NOW,      /* CLOCK_REALTIME now */
    A_TV0,         /* timeval {0, 0} */
    A_TV_NOW,      /* gettimeofday now */
    A_ZERO,        /* 256 zero bytes (itimerval, itimerspec, timezone, timex, ...) */
    A_SIGSET0,     /* empty kernel sigset (8 bytes) */
    A_USR1_PENDING,/* sigset {SIGUSR1}, after blocking and raising SIGUSR1 */
    A_STACK_OFF,   /* stack_t {0, SS_DISABLE, 0} */
    A_SIGINFO,     /* siginfo with si_code SI_QUEUE */
    A_SIGEV_NONE,  /* struct sigevent with SIGEV_NONE */
    A_POLLFD,      /* {pipe read end, POLLIN} */
    A_FDSET,       /* fd_set with the pipe read end */
    A_EPEV,        /* epoll_event {EPOLLIN} */
    A_IOV,         /* iovec {A_BUF, 16} */
    A_SUN,         /* sockaddr_un of d/L (the listener exists) */
    A_SUN_NEW,     /* sockaddr_un of d/b (free) */
    A_MSG,         /* msghdr with one iovec {A_BUF, 16} */
    A_MMSG,        /* mmsghdr of that */
    A_ARGV,        /* {exe, "--probe", NULL} */
    A_ENVP,        /* {"BADPTR_PROBE=1", NULL} */
    A_CAPHDR,      /* capability header v3, pid 0 */
    A_CAPDATA,     /* the current capability sets (two structs) */
    A_RLIM,        /* the current RLIMIT_NOFILE */
    A_CPUSET,      /* the current affinity mask (128 bytes) */
    A_GROUPS,      /* gid_t {0} */
    A_OPENHOW,     /* open_how {O_RDONLY, 0, 0} */
    A_CLONE3,      /* clone_args {exit_signal SIGCHLD} */
    A_PSEL6,       /* pselect6's {&sigset0, 8} */
    A_FUTEX,       /* int 0 */
    A_HOSTNAME,    /* the current host name, 65 bytes */
    /* valid objects with the bad pointer inside */
    A_IOV_BAD,      /* iovec {bad, 16} */
    A_MSG_IOV_BAD,  /* msghdr, msg_iov = bad */
    A_MSG_BASE_BAD, /* msghdr whose iovec is {bad, 16} */
    A_MSG_NAME_BAD, /* msghdr, msg_name = bad, msg_namelen sizeof(sockaddr_un) */
    A_MSG_CTL_BAD,  /* msghdr, msg_control = bad, msg_controllen 24 */
    A_ARGV_BAD,     /* {exe, "--probe", bad, NULL} */
    A_ENVP_BAD,     /* {"BADPTR_PROBE=1", bad, NULL} */
    A_CLONE3_PTID_BAD, /* clone_args {CLONE_PARENT_SETTID, parent_tid = bad} */
    A_PSEL6_BADSET, /* pselect6's {bad, 8} */
    A_NKINDS
};

struct arg {
    int k;
    long v;
};
#define V(x) {A_VAL, (long)(x)}
#define BAD {A_BAD, 0}
#define X(kind) {A_##kind, 0}

/* row flags */
#define F_KEEP 1  /* a failed call must leave the pipe/socket data where it was */
#define F_CLONE 2 /* the call makes a child, which returns 0 and must _exit */
#define F_RETFD 4 /* a result >= 0 is a new fd (not a leak) */

struct row {
    const char *name;
    long nr;
    struct arg a[6];
    int sz;         /* bytes the call reads or writes at the pointer; 0: a string */
    int want[NKIND];
    int tmpl;       /* A_* kind pointing at a valid object: the straddle's mapped
                       bytes copy it. 0: zeros (or '/'s and no NUL for a string);
                       for a string, the whole NUL-terminated string */
    int flags;
    int strad;      /* bytes before the hole (0: sz/2, at most 8; 8 for a string) */
};

/* ---- the table -------------------------------------------------------- */

static const struct row rows[] = {
    /* -- read and write -- */
    {"read_buf_pipe", SYS_read, {X(PIPE_R), BAD, V(16)}, 16, EF4, .flags = F_KEEP},
    {"read_buf_file", SYS_read, {X(FILE_R), BAD, V(16)}, 16, W(EF, EF, EF, R(8))},
    {"read_buf_socket", SYS_read, {X(SOCK), BAD, V(16)}, 16, EF4, .flags = F_KEEP},
    {"read_zero_len", SYS_read, {X(PIPE_R), BAD, V(0)}, 16, W(R(0), EF, R(0), R(0)), .flags = F_KEEP},
    /* an eventfd's count is taken before it is stored */
    {"read_buf_eventfd", SYS_read, {X(EVENTFD), BAD, V(8)}, 8, EF4},
    {"read_buf_signalfd", SYS_read, {X(SIGNALFD), BAD, V(128)}, 128, EF4},
    {"read_buf_procfs", SYS_read, {X(PROC_FD), BAD, V(16)}, 16, W(EF, EF, EF, R(8))},
    {"read_bad_fd_is_ebadf_first", SYS_read, {V(-1), BAD, V(16)}, 16, W(EBADF, EBADF, EBADF, EBADF)},
    {"write_buf_pipe", SYS_write, {X(PIPE_W), BAD, V(16)}, 16, EF4, .flags = F_KEEP},
    {"write_buf_file", SYS_write, {X(FILE_RW), BAD, V(16)}, 16, W(EF, EF, EF, R(8))},
    {"write_buf_socket", SYS_write, {X(SOCK), BAD, V(16)}, 16, EF4, .flags = F_KEEP},
    {"write_buf_eventfd", SYS_write, {X(EVENTFD), BAD, V(8)}, 8, EF4},
    {"write_zero_len", SYS_write, {X(PIPE_W), BAD, V(0)}, 16, W(R(0), EF, R(0), R(0)), .flags = F_KEEP},
    {"pread64_buf", SYS_pread64, {X(FILE_R), BAD, V(16), V(0)}, 16, W(EF, EF, EF, R(8))},
    {"pwrite64_buf", SYS_pwrite64, {X(FILE_RW), BAD, V(16), V(0)}, 16, W(EF, EF, EF, R(8))},
    {"readv_iov", SYS_readv, {X(PIPE_R), BAD, V(1)}, 16, EF4, A_IOV, F_KEEP},
    {"readv_base_pipe", SYS_readv, {X(PIPE_R), X(IOV_BAD), V(1)}, 16, EF4, .flags = F_KEEP},
    {"readv_base_file", SYS_readv, {X(FILE_R), X(IOV_BAD), V(1)}, 16, W(EF, EF, EF, R(8))},
    {"writev_iov", SYS_writev, {X(PIPE_W), BAD, V(1)}, 16, EF4, A_IOV, F_KEEP},
    {"writev_base_pipe", SYS_writev, {X(PIPE_W), X(IOV_BAD), V(1)}, 16, EF4, .flags = F_KEEP},
    {"writev_base_file", SYS_writev, {X(FILE_RW), X(IOV_BAD), V(1)}, 16, W(EF, EF, EF, R(8))},
    {"preadv_iov", SYS_preadv, {X(FILE_R), BAD, V(1), V(0), V(0)}, 16, EF4, A_IOV},
    {"preadv_base", SYS_preadv, {X(FILE_R), X(IOV_BAD), V(1), V(0), V(0)}, 16, W(EF, EF, EF, R(8))},
    {"pwritev_iov", SYS_pwritev, {X(FILE_RW), BAD, V(1), V(0), V(0)}, 16, EF4, A_IOV},
    {"pwritev_base", SYS_pwritev, {X(FILE_RW), X(IOV_BAD), V(1), V(0), V(0)}, 16, W(EF, EF, EF, R(8))},
    {"preadv2_iov", SYS_preadv2, {X(FILE_R), BAD, V(1), V(0), V(0), V(0)}, 16, EF4, A_IOV},
    {"preadv2_base", SYS_preadv2, {X(FILE_R), X(IOV_BAD), V(1), V(0), V(0), V(0)}, 16, W(EF, EF, EF, R(8))},
    {"pwritev2_iov", SYS_pwritev2, {X(FILE_RW), BAD, V(1), V(0), V(0), V(0)}, 16, EF4, A_IOV},
    {"pwritev2_base", SYS_pwritev2, {X(FILE_RW), X(IOV_BAD), V(1), V(0), V(0), V(0)}, 16, W(EF, EF, EF, R(8))},
    /* NULL offsets mean "use and move the file offset" */
    {"sendfile_offset", SYS_sendfile, {X(PIPE_W), X(FILE_R), BAD, V(16)}, 8, W(R(16), EF, EF, EF)},
    {"splice_off_in", SYS_splice, {X(FILE_R), BAD, X(PIPE_W), V(0), V(16), V(0)}, 8, W(R(16), EF, EF, EF)},
    {"vmsplice_iov", SYS_vmsplice, {X(PIPE_W), BAD, V(1), V(0)}, 16, EF4, A_IOV, F_KEEP},
    {"copy_file_range_off_in", SYS_copy_file_range, {X(FILE_R), BAD, X(FILE2_RW), V(0), V(16), V(0)}, 8, W(R(16), EF, EF, EF)},
    {"copy_file_range_off_out", SYS_copy_file_range, {X(FILE_R), V(0), X(FILE2_RW), BAD, V(16), V(0)}, 8, W(R(16), EF, EF, EF)},

    /* -- results written to a buffer: stat family, dirs, links -- */
    {"stat_buf", SYS_stat, {X(FILE_PATH), BAD}, 144, EF4},
    {"lstat_buf", SYS_lstat, {X(LINK_PATH), BAD}, 144, EF4},
    {"fstat_buf", SYS_fstat, {X(FILE_R), BAD}, 144, EF4},
    {"fstat_bad_fd_is_ebadf_first", SYS_fstat, {V(-1), BAD}, 144, W(EBADF, EBADF, EBADF, EBADF)},
    {"newfstatat_buf", SYS_newfstatat, {V(AT_FDCWD), X(FILE_PATH), BAD, V(0)}, 144, EF4},
    {"statx_buf", SYS_statx, {V(AT_FDCWD), X(FILE_PATH), V(0), V(0xfff), BAD}, 256, EF4},
    {"statfs_buf", SYS_statfs, {X(FILE_PATH), BAD}, 120, EF4},
    {"fstatfs_buf", SYS_fstatfs, {X(FILE_R), BAD}, 120, EF4},
    {"getdents_dirp", SYS_getdents, {X(DIR_FD), BAD, V(4096)}, 64, EF4},
    {"getdents64_dirp", SYS_getdents64, {X(DIR_FD), BAD, V(4096)}, 64, EF4},
    {"getdents64_dirp_procfs", SYS_getdents64, {X(PROC_DIR_FD), BAD, V(4096)}, 64, EF4},
    {"getcwd_buf", SYS_getcwd, {BAD, X(CWD_SIZE)}, 64, EF4},
    {"readlink_buf", SYS_readlink, {X(LINK_PATH), BAD, V(4096)}, 64, EF4},
    {"readlink_buf_procfs", SYS_readlink, {X(PROC_EXE), BAD, V(4096)}, 64, EF4},
    {"readlinkat_buf", SYS_readlinkat, {V(AT_FDCWD), X(LINK_PATH), BAD, V(4096)}, 64, EF4},
    {"ioctl_fionread", SYS_ioctl, {X(PIPE_R), V(FIONREAD), BAD}, 4, EF4},
    {"ioctl_fionbio", SYS_ioctl, {X(PIPE_R), V(FIONBIO), BAD}, 4, EF4, A_INTP},
    /* not a tty: ENOTTY before the pointer is looked at */
    {"ioctl_tcgets_pipe_is_enotty_first", SYS_ioctl, {X(PIPE_R), V(TCGETS), BAD}, 60, W(ENOTTY, ENOTTY, ENOTTY, ENOTTY)},

    /* -- path strings -- */
    {"open_path", SYS_open, {BAD, V(O_RDONLY)}, 0, EF4},
    {"open_path_nul_before_hole", SYS_open, {BAD, V(O_RDONLY)}, 0, W(NA, NA, NA, OKR), A_FILE_PATH, F_RETFD},
    {"creat_path", SYS_creat, {BAD, V(0644)}, 0, EF4},
    {"openat_path", SYS_openat, {V(AT_FDCWD), BAD, V(O_RDONLY)}, 0, EF4},
    {"openat2_path", SYS_openat2, {V(AT_FDCWD), BAD, X(OPENHOW), V(24)}, 0, EF4},
    {"openat2_how", SYS_openat2, {V(AT_FDCWD), X(FILE_PATH), BAD, V(24)}, 24, EF4, A_OPENHOW},
    {"stat_path", SYS_stat, {BAD, X(BUF)}, 0, EF4},
    {"stat_path_nul_before_hole", SYS_stat, {BAD, X(BUF)}, 0, W(NA, NA, NA, R(0)), A_FILE_PATH},
    {"lstat_path", SYS_lstat, {BAD, X(BUF)}, 0, EF4},
    {"newfstatat_path", SYS_newfstatat, {V(AT_FDCWD), BAD, X(BUF), V(0)}, 0, EF4},
    {"statx_path", SYS_statx, {V(AT_FDCWD), BAD, V(0), V(0xfff), X(BUF)}, 0, EF4},
    {"statfs_path", SYS_statfs, {BAD, X(BUF)}, 0, EF4},
    {"access_path", SYS_access, {BAD, V(F_OK)}, 0, EF4},
    {"faccessat_path", SYS_faccessat, {V(AT_FDCWD), BAD, V(F_OK)}, 0, EF4},
    {"faccessat2_path", SYS_faccessat2, {V(AT_FDCWD), BAD, V(F_OK), V(0)}, 0, EF4},
    {"truncate_path", SYS_truncate, {BAD, V(16)}, 0, EF4},
    {"chdir_path", SYS_chdir, {BAD}, 0, EF4},
    {"chdir_path_nul_before_hole", SYS_chdir, {BAD}, 0, W(NA, NA, NA, R(0)), A_DIR_PATH},
    {"chroot_path", SYS_chroot, {BAD}, 0, EF4},
    {"mkdir_path", SYS_mkdir, {BAD, V(0755)}, 0, EF4},
    {"mkdir_path_nul_before_hole", SYS_mkdir, {BAD, V(0755)}, 0, W(NA, NA, NA, R(0)), A_NEW_PATH},
    {"mkdirat_path", SYS_mkdirat, {V(AT_FDCWD), BAD, V(0755)}, 0, EF4},
    {"mknod_path", SYS_mknod, {BAD, V(S_IFIFO | 0644), V(0)}, 0, EF4},
    {"mknodat_path", SYS_mknodat, {V(AT_FDCWD), BAD, V(S_IFIFO | 0644), V(0)}, 0, EF4},
    {"rmdir_path", SYS_rmdir, {BAD}, 0, EF4},
    {"unlink_path", SYS_unlink, {BAD}, 0, EF4},
    {"unlinkat_path", SYS_unlinkat, {V(AT_FDCWD), BAD, V(0)}, 0, EF4},
    {"rename_old", SYS_rename, {BAD, X(NEW_PATH)}, 0, EF4},
    {"rename_new", SYS_rename, {X(FILE_PATH), BAD}, 0, EF4},
    {"renameat_old", SYS_renameat, {V(AT_FDCWD), BAD, V(AT_FDCWD), X(NEW_PATH)}, 0, EF4},
    {"renameat_new", SYS_renameat, {V(AT_FDCWD), X(FILE_PATH), V(AT_FDCWD), BAD}, 0, EF4},
    {"renameat2_old", SYS_renameat2, {V(AT_FDCWD), BAD, V(AT_FDCWD), X(NEW_PATH), V(0)}, 0, EF4},
    {"renameat2_new", SYS_renameat2, {V(AT_FDCWD), X(FILE_PATH), V(AT_FDCWD), BAD, V(0)}, 0, EF4},
    {"link_old", SYS_link, {BAD, X(NEW_PATH)}, 0, EF4},
    {"link_new", SYS_link, {X(FILE_PATH), BAD}, 0, EF4},
    {"linkat_old", SYS_linkat, {V(AT_FDCWD), BAD, V(AT_FDCWD), X(NEW_PATH), V(0)}, 0, EF4},
    {"linkat_new", SYS_linkat, {V(AT_FDCWD), X(FILE_PATH), V(AT_FDCWD), BAD, V(0)}, 0, EF4},
    {"symlink_target", SYS_symlink, {BAD, X(NEW_PATH)}, 0, EF4},
    {"symlink_linkpath", SYS_symlink, {X(FILE_PATH), BAD}, 0, EF4},
    {"symlinkat_target", SYS_symlinkat, {BAD, V(AT_FDCWD), X(NEW_PATH)}, 0, EF4},
    {"symlinkat_linkpath", SYS_symlinkat, {X(FILE_PATH), V(AT_FDCWD), BAD}, 0, EF4},
    {"readlink_path", SYS_readlink, {BAD, X(BUF), V(4096)}, 0, EF4},
    {"readlinkat_path", SYS_readlinkat, {V(AT_FDCWD), BAD, X(BUF), V(4096)}, 0, EF4},
    {"chmod_path", SYS_chmod, {BAD, V(0644)}, 0, EF4},
    {"fchmodat_path", SYS_fchmodat, {V(AT_FDCWD), BAD, V(0644)}, 0, EF4},
    {"chown_path", SYS_chown, {BAD, V(0), V(0)}, 0, EF4},
    {"lchown_path", SYS_lchown, {BAD, V(0), V(0)}, 0, EF4},
    {"fchownat_path", SYS_fchownat, {V(AT_FDCWD), BAD, V(0), V(0), V(0)}, 0, EF4},
    {"utime_path", SYS_utime, {BAD, V(0)}, 0, EF4},
    {"utimes_path", SYS_utimes, {BAD, V(0)}, 0, EF4},
    /* a NULL path with a real dirfd means "the dirfd itself" */
    {"futimesat_path", SYS_futimesat, {X(DIR_FD), BAD, V(0)}, 0, W(R(0), EF, EF, EF)},
    {"utimensat_path", SYS_utimensat, {X(DIR_FD), BAD, V(0), V(0)}, 0, W(R(0), EF, EF, EF)},
    /* -- times: NULL means "now" -- */
    {"utime_times", SYS_utime, {X(FILE_PATH), BAD}, 16, W(R(0), EF, EF, EF)},
    {"utimes_times", SYS_utimes, {X(FILE_PATH), BAD}, 32, W(R(0), EF, EF, EF)},
    {"futimesat_times", SYS_futimesat, {V(AT_FDCWD), X(FILE_PATH), BAD}, 32, W(R(0), EF, EF, EF)},
    {"utimensat_times", SYS_utimensat, {V(AT_FDCWD), X(FILE_PATH), BAD, V(0)}, 32, W(R(0), EF, EF, EF)},

    /* -- extended attributes (d/f has user.k = DATA) -- */
    {"setxattr_path", SYS_setxattr, {BAD, X(XNAME), X(BUF), V(16), V(0)}, 0, EF4},
    {"setxattr_name", SYS_setxattr, {X(FILE_PATH), BAD, X(BUF), V(16), V(0)}, 0, EF4},
    {"setxattr_name_nul_before_hole", SYS_setxattr, {X(FILE_PATH), BAD, X(BUF), V(16), V(0)}, 0, W(NA, NA, NA, R(0)), A_XNAME},
    {"setxattr_value", SYS_setxattr, {X(FILE_PATH), X(XNAME), BAD, V(16), V(0)}, 16, EF4, A_BUF},
    {"lsetxattr_path", SYS_lsetxattr, {BAD, X(XNAME), X(BUF), V(16), V(0)}, 0, EF4},
    {"lsetxattr_value", SYS_lsetxattr, {X(FILE_PATH), X(XNAME), BAD, V(16), V(0)}, 16, EF4, A_BUF},
    {"fsetxattr_name", SYS_fsetxattr, {X(FILE_RW), BAD, X(BUF), V(16), V(0)}, 0, EF4},
    {"fsetxattr_value", SYS_fsetxattr, {X(FILE_RW), X(XNAME), BAD, V(16), V(0)}, 16, EF4, A_BUF},
    {"getxattr_path", SYS_getxattr, {BAD, X(XNAME), X(BUF), V(64)}, 0, EF4},
    {"getxattr_name", SYS_getxattr, {X(FILE_PATH), BAD, X(BUF), V(64)}, 0, EF4},
    {"getxattr_value", SYS_getxattr, {X(FILE_PATH), X(XNAME), BAD, V(64)}, 16, EF4},
    {"lgetxattr_path", SYS_lgetxattr, {BAD, X(XNAME), X(BUF), V(64)}, 0, EF4},
    {"lgetxattr_value", SYS_lgetxattr, {X(FILE_PATH), X(XNAME), BAD, V(64)}, 16, EF4},
    {"fgetxattr_name", SYS_fgetxattr, {X(FILE_R), BAD, X(BUF), V(64)}, 0, EF4},
    {"fgetxattr_value", SYS_fgetxattr, {X(FILE_R), X(XNAME), BAD, V(64)}, 16, EF4},
    {"listxattr_path", SYS_listxattr, {BAD, X(BUF), V(64)}, 0, EF4},
    /* the list is "user.k\0", 7 bytes */
    {"listxattr_list", SYS_listxattr, {X(FILE_PATH), BAD, V(64)}, 7, EF4},
    {"llistxattr_path", SYS_llistxattr, {BAD, X(BUF), V(64)}, 0, EF4},
    {"llistxattr_list", SYS_llistxattr, {X(FILE_PATH), BAD, V(64)}, 7, EF4},
    {"flistxattr_list", SYS_flistxattr, {X(FILE_R), BAD, V(64)}, 7, EF4},
    {"removexattr_path", SYS_removexattr, {BAD, X(XNAME)}, 0, EF4},
    {"removexattr_name", SYS_removexattr, {X(FILE_PATH), BAD}, 0, EF4},
    {"lremovexattr_path", SYS_lremovexattr, {BAD, X(XNAME)}, 0, EF4},
    {"lremovexattr_name", SYS_lremovexattr, {X(FILE_PATH), BAD}, 0, EF4},
    {"fremovexattr_name", SYS_fremovexattr, {X(FILE_RW), BAD}, 0, EF4},

    /* -- pipes and sockets -- */
    {"pipe_fds", SYS_pipe, {BAD}, 8, EF4},
    {"pipe2_fds", SYS_pipe2, {BAD, V(0)}, 8, EF4},
    {"socketpair_sv", SYS_socketpair, {V(AF_UNIX), V(SOCK_STREAM), V(0), BAD}, 8, EF4},
    {"bind_addr", SYS_bind, {X(SOCK_NEW), BAD, V(sizeof(struct sockaddr_un))}, 110, EF4, A_SUN_NEW},
    {"connect_addr", SYS_connect, {X(SOCK_NEW), BAD, V(sizeof(struct sockaddr_un))}, 110, EF4, A_SUN},
    /* accept writes the peer's address: an unbound peer is 2 bytes (the family).
       NULL means "no address wanted"; otherwise the connection is lost. */
    {"accept_addr", SYS_accept, {X(LISTEN), BAD, X(LENP)}, 2, W(OKR, EF, EF, EF), .flags = F_RETFD},
    {"accept_addrlen", SYS_accept, {X(LISTEN), X(BUF), BAD}, 4, EF4, A_LENP},
    {"accept4_addr", SYS_accept4, {X(LISTEN), BAD, X(LENP), V(0)}, 2, W(OKR, EF, EF, EF), .flags = F_RETFD},
    {"accept4_addrlen", SYS_accept4, {X(LISTEN), X(BUF), BAD, V(0)}, 4, EF4, A_LENP},
    {"getsockname_addr", SYS_getsockname, {X(SOCK), BAD, X(LENP)}, 2, EF4},
    {"getsockname_addrlen", SYS_getsockname, {X(SOCK), X(BUF), BAD}, 4, EF4, A_LENP},
    {"getpeername_addr", SYS_getpeername, {X(SOCK), BAD, X(LENP)}, 2, EF4},
    {"getpeername_addrlen", SYS_getpeername, {X(SOCK), X(BUF), BAD}, 4, EF4, A_LENP},
    {"setsockopt_optval", SYS_setsockopt, {X(SOCK), V(SOL_SOCKET), V(SO_RCVBUF), BAD, V(4)}, 4, EF4, A_INTP},
    {"getsockopt_optval", SYS_getsockopt, {X(SOCK), V(SOL_SOCKET), V(SO_TYPE), BAD, X(INTLENP)}, 4, EF4},
    {"getsockopt_optlen", SYS_getsockopt, {X(SOCK), V(SOL_SOCKET), V(SO_TYPE), X(BUF), BAD}, 4, EF4, A_INTLENP},
    {"sendto_buf", SYS_sendto, {X(SOCK), BAD, V(16), V(MSG_DONTWAIT), V(0), V(0)}, 16, EF4, .flags = F_KEEP},
    /* the address is copied in before the socket is asked (connected: EISCONN) */
    {"sendto_addr", SYS_sendto, {X(SOCK), X(BUF), V(16), V(MSG_DONTWAIT), BAD, V(sizeof(struct sockaddr_un))}, 110, W(R(16), EF, EF, EF), A_SUN_NEW},
    {"recvfrom_buf", SYS_recvfrom, {X(SOCK), BAD, V(16), V(MSG_DONTWAIT), V(0), V(0)}, 16, EF4, .flags = F_KEEP},
    /* a socketpair peer has no name: nothing is written to addr */
    {"recvfrom_addr_unnamed_peer", SYS_recvfrom, {X(SOCK), X(BUF), V(16), V(MSG_DONTWAIT), BAD, X(LENP)}, 110, W(R(16), R(16), R(16), R(16))},
    {"recvfrom_addr_named_peer", SYS_recvfrom, {X(DGRAM_NAMED), X(BUF), V(16), V(MSG_DONTWAIT), BAD, X(LENP)}, 110, W(R(16), EF, EF, EF)},
    /* a non-NULL addr with a bad addrlen: EFAULT after the data is taken */
    {"recvfrom_addrlen", SYS_recvfrom, {X(SOCK), X(BUF), V(16), V(MSG_DONTWAIT), X(BUF2), BAD}, 4, EF4, A_LENP},
    {"sendmsg_msg", SYS_sendmsg, {X(SOCK), BAD, V(MSG_DONTWAIT)}, 56, EF4, A_MSG, F_KEEP},
    {"sendmsg_iov", SYS_sendmsg, {X(SOCK), X(MSG_IOV_BAD), V(MSG_DONTWAIT)}, 16, EF4, A_IOV, F_KEEP},
    {"sendmsg_base", SYS_sendmsg, {X(SOCK), X(MSG_BASE_BAD), V(MSG_DONTWAIT)}, 16, EF4, A_BUF, F_KEEP},
    {"sendmsg_name", SYS_sendmsg, {X(SOCK), X(MSG_NAME_BAD), V(MSG_DONTWAIT)}, 110, W(R(16), EF, EF, EF), A_SUN_NEW},
    {"sendmsg_control", SYS_sendmsg, {X(SOCK), X(MSG_CTL_BAD), V(MSG_DONTWAIT)}, 24, EF4, .flags = F_KEEP},
    {"recvmsg_msg", SYS_recvmsg, {X(SOCK), BAD, V(MSG_DONTWAIT)}, 56, EF4, A_MSG, F_KEEP},
    {"recvmsg_iov", SYS_recvmsg, {X(SOCK), X(MSG_IOV_BAD), V(MSG_DONTWAIT)}, 16, EF4, A_IOV, F_KEEP},
    {"recvmsg_base", SYS_recvmsg, {X(SOCK), X(MSG_BASE_BAD), V(MSG_DONTWAIT)}, 16, EF4, .flags = F_KEEP},
    {"recvmsg_name_unnamed_peer", SYS_recvmsg, {X(SOCK), X(MSG_NAME_BAD), V(MSG_DONTWAIT)}, 110, W(R(16), R(16), R(16), R(16))},
    {"recvmsg_name_named_peer", SYS_recvmsg, {X(DGRAM_NAMED), X(MSG_NAME_BAD), V(MSG_DONTWAIT)}, 110, W(R(16), EF, EF, EF)},
    /* no ancillary data: the control buffer is never written */
    {"recvmsg_control_none", SYS_recvmsg, {X(SOCK), X(MSG_CTL_BAD), V(MSG_DONTWAIT)}, 24, W(R(16), R(16), R(16), R(16))},
    /* SCM_RIGHTS that cannot be written: MSG_CTRUNC, the fd is not installed */
    {"recvmsg_control_rights", SYS_recvmsg, {X(SOCK_RIGHTS), X(MSG_CTL_BAD), V(MSG_DONTWAIT)}, 24, W(R(16), R(16), R(16), R(16))},
    {"sendmmsg_msgvec", SYS_sendmmsg, {X(SOCK), BAD, V(1), V(MSG_DONTWAIT)}, 64, EF4, A_MMSG, F_KEEP},
    {"recvmmsg_msgvec", SYS_recvmmsg, {X(SOCK), BAD, V(1), V(MSG_DONTWAIT), V(0)}, 64, EF4, A_MMSG, F_KEEP},
    {"recvmmsg_timeout", SYS_recvmmsg, {X(SOCK), X(MMSG), V(1), V(MSG_DONTWAIT), BAD}, 16, W(R(1), EF, EF, EF), A_TS0, F_KEEP},

    /* -- processes -- */
    {"execve_path", SYS_execve, {BAD, X(ARGV), X(ENVP)}, 0, EF4},
    {"execve_path_nul_before_hole", SYS_execve, {BAD, X(ARGV), X(ENVP)}, 0, W(NA, NA, NA, R(0)), A_EXE},
    /* a NULL argv or envp is taken as empty */
    {"execve_argv", SYS_execve, {X(EXE), BAD, X(ENVP)}, 24, W(R(0), EF, EF, EF), A_ARGV},
    {"execve_argv_string", SYS_execve, {X(EXE), X(ARGV_BAD), X(ENVP)}, 0, W(R(0), EF, EF, EF)},
    {"execve_envp", SYS_execve, {X(EXE), X(ARGV), BAD}, 16, W(R(0), EF, EF, EF), A_ENVP},
    {"execve_envp_string", SYS_execve, {X(EXE), X(ARGV), X(ENVP_BAD)}, 0, W(R(0), EF, EF, EF)},
    /* the child is reaped, then the status cannot be stored */
    {"wait4_status", SYS_wait4, {X(CHILD), BAD, V(0), V(0)}, 4, W(OKR, EF, EF, EF)},
    {"wait4_rusage", SYS_wait4, {X(CHILD), V(0), V(0), BAD}, 144, W(OKR, EF, EF, EF)},
    {"waitid_infop", SYS_waitid, {V(P_PID), X(CHILD), BAD, V(WEXITED), V(0)}, 128, W(R(0), EF, EF, EF)},
    {"waitid_rusage", SYS_waitid, {V(P_PID), X(CHILD), X(BUF), V(WEXITED), BAD}, 144, W(R(0), EF, EF, EF)},
    /* the tid pointers are used after the child exists; a fault is ignored */
    {"clone_parent_tid", SYS_clone, {V(CLONE_PARENT_SETTID | SIGCHLD), V(0), BAD, V(0), V(0)}, 4, W(OKR, OKR, OKR, OKR), .flags = F_CLONE},
    {"clone_child_settid", SYS_clone, {V(CLONE_CHILD_SETTID | SIGCHLD), V(0), V(0), BAD, V(0)}, 4, W(OKR, OKR, OKR, OKR), .flags = F_CLONE},
    {"clone_child_cleartid", SYS_clone, {V(CLONE_CHILD_CLEARTID | SIGCHLD), V(0), V(0), BAD, V(0)}, 4, W(OKR, OKR, OKR, OKR), .flags = F_CLONE},
    {"clone3_args", SYS_clone3, {BAD, V(CLONE3_SIZE)}, CLONE3_SIZE, EF4, A_CLONE3, F_CLONE},
    {"clone3_parent_tid", SYS_clone3, {X(CLONE3_PTID_BAD), V(CLONE3_SIZE)}, 4, W(OKR, OKR, OKR, OKR), .flags = F_CLONE},
    /* only used when the thread exits (then a fault is ignored) */
    {"set_tid_address_tidptr", SYS_set_tid_address, {BAD}, 4, W(OKR, OKR, OKR, OKR)},
    {"set_robust_list_head", SYS_set_robust_list, {BAD, V(24)}, 24, W(R(0), R(0), R(0), R(0))},
    {"get_robust_list_head", SYS_get_robust_list, {V(0), BAD, X(BUF)}, 8, EF4},
    {"get_robust_list_len", SYS_get_robust_list, {V(0), X(BUF), BAD}, 8, EF4},
    {"uname_buf", SYS_uname, {BAD}, 390, EF4},
    {"sysinfo_info", SYS_sysinfo, {BAD}, 112, EF4},
    {"getrusage_usage", SYS_getrusage, {V(RUSAGE_SELF), BAD}, 144, EF4},
    {"times_buf", SYS_times, {BAD}, 32, W(OKR, EF, EF, EF)},
    {"getrlimit_rlim", SYS_getrlimit, {V(RLIMIT_NOFILE), BAD}, 16, EF4},
    {"setrlimit_rlim", SYS_setrlimit, {V(RLIMIT_NOFILE), BAD}, 16, EF4, A_RLIM},
    {"prlimit64_new", SYS_prlimit64, {V(0), V(RLIMIT_NOFILE), BAD, V(0)}, 16, W(R(0), EF, EF, EF), A_RLIM},
    {"prlimit64_old", SYS_prlimit64, {V(0), V(RLIMIT_NOFILE), V(0), BAD}, 16, W(R(0), EF, EF, EF)},
    {"getgroups_list", SYS_getgroups, {X(NGROUPS), BAD}, 4, EF4},
    {"setgroups_list", SYS_setgroups, {V(1), BAD}, 4, EF4, A_GROUPS},
    {"getresuid_ruid", SYS_getresuid, {BAD, X(BUF), X(BUF2)}, 4, EF4},
    {"getresuid_euid", SYS_getresuid, {X(BUF), BAD, X(BUF2)}, 4, EF4},
    {"getresuid_suid", SYS_getresuid, {X(BUF), X(BUF2), BAD}, 4, EF4},
    {"getresgid_rgid", SYS_getresgid, {BAD, X(BUF), X(BUF2)}, 4, EF4},
    {"getresgid_egid", SYS_getresgid, {X(BUF), BAD, X(BUF2)}, 4, EF4},
    {"getresgid_sgid", SYS_getresgid, {X(BUF), X(BUF2), BAD}, 4, EF4},
    {"capget_hdr", SYS_capget, {BAD, X(BUF)}, 8, EF4, A_CAPHDR},
    /* a NULL data pointer only checks the header's version */
    {"capget_data", SYS_capget, {X(CAPHDR), BAD}, 24, W(R(0), EF, EF, EF)},
    {"capset_hdr", SYS_capset, {BAD, X(CAPDATA)}, 8, EF4, A_CAPHDR},
    {"capset_data", SYS_capset, {X(CAPHDR), BAD}, 24, EF4, A_CAPDATA},
    /* a NULL param is EINVAL */
    {"sched_getparam_param", SYS_sched_getparam, {V(0), BAD}, 4, W(EINVAL, EF, EF, EF)},
    {"sched_setparam_param", SYS_sched_setparam, {V(0), BAD}, 4, W(EINVAL, EF, EF, EF)},
    {"sched_setscheduler_param", SYS_sched_setscheduler, {V(0), V(SCHED_OTHER), BAD}, 4, W(EINVAL, EF, EF, EF)},
    {"sched_rr_get_interval_tp", SYS_sched_rr_get_interval, {V(0), BAD}, 16, EF4},
    {"sched_setaffinity_mask", SYS_sched_setaffinity, {V(0), V(8), BAD}, 8, EF4, A_CPUSET},
    {"sched_getaffinity_mask", SYS_sched_getaffinity, {V(0), V(128), BAD}, 8, EF4},
    {"getcpu_cpu", SYS_getcpu, {BAD, V(0), V(0)}, 4, W(R(0), EF, EF, EF)},
    {"getcpu_node", SYS_getcpu, {X(BUF), BAD, V(0)}, 4, W(R(0), EF, EF, EF)},
    {"prctl_set_name", SYS_prctl, {V(PR_SET_NAME), BAD}, 0, EF4},
    {"prctl_get_name", SYS_prctl, {V(PR_GET_NAME), BAD}, 16, EF4},
    {"prctl_get_pdeathsig", SYS_prctl, {V(PR_GET_PDEATHSIG), BAD}, 4, EF4},
    {"prctl_get_child_subreaper", SYS_prctl, {V(PR_GET_CHILD_SUBREAPER), BAD}, 4, EF4},
    {"prctl_get_tid_address", SYS_prctl, {V(PR_GET_TID_ADDRESS), BAD}, 8, EF4},
    {"arch_prctl_get_fs", SYS_arch_prctl, {V(ARCH_GET_FS), BAD}, 8, EF4},
    {"arch_prctl_get_gs", SYS_arch_prctl, {V(ARCH_GET_GS), BAD}, 8, EF4},

    /* -- signals -- */
    {"rt_sigaction_act", SYS_rt_sigaction, {V(SIGUSR2), BAD, V(0), V(8)}, 32, W(R(0), EF, EF, EF)},
    {"rt_sigaction_oldact", SYS_rt_sigaction, {V(SIGUSR2), V(0), BAD, V(8)}, 32, W(R(0), EF, EF, EF)},
    {"rt_sigprocmask_set", SYS_rt_sigprocmask, {V(SIG_BLOCK), BAD, V(0), V(8)}, 8, W(R(0), EF, EF, EF), A_SIGSET0},
    {"rt_sigprocmask_oldset", SYS_rt_sigprocmask, {V(SIG_BLOCK), V(0), BAD, V(8)}, 8, W(R(0), EF, EF, EF)},
    {"rt_sigprocmask_bad_size_is_einval_first", SYS_rt_sigprocmask, {V(SIG_BLOCK), BAD, V(0), V(4)}, 8, W(EINVAL, EINVAL, EINVAL, EINVAL)},
    {"rt_sigpending_set", SYS_rt_sigpending, {BAD, V(8)}, 8, EF4},
    {"rt_sigsuspend_mask", SYS_rt_sigsuspend, {BAD, V(8)}, 8, EF4, A_SIGSET0},
    {"rt_sigtimedwait_set", SYS_rt_sigtimedwait, {BAD, V(0), X(TS0), V(8)}, 8, EF4, A_USR1_PENDING},
    /* SIGUSR1 is pending: it is taken, then the info cannot be stored */
    {"rt_sigtimedwait_info", SYS_rt_sigtimedwait, {X(USR1_PENDING), BAD, X(TS0), V(8)}, 128, W(R(SIGUSR1), EF, EF, EF)},
    {"rt_sigtimedwait_timeout", SYS_rt_sigtimedwait, {X(USR1_PENDING), V(0), BAD, V(8)}, 16, W(R(SIGUSR1), EF, EF, EF), A_TS0},
    {"rt_sigqueueinfo_info", SYS_rt_sigqueueinfo, {X(SELF), V(0), BAD}, 128, EF4, A_SIGINFO},
    {"rt_tgsigqueueinfo_info", SYS_rt_tgsigqueueinfo, {X(SELF), X(SELF), V(0), BAD}, 128, EF4, A_SIGINFO},
    {"sigaltstack_ss", SYS_sigaltstack, {BAD, V(0)}, 24, W(R(0), EF, EF, EF), A_STACK_OFF},
    {"sigaltstack_old_ss", SYS_sigaltstack, {V(0), BAD}, 24, W(R(0), EF, EF, EF)},
    {"signalfd_mask", SYS_signalfd, {V(-1), BAD, V(8)}, 8, EF4, A_SIGSET0},
    {"signalfd4_mask", SYS_signalfd4, {V(-1), BAD, V(8), V(0)}, 8, EF4, A_SIGSET0},

    /* -- time -- */
    {"nanosleep_req", SYS_nanosleep, {BAD, V(0)}, 16, EF4, A_TS0},
    /* rem is only written when the sleep is interrupted */
    {"nanosleep_rem", SYS_nanosleep, {X(TS1US), BAD}, 16, W(R(0), R(0), R(0), R(0))},
    {"clock_nanosleep_req", SYS_clock_nanosleep, {V(CLOCK_MONOTONIC), V(0), BAD, V(0)}, 16, EF4, A_TS0},
    {"clock_nanosleep_rem", SYS_clock_nanosleep, {V(CLOCK_MONOTONIC), V(0), X(TS1US), BAD}, 16, W(R(0), R(0), R(0), R(0))},
    {"clock_gettime_tp", SYS_clock_gettime, {V(CLOCK_MONOTONIC), BAD}, 16, EF4},
    {"clock_getres_tp", SYS_clock_getres, {V(CLOCK_MONOTONIC), BAD}, 16, W(R(0), EF, EF, EF)},
    {"clock_settime_tp", SYS_clock_settime, {V(CLOCK_REALTIME), BAD}, 16, EF4, A_TS_NOW},
    {"gettimeofday_tv", SYS_gettimeofday, {BAD, V(0)}, 16, W(R(0), EF, EF, EF)},
    {"gettimeofday_tz", SYS_gettimeofday, {X(BUF), BAD}, 8, W(R(0), EF, EF, EF)},
    {"settimeofday_tv", SYS_settimeofday, {BAD, V(0)}, 16, W(R(0), EF, EF, EF), A_TV_NOW},
    {"settimeofday_tz", SYS_settimeofday, {V(0), BAD}, 8, W(R(0), EF, EF, EF), A_ZERO},
    {"time_tloc", SYS_time, {BAD}, 8, W(OKR, EF, EF, EF)},
    {"adjtimex_buf", SYS_adjtimex, {BAD}, 208, EF4, A_ZERO},
    {"clock_adjtime_buf", SYS_clock_adjtime, {V(CLOCK_REALTIME), BAD}, 208, EF4, A_ZERO},
    {"getitimer_value", SYS_getitimer, {V(ITIMER_REAL), BAD}, 32, EF4},
    /* a NULL new value disarms (an old misfeature Linux keeps) */
    {"setitimer_new", SYS_setitimer, {V(ITIMER_REAL), BAD, V(0)}, 32, W(R(0), EF, EF, EF), A_ZERO},
    {"setitimer_old", SYS_setitimer, {V(ITIMER_REAL), X(ZERO), BAD}, 32, W(R(0), EF, EF, EF)},
    /* a NULL sevp means SIGALRM to the process */
    {"timer_create_sevp", SYS_timer_create, {V(CLOCK_MONOTONIC), BAD, X(BUF)}, 64, W(R(0), EF, EF, EF), A_SIGEV_NONE},
    {"timer_create_timerid", SYS_timer_create, {V(CLOCK_MONOTONIC), X(SIGEV_NONE), BAD}, 4, EF4},
    {"timer_settime_new", SYS_timer_settime, {X(TIMER), V(0), BAD, V(0)}, 32, W(EINVAL, EF, EF, EF), A_ZERO},
    {"timer_settime_old", SYS_timer_settime, {X(TIMER), V(0), X(ZERO), BAD}, 32, W(R(0), EF, EF, EF)},
    {"timer_gettime_value", SYS_timer_gettime, {X(TIMER), BAD}, 32, EF4},
    {"timerfd_settime_new", SYS_timerfd_settime, {X(TIMERFD), V(0), BAD, V(0)}, 32, EF4, A_ZERO},
    {"timerfd_settime_old", SYS_timerfd_settime, {X(TIMERFD), V(0), X(ZERO), BAD}, 32, W(R(0), EF, EF, EF)},
    {"timerfd_gettime_value", SYS_timerfd_gettime, {X(TIMERFD), BAD}, 32, EF4},

    /* -- poll, select, epoll (the pipe's read end is readable) -- */
    {"poll_fds", SYS_poll, {BAD, V(1), V(0)}, 8, EF4, A_POLLFD},
    /* nothing to copy, but the (empty) range must still be a user one */
    {"poll_zero_nfds", SYS_poll, {BAD, V(0), V(0)}, 8, W(R(0), EF, R(0), R(0))},
    {"ppoll_fds", SYS_ppoll, {BAD, V(1), X(TS0), V(0), V(8)}, 8, EF4, A_POLLFD},
    /* a NULL timeout waits forever, but the fd is ready */
    {"ppoll_timeout", SYS_ppoll, {X(POLLFD), V(1), BAD, V(0), V(8)}, 16, W(R(1), EF, EF, EF), A_TS0},
    {"ppoll_sigmask", SYS_ppoll, {X(POLLFD), V(1), X(TS0), BAD, V(8)}, 8, W(R(1), EF, EF, EF), A_SIGSET0},
    /* an fd_set of nfds <= 64 is 8 bytes */
    {"select_readfds", SYS_select, {X(NFDS), BAD, V(0), V(0), X(TV0)}, 8, W(R(0), EF, EF, EF), A_FDSET},
    {"select_writefds", SYS_select, {X(NFDS), V(0), BAD, V(0), X(TV0)}, 8, W(R(0), EF, EF, EF), A_FDSET},
    {"select_exceptfds", SYS_select, {X(NFDS), V(0), V(0), BAD, X(TV0)}, 8, W(R(0), EF, EF, EF), A_FDSET},
    {"select_timeout", SYS_select, {X(NFDS), X(FDSET), V(0), V(0), BAD}, 16, W(R(1), EF, EF, EF), A_TV0},
    {"pselect6_readfds", SYS_pselect6, {X(NFDS), BAD, V(0), V(0), X(TS0), V(0)}, 8, W(R(0), EF, EF, EF), A_FDSET},
    {"pselect6_timeout", SYS_pselect6, {X(NFDS), X(FDSET), V(0), V(0), BAD, V(0)}, 16, W(R(1), EF, EF, EF), A_TS0},
    {"pselect6_sigmask_arg", SYS_pselect6, {X(NFDS), X(FDSET), V(0), V(0), X(TS0), BAD}, 16, W(R(1), EF, EF, EF), A_PSEL6},
    {"pselect6_sigmask_set", SYS_pselect6, {X(NFDS), X(FDSET), V(0), V(0), X(TS0), X(PSEL6_BADSET)}, 8, W(R(1), EF, EF, EF), A_SIGSET0},
    {"epoll_ctl_event", SYS_epoll_ctl, {X(EPOLL), V(EPOLL_CTL_ADD), X(PIPE_R), BAD}, 12, EF4, A_EPEV},
    {"epoll_wait_events", SYS_epoll_wait, {X(EPOLL_READY), BAD, V(1), V(0)}, 12, EF4},
    {"epoll_pwait_events", SYS_epoll_pwait, {X(EPOLL_READY), BAD, V(1), V(0), V(0), V(8)}, 12, EF4},
    {"epoll_pwait_sigmask", SYS_epoll_pwait, {X(EPOLL_READY), X(BUF), V(1), V(0), BAD, V(8)}, 8, W(R(1), EF, EF, EF), A_SIGSET0},
    {"epoll_pwait2_events", SYS_epoll_pwait2, {X(EPOLL_READY), BAD, V(1), X(TS0), V(0), V(8)}, 12, EF4},
    {"epoll_pwait2_timeout", SYS_epoll_pwait2, {X(EPOLL_READY), X(BUF), V(1), BAD, V(0), V(8)}, 16, W(R(1), EF, EF, EF), A_TS0},
    {"epoll_pwait2_sigmask", SYS_epoll_pwait2, {X(EPOLL_READY), X(BUF), V(1), X(TS0), BAD, V(8)}, 8, W(R(1), EF, EF, EF), A_SIGSET0},

    /* -- futex: a futex word is 4-aligned, so the straddle (2 bytes before the
          hole) is EINVAL; a private futex key is the address alone, so a
          private wake of NULL or an unmapped word touches no memory -- */
    {"futex_wait_uaddr", SYS_futex, {BAD, V(FUTEX_WAIT), V(0), X(TS0)}, 4, W(EF, EF, EF, EINVAL)},
    {"futex_wait_private_uaddr", SYS_futex, {BAD, V(FUTEX_WAIT | FUTEX_PRIVATE), V(0), X(TS0)}, 4, W(EF, EF, EF, EINVAL)},
    {"futex_wake_uaddr", SYS_futex, {BAD, V(FUTEX_WAKE), V(1)}, 4, W(EF, EF, EF, EINVAL)},
    {"futex_wake_private_uaddr", SYS_futex, {BAD, V(FUTEX_WAKE | FUTEX_PRIVATE), V(1)}, 4, W(R(0), EF, R(0), EINVAL)},
    /* the timeout is read before the word is compared (1 != 0: EAGAIN) */
    {"futex_wait_timeout", SYS_futex, {X(FUTEX), V(FUTEX_WAIT | FUTEX_PRIVATE), V(1), BAD}, 16, W(EAGAIN, EF, EF, EF), A_TS0},
    {"futex_wake_op_uaddr2", SYS_futex, {X(FUTEX), V(FUTEX_WAKE_OP | FUTEX_PRIVATE), V(1), V(1), BAD, V(0)}, 4, W(EF, EF, EF, EINVAL)},
    {"futex_cmp_requeue_uaddr2", SYS_futex, {X(FUTEX), V(FUTEX_CMP_REQUEUE | FUTEX_PRIVATE), V(1), V(1), BAD, V(0)}, 4, W(R(0), EF, R(0), EINVAL)},

    /* -- memory: addresses rather than objects; the straddle is the last
          mapped page and the hole after it (2 pages) -- */
    {"mincore_vec", SYS_mincore, {X(MAP16), V(16 * PG), BAD}, 16, EF4},
    {"mincore_addr", SYS_mincore, {BAD, V(2 * PG), X(BUF)}, 0, W(ENOMEM, ENOMEM, ENOMEM, ENOMEM), .strad = PG},
    {"mprotect_addr", SYS_mprotect, {BAD, V(2 * PG), V(PROT_READ)}, 0, W(ENOMEM, ENOMEM, ENOMEM, ENOMEM), .strad = PG},
    {"munmap_addr", SYS_munmap, {BAD, V(2 * PG)}, 0, W(R(0), EINVAL, R(0), R(0)), .strad = PG},
    {"madvise_addr", SYS_madvise, {BAD, V(2 * PG), V(MADV_DONTNEED)}, 0, W(ENOMEM, ENOMEM, ENOMEM, ENOMEM), .strad = PG},
    {"msync_addr", SYS_msync, {BAD, V(2 * PG), V(MS_SYNC)}, 0, W(ENOMEM, ENOMEM, ENOMEM, ENOMEM), .strad = PG},
    {"mremap_old_addr", SYS_mremap, {BAD, V(2 * PG), V(3 * PG), V(MREMAP_MAYMOVE)}, 0, W(EF, EF, EF, EF), .strad = PG},
    /* (page 0 is mappable or EPERM depending on vm.mmap_min_addr and
       CAP_SYS_RAWIO: not a column here) */
    {"mmap_fixed_noreplace_addr", SYS_mmap, {BAD, V(2 * PG), V(PROT_READ), V(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE), V(-1), V(0)}, 0, W(NA, ENOMEM, OKR, EEXIST), .strad = PG},

    /* -- the rest -- */
    {"getrandom_buf", SYS_getrandom, {BAD, V(16), V(0)}, 16, W(EF, EF, EF, R(8))},
    {"memfd_create_name", SYS_memfd_create, {BAD, V(0)}, 0, EF4},
    {"memfd_create_name_nul_before_hole", SYS_memfd_create, {BAD, V(0)}, 0, W(NA, NA, NA, OKR), A_XNAME, F_RETFD},
    {"sethostname_name", SYS_sethostname, {BAD, V(8)}, 8, EF4, A_HOSTNAME},
    {"setdomainname_name", SYS_setdomainname, {BAD, V(8)}, 8, EF4, A_HOSTNAME},
    {"mount_source", SYS_mount, {BAD, X(MNT_DIR), X(S_TMPFS), V(0), V(0)}, 0, W(R(0), EF, EF, EF)},
    {"mount_target", SYS_mount, {X(S_NONE), BAD, X(S_TMPFS), V(0), V(0)}, 0, EF4},
    {"mount_type", SYS_mount, {X(S_NONE), X(MNT_DIR), BAD, V(0), V(0)}, 0, W(EINVAL, EF, EF, EF)},
    /* mount options are copied as far as they can be read (up to a page) */
    {"mount_data", SYS_mount, {X(S_NONE), X(MNT_DIR), X(S_TMPFS), V(0), BAD}, 0, W(R(0), EF, EF, EINVAL)},
    {"umount2_target", SYS_umount2, {BAD, V(0)}, 0, EF4},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* ---- one call, in a child --------------------------------------------- */

struct result {
    long ret;
    int err;
    char note[200]; /* why the call failed a check besides its result */
};

/* Everything a call may point at. One per child, so a global. */
static struct inv {
    const struct row *r;
    int kind;
    char *bad;
    char *hole; /* a page that must stay unmapped (unmapped and straddle) */
    const char *dir;
    int have_dir, have_f, have_g, have_l, have_m;
    char fpath[128], gpath[128], npath[128], lpath[128], mpath[128];
    int pipe[2], sock[2], rights[2], dg_r, dg_s, lis, lis_c, sock_new;
    int epoll, epoll_ready, tfd, file_r, file_rw, file2_rw, dirfd;
    int efd, sfd, procfd, procdirfd;
    pid_t child;
    long timer;
    int have_timer;
    char buf[4096], buf2[4096];
    unsigned char zero[256];
    socklen_t len, intlen;
    int intv, futex;
    struct timespec ts0, ts1us, tsnow;
    struct timeval tv0, tvnow;
    uint64_t sigset0, sigset_usr1;
    stack_t stk;
    unsigned char siginfo[128];
    struct sigevent sev;
    struct pollfd pfd;
    fd_set fds;
    struct epoll_event ev;
    struct iovec iov, iov_bad, msg_iov;
    struct sockaddr_un sun, sun_new;
    struct msghdr msg, msg_iov_bad, msg_base_bad, msg_name_bad, msg_ctl_bad;
    struct mmsghdr mmsg;
    char *argv[4], *envp[3], *argv_bad[4], *envp_bad[4];
    struct { uint32_t version; int pid; } caphdr;
    uint32_t capdata[6];
    struct rlimit rlim;
    unsigned char cpuset[128];
    gid_t groups[1];
    uint64_t how[3];
    uint64_t clone3[11], clone3_bad[11];
    struct { void *ss; size_t len; } psel6, psel6_bad;
    char hostname[72];
    char *map16;
    char valid[3 * PG]; /* -c: the object, whole, inside a page */
} iv;

static char g_exe[PATH_MAX];
static char g_base[] = "/tmp/kt-badptr-XXXXXX"; /* holds each call's temp dir */
static int g_verbose, g_control;

static void note(struct result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct result *res, const char *fmt, ...)
{
    if (res->note[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->note, sizeof res->note, fmt, ap);
    va_end(ap);
}

static int need_pipe(void)
{
    if (iv.pipe[0] < 0) {
        if (pipe(iv.pipe) != 0 || write(iv.pipe[1], DATA, 16) != 16)
            return -1;
    }
    return 0;
}

/* The temp dir d and its files, made when a row needs them (directory
   operations are slow on some hosts). */
static int need_dir(void)
{
    if (!iv.have_dir && mkdir(iv.dir, 0700) != 0)
        return -1;
    iv.have_dir = 1;
    return 0;
}

static int need_f(void)
{
    if (iv.have_f)
        return 0;
    if (need_dir() || kt_write_file(iv.fpath, DATA, 16) != 0)
        return -1;
    /* for the xattr rows; if it fails they show it */
    syscall(SYS_setxattr, iv.fpath, "user.k", DATA, 16, 0);
    iv.have_f = 1;
    return 0;
}

static int need_g(void)
{
    if (!iv.have_g && (need_dir() || kt_write_file(iv.gpath, "", 0) != 0))
        return -1;
    iv.have_g = 1;
    return 0;
}

static int need_l(void)
{
    if (!iv.have_l && (need_f() || symlink(iv.fpath, iv.lpath) != 0))
        return -1;
    iv.have_l = 1;
    return 0;
}

static int need_m(void)
{
    if (!iv.have_m && (need_dir() || mkdir(iv.mpath, 0755) != 0))
        return -1;
    iv.have_m = 1;
    return 0;
}

static int unix_addr(struct sockaddr_un *sa, const char *name)
{
    if (need_dir())
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s", iv.dir, name);
    return 0;
}

static int need_listener(void)
{
    if (iv.lis >= 0)
        return 0;
    struct sockaddr_un sa;
    if (unix_addr(&sa, "L"))
        return -1;
    iv.lis = socket(AF_UNIX, SOCK_STREAM, 0);
    iv.lis_c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (iv.lis < 0 || iv.lis_c < 0 || bind(iv.lis, (void *)&sa, sizeof sa) != 0 ||
        listen(iv.lis, 4) != 0 || connect(iv.lis_c, (void *)&sa, sizeof sa) != 0)
        return -1;
    return 0;
}

static int open_cached(int *fd, const char *path, int flags)
{
    if (*fd < 0)
        *fd = open(path, flags);
    return *fd;
}

/* The value of one argument (making its fixture if needed); -1 and a note
   in res if the fixture could not be made. */
static long argval(const struct arg *a, struct result *res)
{
    switch (a->k) {
    case A_VAL: return a->v;
    case A_BAD: return (long)iv.bad;
    case A_PIPE_R: if (need_pipe()) break; return iv.pipe[0];
    case A_PIPE_W: if (need_pipe()) break; return iv.pipe[1];
    case A_FILE_R: if (need_f() || open_cached(&iv.file_r, iv.fpath, O_RDONLY) < 0) break; return iv.file_r;
    case A_FILE_RW: if (need_f() || open_cached(&iv.file_rw, iv.fpath, O_RDWR) < 0) break; return iv.file_rw;
    case A_FILE2_RW: if (need_g() || open_cached(&iv.file2_rw, iv.gpath, O_RDWR) < 0) break; return iv.file2_rw;
    case A_DIR_FD: if (need_dir() || open_cached(&iv.dirfd, iv.dir, O_RDONLY | O_DIRECTORY) < 0) break; return iv.dirfd;
    case A_SOCK:
        if (iv.sock[0] < 0 && (socketpair(AF_UNIX, SOCK_STREAM, 0, iv.sock) != 0 ||
                               write(iv.sock[1], DATA, 16) != 16))
            break;
        return iv.sock[0];
    case A_SOCK_RIGHTS: {
        if (iv.rights[0] >= 0)
            return iv.rights[0];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, iv.rights) != 0)
            break;
        union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } c;
        memset(&c, 0, sizeof c);
        struct iovec io = {DATA, 16};
        struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = c.b,
                           .msg_controllen = sizeof c.b};
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &iv.rights[1], sizeof(int));
        if (sendmsg(iv.rights[1], &m, 0) != 16)
            break;
        return iv.rights[0];
    }
    case A_DGRAM_NAMED: {
        if (iv.dg_r >= 0)
            return iv.dg_r;
        struct sockaddr_un r, s;
        if (unix_addr(&r, "r") || unix_addr(&s, "s"))
            break;
        iv.dg_r = socket(AF_UNIX, SOCK_DGRAM, 0);
        iv.dg_s = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (iv.dg_r < 0 || iv.dg_s < 0 || bind(iv.dg_r, (void *)&r, sizeof r) != 0 ||
            bind(iv.dg_s, (void *)&s, sizeof s) != 0 ||
            sendto(iv.dg_s, DATA, 16, 0, (void *)&r, sizeof r) != 16)
            break;
        return iv.dg_r;
    }
    case A_LISTEN: if (need_listener()) break; return iv.lis;
    case A_SOCK_NEW:
        if (iv.sock_new < 0)
            iv.sock_new = socket(AF_UNIX, SOCK_STREAM, 0);
        if (iv.sock_new < 0)
            break;
        return iv.sock_new;
    case A_EPOLL:
        if (iv.epoll < 0)
            iv.epoll = epoll_create1(0);
        if (iv.epoll < 0)
            break;
        return iv.epoll;
    case A_EPOLL_READY: {
        if (iv.epoll_ready >= 0)
            return iv.epoll_ready;
        struct epoll_event e = {.events = EPOLLIN};
        if (need_pipe() || (iv.epoll_ready = epoll_create1(0)) < 0 ||
            epoll_ctl(iv.epoll_ready, EPOLL_CTL_ADD, iv.pipe[0], &e) != 0)
            break;
        return iv.epoll_ready;
    }
    case A_TIMERFD:
        if (iv.tfd < 0)
            iv.tfd = syscall(SYS_timerfd_create, CLOCK_MONOTONIC, 0);
        if (iv.tfd < 0)
            break;
        return iv.tfd;
    case A_EVENTFD:
        if (iv.efd < 0)
            iv.efd = syscall(SYS_eventfd2, 1, 0);
        if (iv.efd < 0)
            break;
        return iv.efd;
    case A_SIGNALFD: {
        if (iv.sfd >= 0)
            return iv.sfd;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGUSR1);
        uint64_t k = 1ULL << (SIGUSR1 - 1);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) != 0 || kill(getpid(), SIGUSR1) != 0 ||
            (iv.sfd = syscall(SYS_signalfd4, -1, &k, 8, 0)) < 0)
            break;
        return iv.sfd;
    }
    case A_PROC_FD: if (open_cached(&iv.procfd, "/proc/self/stat", O_RDONLY) < 0) break; return iv.procfd;
    case A_PROC_DIR_FD: if (open_cached(&iv.procdirfd, "/proc/self", O_RDONLY | O_DIRECTORY) < 0) break; return iv.procdirfd;
    case A_PROC_EXE: return (long)"/proc/self/exe";
    case A_FILE_PATH: if (need_f()) break; return (long)iv.fpath;
    case A_NEW_PATH: if (need_dir()) break; return (long)iv.npath;
    case A_DIR_PATH: if (need_dir()) break; return (long)iv.dir;
    case A_LINK_PATH: if (need_l()) break; return (long)iv.lpath;
    case A_MNT_DIR: if (need_m()) break; return (long)iv.mpath;
    case A_EXE: return (long)g_exe;
    case A_XNAME: return (long)"user.k";
    case A_S_NONE: return (long)"none";
    case A_S_TMPFS: return (long)"tmpfs";
    case A_SELF: return getpid();
    case A_CHILD:
        if (iv.child <= 0) {
            iv.child = fork();
            if (iv.child == 0)
                _exit(0);
        }
        if (iv.child < 0)
            break;
        return iv.child;
    case A_TIMER:
        if (!iv.have_timer) {
            int id = -1;
            struct sigevent sev;
            memset(&sev, 0, sizeof sev);
            sev.sigev_notify = SIGEV_NONE_;
            if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) != 0)
                break;
            iv.timer = id;
            iv.have_timer = 1;
        }
        return iv.timer;
    case A_NFDS: if (need_pipe()) break; return iv.pipe[0] + 1;
    case A_NGROUPS: {
        gid_t g = 0;
        if (syscall(SYS_setgroups, 1, &g) != 0)
            break;
        return 16;
    }
    case A_MAP16:
        if (!iv.map16) {
            char *m = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                break;
            for (int i = 0; i < 16; i++)
                m[i * PG] = 1;
            iv.map16 = m;
        }
        return (long)iv.map16;
    case A_CWD_SIZE: if (need_dir() || chdir(iv.dir) != 0) break; return 4096;
    case A_BUF: memcpy(iv.buf, DATA, 16); return (long)iv.buf;
    case A_BUF2: return (long)iv.buf2;
    case A_LENP: iv.len = sizeof(struct sockaddr_un); return (long)&iv.len;
    case A_INTP: iv.intv = 0; return (long)&iv.intv;
    case A_INTLENP: iv.intlen = sizeof(int); return (long)&iv.intlen;
    case A_TS0: return (long)&iv.ts0;
    case A_TS1US: iv.ts1us.tv_nsec = 1000; return (long)&iv.ts1us;
    case A_TS_NOW: clock_gettime(CLOCK_REALTIME, &iv.tsnow); return (long)&iv.tsnow;
    case A_TV0: return (long)&iv.tv0;
    case A_TV_NOW: gettimeofday(&iv.tvnow, NULL); return (long)&iv.tvnow;
    case A_ZERO: return (long)iv.zero;
    case A_SIGSET0: return (long)&iv.sigset0;
    case A_USR1_PENDING: {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        if (sigprocmask(SIG_BLOCK, &s, NULL) != 0 || kill(getpid(), SIGUSR1) != 0)
            break;
        iv.sigset_usr1 = 1ULL << (SIGUSR1 - 1);
        return (long)&iv.sigset_usr1;
    }
    case A_STACK_OFF: iv.stk.ss_flags = SS_DISABLE; return (long)&iv.stk;
    case A_SIGINFO: {
        int code = -1; /* SI_QUEUE */
        memcpy(iv.siginfo + 8, &code, 4);
        return (long)iv.siginfo;
    }
    case A_SIGEV_NONE: iv.sev.sigev_notify = SIGEV_NONE_; return (long)&iv.sev;
    case A_POLLFD:
        if (need_pipe())
            break;
        iv.pfd.fd = iv.pipe[0];
        iv.pfd.events = POLLIN;
        return (long)&iv.pfd;
    case A_FDSET:
        if (need_pipe())
            break;
        FD_ZERO(&iv.fds);
        FD_SET(iv.pipe[0], &iv.fds);
        return (long)&iv.fds;
    case A_EPEV: iv.ev.events = EPOLLIN; return (long)&iv.ev;
    case A_IOV: iv.iov.iov_base = iv.buf; iv.iov.iov_len = 16; memcpy(iv.buf, DATA, 16); return (long)&iv.iov;
    case A_SUN: if (need_listener() || unix_addr(&iv.sun, "L")) break; return (long)&iv.sun;
    case A_SUN_NEW: if (unix_addr(&iv.sun_new, "b")) break; return (long)&iv.sun_new;
    case A_MSG: return (long)&iv.msg;
    case A_MMSG: return (long)&iv.mmsg;
    case A_ARGV: return (long)iv.argv;
    case A_ENVP: return (long)iv.envp;
    case A_CAPHDR: iv.caphdr.version = CAP_V3; iv.caphdr.pid = 0; return (long)&iv.caphdr;
    case A_CAPDATA:
        iv.caphdr.version = CAP_V3;
        iv.caphdr.pid = 0;
        if (syscall(SYS_capget, &iv.caphdr, iv.capdata) != 0)
            break;
        return (long)iv.capdata;
    case A_RLIM: if (getrlimit(RLIMIT_NOFILE, &iv.rlim) != 0) break; return (long)&iv.rlim;
    case A_CPUSET: if (syscall(SYS_sched_getaffinity, 0, sizeof iv.cpuset, iv.cpuset) < 0) break; return (long)iv.cpuset;
    case A_GROUPS: iv.groups[0] = 0; return (long)iv.groups;
    case A_OPENHOW: iv.how[0] = O_RDONLY; return (long)iv.how;
    case A_CLONE3: iv.clone3[4] = SIGCHLD; return (long)iv.clone3;
    case A_PSEL6: iv.psel6.ss = &iv.sigset0; iv.psel6.len = 8; return (long)&iv.psel6;
    case A_FUTEX: iv.futex = 0; return (long)&iv.futex;
    case A_HOSTNAME: {
        struct { char f[6][65]; } u;
        if (syscall(SYS_uname, &u) != 0)
            break;
        memcpy(iv.hostname, u.f[1], 65);
        return (long)iv.hostname;
    }
    /* the objects with the bad pointer inside: made here, the pointer set by patch_bad() */
    case A_IOV_BAD: return (long)&iv.iov_bad;
    case A_MSG_IOV_BAD: return (long)&iv.msg_iov_bad;
    case A_MSG_BASE_BAD: return (long)&iv.msg_base_bad;
    case A_MSG_NAME_BAD: return (long)&iv.msg_name_bad;
    case A_MSG_CTL_BAD: return (long)&iv.msg_ctl_bad;
    case A_ARGV_BAD: return (long)iv.argv_bad;
    case A_ENVP_BAD: return (long)iv.envp_bad;
    case A_CLONE3_PTID_BAD: return (long)iv.clone3_bad;
    case A_PSEL6_BADSET: return (long)&iv.psel6_bad;
    default:
        note(res, "unknown argument kind %d", a->k);
        return -1;
    }
    note(res, "fixture for argument kind %d failed: %s", a->k, kt_errstr(errno));
    return -1;
}

/* The objects argument kinds point at (before the bad pointer is known). */
static void build_objects(void)
{
    memcpy(iv.buf, DATA, 16);
    iv.msg_iov.iov_base = iv.buf;
    iv.msg_iov.iov_len = 16;
    struct msghdr base = {.msg_iov = &iv.msg_iov, .msg_iovlen = 1};
    iv.msg = base;
    iv.mmsg.msg_hdr = base;
    iv.iov_bad.iov_len = 16;
    iv.msg_iov_bad = base;
    iv.msg_base_bad = base;
    iv.msg_base_bad.msg_iov = &iv.iov_bad;
    iv.msg_name_bad = base;
    iv.msg_name_bad.msg_namelen = sizeof(struct sockaddr_un);
    iv.msg_ctl_bad = base;
    iv.msg_ctl_bad.msg_controllen = 24;
    static char probe[] = "--probe", env[] = "BADPTR_PROBE=1";
    iv.argv[0] = g_exe;
    iv.argv[1] = probe;
    iv.argv[2] = NULL;
    iv.envp[0] = env;
    iv.envp[1] = NULL;
    iv.argv_bad[0] = g_exe;
    iv.argv_bad[1] = probe;
    iv.argv_bad[3] = NULL;
    iv.envp_bad[0] = env;
    iv.envp_bad[2] = NULL;
    iv.clone3_bad[0] = CLONE_PARENT_SETTID; /* flags */
    iv.clone3_bad[4] = SIGCHLD;             /* exit_signal */
    iv.psel6_bad.len = 8;
}

/* Puts the bad pointer into the objects that hold it. */
static void patch_bad(void)
{
    iv.iov_bad.iov_base = iv.bad;
    iv.msg_iov_bad.msg_iov = (struct iovec *)iv.bad;
    iv.msg_name_bad.msg_name = iv.bad;
    iv.msg_ctl_bad.msg_control = iv.bad;
    iv.argv_bad[2] = iv.bad;
    iv.envp_bad[1] = iv.bad;
    iv.clone3_bad[3] = (uint64_t)iv.bad; /* parent_tid */
    iv.psel6_bad.ss = iv.bad;
}

/* Bytes of the object before the hole in the straddle column. */
static long strad_bytes(const struct row *r)
{
    if (r->strad)
        return r->strad;
    if (r->sz == 0)
        return 8;
    return r->sz >= 16 ? 8 : (r->sz / 2 ? r->sz / 2 : 1);
}

static int page_is_unmapped(const void *p)
{
    return msync((void *)((uintptr_t)p & ~(uintptr_t)(PG - 1)), PG, MS_ASYNC) == -1 && errno == ENOMEM;
}

/* bitmap of open fds 0..31 (the fixtures use fewer than 20) */
static uint64_t open_fds(void)
{
    uint64_t m = 0;
    for (int fd = 0; fd < 32; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            m |= 1ULL << fd;
    return m;
}

static int queued(int fd)
{
    int n = -1;
    if (ioctl(fd, FIONREAD, &n) != 0)
        return -1;
    return n;
}

static void invoke(const struct row *r, int kind, const char *dir, int out)
{
    struct result res;
    memset(&res, 0, sizeof res);
    memset(&iv, 0, sizeof iv);
    iv.r = r;
    iv.kind = kind;
    iv.dir = dir;
    iv.pipe[0] = iv.pipe[1] = iv.sock[0] = iv.sock[1] = iv.rights[0] = iv.rights[1] = -1;
    iv.dg_r = iv.dg_s = iv.lis = iv.lis_c = iv.sock_new = -1;
    iv.epoll = iv.epoll_ready = iv.tfd = iv.file_r = iv.file_rw = iv.file2_rw = iv.dirfd = -1;
    iv.efd = iv.sfd = iv.procfd = iv.procdirfd = -1;
    snprintf(iv.fpath, sizeof iv.fpath, "%s/f", dir);
    snprintf(iv.gpath, sizeof iv.gpath, "%s/g", dir);
    snprintf(iv.npath, sizeof iv.npath, "%s/n", dir);
    snprintf(iv.lpath, sizeof iv.lpath, "%s/l", dir);
    snprintf(iv.mpath, sizeof iv.mpath, "%s/m", dir);
    build_objects();

    /* Fixtures first: one that maps memory must not land in the hole. */
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = argval(&r->a[i], &res);
    const char *tmpl = r->tmpl ? (const char *)argval(&(struct arg){r->tmpl, 0}, &res) : NULL;

    long n = strad_bytes(r);
    if (kind == K_STRADDLE && r->sz == 0 && tmpl)
        n = strlen(tmpl) + 1; /* the whole string, NUL on the page's last byte */
    switch (kind) {
    case K_NULL: iv.bad = NULL; break;
    case K_KERNEL: iv.bad = (char *)KERNEL_ADDR; break;
    case K_UNMAPPED: {
        /* the middle of a 4-page hole, so a 2-page range stays in it */
        char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || munmap(m, 4 * PG) != 0)
            note(&res, "mmap/munmap failed");
        iv.bad = iv.hole = m + PG;
        break;
    }
    case K_VALID:
        iv.bad = iv.valid + PG;
        if (tmpl)
            memcpy(iv.bad, tmpl, r->sz ? (size_t)r->sz : strlen(tmpl) + 1);
        else if (r->sz == 0 && need_dir() == 0)
            strcpy(iv.bad, iv.npath); /* a free name in the temp dir */
        break;
    case K_STRADDLE: {
        /* one mapped page, then a 2-page hole */
        char *m = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || munmap(m + PG, 2 * PG) != 0)
            note(&res, "mmap/munmap failed");
        iv.hole = m + PG;
        iv.bad = iv.hole - n;
        if (r->sz == 0 && !tmpl)
            memset(iv.bad, '/', n);
        else if (tmpl)
            memcpy(iv.bad, tmpl, n);
        break;
    }
    }
    patch_bad();
    for (int i = 0; i < 6; i++)
        if (r->a[i].k == A_BAD)
            a[i] = (long)iv.bad;
    if (iv.hole && !(page_is_unmapped(iv.hole) && page_is_unmapped(iv.hole + PG)))
        note(&res, "the hole at %p is mapped", (void *)iv.hole);

    if (res.note[0]) {
        res.ret = -2;
        if (write(out, &res, sizeof res) < 0) { /* the parent reports no result */ }
        _exit(0);
    }

    uint64_t before = open_fds();
    errno = 0;
    long ret = syscall(r->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    int err = errno;
    if ((r->flags & F_CLONE) && ret == 0)
        _exit(0); /* the new child */
    res.ret = ret;
    res.err = ret == -1 ? err : 0;

    if ((r->flags & F_CLONE) && ret > 0) {
        int st;
        if (waitpid(ret, &st, __WALL) != ret)
            note(&res, "cannot wait for the clone child");
        else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            note(&res, "the clone child %s", kt_status(st));
    }
    uint64_t after = open_fds();
    if ((r->flags & F_RETFD) && ret >= 0 && ret < 32)
        after &= ~(1ULL << ret);
    uint64_t extra = after & ~before;
    if (extra)
        note(&res, "fd %d appeared", __builtin_ctzll(extra));
    if ((r->flags & F_KEEP) && ret == -1) {
        int q;
        if (iv.pipe[0] >= 0 && (q = queued(iv.pipe[0])) != 16)
            note(&res, "the pipe holds %d bytes after the failed call, not 16", q);
        if (iv.sock[0] >= 0 && (q = queued(iv.sock[0])) != 16)
            note(&res, "the socket holds %d bytes after the failed call, not 16", q);
        if (iv.sock[1] >= 0 && (q = queued(iv.sock[1])) != 0)
            note(&res, "the peer received %d bytes from the failed call", q);
    }
    if (write(out, &res, sizeof res) < 0) { /* the parent reports no result */ }
    _exit(0);
}

/* Runs one column of a row in a child; fills res. */
static void run_one(const struct row *r, int kind, const char *dir, struct result *res)
{
    memset(res, 0, sizeof *res);
    int p[2];
    if (pipe(p) != 0) {
        res->ret = -2;
        snprintf(res->note, sizeof res->note, "pipe failed");
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        invoke(r, kind, dir, p[1]);
        _exit(0);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        res->ret = -2;
        snprintf(res->note, sizeof res->note, "fork failed");
        return;
    }
    struct pollfd pf = {p[0], POLLIN, 0};
    int pr;
    do
        pr = poll(&pf, 1, HANG_MS);
    while (pr < 0 && errno == EINTR);
    ssize_t got = 0;
    if (pr == 0) {
        kill(pid, SIGKILL);
    } else {
        got = read(p[0], res, sizeof *res);
    }
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (pr == 0) {
        res->ret = -2;
        snprintf(res->note, sizeof res->note, "hung: no result after %d ms, killed", HANG_MS);
    } else if (got != (ssize_t)sizeof *res) {
        memset(res, 0, sizeof *res);
        if (r->nr == SYS_execve && WIFEXITED(st) && WEXITSTATUS(st) == PROBE_EXIT) {
            res->ret = 0; /* the exec worked: the probe ran */
        } else {
            res->ret = -2;
            snprintf(res->note, sizeof res->note, "no result, the child %s", kt_status(st));
        }
    } else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !res->note[0]) {
        snprintf(res->note, sizeof res->note, "after the call the child %s", kt_status(st));
    }
}

/* ---- the table, run --------------------------------------------------- */

static int matches(int want, long ret, int err)
{
    if (want == OKR)
        return ret >= 0;
    if (want <= -100)
        return ret == -100 - want;
    return ret == -1 && err == want;
}

static const char *show(int want, long ret, int err)
{
    static char b[4][48];
    static int i;
    char *s = b[i++ & 3];
    if (want == OKR)
        snprintf(s, sizeof b[0], ">= 0");
    else if (want <= -100)
        snprintf(s, sizeof b[0], "%d", -100 - want);
    else if (want > 0)
        snprintf(s, sizeof b[0], "-1 %s", kt_errstr(want));
    else if (ret == -1)
        snprintf(s, sizeof b[0], "-1 %s", kt_errstr(err));
    else
        snprintf(s, sizeof b[0], "%ld", ret);
    return s;
}

#define MAXPAT 64
static const char *incl[MAXPAT], *excl[MAXPAT];
static int nincl, nexcl;

/* PAT is "name" or "name:column"; a name that is not a whole row name
   matches as a substring. */
static int pat_match(const char *pat, const struct row *r, int kind)
{
    char sub[128];
    snprintf(sub, sizeof sub, "%s", pat);
    char *colon = strchr(sub, ':');
    if (colon) {
        *colon = 0;
        if (strcmp(colon + 1, kind_name[kind]) != 0)
            return 0;
    }
    for (int i = 0; i < NROWS; i++)
        if (strcmp(rows[i].name, sub) == 0)
            return strcmp(r->name, sub) == 0;
    return strstr(r->name, sub) != NULL;
}

static int selected(const struct row *r, int kind)
{
    int in = nincl == 0;
    for (int i = 0; i < nincl && !in; i++)
        in = pat_match(incl[i], r, kind);
    for (int i = 0; i < nexcl && in; i++)
        in = !pat_match(excl[i], r, kind);
    return in;
}

static void run_row(const struct row *r)
{
    char msg[1024] = "";
    size_t used = 0;
    int ran = 0;
    kt_reported = 0;
    for (int kind = 0; kind < NKIND; kind++) {
        if (r->want[kind] == NA || !selected(r, kind))
            continue;
        ran++;
        /* the child makes it if the row needs it; removed here */
        char dir[64];
        static int seq;
        snprintf(dir, sizeof dir, "%s/%d", g_base, seq++);
        if (g_verbose) {
            fprintf(stderr, "badptr: %s %s\n", r->name, kind_name[kind]);
            fflush(stderr);
        }
        struct result res;
        run_one(r, kind, dir, &res);
        umount2(kt_path(dir, "m"), MNT_DETACH); /* mount_* rows that worked */
        kt_rmtree(dir);
        int ok = res.ret != -2 && matches(r->want[kind], res.ret, res.err);
        if (ok && !res.note[0])
            continue;
        used += snprintf(msg + used, used < sizeof msg ? sizeof msg - used : 0, "%s%s: ",
                         used ? "; " : "", kind_name[kind]);
        if (used >= sizeof msg)
            continue;
        if (res.ret == -2)
            used += snprintf(msg + used, sizeof msg - used, "%s", res.note);
        else if (!ok)
            used += snprintf(msg + used, sizeof msg - used, "got %s, want %s%s%s",
                             show(0, res.ret, res.err), show(r->want[kind], 0, 0),
                             res.note[0] ? ", and " : "", res.note);
        else
            used += snprintf(msg + used, sizeof msg - used, "got %s but %s",
                             show(0, res.ret, res.err), res.note);
    }
    if (ran) {
        if (msg[0])
            kt_fail(r->name, "%s", msg);
        else if (!kt_reported)
            printf("PASS %s.%s\n", KT_AREA, r->name);
    }
    kt_after_case();
}

/* -c, for checking the table: each row once with a valid object (the
   template, zeros, or the free path d/n for a string) where the bad pointer goes. Any
   result but EFAULT shows the other arguments are right. Rows that would
   change the machine with a valid object are left out. */
static void run_control(const struct row *r)
{
    static const char *const risky[] = {"mount", "sethostname", "setdomainname",
                                        "settimeofday", "clock_settime", "clock_adjtime",
                                        "adjtimex", "munmap", "mprotect", "madvise", "mremap",
                                        "mmap", "msync", "mincore_addr"};
    for (size_t i = 0; i < sizeof risky / sizeof risky[0]; i++)
        if (strstr(r->name, risky[i]))
            return;
    if (!selected(r, K_STRADDLE))
        return;
    char dir[64];
    static int seq;
    snprintf(dir, sizeof dir, "%s/c%d", g_base, seq++);
    struct result res;
    run_one(r, K_VALID, dir, &res);
    kt_rmtree(dir);
    printf("VALID %s: %s %s\n", r->name, res.ret == -2 ? "" : show(0, res.ret, res.err), res.note);
    kt_after_case();
}

static void usage(void)
{
    fprintf(stderr, "usage: badptr [-v] [-c] [-f FIRST_ROW] [-x PAT]... [PAT]...  (PAT: row substring[:null|kernel|unmapped|straddle])\n");
    exit(2);
}

int main(int argc, char **argv)
{
    /* exec'd by an execve row: exit at once, with a status the parent knows */
    if (argc < 1 || (argc > 1 && strcmp(argv[1], "--probe") == 0) || getenv("BADPTR_PROBE"))
        _exit(PROBE_EXIT);
    const char *from = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            g_verbose = 1;
        else if (strcmp(argv[i], "-c") == 0)
            g_control = 1;
        else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
            from = argv[++i];
        else if (strcmp(argv[i], "-x") == 0 && i + 1 < argc && nexcl < MAXPAT)
            excl[nexcl++] = argv[++i];
        else if (argv[i][0] != '-' && nincl < MAXPAT)
            incl[nincl++] = argv[i];
        else
            usage();
    }
    ssize_t n = readlink("/proc/self/exe", g_exe, sizeof g_exe - 1);
    if (n > 0)
        g_exe[n] = 0;
    else if (!realpath(argv[0], g_exe))
        snprintf(g_exe, sizeof g_exe, "%s", argv[0]);

    KT_BEGIN();
    if (!mkdtemp(g_base)) {
        printf("FAIL %s.setup: mkdtemp: %s\n", KT_AREA, kt_errstr(errno));
        return 1;
    }
    int first = 0;
    while (from && first < NROWS && strcmp(rows[first].name, from) != 0)
        first++;
    for (int i = first; i < NROWS; i++)
        g_control ? run_control(&rows[i]) : run_row(&rows[i]);
    rmdir(g_base);
    return KT_END();
}
