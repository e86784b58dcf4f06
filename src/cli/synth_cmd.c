/* `segaudit synth`: option parsing for segaudit_synth().  Public API only. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segaudit/common.h"
#include "segaudit/synth.h"

#include "commands.h"

static const char usage_synth[] =
    "Usage: segaudit synth --out DIR --images N --size HxW [OPTIONS]\n"
    "\n"
    "Writes a synthetic street-scene dataset with known annotation errors:\n"
    "  DIR/labels/<id>.png  8-bit gray label maps (the given labels, errors\n"
    "                       included); ids are synth_000000, synth_000001, ...\n"
    "  DIR/probs.h5         /pred_probs (N,K,H,W) and /image_ids, as h5py\n"
    "                       writes them\n"
    "  DIR/truth.csv        image,mislabeled,error_type,error_pixels\n"
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
    "  --seed S            random seed, 0..2^64-1 (0)\n"
    "  --dtype f32|f16     element type of /pred_probs (f32)\n"
    "  --compress none|gzip  gzip: chunks of (1,K,rows,W), shuffle+deflate\n"
    "                      (none: contiguous)\n"
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

static volatile int g_cancel;
static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
    g_cancel = 1;
}

static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("segaudit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'segaudit synth --help'.\n", stderr);
    va_end(ap);
}

/* Whole number in [lo, hi]; -1 on error (after printing it). */
static int parse_u64(const char *opt, const char *s, uint64_t lo,
                     uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < lo || v > hi) {
        usage_error("%s: '%s' is not a whole number from %" PRIu64
                    " to %" PRIu64, opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_size(const char *s, uint32_t *h, uint32_t *w)
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
        usage_error("--size: expected HxW from 16x16 to 65535x65535 "
                    "(e.g. 1024x2048), got '%s'", s);
        return -1;
    }
    *h = (uint32_t)hh;
    *w = (uint32_t)ww;
    return 0;
}

enum { O_OUT = 256, O_IMAGES, O_SIZE, O_CLASSES, O_RATE, O_SEED, O_DTYPE,
       O_COMPRESS, O_VOID, O_THREADS, O_FORCE };

/* Fills s from argv; returns 0, 1 after --help, or -1 on a usage error. */
static int parse(int argc, char **argv, SegauditSynthSettings *s, int *quiet)
{
    static const struct option opts[] = {
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
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    uint64_t v;
    int c, have_size = 0;
    char *end;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        switch (c) {
        case O_OUT: s->out_dir = optarg; break;
        case O_IMAGES:
            if (parse_u64("--images", optarg, 1, (uint64_t)1 << 40,
                          &s->n_images))
                return -1;
            break;
        case O_SIZE:
            if (parse_size(optarg, &s->height, &s->width))
                return -1;
            have_size = 1;
            break;
        case O_CLASSES:
            if (parse_u64("--classes", optarg, 2, 255, &v))
                return -1;
            s->n_classes = (int)v;
            break;
        case O_RATE:
            errno = 0;
            s->error_rate = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(s->error_rate >= 0) ||
                s->error_rate > 1) {
                usage_error("--error-rate: '%s' is not a number from 0 to 1",
                            optarg);
                return -1;
            }
            break;
        case O_SEED:
            if (parse_u64("--seed", optarg, 0, UINT64_MAX, &s->seed))
                return -1;
            break;
        case O_DTYPE:
            if (!strcmp(optarg, "f32") || !strcmp(optarg, "float32"))
                s->dtype = SEGAUDIT_SYNTH_F32;
            else if (!strcmp(optarg, "f16") || !strcmp(optarg, "float16"))
                s->dtype = SEGAUDIT_SYNTH_F16;
            else {
                usage_error("--dtype: expected f32 or f16, got '%s'", optarg);
                return -1;
            }
            break;
        case O_COMPRESS:
            if (!strcmp(optarg, "none"))
                s->compress = SEGAUDIT_SYNTH_NONE;
            else if (!strcmp(optarg, "gzip"))
                s->compress = SEGAUDIT_SYNTH_GZIP;
            else {
                usage_error("--compress: expected none or gzip, got '%s'",
                            optarg);
                return -1;
            }
            break;
        case O_VOID:
            if (parse_u64("--void", optarg, 0, 255, &v))
                return -1;
            s->void_value = (int)v;
            break;
        case O_THREADS:
            if (parse_u64("--threads", optarg, 1, 4096, &v))
                return -1;
            s->n_threads = (int)v;
            break;
        case O_FORCE: s->force = 1; break;
        case 'q': *quiet = 1; break;
        case 'h': fputs(usage_synth, stdout); return 1;
        case ':': usage_error("%s needs a value", argv[optind - 1]); return -1;
        default:
            usage_error("unknown option '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!s->out_dir || !s->n_images || !have_size) {
        usage_error("%s is required", !s->out_dir ? "--out DIR"
                    : !s->n_images ? "--images N" : "--size HxW");
        return -1;
    }
    if (s->void_value >= 0 && s->void_value < s->n_classes) {
        usage_error("--void %d is a class (K=%d); use a value from %d to 255",
                    s->void_value, s->n_classes, s->n_classes);
        return -1;
    }
    return 0;
}

int segaudit_cli_synth(int argc, char **argv)
{
    SegauditSynthSettings s;
    int quiet = 0;
    char eb[1024];
    struct timespec t0, t1;

    segaudit_synth_default_settings(&s);
    int p = parse(argc, argv, &s, &quiet);
    if (p != 0)
        return p > 0 ? 0 : 2;

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* Past a file size limit, writes fail (EFBIG) and are reported like a
     * full disk, instead of the signal killing us mid-file. */
    void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    s.cancel = &g_cancel;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = segaudit_synth(&s, eb, sizeof eb);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    signal(SIGXFSZ, old_xfsz);

    if (rc == SEGAUDIT_ECANCEL || (rc && g_signal)) {
        fprintf(stderr, "segaudit: interrupted; no dataset was written\n");
        return 128 + (g_signal ? (int)g_signal : SIGINT);
    }
    if (rc) {
        fprintf(stderr, "segaudit: %s\n", eb);
        if (rc == SEGAUDIT_EIO) {
            /* After a failed close (file size limit reached), HDF5 1.10
             * may crash in its exit-time cleanup; there is nothing left to
             * clean up, so skip it. */
            fflush(NULL);
            _Exit(1);
        }
        return rc == SEGAUDIT_EINVAL ? 2 : 1;
    }
    if (!quiet) {
        double sec = (double)(t1.tv_sec - t0.tv_sec) +
                     (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        uint64_t bad = (uint64_t)floor(s.error_rate * (double)s.n_images +
                                       0.5);
        fprintf(stderr,
                "segaudit: %" PRIu64 " images of %ux%u, K=%d, %s; %" PRIu64
                " with an annotation error; %.1f s (%.2f images/s); "
                "dataset in %s/\n",
                s.n_images, s.height, s.width, s.n_classes,
                s.dtype == SEGAUDIT_SYNTH_F16 ? "float16" : "float32", bad,
                sec, sec > 0 ? (double)s.n_images / sec : 0.0, s.out_dir);
    }
    return 0;
}
