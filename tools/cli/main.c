/* main.c - the `tokenwire` executable. */
#include "cli/tw_cli.h"

int main(int argc, char **argv) { return tw_cli_main(argc, argv); }
