/* Unit tests of the streaming region finder (src/engine/regions.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/regions.h"

/* Feeds a picture ('#' = issue pixel, digit = issue pixel with that given
 * class) row by row and returns the regions. */
static size_t run(SaCcl *c, const char *const *rows, int h,
                  const SegauditRegion **out)
{
    uint32_t W = (uint32_t)strlen(rows[0]);
    uint8_t flag[64];
    uint16_t given[64], pred[64];
    double s[64], p[64];
    SaErr err = {0, ""};
    sa_ccl_begin(c, W);
    for (int y = 0; y < h; y++) {
        for (uint32_t x = 0; x < W; x++) {
            char ch = rows[y][x];
            flag[x] = ch != '.';
            given[x] = (uint16_t)(ch >= '0' && ch <= '9' ? ch - '0' : 0);
            pred[x] = 7;
            s[x] = 0.25;
            p[x] = 0.5 + 0.01 * x;
        }
        assert_int_equal(sa_ccl_row(c, (uint32_t)y, flag, given, pred, s, p,
                                    &err), 0);
    }
    size_t n;
    assert_int_equal(sa_ccl_end(c, 3, out, &n, &err), 0);
    return n;
}

static void test_connectivity_and_order(void **state)
{
    (void)state;
    SaCcl *c;
    SaErr err = {0, ""};
    assert_int_equal(sa_ccl_new(&c, 10, &err), 0);
    /* a diagonal chain (one region under 8-connectivity), a U that joins
     * on its last row, and a lone pixel */
    static const char *const pic[] = {
        "#.....#.#.",
        ".#....#.#.",
        "..#...###.",
        "..........",
        ".........#",
    };
    const SegauditRegion *r;
    size_t n = run(c, pic, 5, &r);
    assert_int_equal(n, 3);
    /* the U (7 pixels) first, then the chain (3), then the lone pixel */
    assert_int_equal(r[0].area, 7);
    assert_int_equal(r[0].x, 6);
    assert_int_equal(r[0].y, 0);
    assert_int_equal(r[0].width, 3);
    assert_int_equal(r[0].height, 3);
    assert_int_equal(r[1].area, 3);
    assert_int_equal(r[1].x, 0);
    assert_int_equal(r[1].width, 3);
    assert_int_equal(r[1].height, 3);
    assert_int_equal(r[2].area, 1);
    assert_int_equal(r[2].x, 9);
    assert_int_equal(r[2].y, 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r[i].region, i + 1);
        assert_int_equal(r[i].image, 3);
        assert_int_equal(r[i].predicted, 7);
        assert_true(r[i].mean_self_confidence == 0.25);
    }
    /* mean p̂ of the chain: x = 0, 1, 2 */
    assert_true(r[1].mean_predicted_prob > 0.5099 &&
                r[1].mean_predicted_prob < 0.5101);
    sa_ccl_free(c);
}

static void test_majority_ties_and_gaps(void **state)
{
    (void)state;
    SaCcl *c;
    SaErr err = {0, ""};
    assert_int_equal(sa_ccl_new(&c, 6, &err), 0);
    /* class 4 twice, class 2 twice: the lowest (2) wins; the empty row
     * separates two regions of equal area, ordered top first */
    static const char *const pic[] = {
        "4422..",
        "......",
        "..55..",
        "..55..",
    };
    const SegauditRegion *r;
    size_t n = run(c, pic, 4, &r);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].area, 4);
    assert_int_equal(r[0].y, 0);
    assert_int_equal(r[0].given, 2);
    assert_int_equal(r[1].y, 2);
    assert_int_equal(r[1].given, 5);
    /* a new image starts empty */
    static const char *const none[] = {"......"};
    assert_int_equal(run(c, none, 1, &r), 0);
    sa_ccl_free(c);
}

static void test_comb_merges(void **state)
{
    (void)state;
    SaCcl *c;
    SaErr err = {0, ""};
    assert_int_equal(sa_ccl_new(&c, 9, &err), 0);
    /* five teeth merged by the last row: many unions into one root */
    static const char *const pic[] = {
        "#.#.#.#.#",
        "#.#.#.#.#",
        "#########",
    };
    const SegauditRegion *r;
    assert_int_equal(run(c, pic, 3, &r), 1);
    assert_int_equal(r[0].area, 19);
    assert_int_equal(r[0].width, 9);
    assert_int_equal(r[0].height, 3);
    sa_ccl_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connectivity_and_order),
        cmocka_unit_test(test_majority_ties_and_gaps),
        cmocka_unit_test(test_comb_merges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
