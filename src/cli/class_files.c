/* Readers of the class-name and palette files given to `segaudit audit`.
 * These are small user files: any problem ends the program (status 1)
 * with a message naming the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "class_files.h"
#include "util.h"

#define MAX_TEXT_BYTES (16 << 20)
#define MAX_NAMES 65536

/* Opens a regular file only (a FIFO or /dev/zero would block or never
 * end) of at most 16 MB, or exits with a message. */
static FILE *open_text(const char *path, const char *what)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "segaudit: %s: cannot open the %s: %s\n", path,
                what, strerror(errno));
        cli_exit(EXIT_INPUT);
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > MAX_TEXT_BYTES) {
        fprintf(stderr, "segaudit: %s: the %s must be a regular file of at "
                "most 16 MB\n", path, what);
        cli_exit(EXIT_INPUT);
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "segaudit: %s: cannot open the %s: %s\n", path,
                what, strerror(errno));
        cli_exit(EXIT_INPUT);
    }
    return f;
}

static _Noreturn void out_of_memory(void)
{
    fprintf(stderr, "segaudit: out of memory\n");
    cli_exit(EXIT_INPUT);
}

char **cli_read_names(const char *path, int *n)
{
    FILE *f = open_text(path, "class names");
    char **names = NULL, *line = NULL;
    int cap = 0;
    size_t lcap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, (size_t)cap * sizeof *names);
            if (!names)
                out_of_memory();
        }
        if (*n >= MAX_NAMES || !(names[*n] = strdup(line))) {
            fprintf(stderr, "segaudit: %s: %s\n", path,
                    *n >= MAX_NAMES ? "more than 65536 class names"
                                    : "out of memory");
            cli_exit(EXIT_INPUT);
        }
        ++*n;
    }
    free(line);
    if (ferror(f)) {
        fprintf(stderr, "segaudit: %s: read failed: %s\n", path,
                strerror(errno));
        cli_exit(EXIT_INPUT);
    }
    fclose(f);
    while (*n > 0 && names[*n - 1][0] == '\0')
        free(names[--*n]);
    if (*n == 0) {
        fprintf(stderr, "segaudit: %s: no class names in the file\n", path);
        cli_exit(EXIT_INPUT);
    }
    return names;
}

void cli_free_names(char **names, int n)
{
    if (!names)
        return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

uint8_t (*cli_read_palette(const char *path, int *n))[3]
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
            cli_exit(EXIT_INPUT);
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            pal = realloc(pal, (size_t)cap * sizeof *pal);
            if (!pal)
                out_of_memory();
        }
        pal[*n][0] = (uint8_t)r;
        pal[*n][1] = (uint8_t)g;
        pal[*n][2] = (uint8_t)b;
        ++*n;
    }
    fclose(f);
    if (*n == 0) {
        fprintf(stderr, "segaudit: %s: no colours in the palette\n", path);
        cli_exit(EXIT_INPUT);
    }
    return pal;
}
