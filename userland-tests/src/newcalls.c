/* Newer Linux calls: fchmodat2 (6.6), cachestat (6.5), swapon/swapoff, mseal
 * (6.10), process_madvise (5.10) and process_mrelease (5.15). The numbers are
 * spelled here (musl's headers may lack them). A case whose call the host
 * kernel lacks (ENOSYS on Linux) SKIPs. */
#define KT_AREA "newcalls"
#include "kt.h"

#define NR_fchmodat2 452

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

int main(void)
{
    KT_BEGIN();
    RUN(fchmodat2_changes_file_mode_with_and_without_nofollow);
    RUN(fchmodat2_follows_symlink_but_nofollow_is_eopnotsupp);
    RUN(fchmodat2_empty_path_changes_the_fds_file);
    RUN(fchmodat2_errors);
    RUN(chmod_through_proc_fd_of_symlink_is_eopnotsupp);
    return KT_END();
}
