/* The output folder of `segaudit synth` (see synth_files.h): its paths,
 * preparing it, the label PNGs and classes.txt, publishing, and removing
 * what a failed run wrote. */
#include "synth/synth_files.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dirs.h"
#include "io/png_io.h"
#include "synth/synth_scene.h"

/* ---- ids --------------------------------------------------------------- */

int sa_synth_id_width(uint64_t n)
{
    int d = 1;
    for (uint64_t v = n > 0 ? n - 1 : 0; v >= 10; v /= 10)
        d++;
    return d < 6 ? 6 : d;
}

void sa_synth_format_id(char *buf, size_t size, int width, uint64_t i)
{
    snprintf(buf, size, "synth_%0*" PRIu64, width, i);
}

/* ---- the folder -------------------------------------------------------- */

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (p) {
        memcpy(p, a, la);
        p[la] = '/';
        memcpy(p + la + 1, b, lb + 1);
    }
    return p;
}

void sa_synth_files_free(SaSynthFiles *p)
{
    free(p->labels);
    free(p->masks);
    free(p->probs);
    free(p->probs_tmp);
    free(p->truth);
    free(p->truth_tmp);
    free(p->classes);
    free(p->classes_tmp);
}

/* "synth_<digits>.png": a label this command wrote. */
static int is_ours(const char *name)
{
    size_t n = strlen(name);
    if (n < 11 || strncmp(name, "synth_", 6) || strcmp(name + n - 4, ".png"))
        return 0;
    for (size_t i = 6; i < n - 4; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    return 1;
}

/* Creates the folder dir if missing; sets *busy when it holds anything,
 * and with force removes what an earlier run wrote there. */
static int clear_folder(const char *dir, int force, int *busy, SaErr *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot create the folder: %s",
                      dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot open: %s", dir,
                      strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        *busy = 1;
        if (force && is_ours(e->d_name)) {
            char *f = join(dir, e->d_name);
            if (!f || unlink(f) != 0)
                rc = sa_err(err, SEGAUDIT_EIO, "%s/%s: cannot remove: %s",
                            dir, e->d_name,
                            f ? strerror(errno) : "out of memory");
            free(f);
        }
    }
    closedir(d);
    return rc;
}

int sa_synth_files_prepare(const SegauditSynthSettings *s, SaSynthFiles *p,
                           SaErr *err)
{
    struct stat st;
    p->dir = (char *)s->out_dir;
    if (!(p->labels = join(p->dir, "labels")) ||
        !(p->masks = join(p->dir, "truth")) ||
        !(p->probs = join(p->dir, "probs.h5")) ||
        !(p->probs_tmp = join(p->dir, "probs.h5.partial")) ||
        !(p->truth = join(p->dir, "truth.csv")) ||
        !(p->truth_tmp = join(p->dir, "truth.csv.partial")) ||
        !(p->classes = join(p->dir, "classes.txt")) ||
        !(p->classes_tmp = join(p->dir, "classes.txt.partial")))
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    p->made_dir = stat(p->dir, &st) != 0;
    if (sa_make_dirs(p->dir, NULL, 0) != 0)
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot create the folder: %s",
                      p->dir, strerror(errno));
    p->made_labels = stat(p->labels, &st) != 0;
    p->made_masks = stat(p->masks, &st) != 0;
    int busy = 0, rc;
    if ((rc = clear_folder(p->labels, s->force, &busy, err)) != 0 ||
        (rc = clear_folder(p->masks, s->force, &busy, err)) != 0)
        return rc;
    int has_probs = stat(p->probs, &st) == 0;
    if (!s->force && (busy || has_probs))
        return sa_err(err, SEGAUDIT_EINPUT, "%s: already holds a dataset (%s)"
                      "; use --force (force = 1) to overwrite it", p->dir,
                      busy ? "labels/ or truth/ is not empty"
                           : "probs.h5 exists");
    if (s->force) { /* no stale part may look complete after a failure */
        const char *old[3] = {p->probs, p->truth, p->classes};
        for (int i = 0; i < 3; i++)
            if (unlink(old[i]) != 0 && errno != ENOENT)
                return sa_err(err, SEGAUDIT_EIO, "%s: cannot remove: %s",
                              old[i], strerror(errno));
    }
    return 0;
}

int sa_synth_close_text(FILE *f, const char *path, SaErr *err)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s", path,
                      strerror(errno));
    return 0;
}

int sa_synth_write_classes(const char *path, int K, SaErr *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot create: %s", path,
                      strerror(errno));
    for (int k = 0; k < K; k++) {
        if (K == SC_N)
            fprintf(f, "%s\n", sa_scene_class_names[k]);
        else
            fprintf(f, "class_%d\n", k);
    }
    return sa_synth_close_text(f, path, err);
}

static int write_png(const char *path, const uint8_t *lab, uint32_t h,
                     uint32_t w, SaErr *err)
{
    SaMaskPng *m;
    int rc = sa_mask_png_create(&m, path, w, h, err);
    for (uint32_t y = 0; rc == 0 && y < h; y++)
        rc = sa_mask_png_write_row(m, lab + (size_t)y * w, err);
    if (rc) {
        sa_mask_png_abort(m);
        return rc;
    }
    return sa_mask_png_finish(m, err);
}

/* labels/<id>.png of image i (malloc'd), or NULL when out of memory. */
static char *label_path(const char *labels, int width, uint64_t i)
{
    char id[64], name[80];
    sa_synth_format_id(id, sizeof id, width, i);
    snprintf(name, sizeof name, "%s.png", id);
    return join(labels, name);
}

/* dir/<id>.png of image i. */
static int write_in(const char *dir, int width, uint64_t i,
                    const uint8_t *px, uint32_t h, uint32_t w, SaErr *err)
{
    char *path = label_path(dir, width, i);
    if (!path)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    int rc = write_png(path, px, h, w, err);
    free(path);
    return rc;
}

int sa_synth_write_label(const SaSynthFiles *p, int width, uint64_t i,
                         const uint8_t *lab, uint32_t h, uint32_t w,
                         SaErr *err)
{
    return write_in(p->labels, width, i, lab, h, w, err);
}

int sa_synth_write_mask(const SaSynthFiles *p, int width, uint64_t i,
                        const uint8_t *mask, uint32_t h, uint32_t w,
                        SaErr *err)
{
    return write_in(p->masks, width, i, mask, h, w, err);
}

void sa_synth_files_remove(const SaSynthFiles *p, const uint8_t *written,
                           uint64_t n, int width)
{
    unlink(p->probs_tmp);
    unlink(p->truth_tmp);
    unlink(p->classes_tmp);
    for (uint64_t i = 0; written && i < n; i++) {
        if (!written[i])
            continue;
        char *f = label_path(p->labels, width, i);
        if (f)
            unlink(f);
        free(f);
        f = p->masks ? label_path(p->masks, width, i) : NULL;
        if (f)
            unlink(f);
        free(f);
    }
    if (p->made_labels && p->labels)
        rmdir(p->labels); /* only when empty */
    if (p->made_masks && p->masks)
        rmdir(p->masks);
    if (p->made_dir)
        rmdir(p->dir);
}

int sa_synth_files_publish(const SaSynthFiles *p, SaErr *err)
{
    const char *from[3] = {p->classes_tmp, p->probs_tmp, p->truth_tmp};
    const char *to[3] = {p->classes, p->probs, p->truth};
    for (int i = 0; i < 3; i++)
        if (rename(from[i], to[i]) != 0)
            return sa_err(err, SEGAUDIT_EIO, "%s: cannot rename to %s: %s",
                          from[i], to[i], strerror(errno));
    return 0;
}
