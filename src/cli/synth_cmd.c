/* `segaudit synth`: the usage text, the option parsing into
 * SegauditSynthSettings, and the run of segaudit_synth() with its summary
 * line.  Public API only. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segaudit/common.h"
#include "segaudit/synth.h"

#include "commands.h"
#include "signals.h"
#include "util.h"

static const char usage_synth[] =
    "Usage: segaudit synth --out DIR --images N --size HxW [OPTIONS]\n"
    "\n"
    "Writes a synthetic street-scene dataset with known annotation errors:\n"
    "  DIR/labels/<id>.png  8-bit gray label maps (the given labels, errors\n"
    "                       included); ids are synth_000000, synth_000001, ...\n"
    "  DIR/probs.h5         /pred_probs (N,K,H,W) and /image_ids, as h5py\n"
    "                       writes them\n"
    "  DIR/truth.csv        image,mislabeled,error_type,error_pixels\n"
    "  DIR/truth/<id>.png   the true error masks: 255 where an error changed\n"
    "                       the label, else 0 (for audit --truth-masks)\n"
    "  DIR/classes.txt      the K class names\n"
    "The probabilities come from a simulated imperfect model that sees the\n"
    "true labels: blurred at edges, smoothly noisy, and confusing car/truck,\n"
    "rider/person, terrain/vegetation, wall/fence, bus/truck, sidewalk/road.\n"
    "\n"
    "Options:\n"
    "  --out DIR           dataset folder (created if missing)\n"
    "  --images N          number of images, >= 1\n"
    "  --size HxW          image size, e.g. 1024x2048 (at least 16x16)\n"
    "  --classes K         2..255 (19).  K = 19: the Cityscapes train ids\n"
    "                      (road, sidewalk, ..., bicycle).  Otherwise scene\n"
    "                      class c (a Cityscapes train id) becomes c*K/19\n"
    "                      and the names are class_0 ... class_<K-1>\n"
    "  --error-rate R      0..1 (0.3): exactly round(R*N) images, chosen by\n"
    "                      the seed, get one annotation error each:\n"
    "                      overlooked (an object labeled as its\n"
    "                      surroundings), swapped (labeled as a confusable\n"
    "                      class) or boundary (grown or shrunk by a few\n"
    "                      pixels, more for larger images)\n"
    "  --errors K,...      the kinds errors are drawn from (overlooked,\n"
    "                      swapped, boundary), among: overlooked, swapped,\n"
    "                      boundary, partial (half an object labeled as its\n"
    "                      surroundings), coarse (an object drawn as its\n"
    "                      bounding box), all\n"
    "  --seed S            random seed, 0..2^64-1 (0)\n"
    "  --dtype f32|f16     element type of /pred_probs (f32)\n"
    "  --compress none|gzip  gzip: chunks of (1,K,rows,W), shuffle+deflate\n"
    "                      (none: contiguous)\n"
    "  --chunk-rows R      store /pred_probs in chunks of (1,K,R,W); R >= H:\n"
    "                      one chunk per image (default: contiguous, or\n"
    "                      chunks of about 1 MiB with gzip)\n"
    "  --model M           the simulated model: standard (default), sharp\n"
    "                      (thin boundaries, few confusions), blurry (wide\n"
    "                      boundaries), overconfident (many confident\n"
    "                      mistakes) or weak (a noisy model for which about\n"
    "                      a third of the pixels have self-confidence <= 0.5\n"
    "                      or a wrong argmax)\n"
    "  --void V            overlooked objects get label V (K..255) instead\n"
    "                      of the class around them\n"
    "  --threads N         worker threads (all cores); the files do not\n"
    "                      depend on it\n"
    "  --force             replace a dataset already in DIR\n"
    "  -q, --quiet         no summary line\n"
    "\n"
    "The same options and seed give byte-identical files.\n"
    "Exit status: 0 written, 1 I/O error or DIR holds a dataset, 2 usage "
    "error.\n";

enum { O_OUT = 256, O_IMAGES, O_SIZE, O_CLASSES, O_RATE, O_SEED, O_DTYPE,
       O_COMPRESS, O_VOID, O_THREADS, O_FORCE, O_CHUNK_ROWS, O_MODEL,
       O_ERRORS };

static const struct option synth_options[] = {
    {"out", required_argument, 0, O_OUT},
    {"images", required_argument, 0, O_IMAGES},
    {"size", required_argument, 0, O_SIZE},
    {"classes", required_argument, 0, O_CLASSES},
    {"error-rate", required_argument, 0, O_RATE},
    {"seed", required_argument, 0, O_SEED},
    {"dtype", required_argument, 0, O_DTYPE},
    {"compress", required_argument, 0, O_COMPRESS},
    {"void", required_argument, 0, O_VOID},
    {"threads", required_argument, 0, O_THREADS},
    {"force", no_argument, 0, O_FORCE},
    {"chunk-rows", required_argument, 0, O_CHUNK_ROWS},
    {"model", required_argument, 0, O_MODEL},
    {"errors", required_argument, 0, O_ERRORS},
    {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

/* A whole number from lo to hi; -1 after printing the usage error. */
static int whole_arg(const char *opt, const char *s, uint64_t lo,
                     uint64_t hi, uint64_t *out)
{
    if (cli_parse_u64(s, lo, hi, out) == 0)
        return 0;
    cli_not_whole("synth", opt, s, lo, hi);
    return -1;
}

/* HxW (or HXW), each from 16 to 65535; -1 after printing the usage
 * error. */
static int parse_hxw(const char *s, uint32_t *h, uint32_t *w)
{
    char *end;
    errno = 0;
    unsigned long hh = strtoul(s, &end, 10), ww = 0;
    int ok = end != s && (*end == 'x' || *end == 'X') && *s != '-';
    if (ok) {
        const char *p = end + 1;
        ww = strtoul(p, &end, 10);
        ok = end != p && !*end && *p != '-' && !errno;
    }
    if (!ok || hh < 16 || ww < 16 || hh > 65535 || ww > 65535) {
        cli_usage_error("synth", "--size: expected HxW from 16x16 to "
                        "65535x65535 (e.g. 1024x2048), got '%s'", s);
        return -1;
    }
    *h = (uint32_t)hh;
    *w = (uint32_t)ww;
    return 0;
}

/* --dtype and --compress; -1 after printing the usage error. */
static int format_option(SegauditSynthSettings *s, int c, const char *arg)
{
    if (c == O_DTYPE) {
        if (!strcmp(arg, "f32") || !strcmp(arg, "float32"))
            s->dtype = SEGAUDIT_SYNTH_F32;
        else if (!strcmp(arg, "f16") || !strcmp(arg, "float16"))
            s->dtype = SEGAUDIT_SYNTH_F16;
        else {
            cli_usage_error("synth", "--dtype: expected f32 or f16, got "
                            "'%s'", arg);
            return -1;
        }
    } else if (!strcmp(arg, "none")) {
        s->compress = SEGAUDIT_SYNTH_NONE;
    } else if (!strcmp(arg, "gzip")) {
        s->compress = SEGAUDIT_SYNTH_GZIP;
    } else {
        cli_usage_error("synth", "--compress: expected none or gzip, got "
                        "'%s'", arg);
        return -1;
    }
    return 0;
}

/* Sets option c from arg.  Returns 0, -1 after printing a usage error, or
 * 1 when c is not an option of synth. */
static int set_option(SegauditSynthSettings *s, int c, const char *arg,
                      int *have_size)
{
    uint64_t v;
    switch (c) {
    case O_OUT: s->out_dir = arg; return 0;
    case O_FORCE: s->force = 1; return 0;
    case O_DTYPE:
    case O_COMPRESS: return format_option(s, c, arg);
    case O_IMAGES:
        return whole_arg("--images", arg, 1, (uint64_t)1 << 40,
                         &s->n_images);
    case O_SEED: return whole_arg("--seed", arg, 0, UINT64_MAX, &s->seed);
    case O_SIZE:
        *have_size = 1;
        return parse_hxw(arg, &s->height, &s->width);
    case O_CLASSES:
        if (whole_arg("--classes", arg, 2, 255, &v))
            return -1;
        s->n_classes = (int)v;
        return 0;
    case O_VOID:
        if (whole_arg("--void", arg, 0, 255, &v))
            return -1;
        s->void_value = (int)v;
        return 0;
    case O_CHUNK_ROWS:
        if (whole_arg("--chunk-rows", arg, 1, 65535, &v))
            return -1;
        s->chunk_rows = (uint32_t)v;
        return 0;
    case O_MODEL: {
        static const char *const models[] = {"standard", "weak", "sharp",
                                             "blurry", "overconfident"};
        for (int i = 0; i < 5; i++)
            if (!strcmp(arg, models[i])) {
                s->model = i;
                return 0;
            }
        cli_usage_error("synth", "--model: expected standard, sharp, "
                        "blurry, overconfident or weak, got '%s'", arg);
        return -1;
    }
    case O_ERRORS: {
        static const char *const kinds[] = {"overlooked", "swapped",
                                            "boundary", "partial", "coarse"};
        int bits = 0;
        const char *p = arg;
        while (*p) {
            size_t n = strcspn(p, ",");
            int found = -1;
            if (n == 3 && !strncmp(p, "all", 3))
                found = 5;
            for (int i = 0; i < 5 && found < 0; i++)
                if (strlen(kinds[i]) == n && !strncmp(p, kinds[i], n))
                    found = i;
            if (found < 0) {
                cli_usage_error("synth", "--errors: '%.*s' is not a kind "
                                "(overlooked, swapped, boundary, partial, "
                                "coarse, all)", (int)n, p);
                return -1;
            }
            bits |= found == 5 ? SEGAUDIT_SYNTH_ALL_ERRORS : 1 << found;
            p += n;
            if (*p == ',')
                p++;
        }
        if (!bits) {
            cli_usage_error("synth", "--errors: no kind given");
            return -1;
        }
        s->errors = bits;
        return 0;
    }
    case O_THREADS:
        if (whole_arg("--threads", arg, 1, 4096, &v))
            return -1;
        s->n_threads = (int)v;
        return 0;
    case O_RATE:
        if (cli_parse_double(arg, &s->error_rate) != 0 ||
            !(s->error_rate >= 0) || s->error_rate > 1) {
            cli_usage_error("synth", "--error-rate: '%s' is not a number "
                            "from 0 to 1", arg);
            return -1;
        }
        return 0;
    default: return 1;
    }
}

/* Fills s from argv; returns 0, 1 after --help, or -1 after printing a
 * usage error. */
static int parse(int argc, char **argv, SegauditSynthSettings *s, int *quiet)
{
    int c, rc, have_size = 0;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":qh", synth_options, NULL)) != -1) {
        if (c == 'q') {
            *quiet = 1;
            continue;
        }
        if (c == 'h') {
            fputs(usage_synth, stdout);
            return 1;
        }
        if (c == ':') {
            cli_usage_error("synth", "%s needs a value", argv[optind - 1]);
            return -1;
        }
        if ((rc = set_option(s, c, optarg, &have_size)) > 0)
            cli_usage_error("synth", "unknown option '%s'", argv[optind - 1]);
        if (rc != 0)
            return -1;
    }
    if (optind < argc) {
        cli_usage_error("synth", "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!s->out_dir || !s->n_images || !have_size) {
        cli_usage_error("synth", "%s is required", !s->out_dir ? "--out DIR"
                        : !s->n_images ? "--images N" : "--size HxW");
        return -1;
    }
    if (s->void_value >= 0 && s->void_value < s->n_classes) {
        cli_usage_error("synth", "--void %d is a class (K=%d); use a value "
                        "from %d to 255", s->void_value, s->n_classes,
                        s->n_classes);
        return -1;
    }
    return 0;
}

static void print_summary(const SegauditSynthSettings *s, double sec)
{
    uint64_t bad = (uint64_t)floor(s->error_rate * (double)s->n_images + 0.5);
    fprintf(stderr,
            "segaudit: %" PRIu64 " images of %ux%u, K=%d, %s; %" PRIu64
            " with an annotation error; %.1f s (%.2f images/s); "
            "dataset in %s/\n",
            s->n_images, s->height, s->width, s->n_classes,
            s->dtype == SEGAUDIT_SYNTH_F16 ? "float16" : "float32", bad,
            sec, sec > 0 ? (double)s->n_images / sec : 0.0, s->out_dir);
}

int segaudit_cli_synth(int argc, char **argv)
{
    SegauditSynthSettings s;
    CliSignals saved;
    int quiet = 0;
    char eb[1024];
    struct timespec t0, t1;

    segaudit_synth_default_settings(&s);
    int p = parse(argc, argv, &s, &quiet);
    if (p != 0)
        return p > 0 ? 0 : EXIT_USAGE;

    cli_catch_signals(&saved);
    /* Past a file size limit, writes fail (EFBIG) and are reported like a
     * full disk, instead of the signal killing us mid-file. */
    void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    s.cancel = cli_cancel_flag();

    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = segaudit_synth(&s, eb, sizeof eb);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cli_restore_signals(&saved);
    signal(SIGXFSZ, old_xfsz);

    if (rc == SEGAUDIT_ECANCEL || (rc && cli_signal())) {
        fprintf(stderr, "segaudit: interrupted; no dataset was written\n");
        return cli_interrupted_status();
    }
    if (rc) {
        fprintf(stderr, "segaudit: %s\n", eb);
        if (rc == SEGAUDIT_EIO) {
            /* After a failed close (file size limit reached), HDF5 1.10
             * may crash in its exit-time cleanup; there is nothing left to
             * clean up, so skip it. */
            fflush(NULL);
            _Exit(EXIT_INPUT);
        }
        return cli_exit_status(rc);
    }
    if (!quiet)
        print_summary(&s, (double)(t1.tv_sec - t0.tv_sec) +
                              (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    return 0;
}
