/* --cache for the overlays: each drawn image's argmax map (so that an
 * overlay drawn again reads no tensor rows) and the overlay PNG itself,
 * named by what it shows and how it is drawn. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engine/cache_internal.h"

/* Argmax entry: "SAA1", H, W (u32), then the H*W uint16 values deflated
 * (zlib). */
int sa_cache_argmax_get(SaEngine *e, uint64_t n, uint16_t *argmax)
{
    SaCache *ca = e->cache;
    if (!ca || !ca->named[n])
        return 0;
    uint8_t slot[SA_CACHE_KEY];
    sa_cache_slot(e, n, SA_KIND_ARGMAX, slot);
    void *data = NULL;
    size_t cap = 0, len;
    SaErr err;
    sa_err_clear(&err);
    const uint64_t H = sa_img_h(e, n), W = sa_img_w(e, n);
    int found = sa_cachedb_get(ca->db, SA_KIND_ARGMAX, slot, ca->key[n],
                               12 + compressBound((uLong)(H * W * 2)), &data,
                               &cap, &len, NULL, NULL, &err);
    int ok = 0;
    if (found == SA_CACHE_HIT && len > 12) {
        uint32_t h, w;
        memcpy(&h, (char *)data + 4, 4);
        memcpy(&w, (char *)data + 8, 4);
        uLongf out = (uLongf)(H * W * sizeof *argmax);
        ok = memcmp(data, "SAA1", 4) == 0 && h == H && w == W &&
             uncompress((Bytef *)argmax, &out, (const Bytef *)data + 12,
                        (uLong)(len - 12)) == Z_OK &&
             out == H * W * sizeof *argmax;
        for (uint64_t i = 0; ok && i < H * W; i++)
            ok = argmax[i] < e->K;
    }
    free(data);
    return ok;
}

void sa_cache_argmax_put(SaEngine *e, uint64_t n, const uint16_t *argmax)
{
    SaCache *ca = e->cache;
    if (!ca || !ca->named[n])
        return;
    const uint64_t H = sa_img_h(e, n), W = sa_img_w(e, n);
    uLong raw = (uLong)(H * W * sizeof *argmax);
    uLongf clen = compressBound(raw);
    unsigned char *buf = malloc(12 + clen);
    if (!buf)
        return;
    uint32_t h = (uint32_t)H, w = (uint32_t)W;
    memcpy(buf, "SAA1", 4);
    memcpy(buf + 4, &h, 4);
    memcpy(buf + 8, &w, 4);
    if (compress2(buf + 12, &clen, (const Bytef *)argmax, raw, 1) != Z_OK) {
        free(buf);
        return;
    }
    uint8_t slot[SA_CACHE_KEY];
    sa_cache_slot(e, n, SA_KIND_ARGMAX, slot);
    sa_cache_enqueue(ca, SA_KIND_ARGMAX, slot, ca->key[n], buf, 12 + clen,
                     12 + clen);
}

int sa_cache_overlay_key(SaEngine *e, uint64_t n, const uint8_t *bitmap,
                         const SegauditRegion *reg, size_t nreg,
                         const uint8_t *extra, uint8_t key[SA_CACHE_KEY])
{
    SaCache *ca = e->cache;
    if (!ca || !ca->named[n])
        return 0;
    struct sha256_ctx c;
    sha256_init(&c);
    sa_sha_str(&c, "overlay");
    sha256_update(&c, SA_CACHE_KEY, ca->key[n]);
    sha256_update(&c, SA_CACHE_KEY, extra);
    sha256_update(&c, sa_img_h(e, n) * sa_img_w(e, n), bitmap);
    for (size_t i = 0; i < nreg; i++) {
        const SegauditRegion *r = &reg[i];
        uint64_t v[] = {r->region, r->area, r->x, r->y, r->width,
                        r->height, r->given, r->predicted};
        sha256_update(&c, sizeof v, (const uint8_t *)v);
        sa_sha_f64(&c, r->mean_self_confidence);
        sa_sha_f64(&c, r->mean_predicted_prob);
    }
    sha256_digest(&c, SA_CACHE_KEY, key);
    return 1;
}

int sa_cache_overlay_get(SaEngine *e, uint64_t n, const uint8_t *key,
                         void **png, size_t *len)
{
    *png = NULL;
    uint8_t slot[SA_CACHE_KEY];
    sa_cache_slot(e, n, SA_KIND_OVERLAY, slot);
    size_t cap = 0;
    SaErr err;
    sa_err_clear(&err);
    int found = sa_cachedb_get(e->cache->db, SA_KIND_OVERLAY, slot, key,
                               (size_t)INT_MAX, png, &cap, len, NULL, NULL,
                               &err);
    if (found == SA_CACHE_HIT && *len > 8 &&
        memcmp(*png, "\x89PNG\r\n\x1a\n", 8) == 0)
        return 1;
    free(*png);
    *png = NULL;
    return 0;
}

void sa_cache_overlay_put(SaEngine *e, uint64_t n, const uint8_t *key,
                          void *png, size_t len)
{
    uint8_t slot[SA_CACHE_KEY];
    sa_cache_slot(e, n, SA_KIND_OVERLAY, slot);
    sa_cache_enqueue(e->cache, SA_KIND_OVERLAY, slot, key, png, len, len);
}
