"""Context conditions of scheme rules (the ``when`` column), parsed once and evaluated per record.

Grammar: clauses joined by ``&``; an empty text is always true. Each clause is one of

* ``codes_any(A|B)`` / ``codes_none(A|B)``: a statement with one of these codes is / is not
  in the record;
* ``modifiers_any(M|N)`` / ``modifiers_none(M|N)``: a statement carrying one of these
  modifiers is / is not in the record;
* ``attr_in(NAME: V1|V2)``: the record attribute ``NAME`` (a value or a set of values, e.g.
  PTB-XL's two infarction stadia) contains one of the values;
* ``attr_gt(NAME: X)`` / ``attr_le(NAME: X)``: the numeric attribute is known and > X / <= X;
* ``attr_missing(NAME)``: the attribute could not be determined.

Attributes may be lazy (a zero-argument callable), so costly ones such as a ventricular rate
measured from the signal are computed only for records whose statements reach such a rule.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ecgtriage.errors import ConfigError

_CLAUSE = re.compile(r"^(\w+)\((.*)\)$")
_SET_KINDS = {"codes_any", "codes_none", "modifiers_any", "modifiers_none"}
_ATTR_KINDS = {"attr_in", "attr_gt", "attr_le", "attr_missing"}


@dataclass
class RecordContext:
    """What a rule may look at: the record's codes, modifiers and named attributes."""

    codes: frozenset[str]
    modifiers: frozenset[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    #: attribute names that were actually evaluated (lazy ones are computed on first use)
    used: set[str] = field(default_factory=set)

    def attr(self, name: str) -> Any:
        value = self.attrs.get(name)
        if callable(value):
            value = value()
            self.attrs[name] = value
        self.used.add(name)
        return value


@dataclass(frozen=True)
class Clause:
    kind: str
    name: str
    values: tuple[str, ...]

    def holds(self, ctx: RecordContext) -> bool:
        if self.kind == "codes_any":
            return any(v in ctx.codes for v in self.values)
        if self.kind == "codes_none":
            return not any(v in ctx.codes for v in self.values)
        if self.kind == "modifiers_any":
            return any(v in ctx.modifiers for v in self.values)
        if self.kind == "modifiers_none":
            return not any(v in ctx.modifiers for v in self.values)
        value = ctx.attr(self.name)
        if self.kind == "attr_missing":
            return _missing(value)
        if _missing(value):
            return False
        if self.kind == "attr_in":
            present = {str(v) for v in value} if isinstance(value, (set, frozenset, tuple, list)) else {str(value)}
            return any(v in present for v in self.values)
        number = float(self.values[0])
        if self.kind == "attr_gt":
            return float(value) > number
        return float(value) <= number


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, (set, frozenset, tuple, list)) and not value:
        return True
    return False


@dataclass(frozen=True)
class Condition:
    """A conjunction of clauses; ``Condition.parse("")`` is always true."""

    text: str
    clauses: tuple[Clause, ...]

    @classmethod
    def parse(cls, text: str | None, where: str = "when") -> "Condition":
        text = (text or "").strip()
        if not text:
            return cls("", ())
        clauses = []
        for part in text.split("&"):
            part = part.strip()
            match = _CLAUSE.match(part)
            if match is None:
                raise ConfigError(
                    f"{where}: malformed condition {part!r}; expected e.g. 'codes_any(50|51)' "
                    "or 'attr_gt(ventricular_rate: 110)'"
                )
            kind, arg = match.group(1), match.group(2).strip()
            if kind in _SET_KINDS:
                values = _split_values(arg)
                if not values:
                    raise ConfigError(f"{where}: {kind}() needs at least one code in {part!r}")
                clauses.append(Clause(kind, "", values))
            elif kind == "attr_missing":
                if not re.fullmatch(r"\w+", arg):
                    raise ConfigError(f"{where}: attr_missing needs one attribute name, found {arg!r}")
                clauses.append(Clause(kind, arg, ()))
            elif kind in _ATTR_KINDS:
                name, sep, rest = arg.partition(":")
                name = name.strip()
                values = _split_values(rest)
                if not sep or not re.fullmatch(r"\w+", name) or not values:
                    raise ConfigError(
                        f"{where}: {kind} expects 'NAME: VALUE[|VALUE]', found {arg!r}"
                    )
                if kind in ("attr_gt", "attr_le"):
                    try:
                        float(values[0])
                    except ValueError:
                        raise ConfigError(
                            f"{where}: {kind} threshold must be a number, found {values[0]!r}"
                        ) from None
                    if len(values) != 1:
                        raise ConfigError(f"{where}: {kind} takes one threshold, found {rest!r}")
                clauses.append(Clause(kind, name, values))
            else:
                known = ", ".join(sorted(_SET_KINDS | _ATTR_KINDS))
                raise ConfigError(f"{where}: unknown condition {kind!r}; expected one of {known}")
        return cls(text, tuple(clauses))

    def holds(self, ctx: RecordContext) -> bool:
        return all(clause.holds(ctx) for clause in self.clauses)

    @property
    def attributes(self) -> frozenset[str]:
        return frozenset(c.name for c in self.clauses if c.name)

    @property
    def referenced_codes(self) -> frozenset[str]:
        return frozenset(v for c in self.clauses if c.kind.startswith("codes_") for v in c.values)


def _split_values(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split("|") if v.strip())
