/* stat/fstat/lstat/newfstatat/statx */
#define KT_AREA "fs_stat"
#include "kt.h"

#include <dirent.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>

#define BADPTR ((void *)1)

/* struct statx from <linux/stat.h> (musl 1.2.3 has no statx). 256 bytes. */
struct kt_statx_ts {
    int64_t tv_sec;
    uint32_t tv_nsec;
    int32_t reserved;
};
struct kt_statx {
    uint32_t stx_mask;
    uint32_t stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink;
    uint32_t stx_uid;
    uint32_t stx_gid;
    uint16_t stx_mode;
    uint16_t spare0;
    uint64_t stx_ino;
    uint64_t stx_size;
    uint64_t stx_blocks;
    uint64_t stx_attributes_mask;
    struct kt_statx_ts stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t stx_rdev_major, stx_rdev_minor;
    uint32_t stx_dev_major, stx_dev_minor;
    uint64_t spare2[14];
};
_Static_assert(sizeof(struct kt_statx) == 256, "struct statx is 256 bytes");

#define KT_STATX_TYPE 0x1u
#define KT_STATX_MODE 0x2u
#define KT_STATX_INO 0x100u
#define KT_STATX_SIZE 0x200u
#define KT_STATX_BASIC_STATS 0x7ffu
#define KT_STATX_RESERVED 0x80000000u

static long sys_statx(int dfd, const char *path, int flags, unsigned mask, struct kt_statx *buf)
{
    return syscall(SYS_statx, dfd, path, flags, mask, buf);
}

/* Makes dir/f containing content. Returns 0 on success. */
static int make_file(const char *dir, const char *name, const char *content)
{
    return kt_write_file(kt_path(dir, name), content, strlen(content));
}

/* ---- stat ------------------------------------------------------------- */

TEST(stat_regular_file_reports_size_mode_nlink) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "12345"));
    OK(chmod(kt_path(d, "f"), 0640));
    struct stat st;
    OK(syscall(SYS_stat, kt_path(d, "f"), &st));
    CHECK(S_ISREG(st.st_mode), "st_mode 0%o is not S_IFREG", st.st_mode);
    EXPECT_EQ(st.st_mode & 07777, 0640);
    EXPECT_EQ(st.st_size, 5);
    EXPECT_EQ(st.st_nlink, 1);
    EXPECT_EQ(st.st_uid, geteuid());
    CHECK(st.st_blksize > 0, "st_blksize = %ld", (long)st.st_blksize);
    CHECK(st.st_ino != 0, "st_ino is 0");
    CHECK(st.st_mtime > 0, "st_mtime = %ld", (long)st.st_mtime);
}

TEST(stat_directory_is_s_isdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct stat st;
    OK(syscall(SYS_stat, d, &st));
    CHECK(S_ISDIR(st.st_mode), "st_mode 0%o is not S_IFDIR", st.st_mode);
    EXPECT_EQ(st.st_mode & 07777, 0700); /* mkdtemp creates 0700 */
}

TEST(stat_root_is_directory) {
    struct stat st;
    OK(syscall(SYS_stat, "/", &st));
    CHECK(S_ISDIR(st.st_mode), "st_mode 0%o is not S_IFDIR", st.st_mode);
}

TEST(stat_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_stat, kt_path(d, "missing"), &st), ENOENT);
}

TEST(stat_empty_path_is_enoent) {
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_stat, "", &st), ENOENT);
}

TEST(stat_bad_path_pointer_is_efault) {
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_stat, BADPTR, &st), EFAULT);
}

TEST(stat_bad_buffer_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_stat, "/", BADPTR), EFAULT);
}

TEST(stat_file_as_path_component_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "x"));
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_stat, kt_path(d, "f/g"), &st), ENOTDIR);
    /* a trailing slash on a file is also ENOTDIR */
    EXPECT_ERRNO(syscall(SYS_stat, kt_path(d, "f/"), &st), ENOTDIR);
}

TEST(stat_dot_and_dotdot_resolve) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    struct stat a, b, c;
    OK(syscall(SYS_stat, d, &a));
    OK(syscall(SYS_stat, kt_path(d, "sub/.."), &b));
    OK(syscall(SYS_stat, kt_path(d, "./sub/../."), &c));
    CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "sub/.. has ino %lu, dir has %lu",
          (unsigned long)b.st_ino, (unsigned long)a.st_ino);
    CHECK(a.st_ino == c.st_ino, "./sub/../. has ino %lu, dir has %lu",
          (unsigned long)c.st_ino, (unsigned long)a.st_ino);
}

TEST(stat_follows_symlink) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abc"));
    OK(symlink("f", kt_path(d, "l")));
    struct stat st, sf;
    OK(syscall(SYS_stat, kt_path(d, "l"), &st));
    OK(syscall(SYS_stat, kt_path(d, "f"), &sf));
    CHECK(S_ISREG(st.st_mode), "st_mode 0%o, expected S_IFREG", st.st_mode);
    EXPECT_EQ(st.st_ino, sf.st_ino);
    EXPECT_EQ(st.st_size, 3);
}

TEST(stat_dangling_symlink_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("nowhere", kt_path(d, "l")));
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_stat, kt_path(d, "l"), &st), ENOENT);
}

TEST(distinct_files_have_distinct_inodes) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "a", "x"));
    OK(make_file(d, "b", "x"));
    struct stat a, b;
    OK(stat(kt_path(d, "a"), &a));
    OK(stat(kt_path(d, "b"), &b));
    CHECK(a.st_ino != b.st_ino, "both files have ino %lu", (unsigned long)a.st_ino);
    EXPECT_EQ(a.st_dev, b.st_dev);
}

/* ---- lstat ------------------------------------------------------------ */

TEST(lstat_reports_symlink_itself) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abc"));
    OK(symlink("f-is-the-target", kt_path(d, "l")));
    struct stat st;
    OK(syscall(SYS_lstat, kt_path(d, "l"), &st));
    CHECK(S_ISLNK(st.st_mode), "st_mode 0%o, expected S_IFLNK", st.st_mode);
    EXPECT_EQ(st.st_size, strlen("f-is-the-target"));
}

TEST(lstat_on_regular_file_matches_stat) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abc"));
    struct stat a, b;
    OK(syscall(SYS_lstat, kt_path(d, "f"), &a));
    OK(syscall(SYS_stat, kt_path(d, "f"), &b));
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_mode, b.st_mode);
    EXPECT_EQ(a.st_size, b.st_size);
}

TEST(lstat_follows_symlinks_in_the_middle) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "dir"), 0755));
    OK(make_file(d, "dir/f", "abc"));
    OK(symlink("dir", kt_path(d, "ldir")));
    struct stat st;
    OK(syscall(SYS_lstat, kt_path(d, "ldir/f"), &st));
    CHECK(S_ISREG(st.st_mode), "st_mode 0%o, expected S_IFREG", st.st_mode);
}

TEST(lstat_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_lstat, kt_path(d, "missing"), &st), ENOENT);
}

/* ---- fstat ------------------------------------------------------------ */

TEST(fstat_matches_stat) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "hello"));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    struct stat a, b;
    OK(syscall(SYS_fstat, fd, &a));
    close(fd);
    OK(syscall(SYS_stat, kt_path(d, "f"), &b));
    EXPECT_EQ(a.st_dev, b.st_dev);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_mode, b.st_mode);
    EXPECT_EQ(a.st_size, 5);
}

TEST(fstat_sees_size_change_through_fd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_RDWR, 0644));
    struct stat st;
    OK(syscall(SYS_fstat, fd, &st));
    EXPECT_EQ(st.st_size, 0);
    EXPECT_EQ(write(fd, "0123456789", 10), 10);
    OK(syscall(SYS_fstat, fd, &st));
    close(fd);
    EXPECT_EQ(st.st_size, 10);
}

TEST(fstat_still_works_after_unlink) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abc"));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    OK(unlink(kt_path(d, "f")));
    struct stat st;
    long r = syscall(SYS_fstat, fd, &st);
    char buf[4] = {0};
    long n = read(fd, buf, 3);
    close(fd);
    CHECK(r == 0, "fstat failed: %s", kt_errstr(errno));
    EXPECT_EQ(st.st_nlink, 0);
    EXPECT_EQ(n, 3);
}

TEST(fstat_bad_fd_is_ebadf) {
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_fstat, 9999, &st), EBADF);
    EXPECT_ERRNO(syscall(SYS_fstat, -1, &st), EBADF);
}

TEST(fstat_bad_buffer_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_fstat, 1, BADPTR), EFAULT);
}

TEST(fstat_pipe_is_fifo) {
    int fds[2];
    OK(pipe(fds));
    struct stat a, b;
    long r0 = syscall(SYS_fstat, fds[0], &a);
    long r1 = syscall(SYS_fstat, fds[1], &b);
    close(fds[0]);
    close(fds[1]);
    CHECK(r0 == 0 && r1 == 0, "fstat failed: %s", kt_errstr(errno));
    CHECK(S_ISFIFO(a.st_mode) && S_ISFIFO(b.st_mode), "modes 0%o 0%o, expected S_IFIFO",
          a.st_mode, b.st_mode);
    EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(fstat_directory_fd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    struct stat st;
    OK(syscall(SYS_fstat, fd, &st));
    close(fd);
    CHECK(S_ISDIR(st.st_mode), "st_mode 0%o, expected S_IFDIR", st.st_mode);
}

/* ---- newfstatat ------------------------------------------------------- */

TEST(newfstatat_relative_to_dirfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abcd"));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    struct stat st;
    long r = syscall(SYS_newfstatat, dfd, "f", &st, 0);
    close(dfd);
    CHECK(r == 0, "newfstatat failed: %s", kt_errstr(errno));
    EXPECT_EQ(st.st_size, 4);
}

TEST(newfstatat_at_fdcwd_is_relative_to_cwd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abcd"));
    OK(chdir(d));
    struct stat st;
    OK(syscall(SYS_newfstatat, AT_FDCWD, "f", &st, 0));
    EXPECT_EQ(st.st_size, 4);
}

TEST(newfstatat_symlink_nofollow) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abc"));
    OK(symlink("f", kt_path(d, "l")));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    struct stat a, b;
    long r1 = syscall(SYS_newfstatat, dfd, "l", &a, AT_SYMLINK_NOFOLLOW);
    long r2 = syscall(SYS_newfstatat, dfd, "l", &b, 0);
    close(dfd);
    CHECK(r1 == 0 && r2 == 0, "newfstatat failed: %s", kt_errstr(errno));
    CHECK(S_ISLNK(a.st_mode), "with NOFOLLOW: mode 0%o, expected S_IFLNK", a.st_mode);
    CHECK(S_ISREG(b.st_mode), "without NOFOLLOW: mode 0%o, expected S_IFREG", b.st_mode);
}

TEST(newfstatat_empty_path_stats_the_fd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abcdef"));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    int pfd = OK(open(kt_path(d, "f"), O_PATH));
    struct stat a, b;
    long r1 = syscall(SYS_newfstatat, fd, "", &a, AT_EMPTY_PATH);
    long r2 = syscall(SYS_newfstatat, pfd, "", &b, AT_EMPTY_PATH);
    close(fd);
    close(pfd);
    CHECK(r1 == 0, "on a normal fd: %s", kt_errstr(errno));
    CHECK(r2 == 0, "on an O_PATH fd: %s", kt_errstr(errno));
    EXPECT_EQ(a.st_size, 6);
    EXPECT_EQ(b.st_ino, a.st_ino);
}

TEST(newfstatat_empty_path_with_at_fdcwd_stats_cwd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(chdir(d));
    struct stat a, b;
    OK(syscall(SYS_newfstatat, AT_FDCWD, "", &a, AT_EMPTY_PATH));
    OK(stat(d, &b));
    EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(newfstatat_empty_path_without_flag_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    struct stat st;
    errno = 0;
    long r = syscall(SYS_newfstatat, fd, "", &st, 0);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == ENOENT, "got %ld %s, expected ENOENT", r, kt_errstr(e));
}

TEST(newfstatat_bad_flags_is_einval) {
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_newfstatat, AT_FDCWD, "/", &st, 0x1), EINVAL);
}

TEST(newfstatat_bad_dirfd_is_ebadf) {
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_newfstatat, 9999, "x", &st, 0), EBADF);
    EXPECT_ERRNO(syscall(SYS_newfstatat, 9999, "", &st, AT_EMPTY_PATH), EBADF);
}

TEST(newfstatat_file_as_dirfd_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "x"));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    struct stat st;
    errno = 0;
    long r = syscall(SYS_newfstatat, fd, "x", &st, 0);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == ENOTDIR, "got %ld %s, expected ENOTDIR", r, kt_errstr(e));
}

/* ---- statx ------------------------------------------------------------ */

/* STATX_ATTR_MOUNT_ROOT is in every file's attributes mask and set on the
 * root of each mount only (by path and through AT_EMPTY_PATH). */
TEST(statx_mount_root_attribute) {
    const uint64_t MOUNT_ROOT = 0x2000;
    static const struct {
        const char *path;
        int root;
    } cases[] = {{"/", 1}, {"/proc", 1}, {"/proc/self", 0}, {"/proc/self/status", 0}};
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct kt_statx sx;
        memset(&sx, 0, sizeof sx);
        OK(sys_statx(AT_FDCWD, cases[i].path, 0, 0x7ff, &sx));
        CHECK(sx.stx_attributes_mask & MOUNT_ROOT, "%s: mask %#llx", cases[i].path,
              (unsigned long long)sx.stx_attributes_mask);
        CHECK(!!(sx.stx_attributes & MOUNT_ROOT) == cases[i].root, "%s: attributes %#llx",
              cases[i].path, (unsigned long long)sx.stx_attributes);
        int fd = OK(open(cases[i].path, O_RDONLY));
        memset(&sx, 0, sizeof sx);
        OK(sys_statx(fd, "", AT_EMPTY_PATH, 0x7ff, &sx));
        close(fd);
        CHECK(!!(sx.stx_attributes & MOUNT_ROOT) == cases[i].root, "%s by fd: attributes %#llx",
              cases[i].path, (unsigned long long)sx.stx_attributes);
    }
}

TEST(statx_basic_fields_match_stat) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "0123456"));
    struct kt_statx sx;
    memset(&sx, 0xff, sizeof sx);
    OK(sys_statx(AT_FDCWD, kt_path(d, "f"), 0, KT_STATX_BASIC_STATS, &sx));
    struct stat st;
    OK(stat(kt_path(d, "f"), &st));
    unsigned want = KT_STATX_TYPE | KT_STATX_MODE | KT_STATX_INO | KT_STATX_SIZE;
    CHECK((sx.stx_mask & want) == want, "stx_mask 0x%x lacks 0x%x", sx.stx_mask, want);
    EXPECT_EQ(sx.stx_size, 7);
    EXPECT_EQ(sx.stx_ino, st.st_ino);
    EXPECT_EQ(sx.stx_mode, st.st_mode);
    EXPECT_EQ(sx.stx_nlink, st.st_nlink);
    EXPECT_EQ(sx.stx_uid, st.st_uid);
    EXPECT_EQ(sx.stx_gid, st.st_gid);
    EXPECT_EQ(sx.stx_mtime.tv_sec, st.st_mtim.tv_sec);
    EXPECT_EQ(sx.stx_mtime.tv_nsec, st.st_mtim.tv_nsec);
    EXPECT_EQ(makedev(sx.stx_dev_major, sx.stx_dev_minor), st.st_dev);
}

TEST(statx_symlink_nofollow) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abc"));
    OK(symlink("f", kt_path(d, "l")));
    struct kt_statx a, b;
    OK(sys_statx(AT_FDCWD, kt_path(d, "l"), AT_SYMLINK_NOFOLLOW, KT_STATX_BASIC_STATS, &a));
    OK(sys_statx(AT_FDCWD, kt_path(d, "l"), 0, KT_STATX_BASIC_STATS, &b));
    CHECK(S_ISLNK(a.stx_mode), "with NOFOLLOW: mode 0%o, expected S_IFLNK", a.stx_mode);
    EXPECT_EQ(a.stx_size, 1);
    CHECK(S_ISREG(b.stx_mode), "without NOFOLLOW: mode 0%o, expected S_IFREG", b.stx_mode);
}

TEST(statx_empty_path_stats_the_fd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(d, "f", "abcdefgh"));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    struct kt_statx sx;
    errno = 0;
    long r = sys_statx(fd, "", AT_EMPTY_PATH, KT_STATX_BASIC_STATS, &sx);
    close(fd);
    CHECK(r == 0, "statx failed: %s", kt_errstr(errno));
    EXPECT_EQ(sx.stx_size, 8);
}

TEST(statx_relative_to_dirfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    struct kt_statx sx;
    errno = 0;
    long r = sys_statx(dfd, "sub", 0, KT_STATX_BASIC_STATS, &sx);
    close(dfd);
    CHECK(r == 0, "statx failed: %s", kt_errstr(errno));
    CHECK(S_ISDIR(sx.stx_mode), "mode 0%o, expected S_IFDIR", sx.stx_mode);
}

TEST(statx_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct kt_statx sx;
    EXPECT_ERRNO(sys_statx(AT_FDCWD, kt_path(d, "missing"), 0, KT_STATX_BASIC_STATS, &sx), ENOENT);
}

TEST(statx_reserved_mask_bit_is_einval) {
    struct kt_statx sx;
    EXPECT_ERRNO(sys_statx(AT_FDCWD, "/", 0, KT_STATX_RESERVED, &sx), EINVAL);
}

TEST(statx_conflicting_sync_flags_is_einval) {
    struct kt_statx sx;
    EXPECT_ERRNO(sys_statx(AT_FDCWD, "/", AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC,
                           KT_STATX_BASIC_STATS, &sx), EINVAL);
}

TEST(statx_unknown_flag_is_einval) {
    struct kt_statx sx;
    EXPECT_ERRNO(sys_statx(AT_FDCWD, "/", 0x1, KT_STATX_BASIC_STATS, &sx), EINVAL);
}

TEST(statx_bad_buffer_pointer_is_efault) {
    EXPECT_ERRNO(sys_statx(AT_FDCWD, "/", 0, KT_STATX_BASIC_STATS, BADPTR), EFAULT);
}

TEST(statx_bad_dirfd_is_ebadf) {
    struct kt_statx sx;
    EXPECT_ERRNO(sys_statx(9999, "x", 0, KT_STATX_BASIC_STATS, &sx), EBADF);
}

/* ---- access times (relatime, the default mount mode) ------------------ */

/* Skips the case unless dir's mount updates access times as relatime (the
 * default) or strictatime would: a noatime host mount cannot show them. */
#define NEED_ATIME_MOUNT(dir)                                                 \
    do {                                                                      \
        struct statvfs vfs_;                                                  \
        OK(statvfs((dir), &vfs_));                                            \
        if (vfs_.f_flag & (ST_NOATIME | ST_RDONLY))                           \
            SKIP("%s is mounted noatime or read-only", (dir));               \
    } while (0)

/* Sets path's access and modification times (seconds since the epoch). */
static int set_times(const char *path, time_t atime, time_t mtime)
{
    struct timespec ts[2] = {{atime, 0}, {mtime, 0}};
    return utimensat(AT_FDCWD, path, ts, 0);
}

static time_t atime_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return st.st_atime;
}

/* Opens path with O_RDONLY | extra, reads up to 8 bytes once and closes it:
 * what read(2) returned, or -1 if the open failed. */
static ssize_t read_once(const char *path, int extra)
{
    char buf[8];
    int fd = open(path, O_RDONLY | extra);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n;
}

TEST(read_updates_an_atime_older_than_mtime) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    NEED_ATIME_MOUNT(d);
    const char *f = kt_path(d, "f");
    OK(make_file(d, "f", "hello"));
    OK(set_times(f, 1000000000, 1000000100)); /* read before the last write */
    time_t before = time(NULL);
    EXPECT_EQ(read_once(f, 0), 5);
    time_t a = atime_of(f);
    CHECK(a >= before - 1, "atime %ld, read at %ld", (long)a, (long)before);
}

TEST(read_at_end_of_file_still_updates_atime) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    NEED_ATIME_MOUNT(d);
    const char *f = kt_path(d, "f");
    OK(make_file(d, "f", ""));
    OK(set_times(f, 1000000000, 1000000100));
    time_t before = time(NULL);
    EXPECT_EQ(read_once(f, 0), 0);
    CHECK(atime_of(f) >= before - 1, "atime %ld after a read at EOF", (long)atime_of(f));
}

TEST(relatime_read_leaves_an_atime_newer_than_mtime_and_ctime) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    NEED_ATIME_MOUNT(d);
    struct statvfs vfs;
    OK(statvfs(d, &vfs));
    if (!(vfs.f_flag & ST_RELATIME))
        SKIP("%s is not mounted relatime", d);
    const char *f = kt_path(d, "f");
    OK(make_file(d, "f", "hello"));
    time_t future = time(NULL) + 3600; /* after mtime and ctime, not a day old */
    OK(set_times(f, future, 1000000100));
    EXPECT_EQ(read_once(f, 0), 5);
    EXPECT_EQ(atime_of(f), future);
}

TEST(reading_does_not_change_mtime_or_ctime) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(d, "f", "hello"));
    OK(set_times(f, 1000000000, 1000000100));
    struct stat st1, st2;
    OK(stat(f, &st1));
    EXPECT_EQ(read_once(f, 0), 5);
    OK(stat(f, &st2));
    EXPECT_EQ(st2.st_mtime, 1000000100);
    EXPECT_EQ(st2.st_ctim.tv_sec, st1.st_ctim.tv_sec);
    EXPECT_EQ(st2.st_ctim.tv_nsec, st1.st_ctim.tv_nsec);
}

TEST(o_noatime_read_leaves_atime_alone) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(d, "f", "hello"));
    OK(set_times(f, 1000000000, 1000000100));
    EXPECT_EQ(read_once(f, O_NOATIME), 5); /* the owner may */
    EXPECT_EQ(atime_of(f), 1000000000);
}

TEST(listing_a_directory_updates_its_atime) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    NEED_ATIME_MOUNT(d);
    struct statvfs vfs;
    OK(statvfs(d, &vfs));
    if (vfs.f_flag & ST_NODIRATIME)
        SKIP("%s is mounted nodiratime", d);
    OK(make_file(d, "f", "x"));
    OK(set_times(d, 1000000000, 1000000100));
    time_t before = time(NULL);
    DIR *dir = opendir(d);
    CHECK(dir, "opendir: %s", strerror(errno));
    int n = 0;
    while (readdir(dir))
        n++;
    closedir(dir);
    EXPECT_EQ(n, 3);
    CHECK(atime_of(d) >= before - 1, "directory atime %ld", (long)atime_of(d));
}

TEST(stat_alone_is_not_an_access) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(d, "f", "hello"));
    OK(set_times(f, 1000000000, 1000000100));
    int fd = open(f, O_RDONLY); /* open and close without reading */
    OK(fd);
    close(fd);
    EXPECT_EQ(atime_of(f), 1000000000);
}

int main(void)
{
    KT_BEGIN();
    RUN(stat_regular_file_reports_size_mode_nlink);
    RUN(stat_directory_is_s_isdir);
    RUN(stat_root_is_directory);
    RUN(stat_missing_is_enoent);
    RUN(stat_empty_path_is_enoent);
    RUN(stat_bad_path_pointer_is_efault);
    RUN(stat_bad_buffer_pointer_is_efault);
    RUN(stat_file_as_path_component_is_enotdir);
    RUN(stat_dot_and_dotdot_resolve);
    RUN(stat_follows_symlink);
    RUN(stat_dangling_symlink_is_enoent);
    RUN(distinct_files_have_distinct_inodes);
    RUN(lstat_reports_symlink_itself);
    RUN(lstat_on_regular_file_matches_stat);
    RUN(lstat_follows_symlinks_in_the_middle);
    RUN(lstat_missing_is_enoent);
    RUN(fstat_matches_stat);
    RUN(fstat_sees_size_change_through_fd);
    RUN(fstat_still_works_after_unlink);
    RUN(fstat_bad_fd_is_ebadf);
    RUN(fstat_bad_buffer_pointer_is_efault);
    RUN(fstat_pipe_is_fifo);
    RUN(fstat_directory_fd);
    RUN(newfstatat_relative_to_dirfd);
    RUN(newfstatat_at_fdcwd_is_relative_to_cwd);
    RUN(newfstatat_symlink_nofollow);
    RUN(newfstatat_empty_path_stats_the_fd);
    RUN(newfstatat_empty_path_with_at_fdcwd_stats_cwd);
    RUN(newfstatat_empty_path_without_flag_is_enoent);
    RUN(newfstatat_bad_flags_is_einval);
    RUN(newfstatat_bad_dirfd_is_ebadf);
    RUN(newfstatat_file_as_dirfd_is_enotdir);
    RUN(statx_basic_fields_match_stat);
    RUN(statx_mount_root_attribute);
    RUN(statx_symlink_nofollow);
    RUN(statx_empty_path_stats_the_fd);
    RUN(statx_relative_to_dirfd);
    RUN(statx_missing_is_enoent);
    RUN(statx_reserved_mask_bit_is_einval);
    RUN(statx_conflicting_sync_flags_is_einval);
    RUN(statx_unknown_flag_is_einval);
    RUN(statx_bad_buffer_pointer_is_efault);
    RUN(statx_bad_dirfd_is_ebadf);
    RUN(read_updates_an_atime_older_than_mtime);
    RUN(read_at_end_of_file_still_updates_atime);
    RUN(relatime_read_leaves_an_atime_newer_than_mtime_and_ctime);
    RUN(reading_does_not_change_mtime_or_ctime);
    RUN(o_noatime_read_leaves_atime_alone);
    RUN(listing_a_directory_updates_its_atime);
    RUN(stat_alone_is_not_an_access);
    return KT_END();
}
