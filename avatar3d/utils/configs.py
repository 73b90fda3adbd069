"""Dataclass configs with strict YAML overrides.

Defaults live in the dataclasses (next to the class they configure); YAML files hold only
overrides.  Loading is strict: an unknown key, or a value of the wrong type, is an error that
names the key and the file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from avatar3d.utils.errors import UserError

T = TypeVar("T")


class ConfigError(UserError):
    """A config file or override that does not match its dataclass."""


def load_config(cls: type[T], path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> T:
    """Build ``cls`` from its defaults, then the YAML file at ``path``, then ``overrides``."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", "check the path given to --config")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path} is not valid YAML: {error}", "fix the YAML syntax") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys to values, got {type(loaded).__name__}")
        data = loaded
        source = str(path)
    config = from_dict(cls, data, source=source)
    if overrides:
        config = from_dict(cls, _deep_merge(to_dict(config), overrides), source="<overrides>")
    return config


def from_dict(cls: type[T], data: dict[str, Any], source: str = "<dict>", prefix: str = "") -> T:
    """Strictly convert a nested mapping into dataclass ``cls``."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        names = ", ".join(prefix + k for k in unknown)
        raise ConfigError(
            f"unknown config key(s) {names} in {source}",
            f"valid keys{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(sorted(fields))}",
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, f"{prefix}{name}", source)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid config in {source}: {error}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain nested dicts (what `save_config` writes)."""
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> None:
    """Write the fully resolved config as YAML (saved with every run)."""
    import yaml

    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")


def _convert(hint: Any, value: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key} in {source} must be a mapping, got {value!r}")
        return from_dict(hint, value, source, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, key, source)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"config key {key} in {source}: {value!r} does not match {hint}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key {key} in {source} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key} in {source} must be a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_convert(inner, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and not (hint is int and isinstance(value, bool))):
        raise ConfigError(f"config key {key} in {source} must be {hint.__name__}, got {value!r}")
    return value


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
