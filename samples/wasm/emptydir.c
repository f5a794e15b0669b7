/* emptydir.wasm DIR: reads the counter in DIR/counter (0 when missing), prints it, writes it back
 * incremented and reads the file again to check the write. Run twice on the same emptyDir it prints
 * "count 0" then "count 1": the directory outlived the first run. Exits 1 on any I/O failure. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: emptydir DIR\n");
        return 1;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/counter", argv[1]);
    long count = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%ld", &count) != 1) count = 0;
        fclose(f);
    }
    printf("count %ld\n", count);
    f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    fprintf(f, "%ld\n", count + 1);
    fclose(f);
    long check = -1;
    f = fopen(path, "r");
    if (!f || fscanf(f, "%ld", &check) != 1 || check != count + 1) {
        fprintf(stderr, "read back failed\n");
        return 1;
    }
    fclose(f);
    printf("wrote %ld\n", check);
    return 0;
}
