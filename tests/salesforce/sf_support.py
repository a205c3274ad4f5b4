"""Drive the Salesforce destination as the engine does: canonical records staged in a real store, loaded
through ``conn.load`` with an EngineLoadContext, outcomes written to the id map."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from helpdesk_migrate.plugins.salesforce.plugin import SalesforceDestination
from migration_assets.conformance import synthetic_canonical
from migration_assets.hookspecs import PAIR_SOURCE_ENV
from migration_assets.runtime import EngineLoadContext
from migration_assets.store import MigrationStore

SOURCE = "trengo"
FAST_ENV = {"SALESFORCE_BULK_POLL_SECONDS": "0.01", "SALESFORCE_LOCK_RETRIES": "3"}


def workspace(conversations: int = 6) -> dict[str, list[dict[str, Any]]]:
    return copy.deepcopy(synthetic_canonical(7, conversations))


class Harness:
    def __init__(self, db: Path, emu: Any, env: dict[str, str]):
        self.emu = emu
        self.plugin = SalesforceDestination()
        self.env = {**emu.env(), **FAST_ENV, PAIR_SOURCE_ENV: SOURCE, **env}
        self.store = MigrationStore(f"sqlite:///{db}")
        self.conn = self.plugin.connect(self.env)
        self.run = 0

    def context(self, run_id: str | None = None, options: dict[str, Any] | None = None) -> EngineLoadContext:
        return EngineLoadContext(self.store, SOURCE, self.plugin.name, run_id or f"run-{self.run}",
                                 options=options or {})

    def load(self, canonical: str, records: list[dict[str, Any]], *, stage: bool = True,
             options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Stage and load (with the engine's load options, e.g. a confirmed field map); returns
        {source_id: LoadOutcome} after recording them like the engine."""
        self.run += 1
        if stage:
            self.store.stage(SOURCE, canonical, records, f"run-{self.run}")
        ctx = self.context(options=options)
        outcomes = self.conn.load(canonical, records, context=ctx)
        assert len(outcomes) == len(records), "exactly one outcome per record"
        self.store.record_outcomes(SOURCE, self.plugin.name, canonical, outcomes, ctx.run_id)
        return {o.source_id: o for o in outcomes}

    def load_all(self, data: dict[str, list[dict[str, Any]]], order: list[str] | None = None) -> dict[str, dict]:
        order = order or ["agents", "teams", "channels", "tags", "contacts", "conversations", "messages",
                          "attachments", "articles"]
        return {c: self.load(c, data[c]) for c in order if c in data}

    def reconnect(self, **env: str) -> None:
        self.conn.close()
        self.env.update(env)
        self.conn = self.plugin.connect(self.env)

    def close(self) -> None:
        self.conn.close()
        self.store.dispose()


class LoginRedirect(HTTPAdapter):
    """Test-only: send https://login.salesforce.com/... (or a My Domain) to the local emulator."""

    def __init__(self, emu: Any):
        super().__init__()
        self.base = emu.url

    def send(self, request, **kw):
        path = request.url.split("/", 3)[3]
        request.url = f"{self.base}/{path}"
        return super().send(request, **kw)


def login_session(emu: Any, *hosts: str) -> requests.Session:
    session = requests.Session()
    for host in hosts or ("login.salesforce.com", "test.salesforce.com"):
        session.mount(f"https://{host}/", LoginRedirect(emu))
    return session
