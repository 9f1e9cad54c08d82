"""The shared vocabulary of the subcommands: one spelling per kind of option.

- The data a command reads is its positional ``PATH`` (a source folder or a cache).
- ``--out`` is the exact path the command writes; nothing is written anywhere else.
- ``--run`` is a training run directory; ``--study`` a study directory.
- Repeated values are spelled ``--scheme A --scheme B`` and ``--seed 0 --seed 1``.
- ``--device`` takes :data:`DEVICES`, default ``auto``.
- Every option's help shows its default (:class:`HelpFormatter`).

Older spellings stay accepted as hidden aliases (:func:`add_hidden_alias`) and print a
deprecation note when used.
"""

from __future__ import annotations

import argparse
import sys

#: Choices of ``--device`` in every command that runs a model.
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_DEVICE = "auto"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` after every option unless the help already says it.

    Flags (``store_true``) show ``(default: off)``; an option whose default is ``None``
    must say in words what happens when it is absent (the test over every subcommand checks
    that each option's help mentions its default).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or action.required
            or action.default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        if isinstance(action.default, bool):
            return f"{text} (default: {'on' if action.default else 'off'})"
        if action.default is None:
            return text
        return f"{text} (default: %(default)s)"


def add_parser(subparsers: argparse._SubParsersAction, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand parser that uses :class:`HelpFormatter`."""
    return subparsers.add_parser(name, formatter_class=HelpFormatter, **kwargs)


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1 (the message names the value found)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}")
    return value


def add_device(parser: argparse.ArgumentParser, default: str | None = DEFAULT_DEVICE,
               help_default: str | None = None) -> None:
    """``--device {auto,cpu,cuda}``; ``help_default`` words a ``None`` default."""
    text = "where models run: auto picks cuda when available"
    if help_default:
        text += f" (default: {help_default})"
    parser.add_argument("--device", choices=DEVICES, default=default, help=text)


class _DeprecatedAlias(argparse.Action):
    """Stores like the option it stands for and notes the new spelling on stderr."""

    def __init__(self, option_strings, dest, new_spelling: str, append: bool = False, **kwargs):
        self.new_spelling = new_spelling
        self.append = append
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"ecgtriage: {option_string} is deprecated; use {self.new_spelling}", file=sys.stderr)
        if self.append:
            items = list(getattr(namespace, self.dest, None) or [])
            items.extend(values if isinstance(values, list) else [values])
            setattr(namespace, self.dest, items)
        else:
            setattr(namespace, self.dest, values)


def add_hidden_alias(parser: argparse.ArgumentParser, flag: str, dest: str, new_spelling: str,
                     *, nargs: str | None = None, type=None, append: bool = False) -> None:
    """Accept the old spelling ``flag`` for ``dest`` without showing it in ``--help``."""
    parser.add_argument(flag, dest=dest, action=_DeprecatedAlias, new_spelling=new_spelling,
                        append=append, nargs=nargs, type=type, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)


def add_data_path(parser: argparse.ArgumentParser, help: str, dest: str = "path",
                  old_flag: str | None = None) -> None:
    """The positional ``PATH`` a command reads; ``old_flag`` keeps an older option spelling.

    With ``old_flag`` the positional is optional to argparse, and :func:`data_path` checks
    that exactly one of the two was given.
    """
    if old_flag is None:
        parser.add_argument(dest, metavar="PATH", help=help)
        return
    parser.add_argument(dest, metavar="PATH", nargs="?", default=None, help=help)
    add_hidden_alias(parser, old_flag, f"{dest}_alias", f"the positional PATH")


def data_path(args: argparse.Namespace, dest: str = "path", old_flag: str = "--data") -> str:
    """The ``PATH`` given positionally or through its deprecated option.

    Raises
    ------
    ConfigError
        When neither or both were given.
    """
    from ecgtriage.errors import ConfigError

    positional = getattr(args, dest, None)
    alias = getattr(args, f"{dest}_alias", None)
    if positional and alias and positional != alias:
        raise ConfigError(f"give the data PATH once (found {positional} and {old_flag} {alias})")
    if not (positional or alias):
        raise ConfigError("missing the data PATH (a source folder or a cache)")
    return positional or alias


def add_overwrite(parser: argparse.ArgumentParser, what: str = "an existing --out file") -> None:
    """``--overwrite``: the one way to let a command replace an output file that exists."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def check_output_file(path, overwrite: bool, flag: str = "--out", protected=()) -> None:
    """Refuse, before any work, an output file path whose writing would destroy something.

    A folder is never replaced by a file; an existing file only with ``--overwrite``; and the
    paths in ``protected`` (the inputs the command reads, such as a run's weights) never,
    because overwriting what is being read loses it even when the user said ``--overwrite``.

    Raises
    ------
    ConfigError
        Naming the path and what was found there.
    """
    from pathlib import Path

    from ecgtriage.errors import ConfigError

    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"{flag} {out}: is a folder; expected a file path (a folder is never "
                          "replaced)")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"{flag} {out}: {parent} exists and is not a folder")
    if out.exists():
        resolved = out.resolve()
        for keep in protected:
            if Path(keep).exists() and Path(keep).resolve() == resolved:
                raise ConfigError(f"{flag} {out}: is an input of this command; choose another path")
        if not overwrite:
            raise ConfigError(f"{flag} {out}: exists; pass --overwrite to replace it")
