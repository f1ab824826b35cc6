/* The calls of a hand-off between two threads or processes that complete at
 * once: a small write(2) to a pipe and futex(2)'s wakes. Whatever path the
 * kernel takes for them, their results, errors and side effects are Linux's:
 * the bytes arrive in order, a full pipe blocks a blocking writer and says
 * EAGAIN to a non-blocking one, a pipe with no reader raises SIGPIPE, a bad
 * buffer is EFAULT with nothing written, a wake counts the waiters it woke,
 * and a signal pending after one of these calls is delivered before user
 * code runs on. */
#define KT_AREA "handoff_fast"
#include "kt.h"

#include <sched.h>

#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE 1
#define FUTEX_WAKE_PRIVATE 129
#define FUTEX_WAKE_BITSET_PRIVATE (10 | 128)
#define FUTEX_CLOCK_REALTIME 256
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

static long futex(atomic_int *uaddr, int op, int val, void *timeout, atomic_int *uaddr2, int val3)
{
    return syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
}

TEST(small_pipe_writes_arrive_in_order)
{
    int p[2];
    OK(pipe(p));
    char out[200];
    size_t total = 0;
    for (int len = 1; len <= 65; len += 16) {
        char buf[65];
        for (int i = 0; i < len; i++)
            buf[i] = (char)(total + (size_t)i);
        long n = syscall(SYS_write, p[1], buf, len);
        CHECK(n == len, "write of %d returned %ld (%s)", len, n, kt_errname(errno));
        total += (size_t)len;
    }
    long n = read(p[0], out, sizeof out);
    CHECK(n == (long)total, "read %ld of %zu", n, total);
    for (size_t i = 0; i < total; i++)
        CHECK(out[i] == (char)i, "byte %zu is %d", i, out[i]);
    close(p[0]);
    close(p[1]);
}

TEST(small_pipe_write_errors)
{
    int p[2];
    OK(pipe(p));
    char c = 'x';
    /* Not open for writing, a bad descriptor, a bad buffer. */
    EXPECT_ERRNO(syscall(SYS_write, p[0], &c, 1), EBADF);
    EXPECT_ERRNO(syscall(SYS_write, 1000, &c, 1), EBADF);
    EXPECT_ERRNO(syscall(SYS_write, p[1], (void *)8, 1), EFAULT);
    /* A buffer whose second page is unmapped: nothing is written. */
    char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(two != MAP_FAILED, "mmap: %s", kt_errname(errno));
    OK(munmap(two + 4096, 4096));
    EXPECT_ERRNO(syscall(SYS_write, p[1], two + 4096 - 8, 16), EFAULT);
    OK(munmap(two, 4096));
    OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(read(p[0], &c, 1), EAGAIN);
    /* Zero bytes: 0, nothing to read. */
    CHECK(syscall(SYS_write, p[1], &c, 0) == 0, "write of 0");
    EXPECT_ERRNO(read(p[0], &c, 1), EAGAIN);
    close(p[0]);
    close(p[1]);
}

TEST(small_write_to_a_full_pipe)
{
    int p[2];
    OK(pipe(p));
    OK(fcntl(p[1], F_SETFL, O_NONBLOCK));
    long size = fcntl(p[1], F_GETPIPE_SZ);
    CHECK(size > 0, "F_GETPIPE_SZ: %s", kt_errname(errno));
    char big[4096];
    memset(big, 'a', sizeof big);
    long filled = 0;
    while (filled < size) {
        long n = write(p[1], big, sizeof big);
        if (n < 0)
            break;
        filled += n;
    }
    CHECK(filled == size, "filled %ld of %ld", filled, size);
    char c = 'b';
    EXPECT_ERRNO(syscall(SYS_write, p[1], &c, 1), EAGAIN);
    /* A blocking writer waits until the reader makes room. */
    OK(fcntl(p[1], F_SETFL, 0));
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", kt_errname(errno));
    if (pid == 0) {
        usleep(50000);
        char buf[4096];
        _exit(read(p[0], buf, sizeof buf) == (long)sizeof buf ? 0 : 1);
    }
    CHECK(syscall(SYS_write, p[1], &c, 1) == 1, "blocking write: %s", kt_errname(errno));
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "reader status %#x", st);
    close(p[0]);
    close(p[1]);
}

static volatile sig_atomic_t got_pipe;

static void on_pipe(int sig)
{
    (void)sig;
    got_pipe = 1;
}

TEST(small_write_without_a_reader_raises_sigpipe)
{
    int p[2];
    OK(pipe(p));
    close(p[0]);
    struct sigaction sa = {.sa_handler = on_pipe}, old;
    OK(sigaction(SIGPIPE, &sa, &old));
    got_pipe = 0;
    char c = 'x';
    EXPECT_ERRNO(syscall(SYS_write, p[1], &c, 1), EPIPE);
    /* The handler ran on the way back from the call. */
    CHECK(got_pipe, "no SIGPIPE");
    sa.sa_handler = SIG_IGN;
    OK(sigaction(SIGPIPE, &sa, NULL));
    EXPECT_ERRNO(syscall(SYS_write, p[1], &c, 1), EPIPE);
    OK(sigaction(SIGPIPE, &old, NULL));
    close(p[1]);
}

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
    (void)sig;
    got_usr1 = 1;
}

static atomic_int looping;

/* Only small pipe writes and reads and futex wakes in the loop: the handler
 * must run on the way back from one of them. */
static void *loop_until_signal(void *arg)
{
    int *p = arg;
    static atomic_int nobody;
    char c = 'x';
    atomic_store(&looping, 1);
    while (!got_usr1) {
        if (syscall(SYS_write, p[1], &c, 1) != 1 || syscall(SYS_read, p[0], &c, 1) != 1)
            return (void *)1;
        syscall(SYS_futex, &nobody, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
    return NULL;
}

TEST(signal_stops_a_loop_of_small_writes_and_wakes)
{
    int p[2];
    OK(pipe(p));
    struct sigaction sa = {.sa_handler = on_usr1}, old;
    OK(sigaction(SIGUSR1, &sa, &old));
    got_usr1 = 0;
    atomic_store(&looping, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, loop_until_signal, p) == 0, "pthread_create");
    while (!atomic_load(&looping))
        sched_yield();
    CHECK(pthread_kill(t, SIGUSR1) == 0, "pthread_kill");
    void *r;
    pthread_join(t, &r);
    CHECK(r == NULL, "a write or read failed in the loop");
    CHECK(got_usr1, "SIGUSR1 not delivered");
    OK(sigaction(SIGUSR1, &old, NULL));
    close(p[0]);
    close(p[1]);
}

TEST(futex_wake_errors_and_counts)
{
    static atomic_int word;
    /* Nobody waits: 0 woken. */
    CHECK(futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == 0, "wake");
    CHECK(futex(&word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0) == 0, "wake shared");
    CHECK(futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 1) == 0, "wake bitset");
    /* Misaligned, a zero bitset, an unknown operation. */
    EXPECT_ERRNO(futex((atomic_int *)((char *)&word + 1), FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0),
                 EINVAL);
    EXPECT_ERRNO(futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0), EINVAL);
    EXPECT_ERRNO(futex(&word, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0), ENOSYS);
    EXPECT_ERRNO(futex(&word, 99, 1, NULL, NULL, 0), ENOSYS);
    /* A shared wake of memory that is not mapped. */
    EXPECT_ERRNO(futex((atomic_int *)8, FUTEX_WAKE, 1, NULL, NULL, 0), EFAULT);
}

static atomic_int turn, waiters_in;

static void *waiter(void *arg)
{
    (void)arg;
    atomic_fetch_add(&waiters_in, 1);
    while (atomic_load(&turn) == 0)
        futex(&turn, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return NULL;
}

TEST(futex_wake_counts_the_waiters_it_woke)
{
    enum { N = 3 };
    pthread_t t[N];
    atomic_store(&turn, 0);
    atomic_store(&waiters_in, 0);
    for (int i = 0; i < N; i++)
        CHECK(pthread_create(&t[i], NULL, waiter, NULL) == 0, "pthread_create");
    while (atomic_load(&waiters_in) < N)
        sched_yield();
    /* Let them all reach the wait. */
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    atomic_store(&turn, 1);
    long one = futex(&turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    long rest = futex(&turn, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    CHECK(one == 1 && rest == N - 1, "woke %ld then %ld", one, rest);
}

/* Many hand-offs between two threads: each sees every turn of the other. */
static atomic_int ball;
static long rounds_seen;

static void *partner(void *arg)
{
    long n = (long)arg;
    for (long i = 0; i < n; i++) {
        while (atomic_load(&ball) != 1)
            futex(&ball, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        rounds_seen++;
        atomic_store(&ball, 0);
        futex(&ball, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
    return NULL;
}

TEST(futex_ping_pong_many_rounds)
{
    const long n = 20000;
    pthread_t t;
    atomic_store(&ball, 0);
    rounds_seen = 0;
    CHECK(pthread_create(&t, NULL, partner, (void *)n) == 0, "pthread_create");
    for (long i = 0; i < n; i++) {
        atomic_store(&ball, 1);
        futex(&ball, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        while (atomic_load(&ball) != 0)
            futex(&ball, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
    }
    pthread_join(t, NULL);
    CHECK(rounds_seen == n, "partner saw %ld of %ld rounds", rounds_seen, n);
}

TEST(pipe_ping_pong_between_processes)
{
    int a[2], b[2];
    OK(pipe(a));
    OK(pipe(b));
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", kt_errname(errno));
    if (pid == 0) {
        char c;
        close(a[1]);
        close(b[0]);
        for (;;) {
            long n = read(a[0], &c, 1);
            if (n == 0)
                _exit(0);
            if (n != 1 || write(b[1], &c, 1) != 1)
                _exit(1);
        }
    }
    close(a[0]);
    close(b[1]);
    for (int i = 0; i < 5000; i++) {
        char c = (char)i, r;
        CHECK(write(a[1], &c, 1) == 1, "write %d", i);
        CHECK(read(b[0], &r, 1) == 1 && r == c, "echo %d", i);
    }
    close(a[1]);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child status %#x", st);
    close(b[0]);
}

int main(void)
{
    KT_BEGIN();
    RUN(small_pipe_writes_arrive_in_order);
    RUN(small_pipe_write_errors);
    RUN(small_write_to_a_full_pipe);
    RUN(small_write_without_a_reader_raises_sigpipe);
    RUN(signal_stops_a_loop_of_small_writes_and_wakes);
    RUN(futex_wake_errors_and_counts);
    RUN(futex_wake_counts_the_waiters_it_woke);
    RUN(futex_ping_pong_many_rounds);
    RUN(pipe_ping_pong_between_processes);
    return KT_END();
}
