"""Typed configuration: dataclasses loaded from TOML/JSON with unknown keys rejected.

Every run saves its resolved configuration (``save_resolved``) so that it can be reproduced
and so that resumable work can be keyed by ``config_hash``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from ecgtriage import atomic
from ecgtriage.errors import ConfigError

T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ``ConfigError`` (a ``ValueError``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table of settings, found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; expected some of {', '.join(fields)}"
        )
    kwargs = {key: _coerce(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, found {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, found {value!r}")
        return value
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {tp.__name__}, found {value!r}")
    if origin is dict and not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, found {value!r}")
    return value


def read_table(path: str | Path) -> dict[str, Any]:
    """The top-level table of a ``.toml`` or ``.json`` config file (errors name the file)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {p} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"config file {p}: cannot parse: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a table of settings, found {type(data).__name__}")
    return data


def load_file(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Load ``cls`` from a ``.toml`` or ``.json`` file (optionally one ``[section]`` of it)."""
    p = Path(path)
    data = read_table(p)
    if section is not None:
        data = data.get(section, {})
    return from_dict(cls, data, where=str(p) + (f"[{section}]" if section else ""))


def replace(cfg: T, **changes: Any) -> T:
    """``dataclasses.replace`` ignoring ``None`` values (handy for CLI overrides)."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})


def config_hash(cfg: Any, length: int = 12) -> str:
    """A stable short hash of a resolved config (keys sorted), used to key resumable cells."""
    blob = json.dumps(to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def save_resolved(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as JSON next to a run's outputs."""
    atomic.write_json(path, to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg)
