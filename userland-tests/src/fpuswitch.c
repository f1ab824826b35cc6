/*
 * fpuswitch.c - threads of one process taking turns through a futex keep their
 * own YMM registers (upper halves too) and x87 state (control word, stack).
 *
 * Kestrel keeps the state of the thread that ran last on a CPU whole (not
 * compacted into its saved copy) while another thread runs, so two threads
 * taking turns swap with one XSAVE and one XRSTOR; a third thread evicts that
 * image, a signal delivered to the waiting thread and a fork by the running one
 * read saved copies. Each case holds the registers in one asm block across the
 * hand-off, so nothing the compiler emits can touch them.
 */
#define KT_AREA "fpuswitch"
#include "kt.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

/* musl has no linux/futex.h. */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

#define ROUNDS 300
#define MAXT 3

/* What one thread holds across a hand-off, and where it reads it back. The
 * offsets are used by the asm below: keep them in step. */
struct hold {
    uint8_t ymm[16][32];     /*   0: loaded into ymm0..ymm15 */
    uint8_t out[16][32];     /* 512: stored from them after the hand-off */
    long double st[3];       /* 1024: pushed on the x87 stack (16 bytes each) */
    long double st_out[3];   /* 1072: popped back */
    uint16_t cw;             /* 1120: x87 control word loaded */
    uint16_t cw_out;         /* 1122: and read back */
    uint16_t cw_default;     /* 1124: put back at the end (0x37f) */
    uint16_t pad;
    int me;                  /* 1128: the turn value this thread waits for */
    int next;                /* 1132: the one it passes the turn to */
    _Atomic int *turn;       /* 1136 */
};

_Static_assert(__builtin_offsetof(struct hold, out) == 512, "out");
_Static_assert(__builtin_offsetof(struct hold, st) == 1024, "st");
_Static_assert(__builtin_offsetof(struct hold, st_out) == 1072, "st_out");
_Static_assert(__builtin_offsetof(struct hold, cw) == 1120, "cw");
_Static_assert(__builtin_offsetof(struct hold, me) == 1128, "me");
_Static_assert(__builtin_offsetof(struct hold, turn) == 1136, "turn");

/* Waits (FUTEX_WAIT_PRIVATE, again after EINTR) until *turn is h->me; rbx = h. */
#define WAIT_MINE                                                            \
    "1:\n\t"                                                                 \
    "mov 1136(%%rbx), %%rdi\n\t"                                             \
    "mov (%%rdi), %%edx\n\t"                                                 \
    "cmp 1128(%%rbx), %%edx\n\t"                                             \
    "je 2f\n\t"                                                              \
    "mov $202, %%eax\n\t"                                                    \
    "mov $128, %%esi\n\t" /* FUTEX_WAIT_PRIVATE */                           \
    "xor %%r10d, %%r10d\n\t"                                                 \
    "syscall\n\t"                                                            \
    "jmp 1b\n\t"                                                             \
    "2:\n\t"

/* Waits for this thread's turn, loads its registers, passes the turn on,
 * waits for it to come back, and stores the registers. */
static void hold_across_handoff(struct hold *h)
{
    __asm__ volatile(
        WAIT_MINE
        "vmovdqu 0(%%rbx), %%ymm0\n\t"
        "vmovdqu 32(%%rbx), %%ymm1\n\t"
        "vmovdqu 64(%%rbx), %%ymm2\n\t"
        "vmovdqu 96(%%rbx), %%ymm3\n\t"
        "vmovdqu 128(%%rbx), %%ymm4\n\t"
        "vmovdqu 160(%%rbx), %%ymm5\n\t"
        "vmovdqu 192(%%rbx), %%ymm6\n\t"
        "vmovdqu 224(%%rbx), %%ymm7\n\t"
        "vmovdqu 256(%%rbx), %%ymm8\n\t"
        "vmovdqu 288(%%rbx), %%ymm9\n\t"
        "vmovdqu 320(%%rbx), %%ymm10\n\t"
        "vmovdqu 352(%%rbx), %%ymm11\n\t"
        "vmovdqu 384(%%rbx), %%ymm12\n\t"
        "vmovdqu 416(%%rbx), %%ymm13\n\t"
        "vmovdqu 448(%%rbx), %%ymm14\n\t"
        "vmovdqu 480(%%rbx), %%ymm15\n\t"
        "fldcw 1120(%%rbx)\n\t"
        "fldt 1024(%%rbx)\n\t"
        "fldt 1040(%%rbx)\n\t"
        "fldt 1056(%%rbx)\n\t"
        /* Pass the turn: *turn = next, wake everyone waiting on it. */
        "mov 1132(%%rbx), %%eax\n\t"
        "mov 1136(%%rbx), %%rdi\n\t"
        "xchg %%eax, (%%rdi)\n\t"
        "mov $202, %%eax\n\t"
        "mov $129, %%esi\n\t" /* FUTEX_WAKE_PRIVATE */
        "mov $0x7fffffff, %%edx\n\t"
        "syscall\n\t"
        WAIT_MINE
        "vmovdqu %%ymm0, 512(%%rbx)\n\t"
        "vmovdqu %%ymm1, 544(%%rbx)\n\t"
        "vmovdqu %%ymm2, 576(%%rbx)\n\t"
        "vmovdqu %%ymm3, 608(%%rbx)\n\t"
        "vmovdqu %%ymm4, 640(%%rbx)\n\t"
        "vmovdqu %%ymm5, 672(%%rbx)\n\t"
        "vmovdqu %%ymm6, 704(%%rbx)\n\t"
        "vmovdqu %%ymm7, 736(%%rbx)\n\t"
        "vmovdqu %%ymm8, 768(%%rbx)\n\t"
        "vmovdqu %%ymm9, 800(%%rbx)\n\t"
        "vmovdqu %%ymm10, 832(%%rbx)\n\t"
        "vmovdqu %%ymm11, 864(%%rbx)\n\t"
        "vmovdqu %%ymm12, 896(%%rbx)\n\t"
        "vmovdqu %%ymm13, 928(%%rbx)\n\t"
        "vmovdqu %%ymm14, 960(%%rbx)\n\t"
        "vmovdqu %%ymm15, 992(%%rbx)\n\t"
        "fnstcw 1122(%%rbx)\n\t"
        "fstpt 1104(%%rbx)\n\t"
        "fstpt 1088(%%rbx)\n\t"
        "fstpt 1072(%%rbx)\n\t"
        "fldcw 1124(%%rbx)\n\t"
        "vzeroupper\n\t"
        :
        : "b"(h)
        : "rax", "rcx", "rdx", "rsi", "rdi", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2",
          "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
          "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)");
}

/* Passes the turn on without holding anything (a thread's last move). */
static void pass_turn(struct hold *h)
{
    atomic_store(h->turn, h->next);
    syscall(SYS_futex, h->turn, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static int have_avx(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & (1u << 27)) || !(c & (1u << 28))) /* OSXSAVE, AVX */
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6; /* the OS saves SSE and AVX state */
}

/* x87 control words each thread runs with: rounding and precision differ. */
static const uint16_t cws[MAXT] = {0x0c7f /* toward zero */, 0x087f /* up, 64-bit */,
                                   0x027f /* 53-bit */};

static void fill(struct hold *h, int t, int me, int next, _Atomic int *turn)
{
    memset(h, 0, sizeof *h);
    for (int r = 0; r < 16; r++)
        for (int j = 0; j < 32; j++)
            h->ymm[r][j] = (uint8_t)(0x11 * (t + 1) + r * 32 + j + (j >= 16 ? 0x80 : 0));
    for (int i = 0; i < 3; i++)
        h->st[i] = (long double)(t + 1) * 1000.0L + (long double)i / 7.0L;
    h->cw = cws[t];
    h->cw_default = 0x37f;
    h->me = me;
    h->next = next;
    h->turn = turn;
}

/* Whether what came back is what went in; the first difference in `why`. */
static int intact(const struct hold *h, char *why, size_t n)
{
    for (int r = 0; r < 16; r++)
        if (memcmp(h->ymm[r], h->out[r], 32) != 0) {
            int half = memcmp(h->ymm[r], h->out[r], 16) == 0;
            snprintf(why, n, "ymm%d's %s half changed", r, half ? "upper" : "lower");
            return 0;
        }
    if ((h->cw_out & 0x1f3f) != (h->cw & 0x1f3f)) {
        snprintf(why, n, "x87 control word %#x, loaded %#x", h->cw_out, h->cw);
        return 0;
    }
    for (int i = 0; i < 3; i++)
        if (memcmp(&h->st[i], &h->st_out[i], 10) != 0) {
            snprintf(why, n, "x87 register %d changed", 2 - i);
            return 0;
        }
    return 1;
}

struct ring {
    _Atomic int turn;
    int n;
    struct hold h[MAXT];
    char why[MAXT][96];
    int bad_round[MAXT];
    _Atomic int signals;
    pid_t tid[MAXT];
    int signal_next; /* thread 1 sends thread 0 a signal before each hand-off */
    int fork_each;   /* thread 1 forks a child that checks its registers */
};

static struct ring ring;

static void *ring_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    struct hold *h = &ring.h[t];
    ring.tid[t] = (pid_t)syscall(SYS_gettid);
    ring.bad_round[t] = -1;
    for (int round = 0; round < ROUNDS; round++) {
        hold_across_handoff(h);
        /* The first difference is kept; the ring goes on for the others. */
        if (ring.bad_round[t] < 0 && !intact(h, ring.why[t], sizeof ring.why[t]))
            ring.bad_round[t] = round;
        memset(h->out, 0, sizeof h->out);
        memset(h->st_out, 0, sizeof h->st_out);
    }
    /* The last move: pass the turn once more, so the next thread's last
     * hand-off comes back. */
    while (atomic_load(h->turn) != h->me)
        syscall(SYS_futex, h->turn, FUTEX_WAIT_PRIVATE, atomic_load(h->turn), NULL, NULL, 0);
    pass_turn(h);
    return NULL;
}

/* Runs `n` threads (the caller is thread 0) in a ring for ROUNDS turns each. */
static int run_ring(int n)
{
    ring.n = n;
    atomic_store(&ring.turn, 0);
    atomic_store(&ring.signals, 0);
    for (int t = 0; t < n; t++)
        fill(&ring.h[t], t, t, (t + 1) % n, &ring.turn);
    pthread_t th[MAXT];
    for (int t = 1; t < n; t++)
        if (pthread_create(&th[t], NULL, ring_thread, (void *)(intptr_t)t) != 0)
            return -1;
    ring_thread((void *)0);
    for (int t = 1; t < n; t++)
        pthread_join(th[t], NULL);
    return 0;
}

static int check_ring(const char *kt_case)
{
    for (int t = 0; t < ring.n; t++)
        if (ring.bad_round[t] >= 0) {
            kt_fail(kt_case, "thread %d, round %d: %s", t, ring.bad_round[t], ring.why[t]);
            return 0;
        }
    return 1;
}

TEST(two_threads_taking_turns_keep_ymm_and_x87) {
    if (!have_avx())
        SKIP("no AVX");
    CHECK(run_ring(2) == 0, "pthread_create failed");
    check_ring(kt_case);
}

TEST(three_threads_taking_turns_keep_ymm_and_x87) {
    if (!have_avx())
        SKIP("no AVX");
    CHECK(run_ring(3) == 0, "pthread_create failed");
    check_ring(kt_case);
}

/* The handler runs with other values in every register it may touch, and
 * leaves them so: sigreturn must bring back the interrupted thread's own. */
static void clobber(int sig)
{
    (void)sig;
    static const uint8_t junk[32] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                     0xca, 0xfe, 0xba, 0xbe, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
    static const uint16_t cw = 0x0e7f;
    __asm__ volatile("vmovdqu (%0), %%ymm0\n\t"
                     "vmovdqa %%ymm0, %%ymm1\n\t"
                     "vmovdqa %%ymm0, %%ymm2\n\t"
                     "vmovdqa %%ymm0, %%ymm3\n\t"
                     "vmovdqa %%ymm0, %%ymm7\n\t"
                     "vmovdqa %%ymm0, %%ymm8\n\t"
                     "vmovdqa %%ymm0, %%ymm15\n\t"
                     "fldcw (%1)\n\t"
                     "fldpi\n\t"
                     "fstp %%st(0)\n\t"
                     "fninit\n\t"
                     :
                     : "r"(junk), "r"(&cw)
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm7", "xmm8", "xmm15", "st", "memory");
    atomic_fetch_add(&ring.signals, 1);
}

static void *signalling_thread(void *arg)
{
    (void)arg;
    struct hold *h = &ring.h[1];
    ring.bad_round[1] = -1;
    pid_t parent = ring.tid[0];
    for (int round = 0; round < ROUNDS; round++) {
        /* Its turn: thread 0 waits in the futex with its registers loaded. */
        while (atomic_load(h->turn) != h->me)
            syscall(SYS_futex, h->turn, FUTEX_WAIT_PRIVATE, atomic_load(h->turn), NULL, NULL, 0);
        if (round > 0)
            syscall(SYS_tgkill, getpid(), parent, SIGUSR1);
        if (ring.fork_each && round % 50 == 1) {
            /* A fork while thread 0 waits with its registers loaded (on
             * Kestrel with one CPU: kept whole, not in its saved copy) must
             * leave them alone. */
            pid_t c = fork();
            if (c == 0)
                _exit(0);
            if (c > 0)
                waitpid(c, NULL, 0);
        }
        pass_turn(h);
    }
    while (atomic_load(h->turn) != h->me)
        syscall(SYS_futex, h->turn, FUTEX_WAIT_PRIVATE, atomic_load(h->turn), NULL, NULL, 0);
    pass_turn(h);
    return NULL;
}

TEST(a_signal_to_the_waiting_thread_leaves_its_ymm_and_x87) {
    if (!have_avx())
        SKIP("no AVX");
    struct sigaction sa = {0}, old;
    sa.sa_handler = clobber;
    sigemptyset(&sa.sa_mask);
    OK(sigaction(SIGUSR1, &sa, &old));
    ring.n = 2;
    atomic_store(&ring.turn, 0);
    atomic_store(&ring.signals, 0);
    fill(&ring.h[0], 0, 0, 1, &ring.turn);
    fill(&ring.h[1], 1, 1, 0, &ring.turn);
    ring.tid[0] = (pid_t)syscall(SYS_gettid);
    ring.bad_round[0] = -1;
    ring.fork_each = 1;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, signalling_thread, NULL) == 0, "pthread_create failed");
    struct hold *h = &ring.h[0];
    for (int round = 0; round < ROUNDS; round++) {
        hold_across_handoff(h);
        if (ring.bad_round[0] < 0 && !intact(h, ring.why[0], sizeof ring.why[0]))
            ring.bad_round[0] = round;
        memset(h->out, 0, sizeof h->out);
        memset(h->st_out, 0, sizeof h->st_out);
    }
    while (atomic_load(h->turn) != h->me)
        syscall(SYS_futex, h->turn, FUTEX_WAIT_PRIVATE, atomic_load(h->turn), NULL, NULL, 0);
    pass_turn(h);
    pthread_join(th, NULL);
    ring.fork_each = 0;
    OK(sigaction(SIGUSR1, &old, NULL));
    CHECK(ring.bad_round[0] < 0, "round %d: %s", ring.bad_round[0], ring.why[0]);
    CHECK(atomic_load(&ring.signals) > 0, "no signal was handled");
}

int main(void)
{
    KT_BEGIN();
    RUN(two_threads_taking_turns_keep_ymm_and_x87);
    RUN(three_threads_taking_turns_keep_ymm_and_x87);
    RUN(a_signal_to_the_waiting_thread_leaves_its_ymm_and_x87);
    return KT_END();
}
