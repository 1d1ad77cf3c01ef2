/* cmd_parse.c - placeholder until the parse command lands in this branch of work. */
#include "cli/tw_cli.h"

#include <stdio.h>

int tw_cli_parse(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fputs("tokenwire: 'parse' is not built yet\n", stderr);
    return 2;
}
