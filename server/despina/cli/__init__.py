"""``despina``: the command line.

Every public module of this package that defines ``register(subparsers)`` is a command group,
named like the module: ``main`` finds them with ``pkgutil`` (no list to edit), calls ``register``
with the ``argparse`` sub-parsers, and runs the ``func`` the chosen sub-parser set with
``set_defaults(func=...)``; ``func(args)`` returns the exit code. To add a command, add a module
(``ui.py``, ``server.py``, ``token.py``, …) with ``register``. When the first argument names a
module, only that module is imported (start-up stays fast: ``despina ls`` never imports the web
stack); ``--help`` imports them all. Modules whose optional dependencies are missing are skipped,
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


def _command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="despina",
        description="Despina: look at runs logged with neptune_scale, serve them, export them.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = _command_modules()
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    for name in [first] if first in names else names:
        try:
            loaded = importlib.import_module(f"{__name__}.{name}")
        except ImportError:  # an optional extra is not installed: its command is not offered
            continue
        register = getattr(loaded, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(arguments)
    args = parser.parse_args(arguments)
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
