/* POSIX message queues: mq_open, mq_unlink, mq_timedsend, mq_timedreceive,
 * mq_notify, mq_getsetattr (through the raw system calls). */
#define KT_AREA "mqueue"
#include "kt.h"

#include <signal.h>
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

int main(void)
{
    KT_BEGIN();
    RUN(mq_messages_come_out_by_priority_then_age);
    RUN(mq_full_empty_size_and_timeout_errors);
    RUN(mq_open_and_unlink_errors);
    RUN(mq_notify_signals_a_message_into_an_empty_queue_once);
    return KT_END();
}
