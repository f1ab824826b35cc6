/* /dev/kmsg (Documentation/ABI/testing/dev-kmsg): one record per read as
 * "PRIO,SEQ,TIMESTAMP_US,FLAGS;MESSAGE\n", writes become records (a "<N>"
 * prefix sets the priority), lseek to the oldest, the end or the last clear,
 * EAGAIN / waiting at the end, EPIPE after an overwrite, poll, permissions.
 * Needs root (SKIP without). Writes a few hundred marker records to the
 * kernel log (the overwrite case fills the whole buffer). */
#define KT_AREA "kmsg"
#include "kt.h"

#include <poll.h>
#include <signal.h>
#include <sys/klog.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <time.h>

#define RECORD_MAX 1024

struct rec {
    unsigned prio;
    unsigned long long seq, ts;
    char flag;
    char msg[4200];
};

/* Parses one record as read; 0 on success. */
static int parse(const char *buf, long n, struct rec *r)
{
    int off = 0;
    if (n <= 0 || buf[n - 1] != '\n')
        return -1;
    if (sscanf(buf, "%u,%llu,%llu,%c%n", &r->prio, &r->seq, &r->ts, &r->flag, &off) != 4)
        return -1;
    /* fields may follow the flag (",caller=..."): the message is after ';' */
    const char *semi = memchr(buf, ';', n);
    if (!semi)
        return -1;
    long len = n - 1 - (semi + 1 - buf);
    if (len < 0 || len >= (long)sizeof r->msg)
        return -1;
    memcpy(r->msg, semi + 1, len);
    r->msg[len] = 0;
    return 0;
}

static int writer(void)
{
    return open("/dev/kmsg", O_WRONLY);
}

/* Writes `text` through a fresh write-only open (each has its own rate limit). */
static long put(const char *text, size_t len)
{
    int fd = writer();
    if (fd < 0)
        return -1;
    long r = write(fd, text, len);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/* Reads records from fd (non-blocking) until one whose message contains
 * `tag`; 0 when found, -1 otherwise. */
static int find(int fd, const char *tag, struct rec *r)
{
    char buf[8192];
    for (int i = 0; i < 100000; i++) {
        long n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EPIPE)
            continue;
        if (n < 0)
            return -1;
        if (parse(buf, n, r) == 0 && strstr(r->msg, tag))
            return 0;
    }
    return -1;
}

static char tag[64], tagnl[66];

/* A marker; tagnl is it with a newline, which Linux needs to make the record
 * readable at once (a record without one stays open for a continuation until
 * the next record comes; Kestrel's records are complete at once). */
static void mktag(const char *what)
{
    snprintf(tag, sizeof tag, "kt-kmsg-%s-%d-%ld", what, getpid(), (long)time(NULL));
    snprintf(tagnl, sizeof tagnl, "%s\n", tag);
}

TEST(node_is_char_1_11_mode_0644_root)
{
    struct stat st;
    OK(stat("/dev/kmsg", &st));
    CHECK(S_ISCHR(st.st_mode), "not a character device");
    EXPECT_EQ(major(st.st_rdev), 1);
    EXPECT_EQ(minor(st.st_rdev), 11);
    EXPECT_EQ(st.st_mode & 07777, 0644);
    EXPECT_EQ(st.st_uid, 0);
    EXPECT_EQ(st.st_gid, 0);
}

TEST(write_gives_a_record_with_the_user_facility_by_default)
{
    int fd = OK(open("/dev/kmsg", O_RDONLY | O_NONBLOCK));
    EXPECT_EQ(lseek(fd, 0, SEEK_END), 0);
    mktag("default");
    char line[128];
    int n = snprintf(line, sizeof line, "%s\n", tag);
    EXPECT_EQ(put(line, n), n);
    struct rec r;
    CHECK(find(fd, tag, &r) == 0, "record not found");
    EXPECT_EQ(r.prio, (1 << 3) | 4); /* LOG_USER, default_message_loglevel */
    CHECK(r.flag == '-' || r.flag == 'c', "flag %c", r.flag);
    CHECK(strcmp(r.msg, tag) == 0, "message '%s' (the newline is not kept)", r.msg);
    close(fd);
}

TEST(prefix_sets_level_and_facility)
{
    int fd = OK(open("/dev/kmsg", O_RDONLY | O_NONBLOCK));
    OK(lseek(fd, 0, SEEK_END));
    struct rec r;
    char line[160];
    int n;

    mktag("lvl");
    n = snprintf(line, sizeof line, "<5>%s\n", tag); /* facility 0: stays user */
    EXPECT_EQ(put(line, n), n);
    CHECK(find(fd, tag, &r) == 0, "record not found");
    EXPECT_EQ(r.prio, (1 << 3) | 5);
    CHECK(strcmp(r.msg, tag) == 0, "message '%s'", r.msg);

    mktag("fac");
    n = snprintf(line, sizeof line, "<30>%s\n", tag); /* daemon.info */
    EXPECT_EQ(put(line, n), n);
    CHECK(find(fd, tag, &r) == 0, "record not found");
    EXPECT_EQ(r.prio, 30);

    mktag("bad");
    n = snprintf(line, sizeof line, "<5x%s\n", tag); /* no '>': all text */
    EXPECT_EQ(put(line, n), n);
    CHECK(find(fd, tag, &r) == 0, "record not found");
    EXPECT_EQ(r.prio, (1 << 3) | 4);
    CHECK(strncmp(r.msg, "<5x", 3) == 0, "message '%s'", r.msg);
    close(fd);
}

TEST(unprintable_bytes_are_escaped)
{
    int fd = OK(open("/dev/kmsg", O_RDONLY | O_NONBLOCK));
    OK(lseek(fd, 0, SEEK_END));
    mktag("esc");
    char line[160], want[200];
    int n = snprintf(line, sizeof line, "%s a\tb\\c\x7f\n", tag);
    snprintf(want, sizeof want, "%s a\\x09b\\x5cc\\x7f", tag);
    EXPECT_EQ(put(line, n), n);
    struct rec r;
    CHECK(find(fd, tag, &r) == 0, "record not found");
    CHECK(strcmp(r.msg, want) == 0, "message '%s', expected '%s'", r.msg, want);
    close(fd);
}

TEST(one_record_per_read_and_eagain_at_the_end)
{
    int fd = OK(open("/dev/kmsg", O_RDONLY | O_NONBLOCK));
    OK(lseek(fd, 0, SEEK_END));
    mktag("two");
    char line[160];
    int w = OK(writer());
    for (int i = 0; i < 2; i++) {
        int n = snprintf(line, sizeof line, "%s-%d\n", tag, i);
        EXPECT_EQ(write(w, line, n), n);
    }
    close(w);
    struct rec r;
    char want[120];
    CHECK(find(fd, tag, &r) == 0, "first record not found");
    unsigned long long seq = r.seq;
    snprintf(want, sizeof want, "%s-0", tag);
    CHECK(strcmp(r.msg, want) == 0, "first '%s'", r.msg);
    CHECK(find(fd, tag, &r) == 0, "second record not found");
    snprintf(want, sizeof want, "%s-1", tag);
    CHECK(strcmp(r.msg, want) == 0, "second '%s'", r.msg);
    CHECK(r.seq > seq, "sequence %llu after %llu", r.seq, seq);
    char buf[8192];
    /* drain anything the system logged meanwhile, then EAGAIN */
    long n;
    int i = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0 && i++ < 1000) {
    }
    int e = errno;
    EXPECT_EQ(n, -1);
    EXPECT_EQ(e, EAGAIN);
    close(fd);
}

TEST(small_buffer_is_einval)
{
    int fd = OK(open("/dev/kmsg", O_RDONLY | O_NONBLOCK));
    OK(lseek(fd, 0, SEEK_SET));
    char buf[8];
    EXPECT_ERRNO(read(fd, buf, sizeof buf), EINVAL);
    EXPECT_ERRNO(read(fd, buf, 0), EINVAL);
    /* the record that did not fit is passed over (Linux moves on first) */
    OK(lseek(fd, 0, SEEK_END));
    mktag("small");
    EXPECT_EQ(put(tagnl, strlen(tagnl)), (long)strlen(tagnl));
    EXPECT_ERRNO(read(fd, buf, sizeof buf), EINVAL);
    struct rec r;
    CHECK(find(fd, tag, &r) == -1, "the record was read again");
    close(fd);
}

TEST(lseek_whences_and_offsets)
{
    int fd = OK(open("/dev/kmsg", O_RDONLY | O_NONBLOCK));
    EXPECT_ERRNO(lseek(fd, 1, SEEK_SET), ESPIPE);
    EXPECT_ERRNO(lseek(fd, -1, SEEK_END), ESPIPE);
    EXPECT_ERRNO(lseek(fd, 0, SEEK_CUR), EINVAL);
    EXPECT_ERRNO(lseek(fd, 0, SEEK_HOLE), EINVAL);
    EXPECT_EQ(lseek(fd, 0, SEEK_DATA), 0);
    EXPECT_EQ(lseek(fd, 0, SEEK_END), 0);
    mktag("seek");
    EXPECT_EQ(put(tagnl, strlen(tagnl)), (long)strlen(tagnl));
    struct rec r;
    CHECK(find(fd, tag, &r) == 0, "record not found after SEEK_END");
    unsigned long long seq = r.seq;
    /* SEEK_SET goes back to the oldest record: the first read is not later */
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    char buf[8192];
    long n = OK(read(fd, buf, sizeof buf));
    CHECK(parse(buf, n, &r) == 0, "unparsable record '%.*s'", (int)n, buf);
    CHECK(r.seq <= seq, "oldest seq %llu > %llu", r.seq, seq);
    close(fd);
}

TEST(write_limits)
{
    static char big[RECORD_MAX + 2];
    mktag("big");
    memset(big, 'k', sizeof big);
    memcpy(big, tag, strlen(tag));
    big[RECORD_MAX - 1] = '\n';
    EXPECT_ERRNO(put(big, RECORD_MAX + 1), EINVAL);
    EXPECT_EQ(put(big, RECORD_MAX), RECORD_MAX);
    EXPECT_EQ(put("", 0), 0);
    int fd = OK(writer());
    EXPECT_ERRNO(syscall(SYS_write, fd, (void *)8, 10), EFAULT);
    close(fd);
}

TEST(write_only_file_has_no_reader)
{
    int fd = OK(writer());
    char buf[8192];
    EXPECT_ERRNO(read(fd, buf, sizeof buf), EBADF);
    /* the place is kept for a write-only file too (as Linux 6.x) */
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    EXPECT_ERRNO(lseek(fd, 1, SEEK_SET), ESPIPE);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 0), 1);
    CHECK(p.revents == POLLIN, "revents %#x", p.revents);
    close(fd);
}

TEST(poll_says_when_a_record_is_there)
{
    int fd = OK(open("/dev/kmsg", O_RDONLY | O_NONBLOCK));
    OK(lseek(fd, 0, SEEK_END));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r0 = poll(&p, 1, 0);
    CHECK(r0 == 0 || r0 == 1, "poll %d", r0); /* the host may log meanwhile */
    mktag("poll");
    EXPECT_EQ(put(tagnl, strlen(tagnl)), (long)strlen(tagnl));
    p.revents = 0;
    EXPECT_EQ(poll(&p, 1, 1000), 1);
    CHECK(p.revents & POLLIN, "revents %#x", p.revents);
    CHECK(!(p.revents & POLLERR), "revents %#x", p.revents);
    close(fd);
}

static void on_alarm(int sig)
{
    (void)sig;
}

TEST(blocking_read_waits_and_a_signal_ends_it)
{
    int fd = OK(open("/dev/kmsg", O_RDONLY));
    OK(lseek(fd, 0, SEEK_END));
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
    OK(sigaction(SIGALRM, &sa, NULL));
    struct itimerval it = {.it_value = {.tv_usec = 200000}};
    OK(setitimer(ITIMER_REAL, &it, NULL));
    char buf[8192];
    long n;
    int i = 0;
    /* records the system logs meanwhile are read; the signal ends the wait */
    while ((n = read(fd, buf, sizeof buf)) > 0 && i++ < 1000) {
    }
    int e = errno;
    signal(SIGALRM, SIG_DFL);
    EXPECT_EQ(n, -1);
    EXPECT_EQ(e, EINTR);

    /* a writer wakes a waiting reader */
    mktag("wake");
    pid_t pid = OK(fork());
    if (pid == 0) {
        usleep(100000);
        _exit(put(tagnl, strlen(tagnl)) == (long)strlen(tagnl) ? 0 : 1);
    }
    struct rec r;
    int found = 0;
    for (i = 0; i < 1000 && !found; i++) {
        n = read(fd, buf, sizeof buf);
        if (n < 0)
            break;
        found = parse(buf, n, &r) == 0 && strstr(r.msg, tag);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(found, "the blocked read did not get the record (n %ld errno %d)", n, errno);
    EXPECT_EQ(st, 0);
    close(fd);
}

TEST(overwritten_records_give_epipe_once)
{
    int size = klogctl(10, NULL, 0); /* SYSLOG_ACTION_SIZE_BUFFER */
    if (size <= 0 || size > 4 << 20)
        SKIP("log buffer of %d bytes", size);
    int fd = OK(open("/dev/kmsg", O_RDONLY | O_NONBLOCK));
    OK(lseek(fd, 0, SEEK_END));
    mktag("fill");
    static char big[1000];
    memset(big, 'f', sizeof big);
    memcpy(big, tag, strlen(tag));
    big[sizeof big - 1] = '\n';
    /* twice the buffer's size of records, one open each (the rate limit) */
    for (int i = 0; i < 2 * size / (int)sizeof big + 8; i++)
        CHECK(put(big, sizeof big) == sizeof big, "write %d: %s", i, strerror(errno));
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDNORM | POLLPRI};
    EXPECT_EQ(poll(&p, 1, 0), 1);
    CHECK((p.revents & (POLLIN | POLLERR | POLLPRI)) == (POLLIN | POLLERR | POLLPRI),
          "revents %#x", p.revents);
    char buf[8192];
    EXPECT_ERRNO(read(fd, buf, sizeof buf), EPIPE);
    long n = OK(read(fd, buf, sizeof buf));
    struct rec r;
    CHECK(parse(buf, n, &r) == 0, "unparsable record");
    close(fd);
}

TEST(rate_limit_keeps_ten_records_per_open)
{
    FILE *f = fopen("/proc/sys/kernel/printk_devkmsg", "r");
    char mode[32] = "ratelimit";
    if (f) {
        if (!fgets(mode, sizeof mode, f))
            mode[0] = 0;
        fclose(f);
    }
    if (strncmp(mode, "ratelimit", 9) != 0)
        SKIP("printk_devkmsg is %s", mode);
    int fd = OK(open("/dev/kmsg", O_RDONLY | O_NONBLOCK));
    OK(lseek(fd, 0, SEEK_END));
    mktag("rate");
    int w = OK(writer());
    for (int i = 0; i < 15; i++)
        EXPECT_EQ(write(w, tagnl, strlen(tagnl)), (long)strlen(tagnl));
    close(w);
    struct rec r;
    int got = 0;
    while (find(fd, tag, &r) == 0)
        got++;
    EXPECT_EQ(got, 10);
    close(fd);
}

TEST(permissions)
{
    int restrict_ = 0;
    FILE *f = fopen("/proc/sys/kernel/dmesg_restrict", "r");
    if (f) {
        if (fscanf(f, "%d", &restrict_) != 1)
            restrict_ = 0;
        fclose(f);
    }
    pid_t pid = OK(fork());
    if (pid == 0) {
        if (setgid(65534) || setuid(65534))
            _exit(10);
        int fd = open("/dev/kmsg", O_RDONLY);
        if (restrict_ ? !(fd == -1 && errno == EPERM) : fd < 0)
            _exit(11);
        if (open("/dev/kmsg", O_WRONLY) != -1 || errno != EACCES)
            _exit(12);
        _exit(0);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

int main(void)
{
    KT_BEGIN();
    if (geteuid() != 0) {
        printf("SKIP kmsg.all: needs root\n");
        return 0;
    }
    RUN(node_is_char_1_11_mode_0644_root);
    RUN(write_gives_a_record_with_the_user_facility_by_default);
    RUN(prefix_sets_level_and_facility);
    RUN(unprintable_bytes_are_escaped);
    RUN(one_record_per_read_and_eagain_at_the_end);
    RUN(small_buffer_is_einval);
    RUN(lseek_whences_and_offsets);
    RUN(write_limits);
    RUN(write_only_file_has_no_reader);
    RUN(poll_says_when_a_record_is_there);
    RUN(blocking_read_waits_and_a_signal_ends_it);
    RUN(rate_limit_keeps_ten_records_per_open);
    RUN(permissions);
    RUN(overwritten_records_give_epipe_once);
    return KT_END();
}
