/* memhog.wasm [CHUNK_MIB] [MAX_MIB]: mallocs and touches CHUNK_MIB (default 1) blocks until MAX_MIB
 * (default 4096) is reached or malloc fails. On failure it prints "malloc failed after N MiB" and
 * exits 2; on reaching the max it prints "reached N MiB" and exits 0.
 * The blocks are linked into a list whose head is volatile: an allocation that is never read may be
 * removed by -O2, and then the loop would never stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block { struct block *next; };

static struct block *volatile head;

int main(int argc, char **argv) {
    long chunk_mib = argc > 1 ? atol(argv[1]) : 1;
    long max_mib = argc > 2 ? atol(argv[2]) : 4096;
    if (chunk_mib <= 0) chunk_mib = 1;
    size_t chunk = (size_t)chunk_mib << 20;
    long total = 0;
    while (total + chunk_mib <= max_mib) {
        struct block *b = malloc(chunk);
        if (!b) {
            printf("malloc failed after %ld MiB\n", total);
            fflush(stdout);
            return 2;
        }
        memset(b, 0xA5, chunk);
        b->next = head;
        head = b;
        total += chunk_mib;
        printf("allocated %ld MiB\n", total);
    }
    printf("reached %ld MiB\n", total);
    return 0;
}
