/*
 * seccomp.c - seccomp(2), prctl(PR_SET_SECCOMP / PR_GET_SECCOMP).
 *
 * As asserted here (every filter is installed in a child: filters cannot be
 * removed):
 *   - strict mode (prctl and seccomp(2)): read, write and exit run; any other
 *     call (PR_GET_SECCOMP included) kills with SIGKILL.
 *   - filter mode: PR_GET_SECCOMP says 2 and /proc/self/status shows
 *     "Seccomp: 2" and one more "Seccomp_filters"; RET_ERRNO fails the call
 *     with the data as errno (capped at 4095; 0 returns 0 without running
 *     it; 512, ERESTARTSYS, reaches the program and is not restarted); RET_TRAP sends SIGSYS with si_code SYS_SECCOMP, si_errno the
 *     data, si_syscall, si_arch AUDIT_ARCH_X86_64, si_call_addr, and the call
 *     returns its own number (rax as the handler found it); KILL_PROCESS
 *     kills the process with SIGSYS; KILL_THREAD kills only the calling
 *     thread while others live, the process if it is alone; LOG and ALLOW
 *     run the call; RET_TRACE without a tracer is ENOSYS; with a tracer that
 *     set PTRACE_O_TRACESECCOMP it is a PTRACE_EVENT_SECCOMP stop whose
 *     GETEVENTMSG is the data, and a tracer that sets orig_rax to -1 skips the
 *     call with its own rax; a tracer with CAP_SYS_ADMIN may suspend a
 *     tracee's filters (PTRACE_O_SUSPEND_SECCOMP) and read them
 *     (PTRACE_SECCOMP_GET_FILTER, _GET_METADATA: the first installed is 0).
 *   - filters see the arguments (both halves of a 64-bit argument) and the
 *     x32 bit of the number; all filters run and the most restrictive action
 *     wins, of equal actions the newest filter's data.
 *   - fork inherits the filters, execve keeps them.
 *   - without no_new_privs and CAP_SYS_ADMIN installing is EACCES (after
 *     EFAULT for an unreadable sock_fprog and EINVAL for a bad length);
 *     strict mode needs neither.
 *   - bad programs: EINVAL (length 0 or over 4096, unknown or socket-only
 *     opcodes, unaligned or out-of-range loads, jumps out of the program, a
 *     last instruction that is not a return), EFAULT (unreadable sock_fprog
 *     or instructions), ENOMEM past 32768 instructions on the stack (as
 *     Linux counts them: translated, four more per filter); unknown
 *     operations and flags EINVAL.
 *   - TSYNC puts the filter on every thread; a thread on an unrelated stack
 *     makes it fail with that thread's id (ESRCH with TSYNC_ESRCH); a
 *     sibling looping on getppid is filtered from its next call on.
 *   - GET_ACTION_AVAIL knows the eight actions (others EOPNOTSUPP);
 *     GET_NOTIF_SIZES gives 80, 24, 64; /proc/sys/kernel/seccomp lists
 *     them (actions_avail) and which are logged (actions_logged: root may
 *     change it, "allow" and unknown names are EINVAL).
 *   - user notification: NEW_LISTENER gives a close-on-exec listener (a
 *     second on one stack EBUSY, with TSYNC but not TSYNC_ESRCH EINVAL,
 *     WAIT_KILLABLE_RECV without it EINVAL); the listener polls POLLIN for a
 *     waiting call, RECV (a zeroed buffer, else EINVAL) gives its id, pid and
 *     seccomp_data, ID_VALID says whether it still waits, SEND answers with a
 *     value, an error or CONTINUE (bad flags EINVAL, unknown id ENOENT),
 *     ADDFD with SEND installs a descriptor in the caller as its answer;
 *     once the listener is closed the calls fail with ENOSYS; a signal ends
 *     the wait (EINTR without SA_RESTART) and the notification goes.
 */
#define KT_AREA "seccomp"
#include "kt.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <stddef.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#ifndef SYS_seccomp
#define SYS_seccomp 317
#endif

#define PR_GET_SECCOMP_ 21
#define PR_SET_SECCOMP_ 22
#define MODE_STRICT 1
#define MODE_FILTER 2
#define SET_MODE_STRICT 0
#define SET_MODE_FILTER 1
#define GET_ACTION_AVAIL 2
#define GET_NOTIF_SIZES 3
#define FLAG_TSYNC 1U
#define FLAG_LOG 2U
#define FLAG_TSYNC_ESRCH 16U
#define FLAG_NEW_LISTENER 8U
#define FLAG_WAIT_KILLABLE_RECV 32U

#define NOTIF_RECV 0xc0502100UL
#define NOTIF_SEND 0xc0182101UL
#define NOTIF_ID_VALID 0x40082102UL
#define NOTIF_ADDFD 0x40182103UL
#define ADDFD_FLAG_SEND 2U
#define NOTIF_FLAG_CONTINUE 1U

struct sdata {
    int nr;
    uint32_t arch;
    uint64_t ip;
    uint64_t args[6];
};
struct notif {
    uint64_t id;
    uint32_t pid;
    uint32_t flags;
    struct sdata data;
};
struct notif_resp {
    uint64_t id;
    int64_t val;
    int32_t error;
    uint32_t flags;
};
struct notif_addfd {
    uint64_t id;
    uint32_t flags, srcfd, newfd, newfd_flags;
};

#define RET_KILL_PROCESS 0x80000000U
#define RET_KILL_THREAD 0x00000000U
#define RET_TRAP 0x00030000U
#define RET_ERRNO 0x00050000U
#define RET_USER_NOTIF 0x7fc00000U
#define RET_TRACE 0x7ff00000U
#define RET_LOG 0x7ffc0000U
#define RET_ALLOW 0x7fff0000U

#define ARCH_X86_64 0xc000003eU
#define SYS_SECCOMP_CODE 1
#define EVENT_SECCOMP 7
#define O_TRACESECCOMP 0x80
#define O_SUSPEND_SECCOMP (1 << 21)

/* Classic BPF (linux/filter.h). */
#define LD_W_ABS 0x20
#define LDX_IMM 0x01
#define LD_H_ABS 0x28
#define JEQ_K 0x15
#define JGE_K 0x35
#define JA 0x05
#define RET_K 0x06

struct sf {
    uint16_t code;
    uint8_t jt, jf;
    uint32_t k;
};
struct fprog {
    unsigned short len;
    struct sf *filter;
};

#define STMT(c, k) {(c), 0, 0, (k)}
#define JUMP(c, k, t, f) {(c), (t), (f), (k)}
#define OFF_NR 0
#define OFF_ARCH 4
#define OFF_ARG0_LO 16
#define OFF_ARG0_HI 20

static long sc(unsigned op, unsigned flags, const void *args)
{
    return syscall(SYS_seccomp, op, flags, args);
}

static long install(struct sf *f, unsigned short n, unsigned flags)
{
    struct fprog p = {n, f};
    return sc(SET_MODE_FILTER, flags, &p);
}

static int nnp(void)
{
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* Installs "x86-64 and number nr: action; else allow". */
static long deny_flags(int nr, uint32_t action, unsigned flags)
{
    struct sf f[] = {
        STMT(LD_W_ABS, OFF_ARCH),
        JUMP(JEQ_K, ARCH_X86_64, 1, 0),
        STMT(RET_K, RET_KILL_PROCESS),
        STMT(LD_W_ABS, OFF_NR),
        JUMP(JEQ_K, (uint32_t)nr, 0, 1),
        STMT(RET_K, action),
        STMT(RET_K, RET_ALLOW),
    };
    return install(f, sizeof f / sizeof f[0], flags);
}

static long deny(int nr, uint32_t action)
{
    return deny_flags(nr, action, 0);
}

/* The "Seccomp:" and "Seccomp_filters:" values of a status file (-1: none). */
static void status_of(const char *path, int *mode, int *filters)
{
    char buf[4096];
    *mode = *filters = -1;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    char *p = strstr(buf, "\nSeccomp:");
    if (p)
        *mode = atoi(p + 9);
    p = strstr(buf, "\nSeccomp_filters:");
    if (p)
        *filters = atoi(p + 17);
}

static int expect_killed(int st, int sig)
{
    return WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

/* ---- strict mode ---------------------------------------------------- */

static int strict_pipe[2];

static void strict_rw_exit(void *arg)
{
    int via_prctl = *(int *)arg;
    char c = 'x';
    if (via_prctl) {
        if (prctl(PR_SET_SECCOMP_, MODE_STRICT, 0, 0, 0) != 0)
            _exit(10);
    } else if (sc(SET_MODE_STRICT, 0, NULL) != 0) {
        _exit(11);
    }
    if (syscall(SYS_write, strict_pipe[1], &c, 1) != 1)
        syscall(SYS_exit, 12);
    if (syscall(SYS_read, strict_pipe[0], &c, 1) != 1 || c != 'x')
        syscall(SYS_exit, 13);
    syscall(SYS_exit, 0);
}

TEST(strict_mode_allows_read_write_and_exit)
{
    OK(pipe(strict_pipe));
    for (int via_prctl = 0; via_prctl < 2; via_prctl++) {
        int st = kt_in_child(strict_rw_exit, &via_prctl);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "prctl %d: child %s", via_prctl,
              kt_status(st));
    }
    close(strict_pipe[0]);
    close(strict_pipe[1]);
}

static void strict_then(void *arg)
{
    int which = *(int *)arg;
    if (sc(SET_MODE_STRICT, 0, NULL) != 0)
        _exit(10);
    if (which == 0)
        prctl(PR_GET_SECCOMP_, 0, 0, 0, 0);
    else if (which == 1)
        syscall(SYS_getpid);
    else
        syscall(SYS_exit_group, 0); /* not exit: killed too */
    syscall(SYS_exit, 20);
}

TEST(strict_mode_kills_anything_else_with_sigkill)
{
    for (int which = 0; which < 3; which++) {
        int st = kt_in_child(strict_then, &which);
        CHECK(expect_killed(st, SIGKILL), "case %d: child %s", which, kt_status(st));
    }
}

TEST(strict_mode_flags_or_args_are_einval)
{
    EXPECT_ERRNO(sc(SET_MODE_STRICT, 1, NULL), EINVAL);
    EXPECT_ERRNO(sc(SET_MODE_STRICT, 0, (void *)8), EINVAL);
    EXPECT_ERRNO(sc(99, 0, NULL), EINVAL);
    EXPECT_ERRNO(prctl(PR_SET_SECCOMP_, 3, 0, 0, 0), EINVAL);
}

/* ---- filter actions --------------------------------------------------- */

static void filter_mode_shows(void *arg)
{
    (void)arg;
    int m0, f0, m1, f1;
    status_of("/proc/self/status", &m0, &f0);
    if (m0 < 0 || f0 < 0)
        _exit(2);
    if (prctl(PR_GET_SECCOMP_, 0, 0, 0, 0) != m0)
        _exit(3);
    if (nnp() != 0 || deny(SYS_getppid, RET_ERRNO | EXDEV) != 0)
        _exit(4);
    if (prctl(PR_GET_SECCOMP_, 0, 0, 0, 0) != MODE_FILTER)
        _exit(5);
    status_of("/proc/self/status", &m1, &f1);
    if (m1 != MODE_FILTER || f1 != f0 + 1)
        _exit(6);
    _exit(0);
}

TEST(filter_mode_shows_in_prctl_and_proc_status)
{
    int st = kt_in_child(filter_mode_shows, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void errno_action(void *arg)
{
    (void)arg;
    if (nnp() != 0)
        _exit(2);
    if (deny(SYS_getppid, RET_ERRNO | EXDEV) != 0)
        _exit(3);
    errno = 0;
    if (syscall(SYS_getppid) != -1 || errno != EXDEV)
        _exit(4);
    /* Capped at MAX_ERRNO. */
    if (deny(SYS_getpgrp, RET_ERRNO | 0xffff) != 0)
        _exit(5);
    errno = 0;
    if (syscall(SYS_getpgrp) != -1 || errno != 4095)
        _exit(6);
    /* ERRNO with 0: the call "succeeds" with 0 and does not run. */
    if (deny(SYS_getpid, RET_ERRNO | 0) != 0)
        _exit(7);
    if (syscall(SYS_getpid) != 0)
        _exit(8);
    /* Other calls run. */
    if (syscall(SYS_gettid) <= 0)
        _exit(9);
    /* A restart code is final too: with no signal pending it reaches the
     * program (ERESTARTSYS, 512), the call does not run again. */
    if (deny(SYS_getsid, RET_ERRNO | 512) != 0)
        _exit(10);
    errno = 0;
    if (syscall(SYS_getsid, 0) != -1 || errno != 512)
        _exit(11);
    _exit(0);
}

TEST(ret_errno_fails_the_call_with_the_data)
{
    int st = kt_in_child(errno_action, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static volatile siginfo_t trap_info;
static volatile int trap_count;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    trap_info = *si;
    trap_count++;
}

static void trap_action(void *arg)
{
    (void)arg;
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSYS, &sa, NULL) != 0)
        _exit(2);
    if (nnp() != 0 || deny(SYS_getppid, RET_TRAP | 42) != 0)
        _exit(3);
    long r = syscall(SYS_getppid, 1, 2, 3);
    if (trap_count != 1)
        _exit(4);
    if (trap_info.si_signo != SIGSYS || trap_info.si_code != SYS_SECCOMP_CODE)
        _exit(5);
    if (trap_info.si_errno != 42)
        _exit(6);
    if (trap_info.si_syscall != SYS_getppid || trap_info.si_arch != ARCH_X86_64)
        _exit(7);
    if (trap_info.si_call_addr == NULL)
        _exit(8);
    /* The call did not run: rax is still its number. */
    if (r != SYS_getppid)
        _exit(9);
    _exit(0);
}

TEST(ret_trap_sends_sigsys_with_seccomp_siginfo)
{
    int st = kt_in_child(trap_action, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void kill_process_action(void *arg)
{
    (void)arg;
    signal(SIGSYS, SIG_IGN); /* no way out of a kill */
    if (nnp() != 0 || deny(SYS_getppid, RET_KILL_PROCESS) != 0)
        _exit(2);
    syscall(SYS_getppid);
    _exit(3);
}

TEST(kill_process_kills_with_sigsys)
{
    int st = kt_in_child(kill_process_action, NULL);
    CHECK(expect_killed(st, SIGSYS), "child: %s", kt_status(st));
}

static volatile int victim_tid;

static void *thread_getppid(void *arg)
{
    (void)arg;
    victim_tid = (int)syscall(SYS_gettid);
    syscall(SYS_getppid);
    victim_tid = -1; /* not reached */
    return NULL;
}

static void kill_thread_action(void *arg)
{
    int alone = *(int *)arg;
    if (nnp() != 0 || deny(SYS_getppid, RET_KILL_THREAD) != 0)
        _exit(2);
    if (alone) {
        syscall(SYS_getppid);
        _exit(3);
    }
    pthread_t t;
    if (pthread_create(&t, NULL, thread_getppid, NULL) != 0)
        _exit(4);
    /* Not pthread_join: a thread the kernel ends never runs musl's wake of
     * its joiner (a private futex the kernel's CLONE_CHILD_CLEARTID wake
     * does not reach), on Linux too. Wait for the thread to be gone. */
    for (int i = 0; i < 5000; i++) {
        int tid = victim_tid;
        if (tid > 0 && syscall(SYS_tgkill, getpid(), tid, 0) == -1 && errno == ESRCH)
            _exit(0);
        if (tid == -1)
            _exit(5);
        usleep(1000);
    }
    _exit(6);
}

TEST(kill_thread_kills_the_thread_or_the_last_one_s_process)
{
    int alone = 0;
    int st = kt_in_child(kill_thread_action, &alone);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "two threads: child %s", kt_status(st));
    alone = 1;
    st = kt_in_child(kill_thread_action, &alone);
    CHECK(expect_killed(st, SIGSYS), "alone: child %s", kt_status(st));
}

static void log_and_allow(void *arg)
{
    (void)arg;
    pid_t pp = getppid();
    if (nnp() != 0 || deny_flags(SYS_getppid, RET_LOG, FLAG_LOG) != 0)
        _exit(2);
    if (syscall(SYS_getppid) != pp)
        _exit(3);
    if (deny(SYS_getppid, RET_ALLOW) != 0)
        _exit(4);
    if (syscall(SYS_getppid) != pp)
        _exit(5);
    _exit(0);
}

TEST(log_and_allow_run_the_call)
{
    int st = kt_in_child(log_and_allow, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void trace_untraced(void *arg)
{
    (void)arg;
    if (nnp() != 0 || deny(SYS_getppid, RET_TRACE | 5) != 0)
        _exit(2);
    errno = 0;
    if (syscall(SYS_getppid) != -1 || errno != ENOSYS)
        _exit(3);
    /* USER_NOTIF with no listener: ENOSYS as well. */
    if (deny(SYS_getpgrp, RET_USER_NOTIF) != 0)
        _exit(4);
    errno = 0;
    if (syscall(SYS_getpgrp) != -1 || errno != ENOSYS)
        _exit(5);
    _exit(0);
}

TEST(ret_trace_without_a_tracer_is_enosys)
{
    int st = kt_in_child(trace_untraced, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(ret_trace_stops_a_tracee_that_asked_for_it)
{
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(2);
        raise(SIGSTOP);
        if (nnp() != 0 || deny(SYS_getppid, RET_TRACE | 77) != 0)
            _exit(3);
        long r = syscall(SYS_getppid);
        _exit(r == 4242 ? 0 : 4);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFSTOPPED(st), "first stop: %s", kt_status(st));
    OK(ptrace(PTRACE_SETOPTIONS, pid, 0, O_TRACESECCOMP));
    OK(ptrace(PTRACE_CONT, pid, 0, 0));
    CHECK(waitpid(pid, &st, 0) == pid, "wait");
    if (!(WIFSTOPPED(st) && (st >> 8) == (SIGTRAP | EVENT_SECCOMP << 8))) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        CHECK(0, "expected PTRACE_EVENT_SECCOMP, got status %#x", st);
    }
    unsigned long msg = 0;
    OK(ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg));
    struct user_regs_struct regs;
    OK(ptrace(PTRACE_GETREGS, pid, 0, &regs));
    long nr = (long)regs.orig_rax;
    regs.orig_rax = (unsigned long)-1; /* skip it */
    regs.rax = 4242;
    OK(ptrace(PTRACE_SETREGS, pid, 0, &regs));
    OK(ptrace(PTRACE_CONT, pid, 0, 0));
    CHECK(waitpid(pid, &st, 0) == pid, "wait");
    CHECK(msg == 77, "GETEVENTMSG %lu", msg);
    CHECK(nr == SYS_getppid, "orig_rax %ld", nr);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(ptrace_suspend_seccomp_lets_the_tracee_s_calls_through)
{
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        pid_t pp = getppid();
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(2);
        raise(SIGSTOP);
        if (nnp() != 0 || deny(SYS_getppid, RET_ERRNO | EXDEV) != 0)
            _exit(3);
        _exit(syscall(SYS_getppid) == pp ? 0 : 4);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFSTOPPED(st), "first stop: %s", kt_status(st));
    long r = ptrace(PTRACE_SETOPTIONS, pid, 0, O_SUSPEND_SECCOMP);
    int e = errno;
    ptrace(PTRACE_CONT, pid, 0, 0);
    CHECK(waitpid(pid, &st, 0) == pid, "wait");
    CHECK(r == 0, "PTRACE_O_SUSPEND_SECCOMP: %s", kt_errstr(e));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(ptrace_reads_a_tracee_s_filters)
{
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(2);
        if (nnp() != 0 || deny(SYS_getppid, RET_ERRNO | EXDEV) != 0)
            _exit(3);
        struct sf f[] = {STMT(LD_W_ABS, OFF_NR), STMT(RET_K, RET_ALLOW)};
        if (install(f, 2, FLAG_LOG) != 0)
            _exit(4);
        raise(SIGSTOP);
        _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFSTOPPED(st), "stop: %s", kt_status(st));
    struct sf buf[8];
    memset(buf, 0, sizeof buf);
    long n0 = ptrace(0x420c /* PTRACE_SECCOMP_GET_FILTER */, pid, 0, NULL);
    long n1 = ptrace(0x420c, pid, 1, buf);
    errno = 0;
    long n2 = ptrace(0x420c, pid, 2, NULL);
    int e2 = errno;
    uint64_t md[2] = {1, 0};
    long m1 = ptrace(0x420d /* PTRACE_SECCOMP_GET_METADATA */, pid, sizeof md, md);
    uint64_t md0[2] = {0, 99};
    long m0 = ptrace(0x420d, pid, sizeof md0, md0);
    errno = 0;
    long mbad = ptrace(0x420d, pid, 4, md0);
    int ebad = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(n0 == 7, "filter 0: %ld", n0);
    CHECK(n1 == 2 && buf[0].code == LD_W_ABS && buf[1].code == RET_K && buf[1].k == RET_ALLOW,
          "filter 1: %ld", n1);
    CHECK(n2 == -1 && e2 == ENOENT, "filter 2: %ld %s", n2, kt_errstr(e2));
    CHECK(m1 == 16 && md[0] == 1 && md[1] == FLAG_LOG, "metadata 1: %ld %llu", m1,
          (unsigned long long)md[1]);
    CHECK(m0 == 16 && md0[1] == 0, "metadata 0: %ld %llu", m0, (unsigned long long)md0[1]);
    CHECK(mbad == -1 && ebad == EINVAL, "metadata size 4: %ld %s", mbad, kt_errstr(ebad));
}

/* ---- what filters see, stacking ---------------------------------------- */

static void arg_match(void *arg)
{
    (void)arg;
    /* getppid with args[0] == 0x1_00000007: EXDEV. */
    struct sf f[] = {
        STMT(LD_W_ABS, OFF_NR),
        JUMP(JEQ_K, SYS_getppid, 0, 5),
        STMT(LD_W_ABS, OFF_ARG0_LO),
        JUMP(JEQ_K, 7, 0, 3),
        STMT(LD_W_ABS, OFF_ARG0_HI),
        JUMP(JEQ_K, 1, 0, 1),
        STMT(RET_K, RET_ERRNO | EXDEV),
        STMT(RET_K, RET_ALLOW),
    };
    pid_t pp = getppid();
    if (nnp() != 0 || install(f, 8, 0) != 0)
        _exit(2);
    errno = 0;
    if (syscall(SYS_getppid, 0x100000007L) != -1 || errno != EXDEV)
        _exit(3);
    if (syscall(SYS_getppid, 7L) != pp || syscall(SYS_getppid, 0x200000007L) != pp)
        _exit(4);
    _exit(0);
}

TEST(filters_match_both_halves_of_arguments)
{
    int st = kt_in_child(arg_match, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void x32_bit(void *arg)
{
    (void)arg;
    struct sf f[] = {
        STMT(LD_W_ABS, OFF_NR),
        JUMP(JGE_K, 0x40000000, 0, 1),
        STMT(RET_K, RET_ERRNO | EXDEV),
        STMT(RET_K, RET_ALLOW),
    };
    if (nnp() != 0 || install(f, 4, 0) != 0)
        _exit(2);
    errno = 0;
    if (syscall(0x40000000 | SYS_getppid) != -1 || errno != EXDEV)
        _exit(3);
    _exit(0);
}

TEST(filters_see_the_x32_bit_of_the_number)
{
    int st = kt_in_child(x32_bit, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void precedence(void *arg)
{
    (void)arg;
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSYS, &sa, NULL) != 0)
        _exit(2);
    if (nnp() != 0)
        _exit(3);
    /* TRAP, then ERRNO on top: TRAP wins either way. */
    if (deny(SYS_getppid, RET_TRAP | 1) != 0 || deny(SYS_getppid, RET_ERRNO | EXDEV) != 0)
        _exit(4);
    trap_count = 0;
    syscall(SYS_getppid);
    if (trap_count != 1 || trap_info.si_errno != 1)
        _exit(5);
    /* Two ERRNOs: the newest filter's data. */
    if (deny(SYS_getpgrp, RET_ERRNO | EXDEV) != 0 || deny(SYS_getpgrp, RET_ERRNO | EPERM) != 0)
        _exit(6);
    errno = 0;
    if (syscall(SYS_getpgrp) != -1 || errno != EPERM)
        _exit(7);
    /* ALLOW on top of a KILL_PROCESS: still killed. */
    if (deny(SYS_getpid, RET_KILL_PROCESS) != 0 || deny(SYS_getpid, RET_ALLOW) != 0)
        _exit(8);
    syscall(SYS_getpid);
    _exit(9);
}

TEST(all_filters_run_and_the_most_restrictive_wins)
{
    int st = kt_in_child(precedence, NULL);
    CHECK(expect_killed(st, SIGSYS), "child: %s", kt_status(st));
}

static void fork_inherits(void *arg)
{
    (void)arg;
    if (nnp() != 0 || deny(SYS_getppid, RET_ERRNO | EXDEV) != 0)
        _exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        errno = 0;
        long r = syscall(SYS_getppid);
        _exit(r == -1 && errno == EXDEV ? 0 : 3);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        _exit(4);
    _exit(WEXITSTATUS(st));
}

TEST(fork_inherits_the_filters)
{
    int st = kt_in_child(fork_inherits, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void exec_keeps(void *arg)
{
    (void)arg;
    if (nnp() != 0 || deny(SYS_getppid, RET_ERRNO | EXDEV) != 0)
        _exit(2);
    char *argv[] = {"seccomp", "--exec-check", NULL};
    char *envp[] = {NULL};
    execve("/proc/self/exe", argv, envp);
    _exit(3);
}

TEST(execve_keeps_the_filters)
{
    int st = kt_in_child(exec_keeps, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* ---- installing: privileges and bad programs ---------------------------- */

static void drop_cap_sys_admin(void)
{
    struct {
        uint32_t version;
        int pid;
    } hdr = {0x20080522, 0};
    struct {
        uint32_t effective, permitted, inheritable;
    } data[2];
    if (syscall(SYS_capget, &hdr, data) != 0)
        _exit(10);
    data[0].effective &= ~(1U << 21);
    if (syscall(SYS_capset, &hdr, data) != 0)
        _exit(11);
}

static void needs_nnp(void *arg)
{
    (void)arg;
    drop_cap_sys_admin();
    struct sf ok[] = {STMT(RET_K, RET_ALLOW)};
    struct fprog empty = {0, ok};
    errno = 0;
    if (sc(SET_MODE_FILTER, 0, (void *)8) != -1 || errno != EFAULT)
        _exit(2);
    errno = 0;
    if (sc(SET_MODE_FILTER, 0, &empty) != -1 || errno != EINVAL)
        _exit(3);
    errno = 0;
    if (install(ok, 1, 0) != -1 || errno != EACCES)
        _exit(4);
    errno = 0;
    if (prctl(PR_SET_SECCOMP_, MODE_FILTER, &(struct fprog){1, ok}, 0, 0) != -1 ||
        errno != EACCES)
        _exit(5);
    if (nnp() != 0 || install(ok, 1, 0) != 0)
        _exit(6);
    _exit(0);
}

TEST(installing_needs_no_new_privs_or_cap_sys_admin)
{
    int st = kt_in_child(needs_nnp, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void bad_programs(void *arg)
{
    (void)arg;
    if (nnp() != 0)
        _exit(2);
    struct sf allow[] = {STMT(RET_K, RET_ALLOW)};
    struct sf no_ret[] = {STMT(LD_W_ABS, 0)};
    struct sf bad_op[] = {STMT(0xffff, 0), STMT(RET_K, RET_ALLOW)};
    struct sf half[] = {STMT(LD_H_ABS, 0), STMT(RET_K, RET_ALLOW)};
    struct sf unaligned[] = {STMT(LD_W_ABS, 2), STMT(RET_K, RET_ALLOW)};
    struct sf past[] = {STMT(LD_W_ABS, 64), STMT(RET_K, RET_ALLOW)};
    struct sf far_jump[] = {JUMP(JEQ_K, 0, 5, 0), STMT(RET_K, RET_ALLOW)};
    struct sf far_ja[] = {STMT(JA, 1), STMT(RET_K, RET_ALLOW)};
    struct {
        struct sf *f;
        unsigned short n;
    } einval[] = {
        {allow, 0}, {no_ret, 1}, {bad_op, 2}, {half, 2},
        {unaligned, 2}, {past, 2}, {far_jump, 2}, {far_ja, 2},
    };
    for (unsigned i = 0; i < sizeof einval / sizeof einval[0]; i++) {
        errno = 0;
        if (install(einval[i].f, einval[i].n, 0) != -1 || errno != EINVAL)
            _exit(20 + i);
    }
    static struct sf big[4097];
    for (int i = 0; i < 4097; i++)
        big[i] = (struct sf)STMT(RET_K, RET_ALLOW);
    errno = 0;
    if (install(big, 4097, 0) != -1 || errno != EINVAL)
        _exit(3);
    errno = 0;
    if (install((struct sf *)8, 1, 0) != -1 || errno != EFAULT)
        _exit(4);
    errno = 0;
    if (install(allow, 1, 0x80) != -1 || errno != EINVAL)
        _exit(5);
    /* Nothing was installed by the failures. */
    int m, f;
    status_of("/proc/self/status", &m, &f);
    int before = f;
    /* Linux counts a filter by its translated length (a RET K is two
     * instructions, plus three) and four more for each earlier one: three
     * filters of 4096 RET K fit in 32768, a fourth is ENOMEM. */
    for (int i = 0; i < 3; i++)
        if (install(big, 4096, 0) != 0)
            _exit(30 + i);
    errno = 0;
    if (install(big, 4096, 0) != -1 || errno != ENOMEM)
        _exit(6);
    status_of("/proc/self/status", &m, &f);
    if (f != before + 3)
        _exit(7);
    _exit(0);
}

TEST(bad_programs_are_einval_efault_or_enomem)
{
    int st = kt_in_child(bad_programs, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(get_action_avail_and_notif_sizes)
{
    uint32_t acts[] = {RET_KILL_PROCESS, RET_KILL_THREAD, RET_TRAP, RET_ERRNO,
                       RET_USER_NOTIF, RET_TRACE, RET_LOG, RET_ALLOW};
    for (unsigned i = 0; i < sizeof acts / sizeof acts[0]; i++)
        CHECK(sc(GET_ACTION_AVAIL, 0, &acts[i]) == 0, "action %#x: %s", acts[i],
              kt_errstr(errno));
    uint32_t bad = 0x00010000;
    EXPECT_ERRNO(sc(GET_ACTION_AVAIL, 0, &bad), EOPNOTSUPP);
    bad = RET_ERRNO | 1;
    EXPECT_ERRNO(sc(GET_ACTION_AVAIL, 0, &bad), EOPNOTSUPP);
    EXPECT_ERRNO(sc(GET_ACTION_AVAIL, 1, &acts[0]), EINVAL);
    EXPECT_ERRNO(sc(GET_ACTION_AVAIL, 0, (void *)8), EFAULT);
    uint16_t sizes[3] = {0};
    OK(sc(GET_NOTIF_SIZES, 0, sizes));
    CHECK(sizes[0] == 80 && sizes[1] == 24 && sizes[2] == 64, "sizes %u %u %u", sizes[0],
          sizes[1], sizes[2]);
    EXPECT_ERRNO(sc(GET_NOTIF_SIZES, 1, sizes), EINVAL);
    EXPECT_ERRNO(sc(GET_NOTIF_SIZES, 0, (void *)8), EFAULT);
}

/* ---- TSYNC -------------------------------------------------------------- */

static int go_pipe[2], done_pipe[2];

static void *sibling(void *arg)
{
    int own_filter = *(int *)arg;
    char c;
    if (own_filter)
        deny(SYS_getpgrp, RET_ERRNO | EPERM);
    if (write(done_pipe[1], "r", 1) != 1) /* ready */
        return NULL;
    if (read(go_pipe[0], &c, 1) != 1)
        return NULL;
    errno = 0;
    long r = syscall(SYS_getppid);
    c = (r == -1 && errno == EXDEV) ? 'y' : 'n';
    if (write(done_pipe[1], &c, 1) != 1)
        return NULL;
    return NULL;
}

static void tsync(void *arg)
{
    int own_filter = *(int *)arg;
    char c;
    int mode0 = prctl(PR_GET_SECCOMP_, 0, 0, 0, 0);
    if (nnp() != 0 || pipe(go_pipe) != 0 || pipe(done_pipe) != 0)
        _exit(2);
    pthread_t t;
    if (pthread_create(&t, NULL, sibling, &own_filter) != 0)
        _exit(3);
    if (read(done_pipe[0], &c, 1) != 1)
        _exit(4);
    long r = deny_flags(SYS_getppid, RET_ERRNO | EXDEV, FLAG_TSYNC);
    if (own_filter) {
        /* The sibling's stack is not ours: its id, or ESRCH. */
        if (r <= 0 || r == getpid())
            _exit(5);
        errno = 0;
        if (deny_flags(SYS_getppid, RET_ERRNO | EXDEV, FLAG_TSYNC | FLAG_TSYNC_ESRCH) != -1 ||
            errno != ESRCH)
            _exit(6);
        /* Nothing was installed here either. */
        if (syscall(SYS_getppid) != getppid() || prctl(PR_GET_SECCOMP_, 0, 0, 0, 0) != mode0)
            _exit(7);
        if (write(go_pipe[1], "g", 1) != 1 || read(done_pipe[0], &c, 1) != 1 || c != 'n')
            _exit(8);
        pthread_join(t, NULL);
        _exit(0);
    }
    if (r != 0)
        _exit(9);
    if (write(go_pipe[1], "g", 1) != 1 || read(done_pipe[0], &c, 1) != 1 || c != 'y')
        _exit(10);
    pthread_join(t, NULL);
    _exit(0);
}

TEST(tsync_puts_the_filter_on_every_thread)
{
    int own = 0;
    int st = kt_in_child(tsync, &own);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(tsync_fails_with_a_thread_on_another_stack)
{
    int own = 1;
    int st = kt_in_child(tsync, &own);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* A sibling that only makes getppid calls (which a kernel may complete on a
 * fast path) while TSYNC installs a filter denying getppid: every call it
 * makes after it saw TSYNC return is filtered, with no window in which the
 * filter is on the thread but not yet looked at. */
static atomic_int tsync_installed, tsync_looping;

static void *getppid_looper(void *arg)
{
    long *bad = arg;
    atomic_store(&tsync_looping, 1);
    for (;;) {
        int installed = atomic_load(&tsync_installed);
        errno = 0;
        long r = syscall(SYS_getppid);
        if (r == -1 && errno == EXDEV)
            return NULL;
        if (installed) {
            (*bad)++;
            if (*bad > 1000000)
                return NULL; /* the filter never came */
        }
    }
}

static void tsync_looping_sibling(void *arg)
{
    (void)arg;
    long bad = 0;
    if (nnp() != 0)
        _exit(2);
    pthread_t t;
    if (pthread_create(&t, NULL, getppid_looper, &bad) != 0)
        _exit(3);
    while (!atomic_load(&tsync_looping))
        sched_yield();
    usleep(20000); /* well into its loop */
    if (deny_flags(SYS_getppid, RET_ERRNO | EXDEV, FLAG_TSYNC) != 0)
        _exit(4);
    atomic_store(&tsync_installed, 1);
    pthread_join(t, NULL);
    _exit(bad == 0 ? 0 : 5);
}

TEST(tsync_filters_a_sibling_looping_on_getppid_at_its_next_call)
{
    int st = kt_in_child(tsync_looping_sibling, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* ---- user notification ------------------------------------------------ */

static int notif_go[2];

static void notified_child(int lfd, pid_t parent)
{
    close(lfd); /* only the supervisor's descriptor keeps the listener */
    if (syscall(SYS_getppid, 11) != 4242)
        _exit(20);
    errno = 0;
    if (syscall(SYS_getppid, 12) != -1 || errno != EPERM)
        _exit(21);
    if (syscall(SYS_getppid, 13) != parent)
        _exit(22);
    long fd = syscall(SYS_getppid, 14);
    if (fd < 0 || write((int)fd, "z", 1) != 1)
        _exit(23);
    char c;
    if (read(notif_go[0], &c, 1) != 1)
        _exit(24);
    /* The listener is closed: ENOSYS. */
    errno = 0;
    if (syscall(SYS_getppid, 15) != -1 || errno != ENOSYS)
        _exit(25);
    _exit(0);
}

static void user_notif(void *arg)
{
    (void)arg;
    if (nnp() != 0)
        _exit(2);
    int lfd = (int)deny_flags(SYS_getppid, RET_USER_NOTIF, FLAG_NEW_LISTENER);
    if (lfd < 0)
        _exit(3);
    if (!(fcntl(lfd, F_GETFD) & FD_CLOEXEC))
        _exit(4);
    /* One listener on a stack: EBUSY; flag combinations: EINVAL. */
    errno = 0;
    if (deny_flags(SYS_getpgrp, RET_USER_NOTIF, FLAG_NEW_LISTENER) != -1 || errno != EBUSY)
        _exit(5);
    errno = 0;
    if (deny_flags(SYS_getpgrp, RET_ALLOW, FLAG_TSYNC | FLAG_NEW_LISTENER) != -1 ||
        errno != EINVAL)
        _exit(6);
    errno = 0;
    if (deny_flags(SYS_getpgrp, RET_ALLOW, FLAG_WAIT_KILLABLE_RECV) != -1 || errno != EINVAL)
        _exit(7);
    int q[2];
    if (pipe(notif_go) != 0 || pipe(q) != 0)
        _exit(8);
    pid_t me = getpid();
    pid_t c = fork();
    if (c < 0)
        _exit(9);
    if (c == 0)
        notified_child(lfd, me);
    struct notif n;
    memset(&n, 0xff, sizeof n);
    errno = 0;
    if (ioctl(lfd, NOTIF_RECV, &n) != -1 || errno != EINVAL) /* not zeroed */
        _exit(30);
    struct notif_resp r = {.id = 12345};
    errno = 0;
    if (ioctl(lfd, NOTIF_SEND, &r) != -1 || errno != ENOENT)
        _exit(31);
    r.flags = 2;
    errno = 0;
    if (ioctl(lfd, NOTIF_SEND, &r) != -1 || errno != EINVAL)
        _exit(32);
    errno = 0;
    if (ioctl(lfd, 0xc0082199UL, &r) != -1 || errno != EINVAL)
        _exit(33);
    for (int step = 1; step <= 4; step++) {
        struct pollfd pf = {lfd, POLLIN, 0};
        if (poll(&pf, 1, 10000) != 1 || !(pf.revents & POLLIN))
            _exit(40 + step);
        memset(&n, 0, sizeof n);
        if (ioctl(lfd, NOTIF_RECV, &n) != 0)
            _exit(50 + step);
        if (n.data.nr != SYS_getppid || n.data.arch != ARCH_X86_64 ||
            n.data.args[0] != (uint64_t)(10 + step) || n.pid != (uint32_t)c)
            _exit(60 + step);
        if (ioctl(lfd, NOTIF_ID_VALID, &n.id) != 0)
            _exit(70 + step);
        memset(&r, 0, sizeof r);
        r.id = n.id;
        if (step == 1)
            r.val = 4242;
        else if (step == 2)
            r.error = -EPERM;
        else if (step == 3)
            r.flags = NOTIF_FLAG_CONTINUE;
        if (step < 4) {
            if (ioctl(lfd, NOTIF_SEND, &r) != 0)
                _exit(80 + step);
        } else {
            struct notif_addfd a = {n.id, ADDFD_FLAG_SEND, (uint32_t)q[1], 0, 0};
            if (ioctl(lfd, NOTIF_ADDFD, &a) < 0)
                _exit(84);
        }
        errno = 0;
        if (ioctl(lfd, NOTIF_ID_VALID, &n.id) != -1 || errno != ENOENT)
            _exit(90 + step);
    }
    char ch;
    if (read(q[0], &ch, 1) != 1 || ch != 'z')
        _exit(95);
    close(lfd);
    if (write(notif_go[1], "g", 1) != 1)
        _exit(96);
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
        _exit(97);
    _exit(WEXITSTATUS(st));
}

TEST(user_notification_lets_a_supervisor_answer)
{
    int st = kt_in_child(user_notif, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void on_usr1(int sig)
{
    (void)sig;
}

static void user_notif_signal(void *arg)
{
    (void)arg;
    if (nnp() != 0)
        _exit(2);
    int lfd = (int)deny_flags(SYS_getppid, RET_USER_NOTIF, FLAG_NEW_LISTENER);
    if (lfd < 0)
        _exit(3);
    pid_t c = fork();
    if (c == 0) {
        close(lfd);
        struct sigaction sa = {0};
        sa.sa_handler = on_usr1; /* no SA_RESTART */
        sigaction(SIGUSR1, &sa, NULL);
        errno = 0;
        long r = syscall(SYS_getppid);
        _exit(r == -1 && errno == EINTR ? 0 : 20);
    }
    struct notif n;
    memset(&n, 0, sizeof n);
    if (ioctl(lfd, NOTIF_RECV, &n) != 0)
        _exit(4);
    kill(c, SIGUSR1);
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
        _exit(5);
    /* The interrupted call's notification is gone. */
    errno = 0;
    if (ioctl(lfd, NOTIF_ID_VALID, &n.id) != -1 || errno != ENOENT)
        _exit(6);
    _exit(WEXITSTATUS(st));
}

TEST(user_notification_wait_is_interrupted_by_a_signal)
{
    int st = kt_in_child(user_notif_signal, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* ---- /proc/sys/kernel/seccomp -------------------------------------------- */

static int read_text(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r < 0)
        return -1;
    buf[r] = 0;
    return 0;
}

static int write_text(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t r = write(fd, s, strlen(s));
    int e = errno;
    close(fd);
    errno = e;
    return r == (ssize_t)strlen(s) ? 0 : -1;
}

TEST(proc_sys_kernel_seccomp_lists_and_logs_actions)
{
    const char *avail = "/proc/sys/kernel/seccomp/actions_avail";
    const char *logged = "/proc/sys/kernel/seccomp/actions_logged";
    char buf[256], orig[256];
    OK(read_text(avail, buf, sizeof buf));
    CHECK(!strcmp(buf, "kill_process kill_thread trap errno user_notif trace log allow\n"),
          "actions_avail: %s", buf);
    OK(read_text(logged, orig, sizeof orig));
    CHECK(!strstr(orig, "allow"), "actions_logged: %s", orig);
    OK(write_text(logged, "kill_process trap\n"));
    int ok = read_text(logged, buf, sizeof buf) == 0 && !strcmp(buf, "kill_process trap\n");
    errno = 0;
    int allow = write_text(logged, "allow");
    int allow_errno = errno;
    errno = 0;
    int bogus = write_text(logged, "kill_process bogus");
    int bogus_errno = errno;
    write_text(logged, orig); /* put it back */
    CHECK(ok, "actions_logged after the write: %s", buf);
    CHECK(allow == -1 && allow_errno == EINVAL, "allow: %d %s", allow, kt_errstr(allow_errno));
    CHECK(bogus == -1 && bogus_errno == EINVAL, "bogus: %d %s", bogus, kt_errstr(bogus_errno));
    OK(read_text(logged, buf, sizeof buf));
    CHECK(!strcmp(buf, orig), "not restored: %s", buf);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--exec-check")) {
        errno = 0;
        long r = syscall(SYS_getppid);
        return r == -1 && errno == EXDEV ? 0 : 1;
    }
    KT_BEGIN();
    RUN(strict_mode_allows_read_write_and_exit);
    RUN(strict_mode_kills_anything_else_with_sigkill);
    RUN(strict_mode_flags_or_args_are_einval);
    RUN(filter_mode_shows_in_prctl_and_proc_status);
    RUN(ret_errno_fails_the_call_with_the_data);
    RUN(ret_trap_sends_sigsys_with_seccomp_siginfo);
    RUN(kill_process_kills_with_sigsys);
    RUN(kill_thread_kills_the_thread_or_the_last_one_s_process);
    RUN(log_and_allow_run_the_call);
    RUN(ret_trace_without_a_tracer_is_enosys);
    RUN(ret_trace_stops_a_tracee_that_asked_for_it);
    RUN(ptrace_suspend_seccomp_lets_the_tracee_s_calls_through);
    RUN(ptrace_reads_a_tracee_s_filters);
    RUN(filters_match_both_halves_of_arguments);
    RUN(filters_see_the_x32_bit_of_the_number);
    RUN(all_filters_run_and_the_most_restrictive_wins);
    RUN(fork_inherits_the_filters);
    RUN(execve_keeps_the_filters);
    RUN(installing_needs_no_new_privs_or_cap_sys_admin);
    RUN(bad_programs_are_einval_efault_or_enomem);
    RUN(get_action_avail_and_notif_sizes);
    RUN(proc_sys_kernel_seccomp_lists_and_logs_actions);
    RUN(tsync_puts_the_filter_on_every_thread);
    RUN(tsync_fails_with_a_thread_on_another_stack);
    RUN(tsync_filters_a_sibling_looping_on_getppid_at_its_next_call);
    RUN(user_notification_lets_a_supervisor_answer);
    RUN(user_notification_wait_is_interrupted_by_a_signal);
    return KT_END();
}
