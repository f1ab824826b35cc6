/*
 * fanotify.c - fanotify_init, fanotify_mark and the events read from a
 * fanotify descriptor, permission events among them (fanotify(7)). Needs
 * CAP_SYS_ADMIN (every case SKIPs without it).
 *
 * As asserted here (Linux 6.x):
 *   - init: an unknown flag, both class bits, or event_f_flags with O_ACCMODE
 *     or O_CREAT are EINVAL; FAN_CLOEXEC and FAN_NONBLOCK become FD_CLOEXEC
 *     and O_NONBLOCK on an O_RDWR descriptor; an empty non-blocking queue
 *     reads EAGAIN, a buffer smaller than an event EINVAL.
 *   - mark: flags and mask are checked before the descriptor (EINVAL), then
 *     the descriptor (EBADF; not fanotify: EINVAL), then the group (a
 *     permission event in a FAN_CLASS_NOTIF group, or FAN_CREATE without
 *     file ids: EINVAL), then the path (ENOENT; ENOTDIR with
 *     FAN_MARK_ONLYDIR). Removing a mark that is not there is ENOENT.
 *   - Events are struct fanotify_event_metadata (24 bytes, version 3) with the
 *     pid of the process that acted and a new descriptor of the file, opened
 *     with event_f_flags; that descriptor's own reads and closes make no
 *     events. Events on one file from one process merge while queued.
 *   - Directories are heard only with FAN_ONDIR, children of a marked
 *     directory only with FAN_EVENT_ON_CHILD, neither flag is reported; a
 *     mark on a symlink (FAN_MARK_DONT_FOLLOW) does not hear its target;
 *     FAN_MARK_FLUSH drops every inode mark; an ignore mask takes events away
 *     until the file is modified (unless FAN_MARK_IGNORED_SURV_MODIFY); a mount
 *     mark hears every file of the mount.
 *   - Permission events: the opener or reader waits for the answer; FAN_DENY
 *     is EPERM to it, FAN_ALLOW lets it go on; an answer for a descriptor with
 *     no pending event is ENOENT, an unknown answer EINVAL; closing the group
 *     allows every waiter; a waiter can still be killed.
 *   - Past 16384 queued events (/proc/sys/fs/fanotify/max_queued_events)
 *     there is one FAN_Q_OVERFLOW (FIONREAD counts it); poll and epoll report
 *     POLLIN while something is queued.
 */
#define KT_AREA "fanotify"
#include "kt.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#ifndef FAN_MARK_FILESYSTEM
#define FAN_MARK_FILESYSTEM 0x00000100
#endif
#ifndef FAN_OPEN_EXEC
#define FAN_OPEN_EXEC 0x00001000
#endif

#define META sizeof(struct fanotify_event_metadata)

static int fan_init(unsigned flags, unsigned f_flags)
{
    return (int)syscall(SYS_fanotify_init, flags, f_flags);
}

static long fan_mark(int fd, unsigned flags, unsigned long long mask, int dfd, const char *path)
{
    return syscall(SYS_fanotify_mark, fd, flags, mask, dfd, path);
}

/* A non-blocking notification group, or -1 with the case skipped. */
#define GROUP(fd, flags)                                                      \
    int fd = fan_init((flags) | FAN_NONBLOCK | FAN_CLOEXEC, O_RDONLY);        \
    if (fd < 0 && errno == EPERM)                                             \
        SKIP("fanotify needs CAP_SYS_ADMIN");                                 \
    CHECK(fd >= 0, "fanotify_init: %s", kt_errstr(errno))

struct ev {
    unsigned long long mask;
    int fd;
    int pid;
};

/* Reads what is queued into evs (closing each event's descriptor unless
 * keep); the number of events, or -1 on a malformed record. */
static int drain(int fd, struct ev *evs, int max, int keep)
{
    char buf[META * 64] __attribute__((aligned(8)));
    int n = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0)
            return n;
        for (char *p = buf; p < buf + r;) {
            struct fanotify_event_metadata *e = (struct fanotify_event_metadata *)p;
            if (e->event_len != META || e->metadata_len != META || e->vers != FANOTIFY_METADATA_VERSION)
                return -1;
            if (n < max) {
                evs[n].mask = e->mask;
                evs[n].fd = e->fd;
                evs[n].pid = e->pid;
            }
            if (!(keep && n < max) && e->fd >= 0)
                close(e->fd);
            n++;
            p += e->event_len;
        }
    }
}

/* The union of the masks of the events of this process. */
static unsigned long long mine(struct ev *evs, int n)
{
    unsigned long long m = 0;
    for (int i = 0; i < n; i++)
        if (evs[i].pid == getpid())
            m |= evs[i].mask;
    return m;
}

TEST(init_rejects_bad_flags_and_sets_cloexec_and_nonblock) {
    int probe = fan_init(FAN_CLASS_NOTIF, O_RDONLY);
    if (probe < 0 && errno == EPERM)
        SKIP("fanotify needs CAP_SYS_ADMIN");
    CHECK(probe >= 0, "fanotify_init: %s", kt_errstr(errno));
    EXPECT_EQ(fcntl(probe, F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(fcntl(probe, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDWR);
    close(probe);
    EXPECT_ERRNO(fan_init(0x80000000u, O_RDONLY), EINVAL);
    EXPECT_ERRNO(fan_init(FAN_CLASS_CONTENT | FAN_CLASS_PRE_CONTENT, O_RDONLY), EINVAL);
    EXPECT_ERRNO(fan_init(FAN_CLASS_NOTIF, O_ACCMODE), EINVAL);
    EXPECT_ERRNO(fan_init(FAN_CLASS_NOTIF, O_RDONLY | O_CREAT), EINVAL);
    GROUP(fd, 0);
    EXPECT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    char buf[META];
    EXPECT_ERRNO(read(fd, buf, sizeof buf), EAGAIN);
    close(fd);
}

TEST(mark_errors_in_linux_order) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    OK(kt_write_file(kt_path(d, "f"), "x", 1));
    /* Flags and mask before the descriptor. */
    EXPECT_ERRNO(fan_mark(-1, FAN_MARK_ADD | 0x80000000u, FAN_OPEN, AT_FDCWD, d), EINVAL);
    EXPECT_ERRNO(fan_mark(-1, FAN_MARK_ADD, 0, AT_FDCWD, d), EINVAL);
    EXPECT_ERRNO(fan_mark(-1, FAN_MARK_ADD, 1ULL << 32, AT_FDCWD, d), EINVAL);
    EXPECT_ERRNO(fan_mark(-1, FAN_MARK_ADD, FAN_Q_OVERFLOW, AT_FDCWD, d), EINVAL);
    EXPECT_ERRNO(fan_mark(-1, FAN_MARK_ADD | FAN_MARK_REMOVE, FAN_OPEN, AT_FDCWD, d), EINVAL);
    EXPECT_ERRNO(fan_mark(-1, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, d), EBADF);
    int notfan = OK(open(kt_path(d, "f"), O_RDONLY));
    EXPECT_ERRNO(fan_mark(notfan, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, d), EINVAL);
    close(notfan);
    GROUP(fd, FAN_CLASS_NOTIF);
    EXPECT_ERRNO(fan_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, d), EINVAL);
    EXPECT_ERRNO(fan_mark(fd, FAN_MARK_ADD, FAN_CREATE, AT_FDCWD, d), EINVAL);
    EXPECT_ERRNO(fan_mark(fd, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, kt_path(d, "none")), ENOENT);
    EXPECT_ERRNO(fan_mark(fd, FAN_MARK_ADD | FAN_MARK_ONLYDIR, FAN_OPEN, AT_FDCWD, kt_path(d, "f")),
                 ENOTDIR);
    EXPECT_ERRNO(fan_mark(fd, FAN_MARK_REMOVE, FAN_OPEN, AT_FDCWD, kt_path(d, "f")), ENOENT);
    OK(fan_mark(fd, FAN_MARK_ADD | FAN_MARK_ONLYDIR, FAN_OPEN, AT_FDCWD, d));
    /* No path: the directory descriptor itself is the object. */
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    OK(fan_mark(fd, FAN_MARK_REMOVE, FAN_OPEN, dfd, NULL));
    EXPECT_ERRNO(fan_mark(fd, FAN_MARK_REMOVE, FAN_OPEN, dfd, NULL), ENOENT);
    close(dfd);
    close(fd);
}

TEST(events_carry_pid_and_a_descriptor_of_the_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "hello", 5));
    GROUP(fd, 0);
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_OPEN | FAN_ACCESS | FAN_MODIFY | FAN_CLOSE, AT_FDCWD, f));
    struct ev evs[8];
    int w = OK(open(f, O_RDWR));
    char c;
    EXPECT_EQ(drain(fd, evs, 8, 1), 1);
    EXPECT_EQ(evs[0].mask, FAN_OPEN);
    EXPECT_EQ(evs[0].pid, getpid());
    struct stat a, b;
    OK(fstat(evs[0].fd, &a));
    OK(stat(f, &b));
    CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "event fd is not the file");
    EXPECT_EQ(fcntl(evs[0].fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    /* The event's descriptor makes no events of its own. */
    EXPECT_EQ(read(evs[0].fd, &c, 1), 1);
    close(evs[0].fd);
    EXPECT_EQ(drain(fd, evs, 8, 0), 0);
    EXPECT_EQ(read(w, &c, 1), 1);
    EXPECT_EQ(drain(fd, evs, 8, 0), 1);
    EXPECT_EQ(evs[0].mask, FAN_ACCESS);
    EXPECT_EQ(write(w, "!", 1), 1);
    close(w);
    /* Still queued together: one event. */
    EXPECT_EQ(drain(fd, evs, 8, 0), 1);
    EXPECT_EQ(evs[0].mask, FAN_MODIFY | FAN_CLOSE_WRITE);
    int r = OK(open(f, O_RDONLY));
    close(r);
    EXPECT_EQ(drain(fd, evs, 8, 0), 1);
    EXPECT_EQ(evs[0].mask, FAN_OPEN | FAN_CLOSE_NOWRITE);
    /* A buffer too small for one event. */
    r = OK(open(f, O_RDONLY));
    close(r);
    char small[META - 1];
    EXPECT_ERRNO(read(fd, small, sizeof small), EINVAL);
    int queued = -1;
    OK(ioctl(fd, FIONREAD, &queued));
    EXPECT_EQ(queued, META);
    close(fd);
}

TEST(directories_need_ondir_and_children_need_event_on_child) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "x", 1));
    GROUP(fd, 0);
    struct ev evs[8];
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, d));
    close(OK(open(d, O_RDONLY | O_DIRECTORY)));
    close(OK(open(f, O_RDONLY)));
    EXPECT_EQ(drain(fd, evs, 8, 0), 0);
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_ONDIR | FAN_EVENT_ON_CHILD, AT_FDCWD, d));
    close(OK(open(d, O_RDONLY | O_DIRECTORY)));
    EXPECT_EQ(drain(fd, evs, 8, 1), 1);
    EXPECT_EQ(evs[0].mask, FAN_OPEN);
    struct stat st;
    OK(fstat(evs[0].fd, &st));
    CHECK(S_ISDIR(st.st_mode), "event fd is not the directory");
    close(evs[0].fd);
    close(OK(open(f, O_RDONLY)));
    EXPECT_EQ(drain(fd, evs, 8, 1), 1);
    OK(fstat(evs[0].fd, &st));
    CHECK(S_ISREG(st.st_mode), "event fd is not the child");
    close(evs[0].fd);
    OK(fan_mark(fd, FAN_MARK_REMOVE, FAN_EVENT_ON_CHILD, AT_FDCWD, d));
    close(OK(open(f, O_RDONLY)));
    EXPECT_EQ(drain(fd, evs, 8, 0), 0);
    close(fd);
}

TEST(dont_follow_marks_the_symlink_and_flush_drops_inode_marks) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    const char *l = kt_path(d, "l");
    OK(kt_write_file(f, "x", 1));
    OK(symlink("f", l));
    GROUP(fd, 0);
    struct ev evs[8];
    OK(fan_mark(fd, FAN_MARK_ADD | FAN_MARK_DONT_FOLLOW, FAN_OPEN, AT_FDCWD, l));
    close(OK(open(l, O_RDONLY)));
    EXPECT_EQ(drain(fd, evs, 8, 0), 0);
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, l));
    close(OK(open(f, O_RDONLY)));
    EXPECT_EQ(drain(fd, evs, 8, 0), 1);
    OK(fan_mark(fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL));
    close(OK(open(f, O_RDONLY)));
    EXPECT_EQ(drain(fd, evs, 8, 0), 0);
    EXPECT_ERRNO(fan_mark(fd, FAN_MARK_REMOVE, FAN_OPEN, AT_FDCWD, f), ENOENT);
    EXPECT_ERRNO(fan_mark(fd, FAN_MARK_FLUSH | FAN_MARK_ONLYDIR, 0, AT_FDCWD, NULL), EINVAL);
    close(fd);
}

TEST(ignore_mask_hides_events_until_the_file_is_modified) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    const char *g = kt_path(d, "g");
    OK(kt_write_file(f, "x", 1));
    OK(kt_write_file(g, "x", 1));
    GROUP(fd, 0);
    struct ev evs[8];
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_OPEN | FAN_EVENT_ON_CHILD, AT_FDCWD, d));
    OK(fan_mark(fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN, AT_FDCWD, f));
    OK(fan_mark(fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY, FAN_OPEN,
                AT_FDCWD, g));
    close(OK(open(f, O_RDONLY)));
    close(OK(open(g, O_RDONLY)));
    EXPECT_EQ(drain(fd, evs, 8, 0), 0);
    /* A write ends f's ignore mask, not g's. */
    int w = OK(open(f, O_WRONLY));
    EXPECT_EQ(write(w, "y", 1), 1);
    close(w);
    w = OK(open(g, O_WRONLY));
    EXPECT_EQ(write(w, "y", 1), 1);
    close(w);
    EXPECT_EQ(drain(fd, evs, 8, 0), 0);
    close(OK(open(f, O_RDONLY)));
    close(OK(open(g, O_RDONLY)));
    EXPECT_EQ(drain(fd, evs, 8, 1), 1);
    struct stat a, b;
    OK(fstat(evs[0].fd, &a));
    OK(stat(f, &b));
    CHECK(a.st_ino == b.st_ino, "the event is not f's");
    close(evs[0].fd);
    close(fd);
}

TEST(mount_and_filesystem_marks_hear_every_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "x", 1));
    GROUP(fd, 0);
    struct ev evs[64];
    OK(fan_mark(fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN, AT_FDCWD, d));
    close(OK(open(f, O_RDONLY)));
    int n = drain(fd, evs, 64, 0);
    CHECK(n >= 1 && (mine(evs, n) & FAN_OPEN), "no FAN_OPEN from a mount mark (%d events)", n);
    OK(fan_mark(fd, FAN_MARK_FLUSH | FAN_MARK_MOUNT, 0, AT_FDCWD, NULL));
    int gfd = fan_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
    CHECK(gfd >= 0, "fanotify_init: %s", kt_errstr(errno));
    if (fan_mark(gfd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_NOWRITE, AT_FDCWD, d) == 0) {
        close(OK(open(f, O_RDONLY)));
        n = drain(gfd, evs, 64, 0);
        CHECK(n >= 1 && (mine(evs, n) & FAN_CLOSE_NOWRITE), "no event from a filesystem mark");
    }
    close(gfd);
    close(fd);
}

/* A child that opens path and exits 0, or 1 with EPERM, 2 otherwise. */
static pid_t open_in_child(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int f = open(path, O_RDONLY);
        if (f >= 0)
            _exit(0);
        _exit(errno == EPERM ? 1 : 2);
    }
    return pid;
}

/* Waits (up to 2 s) for one event on a blocking group; its metadata. */
static int next_event(int fd, struct fanotify_event_metadata *e)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 2000) != 1)
        return -1;
    return read(fd, e, sizeof *e) == (ssize_t)sizeof *e ? 0 : -1;
}

TEST(permission_events_deny_with_eperm_and_allow) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "x", 1));
    int fd = fan_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY);
    if (fd < 0 && errno == EPERM)
        SKIP("fanotify needs CAP_SYS_ADMIN");
    CHECK(fd >= 0, "fanotify_init: %s", kt_errstr(errno));
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, f));
    struct fanotify_event_metadata e;
    int st;
    for (int round = 0; round < 2; round++) {
        pid_t pid = open_in_child(f);
        CHECK(next_event(fd, &e) == 0, "no permission event");
        EXPECT_EQ(e.mask, FAN_OPEN_PERM);
        EXPECT_EQ(e.pid, pid);
        struct fanotify_response bad = {.fd = e.fd, .response = 0x7};
        EXPECT_ERRNO(write(fd, &bad, sizeof bad), EINVAL);
        EXPECT_ERRNO(write(fd, &bad, 4), EINVAL);
        struct fanotify_response other = {.fd = e.fd + 100, .response = FAN_ALLOW};
        EXPECT_ERRNO(write(fd, &other, sizeof other), ENOENT);
        struct fanotify_response r = {.fd = e.fd, .response = round ? FAN_ALLOW : FAN_DENY};
        EXPECT_EQ(write(fd, &r, sizeof r), sizeof r);
        close(e.fd);
        OK(waitpid(pid, &st, 0));
        CHECK(WIFEXITED(st), "child did not exit");
        EXPECT_EQ(WEXITSTATUS(st), round ? 0 : 1);
        /* Answered once: a second answer finds nothing. */
        EXPECT_ERRNO(write(fd, &r, sizeof r), ENOENT);
    }
    close(fd);
}

TEST(closing_the_group_allows_a_waiting_reader) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "x", 1));
    int fd = fan_init(FAN_CLASS_CONTENT, O_RDONLY);
    if (fd < 0 && errno == EPERM)
        SKIP("fanotify needs CAP_SYS_ADMIN");
    CHECK(fd >= 0, "fanotify_init: %s", kt_errstr(errno));
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_ACCESS_PERM, AT_FDCWD, f));
    pid_t pid = fork();
    if (pid == 0) {
        close(fd);
        int r = open(f, O_RDONLY);
        char c;
        _exit(read(r, &c, 1) == 1 ? 0 : 1);
    }
    struct fanotify_event_metadata e;
    CHECK(next_event(fd, &e) == 0, "no permission event");
    EXPECT_EQ(e.mask, FAN_ACCESS_PERM);
    close(e.fd);
    /* Unanswered: closing the group lets the read go on. */
    close(fd);
    int st;
    alarm(5);
    OK(waitpid(pid, &st, 0));
    alarm(0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader status %#x", st);
}

TEST(an_opener_waiting_for_an_answer_can_be_killed) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "x", 1));
    int fd = fan_init(FAN_CLASS_CONTENT | FAN_NONBLOCK, O_RDONLY);
    if (fd < 0 && errno == EPERM)
        SKIP("fanotify needs CAP_SYS_ADMIN");
    CHECK(fd >= 0, "fanotify_init: %s", kt_errstr(errno));
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, f));
    pid_t pid = open_in_child(f);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 2000), 1);
    OK(kill(pid, SIGKILL));
    int st;
    alarm(5);
    OK(waitpid(pid, &st, 0));
    alarm(0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
    close(fd);
}

TEST(queue_overflow_adds_one_q_overflow_after_16384_events) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    GROUP(fd, 0);
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD, AT_FDCWD, d));
    /* The limit /proc/sys/fs/fanotify shows: Linux's default. */
    int limit = 0;
    FILE *pf = fopen("/proc/sys/fs/fanotify/max_queued_events", "r");
    CHECK(pf, "/proc/sys/fs/fanotify/max_queued_events: %s", kt_errstr(errno));
    CHECK(fscanf(pf, "%d", &limit) == 1, "max_queued_events unreadable");
    fclose(pf);
    EXPECT_EQ(limit, 16384);
    /* Each file its own object, so nothing merges. */
    char name[64];
    for (int i = 0; i < 16384 + 10; i++) {
        snprintf(name, sizeof name, "%s/%d", d, i);
        int c = open(name, O_WRONLY | O_CREAT, 0600);
        CHECK(c >= 0, "create %d: %s", i, kt_errstr(errno));
        close(c);
    }
    int queued = -1;
    OK(ioctl(fd, FIONREAD, &queued));
    EXPECT_EQ(queued, (16384 + 1) * META);
    close(fd);
}

TEST(poll_and_epoll_report_pollin_when_an_event_is_queued) {
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "x", 1));
    GROUP(fd, 0);
    OK(fan_mark(fd, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, f));
    int ep = OK(epoll_create1(EPOLL_CLOEXEC));
    struct epoll_event ee = {.events = EPOLLIN, .data.u32 = 7};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 0), 0);
    EXPECT_EQ(epoll_wait(ep, &ee, 1, 0), 0);
    close(OK(open(f, O_RDONLY)));
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLIN);
    EXPECT_EQ(epoll_wait(ep, &ee, 1, 0), 1);
    EXPECT_EQ(ee.events, EPOLLIN);
    EXPECT_EQ(ee.data.u32, 7);
    struct ev evs[4];
    EXPECT_EQ(drain(fd, evs, 4, 0), 1);
    EXPECT_EQ(poll(&p, 1, 0), 0);
    EXPECT_EQ(epoll_wait(ep, &ee, 1, 0), 0);
    close(ep);
    close(fd);
}

int main(void)
{
    KT_BEGIN();
    RUN(init_rejects_bad_flags_and_sets_cloexec_and_nonblock);
    RUN(mark_errors_in_linux_order);
    RUN(events_carry_pid_and_a_descriptor_of_the_file);
    RUN(directories_need_ondir_and_children_need_event_on_child);
    RUN(dont_follow_marks_the_symlink_and_flush_drops_inode_marks);
    RUN(ignore_mask_hides_events_until_the_file_is_modified);
    RUN(mount_and_filesystem_marks_hear_every_file);
    RUN(permission_events_deny_with_eperm_and_allow);
    RUN(closing_the_group_allows_a_waiting_reader);
    RUN(an_opener_waiting_for_an_answer_can_be_killed);
    RUN(queue_overflow_adds_one_q_overflow_after_16384_events);
    RUN(poll_and_epoll_report_pollin_when_an_event_is_queued);
    return KT_END();
}
