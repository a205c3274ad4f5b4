from __future__ import annotations

from collections.abc import Iterable

import pytest

from helpdesk_migrate.plugins.tidio.emulator.server import TidioEmulator
from helpdesk_migrate.plugins.tidio.plugin import TidioDestination
from migration_assets.runtime import load_object
from migration_assets.store import MigrationStore

from .dirty_workspace import EXISTING, SOURCE, workspace

ORDER = ["agents", "teams", "tags", "custom_fields", "contacts", "conversations", "messages", "attachments",
         "articles", "quick_replies", "contact_groups", "workflows", "channels"]


class Harness:
    """One emulated Tidio project, a migration store with the dirty workspace staged, and the plugin."""

    def __init__(self, tmp_path, monkeypatch):
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.plugin = TidioDestination()
        self.emulators: list[TidioEmulator] = []
        self.data = workspace()
        self.store = MigrationStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
        for canonical, records in self.data.items():
            self.store.stage(SOURCE, canonical, records, "extract-1")
        self.emu: TidioEmulator | None = None

    def start(self, existing=EXISTING, **options) -> TidioEmulator:
        options.setdefault("rate_limit", 600_000)
        options.setdefault("tags", ["Solved", "spam"])
        emu = TidioEmulator(seed=3, size=options.pop("size", 6), existing=existing, **options)
        self.emulators.append(emu)
        self.emu = emu
        for key, value in emu.env().items():
            self.monkeypatch.setenv(key, value)
        self.monkeypatch.setenv("TIDIO_RETRY_BACKOFF_SECONDS", "0")
        return emu

    def setenv(self, **values: str) -> None:
        for key, value in values.items():
            self.monkeypatch.setenv(key, value)

    def load(self, objects: Iterable[str] = ORDER, run_id: str = "run-1"):
        return {c: load_object(self.store, SOURCE, self.plugin, c, run_id=run_id) for c in objects}

    def quarantine(self, canonical: str) -> dict[str, dict]:
        return {q["source_id"]: q for q in self.store.quarantine_entries(SOURCE, self.plugin.name, canonical)}

    def ids(self, canonical: str) -> dict[str, str]:
        return {e["source_id"]: e["destination_id"] for e in self.store.id_map_entries(SOURCE, self.plugin.name,
                                                                                     canonical)}

    def entries(self, canonical: str) -> dict[str, dict]:
        return {e["source_id"]: e for e in self.store.id_map_entries(SOURCE, self.plugin.name, canonical)}

    def ticket(self, source_id: str) -> dict:
        return next(t for t in self.emu.dump()["tickets"] if str(t["id"]) == self.ids("conversations")[source_id])


@pytest.fixture
def harness(tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATION_HOME", str(tmp_path / "home"))
    for key in ("TIDIO_FALLBACK_OPERATOR_ID", "TIDIO_FALLBACK_DEPARTMENT", "TIDIO_DROP_MISSING_TAGS",
                "TIDIO_HISTORY_MODE", "TIDIO_PHONE_ONLY_POLICY", "TIDIO_PROPERTY_MAP", "MIGRATION_RATE_LIMIT_URL"):
        monkeypatch.delenv(key, raising=False)
    h = Harness(tmp_path, monkeypatch)
    yield h
    for emu in h.emulators:
        emu.stop()
    h.store.dispose()
