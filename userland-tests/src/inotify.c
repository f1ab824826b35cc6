/*
 * inotify.c - inotify_init/init1, inotify_add_watch, inotify_rm_watch and the
 * events read from the descriptor (inotify(7)).
 *
 * As asserted here (Linux 6.x):
 *   - init1 takes only IN_CLOEXEC and IN_NONBLOCK (else EINVAL); an empty queue
 *     reads EAGAIN when non-blocking, and a buffer too small for the next record
 *     is EINVAL. FIONREAD gives the bytes queued.
 *   - add_watch checks the mask first (no known bit, or IN_MASK_ADD with
 *     IN_MASK_CREATE: EINVAL), then the descriptor (EBADF; not inotify: EINVAL),
 *     then the path (ENOENT, EFAULT, ENOTDIR with IN_ONLYDIR). The same inode
 *     again gives the same watch descriptor; IN_MASK_CREATE then is EEXIST.
 *   - A watched file hears IN_OPEN, IN_ACCESS, IN_MODIFY, IN_ATTRIB,
 *     IN_CLOSE_WRITE/IN_CLOSE_NOWRITE in the order they happen; a watched
 *     directory hears the same for files in it, with their names (padded with
 *     NULs to a multiple of 16), plus IN_CREATE, IN_DELETE, IN_MOVED_FROM and
 *     IN_MOVED_TO (one cookie for the pair), IN_ISDIR for directories.
 *   - Removing a file's last link: IN_ATTRIB, IN_DELETE_SELF, IN_IGNORED; a
 *     renamed watched file hears IN_MOVE_SELF; rm_watch queues IN_IGNORED and a
 *     second rm_watch of it is EINVAL; IN_ONESHOT ends the watch after one event.
 *   - Two identical events in a row (not yet read) are merged into one.
 *   - IN_EXCL_UNLINK: a directory watch hears nothing more of a child once
 *     it is unlinked (a write through a descriptor still open).
 *   - Unmounting a file system: every watch on one of its inodes hears
 *     IN_UNMOUNT (whatever its mask; IN_ISDIR on a directory), then
 *     IN_IGNORED, and is gone; a watch elsewhere hears nothing.
 */
#define KT_AREA "inotify"
#include "kt.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/ioctl.h>

struct ev {
    int wd;
    uint32_t mask;
    uint32_t cookie;
    char name[64];
};

/* Reads what is queued (non-blocking) into evs; the number of events. */
static int drain(int fd, struct ev *evs, int max)
{
    char buf[4096] __attribute__((aligned(8)));
    int n = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0)
            return n;
        for (char *p = buf; p < buf + r;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (n < max) {
                evs[n].wd = e->wd;
                evs[n].mask = e->mask;
                evs[n].cookie = e->cookie;
                snprintf(evs[n].name, sizeof evs[n].name, "%s", e->len ? e->name : "");
            }
            n++;
            p += sizeof *e + e->len;
        }
    }
}

static int nb_instance(void)
{
    return (int)syscall(SYS_inotify_init1, IN_NONBLOCK | IN_CLOEXEC);
}

TEST(init1_rejects_unknown_flags_and_sets_cloexec_and_nonblock) {
    EXPECT_ERRNO(syscall(SYS_inotify_init1, 0x1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_inotify_init1, IN_NONBLOCK | 0x100), EINVAL);
    int fd = OK(nb_instance());
    EXPECT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    char buf[64];
    EXPECT_ERRNO(read(fd, buf, sizeof buf), EAGAIN);
    int plain = OK((int)syscall(SYS_inotify_init1, 0));
    EXPECT_EQ(fcntl(plain, F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(fcntl(plain, F_GETFL) & O_NONBLOCK, 0);
    close(plain);
    close(fd);
}

TEST(add_watch_errors_in_linux_order) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "x", 1));
    int fd = OK(nb_instance());
    EXPECT_ERRNO(inotify_add_watch(fd, f, 0), EINVAL);
    EXPECT_ERRNO(inotify_add_watch(fd, f, IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE), EINVAL);
    EXPECT_ERRNO(inotify_add_watch(-1, f, IN_MODIFY), EBADF);
    EXPECT_ERRNO(inotify_add_watch(9999, f, IN_MODIFY), EBADF);
    /* the mask is checked before the descriptor */
    EXPECT_ERRNO(inotify_add_watch(-1, f, 0), EINVAL);
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(inotify_add_watch(p[0], f, IN_MODIFY), EINVAL);
    EXPECT_ERRNO(inotify_add_watch(fd, kt_path(d, "missing"), IN_MODIFY), ENOENT);
    EXPECT_ERRNO(syscall(SYS_inotify_add_watch, fd, (char *)8, IN_MODIFY), EFAULT);
    EXPECT_ERRNO(inotify_add_watch(fd, f, IN_MODIFY | IN_ONLYDIR), ENOTDIR);
    int wd = OK(inotify_add_watch(fd, f, IN_MODIFY));
    EXPECT_EQ(inotify_add_watch(fd, f, IN_ATTRIB), wd);
    EXPECT_ERRNO(inotify_add_watch(fd, f, IN_ATTRIB | IN_MASK_CREATE), EEXIST);
    int wd2 = OK(inotify_add_watch(fd, d, IN_CREATE | IN_ONLYDIR));
    CHECK(wd2 != wd, "two inodes share watch descriptor %d", wd);
    EXPECT_ERRNO(inotify_rm_watch(fd, 12345), EINVAL);
    EXPECT_ERRNO(inotify_rm_watch(-1, wd), EBADF);
    EXPECT_ERRNO(inotify_rm_watch(p[0], wd), EINVAL);
    close(p[0]);
    close(p[1]);
    close(fd);
}

TEST(file_watch_reports_open_access_modify_attrib_close_in_order) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "hello", 5));
    int fd = OK(nb_instance());
    int wd = OK(inotify_add_watch(fd, f, IN_ALL_EVENTS));
    int w = OK(open(f, O_WRONLY));
    OK((int)write(w, "ab", 2));
    OK(close(w));
    int r = OK(open(f, O_RDONLY));
    char c[2];
    OK((int)read(r, c, 2));
    OK(close(r));
    OK(chmod(f, 0600));
    struct ev e[16];
    int n = drain(fd, e, 16);
    uint32_t want[] = {IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE, IN_OPEN, IN_ACCESS, IN_CLOSE_NOWRITE,
                       IN_ATTRIB};
    EXPECT_EQ(n, 7);
    for (int i = 0; i < n && i < 7; i++) {
        CHECK(e[i].wd == wd && e[i].mask == want[i] && !e[i].name[0],
              "event %d: wd %d mask %#x name \"%s\", expected mask %#x", i, e[i].wd, e[i].mask,
              e[i].name, want[i]);
    }
    close(fd);
}

TEST(identical_events_in_a_row_are_merged) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "", 0));
    int fd = OK(nb_instance());
    OK(inotify_add_watch(fd, f, IN_MODIFY));
    int w = OK(open(f, O_WRONLY));
    for (int i = 0; i < 5; i++)
        OK((int)write(w, "z", 1));
    close(w);
    int q = -1;
    OK(ioctl(fd, FIONREAD, &q));
    EXPECT_EQ(q, (int)sizeof(struct inotify_event));
    struct ev e[8];
    EXPECT_EQ(drain(fd, e, 8), 1);
    close(fd);
}

TEST(directory_watch_names_created_moved_and_deleted_files) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(nb_instance());
    int wd = OK(inotify_add_watch(fd, d, IN_CREATE | IN_DELETE | IN_MOVE | IN_CLOSE_WRITE));
    OK(kt_write_file(kt_path(d, "a"), "1", 1));
    OK(mkdir(kt_path(d, "sub"), 0755));
    OK(rename(kt_path(d, "a"), kt_path(d, "b")));
    OK(unlink(kt_path(d, "b")));
    OK(rmdir(kt_path(d, "sub")));
    struct ev e[16];
    int n = drain(fd, e, 16);
    struct {
        uint32_t mask;
        const char *name;
    } want[] = {
        {IN_CREATE, "a"},  {IN_CLOSE_WRITE, "a"}, {IN_CREATE | IN_ISDIR, "sub"}, {IN_MOVED_FROM, "a"},
        {IN_MOVED_TO, "b"}, {IN_DELETE, "b"},     {IN_DELETE | IN_ISDIR, "sub"},
    };
    EXPECT_EQ(n, 7);
    for (int i = 0; i < n && i < 7; i++) {
        CHECK(e[i].wd == wd && e[i].mask == want[i].mask && !strcmp(e[i].name, want[i].name),
              "event %d: mask %#x name \"%s\", expected %#x \"%s\"", i, e[i].mask, e[i].name,
              want[i].mask, want[i].name);
    }
    if (n >= 5) {
        CHECK(e[3].cookie != 0 && e[3].cookie == e[4].cookie, "move cookies %u and %u",
              e[3].cookie, e[4].cookie);
        EXPECT_EQ(e[0].cookie, 0);
    }
    close(fd);
}

TEST(name_records_are_nul_padded_to_16_and_small_buffers_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(nb_instance());
    OK(inotify_add_watch(fd, d, IN_CREATE));
    OK(kt_write_file(kt_path(d, "seventeen-chars-x"), "", 0));
    char buf[256] __attribute__((aligned(8)));
    /* header + name rounded up: 17 + NUL = 18 -> 32 */
    EXPECT_ERRNO(read(fd, buf, sizeof(struct inotify_event) + 31), EINVAL);
    ssize_t r = read(fd, buf, sizeof buf);
    EXPECT_EQ(r, (ssize_t)(sizeof(struct inotify_event) + 32));
    struct inotify_event *e = (struct inotify_event *)buf;
    EXPECT_EQ(e->len, 32u);
    CHECK(!strcmp(e->name, "seventeen-chars-x"), "name \"%s\"", e->name);
    int zeros = 1;
    for (int i = 18; i < 32; i++)
        zeros &= e->name[i] == 0;
    CHECK(zeros, "padding is not NULs");
    close(fd);
}

TEST(unlinking_the_last_link_reports_delete_self_then_ignored) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "x", 1));
    OK(link(f, kt_path(d, "g")));
    int fd = OK(nb_instance());
    int wd = OK(inotify_add_watch(fd, f, IN_ALL_EVENTS));
    OK(unlink(kt_path(d, "g"))); /* a link remains: IN_ATTRIB only */
    OK(unlink(f));
    struct ev e[8];
    int n = drain(fd, e, 8);
    uint32_t want[] = {IN_ATTRIB, IN_DELETE_SELF, IN_IGNORED};
    /* the first IN_ATTRIB is merged with the second */
    EXPECT_EQ(n, 3);
    for (int i = 0; i < n && i < 3; i++)
        CHECK(e[i].wd == wd && e[i].mask == want[i], "event %d: mask %#x, expected %#x", i,
              e[i].mask, want[i]);
    EXPECT_ERRNO(inotify_rm_watch(fd, wd), EINVAL);
    close(fd);
}

TEST(rmdir_of_a_watched_directory_reports_delete_self_then_ignored) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *sub = kt_path(d, "sub");
    OK(mkdir(sub, 0755));
    int fd = OK(nb_instance());
    int wd = OK(inotify_add_watch(fd, sub, IN_ALL_EVENTS));
    OK(rmdir(sub));
    struct ev e[8];
    int n = drain(fd, e, 8);
    EXPECT_EQ(n, 2);
    if (n == 2) {
        CHECK(e[0].wd == wd && e[0].mask == IN_DELETE_SELF, "first: mask %#x", e[0].mask);
        CHECK(e[1].wd == wd && e[1].mask == IN_IGNORED, "second: mask %#x", e[1].mask);
    }
    close(fd);
}

TEST(renamed_file_hears_move_self) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(kt_write_file(kt_path(d, "a"), "", 0));
    int fd = OK(nb_instance());
    int wd = OK(inotify_add_watch(fd, kt_path(d, "a"), IN_MOVE_SELF));
    OK(rename(kt_path(d, "a"), kt_path(d, "b")));
    struct ev e[4];
    int n = drain(fd, e, 4);
    EXPECT_EQ(n, 1);
    if (n == 1)
        CHECK(e[0].wd == wd && e[0].mask == IN_MOVE_SELF, "mask %#x", e[0].mask);
    close(fd);
}

/* A directory's own events carry IN_ISDIR, except IN_MOVE_SELF and
 * IN_DELETE_SELF, which inotify never marked. */
TEST(directory_self_events_carry_isdir_but_not_move_self) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "a"), 0755));
    int fd = OK(nb_instance());
    int wd = OK(inotify_add_watch(fd, kt_path(d, "a"), IN_OPEN | IN_MOVE_SELF));
    int r = OK(open(kt_path(d, "a"), O_RDONLY | O_DIRECTORY));
    close(r);
    OK(rename(kt_path(d, "a"), kt_path(d, "b")));
    struct ev e[4];
    int n = drain(fd, e, 4);
    EXPECT_EQ(n, 2);
    if (n == 2) {
        CHECK(e[0].wd == wd && e[0].mask == (IN_OPEN | IN_ISDIR), "first: mask %#x", e[0].mask);
        CHECK(e[1].wd == wd && e[1].mask == IN_MOVE_SELF, "second: mask %#x", e[1].mask);
    }
    close(fd);
}

TEST(rm_watch_queues_ignored_and_oneshot_ends_after_one_event) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "", 0));
    int fd = OK(nb_instance());
    int wd = OK(inotify_add_watch(fd, f, IN_ATTRIB));
    OK(inotify_rm_watch(fd, wd));
    EXPECT_ERRNO(inotify_rm_watch(fd, wd), EINVAL);
    OK(chmod(f, 0600)); /* not watched any more */
    struct ev e[8];
    int n = drain(fd, e, 8);
    EXPECT_EQ(n, 1);
    if (n == 1)
        CHECK(e[0].wd == wd && e[0].mask == IN_IGNORED, "mask %#x", e[0].mask);
    int wd2 = OK(inotify_add_watch(fd, f, IN_ATTRIB | IN_ONESHOT));
    CHECK(wd2 != wd, "watch descriptor %d reused", wd);
    OK(chmod(f, 0640));
    OK(chmod(f, 0644));
    n = drain(fd, e, 8);
    EXPECT_EQ(n, 2);
    if (n == 2) {
        CHECK(e[0].wd == wd2 && e[0].mask == IN_ATTRIB, "first: mask %#x", e[0].mask);
        CHECK(e[1].wd == wd2 && e[1].mask == IN_IGNORED, "second: mask %#x", e[1].mask);
    }
    close(fd);
}

TEST(mask_add_keeps_the_old_events) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "", 0));
    int fd = OK(nb_instance());
    int wd = OK(inotify_add_watch(fd, f, IN_ATTRIB));
    EXPECT_EQ(inotify_add_watch(fd, f, IN_OPEN | IN_MASK_ADD), wd);
    int r = OK(open(f, O_RDONLY));
    close(r);
    OK(chmod(f, 0600));
    struct ev e[8];
    int n = drain(fd, e, 8);
    EXPECT_EQ(n, 2);
    if (n == 2)
        CHECK(e[0].mask == IN_OPEN && e[1].mask == IN_ATTRIB, "masks %#x %#x", e[0].mask,
              e[1].mask);
    /* without IN_MASK_ADD the mask is replaced */
    EXPECT_EQ(inotify_add_watch(fd, f, IN_ATTRIB), wd);
    r = OK(open(f, O_RDONLY));
    close(r);
    EXPECT_EQ(drain(fd, e, 8), 0);
    close(fd);
}

TEST(poll_and_blocking_read_wake_on_an_event_from_another_process) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK((int)syscall(SYS_inotify_init1, 0));
    OK(inotify_add_watch(fd, d, IN_CREATE));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 0), 0);
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        usleep(50000);
        _exit(kt_write_file(kt_path(d, "late"), "", 0) == 0 ? 0 : 1);
    }
    char buf[256] __attribute__((aligned(8)));
    alarm(5);
    ssize_t r = read(fd, buf, sizeof buf);
    alarm(0);
    int st;
    waitpid(pid, &st, 0);
    CHECK(r > 0, "blocking read: %s", kt_errstr(errno));
    if (r > 0) {
        struct inotify_event *e = (struct inotify_event *)buf;
        CHECK(e->mask == IN_CREATE && !strcmp(e->name, "late"), "mask %#x name \"%s\"", e->mask,
              e->name);
    }
    OK(kt_write_file(kt_path(d, "now"), "", 0));
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLIN);
    close(fd);
}

TEST(excl_unlink_stops_events_for_unlinked_children) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    int fd = OK(nb_instance());
    int plain = OK(inotify_add_watch(fd, d, IN_MODIFY));
    int other = OK(nb_instance());
    int excl = OK(inotify_add_watch(other, d, IN_MODIFY | IN_EXCL_UNLINK));
    int file = OK(open(f, O_RDWR | O_CREAT, 0644));
    OK(unlink(f));
    EXPECT_EQ(write(file, "x", 1), 1);
    close(file);
    struct ev e[8];
    int n = drain(fd, e, 8);
    int m = drain(other, e + 4, 4);
    close(fd);
    close(other);
    CHECK(n == 1 && e[0].wd == plain && e[0].mask == IN_MODIFY && !strcmp(e[0].name, "f"),
          "the plain watch heard %d events (first mask %#x)", n, n ? e[0].mask : 0);
    CHECK(m == 0, "the IN_EXCL_UNLINK watch %d heard %d events", excl, m);
}

TEST(unmount_reports_unmount_then_ignored_to_every_watch_on_it) {
    if (getuid() != 0)
        SKIP("needs root to mount");
    const char *d = kt_tmpdir();
    const char *other = kt_tmpdir();
    CHECK(d && other, "mkdtemp failed");
    OK(mount("tmpfs", d, "tmpfs", 0, NULL));
    int fd = nb_instance();
    int w = kt_write_file(kt_path(d, "f"), "x", 1);
    int wf = inotify_add_watch(fd, kt_path(d, "f"), IN_MODIFY);
    int wdir = inotify_add_watch(fd, d, IN_CREATE);
    int wother = inotify_add_watch(fd, other, IN_ALL_EVENTS);
    int u = umount2(d, 0);
    int ue = errno;
    if (u != 0)
        umount2(d, MNT_DETACH);
    CHECK(fd >= 0 && w == 0 && wf > 0 && wdir > 0 && wother > 0, "setting up the watches failed");
    CHECK(u == 0, "umount: %s", kt_errstr(ue));
    struct ev e[8];
    int n = drain(fd, e, 8);
    EXPECT_EQ(n, 4);
    /* Each watch on the file system: IN_UNMOUNT, then IN_IGNORED. */
    int seen_f = 0, seen_dir = 0;
    for (int i = 0; i < n && i < 8; i++) {
        CHECK(e[i].wd == wf || e[i].wd == wdir, "event %d for wd %d (mask %#x)", i, e[i].wd,
              e[i].mask);
        int *seen = e[i].wd == wf ? &seen_f : &seen_dir;
        uint32_t unmount = IN_UNMOUNT | (e[i].wd == wdir ? IN_ISDIR : 0);
        uint32_t want = *seen == 0 ? unmount : IN_IGNORED;
        CHECK(e[i].mask == want, "event %d (wd %d): mask %#x, expected %#x", i, e[i].wd,
              e[i].mask, want);
        ++*seen;
    }
    CHECK(seen_f == 2 && seen_dir == 2, "events for the file %d, for the directory %d", seen_f,
          seen_dir);
    EXPECT_ERRNO(inotify_rm_watch(fd, wf), EINVAL);
    EXPECT_ERRNO(inotify_rm_watch(fd, wdir), EINVAL);
    EXPECT_EQ(inotify_rm_watch(fd, wother), 0);
    close(fd);
}

int main(void)
{
    KT_BEGIN();
    RUN(init1_rejects_unknown_flags_and_sets_cloexec_and_nonblock);
    RUN(add_watch_errors_in_linux_order);
    RUN(file_watch_reports_open_access_modify_attrib_close_in_order);
    RUN(identical_events_in_a_row_are_merged);
    RUN(directory_watch_names_created_moved_and_deleted_files);
    RUN(name_records_are_nul_padded_to_16_and_small_buffers_einval);
    RUN(unlinking_the_last_link_reports_delete_self_then_ignored);
    RUN(rmdir_of_a_watched_directory_reports_delete_self_then_ignored);
    RUN(renamed_file_hears_move_self);
    RUN(directory_self_events_carry_isdir_but_not_move_self);
    RUN(rm_watch_queues_ignored_and_oneshot_ends_after_one_event);
    RUN(mask_add_keeps_the_old_events);
    RUN(poll_and_blocking_read_wake_on_an_event_from_another_process);
    RUN(excl_unlink_stops_events_for_unlinked_children);
    RUN(unmount_reports_unmount_then_ignored_to_every_watch_on_it);
    return KT_END();
}
