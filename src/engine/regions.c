/* Streaming connected-component labelling of issue pixels.  See
 * regions.h. */
#include "engine/regions.h"

#include <stdlib.h>
#include <string.h>

typedef struct Count {
    uint16_t cls;
    uint64_t n;
} Count;

typedef struct Vec {
    Count *v;
    uint32_t n, cap;
} Vec;

typedef struct Label {
    uint32_t parent;
    uint64_t area;
    uint32_t x0, y0, x1, y1;
    uint64_t first;         /* raster index of the first pixel */
    double ss, sp;          /* Σ s, Σ p̂ */
    Vec given, pred;
} Label;

typedef struct Run {
    uint32_t x0, x1, label;
} Run;

struct SaCcl {
    uint32_t W;
    Label *lab;
    uint32_t nlab, caplab;
    Run *prev, *cur;        /* runs of the previous and current row */
    uint32_t nprev, ncur;
    uint32_t max_w;         /* the width the run buffers hold */
    uint32_t prev_y;        /* row of prev (valid when nprev > 0) */
    SegauditRegion *out;
    size_t cap_out;
};

int sa_ccl_new(SaCcl **out, uint32_t W, SaErr *err)
{
    SaCcl *c = calloc(1, sizeof *c);
    if (c) {
        c->W = c->max_w = W;
        /* a row holds at most (W + 1) / 2 runs */
        c->prev = malloc(((size_t)W / 2 + 1) * sizeof(Run));
        c->cur = malloc(((size_t)W / 2 + 1) * sizeof(Run));
    }
    if (!c || !c->prev || !c->cur) {
        sa_ccl_free(c);
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    }
    *out = c;
    return 0;
}

static void clear_labels(SaCcl *c)
{
    for (uint32_t i = 0; i < c->nlab; i++) {
        free(c->lab[i].given.v);
        free(c->lab[i].pred.v);
    }
    c->nlab = 0;
}

void sa_ccl_free(SaCcl *c)
{
    if (!c)
        return;
    clear_labels(c);
    free(c->lab);
    free(c->prev);
    free(c->cur);
    free(c->out);
    free(c);
}

void sa_ccl_begin(SaCcl *c, uint32_t W)
{
    c->W = W <= c->max_w ? W : c->max_w;
    clear_labels(c);
    c->nprev = 0;
}

static uint32_t find(SaCcl *c, uint32_t a)
{
    while (c->lab[a].parent != a) {
        c->lab[a].parent = c->lab[c->lab[a].parent].parent;
        a = c->lab[a].parent;
    }
    return a;
}

static int vec_add(Vec *v, uint16_t cls, uint64_t n)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (v->v[i].cls == cls) {
            v->v[i].n += n;
            return 0;
        }
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? 2 * v->cap : 2;
        Count *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n].cls = cls;
    v->v[v->n].n = n;
    v->n++;
    return 0;
}

/* Moves the counts of b into a. */
static int vec_merge(Vec *a, Vec *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (vec_add(a, b->v[i].cls, b->v[i].n) != 0)
            return -1;
    free(b->v);
    memset(b, 0, sizeof *b);
    return 0;
}

static int unite(SaCcl *c, uint32_t a, uint32_t b)
{
    a = find(c, a);
    b = find(c, b);
    if (a == b)
        return 0;
    Label *la = &c->lab[a], *lb = &c->lab[b];
    /* small into large keeps the merging of class counts cheap */
    if (la->given.n + la->pred.n < lb->given.n + lb->pred.n) {
        Label *t = la;
        la = lb;
        lb = t;
        uint32_t u = a;
        a = b;
        b = u;
    }
    lb->parent = a;
    la->area += lb->area;
    la->x0 = lb->x0 < la->x0 ? lb->x0 : la->x0;
    la->y0 = lb->y0 < la->y0 ? lb->y0 : la->y0;
    la->x1 = lb->x1 > la->x1 ? lb->x1 : la->x1;
    la->y1 = lb->y1 > la->y1 ? lb->y1 : la->y1;
    la->first = lb->first < la->first ? lb->first : la->first;
    la->ss += lb->ss;
    la->sp += lb->sp;
    if (vec_merge(&la->given, &lb->given) || vec_merge(&la->pred, &lb->pred))
        return -1;
    return 0;
}

static int new_label(SaCcl *c, uint32_t *id)
{
    if (c->nlab == c->caplab) {
        uint32_t cap = c->caplab ? 2 * c->caplab : 64;
        Label *nl = realloc(c->lab, cap * sizeof *nl);
        if (!nl)
            return -1;
        c->lab = nl;
        c->caplab = cap;
    }
    *id = c->nlab++;
    memset(&c->lab[*id], 0, sizeof(Label));
    c->lab[*id].parent = *id;
    return 0;
}

int sa_ccl_row(SaCcl *c, uint32_t y, const uint8_t *flag,
               const uint16_t *given, const uint16_t *pred, const double *s,
               const double *phat, SaErr *err)
{
    /* runs of the previous row only touch this one if it is y - 1 */
    uint32_t nprev = c->nprev && c->prev_y + 1 == y ? c->nprev : 0;
    c->ncur = 0;
    uint32_t p = 0; /* first previous run that may still touch */
    for (uint32_t x = 0; x < c->W;) {
        if (!flag[x]) {
            x++;
            continue;
        }
        uint32_t x0 = x;
        uint32_t id;
        if (new_label(c, &id) != 0)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        Label *l = &c->lab[id];
        l->x0 = x0;
        l->y0 = l->y1 = y;
        l->first = (uint64_t)y * c->W + x0;
        for (; x < c->W && flag[x]; x++) {
            l->area++;
            l->ss += s[x];
            l->sp += phat[x];
            if (vec_add(&l->given, given[x], 1) ||
                vec_add(&l->pred, pred[x], 1))
                return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        }
        l->x1 = x - 1;
        c->cur[c->ncur++] = (Run){x0, x - 1, id};
        /* previous runs [a, b] touch [x0, x-1] when a <= x and b + 1 >= x0 */
        while (p < nprev && c->prev[p].x1 + 1 < x0)
            p++;
        for (uint32_t q = p; q < nprev && c->prev[q].x0 <= x; q++)
            if (unite(c, id, c->prev[q].label) != 0)
                return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    }
    Run *t = c->prev;
    c->prev = c->cur;
    c->cur = t;
    c->nprev = c->ncur;
    c->prev_y = y;
    return 0;
}

static uint32_t majority(const Vec *v)
{
    uint32_t best = 0;
    uint64_t n = 0;
    for (uint32_t i = 0; i < v->n; i++)
        if (v->v[i].n > n || (v->v[i].n == n && v->v[i].cls < best)) {
            n = v->v[i].n;
            best = v->v[i].cls;
        }
    return best;
}

typedef struct Order {
    uint64_t area, first;
    uint32_t label;
} Order;

static int cmp_order(const void *x, const void *y)
{
    const Order *a = x, *b = y;
    if (a->area != b->area)
        return a->area > b->area ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

int sa_ccl_end(SaCcl *c, uint64_t image, const SegauditRegion **regions,
               size_t *n, SaErr *err)
{
    size_t nroot = 0;
    for (uint32_t i = 0; i < c->nlab; i++)
        nroot += c->lab[i].parent == i;
    if (nroot > c->cap_out) {
        SegauditRegion *o = realloc(c->out, nroot * sizeof *o);
        if (!o)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        c->out = o;
        c->cap_out = nroot;
    }
    Order *ord = malloc((nroot ? nroot : 1) * sizeof *ord);
    if (!ord)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    size_t k = 0;
    for (uint32_t i = 0; i < c->nlab; i++)
        if (c->lab[i].parent == i)
            ord[k++] = (Order){c->lab[i].area, c->lab[i].first, i};
    qsort(ord, nroot, sizeof *ord, cmp_order);
    for (size_t j = 0; j < nroot; j++) {
        const Label *l = &c->lab[ord[j].label];
        SegauditRegion *r = &c->out[j];
        r->image = image;
        r->region = (uint32_t)(j + 1);
        r->area = l->area;
        r->x = l->x0;
        r->y = l->y0;
        r->width = l->x1 - l->x0 + 1;
        r->height = l->y1 - l->y0 + 1;
        r->given = majority(&l->given);
        r->predicted = majority(&l->pred);
        r->mean_self_confidence = l->ss / (double)l->area;
        r->mean_predicted_prob = l->sp / (double)l->area;
    }
    free(ord);
    *regions = c->out;
    *n = nroot;
    return 0;
}
