/* Newer Linux calls: fchmodat2 (6.6), cachestat (6.5), swapon/swapoff, mseal
 * (6.10), process_madvise (5.10) and process_mrelease (5.15). The numbers are
 * spelled here (musl's headers may lack them). A case whose call the host
 * kernel lacks (ENOSYS on Linux) SKIPs. */
#define KT_AREA "newcalls"
#include "kt.h"

#include <sys/statfs.h>

#define NR_fchmodat2 452
#define NR_cachestat 451
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
    return KT_END();
}
