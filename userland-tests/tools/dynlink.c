/*
 * dynlink: a dynamically linked program, built twice by `cargo xtask test` (musl-gcc
 * and the host's gcc/glibc, neither with -static) and run on Kestrel with its
 * interpreter and libraries. It uses what dynamic programs lean on: the
 * interpreter's relocation of libc, thread-local storage in the executable and in
 * libc (errno), threads, and the vDSO clock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <gnu/libc-version.h>
#define LIBC "glibc"
#else
#define LIBC "musl"
#endif

static __thread int tls_value = 7;
static long counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *work(void *arg)
{
    tls_value = (int)(long)arg; /* each thread its own copy */
    errno = 0;
    if (close(-1) == 0 || errno != EBADF)
        return (void *)1;
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return tls_value == (int)(long)arg ? NULL : (void *)1;
}

int main(void)
{
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, work, (void *)(i + 100)) != 0) {
            printf("dynlink %s: pthread_create failed: %s\n", LIBC, strerror(errno));
            return 1;
        }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (bad || counter != 40000 || tls_value != 7) {
        printf("dynlink %s: FAILED (counter %ld, tls %d, threads ok %d)\n", LIBC, counter, tls_value, !bad);
        return 1;
    }
    printf("dynlink %s: ok\n", LIBC);
    return 0;
}
