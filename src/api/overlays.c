/* The overlays of the worst images: the engine says what each shows (its
 * rows, issue pixels and regions), the renderer draws it, one image per
 * thread. */
#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "engine/cache.h"
#include "render/overlay.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* "<dir>/<id><suffix>", malloc'd, or NULL. */
static char *join(const char *dir, const char *id, const char *suffix)
{
    size_t len = strlen(dir) + strlen(id) + strlen(suffix) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s%s", dir, id, suffix);
    return p;
}

/* --cache: how the renderer draws (its version, the palette, the class
 * names, the width, the photo's identity), for the overlay's key.  1 when the photo cannot
 * be found (the renderer then says so). */
static int render_digest(const SaEngine *e, const uint8_t (*palette)[3],
                         const char *photo, uint8_t out[SA_CACHE_KEY])
{
    struct sha256_ctx c;
    sha256_init(&c);
    const char *v = "overlay 2 " SEGAUDIT_VERSION_STRING;
    sha256_update(&c, strlen(v), (const uint8_t *)v);
    sha256_update(&c, (size_t)e->K * 3, (const uint8_t *)palette);
    /* the legend's names */
    for (int k = 0; k < e->set.n_class_names && e->set.class_names; k++)
        sha256_update(&c, strlen(e->set.class_names[k]) + 1,
                      (const uint8_t *)e->set.class_names[k]);
    uint64_t w = e->set.overlay_width;
    sha256_update(&c, sizeof w, (const uint8_t *)&w);
    if (photo) {
        struct stat st;
        if (stat(photo, &st) != 0)
            return 1;
        uint64_t id[] = {(uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
                         (uint64_t)st.st_mtim.tv_nsec};
        sha256_update(&c, strlen(photo) + 1, (const uint8_t *)photo);
        sha256_update(&c, sizeof id, (const uint8_t *)id);
    }
    sha256_digest(&c, SA_CACHE_KEY, out);
    return 0;
}

/* Writes len bytes to path (a cached overlay). */
static int write_file(const char *path, const void *data, size_t len,
                      SaErr *err)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok) {
        int saved = errno;
        remove(path);
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot write: %s", path,
                      strerror(saved));
    }
    return 0;
}

/* Keeps the overlay just written at path for later runs (best effort). */
static void keep_overlay(SaEngine *e, uint64_t n, const uint8_t *key,
                         const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    void *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len)) &&
        fread(buf, 1, (size_t)len, f) == (size_t)len) {
        sa_cache_overlay_put(e, n, key, buf, (size_t)len); /* takes buf */
        buf = NULL;
    }
    free(buf);
    fclose(f);
}

/* One loaded image through the renderer into its PNG (any thread); with
 * --cache, an overlay drawn from the same inputs before is copied. */
static int draw(SaEngine *e, SaOverlayImage *m, uint64_t n,
                const SegauditRegion *reg, size_t nreg,
                const uint8_t (*palette)[3], SaErr *err)
{
    const char *id = e->ids[n];
    char *out = join(e->set.overlays_dir, id, ".png"), *photo = NULL;
    if (e->set.images_dir)
        photo = join(e->set.images_dir, id, e->set.image_suffix);
    int rc = 0;
    if (!out || (e->set.images_dir && !photo))
        rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    uint8_t extra[SA_CACHE_KEY], key[SA_CACHE_KEY];
    int cached = rc == 0 && e->cache &&
                 render_digest(e, palette, photo, extra) == 0 &&
                 sa_overlay_image_key(m, extra, key);
    void *png;
    size_t len;
    if (cached && sa_cache_overlay_get(e, n, key, &png, &len)) {
        rc = write_file(out, png, len, err);
        free(png);
        free(photo);
        free(out);
        return rc;
    }
    if (rc == 0) {
        SaOverlaySpec spec = {
            .W = (uint32_t)sa_img_w(e, n),
            .H = (uint32_t)sa_img_h(e, n),
            .K = e->K,
            .palette = palette,
            .ignored = e->ignored,
            .out_width = e->set.overlay_width,
            .photo_path = photo,
            .regions = reg,
            .n_regions = nreg,
            .decorate = 1,
            .class_names = e->set.class_names,
            .n_class_names = e->set.n_class_names,
        };
        rc = sa_overlay_write(&spec, sa_overlay_image_rows, m, out, err);
    }
    if (rc == 0 && cached)
        keep_overlay(e, n, key, out);
    free(photo);
    free(out);
    return rc;
}

/* A slot: an image loaded by one task and drawn by the next.  There is one
 * more slot than threads, so that the next image is loaded while the
 * others are drawn. */
typedef struct Slot {
    SaOverlayImage *m;
    const SegauditRegion *reg;
    size_t nreg;
} Slot;

/* The drawing of pick[0..top): the first image (index into pick) whose
 * load or drawing failed, and its error. */
typedef struct Draws {
    SaEngine *e;
    SaOverlaySource *src;
    const uint64_t *pick;
    const uint8_t (*palette)[3];
    uint64_t fail;
    int rc;
    SaErr err;
} Draws;

static void failed(Draws *d, uint64_t i, int rc, const SaErr *err)
{
#pragma omp critical(sa_overlay_fail)
    if (i < d->fail) {
#pragma omp atomic write
        d->fail = i;
        d->rc = rc;
        d->err = *err;
    }
}

/* Whether image i is left out: it is the image that failed, or comes
 * after it (the error reported is that of the first image that failed). */
static int left_out(Draws *d, uint64_t i)
{
    uint64_t f;
#pragma omp atomic read
    f = d->fail;
    return i >= f;
}

static void load_task(Draws *d, Slot *sl, uint64_t i)
{
    SaErr err;
    sa_err_clear(&err);
    if (left_out(d, i))
        return;
    if (sa_cancelled(d->e)) {
        sa_err(&err, SEGAUDIT_ECANCEL, "cancelled");
        failed(d, i, SEGAUDIT_ECANCEL, &err);
        return;
    }
    int rc = sa_overlay_source_load(d->src, sl->m, d->pick[i], &sl->reg,
                                    &sl->nreg, &err);
    if (rc)
        failed(d, i, rc, &err); /* (and no later image is loaded) */
}

static void draw_task(Draws *d, Slot *sl, uint64_t i)
{
    SaErr err;
    sa_err_clear(&err);
    if (!left_out(d, i)) {
        int rc = draw(d->e, sl->m, d->pick[i], sl->reg, sl->nreg, d->palette,
                      &err);
        if (rc)
            failed(d, i, rc, &err);
    }
    sa_overlay_image_end(sl->m);
}

/* Draws the images pick[0..top) (in tensor order) on T threads with T + 1
 * slots: the loads, one after the other in image order (the source reads
 * the records once), each into the slot that the image T + 1 places
 * before it has left; each drawing as soon as its image is loaded and a
 * thread is free.  The first error in image order is the one reported, as
 * when they are drawn one by one: an image is left out only when one
 * before it has failed. */
static int draw_all(SaEngine *e, SaOverlaySource *src, Slot *slot, int T,
                    const uint64_t *pick, uint64_t top,
                    const uint8_t (*palette)[3])
{
    Draws d = {e, src, pick, palette, UINT64_MAX, 0, {0}};
    sa_err_clear(&d.err);
    const uint64_t S = (uint64_t)T + 1;
#pragma omp parallel num_threads(T) if (T > 1)
#pragma omp single
    for (uint64_t i = 0; i < top; i++) {
        Slot *sl = &slot[i % S];
#pragma omp task firstprivate(sl, i) shared(d) depend(inout : d.src) \
    depend(inout : sl[0])
        load_task(&d, sl, i);
#pragma omp task firstprivate(sl, i) shared(d) depend(inout : sl[0])
        draw_task(&d, sl, i);
    }
    if (d.fail != UINT64_MAX)
        return sa_err(e->err, d.rc, "%s", d.err.msg);
    return 0;
}

int sa_api_overlays(SaEngine *e, const uint64_t *order)
{
    uint64_t ranked = e->N - e->skipped_total; /* skipped images come last */
    uint64_t top = e->set.overlay_top < ranked ? e->set.overlay_top : ranked;
    if (!e->set.overlays_dir || top == 0)
        return 0;
    if (mkdir(e->set.overlays_dir, 0777) != 0 && errno != EEXIST)
        return sa_err(e->err, SEGAUDIT_EIO, "%s: cannot create: %s",
                      e->set.overlays_dir, strerror(errno));
    int T = e->n_threads;
    if ((uint64_t)T > top)
        T = (int)top;
    T = sa_overlay_threads(e, T);
    uint64_t *pick = malloc(top * sizeof *pick);
    Slot *slot = calloc((size_t)T + 1, sizeof *slot);
    uint8_t (*gen)[3] = NULL;
    const uint8_t (*palette)[3] = e->set.palette;
    if (!palette) {
        gen = malloc((size_t)e->K * sizeof *gen);
        if (gen)
            segaudit_generate_palette(gen, (int)e->K);
        palette = (const uint8_t(*)[3])gen;
    }
    SaOverlaySource *src = NULL;
    int rc = 0;
    if (!pick || !slot || !palette)
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    for (int j = 0; j < T + 1 && rc == 0; j++)
        rc = sa_overlay_image_new(e, &slot[j].m);
    if (rc == 0)
        rc = sa_overlay_source_open(e, &src);
    if (rc == 0) {
        /* in tensor order: the source reads the records once; in a
         * group, each member draws its own images */
        uint64_t mine = 0;
        for (uint64_t i = 0; i < top; i++)
            if (order[i] >= e->own_lo && order[i] < e->own_hi)
                pick[mine++] = order[i];
        qsort(pick, mine, sizeof *pick, cmp_u64);
        rc = draw_all(e, src, slot, T, pick, mine, palette);
    }
    sa_overlay_source_close(src);
    for (int j = 0; slot && j < T + 1; j++)
        sa_overlay_image_free(slot[j].m);
    free(slot);
    free(gen);
    free(pick);
    return rc;
}
