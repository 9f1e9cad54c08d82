"""The ``ecgtriage`` parser and entry point.

Each command module exposes ``register(subparsers)`` and imports only ``argparse`` at module
level, so building the parser (and ``ecgtriage --help``) stays fast; the library is imported
inside the command functions.
"""

from __future__ import annotations

import argparse
import errno
import sys

from ecgtriage import __version__
from ecgtriage.cli import download, explain, info, labels, plot, prepare, study, synth, synth_report, train, triage
from ecgtriage.cli.options import HelpFormatter
from ecgtriage.errors import UserError

#: Command modules, in the order their commands appear in ``--help``.
COMMAND_MODULES = (study, info, plot, download, prepare, labels, synth, synth_report, train, triage,
                   explain)

#: Operating-system errors that mean "the path you gave is wrong", not a bug.
PATH_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)

#: Other ``OSError`` numbers that describe the machine or the output place, not a bug: a full
#: disk or quota, a read-only file system, no permission, a file already there, a file where a
#: folder is expected. Printed in one line naming the path; any other ``OSError`` is a bug.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                                errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENOENT,
                                errno.ENOTEMPTY, errno.ENAMETOOLONG})


def one_line(exc: BaseException) -> str | None:
    """The one-line message for an expected error, or ``None`` for a bug (keeps its traceback).

    An ``OSError`` is shown as ``PATH: reason`` so that a full disk or a read-only folder names
    where it happened even when the library's message did not.
    """
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError) and (isinstance(exc, PATH_ERRORS) or exc.errno in ENVIRONMENT_ERRNOS):
        if exc.filename is not None and exc.strerror:
            where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
            return f"{where}: {exc.strerror}"
        return str(exc)
    return None


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

    A :class:`~ecgtriage.errors.UserError`, a wrong path or an environment fault (full disk,
    read-only output, :data:`ENVIRONMENT_ERRNOS`) is printed as one line
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
    except (UserError, OSError) as exc:
        message = one_line(exc)
        if message is None:
            raise
        print(f"ecgtriage {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ecgtriage {args.command}: interrupted; finished work is kept", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
