/* Inode flags (chattr(1), lsattr(1)): FS_IOC_GETFLAGS and FS_IOC_SETFLAGS,
 * and what FS_IMMUTABLE_FL and FS_APPEND_FL forbid: opening for writing,
 * truncation, fallocate, unlink, rename, link, chmod, chown, utimes, xattr
 * changes, new names in an immutable directory, names leaving an append-only
 * one. Who may set them: the owner (or CAP_FOWNER), and only with
 * CAP_LINUX_IMMUTABLE for the two that restrict root.
 *
 * Cases that need flags first probe the file system under the temp dir and
 * SKIP where FS_IOC_GETFLAGS is ENOTTY or setting FS_IMMUTABLE_FL is
 * EOPNOTSUPP (Linux's ramfs keeps none). Every flag a case sets is cleared
 * after it, so the temp dir can be removed. */
#define KT_AREA "inode_flags"
#include "kt.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>

#ifndef FS_IOC_GETFLAGS
#define FS_IOC_GETFLAGS 0x80086601
#define FS_IOC_SETFLAGS 0x40086602
#endif
#define F_SECRM 0x1
#define F_IMMUTABLE 0x10
#define F_APPEND 0x20
#define F_NODUMP 0x40
#define F_NOATIME 0x80
#define TMPFS_MAGIC_ 0x01021994
#define BADPTR ((void *)1)

/* Paths flagged by a case: their flags are cleared after it. */
static char flagged[16][PATH_MAX];
static int nflagged;

static int getfl(const char *path, int *out)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    int r = ioctl(fd, FS_IOC_GETFLAGS, out);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

static int setfl(const char *path, int flags)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    int r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
    int e = errno;
    close(fd);
    if (r == 0 && flags && nflagged < 16)
        snprintf(flagged[nflagged++], PATH_MAX, "%s", path);
    errno = e;
    return r;
}

static void unflag_all(void)
{
    while (nflagged > 0) {
        int zero = 0;
        int fd = open(flagged[--nflagged], O_RDONLY | O_NONBLOCK);
        if (fd >= 0) {
            ioctl(fd, FS_IOC_SETFLAGS, &zero);
            close(fd);
        }
    }
}

/* A case, then its flags cleared before the temp dirs go (kt.h's RUN). */
#define RUNF(name)                                                            \
    do {                                                                      \
        kt_reported = 0;                                                      \
        name(#name);                                                          \
        unflag_all();                                                         \
        if (!kt_reported) {                                                   \
            printf("PASS %s.%s\n", KT_AREA, #name);                           \
            fflush(stdout);                                                   \
        }                                                                     \
        kt_after_case();                                                      \
    } while (0)

/* 1 if the file system under dir keeps FS_IMMUTABLE_FL and FS_APPEND_FL. */
static int fs_has_flags(const char *dir)
{
    const char *p = kt_path(dir, ".probe");
    if (kt_write_file(p, "", 0) != 0)
        return 0;
    int f;
    int ok = getfl(p, &f) == 0 && setfl(p, F_IMMUTABLE) == 0;
    setfl(p, 0);
    unlink(p);
    return ok;
}

/* var = dir + "/" + name, in the case's own buffer (kt_path's rotate). */
#define PATHV(var, dir, name)                                                 \
    char var[PATH_MAX];                                                       \
    snprintf(var, sizeof var, "%s/%s", dir, name)

/* A temp dir on a file system with flags, holding file "f" ("hello"). */
#define SETUP(d)                                                              \
    const char *d = kt_tmpdir();                                              \
    CHECK(d, "kt_tmpdir failed");                                             \
    if (!fs_has_flags(d))                                                     \
        SKIP("the file system under %s keeps no inode flags", d);             \
    CHECK(kt_write_file(kt_path(d, "f"), "hello", 5) == 0, "write f")

TEST(getflags_setflags_round_trip)
{
    SETUP(d);
    PATHV(f, d, "f");
    int fl = -1;
    OK(getfl(f, &fl));
    EXPECT_EQ(fl & (F_IMMUTABLE | F_APPEND | F_NODUMP | F_NOATIME), 0);
    OK(setfl(f, fl | F_NODUMP));
    OK(getfl(f, &fl));
    EXPECT_EQ(fl & F_NODUMP, F_NODUMP);
    OK(setfl(f, fl | F_IMMUTABLE | F_APPEND));
    OK(getfl(f, &fl));
    EXPECT_EQ(fl & (F_IMMUTABLE | F_APPEND | F_NODUMP),
              F_IMMUTABLE | F_APPEND | F_NODUMP);
    OK(setfl(f, fl & ~(F_IMMUTABLE | F_APPEND | F_NODUMP)));
    OK(getfl(f, &fl));
    EXPECT_EQ(fl & (F_IMMUTABLE | F_APPEND | F_NODUMP), 0);
}

TEST(setflags_changes_ctime)
{
    SETUP(d);
    PATHV(f, d, "f");
    struct timespec old[2] = {{1000, 0}, {1000, 0}};
    OK(utimensat(AT_FDCWD, f, old, 0));
    struct stat a, b;
    OK(stat(f, &a));
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    OK(setfl(f, F_NODUMP));
    OK(stat(f, &b));
    CHECK(b.st_ctim.tv_sec > a.st_ctim.tv_sec ||
              (b.st_ctim.tv_sec == a.st_ctim.tv_sec &&
               b.st_ctim.tv_nsec > a.st_ctim.tv_nsec),
          "ctime did not move");
    EXPECT_EQ(b.st_mtim.tv_sec, 1000);
}

TEST(directories_have_flags_too)
{
    SETUP(d);
    PATHV(s, d, "sub");
    OK(mkdir(s, 0755));
    int fl = -1;
    OK(setfl(s, F_NODUMP));
    OK(getfl(s, &fl));
    EXPECT_EQ(fl & F_NODUMP, F_NODUMP);
}

TEST(new_file_inherits_nodump_from_directory)
{
    SETUP(d);
    PATHV(s, d, "sub");
    OK(mkdir(s, 0755));
    int fl = -1;
    OK(getfl(s, &fl));
    OK(setfl(s, fl | F_NODUMP));
    CHECK(kt_write_file(kt_path(s, "child"), "x", 1) == 0, "create child");
    OK(getfl(kt_path(s, "child"), &fl));
    EXPECT_EQ(fl & F_NODUMP, F_NODUMP);
}

TEST(getflags_bad_fd_is_ebadf)
{
    int fl;
    EXPECT_ERRNO(ioctl(-1, FS_IOC_GETFLAGS, &fl), EBADF);
    int fd = OK(open("/", O_RDONLY));
    close(fd);
    EXPECT_ERRNO(ioctl(fd, FS_IOC_GETFLAGS, &fl), EBADF);
    EXPECT_ERRNO(ioctl(fd, FS_IOC_SETFLAGS, &fl), EBADF);
}

TEST(flags_on_o_path_fd_is_ebadf)
{
    SETUP(d);
    int fd = OK(open(kt_path(d, "f"), O_PATH));
    int fl = 0;
    EXPECT_ERRNO(ioctl(fd, FS_IOC_GETFLAGS, &fl), EBADF);
    EXPECT_ERRNO(ioctl(fd, FS_IOC_SETFLAGS, &fl), EBADF);
    close(fd);
}

TEST(flags_bad_pointer_is_efault)
{
    SETUP(d);
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    EXPECT_ERRNO(ioctl(fd, FS_IOC_GETFLAGS, BADPTR), EFAULT);
    EXPECT_ERRNO(ioctl(fd, FS_IOC_SETFLAGS, BADPTR), EFAULT);
    EXPECT_ERRNO(ioctl(fd, FS_IOC_GETFLAGS, NULL), EFAULT);
    close(fd);
}

TEST(flags_on_pipe_and_socket_are_enotty)
{
    int p[2];
    OK(pipe(p));
    int fl = 0;
    EXPECT_ERRNO(ioctl(p[0], FS_IOC_GETFLAGS, &fl), ENOTTY);
    EXPECT_ERRNO(ioctl(p[1], FS_IOC_SETFLAGS, &fl), ENOTTY);
    close(p[0]);
    close(p[1]);
    int s = OK(socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(ioctl(s, FS_IOC_GETFLAGS, &fl), ENOTTY);
    close(s);
}

TEST(setflags_on_pipe_reads_the_pointer_first)
{
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(ioctl(p[0], FS_IOC_SETFLAGS, BADPTR), EFAULT);
    close(p[0]);
    close(p[1]);
}

TEST(flags_on_procfs_are_enotty)
{
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        SKIP("no /proc");
    int fl = 0;
    EXPECT_ERRNO(ioctl(fd, FS_IOC_GETFLAGS, &fl), ENOTTY);
    close(fd);
}

TEST(tmpfs_refuses_flags_it_does_not_keep)
{
    SETUP(d);
    struct statfs sf;
    OK(statfs(d, &sf));
    if (sf.f_type != TMPFS_MAGIC_)
        SKIP("not tmpfs (its own rules for other bits)");
    PATHV(f, d, "f");
    EXPECT_ERRNO(setfl(f, F_SECRM), EOPNOTSUPP);
    EXPECT_ERRNO(setfl(f, F_NODUMP | 0x8 /* FS_SYNC_FL */), EOPNOTSUPP);
    int fl = -1;
    OK(getfl(f, &fl));
    EXPECT_EQ(fl & (F_SECRM | F_NODUMP), 0);
    OK(setfl(f, F_NODUMP | F_NOATIME));
}

TEST(immutable_file_refuses_opening_for_write)
{
    SETUP(d);
    PATHV(f, d, "f");
    OK(setfl(f, F_IMMUTABLE));
    EXPECT_ERRNO(open(f, O_WRONLY), EPERM);
    EXPECT_ERRNO(open(f, O_RDWR), EPERM);
    EXPECT_ERRNO(open(f, O_WRONLY | O_APPEND), EPERM);
    EXPECT_ERRNO(open(f, O_RDONLY | O_TRUNC), EPERM);
    EXPECT_ERRNO(open(f, O_WRONLY | O_CREAT, 0644), EPERM);
    EXPECT_ERRNO(access(f, W_OK), EPERM);
    OK(access(f, R_OK));
    int fd = OK(open(f, O_RDONLY));
    char buf[8] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 5);
    /* No writable shared mapping through a read-only descriptor. */
    EXPECT_EQ((long)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
              (long)MAP_FAILED);
    close(fd);
}

TEST(immutable_file_refuses_truncate_and_fallocate)
{
    SETUP(d);
    PATHV(f, d, "f");
    int fd = OK(open(f, O_RDWR)); /* opened before the flag came */
    OK(setfl(f, F_IMMUTABLE));
    EXPECT_ERRNO(truncate(f, 0), EPERM);
    /* (ftruncate through it: EPERM on ext4, allowed on tmpfs.) */
    EXPECT_ERRNO(fallocate(fd, 0, 0, 4096), EPERM);
    EXPECT_ERRNO(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096), EPERM);
    struct stat st;
    OK(stat(f, &st));
    EXPECT_EQ(st.st_size, 5);
    close(fd);
}

TEST(copy_file_range_into_immutable_file_is_eperm)
{
    SETUP(d);
    PATHV(f, d, "f");
    PATHV(src, d, "src");
    CHECK(kt_write_file(src, "data", 4) == 0, "write src");
    int in = OK(open(src, O_RDONLY));
    int out = OK(open(f, O_WRONLY)); /* opened before the flag came */
    OK(setfl(f, F_IMMUTABLE));
    loff_t off = 0;
    EXPECT_ERRNO(syscall(SYS_copy_file_range, in, &off, out, &off, 4, 0), EPERM);
    close(in);
    close(out);
}

TEST(immutable_file_cannot_be_removed_renamed_or_linked)
{
    SETUP(d);
    PATHV(f, d, "f");
    OK(setfl(f, F_IMMUTABLE));
    EXPECT_ERRNO(unlink(f), EPERM);
    EXPECT_ERRNO(rename(f, kt_path(d, "g")), EPERM);
    EXPECT_ERRNO(link(f, kt_path(d, "h")), EPERM);
    /* Nor replaced by a rename over it. */
    CHECK(kt_write_file(kt_path(d, "other"), "o", 1) == 0, "write other");
    EXPECT_ERRNO(rename(kt_path(d, "other"), f), EPERM);
    OK(access(f, F_OK));
    EXPECT_ERRNO(access(kt_path(d, "g"), F_OK), ENOENT);
    EXPECT_ERRNO(access(kt_path(d, "h"), F_OK), ENOENT);
}

TEST(immutable_file_attributes_do_not_change)
{
    SETUP(d);
    PATHV(f, d, "f");
    OK(setfl(f, F_IMMUTABLE));
    EXPECT_ERRNO(chmod(f, 0600), EPERM);
    EXPECT_ERRNO(chown(f, 1, 1), EPERM);
    struct timespec ts[2] = {{1000, 0}, {1000, 0}};
    EXPECT_ERRNO(utimensat(AT_FDCWD, f, ts, 0), EPERM);
    EXPECT_ERRNO(utimensat(AT_FDCWD, f, NULL, 0), EPERM);
    EXPECT_ERRNO(setxattr(f, "user.kt", "v", 1, 0), EPERM);
    EXPECT_ERRNO(removexattr(f, "user.kt"), EPERM);
    struct stat st;
    OK(stat(f, &st));
    EXPECT_EQ(st.st_mode & 07777, 0644);
}

TEST(immutable_directory_refuses_new_and_removed_names)
{
    SETUP(d);
    PATHV(s, d, "sub");
    OK(mkdir(s, 0755));
    CHECK(kt_write_file(kt_path(s, "in"), "x", 1) == 0, "write in");
    OK(setfl(s, F_IMMUTABLE));
    EXPECT_ERRNO(open(kt_path(s, "new"), O_WRONLY | O_CREAT, 0644), EPERM);
    EXPECT_ERRNO(mkdir(kt_path(s, "dir"), 0755), EPERM);
    EXPECT_ERRNO(symlink("x", kt_path(s, "sym")), EPERM);
    EXPECT_ERRNO(link(kt_path(d, "f"), kt_path(s, "ln")), EPERM);
    EXPECT_ERRNO(rename(kt_path(d, "f"), kt_path(s, "moved")), EPERM);
    EXPECT_ERRNO(unlink(kt_path(s, "in")), EPERM);
    EXPECT_ERRNO(rmdir(s), EPERM);
    /* Files inside are not immutable themselves. */
    int fd = OK(open(kt_path(s, "in"), O_WRONLY));
    EXPECT_EQ(write(fd, "y", 1), 1);
    close(fd);
}

TEST(unix_socket_bind_in_immutable_directory_is_eperm)
{
    SETUP(d);
    PATHV(s, d, "sub");
    OK(mkdir(s, 0755));
    OK(setfl(s, F_IMMUTABLE));
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(s) + 6 > sizeof a.sun_path)
        SKIP("path too long for sun_path");
    memcpy(a.sun_path, s, strlen(s));
    memcpy(a.sun_path + strlen(s), "/sock", 6);
    int fd = OK(socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(bind(fd, (struct sockaddr *)&a, sizeof a), EPERM);
    close(fd);
}

TEST(append_only_file_opens_for_writing_only_with_o_append)
{
    SETUP(d);
    PATHV(f, d, "f");
    OK(setfl(f, F_APPEND));
    EXPECT_ERRNO(open(f, O_WRONLY), EPERM);
    EXPECT_ERRNO(open(f, O_RDWR), EPERM);
    EXPECT_ERRNO(open(f, O_WRONLY | O_APPEND | O_TRUNC), EPERM);
    EXPECT_ERRNO(open(f, O_RDONLY | O_TRUNC), EPERM);
    OK(access(f, W_OK));
    int fd = OK(open(f, O_WRONLY | O_APPEND));
    EXPECT_EQ(write(fd, " world", 6), 6);
    close(fd);
    fd = OK(open(f, O_RDWR | O_APPEND));
    char buf[16] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 11);
    CHECK(memcmp(buf, "hello world", 11) == 0, "content %s", buf);
    close(fd);
    fd = OK(open(f, O_RDONLY));
    close(fd);
}

TEST(append_only_keeps_o_append_on_fcntl)
{
    SETUP(d);
    PATHV(f, d, "f");
    int fd = OK(open(f, O_WRONLY | O_APPEND));
    OK(setfl(f, F_APPEND));
    EXPECT_ERRNO(fcntl(fd, F_SETFL, 0), EPERM);
    EXPECT_ERRNO(fcntl(fd, F_SETFL, O_NONBLOCK), EPERM);
    OK(fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK));
    EXPECT_EQ(fcntl(fd, F_GETFL) & (O_APPEND | O_NONBLOCK), O_APPEND | O_NONBLOCK);
    close(fd);
    /* Any change of O_APPEND is refused, adding it too. */
    fd = OK(open(f, O_RDONLY));
    EXPECT_ERRNO(fcntl(fd, F_SETFL, O_APPEND), EPERM);
    OK(fcntl(fd, F_SETFL, O_NONBLOCK));
    close(fd);
}

TEST(append_only_file_refuses_truncate_and_most_fallocate)
{
    SETUP(d);
    PATHV(f, d, "f");
    int fd = OK(open(f, O_RDWR));
    OK(setfl(f, F_APPEND));
    EXPECT_ERRNO(truncate(f, 0), EPERM);
    EXPECT_ERRNO(truncate(f, 100), EPERM);
    EXPECT_ERRNO(ftruncate(fd, 0), EPERM);
    EXPECT_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1), EPERM);
    long r = fallocate(fd, 0, 0, 8192);
    if (r != 0 && errno == EOPNOTSUPP)
        SKIP("no fallocate here");
    EXPECT_EQ(r, 0);
    /* (Linux's own ext2 driver has no fallocate at all; Kestrel's ext2 has
     * no KEEP_SIZE.) */
    r = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 16384);
    CHECK(r == 0 || errno == EOPNOTSUPP, "KEEP_SIZE: errno %s", kt_errstr(errno));
    struct stat st;
    OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 8192);
    close(fd);
}

TEST(append_only_file_cannot_be_removed_renamed_or_linked)
{
    SETUP(d);
    PATHV(f, d, "f");
    OK(setfl(f, F_APPEND));
    EXPECT_ERRNO(unlink(f), EPERM);
    EXPECT_ERRNO(rename(f, kt_path(d, "g")), EPERM);
    EXPECT_ERRNO(link(f, kt_path(d, "h")), EPERM);
    EXPECT_ERRNO(chmod(f, 0600), EPERM);
    EXPECT_ERRNO(chown(f, 1, 1), EPERM);
    struct timespec ts[2] = {{1000, 0}, {1000, 0}};
    EXPECT_ERRNO(utimensat(AT_FDCWD, f, ts, 0), EPERM);
    EXPECT_ERRNO(setxattr(f, "user.kt", "v", 1, 0), EPERM);
    /* One time now, the other left: still times given. */
    struct timespec now_omit[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    EXPECT_ERRNO(utimensat(AT_FDCWD, f, now_omit, 0), EPERM);
    /* "touch" only writes the times now: allowed. */
    OK(utimensat(AT_FDCWD, f, NULL, 0));
    struct timespec now_now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    OK(utimensat(AT_FDCWD, f, now_now, 0));
}

TEST(append_only_directory_keeps_its_names)
{
    SETUP(d);
    PATHV(s, d, "sub");
    OK(mkdir(s, 0755));
    CHECK(kt_write_file(kt_path(s, "in"), "x", 1) == 0, "write in");
    OK(mkdir(kt_path(s, "subdir"), 0755));
    OK(setfl(s, F_APPEND));
    /* Names come in... */
    int fd = OK(open(kt_path(s, "new"), O_WRONLY | O_CREAT, 0644));
    close(fd);
    OK(rename(kt_path(d, "f"), kt_path(s, "moved")));
    /* ...but do not leave. */
    EXPECT_ERRNO(unlink(kt_path(s, "in")), EPERM);
    EXPECT_ERRNO(rmdir(kt_path(s, "subdir")), EPERM);
    EXPECT_ERRNO(rename(kt_path(s, "in"), kt_path(d, "out")), EPERM);
    EXPECT_ERRNO(rename(kt_path(s, "in"), kt_path(s, "renamed")), EPERM);
    /* The files in it are not append-only. */
    fd = OK(open(kt_path(s, "in"), O_WRONLY | O_TRUNC));
    close(fd);
}

TEST(noatime_file_keeps_its_atime)
{
    SETUP(d);
    PATHV(f, d, "f");
    /* atime older than mtime: relatime would update it on a read. */
    struct timespec ts[2] = {{1000, 0}, {UTIME_OMIT, UTIME_OMIT}};
    OK(utimensat(AT_FDCWD, f, ts, 0));
    OK(setfl(f, F_NOATIME));
    char buf[8];
    int fd = OK(open(f, O_RDONLY));
    EXPECT_EQ(read(fd, buf, sizeof buf), 5);
    close(fd);
    struct stat st;
    OK(stat(f, &st));
    EXPECT_EQ(st.st_atim.tv_sec, 1000);
}

/* statx's stx_attributes (offset 8) and stx_attributes_mask (offset 56). */
static int statx_attrs(const char *path, unsigned long long *attrs,
                       unsigned long long *mask)
{
    unsigned char buf[256] __attribute__((aligned(8)));
    if (syscall(SYS_statx, AT_FDCWD, path, 0, 0x7ffu, buf) != 0)
        return -1;
    memcpy(attrs, buf + 8, 8);
    memcpy(mask, buf + 56, 8);
    return 0;
}

TEST(statx_reports_immutable_append_and_nodump)
{
    SETUP(d);
    PATHV(f, d, "f");
    unsigned long long attrs, mask;
    OK(statx_attrs(f, &attrs, &mask));
    EXPECT_EQ(mask & (F_IMMUTABLE | F_APPEND | F_NODUMP),
              F_IMMUTABLE | F_APPEND | F_NODUMP);
    EXPECT_EQ(attrs & (F_IMMUTABLE | F_APPEND | F_NODUMP), 0);
    OK(setfl(f, F_IMMUTABLE | F_APPEND | F_NODUMP));
    OK(statx_attrs(f, &attrs, &mask));
    EXPECT_EQ(attrs & (F_IMMUTABLE | F_APPEND | F_NODUMP),
              F_IMMUTABLE | F_APPEND | F_NODUMP);
}

struct unpriv_arg {
    const char *mine;   /* owned by uid 1000 */
    const char *rootf;  /* owned by root */
};

static void unpriv_child(void *p)
{
    struct unpriv_arg *a = p;
    if (syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        _exit(10);
    int fl = 0;
    /* Anyone may read them. */
    if (getfl(a->rootf, &fl) != 0)
        _exit(11);
    /* Setting: only the owner... */
    errno = 0;
    if (setfl(a->rootf, F_NODUMP) != -1 || errno != EPERM)
        _exit(12);
    if (setfl(a->mine, F_NODUMP) != 0)
        _exit(13);
    /* ...and IMMUTABLE or APPEND only with CAP_LINUX_IMMUTABLE. */
    errno = 0;
    if (setfl(a->mine, F_NODUMP | F_IMMUTABLE) != -1 || errno != EPERM)
        _exit(14);
    errno = 0;
    if (setfl(a->mine, F_APPEND) != -1 || errno != EPERM)
        _exit(15);
    if (getfl(a->mine, &fl) != 0 || (fl & (F_NODUMP | F_IMMUTABLE)) != F_NODUMP)
        _exit(16);
    _exit(0);
}

TEST(setflags_needs_owner_and_cap_linux_immutable)
{
    SETUP(d);
    OK(chmod(d, 0755));
    PATHV(mine, d, "mine");
    CHECK(kt_write_file(mine, "m", 1) == 0, "write mine");
    OK(chown(mine, 1000, 1000));
    PATHV(rootf, d, "f");
    struct unpriv_arg a = {mine, rootf};
    int st = kt_in_child(unpriv_child, &a);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void unpriv_clear_child(void *p)
{
    const char *f = p;
    if (syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        _exit(10);
    /* Flags already set may stay as they are without the capability (ext4
     * also refuses other changes while immutable). */
    int fl = 0;
    if (getfl(f, &fl) != 0 || !(fl & F_IMMUTABLE))
        _exit(11);
    if (setfl(f, fl) != 0)
        _exit(12);
    errno = 0;
    if (setfl(f, fl & ~F_IMMUTABLE) != -1 || errno != EPERM)
        _exit(13);
    _exit(0);
}

TEST(unprivileged_owner_may_keep_but_not_clear_immutable)
{
    SETUP(d);
    OK(chmod(d, 0755));
    PATHV(mine, d, "mine");
    CHECK(kt_write_file(mine, "m", 1) == 0, "write mine");
    OK(chown(mine, 1000, 1000));
    OK(setfl(mine, F_IMMUTABLE));
    int st = kt_in_child(unpriv_clear_child, (void *)mine);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* struct fsxattr (FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR) and struct file_attr
 * (file_getattr, file_setattr: Linux 6.17): the FS_XFLAG_* bits mirror the
 * inode flags; ext2, ext4 without project quotas and tmpfs keep no project
 * ids (EOPNOTSUPP; ext2 and tmpfs refuse extent size hints too, ext4 ignores
 * them, so the cases ask for both). */
struct kt_fsxattr {
    uint32_t xflags, extsize, nextents, projid, cowextsize;
    unsigned char pad[8];
};
struct kt_file_attr {
    uint64_t xflags;
    uint32_t extsize, nextents, projid, cowextsize;
};
#define KT_FS_IOC_FSGETXATTR 0x801c581f
#define KT_FS_IOC_FSSETXATTR 0x401c5820
#define X_IMMUTABLE 0x8
#define X_NODUMP 0x80
#define X_EXTSIZE 0x800
#define NR_file_getattr 468
#define NR_file_setattr 469

TEST(fsxattr_ioctls_mirror_inode_flags)
{
    SETUP(d);
    PATHV(f, d, "f");
    int fd = OK(open(f, O_RDONLY));
    struct kt_fsxattr x;
    memset(&x, 0xff, sizeof x);
    OK(ioctl(fd, KT_FS_IOC_FSGETXATTR, &x));
    EXPECT_EQ(x.xflags & (X_IMMUTABLE | X_NODUMP), 0);
    EXPECT_EQ(x.projid, 0);
    x.xflags = X_NODUMP;
    OK(ioctl(fd, KT_FS_IOC_FSSETXATTR, &x));
    int fl = 0;
    OK(getfl(f, &fl));
    EXPECT_EQ(fl & F_NODUMP, F_NODUMP);
    OK(setfl(f, fl | F_IMMUTABLE));
    OK(ioctl(fd, KT_FS_IOC_FSGETXATTR, &x));
    EXPECT_EQ(x.xflags & (X_IMMUTABLE | X_NODUMP), X_IMMUTABLE | X_NODUMP);
    x.xflags = 0;
    OK(ioctl(fd, KT_FS_IOC_FSSETXATTR, &x));
    OK(getfl(f, &fl));
    EXPECT_EQ(fl & (F_IMMUTABLE | F_NODUMP), 0);
    /* What only xfs keeps; an unknown xflag; a bad pointer. */
    x.xflags = X_EXTSIZE;
    x.extsize = 128 * 4096;
    x.projid = 16;
    EXPECT_ERRNO(ioctl(fd, KT_FS_IOC_FSSETXATTR, &x), EOPNOTSUPP);
    memset(&x, 0, sizeof x);
    x.projid = 7;
    EXPECT_ERRNO(ioctl(fd, KT_FS_IOC_FSSETXATTR, &x), EOPNOTSUPP);
    EXPECT_ERRNO(ioctl(fd, KT_FS_IOC_FSGETXATTR, BADPTR), EFAULT);
    EXPECT_ERRNO(ioctl(fd, KT_FS_IOC_FSSETXATTR, BADPTR), EFAULT);
    close(fd);
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(ioctl(p[0], KT_FS_IOC_FSGETXATTR, &x), ENOTTY);
    close(p[0]);
    close(p[1]);
}

TEST(file_getattr_and_setattr_by_path)
{
    SETUP(d);
    PATHV(f, d, "f");
    struct kt_file_attr a;
    memset(&a, 0, sizeof a);
    errno = 0;
    if (syscall(NR_file_getattr, AT_FDCWD, f, &a, sizeof a, 0) == -1 && errno == ENOSYS)
        SKIP("no file_getattr (Linux before 6.17)");
    a.xflags = X_NODUMP;
    OK(syscall(NR_file_setattr, AT_FDCWD, f, &a, sizeof a, 0));
    memset(&a, 0xff, sizeof a);
    OK(syscall(NR_file_getattr, AT_FDCWD, f, &a, sizeof a, 0));
    EXPECT_EQ(a.xflags & X_NODUMP, X_NODUMP);
    EXPECT_EQ(a.projid, 0);
    int fd = OK(open(f, O_RDONLY));
    memset(&a, 0, sizeof a);
    OK(syscall(NR_file_getattr, fd, "", &a, sizeof a, AT_EMPTY_PATH));
    EXPECT_EQ(a.xflags & X_NODUMP, X_NODUMP);
    a.xflags = 0;
    OK(syscall(NR_file_setattr, fd, NULL, &a, sizeof a, AT_EMPTY_PATH));
    int fl = 0;
    OK(getfl(f, &fl));
    EXPECT_EQ(fl & F_NODUMP, 0);
    /* Errors, in Linux's order. */
    EXPECT_ERRNO(syscall(NR_file_setattr, AT_FDCWD, f, &a, sizeof a, 0x2), EINVAL);
    EXPECT_ERRNO(syscall(NR_file_setattr, AT_FDCWD, f, &a, 4097, 0), E2BIG);
    EXPECT_ERRNO(syscall(NR_file_setattr, AT_FDCWD, f, &a, 23, 0), EINVAL);
    EXPECT_ERRNO(syscall(NR_file_setattr, AT_FDCWD, "nonexistent", NULL, sizeof a, 0), EFAULT);
    EXPECT_ERRNO(syscall(NR_file_getattr, AT_FDCWD, "nonexistent", NULL, sizeof a, 0), ENOENT);
    EXPECT_ERRNO(syscall(NR_file_getattr, AT_FDCWD, f, NULL, sizeof a, 0), EFAULT);
    a.xflags = 0x40000000;
    EXPECT_ERRNO(syscall(NR_file_setattr, AT_FDCWD, "nonexistent", &a, sizeof a, 0), EINVAL);
    a.xflags = 0;
    EXPECT_ERRNO(syscall(NR_file_setattr, -1, "x", &a, sizeof a, 0), EBADF);
    EXPECT_ERRNO(syscall(NR_file_setattr, AT_FDCWD, NULL, &a, sizeof a, 0), EFAULT);
    EXPECT_ERRNO(syscall(NR_file_getattr, fd, "x", &a, sizeof a, 0), ENOTDIR);
    EXPECT_ERRNO(syscall(NR_file_getattr, fd, "", &a, sizeof a, 0), ENOENT);
    a.xflags = X_EXTSIZE;
    a.extsize = 128 * 4096;
    a.projid = 16;
    EXPECT_ERRNO(syscall(NR_file_setattr, AT_FDCWD, f, &a, sizeof a, 0), EOPNOTSUPP);
    /* A larger structure: bytes past the known ones must be zero. */
    struct {
        struct kt_file_attr a;
        char more[8];
    } big;
    memset(&big, 0, sizeof big);
    big.more[3] = 1;
    EXPECT_ERRNO(syscall(NR_file_setattr, AT_FDCWD, f, &big, sizeof big, 0), E2BIG);
    memset(&big, 0xff, sizeof big);
    OK(syscall(NR_file_getattr, AT_FDCWD, f, &big, sizeof big, 0));
    CHECK(big.more[0] == 0 && big.more[7] == 0, "bytes past the structure are cleared");
    close(fd);
}

int main(void)
{
    KT_BEGIN();
    RUNF(fsxattr_ioctls_mirror_inode_flags);
    RUNF(file_getattr_and_setattr_by_path);
    RUNF(getflags_setflags_round_trip);
    RUNF(setflags_changes_ctime);
    RUNF(directories_have_flags_too);
    RUNF(new_file_inherits_nodump_from_directory);
    RUNF(getflags_bad_fd_is_ebadf);
    RUNF(flags_on_o_path_fd_is_ebadf);
    RUNF(flags_bad_pointer_is_efault);
    RUNF(flags_on_pipe_and_socket_are_enotty);
    RUNF(setflags_on_pipe_reads_the_pointer_first);
    RUNF(flags_on_procfs_are_enotty);
    RUNF(tmpfs_refuses_flags_it_does_not_keep);
    RUNF(immutable_file_refuses_opening_for_write);
    RUNF(immutable_file_refuses_truncate_and_fallocate);
    RUNF(copy_file_range_into_immutable_file_is_eperm);
    RUNF(immutable_file_cannot_be_removed_renamed_or_linked);
    RUNF(immutable_file_attributes_do_not_change);
    RUNF(immutable_directory_refuses_new_and_removed_names);
    RUNF(unix_socket_bind_in_immutable_directory_is_eperm);
    RUNF(append_only_file_opens_for_writing_only_with_o_append);
    RUNF(append_only_keeps_o_append_on_fcntl);
    RUNF(append_only_file_refuses_truncate_and_most_fallocate);
    RUNF(append_only_file_cannot_be_removed_renamed_or_linked);
    RUNF(append_only_directory_keeps_its_names);
    RUNF(noatime_file_keeps_its_atime);
    RUNF(statx_reports_immutable_append_and_nodump);
    RUNF(setflags_needs_owner_and_cap_linux_immutable);
    RUNF(unprivileged_owner_may_keep_but_not_clear_immutable);
    return KT_END();
}
