"""The read-only probe: the payload shapes of a real platform, compared with the emulator's profiles.

A plugin offers ``probe(env) -> iterable of (endpoint, payload)``: one page of every endpoint it reads, with GETs
and queries only. The engine keeps only the shape of each payload (key paths and JSON types, as
``shapes.type_shape`` has them, with keys that are data redacted), writes it to ``probe-<plugin>.json`` for a bug
report, then starts the plugin's registered emulator under each of its profiles (``EmulatorPlugin.profiles()``),
probes it the same way and prints the differences, naming the profile that matches best. No value of a payload ever reaches the file or the output:
an endpoint that fails is recorded by its error's type and HTTP status, never its message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .hookspecs import ConfigurationError, ProbesPlatform
from .registry import default_registry
from .runtime import check_settings
from .shapes import LIST_ITEM, MAX_DEPTH, json_type

Shape = dict[str, dict[str, list[str]]]  # endpoint -> key path -> sorted JSON types
ERROR_KEY = "(error)"
EMULATOR_SIZE = 12  # conversations in the emulated workspace: enough for one page of everything
MAX_KEY = 64

# A key that is data rather than the platform's schema (an id, an email, a phone number, a date, an IBAN, a free
# text used as a key, e.g. custom fields keyed by their title or value) would carry a customer value into the
# file: only identifier-shaped keys (as APIs name their fields: created_at, Legacy_Id__c, Address2) without a
# run of digits are written; anything else is a placeholder. (A one-word value used as a key, e.g. a surname,
# is identifier-shaped and stays: schema keys cannot be told from it by shape alone.)
_SCHEMA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DIGIT_RUN = re.compile(r"\d{3,}")
# Maps keyed by data by their nature (custom field values keyed by the field's title, contact properties): their
# keys are written as placeholders whatever their shape ("Items" or "Klantnummer" is a workspace's own word).
_DATA_MAP = re.compile(r"^(custom_\w*|\w*_data|properties)$", re.I)


def _redact_key(key: Any) -> str:
    name = str(key)
    schema = 0 < len(name) <= MAX_KEY and _SCHEMA_KEY.match(name) and not _DIGIT_RUN.search(name)
    return name if schema else "{key}"


def redacted_shape(payload: Any, *, prefix: str = "", depth: int = 0) -> dict[str, set[str]]:
    """``shapes.type_shape`` with every key that is data written as ``{key}``, key by key, before paths are
    joined (an email key holds dots: redacting the joined path would leave its pieces)."""
    out: dict[str, set[str]] = {}
    if depth > MAX_DEPTH:
        return out

    def merge(more: dict[str, set[str]]) -> None:
        for p, types in more.items():
            out.setdefault(p, set()).update(types)

    data_keyed = bool(prefix) and bool(_DATA_MAP.match(prefix.rsplit(".", 1)[-1].removesuffix(LIST_ITEM)))
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            name = "{key}" if data_keyed else _redact_key(key)
            path = f"{prefix}.{name}" if prefix else name
            out.setdefault(path, set()).add(json_type(value))
            merge(redacted_shape(value, prefix=path, depth=depth + 1))
    elif isinstance(payload, (list, tuple)):
        for item in payload:
            if isinstance(item, (Mapping, list, tuple)):
                merge(redacted_shape(item, prefix=f"{prefix}{LIST_ITEM}", depth=depth + 1))
            else:
                out.setdefault(f"{prefix}{LIST_ITEM}", set()).add(json_type(item))
    return out


def redact_endpoint(endpoint: str) -> str:
    """Ids in an endpoint's path (``tickets/123/messages``) become ``{id}``; a query string is dropped."""
    path = endpoint.split("?", 1)[0]
    return "/".join("{id}" if re.fullmatch(r"(?=.*\d)[0-9a-zA-Z]{15,18}|\d+|[0-9a-f-]{32,36}", p) else p
                    for p in path.split("/"))


def error_payload(exc: BaseException) -> dict[str, Any]:
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return {ERROR_KEY: f"{type(exc).__name__}" + (f" (HTTP {status})" if isinstance(status, int) else "")}


def collect_shapes(pairs: Iterable[tuple[str, Any]]) -> Shape:
    """The redacted shape of every probed payload, endpoint by endpoint (pages of one endpoint add up)."""
    out: dict[str, dict[str, set[str]]] = {}
    for endpoint, payload in pairs:
        ep = out.setdefault(redact_endpoint(endpoint), {})
        if isinstance(payload, BaseException):
            ep.setdefault(ERROR_KEY, set()).add(error_payload(payload)[ERROR_KEY])
            continue
        for path, types in redacted_shape(payload).items():
            ep.setdefault(path, set()).update(types)
    return {e: {p: sorted(t) for p, t in sorted(paths.items())} for e, paths in sorted(out.items())}


def probe_plugin(plugin: Any, env: Mapping[str, str]) -> Shape:
    if not isinstance(plugin, ProbesPlatform):
        raise ConfigurationError(f"the {plugin.name} plugin offers no read-only probe")
    values = check_settings(plugin.settings(), env, plugin.name)  # a missing setting named, never a value
    return collect_shapes(plugin.probe({**env, **values}))


# --------------------------------------------------------------------------------------------------
# Comparing with the emulator
# --------------------------------------------------------------------------------------------------


@dataclass
class ShapeDiff:
    profile: str
    only_real: list[str] = field(default_factory=list)  # "endpoint: path" the platform has, the emulator not
    only_emulator: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)  # "endpoint: path real [..] emulator [..]"
    endpoints_only_real: list[str] = field(default_factory=list)
    endpoints_only_emulator: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return (len(self.only_real) + len(self.only_emulator) + len(self.types) + len(self.endpoints_only_real)
                + len(self.endpoints_only_emulator))

    def lines(self) -> list[str]:
        out = [f"  endpoint only on the platform: {e}" for e in self.endpoints_only_real]
        out += [f"  endpoint only on the emulator (the platform gave nothing): {e}" for e in self.endpoints_only_emulator]
        out += [f"  key only on the platform: {k}" for k in self.only_real]
        out += [f"  key only on the emulator (never seen on the platform): {k}" for k in self.only_emulator]
        out += [f"  type differs: {t}" for t in self.types]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "differences": self.count, "only_platform": self.only_real,
                "only_emulator": self.only_emulator, "types": self.types,
                "endpoints_only_platform": self.endpoints_only_real,
                "endpoints_only_emulator": self.endpoints_only_emulator}


def diff_shapes(real: Shape, emulated: Shape, profile: str) -> ShapeDiff:
    d = ShapeDiff(profile)
    d.endpoints_only_real = sorted(set(real) - set(emulated))
    d.endpoints_only_emulator = sorted(set(emulated) - set(real))
    for ep in sorted(set(real) & set(emulated)):
        r, e = real[ep], emulated[ep]
        d.only_real += [f"{ep}: {p}" for p in sorted(set(r) - set(e))]
        d.only_emulator += [f"{ep}: {p}" for p in sorted(set(e) - set(r))]
        # null beside a type is only an empty value on one side, not a different shape
        d.types += [f"{ep}: {p} platform {r[p]} emulator {e[p]}" for p in sorted(set(r) & set(e))
                    if set(r[p]) - {"null"} and set(e[p]) - {"null"} and set(r[p]) - {"null"} != set(e[p]) - {"null"}]
    return d


def profiles_of(plugin: Any) -> dict[str, str]:
    """The profiles of the plugin's registered emulator ("default" first)."""
    return dict(default_registry().emulator(plugin.name).profiles()) or {"default": "the emulator as it is"}


# Our own emulators: no reason to wait for a plan's rate limit while reading their shapes.
EMULATOR_RATE_LIMIT = 60_000
_emulator_shapes: dict[tuple[str, str, str], Shape] = {}  # (plugin, version, profile): deterministic, read once


def emulator_shapes(plugin: Any, profile: str) -> Shape:
    key = (plugin.name, str(getattr(plugin, "version", "")), profile)
    if key not in _emulator_shapes:
        emu = default_registry().emulator(plugin.name).start(seed=42, size=EMULATOR_SIZE, port=0,
                                                             rate_limit=EMULATOR_RATE_LIMIT, profile=profile)
        try:
            _emulator_shapes[key] = probe_plugin(plugin, emu.env())
        finally:
            emu.stop()
    return _emulator_shapes[key]


@dataclass
class ProbeResult:
    plugin: str
    shapes: Shape
    path: Path
    diffs: list[ShapeDiff] = field(default_factory=list)

    @property
    def best(self) -> ShapeDiff | None:
        return min(self.diffs, key=lambda d: d.count) if self.diffs else None

    @property
    def differs(self) -> bool:
        best = self.best
        return bool(best and best.count)


def run_probe(plugin: Any, env: Mapping[str, str], *, out_dir: Path, compare: bool = True,
              echo: Callable[[str], None] = print) -> ProbeResult:
    """Probe the platform ``env`` points at, write the shape file, compare with each emulator profile."""
    shapes = probe_plugin(plugin, env)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"probe-{plugin.name}.json"
    result = ProbeResult(plugin.name, shapes, path)
    errors = [f"{ep}: {paths[ERROR_KEY][0]}" for ep, paths in shapes.items() if ERROR_KEY in paths]
    echo(f"{plugin.name}: probed {len(shapes)} endpoint(s)" + (f", {len(errors)} failed" if errors else ""))
    for line in errors:
        echo(f"  failed: {line}")
    if compare:
        profiles = profiles_of(plugin)
        for name in profiles:
            result.diffs.append(diff_shapes(shapes, emulator_shapes(plugin, name), name))
        for d in result.diffs:
            echo(f"{plugin.name}: profile {d.profile!r}: {d.count} difference(s)")
        best = result.best
        if best is not None:
            verdict = "matches exactly" if not best.count else f"matches best, with {best.count} difference(s)"
            echo(f"{plugin.name}: emulator profile {best.profile!r} {verdict}: {profiles.get(best.profile, '')}")
            for line in best.lines():
                echo(line)
    path.write_text(json.dumps({"plugin": plugin.name, "version": getattr(plugin, "version", ""),
                                "note": "key paths and JSON types only: no value of any payload",
                                "endpoints": shapes,
                                "comparison": [d.as_dict() for d in result.diffs],
                                "best_profile": result.best.profile if result.best else None},
                               indent=2, sort_keys=False))
    echo(f"{plugin.name}: shapes written to {path}")
    return result
