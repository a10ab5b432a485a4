/* Entropy coding of the streams: a reversible transform that exposes redundancy to the entropy coder
 * (byte planes; deltas along the Morton order; LEB128 varints of zigzag deltas), then zstd.
 * The encoder ranks the transforms with a fast zstd level and compresses the winner at the target level. */
#include "codec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_stableInBuffer */
#include <zstd.h>
#include <zstd_errors.h>

static uint64_t load_le(const uint8_t *p, int w) {
    uint64_t v = 0;
    for (int i = 0; i < w; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void store_le(uint8_t *p, uint64_t v, int w) {
    for (int i = 0; i < w; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t width_mask(int w) { return w == 8 ? ~0ull : ((1ull << (8 * w)) - 1); }

/* Forward transform into a malloc'd buffer. */
static uint8_t *transform(const uint8_t *in, size_t n, int w, int tx, size_t *out_len) {
    size_t raw = n * (size_t)w;
    uint8_t *o = malloc(tx == GSZ_TX_DELTA_VARINT ? n * 10 + 1 : raw + 1);
    if (!o) return NULL;
    uint64_t mask = width_mask(w), prev = 0;
    if (tx == GSZ_TX_RAW) { memcpy(o, in, raw); *out_len = raw; return o; }
    if (tx == GSZ_TX_DELTA_VARINT) {
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t v = load_le(in + i * (size_t)w, w), d = (v - prev) & mask;
            prev = v;
            /* sign-extend the width-wrapped delta, then zigzag */
            uint64_t sd = w < 8 && (d >> (8 * w - 1)) ? d | ~mask : d; /* two's complement, unsigned throughout */
            uint64_t z = (sd << 1) ^ (0 - (sd >> 63));
            do { uint8_t b = z & 0x7F; z >>= 7; o[len++] = (uint8_t)(b | (z ? 0x80 : 0)); } while (z);
        }
        *out_len = len;
        return o;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t v = load_le(in + i * (size_t)w, w);
        if (tx == GSZ_TX_DELTA_PLANES) { uint64_t d = (v - prev) & mask; prev = v; v = d; }
        for (int b = 0; b < w; b++) o[(size_t)b * n + i] = (uint8_t)(v >> (8 * b));
    }
    *out_len = raw;
    return o;
}

/* One zstd frame of len bytes (its content size in the header, as the decoder requires) in which a
 * block starts at each of the ncut ascending offsets cut[]: zstd gives a block one Huffman table for its
 * literals, and a block that straddles two byte planes codes both with a table fitted to neither
 * (playbot's 2-byte index streams: 0.1-0.4 bits per index; the planes of codebooks with an entry per
 * Gaussian: high and max files with SH 1.0-1.5% smaller; docs/BENCHMARKS.md). Returns the size or a
 * zstd error. */
static size_t compress_frame(ZSTD_CCtx *cc, uint8_t *dst, size_t cap, const uint8_t *src, size_t len, const size_t *cut, size_t ncut) {
    size_t r = ZSTD_CCtx_setPledgedSrcSize(cc, len);
    if (ZSTD_isError(r)) return r;
    ZSTD_outBuffer out = {dst, cap, 0};
    size_t at = 0, c = 0;
    do {
        while (c < ncut && cut[c] <= at) c++;
        size_t end = c < ncut && cut[c] < len ? cut[c] : len;
        ZSTD_inBuffer in = {src, end, at}; /* one growing view of src, as a stable input buffer requires */
        ZSTD_EndDirective mode = end == len ? ZSTD_e_end : ZSTD_e_flush;
        do {
            r = ZSTD_compressStream2(cc, &out, &in, mode);
            if (ZSTD_isError(r)) return r;
            if (out.pos == out.size && r) return (size_t)-ZSTD_error_dstSize_tooSmall;
        } while (r || in.pos < in.size);
        at = end;
    } while (at < len);
    return out.pos;
}

double gsz_hist_bits(const uint32_t h[256]) {
    double tot = 0, bits = 0;
    for (int i = 0; i < 256; i++) tot += h[i];
    for (int i = 0; i < 256; i++)
        if (h[i]) bits += h[i] * log2(tot / h[i]);
    return bits;
}

/* zstd codes such byte planes near their order-0 entropy, but in near ties it went either way (biker
 * small's scale codebook: -1.5% by the estimate, +55 bytes), hence the margin. The estimate rather than
 * zstd decides, so that no second copy is made (playbot-trained max: +4.2 MiB at the peak). */
int gsz_diff_pays(double plain_bits, double diff_bits) { return diff_bits < 0.98 * plain_bits; }

/* Of the candidate block starts cand[] in s (len bytes), those where a Huffman table of its own pays:
 * each plane joins the block before it unless one table for both costs more (order-0 estimate) than
 * a table (TABLE_BITS: zstd's description of a byte alphabet's code lengths is 40-130 bytes; 64 to
 * 256 bytes here give files within 0.05%). */
#define TABLE_BITS (8 * 128)
static size_t choose_cuts(const uint8_t *s, size_t len, const size_t *cand, size_t nc, size_t *out) {
    uint32_t cur[256] = {0}, pl[256], both[256];
    size_t no = 0;
    for (size_t j = 0; j < (nc ? cand[0] : len); j++) cur[s[j]]++;
    for (size_t i = 0; i < nc; i++) {
        memset(pl, 0, sizeof pl);
        for (size_t j = cand[i]; j < (i + 1 < nc ? cand[i + 1] : len); j++) pl[s[j]]++;
        for (int b = 0; b < 256; b++) both[b] = cur[b] + pl[b];
        if (gsz_hist_bits(both) > gsz_hist_bits(cur) + gsz_hist_bits(pl) + TABLE_BITS) { out[no++] = cand[i]; memcpy(cur, pl, sizeof cur); }
        else memcpy(cur, both, sizeof cur);
    }
    return no;
}

static int is_planes(int tx) { return tx == GSZ_TX_PLANES || tx == GSZ_TX_DELTA_PLANES; }

/* The block starts of transform tx's output s (len bytes): of a codebook's planes (1-byte elements:
 * every transform keeps their offsets) those where a table of its own pays, or where tx splits n
 * elements of w bytes into byte planes. out: room for ncut or 7 entries. */
static size_t block_cuts(const uint8_t *s, size_t len, int tx, size_t n, int w, const size_t *cut, size_t ncut, size_t *out) {
    if (w == 1) return choose_cuts(s, len, cut, ncut, out);
    if (!is_planes(tx)) return 0;
    for (int b = 1; b < w; b++) out[b - 1] = (size_t)b * n;
    return (size_t)w - 1;
}

gsz_error gsz_entropy_encode(const void *data, size_t n, int w, int level, int threads, const size_t *cut, size_t ncut,
                             uint8_t **out, size_t *out_size, int *tx_out) {
    static const int order[] = {GSZ_TX_RAW, GSZ_TX_PLANES, GSZ_TX_DELTA_PLANES, GSZ_TX_DELTA_VARINT};
    if (w != 1) ncut = 0;
    size_t *cuts = malloc((ncut + 8) * sizeof *cuts), nc;
    ZSTD_CCtx *cc = cuts ? ZSTD_createCCtx() : NULL;
    if (!cc) { free(cuts); return gsz_fail(GSZ_ERROR_memory, "zstd: cannot create context"); }
    int best_tx = GSZ_TX_RAW;
    size_t best = SIZE_MAX;
    size_t cap = ZSTD_compressBound(n * 10 + 1);
    uint8_t *buf = malloc(cap);
    if (!buf) { free(cuts); ZSTD_freeCCtx(cc); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
    int ntx = w == 1 ? 2 : 4;
    for (int t = 0; t < ntx; t++) {
        int tx = w == 1 && t == 1 ? GSZ_TX_DELTA_PLANES : order[t];
        size_t len;
        uint8_t *tr = transform(data, n, w, tx, &len);
        if (!tr) { free(cuts); free(buf); ZSTD_freeCCtx(cc); return gsz_fail(GSZ_ERROR_memory, "out of memory"); }
        ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, GSZ_MIN(level, 3));
        nc = block_cuts(tr, len, tx, n, w, cut, ncut, cuts);
        size_t r = compress_frame(cc, buf, cap, tr, len, cuts, nc);
        if (!ZSTD_isError(r) && r < best) { best = r; best_tx = tx; }
        free(tr);
    }
    if (!out) { /* ranking only */
        free(cuts); free(buf); ZSTD_freeCCtx(cc);
        if (best == SIZE_MAX) return gsz_fail(GSZ_ERROR_memory, "zstd compression failed");
        *out_size = best;
        *tx_out = best_tx;
        return GSZ_OK;
    }
    /* the winner transformed again rather than kept from its trial: one stream-sized buffer less while
     * the others are tried (guitar max: +0.7 MB at the peak if kept), for a pass over the stream */
    size_t len;
    uint8_t *tr = transform(data, n, w, best_tx, &len);
    size_t r = 0;
    if (tr) {
        ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
        /* the high levels' match tables grow with the stream and are sized for more than it holds
         * (level 19: 36 MB for a 1 MB stream, ~80 MB at 5 MB; two contexts at once). Over 4 MB a 4 MB
         * window (files within 0.1%, 1.2x faster); below, chain and hash tables of 1/4 and 1/16 the
         * stream's power of two (biker max's peak 53 -> 23 MB, files within 0.1%; docs/BENCHMARKS.md) */
        const int wl = 22;
        if (level >= 17 && len > ((size_t)1 << wl)) {
            ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, wl);
            ZSTD_CCtx_setParameter(cc, ZSTD_c_chainLog, wl);
            ZSTD_CCtx_setParameter(cc, ZSTD_c_hashLog, wl - 1);
        } else if (level >= 17) {
            int sl = 10;
            while (((size_t)1 << sl) < len) sl++;
            ZSTD_CCtx_setParameter(cc, ZSTD_c_chainLog, GSZ_MAX(sl - 2, 10));
            ZSTD_CCtx_setParameter(cc, ZSTD_c_hashLog, GSZ_MAX(sl - 4, 10));
        }
        /* large streams (the per-Gaussian SH of big scenes) in zstd's multithreaded mode, whose output
         * is the same for any number of workers >= 1 (unlike its single-threaded mode) */
        if (len >= GSZ_ZSTD_MT_MIN) ZSTD_CCtx_setParameter(cc, ZSTD_c_nbWorkers, GSZ_MAX(1, threads));
        /* otherwise zstd reads the transformed stream where it lies instead of copying it into a window
         * buffer of its own (same frame; guitar max's peak 15.6 -> 14.9 MB) */
        else ZSTD_CCtx_setParameter(cc, ZSTD_c_stableInBuffer, 1);
        /* the planes of 1- and 2-byte streams (indices, opacities) are close to memoryless: matches
         * under 6 bytes, which the optimal parser takes there, cost more than the literals they replace
         * (playbot-trained -0.8%, playbot -0.4%; docs/BENCHMARKS.md) */
        if (w <= 2 && is_planes(best_tx)) ZSTD_CCtx_setParameter(cc, ZSTD_c_minMatch, 6);
        nc = block_cuts(tr, len, best_tx, n, w, cut, ncut, cuts);
        r = compress_frame(cc, buf, cap, tr, len, cuts, nc);
    }
    free(tr);
    free(cuts);
    ZSTD_freeCCtx(cc);
    if (!tr || ZSTD_isError(r)) { free(buf); return gsz_fail(GSZ_ERROR_memory, "zstd compression failed"); }
    uint8_t *shrunk = realloc(buf, r ? r : 1);
    *out = shrunk ? shrunk : buf;
    *out_size = r;
    *tx_out = best_tx;
    return GSZ_OK;
}

int gsz_entropy_in_place(int tx, int w) { return tx == GSZ_TX_RAW || (tx == GSZ_TX_PLANES && w == 1); }

gsz_error gsz_entropy_decode(const uint8_t *in, size_t in_size, int tx, size_t n, int w, void *out) {
    return gsz_entropy_decode_with(in, in_size, tx, n, w, out, NULL, 0);
}

/* ZSTD_decompress makes and frees a context per call (96 KB: malloc'd afresh it is page faults at each
 * decode, and freed the allocator trims it back to the kernel): each thread keeps one instead, freed
 * when the thread exits. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_key_ok;
static void dctx_destroy(void *d) { ZSTD_freeDCtx(d); }
static void dctx_key_make(void) { dctx_key_ok = pthread_key_create(&dctx_key, dctx_destroy) == 0; }
static ZSTD_DCtx *thread_dctx(void) {
    pthread_once(&dctx_once, dctx_key_make);
    if (!dctx_key_ok) return NULL;
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (!d && (d = ZSTD_createDCtx()) && pthread_setspecific(dctx_key, d)) {
        ZSTD_freeDCtx(d);
        d = NULL;
    }
    return d;
}

/* Unloaded (dlclose), the library deletes the key, after the kept workers are joined (common.c): a
 * thread that exits later must not call a destructor no longer mapped (its context, 96 KB, is then
 * never freed). */
__attribute__((destructor(101))) static void dctx_key_drop(void) {
    if (dctx_key_ok) pthread_key_delete(dctx_key);
}

static size_t unzstd(void *dst, size_t cap, const void *src, size_t len) {
    ZSTD_DCtx *d = thread_dctx();
    return d ? ZSTD_decompressDCtx(d, dst, cap, src, len) : ZSTD_decompress(dst, cap, src, len);
}

static inline uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (0 - (z & 1)); }

/* n zigzag varints, each the difference to the element before, into elements of width w (a constant
 * where it is called, so the stores unroll). Runs of eight one-byte varints (small differences: an SH
 * degree's index stream, often 0, 1, 2, ...) go without a branch per byte. Returns the bytes read, or
 * SIZE_MAX where the stream ends inside a varint or one is longer than ten bytes. */
static inline __attribute__((always_inline)) size_t varint_deltas(const uint8_t *in, size_t cs, size_t n, int w, uint8_t *out) {
    uint64_t mask = width_mask(w), prev = 0, word;
    size_t p = 0, i = 0;
    while (i < n) {
        if (i + 8 <= n && p + 8 <= cs && (memcpy(&word, in + p, 8), !(word & 0x8080808080808080ull))) {
            for (int k = 0; k < 8; k++, word >>= 8) {
                uint64_t z = word & 0x7F;
                prev = (prev + unzigzag(z)) & mask;
                store_le(out + (i + (size_t)k) * (size_t)w, prev, w);
            }
            i += 8;
            p += 8;
            continue;
        }
        uint64_t z = 0;
        for (int sh = 0;; sh += 7) {
            if (p >= cs || sh > 63) return SIZE_MAX;
            uint8_t b = in[p++];
            z |= (uint64_t)(b & 0x7F) << sh;
            if (!(b & 0x80)) break;
        }
        prev = (prev + unzigzag(z)) & mask;
        store_le(out + i * (size_t)w, prev, w);
        i++;
    }
    return p;
}

gsz_error gsz_entropy_decode_with(const uint8_t *in, size_t in_size, int tx, size_t n, int w, void *out_, uint8_t *scratch,
                                  size_t scratch_size) {
    uint8_t *out = out_;
    if (w != 1 && w != 2 && w != 4 && w != 8) return gsz_fail(GSZ_ERROR_corrupt, "bad element width %d", w);
    if (tx < 0 || tx >= GSZ_TX_COUNT) return gsz_fail(GSZ_ERROR_corrupt, "unknown stream transform %d", tx);
    if (n > ((size_t)1 << 40) / (size_t)w) return gsz_fail(GSZ_ERROR_corrupt, "stream too large");
    unsigned long long cs = ZSTD_getFrameContentSize(in, in_size);
    if (cs == ZSTD_CONTENTSIZE_ERROR || cs == ZSTD_CONTENTSIZE_UNKNOWN) return gsz_fail(GSZ_ERROR_corrupt, "stream is not a sized zstd frame");
    size_t raw = n * (size_t)w;
    if (tx == GSZ_TX_DELTA_VARINT ? (cs < n || cs > n * 10) : cs != raw)
        return gsz_fail(GSZ_ERROR_corrupt, "stream size %llu does not match %zu elements", cs, n);
    if (gsz_entropy_in_place(tx, w)) { /* byte planes of bytes: the elements themselves */
        size_t r = unzstd(out, raw, in, in_size);
        if (ZSTD_isError(r) || r != raw) return gsz_fail(GSZ_ERROR_corrupt, "zstd: %s", ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short frame");
        return GSZ_OK;
    }
    uint8_t *own = scratch && cs <= scratch_size ? NULL : gsz_malloc_array(cs ? (size_t)cs : 1, 1), *tmp = own ? own : scratch;
    if (!tmp) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    size_t r = unzstd(tmp, (size_t)cs, in, in_size);
    if (ZSTD_isError(r) || r != cs) { free(own); return gsz_fail(GSZ_ERROR_corrupt, "zstd: %s", ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short frame"); }
    if (tx == GSZ_TX_DELTA_VARINT) {
        size_t p = w == 1 ? varint_deltas(tmp, (size_t)cs, n, 1, out) : w == 2 ? varint_deltas(tmp, (size_t)cs, n, 2, out)
                 : w == 4 ? varint_deltas(tmp, (size_t)cs, n, 4, out) : varint_deltas(tmp, (size_t)cs, n, 8, out);
        if (p == SIZE_MAX) { free(own); return gsz_fail(GSZ_ERROR_corrupt, "varint stream truncated"); }
        if (p != cs) { free(own); return gsz_fail(GSZ_ERROR_corrupt, "varint stream has trailing bytes"); }
    } else {
        /* byte planes back to elements, one loop per width (the hot path of decoding) */
        int delta = tx == GSZ_TX_DELTA_PLANES;
        const uint8_t *p0 = tmp, *p1 = tmp + n, *p2 = tmp + 2 * n, *p3 = tmp + 3 * n;
        if (w == 1) {
            uint8_t a = 0;
            for (size_t i = 0; i < n; i++) { a = (uint8_t)(a + p0[i]); out[i] = a; }
        } else if (w == 2) {
            uint16_t a = 0;
            for (size_t i = 0; i < n; i++) {
                uint16_t v = (uint16_t)(p0[i] | (unsigned)p1[i] << 8);
                a = delta ? (uint16_t)(a + v) : v;
                store_le(out + 2 * i, a, 2);
            }
        } else if (w == 4) {
            uint32_t a = 0;
            for (size_t i = 0; i < n; i++) {
                uint32_t v = p0[i] | (uint32_t)p1[i] << 8 | (uint32_t)p2[i] << 16 | (uint32_t)p3[i] << 24;
                a = delta ? a + v : v;
                store_le(out + 4 * i, a, 4);
            }
        } else {
            const uint8_t *p4 = tmp + 4 * n, *p5 = tmp + 5 * n, *p6 = tmp + 6 * n, *p7 = tmp + 7 * n;
            uint64_t a = 0;
            for (size_t i = 0; i < n; i++) {
                uint64_t v = p0[i] | (uint64_t)p1[i] << 8 | (uint64_t)p2[i] << 16 | (uint64_t)p3[i] << 24 | (uint64_t)p4[i] << 32 |
                             (uint64_t)p5[i] << 40 | (uint64_t)p6[i] << 48 | (uint64_t)p7[i] << 56;
                a = delta ? a + v : v;
                store_le(out + 8 * i, a, 8);
            }
        }
    }
    free(own);
    return GSZ_OK;
}

/* The smaller of a transform-coded SH codebook's encodings 1 and 3 (see gsz_codebook_sh_split) under
 * zstd as the transforms are ranked (level 3): playbot-trained high 4.4%, playbot-small high 2.8%
 * smaller files (83% and 68% of the values zero); the k-means codebooks of balanced keep encoding 1.
 * Returns the split copy (the caller's to free), its planes in cut and *ncut, or NULL to keep raw. */
static uint8_t *sh_pick(const uint8_t *raw, size_t n, size_t *cut, size_t *ncut, size_t *alt_n) {
    uint8_t *alt = gsz_codebook_sh_split(raw, alt_n);
    size_t acut[GSZ_CODEBOOK_CUTS], na = alt ? gsz_codebook_cuts(alt, *alt_n, acut, GSZ_CODEBOOK_CUTS) : 0, sa = 0, sb = 0;
    int tx;
    if (alt && (gsz_entropy_encode(raw, n, 1, 3, 1, cut, *ncut, NULL, &sa, &tx) || gsz_entropy_encode(alt, *alt_n, 1, 3, 1, acut, na, NULL, &sb, &tx) || sb >= sa)) {
        free(alt);
        return NULL;
    }
    if (alt) {
        memcpy(cut, acut, na * sizeof *acut);
        *ncut = na;
    }
    return alt;
}

gsz_error gsz_section_encode(gsz_section *sec, const void *raw, size_t n, int width, int level, int threads, uint8_t **stored) {
    size_t size = 0, cut[GSZ_CODEBOOK_CUTS], ncut = 0, alt_n = 0;
    int tx = 0, slot = gsz_codebook_slot(sec->type);
    uint8_t *alt = NULL;
    if (width == 1 && slot >= 0) {
        ncut = gsz_codebook_cuts(raw, n, cut, GSZ_CODEBOOK_CUTS);
        if (slot >= 3 && n >= 8 && ((const uint8_t *)raw)[7] == 1 && (alt = sh_pick(raw, n, cut, &ncut, &alt_n))) {
            raw = alt;
            n = alt_n;
        }
    }
    gsz_error e = gsz_entropy_encode(raw, n, width, level, threads, cut, ncut, stored, &size, &tx);
    free(alt);
    if (e) return e;
    sec->transform = (uint8_t)tx;
    sec->width = (uint8_t)width;
    sec->elements = n;
    sec->payload = *stored;
    sec->stored_size = size;
    return GSZ_OK;
}

typedef struct {
    gsz_encode_job *jobs;
    int level, threads;
} jobs_ctx;

static void encode_range(void *p, size_t b, size_t e, int w) {
    (void)w;
    jobs_ctx *c = p;
    for (size_t i = b; i < e; i++) {
        gsz_encode_job *j = &c->jobs[i];
        j->err = gsz_section_encode(j->sec, j->raw, j->n, j->width, c->level, c->threads, &j->stored);
    }
}

#define ENCODE_WORKER_BYTES ((size_t)3 << 20)
gsz_error gsz_encode_jobs(gsz_encode_job *jobs, size_t count, int level, int threads) {
    jobs_ctx c = {jobs, level, threads};
    size_t raw = 0;
    for (size_t i = 0; i < count; i++) { jobs[i].stored = NULL; jobs[i].err = GSZ_OK; raw += jobs[i].n * (size_t)jobs[i].width; }
    /* a worker per ENCODE_WORKER_BYTES of streams: below that another worker's zstd context and buffers
     * cost more memory than the time it saves (5-9 MB scenes' max: -0.5 to -2.9 MB for +0.03-0.08 s);
     * 3 MB, not 4: playbot balanced's 6.6 MB of streams then take two, 0.66 -> 0.35 s, same peak */
    int workers = (int)GSZ_MIN((size_t)gsz_thread_count(threads), GSZ_MAX((size_t)1, raw / ENCODE_WORKER_BYTES));
    gsz_parallel_for(count, 1, workers, encode_range, &c);
    for (size_t i = 0; i < count; i++)
        if (jobs[i].err) return jobs[i].err;
    return GSZ_OK;
}
