/* Synthetic street scenes: layout, drawing and objects (the annotation
 * errors made of them are in synth_errors.c).
 *
 * Geometry: the horizon is at row yh and the vanishing point at column xv.
 * A ground row y has the depth scale t = (y - yh) / (H - yh), 0 at the
 * horizon and 1 at the bottom row; everything standing on that row is drawn
 * t times its size at the bottom, in units of U = H.  The road spans
 * xv - t*roadL .. xv + t*roadR, a sidewalk follows on each side, and
 * beyond that the facades of the skyline (buildings, trees) come down to
 * the ground.  Objects are drawn far to near so that near ones occlude. */
#include "synth/synth_scene.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const sa_scene_class_names[SC_N] = {
    "road", "sidewalk", "building", "wall", "fence", "pole",
    "traffic light", "traffic sign", "vegetation", "terrain", "sky",
    "person", "rider", "car", "truck", "bus", "train", "motorcycle",
    "bicycle"};

const uint8_t sa_scene_confuse[SC_N] = {
    SC_SIDEWALK, SC_ROAD, SC_WALL, SC_FENCE, SC_WALL, SC_SIGN, SC_SIGN,
    SC_LIGHT, SC_TERRAIN, SC_VEG, SC_BUILDING, SC_RIDER, SC_PERSON,
    SC_TRUCK, SC_CAR, SC_TRUCK, SC_BUS, SC_BIKE, SC_MOTO};

#define MAX_OBJS 4000

int sa_scene_alloc(SaScene *s, uint32_t h, uint32_t w)
{
    size_t n = (size_t)h * w;
    memset(s, 0, sizeof *s);
    s->h = h;
    s->w = w;
    s->cls = malloc(n);
    s->obj = malloc(n * sizeof *s->obj);
    s->cap_objs = 256;
    s->objs = malloc((size_t)s->cap_objs * sizeof *s->objs);
    if (!s->cls || !s->obj || !s->objs) {
        sa_scene_free(s);
        return -1;
    }
    return 0;
}

void sa_scene_free(SaScene *s)
{
    free(s->cls);
    free(s->obj);
    free(s->objs);
    free(s->m1);
    free(s->m2);
    memset(s, 0, sizeof *s);
}

/* ---- drawing ----------------------------------------------------------- */

typedef struct Ctx {
    SaScene *s;
    SaRng *r;
    int H, W;
    double yh, xv, U;
    double roadL, roadR, swL, swR;
} Ctx;

static int iround(double v) { return (int)floor(v + 0.5); }

/* Paints columns [x0, x1) of row y. */
static void span(Ctx *c, int y, int x0, int x1, int cls, int obj)
{
    if (y < 0 || y >= c->H)
        return;
    if (x0 < 0)
        x0 = 0;
    if (x1 > c->W)
        x1 = c->W;
    if (x0 >= x1)
        return;
    size_t o = (size_t)y * c->W;
    memset(c->s->cls + o + x0, cls, (size_t)(x1 - x0));
    for (int x = x0; x < x1; x++)
        c->s->obj[o + x] = (uint16_t)obj;
}

/* Rectangle [y0, y1) x [x0, x1), at least one pixel. */
static void rect(Ctx *c, double y0, double y1, double x0, double x1, int cls,
                 int obj)
{
    int a = iround(y0), b = iround(y1), l = iround(x0), rr = iround(x1);
    if (b <= a)
        b = a + 1;
    if (rr <= l)
        rr = l + 1;
    for (int y = a; y < b; y++)
        span(c, y, l, rr, cls, obj);
}

/* Filled ellipse; with inner radii > 0, a ring. */
static void ellipse(Ctx *c, double cy, double cx, double ry, double rx,
                    double iry, double irx, int cls, int obj)
{
    if (ry < 0.5)
        ry = 0.5;
    if (rx < 0.5)
        rx = 0.5;
    for (int y = iround(cy - ry); y <= iround(cy + ry); y++) {
        double dy = (y - cy) / ry, q = 1.0 - dy * dy;
        if (q < 0)
            continue;
        double hw = rx * sqrt(q);
        int l = iround(cx - hw), rr = iround(cx + hw) + 1;
        double idy = iry > 0 ? (y - cy) / iry : 2.0, iq = 1.0 - idy * idy;
        if (iq > 0 && irx > 0) {
            double ihw = irx * sqrt(iq);
            span(c, y, l, iround(cx - ihw), cls, obj);
            span(c, y, iround(cx + ihw) + 1, rr, cls, obj);
        } else {
            span(c, y, l, rr, cls, obj);
        }
    }
}

/* Thick line from (y0,x0) to (y1,x1). */
static void line(Ctx *c, double y0, double x0, double y1, double x1,
                 double th, int cls, int obj)
{
    double len = hypot(y1 - y0, x1 - x0);
    int n = (int)ceil(len) + 1;
    for (int i = 0; i <= n; i++) {
        double f = (double)i / n, y = y0 + f * (y1 - y0),
               x = x0 + f * (x1 - x0);
        rect(c, y - th / 2, y + th / 2, x - th / 2, x + th / 2, cls, obj);
    }
}

static int new_obj(Ctx *c, int cls)
{
    SaScene *s = c->s;
    if (s->n_objs >= MAX_OBJS)
        return 0;
    if (s->n_objs == s->cap_objs) {
        SaObj *o = realloc(s->objs, 2 * (size_t)s->cap_objs * sizeof *o);
        if (!o)
            return 0; /* drawn as background: still a valid scene */
        s->objs = o;
        s->cap_objs *= 2;
    }
    s->objs[s->n_objs].cls = (uint8_t)cls;
    return ++s->n_objs;
}

/* ---- the street -------------------------------------------------------- */

static double ground_row(const Ctx *c, double t)
{
    return c->yh + t * (c->H - c->yh);
}

/* Skyline: facades and trees from their top down to the bottom row. */
static void skyline(Ctx *c)
{
    SaRng *r = c->r;
    for (double x = -sa_rng_u(r) * 0.1 * c->W; x < c->W;) {
        double sw = c->W * sa_rng_range(r, 0.04, 0.2);
        double dist = fabs(x + sw / 2 - c->xv) / c->W;
        double top = c->yh - c->H * (0.16 + 2.0 * dist) *
                     sa_rng_range(r, 0.6, 1.4);
        double u = sa_rng_u(r);
        if (u < 0.52) {
            rect(c, top, c->H, x, x + sw, SC_BUILDING, 0);
        } else if (u < 0.95) { /* trees: a bumpy crown */
            double cr = sw * 0.3;
            rect(c, top + cr, c->H, x, x + sw, SC_VEG, 0);
            for (double cx = x; cx < x + sw; cx += cr)
                ellipse(c, top + cr * sa_rng_range(r, 0.5, 1.3), cx, cr,
                        cr * 1.1, 0, 0, SC_VEG, 0);
        } else { /* low hedge */
            rect(c, c->yh - c->H * 0.03, c->H, x, x + sw, SC_VEG, 0);
        }
        x += sw;
    }
}

static void ground(Ctx *c)
{
    for (int y = (int)ceil(c->yh); y < c->H; y++) {
        double t = (y - c->yh) / (c->H - c->yh);
        double l = c->xv - t * c->roadL, rr = c->xv + t * c->roadR;
        span(c, y, iround(l - t * c->swL), iround(l), SC_SIDEWALK, 0);
        span(c, y, iround(rr), iround(rr + t * c->swR), SC_SIDEWALK, 0);
        span(c, y, iround(l), iround(rr), SC_ROAD, 0);
    }
}

/* A fence, wall or grass strip along one side, between depths t0 and t1:
 * for each column, from the ground at the sidewalk's outer edge up by
 * height*t (grass: a band of the ground beyond the sidewalk). */
static void side_band(Ctx *c, int right, double t0, double t1,
                      double height, int cls)
{
    int obj = new_obj(c, cls);
    double reach = right ? c->roadR + c->swR : c->roadL + c->swL;
    double xa = c->xv + (right ? 1 : -1) * t0 * reach;
    double xb = c->xv + (right ? 1 : -1) * t1 * reach;
    int lo = iround(fmin(xa, xb)), hi = iround(fmax(xa, xb));
    if (lo < 0)
        lo = 0;
    if (hi > c->W)
        hi = c->W;
    for (int x = lo; x < hi; x++) {
        double t = fabs(x - c->xv) / reach, yg = ground_row(c, t);
        if (cls == SC_TERRAIN) { /* the ground strip beyond the sidewalk */
            double t2 = fabs(x - c->xv) / (reach + height * c->W);
            for (int y = iround(ground_row(c, t2)); y < iround(yg); y++)
                span(c, y, x, x + 1, cls, obj);
        } else {
            for (int y = iround(yg - height * t * c->U); y < iround(yg); y++)
                span(c, y, x, x + 1, cls, obj);
        }
    }
}

/* ---- objects ----------------------------------------------------------- */

enum { O_CAR, O_TRUCK, O_BUS, O_TRAIN, O_PERSON, O_CYCLIST, O_MOTORIST,
       O_BIKE, O_MOTO, O_POLE, O_BUSH, O_PATCH };

typedef struct Spec {
    int type;
    double t, x; /* depth scale and center column */
    int order;   /* tie-break for sorting */
} Spec;

static int cmp_spec(const void *a, const void *b)
{
    const Spec *p = a, *q = b;
    if (p->t != q->t)
        return p->t < q->t ? -1 : 1;
    return p->order - q->order;
}

static void draw_vehicle(Ctx *c, int type, double yb, double x, double t)
{
    SaRng *r = c->r;
    double s = t * c->U;
    if (type == O_CAR) {
        double h = 0.3 * s * sa_rng_range(r, 0.85, 1.15);
        double w = h * sa_rng_range(r, 1.3, 2.4);
        int o = new_obj(c, SC_CAR);
        rect(c, yb - 0.6 * h, yb, x - w / 2, x + w / 2, SC_CAR, o);
        rect(c, yb - h, yb - 0.55 * h, x - w * 0.33, x + w * 0.33, SC_CAR, o);
    } else if (type == O_TRUCK) {
        double h = 0.48 * s * sa_rng_range(r, 0.85, 1.15);
        double w = h * sa_rng_range(r, 1.0, 2.2), side = sa_rng_u(r) < .5;
        int o = new_obj(c, SC_TRUCK);
        double bx0 = side ? x - w / 2 : x - w / 2 + 0.28 * w;
        rect(c, yb - h, yb - 0.08 * h, bx0, bx0 + 0.72 * w, SC_TRUCK, o);
        double cx0 = side ? x + w / 2 - 0.28 * w : x - w / 2;
        rect(c, yb - 0.68 * h, yb, cx0, cx0 + 0.28 * w, SC_TRUCK, o);
    } else {
        int bus = type == O_BUS;
        double h = (bus ? 0.55 : 0.58) * s * sa_rng_range(r, 0.9, 1.1);
        double w = h * (bus ? sa_rng_range(r, 1.1, 3.0)
                            : sa_rng_range(r, 2.5, 4.0));
        int o = new_obj(c, bus ? SC_BUS : SC_TRAIN);
        rect(c, yb - h, yb, x - w / 2, x + w / 2, bus ? SC_BUS : SC_TRAIN, o);
    }
}

/* A standing person (cls SC_PERSON) or the upper body of a rider, whose
 * feet / seat are at row yb. */
static void draw_body(Ctx *c, double yb, double x, double h, int cls,
                      int legs)
{
    int o = new_obj(c, cls);
    double hr = 0.075 * h;
    ellipse(c, yb - h + hr, x, hr, hr * 0.85, 0, 0, cls, o);
    double t0 = yb - h + 2 * hr, t1 = yb - (legs ? 0.45 : 0.0) * h;
    rect(c, t0, t1, x - 0.14 * h, x + 0.14 * h, cls, o);
    if (legs) {
        double lw = 0.1 * h, gap = 0.02 * h + 0.04 * h * sa_rng_u(c->r);
        rect(c, t1, yb, x - gap - lw, x - gap, cls, o);
        rect(c, t1, yb, x + gap, x + gap + lw, cls, o);
    }
}

/* Bicycle or motorcycle standing on row yb; returns the seat row. */
static double draw_two_wheeler(Ctx *c, double yb, double x, double s,
                               int moto)
{
    int cls = moto ? SC_MOTO : SC_BIKE, o = new_obj(c, cls);
    double h = (moto ? 0.22 : 0.19) * s, w = 1.7 * h, wr = 0.33 * h;
    double th = fmax(1.0, (moto ? 0.09 : 0.07) * h);
    for (int i = -1; i <= 1; i += 2)
        ellipse(c, yb - wr, x + i * (w / 2 - wr), wr, wr,
                moto ? 0 : wr - th, moto ? 0 : wr - th, cls, o);
    if (moto)
        ellipse(c, yb - 1.5 * wr, x, 0.7 * wr, w / 2 - wr, 0, 0, cls, o);
    line(c, yb - wr, x - w / 2 + wr, yb - 2.3 * wr, x, th, cls, o);
    line(c, yb - wr, x + w / 2 - wr, yb - 2.3 * wr, x, th, cls, o);
    line(c, yb - 2.3 * wr, x - 0.3 * w, yb - 2.3 * wr, x + 0.3 * w, th, cls,
         o);
    return yb - 2.2 * wr;
}

static void draw_pole(Ctx *c, double yb, double x, double s)
{
    SaRng *r = c->r;
    double h = 1.1 * s * sa_rng_range(r, 0.8, 1.3);
    double pw = fmax(1.0, 0.04 * s);
    int o = new_obj(c, SC_POLE);
    rect(c, yb - h, yb, x - pw / 2, x + pw / 2, SC_POLE, o);
    double u = sa_rng_u(r), top = yb - h;
    if (u < 0.5) { /* one or two signs */
        int n = 1 + (sa_rng_u(r) < 0.3);
        for (int i = 0; i < n; i++) {
            double sz = 0.08 * s * sa_rng_range(r, 0.8, 1.3);
            double cy = top + sz + i * 2.2 * sz;
            int os = new_obj(c, SC_SIGN);
            if (sa_rng_u(r) < 0.5)
                ellipse(c, cy, x, sz, sz, 0, 0, SC_SIGN, os);
            else
                rect(c, cy - sz, cy + sz, x - 1.2 * sz, x + 1.2 * sz,
                     SC_SIGN, os);
        }
    } else if (u < 0.92) { /* traffic light on an arm */
        double arm = (sa_rng_u(r) < 0.5 ? -1 : 1) * 0.15 * s;
        rect(c, top, top + pw, fmin(x, x + arm), fmax(x, x + arm), SC_POLE,
             o);
        int ol = new_obj(c, SC_LIGHT);
        rect(c, top + pw, top + pw + 0.18 * s, x + arm - 0.04 * s,
             x + arm + 0.04 * s, SC_LIGHT, ol);
    }
}

static void draw(Ctx *c, const Spec *sp)
{
    double t = sp->t, yb = ground_row(c, t), x = sp->x, s = t * c->U;
    SaRng *r = c->r;
    switch (sp->type) {
    case O_CAR: case O_TRUCK: case O_BUS: case O_TRAIN:
        draw_vehicle(c, sp->type, yb, x, t);
        break;
    case O_PERSON:
        draw_body(c, yb, x, 0.5 * s * sa_rng_range(r, 0.85, 1.15),
                  SC_PERSON, 1);
        break;
    case O_CYCLIST: case O_MOTORIST: {
        double seat = draw_two_wheeler(c, yb, x, s, sp->type == O_MOTORIST);
        draw_body(c, seat, x, 0.25 * s, SC_RIDER, 0);
        break;
    }
    case O_BIKE: case O_MOTO:
        draw_two_wheeler(c, yb, x, s, sp->type == O_MOTO);
        break;
    case O_POLE:
        draw_pole(c, yb, x, s);
        break;
    case O_BUSH: {
        int o = new_obj(c, SC_VEG);
        double ry = 0.07 * s * sa_rng_range(r, 0.7, 1.4);
        ellipse(c, yb - ry, x, ry, ry * sa_rng_range(r, 1.5, 3.0), 0, 0,
                SC_VEG, o);
        break;
    }
    default: { /* grass patch on the ground */
        int o = new_obj(c, SC_TERRAIN);
        double ry = 0.06 * s * sa_rng_range(r, 0.7, 1.5);
        ellipse(c, yb, x, ry, 0.25 * c->W * t * sa_rng_range(r, 0.6, 1.6),
                0, 0, SC_TERRAIN, o);
        break;
    }
    }
}

/* Where an object of this type stands: depth and column. */
static void place(Ctx *c, Spec *sp)
{
    SaRng *r = c->r;
    double t = 0.04 + 0.96 * pow(sa_rng_u(r), 2.0);
    if (sp->type == O_TRUCK || sp->type == O_BUS || sp->type == O_TRAIN)
        t *= 0.65; /* large vehicles never fill the whole view */
    double l = c->xv - t * c->roadL, rr = c->xv + t * c->roadR;
    int right = sa_rng_u(r) < 0.5;
    switch (sp->type) {
    case O_PERSON: case O_BIKE: case O_MOTO: case O_BUSH: case O_PATCH: {
        double sw = t * (right ? c->swR : c->swL);
        sp->x = right ? sa_rng_range(r, rr, rr + sw)
                      : sa_rng_range(r, l - sw, l);
        if (sp->type == O_PERSON && sa_rng_u(r) < 0.15) /* crossing */
            sp->x = sa_rng_range(r, l, rr);
        break;
    }
    case O_POLE:
        sp->x = right ? rr + t * c->swR * sa_rng_range(r, 0.6, 0.95)
                      : l - t * c->swL * sa_rng_range(r, 0.6, 0.95);
        break;
    default:
        sp->x = sa_rng_range(r, l + 0.1 * (rr - l), rr - 0.1 * (rr - l));
        break;
    }
    sp->t = t;
}

static void objects(Ctx *c)
{
    SaRng *r = c->r;
    /* type: how many (at least lo, plus up to extra), with probability */
    static const struct { int type, lo, extra; double p; } mix[] = {
        {O_CAR, 1, 7, 1.0}, {O_TRUCK, 1, 1, 0.25}, {O_BUS, 1, 0, 0.15},
        {O_TRAIN, 1, 0, 0.03}, {O_PERSON, 1, 14, 0.9},
        {O_CYCLIST, 1, 2, 0.45}, {O_MOTORIST, 1, 0, 0.15},
        {O_BIKE, 1, 4, 0.5}, {O_MOTO, 1, 1, 0.15}, {O_POLE, 5, 10, 1.0},
        {O_BUSH, 1, 3, 0.4}, {O_PATCH, 2, 4, 0.8},
    };
    Spec sp[64];
    int n = 0;
    for (size_t i = 0; i < sizeof mix / sizeof mix[0]; i++) {
        if (sa_rng_u(r) >= mix[i].p)
            continue;
        int k = mix[i].lo + sa_rng_int(r, mix[i].extra + 1);
        for (int j = 0; j < k && n < 64; j++) {
            sp[n].type = mix[i].type;
            sp[n].order = n;
            place(c, &sp[n]);
            n++;
        }
    }
    /* a near car that is always there, so that every image has an object
     * an annotation error can be made of */
    sp[0].t = sa_rng_range(r, 0.4, 0.7);
    sp[0].x = c->xv + (sa_rng_u(r) - 0.5) * 0.8 * sp[0].t *
                          (c->roadL + c->roadR) / 2;
    qsort(sp, (size_t)n, sizeof *sp, cmp_spec);
    for (int i = 0; i < n; i++)
        draw(c, &sp[i]);
}

/* Visible bounding box and area of every object. */
static void measure(SaScene *s)
{
    for (int i = 0; i < s->n_objs; i++) {
        SaObj *o = &s->objs[i];
        o->y0 = o->x0 = INT32_MAX;
        o->y1 = o->x1 = 0;
        o->area = 0;
    }
    for (uint32_t y = 0; y < s->h; y++) {
        const uint16_t *row = s->obj + (size_t)y * s->w;
        for (uint32_t x = 0; x < s->w; x++) {
            if (!row[x])
                continue;
            SaObj *o = &s->objs[row[x] - 1];
            o->area++;
            if ((int32_t)y < o->y0) o->y0 = (int32_t)y;
            if ((int32_t)y >= o->y1) o->y1 = (int32_t)y + 1;
            if ((int32_t)x < o->x0) o->x0 = (int32_t)x;
            if ((int32_t)x >= o->x1) o->x1 = (int32_t)x + 1;
        }
    }
}

void sa_scene_render(SaScene *s, SaRng *r)
{
    Ctx c = {s, r, (int)s->h, (int)s->w, 0, 0, 0, 0, 0, 0, 0};
    c.U = c.H;
    c.yh = c.H * sa_rng_range(r, 0.36, 0.48);
    c.xv = c.W * sa_rng_range(r, 0.38, 0.62);
    c.roadL = c.W * sa_rng_range(r, 0.6, 1.2);
    c.roadR = c.W * sa_rng_range(r, 0.6, 1.2);
    c.swL = c.W * sa_rng_range(r, 0.2, 0.55);
    c.swR = c.W * sa_rng_range(r, 0.2, 0.55);
    s->horizon = iround(c.yh);
    s->n_objs = 0;
    memset(s->cls, SC_SKY, (size_t)s->h * s->w);
    memset(s->obj, 0, (size_t)s->h * s->w * sizeof *s->obj);

    skyline(&c);
    ground(&c);
    for (int right = 0; right < 2; right++) {
        double u = sa_rng_u(r), t0 = sa_rng_range(r, 0.05, 0.4);
        double t1 = t0 + sa_rng_range(r, 0.2, 1.2);
        if (u < 0.6)
            side_band(&c, right, t0, t1, sa_rng_range(r, 0.08, 0.25),
                      SC_TERRAIN);
        if (sa_rng_u(r) < 0.45)
            side_band(&c, right, t0, t1, sa_rng_range(r, 0.08, 0.2),
                      SC_FENCE);
        else if (sa_rng_u(r) < 0.35)
            side_band(&c, right, t0, t1, sa_rng_range(r, 0.1, 0.25),
                      SC_WALL);
    }
    objects(&c);
    measure(s);
}
