/* wait4 and waitid: exit and signal statuses, WNOHANG/WNOWAIT/WUNTRACED/
 * WCONTINUED, siginfo contents, process-group selection, reparenting to a
 * subreaper, rusage, deep fork chains, and RLIMIT_NPROC. */
#define KT_AREA "wait"
#include "kt.h"

#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

extern char **environ;

/* wait4 for pid with options; returns the raw status, or -1. */
static int reap_opt(pid_t pid, int options)
{
    int st;
    if (syscall(SYS_wait4, pid, &st, options, NULL) != pid)
        return -1;
    return st;
}

static int reap(pid_t pid)
{
    return reap_opt(pid, 0);
}

static int exited_with(int st, int code)
{
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static int killed_by(int st, int sig)
{
    return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

/* A child that blocks reading fd until EOF, then exits with code. The caller
 * keeps the write end (*wfd) and closes it to let the child finish. */
static pid_t blocked_child(int *wfd, int code)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        char b;
        while (read(p[0], &b, 1) > 0) {
        }
        _exit(code);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return -1;
    }
    *wfd = p[1];
    return pid;
}

static pid_t exiting_child(int code)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(code);
    return pid;
}

static long waitid_raw(int idtype, long id, siginfo_t *si, int options)
{
    return syscall(SYS_waitid, idtype, id, si, options, NULL);
}

/* ---- wait4 statuses --------------------------------------------------- */

TEST(wait4_reports_exit_status_0_1_255) {
    static const int codes[] = {0, 1, 255};
    for (int i = 0; i < 3; i++) {
        pid_t pid = OK(exiting_child(codes[i]));
        int st = reap(pid);
        CHECK(exited_with(st, codes[i]), "child %s, expected exit %d", kt_status(st), codes[i]);
    }
}

TEST(exit_status_keeps_only_low_8_bits) {
    pid_t pid = OK(exiting_child(0x1ff));
    int st = reap(pid);
    CHECK(exited_with(st, 255), "_exit(0x1ff): %s, expected exit 255", kt_status(st));
    pid = OK(exiting_child(256 + 3));
    st = reap(pid);
    CHECK(exited_with(st, 3), "_exit(259): %s, expected exit 3", kt_status(st));
}

TEST(wait4_child_killed_by_sigkill_is_wifsignaled) {
    int w;
    pid_t pid = OK(blocked_child(&w, 0));
    long k = kill(pid, SIGKILL);
    int e = errno;
    /* A fatal signal is final once kill() returns: the EOF cannot save the
     * child. Closing first turns a lost signal into a failure, not a hang. */
    close(w);
    int st = reap(pid);
    CHECK(k == 0, "kill failed: %s", kt_errstr(e));
    CHECK(killed_by(st, SIGKILL), "child %s, expected killed by signal %d", kt_status(st), SIGKILL);
    CHECK(!WIFEXITED(st) && !WIFSTOPPED(st), "status 0x%x", st);
}

TEST(wait4_child_killed_by_sigterm_is_wifsignaled) {
    int w;
    pid_t pid = OK(blocked_child(&w, 0));
    long k = kill(pid, SIGTERM);
    int e = errno;
    close(w);
    int st = reap(pid);
    CHECK(k == 0, "kill failed: %s", kt_errstr(e));
    CHECK(killed_by(st, SIGTERM), "child %s, expected killed by signal %d", kt_status(st), SIGTERM);
}

TEST(wait4_wnohang_with_running_child_returns_zero) {
    int w;
    pid_t pid = OK(blocked_child(&w, 4));
    int st = 0x1234;
    long r = syscall(SYS_wait4, pid, &st, WNOHANG, NULL);
    long r_any = syscall(SYS_wait4, -1, &st, WNOHANG, NULL);
    close(w);
    int fin = reap(pid);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(r_any, 0);
    CHECK(exited_with(fin, 4), "child %s, expected exit 4", kt_status(fin));
}

TEST(wait4_wnohang_returns_zombie_pid) {
    int p[2];
    OK(pipe(p));
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        close(p[0]);
        _exit(6); /* closing p[1] at exit tells the parent we are (nearly) gone */
    }
    close(p[1]);
    char b;
    while (read(p[0], &b, 1) > 0) {
    }
    close(p[0]);
    /* EOF comes before the child is a zombie: poll, never block */
    long r = 0;
    int st = 0;
    for (int i = 0; i < 100000 && r == 0; i++) {
        r = syscall(SYS_wait4, pid, &st, WNOHANG, NULL);
        if (r == 0)
            sched_yield();
    }
    if (r != pid)
        reap(pid);
    EXPECT_EQ(r, pid);
    CHECK(exited_with(st, 6), "child %s, expected exit 6", kt_status(st));
}

TEST(wait4_with_no_children_is_echild) {
    int st;
    EXPECT_ERRNO(syscall(SYS_wait4, -1, &st, 0, NULL), ECHILD);
    EXPECT_ERRNO(syscall(SYS_wait4, -1, &st, WNOHANG, NULL), ECHILD);
    /* our parent is not our child */
    EXPECT_ERRNO(syscall(SYS_wait4, getppid(), &st, 0, NULL), ECHILD);
    EXPECT_ERRNO(syscall(SYS_wait4, 0x3ffffff0, &st, 0, NULL), ECHILD);
}

TEST(wait4_for_specific_pid_skips_other_children) {
    pid_t first = OK(exiting_child(1));
    int w;
    pid_t second = blocked_child(&w, 2);
    if (second < 0) {
        reap(first);
        CHECK(0, "fork failed: %s", kt_errstr(errno));
    }
    /* the first child may already be a zombie; waiting for the second must
     * not return it */
    close(w);
    int st2 = reap(second);
    int st1 = reap(first);
    CHECK(exited_with(st2, 2), "second %s, expected exit 2", kt_status(st2));
    CHECK(exited_with(st1, 1), "first %s, expected exit 1", kt_status(st1));
}

TEST(wait4_invalid_options_is_einval) {
    int st;
    EXPECT_ERRNO(syscall(SYS_wait4, -1, &st, 0x4000, NULL), EINVAL);
}

TEST(wait4_negative_pid_selects_process_group) {
    int w;
    pid_t pid = OK(blocked_child(&w, 8));
    setpgid(pid, pid); /* its own group; the child is still blocked so this works */
    pid_t other = exiting_child(9); /* in our group, not the child's */
    int st;
    long none = syscall(SYS_wait4, -pid, &st, WNOHANG, NULL);
    close(w);
    long r = syscall(SYS_wait4, -pid, &st, 0, NULL);
    int o = other > 0 ? reap(other) : -1;
    EXPECT_EQ(none, 0);
    EXPECT_EQ(r, pid);
    CHECK(exited_with(st, 8), "child %s, expected exit 8", kt_status(st));
    CHECK(exited_with(o, 9), "other child %s, expected exit 9", kt_status(o));
}

/* ---- waitid ----------------------------------------------------------- */

TEST(waitid_p_pid_fills_siginfo_for_exit) {
    pid_t pid = OK(exiting_child(42));
    siginfo_t si;
    memset(&si, 0xa5, sizeof si);
    long r = waitid_raw(P_PID, pid, &si, WEXITED);
    int e = errno;
    CHECK(r == 0, "waitid failed: %s", kt_errstr(e));
    EXPECT_EQ(si.si_signo, SIGCHLD);
    EXPECT_EQ(si.si_code, CLD_EXITED);
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_uid, getuid());
    EXPECT_EQ(si.si_status, 42);
    EXPECT_EQ(si.si_errno, 0);
    /* it was reaped */
    int st;
    EXPECT_ERRNO(syscall(SYS_wait4, pid, &st, WNOHANG, NULL), ECHILD);
}

TEST(waitid_p_pgid_selects_process_group) {
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        setpgid(0, 0);
        _exit(17);
    }
    setpgid(pid, pid); /* also from here, so it is done before waitid either way */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    long r = waitid_raw(P_PGID, pid, &si, WEXITED);
    int e = errno;
    if (r != 0)
        reap(pid);
    CHECK(r == 0, "waitid failed: %s", kt_errstr(e));
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_code, CLD_EXITED);
    EXPECT_EQ(si.si_status, 17);
}

TEST(waitid_p_pgid_with_no_such_group_is_echild) {
    siginfo_t si;
    EXPECT_ERRNO(waitid_raw(P_PGID, 0x3ffffff0, &si, WEXITED | WNOHANG), ECHILD);
}

TEST(waitid_p_all_reaps_any_child) {
    pid_t pid = OK(exiting_child(3));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    long r = waitid_raw(P_ALL, 0, &si, WEXITED);
    int e = errno;
    if (r != 0)
        reap(pid);
    CHECK(r == 0, "waitid failed: %s", kt_errstr(e));
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_code, CLD_EXITED);
    EXPECT_EQ(si.si_status, 3);
}

TEST(waitid_reports_cld_killed_with_signal) {
    int w;
    pid_t pid = OK(blocked_child(&w, 0));
    kill(pid, SIGKILL);
    close(w);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    long r = waitid_raw(P_PID, pid, &si, WEXITED);
    int e = errno;
    if (r != 0)
        reap(pid);
    CHECK(r == 0, "waitid failed: %s", kt_errstr(e));
    EXPECT_EQ(si.si_signo, SIGCHLD);
    EXPECT_EQ(si.si_code, CLD_KILLED);
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_status, SIGKILL);
}

/* With WNOHANG and nothing to report, Linux returns 0 and zeroes si_signo and
 * si_pid (POSIX leaves the siginfo unspecified). */
TEST(waitid_wnohang_with_nothing_ready_zeroes_siginfo) {
    int w;
    pid_t pid = OK(blocked_child(&w, 0));
    siginfo_t si;
    memset(&si, 0xa5, sizeof si);
    long r = waitid_raw(P_PID, pid, &si, WEXITED | WNOHANG);
    int e = errno;
    close(w);
    int st = reap(pid);
    CHECK(r == 0, "waitid returned %ld errno %s", r, kt_errstr(e));
    EXPECT_EQ(si.si_pid, 0);
    EXPECT_EQ(si.si_signo, 0);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
}

TEST(waitid_wnowait_leaves_the_zombie) {
    pid_t pid = OK(exiting_child(11));
    siginfo_t si1, si2;
    memset(&si1, 0, sizeof si1);
    memset(&si2, 0, sizeof si2);
    long r1 = waitid_raw(P_PID, pid, &si1, WEXITED | WNOWAIT);
    int e1 = errno;
    long r2 = waitid_raw(P_PID, pid, &si2, WEXITED | WNOWAIT);
    int e2 = errno;
    int st = reap(pid);
    int e3 = 0;
    long r3 = syscall(SYS_wait4, pid, NULL, WNOHANG, NULL);
    if (r3 == -1)
        e3 = errno;
    CHECK(r1 == 0, "first waitid: %s", kt_errstr(e1));
    CHECK(r2 == 0, "second waitid: %s", kt_errstr(e2));
    EXPECT_EQ(si1.si_pid, pid);
    EXPECT_EQ(si1.si_status, 11);
    EXPECT_EQ(si2.si_pid, pid);
    EXPECT_EQ(si2.si_status, 11);
    CHECK(exited_with(st, 11), "final wait4: %s, expected exit 11", kt_status(st));
    CHECK(r3 == -1 && e3 == ECHILD, "after reaping: %ld errno %s, expected ECHILD", r3,
          kt_errstr(e3));
}

TEST(waitid_without_wexited_wstopped_wcontinued_is_einval) {
    siginfo_t si;
    EXPECT_ERRNO(waitid_raw(P_ALL, 0, &si, 0), EINVAL);
    EXPECT_ERRNO(waitid_raw(P_ALL, 0, &si, WNOHANG), EINVAL);
    EXPECT_ERRNO(waitid_raw(P_ALL, 0, &si, WNOWAIT), EINVAL);
}

TEST(waitid_bad_idtype_is_einval) {
    siginfo_t si;
    EXPECT_ERRNO(waitid_raw(42, 0, &si, WEXITED), EINVAL);
}

/* ---- stop / continue -------------------------------------------------- */

/* Stops and continues happen when the child next runs, so these poll with
 * WNOHANG. After 30 s they give up (returning -1) rather than hang on a kernel
 * that never stops the child. */
static long long mono_ns(void);

static void nap(int i)
{
    if (i < 100) {
        sched_yield();
    } else {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int wait4_patiently(pid_t pid, int options)
{
    long long deadline = mono_ns() + 30 * 1000000000LL;
    int st;
    for (int i = 0; mono_ns() < deadline; i++) {
        long r = syscall(SYS_wait4, pid, &st, options | WNOHANG, NULL);
        if (r == pid)
            return st;
        if (r != 0)
            return -1;
        nap(i);
    }
    return -1;
}

static long waitid_patiently(pid_t pid, siginfo_t *si, int options)
{
    long long deadline = mono_ns() + 30 * 1000000000LL;
    for (int i = 0; mono_ns() < deadline; i++) {
        memset(si, 0, sizeof *si);
        long r = waitid_raw(P_PID, pid, si, options | WNOHANG);
        if (r != 0 || si->si_pid != 0)
            return r;
        nap(i);
    }
    return -1;
}

TEST(wuntraced_reports_sigstop_and_wcontinued_reports_sigcont) {
    int w;
    pid_t pid = OK(blocked_child(&w, 5));
    kill(pid, SIGSTOP);
    int stopped = wait4_patiently(pid, WUNTRACED);
    kill(pid, SIGCONT);
    int cont = wait4_patiently(pid, WCONTINUED);
    if (cont == -1 || !WIFCONTINUED(cont))
        kill(pid, SIGKILL); /* it may still be stopped */
    close(w); /* a continued child runs again: it sees EOF and exits 5 */
    int fin = reap(pid);
    CHECK(stopped != -1 && WIFSTOPPED(stopped) && WSTOPSIG(stopped) == SIGSTOP,
          "after SIGSTOP: status 0x%x, expected stopped by %d", stopped, SIGSTOP);
    CHECK(cont != -1 && WIFCONTINUED(cont), "after SIGCONT: status 0x%x, expected continued",
          cont);
    CHECK(exited_with(fin, 5), "child %s, expected exit 5", kt_status(fin));
}

TEST(waitid_wstopped_and_wcontinued_codes) {
    int w;
    pid_t pid = OK(blocked_child(&w, 0));
    kill(pid, SIGSTOP);
    siginfo_t s1, s2;
    long r1 = waitid_patiently(pid, &s1, WSTOPPED);
    int e1 = errno;
    kill(pid, SIGCONT);
    long r2 = waitid_patiently(pid, &s2, WCONTINUED);
    int e2 = errno;
    if (r2 != 0 || s2.si_code != CLD_CONTINUED)
        kill(pid, SIGKILL);
    close(w);
    int fin = reap(pid);
    CHECK(r1 == 0, "waitid WSTOPPED: %s", kt_errstr(e1));
    EXPECT_EQ(s1.si_code, CLD_STOPPED);
    EXPECT_EQ(s1.si_status, SIGSTOP);
    EXPECT_EQ(s1.si_pid, pid);
    CHECK(r2 == 0, "waitid WCONTINUED: %s", kt_errstr(e2));
    EXPECT_EQ(s2.si_code, CLD_CONTINUED);
    EXPECT_EQ(s2.si_status, SIGCONT);
    EXPECT_EQ(s2.si_pid, pid);
    CHECK(exited_with(fin, 0), "child %s", kt_status(fin));
}

/* A stop is reported once: a second WUNTRACED|WNOHANG finds nothing. */
TEST(stop_is_reported_only_once) {
    int w;
    pid_t pid = OK(blocked_child(&w, 0));
    kill(pid, SIGSTOP);
    int st1 = wait4_patiently(pid, WUNTRACED);
    int st2 = 0x77;
    long r2 = syscall(SYS_wait4, pid, &st2, WUNTRACED | WNOHANG, NULL);
    kill(pid, SIGKILL);
    close(w);
    int fin = reap(pid);
    CHECK(st1 != -1 && WIFSTOPPED(st1), "status 0x%x, expected stopped", st1);
    EXPECT_EQ(r2, 0);
    CHECK(killed_by(fin, SIGKILL), "child %s, expected killed by SIGKILL", kt_status(fin));
}

/* ---- SIGCHLD ignored -------------------------------------------------- */

/* With SIGCHLD set to SIG_IGN children are reaped automatically: wait4 blocks
 * until they are gone and then fails with ECHILD. */
TEST(sigchld_ignored_children_are_autoreaped) {
    struct sigaction ign, old;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    OK(sigaction(SIGCHLD, &ign, &old));
    pid_t pid = exiting_child(0);
    int e = 0;
    long r = -2;
    if (pid > 0) {
        int st;
        r = syscall(SYS_wait4, pid, &st, 0, NULL);
        e = errno;
    }
    sigaction(SIGCHLD, &old, NULL);
    CHECK(pid > 0, "fork failed");
    CHECK(r == -1 && e == ECHILD, "wait4 returned %ld errno %s, expected ECHILD", r, kt_errstr(e));
}

/* ---- reparenting ------------------------------------------------------ */

TEST(orphan_is_reparented_to_child_subreaper) {
    int was = 0;
    OK(prctl(PR_GET_CHILD_SUBREAPER, &was));
    OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
    pid_t me = getpid();
    int p[2], report[2];
    OK(pipe(p));
    OK(pipe(report));
    fflush(stdout);
    pid_t mid = fork();
    if (mid == 0) {
        close(report[0]);
        pid_t old = getpid(); /* the grandchild's first parent */
        pid_t gc = fork();
        if (gc == 0) {
            close(p[1]);
            close(report[1]);
            char b;
            while (read(p[0], &b, 1) > 0) {
            }
            /* EOF means the middle process closed its files: it is exiting, but
             * the reparenting may come a moment later */
            pid_t now = getppid();
            for (long i = 0; i < 200000 && now == old; i++) {
                if (i % 100 == 99) {
                    struct timespec ts = {0, 1000 * 1000};
                    nanosleep(&ts, NULL);
                } else {
                    sched_yield();
                }
                now = getppid();
            }
            _exit(now == me ? 0 : now == old ? 11 : 12);
        }
        if (gc < 0)
            _exit(2);
        if (write(report[1], &gc, sizeof gc) != sizeof gc)
            _exit(3);
        _exit(0); /* holds p[1] until now */
    }
    close(p[0]);
    close(p[1]);
    close(report[1]);
    pid_t gc = -1;
    ssize_t n = mid > 0 ? read(report[0], &gc, sizeof gc) : -1;
    close(report[0]);
    int mst = mid > 0 ? reap(mid) : -1;
    int gst = n == sizeof gc ? reap(gc) : -1;
    prctl(PR_SET_CHILD_SUBREAPER, was);
    CHECK(mid > 0, "fork failed");
    CHECK(exited_with(mst, 0), "middle process %s", kt_status(mst));
    EXPECT_EQ(n, sizeof gc);
    CHECK(exited_with(gst, 0),
          "grandchild (reaped by us: %s) (11 = never reparented, 12 = reparented "
          "elsewhere)",
          kt_status(gst));
}

/* ---- rusage ----------------------------------------------------------- */

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

TEST(wait4_rusage_counts_child_cpu_time) {
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        volatile unsigned long x = 0;
        long long end = mono_ns() + 50 * 1000 * 1000LL;
        while (mono_ns() < end)
            for (int i = 0; i < 1000; i++)
                x += i;
        _exit(0);
    }
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    int st;
    long r = syscall(SYS_wait4, pid, &st, 0, &ru);
    int e = errno;
    CHECK(r == pid, "wait4 returned %ld errno %s", r, kt_errstr(e));
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    long long us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
                   ru.ru_stime.tv_usec;
    CHECK(us > 0, "child burned ~50 ms but ru_utime+ru_stime = %lld us", us);
    CHECK(ru.ru_utime.tv_usec < 1000000 && ru.ru_stime.tv_usec < 1000000, "tv_usec out of range");
}

TEST(getrusage_children_includes_reaped_child) {
    struct rusage before, after;
    OK(getrusage(RUSAGE_CHILDREN, &before));
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        volatile unsigned long x = 0;
        long long end = mono_ns() + 30 * 1000 * 1000LL;
        while (mono_ns() < end)
            for (int i = 0; i < 1000; i++)
                x += i;
        _exit(0);
    }
    int st = reap(pid);
    OK(getrusage(RUSAGE_CHILDREN, &after));
    long long b = (before.ru_utime.tv_sec + before.ru_stime.tv_sec) * 1000000LL +
                  before.ru_utime.tv_usec + before.ru_stime.tv_usec;
    long long a = (after.ru_utime.tv_sec + after.ru_stime.tv_sec) * 1000000LL +
                  after.ru_utime.tv_usec + after.ru_stime.tv_usec;
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    CHECK(a > b, "RUSAGE_CHILDREN did not grow: %lld -> %lld us", b, a);
}

/* ---- deep chains ------------------------------------------------------ */

/* Each level forks the next one and exits with its child's status; the
 * deepest level execs a shell that exits 7. */
static void chain(int depth)
{
    for (; depth > 0; depth--) {
        pid_t pid = fork();
        if (pid < 0)
            _exit(120);
        if (pid > 0) {
            int st;
            if (syscall(SYS_wait4, pid, &st, 0, NULL) != pid)
                _exit(121);
            _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 122);
        }
        /* the child goes one level deeper */
    }
    char *argv[] = {"sh", "-c", "exit 7", NULL};
    syscall(SYS_execve, "/bin/sh", argv, environ);
    _exit(127);
}

TEST(fork_wait_chain_of_depth_20_passes_status_up) {
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0)
        chain(20);
    int st = reap(pid);
    CHECK(exited_with(st, 7),
          "top of chain %s, expected exit 7 (120 fork, 121 wait, 122 signal, 127 exec failed)",
          kt_status(st));
}

/* ---- RLIMIT_NPROC ----------------------------------------------------- */

/* Root is exempt from RLIMIT_NPROC, so the child drops to uid 65534 first.
 * The limit counts every process of that real uid, including the caller. */
static void fork_bomb(void *arg)
{
    (void)arg;
    int p[2];
    if (pipe(p) != 0)
        _exit(5);
    struct rlimit rl = {16, 1024};
    if (setrlimit(RLIMIT_NPROC, &rl) != 0)
        _exit(6);
    if (syscall(SYS_setgid, 65534) != 0 || syscall(SYS_setuid, 65534) != 0)
        _exit(4);
    int made = 0, err = 0;
    for (int i = 0; i < 64; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(p[1]);
            char b;
            while (read(p[0], &b, 1) > 0) {
            }
            _exit(0);
        }
        if (pid < 0) {
            err = errno;
            break;
        }
        made++;
    }
    close(p[1]); /* every child sees EOF and exits */
    int reaped = 0, st;
    while (syscall(SYS_wait4, -1, &st, 0, NULL) > 0)
        reaped++;
    /* the system is fine: with the children gone (and the soft limit raised, in
     * case other uid-65534 processes exist), fork works again */
    rl.rlim_cur = 1024;
    setrlimit(RLIMIT_NPROC, &rl);
    pid_t again = fork();
    if (again == 0)
        _exit(0);
    if (again < 0)
        _exit(3);
    if (syscall(SYS_wait4, again, &st, 0, NULL) != again)
        _exit(3);
    if (err == 0)
        _exit(1);
    if (err != EAGAIN)
        _exit(2);
    if (reaped != made || made >= 16)
        _exit(7);
    _exit(0);
}

TEST(rlimit_nproc_stops_fork_bomb_with_eagain) {
    int st = kt_in_child(fork_bomb, NULL);
    CHECK(exited_with(st, 0),
          "child %s (1 = never hit the limit, 2 = wrong errno, 3 = fork broken afterwards, "
          "4 = could not drop to uid 65534, 7 = too many children)",
          kt_status(st));
}

int main(void)
{
    KT_BEGIN();
    RUN(wait4_reports_exit_status_0_1_255);
    RUN(exit_status_keeps_only_low_8_bits);
    RUN(wait4_child_killed_by_sigkill_is_wifsignaled);
    RUN(wait4_child_killed_by_sigterm_is_wifsignaled);
    RUN(wait4_wnohang_with_running_child_returns_zero);
    RUN(wait4_wnohang_returns_zombie_pid);
    RUN(wait4_with_no_children_is_echild);
    RUN(wait4_for_specific_pid_skips_other_children);
    RUN(wait4_invalid_options_is_einval);
    RUN(wait4_negative_pid_selects_process_group);
    RUN(waitid_p_pid_fills_siginfo_for_exit);
    RUN(waitid_p_pgid_selects_process_group);
    RUN(waitid_p_pgid_with_no_such_group_is_echild);
    RUN(waitid_p_all_reaps_any_child);
    RUN(waitid_reports_cld_killed_with_signal);
    RUN(waitid_wnohang_with_nothing_ready_zeroes_siginfo);
    RUN(waitid_wnowait_leaves_the_zombie);
    RUN(waitid_without_wexited_wstopped_wcontinued_is_einval);
    RUN(waitid_bad_idtype_is_einval);
    RUN(wuntraced_reports_sigstop_and_wcontinued_reports_sigcont);
    RUN(waitid_wstopped_and_wcontinued_codes);
    RUN(stop_is_reported_only_once);
    RUN(sigchld_ignored_children_are_autoreaped);
    RUN(orphan_is_reparented_to_child_subreaper);
    RUN(wait4_rusage_counts_child_cpu_time);
    RUN(getrusage_children_includes_reaped_child);
    RUN(fork_wait_chain_of_depth_20_passes_status_up);
    RUN(rlimit_nproc_stops_fork_bomb_with_eagain);
    return KT_END();
}
