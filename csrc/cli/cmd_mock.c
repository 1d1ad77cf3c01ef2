/* cmd_mock.c - placeholder until the mock command lands in this branch of work. */
#include "cli/tw_cli.h"

#include <stdio.h>

int tw_cli_mock(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fputs("tokenwire: 'mock' is not built yet\n", stderr);
    return 2;
}
