/*
 * timers.c - clocks, sleeps and timers: clock_nanosleep, the clock ids,
 * CPU-time clocks, times/getrusage, alarm and itimers, POSIX timers, timerfd,
 * and setting the clock as root.
 *
 * Everything is called through raw syscalls (musl would use the vDSO or its
 * own timer threads). Timer signals are mostly collected with rt_sigtimedwait
 * while blocked; the long timeouts there only guard against a hang, they are
 * never expected to expire.
 */
#define KT_AREA "timers"
#include "kt.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/times.h>
#include <sys/timex.h>
#include <time.h>

#define KSIGSET 8
#define BIT(sig) (1ULL << ((sig) - 1))
#define MS 1000000LL
#define BADTIMER 0x7ffffff0

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

static long long ts_ns(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static struct timespec ns_ts(long long ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    return ts;
}

/* Raw clock_gettime in ns, or -1. */
static long long clk(clockid_t c)
{
    struct timespec ts;
    if (syscall(SYS_clock_gettime, c, &ts) != 0)
        return -1;
    return ts_ns(&ts);
}

static void sleep_ns(long long ns)
{
    struct timespec ts = ns_ts(ns);
    while (syscall(SYS_nanosleep, &ts, &ts) != 0 && errno == EINTR) {
    }
}

static volatile unsigned long burn_sink;

/* Burns CPU in this thread until its CPU clock has advanced by ns (gives up
 * after 5 s of wall time). Returns the CPU time burned. */
static long long burn_thread_cpu(long long ns)
{
    long long c0 = clk(CLOCK_THREAD_CPUTIME_ID), w0 = clk(CLOCK_MONOTONIC), c;
    do {
        for (int i = 0; i < 20000; i++)
            burn_sink = burn_sink * 6364136223846793005UL + 1442695040888963407UL;
        c = clk(CLOCK_THREAD_CPUTIME_ID);
    } while (c - c0 < ns && clk(CLOCK_MONOTONIC) - w0 < 5000 * MS);
    return c - c0;
}

static volatile int h_count;
static volatile int h_signo;
static void h_count_sig(int sig)
{
    h_signo = sig;
    h_count++;
}

static int on(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h_count_sig;
    sa.sa_flags = SA_RESTART;
    return sigaction(sig, &sa, NULL);
}

/* Waits (blocked) for sig for up to 5 s; returns the signal or -1. */
static int wait_sig(int sig, siginfo_t *si)
{
    uint64_t set = BIT(sig);
    struct timespec to = {5, 0};
    siginfo_t tmp;
    return (int)syscall(SYS_rt_sigtimedwait, &set, si ? si : &tmp, &to, KSIGSET);
}

/* Sleeps in 50 ms steps (a signal cuts a step short) until h_count reaches
 * n; gives up after 5 s. */
static int sleep_until_count(int n)
{
    long long end = clk(CLOCK_MONOTONIC) + 5000 * MS;
    while (h_count < n && clk(CLOCK_MONOTONIC) < end) {
        struct timespec ts = {0, 50 * MS};
        syscall(SYS_nanosleep, &ts, NULL);
    }
    return h_count >= n;
}

static void disarm_itimers(void)
{
    struct itimerval z;
    memset(&z, 0, sizeof z);
    syscall(SYS_setitimer, ITIMER_REAL, &z, NULL);
    syscall(SYS_setitimer, ITIMER_VIRTUAL, &z, NULL);
    syscall(SYS_setitimer, ITIMER_PROF, &z, NULL);
}

static void sig_reset(void)
{
    disarm_itimers();
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
}

#define RUNS(name)                                                            \
    do {                                                                      \
        RUN(name);                                                            \
        sig_reset();                                                          \
    } while (0)

/* ---- clock_nanosleep ---------------------------------------------------- */

TEST(clock_nanosleep_relative_sleeps_at_least_requested) {
    struct timespec req = ns_ts(10 * MS);
    long long t0 = clk(CLOCK_MONOTONIC);
    OK(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, NULL));
    long long el = clk(CLOCK_MONOTONIC) - t0;
    CHECK(el >= 10 * MS, "slept %lld ns, requested 10 ms", el);
}

static void abstime_case(const char *kt_case, clockid_t c)
{
    long long dl = clk(c) + 10 * MS;
    struct timespec ts = ns_ts(dl);
    struct timespec rem = {77, 77};
    OK(syscall(SYS_clock_nanosleep, c, TIMER_ABSTIME, &ts, &rem));
    long long now = clk(c);
    CHECK(now >= dl, "woke %lld ns before the deadline", dl - now);
    CHECK(rem.tv_sec == 77 && rem.tv_nsec == 77, "rem written by an absolute sleep");
}

TEST(clock_nanosleep_abstime_monotonic_wakes_after_deadline) {
    abstime_case(kt_case, CLOCK_MONOTONIC);
}

TEST(clock_nanosleep_abstime_realtime_wakes_after_deadline) {
    abstime_case(kt_case, CLOCK_REALTIME);
}

TEST(clock_nanosleep_abstime_boottime_wakes_after_deadline) {
    abstime_case(kt_case, CLOCK_BOOTTIME);
}

TEST(clock_nanosleep_abstime_in_the_past_returns_at_once) {
    /* half the uptime: in the past, yet not negative on a machine just booted */
    struct timespec ts = ns_ts(clk(CLOCK_MONOTONIC) / 2);
    EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL), 0);
    struct timespec zero = {0, 0};
    EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &zero, NULL), 0);
}

TEST(clock_nanosleep_bad_arguments_are_einval) {
    struct timespec bad = {0, 1000000000L}, neg = {-1, 0}, ok = {0, 1000};
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &neg, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, 100, 0, &ok, NULL), EINVAL);
    /* a thread cannot sleep on its own CPU clock: through the encoded
     * per-thread id that is EINVAL (the constant id is EOPNOTSUPP, below) */
    clockid_t own;
    CHECK(pthread_getcpuclockid(pthread_self(), &own) == 0, "pthread_getcpuclockid failed");
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, own, 0, &ok, NULL), EINVAL);
}

/* Linux: these clocks exist but have no sleep operation. */
TEST(clock_nanosleep_on_clock_without_sleep_is_eopnotsupp) {
    struct timespec ok = {0, 1000};
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_RAW, 0, &ok, NULL), EOPNOTSUPP);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_COARSE, 0, &ok, NULL), EOPNOTSUPP);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_REALTIME_COARSE, 0, &ok, NULL), EOPNOTSUPP);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &ok, NULL), EOPNOTSUPP);
}

/* ---- clock_gettime / clock_getres ---------------------------------------- */

static const struct {
    clockid_t id;
    const char *name;
} clocks[] = {
    {CLOCK_REALTIME, "REALTIME"},
    {CLOCK_MONOTONIC, "MONOTONIC"},
    {CLOCK_PROCESS_CPUTIME_ID, "PROCESS_CPUTIME_ID"},
    {CLOCK_THREAD_CPUTIME_ID, "THREAD_CPUTIME_ID"},
    {CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW"},
    {CLOCK_REALTIME_COARSE, "REALTIME_COARSE"},
    {CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE"},
    {CLOCK_BOOTTIME, "BOOTTIME"},
    {CLOCK_TAI, "TAI"},
};
#define NCLOCKS (int)(sizeof clocks / sizeof clocks[0])

TEST(clock_gettime_every_standard_clock_works) {
    for (int i = 0; i < NCLOCKS; i++) {
        struct timespec ts = {-1, -1};
        errno = 0;
        long r = syscall(SYS_clock_gettime, clocks[i].id, &ts);
        CHECK(r == 0, "clock_gettime(%s) failed: %s", clocks[i].name, kt_errstr(errno));
        CHECK(ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L,
              "clock_gettime(%s) = %ld.%09ld", clocks[i].name, (long)ts.tv_sec, ts.tv_nsec);
    }
}

TEST(clock_getres_every_standard_clock_is_positive_and_fine) {
    for (int i = 0; i < NCLOCKS; i++) {
        struct timespec ts = {-1, -1};
        errno = 0;
        long r = syscall(SYS_clock_getres, clocks[i].id, &ts);
        CHECK(r == 0, "clock_getres(%s) failed: %s", clocks[i].name, kt_errstr(errno));
        CHECK(ts.tv_sec == 0 && ts.tv_nsec > 0 && ts.tv_nsec <= 100 * MS,
              "clock_getres(%s) = %ld.%09ld, expected within (0, 100 ms]", clocks[i].name,
              (long)ts.tv_sec, ts.tv_nsec);
    }
    EXPECT_EQ(syscall(SYS_clock_getres, CLOCK_MONOTONIC, NULL), 0); /* NULL res is allowed */
}

TEST(clock_gettime_and_getres_invalid_clock_is_einval) {
    struct timespec ts;
    EXPECT_ERRNO(syscall(SYS_clock_gettime, 100, &ts), EINVAL);
    EXPECT_ERRNO(syscall(SYS_clock_getres, 100, &ts), EINVAL);
    /* 10 was CLOCK_SGI_CYCLE: the id is reserved, the clock does not exist */
    EXPECT_ERRNO(syscall(SYS_clock_gettime, CLOCK_SGI_CYCLE, &ts), EINVAL);
}

TEST(boottime_and_tai_not_behind_monotonic_and_realtime) {
    long long mono = clk(CLOCK_MONOTONIC);
    long long boot = clk(CLOCK_BOOTTIME);
    long long real = clk(CLOCK_REALTIME);
    long long tai = clk(CLOCK_TAI);
    CHECK(boot >= mono, "BOOTTIME %lld < MONOTONIC %lld read before it", boot, mono);
    CHECK(tai >= real, "TAI %lld < REALTIME %lld read before it", tai, real);
}

TEST(coarse_clocks_trail_their_fine_clocks) {
    long long f0 = clk(CLOCK_REALTIME), c = clk(CLOCK_REALTIME_COARSE), f1 = clk(CLOCK_REALTIME);
    CHECK(c <= f1, "REALTIME_COARSE %lld ahead of REALTIME %lld read after it", c, f1);
    CHECK(c >= f0 - 1000 * MS, "REALTIME_COARSE %lld ns behind REALTIME", f0 - c);
    f0 = clk(CLOCK_MONOTONIC);
    c = clk(CLOCK_MONOTONIC_COARSE);
    f1 = clk(CLOCK_MONOTONIC);
    CHECK(c <= f1, "MONOTONIC_COARSE %lld ahead of MONOTONIC %lld read after it", c, f1);
    CHECK(c >= f0 - 1000 * MS, "MONOTONIC_COARSE %lld ns behind MONOTONIC", f0 - c);
}

TEST(monotonic_raw_advances_across_a_sleep) {
    long long r0 = clk(CLOCK_MONOTONIC_RAW);
    sleep_ns(5 * MS);
    long long r1 = clk(CLOCK_MONOTONIC_RAW);
    /* raw is not NTP-adjusted: allow a little rate difference */
    CHECK(r1 - r0 >= 4 * MS, "MONOTONIC_RAW advanced %lld ns across a 5 ms sleep", r1 - r0);
}

TEST(cpu_clocks_advance_while_burning_cpu) {
    long long p0 = clk(CLOCK_PROCESS_CPUTIME_ID), t0 = clk(CLOCK_THREAD_CPUTIME_ID);
    long long burned = burn_thread_cpu(20 * MS);
    long long p1 = clk(CLOCK_PROCESS_CPUTIME_ID), t1 = clk(CLOCK_THREAD_CPUTIME_ID);
    CHECK(burned >= 20 * MS, "could only burn %lld ns of CPU in 5 s", burned);
    CHECK(t1 - t0 >= 20 * MS, "THREAD_CPUTIME advanced %lld ns", t1 - t0);
    CHECK(p1 - p0 >= 20 * MS, "PROCESS_CPUTIME advanced %lld ns, the thread burned %lld", p1 - p0,
          t1 - t0);
}

struct cpu_thr {
    int busy;
    long long delta;
    volatile int done;
    volatile int release;
};

static void *cpu_thread(void *arg)
{
    struct cpu_thr *t = arg;
    long long c0 = clk(CLOCK_THREAD_CPUTIME_ID);
    if (t->busy)
        burn_thread_cpu(20 * MS);
    else
        sleep_ns(20 * MS);
    t->delta = clk(CLOCK_THREAD_CPUTIME_ID) - c0;
    t->done = 1;
    while (!t->release)
        sleep_ns(1 * MS);
    return NULL;
}

TEST(thread_cputime_of_sleeping_thread_stays_small) {
    struct cpu_thr busy = {1, 0, 0, 1}, idle = {0, 0, 0, 1};
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, cpu_thread, &busy) == 0, "pthread_create failed");
    CHECK(pthread_create(&b, NULL, cpu_thread, &idle) == 0, "pthread_create failed");
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK(busy.delta >= 20 * MS, "busy thread's CPU clock advanced only %lld ns", busy.delta);
    CHECK(idle.delta >= 0 && idle.delta < busy.delta / 2,
          "sleeping thread used %lld ns of CPU, busy one %lld", idle.delta, busy.delta);
}

/* pthread_getcpuclockid encodes the tid in a negative clock id (Linux ABI). */
TEST(cpu_clock_of_another_thread_is_readable) {
    struct cpu_thr busy = {1, 0, 0, 0};
    pthread_t a;
    CHECK(pthread_create(&a, NULL, cpu_thread, &busy) == 0, "pthread_create failed");
    clockid_t cid;
    int gr = pthread_getcpuclockid(a, &cid);
    long long end = clk(CLOCK_MONOTONIC) + 5000 * MS;
    while (!busy.done && clk(CLOCK_MONOTONIC) < end)
        sleep_ns(1 * MS);
    long long other = gr == 0 ? clk(cid) : -1;
    int e = errno;
    busy.release = 1;
    pthread_join(a, NULL);
    CHECK(gr == 0, "pthread_getcpuclockid failed");
    CHECK(other >= 20 * MS, "clock_gettime(thread clock %d) = %lld (errno %s), expected >= 20 ms",
          (int)cid, other, kt_errstr(e));
}

/* ---- setting the clock (root) ---------------------------------------------- */

TEST(clock_settime_monotonic_is_einval) {
    struct timespec ts;
    OK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts));
    EXPECT_ERRNO(syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts), EINVAL);
    struct timespec bad = {ts.tv_sec, 1000000000L};
    EXPECT_ERRNO(syscall(SYS_clock_settime, CLOCK_REALTIME, &bad), EINVAL);
}

/* Sets REALTIME to what it already is (corrected for the time in between). */
TEST(clock_settime_realtime_as_root_works) {
    long long m0 = clk(CLOCK_MONOTONIC), r0 = clk(CLOCK_REALTIME);
    struct timespec ts = ns_ts(r0 + (clk(CLOCK_MONOTONIC) - m0));
    errno = 0;
    long r = syscall(SYS_clock_settime, CLOCK_REALTIME, &ts);
    if (r != 0 && errno == EPERM)
        SKIP("no CAP_SYS_TIME here (container?)");
    CHECK(r == 0, "clock_settime(REALTIME) failed: %s", kt_errstr(errno));
    long long r1 = clk(CLOCK_REALTIME);
    CHECK(r1 >= r0, "REALTIME went back: %lld -> %lld", r0, r1);
}

TEST(settimeofday_as_root_works) {
    long long m0 = clk(CLOCK_MONOTONIC), r0 = clk(CLOCK_REALTIME);
    long long target = r0 + (clk(CLOCK_MONOTONIC) - m0) + 1000; /* round up to the next us */
    struct timeval tv = {(time_t)(target / 1000000000LL), (long)(target % 1000000000LL) / 1000};
    errno = 0;
    long r = syscall(SYS_settimeofday, &tv, NULL);
    if (r != 0 && errno == EPERM)
        SKIP("no CAP_SYS_TIME here (container?)");
    CHECK(r == 0, "settimeofday failed: %s", kt_errstr(errno));
    struct timeval bad = {tv.tv_sec, 1000000};
    EXPECT_ERRNO(syscall(SYS_settimeofday, &bad, NULL), EINVAL);
}

TEST(adjtimex_read_only_modes_work) {
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    long r = OK(syscall(SYS_adjtimex, &tx));
    CHECK(r >= TIME_OK && r <= TIME_ERROR, "adjtimex(modes=0) returned state %ld", r);
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_OFFSET_SS_READ;
    r = OK(syscall(SYS_adjtimex, &tx));
    CHECK(r >= TIME_OK && r <= TIME_ERROR, "adjtimex(ADJ_OFFSET_SS_READ) returned %ld", r);
    memset(&tx, 0, sizeof tx);
    r = OK(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
    CHECK(r >= TIME_OK && r <= TIME_ERROR, "clock_adjtime(REALTIME) returned %ld", r);
    CHECK(tx.tick > 0, "tick %ld", (long)tx.tick);
}

/* ---- times / getrusage ------------------------------------------------------ */

static long long tv_ns(const struct timeval *tv)
{
    return (long long)tv->tv_sec * 1000000000LL + (long long)tv->tv_usec * 1000;
}

static long long ru_cpu(int who)
{
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (syscall(SYS_getrusage, who, &ru) != 0)
        return -1;
    return tv_ns(&ru.ru_utime) + tv_ns(&ru.ru_stime);
}

TEST(times_and_getrusage_grow_after_burning_cpu) {
    struct tms t0, t1;
    long long s0 = ru_cpu(RUSAGE_SELF), th0 = ru_cpu(RUSAGE_THREAD);
    OK(syscall(SYS_times, &t0));
    burn_thread_cpu(40 * MS);
    long c1 = OK(syscall(SYS_times, &t1));
    long long s1 = ru_cpu(RUSAGE_SELF), th1 = ru_cpu(RUSAGE_THREAD);
    CHECK(s0 >= 0 && th0 >= 0, "getrusage failed");
    CHECK(s1 - s0 >= 20 * MS, "RUSAGE_SELF grew %lld ns after burning 40 ms", s1 - s0);
    CHECK(th1 - th0 >= 20 * MS, "RUSAGE_THREAD grew %lld ns after burning 40 ms", th1 - th0);
    long ticks = (t1.tms_utime + t1.tms_stime) - (t0.tms_utime + t0.tms_stime);
    CHECK(ticks >= 1, "times(): utime+stime grew %ld ticks after burning 40 ms", ticks);
    CHECK(c1 > 0, "times() returned %ld", c1);
}

TEST(getrusage_children_grows_after_reaping_a_busy_child) {
    struct tms t0, t1;
    long long c0 = ru_cpu(RUSAGE_CHILDREN);
    OK(syscall(SYS_times, &t0));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        burn_thread_cpu(40 * MS);
        _exit(0);
    }
    CHECK(pid > 0, "fork failed");
    long long before_reap = ru_cpu(RUSAGE_CHILDREN);
    int st;
    waitpid(pid, &st, 0);
    OK(syscall(SYS_times, &t1));
    long long c1 = ru_cpu(RUSAGE_CHILDREN);
    (void)before_reap;
    CHECK(c1 - c0 >= 20 * MS, "RUSAGE_CHILDREN grew %lld ns", c1 - c0);
    long ticks = (t1.tms_cutime + t1.tms_cstime) - (t0.tms_cutime + t0.tms_cstime);
    CHECK(ticks >= 1, "times(): cutime+cstime grew %ld ticks", ticks);
}

TEST(getrusage_bad_who_is_einval) {
    struct rusage ru;
    EXPECT_ERRNO(syscall(SYS_getrusage, 5, &ru), EINVAL);
    EXPECT_ERRNO(syscall(SYS_getrusage, -3, &ru), EINVAL);
}

/* ---- alarm / itimers ---------------------------------------------------------- */

/* alarm() rounds the remaining time to the nearest second (never to 0 while
 * armed), so right after alarm(5) it reports 5. */
TEST(alarm_returns_remaining_seconds) {
    EXPECT_EQ(syscall(SYS_alarm, 5), 0);
    long r = syscall(SYS_alarm, 0);
    EXPECT_EQ(r, 5);
    EXPECT_EQ(syscall(SYS_alarm, 0), 0);
}

TEST(alarm_and_itimer_real_share_one_timer) {
    struct itimerval it = {{0, 0}, {7, 0}};
    OK(syscall(SYS_setitimer, ITIMER_REAL, &it, NULL));
    long r = syscall(SYS_alarm, 3);
    struct itimerval cur;
    OK(syscall(SYS_getitimer, ITIMER_REAL, &cur));
    syscall(SYS_alarm, 0);
    EXPECT_EQ(r, 7);
    CHECK(cur.it_value.tv_sec <= 3 && (cur.it_value.tv_sec > 0 || cur.it_value.tv_usec > 0),
          "after alarm(3) getitimer shows %ld.%06ld", (long)cur.it_value.tv_sec,
          (long)cur.it_value.tv_usec);
}

TEST(itimer_real_one_shot_delivers_sigalrm) {
    block(BIT(SIGALRM));
    struct itimerval it = {{0, 0}, {0, 10000}};
    long long t0 = clk(CLOCK_MONOTONIC);
    OK(syscall(SYS_setitimer, ITIMER_REAL, &it, NULL));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int s = wait_sig(SIGALRM, &si);
    long long el = clk(CLOCK_MONOTONIC) - t0;
    EXPECT_EQ(s, SIGALRM);
    CHECK(el >= 10 * MS, "SIGALRM after %lld ns, armed for 10 ms", el);
    EXPECT_EQ(si.si_code, SI_KERNEL); /* Linux sends itimer signals as SI_KERNEL */
    struct itimerval cur;
    OK(syscall(SYS_getitimer, ITIMER_REAL, &cur));
    CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0, "one-shot timer still armed");
}

TEST(itimer_real_periodic_fires_repeatedly) {
    OK(on(SIGALRM));
    struct itimerval it = {{0, 5000}, {0, 5000}};
    OK(syscall(SYS_setitimer, ITIMER_REAL, &it, NULL));
    int ok = sleep_until_count(3);
    struct itimerval z, old;
    memset(&z, 0, sizeof z);
    OK(syscall(SYS_setitimer, ITIMER_REAL, &z, &old));
    CHECK(ok, "only %d SIGALRM in 5 s", h_count);
    CHECK(old.it_interval.tv_sec == 0 && old.it_interval.tv_usec == 5000,
          "old interval %ld.%06ld, expected 0.005000", (long)old.it_interval.tv_sec,
          (long)old.it_interval.tv_usec);
}

TEST(getitimer_reports_remaining_and_interval) {
    struct itimerval it = {{1, 250000}, {5, 0}}, cur, old;
    OK(syscall(SYS_setitimer, ITIMER_REAL, &it, NULL));
    OK(syscall(SYS_getitimer, ITIMER_REAL, &cur));
    struct itimerval z;
    memset(&z, 0, sizeof z);
    OK(syscall(SYS_setitimer, ITIMER_REAL, &z, &old));
    CHECK(cur.it_interval.tv_sec == 1 && cur.it_interval.tv_usec == 250000,
          "interval %ld.%06ld, expected 1.250000", (long)cur.it_interval.tv_sec,
          (long)cur.it_interval.tv_usec);
    long long v = tv_ns(&cur.it_value);
    CHECK(v > 0 && v <= 5000 * MS, "remaining %lld ns, expected within (0, 5 s]", v);
    CHECK(tv_ns(&old.it_value) > 0 && tv_ns(&old.it_value) <= v, "old value from the disarm %lld",
          tv_ns(&old.it_value));
    OK(syscall(SYS_getitimer, ITIMER_REAL, &cur));
    EXPECT_EQ(tv_ns(&cur.it_value), 0);
}

/* Burns user CPU (no syscalls in the loop) until h_count >= n or 5 s pass. */
static int burn_until_signal(int n)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (h_count < n) {
        for (int i = 0; i < 200000 && h_count < n; i++)
            burn_sink = burn_sink * 6364136223846793005UL + 1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (ts_ns(&t) - ts_ns(&t0) > 5000 * MS)
            return 0;
    }
    return 1;
}

static void cpu_itimer_case(const char *kt_case, int which, int sig)
{
    OK(on(sig));
    struct itimerval it = {{0, 0}, {0, 10000}};
    OK(syscall(SYS_setitimer, which, &it, NULL));
    int ok = burn_until_signal(1);
    disarm_itimers();
    CHECK(ok, "no signal %d after burning CPU for 5 s", sig);
    EXPECT_EQ(h_signo, sig);
}

TEST(itimer_virtual_fires_while_burning_cpu) {
    cpu_itimer_case(kt_case, ITIMER_VIRTUAL, SIGVTALRM);
}

TEST(itimer_prof_fires_while_burning_cpu) {
    cpu_itimer_case(kt_case, ITIMER_PROF, SIGPROF);
}

TEST(itimer_virtual_does_not_run_while_sleeping) {
    struct itimerval it = {{0, 0}, {1, 0}}, cur;
    OK(syscall(SYS_setitimer, ITIMER_VIRTUAL, &it, NULL));
    sleep_ns(10 * MS);
    OK(syscall(SYS_getitimer, ITIMER_VIRTUAL, &cur));
    disarm_itimers();
    /* at most a tick or two of user time went by */
    CHECK(tv_ns(&cur.it_value) >= 900 * MS, "ITIMER_VIRTUAL went from 1 s to %lld ns while "
          "sleeping 10 ms", tv_ns(&cur.it_value));
}

TEST(setitimer_invalid_which_is_einval) {
    struct itimerval it = {{0, 0}, {1, 0}}, cur;
    EXPECT_ERRNO(syscall(SYS_setitimer, 5, &it, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_getitimer, 5, &cur), EINVAL);
    EXPECT_ERRNO(syscall(SYS_getitimer, -1, &cur), EINVAL);
}

TEST(setitimer_usec_out_of_range_is_einval) {
    struct itimerval a = {{0, 0}, {0, 1000000}};
    EXPECT_ERRNO(syscall(SYS_setitimer, ITIMER_REAL, &a, NULL), EINVAL);
    struct itimerval b = {{0, 1000000}, {1, 0}};
    EXPECT_ERRNO(syscall(SYS_setitimer, ITIMER_REAL, &b, NULL), EINVAL);
    struct itimerval c = {{0, 0}, {0, -1}};
    EXPECT_ERRNO(syscall(SYS_setitimer, ITIMER_REAL, &c, NULL), EINVAL);
    struct itimerval cur;
    OK(syscall(SYS_getitimer, ITIMER_REAL, &cur));
    EXPECT_EQ(tv_ns(&cur.it_value), 0); /* nothing was armed */
}

/* ---- POSIX timers ----------------------------------------------------------- */

static long timer_new(clockid_t c, struct sigevent *ev, int *id)
{
    return syscall(SYS_timer_create, c, ev, id);
}

static long timer_set(int id, int flags, long long value, long long interval,
                      struct itimerspec *old)
{
    struct itimerspec its = {ns_ts(interval), ns_ts(value)};
    return syscall(SYS_timer_settime, id, flags, &its, old);
}

static void sigev_signal(struct sigevent *ev, int sig, long val)
{
    memset(ev, 0, sizeof *ev);
    ev->sigev_notify = SIGEV_SIGNAL;
    ev->sigev_signo = sig;
    ev->sigev_value.sival_ptr = (void *)val;
}

TEST(timer_create_sigev_signal_delivers_sival_and_si_timer) {
    block(BIT(SIGUSR1));
    struct sigevent ev;
    sigev_signal(&ev, SIGUSR1, 0x5eed);
    int id = -1;
    OK(timer_new(CLOCK_MONOTONIC, &ev, &id));
    long long t0 = clk(CLOCK_MONOTONIC);
    long r = timer_set(id, 0, 10 * MS, 0, NULL);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int s = r == 0 ? wait_sig(SIGUSR1, &si) : -1;
    long long el = clk(CLOCK_MONOTONIC) - t0;
    syscall(SYS_timer_delete, id);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(s, SIGUSR1);
    CHECK(el >= 10 * MS, "fired after %lld ns, armed for 10 ms", el);
    EXPECT_EQ(si.si_code, SI_TIMER);
    EXPECT_EQ((long)si.si_value.sival_ptr, 0x5eed);
    EXPECT_EQ(si.si_timerid, id);
}

TEST(timer_create_null_sigevent_defaults_to_sigalrm_with_timer_id) {
    block(BIT(SIGALRM));
    int id = -1;
    OK(timer_new(CLOCK_MONOTONIC, NULL, &id));
    long r = timer_set(id, 0, 1 * MS, 0, NULL);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int s = r == 0 ? wait_sig(SIGALRM, &si) : -1;
    syscall(SYS_timer_delete, id);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(s, SIGALRM);
    EXPECT_EQ(si.si_code, SI_TIMER);
    EXPECT_EQ(si.si_value.sival_int, id);
}

struct tid_thr {
    volatile int tid;
    volatile int got;
    siginfo_t si;
};

static void *tid_waiter(void *arg)
{
    struct tid_thr *t = arg;
    t->tid = (int)syscall(SYS_gettid);
    t->got = wait_sig(SIGUSR1, &t->si);
    return NULL;
}

TEST(timer_sigev_thread_id_targets_that_thread) {
    block(BIT(SIGUSR1)); /* inherited by the thread */
    struct tid_thr t;
    memset(&t, 0, sizeof t);
    pthread_t pt;
    CHECK(pthread_create(&pt, NULL, tid_waiter, &t) == 0, "pthread_create failed");
    long long end = clk(CLOCK_MONOTONIC) + 5000 * MS;
    while (!t.tid && clk(CLOCK_MONOTONIC) < end)
        sched_yield();
    struct sigevent ev;
    sigev_signal(&ev, SIGUSR1, 99);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_notify_thread_id = t.tid;
    int id = -1;
    long r = timer_new(CLOCK_MONOTONIC, &ev, &id);
    int e = errno;
    if (r == 0)
        r = timer_set(id, 0, 2 * MS, 0, NULL);
    else /* wake the thread up anyway */
        syscall(SYS_tgkill, getpid(), t.tid, SIGUSR1);
    pthread_join(pt, NULL);
    uint64_t pend = 0;
    syscall(SYS_rt_sigpending, &pend, KSIGSET);
    syscall(SYS_timer_delete, id);
    CHECK(r == 0, "timer_create/settime failed: %s", kt_errstr(e));
    EXPECT_EQ(t.got, SIGUSR1);
    EXPECT_EQ(t.si.si_code, SI_TIMER);
    EXPECT_EQ(t.si.si_value.sival_int, 99);
    CHECK(!(pend & BIT(SIGUSR1)), "the main thread also has SIGUSR1 pending");
}

TEST(timer_sigev_thread_id_outside_the_process_is_einval) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            syscall(SYS_pause);
    }
    CHECK(pid > 0, "fork failed");
    struct sigevent ev;
    sigev_signal(&ev, SIGUSR1, 0);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_notify_thread_id = pid;
    int id = -1;
    errno = 0;
    long r = timer_new(CLOCK_MONOTONIC, &ev, &id);
    int e = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (r == 0)
        syscall(SYS_timer_delete, id);
    CHECK(r == -1 && e == EINVAL, "timer_create for another process's tid: %ld %s, expected "
          "EINVAL", r, kt_errstr(e));
}

TEST(timer_sigev_none_countdown_visible_in_gettime) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    int id = -1;
    OK(timer_new(CLOCK_MONOTONIC, &ev, &id));
    long r = timer_set(id, 0, 5000 * MS, 250 * MS, NULL);
    struct itimerspec cur;
    memset(&cur, 0, sizeof cur);
    long g = syscall(SYS_timer_gettime, id, &cur);
    syscall(SYS_timer_delete, id);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(g, 0);
    long long v = ts_ns(&cur.it_value);
    CHECK(v > 0 && v <= 5000 * MS, "remaining %lld ns, expected within (0, 5 s]", v);
    EXPECT_EQ(ts_ns(&cur.it_interval), 250 * MS);
}

TEST(timer_settime_abstime_fires_after_deadline) {
    block(BIT(SIGUSR1));
    struct sigevent ev;
    sigev_signal(&ev, SIGUSR1, 1);
    int id = -1;
    OK(timer_new(CLOCK_REALTIME, &ev, &id));
    long long dl = clk(CLOCK_REALTIME) + 10 * MS;
    long r = timer_set(id, TIMER_ABSTIME, dl, 0, NULL);
    int s = r == 0 ? wait_sig(SIGUSR1, NULL) : -1;
    long long now = clk(CLOCK_REALTIME);
    syscall(SYS_timer_delete, id);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(s, SIGUSR1);
    CHECK(now >= dl, "fired %lld ns before the absolute deadline", dl - now);
}

/* (A SIGEV_SIGNAL timer: Linux 6.x keeps reporting the stale countdown in
 * timer_gettime for a disarmed SIGEV_NONE timer, so that is not checked.) */
TEST(timer_settime_returns_old_value_and_zero_disarms) {
    block(BIT(SIGUSR1));
    struct sigevent ev;
    sigev_signal(&ev, SIGUSR1, 0);
    int id = -1;
    OK(timer_new(CLOCK_MONOTONIC, &ev, &id));
    struct itimerspec old1, old2, cur;
    memset(&old1, 0x55, sizeof old1);
    long r1 = timer_set(id, 0, 3000 * MS, 0, &old1);
    long r2 = timer_set(id, 0, 0, 0, &old2);
    long g = syscall(SYS_timer_gettime, id, &cur);
    syscall(SYS_timer_delete, id);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    EXPECT_EQ(g, 0);
    EXPECT_EQ(ts_ns(&old1.it_value), 0); /* it was disarmed */
    CHECK(ts_ns(&old2.it_value) > 0 && ts_ns(&old2.it_value) <= 3000 * MS, "old value %lld",
          ts_ns(&old2.it_value));
    EXPECT_EQ(ts_ns(&cur.it_value), 0);
}

TEST(timer_interval_fires_repeatedly) {
    block(BIT(SIGUSR1));
    struct sigevent ev;
    sigev_signal(&ev, SIGUSR1, 7);
    int id = -1;
    OK(timer_new(CLOCK_MONOTONIC, &ev, &id));
    long r = timer_set(id, 0, 3 * MS, 3 * MS, NULL);
    int n = 0;
    for (int i = 0; i < 3 && r == 0; i++)
        if (wait_sig(SIGUSR1, NULL) == SIGUSR1)
            n++;
    syscall(SYS_timer_delete, id);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(n, 3);
}

TEST(timer_getoverrun_counts_expirations_while_blocked) {
    block(BIT(SIGUSR1));
    struct sigevent ev;
    sigev_signal(&ev, SIGUSR1, 0);
    int id = -1;
    OK(timer_new(CLOCK_MONOTONIC, &ev, &id));
    long r = timer_set(id, 0, 2 * MS, 2 * MS, NULL);
    sleep_ns(30 * MS); /* ~15 expirations, one queued signal */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int s = r == 0 ? wait_sig(SIGUSR1, &si) : -1;
    long ov = syscall(SYS_timer_getoverrun, id);
    syscall(SYS_timer_delete, id);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(s, SIGUSR1);
    CHECK(ov >= 3, "timer_getoverrun = %ld after 30 ms of a 2 ms timer, expected >= 3", ov);
    CHECK(si.si_overrun >= 3, "si_overrun = %d, expected >= 3", si.si_overrun);
}

TEST(timer_delete_then_use_is_einval) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    int id = -1;
    OK(timer_new(CLOCK_MONOTONIC, &ev, &id));
    OK(syscall(SYS_timer_delete, id));
    struct itimerspec its = {{0, 0}, {1, 0}}, cur;
    EXPECT_ERRNO(syscall(SYS_timer_settime, id, 0, &its, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_timer_gettime, id, &cur), EINVAL);
    EXPECT_ERRNO(syscall(SYS_timer_delete, id), EINVAL);
}

TEST(timer_invalid_id_is_einval) {
    struct itimerspec its = {{0, 0}, {1, 0}}, cur;
    EXPECT_ERRNO(syscall(SYS_timer_settime, BADTIMER, 0, &its, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_timer_gettime, BADTIMER, &cur), EINVAL);
    EXPECT_ERRNO(syscall(SYS_timer_getoverrun, BADTIMER), EINVAL);
    EXPECT_ERRNO(syscall(SYS_timer_delete, BADTIMER), EINVAL);
}

TEST(timer_create_bad_arguments_are_einval) {
    struct sigevent ev;
    int id;
    sigev_signal(&ev, SIGUSR1, 0);
    EXPECT_ERRNO(timer_new(100, &ev, &id), EINVAL);
    sigev_signal(&ev, 0, 0);
    EXPECT_ERRNO(timer_new(CLOCK_MONOTONIC, &ev, &id), EINVAL);
    sigev_signal(&ev, 65, 0);
    EXPECT_ERRNO(timer_new(CLOCK_MONOTONIC, &ev, &id), EINVAL);
    sigev_signal(&ev, SIGUSR1, 0);
    ev.sigev_notify = 99;
    EXPECT_ERRNO(timer_new(CLOCK_MONOTONIC, &ev, &id), EINVAL);
}

TEST(timer_settime_bad_nsec_is_einval) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    int id = -1;
    OK(timer_new(CLOCK_MONOTONIC, &ev, &id));
    struct itimerspec bad = {{0, 0}, {0, 1000000000L}};
    errno = 0;
    long r = syscall(SYS_timer_settime, id, 0, &bad, NULL);
    int e = errno;
    struct itimerspec bad2 = {{0, 1000000000L}, {1, 0}};
    errno = 0;
    long r2 = syscall(SYS_timer_settime, id, 0, &bad2, NULL);
    int e2 = errno;
    syscall(SYS_timer_delete, id);
    CHECK(r == -1 && e == EINVAL, "value nsec 1e9: %ld %s, expected EINVAL", r, kt_errstr(e));
    CHECK(r2 == -1 && e2 == EINVAL, "interval nsec 1e9: %ld %s, expected EINVAL", r2,
          kt_errstr(e2));
}

TEST(posix_timers_are_not_inherited_by_fork) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    int id = -1;
    OK(timer_new(CLOCK_MONOTONIC, &ev, &id));
    timer_set(id, 0, 5000 * MS, 0, NULL);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct itimerspec cur;
        long r = syscall(SYS_timer_gettime, id, &cur);
        _exit(r == -1 && errno == EINVAL ? 0 : 1);
    }
    int st = -1;
    if (pid > 0)
        waitpid(pid, &st, 0);
    syscall(SYS_timer_delete, id);
    CHECK(pid > 0, "fork failed");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s (1 = the timer id was valid in the "
          "child)", kt_status(st));
}

/* ---- timerfd ------------------------------------------------------------------ */

static long tfd_set(int fd, int flags, long long value, long long interval,
                    struct itimerspec *old)
{
    struct itimerspec its = {ns_ts(interval), ns_ts(value)};
    return syscall(SYS_timerfd_settime, fd, flags, &its, old);
}

TEST(timerfd_read_returns_expiration_count) {
    int fd = OK(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_CLOEXEC));
    long long t0 = clk(CLOCK_MONOTONIC);
    long r = tfd_set(fd, 0, 5 * MS, 0, NULL);
    uint64_t n = 0;
    long got = r == 0 ? syscall(SYS_read, fd, &n, sizeof n) : -1;
    int e = errno;
    long long el = clk(CLOCK_MONOTONIC) - t0;
    int fdfl = fcntl(fd, F_GETFD);
    close(fd);
    EXPECT_EQ(r, 0);
    CHECK(got == 8, "read returned %ld %s, expected 8", got, kt_errstr(e));
    EXPECT_EQ(n, 1);
    CHECK(el >= 5 * MS, "read returned after %lld ns, timer was 5 ms", el);
    CHECK(fdfl & FD_CLOEXEC, "TFD_CLOEXEC did not set FD_CLOEXEC");
}

TEST(timerfd_nonblocking_read_before_expiry_is_eagain) {
    int fd = OK(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_NONBLOCK));
    uint64_t n;
    errno = 0;
    long r0 = syscall(SYS_read, fd, &n, sizeof n); /* not armed at all */
    int e0 = errno;
    tfd_set(fd, 0, 5000 * MS, 0, NULL);
    errno = 0;
    long r1 = syscall(SYS_read, fd, &n, sizeof n);
    int e1 = errno;
    close(fd);
    CHECK(r0 == -1 && e0 == EAGAIN, "unarmed: read %ld %s, expected EAGAIN", r0, kt_errstr(e0));
    CHECK(r1 == -1 && e1 == EAGAIN, "armed: read %ld %s, expected EAGAIN", r1, kt_errstr(e1));
}

TEST(timerfd_poll_becomes_readable) {
    int fd = OK(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_NONBLOCK));
    struct pollfd p = {fd, POLLIN, 0};
    long before = syscall(SYS_poll, &p, 1, 0);
    tfd_set(fd, 0, 5 * MS, 0, NULL);
    p.revents = 0;
    long r = syscall(SYS_poll, &p, 1, 5000); /* 5 s only guards against a hang */
    short rev = p.revents;
    uint64_t n = 0;
    long got = syscall(SYS_read, fd, &n, sizeof n);
    close(fd);
    EXPECT_EQ(before, 0);
    EXPECT_EQ(r, 1);
    CHECK(rev & POLLIN, "revents %#x lacks POLLIN", rev);
    EXPECT_EQ(got, 8);
    EXPECT_EQ(n, 1);
}

TEST(timerfd_abstime_fires_after_deadline) {
    int fd = OK(syscall(SYS_timerfd_create, CLOCK_REALTIME, 0));
    long long dl = clk(CLOCK_REALTIME) + 5 * MS;
    long r = tfd_set(fd, TFD_TIMER_ABSTIME, dl, 0, NULL);
    uint64_t n = 0;
    long got = r == 0 ? syscall(SYS_read, fd, &n, sizeof n) : -1;
    long long now = clk(CLOCK_REALTIME);
    close(fd);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(got, 8);
    EXPECT_EQ(n, 1);
    CHECK(now >= dl, "fired %lld ns before the deadline", dl - now);
}

TEST(timerfd_interval_counts_multiple_expirations) {
    int fd = OK(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_NONBLOCK));
    OK(tfd_set(fd, 0, 2 * MS, 2 * MS, NULL));
    sleep_ns(20 * MS);
    uint64_t n = 0;
    long got = syscall(SYS_read, fd, &n, sizeof n);
    errno = 0;
    uint64_t n2;
    long again = syscall(SYS_read, fd, &n2, sizeof n2);
    int e = errno;
    close(fd);
    EXPECT_EQ(got, 8);
    CHECK(n >= 3, "%llu expirations in 20 ms of a 2 ms timer, expected >= 3",
          (unsigned long long)n);
    CHECK(again == 8 || (again == -1 && e == EAGAIN), "second read %ld %s", again, kt_errstr(e));
    if (again == 8)
        CHECK(n2 < n, "the count was not reset by the read (%llu then %llu)",
              (unsigned long long)n, (unsigned long long)n2);
}

TEST(timerfd_gettime_reports_remaining_and_interval) {
    int fd = OK(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, 0));
    struct itimerspec cur, old, zero;
    memset(&cur, 0, sizeof cur);
    long g0 = syscall(SYS_timerfd_gettime, fd, &zero);
    long r = tfd_set(fd, 0, 4000 * MS, 1500 * MS, NULL);
    long g = syscall(SYS_timerfd_gettime, fd, &cur);
    long r2 = tfd_set(fd, 0, 0, 0, &old);
    close(fd);
    EXPECT_EQ(g0, 0);
    EXPECT_EQ(ts_ns(&zero.it_value), 0);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(g, 0);
    long long v = ts_ns(&cur.it_value);
    CHECK(v > 0 && v <= 4000 * MS, "remaining %lld ns, expected within (0, 4 s]", v);
    EXPECT_EQ(ts_ns(&cur.it_interval), 1500 * MS);
    EXPECT_EQ(r2, 0);
    CHECK(ts_ns(&old.it_value) > 0 && ts_ns(&old.it_value) <= v, "old value %lld",
          ts_ns(&old.it_value));
    EXPECT_EQ(ts_ns(&old.it_interval), 1500 * MS);
}

TEST(timerfd_disarm_with_zero_value) {
    int fd = OK(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_NONBLOCK));
    OK(tfd_set(fd, 0, 3 * MS, 0, NULL));
    OK(tfd_set(fd, 0, 0, 0, NULL));
    sleep_ns(6 * MS);
    uint64_t n;
    errno = 0;
    long r = syscall(SYS_read, fd, &n, sizeof n);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EAGAIN, "read after disarming: %ld %s, expected EAGAIN", r,
          kt_errstr(e));
}

TEST(timerfd_invalid_flags_and_clock_are_einval) {
    EXPECT_ERRNO(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, 0x1234), EINVAL);
    EXPECT_ERRNO(syscall(SYS_timerfd_create, 100, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_timerfd_create, CLOCK_PROCESS_CPUTIME_ID, 0), EINVAL);
    int fd = OK(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, 0));
    errno = 0;
    long r1 = tfd_set(fd, 0x10, 1000 * MS, 0, NULL);
    int e1 = errno;
    struct itimerspec bad = {{0, 0}, {0, 1000000000L}};
    errno = 0;
    long r2 = syscall(SYS_timerfd_settime, fd, 0, &bad, NULL);
    int e2 = errno;
    close(fd);
    CHECK(r1 == -1 && e1 == EINVAL, "settime flags 0x10: %ld %s", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EINVAL, "settime nsec 1e9: %ld %s", r2, kt_errstr(e2));
}

TEST(timerfd_read_with_small_buffer_is_einval) {
    int fd = OK(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, 0));
    OK(tfd_set(fd, 0, 1 * MS, 0, NULL));
    uint32_t small;
    errno = 0;
    long r = syscall(SYS_read, fd, &small, sizeof small);
    int e = errno;
    uint64_t n = 0;
    long got = syscall(SYS_read, fd, &n, sizeof n); /* the expiration is still there */
    close(fd);
    CHECK(r == -1 && e == EINVAL, "read of 4 bytes: %ld %s, expected EINVAL", r, kt_errstr(e));
    EXPECT_EQ(got, 8);
    EXPECT_EQ(n, 1);
}

TEST(timerfd_settime_on_other_fds_fails) {
    int p[2];
    OK(pipe(p));
    struct itimerspec its = {{0, 0}, {1, 0}}, cur;
    errno = 0;
    long r1 = syscall(SYS_timerfd_settime, p[0], 0, &its, NULL);
    int e1 = errno;
    errno = 0;
    long r2 = syscall(SYS_timerfd_gettime, p[0], &cur);
    int e2 = errno;
    close(p[0]);
    close(p[1]);
    CHECK(r1 == -1 && e1 == EINVAL, "timerfd_settime on a pipe: %ld %s, expected EINVAL", r1,
          kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EINVAL, "timerfd_gettime on a pipe: %ld %s, expected EINVAL", r2,
          kt_errstr(e2));
    EXPECT_ERRNO(syscall(SYS_timerfd_settime, 987, 0, &its, NULL), EBADF);
}

int main(void)
{
    KT_BEGIN();
    initial_mask = getmask();
    RUNS(clock_nanosleep_relative_sleeps_at_least_requested);
    RUNS(clock_nanosleep_abstime_monotonic_wakes_after_deadline);
    RUNS(clock_nanosleep_abstime_realtime_wakes_after_deadline);
    RUNS(clock_nanosleep_abstime_boottime_wakes_after_deadline);
    RUNS(clock_nanosleep_abstime_in_the_past_returns_at_once);
    RUNS(clock_nanosleep_bad_arguments_are_einval);
    RUNS(clock_nanosleep_on_clock_without_sleep_is_eopnotsupp);
    RUNS(clock_gettime_every_standard_clock_works);
    RUNS(clock_getres_every_standard_clock_is_positive_and_fine);
    RUNS(clock_gettime_and_getres_invalid_clock_is_einval);
    RUNS(boottime_and_tai_not_behind_monotonic_and_realtime);
    RUNS(coarse_clocks_trail_their_fine_clocks);
    RUNS(monotonic_raw_advances_across_a_sleep);
    RUNS(cpu_clocks_advance_while_burning_cpu);
    RUNS(thread_cputime_of_sleeping_thread_stays_small);
    RUNS(cpu_clock_of_another_thread_is_readable);
    RUNS(clock_settime_monotonic_is_einval);
    RUNS(clock_settime_realtime_as_root_works);
    RUNS(settimeofday_as_root_works);
    RUNS(adjtimex_read_only_modes_work);
    RUNS(times_and_getrusage_grow_after_burning_cpu);
    RUNS(getrusage_children_grows_after_reaping_a_busy_child);
    RUNS(getrusage_bad_who_is_einval);
    RUNS(alarm_returns_remaining_seconds);
    RUNS(alarm_and_itimer_real_share_one_timer);
    RUNS(itimer_real_one_shot_delivers_sigalrm);
    RUNS(itimer_real_periodic_fires_repeatedly);
    RUNS(getitimer_reports_remaining_and_interval);
    RUNS(itimer_virtual_fires_while_burning_cpu);
    RUNS(itimer_prof_fires_while_burning_cpu);
    RUNS(itimer_virtual_does_not_run_while_sleeping);
    RUNS(setitimer_invalid_which_is_einval);
    RUNS(setitimer_usec_out_of_range_is_einval);
    RUNS(timer_create_sigev_signal_delivers_sival_and_si_timer);
    RUNS(timer_create_null_sigevent_defaults_to_sigalrm_with_timer_id);
    RUNS(timer_sigev_thread_id_targets_that_thread);
    RUNS(timer_sigev_thread_id_outside_the_process_is_einval);
    RUNS(timer_sigev_none_countdown_visible_in_gettime);
    RUNS(timer_settime_abstime_fires_after_deadline);
    RUNS(timer_settime_returns_old_value_and_zero_disarms);
    RUNS(timer_interval_fires_repeatedly);
    RUNS(timer_getoverrun_counts_expirations_while_blocked);
    RUNS(timer_delete_then_use_is_einval);
    RUNS(timer_invalid_id_is_einval);
    RUNS(timer_create_bad_arguments_are_einval);
    RUNS(timer_settime_bad_nsec_is_einval);
    RUNS(posix_timers_are_not_inherited_by_fork);
    RUNS(timerfd_read_returns_expiration_count);
    RUNS(timerfd_nonblocking_read_before_expiry_is_eagain);
    RUNS(timerfd_poll_becomes_readable);
    RUNS(timerfd_abstime_fires_after_deadline);
    RUNS(timerfd_interval_counts_multiple_expirations);
    RUNS(timerfd_gettime_reports_remaining_and_interval);
    RUNS(timerfd_disarm_with_zero_value);
    RUNS(timerfd_invalid_flags_and_clock_are_einval);
    RUNS(timerfd_read_with_small_buffer_is_einval);
    RUNS(timerfd_settime_on_other_fds_fails);
    return KT_END();
}
