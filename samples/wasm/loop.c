/* loop.wasm: prints one line, then spins forever with no host calls. Only fuel or epoch
 * interruption can stop it, which is what the fuel and stop tests need. */
#include <stdio.h>

static volatile unsigned long counter;

int main(void) {
    printf("loop: spinning\n");
    fflush(stdout);
    for (;;) counter++;
}
