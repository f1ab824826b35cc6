/* iopl(2): the I/O privilege level as Linux has emulated it since 5.5. Level 3
 * opens every I/O port to the thread (through the TSS I/O bitmap), lower levels
 * open none; raising the level needs CAP_SYS_RAWIO, lowering it does not. */
#define KT_AREA "ioport"
#include "kt.h"

/* Port 0x80 is the POST diagnostic port: reading it has no effect. */
static unsigned char inb_0x80(void)
{
    unsigned char v;
    __asm__ volatile("inb $0x80, %0" : "=a"(v));
    return v;
}

/* A Linux built without CONFIG_X86_IOPL_IOPERM has no iopl at all (ENOSYS). */
#define NEED_IOPL()                                                            \
    do {                                                                       \
        if (syscall(SYS_iopl, 0) == -1 && errno == ENOSYS)                     \
            SKIP("iopl is ENOSYS (kernel without CONFIG_X86_IOPL_IOPERM)");    \
    } while (0)

static void child_inb(void *arg)
{
    long level = (long)arg;
    if (level >= 0 && syscall(SYS_iopl, level) != 0)
        _exit(2);
    (void)inb_0x80();
    _exit(0);
}

TEST(iopl_level_above_3_is_einval) {
    NEED_IOPL();
    EXPECT_ERRNO(syscall(SYS_iopl, 4), EINVAL);
    EXPECT_ERRNO(syscall(SYS_iopl, 0x80000000u), EINVAL);
}

TEST(iopl_every_level_0_to_3_is_accepted_for_root) {
    NEED_IOPL();
    for (int level = 0; level <= 3; level++)
        EXPECT_EQ(syscall(SYS_iopl, level), 0);
    EXPECT_EQ(syscall(SYS_iopl, 0), 0);
}

TEST(port_read_without_iopl_is_sigsegv) {
    int st = kt_in_child(child_inb, (void *)-1L);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child: %s", kt_status(st));
}

TEST(port_read_after_iopl_3_works) {
    NEED_IOPL();
    int st = kt_in_child(child_inb, (void *)3L);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(port_read_after_iopl_1_is_sigsegv) {
    NEED_IOPL();
    /* Levels 1 and 2 grant nothing since Linux 5.5. */
    int st = kt_in_child(child_inb, (void *)1L);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child: %s", kt_status(st));
}

static void child_iopl_3_then_0(void *arg)
{
    (void)arg;
    if (syscall(SYS_iopl, 3) != 0 || syscall(SYS_iopl, 0) != 0)
        _exit(2);
    (void)inb_0x80();
    _exit(0);
}

TEST(port_read_after_iopl_back_to_0_is_sigsegv) {
    NEED_IOPL();
    int st = kt_in_child(child_iopl_3_then_0, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child: %s", kt_status(st));
}

static void child_fork_inherits(void *arg)
{
    (void)arg;
    if (syscall(SYS_iopl, 3) != 0)
        _exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        (void)inb_0x80();
        _exit(0);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        _exit(3);
    _exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 4);
}

TEST(iopl_3_is_inherited_by_fork) {
    NEED_IOPL();
    int st = kt_in_child(child_fork_inherits, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void child_unprivileged(void *arg)
{
    (void)arg;
    if (setuid(65534) != 0)
        _exit(10);
    /* Setting the level it already has (0) is no raise: allowed. */
    if (syscall(SYS_iopl, 0) != 0)
        _exit(11);
    errno = 0;
    if (syscall(SYS_iopl, 1) != -1 || errno != EPERM)
        _exit(12);
    errno = 0;
    if (syscall(SYS_iopl, 3) != -1 || errno != EPERM)
        _exit(13);
    errno = 0;
    if (syscall(SYS_iopl, 4) != -1 || errno != EINVAL)
        _exit(14);
    _exit(0);
}

TEST(iopl_raise_without_cap_sys_rawio_is_eperm) {
    NEED_IOPL();
    int st = kt_in_child(child_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void child_lower_unprivileged(void *arg)
{
    (void)arg;
    if (syscall(SYS_iopl, 3) != 0)
        _exit(10);
    if (setuid(65534) != 0)
        _exit(11);
    /* Still open: the level belongs to the thread, not to its credentials. */
    (void)inb_0x80();
    if (syscall(SYS_iopl, 1) != 0) /* lowering needs no capability */
        _exit(12);
    errno = 0;
    if (syscall(SYS_iopl, 2) != -1 || errno != EPERM) /* raising again does */
        _exit(13);
    _exit(0);
}

TEST(iopl_lowering_needs_no_capability) {
    NEED_IOPL();
    int st = kt_in_child(child_lower_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* ---- ioperm(2) ------------------------------------------------------ */

#define NEED_IOPERM()                                                          \
    do {                                                                       \
        if (syscall(SYS_ioperm, 0x80, 1, 0) == -1 && errno == ENOSYS)          \
            SKIP("ioperm is ENOSYS (kernel without CONFIG_X86_IOPL_IOPERM)");  \
    } while (0)

TEST(ioperm_range_checks) {
    NEED_IOPERM();
    EXPECT_ERRNO(syscall(SYS_ioperm, 0x80, 0, 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_ioperm, 0xfffd, 4, 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_ioperm, 0x10000, 1, 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_ioperm, -1UL, 2, 1), EINVAL);
    EXPECT_EQ(syscall(SYS_ioperm, 0xfffd, 3, 1), 0);
    EXPECT_EQ(syscall(SYS_ioperm, 0xfffd, 3, 0), 0);
}

static void child_ioperm(void *arg)
{
    long mode = (long)arg;
    /* 0: allow 0x80; 1: allow 0x81 only; 2: allow 0x80 then deny it again. */
    if (syscall(SYS_ioperm, mode == 1 ? 0x81 : 0x80, 1, 1) != 0)
        _exit(2);
    if (mode == 2 && syscall(SYS_ioperm, 0x80, 1, 0) != 0)
        _exit(3);
    (void)inb_0x80();
    _exit(0);
}

TEST(ioperm_opens_exactly_the_ports_asked) {
    NEED_IOPERM();
    int st = kt_in_child(child_ioperm, (void *)0L);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "allowed port: %s", kt_status(st));
    st = kt_in_child(child_ioperm, (void *)1L);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "neighbouring port: %s", kt_status(st));
    st = kt_in_child(child_ioperm, (void *)2L);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "port turned off: %s", kt_status(st));
}

static void child_ioperm_fork(void *arg)
{
    (void)arg;
    if (syscall(SYS_ioperm, 0x80, 1, 1) != 0)
        _exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        (void)inb_0x80();
        _exit(0);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        _exit(3);
    _exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 4);
}

TEST(ioperm_is_inherited_by_fork) {
    NEED_IOPERM();
    int st = kt_in_child(child_ioperm_fork, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void child_ioperm_unprivileged(void *arg)
{
    (void)arg;
    if (setuid(65534) != 0)
        _exit(10);
    errno = 0;
    if (syscall(SYS_ioperm, 0x80, 1, 1) != -1 || errno != EPERM)
        _exit(11);
    /* Turning ports off needs nothing. */
    if (syscall(SYS_ioperm, 0x80, 1, 0) != 0)
        _exit(12);
    _exit(0);
}

TEST(ioperm_turn_on_without_cap_sys_rawio_is_eperm) {
    NEED_IOPERM();
    int st = kt_in_child(child_ioperm_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

int main(void)
{
    KT_BEGIN();
    RUN(iopl_level_above_3_is_einval);
    RUN(iopl_every_level_0_to_3_is_accepted_for_root);
    RUN(port_read_without_iopl_is_sigsegv);
    RUN(port_read_after_iopl_3_works);
    RUN(port_read_after_iopl_1_is_sigsegv);
    RUN(port_read_after_iopl_back_to_0_is_sigsegv);
    RUN(iopl_3_is_inherited_by_fork);
    RUN(iopl_raise_without_cap_sys_rawio_is_eperm);
    RUN(iopl_lowering_needs_no_capability);
    RUN(ioperm_range_checks);
    RUN(ioperm_opens_exactly_the_ports_asked);
    RUN(ioperm_is_inherited_by_fork);
    RUN(ioperm_turn_on_without_cap_sys_rawio_is_eperm);
    return KT_END();
}
