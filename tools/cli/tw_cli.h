/*
 * tw_cli.h - the `tokenwire` command line (parse, stream, mock). Kept out of main() so that the
 * Python package can run the very same commands (`python -m tokenwire ...`).
 */
#ifndef TW_CLI_H
#define TW_CLI_H

#ifdef __cplusplus
extern "C" {
#endif

/** Runs `tokenwire <command> ...` (argv[0] is the program name). @return the exit status. */
int tw_cli_main(int argc, char **argv);

/* The subcommands; argv[0] is the subcommand name. Each returns an exit status. */
int tw_cli_parse(int argc, char **argv);
int tw_cli_stream(int argc, char **argv);
int tw_cli_mock(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* TW_CLI_H */
