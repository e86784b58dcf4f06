/* Unit tests of src/engine/mask_eval.c: issue pixels and regions of one
 * image against its true error mask, on masks drawn by hand: pixel counts,
 * 8-connected components, the IoU >= 0.3 match on both sides of the
 * bound, the largest matching area recorded for each true region, the
 * totals for a least area, and scratch reused across images. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine/mask_eval.h"

typedef struct Case {
    SaMaskScratch *s;
    SaAreaHists h;
    uint64_t *mem;
} Case;

static void open_case(Case *c, uint64_t max_pixels)
{
    SaErr err = {0};
    assert_int_equal(sa_mask_scratch_new(&c->s, max_pixels, &err), 0);
    c->mem = calloc(3 * (size_t)SA_AREA_BUCKETS, sizeof *c->mem);
    assert_non_null(c->mem);
    c->h.regions = c->mem;
    c->h.matched = c->mem + SA_AREA_BUCKETS;
    c->h.found = c->mem + 2 * SA_AREA_BUCKETS;
}

static void close_case(Case *c)
{
    sa_mask_scratch_free(c->s);
    free(c->mem);
}

/* Masks from strings: '#' = set, one string per row. */
static void draw(uint8_t *m, const char *const *rows, uint32_t h, uint32_t w)
{
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            m[y * w + x] = rows[y][x] == '#';
}

static SaMaskCounts eval(Case *c, const char *const *issue,
                         const char *const *error, uint32_t h, uint32_t w)
{
    uint8_t *a = malloc((size_t)h * w), *b = malloc((size_t)h * w);
    draw(a, issue, h, w);
    draw(b, error, h, w);
    SaMaskCounts out = {0};
    SaErr err = {0};
    assert_int_equal(sa_mask_eval_image(c->s, a, b, h, w, 2, &out, &c->h,
                                        &err), 0);
    free(a);
    free(b);
    return out;
}

static void totals(Case *c, uint64_t min_area, uint64_t want_regions,
                   uint64_t want_matched, uint64_t want_found)
{
    uint64_t r, m, f;
    sa_area_hists_total(&c->h, min_area, &r, &m, &f);
    assert_int_equal(r, want_regions);
    assert_int_equal(m, want_matched);
    assert_int_equal(f, want_found);
}

/* A region of 10 issue pixels over 3 error pixels: IoU 3/10 = 0.3, a
 * match; a diagonal pair is one region; a lone issue pixel far away is
 * its own region and matches nothing. */
static void test_iou_bound(void **state)
{
    (void)state;
    Case c;
    open_case(&c, 64);
    const char *issue[] = {"#####...",
                           "#####...",
                           "........",
                           "......#.",
                           ".......#",
                           "#......."};
    const char *error[] = {"###.....",
                           "........",
                           "........",
                           "........",
                           "........",
                           "........"};
    SaMaskCounts k = eval(&c, issue, error, 6, 8);
    assert_int_equal(k.issue_pixels, 13);
    assert_int_equal(k.error_pixels, 3);
    assert_int_equal(k.hit_pixels, 3);
    assert_int_equal(k.error_regions, 1);
    /* counted exactly for the least area given (2): the regions of 10
     * and 2 pixels, the 10 matching, the error region found */
    assert_int_equal(k.regions, 2);
    assert_int_equal(k.regions_matched, 1);
    assert_int_equal(k.error_regions_found, 1);
    /* regions of 10, 2 and 1 pixels; the 10 matches; the error region is
     * found by a region of 10 pixels */
    totals(&c, 1, 3, 1, 1);
    totals(&c, 2, 2, 1, 1);
    totals(&c, 10, 1, 1, 1);
    totals(&c, 11, 0, 0, 0);
    close_case(&c);
}

/* 2 error pixels under 10 issue pixels: IoU 0.2, no match either way. */
static void test_below_bound(void **state)
{
    (void)state;
    Case c;
    open_case(&c, 64);
    const char *issue[] = {"#####", "#####"};
    const char *error[] = {"##...", "....."};
    SaMaskCounts k = eval(&c, issue, error, 2, 5);
    assert_int_equal(k.hit_pixels, 2);
    totals(&c, 1, 1, 0, 0);
    close_case(&c);
}

/* One true region matched by two issue regions: it is found once, at the
 * larger one's area; both issue regions are matched. */
static void test_two_match_one(void **state)
{
    (void)state;
    Case c;
    open_case(&c, 64);
    const char *issue[] = {"###.##",
                           "......"};
    const char *error[] = {"######",
                           "......"};
    SaMaskCounts k = eval(&c, issue, error, 2, 6);
    assert_int_equal(k.error_regions, 1);
    /* IoUs 3/6 and 2/6 */
    totals(&c, 1, 2, 2, 1);
    totals(&c, 3, 1, 1, 1);
    totals(&c, 4, 0, 0, 0);
    close_case(&c);
}

/* The scratch is reused: the second image's intersections start from
 * nothing (a stale count would make the second region match). */
static void test_reuse(void **state)
{
    (void)state;
    Case c;
    open_case(&c, 64);
    const char *same[] = {"####", "####"};
    SaMaskCounts k = eval(&c, same, same, 2, 4);
    assert_int_equal(k.hit_pixels, 8);
    totals(&c, 1, 1, 1, 1);
    const char *issue[] = {"####", "####"};
    const char *error[] = {"#...", "...."};
    k = eval(&c, issue, error, 2, 4);
    assert_int_equal(k.hit_pixels, 1);
    /* 1/8 < 0.3: the second image adds a region, no match */
    totals(&c, 1, 2, 1, 1);
    /* empty masks */
    const char *none[] = {"....", "...."};
    k = eval(&c, none, none, 2, 4);
    assert_int_equal(k.issue_pixels + k.error_pixels + k.error_regions, 0);
    totals(&c, 1, 2, 1, 1);
    close_case(&c);
}

/* A U shape is one region (merged from two runs); a checkerboard is one
 * region under 8-connectivity. */
static void test_components(void **state)
{
    (void)state;
    Case c;
    open_case(&c, 64);
    const char *u[] = {"#..#",
                       "#..#",
                       "####"};
    const char *chk[] = {"#.#.",
                         ".#.#",
                         "#.#."};
    SaMaskCounts k = eval(&c, u, chk, 3, 4);
    assert_int_equal(k.error_regions, 1);
    assert_int_equal(k.issue_pixels, 8);
    assert_int_equal(k.error_pixels, 6);
    assert_int_equal(k.hit_pixels, 4);
    totals(&c, 1, 1, 1, 1); /* IoU 4/10 */
    totals(&c, 8, 1, 1, 1);
    totals(&c, 9, 0, 0, 0);
    close_case(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iou_bound),
        cmocka_unit_test(test_below_bound),
        cmocka_unit_test(test_two_match_one),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_components),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
