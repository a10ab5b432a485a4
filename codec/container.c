/* The .gsz container (docs/FORMAT.md): a 64-byte header, a table of 40-byte section entries, then the
 * section payloads back to back. Little-endian; XXH64 over the header+table and over each payload. */
#include "codec.h"

#include <string.h>
#include <xxhash.h>

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static void putf(uint8_t *p, float f) { uint32_t u; memcpy(&u, &f, 4); gsz_put_le32(p, u); }
static float getf(const uint8_t *p) { uint32_t u = gsz_le32(p); float f; memcpy(&f, &u, 4); return f; }

const char *gsz_section_name(uint32_t t) {
    static const char *names[] = {"?", "position", "opacity", "scale.codebook", "scale.index", "rotation.codebook",
                                  "rotation.index", "color.codebook", "color.index", "sh.degree", "sh1.codebook",
                                  "sh2.codebook", "sh3.codebook", "sh1.index", "sh2.index", "sh3.index", "exact.ids",
                                  "exact.attributes", "lattice.ranges", "lattice.position", "lattice.scale",
                                  "lattice.color", "lattice.rotation", "position.warp", "lattice.color.diff"};
    return t < GSZ_SEC_TYPE_COUNT ? names[t] : "unknown";
}

const gsz_section *gsz_container_find(const gsz_container *c, uint32_t type) {
    for (size_t i = 0; i < c->n; i++)
        if (c->s[i].type == type) return &c->s[i];
    return NULL;
}

gsz_error gsz_container_write(const gsz_container *c, uint8_t **out, size_t *out_size) {
    if (c->n > GSZ_MAX_SECTIONS) return gsz_fail(GSZ_ERROR_argument, "too many sections");
    size_t size = GSZ_HEADER_SIZE + GSZ_SECTION_ENTRY_SIZE * c->n;
    for (size_t i = 0; i < c->n; i++) size += (size_t)c->s[i].stored_size;
    uint8_t *p = calloc(1, size);
    if (!p) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    memcpy(p, GSZ_MAGIC, 8);
    put16(p + 8, GSZ_FORMAT_VERSION);
    put16(p + 10, GSZ_HEADER_SIZE);
    gsz_put_le32(p + 12, c->h.flags);
    put64(p + 16, c->h.count);
    p[24] = c->h.sh_degree;
    p[25] = c->h.pos_bits;
    put16(p + 26, (uint32_t)c->n);
    for (int k = 0; k < 3; k++) { putf(p + 28 + 4 * k, c->h.bmin[k]); putf(p + 40 + 4 * k, c->h.bmax[k]); }
    p[52] = c->h.opacity_bits;
    uint8_t *e = p + GSZ_HEADER_SIZE, *pay = e + GSZ_SECTION_ENTRY_SIZE * c->n;
    for (size_t i = 0; i < c->n; i++, e += GSZ_SECTION_ENTRY_SIZE) {
        const gsz_section *s = &c->s[i];
        gsz_put_le32(e, s->type);
        gsz_put_le32(e + 4, s->flags);
        e[8] = s->transform;
        e[9] = s->width;
        put64(e + 16, s->elements);
        put64(e + 24, s->stored_size);
        put64(e + 32, XXH64(s->payload, (size_t)s->stored_size, 0));
        memcpy(pay, s->payload, (size_t)s->stored_size);
        pay += s->stored_size;
    }
    /* header checksum covers the header (minus itself) and the section table */
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    XXH64_update(st, p, 56);
    XXH64_update(st, p + GSZ_HEADER_SIZE, GSZ_SECTION_ENTRY_SIZE * c->n);
    put64(p + 56, XXH64_digest(st));
    XXH64_freeState(st);
    *out = p;
    *out_size = size;
    return GSZ_OK;
}

gsz_error gsz_section_verify(const gsz_section *s) {
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (XXH64(s->payload, (size_t)s->stored_size, 0) != s->checksum)
        return gsz_fail(GSZ_ERROR_checksum, "checksum mismatch (file damaged)");
#else
    (void)s;
#endif
    return GSZ_OK;
}

static gsz_error container_read(const void *data, size_t size, gsz_container *c, int verify) {
    const uint8_t *p = data;
    memset(c, 0, sizeof *c);
    if (size < GSZ_HEADER_SIZE) return gsz_fail(GSZ_ERROR_corrupt, "file too short for a .gsz header (%zu bytes)", size);
    if (memcmp(p, GSZ_MAGIC, 8) != 0) return gsz_fail(GSZ_ERROR_corrupt, "not a .gsz file (bad magic)");
    uint32_t version = get16(p + 8);
    if (version != GSZ_FORMAT_VERSION) return gsz_fail(GSZ_ERROR_unsupported, ".gsz format version %u (this build reads %d)", version, GSZ_FORMAT_VERSION);
    if (get16(p + 10) != GSZ_HEADER_SIZE) return gsz_fail(GSZ_ERROR_corrupt, "bad header size");
    c->h.flags = gsz_le32(p + 12);
    c->h.count = gsz_le64(p + 16);
    c->h.sh_degree = p[24];
    c->h.pos_bits = p[25];
    size_t n = get16(p + 26);
    for (int k = 0; k < 3; k++) { c->h.bmin[k] = getf(p + 28 + 4 * k); c->h.bmax[k] = getf(p + 40 + 4 * k); }
    c->h.opacity_bits = p[52];
    if (n > GSZ_MAX_SECTIONS) return gsz_fail(GSZ_ERROR_corrupt, "%zu sections (at most %d)", n, GSZ_MAX_SECTIONS);
    if (size < GSZ_HEADER_SIZE + GSZ_SECTION_ENTRY_SIZE * n) return gsz_fail(GSZ_ERROR_corrupt, "truncated section table");
    XXH64_state_t *st = XXH64_createState();
    if (!st) return gsz_fail(GSZ_ERROR_memory, "out of memory");
    XXH64_reset(st, 0);
    XXH64_update(st, p, 56);
    XXH64_update(st, p + GSZ_HEADER_SIZE, GSZ_SECTION_ENTRY_SIZE * n);
    uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (h != gsz_le64(p + 56)) return gsz_fail(GSZ_ERROR_checksum, "header checksum mismatch (file damaged)");
#else
    (void)h;
#endif
    if (c->h.sh_degree > 3) return gsz_fail(GSZ_ERROR_corrupt, "SH degree %u", c->h.sh_degree);
    if (c->h.pos_bits < 1 || c->h.pos_bits > 21) return gsz_fail(GSZ_ERROR_corrupt, "position bits %u", c->h.pos_bits);
    if (c->h.opacity_bits < 1 || c->h.opacity_bits > 8) return gsz_fail(GSZ_ERROR_corrupt, "opacity bits %u", c->h.opacity_bits);
    if (p[53] || p[54] || p[55]) return gsz_fail(GSZ_ERROR_corrupt, "reserved header bytes are not zero");
    if (c->h.count > ((uint64_t)1 << 32)) return gsz_fail(GSZ_ERROR_corrupt, "Gaussian count %llu too large", (unsigned long long)c->h.count);
    for (int k = 0; k < 3; k++)
        if (!isfinite(c->h.bmin[k]) || !isfinite(c->h.bmax[k]) || c->h.bmax[k] < c->h.bmin[k])
            return gsz_fail(GSZ_ERROR_corrupt, "invalid bounds");
    const uint8_t *e = p + GSZ_HEADER_SIZE, *pay = e + GSZ_SECTION_ENTRY_SIZE * n;
    uint64_t left = size - (size_t)(pay - p);
    for (size_t i = 0; i < n; i++, e += GSZ_SECTION_ENTRY_SIZE) {
        gsz_section *s = &c->s[c->n];
        s->type = gsz_le32(e);
        s->flags = gsz_le32(e + 4);
        s->transform = e[8];
        s->width = e[9];
        s->elements = gsz_le64(e + 16);
        s->stored_size = gsz_le64(e + 24);
        if (s->stored_size > left) return gsz_fail(GSZ_ERROR_corrupt, "section %zu (%s) runs past the end of the file", i, gsz_section_name(s->type));
        s->payload = pay;
        s->checksum = gsz_le64(e + 32);
        if (verify && gsz_section_verify(s))
            return gsz_fail(GSZ_ERROR_checksum, "section %zu (%s) checksum mismatch (file damaged)", i, gsz_section_name(s->type));
        pay += s->stored_size;
        left -= s->stored_size;
        if (s->type == 0 || s->type >= GSZ_SEC_TYPE_COUNT) {
            if (s->flags & GSZ_SECF_REQUIRED) return gsz_fail(GSZ_ERROR_unsupported, "required section of unknown type %u", s->type);
            continue; /* unknown optional section: skipped */
        }
        if (gsz_container_find(c, s->type)) return gsz_fail(GSZ_ERROR_corrupt, "duplicate section %s", gsz_section_name(s->type));
        if (s->width != 1 && s->width != 2 && s->width != 4 && s->width != 8) return gsz_fail(GSZ_ERROR_corrupt, "section %s: element width %u", gsz_section_name(s->type), s->width);
        if (s->transform >= GSZ_TX_COUNT) return gsz_fail(GSZ_ERROR_corrupt, "section %s: transform %u", gsz_section_name(s->type), s->transform);
        c->n++;
    }
    if (left != 0) return gsz_fail(GSZ_ERROR_corrupt, "%llu trailing bytes after the last section", (unsigned long long)left);
    return GSZ_OK;
}

gsz_error gsz_container_read(const void *data, size_t size, gsz_container *c) { return container_read(data, size, c, 1); }
gsz_error gsz_container_open(const void *data, size_t size, gsz_container *c) { return container_read(data, size, c, 0); }
