/* report.html: one self-contained page (inline CSS and JavaScript, nothing
 * fetched) with the summary, a histogram of the ranking score, the ranked
 * image table (sortable, filterable, paged), each image's overlay (also in
 * a zoomable viewer) and regions, the skipped images, the class table, the
 * top pairs and the evaluation.
 *
 * Layout of the file:
 *
 *   <head> CSP, <style>page.css</style> </head>
 *   <body> page.html (the skeleton the script fills)
 *     <script type="application/json" id="sa-meta">   one json-c object
 *     <script type="application/json" id="sa-images">  [row, row, ...]
 *     <script>page.js</script>
 *
 * page.css, page.html and page.js are embedded in the library when it is
 * built (embed.py makes report/page_assets.h from them); this file writes
 * their bytes and hashes the style sheet and the script for the page's
 * Content-Security-Policy, so they may be edited freely.  Rules for
 * page.js: it never sets innerHTML or inserts markup; every text from the
 * data (image ids, class names, paths) goes in through textContent,
 * attribute properties or URL-encoding.  It must not contain "</" (it
 * would end the script element; embed.py refuses it).  README.md here has
 * the rest.
 *
 * The meta object is small (dataset, parameters, totals, run, classes, the
 * top pairs, the evaluation, the first skipped images: the sections of
 * report.json, from shared.c)
 * and is built with json-c.  The image rows are streamed, one line per
 * image in rank order, so memory does not grow with the number of images.
 * A row is an array whose fields are named, in order, by meta.row (see
 * row_head and row_tail below).
 *
 * Safety: image ids, class names and paths are untrusted.  Every string in
 * the JSON blocks is escaped so that '<', '>' and '&' never appear raw
 * (no "</script" or "<!--" can end or confuse the data element) and any
 * invalid UTF-8 becomes U+FFFD.  The script inserts all of them with
 * textContent.  The page's Content-Security-Policy allows only its own
 * style sheet and script (by SHA-256 hash) and images from the report's
 * own folder. */
#include <errno.h>
#include <json-c/json.h>
#include <nettle/base64.h>
#include <nettle/sha2.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segaudit/segaudit.h"
#include "report/outfile.h"
#include "report/page_assets.h"
#include "report/shared.h"

/* Regions of an image whose details are embedded (largest first); the
 * class filter still sees the classes of every listed region. */
#define HTML_REGION_DETAIL 20
/* Given -> predicted pairs shown. */
#define HTML_TOP_PAIRS 50
/* Skipped images listed (report.json and skipped.csv list them all;
 * totals.images_skipped counts them). */
#define HTML_SKIPPED 1000

/* ---- CSP hashes ---------------------------------------------------------- */

/* "sha256-<base64>" of n bytes, for a CSP source list. */
static void csp_hash(const unsigned char *p, size_t n, char out[64])
{
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, n, p);
    sha256_digest(&c, sizeof d, d);
    char *o = out + sprintf(out, "sha256-");
    base64_encode_raw(o, sizeof d, d);
    o[BASE64_ENCODE_RAW_LENGTH(sizeof d)] = '\0';
}

/* ---- JSON text that is safe inside a <script> element ----------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
                       (p[3] & 0xc0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* Writes s.  With quote = 1, s is raw text and becomes a JSON string
 * literal; with quote = 0, s is already JSON (from json-c) and is passed
 * through.  Either way '<', '>' and '&' become \u escapes (they can only
 * occur inside strings) and invalid UTF-8 becomes U+FFFD. */
static void put_json_safe(FILE *f, const char *s, int quote)
{
    const unsigned char *p = (const unsigned char *)s;
    if (quote)
        fputc('"', f);
    while (*p) {
        unsigned c = *p;
        if (c >= 0x80) {
            size_t n = utf8_len(p);
            if (n) {
                fwrite(p, 1, n, f);
                p += n;
            } else {
                fputs("\\ufffd", f);
                p++;
            }
            continue;
        }
        if (c == '<' || c == '>' || c == '&')
            fprintf(f, "\\u%04x", c);
        else if (!quote)
            fputc((int)c, f);
        else if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc((int)c, f);
        p++;
    }
    if (quote)
        fputc('"', f);
}

static void put_num(FILE *f, int has, double v)
{
    char buf[SA_NUM_LEN];
    if (!has || !isfinite(v)) {
        fputs("null", f);
        return;
    }
    sa_fmt_double(buf, v);
    fputs(buf, f);
}

/* ---- the meta object --------------------------------------------------- */

/* The fields of an image row, in order.  The baselines
 * (sa_baseline_scores) follow flagged; region_list holds up to
 * HTML_REGION_DETAIL regions as [area, x, y, width, height, given,
 * predicted, mean s, mean p̂]; classes is the sorted set of given and
 * predicted classes of every listed region. */
static const char *const row_head[] = {
    "rank", "image", "index", "softmin", "num_pixel_issues", "issue_pixels",
    "valid_pixels", "regions", "largest_region", "region_mass", "flagged"};
static const char *const row_tail[] = {
    "mislabeled", "has_overlay", "regions_listed", "region_list", "classes"};

/* The meta object, or NULL when out of memory.  Its dataset, parameters,
 * totals, run, classes, pairs and evaluation are report.json's (shared.c),
 * skipped is as report.c writes it; parameters adds min_region_area, pairs
 * holds the first
 * HTML_TOP_PAIRS of n_pairs, skipped the first HTML_SKIPPED of
 * totals.images_skipped. */
static json_object *build_meta(SegauditAudit *a, const char *dir,
                               const char *overlays_rel)
{
    const SegauditSettings *s = segaudit_audit_settings(a);
    SaJson j = {0};
    json_object *root = sa_json_object(&j);
    sa_json_set(&j, root, "version", sa_json_str(&j, segaudit_version()));

    json_object *row = sa_json_array(&j);
    for (size_t i = 0; i < sizeof row_head / sizeof row_head[0]; i++)
        sa_json_push(&j, row, sa_json_str(&j, row_head[i]));
    json_object *bl = sa_json_array(&j);
    for (size_t i = 0; i < SA_N_BASELINES; i++) {
        const char *name = segaudit_score_name(sa_baseline_scores[i]);
        sa_json_push(&j, row, sa_json_str(&j, name));
        sa_json_push(&j, bl, sa_json_str(&j, name));
    }
    for (size_t i = 0; i < sizeof row_tail / sizeof row_tail[0]; i++)
        sa_json_push(&j, row, sa_json_str(&j, row_tail[i]));
    sa_json_set(&j, root, "row", row);
    sa_json_set(&j, root, "baselines", bl);

    sa_json_set(&j, root, "dataset", sa_json_dataset(&j, a));
    sa_json_set(&j, root, "warnings", sa_json_warnings(&j, a));
    sa_json_set(&j, root, "skipped", sa_json_skipped(&j, a, HTML_SKIPPED));
    /* changes since an earlier audit (segaudit_report_diff into dir) */
    {
        char cp[4096];
        struct stat cst;
        snprintf(cp, sizeof cp, "%s/changes.json", dir);
        if (stat(cp, &cst) == 0 && S_ISREG(cst.st_mode)) {
            json_object *ch = json_object_from_file(cp);
            if (ch)
                sa_json_set(&j, root, "changes", ch);
        }
    }
    json_object *par = sa_json_parameters(&j, a);
    sa_json_set(&j, par, "min_region_area",
                sa_json_u64(&j, s->min_region_area));
    sa_json_set(&j, root, "parameters", par);
    json_object *tot = sa_json_object(&j);
    sa_json_totals(&j, tot, a);
    sa_json_set(&j, root, "totals", tot);
    sa_json_set(&j, root, "run", sa_json_run(&j, a));
    sa_json_set(&j, root, "classes", sa_json_classes(&j, a));
    sa_json_set(&j, root, "pairs", sa_json_pairs(&j, a, HTML_TOP_PAIRS));
    sa_json_set(&j, root, "n_pairs",
                sa_json_u64(&j, segaudit_audit_n_pairs(a)));
    sa_json_set(&j, root, "evaluation",
                segaudit_audit_has_truth(a) ? sa_json_evaluation(&j, a)
                                            : NULL);
    sa_json_set(&j, root, "overlays",
                overlays_rel ? sa_json_str(&j, overlays_rel) : NULL);
    if (j.oom) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

/* ---- the image rows ---------------------------------------------------- */

typedef struct RowCtx {
    SegauditAudit *a;
    uint32_t K;
    int has_truth;
    const char *dir, *overlays_rel;
    char *path;       /* <dir>/<overlays_rel>/<id>.png, grown as needed */
    size_t path_cap;
    uint8_t *mark;    /* K flags: class seen in this image's regions */
    uint32_t *seen;   /* the classes flagged, to sort and clear */
    uint32_t n_seen;
} RowCtx;

/* 1 when the image's overlay file exists, 0 when not, -1 when out of
 * memory. */
static int has_overlay(RowCtx *c, const char *id)
{
    if (!c->overlays_rel)
        return 0;
    size_t n = strlen(c->dir) + strlen(c->overlays_rel) + strlen(id) + 8;
    if (n > c->path_cap) {
        char *p = realloc(c->path, n * 2);
        if (!p)
            return -1;
        c->path = p;
        c->path_cap = n * 2;
    }
    snprintf(c->path, c->path_cap, "%s/%s/%s.png", c->dir, c->overlays_rel,
             id);
    struct stat st;
    return stat(c->path, &st) == 0 && S_ISREG(st.st_mode);
}

static void see_class(RowCtx *c, uint32_t k)
{
    if (k < c->K && !c->mark[k]) {
        c->mark[k] = 1;
        c->seen[c->n_seen++] = k;
    }
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

static int write_row(RowCtx *c, FILE *f, uint64_t r)
{
    SegauditImageResult im;
    memset(&im, 0, sizeof im);
    uint64_t idx = segaudit_audit_ranked(c->a, r);
    segaudit_audit_image(c->a, idx, &im);

    fprintf(f, "%s[%llu,", r ? ",\n" : "", (unsigned long long)im.rank);
    put_json_safe(f, im.id ? im.id : "", 1);
    fprintf(f, ",%llu,", (unsigned long long)im.index);
    put_num(f, im.has_score, im.softmin);
    fputc(',', f);
    put_num(f, im.has_score, im.num_pixel_issues);
    fprintf(f, ",%llu,%llu,%llu,%llu", (unsigned long long)im.issue_pixels,
            (unsigned long long)im.valid_pixels,
            (unsigned long long)im.regions,
            (unsigned long long)im.largest_region);
    fputc(',', f);
    put_num(f, 1, im.region_mass);
    fprintf(f, ",%d", im.flagged);
    for (size_t i = 0; i < SA_N_BASELINES; i++) {
        fputc(',', f);
        put_num(f, im.has_score, im.score[sa_baseline_scores[i]]);
    }
    if (c->has_truth)
        fprintf(f, ",%d", segaudit_audit_truth(c->a, idx) > 0);
    else
        fputs(",null", f);
    uint64_t nr = segaudit_audit_n_regions(c->a, idx);
    int overlay = has_overlay(c, im.id ? im.id : "");
    if (overlay < 0)
        return SEGAUDIT_ENOMEM;
    fprintf(f, ",%d,%llu,[", overlay, (unsigned long long)nr);
    c->n_seen = 0;
    for (uint64_t j = 0; j < nr; j++) {
        SegauditRegion g;
        int rc = segaudit_audit_region(c->a, idx, j, &g);
        if (rc)
            return rc;
        see_class(c, g.given);
        see_class(c, g.predicted);
        if (j >= HTML_REGION_DETAIL)
            continue;
        fprintf(f, "%s[%llu,%u,%u,%u,%u,%u,%u,", j ? "," : "",
                (unsigned long long)g.area, g.x, g.y, g.width, g.height,
                g.given, g.predicted);
        /* Shown with 4 digits, never sorted on: 6 are plenty. */
        if (isfinite(g.mean_self_confidence))
            fprintf(f, "%.6g,", g.mean_self_confidence);
        else
            fputs("null,", f);
        if (isfinite(g.mean_predicted_prob))
            fprintf(f, "%.6g]", g.mean_predicted_prob);
        else
            fputs("null]", f);
    }
    fputs("],[", f);
    qsort(c->seen, c->n_seen, sizeof *c->seen, cmp_u32);
    for (uint32_t i = 0; i < c->n_seen; i++) {
        fprintf(f, "%s%u", i ? "," : "", c->seen[i]);
        c->mark[c->seen[i]] = 0;
    }
    fputs("]]", f);
    return 0;
}

/* ---- the page ---------------------------------------------------------- */

int segaudit_report_write_html(SegauditAudit *a, const char *dir,
                               const char *overlays_rel, char *errbuf,
                               size_t errlen)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    if (errlen)
        errbuf[0] = '\0';

    RowCtx rc_ = {0};
    RowCtx *c = &rc_;
    c->a = a;
    c->K = in.n_classes;
    c->has_truth = segaudit_audit_has_truth(a);
    c->dir = dir;
    c->overlays_rel = overlays_rel;
    c->mark = calloc(in.n_classes ? in.n_classes : 1, 1);
    c->seen = malloc((in.n_classes ? in.n_classes : 1) * sizeof *c->seen);
    json_object *meta = build_meta(a, dir, overlays_rel);
    const char *meta_txt =
        meta ? json_object_to_json_string_ext(
                   meta, JSON_C_TO_STRING_PLAIN |
                             JSON_C_TO_STRING_NOSLASHESCAPE)
             : NULL;
    if (!c->mark || !c->seen || !meta_txt) {
        free(c->mark);
        free(c->seen);
        json_object_put(meta);
        snprintf(errbuf, errlen, "out of memory");
        return SEGAUDIT_ENOMEM;
    }

    char css_hash[64], js_hash[64];
    csp_hash(sa_page_css, sa_page_css_len, css_hash);
    csp_hash(sa_page_js, sa_page_js_len, js_hash);

    SaOut o;
    int rc = sa_out_open(&o, dir, "report.html", errbuf, errlen);
    if (rc == 0) {
        FILE *f = o.f;
        fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
              "<meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, "
              "initial-scale=1\">\n", f);
        fprintf(f,
                "<meta http-equiv=\"Content-Security-Policy\" content=\""
                "default-src 'none'; script-src '%s'; style-src '%s'; "
                "img-src 'self' file: data:; base-uri 'none'; "
                "form-action 'none'\">\n",
                js_hash, css_hash);
        fputs("<meta name=\"generator\" content=\"segaudit ", f);
        fputs(segaudit_version(), f);
        fputs("\">\n<title>segaudit report</title>\n"
              "<link rel=\"icon\" href=\"data:,\">\n<style>", f);
        fwrite(sa_page_css, 1, sa_page_css_len, f);
        fputs("</style>\n</head>\n<body>\n", f);
        fwrite(sa_page_html, 1, sa_page_html_len, f);
        fputs("<script type=\"application/json\" id=\"sa-meta\">", f);
        put_json_safe(f, meta_txt, 0);
        fputs("</script>\n<script type=\"application/json\" "
              "id=\"sa-images\">[\n", f);
        for (uint64_t r = 0; r < in.n_images - in.images_skipped && rc == 0;
             r++) {
            rc = write_row(c, f, r);
            if (rc == 0 && ferror(f))
                rc = SEGAUDIT_EIO; /* disk full: stop early */
        }
        if (rc == 0) {
            fputs("\n]</script>\n<script>", f);
            fwrite(sa_page_js, 1, sa_page_js_len, f);
            fputs("</script>\n</body>\n</html>\n", f);
        } else if (ferror(f)) {
            snprintf(errbuf, errlen, "%s: write failed: %s", o.final,
                     strerror(errno ? errno : EIO));
        } else if (rc == SEGAUDIT_ENOMEM) {
            snprintf(errbuf, errlen, "%s: out of memory", o.final);
        } else {
            snprintf(errbuf, errlen, "%s", segaudit_audit_error(a));
        }
    }
    int crc = sa_out_close(&o, rc == 0, errbuf, errlen);
    if (rc == 0)
        rc = crc;
    json_object_put(meta);
    free(c->mark);
    free(c->seen);
    free(c->path);
    return rc;
}
