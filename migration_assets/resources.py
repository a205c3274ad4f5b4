"""Dagster resources. The store URL comes from ``MIGRATION_STORE_URL`` (resolved at run time, so the
definitions load without it); platform secrets are read by each plugin from the environment when it
connects and never pass through run config."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from .store import MigrationStore, check_home


class MigrationStoreResource(dg.ConfigurableResource):
    """The migration store: SQLite under ./.migration by default, PostgreSQL (or any SQLAlchemy URL) when
    ``url`` or ``MIGRATION_STORE_URL`` is set."""

    url: str | None = None
    _store: MigrationStore | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every step starts here: a worker whose migration home is not the run's stops before it writes anything.
        if context.dagster_run is not None:
            check_home(context.dagster_run.tags)

    def get(self) -> MigrationStore:
        if self._store is None:
            self._store = MigrationStore(self.url or None)
        return self._store

