"""``python -m despina.api [server options]``: the same as ``despina server``."""

from __future__ import annotations

import argparse
import sys

from despina.cli.server import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m despina.api")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["server", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
