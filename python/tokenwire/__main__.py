"""python -m tokenwire: the `tokenwire` command line (stream, parse, mock) from the package."""
import sys

from ._native import cli_main


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    return cli_main(["tokenwire"] + args)


if __name__ == "__main__":
    sys.exit(main())
