/*
 * kbench - Kestrel's benchmark programs, one subcommand per benchmark.
 *
 *   kbench              run every benchmark but the scaling ones
 *   kbench --scaling    run the scaling benchmarks (N workers at once)
 *   kbench NAME...      run only these
 *   kbench --list       print "name unit description" for each benchmark
 *   kbench --scaling --list    the same for the scaling benchmarks
 *   -n N                the scaling benchmarks' N (default: the CPUs kbench may use)
 *
 * Every benchmark runs in a child process of its own, watched by a second child
 * that kills it after its time limit, so one benchmark that crashes or hangs on a
 * young kernel costs only itself.  Output, one result per line:
 *
 *   BENCH <name> <value> <unit>          a result: a unit ending in "/s" is a rate
 *                                        (higher is better), any other a cost (lower)
 *   BENCH <name> unsupported -           the kernel could not run it
 *   BENCHNOTE <name> <text>              why, or something worth knowing about it
 *   BENCHINFO <key> <value>              about the system it ran on
 *   BENCH_END                            after the last benchmark
 *
 * Timing is clock_gettime(CLOCK_MONOTONIC).  A benchmark warms up for WARM_S, then
 * takes SAMPLES samples of about BUDGET_S / SAMPLES each (a batch of operations, or
 * one operation when that alone takes longer) and reports the mean time per
 * operation of the fastest sample: other work on the host (QEMU under TCG shares it)
 * only ever adds time, so the minimum is the steadiest estimate.  10,000 threads
 * are measured once.
 *
 * The scaling benchmarks start N workers (N processes, threads or pairs of them)
 * that each count what they get done in shared memory; after a warm-up, kbench
 * reads the sum at the ends of SCALE_WINDOWS windows and reports the best window's
 * total rate.  Run at 1, 2 and 4 CPUs, they show how the throughput grows with N.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/select.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* musl's headers have no <linux/futex.h>. */
#define FUTEX_WAIT_PRIVATE 128 /* FUTEX_WAIT (0) | FUTEX_PRIVATE_FLAG */
#define FUTEX_WAKE_PRIVATE 129 /* FUTEX_WAKE (1) | FUTEX_PRIVATE_FLAG */

#define WARM_S 0.1
#define BUDGET_S 0.5
#define SAMPLES 5
#define PAGE 4096UL
#define MIB (1024UL * 1024UL)

/* ---- helpers ------------------------------------------------------------ */

static const char *self_dir = "/bench"; /* where nop lives: the directory of argv[0] */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Prints a result with about three significant digits and no exponent. */
static void result(const char *name, double value, const char *unit)
{
    const char *fmt = value >= 100 ? "BENCH %s %.0f %s\n"
                    : value >= 10  ? "BENCH %s %.1f %s\n"
                                   : "BENCH %s %.2f %s\n";
    printf(fmt, name, value, unit);
}

static void unsupported(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void unsupported(const char *name, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    printf("BENCH %s unsupported -\n", name);
    printf("BENCHNOTE %s %s\n", name, why);
}

static void note(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const char *name, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    printf("BENCHNOTE %s %s\n", name, text);
}

static long futex(atomic_int *addr, int op, int val)
{
    return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

/* An operation to time: returns 0, or an errno value if it failed. */
typedef int (*op_fn)(void *ctx);

/*
 * Warms up for warm_s, then takes SAMPLES samples of about budget_s / SAMPLES each
 * (but at least 3, and at least min_ops operations in all, when one operation takes
 * longer).  Stores the mean ns per operation of the fastest sample; returns 0 or
 * op's errno.
 */
static int timed(op_fn op, void *ctx, double warm_s, double budget_s, long min_ops,
                 double *ns_per_op)
{
    long n = 0;
    int e;
    double t0 = now_ns(), t;
    do {
        if ((e = op(ctx)))
            return e;
        n++;
    } while ((t = now_ns()) - t0 < warm_s * 1e9 || n < 1);
    double per = (t - t0) / (double)n;
    long batch = (long)(budget_s * 1e9 / SAMPLES / (per > 1 ? per : 1));
    if (batch < (min_ops + SAMPLES - 1) / SAMPLES)
        batch = (min_ops + SAMPLES - 1) / SAMPLES;
    if (batch < 1)
        batch = 1;
    double best = -1, start = now_ns();
    for (int sample = 0; sample < SAMPLES; sample++) {
        if (sample >= 3 && now_ns() - start > budget_s * 1e9)
            break;
        t0 = now_ns();
        for (long i = 0; i < batch; i++)
            if ((e = op(ctx)))
                return e;
        double mean = (now_ns() - t0) / (double)batch;
        if (best < 0 || mean < best)
            best = mean;
    }
    *ns_per_op = best;
    return 0;
}

/* Runs a timed benchmark and prints its line, scaled from ns by `div`. */
static void report(const char *name, op_fn op, void *ctx, double warm_s, double budget_s,
                   long min_ops, double div, const char *unit)
{
    double ns;
    int e = timed(op, ctx, warm_s, budget_s, min_ops, &ns);
    if (e)
        unsupported(name, "%s", strerror(e));
    else
        result(name, ns / div, unit);
}

/* ---- threads ------------------------------------------------------------ */

static void *nop_thread(void *arg)
{
    return arg;
}

static int op_thread_create_join(void *ctx)
{
    (void)ctx;
    pthread_t t;
    int e = pthread_create(&t, NULL, nop_thread, NULL);
    if (e)
        return e;
    return pthread_join(t, NULL);
}

static void b_thread_create_join(void)
{
    report("thread_create_join", op_thread_create_join, NULL, WARM_S, BUDGET_S, 10, 1e3,
           "us/op");
}

/* ---- processes ---------------------------------------------------------- */

static int wait_ok(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : ECHILD;
}

static int op_fork_exit_wait(void *ctx)
{
    (void)ctx;
    pid_t pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0)
        _exit(0);
    return wait_ok(pid);
}

static void b_fork_exit_wait(void)
{
    report("fork_exit_wait", op_fork_exit_wait, NULL, WARM_S, BUDGET_S, 10, 1e3, "us/op");
}

static char nop_path[PATH_MAX];

static int op_fork_exec_wait(void *ctx)
{
    (void)ctx;
    static char *const argv[] = {"nop", NULL};
    static char *const envp[] = {NULL};
    pid_t pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0) {
        execve(nop_path, argv, envp);
        _exit(127);
    }
    return wait_ok(pid);
}

static void b_fork_exec_wait(void)
{
    snprintf(nop_path, sizeof nop_path, "%s/nop", self_dir);
    if (access(nop_path, X_OK) != 0) {
        unsupported("fork_exec_wait", "%s: %s", nop_path, strerror(errno));
        return;
    }
    double ns;
    int e = timed(op_fork_exec_wait, NULL, WARM_S, BUDGET_S, 10, &ns);
    if (e == ECHILD)
        unsupported("fork_exec_wait", "the exec'd %s did not exit with status 0", nop_path);
    else if (e)
        unsupported("fork_exec_wait", "%s", strerror(e));
    else
        result("fork_exec_wait", ns / 1e3, "us/op");
}

/* ---- memory ------------------------------------------------------------- */

static int op_mmap_touch_munmap(void *ctx)
{
    size_t len = *(size_t *)ctx;
    volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    for (size_t off = 0; off < len; off += PAGE)
        p[off] = 1;
    if (munmap((void *)p, len) != 0)
        return errno;
    return 0;
}

static void b_mmap_touch_munmap_256m(void)
{
    size_t len = 256 * MIB;
    report("mmap_touch_munmap_256m", op_mmap_touch_munmap, &len, 0, 1.0, 3, 1e6, "ms/op");
}

/* First-touch faults over 32 MiB of fresh anonymous memory, 4 KiB pages: stores the
 * time of the touch loop alone, not of mmap/munmap. */
#define FAULT_LEN (32 * MIB)

static int op_page_faults(void *ctx)
{
    double *fault_ns = ctx;
    volatile char *p =
        mmap(NULL, FAULT_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    /* Measure 4 KiB faults even where transparent huge pages are on (error ignored). */
    madvise((void *)p, FAULT_LEN, MADV_NOHUGEPAGE);
    double t0 = now_ns();
    for (size_t off = 0; off < FAULT_LEN; off += PAGE)
        p[off] = 1;
    *fault_ns = now_ns() - t0;
    if (munmap((void *)p, FAULT_LEN) != 0)
        return errno;
    return 0;
}

static void b_page_fault(void)
{
    /* One warm-up round, then SAMPLES rounds (at least 3 within the budget); the
     * fastest round counts. */
    double fault_ns, best = -1, t0 = now_ns();
    int e = op_page_faults(&fault_ns);
    for (int round = 0; !e && round < SAMPLES; round++) {
        if (round >= 3 && now_ns() - t0 > BUDGET_S * 1e9)
            break;
        e = op_page_faults(&fault_ns);
        if (best < 0 || fault_ns < best)
            best = fault_ns;
    }
    if (e) {
        unsupported("page_fault", "%s", strerror(e));
        return;
    }
    result("page_fault", best / (double)(FAULT_LEN / PAGE), "ns/fault");
}

/* ---- futex ping-pong ---------------------------------------------------- */

static atomic_int turn;    /* 0: main's move, 1: partner's move */
static atomic_int stop;
static atomic_int futex_err;

static void *partner(void *arg)
{
    (void)arg;
    for (;;) {
        while (atomic_load(&turn) != 1)
            if (futex(&turn, FUTEX_WAIT_PRIVATE, 0) < 0 && errno != EAGAIN && errno != EINTR) {
                atomic_store(&futex_err, errno);
                return NULL;
            }
        if (atomic_load(&stop))
            return NULL;
        atomic_store(&turn, 0);
        futex(&turn, FUTEX_WAKE_PRIVATE, 1);
    }
}

static int op_pingpong(void *ctx)
{
    (void)ctx;
    atomic_store(&turn, 1);
    if (futex(&turn, FUTEX_WAKE_PRIVATE, 1) < 0)
        return errno;
    while (atomic_load(&turn) != 0) {
        if (futex(&turn, FUTEX_WAIT_PRIVATE, 1) < 0 && errno != EAGAIN && errno != EINTR)
            return errno;
        if (atomic_load(&futex_err))
            return atomic_load(&futex_err);
    }
    return 0;
}

static void b_futex_pingpong(void)
{
    pthread_t t;
    int e = pthread_create(&t, NULL, partner, NULL);
    if (e) {
        unsupported("futex_pingpong", "pthread_create: %s", strerror(e));
        return;
    }
    double ns;
    e = timed(op_pingpong, NULL, WARM_S, BUDGET_S, 100, &ns);
    atomic_store(&stop, 1);
    atomic_store(&turn, 1);
    futex(&turn, FUTEX_WAKE_PRIVATE, 1);
    pthread_join(t, NULL);
    if (e)
        unsupported("futex_pingpong", "futex: %s", strerror(e));
    else
        result("futex_pingpong", ns, "ns/roundtrip");
}

/* ---- 10,000 threads blocked in FUTEX_WAIT ------------------------------- */

#define NTHREADS 10000
#define TSTACK (16 * 1024)

static atomic_int started;
static atomic_int release_word;
static pthread_t tids[NTHREADS];

static void *blocked_thread(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    while (atomic_load(&release_word) == 0)
        futex(&release_word, FUTEX_WAIT_PRIVATE, 0);
    return NULL;
}

static double free_bytes(void)
{
    struct sysinfo si;
    if (sysinfo(&si) != 0)
        return -1;
    return (double)si.freeram * (double)si.mem_unit;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void b_threads_10k(void)
{
    const char *name = "threads_10k_kernel_bytes_per_thread";
    /* The threads' stacks (16 KiB each, pthread_attr_setstack) are one mapping,
     * touched in full before the first measurement, so the difference in free
     * memory is the kernel's: musl keeps a thread's TLS and descriptor at the top
     * of a caller-supplied stack this size, so it maps nothing else. */
    size_t len = (size_t)NTHREADS * TSTACK;
    char *stacks = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stacks == MAP_FAILED) {
        unsupported(name, "mmap of the stacks: %s", strerror(errno));
        return;
    }
    memset(stacks, 0, len);
    if (free_bytes() < 0) {
        unsupported(name, "sysinfo: %s", strerror(errno));
        return;
    }
    sleep_ms(100);
    double before = free_bytes();
    double t0 = now_ns();
    int made = 0, e = 0;
    for (; made < NTHREADS; made++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstack(&attr, stacks + (size_t)made * TSTACK, TSTACK);
        e = pthread_create(&tids[made], &attr, blocked_thread, NULL);
        pthread_attr_destroy(&attr);
        if (e)
            break;
    }
    double create_ns = now_ns() - t0;
    /* Wait until each thread has started, then give the last ones time to block. */
    for (int i = 0; atomic_load(&started) < made && i < 30000; i++)
        sleep_ms(1);
    sleep_ms(200);
    double after = free_bytes();
    int running = atomic_load(&started);
    atomic_store(&release_word, 1);
    futex(&release_word, FUTEX_WAKE_PRIVATE, INT_MAX);
    for (int i = 0; i < made; i++)
        pthread_join(tids[i], NULL);
    if (e) {
        unsupported(name, "pthread_create failed after %d threads: %s", made, strerror(e));
        return;
    }
    if (running < made) {
        unsupported(name, "only %d of %d threads started", running, made);
        return;
    }
    result(name, (before - after) / NTHREADS, "bytes");
    note(name, "free memory %.1f MiB before, %.1f MiB after; creating the threads took %.0f ms",
         before / MIB, after / MIB, create_ns / 1e6);
}

/* ---- signals ------------------------------------------------------------ */

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
    (void)sig;
    handled++;
}

static pid_t my_pid;

static int op_signal(void *ctx)
{
    (void)ctx;
    if (syscall(SYS_kill, my_pid, SIGUSR1) != 0)
        return errno;
    return 0;
}

static void b_signal_roundtrip(void)
{
    const char *name = "signal_roundtrip";
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0) {
        unsupported(name, "sigaction: %s", strerror(errno));
        return;
    }
    my_pid = getpid();
    if (op_signal(NULL) != 0 || handled != 1) {
        unsupported(name, "kill(self, SIGUSR1) did not run the handler");
        return;
    }
    report(name, op_signal, NULL, WARM_S, BUDGET_S, 100, 1, "ns/op");
}

/* ---- time --------------------------------------------------------------- */

static int op_clock_libc(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    return clock_gettime(CLOCK_MONOTONIC, &ts) ? errno : 0;
}

static int op_clock_syscall(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    return syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) ? errno : 0;
}

static void b_clock_gettime_vdso(void)
{
    if (!getauxval(AT_SYSINFO_EHDR))
        note("clock_gettime_vdso", "no vDSO (AT_SYSINFO_EHDR): libc makes the system call");
    report("clock_gettime_vdso", op_clock_libc, NULL, WARM_S, BUDGET_S, 1000, 1, "ns/op");
}

static void b_clock_gettime_syscall(void)
{
    report("clock_gettime_syscall", op_clock_syscall, NULL, WARM_S, BUDGET_S, 1000, 1, "ns/op");
}

static int op_nanosleep0(void *ctx)
{
    (void)ctx;
    struct timespec ts = {0, 0};
    return nanosleep(&ts, NULL) ? errno : 0;
}

static void b_nanosleep_0(void)
{
    report("nanosleep_0", op_nanosleep0, NULL, WARM_S, BUDGET_S, 100, 1, "ns/op");
}

static int op_nanosleep1ms(void *ctx)
{
    (void)ctx;
    struct timespec ts = {0, 1000000};
    return nanosleep(&ts, NULL) ? errno : 0;
}

/* A sleeper's wake-up while a CPU-bound process shares its CPU: both are pinned to
 * the CPU kbench runs on. A kernel that lets the woken sleeper preempt the hog
 * (Linux does) shows about 1 ms and the timer's latency; one that leaves the hog its
 * whole time slice shows the slice. */
static void b_nanosleep_1ms_busy_peer(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) {
        unsupported("nanosleep_1ms_busy_peer", "sched_setaffinity: %s", strerror(errno));
        return;
    }
    pid_t hog = fork();
    if (hog < 0) {
        unsupported("nanosleep_1ms_busy_peer", "fork: %s", strerror(errno));
        return;
    }
    if (hog == 0)
        for (;;)
            __asm__ volatile("" ::: "memory");
    report("nanosleep_1ms_busy_peer", op_nanosleep1ms, NULL, 0.2, 1.0, 20, 1e3, "us/op");
    kill(hog, SIGKILL);
    waitpid(hog, NULL, 0);
}

static int op_getppid(void *ctx)
{
    (void)ctx;
    syscall(SYS_getppid);
    return 0;
}

static void b_syscall_getppid(void)
{
    report("syscall_getppid", op_getppid, NULL, WARM_S, BUDGET_S, 1000, 1, "ns/op");
}

/* ---- small calls (issue 14's rows) ------------------------------------------ */

static int zero_fd = -1;

static int op_read_devzero(void *ctx)
{
    (void)ctx;
    char c;
    return read(zero_fd, &c, 1) == 1 ? 0 : errno ? errno : EIO;
}

static void b_read_devzero_1b(void)
{
    zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (zero_fd < 0) {
        unsupported("read_devzero_1b", "open /dev/zero: %s", strerror(errno));
        return;
    }
    report("read_devzero_1b", op_read_devzero, NULL, WARM_S, BUDGET_S, 1000, 1, "ns/op");
    close(zero_fd);
}

static void on_usr2(int sig)
{
    (void)sig;
}

static int op_sigaction(void *ctx)
{
    (void)ctx;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGUSR2, &sa, NULL) ? errno : 0;
}

static void b_sigaction_install(void)
{
    report("sigaction_install", op_sigaction, NULL, WARM_S, BUDGET_S, 1000, 1, "ns/op");
}

static char tmp_dir[64];

/* A fresh directory for files the rows need: under /tmp, made if missing. */
static const char *scratch_dir(void)
{
    if (!tmp_dir[0]) {
        mkdir("/tmp", 01777);
        strcpy(tmp_dir, "/tmp/kbench.XXXXXX");
        if (!mkdtemp(tmp_dir))
            tmp_dir[0] = 0;
    }
    return tmp_dir[0] ? tmp_dir : NULL;
}

static char stat_path[128];

static int op_stat(void *ctx)
{
    (void)ctx;
    struct stat st;
    return stat(stat_path, &st) ? errno : 0;
}

static void b_stat(void)
{
    const char *dir = scratch_dir();
    if (!dir) {
        unsupported("stat", "no scratch directory: %s", strerror(errno));
        return;
    }
    /* Three components, as lmbench's lat_syscall stat of a file in /tmp. */
    snprintf(stat_path, sizeof stat_path, "%s/stat-me", dir);
    int fd = open(stat_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        unsupported("stat", "create %s: %s", stat_path, strerror(errno));
        return;
    }
    close(fd);
    report("stat", op_stat, NULL, WARM_S, BUDGET_S, 1000, 1, "ns/op");
    unlink(stat_path);
}

#define NFDS 100
static int sel_fds[NFDS];
static int sel_max;

static int op_select(void *ctx)
{
    (void)ctx;
    fd_set r;
    FD_ZERO(&r);
    for (int i = 0; i < NFDS; i++)
        FD_SET(sel_fds[i], &r);
    struct timeval tv = {0, 0};
    return select(sel_max + 1, &r, NULL, NULL, &tv) < 0 ? errno : 0;
}

static int op_poll(void *ctx)
{
    (void)ctx;
    struct pollfd p[NFDS];
    for (int i = 0; i < NFDS; i++)
        p[i] = (struct pollfd){.fd = sel_fds[i], .events = POLLIN};
    return poll(p, NFDS, 0) < 0 ? errno : 0;
}

/* select or poll of 100 idle pipe read ends, timeout 0 (lmbench's lat_select). */
static void fds_row(const char *name, op_fn op)
{
    int pipes[NFDS / 2][2];
    int made = 0;
    for (; made < NFDS / 2; made++)
        if (pipe(pipes[made]) != 0)
            break;
    if (made < NFDS / 2) {
        unsupported(name, "pipe: %s", strerror(errno));
    } else {
        sel_max = 0;
        for (int i = 0; i < NFDS / 2; i++) {
            sel_fds[2 * i] = pipes[i][0];
            sel_fds[2 * i + 1] = pipes[i][1];
        }
        /* The write ends are writable, so select and poll report them: look
         * only for input, which no pipe has. */
        for (int i = 0; i < NFDS; i++)
            if (sel_fds[i] > sel_max)
                sel_max = sel_fds[i];
        if (sel_max >= FD_SETSIZE)
            unsupported(name, "descriptor %d past FD_SETSIZE", sel_max);
        else
            report(name, op, NULL, WARM_S, BUDGET_S, 1000, 1, "ns/op");
    }
    for (int i = 0; i < made; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
}

static void b_select_100fds(void)
{
    fds_row("select_100fds", op_select);
}

static void b_poll_100fds(void)
{
    fds_row("poll_100fds", op_poll);
}

#define FILE_FAULT_LEN (16 * MIB)

/* First touch of each page of a file already in the page cache, mapped private
 * read-only: the file-backed fault (lmbench's lat_pagefault), per page touched
 * (Linux maps up to 16 cached pages around each fault it takes). */
static void b_file_page_fault(void)
{
    const char *name = "file_page_fault";
    const char *dir = scratch_dir();
    char path[128];
    if (!dir) {
        unsupported(name, "no scratch directory");
        return;
    }
    snprintf(path, sizeof path, "%s/fault-me", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        unsupported(name, "create %s: %s", path, strerror(errno));
        return;
    }
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof chunk);
    for (size_t off = 0; off < FILE_FAULT_LEN; off += sizeof chunk)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
            unsupported(name, "write: %s", strerror(errno));
            close(fd);
            unlink(path);
            return;
        }
    double best = -1, t0 = now_ns();
    int err = 0;
    for (int round = 0; round <= SAMPLES; round++) {
        if (round > 3 && now_ns() - t0 > BUDGET_S * 1e9)
            break;
        volatile char *p = mmap(NULL, FILE_FAULT_LEN, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            err = errno;
            break;
        }
        double t = now_ns();
        unsigned sum = 0;
        for (size_t off = 0; off < FILE_FAULT_LEN; off += PAGE)
            sum += (unsigned char)p[off];
        t = now_ns() - t;
        munmap((void *)p, FILE_FAULT_LEN);
        if (sum != 'x' * (FILE_FAULT_LEN / PAGE)) {
            err = EIO;
            break;
        }
        if (round > 0 && (best < 0 || t < best)) /* round 0 warms up */
            best = t;
    }
    close(fd);
    unlink(path);
    if (err || best < 0)
        unsupported(name, "%s", strerror(err ? err : EIO));
    else
        result(name, best / (double)(FILE_FAULT_LEN / PAGE), "ns/fault");
}

static int op_sh_c_exit(void *ctx)
{
    (void)ctx;
    static char *const argv[] = {"sh", "-c", "exit", NULL};
    static char *const envp[] = {"PATH=/bin:/usr/bin", NULL};
    pid_t pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0) {
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    return wait_ok(pid);
}

static void b_sh_c_exit(void)
{
    if (access("/bin/sh", X_OK) != 0) {
        unsupported("sh_c_exit", "no /bin/sh");
        return;
    }
    report("sh_c_exit", op_sh_c_exit, NULL, WARM_S, BUDGET_S, 10, 1e3, "us/op");
}

/* ---- two processes: pipes and Unix sockets --------------------------------- */

/* The descriptor the bandwidth and TCP/UDP rows write into: a pipe's or a
 * socketpair's end (rows below), or the client's socket (the loopback rows). */
static int net_fd;

static int op_net_write_64k(void *ctx)
{
    (void)ctx;
    static char buf[65536];
    size_t done = 0;
    while (done < sizeof buf) {
        ssize_t n = write(net_fd, buf + done, sizeof buf - done);
        if (n <= 0)
            return errno ? errno : EIO;
        done += (size_t)n;
    }
    return 0;
}


/* A child that echoes each byte (latency) or reads everything (bandwidth) on
 * `in`, answering on `out`, until EOF. */
static pid_t echo_child(int in, int out, bool sink, int close_a, int close_b)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    close(close_a);
    if (close_b != close_a)
        close(close_b);
    static char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(in, buf, sink ? sizeof buf : 1);
        if (n <= 0)
            _exit(n == 0 ? 0 : 1);
        if (!sink && write(out, buf, (size_t)n) != n)
            _exit(1);
    }
}

static int lat_fds[2]; /* [0]: where main writes, [1]: where it reads the echo */

static int op_byte_roundtrip(void *ctx)
{
    (void)ctx;
    char c = 'x';
    if (write(lat_fds[0], &c, 1) != 1)
        return errno ? errno : EIO;
    if (read(lat_fds[1], &c, 1) != 1)
        return errno ? errno : EIO;
    return 0;
}


static void ipc_latency(const char *name, bool unix_socket)
{
    int a[2], b[2];
    int ra = unix_socket ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) : pipe2(a, O_CLOEXEC);
    int rb = unix_socket ? 0 : pipe2(b, O_CLOEXEC);
    if (ra != 0 || rb != 0) {
        unsupported(name, "%s: %s", unix_socket ? "socketpair" : "pipe", strerror(errno));
        return;
    }
    pid_t pid;
    if (unix_socket) {
        /* main uses a[0] both ways, the child a[1]. */
        pid = echo_child(a[1], a[1], false, a[0], a[0]);
        lat_fds[0] = lat_fds[1] = a[0];
        close(a[1]);
    } else {
        /* main writes a[1], the child reads a[0] and writes b[1], main reads b[0]. */
        pid = echo_child(a[0], b[1], false, a[1], b[0]);
        lat_fds[0] = a[1];
        lat_fds[1] = b[0];
        close(a[0]);
        close(b[1]);
    }
    if (pid < 0)
        unsupported(name, "fork: %s", strerror(errno));
    else
        report(name, op_byte_roundtrip, NULL, WARM_S, BUDGET_S, 100, 1, "ns/roundtrip");
    close(lat_fds[0]);
    if (lat_fds[1] != lat_fds[0])
        close(lat_fds[1]);
    if (pid > 0)
        wait_ok(pid);
}

static void ipc_bandwidth(const char *name, bool unix_socket)
{
    int a[2];
    int r = unix_socket ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) : pipe2(a, O_CLOEXEC);
    if (r != 0) {
        unsupported(name, "%s: %s", unix_socket ? "socketpair" : "pipe", strerror(errno));
        return;
    }
    /* main writes a[1]; the child reads a[0]. */
    pid_t pid = echo_child(a[0], a[0], true, a[1], a[1]);
    close(a[0]);
    net_fd = a[1];
    if (pid < 0) {
        unsupported(name, "fork: %s", strerror(errno));
        close(a[1]);
        return;
    }
    double ns;
    int e = timed(op_net_write_64k, NULL, WARM_S, BUDGET_S, 100, &ns);
    if (e)
        unsupported(name, "%s", strerror(e));
    else
        result(name, 65536e3 / ns, "MB/s"); /* 64 KiB per op -> MB/s */
    close(a[1]);
    wait_ok(pid);
}

static void b_pipe_latency(void)
{
    ipc_latency("pipe_latency", false);
}

static void b_unix_latency(void)
{
    ipc_latency("unix_latency", true);
}

static void b_pipe_bandwidth(void)
{
    ipc_bandwidth("pipe_bandwidth", false);
}

static void b_unix_bandwidth(void)
{
    ipc_bandwidth("unix_bandwidth", true);
}

/* ---- loopback networking: TCP and UDP on 127.0.0.1 ----------------------- */

/* A server thread in the same process: it echoes (latency) or swallows
 * (bandwidth) what one TCP connection or UDP socket sends. */
struct net_server {
    int fd;   /* listening TCP socket, or the bound UDP socket */
    bool tcp;
    bool echo;
};

static void *net_serve(void *arg)
{
    struct net_server *s = arg;
    static char buf[65536];
    int c = s->tcp ? accept(s->fd, NULL, NULL) : s->fd;
    if (c < 0)
        return NULL;
    for (;;) {
        if (s->tcp) {
            ssize_t n = read(c, buf, sizeof buf);
            if (n <= 0)
                break;
            if (s->echo && write(c, buf, (size_t)n) != n)
                break;
        } else {
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(c, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
            if (n <= 0)
                break;
            if (n == 1 && buf[0] == 'q')
                break;
            sendto(c, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
        }
    }
    if (s->tcp)
        close(c);
    return NULL;
}

/* A listening or bound socket on 127.0.0.1 and an ephemeral port. */
static int net_bound(bool tcp, struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof *addr;
    if (bind(fd, (struct sockaddr *)addr, len) != 0 || getsockname(fd, (struct sockaddr *)addr, &len) != 0 ||
        (tcp && listen(fd, 64) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}


static int op_net_pingpong(void *ctx)
{
    (void)ctx;
    char b = 'x';
    if (write(net_fd, &b, 1) != 1 || read(net_fd, &b, 1) != 1)
        return errno ? errno : EIO;
    return 0;
}


/* Runs `op` against a server thread; `echo`: the server answers. */
static void net_bench(const char *name, bool tcp, bool echo, op_fn op, double div, const char *unit,
                      bool rate)
{
    struct sockaddr_in addr;
    int l = net_bound(tcp, &addr);
    if (l < 0) {
        unsupported(name, "socket on 127.0.0.1: %s", strerror(errno));
        return;
    }
    struct net_server srv = {l, tcp, echo};
    pthread_t t;
    if (pthread_create(&t, NULL, net_serve, &srv) != 0) {
        unsupported(name, "pthread_create failed");
        close(l);
        return;
    }
    net_fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    int one = 1;
    if (tcp)
        setsockopt(net_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (net_fd < 0 || connect(net_fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        unsupported(name, "connect to 127.0.0.1: %s", strerror(errno));
        /* Let the server thread go: a TCP accept ends at shutdown; a UDP
         * receive ends at its quit byte. */
        if (tcp) {
            shutdown(l, SHUT_RDWR);
        } else {
            char q = 'q';
            int u = socket(AF_INET, SOCK_DGRAM, 0);
            sendto(u, &q, 1, 0, (struct sockaddr *)&addr, sizeof addr);
            close(u);
        }
    } else {
        double ns;
        int e = timed(op, NULL, WARM_S, BUDGET_S, 10, &ns);
        if (e)
            unsupported(name, "%s", strerror(e));
        else if (rate)
            result(name, div / ns * 1e3, unit); /* div bytes per op -> MB/s */
        else
            result(name, ns / div, unit);
    }
    if (tcp) {
        close(net_fd);
    } else {
        char q = 'q';
        send(net_fd, &q, 1, 0);
        close(net_fd);
    }
    pthread_join(t, NULL);
    close(l);
}

static void b_tcp_latency(void)
{
    net_bench("tcp_latency", true, true, op_net_pingpong, 1, "ns/roundtrip", false);
}

static void b_udp_latency(void)
{
    net_bench("udp_latency", false, true, op_net_pingpong, 1, "ns/roundtrip", false);
}

static void b_tcp_bandwidth(void)
{
    net_bench("tcp_bandwidth", true, false, op_net_write_64k, 65536, "MB/s", true);
}

static int op_tcp_connect(void *ctx)
{
    const struct sockaddr_in *addr = ctx;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return errno;
    int r = connect(fd, (const struct sockaddr *)addr, sizeof *addr);
    int e = errno;
    close(fd);
    return r == 0 ? 0 : e;
}

/* connect to a listener whose thread accepts and closes. */
static void *accept_close(void *arg)
{
    int l = *(int *)arg;
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            break;
        close(c);
    }
    return NULL;
}

static void b_tcp_connect(void)
{
    struct sockaddr_in addr;
    int l = net_bound(true, &addr);
    if (l < 0) {
        unsupported("tcp_connect", "socket on 127.0.0.1: %s", strerror(errno));
        return;
    }
    pthread_t t;
    pthread_create(&t, NULL, accept_close, &l);
    report("tcp_connect", op_tcp_connect, &addr, WARM_S, BUDGET_S, 10, 1e3, "us/op");
    shutdown(l, SHUT_RDWR);
    close(l);
    /* The acceptor may stay blocked on some kernels; the benchmark's process
     * ends right after, which ends it. */
}

/* ---- many connections: bench/epoll_echo.c ----------------------------------- */

/* Runs /bench/epoll_echo (next to kbench) with `args`; it prints the BENCH lines. */
static void run_epoll_echo(const char *row, char *const args[])
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/epoll_echo", self_dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[8] = {"epoll_echo"};
        for (int i = 0; args[i] && i < 6; i++)
            argv[i + 1] = args[i];
        static char *const envp[] = {NULL};
        execve(path, argv, envp);
        unsupported(row, "exec %s: %s", path, strerror(errno));
        fflush(stdout);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st))
        unsupported(row, "epoll_echo killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
}

static void b_tcp_epoll_echo_1k(void)
{
    run_epoll_echo("tcp_epoll_echo_1k_rate",
                   (char *const[]){"echo", "1000", "2", "tcp_epoll_echo_1k", NULL});
}

static void b_tcp_epoll_echo_10k(void)
{
    run_epoll_echo("tcp_epoll_echo_10k_rate",
                   (char *const[]){"echo", "10000", "5", "tcp_epoll_echo_10k", NULL});
}

static void b_tcp_idle_conn(void)
{
    run_epoll_echo("tcp_idle_conn_kernel_bytes",
                   (char *const[]){"idle", "10000", "tcp_idle_conn_kernel_bytes", NULL});
}

/* The p50 and p99 rows come with their _rate row's run, fs_unlink_10k with
 * fs_create_10k's (xtask times boot_to_init and boot_to_shell). */
static void b_with_rate_row(void) {}

/* ---- the disk: virtio-blk read from user space ---------------------------- */

/* xtask gives both kernels the same read-only disk image as /dev/vda. Reads
 * bypass any page cache (O_DIRECT on Linux; Kestrel's block devices have none),
 * so each one is a request to the device. "In flight" is the number of threads
 * each keeping one read outstanding: 1, or 32. */
#define BLK_DEV "/dev/vda"
#define BLK_WARM_S 0.2
#define BLK_SECONDS 1.0
#define BLK_THREADS_MAX 32

struct blk_job {
    int fd;
    long long blocks; /* the disk in units of bs */
    size_t bs;
    bool sequential;
    int idx, nthreads;
    atomic_long *done;
    atomic_int *stop;
    atomic_int *err;
};

static void *blk_worker(void *arg)
{
    struct blk_job *j = arg;
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, j->bs) != 0) {
        atomic_store(j->err, ENOMEM);
        return NULL;
    }
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(j->idx + 1);
    for (long long i = 0; !atomic_load_explicit(j->stop, memory_order_relaxed); i++) {
        long long b;
        if (j->sequential) {
            /* Thread k reads blocks k, k+n, k+2n...: together, one stream. */
            b = (j->idx + i * j->nthreads) % j->blocks;
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b = (long long)(x % (uint64_t)j->blocks);
        }
        ssize_t r = pread(j->fd, buf, j->bs, (off_t)(b * (long long)j->bs));
        if (r != (ssize_t)j->bs) {
            atomic_store(j->err, r < 0 ? errno : EIO);
            break;
        }
        atomic_fetch_add_explicit(j->done, 1, memory_order_relaxed);
    }
    free(buf);
    return NULL;
}

static void blk_run(const char *name, size_t bs, bool sequential, int nthreads, bool mbps)
{
    int fd = open(BLK_DEV, O_RDONLY | O_DIRECT);
    if (fd < 0) {
        unsupported(name, "open %s: %s (no disk given?)", BLK_DEV, strerror(errno));
        return;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < (off_t)(16 << 20)) {
        unsupported(name, "%s is %lld bytes: want at least 16 MiB", BLK_DEV, (long long)size);
        close(fd);
        return;
    }
    atomic_long done = 0;
    atomic_int stop = 0, err = 0;
    struct blk_job jobs[BLK_THREADS_MAX];
    pthread_t tids[BLK_THREADS_MAX];
    int started = 0;
    for (int i = 0; i < nthreads; i++) {
        jobs[i] = (struct blk_job){fd, (long long)(size / (off_t)bs), bs, sequential, i,
                                   nthreads, &done, &stop, &err};
        if (pthread_create(&tids[i], NULL, blk_worker, &jobs[i]) != 0)
            break;
        started++;
    }
    sleep_ms((long)(BLK_WARM_S * 1000));
    long d0 = atomic_load(&done);
    double t0 = now_ns();
    sleep_ms((long)(BLK_SECONDS * 1000));
    long d1 = atomic_load(&done);
    double t1 = now_ns();
    atomic_store(&stop, 1);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    close(fd);
    if (started < nthreads) {
        unsupported(name, "only %d of %d threads started", started, nthreads);
        return;
    }
    if (atomic_load(&err)) {
        unsupported(name, "a read failed: %s", strerror(atomic_load(&err)));
        return;
    }
    double per_s = (double)(d1 - d0) / ((t1 - t0) / 1e9);
    if (mbps)
        result(name, per_s * (double)bs / 1e6, "MB/s");
    else
        result(name, per_s, "reads/s");
}

static void b_blk_randread_4k_qd1(void)
{
    blk_run("blk_randread_4k_qd1", 4096, false, 1, false);
}

static void b_blk_randread_4k_qd32(void)
{
    blk_run("blk_randread_4k_qd32", 4096, false, 32, false);
}

static void b_blk_seqread_128k_qd1(void)
{
    blk_run("blk_seqread_128k_qd1", 128 << 10, true, 1, true);
}

static void b_blk_seqread_128k_qd32(void)
{
    blk_run("blk_seqread_128k_qd32", 128 << 10, true, 32, true);
}

/* ---- a file system: ext2 on /dev/vdb ------------------------------------ */

/* xtask makes a fresh, empty ext2 image (4 KiB blocks) before each boot and gives
 * it to both kernels as the second disk, /dev/vdb, writable; the guest script
 * mounts it on /mnt/fs. Each row makes what it needs itself (the big file, the
 * directory), so any one of them can run alone, and sync()s before its clock
 * starts so that no earlier row's writeback is counted.
 *
 * "Cold" means just after an unmount and a mount of /mnt/fs: both kernels then
 * hold nothing of the file system in memory (Linux frees the file's pages with
 * its inode and the device's cached blocks at the last close of the device;
 * Kestrel's block cache belongs to the mount). That is one method for both:
 * Kestrel has no /proc/sys/vm/drop_caches, and POSIX_FADV_DONTNEED there drops
 * mapped-file pages but not the block cache that read(2) goes through. */
#define FS_DEV "/dev/vdb"
#define FS_DIR "/mnt/fs"
#define FS_TYPE "ext2"
#define FS_BIG FS_DIR "/big"
#define FS_BIG_MIB 256
#define FS_CACHED_MIB 32 /* fits in both kernels' caches (Kestrel's: 64 MiB at 1 GiB) */
#define FS_IO MIB
#define FS_NFILES 10000

static char *fs_buf; /* FS_IO bytes of a pattern with no run of zeros */

/* Whether /mnt/fs is a mounted file system (another device than /'s), with
 * fs_buf ready; else prints the row as unsupported. */
static bool fs_ready(const char *name)
{
    struct stat mnt, root;
    if (stat(FS_DIR, &mnt) != 0 || stat("/", &root) != 0) {
        unsupported(name, "stat %s: %s (the guest script mounts %s there)", FS_DIR, strerror(errno),
                    FS_DEV);
        return false;
    }
    if (mnt.st_dev == root.st_dev) {
        unsupported(name, "nothing is mounted on %s (the guest script mounts %s there: no disk?)",
                    FS_DIR, FS_DEV);
        return false;
    }
    if (!fs_buf) {
        if (posix_memalign((void **)&fs_buf, PAGE, FS_IO) != 0) {
            unsupported(name, "no memory for the buffer");
            return false;
        }
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (size_t i = 0; i < FS_IO; i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(fs_buf + i, &x, 8);
        }
    }
    return true;
}

/* Writes `bytes` to a new file at `path` in FS_IO writes, then fsyncs it;
 * returns 0 or an errno value. */
static int fs_write_file(const char *path, size_t bytes)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    for (size_t done = 0; done < bytes; done += FS_IO) {
        ssize_t w = write(fd, fs_buf, FS_IO);
        if (w != (ssize_t)FS_IO) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            return e;
        }
    }
    int e = fsync(fd) ? errno : 0;
    close(fd);
    return e;
}

/* Reads the first `bytes` of `fd` in FS_IO reads; 0 or an errno value. */
static int fs_read(int fd, size_t bytes)
{
    for (size_t done = 0; done < bytes; done += FS_IO) {
        ssize_t r = pread(fd, fs_buf, FS_IO, (off_t)done);
        if (r != (ssize_t)FS_IO)
            return r < 0 ? errno : EIO;
    }
    return 0;
}

/* The big file, written (untimed) unless an earlier row left it; then opened
 * for reading. Returns the descriptor, or -1 after printing the row. */
static int fs_big(const char *name)
{
    if (!fs_ready(name))
        return -1;
    struct stat st;
    if (stat(FS_BIG, &st) != 0 || st.st_size != (off_t)FS_BIG_MIB * (off_t)MIB) {
        int e = fs_write_file(FS_BIG, FS_BIG_MIB * MIB);
        if (e) {
            unsupported(name, "writing %s: %s", FS_BIG, strerror(e));
            return -1;
        }
    }
    int fd = open(FS_BIG, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        unsupported(name, "open %s: %s", FS_BIG, strerror(errno));
    return fd;
}

/* Unmounts /mnt/fs and mounts it again: nothing of it stays cached. */
static int fs_remount(void)
{
    sync();
    if (umount(FS_DIR) != 0)
        return errno;
    if (mount(FS_DEV, FS_DIR, FS_TYPE, 0, NULL) != 0)
        return errno;
    return 0;
}

static void fs_mbps(const char *name, size_t bytes, double ns)
{
    result(name, (double)bytes / 1e6 / (ns / 1e9), "MB/s");
}

static void b_fs_seq_write(void)
{
    const char *name = "fs_seq_write";
    if (!fs_ready(name))
        return;
    unlink(FS_BIG);
    sync(); /* the old file's blocks freed before the clock starts */
    double t0 = now_ns();
    int e = fs_write_file(FS_BIG, FS_BIG_MIB * MIB);
    double t1 = now_ns();
    if (e)
        unsupported(name, "writing %s: %s", FS_BIG, strerror(e));
    else
        fs_mbps(name, FS_BIG_MIB * MIB, t1 - t0);
}

static void b_fs_seq_read_cold(void)
{
    const char *name = "fs_seq_read_cold";
    int fd = fs_big(name);
    if (fd < 0)
        return;
    close(fd);
    int e = fs_remount();
    if (e) {
        unsupported(name, "umount and mount of %s: %s", FS_DIR, strerror(e));
        return;
    }
    double t0 = now_ns();
    fd = open(FS_BIG, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        unsupported(name, "open %s after the mount: %s", FS_BIG, strerror(errno));
        return;
    }
    e = fs_read(fd, FS_BIG_MIB * MIB);
    double t1 = now_ns();
    close(fd);
    if (e)
        unsupported(name, "read: %s", strerror(e));
    else
        fs_mbps(name, FS_BIG_MIB * MIB, t1 - t0);
}

static void b_fs_seq_read_cached(void)
{
    const char *name = "fs_seq_read_cached";
    int fd = fs_big(name);
    if (fd < 0)
        return;
    /* The first read loads it; the fastest of the next SAMPLES counts. */
    double best = -1;
    int e = fs_read(fd, FS_CACHED_MIB * MIB);
    for (int s = 0; !e && s < SAMPLES; s++) {
        double t0 = now_ns();
        e = fs_read(fd, FS_CACHED_MIB * MIB);
        double ns = now_ns() - t0;
        if (best < 0 || ns < best)
            best = ns;
    }
    close(fd);
    if (e)
        unsupported(name, "read: %s", strerror(e));
    else
        fs_mbps(name, FS_CACHED_MIB * MIB, best);
}

struct randread {
    int fd;
    uint64_t x;
};

static int op_fs_randread(void *ctx)
{
    struct randread *r = ctx;
    r->x ^= r->x << 13;
    r->x ^= r->x >> 7;
    r->x ^= r->x << 17;
    off_t off = (off_t)(r->x % (FS_CACHED_MIB * MIB / PAGE)) * (off_t)PAGE;
    ssize_t n = pread(r->fd, fs_buf, PAGE, off);
    return n == (ssize_t)PAGE ? 0 : n < 0 ? errno : EIO;
}

static void b_fs_randread_4k(void)
{
    const char *name = "fs_randread_4k";
    int fd = fs_big(name);
    if (fd < 0)
        return;
    struct randread r = {fd, 0x9E3779B97F4A7C15ull};
    int e = fs_read(fd, FS_CACHED_MIB * MIB); /* loaded: the reads are cached */
    double ns = 0;
    if (!e)
        e = timed(op_fs_randread, &r, WARM_S, BUDGET_S, 1000, &ns);
    close(fd);
    if (e)
        unsupported(name, "pread: %s", strerror(e));
    else
        result(name, 1e9 / ns, "reads/s");
}

#define FS_FILES_DIR FS_DIR "/files"

static void fs_file_name(char *buf, size_t len, int i)
{
    snprintf(buf, len, "%s/f%05d", FS_FILES_DIR, i);
}

/* Creates (or unlinks) FS_NFILES files in FS_FILES_DIR; returns 0 or an errno
 * value. t[0] is the time of all, t[1] of the first FS_NFILES_PART files, t[2]
 * of the last FS_NFILES_PART: whether a file costs more in a bigger directory. */
#define FS_NFILES_PART 1000
static int fs_files(bool create, double t[3])
{
    char path[64];
    double t0 = now_ns(), mark = t0;
    for (int i = 0; i < FS_NFILES; i++) {
        if (i == FS_NFILES - FS_NFILES_PART)
            mark = now_ns();
        fs_file_name(path, sizeof path, i);
        if (create) {
            int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0)
                return errno;
            close(fd);
        } else if (unlink(path) != 0) {
            return errno;
        }
        if (i == FS_NFILES_PART - 1)
            t[1] = now_ns() - t0;
    }
    double t1 = now_ns();
    t[0] = t1 - t0;
    t[2] = t1 - mark;
    return 0;
}

/* A fresh, empty FS_FILES_DIR (leftovers of an earlier run removed), synced. */
static int fs_files_dir(void)
{
    char path[64];
    for (int i = 0; i < FS_NFILES; i++) {
        fs_file_name(path, sizeof path, i);
        unlink(path);
    }
    rmdir(FS_FILES_DIR);
    if (mkdir(FS_FILES_DIR, 0755) != 0)
        return errno;
    sync();
    return 0;
}

static void fs_files_result(const char *name, const double t[3])
{
    result(name, t[0] / FS_NFILES / 1e3, "us/file");
    note(name, "the first %d files %.1f us/file, the last %d %.1f us/file", FS_NFILES_PART,
         t[1] / FS_NFILES_PART / 1e3, FS_NFILES_PART, t[2] / FS_NFILES_PART / 1e3);
}

/* Both rows in one run: creating the files, sync (untimed), unlinking them. */
static void b_fs_create_unlink_10k(void)
{
    double t[3];
    int e = fs_ready("fs_create_10k") ? fs_files_dir() : -1;
    if (e > 0 || (e == 0 && (e = fs_files(true, t)) != 0))
        unsupported("fs_create_10k", "%s", strerror(e));
    if (e) {
        unsupported("fs_unlink_10k", "no files: fs_create_10k did not make them");
        return;
    }
    fs_files_result("fs_create_10k", t);
    sync();
    if ((e = fs_files(false, t)))
        unsupported("fs_unlink_10k", "%s", strerror(e));
    else
        fs_files_result("fs_unlink_10k", t);
    rmdir(FS_FILES_DIR);
}

/* Runs /bin/busybox with `argv` and waits: 0, or an errno value (ECHILD if it
 * did not exit with status 0). */
static int busybox(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0) {
        execv("/bin/busybox", argv);
        _exit(127);
    }
    return wait_ok(pid);
}

static void b_fs_tar_x(void)
{
    const char *name = "fs_tar_x";
    if (!fs_ready(name))
        return;
    char tar[PATH_MAX];
    snprintf(tar, sizeof tar, "%s/tree.tar", self_dir);
    if (access(tar, R_OK) != 0) {
        unsupported(name, "%s: %s", tar, strerror(errno));
        return;
    }
    /* Up to 3 runs (the fastest counts), each into a new directory. */
    const char *dir = FS_DIR "/tarx";
    double best = -1, t_all = now_ns();
    for (int run = 0; run < 3 && (run == 0 || now_ns() - t_all < 10e9); run++) {
        busybox((char *const[]){"busybox", "rm", "-rf", (char *)dir, NULL});
        if (mkdir(dir, 0755) != 0) {
            unsupported(name, "mkdir %s: %s", dir, strerror(errno));
            return;
        }
        sync();
        double t0 = now_ns();
        int e = busybox((char *const[]){"busybox", "tar", "-xf", tar, "-C", (char *)dir, NULL});
        sync();
        double ns = now_ns() - t0;
        if (e == ECHILD) {
            unsupported(name, "busybox tar -xf %s -C %s failed", tar, dir);
            return;
        } else if (e) {
            unsupported(name, "busybox tar: %s", strerror(e));
            return;
        }
        if (best < 0 || ns < best)
            best = ns;
    }
    result(name, best / 1e6, "ms");
}

static int op_fs_fsync(void *ctx)
{
    int fd = *(int *)ctx;
    if (pwrite(fd, fs_buf, PAGE, 0) != (ssize_t)PAGE)
        return errno ? errno : EIO;
    return fsync(fd) ? errno : 0;
}

static void b_fs_fsync_latency(void)
{
    const char *name = "fs_fsync_latency";
    if (!fs_ready(name))
        return;
    const char *path = FS_DIR "/fsync";
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        unsupported(name, "open %s: %s", path, strerror(errno));
        return;
    }
    int e = op_fs_fsync(&fd); /* the block allocated before the clock starts */
    sync();
    double ns = 0;
    if (!e)
        e = timed(op_fs_fsync, &fd, WARM_S, BUDGET_S, 20, &ns);
    close(fd);
    if (e)
        unsupported(name, "%s", strerror(e));
    else
        result(name, ns / 1e3, "us/op");
}

/* ---- scaling: N workers at once ----------------------------------------- */

#define SCALE_WARM_S 0.2
#define SCALE_WINDOW_S 0.2
#define SCALE_WINDOWS 5
#define MAX_WORKERS 64
/* One "loop" of scale_cpu_loop: this many xorshift steps (about 0.1 ms natively). */
#define CPU_LOOP_STEPS 100000
/* Starting or stopping the workers should take well under this. */
#define SLOW_S 1.0

static int nworkers = 1; /* -n N, or the CPUs kbench may run on */

/* Each worker's count on a cache line of its own, so counting costs no sharing. */
struct slot {
    atomic_long count;
    char pad[64 - sizeof(atomic_long)];
};

/* Shared with worker processes (MAP_SHARED) as well as threads. */
struct scale {
    atomic_int stop;  /* set when the measurement is over */
    atomic_int ready; /* workers that have set up and are counting */
    atomic_int err;   /* the first errno a worker hit */
    char pad[64 - 3 * sizeof(atomic_int)];
    struct slot slot[MAX_WORKERS];
};

static struct scale *sc;

static bool stopping(void)
{
    return atomic_load_explicit(&sc->stop, memory_order_relaxed);
}

static void counted(int i, long n)
{
    atomic_store_explicit(&sc->slot[i].count, n, memory_order_relaxed);
}

static void worker_failed(int e)
{
    int none = 0;
    atomic_compare_exchange_strong(&sc->err, &none, e ? e : EIO);
}

static long total_count(void)
{
    long sum = 0;
    for (int i = 0; i < nworkers; i++)
        sum += atomic_load_explicit(&sc->slot[i].count, memory_order_relaxed);
    return sum;
}

static int scale_setup(const char *name)
{
    sc = mmap(NULL, sizeof *sc, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sc == MAP_FAILED) {
        unsupported(name, "mmap(MAP_SHARED|MAP_ANONYMOUS): %s", strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Waits until all nworkers workers count, warms up for SCALE_WARM_S, then reads
 * the total at the ends of SCALE_WINDOWS windows and keeps the best window's rate
 * (as with the other benchmarks, other work on the host only ever slows a window
 * down).  Always sets sc->stop.  Returns 0, a worker's errno, or ETIMEDOUT when the
 * workers never all started.  Notes a worker that did much less than its share.
 */
static int scale_measure(const char *name, double *per_s)
{
    int e = 0;
    double t_start = now_ns();
    for (int ms = 0; atomic_load(&sc->ready) < nworkers && !atomic_load(&sc->err); ms++) {
        if (ms >= 10000) {
            e = ETIMEDOUT;
            note(name, "only %d of %d workers started within 10 s", atomic_load(&sc->ready),
                 nworkers);
            break;
        }
        sleep_ms(1);
    }
    long first[MAX_WORKERS];
    double best = -1;
    if (now_ns() - t_start > SLOW_S * 1e9)
        note(name, "the workers took %.1f s to start", (now_ns() - t_start) / 1e9);
    if (!e && !atomic_load(&sc->err)) {
        sleep_ms((long)(SCALE_WARM_S * 1000));
        for (int i = 0; i < nworkers; i++)
            first[i] = atomic_load(&sc->slot[i].count);
        long c0 = total_count();
        double t0 = now_ns();
        for (int w = 0; w < SCALE_WINDOWS && !atomic_load(&sc->err); w++) {
            sleep_ms((long)(SCALE_WINDOW_S * 1000));
            long c1 = total_count();
            double t1 = now_ns();
            double rate = (double)(c1 - c0) / ((t1 - t0) / 1e9);
            if (rate > best)
                best = rate;
            c0 = c1;
            t0 = t1;
        }
    }
    atomic_store(&sc->stop, 1);
    if (!e)
        e = atomic_load(&sc->err);
    if (e)
        return e;
    /* Fairness: the slowest worker against an even share of the measured work. */
    long all = 0, least = -1;
    for (int i = 0; i < nworkers; i++) {
        long d = atomic_load(&sc->slot[i].count) - first[i];
        all += d;
        if (least < 0 || d < least)
            least = d;
    }
    double even = (double)all / nworkers;
    if (nworkers > 1 && even > 0 && (double)least < even / 2)
        note(name, "uneven: the slowest of %d workers did %.0f%% of an even share", nworkers,
             100.0 * (double)least / even);
    *per_s = best;
    return 0;
}

/* Notes a stop that took longer than SLOW_S: the workers' last operations and
 * exits, which a scheduler that leaves runnable tasks waiting makes slow. */
static void note_slow_stop(const char *name, double t_stop)
{
    double s = (now_ns() - t_stop) / 1e9;
    if (s > SLOW_S)
        note(name, "the workers took %.1f s to stop", s);
}

static void scale_report(const char *name, int e, double per_s, const char *unit)
{
    if (e == ETIMEDOUT)
        unsupported(name, "the workers did not all start");
    else if (e)
        unsupported(name, "a worker failed: %s", strerror(e));
    else
        result(name, per_s, unit);
}

/* nworkers processes, each running body(i); their children die with them. */
static void scale_processes(const char *name, void (*body)(int i), const char *unit)
{
    if (scale_setup(name))
        return;
    pid_t kids[MAX_WORKERS];
    int made = 0, e = 0;
    for (; made < nworkers; made++) {
        pid_t p = fork();
        if (p < 0) {
            e = errno;
            break;
        }
        if (p == 0) {
            body(made);
            _exit(0);
        }
        kids[made] = p;
    }
    double per_s = 0;
    if (e) {
        atomic_store(&sc->stop, 1);
        note(name, "fork of worker %d: %s", made, strerror(e));
    } else {
        e = scale_measure(name, &per_s);
    }
    double t_stop = now_ns();
    for (int i = 0; i < made; i++)
        while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR) {
        }
    note_slow_stop(name, t_stop);
    scale_report(name, e, per_s, unit);
}

/* nthreads threads running fn((void *)i); i < nworkers counts in slot i.  If not
 * every thread can be made, unblock() (when given) frees the ones waiting for a
 * thread that does not exist. */
static void scale_threads(const char *name, void *(*fn)(void *), int nthreads,
                          void (*unblock)(void), const char *unit)
{
    if (scale_setup(name))
        return;
    pthread_t tids[2 * MAX_WORKERS];
    int made = 0, e = 0;
    for (; made < nthreads; made++)
        if ((e = pthread_create(&tids[made], NULL, fn, (void *)(intptr_t)made)))
            break;
    double per_s = 0;
    if (e) {
        atomic_store(&sc->stop, 1);
        if (unblock)
            unblock();
        note(name, "pthread_create of thread %d: %s", made, strerror(e));
    } else {
        e = scale_measure(name, &per_s);
    }
    double t_stop = now_ns();
    for (int i = 0; i < made; i++)
        pthread_join(tids[i], NULL);
    note_slow_stop(name, t_stop);
    scale_report(name, e, per_s, unit);
}

/* Pipe ping-pong: worker i and a child of its own pass one byte back and forth
 * through two pipes; a round trip is two writes, two reads and two wake-ups. */
static void pipe_pair(int i)
{
    int there[2], back[2];
    if (pipe(there) != 0 || pipe(back) != 0) {
        worker_failed(errno);
        return;
    }
    pid_t partner = fork();
    if (partner < 0) {
        worker_failed(errno);
        return;
    }
    char c = 'x';
    if (partner == 0) {
        close(there[1]);
        close(back[0]);
        while (read(there[0], &c, 1) == 1)
            if (write(back[1], &c, 1) != 1)
                break;
        _exit(0);
    }
    close(there[0]);
    close(back[1]);
    atomic_fetch_add(&sc->ready, 1);
    for (long n = 1; !stopping(); n++) {
        if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) {
            worker_failed(errno);
            break;
        }
        counted(i, n);
    }
    close(there[1]); /* the partner reads end-of-file and exits */
    while (waitpid(partner, NULL, 0) < 0 && errno == EINTR) {
    }
}

static void b_scale_pipe_pingpong(void)
{
    scale_processes("scale_pipe_pingpong", pipe_pair, "roundtrips/s");
}

/* Futex ping-pong: thread i and thread nworkers + i hand a turn back and forth
 * through their own futex word, as futex_pingpong does with one pair. */
struct fpair {
    atomic_int turn; /* 0: the counting thread's move, 1: its partner's */
    atomic_int quit;
    char pad[64 - 2 * sizeof(atomic_int)];
};

static struct fpair fpairs[MAX_WORKERS];

static void *futex_pair(void *arg)
{
    int t = (int)(intptr_t)arg;
    struct fpair *p = &fpairs[t % nworkers];
    if (t >= nworkers) { /* the partner */
        for (;;) {
            while (atomic_load(&p->turn) != 1)
                if (futex(&p->turn, FUTEX_WAIT_PRIVATE, 0) < 0 && errno != EAGAIN &&
                    errno != EINTR) {
                    worker_failed(errno);
                    return NULL;
                }
            if (atomic_load(&p->quit))
                return NULL;
            atomic_store(&p->turn, 0);
            futex(&p->turn, FUTEX_WAKE_PRIVATE, 1);
        }
    }
    atomic_fetch_add(&sc->ready, 1);
    for (long n = 1; !stopping(); n++) {
        atomic_store(&p->turn, 1);
        if (futex(&p->turn, FUTEX_WAKE_PRIVATE, 1) < 0) {
            worker_failed(errno);
            break;
        }
        while (atomic_load(&p->turn) != 0 && !atomic_load(&sc->err))
            if (futex(&p->turn, FUTEX_WAIT_PRIVATE, 1) < 0 && errno != EAGAIN && errno != EINTR) {
                worker_failed(errno);
                break;
            }
        if (atomic_load(&sc->err))
            break;
        counted(t, n);
    }
    atomic_store(&p->quit, 1);
    atomic_store(&p->turn, 1);
    futex(&p->turn, FUTEX_WAKE_PRIVATE, 1);
    return NULL;
}

/* A counting thread whose partner was never made waits for a turn that does not
 * come: give it the turn back (it then sees sc->stop and quits). */
static void futex_unblock(void)
{
    for (int i = 0; i < nworkers; i++) {
        atomic_store(&fpairs[i].turn, 0);
        futex(&fpairs[i].turn, FUTEX_WAKE_PRIVATE, INT_MAX);
    }
}

static void b_scale_futex_pingpong(void)
{
    scale_threads("scale_futex_pingpong", futex_pair, 2 * nworkers, futex_unblock,
                  "roundtrips/s");
}

/* Fork/exit/wait: worker i forks a child that _exits at once and reaps it. */
static void fork_loop(int i)
{
    atomic_fetch_add(&sc->ready, 1);
    for (long n = 1; !stopping(); n++) {
        pid_t p = fork();
        if (p < 0) {
            worker_failed(errno);
            return;
        }
        if (p == 0)
            _exit(0);
        int e = wait_ok(p);
        if (e) {
            worker_failed(e);
            return;
        }
        counted(i, n);
    }
}

static void b_scale_fork_exit_wait(void)
{
    scale_processes("scale_fork_exit_wait", fork_loop, "forks/s");
}

/* CPU-bound: thread i runs loops of CPU_LOOP_STEPS xorshift steps, touching no
 * memory but its own count; only the scheduler (and timer interrupts) can get in
 * its way. */
static void *cpu_loop(void *arg)
{
    int i = (int)(intptr_t)arg;
    uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)(i + 1);
    atomic_fetch_add(&sc->ready, 1);
    for (long n = 1; !stopping(); n++) {
        for (int k = 0; k < CPU_LOOP_STEPS; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        counted(i, n);
    }
    volatile uint64_t sink = x; /* the loop's result is used */
    (void)sink;
    return NULL;
}

static void b_scale_cpu_loop(void)
{
    scale_threads("scale_cpu_loop", cpu_loop, nworkers, NULL, "loops/s");
}

static int online_cpus(void)
{
    cpu_set_t s;
    if (sched_getaffinity(0, sizeof s, &s) == 0 && CPU_COUNT(&s) > 0)
        return CPU_COUNT(&s);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ---- the table and the runner ------------------------------------------ */

struct bench {
    const char *name;
    const char *unit;
    void (*fn)(void);
    int timeout_s;
    const char *what;
};

static const struct bench benches[] = {
    {"boot_to_init", "ms", b_with_rate_row, 1,
     "from starting QEMU to /init's first system call, a write to the console (xtask times it "
     "on the host: QEMU starting, firmware, kernel boot, exec of /init)"},
    {"boot_to_shell", "ms", b_with_rate_row, 1,
     "from starting QEMU to the first line of the benchmark's command file: boot_to_init, then "
     "/init (a busybox sh script) starting a second shell for the command file"},
    {"syscall_getppid", "ns/op", b_syscall_getppid, 30,
     "a null system call: syscall(SYS_getppid)"},
    {"thread_create_join", "us/op", b_thread_create_join, 30,
     "pthread_create of a thread that returns at once, then pthread_join"},
    {"fork_exit_wait", "us/op", b_fork_exit_wait, 30,
     "fork, the child _exits, the parent waitpids"},
    {"fork_exec_wait", "us/op", b_fork_exec_wait, 30,
     "fork, the child execs a static program that exits at once, waitpid"},
    {"mmap_touch_munmap_256m", "ms/op", b_mmap_touch_munmap_256m, 60,
     "mmap 256 MiB anonymous, write one byte per 4 KiB page, munmap"},
    {"page_fault", "ns/fault", b_page_fault, 30,
     "first-touch fault of a 4 KiB anonymous page, over 32 MiB (MADV_NOHUGEPAGE)"},
    {"futex_pingpong", "ns/roundtrip", b_futex_pingpong, 30,
     "two threads hand a turn back and forth with FUTEX_WAIT/FUTEX_WAKE"},
    {"threads_10k_kernel_bytes_per_thread", "bytes", b_threads_10k, 180,
     "kernel memory per thread with 10,000 threads blocked in FUTEX_WAIT (sysinfo freeram)"},
    {"signal_roundtrip", "ns/op", b_signal_roundtrip, 30,
     "kill(getpid(), SIGUSR1) with a handler: delivery, handler, sigreturn"},
    {"clock_gettime_vdso", "ns/op", b_clock_gettime_vdso, 30,
     "libc clock_gettime(CLOCK_MONOTONIC), through the vDSO where there is one"},
    {"clock_gettime_syscall", "ns/op", b_clock_gettime_syscall, 30,
     "syscall(SYS_clock_gettime, CLOCK_MONOTONIC)"},
    {"nanosleep_0", "ns/op", b_nanosleep_0, 30, "nanosleep of zero seconds"},
    {"nanosleep_1ms_busy_peer", "us/op", b_nanosleep_1ms_busy_peer, 30,
     "nanosleep of 1 ms while a CPU-bound process shares the CPU (both pinned to it)"},
    {"read_devzero_1b", "ns/op", b_read_devzero_1b, 30, "read of 1 byte from /dev/zero"},
    {"sigaction_install", "ns/op", b_sigaction_install, 30,
     "sigaction(SIGUSR2) installing a handler (the same one each time)"},
    {"stat", "ns/op", b_stat, 30, "stat of a file in a directory under /tmp"},
    {"select_100fds", "ns/op", b_select_100fds, 30,
     "select for input on 100 idle pipe ends (50 pipes), timeout 0"},
    {"poll_100fds", "ns/op", b_poll_100fds, 30,
     "poll for POLLIN on 100 idle pipe ends (50 pipes), timeout 0"},
    {"file_page_fault", "ns/fault", b_file_page_fault, 30,
     "first-touch read of each 4 KiB page of a cached 16 MiB file under /tmp, mapped "
     "MAP_PRIVATE read-only: per page"},
    {"sh_c_exit", "us/op", b_sh_c_exit, 60, "fork, exec /bin/sh -c exit, waitpid"},
    {"pipe_latency", "ns/roundtrip", b_pipe_latency, 30,
     "1 byte each way between two processes over two pipes"},
    {"unix_latency", "ns/roundtrip", b_unix_latency, 30,
     "1 byte each way between two processes over an AF_UNIX stream socketpair"},
    {"pipe_bandwidth", "MB/s", b_pipe_bandwidth, 30,
     "64 KiB writes into a pipe, read by another process"},
    {"unix_bandwidth", "MB/s", b_unix_bandwidth, 30,
     "64 KiB writes into an AF_UNIX stream socketpair, read by another process"},
    {"tcp_latency", "ns/roundtrip", b_tcp_latency, 30,
     "1 byte each way over a TCP connection on 127.0.0.1 (TCP_NODELAY)"},
    {"udp_latency", "ns/roundtrip", b_udp_latency, 30,
     "1 byte each way between two UDP sockets on 127.0.0.1"},
    {"tcp_bandwidth", "MB/s", b_tcp_bandwidth, 30,
     "64 KiB writes into a TCP connection on 127.0.0.1, read by another thread"},
    {"tcp_connect", "us/op", b_tcp_connect, 30,
     "connect to a listener on 127.0.0.1 (another thread accepts and closes), close"},
    {"blk_randread_4k_qd1", "reads/s", b_blk_randread_4k_qd1, 30,
     "4 KiB reads of /dev/vda at random offsets, one at a time (O_DIRECT)"},
    {"blk_randread_4k_qd32", "reads/s", b_blk_randread_4k_qd32, 30,
     "4 KiB reads of /dev/vda at random offsets, 32 threads: 32 in flight"},
    {"blk_seqread_128k_qd1", "MB/s", b_blk_seqread_128k_qd1, 30,
     "128 KiB reads of /dev/vda in order, one at a time"},
    {"blk_seqread_128k_qd32", "MB/s", b_blk_seqread_128k_qd32, 30,
     "128 KiB reads of /dev/vda in order, 32 threads taking turns: 32 in flight"},
    {"fs_seq_write", "MB/s", b_fs_seq_write, 60,
     "ext2 on /dev/vdb (a fresh 1 GiB image, 4 KiB blocks): write a new 256 MiB file in 1 MiB "
     "writes, then fsync; the time includes the fsync; one run"},
    {"fs_seq_read_cold", "MB/s", b_fs_seq_read_cold, 60,
     "read that 256 MiB file in 1 MiB reads just after umount and mount of the file system "
     "(nothing of it cached); the time includes the open; one run"},
    {"fs_seq_read_cached", "MB/s", b_fs_seq_read_cached, 60,
     "read the first 32 MiB of that file in 1 MiB reads after reading them once (cached; 32 MiB "
     "fits in both kernels' caches): the fastest of 5 reads"},
    {"fs_randread_4k", "reads/s", b_fs_randread_4k, 60,
     "4 KiB preads at random 4 KiB-aligned offsets in the first 32 MiB of that file, after "
     "reading them once (cached), one at a time"},
    {"fs_create_10k", "us/file", b_fs_create_unlink_10k, 120,
     "create 10,000 empty files in a new directory on ext2 (open O_CREAT|O_EXCL, close), per "
     "file; no sync in the time; one run"},
    {"fs_unlink_10k", "us/file", b_with_rate_row, 1,
     "then sync (untimed) and unlink those 10,000 files, per file; no sync in the time"},
    {"fs_tar_x", "ms", b_fs_tar_x, 60,
     "busybox tar -xf of a tar in the initramfs (600 files of 0.5 to 12.5 KiB in 24 "
     "directories, 3.9 MiB) into a new directory on ext2, then sync: the time of both, the "
     "fastest of 3 runs"},
    {"fs_fsync_latency", "us/op", b_fs_fsync_latency, 30,
     "pwrite of 4 KiB at offset 0 of a 4 KiB file on ext2, then fsync: per pair"},
    /* The many-connection rows run last: closing 20,000 sockets keeps the network
     * task busy for a second or two after the program exits (each connection's
     * last segments; docs/networking.md), which would disturb the rows after. */
    {"tcp_idle_conn_kernel_bytes", "bytes", b_tcp_idle_conn, 180,
     "kernel memory per TCP socket with 10,000 idle connections on 127.0.0.1 (20,000 sockets, the server's in "
     "its epoll set; sysinfo freeram before and after)"},
    {"tcp_epoll_echo_1k_rate", "roundtrips/s", b_tcp_epoll_echo_1k, 90,
     "bench/epoll_echo: 1,000 TCP connections on 127.0.0.1, one 64-byte request in flight on each, "
     "an epoll server process echoing and an epoll client process"},
    {"tcp_epoll_echo_1k_p50", "us", b_with_rate_row, 1, "median round trip in tcp_epoll_echo_1k_rate"},
    {"tcp_epoll_echo_1k_p99", "us", b_with_rate_row, 1, "99th percentile round trip in tcp_epoll_echo_1k_rate"},
    {"tcp_epoll_echo_10k_rate", "roundtrips/s", b_tcp_epoll_echo_10k, 240,
     "the same with 10,000 connections (RLIMIT_NOFILE raised to 20,064) and a 5 s window"},
    {"tcp_epoll_echo_10k_p50", "us", b_with_rate_row, 1, "median round trip in tcp_epoll_echo_10k_rate"},
    {"tcp_epoll_echo_10k_p99", "us", b_with_rate_row, 1, "99th percentile round trip in tcp_epoll_echo_10k_rate"},
};

/* Not run by default: `kbench --scaling` runs these, at N = nworkers. */
static const struct bench scaling_benches[] = {
    {"scale_pipe_pingpong", "roundtrips/s", b_scale_pipe_pingpong, 30,
     "N pairs of processes, each passing a byte back and forth through two pipes"},
    {"scale_futex_pingpong", "roundtrips/s", b_scale_futex_pingpong, 30,
     "N pairs of threads, each handing a turn back and forth with FUTEX_WAIT/FUTEX_WAKE"},
    {"scale_fork_exit_wait", "forks/s", b_scale_fork_exit_wait, 30,
     "N processes, each looping fork, _exit in the child, waitpid"},
    {"scale_cpu_loop", "loops/s", b_scale_cpu_loop, 30,
     "N threads, each looping 100,000 xorshift steps at a time: no system calls"},
};

#define NBENCH (sizeof benches / sizeof benches[0])
#define NSCALING (sizeof scaling_benches / sizeof scaling_benches[0])

static const struct bench *find(const char *name)
{
    for (size_t i = 0; i < NBENCH; i++)
        if (strcmp(name, benches[i].name) == 0)
            return &benches[i];
    for (size_t i = 0; i < NSCALING; i++)
        if (strcmp(name, scaling_benches[i].name) == 0)
            return &scaling_benches[i];
    return NULL;
}

/* Runs one benchmark in a child, with a watchdog child that kills it on time-out. */
static void run_isolated(const struct bench *b)
{
    fflush(stdout);
    double t0 = now_ns();
    pid_t child = fork();
    if (child < 0) {
        unsupported(b->name, "fork: %s", strerror(errno));
        return;
    }
    /* The benchmark leads a process group of its own, so that the processes it
     * starts are killed with it (setpgid on both sides: either may run first). */
    if (child == 0) {
        setpgid(0, 0);
        b->fn();
        fflush(stdout);
        _exit(0);
    }
    setpgid(child, child);
    pid_t dog = fork();
    if (dog == 0) {
        sleep_ms((long)b->timeout_s * 1000);
        kill(-child, SIGKILL);
        kill(child, SIGKILL);
        _exit(0);
    }
    int st = 0;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    kill(-child, SIGKILL); /* whatever it left behind would skew the next one */
    if (dog > 0) {
        kill(dog, SIGKILL);
        while (waitpid(dog, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    double secs = (now_ns() - t0) / 1e9;
    if (WIFSIGNALED(st)) {
        if (WTERMSIG(st) == SIGKILL && secs >= b->timeout_s)
            unsupported(b->name, "timed out after %d s", b->timeout_s);
        else
            unsupported(b->name, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
        unsupported(b->name, "exited with status %d", WEXITSTATUS(st));
    }
}

static void info(void)
{
    struct utsname u;
    if (uname(&u) == 0)
        printf("BENCHINFO kernel %s %s %s\n", u.sysname, u.release, u.version);
    struct sysinfo si;
    if (sysinfo(&si) == 0)
        printf("BENCHINFO memory %.0f MiB total, %.0f MiB free\n",
               (double)si.totalram * si.mem_unit / MIB, (double)si.freeram * si.mem_unit / MIB);
    printf("BENCHINFO cpus %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("BENCHINFO vdso %s\n", getauxval(AT_SYSINFO_EHDR) ? "yes" : "no");
    /* Linux drops la57 from /proc/cpuinfo unless it runs with 5-level page tables. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "flags", 5) == 0) {
                printf("BENCHINFO page_tables %s\n", strstr(line, " la57") ? "5-level" : "4-level");
                break;
            }
        fclose(f);
    }
    f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        char line[128];
        if (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            printf("BENCHINFO transparent_hugepage %s\n", line);
        }
        fclose(f);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: kbench [--scaling] [-n N] [--list] [NAME...]\n");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    static char dir[PATH_MAX];
    const char *slash = strrchr(argv[0], '/');
    if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - argv[0]), argv[0]);
        self_dir = dir[0] ? dir : "/";
    }
    bool list = false, scaling = false, named_scaling = false;
    int named = 0;
    nworkers = online_cpus();
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--list") == 0) {
            list = true;
        } else if (strcmp(argv[a], "--scaling") == 0) {
            scaling = true;
        } else if (strcmp(argv[a], "-n") == 0) {
            char *end;
            long n = a + 1 < argc ? strtol(argv[a + 1], &end, 10) : 0;
            if (n < 1 || n > MAX_WORKERS || *end) {
                fprintf(stderr, "kbench: -n takes 1 to %d\n", MAX_WORKERS);
                return 2;
            }
            nworkers = (int)n;
            argv[a++] = NULL;
            argv[a] = NULL;
        } else if (argv[a][0] == '-') {
            usage();
            return 2;
        } else {
            const struct bench *b = find(argv[a]);
            if (!b) {
                fprintf(stderr, "kbench: no benchmark %s (kbench --list, kbench --scaling --list)\n",
                        argv[a]);
                return 2;
            }
            named++;
            named_scaling |= b >= scaling_benches && b < scaling_benches + NSCALING;
            continue;
        }
        argv[a] = NULL; /* options are not names */
    }
    if (nworkers > MAX_WORKERS)
        nworkers = MAX_WORKERS;
    const struct bench *set = scaling ? scaling_benches : benches;
    size_t nset = scaling ? NSCALING : NBENCH;
    if (list) {
        for (size_t i = 0; i < nset; i++)
            printf("%s %s %s\n", set[i].name, set[i].unit, set[i].what);
        return 0;
    }
    info();
    if (named ? named_scaling : scaling)
        printf("BENCHINFO workers %d\n", nworkers);
    /* In table order: the usual benchmarks, then the scaling ones. */
    for (size_t i = 0; i < NBENCH + NSCALING; i++) {
        const struct bench *b = i < NBENCH ? &benches[i] : &scaling_benches[i - NBENCH];
        bool wanted = !named && (i < NBENCH) != scaling;
        for (int a = 1; a < argc; a++)
            wanted |= argv[a] && strcmp(argv[a], b->name) == 0;
        if (wanted && b->fn != b_with_rate_row)
            run_isolated(b);
    }
    printf("BENCH_END\n");
    return 0;
}
