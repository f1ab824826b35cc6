/*
 * sigdeliver.c - signal delivery: handlers, siginfo, queueing, masks during
 * handlers, the signal frame (ucontext, red zone, FPU state, sigreturn),
 * alternate stacks, synchronous faults, and the default actions.
 *
 * Everything that could kill the test program if delivery is broken (faults,
 * stops, fatal signals) runs in a forked child; the child reports through a
 * MAP_SHARED page. After every case the dispositions, the mask and the
 * alternate stack are put back (see RUNS).
 */
#define KT_AREA "sigdeliver"
#include "kt.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <ucontext.h>

#define KSIGSET 8
#define BIT(sig) (1ULL << ((sig) - 1))
#define PAGE 4096

typedef void (*sa_fn)(int, siginfo_t *, void *);

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

/* Installs an SA_SIGINFO handler through libc (which supplies the restorer). */
static int install(int sig, sa_fn fn, int flags, uint64_t mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = flags | SA_SIGINFO;
    memcpy(&sa.sa_mask, &mask, sizeof mask);
    return sigaction(sig, &sa, NULL);
}

static int disposition(int sig, void (*h)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    return sigaction(sig, &sa, NULL);
}

static void *current_handler(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigaction(sig, NULL, &sa);
    return (void *)sa.sa_handler;
}

static long sys_kill(pid_t pid, int sig)
{
    return syscall(SYS_kill, pid, sig);
}

static pid_t tid_self(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Spins (yielding) until *v >= want; gives up after 5 s. Returns 1 on success. */
static int wait_for(volatile int *v, int want)
{
    long long end = now_ns() + 5000000000LL;
    while (*v < want) {
        if (now_ns() > end)
            return 0;
        sched_yield();
    }
    return 1;
}

static int reap(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return st;
}

static int killed_by(int st, int sig)
{
    return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

static int exited_with(int st, int code)
{
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* A child that waits for signals forever. */
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

/* Results written by forked children (MAP_SHARED, set up in main). */
struct shared {
    volatile long v[32];
};
static struct shared *sh;

static void sh_clear(void)
{
    memset((void *)sh, 0, sizeof *sh);
}

/* A thread that records its tid and spins until told to stop. */
struct thr {
    pthread_t pt;
    volatile int tid;
    volatile int ready;
    volatile int stop;
};

static void *spinner(void *arg)
{
    struct thr *t = arg;
    t->tid = tid_self();
    t->ready = 1;
    while (!t->stop)
        sched_yield();
    return NULL;
}

static int thr_start(struct thr *t)
{
    memset(t, 0, sizeof *t);
    if (pthread_create(&t->pt, NULL, spinner, t) != 0)
        return -1;
    return wait_for(&t->ready, 1) ? 0 : -1;
}

static void thr_stop(struct thr *t)
{
    t->stop = 1;
    pthread_join(t->pt, NULL);
}

/* Common handler state, reset by reset_state(). */
static volatile int h_count, h_count2, h_depth, h_maxdepth;
static volatile int h_signo, h_code, h_pid, h_uid, h_tid, h_errno_field;
static volatile long h_val;
static volatile uint64_t h_mask;
static volatile int h_order[16];
static volatile int h_norder;

static void reset_state(void)
{
    h_count = h_count2 = h_depth = h_maxdepth = 0;
    h_signo = h_code = h_pid = h_uid = h_tid = h_errno_field = 0;
    h_val = 0;
    h_mask = 0;
    h_norder = 0;
}

static void h_record(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int e = errno;
    h_signo = si->si_signo;
    h_code = si->si_code;
    h_pid = si->si_pid;
    h_uid = si->si_uid;
    h_errno_field = si->si_errno;
    h_val = (long)si->si_value.sival_ptr;
    h_tid = tid_self();
    h_mask = getmask();
    h_order[h_norder++ & 15] = sig;
    h_count++;
    errno = e;
}

/* Restores everything a case may have changed. */
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
    stack_t ss = {NULL, SS_DISABLE, 0};
    syscall(SYS_sigaltstack, &ss, NULL);
    setmask(initial_mask);
    reset_state();
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

#define RUNS(name)                                                            \
    do {                                                                      \
        reset_state();                                                        \
        RUN(name);                                                            \
        sig_reset();                                                          \
    } while (0)

/* ---- basic delivery ---------------------------------------------------- */

TEST(kill_self_runs_handler_before_kill_returns) {
    OK(install(SIGUSR1, h_record, 0, 0));
    OK(sys_kill(getpid(), SIGUSR1));
    EXPECT_EQ(h_count, 1);
    EXPECT_EQ(h_signo, SIGUSR1);
}

TEST(siginfo_from_kill_has_si_user_pid_and_uid) {
    OK(install(SIGUSR1, h_record, 0, 0));
    OK(sys_kill(getpid(), SIGUSR1));
    EXPECT_EQ(h_count, 1);
    EXPECT_EQ(h_signo, SIGUSR1);
    EXPECT_EQ(h_code, SI_USER);
    EXPECT_EQ(h_pid, getpid());
    EXPECT_EQ(h_uid, getuid());
    EXPECT_EQ(h_errno_field, 0);
}

static void fill_queue_info(siginfo_t *si, int sig, int code, long val)
{
    memset(si, 0, sizeof *si);
    si->si_signo = sig;
    si->si_code = code;
    si->si_pid = getpid();
    si->si_uid = getuid();
    si->si_value.sival_ptr = (void *)val;
}

TEST(rt_sigqueueinfo_delivers_si_value_and_si_queue) {
    OK(install(SIGUSR1, h_record, 0, 0));
    siginfo_t si;
    fill_queue_info(&si, SIGUSR1, SI_QUEUE, 0x5a5a1234L);
    OK(syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si));
    EXPECT_EQ(h_count, 1);
    EXPECT_EQ(h_code, SI_QUEUE);
    EXPECT_EQ(h_val, 0x5a5a1234L);
    EXPECT_EQ(h_pid, getpid());
}

/* A process may only forge kernel/kill codes (si_code >= 0 or SI_TKILL) when
 * it sends to itself. */
TEST(rt_sigqueueinfo_forged_si_code_to_other_process_is_eperm) {
    pid_t pid = spawn_pauser();
    CHECK(pid > 0, "fork failed");
    siginfo_t si;
    fill_queue_info(&si, SIGUSR1, SI_USER, 1);
    errno = 0;
    long r1 = syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &si);
    int e1 = errno;
    fill_queue_info(&si, SIGUSR1, SI_TKILL, 1);
    errno = 0;
    long r2 = syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &si);
    int e2 = errno;
    sys_kill(pid, SIGKILL);
    int st = reap(pid);
    CHECK(r1 == -1 && e1 == EPERM, "si_code SI_USER: got %ld %s, expected EPERM", r1,
          kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EPERM, "si_code SI_TKILL: got %ld %s, expected EPERM", r2,
          kt_errstr(e2));
    CHECK(killed_by(st, SIGKILL), "child %s, expected killed by SIGKILL (a forged signal "
          "got through?)", kt_status(st));
}

/* ---- thread-directed signals ------------------------------------------ */

TEST(rt_tgsigqueueinfo_runs_handler_in_target_thread) {
    OK(install(SIGUSR1, h_record, 0, 0));
    struct thr t;
    CHECK(thr_start(&t) == 0, "pthread_create failed");
    siginfo_t si;
    fill_queue_info(&si, SIGUSR1, SI_QUEUE, 77);
    long r = syscall(SYS_rt_tgsigqueueinfo, getpid(), t.tid, SIGUSR1, &si);
    int ok = r == 0 && wait_for(&h_count, 1);
    thr_stop(&t);
    CHECK(r == 0, "rt_tgsigqueueinfo failed: %s", kt_errstr(errno));
    CHECK(ok, "handler never ran");
    CHECK(h_tid == t.tid, "handler ran in tid %d, expected thread %d (main %d)", h_tid, t.tid,
          getpid());
    EXPECT_EQ(h_code, SI_QUEUE);
    EXPECT_EQ(h_val, 77);
}

TEST(tgkill_runs_handler_in_target_thread) {
    OK(install(SIGUSR1, h_record, 0, 0));
    struct thr t;
    CHECK(thr_start(&t) == 0, "pthread_create failed");
    long r = syscall(SYS_tgkill, getpid(), t.tid, SIGUSR1);
    int ok = r == 0 && wait_for(&h_count, 1);
    thr_stop(&t);
    CHECK(r == 0, "tgkill failed: %s", kt_errstr(errno));
    CHECK(ok, "handler never ran");
    CHECK(h_tid == t.tid, "handler ran in tid %d, expected thread %d", h_tid, t.tid);
    EXPECT_EQ(h_code, SI_TKILL);
    EXPECT_EQ(h_pid, getpid());
}

TEST(tkill_runs_handler_in_target_thread) {
    OK(install(SIGUSR2, h_record, 0, 0));
    struct thr t;
    CHECK(thr_start(&t) == 0, "pthread_create failed");
    long r = syscall(SYS_tkill, t.tid, SIGUSR2);
    int ok = r == 0 && wait_for(&h_count, 1);
    thr_stop(&t);
    CHECK(r == 0, "tkill failed: %s", kt_errstr(errno));
    CHECK(ok, "handler never ran");
    CHECK(h_tid == t.tid, "handler ran in tid %d, expected thread %d", h_tid, t.tid);
    EXPECT_EQ(h_signo, SIGUSR2);
    EXPECT_EQ(h_code, SI_TKILL);
}

TEST(tgkill_bad_ids_are_rejected) {
    EXPECT_ERRNO(syscall(SYS_tgkill, getpid(), 0, SIGUSR1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_tgkill, 0, tid_self(), SIGUSR1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_tgkill, getpid(), tid_self(), 65), EINVAL);
    /* the thread exists but is not in that thread group */
    pid_t pid = spawn_pauser();
    CHECK(pid > 0, "fork failed");
    errno = 0;
    long r = syscall(SYS_tgkill, pid, tid_self(), 0);
    int e = errno;
    sys_kill(pid, SIGKILL);
    reap(pid);
    CHECK(r == -1 && e == ESRCH, "tgkill(child, own tid): got %ld %s, expected ESRCH", r,
          kt_errstr(e));
}

/* ---- pending, coalescing, queueing ------------------------------------ */

TEST(blocked_signal_stays_pending_until_unblocked) {
    OK(install(SIGUSR1, h_record, 0, 0));
    block(BIT(SIGUSR1));
    OK(sys_kill(getpid(), SIGUSR1));
    int before = h_count;
    uint64_t pend = 0;
    OK(syscall(SYS_rt_sigpending, &pend, KSIGSET));
    unblock(BIT(SIGUSR1));
    int after = h_count;
    uint64_t pend2 = ~0ULL;
    OK(syscall(SYS_rt_sigpending, &pend2, KSIGSET));
    EXPECT_EQ(before, 0);
    CHECK(pend & BIT(SIGUSR1), "rt_sigpending 0x%llx lacks SIGUSR1", (unsigned long long)pend);
    EXPECT_EQ(after, 1);
    CHECK(!(pend2 & BIT(SIGUSR1)), "still pending after delivery: 0x%llx",
          (unsigned long long)pend2);
}

TEST(rt_sigpending_bad_sigsetsize_is_einval) {
    uint64_t pend;
    /* rt_sigpending accepts any size up to 8, but not more */
    EXPECT_ERRNO(syscall(SYS_rt_sigpending, &pend, 16), EINVAL);
    EXPECT_ERRNO(syscall(SYS_rt_sigpending, (void *)1, KSIGSET), EFAULT);
}

TEST(standard_signal_coalesces_while_blocked) {
    OK(install(SIGUSR1, h_record, 0, 0));
    block(BIT(SIGUSR1));
    OK(sys_kill(getpid(), SIGUSR1));
    OK(sys_kill(getpid(), SIGUSR1));
    OK(sys_kill(getpid(), SIGUSR1));
    unblock(BIT(SIGUSR1));
    EXPECT_EQ(h_count, 1);
}

static volatile long rt_vals[8];
static void h_rtval(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (h_count < 8)
        rt_vals[h_count] = (long)si->si_value.sival_ptr;
    h_count++;
}

TEST(realtime_signals_queue_in_order) {
    int sig = SIGRTMIN;
    OK(install(sig, h_rtval, 0, 0));
    block(BIT(sig));
    for (long v = 1; v <= 3; v++) {
        siginfo_t si;
        fill_queue_info(&si, sig, SI_QUEUE, v * 11);
        OK(syscall(SYS_rt_sigqueueinfo, getpid(), sig, &si));
    }
    EXPECT_EQ(h_count, 0);
    unblock(BIT(sig));
    EXPECT_EQ(h_count, 3);
    EXPECT_EQ(rt_vals[0], 11);
    EXPECT_EQ(rt_vals[1], 22);
    EXPECT_EQ(rt_vals[2], 33);
}

/* Linux dequeues the lowest-numbered pending signal first. The handlers block
 * each other so that every handler finishes before the next one starts. */
TEST(pending_signals_delivered_lowest_number_first) {
    int r0 = SIGRTMIN, r1 = SIGRTMIN + 1;
    uint64_t all = BIT(SIGUSR2) | BIT(r0) | BIT(r1);
    OK(install(SIGUSR2, h_record, 0, all));
    OK(install(r0, h_record, 0, all));
    OK(install(r1, h_record, 0, all));
    block(all);
    siginfo_t si;
    fill_queue_info(&si, r1, SI_QUEUE, 0);
    OK(syscall(SYS_rt_sigqueueinfo, getpid(), r1, &si));
    fill_queue_info(&si, r0, SI_QUEUE, 0);
    OK(syscall(SYS_rt_sigqueueinfo, getpid(), r0, &si));
    OK(sys_kill(getpid(), SIGUSR2));
    unblock(all);
    EXPECT_EQ(h_norder, 3);
    CHECK(h_order[0] == SIGUSR2 && h_order[1] == r0 && h_order[2] == r1,
          "delivery order %d,%d,%d, expected %d,%d,%d", h_order[0], h_order[1], h_order[2],
          SIGUSR2, r0, r1);
}

/* ---- the mask while a handler runs ------------------------------------ */

static volatile uint64_t depth_mask;
static void h_reraise(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    h_count++;
    h_depth++;
    if (h_depth > h_maxdepth)
        h_maxdepth = h_depth;
    if (h_count == 1) {
        depth_mask = getmask();
        sys_kill(getpid(), sig);
    }
    h_depth--;
}

TEST(handler_blocks_its_own_signal_without_sa_nodefer) {
    OK(install(SIGUSR1, h_reraise, 0, 0));
    OK(sys_kill(getpid(), SIGUSR1));
    CHECK(depth_mask & BIT(SIGUSR1), "mask in handler 0x%llx lacks SIGUSR1",
          (unsigned long long)depth_mask);
    EXPECT_EQ(h_maxdepth, 1);
    EXPECT_EQ(h_count, 2); /* the re-raised one ran after the first returned */
    CHECK(!(getmask() & BIT(SIGUSR1)), "SIGUSR1 still blocked after the handler");
}

TEST(sa_nodefer_allows_nested_delivery) {
    OK(install(SIGUSR1, h_reraise, SA_NODEFER, 0));
    OK(sys_kill(getpid(), SIGUSR1));
    CHECK(!(depth_mask & BIT(SIGUSR1)), "mask in handler 0x%llx has SIGUSR1 despite SA_NODEFER",
          (unsigned long long)depth_mask);
    EXPECT_EQ(h_maxdepth, 2);
    EXPECT_EQ(h_count, 2);
}

static volatile int usr2_seen_inside;
static void h_usr2_count(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    h_order[h_norder++ & 15] = SIGUSR2;
    h_count2++;
}

static void h_usr1_raises_usr2(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    h_order[h_norder++ & 15] = SIGUSR1;
    h_mask = getmask();
    sys_kill(getpid(), SIGUSR2);
    usr2_seen_inside = h_count2;
    h_order[h_norder++ & 15] = -SIGUSR1;
    h_count++;
}

TEST(sa_mask_blocks_extra_signals_during_handler) {
    usr2_seen_inside = -1;
    OK(install(SIGUSR2, h_usr2_count, 0, 0));
    OK(install(SIGUSR1, h_usr1_raises_usr2, 0, BIT(SIGUSR2)));
    uint64_t before = getmask();
    OK(sys_kill(getpid(), SIGUSR1));
    EXPECT_EQ(h_count, 1);
    CHECK(h_mask & BIT(SIGUSR2), "mask in handler 0x%llx lacks SIGUSR2 from sa_mask",
          (unsigned long long)h_mask);
    EXPECT_EQ(usr2_seen_inside, 0);
    EXPECT_EQ(h_count2, 1); /* delivered once the handler returned */
    EXPECT_EQ(getmask(), before);
}

TEST(nested_handler_runs_before_outer_handler_returns) {
    usr2_seen_inside = -1;
    OK(install(SIGUSR2, h_usr2_count, 0, 0));
    OK(install(SIGUSR1, h_usr1_raises_usr2, 0, 0));
    OK(sys_kill(getpid(), SIGUSR1));
    EXPECT_EQ(usr2_seen_inside, 1);
    EXPECT_EQ(h_norder, 3);
    CHECK(h_order[0] == SIGUSR1 && h_order[1] == SIGUSR2 && h_order[2] == -SIGUSR1,
          "order %d,%d,%d, expected %d,%d,%d", h_order[0], h_order[1], h_order[2], SIGUSR1,
          SIGUSR2, -SIGUSR1);
}

static void resethand_child(void *arg)
{
    (void)arg;
    if (install(SIGUSR1, h_record, SA_RESETHAND, 0) != 0)
        _exit(2);
    sys_kill(getpid(), SIGUSR1);
    sh->v[0] = h_count;
    sh->v[1] = current_handler(SIGUSR1) == SIG_DFL;
    sh->v[2] = (h_mask & BIT(SIGUSR1)) != 0;
    sh->v[3] = 1;
    sys_kill(getpid(), SIGUSR1); /* now the default action: terminate */
    _exit(3);
}

TEST(sa_resethand_resets_to_default_after_one_delivery) {
    sh_clear();
    int st = kt_in_child(resethand_child, NULL);
    CHECK(sh->v[3] == 1, "child did not get past the first delivery: %s", kt_status(st));
    EXPECT_EQ(sh->v[0], 1);
    CHECK(sh->v[1], "disposition is not SIG_DFL after the handler ran");
    /* Linux: SA_RESETHAND does not imply SA_NODEFER, the signal stays blocked
     * in the handler. */
    CHECK(sh->v[2], "SIGUSR1 was not blocked inside the SA_RESETHAND handler");
    CHECK(killed_by(st, SIGUSR1), "child %s, expected killed by SIGUSR1 (second delivery)",
          kt_status(st));
}

/* ---- the signal frame --------------------------------------------------- */

static volatile long uc_rip, uc_rsp, uc_rax, uc_has_fp;
static volatile uint64_t uc_mask;
static void h_ucontext(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    uc_rip = uc->uc_mcontext.gregs[REG_RIP];
    uc_rsp = uc->uc_mcontext.gregs[REG_RSP];
    uc_rax = uc->uc_mcontext.gregs[REG_RAX];
    uc_has_fp = uc->uc_mcontext.fpregs != NULL;
    uint64_t m;
    memcpy(&m, &uc->uc_sigmask, sizeof m);
    uc_mask = m;
    h_count++;
}

/* kill(getpid(), sig) from inline asm: returns the address right after the
 * syscall instruction and the stack pointer at that point. */
static long raw_kill_at(int sig, long *after, long *sp)
{
    long ret;
    __asm__ volatile("lea 1f(%%rip), %[after]\n\t"
                     "mov %%rsp, %[sp]\n\t"
                     "syscall\n\t"
                     "1:\n\t"
                     : "=a"(ret), [after] "=&r"(*after), [sp] "=&r"(*sp)
                     : "0"((long)SYS_kill), "D"((long)getpid()), "S"((long)sig)
                     : "rcx", "r11", "memory");
    return ret;
}

TEST(ucontext_holds_interrupted_rip_rsp_rax_and_mask) {
    OK(install(SIGUSR1, h_ucontext, 0, 0));
    block(BIT(SIGUSR2)); /* something recognisable in the saved mask */
    uint64_t mask = getmask();
    long after = 0, sp = 0;
    long r = raw_kill_at(SIGUSR1, &after, &sp);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(h_count, 1);
    CHECK(uc_rip != 0 && uc_rsp != 0, "saved rip %lx rsp %lx", uc_rip, uc_rsp);
    CHECK(uc_rip == after, "saved rip %#lx, expected %#lx (after the syscall)", uc_rip, after);
    CHECK(uc_rsp == sp, "saved rsp %#lx, expected %#lx", uc_rsp, sp);
    EXPECT_EQ(uc_rax, 0); /* kill's return value was already in rax */
    CHECK(uc_has_fp, "uc_mcontext.fpregs is NULL");
    CHECK(uc_mask == mask, "uc_sigmask 0x%llx, expected the pre-signal mask 0x%llx",
          (unsigned long long)uc_mask, (unsigned long long)mask);
}

static void h_add_usr2_to_uc_mask(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    uint64_t m;
    memcpy(&m, &uc->uc_sigmask, sizeof m);
    m |= BIT(SIGUSR2);
    memcpy(&uc->uc_sigmask, &m, sizeof m);
    h_count++;
}

TEST(sigreturn_installs_mask_from_uc_sigmask) {
    OK(install(SIGUSR1, h_add_usr2_to_uc_mask, 0, 0));
    CHECK(!(getmask() & BIT(SIGUSR2)), "SIGUSR2 blocked before the test");
    OK(sys_kill(getpid(), SIGUSR1));
    EXPECT_EQ(h_count, 1);
    CHECK(getmask() & BIT(SIGUSR2), "SIGUSR2 not blocked after sigreturn: mask 0x%llx",
          (unsigned long long)getmask());
}

/* A handler that uses plenty of stack, to trample anything below the frame. */
static void h_stack_hog(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    volatile char buf[2048];
    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = (char)0xee;
    h_count++;
}

/* The x86-64 ABI gives leaf code 128 bytes below rsp (the red zone); the
 * kernel must build the signal frame below it. */
TEST(signal_frame_skips_the_red_zone) {
    OK(install(SIGUSR1, h_stack_hog, 0, 0));
    uint64_t out[16];
    long ret;
    __asm__ volatile("mov $0x0101010101010101, %%r8\n\t"
                     "mov $-128, %%r9\n\t"
                     "2:\n\t"
                     "mov %%r8, (%%rsp,%%r9)\n\t"
                     "add %%r8, %%r8\n\t"
                     "add $8, %%r9\n\t"
                     "jnz 2b\n\t"
                     "syscall\n\t"
                     "mov $-128, %%r9\n\t"
                     "xor %%r10, %%r10\n\t"
                     "3:\n\t"
                     "mov (%%rsp,%%r9), %%r8\n\t"
                     "mov %%r8, (%[out],%%r10,8)\n\t"
                     "inc %%r10\n\t"
                     "add $8, %%r9\n\t"
                     "jnz 3b\n\t"
                     : "=a"(ret)
                     : "0"((long)SYS_kill), "D"((long)getpid()), "S"((long)SIGUSR1),
                       [out] "r"(out)
                     : "rcx", "r11", "r8", "r9", "r10", "memory");
    EXPECT_EQ(ret, 0);
    EXPECT_EQ(h_count, 1);
    uint64_t want = 0x0101010101010101ULL;
    for (int i = 0; i < 16; i++, want += want)
        CHECK(out[i] == want, "red zone word %d (rsp-%d) = %#llx, expected %#llx", i,
              128 - 8 * i, (unsigned long long)out[i], (unsigned long long)want);
}

/* ---- FPU state across a handler ---------------------------------------- */

static volatile unsigned fp_handler_mxcsr, fp_handler_cw, fp_saved_mxcsr, fp_saved_cw;
static volatile uint32_t fp_saved_xmm0[4];
static volatile int fp_modify;

static void h_fpu_clobber(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    unsigned mx = 0;
    unsigned short cw = 0;
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mx), "=m"(cw));
    fp_handler_mxcsr = mx;
    fp_handler_cw = cw;
    if (uc->uc_mcontext.fpregs) {
        fp_saved_mxcsr = uc->uc_mcontext.fpregs->mxcsr;
        fp_saved_cw = uc->uc_mcontext.fpregs->cwd;
        for (int i = 0; i < 4; i++)
            fp_saved_xmm0[i] = uc->uc_mcontext.fpregs->_xmm[0].element[i];
        if (fp_modify)
            for (int i = 0; i < 4; i++)
                uc->uc_mcontext.fpregs->_xmm[0].element[i] = 0xc0de0000u + i;
    }
    /* trash the live state: all xmm registers, MXCSR and the x87 control word */
    unsigned newmx = 0x3f80;
    unsigned short newcw = 0x007f;
    __asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\t"
                     "pcmpeqd %%xmm1, %%xmm1\n\tpcmpeqd %%xmm2, %%xmm2\n\t"
                     "pcmpeqd %%xmm3, %%xmm3\n\tpcmpeqd %%xmm4, %%xmm4\n\t"
                     "pcmpeqd %%xmm5, %%xmm5\n\tpcmpeqd %%xmm6, %%xmm6\n\t"
                     "pcmpeqd %%xmm7, %%xmm7\n\tpcmpeqd %%xmm8, %%xmm8\n\t"
                     "pcmpeqd %%xmm9, %%xmm9\n\tpcmpeqd %%xmm10, %%xmm10\n\t"
                     "pcmpeqd %%xmm11, %%xmm11\n\tpcmpeqd %%xmm12, %%xmm12\n\t"
                     "pcmpeqd %%xmm13, %%xmm13\n\tpcmpeqd %%xmm14, %%xmm14\n\t"
                     "pcmpeqd %%xmm15, %%xmm15\n\t"
                     "ldmxcsr %0\n\tfldcw %1\n\t"
                     :
                     : "m"(newmx), "m"(newcw)
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    h_count++;
}

#define MAIN_MXCSR 0xff80u /* FZ, round toward zero, all exceptions masked */
#define MAIN_CW 0x0f7fu    /* x87: round toward zero, extended precision */

/* Loads xmm0..15, MXCSR and the x87 control word, sends itself SIGUSR1 with a
 * raw syscall, then stores everything back and restores the defaults. */
static void fpu_roundtrip(const uint8_t in[16][16], uint8_t out[16][16], unsigned *mx_out,
                          unsigned short *cw_out)
{
    unsigned mx = MAIN_MXCSR, defmx = 0x1f80;
    unsigned short cw = MAIN_CW, defcw = 0x037f;
    long ret;
    __asm__ volatile("movdqu 0(%[in]), %%xmm0\n\tmovdqu 16(%[in]), %%xmm1\n\t"
                     "movdqu 32(%[in]), %%xmm2\n\tmovdqu 48(%[in]), %%xmm3\n\t"
                     "movdqu 64(%[in]), %%xmm4\n\tmovdqu 80(%[in]), %%xmm5\n\t"
                     "movdqu 96(%[in]), %%xmm6\n\tmovdqu 112(%[in]), %%xmm7\n\t"
                     "movdqu 128(%[in]), %%xmm8\n\tmovdqu 144(%[in]), %%xmm9\n\t"
                     "movdqu 160(%[in]), %%xmm10\n\tmovdqu 176(%[in]), %%xmm11\n\t"
                     "movdqu 192(%[in]), %%xmm12\n\tmovdqu 208(%[in]), %%xmm13\n\t"
                     "movdqu 224(%[in]), %%xmm14\n\tmovdqu 240(%[in]), %%xmm15\n\t"
                     "ldmxcsr %[mx]\n\tfldcw %[cw]\n\t"
                     "syscall\n\t"
                     "stmxcsr (%[mxo])\n\tfnstcw (%[cwo])\n\t"
                     "ldmxcsr %[defmx]\n\tfldcw %[defcw]\n\t"
                     "movdqu %%xmm0, 0(%[out])\n\tmovdqu %%xmm1, 16(%[out])\n\t"
                     "movdqu %%xmm2, 32(%[out])\n\tmovdqu %%xmm3, 48(%[out])\n\t"
                     "movdqu %%xmm4, 64(%[out])\n\tmovdqu %%xmm5, 80(%[out])\n\t"
                     "movdqu %%xmm6, 96(%[out])\n\tmovdqu %%xmm7, 112(%[out])\n\t"
                     "movdqu %%xmm8, 128(%[out])\n\tmovdqu %%xmm9, 144(%[out])\n\t"
                     "movdqu %%xmm10, 160(%[out])\n\tmovdqu %%xmm11, 176(%[out])\n\t"
                     "movdqu %%xmm12, 192(%[out])\n\tmovdqu %%xmm13, 208(%[out])\n\t"
                     "movdqu %%xmm14, 224(%[out])\n\tmovdqu %%xmm15, 240(%[out])\n\t"
                     : "=a"(ret)
                     : "0"((long)SYS_kill), "D"((long)getpid()), "S"((long)SIGUSR1),
                       [in] "r"(in), [out] "r"(out), [mx] "m"(mx), [cw] "m"(cw),
                       [mxo] "r"(mx_out), [cwo] "r"(cw_out), [defmx] "m"(defmx),
                       [defcw] "m"(defcw)
                     : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
                       "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
                       "xmm14", "xmm15");
    (void)ret;
}

static void fill_pattern(uint8_t p[16][16])
{
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            p[i][j] = (uint8_t)(0x11 * i + j + 1);
}

TEST(sse_and_x87_state_restored_after_handler) {
    fp_modify = 0;
    OK(install(SIGUSR1, h_fpu_clobber, 0, 0));
    uint8_t in[16][16], out[16][16];
    fill_pattern(in);
    memset(out, 0, sizeof out);
    unsigned mx = 0;
    unsigned short cw = 0;
    fpu_roundtrip(in, out, &mx, &cw);
    EXPECT_EQ(h_count, 1);
    for (int i = 0; i < 16; i++)
        CHECK(memcmp(in[i], out[i], 16) == 0, "xmm%d not restored (first byte %#x, expected %#x)",
              i, out[i][0], in[i][0]);
    CHECK(mx == MAIN_MXCSR, "MXCSR after handler %#x, expected %#x", mx, MAIN_MXCSR);
    CHECK(cw == MAIN_CW, "x87 control word after handler %#x, expected %#x", cw, MAIN_CW);
    /* the frame described the interrupted state */
    CHECK(fp_saved_mxcsr == MAIN_MXCSR, "fpregs->mxcsr in frame %#x, expected %#x",
          fp_saved_mxcsr, MAIN_MXCSR);
    CHECK(fp_saved_cw == MAIN_CW, "fpregs->cwd in frame %#x, expected %#x", fp_saved_cw, MAIN_CW);
    uint32_t x0[4];
    memcpy(x0, in[0], 16);
    CHECK(fp_saved_xmm0[0] == x0[0] && fp_saved_xmm0[3] == x0[3],
          "fpregs->_xmm[0] in frame %#x..%#x, expected %#x..%#x", fp_saved_xmm0[0],
          fp_saved_xmm0[3], x0[0], x0[3]);
}

/* Linux starts every handler with a fresh FPU state (MXCSR 0x1f80, x87
 * control word 0x37f), whatever the interrupted code had. */
TEST(handler_starts_with_default_mxcsr_and_x87_control_word) {
    fp_modify = 0;
    OK(install(SIGUSR1, h_fpu_clobber, 0, 0));
    uint8_t in[16][16], out[16][16];
    fill_pattern(in);
    unsigned mx = 0;
    unsigned short cw = 0;
    fpu_roundtrip(in, out, &mx, &cw);
    EXPECT_EQ(h_count, 1);
    CHECK(fp_handler_mxcsr == 0x1f80, "MXCSR in handler %#x, expected 0x1f80", fp_handler_mxcsr);
    CHECK(fp_handler_cw == 0x37f, "x87 control word in handler %#x, expected 0x37f",
          fp_handler_cw);
}

TEST(sigreturn_loads_xmm_registers_from_the_frame) {
    fp_modify = 1;
    OK(install(SIGUSR1, h_fpu_clobber, 0, 0));
    uint8_t in[16][16], out[16][16];
    fill_pattern(in);
    unsigned mx = 0;
    unsigned short cw = 0;
    fpu_roundtrip(in, out, &mx, &cw);
    fp_modify = 0;
    EXPECT_EQ(h_count, 1);
    uint32_t x0[4];
    memcpy(x0, out[0], 16);
    for (int i = 0; i < 4; i++)
        CHECK(x0[i] == 0xc0de0000u + i, "xmm0 word %d = %#x after sigreturn, expected %#x "
              "(edited in the frame)", i, x0[i], 0xc0de0000u + i);
    CHECK(memcmp(in[1], out[1], 16) == 0, "xmm1 not restored");
}

static int have_avx(void)
{
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "0"(1), "2"(0));
    if (!(c & (1u << 27)) || !(c & (1u << 28))) /* OSXSAVE, AVX */
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;
}

static void h_ymm_clobber(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    __asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n\t"
                     "vpcmpeqd %%ymm1, %%ymm1, %%ymm1\n\t"
                     "vpcmpeqd %%ymm15, %%ymm15, %%ymm15\n\t"
                     "vzeroupper\n\t" ::
                         : "xmm0", "xmm1", "xmm15");
    h_count++;
}

TEST(avx_upper_halves_restored_after_handler) {
    if (!have_avx())
        SKIP("no AVX (or not enabled in XCR0)");
    OK(install(SIGUSR1, h_ymm_clobber, 0, 0));
    uint8_t in[3][32], out[3][32];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 32; j++)
            in[i][j] = (uint8_t)(7 * i + 3 * j + 5);
    memset(out, 0, sizeof out);
    long ret;
    __asm__ volatile("vmovdqu 0(%[in]), %%ymm0\n\t"
                     "vmovdqu 32(%[in]), %%ymm1\n\t"
                     "vmovdqu 64(%[in]), %%ymm15\n\t"
                     "syscall\n\t"
                     "vmovdqu %%ymm0, 0(%[out])\n\t"
                     "vmovdqu %%ymm1, 32(%[out])\n\t"
                     "vmovdqu %%ymm15, 64(%[out])\n\t"
                     "vzeroupper\n\t"
                     : "=a"(ret)
                     : "0"((long)SYS_kill), "D"((long)getpid()), "S"((long)SIGUSR1),
                       [in] "r"(in), [out] "r"(out)
                     : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm15");
    EXPECT_EQ(ret, 0);
    EXPECT_EQ(h_count, 1);
    static const int regs[3] = {0, 1, 15};
    for (int i = 0; i < 3; i++) {
        CHECK(memcmp(in[i], out[i], 16) == 0, "xmm%d (low half) not restored", regs[i]);
        CHECK(memcmp(in[i] + 16, out[i] + 16, 16) == 0, "ymm%d upper half not restored",
              regs[i]);
    }
}

/* ---- sigreturn with a bad frame ----------------------------------------- */

static void h_sigreturn_bad_sp(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    /* rt_sigreturn reads the frame at rsp - 8: nothing is mapped there */
    __asm__ volatile("mov $0x1000, %%rsp\n\t"
                     "mov %0, %%eax\n\t"
                     "syscall\n\t"
                     "ud2\n\t" ::"i"(SYS_rt_sigreturn)
                     : "memory");
}

static void bad_sp_child(void *arg)
{
    (void)arg;
    install(SIGUSR1, h_sigreturn_bad_sp, 0, 0);
    sys_kill(getpid(), SIGUSR1);
    _exit(3);
}

TEST(rt_sigreturn_with_unmapped_frame_kills_with_sigsegv) {
    int st = kt_in_child(bad_sp_child, NULL);
    CHECK(killed_by(st, SIGSEGV), "child %s, expected killed by SIGSEGV", kt_status(st));
    EXPECT_EQ(getpid(), syscall(SYS_getpid)); /* and we are fine */
}

static uint8_t garbage_frame[8192] __attribute__((aligned(64)));

static void h_sigreturn_garbage(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    memset(garbage_frame, 0x41, sizeof garbage_frame);
    /* a readable frame full of 0x41: garbage rip/cs/ss/fpstate/mask */
    __asm__ volatile("mov %0, %%rsp\n\t"
                     "mov %1, %%eax\n\t"
                     "syscall\n\t"
                     "ud2\n\t" ::"r"(garbage_frame + 1024),
                     "i"(SYS_rt_sigreturn)
                     : "memory");
}

static void garbage_frame_child(void *arg)
{
    (void)arg;
    install(SIGUSR1, h_sigreturn_garbage, 0, 0);
    sys_kill(getpid(), SIGUSR1);
    _exit(3);
}

TEST(rt_sigreturn_with_garbage_frame_kills_with_sigsegv) {
    int st = kt_in_child(garbage_frame_child, NULL);
    CHECK(killed_by(st, SIGSEGV), "child %s, expected killed by SIGSEGV", kt_status(st));
}

/* ---- sigaltstack --------------------------------------------------------- */

#define ALTSZ 65536
static char altbuf[ALTSZ] __attribute__((aligned(16)));
static volatile uintptr_t alt_local;
static volatile int alt_flags_inside, alt_set_err, alt_disable_err;
static volatile uintptr_t alt_uc_sp;
static volatile long alt_uc_size;

static int on_alt(uintptr_t a)
{
    return a >= (uintptr_t)altbuf && a < (uintptr_t)altbuf + ALTSZ;
}

static void h_alt(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    volatile int local = 0;
    alt_local = (uintptr_t)&local;
    stack_t cur;
    memset(&cur, 0, sizeof cur);
    syscall(SYS_sigaltstack, NULL, &cur);
    alt_flags_inside = cur.ss_flags;
    alt_uc_sp = (uintptr_t)uc->uc_stack.ss_sp;
    alt_uc_size = (long)uc->uc_stack.ss_size;
    static char other[ALTSZ];
    stack_t ns = {other, 0, sizeof other};
    errno = 0;
    alt_set_err = syscall(SYS_sigaltstack, &ns, NULL) == 0 ? 0 : errno;
    stack_t dis = {NULL, SS_DISABLE, 0};
    errno = 0;
    alt_disable_err = syscall(SYS_sigaltstack, &dis, NULL) == 0 ? 0 : errno;
    h_count++;
}

TEST(sigaltstack_handler_runs_on_alternate_stack_with_ss_onstack) {
    stack_t ss = {altbuf, 0, ALTSZ}, old;
    memset(&old, 0, sizeof old);
    OK(syscall(SYS_sigaltstack, &ss, &old));
    CHECK(old.ss_flags == SS_DISABLE, "initial ss_flags %d, expected SS_DISABLE", old.ss_flags);
    OK(install(SIGUSR1, h_alt, SA_ONSTACK, 0));
    OK(sys_kill(getpid(), SIGUSR1));
    EXPECT_EQ(h_count, 1);
    CHECK(on_alt(alt_local), "handler local at %#lx, alt stack %p..+%d", (long)alt_local,
          (void *)altbuf, ALTSZ);
    CHECK(alt_flags_inside & SS_ONSTACK, "sigaltstack in handler: ss_flags %d lacks SS_ONSTACK",
          alt_flags_inside);
    CHECK(alt_uc_sp == (uintptr_t)altbuf && alt_uc_size == ALTSZ,
          "uc_stack %#lx/%ld, expected %p/%d", (long)alt_uc_sp, alt_uc_size, (void *)altbuf,
          ALTSZ);
    stack_t cur;
    OK(syscall(SYS_sigaltstack, NULL, &cur));
    CHECK(cur.ss_flags == 0 && cur.ss_sp == altbuf && cur.ss_size == ALTSZ,
          "after handler: flags %d sp %p size %zu", cur.ss_flags, cur.ss_sp, cur.ss_size);
}

TEST(sigaltstack_change_while_on_it_is_eperm) {
    stack_t ss = {altbuf, 0, ALTSZ};
    OK(syscall(SYS_sigaltstack, &ss, NULL));
    OK(install(SIGUSR1, h_alt, SA_ONSTACK, 0));
    OK(sys_kill(getpid(), SIGUSR1));
    EXPECT_EQ(h_count, 1);
    CHECK(alt_set_err == EPERM, "setting a new alt stack on the alt stack: %s, expected EPERM",
          kt_errstr(alt_set_err));
    CHECK(alt_disable_err == EPERM, "SS_DISABLE on the alt stack: %s, expected EPERM",
          kt_errstr(alt_disable_err));
}

TEST(sigaltstack_too_small_is_enomem) {
    stack_t ss = {altbuf, 0, 1024};
    EXPECT_ERRNO(syscall(SYS_sigaltstack, &ss, NULL), ENOMEM);
    stack_t dis = {NULL, SS_DISABLE, 0}; /* size is ignored when disabling */
    OK(syscall(SYS_sigaltstack, &dis, NULL));
}

TEST(sigaltstack_bad_flags_is_einval) {
    stack_t ss = {altbuf, 42, ALTSZ};
    EXPECT_ERRNO(syscall(SYS_sigaltstack, &ss, NULL), EINVAL);
}

TEST(sigaltstack_ss_disable_returns_to_normal_stack) {
    stack_t ss = {altbuf, 0, ALTSZ};
    OK(syscall(SYS_sigaltstack, &ss, NULL));
    stack_t dis = {NULL, SS_DISABLE, 0};
    OK(syscall(SYS_sigaltstack, &dis, NULL));
    stack_t cur;
    OK(syscall(SYS_sigaltstack, NULL, &cur));
    CHECK(cur.ss_flags == SS_DISABLE, "ss_flags %d after SS_DISABLE", cur.ss_flags);
    OK(install(SIGUSR1, h_alt, SA_ONSTACK, 0));
    OK(sys_kill(getpid(), SIGUSR1));
    EXPECT_EQ(h_count, 1);
    CHECK(!on_alt(alt_local), "handler ran on the disabled alt stack");
    CHECK(!(alt_flags_inside & SS_ONSTACK), "SS_ONSTACK reported on the normal stack");
}

/* SS_AUTODISARM: the alt stack is disabled while the handler runs on it and
 * re-armed by sigreturn (from uc_stack). */
TEST(sigaltstack_ss_autodisarm_disarms_inside_handler) {
    stack_t ss = {altbuf, (int)SS_AUTODISARM, ALTSZ};
    OK(syscall(SYS_sigaltstack, &ss, NULL));
    OK(install(SIGUSR1, h_alt, SA_ONSTACK, 0));
    OK(sys_kill(getpid(), SIGUSR1));
    EXPECT_EQ(h_count, 1);
    CHECK(on_alt(alt_local), "handler did not run on the alt stack");
    CHECK(alt_flags_inside == SS_DISABLE, "ss_flags in handler %#x, expected SS_DISABLE",
          alt_flags_inside);
    /* being disarmed, changing it is allowed in the handler */
    CHECK(alt_set_err == 0, "sigaltstack in an autodisarmed handler: %s",
          kt_errstr(alt_set_err));
    stack_t cur;
    OK(syscall(SYS_sigaltstack, NULL, &cur));
    CHECK(cur.ss_sp == altbuf && (cur.ss_flags & SS_AUTODISARM),
          "after sigreturn: sp %p flags %#x, expected %p with SS_AUTODISARM", cur.ss_sp,
          (unsigned)cur.ss_flags, (void *)altbuf);
}

/* Stack overflow in a thread with a small stack: only a handler on an
 * alternate stack can run. sigaltstack is per thread. */
static volatile int overflow_stop = -1;
static int recurse(int n)
{
    volatile char buf[1024];
    buf[0] = (char)n;
    buf[sizeof buf - 1] = 0;
    if (n == overflow_stop)
        return 0;
    return recurse(n + 1) + buf[0] + buf[sizeof buf - 1];
}

static char *overflow_alt;
static void h_overflow(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    volatile char local = 0;
    uintptr_t a = (uintptr_t)&local;
    int ok = a >= (uintptr_t)overflow_alt && a < (uintptr_t)overflow_alt + ALTSZ;
    _exit(sig == SIGSEGV && ok ? 42 : 43);
}

static void *overflow_thread(void *arg)
{
    (void)arg;
    stack_t ss = {overflow_alt, 0, ALTSZ};
    if (syscall(SYS_sigaltstack, &ss, NULL) != 0)
        _exit(4);
    recurse(0);
    _exit(5);
}

static void overflow_child(void *arg)
{
    (void)arg;
    overflow_alt = malloc(ALTSZ);
    if (!overflow_alt || install(SIGSEGV, h_overflow, SA_ONSTACK, 0) != 0)
        _exit(2);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 * 1024);
    pthread_t pt;
    if (pthread_create(&pt, &at, overflow_thread, NULL) != 0)
        _exit(6);
    pthread_join(pt, NULL);
    _exit(7);
}

TEST(sigsegv_from_stack_overflow_handled_on_alternate_stack) {
    int st = kt_in_child(overflow_child, NULL);
    CHECK(exited_with(st, 42), "child %s, expected exit 42 (43 = handler not on alt stack, "
          "SIGSEGV = handler could not run)", kt_status(st));
}

/* ---- synchronous faults ------------------------------------------------ */

static volatile char *fault_page;
static void h_segv_fix(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (++h_count > 3)
        _exit(9); /* the fix did not stick: do not loop forever */
    h_signo = sig;
    h_code = si->si_code;
    h_val = (long)si->si_addr;
    if (si->si_code == SEGV_MAPERR)
        mmap((void *)((uintptr_t)si->si_addr & ~(uintptr_t)(PAGE - 1)), PAGE,
             PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    else
        mprotect((void *)fault_page, PAGE, PROT_READ | PROT_WRITE);
}

static void accerr_child(void *arg)
{
    (void)arg;
    fault_page = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fault_page == MAP_FAILED || install(SIGSEGV, h_segv_fix, 0, 0) != 0)
        _exit(2);
    fault_page[100] = 42; /* faults once; the handler makes it writable */
    sh->v[0] = h_count;
    sh->v[1] = h_code;
    sh->v[2] = h_val;
    sh->v[3] = (long)(fault_page + 100);
    sh->v[4] = fault_page[100];
    sh->v[5] = h_signo;
    _exit(0);
}

TEST(sigsegv_handler_fixes_protection_and_access_is_retried) {
    sh_clear();
    int st = kt_in_child(accerr_child, NULL);
    CHECK(exited_with(st, 0), "child %s (exit 9 = the store kept faulting)", kt_status(st));
    EXPECT_EQ(sh->v[0], 1);
    EXPECT_EQ(sh->v[5], SIGSEGV);
    EXPECT_EQ(sh->v[1], SEGV_ACCERR);
    CHECK(sh->v[2] == sh->v[3], "si_addr %#lx, expected the faulting address %#lx", sh->v[2],
          sh->v[3]);
    EXPECT_EQ(sh->v[4], 42); /* the retried store landed */
}

static void maperr_child(void *arg)
{
    (void)arg;
    char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || munmap(p, PAGE) != 0 || install(SIGSEGV, h_segv_fix, 0, 0) != 0)
        _exit(2);
    volatile char *vp = p;
    char c = vp[123]; /* faults once; the handler maps the page */
    sh->v[0] = h_count;
    sh->v[1] = h_code;
    sh->v[2] = h_val;
    sh->v[3] = (long)(p + 123);
    sh->v[4] = c;
    _exit(0);
}

TEST(sigsegv_unmapped_is_maperr_with_fault_address) {
    sh_clear();
    int st = kt_in_child(maperr_child, NULL);
    CHECK(exited_with(st, 0), "child %s (exit 9 = the load kept faulting)", kt_status(st));
    EXPECT_EQ(sh->v[0], 1);
    EXPECT_EQ(sh->v[1], SEGV_MAPERR);
    CHECK(sh->v[2] == sh->v[3], "si_addr %#lx, expected %#lx", sh->v[2], sh->v[3]);
    EXPECT_EQ(sh->v[4], 0);
}

/* Handler for faults raised from inline asm with a known instruction length:
 * records the details and skips the instruction (sh->v[10] bytes), setting
 * rax to a marker. */
static void h_skip(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    if (++sh->v[0] > 3)
        _exit(9);
    sh->v[1] = sig;
    sh->v[2] = si->si_code;
    sh->v[3] = (long)si->si_addr;
    sh->v[4] = uc->uc_mcontext.gregs[REG_RIP];
    uc->uc_mcontext.gregs[REG_RIP] += sh->v[10];
    uc->uc_mcontext.gregs[REG_RAX] = 0x1234567890L;
}

static void divzero_child(void *arg)
{
    (void)arg;
    if (install(SIGFPE, h_skip, 0, 0) != 0)
        _exit(2);
    sh->v[10] = 2; /* idiv %ecx is f7 f9 */
    long rax, insn;
    __asm__ volatile("mov $1, %%eax\n\t"
                     "cltd\n\t"
                     "xor %%ecx, %%ecx\n\t"
                     "lea 1f(%%rip), %1\n\t"
                     "1: .byte 0xf7, 0xf9\n\t"
                     : "=&a"(rax), "=&r"(insn)
                     :
                     : "rcx", "rdx", "memory");
    sh->v[5] = rax;
    sh->v[6] = insn;
    _exit(0);
}

TEST(sigfpe_integer_divide_by_zero_is_fpe_intdiv) {
    sh_clear();
    int st = kt_in_child(divzero_child, NULL);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(sh->v[0], 1);
    EXPECT_EQ(sh->v[1], SIGFPE);
    EXPECT_EQ(sh->v[2], FPE_INTDIV);
    CHECK(sh->v[4] == sh->v[6], "saved rip %#lx, expected the idiv at %#lx", sh->v[4], sh->v[6]);
    CHECK(sh->v[3] == sh->v[6], "si_addr %#lx, expected the idiv at %#lx", sh->v[3], sh->v[6]);
    CHECK(sh->v[5] == 0x1234567890L, "rax %#lx after sigreturn, expected the value the handler "
          "stored in the frame", sh->v[5]);
}

static void intmin_child(void *arg)
{
    (void)arg;
    if (install(SIGFPE, h_skip, 0, 0) != 0)
        _exit(2);
    sh->v[10] = 2;
    long rax;
    __asm__ volatile("mov $0x80000000, %%eax\n\t"
                     "cltd\n\t"
                     "mov $-1, %%ecx\n\t"
                     ".byte 0xf7, 0xf9\n\t"
                     : "=&a"(rax)
                     :
                     : "rcx", "rdx", "memory");
    sh->v[5] = rax;
    _exit(0);
}

/* x86 raises the same #DE for INT_MIN / -1; Linux reports it as FPE_INTDIV too. */
TEST(sigfpe_int_min_divided_by_minus_one_is_fpe_intdiv) {
    sh_clear();
    int st = kt_in_child(intmin_child, NULL);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(sh->v[1], SIGFPE);
    EXPECT_EQ(sh->v[2], FPE_INTDIV);
}

static void ud2_child(void *arg)
{
    (void)arg;
    if (install(SIGILL, h_skip, 0, 0) != 0)
        _exit(2);
    sh->v[10] = 2; /* ud2 is 0f 0b */
    long rax, insn;
    __asm__ volatile("xor %%eax, %%eax\n\t"
                     "lea 1f(%%rip), %1\n\t"
                     "1: ud2\n\t"
                     : "=&a"(rax), "=&r"(insn)
                     :
                     : "memory");
    sh->v[5] = rax;
    sh->v[6] = insn;
    _exit(0);
}

TEST(sigill_ud2_is_ill_illopn_and_handler_can_skip_it) {
    sh_clear();
    int st = kt_in_child(ud2_child, NULL);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(sh->v[0], 1);
    EXPECT_EQ(sh->v[1], SIGILL);
    EXPECT_EQ(sh->v[2], ILL_ILLOPN);
    CHECK(sh->v[3] == sh->v[6], "si_addr %#lx, expected the ud2 at %#lx", sh->v[3], sh->v[6]);
    CHECK(sh->v[4] == sh->v[6], "saved rip %#lx, expected %#lx", sh->v[4], sh->v[6]);
    CHECK(sh->v[5] == 0x1234567890L, "rax %#lx after sigreturn, expected 0x1234567890",
          sh->v[5]);
}

static void int3_child(void *arg)
{
    (void)arg;
    if (install(SIGTRAP, h_skip, 0, 0) != 0)
        _exit(2);
    sh->v[10] = 0; /* int3 is a trap: rip already points past it */
    long rax, after;
    __asm__ volatile("xor %%eax, %%eax\n\t"
                     "lea 1f(%%rip), %1\n\t"
                     "int3\n\t"
                     "1:\n\t"
                     : "=&a"(rax), "=&r"(after)
                     :
                     : "memory");
    sh->v[5] = rax;
    sh->v[6] = after;
    sh->v[7] = 1; /* execution continued after the int3 */
    _exit(0);
}

TEST(sigtrap_int3_is_si_kernel_and_execution_continues) {
    sh_clear();
    int st = kt_in_child(int3_child, NULL);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(sh->v[0], 1);
    EXPECT_EQ(sh->v[1], SIGTRAP);
    EXPECT_EQ(sh->v[2], SI_KERNEL); /* Linux sends int3 as a plain kernel signal */
    CHECK(sh->v[4] == sh->v[6], "saved rip %#lx, expected the address after int3 %#lx",
          sh->v[4], sh->v[6]);
    EXPECT_EQ(sh->v[7], 1);
}

static int bus_fd = -1;
static void h_bus_extend(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (++sh->v[0] > 3)
        _exit(9);
    sh->v[1] = sig;
    sh->v[2] = si->si_code;
    sh->v[3] = (long)si->si_addr;
    if (ftruncate(bus_fd, 2 * PAGE) != 0) /* now the page exists: the load is retried */
        _exit(8);
}

static void sigbus_child(void *arg)
{
    const char *path = arg;
    bus_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (bus_fd < 0 || write(bus_fd, "0123456789", 10) != 10)
        _exit(2);
    char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, bus_fd, 0);
    if (p == MAP_FAILED || install(SIGBUS, h_bus_extend, 0, 0) != 0)
        _exit(3);
    volatile char *vp = p;
    sh->v[4] = vp[5];                 /* inside the file: fine */
    sh->v[5] = vp[PAGE - 1];          /* rest of the last page reads as zero */
    sh->v[6] = (long)(p + PAGE + 16); /* wholly beyond EOF */
    sh->v[7] = vp[PAGE + 16];
    _exit(0);
}

TEST(sigbus_beyond_eof_of_shared_file_mapping_is_bus_adrerr) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    sh_clear();
    int st = kt_in_child(sigbus_child, (void *)kt_path(d, "f"));
    CHECK(exited_with(st, 0), "child %s (exit 9 = kept faulting)", kt_status(st));
    EXPECT_EQ(sh->v[4], '5');
    EXPECT_EQ(sh->v[5], 0);
    EXPECT_EQ(sh->v[0], 1);
    EXPECT_EQ(sh->v[1], SIGBUS);
    EXPECT_EQ(sh->v[2], BUS_ADRERR);
    CHECK(sh->v[3] == sh->v[6], "si_addr %#lx, expected %#lx", sh->v[3], sh->v[6]);
    EXPECT_EQ(sh->v[7], 0);
}

/* ---- argument checks ---------------------------------------------------- */

TEST(kill_invalid_signal_is_einval) {
    EXPECT_ERRNO(sys_kill(getpid(), 65), EINVAL);
    EXPECT_ERRNO(sys_kill(getpid(), -1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_tkill, tid_self(), 65), EINVAL);
}

TEST(kill_signal_zero_probes_existence) {
    OK(sys_kill(getpid(), 0));
    int p[2];
    OK(pipe(p));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0); /* closes the write end on the way out */
    CHECK(pid > 0, "fork failed");
    close(p[1]);
    char c;
    while (read(p[0], &c, 1) > 0) {
    }
    close(p[0]);
    /* exited (or exiting) but not reaped: a zombie still exists */
    long r = sys_kill(pid, 0);
    int e = errno;
    int st = reap(pid);
    CHECK(r == 0, "kill(zombie, 0) = %ld %s, expected 0", r, kt_errstr(e));
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_ERRNO(sys_kill(pid, 0), ESRCH);
}

TEST(sigaction_sigkill_and_short_sigsetsize_are_einval) {
    struct {
        void *h;
        unsigned long flags;
        void *restorer;
        uint64_t mask;
    } act = {(void *)h_record, SA_SIGINFO, NULL, 0};
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGKILL, &act, NULL, KSIGSET), EINVAL);
    uint64_t m;
    EXPECT_ERRNO(syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 4), EINVAL);
}

/* ---- default actions ----------------------------------------------------- */

TEST(sigterm_default_action_kills) {
    pid_t pid = spawn_pauser();
    CHECK(pid > 0, "fork failed");
    OK(sys_kill(pid, SIGTERM));
    int st = reap(pid);
    CHECK(killed_by(st, SIGTERM), "child %s, expected killed by SIGTERM", kt_status(st));
}

static void ignored_defaults_child(void *arg)
{
    (void)arg;
    sys_kill(getpid(), SIGCHLD);
    sys_kill(getpid(), SIGWINCH);
    sys_kill(getpid(), SIGURG);
    syscall(SYS_tgkill, getpid(), tid_self(), SIGCHLD);
    _exit(0);
}

TEST(sigchld_sigwinch_sigurg_ignored_by_default) {
    int st = kt_in_child(ignored_defaults_child, NULL);
    CHECK(exited_with(st, 0), "child %s, expected exit 0", kt_status(st));
}

TEST(sigstop_stops_and_sigcont_continues) {
    pid_t pid = spawn_pauser();
    CHECK(pid > 0, "fork failed");
    int st1 = -1, st2 = -1, st3 = -1;
    pid_t w1 = -1, w2 = -1, w3 = -1;
    if (sys_kill(pid, SIGSTOP) == 0)
        w1 = waitpid(pid, &st1, WUNTRACED);
    if (sys_kill(pid, SIGCONT) == 0)
        w2 = waitpid(pid, &st2, WCONTINUED);
    /* nothing more to report: WNOHANG finds no new state */
    w3 = waitpid(pid, &st3, WNOHANG | WUNTRACED | WCONTINUED);
    sys_kill(pid, SIGKILL);
    int st = reap(pid);
    CHECK(w1 == pid && WIFSTOPPED(st1) && WSTOPSIG(st1) == SIGSTOP,
          "after SIGSTOP: waitpid %d status %#x, expected stopped by SIGSTOP", w1, st1);
    CHECK(w2 == pid && WIFCONTINUED(st2), "after SIGCONT: waitpid %d status %#x, expected "
          "continued", w2, st2);
    EXPECT_EQ(w3, 0);
    CHECK(killed_by(st, SIGKILL), "child %s", kt_status(st));
}

TEST(sigkill_kills_stopped_child) {
    pid_t pid = spawn_pauser();
    CHECK(pid > 0, "fork failed");
    int st1 = -1;
    pid_t w1 = -1;
    if (sys_kill(pid, SIGSTOP) == 0)
        w1 = waitpid(pid, &st1, WUNTRACED);
    sys_kill(pid, SIGKILL);
    int st = reap(pid);
    CHECK(w1 == pid && WIFSTOPPED(st1), "child not stopped: %#x", st1);
    CHECK(killed_by(st, SIGKILL), "child %s, expected killed by SIGKILL", kt_status(st));
}

/* A stopped process does not act on a fatal signal: SIGTERM stays pending
 * until SIGCONT, and only then kills it (only SIGKILL acts at once). */
TEST(fatal_signal_to_stopped_child_waits_for_sigcont) {
    pid_t pid = spawn_pauser();
    CHECK(pid > 0, "fork failed");
    int st1 = -1, st2 = -1;
    pid_t w1 = -1, w2 = -1;
    if (sys_kill(pid, SIGSTOP) == 0)
        w1 = waitpid(pid, &st1, WUNTRACED);
    sys_kill(pid, SIGTERM);
    w2 = waitpid(pid, &st2, WNOHANG);
    sys_kill(pid, SIGCONT);
    int st = reap(pid);
    CHECK(w1 == pid && WIFSTOPPED(st1), "child not stopped: %#x", st1);
    CHECK(w2 == 0, "waitpid WNOHANG after SIGTERM to the stopped child: %d status %#x, "
          "expected 0 (still stopped)", w2, st2);
    CHECK(killed_by(st, SIGTERM), "child %s, expected killed by SIGTERM after SIGCONT",
          kt_status(st));
}

static volatile int chld_code, chld_pid, chld_status;
static void h_chld(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    chld_code = si->si_code;
    chld_pid = si->si_pid;
    chld_status = si->si_status;
    h_count++;
}

TEST(sigchld_sent_to_parent_when_child_exits) {
    OK(install(SIGCHLD, h_chld, 0, 0));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    CHECK(pid > 0, "fork failed");
    int st = reap(pid);
    CHECK(exited_with(st, 7), "child %s", kt_status(st));
    EXPECT_EQ(h_count, 1);
    EXPECT_EQ(chld_code, CLD_EXITED);
    EXPECT_EQ(chld_pid, pid);
    EXPECT_EQ(chld_status, 7);
}

TEST(sigchld_reports_stop_unless_sa_nocldstop) {
    OK(install(SIGCHLD, h_chld, 0, 0));
    pid_t pid = spawn_pauser();
    CHECK(pid > 0, "fork failed");
    int st1;
    pid_t w = -1;
    if (sys_kill(pid, SIGSTOP) == 0)
        w = waitpid(pid, &st1, WUNTRACED);
    int count_stop = h_count, code_stop = chld_code, status_stop = chld_status;
    /* now with SA_NOCLDSTOP */
    install(SIGCHLD, h_chld, SA_NOCLDSTOP, 0);
    sys_kill(pid, SIGCONT);
    waitpid(pid, &st1, WCONTINUED);
    h_count = 0;
    pid_t w2 = -1;
    if (sys_kill(pid, SIGSTOP) == 0)
        w2 = waitpid(pid, &st1, WUNTRACED);
    int count_nocld = h_count;
    sys_kill(pid, SIGKILL);
    int st = reap(pid);
    CHECK(w == pid && w2 == pid, "waitpid for the stops failed");
    EXPECT_EQ(count_stop, 1);
    EXPECT_EQ(code_stop, CLD_STOPPED);
    EXPECT_EQ(status_stop, SIGSTOP);
    EXPECT_EQ(count_nocld, 0);
    CHECK(killed_by(st, SIGKILL), "child %s", kt_status(st));
    EXPECT_EQ(h_count, 1); /* the death is still reported */
    EXPECT_EQ(chld_code, CLD_KILLED);
}

static void sigpipe_child(void *arg)
{
    (void)arg;
    int p[2];
    if (pipe(p) != 0)
        _exit(2);
    close(p[0]);
    syscall(SYS_write, p[1], "x", 1);
    _exit(3);
}

TEST(sigpipe_kills_writer_by_default) {
    int st = kt_in_child(sigpipe_child, NULL);
    CHECK(killed_by(st, SIGPIPE), "child %s, expected killed by SIGPIPE", kt_status(st));
}

TEST(write_to_pipe_without_readers_is_epipe_when_sigpipe_ignored_or_handled) {
    int p[2];
    OK(pipe(p));
    close(p[0]);
    OK(disposition(SIGPIPE, SIG_IGN));
    errno = 0;
    long r1 = syscall(SYS_write, p[1], "x", 1);
    int e1 = errno;
    install(SIGPIPE, h_record, 0, 0);
    errno = 0;
    long r2 = syscall(SYS_write, p[1], "x", 1);
    int e2 = errno;
    close(p[1]);
    CHECK(r1 == -1 && e1 == EPIPE, "ignored: write %ld %s, expected EPIPE", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EPIPE, "handled: write %ld %s, expected EPIPE", r2, kt_errstr(e2));
    EXPECT_EQ(h_count, 1);
    EXPECT_EQ(h_signo, SIGPIPE);
}

TEST(sigchld_ignored_children_are_auto_reaped) {
    OK(disposition(SIGCHLD, SIG_IGN));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    CHECK(pid > 0, "fork failed");
    /* waits until the child is gone, then there is nothing to reap */
    int st;
    errno = 0;
    long r = waitpid(pid, &st, 0);
    int e = errno;
    disposition(SIGCHLD, SIG_DFL);
    CHECK(r == -1 && e == ECHILD, "waitpid %ld %s, expected ECHILD", r, kt_errstr(e));
}

static void exec_kill_self(void *arg)
{
    if (arg)
        disposition(SIGUSR1, SIG_IGN);
    else
        install(SIGUSR1, h_record, 0, 0);
    char *argv[] = {"sh", "-c", "kill -USR1 $$; exit 7", NULL};
    char *envp[] = {"PATH=/bin:/usr/bin", NULL};
    syscall(SYS_execve, "/bin/sh", argv, envp);
    _exit(127);
}

TEST(exec_keeps_ignored_signal_ignored) {
    int st = kt_in_child(exec_kill_self, (void *)1);
    CHECK(exited_with(st, 7), "sh %s, expected exit 7 (SIGUSR1 still ignored)", kt_status(st));
}

TEST(exec_resets_handled_signal_to_default) {
    int st = kt_in_child(exec_kill_self, NULL);
    CHECK(killed_by(st, SIGUSR1), "sh %s, expected killed by SIGUSR1", kt_status(st));
}

int main(void)
{
    KT_BEGIN();
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        printf("FAIL sigdeliver: mmap shared page failed\n");
        return 1;
    }
    initial_mask = getmask();
    RUNS(kill_self_runs_handler_before_kill_returns);
    RUNS(siginfo_from_kill_has_si_user_pid_and_uid);
    RUNS(rt_sigqueueinfo_delivers_si_value_and_si_queue);
    RUNS(rt_sigqueueinfo_forged_si_code_to_other_process_is_eperm);
    RUNS(rt_tgsigqueueinfo_runs_handler_in_target_thread);
    RUNS(tgkill_runs_handler_in_target_thread);
    RUNS(tkill_runs_handler_in_target_thread);
    RUNS(tgkill_bad_ids_are_rejected);
    RUNS(blocked_signal_stays_pending_until_unblocked);
    RUNS(rt_sigpending_bad_sigsetsize_is_einval);
    RUNS(standard_signal_coalesces_while_blocked);
    RUNS(realtime_signals_queue_in_order);
    RUNS(pending_signals_delivered_lowest_number_first);
    RUNS(handler_blocks_its_own_signal_without_sa_nodefer);
    RUNS(sa_nodefer_allows_nested_delivery);
    RUNS(sa_mask_blocks_extra_signals_during_handler);
    RUNS(nested_handler_runs_before_outer_handler_returns);
    RUNS(sa_resethand_resets_to_default_after_one_delivery);
    RUNS(ucontext_holds_interrupted_rip_rsp_rax_and_mask);
    RUNS(sigreturn_installs_mask_from_uc_sigmask);
    RUNS(signal_frame_skips_the_red_zone);
    RUNS(sse_and_x87_state_restored_after_handler);
    RUNS(handler_starts_with_default_mxcsr_and_x87_control_word);
    RUNS(sigreturn_loads_xmm_registers_from_the_frame);
    RUNS(avx_upper_halves_restored_after_handler);
    RUNS(rt_sigreturn_with_unmapped_frame_kills_with_sigsegv);
    RUNS(rt_sigreturn_with_garbage_frame_kills_with_sigsegv);
    RUNS(sigaltstack_handler_runs_on_alternate_stack_with_ss_onstack);
    RUNS(sigaltstack_change_while_on_it_is_eperm);
    RUNS(sigaltstack_too_small_is_enomem);
    RUNS(sigaltstack_bad_flags_is_einval);
    RUNS(sigaltstack_ss_disable_returns_to_normal_stack);
    RUNS(sigaltstack_ss_autodisarm_disarms_inside_handler);
    RUNS(sigsegv_from_stack_overflow_handled_on_alternate_stack);
    RUNS(sigsegv_handler_fixes_protection_and_access_is_retried);
    RUNS(sigsegv_unmapped_is_maperr_with_fault_address);
    RUNS(sigfpe_integer_divide_by_zero_is_fpe_intdiv);
    RUNS(sigfpe_int_min_divided_by_minus_one_is_fpe_intdiv);
    RUNS(sigill_ud2_is_ill_illopn_and_handler_can_skip_it);
    RUNS(sigtrap_int3_is_si_kernel_and_execution_continues);
    RUNS(sigbus_beyond_eof_of_shared_file_mapping_is_bus_adrerr);
    RUNS(kill_invalid_signal_is_einval);
    RUNS(kill_signal_zero_probes_existence);
    RUNS(sigaction_sigkill_and_short_sigsetsize_are_einval);
    RUNS(sigterm_default_action_kills);
    RUNS(sigchld_sigwinch_sigurg_ignored_by_default);
    RUNS(sigstop_stops_and_sigcont_continues);
    RUNS(sigkill_kills_stopped_child);
    RUNS(fatal_signal_to_stopped_child_waits_for_sigcont);
    RUNS(sigchld_sent_to_parent_when_child_exits);
    RUNS(sigchld_reports_stop_unless_sa_nocldstop);
    RUNS(sigpipe_kills_writer_by_default);
    RUNS(write_to_pipe_without_readers_is_epipe_when_sigpipe_ignored_or_handled);
    RUNS(sigchld_ignored_children_are_auto_reaped);
    RUNS(exec_keeps_ignored_signal_ignored);
    RUNS(exec_resets_handled_signal_to_default);
    return KT_END();
}
