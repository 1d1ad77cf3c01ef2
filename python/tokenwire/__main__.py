"""The `tokenwire` command (stream, parse, mock): the console script and `python -m tokenwire`.

It lives in tokenwire._tools, a module of its own, so that `import tokenwire` never loads the
mock server or the command line."""
import sys


def main(argv=None) -> int:
    from ._tools import cli_main

    args = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    return cli_main(["tokenwire"] + args)


if __name__ == "__main__":
    sys.exit(main())
