/*
 * pty: pseudo-terminals through /dev/ptmx and /dev/pts/N, as glibc's and musl's
 * posix_openpt/grantpt/unlockpt/ptsname use them: the slave's output (processed
 * by its line discipline) is what the master reads, the master's writes are the
 * slave's input (echoed, turned into lines and signals), window sizes, locking,
 * and what each side sees when the other closes.
 */
#define KT_AREA "pty"
#include "kt.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <termios.h>

/* A master (non-blocking reads) and its unlocked slave's path. */
static int open_pair(char *path, size_t len)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0)
        return -1;
    if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, path, len) != 0) {
        close(m);
        return -1;
    }
    return m;
}

/* Reads what the master has, waiting up to 2 s for the first byte. */
static ssize_t read_master(int m, char *buf, size_t len)
{
    struct pollfd p = {m, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1)
        return -1;
    usleep(20000); /* let the rest of a line arrive */
    return read(m, buf, len);
}

TEST(ptsname_names_pts_and_tiocgptn_agrees) {
    char path[64];
    int m = OK(open_pair(path, sizeof path));
    unsigned n = 0;
    OK(ioctl(m, TIOCGPTN, &n));
    char want[64];
    snprintf(want, sizeof want, "/dev/pts/%u", n);
    CHECK(strcmp(path, want) == 0, "ptsname %s, TIOCGPTN says %s", path, want);
    struct stat st;
    OK(stat(path, &st));
    CHECK(S_ISCHR(st.st_mode), "%s is not a character device", path);
    EXPECT_EQ(major(st.st_rdev), 136u);
    EXPECT_EQ(minor(st.st_rdev), n);
    close(m);
}

TEST(a_locked_slave_cannot_be_opened) {
    int m = OK(posix_openpt(O_RDWR | O_NOCTTY));
    unsigned n = 0;
    OK(ioctl(m, TIOCGPTN, &n));
    char path[64];
    snprintf(path, sizeof path, "/dev/pts/%u", n);
    EXPECT_ERRNO(open(path, O_RDWR | O_NOCTTY), EIO);
    int unlock = 0;
    OK(ioctl(m, TIOCSPTLCK, &unlock));
    int s = OK(open(path, O_RDWR | O_NOCTTY));
    close(s);
    close(m);
}

TEST(slave_output_reaches_the_master_with_onlcr) {
    char path[64], buf[64];
    int m = OK(open_pair(path, sizeof path));
    int s = OK(open(path, O_RDWR | O_NOCTTY));
    EXPECT_EQ(write(s, "hello\n", 6), 6);
    ssize_t n = read_master(m, buf, sizeof buf);
    CHECK(n == 7 && memcmp(buf, "hello\r\n", 7) == 0, "master read %zd bytes", n);
    close(s);
    close(m);
}

TEST(master_input_is_a_line_on_the_slave_and_echoed_back) {
    char path[64], buf[64];
    int m = OK(open_pair(path, sizeof path));
    int s = OK(open(path, O_RDWR | O_NOCTTY));
    EXPECT_EQ(write(m, "abc\n", 4), 4);
    ssize_t n = read(s, buf, sizeof buf);
    CHECK(n == 4 && memcmp(buf, "abc\n", 4) == 0, "slave read %zd bytes", n);
    n = read_master(m, buf, sizeof buf);
    CHECK(n == 5 && memcmp(buf, "abc\r\n", 5) == 0, "echo: %zd bytes", n);
    close(s);
    close(m);
}

TEST(raw_mode_passes_bytes_through_at_once) {
    char path[64], buf[16];
    int m = OK(open_pair(path, sizeof path));
    int s = OK(open(path, O_RDWR | O_NOCTTY));
    struct termios t;
    OK(tcgetattr(s, &t));
    cfmakeraw(&t);
    OK(tcsetattr(s, TCSANOW, &t));
    EXPECT_EQ(write(m, "x\003y", 3), 3);
    ssize_t n = read(s, buf, sizeof buf);
    CHECK(n == 3 && memcmp(buf, "x\003y", 3) == 0, "slave read %zd bytes", n);
    EXPECT_EQ(write(s, "a\nb", 3), 3);
    n = read_master(m, buf, sizeof buf);
    CHECK(n == 3 && memcmp(buf, "a\nb", 3) == 0, "raw output read %zd bytes", n);
    close(s);
    close(m);
}

TEST(tabs_expand_to_spaces_in_one_large_write_with_xtabs) {
    /* A tab is up to eight bytes of output: a write of 1000 tabs is 8000
     * spaces, read by the master while the slave's writer waits for room
     * (Kestrel once assumed a byte became at most two). */
    char path[64];
    int m = OK(open_pair(path, sizeof path));
    int s = OK(open(path, O_RDWR | O_NOCTTY));
    struct termios t;
    OK(tcgetattr(s, &t));
    t.c_oflag = (t.c_oflag & ~TABDLY) | OPOST | TAB3;
    OK(tcsetattr(s, TCSANOW, &t));
    pid_t pid = OK(fork());
    if (pid == 0) {
        char tabs[1000];
        memset(tabs, '\t', sizeof tabs);
        _exit(write(s, tabs, sizeof tabs) == (ssize_t)sizeof tabs ? 0 : 1);
    }
    close(s);
    size_t spaces = 0, other = 0;
    char buf[4096];
    struct pollfd p = {m, POLLIN, 0};
    while (spaces + other < 8000 && poll(&p, 1, 2000) == 1) {
        ssize_t n = read(m, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            buf[i] == ' ' ? spaces++ : other++;
    }
    int status = 0;
    OK(waitpid(pid, &status, 0));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %#x", status);
    EXPECT_EQ(spaces, 8000u);
    EXPECT_EQ(other, 0u);
    close(m);
}

/* vhangup hangs up the caller's controlling terminal: writes to it fail
 * with EIO afterwards. Without a controlling terminal it does nothing;
 * without CAP_SYS_TTY_CONFIG it is EPERM. */
static void child_vhangup(void *arg)
{
    const char *path = arg;
    if (setsid() < 0)
        _exit(10);
    if (syscall(SYS_vhangup) != 0) /* no controlling terminal yet */
        _exit(11);
    int s = open(path, O_RDWR | O_NOCTTY);
    if (s < 0 || ioctl(s, TIOCSCTTY, 0) != 0)
        _exit(12);
    signal(SIGHUP, SIG_IGN);
    if (write(s, "a", 1) != 1)
        _exit(13);
    if (syscall(SYS_vhangup) != 0)
        _exit(14);
    errno = 0;
    if (write(s, "b", 1) != -1 || errno != EIO)
        _exit(15);
    _exit(0);
}

static void child_vhangup_unprivileged(void *arg)
{
    (void)arg;
    if (setresuid(65534, 65534, 65534) != 0)
        _exit(10);
    errno = 0;
    if (syscall(SYS_vhangup) != -1 || errno != EPERM)
        _exit(11);
    _exit(0);
}

TEST(vhangup_hangs_up_the_controlling_terminal) {
    if (geteuid() != 0)
        SKIP("needs root");
    char path[64];
    int m = OK(open_pair(path, sizeof path));
    int st = kt_in_child(child_vhangup, path);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    st = kt_in_child(child_vhangup_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unprivileged child: %s", kt_status(st));
    close(m);
}

/* The old struct termio calls: TCGETA shows the low 16 bits of the flags and
 * the first 8 control characters; TCSETA sets those and keeps the rest; a bad
 * or NULL pointer is EFAULT. */
struct old_termio {
    unsigned short c_iflag, c_oflag, c_cflag, c_lflag;
    unsigned char c_line;
    unsigned char c_cc[8];
};

TEST(tcgeta_and_tcseta_use_the_old_termio_layout) {
    char path[64];
    int m = OK(open_pair(path, sizeof path));
    int s = OK(open(path, O_RDWR | O_NOCTTY));
    struct termios t;
    OK(ioctl(s, TCGETS, &t));
    struct old_termio o;
    memset(&o, 0x5a, sizeof o);
    OK(ioctl(s, 0x5405 /* TCGETA */, &o));
    EXPECT_EQ(o.c_lflag, (unsigned short)t.c_lflag);
    EXPECT_EQ(o.c_cflag, (unsigned short)t.c_cflag);
    EXPECT_EQ(o.c_cc[VINTR], t.c_cc[VINTR]);
    o.c_lflag &= (unsigned short)~ECHO;
    o.c_cc[VINTR] = 7;
    OK(ioctl(s, 0x5406 /* TCSETA */, &o));
    struct termios n;
    OK(ioctl(s, TCGETS, &n));
    EXPECT_EQ(n.c_lflag & ECHO, 0);
    EXPECT_EQ(n.c_cc[VINTR], 7);
    EXPECT_EQ(n.c_cc[VEOL2], t.c_cc[VEOL2]);
    EXPECT_ERRNO(ioctl(s, 0x5405, NULL), EFAULT);
    EXPECT_ERRNO(ioctl(m, 0x5405, (void *)-1), EFAULT);
    close(s);
    close(m);
}

TEST(window_size_set_on_the_master_is_the_slaves) {
    char path[64];
    int m = OK(open_pair(path, sizeof path));
    int s = OK(open(path, O_RDWR | O_NOCTTY));
    struct winsize w = {.ws_row = 33, .ws_col = 101}, got = {0};
    OK(ioctl(m, TIOCSWINSZ, &w));
    OK(ioctl(s, TIOCGWINSZ, &got));
    EXPECT_EQ(got.ws_row, 33);
    EXPECT_EQ(got.ws_col, 101);
    close(s);
    close(m);
}

TEST(ctrl_c_from_the_master_interrupts_the_slaves_foreground_group) {
    char path[64];
    int m = OK(open_pair(path, sizeof path));
    int sync_pipe[2];
    OK(pipe(sync_pipe));
    pid_t pid = fork();
    OK(pid);
    if (pid == 0) {
        /* A new session whose controlling terminal is the slave. */
        close(m);
        setsid();
        int s = open(path, O_RDWR); /* no O_NOCTTY: becomes the ctty */
        if (s < 0)
            _exit(2);
        if (tcgetpgrp(s) != getpid())
            _exit(3);
        if (write(sync_pipe[1], "r", 1) != 1)
            _exit(4);
        char c;
        ssize_t r = read(s, &c, 1); /* ended by SIGINT: never returns */
        _exit(r == 1 ? 5 : 6);
    }
    char c;
    EXPECT_EQ(read(sync_pipe[0], &c, 1), 1);
    EXPECT_EQ(write(m, "\003", 1), 1);
    int st;
    OK(waitpid(pid, &st, 0));
    close(m);
    close(sync_pipe[0]);
    close(sync_pipe[1]);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "child %s", kt_status(st));
}

TEST(master_reads_eio_once_the_slave_is_closed) {
    char path[64], buf[16];
    int m = OK(open_pair(path, sizeof path));
    int s = OK(open(path, O_RDWR | O_NOCTTY));
    EXPECT_EQ(write(s, "z", 1), 1);
    close(s);
    /* What was written is still read, then EIO. */
    ssize_t n = read_master(m, buf, sizeof buf);
    EXPECT_EQ(n, 1);
    struct pollfd p = {m, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 1000), 1);
    CHECK(p.revents & POLLHUP, "poll revents %#x lacks POLLHUP", p.revents);
    EXPECT_ERRNO(read(m, buf, sizeof buf), EIO);
    close(m);
}

TEST(slave_sees_end_of_file_and_eio_after_the_master_closes) {
    char path[64], buf[16];
    int m = OK(open_pair(path, sizeof path));
    int s = OK(open(path, O_RDWR | O_NOCTTY));
    close(m);
    EXPECT_EQ(read(s, buf, sizeof buf), 0);
    EXPECT_ERRNO(write(s, "x", 1), EIO);
    close(s);
    /* The name went with the master. */
    EXPECT_ERRNO(open(path, O_RDWR | O_NOCTTY), ENOENT);
}

int main(void)
{
    signal(SIGHUP, SIG_IGN);
    KT_BEGIN();
    RUN(ptsname_names_pts_and_tiocgptn_agrees);
    RUN(a_locked_slave_cannot_be_opened);
    RUN(slave_output_reaches_the_master_with_onlcr);
    RUN(master_input_is_a_line_on_the_slave_and_echoed_back);
    RUN(raw_mode_passes_bytes_through_at_once);
    RUN(tabs_expand_to_spaces_in_one_large_write_with_xtabs);
    RUN(window_size_set_on_the_master_is_the_slaves);
    RUN(ctrl_c_from_the_master_interrupts_the_slaves_foreground_group);
    RUN(master_reads_eio_once_the_slave_is_closed);
    RUN(slave_sees_end_of_file_and_eio_after_the_master_closes);
    RUN(tcgeta_and_tcseta_use_the_old_termio_layout);
    RUN(vhangup_hangs_up_the_controlling_terminal);
    return KT_END();
}
