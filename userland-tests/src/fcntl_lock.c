/* fcntl record locks: F_GETLK/F_SETLK/F_SETLKW, the OFD forms, and flock beside them */
#define KT_AREA "fcntl_lock"
#include "kt.h"

#include <signal.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <time.h>

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

#define BADPTR ((void *)1)

/* A file of `size` bytes, open O_RDWR, in a fresh temp dir; its path in *path. */
static int scratch(off_t size, const char **path)
{
    const char *d = kt_tmpdir();
    if (!d)
        return -1;
    const char *p = kt_path(d, "f");
    int fd = open(p, O_CREAT | O_RDWR, 0644);
    if (fd >= 0 && ftruncate(fd, size) != 0) {
        close(fd);
        return -1;
    }
    if (path)
        *path = p;
    return fd;
}

static struct flock mk(short type, short whence, off_t start, off_t len)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = whence;
    fl.l_start = start;
    fl.l_len = len;
    return fl;
}

/* One fcntl lock call through the raw syscall; -1 with errno on failure. */
static long lk(int fd, int cmd, short type, short whence, off_t start, off_t len)
{
    struct flock fl = mk(type, whence, start, len);
    return syscall(SYS_fcntl, fd, cmd, &fl);
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- another process ---------------------------------------------------- */

/*
 * A forked helper and two pipes to sequence it: the parent says things on
 * k->to, the child answers on k->from. A child reading EOF (the parent gone or
 * done) just exits.
 */
struct kid {
    pid_t pid;
    int to[2], from[2];
};

/* 1 in the parent, 0 in the child, -1 on error. */
static int kid_fork(struct kid *k)
{
    if (pipe(k->to) != 0)
        return -1;
    if (pipe(k->from) != 0) {
        close(k->to[0]);
        close(k->to[1]);
        return -1;
    }
    fflush(stdout);
    k->pid = fork();
    if (k->pid < 0)
        return -1;
    if (k->pid == 0) {
        close(k->to[1]);
        close(k->from[0]);
        return 0;
    }
    close(k->to[0]);
    close(k->from[1]);
    return 1;
}

static void say(int fd, char c)
{
    if (write(fd, &c, 1) != 1) { /* the other side is gone: it sees EOF */ }
}

/* The next byte, or 0 at EOF. */
static char hear(int fd)
{
    char c;
    return read(fd, &c, 1) == 1 ? c : 0;
}

/* Child side: says `c` to the parent. */
static void kid_say(struct kid *k, char c) { say(k->from[1], c); }
/* Child side: waits for a word from the parent; exits at EOF. */
static char kid_hear(struct kid *k)
{
    char c = hear(k->to[0]);
    if (!c)
        _exit(0);
    return c;
}

/* Parent side: lets the child go (EOF) and reaps it; its wait status. */
static int kid_end(struct kid *k)
{
    int st = -1;
    close(k->to[1]);
    close(k->from[0]);
    if (waitpid(k->pid, &st, 0) != k->pid)
        return -1;
    return st;
}

/* What another process sees: F_GETLK (or cmd) on fd from a forked child. */
struct seen {
    int err; /* errno of the call, 0 if it worked */
    struct flock fl;
};

static struct seen getlk_from_child(int fd, int cmd, short type, short whence, off_t start, off_t len)
{
    struct seen s = {EIO, mk(-1, 0, 0, 0)};
    int p[2];
    if (pipe(p) != 0)
        return s;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct seen r = {0, mk(type, whence, start, len)};
        r.fl.l_pid = 12345; /* F_GETLK leaves it alone when nothing conflicts */
        if (syscall(SYS_fcntl, fd, cmd, &r.fl) != 0)
            r.err = errno;
        if (write(p[1], &r, sizeof r) != sizeof r)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    if (pid > 0) {
        if (read(p[0], &s, sizeof s) != sizeof s)
            s.err = EIO;
        waitpid(pid, NULL, 0);
    }
    close(p[0]);
    return s;
}

/* Whether another process could take a write lock on [start, start+len). */
static int free_elsewhere(int fd, off_t start, off_t len)
{
    struct seen s = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, start, len);
    return s.err == 0 && s.fl.l_type == F_UNLCK;
}

/* Checks one answer of F_GETLK: the lock type, start, length and pid. */
#define EXPECT_LOCK(s, type, start, len, pid)                                 \
    do {                                                                      \
        CHECK((s).err == 0, "F_GETLK failed: %s", kt_errstr((s).err));        \
        CHECK((s).fl.l_type == (type) && (s).fl.l_start == (start) &&         \
                  (s).fl.l_len == (len) && (s).fl.l_pid == (pid) &&           \
                  (s).fl.l_whence == SEEK_SET,                                \
              "F_GETLK saw type %d start %lld len %lld pid %d whence %d, "    \
              "expected type %d start %lld len %lld pid %d whence 0",         \
              (s).fl.l_type, (long long)(s).fl.l_start,                       \
              (long long)(s).fl.l_len, (s).fl.l_pid, (s).fl.l_whence,         \
              (int)(type), (long long)(start), (long long)(len), (int)(pid)); \
    } while (0)

/* ---- F_GETLK ---------------------------------------------------------- */

TEST(getlk_reports_the_holders_pid_range_and_type) {
    int fd = OK(scratch(100, NULL));
    struct kid k;
    int r = OK(kid_fork(&k));
    if (r == 0) {
        if (lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 10) != 0)
            _exit(1);
        if (lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 50, 0) != 0)
            _exit(2);
        kid_say(&k, 'r');
        kid_hear(&k);
        _exit(0);
    }
    CHECK(hear(k.from[0]) == 'r', "the child could not lock: %s", kt_status(kid_end(&k)));
    struct flock fl = mk(F_RDLCK, SEEK_SET, 0, 0);
    long rc = syscall(SYS_fcntl, fd, F_GETLK, &fl);
    struct seen w = {rc ? errno : 0, fl};
    struct seen rd = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, 20, 0);
    struct seen none = getlk_from_child(fd, F_GETLK, F_RDLCK, SEEK_SET, 20, 30);
    int st = kid_end(&k);
    close(fd);
    EXPECT_EQ(st, 0);
    EXPECT_LOCK(w, F_WRLCK, 10, 10, k.pid);
    /* A lock to the end of the file has l_len 0. */
    EXPECT_LOCK(rd, F_RDLCK, 50, 0, k.pid);
    EXPECT_EQ(none.err, 0);
    EXPECT_EQ(none.fl.l_type, F_UNLCK);
}

TEST(getlk_without_conflict_changes_only_l_type) {
    int fd = OK(scratch(0, NULL));
    struct flock fl = mk(F_WRLCK, SEEK_CUR, 7, -3);
    fl.l_pid = 4242;
    OK(syscall(SYS_fcntl, fd, F_GETLK, &fl));
    close(fd);
    EXPECT_EQ(fl.l_type, F_UNLCK);
    EXPECT_EQ(fl.l_whence, SEEK_CUR);
    EXPECT_EQ(fl.l_start, 7);
    EXPECT_EQ(fl.l_len, -3);
    EXPECT_EQ(fl.l_pid, 4242);
}

TEST(getlk_ignores_the_callers_own_locks) {
    int fd = OK(scratch(0, NULL));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0));
    struct flock fl = mk(F_WRLCK, SEEK_SET, 0, 0);
    OK(syscall(SYS_fcntl, fd, F_GETLK, &fl));
    struct seen other = getlk_from_child(fd, F_GETLK, F_RDLCK, SEEK_SET, 1000, 1);
    close(fd);
    EXPECT_EQ(fl.l_type, F_UNLCK);
    EXPECT_LOCK(other, F_WRLCK, 0, 0, getpid());
}

/* ---- F_SETLK ---------------------------------------------------------- */

TEST(setlk_conflicts_are_eagain_and_read_locks_share) {
    int fd = OK(scratch(100, NULL));
    struct kid k;
    int r = OK(kid_fork(&k));
    if (r == 0) {
        int ok = lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 10) == 0 &&
                 lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 20, 10) == 0;
        kid_say(&k, ok ? 'r' : 'x');
        kid_hear(&k);
        _exit(0);
    }
    CHECK(hear(k.from[0]) == 'r', "the child could not lock");
    errno = 0;
    long w_on_read = lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 9, 1);
    int e1 = errno;
    errno = 0;
    long r_on_write = lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 15, 6);
    int e2 = errno;
    long r_on_read = lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 10);
    long w_beside = lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 10);
    long unlock_theirs = lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    /* Unlocking everything of ours left the child's locks alone. */
    errno = 0;
    long still = lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 25, 1);
    int e3 = errno;
    int st = kid_end(&k);
    close(fd);
    EXPECT_EQ(st, 0);
    CHECK(w_on_read == -1 && e1 == EAGAIN, "write over a read lock: %ld %s", w_on_read, kt_errstr(e1));
    CHECK(r_on_write == -1 && e2 == EAGAIN, "read over a write lock: %ld %s", r_on_write, kt_errstr(e2));
    EXPECT_EQ(r_on_read, 0);
    EXPECT_EQ(w_beside, 0);
    EXPECT_EQ(unlock_theirs, 0);
    CHECK(still == -1 && e3 == EAGAIN, "after our unlock: %ld %s", still, kt_errstr(e3));
}

TEST(fork_child_does_not_inherit_posix_locks) {
    int fd = OK(scratch(0, NULL));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    struct seen s = getlk_from_child(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
    close(fd);
    EXPECT_EQ(s.err, EAGAIN);
}

TEST(unlock_of_nothing_succeeds) {
    int fd = OK(scratch(0, NULL));
    long r = lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    long w = lk(fd, F_SETLKW, F_UNLCK, SEEK_SET, 5, 5);
    close(fd);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(w, 0);
}

/* ---- F_SETLKW --------------------------------------------------------- */

TEST(setlkw_waits_until_the_holder_unlocks) {
    int fd = OK(scratch(0, NULL));
    struct kid k;
    int r = OK(kid_fork(&k));
    if (r == 0) {
        if (lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0) != 0)
            _exit(1);
        kid_say(&k, 'r');
        pause_ms(100);
        /* Announce the release before making it: the parent must see 'u'. */
        kid_say(&k, 'u');
        if (lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0) != 0)
            _exit(2);
        kid_hear(&k);
        _exit(0);
    }
    CHECK(hear(k.from[0]) == 'r', "the child could not lock");
    long got = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 5, 1);
    int e = errno;
    char after = hear(k.from[0]);
    int st = kid_end(&k);
    close(fd);
    CHECK(got == 0, "F_SETLKW: %s", kt_errstr(e));
    EXPECT_EQ(after, 'u');
    EXPECT_EQ(st, 0);
}

TEST(setlkw_on_a_child_that_exits_is_granted) {
    int fd = OK(scratch(0, NULL));
    struct kid k;
    int r = OK(kid_fork(&k));
    if (r == 0) {
        if (lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 0) != 0)
            _exit(1);
        kid_say(&k, 'r');
        pause_ms(50);
        _exit(0); /* without unlocking or closing: exit releases */
    }
    CHECK(hear(k.from[0]) == 'r', "the child could not lock");
    long got = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 0);
    int e = errno;
    int st = kid_end(&k);
    close(fd);
    CHECK(got == 0, "F_SETLKW: %s", kt_errstr(e));
    EXPECT_EQ(st, 0);
}

static volatile sig_atomic_t usr1_count;
static void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

/*
 * The child holds a write lock and sends SIGUSR1 every 30 ms until told to
 * stop (one signal could land before the parent blocks); after `signals`
 * signals it unlocks if `then_unlock`.
 */
static void pester_child(struct kid *k, int fd, int signals, int then_unlock)
{
    if (lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0) != 0)
        _exit(1);
    kid_say(k, 'r');
    fcntl(k->to[0], F_SETFL, O_NONBLOCK);
    for (int i = 0; i < signals; i++) {
        pause_ms(30);
        char c;
        if (read(k->to[0], &c, 1) != -1)
            _exit(0); /* told to stop, or EOF */
        kill(getppid(), SIGUSR1);
    }
    if (then_unlock)
        lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    fcntl(k->to[0], F_SETFL, 0);
    kid_hear(k);
    _exit(0);
}

TEST(setlkw_interrupted_by_a_handler_is_eintr) {
    int fd = OK(scratch(0, NULL));
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    OK(sigaction(SIGUSR1, &sa, &old));
    usr1_count = 0;
    struct kid k;
    int r = kid_fork(&k);
    if (r == 0)
        pester_child(&k, fd, 1000, 0);
    if (r < 0) {
        sigaction(SIGUSR1, &old, NULL);
        CHECK(0, "fork failed");
    }
    char ready = hear(k.from[0]);
    errno = 0;
    long got = ready == 'r' ? lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1) : -2;
    int e = errno;
    say(k.to[1], 's');
    int st = kid_end(&k);
    sigaction(SIGUSR1, &old, NULL);
    close(fd);
    CHECK(ready == 'r', "the child could not lock");
    CHECK(got == -1 && e == EINTR, "F_SETLKW returned %ld errno %s, expected EINTR", got, kt_errstr(e));
    CHECK(usr1_count >= 1, "the handler did not run");
    EXPECT_EQ(st, 0);
}

TEST(setlkw_restarts_after_an_sa_restart_handler) {
    int fd = OK(scratch(0, NULL));
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    OK(sigaction(SIGUSR1, &sa, &old));
    usr1_count = 0;
    struct kid k;
    int r = kid_fork(&k);
    if (r == 0)
        pester_child(&k, fd, 4, 1);
    if (r < 0) {
        sigaction(SIGUSR1, &old, NULL);
        CHECK(0, "fork failed");
    }
    char ready = hear(k.from[0]);
    errno = 0;
    long got = ready == 'r' ? lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1) : -2;
    int e = errno;
    int st = kid_end(&k);
    sigaction(SIGUSR1, &old, NULL);
    close(fd);
    CHECK(ready == 'r', "the child could not lock");
    CHECK(got == 0, "F_SETLKW returned %ld errno %s, expected 0", got, kt_errstr(e));
    CHECK(usr1_count >= 1, "the handler did not run");
    EXPECT_EQ(st, 0);
}

TEST(setlkw_closing_a_cycle_is_edeadlk) {
    int fd = OK(scratch(0, NULL));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    struct kid k;
    int r = OK(kid_fork(&k));
    if (r == 0) {
        if (lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 1, 1) != 0)
            _exit(1);
        kid_say(&k, 'r');
        /* Waits for the parent's byte 0. */
        long got = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
        char said = got == 0 ? 'g' : errno == EDEADLK ? 'd' : 'x';
        if (said == 'd') /* it closed the cycle: let the parent through */
            lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
        kid_say(&k, said);
        kid_hear(&k);
        _exit(0);
    }
    CHECK(hear(k.from[0]) == 'r', "the child could not lock");
    pause_ms(100); /* let the child block */
    errno = 0;
    long try = lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 1, 1);
    int e_try = errno;
    errno = 0;
    long wait = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 1, 1);
    int e_wait = errno;
    /* Let the child have byte 0 and report. */
    lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    char child = hear(k.from[0]);
    int st = kid_end(&k);
    close(fd);
    CHECK(try == -1 && e_try == EAGAIN, "F_SETLK: %ld %s, expected EAGAIN (never EDEADLK)", try, kt_errstr(e_try));
    /*
     * Whoever asks second closes the cycle. Normally that is the parent (the
     * child had 100 ms to block); on a very slow machine it may be the child,
     * which then gives up and exits, letting the parent's wait through.
     */
    if (wait == -1 && e_wait == EDEADLK)
        EXPECT_EQ(child, 'g');
    else
        CHECK(wait == 0 && child == 'd', "parent F_SETLKW %ld %s, child said '%c'", wait, kt_errstr(e_wait), child);
    EXPECT_EQ(st, 0);
}

/* ---- splitting and merging -------------------------------------------- */

TEST(type_change_splits_a_lock_seen_from_another_process) {
    int fd = OK(scratch(0, NULL));
    OK(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 100));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 40, 20));
    struct seen first = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    struct seen write = getlk_from_child(fd, F_GETLK, F_RDLCK, SEEK_SET, 0, 0);
    struct seen tail = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, 60, 0);
    struct seen beyond = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, 100, 0);
    close(fd);
    EXPECT_LOCK(first, F_RDLCK, 0, 40, getpid());
    EXPECT_LOCK(write, F_WRLCK, 40, 20, getpid());
    EXPECT_LOCK(tail, F_RDLCK, 60, 40, getpid());
    EXPECT_EQ(beyond.fl.l_type, F_UNLCK);
}

TEST(locks_of_one_type_merge_seen_from_another_process) {
    int fd = OK(scratch(0, NULL));
    OK(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 10));
    OK(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 10, 10)); /* adjacent */
    struct seen adj = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, 15, 1);
    OK(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 30, 10));
    OK(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 15, 20)); /* overlaps both */
    struct seen all = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, 39, 1);
    /* A write lock over the whole of it replaces the read lock. */
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 40));
    struct seen w = getlk_from_child(fd, F_GETLK, F_RDLCK, SEEK_SET, 0, 0);
    close(fd);
    EXPECT_LOCK(adj, F_RDLCK, 0, 20, getpid());
    EXPECT_LOCK(all, F_RDLCK, 0, 40, getpid());
    EXPECT_LOCK(w, F_WRLCK, 0, 40, getpid());
}

TEST(unlock_in_the_middle_splits_a_lock) {
    int fd = OK(scratch(0, NULL));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0));
    OK(lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 10, 10));
    struct seen left = getlk_from_child(fd, F_GETLK, F_RDLCK, SEEK_SET, 0, 15);
    int hole = free_elsewhere(fd, 10, 10);
    struct seen right = getlk_from_child(fd, F_GETLK, F_RDLCK, SEEK_SET, 15, 0);
    close(fd);
    EXPECT_LOCK(left, F_WRLCK, 0, 10, getpid());
    CHECK(hole, "the unlocked middle is still locked");
    EXPECT_LOCK(right, F_WRLCK, 20, 0, getpid());
}

/* ---- l_whence and l_len ------------------------------------------------- */

TEST(seek_end_and_seek_cur_take_negative_starts) {
    int fd = OK(scratch(100, NULL));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_END, -10, 5));
    struct seen end = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    OK(lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));
    OK(lseek(fd, 50, SEEK_SET));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_CUR, -20, 10));
    struct seen cur = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    OK(lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));
    errno = 0;
    long before0 = lk(fd, F_SETLK, F_WRLCK, SEEK_END, -101, 1);
    int e = errno;
    close(fd);
    EXPECT_LOCK(end, F_WRLCK, 90, 5, getpid());
    EXPECT_LOCK(cur, F_WRLCK, 30, 10, getpid());
    CHECK(before0 == -1 && e == EINVAL, "a start before 0: %ld %s", before0, kt_errstr(e));
}

TEST(negative_l_len_locks_the_bytes_before_start) {
    int fd = OK(scratch(100, NULL));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_END, 0, -10));
    struct seen s = getlk_from_child(fd, F_GETLK, F_RDLCK, SEEK_SET, 0, 0);
    errno = 0;
    long too_far = lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, -6);
    int e = errno;
    long exact = lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, -5);
    close(fd);
    EXPECT_LOCK(s, F_WRLCK, 90, 10, getpid());
    CHECK(too_far == -1 && e == EINVAL, "[-1, 4]: %ld %s", too_far, kt_errstr(e));
    EXPECT_EQ(exact, 0);
}

/* ---- release ---------------------------------------------------------- */

TEST(closing_a_dup_releases_posix_locks) {
    int fd = OK(scratch(0, NULL));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0));
    int d = OK(dup(fd));
    int held = !free_elsewhere(fd, 0, 0);
    OK(close(d));
    int after = free_elsewhere(fd, 0, 0);
    close(fd);
    CHECK(held, "the lock was not there");
    CHECK(after, "closing a dup left the lock");
}

TEST(closing_another_open_of_the_file_releases_posix_locks) {
    const char *p;
    int fd = OK(scratch(0, &p));
    OK(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 10));
    int other = OK(open(p, O_RDONLY));
    OK(close(other));
    int after = free_elsewhere(fd, 0, 0);
    close(fd);
    CHECK(after, "closing another descriptor of the file left the lock");
}

TEST(dup2_over_a_descriptor_releases_posix_locks) {
    int fd = OK(scratch(0, NULL));
    int d = OK(dup(fd));
    int pfd[2];
    OK(pipe(pfd));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0));
    OK(dup2(pfd[0], d)); /* closes d, a descriptor of the file */
    int after = free_elsewhere(fd, 0, 0);
    close(fd);
    close(d);
    close(pfd[0]);
    close(pfd[1]);
    CHECK(after, "dup2 over a descriptor of the file left the lock");
}

TEST(closing_a_dup_keeps_ofd_locks_until_the_last_close) {
    const char *p;
    int fd = OK(scratch(0, &p));
    OK(lk(fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 0));
    int d = OK(dup(fd));
    OK(close(fd));
    struct seen s = getlk_from_child(d, F_GETLK, F_RDLCK, SEEK_SET, 0, 0);
    OK(close(d));
    int probe = OK(open(p, O_RDWR));
    int after = free_elsewhere(probe, 0, 0);
    close(probe);
    /* OFD locks belong to no process: l_pid is -1. */
    EXPECT_LOCK(s, F_WRLCK, 0, 0, -1);
    CHECK(after, "the last close left the OFD lock");
}

TEST(exit_releases_posix_locks) {
    int fd = OK(scratch(0, NULL));
    struct kid k;
    int r = OK(kid_fork(&k));
    if (r == 0) {
        if (lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0) != 0)
            _exit(1);
        kid_say(&k, 'r');
        kid_hear(&k);
        _exit(0);
    }
    CHECK(hear(k.from[0]) == 'r', "the child could not lock");
    int held = !free_elsewhere(fd, 0, 0);
    int st = kid_end(&k);
    /* The child never unlocked or closed: its exit released the lock. */
    long got = lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
    close(fd);
    CHECK(held, "the child's lock was not seen");
    EXPECT_EQ(st, 0);
    EXPECT_EQ(got, 0);
}

/* ---- OFD locks -------------------------------------------------------- */

TEST(ofd_locks_conflict_with_the_same_process_posix_locks) {
    int fd = OK(scratch(0, NULL));
    OK(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
    errno = 0;
    long ofd = lk(fd, F_OFD_SETLK, F_RDLCK, SEEK_SET, 5, 1);
    int e = errno;
    struct flock fl = mk(F_RDLCK, SEEK_SET, 0, 0);
    OK(syscall(SYS_fcntl, fd, F_OFD_GETLK, &fl));
    close(fd);
    CHECK(ofd == -1 && e == EAGAIN, "F_OFD_SETLK over our POSIX lock: %ld %s", ofd, kt_errstr(e));
    struct seen s = {0, fl};
    EXPECT_LOCK(s, F_WRLCK, 0, 10, getpid());
}

TEST(ofd_locks_of_separate_opens_conflict) {
    const char *p;
    int a = OK(scratch(0, &p));
    int b = OK(open(p, O_RDWR));
    OK(lk(a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    /* The same description never conflicts with itself, even via a dup. */
    int d = OK(dup(a));
    long same = lk(d, F_OFD_SETLK, F_RDLCK, SEEK_SET, 0, 1);
    errno = 0;
    long other = lk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 1);
    int e = errno;
    struct flock fl = mk(F_WRLCK, SEEK_SET, 0, 0);
    OK(syscall(SYS_fcntl, b, F_OFD_GETLK, &fl));
    close(a);
    close(b);
    close(d);
    EXPECT_EQ(same, 0);
    CHECK(other == -1 && e == EAGAIN, "second open: %ld %s", other, kt_errstr(e));
    struct seen s = {0, fl};
    EXPECT_LOCK(s, F_RDLCK, 0, 1, -1);
}

TEST(ofd_setlkw_waits_for_the_other_description) {
    const char *p;
    int a = OK(scratch(0, &p));
    OK(lk(a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 0));
    struct kid k;
    int r = OK(kid_fork(&k));
    if (r == 0) {
        close(a); /* the description stays the parent's alone */
        int b = open(p, O_RDWR);
        kid_say(&k, 'r');
        long got = lk(b, F_OFD_SETLKW, F_WRLCK, SEEK_SET, 0, 0);
        kid_say(&k, got == 0 ? 'g' : 'x');
        kid_hear(&k);
        _exit(0);
    }
    CHECK(hear(k.from[0]) == 'r', "the child did not start");
    pause_ms(50);
    /* The child shares `a` (fork) but waits through its own description. */
    OK(close(a));
    char got = hear(k.from[0]);
    int st = kid_end(&k);
    EXPECT_EQ(got, 'g');
    EXPECT_EQ(st, 0);
}

/* Since Linux 6.6 F_OFD_GETLK takes F_UNLCK: it reports the description's own locks. */
TEST(ofd_getlk_with_unlck_reports_the_descriptions_own_locks) {
    const char *p;
    int a = OK(scratch(0, &p));
    int b = OK(open(p, O_RDWR));
    struct flock none = mk(F_UNLCK, SEEK_SET, 0, 0);
    OK(syscall(SYS_fcntl, a, F_OFD_GETLK, &none));
    OK(lk(a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 5));
    OK(lk(a, F_OFD_SETLK, F_RDLCK, SEEK_SET, 7, 1));
    OK(lk(b, F_SETLK, F_RDLCK, SEEK_SET, 20, 1)); /* the process's, not b's */
    struct flock own = mk(F_UNLCK, SEEK_SET, 0, 0);
    OK(syscall(SYS_fcntl, a, F_OFD_GETLK, &own));
    struct flock mid = mk(F_UNLCK, SEEK_SET, 7, 0);
    OK(syscall(SYS_fcntl, a, F_OFD_GETLK, &mid));
    struct flock other = mk(F_UNLCK, SEEK_SET, 0, 0);
    OK(syscall(SYS_fcntl, b, F_OFD_GETLK, &other));
    close(a);
    close(b);
    EXPECT_EQ(none.l_type, F_UNLCK);
    struct seen s1 = {0, own}, s2 = {0, mid};
    EXPECT_LOCK(s1, F_WRLCK, 5, 2, -1);
    EXPECT_LOCK(s2, F_RDLCK, 7, 1, -1);
    EXPECT_EQ(other.l_type, F_UNLCK);
}

TEST(ofd_commands_with_nonzero_l_pid_are_einval) {
    int fd = OK(scratch(0, NULL));
    struct flock fl = mk(F_WRLCK, SEEK_SET, 0, 0);
    fl.l_pid = 1;
    errno = 0;
    long set = syscall(SYS_fcntl, fd, F_OFD_SETLK, &fl);
    int e1 = errno;
    errno = 0;
    long get = syscall(SYS_fcntl, fd, F_OFD_GETLK, &fl);
    int e2 = errno;
    fl.l_type = F_UNLCK;
    errno = 0;
    long un = syscall(SYS_fcntl, fd, F_OFD_SETLKW, &fl);
    int e3 = errno;
    /* POSIX commands ignore l_pid. */
    fl.l_type = F_WRLCK;
    long posix = syscall(SYS_fcntl, fd, F_SETLK, &fl);
    close(fd);
    CHECK(set == -1 && e1 == EINVAL, "F_OFD_SETLK: %ld %s", set, kt_errstr(e1));
    CHECK(get == -1 && e2 == EINVAL, "F_OFD_GETLK: %ld %s", get, kt_errstr(e2));
    CHECK(un == -1 && e3 == EINVAL, "F_OFD_SETLKW unlock: %ld %s", un, kt_errstr(e3));
    EXPECT_EQ(posix, 0);
}

/* ---- errors ----------------------------------------------------------- */

TEST(lock_type_must_match_the_open_mode_ebadf) {
    const char *p;
    int fd = OK(scratch(0, &p));
    close(fd);
    int ro = OK(open(p, O_RDONLY));
    int wo = OK(open(p, O_WRONLY));
    errno = 0;
    long w_on_ro = lk(ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
    int e1 = errno;
    errno = 0;
    long r_on_wo = lk(wo, F_SETLKW, F_RDLCK, SEEK_SET, 0, 0);
    int e2 = errno;
    errno = 0;
    long ofd = lk(ro, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 0);
    int e3 = errno;
    long un = lk(ro, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    /* F_GETLK asks; it needs no particular mode. */
    struct flock fl = mk(F_WRLCK, SEEK_SET, 0, 0);
    long get = syscall(SYS_fcntl, ro, F_GETLK, &fl);
    long r_on_ro = lk(ro, F_SETLK, F_RDLCK, SEEK_SET, 0, 0);
    long w_on_wo = lk(wo, F_SETLK, F_WRLCK, SEEK_SET, 1, 0);
    close(ro);
    close(wo);
    CHECK(w_on_ro == -1 && e1 == EBADF, "write lock on O_RDONLY: %ld %s", w_on_ro, kt_errstr(e1));
    CHECK(r_on_wo == -1 && e2 == EBADF, "read lock on O_WRONLY: %ld %s", r_on_wo, kt_errstr(e2));
    CHECK(ofd == -1 && e3 == EBADF, "OFD write lock on O_RDONLY: %ld %s", ofd, kt_errstr(e3));
    EXPECT_EQ(un, 0);
    EXPECT_EQ(get, 0);
    EXPECT_EQ(r_on_ro, 0);
    EXPECT_EQ(w_on_wo, 0);
}

TEST(bad_and_o_path_descriptors_are_ebadf) {
    const char *p;
    int fd = OK(scratch(0, &p));
    int path = OK(open(p, O_PATH));
    close(fd);
    struct flock fl = mk(F_RDLCK, SEEK_SET, 0, 0);
    EXPECT_ERRNO(syscall(SYS_fcntl, fd, F_GETLK, &fl), EBADF);
    EXPECT_ERRNO(syscall(SYS_fcntl, -1, F_SETLK, &fl), EBADF);
    EXPECT_ERRNO(syscall(SYS_fcntl, 100000, F_OFD_SETLKW, &fl), EBADF);
    errno = 0;
    long r = syscall(SYS_fcntl, path, F_GETLK, &fl);
    int e = errno;
    close(path);
    CHECK(r == -1 && e == EBADF, "F_GETLK on O_PATH: %ld %s", r, kt_errstr(e));
}

TEST(bad_flock_fields_are_einval) {
    int fd = OK(scratch(10, NULL));
    EXPECT_ERRNO(lk(fd, F_SETLK, F_WRLCK, 3, 0, 0), EINVAL);
    EXPECT_ERRNO(lk(fd, F_GETLK, F_WRLCK, -1, 0, 0), EINVAL);
    EXPECT_ERRNO(lk(fd, F_SETLK, 7, SEEK_SET, 0, 0), EINVAL);
    EXPECT_ERRNO(lk(fd, F_SETLKW, -1, SEEK_SET, 0, 0), EINVAL);
    /* F_GETLK asks about a read or a write lock, not an unlock. */
    EXPECT_ERRNO(lk(fd, F_GETLK, F_UNLCK, SEEK_SET, 0, 0), EINVAL);
    EXPECT_ERRNO(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, -1, 1), EINVAL);
    EXPECT_ERRNO(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, -1), EINVAL);
    EXPECT_ERRNO(lk(fd, F_GETLK, F_RDLCK, SEEK_END, -11, 0), EINVAL);
    /* An unlock is checked as much as a lock. */
    EXPECT_ERRNO(lk(fd, F_SETLK, F_UNLCK, SEEK_SET, -5, 0), EINVAL);
    close(fd);
}

TEST(ranges_past_offset_max_are_eoverflow) {
    int fd = OK(scratch(10, NULL));
    EXPECT_ERRNO(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, LLONG_MAX, 2), EOVERFLOW);
    EXPECT_ERRNO(lk(fd, F_SETLK, F_RDLCK, SEEK_END, LLONG_MAX, 0), EOVERFLOW);
    EXPECT_ERRNO(lk(fd, F_GETLK, F_RDLCK, SEEK_SET, 2, LLONG_MAX), EOVERFLOW);
    /* [1, OFFSET_MAX] just fits. */
    EXPECT_EQ(lk(fd, F_GETLK, F_RDLCK, SEEK_SET, 1, LLONG_MAX), 0);
    /* The last byte itself can be locked. */
    long last = lk(fd, F_SETLK, F_RDLCK, SEEK_SET, LLONG_MAX, 1);
    struct seen s = getlk_from_child(fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    close(fd);
    EXPECT_EQ(last, 0);
    /* A lock that ends at the largest offset reads back as "to EOF". */
    EXPECT_LOCK(s, F_RDLCK, LLONG_MAX, 0, getpid());
}

TEST(unreadable_flock_is_efault) {
    int fd = OK(scratch(0, NULL));
    EXPECT_ERRNO(syscall(SYS_fcntl, fd, F_SETLK, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_fcntl, fd, F_GETLK, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_fcntl, fd, F_OFD_SETLKW, BADPTR), EFAULT);
    close(fd);
}

/* ---- flock beside fcntl ----------------------------------------------- */

TEST(flock_and_fcntl_locks_are_independent) {
    const char *p;
    int a = OK(scratch(0, &p));
    int b = OK(open(p, O_RDWR));
    OK(syscall(SYS_flock, a, LOCK_EX));
    EXPECT_ERRNO(syscall(SYS_flock, b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    /* A record lock of another description is not in flock's way. */
    long ofd = lk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 0);
    long posix = lk(b, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
    OK(syscall(SYS_flock, a, LOCK_UN));
    long now = syscall(SYS_flock, b, LOCK_SH | LOCK_NB);
    close(a);
    close(b);
    EXPECT_EQ(ofd, 0);
    EXPECT_EQ(posix, -1); /* our own OFD lock on b is in the way */
    EXPECT_EQ(now, 0);
}

TEST(flock_survives_closing_a_dup) {
    const char *p;
    int a = OK(scratch(0, &p));
    int d = OK(dup(a));
    OK(syscall(SYS_flock, a, LOCK_EX));
    OK(close(d));
    int b = OK(open(p, O_RDONLY));
    errno = 0;
    long held = syscall(SYS_flock, b, LOCK_SH | LOCK_NB);
    int e = errno;
    OK(close(a));
    long after = syscall(SYS_flock, b, LOCK_SH | LOCK_NB);
    close(b);
    CHECK(held == -1 && e == EWOULDBLOCK, "flock after closing a dup: %ld %s", held, kt_errstr(e));
    EXPECT_EQ(after, 0);
}

/* ---- /proc/locks -------------------------------------------------------- */

TEST(proc_locks_lists_posix_ofd_and_flock_locks) {
    const char *p;
    int a = OK(scratch(0, &p));
    int b = OK(open(p, O_RDWR));
    int c = OK(open(p, O_RDONLY));
    struct stat st;
    OK(fstat(a, &st));
    OK(lk(a, F_SETLK, F_WRLCK, SEEK_SET, 5, 5));
    OK(lk(b, F_OFD_SETLK, F_RDLCK, SEEK_SET, 20, 0));
    OK(syscall(SYS_flock, c, LOCK_SH));
    char want[3][160];
    char file[64];
    snprintf(file, sizeof file, "%02x:%02x:%lu", major(st.st_dev), minor(st.st_dev),
             (unsigned long)st.st_ino);
    snprintf(want[0], sizeof want[0], ": POSIX  ADVISORY  WRITE %d %s 5 9\n", getpid(), file);
    snprintf(want[1], sizeof want[1], ": OFDLCK ADVISORY  READ -1 %s 20 EOF\n", file);
    snprintf(want[2], sizeof want[2], ": FLOCK  ADVISORY  READ %d %s 0 EOF\n", getpid(), file);
    static char buf[65536];
    int fd = OK(open("/proc/locks", O_RDONLY));
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += r;
    buf[n] = 0;
    close(fd);
    close(a);
    close(b);
    close(c);
    for (int i = 0; i < 3; i++)
        CHECK(strstr(buf, want[i]), "no line ending \"%.*s\" in /proc/locks:\n%s",
              (int)strlen(want[i]) - 1, want[i], buf);
}

int main(void)
{
    KT_BEGIN();
    RUN(getlk_reports_the_holders_pid_range_and_type);
    RUN(getlk_without_conflict_changes_only_l_type);
    RUN(getlk_ignores_the_callers_own_locks);
    RUN(setlk_conflicts_are_eagain_and_read_locks_share);
    RUN(fork_child_does_not_inherit_posix_locks);
    RUN(unlock_of_nothing_succeeds);
    RUN(setlkw_waits_until_the_holder_unlocks);
    RUN(setlkw_on_a_child_that_exits_is_granted);
    RUN(setlkw_interrupted_by_a_handler_is_eintr);
    RUN(setlkw_restarts_after_an_sa_restart_handler);
    RUN(setlkw_closing_a_cycle_is_edeadlk);
    RUN(type_change_splits_a_lock_seen_from_another_process);
    RUN(locks_of_one_type_merge_seen_from_another_process);
    RUN(unlock_in_the_middle_splits_a_lock);
    RUN(seek_end_and_seek_cur_take_negative_starts);
    RUN(negative_l_len_locks_the_bytes_before_start);
    RUN(closing_a_dup_releases_posix_locks);
    RUN(closing_another_open_of_the_file_releases_posix_locks);
    RUN(dup2_over_a_descriptor_releases_posix_locks);
    RUN(closing_a_dup_keeps_ofd_locks_until_the_last_close);
    RUN(exit_releases_posix_locks);
    RUN(ofd_locks_conflict_with_the_same_process_posix_locks);
    RUN(ofd_locks_of_separate_opens_conflict);
    RUN(ofd_setlkw_waits_for_the_other_description);
    RUN(ofd_getlk_with_unlck_reports_the_descriptions_own_locks);
    RUN(ofd_commands_with_nonzero_l_pid_are_einval);
    RUN(lock_type_must_match_the_open_mode_ebadf);
    RUN(bad_and_o_path_descriptors_are_ebadf);
    RUN(bad_flock_fields_are_einval);
    RUN(ranges_past_offset_max_are_eoverflow);
    RUN(unreadable_flock_is_efault);
    RUN(flock_and_fcntl_locks_are_independent);
    RUN(flock_survives_closing_a_dup);
    RUN(proc_locks_lists_posix_ofd_and_flock_locks);
    return KT_END();
}
