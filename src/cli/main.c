/* segaudit — the command-line program.  Uses only the public API. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "segaudit/segaudit.h"

#define EXIT_INPUT 1
#define EXIT_USAGE 2

static volatile int g_cancel;
static int g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
    g_cancel = 1;
}

static _Noreturn void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("segaudit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'segaudit audit --help'.\n", stderr);
    va_end(ap);
    exit(EXIT_USAGE);
}

static const char usage_main[] =
    "Usage: segaudit COMMAND [OPTIONS]\n"
    "\n"
    "Finds annotation errors in semantic-segmentation datasets.\n"
    "\n"
    "Commands:\n"
    "  audit     score every image and write a ranked report\n"
    "  synth     write a synthetic dataset with known annotation errors\n"
    "\n"
    "  segaudit --version | --help | audit --help | synth --help\n";

static const char usage_audit[] =
    "Usage: segaudit audit --labels DIR --probs FILE[:DATASET] --out DIR "
    "[OPTIONS]\n"
    "\n"
    "Input:\n"
    "  --labels DIR            label PNGs, one per image: <id><suffix>\n"
    "  --label-suffix S        file name suffix of the labels (.png)\n"
    "  --probs FILE[:DATASET]  HDF5 predictions (N,K,H,W) (/pred_probs)\n"
    "  --ids DATASET           HDF5 dataset of image ids (default "
    "/image_ids\n"
    "                          when present, else sorted label names)\n"
    "  --ignore-index V        label value to ignore (repeatable), e.g. 255\n"
    "  --logits                the stored values are logits (softmax first)\n"
    "  --on-error fail|skip    skip: an image that cannot be read or has\n"
    "                          invalid values is left out and listed in\n"
    "                          skipped.csv (fail)\n"
    "  --max-skipped N         with skip, more than N skipped images fail\n"
    "                          the run\n"
    "  --allow-plugins         let HDF5 load filter plugins (refused by\n"
    "                          default: prediction files are untrusted)\n"
    "  --strict                refuse probabilities that do not sum to 1\n"
    "                          (|sum - 1| > 0.01; default: count and warn)\n"
    "  --class-names FILE      one class name per line (K lines)\n"
    "  --classes PRESET        cityscapes | ade20k | pascal-voc: class names\n"
    "                          and colours of a known dataset\n"
    "  --palette FILE          class colours for overlays: 'r g b' per line\n"
    "  --truth FILE            CSV image,mislabeled of known errors: evaluate\n"
    "                          every score (writes evaluation.csv)\n"
    "\n"
    "Method:\n"
    "  --temperature T         softmin temperature, > 0 (0.1)\n"
    "  --downsample F          score F x F blocks (1)\n"
    "  --downsample-labels R   block label rule: mean (reference) | mode\n"
    "  --rank-by S             softmin | num_pixel_issues |\n"
    "                          mean_self_confidence | min_self_confidence |\n"
    "                          pixel_accuracy | class_balanced_accuracy |\n"
    "                          mean_iou (softmin)\n"
    "\n"
    "Output:\n"
    "  --out DIR               report folder (created if missing)\n"
    "  --masks                 also write masks/<id>.png (255 = issue)\n"
    "  --html, --no-html       write report.html, a page to review the\n"
    "                          results in a browser (on by default)\n"
    "  --min-region-area A     list only regions of at least A pixels (1)\n"
    "  --top N|all             overlays/<id>.png for the N worst images (50;\n"
    "                          0: none)\n"
    "  --overlay-width W       panels wider than W pixels are scaled down\n"
    "                          (1024)\n"
    "  --images DIR            photos <id><image-suffix> to draw issues over\n"
    "  --image-suffix S        suffix of the photos (.png)\n"
    "  --progress              show progress even when stderr is not a\n"
    "                          terminal\n"
    "  -q, --quiet             no summary line\n"
    "\n"
    "Resources:\n"
    "  --threads N             worker threads (all cores)\n"
    "  --memory-limit SIZE     candidate records kept in memory before\n"
    "                          spilling to scratch (1G; K, M, G suffixes)\n"
    "  --scratch DIR           folder for spill files ($TMPDIR or /tmp)\n"
    "  --band-size SIZE        tensor bytes read per work unit (4M)\n"
    "\n"
    "Exit status: 0 report written, 1 input or I/O error, 2 usage error.\n";

/* "64K", "1G", "512M", "1000" -> bytes; 0 on error. */
static uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return 0;
    uint64_t mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = (uint64_t)1 << 10; end++; break;
    case 'M': mul = (uint64_t)1 << 20; end++; break;
    case 'G': mul = (uint64_t)1 << 30; end++; break;
    case 'T': mul = (uint64_t)1 << 40; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v > UINT64_MAX / mul)
        return 0;
    return (uint64_t)v * mul;
}

static double parse_double(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        die_usage("%s: '%s' is not a number", opt, s);
    return v;
}

static long parse_long(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die_usage("%s: '%s' is not a whole number from %ld to %ld", opt, s,
                  lo, hi);
    return v;
}

/* Reads one name per line; trailing empty lines are dropped. */
/* Opens a small text file given by the user: a regular file only (a FIFO
 * or /dev/zero would block or never end), or exits with a message. */
static FILE *open_text(const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "segaudit: %s: cannot open the %s: %s\n", path,
                what, strerror(errno));
        exit(EXIT_INPUT);
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (16 << 20)) {
        fprintf(stderr, "segaudit: %s: the %s must be a regular file of at "
                "most 16 MB\n", path, what);
        exit(EXIT_INPUT);
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "segaudit: %s: cannot open the %s: %s\n", path,
                what, strerror(errno));
        exit(EXIT_INPUT);
    }
    return f;
}

static char **read_names(const char *path, int *n)
{
    FILE *f = open_text(path, "class names");
    char **names = NULL;
    int cap = 0;
    *n = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, (size_t)cap * sizeof *names);
            if (!names) {
                fprintf(stderr, "segaudit: out of memory\n");
                exit(EXIT_INPUT);
            }
        }
        if (*n >= 65536 || !(names[*n] = strdup(line))) {
            fprintf(stderr, "segaudit: %s: %s\n", path,
                    *n >= 65536 ? "more than 65536 class names"
                                : "out of memory");
            exit(EXIT_INPUT);
        }
        ++*n;
    }
    free(line);
    if (ferror(f)) {
        fprintf(stderr, "segaudit: %s: read failed: %s\n", path,
                strerror(errno));
        exit(EXIT_INPUT);
    }
    fclose(f);
    while (*n > 0 && names[*n - 1][0] == '\0')
        free(names[--*n]);
    if (*n == 0) {
        fprintf(stderr, "segaudit: %s: no class names in the file\n", path);
        exit(EXIT_INPUT);
    }
    return names;
}

/* ---- output folder: build in a staging folder, then move into place ---- */

static int remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        size_t n = strlen(path) + strlen(de->d_name) + 2;
        char *p = malloc(n);
        if (!p)
            break;
        snprintf(p, n, "%s/%s", path, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
        free(p);
    }
    closedir(d);
    return rmdir(path);
}

static int make_dirs(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    for (char *c = p + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *c = '/';
    }
    int rc = mkdir(p, 0777) != 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Moves the finished report from stage into out. */
static int commit(const char *stage, const char *out)
{
    static const char *files[] = {"images.csv",     "classes.csv",
                                  "pairs.csv",      "regions.csv",
                                  "evaluation.csv", "skipped.csv",
                                  "report.json",    "report.html"};
    int rc = 0;
    /* The folders of an earlier report go away with the staging folder:
     * replaced by the new ones, or dropped when this run wrote none. */
    static const char *dirs[] = {"masks", "overlays"};
    for (int i = 0; rc == 0 && i < 2; i++) {
        char *src = join(stage, dirs[i]), *dst = join(out, dirs[i]);
        char old_name[32];
        snprintf(old_name, sizeof old_name, "%s.old", dirs[i]);
        char *old = join(stage, old_name);
        struct stat st;
        if (!src || !dst || !old)
            rc = -1;
        else if (lstat(dst, &st) == 0 && rename(dst, old) != 0)
            rc = -1;
        else if (lstat(src, &st) == 0 && rename(src, dst) != 0)
            rc = -1;
        if (rc)
            fprintf(stderr, "segaudit: %s: cannot move into place: %s\n",
                    dst ? dst : out, strerror(errno));
        free(src);
        free(dst);
        free(old);
    }
    for (int i = 0; rc == 0 && i < 8; i++) {
        char *src = join(stage, files[i]), *dst = join(out, files[i]);
        struct stat st;
        if (src && dst && lstat(src, &st) != 0) {
            /* not written this time (evaluation.csv without --truth): an
             * old one must not stay next to the new report */
            if (unlink(dst) != 0 && errno != ENOENT)
                rc = -1;
        } else if (!src || !dst || rename(src, dst) != 0) {
            fprintf(stderr, "segaudit: %s: cannot move into place: %s\n",
                    dst ? dst : out, strerror(errno));
            rc = -1;
        }
        free(src);
        free(dst);
    }
    return rc;
}

/* ---- audit ------------------------------------------------------------- */

static void print_metric(int has, double v)
{
    if (has)
        printf(" %9.4f", v);
    else
        printf(" %9s", "-");
}

/* The evaluation against the truth file, one line per score. */
static void print_evaluation(const SegauditAudit *a)
{
    SegauditEvaluation ev;
    segaudit_audit_evaluation(a, 0, &ev);
    printf("Evaluation against %s: %llu of %llu images mislabeled\n",
           segaudit_audit_settings(a)->truth_path,
           (unsigned long long)ev.positives, (unsigned long long)ev.images);
    printf("%-24s %9s %9s %9s %8s\n", "score", "AP", "AUROC", "P@P",
           "top-10");
    for (int i = 0; i < SEGAUDIT_N_SCORES; i++) {
        segaudit_audit_evaluation(a, i, &ev);
        printf("%-24s", segaudit_score_name(i));
        print_metric(ev.has_ap, ev.ap);
        print_metric(ev.has_auroc, ev.auroc);
        print_metric(ev.has_precision, ev.precision_at_p);
        printf(" %8llu\n", (unsigned long long)ev.hits_at_10);
    }
}

enum {
    OPT_LABELS = 256, OPT_SUFFIX, OPT_PROBS, OPT_IDS, OPT_IGNORE, OPT_LOGITS,
    OPT_NAMES, OPT_TEMP, OPT_DS, OPT_DSL, OPT_RANK, OPT_OUT, OPT_MASKS,
    OPT_THREADS, OPT_MEM, OPT_SCRATCH, OPT_BAND, OPT_TRUTH, OPT_MINAREA,
    OPT_PROGRESS, OPT_PRESET, OPT_PALETTE, OPT_TOP, OPT_OWIDTH, OPT_IMAGES,
    OPT_ISUFFIX, OPT_HTML, OPT_NOHTML, OPT_STRICT, OPT_PLUGINS, OPT_ONERROR,
    OPT_MAXSKIP
};

/* ---- progress on stderr -------------------------------------------------- */

typedef struct Progress {
    double t0, last;
    int shown;
} Progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Redraws one line at most twice a second: images, MB/s, ETA. */
static void on_progress(void *ctx, int pass, uint64_t done, uint64_t total,
                        uint64_t bytes)
{
    Progress *p = ctx;
    double t = now_s();
    if (p->t0 == 0)
        p->t0 = t;
    if (t - p->last < 0.5 && done < total)
        return;
    p->last = t;
    double el = t - p->t0;
    double mbs = el > 0 ? (double)bytes / el / 1e6 : 0;
    double eta = done > 0 ? el * (double)(total - done) / (double)done : 0;
    fprintf(stderr, "\r%s: %llu/%llu images, %.0f MB/s, ETA %02d:%02d ",
            pass == 1 ? "reading" : "second read",
            (unsigned long long)done, (unsigned long long)total, mbs,
            (int)(eta / 60), (int)eta % 60);
    p->shown = 1;
}

/* Reads K colours, "r g b" per line. */
static uint8_t (*read_palette(const char *path, int *n))[3]
{
    FILE *f = open_text(path, "palette");
    uint8_t (*pal)[3] = NULL;
    int cap = 0, r, g, b, line = 0;
    char buf[256];
    *n = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        char *p = buf;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\n' || *p == '\0' || *p == '#')
            continue;
        if (sscanf(p, "%d %d %d", &r, &g, &b) != 3 || r < 0 || r > 255 ||
            g < 0 || g > 255 || b < 0 || b > 255) {
            fprintf(stderr, "segaudit: %s:%d: expected 'r g b' with values "
                    "0..255\n", path, line);
            exit(EXIT_INPUT);
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            pal = realloc(pal, (size_t)cap * sizeof *pal);
            if (!pal) {
                fprintf(stderr, "segaudit: out of memory\n");
                exit(EXIT_INPUT);
            }
        }
        pal[*n][0] = (uint8_t)r;
        pal[*n][1] = (uint8_t)g;
        pal[*n][2] = (uint8_t)b;
        ++*n;
    }
    fclose(f);
    if (*n == 0) {
        fprintf(stderr, "segaudit: %s: no colours in the palette\n", path);
        exit(EXIT_INPUT);
    }
    return pal;
}

static int cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"labels", required_argument, 0, OPT_LABELS},
        {"label-suffix", required_argument, 0, OPT_SUFFIX},
        {"probs", required_argument, 0, OPT_PROBS},
        {"ids", required_argument, 0, OPT_IDS},
        {"ignore-index", required_argument, 0, OPT_IGNORE},
        {"logits", no_argument, 0, OPT_LOGITS},
        {"class-names", required_argument, 0, OPT_NAMES},
        {"temperature", required_argument, 0, OPT_TEMP},
        {"downsample", required_argument, 0, OPT_DS},
        {"downsample-labels", required_argument, 0, OPT_DSL},
        {"rank-by", required_argument, 0, OPT_RANK},
        {"out", required_argument, 0, OPT_OUT},
        {"masks", no_argument, 0, OPT_MASKS},
        {"threads", required_argument, 0, OPT_THREADS},
        {"memory-limit", required_argument, 0, OPT_MEM},
        {"scratch", required_argument, 0, OPT_SCRATCH},
        {"band-size", required_argument, 0, OPT_BAND},
        {"truth", required_argument, 0, OPT_TRUTH},
        {"min-region-area", required_argument, 0, OPT_MINAREA},
        {"progress", no_argument, 0, OPT_PROGRESS},
        {"classes", required_argument, 0, OPT_PRESET},
        {"palette", required_argument, 0, OPT_PALETTE},
        {"top", required_argument, 0, OPT_TOP},
        {"overlay-width", required_argument, 0, OPT_OWIDTH},
        {"images", required_argument, 0, OPT_IMAGES},
        {"image-suffix", required_argument, 0, OPT_ISUFFIX},
        {"html", no_argument, 0, OPT_HTML},
        {"no-html", no_argument, 0, OPT_NOHTML},
        {"strict", no_argument, 0, OPT_STRICT},
        {"allow-plugins", no_argument, 0, OPT_PLUGINS},
        {"on-error", required_argument, 0, OPT_ONERROR},
        {"max-skipped", required_argument, 0, OPT_MAXSKIP},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    SegauditSettings s;
    segaudit_default_settings(&s);
    const char *out = NULL, *names_path = NULL;
    char *probs = NULL;
    int quiet = 0, masks = 0, force_progress = 0, html = 1, c;
    const char *palette_path = NULL;
    const SegauditClassPreset *preset = NULL;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_LABELS: s.labels_dir = optarg; break;
        case OPT_SUFFIX: s.label_suffix = optarg; break;
        case OPT_PROBS: probs = optarg; break;
        case OPT_IDS: s.ids_dataset = optarg; break;
        case OPT_IGNORE:
            if (s.n_ignore == SEGAUDIT_MAX_IGNORE)
                die_usage("--ignore-index: at most %d values",
                          SEGAUDIT_MAX_IGNORE);
            s.ignore_index[s.n_ignore++] =
                (int)parse_long("--ignore-index", optarg, 0, 65535);
            break;
        case OPT_LOGITS: s.logits = 1; break;
        case OPT_NAMES: names_path = optarg; break;
        case OPT_TEMP:
            s.temperature = parse_double("--temperature", optarg);
            if (!(s.temperature > 0) || s.temperature > 1e300)
                die_usage("--temperature must be greater than 0, got '%s'",
                          optarg);
            break;
        case OPT_DS:
            s.downsample = (int)parse_long("--downsample", optarg, 1, 255);
            break;
        case OPT_DSL:
            if (!strcmp(optarg, "mean"))
                s.downsample_labels = SEGAUDIT_DS_LABELS_MEAN;
            else if (!strcmp(optarg, "mode"))
                s.downsample_labels = SEGAUDIT_DS_LABELS_MODE;
            else
                die_usage("--downsample-labels: expected mean or mode, got "
                          "'%s'", optarg);
            break;
        case OPT_RANK:
            s.rank_by = segaudit_score_from_name(optarg);
            if (s.rank_by < 0)
                die_usage("--rank-by: '%s' is not a score (softmin, "
                          "num_pixel_issues, mean_self_confidence, "
                          "min_self_confidence, pixel_accuracy, "
                          "class_balanced_accuracy, mean_iou)", optarg);
            break;
        case OPT_OUT: out = optarg; break;
        case OPT_MASKS: masks = 1; break;
        case OPT_THREADS:
            s.n_threads = (int)parse_long("--threads", optarg, 1, 4096);
            break;
        case OPT_MEM:
            s.memory_limit = parse_size(optarg);
            if (s.memory_limit < 65536)
                die_usage("--memory-limit: '%s' is not a size of at least "
                          "64K", optarg);
            break;
        case OPT_SCRATCH: s.scratch_dir = optarg; break;
        case OPT_TRUTH: s.truth_path = optarg; break;
        case OPT_MINAREA:
            s.min_region_area = (uint64_t)parse_long("--min-region-area",
                                                     optarg, 1, 2147483647L);
            break;
        case OPT_PROGRESS: force_progress = 1; break;
        case OPT_PRESET:
            preset = segaudit_class_preset(optarg);
            if (!preset)
                die_usage("--classes: unknown preset '%s' (cityscapes, "
                          "ade20k, pascal-voc)", optarg);
            break;
        case OPT_PALETTE: palette_path = optarg; break;
        case OPT_TOP:
            s.overlay_top = !strcmp(optarg, "all")
                                ? UINT64_MAX
                                : (uint64_t)parse_long("--top", optarg, 0,
                                                       2147483647L);
            break;
        case OPT_OWIDTH:
            s.overlay_width =
                (uint32_t)parse_long("--overlay-width", optarg, 16, 65536);
            break;
        case OPT_IMAGES: s.images_dir = optarg; break;
        case OPT_HTML: html = 1; break;
        case OPT_NOHTML: html = 0; break;
        case OPT_STRICT: s.strict = 1; break;
        case OPT_PLUGINS: s.allow_plugins = 1; break;
        case OPT_ONERROR:
            if (!strcmp(optarg, "skip"))
                s.on_error_skip = 1;
            else if (!strcmp(optarg, "fail"))
                s.on_error_skip = 0;
            else
                die_usage("--on-error: expected fail or skip, got '%s'",
                          optarg);
            break;
        case OPT_MAXSKIP:
            s.max_skipped = (uint64_t)parse_long("--max-skipped", optarg, 0,
                                                 2147483647L);
            break;
        case OPT_ISUFFIX: s.image_suffix = optarg; break;
        case OPT_BAND:
            s.band_bytes = parse_size(optarg);
            if (!s.band_bytes)
                die_usage("--band-size: '%s' is not a size", optarg);
            break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage_audit, stdout); return 0;
        case ':': die_usage("%s needs a value", argv[optind - 1]);
        default: die_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        die_usage("unexpected argument '%s'", argv[optind]);
    if (!s.labels_dir)
        die_usage("--labels DIR is required");
    if (!probs)
        die_usage("--probs FILE is required");
    if (!out)
        die_usage("--out DIR is required");

    /* FILE[:DATASET]: a dataset part is split off only when FILE itself
     * does not exist, so paths with ':' keep working. */
    char *probs_file = strdup(probs);
    struct stat st;
    char *colon = strrchr(probs_file, ':');
    if (colon && stat(probs_file, &st) != 0) {
        *colon = '\0';
        s.probs_dataset = colon + 1;
        if (!*s.probs_dataset)
            die_usage("--probs: empty dataset name in '%s'", probs);
    }
    s.probs_path = probs_file;

    char **names = NULL;
    if (names_path && preset)
        die_usage("--class-names and --classes: give one of them");
    if (names_path) {
        names = read_names(names_path, &s.n_class_names);
        s.class_names = (const char *const *)names;
    } else if (preset) {
        s.class_names = preset->class_names;
        s.n_class_names = preset->n_classes;
        s.palette = preset->palette;
        s.n_palette = preset->n_classes;
    }
    uint8_t (*palette)[3] = NULL;
    if (palette_path) {
        int n_pal;
        palette = read_palette(palette_path, &n_pal);
        s.palette = (const uint8_t(*)[3])palette;
        s.n_palette = n_pal;
    }
    Progress prog = {0, 0, 0};
    if (force_progress || (!quiet && isatty(STDERR_FILENO))) {
        s.progress = on_progress;
        s.progress_ctx = &prog;
    }

    /* Stage the report next to its final place. */
    int status = 0;
    SegauditAudit *a = NULL;
    char *stage = NULL, *stage_masks = NULL, *stage_overlays = NULL;
    int created_out = stat(out, &st) != 0;
    if (make_dirs(out) != 0) {
        fprintf(stderr, "segaudit: %s: cannot create the output folder: "
                "%s\n", out, strerror(errno));
        status = EXIT_INPUT;
        goto done;
    }
    char stage_name[64];
    snprintf(stage_name, sizeof stage_name, ".segaudit-stage-%ld",
             (long)getpid());
    stage = join(out, stage_name);
    stage_masks = join(stage ? stage : "", "masks");
    stage_overlays = join(stage ? stage : "", "overlays");
    if (!stage || !stage_masks || !stage_overlays || mkdir(stage, 0777) != 0) {
        fprintf(stderr, "segaudit: %s: cannot create: %s\n", out,
                strerror(errno));
        status = EXIT_INPUT;
        free(stage);
        stage = NULL;
        goto done;
    }
    if (masks)
        s.masks_dir = stage_masks;
    if (s.overlay_top > 0)
        s.overlays_dir = stage_overlays;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    s.cancel = &g_cancel;

    a = segaudit_audit_new();
    char eb[1024] = "";
    int rc = a ? segaudit_audit_run(a, &s) : SEGAUDIT_ENOMEM;
    if (prog.shown)
        fputc('\n', stderr);
    if (rc)
        snprintf(eb, sizeof eb, "%s",
                 a ? segaudit_audit_error(a) : "out of memory");
    if (rc == 0)
        rc = segaudit_report_write(a, stage, eb, sizeof eb);
    if (rc == 0 && html)
        rc = segaudit_report_write_html(
            a, stage, s.overlay_top > 0 ? "overlays" : NULL, eb, sizeof eb);
    /* Past this point a signal no longer stops the commit half-way: it is
     * blocked while the files are moved, and a signal that came before
     * means no commit at all. */
    sigset_t block, prev;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &prev);
    if (rc == 0 && g_cancel)
        rc = SEGAUDIT_ECANCEL;
    if (rc == 0 && commit(stage, out) != 0)
        rc = SEGAUDIT_EIO, eb[0] = '\0';
    if (rc == 0)
        g_signal = 0; /* the report is complete: a late signal changes
                         nothing */
    if (rc == SEGAUDIT_ECANCEL || g_signal) {
        fprintf(stderr, "segaudit: interrupted; no report was written\n");
        status = 128 + (g_signal ? g_signal : SIGINT);
    } else if (rc) {
        if (eb[0])
            fprintf(stderr, "segaudit: %s\n", eb);
        status = rc == SEGAUDIT_EINVAL ? EXIT_USAGE : EXIT_INPUT;
    }
    remove_tree(stage);
    if (status && created_out)
        rmdir(out); /* only if still empty */
    sigprocmask(SIG_SETMASK, &prev, NULL);

    if (status == 0) {
        SegauditDatasetInfo in;
        segaudit_audit_info(a, &in);
        if (in.far_from_one) {
            SegauditImageResult im;
            segaudit_audit_image(a, in.far_image, &im);
            fprintf(stderr,
                    "segaudit: warning: %llu pixels (%.3g%% of the valid "
                    "ones) have probabilities that do not sum to 1, the "
                    "first in image '%s' at (row %u, col %u): sum %g; use "
                    "--logits for logits, --strict to refuse\n",
                    (unsigned long long)in.far_from_one,
                    100.0 * (double)in.far_from_one /
                        (double)(in.valid_pixels ? in.valid_pixels : 1),
                    im.id, in.far_row, in.far_col, in.far_sum);
        }
    }
    if (status == 0 && !quiet && segaudit_audit_has_truth(a))
        print_evaluation(a);
    if (status == 0 && !quiet) {
        SegauditDatasetInfo in;
        segaudit_audit_info(a, &in);
        if (in.images_skipped)
            fprintf(stderr, "segaudit: %llu images skipped (see "
                    "skipped.csv)\n", (unsigned long long)in.images_skipped);
        fprintf(stderr,
                "segaudit: %llu images, %llu issue pixels in %llu images "
                "(n_issues %llu), %.1f s; report in %s/\n",
                (unsigned long long)in.n_images,
                (unsigned long long)in.issue_pixels,
                (unsigned long long)in.images_with_issues,
                (unsigned long long)in.n_issues, in.seconds_total, out);
    }
done:
    segaudit_audit_free(a);
    if (names) {
        for (int i = 0; i < s.n_class_names; i++)
            free(names[i]);
        free(names);
    }
    free(palette);
    free(probs_file);
    free(stage);
    free(stage_masks);
    free(stage_overlays);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("segaudit %s\n", segaudit_version());
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "audit"))
        return cmd_audit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "synth"))
        return segaudit_cli_synth(argc - 1, argv + 1);
    fprintf(stderr, "segaudit: unknown command '%s'\n%s", argv[1],
            usage_main);
    return EXIT_USAGE;
}
