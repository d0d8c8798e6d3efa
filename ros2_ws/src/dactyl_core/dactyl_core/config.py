"""Typed, validated YAML configuration.

Every configuration in dactyl is a frozen dataclass. `load(cls, source)` builds one from a YAML file or a
mapping and refuses, naming the key and the expected form, anything it does not understand: unknown keys,
wrong types, ranges given backwards. Defaults live on the dataclasses; YAML files override them.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


def load(cls: type[T], source: str | Path | Mapping[str, Any] | None, where: str | None = None) -> T:
    """Build `cls` from a YAML path, a mapping, or None (all defaults)."""
    if source is None:
        return cls()
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        return from_dict(cls, data, where or str(path))
    return from_dict(cls, source, where or cls.__name__)


def from_dict(cls: type[T], data: Any, where: str) -> T:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def merge(base: T, overrides: Mapping[str, Any] | None, where: str = "overrides") -> T:
    """Return `base` with the (possibly nested) `overrides` applied, validated like a fresh load."""
    if not overrides:
        return base
    data = to_dict(base)
    _deep_update(data, overrides)
    return from_dict(type(base), data, where)


def to_dict(obj: Any) -> Any:
    """Plain-data (YAML/JSON-safe) form of a config: tuples become lists."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False)


def check_range(where: str, value: tuple[float, float], *, positive: bool = False, nonnegative: bool = False) -> None:
    """A (low, high) pair: low <= high, and optionally both > 0 or >= 0."""
    low, high = value
    if low > high:
        raise ConfigError(f"{where}: range [{low}, {high}] is inverted; expected [low, high] with low <= high")
    if positive and low <= 0:
        raise ConfigError(f"{where}: range [{low}, {high}] must be positive (a scale factor)")
    if nonnegative and low < 0:
        raise ConfigError(f"{where}: range [{low}, {high}] must not be negative")


def check_nonnegative(where: str, value: float) -> None:
    if value < 0:
        raise ConfigError(f"{where}: {value} must not be negative")


def check_positive(where: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{where}: {value} must be positive")


def _deep_update(target: dict, overrides: Mapping[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # an optional value: name what is wrong with it
            return _coerce(options[0], value, where)
        for option in options:
            try:
                return _coerce(option, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} matches none of {[_describe(a) for a in args]}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)} values, got {len(value)}: {value!r}")
        return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_type, value_type = args
        return {_coerce(key_type, k, where): _coerce(value_type, v, f"{where}.{k}") for k, v in value.items()}
    raise ConfigError(f"{where}: unsupported config type {tp!r}")  # a programming error, surfaced loudly
