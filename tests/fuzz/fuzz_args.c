/* fuzz_args: the command line of `segaudit audit` and `segaudit synth`
 * (the program: the .c files of src/cli), run in process.
 *
 * Input: argv[1..] as NUL-separated strings (argv[0] is "segaudit"; at most
 * 64 arguments).  An argument that starts with '@', or a "--opt=@..." value,
 * has the '@' replaced by "<sandbox>/": the sandbox is a per-process temp
 * folder holding tiny valid datasets written once at start:
 *     @d/   synth, 2 images 16x16, K=3, float32 contiguous, seed 1
 *           (labels/, probs.h5, truth.csv, classes.txt), plus @d/palette.txt
 *     @g/   synth, 3 images 16x32, K=19, float16 gzip-chunked, --void 255
 *     @w/   the only writable place; emptied after every input
 * e.g. "audit\0--labels\0@d/labels\0--probs\0@d/probs.h5\0--out\0@w/o\0".
 *
 * The program's .c files are compiled into this one (so the harness can
 * reset their static state) with these names replaced by hooks:
 *   cli_main -> segaudit_main; exit, _Exit -> fz_exit (longjmp back to the
 *   harness: a usage error ends the input, not the fuzzer);
 *   mkdir, rename, unlink, rmdir -> guarded versions that act only inside
 *   @w (elsewhere they fail as the system would for an existing path, or
 *   with EACCES), so a fuzzed --out can never touch the real file system;
 *   segaudit_audit_run, segaudit_synth -> checks of what the parser
 *   produced (the ranges it promises), then the real call with at most 2
 *   threads, the scratch folder kept inside @w, and synth refused
 *   (EINVAL "fuzz harness: ...") above N*H*W*K = 2^20 values.
 * The parsing itself is never changed.
 *
 * Hangs are caught by libFuzzer's -timeout (in the replay program by
 * FUZZ_REPLAY_TIMEOUT).  Leak checking must be off for this target
 * (-detect_leaks=0): every exit() path of the program leaks by design (the
 * process ends), and here it returns to the harness instead.  Descriptors
 * are checked: a normal return must not leave one open. */

/* System headers first (they have include guards), then the hooks, so the
 * harness's own code keeps the real functions. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "segaudit/segaudit.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_ARGS 64
#define FZ_MAX_SYNTH_VALUES ((uint64_t)1 << 20)
#define FZ_MAX_THREADS 2

_Noreturn void fz_exit(int status);
int fz_mkdir(const char *path, mode_t mode);
int fz_rename(const char *from, const char *to);
int fz_unlink(const char *path);
int fz_rmdir(const char *path);
int fz_audit_run(SegauditAudit *a, const SegauditSettings *s);
int fz_synth(const SegauditSynthSettings *s, char *errbuf, size_t errlen);
int segaudit_main(int argc, char **argv);

/* ---- the program, with hooks ------------------------------------------ */

/* No two of the files have a static name in common, so they share this
 * unit as they are; only the hooks below are renamed. */
#define cli_main segaudit_main
#define exit fz_exit
#define _Exit fz_exit
#define mkdir fz_mkdir
#define rename fz_rename
#define unlink fz_unlink
#define rmdir fz_rmdir
#define segaudit_audit_run fz_audit_run
#define segaudit_synth fz_synth
#include "../../src/cli/util.c"
#include "../../src/cli/signals.c"
#include "../../src/cli/progress.c"
#include "../../src/cli/staging.c"
#include "../../src/cli/class_files.c"
#include "../../src/cli/audit_cmd.c"
#include "../../src/cli/audit_run.c"
#include "../../src/cli/audit_summary.c"
#include "../../src/cli/synth_cmd.c"
#include "../../src/cli/diff_cmd.c"
#include "../../src/cli/main.c"
#undef cli_main
#undef exit
#undef _Exit
#undef mkdir
#undef rename
#undef unlink
#undef rmdir
#undef segaudit_audit_run
#undef segaudit_synth

/* In sanitizer builds: no leak report at exit (see the top of this file). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

/* ---- sandbox ------------------------------------------------------------- */

static char g_sandbox[FZ_DIR];      /* canonical, no trailing slash */
static char g_wdir[FZ_DIR + 8];     /* <sandbox>/w */
static char g_scratch[FZ_DIR + 16]; /* <sandbox>/w/tmp */
static char g_outside_scratch[FZ_DIR + 32];

/* 1 when path (relative to the working folder) lies inside @w, judged on
 * the lexically normalised absolute path.  Nothing in @w is a symbolic
 * link (nothing here creates one), so that is exact. */
static int fz_writable(const char *path)
{
    char abs[2 * FZ_PATH], out[2 * FZ_PATH];
    if (!path || !*path)
        return 0;
    if (path[0] == '/') {
        if (snprintf(abs, sizeof abs, "%s", path) >= (int)sizeof abs)
            return 0;
    } else {
        char cwd[FZ_PATH];
        if (!getcwd(cwd, sizeof cwd) ||
            snprintf(abs, sizeof abs, "%s/%s", cwd, path) >= (int)sizeof abs)
            return 0;
    }
    size_t o = 0;
    const char *s = abs;
    while (*s) {
        while (*s == '/')
            s++;
        const char *e = s;
        while (*e && *e != '/')
            e++;
        size_t len = (size_t)(e - s);
        if (len == 0)
            break;
        if (len == 1 && s[0] == '.') {
            /* nothing */
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            if (o + 1 + len >= sizeof out)
                return 0;
            out[o++] = '/';
            memcpy(out + o, s, len);
            o += len;
        }
        s = e;
    }
    out[o] = '\0';
    size_t wl = strlen(g_wdir);
    return strncmp(out, g_wdir, wl) == 0 && (out[wl] == '\0' ||
                                             out[wl] == '/');
}

/* The errno a refused call reports: what the system would say for a
 * missing path, else "permission denied". */
static int refuse(const char *path, int exists_errno)
{
    struct stat st;
    errno = lstat(path, &st) == 0 ? exists_errno : ENOENT;
    return -1;
}

int fz_mkdir(const char *path, mode_t mode)
{
    if (fz_writable(path))
        return mkdir(path, mode);
    struct stat st;
    errno = lstat(path, &st) == 0 ? EEXIST : EACCES;
    return -1;
}

int fz_rename(const char *from, const char *to)
{
    if (fz_writable(from) && fz_writable(to))
        return rename(from, to);
    return refuse(from, EACCES);
}

int fz_unlink(const char *path)
{
    return fz_writable(path) ? unlink(path) : refuse(path, EACCES);
}

int fz_rmdir(const char *path)
{
    return fz_writable(path) ? rmdir(path) : refuse(path, EACCES);
}

/* ---- exit ---------------------------------------------------------------- */

static jmp_buf g_jb;
static int g_in_main;
static int g_exit_status;

_Noreturn void fz_exit(int status)
{
    if (!g_in_main) {
        fflush(NULL);
        exit(status);
    }
    g_exit_status = status;
    longjmp(g_jb, 1);
}

/* ---- the library calls: check what the parser produced, then run -------- */

static int g_ran_audit, g_ran_synth;

int fz_audit_run(SegauditAudit *a, const SegauditSettings *s)
{
    /* What the audit command promises about the settings it passes. */
    FZ_CHECK(s->labels_dir && s->probs_path, "required path missing");
    FZ_CHECK(!s->probs_dataset || *s->probs_dataset, "empty dataset name");
    FZ_CHECK(s->label_suffix && s->image_suffix, "suffix NULL");
    FZ_CHECK(s->temperature > 0 && s->temperature <= 1e300,
             "temperature %g", s->temperature);
    FZ_CHECK(s->downsample >= 1 && s->downsample <= 255, "downsample %d",
             s->downsample);
    FZ_CHECK(s->downsample_labels == SEGAUDIT_DS_LABELS_MEAN ||
                 s->downsample_labels == SEGAUDIT_DS_LABELS_MODE,
             "downsample_labels %d", s->downsample_labels);
    FZ_CHECK(s->rank_by >= 0 && s->rank_by < SEGAUDIT_N_SCORES, "rank_by %d",
             s->rank_by);
    FZ_CHECK(s->n_ignore >= 0 && s->n_ignore <= SEGAUDIT_MAX_IGNORE,
             "n_ignore %d", s->n_ignore);
    for (int i = 0; i < s->n_ignore; i++)
        FZ_CHECK(s->ignore_index[i] >= 0 && s->ignore_index[i] <= 65535,
                 "ignore_index %d", s->ignore_index[i]);
    FZ_CHECK(s->n_threads >= 0 && s->n_threads <= 4096, "threads %d",
             s->n_threads);
    FZ_CHECK(s->memory_limit >= 65536, "memory limit %" PRIu64,
             s->memory_limit);
    FZ_CHECK(s->min_region_area <= 2147483647u, "min region area %" PRIu64,
             s->min_region_area); /* 0: chosen from the data */
    FZ_CHECK(s->overlay_width >= 16 && s->overlay_width <= 65536,
             "overlay width %u", s->overlay_width);
    FZ_CHECK(s->n_class_names >= 0 && (s->n_class_names == 0 ||
                                       s->class_names),
             "%d class names without an array", s->n_class_names);
    FZ_CHECK(s->n_palette >= 0 && (s->n_palette == 0 || s->palette),
             "%d colours without an array", s->n_palette);
    FZ_CHECK(!s->masks_dir || fz_writable(s->masks_dir),
             "masks folder outside the sandbox: %s", s->masks_dir);
    FZ_CHECK(!s->overlays_dir || fz_writable(s->overlays_dir),
             "overlays folder outside the sandbox: %s", s->overlays_dir);

    SegauditSettings c = *s;
    if (c.n_threads == 0 || c.n_threads > FZ_MAX_THREADS)
        c.n_threads = FZ_MAX_THREADS; /* results do not depend on it */
    if (!c.scratch_dir)
        c.scratch_dir = g_scratch;
    else if (!fz_writable(c.scratch_dir))
        c.scratch_dir = g_outside_scratch; /* a folder that does not exist */
    g_ran_audit = 1;
    return segaudit_audit_run(a, &c);
}

int fz_synth(const SegauditSynthSettings *s, char *errbuf, size_t errlen)
{
    /* What the synth parser promises. */
    FZ_CHECK(s->out_dir, "no --out");
    FZ_CHECK(s->n_images >= 1 && s->n_images <= (uint64_t)1 << 40,
             "images %" PRIu64, s->n_images);
    FZ_CHECK(s->height >= 16 && s->height <= 65535 && s->width >= 16 &&
                 s->width <= 65535,
             "size %ux%u", s->height, s->width);
    FZ_CHECK(s->n_classes >= 2 && s->n_classes <= 255, "classes %d",
             s->n_classes);
    FZ_CHECK(s->error_rate >= 0 && s->error_rate <= 1, "error rate %g",
             s->error_rate);
    FZ_CHECK(s->void_value == -1 ||
                 (s->void_value >= s->n_classes && s->void_value <= 255),
             "void %d with K=%d", s->void_value, s->n_classes);
    FZ_CHECK(s->n_threads >= 0 && s->n_threads <= 4096, "threads %d",
             s->n_threads);
    FZ_CHECK(s->dtype == SEGAUDIT_SYNTH_F32 || s->dtype == SEGAUDIT_SYNTH_F16,
             "dtype %d", s->dtype);
    FZ_CHECK(s->compress == SEGAUDIT_SYNTH_NONE ||
                 s->compress == SEGAUDIT_SYNTH_GZIP,
             "compress %d", s->compress);

    if (!fz_writable(s->out_dir)) {
        snprintf(errbuf, errlen, "%s: fuzz harness: outside the sandbox, "
                 "not written", s->out_dir);
        return SEGAUDIT_EINVAL;
    }
    uint64_t values = s->n_images > FZ_MAX_SYNTH_VALUES
                          ? UINT64_MAX
                          : s->n_images * s->height * s->width *
                                (uint64_t)s->n_classes;
    if (values > FZ_MAX_SYNTH_VALUES) {
        snprintf(errbuf, errlen, "fuzz harness: N*H*W*K above 2^20, not "
                 "written");
        return SEGAUDIT_EINVAL;
    }
    SegauditSynthSettings c = *s;
    if (c.n_threads == 0 || c.n_threads > FZ_MAX_THREADS)
        c.n_threads = FZ_MAX_THREADS; /* the files do not depend on it */
    g_ran_synth = 1;
    return segaudit_synth(&c, errbuf, errlen);
}

/* ---- set-up -------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    fz_write_file(path, (const uint8_t *)text, strlen(text));
}

static void make_dataset(const char *name, uint64_t n, uint32_t h,
                         uint32_t w, int k, int f16, int void_value)
{
    SegauditSynthSettings s;
    segaudit_synth_default_settings(&s);
    char out[FZ_DIR + 16], eb[1024];
    snprintf(out, sizeof out, "%s/%.8s", g_sandbox, name);
    s.out_dir = out;
    s.n_images = n;
    s.height = h;
    s.width = w;
    s.n_classes = k;
    s.seed = 1;
    s.error_rate = 0.5;
    s.n_threads = 1;
    if (f16) {
        s.dtype = SEGAUDIT_SYNTH_F16;
        s.compress = SEGAUDIT_SYNTH_GZIP;
    }
    s.void_value = void_value;
    if (segaudit_synth(&s, eb, sizeof eb) != 0) {
        fprintf(stderr, "fuzz harness: cannot write the fixture %s: %s\n",
                out, eb);
        abort();
    }
}

static struct sigaction g_old_int, g_old_term;
/* SEGAUDIT_FUZZ_TOLERATE=fd0: do not stop on finding 1 (for fuzzing on
 * while it is not fixed; the replay test leaves it unset). */
static int g_tolerate_fd0;
static unsigned char g_fds[FZ_MAX_FD]; /* open before the input */
static int g_devnull = -1;

static void set_up(void)
{
    snprintf(g_sandbox, sizeof g_sandbox, "%s", fz_tmpdir());
    snprintf(g_wdir, sizeof g_wdir, "%s/w", g_sandbox);
    snprintf(g_scratch, sizeof g_scratch, "%s/tmp", g_wdir);
    snprintf(g_outside_scratch, sizeof g_outside_scratch,
             "%s/outside-scratch", g_wdir);
    make_dataset("d", 2, 16, 16, 3, 0, -1);
    make_dataset("g", 3, 16, 32, 19, 1, 255);
    char p[FZ_PATH];
    snprintf(p, sizeof p, "%s/d/palette.txt", g_sandbox);
    write_text(p, "# r g b\n0 0 0\n255 0 0\n0 255 0\n");
    sigaction(SIGINT, NULL, &g_old_int);
    sigaction(SIGTERM, NULL, &g_old_term);
    g_devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (g_devnull < 0)
        fz_die("/dev/null");
    const char *tol = getenv("SEGAUDIT_FUZZ_TOLERATE");
    g_tolerate_fd0 = tol && strstr(tol, "fd0") != NULL;
}

/* Forgets getopt's position inside an argument of the previous run (glibc
 * keeps it across calls; optind = 0 makes it start over). */
static void reset_getopt(void)
{
    char a0[] = "x";
    char *argv[] = {a0, NULL};
    optind = 0;
    opterr = 0;
    (void)getopt(1, argv, "");
    optind = 1;
}

/* Splits data into argv[1..] and expands '@'. */
static int split_args(const uint8_t *data, size_t size, char **argv)
{
    int argc = 0;
    argv[argc++] = strdup("segaudit");
    size_t i = 0;
    while (i < size && argc < FZ_MAX_ARGS + 1) {
        const uint8_t *nul = memchr(data + i, 0, size - i);
        size_t len = nul ? (size_t)(nul - (data + i)) : size - i;
        const char *s = (const char *)data + i;
        const char *eq = len > 2 && s[0] == '-' && s[1] == '-'
                             ? memchr(s, '=', len) : NULL;
        size_t at = s[0] == '@' && len > 0 ? 0
                    : eq && (size_t)(eq - s) + 1 < len && eq[1] == '@'
                        ? (size_t)(eq - s) + 1
                        : (size_t)-1;
        size_t sl = strlen(g_sandbox);
        char *a = malloc(len + sl + 2);
        if (!a)
            fz_die("malloc");
        if (at == (size_t)-1) {
            memcpy(a, s, len);
            a[len] = '\0';
        } else {
            memcpy(a, s, at);
            memcpy(a + at, g_sandbox, sl);
            a[at + sl] = '/';
            memcpy(a + at + sl + 1, s + at + 1, len - at - 1);
            a[len + sl] = '\0';
        }
        argv[argc++] = a;
        i += len + 1;
    }
    argv[argc] = NULL;
    return argc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        set_up();
        ready = 1;
    }
    char *argv[FZ_MAX_ARGS + 2];
    char *owned[FZ_MAX_ARGS + 2];
    int argc = split_args(data, size, argv);
    memcpy(owned, argv, sizeof owned); /* getopt permutes argv */

    if (fz_mkdir(g_wdir, 0777) != 0 || fz_mkdir(g_scratch, 0777) != 0)
        fz_die(g_wdir);
    g_cancel = 0; /* signals.c */
    g_signal = 0;
    g_ran_audit = g_ran_synth = 0;
    reset_getopt();
    fz_fd_snapshot(g_fds);

    /* The usage texts go to stdout: keep them out of the fuzzer's log. */
    fflush(stdout);
    int saved_stdout = dup(STDOUT_FILENO);
    dup2(g_devnull, STDOUT_FILENO);

    int status, exited = 0;
    g_in_main = 1;
    if (setjmp(g_jb) == 0) {
        status = segaudit_main(argc, argv);
    } else {
        status = g_exit_status;
        exited = 1;
    }
    g_in_main = 0;

    fflush(stdout);
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
    sigaction(SIGINT, &g_old_int, NULL);
    sigaction(SIGTERM, &g_old_term, NULL);

    /* Exit statuses of README.md; 0 only when something ran. */
    FZ_CHECK(status == 0 || status == 1 || status == 2,
             "exit status %d (exit() %d)", status, exited);
    if (exited) {
        /* exit() would have closed them: e.g. cli_read_palette's FILE. */
        char t[FZ_PATH];
        for (int fd; (fd = fz_new_fd(g_fds, t, sizeof t)) >= 0;)
            close(fd);
    } else {
        if (fcntl(STDIN_FILENO, F_GETFD) == -1 && g_tolerate_fd0) {
            /* Known bug (README.md, finding 1): a failed audit closes fd 0.
             * Put it back so that fuzzing can go on. */
            int fd = open("/dev/null", O_RDONLY);
            if (fd != STDIN_FILENO)
                fz_die("reopening fd 0");
        }
        FZ_CHECK(fcntl(STDIN_FILENO, F_GETFD) != -1,
                 "file descriptor 0 (stdin) was closed by the program "
                 "(status %d); see README.md, finding 1", status);
        char t[FZ_PATH];
        int fd = fz_new_fd(g_fds, t, sizeof t);
        FZ_CHECK(fd < 0, "file descriptor %d (%s) was left open (status "
                 "%d)", fd, t, status);
    }

    fz_rm_tree(g_wdir);
    for (int i = 0; i < argc; i++)
        free(owned[i]);
    return 0;
}
