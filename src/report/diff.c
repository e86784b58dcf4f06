/* What changed between two audits of one dataset: two report folders
 * (report.json and regions.csv of each) compared image by image, into
 * changes.csv and class_changes.csv.  See segaudit/report.h.
 *
 * An image is "relabeled" when its label digest changed, "moved" when its
 * labels did not change but its rank or issue pixels did (the class
 * thresholds are dataset-wide: fixing one image moves others), "same"
 * otherwise, and "added" or "removed" when it is in one report only.  A
 * region (regions.csv) is kept when its bounding box overlaps a region of
 * the same image in the other report, fixed when an old region overlaps
 * none of the new ones, and new when a new region overlaps none of the old
 * ones.  Only the regions both reports list count: those of at least the
 * larger of their min_region_area (chosen from the data by default, so it
 * may differ). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/strlist.h"
#include "report/outfile.h"
#include "report/shared.h"
#include "segaudit/report.h"

typedef struct Box {
    uint32_t x, y, w, h;
    uint64_t area;
} Box;

typedef struct Img {
    char *id;
    uint64_t rank, issue;
    int has_score;
    double score;
    char digest[65];          /* "" when unknown */
    Box *reg;
    size_t nreg, capreg;
} Img;

typedef struct Rep {
    const char *dir;
    Img *img;                 /* sorted by id */
    size_t n;
    uint32_t K;
    double *thr;
    uint8_t *has_thr;         /* 0: null in the report */
    uint64_t *given;
    char **names;
    uint64_t min_area;        /* parameters.min_region_area (1 if absent) */
} Rep;

static void rep_free(Rep *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->img[i].id);
        free(r->img[i].reg);
    }
    free(r->img);
    sa_free_strings(r->names, r->K);
    free(r->thr);
    free(r->has_thr);
    free(r->given);
    memset(r, 0, sizeof *r);
}

static int cmp_img(const void *a, const void *b)
{
    return strcmp(((const Img *)a)->id, ((const Img *)b)->id);
}

static Img *find(const Rep *r, const char *id)
{
    Img key = {.id = (char *)id};
    return r->n ? bsearch(&key, r->img, r->n, sizeof *r->img, cmp_img) : NULL;
}

#define BAD(...) (snprintf(eb, el, __VA_ARGS__), SEGAUDIT_EINPUT)

/* A member of o, of type t; NULL when absent or of another type. */
static json_object *get(json_object *o, const char *key, json_type t)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
        return NULL;
    return v;
}

static int load_json(Rep *r, char *eb, size_t el)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/report.json", r->dir);
    json_object *root = json_object_from_file(path);
    if (!root)
        return BAD("%s: cannot read it as JSON (is %s a segaudit report "
                   "folder?)", path, r->dir);
    int rc = 0;
    json_object *imgs = get(root, "images", json_type_array);
    json_object *cls = get(root, "classes", json_type_array);
    json_object *par = get(root, "parameters", json_type_object);
    json_object *rb = par ? get(par, "rank_by", json_type_string) : NULL;
    if (!imgs || !cls || !rb) {
        rc = BAD("%s: not a segaudit report (no images, classes or "
                 "parameters.rank_by)", path);
        goto done;
    }
    const char *rank_by = json_object_get_string(rb);
    json_object *ma = get(par, "min_region_area", json_type_int);
    r->min_area = ma && json_object_get_int64(ma) > 0
                      ? (uint64_t)json_object_get_int64(ma)
                      : 1;
    size_t n = json_object_array_length(imgs);
    r->img = calloc(n ? n : 1, sizeof *r->img);
    r->K = (uint32_t)json_object_array_length(cls);
    r->thr = calloc(r->K ? r->K : 1, sizeof *r->thr);
    r->has_thr = calloc(r->K ? r->K : 1, 1);
    r->given = calloc(r->K ? r->K : 1, sizeof *r->given);
    r->names = calloc(r->K ? r->K : 1, sizeof *r->names);
    if (!r->img || !r->thr || !r->has_thr || !r->given || !r->names) {
        rc = (snprintf(eb, el, "out of memory"), SEGAUDIT_ENOMEM);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(imgs, i), *v;
        json_object *id = get(o, "image", json_type_string);
        json_object *rank = get(o, "rank", json_type_int);
        json_object *iss = get(o, "issue_pixels", json_type_int);
        if (!id || !rank || !iss) {
            rc = BAD("%s: images[%zu] lacks image, rank or issue_pixels",
                     path, i);
            goto done;
        }
        Img *m = &r->img[r->n++];
        if (!(m->id = strdup(json_object_get_string(id)))) {
            rc = (snprintf(eb, el, "out of memory"), SEGAUDIT_ENOMEM);
            goto done;
        }
        m->rank = (uint64_t)json_object_get_int64(rank);
        m->issue = (uint64_t)json_object_get_int64(iss);
        if ((v = get(o, rank_by, json_type_double)) ||
            (v = get(o, rank_by, json_type_int))) { /* 1 or 0 read back */
            m->has_score = 1;
            m->score = json_object_get_double(v);
        }
        if ((v = get(o, "label_digest", json_type_string)))
            snprintf(m->digest, sizeof m->digest, "%s",
                     json_object_get_string(v));
    }
    for (uint32_t k = 0; k < r->K; k++) {
        json_object *o = json_object_array_get_idx(cls, k), *v;
        /* 1.0 is written 1, which reads back as an integer */
        if ((v = get(o, "threshold", json_type_double)) ||
            (v = get(o, "threshold", json_type_int))) {
            r->thr[k] = json_object_get_double(v);
            r->has_thr[k] = 1;
        }
        if ((v = get(o, "issue_pixels_given", json_type_int)))
            r->given[k] = (uint64_t)json_object_get_int64(v);
        v = get(o, "name", json_type_string);
        if (!(r->names[k] = strdup(v ? json_object_get_string(v) : ""))) {
            rc = (snprintf(eb, el, "out of memory"), SEGAUDIT_ENOMEM);
            goto done;
        }
    }
    if (r->n > 1)
        qsort(r->img, r->n, sizeof *r->img, cmp_img);
    for (size_t i = 1; i < r->n; i++)
        if (strcmp(r->img[i - 1].id, r->img[i].id) == 0) {
            rc = BAD("%s: image '%s' appears twice", path, r->img[i].id);
            goto done;
        }
done:
    json_object_put(root);
    return rc;
}

/* One CSV field of line at *p (quoted or not) into buf; *p moves past it
 * and its comma.  Returns 0, or -1 for a malformed field. */
static int csv_field(const char **p, char *buf, size_t cap)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '"') {
        s++;
        for (;;) {
            if (!*s)
                return -1;
            if (*s == '"') {
                if (s[1] != '"')
                    break;
                s++;
            }
            if (n + 1 < cap)
                buf[n++] = *s;
            s++;
        }
        s++;
    } else {
        while (*s && *s != ',' && *s != '\n' && *s != '\r') {
            if (n + 1 < cap)
                buf[n++] = *s;
            s++;
        }
    }
    buf[n] = '\0';
    if (*s == ',')
        s++;
    *p = s;
    return 0;
}

static int load_regions(Rep *r, char *eb, size_t el)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/regions.csv", r->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return BAD("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    uint64_t lineno = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        if (lineno++ == 0)
            continue; /* the header */
        const char *p = line;
        char id[4096], fld[64];
        unsigned long v[6];
        int ok = csv_field(&p, id, sizeof id) == 0;
        for (int i = 0; ok && i < 6; i++) {
            char *end;
            ok = csv_field(&p, fld, sizeof fld) == 0;
            errno = 0;
            v[i] = strtoul(fld, &end, 10);
            ok = ok && end != fld && !*end && !errno && v[i] <= UINT32_MAX;
        }
        if (!ok) {
            rc = BAD("%s:%llu: not a regions.csv row", path,
                     (unsigned long long)lineno);
            break;
        }
        Img *m = find(r, id);
        if (!m)
            continue; /* a region of an image the JSON does not list */
        if (m->nreg == m->capreg) {
            size_t nc = m->capreg ? 2 * m->capreg : 4;
            Box *nb = realloc(m->reg, nc * sizeof *nb);
            if (!nb) {
                rc = (snprintf(eb, el, "out of memory"), SEGAUDIT_ENOMEM);
                break;
            }
            m->reg = nb;
            m->capreg = nc;
        }
        /* image,region,area,x,y,width,height */
        m->reg[m->nreg++] = (Box){(uint32_t)v[2], (uint32_t)v[3],
                                  (uint32_t)v[4], (uint32_t)v[5], v[1]};
    }
    free(line);
    fclose(f);
    return rc;
}

static int overlap(const Box *a, const Box *b)
{
    return (uint64_t)a->x < (uint64_t)b->x + b->w &&
           (uint64_t)b->x < (uint64_t)a->x + a->w &&
           (uint64_t)a->y < (uint64_t)b->y + b->h &&
           (uint64_t)b->y < (uint64_t)a->y + a->h;
}

/* Regions of a (of at least min_area pixels) with no overlapping region
 * of b. */
static size_t unmatched(const Img *a, const Img *b, uint64_t min_area)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nreg; i++) {
        if (a->reg[i].area < min_area)
            continue;
        int hit = 0;
        for (size_t j = 0; b && j < b->nreg && !hit; j++)
            hit = b->reg[j].area >= min_area &&
                  overlap(&a->reg[i], &b->reg[j]);
        n += !hit;
    }
    return n;
}

/* One image of either report, with what changed (worked out once). */
typedef struct Row {
    const Img *o, *n;
    const char *status, *changed;
    size_t fixed, fresh;      /* regions fixed, and new */
} Row;

static int cmp_row(const void *a, const void *b)
{
    const Row *x = a, *y = b;
    /* images of the new report by new rank, then removed ones by old */
    if (!x->n != !y->n)
        return x->n ? -1 : 1;
    uint64_t rx = x->n ? x->n->rank : x->o->rank;
    uint64_t ry = y->n ? y->n->rank : y->o->rank;
    return rx < ry ? -1 : rx > ry;
}

static const char *status(const Img *o, const Img *n, const char **changed)
{
    *changed = "unknown";
    if (!o)
        return "added";
    if (!n)
        return "removed";
    if (o->digest[0] && n->digest[0]) {
        int diff = strcmp(o->digest, n->digest) != 0;
        *changed = diff ? "yes" : "no";
        if (diff)
            return "relabeled";
    }
    return o->rank != n->rank || o->issue != n->issue ? "moved" : "same";
}

#define JSON_ROWS 500

/* changes.json: the summary and the images that changed (at most
 * JSON_ROWS, new rank order), for report.html's "changes" section. */
static int write_json(const Rep *o, const Row *rows, size_t nr,
                      const SegauditDiffSummary *s, const char *out,
                      char *eb, size_t el)
{
    SaJson j = {0};
    json_object *root = sa_json_object(&j);
    json_object *sm = sa_json_object(&j);
    sa_json_set(&j, root, "old", sa_json_str(&j, o->dir));
    sa_json_set(&j, sm, "relabeled", sa_json_u64(&j, s->relabeled));
    sa_json_set(&j, sm, "relabeled_clean", sa_json_u64(&j, s->relabeled_clean));
    sa_json_set(&j, sm, "relabeled_flagged",
                sa_json_u64(&j, s->relabeled_flagged));
    sa_json_set(&j, sm, "moved", sa_json_u64(&j, s->moved));
    sa_json_set(&j, sm, "added", sa_json_u64(&j, s->added));
    sa_json_set(&j, sm, "removed", sa_json_u64(&j, s->removed));
    sa_json_set(&j, sm, "regions_fixed", sa_json_u64(&j, s->regions_fixed));
    sa_json_set(&j, sm, "regions_new", sa_json_u64(&j, s->regions_new));
    sa_json_set(&j, root, "summary", sm);
    json_object *arr = sa_json_array(&j);
    size_t shown = 0;
    for (size_t i = 0; i < nr && shown < JSON_ROWS && !j.oom; i++) {
        const Img *a = rows[i].o, *b = rows[i].n;
        const char *st = rows[i].status;
        if (!strcmp(st, "same"))
            continue;
        json_object *r = sa_json_object(&j);
        sa_json_set(&j, r, "image", sa_json_str(&j, a ? a->id : b->id));
        sa_json_set(&j, r, "status", sa_json_str(&j, st));
        sa_json_set(&j, r, "old_rank", a ? sa_json_u64(&j, a->rank) : NULL);
        sa_json_set(&j, r, "new_rank", b ? sa_json_u64(&j, b->rank) : NULL);
        sa_json_set(&j, r, "old_issue_pixels",
                    a ? sa_json_u64(&j, a->issue) : NULL);
        sa_json_set(&j, r, "new_issue_pixels",
                    b ? sa_json_u64(&j, b->issue) : NULL);
        sa_json_set(&j, r, "regions_fixed", sa_json_u64(&j, rows[i].fixed));
        sa_json_set(&j, r, "regions_new", sa_json_u64(&j, rows[i].fresh));
        sa_json_push(&j, arr, r);
        shown++;
    }
    sa_json_set(&j, root, "images", arr);
    if (j.oom) {
        json_object_put(root);
        return (snprintf(eb, el, "out of memory"), SEGAUDIT_ENOMEM);
    }
    SaOut f;
    int rc = sa_out_open(&f, out, "changes.json", eb, el);
    if (rc == 0)
        fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE),
              f.f);
    json_object_put(root);
    return sa_out_close(&f, rc == 0, eb, el) ? SEGAUDIT_EIO : rc;
}

static int write_changes(const Rep *o, const Rep *n, const char *out,
                         SegauditDiffSummary *sum, char *eb, size_t el)
{
    Row *rows = malloc((o->n + n->n + 1) * sizeof *rows);
    if (!rows)
        return (snprintf(eb, el, "out of memory"), SEGAUDIT_ENOMEM);
    size_t nr = 0;
    for (size_t i = 0; i < n->n; i++)
        rows[nr++] = (Row){.o = find(o, n->img[i].id), .n = &n->img[i]};
    for (size_t i = 0; i < o->n; i++)
        if (!find(n, o->img[i].id))
            rows[nr++] = (Row){.o = &o->img[i], .n = NULL};
    qsort(rows, nr, sizeof *rows, cmp_row);
    for (size_t i = 0; i < nr; i++) {
        Row *w = &rows[i];
        w->status = status(w->o, w->n, &w->changed);
        uint64_t least = o->min_area > n->min_area ? o->min_area
                                                   : n->min_area;
        w->fixed = w->o ? unmatched(w->o, w->n, least) : 0;
        w->fresh = w->n ? unmatched(w->n, w->o, least) : 0;
    }

    SaOut f;
    int rc = sa_out_open(&f, out, "changes.csv", eb, el);
    if (rc == 0) {
        fputs("image,status,label_changed,old_rank,new_rank,old_score,"
              "new_score,old_issue_pixels,new_issue_pixels,regions_fixed,"
              "regions_new,regions_kept\n", f.f);
        for (size_t i = 0; i < nr; i++) {
            const Img *a = rows[i].o, *b = rows[i].n;
            const char *changed = rows[i].changed, *st = rows[i].status;
            size_t fixed = rows[i].fixed, fresh = rows[i].fresh;
            size_t kept = b ? b->nreg - fresh : 0;
            sa_csv_str(f.f, a ? a->id : b->id);
            fprintf(f.f, ",%s,%s,", st, changed);
            if (a)
                fprintf(f.f, "%llu", (unsigned long long)a->rank);
            fputc(',', f.f);
            if (b)
                fprintf(f.f, "%llu", (unsigned long long)b->rank);
            fputc(',', f.f);
            sa_csv_num(f.f, a && a->has_score, a ? a->score : 0);
            fputc(',', f.f);
            sa_csv_num(f.f, b && b->has_score, b ? b->score : 0);
            fputc(',', f.f);
            if (a)
                fprintf(f.f, "%llu", (unsigned long long)a->issue);
            fputc(',', f.f);
            if (b)
                fprintf(f.f, "%llu", (unsigned long long)b->issue);
            fprintf(f.f, ",%zu,%zu,%zu\n", fixed, fresh, kept);
            if (!strcmp(st, "relabeled")) {
                sum->relabeled++;
                if (b->issue == 0)
                    sum->relabeled_clean++;
                else
                    sum->relabeled_flagged++;
            } else if (!strcmp(st, "moved")) {
                sum->moved++;
            } else if (!strcmp(st, "added")) {
                sum->added++;
            } else if (!strcmp(st, "removed")) {
                sum->removed++;
            }
            sum->regions_fixed += fixed;
            sum->regions_new += fresh;
        }
    }
    rc = sa_out_close(&f, rc == 0, eb, el) ? SEGAUDIT_EIO : rc;
    if (rc == 0)
        rc = write_json(o, rows, nr, sum, out, eb, el);
    free(rows);
    if (rc)
        return rc;

    rc = sa_out_open(&f, out, "class_changes.csv", eb, el);
    if (rc == 0) {
        fputs("class,name,old_threshold,new_threshold,threshold_change,"
              "old_issue_pixels_given,new_issue_pixels_given\n", f.f);
        uint32_t K = o->K > n->K ? o->K : n->K;
        for (uint32_t k = 0; k < K; k++) {
            int ho = k < o->K, hn = k < n->K;
            fprintf(f.f, "%u,", k);
            sa_csv_str(f.f, hn ? n->names[k] : o->names[k]);
            fputc(',', f.f);
            int to = ho && o->has_thr[k], tn = hn && n->has_thr[k];
            sa_csv_num(f.f, to, to ? o->thr[k] : 0);
            fputc(',', f.f);
            sa_csv_num(f.f, tn, tn ? n->thr[k] : 0);
            fputc(',', f.f);
            sa_csv_num(f.f, to && tn, to && tn ? n->thr[k] - o->thr[k] : 0);
            fputc(',', f.f);
            if (ho)
                fprintf(f.f, "%llu", (unsigned long long)o->given[k]);
            fputc(',', f.f);
            if (hn)
                fprintf(f.f, "%llu", (unsigned long long)n->given[k]);
            fputc('\n', f.f);
        }
    }
    return sa_out_close(&f, rc == 0, eb, el) ? SEGAUDIT_EIO : rc;
}

int segaudit_report_diff(const char *old_dir, const char *new_dir,
                         const char *out_dir, SegauditDiffSummary *sum,
                         char *errbuf, size_t errlen)
{
    Rep o = {.dir = old_dir}, n = {.dir = new_dir};
    SegauditDiffSummary s;
    memset(&s, 0, sizeof s);
    char *eb = errbuf;
    size_t el = errlen;
    int rc = load_json(&o, eb, el);
    if (rc == 0)
        rc = load_json(&n, eb, el);
    if (rc == 0)
        rc = load_regions(&o, eb, el);
    if (rc == 0)
        rc = load_regions(&n, eb, el);
    if (rc == 0) {
        s.images_old = o.n;
        s.images_new = n.n;
        rc = write_changes(&o, &n, out_dir, &s, eb, el);
    }
    if (rc == 0 && sum)
        *sum = s;
    rep_free(&o);
    rep_free(&n);
    return rc;
}
