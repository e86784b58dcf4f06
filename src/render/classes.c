/* Class-name presets (Cityscapes, ADE20K, Pascal VOC) and generated
 * palettes.
 *
 * Everything here is static and read-only: the presets are tables, and
 * segaudit_generate_palette() uses only its arguments and locals, so all of
 * it may be called from any thread. */
#include "segaudit/classes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Cityscapes ---------------------------------------------------------
 *
 * The 19 evaluated classes by train id (as in *_gtFine_labelTrainIds.png),
 * with the official colours of cityscapesScripts' helpers/labels.py.  All
 * other label ids map to train id 255, the void value.  Note that "rider"
 * is officially pure red (255,0,0), the colour the overlays use for issue
 * pixels; the overlays only draw class colours dimmed under the issues, so
 * the two never meet. */

static const char *const cityscapes_names[] = {
    "road", "sidewalk", "building", "wall", "fence", "pole",
    "traffic light", "traffic sign", "vegetation", "terrain", "sky",
    "person", "rider", "car", "truck", "bus", "train", "motorcycle",
    "bicycle",
};

static const uint8_t cityscapes_palette[][3] = {
    {128, 64, 128},  /*  0 road */
    {244, 35, 232},  /*  1 sidewalk */
    {70, 70, 70},    /*  2 building */
    {102, 102, 156}, /*  3 wall */
    {190, 153, 153}, /*  4 fence */
    {153, 153, 153}, /*  5 pole */
    {250, 170, 30},  /*  6 traffic light */
    {220, 220, 0},   /*  7 traffic sign */
    {107, 142, 35},  /*  8 vegetation */
    {152, 251, 152}, /*  9 terrain */
    {70, 130, 180},  /* 10 sky */
    {220, 20, 60},   /* 11 person */
    {255, 0, 0},     /* 12 rider */
    {0, 0, 142},     /* 13 car */
    {0, 0, 70},      /* 14 truck */
    {0, 60, 100},    /* 15 bus */
    {0, 80, 100},    /* 16 train */
    {0, 0, 230},     /* 17 motorcycle */
    {119, 11, 32},   /* 18 bicycle */
};

/* ---- Pascal VOC 2012 ----------------------------------------------------
 *
 * SegmentationClass masks are palette PNGs whose index is the class; 255 is
 * the void border.  Colour of index i: for j in 0..7, bit 3j of i goes to
 * bit 7-j of red, bit 3j+1 to bit 7-j of green, bit 3j+2 to bit 7-j of
 * blue (the devkit's bitget rule).  Background is black, like void in the
 * overlays. */

static const char *const voc_names[] = {
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus",
    "car", "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike",
    "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
};

static const uint8_t voc_palette[][3] = {
    {0, 0, 0},       /*  0 background */
    {128, 0, 0},     /*  1 aeroplane */
    {0, 128, 0},     /*  2 bicycle */
    {128, 128, 0},   /*  3 bird */
    {0, 0, 128},     /*  4 boat */
    {128, 0, 128},   /*  5 bottle */
    {0, 128, 128},   /*  6 bus */
    {128, 128, 128}, /*  7 car */
    {64, 0, 0},      /*  8 cat */
    {192, 0, 0},     /*  9 chair */
    {64, 128, 0},    /* 10 cow */
    {192, 128, 0},   /* 11 diningtable */
    {64, 0, 128},    /* 12 dog */
    {192, 0, 128},   /* 13 horse */
    {64, 128, 128},  /* 14 motorbike */
    {192, 128, 128}, /* 15 person */
    {0, 64, 0},      /* 16 pottedplant */
    {128, 64, 0},    /* 17 sheep */
    {0, 192, 0},     /* 18 sofa */
    {128, 192, 0},   /* 19 train */
    {0, 64, 128},    /* 20 tvmonitor */
};

/* ---- ADE20K (SceneParsing, ADEChallengeData2016) ------------------------
 *
 * The 150 classes of the benchmark, in order.  The PNGs store them as
 * 1..150 with 0 = "other"; this preset assumes the "reduce zero label"
 * convention of most training pipelines (mmsegmentation, HF transformers):
 * class k-1 here is ADE id k, and ADE 0 has become 255, the void value.
 * For raw ADE PNGs, subtract 1 (0 -> 255) before auditing, or the ids will
 * be one off.
 *
 * The colours are segaudit_generate_palette(150), frozen here so that the
 * table is static; tests/test_overlay.c checks they still agree. */

static const char *const ade20k_names[] = {
    /*   0 */ "wall", "building", "sky", "floor", "tree", "ceiling", "road",
    /*   7 */ "bed", "windowpane", "grass", "cabinet", "sidewalk", "person",
    /*  13 */ "earth", "door", "table", "mountain", "plant", "curtain",
    /*  19 */ "chair", "car", "water", "painting", "sofa", "shelf", "house",
    /*  26 */ "sea", "mirror", "rug", "field", "armchair", "seat", "fence",
    /*  33 */ "desk", "rock", "wardrobe", "lamp", "bathtub", "railing",
    /*  39 */ "cushion", "base", "box", "column", "signboard",
    /*  44 */ "chest of drawers", "counter", "sand", "sink", "skyscraper",
    /*  49 */ "fireplace", "refrigerator", "grandstand", "path", "stairs",
    /*  54 */ "runway", "case", "pool table", "pillow", "screen door",
    /*  59 */ "stairway", "river", "bridge", "bookcase", "blind",
    /*  64 */ "coffee table", "toilet", "flower", "book", "hill", "bench",
    /*  70 */ "countertop", "stove", "palm", "kitchen island", "computer",
    /*  75 */ "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    /*  81 */ "towel", "light", "truck", "tower", "chandelier", "awning",
    /*  87 */ "streetlight", "booth", "television receiver", "airplane",
    /*  91 */ "dirt track", "apparel", "pole", "land", "bannister",
    /*  96 */ "escalator", "ottoman", "bottle", "buffet", "poster", "stage",
    /* 102 */ "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    /* 108 */ "plaything", "swimming pool", "stool", "barrel", "basket",
    /* 113 */ "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    /* 119 */ "ball", "food", "step", "tank", "trade name", "microwave",
    /* 125 */ "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    /* 131 */ "blanket", "sculpture", "hood", "sconce", "vase",
    /* 136 */ "traffic light", "tray", "ashcan", "fan", "pier", "crt screen",
    /* 142 */ "plate", "monitor", "bulletin board", "shower", "radiator",
    /* 147 */ "glass", "clock", "flag",
};

static const uint8_t ade20k_palette[][3] = {
    {0, 255, 51}, {0, 85, 255}, {238, 51, 255}, {238, 204, 0},
    {34, 255, 255}, {119, 102, 102}, {0, 136, 0}, {136, 238, 136},
    {34, 0, 153}, {153, 153, 255}, {0, 170, 153}, {255, 136, 136},
    {187, 0, 136}, {119, 0, 255}, {136, 34, 0}, {238, 102, 0},
    {102, 204, 0}, {255, 255, 119}, {0, 68, 85}, {17, 170, 255},
    {17, 255, 153}, {153, 255, 255}, {255, 153, 255}, {0, 0, 255},
    {102, 85, 204}, {136, 119, 0}, {255, 51, 102}, {170, 170, 85},
    {170, 255, 34}, {102, 170, 170}, {204, 204, 204}, {102, 0, 85},
    {68, 187, 85}, {51, 68, 0}, {0, 68, 170}, {187, 85, 170},
    {255, 0, 187}, {0, 136, 85}, {0, 204, 0}, {187, 68, 51},
    {170, 85, 255}, {119, 34, 153}, {102, 204, 255}, {85, 255, 68},
    {187, 0, 51}, {0, 0, 85}, {51, 119, 153}, {238, 153, 51},
    {187, 0, 221}, {68, 51, 255}, {68, 119, 255}, {68, 119, 51},
    {255, 102, 204}, {221, 204, 119}, {187, 153, 170}, {255, 255, 34},
    {68, 221, 187}, {170, 170, 0}, {68, 255, 0}, {204, 255, 170},
    {0, 119, 204}, {0, 221, 102}, {102, 68, 51}, {187, 119, 102},
    {0, 204, 204}, {68, 17, 17}, {68, 68, 119}, {204, 34, 0},
    {68, 153, 0}, {255, 0, 85}, {68, 17, 204}, {187, 255, 102},
    {119, 153, 51}, {170, 51, 119}, {136, 221, 204}, {255, 204, 255},
    {136, 119, 170}, {136, 221, 68}, {153, 51, 204}, {238, 51, 170},
    {255, 102, 68}, {51, 153, 204}, {255, 187, 170}, {238, 0, 255},
    {187, 119, 34}, {204, 119, 221}, {255, 51, 17}, {255, 238, 187},
    {170, 204, 255}, {51, 34, 68}, {51, 204, 136}, {0, 17, 204},
    {0, 51, 34}, {0, 187, 51}, {204, 204, 51}, {17, 34, 119},
    {119, 153, 119}, {221, 85, 119}, {51, 221, 34}, {85, 255, 221},
    {153, 187, 153}, {0, 255, 204}, {136, 0, 187}, {85, 255, 153},
    {136, 34, 68}, {255, 204, 68}, {0, 102, 34}, {0, 102, 119},
    {68, 136, 102}, {170, 34, 255}, {0, 255, 0}, {68, 51, 170},
    {204, 170, 255}, {204, 238, 255}, {187, 221, 0}, {170, 85, 0},
    {136, 0, 34}, {119, 68, 255}, {85, 102, 0}, {136, 102, 51},
    {102, 153, 238}, {0, 221, 255}, {34, 255, 102}, {238, 17, 136},
    {153, 119, 221}, {255, 170, 102}, {34, 68, 221}, {34, 153, 51},
    {136, 238, 0}, {153, 170, 204}, {187, 34, 170}, {204, 34, 85},
    {204, 68, 221}, {68, 17, 119}, {102, 85, 153}, {51, 204, 238},
    {102, 204, 119}, {221, 119, 170}, {221, 153, 0}, {238, 102, 255},
    {238, 153, 204}, {68, 0, 255}, {17, 170, 102}, {51, 85, 68},
    {51, 102, 204}, {136, 0, 136}, {136, 187, 34}, {153, 255, 187},
    {187, 221, 153}, {204, 153, 119},
};

/* ---- Lookup ------------------------------------------------------------ */

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

_Static_assert(N_OF(cityscapes_names) == 19 && N_OF(cityscapes_palette) == 19,
               "cityscapes: 19 train ids");
_Static_assert(N_OF(voc_names) == 21 && N_OF(voc_palette) == 21,
               "pascal-voc: 21 classes");
_Static_assert(N_OF(ade20k_names) == 150 && N_OF(ade20k_palette) == 150,
               "ade20k: 150 classes");

static const SegauditClassPreset presets[] = {
    {"cityscapes", N_OF(cityscapes_names), cityscapes_names,
     cityscapes_palette, 255},
    {"ade20k", N_OF(ade20k_names), ade20k_names, ade20k_palette, 255},
    {"pascal-voc", N_OF(voc_names), voc_names, voc_palette, 255},
};

const SegauditClassPreset *segaudit_class_preset(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < N_OF(presets); i++)
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}

/* ---- Generated palettes ------------------------------------------------
 *
 * Glasbey-style: colours are picked one by one from a fixed grid of 16
 * levels per channel (0, 17, ..., 255: 4096 candidates), each time the
 * candidate farthest from every colour already picked, the distance being
 * the "redmean" weighted RGB distance (a cheap perceptual approximation,
 * in integers, so the result is identical on every platform).  Black (void
 * in the overlays), white (the gaps between panels) and pure red (issue
 * pixels) count as already picked and are never picked themselves, so the
 * first colours are also far from those three.  Ties go to the lowest grid
 * index.  The palette for k is a prefix of the palette for any larger k: a
 * class keeps its colour whatever K is.
 *
 * Beyond the grid (k > 4093) the remaining colours are a hash of their
 * index, moved to the next unused 24-bit value, so all k colours stay
 * pairwise distinct (for k <= 2^24 - 3) and never black, white or red. */

#define GRID_LEVELS 16
#define GRID_STEP 17 /* 255 / (GRID_LEVELS - 1) */
#define GRID_N (GRID_LEVELS * GRID_LEVELS * GRID_LEVELS)
#define RGB_BLACK 0x000000u
#define RGB_WHITE 0xFFFFFFu
#define RGB_RED 0xFF0000u
#define N_RGB (1u << 24)

static const uint32_t reserved_colours[3] = {RGB_BLACK, RGB_WHITE, RGB_RED};

static uint32_t grid_colour(int i)
{
    uint32_t r = (uint32_t)(i / (GRID_LEVELS * GRID_LEVELS)) * GRID_STEP;
    uint32_t g = (uint32_t)(i / GRID_LEVELS % GRID_LEVELS) * GRID_STEP;
    uint32_t b = (uint32_t)(i % GRID_LEVELS) * GRID_STEP;
    return r << 16 | g << 8 | b;
}

/* Squared redmean distance × 256; at most about 1.7e8. */
static uint32_t redmean2(uint32_t a, uint32_t b)
{
    int ar = (int)(a >> 16), ag = (int)(a >> 8 & 255), ab = (int)(a & 255);
    int br = (int)(b >> 16), bg = (int)(b >> 8 & 255), bb = (int)(b & 255);
    int rm = (ar + br) / 2, dr = ar - br, dg = ag - bg, db = ab - bb;
    return (uint32_t)((512 + rm) * dr * dr + 1024 * dg * dg +
                      (767 - rm) * db * db);
}

static int is_reserved(uint32_t c)
{
    return c == RGB_BLACK || c == RGB_WHITE || c == RGB_RED;
}

static void put_rgb(uint8_t out[3], uint32_t c)
{
    out[0] = (uint8_t)(c >> 16);
    out[1] = (uint8_t)(c >> 8);
    out[2] = (uint8_t)c;
}

static uint32_t get_rgb(const uint8_t c[3])
{
    return (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
}

/* Fills palette[0..n) greedily from the grid; returns n. */
static int greedy_grid(uint8_t (*palette)[3], int n)
{
    uint32_t mind[GRID_N]; /* distance to the nearest picked colour;
                              UINT32_MAX marks reserved or picked ones */
    for (int i = 0; i < GRID_N; i++) {
        uint32_t c = grid_colour(i);
        mind[i] = UINT32_MAX;
        if (is_reserved(c))
            continue;
        for (int s = 0; s < 3; s++) {
            uint32_t d = redmean2(c, reserved_colours[s]);
            if (d < mind[i])
                mind[i] = d;
        }
    }
    for (int k = 0; k < n; k++) {
        int best = -1;
        for (int i = 0; i < GRID_N; i++)
            if (mind[i] != UINT32_MAX && (best < 0 || mind[i] > mind[best]))
                best = i;
        uint32_t c = grid_colour(best);
        put_rgb(palette[k], c);
        mind[best] = UINT32_MAX;
        for (int i = 0; i < GRID_N; i++) {
            if (mind[i] != UINT32_MAX) {
                uint32_t d = redmean2(grid_colour(i), c);
                if (d < mind[i])
                    mind[i] = d;
            }
        }
    }
    return n;
}

/* Set of 24-bit colours for the colours beyond the grid: open addressing
 * over a power-of-two table, or, when that table cannot be allocated, a
 * scan of the palette so far.  Both give the same answers, so the palette
 * does not depend on available memory. */
typedef struct ColourSet {
    uint32_t *slot; /* colour + 1; 0 = empty */
    size_t mask;
    const uint8_t (*palette)[3];
    int n; /* palette entries in the set */
} ColourSet;

static size_t colour_hash(uint32_t c)
{
    return (size_t)(c * 2654435761u);
}

static int set_has(const ColourSet *s, uint32_t c)
{
    if (is_reserved(c))
        return 1;
    if (!s->slot) {
        for (int i = 0; i < s->n; i++)
            if (get_rgb(s->palette[i]) == c)
                return 1;
        return 0;
    }
    for (size_t j = colour_hash(c) & s->mask;; j = (j + 1) & s->mask) {
        if (s->slot[j] == 0)
            return 0;
        if (s->slot[j] == c + 1)
            return 1;
    }
}

static void set_add(ColourSet *s, uint32_t c)
{
    s->n++;
    if (!s->slot)
        return;
    size_t j = colour_hash(c) & s->mask;
    while (s->slot[j] != 0)
        j = (j + 1) & s->mask;
    s->slot[j] = c + 1;
}

/* A well-mixed 24-bit value of i (splitmix-style finaliser). */
static uint32_t index_colour(uint32_t i)
{
    uint32_t x = i * 0x9E3779B9u + 0x7F4A7C15u;
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x & (N_RGB - 1);
}

void segaudit_generate_palette(uint8_t (*palette)[3], int k)
{
    if (!palette || k <= 0)
        return;
    const int n_grid = GRID_N - 3; /* the grid holds all three reserved */
    int done = greedy_grid(palette, k < n_grid ? k : n_grid);
    if (done == k)
        return;

    /* Distinct colours exist for the first N_RGB - 3 entries only. */
    const int n_distinct = (uint32_t)k < N_RGB - 3 ? k : (int)(N_RGB - 3);
    ColourSet set = {NULL, 0, (const uint8_t (*)[3])palette, 0};
    size_t cap = 16;
    while (cap < (size_t)n_distinct * 2)
        cap *= 2;
    set.slot = calloc(cap, sizeof *set.slot);
    set.mask = cap - 1;
    for (int i = 0; i < done; i++)
        set_add(&set, get_rgb(palette[i]));
    for (int i = done; i < k; i++) {
        uint32_t c = index_colour((uint32_t)i);
        if (i < n_distinct) {
            while (set_has(&set, c))
                c = (c + 1) & (N_RGB - 1);
            set_add(&set, c);
        } else if (is_reserved(c)) {
            c = 0x808080u;
        }
        put_rgb(palette[i], c);
    }
    free(set.slot);
}
