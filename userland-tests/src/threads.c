/* Threads: pthreads on top of clone(CLONE_THREAD), thread ids, TLS, futex-based
 * mutexes and condition variables, exit_group from a thread, execve from a
 * multithreaded process, CLONE_CHILD_CLEARTID / set_tid_address, and clone /
 * clone3 argument checking. */
#define KT_AREA "threads"
#include "kt.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#define FUTEX_WAIT 0

extern char **environ;

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Waits for pid and returns its raw status, or -1. A child still running
 * after 30 s is presumed hung and is killed with SIGKILL (its status then says
 * so): a broken kernel fails the case instead of hanging the whole run. */
static int reap(pid_t pid)
{
    int st;
    long long deadline = mono_ns() + 30 * 1000000000LL;
    for (int i = 0;; i++) {
        long r = syscall(SYS_wait4, pid, &st, WNOHANG, NULL);
        if (r == pid)
            return st;
        if (r != 0)
            return -1;
        if (mono_ns() > deadline) {
            kill(pid, SIGKILL);
            return syscall(SYS_wait4, pid, &st, 0, NULL) == pid ? st : -1;
        }
        if (i < 100) {
            sched_yield();
        } else {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

static int exited_with(int st, int code)
{
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static long futex(volatile int *uaddr, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

/* ---- mutex ------------------------------------------------------------ */

enum { MUTEX_THREADS = 8, MUTEX_ITERS = 100000 };
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *mutex_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < MUTEX_ITERS; i++) {
        pthread_mutex_lock(&counter_lock);
        /* a read-modify-write that is easy to break without the lock */
        long v = counter;
        __asm__ volatile("" ::: "memory");
        counter = v + 1;
        pthread_mutex_unlock(&counter_lock);
    }
    return NULL;
}

TEST(mutex_protects_counter_across_8_threads) {
    pthread_t t[MUTEX_THREADS];
    counter = 0;
    int made = 0, err = 0;
    for (; made < MUTEX_THREADS; made++) {
        err = pthread_create(&t[made], NULL, mutex_worker, NULL);
        if (err)
            break;
    }
    for (int i = 0; i < made; i++)
        pthread_join(t[i], NULL);
    CHECK(made == MUTEX_THREADS, "pthread_create #%d failed: %s", made, kt_errstr(err));
    EXPECT_EQ(counter, (long)MUTEX_THREADS * MUTEX_ITERS);
}

/* ---- condition variable ping-pong ------------------------------------- */

enum { PINGPONG_ROUNDS = 1000 };
static pthread_mutex_t pp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_cond = PTHREAD_COND_INITIALIZER;
static int pp_turn;        /* 0: main's turn, 1: the other thread's turn */
static int pp_bad;         /* alternation violations seen by the other thread */

static void *pong(void *arg)
{
    (void)arg;
    for (int i = 0; i < PINGPONG_ROUNDS; i++) {
        pthread_mutex_lock(&pp_lock);
        while (pp_turn != 1)
            pthread_cond_wait(&pp_cond, &pp_lock);
        if (pp_turn != 1)
            pp_bad++;
        pp_turn = 0;
        pthread_cond_signal(&pp_cond);
        pthread_mutex_unlock(&pp_lock);
    }
    return NULL;
}

TEST(condvar_ping_pong_1000_round_trips_alternate_strictly) {
    pthread_t t;
    pp_turn = 0;
    pp_bad = 0;
    int err = pthread_create(&t, NULL, pong, NULL);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    int bad = 0;
    for (int i = 0; i < PINGPONG_ROUNDS; i++) {
        pthread_mutex_lock(&pp_lock);
        if (pp_turn != 0)
            bad++;
        pp_turn = 1;
        pthread_cond_signal(&pp_cond);
        while (pp_turn != 0)
            pthread_cond_wait(&pp_cond, &pp_lock);
        pthread_mutex_unlock(&pp_lock);
    }
    pthread_join(t, NULL);
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(pp_bad, 0);
    EXPECT_EQ(pp_turn, 0);
}

/* ---- thread-local storage --------------------------------------------- */

enum { TLS_THREADS = 4 };
static __thread int tls_var = 17;
static __thread char tls_buf[64] = "initial";
static pthread_barrier_t tls_barrier;

struct tls_result {
    int idx;
    int initial_ok;
    int final_value;
    int buf_ok;
    void *addr;
};

static void *tls_worker(void *arg)
{
    struct tls_result *r = arg;
    r->initial_ok = tls_var == 17 && !strcmp(tls_buf, "initial");
    tls_var = 100 + r->idx;
    snprintf(tls_buf, sizeof tls_buf, "thread %d", r->idx);
    r->addr = &tls_var;
    /* everyone has written their copy before anyone reads it back */
    pthread_barrier_wait(&tls_barrier);
    r->final_value = tls_var;
    char want[64];
    snprintf(want, sizeof want, "thread %d", r->idx);
    r->buf_ok = !strcmp(tls_buf, want);
    return NULL;
}

TEST(thread_local_variables_are_per_thread_with_initial_values) {
    pthread_t t[TLS_THREADS];
    struct tls_result res[TLS_THREADS];
    tls_var = 5; /* the main thread's copy: must not leak into new threads */
    CHECK(pthread_barrier_init(&tls_barrier, NULL, TLS_THREADS) == 0, "barrier init failed");
    int made = 0, err = 0;
    for (; made < TLS_THREADS; made++) {
        memset(&res[made], 0, sizeof res[made]);
        res[made].idx = made;
        err = pthread_create(&t[made], NULL, tls_worker, &res[made]);
        if (err)
            break;
    }
    CHECK(made == TLS_THREADS, "pthread_create #%d failed: %s (threads left blocked)", made,
          kt_errstr(err));
    for (int i = 0; i < made; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&tls_barrier);
    for (int i = 0; i < TLS_THREADS; i++) {
        CHECK(res[i].initial_ok, "thread %d did not see the initial TLS values", i);
        CHECK(res[i].final_value == 100 + i, "thread %d read back %d, expected %d", i,
              res[i].final_value, 100 + i);
        CHECK(res[i].buf_ok, "thread %d TLS buffer clobbered", i);
        CHECK(res[i].addr != (void *)&tls_var, "thread %d shares main's TLS address", i);
        for (int j = 0; j < i; j++)
            CHECK(res[i].addr != res[j].addr, "threads %d and %d share a TLS address", i, j);
    }
    EXPECT_EQ(tls_var, 5);
    tls_var = 17;
}

/* ---- join value, ids -------------------------------------------------- */

static void *return_value(void *arg)
{
    return (void *)((uintptr_t)arg * 3 + 1);
}

static void *pthread_exit_value(void *arg)
{
    pthread_exit(arg);
}

TEST(pthread_join_returns_the_thread_result) {
    pthread_t t;
    void *ret = NULL;
    int err = pthread_create(&t, NULL, return_value, (void *)(uintptr_t)0x1234);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    EXPECT_EQ(pthread_join(t, &ret), 0);
    EXPECT_EQ((uintptr_t)ret, 0x1234 * 3 + 1);
    err = pthread_create(&t, NULL, pthread_exit_value, (void *)(uintptr_t)0xbeef);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    EXPECT_EQ(pthread_join(t, &ret), 0);
    EXPECT_EQ((uintptr_t)ret, 0xbeef);
}

enum { ID_THREADS = 4 };
struct ids {
    long tid, pid, ppid;
};

static void *get_ids(void *arg)
{
    struct ids *r = arg;
    r->tid = syscall(SYS_gettid);
    r->pid = syscall(SYS_getpid);
    r->ppid = syscall(SYS_getppid);
    return NULL;
}

TEST(gettid_differs_per_thread_and_getpid_is_shared) {
    pthread_t t[ID_THREADS];
    struct ids r[ID_THREADS];
    long pid = syscall(SYS_getpid), ppid = syscall(SYS_getppid);
    /* the main thread is the thread-group leader: tid == pid */
    EXPECT_EQ(syscall(SYS_gettid), pid);
    int made = 0, err = 0;
    for (; made < ID_THREADS; made++) {
        err = pthread_create(&t[made], NULL, get_ids, &r[made]);
        if (err)
            break;
    }
    for (int i = 0; i < made; i++)
        pthread_join(t[i], NULL);
    CHECK(made == ID_THREADS, "pthread_create #%d failed: %s", made, kt_errstr(err));
    for (int i = 0; i < ID_THREADS; i++) {
        CHECK(r[i].pid == pid, "thread %d getpid %ld, main %ld", i, r[i].pid, pid);
        CHECK(r[i].ppid == ppid, "thread %d getppid %ld, main %ld", i, r[i].ppid, ppid);
        CHECK(r[i].tid > 0 && r[i].tid != pid, "thread %d gettid %ld (pid %ld)", i, r[i].tid,
              pid);
        for (int j = 0; j < i; j++)
            CHECK(r[i].tid != r[j].tid, "threads %d and %d both have tid %ld", i, j, r[i].tid);
    }
}

/* ---- exit / exit_group from threads ----------------------------------- */

static void *exit_whole_process(void *arg)
{
    exit((int)(uintptr_t)arg); /* exit_group */
}

static void *block_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

TEST(exit_in_a_thread_ends_all_threads_with_its_status) {
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        pthread_t t1, t2;
        if (pthread_create(&t1, NULL, block_forever, NULL))
            _exit(100);
        if (pthread_create(&t2, NULL, exit_whole_process, (void *)(uintptr_t)42))
            _exit(101);
        for (;;) /* the main thread blocks too; exit_group must end it */
            pause();
    }
    int st = reap(pid);
    CHECK(exited_with(st, 42), "child %s, expected exit 42", kt_status(st));
}

static void *raw_exit_group(void *arg)
{
    syscall(SYS_exit_group, (int)(uintptr_t)arg);
    return NULL;
}

TEST(exit_group_syscall_in_a_thread_ends_all_threads) {
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        pthread_t t[3];
        for (int i = 0; i < 2; i++)
            if (pthread_create(&t[i], NULL, block_forever, NULL))
                _exit(100);
        if (pthread_create(&t[2], NULL, raw_exit_group, (void *)(uintptr_t)13))
            _exit(101);
        pthread_join(t[0], NULL); /* never returns */
        _exit(102);
    }
    int st = reap(pid);
    CHECK(exited_with(st, 13), "child %s, expected exit 13", kt_status(st));
}

static void *exit_later(void *arg)
{
    /* give the main thread time to pthread_exit first (not needed for correctness) */
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    exit((int)(uintptr_t)arg);
}

/* The leader finishing with pthread_exit (SYS_exit) leaves the process running;
 * its status comes from the last thread. */
TEST(main_thread_pthread_exit_keeps_process_alive) {
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, exit_later, (void *)(uintptr_t)21))
            _exit(100);
        pthread_exit(NULL);
    }
    int st = reap(pid);
    CHECK(exited_with(st, 21), "child %s, expected exit 21", kt_status(st));
}

/* ---- execve from a multithreaded process ------------------------------ */

static void *exec_sh(void *arg)
{
    char *argv[] = {"sh", "-c", (char *)arg, NULL};
    syscall(SYS_execve, "/bin/sh", argv, environ);
    _exit(127);
}

TEST(execve_from_main_thread_of_multithreaded_process) {
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
            if (pthread_create(&t[i], NULL, block_forever, NULL))
                _exit(100);
        exec_sh("exit 42");
    }
    int st = reap(pid);
    CHECK(exited_with(st, 42), "child %s, expected exit 42 (127 = execve failed)",
          kt_status(st));
}

/* A non-leader thread calling execve: all other threads die, the exec'ing thread
 * takes over the thread-group id, and the parent sees the same pid exit. */
TEST(execve_from_secondary_thread_replaces_whole_process) {
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        /* $$ in the new image must still be this process's pid */
        static char cmd[64];
        snprintf(cmd, sizeof cmd, "test $$ -eq %d && exit 43; exit 44", (int)getpid());
        pthread_t t[2];
        if (pthread_create(&t[0], NULL, block_forever, NULL))
            _exit(100);
        if (pthread_create(&t[1], NULL, exec_sh, cmd))
            _exit(101);
        for (;;)
            pause();
    }
    int st = reap(pid);
    CHECK(exited_with(st, 43), "child %s, expected exit 43 (44 = pid changed, 127 = execve failed)",
          kt_status(st));
}

/* ---- raw clone: CLONE_CHILD_CLEARTID / CLONE_PARENT_SETTID / set_tid_address */

#define THREAD_FLAGS                                                                  \
    (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

enum { RAW_STACK = 64 * 1024 };

static volatile int raw_ran;
static volatile int raw_tid_seen;
static volatile int raw_settid_word;

/* Runs on its own stack with the parent's TLS: it must not touch libc state
 * (errno included), so only inline raw syscalls. */
static long raw_syscall1(long n, long a)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a) : "rcx", "r11", "memory");
    return ret;
}

static int raw_child_plain(void *arg)
{
    (void)arg;
    raw_tid_seen = (int)raw_syscall1(SYS_gettid, 0);
    raw_ran = 1;
    return 0; /* musl's __clone then does SYS_exit */
}

static volatile long raw_ret;

static int raw_child_set_tid_address(void *arg)
{
    raw_ret = raw_syscall1(SYS_set_tid_address, (long)arg);
    raw_tid_seen = (int)raw_syscall1(SYS_gettid, 0);
    raw_ran = 1;
    return 0;
}

/* Waits until *word becomes 0, sleeping on the futex. Returns 0 once the word
 * is 0 and we were woken (or it was 0 before we slept), 2 if it was cleared but
 * our sleep only ended by its timeout (no wake), -1 if it never became 0 in
 * 30 s. The timeouts are hang guards only. */
static int wait_for_zero(volatile int *word)
{
    long long deadline = mono_ns() + 30 * 1000000000LL;
    int timed_out = 0;
    for (;;) {
        int v = *word;
        if (v == 0)
            return timed_out ? 2 : 0;
        if (mono_ns() > deadline)
            return -1;
        struct timespec ts = {5, 0};
        errno = 0;
        long r = futex(word, FUTEX_WAIT, v, &ts);
        timed_out = r == -1 && errno == ETIMEDOUT;
    }
}

TEST(clone_child_cleartid_zeroes_and_wakes_tid_word_at_exit) {
    static volatile int ctid;
    char *stack = malloc(RAW_STACK);
    CHECK(stack, "malloc failed");
    raw_ran = 0;
    raw_tid_seen = 0;
    raw_settid_word = 0;
    ctid = -1;
    int flags = THREAD_FLAGS | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
    int tid = clone(raw_child_plain, stack + RAW_STACK, flags, NULL, &raw_settid_word, NULL,
                    &ctid);
    if (tid == -1) {
        free(stack);
        CHECK(0, "clone failed: %s", kt_errstr(errno));
    }
    int z = wait_for_zero(&ctid); /* the kernel cleared and woke the word */
    int ran = raw_ran, seen = raw_tid_seen, settid = raw_settid_word;
    if (z >= 0)
        free(stack); /* else the thread may still be on it: leak it */
    CHECK(z >= 0, "tid word never cleared (still %d)", ctid);
    CHECK(z == 0, "tid word cleared but the waiter was not woken");
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(seen, tid);
    EXPECT_EQ(settid, tid); /* CLONE_PARENT_SETTID */
    EXPECT_EQ(ctid, 0);
}

TEST(set_tid_address_word_is_cleared_and_woken_at_thread_exit) {
    static volatile int word;
    char *stack = malloc(RAW_STACK);
    CHECK(stack, "malloc failed");
    raw_ran = 0;
    raw_ret = 0;
    raw_tid_seen = 0;
    word = 12345;
    int tid = clone(raw_child_set_tid_address, stack + RAW_STACK, THREAD_FLAGS, (void *)&word,
                    NULL, NULL, NULL);
    if (tid == -1) {
        free(stack);
        CHECK(0, "clone failed: %s", kt_errstr(errno));
    }
    int z = wait_for_zero(&word);
    /* the word was cleared by the thread's exit, so the stack is no longer used */
    if (z >= 0)
        free(stack);
    CHECK(z >= 0, "tid word never cleared (still %d)", word);
    CHECK(z == 0, "tid word cleared but the waiter was not woken");
    EXPECT_EQ(raw_ran, 1);
    EXPECT_EQ(word, 0);
    EXPECT_EQ(raw_tid_seen, tid);
    EXPECT_EQ(raw_ret, tid); /* set_tid_address returns the caller's tid */
}

static int raw_child_exit_77(void *arg)
{
    (void)arg;
    raw_syscall1(SYS_exit, 77); /* ends only this thread */
    return 0;
}

TEST(exit_syscall_in_a_thread_ends_only_that_thread) {
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        static volatile int ctid;
        static char stack[RAW_STACK] __attribute__((aligned(16)));
        ctid = 1;
        int tid = clone(raw_child_exit_77, stack + RAW_STACK, THREAD_FLAGS | CLONE_CHILD_CLEARTID,
                        NULL, NULL, NULL, &ctid);
        if (tid == -1)
            _exit(100);
        if (wait_for_zero(&ctid) < 0)
            _exit(6);
        _exit(5); /* the process outlived the thread; its status is ours, not 77 */
    }
    int st = reap(pid);
    CHECK(exited_with(st, 5), "child %s, expected exit 5 (6 = tid word never cleared)",
          kt_status(st));
}

/* ---- clone argument errors -------------------------------------------- */

TEST(clone_thread_without_sighand_is_einval) {
    EXPECT_ERRNO(syscall(SYS_clone, (long)(CLONE_THREAD | CLONE_VM), 0L, NULL, NULL, 0L),
                 EINVAL);
}

TEST(clone_sighand_without_vm_is_einval) {
    EXPECT_ERRNO(syscall(SYS_clone, (long)(CLONE_SIGHAND | SIGCHLD), 0L, NULL, NULL, 0L), EINVAL);
}

/* CLONE_NEWNS with CLONE_FS cannot share a filesystem context across namespaces. */
TEST(clone_newns_with_fs_is_einval) {
    EXPECT_ERRNO(syscall(SYS_clone, (long)(CLONE_NEWNS | CLONE_FS | SIGCHLD), 0L, NULL, NULL, 0L),
                 EINVAL);
}

/* ---- clone3 ----------------------------------------------------------- */

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

struct kt_clone_args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
    uint64_t set_tid;
    uint64_t set_tid_size;
    uint64_t cgroup;
};

#define CLONE_ARGS_SIZE_VER0 64

static volatile int clone3_var;

TEST(clone3_with_sigchld_works_like_fork) {
    struct kt_clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    clone3_var = 1;
    pid_t parent = getpid();
    fflush(stdout);
    long pid = syscall(SYS_clone3, &ca, (size_t)CLONE_ARGS_SIZE_VER0);
    if (pid == 0) {
        clone3_var = 2; /* a copy: the parent must not see this */
        _exit(syscall(SYS_getppid) == parent ? 33 : 1);
    }
    CHECK(pid > 0, "clone3 failed: %s", kt_errstr(errno));
    int st = reap(pid);
    CHECK(exited_with(st, 33), "child %s, expected exit 33 (1 = wrong getppid)", kt_status(st));
    EXPECT_EQ(clone3_var, 1);
}

TEST(clone3_parent_settid_reports_child_pid) {
    struct kt_clone_args ca;
    int ptid = 0;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_PARENT_SETTID;
    ca.parent_tid = (uintptr_t)&ptid;
    ca.exit_signal = SIGCHLD;
    fflush(stdout);
    long pid = syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0)
        _exit(0);
    CHECK(pid > 0, "clone3 failed: %s", kt_errstr(errno));
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(ptid, pid);
}

TEST(clone3_size_below_ver0_is_einval) {
    struct kt_clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    EXPECT_ERRNO(syscall(SYS_clone3, &ca, (size_t)(CLONE_ARGS_SIZE_VER0 - 8)), EINVAL);
    EXPECT_ERRNO(syscall(SYS_clone3, &ca, (size_t)0), EINVAL);
}

TEST(clone3_thread_without_sighand_is_einval) {
    struct kt_clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_THREAD | CLONE_VM;
    EXPECT_ERRNO(syscall(SYS_clone3, &ca, sizeof ca), EINVAL);
}

TEST(clone3_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_clone3, (void *)1, (size_t)CLONE_ARGS_SIZE_VER0), EFAULT);
}

int main(void)
{
    KT_BEGIN();
    RUN(mutex_protects_counter_across_8_threads);
    RUN(condvar_ping_pong_1000_round_trips_alternate_strictly);
    RUN(thread_local_variables_are_per_thread_with_initial_values);
    RUN(pthread_join_returns_the_thread_result);
    RUN(gettid_differs_per_thread_and_getpid_is_shared);
    RUN(exit_in_a_thread_ends_all_threads_with_its_status);
    RUN(exit_group_syscall_in_a_thread_ends_all_threads);
    RUN(main_thread_pthread_exit_keeps_process_alive);
    RUN(execve_from_main_thread_of_multithreaded_process);
    RUN(execve_from_secondary_thread_replaces_whole_process);
    RUN(clone_child_cleartid_zeroes_and_wakes_tid_word_at_exit);
    RUN(set_tid_address_word_is_cleared_and_woken_at_thread_exit);
    RUN(exit_syscall_in_a_thread_ends_only_that_thread);
    RUN(clone_thread_without_sighand_is_einval);
    RUN(clone_sighand_without_vm_is_einval);
    RUN(clone_newns_with_fs_is_einval);
    RUN(clone3_with_sigchld_works_like_fork);
    RUN(clone3_parent_settid_reports_child_pid);
    RUN(clone3_size_below_ver0_is_einval);
    RUN(clone3_thread_without_sighand_is_einval);
    RUN(clone3_bad_pointer_is_efault);
    return KT_END();
}
