"""The ``ecgtriage`` parser and entry point.

Each command module exposes ``register(subparsers)`` and imports only ``argparse`` at module
level, so building the parser (and ``ecgtriage --help``) stays fast; the library is imported
inside the command functions.
"""

from __future__ import annotations

import argparse
import sys

from ecgtriage import __version__
from ecgtriage.cli import download, info, labels, plot, prepare, study, synth, train
from ecgtriage.cli.options import HelpFormatter
from ecgtriage.errors import UserError

#: Command modules, in the order their commands appear in ``--help``.
COMMAND_MODULES = (study, info, plot, download, prepare, labels, synth, train)

#: Operating-system errors that mean "the path you gave is wrong", not a bug.
PATH_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def build_parser() -> argparse.ArgumentParser:
    """The ``ecgtriage`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="ecgtriage",
        description="12-lead ECG label-granularity study and triage toolkit.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ecgtriage {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code.

    A :class:`~ecgtriage.errors.UserError` or a wrong path is printed as one line
    ``ecgtriage COMMAND: error: MESSAGE`` with exit code 1. Any other exception is a bug and
    propagates with its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except (UserError, *PATH_ERRORS) as exc:
        print(f"ecgtriage {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ecgtriage {args.command}: interrupted; finished work is kept", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
