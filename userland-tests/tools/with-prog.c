/*
 * with-prog: a dynamically linked program for xtask's `--with` checks. It needs
 * libkt-with.so.1 (with-lib.c), found through its DT_RUNPATH `$ORIGIN/../lib`, and
 * prints which check ran it: `with CHECK: libkt-with`.
 */
#include <stdio.h>

const char *kt_with_lib(void);

int main(int argc, char **argv)
{
    printf("with %s: %s\n", argc > 1 ? argv[1] : "?", kt_with_lib());
    return 0;
}
