/* burner.wasm [ROUNDS]: burns CPU in fixed-size rounds of integer hashing and prints
 * "progress N" after each round, so a test compares two pods' rates by their last counter.
 * Runs ROUNDS rounds (forever when absent or 0). The only host calls are the progress lines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* One round is about a millisecond of native CPU: fine-grained enough for 100 ms quota periods. */
#define STEPS_PER_ROUND 1000000u

static volatile uint32_t sink;

int main(int argc, char **argv) {
    long rounds = argc > 1 ? atol(argv[1]) : 0;
    uint32_t h = 2166136261u;
    for (long r = 1; rounds == 0 || r <= rounds; r++) {
        for (uint32_t i = 0; i < STEPS_PER_ROUND; i++) h = (h ^ i) * 16777619u;
        sink = h;
        printf("progress %ld\n", r);
        fflush(stdout);
    }
    return 0;
}
