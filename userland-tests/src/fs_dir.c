/* mkdir/mkdirat/rmdir/getdents64/getcwd/chdir/fchdir/rename/renameat/renameat2/
 * link/linkat/unlink/unlinkat/symlink/symlinkat/readlink/readlinkat */
#define KT_AREA "fs_dir"
#include "kt.h"

#define BADPTR ((void *)1)

#define KT_RENAME_NOREPLACE 1
#define KT_RENAME_EXCHANGE 2

struct kt_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int make_file(const char *path, const char *content)
{
    return kt_write_file(path, content, strlen(content));
}

/* Reads a whole small file into buf (NUL-terminated). Returns length or -1. */
static long slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long n = read(fd, buf, size - 1);
    close(fd);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- mkdir / mkdirat -------------------------------------------------- */

TEST(mkdir_creates_directory_with_mode) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    umask(0);
    OK(syscall(SYS_mkdir, kt_path(d, "sub"), 0751));
    struct stat st;
    OK(stat(kt_path(d, "sub"), &st));
    CHECK(S_ISDIR(st.st_mode), "mode 0%o, expected S_IFDIR", st.st_mode);
    EXPECT_EQ(st.st_mode & 0777, 0751);
}

TEST(mkdir_increments_parent_nlink) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct stat before, after;
    OK(stat(d, &before));
    OK(syscall(SYS_mkdir, kt_path(d, "sub"), 0755));
    OK(stat(d, &after));
    EXPECT_EQ(after.st_nlink, before.st_nlink + 1);
}

TEST(mkdir_existing_is_eexist) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_mkdir, d, 0755), EEXIST);
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_mkdir, kt_path(d, "f"), 0755), EEXIST);
}

TEST(mkdir_over_dangling_symlink_is_eexist) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("nowhere", kt_path(d, "l")));
    EXPECT_ERRNO(syscall(SYS_mkdir, kt_path(d, "l"), 0755), EEXIST);
}

TEST(mkdir_missing_parent_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_mkdir, kt_path(d, "a/b"), 0755), ENOENT);
}

TEST(mkdir_under_file_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_mkdir, kt_path(d, "f/sub"), 0755), ENOTDIR);
}

TEST(mkdir_long_name_is_enametoolong) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    EXPECT_ERRNO(syscall(SYS_mkdir, kt_path(d, name), 0755), ENAMETOOLONG);
}

TEST(mkdir_bad_path_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_mkdir, BADPTR, 0755), EFAULT);
}

TEST(mkdirat_relative_to_dirfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    long r = syscall(SYS_mkdirat, dfd, "sub", 0755);
    close(dfd);
    CHECK(r == 0, "mkdirat failed: %s", kt_errstr(errno));
    struct stat st;
    OK(stat(kt_path(d, "sub"), &st));
    CHECK(S_ISDIR(st.st_mode), "mode 0%o, expected S_IFDIR", st.st_mode);
}

TEST(mkdirat_bad_dirfd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_mkdirat, 9999, "sub", 0755), EBADF);
}

/* ---- rmdir ------------------------------------------------------------ */

TEST(rmdir_removes_empty_directory) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    OK(syscall(SYS_rmdir, kt_path(d, "sub")));
    CHECK(!exists(kt_path(d, "sub")), "directory still exists");
}

TEST(rmdir_nonempty_is_enotempty) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    OK(make_file(kt_path(d, "sub/f"), "x"));
    EXPECT_ERRNO(syscall(SYS_rmdir, kt_path(d, "sub")), ENOTEMPTY);
}

TEST(rmdir_file_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_rmdir, kt_path(d, "f")), ENOTDIR);
}

TEST(rmdir_symlink_to_dir_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    OK(symlink("sub", kt_path(d, "l")));
    EXPECT_ERRNO(syscall(SYS_rmdir, kt_path(d, "l")), ENOTDIR);
}

TEST(rmdir_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_rmdir, kt_path(d, "missing")), ENOENT);
}

TEST(rmdir_dot_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    EXPECT_ERRNO(syscall(SYS_rmdir, kt_path(d, "sub/.")), EINVAL);
}

TEST(rmdir_dotdot_is_enotempty) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    EXPECT_ERRNO(syscall(SYS_rmdir, kt_path(d, "sub/..")), ENOTEMPTY);
}

/* ---- unlink / unlinkat ------------------------------------------------ */

TEST(unlink_removes_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    OK(syscall(SYS_unlink, kt_path(d, "f")));
    CHECK(!exists(kt_path(d, "f")), "file still exists");
}

TEST(unlink_open_file_keeps_data_readable) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "still here"));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    OK(syscall(SYS_unlink, kt_path(d, "f")));
    char buf[16] = {0};
    long n = read(fd, buf, sizeof buf);
    close(fd);
    EXPECT_EQ(n, 10);
    CHECK(!memcmp(buf, "still here", 10), "read '%s'", buf);
}

TEST(unlink_symlink_removes_link_not_target) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    OK(symlink("f", kt_path(d, "l")));
    OK(syscall(SYS_unlink, kt_path(d, "l")));
    CHECK(!exists(kt_path(d, "l")), "link still exists");
    CHECK(exists(kt_path(d, "f")), "target was removed");
}

TEST(unlink_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_unlink, kt_path(d, "missing")), ENOENT);
}

/* Linux returns EISDIR here (POSIX says EPERM). */
TEST(unlink_directory_is_eisdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    EXPECT_ERRNO(syscall(SYS_unlink, kt_path(d, "sub")), EISDIR);
}

TEST(unlink_file_as_path_component_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_unlink, kt_path(d, "f/x")), ENOTDIR);
}

TEST(unlinkat_removes_file_relative_to_dirfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    long r = syscall(SYS_unlinkat, dfd, "f", 0);
    close(dfd);
    CHECK(r == 0, "unlinkat failed: %s", kt_errstr(errno));
    CHECK(!exists(kt_path(d, "f")), "file still exists");
}

TEST(unlinkat_removedir_removes_directory) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    long r = syscall(SYS_unlinkat, dfd, "sub", AT_REMOVEDIR);
    close(dfd);
    CHECK(r == 0, "unlinkat failed: %s", kt_errstr(errno));
    CHECK(!exists(kt_path(d, "sub")), "directory still exists");
}

TEST(unlinkat_removedir_on_file_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_unlinkat, AT_FDCWD, kt_path(d, "f"), AT_REMOVEDIR), ENOTDIR);
}

TEST(unlinkat_removedir_nonempty_is_enotempty) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    OK(mkdir(kt_path(d, "sub/inner"), 0755));
    EXPECT_ERRNO(syscall(SYS_unlinkat, AT_FDCWD, kt_path(d, "sub"), AT_REMOVEDIR), ENOTEMPTY);
}

TEST(unlinkat_without_removedir_on_dir_is_eisdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    EXPECT_ERRNO(syscall(SYS_unlinkat, AT_FDCWD, kt_path(d, "sub"), 0), EISDIR);
}

TEST(unlinkat_bad_flags_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_unlinkat, AT_FDCWD, kt_path(d, "f"), 0x1), EINVAL);
    CHECK(exists(kt_path(d, "f")), "file was removed despite EINVAL");
}

TEST(unlinkat_bad_dirfd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_unlinkat, 9999, "f", 0), EBADF);
}

/* ---- getdents64 ------------------------------------------------------- */

TEST(getdents64_lists_entries_with_types) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "file"), "x"));
    OK(mkdir(kt_path(d, "dir"), 0755));
    OK(symlink("file", kt_path(d, "link")));
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[4096] __attribute__((aligned(8)));
    int seen_dot = 0, seen_dotdot = 0, seen_file = 0, seen_dir = 0, seen_link = 0, other = 0;
    long n;
    struct stat fst;
    OK(stat(kt_path(d, "file"), &fst));
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct kt_dirent64 *e = (struct kt_dirent64 *)(buf + off);
            CHECK(e->d_reclen > 0 && off + e->d_reclen <= n, "bad d_reclen %u at offset %ld",
                  e->d_reclen, off);
            CHECK(e->d_reclen % 8 == 0, "d_reclen %u not 8-aligned", e->d_reclen);
            if (!strcmp(e->d_name, ".")) {
                seen_dot++;
                CHECK(e->d_type == DT_DIR, "'.' has d_type %d, expected DT_DIR", e->d_type);
            } else if (!strcmp(e->d_name, "..")) {
                seen_dotdot++;
                CHECK(e->d_type == DT_DIR, "'..' has d_type %d, expected DT_DIR", e->d_type);
            } else if (!strcmp(e->d_name, "file")) {
                seen_file++;
                CHECK(e->d_type == DT_REG, "'file' has d_type %d, expected DT_REG", e->d_type);
                CHECK(e->d_ino == fst.st_ino, "'file' d_ino %lu, stat says %lu",
                      (unsigned long)e->d_ino, (unsigned long)fst.st_ino);
            } else if (!strcmp(e->d_name, "dir")) {
                seen_dir++;
                CHECK(e->d_type == DT_DIR, "'dir' has d_type %d, expected DT_DIR", e->d_type);
            } else if (!strcmp(e->d_name, "link")) {
                seen_link++;
                CHECK(e->d_type == DT_LNK, "'link' has d_type %d, expected DT_LNK", e->d_type);
            } else {
                other++;
            }
            off += e->d_reclen;
        }
    }
    int err = errno;
    close(fd);
    CHECK(n == 0, "getdents64 returned %ld %s", n, kt_errstr(err));
    CHECK(seen_dot == 1 && seen_dotdot == 1 && seen_file == 1 && seen_dir == 1 &&
          seen_link == 1 && other == 0,
          "counts: .=%d ..=%d file=%d dir=%d link=%d other=%d, expected 1 each and 0 other",
          seen_dot, seen_dotdot, seen_file, seen_dir, seen_link, other);
}

TEST(getdents64_small_buffer_returns_every_entry_once) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    enum { N = 60 };
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "entry-%02d", i);
        OK(make_file(kt_path(d, name), ""));
    }
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[128] __attribute__((aligned(8))); /* fits only a few entries per call */
    int seen[N] = {0};
    int total = 0, calls = 0;
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        calls++;
        for (long off = 0; off < n;) {
            struct kt_dirent64 *e = (struct kt_dirent64 *)(buf + off);
            int k;
            if (sscanf(e->d_name, "entry-%d", &k) == 1 && k >= 0 && k < N)
                seen[k]++;
            total++;
            off += e->d_reclen;
        }
    }
    close(fd);
    CHECK(n == 0, "getdents64 returned %ld", n);
    EXPECT_EQ(total, N + 2);
    for (int i = 0; i < N; i++)
        CHECK(seen[i] == 1, "entry-%02d seen %d times", i, seen[i]);
    CHECK(calls > 1, "only %d call(s) with a 128-byte buffer", calls);
}

TEST(getdents64_at_end_returns_zero_and_rewinds_with_lseek) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[1024] __attribute__((aligned(8)));
    long first = syscall(SYS_getdents64, fd, buf, sizeof buf);
    long second = syscall(SYS_getdents64, fd, buf, sizeof buf);
    lseek(fd, 0, SEEK_SET);
    long again = syscall(SYS_getdents64, fd, buf, sizeof buf);
    close(fd);
    CHECK(first > 0, "first call returned %ld", first);
    EXPECT_EQ(second, 0);
    EXPECT_EQ(again, first);
}

TEST(getdents64_of_a_removed_directory_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "dead"), 0755));
    int fd = OK(open(kt_path(d, "dead"), O_RDONLY | O_DIRECTORY));
    OK(rmdir(kt_path(d, "dead")));
    char buf[1024] __attribute__((aligned(8)));
    errno = 0;
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    CHECK(n == -1 && e == ENOENT, "getdents64 of a removed directory: %ld %s", n, kt_errstr(e));
}

TEST(getdents64_sees_removed_entry_gone) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "gone"), ""));
    OK(unlink(kt_path(d, "gone")));
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[1024] __attribute__((aligned(8)));
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    close(fd);
    int count = 0;
    for (long off = 0; off < n;) {
        struct kt_dirent64 *e = (struct kt_dirent64 *)(buf + off);
        CHECK(strcmp(e->d_name, "gone"), "unlinked entry still listed");
        count++;
        off += e->d_reclen;
    }
    EXPECT_EQ(count, 2);
}

TEST(getdents64_buffer_too_small_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[8] __attribute__((aligned(8)));
    errno = 0;
    long r = syscall(SYS_getdents64, fd, buf, 4);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

TEST(getdents64_on_file_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    char buf[256] __attribute__((aligned(8)));
    errno = 0;
    long r = syscall(SYS_getdents64, fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == ENOTDIR, "got %ld %s, expected ENOTDIR", r, kt_errstr(e));
}

TEST(getdents64_bad_fd_is_ebadf) {
    char buf[256] __attribute__((aligned(8)));
    EXPECT_ERRNO(syscall(SYS_getdents64, 9999, buf, sizeof buf), EBADF);
}

TEST(getdents64_bad_buffer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    errno = 0;
    long r = syscall(SYS_getdents64, fd, BADPTR, 4096);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EFAULT, "got %ld %s, expected EFAULT", r, kt_errstr(e));
}

/* ---- getcwd / chdir / fchdir ------------------------------------------ */

TEST(getcwd_after_chdir_names_the_directory) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(syscall(SYS_chdir, d));
    char buf[PATH_MAX];
    long n = OK(syscall(SYS_getcwd, buf, sizeof buf));
    /* the raw syscall returns the length including the NUL */
    EXPECT_EQ(n, strlen(buf) + 1);
    CHECK(buf[0] == '/', "cwd '%s' is not absolute", buf);
    struct stat a, b;
    OK(stat(buf, &a));
    OK(stat(".", &b));
    CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "getcwd '%s' is not the cwd", buf);
    CHECK(!strcmp(buf, d), "getcwd '%s', expected '%s'", buf, d);
}

TEST(getcwd_at_root_is_slash) {
    OK(syscall(SYS_chdir, "/"));
    char buf[16];
    long n = OK(syscall(SYS_getcwd, buf, sizeof buf));
    EXPECT_EQ(n, 2);
    CHECK(!strcmp(buf, "/"), "getcwd '%s', expected '/'", buf);
}

TEST(getcwd_small_buffer_is_erange) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(chdir(d));
    char buf[8];
    EXPECT_ERRNO(syscall(SYS_getcwd, buf, 1), ERANGE);
    EXPECT_ERRNO(syscall(SYS_getcwd, buf, strlen(d)), ERANGE); /* no room for the NUL */
    EXPECT_ERRNO(syscall(SYS_getcwd, buf, 0), ERANGE);
}

TEST(getcwd_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_getcwd, BADPTR, 4096), EFAULT);
}

TEST(chdir_changes_relative_path_resolution) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    OK(make_file(kt_path(d, "sub/f"), "rel"));
    OK(syscall(SYS_chdir, kt_path(d, "sub")));
    char buf[8];
    EXPECT_EQ(slurp("f", buf, sizeof buf), 3);
    OK(syscall(SYS_chdir, ".."));
    EXPECT_EQ(slurp("sub/f", buf, sizeof buf), 3);
}

TEST(chdir_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_chdir, kt_path(d, "missing")), ENOENT);
}

TEST(chdir_file_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_chdir, kt_path(d, "f")), ENOTDIR);
}

TEST(chdir_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_chdir, BADPTR), EFAULT);
}

TEST(fchdir_changes_cwd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "abc"));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    OK(chdir("/"));
    long r = syscall(SYS_fchdir, dfd);
    close(dfd);
    CHECK(r == 0, "fchdir failed: %s", kt_errstr(errno));
    char buf[8];
    EXPECT_EQ(slurp("f", buf, sizeof buf), 3);
}

TEST(fchdir_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_fchdir, 9999), EBADF);
}

TEST(fchdir_on_file_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    errno = 0;
    long r = syscall(SYS_fchdir, fd);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == ENOTDIR, "got %ld %s, expected ENOTDIR", r, kt_errstr(e));
}

/* ---- rename / renameat / renameat2 ------------------------------------ */

TEST(rename_moves_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "data"));
    OK(mkdir(kt_path(d, "sub"), 0755));
    OK(syscall(SYS_rename, kt_path(d, "a"), kt_path(d, "sub/b")));
    CHECK(!exists(kt_path(d, "a")), "old name still exists");
    char buf[8];
    EXPECT_EQ(slurp(kt_path(d, "sub/b"), buf, sizeof buf), 4);
}

TEST(rename_replaces_existing_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "new"));
    OK(make_file(kt_path(d, "b"), "old contents"));
    OK(syscall(SYS_rename, kt_path(d, "a"), kt_path(d, "b")));
    char buf[16];
    EXPECT_EQ(slurp(kt_path(d, "b"), buf, sizeof buf), 3);
    CHECK(!exists(kt_path(d, "a")), "old name still exists");
}

TEST(rename_directory_onto_empty_directory_replaces_it) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "a"), 0755));
    OK(make_file(kt_path(d, "a/inside"), "x"));
    OK(mkdir(kt_path(d, "b"), 0755));
    OK(syscall(SYS_rename, kt_path(d, "a"), kt_path(d, "b")));
    CHECK(exists(kt_path(d, "b/inside")), "b/inside missing after rename");
    CHECK(!exists(kt_path(d, "a")), "old name still exists");
}

TEST(rename_hard_links_to_same_inode_is_noop) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "x"));
    OK(link(kt_path(d, "a"), kt_path(d, "b")));
    OK(syscall(SYS_rename, kt_path(d, "a"), kt_path(d, "b")));
    CHECK(exists(kt_path(d, "a")) && exists(kt_path(d, "b")), "a link was removed");
}

TEST(rename_missing_source_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_rename, kt_path(d, "missing"), kt_path(d, "b")), ENOENT);
}

TEST(rename_dir_onto_nonempty_dir_is_enotempty) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "a"), 0755));
    OK(mkdir(kt_path(d, "b"), 0755));
    OK(make_file(kt_path(d, "b/f"), "x"));
    long r = syscall(SYS_rename, kt_path(d, "a"), kt_path(d, "b"));
    int e = errno;
    /* Linux may report either ENOTEMPTY or EEXIST; it uses ENOTEMPTY. */
    CHECK(r == -1 && e == ENOTEMPTY, "got %ld %s, expected ENOTEMPTY", r, kt_errstr(e));
}

TEST(rename_file_onto_dir_is_eisdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    OK(mkdir(kt_path(d, "dir"), 0755));
    EXPECT_ERRNO(syscall(SYS_rename, kt_path(d, "f"), kt_path(d, "dir")), EISDIR);
}

TEST(rename_dir_onto_file_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    OK(mkdir(kt_path(d, "dir"), 0755));
    EXPECT_ERRNO(syscall(SYS_rename, kt_path(d, "dir"), kt_path(d, "f")), ENOTDIR);
}

TEST(rename_dir_into_its_own_subdir_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "a"), 0755));
    OK(mkdir(kt_path(d, "a/b"), 0755));
    EXPECT_ERRNO(syscall(SYS_rename, kt_path(d, "a"), kt_path(d, "a/b/c")), EINVAL);
}

TEST(rename_into_missing_dir_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_rename, kt_path(d, "f"), kt_path(d, "nodir/f")), ENOENT);
}

/* A directory removed while something still holds it (an open fd here, a cwd in
 * the wild) takes no new names: Linux refuses them with ENOENT (IS_DEADDIR). A
 * file system that let a rename in would leave the moved directory unconnected. */
TEST(names_into_a_removed_directory_are_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "gone"), 0755));
    OK(mkdir(kt_path(d, "sub"), 0755));
    OK(make_file(kt_path(d, "f"), "x"));
    int dfd = open(kt_path(d, "gone"), O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0, "open gone: %s", kt_errstr(errno));
    OK(rmdir(kt_path(d, "gone")));
    EXPECT_ERRNO(renameat(AT_FDCWD, kt_path(d, "sub"), dfd, "sub"), ENOENT);
    EXPECT_ERRNO(renameat(AT_FDCWD, kt_path(d, "f"), dfd, "f"), ENOENT);
    EXPECT_ERRNO(mkdirat(dfd, "x", 0755), ENOENT);
    EXPECT_ERRNO(openat(dfd, "y", O_CREAT | O_WRONLY, 0644), ENOENT);
    EXPECT_ERRNO(linkat(AT_FDCWD, kt_path(d, "f"), dfd, "z", 0), ENOENT);
    EXPECT_ERRNO(symlinkat("t", dfd, "s"), ENOENT);
    EXPECT_ERRNO(mknodat(dfd, "p", S_IFIFO | 0644, 0), ENOENT);
    CHECK(exists(kt_path(d, "sub")) && exists(kt_path(d, "f")), "a name left %s", d);
    close(dfd);
    /* A directory that a rename replaced is as dead as a removed one. */
    OK(mkdir(kt_path(d, "old"), 0755));
    dfd = open(kt_path(d, "old"), O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0, "open old: %s", kt_errstr(errno));
    OK(rename(kt_path(d, "sub"), kt_path(d, "old")));
    EXPECT_ERRNO(mkdirat(dfd, "x", 0755), ENOENT);
    EXPECT_ERRNO(renameat(AT_FDCWD, kt_path(d, "f"), dfd, "f"), ENOENT);
    close(dfd);
}

TEST(renameat_relative_to_two_dirfds) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "x"), 0755));
    OK(mkdir(kt_path(d, "y"), 0755));
    OK(make_file(kt_path(d, "x/f"), "x"));
    int a = OK(open(kt_path(d, "x"), O_RDONLY | O_DIRECTORY));
    int b = OK(open(kt_path(d, "y"), O_RDONLY | O_DIRECTORY));
    long r = syscall(SYS_renameat, a, "f", b, "g");
    close(a);
    close(b);
    CHECK(r == 0, "renameat failed: %s", kt_errstr(errno));
    CHECK(exists(kt_path(d, "y/g")) && !exists(kt_path(d, "x/f")), "file not moved");
}

TEST(renameat_bad_dirfd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_renameat, 9999, "a", AT_FDCWD, "/tmp/kt-never"), EBADF);
}

TEST(renameat2_noreplace_onto_existing_is_eexist) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "a"));
    OK(make_file(kt_path(d, "b"), "bb"));
    EXPECT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, kt_path(d, "a"), AT_FDCWD, kt_path(d, "b"),
                         KT_RENAME_NOREPLACE), EEXIST);
    char buf[8];
    EXPECT_EQ(slurp(kt_path(d, "b"), buf, sizeof buf), 2);
}

TEST(renameat2_noreplace_to_new_name_succeeds) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "a"));
    OK(syscall(SYS_renameat2, AT_FDCWD, kt_path(d, "a"), AT_FDCWD, kt_path(d, "c"),
               KT_RENAME_NOREPLACE));
    CHECK(exists(kt_path(d, "c")) && !exists(kt_path(d, "a")), "file not moved");
}

TEST(renameat2_exchange_swaps_two_names) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "AAA"));
    OK(mkdir(kt_path(d, "b"), 0755));
    OK(syscall(SYS_renameat2, AT_FDCWD, kt_path(d, "a"), AT_FDCWD, kt_path(d, "b"),
               KT_RENAME_EXCHANGE));
    struct stat sa, sb;
    OK(stat(kt_path(d, "a"), &sa));
    OK(stat(kt_path(d, "b"), &sb));
    CHECK(S_ISDIR(sa.st_mode), "a is not the directory after exchange (mode 0%o)", sa.st_mode);
    CHECK(S_ISREG(sb.st_mode) && sb.st_size == 3, "b is not the 3-byte file (mode 0%o size %ld)",
          sb.st_mode, (long)sb.st_size);
}

TEST(renameat2_exchange_with_missing_target_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "a"));
    EXPECT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, kt_path(d, "a"), AT_FDCWD, kt_path(d, "b"),
                         KT_RENAME_EXCHANGE), ENOENT);
    CHECK(exists(kt_path(d, "a")), "source vanished");
}

TEST(renameat2_noreplace_and_exchange_together_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "a"));
    OK(make_file(kt_path(d, "b"), "b"));
    EXPECT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, kt_path(d, "a"), AT_FDCWD, kt_path(d, "b"),
                         KT_RENAME_NOREPLACE | KT_RENAME_EXCHANGE), EINVAL);
}

TEST(renameat2_unknown_flag_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "a"));
    EXPECT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, kt_path(d, "a"), AT_FDCWD, kt_path(d, "b"),
                         0x100), EINVAL);
}

TEST(renameat2_zero_flags_behaves_like_rename) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "new"));
    OK(make_file(kt_path(d, "b"), "old!"));
    OK(syscall(SYS_renameat2, AT_FDCWD, kt_path(d, "a"), AT_FDCWD, kt_path(d, "b"), 0));
    char buf[8];
    EXPECT_EQ(slurp(kt_path(d, "b"), buf, sizeof buf), 3);
}

/* ---- link / linkat ---------------------------------------------------- */

TEST(link_creates_second_name_for_same_inode) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "shared"));
    OK(syscall(SYS_link, kt_path(d, "a"), kt_path(d, "b")));
    struct stat sa, sb;
    OK(stat(kt_path(d, "a"), &sa));
    OK(stat(kt_path(d, "b"), &sb));
    EXPECT_EQ(sa.st_ino, sb.st_ino);
    EXPECT_EQ(sa.st_nlink, 2);
    /* writes through one name are visible through the other */
    int fd = OK(open(kt_path(d, "b"), O_WRONLY | O_APPEND));
    EXPECT_EQ(write(fd, "!", 1), 1);
    close(fd);
    char buf[16];
    EXPECT_EQ(slurp(kt_path(d, "a"), buf, sizeof buf), 7);
    OK(unlink(kt_path(d, "a")));
    OK(stat(kt_path(d, "b"), &sb));
    EXPECT_EQ(sb.st_nlink, 1);
}

TEST(link_existing_target_is_eexist) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "a"), "x"));
    OK(make_file(kt_path(d, "b"), "y"));
    EXPECT_ERRNO(syscall(SYS_link, kt_path(d, "a"), kt_path(d, "b")), EEXIST);
}

TEST(link_missing_source_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_link, kt_path(d, "missing"), kt_path(d, "b")), ENOENT);
}

TEST(link_directory_is_eperm) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "dir"), 0755));
    EXPECT_ERRNO(syscall(SYS_link, kt_path(d, "dir"), kt_path(d, "b")), EPERM);
    /* The new name is checked first: an existing one is EEXIST even for a
     * directory source (Linux's filename_create before vfs_link). */
    OK(make_file(kt_path(d, "taken"), "x"));
    EXPECT_ERRNO(syscall(SYS_link, kt_path(d, "dir"), kt_path(d, "taken")), EEXIST);
}

/* link() does not follow a symlink source: the new name is another symlink. */
TEST(link_to_symlink_links_the_symlink) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    OK(symlink("f", kt_path(d, "l")));
    OK(syscall(SYS_link, kt_path(d, "l"), kt_path(d, "l2")));
    struct stat st;
    OK(lstat(kt_path(d, "l2"), &st));
    CHECK(S_ISLNK(st.st_mode), "l2 mode 0%o, expected S_IFLNK", st.st_mode);
}

TEST(linkat_symlink_follow_links_the_target) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    OK(symlink("f", kt_path(d, "l")));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    long r = syscall(SYS_linkat, dfd, "l", dfd, "hard", AT_SYMLINK_FOLLOW);
    close(dfd);
    CHECK(r == 0, "linkat failed: %s", kt_errstr(errno));
    struct stat st, sf;
    OK(lstat(kt_path(d, "hard"), &st));
    OK(stat(kt_path(d, "f"), &sf));
    CHECK(S_ISREG(st.st_mode), "hard mode 0%o, expected S_IFREG", st.st_mode);
    EXPECT_EQ(st.st_ino, sf.st_ino);
}

TEST(linkat_relative_to_dirfds) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "x"), 0755));
    OK(make_file(kt_path(d, "f"), "x"));
    int a = OK(open(d, O_RDONLY | O_DIRECTORY));
    int b = OK(open(kt_path(d, "x"), O_RDONLY | O_DIRECTORY));
    long r = syscall(SYS_linkat, a, "f", b, "g", 0);
    close(a);
    close(b);
    CHECK(r == 0, "linkat failed: %s", kt_errstr(errno));
    CHECK(exists(kt_path(d, "x/g")), "x/g missing");
}

TEST(linkat_bad_flags_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_linkat, AT_FDCWD, kt_path(d, "f"), AT_FDCWD, kt_path(d, "g"), 0x1),
                 EINVAL);
}

/* ---- symlink / symlinkat / readlink / readlinkat ---------------------- */

TEST(symlink_then_readlink_returns_target) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(syscall(SYS_symlink, "some/target/path", kt_path(d, "l")));
    char buf[64];
    memset(buf, 'X', sizeof buf);
    long n = OK(syscall(SYS_readlink, kt_path(d, "l"), buf, sizeof buf));
    EXPECT_EQ(n, 16);
    CHECK(!memcmp(buf, "some/target/path", 16), "readlink gave '%.*s'", (int)n, buf);
    EXPECT_EQ(buf[16], 'X'); /* readlink does not NUL-terminate */
}

TEST(symlink_may_dangle) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(syscall(SYS_symlink, "does/not/exist", kt_path(d, "l")));
    struct stat st;
    OK(lstat(kt_path(d, "l"), &st));
    CHECK(S_ISLNK(st.st_mode), "mode 0%o, expected S_IFLNK", st.st_mode);
}

TEST(symlink_existing_name_is_eexist) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    EXPECT_ERRNO(syscall(SYS_symlink, "target", kt_path(d, "f")), EEXIST);
}

TEST(symlink_empty_target_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_symlink, "", kt_path(d, "l")), ENOENT);
}

TEST(symlink_to_directory_can_be_traversed) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "dir"), 0755));
    OK(make_file(kt_path(d, "dir/f"), "abc"));
    OK(syscall(SYS_symlink, kt_path(d, "dir"), kt_path(d, "abs")));
    OK(syscall(SYS_symlink, "dir", kt_path(d, "rel")));
    char buf[8];
    EXPECT_EQ(slurp(kt_path(d, "abs/f"), buf, sizeof buf), 3);
    EXPECT_EQ(slurp(kt_path(d, "rel/f"), buf, sizeof buf), 3);
}

TEST(symlinkat_relative_to_dirfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    long r = syscall(SYS_symlinkat, "tgt", dfd, "l");
    close(dfd);
    CHECK(r == 0, "symlinkat failed: %s", kt_errstr(errno));
    char buf[8];
    EXPECT_EQ(readlink(kt_path(d, "l"), buf, sizeof buf), 3);
}

TEST(symlinkat_bad_dirfd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_symlinkat, "tgt", 9999, "l"), EBADF);
}

TEST(readlink_truncates_to_buffer_size) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("0123456789", kt_path(d, "l")));
    char buf[8];
    memset(buf, 'X', sizeof buf);
    long n = OK(syscall(SYS_readlink, kt_path(d, "l"), buf, 4));
    EXPECT_EQ(n, 4);
    CHECK(!memcmp(buf, "0123X", 5), "buffer is '%.5s', expected '0123X'", buf);
}

TEST(readlink_on_regular_file_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(make_file(kt_path(d, "f"), "x"));
    char buf[8];
    EXPECT_ERRNO(syscall(SYS_readlink, kt_path(d, "f"), buf, sizeof buf), EINVAL);
}

TEST(readlink_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char buf[8];
    EXPECT_ERRNO(syscall(SYS_readlink, kt_path(d, "missing"), buf, sizeof buf), ENOENT);
}

TEST(readlink_zero_size_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("t", kt_path(d, "l")));
    char buf[8];
    EXPECT_ERRNO(syscall(SYS_readlink, kt_path(d, "l"), buf, 0), EINVAL);
}

TEST(readlink_bad_buffer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("t", kt_path(d, "l")));
    EXPECT_ERRNO(syscall(SYS_readlink, kt_path(d, "l"), BADPTR, 8), EFAULT);
}

TEST(readlinkat_relative_to_dirfd_and_truncates) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("abcdef", kt_path(d, "l")));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[16] = {0};
    long full = syscall(SYS_readlinkat, dfd, "l", buf, sizeof buf);
    char small[4];
    long part = syscall(SYS_readlinkat, dfd, "l", small, 3);
    close(dfd);
    EXPECT_EQ(full, 6);
    CHECK(!memcmp(buf, "abcdef", 6), "got '%s'", buf);
    EXPECT_EQ(part, 3);
    CHECK(!memcmp(small, "abc", 3), "got '%.3s', expected 'abc'", small);
}

TEST(readlinkat_empty_path_reads_opath_symlink_fd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("the-target", kt_path(d, "l")));
    int fd = OK(open(kt_path(d, "l"), O_PATH | O_NOFOLLOW));
    char buf[32];
    long n = syscall(SYS_readlinkat, fd, "", buf, sizeof buf);
    int e = errno;
    close(fd);
    CHECK(n == 10, "got %ld %s, expected 10", n, kt_errstr(e));
    CHECK(!memcmp(buf, "the-target", 10), "got '%.10s'", buf);
}

TEST(readlinkat_bad_dirfd_is_ebadf) {
    char buf[8];
    EXPECT_ERRNO(syscall(SYS_readlinkat, 9999, "l", buf, sizeof buf), EBADF);
}

/* The target is the source's own directory: it holds the source, so it is
 * not empty (and an exchange of the two is EINVAL). */
TEST(rename_directory_over_its_own_parent_is_enotempty) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char p[PATH_MAX], x[PATH_MAX];
    snprintf(p, sizeof p, "%s/d", d);
    snprintf(x, sizeof x, "%s/d/x", d);
    OK(mkdir(p, 0755));
    OK(mkdir(x, 0755));
    EXPECT_ERRNO(rename(x, p), ENOTEMPTY);
    EXPECT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, x, AT_FDCWD, p, 2 /* RENAME_EXCHANGE */),
                 EINVAL);
    struct stat st;
    OK(stat(x, &st));
}

int main(void)
{
    KT_BEGIN();
    RUN(mkdir_creates_directory_with_mode);
    RUN(mkdir_increments_parent_nlink);
    RUN(mkdir_existing_is_eexist);
    RUN(mkdir_over_dangling_symlink_is_eexist);
    RUN(mkdir_missing_parent_is_enoent);
    RUN(mkdir_under_file_is_enotdir);
    RUN(mkdir_long_name_is_enametoolong);
    RUN(mkdir_bad_path_pointer_is_efault);
    RUN(mkdirat_relative_to_dirfd);
    RUN(mkdirat_bad_dirfd_is_ebadf);
    RUN(rmdir_removes_empty_directory);
    RUN(rmdir_nonempty_is_enotempty);
    RUN(rmdir_file_is_enotdir);
    RUN(rmdir_symlink_to_dir_is_enotdir);
    RUN(rmdir_missing_is_enoent);
    RUN(rmdir_dot_is_einval);
    RUN(rmdir_dotdot_is_enotempty);
    RUN(unlink_removes_file);
    RUN(unlink_open_file_keeps_data_readable);
    RUN(unlink_symlink_removes_link_not_target);
    RUN(unlink_missing_is_enoent);
    RUN(unlink_directory_is_eisdir);
    RUN(unlink_file_as_path_component_is_enotdir);
    RUN(unlinkat_removes_file_relative_to_dirfd);
    RUN(unlinkat_removedir_removes_directory);
    RUN(unlinkat_removedir_on_file_is_enotdir);
    RUN(unlinkat_removedir_nonempty_is_enotempty);
    RUN(unlinkat_without_removedir_on_dir_is_eisdir);
    RUN(unlinkat_bad_flags_is_einval);
    RUN(unlinkat_bad_dirfd_is_ebadf);
    RUN(getdents64_lists_entries_with_types);
    RUN(getdents64_small_buffer_returns_every_entry_once);
    RUN(getdents64_at_end_returns_zero_and_rewinds_with_lseek);
    RUN(getdents64_of_a_removed_directory_is_enoent);
    RUN(getdents64_sees_removed_entry_gone);
    RUN(getdents64_buffer_too_small_is_einval);
    RUN(getdents64_on_file_is_enotdir);
    RUN(getdents64_bad_fd_is_ebadf);
    RUN(getdents64_bad_buffer_is_efault);
    RUN(getcwd_after_chdir_names_the_directory);
    RUN(getcwd_at_root_is_slash);
    RUN(getcwd_small_buffer_is_erange);
    RUN(getcwd_bad_pointer_is_efault);
    RUN(chdir_changes_relative_path_resolution);
    RUN(chdir_missing_is_enoent);
    RUN(chdir_file_is_enotdir);
    RUN(chdir_bad_pointer_is_efault);
    RUN(fchdir_changes_cwd);
    RUN(fchdir_bad_fd_is_ebadf);
    RUN(fchdir_on_file_is_enotdir);
    RUN(rename_moves_file);
    RUN(rename_replaces_existing_file);
    RUN(rename_directory_onto_empty_directory_replaces_it);
    RUN(rename_hard_links_to_same_inode_is_noop);
    RUN(rename_missing_source_is_enoent);
    RUN(rename_dir_onto_nonempty_dir_is_enotempty);
    RUN(rename_file_onto_dir_is_eisdir);
    RUN(rename_dir_onto_file_is_enotdir);
    RUN(rename_dir_into_its_own_subdir_is_einval);
    RUN(rename_into_missing_dir_is_enoent);
    RUN(names_into_a_removed_directory_are_enoent);
    RUN(renameat_relative_to_two_dirfds);
    RUN(renameat_bad_dirfd_is_ebadf);
    RUN(renameat2_noreplace_onto_existing_is_eexist);
    RUN(renameat2_noreplace_to_new_name_succeeds);
    RUN(renameat2_exchange_swaps_two_names);
    RUN(renameat2_exchange_with_missing_target_is_enoent);
    RUN(renameat2_noreplace_and_exchange_together_is_einval);
    RUN(renameat2_unknown_flag_is_einval);
    RUN(renameat2_zero_flags_behaves_like_rename);
    RUN(link_creates_second_name_for_same_inode);
    RUN(link_existing_target_is_eexist);
    RUN(link_missing_source_is_enoent);
    RUN(link_directory_is_eperm);
    RUN(link_to_symlink_links_the_symlink);
    RUN(linkat_symlink_follow_links_the_target);
    RUN(linkat_relative_to_dirfds);
    RUN(linkat_bad_flags_is_einval);
    RUN(symlink_then_readlink_returns_target);
    RUN(symlink_may_dangle);
    RUN(symlink_existing_name_is_eexist);
    RUN(symlink_empty_target_is_enoent);
    RUN(symlink_to_directory_can_be_traversed);
    RUN(symlinkat_relative_to_dirfd);
    RUN(symlinkat_bad_dirfd_is_ebadf);
    RUN(readlink_truncates_to_buffer_size);
    RUN(readlink_on_regular_file_is_einval);
    RUN(readlink_missing_is_enoent);
    RUN(readlink_zero_size_is_einval);
    RUN(readlink_bad_buffer_is_efault);
    RUN(readlinkat_relative_to_dirfd_and_truncates);
    RUN(readlinkat_empty_path_reads_opath_symlink_fd);
    RUN(readlinkat_bad_dirfd_is_ebadf);
    RUN(rename_directory_over_its_own_parent_is_enotempty);
    return KT_END();
}
