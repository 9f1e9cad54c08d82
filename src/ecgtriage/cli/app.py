"""Thin command line over the library: ``ecgtriage <command> ...``.

Each area of the library owns a ``commands`` module exposing ``register(subparsers)``; this
module only wires them together, so importing it stays cheap (heavy imports happen inside the
command functions).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ecgtriage import __version__

#: Modules that register subcommands, in the order they appear in ``--help``.
COMMAND_MODULES = (
    "ecgtriage.cli.study",
    "ecgtriage.cli.info",
    "ecgtriage.cli.download",
    "ecgtriage.cli.prepare",
    "ecgtriage.cli.labels",
    "ecgtriage.cli.synth",
    "ecgtriage.cli.train",
)

from ecgtriage.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecgtriage",
        description="12-lead ECG label-granularity study and triage toolkit.",
    )
    parser.add_argument("--version", action="version", version=f"ecgtriage {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # area not built yet during development
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except (UserError, FileNotFoundError, ValueError) as exc:
        # Errors raised for bad input carry the file, field and expectation in their message.
        print(f"ecgtriage {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ecgtriage {args.command}: interrupted; finished work is kept", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
