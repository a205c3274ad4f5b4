"""Great Expectations as blocking Dagster asset checks: the small adapter dagster-ge no longer provides.

One GX suite per canonical object lives in ``expectations/<object>.json`` (GX's own suite JSON). Staged
records are read chunk by chunk; their checked columns are gathered into frames of FRAME_ROWS rows, each
validated with an ephemeral GX context on a pandas frame, and the per-frame results are aggregated into one
result per expectation, so memory stays flat whatever the size. Uniqueness, which spans frames, is tracked
with digests of the values (_DigestSet).

Severity comes from GX itself: ``critical`` expectations fail the blocking check with ERROR (the load does
not run); ``warning``/``info`` ones fail with WARN. An expectation whose ``meta.quarantine`` is true sends
each offending record to the quarantine with the expectation as the reason; the clean ones still load.

Degrade, don't discard: a check on a value, not on the record, says ``"on_failure": "clear_value"`` and a
``"change_rule"`` in its meta instead. The offending records are not quarantined: they load without that value
(runtime.load_object hands the destination None for the column), and each gets a Change naming the column and
the value as the source held it. Only per-frame (GX) expectations on a column can clear a value.

GX is imported lazily (about 3 s): definitions must load fast.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .canonical import SCHEMA, FieldType
from .hookspecs import Change

EXPECTATIONS_DIR_ENV = "MIGRATION_EXPECTATIONS_DIR"
SAMPLE_IDS = 20
# Rows per GX validation. A GX run costs ~0.1 s whatever its size (it builds a metric graph per expectation),
# so the checked columns (a few short values a record, never whole records) are gathered across the store's
# chunks until a frame this size is full: ~4 MB of values for a 4x higher throughput than 5,000-row frames.
FRAME_ROWS = 50_000
CLEAR_VALUE = "clear_value"  # meta.on_failure of a value-level expectation: the record loads without the value
# Where a person finds a value the load left out: the archive asset keeps every staged record as extracted.
CLEARED_KEPT_IN = "the source archive (and this report)"


def expectations_dir() -> Path:
    """Where the suites are: MIGRATION_EXPECTATIONS_DIR (a team's own suites), else the ones shipped inside
    this package as package data, found through importlib.resources so an installed wheel has them too (a
    directory beside the source tree exists in a checkout only)."""
    env = os.environ.get(EXPECTATIONS_DIR_ENV)
    if env:
        return Path(env)
    # A regular package installed as files (pip never installs zipped): files() is a real directory Path.
    return Path(str(resources.files(__package__) / "expectations"))


def suite_path(canonical: str) -> Path:
    return expectations_dir() / f"{canonical}.json"


def load_suite_json(canonical: str) -> dict[str, Any] | None:
    path = suite_path(canonical)
    if not path.exists():
        return None
    return json.loads(path.read_text())


@dataclass
class ExpectationOutcome:
    type: str
    column: str | None
    severity: str  # critical | warning | info
    quarantine: bool
    description: str
    fix: str
    evaluated: int = 0
    unexpected: int = 0
    unexpected_ids: list[str] = field(default_factory=list)  # every offending id (kept only when quarantining)
    sample_ids: list[str] = field(default_factory=list)
    observed: Any = None
    success: bool = True
    # "clear_value": the offending records load without the column's value (see the module docstring); the
    # Change they get carries ``change_rule``. ``cleared`` keeps, per offending id, the value as the source held it.
    on_failure: str = "quarantine"
    change_rule: str = ""
    cleared: dict[str, Any] = field(default_factory=dict)

    @property
    def clears_value(self) -> bool:
        return self.on_failure == CLEAR_VALUE

    def note_offending(self, ids: list[str], values: list[Any] | None = None) -> None:
        """Offending records: a sample of their ids for the check's metadata, and all of them when this
        expectation quarantines; with their values when it clears them."""
        room = SAMPLE_IDS - len(self.sample_ids)
        if room > 0:
            self.sample_ids.extend(ids[:room])
        if self.quarantine:
            self.unexpected_ids.extend(ids)
        if self.clears_value:
            self.cleared.update(zip(ids, values if values is not None else [None] * len(ids), strict=True))

    def as_metadata(self) -> dict[str, Any]:
        return _json_safe({
            "expectation": self.type,
            "column": self.column,
            "severity": self.severity,
            "success": self.success,
            "evaluated": self.evaluated,
            "unexpected_count": self.unexpected,
            "sample_ids": self.sample_ids,
            "observed_value": self.observed,
            "quarantines": self.quarantine,
            "clears_value": self.clears_value,
            "cleared_count": len(self.cleared),
        })


@dataclass
class SuiteOutcome:
    canonical: str
    records: int = 0
    expectations: list[ExpectationOutcome] = field(default_factory=list)

    def failed(self, severity: str) -> list[ExpectationOutcome]:
        if severity == "critical":
            return [e for e in self.expectations if not e.success and e.severity == "critical"]
        return [e for e in self.expectations if not e.success and e.severity != "critical"]

    def quarantine_reasons(self) -> dict[str, tuple[str, str, str]]:
        """source id -> (rule, reason, fix) for every record a quarantining expectation refused."""
        out: dict[str, tuple[str, str, str]] = {}
        for e in self.expectations:
            if not e.quarantine:
                continue
            for sid in e.unexpected_ids:
                out.setdefault(sid, (f"gx:{e.type}:{e.column}", e.description, e.fix))
        return out


    def cleared_values(self) -> dict[str, list[Change]]:
        """source id -> the Changes of every value a clear_value expectation took out of the record."""
        out: dict[str, list[Change]] = {}
        for e in self.expectations:
            for sid, original in e.cleared.items():
                out.setdefault(sid, []).append(Change(
                    e.change_rule, f"{e.column} left empty: it fails the check that {e.description}",
                    field=e.column, original=original, kept_in=CLEARED_KEPT_IN))
        return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


@lru_cache(maxsize=1)
def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return gx, context


class _DigestRuns:
    """A set of uint64 values in sorted numpy runs, as in a log-structured merge: each batch's new values are
    one sorted run; a run is merged into the one before it once it is at least half its size, so there are
    at most log2(values/batch) runs to search and each value is re-sorted about as many times."""

    def __init__(self) -> None:
        self._runs: list[Any] = []  # sorted uint64 arrays, the larger first

    def add(self, values: Any) -> Any:
        """Adds a uint64 array; returns a bool array: which of them were there before (or earlier in it)."""
        import numpy as np

        distinct, first = np.unique(values, return_index=True)
        repeated = np.ones(len(values), dtype=bool)
        repeated[first] = False  # the first occurrence in this batch, unless an earlier batch had it
        for run in self._runs:
            at = np.minimum(np.searchsorted(run, distinct), len(run) - 1)
            repeated[first[run[at] == distinct]] = True
        new = distinct[~repeated[first]]
        if len(new):
            self._runs.append(new)
        while len(self._runs) > 1 and 2 * len(self._runs[-1]) >= len(self._runs[-2]):
            last = self._runs.pop()
            self._runs[-1] = np.sort(np.concatenate((self._runs[-1], last)))
        return repeated


class _DigestSet:
    """The values a unique column has shown, as 128-bit digests kept in two sets of their 64-bit halves
    (_DigestRuns): 16 bytes a value (a Python set of digests takes ~100), so the uniqueness of 10M values
    fits in ~160 MB. A value counts as seen when both halves are: for two different values to be taken
    for one, both halves would have to match earlier values, odds of about n^3/2^128 (1 in 10^17 at 10M
    values). Sorting plain uint64 arrays is what keeps this fast: 128-bit keys sort ~10x slower."""

    def __init__(self) -> None:
        self._high, self._low = _DigestRuns(), _DigestRuns()

    def add(self, digests: list[bytes]) -> list[int]:
        """Adds 16-byte digests; returns the positions of those seen before (earlier in the list too)."""
        import numpy as np

        halves = np.frombuffer(b"".join(digests), dtype=np.uint64).reshape(-1, 2)
        repeated = self._high.add(halves[:, 0]) & self._low.add(halves[:, 1])
        return np.flatnonzero(repeated).tolist()


class SuiteValidator:
    """Validates chunks of canonical records against one object's suite and aggregates the outcome."""

    def __init__(self, canonical: str, suite_json: dict[str, Any] | None = None, *, whole_object: bool = True,
                 frame_rows: int = FRAME_ROWS):
        # whole_object False: the records of some shards only. Row counts are a property of the whole object,
        # so they are left to a run over every shard; uniqueness is checked within the shards seen.
        self.whole_object = whole_object
        self.canonical = canonical
        self.obj = SCHEMA[canonical]
        self.suite_json = suite_json if suite_json is not None else load_suite_json(canonical)
        self.outcome = SuiteOutcome(canonical)
        self._suite = None
        self._batch_definition = None
        self._row_count_expectations: list[tuple[dict[str, Any], ExpectationOutcome]] = []
        # column -> digests of the values seen so far (see _DigestSet). Records come from the store keyed by
        # id, so one record is never seen twice.
        self._unique_values: dict[str, _DigestSet] = {}
        self._unique_expectations: list[tuple[dict[str, Any], ExpectationOutcome]] = []
        self._chunk_expectations: list[dict[str, Any]] = []
        self._chunk_outcomes: dict[tuple[str, str | None], ExpectationOutcome] = {}
        self.frame_rows = max(1, frame_rows)
        self._pending_rows = 0  # records gathered since the last frame was checked
        self._pending_ids: list[str] = []  # the ids of the rows gathered for the next GX frame
        self._pending: dict[str, list[Any]] = {}  # column -> its values in those rows
        # unique column -> (16-byte digests of its values in those rows, the ids of the rows that have one)
        self._pending_digests: dict[str, tuple[list[bytes], list[str]]] = {}
        if not self.suite_json:
            return
        per_column: set[tuple[str, str | None]] = set()
        for exp in self.suite_json.get("expectations", []):
            meta = exp.get("meta") or {}
            column = exp.get("kwargs", {}).get("column")
            on_failure = str(meta.get("on_failure") or "quarantine")
            outcome = ExpectationOutcome(
                type=exp["type"], column=column, severity=str(exp.get("severity", "critical")),
                quarantine=bool(meta.get("quarantine")) and on_failure != CLEAR_VALUE,
                description=meta.get("description") or f"{exp['type']} on {column or 'the table'}",
                fix=meta.get("fix", ""), on_failure=on_failure, change_rule=str(meta.get("change_rule") or ""),
            )
            self.outcome.expectations.append(outcome)
            if on_failure == CLEAR_VALUE and (not column or not outcome.change_rule or exp["type"] in (
                    "expect_column_values_to_be_unique", "expect_column_values_to_not_be_null")
                    or exp["type"].startswith("expect_table")):
                # A value can be cleared only where GX names the offending rows of a column, and a null cannot be
                # made "more empty"; the report needs the rule the change is listed under.
                raise ValueError(f"suite {canonical!r}: {exp['type']} on {column!r} cannot clear a value "
                                 "(on_failure clear_value needs a per-row column check and a change_rule)")
            if exp["type"].startswith("expect_table_row_count"):
                # Counts are a property of the whole object, not of a chunk: evaluated at the end.
                self._row_count_expectations.append((exp, outcome))
            elif (exp["type"], column) in per_column:
                # Results are kept per (expectation, column): a repeat would count every record twice.
                raise ValueError(f"suite {canonical!r} repeats {exp['type']} on {column!r}; merge them")
            elif exp["type"] == "expect_column_values_to_be_unique":
                # Uniqueness spans chunks: tracked across the whole object with digests of the values.
                self._unique_expectations.append((exp, outcome))
                per_column.add((exp["type"], column))
            else:
                self._chunk_outcomes[(exp["type"], column)] = outcome
                self._chunk_expectations.append(exp)
                per_column.add((exp["type"], column))
        self._columns = sorted({e.get("kwargs", {}).get("column") for e in self._chunk_expectations} - {None}
                               | {self.obj.id_field})

    @property
    def has_suite(self) -> bool:
        return bool(self.suite_json)

    def _chunk_suite(self):
        if self._suite is None:
            gx, context = _gx()
            self._suite = gx.ExpectationSuite(
                name=f"{self.canonical}-chunk",
                expectations=[{k: v for k, v in e.items() if k in ("type", "kwargs", "meta", "severity")}
                              for e in self._chunk_expectations],
            )
            # A fresh name per validator: id() values are reused after garbage collection, and the ephemeral
            # context lives as long as the process (many checks run in one in-process run).
            name = f"staged-{self.canonical}-{uuid.uuid4().hex}"
            self._datasource_name = name
            datasource = context.data_sources.add_pandas(name)
            asset = datasource.add_dataframe_asset(self.canonical)
            self._batch_definition = asset.add_batch_definition_whole_dataframe("chunk")
        return self._suite

    def _gather(self, records: list[dict[str, Any]], ids: list[str]) -> None:
        """Add the checked columns of ``records`` to the next GX frame."""
        self._pending_ids += ids
        for col in self._columns:
            values = [r.get(col) for r in records]
            ftype = self.obj.field(col).type if col in self.obj.field_names else None
            if ftype in (FieldType.LIST, FieldType.JSON):
                values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
            self._pending.setdefault(col, []).extend(values)

    def validate_chunk(self, records: list[dict[str, Any]]) -> None:
        self.outcome.records += len(records)
        if not self.has_suite or not records:
            return
        ids = [str(r.get(self.obj.id_field)) for r in records]
        if self._chunk_expectations:
            self._gather(records, ids)
        for exp, _outcome in self._unique_expectations:
            self._gather_digests(exp["kwargs"]["column"], records, ids)
        self._pending_rows += len(records)
        if self._pending_rows >= self.frame_rows:
            self._check_pending()

    def _gather_digests(self, column: str, records: list[dict[str, Any]], ids: list[str]) -> None:
        """Digests of a unique column's values (case-folded text, canonical JSON otherwise), for the next
        frame's uniqueness check."""
        digests, with_value = self._pending_digests.setdefault(column, ([], []))
        blake2b = hashlib.blake2b
        for rec, sid in zip(records, ids, strict=True):
            value = rec.get(column)
            if value is None:
                continue
            key = value.casefold() if isinstance(value, str) else json.dumps(value, sort_keys=True)
            digests.append(blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest())
            with_value.append(sid)

    def _check_pending(self) -> None:
        """The gathered rows through GX and the uniqueness checks."""
        self._pending_rows = 0
        self._validate_pending()
        pending, self._pending_digests = self._pending_digests, {}
        for exp, outcome in self._unique_expectations:
            column = exp["kwargs"]["column"]
            digests, ids = pending.get(column, ([], []))
            if not digests:
                continue
            outcome.evaluated += len(digests)
            repeated = [ids[i] for i in self._unique_values.setdefault(column, _DigestSet()).add(digests)]
            if repeated:
                outcome.success = False
                outcome.unexpected += len(repeated)
                outcome.note_offending(repeated)

    def _validate_pending(self) -> None:
        """One GX run over the gathered rows; its results are added to the expectations' outcomes."""
        import pandas as pd

        ids, columns = self._pending_ids, self._pending
        self._pending_ids, self._pending = [], {}
        if not ids:
            return
        suite = self._chunk_suite()
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": pd.DataFrame(columns)})
        result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
        for res in result.results:
            config = res.expectation_config
            outcome = self._chunk_outcomes[(config.type, config.kwargs.get("column"))]
            r = res.result or {}
            outcome.evaluated += int(r.get("element_count", len(ids)) or 0)
            bad_idx = [i for i in r.get("unexpected_index_list") or [] if isinstance(i, int) and i < len(ids)]
            bad_ids = [ids[i] for i in bad_idx]
            if not res.success:
                outcome.success = False
                outcome.unexpected += int(r.get("unexpected_count") or len(bad_ids) or 1)
                if "observed_value" in r:
                    outcome.observed = r["observed_value"]
            column = columns.get(outcome.column) if outcome.clears_value else None
            outcome.note_offending(bad_ids, [self._as_held(outcome.column, column[i]) for i in bad_idx]
                                   if column is not None else None)

    def _as_held(self, column: str, value: Any) -> Any:
        """A frame value as the record held it (_gather writes list and JSON fields as JSON text)."""
        ftype = self.obj.field(column).type if column in self.obj.field_names else None
        if ftype in (FieldType.LIST, FieldType.JSON) and isinstance(value, str):
            return json.loads(value)
        return value

    def finish(self) -> SuiteOutcome:
        self._check_pending()
        for exp, outcome in self._row_count_expectations if self.whole_object else ():
            kwargs = exp.get("kwargs", {})
            n = self.outcome.records
            lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
            if exp["type"] == "expect_table_row_count_to_equal":
                ok = n == kwargs.get("value")
            else:
                ok = (lo is None or n >= lo) and (hi is None or n <= hi)
            outcome.evaluated = n
            outcome.observed = n
            outcome.success = ok
            outcome.unexpected = 0 if ok else 1
        self._unique_values.clear()
        if getattr(self, "_datasource_name", None):
            try:
                _gx()[1].data_sources.delete(self._datasource_name)
            except Exception:  # cleanup only: a leftover datasource costs a little memory, nothing else
                pass
            self._datasource_name = None
        return self.outcome


def validate_chunks(canonical: str, chunks: Iterable[list[dict[str, Any]]], suite_json: dict | None = None) -> SuiteOutcome:
    validator = SuiteValidator(canonical, suite_json)
    for chunk in chunks:
        validator.validate_chunk(chunk)
    return validator.finish()


def outcome_markdown(outcome: SuiteOutcome, severity: str) -> str:
    rows = [e for e in outcome.expectations if (e.severity == "critical") == (severity == "critical")]
    if not rows:
        return f"No {severity} expectations for `{outcome.canonical}`."
    lines = ["| expectation | column | result | unexpected | sample ids |", "|---|---|---|---|---|"]
    for e in rows:
        status = "pass" if e.success else "FAIL"
        sample = ", ".join(e.sample_ids[:5])
        lines.append(f"| {e.type} | {e.column or ''} | {status} | {e.unexpected} | {sample} |")
    return "\n".join(lines)
