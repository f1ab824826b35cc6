/* open/openat/close/read/write/lseek/pread64/pwrite64/readv/writev/truncate/ftruncate */
#define KT_AREA "fs_file"
#include "kt.h"
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>

#include <sys/uio.h>

#define BADPTR ((void *)1)

/* A page that was mapped and then unmapped: a pointer that is certainly invalid. */
static void *unmapped_page(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    munmap(p, 4096);
    return p;
}

/* Two pages, second one unmapped: returns the start of the first (valid) page. */
static char *page_then_hole(void)
{
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    munmap(p + 4096, 4096);
    return p;
}

/* Creates dir/name with the given content and returns an fd opened with flags. */
static int make_file(const char *dir, const char *name, const char *content, int flags)
{
    const char *p = kt_path(dir, name);
    if (kt_write_file(p, content, strlen(content)) != 0)
        return -1;
    return open(p, flags);
}

/* ---- open / openat ---------------------------------------------------- */

TEST(open_creat_write_read_roundtrip) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    const char *p = kt_path(d, "f");
    int fd = OK(syscall(SYS_open, p, O_CREAT | O_RDWR, 0644));
    EXPECT_EQ(write(fd, "hello", 5), 5);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    char buf[16] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 5);
    CHECK(!memcmp(buf, "hello", 5), "read back '%.5s', expected 'hello'", buf);
    OK(close(fd));
}

TEST(open_creat_new_file_has_requested_mode) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    umask(0);
    int fd = OK(syscall(SYS_open, kt_path(d, "f"), O_CREAT | O_WRONLY, 0640));
    struct stat st;
    OK(fstat(fd, &st));
    close(fd);
    EXPECT_EQ(st.st_mode & 07777, 0640);
    CHECK(S_ISREG(st.st_mode), "mode 0%o is not a regular file", st.st_mode);
    EXPECT_EQ(st.st_size, 0);
}

TEST(open_missing_path_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_open, kt_path(d, "missing"), O_RDONLY), ENOENT);
}

TEST(open_creat_in_missing_dir_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_open, kt_path(d, "nodir/f"), O_CREAT | O_WRONLY, 0644), ENOENT);
}

TEST(open_empty_path_is_enoent) {
    EXPECT_ERRNO(syscall(SYS_open, "", O_RDONLY), ENOENT);
}

TEST(open_bad_path_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_open, BADPTR, O_RDONLY), EFAULT);
}

TEST(open_excl_existing_is_eexist) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "x", O_RDONLY));
    close(fd);
    EXPECT_ERRNO(syscall(SYS_open, kt_path(d, "f"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
}

TEST(open_excl_on_dangling_symlink_is_eexist) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("nowhere", kt_path(d, "l")));
    EXPECT_ERRNO(syscall(SYS_open, kt_path(d, "l"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
}

TEST(open_creat_through_dangling_symlink_creates_target) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("target", kt_path(d, "l")));
    int fd = OK(syscall(SYS_open, kt_path(d, "l"), O_CREAT | O_WRONLY, 0644));
    close(fd);
    struct stat st;
    OK(lstat(kt_path(d, "target"), &st));
    CHECK(S_ISREG(st.st_mode), "target mode 0%o, expected regular file", st.st_mode);
}

TEST(open_trunc_empties_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "some content", O_RDONLY));
    close(fd);
    fd = OK(syscall(SYS_open, kt_path(d, "f"), O_WRONLY | O_TRUNC));
    struct stat st;
    OK(fstat(fd, &st));
    close(fd);
    EXPECT_EQ(st.st_size, 0);
}

TEST(open_append_writes_at_end_despite_lseek) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDWR | O_APPEND));
    OK(lseek(fd, 0, SEEK_SET));
    EXPECT_EQ(write(fd, "XY", 2), 2);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 5);
    char buf[8] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 5);
    close(fd);
    CHECK(!memcmp(buf, "abcXY", 5), "file is '%.5s', expected 'abcXY'", buf);
}

/* pwrite(2), BUGS: with O_APPEND, Linux writes at the end whatever the
 * offset, and the file position stays where it was. */
TEST(pwrite_on_append_fd_appends_and_leaves_the_position) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDWR | O_APPEND));
    OK(lseek(fd, 1, SEEK_SET));
    EXPECT_EQ(pwrite(fd, "XY", 2, 0), 2);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 1);
    struct iovec iov = {"Z", 1};
    EXPECT_EQ(pwritev(fd, &iov, 1, 0), 1);
    char buf[8] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 6);
    close(fd);
    CHECK(!memcmp(buf, "abcXYZ", 6), "file is '%.6s', expected 'abcXYZ'", buf);
}

TEST(open_directory_flag_on_file_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "x", O_RDONLY));
    close(fd);
    EXPECT_ERRNO(syscall(SYS_open, kt_path(d, "f"), O_RDONLY | O_DIRECTORY), ENOTDIR);
}

TEST(open_directory_flag_on_dir_succeeds) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(syscall(SYS_open, d, O_RDONLY | O_DIRECTORY));
    struct stat st;
    OK(fstat(fd, &st));
    close(fd);
    CHECK(S_ISDIR(st.st_mode), "mode 0%o is not a directory", st.st_mode);
}

TEST(open_dir_for_writing_is_eisdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_open, d, O_WRONLY), EISDIR);
    EXPECT_ERRNO(syscall(SYS_open, d, O_RDWR), EISDIR);
}

TEST(open_creat_on_existing_dir_is_eisdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_open, d, O_CREAT | O_RDONLY, 0644), EISDIR);
}

TEST(open_file_as_path_component_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "x", O_RDONLY));
    close(fd);
    EXPECT_ERRNO(syscall(SYS_open, kt_path(d, "f/x"), O_RDONLY), ENOTDIR);
}

TEST(open_long_component_is_enametoolong) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char name[300];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = 0;
    EXPECT_ERRNO(syscall(SYS_open, kt_path(d, name), O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
}

TEST(open_cloexec_sets_fd_cloexec) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(syscall(SYS_open, d, O_RDONLY | O_CLOEXEC));
    int fl = OK(fcntl(fd, F_GETFD));
    int fd2 = OK(syscall(SYS_open, d, O_RDONLY));
    int fl2 = OK(fcntl(fd2, F_GETFD));
    close(fd);
    close(fd2);
    CHECK(fl & FD_CLOEXEC, "F_GETFD = %d, expected FD_CLOEXEC set", fl);
    CHECK(!(fl2 & FD_CLOEXEC), "F_GETFD without O_CLOEXEC = %d, expected 0", fl2);
}

TEST(open_nofollow_on_symlink_is_eloop) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "x", O_RDONLY));
    close(fd);
    OK(symlink("f", kt_path(d, "l")));
    EXPECT_ERRNO(syscall(SYS_open, kt_path(d, "l"), O_RDONLY | O_NOFOLLOW), ELOOP);
    /* a symlink in a non-final component is still followed */
    fd = OK(syscall(SYS_open, kt_path(d, "f"), O_RDONLY | O_NOFOLLOW));
    close(fd);
}

TEST(open_symlink_loop_is_eloop) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("b", kt_path(d, "a")));
    OK(symlink("a", kt_path(d, "b")));
    EXPECT_ERRNO(syscall(SYS_open, kt_path(d, "a"), O_RDONLY), ELOOP);
}

TEST(open_follows_symlink_to_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "target", O_RDONLY));
    close(fd);
    OK(symlink("f", kt_path(d, "l")));
    fd = OK(syscall(SYS_open, kt_path(d, "l"), O_RDONLY));
    char buf[16] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 6);
    close(fd);
    CHECK(!memcmp(buf, "target", 6), "read '%s' through symlink", buf);
}

TEST(open_path_fd_cannot_be_read_but_can_be_fstated) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    close(fd);
    fd = OK(syscall(SYS_open, kt_path(d, "f"), O_PATH));
    char c;
    errno = 0;
    long r = syscall(SYS_read, fd, &c, 1);
    int e = errno;
    struct stat st;
    long sr = syscall(SYS_fstat, fd, &st);
    close(fd);
    CHECK(r == -1 && e == EBADF, "read on O_PATH fd: got %ld %s, expected EBADF", r, kt_errstr(e));
    CHECK(sr == 0, "fstat on O_PATH fd failed: %s", kt_errstr(errno));
    EXPECT_EQ(st.st_size, 3);
}

TEST(open_path_nofollow_opens_the_symlink_itself) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(symlink("nowhere", kt_path(d, "l")));
    int fd = OK(syscall(SYS_open, kt_path(d, "l"), O_PATH | O_NOFOLLOW));
    struct stat st;
    OK(fstat(fd, &st));
    close(fd);
    CHECK(S_ISLNK(st.st_mode), "mode 0%o, expected a symlink", st.st_mode);
}

TEST(openat_relative_to_dirfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    int fd = OK(syscall(SYS_openat, dfd, "rel", O_CREAT | O_WRONLY, 0644));
    close(fd);
    close(dfd);
    struct stat st;
    OK(stat(kt_path(d, "rel"), &st));
}

TEST(openat_at_fdcwd_uses_cwd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(chdir(d));
    int fd = OK(syscall(SYS_openat, AT_FDCWD, "cwdfile", O_CREAT | O_WRONLY, 0644));
    close(fd);
    struct stat st;
    OK(stat(kt_path(d, "cwdfile"), &st));
}

TEST(openat_absolute_path_ignores_dirfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(syscall(SYS_openat, 9999, d, O_RDONLY | O_DIRECTORY));
    close(fd);
}

TEST(openat_bad_dirfd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_openat, 9999, "rel", O_RDONLY), EBADF);
}

TEST(openat_file_as_dirfd_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "x", O_RDONLY));
    EXPECT_ERRNO(syscall(SYS_openat, fd, "rel", O_RDONLY), ENOTDIR);
    close(fd);
}

TEST(open_returns_lowest_free_fd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int a = OK(open(d, O_RDONLY));
    int b = OK(open(d, O_RDONLY));
    close(a);
    int c = OK(open(d, O_RDONLY));
    close(b);
    close(c);
    EXPECT_EQ(c, a);
}

/* ---- close ------------------------------------------------------------ */

TEST(close_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_close, 9999), EBADF);
    EXPECT_ERRNO(syscall(SYS_close, -1), EBADF);
}

TEST(close_twice_is_ebadf) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY));
    OK(syscall(SYS_close, fd));
    EXPECT_ERRNO(syscall(SYS_close, fd), EBADF);
    EXPECT_ERRNO(syscall(SYS_fstat, fd, &(struct stat){0}), EBADF);
}

/* ---- read / write ----------------------------------------------------- */

TEST(read_at_eof_returns_zero) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "ab", O_RDONLY));
    char buf[8];
    EXPECT_EQ(syscall(SYS_read, fd, buf, sizeof buf), 2);
    EXPECT_EQ(syscall(SYS_read, fd, buf, sizeof buf), 0);
    close(fd);
}

TEST(read_zero_bytes_returns_zero) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "ab", O_RDONLY));
    EXPECT_EQ(syscall(SYS_read, fd, NULL, 0), 0);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0);
    close(fd);
}

TEST(read_advances_file_offset) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abcdef", O_RDONLY));
    char buf[4] = {0};
    EXPECT_EQ(read(fd, buf, 2), 2);
    EXPECT_EQ(read(fd, buf, 2), 2);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 4);
    close(fd);
    CHECK(!memcmp(buf, "cd", 2), "second read got '%.2s', expected 'cd'", buf);
}

TEST(read_bad_fd_is_ebadf) {
    char c;
    EXPECT_ERRNO(syscall(SYS_read, 9999, &c, 1), EBADF);
    EXPECT_ERRNO(syscall(SYS_read, -1, &c, 1), EBADF);
}

TEST(read_on_write_only_fd_is_ebadf) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_WRONLY));
    char c;
    EXPECT_ERRNO(syscall(SYS_read, fd, &c, 1), EBADF);
    close(fd);
}

TEST(write_on_read_only_fd_is_ebadf) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    EXPECT_ERRNO(syscall(SYS_write, fd, "x", 1), EBADF);
    close(fd);
}

TEST(write_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_write, 9999, "x", 1), EBADF);
}

TEST(read_directory_is_eisdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[16];
    EXPECT_ERRNO(syscall(SYS_read, fd, buf, sizeof buf), EISDIR);
    close(fd);
}

TEST(read_into_bad_pointer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    EXPECT_ERRNO(syscall(SYS_read, fd, BADPTR, 3), EFAULT);
    close(fd);
}

TEST(read_into_unmapped_page_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    void *p = unmapped_page();
    CHECK(p, "mmap failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    EXPECT_ERRNO(syscall(SYS_read, fd, p, 3), EFAULT);
    close(fd);
}

TEST(read_into_read_only_page_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    errno = 0;
    long r = syscall(SYS_read, fd, p, 3);
    int e = errno;
    close(fd);
    munmap(p, 4096);
    CHECK(r == -1 && e == EFAULT, "got %ld %s, expected -1 EFAULT", r, kt_errstr(e));
}

/* Linux copies up to the hole and returns the short count. */
TEST(read_into_buffer_running_into_unmapped_page_is_short) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char *p = page_then_hole();
    CHECK(p, "mmap failed");
    char data[200];
    memset(data, 'z', sizeof data);
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_RDWR, 0644));
    EXPECT_EQ(write(fd, data, sizeof data), 200);
    OK(lseek(fd, 0, SEEK_SET));
    long r = syscall(SYS_read, fd, p + 4096 - 100, 200);
    long off = lseek(fd, 0, SEEK_CUR);
    close(fd);
    char last = p[4095];
    munmap(p, 4096);
    EXPECT_EQ(r, 100);
    EXPECT_EQ(off, 100);
    EXPECT_EQ(last, 'z');
}

TEST(write_from_bad_pointer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_WRONLY, 0644));
    EXPECT_ERRNO(syscall(SYS_write, fd, BADPTR, 3), EFAULT);
    void *p = unmapped_page();
    CHECK(p, "mmap failed");
    EXPECT_ERRNO(syscall(SYS_write, fd, p, 3), EFAULT);
    struct stat st;
    OK(fstat(fd, &st));
    close(fd);
    EXPECT_EQ(st.st_size, 0);
}

/* Linux writes the readable prefix and returns the short count. */
TEST(write_from_buffer_running_into_unmapped_page_is_short) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char *p = page_then_hole();
    CHECK(p, "mmap failed");
    memset(p, 'q', 4096);
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_RDWR, 0644));
    long r = syscall(SYS_write, fd, p + 4096 - 100, 200);
    struct stat st;
    OK(fstat(fd, &st));
    close(fd);
    munmap(p, 4096);
    EXPECT_EQ(r, 100);
    EXPECT_EQ(st.st_size, 100);
}

/* Pipes differ from files: Linux fails the whole write with EFAULT, writing nothing. */
TEST(write_to_pipe_from_buffer_running_into_unmapped_page_is_efault) {
    char *p = page_then_hole();
    CHECK(p, "mmap failed");
    memset(p, 'q', 4096);
    int fds[2];
    OK(pipe2(fds, O_NONBLOCK));
    errno = 0;
    long r = syscall(SYS_write, fds[1], p + 4096 - 100, 200);
    int e = errno;
    char buf[256];
    long n = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    close(fds[1]);
    munmap(p, 4096);
    CHECK(r == -1 && e == EFAULT, "write got %ld %s, expected -1 EFAULT", r, kt_errstr(e));
    CHECK(n == -1, "pipe holds %ld bytes after the failed write, expected none", n);
}

/* ...and a pipe read into such a buffer fails with EFAULT and consumes nothing. */
TEST(read_from_pipe_into_buffer_running_into_unmapped_page_is_efault) {
    char *p = page_then_hole();
    CHECK(p, "mmap failed");
    int fds[2];
    OK(pipe2(fds, O_NONBLOCK));
    char buf[256];
    memset(buf, 'r', sizeof buf);
    long w = write(fds[1], buf, 200);
    errno = 0;
    long r = syscall(SYS_read, fds[0], p + 4096 - 100, 200);
    int e = errno;
    long n = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    close(fds[1]);
    munmap(p, 4096);
    EXPECT_EQ(w, 200);
    CHECK(r == -1 && e == EFAULT, "read got %ld %s, expected -1 EFAULT", r, kt_errstr(e));
    EXPECT_EQ(n, 200);
}

TEST(write_zero_bytes_returns_zero) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_WRONLY, 0644));
    EXPECT_EQ(syscall(SYS_write, fd, NULL, 0), 0);
    close(fd);
}

TEST(write_extends_file_and_overwrites_in_place) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abcdef", O_RDWR));
    OK(lseek(fd, 4, SEEK_SET));
    EXPECT_EQ(write(fd, "XYZW", 4), 4);
    char buf[16] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 8);
    close(fd);
    CHECK(!memcmp(buf, "abcdXYZW", 8), "file is '%.8s', expected 'abcdXYZW'", buf);
}

TEST(large_write_and_read_roundtrip) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    enum { N = 256 * 1024 };
    char *a = malloc(N), *b = malloc(N);
    CHECK(a && b, "malloc failed");
    for (int i = 0; i < N; i++)
        a[i] = (char)(i * 7 + i / 4096);
    int fd = open(kt_path(d, "f"), O_CREAT | O_RDWR, 0644);
    long w = write(fd, a, N);
    long got = 0, r;
    lseek(fd, 0, SEEK_SET);
    while (got < N && (r = read(fd, b + got, N - got)) > 0)
        got += r;
    close(fd);
    int same = w == N && got == N && !memcmp(a, b, N);
    free(a);
    free(b);
    CHECK(fd >= 0, "open failed");
    CHECK(same, "write returned %ld, read %ld bytes, contents %s", w, got,
          got == N ? "differ" : "short");
}

/* ---- lseek ------------------------------------------------------------ */

TEST(lseek_set_cur_end) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "0123456789", O_RDONLY));
    EXPECT_EQ(syscall(SYS_lseek, fd, 3, SEEK_SET), 3);
    EXPECT_EQ(syscall(SYS_lseek, fd, 2, SEEK_CUR), 5);
    EXPECT_EQ(syscall(SYS_lseek, fd, -1L, SEEK_CUR), 4);
    EXPECT_EQ(syscall(SYS_lseek, fd, 0, SEEK_END), 10);
    EXPECT_EQ(syscall(SYS_lseek, fd, -3L, SEEK_END), 7);
    char c;
    EXPECT_EQ(read(fd, &c, 1), 1);
    close(fd);
    EXPECT_EQ(c, '7');
}

TEST(lseek_past_end_then_write_leaves_zero_hole) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "ab", O_RDWR));
    EXPECT_EQ(syscall(SYS_lseek, fd, 10, SEEK_END), 12);
    struct stat st;
    OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 2); /* seeking alone does not extend */
    EXPECT_EQ(write(fd, "Z", 1), 1);
    char buf[16];
    memset(buf, 0x55, sizeof buf);
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 13);
    close(fd);
    for (int i = 2; i < 12; i++)
        CHECK(buf[i] == 0, "byte %d of the hole is 0x%02x, expected 0", i, (unsigned char)buf[i]);
    EXPECT_EQ(buf[12], 'Z');
}

TEST(lseek_read_past_end_returns_zero) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "ab", O_RDONLY));
    EXPECT_EQ(syscall(SYS_lseek, fd, 100, SEEK_SET), 100);
    char c;
    EXPECT_EQ(read(fd, &c, 1), 0);
    close(fd);
}

TEST(lseek_negative_result_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    OK(lseek(fd, 1, SEEK_SET));
    EXPECT_ERRNO(syscall(SYS_lseek, fd, -1L, SEEK_SET), EINVAL);
    EXPECT_ERRNO(syscall(SYS_lseek, fd, -2L, SEEK_CUR), EINVAL);
    EXPECT_ERRNO(syscall(SYS_lseek, fd, -4L, SEEK_END), EINVAL);
    long pos = lseek(fd, 0, SEEK_CUR);
    close(fd);
    EXPECT_EQ(pos, 1); /* offset unchanged by the failed seeks */
}

TEST(lseek_bad_whence_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    EXPECT_ERRNO(syscall(SYS_lseek, fd, 0, 77), EINVAL);
    close(fd);
}

TEST(lseek_on_pipe_is_espipe) {
    int fds[2];
    OK(pipe(fds));
    errno = 0;
    long r0 = syscall(SYS_lseek, fds[0], 0, SEEK_SET);
    int e0 = errno;
    long r1 = syscall(SYS_lseek, fds[1], 0, SEEK_CUR);
    int e1 = errno;
    close(fds[0]);
    close(fds[1]);
    CHECK(r0 == -1 && e0 == ESPIPE, "read end: got %ld %s, expected ESPIPE", r0, kt_errstr(e0));
    CHECK(r1 == -1 && e1 == ESPIPE, "write end: got %ld %s, expected ESPIPE", r1, kt_errstr(e1));
}

TEST(lseek_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_lseek, 9999, 0, SEEK_SET), EBADF);
}

TEST(lseek_on_directory_to_zero_succeeds) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    long r = syscall(SYS_lseek, fd, 0, SEEK_SET);
    close(fd);
    EXPECT_EQ(r, 0);
}

/* ---- pread64 / pwrite64 ----------------------------------------------- */

TEST(pread_reads_at_offset_without_moving_it) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "0123456789", O_RDONLY));
    OK(lseek(fd, 2, SEEK_SET));
    char buf[4] = {0};
    EXPECT_EQ(syscall(SYS_pread64, fd, buf, 3, 6), 3);
    CHECK(!memcmp(buf, "678", 3), "pread got '%.3s', expected '678'", buf);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 2);
    EXPECT_EQ(syscall(SYS_pread64, fd, buf, 3, 100), 0);
    close(fd);
}

TEST(pwrite_writes_at_offset_without_moving_it) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "0123456789", O_RDWR));
    OK(lseek(fd, 1, SEEK_SET));
    EXPECT_EQ(syscall(SYS_pwrite64, fd, "AB", 2, 4), 2);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 1);
    char buf[12] = {0};
    EXPECT_EQ(pread(fd, buf, 10, 0), 10);
    close(fd);
    CHECK(!memcmp(buf, "0123AB6789", 10), "file is '%.10s', expected '0123AB6789'", buf);
}

TEST(pwrite_past_end_extends_with_zeros) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "ab", O_RDWR));
    EXPECT_EQ(syscall(SYS_pwrite64, fd, "c", 1, 5), 1);
    char buf[8];
    memset(buf, 0x55, sizeof buf);
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 6);
    close(fd);
    CHECK(buf[2] == 0 && buf[3] == 0 && buf[4] == 0 && buf[5] == 'c',
          "bytes 2..5 are %02x %02x %02x %02x, expected 00 00 00 63",
          buf[2], buf[3], buf[4], buf[5]);
}

TEST(pread_negative_offset_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDWR));
    char c;
    EXPECT_ERRNO(syscall(SYS_pread64, fd, &c, 1, -1L), EINVAL);
    EXPECT_ERRNO(syscall(SYS_pwrite64, fd, "x", 1, -1L), EINVAL);
    close(fd);
}

TEST(pread_pwrite_on_pipe_is_espipe) {
    int fds[2];
    OK(pipe(fds));
    char c;
    errno = 0;
    long r0 = syscall(SYS_pread64, fds[0], &c, 1, 0);
    int e0 = errno;
    long r1 = syscall(SYS_pwrite64, fds[1], "x", 1, 0);
    int e1 = errno;
    close(fds[0]);
    close(fds[1]);
    CHECK(r0 == -1 && e0 == ESPIPE, "pread: got %ld %s, expected ESPIPE", r0, kt_errstr(e0));
    CHECK(r1 == -1 && e1 == ESPIPE, "pwrite: got %ld %s, expected ESPIPE", r1, kt_errstr(e1));
}

TEST(pread_bad_fd_is_ebadf) {
    char c;
    EXPECT_ERRNO(syscall(SYS_pread64, 9999, &c, 1, 0), EBADF);
    EXPECT_ERRNO(syscall(SYS_pwrite64, 9999, "x", 1, 0), EBADF);
}

TEST(pread_into_bad_pointer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDWR));
    EXPECT_ERRNO(syscall(SYS_pread64, fd, BADPTR, 3, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_pwrite64, fd, BADPTR, 3, 0), EFAULT);
    close(fd);
}

/* ---- readv / writev --------------------------------------------------- */

TEST(writev_gathers_buffers_in_order) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_RDWR, 0644));
    struct iovec iov[3] = {
        {"abc", 3}, {"", 0}, {"defgh", 5},
    };
    EXPECT_EQ(syscall(SYS_writev, fd, iov, 3), 8);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 8);
    char buf[16] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 8);
    close(fd);
    CHECK(!memcmp(buf, "abcdefgh", 8), "file is '%.8s', expected 'abcdefgh'", buf);
}

TEST(readv_scatters_into_buffers_in_order) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abcdefgh", O_RDONLY));
    char a[2], b[3], c[10];
    memset(c, 0, sizeof c);
    struct iovec iov[3] = {{a, 2}, {b, 3}, {c, 10}};
    EXPECT_EQ(syscall(SYS_readv, fd, iov, 3), 8);
    close(fd);
    CHECK(!memcmp(a, "ab", 2) && !memcmp(b, "cde", 3) && !memcmp(c, "fgh", 3),
          "got '%.2s' '%.3s' '%.3s', expected 'ab' 'cde' 'fgh'", a, b, c);
}

TEST(readv_zero_iovecs_returns_zero) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    struct iovec iov[1];
    EXPECT_EQ(syscall(SYS_readv, fd, iov, 0), 0);
    close(fd);
}

TEST(readv_bad_iovec_pointer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDWR));
    EXPECT_ERRNO(syscall(SYS_readv, fd, BADPTR, 1), EFAULT);
    EXPECT_ERRNO(syscall(SYS_writev, fd, BADPTR, 1), EFAULT);
    close(fd);
}

TEST(readv_bad_buffer_pointer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    struct iovec iov[1] = {{BADPTR, 3}};
    EXPECT_ERRNO(syscall(SYS_readv, fd, iov, 1), EFAULT);
    close(fd);
}

TEST(writev_negative_or_huge_iovcnt_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_RDWR, 0644));
    struct iovec iov[1] = {{"x", 1}};
    EXPECT_ERRNO(syscall(SYS_writev, fd, iov, -1L), EINVAL);
    EXPECT_ERRNO(syscall(SYS_writev, fd, iov, 1025), EINVAL); /* > UIO_MAXIOV */
    EXPECT_ERRNO(syscall(SYS_readv, fd, iov, 1025), EINVAL);
    close(fd);
}

TEST(writev_bad_fd_is_ebadf) {
    struct iovec iov[1] = {{"x", 1}};
    EXPECT_ERRNO(syscall(SYS_writev, 9999, iov, 1), EBADF);
    EXPECT_ERRNO(syscall(SYS_readv, 9999, iov, 1), EBADF);
}

TEST(writev_to_pipe_then_read) {
    int fds[2];
    OK(pipe(fds));
    struct iovec iov[2] = {{"pi", 2}, {"pe", 2}};
    long w = syscall(SYS_writev, fds[1], iov, 2);
    char buf[8] = {0};
    long r = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(w, 4);
    EXPECT_EQ(r, 4);
    CHECK(!memcmp(buf, "pipe", 4), "read '%.4s', expected 'pipe'", buf);
}

/* ---- truncate / ftruncate --------------------------------------------- */

TEST(truncate_grows_with_zeros) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    OK(syscall(SYS_truncate, kt_path(d, "f"), 4096L));
    struct stat st;
    OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 4096);
    static char buf[4096];
    memset(buf, 0x55, sizeof buf);
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 4096);
    close(fd);
    CHECK(!memcmp(buf, "abc", 3), "prefix changed: '%.3s'", buf);
    for (int i = 3; i < 4096; i++)
        CHECK(buf[i] == 0, "byte %d is 0x%02x, expected 0", i, (unsigned char)buf[i]);
}

TEST(truncate_shrinks) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abcdef", O_RDONLY));
    OK(syscall(SYS_truncate, kt_path(d, "f"), 2L));
    char buf[8] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 2);
    close(fd);
    CHECK(!memcmp(buf, "ab", 2), "content '%.2s', expected 'ab'", buf);
}

TEST(truncate_missing_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_truncate, kt_path(d, "missing"), 0L), ENOENT);
}

TEST(truncate_directory_is_eisdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(syscall(SYS_truncate, d, 0L), EISDIR);
}

TEST(truncate_negative_length_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDWR));
    EXPECT_ERRNO(syscall(SYS_truncate, kt_path(d, "f"), -1L), EINVAL);
    EXPECT_ERRNO(syscall(SYS_ftruncate, fd, -1L), EINVAL);
    close(fd);
}

TEST(ftruncate_grows_with_zeros_and_shrinks) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "hello", O_RDWR));
    OK(syscall(SYS_ftruncate, fd, 100L));
    struct stat st;
    OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 100);
    char buf[100];
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 100);
    for (int i = 5; i < 100; i++)
        CHECK(buf[i] == 0, "byte %d is 0x%02x, expected 0", i, (unsigned char)buf[i]);
    OK(syscall(SYS_ftruncate, fd, 1L));
    OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 1);
    /* shrink then grow again: the cut bytes must come back as zeros */
    OK(syscall(SYS_ftruncate, fd, 5L));
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 5);
    close(fd);
    CHECK(buf[0] == 'h' && !buf[1] && !buf[2] && !buf[3] && !buf[4],
          "content after shrink+grow: %02x %02x %02x %02x %02x, expected 68 0 0 0 0",
          buf[0], buf[1], buf[2], buf[3], buf[4]);
}

TEST(ftruncate_does_not_move_offset) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "hello", O_RDWR));
    OK(lseek(fd, 0, SEEK_END));
    OK(syscall(SYS_ftruncate, fd, 2L));
    long pos = lseek(fd, 0, SEEK_CUR);
    close(fd);
    EXPECT_EQ(pos, 5);
}

TEST(ftruncate_read_only_fd_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(d, "f", "abc", O_RDONLY));
    EXPECT_ERRNO(syscall(SYS_ftruncate, fd, 0L), EINVAL);
    close(fd);
}

TEST(ftruncate_pipe_is_einval) {
    int fds[2];
    OK(pipe(fds));
    errno = 0;
    long r = syscall(SYS_ftruncate, fds[1], 0L);
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

TEST(ftruncate_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_ftruncate, 9999, 0L), EBADF);
}

TEST(lseek_data_and_hole_find_written_pages_on_tmpfs)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    struct statfs sf;
    OK(statfs(d, &sf));
    char path[512];
    snprintf(path, sizeof path, "%s/sparse", d);
    if (sf.f_type != 0x01021994 /* TMPFS_MAGIC */) {
        /* Where /tmp is a disk, /dev/shm is a tmpfs. */
        if (statfs("/dev/shm", &sf) || sf.f_type != 0x01021994)
            SKIP("no tmpfs at hand");
        snprintf(path, sizeof path, "/dev/shm/kt-sparse-%d", getpid());
    }
    int fd = OK(open(path, O_RDWR | O_CREAT, 0644));
    unlink(path);
    OK(ftruncate(fd, 8 * 4096));
    OK(pwrite(fd, "x", 1, 2 * 4096 + 5));
    EXPECT_EQ(lseek(fd, 0, SEEK_DATA), 2 * 4096);
    EXPECT_EQ(lseek(fd, 0, SEEK_HOLE), 0);
    EXPECT_EQ(lseek(fd, 2 * 4096, SEEK_HOLE), 3 * 4096);
    EXPECT_ERRNO(lseek(fd, 3 * 4096, SEEK_DATA), ENXIO);
    EXPECT_ERRNO(lseek(fd, 8 * 4096, SEEK_HOLE), ENXIO);
    close(fd);
}

/* FS_IOC_FIEMAP and FIBMAP (musl has no linux/fiemap.h: the ABI by hand). */
#define KT_FS_IOC_FIEMAP 0xc020660bu
#define KT_FIBMAP 1
#define KT_FIGETBSZ 2
#define KT_FIEMAP_FLAG_SYNC 1u
#define KT_FIEMAP_EXTENT_LAST 1u
struct kt_fiemap {
    uint64_t start, length;
    uint32_t flags, mapped, count, reserved;
    struct {
        uint64_t logical, physical, length, reserved64[2];
        uint32_t flags, reserved[3];
    } ext[4];
};

/* A file system with a block map (ext2, ext4) shows written blocks as
 * extents and leaves holes out; tmpfs has none to show (EOPNOTSUPP for
 * FIEMAP, EINVAL for FIBMAP). */
TEST(fiemap_shows_written_blocks_and_leaves_holes_out)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    struct statfs sf;
    OK(statfs(d, &sf));
    int fd = OK(open(kt_path(d, "mapped"), O_RDWR | O_CREAT | O_TRUNC, 0644));
    struct kt_fiemap fm;
    memset(&fm, 0, sizeof fm);
    fm.length = ~0ULL;
    fm.count = 4;
    int blk = 0;
    if (sf.f_type == 0x01021994 /* TMPFS_MAGIC */) {
        EXPECT_ERRNO(ioctl(fd, KT_FS_IOC_FIEMAP, &fm), EOPNOTSUPP);
        EXPECT_ERRNO(ioctl(fd, KT_FIBMAP, &blk), EINVAL);
        close(fd);
        return;
    }
    if (sf.f_type != 0xef53 /* EXT2_SUPER_MAGIC, also ext3/ext4 */) {
        close(fd);
        SKIP("neither tmpfs nor ext2/ext4");
    }
    int bs = 0;
    OK(ioctl(fd, KT_FIGETBSZ, &bs));
    EXPECT_EQ(bs, (int)sf.f_bsize);
    /* An unknown flag is EBADR and fm_flags keeps the unknown ones. */
    fm.flags = ~0u;
    EXPECT_ERRNO(ioctl(fd, KT_FS_IOC_FIEMAP, &fm), EBADR);
    EXPECT_EQ(fm.flags & KT_FIEMAP_FLAG_SYNC, 0);
    fm.flags = 0;
    OK(ioctl(fd, KT_FS_IOC_FIEMAP, &fm));
    EXPECT_EQ(fm.mapped, 0);
    char *buf = calloc(1, bs);
    CHECK(buf, "calloc");
    memset(buf, 'x', bs);
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(pwrite(fd, buf, bs, (off_t)(2 * i) * bs), bs);
    free(buf);
    fm.flags = KT_FIEMAP_FLAG_SYNC;
    OK(ioctl(fd, KT_FS_IOC_FIEMAP, &fm));
    EXPECT_EQ(fm.mapped, 3);
    for (unsigned i = 0; i < 3 && i < fm.mapped; i++) {
        EXPECT_EQ(fm.ext[i].logical, (uint64_t)2 * i * bs);
        EXPECT_EQ(fm.ext[i].length, (uint64_t)bs);
        CHECK(fm.ext[i].physical > 0, "extent %u has no disk address", i);
        EXPECT_EQ(fm.ext[i].flags & KT_FIEMAP_EXTENT_LAST, i == 2 ? KT_FIEMAP_EXTENT_LAST : 0);
    }
    /* A smaller array: the first extent, not marked last; none: a count. */
    fm.count = 1;
    OK(ioctl(fd, KT_FS_IOC_FIEMAP, &fm));
    EXPECT_EQ(fm.mapped, 1);
    EXPECT_EQ(fm.ext[0].flags & KT_FIEMAP_EXTENT_LAST, 0);
    fm.count = 0;
    OK(ioctl(fd, KT_FS_IOC_FIEMAP, &fm));
    EXPECT_EQ(fm.mapped, 3);
    fm.length = 0;
    EXPECT_ERRNO(ioctl(fd, KT_FS_IOC_FIEMAP, &fm), EINVAL);
    EXPECT_ERRNO(ioctl(fd, KT_FS_IOC_FIEMAP, BADPTR), EFAULT);
    /* FIBMAP: the disk block of a written block, 0 for a hole. */
    blk = 0;
    OK(ioctl(fd, KT_FIBMAP, &blk));
    CHECK(blk > 0, "FIBMAP of block 0 gave %d", blk);
    blk = 1;
    OK(ioctl(fd, KT_FIBMAP, &blk));
    EXPECT_EQ(blk, 0);
    blk = -1;
    EXPECT_ERRNO(ioctl(fd, KT_FIBMAP, &blk), EINVAL);
    close(fd);
}

/* preadv2's RWF_NOWAIT reads only what is cached: after drop_caches a disk
 * file's data is EAGAIN until a plain read brings it in. An empty pipe is
 * EAGAIN too. */
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 8
#endif
TEST(preadv2_nowait_is_eagain_for_data_not_cached)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    struct statfs sf;
    OK(statfs(d, &sf));
    int fd = OK(open(kt_path(d, "nowait"), O_RDWR | O_CREAT | O_TRUNC, 0644));
    static char data[64 * 1024];
    memset(data, 'n', sizeof data);
    EXPECT_EQ(write(fd, data, sizeof data), (long)sizeof data);
    OK(fsync(fd));
    int dc = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (dc < 0) {
        close(fd);
        SKIP("no /proc/sys/vm/drop_caches to write");
    }
    EXPECT_EQ(write(dc, "3", 1), 1);
    close(dc);
    char buf[4096];
    struct iovec iov = {buf, sizeof buf};
    if (sf.f_type == 0x01021994 /* TMPFS_MAGIC */) {
        /* tmpfs cannot say (no FMODE_NOWAIT): preadv2 refuses the flag. */
        EXPECT_ERRNO(syscall(SYS_preadv2, fd, &iov, 1, 0L, 0L, RWF_NOWAIT), EOPNOTSUPP);
        close(fd);
        return;
    }
    if (sf.f_type != 0xef53 /* ext2/ext4 */) {
        close(fd);
        SKIP("neither tmpfs nor ext2/ext4");
    }
    EXPECT_ERRNO(syscall(SYS_preadv2, fd, &iov, 1, 0L, 0L, RWF_NOWAIT), EAGAIN);
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), (long)sizeof buf);
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(syscall(SYS_preadv2, fd, &iov, 1, 0L, 0L, RWF_NOWAIT), (long)sizeof buf);
    CHECK(buf[0] == 'n' && buf[4095] == 'n', "the cached read gave other bytes");
    /* At the end of the file: nothing to wait for, 0. */
    EXPECT_EQ(syscall(SYS_preadv2, fd, &iov, 1, (long)sizeof data, 0L, RWF_NOWAIT), 0);
    close(fd);
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(syscall(SYS_preadv2, p[0], &iov, 1, -1L, 0L, RWF_NOWAIT), EAGAIN);
    EXPECT_EQ(write(p[1], "z", 1), 1);
    EXPECT_EQ(syscall(SYS_preadv2, p[0], &iov, 1, -1L, 0L, RWF_NOWAIT), 1);
    close(p[0]);
    close(p[1]);
}

/* O_TMPFILE: a file with no name in a directory, which linkat (through
 * /proc/self/fd) may name later unless O_EXCL was given; a file whose last
 * name was removed may not be named again. */
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

TEST(o_tmpfile_makes_a_nameless_file_linkat_can_name)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    char sub[512], proc[64], named[600];
    snprintf(sub, sizeof sub, "%s/tmpdir", d);
    OK(mkdir(sub, 0700));
    int fd = open(sub, O_TMPFILE | O_RDWR, 0640);
    if (fd < 0 && errno == EOPNOTSUPP) {
        rmdir(sub);
        SKIP("no O_TMPFILE on this file system");
    }
    OK(fd);
    struct stat st;
    OK(fstat(fd, &st));
    CHECK(S_ISREG(st.st_mode), "mode %o", st.st_mode);
    EXPECT_EQ(st.st_nlink, 0);
    EXPECT_EQ(count_entries(sub), 0);
    EXPECT_EQ(write(fd, "tmp", 3), 3);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    snprintf(named, sizeof named, "%s/named", sub);
    OK(linkat(AT_FDCWD, proc, AT_FDCWD, named, AT_SYMLINK_FOLLOW));
    EXPECT_EQ(count_entries(sub), 1);
    OK(stat(named, &st));
    EXPECT_EQ(st.st_nlink, 1);
    EXPECT_EQ(st.st_size, 3);
    close(fd);
    OK(unlink(named));
    /* O_EXCL: never linkable. */
    fd = OK(open(sub, O_TMPFILE | O_RDWR | O_EXCL, 0600));
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    EXPECT_ERRNO(linkat(AT_FDCWD, proc, AT_FDCWD, named, AT_SYMLINK_FOLLOW), ENOENT);
    close(fd);
    /* A file unlinked while open cannot be named again. */
    fd = OK(open(named, O_RDWR | O_CREAT | O_EXCL, 0600));
    OK(unlink(named));
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    EXPECT_ERRNO(linkat(AT_FDCWD, proc, AT_FDCWD, named, AT_SYMLINK_FOLLOW), ENOENT);
    close(fd);
    /* The argument checks. */
    EXPECT_ERRNO(open(sub, O_TMPFILE | O_RDONLY, 0600), EINVAL);
    EXPECT_ERRNO(open(sub, O_TMPFILE | O_RDWR | O_CREAT, 0600), EINVAL);
    fd = OK(open(named, O_RDWR | O_CREAT, 0600));
    close(fd);
    EXPECT_ERRNO(open(named, O_TMPFILE | O_RDWR, 0600), ENOTDIR);
    OK(unlink(named));
    snprintf(named, sizeof named, "%s/missing", sub);
    EXPECT_ERRNO(open(named, O_TMPFILE | O_RDWR, 0600), ENOENT);
    /* A directory holding only nameless files is empty. */
    fd = OK(open(sub, O_TMPFILE | O_WRONLY, 0600));
    OK(rmdir(sub));
    close(fd);
}

/* On any file system: what SEEK_DATA and SEEK_HOLE report agrees with the
 * content. A file system may call all of a file data (Linux's ext2 does), or
 * find its holes (tmpfs; Kestrel's ext2 from its block map): either way a hole
 * reads as zeros, and written bytes are never in one. */
TEST(lseek_data_and_hole_agree_with_the_content)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    char path[512];
    snprintf(path, sizeof path, "%s/sparse2", d);
    int fd = OK(open(path, O_RDWR | O_CREAT | O_TRUNC, 0644));
    const long size = 16 * 4096, a = 5 * 4096 + 5, b = 11 * 4096;
    OK(ftruncate(fd, size));
    OK(pwrite(fd, "x", 1, a));
    OK(pwrite(fd, "y", 1, b));
    OK(fsync(fd));
    long data0 = lseek(fd, 0, SEEK_DATA);
    long hole_a = lseek(fd, a, SEEK_HOLE);
    long data_mid = lseek(fd, a + 1, SEEK_DATA);
    long hole_b = lseek(fd, b, SEEK_HOLE);
    static char buf[16 * 4096];
    long n = pread(fd, buf, sizeof buf, 0);
    errno = 0;
    long past_d = lseek(fd, size, SEEK_DATA);
    int e1 = errno;
    errno = 0;
    long past_h = lseek(fd, size, SEEK_HOLE);
    int e2 = errno;
    close(fd);
    EXPECT_EQ(n, size);
    CHECK(data0 >= 0 && data0 <= a, "SEEK_DATA from 0: %ld (data at %ld)", data0, a);
    for (long i = 0; i < data0; i++)
        CHECK(buf[i] == 0, "byte %ld before the data SEEK_DATA found is %d", i, buf[i]);
    CHECK(hole_a > a && hole_a <= size, "SEEK_HOLE from %ld: %ld", a, hole_a);
    if (hole_a < size)
        CHECK(hole_a <= b && buf[hole_a] == 0, "hole at %ld holds %d", hole_a, buf[hole_a]);
    CHECK(data_mid > a && data_mid <= b, "SEEK_DATA from %ld: %ld (data at %ld)", a + 1, data_mid,
          b);
    for (long i = a + 1; i < data_mid; i++)
        CHECK(buf[i] == 0, "byte %ld in the hole SEEK_DATA skipped is %d", i, buf[i]);
    CHECK(hole_b > b && hole_b <= size, "SEEK_HOLE from %ld: %ld", b, hole_b);
    CHECK(past_d == -1 && e1 == ENXIO, "SEEK_DATA at the end: %ld %s", past_d, kt_errstr(e1));
    CHECK(past_h == -1 && e2 == ENXIO, "SEEK_HOLE at the end: %ld %s", past_h, kt_errstr(e2));
}

/* An empty path is ENOENT before the directory descriptor is looked at:
 * even a descriptor that is not a directory or not open. */
TEST(empty_path_is_enoent_whatever_the_dirfd) {
    const char *d = kt_tmpdir();
    int f = OK(open(kt_path(d, "f"), O_CREAT | O_RDWR, 0600));
    EXPECT_ERRNO(syscall(SYS_fchmodat, f, "", 0600), ENOENT);
    EXPECT_ERRNO(syscall(SYS_openat, f, "", O_RDONLY), ENOENT);
    EXPECT_ERRNO(syscall(SYS_openat, -1, "", O_RDONLY), ENOENT);
    EXPECT_ERRNO(syscall(SYS_mkdirat, f, "", 0700), ENOENT);
    EXPECT_ERRNO(syscall(SYS_fchmodat, f, "x", 0600), ENOTDIR);
    close(f);
}

/* O_NOATIME is for the file's owner: another user without CAP_FOWNER gets
 * EPERM even where the mode lets it read (open(2)). */
static void child_noatime(void *arg)
{
    const char *path = arg;
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
        _exit(10);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        _exit(11);
    close(fd);
    errno = 0;
    if (open(path, O_RDONLY | O_NOATIME) != -1 || errno != EPERM)
        _exit(12);
    _exit(0);
}

TEST(open_noatime_by_a_non_owner_is_eperm) {
    if (geteuid() != 0)
        SKIP("needs root to become another user");
    const char *d = kt_tmpdir();
    CHECK(chmod(d, 0755) == 0, "chmod dir: %s", kt_errstr(errno));
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "x", 1));
    OK(chmod(f, 0644));
    int fd = OK(open(f, O_RDONLY | O_NOATIME));
    close(fd);
    int st = kt_in_child(child_noatime, (void *)f);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

int main(void)
{
    KT_BEGIN();
    RUN(open_creat_write_read_roundtrip);
    RUN(lseek_data_and_hole_agree_with_the_content);
    RUN(fiemap_shows_written_blocks_and_leaves_holes_out);
    RUN(preadv2_nowait_is_eagain_for_data_not_cached);
    RUN(o_tmpfile_makes_a_nameless_file_linkat_can_name);
    RUN(open_creat_new_file_has_requested_mode);
    RUN(open_missing_path_is_enoent);
    RUN(open_creat_in_missing_dir_is_enoent);
    RUN(open_empty_path_is_enoent);
    RUN(open_bad_path_pointer_is_efault);
    RUN(open_excl_existing_is_eexist);
    RUN(open_excl_on_dangling_symlink_is_eexist);
    RUN(open_creat_through_dangling_symlink_creates_target);
    RUN(open_trunc_empties_file);
    RUN(open_append_writes_at_end_despite_lseek);
    RUN(pwrite_on_append_fd_appends_and_leaves_the_position);
    RUN(open_directory_flag_on_file_is_enotdir);
    RUN(open_directory_flag_on_dir_succeeds);
    RUN(open_dir_for_writing_is_eisdir);
    RUN(open_creat_on_existing_dir_is_eisdir);
    RUN(open_file_as_path_component_is_enotdir);
    RUN(open_long_component_is_enametoolong);
    RUN(open_cloexec_sets_fd_cloexec);
    RUN(open_nofollow_on_symlink_is_eloop);
    RUN(open_symlink_loop_is_eloop);
    RUN(open_follows_symlink_to_file);
    RUN(open_path_fd_cannot_be_read_but_can_be_fstated);
    RUN(open_path_nofollow_opens_the_symlink_itself);
    RUN(openat_relative_to_dirfd);
    RUN(openat_at_fdcwd_uses_cwd);
    RUN(openat_absolute_path_ignores_dirfd);
    RUN(openat_bad_dirfd_is_ebadf);
    RUN(openat_file_as_dirfd_is_enotdir);
    RUN(open_returns_lowest_free_fd);
    RUN(close_bad_fd_is_ebadf);
    RUN(close_twice_is_ebadf);
    RUN(read_at_eof_returns_zero);
    RUN(read_zero_bytes_returns_zero);
    RUN(read_advances_file_offset);
    RUN(read_bad_fd_is_ebadf);
    RUN(read_on_write_only_fd_is_ebadf);
    RUN(write_on_read_only_fd_is_ebadf);
    RUN(write_bad_fd_is_ebadf);
    RUN(read_directory_is_eisdir);
    RUN(read_into_bad_pointer_is_efault);
    RUN(read_into_unmapped_page_is_efault);
    RUN(read_into_read_only_page_is_efault);
    RUN(read_into_buffer_running_into_unmapped_page_is_short);
    RUN(write_from_bad_pointer_is_efault);
    RUN(write_from_buffer_running_into_unmapped_page_is_short);
    RUN(write_to_pipe_from_buffer_running_into_unmapped_page_is_efault);
    RUN(read_from_pipe_into_buffer_running_into_unmapped_page_is_efault);
    RUN(write_zero_bytes_returns_zero);
    RUN(write_extends_file_and_overwrites_in_place);
    RUN(large_write_and_read_roundtrip);
    RUN(lseek_set_cur_end);
    RUN(lseek_past_end_then_write_leaves_zero_hole);
    RUN(lseek_read_past_end_returns_zero);
    RUN(lseek_negative_result_is_einval);
    RUN(lseek_bad_whence_is_einval);
    RUN(lseek_on_pipe_is_espipe);
    RUN(lseek_bad_fd_is_ebadf);
    RUN(lseek_on_directory_to_zero_succeeds);
    RUN(pread_reads_at_offset_without_moving_it);
    RUN(pwrite_writes_at_offset_without_moving_it);
    RUN(pwrite_past_end_extends_with_zeros);
    RUN(pread_negative_offset_is_einval);
    RUN(pread_pwrite_on_pipe_is_espipe);
    RUN(pread_bad_fd_is_ebadf);
    RUN(pread_into_bad_pointer_is_efault);
    RUN(writev_gathers_buffers_in_order);
    RUN(readv_scatters_into_buffers_in_order);
    RUN(readv_zero_iovecs_returns_zero);
    RUN(readv_bad_iovec_pointer_is_efault);
    RUN(readv_bad_buffer_pointer_is_efault);
    RUN(writev_negative_or_huge_iovcnt_is_einval);
    RUN(writev_bad_fd_is_ebadf);
    RUN(writev_to_pipe_then_read);
    RUN(truncate_grows_with_zeros);
    RUN(truncate_shrinks);
    RUN(truncate_missing_is_enoent);
    RUN(truncate_directory_is_eisdir);
    RUN(truncate_negative_length_is_einval);
    RUN(ftruncate_grows_with_zeros_and_shrinks);
    RUN(ftruncate_does_not_move_offset);
    RUN(ftruncate_read_only_fd_is_einval);
    RUN(ftruncate_pipe_is_einval);
    RUN(ftruncate_bad_fd_is_ebadf);
    RUN(lseek_data_and_hole_find_written_pages_on_tmpfs);
    RUN(open_noatime_by_a_non_owner_is_eperm);
    RUN(empty_path_is_enoent_whatever_the_dirfd);
    return KT_END();
}
