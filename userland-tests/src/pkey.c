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
 *   - Key 0 can never be freed (EINVAL), with protection keys or without.
 *   - The kernel's copies to and from a thread's memory honour that thread's
 *     own rights, whichever thread last ran in user mode on the CPU: a
 *     blocked read into a page whose key the thread allows succeeds though
 *     the writer that woke it denies the key; into a page whose key the
 *     reader denies it is EFAULT though the writer allows it. (Both threads
 *     are held to one CPU, so the writer is the last to run before the
 *     reader's copy.)
 */
#define KT_AREA "pkey"
#include "kt.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
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
    EXPECT_ERRNO(pfree(0), EINVAL);
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

static void wrpkru(uint32_t v)
{
    __asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(v), "c"(0), "d"(0) : "memory");
}

/* The writer thread: sets its own rights for the key, waits until the
 * reader is blocked, writes, and then blocks itself until released. */
struct handoff {
    int data[2], release[2];
    int key;
    uint32_t writer_rights;
};

static void *writer(void *arg)
{
    struct handoff *h = arg;
    char c;
    uint32_t pkru = rdpkru();
    wrpkru((pkru & ~(3u << (2 * h->key))) | (h->writer_rights << (2 * h->key)));
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (write(h->data[1], "hello", 5) != 5)
        return (void *)1;
    if (read(h->release[0], &c, 1) != 1)
        return (void *)2;
    return NULL;
}

/* A read by this thread (rights `mine` for the key) into a page with the key,
 * woken by a thread with rights `theirs`: what read returns, and its errno. */
static long read_woken_by_other_rights(uint32_t mine, uint32_t theirs, char *page, int *err)
{
    struct handoff h;
    pthread_t t;
    cpu_set_t one, saved;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    sched_getaffinity(0, sizeof saved, &saved);
    sched_setaffinity(0, sizeof one, &one);
    h.key = (int)palloc(0, 0);
    h.writer_rights = theirs;
    if (h.key < 0 || pipe(h.data) || pipe(h.release) || pmprotect(page, 4096, PROT_READ | PROT_WRITE, h.key)) {
        *err = errno;
        return -2;
    }
    pthread_create(&t, NULL, writer, &h);
    uint32_t pkru = rdpkru();
    wrpkru((pkru & ~(3u << (2 * h.key))) | (mine << (2 * h.key)));
    long n = read(h.data[0], page, 5);
    *err = errno;
    wrpkru(pkru);
    if (write(h.release[1], "x", 1) != 1)
        n = -3;
    void *ret;
    pthread_join(t, &ret);
    if (ret != NULL)
        n = -4;
    pmprotect(page, 4096, PROT_READ | PROT_WRITE, 0);
    pfree(h.key);
    close(h.data[0]);
    close(h.data[1]);
    close(h.release[0]);
    close(h.release[1]);
    sched_setaffinity(0, sizeof saved, &saved);
    return n;
}

TEST(a_blocked_read_copies_with_the_readers_rights_not_the_wakers)
{
    if (!have_pkeys())
        SKIP("no protection keys on this CPU");
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED, "mmap");
    memset(page, '.', 8);
    int err = 0;
    /* The reader may use the page; the writer that wakes it may not. */
    EXPECT_EQ(read_woken_by_other_rights(0, DISABLE_ACCESS, page, &err), 5);
    EXPECT_EQ(memcmp(page, "hello", 5), 0);
    memset(page, '.', 8);
    /* The reader may not; the writer may. */
    EXPECT_EQ(read_woken_by_other_rights(DISABLE_ACCESS, 0, page, &err), -1);
    EXPECT_EQ(err, EFAULT);
    EXPECT_EQ(page[0], '.');
    munmap(page, 4096);
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
    RUN(a_blocked_read_copies_with_the_readers_rights_not_the_wakers);
    return KT_END();
}
