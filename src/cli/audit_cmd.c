/* `segaudit audit`: the usage text, the option table, the parsing of the
 * command line into SegauditSettings (with the class names, preset and
 * palette it names), and the command's steps from parsing to summary. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "segaudit/segaudit.h"

#include "audit.h"
#include "class_files.h"
#include "commands.h"
#include "util.h"

static const char usage_audit[] =
    "Usage: segaudit audit --labels DIR --probs FILE[:DATASET] --out DIR "
    "[OPTIONS]\n"
    "\n"
    "Input:\n"
    "  --labels DIR|FILE       a folder of label PNGs <id><suffix>, searched\n"
    "                          recursively; or one (N,H,W) integer array:\n"
    "                          labels.npy, or labels.h5[:DATASET] (/labels)\n"
    "  --label-suffix S        file name suffix of the labels (.png)\n"
    "  --label-map FILE|cityscapes  rename label values first: CSV lines\n"
    "                          from,to; cityscapes: labelIds -> trainIds\n"
    "  --probs FILE[:DATASET]  predictions, HDF5 (/pred_probs) or .npy:\n"
    "                          float16/32/64, or quantised uint8/uint16\n"
    "  --layout auto|nchw|nhwc  axis order of the predictions: (N,K,H,W) or\n"
    "                          channels-last (N,H,W,K) (auto: nchw unless\n"
    "                          only nhwc fits the labels and class names)\n"
    "  --upsample bilinear|nearest  predictions at 1/s of the labels'\n"
    "                          size (s an integer): upsampled as torch's\n"
    "                          interpolate(align_corners=False) does\n"
    "  --probs-scale S         quantised values mean value * S (default:\n"
    "                          the scale_factor/add_offset attributes, else\n"
    "                          value/255 or value/65535)\n"
    "  --ids DATASET|FILE      image ids: an HDF5 dataset of the predictions\n"
    "                          file, or a text file with one id per line\n"
    "                          (default /image_ids when present, else the\n"
    "                          sorted label names, else the image indices)\n"
    "  --ignore-index V        label value to ignore (repeatable), e.g. 255\n"
    "                          (negative values: of signed label arrays)\n"
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
    "                          and colours of a known dataset; its void\n"
    "                          value (255) is ignored unless --ignore-index\n"
    "                          is given\n"
    "  --palette FILE          class colours for overlays: 'r g b' per line\n"
    "  --truth FILE            CSV image,mislabeled of known errors: evaluate\n"
    "                          every score (writes evaluation.csv)\n"
    "  --truth-masks DIR       DIR/<id>.png true error masks: evaluate the\n"
    "                          issue pixels and regions too\n"
    "\n"
    "Method:\n"
    "  --temperature T         softmin temperature, > 0 (0.1)\n"
    "  --downsample F          score F x F blocks (1)\n"
    "  --downsample-labels R   block label rule: mean (reference) | mode\n"
    "  --rank-by S             softmin | num_pixel_issues |\n"
    "                          mean_self_confidence | min_self_confidence |\n"
    "                          pixel_accuracy | class_balanced_accuracy |\n"
    "                          mean_iou (softmin)\n"
    "  --flag-rule R           flag the likely mislabeled images by their\n"
    "                          largest issue region: mass | area | none\n"
    "                          (mass)\n"
    "\n"
    "Output:\n"
    "  --out DIR               report folder (created if missing)\n"
    "  --masks                 also write masks/<id>.png (255 = issue)\n"
    "  --html, --no-html       write report.html, a page to review the\n"
    "                          results in a browser (on by default)\n"
    "  --min-region-area A     list only regions of at least A pixels (auto:\n"
    "                          one more than the lower median region area)\n"
    "  --top N|all             overlays/<id>.png for the N worst images (50;\n"
    "                          0: none)\n"
    "  --overlay-width W       panels wider than W pixels are scaled down\n"
    "                          (1024)\n"
    "  --images DIR            photos <id><image-suffix> to draw issues over\n"
    "  --image-suffix S        suffix of the photos (.png)\n"
    "  --progress              show progress even when stderr is not a\n"
    "                          terminal\n"
    "  -q, --quiet             no summary line\n"
    "  --compare OLD           also compare with the report in OLD (an\n"
    "                          earlier audit): changes.csv, class_changes.csv\n"
    "                          and a section of report.html\n"
    "  --dry-run               check every input (label maps read whole, a\n"
    "                          few tensor rows) and stop: no scoring, no\n"
    "                          report, --out not needed\n"
    "  --cache DIR             keep each image's results in DIR; a later\n"
    "                          run reads from the tensor only the images\n"
    "                          whose labels, predictions or settings\n"
    "                          changed, and a killed run resumes where it\n"
    "                          stopped (same results as without it)\n"
    "  --cache-verify          recognise predictions by a digest of their\n"
    "                          rows, not by the file's size and time\n"
    "\n"
    "Resources:\n"
    "  --threads N             worker threads (all cores)\n"
    "  --memory-limit SIZE     candidate records kept in memory before\n"
    "                          spilling to scratch (1G; K, M, G suffixes)\n"
    "  --scratch DIR           folder for spill files ($TMPDIR or /tmp)\n"
    "  --band-size SIZE        tensor bytes read per work unit (1M)\n"
    "\n"
    "Exit status: 0 report written, 1 input or I/O error, 2 usage error.\n";

enum {
    OPT_LABELS = 256, OPT_SUFFIX, OPT_PROBS, OPT_IDS, OPT_IGNORE, OPT_LOGITS,
    OPT_NAMES, OPT_TEMP, OPT_DS, OPT_DSL, OPT_RANK, OPT_OUT, OPT_MASKS,
    OPT_THREADS, OPT_MEM, OPT_SCRATCH, OPT_BAND, OPT_TRUTH, OPT_MINAREA,
    OPT_PROGRESS, OPT_PRESET, OPT_PALETTE, OPT_TOP, OPT_OWIDTH, OPT_IMAGES,
    OPT_ISUFFIX, OPT_HTML, OPT_NOHTML, OPT_STRICT, OPT_PLUGINS, OPT_ONERROR,
    OPT_MAXSKIP, OPT_LAYOUT, OPT_PSCALE, OPT_LMAP, OPT_UPSAMPLE, OPT_DRYRUN,
    OPT_COMPARE, OPT_CACHE, OPT_CACHEVERIFY, OPT_FLAG, OPT_TMASKS
};

static const struct option audit_options[] = {
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
    {"flag-rule", required_argument, 0, OPT_FLAG},
    {"out", required_argument, 0, OPT_OUT},
    {"masks", no_argument, 0, OPT_MASKS},
    {"threads", required_argument, 0, OPT_THREADS},
    {"memory-limit", required_argument, 0, OPT_MEM},
    {"scratch", required_argument, 0, OPT_SCRATCH},
    {"band-size", required_argument, 0, OPT_BAND},
    {"truth", required_argument, 0, OPT_TRUTH},
    {"truth-masks", required_argument, 0, OPT_TMASKS},
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
    {"layout", required_argument, 0, OPT_LAYOUT},
    {"probs-scale", required_argument, 0, OPT_PSCALE},
    {"label-map", required_argument, 0, OPT_LMAP},
    {"upsample", required_argument, 0, OPT_UPSAMPLE},
    {"dry-run", no_argument, 0, OPT_DRYRUN},
    {"compare", required_argument, 0, OPT_COMPARE},
    {"cache", required_argument, 0, OPT_CACHE},
    {"cache-verify", no_argument, 0, OPT_CACHEVERIFY},
    {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static _Noreturn CLI_PRINTF(1, 2) void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vusage_error("audit", fmt, ap);
    va_end(ap);
    cli_exit(EXIT_USAGE);
}

/* A whole number from lo to hi, or a usage error. */
static long whole(const char *opt, const char *s, long lo, long hi)
{
    long v;
    if (cli_parse_long(s, lo, hi, &v) != 0) {
        cli_not_whole("audit", opt, s, (uint64_t)lo, (uint64_t)hi);
        cli_exit(EXIT_USAGE);
    }
    return v;
}

/* Paths, names and switches, taken as given; 0 when c is none of them. */
static int plain_option(CliAuditJob *job, int c, const char *arg)
{
    SegauditSettings *s = &job->s;
    switch (c) {
    case OPT_LABELS: s->labels_dir = arg; break;
    case OPT_SUFFIX: s->label_suffix = arg; break;
    case OPT_PROBS: job->probs = arg; break;
    case OPT_IDS: s->ids_dataset = arg; break;
    case OPT_NAMES: job->names_path = arg; break;
    case OPT_OUT: job->out = arg; break;
    case OPT_SCRATCH: s->scratch_dir = arg; break;
    case OPT_TRUTH: s->truth_path = arg; break;
    case OPT_TMASKS: s->truth_masks_dir = arg; break;
    case OPT_LMAP: s->label_map = arg; break;
    case OPT_CACHE: s->cache_dir = arg; break;
    case OPT_CACHEVERIFY: s->cache_verify = 1; break;
    case OPT_PALETTE: job->palette_path = arg; break;
    case OPT_IMAGES: s->images_dir = arg; break;
    case OPT_ISUFFIX: s->image_suffix = arg; break;
    case OPT_LOGITS: s->logits = 1; break;
    case OPT_MASKS: job->masks = 1; break;
    case OPT_PROGRESS: job->force_progress = 1; break;
    case OPT_HTML: job->html = 1; break;
    case OPT_NOHTML: job->html = 0; break;
    case OPT_STRICT: s->strict = 1; break;
    case OPT_DRYRUN: s->dry_run = 1; break;
    case OPT_COMPARE: job->compare = arg; break;
    case OPT_PLUGINS: s->allow_plugins = 1; break;
    case 'q': job->quiet = 1; break;
    default: return 0;
    }
    return 1;
}

/* Numbers and sizes, checked; 0 when c is none of them. */
static int number_option(SegauditSettings *s, int c, const char *arg)
{
    switch (c) {
    case OPT_IGNORE:
        if (s->n_ignore == SEGAUDIT_MAX_IGNORE)
            die_usage("--ignore-index: at most %d values",
                      SEGAUDIT_MAX_IGNORE);
        {
            long v;
            if (cli_parse_long(arg, -32768, 65535, &v) != 0)
                die_usage("--ignore-index: '%s' is not a whole number from "
                          "-32768 to 65535", arg);
            s->ignore_index[s->n_ignore++] = (int)v;
        }
        break;
    case OPT_TEMP:
        if (cli_parse_double(arg, &s->temperature) != 0)
            die_usage("--temperature: '%s' is not a number", arg);
        if (!(s->temperature > 0) || s->temperature > 1e300)
            die_usage("--temperature must be greater than 0, got '%s'", arg);
        break;
    case OPT_DS:
        s->downsample = (int)whole("--downsample", arg, 1, 255);
        break;
    case OPT_THREADS:
        s->n_threads = (int)whole("--threads", arg, 1, 4096);
        break;
    case OPT_MEM:
        s->memory_limit = cli_parse_bytes(arg);
        if (s->memory_limit < 65536)
            die_usage("--memory-limit: '%s' is not a size of at least 64K",
                      arg);
        break;
    case OPT_BAND:
        s->band_bytes = cli_parse_bytes(arg);
        if (!s->band_bytes)
            die_usage("--band-size: '%s' is not a size", arg);
        break;
    case OPT_MINAREA: {
        long v = 0;
        if (strcmp(arg, "auto") &&
            cli_parse_long(arg, 1, 2147483647L, &v) != 0)
            die_usage("--min-region-area: expected auto or a whole number "
                      "from 1 to 2147483647, got '%s'", arg);
        s->min_region_area = (uint64_t)v; /* 0: auto */
        break;
    }
    case OPT_TOP:
        s->overlay_top = !strcmp(arg, "all")
                             ? UINT64_MAX
                             : (uint64_t)whole("--top", arg, 0, 2147483647L);
        break;
    case OPT_OWIDTH:
        s->overlay_width = (uint32_t)whole("--overlay-width", arg, 16, 65536);
        break;
    case OPT_MAXSKIP:
        s->max_skipped = (uint64_t)whole("--max-skipped", arg, 0, 2147483647L);
        break;
    case OPT_PSCALE:
        if (cli_parse_double(arg, &s->probs_scale) != 0 ||
            !(s->probs_scale > 0) || s->probs_scale > 1e300)
            die_usage("--probs-scale: expected a positive number, got '%s'",
                      arg);
        break;
    default: return 0;
    }
    return 1;
}

/* One of a set of words; 0 when c is none of these options. */
static int choice_option(CliAuditJob *job, int c, const char *arg)
{
    SegauditSettings *s = &job->s;
    switch (c) {
    case OPT_DSL:
        if (!strcmp(arg, "mean"))
            s->downsample_labels = SEGAUDIT_DS_LABELS_MEAN;
        else if (!strcmp(arg, "mode"))
            s->downsample_labels = SEGAUDIT_DS_LABELS_MODE;
        else
            die_usage("--downsample-labels: expected mean or mode, got '%s'",
                      arg);
        break;
    case OPT_RANK:
        s->rank_by = segaudit_score_from_name(arg);
        if (s->rank_by < 0)
            die_usage("--rank-by: '%s' is not a score (softmin, "
                      "num_pixel_issues, mean_self_confidence, "
                      "min_self_confidence, pixel_accuracy, "
                      "class_balanced_accuracy, mean_iou)", arg);
        break;
    case OPT_FLAG:
        s->flag_rule = segaudit_flag_rule_from_name(arg);
        if (s->flag_rule < 0)
            die_usage("--flag-rule: '%s' is not a rule (mass, area, none)",
                      arg);
        break;
    case OPT_PRESET:
        job->preset = segaudit_class_preset(arg);
        if (!job->preset)
            die_usage("--classes: unknown preset '%s' (cityscapes, ade20k, "
                      "pascal-voc)", arg);
        break;
    case OPT_UPSAMPLE:
        if (!strcmp(arg, "bilinear"))
            s->upsample = SEGAUDIT_UPSAMPLE_BILINEAR;
        else if (!strcmp(arg, "nearest"))
            s->upsample = SEGAUDIT_UPSAMPLE_NEAREST;
        else
            die_usage("--upsample: expected bilinear or nearest, got '%s'",
                      arg);
        break;
    case OPT_LAYOUT:
        if (!strcmp(arg, "auto"))
            s->layout = SEGAUDIT_LAYOUT_AUTO;
        else if (!strcmp(arg, "nchw"))
            s->layout = SEGAUDIT_LAYOUT_NCHW;
        else if (!strcmp(arg, "nhwc"))
            s->layout = SEGAUDIT_LAYOUT_NHWC;
        else
            die_usage("--layout: expected auto, nchw or nhwc, got '%s'", arg);
        break;
    case OPT_ONERROR:
        if (!strcmp(arg, "skip"))
            s->on_error_skip = 1;
        else if (!strcmp(arg, "fail"))
            s->on_error_skip = 0;
        else
            die_usage("--on-error: expected fail or skip, got '%s'", arg);
        break;
    default: return 0;
    }
    return 1;
}

/* Reads the options into job; returns 1 after --help, else 0.  A usage
 * error ends the program. */
static int parse_options(int argc, char **argv, CliAuditJob *job)
{
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":qh", audit_options, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_audit, stdout);
            return 1;
        }
        if (c == ':')
            die_usage("%s needs a value", argv[optind - 1]);
        if (!plain_option(job, c, optarg) &&
            !number_option(&job->s, c, optarg) &&
            !choice_option(job, c, optarg))
            die_usage("unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        die_usage("unexpected argument '%s'", argv[optind]);
    return 0;
}

/* The required options, and --probs FILE[:DATASET] split into the
 * settings.  A usage error ends the program. */
static void check_inputs(CliAuditJob *job)
{
    SegauditSettings *s = &job->s;
    if (!s->labels_dir)
        die_usage("--labels DIR is required");
    if (!job->probs)
        die_usage("--probs FILE is required");
    if (!job->out && !s->dry_run)
        die_usage("--out DIR is required");

    /* A dataset part is split off only when FILE itself does not exist,
     * so paths with ':' keep working. */
    job->probs_file = strdup(job->probs);
    if (!job->probs_file) {
        fprintf(stderr, "segaudit: out of memory\n");
        cli_exit(EXIT_INPUT);
    }
    struct stat sb;
    char *colon = strrchr(job->probs_file, ':');
    if (colon && stat(job->probs_file, &sb) != 0) {
        *colon = '\0';
        s->probs_dataset = colon + 1;
        if (!*s->probs_dataset)
            die_usage("--probs: empty dataset name in '%s'", job->probs);
    }
    s->probs_path = job->probs_file;
}

/* Class names from --class-names or --classes, colours from the preset or
 * --palette.  An unreadable file ends the program. */
static void load_classes(CliAuditJob *job)
{
    SegauditSettings *s = &job->s;
    if (job->names_path && job->preset)
        die_usage("--class-names and --classes: give one of them");
    if (job->names_path) {
        job->names = cli_read_names(job->names_path, &s->n_class_names);
        s->class_names = (const char *const *)job->names;
    } else if (job->preset) {
        s->class_names = job->preset->class_names;
        s->n_class_names = job->preset->n_classes;
        s->palette = job->preset->palette;
        s->n_palette = job->preset->n_classes;
        /* the preset's void value is ignored unless --ignore-index says
         * which values are */
        if (s->n_ignore == 0 && job->preset->ignore_index >= 0)
            s->ignore_index[s->n_ignore++] = job->preset->ignore_index;
    }
    if (job->palette_path) {
        job->palette = cli_read_palette(job->palette_path, &s->n_palette);
        s->palette = (const uint8_t(*)[3])job->palette;
    }
}

/* Frees what the job owns. */
static void release(CliAuditJob *job)
{
    segaudit_audit_free(job->audit);
    cli_free_names(job->names, job->s.n_class_names);
    free(job->palette);
    free(job->probs_file);
    cli_stage_free(&job->stage);
}

int segaudit_cli_audit(int argc, char **argv)
{
    CliAuditJob job;
    memset(&job, 0, sizeof job);
    segaudit_default_settings(&job.s);
    job.s.comm = cli_comm; /* segaudit-mpi: the ranks share the audit */
    job.html = 1;
    if (parse_options(argc, argv, &job))
        return 0;
    check_inputs(&job);
    load_classes(&job);
    int status = job.s.dry_run ? cli_audit_dry_run(&job)
                               : cli_audit_run(&job);
    if (status == 0 && !job.s.dry_run && cli_root())
        cli_audit_summary(&job);
    release(&job);
    return status;
}
