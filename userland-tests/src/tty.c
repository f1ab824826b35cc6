/* ioctl on a terminal: TCGETS/TCSETS/TCSETSW/TCSETSF, TIOCGWINSZ/TIOCSWINSZ,
 * TIOCGPGRP/TIOCSPGRP, FIONBIO; ENOTTY/EBADF on non-terminals.
 * Terminal cases use stdin and SKIP when it is not a tty. Every setting that
 * is changed is restored before the case ends. */
#define KT_AREA "tty"
#include "kt.h"

#include <sys/ioctl.h>

#define BADPTR ((void *)1)

/* The kernel's struct termios (TCGETS/TCSETS), 36 bytes; musl's is larger. */
struct kt_termios {
    unsigned int c_iflag, c_oflag, c_cflag, c_lflag;
    unsigned char c_line;
    unsigned char c_cc[19];
};
#define KT_VTIME 5

struct kt_winsize {
    unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel;
};

static long kioctl(int fd, unsigned long req, void *arg)
{
    return syscall(SYS_ioctl, fd, req, arg);
}

#define NEED_TTY()                                                            \
    do {                                                                      \
        if (!isatty(0))                                                       \
            SKIP("stdin is not a tty");                                       \
    } while (0)

/* ---- non-terminal fds (always run) ------------------------------------ */

TEST(tcgets_on_regular_file_is_enotty) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_RDWR, 0644));
    struct kt_termios t;
    struct kt_winsize ws;
    errno = 0;
    long r1 = kioctl(fd, TCGETS, &t);
    int e1 = errno;
    long r2 = kioctl(fd, TIOCGWINSZ, &ws);
    int e2 = errno;
    close(fd);
    CHECK(r1 == -1 && e1 == ENOTTY, "TCGETS: got %ld %s, expected ENOTTY", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == ENOTTY, "TIOCGWINSZ: got %ld %s, expected ENOTTY", r2, kt_errstr(e2));
}

TEST(tcgets_on_pipe_is_enotty) {
    int fds[2];
    OK(pipe(fds));
    struct kt_termios t;
    errno = 0;
    long r = kioctl(fds[0], TCGETS, &t);
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    CHECK(r == -1 && e == ENOTTY, "got %ld %s, expected ENOTTY", r, kt_errstr(e));
}

TEST(ioctl_on_directory_is_enotty) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    struct kt_termios t;
    errno = 0;
    long r = kioctl(fd, TCGETS, &t);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == ENOTTY, "got %ld %s, expected ENOTTY", r, kt_errstr(e));
}

TEST(ioctl_bad_fd_is_ebadf) {
    struct kt_termios t;
    EXPECT_ERRNO(kioctl(9999, TCGETS, &t), EBADF);
}

/* ---- terminal on stdin ------------------------------------------------ */

TEST(tcgets_on_tty_succeeds) {
    NEED_TTY();
    struct kt_termios t;
    memset(&t, 0xa5, sizeof t);
    OK(kioctl(0, TCGETS, &t));
    CHECK(t.c_cflag != 0xa5a5a5a5u, "TCGETS did not fill the struct");
}

TEST(tcgets_bad_pointer_is_efault) {
    NEED_TTY();
    EXPECT_ERRNO(kioctl(0, TCGETS, BADPTR), EFAULT);
}

/* Change VTIME with the given set request, read it back, restore. */
static const char *set_roundtrip(unsigned long req)
{
    static char why[128];
    struct kt_termios orig, t, back;
    if (kioctl(0, TCGETS, &orig) != 0) {
        snprintf(why, sizeof why, "TCGETS failed: %s", kt_errstr(errno));
        return why;
    }
    t = orig;
    t.c_cc[KT_VTIME] = orig.c_cc[KT_VTIME] == 7 ? 8 : 7;
    long r = kioctl(0, req, &t);
    int e = errno;
    long g = kioctl(0, TCGETS, &back);
    kioctl(0, TCSETS, &orig);
    if (r != 0)
        snprintf(why, sizeof why, "set failed: %s", kt_errstr(e));
    else if (g != 0)
        snprintf(why, sizeof why, "TCGETS after set failed");
    else if (back.c_cc[KT_VTIME] != t.c_cc[KT_VTIME])
        snprintf(why, sizeof why, "VTIME read back %d, expected %d", back.c_cc[KT_VTIME],
                 t.c_cc[KT_VTIME]);
    else if (back.c_lflag != orig.c_lflag || back.c_iflag != orig.c_iflag)
        snprintf(why, sizeof why, "unrelated flags changed");
    else
        return NULL;
    return why;
}

TEST(tcsets_roundtrip) {
    NEED_TTY();
    const char *why = set_roundtrip(TCSETS);
    CHECK(!why, "%s", why);
}

TEST(tcsetsw_roundtrip) {
    NEED_TTY();
    const char *why = set_roundtrip(TCSETSW);
    CHECK(!why, "%s", why);
}

TEST(tcsetsf_roundtrip) {
    NEED_TTY();
    const char *why = set_roundtrip(TCSETSF);
    CHECK(!why, "%s", why);
}

TEST(tcsets_bad_pointer_is_efault) {
    NEED_TTY();
    EXPECT_ERRNO(kioctl(0, TCSETS, BADPTR), EFAULT);
}

TEST(tiocgwinsz_succeeds) {
    NEED_TTY();
    struct kt_winsize ws;
    memset(&ws, 0xa5, sizeof ws);
    OK(kioctl(0, TIOCGWINSZ, &ws));
    CHECK(ws.ws_row != 0xa5a5 && ws.ws_col != 0xa5a5, "TIOCGWINSZ did not fill the struct");
}

TEST(tiocswinsz_roundtrip) {
    NEED_TTY();
    struct kt_winsize orig, ws, back;
    OK(kioctl(0, TIOCGWINSZ, &orig));
    ws = orig;
    ws.ws_row = orig.ws_row == 33 ? 34 : 33;
    ws.ws_col = orig.ws_col == 99 ? 98 : 99;
    long r = kioctl(0, TIOCSWINSZ, &ws);
    int e = errno;
    long g = kioctl(0, TIOCGWINSZ, &back);
    kioctl(0, TIOCSWINSZ, &orig);
    CHECK(r == 0, "TIOCSWINSZ failed: %s", kt_errstr(e));
    CHECK(g == 0, "TIOCGWINSZ failed");
    EXPECT_EQ(back.ws_row, ws.ws_row);
    EXPECT_EQ(back.ws_col, ws.ws_col);
}

TEST(tiocgwinsz_bad_pointer_is_efault) {
    NEED_TTY();
    EXPECT_ERRNO(kioctl(0, TIOCGWINSZ, BADPTR), EFAULT);
}

TEST(tiocgpgrp_returns_foreground_group) {
    NEED_TTY();
    int pgrp = -1;
    errno = 0;
    long r = kioctl(0, TIOCGPGRP, &pgrp);
    if (r == -1 && errno == ENOTTY)
        SKIP("stdin is a tty but not our controlling terminal");
    CHECK(r == 0, "TIOCGPGRP failed: %s", kt_errstr(errno));
    CHECK(pgrp > 0, "foreground pgrp %d", pgrp);
}

TEST(tiocspgrp_to_own_group_succeeds) {
    NEED_TTY();
    int fg = -1;
    if (kioctl(0, TIOCGPGRP, &fg) != 0)
        SKIP("stdin is not our controlling terminal (TIOCGPGRP: %s)", kt_errstr(errno));
    if (fg != getpgrp())
        SKIP("not in the foreground process group (fg %d, ours %d)", fg, (int)getpgrp());
    int me = getpgrp();
    OK(kioctl(0, TIOCSPGRP, &me));
    int back = -1;
    OK(kioctl(0, TIOCGPGRP, &back));
    EXPECT_EQ(back, me);
}

TEST(tiocspgrp_negative_is_einval) {
    NEED_TTY();
    int fg;
    if (kioctl(0, TIOCGPGRP, &fg) != 0)
        SKIP("stdin is not our controlling terminal (TIOCGPGRP: %s)", kt_errstr(errno));
    int bad = -5;
    EXPECT_ERRNO(kioctl(0, TIOCSPGRP, &bad), EINVAL);
}

TEST(tiocspgrp_nonexistent_group_is_esrch) {
    NEED_TTY();
    int fg;
    if (kioctl(0, TIOCGPGRP, &fg) != 0)
        SKIP("stdin is not our controlling terminal (TIOCGPGRP: %s)", kt_errstr(errno));
    if (fg != getpgrp())
        SKIP("not in the foreground process group");
    /* a pid that just exited and was reaped names no process group */
    pid_t pid = OK(fork());
    if (pid == 0)
        _exit(0);
    OK(waitpid(pid, NULL, 0));
    int gone = pid;
    EXPECT_ERRNO(kioctl(0, TIOCSPGRP, &gone), ESRCH);
}

static void child_setsid_then_tiocgpgrp(void *arg)
{
    (void)arg;
    int pg;
    if (setsid() < 0)
        _exit(2);
    errno = 0;
    long r = kioctl(0, TIOCGPGRP, &pg);
    _exit(r == -1 && errno == ENOTTY ? 0 : 1);
}

TEST(tiocgpgrp_after_setsid_is_enotty) {
    NEED_TTY();
    int fg;
    if (kioctl(0, TIOCGPGRP, &fg) != 0)
        SKIP("stdin is not our controlling terminal (TIOCGPGRP: %s)", kt_errstr(errno));
    int st = kt_in_child(child_setsid_then_tiocgpgrp, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child in a new session: %s (1 = TIOCGPGRP did not fail with ENOTTY, 2 = setsid "
          "failed)", kt_status(st));
}

TEST(fionbio_on_tty_toggles_nonblocking) {
    NEED_TTY();
    long before = fcntl(0, F_GETFL);
    CHECK(before != -1, "F_GETFL failed");
    int on = 1, off = 0;
    long r1 = kioctl(0, FIONBIO, &on);
    long fl1 = fcntl(0, F_GETFL);
    long r2 = kioctl(0, FIONBIO, &off);
    long fl2 = fcntl(0, F_GETFL);
    fcntl(0, F_SETFL, before); /* restore exactly */
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    CHECK(fl1 & O_NONBLOCK, "F_GETFL 0%lo lacks O_NONBLOCK after FIONBIO(1)", fl1);
    CHECK(!(fl2 & O_NONBLOCK), "F_GETFL 0%lo has O_NONBLOCK after FIONBIO(0)", fl2);
}

TEST(unknown_ioctl_on_tty_is_enotty) {
    NEED_TTY();
    int x = 0;
    EXPECT_ERRNO(kioctl(0, 0x54ff, &x), ENOTTY);
}

int main(void)
{
    KT_BEGIN();
    RUN(tcgets_on_regular_file_is_enotty);
    RUN(tcgets_on_pipe_is_enotty);
    RUN(ioctl_on_directory_is_enotty);
    RUN(ioctl_bad_fd_is_ebadf);
    RUN(tcgets_on_tty_succeeds);
    RUN(tcgets_bad_pointer_is_efault);
    RUN(tcsets_roundtrip);
    RUN(tcsetsw_roundtrip);
    RUN(tcsetsf_roundtrip);
    RUN(tcsets_bad_pointer_is_efault);
    RUN(tiocgwinsz_succeeds);
    RUN(tiocswinsz_roundtrip);
    RUN(tiocgwinsz_bad_pointer_is_efault);
    RUN(tiocgpgrp_returns_foreground_group);
    RUN(tiocspgrp_to_own_group_succeeds);
    RUN(tiocspgrp_negative_is_einval);
    RUN(tiocspgrp_nonexistent_group_is_esrch);
    RUN(tiocgpgrp_after_setsid_is_enotty);
    RUN(fionbio_on_tty_toggles_nonblocking);
    RUN(unknown_ioctl_on_tty_is_enotty);
    return KT_END();
}
