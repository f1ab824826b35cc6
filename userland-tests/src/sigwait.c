/*
 * sigwait.c - blocking syscalls interrupted by signals, and waiting for
 * signals (pause, sigsuspend, rt_sigtimedwait).
 *
 * Linux's restart rules, as asserted here. A syscall interrupted by a signal
 * whose handler runs:
 *   - read/write on a pipe, wait4, FUTEX_WAIT without a timeout: restarted
 *     if the handler has SA_RESTART, else EINTR (-ERESTARTSYS);
 *   - nanosleep, clock_nanosleep, FUTEX_WAIT with a timeout, poll, select,
 *     pause, sigsuspend: EINTR even with SA_RESTART (-ERESTART_RESTARTBLOCK
 *     or -ERESTARTNOHAND);
 *   - epoll_wait, rt_sigtimedwait: plain EINTR.
 * When no handler runs (SIGSTOP then SIGCONT), the restartable ones restart
 * transparently (nanosleep continues with the remaining time), but
 * epoll_wait still fails with EINTR (documented in signal(7)).
 *
 * Signals come from a helper thread with tgkill, aimed at the main thread. In
 * the EINTR cases it keeps sending every few ms until the call returns (a
 * signal that lands before the call blocks would be lost otherwise); after
 * many tries it unblocks the call itself, so a broken kernel fails the case
 * instead of hanging it.
 */
#define KT_AREA "sigwait"
#include "kt.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

#define KSIGSET 8
#define BIT(sig) (1ULL << ((sig) - 1))
#define GAP_MS 4
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1

/* ---- helpers ---------------------------------------------------------- */

static uint64_t initial_mask;

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

static void unblock(uint64_t m)
{
    syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &m, NULL, KSIGSET);
}

static volatile int h_count, h_signo;
static volatile uint64_t h_mask;

static void h_count_sig(int sig)
{
    h_signo = sig;
    h_mask = getmask();
    h_count++;
}

static int on(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h_count_sig;
    sa.sa_flags = flags;
    return sigaction(sig, &sa, NULL);
}

static int disposition(int sig, void (*h)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    return sigaction(sig, &sa, NULL);
}

static long long ts_ns(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_ns(&ts);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (syscall(SYS_nanosleep, &ts, &ts) != 0 && errno == EINTR) {
    }
}

static pid_t tid_self(void)
{
    return (pid_t)syscall(SYS_gettid);
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

static int killed_by(int st, int sig)
{
    return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

static int exited_with(int st, int code)
{
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static pid_t spawn_pauser(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            syscall(SYS_pause);
    }
    return pid;
}

/* ---- the signalling thread -------------------------------------------- */

struct sigger {
    pthread_t pt;
    pid_t target;
    int sig;
    int count;                     /* 0: until done (EINTR mode), else that many */
    void (*action)(struct sigger *); /* unblocks the main thread */
    long arg;
    volatile int done;
    volatile int sent;
    volatile int acted;
};

#define MAX_TRIES 250 /* about 1 s natively */

static void *sigger_main(void *p)
{
    struct sigger *s = p;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        sleep_ms(GAP_MS);
        if (s->done)
            break;
        if (s->count ? s->sent >= s->count : s->sent >= MAX_TRIES) {
            if (!s->acted && s->action)
                s->action(s);
            s->acted = 1;
            if (s->count)
                break;
            continue;
        }
        syscall(SYS_tgkill, getpid(), s->target, s->sig);
        s->sent++;
    }
    return NULL;
}

/* EINTR mode: signal the calling thread every few ms until sigger_stop. */
static int sigger_start(struct sigger *s, int sig, int count, void (*action)(struct sigger *),
                        long arg)
{
    memset(s, 0, sizeof *s);
    s->target = tid_self();
    s->sig = sig;
    s->count = count;
    s->action = action;
    s->arg = arg;
    return pthread_create(&s->pt, NULL, sigger_main, s) == 0 ? 0 : -1;
}

static void sigger_stop(struct sigger *s)
{
    s->done = 1;
    pthread_join(s->pt, NULL);
}

static void act_write_byte(struct sigger *s)
{
    if (write((int)s->arg, "z", 1) != 1) {
    }
}

static void act_drain(struct sigger *s)
{
    char buf[4096];
    if (read((int)s->arg, buf, sizeof buf) < 0) {
    }
}

static void act_kill_child(struct sigger *s)
{
    kill((pid_t)s->arg, SIGKILL);
}

static void sig_reset(void)
{
    for (int s = 1; s <= 64; s++) {
        if (s == SIGKILL || s == SIGSTOP || (s >= 32 && s <= 34))
            continue;
        struct {
            void *h;
            unsigned long flags;
            void *restorer;
            uint64_t mask;
        } dfl = {SIG_DFL, 0, NULL, 0};
        syscall(SYS_rt_sigaction, s, &dfl, NULL, KSIGSET);
    }
    setmask(initial_mask);
    h_count = 0;
    h_signo = 0;
    h_mask = 0;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

#define RUNS(name)                                                            \
    do {                                                                      \
        RUN(name);                                                            \
        sig_reset();                                                          \
    } while (0)

/* ---- pipes ---------------------------------------------------------------- */

TEST(read_pipe_interrupted_without_sa_restart_is_eintr) {
    int p[2];
    OK(pipe(p));
    OK(on(SIGUSR1, 0));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, act_write_byte, p[1]) == 0, "pthread_create failed");
    char c;
    errno = 0;
    long r = syscall(SYS_read, p[0], &c, 1);
    int e = errno;
    sigger_stop(&s);
    close(p[0]);
    close(p[1]);
    CHECK(r == -1 && e == EINTR, "read returned %ld %s, expected EINTR", r, kt_errstr(e));
    CHECK(h_count >= 1, "handler did not run");
}

TEST(read_pipe_restarted_with_sa_restart_returns_data) {
    int p[2];
    OK(pipe(p));
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 2, act_write_byte, p[1]) == 0, "pthread_create failed");
    char c = 0;
    errno = 0;
    long r = syscall(SYS_read, p[0], &c, 1);
    int e = errno;
    sigger_stop(&s);
    close(p[0]);
    close(p[1]);
    CHECK(r == 1, "read returned %ld %s, expected the byte written after the signals", r,
          kt_errstr(e));
    EXPECT_EQ(c, 'z');
    CHECK(h_count >= 1, "handler did not run");
}

TEST(read_pipe_not_interrupted_by_ignored_or_blocked_signal) {
    int p[2];
    OK(pipe(p));
    OK(disposition(SIGUSR1, SIG_IGN));
    OK(on(SIGUSR2, 0));
    block(BIT(SIGUSR2));
    struct sigger s1, s2;
    CHECK(sigger_start(&s1, SIGUSR1, 2, NULL, 0) == 0, "pthread_create failed");
    CHECK(sigger_start(&s2, SIGUSR2, 2, act_write_byte, p[1]) == 0, "pthread_create failed");
    char c = 0;
    errno = 0;
    long r = syscall(SYS_read, p[0], &c, 1);
    int e = errno;
    sigger_stop(&s1);
    sigger_stop(&s2);
    int before = h_count;
    unblock(BIT(SIGUSR2));
    close(p[0]);
    close(p[1]);
    CHECK(r == 1, "read returned %ld %s, expected 1", r, kt_errstr(e));
    EXPECT_EQ(before, 0);
    EXPECT_EQ(h_count, 1);
}

/* Fills a pipe until a non-blocking write fails; leaves it blocking. */
static int fill_pipe(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    static char buf[4096];
    long total = 0;
    for (;;) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n > 0) {
            total += n;
            continue;
        }
        if (errno != EAGAIN)
            return -1;
        n = write(fd, buf, 1);
        if (n == 1) {
            total++;
            continue;
        }
        break;
    }
    fcntl(fd, F_SETFL, fl);
    return total > 0 ? 0 : -1;
}

TEST(write_full_pipe_interrupted_without_sa_restart_is_eintr) {
    int p[2];
    OK(pipe(p));
    CHECK(fill_pipe(p[1]) == 0, "could not fill the pipe");
    OK(on(SIGUSR1, 0));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, act_drain, p[0]) == 0, "pthread_create failed");
    errno = 0;
    long r = syscall(SYS_write, p[1], "w", 1);
    int e = errno;
    sigger_stop(&s);
    close(p[0]);
    close(p[1]);
    CHECK(r == -1 && e == EINTR, "write returned %ld %s, expected EINTR", r, kt_errstr(e));
    CHECK(h_count >= 1, "handler did not run");
}

TEST(write_full_pipe_restarted_with_sa_restart) {
    int p[2];
    OK(pipe(p));
    CHECK(fill_pipe(p[1]) == 0, "could not fill the pipe");
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 2, act_drain, p[0]) == 0, "pthread_create failed");
    errno = 0;
    long r = syscall(SYS_write, p[1], "w", 1);
    int e = errno;
    sigger_stop(&s);
    close(p[0]);
    close(p[1]);
    CHECK(r == 1, "write returned %ld %s, expected 1 once the reader made room", r,
          kt_errstr(e));
    CHECK(h_count >= 1, "handler did not run");
}

/* ---- futex ------------------------------------------------------------------ */

static volatile int futex_word;

static void act_futex_wake(struct sigger *s)
{
    (void)s;
    futex_word = 1;
    syscall(SYS_futex, &futex_word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

TEST(futex_wait_interrupted_without_sa_restart_is_eintr) {
    futex_word = 0;
    OK(on(SIGUSR1, 0));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, act_futex_wake, 0) == 0, "pthread_create failed");
    errno = 0;
    long r = syscall(SYS_futex, &futex_word, FUTEX_WAIT, 0, NULL, NULL, 0);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == -1 && e == EINTR, "FUTEX_WAIT returned %ld %s, expected EINTR", r, kt_errstr(e));
}

/* Without a timeout, FUTEX_WAIT is restarted under SA_RESTART; it then ends
 * when the word changes (EAGAIN if it changed before the wait resumed). */
TEST(futex_wait_without_timeout_restarted_with_sa_restart) {
    futex_word = 0;
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 2, act_futex_wake, 0) == 0, "pthread_create failed");
    errno = 0;
    long r = syscall(SYS_futex, &futex_word, FUTEX_WAIT, 0, NULL, NULL, 0);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == 0 || (r == -1 && e == EAGAIN),
          "FUTEX_WAIT returned %ld %s, expected 0 or EAGAIN after being restarted", r,
          kt_errstr(e));
    CHECK(h_count >= 1, "handler did not run");
    EXPECT_EQ(futex_word, 1);
}

/* With a timeout, Linux uses restart_syscall, which a handler always turns
 * into EINTR, SA_RESTART or not. */
TEST(futex_wait_with_timeout_is_eintr_even_with_sa_restart) {
    futex_word = 0;
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, act_futex_wake, 0) == 0, "pthread_create failed");
    struct timespec to = {5, 0};
    errno = 0;
    long r = syscall(SYS_futex, &futex_word, FUTEX_WAIT, 0, &to, NULL, 0);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == -1 && e == EINTR, "FUTEX_WAIT with timeout returned %ld %s, expected EINTR", r,
          kt_errstr(e));
}

/* ---- sleeps -------------------------------------------------------------- */

TEST(nanosleep_interrupted_is_eintr_with_remaining_time) {
    OK(on(SIGUSR1, 0));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, NULL, 0) == 0, "pthread_create failed");
    struct timespec req = {2, 0}, rem = {-1, -1};
    errno = 0;
    long r = syscall(SYS_nanosleep, &req, &rem);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == -1 && e == EINTR, "nanosleep returned %ld %s, expected EINTR", r, kt_errstr(e));
    CHECK(rem.tv_nsec >= 0 && rem.tv_nsec < 1000000000L && ts_ns(&rem) > 0 &&
              ts_ns(&rem) <= ts_ns(&req),
          "rem %ld.%09ld, expected within (0, 2s]", (long)rem.tv_sec, rem.tv_nsec);
}

TEST(nanosleep_is_eintr_even_with_sa_restart) {
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, NULL, 0) == 0, "pthread_create failed");
    struct timespec req = {2, 0}, rem = {-1, -1};
    errno = 0;
    long r = syscall(SYS_nanosleep, &req, &rem);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == -1 && e == EINTR, "nanosleep returned %ld %s, expected EINTR", r, kt_errstr(e));
    CHECK(ts_ns(&rem) > 0 && ts_ns(&rem) <= ts_ns(&req), "rem %ld.%09ld", (long)rem.tv_sec,
          rem.tv_nsec);
}

TEST(clock_nanosleep_relative_interrupted_fills_remaining_time) {
    OK(on(SIGUSR1, 0));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, NULL, 0) == 0, "pthread_create failed");
    struct timespec req = {2, 0}, rem = {-1, -1};
    errno = 0;
    long r = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, &rem);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == -1 && e == EINTR, "clock_nanosleep returned %ld %s, expected EINTR", r,
          kt_errstr(e));
    CHECK(ts_ns(&rem) > 0 && ts_ns(&rem) <= ts_ns(&req), "rem %ld.%09ld", (long)rem.tv_sec,
          rem.tv_nsec);
}

TEST(clock_nanosleep_abstime_interrupted_is_eintr_and_leaves_rem) {
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, NULL, 0) == 0, "pthread_create failed");
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += 2;
    struct timespec rem = {77, 77};
    errno = 0;
    long r = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, &rem);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == -1 && e == EINTR, "clock_nanosleep(TIMER_ABSTIME) returned %ld %s, expected "
          "EINTR", r, kt_errstr(e));
    CHECK(rem.tv_sec == 77 && rem.tv_nsec == 77, "rem was written: %ld.%09ld", (long)rem.tv_sec,
          rem.tv_nsec);
}

/* ---- stop and continue, no handler ---------------------------------------- */

/* Forks fn(fds): fds[0] is where the child writes one byte just before it
 * blocks, fds[1] a pipe the parent writes one byte into after `data_after`
 * stop/continue cycles. The parent keeps stopping and continuing the child
 * (every few ms) until it exits, for at most 40 cycles. Returns the wait
 * status; *cycles gets the number of completed stop/continue cycles. */
static int stop_continue_child(void (*fn)(int ready_fd, int data_fd), int data_after, int *cycles)
{
    int r[2], d[2];
    *cycles = 0;
    if (pipe(r) != 0)
        return -1;
    if (pipe(d) != 0) {
        close(r[0]);
        close(r[1]);
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(r[0]);
        close(d[1]);
        fn(r[1], d[0]);
        _exit(0);
    }
    close(r[1]);
    close(d[0]);
    int st = -1;
    char c;
    if (pid > 0 && read(r[0], &c, 1) == 1) {
        for (int i = 0; i < 40; i++) {
            sleep_ms(GAP_MS * 2);
            pid_t w = waitpid(pid, &st, WNOHANG);
            if (w == pid)
                goto out;
            if (kill(pid, SIGSTOP) != 0)
                break;
            w = waitpid(pid, &st, WUNTRACED);
            if (w == pid && !WIFSTOPPED(st))
                goto out; /* it exited before the stop took */
            kill(pid, SIGCONT);
            *cycles = i + 1;
            if (*cycles == data_after && write(d[1], "d", 1) != 1)
                break;
        }
        kill(pid, SIGKILL);
    }
    st = pid > 0 ? reap(pid) : -1;
out:
    close(r[0]);
    close(d[1]);
    return st;
}

/* nanosleep is restarted with the remaining time and completes normally.
 * The sleep is long next to the parent's stop period (GAP_MS * 2) so that a
 * stalled host vCPU cannot let it finish before the first stop. */
#define STOPPED_SLEEP_MS 150
static void stopped_sleeper(int ready_fd, int data_fd)
{
    (void)data_fd;
    struct timespec req = {0, STOPPED_SLEEP_MS * 1000000L}, rem = {0, 0};
    long long t0 = now_ns();
    if (write(ready_fd, "r", 1) != 1)
        _exit(2);
    long r = syscall(SYS_nanosleep, &req, &rem);
    long long el = now_ns() - t0;
    if (r != 0)
        _exit(errno == EINTR ? 3 : 4);
    _exit(el >= STOPPED_SLEEP_MS * 1000000LL ? 0 : 5);
}

TEST(nanosleep_survives_stop_and_continue) {
    int cycles = 0;
    int st = stop_continue_child(stopped_sleeper, 1, &cycles);
    CHECK(exited_with(st, 0), "child %s (3 = EINTR, 5 = woke too early)", kt_status(st));
    CHECK(cycles >= 1, "the child was never stopped");
}

/* A pipe read is restarted: it returns the byte written after SIGCONT. */
static void stopped_reader(int ready_fd, int data_fd)
{
    if (write(ready_fd, "r", 1) != 1)
        _exit(2);
    char c;
    long r = syscall(SYS_read, data_fd, &c, 1);
    if (r == 1 && c == 'd')
        _exit(0);
    _exit(r == -1 && errno == EINTR ? 3 : 4);
}

TEST(read_pipe_survives_stop_and_continue) {
    int cycles = 0;
    int st = stop_continue_child(stopped_reader, 1, &cycles);
    CHECK(exited_with(st, 0), "child %s (3 = read failed with EINTR)", kt_status(st));
    CHECK(cycles >= 1, "the child was never stopped");
}

/* epoll_wait fails with EINTR after a stop and continue, with no handler
 * (signal(7) lists it among the calls that do). */
static void stopped_epoller(int ready_fd, int data_fd)
{
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = data_fd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, data_fd, &ev) != 0)
        _exit(2);
    if (write(ready_fd, "r", 1) != 1)
        _exit(2);
    struct epoll_event out;
    long r = syscall(SYS_epoll_wait, ep, &out, 1, -1);
    if (r == -1 && errno == EINTR)
        _exit(0);
    _exit(r == 1 ? 3 : 4);
}

TEST(epoll_wait_is_eintr_after_stop_and_continue_without_handler) {
    int cycles = 0;
    /* the data only comes as a fallback, long after the first stop */
    int st = stop_continue_child(stopped_epoller, 20, &cycles);
    CHECK(exited_with(st, 0), "child %s (3 = epoll_wait was restarted and saw the data)",
          kt_status(st));
    CHECK(cycles >= 1, "the child was never stopped");
}

/* ---- pause / sigsuspend ------------------------------------------------------ */

TEST(pause_returns_eintr_after_handler) {
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, NULL, 0) == 0, "pthread_create failed");
    errno = 0;
    long r = syscall(SYS_pause);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == -1 && e == EINTR, "pause returned %ld %s", r, kt_errstr(e));
    CHECK(h_count >= 1, "handler did not run");
}

TEST(sigsuspend_with_pending_signal_runs_handler_and_restores_mask) {
    OK(on(SIGUSR1, SA_RESTART));
    block(BIT(SIGUSR1));
    OK(kill(getpid(), SIGUSR1));
    EXPECT_EQ(h_count, 0);
    uint64_t before = getmask();
    uint64_t tmp = BIT(SIGUSR2); /* while suspended: only SIGUSR2 blocked */
    errno = 0;
    long r = syscall(SYS_rt_sigsuspend, &tmp, KSIGSET);
    int e = errno;
    uint64_t after = getmask();
    CHECK(r == -1 && e == EINTR, "rt_sigsuspend returned %ld %s", r, kt_errstr(e));
    EXPECT_EQ(h_count, 1);
    /* the handler ran with the temporary mask plus its own signal */
    CHECK(h_mask == (BIT(SIGUSR2) | BIT(SIGUSR1)), "mask in handler 0x%llx, expected 0x%llx",
          (unsigned long long)h_mask, (unsigned long long)(BIT(SIGUSR2) | BIT(SIGUSR1)));
    CHECK(after == before, "mask after sigsuspend 0x%llx, expected 0x%llx",
          (unsigned long long)after, (unsigned long long)before);
}

TEST(sigsuspend_waits_for_signal_from_another_thread) {
    OK(on(SIGUSR1, 0));
    block(BIT(SIGUSR1));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, NULL, 0) == 0, "pthread_create failed");
    uint64_t none = 0;
    errno = 0;
    long r = syscall(SYS_rt_sigsuspend, &none, KSIGSET);
    int e = errno;
    sigger_stop(&s);
    uint64_t after = getmask();
    CHECK(r == -1 && e == EINTR, "rt_sigsuspend returned %ld %s", r, kt_errstr(e));
    CHECK(h_count >= 1, "handler did not run");
    CHECK(after & BIT(SIGUSR1), "SIGUSR1 no longer blocked after sigsuspend");
}

TEST(sigsuspend_bad_sigsetsize_is_einval) {
    uint64_t none = 0;
    EXPECT_ERRNO(syscall(SYS_rt_sigsuspend, &none, 4), EINVAL);
}

/* ---- rt_sigtimedwait -------------------------------------------------------- */

TEST(rt_sigtimedwait_returns_pending_signal_with_siginfo) {
    OK(on(SIGUSR1, 0));
    block(BIT(SIGUSR1));
    siginfo_t qi;
    memset(&qi, 0, sizeof qi);
    qi.si_signo = SIGUSR1;
    qi.si_code = SI_QUEUE;
    qi.si_pid = getpid();
    qi.si_uid = getuid();
    qi.si_value.sival_int = 4242;
    OK(syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &qi));
    uint64_t set = BIT(SIGUSR1);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    struct timespec zero = {0, 0};
    long r = syscall(SYS_rt_sigtimedwait, &set, &si, &zero, KSIGSET);
    EXPECT_EQ(r, SIGUSR1);
    EXPECT_EQ(si.si_signo, SIGUSR1);
    EXPECT_EQ(si.si_code, SI_QUEUE);
    EXPECT_EQ(si.si_pid, getpid());
    EXPECT_EQ(si.si_value.sival_int, 4242);
    EXPECT_EQ(h_count, 0);
    uint64_t pend = ~0ULL;
    OK(syscall(SYS_rt_sigpending, &pend, KSIGSET));
    CHECK(!(pend & BIT(SIGUSR1)), "SIGUSR1 still pending after being waited for");
}

TEST(rt_sigtimedwait_times_out_with_eagain) {
    block(BIT(SIGUSR1));
    uint64_t set = BIT(SIGUSR1);
    struct timespec to = {0, 10 * 1000000L};
    long long t0 = now_ns();
    errno = 0;
    long r = syscall(SYS_rt_sigtimedwait, &set, NULL, &to, KSIGSET);
    int e = errno;
    long long el = now_ns() - t0;
    CHECK(r == -1 && e == EAGAIN, "returned %ld %s, expected EAGAIN", r, kt_errstr(e));
    CHECK(el >= 10 * 1000000LL, "timed out after %lld ns, before the 10 ms timeout", el);
    struct timespec zero = {0, 0};
    EXPECT_ERRNO(syscall(SYS_rt_sigtimedwait, &set, NULL, &zero, KSIGSET), EAGAIN);
}

TEST(rt_sigtimedwait_bad_arguments_are_einval) {
    uint64_t set = BIT(SIGUSR1);
    struct timespec bad = {0, 1000000000L};
    EXPECT_ERRNO(syscall(SYS_rt_sigtimedwait, &set, NULL, &bad, KSIGSET), EINVAL);
    struct timespec neg = {-1, 0};
    EXPECT_ERRNO(syscall(SYS_rt_sigtimedwait, &set, NULL, &neg, KSIGSET), EINVAL);
    struct timespec zero = {0, 0};
    EXPECT_ERRNO(syscall(SYS_rt_sigtimedwait, &set, NULL, &zero, 4), EINVAL);
}

/* sigwaitinfo is rt_sigtimedwait without a timeout. */
TEST(sigwaitinfo_waits_for_signal_from_another_thread) {
    OK(on(SIGUSR1, 0));
    block(BIT(SIGUSR1));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 1, NULL, 0) == 0, "pthread_create failed");
    uint64_t set = BIT(SIGUSR1);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    errno = 0;
    long r = syscall(SYS_rt_sigtimedwait, &set, &si, NULL, KSIGSET);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == SIGUSR1, "returned %ld %s, expected SIGUSR1", r, kt_errstr(e));
    EXPECT_EQ(si.si_code, SI_TKILL);
    EXPECT_EQ(si.si_pid, getpid());
    EXPECT_EQ(h_count, 0);
}

/* The waited-for set is blocked for the duration of the wait, so an
 * unblocked signal in it is returned instead of running its handler. */
TEST(rt_sigtimedwait_takes_unblocked_signal_without_running_handler) {
    OK(on(SIGUSR1, 0));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 1, NULL, 0) == 0, "pthread_create failed");
    uint64_t set = BIT(SIGUSR1);
    struct timespec to = {5, 0};
    errno = 0;
    long r = syscall(SYS_rt_sigtimedwait, &set, NULL, &to, KSIGSET);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == SIGUSR1, "returned %ld %s, expected SIGUSR1", r, kt_errstr(e));
    EXPECT_EQ(h_count, 0);
    CHECK(!(getmask() & BIT(SIGUSR1)), "SIGUSR1 left blocked after the wait");
}

static void act_send_usr2(struct sigger *s)
{
    syscall(SYS_tgkill, getpid(), s->target, SIGUSR2);
}

TEST(rt_sigtimedwait_interrupted_by_handled_signal_is_eintr_even_with_sa_restart) {
    OK(on(SIGUSR1, SA_RESTART));
    block(BIT(SIGUSR2));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, act_send_usr2, 0) == 0, "pthread_create failed");
    uint64_t set = BIT(SIGUSR2);
    errno = 0;
    long r = syscall(SYS_rt_sigtimedwait, &set, NULL, NULL, KSIGSET);
    int e = errno;
    sigger_stop(&s);
    CHECK(r == -1 && e == EINTR, "returned %ld %s, expected EINTR", r, kt_errstr(e));
    CHECK(h_count >= 1, "handler did not run");
}

/* ---- multiplexers: never restarted ------------------------------------------ */

TEST(poll_interrupted_is_eintr_even_with_sa_restart) {
    int p[2];
    OK(pipe(p));
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, act_write_byte, p[1]) == 0, "pthread_create failed");
    struct pollfd pfd = {p[0], POLLIN, 0};
    errno = 0;
    long r = syscall(SYS_poll, &pfd, 1, -1);
    int e = errno;
    sigger_stop(&s);
    close(p[0]);
    close(p[1]);
    CHECK(r == -1 && e == EINTR, "poll returned %ld %s, expected EINTR", r, kt_errstr(e));
}

TEST(select_interrupted_is_eintr_even_with_sa_restart_and_updates_timeout) {
    int p[2];
    OK(pipe(p));
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, act_write_byte, p[1]) == 0, "pthread_create failed");
    fd_set rf;
    FD_ZERO(&rf);
    FD_SET(p[0], &rf);
    struct timeval tv = {5, 0};
    errno = 0;
    long r = syscall(SYS_select, p[0] + 1, &rf, NULL, NULL, &tv);
    int e = errno;
    sigger_stop(&s);
    close(p[0]);
    close(p[1]);
    CHECK(r == -1 && e == EINTR, "select returned %ld %s, expected EINTR", r, kt_errstr(e));
    /* Linux writes the time left back into the timeval */
    CHECK(tv.tv_sec < 5, "timeout not updated: %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
    CHECK(tv.tv_sec >= 0 && tv.tv_usec >= 0 && (tv.tv_sec > 0 || tv.tv_usec > 0),
          "remaining %ld.%06ld, expected > 0", (long)tv.tv_sec, (long)tv.tv_usec);
}

TEST(epoll_wait_interrupted_is_eintr_even_with_sa_restart) {
    int p[2];
    OK(pipe(p));
    int ep = OK(epoll_create1(0));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, act_write_byte, p[1]) == 0, "pthread_create failed");
    struct epoll_event out;
    errno = 0;
    long r = syscall(SYS_epoll_wait, ep, &out, 1, -1);
    int e = errno;
    sigger_stop(&s);
    close(ep);
    close(p[0]);
    close(p[1]);
    CHECK(r == -1 && e == EINTR, "epoll_wait returned %ld %s, expected EINTR", r, kt_errstr(e));
}

/* ---- wait4 -------------------------------------------------------------------- */

TEST(wait4_interrupted_without_sa_restart_is_eintr) {
    pid_t pid = spawn_pauser();
    CHECK(pid > 0, "fork failed");
    OK(on(SIGUSR1, 0));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 0, act_kill_child, pid) == 0, "pthread_create failed");
    int st;
    errno = 0;
    long r = syscall(SYS_wait4, pid, &st, 0, NULL);
    int e = errno;
    sigger_stop(&s);
    kill(pid, SIGKILL);
    reap(pid);
    CHECK(r == -1 && e == EINTR, "wait4 returned %ld %s, expected EINTR", r, kt_errstr(e));
}

TEST(wait4_restarted_with_sa_restart) {
    pid_t pid = spawn_pauser();
    CHECK(pid > 0, "fork failed");
    OK(on(SIGUSR1, SA_RESTART));
    struct sigger s;
    CHECK(sigger_start(&s, SIGUSR1, 2, act_kill_child, pid) == 0, "pthread_create failed");
    int st = 0;
    errno = 0;
    long r = syscall(SYS_wait4, pid, &st, 0, NULL);
    int e = errno;
    sigger_stop(&s);
    if (r != pid) {
        kill(pid, SIGKILL);
        reap(pid);
    }
    CHECK(r == pid, "wait4 returned %ld %s, expected the child", r, kt_errstr(e));
    CHECK(killed_by(st, SIGKILL), "child %s", kt_status(st));
    CHECK(h_count >= 1, "handler did not run");
}

/* The SIGCHLD of the awaited child does not make wait4 fail: the exited
 * child is found first, even without SA_RESTART. */
static void sigchld_wait_case(const char *kt_case, int flags)
{
    OK(on(SIGCHLD, flags));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(GAP_MS * 2);
        _exit(9);
    }
    CHECK(pid > 0, "fork failed");
    int st = 0;
    errno = 0;
    long r = syscall(SYS_wait4, pid, &st, 0, NULL);
    int e = errno;
    if (r != pid)
        reap(pid);
    CHECK(r == pid, "wait4 returned %ld %s, expected the child", r, kt_errstr(e));
    CHECK(exited_with(st, 9), "child %s", kt_status(st));
    EXPECT_EQ(h_count, 1);
    EXPECT_EQ(h_signo, SIGCHLD);
}

TEST(wait4_returns_child_despite_its_sigchld_with_sa_restart) {
    sigchld_wait_case(kt_case, SA_RESTART);
}

TEST(wait4_returns_child_despite_its_sigchld_without_sa_restart) {
    sigchld_wait_case(kt_case, 0);
}

int main(void)
{
    KT_BEGIN();
    initial_mask = getmask();
    RUNS(read_pipe_interrupted_without_sa_restart_is_eintr);
    RUNS(read_pipe_restarted_with_sa_restart_returns_data);
    RUNS(read_pipe_not_interrupted_by_ignored_or_blocked_signal);
    RUNS(write_full_pipe_interrupted_without_sa_restart_is_eintr);
    RUNS(write_full_pipe_restarted_with_sa_restart);
    RUNS(futex_wait_interrupted_without_sa_restart_is_eintr);
    RUNS(futex_wait_without_timeout_restarted_with_sa_restart);
    RUNS(futex_wait_with_timeout_is_eintr_even_with_sa_restart);
    RUNS(nanosleep_interrupted_is_eintr_with_remaining_time);
    RUNS(nanosleep_is_eintr_even_with_sa_restart);
    RUNS(clock_nanosleep_relative_interrupted_fills_remaining_time);
    RUNS(clock_nanosleep_abstime_interrupted_is_eintr_and_leaves_rem);
    RUNS(nanosleep_survives_stop_and_continue);
    RUNS(read_pipe_survives_stop_and_continue);
    RUNS(epoll_wait_is_eintr_after_stop_and_continue_without_handler);
    RUNS(pause_returns_eintr_after_handler);
    RUNS(sigsuspend_with_pending_signal_runs_handler_and_restores_mask);
    RUNS(sigsuspend_waits_for_signal_from_another_thread);
    RUNS(sigsuspend_bad_sigsetsize_is_einval);
    RUNS(rt_sigtimedwait_returns_pending_signal_with_siginfo);
    RUNS(rt_sigtimedwait_times_out_with_eagain);
    RUNS(rt_sigtimedwait_bad_arguments_are_einval);
    RUNS(sigwaitinfo_waits_for_signal_from_another_thread);
    RUNS(rt_sigtimedwait_takes_unblocked_signal_without_running_handler);
    RUNS(rt_sigtimedwait_interrupted_by_handled_signal_is_eintr_even_with_sa_restart);
    RUNS(poll_interrupted_is_eintr_even_with_sa_restart);
    RUNS(select_interrupted_is_eintr_even_with_sa_restart_and_updates_timeout);
    RUNS(epoll_wait_interrupted_is_eintr_even_with_sa_restart);
    RUNS(wait4_interrupted_without_sa_restart_is_eintr);
    RUNS(wait4_restarted_with_sa_restart);
    RUNS(wait4_returns_child_despite_its_sigchld_with_sa_restart);
    RUNS(wait4_returns_child_despite_its_sigchld_without_sa_restart);
    return KT_END();
}
