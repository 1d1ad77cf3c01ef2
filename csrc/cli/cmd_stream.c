/* cmd_stream.c - placeholder until the stream command lands in this branch of work. */
#include "cli/tw_cli.h"

#include <stdio.h>

int tw_cli_stream(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fputs("tokenwire: 'stream' is not built yet\n", stderr);
    return 2;
}
