/*
 * vdso-clockloop: 100,000 clock_gettime and gettimeofday calls through the libc,
 * which uses the vDSO. Not a test by itself: `cargo xtask test` runs it with
 * kestrel.syscall_stats and checks that the loop made no system calls.
 */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

int main(void)
{
    struct timespec ts;
    struct timeval tv;
    long long last = 0, backwards = 0;
    for (int i = 0; i < 100000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        backwards += now < last;
        last = now;
        gettimeofday(&tv, NULL);
    }
    printf("vdso-clockloop: 200000 clock reads, monotonic went backwards %lld times\n", backwards);
    return backwards != 0;
}
