/* The labels and the image ids: where the label maps come from (a folder of
 * PNGs, searched recursively, or one (N,H,W) integer array in a .npy or
 * HDF5 file), the label map applied to their values, the ids (from the
 * tensor file, a text file, the sorted label file names, or the image
 * indices), and the reading of label rows for the passes and the overlays.
 * Runs on the driving thread, except sa_labels_read with a reader of an
 * overlay slot (then the array reads are serialised). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nettle/sha2.h>

#include "engine/engine.h"
#include "io/label_array.h"
#include "io/png_io.h"
#include "io/text_in.h"

/* ---- the label folder: every file with the suffix, recursively --------- */

typedef struct Found {
    char *name; /* file name without the suffix: the id */
    char *path;
} Found;

typedef struct Scan {
    Found *v;
    size_t n, cap;
} Scan;

static void scan_free(Scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].path);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

#define MAX_DEPTH 32

/* Adds the label files under dir to s.  Hidden entries are skipped;
 * symbolic links to folders are not followed (no loops), links to files
 * are taken. */
static int scan_dir(SaEngine *e, Scan *s, const char *dir, int depth)
{
    const char *suf = e->set.label_suffix;
    size_t slen = strlen(suf);
    DIR *d = opendir(dir);
    if (!d)
        return sa_err(e->err, SEGAUDIT_EINPUT, "%s: cannot open the label "
                      "folder: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.')
            continue;
        size_t len = strlen(nm), dl = strlen(dir);
        char *path = malloc(dl + len + 2);
        if (!path) {
            rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
            break;
        }
        snprintf(path, dl + len + 2, "%s/%s", dir, nm);
        struct stat st;
        int isdir = 0;
        if (de->d_type == DT_DIR)
            isdir = 1;
        else if (de->d_type == DT_UNKNOWN && lstat(path, &st) == 0)
            isdir = S_ISDIR(st.st_mode);
        if (isdir) {
            if (depth >= MAX_DEPTH)
                rc = sa_err(e->err, SEGAUDIT_EINPUT, "%s: label folders "
                            "nested more than %d deep", path, MAX_DEPTH);
            else
                rc = scan_dir(e, s, path, depth + 1);
            free(path);
            continue;
        }
        if (len <= slen || strcmp(nm + len - slen, suf) != 0) {
            free(path);
            continue;
        }
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 256;
            Found *nv = realloc(s->v, cap * sizeof *nv);
            if (!nv) {
                free(path);
                rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
                break;
            }
            s->v = nv;
            s->cap = cap;
        }
        s->v[s->n].path = path;
        s->v[s->n].name = strndup(nm, len - slen);
        if (!s->v[s->n].name) {
            free(path);
            rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
            break;
        }
        s->n++;
    }
    closedir(d);
    return rc;
}

static int cmp_found(const void *a, const void *b)
{
    const Found *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->path, y->path);
}

static int cmp_found_id(const void *a, const void *b)
{
    return strcmp(((const Found *)a)->name, ((const Found *)b)->name);
}

/* Scans the label folder into s, sorted by id; two files with one id are
 * an error naming both. */
static int scan_labels(SaEngine *e, Scan *s)
{
    int rc = scan_dir(e, s, e->set.labels_dir, 0);
    if (rc)
        return rc;
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, cmp_found);
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->v[i - 1].name, s->v[i].name) == 0)
            return sa_err(e->err, SEGAUDIT_EINPUT, "two label files for "
                          "image '%s': %s and %s (ids are the file names "
                          "without '%s' and must be unique)",
                          s->v[i].name, s->v[i - 1].path, s->v[i].path,
                          e->set.label_suffix);
    return 0;
}

/* ---- ids ---------------------------------------------------------------- */

static char **ids_alloc(SaEngine *e)
{
    char **ids = calloc(e->N ? e->N : 1, sizeof *ids);
    if (!ids)
        sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    return ids;
}

/* Ids from the sorted label file names. */
static int ids_from_scan(SaEngine *e, const Scan *s)
{
    if (s->n != e->N)
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "%s: %zu label files end in '%s' but %s has N=%llu "
                      "images and no ids (give them with --ids)",
                      e->set.labels_dir, s->n, e->set.label_suffix,
                      e->probs_path, (unsigned long long)e->N);
    if (!(e->ids = ids_alloc(e)))
        return SEGAUDIT_ENOMEM;
    for (uint64_t i = 0; i < e->N; i++)
        if (!(e->ids[i] = strdup(s->v[i].name)))
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    e->ids_source = SA_IDS_NAMES;
    return 0;
}

/* Ids "0", "1", ... zero-padded to one width (labels in an array). */
static int ids_from_index(SaEngine *e)
{
    if (!(e->ids = ids_alloc(e)))
        return SEGAUDIT_ENOMEM;
    int width = snprintf(NULL, 0, "%llu",
                         (unsigned long long)(e->N ? e->N - 1 : 0));
    for (uint64_t i = 0; i < e->N; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%0*llu", width, (unsigned long long)i);
        if (!(e->ids[i] = strdup(buf)))
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    }
    e->ids_source = SA_IDS_INDEX;
    return 0;
}

/* --ids FILE: one id per line. */
static int ids_from_text(SaEngine *e, const char *path)
{
    char **ids = NULL;
    uint64_t n = 0;
    int rc = sa_ids_text_read(path, &ids, &n, e->err);
    if (rc)
        return rc;
    if (n != e->N) {
        sa_free_strings(ids, n);
        return sa_err(e->err, SEGAUDIT_EINPUT, "%s: %llu ids but %s has "
                      "N=%llu images", path, (unsigned long long)n,
                      e->probs_path, (unsigned long long)e->N);
    }
    e->ids = ids;
    e->ids_source = SA_IDS_TEXT;
    return 0;
}

/* Does path name a regular file (and so not a dataset of the tensor)? */
int sa_regular_file(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* An id that carries the label suffix is a file name, not an id. */
static int check_suffix(SaEngine *e)
{
    const char *suf = e->set.label_suffix;
    size_t slen = strlen(suf);
    if (e->labarr || slen == 0)
        return 0;
    for (uint64_t i = 0; i < e->N; i++) {
        size_t len = strlen(e->ids[i]);
        if (len > slen && strcmp(e->ids[i] + len - slen, suf) == 0)
            return sa_err(e->err, SEGAUDIT_EINPUT, "image id %llu ('%s') "
                          "ends in the label suffix '%s': ids are the label "
                          "file names without it (strip '%s' from the ids, "
                          "or give the part before it with --label-suffix)",
                          (unsigned long long)i, e->ids[i], suf, suf);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Ids must be unique and safe as file names. */
static int check_ids(SaEngine *e)
{
    for (uint64_t i = 0; i < e->N; i++) {
        const char *id = e->ids[i];
        int bad = !*id || strcmp(id, ".") == 0 || strcmp(id, "..") == 0;
        for (const char *c = id; !bad && *c; c++)
            bad = *c == '/' || *c == '\\' || (unsigned char)*c < 32 ||
                  *c == 127;
        if (bad)
            return sa_err(e->err, SEGAUDIT_EINPUT,
                          "%s: image id %llu ('%s') is empty or holds '/', "
                          "'\\', '..' or a control character; it cannot "
                          "name a file",
                          e->probs_path, (unsigned long long)i, id);
    }
    char **sorted = malloc(e->N * sizeof *sorted);
    if (!sorted)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    memcpy(sorted, e->ids, e->N * sizeof *sorted);
    qsort(sorted, e->N, sizeof *sorted, cmp_str);
    int rc = 0;
    for (uint64_t i = 1; i < e->N; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            rc = sa_err(e->err, SEGAUDIT_EINPUT,
                        "%s: image id '%s' appears more than once",
                        e->probs_path, sorted[i]);
            break;
        }
    free(sorted);
    return rc;
}

/* ---- opening ------------------------------------------------------------ */

static int load_label_map(SaEngine *e)
{
    const char *m = e->set.label_map;
    if (!m)
        return 0;
    e->label_map = malloc(SA_LABEL_MAP_SIZE * sizeof *e->label_map);
    if (!e->label_map)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint32_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        e->label_map[v] = (uint16_t)v;
    if (sa_regular_file(m) || strchr(m, '/') || strchr(m, '.'))
        return sa_label_map_read(m, e->label_map, e->err);
    return sa_label_map_preset(m, e->label_map, e->err);
}

/* Splits "file.h5:/dataset" when the whole string is not a file. */
static int array_source(SaEngine *e, char **file, const char **dataset)
{
    const char *p = e->set.labels_dir;
    *file = NULL;
    *dataset = e->set.labels_dataset;
    struct stat st;
    if (stat(p, &st) != 0) {
        int why = errno;
        /* "file.h5:/dataset", when the whole is not a file */
        const char *colon = strrchr(p, ':');
        if (colon && colon != p) {
            char *f = strndup(p, (size_t)(colon - p));
            if (!f)
                return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
            if (sa_regular_file(f)) {
                *file = f;
                *dataset = colon + 1;
                return 1;
            }
            free(f);
        }
        return sa_err(e->err, SEGAUDIT_EINPUT, "%s: no such label folder "
                      "or file (%s)", p, strerror(why));
    }
    if (S_ISDIR(st.st_mode))
        return 0;
    if (!S_ISREG(st.st_mode))
        return sa_err(e->err, SEGAUDIT_EINPUT, "%s: the labels must be a "
                      "folder of PNGs, a .npy file or an HDF5 file", p);
    if (!(*file = strdup(p)))
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    return 1;
}

/* One array of all the labels: the caller's in memory, or in a .npy or
 * HDF5 file; then its size and, unless found already, the ids. */
static int open_label_array(SaEngine *e, int ids_found, const char *file,
                            const char *dataset)
{
    int rc = e->set.labels_array
                 ? sa_label_array_open_mem(&e->labarr, e->set.labels_array,
                                           e->set.labels_dir, e->err)
                 : sa_label_array_open(&e->labarr, file, dataset, e->err);
    if (rc)
        return rc;
    uint64_t d[3];
    sa_label_array_dims(e->labarr, d);
    if (d[0] != e->N)
        return sa_err(e->err, SEGAUDIT_EINPUT, "%s: %llu label maps but "
                      "%s has N=%llu images", e->set.labels_dir,
                      (unsigned long long)d[0], e->probs_path,
                      (unsigned long long)e->N);
    e->label_h = d[1];
    e->label_w = d[2];
    if (!ids_found) {
        const char *idf = e->set.ids_dataset;
        rc = idf ? ids_from_text(e, idf) : ids_from_index(e);
    }
    return rc ? rc : check_ids(e);
}

int sa_labels_open(SaEngine *e, int ids_found)
{
    int rc = load_label_map(e);
    if (rc)
        return rc;
    if (e->set.labels_array) {
        /* messages name the array as the caller's argument */
        e->set.labels_dir = "labels";
        return open_label_array(e, ids_found, NULL, NULL);
    }
    char *file = NULL;
    const char *dataset = NULL;
    rc = array_source(e, &file, &dataset);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        rc = open_label_array(e, ids_found, file, dataset);
        free(file);
        return rc;
    }

    /* a folder of label PNGs */
    Scan s = {0};
    if ((rc = scan_labels(e, &s)) != 0)
        goto done;
    if (!ids_found) {
        const char *idf = e->set.ids_dataset;
        rc = idf ? ids_from_text(e, idf) : ids_from_scan(e, &s);
        if (rc)
            goto done;
    }
    if ((rc = check_ids(e)) != 0 || (rc = check_suffix(e)) != 0)
        goto done;
    e->label_paths = calloc(e->N ? e->N : 1, sizeof(char *));
    if (!e->label_paths) {
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        goto done;
    }
    for (uint64_t i = 0; i < e->N && rc == 0; i++) {
        Found key = {e->ids[i], NULL};
        Found *f = s.n ? bsearch(&key, s.v, s.n, sizeof *s.v, cmp_found_id)
                       : NULL;
        if (f) {
            e->label_paths[i] = f->path;
            f->path = NULL;
            continue;
        }
        size_t len = strlen(e->set.labels_dir) + strlen(e->ids[i]) +
                     strlen(e->set.label_suffix) + 2;
        if (!(e->label_paths[i] = malloc(len))) {
            rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
            break;
        }
        snprintf(e->label_paths[i], len, "%s/%s%s", e->set.labels_dir,
                 e->ids[i], e->set.label_suffix);
        SaErr me;
        sa_err_clear(&me);
        rc = sa_err(&me, SEGAUDIT_EINPUT, "%s: missing label file for image "
                    "'%s' (index %llu): no file '%s%s' in the folder or "
                    "below it", e->label_paths[i], e->ids[i],
                    (unsigned long long)i, e->ids[i], e->set.label_suffix);
        if (!e->set.on_error_skip)
            rc = sa_err(e->err, rc, "%s", me.msg);
        else
            rc = sa_engine_skip(e, i, me.msg);
    }
    if (rc == 0 && e->N) {
        /* the size of the first label map, for the layout check */
        for (uint64_t i = 0; i < e->N; i++) {
            if (e->skipped[i])
                continue;
            SaLabelPng *png = NULL;
            SaErr pe;
            sa_err_clear(&pe);
            int prc = sa_label_png_open(&png, e->label_paths[i], 0, 0, &pe);
            if (prc == 0) {
                e->label_w = sa_label_png_width(png);
                e->label_h = sa_label_png_height(png);
            }
            sa_label_png_close(png);
            /* a broken file is reported (or skipped) by pass 1 */
            if (prc == SEGAUDIT_ENOMEM)
                rc = sa_err(e->err, prc, "%s", pe.msg);
            break;
        }
    }
done:
    scan_free(&s);
    return rc;
}

/* ---- label values ------------------------------------------------------ */

int sa_labels_value_error(const SaEngine *e, uint64_t image, uint32_t row,
                          uint32_t col, const uint16_t *lab, SaErr *err)
{
    uint64_t seen[65536 / 64];
    memset(seen, 0, sizeof seen);
    size_t n = sa_img_w(e, image);
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= e->K && !e->ignored[lab[i]])
            seen[lab[i] >> 6] |= (uint64_t)1 << (lab[i] & 63);
    char list[256];
    size_t len = 0;
    unsigned shown = 0, total = 0, max = 0;
    list[0] = 0;
    for (unsigned v = 0; v < 65536; v++) {
        if (!(seen[v >> 6] >> (v & 63) & 1))
            continue;
        total++;
        max = v;
        if (shown < 12 && len < sizeof list - 16) {
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%u",
                                    shown ? ", " : "", v);
            shown++;
        }
    }
    if (total > shown)
        snprintf(list + len, sizeof list - len, ", ... (%u values, up to %u)",
                 total, max);
    char where[SA_ERR_MSG / 2];
    sa_labels_describe(e, image, where, sizeof where);
    return sa_err(err, SEGAUDIT_EINPUT,
                  "%s: label %.0f at (row %u, col %u) is not a class (K=%u, "
                  "classes 0..%u) and not ignored; label values >= %u in "
                  "row %u: %s.  If the labels are dataset ids rather "
                  "than training ids, map them with --label-map (for "
                  "Cityscapes *_labelIds.png: --label-map cityscapes); if "
                  "the tensor has the wrong number of classes, check K; if "
                  "a value marks void pixels, ignore it with --ignore-index",
                  where, (double)lab[col], row, col, e->K, e->K - 1, e->K,
                  row, list);
}

/* ---- reading rows ------------------------------------------------------- */

void sa_labels_describe(const SaEngine *e, uint64_t n, char *buf, size_t len)
{
    if (e->labarr)
        snprintf(buf, len, "%s: image '%s' (index %llu)", e->set.labels_dir,
                 e->ids[n], (unsigned long long)n);
    else
        snprintf(buf, len, "%s", e->label_paths[n]);
}

/* The label digest of image n, fed in row order (rows as read: uint16 in
 * the machine's order, which is little-endian where segaudit runs). */
static int digest_rows(SaEngine *e, SaLabelReader *r, uint64_t n, uint64_t r0,
                       uint64_t nrows, const uint16_t *rows, SaErr *err)
{
    struct sha256_ctx *c = r->sha;
    if (!c && !(c = r->sha = malloc(sizeof *c)))
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    if (r0 == 0)
        sha256_init(c);
    sha256_update(c, (size_t)nrows * sa_img_w(e, n) * sizeof *rows,
                  (const uint8_t *)rows);
    if (r0 + nrows == sa_img_h(e, n)) {
        uint8_t d[SHA256_DIGEST_SIZE];
        sha256_digest(c, sizeof d, d);
        for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
            snprintf(e->images[n].label_digest + 2 * i, 3, "%02x", d[i]);
    }
    return 0;
}

int sa_labels_read(SaEngine *e, SaLabelReader *r, uint64_t n, uint64_t r0,
                   uint64_t nrows, uint16_t *dst, SaErr *err)
{
    int rc = 0;
    if (e->labarr) {
#pragma omp critical(sa_hdf5)
        rc = sa_label_array_read(e->labarr, n, r0, nrows, dst, err);
    } else {
        if (!r->png || r->image != n || r->next_row != r0) {
            sa_label_png_close(r->png);
            r->png = NULL;
            if (r0 != 0)
                return sa_err(err, SEGAUDIT_EIO, "internal: label rows of "
                              "image %llu out of order",
                              (unsigned long long)n);
            rc = sa_label_png_open(&r->png, e->label_paths[n],
                                   (uint32_t)sa_img_w(e, n),
                                   (uint32_t)sa_img_h(e, n), err);
            if (rc)
                return rc;
            r->image = n;
            r->next_row = 0;
        }
        rc = sa_label_png_read_rows(r->png, dst, (uint32_t)nrows, err);
        r->next_row += nrows;
    }
    if (rc == 0 && e->label_map) {
        size_t cnt = (size_t)nrows * sa_img_w(e, n);
        for (size_t i = 0; i < cnt; i++)
            dst[i] = e->label_map[dst[i]];
    }
    if (rc == 0 && r->digest)
        rc = digest_rows(e, r, n, r0, nrows, dst, err);
    return rc;
}

void sa_labels_reader_close(SaLabelReader *r)
{
    sa_label_png_close(r->png);
    r->png = NULL;
}

void sa_labels_reader_free(SaLabelReader *r)
{
    sa_labels_reader_close(r);
    free(r->sha);
    r->sha = NULL;
}

void sa_labels_free(SaEngine *e)
{
    sa_label_array_close(e->labarr);
    e->labarr = NULL;
    free(e->label_map);
    e->label_map = NULL;
    if (e->label_paths)
        for (uint64_t i = 0; i < e->N; i++)
            free(e->label_paths[i]);
    free(e->label_paths);
    e->label_paths = NULL;
}
