/*
 * fair: CPU time is shared by nice weight, and a sleeper wakes on time however
 * many threads spin. Everything runs pinned to one CPU, so the host's Linux
 * shares it the same way (CFS) and the test means the same on both.
 */
#define KT_AREA "fair"
#include "kt.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int pin_to_cpu0(void)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(0, &s);
    return sched_setaffinity(0, sizeof s, &s);
}

/* A child that spins at `nice` and reports its CPU time (ns) when killed. */
static pid_t spinner(int nice, int report)
{
    pid_t p = fork();
    if (p == 0) {
        if (pin_to_cpu0() != 0 || setpriority(PRIO_PROCESS, 0, nice) != 0)
            _exit(2);
        volatile unsigned long x = 0;
        long long t0 = now_ns();
        while (now_ns() - t0 < 1500000000LL)
            x++;
        struct timespec c;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
        long long ns = c.tv_sec * 1000000000LL + c.tv_nsec;
        if (write(report, &ns, sizeof ns) != sizeof ns)
            _exit(3);
        _exit(0);
    }
    return p;
}

TEST(nice_minus_2_gets_more_cpu_than_nice_minus_1) {
    int a[2], b[2];
    OK(pipe(a));
    OK(pipe(b));
    pid_t pa = spinner(-2, a[1]);
    pid_t pb = spinner(-1, b[1]);
    OK(pa);
    OK(pb);
    long long ca = 0, cb = 0;
    CHECK(read(a[0], &ca, sizeof ca) == sizeof ca, "no report from the nice -2 child");
    CHECK(read(b[0], &cb, sizeof cb) == sizeof cb, "no report from the nice -1 child");
    int st;
    waitpid(pa, &st, 0);
    waitpid(pb, &st, 0);
    close(a[0]); close(a[1]); close(b[0]); close(b[1]);
    /* CFS gives 1586:1277 (1.24); anything clearly above even counts. */
    CHECK(ca * 100 > cb * 105, "nice -2 got %lld ms of CPU, nice -1 got %lld ms", ca / 1000000,
          cb / 1000000);
}

static volatile int stop_spin;

static void *spin(void *arg)
{
    (void)arg;
    while (!stop_spin)
        ;
    return NULL;
}

TEST(sleeper_wakes_on_time_while_four_threads_spin) {
    pid_t p = fork();
    OK(p);
    if (p == 0) {
        if (pin_to_cpu0() != 0)
            _exit(2);
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            if (pthread_create(&t[i], NULL, spin, NULL) != 0)
                _exit(3);
        int late = 0;
        for (int i = 0; i < 5; i++) {
            long long t0 = now_ns();
            struct timespec d = {0, 50 * 1000 * 1000};
            nanosleep(&d, NULL);
            long long slept = now_ns() - t0;
            if (slept > 150 * 1000000LL)
                late++;
        }
        stop_spin = 1;
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        _exit(late ? 10 + late : 0);
    }
    int st = 0;
    waitpid(p, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%d of 5 sleeps of 50 ms took over 150 ms (status %#x)",
          WIFEXITED(st) ? WEXITSTATUS(st) - 10 : -1, st);
}

int main(void)
{
    KT_BEGIN();
    RUN(nice_minus_2_gets_more_cpu_than_nice_minus_1);
    RUN(sleeper_wakes_on_time_while_four_threads_spin);
    return KT_END();
}
