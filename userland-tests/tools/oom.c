/*
 * oom: a child touches twice the machine's memory. Not a host test (it would
 * hurt the host); `cargo xtask test` runs it on Kestrel and checks that the
 * child is killed (SIGKILL, as Linux's OOM killer would), that the kernel does
 * not panic, and that this process still runs and allocates afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    struct sysinfo si;
    if (sysinfo(&si) != 0)
        return 1;
    size_t want = (size_t)si.totalram * si.mem_unit * 2;
    fflush(stdout);
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
    char *after = malloc(8 << 20);
    if (after)
        memset(after, 1, 8 << 20);
    printf("oom: child %s %d, afterwards %s\n", WIFSIGNALED(st) ? "killed by signal" : "exited",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), after ? "allocated 8 MiB" : "malloc failed");
    return !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && after);
}
