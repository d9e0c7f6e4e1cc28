"""``despina``: the command line.

Every public module of this package that defines ``register(subparsers)`` is a command group,
named like the module: ``main`` finds them with ``pkgutil`` (no list to edit), calls ``register``
with the ``argparse`` sub-parsers, and runs the ``func`` the chosen sub-parser set with
``set_defaults(func=...)``; ``func(args)`` returns the exit code. To add a command, add a module
(``ui.py``, ``server.py``, ``token.py``, …) with ``register``. When the first argument names a
module, only that module is imported (start-up stays fast: ``despina ls`` never imports the web
stack); ``--help`` imports them all. Modules whose optional dependencies are missing are skipped,
so ``despina ls`` works without the server extra.

Errors end a command with one line on stderr, never a traceback (``--debug`` or
``DESPINA_DEBUG=1`` shows it): bad arguments exit 2 (with a "did you mean" for a mistyped
choice); store errors (no store, unknown project or run, a corrupt file, a newer schema) and
anything unexpected exit 1, and nothing is modified. A reader that closes the pipe early
(``| head``) ends the command quietly with 141, as SIGPIPE ends other Unix tools.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import pkgutil
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from despina.store import StoreError

__all__ = ["DEBUG_ENV", "CommandParser", "main", "version_text"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `yes | head -1` reports under `set -o pipefail`
DEBUG_ENV = "DESPINA_DEBUG"
_INVALID_CHOICE = re.compile(r"invalid choice: '?(.*?)'? \(choose from (.*)\)$")


def version_text(program: str) -> str:
    """``PROGRAM VERSION`` of the installed distribution (``despina`` ships both commands)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{program} {version('despina')}"
    except PackageNotFoundError:  # run from a checkout that was never installed
        return f"{program} (despina, not installed)"


class CommandParser(argparse.ArgumentParser):
    """argparse with one-line usage errors, a "did you mean" for a mistyped choice and a
    ``--debug`` option on every command (sub-parsers inherit the class)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,  # a sub-command's parser must not reset the group's
            help=f"show the traceback of an unexpected error (or set {DEBUG_ENV}=1)",
        )

    def error(self, message: str) -> NoReturn:
        wrong = _INVALID_CHOICE.search(message)
        if wrong:
            choices = [c.strip("'") for c in wrong.group(2).split(", ")]
            close = difflib.get_close_matches(wrong.group(1), choices, n=1, cutoff=0.6)
            if close:
                message = f"{message}; did you mean {close[0]!r}?"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="despina",
        description="Despina: look at runs logged with neptune_scale, serve them, export them.",
    )
    parser.add_argument("--version", action="version", version=version_text("despina"))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = _command_modules()
    # A command named like a keyword lives in a module with a trailing "_" (``import_``).
    by_command = {name.rstrip("_"): name for name in names}
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    for name in [by_command[first]] if first in by_command else names:
        try:
            loaded = importlib.import_module(f"{__name__}.{name}")
        except ImportError:  # an optional extra is not installed: its command is not offered
            continue
        register = getattr(loaded, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        return _reader_went_away()


def _main(arguments: list[str]) -> int:
    parser = _parser(arguments)
    args = parser.parse_args(arguments)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_ERROR
    debug = getattr(args, "debug", False) or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return int(func(args) or 0)
    except StoreError as error:
        print(f"despina {args.command}: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise  # main ends quietly
    except Exception as error:
        if debug:
            raise
        print(
            f"despina {args.command}: {type(error).__name__}: {error} "
            f"(--debug or {DEBUG_ENV}=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _reader_went_away() -> int:
    """The pipe's reader closed it (``| head``): stop quietly. Python would flush stdout again
    at exit and report the same broken pipe, so stdout becomes /dev/null first."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (in-process callers)
        pass
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
