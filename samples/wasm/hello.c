/* hello.wasm [FILE...]: prints its arguments, its environment and the contents of every FILE named
 * in argv (a path inside a preopened directory, e.g. a mounted configMap key). Exits with $EXIT_CODE
 * when it is set, with 1 when a FILE cannot be read, else 0. */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

static int print_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    printf("file %s:\n", path);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
    printf("\n");
    return 0;
}

int main(int argc, char **argv) {
    printf("hello from wasm\n");
    for (int i = 0; i < argc; i++) printf("arg[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++) printf("env %s\n", *e);
    int failed = 0;
    for (int i = 1; i < argc; i++) failed |= print_file(argv[i]);
    fflush(stdout);
    const char *code = getenv("EXIT_CODE");
    if (code) return atoi(code);
    return failed;
}
