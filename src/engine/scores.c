/* The image scores: the method's softmin and num_pixel_issues, and the
 * baselines from the literature that users compare them with (their names
 * are the API's: api/settings.c). */
#include <math.h>
#include <string.h>

#include "engine/engine.h"

void sa_image_classes_clear(SaEngine *e)
{
    SaImageClasses *c = &e->cur;
    memset(c->count, 0, 4 * (size_t)e->K * sizeof(uint64_t));
    memset(c->sum, 0, e->K * sizeof(double));
    c->far = 0;
}

void sa_image_scores(SaEngine *e, uint64_t n)
{
    SaImage *im = &e->images[n];
    SaImageClasses *c = &e->cur;
    /* in a group, the sums are folded in image order over every member
     * after pass 1 (dist.c) */
    if (e->img_sum)
        memcpy(e->img_sum + (n - e->own_lo) * e->K, c->sum,
               e->K * sizeof *c->sum);
    for (uint32_t k = 0; k < e->K; k++) {
        if (!e->img_sum)
            e->classes[k].sum += c->sum[k];
        e->classes[k].count += c->count[k];
        e->classes[k].pixels += c->labeled[k];
    }
    if (c->far) {
        if (e->far == 0) {
            e->far_image = n;
            e->far_row = c->far_row;
            e->far_col = c->far_col;
            e->far_sum = c->far_sum;
        }
        e->far += c->far;
    }
    for (int i = 0; i < SEGAUDIT_N_SCORES; i++)
        im->score[i] = NAN;
    if (im->valid_pixels > 0) {
        double valid = (double)im->valid_pixels;
        uint64_t correct = 0, present = 0, either = 0;
        double acc_sum = 0.0, iou_sum = 0.0;
        for (uint32_t k = 0; k < e->K; k++) {
            correct += c->correct[k];
            if (c->labeled[k]) {
                present++;
                acc_sum += (double)c->correct[k] / (double)c->labeled[k];
            }
            uint64_t uni = c->labeled[k] + c->pred[k] - c->correct[k];
            if (uni) {
                either++;
                iou_sum += (double)c->correct[k] / (double)uni;
            }
        }
        im->score[SEGAUDIT_SCORE_SOFTMIN] = sa_softmin_value(&im->softmin);
        im->score[SEGAUDIT_SCORE_MEAN_SELF_CONFIDENCE] = im->sum_s / valid;
        im->score[SEGAUDIT_SCORE_MIN_SELF_CONFIDENCE] = im->min_s;
        im->score[SEGAUDIT_SCORE_PIXEL_ACCURACY] = (double)correct / valid;
        im->score[SEGAUDIT_SCORE_CLASS_BALANCED_ACCURACY] =
            acc_sum / (double)present;
        im->score[SEGAUDIT_SCORE_MEAN_IOU] = iou_sum / (double)either;
    }
    sa_image_classes_clear(e);
}
