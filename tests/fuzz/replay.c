/* Replay driver: runs a fuzz target's LLVMFuzzerTestOneInput on every file
 * given on the command line and on every file in the folders given (not
 * recursive; names starting with '.' are skipped), in sorted order.  Built
 * without libFuzzer, it turns a corpus into a regression test:
 *
 *     replay_png tests/fuzz/corpus/png
 *
 * Exit status 0 when every input ran; a crash or a failed harness check
 * aborts (the name of the input is printed first).  Each input has a time
 * limit (FUZZ_REPLAY_TIMEOUT seconds, 30 by default); past it the program
 * aborts naming the input. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef main
#undef main
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_current[4096];

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "replay: time limit exceeded on ";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    w = write(STDERR_FILENO, g_current, strlen(g_current));
    w = write(STDERR_FILENO, "\n", 1);
    (void)w;
    abort();
}

static int run_file(const char *path, unsigned timeout)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "replay: out of memory\n");
            fclose(f);
            return -1;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *b = realloc(buf, cap * 2);
        if (!b)
            free(buf);
        buf = b;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    snprintf(g_current, sizeof g_current, "%s", path);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
    /* A copy of exactly n bytes, so that ASan sees reads past the end. */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) {
        free(buf);
        return -1;
    }
    memcpy(copy, buf, n);
    free(buf);
    alarm(timeout);
    LLVMFuzzerTestOneInput(copy, n);
    alarm(0);
    free(copy);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, unsigned timeout, int *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
        if (!names[n])
            break;
        sprintf(names[n], "%s/%s", dir, de->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(names[i], timeout) != 0)
                rc = -1;
            else
                ++*count;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    const char *t = getenv("FUZZ_REPLAY_TIMEOUT");
    unsigned timeout = t && atoi(t) > 0 ? (unsigned)atoi(t) : 30;
    signal(SIGALRM, on_alarm);
    int rc = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], timeout, &count) != 0)
                rc = 1;
        } else if (run_file(argv[i], timeout) != 0) {
            rc = 1;
        } else {
            count++;
        }
    }
    fprintf(stderr, "replay: %d inputs ran%s\n", count,
            rc ? " (some could not be read)" : "");
    if (count == 0)
        rc = 1; /* an empty corpus is a broken test */
    return rc;
}
