"""Config files: TOML tables checked against a schema, with environment overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A setting is missing, unknown, of the wrong type or out of range."""


def validate_tables(path: Path, raw: dict[str, Any], env: dict[str, str],
                    schema: dict[str, dict[str, tuple[type, Any]]], env_prefix: str,
                    error: type[Exception] = ConfigError) -> dict[str, Any]:
    """``{"section.key": value}`` from a parsed TOML file and ``{env_prefix}SECTION_KEY``
    overrides, checked against ``schema`` (section -> key -> (type, default)).

    Unknown sections or keys, wrong types and missing required keys raise ``error`` naming the
    file (or the environment variable) and the key. Shared by the edge and the cloud settings.
    """
    unknown = set(raw) - set(schema)
    if unknown:
        raise error(f"{path}: unknown section(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for section, keys in schema.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise error(f"{path}: [{section}] must be a table")
        extra = set(given) - set(keys)
        if extra:
            raise error(f"{path}: [{section}] has unknown key(s) {sorted(extra)}")
        for key, (kind, default) in keys.items():
            name, where = f"{section}.{key}", str(path)
            value = given.get(key, default)
            env_name = f"{env_prefix}{section}_{key}".upper()
            if env_name in env:
                value, where = env[env_name], f"environment {env_name}"
                if kind is int:
                    try:
                        value = int(value)
                    except ValueError as exc:
                        raise error(f"{where}: {name} must be an integer, got {value!r}") from exc
                elif kind is bool:
                    value = _env_bool(value)
            if value is None:
                raise error(f"{where}: {name} is required")
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise error(f"{where}: {name} must be an integer, got {value!r}")
            if kind is bool and not isinstance(value, bool):
                raise error(f"{where}: {name} must be true or false, got {value!r}")
            if kind is str and not isinstance(value, str):
                raise error(f"{where}: {name} must be a string, got {value!r}")
            values[name] = value
    return values


def _env_bool(text: str) -> bool | str:
    """``true``/``false`` (also 1/0, yes/no) from the environment; anything else is kept, and
    refused by the type check with the variable's name."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    return text
