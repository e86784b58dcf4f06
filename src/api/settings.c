/* The settings of an audit (defaults and checks), the names of the image
 * scores, the error codes and the version. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "api/api.h"
#include "engine/dist.h"

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
    s->min_region_area = 0;
    s->overlay_top = 50;
    s->overlay_width = 1024;
    s->image_suffix = ".png";
}

int sa_settings_validate(const SegauditSettings *s, SaErr *err)
{
    const SegauditComm *c = s->comm;
    if (c && (c->size < 1 || c->size > SA_DIST_MAX_SIZE || c->rank < 0 ||
              c->rank >= c->size || !c->allreduce_sum || !c->allgather ||
              !c->bcast || !c->send || !c->recv))
        return sa_err(err, SEGAUDIT_EINVAL,
                      "the group of processes is not usable: rank %d of %d "
                      "(at most %d), and every exchange function must be "
                      "given", c->rank, c->size, SA_DIST_MAX_SIZE);
    if (s->labels_array && s->labels_dir)
        return sa_err(err, SEGAUDIT_EINVAL, "the labels are given twice: "
                      "as a folder or file and as an array");
    if (s->probs_array && s->probs_path)
        return sa_err(err, SEGAUDIT_EINVAL, "the predictions are given "
                      "twice: as a file and as an array");
    if (!s->labels_array && (!s->labels_dir || !*s->labels_dir))
        return sa_err(err, SEGAUDIT_EINVAL, "no label folder given");
    if (!s->probs_array && (!s->probs_path || !*s->probs_path))
        return sa_err(err, SEGAUDIT_EINVAL, "no probabilities file given");
    if (s->image_ids && s->ids_dataset)
        return sa_err(err, SEGAUDIT_EINVAL, "the image ids are given twice: "
                      "as a list and as a dataset or file");
    if (s->cache_dir && s->probs_array)
        return sa_err(err, SEGAUDIT_EINVAL, "a cache recognises the "
                      "predictions by their file; it cannot be used with "
                      "predictions in memory");
    if (s->cache_dir && s->pixel_scores_out)
        return sa_err(err, SEGAUDIT_EINVAL, "pixel scores are not kept in "
                      "a cache; they cannot be asked for with one");
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
    if (s->flag_rule < 0 || s->flag_rule >= SEGAUDIT_N_FLAG_RULES)
        return sa_err(err, SEGAUDIT_EINVAL, "unknown flag rule %d",
                      s->flag_rule);
    if (s->n_ignore < 0 || s->n_ignore > SEGAUDIT_MAX_IGNORE)
        return sa_err(err, SEGAUDIT_EINVAL, "too many ignored values");
    for (int i = 0; i < s->n_ignore; i++)
        if (s->ignore_index[i] < -32768 || s->ignore_index[i] > 65535)
            return sa_err(err, SEGAUDIT_EINVAL,
                          "ignored label %d is outside -32768..65535",
                          s->ignore_index[i]);
    if (s->layout < SEGAUDIT_LAYOUT_AUTO || s->layout > SEGAUDIT_LAYOUT_NHWC)
        return sa_err(err, SEGAUDIT_EINVAL, "unknown tensor layout %d",
                      s->layout);
    if (s->upsample < SEGAUDIT_UPSAMPLE_NONE ||
        s->upsample > SEGAUDIT_UPSAMPLE_NEAREST)
        return sa_err(err, SEGAUDIT_EINVAL, "unknown upsampling mode %d",
                      s->upsample);
    if (!(s->probs_scale >= 0) || !isfinite(s->probs_scale))
        return sa_err(err, SEGAUDIT_EINVAL,
                      "probability scale must be a positive number, got %g",
                      s->probs_scale);
    if (s->n_threads < 0)
        return sa_err(err, SEGAUDIT_EINVAL, "threads must be >= 0");
    if (s->memory_limit < 65536)
        return sa_err(err, SEGAUDIT_EINVAL,
                      "memory limit must be at least 64K");
    if (s->cache_dir && !*s->cache_dir)
        return sa_err(err, SEGAUDIT_EINVAL, "empty cache folder name");
    if (s->cache_verify && !s->cache_dir)
        return sa_err(err, SEGAUDIT_EINVAL,
                      "cache_verify (--cache-verify) needs a cache folder "
                      "(--cache DIR)");
    return 0;
}

static const char *const names[SEGAUDIT_N_SCORES] = {
    "softmin",        "num_pixel_issues",        "mean_self_confidence",
    "min_self_confidence", "pixel_accuracy", "class_balanced_accuracy",
    "mean_iou",
};

const char *segaudit_score_name(int score)
{
    return score >= 0 && score < SEGAUDIT_N_SCORES ? names[score] : NULL;
}

int segaudit_score_from_name(const char *name)
{
    for (int i = 0; i < SEGAUDIT_N_SCORES; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

static const char *const rules[SEGAUDIT_N_FLAG_RULES] = {"mass", "area",
                                                         "none"};

const char *segaudit_flag_rule_name(int rule)
{
    return rule >= 0 && rule < SEGAUDIT_N_FLAG_RULES ? rules[rule] : NULL;
}

int segaudit_flag_rule_from_name(const char *name)
{
    for (int i = 0; i < SEGAUDIT_N_FLAG_RULES; i++)
        if (strcmp(rules[i], name) == 0)
            return i;
    return -1;
}
