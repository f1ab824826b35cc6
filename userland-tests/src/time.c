/* clock_gettime/gettimeofday/nanosleep (raw syscalls: musl would use the vDSO) */
#define KT_AREA "time"
#include "kt.h"

#include <sys/time.h>
#include <time.h>
#include <sys/timex.h>

#define BADPTR ((void *)1)

static long sys_clock_gettime(long clk, struct timespec *ts)
{
    return syscall(SYS_clock_gettime, clk, ts);
}

static long long ns_of(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* 2020-01-01T00:00:00Z: any sane wall clock is later than this. */
#define Y2020 1577836800L

TEST(clock_gettime_realtime_is_plausible) {
    struct timespec ts = {-1, -1};
    OK(sys_clock_gettime(CLOCK_REALTIME, &ts));
    CHECK(ts.tv_sec > Y2020, "CLOCK_REALTIME tv_sec %ld is before 2020", (long)ts.tv_sec);
    CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000, "tv_nsec %ld out of range",
          (long)ts.tv_nsec);
}

TEST(clock_gettime_monotonic_never_goes_backwards) {
    struct timespec prev, cur;
    OK(sys_clock_gettime(CLOCK_MONOTONIC, &prev));
    CHECK(prev.tv_nsec >= 0 && prev.tv_nsec < 1000000000, "tv_nsec %ld out of range",
          (long)prev.tv_nsec);
    for (int i = 0; i < 2000; i++) {
        OK(sys_clock_gettime(CLOCK_MONOTONIC, &cur));
        CHECK(ns_of(&cur) >= ns_of(&prev), "went back from %lld to %lld ns at read %d",
              ns_of(&prev), ns_of(&cur), i);
        prev = cur;
    }
}

TEST(clock_gettime_monotonic_advances_across_a_sleep) {
    struct timespec a, b, req = {0, 5 * 1000 * 1000};
    OK(sys_clock_gettime(CLOCK_MONOTONIC, &a));
    OK(syscall(SYS_nanosleep, &req, NULL));
    OK(sys_clock_gettime(CLOCK_MONOTONIC, &b));
    CHECK(ns_of(&b) > ns_of(&a), "monotonic did not advance: %lld -> %lld", ns_of(&a), ns_of(&b));
}

TEST(clock_gettime_libc_agrees_with_syscall) {
    struct timespec a, b, c;
    OK(sys_clock_gettime(CLOCK_REALTIME, &a));
    OK(clock_gettime(CLOCK_REALTIME, &b)); /* may go through the vDSO */
    OK(sys_clock_gettime(CLOCK_REALTIME, &c));
    CHECK(ns_of(&b) >= ns_of(&a) - 1000000000LL && ns_of(&b) <= ns_of(&c) + 1000000000LL,
          "libc %lld not within a second of syscall [%lld, %lld]", ns_of(&b), ns_of(&a), ns_of(&c));
}

TEST(clock_gettime_bad_clock_is_einval) {
    struct timespec ts;
    EXPECT_ERRNO(sys_clock_gettime(100, &ts), EINVAL);
    EXPECT_ERRNO(sys_clock_gettime(1000, &ts), EINVAL);
}

TEST(clock_gettime_bad_pointer_is_efault) {
    EXPECT_ERRNO(sys_clock_gettime(CLOCK_REALTIME, BADPTR), EFAULT);
    EXPECT_ERRNO(sys_clock_gettime(CLOCK_MONOTONIC, BADPTR), EFAULT);
}

TEST(gettimeofday_matches_realtime) {
    struct timespec a, c;
    struct timeval tv = {-1, -1};
    OK(sys_clock_gettime(CLOCK_REALTIME, &a));
    OK(syscall(SYS_gettimeofday, &tv, NULL));
    OK(sys_clock_gettime(CLOCK_REALTIME, &c));
    CHECK(tv.tv_usec >= 0 && tv.tv_usec < 1000000, "tv_usec %ld out of range", (long)tv.tv_usec);
    CHECK(tv.tv_sec >= a.tv_sec - 1 && tv.tv_sec <= c.tv_sec + 1,
          "gettimeofday %ld not within [%ld, %ld]", (long)tv.tv_sec, (long)a.tv_sec,
          (long)c.tv_sec);
}

TEST(gettimeofday_with_timezone_and_null_args) {
    struct timeval tv;
    struct timezone tz;
    OK(syscall(SYS_gettimeofday, &tv, &tz));
    OK(syscall(SYS_gettimeofday, NULL, NULL));
}

TEST(gettimeofday_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_gettimeofday, BADPTR, NULL), EFAULT);
}

TEST(nanosleep_sleeps_at_least_requested) {
    struct timespec a, b, req = {0, 20 * 1000 * 1000}, rem = {77, 77};
    OK(sys_clock_gettime(CLOCK_MONOTONIC, &a));
    OK(syscall(SYS_nanosleep, &req, &rem));
    OK(sys_clock_gettime(CLOCK_MONOTONIC, &b));
    long long slept = ns_of(&b) - ns_of(&a);
    CHECK(slept >= 20 * 1000 * 1000LL, "slept %lld ns, requested 20000000", slept);
}

TEST(nanosleep_zero_returns_immediately) {
    struct timespec req = {0, 0};
    OK(syscall(SYS_nanosleep, &req, NULL));
}

TEST(nanosleep_nsec_too_large_is_einval) {
    struct timespec req = {0, 1000000000};
    EXPECT_ERRNO(syscall(SYS_nanosleep, &req, NULL), EINVAL);
}

TEST(nanosleep_negative_values_are_einval) {
    struct timespec r1 = {0, -1};
    EXPECT_ERRNO(syscall(SYS_nanosleep, &r1, NULL), EINVAL);
    struct timespec r2 = {-1, 0};
    EXPECT_ERRNO(syscall(SYS_nanosleep, &r2, NULL), EINVAL);
}

TEST(nanosleep_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_nanosleep, BADPTR, NULL), EFAULT);
}

/* ---- clock_settime of CPU clocks, adjtimex ADJ_ADJTIME ------------------- */

TEST(clock_settime_of_cpu_time_clocks_is_einval)
{
    struct timespec ts = {1, 0};
    EXPECT_ERRNO(clock_settime(CLOCK_PROCESS_CPUTIME_ID, &ts), EINVAL);
    EXPECT_ERRNO(clock_settime(CLOCK_THREAD_CPUTIME_ID, &ts), EINVAL);
}

TEST(adjtimex_adjtime_bit_without_offset_is_einval)
{
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    tx.modes = 0x8000; /* ADJ_ADJTIME alone */
    EXPECT_ERRNO(adjtimex(&tx), EINVAL);
}

int main(void)
{
    KT_BEGIN();
    RUN(clock_gettime_realtime_is_plausible);
    RUN(clock_gettime_monotonic_never_goes_backwards);
    RUN(clock_gettime_monotonic_advances_across_a_sleep);
    RUN(clock_gettime_libc_agrees_with_syscall);
    RUN(clock_gettime_bad_clock_is_einval);
    RUN(clock_gettime_bad_pointer_is_efault);
    RUN(gettimeofday_matches_realtime);
    RUN(gettimeofday_with_timezone_and_null_args);
    RUN(gettimeofday_bad_pointer_is_efault);
    RUN(nanosleep_sleeps_at_least_requested);
    RUN(nanosleep_zero_returns_immediately);
    RUN(nanosleep_nsec_too_large_is_einval);
    RUN(nanosleep_negative_values_are_einval);
    RUN(nanosleep_bad_pointer_is_efault);
    RUN(clock_settime_of_cpu_time_clocks_is_einval);
    RUN(adjtimex_adjtime_bit_without_offset_is_einval);
    return KT_END();
}
