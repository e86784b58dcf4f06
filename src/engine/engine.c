/* Opening and closing the engine: the prediction tensor, the image ids,
 * the label paths, the per-image and per-class state and the record
 * stores; the passes in their order.  Runs on the calling thread. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/engine.h"

void sa_engine_init(SaEngine *e)
{
    memset(e, 0, sizeof *e);
    /* a store that was never set up must own no descriptor (zeroed memory
     * would make it fd 0) */
    sa_recstore_init(&e->store, 0, NULL);
    sa_recstore_init(&e->store2, 0, NULL);
    sa_recstore_init(&e->regions, 0, NULL);
}

/* ---- the passes ---------------------------------------------------------- */

int sa_engine_pass1(SaEngine *e)
{
    int rc = sa_engine_read_pass(e, SA_REC_PASS1, 0, 0);
    if (rc == 0)
        rc = sa_recstore_finish(&e->store, e->err);
    if (rc)
        return rc;
    for (uint32_t k = 0; k < e->K; k++) {
        SaClass *c = &e->classes[k];
        double t = c->count ? c->sum / (double)c->count : 0.0;
        c->threshold = t > 2e-6 ? t : 2e-6;
    }
    return 0;
}

int sa_engine_pass2(SaEngine *e, SegauditPair **pairs, uint64_t *npairs)
{
    int rc = sa_engine_issues(e, pairs, npairs);
    if (rc)
        return rc;
    for (uint64_t n = 0; n < e->N; n++) {
        SaImage *im = &e->images[n];
        im->score[SEGAUDIT_SCORE_NUM_PIXEL_ISSUES] =
            im->valid_pixels
                ? 1.0 - (double)im->issue_pixels / im->valid_pixels
                : NAN;
    }
    return 0;
}

void sa_engine_release_inputs(SaEngine *e)
{
    if (e->probs) {
        e->bytes_read = sa_probs_bytes_read(e->probs);
        e->read_path = sa_probs_read_path(e->probs);
    }
    sa_probs_close(e->probs);
    e->probs = NULL;
    sa_recstore_free(&e->store);
    sa_recstore_free(&e->store2);
}

/* ---- ids and label files ---------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Ids from the sorted label file names, when the HDF5 file has none. */
static int ids_from_labels(SaEngine *e)
{
    const char *dir = e->set.labels_dir, *suf = e->set.label_suffix;
    size_t slen = strlen(suf);
    DIR *d = opendir(dir);
    if (!d)
        return sa_err(e->err, SEGAUDIT_EINPUT, "%s: cannot open the label "
                      "folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= slen ||
            strcmp(de->d_name + len - slen, suf) != 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        names[n] = strndup(de->d_name, len - slen);
        if (!names[n]) {
            rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n != e->N)
        rc = sa_err(e->err, SEGAUDIT_EINPUT,
                    "%s: %zu label files end in '%s' but %s:%s has N=%llu "
                    "images and no /image_ids (give ids with --ids)",
                    dir, n, suf, e->probs_path, e->probs_dataset,
                    (unsigned long long)e->N);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    qsort(names, n, sizeof *names, cmp_str);
    e->ids = names;
    return 0;
}

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

static int label_paths(SaEngine *e)
{
    e->label_paths = calloc(e->N, sizeof(char *));
    if (!e->label_paths)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < e->N; i++) {
        size_t len = strlen(e->set.labels_dir) + strlen(e->ids[i]) +
                     strlen(e->set.label_suffix) + 2;
        char *p = malloc(len);
        if (!p)
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        snprintf(p, len, "%s/%s%s", e->set.labels_dir, e->ids[i],
                 e->set.label_suffix);
        e->label_paths[i] = p;
        struct stat st;
        if (stat(p, &st) != 0) {
            SaErr me;
            sa_err_clear(&me);
            int rc = sa_err(&me, SEGAUDIT_EINPUT,
                            "%s: missing label file for image '%s' (index "
                            "%llu): %s",
                            p, e->ids[i], (unsigned long long)i,
                            strerror(errno));
            if (!e->set.on_error_skip)
                return sa_err(e->err, rc, "%s", me.msg);
            if ((rc = sa_engine_skip(e, i, me.msg)) != 0)
                return rc;
        }
    }
    return 0;
}

int sa_engine_open(SaEngine *e, const SegauditSettings *set, SaErr *err)
{
    int rc;
    uint64_t dims[4];

    e->set = *set;
    e->err = err;
    e->probs_path = set->probs_path;
    e->probs_dataset = set->probs_dataset;
    sa_probs_allow_plugins(set->allow_plugins);
    if ((rc = sa_probs_open(&e->probs, e->probs_path, e->probs_dataset,
                            e->err)) != 0)
        return rc;
    sa_probs_dims(e->probs, dims);
    e->N = dims[0];
    e->K = (uint32_t)dims[1];
    e->H = dims[2];
    e->W = dims[3];
    e->f = (uint32_t)e->set.downsample;
    e->elsize = sa_probs_elsize(e->probs);
    e->dtype = sa_probs_dtype(e->probs);
    snprintf(e->dtype_name, sizeof e->dtype_name, "%s",
             sa_probs_dtype_name(e->probs));
    e->layout = strdup(sa_probs_layout(e->probs));
    if (!e->layout)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    if (e->N > UINT32_MAX || e->H > UINT32_MAX || e->W > UINT32_MAX ||
        e->H > UINT32_MAX / e->W || e->K > 65535)
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "%s:%s: shape (%llu,%u,%llu,%llu) is too large (at "
                      "most 2^32-1 images, 2^32-1 pixels per image, 65535 "
                      "classes)",
                      e->probs_path, e->probs_dataset,
                      (unsigned long long)e->N, e->K,
                      (unsigned long long)e->H, (unsigned long long)e->W);
    if (e->H % e->f || e->W % e->f)
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "%s:%s: image size %llux%llu (HxW) is not divisible "
                      "by --downsample %u",
                      e->probs_path, e->probs_dataset,
                      (unsigned long long)e->H, (unsigned long long)e->W,
                      e->f);
    if (e->set.n_class_names && (uint32_t)e->set.n_class_names != e->K)
        return sa_err(e->err, SEGAUDIT_EINVAL,
                      "%d class names were given but %s:%s has K=%u classes",
                      e->set.n_class_names, e->probs_path, e->probs_dataset,
                      e->K);

    if (e->set.palette && (uint32_t)e->set.n_palette < e->K)
        return sa_err(e->err, SEGAUDIT_EINVAL,
                      "the palette has %d colours but %s:%s has K=%u "
                      "classes",
                      e->set.n_palette, e->probs_path, e->probs_dataset,
                      e->K);

    int found = 0;
    if ((rc = sa_probs_read_ids(e->probs, e->set.ids_dataset, &e->ids,
                                &found, e->err)) != 0)
        return rc;
    e->ids_source = found ? SA_IDS_DATASET : SA_IDS_NAMES;
    if (!found && (rc = ids_from_labels(e)) != 0)
        return rc;
    e->skipped = calloc(e->N, 1);
    if (!e->skipped)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    e->fold_image = UINT64_MAX;
    if ((rc = check_ids(e)) != 0 || (rc = label_paths(e)) != 0)
        return rc;

    e->ignored = calloc(65536, 1);
    e->images = calloc(e->N, sizeof *e->images);
    e->classes = calloc(e->K, sizeof *e->classes);
    e->hist = calloc(SA_HIST_BUCKETS, sizeof *e->hist);
    e->cur.labeled = calloc(3 * (size_t)e->K, sizeof(uint64_t));
    if (!e->ignored || !e->images || !e->classes || !e->hist ||
        !e->cur.labeled)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    e->cur.correct = e->cur.labeled + e->K;
    e->cur.pred = e->cur.labeled + 2 * (size_t)e->K;
    e->snap_sum = malloc(e->K * sizeof *e->snap_sum);
    e->snap_count = malloc(2 * (size_t)e->K * sizeof *e->snap_count);
    if (!e->snap_sum || !e->snap_count)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    e->snap_pixels = e->snap_count + e->K;
    for (int i = 0; i < e->set.n_ignore; i++)
        e->ignored[e->set.ignore_index[i]] = 1;
    for (uint64_t n = 0; n < e->N; n++) {
        sa_softmin_init(&e->images[n].softmin);
        e->images[n].min_s = INFINITY;
    }

    e->n_threads = e->set.n_threads > 0 ? e->set.n_threads
                                        : omp_get_num_procs();
    if (e->n_threads < 1)
        e->n_threads = 1;
    uint64_t band_bytes = e->set.band_bytes ? e->set.band_bytes
                                            : (uint64_t)1 << 20;
    uint64_t row_bytes = (uint64_t)e->K * e->W * e->elsize;
    uint64_t rows = band_bytes / row_bytes / e->f * e->f;
    /* compressed chunks read by the workers: whole chunk rows per band, so
     * that no chunk is inflated twice */
    uint64_t unit = sa_probs_band_unit(e->probs);
    if (unit) {
        uint64_t a = unit, b = e->f;
        while (b) {
            uint64_t t = a % b;
            a = b;
            b = t;
        }
        uint64_t lcm = unit / a * e->f;
        rows = rows >= lcm ? rows / lcm * lcm : lcm;
    }
    if (rows < e->f)
        rows = e->f;
    if (rows > e->H)
        rows = e->H;
    e->band_rows = (uint32_t)rows;
    if ((rc = sa_probs_plan_band_rows(e->probs, rows, e->err)) != 0)
        return rc;
    sa_recstore_init(&e->store, e->set.memory_limit, e->set.scratch_dir);
    sa_recstore_init(&e->store2, e->set.memory_limit, e->set.scratch_dir);
    uint64_t reg_limit = e->set.memory_limit / 8;
    sa_recstore_init(&e->regions, reg_limit > 65536 ? reg_limit : 65536,
                     e->set.scratch_dir);
    return 0;
}

void sa_engine_free(SaEngine *e)
{
    sa_probs_close(e->probs);
    e->probs = NULL;
    if (e->ids)
        sa_free_ids(e->ids, e->N);
    e->ids = NULL;
    if (e->label_paths)
        for (uint64_t i = 0; i < e->N; i++)
            free(e->label_paths[i]);
    free(e->label_paths);
    e->label_paths = NULL;
    free(e->ignored);
    free(e->images);
    free(e->classes);
    free(e->hist);
    free(e->cur.labeled);
    e->cur.labeled = NULL;
    free(e->snap_sum);
    free(e->snap_count);
    e->snap_sum = NULL;
    e->snap_count = NULL;
    e->ignored = NULL;
    e->images = NULL;
    e->classes = NULL;
    e->hist = NULL;
    sa_recstore_free(&e->store);
    sa_recstore_free(&e->store2);
    sa_recstore_free(&e->regions);
    free(e->layout);
    e->layout = NULL;
    for (uint64_t i = 0; i < e->n_skipped; i++)
        free(e->skips[i].reason);
    free(e->skips);
    free(e->skipped);
    e->skips = NULL;
    e->skipped = NULL;
    e->n_skipped = 0;
}

