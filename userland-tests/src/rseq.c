/* rseq(2): registration and its errors, the ids the kernel keeps in the
 * area (cpu_id against getcpu, after a move to another CPU), critical
 * sections aborted by a signal and by preemption, a bad descriptor or area
 * (SIGSEGV), fork keeping the registration, execve and a new thread starting
 * without one, PTRACE_GET_RSEQ_CONFIGURATION, and the auxv entries.
 *
 * glibc (2.35 and later) registers an area for every thread itself: on the
 * host the program runs itself again with glibc.pthread.rseq=0 so that the
 * cases start unregistered, as under musl. */
#define KT_AREA "rseq"
#include "kt.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <ucontext.h>

#define NR_RSEQ 334
#define RSEQ_SIG 0x53053053u
#define RSEQ_FLAG_UNREGISTER 1
#define AT_RSEQ_FEATURE_SIZE_ 27
#define AT_RSEQ_ALIGN_ 28
#define PTRACE_GET_RSEQ_CONFIGURATION_ 0x420f

struct rseq_area {
    uint32_t cpu_id_start;
    uint32_t cpu_id;
    uint64_t rseq_cs;
    uint32_t flags;
    uint32_t node_id;
    uint32_t mm_cid;
} __attribute__((aligned(32)));

static long sys_rseq(void *area, uint32_t len, int flags, uint32_t sig)
{
    return syscall(NR_RSEQ, area, len, flags, sig);
}

static struct rseq_area area_a, area_b;
static __thread struct rseq_area tls_area;

static int cpu_now(void)
{
    unsigned cpu = 0;
    if (syscall(SYS_getcpu, &cpu, NULL, NULL) != 0)
        return -1;
    return (int)cpu;
}

/* A critical section that spins until *flag is set: rdi = area, rsi = flag.
 * Returns 0 if it got to its commit point, from the abort handler 1 + the
 * flag (2: aborted for the signal whose handler set it). The 4 bytes before
 * the abort handler are the signature. */
extern char rseq_spin_start[], rseq_spin_commit[], rseq_spin_abort[];
extern int rseq_spin(struct rseq_area *area, volatile int *flag);
/* A section counting rdx down to 0: rdi = area; same returns. */
extern char rseq_count_abort[];
extern int rseq_count(struct rseq_area *area, long unused, long n);
extern char rseq_spin_desc[], rseq_count_desc[];

__asm__(".text\n"
        ".globl rseq_spin, rseq_spin_start, rseq_spin_commit, rseq_spin_abort\n"
        ".type rseq_spin, @function\n"
        "rseq_spin:\n"
        "  leaq rseq_spin_desc(%rip), %rax\n"
        "  movq %rax, 8(%rdi)\n"
        "rseq_spin_start:\n"
        "  cmpl $0, (%rsi)\n"
        "  je rseq_spin_start\n"
        "rseq_spin_commit:\n"
        "  xorl %eax, %eax\n"
        "  ret\n"
        "  .long 0x53053053\n"
        "rseq_spin_abort:\n"
        "  movl (%rsi), %eax\n"
        "  addl $1, %eax\n"
        "  ret\n"
        ".size rseq_spin, .-rseq_spin\n"
        ".globl rseq_count, rseq_count_abort\n"
        ".type rseq_count, @function\n"
        "rseq_count:\n"
        "  leaq rseq_count_desc(%rip), %rax\n"
        "  movq %rax, 8(%rdi)\n"
        ".Lcount_start:\n"
        "  decq %rdx\n"
        "  jnz .Lcount_start\n"
        ".Lcount_commit:\n"
        "  xorl %eax, %eax\n"
        "  ret\n"
        "  .long 0x53053053\n"
        "rseq_count_abort:\n"
        "  movl $1, %eax\n"
        "  ret\n"
        ".size rseq_count, .-rseq_count\n"
        ".data\n"
        ".balign 32\n"
        ".globl rseq_spin_desc, rseq_count_desc\n"
        "rseq_spin_desc:\n"
        "  .long 0, 0\n"
        "  .quad rseq_spin_start, rseq_spin_commit - rseq_spin_start, rseq_spin_abort\n"
        ".balign 32\n"
        "rseq_count_desc:\n"
        "  .long 0, 0\n"
        "  .quad .Lcount_start, .Lcount_commit - .Lcount_start, rseq_count_abort\n"
        ".text\n");

TEST(unregister_without_registration_is_einval)
{
    EXPECT_ERRNO(sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG), EINVAL);
}

TEST(bad_length_alignment_or_flags_is_einval)
{
    EXPECT_ERRNO(sys_rseq(&area_a, 16, 0, RSEQ_SIG), EINVAL);
    EXPECT_ERRNO(sys_rseq(&area_a, 31, 0, RSEQ_SIG), EINVAL);
    EXPECT_ERRNO(sys_rseq((char *)&area_a + 8, 32, 0, RSEQ_SIG), EINVAL);
    EXPECT_ERRNO(sys_rseq((char *)&area_a + 16, 64, 0, RSEQ_SIG), EINVAL);
    EXPECT_ERRNO(sys_rseq(&area_a, 32, 0x100, RSEQ_SIG), EINVAL);
    EXPECT_ERRNO(sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER | 0x100, RSEQ_SIG), EINVAL);
}

TEST(kernel_address_is_efault)
{
    EXPECT_ERRNO(sys_rseq((void *)0xffffffffffffffe0ul, 32, 0, RSEQ_SIG), EFAULT);
    EXPECT_ERRNO(sys_rseq((void *)0xffff800000000000ul, 32, 0, RSEQ_SIG), EFAULT);
}

TEST(unmapped_area_is_efault)
{
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED, "mmap");
    OK(munmap(page, 4096));
    /* Registration reads rseq_cs: a hole is EFAULT, nothing registered. */
    EXPECT_ERRNO(sys_rseq(page, 32, 0, RSEQ_SIG), EFAULT);
    EXPECT_ERRNO(sys_rseq(page, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG), EINVAL);
    EXPECT_ERRNO(sys_rseq(NULL, 32, 0, RSEQ_SIG), EFAULT);
}

TEST(registration_clears_a_stale_rseq_cs)
{
    memset(&area_b, 0, sizeof area_b);
    /* Not a descriptor: acting on it at the first update would kill. */
    area_b.rseq_cs = 0x1234;
    EXPECT_EQ(sys_rseq(&area_b, 32, 0, RSEQ_SIG), 0);
    uint64_t cs = *(volatile uint64_t *)&area_b.rseq_cs;
    sched_yield();
    EXPECT_EQ(sys_rseq(&area_b, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG), 0);
    EXPECT_EQ(cs, 0);
}

TEST(register_fills_ids_and_second_registration_errors)
{
    memset(&area_a, 0, sizeof area_a);
    area_a.cpu_id = 0xfffffffe;
    EXPECT_EQ(sys_rseq(&area_a, 32, 0, RSEQ_SIG), 0);
    /* The ids are written before the call returns to user mode. */
    int ok = 0;
    for (int i = 0; i < 100 && !ok; i++) {
        uint32_t c1 = *(volatile uint32_t *)&area_a.cpu_id;
        int g = cpu_now();
        uint32_t c2 = *(volatile uint32_t *)&area_a.cpu_id;
        uint32_t s = *(volatile uint32_t *)&area_a.cpu_id_start;
        ok = c1 == (uint32_t)g && c2 == c1 && s == c1;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    uint32_t cid = area_a.mm_cid, node = area_a.node_id;
    /* Already registered: the same area and signature is EBUSY, another
     * area or length EINVAL, another signature EPERM. */
    errno = 0;
    long busy = sys_rseq(&area_a, 32, 0, RSEQ_SIG);
    int busy_errno = errno;
    errno = 0;
    long other = sys_rseq(&area_b, 32, 0, RSEQ_SIG);
    int other_errno = errno;
    errno = 0;
    long len = sys_rseq(&area_a, 64, 0, RSEQ_SIG);
    int len_errno = errno;
    errno = 0;
    long sig = sys_rseq(&area_a, 32, 0, RSEQ_SIG + 1);
    int sig_errno = errno;
    /* Unregistering: the wrong signature is EPERM, another area EINVAL. */
    errno = 0;
    long usig = sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG + 1);
    int usig_errno = errno;
    errno = 0;
    long uarea = sys_rseq(&area_b, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
    int uarea_errno = errno;
    long unreg = sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
    CHECK(ok, "cpu_id %u / cpu_id_start %u never matched getcpu %d", area_a.cpu_id,
          area_a.cpu_id_start, cpu_now());
    CHECK(node == 0, "node_id %u", node);
    CHECK(ncpu <= 0 || cid < (uint32_t)ncpu, "mm_cid %u with %ld CPUs", cid, ncpu);
    CHECK(busy == -1 && busy_errno == EBUSY, "again: %ld %s", busy, kt_errstr(busy_errno));
    CHECK(other == -1 && other_errno == EINVAL, "other area: %ld %s", other,
          kt_errstr(other_errno));
    CHECK(len == -1 && len_errno == EINVAL, "other length: %ld %s", len, kt_errstr(len_errno));
    CHECK(sig == -1 && sig_errno == EPERM, "other sig: %ld %s", sig, kt_errstr(sig_errno));
    CHECK(usig == -1 && usig_errno == EPERM, "unregister, other sig: %ld %s", usig,
          kt_errstr(usig_errno));
    CHECK(uarea == -1 && uarea_errno == EINVAL, "unregister, other area: %ld %s", uarea,
          kt_errstr(uarea_errno));
    CHECK(unreg == 0, "unregister: %ld %s", unreg, kt_errstr(errno));
    /* Unregistering resets the ids: cpu_id RSEQ_CPU_ID_UNINITIALIZED. */
    EXPECT_EQ(area_a.cpu_id, 0xffffffffu);
    EXPECT_EQ(area_a.cpu_id_start, 0);
    EXPECT_EQ(area_a.mm_cid, 0);
    EXPECT_ERRNO(sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG), EINVAL);
}

TEST(extended_length_registers)
{
    static struct {
        struct rseq_area a;
        char more[32];
    } big __attribute__((aligned(32)));
    EXPECT_EQ(sys_rseq(&big, sizeof big, 0, RSEQ_SIG), 0);
    uint32_t cpu = big.a.cpu_id;
    EXPECT_EQ(sys_rseq(&big, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == -1 && errno == EINVAL, 1);
    EXPECT_EQ(sys_rseq(&big, sizeof big, RSEQ_FLAG_UNREGISTER, RSEQ_SIG), 0);
    CHECK(cpu < 4096, "cpu_id %u", cpu);
}

TEST(auxv_gives_feature_size_and_alignment)
{
    unsigned long size = getauxval(AT_RSEQ_FEATURE_SIZE_);
    unsigned long align = getauxval(AT_RSEQ_ALIGN_);
    CHECK(size >= 28, "AT_RSEQ_FEATURE_SIZE %lu", size);
    EXPECT_EQ(align, 32);
}

TEST(cpu_id_follows_the_thread_to_another_cpu)
{
    cpu_set_t old;
    OK(sched_getaffinity(0, sizeof old, &old));
    if (CPU_COUNT(&old) < 2)
        SKIP("one CPU");
    EXPECT_EQ(sys_rseq(&area_a, 32, 0, RSEQ_SIG), 0);
    int moves = 0, bad = -1;
    uint32_t seen = 0;
    for (int round = 0; round < 2; round++) {
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (!CPU_ISSET(c, &old))
                continue;
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(c, &one);
            if (sched_setaffinity(0, sizeof one, &one) != 0)
                continue;
            seen = *(volatile uint32_t *)&area_a.cpu_id;
            if (seen != (uint32_t)c || area_a.cpu_id_start != (uint32_t)c) {
                bad = c;
                break;
            }
            moves++;
        }
    }
    sched_setaffinity(0, sizeof old, &old);
    long unreg = sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
    CHECK(bad < 0, "pinned to CPU %d, cpu_id says %u", bad, seen);
    CHECK(moves >= 2, "%d moves", moves);
    EXPECT_EQ(unreg, 0);
}

static volatile int got_sig;
static volatile uint64_t sig_rip;
static volatile uint64_t sig_cs;

static void on_alarm(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    sig_rip = (uint64_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
    sig_cs = area_a.rseq_cs;
    got_sig = 1;
}

TEST(signal_aborts_a_critical_section_before_its_handler_runs)
{
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = on_alarm;
    sa.sa_flags = SA_SIGINFO;
    OK(sigaction(SIGALRM, &sa, &old));
    EXPECT_EQ(sys_rseq(&area_a, 32, 0, RSEQ_SIG), 0);
    int r = -1, tries = 0;
    for (; tries < 500; tries++) {
        got_sig = 0;
        sig_rip = 0;
        struct itimerval it = {.it_value = {.tv_usec = 5000}};
        OK(setitimer(ITIMER_REAL, &it, NULL));
        r = rseq_spin(&area_a, &got_sig);
        if (r == 2)
            break;
        int in_section = sig_rip >= (uint64_t)rseq_spin_start && sig_rip < (uint64_t)rseq_spin_commit;
        /* A commit is a failure if the handler interrupted the section (not
         * if the signal came before it started). */
        if (r == 0 && in_section)
            break;
        /* An abort before the signal (preemption) spins again. */
        while (!got_sig)
            ;
    }
    uint64_t cs_after = area_a.rseq_cs;
    long unreg = sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
    sigaction(SIGALRM, &old, NULL);
    CHECK(r == 2, "the section committed after its handler ran (r %d, %d tries)", r, tries);
    /* The handler's frame holds the abort handler's address, not the
     * interrupted one, and rseq_cs was cleared before the handler ran. */
    CHECK(sig_rip == (uint64_t)rseq_spin_abort, "handler saw rip %#lx, abort_ip %p",
          (unsigned long)sig_rip, (void *)rseq_spin_abort);
    EXPECT_EQ(sig_cs, 0);
    EXPECT_EQ(cs_after, 0);
    EXPECT_EQ(unreg, 0);
}

static atomic_int burn_stop;

static void *burn(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&burn_stop, memory_order_relaxed))
        ;
    return NULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

TEST(preemption_aborts_a_critical_section)
{
    cpu_set_t old, one;
    OK(sched_getaffinity(0, sizeof old, &old));
    int cpu = cpu_now();
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    OK(sched_setaffinity(0, sizeof one, &one));
    /* A thread that burns the same CPU: this one is preempted in its
     * sections. (The new thread inherits the one-CPU affinity.) */
    atomic_store(&burn_stop, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, burn, NULL) == 0, "pthread_create");
    EXPECT_EQ(sys_rseq(&area_a, 32, 0, RSEQ_SIG), 0);
    int aborts = 0, commits = 0;
    uint64_t end = now_ns() + 5000000000ull;
    while (aborts == 0 && now_ns() < end) {
        if (rseq_count(&area_a, 0, 5000000) == 1)
            aborts++;
        else
            commits++;
    }
    uint64_t cs_after = area_a.rseq_cs;
    long unreg = sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
    atomic_store(&burn_stop, 1);
    pthread_join(t, NULL);
    sched_setaffinity(0, sizeof old, &old);
    CHECK(aborts > 0, "no abort in %d sections", commits);
    EXPECT_EQ(cs_after, 0);
    EXPECT_EQ(unreg, 0);
}

static void on_usr1(int sig)
{
    (void)sig;
}

static void bad_signature(void *arg)
{
    (void)arg;
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    if (sys_rseq(&area_a, 32, 0, RSEQ_SIG + 1) != 0)
        _exit(2);
    /* The descriptor's abort handler is preceded by RSEQ_SIG, not the
     * registered signature: the next update kills with SIGSEGV. */
    area_a.rseq_cs = (uint64_t)rseq_spin_desc;
    raise(SIGUSR1);
    _exit(3);
}

TEST(descriptor_with_wrong_signature_is_sigsegv)
{
    int st = kt_in_child(bad_signature, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child %s", kt_status(st));
}

static void bad_version(void *arg)
{
    (void)arg;
    static struct {
        uint32_t version, flags;
        uint64_t start, off, abort;
    } __attribute__((aligned(32))) cs;
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    if (sys_rseq(&area_a, 32, 0, RSEQ_SIG) != 0)
        _exit(2);
    cs.version = 1;
    cs.start = (uint64_t)rseq_spin_start;
    cs.off = (uint64_t)(rseq_spin_commit - rseq_spin_start);
    cs.abort = (uint64_t)rseq_spin_abort;
    area_a.rseq_cs = (uint64_t)&cs;
    raise(SIGUSR1);
    _exit(3);
}

TEST(descriptor_with_unknown_version_is_sigsegv)
{
    int st = kt_in_child(bad_version, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child %s", kt_status(st));
}

static void unwritable_area(void *arg)
{
    (void)arg;
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED || sys_rseq(page, 32, 0, RSEQ_SIG) != 0)
        _exit(2);
    if (mprotect(page, 4096, PROT_READ) != 0)
        _exit(2);
    /* A signal updates the area: it cannot be written. */
    raise(SIGUSR1);
    _exit(3);
}

TEST(area_that_cannot_be_written_is_sigsegv)
{
    int st = kt_in_child(unwritable_area, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child %s", kt_status(st));
}

static void unregister_unmapped(void *arg)
{
    (void)arg;
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED || sys_rseq(page, 32, 0, RSEQ_SIG) != 0)
        _exit(2);
    munmap(page, 4096);
    /* (Were the thread preempted right here, its update would kill it.) */
    errno = 0;
    long r = sys_rseq(page, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
    _exit(r == -1 && errno == EFAULT ? 0 : 4);
}

TEST(unregistering_an_unmapped_area_is_efault)
{
    int st = -1;
    for (int i = 0; i < 3; i++) {
        st = kt_in_child(unregister_unmapped, NULL);
        if (!WIFSIGNALED(st))
            break;
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", kt_status(st));
}

static void forked_child(void *arg)
{
    (void)arg;
    /* The parent's registration, at the same address. */
    errno = 0;
    if (sys_rseq(&area_a, 32, 0, RSEQ_SIG) != -1 || errno != EBUSY)
        _exit(2);
    if (area_a.cpu_id != (uint32_t)cpu_now() && area_a.cpu_id != (uint32_t)cpu_now())
        _exit(3);
    if (sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != 0)
        _exit(4);
    _exit(0);
}

TEST(fork_keeps_the_registration)
{
    EXPECT_EQ(sys_rseq(&area_a, 32, 0, RSEQ_SIG), 0);
    int st = kt_in_child(forked_child, NULL);
    long unreg = sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", kt_status(st));
    EXPECT_EQ(unreg, 0);
}

static char self_path[PATH_MAX];

TEST(execve_clears_the_registration)
{
    EXPECT_EQ(sys_rseq(&area_a, 32, 0, RSEQ_SIG), 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self_path, self_path, "--after-exec", (char *)NULL);
        _exit(9);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    long unreg = sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exec'd child %s", kt_status(st));
    EXPECT_EQ(unreg, 0);
}

/* In the exec'd image: nothing registered (the same static binary puts
 * area_a at the same address, where the old registration would be EBUSY). */
static int after_exec(void)
{
    errno = 0;
    if (sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != -1 || errno != EINVAL)
        return 1;
    if (sys_rseq(&area_a, 32, 0, RSEQ_SIG) != 0)
        return 2;
    if (sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != 0)
        return 3;
    return 0;
}

static void *thread_main(void *arg)
{
    (void)arg;
    long r = 0;
    errno = 0;
    /* Not the creator's area, and none of its own. */
    if (sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != -1 || errno != EINVAL)
        r = 1;
    else if (sys_rseq(&tls_area, 32, 0, RSEQ_SIG) != 0)
        r = 2;
    else if (tls_area.cpu_id != (uint32_t)cpu_now() && tls_area.cpu_id != (uint32_t)cpu_now())
        r = 3;
    else if (sys_rseq(&tls_area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != 0)
        r = 4;
    return (void *)r;
}

TEST(new_thread_starts_unregistered)
{
    EXPECT_EQ(sys_rseq(&area_a, 32, 0, RSEQ_SIG), 0);
    pthread_t t;
    void *r = (void *)-1;
    int made = pthread_create(&t, NULL, thread_main, NULL);
    if (made == 0)
        pthread_join(t, &r);
    long unreg = sys_rseq(&area_a, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
    CHECK(made == 0, "pthread_create");
    EXPECT_EQ((long)r, 0);
    EXPECT_EQ(unreg, 0);
}

TEST(ptrace_reports_the_registration)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(2);
        if (sys_rseq(&area_a, 32, 0, RSEQ_SIG) != 0)
            _exit(3);
        raise(SIGSTOP);
        _exit(0);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    struct {
        uint64_t ptr;
        uint32_t size, sig, flags, pad;
    } conf;
    memset(&conf, 0xff, sizeof conf);
    errno = 0;
    long r = ptrace(PTRACE_GET_RSEQ_CONFIGURATION_, pid, (void *)sizeof conf, &conf);
    int e = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(WIFSTOPPED(st), "child %s", kt_status(st));
    CHECK(r == 24, "PTRACE_GET_RSEQ_CONFIGURATION: %ld %s", r, kt_errstr(e));
    EXPECT_EQ(conf.ptr, (uint64_t)&area_a);
    EXPECT_EQ(conf.size, 32);
    EXPECT_EQ(conf.sig, RSEQ_SIG);
    EXPECT_EQ(conf.flags, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--after-exec"))
        return after_exec();
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0)
        self_path[n] = 0;
#ifdef __GLIBC__
    /* glibc registers its own area for each thread: run again without. */
    const char *tun = getenv("GLIBC_TUNABLES");
    if ((!tun || !strstr(tun, "glibc.pthread.rseq=0")) && n > 0) {
        setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
        execv(self_path, argv);
    }
#endif
    KT_BEGIN();
    RUN(unregister_without_registration_is_einval);
    RUN(bad_length_alignment_or_flags_is_einval);
    RUN(kernel_address_is_efault);
    RUN(unmapped_area_is_efault);
    RUN(registration_clears_a_stale_rseq_cs);
    RUN(register_fills_ids_and_second_registration_errors);
    RUN(extended_length_registers);
    RUN(auxv_gives_feature_size_and_alignment);
    RUN(cpu_id_follows_the_thread_to_another_cpu);
    RUN(signal_aborts_a_critical_section_before_its_handler_runs);
    RUN(preemption_aborts_a_critical_section);
    RUN(descriptor_with_wrong_signature_is_sigsegv);
    RUN(descriptor_with_unknown_version_is_sigsegv);
    RUN(area_that_cannot_be_written_is_sigsegv);
    RUN(unregistering_an_unmapped_area_is_efault);
    RUN(fork_keeps_the_registration);
    RUN(execve_clears_the_registration);
    RUN(new_thread_starts_unregistered);
    RUN(ptrace_reports_the_registration);
    return KT_END();
}
