#include "engine/mask_eval.h"
#include "engine/pairs.h"

#include <stdlib.h>
#include <string.h>

struct SaMaskScratch {
    uint64_t max_pixels;
    uint32_t *lab[2];     /* per pixel: component + 1, 0 = not in the mask */
    uint32_t *parent;     /* union-find over provisional labels */
    uint64_t *area[2];    /* per component */
    SaPairTable inter;    /* (predicted, true) component: |P ∩ T| */
    uint8_t *hit[2];      /* predicted component: matched */
    uint64_t *best;       /* true component: largest matching area */
};

int sa_mask_scratch_new(SaMaskScratch **out, uint64_t max_pixels, SaErr *err)
{
    SaMaskScratch *s = calloc(1, sizeof *s);
    size_t n = (size_t)(max_pixels ? max_pixels : 1);
    if (s) {
        s->max_pixels = max_pixels;
        s->lab[0] = malloc(n * sizeof(uint32_t));
        s->lab[1] = malloc(n * sizeof(uint32_t));
        s->parent = malloc((n + 1) * sizeof(uint32_t));
    }
    if (!s || !s->lab[0] || !s->lab[1] || !s->parent) {
        sa_mask_scratch_free(s);
        *out = NULL;
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

void sa_mask_scratch_free(SaMaskScratch *s)
{
    if (!s)
        return;
    for (int i = 0; i < 2; i++) {
        free(s->lab[i]);
        free(s->area[i]);
        free(s->hit[i]);
    }
    free(s->parent);
    free(s->best);
    sa_pairs_free(&s->inter);
    free(s);
}

static uint32_t find(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

/* Labels the components of m (8-connectivity) into lab as 1..*n, in
 * raster order of their first pixel; their areas into *area. */
static int components(SaMaskScratch *s, const uint8_t *m, uint32_t h,
                      uint32_t w, uint32_t *lab, uint64_t **area,
                      uint32_t *n, SaErr *err)
{
    uint32_t *parent = s->parent, next = 1;
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (!m[i]) {
                lab[i] = 0;
                continue;
            }
            uint32_t nb[4], k = 0;
            if (x > 0 && lab[i - 1])
                nb[k++] = lab[i - 1];
            if (y > 0) {
                size_t up = i - w;
                if (x > 0 && lab[up - 1])
                    nb[k++] = lab[up - 1];
                if (lab[up])
                    nb[k++] = lab[up];
                if (x + 1 < w && lab[up + 1])
                    nb[k++] = lab[up + 1];
            }
            if (!k) {
                parent[next] = next;
                lab[i] = next++;
                continue;
            }
            uint32_t r = find(parent, nb[0]);
            for (uint32_t j = 1; j < k; j++) {
                uint32_t q = find(parent, nb[j]);
                if (q < r) {
                    parent[r] = q;
                    r = q;
                } else if (q > r) {
                    parent[q] = r;
                }
            }
            lab[i] = r;
        }
    }
    /* roots numbered in order of their label (first pixel order) */
    uint32_t count = 0;
    for (uint32_t l = 1; l < next; l++)
        parent[l] = parent[l] == l ? ++count | 0x80000000u
                                   : parent[l];
    for (uint32_t l = 1; l < next; l++) {
        uint32_t r = l;
        while (!(parent[r] & 0x80000000u))
            r = parent[r];
        if (r != l)
            parent[l] = parent[r];
    }
    uint64_t *a = realloc(*area, ((size_t)count + 1) * sizeof *a);
    if (!a)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    *area = a;
    memset(a, 0, ((size_t)count + 1) * sizeof *a);
    size_t hw = (size_t)h * w;
    for (size_t i = 0; i < hw; i++)
        if (lab[i]) {
            lab[i] = parent[lab[i]] & 0x7fffffffu;
            a[lab[i]]++;
        }
    *n = count;
    return 0;
}

void sa_area_hists_total(const SaAreaHists *h, uint64_t min_area,
                         uint64_t *regions, uint64_t *matched,
                         uint64_t *found)
{
    *regions = *matched = *found = 0;
    for (uint64_t b = sa_area_bucket(min_area); b < SA_AREA_BUCKETS; b++) {
        *regions += h->regions[b];
        *matched += h->matched[b];
        *found += h->found[b];
    }
}

int sa_mask_eval_image(SaMaskScratch *s, const uint8_t *issue,
                       const uint8_t *error, uint32_t h, uint32_t w,
                       uint64_t min_area, SaMaskCounts *out,
                       SaAreaHists *hist, SaErr *err)
{
    uint32_t n[2];
    const uint8_t *m[2] = {issue, error};
    for (int k = 0; k < 2; k++) {
        int rc = components(s, m[k], h, w, s->lab[k], &s->area[k], &n[k], err);
        if (rc)
            return rc;
        uint8_t *hit = realloc(s->hit[k], (size_t)n[k] + 1);
        if (!hit)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        s->hit[k] = hit;
        memset(hit, 0, (size_t)n[k] + 1);
    }
    uint64_t *best = realloc(s->best, ((size_t)n[1] + 1) * sizeof *best);
    if (!best)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    s->best = best;
    memset(best, 0, ((size_t)n[1] + 1) * sizeof *best);
    sa_pairs_clear(&s->inter);
    size_t hw = (size_t)h * w;
    for (size_t i = 0; i < hw; i++) {
        out->issue_pixels += issue[i] != 0;
        out->error_pixels += error[i] != 0;
        if (s->lab[0][i] && s->lab[1][i]) {
            out->hit_pixels++;
            int rc = sa_pairs_add(&s->inter, s->lab[0][i], s->lab[1][i], 1,
                                  err);
            if (rc)
                return rc;
        }
    }
    for (size_t j = 0; j < s->inter.cap; j++) {
        if (!s->inter.keys[j])
            continue;
        uint32_t p = sa_pair_a(s->inter.keys[j]);
        uint32_t t = sa_pair_b(s->inter.keys[j]);
        uint64_t in = s->inter.counts[j];
        uint64_t un = s->area[0][p] + s->area[1][t] - in;
        if ((double)in >= SA_MATCH_IOU * (double)un) {
            s->hit[0][p] = 1;
            if (s->area[0][p] > best[t])
                best[t] = s->area[0][p];
        }
    }
    for (uint32_t p = 1; p <= n[0]; p++) {
        uint64_t b = sa_area_bucket(s->area[0][p]);
        hist->regions[b]++;
        hist->matched[b] += s->hit[0][p];
        if (min_area && s->area[0][p] >= min_area) {
            out->regions++;
            out->regions_matched += s->hit[0][p];
        }
    }
    out->error_regions += n[1];
    for (uint32_t t = 1; t <= n[1]; t++) {
        if (best[t])
            hist->found[sa_area_bucket(best[t])]++;
        out->error_regions_found += min_area && best[t] >= min_area;
    }
    return 0;
}
