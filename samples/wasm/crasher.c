/* crasher.wasm [trap]: prints a line, then exits 1; with the argument "trap" it executes
 * `unreachable` instead, so the runtime sees a wasm trap rather than an exit code. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    int trap = argc > 1 && strcmp(argv[1], "trap") == 0;
    printf("crasher: about to %s\n", trap ? "trap" : "exit 1");
    fflush(stdout);
    if (trap) __builtin_trap();
    return 1;
}
