/* The overlays of the worst images: the engine says what each shows (its
 * rows, issue pixels and regions), the renderer draws it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
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

/* One image: the source's rows through the renderer into its PNG. */
static int one(SaEngine *e, SaOverlaySource *src, uint64_t n,
               const uint8_t (*palette)[3])
{
    const SegauditRegion *reg = NULL;
    size_t nreg = 0;
    int rc = sa_overlay_source_image(src, n, &reg, &nreg);
    if (rc)
        return rc;
    const char *id = e->ids[n];
    char *out = join(e->set.overlays_dir, id, ".png"), *photo = NULL;
    if (e->set.images_dir)
        photo = join(e->set.images_dir, id, e->set.image_suffix);
    if (!out || (e->set.images_dir && !photo))
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    if (rc == 0) {
        SaOverlaySpec spec = {
            .W = (uint32_t)e->W,
            .H = (uint32_t)e->H,
            .K = e->K,
            .palette = palette,
            .ignored = e->ignored,
            .out_width = e->set.overlay_width,
            .photo_path = photo,
            .regions = reg,
            .n_regions = nreg,
        };
        rc = sa_overlay_write(&spec, sa_overlay_source_rows, src, out,
                              e->err);
    }
    sa_overlay_source_end_image(src);
    free(photo);
    free(out);
    return rc;
}

int sa_api_overlays(SaEngine *e, const uint64_t *order)
{
    uint64_t ranked = e->N - e->n_skipped; /* skipped images come last */
    uint64_t top = e->set.overlay_top < ranked ? e->set.overlay_top : ranked;
    if (!e->set.overlays_dir || top == 0)
        return 0;
    if (mkdir(e->set.overlays_dir, 0777) != 0 && errno != EEXIST)
        return sa_err(e->err, SEGAUDIT_EIO, "%s: cannot create: %s",
                      e->set.overlays_dir, strerror(errno));
    uint64_t *pick = malloc(top * sizeof *pick);
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
    if (!pick || !palette)
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    if (rc == 0)
        rc = sa_overlay_source_open(e, &src);
    if (rc == 0) {
        /* in tensor order: the source reads the records once */
        memcpy(pick, order, top * sizeof *pick);
        qsort(pick, top, sizeof *pick, cmp_u64);
    }
    for (uint64_t i = 0; i < top && rc == 0; i++) {
        if (sa_cancelled(e))
            rc = sa_err(e->err, SEGAUDIT_ECANCEL, "cancelled");
        else
            rc = one(e, src, pick[i], palette);
    }
    sa_overlay_source_close(src);
    free(gen);
    free(pick);
    return rc;
}
