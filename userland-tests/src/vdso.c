/*
 * vdso.c - the vDSO the kernel maps into every process (AT_SYSINFO_EHDR).
 *
 * A small self-contained ELF parser finds the exported functions the way
 * libcs do (musl walks DT_HASH and checks the "LINUX_2.6" version; glibc can
 * use DT_GNU_HASH), then calls them and compares with the real syscalls.
 * The vDSO functions return the raw kernel convention: 0 or -errno.
 */
#define KT_AREA "vdso"
#include "kt.h"

#include <elf.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/time.h>
#include <time.h>

#define MS 1000000LL

/* ---- the parser ----------------------------------------------------------- */

struct vdso {
    uintptr_t base; /* where the ELF header is mapped */
    uintptr_t bias; /* added to the ELF's virtual addresses */
    const Elf64_Ehdr *eh;
    const Elf64_Dyn *dyn;
    const Elf64_Sym *symtab;
    const char *strtab;
    const uint32_t *hash;     /* DT_HASH, or NULL */
    const uint32_t *gnu_hash; /* DT_GNU_HASH, or NULL */
    const Elf64_Versym *versym;
    const Elf64_Verdef *verdef;
    uint32_t nsyms;
    int nload;
};

static struct vdso V;
static const char *vdso_err; /* why parsing failed, NULL if it worked */

static uint32_t gnu_nsyms(const uint32_t *gh)
{
    uint32_t nbuckets = gh[0], symoffset = gh[1], bloom = gh[2];
    const uint32_t *buckets = gh + 4 + bloom * 2; /* 64-bit bloom words */
    const uint32_t *chain = buckets + nbuckets;
    uint32_t max = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        if (buckets[i] > max)
            max = buckets[i];
    if (max < symoffset)
        return symoffset;
    while (!(chain[max - symoffset] & 1))
        max++;
    return max + 1;
}

static void vdso_parse(void)
{
    memset(&V, 0, sizeof V);
    V.base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (!V.base) {
        vdso_err = "AT_SYSINFO_EHDR is 0";
        return;
    }
    V.eh = (const Elf64_Ehdr *)V.base;
    if (memcmp(V.eh->e_ident, ELFMAG, SELFMAG) != 0 || V.eh->e_ident[EI_CLASS] != ELFCLASS64) {
        vdso_err = "no 64-bit ELF header at AT_SYSINFO_EHDR";
        return;
    }
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(V.base + V.eh->e_phoff);
    const Elf64_Phdr *dynph = NULL;
    int have_bias = 0;
    for (int i = 0; i < V.eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD) {
            if (!have_bias) {
                V.bias = V.base + ph[i].p_offset - ph[i].p_vaddr;
                have_bias = 1;
            }
            V.nload++;
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dynph = &ph[i];
        }
    }
    if (!have_bias || !dynph) {
        vdso_err = "no PT_LOAD or no PT_DYNAMIC";
        return;
    }
    V.dyn = (const Elf64_Dyn *)(V.base + dynph->p_offset);
    for (const Elf64_Dyn *d = V.dyn; d->d_tag != DT_NULL; d++) {
        const void *p = (const void *)(V.bias + d->d_un.d_ptr);
        switch (d->d_tag) {
        case DT_SYMTAB: V.symtab = p; break;
        case DT_STRTAB: V.strtab = p; break;
        case DT_HASH: V.hash = p; break;
        case DT_GNU_HASH: V.gnu_hash = p; break;
        case DT_VERSYM: V.versym = p; break;
        case DT_VERDEF: V.verdef = p; break;
        }
    }
    if (!V.symtab || !V.strtab || (!V.hash && !V.gnu_hash)) {
        vdso_err = "DT_SYMTAB, DT_STRTAB or both hash tables missing";
        return;
    }
    V.nsyms = V.hash ? V.hash[1] : gnu_nsyms(V.gnu_hash);
}

static int sym_is_exported_func(const Elf64_Sym *s)
{
    int bind = ELF64_ST_BIND(s->st_info);
    return s->st_shndx != SHN_UNDEF && ELF64_ST_TYPE(s->st_info) == STT_FUNC &&
           (bind == STB_GLOBAL || bind == STB_WEAK) && s->st_value != 0;
}

/* Linear scan of the symbol table: returns the index or -1. */
static long sym_index(const char *name)
{
    for (uint32_t i = 1; i < V.nsyms; i++) {
        const Elf64_Sym *s = &V.symtab[i];
        if (sym_is_exported_func(s) && strcmp(V.strtab + s->st_name, name) == 0)
            return i;
    }
    return -1;
}

static void *vsym(const char *name)
{
    if (vdso_err)
        return NULL;
    long i = sym_index(name);
    return i < 0 ? NULL : (void *)(V.bias + V.symtab[i].st_value);
}

static uint32_t sysv_hash(const char *s)
{
    uint32_t h = 0, g;
    for (; *s; s++) {
        h = (h << 4) + (unsigned char)*s;
        g = h & 0xf0000000u;
        if (g)
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

static long sysv_lookup(const char *name)
{
    uint32_t nbucket = V.hash[0];
    const uint32_t *bucket = V.hash + 2, *chain = bucket + nbucket;
    for (uint32_t i = bucket[sysv_hash(name) % nbucket]; i; i = chain[i])
        if (strcmp(V.strtab + V.symtab[i].st_name, name) == 0)
            return i;
    return -1;
}

static uint32_t gnu_hash_of(const char *s)
{
    uint32_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

static long gnu_lookup(const char *name)
{
    const uint32_t *gh = V.gnu_hash;
    uint32_t nbuckets = gh[0], symoffset = gh[1], bloom_size = gh[2], shift = gh[3];
    const uint64_t *bloom = (const uint64_t *)(gh + 4);
    const uint32_t *buckets = gh + 4 + bloom_size * 2;
    const uint32_t *chain = buckets + nbuckets;
    uint32_t h = gnu_hash_of(name);
    uint64_t word = bloom[(h / 64) % bloom_size];
    uint64_t mask = (1ULL << (h % 64)) | (1ULL << ((h >> shift) % 64));
    if ((word & mask) != mask)
        return -2; /* the bloom filter says no */
    uint32_t i = buckets[h % nbuckets];
    if (i < symoffset)
        return -1;
    for (;; i++) {
        uint32_t ch = chain[i - symoffset];
        if ((ch | 1) == (h | 1) && strcmp(V.strtab + V.symtab[i].st_name, name) == 0)
            return i;
        if (ch & 1)
            return -1;
    }
}

/* Name of the version definition of symbol i, or NULL. */
static const char *sym_version(long i)
{
    if (!V.versym || !V.verdef)
        return NULL;
    unsigned ndx = V.versym[i] & 0x7fff;
    const Elf64_Verdef *d = V.verdef;
    for (;;) {
        if (d->vd_ndx == ndx && !(d->vd_flags & VER_FLG_BASE)) {
            const Elf64_Verdaux *a = (const Elf64_Verdaux *)((const char *)d + d->vd_aux);
            return V.strtab + a->vda_name;
        }
        if (!d->vd_next)
            return NULL;
        d = (const Elf64_Verdef *)((const char *)d + d->vd_next);
    }
}

static const char *const funcs[] = {
    "__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time",
    "__vdso_clock_getres",  "__vdso_getcpu",
};
#define NFUNCS (int)(sizeof funcs / sizeof funcs[0])

typedef long (*cgt_fn)(clockid_t, struct timespec *);
typedef long (*gtod_fn)(struct timeval *, struct timezone *);
typedef long (*time_fn)(long *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

#define NEED_VDSO()                                                           \
    do {                                                                      \
        if (vdso_err)                                                         \
            SKIP("no usable vDSO: %s", vdso_err);                            \
    } while (0)

#define NEED(var, type, name)                                                 \
    NEED_VDSO();                                                              \
    type var = (type)vsym(name);                                              \
    CHECK(var, "%s not exported", name)

static long long ts_ns(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* ---- the image -------------------------------------------------------------- */

TEST(auxv_sysinfo_ehdr_points_at_elf_header) {
    uintptr_t b = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    CHECK(b != 0, "getauxval(AT_SYSINFO_EHDR) is 0: no vDSO");
    CHECK((b & 4095) == 0, "vDSO at %#lx is not page aligned", (long)b);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b;
    CHECK(memcmp(eh->e_ident, "\x7f" "ELF", 4) == 0, "no ELF magic at %#lx", (long)b);
    EXPECT_EQ(eh->e_ident[EI_CLASS], ELFCLASS64);
    EXPECT_EQ(eh->e_ident[EI_DATA], ELFDATA2LSB);
    EXPECT_EQ(eh->e_machine, EM_X86_64);
    EXPECT_EQ(eh->e_type, ET_DYN);
    EXPECT_EQ(eh->e_phentsize, sizeof(Elf64_Phdr));
}

TEST(vdso_has_load_segment_and_dynamic_section) {
    NEED_VDSO();
    CHECK(V.nload >= 1, "no PT_LOAD");
    CHECK(V.dyn, "no PT_DYNAMIC");
    CHECK(V.nsyms > 1, "symbol table has %u entries", V.nsyms);
}

TEST(vdso_exports_the_five_functions) {
    NEED_VDSO();
    for (int i = 0; i < NFUNCS; i++) {
        void *p = vsym(funcs[i]);
        CHECK(p, "%s not exported (as a defined global function)", funcs[i]);
        /* the code lies inside the vDSO image */
        CHECK((uintptr_t)p > V.base && (uintptr_t)p < V.base + 64 * 4096,
              "%s at %p, vDSO at %#lx", funcs[i], p, (long)V.base);
    }
}

/* musl finds vDSO symbols through DT_HASH only. */
TEST(vdso_sysv_hash_table_finds_every_function) {
    NEED_VDSO();
    CHECK(V.hash, "no DT_HASH (musl's vDSO lookup needs it)");
    for (int i = 0; i < NFUNCS; i++) {
        long lin = sym_index(funcs[i]), h = sysv_lookup(funcs[i]);
        CHECK(lin > 0, "%s not in the symbol table", funcs[i]);
        CHECK(h == lin, "DT_HASH lookup of %s gave %ld, the symbol is %ld", funcs[i], h, lin);
    }
    EXPECT_EQ(sysv_lookup("__vdso_no_such_function"), -1);
}

TEST(vdso_gnu_hash_table_finds_every_function) {
    NEED_VDSO();
    if (!V.gnu_hash)
        SKIP("no DT_GNU_HASH (optional)");
    for (int i = 0; i < NFUNCS; i++) {
        long lin = sym_index(funcs[i]), h = gnu_lookup(funcs[i]);
        CHECK(h == lin, "DT_GNU_HASH lookup of %s gave %ld (-2 = bloom filter miss), the symbol "
              "is %ld", funcs[i], h, lin);
    }
}

/* glibc and musl both ask for version "LINUX_2.6". */
TEST(vdso_functions_have_version_linux_2_6) {
    NEED_VDSO();
    CHECK(V.versym && V.verdef, "no DT_VERSYM/DT_VERDEF");
    for (int i = 0; i < NFUNCS; i++) {
        long idx = sym_index(funcs[i]);
        CHECK(idx > 0, "%s not exported", funcs[i]);
        const char *ver = sym_version(idx);
        CHECK(ver && strcmp(ver, "LINUX_2.6") == 0, "%s has version %s, expected LINUX_2.6",
              funcs[i], ver ? ver : "(none)");
    }
}

/* ---- calling it ---------------------------------------------------------------- */

static const struct {
    clockid_t id;
    const char *name;
} clocks[] = {
    {CLOCK_REALTIME, "REALTIME"},
    {CLOCK_MONOTONIC, "MONOTONIC"},
    {CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW"},
    {CLOCK_REALTIME_COARSE, "REALTIME_COARSE"},
    {CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE"},
    {CLOCK_BOOTTIME, "BOOTTIME"},
    {CLOCK_TAI, "TAI"},
};

TEST(vdso_clock_gettime_agrees_with_syscall) {
    NEED(cgt, cgt_fn, "__vdso_clock_gettime");
    for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        struct timespec a, v = {-1, -1}, b;
        OK(syscall(SYS_clock_gettime, clocks[i].id, &a));
        long r = cgt(clocks[i].id, &v);
        OK(syscall(SYS_clock_gettime, clocks[i].id, &b));
        CHECK(r == 0, "__vdso_clock_gettime(%s) returned %ld", clocks[i].name, r);
        CHECK(v.tv_nsec >= 0 && v.tv_nsec < 1000000000L, "%s: tv_nsec %ld", clocks[i].name,
              v.tv_nsec);
        /* between the two syscalls, with 1 ms of slack */
        CHECK(ts_ns(&v) >= ts_ns(&a) - MS && ts_ns(&v) <= ts_ns(&b) + MS,
              "%s: vDSO %lld not between syscall reads %lld and %lld", clocks[i].name,
              ts_ns(&v), ts_ns(&a), ts_ns(&b));
    }
}

/* The CPU-time clocks are not in the vDSO data: it falls back to the syscall. */
TEST(vdso_clock_gettime_cpu_clocks_work) {
    NEED(cgt, cgt_fn, "__vdso_clock_gettime");
    struct timespec p = {-1, -1}, t = {-1, -1};
    EXPECT_EQ(cgt(CLOCK_PROCESS_CPUTIME_ID, &p), 0);
    EXPECT_EQ(cgt(CLOCK_THREAD_CPUTIME_ID, &t), 0);
    CHECK(ts_ns(&p) > 0 && ts_ns(&t) > 0, "process %lld thread %lld", ts_ns(&p), ts_ns(&t));
}

TEST(vdso_clock_gettime_monotonic_over_10000_calls) {
    NEED(cgt, cgt_fn, "__vdso_clock_gettime");
    struct timespec prev, cur;
    CHECK(cgt(CLOCK_MONOTONIC, &prev) == 0, "call failed");
    long long first = ts_ns(&prev);
    for (int i = 0; i < 10000; i++) {
        CHECK(cgt(CLOCK_MONOTONIC, &cur) == 0, "call %d failed", i);
        CHECK(ts_ns(&cur) >= ts_ns(&prev), "call %d went back from %lld to %lld", i, ts_ns(&prev),
              ts_ns(&cur));
        prev = cur;
    }
    CHECK(ts_ns(&prev) > first, "MONOTONIC did not advance over 10000 calls");
}

/* The vDSO returns -EINVAL itself (musl relies on exactly that value). */
TEST(vdso_clock_gettime_invalid_clock_returns_minus_einval) {
    NEED(cgt, cgt_fn, "__vdso_clock_gettime");
    struct timespec ts;
    EXPECT_EQ(cgt(100, &ts), -EINVAL);
    EXPECT_EQ(cgt(CLOCK_SGI_CYCLE, &ts), -EINVAL);
}

TEST(vdso_clock_getres_matches_syscall) {
    NEED(cgr, cgt_fn, "__vdso_clock_getres");
    for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        struct timespec s = {-1, -1}, v = {-2, -2};
        OK(syscall(SYS_clock_getres, clocks[i].id, &s));
        long r = cgr(clocks[i].id, &v);
        CHECK(r == 0, "__vdso_clock_getres(%s) returned %ld", clocks[i].name, r);
        CHECK(ts_ns(&s) == ts_ns(&v), "%s: vDSO res %lld, syscall %lld", clocks[i].name,
              ts_ns(&v), ts_ns(&s));
    }
    struct timespec ts;
    EXPECT_EQ(cgr(100, &ts), -EINVAL);
}

TEST(vdso_gettimeofday_agrees_with_syscall) {
    NEED(gtod, gtod_fn, "__vdso_gettimeofday");
    struct timeval s, v = {-1, -1};
    struct timezone sz = {-7, -7}, vz = {-9, -9};
    OK(syscall(SYS_gettimeofday, &s, &sz));
    long r = gtod(&v, &vz);
    EXPECT_EQ(r, 0);
    CHECK(v.tv_usec >= 0 && v.tv_usec < 1000000, "tv_usec %ld", (long)v.tv_usec);
    long long d = ((long long)v.tv_sec - s.tv_sec) * 1000000LL + (v.tv_usec - s.tv_usec);
    CHECK(d >= -1000 && d <= 1000000, "vDSO gettimeofday %lld us away from the syscall", d);
    CHECK(vz.tz_minuteswest == sz.tz_minuteswest && vz.tz_dsttime == sz.tz_dsttime,
          "timezone %d/%d, syscall %d/%d", vz.tz_minuteswest, vz.tz_dsttime, sz.tz_minuteswest,
          sz.tz_dsttime);
    EXPECT_EQ(gtod(&v, NULL), 0);
    EXPECT_EQ(gtod(NULL, NULL), 0);
}

TEST(vdso_time_agrees_with_syscall) {
    NEED(tm, time_fn, "__vdso_time");
    long s = syscall(SYS_time, NULL);
    long stored = -1;
    long v = tm(&stored);
    long v2 = tm(NULL);
    CHECK(v >= s && v <= s + 1, "__vdso_time %ld, syscall %ld", v, s);
    EXPECT_EQ(stored, v);
    CHECK(v2 >= v && v2 <= v + 1, "second call %ld after %ld", v2, v);
}

TEST(vdso_getcpu_returns_cpu_in_affinity_mask) {
    NEED(gc, getcpu_fn, "__vdso_getcpu");
    cpu_set_t set;
    CPU_ZERO(&set);
    long n = OK(syscall(SYS_sched_getaffinity, 0, sizeof set, &set));
    CHECK(n > 0, "sched_getaffinity returned %ld", n);
    unsigned cpu = 9999, node = 9999, scpu = 9999, snode = 9999;
    long r = gc(&cpu, &node, NULL);
    EXPECT_EQ(r, 0);
    OK(syscall(SYS_getcpu, &scpu, &snode, NULL));
    CHECK(cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set), "vDSO cpu %u not in the affinity mask", cpu);
    CHECK(scpu < CPU_SETSIZE && CPU_ISSET(scpu, &set), "syscall cpu %u not in the mask", scpu);
    CHECK(node != 9999 && node == snode, "node %u, syscall node %u", node, snode);
    EXPECT_EQ(gc(&cpu, NULL, NULL), 0);
    EXPECT_EQ(gc(NULL, &node, NULL), 0);
}

TEST(vdso_getcpu_follows_affinity_to_each_cpu) {
    NEED(gc, getcpu_fn, "__vdso_getcpu");
    cpu_set_t orig, one;
    CPU_ZERO(&orig);
    OK(syscall(SYS_sched_getaffinity, 0, sizeof orig, &orig));
    int checked = 0;
    for (int c = 0; c < 64; c++) {
        if (!CPU_ISSET(c, &orig))
            continue;
        CPU_ZERO(&one);
        CPU_SET(c, &one);
        if (syscall(SYS_sched_setaffinity, 0, sizeof one, &one) != 0)
            continue;
        unsigned cpu = 9999;
        long r = gc(&cpu, NULL, NULL);
        syscall(SYS_sched_setaffinity, 0, sizeof orig, &orig);
        EXPECT_EQ(r, 0);
        CHECK(cpu == (unsigned)c, "pinned to cpu %d, __vdso_getcpu says %u", c, cpu);
        checked++;
    }
    if (!checked)
        SKIP("sched_setaffinity to a single cpu is not allowed here");
}

int main(void)
{
    KT_BEGIN();
    vdso_parse();
    RUN(auxv_sysinfo_ehdr_points_at_elf_header);
    RUN(vdso_has_load_segment_and_dynamic_section);
    RUN(vdso_exports_the_five_functions);
    RUN(vdso_sysv_hash_table_finds_every_function);
    RUN(vdso_gnu_hash_table_finds_every_function);
    RUN(vdso_functions_have_version_linux_2_6);
    RUN(vdso_clock_gettime_agrees_with_syscall);
    RUN(vdso_clock_gettime_cpu_clocks_work);
    RUN(vdso_clock_gettime_monotonic_over_10000_calls);
    RUN(vdso_clock_gettime_invalid_clock_returns_minus_einval);
    RUN(vdso_clock_getres_matches_syscall);
    RUN(vdso_gettimeofday_agrees_with_syscall);
    RUN(vdso_time_agrees_with_syscall);
    RUN(vdso_getcpu_returns_cpu_in_affinity_mask);
    RUN(vdso_getcpu_follows_affinity_to_each_cpu);
    return KT_END();
}
