"""The SPH ``AHA_Code`` field grammar: ``;``-separated statements, ``code`` or ``code+modifier``.

It is part of reading the SPH metadata file, so it lives in ``io``; ``labels`` builds on it.

Examples: ``22;23``, ``30+310``, ``60+310;147``, ``145+363;145+362``. Exact duplicate statements
(``1;1``) are dropped; the same primary code with different modifiers is kept as two statements
(labels.md §1.2), so modifier rules can be applied per statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Collection

from ecgtriage.errors import DataError

#: ASCII digits only: ``\d`` would also accept other scripts' digits (``٣``), which no SPH
#: release uses and which would silently parse as a code.
_STATEMENT = re.compile(r"([0-9]{1,9})(?:\+([0-9]{1,9}))?")


@dataclass(frozen=True, order=True)
class Statement:
    """One AHA statement: a primary code and at most one modifier code."""

    code: int
    modifier: int | None = None

    def __str__(self) -> str:
        return f"{self.code}" if self.modifier is None else f"{self.code}+{self.modifier}"

    @classmethod
    def parse(cls, text: str) -> "Statement":
        (statement,) = parse_aha_code(text)
        return statement


def parse_aha_code(
    text: str,
    known_codes: Collection[int] | None = None,
    known_modifiers: Collection[int] | None = None,
    where: str = "AHA_Code",
) -> tuple[Statement, ...]:
    """Parse one record's ``AHA_Code`` field into de-duplicated statements, in file order.

    ``known_codes``/``known_modifiers`` (when given) make an unknown code an error that names it.
    Raises ``ValueError`` with ``where`` and the offending text for malformed input.
    """
    if text is None or not str(text).strip():
        raise DataError(f"{where}: empty label field; expected statements like '60+310;147'")
    out: list[Statement] = []
    seen: set[Statement] = set()
    for raw in str(text).split(";"):
        # spaces around ';' and '+' are tolerated; inside a number they are an error ("2 2")
        part = re.sub(r"\s*\+\s*", "+", raw.strip())
        if not part:
            raise DataError(f"{where}: empty statement in {text!r}")
        match = _STATEMENT.fullmatch(part)
        if match is None:
            raise DataError(
                f"{where}: malformed statement {raw.strip()!r} in {text!r}; "
                "expected CODE or CODE+MODIFIER (digits)"
            )
        code = int(match.group(1))
        modifier = int(match.group(2)) if match.group(2) else None
        if known_codes is not None and code not in known_codes:
            raise DataError(f"{where}: unknown statement code {code} in {text!r}")
        if modifier is not None and known_modifiers is not None and modifier not in known_modifiers:
            raise DataError(f"{where}: unknown modifier code {modifier} in {text!r}")
        statement = Statement(code, modifier)
        if statement not in seen:
            seen.add(statement)
            out.append(statement)
    return tuple(out)


def format_statements(statements: Collection[Statement]) -> str:
    """Inverse of :func:`parse_aha_code` (``;``-joined)."""
    return ";".join(str(s) for s in statements)
