/*
 * ltp-driver: runs LTP tests in the guest for `cargo xtask ltp` (and the LTP check
 * of `cargo xtask test`). Not a test itself.
 *
 *     ltp-driver LIST TIMEOUT_SECONDS
 *
 * LIST has one test per line, as runtest/syscalls does: `tag command args...`.
 * For each test the driver mounts a fresh tmpfs on /tmp, makes a directory there to
 * be the test's working directory, and runs the command (found in $PATH) in a
 * process group of its own, stdin /dev/null, stdout and stderr on the console.
 * After TIMEOUT_SECONDS the whole group is killed with SIGKILL. Whatever the test
 * leaves behind (children in other groups, mounts under /tmp) is killed and
 * unmounted before the next test: the driver is a child subreaper, so every
 * orphan of a test becomes its child.
 *
 * On the console, around each test's own output:
 *
 *     @@ltp begin TAG
 *     @@ltp end TAG STATUS EXIT SECONDS
 *     ...
 *     @@ltp done
 *
 * STATUS is PASS, FAIL, BROK, CONF or TIMEOUT, from LTP's exit bits (TFAIL 1,
 * TBROK 2, TWARN 4, TCONF 32): 0 PASS; 1 FAIL; else 2 BROK; else 4 FAIL; 32 alone
 * CONF; anything else (127: no such program), or a signal, BROK. EXIT is the exit status, 128 + the signal
 * for a test killed by one. The host finds these lines anywhere in a console line
 * (a test's output may lack its last newline).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#define MAX_ARGS 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *status_of(int code)
{
	if (code == 0)
		return "PASS";
	/* Not made of LTP's bits: 127 from a failed exec, a shell's 128 + signal. */
	if (code & ~(1 | 2 | 4 | 32))
		return "BROK";
	if (code & 1)
		return "FAIL";
	if (code & 2)
		return "BROK";
	if (code & 4)
		return "FAIL";
	if (code == 32)
		return "CONF";
	return "BROK";
}

/* The pids of this process's children, from /proc/PID/stat. */
static int children(pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	pid_t self = getpid();

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char path[300], buf[512];
		int fd, len;
		char *p;
		pid_t ppid;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		/* pid (comm) state ppid ...: comm may hold spaces and parentheses. */
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
			continue;
		if (ppid == self)
			out[n++] = atoi(e->d_name);
	}
	closedir(d);
	return n;
}

/*
 * Kills every process the test left behind and reaps it. Orphans are adopted by
 * this subreaper, so killing its children until none is left gets them all;
 * a process that does not die in a few seconds is reported and left.
 */
static void reap_everything(pid_t pgid)
{
	double until = now() + 5.0;
	pid_t pids[256];
	int n, i;

	kill(-pgid, SIGKILL);
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		n = children(pids, 256);
		if (n == 0)
			return;
		for (i = 0; i < n; i++) {
			kill(-pids[i], SIGKILL);
			kill(pids[i], SIGKILL);
		}
		if (now() > until) {
			printf("@@ltp note %d processes left behind would not die\n", n);
			fflush(stdout);
			return;
		}
		usleep(20000);
	}
}

/* Unmounts everything under /tmp, deepest first, then /tmp itself. */
static void unmount_tmp(void)
{
	char *points[64];
	int n = 0, i;
	char line[1024];
	FILE *f = fopen("/proc/self/mounts", "r");

	if (f) {
		while (fgets(line, sizeof(line), f) && n < 64) {
			char dev[256], dir[512];
			if (sscanf(line, "%255s %511s", dev, dir) != 2)
				continue;
			if (!strcmp(dir, "/tmp") || !strncmp(dir, "/tmp/", 5))
				points[n++] = strdup(dir);
		}
		fclose(f);
	}
	for (i = n - 1; i >= 0; i--) {
		if (umount2(points[i], MNT_DETACH) != 0 && errno != EINVAL)
			printf("@@ltp note umount %s: %s\n", points[i], strerror(errno));
		free(points[i]);
	}
	fflush(stdout);
}

static void run_one(char *line, int timeout)
{
	char *argv[MAX_ARGS + 1];
	char *tag, *save = NULL, *tok;
	int argc = 0, status = 0, code;
	const char *st;
	double start, end;
	pid_t pid;
	sigset_t chld;
	char cwd[4200];

	tag = strtok_r(line, " \t", &save);
	if (!tag || tag[0] == '#')
		return;
	while ((tok = strtok_r(NULL, " \t", &save)) && argc < MAX_ARGS)
		argv[argc++] = tok;
	argv[argc] = NULL;
	if (argc == 0)
		return;

	printf("@@ltp begin %s\n", tag);
	fflush(stdout);
	unmount_tmp();
	if (mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777") != 0)
		printf("@@ltp note mount tmpfs on /tmp: %s\n", strerror(errno));
	snprintf(cwd, sizeof(cwd), "/tmp/%s", tag);
	if (mkdir(cwd, 0777) != 0 || chdir(cwd) != 0)
		printf("@@ltp note %s: %s\n", cwd, strerror(errno));
	fflush(stdout);

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	start = now();
	pid = fork();
	if (pid < 0) {
		printf("@@ltp end %s BROK 127 0.00\n", tag);
		fflush(stdout);
		return;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY);
		int sig;

		setpgid(0, 0);
		if (fd >= 0) {
			dup2(fd, 0);
			if (fd > 0)
				close(fd);
		}
		/* Ignored signals stay ignored across execve: give the test the defaults. */
		for (sig = 1; sig < 32; sig++)
			signal(sig, SIG_DFL);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "ltp-driver: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);

	code = -1;
	st = NULL;
	for (;;) {
		pid_t r;
		double left;
		struct timespec ts;

		while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
			if (r == pid)
				break;
		}
		if (r == pid)
			break;
		left = start + timeout - now();
		if (left <= 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			st = "TIMEOUT";
			break;
		}
		if (left > 1.0)
			left = 1.0;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		sigtimedwait(&chld, NULL, &ts);
	}
	end = now();
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	if (!st) {
		if (WIFEXITED(status))
			st = status_of(code);
		else
			st = "BROK";
	}
	reap_everything(pid);
	if (chdir("/") != 0)
		perror("chdir /");
	unmount_tmp();
	printf("@@ltp end %s %s %d %.2f\n", tag, st, code, end - start);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	FILE *list;
	char line[4096];
	int timeout;
	sigset_t chld;

	if (argc != 3) {
		fprintf(stderr, "usage: ltp-driver LIST TIMEOUT_SECONDS\n");
		return 2;
	}
	timeout = atoi(argv[2]);
	if (timeout <= 0)
		timeout = 60;
	list = fopen(argv[1], "r");
	if (!list) {
		printf("@@ltp error cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* SIGCHLD is taken with sigtimedwait, so it stays blocked here. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		printf("@@ltp note PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
	/* A test may signal its whole session or process group. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), list)) {
		line[strcspn(line, "\r\n")] = 0;
		run_one(line, timeout);
	}
	fclose(list);
	printf("@@ltp done\n");
	fflush(stdout);
	return 0;
}
