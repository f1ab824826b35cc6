/*
 * newmount.c - Linux's new mount API: fsopen, fsconfig (its argument checks
 * and the messages read(2) gives back), fsmount's detached mount and the
 * *at calls through it, move_mount, open_tree, fspick's reconfiguration, and
 * the mount queries statmount and listmount with statx's unique mount id.
 *
 * Every case uses a tmpfs on a kt_tmpdir(), so it runs as root on any Linux
 * (cases skip where the host kernel lacks a call: ENOSYS) and on Kestrel.
 */
#define KT_AREA "newmount"
#include "kt.h"

#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define NR_open_tree 428
#define NR_move_mount 429
#define NR_fsopen 430
#define NR_fsconfig 431
#define NR_fsmount 432
#define NR_fspick 433
#define NR_statmount 457
#define NR_listmount 458

#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 1
#endif
#ifndef FSPICK_CLOEXEC
#define FSPICK_CLOEXEC 1
#endif
#ifndef FSCONFIG_SET_FLAG
#define FSCONFIG_SET_FLAG 0
#endif
#ifndef FSCONFIG_SET_STRING
#define FSCONFIG_SET_STRING 1
#endif
#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef FSCONFIG_CMD_RECONFIGURE
#define FSCONFIG_CMD_RECONFIGURE 7
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 1
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x1
#endif
#ifndef MOUNT_ATTR_NOEXEC
#define MOUNT_ATTR_NOEXEC 0x8
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#endif
#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x200
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#define AT_RECURSIVE_ 0x8000
#define STATX_MNT_ID_UNIQUE_ 0x4000
#ifndef STATMOUNT_SB_BASIC
#define STATMOUNT_SB_BASIC 1
#endif
#ifndef STATMOUNT_MNT_BASIC
#define STATMOUNT_MNT_BASIC 2
#endif
#ifndef STATMOUNT_MNT_POINT
#define STATMOUNT_MNT_POINT 0x10
#endif
#ifndef STATMOUNT_FS_TYPE
#define STATMOUNT_FS_TYPE 0x20
#endif
#ifndef LSMT_ROOT
#define LSMT_ROOT 0xffffffffffffffffULL
#endif
#define TMPFS_MAGIC_ 0x01021994

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
    uint64_t stx_mnt_id;
    uint64_t spare2[13];
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

struct mnt_id_req_ {
    uint32_t size, spare;
    uint64_t mnt_id, param;
};

struct statmount_ {
    uint32_t size, spare1;
    uint64_t mask;
    uint32_t sb_dev_major, sb_dev_minor;
    uint64_t sb_magic;
    uint32_t sb_flags, fs_type;
    uint64_t mnt_id, mnt_parent_id;
    uint32_t mnt_id_old, mnt_parent_id_old;
    uint64_t mnt_attr, mnt_propagation, mnt_peer_group, mnt_master, propagate_from;
    uint32_t mnt_root, mnt_point;
    uint64_t spare2[50];
    char str[];
};

static long fsopen_(const char *fs, unsigned flags) { return syscall(NR_fsopen, fs, flags); }
static long fsconfig_(int fd, unsigned cmd, const char *key, const void *value, int aux)
{
    return syscall(NR_fsconfig, fd, cmd, key, value, aux);
}
static long fsmount_(int fd, unsigned flags, unsigned attr) { return syscall(NR_fsmount, fd, flags, attr); }
static long move_mount_(int fd, const char *from, int tfd, const char *to, unsigned flags)
{
    return syscall(NR_move_mount, fd, from, tfd, to, flags);
}
static long open_tree_(int dfd, const char *path, unsigned flags) { return syscall(NR_open_tree, dfd, path, flags); }
static long fspick_(int dfd, const char *path, unsigned flags) { return syscall(NR_fspick, dfd, path, flags); }

static long statmount_(uint64_t id, uint64_t mask, void *buf, size_t size, unsigned flags)
{
    struct mnt_id_req_ req = {.size = 24, .mnt_id = id, .param = mask};
    return syscall(NR_statmount, &req, buf, size, flags);
}

static long listmount_(uint64_t id, uint64_t last, uint64_t *ids, size_t n)
{
    struct mnt_id_req_ req = {.size = 24, .mnt_id = id, .param = last};
    return syscall(NR_listmount, &req, ids, n, 0);
}

/* A tmpfs context made and created, or -1 (errno set). */
static int tmpfs_created(void)
{
    int fd = fsopen_("tmpfs", FSOPEN_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fsconfig_(fd, FSCONFIG_SET_STRING, "source", "kt-newmount", 0) ||
        fsconfig_(fd, FSCONFIG_SET_STRING, "size", "1m", 0) ||
        fsconfig_(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

#define NEED(call)                                                           \
    do {                                                                     \
        errno = 0;                                                           \
        if ((call) == -1 && errno == ENOSYS)                                 \
            SKIP("%s: ENOSYS on this kernel", #call);                        \
    } while (0)

TEST(fsopen_checks_privilege_flags_and_type) {
    NEED(fsopen_("tmpfs", 0xff));
    EXPECT_ERRNO(fsopen_("tmpfs", 0x2), EINVAL);
    EXPECT_ERRNO(fsopen_("no-such-fs", 0), ENODEV);
    EXPECT_ERRNO(fsopen_((const char *)8, 0), EFAULT);
    pid_t pid = fork();
    if (pid == 0) {
        if (setuid(65534))
            _exit(3);
        _exit(fsopen_("tmpfs", 0) == -1 && errno == EPERM ? 0 : 1);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fsopen as nobody was not EPERM");
}

TEST(fsconfig_checks_its_arguments_per_command) {
    NEED(fsopen_("tmpfs", 0xff));
    int fd = OK(fsopen_("tmpfs", FSOPEN_CLOEXEC));
    EXPECT_ERRNO(fsconfig_(-1, FSCONFIG_SET_FLAG, "ro", NULL, 0), EINVAL);
    EXPECT_ERRNO(fsconfig_(fd, 100, "ro", NULL, 0), EOPNOTSUPP);
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_SET_FLAG, NULL, NULL, 0), EINVAL);
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_SET_FLAG, "ro", "x", 0), EINVAL);
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_SET_FLAG, "ro", NULL, 1), EINVAL);
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_SET_STRING, "source", NULL, 0), EINVAL);
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_CMD_CREATE, "x", NULL, 0), EINVAL);
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 1), EINVAL);
    /* A descriptor that is no context: EINVAL; a closed one EBADF. */
    EXPECT_ERRNO(fsconfig_(0, FSCONFIG_SET_FLAG, "ro", NULL, 0), EINVAL);
    EXPECT_ERRNO(fsconfig_(999, FSCONFIG_SET_FLAG, "ro", NULL, 0), EBADF);
    /* A reconfiguration of a context that is creating: EBUSY. */
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0), EBUSY);
    close(fd);
}

TEST(fsconfig_errors_are_logged_for_read) {
    NEED(fsopen_("tmpfs", 0xff));
    int fd = OK(fsopen_("tmpfs", 0));
    char buf[256];
    EXPECT_ERRNO(read(fd, buf, sizeof buf), ENODATA);
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_SET_STRING, "nope", "1", 0), EINVAL);
    long n = OK(read(fd, buf, sizeof buf - 1));
    buf[n] = 0;
    CHECK(!strcmp(buf, "e tmpfs: Unknown parameter 'nope'\n"), "message \"%s\"", buf);
    OK(fsconfig_(fd, FSCONFIG_SET_STRING, "source", "a", 0));
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_SET_STRING, "source", "b", 0), EINVAL);
    /* Too small a buffer: EMSGSIZE, and the message stays. */
    EXPECT_ERRNO(read(fd, buf, 2), EMSGSIZE);
    n = OK(read(fd, buf, sizeof buf - 1));
    buf[n] = 0;
    CHECK(!strcmp(buf, "e Multiple sources\n"), "message \"%s\"", buf);
    EXPECT_ERRNO(read(fd, buf, sizeof buf), ENODATA);
    /* A bad value of the file system's own option. */
    EXPECT_ERRNO(fsconfig_(fd, FSCONFIG_SET_STRING, "size", "lots", 0), EINVAL);
    close(fd);
}

TEST(fsmount_makes_a_detached_mount_usable_through_its_fd) {
    NEED(fsopen_("tmpfs", 0xff));
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    int fc = OK(tmpfs_created());
    EXPECT_ERRNO(fsmount_(fc, 0x2, 0), EINVAL);
    EXPECT_ERRNO(fsmount_(fc, 0, 0x100), EINVAL);
    EXPECT_ERRNO(fsmount_(999, 0, 0), EBADF);
    EXPECT_ERRNO(fsmount_(0, 0, 0), EINVAL);
    int m = OK(fsmount_(fc, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOEXEC));
    /* Mounted once: a second fsmount is EBUSY. */
    EXPECT_ERRNO(fsmount_(fc, 0, 0), EBUSY);
    int f = OK(openat(m, "made-through-fd", O_CREAT | O_WRONLY, 0644));
    OK(write(f, "hi", 2));
    close(f);
    struct statfs sf;
    OK(fstatfs(m, &sf));
    CHECK(sf.f_type == TMPFS_MAGIC_, "f_type %#lx", (long)sf.f_type);
    CHECK(sf.f_flags & ST_NOEXEC, "f_flags %#lx without ST_NOEXEC", (long)sf.f_flags);
    char b[4];
    EXPECT_ERRNO(read(m, b, 1), EBADF);
    OK(move_mount_(m, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH));
    struct stat st;
    OK(stat(kt_path(dir, "made-through-fd"), &st));
    CHECK(st.st_size == 2, "size %ld", (long)st.st_size);
    close(m);
    close(fc);
    OK(stat(kt_path(dir, "made-through-fd"), &st));
    OK(umount(dir));
    EXPECT_ERRNO(stat(kt_path(dir, "made-through-fd"), &st), ENOENT);
}

TEST(fsmount_before_create_is_einval) {
    NEED(fsopen_("tmpfs", 0xff));
    int fc = OK(fsopen_("tmpfs", 0));
    EXPECT_ERRNO(fsmount_(fc, 0, 0), EINVAL);
    close(fc);
}

TEST(move_mount_checks_flags_paths_and_roots) {
    NEED(fsopen_("tmpfs", 0xff));
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    int fc = OK(tmpfs_created());
    int m = OK(fsmount_(fc, 0, 0));
    close(fc);
    EXPECT_ERRNO(move_mount_(m, "", AT_FDCWD, dir, 0x08), EINVAL);
    EXPECT_ERRNO(move_mount_(-1, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH), EBADF);
    EXPECT_ERRNO(move_mount_(m, "nope", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH), ENOENT);
    EXPECT_ERRNO(move_mount_(m, "", -1, "rel", MOVE_MOUNT_F_EMPTY_PATH), EBADF);
    EXPECT_ERRNO(move_mount_(m, "", AT_FDCWD, kt_path(dir, "nope"), MOVE_MOUNT_F_EMPTY_PATH), ENOENT);
    /* A directory that is no mount's root does not move. */
    OK(mkdir(kt_path(dir, "sub"), 0755));
    EXPECT_ERRNO(move_mount_(AT_FDCWD, kt_path(dir, "sub"), AT_FDCWD, dir, 0), EINVAL);
    close(m);
}

TEST(move_mount_moves_an_attached_mount) {
    NEED(fsopen_("tmpfs", 0xff));
    const char *a = kt_tmpdir(), *b = kt_tmpdir();
    CHECK(a && b, "kt_tmpdir failed");
    OK(mount("none", a, "tmpfs", 0, NULL));
    OK(close(OK(open(kt_path(a, "f"), O_CREAT | O_WRONLY, 0644))));
    OK(move_mount_(AT_FDCWD, a, AT_FDCWD, b, 0));
    struct stat st;
    OK(stat(kt_path(b, "f"), &st));
    EXPECT_ERRNO(stat(kt_path(a, "f"), &st), ENOENT);
    OK(umount(b));
}

TEST(open_tree_clone_attaches_a_copy_and_plain_is_o_path) {
    NEED(open_tree_(AT_FDCWD, "/", 0xffffffff));
    const char *a = kt_tmpdir(), *b = kt_tmpdir();
    CHECK(a && b, "kt_tmpdir failed");
    EXPECT_ERRNO(open_tree_(AT_FDCWD, a, 0xffffffff), EINVAL);
    EXPECT_ERRNO(open_tree_(AT_FDCWD, a, AT_RECURSIVE_), EINVAL);
    EXPECT_ERRNO(open_tree_(-1, "rel", OPEN_TREE_CLONE), EBADF);
    EXPECT_ERRNO(open_tree_(AT_FDCWD, kt_path(a, "nope"), OPEN_TREE_CLONE), ENOENT);
    OK(mount("none", a, "tmpfs", 0, NULL));
    OK(close(OK(open(kt_path(a, "f"), O_CREAT | O_WRONLY, 0644))));
    int p = OK(open_tree_(AT_FDCWD, a, O_CLOEXEC));
    char c;
    EXPECT_ERRNO(read(p, &c, 1), EBADF);
    close(p);
    int t = OK(open_tree_(AT_FDCWD, a, OPEN_TREE_CLONE | O_CLOEXEC));
    OK(move_mount_(t, "", AT_FDCWD, b, MOVE_MOUNT_F_EMPTY_PATH));
    close(t);
    struct stat st;
    OK(stat(kt_path(b, "f"), &st));
    OK(umount(b));
    OK(umount(a));
}

TEST(move_mount_beneath_puts_a_detached_mount_under_the_top) {
    NEED(open_tree_(AT_FDCWD, "/", 0xffffffff));
    const char *a = kt_tmpdir(), *b = kt_tmpdir();
    CHECK(a && b, "kt_tmpdir failed");
    OK(mount("none", a, "tmpfs", 0, NULL));
    OK(mount("none", b, "tmpfs", 0, NULL));
    OK(close(OK(open(kt_path(a, "A"), O_CREAT | O_WRONLY, 0644))));
    OK(close(OK(open(kt_path(b, "B"), O_CREAT | O_WRONLY, 0644))));
    int t = OK(open_tree_(AT_FDCWD, a, OPEN_TREE_CLONE | O_CLOEXEC));
    int to = OK(open(b, O_PATH | O_NOFOLLOW));
    errno = 0;
    if (move_mount_(t, "", to, "", MOVE_MOUNT_BENEATH | MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == -1 &&
        errno == EINVAL) {
        umount(b);
        umount(a);
        SKIP("MOVE_MOUNT_BENEATH: EINVAL (kernel before 6.5)");
    }
    close(t);
    close(to);
    OK(access(kt_path(b, "B"), F_OK));
    EXPECT_ERRNO(access(kt_path(b, "A"), F_OK), ENOENT);
    OK(umount(b));
    OK(access(kt_path(b, "A"), F_OK));
    OK(umount(b));
    OK(umount(a));
}

TEST(fspick_reconfigures_a_mount_read_only_and_back) {
    NEED(fspick_(AT_FDCWD, "/", 0xff));
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    EXPECT_ERRNO(fspick_(AT_FDCWD, dir, 0x10), EINVAL);
    EXPECT_ERRNO(fspick_(-1, "rel", 0), EBADF);
    EXPECT_ERRNO(fspick_(AT_FDCWD, kt_path(dir, "nope"), 0), ENOENT);
    OK(mount("none", dir, "tmpfs", 0, NULL));
    OK(mkdir(kt_path(dir, "sub"), 0755));
    EXPECT_ERRNO(fspick_(AT_FDCWD, kt_path(dir, "sub"), 0), EINVAL);
    int fc = OK(fspick_(AT_FDCWD, dir, FSPICK_CLOEXEC));
    EXPECT_ERRNO(fsconfig_(fc, FSCONFIG_CMD_CREATE, NULL, NULL, 0), EBUSY);
    OK(fsconfig_(fc, FSCONFIG_SET_FLAG, "ro", NULL, 0));
    OK(fsconfig_(fc, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0));
    EXPECT_ERRNO(open(kt_path(dir, "f"), O_CREAT | O_WRONLY, 0644), EROFS);
    OK(fsconfig_(fc, FSCONFIG_SET_FLAG, "rw", NULL, 0));
    OK(fsconfig_(fc, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0));
    OK(close(OK(open(kt_path(dir, "f"), O_CREAT | O_WRONLY, 0644))));
    close(fc);
    OK(umount(dir));
}

TEST(statmount_and_listmount_agree_with_statx) {
    NEED(statmount_(LSMT_ROOT, 0, NULL, 0, 0xff));
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("kt-sm", dir, "tmpfs", MS_RDONLY, NULL));
    struct kt_statx sx, psx;
    OK(sys_statx(AT_FDCWD, dir, 0, STATX_MNT_ID_UNIQUE_, &sx));
    CHECK(sx.stx_mask & STATX_MNT_ID_UNIQUE_, "stx_mask %#x without STATX_MNT_ID_UNIQUE", sx.stx_mask);
    OK(sys_statx(AT_FDCWD, kt_path(dir, ".."), 0, STATX_MNT_ID_UNIQUE_, &psx));
    static char buf[4096];
    struct statmount_ *sm = (struct statmount_ *)buf;
    OK(statmount_(sx.stx_mnt_id, STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC | STATMOUNT_FS_TYPE | STATMOUNT_MNT_POINT,
                  buf, sizeof buf, 0));
    EXPECT_EQ(sm->mask, STATMOUNT_SB_BASIC | STATMOUNT_MNT_BASIC | STATMOUNT_FS_TYPE | STATMOUNT_MNT_POINT);
    EXPECT_EQ(sm->mnt_id, sx.stx_mnt_id);
    EXPECT_EQ(sm->mnt_parent_id, psx.stx_mnt_id);
    EXPECT_EQ(sm->sb_magic, TMPFS_MAGIC_);
    EXPECT_EQ(sm->sb_flags & MS_RDONLY, MS_RDONLY);
    EXPECT_EQ(sm->mnt_attr & MOUNT_ATTR_RDONLY, MOUNT_ATTR_RDONLY);
    EXPECT_EQ(sm->sb_dev_major, sx.stx_dev_major);
    EXPECT_EQ(sm->sb_dev_minor, sx.stx_dev_minor);
    CHECK(!strcmp(sm->str + sm->fs_type, "tmpfs"), "fs_type \"%s\"", sm->str + sm->fs_type);
    CHECK(!strcmp(sm->str + sm->mnt_point, dir), "mnt_point \"%s\"", sm->str + sm->mnt_point);
    /* The errors. */
    EXPECT_ERRNO(statmount_(sx.stx_mnt_id, 0, buf, sizeof buf, 1), EINVAL);
    EXPECT_ERRNO(statmount_(0, 0, buf, sizeof buf, 0), EINVAL);
    EXPECT_ERRNO(statmount_(LSMT_ROOT - 1, 0, buf, sizeof buf, 0), ENOENT);
    EXPECT_ERRNO(statmount_(sx.stx_mnt_id, STATMOUNT_FS_TYPE, buf, sizeof(struct statmount_), 0), EOVERFLOW);
    EXPECT_ERRNO(statmount_(sx.stx_mnt_id, 0, NULL, sizeof buf, 0), EFAULT);
    /* listmount of the parent lists the new mount; of the mount itself, not it. */
    static uint64_t ids[4096];
    long n = OK(listmount_(psx.stx_mnt_id, 0, ids, 4096));
    int seen = 0;
    for (long i = 0; i < n; i++)
        seen |= ids[i] == sx.stx_mnt_id;
    CHECK(seen, "listmount of the parent did not list the mount");
    n = OK(listmount_(sx.stx_mnt_id, 0, ids, 4096));
    for (long i = 0; i < n; i++)
        CHECK(ids[i] != sx.stx_mnt_id, "listmount listed the mount itself");
    EXPECT_ERRNO(listmount_(LSMT_ROOT - 1, 0, ids, 4), ENOENT);
    EXPECT_ERRNO(syscall(NR_listmount, NULL, ids, 4, 0), EFAULT);
    OK(umount(dir));
}

/* In a mount namespace of its own (a child), so nothing reaches the host's
 * shared mounts: a mount on a shared mount's directory appears on its peer,
 * and its unmount takes the copy too. */
TEST(new_mounts_and_unmounts_propagate_to_peers) {
    const char *a = kt_tmpdir(), *b = kt_tmpdir();
    CHECK(a && b, "kt_tmpdir failed");
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
            _exit(2);
        if (mount("none", a, "tmpfs", 0, NULL) || mkdir(kt_path(a, "sub"), 0755) ||
            mount(NULL, a, NULL, MS_SHARED, NULL) || mount(a, b, NULL, MS_BIND, NULL) ||
            mount("none", kt_path(a, "sub"), "tmpfs", 0, NULL))
            _exit(3);
        int fd = open(kt_path(a, "sub/f"), O_CREAT | O_WRONLY, 0644);
        if (fd < 0)
            _exit(4);
        close(fd);
        struct stat st;
        /* The copy on the peer shows the same file system... */
        if (stat(kt_path(b, "sub/f"), &st))
            _exit(5);
        /* ...and goes with the unmount of the original. */
        if (umount(kt_path(a, "sub")))
            _exit(6);
        _exit(stat(kt_path(b, "sub/f"), &st) == -1 && errno == ENOENT ? 0 : 7);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child exit %d (2 unshare, 3 mounts, 4 create, 5 not on the peer, 6 umount, 7 still on the peer)",
          WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* A plain bind (and a clone) shows the directory alone; MS_REC and
 * AT_RECURSIVE bring the mounts under it along. */
TEST(recursive_binds_and_clones_bring_submounts) {
    const char *a = kt_tmpdir(), *b = kt_tmpdir(), *c = kt_tmpdir(), *d = kt_tmpdir();
    CHECK(a && b && c && d, "kt_tmpdir failed");
    OK(mkdir(kt_path(a, "sub"), 0755));
    OK(mount("none", kt_path(a, "sub"), "tmpfs", 0, NULL));
    OK(close(OK(open(kt_path(a, "sub/f"), O_CREAT | O_WRONLY, 0644))));
    struct stat st;
    OK(mount(a, b, NULL, MS_BIND, NULL));
    EXPECT_ERRNO(stat(kt_path(b, "sub/f"), &st), ENOENT);
    OK(mount(a, c, NULL, MS_BIND | MS_REC, NULL));
    OK(stat(kt_path(c, "sub/f"), &st));
    errno = 0;
    int t = open_tree_(AT_FDCWD, a, OPEN_TREE_CLONE | AT_RECURSIVE_ | O_CLOEXEC);
    if (t >= 0) {
        OK(move_mount_(t, "", AT_FDCWD, d, MOVE_MOUNT_F_EMPTY_PATH));
        close(t);
        OK(stat(kt_path(d, "sub/f"), &st));
        OK(umount2(d, MNT_DETACH));
    } else {
        CHECK(errno == ENOSYS, "open_tree: %s", kt_errstr(errno));
    }
    OK(umount2(c, MNT_DETACH));
    OK(umount(b));
    OK(umount(kt_path(a, "sub")));
}

TEST(fspick_of_a_detached_mount_reconfigures_it) {
    NEED(fsopen_("tmpfs", 0xff));
    int fc = OK(tmpfs_created());
    int m = OK(fsmount_(fc, FSMOUNT_CLOEXEC, 0));
    close(fc);
    int pick = OK(fspick_(m, "", FSPICK_CLOEXEC | 8 /* FSPICK_EMPTY_PATH */));
    OK(fsconfig_(pick, FSCONFIG_SET_FLAG, "ro", NULL, 0));
    OK(fsconfig_(pick, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0));
    EXPECT_ERRNO(openat(m, "f", O_CREAT | O_WRONLY, 0644), EROFS);
    close(pick);
    close(m);
}

int main(void)
{
    KT_BEGIN();
    RUN(fsopen_checks_privilege_flags_and_type);
    RUN(fsconfig_checks_its_arguments_per_command);
    RUN(fsconfig_errors_are_logged_for_read);
    RUN(fsmount_makes_a_detached_mount_usable_through_its_fd);
    RUN(fsmount_before_create_is_einval);
    RUN(move_mount_checks_flags_paths_and_roots);
    RUN(move_mount_moves_an_attached_mount);
    RUN(open_tree_clone_attaches_a_copy_and_plain_is_o_path);
    RUN(move_mount_beneath_puts_a_detached_mount_under_the_top);
    RUN(fspick_reconfigures_a_mount_read_only_and_back);
    RUN(fspick_of_a_detached_mount_reconfigures_it);
    RUN(statmount_and_listmount_agree_with_statx);
    RUN(new_mounts_and_unmounts_propagate_to_peers);
    RUN(recursive_binds_and_clones_bring_submounts);
    return KT_END();
}
