/* hello-p2.wasm [COMMAND...]: the WASI preview 2 command component of the samples (build.sh turns
 * the preview 1 module into a component with the preview 1 adapter). It prints a greeting, its
 * arguments and its environment, then runs its arguments as a small script:
 *   cat FILE          prints FILE (e.g. a mounted configMap key)
 *   write FILE TEXT   writes TEXT to FILE ("cannot write FILE" on a read-only volume)
 *   sleep SECONDS     sleeps (a long-running pod for exec)
 *   alloc MIB         mallocs and touches 1 MiB blocks up to MIB; exits 2 when malloc fails
 *   exit N            exits with N at once
 * It exits 1 when a cat or write failed, else 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

struct block { struct block *next; };

/* Volatile, so that -O2 keeps allocations nobody reads. */
static struct block *volatile blocks;

static int cat(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("cannot open %s\n", path);
        return 1;
    }
    printf("file %s: ", path);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
    printf("\n");
    return 0;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        printf("cannot write %s\n", path);
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

static void alloc(long mib) {
    for (long done = 0; done < mib; done++) {
        struct block *b = malloc(1 << 20);
        if (!b) {
            printf("malloc failed after %ld MiB\n", done);
            exit(2);
        }
        memset(b, 0xA5, 1 << 20);
        b->next = blocks;
        blocks = b;
    }
    printf("allocated %ld MiB\n", mib);
}

int main(int argc, char **argv) {
    printf("hello from a wasi preview 2 component\n");
    for (int i = 0; i < argc; i++) printf("arg[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++) printf("env %s\n", *e);
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        const char *cmd = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : "";
        fflush(stdout);
        if (!strcmp(cmd, "cat")) failed |= cat(arg), i++;
        else if (!strcmp(cmd, "write")) failed |= write_file(arg, i + 2 < argc ? argv[i + 2] : ""), i += 2;
        else if (!strcmp(cmd, "sleep")) sleep((unsigned)atol(arg)), i++;
        else if (!strcmp(cmd, "alloc")) alloc(atol(arg)), i++;
        else if (!strcmp(cmd, "exit")) exit(atoi(arg));
    }
    return failed;
}
