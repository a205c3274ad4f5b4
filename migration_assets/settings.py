"""Plugin settings, declared once and parsed here: one parser for every plugin's environment variables.

A plugin declares each variable once as a ``Setting`` (kind, default, bounds, choices, whether it is secret or
required); ``read_settings`` turns the environment into typed values and refuses, all at once, every variable
that breaks its declaration, naming the variable, the rule and what is accepted, and never echoing a secret's
value. The engine checks settings with the same function before a run, so a bad value stops the run before any
request rather than in the middle of a step.

Hand-written rather than pydantic-settings: the declarations are plain dataclasses in the plugin contract (a
plugin author writes no model class), and the rules are few; pydantic's messages would also echo input values,
secrets included, unless every secret field were wrapped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from .hookspecs import ConfigurationError, Setting

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
KINDS = ("text", "int", "float", "bool", "choice", "url", "mapping")


class Settings(Mapping[str, Any]):
    """A plugin's settings as typed values, by variable name; an unset optional setting without default is None."""

    def __init__(self, values: Mapping[str, Any], given: frozenset[str]):
        self._values = dict(values)
        self.given = given  # the variables the environment set (not defaulted)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:  # values may be secrets: the repr names the variables only
        return f"Settings({', '.join(sorted(self._values))})"


def secure_or_local(url: str) -> bool:
    """https, or plain http to this machine only (a local emulator)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS)


def _shown(setting: Setting, raw: str) -> str:
    return "the value given" if setting.secret else repr(raw)


def _number(setting: Setting, raw: str, whole: bool) -> Any:
    try:
        value: Any = int(raw) if whole else float(raw)
    except ValueError:
        raise ValueError(f"must be {'a whole number' if whole else 'a number'}, not {_shown(setting, raw)}") from None
    if not whole and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {_shown(setting, raw)}")
    if setting.minimum is not None and value < setting.minimum:
        raise ValueError(f"must be at least {setting.minimum:g}, not {_shown(setting, raw)}")
    if setting.maximum is not None and value > setting.maximum:
        raise ValueError(f"must be at most {setting.maximum:g}, not {_shown(setting, raw)}")
    return value


def _mapping(setting: Setting, raw: str) -> dict[str, Any]:
    """A JSON object, or comma-separated key=value pairs for simple string maps."""
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object")
        return value
    out: dict[str, Any] = {}
    for part in (p.strip() for p in raw.split(",")):
        if part:
            if "=" not in part:
                raise ValueError(f"must be a JSON object or key=value pairs; {part if not setting.secret else 'a part'!r} "
                                 "is not key=value")
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def parse_value(setting: Setting, raw: str) -> Any:
    """One variable's value, typed by its declaration; ValueError says what is wrong (never a secret value)."""
    kind = setting.kind
    if kind in ("int", "float"):
        return _number(setting, raw, whole=kind == "int")
    if kind == "bool":
        word = raw.lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ValueError(f"must be true or false, not {_shown(setting, raw)}")
    if kind == "choice":
        word = raw.lower()
        if word not in setting.choices:
            raise ValueError(f"must be one of {', '.join(setting.choices)}, not {_shown(setting, raw)}")
        return word
    if kind == "url":
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL{f' such as {setting.default}' if setting.default else ''}, "
                             f"not {_shown(setting, raw)}")
        if not secure_or_local(raw):
            raise ValueError("must use https; plain http is accepted only for a local emulator on 127.0.0.1 or "
                             "localhost")
        return raw.rstrip("/")
    if kind == "mapping":
        return _mapping(setting, raw)
    if setting.pattern and not re.fullmatch(setting.pattern, raw):
        raise ValueError(f"must be {setting.pattern_help or f'like {setting.pattern}'}, not {_shown(setting, raw)}")
    return raw


def read_settings(settings: Sequence[Setting], env: Mapping[str, str], plugin_name: str) -> Settings:
    """Every declared setting from ``env``, typed, defaults applied. A missing required setting or a value that
    breaks its declaration is a ``ConfigurationError`` naming each variable at once."""
    values: dict[str, Any] = {}
    given: set[str] = set()
    missing, invalid = [], []
    for s in settings:
        raw = env.get(s.env_var)
        raw = raw.strip() if isinstance(raw, str) and not s.secret else raw
        if raw is None or raw == "":
            if s.required and (s.default is None or s.default == ""):
                missing.append(f"{s.env_var} ({s.help})")
                continue
            raw = None if s.default is None or s.default == "" else str(s.default)
        else:
            given.add(s.env_var)
        if raw is None:
            values[s.env_var] = {} if s.kind == "mapping" else None
            continue
        try:
            values[s.env_var] = parse_value(s, raw)
        except ValueError as exc:
            invalid.append(f"{s.env_var} {exc}")
    problems = []
    if missing:
        problems.append(f"missing required setting(s): {'; '.join(missing)}. Set them in the environment (or a .env "
                        f"file for dagster dev); `helpdesk-migrate emulator {plugin_name}` prints values for a local "
                        "emulator")
    problems += invalid
    if problems:
        raise ConfigurationError(f"{plugin_name}: " + "; ".join(problems))
    return Settings(values, frozenset(given))


def declaration_problems(settings: Sequence[Setting]) -> list[str]:
    """What is wrong with a plugin's declarations themselves (an unknown kind, a choice without choices, a
    default its own rules refuse): checked by the plugin's tests, so a typo never reaches a user."""
    problems = []
    for s in settings:
        if s.kind not in KINDS:
            problems.append(f"{s.env_var}: unknown kind {s.kind!r} (one of {', '.join(KINDS)})")
            continue
        if s.kind == "choice" and not s.choices:
            problems.append(f"{s.env_var}: a choice needs its choices")
        if s.default not in (None, ""):
            try:
                parse_value(s, str(s.default))
            except ValueError as exc:
                problems.append(f"{s.env_var}: its default {exc}")
    return problems


__all__ = ["KINDS", "Settings", "declaration_problems", "parse_value", "read_settings", "secure_or_local"]


# A platform's settings as its connection resource resolved them in this step (resources.connection_resource):
# they win over the process environment when the engine opens the platform's connection.
_RESOLVED: dict[str, dict[str, str]] = {}


def use_resolved_settings(platform: str, values: Mapping[str, str]) -> None:
    _RESOLVED[platform] = dict(values)


def forget_resolved_settings(platform: str) -> None:
    _RESOLVED.pop(platform, None)


def resolved_settings(platform: str) -> dict[str, str]:
    return dict(_RESOLVED.get(platform, {}))
