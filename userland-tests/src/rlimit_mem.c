/*
 * rlimit_mem.c - RLIMIT_AS, RLIMIT_DATA and RLIMIT_STACK bound an address space.
 *
 * Every case runs in a forked child, so the limits it lowers never reach the
 * rest of the suite. Sizes are far from what a small static program uses, so the
 * outcome does not depend on how much the libc mapped at start-up.
 */
#define KT_AREA "rlimit_mem"
#include "kt.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define MIB (1024UL * 1024UL)

static int set_limit(int resource, rlim_t bytes)
{
    struct rlimit rl = {bytes, bytes};
    return setrlimit(resource, &rl);
}

/* Runs `fn` in a child (kt_in_child); `fn` returns 0, or the number of the step
 * that failed, which becomes the child's exit status. */
#define CHILD_STEPS(fn)                                                                     \
    do {                                                                                    \
        int st_ = kt_in_child(run_steps, (void *)(fn));                                     \
        CHECK(st_ != -1 && WIFEXITED(st_) && WEXITSTATUS(st_) == 0,                          \
              "child %s (the code is the failed step in " #fn ")", kt_status(st_));         \
    } while (0)

static void run_steps(void *fn)
{
    _exit(((int (*)(void))fn)());
}

/* mmap that reports errno as a negative number (0 when it worked) */
static long map(size_t len, int prot, int flags)
{
    void *p = mmap(NULL, len, prot, flags, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    munmap(p, len);
    return 0;
}

static int as_limit_bounds_every_mapping(void)
{
    if (set_limit(RLIMIT_AS, 256 * MIB) != 0)
        return 1;
    if (map(512 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS) != -ENOMEM)
        return 2; /* even inaccessible memory counts */
    if (map(512 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS) != -ENOMEM)
        return 3;
    if (map(16 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) != 0)
        return 4;
    return 0;
}

TEST(rlimit_as_makes_large_mmaps_fail_with_enomem) {
    CHILD_STEPS(as_limit_bounds_every_mapping);
}

static int as_limit_bounds_mremap(void)
{
    char *p = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    if (set_limit(RLIMIT_AS, 256 * MIB) != 0)
        return 2;
    errno = 0;
    void *q = mremap(p, 4 * MIB, 512 * MIB, MREMAP_MAYMOVE);
    if (q != MAP_FAILED || errno != ENOMEM)
        return 3;
    q = mremap(p, 4 * MIB, 8 * MIB, MREMAP_MAYMOVE);
    if (q == MAP_FAILED)
        return 4;
    return 0;
}

TEST(rlimit_as_makes_growing_mremap_fail_with_enomem) {
    CHILD_STEPS(as_limit_bounds_mremap);
}

static int data_limit_bounds_private_writable(void)
{
    if (set_limit(RLIMIT_DATA, 64 * MIB) != 0)
        return 1;
    if (map(128 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) != -ENOMEM)
        return 2;
    if (map(16 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) != 0)
        return 3;
    /* read-only and shared mappings are not data */
    if (map(128 * MIB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS) != 0)
        return 4;
    if (map(128 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS) != 0)
        return 5;
    return 0;
}

TEST(rlimit_data_bounds_private_writable_mappings_only) {
    CHILD_STEPS(data_limit_bounds_private_writable);
}

static int data_limit_bounds_brk(void)
{
    if (set_limit(RLIMIT_DATA, 64 * MIB) != 0)
        return 1;
    /* The raw call: it returns the new break, or the old one when refused. */
    unsigned long start = (unsigned long)syscall(SYS_brk, 0);
    if ((unsigned long)syscall(SYS_brk, start + 128 * MIB) != start)
        return 2;
    if ((unsigned long)syscall(SYS_brk, 0) != start)
        return 3;
    if ((unsigned long)syscall(SYS_brk, start + MIB) != start + MIB)
        return 4;
    return 0;
}

TEST(rlimit_data_makes_brk_fail_and_keeps_the_break) {
    CHILD_STEPS(data_limit_bounds_brk);
}

/* Uses about 64 KiB of stack per level, so the limit is reached quickly. */
static int recurse(int depth)
{
    volatile char frame[64 * 1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = (char)depth;
    if (depth == 0)
        return frame[0];
    return recurse(depth - 1) + frame[sizeof frame - 1];
}

TEST(rlimit_stack_stops_stack_growth_with_sigsegv) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        set_limit(RLIMIT_STACK, 512 * 1024);
        recurse(64); /* about 4 MiB: far past the limit */
        _exit(0);
    }
    CHECK(pid > 0, "fork failed");
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child %s, expected SIGSEGV", kt_status(st));
}

TEST(stack_grows_within_rlimit_stack) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        set_limit(RLIMIT_STACK, 8 * MIB);
        recurse(32); /* about 2 MiB */
        _exit(7);
    }
    CHECK(pid > 0, "fork failed");
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "child %s, expected exit 7", kt_status(st));
}

int main(void)
{
    KT_BEGIN();
    RUN(rlimit_as_makes_large_mmaps_fail_with_enomem);
    RUN(rlimit_as_makes_growing_mremap_fail_with_enomem);
    RUN(rlimit_data_bounds_private_writable_mappings_only);
    RUN(rlimit_data_makes_brk_fail_and_keeps_the_break);
    RUN(rlimit_stack_stops_stack_growth_with_sigsegv);
    RUN(stack_grows_within_rlimit_stack);
    return KT_END();
}
