/* Argmax maps kept from pass 1 for the overlays.
 *
 * An overlay shows the image's argmax, which pass 1 computes anyway; the
 * overlays, drawn after pass 2, would otherwise read their images' tensor
 * rows a second time.  When the images are ranked by a score known after
 * pass 1 (every score but num_pixel_issues), pass 1 keeps the maps of the
 * overlay_top images that rank first among those scored so far, in the
 * ranking's order (rank.c: scored images, then those without a valid
 * pixel, then skipped ones; a lower score first; then the lower index).
 * Skips made later can change the final top; an overlay whose map was not
 * kept reads its rows as before, so the maps only spare reads and never
 * change what is drawn.  When twice the memory fits, the image's label map
 * is kept after its argmax map (the values pass 1 read, label map
 * applied), so that the overlay reads no label file either.
 *
 * With at most 256 classes a map holds a byte a value: half the memory,
 * and half the fresh pages the workers fault in as they write it (each
 * costs microseconds).  A label map of bytes is used only when every
 * label of its image is below 256 (an image with, say, 65535 as its void
 * value has its label file read again for its overlay).
 *
 * The producer gives each computed image a map at its first band (the
 * workers write its rows); the aggregator, on the same thread, keeps or
 * frees it when the image is whole.  The map of an image skipped part way
 * is freed once no band of it can still be scored (sa_keep_release). */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

/* Bytes a value of a map. */
static size_t value_size(const SaEngine *e)
{
    return e->K <= 256 ? 1 : 2;
}

/* Whether image a ranks before image b, as rank.c orders them. */
static int ranks_before(const SaEngine *e, uint64_t a, uint64_t b)
{
    const SaImage *ia = &e->images[a], *ib = &e->images[b];
    int ta = e->skipped[a] ? 2 : ia->valid_pixels > 0 ? 0 : 1;
    int tb = e->skipped[b] ? 2 : ib->valid_pixels > 0 ? 0 : 1;
    if (ta != tb)
        return ta < tb;
    double sa = ia->score[e->set.rank_by], sb = ib->score[e->set.rank_by];
    if (ta == 0 && sa != sb)
        return sa < sb;
    return a < b;
}

int sa_keep_init(SaEngine *e)
{
    sa_keep_free(e);
    const uint64_t own = e->own_hi - e->own_lo;
    uint64_t top = e->set.overlay_top < own ? e->set.overlay_top : own;
    if (!e->set.overlays_dir || top == 0 || e->f != 1 ||
        e->set.rank_by == SEGAUDIT_SCORE_NUM_PIXEL_ISSUES)
        return 0;
    /* the maps kept, those of the images being scored, and one given up */
    uint64_t map = (e->max_pixels ? e->max_pixels : 1) * value_size(e);
    if (top + SA_KEEP_FLIGHT + 1 > e->set.memory_limit / 8 / map)
        return 0;
    e->kept_labels =
        top + SA_KEEP_FLIGHT + 1 <= e->set.memory_limit / 8 / (2 * map);
    e->kept = calloc(e->N, sizeof *e->kept);
    e->kept_list = malloc((top + 1) * sizeof *e->kept_list);
    if (e->kept_labels)
        e->kept_wide = calloc(e->N, 1);
    if (!e->kept || !e->kept_list || (e->kept_labels && !e->kept_wide)) {
        sa_keep_free(e);
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    }
    e->kept_cap = top;
    return 0;
}

void *sa_keep_start(SaEngine *e, uint64_t n, SaErr *err, int *rc)
{
    *rc = 0;
    if (!e->kept)
        return NULL;
    if (e->n_flight == SA_KEEP_FLIGHT)
        return NULL; /* (many small images in flight: not this one) */
    void *m = malloc((size_t)sa_img_h(e, n) * sa_img_w(e, n) *
                     (e->kept_labels ? 2 : 1) * value_size(e));
    if (!m) {
        *rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        return NULL;
    }
    e->kept[n] = m;
    e->flight[e->n_flight++] = n;
    return m;
}

int sa_keep_put(const SaEngine *e, void *map, size_t off, const uint16_t *v,
                size_t n)
{
    if (value_size(e) == 2) {
        memcpy((uint16_t *)map + off, v, n * sizeof *v);
        return 0;
    }
    uint8_t *d = (uint8_t *)map + off;
    uint16_t high = 0;
    for (size_t i = 0; i < n; i++) {
        high |= v[i];
        d[i] = (uint8_t)v[i];
    }
    return high > 255;
}

void sa_keep_get(const SaEngine *e, const void *map, size_t off,
                 uint16_t *dst, size_t n)
{
    if (value_size(e) == 2) {
        memcpy(dst, (const uint16_t *)map + off, n * sizeof *dst);
        return;
    }
    const uint8_t *s = (const uint8_t *)map + off;
    for (size_t i = 0; i < n; i++)
        dst[i] = s[i];
}

/* Drops image n from the images in flight. */
static void unfly(SaEngine *e, uint64_t n)
{
    for (int i = 0; i < e->n_flight; i++)
        if (e->flight[i] == n) {
            e->flight[i] = e->flight[--e->n_flight];
            return;
        }
}

void sa_keep_done(SaEngine *e, uint64_t n)
{
    if (!e->kept || !e->kept[n])
        return;
    unfly(e, n);
    e->kept_list[e->n_kept++] = n;
    if (e->n_kept <= e->kept_cap)
        return;
    /* one too many: the one that ranks last goes */
    uint64_t w = 0;
    for (uint64_t i = 1; i < e->n_kept; i++)
        if (ranks_before(e, e->kept_list[w], e->kept_list[i]))
            w = i;
    uint64_t drop = e->kept_list[w];
    e->kept_list[w] = e->kept_list[--e->n_kept];
    free(e->kept[drop]);
    e->kept[drop] = NULL;
}

void sa_keep_release(SaEngine *e, uint64_t below)
{
    for (int i = 0; e->kept && i < e->n_flight;) {
        uint64_t n = e->flight[i];
        if (n < below && e->skipped[n]) {
            free(e->kept[n]);
            e->kept[n] = NULL;
            e->flight[i] = e->flight[--e->n_flight];
        } else {
            i++;
        }
    }
}

const void *sa_keep_map(const SaEngine *e, uint64_t n)
{
    if (!e->kept || !e->kept[n] || e->skipped[n])
        return NULL;
    for (int i = 0; i < e->n_flight; i++)
        if (e->flight[i] == n)
            return NULL; /* not whole */
    return e->kept[n];
}

const void *sa_keep_labels(const SaEngine *e, uint64_t n)
{
    const unsigned char *m = e->kept_labels ? sa_keep_map(e, n) : NULL;
    if (!m || e->kept_wide[n])
        return NULL;
    return m + (size_t)sa_img_h(e, n) * sa_img_w(e, n) * value_size(e);
}

void sa_keep_free(SaEngine *e)
{
    for (uint64_t n = 0; e->kept && n < e->N; n++)
        free(e->kept[n]);
    free(e->kept);
    free(e->kept_list);
    free(e->kept_wide);
    e->kept = NULL;
    e->kept_list = NULL;
    e->kept_wide = NULL;
    e->n_kept = e->kept_cap = 0;
    e->n_flight = 0;
    e->kept_labels = 0;
}
