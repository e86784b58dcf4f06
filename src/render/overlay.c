/* Review overlays (see overlay.h): labels | argmax | issues over a dimmed
 * view, composed block row by block row from the rows callback and the
 * photo (overlay_photo.c), and written to a PNG (io/png_write.c): a
 * decorated one as a palette when its colours allow, else RGB. */
#include "render/overlay.h"
#include "io/png_write.h"
#include "render/overlay_photo.h"
#include "render/text.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_VALUES 65536u

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* ---- Geometry ---------------------------------------------------------- */

int sa_overlay_geometry(uint32_t W, uint32_t H, uint32_t out_width,
                        SaOverlayGeometry *g)
{
    memset(g, 0, sizeof *g);
    if (W == 0 || H == 0 || out_width == 0)
        return SEGAUDIT_EINVAL;
    uint32_t s = W / out_width + (W % out_width != 0);
    uint32_t pw = W / s + (W % s != 0);
    uint32_t ph = H / s + (H % s != 0);
    uint64_t width = 3 * (uint64_t)pw + 2 * SA_OVERLAY_GAP;
    if (width > PNG_UINT_31_MAX || ph > PNG_UINT_31_MAX)
        return SEGAUDIT_EINVAL;
    g->scale = s;
    g->panel_width = pw;
    g->panel_height = ph;
    g->width = (uint32_t)width;
    g->height = ph;
    return 0;
}

/* ---- Composition ------------------------------------------------------- */

/* A region's outline in panel coordinates: the rectangle left..right ×
 * top..bottom (inclusive) minus the same shrunk by t. */
typedef struct Frame {
    uint32_t left, right, top, bottom, t;
} Frame;

/* Panel pixels are composed as colour codes, so that a class colour is
 * looked up once per overlay, not once per pixel: 0..K-1 a class, K void,
 * then the same K + 1 dimmed (panel 3's background), then the gap, the
 * box and the issue colours, and the dimmed photo block below the pixel
 * (its colour is computed from the block's sums). */
typedef struct Codes {
    uint32_t dim, gap, box, issue, photo, n;
} Codes;

/* A palette being built: colours in order of first use. */
typedef struct Palette {
    uint32_t keys[256]; /* r | g << 8 | b << 16 */
    uint8_t (*rgb)[3];
    int n;
} Palette;

/* The index of colour px (key c) in p, added when new; -1 when p is full. */
static int pal_index(Palette *p, uint32_t c, const uint8_t *px)
{
    int j = 0;
    while (j < p->n && p->keys[j] != c)
        j++;
    if (j == p->n) {
        if (p->n == 256)
            return -1;
        p->keys[j] = c;
        memcpy(p->rgb[j], px, 3);
        p->n++;
    }
    return j;
}

/* Working memory of one overlay. */
typedef struct Work {
    uint16_t *labels, *argmax; /* s rows × W */
    uint8_t *issues;           /* s rows × W */
    uint32_t *counts;          /* N_VALUES, all 0 between blocks */
    unsigned char *photo_row;  /* W × 3 */
    uint64_t *sums;            /* panel_width × 3 */
    Codes code;
    uint8_t (*rgb)[3];         /* code.n colours, by code */
    uint32_t *vcode;           /* N_VALUES: a value's class code (K: void) */
    uint8_t *vidx, *didx;      /* with lut: N_VALUES, a value's palette
                                  index, and that of its dimmed colour */
    uint32_t *row;             /* width codes: the output row */
    uint8_t *out;              /* width × 3 */
    struct Frame *frames;      /* region frames, by top row */
    size_t n_frames;
    size_t next_frame;         /* first frame not yet active */
    size_t *active;            /* frames that reach the current row */
    size_t n_active;
    uint8_t *seen_v;           /* decorated: N_VALUES flags, the values
                                  panels 1 and 2 show */
    uint8_t *seen;             /* then K + 1 flags, their classes (K:
                                  void) */
    /* decorated: every panel row, kept until the legend is known */
    uint8_t *lut;              /* no photo, at most 256 codes: each code's
                                  index in pal, made before the rows */
    Palette pal;               /* (its colours in pal_rgb) */
    uint8_t pal_rgb[256][3];
    uint8_t *panel_idx;        /* with lut: palette indices */
    uint16_t *panel_codes;     /* else without a photo, when the codes fit
                                  in 16 bits: codes */
    uint8_t *panels;           /* else: RGB */
} Work;

static void work_free(Work *wk)
{
    free(wk->labels);
    free(wk->argmax);
    free(wk->issues);
    free(wk->counts);
    free(wk->photo_row);
    free(wk->sums);
    free(wk->rgb);
    free(wk->vcode);
    free(wk->vidx);
    free(wk->didx);
    free(wk->row);
    free(wk->out);
    free(wk->frames);
    free(wk->active);
    free(wk->seen_v);
    free(wk->seen);
    free(wk->lut);
    free(wk->panel_idx);
    free(wk->panel_codes);
    free(wk->panels);
}

/* Most frequent value of the block rows [0, nr) × columns [x0, x1) of v
 * (row stride W), the lowest on ties.  counts is all zero before and
 * after. */
static uint16_t block_mode(const uint16_t *v, uint32_t W, uint32_t nr,
                           uint32_t x0, uint32_t x1, uint32_t *counts)
{
    uint16_t best = v[x0];
    uint32_t bestc = 0;
    for (uint32_t r = 0; r < nr; r++) {
        const uint16_t *row = v + (size_t)r * W;
        for (uint32_t x = x0; x < x1; x++) {
            uint32_t c = ++counts[row[x]];
            if (c > bestc || (c == bestc && row[x] < best)) {
                bestc = c;
                best = row[x];
            }
        }
    }
    for (uint32_t r = 0; r < nr; r++) {
        const uint16_t *row = v + (size_t)r * W;
        for (uint32_t x = x0; x < x1; x++)
            counts[row[x]] = 0;
    }
    return best;
}

static int block_any(const uint8_t *v, uint32_t W, uint32_t nr, uint32_t x0,
                     uint32_t x1)
{
    for (uint32_t r = 0; r < nr; r++) {
        const uint8_t *row = v + (size_t)r * W;
        for (uint32_t x = x0; x < x1; x++)
            if (row[x])
                return 1;
    }
    return 0;
}

static void put3(uint8_t *px, uint8_t r, uint8_t g, uint8_t b)
{
    px[0] = r;
    px[1] = g;
    px[2] = b;
}

static int is_void(const SaOverlaySpec *spec, uint16_t v)
{
    return v >= spec->K || (spec->ignored && spec->ignored[v]);
}

/* Sets *f to the frame of region rg; returns 0 (no frame) when the region
 * is empty or lies outside the image. */
static int region_frame(const SegauditRegion *rg, const SaOverlaySpec *spec,
                        const SaOverlayGeometry *g, Frame *f)
{
    if (rg->width == 0 || rg->height == 0 || rg->x >= spec->W ||
        rg->y >= spec->H)
        return 0;
    const uint32_t s = g->scale;
    uint32_t x1 = rg->x + min_u32(rg->width, spec->W - rg->x) - 1;
    uint32_t y1 = rg->y + min_u32(rg->height, spec->H - rg->y) - 1;
    uint32_t bx0 = rg->x / s, bx1 = x1 / s, by0 = rg->y / s, by1 = y1 / s;
    f->t = sa_overlay_box_px(g->panel_width);
    f->left = bx0 >= f->t ? bx0 - f->t : 0;
    f->top = by0 >= f->t ? by0 - f->t : 0;
    f->right = min_u32(bx1 + f->t, g->panel_width - 1);
    f->bottom = min_u32(by1 + f->t, g->panel_height - 1);
    return 1;
}

static int frame_by_top(const void *a, const void *b)
{
    const Frame *fa = a, *fb = b;
    return (fa->top > fb->top) - (fa->top < fb->top);
}

/* Computes the frames of the regions, sorted by top row. */
static void frames_init(Work *wk, const SaOverlaySpec *spec,
                        const SaOverlayGeometry *g)
{
    wk->n_frames = 0;
    for (size_t i = 0; i < spec->n_regions; i++)
        wk->n_frames += region_frame(&spec->regions[i], spec, g,
                                     &wk->frames[wk->n_frames]);
    if (wk->n_frames)
        qsort(wk->frames, wk->n_frames, sizeof *wk->frames, frame_by_top);
    wk->next_frame = 0;
    wk->n_active = 0;
}

/* Draws the part of every region frame on panel row y into p3: codes,
 * or with ix3 palette indices.  Rows are visited in order, so only the
 * frames that span row y are looked at. */
static void draw_frames(Work *wk, uint32_t y, uint32_t *p3, uint8_t *ix3)
{
    size_t n = 0;
    for (size_t i = 0; i < wk->n_active; i++) /* drop finished frames */
        if (wk->frames[wk->active[i]].bottom >= y)
            wk->active[n++] = wk->active[i];
    wk->n_active = n;
    while (wk->next_frame < wk->n_frames &&
           wk->frames[wk->next_frame].top <= y)
        wk->active[wk->n_active++] = wk->next_frame++;

    for (size_t i = 0; i < wk->n_active; i++) {
        const Frame f = wk->frames[wk->active[i]];
        const int edge = y < f.top + f.t || y + f.t > f.bottom;
        for (uint32_t x = f.left; x <= f.right; x++) {
            if (!edge && x >= f.left + f.t && x + f.t <= f.right) {
                x = f.right - f.t; /* skip the interior */
                continue;
            }
            if (ix3)
                ix3[x] = wk->lut[wk->code.box];
            else
                p3[x] = wk->code.box;
        }
    }
}

/* Builds output row by (block row) from wk's nr full-resolution rows:
 * its codes into wk->row, or, with ix, its palette indices into ix. */
static void compose_row(const SaOverlaySpec *spec, const SaOverlayGeometry *g,
                        uint32_t by, uint32_t nr, Work *wk, uint8_t *ix)
{
    const uint32_t s = g->scale, pw = g->panel_width, W = spec->W;
    const uint32_t o2 = pw + SA_OVERLAY_GAP, o3 = 2 * o2;
    uint32_t *p1 = wk->row;
    for (uint32_t i = 0; i < SA_OVERLAY_GAP; i++) {
        if (ix)
            ix[pw + i] = ix[o2 + pw + i] = wk->lut[wk->code.gap];
        else
            p1[pw + i] = p1[o2 + pw + i] = wk->code.gap;
    }
    /* locals, as the byte stores may alias wk */
    const uint16_t *labels = wk->labels, *argmax = wk->argmax;
    const uint32_t *vcode = wk->vcode;
    const uint8_t *vidx = wk->vidx, *didx = wk->didx;
    uint8_t *seen = wk->seen_v;
    const uint32_t dim = wk->code.dim, photo = wk->code.photo;
    const int have_photo = wk->sums != NULL;
    if (s == 1 && ix && seen) { /* the usual case, in a loop of its own */
        for (uint32_t bx = 0; bx < pw; bx++) {
            const uint16_t l = labels[bx], a = argmax[bx];
            seen[l] = seen[a] = 1;
            ix[bx] = vidx[l];
            ix[o2 + bx] = vidx[a];
            ix[o3 + bx] = didx[l];
        }
    } else {
        for (uint32_t bx = 0; bx < pw; bx++) {
            const uint32_t x0 = bx * s, x1 = min_u32(W, x0 + s);
            /* a block of one pixel (scale 1) is its own mode */
            uint16_t l = s == 1 ? labels[bx]
                                : block_mode(labels, W, nr, x0, x1,
                                             wk->counts);
            uint16_t a = s == 1 ? argmax[bx]
                                : block_mode(argmax, W, nr, x0, x1,
                                             wk->counts);
            if (seen)
                seen[l] = seen[a] = 1;
            if (ix) {
                ix[bx] = vidx[l];
                ix[o2 + bx] = vidx[a];
                ix[o3 + bx] = didx[l];
            } else {
                p1[bx] = vcode[l];
                p1[o2 + bx] = vcode[a];
                p1[o3 + bx] = have_photo ? photo : dim + vcode[l];
            }
        }
    }
    draw_frames(wk, by, p1 + o3, ix ? ix + o3 : NULL);
    const uint8_t *issues = wk->issues;
    if (s == 1 && ix) { /* (selects the compiler vectorises) */
        const uint8_t issue = wk->lut[wk->code.issue];
        for (uint32_t bx = 0; bx < pw; bx++)
            ix[o3 + bx] = issues[bx] ? issue : ix[o3 + bx];
    } else if (s == 1) {
        const uint32_t issue = wk->code.issue;
        for (uint32_t bx = 0; bx < pw; bx++)
            p1[o3 + bx] = issues[bx] ? issue : p1[o3 + bx];
    } else {
        for (uint32_t bx = 0; bx < pw; bx++) {
            if (!block_any(issues, W, nr, bx * s, min_u32(W, bx * s + s)))
                continue;
            if (ix)
                ix[o3 + bx] = wk->lut[wk->code.issue];
            else
                p1[o3 + bx] = wk->code.issue;
        }
    }
}

/* The colours of the first n codes of an output row into out (RGB); a
 * photo code takes the dimmed average of its block of the photo (nr rows
 * of an image W wide, summed in wk->sums). */
static void expand_codes(const Work *wk, const SaOverlayGeometry *g,
                         uint32_t W, uint32_t nr, const uint32_t *codes,
                         size_t n, uint8_t *out)
{
    const uint32_t s = g->scale, p3 = 2 * (g->panel_width + SA_OVERLAY_GAP);
    for (size_t x = 0; x < n; x++, out += 3) {
        if (codes[x] != wk->code.photo) {
            memcpy(out, wk->rgb[codes[x]], 3);
            continue;
        }
        const uint32_t bx = (uint32_t)x - p3, x0 = bx * s;
        const uint64_t m = (uint64_t)(min_u32(W, x0 + s) - x0) * nr;
        for (size_t c = 0; c < 3; c++)
            out[c] = sa_overlay_dim(
                (uint8_t)((wk->sums[3 * (size_t)bx + c] + m / 2) / m));
    }
}

/* Reads nr photo rows and sums them per block column into wk->sums. */
static int photo_block(SaPhoto *ph, const SaOverlayGeometry *g, uint32_t W,
                       uint32_t nr, Work *wk, SaErr *err)
{
    memset(wk->sums, 0, (size_t)g->panel_width * 3 * sizeof *wk->sums);
    for (uint32_t r = 0; r < nr; r++) {
        int rc = sa_photo_read_row(ph, wk->photo_row, err);
        if (rc)
            return rc;
        for (uint32_t x = 0; x < W; x++) {
            uint64_t *sum = wk->sums + 3 * (size_t)(x / g->scale);
            const unsigned char *px = wk->photo_row + 3 * (size_t)x;
            sum[0] += px[0];
            sum[1] += px[1];
            sum[2] += px[2];
        }
    }
    return 0;
}

static int check_spec(const SaOverlaySpec *spec, SaOverlayRows rows,
                      const char *out_path, SaOverlayGeometry *g, SaErr *err)
{
    const char *path = out_path ? out_path : "(overlay)";
    if (!spec || !rows || !out_path)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: no overlay spec, row source "
                      "or output path", path);
    if (spec->K == 0 || spec->K > N_VALUES || !spec->palette)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: overlay needs 1..65536 "
                      "classes and their palette (K=%u)", path, spec->K);
    if (spec->n_regions && !spec->regions)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: %zu regions but no region "
                      "list", path, spec->n_regions);
    if (sa_overlay_geometry(spec->W, spec->H, spec->out_width, g))
        return sa_err(err, SEGAUDIT_EINVAL, "%s: invalid overlay size (image "
                      "%ux%u, panel width %u)", path, spec->W, spec->H,
                      spec->out_width);
    return 0;
}

static int work_alloc(Work *wk, const SaOverlaySpec *spec,
                      const SaOverlayGeometry *g, const char *out_path,
                      SaErr *err)
{
    const size_t W = spec->W, s = g->scale;
    memset(wk, 0, sizeof *wk);
    if (s > SIZE_MAX / 8 / W)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: overlay block rows too "
                      "large (W=%u, scale %u)", out_path, spec->W, g->scale);
    wk->labels = malloc(W * s * sizeof *wk->labels);
    wk->argmax = malloc(W * s * sizeof *wk->argmax);
    wk->issues = malloc(W * s);
    wk->counts = calloc(N_VALUES, sizeof *wk->counts);
    wk->out = malloc((size_t)g->width * 3);
    wk->row = malloc((size_t)g->width * sizeof *wk->row);
    const uint32_t K = spec->K;
    wk->code = (Codes){.dim = K + 1, .gap = 2 * K + 2, .box = 2 * K + 3,
                       .issue = 2 * K + 4, .photo = 2 * K + 5,
                       .n = 2 * K + 6};
    wk->rgb = malloc((size_t)wk->code.n * sizeof *wk->rgb);
    wk->vcode = malloc(N_VALUES * sizeof *wk->vcode);
    int ok = wk->labels && wk->argmax && wk->issues && wk->counts &&
             wk->out && wk->row && wk->rgb && wk->vcode;
    if (ok) {
        for (uint32_t v = 0; v < N_VALUES; v++) /* (v >= K: void) */
            wk->vcode[v] = v < K && !is_void(spec, (uint16_t)v) ? v : K;
        for (uint32_t c = 0; c <= K; c++) {
            const uint8_t *px = wk->rgb[c];
            if (c < K)
                memcpy(wk->rgb[c], spec->palette[c], 3);
            else
                put3(wk->rgb[c], SA_OVERLAY_VOID_RGB);
            put3(wk->rgb[wk->code.dim + c], sa_overlay_dim(px[0]),
                 sa_overlay_dim(px[1]), sa_overlay_dim(px[2]));
        }
        put3(wk->rgb[wk->code.gap], SA_OVERLAY_GAP_RGB);
        put3(wk->rgb[wk->code.box], SA_OVERLAY_BOX_RGB);
        put3(wk->rgb[wk->code.issue], SA_OVERLAY_ISSUE_RGB);
        put3(wk->rgb[wk->code.photo], 0, 0, 0); /* computed per block */
    }
    if (ok && spec->n_regions) {
        wk->frames = calloc(spec->n_regions, sizeof *wk->frames);
        wk->active = calloc(spec->n_regions, sizeof *wk->active);
        ok = wk->frames && wk->active;
    }
    if (ok && spec->decorate) {
        const size_t n = (size_t)g->width * g->panel_height;
        wk->seen = calloc((size_t)spec->K + 1, 1);
        wk->seen_v = calloc(N_VALUES, 1);
        if (!spec->photo_path && wk->code.n <= 256) {
            wk->lut = malloc(wk->code.n);
            wk->panel_idx = malloc(n);
            ok = wk->lut && wk->panel_idx;
        } else if (!spec->photo_path && wk->code.n <= N_VALUES) {
            wk->panel_codes = malloc(n * sizeof *wk->panel_codes);
            ok = wk->panel_codes != NULL;
        } else {
            wk->panels = malloc(n * 3);
            ok = wk->panels != NULL;
        }
        ok = ok && wk->seen && wk->seen_v;
    }
    if (ok && wk->lut) {
        /* the palette in code order (a colour once); the title and legend
         * add the swatches' grey edge at most: 256 colours in all */
        wk->pal = (Palette){.rgb = wk->pal_rgb, .n = 0};
        for (uint32_t c = 0; c < wk->code.n; c++) {
            const uint8_t *px = wk->rgb[c];
            int j = pal_index(&wk->pal, (uint32_t)px[0] |
                                            (uint32_t)px[1] << 8 |
                                            (uint32_t)px[2] << 16, px);
            wk->lut[c] = (uint8_t)(j < 0 ? 0 : j); /* (j < 0: not here) */
        }
        wk->vidx = malloc(N_VALUES);
        wk->didx = malloc(N_VALUES);
        ok = wk->vidx && wk->didx;
        /* (every value from K on is void) */
        for (uint32_t v = 0; ok && v < K; v++) {
            wk->vidx[v] = wk->lut[wk->vcode[v]];
            wk->didx[v] = wk->lut[wk->code.dim + wk->vcode[v]];
        }
        if (ok) {
            memset(wk->vidx + K, wk->lut[K], N_VALUES - K);
            memset(wk->didx + K, wk->lut[wk->code.dim + K], N_VALUES - K);
        }
    }
    if (ok && spec->photo_path) {
        wk->photo_row = malloc(W * 3);
        wk->sums = malloc((size_t)g->panel_width * 3 * sizeof *wk->sums);
        ok = wk->photo_row && wk->sums;
    }
    if (!ok)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory for the "
                      "overlay (W=%u, scale %u, %zu regions)", out_path,
                      spec->W, g->scale, spec->n_regions);
    frames_init(wk, spec, g);
    return 0;
}

/* ---- Decoration --------------------------------------------------------- */

typedef struct Deco {
    uint32_t ts;          /* text scale */
    uint32_t title_h;     /* height of the title band */
    uint32_t legend_h;    /* height of the legend */
    uint8_t *title, *legend; /* the two bands, RGB */
} Deco;

static const uint8_t INK[3] = {0, 0, 0}, EDGE[3] = {128, 128, 128},
                     BOX[3] = {SA_OVERLAY_BOX_RGB};

/* A legend entry's label: "k name" (or "k"), at most 28 characters. */
static void entry_label(const SaOverlaySpec *spec, uint32_t k, char *buf,
                        size_t n)
{
    if (k == spec->K) {
        snprintf(buf, n, "void");
        return;
    }
    const char *name = spec->class_names && (int)k < spec->n_class_names
                           ? spec->class_names[k]
                           : NULL;
    if (name && *name)
        snprintf(buf, n, "%u %.24s", k, name);
    else
        snprintf(buf, n, "%u", k);
}

/* Walks the legend's entries: the issue and region keys, then every class
 * seen; with canvas, draws them.  Returns the number of rows. */
static uint32_t legend_walk(const SaOverlaySpec *spec, const Work *wk,
                            const SaOverlayGeometry *g, uint32_t ts,
                            uint8_t *canvas, uint32_t ch)
{
    const uint32_t margin = 2 * ts, sw = SA_GLYPH_H * ts,
                   row_h = SA_GLYPH_H * ts + 4 * ts;
    uint32_t x = margin, row = 0;
    for (uint32_t e = 0; e < spec->K + 3; e++) {
        char label[40];
        uint8_t fill[3];
        int frame = 0;
        if (e == 0) {
            snprintf(label, sizeof label, "issue pixel");
            put3(fill, SA_OVERLAY_ISSUE_RGB);
        } else if (e == 1) {
            snprintf(label, sizeof label, "region");
            put3(fill, SA_OVERLAY_GAP_RGB);
            frame = 1;
        } else {
            uint32_t k = e - 2;
            if (!wk->seen[k])
                continue;
            entry_label(spec, k, label, sizeof label);
            if (k == spec->K)
                put3(fill, SA_OVERLAY_VOID_RGB);
            else
                memcpy(fill, spec->palette[k], 3);
        }
        uint32_t w = sw + 2 * ts + sa_text_width(label, ts);
        if (x > margin && x + w + margin > g->width) {
            x = margin;
            row++;
        }
        if (canvas) {
            uint32_t y0 = margin + row * row_h;
            for (uint32_t y = 0; y < sw; y++)
                for (uint32_t xx = 0; xx < sw && x + xx < g->width; xx++) {
                    int edge = y == 0 || xx == 0 || y == sw - 1 ||
                               xx == sw - 1;
                    int thick = y < ts || xx < ts || y >= sw - ts ||
                                xx >= sw - ts;
                    const uint8_t *c = frame ? (thick ? BOX : fill)
                                             : edge ? EDGE : fill;
                    if (y0 + y < ch)
                        memcpy(canvas + 3 * ((size_t)(y0 + y) * g->width +
                                             x + xx), c, 3);
                }
            sa_text_draw(canvas, g->width, ch, x + sw + 2 * ts, y0, ts, label,
                         g->width - margin - (x + sw + 2 * ts), INK);
        }
        x += w + 5 * ts;
    }
    return row + 1;
}

/* The title band and the legend, once the classes shown are known. */
static int deco_build(const SaOverlaySpec *spec, const Work *wk,
                      const SaOverlayGeometry *g, Deco *d,
                      const char *out_path, SaErr *err)
{
    d->ts = 1 + g->panel_width / 400;
    const uint32_t ts = d->ts, row_h = SA_GLYPH_H * ts + 4 * ts;
    d->title_h = SA_GLYPH_H * ts + 4 * ts;
    d->legend_h = legend_walk(spec, wk, g, ts, NULL, 0) * row_h + 2 * ts;
    d->title = malloc((size_t)g->width * 3 * d->title_h);
    d->legend = malloc((size_t)g->width * 3 * d->legend_h);
    if (!d->title || !d->legend)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory for the "
                      "overlay's legend", out_path);
    memset(d->title, 255, (size_t)g->width * 3 * d->title_h);
    memset(d->legend, 255, (size_t)g->width * 3 * d->legend_h);
    static const char *const titles[3] = {"given labels", "model argmax",
                                          "issue pixels, regions"};
    for (int p = 0; p < 3; p++) {
        uint32_t x0 = (uint32_t)p * (g->panel_width + SA_OVERLAY_GAP);
        sa_text_draw(d->title, g->width, d->title_h, x0 + 2 * ts, 2 * ts, ts,
                     p == 2 && spec->photo_path ? "issue pixels over photo"
                                                : titles[p],
                     g->panel_width > 2 * ts ? g->panel_width - 2 * ts : 0,
                     INK);
    }
    legend_walk(spec, wk, g, ts, d->legend, d->legend_h);
    return 0;
}

/* m RGB pixels as indices into out; -1 when p overflows. */
static int index_rgb(Palette *p, const uint8_t *px, size_t m, uint8_t *out)
{
    uint32_t last = UINT32_MAX;
    uint8_t run[24]; /* the last colour 8 times: runs go 8 pixels at once */
    int li = 0;
    for (size_t i = 0; i < m;) {
        if (last != UINT32_MAX && m - i >= 8 && !memcmp(px, run, 24)) {
            memset(out + i, li, 8);
            i += 8;
            px += 24;
            continue;
        }
        /* a pixel's 3 bytes (4 read at once but for the last) */
        uint32_t c;
        if (i + 1 < m) {
            memcpy(&c, px, 4);
            c &= 0xffffffu;
        } else {
            c = (uint32_t)px[0] | (uint32_t)px[1] << 8 | (uint32_t)px[2] << 16;
        }
        if (c != last) {
            if ((li = pal_index(p, c, px)) < 0)
                return -1;
            last = c;
            for (int k = 0; k < 8; k++)
                memcpy(run + 3 * k, px, 3);
        }
        out[i++] = (uint8_t)li;
        px += 3;
    }
    return 0;
}

/* m codes as indices into out, through code_idx (-1: not yet indexed);
 * -1 when p overflows. */
static int index_codes(Palette *p, const Work *wk, const uint16_t *codes,
                       size_t m, int16_t *code_idx, uint8_t *out)
{
    for (size_t i = 0; i < m; i++) {
        int j = code_idx[codes[i]];
        if (j < 0) {
            const uint8_t *px = wk->rgb[codes[i]];
            j = pal_index(p, (uint32_t)px[0] | (uint32_t)px[1] << 8 |
                                 (uint32_t)px[2] << 16, px);
            if (j < 0)
                return -1;
            code_idx[codes[i]] = (int16_t)j;
        }
        out[i] = (uint8_t)j;
    }
    return 0;
}

/* A decorated overlay (title, panels, legend: H rows of width pixels) as
 * palette indices, when it has 256 colours or fewer, as class maps without
 * a photo do: 1, part[] the indices of the title, the panels and the
 * legend (one byte a pixel, in *idx, malloc'd, but for panels indexed as
 * they were drawn), pal and *npal (the colours of every code when they
 * were indexed before the rows, then those of the title and legend; else
 * in order of first use); 0 otherwise (it is then written as RGB); -1 out
 * of memory.  The same pixels either way, a third of the bytes to
 * compress. */
static int to_palette(const Work *wk, const Deco *d, const SaOverlayGeometry *g,
                      uint8_t pal[256][3], int *npal, uint8_t **idx,
                      const uint8_t *part[3])
{
    const size_t w = g->width, n_title = w * d->title_h,
                 n_panels = w * g->panel_height, n_legend = w * d->legend_h;
    /* the title's and the legend's indices, then the panels' unless they
     * were indexed as they were drawn */
    uint8_t *out = malloc(n_title + n_legend + (wk->lut ? 0 : n_panels));
    int16_t *code_idx = NULL;
    if (!out)
        return -1;
    if (wk->panel_codes) {
        code_idx = malloc((size_t)wk->code.n * sizeof *code_idx);
        if (!code_idx) {
            free(out);
            return -1;
        }
        memset(code_idx, 0xff, (size_t)wk->code.n * sizeof *code_idx);
    }
    Palette p = {.rgb = pal, .n = 0};
    if (wk->lut) { /* the palette made before the rows, and their indices */
        p = wk->pal;
        p.rgb = pal;
        memcpy(pal, wk->pal_rgb, sizeof wk->pal_rgb);
    }
    uint8_t *panels = out + n_title + n_legend;
    int full = index_rgb(&p, d->title, n_title, out) ||
               (wk->lut ? 0
                : wk->panel_codes
                    ? index_codes(&p, wk, wk->panel_codes, n_panels, code_idx,
                                  panels)
                    : index_rgb(&p, wk->panels, n_panels, panels)) ||
               index_rgb(&p, d->legend, n_legend, out + n_title);
    free(code_idx);
    if (full) {
        free(out);
        return 0;
    }
    *npal = p.n;
    *idx = out;
    part[0] = out;
    part[1] = wk->lut ? wk->panel_idx : panels;
    part[2] = out + n_title;
    return 1;
}

int sa_overlay_write(const SaOverlaySpec *spec, SaOverlayRows rows, void *ctx,
                     const char *out_path, SaErr *err)
{
    SaOverlayGeometry g;
    Work wk;
    SaPhoto ph;
    SaPngWriter w;
    Deco d = {0};
    int rc, have_photo = 0, have_writer = 0;
    uint8_t pal[256][3], *idx = NULL;

    if ((rc = check_spec(spec, rows, out_path, &g, err)))
        return rc;
    memset(&wk, 0, sizeof wk);
    if ((rc = work_alloc(&wk, spec, &g, out_path, err)))
        goto done;
    /* The photo first: a bad photo leaves no output file at all. */
    if (spec->photo_path) {
        have_photo = 1;
        if ((rc = sa_photo_open(&ph, spec->photo_path, spec->W, spec->H,
                                err)))
            goto done;
    }
    /* Overlays are flat colour areas: the "up" filter alone at zlib's
     * level 1.  16 overlays of 512x1024 (scripts/bench's set, whole run on
     * 2 threads): level 1 gives 728 KB in 0.47 s, level 6 353 KB in 0.54 s,
     * libpng's default (every filter tried on every row) 396 KB in about
     * 0.9 s, no compression 76 MB.  A decorated overlay is written once
     * its legend is known; as a palette PNG, with zlib's run-length
     * strategy (png_write.c) and no filter: its rows of indices are runs
     * already.  Against the "up" filter, the 16 overlays' writing and
     * drawing take 12 % fewer instructions (0.86 G against 0.98 G,
     * callgrind) for 581 KB against 255 KB. */
    const SaPngPacking packing = {1, PNG_FILTER_UP, NULL, 0};
    if (!spec->decorate) {
        if ((rc = sa_png_writer_create(&w, out_path, " the overlay", g.width,
                                       g.height, PNG_COLOR_TYPE_RGB, packing,
                                       err)))
            goto done;
        have_writer = 1;
    }

    const size_t row_bytes = (size_t)g.width * 3;
    for (uint32_t by = 0; by < g.panel_height; by++) {
        const uint32_t row0 = by * g.scale;
        const uint32_t nr = min_u32(g.scale, spec->H - row0);
        rc = rows(ctx, row0, nr, wk.labels, wk.argmax, wk.issues, err);
        if (rc) {
            if (rc > 0)
                rc = SEGAUDIT_EIO;
            sa_err(err, rc, "%s: cannot get image rows %u..%u for the "
                   "overlay", out_path, row0, row0 + nr - 1);
            goto done;
        }
        if (have_photo &&
            (rc = photo_block(&ph, &g, spec->W, nr, &wk, err)))
            goto done;
        if (wk.lut) {
            compose_row(spec, &g, by, nr, &wk,
                        wk.panel_idx + (size_t)by * g.width);
            continue;
        }
        compose_row(spec, &g, by, nr, &wk, NULL);
        if (wk.panel_codes) {
            uint16_t *pc = wk.panel_codes + (size_t)by * g.width;
            for (uint32_t x = 0; x < g.width; x++)
                pc[x] = (uint16_t)wk.row[x];
            continue;
        }
        expand_codes(&wk, &g, spec->W, nr, wk.row, g.width, wk.out);
        if (wk.panels)
            memcpy(wk.panels + by * row_bytes, wk.out, row_bytes);
        else if ((rc = sa_png_writer_row(&w, wk.out, err)))
            goto done;
    }
    if (spec->decorate) {
        for (uint32_t v = 0; v < N_VALUES; v++) /* the classes shown */
            if (wk.seen_v[v])
                wk.seen[wk.vcode[v]] = 1;
        if ((rc = deco_build(spec, &wk, &g, &d, out_path, err)))
            goto done;
        const uint32_t H = d.title_h + g.panel_height + d.legend_h;
        SaPngPacking pk = packing;
        pk.palette = (const uint8_t(*)[3])pal;
        const uint8_t *part[3];
        int indexed = to_palette(&wk, &d, &g, pal, &pk.npal, &idx, part);
        if (indexed < 0) {
            rc = sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", out_path);
            goto done;
        }
        int ctype = indexed ? PNG_COLOR_TYPE_PALETTE : PNG_COLOR_TYPE_RGB;
        if (indexed)
            pk.filters = PNG_FILTER_NONE;
        if ((rc = sa_png_writer_create(&w, out_path, " the overlay", g.width,
                                       H, ctype, pk, err)))
            goto done;
        have_writer = 1;
        const uint32_t heights[3] = {d.title_h, g.panel_height, d.legend_h};
        for (int p = 0; idx && p < 3; p++)
            for (uint32_t y = 0; rc == 0 && y < heights[p]; y++)
                rc = sa_png_writer_row(&w, part[p] + (size_t)y * g.width,
                                       err);
        for (uint32_t y = 0; !idx && rc == 0 && y < d.title_h; y++)
            rc = sa_png_writer_row(&w, d.title + y * row_bytes, err);
        for (uint32_t y = 0; !idx && rc == 0 && y < g.panel_height; y++) {
            const size_t o = (size_t)y * g.width;
            if (wk.panel_idx) {
                for (uint32_t x = 0; x < g.width; x++)
                    memcpy(wk.out + 3 * (size_t)x,
                           wk.pal_rgb[wk.panel_idx[o + x]], 3);
            } else if (wk.panel_codes) { /* no photo codes among them */
                for (uint32_t x = 0; x < g.width; x++)
                    wk.row[x] = wk.panel_codes[o + x];
                expand_codes(&wk, &g, spec->W, 1, wk.row, g.width, wk.out);
            }
            rc = sa_png_writer_row(
                &w, wk.panels ? wk.panels + y * row_bytes : wk.out, err);
        }
        for (uint32_t y = 0; !idx && rc == 0 && y < d.legend_h; y++)
            rc = sa_png_writer_row(&w, d.legend + y * row_bytes, err);
        if (rc)
            goto done;
    }
    have_writer = 0;
    rc = sa_png_writer_finish(&w, err);
done:
    if (have_writer)
        sa_png_writer_abort(&w);
    if (have_photo)
        sa_photo_close(&ph);
    free(idx);
    free(d.title);
    free(d.legend);
    work_free(&wk);
    return rc;
}
