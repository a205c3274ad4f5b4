"""The migration store: staged records, cursors and watermarks, the id map with before-images, the
quarantine, and recorded approvals.

SQLAlchemy Core over a SQLite file by default (nothing to install) or any PostgreSQL by URL
(``MIGRATION_STORE_URL``). Assets pass data to each other through these tables in chunks, never as
pickled objects. The schema is created on first use and carries a version in ``store_meta``.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .hookspecs import EVERY_RECORD, Change, ConfigurationError, IdMapEntry, LoadOutcome, Rejected

SCHEMA_VERSION = 3  # 2: staged_records.shard; 3: changes.field/original/kept_in/pending/waits_for, quarantine.caused_by
STORE_URL_ENV = "MIGRATION_STORE_URL"
HOME_ENV = "MIGRATION_HOME"
# pg_advisory_lock key of schema creation/upgrade (any constant bigint; "hm_schema" in ASCII).
SCHEMA_LOCK_KEY = 0x686D5F736368656D
SCHEMA_ATTEMPTS = 10  # SQLite: checks of the schema when other processes create it at the same moment

metadata = sa.MetaData()

store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

staged_records = sa.Table(
    "staged_records",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),  # insertion order, for stable chunked reads
    sa.Column("payload", sa.Text, nullable=False),  # canonical record, JSON
    sa.Column("checksum", sa.String(64), nullable=False),  # sha256 of the payload: change detection for delta
    sa.Column("run_id", sa.String(64), nullable=False),  # run that last changed the record
    sa.Column("extracted_at", sa.DateTime(timezone=True), nullable=False),
    # The shard (partitions.py) a record of a fan-out object was extracted in; NULL for other objects.
    sa.Column("shard", sa.String(16)),
    sa.Index("ix_staged_seq", "source", "object", "seq"),
    sa.Index("ix_staged_run", "source", "object", "run_id"),
    sa.Index("ix_staged_shard", "source", "object", "shard", "seq"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("cursor", sa.Text),  # JSON; NULL when the last extract finished
    sa.Column("watermark", sa.DateTime(timezone=True)),  # start time of the last complete extract
    sa.Column("run_id", sa.String(64)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

id_map = sa.Table(
    "id_map",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("destination", sa.String(64), primary_key=True),
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("destination_object", sa.String(128)),
    sa.Column("destination_id", sa.String(255)),
    sa.Column("action", sa.String(16), nullable=False),  # created | updated | unchanged | linked
    sa.Column("run_id", sa.String(64), nullable=False),  # run that first created/linked it
    sa.Column("last_run_id", sa.String(64), nullable=False),
    sa.Column("checksum", sa.String(64)),  # staged checksum that was loaded: skip unchanged on re-run
    sa.Column("before_image", sa.Text),  # JSON of fields before an update, for rollback
    sa.Column("extra_ids", sa.Text),  # JSON [[object, id], ...] also created for this record
    sa.Column("rolled_back_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_idmap_run", "source", "destination", "run_id"),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("destination", sa.String(64), primary_key=True),  # "" for extract/validate stages
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("stage", sa.String(32), nullable=False),  # extract | validate | load
    sa.Column("kind", sa.String(16), nullable=False),  # quarantined | skipped
    sa.Column("rule", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("fix", sa.Text, nullable=False, default=""),
    sa.Column("raw", sa.Text),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # "<canonical>/<source id>" of the record whose failure this one follows (collateral); NULL: its own fault.
    sa.Column("caused_by", sa.String(512)),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("destination", sa.String(64), primary_key=True),  # "" for changes the source made
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("source_id", sa.String(255), primary_key=True),  # hookspecs.EVERY_RECORD: the whole object
    sa.Column("rule", sa.String(128), primary_key=True),
    sa.Column("stage", sa.String(32), nullable=False),  # extract | load
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Degrade, don't discard (hookspecs.Change): the field whose value could not be written as it was, that value
    # (JSON) and where a person still finds it; pending: the record is re-sent by the next load until a load no
    # longer reports the change.
    sa.Column("field", sa.String(255)),
    sa.Column("original", sa.Text),
    sa.Column("kept_in", sa.Text),
    sa.Column("pending", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("waits_for", sa.String(512)),  # "<canonical>/<source id>" a pending change waits for (Change.waits_for)
    # One-row probes before a load (anything pending? any value validation cleared?) stay index lookups.
    sa.Index("ix_changes_pending", "source", "object", "pending"),
    sa.Index("ix_changes_stage", "source", "object", "stage"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("destination", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # mapping | preflight | sample
    sa.Column("decision", sa.String(16), nullable=False),  # approved | waived
    sa.Column("fingerprint", sa.String(64)),  # what was approved (map/schema hash, report hash)
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("by", sa.String(128), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def _now() -> datetime:
    return datetime.now(UTC)


def default_home() -> Path:
    """Where a migration lives (store, maps, reports, archive): MIGRATION_HOME, else ./.migration. The one
    setting the UI (`helpdesk-migrate dev`), the command line and the runs share."""
    return Path(os.environ.get(HOME_ENV) or Path.cwd() / ".migration")


def home_hint() -> str:
    """For a command a message recommends: the MIGRATION_HOME it must run with when that is not the default,
    so the command acts on this migration and not on another folder's."""
    home = default_home().resolve()
    return "" if home == (Path.cwd() / ".migration").resolve() else f"MIGRATION_HOME={home} "


# A run's migration home, recorded in its tags by the process that starts it (execution.run_job) and checked by every
# step (MigrationStoreResource): files, maps and reports land there, so every worker must see the same home.
HOME_TAG, HOME_ID_TAG = "helpdesk_migrate/home", "helpdesk_migrate/home_id"
HOME_ID_FILE = ".home-id"


def home_tags() -> dict[str, str]:
    """The tags naming this process's migration home: its absolute path and the identity written in it once
    (``.home-id``), so a worker whose home has the same path but is its own disk, not the shared one, is told."""
    home = default_home().resolve()
    home.mkdir(parents=True, exist_ok=True)
    marker = home / HOME_ID_FILE
    try:
        with marker.open("x") as fh:  # exclusive: the first process writes it, every later one reads it
            fh.write(uuid.uuid4().hex)
    except FileExistsError:
        pass
    return {HOME_TAG: str(home), HOME_ID_TAG: marker.read_text().strip()}


def check_home(tags: Mapping[str, str]) -> None:
    """ConfigurationError unless this process's migration home is the run's (``tags`` from home_tags)."""
    path, identity = tags.get(HOME_TAG), tags.get(HOME_ID_TAG)
    if not path:
        return  # a run started without them (a UI launch): nothing to compare with
    mine = default_home().resolve()
    if str(mine) != path:
        raise ConfigurationError(
            f"this worker's migration home is {mine}, the run's is {path}: files, maps and reports must land in "
            f"one place, so set {HOME_ENV}={path} on every worker, a path shared by all of them and the operator")
    marker = mine / HOME_ID_FILE
    found = marker.read_text().strip() if marker.is_file() else None
    if found != identity:
        raise ConfigurationError(
            f"the migration home {mine} on this worker is not the run's: "
            f"{'its ' + HOME_ID_FILE + ' differs' if found else 'it has no ' + HOME_ID_FILE} (a local folder at the "
            f"same path?). Mount the operator's {HOME_ENV} at {path} on every worker")


def reports_dir(pair_name: str) -> Path:
    """Where a pair's reports live (``<home>/reports/<source>_to_<destination>``), made when first asked for."""
    path = default_home() / "reports" / pair_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_store_url() -> str:
    url = os.environ.get(STORE_URL_ENV, "").strip()
    if url:
        return url
    home = default_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'store.sqlite'}"


def record_checksum(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(_dumps(record).encode()).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _redact_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


@dataclass
class StageResult:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0


class MigrationStore:
    def __init__(self, url: str | None = None, *, engine: Engine | None = None):
        self.url = url or default_store_url()
        if engine is None:
            try:
                kwargs: dict[str, Any] = {"future": True}
                if self.url.startswith("sqlite"):
                    # Dagster runs steps in separate processes: wait for the writer lock instead of failing.
                    kwargs["connect_args"] = {"timeout": 60}
                engine = sa.create_engine(self.url, **kwargs)
            except Exception as exc:
                raise ConfigurationError(
                    f"{STORE_URL_ENV} is not a usable SQLAlchemy URL ({_redact_url(self.url)}): {exc}"
                ) from None
        self.engine = engine
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._ensure_schema()

    # -- schema -----------------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        for attempt in range(SCHEMA_ATTEMPTS):
            try:
                with self._schema_lock():
                    self._create_or_upgrade()
                return
            except sa.exc.OperationalError as exc:
                # SQLite: another process made a table or column between this one's check and its CREATE or
                # ALTER; check again (it now exists). PostgreSQL never gets here: the lock serialises the processes.
                race = any(words in str(exc.orig) for words in ("already exists", "duplicate column"))
                if race and attempt + 1 < SCHEMA_ATTEMPTS:
                    continue
                raise ConfigurationError(
                    f"cannot open the migration store at {_redact_url(self.url)} (set {STORE_URL_ENV}): "
                    f"{exc.orig}"
                ) from None

    @contextmanager
    def _schema_lock(self) -> Iterator[None]:
        """One process at a time creates or upgrades the schema. On PostgreSQL, steps on several workers open a
        fresh store at once, and two concurrent CREATE TABLEs of one name fail (UniqueViolation on the catalogue):
        a session-level advisory lock serialises them, and the second finds the tables made. On SQLite a race is
        caught and the schema checked again (_ensure_schema)."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
                conn.commit()

    def _create_or_upgrade(self) -> None:
        self._upgrade_v1()
        self._upgrade_v2()
        metadata.create_all(self.engine, checkfirst=True)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(store_meta.c.value).where(store_meta.c.key == "schema_version")).first()
            if row is None:
                try:
                    conn.execute(store_meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                except sa.exc.IntegrityError:
                    pass  # another process created it at the same moment
            elif int(row.value) < SCHEMA_VERSION:
                conn.execute(store_meta.update().where(store_meta.c.key == "schema_version")
                             .values(value=str(SCHEMA_VERSION)))
            elif int(row.value) > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the migration store was written by a newer version (schema {row.value} > {SCHEMA_VERSION}); "
                    "upgrade helpdesk-migrate"
                )

    def _upgrade_v1(self) -> None:
        """A version-1 store (before shards) gets the shard column; its rows keep NULL until re-staged."""
        inspector = sa.inspect(self.engine)
        if not inspector.has_table("staged_records"):
            return
        if "shard" in {c["name"] for c in inspector.get_columns("staged_records")}:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE staged_records ADD COLUMN shard VARCHAR(16)"))
            conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_staged_shard ON staged_records "
                                 "(source, object, shard, seq)"))

    def _upgrade_v2(self) -> None:
        """A version-2 store gets the degrade columns (changes.field/original/kept_in/pending) and
        quarantine.caused_by. Existing rows read as they meant: no field, not pending, own fault."""
        inspector = sa.inspect(self.engine)
        added = {"changes": ("field", "original", "kept_in", "pending", "waits_for"), "quarantine": ("caused_by",)}
        missing = []
        for table_name, names in added.items():
            if not inspector.has_table(table_name):
                continue  # created whole by create_all
            have = {c["name"] for c in inspector.get_columns(table_name)}
            missing += [metadata.tables[table_name].c[n] for n in names if n not in have]
        if not missing:
            return
        dialect = self.engine.dialect
        with self.engine.begin() as conn:
            for column in missing:
                ddl = f"ALTER TABLE {column.table.name} ADD COLUMN {column.name} {column.type.compile(dialect)}"
                if column.name == "pending":  # the existing rows are settled; FALSE reads on SQLite >= 3.23 and PG
                    ddl += " NOT NULL DEFAULT FALSE"
                conn.execute(sa.text(ddl))
            if any(c.table.name == "changes" and c.name == "pending" for c in missing):
                conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_changes_pending ON changes "
                                     "(source, object, pending)"))
                conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_changes_stage ON changes (source, object, stage)"))

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(store_meta.c.value).where(store_meta.c.key == "schema_version")).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()

    # -- staged records ---------------------------------------------------------------------------

    def stage(self, source: str, obj: str, records: Sequence[Mapping[str, Any]], run_id: str,
              shard: str | None = None) -> StageResult:
        """Upsert canonical records by (source, object, id). Unchanged payloads keep their run id, so a
        delta can tell which records really changed. ``shard``: the shard they were extracted in."""
        result = StageResult()
        if not records:
            return result
        by_id: dict[str, tuple[str, str]] = {}
        for rec in records:
            payload = _dumps(rec)
            by_id[str(rec["id"])] = (payload, hashlib.sha256(payload.encode()).hexdigest())
        now = _now()
        with self.engine.begin() as conn:
            existing = {
                r.source_id: (r.checksum, r.shard)
                for r in conn.execute(
                    sa.select(staged_records.c.source_id, staged_records.c.checksum, staged_records.c.shard).where(
                        staged_records.c.source == source,
                        staged_records.c.object == obj,
                        staged_records.c.source_id.in_(list(by_id)),
                    )
                )
            }
            seq = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(staged_records.c.seq), 0)).where(
                    staged_records.c.source == source, staged_records.c.object == obj
                )
            ).scalar_one()
            inserts = []
            for sid, (payload, checksum) in by_id.items():
                if sid not in existing:
                    seq += 1
                    inserts.append(
                        dict(source=source, object=obj, source_id=sid, seq=seq, payload=payload, checksum=checksum,
                             run_id=run_id, extracted_at=now, shard=shard)
                    )
                    continue
                where = (staged_records.c.source == source, staged_records.c.object == obj,
                         staged_records.c.source_id == sid)
                if existing[sid][0] != checksum:
                    conn.execute(staged_records.update().where(*where).values(
                        payload=payload, checksum=checksum, run_id=run_id, extracted_at=now, shard=shard))
                    result.changed += 1
                else:
                    if existing[sid][1] != shard:  # staged before shards, or under another shard count
                        conn.execute(staged_records.update().where(*where).values(shard=shard))
                    result.unchanged += 1
            if inserts:
                conn.execute(staged_records.insert(), inserts)
            result.inserted = len(inserts)
            # A record that now maps cleanly is no longer an extraction reject.
            conn.execute(quarantine.delete().where(
                quarantine.c.source == source, quarantine.c.object == obj, quarantine.c.stage == "extract",
                quarantine.c.source_id.in_(list(by_id))))
        return result

    def iter_staged(
        self, source: str, obj: str, *, chunk_size: int = 1000, run_id: str | None = None,
        ids: Iterable[str] | None = None, shards: Sequence[str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Staged records in insertion order, a chunk at a time (constant memory); ``shards``: only those
        extracted in these shards."""
        s = staged_records
        last_seq, last_id = 0, ""
        id_filter = list(ids) if ids is not None else None
        while True:
            # Keyset on (seq, id): shards staging one object at once may hand out the same seq.
            q = (
                sa.select(s.c.seq, s.c.source_id, s.c.payload)
                .where(s.c.source == source, s.c.object == obj,
                       sa.or_(s.c.seq > last_seq, sa.and_(s.c.seq == last_seq, s.c.source_id > last_id)))
                .order_by(s.c.seq, s.c.source_id)
                .limit(chunk_size)
            )
            if run_id is not None:
                q = q.where(s.c.run_id == run_id)
            if id_filter is not None:
                q = q.where(s.c.source_id.in_(id_filter))
            if shards is not None:
                q = q.where(s.c.shard.in_(list(shards)))
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            last_seq, last_id = rows[-1].seq, rows[-1].source_id
            yield [json.loads(r.payload) for r in rows]

    def staged_checksums(self, source: str, obj: str, ids: Sequence[str]) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {
                r.source_id: r.checksum
                for r in conn.execute(
                    sa.select(staged_records.c.source_id, staged_records.c.checksum).where(
                        staged_records.c.source == source, staged_records.c.object == obj,
                        staged_records.c.source_id.in_(list(ids)),
                    )
                )
            }

    def staged_ids(self, source: str, obj: str, *, run_id: str | None = None) -> set[str]:
        q = sa.select(staged_records.c.source_id).where(staged_records.c.source == source, staged_records.c.object == obj)
        if run_id is not None:
            q = q.where(staged_records.c.run_id == run_id)
        with self.engine.connect() as conn:
            return {r.source_id for r in conn.execute(q)}

    def staged_ids_changed_since(self, source: str, obj: str, since: datetime | None) -> set[str]:
        """Ids whose staged content was inserted or changed after `since` (every id when it is None)."""
        q = sa.select(staged_records.c.source_id).where(staged_records.c.source == source,
                                                       staged_records.c.object == obj)
        if since is not None:
            if self.engine.dialect.name == "sqlite":
                since = since.astimezone(UTC).replace(tzinfo=None)  # SQLite keeps naive UTC
            q = q.where(staged_records.c.extracted_at > since)
        with self.engine.connect() as conn:
            return {r.source_id for r in conn.execute(q)}

    def count_staged(self, source: str, obj: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(staged_records).where(
                    staged_records.c.source == source, staged_records.c.object == obj
                )
            ).scalar_one()

    # -- cursors and watermarks -------------------------------------------------------------------

    def get_cursor(self, source: str, obj: str) -> tuple[dict[str, Any] | None, datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(cursors.c.cursor, cursors.c.watermark).where(cursors.c.source == source, cursors.c.object == obj)
            ).first()
        if row is None:
            return None, None
        wm = row.watermark
        if wm is not None and wm.tzinfo is None:
            wm = wm.replace(tzinfo=UTC)  # SQLite drops the zone
        return (json.loads(row.cursor) if row.cursor else None), wm

    def set_cursor(self, source: str, obj: str, cursor: Mapping[str, Any] | None, run_id: str,
                   watermark: datetime | None = None) -> None:
        values: dict[str, Any] = dict(cursor=_dumps(cursor) if cursor is not None else None, run_id=run_id,
                                      updated_at=_now())
        if watermark is not None:
            values["watermark"] = watermark
        with self.engine.begin() as conn:
            updated = conn.execute(
                cursors.update().where(cursors.c.source == source, cursors.c.object == obj).values(**values)
            ).rowcount
            if not updated:
                conn.execute(cursors.insert().values(source=source, object=obj, **values))

    # -- id map -----------------------------------------------------------------------------------

    def record_outcomes(self, source: str, destination: str, obj: str, outcomes: Sequence[LoadOutcome], run_id: str,
                        checksums: Mapping[str, str] | None = None, *, stage: str = "load") -> None:
        """Write successes to the id map and failures/skips to the quarantine, in one transaction and a
        handful of statements per chunk (executemany), never one round trip per record."""
        now = _now()
        checksums = checksums or {}
        ok = [o for o in outcomes if o.action in ("created", "updated", "unchanged", "linked")]
        bad = [o for o in outcomes if o.action in ("failed", "skipped")]
        key = (id_map.c.source == source, id_map.c.destination == destination, id_map.c.object == obj)
        with self.engine.begin() as conn:
            if ok:
                ids = [o.source_id for o in ok]
                current = {r.source_id: r for r in conn.execute(sa.select(id_map).where(*key, id_map.c.source_id.in_(ids)))}
                inserts, replaced, updates = [], [], []
                for o in ok:
                    row = current.get(o.source_id)
                    extra = _dumps(o.extra_ids) if o.extra_ids else None
                    if row is None or row.rolled_back_at is not None:
                        if row is not None:
                            replaced.append(o.source_id)
                        inserts.append(dict(
                            source=source, destination=destination, object=obj, source_id=o.source_id,
                            destination_object=o.destination_object, destination_id=o.destination_id,
                            # First sight of a record already in the destination under our external id means
                            # an earlier, interrupted run created it: it is ours, and rollback must delete it.
                            action="created" if o.action == "unchanged" else o.action,
                            run_id=run_id, last_run_id=run_id, checksum=checksums.get(o.source_id),
                            before_image=_dumps(o.before_image) if o.before_image is not None else None,
                            extra_ids=extra, rolled_back_at=None, updated_at=now,
                        ))
                        continue
                    values = dict(b_source_id=o.source_id, last_run_id=run_id, updated_at=now,
                                  checksum=checksums.get(o.source_id, row.checksum),
                                  destination_id=o.destination_id or row.destination_id,
                                  extra_ids=row.extra_ids, action=row.action, run_id=row.run_id,
                                  before_image=row.before_image)
                    if extra:
                        values["extra_ids"] = _dumps(json.loads(row.extra_ids or "[]") + [list(x) for x in o.extra_ids])
                    # A record first created keeps "created" (rollback deletes it). A record that pre-existed
                    # keeps, per field, the value it had before the migration first touched that field: a later
                    # update adds the fields it changes for the first time, never overwrites an older image.
                    if o.action == "updated" and row.action in ("linked", "unchanged"):
                        values["action"], values["run_id"] = "updated", run_id
                    if o.action == "updated" and row.action != "created" and o.before_image is not None:
                        older = json.loads(row.before_image) if row.before_image else {}
                        values["before_image"] = _dumps({**o.before_image, **older})
                    updates.append(values)
                if replaced:
                    conn.execute(id_map.delete().where(*key, id_map.c.source_id.in_(replaced)))
                if inserts:
                    conn.execute(id_map.insert(), inserts)
                if updates:
                    conn.execute(
                        id_map.update().where(*key, id_map.c.source_id == sa.bindparam("b_source_id")).values(
                            {c: sa.bindparam(c) for c in ("last_run_id", "updated_at", "checksum", "destination_id",
                                                          "extra_ids", "action", "run_id", "before_image")}),
                        updates)
                # What the destination changed on the way is replaced by what this load reports.
                self._replace_changes(conn, source, destination, obj, ids, {o.source_id: o.changes for o in ok},
                                      stage=stage, run_id=run_id, now=now)
                # A record that loads now is no longer quarantined at the load stage.
                conn.execute(quarantine.delete().where(
                    quarantine.c.source == source, quarantine.c.destination == destination,
                    quarantine.c.object == obj, quarantine.c.source_id.in_(ids)))
            if bad:
                self._quarantine_many(conn, source, destination, obj, [
                    dict(source_id=o.source_id, stage=stage, kind="skipped" if o.action == "skipped" else "quarantined",
                         rule=(o.rule or o.action)[:255], reason=o.reason or "no reason given by the destination",
                         fix=o.fix or "", raw=None, caused_by=_caused_by(o.caused_by)) for o in bad], run_id, now)

    def id_map_entries(self, source: str, destination: str, obj: str | None = None, *, run_id: str | None = None,
                       include_rolled_back: bool = False) -> list[dict[str, Any]]:
        q = sa.select(id_map).where(id_map.c.source == source, id_map.c.destination == destination)
        if obj is not None:
            q = q.where(id_map.c.object == obj)
        if run_id is not None:
            q = q.where(id_map.c.run_id == run_id)
        if not include_rolled_back:
            q = q.where(id_map.c.rolled_back_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(id_map.c.object, id_map.c.source_id)).mappings().all()
        out = []
        for r in rows:
            d = dict(r)
            d["before_image"] = json.loads(d["before_image"]) if d["before_image"] else None
            d["extra_ids"] = json.loads(d["extra_ids"]) if d["extra_ids"] else []
            out.append(d)
        return out

    def lookup(self, source: str, destination: str, obj: str, source_ids: Sequence[str]) -> dict[str, str]:
        if not source_ids:
            return {}
        with self.engine.connect() as conn:
            return {
                r.source_id: r.destination_id
                for r in conn.execute(
                    sa.select(id_map.c.source_id, id_map.c.destination_id).where(
                        id_map.c.source == source, id_map.c.destination == destination, id_map.c.object == obj,
                        id_map.c.source_id.in_(list(set(source_ids))), id_map.c.rolled_back_at.is_(None),
                        id_map.c.destination_id.is_not(None),
                    )
                )
            }

    def previous(self, source: str, destination: str, obj: str, source_ids: Sequence[str]) -> dict[str, IdMapEntry]:
        if not source_ids:
            return {}
        with self.engine.connect() as conn:
            return {
                r.source_id: IdMapEntry(r.source_id, r.destination_id, r.destination_object, r.action, r.run_id)
                for r in conn.execute(
                    sa.select(id_map).where(
                        id_map.c.source == source, id_map.c.destination == destination, id_map.c.object == obj,
                        id_map.c.source_id.in_(list(set(source_ids))), id_map.c.rolled_back_at.is_(None),
                    )
                )
            }

    def loaded_checksums(self, source: str, destination: str, obj: str, source_ids: Sequence[str]) -> dict[str, str]:
        if not source_ids:
            return {}
        with self.engine.connect() as conn:
            return {
                r.source_id: r.checksum
                for r in conn.execute(
                    sa.select(id_map.c.source_id, id_map.c.checksum).where(
                        id_map.c.source == source, id_map.c.destination == destination, id_map.c.object == obj,
                        id_map.c.source_id.in_(list(source_ids)), id_map.c.rolled_back_at.is_(None),
                    )
                )
                if r.checksum
            }

    def mark_rolled_back(self, source: str, destination: str, obj: str, source_ids: Sequence[str]) -> None:
        if not source_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(id_map.update().where(
                id_map.c.source == source, id_map.c.destination == destination, id_map.c.object == obj,
                id_map.c.source_id.in_(list(source_ids))).values(rolled_back_at=_now(), updated_at=_now()))

    def count_loaded(self, source: str, destination: str, obj: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(id_map).where(
                    id_map.c.source == source, id_map.c.destination == destination, id_map.c.object == obj,
                    id_map.c.rolled_back_at.is_(None),
                )
            ).scalar_one()

    # -- quarantine -------------------------------------------------------------------------------

    def _quarantine_many(self, conn, source: str, destination: str, obj: str, rows: list[dict[str, Any]],
                         run_id: str, now: datetime) -> None:
        ids = [r["source_id"] for r in rows]
        conn.execute(quarantine.delete().where(quarantine.c.source == source, quarantine.c.destination == destination,
                                               quarantine.c.object == obj, quarantine.c.source_id.in_(ids)))
        conn.execute(quarantine.insert(), [dict(source=source, destination=destination, object=obj, run_id=run_id,
                                                created_at=now, **r) for r in {r["source_id"]: r for r in rows}.values()])

    def quarantine_records(self, source: str, obj: str, rejected: Sequence[Rejected], *, stage: str, run_id: str,
                           destination: str = "") -> None:
        if not rejected:
            return
        with self.engine.begin() as conn:
            self._quarantine_many(conn, source, destination, obj, [
                dict(source_id=str(r.source_id), stage=stage, kind="quarantined", rule=r.rule[:255], reason=r.reason,
                     fix=r.fix or "", raw=None if r.raw is None else _dumps(r.raw)[:20000],
                     caused_by=_caused_by(r.caused_by)) for r in rejected],
                run_id, _now())

    def release_quarantine(self, source: str, obj: str, *, stage: str, keep_ids: Iterable[str] = (),
                           destination: str = "", shards: Sequence[str] | None = None) -> None:
        """Forget quarantine entries of a stage that a fresh validation no longer reports (of the records
        staged in ``shards`` only, when given)."""
        keep = list(keep_ids)
        with self.engine.begin() as conn:
            q = quarantine.delete().where(quarantine.c.source == source, quarantine.c.destination == destination,
                                          quarantine.c.object == obj, quarantine.c.stage == stage)
            if keep:
                q = q.where(quarantine.c.source_id.not_in(keep))
            if shards is not None:
                q = q.where(quarantine.c.source_id.in_(sa.select(staged_records.c.source_id).where(
                    staged_records.c.source == source, staged_records.c.object == obj,
                    staged_records.c.shard.in_(list(shards)))))
            conn.execute(q)

    def quarantined_ids(self, source: str, obj: str, destination: str = "", *, stage: str | None = None) -> set[str]:
        q = sa.select(quarantine.c.source_id).where(quarantine.c.source == source, quarantine.c.object == obj,
                                                    quarantine.c.destination.in_(["", destination]))
        if stage is not None:
            q = q.where(quarantine.c.stage == stage)
        with self.engine.connect() as conn:
            return {r.source_id for r in conn.execute(q)}

    def quarantine_entries(self, source: str, destination: str = "", obj: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(quarantine).where(quarantine.c.source == source, quarantine.c.destination.in_(["", destination]))
        if obj is not None:
            q = q.where(quarantine.c.object == obj)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q.order_by(quarantine.c.object, quarantine.c.source_id)).mappings()]

    def quarantine_counts(self, source: str, destination: str, obj: str) -> dict[str, int]:
        """Distinct source ids quarantined or skipped, at any stage, for this pair and object."""
        q = (
            sa.select(quarantine.c.kind, sa.func.count(sa.distinct(quarantine.c.source_id)))
            .where(quarantine.c.source == source, quarantine.c.destination.in_(["", destination]),
                   quarantine.c.object == obj)
            .group_by(quarantine.c.kind)
        )
        with self.engine.connect() as conn:
            counts = {k: n for k, n in conn.execute(q)}
        return {"quarantined": counts.get("quarantined", 0), "skipped": counts.get("skipped", 0)}

    # -- changes made on the way ------------------------------------------------------------------

    def record_changes(self, source: str, obj: str, changed: Mapping[str, Sequence[Change]], *, ids: Sequence[str],
                       stage: str, run_id: str, destination: str = "") -> None:
        """Replace the changes recorded for ``ids`` with ``changed`` (a record mapped cleanly this time loses
        its old entries). EVERY_RECORD entries are upserted per rule. The source's own entries (destination "")
        are replaced per stage: a re-extract does not touch what validation recorded, and the other way round."""
        if not ids and not changed:
            return
        with self.engine.begin() as conn:
            self._replace_changes(conn, source, destination, obj, [str(i) for i in ids], changed, stage=stage,
                                  run_id=run_id, now=_now(), same_stage_only=destination == "")

    def _replace_changes(self, conn, source: str, destination: str, obj: str, ids: Sequence[str],
                         changed: Mapping[str, Sequence[Change]], *, stage: str, run_id: str, now: datetime,
                         same_stage_only: bool = False) -> None:
        key = (changes.c.source == source, changes.c.destination == destination, changes.c.object == obj) + \
            ((changes.c.stage == stage,) if same_stage_only else ())
        for start in range(0, len(ids), 500):  # bounded IN lists
            conn.execute(changes.delete().where(*key, changes.c.source_id.in_(ids[start:start + 500])))
        rows = {(str(sid), c.rule[:128]): _change_row(source, destination, obj, str(sid), c, stage, run_id, now)
                for sid, cs in changed.items() for c in cs}
        everywhere = [rule for sid, rule in rows if sid == EVERY_RECORD]
        if everywhere:
            conn.execute(changes.delete().where(*key, changes.c.source_id == EVERY_RECORD,
                                                changes.c.rule.in_(everywhere)))
        if rows:
            conn.execute(changes.insert(), list(rows.values()))

    def replace_stage_changes(self, source: str, obj: str, changed: Mapping[str, Sequence[Change]], *, stage: str,
                              run_id: str, shards: Sequence[str] | None = None) -> None:
        """The source-side changes of a stage that looks at every staged record (validate): all of the stage's
        earlier entries (of the records staged in ``shards``, when given) are replaced by ``changed``, so a value
        fixed at the source loses its entry. One delete and one insert, whatever the object's size."""
        now = _now()
        with self.engine.begin() as conn:
            q = changes.delete().where(changes.c.source == source, changes.c.destination == "",
                                       changes.c.object == obj, changes.c.stage == stage)
            if shards is not None:
                q = q.where(changes.c.source_id.in_(sa.select(staged_records.c.source_id).where(
                    staged_records.c.source == source, staged_records.c.object == obj,
                    staged_records.c.shard.in_(list(shards)))))
            conn.execute(q)
            rows = {(str(sid), c.rule[:128]): _change_row(source, "", obj, str(sid), c, stage, run_id, now)
                    for sid, cs in changed.items() for c in cs}
            if rows:
                conn.execute(changes.insert(), list(rows.values()))

    def cleared_values(self, source: str, obj: str, ids: Sequence[str], *, stage: str = "validate"
                       ) -> dict[str, dict[str, str]]:
        """source id -> {field: rule} of the values a stage decided the destination must not get (a value-level
        expectation with on_failure clear_value): the load hands the record over without them."""
        if not ids:
            return {}
        c = changes
        out: dict[str, dict[str, str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                for r in conn.execute(sa.select(c.c.source_id, c.c.field, c.c.rule).where(
                        c.c.source == source, c.c.destination == "", c.c.object == obj, c.c.stage == stage,
                        c.c.field.is_not(None), c.c.source_id.in_(list(ids[start:start + 500])))):
                    out.setdefault(r.source_id, {})[r.field] = r.rule
        return out

    def has_pending(self, source: str, destination: str, obj: str) -> bool:
        """Whether any record of the object waits to be re-sent (a pending change, the source's or this
        destination's): one indexed probe, so a load without any pays nothing per chunk."""
        q = sa.select(changes.c.source_id).where(changes.c.source == source, changes.c.object == obj,
                                                 changes.c.pending.is_(True),
                                                 changes.c.destination.in_(["", destination])).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def pending_ids(self, source: str, destination: str, obj: str, ids: Sequence[str]) -> set[str]:
        """Of ``ids``, those with a pending change that can be completed now: the next load re-sends them although
        their content did not change, until a load no longer reports the change. A change that waits for another
        record (``waits_for``) counts only once that record is loaded in this destination: a Case whose contact
        stays quarantined is not re-sent on every run."""
        if not ids:
            return set()
        c = changes
        waiting: dict[str, list[str | None]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                for sid, waits_for in conn.execute(sa.select(c.c.source_id, c.c.waits_for).where(
                        c.c.source == source, c.c.object == obj, c.c.destination.in_(["", destination]),
                        c.c.pending.is_(True), c.c.source_id.in_(list(ids[start:start + 500])))):
                    waiting.setdefault(sid, []).append(waits_for)
        blockers: dict[str, set[str]] = {}
        for targets in waiting.values():
            for target in targets:
                if target and "/" in target:
                    canonical, _, target_id = target.partition("/")
                    blockers.setdefault(canonical, set()).add(target_id)
        loaded = {f"{canonical}/{sid}" for canonical, target_ids in blockers.items()
                  for sid in self.lookup(source, destination, canonical, sorted(target_ids))}
        return {sid for sid, targets in waiting.items() if any(t is None or t in loaded for t in targets)}

    def has_changes(self, source: str, obj: str, destination: str = "", *, stage: str | None = None) -> bool:
        q = sa.select(changes.c.source_id).where(changes.c.source == source, changes.c.destination == destination,
                                                 changes.c.object == obj).limit(1)
        if stage is not None:
            q = q.where(changes.c.stage == stage)
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def change_entries(self, source: str, destination: str, obj: str | None = None) -> list[dict[str, Any]]:
        """The changes behind records this pair loaded (and has not rolled back): the source's own (made while
        mapping) and the destination's. Object-wide entries (EVERY_RECORD) come first in each object.
        With destination "": every change the source made, loaded anywhere or not."""
        c, m = changes, id_map
        q = sa.select(c.c.object, c.c.source_id, c.c.stage, c.c.rule, c.c.detail, c.c.field, c.c.original,
                      c.c.kept_in, c.c.pending, c.c.waits_for).where(
            c.c.source == source, c.c.destination.in_(["", destination]))
        if destination:
            loaded = sa.exists().where(m.c.source == c.c.source, m.c.destination == destination,
                                       m.c.object == c.c.object, m.c.source_id == c.c.source_id,
                                       m.c.rolled_back_at.is_(None))
            q = q.where(sa.or_(c.c.source_id == EVERY_RECORD, loaded))
        if obj is not None:
            q = q.where(c.c.object == obj)
        q = q.order_by(c.c.object, (c.c.source_id != EVERY_RECORD), c.c.source_id, c.c.rule)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        for r in rows:
            r["original"] = None if r["original"] is None else json.loads(r["original"])
            r["pending"] = bool(r["pending"])
        return rows

    def merged_records(self, source: str, destination: str) -> list[dict[str, Any]]:
        """Source records that landed in one destination record together (e.g. two contacts with one email,
        matched to one Contact): each with the source ids it shares that record with."""
        m = id_map
        live = (m.c.source == source, m.c.destination == destination, m.c.rolled_back_at.is_(None),
                m.c.destination_id.is_not(None))
        shared = (sa.select(m.c.object, m.c.destination_id).where(*live)
                  .group_by(m.c.object, m.c.destination_id).having(sa.func.count() > 1).subquery())
        q = (sa.select(m.c.object, m.c.source_id, m.c.destination_object, m.c.destination_id)
             .join(shared, sa.and_(shared.c.object == m.c.object, shared.c.destination_id == m.c.destination_id))
             .where(*live).order_by(m.c.object, m.c.destination_id, m.c.source_id))
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        groups: dict[tuple[str, str], list[str]] = {}
        for r in rows:
            groups.setdefault((r["object"], r["destination_id"]), []).append(r["source_id"])
        return [{**r, "with": [s for s in groups[(r["object"], r["destination_id"])] if s != r["source_id"]]}
                for r in rows]

    # -- approvals --------------------------------------------------------------------------------

    def record_approval(self, source: str, destination: str, kind: str, *, decision: str = "approved",
                        fingerprint: str | None = None, note: str = "", by: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(approvals.insert().values(source=source, destination=destination, kind=kind,
                                                   decision=decision, fingerprint=fingerprint, note=note, by=by,
                                                   created_at=_now()))

    def latest_approval(self, source: str, destination: str, kind: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(approvals).where(approvals.c.source == source, approvals.c.destination == destination,
                                           approvals.c.kind == kind).order_by(approvals.c.id.desc()).limit(1)
            ).mappings().first()
        return dict(row) if row else None


def _caused_by(value: str | None) -> str | None:
    return None if not value else str(value)[:512]


def _change_row(source: str, destination: str, obj: str, source_id: str, change: Change, stage: str, run_id: str,
                now: datetime) -> dict[str, Any]:
    return dict(source=source, destination=destination, object=obj, source_id=source_id, rule=change.rule[:128],
                stage=stage, detail=change.detail, run_id=run_id, created_at=now,
                field=None if change.field is None else str(change.field)[:255],
                original=None if change.original is None else _dumps(change.original)[:20000],
                kept_in=change.kept_in, pending=bool(change.pending),
                waits_for=str(change.waits_for)[:512] if change.pending and change.waits_for else None)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
