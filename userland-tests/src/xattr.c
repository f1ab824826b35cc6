/* Extended attributes (xattr(7)): setxattr/lsetxattr/fsetxattr,
 * getxattr/lgetxattr/fgetxattr, listxattr/llistxattr/flistxattr and
 * removexattr/lremovexattr/fremovexattr on a regular file, a directory and a
 * symlink, as root and (in a forked child) as an unprivileged user.
 *
 * Cases that need the file system under the temp dir to store user.* xattrs
 * first probe it and SKIP if the first setxattr is EOPNOTSUPP (Linux's ramfs,
 * for one, has no xattr support at all; tmpfs has user.* since Linux 6.6).
 * The argument checks (flags, name length, value size, namespace prefix,
 * symlink permission, bad pointers, bad fds) happen in the VFS before the file
 * system is asked, so those cases hold everywhere. */
#define KT_AREA "xattr"
#include "kt.h"

#include <sys/xattr.h>
#include <time.h>

#define BADPTR ((void *)1)
#define NAME "user.kt"

/* All calls go straight to the kernel. */
static long xset(const char *p, const char *n, const void *v, size_t s, int fl)
{
    return syscall(SYS_setxattr, p, n, v, s, fl);
}
static long lxset(const char *p, const char *n, const void *v, size_t s, int fl)
{
    return syscall(SYS_lsetxattr, p, n, v, s, fl);
}
static long fxset(int fd, const char *n, const void *v, size_t s, int fl)
{
    return syscall(SYS_fsetxattr, fd, n, v, s, fl);
}
static long xget(const char *p, const char *n, void *v, size_t s)
{
    return syscall(SYS_getxattr, p, n, v, s);
}
static long lxget(const char *p, const char *n, void *v, size_t s)
{
    return syscall(SYS_lgetxattr, p, n, v, s);
}
static long fxget(int fd, const char *n, void *v, size_t s)
{
    return syscall(SYS_fgetxattr, fd, n, v, s);
}
static long xlist(const char *p, char *b, size_t s)
{
    return syscall(SYS_listxattr, p, b, s);
}
static long lxlist(const char *p, char *b, size_t s)
{
    return syscall(SYS_llistxattr, p, b, s);
}
static long fxlist(int fd, char *b, size_t s)
{
    return syscall(SYS_flistxattr, fd, b, s);
}
static long xrm(const char *p, const char *n)
{
    return syscall(SYS_removexattr, p, n);
}
static long lxrm(const char *p, const char *n)
{
    return syscall(SYS_lremovexattr, p, n);
}
static long fxrm(int fd, const char *n)
{
    return syscall(SYS_fremovexattr, fd, n);
}

/* d/f: regular file "data" (0644), d/sub: directory, d/l: symlink to "f". */
struct nodes {
    char f[128], dir[128], l[128];
};

static int make_nodes(const char *d, struct nodes *n)
{
    snprintf(n->f, sizeof n->f, "%s/f", d);
    snprintf(n->dir, sizeof n->dir, "%s/sub", d);
    snprintf(n->l, sizeof n->l, "%s/l", d);
    if (kt_write_file(n->f, "data", 4) != 0)
        return -1;
    if (mkdir(n->dir, 0755) != 0)
        return -1;
    return symlink("f", n->l);
}

#define SETUP(d, n)                                                           \
    const char *d = kt_tmpdir();                                              \
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));                         \
    struct nodes n;                                                           \
    CHECK(make_nodes(d, &n) == 0, "creating f, sub, l failed: %s",            \
          kt_errstr(errno))

/* 0 if the file system under d stores user.* xattrs, else the errno of the
 * first setxattr on a fresh file there. */
static int user_xattr_errno(const char *d)
{
    char p[128];
    snprintf(p, sizeof p, "%s/.probe", d);
    if (kt_write_file(p, "", 0) != 0)
        return errno ? errno : EIO;
    int e = 0;
    if (syscall(SYS_setxattr, p, "user.kt.probe", "1", 1, 0) != 0)
        e = errno;
    unlink(p);
    return e;
}

#define NEED_USER_XATTRS(d)                                                   \
    do {                                                                      \
        int e_ = user_xattr_errno(d);                                         \
        if (e_ == EOPNOTSUPP)                                                 \
            SKIP("the temp dir's file system refuses user.* xattrs "          \
                 "(first setxattr: EOPNOTSUPP(%d))", e_);                     \
        CHECK(e_ == 0, "probe setxattr on %s failed: %s", d, kt_errstr(e_));  \
    } while (0)

/* Walks a listxattr result: every name must be NUL-terminated. Returns the
 * number of names starting with prefix (or -1 if the list is malformed) and
 * sets *found if want is one of the names. */
static int count_names(const char *buf, long n, const char *prefix, const char *want, int *found)
{
    int count = 0;
    if (found)
        *found = 0;
    if (n > 0 && buf[n - 1] != '\0')
        return -1;
    for (long i = 0; i < n;) {
        size_t len = strlen(buf + i);
        if (len == 0)
            return -1; /* empty name */
        if (!strncmp(buf + i, prefix, strlen(prefix)))
            count++;
        if (want && found && !strcmp(buf + i, want))
            *found = 1;
        i += (long)len + 1;
    }
    return count;
}

static int ts_after(struct timespec a, struct timespec b)
{
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static int failed_with(long r, int e)
{
    return r == -1 && errno == e;
}

/* ---- round trips ------------------------------------------------------ */

TEST(setxattr_getxattr_roundtrip_on_regular_file) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16] = {0};
    EXPECT_EQ(xset(n.f, NAME, "hello", 5, 0), 0);
    EXPECT_EQ(xget(n.f, NAME, buf, sizeof buf), 5);
    CHECK(!memcmp(buf, "hello", 5), "value '%.5s', expected 'hello'", buf);
    /* flags 0 replaces an existing value, here with a shorter one */
    EXPECT_EQ(xset(n.f, NAME, "hi", 2, 0), 0);
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(xget(n.f, NAME, buf, sizeof buf), 2);
    CHECK(!memcmp(buf, "hi", 2), "value '%.2s', expected 'hi'", buf);
    /* the file's contents are untouched */
    struct stat st;
    OK(stat(n.f, &st));
    EXPECT_EQ(st.st_size, 4);
}

TEST(setxattr_getxattr_roundtrip_on_directory) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16] = {0};
    EXPECT_EQ(xset(n.dir, NAME, "dirval", 6, 0), 0);
    EXPECT_EQ(xget(n.dir, NAME, buf, sizeof buf), 6);
    CHECK(!memcmp(buf, "dirval", 6), "value '%.6s', expected 'dirval'", buf);
    char list[256];
    long len = xlist(n.dir, list, sizeof list);
    CHECK(len >= 0, "listxattr failed: %s", kt_errstr(errno));
    int found;
    EXPECT_EQ(count_names(list, len, "user.", NAME, &found), 1);
    CHECK(found, "user.kt not in the directory's list");
    EXPECT_EQ(xrm(n.dir, NAME), 0);
    EXPECT_ERRNO(xget(n.dir, NAME, buf, sizeof buf), ENODATA);
}

TEST(zero_length_value_roundtrips) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[8] = "zzzzzzz";
    /* size 0 with a NULL value is an empty value, not a removal */
    EXPECT_EQ(xset(n.f, NAME, NULL, 0, 0), 0);
    EXPECT_EQ(xget(n.f, NAME, NULL, 0), 0);
    EXPECT_EQ(xget(n.f, NAME, buf, sizeof buf), 0);
    CHECK(buf[0] == 'z', "an empty value wrote into the buffer");
    /* also with a non-NULL pointer, replacing a non-empty value */
    EXPECT_EQ(xset(n.f, "user.kt2", "abc", 3, 0), 0);
    EXPECT_EQ(xset(n.f, "user.kt2", "abc", 0, XATTR_REPLACE), 0);
    EXPECT_EQ(xget(n.f, "user.kt2", buf, sizeof buf), 0);
    char list[256];
    long len = xlist(n.f, list, sizeof list);
    CHECK(len >= 0, "listxattr failed: %s", kt_errstr(errno));
    int found;
    EXPECT_EQ(count_names(list, len, "user.", NAME, &found), 2);
    CHECK(found, "empty-valued user.kt not listed");
}

TEST(binary_value_with_nul_bytes_roundtrips) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    static const char bin[] = {'a', 0, 'b', 0, 0, (char)0xff, 0x7f, 0};
    char buf[32];
    memset(buf, 0x55, sizeof buf);
    EXPECT_EQ(xset(n.f, NAME, bin, sizeof bin, 0), 0);
    EXPECT_EQ(xget(n.f, NAME, NULL, 0), (long)sizeof bin);
    EXPECT_EQ(xget(n.f, NAME, buf, sizeof buf), (long)sizeof bin);
    CHECK(!memcmp(buf, bin, sizeof bin), "binary value changed on the way");
    CHECK(buf[sizeof bin] == 0x55, "getxattr wrote past the value's length");
}

TEST(getxattr_size_zero_returns_length_and_small_buffer_is_erange) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16];
    EXPECT_EQ(xset(n.f, NAME, "0123456789", 10, 0), 0);
    /* size 0 ignores the buffer, even a bad pointer */
    EXPECT_EQ(xget(n.f, NAME, NULL, 0), 10);
    EXPECT_EQ(xget(n.f, NAME, BADPTR, 0), 10);
    EXPECT_EQ(lxget(n.f, NAME, NULL, 0), 10);
    int fd = OK(open(n.f, O_RDONLY));
    long r1 = fxget(fd, NAME, NULL, 0);
    errno = 0;
    long r2 = fxget(fd, NAME, buf, 9);
    int e2 = errno;
    close(fd);
    EXPECT_EQ(r1, 10);
    CHECK(r2 == -1 && e2 == ERANGE, "fgetxattr with 9 bytes: %ld %s, expected ERANGE", r2,
          kt_errstr(e2));
    EXPECT_ERRNO(xget(n.f, NAME, buf, 9), ERANGE);
    EXPECT_ERRNO(xget(n.f, NAME, buf, 1), ERANGE);
    EXPECT_ERRNO(lxget(n.f, NAME, buf, 9), ERANGE);
    EXPECT_EQ(xget(n.f, NAME, buf, 10), 10);
}

TEST(getxattr_into_bad_buffer_is_efault) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    EXPECT_EQ(xset(n.f, NAME, "abc", 3, 0), 0);
    EXPECT_ERRNO(xget(n.f, NAME, BADPTR, 16), EFAULT);
    EXPECT_ERRNO(xlist(n.f, BADPTR, 64), EFAULT);
}

TEST(listxattr_sizes_erange_and_nul_separated_names) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char list[512];
    /* a fresh file has no user.* names */
    long len = xlist(n.f, list, sizeof list);
    CHECK(len >= 0, "listxattr failed: %s", kt_errstr(errno));
    EXPECT_EQ(count_names(list, len, "user.", NULL, NULL), 0);

    EXPECT_EQ(xset(n.f, NAME, "1", 1, 0), 0);
    EXPECT_EQ(xset(n.f, "user.kt2", "22", 2, 0), 0);
    EXPECT_EQ(xset(n.f, "user.a", "", 0, 0), 0);
    long need = xlist(n.f, NULL, 0);
    /* "user.kt\0user.kt2\0user.a\0" is 24 bytes; other namespaces may add more */
    CHECK(need >= 24, "listxattr size 0 returned %ld (%s), expected >= 24", need,
          kt_errstr(errno));
    EXPECT_EQ(xlist(n.f, BADPTR, 0), need);
    EXPECT_EQ(lxlist(n.f, NULL, 0), need);
    EXPECT_ERRNO(xlist(n.f, list, need - 1), ERANGE);
    EXPECT_ERRNO(xlist(n.f, list, 1), ERANGE);
    EXPECT_ERRNO(lxlist(n.f, list, need - 1), ERANGE);

    memset(list, 0x55, sizeof list);
    EXPECT_EQ(xlist(n.f, list, need), need);
    CHECK(list[need] == 0x55, "listxattr wrote past the returned length");
    int f1, f2, f3;
    EXPECT_EQ(count_names(list, need, "user.", NAME, &f1), 3);
    EXPECT_EQ(count_names(list, need, "user.", "user.kt2", &f2), 3);
    EXPECT_EQ(count_names(list, need, "user.", "user.a", &f3), 3);
    CHECK(f1 && f2 && f3, "names missing from the list (user.kt %d, user.kt2 %d, user.a %d)",
          f1, f2, f3);

    int fd = OK(open(n.f, O_RDONLY));
    long r1 = fxlist(fd, NULL, 0);
    errno = 0;
    long r2 = fxlist(fd, list, need - 1);
    int e2 = errno;
    long r3 = fxlist(fd, list, sizeof list);
    close(fd);
    EXPECT_EQ(r1, need);
    CHECK(r2 == -1 && e2 == ERANGE, "flistxattr too small: %ld %s, expected ERANGE", r2,
          kt_errstr(e2));
    EXPECT_EQ(r3, need);
}

TEST(removexattr_removes_only_that_name) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16];
    EXPECT_EQ(xset(n.f, NAME, "1", 1, 0), 0);
    EXPECT_EQ(xset(n.f, "user.kt2", "2", 1, 0), 0);
    EXPECT_EQ(xrm(n.f, NAME), 0);
    EXPECT_ERRNO(xget(n.f, NAME, buf, sizeof buf), ENODATA);
    EXPECT_EQ(xget(n.f, "user.kt2", buf, sizeof buf), 1);
    EXPECT_ERRNO(xrm(n.f, NAME), ENODATA);
    char list[256];
    long len = xlist(n.f, list, sizeof list);
    CHECK(len >= 0, "listxattr failed: %s", kt_errstr(errno));
    int found;
    EXPECT_EQ(count_names(list, len, "user.", NAME, &found), 1);
    CHECK(!found, "removed user.kt still listed");
    /* a removed name can be created again */
    EXPECT_EQ(xset(n.f, NAME, "3", 1, XATTR_CREATE), 0);
}

TEST(l_variants_roundtrip_on_file_and_do_not_follow_symlinks) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16] = {0};
    EXPECT_EQ(lxset(n.f, NAME, "lv", 2, 0), 0);
    EXPECT_EQ(lxget(n.f, NAME, buf, sizeof buf), 2);
    CHECK(!memcmp(buf, "lv", 2), "value '%.2s', expected 'lv'", buf);
    char list[256];
    long len = lxlist(n.f, list, sizeof list);
    CHECK(len >= 0, "llistxattr failed: %s", kt_errstr(errno));
    int found;
    EXPECT_EQ(count_names(list, len, "user.", NAME, &found), 1);
    CHECK(found, "user.kt not in llistxattr");
    /* the plain calls follow the symlink to f, the l* calls do not */
    EXPECT_EQ(xget(n.l, NAME, buf, sizeof buf), 2);
    EXPECT_ERRNO(lxget(n.l, NAME, buf, sizeof buf), ENODATA);
    EXPECT_EQ(xset(n.l, "user.kt2", "x", 1, 0), 0);
    EXPECT_EQ(lxget(n.f, "user.kt2", buf, sizeof buf), 1);
    len = lxlist(n.l, list, sizeof list);
    CHECK(len >= 0, "llistxattr on the symlink failed: %s", kt_errstr(errno));
    EXPECT_EQ(count_names(list, len, "user.", NULL, NULL), 0);
    len = xlist(n.l, list, sizeof list);
    CHECK(len >= 0, "listxattr through the symlink failed: %s", kt_errstr(errno));
    EXPECT_EQ(count_names(list, len, "user.", NULL, NULL), 2);
    EXPECT_EQ(xrm(n.l, "user.kt2"), 0);
    EXPECT_EQ(lxrm(n.f, NAME), 0);
    EXPECT_ERRNO(lxget(n.f, NAME, buf, sizeof buf), ENODATA);
    EXPECT_ERRNO(lxget(n.f, "user.kt2", buf, sizeof buf), ENODATA);
}

TEST(f_variants_roundtrip_on_read_only_fds) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    /* xattr writes check the inode's permissions, not the fd's access mode */
    int fds[2];
    fds[0] = OK(open(n.f, O_RDONLY));
    fds[1] = OK(open(n.dir, O_RDONLY | O_DIRECTORY));
    for (int i = 0; i < 2; i++) {
        int fd = fds[i];
        const char *what = i ? "directory" : "file";
        char buf[16] = {0}, list[256];
        CHECK(fxset(fd, NAME, "fv", 2, 0) == 0, "fsetxattr on %s fd: %s", what,
              kt_errstr(errno));
        CHECK(fxget(fd, NAME, buf, sizeof buf) == 2 && !memcmp(buf, "fv", 2),
              "fgetxattr on %s fd: '%.2s' %s", what, buf, kt_errstr(errno));
        CHECK(xget(i ? n.dir : n.f, NAME, buf, sizeof buf) == 2,
              "getxattr by path does not see the value set through the %s fd", what);
        long len = fxlist(fd, list, sizeof list);
        int found = 0;
        CHECK(len > 0 && count_names(list, len, "user.", NAME, &found) == 1 && found,
              "flistxattr on %s fd returned %ld (%s), user.kt found %d", what, len,
              kt_errstr(errno), found);
        CHECK(fxset(fd, NAME, "x", 1, XATTR_CREATE) == -1 && errno == EEXIST,
              "fsetxattr XATTR_CREATE on %s fd: %s, expected EEXIST", what, kt_errstr(errno));
        CHECK(fxrm(fd, NAME) == 0, "fremovexattr on %s fd: %s", what, kt_errstr(errno));
        CHECK(fxget(fd, NAME, buf, sizeof buf) == -1 && errno == ENODATA,
              "fgetxattr after removal on %s fd: %s, expected ENODATA", what, kt_errstr(errno));
        CHECK(fxrm(fd, NAME) == -1 && errno == ENODATA,
              "second fremovexattr on %s fd: %s, expected ENODATA", what, kt_errstr(errno));
    }
    close(fds[0]);
    close(fds[1]);
}

/* ---- flags ------------------------------------------------------------ */

TEST(xattr_create_on_existing_name_is_eexist) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16] = {0};
    EXPECT_EQ(xset(n.f, NAME, "one", 3, XATTR_CREATE), 0);
    EXPECT_ERRNO(xset(n.f, NAME, "two", 3, XATTR_CREATE), EEXIST);
    EXPECT_ERRNO(lxset(n.f, NAME, "two", 3, XATTR_CREATE), EEXIST);
    EXPECT_EQ(xget(n.f, NAME, buf, sizeof buf), 3);
    CHECK(!memcmp(buf, "one", 3), "value '%.3s' after EEXIST, expected 'one'", buf);
}

TEST(xattr_replace_on_missing_name_is_enodata) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16] = {0};
    EXPECT_ERRNO(xset(n.f, NAME, "v", 1, XATTR_REPLACE), ENODATA);
    EXPECT_ERRNO(xget(n.f, NAME, buf, sizeof buf), ENODATA);
    EXPECT_EQ(xset(n.f, NAME, "v", 1, 0), 0);
    EXPECT_EQ(xset(n.f, NAME, "new", 3, XATTR_REPLACE), 0);
    EXPECT_EQ(xget(n.f, NAME, buf, sizeof buf), 3);
    CHECK(!memcmp(buf, "new", 3), "value '%.3s', expected 'new'", buf);
}

TEST(unknown_flags_are_einval) {
    SETUP(d, n);
    EXPECT_ERRNO(xset(n.f, NAME, "v", 1, 4), EINVAL);
    EXPECT_ERRNO(xset(n.f, NAME, "v", 1, 0x100), EINVAL);
    EXPECT_ERRNO(xset(n.f, NAME, "v", 1, -1), EINVAL);
    EXPECT_ERRNO(lxset(n.f, NAME, "v", 1, 8), EINVAL);
    int fd = OK(open(n.f, O_RDONLY));
    errno = 0;
    long r = fxset(fd, NAME, "v", 1, XATTR_CREATE | 4);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EINVAL, "fsetxattr flags 5: %ld %s, expected EINVAL", r, kt_errstr(e));
    /* the flags are checked before the path is even looked up */
    EXPECT_ERRNO(xset(kt_path(d, "missing"), NAME, "v", 1, 4), EINVAL);
}

TEST(get_or_remove_missing_name_is_enodata) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16];
    EXPECT_ERRNO(xget(n.f, "user.missing", buf, sizeof buf), ENODATA);
    EXPECT_ERRNO(xget(n.f, "user.missing", NULL, 0), ENODATA);
    EXPECT_ERRNO(lxget(n.f, "user.missing", buf, sizeof buf), ENODATA);
    EXPECT_ERRNO(xrm(n.f, "user.missing"), ENODATA);
    EXPECT_ERRNO(lxrm(n.f, "user.missing"), ENODATA);
    EXPECT_ERRNO(xget(n.dir, "user.missing", buf, sizeof buf), ENODATA);
    EXPECT_ERRNO(xrm(n.dir, "user.missing"), ENODATA);
}

/* ---- names and sizes -------------------------------------------------- */

TEST(empty_name_is_erange) {
    SETUP(d, n);
    char buf[16];
    EXPECT_ERRNO(xset(n.f, "", "v", 1, 0), ERANGE);
    EXPECT_ERRNO(lxset(n.f, "", "v", 1, 0), ERANGE);
    EXPECT_ERRNO(xget(n.f, "", buf, sizeof buf), ERANGE);
    EXPECT_ERRNO(lxget(n.f, "", buf, sizeof buf), ERANGE);
    EXPECT_ERRNO(xrm(n.f, ""), ERANGE);
    EXPECT_ERRNO(lxrm(n.f, ""), ERANGE);
    int fd = OK(open(n.f, O_RDONLY));
    errno = 0;
    long r = fxget(fd, "", buf, sizeof buf);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == ERANGE, "fgetxattr \"\": %ld %s, expected ERANGE", r, kt_errstr(e));
}

TEST(name_of_256_bytes_is_erange) {
    SETUP(d, n);
    char name[300], buf[16];
    memset(name, 'a', sizeof name);
    memcpy(name, "user.", 5);
    name[256] = '\0'; /* XATTR_NAME_MAX is 255 */
    EXPECT_ERRNO(xset(n.f, name, "v", 1, 0), ERANGE);
    EXPECT_ERRNO(xget(n.f, name, buf, sizeof buf), ERANGE);
    EXPECT_ERRNO(xrm(n.f, name), ERANGE);
    EXPECT_ERRNO(xset(n.dir, name, "v", 1, 0), ERANGE);
    name[299] = '\0';
    EXPECT_ERRNO(xset(n.f, name, "v", 1, 0), ERANGE);
}

TEST(name_of_255_bytes_is_accepted) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char name[300], buf[16];
    memset(name, 'b', sizeof name);
    memcpy(name, "user.", 5);
    name[255] = '\0';
    EXPECT_EQ(xset(n.f, name, "v", 1, 0), 0);
    EXPECT_EQ(xget(n.f, name, buf, sizeof buf), 1);
    EXPECT_EQ(xlist(n.f, NULL, 0) >= 256, 1);
    EXPECT_EQ(xrm(n.f, name), 0);
}

TEST(value_over_64k_is_e2big) {
    SETUP(d, n);
    char *big = malloc(65537);
    CHECK(big, "malloc failed");
    memset(big, 'v', 65537);
    errno = 0;
    long r1 = xset(n.f, NAME, big, 65537, 0);
    int e1 = errno;
    errno = 0;
    long r2 = lxset(n.dir, NAME, big, 1 << 20, 0);
    int e2 = errno;
    free(big);
    CHECK(r1 == -1 && e1 == E2BIG, "setxattr of 65537 bytes: %ld %s, expected E2BIG", r1,
          kt_errstr(e1));
    /* the size is checked before the value is read */
    CHECK(r2 == -1 && e2 == E2BIG, "lsetxattr of 1 MiB: %ld %s, expected E2BIG", r2,
          kt_errstr(e2));
}

TEST(user_prefix_alone_is_einval) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16];
    /* a known prefix with an empty suffix */
    EXPECT_ERRNO(xset(n.f, "user.", "v", 1, 0), EINVAL);
    EXPECT_ERRNO(xget(n.f, "user.", buf, sizeof buf), EINVAL);
}

TEST(name_without_known_namespace_is_eopnotsupp) {
    SETUP(d, n);
    char buf[16];
    static const char *const names[] = {"foo.bar", "kt", "users.kt", "USER.kt"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *nm = names[i];
        CHECK(xset(n.f, nm, "v", 1, 0) == -1 && errno == EOPNOTSUPP,
              "setxattr \"%s\": %s, expected EOPNOTSUPP", nm, kt_errstr(errno));
        CHECK(xget(n.f, nm, buf, sizeof buf) == -1 && errno == EOPNOTSUPP,
              "getxattr \"%s\": %s, expected EOPNOTSUPP", nm, kt_errstr(errno));
        CHECK(xrm(n.f, nm) == -1 && errno == EOPNOTSUPP,
              "removexattr \"%s\": %s, expected EOPNOTSUPP", nm, kt_errstr(errno));
        CHECK(xset(n.dir, nm, "v", 1, 0) == -1 && errno == EOPNOTSUPP,
              "setxattr \"%s\" on the directory: %s, expected EOPNOTSUPP", nm, kt_errstr(errno));
    }
}

/* ---- namespaces and permissions --------------------------------------- */

TEST(user_xattr_on_symlink_is_eperm_and_reads_enodata) {
    SETUP(d, n);
    char buf[16], list[256];
    /* user.* is only for regular files and directories: writes are EPERM and
     * reads ENODATA, even for root and before the file system is asked */
    EXPECT_ERRNO(lxset(n.l, NAME, "v", 1, 0), EPERM);
    EXPECT_ERRNO(lxset(n.l, NAME, "v", 1, XATTR_CREATE), EPERM);
    EXPECT_ERRNO(lxget(n.l, NAME, buf, sizeof buf), ENODATA);
    EXPECT_ERRNO(lxget(n.l, NAME, NULL, 0), ENODATA);
    EXPECT_ERRNO(lxrm(n.l, NAME), EPERM);
    long len = lxlist(n.l, list, sizeof list);
    CHECK(len >= 0, "llistxattr on the symlink failed: %s", kt_errstr(errno));
    EXPECT_EQ(count_names(list, len, "user.", NULL, NULL), 0);
}

TEST(trusted_namespace_works_as_root_and_is_listed) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    char buf[16] = {0}, list[256];
    int found;
    EXPECT_EQ(xset(n.f, "trusted.kt", "t1", 2, 0), 0);
    EXPECT_EQ(xget(n.f, "trusted.kt", buf, sizeof buf), 2);
    CHECK(!memcmp(buf, "t1", 2), "value '%.2s', expected 't1'", buf);
    EXPECT_EQ(xset(n.f, NAME, "u", 1, 0), 0);
    long len = xlist(n.f, list, sizeof list);
    CHECK(len >= 0, "listxattr failed: %s", kt_errstr(errno));
    EXPECT_EQ(count_names(list, len, "trusted.", "trusted.kt", &found), 1);
    CHECK(found, "trusted.kt not listed for root");
    EXPECT_EQ(count_names(list, len, "user.", NAME, &found), 1);
    CHECK(found, "user.kt not listed next to trusted.kt");
    /* on a directory, and (unlike user.*) on the symlink itself */
    EXPECT_EQ(xset(n.dir, "trusted.kt", "t2", 2, 0), 0);
    EXPECT_EQ(xget(n.dir, "trusted.kt", buf, sizeof buf), 2);
    EXPECT_EQ(lxset(n.l, "trusted.link", "t3", 2, 0), 0);
    EXPECT_EQ(lxget(n.l, "trusted.link", buf, sizeof buf), 2);
    CHECK(!memcmp(buf, "t3", 2), "value '%.2s', expected 't3'", buf);
    EXPECT_ERRNO(xget(n.l, "trusted.link", buf, sizeof buf), ENODATA); /* that is f's */
    len = lxlist(n.l, list, sizeof list);
    CHECK(len >= 0, "llistxattr on the symlink failed: %s", kt_errstr(errno));
    EXPECT_EQ(count_names(list, len, "trusted.", "trusted.link", &found), 1);
    CHECK(found, "trusted.link not listed on the symlink");
    EXPECT_EQ(lxrm(n.l, "trusted.link"), 0);
    EXPECT_EQ(xrm(n.f, "trusted.kt"), 0);
    EXPECT_ERRNO(xget(n.f, "trusted.kt", buf, sizeof buf), ENODATA);
}

TEST(fd_calls_on_opath_or_bad_fd_are_ebadf) {
    SETUP(d, n);
    char buf[16];
    int fd = OK(open(n.f, O_PATH));
    errno = 0;
    long r1 = fxget(fd, NAME, buf, sizeof buf);
    int e1 = errno;
    errno = 0;
    long r2 = fxset(fd, NAME, "v", 1, 0);
    int e2 = errno;
    errno = 0;
    long r3 = fxlist(fd, buf, sizeof buf);
    int e3 = errno;
    errno = 0;
    long r4 = fxrm(fd, NAME);
    int e4 = errno;
    close(fd);
    CHECK(r1 == -1 && e1 == EBADF, "fgetxattr on O_PATH fd: %ld %s", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EBADF, "fsetxattr on O_PATH fd: %ld %s", r2, kt_errstr(e2));
    CHECK(r3 == -1 && e3 == EBADF, "flistxattr on O_PATH fd: %ld %s", r3, kt_errstr(e3));
    CHECK(r4 == -1 && e4 == EBADF, "fremovexattr on O_PATH fd: %ld %s", r4, kt_errstr(e4));
    EXPECT_ERRNO(fxget(9999, NAME, buf, sizeof buf), EBADF);
    EXPECT_ERRNO(fxget(-1, NAME, buf, sizeof buf), EBADF);
    EXPECT_ERRNO(fxset(9999, NAME, "v", 1, 0), EBADF);
    EXPECT_ERRNO(fxlist(9999, buf, sizeof buf), EBADF);
    EXPECT_ERRNO(fxrm(9999, NAME), EBADF);
}

TEST(bad_path_name_or_value_pointer_is_efault) {
    SETUP(d, n);
    char buf[16];
    EXPECT_ERRNO(xset(BADPTR, NAME, "v", 1, 0), EFAULT);
    EXPECT_ERRNO(lxset(BADPTR, NAME, "v", 1, 0), EFAULT);
    EXPECT_ERRNO(xget(BADPTR, NAME, buf, sizeof buf), EFAULT);
    EXPECT_ERRNO(lxget(BADPTR, NAME, buf, sizeof buf), EFAULT);
    EXPECT_ERRNO(xlist(BADPTR, buf, sizeof buf), EFAULT);
    EXPECT_ERRNO(lxlist(BADPTR, buf, sizeof buf), EFAULT);
    EXPECT_ERRNO(xrm(BADPTR, NAME), EFAULT);
    EXPECT_ERRNO(lxrm(BADPTR, NAME), EFAULT);
    EXPECT_ERRNO(xset(n.f, BADPTR, "v", 1, 0), EFAULT);
    EXPECT_ERRNO(xget(n.f, BADPTR, buf, sizeof buf), EFAULT);
    EXPECT_ERRNO(xrm(n.f, BADPTR), EFAULT);
    EXPECT_ERRNO(xset(n.f, NAME, BADPTR, 4, 0), EFAULT);
}

TEST(missing_path_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    char m[128], buf[16];
    snprintf(m, sizeof m, "%s/missing", d);
    EXPECT_ERRNO(xset(m, NAME, "v", 1, 0), ENOENT);
    EXPECT_ERRNO(lxset(m, NAME, "v", 1, 0), ENOENT);
    EXPECT_ERRNO(xget(m, NAME, buf, sizeof buf), ENOENT);
    EXPECT_ERRNO(lxget(m, NAME, buf, sizeof buf), ENOENT);
    EXPECT_ERRNO(xlist(m, buf, sizeof buf), ENOENT);
    EXPECT_ERRNO(lxlist(m, buf, sizeof buf), ENOENT);
    EXPECT_ERRNO(xrm(m, NAME), ENOENT);
    EXPECT_ERRNO(lxrm(m, NAME), ENOENT);
    /* a dangling symlink is ENOENT when followed, but fine with the l* calls */
    OK(symlink("nowhere", kt_path(d, "dangling")));
    EXPECT_ERRNO(xget(kt_path(d, "dangling"), NAME, buf, sizeof buf), ENOENT);
    EXPECT_ERRNO(xset(kt_path(d, "dangling"), NAME, "v", 1, 0), ENOENT);
    EXPECT_ERRNO(lxget(kt_path(d, "dangling"), NAME, buf, sizeof buf), ENODATA);
}

struct unpriv {
    const char *f;
    int rdfd;        /* f opened O_RDONLY by root before dropping privileges */
    int has_trusted; /* f carries trusted.kt */
};

/* Exits with the number of the first step that did not behave as expected. */
static void unprivileged_steps(void *arg)
{
    struct unpriv *u = arg;
    char buf[16] = {0}, list[256];
    int found;
    if (syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        _exit(10);
    /* reading needs only read permission on the file (0644) */
    if (xget(u->f, NAME, buf, sizeof buf) != 3 || memcmp(buf, "abc", 3))
        _exit(11);
    if (fxget(u->rdfd, NAME, buf, sizeof buf) != 3)
        _exit(12);
    long len = xlist(u->f, list, sizeof list);
    if (len < 0 || count_names(list, len, "user.", NAME, &found) != 1 || !found)
        _exit(13);
    /* writing needs write permission on the file */
    if (!failed_with(xset(u->f, "user.kt2", "x", 1, 0), EACCES))
        _exit(14);
    if (!failed_with(xset(u->f, NAME, "x", 1, XATTR_REPLACE), EACCES))
        _exit(15);
    if (!failed_with(xrm(u->f, NAME), EACCES))
        _exit(16);
    if (!failed_with(fxset(u->rdfd, "user.kt2", "x", 1, 0), EACCES))
        _exit(17);
    if (!failed_with(fxrm(u->rdfd, NAME), EACCES))
        _exit(18);
    /* trusted.* is invisible without CAP_SYS_ADMIN: reads ENODATA, writes EPERM */
    if (u->has_trusted) {
        if (!failed_with(xget(u->f, "trusted.kt", buf, sizeof buf), ENODATA))
            _exit(19);
        if (count_names(list, len, "trusted.", NULL, NULL) != 0)
            _exit(20);
    }
    if (!failed_with(xset(u->f, "trusted.kt2", "x", 1, 0), EPERM))
        _exit(21);
    /* the value is unchanged */
    if (xget(u->f, NAME, buf, sizeof buf) != 3 || memcmp(buf, "abc", 3))
        _exit(22);
    _exit(0);
}

TEST(unprivileged_user_can_read_but_not_set_on_root_file) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    /* mkdtemp made d 0700: let uid 1000 reach f */
    OK(chmod(d, 0755));
    OK(chmod(n.f, 0644));
    EXPECT_EQ(xset(n.f, NAME, "abc", 3, 0), 0);
    struct unpriv u = {n.f, -1, 0};
    u.has_trusted = xset(n.f, "trusted.kt", "t", 1, 0) == 0;
    u.rdfd = OK(open(n.f, O_RDONLY));
    int st = kt_in_child(unprivileged_steps, &u);
    close(u.rdfd);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child %s (the code is the failed step in unprivileged_steps)", kt_status(st));
    char buf[16];
    EXPECT_ERRNO(xget(n.f, "user.kt2", buf, sizeof buf), ENODATA);
}

TEST(setxattr_updates_ctime_not_mtime) {
    SETUP(d, n);
    NEED_USER_XATTRS(d);
    struct stat before, st;
    OK(stat(n.f, &before));
    /* wait until the file system's clock has moved past f's ctime: touch a
     * second file until its ctime is later (no assumption on granularity) */
    const char *probe = kt_path(d, "clock");
    OK(kt_write_file(probe, "", 0));
    int ticked = 0;
    for (int i = 0; i < 600 && !ticked; i++) {
        struct timespec ms5 = {0, 5000000};
        nanosleep(&ms5, NULL);
        OK(utimensat(AT_FDCWD, probe, NULL, 0));
        OK(stat(probe, &st));
        ticked = ts_after(st.st_ctim, before.st_ctim);
    }
    CHECK(ticked, "the file system clock did not pass f's ctime within 3 s");
    EXPECT_EQ(xset(n.f, NAME, "v", 1, 0), 0);
    OK(stat(n.f, &st));
    CHECK(ts_after(st.st_ctim, before.st_ctim), "ctime %ld.%09ld not after %ld.%09ld",
          (long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, (long)before.st_ctim.tv_sec,
          before.st_ctim.tv_nsec);
    CHECK(st.st_mtim.tv_sec == before.st_mtim.tv_sec &&
              st.st_mtim.tv_nsec == before.st_mtim.tv_nsec,
          "setxattr changed mtime");
    EXPECT_EQ(st.st_size, 4);
}

int main(void)
{
    KT_BEGIN();
    RUN(setxattr_getxattr_roundtrip_on_regular_file);
    RUN(setxattr_getxattr_roundtrip_on_directory);
    RUN(zero_length_value_roundtrips);
    RUN(binary_value_with_nul_bytes_roundtrips);
    RUN(getxattr_size_zero_returns_length_and_small_buffer_is_erange);
    RUN(getxattr_into_bad_buffer_is_efault);
    RUN(listxattr_sizes_erange_and_nul_separated_names);
    RUN(removexattr_removes_only_that_name);
    RUN(l_variants_roundtrip_on_file_and_do_not_follow_symlinks);
    RUN(f_variants_roundtrip_on_read_only_fds);
    RUN(xattr_create_on_existing_name_is_eexist);
    RUN(xattr_replace_on_missing_name_is_enodata);
    RUN(unknown_flags_are_einval);
    RUN(get_or_remove_missing_name_is_enodata);
    RUN(empty_name_is_erange);
    RUN(name_of_256_bytes_is_erange);
    RUN(name_of_255_bytes_is_accepted);
    RUN(value_over_64k_is_e2big);
    RUN(user_prefix_alone_is_einval);
    RUN(name_without_known_namespace_is_eopnotsupp);
    RUN(user_xattr_on_symlink_is_eperm_and_reads_enodata);
    RUN(trusted_namespace_works_as_root_and_is_listed);
    RUN(fd_calls_on_opath_or_bad_fd_are_ebadf);
    RUN(bad_path_name_or_value_pointer_is_efault);
    RUN(missing_path_is_enoent);
    RUN(unprivileged_user_can_read_but_not_set_on_root_file);
    RUN(setxattr_updates_ctime_not_mtime);
    return KT_END();
}
