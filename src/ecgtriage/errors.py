"""Error types for problems the user can fix; the bottom floor of the import graph.

The command line (``ecgtriage.cli``) prints a :class:`UserError` as one line naming the file,
field and expectation, without a traceback. Any other exception is a bug and keeps its
traceback, which is why the library raises these types, not a bare ``ValueError``, for bad
input. :class:`ConfigError` and :class:`DataError` also subclass ``ValueError`` because the
library raised ``ValueError`` for the same conditions before these types existed, and callers
(and tests) that catch ``ValueError`` keep working.

This module imports nothing from the package, so every area may import it.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "UserError"]


class UserError(Exception):
    """A problem with the user's input or environment, told in one line without a traceback.

    The message names what is wrong (the file, field or option), what was expected and what
    was found.

    Examples
    --------
    >>> raise UserError("study.toml: train.epochs: expected int, found 'ten'")
    Traceback (most recent call last):
    ...
    ecgtriage.errors.UserError: study.toml: train.epochs: expected int, found 'ten'
    """


class ConfigError(UserError, ValueError):
    """A setting is wrong: a command-line option, a config file, a label scheme definition."""


class DataError(UserError, ValueError):
    """Input data is wrong: a record, a metadata table, a cache, a split table."""
