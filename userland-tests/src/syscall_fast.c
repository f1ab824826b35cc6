/* Calls that complete at once (getppid, clock_gettime, a small read of
 * /dev/zero, rt_sigaction) in tight loops: whatever path the kernel takes
 * back to user mode for them, a signal, a kill, a CPU-time timer, another
 * process's turn on the CPU and the time accounting still happen. */
#define KT_AREA "syscall_fast"
#include "kt.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One call of each kind the loops use, by number (no vDSO). */
static void fast_calls(int zero)
{
    struct timespec ts;
    char c;
    syscall(SYS_getppid);
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    syscall(SYS_read, zero, &c, 1);
}

static volatile sig_atomic_t got_usr1;
static volatile pid_t handler_tid;

static void on_usr1(int sig)
{
    (void)sig;
    handler_tid = (pid_t)syscall(SYS_gettid);
    got_usr1 = 1;
}

struct looper {
    int zero;
    atomic_int started;
    volatile pid_t tid;
};

static void *loop_until_signal(void *arg)
{
    struct looper *l = arg;
    l->tid = (pid_t)syscall(SYS_gettid);
    atomic_store(&l->started, 1);
    /* Only system calls in the loop: the handler must run on the way back
     * from one of them. */
    while (!got_usr1)
        fast_calls(l->zero);
    return NULL;
}

TEST(signal_from_another_thread_stops_a_loop_of_fast_calls)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    OK(sigaction(SIGUSR1, &sa, NULL));
    got_usr1 = 0;
    handler_tid = 0;
    struct looper l = {.zero = OK(open("/dev/zero", O_RDONLY | O_CLOEXEC))};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, loop_until_signal, &l) == 0, "pthread_create");
    while (!atomic_load(&l.started))
        sched_yield();
    usleep(20000);
    CHECK(pthread_kill(t, SIGUSR1) == 0, "pthread_kill");
    uint64_t end = now_ns() + 5000000000ull;
    while (!got_usr1 && now_ns() < end)
        usleep(1000);
    int got = got_usr1;
    if (!got) {
        /* Let the thread finish so the process can go on. */
        got_usr1 = 1;
    }
    pthread_join(t, NULL);
    close(l.zero);
    signal(SIGUSR1, SIG_DFL);
    CHECK(got, "the handler did not run within 5 s");
    CHECK(handler_tid == l.tid, "handler ran in tid %d, expected the looping thread %d",
          (int)handler_tid, (int)l.tid);
}

TEST(sigkill_ends_a_process_looping_on_fast_calls)
{
    pid_t pid = OK(fork());
    if (pid == 0) {
        int zero = open("/dev/zero", O_RDONLY);
        for (;;)
            fast_calls(zero);
    }
    usleep(30000);
    OK(kill(pid, SIGKILL));
    int st = 0;
    uint64_t end = now_ns() + 5000000000ull;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0 && now_ns() < end)
        usleep(1000);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        CHECK(0, "the child still ran 5 s after SIGKILL");
    }
    EXPECT_EQ(r, pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status 0x%x, expected killed by SIGKILL",
          st);
}

static volatile sig_atomic_t got_prof;

static void on_prof(int sig)
{
    (void)sig;
    got_prof = 1;
}

TEST(itimer_prof_fires_in_a_loop_of_fast_calls)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_prof;
    OK(sigaction(SIGPROF, &sa, NULL));
    got_prof = 0;
    int zero = OK(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    struct itimerval it = {{0, 0}, {0, 20000}};
    OK(setitimer(ITIMER_PROF, &it, NULL));
    uint64_t end = now_ns() + 5000000000ull;
    long n = 0;
    while (!got_prof) {
        fast_calls(zero);
        if (++n % 256 == 0 && now_ns() > end)
            break;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    signal(SIGPROF, SIG_DFL);
    close(zero);
    CHECK(got_prof, "no SIGPROF after 5 s of system calls (%ld loops)", n);
}

TEST(cpu_time_of_a_loop_of_fast_calls_is_counted)
{
    int zero = OK(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    struct rusage before, after;
    struct timespec c0, c1;
    OK(getrusage(RUSAGE_SELF, &before));
    OK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0));
    /* Until the process has run 100 ms (at most 10 s of wall time). */
    uint64_t start = now_ns();
    long cpu_us = 0;
    while (cpu_us < 100000 && now_ns() - start < 10000000000ull) {
        for (int i = 0; i < 64; i++)
            fast_calls(zero);
        OK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1));
        cpu_us = (c1.tv_sec - c0.tv_sec) * 1000000L + (c1.tv_nsec - c0.tv_nsec) / 1000;
    }
    OK(getrusage(RUSAGE_SELF, &after));
    close(zero);
    long us = (after.ru_utime.tv_sec - before.ru_utime.tv_sec) * 1000000L +
              (after.ru_utime.tv_usec - before.ru_utime.tv_usec) +
              (after.ru_stime.tv_sec - before.ru_stime.tv_sec) * 1000000L +
              (after.ru_stime.tv_usec - before.ru_stime.tv_usec);
    CHECK(cpu_us >= 100000, "CLOCK_PROCESS_CPUTIME_ID grew by %ld us in 10 s of calls", cpu_us);
    /* getrusage's user + system time is the same CPU time (a little slack
     * for its rounding). */
    CHECK(us >= cpu_us * 9 / 10, "user + system time grew by %ld us, the CPU clock by %ld us",
          us, cpu_us);
}

TEST(another_process_on_the_same_cpu_runs_while_this_one_loops)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    cpu_set_t saved;
    OK(sched_getaffinity(0, sizeof saved, &saved));
    OK(sched_setaffinity(0, sizeof one, &one));
    volatile long *count = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                                -1, 0);
    CHECK(count != MAP_FAILED, "mmap");
    *count = 0;
    pid_t pid = OK(fork());
    if (pid == 0) {
        for (;;) {
            syscall(SYS_getppid);
            (*count)++;
        }
    }
    /* The child runs (this process sleeps), then both loop on one CPU:
     * only time slices let the child on while this one calls getppid. */
    usleep(20000);
    long first = *count;
    uint64_t start = now_ns();
    while (now_ns() - start < 300000000ull)
        for (int i = 0; i < 64; i++)
            syscall(SYS_getppid);
    long second = *count;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    sched_setaffinity(0, sizeof saved, &saved);
    munmap((void *)count, 4096);
    CHECK(first > 0, "the child never ran while this process slept");
    CHECK(second > first, "the child made no progress in 300 ms of this process's getppid loop");
}

TEST(read_of_dev_zero_small_sizes_and_errors)
{
    int zero = OK(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    char buf[80];
    memset(buf, 'x', sizeof buf);
    EXPECT_EQ(read(zero, buf, 1), 1);
    CHECK(buf[0] == 0 && buf[1] == 'x', "read 1 byte: got %d %d", buf[0], buf[1]);
    memset(buf, 'x', sizeof buf);
    EXPECT_EQ(read(zero, buf, 64), 64);
    CHECK(buf[63] == 0 && buf[64] == 'x', "read 64 bytes: got %d %d", buf[63], buf[64]);
    EXPECT_EQ(read(zero, buf, 0), 0);
    /* A read-only page: EFAULT, nothing written. */
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(ro != MAP_FAILED, "mmap");
    EXPECT_ERRNO(read(zero, ro, 8), EFAULT);
    /* Straddling into the read-only page from a writable one: a character
     * device gives what fits (Linux's /dev/zero clears the writable part). */
    char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(two != MAP_FAILED, "mmap");
    OK(mprotect(two + 4096, 4096, PROT_READ));
    memset(two + 4096 - 8, 'x', 8);
    long r = read(zero, two + 4096 - 8, 16);
    int e = errno;
    munmap(ro, 4096);
    munmap(two, 8192);
    CHECK(r == 8 || (r == -1 && e == EFAULT), "straddling read: %ld errno %s", r,
          kt_errstr(e));
    EXPECT_ERRNO(read(-1, buf, 1), EBADF);
    EXPECT_ERRNO(read(1000, buf, 1), EBADF);
    int wo = OK(open("/dev/null", O_WRONLY | O_CLOEXEC));
    EXPECT_ERRNO(read(wo, buf, 1), EBADF);
    close(wo);
    close(zero);
}

TEST(read_of_a_pipe_small_and_empty_nonblocking)
{
    int p[2];
    OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
    char buf[16];
    EXPECT_ERRNO(read(p[0], buf, 4), EAGAIN);
    EXPECT_EQ(write(p[1], "hello", 5), 5);
    EXPECT_EQ(read(p[0], buf, 3), 3);
    CHECK(memcmp(buf, "hel", 3) == 0, "first bytes");
    EXPECT_EQ(read(p[0], buf, 16), 2);
    CHECK(memcmp(buf, "lo", 2) == 0, "last bytes");
    close(p[1]);
    EXPECT_EQ(read(p[0], buf, 4), 0);
    close(p[0]);
}

TEST(rt_sigaction_errors_and_round_trip)
{
    struct ksa {
        void *handler;
        unsigned long flags;
        void *restorer;
        uint64_t mask;
    } act = {(void *)on_usr1, 0x04000000 /* SA_RESTORER */, NULL, 0}, old;
    memset(&old, 0xff, sizeof old);
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR2, &act, NULL, 4), EINVAL);
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, 0, &act, NULL, 8), EINVAL);
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, 65, &act, NULL, 8), EINVAL);
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGKILL, &act, NULL, 8), EINVAL);
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR2, (void *)8, NULL, 8), EFAULT);
    OK(syscall(SYS_rt_sigaction, SIGUSR2, &act, NULL, 8));
    OK(syscall(SYS_rt_sigaction, SIGUSR2, NULL, &old, 8));
    signal(SIGUSR2, SIG_DFL);
    CHECK(old.handler == (void *)on_usr1, "handler read back %p", old.handler);
}

TEST(syscall_numbers_past_the_table_are_enosys)
{
    EXPECT_ERRNO(syscall(1000), ENOSYS);
    EXPECT_ERRNO(syscall(-1L), ENOSYS);
    EXPECT_ERRNO(syscall(0x7fffffffL), ENOSYS);
}

int main(void)
{
    KT_BEGIN();
    RUN(signal_from_another_thread_stops_a_loop_of_fast_calls);
    RUN(sigkill_ends_a_process_looping_on_fast_calls);
    RUN(itimer_prof_fires_in_a_loop_of_fast_calls);
    RUN(cpu_time_of_a_loop_of_fast_calls_is_counted);
    RUN(another_process_on_the_same_cpu_runs_while_this_one_loops);
    RUN(read_of_dev_zero_small_sizes_and_errors);
    RUN(read_of_a_pipe_small_and_empty_nonblocking);
    RUN(rt_sigaction_errors_and_round_trip);
    RUN(syscall_numbers_past_the_table_are_enosys);
    return KT_END();
}
