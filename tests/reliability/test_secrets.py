"""R5: secrets never leave the environment. The demo runs (discover, sample, full, report, for both pairs)
with recognisable fake credentials, plus runs with wrong ones to provoke authentication errors; then every
place a secret could leak is scanned: the Dagster event log of every run (events, run config, tags), the
Dagster instance's files (compute logs, run and event storage), every file under MIGRATION_HOME (reports,
maps, archive, store, rate-limit state), every row of the store's tables, the CLI's output, and Python
logging. There must be no occurrence, verbatim or URL-encoded."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value

from migration_assets.store import MigrationStore
from tests.e2e_support import Migration, start_migration, stop_migration
from tests.reliability.corpus_support import cli

pytestmark = pytest.mark.slow

SECRETS = {
    "TRENGO_API_TOKEN": "trengo-FAKESECRET-7f3a9c11d2e4",
    "TIDIO_CLIENT_SECRET": "cs_FAKESECRET_b81e44a09f3c",
    "SALESFORCE_SESSION_ID": "00D5g000FAKESECRET!AQ4c9d2e1f7a",
}
WRONG = {  # also secrets: what a user typed by mistake must not leak either
    "TRENGO_API_TOKEN": "trengo-WRONGSECRET-0a1b2c3d",
    "TIDIO_CLIENT_SECRET": "cs_WRONGSECRET_9e8d7c6b",
    "SALESFORCE_SESSION_ID": "00D5g000WRONGSECRET!AQ0f1e2d",
}
ALL_SECRETS = [*SECRETS.values(), *WRONG.values()]


class _Capture(logging.Handler):
    """Every Python log record of the test's process, formatted with its arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + (record.exc_text or ""))


def _needles() -> list[str]:
    out = []
    for s in ALL_SECRETS:
        out += [s, quote(s, safe=""), s.split("!")[0] if "!" in s else s]
    return sorted(set(out))


def _accept_fake_credentials(m: Migration, monkeypatch) -> None:
    """Point the product at the fake credentials and make the emulators accept them. The Trengo emulator
    takes its token as an option (source_options); the Tidio and Salesforce emulators have no such option,
    so their accepted credential is set on the running emulator."""
    dst = m.destination_emulator
    if m.pair.destination.name == "tidio":
        dst.client_secret = SECRETS["TIDIO_CLIENT_SECRET"]
        monkeypatch.setenv("TIDIO_CLIENT_SECRET", SECRETS["TIDIO_CLIENT_SECRET"])
    else:
        dst.sessions[SECRETS["SALESFORCE_SESSION_ID"]] = dst.admin_id
        monkeypatch.setenv("SALESFORCE_SESSION_ID", SECRETS["SALESFORCE_SESSION_ID"])
    assert __import__("os").environ["TRENGO_API_TOKEN"] == SECRETS["TRENGO_API_TOKEN"]


def _scan_text(where: str, text: str, found: list[str]) -> None:
    for needle in _needles():
        if needle in text:
            at = text.index(needle)
            found.append(f"{where}: ...{text[max(0, at - 80):at + len(needle) + 20]!r}")


def _scan_tree(root: Path, found: list[str]) -> int:
    files = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        files += 1
        data = path.read_bytes()
        for needle in _needles():
            if needle.encode() in data:
                found.append(f"{path}: contains {needle!r}")
    return files


def _scan_dagster(m: Migration, found: list[str]) -> int:
    events = 0
    for run in m.instance.get_runs():
        _scan_text(f"run {run.run_id} config/tags", serialize_value(run), found)
        for entry in m.instance.all_logs(run.run_id):
            events += 1
            _scan_text(f"run {run.job_name} event {entry.dagster_event_type}", serialize_value(entry), found)
    return events


def _scan_store(found: list[str]) -> int:
    store = MigrationStore()
    rows = 0
    try:
        with store.engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    rows += 1
                    _scan_text(f"store table {table}", repr(tuple(row)), found)
    finally:
        store.dispose()
    return rows


@pytest.mark.parametrize("destination", ["salesforce", "tidio"])
def test_no_secret_reaches_logs_reports_store_metadata_or_errors(destination, tmp_path, monkeypatch):
    logged = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(logged)
    root.setLevel(logging.DEBUG)
    monkeypatch.setenv("MIGRATION_EXECUTOR", "in_process")
    m = start_migration(destination, tmp_path, monkeypatch, size=12,
                        source_options={"token": SECRETS["TRENGO_API_TOKEN"]})
    outputs: list[tuple[str, str]] = []
    try:
        _accept_fake_credentials(m, monkeypatch)
        # The demo's flow, recorded in the Dagster instance.
        m.run("discover")
        m.approve("mapping")
        m.approve("preflight")
        m.run("sample", sample_size=5)
        m.approve("sample")
        m.run("full")
        for args in (["report", "--json"], ["report"], ["plugins"]):
            extra = ["--source", "trengo", "--destination", destination] if args[0] == "report" else []
            res = cli(*args, *extra)
            outputs.append((f"helpdesk-migrate {' '.join(args)}", res.stdout + res.stderr))
        # Wrong credentials, one side at a time: the errors must name the variable, never the value. Through
        # the command line (its own process, with Dagster's whole event stream on the console).
        for var in ("TRENGO_API_TOKEN", "TIDIO_CLIENT_SECRET" if destination == "tidio" else "SALESFORCE_SESSION_ID"):
            res = cli("run", "--source", "trengo", "--destination", destination, "--job", "discover",
                      env={var: WRONG[var], "HELPDESK_MIGRATE_LOG_LEVEL": "DEBUG"})
            text = res.stdout + res.stderr
            outputs.append((f"run with a wrong {var}", text))
            assert res.returncode != 0, text[-2000:]
            assert var in text, f"the auth error should name {var}: {text[-2000:]}"
        outputs += [(f"in-process run output {k}", line) for k, line in enumerate(m.output)]
        control: list[str] = []
        _scan_text("control", f"x {quote(SECRETS['SALESFORCE_SESSION_ID'], safe='')} y", control)
        assert control, "the scan must see a URL-encoded secret"
        found: list[str] = []
        for where, text in outputs:
            _scan_text(where, text, found)
        _scan_text("python logging", "\n".join(logged.lines), found)
        events = _scan_dagster(m, found)
        dagster_files = _scan_tree(Path(m.instance.root_directory), found)
        home_files = _scan_tree(m.home, found)
        rows = _scan_store(found)
        assert events > 100 and dagster_files > 5 and home_files > 10 and rows > 100, (events, dagster_files,
                                                                                         home_files, rows)
        assert not found, "secrets found:\n" + "\n".join(found[:40])
    finally:
        root.removeHandler(logged)
        root.setLevel(level)
        stop_migration(m)
