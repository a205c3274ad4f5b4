"""Every validation of an object kept, per run, so each expectation has a history.

The checks show a run's verdict; this keeps what was behind it: each expectation's counts, observed value and
sample ids, as JSON and as a readable report, under ``<home>/validations/<source>/<object>/``. The check links
to the run's files, its per-expectation numbers are metadata the UI plots run after run, and
``helpdesk-migrate audit --source S --object O`` prints the history across runs from these files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .quality import ExpectationOutcome, SuiteOutcome, outcome_markdown
from .store import default_home


def expectation_name(e: ExpectationOutcome) -> str:
    """Stable across runs, so the UI plots one line per expectation: its type and column."""
    return f"{e.type}({e.column})" if e.column else e.type


def history_dir(source: str, canonical: str) -> Path:
    return default_home() / "validations" / source / canonical


def keep(source: str, canonical: str, run_id: str, outcome: SuiteOutcome) -> Path:
    """Write this run's validation of the object (JSON and markdown); the JSON's path is returned."""
    folder = history_dir(source, canonical)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"source": source, "object": canonical, "run_id": run_id,
              "validated_at": datetime.now(UTC).isoformat(timespec="seconds"), "records": outcome.records,
              "success": not outcome.failed("critical"),
              "expectations": [{"name": expectation_name(e), **e.as_metadata(), "description": e.description,
                                "fix": e.fix} for e in outcome.expectations]}
    path = folder / f"{run_id}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str))
    (folder / f"{run_id}.md").write_text(
        f"# Validation of {source}/{canonical}, run {run_id}\n\n{record['records']} records, "
        f"{record['validated_at']}\n\n## Critical\n\n{outcome_markdown(outcome, 'critical')}\n\n"
        f"## Quality\n\n{outcome_markdown(outcome, 'warning')}\n")
    return path


def history(source: str, canonical: str) -> list[dict[str, Any]]:
    """The kept validations of an object, oldest first."""
    folder = history_dir(source, canonical)
    if not folder.is_dir():
        return []
    runs = []
    for path in folder.glob("*.json"):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # a file being written, or not ours
    return sorted(runs, key=lambda r: r.get("validated_at") or "")


def history_rows(runs: list[dict[str, Any]], severity: str = "critical") -> list[dict[str, Any]]:
    """One row per run: when, records, and each expectation's unexpected count (a failure marked with !)."""
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": str(run.get("run_id", ""))[:8], "validated at": run.get("validated_at"),
                               "records": run.get("records")}
        for e in run.get("expectations", []):
            if (e.get("severity") == "critical") != (severity == "critical"):
                continue
            count = e.get("unexpected_count", 0)
            row[e["name"]] = f"{count}{'' if e.get('success', True) else ' !'}"
        rows.append(row)
    return rows
