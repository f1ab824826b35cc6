/* chmod/fchmod/fchmodat/chown/fchown/lchown/fchownat/umask/utimensat/
 * access/faccessat/faccessat2 */
#define KT_AREA "fs_attr"
#include "kt.h"

#include <time.h>

#define BADPTR ((void *)1)

static int make_file(const char *path, mode_t mode)
{
    if (kt_write_file(path, "data", 4) != 0)
        return -1;
    return chmod(path, mode);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return (mode_t)-1;
    return st.st_mode & 07777;
}

/* ---- chmod / fchmod / fchmodat ---------------------------------------- */

TEST(chmod_sets_permission_bits) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    OK(syscall(SYS_chmod, f, 0600));
    EXPECT_EQ(mode_of(f), 0600);
    OK(syscall(SYS_chmod, f, 0));
    EXPECT_EQ(mode_of(f), 0);
    OK(syscall(SYS_chmod, f, 04755));
    EXPECT_EQ(mode_of(f), 04755);
}

TEST(chmod_keeps_file_type_and_ignores_type_bits) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(syscall(SYS_chmod, d, S_IFREG | 01777));
    struct stat st;
    OK(stat(d, &st));
    CHECK(S_ISDIR(st.st_mode), "directory became mode 0%o", st.st_mode);
    EXPECT_EQ(st.st_mode & 07777, 01777);
}

TEST(chmod_follows_symlink) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    OK(symlink("f", kt_path(d, "l")));
    OK(syscall(SYS_chmod, kt_path(d, "l"), 0611));
    EXPECT_EQ(mode_of(kt_path(d, "f")), 0611);
}

TEST(chmod_updates_ctime_not_mtime) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    OK(utimensat(AT_FDCWD, f, old, 0));
    OK(syscall(SYS_chmod, f, 0600));
    struct stat st;
    OK(stat(f, &st));
    EXPECT_EQ(st.st_mtime, 1000000000);
    CHECK(st.st_ctime > 1000000000, "ctime %ld not updated", (long)st.st_ctime);
}

TEST(chmod_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_chmod, kt_path(d, "missing"), 0644), ENOENT);
}

TEST(chmod_bad_path_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_chmod, BADPTR, 0644), EFAULT);
}

TEST(fchmod_sets_permission_bits) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    int fd = OK(open(f, O_RDONLY));
    long r = syscall(SYS_fchmod, fd, 0705);
    close(fd);
    CHECK(r == 0, "fchmod failed: %s", kt_errstr(errno));
    EXPECT_EQ(mode_of(f), 0705);
}

TEST(fchmod_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_fchmod, 9999, 0644), EBADF);
}

TEST(fchmod_on_opath_fd_is_ebadf) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    int fd = OK(open(f, O_PATH));
    errno = 0;
    long r = syscall(SYS_fchmod, fd, 0600);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EBADF, "got %ld %s, expected EBADF", r, kt_errstr(e));
}

TEST(fchmodat_relative_to_dirfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    long r = syscall(SYS_fchmodat, dfd, "f", 0640);
    close(dfd);
    CHECK(r == 0, "fchmodat failed: %s", kt_errstr(errno));
    EXPECT_EQ(mode_of(kt_path(d, "f")), 0640);
}

TEST(fchmodat_bad_dirfd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_fchmodat, 9999, "f", 0644), EBADF);
}

TEST(fchmodat_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_fchmodat, AT_FDCWD, kt_path(d, "missing"), 0644), ENOENT);
}

/* ---- chown family (runs as root) -------------------------------------- */

#define NEED_ROOT()                                                           \
    do {                                                                      \
        if (geteuid() != 0)                                                   \
            SKIP("needs root (euid %d)", (int)geteuid());                     \
    } while (0)

static int owner_is(const char *path, int follow, uid_t u, gid_t g)
{
    struct stat st;
    if ((follow ? stat(path, &st) : lstat(path, &st)) != 0)
        return 0;
    return st.st_uid == u && st.st_gid == g;
}

TEST(chown_changes_owner_and_group) {
    NEED_ROOT();
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    OK(syscall(SYS_chown, f, 1234, 5678));
    struct stat st;
    OK(stat(f, &st));
    EXPECT_EQ(st.st_uid, 1234);
    EXPECT_EQ(st.st_gid, 5678);
}

TEST(chown_minus_one_leaves_id_unchanged) {
    NEED_ROOT();
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    OK(syscall(SYS_chown, f, 1234, 5678));
    OK(syscall(SYS_chown, f, -1, 42));
    CHECK(owner_is(f, 1, 1234, 42), "after chown(-1, 42) owner is not 1234:42");
    OK(syscall(SYS_chown, f, 7, -1));
    CHECK(owner_is(f, 1, 7, 42), "after chown(7, -1) owner is not 7:42");
}

TEST(chown_follows_symlink) {
    NEED_ROOT();
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    OK(symlink("f", kt_path(d, "l")));
    OK(syscall(SYS_chown, kt_path(d, "l"), 321, 654));
    CHECK(owner_is(kt_path(d, "f"), 1, 321, 654), "target owner not changed");
    CHECK(!owner_is(kt_path(d, "l"), 0, 321, 654), "the symlink itself was changed");
}

/* Linux clears set-user-ID on chown of a regular file, even for root. */
TEST(chown_clears_setuid_bit) {
    NEED_ROOT();
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 04755));
    OK(syscall(SYS_chown, f, 1, 1));
    EXPECT_EQ(mode_of(f), 0755);
}

TEST(chown_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_chown, kt_path(d, "missing"), 0, 0), ENOENT);
}

TEST(fchown_changes_owner) {
    NEED_ROOT();
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    int fd = OK(open(f, O_RDONLY));
    long r = syscall(SYS_fchown, fd, 99, 98);
    close(fd);
    CHECK(r == 0, "fchown failed: %s", kt_errstr(errno));
    CHECK(owner_is(f, 1, 99, 98), "owner is not 99:98");
}

TEST(fchown_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_fchown, 9999, 0, 0), EBADF);
}

TEST(lchown_changes_the_symlink_not_the_target) {
    NEED_ROOT();
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    OK(symlink("f", kt_path(d, "l")));
    OK(syscall(SYS_lchown, kt_path(d, "l"), 555, 556));
    CHECK(owner_is(kt_path(d, "l"), 0, 555, 556), "symlink owner not 555:556");
    CHECK(!owner_is(kt_path(d, "f"), 1, 555, 556), "target owner changed too");
}

TEST(lchown_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_lchown, kt_path(d, "missing"), 0, 0), ENOENT);
}

TEST(fchownat_symlink_nofollow_and_relative) {
    NEED_ROOT();
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    OK(symlink("f", kt_path(d, "l")));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    long r1 = syscall(SYS_fchownat, dfd, "l", 11, 12, AT_SYMLINK_NOFOLLOW);
    long r2 = syscall(SYS_fchownat, dfd, "l", 21, 22, 0);
    close(dfd);
    CHECK(r1 == 0 && r2 == 0, "fchownat failed: %s", kt_errstr(errno));
    CHECK(owner_is(kt_path(d, "l"), 0, 11, 12), "symlink owner not 11:12");
    CHECK(owner_is(kt_path(d, "f"), 1, 21, 22), "target owner not 21:22");
}

TEST(fchownat_empty_path_changes_the_fd) {
    NEED_ROOT();
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    int fd = OK(open(f, O_PATH));
    long r = syscall(SYS_fchownat, fd, "", 31, 32, AT_EMPTY_PATH);
    close(fd);
    CHECK(r == 0, "fchownat failed: %s", kt_errstr(errno));
    CHECK(owner_is(f, 1, 31, 32), "owner not 31:32");
}

TEST(fchownat_bad_flags_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    EXPECT_ERRNO(syscall(SYS_fchownat, AT_FDCWD, kt_path(d, "f"), 0, 0, 0x1), EINVAL);
}

TEST(fchownat_bad_dirfd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_fchownat, 9999, "f", 0, 0, 0), EBADF);
}

/* ---- umask ------------------------------------------------------------ */

TEST(umask_returns_previous_value) {
    mode_t first = syscall(SYS_umask, 027);
    mode_t second = syscall(SYS_umask, 0);
    mode_t third = syscall(SYS_umask, first);
    EXPECT_EQ(second, 027);
    EXPECT_EQ(third, 0);
}

TEST(umask_keeps_only_permission_bits) {
    syscall(SYS_umask, 0177777);
    mode_t got = syscall(SYS_umask, 022);
    EXPECT_EQ(got, 0777);
}

TEST(umask_masks_open_creat_mode) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    syscall(SYS_umask, 027);
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_WRONLY, 0666));
    close(fd);
    EXPECT_EQ(mode_of(kt_path(d, "f")), 0640);
}

TEST(umask_masks_mkdir_mode) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    syscall(SYS_umask, 072);
    OK(mkdir(kt_path(d, "sub"), 0777));
    EXPECT_EQ(mode_of(kt_path(d, "sub")), 0705);
}

TEST(umask_does_not_affect_chmod) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    syscall(SYS_umask, 077);
    OK(make_file(kt_path(d, "f"), 0777));
    EXPECT_EQ(mode_of(kt_path(d, "f")), 0777);
}

TEST(umask_is_inherited_by_child) {
    syscall(SYS_umask, 023);
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0)
        _exit(umask(0) == 023 ? 0 : 1);
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child saw a different umask (%s)",
          kt_status(st));
}

/* ---- utimensat -------------------------------------------------------- */

static long sys_utimensat(int dfd, const char *path, const struct timespec *ts, int flags)
{
    return syscall(SYS_utimensat, dfd, path, ts, flags);
}

TEST(utimensat_explicit_times_visible_in_stat) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    struct timespec ts[2] = {{1234567890, 123456789}, {1111111111, 987654321}};
    OK(sys_utimensat(AT_FDCWD, f, ts, 0));
    struct stat st;
    OK(stat(f, &st));
    EXPECT_EQ(st.st_atim.tv_sec, 1234567890);
    EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
    EXPECT_EQ(st.st_mtim.tv_sec, 1111111111);
    EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
}

TEST(utimensat_omit_leaves_time_unchanged) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    struct timespec ts[2] = {{1000, 0}, {2000, 0}};
    OK(sys_utimensat(AT_FDCWD, f, ts, 0));
    struct timespec ts2[2] = {{3000, 5}, {0, UTIME_OMIT}};
    OK(sys_utimensat(AT_FDCWD, f, ts2, 0));
    struct stat st;
    OK(stat(f, &st));
    EXPECT_EQ(st.st_atim.tv_sec, 3000);
    EXPECT_EQ(st.st_atim.tv_nsec, 5);
    EXPECT_EQ(st.st_mtim.tv_sec, 2000);
    struct timespec ts3[2] = {{0, UTIME_OMIT}, {4000, 0}};
    OK(sys_utimensat(AT_FDCWD, f, ts3, 0));
    OK(stat(f, &st));
    EXPECT_EQ(st.st_atim.tv_sec, 3000);
    EXPECT_EQ(st.st_mtim.tv_sec, 4000);
}

TEST(utimensat_now_sets_current_time) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    struct timespec old[2] = {{1000, 0}, {1000, 0}};
    OK(sys_utimensat(AT_FDCWD, f, old, 0));
    struct timespec now;
    OK(syscall(SYS_clock_gettime, CLOCK_REALTIME, &now));
    struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    OK(sys_utimensat(AT_FDCWD, f, ts, 0));
    struct stat st;
    OK(stat(f, &st));
    /* file timestamps use a coarse clock: allow a few seconds either way */
    CHECK(st.st_atime >= now.tv_sec - 5 && st.st_atime <= now.tv_sec + 5,
          "atime %ld, now %ld", (long)st.st_atime, (long)now.tv_sec);
    EXPECT_EQ(st.st_mtime, 1000);
}

TEST(utimensat_null_times_sets_both_to_now) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    struct timespec old[2] = {{1000, 0}, {1000, 0}};
    OK(sys_utimensat(AT_FDCWD, f, old, 0));
    struct timespec now;
    OK(syscall(SYS_clock_gettime, CLOCK_REALTIME, &now));
    OK(sys_utimensat(AT_FDCWD, f, NULL, 0));
    struct stat st;
    OK(stat(f, &st));
    CHECK(st.st_atime >= now.tv_sec - 5 && st.st_mtime >= now.tv_sec - 5,
          "atime %ld mtime %ld, now %ld", (long)st.st_atime, (long)st.st_mtime, (long)now.tv_sec);
}

TEST(utimensat_null_path_sets_times_of_fd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    int fd = OK(open(f, O_RDONLY));
    struct timespec ts[2] = {{5000, 0}, {6000, 0}};
    long r = sys_utimensat(fd, NULL, ts, 0);
    close(fd);
    CHECK(r == 0, "utimensat(fd, NULL) failed: %s", kt_errstr(errno));
    struct stat st;
    OK(stat(f, &st));
    EXPECT_EQ(st.st_atime, 5000);
    EXPECT_EQ(st.st_mtime, 6000);
}

TEST(utimensat_symlink_nofollow_sets_link_times) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    OK(symlink("f", kt_path(d, "l")));
    struct timespec ts[2] = {{7000, 0}, {8000, 0}};
    OK(sys_utimensat(AT_FDCWD, kt_path(d, "l"), ts, AT_SYMLINK_NOFOLLOW));
    struct stat sl, sf;
    OK(lstat(kt_path(d, "l"), &sl));
    OK(stat(kt_path(d, "f"), &sf));
    EXPECT_EQ(sl.st_mtime, 8000);
    CHECK(sf.st_mtime != 8000, "target mtime changed too");
}

TEST(write_updates_mtime) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(make_file(f, 0644));
    struct timespec old[2] = {{1000, 0}, {1000, 0}};
    OK(sys_utimensat(AT_FDCWD, f, old, 0));
    int fd = OK(open(f, O_WRONLY));
    EXPECT_EQ(write(fd, "x", 1), 1);
    close(fd);
    struct stat st;
    OK(stat(f, &st));
    CHECK(st.st_mtime > 1000, "mtime %ld not updated by write", (long)st.st_mtime);
    CHECK(st.st_ctime > 1000, "ctime %ld not updated by write", (long)st.st_ctime);
}

TEST(utimensat_bad_nsec_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    struct timespec ts[2] = {{0, 1000000000}, {0, 0}};
    EXPECT_ERRNO(sys_utimensat(AT_FDCWD, kt_path(d, "f"), ts, 0), EINVAL);
    struct timespec ts2[2] = {{0, 0}, {0, -1}};
    EXPECT_ERRNO(sys_utimensat(AT_FDCWD, kt_path(d, "f"), ts2, 0), EINVAL);
}

TEST(utimensat_bad_flags_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    EXPECT_ERRNO(sys_utimensat(AT_FDCWD, kt_path(d, "f"), NULL, 0x1), EINVAL);
}

TEST(utimensat_null_path_with_flags_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    /* The descriptor form takes no flags, before the descriptor is looked at. */
    EXPECT_ERRNO(sys_utimensat(fd, NULL, NULL, AT_SYMLINK_NOFOLLOW), EINVAL);
    EXPECT_ERRNO(sys_utimensat(-1, NULL, NULL, AT_SYMLINK_NOFOLLOW), EINVAL);
    EXPECT_ERRNO(sys_utimensat(-1, NULL, NULL, 0), EBADF);
    OK(sys_utimensat(fd, NULL, NULL, 0));
    close(fd);
}

TEST(utimensat_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(sys_utimensat(AT_FDCWD, kt_path(d, "missing"), NULL, 0), ENOENT);
}

TEST(utimensat_bad_times_pointer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    EXPECT_ERRNO(sys_utimensat(AT_FDCWD, kt_path(d, "f"), BADPTR, 0), EFAULT);
}

TEST(utimensat_bad_fd_is_ebadf) {
    EXPECT_ERRNO(sys_utimensat(9999, NULL, NULL, 0), EBADF);
}

/* ---- access / faccessat / faccessat2 ---------------------------------- */

TEST(access_existing_file_f_ok) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    OK(syscall(SYS_access, kt_path(d, "f"), F_OK));
    OK(syscall(SYS_access, kt_path(d, "f"), R_OK | W_OK));
    OK(syscall(SYS_access, d, R_OK | W_OK | X_OK));
}

TEST(access_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_access, kt_path(d, "missing"), F_OK), ENOENT);
}

TEST(access_root_may_read_write_mode_000) {
    NEED_ROOT();
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0));
    OK(syscall(SYS_access, kt_path(d, "f"), R_OK | W_OK));
}

/* Even root needs at least one execute bit for X_OK on a regular file. */
TEST(access_x_ok_without_any_x_bit_is_eacces_even_for_root) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    EXPECT_ERRNO(syscall(SYS_access, kt_path(d, "f"), X_OK), EACCES);
    OK(chmod(kt_path(d, "f"), 0001));
    if (geteuid() == 0)
        OK(syscall(SYS_access, kt_path(d, "f"), X_OK));
}

TEST(access_bad_mode_is_einval) {
    EXPECT_ERRNO(syscall(SYS_access, "/", 0x10), EINVAL);
}

TEST(access_bad_path_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_access, BADPTR, F_OK), EFAULT);
}

TEST(access_through_file_component_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    EXPECT_ERRNO(syscall(SYS_access, kt_path(d, "f/x"), F_OK), ENOTDIR);
}

TEST(faccessat_relative_to_dirfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    errno = 0;
    long r1 = syscall(SYS_faccessat, dfd, "f", R_OK);
    long r2 = syscall(SYS_faccessat, dfd, "missing", F_OK);
    int e2 = errno;
    close(dfd);
    EXPECT_EQ(r1, 0);
    CHECK(r2 == -1 && e2 == ENOENT, "missing: got %ld %s, expected ENOENT", r2, kt_errstr(e2));
}

TEST(faccessat_bad_dirfd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_faccessat, 9999, "f", F_OK), EBADF);
}

TEST(faccessat2_symlink_nofollow_on_dangling_link) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("nowhere", kt_path(d, "l")));
    OK(syscall(SYS_faccessat2, AT_FDCWD, kt_path(d, "l"), F_OK, AT_SYMLINK_NOFOLLOW));
    EXPECT_ERRNO(syscall(SYS_faccessat2, AT_FDCWD, kt_path(d, "l"), F_OK, 0), ENOENT);
}

TEST(faccessat2_eaccess_flag_accepted) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    OK(syscall(SYS_faccessat2, AT_FDCWD, kt_path(d, "f"), R_OK, AT_EACCESS));
    EXPECT_ERRNO(syscall(SYS_faccessat2, AT_FDCWD, kt_path(d, "f"), X_OK, AT_EACCESS), EACCES);
}

TEST(faccessat2_empty_path_checks_the_fd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), 0644));
    int fd = OK(open(kt_path(d, "f"), O_PATH));
    errno = 0;
    long r1 = syscall(SYS_faccessat2, fd, "", R_OK, AT_EMPTY_PATH);
    int e1 = errno;
    long r2 = syscall(SYS_faccessat2, fd, "", X_OK, AT_EMPTY_PATH);
    int e2 = errno;
    close(fd);
    CHECK(r1 == 0, "R_OK: got %ld %s, expected 0", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EACCES, "X_OK: got %ld %s, expected EACCES", r2, kt_errstr(e2));
}

TEST(faccessat2_bad_flags_is_einval) {
    EXPECT_ERRNO(syscall(SYS_faccessat2, AT_FDCWD, "/", F_OK, 0x1), EINVAL);
}

TEST(faccessat2_bad_mode_is_einval) {
    EXPECT_ERRNO(syscall(SYS_faccessat2, AT_FDCWD, "/", 0x10, 0), EINVAL);
}

int main(void)
{
    KT_BEGIN();
    RUN(chmod_sets_permission_bits);
    RUN(chmod_keeps_file_type_and_ignores_type_bits);
    RUN(chmod_follows_symlink);
    RUN(chmod_updates_ctime_not_mtime);
    RUN(chmod_missing_is_enoent);
    RUN(chmod_bad_path_pointer_is_efault);
    RUN(fchmod_sets_permission_bits);
    RUN(fchmod_bad_fd_is_ebadf);
    RUN(fchmod_on_opath_fd_is_ebadf);
    RUN(fchmodat_relative_to_dirfd);
    RUN(fchmodat_bad_dirfd_is_ebadf);
    RUN(fchmodat_missing_is_enoent);
    RUN(chown_changes_owner_and_group);
    RUN(chown_minus_one_leaves_id_unchanged);
    RUN(chown_follows_symlink);
    RUN(chown_clears_setuid_bit);
    RUN(chown_missing_is_enoent);
    RUN(fchown_changes_owner);
    RUN(fchown_bad_fd_is_ebadf);
    RUN(lchown_changes_the_symlink_not_the_target);
    RUN(lchown_missing_is_enoent);
    RUN(fchownat_symlink_nofollow_and_relative);
    RUN(fchownat_empty_path_changes_the_fd);
    RUN(fchownat_bad_flags_is_einval);
    RUN(fchownat_bad_dirfd_is_ebadf);
    RUN(umask_returns_previous_value);
    RUN(umask_keeps_only_permission_bits);
    RUN(umask_masks_open_creat_mode);
    RUN(umask_masks_mkdir_mode);
    RUN(umask_does_not_affect_chmod);
    RUN(umask_is_inherited_by_child);
    RUN(utimensat_explicit_times_visible_in_stat);
    RUN(utimensat_omit_leaves_time_unchanged);
    RUN(utimensat_now_sets_current_time);
    RUN(utimensat_null_times_sets_both_to_now);
    RUN(utimensat_null_path_sets_times_of_fd);
    RUN(utimensat_symlink_nofollow_sets_link_times);
    RUN(write_updates_mtime);
    RUN(utimensat_bad_nsec_is_einval);
    RUN(utimensat_bad_flags_is_einval);
    RUN(utimensat_null_path_with_flags_is_einval);
    RUN(utimensat_missing_is_enoent);
    RUN(utimensat_bad_times_pointer_is_efault);
    RUN(utimensat_bad_fd_is_ebadf);
    RUN(access_existing_file_f_ok);
    RUN(access_missing_is_enoent);
    RUN(access_root_may_read_write_mode_000);
    RUN(access_x_ok_without_any_x_bit_is_eacces_even_for_root);
    RUN(access_bad_mode_is_einval);
    RUN(access_bad_path_pointer_is_efault);
    RUN(access_through_file_component_is_enotdir);
    RUN(faccessat_relative_to_dirfd);
    RUN(faccessat_bad_dirfd_is_ebadf);
    RUN(faccessat2_symlink_nofollow_on_dangling_link);
    RUN(faccessat2_eaccess_flag_accepted);
    RUN(faccessat2_empty_path_checks_the_fd);
    RUN(faccessat2_bad_flags_is_einval);
    RUN(faccessat2_bad_mode_is_einval);
    return KT_END();
}
