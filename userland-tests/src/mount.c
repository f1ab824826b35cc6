/*
 * mount.c - what a mount's options do: a tmpfs root's mode and owner.
 *
 * Each case mounts a tmpfs on a kt_tmpdir() and unmounts it after, so it runs
 * as root on any Linux and on Kestrel.
 */
#define KT_AREA "mount"
#include "kt.h"

#include <sys/mount.h>

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

int main(void)
{
    KT_BEGIN();
    RUN(tmpfs_root_is_1777_by_default);
    RUN(tmpfs_mode_option_sets_the_root_mode);
    RUN(tmpfs_uid_and_gid_options_own_the_root);
    RUN(tmpfs_bad_mode_or_uid_is_einval);
    RUN(ramfs_root_is_0755_unless_mode_says);
    return KT_END();
}
