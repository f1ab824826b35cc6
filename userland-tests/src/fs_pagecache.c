/* fs_pagecache: file mappings fault their pages in on use (with read-around,
 * not the whole file), past the end of file is SIGBUS, stores through a shared
 * mapping and write(2) see each other, and system calls whose buffers lie in
 * a file mapping not yet read work (the kernel waits for those pages). Run on
 * ext2 by `cargo xtask test` through KT_TMPDIR; on a file system that keeps
 * every page in memory (ramfs, tmpfs) the residency cases SKIP. */
#define KT_AREA "fs_pagecache"
#include "kt.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/socket.h>

#define PG 4096L

/* The byte at `off` of the test pattern. */
static unsigned char pat(long off, int salt)
{
    return (unsigned char)((off / PG) * 7 + (off % PG) * 3 + salt);
}

/* A file of `len` bytes of pattern `salt` at `path`, written, synced and
 * dropped from the page cache as far as the file system lets it. */
static int make_file(const char *path, long len, int salt)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    static unsigned char buf[64 * 1024];
    for (long at = 0; at < len; at += sizeof buf) {
        long n = len - at < (long)sizeof buf ? len - at : (long)sizeof buf;
        for (long i = 0; i < n; i++)
            buf[i] = pat(at + i, salt);
        if (pwrite(fd, buf, n, at) != n) {
            close(fd);
            return -1;
        }
    }
    fsync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    return fd;
}

/* Pages of [p, p + len) resident (mincore), or -1. */
static long resident(void *p, long len)
{
    long pages = len / PG;
    unsigned char *v = malloc(pages);
    if (!v || mincore(p, len, v) != 0) {
        free(v);
        return -1;
    }
    long n = 0;
    for (long i = 0; i < pages; i++)
        n += v[i] & 1;
    free(v);
    return n;
}

static void touch_one_page_reads_around(const char *kt_case, int flags)
{
    /* Linux reads around a fault as far as the device's read_ahead_kb (4 MiB
     * on a virtio disk), and its asynchronous read-ahead may add windows as
     * big (8 MiB of a 16 MiB file once on a host with 2.5 MiB windows); Kestrel
     * reads 32 pages. Either is far from half of 32 MiB. */
    const long len = 32L << 20, pages = len / PG;
    char path[300];
    snprintf(path, sizeof path, "%s/big", kt_tmpdir());
    int fd = make_file(path, len, 1);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    unsigned char *p = mmap(NULL, len, PROT_READ, flags, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    long before = resident(p, len);
    CHECK(before >= 0, "mincore: %s", strerror(errno));
    if (before == pages) {
        munmap(p, len);
        close(fd);
        SKIP("the file system keeps every page in memory");
    }
    long mid = pages / 2 * PG;
    EXPECT_EQ(p[mid + 5], pat(mid + 5, 1));
    long after = resident(p, len);
    unsigned char v = 0;
    mincore(p + mid, PG, &v);
    CHECK(v & 1, "the touched page is not resident");
    CHECK(after - before < pages / 2, "touching one page loaded %ld of %ld pages",
          after - before, pages);
    munmap(p, len);
    close(fd);
}

TEST(touching_one_page_of_a_large_shared_mapping_reads_only_around_it)
{
    touch_one_page_reads_around(kt_case, MAP_SHARED);
}

TEST(touching_one_page_of_a_large_private_mapping_reads_only_around_it)
{
    touch_one_page_reads_around(kt_case, MAP_PRIVATE);
}

TEST(every_page_of_a_mapping_read_in_order_has_the_file_content)
{
    const long len = 3L << 20;
    char path[300];
    snprintf(path, sizeof path, "%s/seq", kt_tmpdir());
    int fd = make_file(path, len, 2);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    unsigned char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    long bad = -1;
    for (long i = 0; i < len && bad < 0; i += 511)
        if (p[i] != pat(i, 2))
            bad = i;
    /* and backwards, from the end */
    for (long i = len - 1; i >= 0 && bad < 0; i -= 4093)
        if (p[i] != pat(i, 2))
            bad = i;
    munmap(p, len);
    close(fd);
    CHECK(bad < 0, "byte %ld differs", bad);
}

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_seen;

static void on_bus(int sig)
{
    (void)sig;
    bus_seen = 1;
    siglongjmp(bus_jmp, 1);
}

TEST(access_past_the_end_of_file_in_a_mapping_is_sigbus_and_the_tail_reads_zero)
{
    char path[300];
    snprintf(path, sizeof path, "%s/short", kt_tmpdir());
    int fd = make_file(path, 100, 3);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    volatile unsigned char *p = mmap(NULL, 3 * PG, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    EXPECT_EQ(p[99], pat(99, 3));
    EXPECT_EQ(p[100], 0);
    EXPECT_EQ(p[PG - 1], 0);
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_bus;
    sigaction(SIGBUS, &sa, &old);
    bus_seen = 0;
    volatile int got = -1;
    if (sigsetjmp(bus_jmp, 1) == 0)
        got = p[PG + 10];
    sigaction(SIGBUS, &old, NULL);
    munmap((void *)p, 3 * PG);
    close(fd);
    CHECK(bus_seen, "no SIGBUS; read %d", got);
}

TEST(a_shared_store_after_msync_is_what_read_returns)
{
    const long len = 256 * 1024;
    char path[300];
    snprintf(path, sizeof path, "%s/store", kt_tmpdir());
    int fd = make_file(path, len, 4);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    memcpy(p + 50 * PG + 7, "stored", 6);
    OK(msync(p, len, MS_SYNC));
    char buf[6];
    EXPECT_EQ(pread(fd, buf, 6, 50 * PG + 7), 6);
    CHECK(memcmp(buf, "stored", 6) == 0, "read %.6s", buf);
    /* and before msync too: the mapping is the file's content */
    memcpy(p + 3, "again", 5);
    EXPECT_EQ(pread(fd, buf, 5, 3), 5);
    CHECK(memcmp(buf, "again", 5) == 0, "read %.5s", buf);
    munmap(p, len);
    close(fd);
}

TEST(a_write_is_seen_through_a_shared_mapping_on_touched_and_untouched_pages)
{
    const long len = 1L << 20;
    char path[300];
    snprintf(path, sizeof path, "%s/w", kt_tmpdir());
    int fd = make_file(path, len, 5);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    volatile unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    EXPECT_EQ(p[10], pat(10, 5));
    EXPECT_EQ(pwrite(fd, "A", 1, 11), 1);
    EXPECT_EQ(pwrite(fd, "B", 1, 200 * PG + 1), 1);
    EXPECT_EQ(p[11], 'A');
    EXPECT_EQ(p[200 * PG + 1], 'B');
    EXPECT_EQ(p[200 * PG + 2], pat(200 * PG + 2, 5));
    munmap((void *)p, len);
    close(fd);
}

TEST(write_from_a_buffer_in_an_unread_file_mapping_writes_all_of_it)
{
    const long len = 1L << 20;
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/a", kt_tmpdir());
    snprintf(b, sizeof b, "%s/b", kt_tmpdir());
    int fa = make_file(a, len, 6);
    CHECK(fa >= 0, "make_file: %s", strerror(errno));
    int fb = open(b, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fb >= 0, "open: %s", strerror(errno));
    unsigned char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fa, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    EXPECT_EQ(write(fb, p, len), len);
    static unsigned char back[1 << 20];
    EXPECT_EQ(pread(fb, back, len, 0), len);
    long bad = -1;
    for (long i = 0; i < len && bad < 0; i++)
        if (back[i] != pat(i, 6))
            bad = i;
    munmap(p, len);
    close(fa);
    close(fb);
    CHECK(bad < 0, "byte %ld differs", bad);
}

TEST(read_into_an_unread_private_file_mapping_fills_it)
{
    const long len = 512 * 1024;
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/a", kt_tmpdir());
    snprintf(b, sizeof b, "%s/b", kt_tmpdir());
    int fa = make_file(a, len, 7);
    CHECK(fa >= 0, "make_file: %s", strerror(errno));
    int fb = make_file(b, len, 8);
    CHECK(fb >= 0, "make_file: %s", strerror(errno));
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fa, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    EXPECT_EQ(pread(fb, p, len, 0), len);
    long bad = -1;
    for (long i = 0; i < len && bad < 0; i++)
        if (p[i] != pat(i, 8))
            bad = i;
    munmap(p, len);
    /* the file itself is untouched (a private mapping) */
    unsigned char c;
    EXPECT_EQ(pread(fa, &c, 1, 1000), 1);
    EXPECT_EQ(c, pat(1000, 7));
    close(fa);
    close(fb);
    CHECK(bad < 0, "byte %ld differs", bad);
}

TEST(a_path_inside_an_unread_file_mapping_is_read_by_open)
{
    const long len = 1L << 20, at = 700 * 1024 + 123;
    char a[300], target[300];
    snprintf(a, sizeof a, "%s/a", kt_tmpdir());
    snprintf(target, sizeof target, "%s/target", kt_tmpdir());
    int ft = open(target, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(ft >= 0, "open: %s", strerror(errno));
    close(ft);
    int fa = make_file(a, len, 9);
    CHECK(fa >= 0, "make_file: %s", strerror(errno));
    EXPECT_EQ(pwrite(fa, target, strlen(target) + 1, at), (ssize_t)strlen(target) + 1);
    fsync(fa);
    posix_fadvise(fa, 0, 0, POSIX_FADV_DONTNEED);
    char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fa, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    int fd = open(p + at, O_RDONLY);
    int e = errno;
    munmap(p, len);
    close(fa);
    CHECK(fd >= 0, "open through the mapping: %s", kt_errname(e));
    close(fd);
}

TEST(a_mapping_past_the_end_of_a_file_that_grows_sees_the_new_pages)
{
    char path[300];
    snprintf(path, sizeof path, "%s/grow", kt_tmpdir());
    int fd = make_file(path, PG, 10);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    volatile unsigned char *p = mmap(NULL, 64 * PG, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    EXPECT_EQ(p[5], pat(5, 10));
    EXPECT_EQ(pwrite(fd, "G", 1, 40 * PG + 9), 1);
    EXPECT_EQ(p[40 * PG + 9], 'G');
    EXPECT_EQ(p[20 * PG], 0);
    OK(ftruncate(fd, PG));
    OK(ftruncate(fd, 41 * PG));
    EXPECT_EQ(p[40 * PG + 9], 0);
    munmap((void *)p, 64 * PG);
    close(fd);
}

TEST(sequential_reads_of_any_size_return_the_file_content)
{
    const long len = 3L << 20;
    char path[300];
    snprintf(path, sizeof path, "%s/r", kt_tmpdir());
    int fd = make_file(path, len, 11);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    static unsigned char buf[70000];
    long at = 0, bad = -1;
    int sizes[] = {4096, 1, 4095, 65536, 70000, 512, 4097};
    for (int i = 0; at < len && bad < 0; i++) {
        int want = sizes[i % 7];
        ssize_t n = read(fd, buf, want);
        CHECK(n > 0, "read at %ld: %zd (%s)", at, n, strerror(errno));
        for (ssize_t k = 0; k < n && bad < 0; k++)
            if (buf[k] != pat(at + k, 11))
                bad = at + k;
        at += n;
    }
    CHECK(bad < 0, "byte %ld differs", bad);
    EXPECT_EQ(at, len);
    EXPECT_EQ(read(fd, buf, 10), 0);
    close(fd);
}

TEST(reads_after_a_jump_and_after_a_write_return_the_file_content)
{
    const long len = 2L << 20;
    char path[300];
    snprintf(path, sizeof path, "%s/j", kt_tmpdir());
    int fd = make_file(path, len, 12);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    unsigned char buf[8192];
    /* sequential for a while, so the file reads ahead */
    for (int i = 0; i < 40; i++)
        EXPECT_EQ(read(fd, buf, 4096), 4096);
    /* a write inside what was read ahead is what later reads return */
    EXPECT_EQ(pwrite(fd, "written", 7, 200 * 1024 + 3), 7);
    EXPECT_EQ(pread(fd, buf, 10, 200 * 1024), 10);
    CHECK(memcmp(buf + 3, "written", 7) == 0, "pread after pwrite");
    OK(lseek(fd, 150 * 1024, SEEK_SET) < 0 ? -1 : 0);
    long at = 150 * 1024, bad = -1;
    while (at < 300 * 1024 && bad < 0) {
        ssize_t n = read(fd, buf, sizeof buf);
        CHECK(n > 0, "read: %s", strerror(errno));
        for (ssize_t k = 0; k < n && bad < 0; k++) {
            long o = at + k;
            unsigned char want = (o >= 200 * 1024 + 3 && o < 200 * 1024 + 10)
                                     ? (unsigned char)"written"[o - 200 * 1024 - 3]
                                     : pat(o, 12);
            if (buf[k] != want)
                bad = o;
        }
        at += n;
    }
    CHECK(bad < 0, "byte %ld differs", bad);
    /* and a jump back */
    EXPECT_EQ(pread(fd, buf, 100, 5), 100);
    EXPECT_EQ(buf[0], pat(5, 12));
    close(fd);
}

TEST(fadvise_and_readahead_take_the_usual_arguments)
{
    char path[300];
    snprintf(path, sizeof path, "%s/adv", kt_tmpdir());
    int fd = make_file(path, 256 * 1024, 13);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    EXPECT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL), 0);
    EXPECT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
    EXPECT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_NORMAL), 0);
    EXPECT_EQ(posix_fadvise(fd, 4096, 65536, POSIX_FADV_WILLNEED), 0);
    EXPECT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    EXPECT_EQ(posix_fadvise(fd, 0, 0, 99), EINVAL);
    EXPECT_EQ(posix_fadvise(fd, 0, -1, POSIX_FADV_NORMAL), EINVAL);
    EXPECT_EQ(posix_fadvise(-1, 0, 0, POSIX_FADV_NORMAL), EBADF);
    OK(readahead(fd, 0, 128 * 1024));
    EXPECT_ERRNO(readahead(-1, 0, 4096), EBADF);
    unsigned char c;
    EXPECT_EQ(pread(fd, &c, 1, 100000), 1);
    EXPECT_EQ(c, pat(100000, 13));
    close(fd);
}

TEST(fadvise_dontneed_drops_clean_pages_nothing_maps)
{
    const long len = 64 * PG;
    char path[300];
    snprintf(path, sizeof path, "%s/dn", kt_tmpdir());
    int fd = make_file(path, len, 14);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    volatile unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    for (long i = 0; i < len; i += PG)
        (void)p[i];
    CHECK(resident((void *)p, len) == len / PG, "not all resident after touching");
    munmap((void *)p, len);
    EXPECT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    long left = resident((void *)p, len);
    if (left == len / PG) {
        munmap((void *)p, len);
        close(fd);
        SKIP("the file system keeps every page in memory");
    }
    CHECK(left == 0, "%ld pages left after DONTNEED", left);
    /* and they read back */
    EXPECT_EQ(p[10 * PG + 1], pat(10 * PG + 1, 14));
    munmap((void *)p, len);
    close(fd);
}

TEST(madvise_willneed_brings_a_file_mapping_in)
{
    const long len = 64 * PG;
    char path[300];
    snprintf(path, sizeof path, "%s/wn", kt_tmpdir());
    int fd = make_file(path, len, 15);
    CHECK(fd >= 0, "make_file: %s", strerror(errno));
    unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    long before = resident(p, len);
    if (before == len / PG) {
        munmap(p, len);
        close(fd);
        SKIP("the file system keeps every page in memory");
    }
    OK(madvise(p, len, MADV_WILLNEED));
    /* started, not waited for: give it up to a second */
    long now = before;
    for (int i = 0; i < 100 && now < len / PG; i++) {
        usleep(10000);
        now = resident(p, len);
    }
    EXPECT_EQ(now, len / PG);
    EXPECT_EQ(p[63 * PG + 9], pat(63 * PG + 9, 15));
    munmap(p, len);
    close(fd);
}

TEST(a_stream_socket_read_into_an_unread_file_mapping_loses_nothing)
{
    const long len = 64 * 1024;
    char a[300];
    snprintf(a, sizeof a, "%s/a", kt_tmpdir());
    int fa = make_file(a, len, 16);
    CHECK(fa >= 0, "make_file: %s", strerror(errno));
    int sv[2];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    static unsigned char msg[64 * 1024];
    for (long i = 0; i < len; i++)
        msg[i] = (unsigned char)(i * 13 + 1);
    EXPECT_EQ(write(sv[0], msg, len), len);
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fa, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    long got = 0;
    while (got < len) {
        ssize_t n = read(sv[1], p + got, len - got);
        CHECK(n > 0, "read after %ld: %zd (%s)", got, n, strerror(errno));
        got += n;
    }
    CHECK(memcmp(p, msg, len) == 0, "received bytes differ");
    munmap(p, len);
    close(sv[0]);
    close(sv[1]);
    close(fa);
}

int main(void)
{
    KT_BEGIN();
    RUN(touching_one_page_of_a_large_shared_mapping_reads_only_around_it);
    RUN(touching_one_page_of_a_large_private_mapping_reads_only_around_it);
    RUN(every_page_of_a_mapping_read_in_order_has_the_file_content);
    RUN(access_past_the_end_of_file_in_a_mapping_is_sigbus_and_the_tail_reads_zero);
    RUN(a_shared_store_after_msync_is_what_read_returns);
    RUN(a_write_is_seen_through_a_shared_mapping_on_touched_and_untouched_pages);
    RUN(write_from_a_buffer_in_an_unread_file_mapping_writes_all_of_it);
    RUN(read_into_an_unread_private_file_mapping_fills_it);
    RUN(a_path_inside_an_unread_file_mapping_is_read_by_open);
    RUN(a_mapping_past_the_end_of_a_file_that_grows_sees_the_new_pages);
    RUN(sequential_reads_of_any_size_return_the_file_content);
    RUN(reads_after_a_jump_and_after_a_write_return_the_file_content);
    RUN(fadvise_and_readahead_take_the_usual_arguments);
    RUN(fadvise_dontneed_drops_clean_pages_nothing_maps);
    RUN(madvise_willneed_brings_a_file_mapping_in);
    RUN(a_stream_socket_read_into_an_unread_file_mapping_loses_nothing);
    return KT_END();
}
