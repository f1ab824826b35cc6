/*
 * epoll.c - the epoll API: epoll_create, epoll_create1, epoll_ctl,
 * epoll_wait, epoll_pwait and epoll_pwait2.
 *
 * Linux behaviours asserted here that are easy to get wrong:
 *   - epoll_ctl copies the event from user memory before it looks at either
 *     fd, so a bad event pointer is EFAULT even when both fds are bad. Then:
 *     EBADF, EPERM for a target that cannot be polled, EINVAL for an epfd
 *     that is not an epoll fd (or the epfd itself as target).
 *   - epoll_wait checks the buffer's address range (EFAULT for a kernel
 *     address) before waiting, but writes it only when something is ready:
 *     NULL with nothing ready returns 0, with a ready fd it is EFAULT and the
 *     event stays queued. A buffer that runs into a hole returns the events
 *     that fit. (Whether the fd or maxevents/buffer is checked first has
 *     changed between versions: 6.18 checks the fd first. Not asserted.)
 *   - A registration is keyed by (open file, fd number) and lives as long as
 *     the open file: after dup + close the old registration keeps reporting,
 *     EPOLL_CTL_DEL on the new number is ENOENT, and ADD on it makes a second
 *     registration for the same file. Closing the last fd removes them all.
 *   - EPOLLERR and EPOLLHUP are reported even with events == 0, but a
 *     disabled EPOLLONESHOT registration reports nothing at all.
 *   - Every write to a pipe is a new edge for EPOLLET, even when the pipe
 *     was not drained, and EPOLL_CTL_MOD re-checks readiness, so it re-arms
 *     an edge.
 *   - epoll_wait is never restarted after a handler: EINTR even with
 *     SA_RESTART. With timeout 0 it returns 0 without looking at signals, so
 *     epoll_pwait(timeout 0) leaves a signal its mask unblocked pending.
 *   - fstat on an epoll fd gives mode 0600 with no file type bits (an
 *     anonymous inode); read and write are EINVAL; lseek "succeeds" with 0.
 *
 * Each case starts with only fds 0-2 open (see RUNS) and runs under a
 * watchdog alarm, so a wait that never wakes fails with EINTR instead of
 * hanging the suite. Helper threads block every signal, so the watchdog and
 * the test signals (sent with tgkill) always reach the main thread.
 */
#define KT_AREA "epoll"
#include "kt.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

/* On x86-64 the kernel's struct epoll_event is packed: 4 + 8 bytes. */
_Static_assert(sizeof(struct epoll_event) == 12, "struct epoll_event must be 12 bytes");

#define KSIGSET 8
#define BIT(sig) (1ULL << ((sig) - 1))
#define MS 1000000LL
#define WATCHDOG_S 10
#define GAP_MS 5
#define MAX_SIGS 200 /* about 1 s of signals natively */
#define PAGE 4096

/* ---- helpers ---------------------------------------------------------- */

static long ep_create1(int flags)
{
    return syscall(SYS_epoll_create1, flags);
}

static long ep_ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return syscall(SYS_epoll_ctl, ep, op, fd, &ev);
}

static long ep_wait(int ep, struct epoll_event *out, int max, int timeout)
{
    return syscall(SYS_epoll_wait, ep, out, max, timeout);
}

static long ep_pwait(int ep, struct epoll_event *out, int max, int timeout, const uint64_t *mask)
{
    return syscall(SYS_epoll_pwait, ep, out, max, timeout, mask, KSIGSET);
}

static long ep_pwait2(int ep, struct epoll_event *out, int max, const struct timespec *ts,
                      const uint64_t *mask)
{
    return syscall(SYS_epoll_pwait2, ep, out, max, ts, mask, KSIGSET);
}

/* The event must have exactly these events and this data. */
#define EXPECT_EVENT(ev, evs, dat)                                                           \
    CHECK((ev).events == (uint32_t)(evs) && (ev).data.u64 == (uint64_t)(dat),               \
          "got events 0x%x data %#llx, expected events 0x%x data %#llx", (ev).events,       \
          (unsigned long long)(ev).data.u64, (unsigned)(evs), (unsigned long long)(dat))

/* Index of the event carrying data in out[0..n), or -1. */
static int find_data(const struct epoll_event *out, long n, uint64_t data)
{
    for (long i = 0; i < n; i++)
        if (out[i].data.u64 == data)
            return (int)i;
    return -1;
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

static int put(int fd, const char *s)
{
    return write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
}

/* A page that was mapped and then unmapped (NULL if mmap failed). */
static void *hole(void)
{
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    munmap(p, PAGE);
    return p;
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
static volatile sig_atomic_t h_count, watchdog_fired;

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

static void h_count_sig(int sig)
{
    (void)sig;
    h_count++;
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

/* Appended to failure messages of blocking waits. */
static const char *wd(void)
{
    return watchdog_fired ? " (the watchdog fired: the wait never returned)" : "";
}

/* ---- the helper thread ------------------------------------------------ */

/*
 * After delay_ms, sends `sig` to the main thread every GAP_MS (nsig times, or
 * until helper_stop when nsig is 0, at most MAX_SIGS), then writes one byte
 * to fd unless the main thread is already done. The byte is what wakes the
 * waiter in the wakeup cases, and a fallback that unblocks a broken kernel in
 * the EINTR case.
 */
struct helper {
    pthread_t pt;
    pid_t target;
    int sig;
    int nsig;
    long delay_ms;
    int fd;
    volatile int done;
    volatile int sent;
};

static void *helper_main(void *arg)
{
    struct helper *h = arg;
    sleep_ms(h->delay_ms);
    if (h->sig) {
        int limit = h->nsig ? h->nsig : MAX_SIGS;
        while (!h->done && h->sent < limit) {
            syscall(SYS_tgkill, getpid(), h->target, h->sig);
            h->sent++;
            sleep_ms(GAP_MS);
        }
    }
    if (h->fd >= 0 && !h->done && write(h->fd, "h", 1) != 1) {
    }
    return NULL;
}

/* The thread starts with every signal blocked (it inherits the mask), so
 * process-directed signals such as the watchdog go to the main thread. */
static int helper_start(struct helper *h, int sig, int nsig, long delay_ms, int fd)
{
    memset(h, 0, sizeof *h);
    h->target = (pid_t)syscall(SYS_gettid);
    h->sig = sig;
    h->nsig = nsig;
    h->delay_ms = delay_ms;
    h->fd = fd;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&h->pt, NULL, helper_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r == 0 ? 0 : -1;
}

static void helper_stop(struct helper *h)
{
    h->done = 1;
    pthread_join(h->pt, NULL);
}

/* ---- running cases ---------------------------------------------------- */

static void case_begin(void)
{
    h_count = 0;
    watchdog_fired = 0;
    on(SIGALRM, h_watchdog, 0);
    alarm(WATCHDOG_S);
}

/* Puts back what a case may change, even after a failed check: the alarm,
 * handlers and mask, open fds (so each case starts with only 0-2 open and
 * fd numbers are predictable) and children. */
static void case_end(void)
{
    alarm(0);
    on(SIGALRM, SIG_DFL, 0);
    on(SIGUSR1, SIG_DFL, 0);
    setmask(initial_mask);
    for (int fd = 3; fd < 128; fd++)
        close(fd);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

#define RUNS(name)                                                                            \
    do {                                                                                      \
        case_begin();                                                                         \
        RUN(name);                                                                            \
        case_end();                                                                           \
    } while (0)

/* ---- creation --------------------------------------------------------- */

TEST(epoll_create_nonpositive_size_is_einval) {
    EXPECT_ERRNO(syscall(SYS_epoll_create, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_epoll_create, -1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_epoll_create, INT_MIN), EINVAL);
    /* any positive size works; it is only a historical hint */
    OK(syscall(SYS_epoll_create, 1));
    OK(syscall(SYS_epoll_create, INT_MAX));
}

TEST(epoll_create1_unknown_flags_are_einval) {
    EXPECT_ERRNO(ep_create1(O_NONBLOCK), EINVAL);
    EXPECT_ERRNO(ep_create1(1), EINVAL);
    EXPECT_ERRNO(ep_create1(EPOLL_CLOEXEC | O_NONBLOCK), EINVAL);
    EXPECT_ERRNO(ep_create1(-1), EINVAL);
    OK(ep_create1(0));
}

TEST(epoll_cloexec_sets_fd_cloexec) {
    int a = OK(ep_create1(EPOLL_CLOEXEC));
    int b = OK(ep_create1(0));
    int c = OK(syscall(SYS_epoll_create, 1));
    int fa = OK(fcntl(a, F_GETFD));
    int fb = OK(fcntl(b, F_GETFD));
    int fc = OK(fcntl(c, F_GETFD));
    EXPECT_EQ(fa & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_EQ(fb & FD_CLOEXEC, 0);
    EXPECT_EQ(fc & FD_CLOEXEC, 0);
}

/* An epoll fd is an anonymous inode: fstat works and shows mode 0600 with no
 * file type bits. It has no read or write (EINVAL, not EBADF: it is open
 * O_RDWR) and its llseek is a no-op that returns 0. */
TEST(epoll_fd_fstat_and_file_operations) {
    int ep = OK(ep_create1(0));
    struct stat st;
    memset(&st, 0xa5, sizeof st);
    OK(syscall(SYS_fstat, ep, &st));
    EXPECT_EQ(st.st_mode & S_IFMT, 0);
    EXPECT_EQ(st.st_mode & 07777, 0600);
    EXPECT_EQ(st.st_size, 0);
    int fl = OK(fcntl(ep, F_GETFL));
    EXPECT_EQ(fl & O_ACCMODE, O_RDWR);
    char buf[16];
    EXPECT_ERRNO(syscall(SYS_read, ep, buf, sizeof buf), EINVAL);
    EXPECT_ERRNO(syscall(SYS_write, ep, buf, sizeof buf), EINVAL);
    EXPECT_EQ(syscall(SYS_lseek, ep, 10L, SEEK_SET), 0);
}

/* ---- epoll_ctl errors ------------------------------------------------- */

TEST(ctl_bad_epfd_or_fd_is_ebadf) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    int gone = OK(dup(p[0]));
    OK(close(gone));
    EXPECT_ERRNO(ep_ctl(-1, EPOLL_CTL_ADD, p[0], EPOLLIN, 0), EBADF);
    EXPECT_ERRNO(ep_ctl(gone, EPOLL_CTL_ADD, p[0], EPOLLIN, 0), EBADF);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, -1, EPOLLIN, 0), EBADF);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, gone, EPOLLIN, 0), EBADF);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, gone, EPOLLIN, 0), EBADF);
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, gone, NULL), EBADF);
}

/* The target is checked before the epfd's type: an unpollable target is
 * EPERM even when the epfd is not an epoll fd. */
TEST(ctl_epfd_not_epoll_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(kt_write_file(kt_path(d, "f"), "x", 1) == 0, "could not create a file");
    int f = OK(open(kt_path(d, "f"), O_RDWR));
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(ep_ctl(p[1], EPOLL_CTL_ADD, p[0], EPOLLIN, 0), EINVAL);
    EXPECT_ERRNO(ep_ctl(f, EPOLL_CTL_ADD, p[0], EPOLLIN, 0), EINVAL);
    EXPECT_ERRNO(ep_ctl(p[1], EPOLL_CTL_ADD, f, EPOLLIN, 0), EPERM);
}

TEST(ctl_fd_equal_to_epfd_is_einval) {
    int ep = OK(ep_create1(0));
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0), EINVAL);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, ep, EPOLLIN, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, ep, NULL), EINVAL);
}

TEST(ctl_unknown_op_is_einval) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(ep_ctl(ep, 0, p[0], EPOLLIN, 0), EINVAL);
    EXPECT_ERRNO(ep_ctl(ep, 4, p[0], EPOLLIN, 0), EINVAL);
    EXPECT_ERRNO(ep_ctl(ep, -1, p[0], EPOLLIN, 0), EINVAL);
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    EXPECT_ERRNO(ep_ctl(ep, 4, p[0], EPOLLIN, 0), EINVAL);
}

TEST(ctl_add_twice_is_eexist) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1), EEXIST);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLOUT | EPOLLET, 2), EEXIST);
    OK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], NULL));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 3));
}

TEST(ctl_mod_or_del_unregistered_is_enoent) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 0), ENOENT);
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], NULL), ENOENT);
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    OK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], NULL));
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], NULL), ENOENT);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 0), ENOENT);
    /* the other end of the pipe was never added either */
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLOUT, 0), ENOENT);
}

/* Regular files and directories have no poll method: epoll refuses them
 * (poll and select would call them always ready). */
TEST(ctl_regular_file_or_directory_is_eperm) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(kt_write_file(kt_path(d, "f"), "x", 1) == 0, "could not create a file");
    int ep = OK(ep_create1(0));
    int f = OK(open(kt_path(d, "f"), O_RDONLY));
    int dir = OK(open(d, O_RDONLY | O_DIRECTORY));
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, f, EPOLLIN, 0), EPERM);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, dir, EPOLLIN, 0), EPERM);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, f, EPOLLIN, 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, dir, NULL), EPERM);
    close(f);
    close(dir);
}

TEST(ctl_bad_event_pointer_is_efault) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    char *h = hole();
    CHECK(h, "mmap failed");
    char *page = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED, "mmap failed");
    OK(munmap(page + PAGE, PAGE));
    void *straddle = page + PAGE - 4; /* 4 of its 12 bytes are mapped */
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], (void *)1), EFAULT);
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], NULL), EFAULT);
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], h), EFAULT);
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, p[0], straddle), EFAULT);
    /* nothing was added */
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], NULL), ENOENT);
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_MOD, p[0], (void *)1), EFAULT);
    /* the event is copied in before either fd is looked at */
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, -1, EPOLL_CTL_ADD, -1, (void *)1), EFAULT);
    /* DEL never reads the event, so any pointer will do */
    OK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], (void *)1));
    munmap(page, PAGE);
}

/* Epoll fds can watch each other, but not in a cycle. */
TEST(ctl_epoll_cycle_is_eloop) {
    int a = OK(ep_create1(0));
    int b = OK(ep_create1(0));
    int c = OK(ep_create1(0));
    OK(ep_ctl(a, EPOLL_CTL_ADD, b, EPOLLIN, 0)); /* a watches b */
    EXPECT_ERRNO(ep_ctl(b, EPOLL_CTL_ADD, a, EPOLLIN, 0), ELOOP);
    OK(ep_ctl(b, EPOLL_CTL_ADD, c, EPOLLIN, 0)); /* a -> b -> c */
    EXPECT_ERRNO(ep_ctl(c, EPOLL_CTL_ADD, a, EPOLLIN, 0), ELOOP);
    EXPECT_ERRNO(ep_ctl(c, EPOLL_CTL_ADD, b, EPOLLIN, 0), ELOOP);
    /* a diamond is not a cycle */
    OK(ep_ctl(a, EPOLL_CTL_ADD, c, EPOLLIN, 0));
}

/* EPOLLEXCLUSIVE is only for ADD, only with IN/OUT/ERR/HUP/WAKEUP/ET, never
 * on an epoll target, and such a registration can never be modified. The
 * flag is checked before the lookup: MOD of an unregistered fd is EINVAL. */
TEST(ctl_epollexclusive_rules) {
    int ep = OK(ep_create1(0));
    int inner = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0), EINVAL);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 0),
                 EINVAL);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP, 0),
                 EINVAL);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, inner, EPOLLIN | EPOLLEXCLUSIVE, 0), EINVAL);
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET | EPOLLEXCLUSIVE, 7));
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 8), EINVAL);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLEXCLUSIVE, 8), EINVAL);
    OK(put(p[1], "x"));
    struct epoll_event out[2];
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 7);
    OK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, p[0], NULL));
}

/* ---- epoll_wait errors ------------------------------------------------ */

/* maxevents must be in 1..INT_MAX/12. */
TEST(wait_bad_maxevents_is_einval) {
    int ep = OK(ep_create1(0));
    struct epoll_event out[1];
    EXPECT_ERRNO(ep_wait(ep, out, 0, 0), EINVAL);
    EXPECT_ERRNO(ep_wait(ep, out, -1, 0), EINVAL);
    EXPECT_ERRNO(ep_wait(ep, out, INT_MAX, 0), EINVAL);
}

TEST(wait_on_non_epoll_fd_is_einval) {
    int p[2];
    OK(pipe(p));
    struct epoll_event out[1];
    EXPECT_ERRNO(ep_wait(p[0], out, 1, 0), EINVAL);
    EXPECT_ERRNO(ep_wait(p[1], out, 1, 0), EINVAL);
    OK(put(p[1], "x"));
    EXPECT_ERRNO(ep_wait(p[0], out, 1, 0), EINVAL);
}

TEST(wait_on_bad_fd_is_ebadf) {
    int ep = OK(ep_create1(0));
    int gone = OK(dup(ep));
    OK(close(gone));
    struct epoll_event out[1];
    EXPECT_ERRNO(ep_wait(-1, out, 1, 0), EBADF);
    EXPECT_ERRNO(ep_wait(gone, out, 1, 0), EBADF);
    EXPECT_ERRNO(ep_wait(INT_MAX, out, 1, 0), EBADF);
}

/* The buffer is only written when there is something to report; a failed
 * copy leaves the event queued for the next call. */
TEST(wait_bad_buffer_with_ready_fd_is_efault) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 5));
    void *h = hole();
    CHECK(h, "mmap failed");
    void *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(ro != MAP_FAILED, "mmap failed");
    EXPECT_EQ(ep_wait(ep, NULL, 1, 0), 0);
    EXPECT_EQ(ep_wait(ep, h, 1, 0), 0);
    OK(put(p[1], "x"));
    EXPECT_ERRNO(ep_wait(ep, NULL, 1, 0), EFAULT);
    EXPECT_ERRNO(ep_wait(ep, h, 1, 0), EFAULT);
    EXPECT_ERRNO(ep_wait(ep, ro, 1, 0), EFAULT);
    /* even edge-triggered, the event was not lost */
    struct epoll_event out[2];
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 5);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    munmap(ro, PAGE);
}

/* Two ready fds, room for one event before an unmapped page: the one that
 * fits is returned (no EFAULT), the other stays queued. */
TEST(wait_buffer_running_into_hole_returns_events_that_fit) {
    int ep = OK(ep_create1(0));
    int p[2], q[2];
    OK(pipe(p));
    OK(pipe(q));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 1));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN | EPOLLET, 2));
    OK(put(p[1], "x"));
    OK(put(q[1], "y"));
    char *page = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED, "mmap failed");
    OK(munmap(page + PAGE, PAGE));
    struct epoll_event *tail = (struct epoll_event *)(page + PAGE - sizeof(struct epoll_event));
    long r = ep_wait(ep, tail, 2, 0);
    EXPECT_EQ(r, 1);
    uint64_t first = tail->data.u64;
    CHECK(first == 1 || first == 2, "data %#llx, expected 1 or 2", (unsigned long long)first);
    struct epoll_event out[4];
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 3 - first);
    munmap(page, PAGE);
}

/* access_ok fails for a kernel address even when nothing is ready. */
TEST(wait_kernel_address_buffer_is_efault) {
    int ep = OK(ep_create1(0));
    void *k = (void *)0xffff800000000000UL;
    EXPECT_ERRNO(ep_wait(ep, k, 1, 0), EFAULT);
    EXPECT_ERRNO(ep_wait(ep, k, 1, 50), EFAULT); /* it does not wait first */
}

/* ---- level-triggered -------------------------------------------------- */

TEST(level_triggered_readable_pipe_reported_until_drained) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(put(p[1], "abc")); /* ready before it is added: ADD checks at once */
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0xdeadbeefcafef00dULL));
    struct epoll_event out[4];
    for (int i = 0; i < 3; i++) {
        memset(out, 0, sizeof out);
        EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
        EXPECT_EVENT(out[0], EPOLLIN, 0xdeadbeefcafef00dULL);
    }
    char buf[4];
    EXPECT_EQ(read(p[0], buf, 2), 2);
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 0xdeadbeefcafef00dULL);
    EXPECT_EQ(read(p[0], buf, 4), 1);
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 0);
    OK(put(p[1], "d"));
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 0xdeadbeefcafef00dULL);
}

TEST(empty_pipe_write_end_reports_epollout) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT, 2));
    struct epoll_event out[4];
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    EXPECT_EVENT(out[0], EPOLLOUT, 2);
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    EXPECT_EVENT(out[0], EPOLLOUT, 2);
}

/* Only requested events (plus ERR and HUP) are reported; MOD replaces both
 * the events and the data. */
TEST(only_requested_events_are_reported_and_mod_replaces_them) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(put(p[1], "x"));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLOUT | EPOLLPRI, 1)); /* readable, not asked */
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLIN, 2));             /* writable, not asked */
    struct epoll_event out[4];
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 0);
    OK(ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLOUT, 3));
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 3);
    OK(ep_ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLOUT | EPOLLIN, 4));
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 2);
    int i = find_data(out, 2, 3), j = find_data(out, 2, 4);
    CHECK(i >= 0 && j >= 0, "expected data 3 and 4, got %#llx and %#llx",
          (unsigned long long)out[0].data.u64, (unsigned long long)out[1].data.u64);
    EXPECT_EQ(out[i].events, EPOLLIN);
    EXPECT_EQ(out[j].events, EPOLLOUT);
}

/* The full 64 bits of data come back, in 12-byte records. */
TEST(data_field_round_trips_64_bits) {
    static const uint64_t vals[] = {0, UINT64_MAX, 0x8000000000000001ULL,
                                    0x0123456789abcdefULL};
    int ep = OK(ep_create1(0));
    for (int i = 0; i < 4; i++) {
        int p[2];
        OK(pipe(p));
        OK(put(p[1], "x"));
        OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, vals[i]));
    }
    struct epoll_event out[8];
    EXPECT_EQ(ep_wait(ep, out, 8, 0), 4);
    for (int i = 0; i < 4; i++) {
        int k = find_data(out, 4, vals[i]);
        CHECK(k >= 0, "data %#llx not reported", (unsigned long long)vals[i]);
        EXPECT_EQ(out[k].events, EPOLLIN);
    }
}

TEST(same_fd_in_two_epoll_instances_reported_by_both) {
    int a = OK(ep_create1(0));
    int b = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(a, EPOLL_CTL_ADD, p[0], EPOLLIN, 10));
    OK(ep_ctl(b, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 20));
    OK(put(p[1], "x"));
    struct epoll_event out[2];
    EXPECT_EQ(ep_wait(a, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 10);
    EXPECT_EQ(ep_wait(b, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 20);
    EXPECT_EQ(ep_wait(b, out, 2, 0), 0);
    EXPECT_EQ(ep_wait(a, out, 2, 0), 1);
}

/* ---- edge-triggered and one-shot ---------------------------------------- */

TEST(edge_triggered_reported_once_until_new_data) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(put(p[1], "ab"));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 9));
    struct epoll_event out[2];
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 1); /* already readable when added */
    EXPECT_EVENT(out[0], EPOLLIN, 9);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    /* every write is a new edge, even though the pipe was never drained */
    OK(put(p[1], "c"));
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 9);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    /* reading is not an edge for EPOLLIN */
    char buf[8];
    EXPECT_EQ(read(p[0], buf, 1), 1);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    EXPECT_EQ(read(p[0], buf, sizeof buf), 2);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    OK(put(p[1], "d"));
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 9);
}

/* MOD polls the file again, so it reports a still-ready fd once more. */
TEST(ctl_mod_rearms_edge_triggered_readiness) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 1));
    OK(put(p[1], "x"));
    struct epoll_event out[2];
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 1);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    OK(ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, 2));
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 2);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
}

/* After one report the registration is disabled but still there (ADD is
 * EEXIST); it reports nothing, not even EPOLLHUP, until MOD re-arms it. */
TEST(oneshot_silent_until_ctl_mod_rearms) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLONESHOT, 1));
    OK(put(p[1], "x"));
    struct epoll_event out[2];
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 1);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    OK(put(p[1], "y"));
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    OK(close(p[1]));
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1), EEXIST);
    OK(ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT, 2));
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN | EPOLLHUP, 2);
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0);
}

/* ---- hang-up and error ------------------------------------------------ */

/* A read end whose writers are gone reports EPOLLHUP whatever was asked for
 * (EPOLLIN too only if there is data left). */
TEST(pipe_read_end_reports_epollhup_after_writer_closes) {
    int ep = OK(ep_create1(0));
    static const uint32_t asked[4] = {0, EPOLLIN, EPOLLIN, EPOLLOUT};
    int p[4][2];
    for (int i = 0; i < 4; i++) {
        OK(pipe(p[i]));
        OK(ep_ctl(ep, EPOLL_CTL_ADD, p[i][0], asked[i], 100 + i));
    }
    OK(put(p[2][1], "x"));
    struct epoll_event out[8];
    EXPECT_EQ(ep_wait(ep, out, 8, 0), 1); /* only the data */
    for (int i = 0; i < 4; i++)
        OK(close(p[i][1]));
    EXPECT_EQ(ep_wait(ep, out, 8, 0), 4);
    static const uint32_t want[4] = {EPOLLHUP, EPOLLHUP, EPOLLIN | EPOLLHUP, EPOLLHUP};
    for (int i = 0; i < 4; i++) {
        int k = find_data(out, 4, 100 + i);
        CHECK(k >= 0, "pipe %d (events 0x%x asked) not reported", i, asked[i]);
        CHECK(out[k].events == want[i], "pipe %d asked 0x%x: got 0x%x, expected 0x%x", i,
              asked[i], out[k].events, want[i]);
    }
}

/* A write end whose readers are gone reports EPOLLERR. */
TEST(pipe_write_end_reports_epollerr_after_reader_closes) {
    int ep = OK(ep_create1(0));
    int p[2], q[2];
    OK(pipe(p));
    OK(pipe(q));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[1], 0, 1));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, q[1], EPOLLOUT, 2));
    struct epoll_event out[4];
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    EXPECT_EVENT(out[0], EPOLLOUT, 2);
    OK(close(p[0]));
    OK(close(q[0]));
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 2);
    int i = find_data(out, 2, 1), j = find_data(out, 2, 2);
    CHECK(i >= 0 && j >= 0, "expected data 1 and 2");
    EXPECT_EQ(out[i].events, EPOLLERR);
    EXPECT_EQ(out[j].events, EPOLLOUT | EPOLLERR);
}

/* A socket whose peer shut down writing reports EPOLLRDHUP (when asked) with
 * EPOLLIN; EPOLLHUP only comes once both directions are shut. */
TEST(socket_peer_shutdown_reports_epollrdhup) {
    int ep = OK(ep_create1(0));
    int s[2];
    int made = socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    if (made != 0 && errno == ENOSYS)
        SKIP("socketpair: ENOSYS (no AF_UNIX sockets on this kernel yet)");
    OK(made);
    int s2 = OK(dup(s[0])); /* a second registration that does not ask for RDHUP */
    OK(ep_ctl(ep, EPOLL_CTL_ADD, s[0], EPOLLIN | EPOLLRDHUP, 1));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, s2, EPOLLIN, 2));
    struct epoll_event out[4];
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 0);
    OK(shutdown(s[1], SHUT_WR));
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 2);
    int i = find_data(out, 2, 1), j = find_data(out, 2, 2);
    CHECK(i >= 0 && j >= 0, "expected data 1 and 2");
    EXPECT_EQ(out[i].events, EPOLLIN | EPOLLRDHUP);
    EXPECT_EQ(out[j].events, EPOLLIN);
    OK(close(s[1]));
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 2);
    i = find_data(out, 2, 1);
    j = find_data(out, 2, 2);
    CHECK(i >= 0 && j >= 0, "expected data 1 and 2");
    EXPECT_EQ(out[i].events, EPOLLIN | EPOLLRDHUP | EPOLLHUP);
    EXPECT_EQ(out[j].events, EPOLLIN | EPOLLHUP);
}

/* ---- closing ---------------------------------------------------------- */

TEST(closing_last_fd_removes_registration) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    int r = p[0];
    OK(ep_ctl(ep, EPOLL_CTL_ADD, r, EPOLLIN, 11));
    OK(put(p[1], "x"));
    struct epoll_event out[4];
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    OK(close(r)); /* the pipe (kept by p[1]) still holds the byte: the registration is gone */
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 0);
    int q[2];
    OK(pipe(q));
    CHECK(q[0] == r, "pipe gave fd %d, expected the lowest free fd %d", q[0], r);
    OK(ep_ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 12)); /* no EEXIST */
    OK(put(q[1], "z"));
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 12);
}

/* The registration belongs to (file, fd number): it outlives its fd number
 * while a dup keeps the file open, is not reachable through the dup, and the
 * dup can be added as a second registration. Closing the last fd removes
 * both. */
TEST(dup_keeps_registration_alive_after_close) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    int old = p[0];
    OK(ep_ctl(ep, EPOLL_CTL_ADD, old, EPOLLIN, 77));
    int d = OK(dup(old));
    OK(close(old));
    OK(put(p[1], "x"));
    struct epoll_event out[4];
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 77);
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, d, NULL), ENOENT);
    EXPECT_ERRNO(ep_ctl(ep, EPOLL_CTL_MOD, d, EPOLLIN, 1), ENOENT);
    EXPECT_ERRNO(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, old, NULL), EBADF);
    OK(ep_ctl(ep, EPOLL_CTL_ADD, d, EPOLLIN, 88));
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 2);
    CHECK(find_data(out, 2, 77) >= 0 && find_data(out, 2, 88) >= 0,
          "expected data 77 and 88, got %#llx and %#llx", (unsigned long long)out[0].data.u64,
          (unsigned long long)out[1].data.u64);
    OK(close(d));
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 0);
}

/* ---- maxevents -------------------------------------------------------- */

/* Level-triggered fds that were reported go to the back of the ready list,
 * so a small maxevents still reaches every fd in turn. */
TEST(maxevents_below_ready_count_level_triggered_rotates) {
    int ep = OK(ep_create1(0));
    for (int i = 0; i < 5; i++) {
        int p[2];
        OK(pipe(p));
        OK(put(p[1], "x"));
        OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 100 + i));
    }
    int seen[5] = {0};
    for (int call = 0; call < 3; call++) {
        struct epoll_event out[2];
        EXPECT_EQ(ep_wait(ep, out, 2, 0), 2);
        CHECK(out[0].data.u64 != out[1].data.u64, "call %d reported data %llu twice", call,
              (unsigned long long)out[0].data.u64);
        for (int j = 0; j < 2; j++) {
            uint64_t v = out[j].data.u64;
            CHECK(v >= 100 && v < 105, "unexpected data %#llx", (unsigned long long)v);
            seen[v - 100]++;
        }
    }
    for (int i = 0; i < 5; i++)
        CHECK(seen[i] > 0, "pipe %d not reported in 3 calls of 2 (the ready list must rotate)",
              i);
}

TEST(maxevents_below_ready_count_edge_triggered_returns_rest_next_call) {
    int ep = OK(ep_create1(0));
    for (int i = 0; i < 5; i++) {
        int p[2];
        OK(pipe(p));
        OK(put(p[1], "x"));
        OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 100 + i));
    }
    static const int want[4] = {2, 2, 1, 0};
    int seen[5] = {0};
    for (int call = 0; call < 4; call++) {
        struct epoll_event out[2];
        long r = ep_wait(ep, out, 2, 0);
        CHECK(r == want[call], "call %d returned %ld, expected %d", call, r, want[call]);
        for (int j = 0; j < r; j++) {
            uint64_t v = out[j].data.u64;
            CHECK(v >= 100 && v < 105, "unexpected data %#llx", (unsigned long long)v);
            CHECK(!seen[v - 100], "pipe %d reported twice", (int)(v - 100));
            seen[v - 100] = 1;
        }
    }
}

/* ---- timeouts --------------------------------------------------------- */

TEST(timeout_zero_returns_zero_with_nothing_ready) {
    int ep = OK(ep_create1(0));
    struct epoll_event out[2];
    EXPECT_EQ(ep_wait(ep, out, 2, 0), 0); /* empty interest list */
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    errno = 0;
    long r = ep_wait(ep, out, 2, 0);
    CHECK(r == 0, "returned %ld %s%s", r, kt_errstr(errno), wd());
}

TEST(positive_timeout_expires_with_nothing_ready) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    struct epoll_event out[2];
    long long t0 = now_ns();
    errno = 0;
    long r = ep_wait(ep, out, 2, 50);
    int e = errno;
    long long el = now_ns() - t0;
    CHECK(r == 0, "returned %ld %s%s", r, kt_errstr(e), wd());
    CHECK(el >= 45 * MS, "returned after %lld ms, expected about 50", el / MS);
}

/* ---- blocking waits ---------------------------------------------------- */

TEST(blocking_wait_woken_by_write_from_thread) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1234567890ULL));
    long long t0 = now_ns();
    struct helper h;
    CHECK(helper_start(&h, 0, 0, 50, p[1]) == 0, "pthread_create failed");
    struct epoll_event out[2];
    memset(out, 0, sizeof out);
    errno = 0;
    long r = ep_wait(ep, out, 2, -1);
    int e = errno;
    long long el = now_ns() - t0;
    helper_stop(&h);
    CHECK(r == 1, "epoll_wait returned %ld %s%s", r, kt_errstr(e), wd());
    EXPECT_EVENT(out[0], EPOLLIN, 0x1234567890ULL);
    CHECK(el >= 45 * MS, "returned after %lld ms, before the write at 50 ms", el / MS);
}

TEST(blocking_wait_woken_by_write_from_forked_child) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 42));
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        sleep_ms(50);
        _exit(put(p[1], "c") == 0 ? 0 : 1);
    }
    struct epoll_event out[2];
    memset(out, 0, sizeof out);
    errno = 0;
    long r = ep_wait(ep, out, 2, -1);
    int e = errno;
    int st = reap(pid);
    CHECK(r == 1, "epoll_wait returned %ld %s%s", r, kt_errstr(e), wd());
    /* the parent still holds the write end: EPOLLIN without EPOLLHUP */
    EXPECT_EVENT(out[0], EPOLLIN, 42);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
}

/* ---- signals ---------------------------------------------------------- */

/* The helper keeps signalling until the call returns; after about 1 s it
 * writes a byte, so a kernel that restarts the call fails with r == 1. */
TEST(signal_interrupts_epoll_wait_with_eintr_despite_sa_restart) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    OK(on(SIGUSR1, h_count_sig, SA_RESTART));
    struct helper h;
    CHECK(helper_start(&h, SIGUSR1, 0, 0, p[1]) == 0, "pthread_create failed");
    struct epoll_event out[2];
    errno = 0;
    long r = ep_wait(ep, out, 2, -1);
    int e = errno;
    helper_stop(&h);
    CHECK(r == -1 && e == EINTR, "epoll_wait returned %ld %s, expected EINTR%s", r,
          kt_errstr(e), r == 1 ? " (it was restarted and saw the fallback byte)" : wd());
    CHECK(h_count >= 1, "the handler did not run");
}

/* SIGUSR1 is unblocked in the caller but blocked by the mask passed to
 * epoll_pwait, so signals sent during the wait do not interrupt it. Once the
 * data arrives the call returns it, the caller's mask is back, and the
 * deferred signal is delivered on the way out. */
TEST(epoll_pwait_mask_defers_signal_and_restores_caller_mask) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 31));
    OK(on(SIGUSR1, h_count_sig, 0));
    uint64_t before = getmask();
    CHECK(!(before & BIT(SIGUSR1)), "SIGUSR1 blocked at the start");
    uint64_t wmask = before | BIT(SIGUSR1);
    struct helper h;
    CHECK(helper_start(&h, SIGUSR1, 4, 20, p[1]) == 0, "pthread_create failed");
    struct epoll_event out[2];
    memset(out, 0, sizeof out);
    errno = 0;
    long r = ep_pwait(ep, out, 2, -1, &wmask);
    int e = errno;
    int sent = h.sent;
    helper_stop(&h);
    uint64_t after = getmask();
    CHECK(r == 1, "epoll_pwait returned %ld %s, expected 1 (the mask blocks SIGUSR1)%s", r,
          kt_errstr(e), wd());
    EXPECT_EVENT(out[0], EPOLLIN, 31);
    CHECK(after == before, "mask after epoll_pwait %#llx, expected the caller's %#llx",
          (unsigned long long)after, (unsigned long long)before);
    EXPECT_EQ(sent, 4);
    CHECK(h_count >= 1, "the deferred SIGUSR1 was never delivered");
}

/* The other direction: a pending signal blocked by the caller but not by the
 * given mask interrupts the wait at once (and runs the handler), and the
 * caller's mask is back afterwards. With timeout 0 Linux returns 0 without
 * checking for signals and restores the mask first, so the signal stays
 * pending. */
TEST(epoll_pwait_mask_unblocking_pending_signal_is_eintr) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    OK(on(SIGUSR1, h_count_sig, SA_RESTART));
    uint64_t blocked = getmask() | BIT(SIGUSR1);
    uint64_t open_mask = blocked & ~BIT(SIGUSR1);
    setmask(blocked);
    pid_t tid = (pid_t)syscall(SYS_gettid);
    OK(syscall(SYS_tgkill, getpid(), tid, SIGUSR1));
    EXPECT_EQ(h_count, 0);
    struct epoll_event out[2];
    EXPECT_ERRNO(ep_pwait(ep, out, 2, 2000, &open_mask), EINTR);
    EXPECT_EQ(h_count, 1);
    EXPECT_EQ(getmask(), blocked);

    OK(syscall(SYS_tgkill, getpid(), tid, SIGUSR1));
    EXPECT_EQ(ep_pwait(ep, out, 2, 0, &open_mask), 0);
    int count = h_count;
    uint64_t mask = getmask();
    setmask(open_mask); /* delivers it now */
    EXPECT_EQ(count, 1);
    EXPECT_EQ(mask, blocked);
    EXPECT_EQ(h_count, 2);
}

TEST(epoll_pwait_bad_sigsetsize_is_einval) {
    int ep = OK(ep_create1(0));
    uint64_t m = 0;
    struct epoll_event out[1];
    EXPECT_ERRNO(syscall(SYS_epoll_pwait, ep, out, 1, 0, &m, 4), EINVAL);
    EXPECT_ERRNO(syscall(SYS_epoll_pwait, ep, out, 1, 0, &m, 16), EINVAL);
    /* without a mask the size is not looked at */
    EXPECT_EQ(syscall(SYS_epoll_pwait, ep, out, 1, 0, NULL, 4), 0);
}

/* epoll_pwait2 takes a timespec (read only, never written back); NULL means
 * wait forever. Linux < 5.11 lacks it. */
TEST(epoll_pwait2_timespec_timeout) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 9));
    struct epoll_event out[2];
    struct timespec zero = {0, 0};
    errno = 0;
    long r = ep_pwait2(ep, out, 2, &zero, NULL);
    if (r == -1 && errno == ENOSYS)
        SKIP("epoll_pwait2 is ENOSYS on this kernel");
    EXPECT_EQ(r, 0);
    struct timespec ts = {0, 50 * MS};
    long long t0 = now_ns();
    errno = 0;
    r = ep_pwait2(ep, out, 2, &ts, NULL);
    int e = errno;
    long long el = now_ns() - t0;
    CHECK(r == 0, "returned %ld %s%s", r, kt_errstr(e), wd());
    CHECK(el >= 45 * MS, "returned after %lld ms, expected about 50", el / MS);
    CHECK(ts.tv_sec == 0 && ts.tv_nsec == 50 * MS, "timespec was written: %ld.%09ld",
          (long)ts.tv_sec, ts.tv_nsec);
    OK(put(p[1], "x"));
    struct timespec longer = {1000, 0};
    EXPECT_EQ(ep_pwait2(ep, out, 2, &longer, NULL), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 9);
    memset(out, 0, sizeof out);
    uint64_t m = getmask();
    EXPECT_EQ(ep_pwait2(ep, out, 2, NULL, &m), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 9);
}

TEST(epoll_pwait2_bad_timespec_is_einval_or_efault) {
    int ep = OK(ep_create1(0));
    struct epoll_event out[2];
    struct timespec zero = {0, 0};
    errno = 0;
    long r = ep_pwait2(ep, out, 2, &zero, NULL);
    if (r == -1 && errno == ENOSYS)
        SKIP("epoll_pwait2 is ENOSYS on this kernel");
    EXPECT_EQ(r, 0);
    struct timespec big_ns = {0, 1000000000L}, neg_ns = {0, -1}, neg_s = {-1, 0};
    EXPECT_ERRNO(ep_pwait2(ep, out, 2, &big_ns, NULL), EINVAL);
    EXPECT_ERRNO(ep_pwait2(ep, out, 2, &neg_ns, NULL), EINVAL);
    EXPECT_ERRNO(ep_pwait2(ep, out, 2, &neg_s, NULL), EINVAL);
    EXPECT_ERRNO(ep_pwait2(ep, out, 2, (void *)1, NULL), EFAULT);
}

/* ---- nesting and poll ------------------------------------------------- */

/* An epoll fd is readable when it has something to report; it is never
 * writable. */
TEST(nested_epoll_reports_epollin_when_inner_ready) {
    int inner = OK(ep_create1(0));
    int outer = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    OK(ep_ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN | EPOLLOUT, 2));
    struct epoll_event out[2];
    EXPECT_EQ(ep_wait(outer, out, 2, 0), 0);
    OK(put(p[1], "x"));
    EXPECT_EQ(ep_wait(outer, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 2);
    /* looking does not consume: inner still reports its pipe */
    EXPECT_EQ(ep_wait(outer, out, 2, 0), 1);
    EXPECT_EQ(ep_wait(inner, out, 2, 0), 1);
    EXPECT_EVENT(out[0], EPOLLIN, 1);
    char c;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(ep_wait(outer, out, 2, 0), 0);
}

TEST(poll_on_epoll_fd_reports_pollin_when_ready) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    struct pollfd pfd = {.fd = ep, .events = POLLIN | POLLOUT};
    EXPECT_EQ(syscall(SYS_poll, &pfd, 1, 0), 0);
    EXPECT_EQ(pfd.revents, 0);
    OK(put(p[1], "x"));
    EXPECT_EQ(syscall(SYS_poll, &pfd, 1, 0), 1);
    EXPECT_EQ(pfd.revents, POLLIN);
    char c;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(syscall(SYS_poll, &pfd, 1, 0), 0);
}

TEST(blocking_outer_epoll_woken_through_inner) {
    int inner = OK(ep_create1(0));
    int outer = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    OK(ep_ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 2));
    struct helper h;
    CHECK(helper_start(&h, 0, 0, 50, p[1]) == 0, "pthread_create failed");
    struct epoll_event out[2];
    memset(out, 0, sizeof out);
    errno = 0;
    long r = ep_wait(outer, out, 2, 5000);
    int e = errno;
    helper_stop(&h);
    CHECK(r == 1, "epoll_wait on the outer epoll returned %ld %s%s", r, kt_errstr(e), wd());
    EXPECT_EVENT(out[0], EPOLLIN, 2);
}

/* ---- fork ------------------------------------------------------------- */

/* fds[]: the epoll fd, a readable pipe's read end (data 55), its write end. */
static void child_uses_inherited_epoll(void *arg)
{
    const int *fds = arg;
    struct epoll_event out[4];
    if (ep_wait(fds[0], out, 4, 0) != 1)
        _exit(2);
    if (out[0].events != EPOLLIN || out[0].data.u64 != 55)
        _exit(3);
    if (ep_ctl(fds[0], EPOLL_CTL_ADD, fds[1], EPOLLIN, 1) != -1 || errno != EEXIST)
        _exit(4);
    if (ep_ctl(fds[0], EPOLL_CTL_ADD, fds[2], EPOLLOUT, 66) != 0)
        _exit(5);
    _exit(0);
}

/* The child's epoll fd is the same epoll instance: it sees the parent's
 * registrations, and what it adds the parent sees (the child closing its
 * copies on exit does not remove them: the parent still has the files). */
TEST(forked_child_shares_interest_list) {
    int ep = OK(ep_create1(0));
    int p[2];
    OK(pipe(p));
    OK(ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 55));
    OK(put(p[1], "x"));
    int fds[3] = {ep, p[0], p[1]};
    int st = kt_in_child(child_uses_inherited_epoll, fds);
    CHECK(exited_with(st, 0),
          "child %s (2/3 = did not see the parent's event, 4 = ADD not EEXIST, 5 = ADD failed)",
          kt_status(st));
    struct epoll_event out[4];
    EXPECT_EQ(ep_wait(ep, out, 4, 0), 2);
    int i = find_data(out, 2, 55), j = find_data(out, 2, 66);
    CHECK(i >= 0 && j >= 0, "expected data 55 and 66 (added by the child)");
    EXPECT_EQ(out[i].events, EPOLLIN);
    EXPECT_EQ(out[j].events, EPOLLOUT);
}

int main(void)
{
    KT_BEGIN();
    initial_mask = getmask();
    RUNS(epoll_create_nonpositive_size_is_einval);
    RUNS(epoll_create1_unknown_flags_are_einval);
    RUNS(epoll_cloexec_sets_fd_cloexec);
    RUNS(epoll_fd_fstat_and_file_operations);
    RUNS(ctl_bad_epfd_or_fd_is_ebadf);
    RUNS(ctl_epfd_not_epoll_is_einval);
    RUNS(ctl_fd_equal_to_epfd_is_einval);
    RUNS(ctl_unknown_op_is_einval);
    RUNS(ctl_add_twice_is_eexist);
    RUNS(ctl_mod_or_del_unregistered_is_enoent);
    RUNS(ctl_regular_file_or_directory_is_eperm);
    RUNS(ctl_bad_event_pointer_is_efault);
    RUNS(ctl_epoll_cycle_is_eloop);
    RUNS(ctl_epollexclusive_rules);
    RUNS(wait_bad_maxevents_is_einval);
    RUNS(wait_on_non_epoll_fd_is_einval);
    RUNS(wait_on_bad_fd_is_ebadf);
    RUNS(wait_bad_buffer_with_ready_fd_is_efault);
    RUNS(wait_buffer_running_into_hole_returns_events_that_fit);
    RUNS(wait_kernel_address_buffer_is_efault);
    RUNS(level_triggered_readable_pipe_reported_until_drained);
    RUNS(empty_pipe_write_end_reports_epollout);
    RUNS(only_requested_events_are_reported_and_mod_replaces_them);
    RUNS(data_field_round_trips_64_bits);
    RUNS(same_fd_in_two_epoll_instances_reported_by_both);
    RUNS(edge_triggered_reported_once_until_new_data);
    RUNS(ctl_mod_rearms_edge_triggered_readiness);
    RUNS(oneshot_silent_until_ctl_mod_rearms);
    RUNS(pipe_read_end_reports_epollhup_after_writer_closes);
    RUNS(pipe_write_end_reports_epollerr_after_reader_closes);
    RUNS(socket_peer_shutdown_reports_epollrdhup);
    RUNS(closing_last_fd_removes_registration);
    RUNS(dup_keeps_registration_alive_after_close);
    RUNS(maxevents_below_ready_count_level_triggered_rotates);
    RUNS(maxevents_below_ready_count_edge_triggered_returns_rest_next_call);
    RUNS(timeout_zero_returns_zero_with_nothing_ready);
    RUNS(positive_timeout_expires_with_nothing_ready);
    RUNS(blocking_wait_woken_by_write_from_thread);
    RUNS(blocking_wait_woken_by_write_from_forked_child);
    RUNS(signal_interrupts_epoll_wait_with_eintr_despite_sa_restart);
    RUNS(epoll_pwait_mask_defers_signal_and_restores_caller_mask);
    RUNS(epoll_pwait_mask_unblocking_pending_signal_is_eintr);
    RUNS(epoll_pwait_bad_sigsetsize_is_einval);
    RUNS(epoll_pwait2_timespec_timeout);
    RUNS(epoll_pwait2_bad_timespec_is_einval_or_efault);
    RUNS(nested_epoll_reports_epollin_when_inner_ready);
    RUNS(poll_on_epoll_fd_reports_pollin_when_ready);
    RUNS(blocking_outer_epoll_woken_through_inner);
    RUNS(forked_child_shares_interest_list);
    return KT_END();
}
