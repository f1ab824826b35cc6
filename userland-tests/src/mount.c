/*
 * mount.c - what a mount's options do: a tmpfs root's mode and owner, and
 * read-only mounts (MS_RDONLY, remount, read-only bind mounts), whose every
 * change to the file system is EROFS (Linux's mnt_want_write).
 *
 * Each case mounts a tmpfs on a kt_tmpdir() and unmounts it after, so it runs
 * as root on any Linux and on Kestrel.
 */
#define KT_AREA "mount"
#include "kt.h"

#include <time.h>

#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <sys/time.h>

/* ---- helpers ------------------------------------------------------------ */

/* The options field of dir's line in /proc/mounts (the last line for it), or
 * "" if there is none. */
static const char *mount_options(const char *dir)
{
    static char opts[256];
    char line[1024], src[256], path[512], type[64], o[256];
    opts[0] = 0;
    FILE *f = fopen("/proc/mounts", "r");
    if (!f)
        return opts;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%255s %511s %63s %255s", src, path, type, o) == 4 && !strcmp(path, dir))
            snprintf(opts, sizeof opts, "%s", o);
    fclose(f);
    return opts;
}

/* Whether the comma-separated list has the option. */
static int has_opt(const char *opts, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = opts; *p;) {
        if (!strncmp(p, want, n) && (p[n] == ',' || p[n] == 0))
            return 1;
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    return 0;
}

/*
 * A tmpfs on a fresh directory holding a file "f" (0644, "data"), a directory
 * "d", a FIFO "p" and a symlink "l" -> "f", remounted read-only the way LTP's
 * needs_rofs does. NULL on failure.
 */
static const char *ro_tmpfs(void)
{
    const char *dir = kt_tmpdir();
    if (!dir || mount("tmpfs", dir, "tmpfs", 0, NULL) != 0)
        return NULL;
    if (kt_write_file(kt_path(dir, "f"), "data", 4) != 0 || mkdir(kt_path(dir, "d"), 0755) != 0 ||
        mkfifo(kt_path(dir, "p"), 0666) != 0 || symlink("f", kt_path(dir, "l")) != 0 ||
        mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL) != 0) {
        umount2(dir, MNT_DETACH);
        return NULL;
    }
    return dir;
}

/* A case on ro_tmpfs(): the body gets dir; the tmpfs is unmounted after it,
 * whatever the body's checks found. */
#define ROTEST(name)                                                          \
    static void name##_body(const char *kt_case, const char *dir);            \
    TEST(name)                                                                \
    {                                                                         \
        const char *dir = ro_tmpfs();                                         \
        CHECK(dir, "cannot set up a read-only tmpfs: %s", kt_errstr(errno));  \
        name##_body(kt_case, dir);                                            \
        umount2(dir, MNT_DETACH);                                             \
    }                                                                         \
    static void name##_body(const char *kt_case, const char *dir)

/* ---- a tmpfs root ------------------------------------------------------- */

static void root_mode_inner(const char *kt_case, const char *dir)
{
    struct stat st;
    OK(stat(dir, &st));
    CHECK(st.st_mode == (S_IFDIR | 01777), "tmpfs root mode %#o, expected %#o", st.st_mode,
          S_IFDIR | 01777);
    EXPECT_EQ(st.st_uid, getuid());
    EXPECT_EQ(st.st_gid, getgid());
}

TEST(tmpfs_root_is_1777_by_default) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(chmod(dir, 0700));
    OK(mount("tmpfs", dir, "tmpfs", 0, NULL));
    root_mode_inner(kt_case, dir);
    umount2(dir, MNT_DETACH);
}

static void mode_option_inner(const char *kt_case, const char *dir)
{
    struct stat st;
    OK(mount("tmpfs", dir, "tmpfs", 0, "mode=0750"));
    int r = stat(dir, &st);
    umount2(dir, MNT_DETACH);
    OK(r);
    CHECK(st.st_mode == (S_IFDIR | 0750), "mode=0750: root mode %#o", st.st_mode);
    OK(mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=2711"));
    r = stat(dir, &st);
    umount2(dir, MNT_DETACH);
    OK(r);
    CHECK(st.st_mode == (S_IFDIR | 02711), "mode=2711: root mode %#o", st.st_mode);
    /* The last mode= wins. */
    OK(mount("tmpfs", dir, "tmpfs", 0, "mode=700,mode=755"));
    r = stat(dir, &st);
    umount2(dir, MNT_DETACH);
    OK(r);
    CHECK(st.st_mode == (S_IFDIR | 0755), "mode=700,mode=755: root mode %#o", st.st_mode);
}

TEST(tmpfs_mode_option_sets_the_root_mode) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    mode_option_inner(kt_case, dir);
}

TEST(tmpfs_uid_and_gid_options_own_the_root) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    struct stat st;
    OK(mount("tmpfs", dir, "tmpfs", 0, "uid=1234,gid=5678,mode=700"));
    int r = stat(dir, &st);
    umount2(dir, MNT_DETACH);
    OK(r);
    EXPECT_EQ(st.st_uid, 1234);
    EXPECT_EQ(st.st_gid, 5678);
    CHECK(st.st_mode == (S_IFDIR | 0700), "root mode %#o", st.st_mode);
}

TEST(tmpfs_bad_mode_or_uid_is_einval) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    EXPECT_ERRNO(mount("tmpfs", dir, "tmpfs", 0, "mode=9"), EINVAL);
    EXPECT_ERRNO(mount("tmpfs", dir, "tmpfs", 0, "mode=rwx"), EINVAL);
    EXPECT_ERRNO(mount("tmpfs", dir, "tmpfs", 0, "uid=-1"), EINVAL);
    EXPECT_ERRNO(mount("tmpfs", dir, "tmpfs", 0, "uid=4294967295"), EINVAL);
}

TEST(ramfs_root_is_0755_unless_mode_says) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    struct stat st;
    OK(mount("ramfs", dir, "ramfs", 0, NULL));
    int r = stat(dir, &st);
    umount2(dir, MNT_DETACH);
    OK(r);
    CHECK(st.st_mode == (S_IFDIR | 0755), "ramfs root mode %#o", st.st_mode);
    OK(mount("ramfs", dir, "ramfs", 0, "mode=1777"));
    r = stat(dir, &st);
    umount2(dir, MNT_DETACH);
    OK(r);
    CHECK(st.st_mode == (S_IFDIR | 01777), "ramfs mode=1777: root mode %#o", st.st_mode);
}

TEST(devtmpfs_mounted_again_shows_the_device_nodes) {
    /* Linux's devtmpfs is one instance: a new mount shows what /dev has. */
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("devtmpfs", dir, "devtmpfs", 0, NULL));
    struct stat st;
    int r = stat(kt_path(dir, "null"), &st);
    int e = errno;
    umount2(dir, MNT_DETACH);
    CHECK(r == 0, "stat null on the new devtmpfs: %s", kt_errstr(e));
    CHECK(S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3,
          "null is mode %#o, device %u:%u", st.st_mode, major(st.st_rdev), minor(st.st_rdev));
}

TEST(noexec_mount_refuses_exec_and_executable_mappings) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("tmpfs", dir, "tmpfs", MS_NOEXEC, NULL));
    const char *script = kt_path(dir, "s");
    int w = kt_write_file(script, "#!/bin/sh\nexit 0\n", 17);
    int c = chmod(script, 0755);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)script, NULL};
        execve(script, argv, NULL);
        _exit(errno == EACCES ? 42 : 43);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int fd = open(script, O_RDONLY);
    void *x = fd >= 0 ? mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    int e = errno;
    void *r = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (fd >= 0)
        close(fd);
    if (r != MAP_FAILED)
        munmap(r, 4096);
    umount2(dir, MNT_DETACH);
    CHECK(w == 0 && c == 0, "making the script failed");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42, "exec from noexec: status %#x", status);
    CHECK(x == MAP_FAILED && e == EPERM, "PROT_EXEC mapping: %s, expected EPERM", kt_errstr(e));
    CHECK(r != MAP_FAILED, "a plain read mapping still works");
}

/* Reads a new file on a tmpfs mounted with `flags` whose access time is set
 * to `atime` (modification time a little after the epoch): the access time
 * stat then shows, or -1. */
static time_t atime_after_read_on(unsigned long flags, time_t atime)
{
    const char *dir = kt_tmpdir();
    if (!dir || mount("tmpfs", dir, "tmpfs", flags, NULL) != 0)
        return -1;
    const char *f = kt_path(dir, "f");
    struct timespec ts[2] = {{atime, 0}, {1000, 0}};
    char c;
    struct stat st;
    int fd = -1;
    time_t r = -1;
    if (kt_write_file(f, "x", 1) == 0 && utimensat(AT_FDCWD, f, ts, 0) == 0 &&
        (fd = open(f, O_RDONLY)) >= 0 && read(fd, &c, 1) == 1 && stat(f, &st) == 0)
        r = st.st_atime;
    if (fd >= 0)
        close(fd);
    umount2(dir, MNT_DETACH);
    return r;
}

TEST(noatime_mount_never_updates_access_times) {
    EXPECT_EQ(atime_after_read_on(MS_NOATIME, 2000), 2000);
}

TEST(strictatime_mount_updates_access_times_on_every_read) {
    /* An access time in the future is after the modification and the change:
     * relatime would leave it, strictatime sets it to now. */
    time_t future = time(NULL) + 3600;
    time_t now = time(NULL);
    time_t a = atime_after_read_on(MS_STRICTATIME, future);
    CHECK(a >= now - 1 && a < future, "atime %ld (set %ld, now %ld)", (long)a, (long)future, (long)now);
    EXPECT_EQ(atime_after_read_on(MS_RELATIME, future), future);
}

TEST(nodev_mount_refuses_opening_device_nodes) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("tmpfs", dir, "tmpfs", MS_NODEV, NULL));
    const char *node = kt_path(dir, "null");
    int m = mknod(node, S_IFCHR | 0666, makedev(1, 3));
    int e1 = 0, e2 = 0;
    int fd = open(node, O_RDWR);
    if (fd < 0)
        e1 = errno;
    else
        close(fd);
    int pfd = open(node, O_PATH);
    if (pfd < 0)
        e2 = errno;
    else
        close(pfd);
    umount2(dir, MNT_DETACH);
    CHECK(m == 0, "mknod failed");
    CHECK(fd < 0 && e1 == EACCES, "open of a device on nodev: %s, expected EACCES", kt_errstr(e1));
    CHECK(pfd >= 0, "O_PATH: %s", kt_errstr(e2));
}

TEST(ms_move_moves_a_mount_with_its_files) {
    const char *a = kt_tmpdir();
    const char *b = kt_tmpdir();
    CHECK(a && b, "kt_tmpdir failed");
    OK(mount("tmpfs", a, "tmpfs", 0, NULL));
    int w = kt_write_file(kt_path(a, "f"), "x", 1);
    int r = mount(a, b, NULL, MS_MOVE, NULL);
    int e = errno;
    struct stat st;
    int in_b = stat(kt_path(b, "f"), &st) == 0;
    int in_a = stat(kt_path(a, "f"), &st) == 0;
    const char *o = mount_options(b);
    int listed = o != NULL;
    umount2(r == 0 ? b : a, MNT_DETACH);
    CHECK(w == 0, "writing the file failed");
    CHECK(r == 0, "MS_MOVE: %s", kt_errstr(e));
    CHECK(in_b && !in_a, "the file is under the new place (%d) and not the old (%d)", in_b, in_a);
    CHECK(listed, "/proc/mounts does not list the new place");
}

TEST(ms_move_of_a_directory_that_is_no_mount_is_einval) {
    const char *a = kt_tmpdir();
    const char *b = kt_tmpdir();
    CHECK(a && b, "kt_tmpdir failed");
    EXPECT_ERRNO(mount(a, b, NULL, MS_MOVE, NULL), EINVAL);
    EXPECT_ERRNO(mount("/nonexistent-kt", b, NULL, MS_MOVE, NULL), ENOENT);
}

/* MNT_EXPIRE marks a mount (EAGAIN); a second call unmounts it unless it was
 * used in between, which takes the mark away. */
TEST(umount2_mnt_expire_marks_then_unmounts_unless_used_between) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("tmpfs", dir, "tmpfs", 0, NULL));
    errno = 0;
    long bad1 = umount2(dir, MNT_EXPIRE | MNT_FORCE);
    int e1 = errno;
    errno = 0;
    long bad2 = umount2(dir, MNT_EXPIRE | MNT_DETACH);
    int e2 = errno;
    errno = 0;
    long first = umount2(dir, MNT_EXPIRE);
    int e3 = errno;
    struct stat st;
    stat(kt_path(dir, "."), &st); /* a use of the mount */
    errno = 0;
    long used = umount2(dir, MNT_EXPIRE);
    int e4 = errno;
    long second = umount2(dir, MNT_EXPIRE);
    if (second != 0)
        umount2(dir, MNT_DETACH);
    CHECK(bad1 == -1 && e1 == EINVAL, "MNT_EXPIRE|MNT_FORCE: %ld %s", bad1, kt_errstr(e1));
    CHECK(bad2 == -1 && e2 == EINVAL, "MNT_EXPIRE|MNT_DETACH: %ld %s", bad2, kt_errstr(e2));
    CHECK(first == -1 && e3 == EAGAIN, "first MNT_EXPIRE: %ld %s", first, kt_errstr(e3));
    CHECK(used == -1 && e4 == EAGAIN, "MNT_EXPIRE after a use: %ld %s", used, kt_errstr(e4));
    EXPECT_EQ(second, 0);
    /* Unmounted: a third call finds no mount there. */
    EXPECT_ERRNO(umount2(dir, MNT_EXPIRE), EINVAL);
}

/* A /proc/PID/fd link to an O_PATH descriptor of a magic link leads to that
 * link itself: nothing mounts on it (ENOENT, not ENOTDIR). */
TEST(bind_mount_onto_a_magic_link_itself_is_enoent) {
    if (getuid() != 0)
        SKIP("needs root");
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    int fd = OK(open(kt_path(dir, "foo"), O_RDWR | O_CREAT, 0600));
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int pfd = open(path, O_PATH | O_NOFOLLOW);
    if (pfd < 0) {
        close(fd);
        SKIP("no /proc/self/fd: %s", kt_errstr(errno));
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", pfd);
    EXPECT_ERRNO(mount(dir, path, "", MS_BIND, NULL), ENOENT);
    close(pfd);
    close(fd);
}

/* MS_NOSYMFOLLOW: symlinks on the mount are not followed (ELOOP); they can
 * still be read, and those elsewhere are followed as ever. */
TEST(ms_nosymfollow_refuses_to_follow_the_mounts_symlinks) {
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    if (mount("tmpfs", dir, "tmpfs", MS_NOSYMFOLLOW, NULL) != 0)
        SKIP("mount: %s", kt_errstr(errno));
    int ok = kt_write_file(kt_path(dir, "f"), "x", 1) == 0 && symlink("f", kt_path(dir, "l")) == 0;
    errno = 0;
    int fd = open(kt_path(dir, "l"), O_RDONLY);
    int e = errno;
    if (fd >= 0)
        close(fd);
    char buf[8] = {0};
    long n = readlink(kt_path(dir, "l"), buf, sizeof buf);
    int nofollow_ok = open(kt_path(dir, "l"), O_PATH | O_NOFOLLOW);
    if (nofollow_ok >= 0)
        close(nofollow_ok);
    struct statfs sf = {0};
    statfs(dir, &sf);
    umount2(dir, MNT_DETACH);
    CHECK(ok, "setup failed");
    CHECK(fd == -1 && e == ELOOP, "open through the symlink: %d %s", fd, kt_errstr(e));
    EXPECT_EQ(n, 1);
    CHECK(buf[0] == 'f', "readlink gave '%s'", buf);
    CHECK(nofollow_ok >= 0, "O_PATH|O_NOFOLLOW of the link itself: %s", kt_errstr(errno));
    CHECK(sf.f_flags & 0x2000 /* ST_NOSYMFOLLOW */, "statfs f_flags %#lx", (long)sf.f_flags);
}

/* ---- read-only mounts --------------------------------------------------- */

ROTEST(ro_mount_refuses_new_names_with_erofs) {
    EXPECT_ERRNO(open(kt_path(dir, "new"), O_CREAT | O_WRONLY, 0644), EROFS);
    EXPECT_ERRNO(open(kt_path(dir, "new"), O_CREAT | O_RDONLY, 0644), EROFS);
    EXPECT_ERRNO(creat(kt_path(dir, "new"), 0644), EROFS);
    EXPECT_ERRNO(mkdir(kt_path(dir, "new"), 0755), EROFS);
    EXPECT_ERRNO(mknod(kt_path(dir, "new"), S_IFREG | 0644, 0), EROFS);
    EXPECT_ERRNO(mkfifo(kt_path(dir, "new"), 0644), EROFS);
    EXPECT_ERRNO(symlink("f", kt_path(dir, "new")), EROFS);
    EXPECT_ERRNO(link(kt_path(dir, "f"), kt_path(dir, "new")), EROFS);
    /* A directory as the source: the read-only new name comes first. */
    EXPECT_ERRNO(link(kt_path(dir, "d"), kt_path(dir, "new")), EROFS);
    EXPECT_ERRNO(mkdir(kt_path(dir, "d/new"), 0755), EROFS);
    EXPECT_ERRNO(access(kt_path(dir, "new"), F_OK), ENOENT);
}

ROTEST(ro_mount_existing_name_is_eexist_before_erofs) {
    EXPECT_ERRNO(mkdir(kt_path(dir, "d"), 0755), EEXIST);
    EXPECT_ERRNO(mkdir(kt_path(dir, "f"), 0755), EEXIST);
    EXPECT_ERRNO(open(kt_path(dir, "f"), O_CREAT | O_EXCL | O_RDONLY, 0644), EEXIST);
    EXPECT_ERRNO(symlink("x", kt_path(dir, "f")), EEXIST);
    EXPECT_ERRNO(mknod(kt_path(dir, "p"), S_IFIFO | 0644, 0), EEXIST);
    EXPECT_ERRNO(link(kt_path(dir, "f"), kt_path(dir, "l")), EEXIST);
    /* O_CREAT of an existing file, read-only: opens it. */
    int fd = OK(open(kt_path(dir, "f"), O_CREAT | O_RDONLY, 0644));
    close(fd);
}

ROTEST(ro_mount_refuses_removing_and_renaming) {
    EXPECT_ERRNO(unlink(kt_path(dir, "f")), EROFS);
    EXPECT_ERRNO(unlink(kt_path(dir, "l")), EROFS);
    EXPECT_ERRNO(rmdir(kt_path(dir, "d")), EROFS);
    EXPECT_ERRNO(unlinkat(AT_FDCWD, kt_path(dir, "d"), AT_REMOVEDIR), EROFS);
    /* The mount is asked before the name is looked up. */
    EXPECT_ERRNO(unlink(kt_path(dir, "missing")), EROFS);
    EXPECT_ERRNO(rmdir(kt_path(dir, "missing")), EROFS);
    EXPECT_ERRNO(rename(kt_path(dir, "f"), kt_path(dir, "g")), EROFS);
    EXPECT_ERRNO(rename(kt_path(dir, "f"), kt_path(dir, "d/f")), EROFS);
    /* . and .. are refused for what they are first. */
    EXPECT_ERRNO(rmdir(kt_path(dir, "d/.")), EINVAL);
    struct stat st;
    OK(stat(kt_path(dir, "f"), &st));
    OK(lstat(kt_path(dir, "l"), &st));
}

ROTEST(ro_mount_refuses_opening_files_for_writing) {
    EXPECT_ERRNO(open(kt_path(dir, "f"), O_WRONLY), EROFS);
    EXPECT_ERRNO(open(kt_path(dir, "f"), O_RDWR), EROFS);
    EXPECT_ERRNO(open(kt_path(dir, "f"), O_RDONLY | O_TRUNC), EROFS);
    EXPECT_ERRNO(open(kt_path(dir, "f"), O_WRONLY | O_APPEND), EROFS);
    EXPECT_ERRNO(open(kt_path(dir, "l"), O_RDWR), EROFS);
    EXPECT_ERRNO(open(kt_path(dir, "d"), O_RDWR), EISDIR);
    int fd = OK(open(kt_path(dir, "f"), O_RDONLY));
    char buf[8] = {0};
    long n = read(fd, buf, sizeof buf);
    EXPECT_ERRNO(write(fd, "x", 1), EBADF);
    close(fd);
    EXPECT_EQ(n, 4);
    CHECK(!memcmp(buf, "data", 4), "read \"%.4s\"", buf);
    struct stat st;
    OK(stat(kt_path(dir, "f"), &st));
    EXPECT_EQ(st.st_size, 4);
}

ROTEST(ro_mount_fifo_may_still_be_opened_for_writing) {
    /* Devices, FIFOs and sockets are not the file system's content. */
    int fd = OK(open(kt_path(dir, "p"), O_RDWR | O_NONBLOCK));
    long n = write(fd, "x", 1);
    close(fd);
    EXPECT_EQ(n, 1);
    OK(access(kt_path(dir, "p"), W_OK));
}

ROTEST(ro_mount_refuses_attribute_changes) {
    const char *f = kt_path(dir, "f");
    EXPECT_ERRNO(chmod(f, 0600), EROFS);
    EXPECT_ERRNO(fchmodat(AT_FDCWD, f, 0600, 0), EROFS);
    EXPECT_ERRNO(chown(f, 1, 1), EROFS);
    EXPECT_ERRNO(lchown(kt_path(dir, "l"), 1, 1), EROFS);
    EXPECT_ERRNO(fchownat(AT_FDCWD, f, 1, 1, 0), EROFS);
    /* chown to -1, -1 changes nothing but still asks for write access. */
    EXPECT_ERRNO(chown(f, -1, -1), EROFS);
    EXPECT_ERRNO(utimes(f, NULL), EROFS);
    struct timespec ts[2] = {{1, 0}, {2, 0}};
    EXPECT_ERRNO(utimensat(AT_FDCWD, f, ts, 0), EROFS);
    EXPECT_ERRNO(truncate(f, 0), EROFS);
    EXPECT_ERRNO(truncate(kt_path(dir, "d"), 0), EISDIR);
    EXPECT_ERRNO(setxattr(f, "user.k", "v", 1, 0), EROFS);
    EXPECT_ERRNO(removexattr(f, "user.k"), EROFS);
    /* The same through a descriptor opened for reading. */
    int fd = OK(open(f, O_RDONLY));
    errno = 0;
    int e1 = fchmod(fd, 0600) == -1 ? errno : 0;
    int e2 = fchown(fd, 1, 1) == -1 ? errno : 0;
    int e3 = futimens(fd, NULL) == -1 ? errno : 0;
    int e4 = fsetxattr(fd, "user.k", "v", 1, 0) == -1 ? errno : 0;
    int e5 = ftruncate(fd, 0) == -1 ? errno : 0;
    close(fd);
    CHECK(e1 == EROFS, "fchmod: %s, expected EROFS", kt_errstr(e1));
    CHECK(e2 == EROFS, "fchown: %s, expected EROFS", kt_errstr(e2));
    CHECK(e3 == EROFS, "futimens: %s, expected EROFS", kt_errstr(e3));
    CHECK(e4 == EROFS, "fsetxattr: %s, expected EROFS", kt_errstr(e4));
    /* ftruncate needs a descriptor open for writing first. */
    CHECK(e5 == EINVAL || e5 == EBADF, "ftruncate: %s, expected EINVAL", kt_errstr(e5));
    struct stat st;
    OK(stat(f, &st));
    CHECK((st.st_mode & 07777) == 0644 && st.st_uid == 0 && st.st_size == 4,
          "mode %#o uid %d size %lld changed", st.st_mode, (int)st.st_uid, (long long)st.st_size);
    /* utimensat with both times omitted does nothing, so asks nothing. */
    struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    OK(utimensat(AT_FDCWD, f, omit, 0));
}

ROTEST(ro_mount_access_w_ok_is_erofs) {
    EXPECT_ERRNO(access(kt_path(dir, "f"), W_OK), EROFS);
    EXPECT_ERRNO(access(kt_path(dir, "d"), W_OK | X_OK), EROFS);
    EXPECT_ERRNO(faccessat(AT_FDCWD, kt_path(dir, "l"), W_OK, 0), EROFS);
    OK(access(kt_path(dir, "f"), R_OK));
    OK(access(kt_path(dir, "d"), R_OK | X_OK));
    OK(access(kt_path(dir, "f"), F_OK));
}

static void as_nobody(void *arg)
{
    const char *dir = arg;
    if (setgid(65534) != 0 || setuid(65534) != 0)
        _exit(10);
    /* The read-only mount answers before any permission check. */
    if (mkdir(kt_path(dir, "d/new"), 0755) != -1 || errno != EROFS)
        _exit(11);
    if (chmod(kt_path(dir, "f"), 0777) != -1 || errno != EROFS)
        _exit(12);
    if (open(kt_path(dir, "f"), O_WRONLY) != -1 || errno != EROFS)
        _exit(13);
    if (unlink(kt_path(dir, "f")) != -1 || errno != EROFS)
        _exit(14);
    if (chown(kt_path(dir, "f"), 65534, 65534) != -1 || errno != EROFS)
        _exit(15);
    if (access(kt_path(dir, "f"), W_OK) != -1 || errno != EROFS)
        _exit(16);
    _exit(0);
}

ROTEST(ro_mount_erofs_comes_before_permission_checks) {
    int st = kt_in_child(as_nobody, (void *)dir);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child %s (10 setuid, 11 mkdir, 12 chmod, 13 open, 14 unlink, 15 chown, 16 access)",
          kt_status(st));
}

ROTEST(ro_mount_shows_ro_in_proc_mounts_and_statfs) {
    struct statfs sfs;
    OK(statfs(dir, &sfs));
    CHECK(sfs.f_flags & ST_RDONLY, "statfs f_flags %#lx lacks ST_RDONLY", (long)sfs.f_flags);
    struct statvfs svfs;
    OK(statvfs(kt_path(dir, "f"), &svfs));
    CHECK(svfs.f_flag & ST_RDONLY, "statvfs f_flag %#lx lacks ST_RDONLY", (long)svfs.f_flag);
    int fd = OK(open(kt_path(dir, "f"), O_RDONLY));
    int r = fstatfs(fd, &sfs);
    close(fd);
    OK(r);
    CHECK(sfs.f_flags & ST_RDONLY, "fstatfs f_flags %#lx lacks ST_RDONLY", (long)sfs.f_flags);
    const char *o = mount_options(dir);
    CHECK(has_opt(o, "ro") && !has_opt(o, "rw"), "/proc/mounts options \"%s\", expected ro", o);
    /* The file system holding it is still writable. */
    OK(statfs("/tmp", &sfs));
    CHECK(!(sfs.f_flags & ST_RDONLY), "/tmp statfs f_flags %#lx has ST_RDONLY", (long)sfs.f_flags);
}

ROTEST(remount_rw_makes_it_writable_again) {
    OK(mount("tmpfs", dir, "tmpfs", MS_REMOUNT, NULL));
    int fd = OK(open(kt_path(dir, "new"), O_CREAT | O_WRONLY, 0644));
    close(fd);
    OK(unlink(kt_path(dir, "new")));
    struct statfs sfs;
    OK(statfs(dir, &sfs));
    CHECK(!(sfs.f_flags & ST_RDONLY), "statfs f_flags %#lx after remount rw", (long)sfs.f_flags);
    const char *o = mount_options(dir);
    CHECK(has_opt(o, "rw"), "/proc/mounts options \"%s\", expected rw", o);
    /* And read-only once more. */
    OK(mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL));
    EXPECT_ERRNO(mkdir(kt_path(dir, "new"), 0755), EROFS);
}

TEST(remount_ro_with_a_file_open_for_writing_is_ebusy) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("tmpfs", dir, "tmpfs", 0, NULL));
    int fd = open(kt_path(dir, "f"), O_CREAT | O_WRONLY, 0644);
    errno = 0;
    int r = mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL);
    int e = errno;
    if (fd >= 0)
        close(fd);
    /* With it closed, the remount goes through. */
    int r2 = mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL);
    int e2 = errno;
    umount2(dir, MNT_DETACH);
    CHECK(fd >= 0, "open: %s", kt_errstr(e));
    CHECK(r == -1 && e == EBUSY, "remount ro with a writer: %d %s, expected EBUSY", r, kt_errstr(e));
    CHECK(r2 == 0, "remount ro after close: %s", kt_errstr(e2));
}

TEST(remount_of_a_directory_that_is_no_mount_is_einval) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mkdir(kt_path(dir, "sub"), 0755));
    EXPECT_ERRNO(mount("none", kt_path(dir, "sub"), NULL, MS_REMOUNT | MS_RDONLY, NULL), EINVAL);
    EXPECT_ERRNO(mount("none", kt_path(dir, "sub"), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL),
                 EINVAL);
}

static void bind_inner(const char *kt_case, const char *a, const char *b)
{
    OK(kt_write_file(kt_path(a, "f"), "x", 1));
    OK(mount(a, b, NULL, MS_BIND, NULL));
    /* A new bind mount is writable: MS_RDONLY takes a remount. */
    int fd = OK(open(kt_path(b, "f"), O_WRONLY));
    close(fd);
    OK(mount(NULL, b, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
    EXPECT_ERRNO(open(kt_path(b, "f"), O_WRONLY), EROFS);
    EXPECT_ERRNO(mkdir(kt_path(b, "new"), 0755), EROFS);
    EXPECT_ERRNO(unlink(kt_path(b, "f")), EROFS);
    const char *o = mount_options(b);
    CHECK(has_opt(o, "ro"), "/proc/mounts options of the bind mount \"%s\", expected ro", o);
    struct statfs sfs;
    OK(statfs(b, &sfs));
    CHECK(sfs.f_flags & ST_RDONLY, "statfs of the bind mount: f_flags %#lx", (long)sfs.f_flags);
    /* The same files through the original mount stay writable. */
    fd = OK(open(kt_path(a, "f"), O_WRONLY | O_APPEND));
    long n = write(fd, "y", 1);
    close(fd);
    EXPECT_EQ(n, 1);
    OK(mkdir(kt_path(a, "new"), 0755));
    struct stat st;
    OK(stat(kt_path(b, "new"), &st));
    OK(stat(kt_path(b, "f"), &st));
    EXPECT_EQ(st.st_size, 2);
    o = mount_options(a);
    CHECK(has_opt(o, "rw"), "/proc/mounts options of the source \"%s\", expected rw", o);
    /* A bind mount of a read-only mount starts read-only. */
    OK(mount(b, kt_path(a, "new"), NULL, MS_BIND, NULL));
    int e = mkdir(kt_path(a, "new/x"), 0755) == -1 ? errno : 0;
    umount2(kt_path(a, "new"), MNT_DETACH);
    CHECK(e == EROFS, "mkdir in a bind of a read-only mount: %s, expected EROFS", kt_errstr(e));
}

/* A file bind-mounted onto a file (as containers bind /etc/resolv.conf):
 * the target's name shows the source, and it can be neither unlinked nor
 * renamed over while mounted (EBUSY); after umount the old file is back. */
TEST(bind_mount_of_a_file_onto_a_file_shows_the_source) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    char src[256], dst[256], other[256];
    snprintf(src, sizeof src, "%s", kt_path(d, "src"));
    snprintf(dst, sizeof dst, "%s", kt_path(d, "dst"));
    snprintf(other, sizeof other, "%s", kt_path(d, "other"));
    OK(kt_write_file(src, "source", 6));
    OK(kt_write_file(dst, "old", 3));
    OK(kt_write_file(other, "o", 1));
    OK(mount(src, dst, NULL, MS_BIND, NULL));
    char buf[16] = {0};
    int fd = open(dst, O_RDWR);
    long n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    long w = fd >= 0 ? pwrite(fd, "S", 1, 0) : -1;
    if (fd >= 0)
        close(fd);
    struct stat s1, s2;
    int st_ok = stat(src, &s1) == 0 && stat(dst, &s2) == 0;
    int ue = unlink(dst) == -1 ? errno : 0;
    int re = rename(dst, kt_path(d, "moved")) == -1 ? errno : 0;
    int re2 = rename(other, dst) == -1 ? errno : 0;
    const char *o = mount_options(dst);
    int listed = o != NULL && *o;
    int um = umount(dst);
    char after[16] = {0}, srcnow[16] = {0};
    fd = open(dst, O_RDONLY);
    if (fd >= 0) {
        (void)!read(fd, after, sizeof after - 1);
        close(fd);
    }
    fd = open(src, O_RDONLY);
    if (fd >= 0) {
        (void)!read(fd, srcnow, sizeof srcnow - 1);
        close(fd);
    }
    if (um != 0)
        umount2(dst, MNT_DETACH);
    EXPECT_EQ(n, 6);
    CHECK(!strcmp(buf, "source"), "read through the mount point: \"%s\"", buf);
    EXPECT_EQ(w, 1);
    CHECK(st_ok && s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev,
          "stat of the mount point is not the source's");
    CHECK(ue == EBUSY, "unlink of the mount point: %s, expected EBUSY", kt_errstr(ue));
    CHECK(re == EBUSY, "rename of the mount point: %s, expected EBUSY", kt_errstr(re));
    CHECK(re2 == EBUSY, "rename over the mount point: %s, expected EBUSY", kt_errstr(re2));
    CHECK(listed, "/proc/mounts does not list the file mount");
    EXPECT_EQ(um, 0);
    CHECK(!strcmp(after, "old"), "after umount the file reads \"%s\", expected \"old\"", after);
    CHECK(!strcmp(srcnow, "Source"), "the write did not reach the source: \"%s\"", srcnow);
    OK(unlink(dst));
}

TEST(bind_mount_between_a_file_and_a_directory_is_enotdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    char f[256], sub[256];
    snprintf(f, sizeof f, "%s", kt_path(d, "f"));
    snprintf(sub, sizeof sub, "%s", kt_path(d, "sub"));
    OK(kt_write_file(f, "x", 1));
    OK(mkdir(sub, 0755));
    EXPECT_ERRNO(mount(f, sub, NULL, MS_BIND, NULL), ENOTDIR);
    EXPECT_ERRNO(mount(sub, f, NULL, MS_BIND, NULL), ENOTDIR);
    EXPECT_ERRNO(mount("tmpfs", f, "tmpfs", 0, NULL), ENOTDIR);
}

TEST(ms_move_of_a_file_mount_goes_to_a_file_only) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    char src[256], a[256], b[256], sub[256];
    snprintf(src, sizeof src, "%s", kt_path(d, "src"));
    snprintf(a, sizeof a, "%s", kt_path(d, "a"));
    snprintf(b, sizeof b, "%s", kt_path(d, "b"));
    snprintf(sub, sizeof sub, "%s", kt_path(d, "sub"));
    OK(kt_write_file(src, "S", 1));
    OK(kt_write_file(a, "A", 1));
    OK(kt_write_file(b, "B", 1));
    OK(mkdir(sub, 0755));
    OK(mount(src, a, NULL, MS_BIND, NULL));
    int de = mount(a, sub, NULL, MS_MOVE, NULL) == -1 ? errno : 0;
    int mv = mount(a, b, NULL, MS_MOVE, NULL);
    int mve = errno;
    char ra[4] = {0}, rb[4] = {0};
    int fd = open(a, O_RDONLY);
    if (fd >= 0) {
        (void)!read(fd, ra, 1);
        close(fd);
    }
    fd = open(b, O_RDONLY);
    if (fd >= 0) {
        (void)!read(fd, rb, 1);
        close(fd);
    }
    umount2(mv == 0 ? b : a, MNT_DETACH);
    CHECK(de == EINVAL, "MS_MOVE of a file mount onto a directory: %s, expected EINVAL",
          kt_errstr(de));
    CHECK(mv == 0, "MS_MOVE onto a file: %s", kt_errstr(mve));
    CHECK(!strcmp(ra, "A") && !strcmp(rb, "S"), "after the move a reads \"%s\", b \"%s\"", ra, rb);
}

TEST(bind_mount_remounted_ro_is_read_only_and_its_source_is_not) {
    const char *a = kt_tmpdir(), *b = kt_tmpdir();
    CHECK(a && b, "kt_tmpdir failed");
    OK(mount("tmpfs", a, "tmpfs", 0, NULL));
    bind_inner(kt_case, a, b);
    umount2(b, MNT_DETACH);
    umount2(a, MNT_DETACH);
}

TEST(mount_with_ms_rdonly_is_read_only_from_the_start) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("tmpfs", dir, "tmpfs", MS_RDONLY, NULL));
    int e = mkdir(kt_path(dir, "new"), 0755) == -1 ? errno : 0;
    const char *o = mount_options(dir);
    int ro = has_opt(o, "ro");
    umount2(dir, MNT_DETACH);
    CHECK(e == EROFS, "mkdir: %s, expected EROFS", kt_errstr(e));
    CHECK(ro, "/proc/mounts options \"%s\", expected ro", o);
    /* "ro" in the data string is the same. */
    OK(mount("tmpfs", dir, "tmpfs", 0, "ro"));
    e = mkdir(kt_path(dir, "new"), 0755) == -1 ? errno : 0;
    umount2(dir, MNT_DETACH);
    CHECK(e == EROFS, "mkdir on a tmpfs mounted with \"ro\": %s, expected EROFS", kt_errstr(e));
}


/* ---- mprotect and noexec -------------------------------------------------- */

TEST(mprotect_adding_exec_to_a_noexec_file_mapping_is_eacces) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("tmpfs", dir, "tmpfs", MS_NOEXEC, NULL));
    char page[4096] = {1};
    int w = kt_write_file(kt_path(dir, "f"), page, sizeof page);
    int fd = open(kt_path(dir, "f"), O_RDWR);
    void *priv = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    void *shared = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    int e1 = -1, e2 = -1, r3 = -1;
    if (priv != MAP_FAILED) {
        e1 = mprotect(priv, 4096, PROT_READ | PROT_EXEC) == 0 ? 0 : errno;
        /* Other changes still work. */
        r3 = mprotect(priv, 4096, PROT_READ | PROT_WRITE);
        munmap(priv, 4096);
    }
    if (shared != MAP_FAILED) {
        e2 = mprotect(shared, 4096, PROT_READ | PROT_EXEC) == 0 ? 0 : errno;
        munmap(shared, 4096);
    }
    if (fd >= 0)
        close(fd);
    umount2(dir, MNT_DETACH);
    CHECK(w == 0 && fd >= 0, "making the file failed");
    CHECK(priv != MAP_FAILED && shared != MAP_FAILED, "mapping the file failed");
    CHECK(e1 == EACCES, "mprotect PROT_EXEC of a private mapping: %s, expected EACCES",
          kt_errstr(e1));
    CHECK(e2 == EACCES, "mprotect PROT_EXEC of a shared mapping: %s, expected EACCES",
          kt_errstr(e2));
    CHECK(r3 == 0, "mprotect PROT_WRITE of the private mapping failed");
}

TEST(mprotect_adding_exec_to_a_file_mapping_elsewhere_works) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("tmpfs", dir, "tmpfs", 0, NULL));
    char page[4096] = {1};
    int w = kt_write_file(kt_path(dir, "f"), page, sizeof page);
    int fd = open(kt_path(dir, "f"), O_RDONLY);
    void *m = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    int r = m != MAP_FAILED ? mprotect(m, 4096, PROT_READ | PROT_EXEC) : -1;
    int e = errno;
    if (m != MAP_FAILED)
        munmap(m, 4096);
    if (fd >= 0)
        close(fd);
    umount2(dir, MNT_DETACH);
    CHECK(w == 0 && m != MAP_FAILED, "making or mapping the file failed");
    CHECK(r == 0, "mprotect PROT_EXEC: %s", kt_errstr(e));
}

/* ---- umount2 MNT_DETACH -------------------------------------------------- */

TEST(detach_of_a_busy_mount_keeps_its_open_files_working) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("tmpfs", dir, "tmpfs", 0, NULL));
    int fd = open(kt_path(dir, "f"), O_RDWR | O_CREAT, 0644);
    int r = umount2(dir, MNT_DETACH);
    int e = errno;
    struct stat st;
    int gone = stat(kt_path(dir, "f"), &st) == -1 && errno == ENOENT;
    int listed = mount_options(dir)[0] != 0;
    char buf[8] = {0};
    ssize_t wr = fd >= 0 ? write(fd, "later", 5) : -1;
    ssize_t rd = fd >= 0 ? pread(fd, buf, sizeof buf, 0) : -1;
    if (fd >= 0)
        close(fd);
    if (r != 0)
        umount2(dir, MNT_DETACH);
    CHECK(fd >= 0, "creating the file failed");
    CHECK(r == 0, "umount2 MNT_DETACH: %s", kt_errstr(e));
    CHECK(gone, "the file is still found by name");
    CHECK(!listed, "/proc/mounts still lists %s", dir);
    CHECK(wr == 5 && rd == 5 && !memcmp(buf, "later", 5), "write %zd, read %zd \"%s\"", wr, rd,
          buf);
}

TEST(detach_takes_the_mounts_under_it) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("tmpfs", dir, "tmpfs", 0, NULL));
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    int m = mkdir(sub, 0755) == 0 ? mount("tmpfs", sub, "tmpfs", 0, NULL) : -1;
    int r = umount2(dir, MNT_DETACH);
    int e = errno;
    int top = mount_options(dir)[0] != 0;
    int under = mount_options(sub)[0] != 0;
    if (r != 0) {
        umount2(sub, MNT_DETACH);
        umount2(dir, MNT_DETACH);
    }
    CHECK(m == 0, "mounting the inner tmpfs failed");
    CHECK(r == 0, "umount2 MNT_DETACH: %s", kt_errstr(e));
    CHECK(!top && !under, "/proc/mounts still lists the mount (%d) or the one under it (%d)", top,
          under);
}

/* ---- pivot_root ------------------------------------------------------------ */

/* A child's failure message, in memory its parent shares. */
static char *ns_msg;

#define NS_CHECK(cond, ...)                                                   \
    do {                                                                      \
        if (!(cond)) {                                                        \
            snprintf(ns_msg, 512, __VA_ARGS__);                               \
            return 1;                                                         \
        }                                                                     \
    } while (0)

#define NS_ERRNO(expr, err)                                                   \
    do {                                                                      \
        errno = 0;                                                            \
        long r_ = (long)(expr);                                               \
        NS_CHECK(r_ == -1 && errno == (err), "%s: %ld %s, expected %s", #expr, r_,            \
                 kt_errstr(errno), kt_errstr(err));                           \
    } while (0)

static long pivot_root(const char *new_root, const char *put_old)
{
    return syscall(SYS_pivot_root, new_root, put_old);
}

/* Runs fn(dir) in a child in a mount namespace of its own with every mount
 * private (pivot_root refuses shared ones), so nothing it mounts or pivots
 * reaches the caller. Returns fn's result (0: passed), or -1 when the
 * namespace could not be made (ns_msg says why). */
static int in_new_mount_ns(int (*fn)(const char *), const char *dir)
{
    if (!ns_msg) {
        ns_msg = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (ns_msg == MAP_FAILED) {
            ns_msg = NULL;
            return -1;
        }
    }
    ns_msg[0] = 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
            snprintf(ns_msg, 512, "a new mount namespace: %s", kt_errstr(errno));
            _exit(2);
        }
        _exit(fn(dir));
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    if (!WIFEXITED(st)) {
        snprintf(ns_msg, 512, "child %s", kt_status(st));
        return 1;
    }
    return WEXITSTATUS(st) == 2 ? -1 : WEXITSTATUS(st);
}

#define RUN_IN_NS(fn, dir)                                                    \
    do {                                                                      \
        if (getuid() != 0)                                                    \
            SKIP("needs root");                                               \
        int r_ = in_new_mount_ns(fn, dir);                                    \
        if (r_ == -1)                                                         \
            SKIP("%s", ns_msg ? ns_msg : "no shared memory");                 \
        CHECK(r_ == 0, "%s", ns_msg);                                         \
    } while (0)

/* Lines of /proc/self/mounts (paths and types) into out; their count. */
static int mount_table(const char *file, char paths[][128], char types[][32], int max)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    char line[1024], src[256];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f))
        if (sscanf(line, "%255s %127s %31s", src, paths[n], types[n]) == 3)
            n++;
    fclose(f);
    return n;
}

static int pivot_errors(const char *dir)
{
    char new[256], other[256];
    snprintf(new, sizeof new, "%s/new", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    NS_CHECK(mount("tmpfs", new, "tmpfs", 0, NULL) == 0 && mount("tmpfs", other, "tmpfs", 0, NULL) == 0,
             "mounting the tmpfs: %s", kt_errstr(errno));
    NS_CHECK(mkdir(kt_path(new, "old"), 0755) == 0 && mkdir(kt_path(new, "sub"), 0755) == 0 &&
                 kt_write_file(kt_path(new, "f"), "x", 1) == 0,
             "making the directories failed");
    NS_ERRNO(pivot_root("/nonexistent-kt", kt_path(new, "old")), ENOENT);
    NS_ERRNO(pivot_root(kt_path(new, "f"), kt_path(new, "old")), ENOTDIR);
    NS_ERRNO(pivot_root(new, kt_path(new, "f")), ENOTDIR);
    NS_ERRNO(pivot_root(new, "/nonexistent-kt"), ENOENT);
    /* On the root's own mount: EBUSY, for new_root or put_old. */
    NS_ERRNO(pivot_root("/", "/"), EBUSY);
    NS_ERRNO(pivot_root(new, "/"), EBUSY);
    /* new_root not a mount point, put_old not under new_root: EINVAL. */
    NS_ERRNO(pivot_root(kt_path(new, "sub"), kt_path(new, "sub")), EINVAL);
    NS_ERRNO(pivot_root(new, other), EINVAL);
    /* Nothing changed. */
    struct stat st;
    NS_CHECK(stat(kt_path(new, "f"), &st) == 0, "the new root's file is gone");
    return 0;
}

TEST(pivot_root_refuses_bad_roots_in_linux_order) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mkdir(kt_path(dir, "new"), 0755));
    OK(mkdir(kt_path(dir, "other"), 0755));
    RUN_IN_NS(pivot_errors, dir);
}

static void pivot_unprivileged(void *arg)
{
    (void)arg;
    if (syscall(SYS_setresuid, 1001, 1001, 1001) != 0)
        _exit(3);
    /* EPERM comes before the paths are looked at. */
    _exit(pivot_root("/nonexistent-kt", "/nonexistent-kt") == -1 && errno == EPERM ? 0 : 1);
}

TEST(pivot_root_without_cap_sys_admin_is_eperm) {
    if (getuid() != 0)
        SKIP("needs root");
    int st = kt_in_child(pivot_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s (1: not EPERM)", kt_status(st));
}

static int pivot_moves_root(const char *dir)
{
    char new[256], old_dir[300];
    snprintf(new, sizeof new, "%s/new", dir);
    NS_CHECK(mount("tmpfs", new, "tmpfs", 0, NULL) == 0, "mounting the tmpfs: %s",
             kt_errstr(errno));
    NS_CHECK(mkdir(kt_path(new, "old"), 0755) == 0 && mkdir(kt_path(new, "sub"), 0755) == 0 &&
                 kt_write_file(kt_path(new, "marker"), "new", 3) == 0,
             "making the new root's files failed");
    /* A sibling in the namespace, at the old root: it moves too. */
    int go[2], done[2];
    NS_CHECK(pipe(go) == 0 && pipe(done) == 0, "pipe failed");
    pid_t sib = fork();
    if (sib == 0) {
        char c, cwd[256] = "";
        struct stat st;
        if (chdir("/") != 0 || read(go[0], &c, 1) != 1)
            _exit(10);
        int ok = stat("/marker", &st) == 0 && getcwd(cwd, sizeof cwd) && !strcmp(cwd, "/");
        c = ok ? 'y' : 'n';
        _exit(write(done[1], &c, 1) == 1 ? 0 : 11);
    }
    NS_CHECK(chdir(kt_path(new, "sub")) == 0, "chdir failed");
    NS_CHECK(pivot_root(new, kt_path(new, "old")) == 0, "pivot_root: %s", kt_errstr(errno));
    char c = 'g', answer = 0;
    NS_CHECK(write(go[1], &c, 1) == 1 && read(done[0], &answer, 1) == 1, "sibling lost");
    waitpid(sib, NULL, 0);
    struct stat st;
    char cwd[PATH_MAX] = "";
    NS_CHECK(stat("/marker", &st) == 0, "/marker: %s", kt_errstr(errno));
    NS_CHECK(getcwd(cwd, sizeof cwd) && !strcmp(cwd, "/sub"), "getcwd \"%s\", expected /sub",
             cwd);
    NS_CHECK(stat("..", &st) == 0 && stat("../marker", &st) == 0, "\"..\" is not the new root");
    NS_CHECK(answer == 'y', "the sibling's root or cwd did not move to the new root");
    /* The old root is at /old, with its mounts. */
    snprintf(old_dir, sizeof old_dir, "/old%s", dir);
    NS_CHECK(stat(old_dir, &st) == 0, "%.200s: %s", old_dir, kt_errstr(errno));
    char paths[64][128], types[64][32];
    int n = mount_table("/old/proc/self/mounts", paths, types, 64);
    NS_CHECK(n >= 2, "/old/proc/self/mounts: %d lines", n);
    int root_tmpfs = 0, old_at_old = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(paths[i], "/") && !strcmp(types[i], "tmpfs"))
            root_tmpfs = 1;
        if (!strcmp(paths[i], "/old"))
            old_at_old = 1;
    }
    NS_CHECK(root_tmpfs && old_at_old, "/proc/self/mounts: tmpfs at / (%d), old root at /old (%d)",
             root_tmpfs, old_at_old);
    /* Detaching the old root leaves the new root alone. */
    NS_CHECK(umount2("/old", MNT_DETACH) == 0, "umount2 /old: %s", kt_errstr(errno));
    NS_CHECK(stat(old_dir, &st) == -1 && errno == ENOENT, "the old root is still at /old");
    NS_CHECK(stat("/marker", &st) == 0, "/marker after the umount: %s", kt_errstr(errno));
    return 0;
}

TEST(pivot_root_moves_root_and_cwd_and_puts_the_old_root_at_put_old) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mkdir(kt_path(dir, "new"), 0755));
    RUN_IN_NS(pivot_moves_root, dir);
}

static int pivot_dot_dot(const char *dir)
{
    char new[256];
    snprintf(new, sizeof new, "%s/new", dir);
    NS_CHECK(mount("tmpfs", new, "tmpfs", 0, NULL) == 0, "mounting the tmpfs: %s",
             kt_errstr(errno));
    NS_CHECK(kt_write_file(kt_path(new, "marker"), "new", 3) == 0 && mkdir(kt_path(new, "proc"), 0555) == 0,
             "making the new root's files failed");
    NS_CHECK(mount("proc", kt_path(new, "proc"), "proc", 0, NULL) == 0, "mounting proc: %s",
             kt_errstr(errno));
    NS_CHECK(chdir(new) == 0, "chdir failed");
    /* The container idiom: the old root ends up on top of the new one, and a
     * lazy unmount of "." takes it away. */
    NS_CHECK(pivot_root(".", ".") == 0, "pivot_root(\".\", \".\"): %s", kt_errstr(errno));
    NS_CHECK(umount2(".", MNT_DETACH) == 0, "umount2(\".\", MNT_DETACH): %s", kt_errstr(errno));
    NS_CHECK(chdir("/") == 0, "chdir / failed");
    struct stat st;
    char cwd[PATH_MAX] = "";
    NS_CHECK(stat("/marker", &st) == 0, "/marker: %s", kt_errstr(errno));
    NS_CHECK(getcwd(cwd, sizeof cwd) && !strcmp(cwd, "/"), "getcwd \"%s\", expected /", cwd);
    NS_CHECK(stat(dir, &st) == -1 && errno == ENOENT, "%s is still reachable", dir);
    char paths[16][128], types[16][32];
    int n = mount_table("/proc/self/mounts", paths, types, 16);
    NS_CHECK(n == 2 && !strcmp(paths[0], "/") && !strcmp(types[0], "tmpfs") &&
                 !strcmp(paths[1], "/proc") && !strcmp(types[1], "proc"),
             "/proc/self/mounts has %d lines (first %s %s), expected / tmpfs and /proc proc", n,
             n > 0 ? paths[0] : "-", n > 0 ? types[0] : "-");
    return 0;
}

TEST(pivot_root_dot_dot_then_detaching_dot_leaves_only_the_new_root) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mkdir(kt_path(dir, "new"), 0755));
    RUN_IN_NS(pivot_dot_dot, dir);
}

int main(void)
{
    KT_BEGIN();
    RUN(tmpfs_root_is_1777_by_default);
    RUN(bind_mount_onto_a_magic_link_itself_is_enoent);
    RUN(tmpfs_mode_option_sets_the_root_mode);
    RUN(tmpfs_uid_and_gid_options_own_the_root);
    RUN(tmpfs_bad_mode_or_uid_is_einval);
    RUN(ramfs_root_is_0755_unless_mode_says);
    RUN(devtmpfs_mounted_again_shows_the_device_nodes);
    RUN(noexec_mount_refuses_exec_and_executable_mappings);
    RUN(nodev_mount_refuses_opening_device_nodes);
    RUN(noatime_mount_never_updates_access_times);
    RUN(strictatime_mount_updates_access_times_on_every_read);
    RUN(ms_move_moves_a_mount_with_its_files);
    RUN(ms_move_of_a_directory_that_is_no_mount_is_einval);
    RUN(umount2_mnt_expire_marks_then_unmounts_unless_used_between);
    RUN(ms_nosymfollow_refuses_to_follow_the_mounts_symlinks);
    RUN(ro_mount_refuses_new_names_with_erofs);
    RUN(ro_mount_existing_name_is_eexist_before_erofs);
    RUN(ro_mount_refuses_removing_and_renaming);
    RUN(ro_mount_refuses_opening_files_for_writing);
    RUN(ro_mount_fifo_may_still_be_opened_for_writing);
    RUN(ro_mount_refuses_attribute_changes);
    RUN(ro_mount_access_w_ok_is_erofs);
    RUN(ro_mount_erofs_comes_before_permission_checks);
    RUN(ro_mount_shows_ro_in_proc_mounts_and_statfs);
    RUN(remount_rw_makes_it_writable_again);
    RUN(remount_ro_with_a_file_open_for_writing_is_ebusy);
    RUN(remount_of_a_directory_that_is_no_mount_is_einval);
    RUN(bind_mount_of_a_file_onto_a_file_shows_the_source);
    RUN(bind_mount_between_a_file_and_a_directory_is_enotdir);
    RUN(ms_move_of_a_file_mount_goes_to_a_file_only);
    RUN(bind_mount_remounted_ro_is_read_only_and_its_source_is_not);
    RUN(mount_with_ms_rdonly_is_read_only_from_the_start);
    RUN(mprotect_adding_exec_to_a_noexec_file_mapping_is_eacces);
    RUN(mprotect_adding_exec_to_a_file_mapping_elsewhere_works);
    RUN(detach_of_a_busy_mount_keeps_its_open_files_working);
    RUN(detach_takes_the_mounts_under_it);
    RUN(pivot_root_refuses_bad_roots_in_linux_order);
    RUN(pivot_root_without_cap_sys_admin_is_eperm);
    RUN(pivot_root_moves_root_and_cwd_and_puts_the_old_root_at_put_old);
    RUN(pivot_root_dot_dot_then_detaching_dot_leaves_only_the_new_root);
    return KT_END();
}
