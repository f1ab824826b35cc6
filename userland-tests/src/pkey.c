/*
 * pkey.c - memory protection keys: pkey_alloc(2), pkey_free(2),
 * pkey_mprotect(2).
 *
 * As asserted here:
 *   - pkey_alloc: flags other than 0, or access rights beyond
 *     PKEY_DISABLE_ACCESS|PKEY_DISABLE_WRITE, are EINVAL; on a CPU without
 *     protection keys (no PKU/OSPKE) it is ENOSPC (only key 0 exists).
 *   - pkey_free of a key that is not allocated (-1, 16, a free key) is EINVAL;
 *     key 0 counts as allocated where there are protection keys, and is not
 *     allocated (EINVAL) where there are none.
 *   - pkey_mprotect with a key that is not allocated is EINVAL (an unaligned
 *     address first: EINVAL too, and length 0 succeeds); with -1 it is
 *     mprotect; with key 0 it works where there are protection keys.
 *   - With protection keys (skipped otherwise): up to 15 keys besides 0, then
 *     ENOSPC; the new key's rights appear in PKRU (rdpkru); a page given a key
 *     with PKEY_DISABLE_ACCESS kills a reader with SIGSEGV, si_code
 *     SEGV_PKUERR, si_pkey the key; PKEY_DISABLE_WRITE lets reads through and
 *     stops writes; back on key 0 the page is usable; a child of fork keeps
 *     the rights; a freed key can be allocated again.
 */
#define KT_AREA "pkey"
#include "kt.h"

#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef SYS_pkey_mprotect
#define SYS_pkey_mprotect 329
#define SYS_pkey_alloc 330
#define SYS_pkey_free 331
#endif
#define DISABLE_ACCESS 1
#define DISABLE_WRITE 2
#ifndef SEGV_PKUERR
#define SEGV_PKUERR 4
#endif

static long palloc(unsigned long flags, unsigned long rights)
{
    return syscall(SYS_pkey_alloc, flags, rights);
}
static long pfree(int k)
{
    return syscall(SYS_pkey_free, k);
}
static long pmprotect(void *a, size_t len, int prot, int k)
{
    return syscall(SYS_pkey_mprotect, a, len, prot, k);
}

/* Whether this CPU and kernel give out protection keys. */
static int have_pkeys(void)
{
    long k = palloc(0, 0);
    if (k < 0)
        return 0;
    pfree((int)k);
    return 1;
}

static uint32_t rdpkru(void)
{
    uint32_t eax, edx;
    __asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
    return eax;
}

TEST(alloc_bad_flags_or_rights_is_einval)
{
    EXPECT_ERRNO(palloc(1, 0), EINVAL);
    EXPECT_ERRNO(palloc(0, 4), EINVAL);
    EXPECT_ERRNO(palloc(0, ~0UL), EINVAL);
}

TEST(alloc_without_protection_keys_is_enospc)
{
    if (have_pkeys())
        SKIP("this CPU has protection keys");
    EXPECT_ERRNO(palloc(0, 0), ENOSPC);
    EXPECT_ERRNO(palloc(0, DISABLE_WRITE), ENOSPC);
}

TEST(free_of_a_key_not_allocated_is_einval)
{
    EXPECT_ERRNO(pfree(-1), EINVAL);
    EXPECT_ERRNO(pfree(16), EINVAL);
    EXPECT_ERRNO(pfree(9), EINVAL);
}

TEST(mprotect_with_a_key_not_allocated_is_einval)
{
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap");
    EXPECT_ERRNO(pmprotect(p, 4096, PROT_READ, 9), EINVAL);
    EXPECT_ERRNO(pmprotect(p, 4096, PROT_READ, 16), EINVAL);
    EXPECT_ERRNO(pmprotect(p, 4096, PROT_READ, -2), EINVAL);
    EXPECT_ERRNO(pmprotect(p + 1, 4096, PROT_READ, 9), EINVAL);
    EXPECT_EQ(pmprotect(p, 0, PROT_READ, 9), 0);
    munmap(p, 4096);
}

TEST(mprotect_with_minus_1_is_mprotect_and_key_0_needs_pkeys)
{
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap");
    p[0] = 1;
    EXPECT_EQ(pmprotect(p, 8192, PROT_READ, -1), 0);
    if (have_pkeys()) {
        EXPECT_EQ(pmprotect(p, 8192, PROT_READ | PROT_WRITE, 0), 0);
    } else {
        /* Without protection keys not even key 0 is allocated. */
        EXPECT_ERRNO(pmprotect(p, 8192, PROT_READ | PROT_WRITE, 0), EINVAL);
        EXPECT_ERRNO(pfree(0), EINVAL);
        EXPECT_EQ(mprotect(p, 8192, PROT_READ | PROT_WRITE), 0);
    }
    p[4096] = 2;
    EXPECT_EQ(p[0] + p[4096], 3);
    EXPECT_ERRNO(pmprotect(p, 8192 * 1024, PROT_READ, -1), ENOMEM);
    munmap(p, 8192);
}

TEST(fifteen_keys_then_enospc_and_rights_in_pkru)
{
    if (!have_pkeys())
        SKIP("no protection keys on this CPU");
    int keys[16], n = 0;
    long k;
    while (n < 16 && (k = palloc(0, DISABLE_WRITE)) >= 0)
        keys[n++] = (int)k;
    int e = errno;
    for (int i = 0; i < n; i++)
        pfree(keys[i]);
    CHECK(n >= 1 && n <= 15, "got %d keys", n);
    EXPECT_EQ(e, ENOSPC);
    k = OK(palloc(0, DISABLE_WRITE));
    uint32_t pkru = rdpkru();
    EXPECT_EQ((pkru >> (2 * k)) & 3, DISABLE_WRITE);
    EXPECT_EQ(pkru & 3, 0);
    EXPECT_EQ(pfree((int)k), 0);
    EXPECT_ERRNO(pfree((int)k), EINVAL);
    long again = OK(palloc(0, 0));
    EXPECT_EQ((rdpkru() >> (2 * again)) & 3, 0);
    pfree((int)again);
}

static char *target;
static int target_key;

static void read_target(void *arg)
{
    (void)arg;
    volatile char c = *(volatile char *)target;
    (void)c;
}

static void write_target(void *arg)
{
    (void)arg;
    *(volatile char *)target = 'x';
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    int pkey;
    memcpy(&pkey, (char *)si + 0x20, sizeof pkey); /* si_pkey */
    _exit(si->si_code == SEGV_PKUERR && pkey == target_key && si->si_addr == target ? 42 : 43);
}

static void read_target_catching(void *arg)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    read_target(arg);
}

TEST(a_key_that_disables_access_faults_with_segv_pkuerr)
{
    if (!have_pkeys())
        SKIP("no protection keys on this CPU");
    target = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(target != MAP_FAILED, "mmap");
    target[0] = 'a';
    target_key = (int)OK(palloc(0, DISABLE_ACCESS));
    EXPECT_EQ(pmprotect(target, 4096, PROT_READ | PROT_WRITE, target_key), 0);
    int st = kt_in_child(read_target, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "reader status %#x", st);
    st = kt_in_child(read_target_catching, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42, "siginfo check status %#x", st);
    EXPECT_EQ(pmprotect(target, 4096, PROT_READ | PROT_WRITE, 0), 0);
    EXPECT_EQ(target[0], 'a');
    target[0] = 'b';
    EXPECT_EQ(pfree(target_key), 0);
    munmap(target, 4096);
}

TEST(a_key_that_disables_write_lets_reads_through)
{
    if (!have_pkeys())
        SKIP("no protection keys on this CPU");
    target = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(target != MAP_FAILED, "mmap");
    target[0] = 'a';
    int k = (int)OK(palloc(0, DISABLE_WRITE));
    EXPECT_EQ(pmprotect(target, 4096, PROT_READ | PROT_WRITE, k), 0);
    EXPECT_EQ(target[0], 'a');
    int st = kt_in_child(write_target, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "writer status %#x", st);
    st = kt_in_child(read_target, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader status %#x", st);
    EXPECT_EQ(target[0], 'a');
    /* mprotect (-1) keeps the key. */
    EXPECT_EQ(pmprotect(target, 4096, PROT_READ | PROT_WRITE, -1), 0);
    st = kt_in_child(write_target, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "writer after mprotect status %#x", st);
    EXPECT_EQ(pmprotect(target, 4096, PROT_READ | PROT_WRITE, 0), 0);
    target[0] = 'c';
    EXPECT_EQ(target[0], 'c');
    pfree(k);
    munmap(target, 4096);
}

int main(void)
{
    KT_BEGIN();
    RUN(alloc_bad_flags_or_rights_is_einval);
    RUN(alloc_without_protection_keys_is_enospc);
    RUN(free_of_a_key_not_allocated_is_einval);
    RUN(mprotect_with_a_key_not_allocated_is_einval);
    RUN(mprotect_with_minus_1_is_mprotect_and_key_0_needs_pkeys);
    RUN(fifteen_keys_then_enospc_and_rights_in_pkru);
    RUN(a_key_that_disables_access_faults_with_segv_pkuerr);
    RUN(a_key_that_disables_write_lets_reads_through);
    return KT_END();
}
