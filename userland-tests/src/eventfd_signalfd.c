/*
 * eventfd_signalfd.c - eventfd(2)/eventfd2(2) and signalfd(2)/signalfd4(2).
 *
 * eventfd, as asserted here:
 *   - The counter is a u64. A read needs at least 8 bytes (EINVAL below) and
 *     returns the whole count and resets it to 0; with EFD_SEMAPHORE it
 *     returns 1 and decrements. A read of 0 blocks, or is EAGAIN with
 *     O_NONBLOCK.
 *   - A write must be exactly 8 bytes (shorter or longer is EINVAL, while a
 *     longer read is fine); the value 0xffffffffffffffff is EINVAL.
 *     The counter can hold at most 0xfffffffffffffffe: a write that would go
 *     past it blocks until a read makes room (EAGAIN with O_NONBLOCK).
 *   - poll: POLLIN while the count is > 0, POLLOUT while at least 1 more can
 *     be added (count < 0xfffffffffffffffe).
 *   - eventfd2 accepts only EFD_CLOEXEC, EFD_NONBLOCK and EFD_SEMAPHORE.
 *   - The fd is an anonymous inode: fstat works (mode 0600, no file type
 *     bits, size 0), the file is O_RDWR, and lseek is a no-op returning 0
 *     (noop_llseek), not ESPIPE.
 *
 * signalfd, as asserted here:
 *   - sizemask must be exactly 8, flags only SFD_CLOEXEC|SFD_NONBLOCK, and a
 *     fd that is not a signalfd (when updating) is EINVAL. SIGKILL and SIGSTOP
 *     in the mask are dropped without an error (/proc/self/fdinfo shows the
 *     mask without them).
 *   - A read needs room for one 128-byte record (EINVAL below), returns as
 *     many records as fit and are pending (lowest signal number first), and
 *     blocks only for the first one. Reading dequeues the signal.
 *   - ssi_code: SI_USER for kill, SI_TKILL for tgkill, SI_QUEUE for
 *     sigqueue (with ssi_int/ssi_ptr carrying the value), CLD_EXITED for a
 *     child's SIGCHLD (with ssi_pid and ssi_status), SI_TIMER for a POSIX
 *     timer (ssi_tid is the timer id, ssi_int the sigev_value).
 *   - Surprise: an ITIMER_REAL SIGALRM is not SI_TIMER but SI_KERNEL (0x80):
 *     setitimer's timer sends it as a private kernel signal (no pid, uid 0).
 *
 * Each case runs under a watchdog alarm (SIGALRM with a handler and no
 * SA_RESTART), so a blocking read or write that never wakes fails with EINTR
 * instead of hanging. Afterwards the signals a case may leave pending are
 * discarded (set to SIG_IGN, which flushes them) before the original mask
 * is restored, so nothing a failed case leaves queued can kill the program.
 * Helper threads block every signal.
 */
#define KT_AREA "eventfd_signalfd"
#include "kt.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <time.h>

_Static_assert(sizeof(struct signalfd_siginfo) == 128, "struct signalfd_siginfo must be 128 bytes");
_Static_assert(sizeof(struct epoll_event) == 12, "struct epoll_event must be 12 bytes");

#define KSIGSET 8
#define BIT(sig) (1ULL << ((sig) - 1))
#define MS 1000000LL
#define WATCHDOG_S 10
#define EFD_MAX 0xfffffffffffffffeULL /* the largest value the counter can hold */

/* ---- helpers ---------------------------------------------------------- */

static long efd(unsigned int initval, int flags)
{
    return syscall(SYS_eventfd2, initval, flags);
}

static long efd_write(int fd, uint64_t v)
{
    return syscall(SYS_write, fd, &v, sizeof v);
}

/* Reads the counter into *v; returns what read returned. */
static long efd_read(int fd, uint64_t *v)
{
    *v = 0xdeadbeefdeadbeefULL;
    return syscall(SYS_read, fd, v, sizeof *v);
}

static long sfd(int fd, uint64_t mask, int flags)
{
    return syscall(SYS_signalfd4, fd, &mask, KSIGSET, flags);
}

static long sfd_read(int fd, struct signalfd_siginfo *si, size_t n)
{
    memset(si, 0xa5, n * sizeof *si);
    return syscall(SYS_read, fd, si, n * sizeof *si);
}

static short poll_events(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    long r = syscall(SYS_poll, &p, 1, 0);
    return r < 0 ? -1 : p.revents;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (syscall(SYS_nanosleep, &ts, &ts) != 0 && errno == EINTR) {
    }
}

static int reap(pid_t pid)
{
    int st;
    pid_t r;
    do
        r = waitpid(pid, &st, 0);
    while (r == -1 && errno == EINTR);
    return r == pid ? st : -1;
}

static int exited_with(int st, int code)
{
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* ---- signals ---------------------------------------------------------- */

static uint64_t initial_mask;
static volatile sig_atomic_t watchdog_fired;

static uint64_t getmask(void)
{
    uint64_t m = 0;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, KSIGSET);
    return m;
}

static void setmask(uint64_t m)
{
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, KSIGSET);
}

static void block(uint64_t m)
{
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &m, NULL, KSIGSET);
}

static uint64_t pending(void)
{
    uint64_t m = 0;
    syscall(SYS_rt_sigpending, &m, KSIGSET);
    return m;
}

static void h_watchdog(int sig)
{
    (void)sig;
    watchdog_fired = 1;
}

static int on(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    return sigaction(sig, &sa, NULL);
}

/* Appended to failure messages of blocking calls. */
static const char *wd(void)
{
    return watchdog_fired ? " (the watchdog fired: the call never returned)" : "";
}

/* ---- the helper thread ------------------------------------------------ */

/* After delay_ms, writes `value` to the eventfd (write = 1) or reads it
 * (write = 0), keeping the result. Starts with every signal blocked. */
struct helper {
    pthread_t pt;
    int fd;
    int write;
    uint64_t value;
    long delay_ms;
    long ret;
    int err;
};

static void *helper_main(void *arg)
{
    struct helper *h = arg;
    sleep_ms(h->delay_ms);
    errno = 0;
    if (h->write)
        h->ret = efd_write(h->fd, h->value);
    else
        h->ret = efd_read(h->fd, &h->value);
    h->err = errno;
    return NULL;
}

static int helper_start(struct helper *h, int fd, int write, uint64_t value, long delay_ms)
{
    memset(h, 0, sizeof *h);
    h->fd = fd;
    h->write = write;
    h->value = value;
    h->delay_ms = delay_ms;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&h->pt, NULL, helper_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r == 0 ? 0 : -1;
}

/* ---- running cases ---------------------------------------------------- */

static const int test_sigs[] = {SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM, SIGPIPE, SIGTERM, SIGWINCH};

static void case_begin(void)
{
    watchdog_fired = 0;
    on(SIGALRM, h_watchdog, 0);
    alarm(WATCHDOG_S);
}

/* Puts back what a case may change, even after a failed check: timers, the
 * alarm, children, open fds (so each case starts with only 0-2 open),
 * pending test signals (SIG_IGN discards them), handlers and the mask. */
static void case_end(void)
{
    struct itimerval zero;
    memset(&zero, 0, sizeof zero);
    setitimer(ITIMER_REAL, &zero, NULL);
    alarm(0);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    for (int fd = 3; fd < 128; fd++)
        close(fd);
    for (size_t i = 0; i < sizeof test_sigs / sizeof test_sigs[0]; i++) {
        on(test_sigs[i], SIG_IGN, 0);
        on(test_sigs[i], SIG_DFL, 0);
    }
    setmask(initial_mask);
}

#define RUNS(name)                                                                            \
    do {                                                                                      \
        case_begin();                                                                         \
        RUN(name);                                                                            \
        case_end();                                                                           \
    } while (0)

/* =====================================================================
 * eventfd
 * ===================================================================== */

TEST(eventfd_initial_value_is_readable_and_read_resets) {
    int fd = OK(efd(5, EFD_NONBLOCK));
    uint64_t v;
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, 5);
    EXPECT_ERRNO(efd_read(fd, &v), EAGAIN);
    /* the initial value is an unsigned int: the largest one works */
    int fd2 = OK(efd(0xffffffffu, EFD_NONBLOCK));
    EXPECT_EQ(efd_read(fd2, &v), 8);
    EXPECT_EQ(v, 0xffffffffULL);
    /* the old eventfd syscall takes only the initial value */
    int fd3 = OK(syscall(SYS_eventfd, 9));
    EXPECT_EQ(efd_read(fd3, &v), 8);
    EXPECT_EQ(v, 9);
}

TEST(eventfd_writes_add_and_read_returns_sum) {
    int fd = OK(efd(1, EFD_NONBLOCK));
    EXPECT_EQ(efd_write(fd, 2), 8);
    EXPECT_EQ(efd_write(fd, 40), 8);
    EXPECT_EQ(efd_write(fd, 0), 8); /* adding 0 is allowed */
    uint64_t v;
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, 43);
    EXPECT_ERRNO(efd_read(fd, &v), EAGAIN);
    EXPECT_EQ(efd_write(fd, 7), 8);
    /* a bigger buffer is fine: still exactly 8 bytes */
    uint64_t big[4] = {0, 0, 0, 0};
    EXPECT_EQ(syscall(SYS_read, fd, big, sizeof big), 8);
    EXPECT_EQ(big[0], 7);
    EXPECT_EQ(big[1], 0);
    /* but a write must be exactly 8 bytes: a longer one is EINVAL and adds
     * nothing */
    uint64_t w[2] = {3, 1000};
    EXPECT_ERRNO(syscall(SYS_write, fd, w, sizeof w), EINVAL);
    EXPECT_ERRNO(syscall(SYS_write, fd, w, 9), EINVAL);
    EXPECT_ERRNO(efd_read(fd, &v), EAGAIN);
}

TEST(eventfd_semaphore_reads_one_and_decrements) {
    int fd = OK(efd(3, EFD_SEMAPHORE | EFD_NONBLOCK));
    uint64_t v;
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(efd_read(fd, &v), 8);
        EXPECT_EQ(v, 1);
    }
    EXPECT_ERRNO(efd_read(fd, &v), EAGAIN);
    EXPECT_EQ(efd_write(fd, 2), 8);
    EXPECT_EQ(poll_events(fd, POLLIN), POLLIN);
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, 1);
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, 1);
    EXPECT_ERRNO(efd_read(fd, &v), EAGAIN);
}

TEST(eventfd_read_of_zero_nonblocking_is_eagain) {
    int fd = OK(efd(0, EFD_NONBLOCK));
    uint64_t v;
    EXPECT_ERRNO(efd_read(fd, &v), EAGAIN);
    int fl = OK(fcntl(fd, F_GETFL));
    EXPECT_EQ(fl & O_NONBLOCK, O_NONBLOCK);
    EXPECT_EQ(fl & O_ACCMODE, O_RDWR);
    /* O_NONBLOCK set later with fcntl counts too */
    int fd2 = OK(efd(0, 0));
    OK(fcntl(fd2, F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(efd_read(fd2, &v), EAGAIN);
}

TEST(eventfd_blocking_read_woken_by_write_from_thread) {
    int fd = OK(efd(0, 0));
    struct helper h;
    long long t0 = now_ns(); /* before the helper's sleep starts */
    CHECK(helper_start(&h, fd, 1, 7, 50) == 0, "pthread_create failed");
    uint64_t v;
    errno = 0;
    long r = efd_read(fd, &v);
    int e = errno;
    long long dt = now_ns() - t0;
    pthread_join(h.pt, NULL);
    CHECK(r == 8, "read returned %ld %s%s", r, kt_errstr(e), wd());
    EXPECT_EQ(v, 7);
    CHECK(h.ret == 8, "helper write returned %ld %s", h.ret, kt_errstr(h.err));
    CHECK(dt >= 40 * MS, "read returned after %lld ms, before the write", dt / MS);
}

TEST(eventfd_write_of_all_ones_is_einval) {
    int fd = OK(efd(0, EFD_NONBLOCK));
    EXPECT_ERRNO(efd_write(fd, 0xffffffffffffffffULL), EINVAL);
    uint64_t v;
    EXPECT_ERRNO(efd_read(fd, &v), EAGAIN);
    /* the largest value that fits is fine */
    EXPECT_EQ(efd_write(fd, EFD_MAX), 8);
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, EFD_MAX);
}

TEST(eventfd_overflowing_write_nonblocking_is_eagain) {
    int fd = OK(efd(10, EFD_NONBLOCK));
    EXPECT_ERRNO(efd_write(fd, EFD_MAX - 9), EAGAIN);
    EXPECT_EQ(efd_write(fd, EFD_MAX - 10), 8); /* exactly to the top */
    EXPECT_ERRNO(efd_write(fd, 1), EAGAIN);
    EXPECT_EQ(efd_write(fd, 0), 8); /* adding 0 always fits */
    uint64_t v;
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, EFD_MAX);
}

/* The counter is full; the main thread's write of 1 blocks until the helper
 * reads the counter 50 ms later. */
TEST(eventfd_overflowing_write_blocks_until_read) {
    int fd = OK(efd(0, 0));
    EXPECT_EQ(efd_write(fd, EFD_MAX), 8);
    struct helper h;
    long long t0 = now_ns();
    CHECK(helper_start(&h, fd, 0, 0, 50) == 0, "pthread_create failed");
    errno = 0;
    long r = efd_write(fd, 1);
    int e = errno;
    long long dt = now_ns() - t0;
    pthread_join(h.pt, NULL);
    CHECK(r == 8, "write returned %ld %s%s", r, kt_errstr(e), wd());
    CHECK(h.ret == 8, "helper read returned %ld %s", h.ret, kt_errstr(h.err));
    EXPECT_EQ(h.value, EFD_MAX);
    CHECK(dt >= 40 * MS, "write returned after %lld ms, before the read", dt / MS);
    uint64_t v;
    OK(fcntl(fd, F_SETFL, O_NONBLOCK));
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, 1);
}

TEST(eventfd_short_read_or_write_is_einval) {
    int fd = OK(efd(4, EFD_NONBLOCK));
    char buf[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_ERRNO(syscall(SYS_read, fd, buf, 7), EINVAL);
    EXPECT_ERRNO(syscall(SYS_read, fd, buf, 4), EINVAL);
    EXPECT_ERRNO(syscall(SYS_read, fd, buf, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_write, fd, buf, 7), EINVAL);
    EXPECT_ERRNO(syscall(SYS_write, fd, buf, 0), EINVAL);
    /* nothing was consumed or added */
    uint64_t v;
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, 4);
}

TEST(eventfd2_bad_flags_are_einval) {
    EXPECT_ERRNO(efd(0, 2), EINVAL);
    EXPECT_ERRNO(efd(0, O_RDONLY | O_APPEND), EINVAL);
    EXPECT_ERRNO(efd(0, O_DIRECT), EINVAL);
    EXPECT_ERRNO(efd(0, -1), EINVAL);
    EXPECT_ERRNO(efd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE | 4), EINVAL);
    OK(efd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE));
}

TEST(eventfd_cloexec_sets_fd_cloexec) {
    int a = OK(efd(0, EFD_CLOEXEC));
    int b = OK(efd(0, 0));
    int fa = OK(fcntl(a, F_GETFD));
    int fb = OK(fcntl(b, F_GETFD));
    EXPECT_EQ(fa & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_EQ(fb & FD_CLOEXEC, 0);
    int fl = OK(fcntl(b, F_GETFL));
    EXPECT_EQ(fl & O_NONBLOCK, 0);
}

TEST(eventfd_poll_readiness) {
    int fd = OK(efd(0, EFD_NONBLOCK));
    EXPECT_EQ(poll_events(fd, POLLIN | POLLOUT), POLLOUT);
    EXPECT_EQ(poll_events(fd, POLLIN), 0);
    EXPECT_EQ(efd_write(fd, 1), 8);
    EXPECT_EQ(poll_events(fd, POLLIN | POLLOUT), POLLIN | POLLOUT);
    /* full: readable, but not even 1 more fits */
    EXPECT_EQ(efd_write(fd, EFD_MAX - 1), 8);
    EXPECT_EQ(poll_events(fd, POLLIN | POLLOUT), POLLIN);
    uint64_t v;
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(poll_events(fd, POLLIN | POLLOUT), POLLOUT);
    /* one below full: 1 more still fits */
    EXPECT_EQ(efd_write(fd, EFD_MAX - 1), 8);
    EXPECT_EQ(poll_events(fd, POLLIN | POLLOUT), POLLIN | POLLOUT);
}

TEST(eventfd_epoll_readiness) {
    int fd = OK(efd(0, EFD_NONBLOCK));
    int ep = OK(syscall(SYS_epoll_create1, 0));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = 77};
    OK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, fd, &ev));
    struct epoll_event out[2];
    memset(out, 0, sizeof out);
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 1);
    EXPECT_EQ(out[0].events, EPOLLOUT);
    EXPECT_EQ(out[0].data.u64, 77);
    EXPECT_EQ(efd_write(fd, EFD_MAX), 8);
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 1);
    EXPECT_EQ(out[0].events, EPOLLIN);
    uint64_t v;
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(efd_write(fd, 3), 8);
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 1);
    EXPECT_EQ(out[0].events, EPOLLIN | EPOLLOUT);
}

/* An anonymous inode, like epoll's: mode 0600 with no file type bits. Its
 * llseek is noop_llseek: every lseek "succeeds" and returns 0. */
TEST(eventfd_fstat_and_lseek) {
    int fd = OK(efd(3, 0));
    struct stat st;
    memset(&st, 0xa5, sizeof st);
    OK(syscall(SYS_fstat, fd, &st));
    EXPECT_EQ(st.st_mode & S_IFMT, 0);
    EXPECT_EQ(st.st_mode & 07777, 0600);
    EXPECT_EQ(st.st_size, 0);
    EXPECT_EQ(syscall(SYS_lseek, fd, 0L, SEEK_SET), 0);
    EXPECT_EQ(syscall(SYS_lseek, fd, 10L, SEEK_SET), 0);
    EXPECT_EQ(syscall(SYS_lseek, fd, 5L, SEEK_CUR), 0);
    EXPECT_EQ(syscall(SYS_lseek, fd, 0L, SEEK_END), 0);
    /* pread is ESPIPE: the file is not FMODE_PREAD */
    uint64_t v;
    EXPECT_ERRNO(syscall(SYS_pread64, fd, &v, sizeof v, 0L), ESPIPE);
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, 3);
}

TEST(eventfd_counter_shared_after_fork) {
    int fd = OK(efd(1, EFD_NONBLOCK));
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0)
        _exit(efd_write(fd, 41) == 8 ? 0 : 1);
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    uint64_t v;
    EXPECT_EQ(efd_read(fd, &v), 8);
    EXPECT_EQ(v, 42);
    /* and the other way round: the parent writes, the child reads */
    EXPECT_EQ(efd_write(fd, 9), 8);
    pid = OK(fork());
    if (pid == 0) {
        uint64_t cv;
        _exit(efd_read(fd, &cv) == 8 && cv == 9 ? 0 : 1);
    }
    st = reap(pid);
    CHECK(exited_with(st, 0), "child %s (did not read 9)", kt_status(st));
    EXPECT_ERRNO(efd_read(fd, &v), EAGAIN);
}

/* =====================================================================
 * signalfd
 * ===================================================================== */

/* The basic record: tgkill (what musl's raise() uses) gives SI_TKILL. */
TEST(signalfd_reads_raised_signal) {
    block(BIT(SIGUSR1));
    int fd = OK(sfd(-1, BIT(SIGUSR1), SFD_NONBLOCK));
    OK(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1));
    CHECK(pending() & BIT(SIGUSR1), "SIGUSR1 not pending after tgkill");
    struct signalfd_siginfo si[1];
    EXPECT_EQ(sfd_read(fd, si, 1), 128);
    EXPECT_EQ(si[0].ssi_signo, SIGUSR1);
    EXPECT_EQ(si[0].ssi_errno, 0);
    EXPECT_EQ(si[0].ssi_code, SI_TKILL);
    EXPECT_EQ(si[0].ssi_pid, getpid());
    EXPECT_EQ(si[0].ssi_uid, getuid());
    /* the signal was consumed */
    EXPECT_EQ(pending() & BIT(SIGUSR1), 0);
    EXPECT_ERRNO(sfd_read(fd, si, 1), EAGAIN);
}

TEST(signalfd_kill_gives_si_user) {
    block(BIT(SIGUSR1));
    int fd = OK(sfd(-1, BIT(SIGUSR1), SFD_NONBLOCK));
    OK(syscall(SYS_kill, getpid(), SIGUSR1));
    struct signalfd_siginfo si[1];
    EXPECT_EQ(sfd_read(fd, si, 1), 128);
    EXPECT_EQ(si[0].ssi_signo, SIGUSR1);
    EXPECT_EQ(si[0].ssi_code, SI_USER);
    EXPECT_EQ(si[0].ssi_pid, getpid());
    EXPECT_EQ(si[0].ssi_uid, getuid());
    EXPECT_EQ(pending() & BIT(SIGUSR1), 0);
}

TEST(signalfd_read_buffer_under_128_is_einval) {
    block(BIT(SIGUSR1));
    int fd = OK(sfd(-1, BIT(SIGUSR1), SFD_NONBLOCK));
    OK(syscall(SYS_kill, getpid(), SIGUSR1));
    char buf[256];
    EXPECT_ERRNO(syscall(SYS_read, fd, buf, 127), EINVAL);
    EXPECT_ERRNO(syscall(SYS_read, fd, buf, 8), EINVAL);
    EXPECT_ERRNO(syscall(SYS_read, fd, buf, 0), EINVAL);
    /* the signal is still there */
    CHECK(pending() & BIT(SIGUSR1), "SIGUSR1 was consumed by a failed read");
    /* a buffer between 1 and 2 records returns one record */
    EXPECT_EQ(syscall(SYS_read, fd, buf, 200), 128);
}

TEST(signalfd_nonblocking_with_nothing_pending_is_eagain) {
    block(BIT(SIGUSR1));
    int fd = OK(sfd(-1, BIT(SIGUSR1), SFD_NONBLOCK));
    struct signalfd_siginfo si[1];
    EXPECT_ERRNO(sfd_read(fd, si, 1), EAGAIN);
    /* O_NONBLOCK set with fcntl works too */
    int fd2 = OK(sfd(-1, BIT(SIGUSR1), 0));
    OK(fcntl(fd2, F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(sfd_read(fd2, si, 1), EAGAIN);
}

/* Linux dequeues the lowest-numbered pending signal first. */
TEST(signalfd_reads_several_records_at_once) {
    block(BIT(SIGUSR1) | BIT(SIGUSR2));
    int fd = OK(sfd(-1, BIT(SIGUSR1) | BIT(SIGUSR2), SFD_NONBLOCK));
    OK(syscall(SYS_kill, getpid(), SIGUSR2));
    OK(syscall(SYS_kill, getpid(), SIGUSR1));
    struct signalfd_siginfo si[3];
    EXPECT_EQ(sfd_read(fd, si, 3), 256);
    EXPECT_EQ(si[0].ssi_signo, SIGUSR1);
    EXPECT_EQ(si[1].ssi_signo, SIGUSR2);
    EXPECT_EQ(si[1].ssi_code, SI_USER);
    EXPECT_EQ(((unsigned char *)si)[256], 0xa5); /* the third slot is untouched */
    EXPECT_EQ(pending() & (BIT(SIGUSR1) | BIT(SIGUSR2)), 0);
    /* a blocking fd with one record pending returns it without waiting for more */
    int fd2 = OK(sfd(-1, BIT(SIGUSR1), 0));
    OK(syscall(SYS_kill, getpid(), SIGUSR1));
    errno = 0;
    long r = sfd_read(fd2, si, 3);
    CHECK(r == 128, "read returned %ld %s%s", r, kt_errstr(errno), wd());
}

TEST(signalfd_sigqueue_value_in_ssi_int_and_ssi_ptr) {
    block(BIT(SIGUSR1));
    int fd = OK(sfd(-1, BIT(SIGUSR1), SFD_NONBLOCK));
    union sigval sv;
    memset(&sv, 0, sizeof sv);
    sv.sival_int = 12345;
    OK(sigqueue(getpid(), SIGUSR1, sv));
    struct signalfd_siginfo si[1];
    EXPECT_EQ(sfd_read(fd, si, 1), 128);
    EXPECT_EQ(si[0].ssi_signo, SIGUSR1);
    EXPECT_EQ(si[0].ssi_code, SI_QUEUE);
    EXPECT_EQ(si[0].ssi_pid, getpid());
    EXPECT_EQ(si[0].ssi_uid, getuid());
    EXPECT_EQ(si[0].ssi_int, 12345);
    /* si_int and si_ptr share storage: ssi_int is the low half of ssi_ptr */
    sv.sival_ptr = (void *)0x123456789abcULL;
    OK(sigqueue(getpid(), SIGUSR1, sv));
    EXPECT_EQ(sfd_read(fd, si, 1), 128);
    EXPECT_EQ(si[0].ssi_code, SI_QUEUE);
    EXPECT_EQ(si[0].ssi_ptr, 0x123456789abcULL);
    EXPECT_EQ(si[0].ssi_int, (int32_t)0x56789abc);
}

TEST(signalfd_update_mask_on_existing_fd) {
    block(BIT(SIGUSR1) | BIT(SIGUSR2));
    int fd = OK(sfd(-1, BIT(SIGUSR1), SFD_NONBLOCK));
    OK(syscall(SYS_kill, getpid(), SIGUSR2));
    struct signalfd_siginfo si[2];
    EXPECT_ERRNO(sfd_read(fd, si, 2), EAGAIN); /* SIGUSR2 is not in the mask */
    EXPECT_EQ(sfd(fd, BIT(SIGUSR2), 0), fd);   /* returns the same fd */
    /* the flags of an update are ignored: the fd stays nonblocking */
    int fl = OK(fcntl(fd, F_GETFL));
    EXPECT_EQ(fl & O_NONBLOCK, O_NONBLOCK);
    OK(syscall(SYS_kill, getpid(), SIGUSR1));
    EXPECT_EQ(sfd_read(fd, si, 2), 128);
    EXPECT_EQ(si[0].ssi_signo, SIGUSR2);
    CHECK(pending() & BIT(SIGUSR1), "SIGUSR1 (no longer in the mask) was consumed");
    /* the old signalfd syscall updates too */
    uint64_t m = BIT(SIGUSR1);
    EXPECT_EQ(syscall(SYS_signalfd, fd, &m, KSIGSET), fd);
    EXPECT_EQ(sfd_read(fd, si, 2), 128);
    EXPECT_EQ(si[0].ssi_signo, SIGUSR1);
}

TEST(signalfd_update_of_non_signalfd_is_einval) {
    int p[2];
    OK(pipe(p));
    int e = OK(efd(0, 0));
    EXPECT_ERRNO(sfd(p[0], BIT(SIGUSR1), 0), EINVAL);
    EXPECT_ERRNO(sfd(e, BIT(SIGUSR1), 0), EINVAL);
    /* a fd that is not open at all is EBADF */
    int gone = OK(dup(p[0]));
    OK(close(gone));
    EXPECT_ERRNO(sfd(gone, BIT(SIGUSR1), 0), EBADF);
}

TEST(signalfd_sizemask_not_8_is_einval) {
    uint64_t m[2] = {BIT(SIGUSR1), 0};
    EXPECT_ERRNO(syscall(SYS_signalfd4, -1, m, 4, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_signalfd4, -1, m, 16, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_signalfd4, -1, m, 0, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_signalfd, -1, m, 7), EINVAL);
    OK(syscall(SYS_signalfd4, -1, m, 8, 0));
    OK(syscall(SYS_signalfd, -1, m, 8));
}

TEST(signalfd_bad_flags_are_einval) {
    EXPECT_ERRNO(sfd(-1, BIT(SIGUSR1), 1), EINVAL);
    EXPECT_ERRNO(sfd(-1, BIT(SIGUSR1), O_APPEND), EINVAL);
    EXPECT_ERRNO(sfd(-1, BIT(SIGUSR1), -1), EINVAL);
    EXPECT_ERRNO(sfd(-1, BIT(SIGUSR1), SFD_CLOEXEC | SFD_NONBLOCK | EFD_SEMAPHORE), EINVAL);
    int a = OK(sfd(-1, BIT(SIGUSR1), SFD_CLOEXEC | SFD_NONBLOCK));
    int b = OK(sfd(-1, BIT(SIGUSR1), 0));
    int fa = OK(fcntl(a, F_GETFD));
    int fb = OK(fcntl(b, F_GETFD));
    EXPECT_EQ(fa & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_EQ(fb & FD_CLOEXEC, 0);
    int la = OK(fcntl(a, F_GETFL));
    int lb = OK(fcntl(b, F_GETFL));
    EXPECT_EQ(la & O_NONBLOCK, O_NONBLOCK);
    EXPECT_EQ(lb & O_NONBLOCK, 0);
}

TEST(signalfd_poll_reports_pollin_when_signal_pending) {
    block(BIT(SIGUSR1) | BIT(SIGUSR2));
    int fd = OK(sfd(-1, BIT(SIGUSR1), SFD_NONBLOCK));
    EXPECT_EQ(poll_events(fd, POLLIN | POLLOUT), 0);
    OK(syscall(SYS_kill, getpid(), SIGUSR2)); /* pending, but not in the fd's mask */
    EXPECT_EQ(poll_events(fd, POLLIN), 0);
    OK(syscall(SYS_kill, getpid(), SIGUSR1));
    EXPECT_EQ(poll_events(fd, POLLIN | POLLOUT), POLLIN);
    struct signalfd_siginfo si[1];
    EXPECT_EQ(sfd_read(fd, si, 1), 128);
    EXPECT_EQ(poll_events(fd, POLLIN), 0);
}

/* A forked child sends kill() to the parent 50 ms later; the parent is
 * blocked in read. */
TEST(signalfd_blocking_read_woken_by_kill_from_child) {
    block(BIT(SIGUSR1));
    int fd = OK(sfd(-1, BIT(SIGUSR1), 0));
    pid_t parent = getpid();
    fflush(stdout);
    long long t0 = now_ns(); /* before the child's sleep starts */
    pid_t pid = OK(fork());
    if (pid == 0) {
        sleep_ms(50);
        _exit(syscall(SYS_kill, parent, SIGUSR1) == 0 ? 0 : 1);
    }
    struct signalfd_siginfo si[2];
    errno = 0;
    long r = sfd_read(fd, si, 2);
    int e = errno;
    long long dt = now_ns() - t0;
    int st = reap(pid);
    CHECK(r == 128, "read returned %ld %s%s", r, kt_errstr(e), wd());
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(si[0].ssi_signo, SIGUSR1);
    EXPECT_EQ(si[0].ssi_code, SI_USER);
    EXPECT_EQ(si[0].ssi_pid, pid);
    EXPECT_EQ(si[0].ssi_uid, getuid());
    CHECK(dt >= 40 * MS, "read returned after %lld ms, before the kill", dt / MS);
}

/* SIGKILL and SIGSTOP are dropped from the mask without an error. */
TEST(signalfd_sigkill_sigstop_in_mask_silently_ignored) {
    block(BIT(SIGUSR1));
    uint64_t m = BIT(SIGKILL) | BIT(SIGSTOP) | BIT(SIGUSR1);
    int fd = OK(sfd(-1, m, SFD_NONBLOCK));
    EXPECT_EQ(sfd(fd, BIT(SIGKILL) | BIT(SIGSTOP), 0), fd);
    EXPECT_EQ(sfd(fd, m, 0), fd);
    int fd2 = OK(sfd(-1, BIT(SIGKILL), SFD_NONBLOCK)); /* an empty mask, in effect */
    OK(syscall(SYS_kill, getpid(), SIGUSR1));
    struct signalfd_siginfo si[1];
    EXPECT_ERRNO(sfd_read(fd2, si, 1), EAGAIN);
    EXPECT_EQ(sfd_read(fd, si, 1), 128);
    EXPECT_EQ(si[0].ssi_signo, SIGUSR1);
}

/* /proc/self/fdinfo/<fd> has a "sigmask:" line: the mask in hex, without
 * SIGKILL and SIGSTOP. */
TEST(signalfd_fdinfo_sigmask_omits_sigkill_sigstop) {
    uint64_t m = BIT(SIGKILL) | BIT(SIGSTOP) | BIT(SIGUSR1) | BIT(SIGTERM);
    int fd = OK(sfd(-1, m, 0));
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = OK(open(path, O_RDONLY));
    long n = OK(read(f, buf, sizeof buf - 1));
    buf[n] = 0;
    char *s = strstr(buf, "sigmask:");
    CHECK(s, "no sigmask: line in %s: \"%s\"", path, buf);
    unsigned long long got = strtoull(s + 8, NULL, 16);
    EXPECT_EQ(got, BIT(SIGUSR1) | BIT(SIGTERM));
}

TEST(signalfd_sigchld_has_child_pid_and_status) {
    block(BIT(SIGCHLD));
    int fd = OK(sfd(-1, BIT(SIGCHLD), 0));
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0)
        _exit(7);
    /* SIGCHLD is a standard signal: a stale one from an earlier case would
     * have been flushed; this one is the child's */
    struct signalfd_siginfo si[1];
    errno = 0;
    long r = sfd_read(fd, si, 1);
    int e = errno;
    int st = reap(pid);
    CHECK(r == 128, "read returned %ld %s%s", r, kt_errstr(e), wd());
    CHECK(exited_with(st, 7), "child %s", kt_status(st));
    EXPECT_EQ(si[0].ssi_signo, SIGCHLD);
    EXPECT_EQ(si[0].ssi_code, CLD_EXITED);
    EXPECT_EQ(si[0].ssi_pid, pid);
    EXPECT_EQ(si[0].ssi_uid, getuid());
    EXPECT_EQ(si[0].ssi_status, 7);
}

TEST(signalfd_posix_timer_signal_is_si_timer) {
    block(BIT(SIGUSR2));
    int fd = OK(sfd(-1, BIT(SIGUSR2), 0));
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR2;
    sev.sigev_value.sival_int = 77;
    int tid = -1;
    OK(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &tid));
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = 10 * MS;
    long s = syscall(SYS_timer_settime, tid, 0, &its, NULL);
    if (s != 0) {
        int e = errno;
        syscall(SYS_timer_delete, tid);
        CHECK(0, "timer_settime failed: %s", kt_errstr(e));
    }
    struct signalfd_siginfo si[1];
    errno = 0;
    long r = sfd_read(fd, si, 1);
    int e = errno;
    syscall(SYS_timer_delete, tid);
    CHECK(r == 128, "read returned %ld %s%s", r, kt_errstr(e), wd());
    EXPECT_EQ(si[0].ssi_signo, SIGUSR2);
    EXPECT_EQ(si[0].ssi_code, SI_TIMER);
    EXPECT_EQ(si[0].ssi_tid, tid);
    EXPECT_EQ(si[0].ssi_overrun, 0);
    EXPECT_EQ(si[0].ssi_int, 77);
}

/* setitimer(ITIMER_REAL) replaces the watchdog alarm; poll's timeout (5 s)
 * stands in for it. Linux sends the itimer's SIGALRM as a kernel signal:
 * ssi_code is SI_KERNEL, not SI_TIMER, and the pid/uid are 0. */
TEST(signalfd_itimer_real_signal_is_si_kernel) {
    block(BIT(SIGALRM));
    int fd = OK(sfd(-1, BIT(SIGALRM), SFD_NONBLOCK));
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = 10000;
    OK(setitimer(ITIMER_REAL, &it, NULL));
    struct pollfd p = {fd, POLLIN, 0};
    long pr = syscall(SYS_poll, &p, 1, 5000);
    CHECK(pr == 1, "poll returned %ld %s: no SIGALRM within 5 s", pr, kt_errstr(errno));
    struct signalfd_siginfo si[1];
    EXPECT_EQ(sfd_read(fd, si, 1), 128);
    EXPECT_EQ(si[0].ssi_signo, SIGALRM);
    EXPECT_EQ(si[0].ssi_code, SI_KERNEL);
    EXPECT_EQ(si[0].ssi_pid, 0);
    EXPECT_EQ(si[0].ssi_uid, 0);
}

int main(void)
{
    KT_BEGIN();
    initial_mask = getmask();
    RUNS(eventfd_initial_value_is_readable_and_read_resets);
    RUNS(eventfd_writes_add_and_read_returns_sum);
    RUNS(eventfd_semaphore_reads_one_and_decrements);
    RUNS(eventfd_read_of_zero_nonblocking_is_eagain);
    RUNS(eventfd_blocking_read_woken_by_write_from_thread);
    RUNS(eventfd_write_of_all_ones_is_einval);
    RUNS(eventfd_overflowing_write_nonblocking_is_eagain);
    RUNS(eventfd_overflowing_write_blocks_until_read);
    RUNS(eventfd_short_read_or_write_is_einval);
    RUNS(eventfd2_bad_flags_are_einval);
    RUNS(eventfd_cloexec_sets_fd_cloexec);
    RUNS(eventfd_poll_readiness);
    RUNS(eventfd_epoll_readiness);
    RUNS(eventfd_fstat_and_lseek);
    RUNS(eventfd_counter_shared_after_fork);
    RUNS(signalfd_reads_raised_signal);
    RUNS(signalfd_kill_gives_si_user);
    RUNS(signalfd_read_buffer_under_128_is_einval);
    RUNS(signalfd_nonblocking_with_nothing_pending_is_eagain);
    RUNS(signalfd_reads_several_records_at_once);
    RUNS(signalfd_sigqueue_value_in_ssi_int_and_ssi_ptr);
    RUNS(signalfd_update_mask_on_existing_fd);
    RUNS(signalfd_update_of_non_signalfd_is_einval);
    RUNS(signalfd_sizemask_not_8_is_einval);
    RUNS(signalfd_bad_flags_are_einval);
    RUNS(signalfd_poll_reports_pollin_when_signal_pending);
    RUNS(signalfd_blocking_read_woken_by_kill_from_child);
    RUNS(signalfd_sigkill_sigstop_in_mask_silently_ignored);
    RUNS(signalfd_fdinfo_sigmask_omits_sigkill_sigstop);
    RUNS(signalfd_sigchld_has_child_pid_and_status);
    RUNS(signalfd_posix_timer_signal_is_si_timer);
    RUNS(signalfd_itimer_real_signal_is_si_kernel);
    return KT_END();
}
