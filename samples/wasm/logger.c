/* logger.wasm [COUNT [EXIT]]: prints "log line N" once a second, COUNT times (forever when COUNT is
 * absent or 0), then exits with EXIT (default 0). The idle pod of the density benchmark: it spends
 * its life in poll_oneoff. With a COUNT it also serves as an exec or probe command that ends. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 0;
    int status = argc > 2 ? atoi(argv[2]) : 0;
    for (long i = 1; count == 0 || i <= count; i++) {
        printf("log line %ld\n", i);
        fflush(stdout);
        if (count == 0 || i < count) sleep(1);
    }
    return status;
}
