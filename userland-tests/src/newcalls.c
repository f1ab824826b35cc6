/* Newer Linux calls: fchmodat2 (6.6), cachestat (6.5), swapon/swapoff, mseal
 * (6.10), process_madvise (5.10) and process_mrelease (5.15). The numbers are
 * spelled here (musl's headers may lack them). A case whose call the host
 * kernel lacks (ENOSYS on Linux) SKIPs. */
#define KT_AREA "newcalls"
#include "kt.h"

#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <sys/xattr.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <signal.h>
#include <pthread.h>
#include <time.h>

#define NR_fchmodat2 452
#define NR_cachestat 451
#define NR_mseal 462
#define NR_process_madvise 440
#define NR_process_mrelease 448
#define NR_pidfd_open 434
#define NR_futex_wake 454
#define NR_futex_wait 455
#define NR_futex_requeue 456
#define FUTEX2_SIZE_U32 0x02
#define NR_setxattrat 463
#define NR_getxattrat 464
#define NR_listxattrat 465
#define NR_removexattrat 466
#define XATTR_CREATE_ 1
#define XATTR_REPLACE_ 2
#define FUTEX2_PRIVATE 128
#define MADV_COLD_ 20
#define MADV_PAGEOUT_ 21
#define TMPFS_MAGIC 0x01021994
#define PG 4096

struct cs_range {
    uint64_t off, len;
};

struct cstat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

static long fchmodat2(int dfd, const char *path, mode_t mode, unsigned flags)
{
    return syscall(NR_fchmodat2, dfd, path, mode, flags);
}

static mode_t lmode(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return (mode_t)-1;
    return st.st_mode;
}

/* ---- fchmodat2 -------------------------------------------------------- */

TEST(fchmodat2_changes_file_mode_with_and_without_nofollow)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int dfd = OK(open(d, O_PATH | O_DIRECTORY));
    CHECK(kt_write_file(kt_path(d, "f"), "x", 1) == 0, "write f");
    if (fchmodat2(dfd, "f", 0700, 0) == -1 && errno == ENOSYS)
        SKIP("no fchmodat2 on this kernel");
    EXPECT_EQ(lmode(dfd, "f"), S_IFREG | 0700);
    OK(fchmodat2(dfd, "f", 0640, AT_SYMLINK_NOFOLLOW));
    EXPECT_EQ(lmode(dfd, "f"), S_IFREG | 0640);
    close(dfd);
}

TEST(fchmodat2_follows_symlink_but_nofollow_is_eopnotsupp)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int dfd = OK(open(d, O_PATH | O_DIRECTORY));
    CHECK(kt_write_file(kt_path(d, "f"), "x", 1) == 0, "write f");
    OK(symlinkat("f", dfd, "l"));
    if (fchmodat2(dfd, "l", 0600, 0) == -1 && errno == ENOSYS)
        SKIP("no fchmodat2 on this kernel");
    EXPECT_EQ(lmode(dfd, "f"), S_IFREG | 0600);
    EXPECT_EQ(lmode(dfd, "l"), S_IFLNK | 0777);
    EXPECT_ERRNO(fchmodat2(dfd, "l", 0640, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP);
    EXPECT_EQ(lmode(dfd, "l"), S_IFLNK | 0777);
    EXPECT_EQ(lmode(dfd, "f"), S_IFREG | 0600);
    /* A dangling symlink: the same, the link is found and refused. */
    OK(symlinkat("nowhere", dfd, "dang"));
    EXPECT_ERRNO(fchmodat2(dfd, "dang", 0640, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP);
    EXPECT_ERRNO(fchmodat2(dfd, "dang", 0640, 0), ENOENT);
    close(dfd);
}

/* Linux 6.6 refuses every mode change of a symlink, also through an O_PATH
 * descriptor's /proc/self/fd link (LTP chmod09). */
TEST(chmod_through_proc_fd_of_symlink_is_eopnotsupp)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    CHECK(kt_write_file(kt_path(d, "f"), "x", 1) == 0, "write f");
    OK(chmod(kt_path(d, "f"), 0644));
    OK(symlink("f", kt_path(d, "l")));
    int fd = OK(open(kt_path(d, "l"), O_PATH | O_NOFOLLOW));
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    if (chmod(p, 0) == 0)
        SKIP("this kernel changes a symlink's mode (before Linux 6.6)");
    EXPECT_ERRNO(chmod(p, 0), EOPNOTSUPP);
    EXPECT_EQ(lmode(AT_FDCWD, kt_path(d, "f")), S_IFREG | 0644);
    EXPECT_EQ(lmode(AT_FDCWD, kt_path(d, "l")), S_IFLNK | 0777);
    close(fd);
}

TEST(fchmodat2_empty_path_changes_the_fds_file)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    OK(mkdir(kt_path(d, "sub"), 0750));
    int fd = OK(open(kt_path(d, "sub"), O_PATH | O_DIRECTORY));
    if (fchmodat2(fd, "", 0711, AT_EMPTY_PATH) == -1 && errno == ENOSYS)
        SKIP("no fchmodat2 on this kernel");
    EXPECT_EQ(lmode(AT_FDCWD, kt_path(d, "sub")), S_IFDIR | 0711);
    /* Without AT_EMPTY_PATH an empty name is ENOENT. */
    EXPECT_ERRNO(fchmodat2(fd, "", 0700, 0), ENOENT);
    close(fd);
}

TEST(fchmodat2_errors)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int dfd = OK(open(d, O_PATH | O_DIRECTORY));
    CHECK(kt_write_file(kt_path(d, "f"), "x", 1) == 0, "write f");
    if (fchmodat2(dfd, "f", 0644, 0) == -1 && errno == ENOSYS)
        SKIP("no fchmodat2 on this kernel");
    EXPECT_ERRNO(fchmodat2(-1, "f", 0777, 0), EBADF);
    EXPECT_ERRNO(fchmodat2(dfd, "missing", 0777, 0), ENOENT);
    /* Flags are checked before the path is read. */
    EXPECT_ERRNO(fchmodat2(dfd, "f", 0777, ~0u), EINVAL);
    EXPECT_ERRNO(fchmodat2(dfd, (const char *)1, 0777, 0x4), EINVAL);
    EXPECT_ERRNO(fchmodat2(dfd, (const char *)1, 0777, 0), EFAULT);
    EXPECT_ERRNO(fchmodat2(dfd, "f/x", 0777, 0), ENOTDIR);
    close(dfd);
}

/* ---- cachestat ------------------------------------------------------- */

static long cachestat(int fd, struct cs_range *r, struct cstat *cs, unsigned flags)
{
    return syscall(NR_cachestat, fd, r, cs, flags);
}

static int on_tmpfs(const char *d)
{
    struct statfs sf;
    return statfs(d, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* A file of `pages` written pages (0x5a) in a fresh temp dir; -1 on error. */
static int written_file(const char *d, int pages)
{
    static char page[PG];
    memset(page, 0x5a, sizeof page);
    int fd = open(kt_path(d, "cs"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    for (int i = 0; i < pages; i++)
        if (write(fd, page, PG) != PG)
            return -1;
    return fd;
}

TEST(cachestat_counts_written_pages_and_the_range)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = written_file(d, 16);
    CHECK(fd >= 0, "write the file");
    struct cs_range r = {0, 16 * PG};
    struct cstat cs;
    memset(&cs, 0xff, sizeof cs);
    if (cachestat(fd, &r, &cs, 0) == -1 && errno == ENOSYS)
        SKIP("no cachestat on this kernel");
    EXPECT_EQ(cs.nr_cache + cs.nr_evicted, 16);
    if (on_tmpfs(d))
        EXPECT_EQ(cs.nr_dirty, 0);
    /* A part: pages 4..7 (a range that ends inside page 7 takes it). */
    r.off = 4 * PG + 100;
    r.len = 3 * PG;
    OK(cachestat(fd, &r, &cs, 0));
    EXPECT_EQ(cs.nr_cache + cs.nr_evicted, 4);
    /* len 0: to the end. */
    r.off = 10 * PG;
    r.len = 0;
    OK(cachestat(fd, &r, &cs, 0));
    EXPECT_EQ(cs.nr_cache + cs.nr_evicted, 6);
    /* Past the end of file: nothing. */
    r.off = 100 * PG;
    r.len = 4 * PG;
    OK(cachestat(fd, &r, &cs, 0));
    EXPECT_EQ(cs.nr_cache, 0);
    EXPECT_EQ(cs.nr_dirty, 0);
    /* After fsync nothing is dirty (tmpfs: never; its pages are not tagged). */
    OK(fsync(fd));
    r.off = 0;
    r.len = 0;
    OK(cachestat(fd, &r, &cs, 0));
    EXPECT_EQ(cs.nr_cache + cs.nr_evicted, 16);
    EXPECT_EQ(cs.nr_dirty, 0);
    EXPECT_EQ(cs.nr_writeback, 0);
    EXPECT_EQ(cs.nr_recently_evicted <= cs.nr_evicted, 1);
    close(fd);
}

TEST(cachestat_holes_are_not_cached)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = written_file(d, 2);
    CHECK(fd >= 0, "write the file");
    /* 2 pages written, then a hole to 64 pages, then one page. */
    OK(pwrite(fd, "x", 1, 64 * PG));
    struct cs_range r = {0, 0};
    struct cstat cs;
    if (cachestat(fd, &r, &cs, 0) == -1 && errno == ENOSYS)
        SKIP("no cachestat on this kernel");
    EXPECT_EQ(cs.nr_cache + cs.nr_evicted, 3);
    r.off = 2 * PG;
    r.len = 62 * PG;
    OK(cachestat(fd, &r, &cs, 0));
    EXPECT_EQ(cs.nr_cache, 0);
    close(fd);
}

TEST(cachestat_of_a_pipe_or_empty_file_is_zero)
{
    int p[2];
    OK(pipe(p));
    struct cs_range r = {0, 0};
    struct cstat cs, zero;
    memset(&zero, 0, sizeof zero);
    memset(&cs, 0xff, sizeof cs);
    if (cachestat(p[0], &r, &cs, 0) == -1 && errno == ENOSYS)
        SKIP("no cachestat on this kernel");
    CHECK(!memcmp(&cs, &zero, sizeof cs), "a pipe has cached pages");
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = OK(open(kt_path(d, "e"), O_RDWR | O_CREAT, 0600));
    memset(&cs, 0xff, sizeof cs);
    OK(cachestat(fd, &r, &cs, 0));
    CHECK(!memcmp(&cs, &zero, sizeof cs), "an empty file has cached pages");
    close(fd);
    close(p[0]);
    close(p[1]);
}

static void cachestat_as_nobody(void *arg)
{
    int fd = *(int *)arg;
    struct cs_range r = {0, 0};
    struct cstat cs;
    if (setgid(65534) || setuid(65534))
        _exit(10);
    /* Not opened for writing, not owned, not writable: EPERM, before the
     * flags and the result pointer are looked at (not before the range). */
    errno = 0;
    if (cachestat(fd, &r, &cs, 0) != -1 || errno != EPERM)
        _exit(11);
    if (cachestat(fd, &r, &cs, 1) != -1 || errno != EPERM)
        _exit(12);
    if (cachestat(fd, &r, NULL, 0) != -1 || errno != EPERM)
        _exit(13);
    if (cachestat(fd, NULL, &cs, 0) != -1 || errno != EFAULT)
        _exit(14);
    _exit(0);
}

TEST(cachestat_errors)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = written_file(d, 1);
    CHECK(fd >= 0, "write the file");
    struct cs_range r = {0, 0};
    struct cstat cs;
    if (cachestat(fd, &r, &cs, 0) == -1 && errno == ENOSYS)
        SKIP("no cachestat on this kernel");
    EXPECT_ERRNO(cachestat(-1, &r, &cs, 0), EBADF);
    EXPECT_ERRNO(cachestat(1000000, &r, &cs, 0), EBADF);
    int pfd = OK(open(kt_path(d, "cs"), O_PATH));
    EXPECT_ERRNO(cachestat(pfd, &r, &cs, 0), EBADF);
    EXPECT_ERRNO(cachestat(fd, NULL, &cs, 0), EFAULT);
    EXPECT_ERRNO(cachestat(fd, &r, &cs, 1), EINVAL);
    EXPECT_ERRNO(cachestat(fd, &r, &cs, ~0u), EINVAL);
    /* The flags before the result pointer. */
    EXPECT_ERRNO(cachestat(fd, &r, NULL, 1), EINVAL);
    EXPECT_ERRNO(cachestat(fd, &r, NULL, 0), EFAULT);
    EXPECT_ERRNO(cachestat(fd, &r, (void *)1, 0), EFAULT);
    close(pfd);
    if (getuid() != 0)
        return;
    /* A root-owned 0644 file opened read-only, asked by another user. */
    OK(chmod(d, 0755));
    OK(chmod(kt_path(d, "cs"), 0644));
    int ro = OK(open(kt_path(d, "cs"), O_RDONLY));
    int st = kt_in_child(cachestat_as_nobody, &ro);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "as nobody: %s", kt_status(st));
    close(ro);
    close(fd);
}

/* ---- swapon / swapoff ------------------------------------------------ */

#define SWAP_FLAG_PREFER 0x8000
#define SWAP_FLAG_DISCARD 0x10000

static long swapon_(const char *p, int flags)
{
    return syscall(SYS_swapon, p, flags);
}

static long swapoff_(const char *p)
{
    return syscall(SYS_swapoff, p);
}

/* Writes a swap file of `pages` pages at `path`, every block allocated, with
 * a header as mkswap writes it; `version`, `last_page` and `bad` (a bad page
 * count) as given. 0 on success. */
static int make_swap(const char *path, unsigned pages, unsigned version,
                     unsigned last_page, unsigned bad)
{
    static unsigned char page[PG];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    memset(page, 0, sizeof page);
    for (unsigned i = 0; i < pages; i++)
        if (write(fd, page, PG) != PG)
            return close(fd), -1;
    uint32_t info[3] = {version, last_page, bad};
    memcpy(page + 1024, info, sizeof info);
    if (bad) {
        uint32_t first_bad = 1;
        memcpy(page + 1536, &first_bad, 4);
    }
    memcpy(page + PG - 10, "SWAPSPACE2", 10);
    if (pwrite(fd, page, PG, 0) != PG || fsync(fd) != 0)
        return close(fd), -1;
    return close(fd);
}

/* A temp dir on a file system that can hold swap (not tmpfs), or NULL. */
static const char *swap_dir(void)
{
    const char *d = kt_tmpdir();
    if (!d || on_tmpfs(d))
        return NULL;
    return d;
}

/* Whether /proc/swaps has a line naming `path` with type `type` and priority
 * `prio` (any priority if `any_prio`). */
static int in_proc_swaps(const char *path, const char *type, int prio, int any_prio)
{
    FILE *f = fopen("/proc/swaps", "r");
    if (!f)
        return 0;
    char line[512], name[300], t[32];
    unsigned long size, used;
    int p, found = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, "Filename\t", 9)) {
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%299s %31s %lu %lu %d", name, t, &size, &used, &p) == 5 &&
            !strcmp(name, path) && !strcmp(t, type) && (any_prio || p == prio) && used == 0)
            found = 1;
    fclose(f);
    return found;
}

static long meminfo_kb(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':')
            v = atol(line + n + 1);
    fclose(f);
    return v;
}

static void swap_as_nobody(void *arg)
{
    const char *path = arg;
    if (setgid(65534) || setuid(65534))
        _exit(10);
    errno = 0;
    if (swapon_(path, 0) != -1 || errno != EPERM)
        _exit(11);
    if (swapoff_(path) != -1 || errno != EPERM)
        _exit(12);
    /* Unknown flags come before the capability check. */
    if (swapon_(path, 0x100000) != -1 || errno != EINVAL)
        _exit(13);
    _exit(0);
}

TEST(swapon_errors_before_the_file)
{
    errno = 0;
    if (swapon_("/nonexistent-swap", 0) == -1 && errno == ENOSYS)
        SKIP("no swapon on this kernel");
    if (getuid() != 0)
        SKIP("needs root");
    EXPECT_ERRNO(swapon_("/nonexistent-swap", 0), ENOENT);
    EXPECT_ERRNO(swapon_("/nonexistent-swap", 0x100000), EINVAL);
    EXPECT_ERRNO(swapon_((const char *)1, 0), EFAULT);
    EXPECT_ERRNO(swapon_("", 0), ENOENT);
    EXPECT_ERRNO(swapoff_("/nonexistent-swap"), ENOENT);
    /* A directory opens read-write as EISDIR. */
    EXPECT_ERRNO(swapon_("/", 0), EISDIR);
    /* Not a swap area. */
    EXPECT_ERRNO(swapoff_("/proc/self/status"), EINVAL);
    int st = kt_in_child(swap_as_nobody, "/nonexistent-swap");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "as nobody: %s", kt_status(st));
    /* A tmpfs file cannot hold swap, header or not. */
    struct statfs sf;
    if (statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC) {
        char p[64];
        snprintf(p, sizeof p, "/dev/shm/kt-swap-%d", getpid());
        CHECK(make_swap(p, 16, 1, 15, 0) == 0, "make %s", p);
        errno = 0;
        long r = swapon_(p, 0);
        int e = errno;
        if (r == 0)
            swapoff_(p);
        unlink(p);
        CHECK(r == -1 && e == EINVAL, "swapon on tmpfs: %ld %s", r, kt_errstr(e));
    }
}

TEST(swapon_refuses_bad_headers)
{
    const char *d = swap_dir();
    if (!d)
        SKIP("the temp dir is on tmpfs, which holds no swap");
    if (getuid() != 0)
        SKIP("needs root");
    const char *p = kt_path(d, "sw");
    /* Empty: no header at all. */
    CHECK(kt_write_file(p, "", 0) == 0, "empty file");
    errno = 0;
    if (swapon_(p, 0) == -1 && errno == ENOSYS)
        SKIP("no swapon on this kernel");
    EXPECT_ERRNO(swapon_(p, 0), EINVAL);
    /* No magic. */
    CHECK(make_swap(p, 16, 1, 15, 0) == 0, "make");
    int fd = OK(open(p, O_WRONLY));
    OK(pwrite(fd, "XXXXXXXXXX", 10, PG - 10));
    close(fd);
    EXPECT_ERRNO(swapon_(p, 0), EINVAL);
    CHECK(make_swap(p, 16, 2, 15, 0) == 0, "make");
    EXPECT_ERRNO(swapon_(p, 0), EINVAL); /* version 2 */
    CHECK(make_swap(p, 16, 1, 0, 0) == 0, "make");
    EXPECT_ERRNO(swapon_(p, 0), EINVAL); /* last page 0 */
    CHECK(make_swap(p, 16, 1, 16, 0) == 0, "make");
    EXPECT_ERRNO(swapon_(p, 0), EINVAL); /* last page past the end */
    CHECK(make_swap(p, 16, 1, 15, 1) == 0, "make");
    EXPECT_ERRNO(swapon_(p, 0), EINVAL); /* bad pages in a file */
    /* A hole: the header page written, the rest never. */
    CHECK(make_swap(p, 1, 1, 15, 0) == 0, "make");
    OK(truncate(p, 16 * PG));
    EXPECT_ERRNO(swapon_(p, 0), EINVAL);
    EXPECT_ERRNO(swapoff_(p), EINVAL);
}

TEST(swap_file_lifecycle)
{
    const char *d = swap_dir();
    if (!d)
        SKIP("the temp dir is on tmpfs, which holds no swap");
    if (getuid() != 0)
        SKIP("needs root");
    char p[PATH_MAX];
    CHECK(realpath(d, p), "realpath");
    strcat(p, "/swapfile");
    CHECK(make_swap(p, 256, 1, 255, 0) == 0, "make");
    struct sysinfo before, on;
    OK(sysinfo(&before));
    long kb_before = meminfo_kb("SwapTotal");
    errno = 0;
    if (swapon_(p, 0) == -1 && errno == ENOSYS)
        SKIP("no swapon on this kernel");
    EXPECT_ERRNO(swapon_(p, 0), EBUSY);
    int ok = 1;
    OK(sysinfo(&on));
    /* 255 usable pages: the header page is not swap. */
    if ((on.totalswap - before.totalswap) * on.mem_unit != 255 * PG)
        ok = 0;
    if (meminfo_kb("SwapTotal") - kb_before != 255 * 4)
        ok = 0;
    int listed = in_proc_swaps(p, "file", 0, 1);
    /* The file is held: no writes, no shrinking, no fallocate. */
    int fd = open(p, O_RDWR);
    errno = 0;
    long w = pwrite(fd, "x", 1, 0);
    int we = errno;
    errno = 0;
    long t = ftruncate(fd, PG);
    int te = errno;
    errno = 0;
    int fe = posix_fallocate(fd, 0, 2 * PG);
    errno = 0;
    long tr = truncate(p, 0);
    int tre = errno;
    /* Reading is fine. */
    char c;
    long rd = pread(fd, &c, 1, 0);
    close(fd);
    long off = swapoff_(p);
    int offe = errno;
    CHECK(off == 0, "swapoff: %s", kt_errstr(offe));
    CHECK(ok, "swap totals grew by %lu bytes, SwapTotal by %ld kB",
          (unsigned long)((on.totalswap - before.totalswap) * on.mem_unit),
          meminfo_kb("SwapTotal") - kb_before);
    CHECK(listed, "not in /proc/swaps as a file with 0 used");
    CHECK(w == -1 && we == ETXTBSY, "write: %ld %s", w, kt_errstr(we));
    CHECK(t == -1 && te == ETXTBSY, "ftruncate: %ld %s", t, kt_errstr(te));
    CHECK(tr == -1 && tre == ETXTBSY, "truncate: %ld %s", tr, kt_errstr(tre));
    CHECK(fe == ETXTBSY, "posix_fallocate: %s", kt_errstr(fe));
    CHECK(rd == 1, "read: %ld", rd);
    EXPECT_ERRNO(swapoff_(p), EINVAL);
    CHECK(!in_proc_swaps(p, "file", 0, 1), "still in /proc/swaps");
    EXPECT_EQ(meminfo_kb("SwapTotal"), kb_before);
    /* Writable again. */
    fd = OK(open(p, O_RDWR));
    EXPECT_EQ(pwrite(fd, "x", 1, 0), 1);
    close(fd);
}

#define LOOP_SET_FD_ 0x4C00
#define LOOP_CLR_FD_ 0x4C01
#define LOOP_CTL_GET_FREE_ 0x4C82

TEST(swap_on_a_block_device)
{
    if (getuid() != 0)
        SKIP("needs root");
    errno = 0;
    if (swapon_("/nonexistent-swap", 0) == -1 && errno == ENOSYS)
        SKIP("no swapon on this kernel");
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    /* A loop device over a file holding a swap header: 64 pages. */
    CHECK(make_swap(kt_path(d, "backing"), 64, 1, 63, 0) == 0, "make");
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        SKIP("no /dev/loop-control");
    int n = ioctl(ctl, LOOP_CTL_GET_FREE_);
    close(ctl);
    if (n < 0)
        SKIP("no free loop device");
    char dev[32];
    snprintf(dev, sizeof dev, "/dev/loop%d", n);
    int lo = open(dev, O_RDWR | O_CLOEXEC);
    int back = open(kt_path(d, "backing"), O_RDWR | O_CLOEXEC);
    CHECK(lo >= 0 && back >= 0, "open %s and its file", dev);
    if (ioctl(lo, LOOP_SET_FD_, back) != 0) {
        close(lo);
        close(back);
        SKIP("LOOP_SET_FD: %s", kt_errstr(errno));
    }
    close(back);
    struct sysinfo before, on;
    sysinfo(&before);
    long r = swapon_(dev, 0);
    int e = errno;
    sysinfo(&on);
    int listed = in_proc_swaps(dev, "partition", 0, 1);
    errno = 0;
    long again = swapon_(dev, 0);
    int again_e = errno;
    /* Held as an exclusive opener holds it: no writes, no mount. */
    errno = 0;
    long w = pwrite(lo, "x", 1, 8192);
    int we = errno;
    errno = 0;
    long m = mount(dev, d, "ext2", 0, NULL);
    int me = errno;
    if (m == 0)
        umount(d);
    long off = r == 0 ? swapoff_(dev) : 0;
    int offe = errno;
    ioctl(lo, LOOP_CLR_FD_, 0);
    close(lo);
    CHECK(r == 0, "swapon %s: %s", dev, kt_errstr(e));
    CHECK(off == 0, "swapoff: %s", kt_errstr(offe));
    CHECK(listed, "%s not in /proc/swaps as a partition", dev);
    EXPECT_EQ((on.totalswap - before.totalswap) * on.mem_unit, 63 * PG);
    CHECK(again == -1 && again_e == EBUSY, "swapon again: %ld %s", again, kt_errstr(again_e));
    CHECK(w == -1 && we == ETXTBSY, "write: %ld %s", w, kt_errstr(we));
    CHECK(m == -1 && me == EBUSY, "mount: %ld %s", m, kt_errstr(me));
}

TEST(swapon_priorities)
{
    const char *d = swap_dir();
    if (!d)
        SKIP("the temp dir is on tmpfs, which holds no swap");
    if (getuid() != 0)
        SKIP("needs root");
    char a[PATH_MAX], b[PATH_MAX];
    CHECK(realpath(d, a), "realpath");
    strcpy(b, a);
    strcat(a, "/swa");
    strcat(b, "/swb");
    CHECK(make_swap(a, 16, 1, 15, 0) == 0 && make_swap(b, 16, 1, 15, 0) == 0, "make");
    errno = 0;
    if (swapon_(a, SWAP_FLAG_PREFER | 7) == -1 && errno == ENOSYS)
        SKIP("no swapon on this kernel");
    long r = swapon_(b, SWAP_FLAG_DISCARD);
    int listed_a = in_proc_swaps(a, "file", 7, 0);
    FILE *f = fopen("/proc/swaps", "r");
    int prio_b = 0;
    char line[512], name[300];
    while (f && fgets(line, sizeof line, f)) {
        int p;
        if (sscanf(line, "%299s %*s %*u %*u %d", name, &p) == 2 && !strcmp(name, b))
            prio_b = p;
    }
    if (f)
        fclose(f);
    swapoff_(a);
    if (r == 0)
        swapoff_(b);
    CHECK(r == 0, "swapon with SWAP_FLAG_DISCARD: %s", kt_errstr(errno));
    CHECK(listed_a, "SWAP_FLAG_PREFER | 7 is not priority 7");
    CHECK(prio_b < 0, "an automatic priority is %d, not negative", prio_b);
}

TEST(swapon_limits_the_number_of_areas)
{
    const char *d = swap_dir();
    if (!d)
        SKIP("the temp dir is on tmpfs, which holds no swap");
    if (getuid() != 0)
        SKIP("needs root");
    static char paths[40][PATH_MAX + 8];
    int on = 0, err = 0;
    char base[PATH_MAX];
    CHECK(realpath(d, base), "realpath");
    errno = 0;
    if (swapon_("/nonexistent-swap", 0) == -1 && errno == ENOSYS)
        SKIP("no swapon on this kernel");
    for (int i = 0; i < 40; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/s%02d", base, i);
        if (make_swap(paths[i], 16, 1, 15, 0) != 0) {
            err = -1;
            break;
        }
        if (swapon_(paths[i], 0) != 0) {
            err = errno;
            break;
        }
        on++;
    }
    for (int i = 0; i < on; i++)
        swapoff_(paths[i]);
    CHECK(err == EPERM, "after %d areas: %s", on, kt_errstr(err));
    CHECK(on >= 15, "only %d areas", on);
}

/* ---- mseal ------------------------------------------------------------ */

static long mseal_(void *p, size_t len, unsigned long flags)
{
    return syscall(NR_mseal, p, len, flags);
}

static int have_mseal(void)
{
    errno = 0;
    return !(mseal_(NULL, 0, 0) == -1 && errno == ENOSYS);
}

TEST(mseal_errors)
{
    if (!have_mseal())
        SKIP("no mseal on this kernel");
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap");
    OK(munmap(m + 2 * PG, PG));
    EXPECT_ERRNO(mseal_(m, PG, 1), EINVAL);
    EXPECT_ERRNO(mseal_(m, PG, ~0ul), EINVAL);
    EXPECT_ERRNO(mseal_(m + 1, PG, 0), EINVAL);
    /* A length that wraps to 0 when rounded up to pages. */
    EXPECT_ERRNO(mseal_(m, ~0ul - PG + 2, 0), EINVAL);
    /* A range that wraps. */
    EXPECT_ERRNO(mseal_(m, ~0ul - 2 * PG + 1, 0), EINVAL);
    /* Holes: nothing is sealed then. */
    EXPECT_ERRNO(mseal_(m + 2 * PG, 2 * PG, 0), ENOMEM);
    EXPECT_ERRNO(mseal_(m + PG, 2 * PG, 0), ENOMEM);
    EXPECT_ERRNO(mseal_(m, 4 * PG, 0), ENOMEM);
    EXPECT_EQ(mseal_(m, 0, 0), 0);
    EXPECT_EQ(mseal_(m + 1, 0, 1), -1);
    /* The failed calls sealed nothing. */
    OK(mprotect(m, 2 * PG, PROT_READ));
    OK(munmap(m, 4 * PG));
}

/* Runs in a child: sealing lasts as long as the address space. Returns a
 * failing step's number through the exit status, 0 if all held. */
static void sealed_child(void *arg)
{
    (void)arg;
    char *m = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        _exit(100);
    memset(m, 'a', 8 * PG);
    char *s = m + 2 * PG; /* pages 2 and 3 sealed */
    if (mseal_(s, 2 * PG, 0) != 0)
        _exit(101);
    if (mseal_(s, 2 * PG, 0) != 0) /* again: fine */
        _exit(102);
#define MUST_EPERM(n, expr)                                                   \
    do {                                                                      \
        errno = 0;                                                            \
        if ((long)(expr) != -1 || errno != EPERM)                             \
            _exit(n);                                                         \
    } while (0)
    MUST_EPERM(1, munmap(m, 8 * PG));
    MUST_EPERM(2, munmap(s + PG, PG));
    MUST_EPERM(3, mprotect(s, PG, PROT_READ));
    MUST_EPERM(4, mprotect(m, 8 * PG, PROT_READ | PROT_WRITE));
    MUST_EPERM(5, syscall(SYS_pkey_mprotect, s, PG, PROT_READ, -1));
    errno = 0;
    if (mremap(s, 2 * PG, 4 * PG, MREMAP_MAYMOVE) != MAP_FAILED || errno != EPERM)
        _exit(6);
    errno = 0;
    if (mremap(s, 2 * PG, PG, 0) != MAP_FAILED || errno != EPERM)
        _exit(7);
    /* Shrinking an unsealed area's range over the sealed one unmaps it. */
    errno = 0;
    if (mremap(m, 8 * PG, PG, 0) != MAP_FAILED || errno != EPERM)
        _exit(8);
    char *other = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (other == MAP_FAILED)
        _exit(103);
    errno = 0;
    if (mremap(other, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, s) != MAP_FAILED ||
        errno != EPERM)
        _exit(9);
    errno = 0;
    if (mmap(s, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED ||
        errno != EPERM)
        _exit(10);
    /* Writable anonymous memory may still drop its pages. */
    if (madvise(s, 2 * PG, MADV_DONTNEED) != 0)
        _exit(11);
    if (s[0] != 0)
        _exit(12);
    /* The unsealed parts change as ever. */
    if (mprotect(m, 2 * PG, PROT_READ) != 0 || munmap(m + 5 * PG, PG) != 0)
        _exit(13);
    if (m[0] != 'a' || m[4 * PG] != 'a')
        _exit(14);
    /* A read-only sealed anonymous area keeps its pages. */
    char *ro = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ro == MAP_FAILED)
        _exit(104);
    ro[0] = 'r';
    if (mprotect(ro, 2 * PG, PROT_READ) != 0 || mseal_(ro, 2 * PG, 0) != 0)
        _exit(105);
    MUST_EPERM(15, madvise(ro, PG, MADV_DONTNEED));
    MUST_EPERM(16, madvise(ro, PG, MADV_FREE));
    MUST_EPERM(17, madvise(ro, PG, MADV_DONTFORK));
    if (ro[0] != 'r')
        _exit(18);
    /* Advice that drops nothing is fine. */
    if (madvise(ro, PG, MADV_WILLNEED) != 0 || madvise(ro, PG, MADV_NORMAL) != 0)
        _exit(19);
    /* The seal goes to a child of fork. */
    pid_t pid = fork();
    if (pid == 0) {
        errno = 0;
        _exit(munmap(s, PG) == -1 && errno == EPERM ? 0 : 1);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        _exit(20);
#undef MUST_EPERM
    _exit(0);
}

TEST(sealed_areas_refuse_changes)
{
    if (!have_mseal())
        SKIP("no mseal on this kernel");
    int st = kt_in_child(sealed_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "step %d (%s)",
          WIFEXITED(st) ? WEXITSTATUS(st) : -1, kt_status(st));
}

/* ---- process_madvise / process_mrelease ------------------------------ */

static long pmadv(int pidfd, struct iovec *v, size_t n, int advice, unsigned flags)
{
    return syscall(NR_process_madvise, pidfd, v, n, advice, flags);
}

static int pidfd_of(pid_t pid)
{
    return syscall(NR_pidfd_open, pid, 0);
}

TEST(process_madvise_on_self)
{
    int pfd = OK(pidfd_of(getpid()));
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap");
    memset(m, 'x', 4 * PG);
    struct iovec v[2] = {{m, PG}, {m + 2 * PG, PG + 100}};
    errno = 0;
    long r = pmadv(pfd, v, 2, MADV_WILLNEED, 0);
    if (r == -1 && errno == ENOSYS)
        SKIP("no process_madvise on this kernel");
    /* The bytes of the ranges, as given (not rounded to pages). */
    EXPECT_EQ(r, 2 * PG + 100);
    /* Any madvise advice on oneself: DONTNEED drops the pages. */
    EXPECT_EQ(pmadv(pfd, v, 2, MADV_DONTNEED, 0), 2 * PG + 100);
    EXPECT_EQ(m[0], 0);
    EXPECT_EQ(m[PG], 'x');
    EXPECT_EQ(m[3 * PG], 0);
    EXPECT_EQ(pmadv(pfd, v, 0, MADV_DONTNEED, 0), 0);
    /* COLD and PAGEOUT are hints: the memory stays as it is. */
    m[0] = 'y';
    EXPECT_EQ(pmadv(pfd, v, 1, MADV_PAGEOUT_, 0), PG);
    EXPECT_EQ(pmadv(pfd, v, 1, MADV_COLD_, 0), PG);
    EXPECT_EQ(m[0], 'y');
    /* A failing range ends the call: the bytes done before it, else its error. */
    struct iovec bad[2] = {{m, PG}, {m + 1, PG}};
    EXPECT_EQ(pmadv(pfd, bad, 2, MADV_WILLNEED, 0), PG);
    EXPECT_ERRNO(pmadv(pfd, bad + 1, 1, MADV_WILLNEED, 0), EINVAL);
    OK(munmap(m + 3 * PG, PG));
    struct iovec hole[2] = {{m, PG}, {m + 3 * PG, PG}};
    EXPECT_EQ(pmadv(pfd, hole, 2, MADV_WILLNEED, 0), PG);
    EXPECT_ERRNO(pmadv(pfd, hole + 1, 1, MADV_WILLNEED, 0), ENOMEM);
    EXPECT_ERRNO(pmadv(pfd, v, 1, 12345, 0), EINVAL);
    munmap(m, 3 * PG);
    close(pfd);
}

static void pmadv_as_nobody(void *arg)
{
    int pfd = *(int *)arg;
    /* The child below is ours (same user) but we lack CAP_SYS_NICE. */
    if (setgid(65534) || setuid(65534))
        _exit(10);
    /* A uid change makes a process undumpable, which only root may read. */
    prctl(PR_SET_DUMPABLE, 1);
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    int cfd = pidfd_of(c);
    char buf[16];
    struct iovec v = {buf, sizeof buf};
    errno = 0;
    long r = pmadv(cfd, &v, 1, MADV_COLD_, 0);
    int e = errno;
    /* Root's process: not ours to read. */
    errno = 0;
    long r2 = pmadv(pfd, &v, 1, MADV_COLD_, 0);
    int e2 = errno;
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    if (r != -1 || e != EPERM)
        _exit(11);
    if (r2 != -1 || e2 != EACCES)
        _exit(12);
    _exit(0);
}

TEST(process_madvise_on_another_process)
{
    int sync_pipe[2];
    OK(pipe(sync_pipe));
    /* The child's memory is at the same address as ours (fork). */
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap");
    memset(m, 'c', 2 * PG);
    pid_t c = fork();
    if (c == 0) {
        char b;
        close(sync_pipe[1]);
        /* Waits for the parent, then says whether its memory is intact. */
        if (read(sync_pipe[0], &b, 1) != 1)
            _exit(2);
        _exit(m[0] == 'c' && m[PG] == 'c' ? 0 : 1);
    }
    close(sync_pipe[0]);
    int cfd = OK(pidfd_of(c));
    struct iovec v = {m, 2 * PG};
    errno = 0;
    long r = pmadv(cfd, &v, 1, MADV_COLD_, 0);
    int e = errno;
    long r_dontneed = pmadv(cfd, &v, 1, MADV_DONTNEED, 0);
    int e_dontneed = errno;
    long r_pageout = pmadv(cfd, &v, 1, MADV_PAGEOUT_, 0);
    long r_willneed = pmadv(cfd, &v, 1, MADV_WILLNEED, 0);
    long r_flags = pmadv(cfd, &v, 1, MADV_COLD_, 1);
    int e_flags = errno;
    if (write(sync_pipe[1], "g", 1) != 1) {
    }
    close(sync_pipe[1]);
    int st;
    if (r == -1 && e == ENOSYS) {
        waitpid(c, &st, 0);
        SKIP("no process_madvise on this kernel");
    }
    /* The child is a zombie until reaped: its memory is gone. */
    OK(syscall(SYS_waitid, P_PID, c, NULL, WEXITED | WNOWAIT, NULL));
    errno = 0;
    long r_zombie = pmadv(cfd, &v, 1, MADV_COLD_, 0);
    int e_zombie = errno;
    OK(waitpid(c, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    EXPECT_EQ(r, 2 * PG);
    CHECK(r_dontneed == -1 && e_dontneed == EINVAL, "DONTNEED remote: %ld %s",
          r_dontneed, kt_errstr(e_dontneed));
    EXPECT_EQ(r_pageout, 2 * PG);
    EXPECT_EQ(r_willneed, 2 * PG);
    CHECK(r_flags == -1 && e_flags == EINVAL, "flags: %ld", r_flags);
    CHECK(r_zombie == -1 && e_zombie == ESRCH, "zombie: %ld %s", r_zombie, kt_errstr(e_zombie));
    /* Reaped: the pidfd names nobody. */
    EXPECT_ERRNO(pmadv(cfd, &v, 1, MADV_COLD_, 0), ESRCH);
    close(cfd);
    munmap(m, 2 * PG);
    EXPECT_ERRNO(pmadv(-1, &v, 1, MADV_COLD_, 0), EBADF);
    int nul = OK(open("/dev/null", O_RDONLY));
    EXPECT_ERRNO(pmadv(nul, &v, 1, MADV_COLD_, 0), EBADF);
    close(nul);
    int me = OK(pidfd_of(getpid()));
    EXPECT_ERRNO(pmadv(me, &v, 1025, MADV_COLD_, 0), EINVAL);
    EXPECT_ERRNO(pmadv(me, (struct iovec *)1, 1, MADV_COLD_, 0), EFAULT);
    if (getuid() == 0) {
        int st2 = kt_in_child(pmadv_as_nobody, &me);
        CHECK(WIFEXITED(st2) && WEXITSTATUS(st2) == 0, "as nobody: %s", kt_status(st2));
    }
    close(me);
}

TEST(process_mrelease_needs_a_dying_process)
{
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    int cfd = OK(pidfd_of(c));
    errno = 0;
    long r = syscall(NR_process_mrelease, cfd, 0);
    int e = errno;
    if (r == -1 && e == ENOSYS) {
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        SKIP("no process_mrelease on this kernel");
    }
    long rf = syscall(NR_process_mrelease, cfd, 1);
    int ef = errno;
    OK(kill(c, SIGKILL));
    /* Dying: released (0), or already gone (ESRCH). */
    errno = 0;
    long rk = syscall(NR_process_mrelease, cfd, 0);
    int ek = errno;
    OK(syscall(SYS_waitid, P_PID, c, NULL, WEXITED | WNOWAIT, NULL));
    errno = 0;
    long rz = syscall(NR_process_mrelease, cfd, 0);
    int ez = errno;
    waitpid(c, NULL, 0);
    CHECK(r == -1 && e == EINVAL, "alive: %ld %s", r, kt_errstr(e));
    CHECK(rf == -1 && ef == EINVAL, "flags: %ld %s", rf, kt_errstr(ef));
    CHECK(rk == 0 || (rk == -1 && ek == ESRCH), "killed: %ld %s", rk, kt_errstr(ek));
    CHECK(rz == -1 && ez == ESRCH, "zombie: %ld %s", rz, kt_errstr(ez));
    EXPECT_ERRNO(syscall(NR_process_mrelease, -1, 0), EBADF);
    close(cfd);
}

/* ---- futex2: futex_wake, futex_wait, futex_requeue --------------------- */

struct futex_waitv_ {
    uint64_t val, uaddr;
    uint32_t flags, reserved;
};

static long fwake(uint32_t *u, unsigned long mask, int nr, unsigned flags)
{
    return syscall(NR_futex_wake, u, mask, nr, flags);
}

static long fwait(uint32_t *u, unsigned long val, unsigned long mask, unsigned flags,
                  struct timespec *ts, int clock)
{
    return syscall(NR_futex_wait, u, val, mask, flags, ts, clock);
}

static int have_futex2(void)
{
    uint32_t w = 0;
    errno = 0;
    return !(fwake(&w, 1, 1, FUTEX2_SIZE_U32) == -1 && errno == ENOSYS);
}

struct waiter {
    uint32_t *word;
    unsigned long mask;
    int use_futex2;
    volatile int started;
    long ret;
    int err;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    w->started = 1;
    errno = 0;
    if (w->use_futex2)
        w->ret = fwait(w->word, 0, w->mask, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, NULL, 0);
    else
        w->ret = syscall(SYS_futex, w->word, 9 /* FUTEX_WAIT_BITSET */ | 128, 0, NULL, NULL,
                         (uint32_t)w->mask);
    w->err = errno;
    return NULL;
}

/* Wakes `u` with `wake` until it reports one woken (the waiter may not be
 * queued yet); the total woken, 0 after about 2 s. */
static long wake_one(long (*wake)(uint32_t *), uint32_t *u)
{
    for (int i = 0; i < 200; i++) {
        long n = wake(u);
        if (n != 0)
            return n;
        usleep(10000);
    }
    return 0;
}

static long wake2_all(uint32_t *u)
{
    return fwake(u, ~0u, 10, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE);
}

static long wake1_all(uint32_t *u)
{
    return syscall(SYS_futex, u, 1 /* FUTEX_WAKE */ | 128, 10, NULL, NULL, 0);
}

TEST(futex2_argument_errors)
{
    if (!have_futex2())
        SKIP("no futex2 calls on this kernel");
    static uint32_t w[2];
    unsigned f = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
    EXPECT_EQ(fwake(w, ~0u, 1, f), 0);
    EXPECT_EQ(fwake(w, ~0u, 0, f), 0);
    EXPECT_ERRNO(fwake(w, ~0u, 1, 0 /* U8 */), EINVAL);
    EXPECT_ERRNO(fwake(w, ~0u, 1, 3 /* U64 */), EINVAL);
    EXPECT_ERRNO(fwake(w, ~0u, 1, f | 0x100), EINVAL);
    EXPECT_ERRNO(fwake(w, 0, 1, f), EINVAL);
    EXPECT_ERRNO(fwake(w, 1ul << 32, 1, f), EINVAL);
    EXPECT_ERRNO(fwake((uint32_t *)((char *)w + 2), ~0u, 1, f), EINVAL);
    EXPECT_ERRNO(fwake((uint32_t *)8, ~0u, 1, FUTEX2_SIZE_U32), EFAULT);

    EXPECT_ERRNO(fwait(w, 1, ~0u, f, NULL, 0), EAGAIN);
    EXPECT_ERRNO(fwait(w, 1ul << 32, ~0u, f, NULL, 0), EINVAL);
    EXPECT_ERRNO(fwait(w, 0, 0, f, NULL, 0), EINVAL);
    /* The mask must fit 32 bits, as the value. */
    EXPECT_ERRNO(fwait(w, 0, ~0ul, f, NULL, 0), EINVAL);
    EXPECT_ERRNO(fwait(w, 0, ~0u, 0, NULL, 0), EINVAL);
    EXPECT_ERRNO(fwait((uint32_t *)((char *)w + 1), 0, ~0u, f, NULL, 0), EINVAL);
    EXPECT_ERRNO(fwait((uint32_t *)8, 0, ~0u, FUTEX2_SIZE_U32, NULL, 0), EFAULT);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    EXPECT_ERRNO(fwait(w, 0, ~0u, f, &ts, CLOCK_BOOTTIME), EINVAL);
    EXPECT_ERRNO(fwait(w, 0, ~0u, f, (struct timespec *)8, CLOCK_MONOTONIC), EFAULT);
    /* The timeout is absolute, on the clock named. */
    ts.tv_nsec += 30 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    EXPECT_ERRNO(fwait(w, 0, ~0u, f, &ts, CLOCK_MONOTONIC), ETIMEDOUT);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 30 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    EXPECT_ERRNO(fwait(w, 0, ~0u, f, &ts, CLOCK_REALTIME), ETIMEDOUT);
    /* A time already past. */
    ts.tv_sec = 0;
    ts.tv_nsec = 0;
    EXPECT_ERRNO(fwait(w, 0, ~0u, f, &ts, CLOCK_MONOTONIC), ETIMEDOUT);

    struct futex_waitv_ v[2] = {{0, (uintptr_t)&w[0], f, 0}, {0, (uintptr_t)&w[1], f, 0}};
    EXPECT_EQ(syscall(NR_futex_requeue, v, 0, 1, 1), 0);
    EXPECT_ERRNO(syscall(NR_futex_requeue, v, 1, 1, 1), EINVAL);
    EXPECT_ERRNO(syscall(NR_futex_requeue, NULL, 0, 1, 1), EINVAL);
    EXPECT_ERRNO(syscall(NR_futex_requeue, v, 0, -1, 1), EINVAL);
    EXPECT_ERRNO(syscall(NR_futex_requeue, v, 0, 1, -1), EINVAL);
    EXPECT_ERRNO(syscall(NR_futex_requeue, (void *)8, 0, 1, 1), EFAULT);
    v[0].val = 5;
    EXPECT_ERRNO(syscall(NR_futex_requeue, v, 0, 1, 1), EAGAIN);
    v[0].val = 0;
    v[1].reserved = 1;
    EXPECT_ERRNO(syscall(NR_futex_requeue, v, 0, 1, 1), EINVAL);
    v[1].reserved = 0;
    v[1].flags = 3;
    EXPECT_ERRNO(syscall(NR_futex_requeue, v, 0, 1, 1), EINVAL);
    v[1].flags = f;
    v[0].val = 1ul << 32;
    EXPECT_ERRNO(syscall(NR_futex_requeue, v, 0, 1, 1), EINVAL);
}

TEST(futex2_waiters_are_woken_by_either_family)
{
    if (!have_futex2())
        SKIP("no futex2 calls on this kernel");
    static uint32_t word;
    pthread_t t;
    /* futex_wait woken by futex(FUTEX_WAKE). */
    struct waiter a = {&word, ~0u, 1, 0, 0, 0};
    CHECK(pthread_create(&t, NULL, waiter_main, &a) == 0, "thread");
    long n = wake_one(wake1_all, &word);
    pthread_join(t, NULL);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(a.ret, 0);
    /* futex(FUTEX_WAIT_BITSET) woken by futex_wake. */
    struct waiter b = {&word, 0x4, 0, 0, 0, 0};
    CHECK(pthread_create(&t, NULL, waiter_main, &b) == 0, "thread");
    while (!b.started)
        usleep(1000);
    usleep(20000);
    /* A mask that shares no bit wakes nobody. */
    EXPECT_EQ(fwake(&word, 0x3, 10, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE), 0);
    n = wake_one(wake2_all, &word);
    pthread_join(t, NULL);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(b.ret, 0);
}

TEST(futex_requeue_moves_waiters)
{
    if (!have_futex2())
        SKIP("no futex2 calls on this kernel");
    static uint32_t wa, wb;
    unsigned f = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
    struct waiter w1 = {&wa, ~0u, 1, 0, 0, 0}, w2 = {&wa, ~0u, 1, 0, 0, 0};
    pthread_t t1, t2;
    CHECK(pthread_create(&t1, NULL, waiter_main, &w1) == 0, "thread");
    CHECK(pthread_create(&t2, NULL, waiter_main, &w2) == 0, "thread");
    while (!w1.started || !w2.started)
        usleep(1000);
    struct futex_waitv_ v[2] = {{0, (uintptr_t)&wa, f, 0}, {0, (uintptr_t)&wb, f, 0}};
    /* Until both are queued: wake none, move both. */
    long moved = 0;
    for (int i = 0; i < 200 && moved < 2; i++) {
        long r = syscall(NR_futex_requeue, v, 0, 0, 2);
        if (r < 0)
            break;
        moved += r;
        if (moved < 2)
            usleep(10000);
    }
    /* Nobody waits on the first any more; the second wakes both. */
    long on_a = fwake(&wa, ~0u, 10, f);
    long on_b = fwake(&wb, ~0u, 10, f);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    EXPECT_EQ(moved, 2);
    EXPECT_EQ(on_a, 0);
    EXPECT_EQ(on_b, 2);
    EXPECT_EQ(w1.ret, 0);
    EXPECT_EQ(w2.ret, 0);
}

/* ---- setxattrat, getxattrat, listxattrat, removexattrat -------------- */

struct xattr_args_ {
    uint64_t value;
    uint32_t size, flags;
};

static long setxa(int dfd, const char *p, unsigned at, const char *name, const void *v,
                  size_t n, unsigned flags)
{
    struct xattr_args_ a = {(uintptr_t)v, (uint32_t)n, flags};
    return syscall(NR_setxattrat, dfd, p, at, name, &a, sizeof a);
}

static long getxa(int dfd, const char *p, unsigned at, const char *name, void *v, size_t n)
{
    struct xattr_args_ a = {(uintptr_t)v, (uint32_t)n, 0};
    return syscall(NR_getxattrat, dfd, p, at, name, &a, sizeof a);
}

TEST(xattrat_calls_name_files_from_a_directory)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    CHECK(kt_write_file(kt_path(d, "f"), "x", 1) == 0, "write f");
    errno = 0;
    long r = setxa(dfd, "f", 0, "user.a", "one", 3, 0);
    if (r == -1 && errno == ENOSYS)
        SKIP("no *xattrat calls on this kernel");
    if (r == -1 && errno == EOPNOTSUPP)
        SKIP("no user xattrs on this file system");
    EXPECT_EQ(r, 0);
    char buf[64];
    EXPECT_EQ(getxa(dfd, "f", 0, "user.a", buf, sizeof buf), 3);
    CHECK(!memcmp(buf, "one", 3), "value");
    /* Size 0 asks for the length. */
    EXPECT_EQ(getxa(dfd, "f", 0, "user.a", NULL, 0), 3);
    EXPECT_ERRNO(getxa(dfd, "f", 0, "user.a", buf, 2), ERANGE);
    /* The same through the old calls. */
    EXPECT_EQ(getxattr(kt_path(d, "f"), "user.a", buf, sizeof buf), 3);
    /* XATTR_CREATE and XATTR_REPLACE. */
    EXPECT_ERRNO(setxa(dfd, "f", 0, "user.a", "two", 3, XATTR_CREATE_), EEXIST);
    EXPECT_ERRNO(setxa(dfd, "f", 0, "user.b", "two", 3, XATTR_REPLACE_), ENODATA);
    OK(setxa(dfd, "f", 0, "user.b", "two", 3, XATTR_CREATE_));
    long n = syscall(NR_listxattrat, dfd, "f", 0, buf, sizeof buf);
    CHECK(n > 0, "listxattrat: %s", kt_errstr(errno));
    int found = 0;
    for (char *q = buf; q < buf + n; q += strlen(q) + 1)
        found += !strcmp(q, "user.a") + !strcmp(q, "user.b");
    EXPECT_EQ(found, 2);
    OK(syscall(NR_removexattrat, dfd, "f", 0, "user.b"));
    EXPECT_ERRNO(syscall(NR_removexattrat, dfd, "f", 0, "user.b"), ENODATA);
    /* AT_EMPTY_PATH: the descriptor's own file, with "" or NULL. */
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    EXPECT_EQ(getxa(fd, "", AT_EMPTY_PATH, "user.a", buf, sizeof buf), 3);
    EXPECT_EQ(getxa(fd, NULL, AT_EMPTY_PATH, "user.a", buf, sizeof buf), 3);
    OK(setxa(fd, NULL, AT_EMPTY_PATH, "user.c", "3", 1, 0));
    EXPECT_EQ(getxattr(kt_path(d, "f"), "user.c", buf, sizeof buf), 1);
    OK(syscall(NR_removexattrat, fd, "", AT_EMPTY_PATH, "user.c"));
    EXPECT_ERRNO(getxa(fd, "", 0, "user.a", buf, sizeof buf), ENOENT);
    EXPECT_ERRNO(getxa(fd, NULL, 0, "user.a", buf, sizeof buf), EFAULT);
    /* An O_PATH descriptor is no file to these calls. */
    int pfd = OK(open(kt_path(d, "f"), O_PATH));
    EXPECT_ERRNO(getxa(pfd, "", AT_EMPTY_PATH, "user.a", buf, sizeof buf), EBADF);
    /* But it is a directory to start from. */
    int pd = OK(open(d, O_PATH | O_DIRECTORY));
    EXPECT_EQ(getxa(pd, "f", 0, "user.a", buf, sizeof buf), 3);
    /* A symlink is followed unless AT_SYMLINK_NOFOLLOW; user.* on a link itself
     * is refused. */
    OK(symlinkat("f", dfd, "l"));
    EXPECT_EQ(getxa(dfd, "l", 0, "user.a", buf, sizeof buf), 3);
    EXPECT_ERRNO(getxa(dfd, "l", AT_SYMLINK_NOFOLLOW, "user.a", buf, sizeof buf), ENODATA);
    EXPECT_ERRNO(setxa(dfd, "l", AT_SYMLINK_NOFOLLOW, "user.a", "x", 1, 0), EPERM);
    close(pd);
    close(pfd);
    close(fd);
    close(dfd);
}

TEST(xattrat_argument_errors)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    CHECK(kt_write_file(kt_path(d, "f"), "x", 1) == 0, "write f");
    errno = 0;
    long r = setxa(dfd, "f", 0, "user.a", "one", 3, 0);
    if (r == -1 && errno == ENOSYS)
        SKIP("no *xattrat calls on this kernel");
    if (r == -1 && errno == EOPNOTSUPP)
        SKIP("no user xattrs on this file system");
    char buf[32];
    EXPECT_ERRNO(setxa(dfd, "f", 0x2, "user.a", "x", 1, 0), EINVAL);
    EXPECT_ERRNO(getxa(dfd, "f", 0x200, "user.a", buf, sizeof buf), EINVAL);
    EXPECT_ERRNO(syscall(NR_listxattrat, dfd, "f", 0x1, buf, sizeof buf), EINVAL);
    EXPECT_ERRNO(syscall(NR_removexattrat, dfd, "f", 0x1, "user.a"), EINVAL);
    EXPECT_ERRNO(setxa(dfd, "f", 0, "user.a", "x", 1, 4), EINVAL);
    EXPECT_ERRNO(setxa(dfd, "f", 0, "", "x", 1, 0), ERANGE);
    EXPECT_ERRNO(setxa(dfd, "f", 0, "user.a", "x", 65537, 0), E2BIG);
    EXPECT_ERRNO(setxa(dfd, "f", 0, "bogus.a", "x", 1, 0), EOPNOTSUPP);
    EXPECT_ERRNO(setxa(-1, "f", 0, "user.a", "x", 1, 0), EBADF);
    EXPECT_ERRNO(setxa(dfd, "missing", 0, "user.a", "x", 1, 0), ENOENT);
    /* struct xattr_args: at least 16 bytes, at most a page, unknown bytes zero. */
    struct {
        struct xattr_args_ a;
        uint64_t more;
    } big = {{(uintptr_t)buf, sizeof buf, 0}, 0};
    EXPECT_ERRNO(syscall(NR_getxattrat, dfd, "f", 0, "user.a", &big, 8), EINVAL);
    EXPECT_ERRNO(syscall(NR_getxattrat, dfd, "f", 0, "user.a", &big, 4097), E2BIG);
    EXPECT_EQ(syscall(NR_getxattrat, dfd, "f", 0, "user.a", &big, sizeof big), 3);
    big.more = 1;
    EXPECT_ERRNO(syscall(NR_getxattrat, dfd, "f", 0, "user.a", &big, sizeof big), E2BIG);
    EXPECT_ERRNO(syscall(NR_getxattrat, dfd, "f", 0, "user.a", (void *)8, 16), EFAULT);
    /* getxattrat takes no flags in its arguments. */
    big.more = 0;
    big.a.flags = XATTR_CREATE_;
    EXPECT_ERRNO(syscall(NR_getxattrat, dfd, "f", 0, "user.a", &big, sizeof big), EINVAL);
    close(dfd);
}

int main(void)
{
    KT_BEGIN();
    RUN(fchmodat2_changes_file_mode_with_and_without_nofollow);
    RUN(fchmodat2_follows_symlink_but_nofollow_is_eopnotsupp);
    RUN(fchmodat2_empty_path_changes_the_fds_file);
    RUN(fchmodat2_errors);
    RUN(chmod_through_proc_fd_of_symlink_is_eopnotsupp);
    RUN(cachestat_counts_written_pages_and_the_range);
    RUN(cachestat_holes_are_not_cached);
    RUN(cachestat_of_a_pipe_or_empty_file_is_zero);
    RUN(cachestat_errors);
    RUN(swapon_errors_before_the_file);
    RUN(swapon_refuses_bad_headers);
    RUN(swap_file_lifecycle);
    RUN(swap_on_a_block_device);
    RUN(swapon_priorities);
    RUN(swapon_limits_the_number_of_areas);
    RUN(mseal_errors);
    RUN(sealed_areas_refuse_changes);
    RUN(process_madvise_on_self);
    RUN(process_madvise_on_another_process);
    RUN(process_mrelease_needs_a_dying_process);
    RUN(futex2_argument_errors);
    RUN(futex2_waiters_are_woken_by_either_family);
    RUN(futex_requeue_moves_waiters);
    RUN(xattrat_calls_name_files_from_a_directory);
    RUN(xattrat_argument_errors);
    return KT_END();
}
