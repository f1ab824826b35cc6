/*
 * The LSM system calls (Linux 6.8): lsm_list_modules agrees with
 * /sys/kernel/security/lsm; lsm_get_self_attr and lsm_set_self_attr check
 * their arguments before any module sees them.
 */
#define KT_AREA "lsm"
#include "kt.h"

#define NR_get_self_attr 459
#define NR_set_self_attr 460
#define NR_list_modules 461

static long list_modules(uint64_t *ids, uint32_t *size, uint32_t flags)
{
    return syscall(NR_list_modules, ids, size, flags);
}

#define NEED_LSM_CALLS()                                                                           \
    do {                                                                                           \
        uint32_t s_ = 0;                                                                           \
        if (list_modules(NULL, &s_, 0) == -1 && errno == ENOSYS)                                   \
            SKIP("no LSM system calls (Linux before 6.8)");                                        \
    } while (0)

TEST(list_modules_agrees_with_securityfs) {
    NEED_LSM_CALLS();
    char names[512] = {0};
    int fd = open("/sys/kernel/security/lsm", O_RDONLY);
    if (fd < 0)
        SKIP("no /sys/kernel/security/lsm: %s", kt_errstr(errno));
    long n = OK(read(fd, names, sizeof names - 1));
    close(fd);
    CHECK(n > 0 && names[n - 1] != '\n', "the list ends without a newline: \"%s\"", names);
    int count = 1;
    for (char *p = names; *p; p++)
        count += *p == ',';
    CHECK(strncmp(names, "capability", 10) == 0 || strstr(names, ",capability"),
          "capability is listed: %s", names);
    uint64_t ids[32];
    uint32_t size = sizeof ids;
    long r = OK(list_modules(ids, &size, 0));
    EXPECT_EQ(r, count);
    EXPECT_EQ(size, count * 8);
    int have_capability = 0;
    for (long i = 0; i < r; i++)
        have_capability |= ids[i] == 100;
    CHECK(have_capability, "LSM_ID_CAPABILITY (100) among the ids");
    /* Too small: the size needed is written back. */
    size = 8;
    EXPECT_ERRNO(list_modules(ids, &size, 0), E2BIG);
    EXPECT_EQ(size, count * 8);
    size = 0;
    EXPECT_ERRNO(list_modules(ids, &size, 0), E2BIG);
    size = sizeof ids;
    EXPECT_ERRNO(list_modules(NULL, &size, 0), EFAULT);
    EXPECT_ERRNO(list_modules(ids, NULL, 0), EFAULT);
    EXPECT_ERRNO(list_modules(ids, &size, 1), EINVAL);
}

TEST(self_attr_calls_check_their_arguments) {
    NEED_LSM_CALLS();
    static uint64_t ctx[512];
    uint32_t size = sizeof ctx;
    const unsigned CURRENT = 100;
    EXPECT_ERRNO(syscall(NR_get_self_attr, 0, ctx, &size, 0), EINVAL);
    EXPECT_ERRNO(syscall(NR_get_self_attr, CURRENT, ctx, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(NR_get_self_attr, CURRENT, ctx, &size, 2), EINVAL);
    EXPECT_ERRNO(syscall(NR_get_self_attr, CURRENT, ctx, &size, 3), EINVAL);
    memset(ctx, 0, sizeof ctx);
    /* LSM_FLAG_SINGLE without a module id. */
    EXPECT_ERRNO(syscall(NR_get_self_attr, CURRENT, ctx, &size, 1), EINVAL);
    EXPECT_ERRNO(syscall(NR_get_self_attr, CURRENT, NULL, &size, 1), EINVAL);
    EXPECT_ERRNO(syscall(NR_set_self_attr, CURRENT, ctx, sizeof ctx, 1), EINVAL);
    EXPECT_ERRNO(syscall(NR_set_self_attr, CURRENT, ctx, 16, 0), EINVAL);
    EXPECT_ERRNO(syscall(NR_set_self_attr, CURRENT, ctx, 8192, 0), E2BIG);
    EXPECT_ERRNO(syscall(NR_set_self_attr, CURRENT, (void *)8, 64, 0), EFAULT);
    /* len and ctx_len that disagree with the size. */
    ctx[0] = 100;
    ctx[2] = 4096;
    ctx[3] = 0;
    EXPECT_ERRNO(syscall(NR_set_self_attr, CURRENT, ctx, 64, 0), EINVAL);
}

/* Where no module keeps process attributes (no SELinux, AppArmor or Smack,
 * as on Kestrel), asking for them is EOPNOTSUPP with a size of 0. */
TEST(without_attribute_modules_self_attr_is_eopnotsupp) {
    NEED_LSM_CALLS();
    char names[512] = {0};
    int fd = open("/sys/kernel/security/lsm", O_RDONLY);
    if (fd < 0)
        SKIP("no /sys/kernel/security/lsm");
    if (read(fd, names, sizeof names - 1) < 0)
        names[0] = 0;
    close(fd);
    if (strstr(names, "selinux") || strstr(names, "apparmor") || strstr(names, "smack"))
        SKIP("a module with process attributes is active: %s", names);
    static uint64_t ctx[512];
    uint32_t size = sizeof ctx;
    EXPECT_ERRNO(syscall(NR_get_self_attr, 100, ctx, &size, 0), EOPNOTSUPP);
    EXPECT_EQ(size, 0);
    size = 1;
    EXPECT_ERRNO(syscall(NR_get_self_attr, 100, NULL, &size, 0), EOPNOTSUPP);
    ctx[0] = 110; /* Landlock */
    ctx[2] = 64;
    ctx[3] = 8;
    EXPECT_ERRNO(syscall(NR_set_self_attr, 100, ctx, 64, 0), EOPNOTSUPP);
}

int main(void)
{
    KT_BEGIN();
    RUN(list_modules_agrees_with_securityfs);
    RUN(self_attr_calls_check_their_arguments);
    RUN(without_attribute_modules_self_attr_is_eopnotsupp);
    return KT_END();
}
