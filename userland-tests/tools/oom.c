/*
 * oom: a child touches twice the machine's memory while three small bystanders
 * keep faulting pages in and dropping them. Not a host test (it would hurt the
 * host); `cargo xtask test` runs it on Kestrel and checks that the hog, the
 * largest process, is the one killed (SIGKILL, as Linux's OOM killer picks by
 * size) even though the bystanders fault at the same moments, that every
 * bystander lives on, that the kernel does not panic, and that this process
 * still runs and allocates afterwards.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#define BYSTANDERS 3
#define SMALL (4 << 20)

/* Touches SMALL bytes a page at a time, drops them, again, until `stop` closes. */
static void bystander(int stop)
{
    char *m = mmap(NULL, SMALL, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        _exit(2);
    for (;;) {
        for (size_t i = 0; i < SMALL; i += 4096)
            m[i] = 1;
        madvise(m, SMALL, MADV_DONTNEED);
        struct pollfd p = {stop, POLLIN, 0};
        if (poll(&p, 1, 0) == 1)
            _exit(0);
    }
}

int main(void)
{
    struct sysinfo si;
    if (sysinfo(&si) != 0)
        return 1;
    size_t want = (size_t)si.totalram * si.mem_unit * 2;
    int stop[2];
    if (pipe(stop) != 0)
        return 1;
    fflush(stdout);
    pid_t by[BYSTANDERS];
    for (int i = 0; i < BYSTANDERS; i++) {
        by[i] = fork();
        if (by[i] == 0) {
            close(stop[1]);
            bystander(stop[0]);
        }
    }
    close(stop[0]);
    pid_t pid = fork();
    if (pid == 0) {
        char *m = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            _exit(2);
        for (size_t i = 0; i < want; i += 4096)
            m[i] = 1;
        _exit(3); /* touched more than exists: impossible */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    close(stop[1]);
    int alive = 0;
    for (int i = 0; i < BYSTANDERS; i++) {
        int bst = 0;
        waitpid(by[i], &bst, 0);
        alive += WIFEXITED(bst) && WEXITSTATUS(bst) == 0;
    }
    char *after = malloc(8 << 20);
    if (after)
        memset(after, 1, 8 << 20);
    printf("oom: child %s %d, bystanders %d/%d alive, afterwards %s\n",
           WIFSIGNALED(st) ? "killed by signal" : "exited", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
           alive, BYSTANDERS, after ? "allocated 8 MiB" : "malloc failed");
    return !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && alive == BYSTANDERS && after);
}
