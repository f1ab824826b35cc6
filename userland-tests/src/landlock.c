/*
 * landlock.c - landlock_create_ruleset(2), landlock_add_rule(2),
 * landlock_restrict_self(2), with the file-system rights of ABI version 1
 * (the ones every Landlock kernel has).
 *
 * As asserted here:
 *   - LANDLOCK_CREATE_RULESET_VERSION with a NULL attr and size 0 gives the
 *     ABI version (>= 1); other flags are EINVAL.
 *   - create_ruleset: NULL attr EFAULT, a size below 8 EINVAL, above a page
 *     E2BIG, unknown rights EINVAL, no rights ENOMSG; the fd is close-on-exec.
 *   - add_rule: flags EINVAL; a bad fd EBADF, a file that is not a ruleset
 *     EBADFD; an unknown rule type EINVAL; no rights ENOMSG; rights the
 *     ruleset does not handle EINVAL; a bad parent fd EBADF; directory rights
 *     on a regular file EINVAL; a bad attr pointer EFAULT.
 *   - restrict_self: flags EINVAL, bad fd EBADF, not a ruleset EBADFD;
 *     without no_new_privs and without CAP_SYS_ADMIN EPERM; at most 16
 *     stacked rulesets (E2BIG after).
 *   - enforcement (each in a child, restrictions cannot be undone): handled
 *     rights are denied (EACCES) outside the hierarchies rules grant them
 *     in, allowed beneath them; unhandled rights are untouched; creating and
 *     removing files need MAKE_REG / REMOVE_FILE on the directory; execve
 *     needs EXECUTE; a file cannot be moved out of the allowed hierarchy
 *     (EACCES, or EXDEV: with ABI 1 rights alone any move to another
 *     directory is EXDEV, but a host whose sandbox already restricts the
 *     test with newer rights may answer EACCES first); a child of fork is
 *     restricted too; stacked rulesets must all allow.
 */
#define KT_AREA "landlock"
#include "kt.h"

#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#define VERSION_FLAG 1U
#define RULE_PATH_BENEATH 1
#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REMOVE_FILE (1ULL << 5)
#define FS_MAKE_REG (1ULL << 8)

struct path_beneath {
    uint64_t allowed;
    int32_t parent_fd;
} __attribute__((packed));

static long create(const void *attr, size_t size, uint32_t flags)
{
    return syscall(SYS_landlock_create_ruleset, attr, size, flags);
}
static long add_rule(int fd, int type, const void *attr, uint32_t flags)
{
    return syscall(SYS_landlock_add_rule, fd, type, attr, flags);
}
static long restrict_self(int fd, uint32_t flags)
{
    return syscall(SYS_landlock_restrict_self, fd, flags);
}

/* A ruleset handling `handled`, or -1. */
static int ruleset(uint64_t handled)
{
    return (int)create(&handled, sizeof handled, 0);
}

/* Grants `allowed` beneath `path` in ruleset `rs`: 0 on success. */
static int allow(int rs, const char *path, uint64_t allowed)
{
    struct path_beneath pb = {allowed, open(path, O_PATH | O_CLOEXEC)};
    if (pb.parent_fd < 0)
        return -1;
    long r = add_rule(rs, RULE_PATH_BENEATH, &pb, 0);
    close(pb.parent_fd);
    return (int)r;
}

static int enforce(int rs)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return (int)restrict_self(rs, 0);
}

TEST(version_query_gives_the_abi_version)
{
    long v = create(NULL, 0, VERSION_FLAG);
    CHECK(v >= 1, "ABI version %ld errno %s", v, kt_errstr(errno));
    uint64_t h = FS_EXECUTE;
    EXPECT_ERRNO(create(&h, sizeof h, VERSION_FLAG), EINVAL);
    EXPECT_ERRNO(create(NULL, 0, 1U << 31), EINVAL);
}

TEST(create_ruleset_checks_its_attr)
{
    uint64_t h = FS_EXECUTE;
    EXPECT_ERRNO(create(NULL, 8, 0), EFAULT);
    EXPECT_ERRNO(create(&h, 7, 0), EINVAL);
    static char big[8192];
    memcpy(big, &h, 8);
    EXPECT_ERRNO(create(big, 4097, 0), E2BIG);
    uint64_t unknown = 1ULL << 62;
    EXPECT_ERRNO(create(&unknown, 8, 0), EINVAL);
    uint64_t none = 0;
    EXPECT_ERRNO(create(&none, 8, 0), ENOMSG);
    int fd = (int)OK(create(&h, 8, 0));
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    close(fd);
}

TEST(add_rule_checks_flags_fds_type_and_rights)
{
    int rs = OK(ruleset(FS_EXECUTE | FS_READ_DIR));
    int dir = (int)OK(open("/", O_PATH));
    struct path_beneath pb = {FS_EXECUTE, dir};
    EXPECT_ERRNO(add_rule(rs, RULE_PATH_BENEATH, &pb, 1), EINVAL);
    EXPECT_ERRNO(add_rule(-1, RULE_PATH_BENEATH, &pb, 0), EBADF);
    int devnull = (int)OK(open("/dev/null", O_RDONLY));
    EXPECT_ERRNO(add_rule(devnull, RULE_PATH_BENEATH, &pb, 0), EBADFD);
    close(devnull);
    /* An O_PATH descriptor is no descriptor to these calls. */
    EXPECT_ERRNO(add_rule(dir, RULE_PATH_BENEATH, &pb, 0), EBADF);
    EXPECT_ERRNO(add_rule(rs, 0, &pb, 0), EINVAL);
    pb.allowed = 0;
    EXPECT_ERRNO(add_rule(rs, RULE_PATH_BENEATH, &pb, 0), ENOMSG);
    pb.allowed = FS_WRITE_FILE;
    EXPECT_ERRNO(add_rule(rs, RULE_PATH_BENEATH, &pb, 0), EINVAL);
    pb.allowed = FS_EXECUTE;
    pb.parent_fd = -1;
    EXPECT_ERRNO(add_rule(rs, RULE_PATH_BENEATH, &pb, 0), EBADF);
    pb.parent_fd = rs;
    EXPECT_ERRNO(add_rule(rs, RULE_PATH_BENEATH, &pb, 0), EBADFD);
    EXPECT_ERRNO(add_rule(rs, RULE_PATH_BENEATH, NULL, 0), EFAULT);
    pb.parent_fd = dir;
    EXPECT_EQ(add_rule(rs, RULE_PATH_BENEATH, &pb, 0), 0);
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    CHECK(kt_write_file(kt_path(d, "f"), "x", 1) == 0, "write");
    int file = (int)OK(open(kt_path(d, "f"), O_PATH));
    struct path_beneath onfile = {FS_READ_DIR, file};
    EXPECT_ERRNO(add_rule(rs, RULE_PATH_BENEATH, &onfile, 0), EINVAL);
    onfile.allowed = FS_EXECUTE;
    EXPECT_EQ(add_rule(rs, RULE_PATH_BENEATH, &onfile, 0), 0);
    close(file);
    close(dir);
    close(rs);
}

TEST(restrict_self_checks_flags_and_fds)
{
    int rs = OK(ruleset(FS_EXECUTE));
    EXPECT_ERRNO(restrict_self(rs, 0xffffffffU), EINVAL);
    EXPECT_ERRNO(restrict_self(-1, 0), EBADF);
    int f = (int)OK(open("/dev/null", O_RDONLY));
    EXPECT_ERRNO(restrict_self(f, 0), EBADFD);
    close(f);
    close(rs);
}

static void without_admin(void *arg)
{
    int rs = *(int *)arg;
    /* Drop CAP_SYS_ADMIN (21) from the effective set, keep no_new_privs off. */
    struct {
        uint32_t version;
        int pid;
    } hdr = {0x20080522, 0};
    struct {
        uint32_t effective, permitted, inheritable;
    } data[2];
    if (syscall(SYS_capget, &hdr, data) != 0)
        _exit(10);
    data[0].effective &= ~(1U << 21);
    if (syscall(SYS_capset, &hdr, data) != 0)
        _exit(11);
    if (restrict_self(rs, 0) != -1 || errno != EPERM)
        _exit(12);
    _exit(0);
}

TEST(restrict_self_needs_no_new_privs_or_cap_sys_admin)
{
    int rs = OK(ruleset(FS_EXECUTE));
    int st = kt_in_child(without_admin, &rs);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    close(rs);
}

static void stack_until_e2big(void *arg)
{
    int rs = *(int *)arg;
    /* At most 16 in all (the test may already run under its host's own
     * sandbox layers, so count how many more fit). */
    for (int i = 0; i < 17; i++) {
        if (restrict_self(rs, 0) != 0)
            _exit(errno == E2BIG && i >= 1 ? 0 : 20 + i);
    }
    _exit(40);
}

TEST(at_most_sixteen_rulesets_stack_then_e2big)
{
    int rs = OK(ruleset(FS_EXECUTE));
    int st = kt_in_child(stack_until_e2big, &rs);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    close(rs);
}

struct dirs {
    const char *in, *out;
};

static void restricted_files(void *arg)
{
    struct dirs *d = arg;
    int rs = ruleset(FS_WRITE_FILE | FS_READ_FILE | FS_MAKE_REG | FS_REMOVE_FILE);
    if (rs < 0)
        _exit(2);
    if (allow(rs, d->in, FS_WRITE_FILE | FS_READ_FILE | FS_MAKE_REG | FS_REMOVE_FILE) != 0)
        _exit(3);
    if (enforce(rs) != 0)
        _exit(4);
    close(rs);
    /* Beneath the rule: everything. */
    int fd = open(kt_path(d->in, "new"), O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        _exit(5);
    close(fd);
    if (unlink(kt_path(d->in, "new")) != 0)
        _exit(6);
    if ((fd = open(kt_path(d->in, "f"), O_RDWR)) < 0)
        _exit(7);
    close(fd);
    /* Elsewhere: the handled rights are gone. */
    if (open(kt_path(d->out, "g"), O_RDONLY) != -1 || errno != EACCES)
        _exit(8);
    if (open("/dev/null", O_WRONLY) != -1 || errno != EACCES)
        _exit(9);
    if (open(kt_path(d->out, "new"), O_WRONLY | O_CREAT, 0644) != -1 || errno != EACCES)
        _exit(10);
    if (unlink(kt_path(d->out, "g")) != -1 || errno != EACCES)
        _exit(11);
    /* Unhandled rights stay: listing a directory, O_PATH. */
    if ((fd = open(d->out, O_RDONLY | O_DIRECTORY)) < 0)
        _exit(12);
    close(fd);
    if ((fd = open(kt_path(d->out, "g"), O_PATH)) < 0)
        _exit(13);
    close(fd);
    /* Nor may a file move into a directory without MAKE_REG. */
    if (rename(kt_path(d->in, "f"), kt_path(d->out, "f")) != -1)
        _exit(14);
    /* A child of fork is restricted too. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(open("/dev/null", O_WRONLY) == -1 && errno == EACCES ? 0 : 1);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        _exit(15);
    _exit(0);
}

TEST(handled_rights_hold_only_beneath_the_rules)
{
    const char *in = kt_tmpdir(), *out = kt_tmpdir();
    CHECK(in && out, "tmpdirs");
    CHECK(kt_write_file(kt_path(in, "f"), "x", 1) == 0, "write");
    CHECK(kt_write_file(kt_path(out, "g"), "y", 1) == 0, "write");
    struct dirs d = {in, out};
    int st = kt_in_child(restricted_files, &d);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    /* The parent is not restricted. */
    int fd = (int)OK(open("/dev/null", O_WRONLY));
    close(fd);
}

static void restricted_exec(void *arg)
{
    const char *in = arg;
    int rs = ruleset(FS_EXECUTE);
    if (rs < 0 || allow(rs, in, FS_EXECUTE) != 0 || enforce(rs) != 0)
        _exit(2);
    char *argv[] = {"sh", "-c", "exit 0", NULL};
    execv("/bin/sh", argv);
    _exit(errno == EACCES ? 0 : 3);
}

TEST(execve_needs_the_execute_right)
{
    const char *in = kt_tmpdir();
    CHECK(in, "tmpdir");
    int st = kt_in_child(restricted_exec, (void *)in);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void two_layers(void *arg)
{
    struct dirs *d = arg;
    int a = ruleset(FS_WRITE_FILE), b = ruleset(FS_WRITE_FILE);
    if (a < 0 || b < 0 || allow(a, d->in, FS_WRITE_FILE) != 0)
        _exit(2);
    if (allow(b, d->out, FS_WRITE_FILE) != 0)
        _exit(3);
    if (enforce(a) != 0)
        _exit(4);
    int fd = open(kt_path(d->in, "f"), O_WRONLY);
    if (fd < 0)
        _exit(5);
    close(fd);
    if (restrict_self(b, 0) != 0)
        _exit(6);
    if (open(kt_path(d->in, "f"), O_WRONLY) != -1 || errno != EACCES)
        _exit(7);
    _exit(0);
}

TEST(every_stacked_ruleset_must_allow)
{
    const char *in = kt_tmpdir(), *out = kt_tmpdir();
    CHECK(in && out, "tmpdirs");
    CHECK(kt_write_file(kt_path(in, "f"), "x", 1) == 0, "write");
    struct dirs d = {in, out};
    int st = kt_in_child(two_layers, &d);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

int main(void)
{
    KT_BEGIN();
    if (create(NULL, 0, VERSION_FLAG) < 0 && (errno == ENOSYS || errno == EOPNOTSUPP)) {
        printf("SKIP landlock.all: Landlock is %s here\n", kt_errstr(errno));
        return KT_END();
    }
    RUN(version_query_gives_the_abi_version);
    RUN(create_ruleset_checks_its_attr);
    RUN(add_rule_checks_flags_fds_type_and_rights);
    RUN(restrict_self_checks_flags_and_fds);
    RUN(restrict_self_needs_no_new_privs_or_cap_sys_admin);
    RUN(at_most_sixteen_rulesets_stack_then_e2big);
    RUN(handled_rights_hold_only_beneath_the_rules);
    RUN(execve_needs_the_execute_right);
    RUN(every_stacked_ruleset_must_allow);
    return KT_END();
}
