/* The public audit object: settings, the run (set-up, passes, ranking) and
 * the result accessors.  The passes themselves are in pass.c and issues.c. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/engine.h"
#include "eval/evaluate.h"
#include "io/h5_probs.h"

struct SegauditAudit {
    SaErr err;
    int ran;
    SaEngine e;
    SegauditSettings set;   /* the caller's, with strings copied below */
    char *strings[9];
    char **class_names;
    uint64_t *order;        /* image indices by rank */
    SegauditPair *pairs;
    uint64_t npairs;
    SegauditDatasetInfo info;
    uint8_t *truth;         /* N, with truth_path */
    SegauditEvaluation eval[SEGAUDIT_N_SCORES];
    char dtype[16];
    char *layout;
};

const char *segaudit_version(void) { return SEGAUDIT_VERSION_STRING; }

const char *segaudit_strerror(int code)
{
    switch (code) {
    case SEGAUDIT_OK: return "success";
    case SEGAUDIT_EINPUT: return "input error";
    case SEGAUDIT_EIO: return "I/O error";
    case SEGAUDIT_ENOMEM: return "out of memory";
    case SEGAUDIT_EINVAL: return "invalid setting";
    case SEGAUDIT_ECANCEL: return "cancelled";
    default: return "unknown error";
    }
}

void segaudit_default_settings(SegauditSettings *s)
{
    memset(s, 0, sizeof *s);
    s->label_suffix = ".png";
    s->probs_dataset = "/pred_probs";
    s->temperature = 0.1;
    s->downsample = 1;
    s->downsample_labels = SEGAUDIT_DS_LABELS_MEAN;
    s->rank_by = SEGAUDIT_RANK_SOFTMIN;
    s->memory_limit = (uint64_t)1 << 30;
    s->max_skipped = UINT64_MAX;
    s->min_region_area = 1;
    s->overlay_top = 50;
    s->overlay_width = 1024;
    s->image_suffix = ".png";
}

SegauditAudit *segaudit_audit_new(void)
{
    SegauditAudit *a = calloc(1, sizeof *a);
    if (a) {
        /* a store that was never set up must own no descriptor (calloc
         * would make it fd 0) */
        sa_recstore_init(&a->e.store, 0, NULL);
        sa_recstore_init(&a->e.store2, 0, NULL);
        sa_recstore_init(&a->e.regions, 0, NULL);
    }
    return a;
}

static void free_engine(SaEngine *e)
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
}

void segaudit_audit_free(SegauditAudit *a)
{
    if (!a)
        return;
    free_engine(&a->e);
    for (uint64_t i = 0; i < a->e.n_skipped; i++)
        free(a->e.skips[i].reason);
    free(a->e.skips);
    free(a->e.skipped);
    for (size_t i = 0; i < sizeof a->strings / sizeof a->strings[0]; i++)
        free(a->strings[i]);
    if (a->class_names)
        for (int i = 0; i < a->set.n_class_names; i++)
            free(a->class_names[i]);
    free(a->class_names);
    free(a->order);
    free(a->truth);
    free(a->pairs);
    free(a->layout);
    free(a);
}

const char *segaudit_audit_error(const SegauditAudit *a)
{
    return a ? a->err.msg : "";
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int sa_engine_skip(SaEngine *e, uint64_t n, const char *reason)
{
    if (e->skipped[n])
        return 0;
    if (e->n_skipped == e->cap_skips) {
        uint64_t cap = e->cap_skips ? 2 * e->cap_skips : 16;
        SaSkip *ns = realloc(e->skips, cap * sizeof *ns);
        if (!ns)
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        e->skips = ns;
        e->cap_skips = cap;
    }
    char *r = strdup(reason);
    if (!r)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    e->skips[e->n_skipped].image = n;
    e->skips[e->n_skipped].reason = r;
    e->n_skipped++;
    e->skipped[n] = 1;
    if (e->n_skipped > e->set.max_skipped)
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "more than %llu images skipped (--max-skipped); the "
                      "last: %s",
                      (unsigned long long)e->set.max_skipped, reason);
    return 0;
}

/* ---- set-up ------------------------------------------------------------ */

static int copy_settings(SegauditAudit *a, const SegauditSettings *s)
{
    a->set = *s;
    const char **fields[] = {&a->set.labels_dir,  &a->set.label_suffix,
                             &a->set.probs_path,  &a->set.probs_dataset,
                             &a->set.ids_dataset, &a->set.scratch_dir,
                             &a->set.masks_dir,   &a->set.truth_path};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (!*fields[i])
            continue;
        a->strings[i] = strdup(*fields[i]);
        if (!a->strings[i])
            return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
        *fields[i] = a->strings[i];
    }
    if (s->n_class_names > 0 && s->class_names) {
        a->class_names = calloc((size_t)s->n_class_names, sizeof(char *));
        if (!a->class_names)
            return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
        for (int i = 0; i < s->n_class_names; i++) {
            a->class_names[i] = strdup(s->class_names[i]);
            if (!a->class_names[i])
                return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
        }
        a->set.class_names = (const char *const *)a->class_names;
    } else {
        a->set.n_class_names = 0;
        a->set.class_names = NULL;
    }
    return 0;
}

static int validate(SaErr *err, const SegauditSettings *s)
{
    if (!s->labels_dir || !*s->labels_dir)
        return sa_err(err, SEGAUDIT_EINVAL, "no label folder given");
    if (!s->probs_path || !*s->probs_path)
        return sa_err(err, SEGAUDIT_EINVAL, "no probabilities file given");
    if (!s->label_suffix || !s->probs_dataset || !*s->probs_dataset)
        return sa_err(err, SEGAUDIT_EINVAL, "empty label suffix or dataset");
    if (!(s->temperature > 0) || !isfinite(s->temperature) ||
        !isfinite(1.0 / s->temperature))
        return sa_err(err, SEGAUDIT_EINVAL,
                      "temperature must be a positive number, got %g",
                      s->temperature);
    if (s->downsample < 1 || s->downsample > 255)
        return sa_err(err, SEGAUDIT_EINVAL,
                      "downsample must be from 1 to 255, got %d",
                      s->downsample);
    if (s->downsample_labels != SEGAUDIT_DS_LABELS_MEAN &&
        s->downsample_labels != SEGAUDIT_DS_LABELS_MODE)
        return sa_err(err, SEGAUDIT_EINVAL, "unknown downsample label rule");
    if (s->rank_by < 0 || s->rank_by >= SEGAUDIT_N_SCORES)
        return sa_err(err, SEGAUDIT_EINVAL, "unknown ranking score");
    if (s->n_ignore < 0 || s->n_ignore > SEGAUDIT_MAX_IGNORE)
        return sa_err(err, SEGAUDIT_EINVAL, "too many ignored values");
    for (int i = 0; i < s->n_ignore; i++)
        if (s->ignore_index[i] < 0 || s->ignore_index[i] > 65535)
            return sa_err(err, SEGAUDIT_EINVAL,
                          "ignored label %d is outside 0..65535",
                          s->ignore_index[i]);
    if (s->n_threads < 0)
        return sa_err(err, SEGAUDIT_EINVAL, "threads must be >= 0");
    if (s->memory_limit < 65536)
        return sa_err(err, SEGAUDIT_EINVAL,
                      "memory limit must be at least 64K");
    return 0;
}

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

static int setup(SegauditAudit *a)
{
    SaEngine *e = &a->e;
    int rc;
    uint64_t dims[4];

    e->set = a->set;
    e->err = &a->err;
    e->probs_path = a->set.probs_path;
    e->probs_dataset = a->set.probs_dataset;
    sa_probs_allow_plugins(a->set.allow_plugins);
    if ((rc = sa_probs_open(&e->probs, e->probs_path, e->probs_dataset,
                            e->err)) != 0)
        return rc;
    sa_probs_dims(e->probs, dims);
    e->N = dims[0];
    e->K = (uint32_t)dims[1];
    e->H = dims[2];
    e->W = dims[3];
    e->f = (uint32_t)a->set.downsample;
    e->elsize = sa_probs_elsize(e->probs);
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
    if (a->set.n_class_names && (uint32_t)a->set.n_class_names != e->K)
        return sa_err(e->err, SEGAUDIT_EINVAL,
                      "%d class names were given but %s:%s has K=%u classes",
                      a->set.n_class_names, e->probs_path, e->probs_dataset,
                      e->K);

    if (a->set.palette && (uint32_t)a->set.n_palette < e->K)
        return sa_err(e->err, SEGAUDIT_EINVAL,
                      "the palette has %d colours but %s:%s has K=%u "
                      "classes",
                      a->set.n_palette, e->probs_path, e->probs_dataset,
                      e->K);

    int found = 0;
    if ((rc = sa_probs_read_ids(e->probs, a->set.ids_dataset, &e->ids,
                                &found, e->err)) != 0)
        return rc;
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
    for (int i = 0; i < a->set.n_ignore; i++)
        e->ignored[a->set.ignore_index[i]] = 1;
    for (uint64_t n = 0; n < e->N; n++) {
        sa_softmin_init(&e->images[n].softmin);
        e->images[n].min_s = INFINITY;
    }

    e->n_threads = a->set.n_threads > 0 ? a->set.n_threads
                                        : omp_get_num_procs();
    if (e->n_threads < 1)
        e->n_threads = 1;
    uint64_t band_bytes = a->set.band_bytes ? a->set.band_bytes
                                            : (uint64_t)4 << 20;
    uint64_t row_bytes = (uint64_t)e->K * e->W * e->elsize;
    uint64_t rows = band_bytes / row_bytes / e->f * e->f;
    if (rows < e->f)
        rows = e->f;
    if (rows > e->H)
        rows = e->H;
    e->band_rows = (uint32_t)rows;
    if ((rc = sa_probs_plan_band_rows(e->probs, rows, e->err)) != 0)
        return rc;
    sa_recstore_init(&e->store, a->set.memory_limit, a->set.scratch_dir);
    sa_recstore_init(&e->store2, a->set.memory_limit, a->set.scratch_dir);
    uint64_t reg_limit = a->set.memory_limit / 8;
    sa_recstore_init(&e->regions, reg_limit > 65536 ? reg_limit : 65536,
                     a->set.scratch_dir);
    if (a->set.truth_path) {
        /* read before the passes, so that a bad file fails at once */
        a->truth = malloc(e->N);
        if (!a->truth)
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        rc = sa_truth_read(a->set.truth_path, e->ids, e->N, a->truth, e->err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Evaluates every score against the truth. */
static int evaluate(SegauditAudit *a)
{
    SaEngine *e = &a->e;
    double *score = malloc(e->N * sizeof *score);
    if (!score)
        return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < SEGAUDIT_N_SCORES && rc == 0; i++) {
        for (uint64_t n = 0; n < e->N; n++)
            score[n] = e->images[n].score[i];
        SaEval ev;
        rc = sa_eval_score(score, NULL, a->truth, e->N, &ev, &a->err);
        if (rc == 0) {
            SegauditEvaluation *o = &a->eval[i];
            o->score = i;
            o->images = ev.n;
            o->positives = ev.n_pos;
            o->has_ap = ev.has_ap;
            o->ap = ev.ap;
            o->has_auroc = ev.has_auroc;
            o->auroc = ev.auroc;
            o->has_precision = ev.has_prec_at_p;
            o->precision_at_p = ev.prec_at_p;
            o->hits_at_10 = sa_eval_hits_at(&ev, 10);
        }
        sa_eval_free(&ev);
    }
    free(score);
    return rc;
}

/* ---- ranking ----------------------------------------------------------- */

typedef struct RankKey {
    int skipped;
    int has;
    double score;
    uint64_t index;
} RankKey;

static int cmp_rank(const void *x, const void *y)
{
    const RankKey *a = x, *b = y;
    if (a->skipped != b->skipped)
        return a->skipped ? 1 : -1;
    if (a->has != b->has)
        return a->has ? -1 : 1;
    if (a->has && a->score != b->score)
        return a->score < b->score ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int rank_images(SegauditAudit *a)
{
    SaEngine *e = &a->e;
    RankKey *keys = malloc(e->N * sizeof *keys);
    a->order = malloc(e->N * sizeof *a->order);
    if (!keys || !a->order) {
        free(keys);
        return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
    }
    for (uint64_t n = 0; n < e->N; n++) {
        SaImage *im = &e->images[n];
        keys[n].skipped = e->skipped[n];
        keys[n].has = im->valid_pixels > 0 && !e->skipped[n];
        keys[n].score = im->score[a->set.rank_by];
        keys[n].index = n;
    }
    qsort(keys, e->N, sizeof *keys, cmp_rank);
    for (uint64_t r = 0; r < e->N; r++) {
        a->order[r] = keys[r].index;
        e->images[keys[r].index].rank = r + 1;
    }
    free(keys);
    return 0;
}

/* ---- the run ----------------------------------------------------------- */

/* The HDF5 library of Debian is built without thread safety, so two audits
 * of one process never run at the same time. */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

static int audit_run(SegauditAudit *a, const SegauditSettings *settings);

int segaudit_audit_run(SegauditAudit *a, const SegauditSettings *settings)
{
    pthread_mutex_lock(&run_lock);
    int rc = audit_run(a, settings);
    pthread_mutex_unlock(&run_lock);
    return rc;
}

static int audit_run(SegauditAudit *a, const SegauditSettings *settings)
{
    if (!a || !settings)
        return SEGAUDIT_EINVAL;
    if (a->ran)
        return sa_err(&a->err, SEGAUDIT_EINVAL,
                      "an audit object runs only once");
    a->ran = 1;
    sa_err_clear(&a->err);
    int rc = validate(&a->err, settings);
    if (rc)
        return rc;
    if ((rc = copy_settings(a, settings)) != 0)
        return rc;

    double t0 = now();
    SaEngine *e = &a->e;
    if ((rc = setup(a)) != 0)
        goto fail;

    rc = sa_engine_read_pass(e, SA_REC_PASS1, 0, 0);
    if (rc == 0)
        rc = sa_recstore_finish(&e->store, e->err);
    if (rc)
        goto fail;
    double t1 = now();

    for (uint32_t k = 0; k < e->K; k++) {
        SaClass *c = &e->classes[k];
        double t = c->count ? c->sum / (double)c->count : 0.0;
        c->threshold = t > 2e-6 ? t : 2e-6;
    }

    if ((rc = sa_engine_issues(e, &a->pairs, &a->npairs)) != 0)
        goto fail;
    for (uint64_t n = 0; n < e->N; n++) {
        SaImage *im = &e->images[n];
        im->score[SEGAUDIT_SCORE_NUM_PIXEL_ISSUES] =
            im->valid_pixels
                ? 1.0 - (double)im->issue_pixels / im->valid_pixels
                : NAN;
    }
    if ((rc = rank_images(a)) != 0)
        goto fail;
    if (a->truth && (rc = evaluate(a)) != 0)
        goto fail;
    if ((rc = sa_engine_overlays(e, a->order)) != 0)
        goto fail;
    double t2 = now();

    SegauditDatasetInfo *in = &a->info;
    in->n_images = e->N;
    in->n_classes = e->K;
    in->height = e->H;
    in->width = e->W;
    snprintf(a->dtype, sizeof a->dtype, "%s", sa_probs_dtype_name(e->probs));
    in->dtype = a->dtype;
    a->layout = strdup(sa_probs_layout(e->probs));
    in->layout = a->layout ? a->layout : "";
    in->n_issues = e->n_issues;
    for (uint64_t n = 0; n < e->N; n++) {
        in->issue_pixels += e->images[n].issue_pixels;
        in->valid_pixels += e->images[n].valid_pixels;
        in->images_with_issues += e->images[n].issue_pixels > 0;
    }
    in->records = e->store.count + e->store2.count;
    in->spilled_bytes = e->store.file_bytes + e->store2.file_bytes;
    in->second_read = e->second_read;
    in->far_from_one = e->far;
    in->images_skipped = e->n_skipped;
    in->far_image = e->far_image;
    in->far_row = e->far_row;
    in->far_col = e->far_col;
    in->far_sum = e->far_sum;
    in->n_threads = e->n_threads;
    in->seconds_pass1 = t1 - t0;
    in->seconds_pass2 = t2 - t1;
    in->seconds_total = t2 - t0;

    /* the records and the file handles are no longer needed */
    sa_probs_close(e->probs);
    e->probs = NULL;
    sa_recstore_free(&e->store);
    sa_recstore_free(&e->store2);
    return 0;
fail:
    free_engine(e);
    return rc;
}

/* ---- accessors --------------------------------------------------------- */

void segaudit_audit_info(const SegauditAudit *a, SegauditDatasetInfo *out)
{
    *out = a->info;
}

void segaudit_audit_image(const SegauditAudit *a, uint64_t i,
                          SegauditImageResult *out)
{
    const SaImage *im = &a->e.images[i];
    out->id = a->e.ids[i];
    out->index = i;
    out->rank = im->rank;
    out->has_score = im->valid_pixels > 0;
    out->softmin = im->score[SEGAUDIT_SCORE_SOFTMIN];
    out->num_pixel_issues = im->score[SEGAUDIT_SCORE_NUM_PIXEL_ISSUES];
    memcpy(out->score, im->score, sizeof out->score);
    out->issue_pixels = im->issue_pixels;
    out->valid_pixels = im->valid_pixels;
    out->skipped = a->e.skipped[i];
    out->skip_reason = NULL;
    for (uint64_t j = 0; out->skipped && j < a->e.n_skipped; j++)
        if (a->e.skips[j].image == i)
            out->skip_reason = a->e.skips[j].reason;
    out->regions = im->regions;
    out->largest_region = im->largest_region;
}

uint64_t segaudit_audit_ranked(const SegauditAudit *a, uint64_t r)
{
    return a->order[r];
}

void segaudit_audit_class(const SegauditAudit *a, uint32_t k,
                          SegauditClassResult *out)
{
    const SaClass *c = &a->e.classes[k];
    out->cls = k;
    out->name = a->set.n_class_names ? a->set.class_names[k] : "";
    out->labeled_pixels = c->pixels;
    out->threshold = c->threshold;
    out->issue_pixels_given = c->given;
    out->issue_pixels_predicted = c->predicted;
    out->images_affected = c->images;
}

uint64_t segaudit_audit_n_pairs(const SegauditAudit *a) { return a->npairs; }

void segaudit_audit_pair(const SegauditAudit *a, uint64_t i,
                         SegauditPair *out)
{
    *out = a->pairs[i];
}

uint64_t segaudit_audit_n_regions(const SegauditAudit *a, uint64_t i)
{
    return a->e.images[i].regions_listed;
}

int segaudit_audit_region(SegauditAudit *a, uint64_t i, uint64_t j,
                          SegauditRegion *out)
{
    const SaImage *im = &a->e.images[i];
    if (j >= im->regions_listed)
        return sa_err(&a->err, SEGAUDIT_EINVAL, "no region %llu in image %llu",
                      (unsigned long long)j, (unsigned long long)i);
    return sa_recstore_read_at(&a->e.regions,
                               im->region_off + j * sizeof *out, out,
                               sizeof *out, &a->err);
}

int segaudit_audit_has_truth(const SegauditAudit *a)
{
    return a->truth != NULL;
}

int segaudit_audit_truth(const SegauditAudit *a, uint64_t i)
{
    return a->truth ? a->truth[i] : -1;
}

void segaudit_audit_evaluation(const SegauditAudit *a, int score,
                               SegauditEvaluation *out)
{
    *out = a->eval[score];
}

const SegauditSettings *segaudit_audit_settings(const SegauditAudit *a)
{
    return &a->set;
}
