/*
 * fpu.c - every thread keeps its own FPU, SSE and AVX registers.
 *
 * The kernel switches vector state between threads lazily; these cases make two
 * processes run with different register contents and rounding modes across many
 * preemptions and syscalls, and check nothing leaks or is lost.
 */
#define KT_AREA "fpu"
#include "kt.h"

#include <fenv.h>
#include <sched.h>

/* Loads xmm0..xmm7 from `pat`, runs `spins` busy iterations and a sched_yield
 * every 1024 of them, then stores the registers back to `out`. */
static void hold_xmm(const uint8_t pat[8][16], uint8_t out[8][16], long spins)
{
    __asm__ volatile(
        "movdqu 0(%[p]), %%xmm0\n\t"
        "movdqu 16(%[p]), %%xmm1\n\t"
        "movdqu 32(%[p]), %%xmm2\n\t"
        "movdqu 48(%[p]), %%xmm3\n\t"
        "movdqu 64(%[p]), %%xmm4\n\t"
        "movdqu 80(%[p]), %%xmm5\n\t"
        "movdqu 96(%[p]), %%xmm6\n\t"
        "movdqu 112(%[p]), %%xmm7\n\t"
        "mov %[n], %%r8\n\t"
        "1:\n\t"
        "test $1023, %%r8\n\t"
        "jnz 2f\n\t"
        "mov $24, %%eax\n\t" /* sched_yield */
        "syscall\n\t"
        "2:\n\t"
        "dec %%r8\n\t"
        "jnz 1b\n\t"
        "movdqu %%xmm0, 0(%[o])\n\t"
        "movdqu %%xmm1, 16(%[o])\n\t"
        "movdqu %%xmm2, 32(%[o])\n\t"
        "movdqu %%xmm3, 48(%[o])\n\t"
        "movdqu %%xmm4, 64(%[o])\n\t"
        "movdqu %%xmm5, 80(%[o])\n\t"
        "movdqu %%xmm6, 96(%[o])\n\t"
        "movdqu %%xmm7, 112(%[o])\n\t"
        :
        : [p] "r"(pat), [o] "r"(out), [n] "r"(spins)
        : "rax", "rcx", "r11", "r8", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
}

static void fill(uint8_t pat[8][16], uint8_t seed)
{
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 16; j++)
            pat[i][j] = (uint8_t)(seed * 31 + i * 16 + j);
}

/* Runs hold_xmm in this process; returns 0 if every register came back intact. */
static int check_own_registers(uint8_t seed)
{
    uint8_t pat[8][16], out[8][16];
    fill(pat, seed);
    for (int round = 0; round < 20; round++) {
        memset(out, 0, sizeof out);
        hold_xmm(pat, out, 200000);
        if (memcmp(pat, out, sizeof pat) != 0)
            return 1;
    }
    return 0;
}

TEST(sse_registers_survive_preemption_by_another_process) {
    pid_t child = fork();
    CHECK(child >= 0, "fork: %s", strerror(errno));
    if (child == 0)
        _exit(check_own_registers(0xa5));
    int mine = check_own_registers(0x3c);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child, "waitpid: %s", strerror(errno));
    CHECK(mine == 0, "the parent's xmm registers changed while the child ran");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's xmm registers changed (status %#x)", status);
}

static volatile double sink;

/* 1.0 / 3.0 rounded with the current mode, as raw bits. */
static uint64_t third(void)
{
    volatile double one = 1.0, three = 3.0;
    double q = one / three;
    uint64_t bits;
    memcpy(&bits, &q, sizeof bits);
    return bits;
}

TEST(rounding_mode_is_per_process) {
    uint64_t nearest = third();
    int pipefd[2];
    CHECK(pipe(pipefd) == 0, "pipe: %s", strerror(errno));
    pid_t child = fork();
    CHECK(child >= 0, "fork: %s", strerror(errno));
    if (child == 0) {
        close(pipefd[0]);
        fesetround(FE_UPWARD);
        uint64_t up = third();
        for (int i = 0; i < 200; i++)
            sched_yield();
        int ok = fegetround() == FE_UPWARD && third() == up && up != nearest;
        char c = ok ? 'y' : 'n';
        if (write(pipefd[1], &c, 1) != 1)
            _exit(2);
        _exit(ok ? 0 : 1);
    }
    close(pipefd[1]);
    for (int i = 0; i < 200; i++)
        sched_yield();
    char c = 0;
    CHECK(read(pipefd[0], &c, 1) == 1, "read from child: %s", strerror(errno));
    close(pipefd[0]);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child, "waitpid: %s", strerror(errno));
    CHECK(c == 'y', "the child's rounding mode did not stick");
    CHECK(fegetround() == FE_TONEAREST, "the parent's rounding mode changed to %d", fegetround());
    CHECK(third() == nearest, "the parent's division rounds differently now");
}

TEST(fork_child_starts_with_the_parents_vector_registers) {
    uint8_t pat[16], seen[16];
    for (int i = 0; i < 16; i++)
        pat[i] = (uint8_t)(0x70 + i);
    pid_t child;
    /* Load xmm7 and fork from assembly so nothing between can touch xmm7. */
    __asm__ volatile(
        "movdqu (%[p]), %%xmm7\n\t"
        "mov $57, %%eax\n\t" /* fork */
        "syscall\n\t"
        "movdqu %%xmm7, (%[s])\n\t"
        : "=a"(child)
        : [p] "r"(pat), [s] "r"(seen)
        : "rcx", "r11", "memory", "xmm7");
    if (child == 0)
        _exit(memcmp(pat, seen, 16) == 0 ? 0 : 1);
    CHECK(child > 0, "fork failed: %ld", (long)child);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child, "waitpid: %s", strerror(errno));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw different xmm7 (status %#x)", status);
    CHECK(memcmp(pat, seen, 16) == 0, "the parent's xmm7 changed across fork");
}

int main(void)
{
    KT_BEGIN();
    RUN(sse_registers_survive_preemption_by_another_process);
    RUN(rounding_mode_is_per_process);
    RUN(fork_child_starts_with_the_parents_vector_registers);
    (void)sink;
    return KT_END();
}
