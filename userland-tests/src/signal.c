/* rt_sigaction / rt_sigprocmask bookkeeping only: no signal is ever delivered. */
#define KT_AREA "signal"
#include "kt.h"

#include <signal.h>
#include <pthread.h>

#define BADPTR ((void *)1)

/* The kernel's struct sigaction on x86-64 (not libc's). */
struct ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

#define KSIGSET 8 /* the only sigsetsize the kernel accepts */
#define BIT(sig) (1ULL << ((sig) - 1))

static long sys_sigaction(int sig, const struct ksigaction *act, struct ksigaction *old,
                          size_t size)
{
    return syscall(SYS_rt_sigaction, sig, act, old, size);
}

static long sys_sigprocmask(int how, const uint64_t *set, uint64_t *old, size_t size)
{
    return syscall(SYS_rt_sigprocmask, how, set, old, size);
}

static void handler_a(int sig)
{
    (void)sig;
}

static void restore_default(int sig)
{
    struct ksigaction dfl = {SIG_DFL, 0, NULL, 0};
    sys_sigaction(sig, &dfl, NULL, KSIGSET);
}

/* ---- rt_sigaction ----------------------------------------------------- */

TEST(rt_sigaction_set_handler_and_read_back) {
    struct ksigaction act = {(void *)handler_a, SA_RESTART | SA_SIGINFO, NULL, BIT(SIGUSR2)};
    struct ksigaction old, back;
    memset(&old, 0xff, sizeof old);
    memset(&back, 0, sizeof back);
    long r1 = sys_sigaction(SIGUSR1, &act, &old, KSIGSET);
    long r2 = sys_sigaction(SIGUSR1, NULL, &back, KSIGSET);
    restore_default(SIGUSR1);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    CHECK(old.handler == SIG_DFL, "previous handler %p, expected SIG_DFL", old.handler);
    CHECK(back.handler == (void *)handler_a, "handler read back %p, expected %p", back.handler,
          (void *)handler_a);
    CHECK((back.flags & (SA_RESTART | SA_SIGINFO)) == (SA_RESTART | SA_SIGINFO),
          "flags read back 0x%lx, expected SA_RESTART|SA_SIGINFO", back.flags);
    CHECK(back.mask == BIT(SIGUSR2), "mask read back 0x%llx, expected 0x%llx",
          (unsigned long long)back.mask, (unsigned long long)BIT(SIGUSR2));
}

TEST(rt_sigaction_old_value_is_returned_when_replacing) {
    struct ksigaction ign = {SIG_IGN, 0, NULL, 0};
    struct ksigaction h = {(void *)handler_a, 0, NULL, 0};
    struct ksigaction old;
    OK(sys_sigaction(SIGUSR2, &ign, NULL, KSIGSET));
    long r = sys_sigaction(SIGUSR2, &h, &old, KSIGSET);
    restore_default(SIGUSR2);
    EXPECT_EQ(r, 0);
    CHECK(old.handler == SIG_IGN, "old handler %p, expected SIG_IGN", old.handler);
}

TEST(rt_sigaction_mask_drops_sigkill_and_sigstop) {
    struct ksigaction act = {(void *)handler_a, 0, NULL,
                             BIT(SIGKILL) | BIT(SIGSTOP) | BIT(SIGUSR2)};
    struct ksigaction back;
    OK(sys_sigaction(SIGUSR1, &act, NULL, KSIGSET));
    long r = sys_sigaction(SIGUSR1, NULL, &back, KSIGSET);
    restore_default(SIGUSR1);
    EXPECT_EQ(r, 0);
    CHECK(back.mask == BIT(SIGUSR2), "mask read back 0x%llx, expected 0x%llx",
          (unsigned long long)back.mask, (unsigned long long)BIT(SIGUSR2));
}

TEST(rt_sigaction_query_sigkill_is_allowed) {
    struct ksigaction old;
    OK(sys_sigaction(SIGKILL, NULL, &old, KSIGSET));
    CHECK(old.handler == SIG_DFL, "SIGKILL handler %p, expected SIG_DFL", old.handler);
}

TEST(rt_sigaction_sigkill_sigstop_handler_is_einval) {
    struct ksigaction act = {(void *)handler_a, 0, NULL, 0};
    EXPECT_ERRNO(sys_sigaction(SIGKILL, &act, NULL, KSIGSET), EINVAL);
    EXPECT_ERRNO(sys_sigaction(SIGSTOP, &act, NULL, KSIGSET), EINVAL);
    struct ksigaction ign = {SIG_IGN, 0, NULL, 0};
    EXPECT_ERRNO(sys_sigaction(SIGKILL, &ign, NULL, KSIGSET), EINVAL);
}

TEST(rt_sigaction_bad_signal_number_is_einval) {
    struct ksigaction old;
    EXPECT_ERRNO(sys_sigaction(0, NULL, &old, KSIGSET), EINVAL);
    EXPECT_ERRNO(sys_sigaction(65, NULL, &old, KSIGSET), EINVAL);
    EXPECT_ERRNO(sys_sigaction(-1, NULL, &old, KSIGSET), EINVAL);
}

TEST(rt_sigaction_realtime_signal_accepted) {
    struct ksigaction act = {(void *)handler_a, 0, NULL, 0};
    struct ksigaction back;
    OK(sys_sigaction(64, &act, NULL, KSIGSET));
    long r = sys_sigaction(64, NULL, &back, KSIGSET);
    restore_default(64);
    EXPECT_EQ(r, 0);
    CHECK(back.handler == (void *)handler_a, "handler for signal 64 not kept");
}

TEST(rt_sigaction_bad_sigsetsize_is_einval) {
    struct ksigaction old;
    EXPECT_ERRNO(sys_sigaction(SIGUSR1, NULL, &old, 4), EINVAL);
    EXPECT_ERRNO(sys_sigaction(SIGUSR1, NULL, &old, 16), EINVAL);
}

TEST(rt_sigaction_bad_pointer_is_efault) {
    EXPECT_ERRNO(sys_sigaction(SIGUSR1, BADPTR, NULL, KSIGSET), EFAULT);
    EXPECT_ERRNO(sys_sigaction(SIGUSR1, NULL, BADPTR, KSIGSET), EFAULT);
}

static void child_checks_handler(void *arg)
{
    (void)arg;
    struct ksigaction back;
    if (sys_sigaction(SIGUSR1, NULL, &back, KSIGSET) != 0)
        _exit(2);
    _exit(back.handler == (void *)handler_a ? 0 : 1);
}

TEST(rt_sigaction_handler_is_inherited_by_fork) {
    struct ksigaction act = {(void *)handler_a, 0, NULL, 0};
    OK(sys_sigaction(SIGUSR1, &act, NULL, KSIGSET));
    int st = kt_in_child(child_checks_handler, NULL);
    restore_default(SIGUSR1);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child %s (1 = handler not inherited)", kt_status(st));
}

/* ---- rt_sigprocmask --------------------------------------------------- */

TEST(rt_sigprocmask_block_unblock_setmask) {
    uint64_t orig, cur;
    OK(sys_sigprocmask(SIG_BLOCK, NULL, &orig, KSIGSET));
    uint64_t set = BIT(SIGUSR1) | BIT(SIGUSR2);
    long r1 = sys_sigprocmask(SIG_BLOCK, &set, NULL, KSIGSET);
    long g1 = sys_sigprocmask(SIG_BLOCK, NULL, &cur, KSIGSET);
    uint64_t after_block = cur;
    uint64_t one = BIT(SIGUSR1);
    long r2 = sys_sigprocmask(SIG_UNBLOCK, &one, NULL, KSIGSET);
    sys_sigprocmask(SIG_BLOCK, NULL, &cur, KSIGSET);
    uint64_t after_unblock = cur;
    uint64_t only = BIT(SIGTERM);
    uint64_t prev;
    long r3 = sys_sigprocmask(SIG_SETMASK, &only, &prev, KSIGSET);
    sys_sigprocmask(SIG_BLOCK, NULL, &cur, KSIGSET);
    uint64_t after_set = cur;
    sys_sigprocmask(SIG_SETMASK, &orig, NULL, KSIGSET);
    CHECK(r1 == 0 && g1 == 0 && r2 == 0 && r3 == 0, "a sigprocmask call failed");
    CHECK((after_block & set) == set, "after SIG_BLOCK mask 0x%llx lacks 0x%llx",
          (unsigned long long)after_block, (unsigned long long)set);
    EXPECT_EQ(after_block, orig | set);
    CHECK(!(after_unblock & BIT(SIGUSR1)) && (after_unblock & BIT(SIGUSR2)),
          "after SIG_UNBLOCK(USR1) mask 0x%llx", (unsigned long long)after_unblock);
    EXPECT_EQ(prev, after_unblock);
    EXPECT_EQ(after_set, BIT(SIGTERM));
}

TEST(rt_sigprocmask_cannot_block_sigkill_or_sigstop) {
    uint64_t orig, cur;
    OK(sys_sigprocmask(SIG_BLOCK, NULL, &orig, KSIGSET));
    uint64_t set = BIT(SIGKILL) | BIT(SIGSTOP) | BIT(SIGUSR1);
    long r = sys_sigprocmask(SIG_SETMASK, &set, NULL, KSIGSET);
    sys_sigprocmask(SIG_BLOCK, NULL, &cur, KSIGSET);
    sys_sigprocmask(SIG_SETMASK, &orig, NULL, KSIGSET);
    EXPECT_EQ(r, 0);
    CHECK(cur == BIT(SIGUSR1), "mask 0x%llx, expected only SIGUSR1 (0x%llx)",
          (unsigned long long)cur, (unsigned long long)BIT(SIGUSR1));
}

TEST(rt_sigprocmask_bad_how_is_einval) {
    uint64_t set = BIT(SIGUSR1);
    EXPECT_ERRNO(sys_sigprocmask(99, &set, NULL, KSIGSET), EINVAL);
}

TEST(rt_sigprocmask_bad_sigsetsize_is_einval) {
    uint64_t old;
    EXPECT_ERRNO(sys_sigprocmask(SIG_BLOCK, NULL, &old, 4), EINVAL);
    EXPECT_ERRNO(sys_sigprocmask(SIG_BLOCK, NULL, &old, 16), EINVAL);
}

TEST(rt_sigprocmask_bad_pointer_is_efault) {
    EXPECT_ERRNO(sys_sigprocmask(SIG_BLOCK, BADPTR, NULL, KSIGSET), EFAULT);
    EXPECT_ERRNO(sys_sigprocmask(SIG_BLOCK, NULL, BADPTR, KSIGSET), EFAULT);
}

static void child_checks_mask(void *arg)
{
    (void)arg;
    uint64_t cur;
    if (sys_sigprocmask(SIG_BLOCK, NULL, &cur, KSIGSET) != 0)
        _exit(2);
    _exit(cur & BIT(SIGUSR2) ? 0 : 1);
}

TEST(rt_sigprocmask_mask_is_inherited_by_fork) {
    uint64_t orig;
    uint64_t set = BIT(SIGUSR2);
    OK(sys_sigprocmask(SIG_BLOCK, &set, &orig, KSIGSET));
    int st = kt_in_child(child_checks_mask, NULL);
    sys_sigprocmask(SIG_SETMASK, &orig, NULL, KSIGSET);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child %s (1 = mask not inherited)", kt_status(st));
}

/* pid 1 is unkillable from user space: SIGKILL and SIGSTOP (always SIG_DFL) are
 * dropped, as Linux's SIGNAL_UNKILLABLE does. Safe on any Linux host too. */
static char init_state(void)
{
    char buf[256] = {0};
    int fd = open("/proc/1/stat", O_RDONLY);
    if (fd < 0)
        return '?';
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    char *p = n > 0 ? strrchr(buf, ')') : NULL;
    return p && p[1] == ' ' ? p[2] : '?';
}

TEST(init_ignores_sigkill_and_sigstop_from_user_space) {
    OK(kill(1, SIGSTOP));
    OK(kill(1, SIGKILL));
    struct timespec ts = {0, 50 * 1000 * 1000};
    syscall(SYS_nanosleep, &ts, NULL);
    OK(kill(1, 0));
    char st = init_state();
    CHECK(st != 'T' && st != 'Z' && st != 'X' && st != '?', "init is in state %c", st);
}

/* ---- SA_RESETHAND, rt_sigqueueinfo to a thread id ---------------------- */

static volatile int resethand_flags_ok = -1;

static void resethand_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    struct sigaction now;
    sigaction(sig, NULL, &now);
    /* The handler is back to SIG_DFL, SA_SIGINFO is still set. */
    resethand_flags_ok = si != NULL && now.sa_handler == SIG_DFL && (now.sa_flags & SA_SIGINFO);
}

TEST(sa_resethand_resets_only_the_handler)
{
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = resethand_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    OK(sigaction(SIGUSR1, &sa, &old));
    OK(raise(SIGUSR1));
    sigaction(SIGUSR1, &old, NULL);
    EXPECT_EQ(resethand_flags_ok, 1);
}

static volatile int queued_value;
static volatile pid_t other_tid;
static volatile int other_done;

static void queued_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    queued_value = si->si_value.sival_int;
}

static void *report_tid(void *arg)
{
    (void)arg;
    other_tid = (pid_t)syscall(SYS_gettid);
    while (!other_done)
        usleep(1000);
    return NULL;
}

TEST(rt_sigqueueinfo_to_a_thread_id_signals_its_process)
{
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = queued_handler;
    sa.sa_flags = SA_SIGINFO;
    OK(sigaction(SIGUSR2, &sa, &old));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, report_tid, NULL) == 0, "pthread_create");
    while (!other_tid)
        usleep(1000);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR2;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = 42;
    long r = syscall(SYS_rt_sigqueueinfo, other_tid, SIGUSR2, &si);
    int e = errno;
    for (int i = 0; i < 1000 && queued_value != 42; i++)
        usleep(1000);
    other_done = 1;
    pthread_join(t, NULL);
    sigaction(SIGUSR2, &old, NULL);
    CHECK(r == 0, "rt_sigqueueinfo(tid %d): errno %s", (int)other_tid, kt_errstr(e));
    EXPECT_EQ(queued_value, 42);
}

/* RLIMIT_SIGPENDING bounds queued real-time signals: past it, tgkill and
 * sigqueue (siginfo from user space) are EAGAIN; kill (SI_USER) still sends. */
static void child_sigpending_limit(void *arg)
{
    (void)arg;
    int sig = SIGRTMIN + 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        _exit(10);
    /* Linux counts queued signals per user: a user of our own starts at
     * none, whatever other processes of root have queued on the host. */
    if (getuid() == 0 && setuid(54321) != 0)
        _exit(16);
    struct rlimit rl = {1, 1};
    if (setrlimit(RLIMIT_SIGPENDING, &rl) != 0)
        _exit(11);
    if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig) != 0)
        _exit(12);
    errno = 0;
    if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig) != -1 || errno != EAGAIN)
        _exit(13);
    union sigval v = {.sival_int = 1};
    errno = 0;
    if (sigqueue(getpid(), sig, v) != -1 || errno != EAGAIN)
        _exit(14);
    if (kill(getpid(), sig) != 0)
        _exit(15);
    _exit(0);
}

TEST(rlimit_sigpending_makes_queued_realtime_signals_eagain) {
    int st = kt_in_child(child_sigpending_limit, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

int main(void)
{
    KT_BEGIN();
    RUN(rt_sigaction_set_handler_and_read_back);
    RUN(init_ignores_sigkill_and_sigstop_from_user_space);
    RUN(rt_sigaction_old_value_is_returned_when_replacing);
    RUN(rt_sigaction_mask_drops_sigkill_and_sigstop);
    RUN(rt_sigaction_query_sigkill_is_allowed);
    RUN(rt_sigaction_sigkill_sigstop_handler_is_einval);
    RUN(rt_sigaction_bad_signal_number_is_einval);
    RUN(rt_sigaction_realtime_signal_accepted);
    RUN(rt_sigaction_bad_sigsetsize_is_einval);
    RUN(rt_sigaction_bad_pointer_is_efault);
    RUN(rt_sigaction_handler_is_inherited_by_fork);
    RUN(rt_sigprocmask_block_unblock_setmask);
    RUN(rt_sigprocmask_cannot_block_sigkill_or_sigstop);
    RUN(rt_sigprocmask_bad_how_is_einval);
    RUN(rt_sigprocmask_bad_sigsetsize_is_einval);
    RUN(rt_sigprocmask_bad_pointer_is_efault);
    RUN(rt_sigprocmask_mask_is_inherited_by_fork);
    RUN(sa_resethand_resets_only_the_handler);
    RUN(rt_sigqueueinfo_to_a_thread_id_signals_its_process);
    RUN(rlimit_sigpending_makes_queued_realtime_signals_eagain);
    return KT_END();
}
