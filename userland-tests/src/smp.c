/*
 * smp: threads and processes on several CPUs at once. Each case runs on one CPU
 * too (it then checks less), and on Linux: pinning with sched_setaffinity, getcpu
 * from the syscall and the vDSO, a mutex and atomics shared by threads on every
 * CPU, futex and pipe hand-offs between CPUs, fork across CPUs, a clock that never
 * goes back when a token moves between CPUs, and the TLB: munmap and mprotect must
 * reach a thread that is spinning in user mode on another CPU.
 */
#define KT_AREA "smp"
#include "kt.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

/* musl ships no <linux/futex.h> */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The CPUs this process may use, in order; returns how many. */
static int usable_cpus(int *list, int max)
{
    cpu_set_t s;
    if (sched_getaffinity(0, sizeof s, &s) != 0)
        return 0;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &s))
            list[n++] = c;
    return n;
}

static int pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return sched_setaffinity(0, sizeof s, &s);
}

/* Two CPUs to put the two sides of a hand-off on (the same one if there is one). */
static void two_cpus(int *a, int *b)
{
    int list[64];
    int n = usable_cpus(list, 64);
    *a = n > 0 ? list[0] : 0;
    *b = n > 1 ? list[1] : *a;
}

static long futex(atomic_int *addr, int op, int val)
{
    return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

/* ---- pinning and getcpu ------------------------------------------------- */

struct pinned {
    int cpu;
    int pin_rc;
    unsigned sys_cpu, vdso_cpu, later_cpu;
};

static void *run_pinned(void *arg)
{
    struct pinned *p = arg;
    p->pin_rc = pin(p->cpu);
    unsigned node;
    syscall(SYS_getcpu, &p->sys_cpu, &node, NULL);
    p->vdso_cpu = (unsigned)sched_getcpu();
    /* Spin for a while (time slices end, timers fire): still on the same CPU. */
    volatile unsigned long x = 0;
    long long t0 = now_ns();
    while (now_ns() - t0 < 30 * 1000000LL)
        x++;
    p->later_cpu = (unsigned)sched_getcpu();
    return NULL;
}

TEST(a_thread_pinned_to_each_cpu_runs_there) {
    int list[64];
    int n = usable_cpus(list, 64);
    CHECK(n >= 1, "no usable CPU");
    for (int i = 0; i < n; i++) {
        struct pinned p = {.cpu = list[i]};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, run_pinned, &p) == 0, "pthread_create");
        pthread_join(t, NULL);
        CHECK(p.pin_rc == 0, "pinning to CPU %d failed", list[i]);
        EXPECT_EQ(p.sys_cpu, (unsigned)list[i]);
        EXPECT_EQ(p.vdso_cpu, (unsigned)list[i]);
        EXPECT_EQ(p.later_cpu, (unsigned)list[i]);
    }
}

TEST(affinity_is_per_thread_and_inherited_by_fork) {
    int a, b;
    two_cpus(&a, &b);
    cpu_set_t old;
    OK(sched_getaffinity(0, sizeof old, &old));
    OK(pin(b));
    pid_t p = fork();
    OK(p);
    if (p == 0) {
        cpu_set_t s;
        if (sched_getaffinity(0, sizeof s, &s) != 0)
            _exit(2);
        _exit(CPU_COUNT(&s) == 1 && CPU_ISSET(b, &s) && sched_getcpu() == b ? 0 : 3);
    }
    int st;
    OK(waitpid(p, &st, 0));
    OK(sched_setaffinity(0, sizeof old, &old));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

TEST(setaffinity_to_cpus_that_are_not_online_is_einval) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(CPU_SETSIZE - 1, &s); /* CPU 1023: no machine here has it */
    EXPECT_ERRNO(sched_setaffinity(0, sizeof s, &s), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_setaffinity, 0, sizeof s, (void *)8), EFAULT);
    EXPECT_ERRNO(syscall(SYS_sched_setaffinity, 0x3ffffff0, sizeof s, &s), ESRCH);
}

/* ---- shared memory across CPUs ------------------------------------------ */

#define COUNTERS 4
#define ROUNDS 20000
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static long locked_count;
static atomic_long atomic_count;
static int count_cpu[COUNTERS];

static void *count(void *arg)
{
    int i = (int)(long)arg;
    pin(count_cpu[i]);
    for (int k = 0; k < ROUNDS; k++) {
        pthread_mutex_lock(&count_lock);
        locked_count++;
        pthread_mutex_unlock(&count_lock);
        atomic_fetch_add(&atomic_count, 1);
    }
    return NULL;
}

TEST(a_mutex_and_an_atomic_shared_by_threads_on_every_cpu) {
    int list[64];
    int n = usable_cpus(list, 64);
    CHECK(n >= 1, "no usable CPU");
    locked_count = 0;
    atomic_store(&atomic_count, 0);
    pthread_t t[COUNTERS];
    for (int i = 0; i < COUNTERS; i++) {
        count_cpu[i] = list[i % n];
        CHECK(pthread_create(&t[i], NULL, count, (void *)(long)i) == 0, "pthread_create");
    }
    for (int i = 0; i < COUNTERS; i++)
        pthread_join(t[i], NULL);
    EXPECT_EQ(locked_count, (long)COUNTERS * ROUNDS);
    EXPECT_EQ(atomic_load(&atomic_count), (long)COUNTERS * ROUNDS);
}

/* ---- hand-offs between CPUs --------------------------------------------- */

#define HANDOFFS 2000
static atomic_int turn;      /* 0: ping's turn, 1: pong's */
static long long stamp;      /* CLOCK_MONOTONIC when the token was passed */
static atomic_int clock_went_back;
static int pong_cpu;

static void pass_to(int who)
{
    stamp = now_ns();
    atomic_store(&turn, who);
    futex(&turn, FUTEX_WAKE_PRIVATE, 1);
}

static void wait_for(int who)
{
    int t;
    while ((t = atomic_load(&turn)) != who)
        futex(&turn, FUTEX_WAIT_PRIVATE, t);
    if (now_ns() < stamp)
        atomic_store(&clock_went_back, 1);
}

static void *pong(void *arg)
{
    (void)arg;
    pin(pong_cpu);
    for (int i = 0; i < HANDOFFS; i++) {
        wait_for(1);
        pass_to(0);
    }
    return NULL;
}

TEST(a_futex_token_passes_between_cpus_and_the_clock_never_goes_back) {
    int a, b;
    two_cpus(&a, &b);
    cpu_set_t old;
    OK(sched_getaffinity(0, sizeof old, &old));
    OK(pin(a));
    pong_cpu = b;
    atomic_store(&turn, 0);
    atomic_store(&clock_went_back, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, pong, NULL) == 0, "pthread_create");
    for (int i = 0; i < HANDOFFS; i++) {
        wait_for(0);
        pass_to(1);
    }
    wait_for(0);
    pthread_join(t, NULL);
    OK(sched_setaffinity(0, sizeof old, &old));
    EXPECT_EQ(atomic_load(&clock_went_back), 0);
}

TEST(a_pipe_between_processes_on_two_cpus_carries_every_byte) {
    int a, b;
    two_cpus(&a, &b);
    int to[2], from[2];
    OK(pipe(to));
    OK(pipe(from));
    pid_t p = fork();
    OK(p);
    if (p == 0) {
        pin(b);
        unsigned char c;
        for (int i = 0; i < HANDOFFS; i++) {
            if (read(to[0], &c, 1) != 1 || c != (unsigned char)i)
                _exit(2);
            c++;
            if (write(from[1], &c, 1) != 1)
                _exit(3);
        }
        _exit(0);
    }
    cpu_set_t old;
    OK(sched_getaffinity(0, sizeof old, &old));
    OK(pin(a));
    int bad = 0;
    for (int i = 0; i < HANDOFFS && !bad; i++) {
        unsigned char c = (unsigned char)i;
        if (write(to[1], &c, 1) != 1 || read(from[0], &c, 1) != 1 ||
            c != (unsigned char)(i + 1))
            bad = i + 1;
    }
    int st;
    OK(waitpid(p, &st, 0));
    OK(sched_setaffinity(0, sizeof old, &old));
    close(to[0]); close(to[1]); close(from[0]); close(from[1]);
    CHECK(!bad, "round trip %d came back wrong", bad - 1);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

TEST(forks_on_every_cpu_all_reaped_with_their_status) {
    enum { KIDS = 8, GRANDKIDS = 8 };
    int list[64];
    int n = usable_cpus(list, 64);
    pid_t kids[KIDS];
    for (int i = 0; i < KIDS; i++) {
        kids[i] = fork();
        OK(kids[i]);
        if (kids[i] == 0) {
            pin(list[i % n]);
            for (int g = 0; g < GRANDKIDS; g++) {
                pid_t q = fork();
                if (q < 0)
                    _exit(100);
                if (q == 0)
                    _exit(g);
                int st;
                if (waitpid(q, &st, 0) != q || !WIFEXITED(st) || WEXITSTATUS(st) != g)
                    _exit(101);
            }
            _exit(i);
        }
    }
    for (int i = 0; i < KIDS; i++) {
        int st;
        EXPECT_EQ(waitpid(kids[i], &st, 0), kids[i]);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == i, "child %d: status %#x", i, st);
    }
}

/* ---- the TLB: changes to the page tables reach every CPU ---------------- */

static volatile int *spin_page;
static atomic_int seen;
static atomic_int spin_stop;
static int spin_cpu;

static void *read_spin(void *arg)
{
    (void)arg;
    pin(spin_cpu);
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
        atomic_store_explicit(&seen, *spin_page, memory_order_relaxed);
    return NULL;
}

static int wait_seen(int want, long long ms)
{
    long long end = now_ns() + ms * 1000000LL;
    while (atomic_load(&seen) != want)
        if (now_ns() > end)
            return 0;
    return 1;
}

TEST(a_page_replaced_under_a_reader_on_another_cpu_is_seen_there) {
    int a, b;
    two_cpus(&a, &b);
    cpu_set_t old;
    OK(sched_getaffinity(0, sizeof old, &old));
    OK(pin(a));
    int *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED, "mmap");
    page[0] = 1;
    spin_page = page;
    spin_cpu = b;
    atomic_store(&seen, -1);
    atomic_store(&spin_stop, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_spin, NULL) == 0, "pthread_create");
    int ok1 = wait_seen(1, 2000);
    /* A fresh page at the same address: the reader must reach it, not the old
     * frame through a stale TLB entry. */
    void *again = mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                       -1, 0);
    int ok0 = again == page && wait_seen(0, 2000);
    page[0] = 5;
    int ok5 = wait_seen(5, 2000);
    atomic_store(&spin_stop, 1);
    pthread_join(t, NULL);
    munmap(page, 4096);
    OK(sched_setaffinity(0, sizeof old, &old));
    CHECK(ok1, "the reader never saw the first value");
    CHECK(ok0, "the reader did not see the fresh page (stale TLB?)");
    CHECK(ok5, "the reader did not see a write to the fresh page (stale TLB?)");
}

static sigjmp_buf read_fault_jmp;
static atomic_int read_faulted;

static void on_read_segv(int sig)
{
    (void)sig;
    atomic_store(&read_faulted, 1);
    siglongjmp(read_fault_jmp, 1);
}

static void *read_until_fault(void *arg)
{
    (void)arg;
    pin(spin_cpu);
    if (sigsetjmp(read_fault_jmp, 1) == 0)
        for (;;)
            atomic_store_explicit(&seen, *spin_page, memory_order_relaxed);
    return NULL;
}

TEST(munmap_makes_a_reader_spinning_on_another_cpu_fault) {
    int a, b;
    two_cpus(&a, &b);
    cpu_set_t old;
    OK(sched_getaffinity(0, sizeof old, &old));
    OK(pin(a));
    int *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED, "mmap");
    page[0] = 7;
    spin_page = page;
    spin_cpu = b;
    atomic_store(&seen, -1);
    atomic_store(&read_faulted, 0);
    struct sigaction sa = {.sa_handler = on_read_segv}, olds;
    OK(sigaction(SIGSEGV, &sa, &olds));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_until_fault, NULL) == 0, "pthread_create");
    int ok7 = wait_seen(7, 2000);
    OK(munmap(page, 4096));
    long long end = now_ns() + 2000 * 1000000LL;
    while (!atomic_load(&read_faulted) && now_ns() < end)
        ;
    int faulted = atomic_load(&read_faulted);
    if (faulted)
        pthread_join(t, NULL);
    OK(sigaction(SIGSEGV, &olds, NULL));
    OK(sched_setaffinity(0, sizeof old, &old));
    CHECK(ok7, "the reader never saw the page's value");
    CHECK(faulted, "the reader kept reading an unmapped page (stale TLB?)");
}

static sigjmp_buf write_fault_jmp;
static atomic_int write_faulted;
static atomic_long writes;

static void on_segv(int sig)
{
    (void)sig;
    atomic_store(&write_faulted, 1);
    siglongjmp(write_fault_jmp, 1);
}

static void *write_spin(void *arg)
{
    (void)arg;
    pin(spin_cpu);
    if (sigsetjmp(write_fault_jmp, 1) == 0)
        for (;;) {
            *spin_page = (int)atomic_fetch_add_explicit(&writes, 1, memory_order_relaxed);
        }
    return NULL;
}

TEST(mprotect_stops_a_writer_spinning_on_another_cpu) {
    int a, b;
    two_cpus(&a, &b);
    cpu_set_t old;
    OK(sched_getaffinity(0, sizeof old, &old));
    OK(pin(a));
    int *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED, "mmap");
    spin_page = page;
    spin_cpu = b;
    atomic_store(&writes, 0);
    atomic_store(&write_faulted, 0);
    struct sigaction sa = {.sa_handler = on_segv}, olds;
    OK(sigaction(SIGSEGV, &sa, &olds));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, write_spin, NULL) == 0, "pthread_create");
    long long end = now_ns() + 2000 * 1000000LL;
    while (atomic_load(&writes) < 1000 && now_ns() < end)
        ;
    OK(mprotect(page, 4096, PROT_READ));
    /* From here no write may land: the value in the page is frozen. */
    int frozen = page[0];
    end = now_ns() + 2000 * 1000000LL;
    while (!atomic_load(&write_faulted) && now_ns() < end)
        ;
    int faulted = atomic_load(&write_faulted);
    int after = page[0];
    if (faulted)
        pthread_join(t, NULL);
    OK(sigaction(SIGSEGV, &olds, NULL));
    OK(sched_setaffinity(0, sizeof old, &old));
    CHECK(faulted, "the writer never faulted after mprotect (stale TLB?)");
    EXPECT_EQ(after, frozen);
    munmap(page, 4096);
}

int main(void)
{
    KT_BEGIN();
    RUN(a_thread_pinned_to_each_cpu_runs_there);
    RUN(affinity_is_per_thread_and_inherited_by_fork);
    RUN(setaffinity_to_cpus_that_are_not_online_is_einval);
    RUN(a_mutex_and_an_atomic_shared_by_threads_on_every_cpu);
    RUN(a_futex_token_passes_between_cpus_and_the_clock_never_goes_back);
    RUN(a_pipe_between_processes_on_two_cpus_carries_every_byte);
    RUN(forks_on_every_cpu_all_reaped_with_their_status);
    RUN(a_page_replaced_under_a_reader_on_another_cpu_is_seen_there);
    RUN(munmap_makes_a_reader_spinning_on_another_cpu_fault);
    RUN(mprotect_stops_a_writer_spinning_on_another_cpu);
    return KT_END();
}
