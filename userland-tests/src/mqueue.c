/* POSIX message queues: mq_open, mq_unlink, mq_timedsend, mq_timedreceive,
 * mq_notify, mq_getsetattr (through the raw system calls). */
#define KT_AREA "mqueue"
#include "kt.h"

#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

struct kt_mq_attr {
    long flags, maxmsg, msgsize, curmsgs, reserved[4];
};

static char qname[64];

/* The name the system call takes: libc strips the leading '/'. */
static const char *kt_qname(void)
{
    snprintf(qname, sizeof qname, "kt-mq-%d", getpid());
    return qname;
}

static int mq_open_(const char *name, int flags, int mode, struct kt_mq_attr *a)
{
    return syscall(SYS_mq_open, name, flags, mode, a);
}

TEST(mq_messages_come_out_by_priority_then_age)
{
    struct kt_mq_attr a = {0, 4, 16, 0, {0}};
    int q = OK(mq_open_(kt_qname(), O_CREAT | O_EXCL | O_RDWR, 0600, &a));
    OK(syscall(SYS_mq_timedsend, q, "low", 3, 1, NULL));
    OK(syscall(SYS_mq_timedsend, q, "high1", 5, 9, NULL));
    OK(syscall(SYS_mq_timedsend, q, "high2", 5, 9, NULL));
    char buf[16];
    unsigned prio = 0;
    EXPECT_EQ(syscall(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, NULL), 5);
    CHECK(memcmp(buf, "high1", 5) == 0 && prio == 9, "first: %.5s prio %u", buf, prio);
    EXPECT_EQ(syscall(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, NULL), 5);
    CHECK(memcmp(buf, "high2", 5) == 0, "second: %.5s", buf);
    EXPECT_EQ(syscall(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, NULL), 3);
    EXPECT_EQ(prio, 1);
    struct kt_mq_attr got;
    OK(syscall(SYS_mq_getsetattr, q, NULL, &got));
    EXPECT_EQ(got.maxmsg, 4);
    EXPECT_EQ(got.msgsize, 16);
    EXPECT_EQ(got.curmsgs, 0);
    close(q);
    OK(syscall(SYS_mq_unlink, kt_qname()));
}

TEST(mq_full_empty_size_and_timeout_errors)
{
    struct kt_mq_attr a = {0, 1, 8, 0, {0}};
    int q = OK(mq_open_(kt_qname(), O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK, 0600, &a));
    char buf[8];
    EXPECT_ERRNO(syscall(SYS_mq_timedreceive, q, buf, sizeof buf, NULL, NULL), EAGAIN);
    EXPECT_ERRNO(syscall(SYS_mq_timedreceive, q, buf, 4, NULL, NULL), EMSGSIZE);
    EXPECT_ERRNO(syscall(SYS_mq_timedsend, q, "123456789", 9, 0, NULL), EMSGSIZE);
    EXPECT_ERRNO(syscall(SYS_mq_timedsend, q, "x", 1, 32768, NULL), EINVAL);
    OK(syscall(SYS_mq_timedsend, q, "x", 1, 0, NULL));
    EXPECT_ERRNO(syscall(SYS_mq_timedsend, q, "y", 1, 0, NULL), EAGAIN);
    /* Blocking again: a full queue waits until the (past) deadline. */
    struct kt_mq_attr nb = {0, 0, 0, 0, {0}};
    OK(syscall(SYS_mq_getsetattr, q, &nb, NULL));
    struct timespec past;
    clock_gettime(CLOCK_REALTIME, &past);
    EXPECT_ERRNO(syscall(SYS_mq_timedsend, q, "y", 1, 0, &past), ETIMEDOUT);
    struct timespec bad = {0, 2000000000L};
    EXPECT_ERRNO(syscall(SYS_mq_timedsend, q, "y", 1, 0, &bad), EINVAL);
    close(q);
    OK(syscall(SYS_mq_unlink, kt_qname()));
}

TEST(mq_open_and_unlink_errors)
{
    struct kt_mq_attr bad = {0, 0, 8, 0, {0}};
    EXPECT_ERRNO(mq_open_(kt_qname(), O_CREAT | O_RDWR, 0600, &bad), EINVAL);
    EXPECT_ERRNO(mq_open_(kt_qname(), O_RDWR, 0600, NULL), ENOENT);
    int q = OK(mq_open_(kt_qname(), O_CREAT | O_RDWR, 0600, NULL));
    EXPECT_ERRNO(mq_open_(kt_qname(), O_CREAT | O_EXCL | O_RDWR, 0600, NULL), EEXIST);
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    EXPECT_ERRNO(syscall(SYS_mq_unlink, longname), ENAMETOOLONG);
    EXPECT_ERRNO(syscall(SYS_mq_timedsend, 0x3fffffff, "x", 1, 0, NULL), EBADF);
    int null = OK(open("/dev/null", O_RDONLY));
    EXPECT_ERRNO(syscall(SYS_mq_timedsend, null, "x", 1, 0, NULL), EBADF);
    close(null);
    close(q);
    OK(syscall(SYS_mq_unlink, kt_qname()));
    EXPECT_ERRNO(syscall(SYS_mq_unlink, kt_qname()), ENOENT);
}

static volatile int notified_value;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    if (si->si_code == SI_MESGQ)
        notified_value = si->si_value.sival_int;
}

TEST(mq_notify_signals_a_message_into_an_empty_queue_once)
{
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    OK(sigaction(SIGUSR1, &sa, &old));
    int q = OK(mq_open_(kt_qname(), O_CREAT | O_EXCL | O_RDWR, 0600, NULL));
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 77;
    OK(syscall(SYS_mq_notify, q, &ev));
    EXPECT_ERRNO(syscall(SYS_mq_notify, q, &ev), EBUSY);
    OK(syscall(SYS_mq_timedsend, q, "x", 1, 0, NULL));
    for (int i = 0; i < 100 && !notified_value; i++)
        usleep(1000);
    /* Fired once: registering again works. */
    OK(syscall(SYS_mq_notify, q, &ev));
    OK(syscall(SYS_mq_notify, q, NULL));
    ev.sigev_notify = -1;
    EXPECT_ERRNO(syscall(SYS_mq_notify, q, &ev), EINVAL);
    close(q);
    syscall(SYS_mq_unlink, kt_qname());
    sigaction(SIGUSR1, &old, NULL);
    EXPECT_EQ(notified_value, 77);
}

/* ---- SIGEV_THREAD: a cookie sent to a netlink socket ------------------ */

#define COOKIE_LEN 32
#define KT_NETLINK_ROUTE 0

static void fill_cookie(unsigned char *c)
{
    for (int i = 0; i < COOKIE_LEN; i++)
        c[i] = 0xa0 + i;
}

static int thread_notify(int q, int sock, void *cookie)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_signo = sock;
    ev.sigev_value.sival_ptr = cookie;
    return syscall(SYS_mq_notify, q, &ev);
}

TEST(mq_notify_sigev_thread_sends_cookie_woken_up_to_the_netlink_socket)
{
    int q = OK(mq_open_(kt_qname(), O_CREAT | O_EXCL | O_RDWR, 0600, NULL));
    int s = OK(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, KT_NETLINK_ROUTE));
    unsigned char cookie[COOKIE_LEN], got[64];
    fill_cookie(cookie);
    OK(thread_notify(q, s, cookie));
    /* Registered: the queue's status line says SIGEV_THREAD (2). */
    char line[128] = {0};
    OK(read(q, line, sizeof line - 1));
    CHECK(strstr(line, "NOTIFY:2 ") != NULL, "status: %s", line);
    EXPECT_ERRNO(recv(s, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    OK(syscall(SYS_mq_timedsend, q, "x", 1, 0, NULL));
    EXPECT_EQ(recv(s, got, sizeof got, MSG_DONTWAIT), COOKIE_LEN);
    CHECK(memcmp(got, cookie, COOKIE_LEN - 1) == 0, "cookie changed");
    EXPECT_EQ(got[COOKIE_LEN - 1], 1); /* NOTIFY_WOKENUP */
    /* Once: the next message sends nothing. */
    OK(syscall(SYS_mq_timedsend, q, "y", 1, 0, NULL));
    EXPECT_ERRNO(recv(s, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    close(s);
    close(q);
    syscall(SYS_mq_unlink, kt_qname());
}

TEST(mq_notify_unregister_sends_cookie_removed)
{
    int q = OK(mq_open_(kt_qname(), O_CREAT | O_EXCL | O_RDWR, 0600, NULL));
    int s = OK(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, KT_NETLINK_ROUTE));
    unsigned char cookie[COOKIE_LEN], got[64];
    fill_cookie(cookie);
    OK(thread_notify(q, s, cookie));
    EXPECT_ERRNO(thread_notify(q, s, cookie), EBUSY);
    OK(syscall(SYS_mq_notify, q, NULL));
    EXPECT_EQ(recv(s, got, sizeof got, MSG_DONTWAIT), COOKIE_LEN);
    CHECK(memcmp(got, cookie, COOKIE_LEN - 1) == 0, "cookie changed");
    EXPECT_EQ(got[COOKIE_LEN - 1], 2); /* NOTIFY_REMOVED */
    /* Nothing more: a message now notifies no one. */
    OK(syscall(SYS_mq_timedsend, q, "x", 1, 0, NULL));
    EXPECT_ERRNO(recv(s, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    close(s);
    close(q);
    syscall(SYS_mq_unlink, kt_qname());
}

TEST(mq_notify_sigev_thread_checks_cookie_then_socket)
{
    int q = OK(mq_open_(kt_qname(), O_CREAT | O_EXCL | O_RDWR, 0600, NULL));
    int s = OK(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, KT_NETLINK_ROUTE));
    unsigned char cookie[COOKIE_LEN];
    fill_cookie(cookie);
    int p[2];
    OK(pipe(p));
    int u = OK(socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_ERRNO(thread_notify(q, s, (void *)1), EFAULT);
    EXPECT_ERRNO(thread_notify(q, 999, (void *)1), EFAULT); /* the cookie first */
    EXPECT_ERRNO(thread_notify(q, 999, cookie), EBADF);
    EXPECT_ERRNO(thread_notify(q, -1, cookie), EBADF);
    EXPECT_ERRNO(thread_notify(q, p[0], cookie), ENOTSOCK);
    EXPECT_ERRNO(thread_notify(q, u, cookie), EINVAL);
    /* A good socket but a bad queue descriptor. */
    EXPECT_ERRNO(thread_notify(999, s, cookie), EBADF);
    EXPECT_ERRNO(thread_notify(p[0], s, cookie), EBADF);
    close(p[0]);
    close(p[1]);
    close(u);
    close(s);
    close(q);
    syscall(SYS_mq_unlink, kt_qname());
}

static volatile int thread_value;

static void on_thread_notify(union sigval v)
{
    thread_value = v.sival_int;
}

TEST(libc_mq_notify_sigev_thread_runs_the_function)
{
    int q = OK(mq_open_(kt_qname(), O_CREAT | O_EXCL | O_RDWR, 0600, NULL));
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_thread_notify;
    ev.sigev_value.sival_int = 4242;
    thread_value = 0;
    /* Register and unregister first: the library's thread gets NOTIFY_REMOVED
     * and must not call the function. */
    OK(mq_notify(q, &ev));
    OK(mq_notify(q, NULL));
    usleep(20000);
    EXPECT_EQ(thread_value, 0);
    OK(mq_notify(q, &ev));
    OK(syscall(SYS_mq_timedsend, q, "x", 1, 0, NULL));
    for (int i = 0; i < 500 && !thread_value; i++)
        usleep(10000);
    EXPECT_EQ(thread_value, 4242);
    close(q);
    syscall(SYS_mq_unlink, kt_qname());
}

int main(void)
{
    KT_BEGIN();
    RUN(mq_messages_come_out_by_priority_then_age);
    RUN(mq_full_empty_size_and_timeout_errors);
    RUN(mq_open_and_unlink_errors);
    RUN(mq_notify_signals_a_message_into_an_empty_queue_once);
    RUN(mq_notify_sigev_thread_sends_cookie_woken_up_to_the_netlink_socket);
    RUN(mq_notify_unregister_sends_cookie_removed);
    RUN(mq_notify_sigev_thread_checks_cookie_then_socket);
    RUN(libc_mq_notify_sigev_thread_runs_the_function);
    return KT_END();
}
