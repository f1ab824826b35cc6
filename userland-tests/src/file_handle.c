/* File handles: name_to_handle_at(2) and open_by_handle_at(2). The handles
 * are made on a tmpfs (the temp dir when it is one, else /dev/shm), where
 * Linux and Kestrel both support them. */
#define KT_AREA "file_handle"
#include "kt.h"

#include <sys/statfs.h>
#include <sys/wait.h>

#define TMPFS_MAGIC 0x01021994
#define MAX_HANDLE_SZ 128
#define BADPTR ((void *)1)

struct handle {
    unsigned int handle_bytes;
    int handle_type;
    unsigned char f_handle[MAX_HANDLE_SZ];
};

static long n2h(int dfd, const char *path, struct handle *h, int *mnt, int flags)
{
    return syscall(SYS_name_to_handle_at, dfd, path, h, mnt, flags);
}

static long obh(int mfd, struct handle *h, int flags)
{
    return syscall(SYS_open_by_handle_at, mfd, h, flags);
}

/* The mount a handle is opened on: the tmpfs directory's (the working
 * directory may be on another file system). */
static int mount_fd(const char *d)
{
    return open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A fresh directory on a tmpfs; NULL (the case SKIPs) without one. */
static const char *tmpfs_dir(void)
{
    const char *d = kt_tmpdir();
    struct statfs sf;
    if (d && statfs(d, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
        return d;
    static char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/kt-fh-%d", getpid());
    if (statfs("/dev/shm", &sf) != 0 || sf.f_type != TMPFS_MAGIC)
        return NULL;
    mkdir(shm, 0700);
    return shm;
}

static void cleanup_shm(const char *d)
{
    if (!strncmp(d, "/dev/shm/", 9)) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", d);
        if (system(cmd) != 0) {
        }
    }
}

#define TMPFS_DIR(d)                                                          \
    const char *d = tmpfs_dir();                                              \
    if (!d)                                                                   \
        SKIP("no tmpfs at hand")

TEST(a_handle_opens_the_same_file_and_too_small_a_buffer_is_eoverflow)
{
    TMPFS_DIR(d);
    char path[256];
    snprintf(path, sizeof path, "%s/f", d);
    OK(kt_write_file(path, "hello", 5));
    struct handle probe = {0};
    int mnt = -1;
    errno = 0;
    long r0 = n2h(AT_FDCWD, path, &probe, &mnt, 0);
    int e0 = errno;
    struct handle h = {0};
    h.handle_bytes = probe.handle_bytes;
    int mnt2 = -1;
    long r1 = n2h(AT_FDCWD, path, &h, &mnt2, 0);
    int mfd = mount_fd(d);
    int fd = obh(mfd, &h, O_RDONLY);
    int e_open = errno;
    close(mfd);
    struct stat a, b;
    stat(path, &a);
    char buf[8] = {0};
    long n = -1;
    if (fd >= 0) {
        fstat(fd, &b);
        n = read(fd, buf, sizeof buf);
        close(fd);
    }
    cleanup_shm(d);
    CHECK(r0 == -1 && e0 == EOVERFLOW, "probe: %ld %s", r0, kt_errstr(e0));
    CHECK(probe.handle_bytes > 0 && probe.handle_bytes <= MAX_HANDLE_SZ, "needs %u bytes",
          probe.handle_bytes);
    CHECK(mnt >= 0 && mnt == mnt2, "mount ids %d %d", mnt, mnt2);
    EXPECT_EQ(r1, 0);
    CHECK(fd >= 0, "open_by_handle_at: %s", kt_errstr(e_open));
    CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "another file: ino %lu vs %lu",
          (unsigned long)a.st_ino, (unsigned long)b.st_ino);
    EXPECT_EQ(n, 5);
    CHECK(!memcmp(buf, "hello", 5), "read '%s'", buf);
}

TEST(a_directory_handle_opens_the_directory_with_o_directory)
{
    TMPFS_DIR(d);
    char path[256];
    snprintf(path, sizeof path, "%s/sub", d);
    OK(mkdir(path, 0755));
    struct handle h = {.handle_bytes = MAX_HANDLE_SZ};
    int mnt;
    long r = n2h(AT_FDCWD, path, &h, &mnt, 0);
    int mfd = mount_fd(d);
    int fd = obh(mfd, &h, O_RDONLY | O_DIRECTORY);
    int e_open = errno;
    struct stat a, b;
    stat(path, &a);
    if (fd >= 0)
        fstat(fd, &b);
    errno = 0;
    int w = obh(mfd, &h, O_WRONLY);
    int e = errno;
    close(mfd);
    if (fd >= 0)
        close(fd);
    if (w >= 0)
        close(w);
    cleanup_shm(d);
    EXPECT_EQ(r, 0);
    CHECK(fd >= 0, "open_by_handle_at: %s", kt_errstr(e_open));
    CHECK(a.st_ino == b.st_ino && S_ISDIR(b.st_mode), "ino %lu vs %lu",
          (unsigned long)a.st_ino, (unsigned long)b.st_ino);
    CHECK(w == -1 && e == EISDIR, "directory for writing: %d %s", w, kt_errstr(e));
}

TEST(empty_path_and_symlink_follow_choose_what_is_named)
{
    TMPFS_DIR(d);
    char f[256], l[256];
    snprintf(f, sizeof f, "%s/target", d);
    snprintf(l, sizeof l, "%s/link", d);
    OK(kt_write_file(f, "x", 1));
    OK(symlink(f, l));
    int fd = OK(open(f, O_RDONLY));
    struct handle by_fd = {.handle_bytes = MAX_HANDLE_SZ}, by_link = by_fd, followed = by_fd,
                  by_name = by_fd;
    int m;
    long r1 = n2h(fd, "", &by_fd, &m, AT_EMPTY_PATH);
    long r2 = n2h(AT_FDCWD, l, &by_link, &m, 0);
    long r3 = n2h(AT_FDCWD, l, &followed, &m, AT_SYMLINK_FOLLOW);
    long r4 = n2h(AT_FDCWD, f, &by_name, &m, 0);
    close(fd);
    cleanup_shm(d);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    EXPECT_EQ(r3, 0);
    EXPECT_EQ(r4, 0);
    CHECK(by_fd.handle_bytes == by_name.handle_bytes &&
              !memcmp(by_fd.f_handle, by_name.f_handle, by_name.handle_bytes),
          "AT_EMPTY_PATH gave another handle");
    CHECK(followed.handle_bytes == by_name.handle_bytes &&
              !memcmp(followed.f_handle, by_name.f_handle, by_name.handle_bytes),
          "AT_SYMLINK_FOLLOW gave another handle");
    CHECK(memcmp(by_link.f_handle, by_name.f_handle, by_name.handle_bytes) != 0,
          "without AT_SYMLINK_FOLLOW the link's own handle, not its target's");
}

TEST(name_to_handle_at_errors)
{
    TMPFS_DIR(d);
    char f[256];
    snprintf(f, sizeof f, "%s/f", d);
    OK(kt_write_file(f, "x", 1));
    struct handle h = {.handle_bytes = MAX_HANDLE_SZ};
    struct handle big = {.handle_bytes = MAX_HANDLE_SZ + 1};
    int m;
    int file = OK(open(f, O_RDONLY));
    long bad_flags = n2h(AT_FDCWD, f, &h, &m, -1);
    int e1 = errno;
    long too_big = n2h(AT_FDCWD, f, &big, &m, 0);
    int e2 = errno;
    long bad_handle = n2h(AT_FDCWD, f, (struct handle *)BADPTR, &m, 0);
    int e3 = errno;
    long bad_mnt = n2h(AT_FDCWD, f, &h, (int *)BADPTR, 0);
    int e4 = errno;
    long empty = n2h(AT_FDCWD, "", &h, &m, 0);
    int e5 = errno;
    long bad_fd = n2h(-1, "f", &h, &m, 0);
    int e6 = errno;
    long not_dir = n2h(file, "f", &h, &m, 0);
    int e7 = errno;
    long bad_path = n2h(AT_FDCWD, (const char *)BADPTR, &h, &m, 0);
    int e8 = errno;
    close(file);
    cleanup_shm(d);
    CHECK(bad_flags == -1 && e1 == EINVAL, "flags -1: %ld %s", bad_flags, kt_errstr(e1));
    CHECK(too_big == -1 && e2 == EINVAL, "129 bytes: %ld %s", too_big, kt_errstr(e2));
    CHECK(bad_handle == -1 && e3 == EFAULT, "bad handle: %ld %s", bad_handle, kt_errstr(e3));
    CHECK(bad_mnt == -1 && e4 == EFAULT, "bad mount id: %ld %s", bad_mnt, kt_errstr(e4));
    CHECK(empty == -1 && e5 == ENOENT, "empty path: %ld %s", empty, kt_errstr(e5));
    CHECK(bad_fd == -1 && e6 == EBADF, "dirfd -1: %ld %s", bad_fd, kt_errstr(e6));
    CHECK(not_dir == -1 && e7 == ENOTDIR, "dirfd a file: %ld %s", not_dir, kt_errstr(e7));
    CHECK(bad_path == -1 && e8 == EFAULT, "bad path: %ld %s", bad_path, kt_errstr(e8));
}

TEST(open_by_handle_at_errors_and_a_removed_file_is_estale)
{
    TMPFS_DIR(d);
    char f[256];
    snprintf(f, sizeof f, "%s/gone", d);
    OK(kt_write_file(f, "x", 1));
    struct handle h = {.handle_bytes = MAX_HANDLE_SZ};
    int m;
    OK(n2h(AT_FDCWD, f, &h, &m, 0));
    struct handle zero = h;
    zero.handle_bytes = 0;
    struct handle big = h;
    big.handle_bytes = MAX_HANDLE_SZ + 1;
    int mfd = mount_fd(d);
    long r0 = obh(mfd, &zero, O_RDONLY);
    int e0 = errno;
    long r1 = obh(mfd, &big, O_RDONLY);
    int e1 = errno;
    long r2 = obh(mfd, (struct handle *)BADPTR, O_RDONLY);
    int e2 = errno;
    long r3 = obh(9999, &h, O_RDONLY);
    int e3 = errno;
    OK(unlink(f));
    long r4 = obh(mfd, &h, O_RDONLY);
    int e4 = errno;
    if (r4 >= 0)
        close(r4);
    close(mfd);
    cleanup_shm(d);
    CHECK(r0 == -1 && e0 == EINVAL, "0 bytes: %ld %s", r0, kt_errstr(e0));
    CHECK(r1 == -1 && e1 == EINVAL, "129 bytes: %ld %s", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EFAULT, "bad handle: %ld %s", r2, kt_errstr(e2));
    CHECK(r3 == -1 && e3 == EBADF, "mount fd 9999: %ld %s", r3, kt_errstr(e3));
    CHECK(r4 == -1 && e4 == ESTALE, "removed file: %ld %s", r4, kt_errstr(e4));
}

TEST(open_by_handle_at_needs_cap_dac_read_search)
{
    TMPFS_DIR(d);
    char f[256];
    snprintf(f, sizeof f, "%s/f", d);
    OK(kt_write_file(f, "x", 1));
    chmod(d, 0755);
    chmod(f, 0644);
    struct handle h = {.handle_bytes = MAX_HANDLE_SZ};
    int m;
    OK(n2h(AT_FDCWD, f, &h, &m, 0));
    int mfd = mount_fd(d);
    pid_t pid = fork();
    if (pid == 0) {
        if (setresuid(65534, 65534, 65534) != 0)
            _exit(2);
        errno = 0;
        long r = obh(mfd, &h, O_RDONLY);
        _exit(r == -1 && errno == EPERM ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    close(mfd);
    cleanup_shm(d);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unprivileged open_by_handle_at: exit %d",
          WEXITSTATUS(st));
}

int main(void)
{
    KT_BEGIN();
    if (geteuid() != 0) {
        printf("SKIP file_handle: needs root\n");
        return KT_END();
    }
    RUN(a_handle_opens_the_same_file_and_too_small_a_buffer_is_eoverflow);
    RUN(a_directory_handle_opens_the_directory_with_o_directory);
    RUN(empty_path_and_symlink_follow_choose_what_is_named);
    RUN(name_to_handle_at_errors);
    RUN(open_by_handle_at_errors_and_a_removed_file_is_estale);
    RUN(open_by_handle_at_needs_cap_dac_read_search);
    return KT_END();
}
