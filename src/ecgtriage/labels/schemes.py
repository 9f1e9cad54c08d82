"""Label schemes as data files: statement → class, with modifier/context rules.

A scheme file is a CSV preceded by ``# key: value`` header lines::

    # name: tier4-qt-moderate
    # version: 1
    # multilabel: false
    # ordered: true
    # classes: Normal|Mild|Moderate|Serious
    # default_class: Normal
    # extends: tier4
    vocabulary,statement,modifier,when,class,rule_id,rationale,source
    aha,148,,,Moderate,QT1,sensitivity analysis of labels.md 3.2,labels.md 3.2

Header keys: ``name``, ``version`` (required), ``description``, ``multilabel`` (default false)
and ``ordered`` (default: true for single-label, the ``classes`` order being the severity order),
``classes`` (``|``-separated, in class-index order), ``default_class`` (class of a record none of
whose statements maps to a class; single-label only), ``empty`` (multi-label: ``negative`` (an
all-zero target is a valid label, the default) or ``unknown`` (such records are unlabelled, as in
the PTB-XL benchmark)), ``extends`` (a scheme whose rows are tried after this file's rows),
``coarsen`` (``A>B; C>D``: map the row classes, those of ``extends``, to this scheme's classes
after aggregation), ``tables`` (``tier4`` or ``aha44``: rows generated from the package's
mapping tables; used by the built-in schemes).

Rows: ``statement`` (one or several ``|``-separated codes of ``vocabulary``: ``aha``, ``scp``,
``heart_axis`` or ``snomed``), ``modifier`` (empty: any; ``-``: none; or ``|``-separated codes),
``when`` (a context condition, see :mod:`ecgtriage.labels.conditions`), ``class`` (a class, several
``|``-separated for multi-label, ``ignore`` for no class, ``unknown`` for undeterminable). For
every statement of a record the **first matching row wins**; a single-label ordered scheme then
takes the most severe (highest) class over the record's statements.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from ecgtriage.errors import ConfigError
from ecgtriage.labels import tables
from ecgtriage.labels.conditions import Condition, RecordContext

IGNORE, UNKNOWN = tables.NON_CLASS
_HEADER_KEYS = {
    "name", "version", "description", "multilabel", "ordered", "classes", "default_class",
    "empty", "extends", "coarsen", "tables", "vocabulary",
}
_COLUMNS = ("vocabulary", "statement", "modifier", "when", "class", "rule_id", "rationale", "source")
#: Built-in schemes: name → file under ``labels/data/schemes``.
BUILTIN = (
    "aha44", "tier4", "tier3", "tier3b",
    "all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm",
)
#: Schemes a command uses when none is named: the three the reference study compared (44
#: statements, 4 tiers, 3 tiers). One list, so that ``labels`` and ``study`` agree by default.
DEFAULT_SCHEMES: tuple[str, ...] = ("aha44", "tier4", "tier3")


@dataclass(frozen=True)
class SchemeRow:
    vocabulary: str
    statements: frozenset[str]
    modifiers: frozenset[str] | None
    when: Condition
    classes: tuple[str, ...]
    rule_id: str = ""
    rationale: str = ""
    source: str = ""
    where: str = ""

    def matches(self, modifier: str | None, ctx: RecordContext) -> bool:
        if self.modifiers is not None and (modifier or "-") not in self.modifiers:
            return False
        return self.when.holds(ctx)


@dataclass(frozen=True)
class Scheme:
    """A loaded label scheme. ``classes`` is the class-index order of targets."""

    name: str
    version: str
    classes: tuple[str, ...]
    multilabel: bool
    ordered: bool
    rows: tuple[SchemeRow, ...] = field(repr=False)
    row_classes: tuple[str, ...] = field(repr=False)
    coarsen_map: dict[str, str] | None = field(default=None, repr=False)
    default_class: str | None = None
    empty: str = "negative"
    description: str = ""
    path: str = ""
    digest: str = ""

    @property
    def vocabularies(self) -> frozenset[str]:
        return frozenset(r.vocabulary for r in self.rows)

    @cached_property
    def _index(self) -> dict[tuple[str, str], tuple[SchemeRow, ...]]:
        index: dict[tuple[str, str], list[SchemeRow]] = {}
        for row in self.rows:
            for code in row.statements:
                index.setdefault((row.vocabulary, code), []).append(row)
        return {key: tuple(rows) for key, rows in index.items()}

    def rows_for(self, vocabulary: str, code: str) -> tuple[SchemeRow, ...]:
        return self._index.get((vocabulary, code), ())

    def classify(
        self, vocabulary: str, code: str, modifier: str | None, ctx: RecordContext
    ) -> tuple[tuple[str, ...] | None, str]:
        """Row classes of one statement (``None`` when no row matches) and the rule id used."""
        for row in self.rows_for(vocabulary, code):
            if row.matches(modifier, ctx):
                return row.classes, row.rule_id
        return None, ""

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "classes": list(self.classes),
                "multilabel": self.multilabel, "ordered": self.ordered, "digest": self.digest}


def builtin_names() -> tuple[str, ...]:
    return BUILTIN


def load_scheme(name_or_path: "str | Path | Scheme") -> Scheme:
    """Load a built-in scheme by name (``aha44``, ``tier4``, ``tier3``, ``tier3b``, the PTB-XL
    ladder ``all``/``diagnostic``/``subdiagnostic``/``superdiagnostic``/``form``/``rhythm``) or a
    scheme CSV file. Raises ``ValueError`` naming the file and line for a malformed file."""
    if isinstance(name_or_path, Scheme):
        return name_or_path
    text = str(name_or_path)
    if text in BUILTIN:
        return _load_builtin(text)
    path = Path(text)
    if path.is_file():
        resolved = path.resolve()
        stack = _loading_stack()
        if resolved in stack:
            # 'extends' naming this file (or a file that extends it back) would recurse until
            # Python's recursion limit: a traceback instead of a message naming the cycle.
            chain = " -> ".join(str(p) for p in [*stack[stack.index(resolved):], resolved])
            raise ConfigError(f"{resolved}: the scheme extends itself ({chain})")
        stack.append(resolved)
        try:
            return _load_file(resolved)
        finally:
            stack.pop()
    if path.suffix.lower() == ".csv" or "/" in text:
        raise FileNotFoundError(f"scheme file not found: {text}")
    raise ConfigError(f"unknown scheme {text!r}; expected a scheme CSV or one of {', '.join(BUILTIN)}")


_LOCAL = threading.local()


def _loading_stack() -> list[Path]:
    """Scheme files being loaded in this thread, outermost first (to detect 'extends' cycles)."""
    if not hasattr(_LOCAL, "stack"):
        _LOCAL.stack = []
    return _LOCAL.stack


@lru_cache(maxsize=None)
def _load_builtin(name: str) -> Scheme:
    ref = tables.data_path(f"schemes/{name}.csv")
    return parse_scheme(ref.read_text(encoding="utf-8"), where=f"labels/data/schemes/{name}.csv")


@lru_cache(maxsize=32)
def _load_file(path: Path) -> Scheme:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        # A scheme saved in another encoding (or a binary file given by mistake).
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    return parse_scheme(text, where=str(path))


def parse_scheme(text: str, where: str = "<scheme>") -> Scheme:
    """Parse a scheme file's text; errors name ``where`` and the line.

    The header decides what kind of scheme it is (label cardinality, classes, what it extends
    or coarsens); the rows are then checked against the classes the header allows.
    """
    lines = text.splitlines()
    meta, body_start = _read_header(lines, where)
    parent = None
    if meta.get("extends"):
        if meta["extends"] == meta.get("name"):
            raise ConfigError(f"{where}: a scheme cannot extend itself ({meta['extends']!r})")
        parent = load_scheme(meta["extends"])
    multilabel = _bool_header(meta, "multilabel", parent.multilabel if parent else False, where)
    ordered = _bool_header(meta, "ordered", parent.ordered if parent else (not multilabel), where)
    if multilabel and ordered:
        raise ConfigError(f"{where}: a multi-label scheme cannot be ordered")
    tables_kind = meta.get("tables", "")
    if tables_kind not in ("", "tier4", "aha44"):
        raise ConfigError(f"{where}: header 'tables' must be tier4 or aha44, found {tables_kind!r}")

    classes = _header_classes(meta, tables_kind, parent)
    coarsen_map, row_classes = _coarsening(meta, parent, classes, multilabel, ordered, where)
    own_rows = _parse_rows(lines, body_start, where, vocabulary=meta.get("vocabulary", "aha"),
                           multilabel=multilabel)
    if not classes:
        # multi-label user scheme without a classes header: order of first appearance
        seen: list[str] = []
        for row in own_rows:
            seen.extend(c for c in row.classes if c not in tables.NON_CLASS and c not in seen)
        classes = tuple(seen)
        row_classes = classes
    _check_classes(classes, row_classes, own_rows, parent, coarsen_map, where)
    rows = _all_rows(own_rows, tables_kind, parent, where)
    default_class = _default_class(meta, parent, coarsen_map, multilabel, classes, where)
    empty = meta.get("empty", "negative")
    if empty not in ("negative", "unknown"):
        raise ConfigError(f"{where}: header 'empty' must be negative or unknown, found {empty!r}")

    name = meta.get("name") or Path(where).stem
    return Scheme(
        name=name, version=_version(meta, parent, where), classes=tuple(classes),
        multilabel=multilabel, ordered=ordered, rows=tuple(rows), row_classes=tuple(row_classes),
        coarsen_map=coarsen_map, default_class=default_class, empty=empty,
        description=meta.get("description", ""), path=where,
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
    )


def _read_header(lines: list[str], where: str) -> tuple[dict[str, str], int]:
    """``# key: value`` lines before the CSV body: (header, index of the first body line).

    Comment lines without a colon are skipped; an unknown key is an error (a typo such as
    ``# multilable: true`` would otherwise silently change the scheme).
    """
    meta: dict[str, str] = {}
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            return meta, i
        key, sep, value = stripped.lstrip("#").partition(":")
        key = key.strip().lower()
        if not sep:
            continue  # a plain comment line
        if key not in _HEADER_KEYS:
            raise ConfigError(
                f"{where} line {i + 1}: unknown header key {key!r}; expected one of "
                f"{', '.join(sorted(_HEADER_KEYS))}"
            )
        meta[key] = value.strip()
    return meta, len(lines)


def _bool_header(meta: dict[str, str], key: str, default: bool, where: str) -> bool:
    value = meta.get(key)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "yes", "1"):
        return True
    if value.lower() in ("false", "no", "0"):
        return False
    raise ConfigError(f"{where}: header {key!r} must be true or false, found {value!r}")


def _header_classes(meta: dict[str, str], tables_kind: str, parent: Scheme | None) -> tuple[str, ...]:
    """Classes from the ``classes`` header, else from the mapping tables or the parent; empty
    when the rows must supply them (a coarsening scheme never inherits its parent's)."""
    classes = _split(meta.get("classes", ""))
    if classes:
        return classes
    if tables_kind == "tier4":
        return tables.TIER4
    if tables_kind == "aha44":
        return tables.aha_primary_codes()
    if parent is not None and not meta.get("coarsen"):
        return parent.classes
    return classes


def _coarsening(
    meta: dict[str, str],
    parent: Scheme | None,
    classes: tuple[str, ...],
    multilabel: bool,
    ordered: bool,
    where: str,
) -> tuple[dict[str, str] | None, tuple[str, ...]]:
    """(parent class → class map or ``None``, the classes rows may use).

    A coarsening scheme's rows speak the parent's classes, mapped to its own after aggregation.
    """
    if not meta.get("coarsen"):
        return None, classes
    if parent is None:
        raise ConfigError(f"{where}: header 'coarsen' needs 'extends' (the scheme being coarsened)")
    if parent.coarsen_map is not None:
        raise ConfigError(f"{where}: cannot coarsen {parent.name!r}, which is itself coarsened")
    if multilabel or parent.multilabel:
        raise ConfigError(f"{where}: 'coarsen' applies to single-label schemes only")
    return _parse_coarsen(meta["coarsen"], parent, classes, ordered, where), parent.classes


def _check_classes(
    classes: tuple[str, ...],
    row_classes: tuple[str, ...],
    own_rows: list[SchemeRow],
    parent: Scheme | None,
    coarsen_map: dict[str, str] | None,
    where: str,
) -> None:
    """Every class a row (own or inherited) can produce must be a class of the scheme."""
    if not classes:
        raise ConfigError(f"{where}: no classes (give a 'classes' header or rows with classes)")
    if len(set(classes)) != len(classes):
        raise ConfigError(f"{where}: duplicate class names in {classes}")
    for row in own_rows:
        for cls in row.classes:
            if cls not in row_classes and cls not in tables.NON_CLASS:
                raise ConfigError(
                    f"{where} {row.where}: class {cls!r} is not one of {'|'.join(row_classes)} "
                    f"(or {IGNORE}/{UNKNOWN})"
                )
    if parent is not None and coarsen_map is None:
        foreign = sorted({c for r in parent.rows for c in r.classes} - set(row_classes) - set(tables.NON_CLASS))
        if foreign:
            raise ConfigError(
                f"{where}: rows of {parent.name!r} use classes {foreign} missing from 'classes' "
                f"{'|'.join(row_classes)} (use 'coarsen' to map them)"
            )


def _all_rows(
    own_rows: list[SchemeRow], tables_kind: str, parent: Scheme | None, where: str
) -> list[SchemeRow]:
    """The file's rows, then the generated table rows, then the parent's: the first matching
    row wins, so a scheme overrides what it extends."""
    rows = list(own_rows)
    if tables_kind == "tier4":
        rows += _tier4_table_rows()
    elif tables_kind == "aha44":
        rows += _aha44_table_rows()
    if parent is not None:
        rows += list(parent.rows)
    if not rows:
        raise ConfigError(f"{where}: the scheme has no rows (and no 'tables' or 'extends' header)")
    return rows


def _default_class(
    meta: dict[str, str],
    parent: Scheme | None,
    coarsen_map: dict[str, str] | None,
    multilabel: bool,
    classes: tuple[str, ...],
    where: str,
) -> str | None:
    """The header's ``default_class``, else the parent's (mapped through a coarsening)."""
    default_class = meta.get("default_class") or None
    if default_class is None and parent is not None and parent.default_class is not None:
        default_class = parent.default_class if coarsen_map is None else coarsen_map[parent.default_class]
    if default_class is not None:
        if multilabel:
            raise ConfigError(f"{where}: 'default_class' applies to single-label schemes only")
        if default_class not in classes:
            raise ConfigError(f"{where}: default_class {default_class!r} is not one of {classes}")
    return default_class


def _version(meta: dict[str, str], parent: Scheme | None, where: str) -> str:
    """The header's version, extended with the parent's so that a change in the parent shows
    in every run that used the child."""
    version = meta.get("version", "")
    if not version:
        raise ConfigError(f"{where}: header 'version' is required (recorded with every run)")
    if parent is not None and parent.version not in version:
        version = f"{version}+{parent.name}@{parent.version}"
    return version


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split("|") if p.strip())


def _parse_coarsen(text: str, parent: Scheme, classes: tuple[str, ...], ordered: bool, where: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        src, sep, dst = part.partition(">")
        src, dst = src.strip(), dst.strip()
        if not sep or src not in parent.classes:
            raise ConfigError(f"{where}: coarsen entry {part.strip()!r}: expected 'PARENT>CLASS' with PARENT in {parent.classes}")
        if dst not in classes:
            raise ConfigError(f"{where}: coarsen entry {part.strip()!r}: {dst!r} is not one of {classes}")
        mapping[src] = dst
    missing = [c for c in parent.classes if c not in mapping]
    if missing:
        raise ConfigError(f"{where}: coarsen does not map parent classes {missing}")
    if ordered and parent.ordered:
        idx = [classes.index(mapping[c]) for c in parent.classes]
        if idx != sorted(idx):
            raise ConfigError(f"{where}: coarsen must keep the class order (most severe wins); found {mapping}")
    return mapping


def _parse_rows(lines: list[str], start: int, where: str, vocabulary: str, multilabel: bool) -> list[SchemeRow]:
    body = "\n".join(lines[start:])
    if not body.strip():
        return []
    reader = csv.reader(io.StringIO(body))
    header = [h.strip() for h in next(reader)]
    unknown = [h for h in header if h not in _COLUMNS]
    if unknown:
        raise ConfigError(f"{where} line {start + 1}: unknown columns {unknown}; expected some of {_COLUMNS}")
    for required in ("statement", "class"):
        if required not in header:
            raise ConfigError(f"{where} line {start + 1}: missing column {required!r}")
    rows = []
    for offset, values in enumerate(reader, start=2):
        line_no = start + offset
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise ConfigError(f"{where} line {line_no}: {len(values)} fields, expected {len(header)} ({','.join(header)})")
        cell = {h: v.strip() for h, v in zip(header, values)}
        rows.append(_make_row(cell, f"line {line_no}", where, vocabulary, multilabel))
    return rows


def _make_row(cell: dict[str, str], line: str, where: str, default_vocab: str, multilabel: bool) -> SchemeRow:
    vocab = cell.get("vocabulary") or default_vocab
    if vocab not in tables.VOCABULARIES:
        raise ConfigError(f"{where} {line}: vocabulary {vocab!r} not in {tables.VOCABULARIES}")
    statements = _split(cell.get("statement", ""))
    if not statements:
        raise ConfigError(f"{where} {line}: empty 'statement'")
    known = tables.known_statements(vocab)
    for code in statements:
        if code not in known:
            raise ConfigError(f"{where} {line}: unknown {vocab} statement {code!r}")
    modifier_text = cell.get("modifier", "")
    modifiers = None
    if modifier_text:
        modifiers = frozenset(_split(modifier_text))
        if vocab != "aha":
            raise ConfigError(f"{where} {line}: modifiers exist only in the aha vocabulary, found {modifier_text!r}")
        allowed = set(tables.aha_modifier_codes()) | {"-"}
        bad = sorted(m for m in modifiers if m not in allowed)
        if bad:
            raise ConfigError(f"{where} {line}: unknown modifier {bad[0]!r} (use '-' for 'no modifier')")
    when = Condition.parse(cell.get("when", ""), where=f"{where} {line}: when")
    classes = _split(cell.get("class", ""))
    if not classes:
        raise ConfigError(f"{where} {line}: empty 'class'")
    if len(classes) > 1 and (not multilabel or any(c in tables.NON_CLASS for c in classes)):
        raise ConfigError(f"{where} {line}: several classes {cell['class']!r} need a multi-label scheme")
    return SchemeRow(vocab, frozenset(statements), modifiers, when, classes,
                     cell.get("rule_id", ""), cell.get("rationale", ""), cell.get("source", ""),
                     where=line)


def _tier4_table_rows() -> list[SchemeRow]:
    rows: list[SchemeRow] = []
    for rule in tables.tier_rules().to_dict("records"):
        where = f"tier_rules.csv {rule['rule_id']}"
        rows.append(_make_row(
            {"vocabulary": rule["vocabulary"], "statement": rule["statement"],
             "modifier": rule["modifier"], "when": rule["when"], "class": rule["tier4"],
             "rule_id": rule["rule_id"], "rationale": rule["rationale"], "source": rule["source"]},
            where, "labels/data", "aha", False))
    statements = tables.aha_statements()
    for rec in statements[statements["kind"] == "primary"].to_dict("records"):
        rows.append(SchemeRow("aha", frozenset([rec["code"]]), None, Condition.parse(""),
                              (rec["tier4"],), "", rec["rationale"], rec["source"], "aha_statements.csv"))
    for frame, name in ((tables.scp_table(), "scp_to_aha.csv"), (tables.snomed_table(), "snomed_to_aha.csv")):
        for rec in frame.to_dict("records"):
            rows.append(SchemeRow(rec["vocabulary"], frozenset([rec["statement"]]), None,
                                  Condition.parse(""), (rec["tier4"],), "", rec["rationale"],
                                  rec["source"], name))
    return rows


def _aha44_table_rows() -> list[SchemeRow]:
    rows = [SchemeRow("aha", frozenset([c]), None, Condition.parse(""), (c,), "", "", "", "aha_statements.csv")
            for c in tables.aha_primary_codes()]
    for frame, name in ((tables.scp_table(), "scp_to_aha.csv"), (tables.snomed_table(), "snomed_to_aha.csv")):
        for rec in frame.to_dict("records"):
            if rec["match_type"] in ("direct", "same"):
                rows.append(SchemeRow(rec["vocabulary"], frozenset([rec["statement"]]), None,
                                      Condition.parse(""), (rec["aha_code"],), "",
                                      f"{rec['match_type']} match", rec["source"], name))
    return rows
