/* Errors, checked allocation, files written atomically, threads and small numeric helpers. */
#define _DEFAULT_SOURCE /* madvise */
#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static _Thread_local char g_detail[1024];

gsz_error gsz_fail(gsz_error code, const char *fmt, ...) {
    /* formatted aside first: callers wrap the last detail ("%s: %s", path, gsz_getErrorDetail()),
     * and printing into the buffer an argument points into overwrote it while it was read */
    char msg[sizeof g_detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(g_detail, msg, sizeof msg);
    return code;
}

const char *gsz_getErrorDetail(void) { return g_detail[0] ? g_detail : "no error"; }
int gsz_isError(gsz_error code) { return code != GSZ_OK; }

const char *gsz_getErrorName(gsz_error code) {
    switch (code) {
    case GSZ_OK: return "no error";
    case GSZ_ERROR_io: return "I/O error";
    case GSZ_ERROR_format: return "malformed input";
    case GSZ_ERROR_corrupt: return "corrupt .gsz data";
    case GSZ_ERROR_checksum: return "checksum mismatch";
    case GSZ_ERROR_unsupported: return "unsupported feature";
    case GSZ_ERROR_memory: return "out of memory";
    case GSZ_ERROR_argument: return "invalid argument";
    default: return "unknown error code";
    }
}

int gsz_path_has_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path), k = strlen(suffix);
    return n >= k && !strcasecmp(path + n - k, suffix);
}

/* Large arrays ask for transparent huge pages: decoding and rendering write hundreds of MB of fresh
 * memory, and with 4 KiB pages the kernel's page faults cost more than the work itself. */
#define GSZ_HUGE_MIN ((size_t)2 << 20)
static void *alloc_big(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void *gsz_malloc_array(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    size_t bytes = n * size;
    return bytes >= GSZ_HUGE_MIN ? alloc_big(bytes) : malloc(bytes ? bytes : 1);
}

/* The tail of a huge-page array that does not fill its last 2 MiB is 4 KiB pages, up to 511 faults per
 * array: a fresh decode's float scene (six arrays) took a third of its page faults there. Whole pages
 * cost up to 2 MiB more resident per array, so only the decoders' outputs take them, from 1 MiB up
 * (playbot balanced, cold float decode: 13.1 -> 10.8 ms median, 3,615 -> 1,268 faults in the process). */
void *gsz_malloc_pages(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    size_t bytes = n * size;
    if (bytes < GSZ_HUGE_MIN / 2) return malloc(bytes ? bytes : 1);
    size_t whole = (bytes + GSZ_HUGE_MIN - 1) & ~(GSZ_HUGE_MIN - 1);
    return whole >= bytes ? alloc_big(whole) : NULL;
}

void *gsz_calloc_array(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    size_t bytes = n * size;
    if (bytes < GSZ_HUGE_MIN) return calloc(n ? n : 1, size ? size : 1);
    void *p = alloc_big(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

uint16_t gsz_float_to_half(float f) {
    union { float f; uint32_t u; } v = {f};
    uint32_t x = v.u, sign = (x >> 16) & 0x8000u;
    uint32_t mant = x & 0x7FFFFFu;
    int exp = (int)((x >> 23) & 0xFF);
    if (exp == 0xFF) return (uint16_t)(sign | 0x7C00u | (mant ? 0x200u : 0));
    int e = exp - 127 + 15;
    if (e >= 0x1F) return (uint16_t)(sign | 0x7C00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        int shift = 14 - e;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* may carry into the exponent: correct */
    return (uint16_t)(sign | h);
}

float gsz_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FFu, x;
    if (exp == 0) {
        if (!mant) x = sign;
        else {
            int e = -1;
            do { mant <<= 1; e++; } while (!(mant & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3FFu) << 13);
        }
    } else if (exp == 0x1F) x = sign | 0x7F800000u | (mant << 13);
    else x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    union { uint32_t u; float f; } v = {x};
    return v.f;
}

/* A stream without a size (a pipe, a terminal) read to its end in growing pieces. */
static gsz_error read_stream(FILE *f, const char *path, void **data, size_t *size) {
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) return gsz_fail(GSZ_ERROR_memory, "%s: cannot allocate %zu bytes", path, cap);
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) break;
        unsigned char *b = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!b) free(buf);
        buf = b;
        cap *= 2;
    }
    if (ferror(f)) { free(buf); return gsz_fail(GSZ_ERROR_io, "%s: read failed: %s", path, strerror(errno)); }
    *data = buf;
    *size = len;
    return GSZ_OK;
}

gsz_error gsz_read_file(const char *path, void **data, size_t *size) {
    *data = NULL;
    *size = 0;
    int std = !strcmp(path, "-");
    FILE *f = std ? stdin : fopen(path, "rb");
    if (!f) return gsz_fail(GSZ_ERROR_io, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int known = fstat(fileno(f), &st) == 0;
    gsz_error e = GSZ_OK;
    if (known && S_ISDIR(st.st_mode)) e = gsz_fail(GSZ_ERROR_io, "%s: is a directory", path);
    else if (!known || !S_ISREG(st.st_mode)) e = read_stream(f, gsz_input_name(path), data, size);
    else {
        long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
        void *buf = len >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)len + 1) : NULL;
        if (len < 0) e = gsz_fail(GSZ_ERROR_io, "%s: cannot seek", path);
        else if (!buf) e = gsz_fail(GSZ_ERROR_memory, "%s: cannot allocate %ld bytes", path, len);
        else if (fread(buf, 1, (size_t)len, f) != (size_t)len) { free(buf); e = gsz_fail(GSZ_ERROR_io, "%s: read failed", path); }
        else { *data = buf; *size = (size_t)len; }
    }
    if (!std) fclose(f);
    return e;
}

gsz_error gsz_read_scene_file(const char *path, gsz_memory_reader read, gsz_scene *out, gsz_ply_stats *stats) {
    void *data;
    size_t size;
    memset(out, 0, sizeof *out);
    gsz_error e = gsz_read_file(path, &data, &size);
    if (e) return e;
    e = read(data, size, path, out, stats);
    free(data);
    return e;
}

/* The temporaries being written, for gsz_outfile_remove_open: a few slots, as a tool writes one
 * output at a time. A slot holds its own copy of the name, taken once mkstemp has made the file and
 * given up once it is renamed or removed, so a handler never reads freed memory. */
enum { OPEN_SLOTS = 4, OPEN_NAME = 4096 };
static char open_name[OPEN_SLOTS][OPEN_NAME];
static int open_used[OPEN_SLOTS];

static int open_track(const char *tmp) {
    if (strlen(tmp) >= OPEN_NAME) return -1;
    for (int i = 0; i < OPEN_SLOTS; i++) {
        int free_slot = 0;
        if (__atomic_compare_exchange_n(&open_used[i], &free_slot, 2, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            strcpy(open_name[i], tmp); /* 2: taken, its name not yet complete */
            __atomic_store_n(&open_used[i], 1, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;
}

static void open_untrack(int slot) {
    if (slot >= 0) __atomic_store_n(&open_used[slot], 0, __ATOMIC_RELEASE);
}

void gsz_outfile_remove_open(void) {
    for (int i = 0; i < OPEN_SLOTS; i++)
        if (__atomic_load_n(&open_used[i], __ATOMIC_ACQUIRE) == 1) unlink(open_name[i]);
}

const char *gsz_input_name(const char *path) { return strcmp(path, "-") ? path : "standard input"; }

int gsz_path_is_stream(const char *path) {
    struct stat st;
    return !strcmp(path, "-") || (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode));
}

int gsz_path_is_stdout(const char *path) {
    struct stat a, b;
    return !strcmp(path, "-") || (stat(path, &a) == 0 && fstat(STDOUT_FILENO, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

/* Frees what open allocated and clears o (slot -1). */
static void outfile_clear(gsz_outfile *o) {
    if (o->target != o->path) free(o->target);
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
    o->slot = -1;
}

gsz_error gsz_outfile_open(gsz_outfile *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->slot = -1;
    const char *shown = strcmp(path, "-") ? path : "standard output"; /* the name in messages */
    size_t n = strlen(shown);
    if (!(o->path = malloc(n + 1))) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    memcpy(o->path, shown, n + 1);
    if (!strcmp(path, "-")) { o->f = stdout; return GSZ_OK; }
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) { outfile_clear(o); return gsz_fail(GSZ_ERROR_io, "%s: is a directory", path); }
    if (exists && !S_ISREG(st.st_mode)) { /* a pipe, a terminal, a device: written directly */
        if (!(o->f = fopen(path, "wb"))) {
            gsz_error e = gsz_fail(GSZ_ERROR_io, "%s: cannot open: %s", path, strerror(errno));
            outfile_clear(o);
            return e;
        }
    }
    if (o->f) return GSZ_OK;
    struct stat l;
    o->target = o->path;
    if (lstat(path, &l) == 0 && S_ISLNK(l.st_mode)) { /* the file it leads to is replaced, not the link */
        if (!(o->target = realpath(path, NULL))) {
            gsz_error e = gsz_fail(GSZ_ERROR_io, "%s: cannot follow the link: %s", path, strerror(errno));
            outfile_clear(o);
            return e;
        }
        n = strlen(o->target);
    }
    if (!(o->tmp = malloc(n + 16))) { outfile_clear(o); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    snprintf(o->tmp, n + 16, "%s.tmpXXXXXX", o->target);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        gsz_error e = gsz_fail(GSZ_ERROR_io, "%s: cannot create: %s", path, strerror(errno));
        outfile_clear(o);
        return e;
    }
    o->slot = open_track(o->tmp);
    mode_t mask = umask(0); /* mkstemp makes 0600 files; outputs get the usual permissions */
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    o->f = fdopen(fd, "wb");
    if (!o->f) { close(fd); gsz_outfile_abort(o); return gsz_fail(GSZ_ERROR_io, "%s: cannot open", path); }
    return GSZ_OK;
}

void gsz_outfile_abort(gsz_outfile *o) {
    if (o->f == stdout) fflush(stdout);
    else if (o->f) fclose(o->f);
    if (o->tmp) remove(o->tmp);
    open_untrack(o->slot);
    outfile_clear(o);
}

gsz_error gsz_outfile_write_error(const gsz_outfile *o) { return gsz_fail(GSZ_ERROR_io, "%s: write failed (disk full?)", o->path); }

gsz_error gsz_outfile_commit(gsz_outfile *o) {
    int bad = ferror(o->f) != 0;
    bad |= (o->f == stdout ? fflush(stdout) : fclose(o->f)) != 0;
    o->f = NULL;
    if (bad) {
        gsz_error e = gsz_outfile_write_error(o);
        gsz_outfile_abort(o);
        return e;
    }
    if (o->tmp && rename(o->tmp, o->target) != 0) {
        gsz_error e = gsz_fail(GSZ_ERROR_io, "%s: cannot rename temporary file: %s", o->path, strerror(errno));
        gsz_outfile_abort(o);
        return e;
    }
    open_untrack(o->slot);
    outfile_clear(o);
    return GSZ_OK;
}

int gsz_same_file(const char *a, const char *b) {
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

gsz_error gsz_write_file(const char *path, const void *data, size_t size) {
    gsz_outfile o;
    gsz_error e = gsz_outfile_open(&o, path);
    if (e) return e;
    if (size && fwrite(data, 1, size, o.f) != size) {
        e = gsz_outfile_write_error(&o);
        gsz_outfile_abort(&o);
        return e;
    }
    return gsz_outfile_commit(&o);
}

int gsz_thread_count(int requested) {
    if (requested > 0) return requested > GSZ_THREADS_MAX ? GSZ_THREADS_MAX : requested;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > GSZ_THREADS_MAX ? GSZ_THREADS_MAX : (int)n;
}

typedef struct {
    size_t n, chunk;
    size_t next; /* atomic */
    gsz_range_fn fn;
    void *ctx;
    int workers; /* how many take part (a pool's others sit it out) */
} pf_shared;

typedef struct {
    pf_shared *s;
    int worker;
} pf_arg;

static void pf_run(pf_shared *s, int worker) {
    for (;;) {
        size_t b = __atomic_fetch_add(&s->next, s->chunk, __ATOMIC_RELAXED);
        if (b >= s->n) break;
        size_t e = b + s->chunk < s->n ? b + s->chunk : s->n;
        s->fn(s->ctx, b, e, worker);
    }
}

static void *pf_main(void *p) {
    pf_arg *a = p;
    pf_run(a->s, a->worker);
    return NULL;
}

/* A pool: workers started once for a sequence of loops (a decode runs a dozen, and starting and joining
 * a thread costs 25-60 us here). Waits spin briefly, then yield (a waiter must not hold a CPU that the
 * thread it waits for needs: a new thread starts on its parent's), and an idle worker then sleeps. */
#define POOL_SPIN 512    /* pauses (~20 ns each here) before yielding */
#define POOL_YIELDS 500  /* then yields (~1 us each) before a worker sleeps */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
static inline void pool_backoff(unsigned k) {
    if (k < POOL_SPIN) cpu_relax();
    else sched_yield();
}

struct gsz_pool {
    int n;                /* workers, the calling thread included */
    unsigned gen;         /* loop count (atomic): a change is a new loop */
    int done;             /* workers finished with the current loop (atomic) */
    int stop, busy;
    int refs;             /* the owner and each worker (atomic): the last one out frees the pool */
    void *scratch;        /* gsz_pool_scratch's buffer, the owner's */
    size_t scratch_bytes;
    pf_shared *job;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pool_arg {
        gsz_pool *pool;
        int worker;
        pthread_t thread;
    } args[GSZ_THREADS_MAX];
};

static void pool_release(gsz_pool *P) {
    if (__atomic_sub_fetch(&P->refs, 1, __ATOMIC_ACQ_REL)) return;
    pthread_cond_destroy(&P->cv);
    pthread_mutex_destroy(&P->mu);
    free(P);
}
static _Thread_local gsz_pool *pool_current; /* the pool of the thread that began it */

static void *pool_main(void *p) {
    const struct pool_arg *a = p;
    gsz_pool *P = a->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g, k = 0;
        while ((g = __atomic_load_n(&P->gen, __ATOMIC_ACQUIRE)) == seen && !__atomic_load_n(&P->stop, __ATOMIC_ACQUIRE) &&
               k < POOL_SPIN + POOL_YIELDS)
            pool_backoff(k++);
        if (g == seen) {
            pthread_mutex_lock(&P->mu);
            while ((g = __atomic_load_n(&P->gen, __ATOMIC_ACQUIRE)) == seen && !P->stop) pthread_cond_wait(&P->cv, &P->mu);
            pthread_mutex_unlock(&P->mu);
        }
        if (g == seen) { /* stopped */
            pool_release(P);
            return NULL;
        }
        seen = g;
        pf_shared *s = P->job;
        if (a->worker < s->workers) pf_run(s, a->worker);
        __atomic_fetch_add(&P->done, 1, __ATOMIC_ACQ_REL);
    }
}

static void pool_drop_scratch(gsz_pool *P) {
    free(P->scratch);
    P->scratch = NULL;
    P->scratch_bytes = 0;
}

/* Stops the workers: joined (the library's unloading, below), or left to exit on their own. */
static void pool_stop(gsz_pool *P, int join) {
    pthread_t th[GSZ_THREADS_MAX];
    int n = P->n; /* P may be gone once the workers stop */
    for (int i = 1; i < n; i++) th[i] = P->args[i].thread;
    pool_drop_scratch(P);
    pthread_mutex_lock(&P->mu);
    __atomic_store_n(&P->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
    for (int i = 1; i < n; i++) join ? pthread_join(th[i], NULL) : pthread_detach(th[i]);
    pool_release(P);
}

/* One ended pool is kept, its workers asleep, for the next to begin: starting a worker costs 0.1-0.3 ms
 * here (its stack mapped afresh while the last one still exits), a few percent of a warm decode. A
 * forked child has none of its threads, so it forgets it. A pool that is not kept detaches its workers
 * rather than wait for them to exit (0.25 ms a thread); gsz_release_kept and unloading join them. */
static gsz_pool *pool_kept; /* atomic */
static void pool_forget(void) {
    pool_kept = NULL;
    pool_current = NULL;
}
static void pool_once(void) { pthread_atfork(NULL, NULL, pool_forget); }

/* Unloaded (dlclose, or the process's exit), the library first stops and joins the kept workers, which
 * would otherwise wake in code no longer mapped; before entropy.c's key goes (101), so that each frees
 * its zstd context as it exits. */
__attribute__((destructor(102))) static void pool_unload(void) { gsz_release_kept(); }

gsz_pool *gsz_pool_begin(int threads) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    threads = gsz_thread_count(threads);
    if (threads <= 1 || pool_current) return NULL;
    pthread_once(&once, pool_once);
    gsz_pool *P = __atomic_exchange_n(&pool_kept, NULL, __ATOMIC_ACQ_REL);
    if (P && P->n == threads) return pool_current = P;
    if (P) pool_stop(P, 0);
    if (!(P = calloc(1, sizeof *P))) return NULL;
    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->cv, NULL);
    P->n = 1;
    P->refs = threads; /* those that fail to start are given back below */
    for (int i = 1; i < threads; i++) {
        P->args[i].pool = P;
        P->args[i].worker = i;
        if (pthread_create(&P->args[i].thread, NULL, pool_main, &P->args[i]) != 0) {
            __atomic_sub_fetch(&P->refs, threads - i, __ATOMIC_ACQ_REL);
            break;
        }
        P->n = i + 1;
    }
    return pool_current = P;
}

void gsz_pool_end(gsz_pool *P, int keep_scratch) {
    if (!P) return;
    if (pool_current == P) pool_current = NULL;
    if (!keep_scratch) pool_drop_scratch(P);
    gsz_pool *none = NULL;
    if (!__atomic_compare_exchange_n(&pool_kept, &none, P, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) pool_stop(P, 0);
}

void *gsz_pool_scratch(gsz_pool *P, size_t bytes) {
    if (P->scratch && P->scratch_bytes >= bytes) return P->scratch;
    pool_drop_scratch(P);
    if ((P->scratch = gsz_malloc_pages(bytes, 1))) P->scratch_bytes = bytes;
    return P->scratch;
}

void gsz_release_kept(void) {
    gsz_pool *P = __atomic_exchange_n(&pool_kept, NULL, __ATOMIC_ACQ_REL);
    if (P) pool_stop(P, 1);
}

static void pool_run(gsz_pool *P, pf_shared *s) {
    P->busy = 1;
    P->job = s;
    __atomic_store_n(&P->done, 0, __ATOMIC_RELAXED);
    pthread_mutex_lock(&P->mu);
    __atomic_add_fetch(&P->gen, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
    pf_run(s, 0);
    for (unsigned k = 0; __atomic_load_n(&P->done, __ATOMIC_ACQUIRE) < P->n - 1; k++) pool_backoff(k);
    P->busy = 0;
}

void gsz_parallel_for(size_t n, size_t chunk, int threads, gsz_range_fn fn, void *ctx) {
    if (n == 0) return;
    if (chunk == 0) chunk = 1;
    threads = gsz_thread_count(threads);
    size_t chunks = (n + chunk - 1) / chunk;
    if ((size_t)threads > chunks) threads = (int)chunks;
    if (threads <= 1) {
        for (size_t b = 0; b < n; b += chunk) fn(ctx, b, b + chunk < n ? b + chunk : n, 0);
        return;
    }
    pf_shared s = {n, chunk, 0, fn, ctx, threads};
    gsz_pool *P = pool_current;
    if (P && !P->busy && P->n >= threads) {
        pool_run(P, &s);
        return;
    }
    pthread_t tid[GSZ_THREADS_MAX];
    pf_arg args[GSZ_THREADS_MAX];
    int started = 0;
    for (int i = 1; i < threads; i++) {
        args[i].s = &s;
        args[i].worker = i;
        if (pthread_create(&tid[i], NULL, pf_main, &args[i]) != 0) break;
        started = i;
    }
    pf_run(&s, 0);
    for (int i = 1; i <= started; i++) pthread_join(tid[i], NULL);
}

/* The process's peak resident memory: VmHWM of its own address space (getrusage's maxrss would also
 * count what a parent held when it forked this process before the exec, e.g. a Python bench harness). */
size_t gsz_peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kib) == 1) break;
    if (f) fclose(f);
    if (!kib) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) kib = (unsigned long long)ru.ru_maxrss;
    }
    return (size_t)kib * 1024;
}

double gsz_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double gsz_rng_normal(gsz_rng *r) {
    double u1 = gsz_rng_uniform(r), u2 = gsz_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void gsz_radix_sort32(uint32_t *keys, uint32_t *vals, size_t n, uint32_t *tk, uint32_t *tv) {
    uint32_t *k0 = keys, *v0 = vals, *k1 = tk, *v1 = tv;
    for (int pass = 0; pass < 4; pass++) {
        int sh = pass * 8;
        size_t cnt[256] = {0};
        for (size_t i = 0; i < n; i++) cnt[(k0[i] >> sh) & 0xFF]++;
        if (cnt[(k0[0] >> sh) & 0xFF] == n) continue; /* all equal in this digit */
        size_t sum = 0;
        for (int b = 0; b < 256; b++) { size_t c = cnt[b]; cnt[b] = sum; sum += c; }
        for (size_t i = 0; i < n; i++) {
            size_t d = cnt[(k0[i] >> sh) & 0xFF]++;
            k1[d] = k0[i];
            v1[d] = v0[i];
        }
        uint32_t *t = k0; k0 = k1; k1 = t;
        t = v0; v0 = v1; v1 = t;
    }
    if (k0 != keys) {
        memcpy(keys, k0, n * sizeof *keys);
        memcpy(vals, v0, n * sizeof *vals);
    }
}

int gsz_order_descending(const float *v, size_t n, uint32_t *order) {
    uint32_t *k = gsz_malloc_array(n ? n : 1, 3 * sizeof *k); /* keys, then the sort's temporaries */
    if (!k || n > UINT32_MAX) { free(k); return -1; }
    for (size_t i = 0; i < n; i++) {
        k[i] = ~gsz_float_sort_key(v[i] == 0 ? 0.0f : v[i]);
        order[i] = (uint32_t)i;
    }
    gsz_radix_sort32(k, order, n, k + n, k + 2 * n);
    free(k);
    return 0;
}

void gsz_radix_order64(uint32_t *lo, uint32_t *hi, size_t n, uint32_t *order, uint32_t *tk, uint32_t *tv) {
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    gsz_radix_sort32(lo, order, n, tk, tv);
    for (size_t j = 0; j < n; j++) tk[j] = hi[order[j]]; /* the high halves in the low halves' order */
    memcpy(hi, tk, n * sizeof *hi);
    gsz_radix_sort32(hi, order, n, tk, tv); /* stable: ties keep the low halves' order, then the index */
}

void gsz_quat_to_mat(const float q[4], float m[9]) {
    float w = q[0], x = q[1], y = q[2], z = q[3];
    float n = sqrtf(w * w + x * x + y * y + z * z);
    if (n > 0) { w /= n; x /= n; y /= n; z /= n; } else { w = 1; x = y = z = 0; }
    GSZ_QUAT_MAT(w, x, y, z, m);
}
