"""``despina``: the command line.

Every module of this package that defines ``register(subparsers)`` is a command group: ``main``
finds them with ``pkgutil`` (no list to edit), calls ``register`` with the ``argparse``
sub-parsers, and runs the ``func`` the chosen sub-parser set with ``set_defaults(func=...)``;
``func(args)`` returns the exit code. To add a command, add a module (``ui.py``, ``server.py``,
``token.py``, …) with ``register``. Modules whose optional dependencies are missing are skipped,
so ``despina ls`` works without the server extra.

Store errors (no store, unknown project or run, a corrupt file, a newer schema) end the command
with one line on stderr and exit status 1; nothing is modified.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from despina.store import StoreError

__all__ = ["main"]

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="despina",
        description="Despina: look at runs logged with neptune_scale, serve them, export them.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        try:
            loaded = importlib.import_module(f"{__name__}.{module.name}")
        except ImportError:  # an optional extra is not installed: its command is not offered
            continue
        register = getattr(loaded, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(func(args) or 0)
    except StoreError as error:
        print(f"despina {args.command}: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
