/* futex(2) through the raw syscall: WAIT/WAKE, timeouts, bitsets, REQUEUE,
 * CMP_REQUEUE, WAKE_OP, private vs shared futexes, robust lists and robust
 * mutexes. */
#define KT_AREA "futex"
#include "kt.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

/* musl ships no <linux/futex.h> */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_REQUEUE_PRIVATE (FUTEX_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_CMP_REQUEUE_PRIVATE (FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_OP_PRIVATE (FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG)

#define FUTEX_OP_SET 0
#define FUTEX_OP_ADD 1
#define FUTEX_OP_OR 2
#define FUTEX_OP_ANDN 3
#define FUTEX_OP_XOR 4
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP_CMP_NE 1
#define FUTEX_OP_CMP_LT 2
#define FUTEX_OP_CMP_LE 3
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP_CMP_GE 5
#define FUTEX_OP(op, oparg, cmp, cmparg)                                                      \
    ((((op) & 0xf) << 28) | (((cmp) & 0xf) << 24) | (((oparg) & 0xfff) << 12) |               \
     ((cmparg) & 0xfff))

#define FUTEX_OWNER_DIED 0x40000000
#define FUTEX_TID_MASK 0x3fffffff

static long futex6(volatile int *uaddr, int op, int val, long val2, volatile int *uaddr2,
                   int val3)
{
    return syscall(SYS_futex, uaddr, op, val, val2, uaddr2, val3);
}

static long futex_wait(volatile int *uaddr, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static long futex_wake(volatile int *uaddr, int op, int n)
{
    return syscall(SYS_futex, uaddr, op, n, NULL, NULL, 0);
}

static long long now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Waits for pid and returns its raw status, or -1. A child still running
 * after 30 s is presumed hung and is killed with SIGKILL (its status then says
 * so): a broken kernel fails the case instead of hanging the whole run. */
static int reap(pid_t pid)
{
    int st;
    long long deadline = now_ns(CLOCK_MONOTONIC) + 30 * 1000000000LL;
    for (int i = 0;; i++) {
        long r = syscall(SYS_wait4, pid, &st, WNOHANG, NULL);
        if (r == pid)
            return st;
        if (r != 0)
            return -1;
        if (now_ns(CLOCK_MONOTONIC) > deadline) {
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

/*
 * Number of tasks currently sleeping on *uaddr (op selects private/shared):
 * FUTEX_REQUEUE them all onto a scratch word and back again. Both requeues
 * return woken + requeued, and nobody is woken. This lets a test know that its
 * waiters really sleep in the kernel without /proc or sleeps.
 */
static long count_waiters(volatile int *uaddr, int priv)
{
    static int scratch;
    long n = futex6(uaddr, FUTEX_REQUEUE | priv, 0, INT_MAX, &scratch, 0);
    /* move them back even if the count looks wrong, so nobody is stranded */
    futex6(&scratch, FUTEX_REQUEUE | priv, 0, INT_MAX, uaddr, 0);
    return n;
}

/* Waits (yielding, then napping 1 ms at a time) until n tasks sleep on uaddr.
 * Returns the last count seen. */
static long await_waiters(volatile int *uaddr, int priv, long n)
{
    long c = 0;
    for (int i = 0; i < 20000; i++) {
        c = count_waiters(uaddr, priv);
        if (c == n || c < 0)
            return c;
        if (i % 50 == 49) {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        } else {
            sched_yield();
        }
    }
    return c;
}

/* ---- waiter threads --------------------------------------------------- */

struct waiter {
    pthread_t t;
    volatile int *addr;
    int op;
    int val;
    int bitset; /* for FUTEX_WAIT_BITSET */
    long ret;
    int err;
    volatile int done;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    errno = 0;
    /* The 30 s timeouts are only hang guards; every waiter is woken at once
     * on a working kernel. */
    if ((w->op & 127) == FUTEX_WAIT_BITSET) {
        long long dl = now_ns(CLOCK_MONOTONIC) + 30 * 1000000000LL;
        struct timespec abs = {dl / 1000000000LL, dl % 1000000000LL};
        w->ret = futex6(w->addr, w->op, w->val, (long)&abs, NULL, w->bitset);
    } else {
        struct timespec rel = {30, 0};
        w->ret = futex_wait(w->addr, w->op, w->val, &rel);
    }
    w->err = errno;
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int start_bitset_waiter(struct waiter *w, volatile int *addr, int op, int val,
                               int bitset)
{
    memset(w, 0, sizeof *w);
    w->addr = addr;
    w->op = op;
    w->val = val;
    w->bitset = bitset;
    return pthread_create(&w->t, NULL, waiter_main, w);
}

static int start_waiter(struct waiter *w, volatile int *addr, int op, int val)
{
    return start_bitset_waiter(w, addr, op, val, 0);
}

static int count_done(struct waiter *w, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += __atomic_load_n(&w[i].done, __ATOMIC_SEQ_CST);
    return c;
}

/* ---- WAIT basics ------------------------------------------------------ */

TEST(wait_with_mismatched_value_is_eagain) {
    int word = 1;
    EXPECT_ERRNO(futex_wait(&word, FUTEX_WAIT, 2, NULL), EAGAIN);
    EXPECT_ERRNO(futex_wait(&word, FUTEX_WAIT_PRIVATE, 0, NULL), EAGAIN);
}

TEST(wake_with_no_waiters_returns_zero) {
    int word = 0;
    EXPECT_EQ(futex_wake(&word, FUTEX_WAKE, 1), 0);
    EXPECT_EQ(futex_wake(&word, FUTEX_WAKE_PRIVATE, INT_MAX), 0);
}

TEST(wait_relative_timeout_is_etimedout_after_20ms) {
    int word = 0;
    struct timespec ts = {0, 20 * 1000 * 1000};
    long long t0 = now_ns(CLOCK_MONOTONIC);
    EXPECT_ERRNO(futex_wait(&word, FUTEX_WAIT, 0, &ts), ETIMEDOUT);
    long long el = now_ns(CLOCK_MONOTONIC) - t0;
    CHECK(el >= 20 * 1000 * 1000LL, "returned after %lld ns, expected >= 20 ms", el);
}

TEST(wait_zero_timeout_is_etimedout) {
    int word = 0;
    struct timespec ts = {0, 0};
    EXPECT_ERRNO(futex_wait(&word, FUTEX_WAIT_PRIVATE, 0, &ts), ETIMEDOUT);
}

TEST(wait_invalid_timeout_is_einval) {
    int word = 0;
    struct timespec ts = {0, 1000000000L};
    EXPECT_ERRNO(futex_wait(&word, FUTEX_WAIT, 0, &ts), EINVAL);
    struct timespec neg = {-1, 0};
    EXPECT_ERRNO(futex_wait(&word, FUTEX_WAIT, 0, &neg), EINVAL);
}

TEST(wait_bitset_absolute_monotonic_deadline_is_etimedout) {
    int word = 0;
    long long deadline = now_ns(CLOCK_MONOTONIC) + 10 * 1000 * 1000LL;
    struct timespec ts = {deadline / 1000000000LL, deadline % 1000000000LL};
    EXPECT_ERRNO(futex6(&word, FUTEX_WAIT_BITSET, 0, (long)&ts, NULL, (int)FUTEX_BITSET_MATCH_ANY),
                 ETIMEDOUT);
    long long after = now_ns(CLOCK_MONOTONIC);
    CHECK(after >= deadline, "returned %lld ns before the deadline", deadline - after);
}

TEST(wait_bitset_absolute_realtime_deadline_in_past_is_etimedout) {
    int word = 0;
    struct timespec ts = {1, 0}; /* 1970 */
    EXPECT_ERRNO(futex6(&word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME | FUTEX_PRIVATE_FLAG, 0,
                        (long)&ts, NULL, (int)FUTEX_BITSET_MATCH_ANY),
                 ETIMEDOUT);
}

TEST(wait_bitset_zero_bitset_is_einval) {
    int word = 0;
    EXPECT_ERRNO(futex6(&word, FUTEX_WAIT_BITSET, 0, 0, NULL, 0), EINVAL);
    EXPECT_ERRNO(futex6(&word, FUTEX_WAKE_BITSET, 1, 0, NULL, 0), EINVAL);
}

/* FUTEX_CLOCK_REALTIME is only valid with the *_BITSET (and PI) operations. */
TEST(clock_realtime_flag_with_plain_wake_is_enosys) {
    int word = 0;
    EXPECT_ERRNO(futex_wake(&word, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1), ENOSYS);
}

TEST(unknown_op_is_enosys) {
    int word = 0;
    EXPECT_ERRNO(futex6(&word, 99, 0, 0, NULL, 0), ENOSYS);
}

TEST(unaligned_address_is_einval) {
    int words[2] = {0, 0};
    volatile int *odd = (volatile int *)((char *)words + 1);
    EXPECT_ERRNO(futex_wait(odd, FUTEX_WAIT, 0, NULL), EINVAL);
    EXPECT_ERRNO(futex_wake(odd, FUTEX_WAKE, 1), EINVAL);
    EXPECT_ERRNO(futex_wake(odd, FUTEX_WAKE_PRIVATE, 1), EINVAL);
}

static volatile int *unmapped_page(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    munmap(p, 4096);
    return p;
}

TEST(wait_on_unmapped_address_is_efault) {
    volatile int *p = unmapped_page();
    CHECK(p, "mmap failed");
    EXPECT_ERRNO(futex_wait(p, FUTEX_WAIT, 0, NULL), EFAULT);
    EXPECT_ERRNO(futex_wait(p, FUTEX_WAIT_PRIVATE, 0, NULL), EFAULT);
    EXPECT_ERRNO(futex_wait((volatile int *)0, FUTEX_WAIT_PRIVATE, 0, NULL), EFAULT);
}

/* A shared (non-private) key needs the page, so WAKE on an unmapped address is
 * EFAULT; a private key is just (mm, address), and Linux never touches the
 * memory: FUTEX_WAKE_PRIVATE there returns 0. */
TEST(wake_shared_on_unmapped_is_efault_but_private_returns_zero) {
    volatile int *p = unmapped_page();
    CHECK(p, "mmap failed");
    EXPECT_ERRNO(futex_wake(p, FUTEX_WAKE, 1), EFAULT);
    EXPECT_EQ(futex_wake(p, FUTEX_WAKE_PRIVATE, 1), 0);
}

/* ---- WAKE ------------------------------------------------------------- */

TEST(wake_one_waiter_thread) {
    static volatile int word;
    struct waiter w;
    word = 0;
    int err = start_waiter(&w, &word, FUTEX_WAIT, 0);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    long c = await_waiters(&word, 0, 1);
    word = 1; /* a waiter that is late after all gets EAGAIN instead of sleeping */
    long n = futex_wake(&word, FUTEX_WAKE, 1);
    if (n != 1)
        futex_wake(&word, FUTEX_WAKE, INT_MAX);
    pthread_join(w.t, NULL);
    EXPECT_EQ(c, 1);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(w.ret, 0);
}

enum { M = 5, N = 2 };

TEST(wake_n_of_m_waiters_wakes_exactly_n) {
    static volatile int word;
    struct waiter w[M];
    word = 0;
    int made = 0, err = 0;
    for (; made < M; made++)
        if ((err = start_waiter(&w[made], &word, FUTEX_WAIT_PRIVATE, 0)))
            break;
    long c = await_waiters(&word, FUTEX_PRIVATE_FLAG, made);
    long n = futex_wake(&word, FUTEX_WAKE_PRIVATE, N);
    /* the woken ones are off the queue at once; the rest still sleep */
    long left = count_waiters(&word, FUTEX_PRIVATE_FLAG);
    /* wait for the N woken threads to notice, before counting them */
    for (int i = 0; i < 20000 && count_done(w, made) < N; i++)
        sched_yield();
    int done_after_n = count_done(w, made);
    word = 1;
    long rest = futex_wake(&word, FUTEX_WAKE_PRIVATE, INT_MAX);
    for (int i = 0; i < made; i++)
        pthread_join(w[i].t, NULL);
    CHECK(made == M, "pthread_create #%d: %s", made, kt_errstr(err));
    EXPECT_EQ(c, M);
    EXPECT_EQ(n, N);
    EXPECT_EQ(left, M - N);
    EXPECT_EQ(done_after_n, N);
    EXPECT_EQ(rest, M - N);
    for (int i = 0; i < M; i++)
        CHECK(w[i].ret == 0, "waiter %d: ret %ld errno %s", i, w[i].ret, kt_errstr(w[i].err));
}

/* Wakes match on the bitset: a waiter with bitset 0b01 ignores wakes for 0b10. */
TEST(wake_bitset_only_wakes_matching_waiters) {
    static volatile int word;
    struct waiter w;
    word = 0;
    int err = start_bitset_waiter(&w, &word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, 1);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    long c = await_waiters(&word, FUTEX_PRIVATE_FLAG, 1);
    long miss = futex6(&word, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, INT_MAX, 0, NULL, 2);
    word = 1;
    long hit = futex6(&word, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, INT_MAX, 0, NULL, 3);
    if (hit != 1)
        futex_wake(&word, FUTEX_WAKE_PRIVATE, INT_MAX); /* plain WAKE matches any bitset */
    pthread_join(w.t, NULL);
    EXPECT_EQ(c, 1);
    EXPECT_EQ(miss, 0);
    EXPECT_EQ(hit, 1);
    EXPECT_EQ(w.ret, 0);
}

/* ---- REQUEUE ---------------------------------------------------------- */

TEST(requeue_wakes_one_and_moves_the_rest) {
    static volatile int a, b;
    struct waiter w[3];
    a = b = 0;
    int made = 0, err = 0;
    for (; made < 3; made++)
        if ((err = start_waiter(&w[made], &a, FUTEX_WAIT_PRIVATE, 0)))
            break;
    long c = await_waiters(&a, FUTEX_PRIVATE_FLAG, made);
    /* wake 1, requeue up to INT_MAX: returns woken + requeued */
    long r = futex6(&a, FUTEX_REQUEUE_PRIVATE, 1, INT_MAX, &b, 0);
    long on_a = count_waiters(&a, FUTEX_PRIVATE_FLAG);
    long on_b = count_waiters(&b, FUTEX_PRIVATE_FLAG);
    /* a wake on the old address finds nobody; the new one wakes the rest */
    a = b = 1;
    long wa = futex_wake(&a, FUTEX_WAKE_PRIVATE, INT_MAX);
    long wb = futex_wake(&b, FUTEX_WAKE_PRIVATE, INT_MAX);
    for (int i = 0; i < made; i++)
        pthread_join(w[i].t, NULL);
    CHECK(made == 3, "pthread_create #%d: %s", made, kt_errstr(err));
    EXPECT_EQ(c, 3);
    EXPECT_EQ(r, 3);
    EXPECT_EQ(on_a, 0);
    EXPECT_EQ(on_b, 2);
    EXPECT_EQ(wa, 0);
    EXPECT_EQ(wb, 2);
    for (int i = 0; i < 3; i++)
        CHECK(w[i].ret == 0, "waiter %d: ret %ld errno %s", i, w[i].ret, kt_errstr(w[i].err));
}

TEST(requeue_limit_leaves_extra_waiters_in_place) {
    static volatile int a, b;
    struct waiter w[4];
    a = b = 0;
    int made = 0, err = 0;
    for (; made < 4; made++)
        if ((err = start_waiter(&w[made], &a, FUTEX_WAIT, 0)))
            break;
    long c = await_waiters(&a, 0, made);
    /* CMP_REQUEUE with the right value: wake 0, move 2 */
    long r = futex6(&a, FUTEX_CMP_REQUEUE, 0, 2, &b, 0);
    long on_a = count_waiters(&a, 0);
    long on_b = count_waiters(&b, 0);
    a = b = 1;
    long wa = futex_wake(&a, FUTEX_WAKE, INT_MAX);
    long wb = futex_wake(&b, FUTEX_WAKE, INT_MAX);
    for (int i = 0; i < made; i++)
        pthread_join(w[i].t, NULL);
    CHECK(made == 4, "pthread_create #%d: %s", made, kt_errstr(err));
    EXPECT_EQ(c, 4);
    EXPECT_EQ(r, 2);
    EXPECT_EQ(on_a, 2);
    EXPECT_EQ(on_b, 2);
    EXPECT_EQ(wa, 2);
    EXPECT_EQ(wb, 2);
}

TEST(cmp_requeue_with_wrong_value_is_eagain) {
    static volatile int a, b;
    struct waiter w;
    a = 5;
    b = 0;
    int err = start_waiter(&w, &a, FUTEX_WAIT_PRIVATE, 5);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    long c = await_waiters(&a, FUTEX_PRIVATE_FLAG, 1);
    errno = 0;
    long r = futex6(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, INT_MAX, &b, 6);
    int e = errno;
    long still = count_waiters(&a, FUTEX_PRIVATE_FLAG);
    a = 0;
    futex_wake(&a, FUTEX_WAKE_PRIVATE, INT_MAX);
    pthread_join(w.t, NULL);
    EXPECT_EQ(c, 1);
    CHECK(r == -1 && e == EAGAIN, "CMP_REQUEUE with val3 6 != 5: got %ld errno %s, expected EAGAIN",
          r, kt_errstr(e));
    EXPECT_EQ(still, 1); /* nobody was woken or moved */
}

TEST(cmp_requeue_negative_count_is_einval) {
    int a = 0, b = 0;
    EXPECT_ERRNO(futex6(&a, FUTEX_CMP_REQUEUE, -1, 1, &b, 0), EINVAL);
    EXPECT_ERRNO(futex6(&a, FUTEX_CMP_REQUEUE, 1, -1L, &b, 0), EINVAL);
}

/* ---- WAKE_OP ---------------------------------------------------------- */

TEST(wake_op_set_with_true_comparison_wakes_both) {
    static volatile int a, b;
    struct waiter wa, wb;
    a = 0;
    b = 5;
    int err = start_waiter(&wa, &a, FUTEX_WAIT_PRIVATE, 0);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    err = start_waiter(&wb, &b, FUTEX_WAIT_PRIVATE, 5);
    if (err) {
        futex_wake(&a, FUTEX_WAKE_PRIVATE, 1);
        pthread_join(wa.t, NULL);
        CHECK(0, "pthread_create: %s", kt_errstr(err));
    }
    long ca = await_waiters(&a, FUTEX_PRIVATE_FLAG, 1);
    long cb = await_waiters(&b, FUTEX_PRIVATE_FLAG, 1);
    /* *b = 7; wake 1 on a; if old *b == 5 also wake 1 on b */
    long r = futex6(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b,
                    FUTEX_OP(FUTEX_OP_SET, 7, FUTEX_OP_CMP_EQ, 5));
    int bval = b;
    a = 1;
    if (r != 2) {
        futex_wake(&a, FUTEX_WAKE_PRIVATE, INT_MAX);
        futex_wake(&b, FUTEX_WAKE_PRIVATE, INT_MAX);
    }
    pthread_join(wa.t, NULL);
    pthread_join(wb.t, NULL);
    EXPECT_EQ(ca, 1);
    EXPECT_EQ(cb, 1);
    EXPECT_EQ(r, 2);
    EXPECT_EQ(bval, 7);
    EXPECT_EQ(wa.ret, 0);
    EXPECT_EQ(wb.ret, 0);
}

TEST(wake_op_add_with_false_comparison_wakes_only_first) {
    static volatile int a, b;
    struct waiter wa, wb;
    a = 0;
    b = 10;
    int err = start_waiter(&wa, &a, FUTEX_WAIT, 0);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    err = start_waiter(&wb, &b, FUTEX_WAIT, 10);
    if (err) {
        futex_wake(&a, FUTEX_WAKE, 1);
        pthread_join(wa.t, NULL);
        CHECK(0, "pthread_create: %s", kt_errstr(err));
    }
    long ca = await_waiters(&a, 0, 1);
    long cb = await_waiters(&b, 0, 1);
    /* *b += 3; the comparison is on the OLD value: 10 > 100 is false */
    long r = futex6(&a, FUTEX_WAKE_OP, 1, 1, &b, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_GT, 100));
    int bval = b;
    long still_b = count_waiters(&b, 0);
    a = 1;
    b = 0;
    futex_wake(&a, FUTEX_WAKE, INT_MAX);
    futex_wake(&b, FUTEX_WAKE, INT_MAX);
    pthread_join(wa.t, NULL);
    pthread_join(wb.t, NULL);
    EXPECT_EQ(ca, 1);
    EXPECT_EQ(cb, 1);
    EXPECT_EQ(r, 1);
    EXPECT_EQ(bval, 13);
    EXPECT_EQ(still_b, 1);
}

TEST(wake_op_without_waiters_still_applies_the_operation) {
    int a = 0, b = 0x0f;
    EXPECT_EQ(futex6(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b,
                     FUTEX_OP(FUTEX_OP_OR, 0x30, FUTEX_OP_CMP_NE, 0)), 0);
    EXPECT_EQ(b, 0x3f);
    EXPECT_EQ(futex6(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b,
                     FUTEX_OP(FUTEX_OP_ANDN, 0x0f, FUTEX_OP_CMP_NE, 0)), 0);
    EXPECT_EQ(b, 0x30);
    EXPECT_EQ(futex6(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b,
                     FUTEX_OP(FUTEX_OP_XOR, 0x31, FUTEX_OP_CMP_NE, 0)), 0);
    EXPECT_EQ(b, 0x01);
}

TEST(wake_op_second_address_unmapped_is_efault) {
    int a = 0;
    volatile int *p = unmapped_page();
    CHECK(p, "mmap failed");
    EXPECT_ERRNO(futex6(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, p,
                        FUTEX_OP(FUTEX_OP_SET, 1, FUTEX_OP_CMP_EQ, 0)),
                 EFAULT);
}

/* ---- private flag, shared memory across fork -------------------------- */

TEST(private_wait_and_wake_between_threads) {
    static volatile int word;
    struct waiter w;
    word = 0;
    int err = start_waiter(&w, &word, FUTEX_WAIT_PRIVATE, 0);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    long c = await_waiters(&word, FUTEX_PRIVATE_FLAG, 1);
    word = 1;
    long n = futex_wake(&word, FUTEX_WAKE_PRIVATE, 1);
    if (n != 1)
        futex_wake(&word, FUTEX_WAKE_PRIVATE, INT_MAX);
    pthread_join(w.t, NULL);
    EXPECT_EQ(c, 1);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(w.ret, 0);
}

TEST(shared_futex_in_map_shared_memory_wakes_forked_child) {
    volatile int *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(word != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    word[0] = 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        munmap((void *)word, 4096);
        CHECK(0, "fork failed: %s", kt_errstr(errno));
    }
    if (pid == 0) {
        long r = futex_wait(word, FUTEX_WAIT, 0, NULL);
        _exit(r == 0 && word[0] == 1 ? 0 : 1);
    }
    /* the child's sleep is visible from here through the shared key */
    long c = await_waiters(word, 0, 1);
    word[0] = 1;
    long n = futex_wake(word, FUTEX_WAKE, 1);
    if (n != 1)
        futex_wake(word, FUTEX_WAKE, INT_MAX);
    int st = reap(pid);
    munmap((void *)word, 4096);
    EXPECT_EQ(c, 1);
    EXPECT_EQ(n, 1);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", kt_status(st));
}

/* The same file page mapped at different addresses in two processes is the
 * same shared futex. */
TEST(shared_futex_in_file_mapping_at_different_addresses) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_RDWR | O_CREAT, 0644));
    OK(ftruncate(fd, 8192));
    volatile int *word = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(word != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* a second mapping of the same page, somewhere else */
        volatile int *mine = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
        if (mine == MAP_FAILED)
            _exit(2);
        munmap((void *)word, 8192);
        long r = futex_wait(mine, FUTEX_WAIT, 0, NULL);
        _exit(r == 0 && mine[0] == 1 ? 0 : 1);
    }
    close(fd);
    CHECK(pid > 0, "fork failed: %s", kt_errstr(errno));
    volatile int *w2 = word + 1024; /* offset 4096 */
    long c = await_waiters(w2, 0, 1);
    w2[0] = 1;
    long n = futex_wake(w2, FUTEX_WAKE, 1);
    if (n != 1)
        futex_wake(w2, FUTEX_WAKE, INT_MAX);
    int st = reap(pid);
    munmap((void *)word, 8192);
    EXPECT_EQ(c, 1);
    EXPECT_EQ(n, 1);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s (2 = mmap failed)",
          kt_status(st));
}

/* ---- robust lists ----------------------------------------------------- */

struct robust_list_head_k {
    void *next;
    long futex_offset;
    void *pending;
};

TEST(set_robust_list_wrong_size_is_einval) {
    struct robust_list_head_k h = {&h, 0, NULL};
    EXPECT_ERRNO(syscall(SYS_set_robust_list, &h, sizeof h - 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_set_robust_list, &h, sizeof h + 8), EINVAL);
    EXPECT_ERRNO(syscall(SYS_set_robust_list, &h, (size_t)0), EINVAL);
}

TEST(get_robust_list_returns_what_was_set) {
    void *old = NULL;
    size_t oldlen = 0;
    OK(syscall(SYS_get_robust_list, 0, &old, &oldlen));
    static struct robust_list_head_k h;
    h.next = &h;
    h.futex_offset = -8;
    h.pending = NULL;
    long r = syscall(SYS_set_robust_list, &h, sizeof h);
    int e = errno;
    void *got = NULL;
    size_t len = 0;
    long g = syscall(SYS_get_robust_list, 0, &got, &len);
    /* put back whatever musl had registered (NULL if nothing yet) */
    syscall(SYS_set_robust_list, old, sizeof h);
    CHECK(oldlen == 0 || oldlen == sizeof h, "initial len %zu", oldlen);
    CHECK(r == 0, "set_robust_list failed: %s", kt_errstr(e));
    EXPECT_EQ(g, 0);
    CHECK(got == &h, "get_robust_list returned %p, expected %p", got, (void *)&h);
    EXPECT_EQ(len, sizeof h);
}

TEST(get_robust_list_of_missing_pid_is_esrch) {
    void *head;
    size_t len;
    EXPECT_ERRNO(syscall(SYS_get_robust_list, 0x3ffffff0, &head, &len), ESRCH);
}

static pthread_mutex_t robust_m;

/* musl's pthread_mutex_t: int 0 is the type, int 1 the futex word (owner tid). */
static int lock_word(pthread_mutex_t *m)
{
    return ((volatile int *)m)[1];
}

static void *lock_and_exit(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&robust_m);
    return NULL; /* exits holding the mutex */
}

TEST(robust_mutex_owner_thread_exit_gives_eownerdead) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int err = pthread_mutex_init(&robust_m, &a);
    pthread_mutexattr_destroy(&a);
    CHECK(err == 0, "pthread_mutex_init: %s", kt_errstr(err));
    pthread_t t;
    err = pthread_create(&t, NULL, lock_and_exit, NULL);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    pthread_join(t, NULL);
    int r1 = pthread_mutex_lock(&robust_m);
    int rc = r1 == EOWNERDEAD ? pthread_mutex_consistent(&robust_m) : -1;
    int ru = r1 == EOWNERDEAD || r1 == 0 ? pthread_mutex_unlock(&robust_m) : -1;
    int r2 = pthread_mutex_lock(&robust_m);
    if (r2 == 0)
        pthread_mutex_unlock(&robust_m);
    pthread_mutex_destroy(&robust_m);
    CHECK(r1 == EOWNERDEAD, "lock after owner died returned %d, expected EOWNERDEAD(%d)", r1,
          EOWNERDEAD);
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(ru, 0);
    EXPECT_EQ(r2, 0);
}

/* musl cleans up robust mutexes itself in pthread_exit; only the kernel's
 * exit-time robust-list walk can help when the owner dies in exit_group.
 * A process-shared robust mutex in MAP_SHARED memory, locked by a child that
 * then _exit()s: the kernel marks the word FUTEX_OWNER_DIED. */
TEST(robust_pshared_mutex_owner_process_exit_gives_eownerdead) {
    pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    int err = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    if (err) {
        munmap(m, 4096);
        CHECK(0, "pthread_mutex_init: %s", kt_errstr(err));
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(pthread_mutex_lock(m) == 0 ? 0 : 1); /* exit_group with the lock held */
    int st = pid > 0 ? reap(pid) : -1;
    int word = lock_word(m);
    int r1 = pthread_mutex_trylock(m); /* trylock: no hang if the kernel did nothing */
    if (r1 == EOWNERDEAD)
        pthread_mutex_consistent(m);
    if (r1 == EOWNERDEAD || r1 == 0)
        pthread_mutex_unlock(m);
    munmap(m, 4096);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", kt_status(st));
    CHECK(word & FUTEX_OWNER_DIED, "lock word 0x%x after owner exit lacks FUTEX_OWNER_DIED",
          word);
    EXPECT_EQ(word & FUTEX_TID_MASK, 0);
    CHECK(r1 == EOWNERDEAD, "lock after owner died returned %d, expected EOWNERDEAD(%d)", r1,
          EOWNERDEAD);
}

/* The owner is a secondary thread that calls exit_group while holding the lock:
 * the kernel walks every dying thread's robust list, not only the caller's. */
static void *lock_then_exit_group(void *arg)
{
    pthread_mutex_lock(arg);
    syscall(SYS_exit_group, 0);
    return NULL;
}

TEST(robust_mutex_held_by_thread_at_exit_group_is_marked_owner_died) {
    pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    int err = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    if (err) {
        munmap(m, 4096);
        CHECK(0, "pthread_mutex_init: %s", kt_errstr(err));
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, lock_then_exit_group, m))
            _exit(1);
        for (;;)
            pause();
    }
    int st = pid > 0 ? reap(pid) : -1;
    int word = lock_word(m);
    int r1 = pthread_mutex_trylock(m);
    if (r1 == EOWNERDEAD)
        pthread_mutex_consistent(m);
    if (r1 == EOWNERDEAD || r1 == 0)
        pthread_mutex_unlock(m);
    munmap(m, 4096);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", kt_status(st));
    CHECK(word & FUTEX_OWNER_DIED, "lock word 0x%x lacks FUTEX_OWNER_DIED", word);
    CHECK(r1 == EOWNERDEAD, "lock returned %d, expected EOWNERDEAD(%d)", r1, EOWNERDEAD);
}

/* ---- futex_waitv ---------------------------------------------------------- */

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

struct kt_futex_waitv {
    uint64_t val, uaddr;
    uint32_t flags, reserved;
};

#define KT_FUTEX2_SIZE_U32 2
#define KT_FUTEX2_PRIVATE 128

TEST(futex_waitv_errors)
{
    static uint32_t word = 5;
    struct kt_futex_waitv w = {5, (uintptr_t)&word, KT_FUTEX2_SIZE_U32 | KT_FUTEX2_PRIVATE, 0};
    struct timespec to;
    clock_gettime(CLOCK_MONOTONIC, &to);
    EXPECT_ERRNO(syscall(SYS_futex_waitv, &w, 1, 1, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_futex_waitv, &w, 0, 0, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_futex_waitv, &w, 129, 0, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_futex_waitv, NULL, 1, 0, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_futex_waitv, &w, 1, 0, &to, 99), EINVAL);
    struct kt_futex_waitv bad = w;
    bad.flags = 0; /* no size */
    EXPECT_ERRNO(syscall(SYS_futex_waitv, &bad, 1, 0, NULL, 0), EINVAL);
    bad = w;
    bad.uaddr += 1; /* misaligned */
    EXPECT_ERRNO(syscall(SYS_futex_waitv, &bad, 1, 0, NULL, 0), EINVAL);
    /* A value that differs: EAGAIN; a timeout that passes: ETIMEDOUT. */
    struct kt_futex_waitv other = w;
    other.val = 6;
    EXPECT_ERRNO(syscall(SYS_futex_waitv, &other, 1, 0, NULL, 0), EAGAIN);
    to.tv_nsec += 20 * 1000 * 1000;
    if (to.tv_nsec >= 1000000000) {
        to.tv_sec++;
        to.tv_nsec -= 1000000000;
    }
    EXPECT_ERRNO(syscall(SYS_futex_waitv, &w, 1, 0, &to, CLOCK_MONOTONIC), ETIMEDOUT);
}

TEST(futex_waitv_returns_the_index_of_the_woken_futex)
{
    uint32_t *words = (uint32_t *)OK(mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                          MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    pid_t c = OK(fork());
    if (c == 0) {
        /* Wait until the parent waits, then wake the second word. */
        usleep(50 * 1000);
        words[1] = 1;
        syscall(SYS_futex, &words[1], 1 /* FUTEX_WAKE */, 1, NULL, NULL, 0);
        _exit(0);
    }
    struct kt_futex_waitv w[3] = {
        {0, (uintptr_t)&words[0], KT_FUTEX2_SIZE_U32, 0},
        {0, (uintptr_t)&words[1], KT_FUTEX2_SIZE_U32, 0},
        {0, (uintptr_t)&words[2], KT_FUTEX2_SIZE_U32, 0},
    };
    struct timespec to;
    clock_gettime(CLOCK_MONOTONIC, &to);
    to.tv_sec += 5;
    long r = syscall(SYS_futex_waitv, w, 3, 0, &to, CLOCK_MONOTONIC);
    int e = errno;
    int st;
    waitpid(c, &st, 0);
    munmap(words, 4096);
    CHECK(r == 1, "futex_waitv = %ld errno %s, expected 1", r, kt_errstr(e));
}

int main(void)
{
    KT_BEGIN();
    RUN(wait_with_mismatched_value_is_eagain);
    RUN(wake_with_no_waiters_returns_zero);
    RUN(wait_relative_timeout_is_etimedout_after_20ms);
    RUN(wait_zero_timeout_is_etimedout);
    RUN(wait_invalid_timeout_is_einval);
    RUN(wait_bitset_absolute_monotonic_deadline_is_etimedout);
    RUN(wait_bitset_absolute_realtime_deadline_in_past_is_etimedout);
    RUN(wait_bitset_zero_bitset_is_einval);
    RUN(clock_realtime_flag_with_plain_wake_is_enosys);
    RUN(unknown_op_is_enosys);
    RUN(unaligned_address_is_einval);
    RUN(wait_on_unmapped_address_is_efault);
    RUN(wake_shared_on_unmapped_is_efault_but_private_returns_zero);
    RUN(wake_one_waiter_thread);
    RUN(wake_n_of_m_waiters_wakes_exactly_n);
    RUN(wake_bitset_only_wakes_matching_waiters);
    RUN(requeue_wakes_one_and_moves_the_rest);
    RUN(requeue_limit_leaves_extra_waiters_in_place);
    RUN(cmp_requeue_with_wrong_value_is_eagain);
    RUN(cmp_requeue_negative_count_is_einval);
    RUN(wake_op_set_with_true_comparison_wakes_both);
    RUN(wake_op_add_with_false_comparison_wakes_only_first);
    RUN(wake_op_without_waiters_still_applies_the_operation);
    RUN(wake_op_second_address_unmapped_is_efault);
    RUN(private_wait_and_wake_between_threads);
    RUN(shared_futex_in_map_shared_memory_wakes_forked_child);
    RUN(shared_futex_in_file_mapping_at_different_addresses);
    RUN(set_robust_list_wrong_size_is_einval);
    RUN(get_robust_list_returns_what_was_set);
    RUN(get_robust_list_of_missing_pid_is_esrch);
    RUN(robust_mutex_owner_thread_exit_gives_eownerdead);
    RUN(robust_pshared_mutex_owner_process_exit_gives_eownerdead);
    RUN(robust_mutex_held_by_thread_at_exit_group_is_marked_owner_died);
    RUN(futex_waitv_errors);
    RUN(futex_waitv_returns_the_index_of_the_woken_futex);
    return KT_END();
}
