/* The kernel key retention service through the raw syscalls (no libkeyutils):
 * add_key, request_key and keyctl. Key types user, logon, keyring; the special
 * keyrings (thread, process, session, user, user session) and how fork, threads
 * and execve carry them; update, revoke, expiry, link/unlink/search/clear,
 * describe and read with short buffers, permissions and possession, per-user
 * quotas (EDQUOT), request_key without an upcall, /proc/keys and
 * /proc/key-users. Each case starts in a new anonymous session keyring, so what
 * it makes goes when the session does. */
#define KT_AREA "keys"
#include "kt.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define KEY_SPEC_THREAD_KEYRING -1
#define KEY_SPEC_PROCESS_KEYRING -2
#define KEY_SPEC_SESSION_KEYRING -3
#define KEY_SPEC_USER_KEYRING -4
#define KEY_SPEC_USER_SESSION_KEYRING -5
#define KEY_SPEC_GROUP_KEYRING -6
#define KEY_SPEC_REQKEY_AUTH_KEY -7

#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_UPDATE 2
#define KEYCTL_REVOKE 3
#define KEYCTL_CHOWN 4
#define KEYCTL_SETPERM 5
#define KEYCTL_DESCRIBE 6
#define KEYCTL_CLEAR 7
#define KEYCTL_LINK 8
#define KEYCTL_UNLINK 9
#define KEYCTL_SEARCH 10
#define KEYCTL_READ 11
#define KEYCTL_INSTANTIATE 12
#define KEYCTL_NEGATE 13
#define KEYCTL_SET_REQKEY_KEYRING 14
#define KEYCTL_SET_TIMEOUT 15
#define KEYCTL_SESSION_TO_PARENT 18
#define KEYCTL_INVALIDATE 21

#define KEY_REQKEY_DEFL_DEFAULT 0
#define KEY_REQKEY_DEFL_THREAD_KEYRING 1
#define KEY_REQKEY_DEFL_GROUP_KEYRING 6

#define OTHER_UID 54321

typedef int key_serial_t;

static long add_key(const char *type, const char *desc, const void *payload, size_t plen,
                    int ring)
{
    return syscall(SYS_add_key, type, desc, payload, plen, ring);
}

static long request_key(const char *type, const char *desc, const char *callout, int dest)
{
    return syscall(SYS_request_key, type, desc, callout, dest);
}

static long keyctl(int cmd, unsigned long a2, unsigned long a3, unsigned long a4,
                   unsigned long a5)
{
    return syscall(SYS_keyctl, cmd, a2, a3, a4, a5);
}

#define KC(cmd, a2) keyctl(cmd, (unsigned long)(a2), 0, 0, 0)
#define KC3(cmd, a2, a3) keyctl(cmd, (unsigned long)(a2), (unsigned long)(a3), 0, 0)
#define KC4(cmd, a2, a3, a4)                                                   \
    keyctl(cmd, (unsigned long)(a2), (unsigned long)(a3), (unsigned long)(a4), 0)

/* A fresh anonymous session keyring for the case. */
static long new_session(void)
{
    return KC(KEYCTL_JOIN_SESSION_KEYRING, 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- add_key ------------------------------------------------------------ */

TEST(add_user_key_then_read_and_describe_it)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "kt1", "abc", 3, KEY_SPEC_SESSION_KEYRING));
    CHECK(k > 0, "serial %d", k);
    char buf[64] = {0};
    EXPECT_EQ(KC4(KEYCTL_READ, k, buf, sizeof buf), 3);
    CHECK(!memcmp(buf, "abc", 3), "payload %.3s", buf);
    EXPECT_EQ(KC4(KEYCTL_READ, k, NULL, 0), 3);
    long n = OK(KC4(KEYCTL_DESCRIBE, k, buf, sizeof buf));
    CHECK(n == (long)strlen(buf) + 1, "describe length %ld for '%s'", n, buf);
    CHECK(!strcmp(buf, "user;0;0;3f010000;kt1"), "describe '%s'", buf);
}

TEST(add_key_with_same_type_and_description_updates_the_key)
{
    OK(new_session());
    key_serial_t a = OK(add_key("user", "kt", "one", 3, KEY_SPEC_SESSION_KEYRING));
    key_serial_t b = OK(add_key("user", "kt", "second", 6, KEY_SPEC_SESSION_KEYRING));
    EXPECT_EQ(b, a);
    char buf[16];
    EXPECT_EQ(KC4(KEYCTL_READ, a, buf, sizeof buf), 6);
    /* A keyring of the same name is a new keyring that replaces the link. */
    key_serial_t r1 = OK(add_key("keyring", "kr", NULL, 0, KEY_SPEC_SESSION_KEYRING));
    key_serial_t r2 = OK(add_key("keyring", "kr", NULL, 0, KEY_SPEC_SESSION_KEYRING));
    CHECK(r1 != r2, "same keyring %d", r1);
    key_serial_t ids[8];
    EXPECT_EQ(KC4(KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, ids, sizeof ids), 8);
}

TEST(add_key_payload_limits_by_type)
{
    static char big[(1 << 20) + 1];
    OK(new_session());
    int s = KEY_SPEC_SESSION_KEYRING;
    OK(add_key("user", "u1", big, 32767, s));
    EXPECT_ERRNO(add_key("user", "u2", big, 32768, s), EINVAL);
    EXPECT_ERRNO(add_key("user", "u3", NULL, 0, s), EINVAL);
    OK(add_key("logon", "svc:name", big, 32767, s));
    EXPECT_ERRNO(add_key("logon", "svc:n2", big, 32768, s), EINVAL);
    EXPECT_ERRNO(add_key("keyring", "r", big, 1, s), EINVAL);
    EXPECT_ERRNO(add_key("user", "u4", big, (1 << 20), s), EINVAL);
    long r = add_key("big_key", "b1", big, (1 << 20) - 1, s);
    if (r == -1 && errno == ENODEV)
        SKIP("no big_key type in this kernel");
    CHECK(r > 0, "big_key of 1 MiB - 1: %s", kt_errstr(errno));
}

TEST(add_key_bad_arguments)
{
    OK(new_session());
    int s = KEY_SPEC_SESSION_KEYRING;
    EXPECT_ERRNO(add_key("no_such_type", "x", "a", 1, s), ENODEV);
    EXPECT_ERRNO(add_key(".user", "x", "a", 1, s), EPERM);
    EXPECT_ERRNO(add_key("keyring", ".mine", NULL, 0, s), EPERM);
    EXPECT_ERRNO(add_key("", "x", "a", 1, s), EINVAL);
    EXPECT_ERRNO(add_key("user", NULL, "a", 1, s), EINVAL);
    EXPECT_ERRNO(add_key("user", "", "a", 1, s), EINVAL);
    EXPECT_ERRNO(add_key("user", "x", NULL, 64, s), EFAULT);
    EXPECT_ERRNO(add_key((const char *)1, "x", "a", 1, s), EFAULT);
    EXPECT_ERRNO(add_key("user", (const char *)1, "a", 1, s), EFAULT);
    EXPECT_ERRNO(add_key("logon", "nocolon", "a", 1, s), EINVAL);
    EXPECT_ERRNO(add_key("logon", ":name", "a", 1, s), EINVAL);
    EXPECT_ERRNO(add_key("user", "x", "a", 1, 0), EINVAL);
    EXPECT_ERRNO(add_key("user", "x", "a", 1, -9), EINVAL);
    EXPECT_ERRNO(add_key("user", "x", "a", 1, KEY_SPEC_GROUP_KEYRING), EINVAL);
    EXPECT_ERRNO(add_key("user", "x", "a", 1, KEY_SPEC_REQKEY_AUTH_KEY), ENOKEY);
    key_serial_t k = OK(add_key("user", "k", "a", 1, s));
    EXPECT_ERRNO(add_key("user", "x", "a", 1, k), ENOTDIR);
}

TEST(logon_key_cannot_be_read_back)
{
    OK(new_session());
    key_serial_t k = OK(add_key("logon", "svc:secret", "pw", 2, KEY_SPEC_SESSION_KEYRING));
    char buf[64];
    EXPECT_ERRNO(KC4(KEYCTL_READ, k, buf, sizeof buf), EOPNOTSUPP);
    OK(KC4(KEYCTL_DESCRIBE, k, buf, sizeof buf));
    CHECK(!strcmp(buf, "logon;0;0;3d010000;svc:secret"), "describe '%s'", buf);
}

/* ---- state: revoke, expire, invalidate ---------------------------------- */

TEST(revoked_key_is_ekeyrevoked_until_unlinked)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "rv", "a", 1, KEY_SPEC_SESSION_KEYRING));
    OK(KC(KEYCTL_REVOKE, k));
    char buf[16];
    EXPECT_ERRNO(KC(KEYCTL_REVOKE, k), EKEYREVOKED);
    EXPECT_ERRNO(KC4(KEYCTL_READ, k, buf, sizeof buf), EKEYREVOKED);
    EXPECT_ERRNO(KC4(KEYCTL_UPDATE, k, "b", 1), EKEYREVOKED);
    EXPECT_ERRNO(KC4(KEYCTL_DESCRIBE, k, buf, sizeof buf), EKEYREVOKED);
    EXPECT_ERRNO(KC3(KEYCTL_LINK, k, KEY_SPEC_SESSION_KEYRING), EKEYREVOKED);
    OK(KC3(KEYCTL_UNLINK, k, KEY_SPEC_SESSION_KEYRING));
    EXPECT_EQ(KC4(KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, NULL, 0), 0);
}

TEST(key_past_its_timeout_is_ekeyexpired)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "ex", "a", 1, KEY_SPEC_SESSION_KEYRING));
    OK(KC3(KEYCTL_SET_TIMEOUT, k, 1));
    sleep_ms(1100);
    char buf[16];
    EXPECT_ERRNO(KC4(KEYCTL_READ, k, buf, sizeof buf), EKEYEXPIRED);
    EXPECT_ERRNO(KC4(KEYCTL_UPDATE, k, "b", 1), EKEYEXPIRED);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user",
                        (unsigned long)"ex", 0),
                 EKEYEXPIRED);
}

TEST(invalidated_key_is_enokey)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "iv", "a", 1, KEY_SPEC_SESSION_KEYRING));
    OK(KC(KEYCTL_INVALIDATE, k));
    EXPECT_ERRNO(KC4(KEYCTL_DESCRIBE, k, NULL, 0), ENOKEY);
    EXPECT_ERRNO(KC(KEYCTL_INVALIDATE, k), ENOKEY);
}

TEST(missing_key_is_enokey)
{
    char buf[16];
    key_serial_t k;
    /* Down from INT_MAX to the first id that names no key. */
    for (k = 0x7fffffff; k > 0; k--)
        if (KC4(KEYCTL_READ, k, buf, sizeof buf) == -1 && errno == ENOKEY)
            break;
    EXPECT_ERRNO(KC(KEYCTL_REVOKE, k), ENOKEY);
    EXPECT_ERRNO(KC4(KEYCTL_DESCRIBE, k, buf, sizeof buf), ENOKEY);
    EXPECT_ERRNO(KC4(KEYCTL_READ, 0, buf, sizeof buf), ENOKEY);
    EXPECT_ERRNO(KC(KEYCTL_REVOKE, 0), EINVAL);
}

/* ---- update ------------------------------------------------------------- */

TEST(update_replaces_payload_and_checks_it)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "up", "a", 1, KEY_SPEC_SESSION_KEYRING));
    OK(KC4(KEYCTL_UPDATE, k, "hello", 5));
    char buf[16];
    EXPECT_EQ(KC4(KEYCTL_READ, k, buf, sizeof buf), 5);
    EXPECT_ERRNO(KC4(KEYCTL_UPDATE, k, NULL, 0), EINVAL);
    EXPECT_ERRNO(KC4(KEYCTL_UPDATE, k, NULL, 4), EFAULT);
    /* An update carries at most a page. */
    static char page[4097];
    OK(KC4(KEYCTL_UPDATE, k, page, 4096));
    EXPECT_ERRNO(KC4(KEYCTL_UPDATE, k, page, 4097), EINVAL);
    EXPECT_ERRNO(KC4(KEYCTL_UPDATE, KEY_SPEC_SESSION_KEYRING, "a", 1), EOPNOTSUPP);
}

/* ---- reading and describing --------------------------------------------- */

TEST(keyring_read_gives_serials_and_full_length_to_a_short_buffer)
{
    OK(new_session());
    key_serial_t a = OK(add_key("user", "r1", "a", 1, KEY_SPEC_SESSION_KEYRING));
    key_serial_t b = OK(add_key("user", "r2", "a", 1, KEY_SPEC_SESSION_KEYRING));
    key_serial_t ids[4] = {0};
    EXPECT_EQ(KC4(KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, ids, sizeof ids), 8);
    CHECK((ids[0] == a && ids[1] == b) || (ids[0] == b && ids[1] == a), "ids %d %d", ids[0],
          ids[1]);
    memset(ids, 0, sizeof ids);
    EXPECT_EQ(KC4(KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, ids, sizeof(key_serial_t)), 8);
    EXPECT_EQ(ids[1], 0);
    EXPECT_ERRNO(KC4(KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, 8, 8), EFAULT);
}

TEST(describe_into_a_short_buffer_copies_nothing)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "dsc", "a", 1, KEY_SPEC_SESSION_KEYRING));
    char buf[8];
    memset(buf, 'x', sizeof buf);
    EXPECT_EQ(KC4(KEYCTL_DESCRIBE, k, buf, 3), 22);
    CHECK(buf[0] == 'x', "buffer written");
    EXPECT_EQ(KC4(KEYCTL_DESCRIBE, k, NULL, 0), 22);
}

/* ---- links, search, clear ----------------------------------------------- */

TEST(link_that_would_make_a_cycle_is_edeadlk)
{
    OK(new_session());
    key_serial_t a = OK(add_key("keyring", "ka", NULL, 0, KEY_SPEC_SESSION_KEYRING));
    key_serial_t b = OK(add_key("keyring", "kb", NULL, 0, a));
    EXPECT_ERRNO(KC3(KEYCTL_LINK, a, b), EDEADLK);
    EXPECT_ERRNO(KC3(KEYCTL_LINK, a, a), EDEADLK);
    EXPECT_ERRNO(KC3(KEYCTL_LINK, KEY_SPEC_SESSION_KEYRING, b), EDEADLK);
    key_serial_t k = OK(add_key("user", "leaf", "a", 1, b));
    OK(KC3(KEYCTL_LINK, k, a));
    OK(KC3(KEYCTL_LINK, k, a));
    EXPECT_ERRNO(KC3(KEYCTL_LINK, a, k), ENOTDIR);
}

TEST(unlink_needs_an_existing_link)
{
    OK(new_session());
    key_serial_t r = OK(add_key("keyring", "ur", NULL, 0, KEY_SPEC_SESSION_KEYRING));
    key_serial_t k = OK(add_key("user", "uk", "a", 1, KEY_SPEC_SESSION_KEYRING));
    EXPECT_ERRNO(KC3(KEYCTL_UNLINK, k, r), ENOENT);
    EXPECT_ERRNO(KC3(KEYCTL_UNLINK, r, k), ENOTDIR);
    OK(KC3(KEYCTL_LINK, k, r));
    OK(KC3(KEYCTL_UNLINK, k, KEY_SPEC_SESSION_KEYRING));
    EXPECT_ERRNO(KC3(KEYCTL_UNLINK, k, KEY_SPEC_SESSION_KEYRING), ENOENT);
    EXPECT_EQ(KC4(KEYCTL_READ, r, NULL, 0), 4);
}

TEST(search_finds_a_key_in_nested_keyrings)
{
    OK(new_session());
    key_serial_t r = OK(add_key("keyring", "outer", NULL, 0, KEY_SPEC_SESSION_KEYRING));
    key_serial_t in = OK(add_key("keyring", "inner", NULL, 0, r));
    key_serial_t k = OK(add_key("user", "deep", "a", 1, in));
    EXPECT_EQ(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user",
                     (unsigned long)"deep", 0),
              k);
    EXPECT_EQ(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"keyring",
                     (unsigned long)"inner", 0),
              in);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user",
                        (unsigned long)"nothere", 0),
                 ENOKEY);
    EXPECT_ERRNO(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"nosuch",
                        (unsigned long)"deep", 0),
                 ENOKEY);
    /* With a destination, the key found is linked there. */
    EXPECT_EQ(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user",
                     (unsigned long)"deep", (unsigned long)r),
              k);
    EXPECT_EQ(KC4(KEYCTL_READ, r, NULL, 0), 8);
}

TEST(clear_empties_a_keyring)
{
    OK(new_session());
    key_serial_t r = OK(add_key("keyring", "cl", NULL, 0, KEY_SPEC_SESSION_KEYRING));
    key_serial_t k = OK(add_key("user", "a", "a", 1, r));
    OK(add_key("user", "b", "b", 1, r));
    EXPECT_EQ(KC4(KEYCTL_READ, r, NULL, 0), 8);
    OK(KC(KEYCTL_CLEAR, r));
    EXPECT_EQ(KC4(KEYCTL_READ, r, NULL, 0), 0);
    k = OK(add_key("user", "c", "c", 1, r));
    EXPECT_ERRNO(KC(KEYCTL_CLEAR, k), ENOTDIR);
}

/* ---- special keyrings ---------------------------------------------------- */

TEST(thread_and_process_keyrings_are_made_only_on_request)
{
    struct {
        long t0, t1, t2, p0, p1, p2;
    } r;
    int fds[2];
    OK(pipe(fds));
    /* In a child, whose process and thread keyrings start empty. */
    pid_t pid = OK(fork());
    if (pid == 0) {
        r.t0 = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0);
        r.t0 = r.t0 == -1 ? -errno : r.t0;
        r.t1 = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1);
        r.t2 = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0);
        r.p0 = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0);
        r.p0 = r.p0 == -1 ? -errno : r.p0;
        r.p1 = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1);
        r.p2 = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0);
        if (write(fds[1], &r, sizeof r) != sizeof r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    EXPECT_EQ(read(fds[0], &r, sizeof r), sizeof r);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    EXPECT_EQ(r.t0, -ENOKEY);
    CHECK(r.t1 > 0 && r.t2 == r.t1, "thread keyring %ld then %ld", r.t1, r.t2);
    EXPECT_EQ(r.p0, -ENOKEY);
    CHECK(r.p1 > 0 && r.p2 == r.p1 && r.p1 != r.t1, "process keyring %ld then %ld", r.p1,
          r.p2);
}

static long fork_get_id(int id, int create)
{
    int fds[2];
    long v = -1000;
    if (pipe(fds) != 0)
        return -1000;
    pid_t pid = fork();
    if (pid == 0) {
        long r = KC3(KEYCTL_GET_KEYRING_ID, id, create);
        r = r == -1 ? -errno : r;
        if (write(fds[1], &r, sizeof r) != sizeof r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &v, sizeof v) != sizeof v)
        v = -1000;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return v;
}

TEST(fork_shares_the_session_keyring_but_not_thread_or_process_keyrings)
{
    long ses = OK(new_session());
    OK(KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1));
    OK(KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1));
    EXPECT_EQ(fork_get_id(KEY_SPEC_SESSION_KEYRING, 0), ses);
    EXPECT_EQ(fork_get_id(KEY_SPEC_THREAD_KEYRING, 0), -ENOKEY);
    EXPECT_EQ(fork_get_id(KEY_SPEC_PROCESS_KEYRING, 0), -ENOKEY);
}

static void *thread_ids(void *arg)
{
    long *v = arg;
    v[0] = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0);
    v[1] = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0);
    v[1] = v[1] == -1 ? -errno : v[1];
    v[2] = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1);
    return NULL;
}

TEST(threads_share_the_process_keyring_and_a_new_thread_gets_a_new_thread_keyring)
{
    long p = OK(KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1));
    long t = OK(KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1));
    long v[3] = {0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_ids, v) == 0, "pthread_create");
    pthread_join(th, NULL);
    EXPECT_EQ(v[0], p);
    /* Its creator had one, so it starts with one of its own. */
    CHECK(v[1] > 0 && v[1] != t, "other thread's keyring %ld (mine %ld)", v[1], t);
    EXPECT_EQ(v[2], v[1]);
}

static const char *self_exe;

TEST(execve_keeps_the_session_and_drops_thread_and_process_keyrings)
{
    long ses = OK(new_session());
    int fds[2];
    OK(pipe(fds));
    pid_t pid = OK(fork());
    if (pid == 0) {
        KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1);
        KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1);
        dup2(fds[1], 1);
        execl(self_exe, self_exe, "exec-child", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    long v[3] = {0};
    EXPECT_EQ(read(fds[0], v, sizeof v), sizeof v);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    EXPECT_EQ(v[0], ses);
    EXPECT_EQ(v[1], -ENOKEY);
    EXPECT_EQ(v[2], -ENOKEY);
}

static int exec_child(void)
{
    long v[3];
    v[0] = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    v[1] = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0);
    v[1] = v[1] == -1 ? -errno : v[1];
    v[2] = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0);
    v[2] = v[2] == -1 ? -errno : v[2];
    return write(1, v, sizeof v) == sizeof v ? 0 : 1;
}

TEST(session_to_parent_gives_the_parent_the_childs_session)
{
    OK(new_session());
    int fds[2];
    OK(pipe(fds));
    pid_t pid = OK(fork());
    if (pid == 0) {
        long r[2];
        r[0] = new_session();
        r[1] = KC(KEYCTL_SESSION_TO_PARENT, 0);
        r[1] = r[1] == -1 ? -errno : r[1];
        if (write(fds[1], r, sizeof r) != sizeof r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    long r[2] = {0};
    EXPECT_EQ(read(fds[0], r, sizeof r), sizeof r);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    EXPECT_EQ(r[1], 0);
    EXPECT_EQ(KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), r[0]);
}

TEST(set_reqkey_keyring_returns_the_old_setting_and_keeps_the_thread_keyring)
{
    long t = OK(KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1));
    long old = OK(KC(KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_THREAD_KEYRING));
    EXPECT_EQ(KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0), t);
    EXPECT_EQ(KC(KEYCTL_SET_REQKEY_KEYRING, -1), KEY_REQKEY_DEFL_THREAD_KEYRING);
    EXPECT_ERRNO(KC(KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_GROUP_KEYRING), EINVAL);
    EXPECT_ERRNO(KC(KEYCTL_SET_REQKEY_KEYRING, 8), EINVAL);
    EXPECT_EQ(KC(KEYCTL_SET_REQKEY_KEYRING, old), KEY_REQKEY_DEFL_THREAD_KEYRING);
}

TEST(user_keyrings_are_per_uid_and_not_found_by_name)
{
    int fds[2];
    OK(pipe(fds));
    pid_t pid = OK(fork());
    if (pid == 0) {
        long r[4];
        r[0] = add_key("keyring", "_uid.54321", NULL, 0, KEY_SPEC_PROCESS_KEYRING);
        r[1] = add_key("keyring", "_uid_ses.54321", NULL, 0, KEY_SPEC_PROCESS_KEYRING);
        if (setuid(OTHER_UID) != 0)
            _exit(1);
        r[2] = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 1);
        r[3] = KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_SESSION_KEYRING, 1);
        if (write(fds[1], r, sizeof r) != sizeof r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    long r[4] = {0};
    EXPECT_EQ(read(fds[0], r, sizeof r), sizeof r);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    CHECK(r[0] > 0 && r[1] > 0 && r[2] > 0 && r[3] > 0, "ids %ld %ld %ld %ld", r[0], r[1],
          r[2], r[3]);
    CHECK(r[2] != r[0] && r[3] != r[1], "forged keyring became the user's");
}

TEST(join_session_keyring_by_name)
{
    EXPECT_ERRNO(KC(KEYCTL_JOIN_SESSION_KEYRING, ".builtin_trusted_keys"), EPERM);
    EXPECT_ERRNO(KC(KEYCTL_JOIN_SESSION_KEYRING, ""), EINVAL);
    EXPECT_ERRNO(KC(KEYCTL_JOIN_SESSION_KEYRING, 1), EFAULT);
    long s = OK(KC(KEYCTL_JOIN_SESSION_KEYRING, "kt-named"));
    EXPECT_EQ(KC3(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), s);
    char buf[64];
    OK(KC4(KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING, buf, sizeof buf));
    CHECK(!strcmp(buf, "keyring;0;0;3f130000;kt-named"), "describe '%s'", buf);
    long a = OK(new_session());
    OK(KC4(KEYCTL_DESCRIBE, a, buf, sizeof buf));
    CHECK(!strcmp(buf, "keyring;0;0;3f030000;_ses"), "describe '%s'", buf);
}

/* ---- request_key --------------------------------------------------------- */

TEST(request_key_finds_a_key_or_fails_without_an_upcall)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "rq", "a", 1, KEY_SPEC_SESSION_KEYRING));
    EXPECT_EQ(request_key("user", "rq", NULL, 0), k);
    EXPECT_ERRNO(request_key("user", "rq-none", NULL, 0), ENOKEY);
    /* Only add_key says ENODEV for an unknown type. */
    EXPECT_ERRNO(request_key("nosuch", "rq", NULL, 0), ENOKEY);
    EXPECT_ERRNO(request_key("keyring", "rq-ring", "info", KEY_SPEC_SESSION_KEYRING), EPERM);
}

TEST(request_key_with_callout_and_no_helper_leaves_a_negative_key)
{
    OK(new_session());
    errno = 0;
    long r = request_key("user", "rq-neg", "info", KEY_SPEC_SESSION_KEYRING);
    CHECK(r == -1 && (errno == ENOENT || errno == ENOKEY), "request_key: %ld %s", r,
          kt_errstr(errno));
    key_serial_t ids[4];
    EXPECT_EQ(KC4(KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, ids, sizeof ids), 4);
    char buf[64];
    EXPECT_ERRNO(KC4(KEYCTL_READ, ids[0], buf, sizeof buf), ENOKEY);
    OK(KC4(KEYCTL_DESCRIBE, ids[0], buf, sizeof buf));
    CHECK(!strcmp(buf, "user;0;0;3f010000;rq-neg"), "describe '%s'", buf);
    EXPECT_ERRNO(request_key("user", "rq-neg", "info", KEY_SPEC_SESSION_KEYRING), ENOKEY);
    EXPECT_ERRNO(request_key("user", "rq-neg", NULL, 0), ENOKEY);
}

TEST(request_key_bad_arguments)
{
    OK(new_session());
    EXPECT_ERRNO(request_key((const char *)-1, "d", NULL, 0), EFAULT);
    EXPECT_ERRNO(request_key("user", (const char *)-1, NULL, 0), EFAULT);
    EXPECT_ERRNO(request_key("user", "d", (const char *)-1, 0), EFAULT);
    EXPECT_ERRNO(request_key(".user", "d", NULL, 0), EPERM);
    /* A destination that is revoked or expired answers so. */
    key_serial_t r = OK(add_key("keyring", "rv", NULL, 0, KEY_SPEC_SESSION_KEYRING));
    OK(KC(KEYCTL_REVOKE, r));
    EXPECT_ERRNO(request_key("keyring", "x", NULL, r), EKEYREVOKED);
    EXPECT_ERRNO(request_key("user", "x", NULL, 12345), ENOKEY);
}

TEST(request_key_may_not_create_in_a_keyring_it_cannot_write)
{
    OK(new_session());
    /* Possessor: view, read, search. */
    OK(KC3(KEYCTL_SETPERM, KEY_SPEC_SESSION_KEYRING, 0x0b000000));
    long old = OK(KC(KEYCTL_SET_REQKEY_KEYRING, 3 /* session */));
    errno = 0;
    long r = request_key("user", "nowrite", "info", 0);
    int e = errno;
    KC(KEYCTL_SET_REQKEY_KEYRING, old);
    CHECK(r == -1 && e == EACCES, "request_key: %ld %s", r, kt_errstr(e));
    EXPECT_EQ(KC4(KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, NULL, 0), 0);
}

TEST(instantiate_and_negate_without_authority_are_eperm)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "in", "a", 1, KEY_SPEC_SESSION_KEYRING));
    EXPECT_ERRNO(keyctl(KEYCTL_INSTANTIATE, k, (unsigned long)"b", 1, 0), EPERM);
    EXPECT_ERRNO(KC3(KEYCTL_NEGATE, k, 10), EPERM);
}

TEST(unknown_keyctl_operation_is_eopnotsupp)
{
    EXPECT_ERRNO(KC(9999, 0), EOPNOTSUPP);
}

/* ---- permissions and quotas ---------------------------------------------- */

TEST(setperm_rejects_unknown_bits)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "sp", "a", 1, KEY_SPEC_SESSION_KEYRING));
    EXPECT_ERRNO(KC3(KEYCTL_SETPERM, k, 0xffffffffu), EINVAL);
    OK(KC3(KEYCTL_SETPERM, k, 0x3f3f0000));
    char buf[64];
    OK(KC4(KEYCTL_DESCRIBE, k, buf, sizeof buf));
    CHECK(!strcmp(buf, "user;0;0;3f3f0000;sp"), "describe '%s'", buf);
}

/* Runs fn as OTHER_UID in a child; its exit status is what fn returns. */
static int as_other_user(int (*fn)(long), long arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(OTHER_UID) != 0 || setuid(OTHER_UID) != 0)
            _exit(100);
        _exit(fn(arg));
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static int other_user_access(long k)
{
    char buf[64];
    /* Possessed through the inherited session keyring: possessor rights. */
    if (KC4(KEYCTL_DESCRIBE, k, buf, sizeof buf) < 0)
        return 1;
    /* A new session: not possessed, and "other" has no rights. */
    if (new_session() < 0)
        return 2;
    if (KC4(KEYCTL_DESCRIBE, k, buf, sizeof buf) != -1 || errno != EACCES)
        return 3;
    if (KC4(KEYCTL_READ, k, buf, sizeof buf) != -1 || errno != EACCES)
        return 4;
    if (KC4(KEYCTL_UPDATE, k, "x", 1) != -1 || errno != EACCES)
        return 5;
    /* Only CAP_SYS_ADMIN gives a key away. */
    key_serial_t mine = add_key("user", "mine", "a", 1, KEY_SPEC_SESSION_KEYRING);
    if (mine < 0)
        return 6;
    if (KC4(KEYCTL_CHOWN, mine, 0, -1) != -1 || errno != EACCES)
        return 7;
    if (KC4(KEYCTL_CHOWN, mine, -1, -1) != 0)
        return 8;
    return 0;
}

TEST(missing_write_or_link_permission_is_eacces)
{
    OK(new_session());
    key_serial_t r = OK(add_key("keyring", "ro", NULL, 0, KEY_SPEC_SESSION_KEYRING));
    key_serial_t k = OK(add_key("user", "nolink", "a", 1, KEY_SPEC_SESSION_KEYRING));
    /* Possessor: view, read, search, setattr; no write, no link. */
    OK(KC3(KEYCTL_SETPERM, r, 0x2b000000));
    OK(KC3(KEYCTL_SETPERM, k, 0x2b000000));
    EXPECT_ERRNO(add_key("user", "x", "a", 1, r), EACCES);
    EXPECT_ERRNO(KC3(KEYCTL_LINK, k, KEY_SPEC_SESSION_KEYRING), EACCES);
    EXPECT_ERRNO(KC4(KEYCTL_UPDATE, k, "b", 1), EACCES);
    EXPECT_ERRNO(KC(KEYCTL_CLEAR, r), EACCES);
    char buf[8];
    EXPECT_EQ(KC4(KEYCTL_READ, k, buf, sizeof buf), 1);
    /* Without setattr, even the owner cannot change it back. */
    OK(KC3(KEYCTL_SETPERM, k, 0x0b000000));
    EXPECT_ERRNO(KC3(KEYCTL_SETPERM, k, 0x3f000000), EACCES);
    EXPECT_ERRNO(KC3(KEYCTL_SET_TIMEOUT, k, 10), EACCES);
    /* Revoke needs write or setattr. */
    EXPECT_ERRNO(KC(KEYCTL_REVOKE, k), EACCES);
}

TEST(other_user_without_possession_gets_eacces)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "priv", "a", 1, KEY_SPEC_SESSION_KEYRING));
    EXPECT_EQ(as_other_user(other_user_access, k), 0);
}

static int fill_quota(long unused)
{
    (void)unused;
    static char big[32767];
    if (new_session() < 0)
        return 1;
    /* 20000 bytes by default for a user other than root. */
    if (add_key("user", "big", big, sizeof big, KEY_SPEC_SESSION_KEYRING) != -1 ||
        errno != EDQUOT)
        return 2;
    /* 200 keys by default. */
    for (int i = 0; i < 300; i++) {
        char d[16];
        snprintf(d, sizeof d, "q%d", i);
        if (add_key("user", d, "a", 1, KEY_SPEC_SESSION_KEYRING) == -1)
            return errno == EDQUOT && i > 100 ? 0 : 3;
    }
    return 4;
}

TEST(unprivileged_user_past_its_quota_gets_edquot)
{
    EXPECT_EQ(as_other_user(fill_quota, 0), 0);
}

/* ---- /proc ---------------------------------------------------------------- */

static int file_has(const char *path, const char *what)
{
    static char buf[65536];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n, t = 0;
    while ((n = read(fd, buf + t, sizeof buf - 1 - t)) > 0)
        t += n;
    close(fd);
    buf[t] = 0;
    return strstr(buf, what) != NULL;
}

TEST(proc_keys_and_key_users_list_the_keys)
{
    OK(new_session());
    key_serial_t k = OK(add_key("user", "kt-proc", "abcd", 4, KEY_SPEC_SESSION_KEYRING));
    char want[64];
    snprintf(want, sizeof want, "%08x I--Q---", k);
    int r = file_has("/proc/keys", want);
    if (r < 0)
        SKIP("no /proc/keys");
    CHECK(r == 1, "/proc/keys has no line for %08x", k);
    EXPECT_EQ(file_has("/proc/keys", "user      kt-proc: 4"), 1);
    EXPECT_EQ(file_has("/proc/key-users", "    0: "), 1);
    EXPECT_EQ(file_has("/proc/sys/kernel/keys/maxkeys", "200"), 1);
    EXPECT_EQ(file_has("/proc/sys/kernel/keys/maxbytes", "20000"), 1);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "exec-child"))
        return exec_child();
    self_exe = argv[0][0] == '/' ? argv[0] : "/proc/self/exe";
    KT_BEGIN();
    RUN(add_user_key_then_read_and_describe_it);
    RUN(add_key_with_same_type_and_description_updates_the_key);
    RUN(add_key_payload_limits_by_type);
    RUN(add_key_bad_arguments);
    RUN(logon_key_cannot_be_read_back);
    RUN(revoked_key_is_ekeyrevoked_until_unlinked);
    RUN(key_past_its_timeout_is_ekeyexpired);
    RUN(invalidated_key_is_enokey);
    RUN(missing_key_is_enokey);
    RUN(update_replaces_payload_and_checks_it);
    RUN(keyring_read_gives_serials_and_full_length_to_a_short_buffer);
    RUN(describe_into_a_short_buffer_copies_nothing);
    RUN(link_that_would_make_a_cycle_is_edeadlk);
    RUN(unlink_needs_an_existing_link);
    RUN(search_finds_a_key_in_nested_keyrings);
    RUN(clear_empties_a_keyring);
    RUN(thread_and_process_keyrings_are_made_only_on_request);
    RUN(fork_shares_the_session_keyring_but_not_thread_or_process_keyrings);
    RUN(threads_share_the_process_keyring_and_a_new_thread_gets_a_new_thread_keyring);
    RUN(execve_keeps_the_session_and_drops_thread_and_process_keyrings);
    RUN(session_to_parent_gives_the_parent_the_childs_session);
    RUN(set_reqkey_keyring_returns_the_old_setting_and_keeps_the_thread_keyring);
    RUN(user_keyrings_are_per_uid_and_not_found_by_name);
    RUN(join_session_keyring_by_name);
    RUN(request_key_finds_a_key_or_fails_without_an_upcall);
    RUN(request_key_with_callout_and_no_helper_leaves_a_negative_key);
    RUN(request_key_bad_arguments);
    RUN(request_key_may_not_create_in_a_keyring_it_cannot_write);
    RUN(instantiate_and_negate_without_authority_are_eperm);
    RUN(unknown_keyctl_operation_is_eopnotsupp);
    RUN(setperm_rejects_unknown_bits);
    RUN(missing_write_or_link_permission_is_eacces);
    RUN(other_user_without_possession_gets_eacces);
    RUN(unprivileged_user_past_its_quota_gets_edquot);
    RUN(proc_keys_and_key_users_list_the_keys);
    return KT_END();
}
