/*
 * hugetlb.c - huge pages: the pool (/proc/sys/vm/nr_hugepages, /proc/meminfo,
 * /sys/kernel/mm/hugepages), mmap(MAP_HUGETLB), memfd_create(MFD_HUGETLB),
 * hugetlbfs and shmget(SHM_HUGETLB).
 *
 * main() sets the pool to POOL pages and puts the old size back at the end
 * (root is needed; the host runs it as root too). Page counts are compared
 * only once every page of a mapping was touched: Linux takes a page from the
 * free count at first touch (reserving it at mmap), Kestrel at mmap.  Cases
 * that need pages skip when the host could not give the pool POOL pages.
 */
#define KT_AREA "hugetlb"
#include "kt.h"

#include <grp.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/vfs.h>
#ifndef FUTEX_WAIT
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#endif

#define HP (2UL << 20)
#define POOL 6
#define HUGETLBFS_MAGIC 0x958458f6

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#define HUGE_SHIFT 26
#define HUGE_2MB (21U << HUGE_SHIFT)
#define HUGE_64KB (16U << HUGE_SHIFT)
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif
#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif
#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

static long pool_got; /* what nr_hugepages read back after main set it */

static long read_long(const char *path)
{
    char buf[64] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static int write_long(const char *path, long v)
{
    char buf[32];
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    int n = snprintf(buf, sizeof buf, "%ld\n", v);
    int r = write(fd, buf, n) == n ? 0 : -1;
    close(fd);
    return r;
}

/* A /proc/meminfo value ("HugePages_Free:" etc.), -1 if missing. */
static long meminfo(const char *key)
{
    static char buf[8192];
    int fd = open("/proc/meminfo", O_RDONLY);
    if (fd < 0)
        return -1;
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strstr(buf, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static long hp_free(void) { return meminfo("HugePages_Free:"); }

#define NEED_PAGES(n)                                                         \
    do {                                                                      \
        if (hp_free() < (n))                                                  \
            SKIP("the pool has %ld free huge pages, %d needed", hp_free(),    \
                 (int)(n));                                                   \
    } while (0)

static void touch(char *p, unsigned long len)
{
    for (unsigned long i = 0; i < len; i += 4096)
        p[i] = 1;
}

TEST(pool_counts_agree_in_proc_and_sys)
{
    EXPECT_EQ(meminfo("Hugepagesize:"), 2048);
    CHECK(pool_got >= 0, "nr_hugepages unreadable");
    EXPECT_EQ(meminfo("HugePages_Total:"), pool_got);
    EXPECT_EQ(meminfo("HugePages_Free:"), pool_got);
    EXPECT_EQ(meminfo("HugePages_Rsvd:"), 0);
    EXPECT_EQ(meminfo("HugePages_Surp:"), 0);
    EXPECT_EQ(read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), pool_got);
    EXPECT_EQ(read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"), pool_got);
    EXPECT_EQ(read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages"), 0);
    EXPECT_EQ(read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/surplus_hugepages"), 0);
    /* Not a number: EINVAL. */
    int fd = OK(open("/proc/sys/vm/nr_hugepages", O_WRONLY));
    EXPECT_ERRNO(write(fd, "x\n", 2), EINVAL);
    close(fd);
}

TEST(anonymous_mapping_rounds_to_huge_pages_and_takes_them_from_the_pool)
{
    NEED_PAGES(2);
    long before = hp_free();
    char *p = mmap(NULL, HP + 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    CHECK(((unsigned long)p & (HP - 1)) == 0, "address %p not 2 MiB aligned", p);
    touch(p, 2 * HP);
    EXPECT_EQ(p[0], 1);
    EXPECT_EQ(p[2 * HP - 1], 0);
    EXPECT_EQ(hp_free(), before - 2);
    OK(munmap(p, 2 * HP));
    EXPECT_EQ(hp_free(), before);
}

TEST(munmap_and_mprotect_keep_huge_page_boundaries)
{
    NEED_PAGES(2);
    long before = hp_free();
    char *p = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | HUGE_2MB, -1, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    touch(p, 2 * HP);
    EXPECT_ERRNO(munmap(p, 4096), EINVAL);
    EXPECT_ERRNO(munmap(p + 4096, HP), EINVAL);
    EXPECT_ERRNO(munmap(p, HP / 2), EINVAL);
    EXPECT_ERRNO(mprotect(p, 4096, PROT_READ), EINVAL);
    EXPECT_ERRNO(mprotect(p + HP, HP / 4, PROT_READ), EINVAL);
    OK(mprotect(p + HP, HP, PROT_READ));
    EXPECT_EQ(p[HP], 1);
    /* The second page goes, the first stays; the pages belong to the
     * mapping's object, which lives until its last part is unmapped. */
    OK(munmap(p + HP, HP));
    EXPECT_EQ(p[0], 1);
    EXPECT_EQ(hp_free(), before - 2);
    OK(munmap(p, HP));
    EXPECT_EQ(hp_free(), before);
}

TEST(mmap_hugetlb_errors)
{
    NEED_PAGES(1);
    /* A MAP_FIXED address off a 2 MiB boundary. */
    char *p = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    OK(munmap(p, 2 * HP));
    EXPECT_ERRNO((long)mmap(p + 4096, HP, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED, -1, 0),
                 EINVAL);
    /* A huge page size the machine does not have. */
    EXPECT_ERRNO((long)mmap(NULL, HP, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | HUGE_64KB, -1, 0),
                 EINVAL);
    /* More than the pool has. */
    long n = hp_free() + 1;
    EXPECT_ERRNO((long)mmap(NULL, n * HP, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0),
                 ENOMEM);
    EXPECT_ERRNO((long)mmap(NULL, n * HP, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0),
                 ENOMEM);
    /* MAP_HUGETLB on an ordinary file. */
    char path[300];
    snprintf(path, sizeof path, "%s/f", kt_tmpdir());
    int fd = OK(open(path, O_RDWR | O_CREAT, 0600));
    OK(ftruncate(fd, HP));
    EXPECT_ERRNO((long)mmap(NULL, HP, PROT_READ, MAP_SHARED | MAP_HUGETLB, fd, 0), EINVAL);
    close(fd);
}

TEST(fork_shares_shared_and_copies_private_huge_pages)
{
    /* Linux gives the child's copy a huge page of its own: one spare. */
    NEED_PAGES(3);
    char *s = mmap(NULL, HP, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    CHECK(s != MAP_FAILED, "mmap shared: %s", kt_errstr(errno));
    char *p = mmap(NULL, HP, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    CHECK(p != MAP_FAILED, "mmap private: %s", kt_errstr(errno));
    p[0] = 'a';
    p[HP - 1] = 'z';
    pid_t pid = OK(fork());
    if (pid == 0) {
        int bad = p[0] != 'a' || p[HP - 1] != 'z' || p[4096] != 0;
        p[0] = 'b';
        p[4096] = 'c';
        s[8192] = 's';
        _exit(bad);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child saw other content");
    EXPECT_EQ(s[8192], 's');
    EXPECT_EQ(p[0], 'a');
    EXPECT_EQ(p[4096], 0);
    p[0] = 'd';
    EXPECT_EQ(p[0], 'd');
    OK(munmap(s, HP));
    OK(munmap(p, HP));
}

TEST(private_huge_page_dropped_and_rewritten_after_fork_stays_the_childs)
{
    NEED_PAGES(3);
    char *p = mmap(NULL, HP, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    p[0] = 'a';
    int go[2];
    OK(pipe(go));
    pid_t pid = OK(fork());
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        _exit(p[0] == 'a' ? 0 : 1);
    }
    /* The parent drops its page and writes a new one: never the child's. */
    OK(madvise(p, HP, MADV_DONTNEED));
    p[0] = 'X';
    EXPECT_EQ(p[0], 'X');
    OK(write(go[1], "g", 1));
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child saw the parent's write");
    close(go[0]);
    close(go[1]);
    OK(munmap(p, HP));
}

TEST(futex_in_a_shared_huge_page_wakes_another_process)
{
    NEED_PAGES(1);
    uint32_t *m = mmap(NULL, HP, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    CHECK(m != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    /* A word in the second 4 KiB of the page, as LTP's futex_wake04. */
    volatile uint32_t *w = m + 1024;
    pid_t pid = OK(fork());
    if (pid == 0) {
        m[0] = 1;
        while (*w == 0)
            syscall(SYS_futex, w, FUTEX_WAIT, 0, NULL, NULL, 0);
        _exit(*w == 7 ? 0 : 1);
    }
    while (__atomic_load_n(&m[0], __ATOMIC_ACQUIRE) == 0)
        usleep(1000);
    usleep(20000);
    __atomic_store_n(w, 7, __ATOMIC_RELEASE);
    long woke = 0;
    for (int i = 0; i < 100; i++) {
        woke += syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
            OK(munmap(m, HP));
            return;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(0, "the child was not woken (woke %ld)", woke);
}

TEST(memfd_hugetlb_sizes_by_huge_pages_and_refuses_write)
{
    NEED_PAGES(1);
    EXPECT_ERRNO(syscall(SYS_memfd_create, "h", MFD_HUGETLB | HUGE_64KB), ENODEV);
    /* A size without MFD_HUGETLB is an unknown flag. */
    EXPECT_ERRNO(syscall(SYS_memfd_create, "h", HUGE_2MB), EINVAL);
    int fd = OK(syscall(SYS_memfd_create, "h", MFD_HUGETLB | HUGE_2MB));
    int fd2 = OK(syscall(SYS_memfd_create, "h2", MFD_HUGETLB));
    close(fd2);
    EXPECT_ERRNO(write(fd, "x", 1), EINVAL);
    EXPECT_ERRNO(ftruncate(fd, 4096), EINVAL);
    OK(ftruncate(fd, HP));
    struct stat st;
    OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, HP);
    EXPECT_EQ(st.st_blksize, HP);
    struct statfs sf;
    OK(fstatfs(fd, &sf));
    EXPECT_EQ((unsigned long)sf.f_type, HUGETLBFS_MAGIC);
    EXPECT_EQ(sf.f_bsize, HP);
    long before = hp_free();
    char *a = mmap(NULL, HP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(a != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    touch(a, HP);
    EXPECT_EQ(hp_free(), before - 1);
    memcpy(a + 100, "huge", 4);
    /* A second shared mapping sees the same page; read(2) reads it. */
    char *b = mmap(NULL, HP, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(b != MAP_FAILED, "mmap 2: %s", kt_errstr(errno));
    CHECK(memcmp(b + 100, "huge", 4) == 0, "second mapping differs");
    char buf[4] = {0};
    EXPECT_EQ(pread(fd, buf, 4, 100), 4);
    CHECK(memcmp(buf, "huge", 4) == 0, "pread read other bytes");
    /* An offset off a huge page boundary. */
    EXPECT_ERRNO((long)mmap(NULL, HP, PROT_READ, MAP_SHARED, fd, 4096), EINVAL);
    OK(munmap(a, HP));
    OK(munmap(b, HP));
    close(fd);
    EXPECT_EQ(hp_free(), before);
}

TEST(memfd_hugetlb_private_mapping_copies_and_grows_the_file)
{
    NEED_PAGES(2);
    int fd = OK(syscall(SYS_memfd_create, "h", MFD_HUGETLB));
    /* A writable mapping of an empty file makes it cover the mapping. */
    char *a = mmap(NULL, HP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(a != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    struct stat st;
    OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, HP);
    a[0] = 'f';
    char *p = mmap(NULL, HP, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED, "mmap private: %s", kt_errstr(errno));
    EXPECT_EQ(p[0], 'f');
    p[0] = 'p';
    EXPECT_EQ(a[0], 'f');
    OK(munmap(p, HP));
    OK(munmap(a, HP));
    close(fd);
}

TEST(hugetlbfs_mount_files_and_statfs)
{
    NEED_PAGES(1);
    const char *dir = kt_tmpdir();
    EXPECT_ERRNO(mount("none", dir, "hugetlbfs", 0, "pagesize=4K"), EINVAL);
    EXPECT_ERRNO(mount("none", dir, "hugetlbfs", 0, "bogus=1"), EINVAL);
    OK(mount("none", dir, "hugetlbfs", 0, "pagesize=2M,size=8M,min_size=0,nr_inodes=16,mode=0777"));
    struct statfs sf;
    OK(statfs(dir, &sf));
    EXPECT_EQ((unsigned long)sf.f_type, HUGETLBFS_MAGIC);
    EXPECT_EQ(sf.f_bsize, HP);
    char path[300];
    snprintf(path, sizeof path, "%s/file", dir);
    int fd = OK(open(path, O_RDWR | O_CREAT, 0600));
    EXPECT_ERRNO(write(fd, "x", 1), EINVAL);
    EXPECT_ERRNO(ftruncate(fd, HP + 4096), EINVAL);
    OK(ftruncate(fd, HP));
    char *a = mmap(NULL, HP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(a != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    a[5] = 'q';
    OK(munmap(a, HP));
    /* The content stays with the file. */
    int fd2 = OK(open(path, O_RDONLY));
    char c = 0;
    EXPECT_EQ(pread(fd2, &c, 1, 5), 1);
    EXPECT_EQ(c, 'q');
    close(fd2);
    /* cachestat has no page cache to count there. */
    struct { uint64_t off, len; } range = {0, 0};
    uint64_t cs[5];
    errno = 0;
    if (!(syscall(SYS_cachestat, fd, &range, cs, 0) == -1 && errno == ENOSYS))
        EXPECT_ERRNO(syscall(SYS_cachestat, fd, &range, cs, 0), EOPNOTSUPP);
    close(fd);
    OK(unlink(path));
    OK(umount(dir));
}

TEST(hugetlbfs_size_and_nr_inodes_limit_the_mount)
{
    NEED_PAGES(3);
    const char *dir = kt_tmpdir();
    /* The root directory counts as one of the inodes. */
    OK(mount("none", dir, "hugetlbfs", 0, "size=4M,nr_inodes=3"));
    struct statfs sf;
    OK(statfs(dir, &sf));
    EXPECT_EQ(sf.f_blocks, 2);
    EXPECT_EQ(sf.f_bfree, 2);
    EXPECT_EQ(sf.f_files, 3);
    EXPECT_EQ(sf.f_ffree, 2);
    char a[300], b[300], c[300];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(c, sizeof c, "%s/c", dir);
    int fa = OK(open(a, O_RDWR | O_CREAT, 0600));
    int fb = OK(open(b, O_RDWR | O_CREAT, 0600));
    EXPECT_ERRNO(open(c, O_RDWR | O_CREAT, 0600), ENOSPC);
    OK(ftruncate(fa, 3 * HP));
    /* Three pages do not fit a 4 MiB mount; two do, and then no more. */
    EXPECT_ERRNO((long)mmap(NULL, 3 * HP, PROT_READ | PROT_WRITE, MAP_SHARED, fa, 0), ENOMEM);
    char *m = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE, MAP_SHARED, fa, 0);
    CHECK(m != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    OK(statfs(dir, &sf));
    EXPECT_EQ(sf.f_bfree, 0);
    EXPECT_ERRNO((long)mmap(NULL, HP, PROT_READ | PROT_WRITE, MAP_SHARED, fb, 0), ENOMEM);
    OK(munmap(m, 2 * HP));
    /* Cutting the file short gives its pages back to the mount. */
    OK(ftruncate(fa, 0));
    OK(statfs(dir, &sf));
    EXPECT_EQ(sf.f_bfree, 2);
    close(fa);
    close(fb);
    OK(unlink(a));
    OK(unlink(b));
    /* A removed file no longer counts. */
    int fc = OK(open(c, O_RDWR | O_CREAT, 0600));
    close(fc);
    OK(unlink(c));
    OK(umount(dir));
}

TEST(shmget_hugetlb_segment_comes_from_the_pool)
{
    NEED_PAGES(1);
    EXPECT_ERRNO(shmget(IPC_PRIVATE, HP, IPC_CREAT | SHM_HUGETLB | HUGE_64KB | 0600), EINVAL);
    long before = hp_free();
    int id = OK(shmget(IPC_PRIVATE, HP, IPC_CREAT | SHM_HUGETLB | 0600));
    char *p = shmat(id, NULL, 0);
    CHECK(p != (void *)-1, "shmat: %s", kt_errstr(errno));
    CHECK(((unsigned long)p & (HP - 1)) == 0, "address %p not 2 MiB aligned", p);
    touch(p, HP);
    EXPECT_EQ(hp_free(), before - 1);
    OK(shmdt(p));
    OK(shmctl(id, IPC_RMID, NULL));
    EXPECT_EQ(hp_free(), before);
    /* No CAP_IPC_LOCK, outside group 0, RLIMIT_MEMLOCK 0: EPERM. */
    pid_t pid = OK(fork());
    if (pid == 0) {
        struct rlimit rl = {0, 0};
        if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgroups(0, NULL) || setgid(65534) ||
            setuid(65534))
            _exit(2);
        errno = 0;
        int r = shmget(IPC_PRIVATE, HP, IPC_CREAT | SHM_HUGETLB | 0600);
        _exit(r == -1 && errno == EPERM ? 0 : 1);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unprivileged shmget status %d", st);
}

int main(void)
{
    KT_BEGIN();
    long old = read_long("/proc/sys/vm/nr_hugepages");
    if (old >= 0 && write_long("/proc/sys/vm/nr_hugepages", POOL) == 0)
        pool_got = read_long("/proc/sys/vm/nr_hugepages");
    else
        pool_got = -1;
    RUN(pool_counts_agree_in_proc_and_sys);
    RUN(anonymous_mapping_rounds_to_huge_pages_and_takes_them_from_the_pool);
    RUN(munmap_and_mprotect_keep_huge_page_boundaries);
    RUN(mmap_hugetlb_errors);
    RUN(fork_shares_shared_and_copies_private_huge_pages);
    RUN(private_huge_page_dropped_and_rewritten_after_fork_stays_the_childs);
    RUN(futex_in_a_shared_huge_page_wakes_another_process);
    RUN(memfd_hugetlb_sizes_by_huge_pages_and_refuses_write);
    RUN(memfd_hugetlb_private_mapping_copies_and_grows_the_file);
    RUN(hugetlbfs_mount_files_and_statfs);
    RUN(hugetlbfs_size_and_nr_inodes_limit_the_mount);
    RUN(shmget_hugetlb_segment_comes_from_the_pool);
    if (old >= 0)
        write_long("/proc/sys/vm/nr_hugepages", old);
    return KT_END();
}
