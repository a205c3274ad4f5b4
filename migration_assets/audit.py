"""The source audit of a full extract: the platform's own totals, the shape of the payloads the source read,
and what the source measured about the workspace (``Chunk.platform_total``, ``payloads``/``key_counts``,
``findings``).

``extract_object`` feeds an :class:`ExtractAudit` chunk by chunk and saves it with the cursor, so a resumed
extract goes on counting where the interrupted one stopped. The blocking ``source_audit`` check of every extract
asset reads it back (:func:`evaluate`): ``extracted + rejected`` (distinct source ids) must equal the platform's total, an ERROR
finding blocks, and a declared payload key that never appeared blocks until a person acknowledges the shape
audit (``helpdesk-migrate approve shape-audit``). Shards of a fan-out object are audited each on their own and
added up here.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from . import markdown
from .hookspecs import CheckFinding, Chunk, PayloadKey, SourceObject, SourcePlugin
from .partitions import shard_count, shard_keys
from .store import MigrationStore, approvals, metadata

APPROVAL_KIND = "shape-audit"
WHOLE_OBJECT = ""  # the shard column of an object that is not sharded

# One row per object (per shard of a fan-out object): the audit of its last full extract, or of the one running.
# A new table needs no schema version: metadata.create_all creates it in an existing store.
extract_audits = sa.Table(
    "extract_audits",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("shard", sa.String(32), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("complete", sa.Boolean, nullable=False),  # the extract reached the end of the object
    sa.Column("covers_whole_object", sa.Boolean, nullable=False),  # False: resumed without the earlier part's audit
    sa.Column("payloads", sa.BigInteger, nullable=False),
    sa.Column("key_counts", sa.Text, nullable=False),  # JSON {key path: payloads carrying it}
    sa.Column("extracted", sa.BigInteger, nullable=False),  # distinct ids staged by this extract (once complete)
    sa.Column("rejected", sa.BigInteger, nullable=False),  # records quarantined by this extract
    sa.Column("platform_total", sa.BigInteger),
    sa.Column("total_basis", sa.Text),
    sa.Column("findings", sa.Text, nullable=False),  # JSON list of CheckFinding fields
    sa.Column("cursor", sa.Text),  # JSON of the cursor after the last audited chunk: a resume must start there
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The source ids an extract staged or quarantined, one row per id per chunk that carried it: the audit counts
# them distinct at the end of the extract, in SQL (a ticket emitted twice, because it changed during the extract or
# a resume re-read its chunk, is one record of the platform's total; a Python set would not scale to 1M messages).
extract_audit_ids = sa.Table(
    "extract_audit_ids",
    metadata,
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("object", sa.String(64), nullable=False),
    sa.Column("shard", sa.String(32), nullable=False),
    sa.Column("source_id", sa.String(255), nullable=False),
    sa.Column("rejected", sa.Boolean, nullable=False),
    sa.Index("ix_extract_audit_ids", "source", "object", "shard", "rejected", "source_id"),
)

_ensured: weakref.WeakSet = weakref.WeakSet()  # engines whose database has the table


def _shard_label(shard: str | None) -> str:
    """A shard's audit names its layout ("1/4"): key "1" of 4 shards holds other parents than key "1" of 2."""
    return WHOLE_OBJECT if shard is None else f"{shard}/{shard_count()}"


def _ensure_table(store: MigrationStore) -> None:
    """A store opened before this module was imported has not created the table yet."""
    if store.engine not in _ensured:
        extract_audits.create(store.engine, checkfirst=True)
        extract_audit_ids.create(store.engine, checkfirst=True)
        _ensured.add(store.engine)


# --------------------------------------------------------------------------------------------------
# Accumulating over an extract
# --------------------------------------------------------------------------------------------------


@dataclass
class ExtractAudit:
    payloads: int = 0
    key_counts: Counter[str] = field(default_factory=Counter)
    extracted: int = 0
    rejected: int = 0
    platform_total: int | None = None
    total_basis: str | None = None
    findings: list[CheckFinding] = field(default_factory=list)
    covers_whole_object: bool = True
    # The ids of the chunks added since the last save, written by it (not kept: memory stays flat).
    unsaved_ids: list[tuple[str, bool]] = field(default_factory=list)

    def add(self, chunk: Chunk, *, extracted_ids: list[str], rejected_ids: list[str]) -> None:
        """``extracted`` counts records as they come (progress); the complete audit counts distinct ids."""
        self.payloads += chunk.payloads
        self.key_counts.update(chunk.key_counts)
        self.extracted += len(extracted_ids)
        self.rejected += len(rejected_ids)
        self.unsaved_ids += [(str(i), False) for i in extracted_ids] + [(str(i), True) for i in rejected_ids]
        if chunk.platform_total is not None:  # the last one set wins
            self.platform_total, self.total_basis = chunk.platform_total.count, chunk.platform_total.basis
        self.findings.extend(chunk.findings)


def start(store: MigrationStore, source: str, canonical: str, shard: str | None, *,
          cursor: Mapping[str, Any] | None) -> ExtractAudit:
    """The audit a full extract continues: a fresh one, or on a resumed extract the one saved with its cursor."""
    _ensure_table(store)
    if cursor is None:  # a fresh extract: the ids an earlier one staged are not this one's
        with store.engine.begin() as conn:
            conn.execute(extract_audit_ids.delete().where(*_ids_of(source, canonical, shard)))
        return ExtractAudit()
    row = _rows(store, source, canonical, shard=_shard_label(shard))
    if not row or row[0]["complete"] or row[0]["cursor"] != _dumps_cursor(cursor):
        # The interrupted extract left no audit that ends where the resume starts (none, or a crash between the
        # audit and the cursor): what was read before is not counted, and the check says so.
        return ExtractAudit(covers_whole_object=False)
    r = row[0]
    return ExtractAudit(payloads=r["payloads"], key_counts=Counter(json.loads(r["key_counts"])),
                        extracted=r["extracted"], rejected=r["rejected"], platform_total=r["platform_total"],
                        total_basis=r["total_basis"], findings=[CheckFinding(**f) for f in json.loads(r["findings"])],
                        covers_whole_object=r["covers_whole_object"])


def _dumps_cursor(cursor: Mapping[str, Any] | None) -> str | None:
    return None if cursor is None else json.dumps(cursor, sort_keys=True, default=str)


def _ids_of(source: str, canonical: str, shard: str | None) -> tuple:
    t = extract_audit_ids.c
    return t.source == source, t.object == canonical, t.shard == _shard_label(shard)


def _distinct_counts(conn, source: str, canonical: str, shard: str | None) -> tuple[int, int]:
    """(extracted, rejected) as distinct source ids; an id both staged and rejected (fixed by a later update
    during the extract) counts as extracted only."""
    t = extract_audit_ids
    where = _ids_of(source, canonical, shard)
    good = sa.select(t.c.source_id).where(*where, t.c.rejected.is_(False))
    extracted = conn.execute(sa.select(sa.func.count(sa.distinct(t.c.source_id))).where(
        *where, t.c.rejected.is_(False))).scalar_one()
    rejected = conn.execute(sa.select(sa.func.count(sa.distinct(t.c.source_id))).where(
        *where, t.c.rejected.is_(True), t.c.source_id.not_in(good))).scalar_one()
    return int(extracted), int(rejected)


def save(store: MigrationStore, source: str, canonical: str, shard: str | None, audit: ExtractAudit, *,
         run_id: str, complete: bool, cursor: Mapping[str, Any] | None = None) -> None:
    where = (extract_audits.c.source == source, extract_audits.c.object == canonical,
             extract_audits.c.shard == _shard_label(shard))
    with store.engine.begin() as conn:  # the ids and the counts with the cursor they end at, or neither
        if audit.unsaved_ids:
            conn.execute(extract_audit_ids.insert(), [
                dict(source=source, object=canonical, shard=_shard_label(shard), source_id=i, rejected=r)
                for i, r in audit.unsaved_ids])
            audit.unsaved_ids = []
        if complete:  # counted: the ids are of no further use (1M messages are 1M rows)
            audit.extracted, audit.rejected = _distinct_counts(conn, source, canonical, shard)
            conn.execute(extract_audit_ids.delete().where(*_ids_of(source, canonical, shard)))
        values = dict(run_id=run_id, complete=complete, cursor=_dumps_cursor(cursor),
                      covers_whole_object=audit.covers_whole_object, payloads=audit.payloads,
                      key_counts=json.dumps(dict(audit.key_counts), sort_keys=True),
                      extracted=audit.extracted, rejected=audit.rejected, platform_total=audit.platform_total,
                      total_basis=audit.total_basis,
                      findings=json.dumps([_finding_dict(f) for f in audit.findings], default=str),
                      updated_at=datetime.now(UTC))
        if not conn.execute(extract_audits.update().where(*where).values(**values)).rowcount:
            conn.execute(extract_audits.insert().values(source=source, object=canonical,
                                                        shard=_shard_label(shard), **values))


def _finding_dict(f: CheckFinding) -> dict[str, Any]:
    return {"passed": f.passed, "description": f.description, "severity": f.severity, "metadata": f.metadata}


def _rows(store: MigrationStore, source: str, canonical: str, *, shard: str | None = None) -> list[dict[str, Any]]:
    _ensure_table(store)
    where = [extract_audits.c.source == source, extract_audits.c.object == canonical]
    if shard is not None:
        where.append(extract_audits.c.shard == shard)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(extract_audits).where(*where)
                                              .order_by(extract_audits.c.shard)).mappings()]


# --------------------------------------------------------------------------------------------------
# Reading it back: the object's audit, added up over its shards
# --------------------------------------------------------------------------------------------------


@dataclass
class ObjectAudit:
    canonical: str
    audited: bool  # a full extract was audited (at least one shard)
    complete: bool  # every audited part reached its end and covers the whole object
    parts: int
    payloads: int
    key_counts: dict[str, int]
    extracted: int
    rejected: int
    platform_total: int | None
    total_basis: str | None
    findings: list[CheckFinding]
    declared: tuple[PayloadKey, ...]

    @property
    def never_present(self) -> list[PayloadKey]:
        """Declared keys no payload carried (only meaningful once payloads were read)."""
        if not self.payloads:
            return []
        return [k for k in self.declared if not self.key_counts.get(k.path)]

    @property
    def undeclared(self) -> list[str]:
        declared = {k.path for k in self.declared}
        return sorted(p for p in self.key_counts if p not in declared)

    def totals_row(self) -> dict[str, Any]:
        return {"object": self.canonical, "platform_total": self.platform_total,
                "extracted": self.extracted, "rejected": self.rejected,
                "difference": None if self.platform_total is None
                else self.platform_total - self.extracted - self.rejected,
                "basis": self.total_basis or "the platform reports no total"}

    def shape_rows(self) -> list[dict[str, Any]]:
        """The shape-audit table: every declared key with how often it was present, then undeclared ones."""
        rows = []
        for k in self.declared:
            n = self.key_counts.get(k.path, 0)
            rows.append({"key": k.path, "declared": "required" if k.required else "optional", "present": n,
                         "of": self.payloads, "share": _share(n, self.payloads), "feeds": k.feeds})
        for path in self.undeclared:
            n = self.key_counts[path]
            rows.append({"key": path, "declared": "no", "present": n, "of": self.payloads,
                         "share": _share(n, self.payloads), "feeds": ""})
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {"audited": self.audited, "complete": self.complete, "parts": self.parts, "payloads": self.payloads,
                **{k: v for k, v in self.totals_row().items() if k != "object"},
                "shape": self.shape_rows(), "never_present": [k.path for k in self.never_present],
                "findings": [_finding_dict(f) for f in self.findings]}


def _share(n: int, of: int) -> str:
    return f"{100 * n / of:.0f}%" if of else "n/a"


def declared_keys(plugin: SourcePlugin, canonical: str) -> tuple[PayloadKey, ...]:
    spec: SourceObject | None = next((o for o in plugin.objects() if o.canonical == canonical), None)
    return tuple(spec.payload_keys) if spec else ()


def object_audit(store: MigrationStore, plugin: SourcePlugin, canonical: str) -> ObjectAudit:
    rows = _rows(store, plugin.name, canonical)
    spec = next((o for o in plugin.objects() if o.canonical == canonical), None)
    if spec is not None and spec.fan_out_from:
        # Only the shards of the current layout: audits of another MIGRATION_SHARDS would count parents twice.
        current = {_shard_label(k) for k in shard_keys()}
        rows = [r for r in rows if r["shard"] in current]
    else:
        rows = [r for r in rows if r["shard"] == WHOLE_OBJECT]
    counts: Counter[str] = Counter()
    findings: list[CheckFinding] = []
    for r in rows:
        counts.update(json.loads(r["key_counts"]))
        findings += [CheckFinding(**f) for f in json.loads(r["findings"])]
    # Shards report the total of their own parents: the object's total is their sum, known only when every
    # audited part reported one.
    totals = [r["platform_total"] for r in rows]
    total = sum(totals) if rows and all(t is not None for t in totals) else None
    bases = sorted({r["total_basis"] for r in rows if r["total_basis"]})
    basis = ("; ".join(bases) + (f" (summed over {len(rows)} shards)" if len(rows) > 1 else "")) if bases else None
    return ObjectAudit(
        canonical=canonical, audited=bool(rows),
        complete=bool(rows) and all(r["complete"] and r["covers_whole_object"] for r in rows), parts=len(rows),
        payloads=sum(r["payloads"] for r in rows), key_counts=dict(counts),
        extracted=sum(r["extracted"] for r in rows), rejected=sum(r["rejected"] for r in rows),
        platform_total=total, total_basis=basis, findings=findings, declared=declared_keys(plugin, canonical))


def source_audits(store: MigrationStore, plugin: SourcePlugin) -> dict[str, ObjectAudit]:
    return {o.canonical: object_audit(store, plugin, o.canonical) for o in plugin.objects()}


# --------------------------------------------------------------------------------------------------
# The blocking check and its acknowledgement
# --------------------------------------------------------------------------------------------------


def shape_findings(audits: Mapping[str, ObjectAudit]) -> list[dict[str, str]]:
    """What a person acknowledges: every declared key that never appeared, with what will be missing."""
    return [{"object": name, "key": k.path, "missing_in_destination": k.feeds}
            for name, a in sorted(audits.items()) for k in a.never_present]


def shape_fingerprint(store: MigrationStore, plugin: SourcePlugin) -> str | None:
    """Fingerprint of the source's current shape findings; None when no extract was audited yet."""
    audits = source_audits(store, plugin)
    if not any(a.audited for a in audits.values()):
        return None
    return hashlib.sha256(json.dumps(shape_findings(audits), sort_keys=True).encode()).hexdigest()


def _shape_approval(store: MigrationStore, source: str) -> dict[str, Any] | None:
    """The latest shape-audit decision for the source, whichever pair recorded it: the extract (and its audit)
    is shared by every pair of the source."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(approvals).where(approvals.c.source == source, approvals.c.kind == APPROVAL_KIND)
                           .order_by(approvals.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


@dataclass
class AuditVerdict:
    passed: bool
    problems: list[str]
    notes: list[str]
    audit: ObjectAudit

    @property
    def description(self) -> str:
        return "; ".join(self.problems + self.notes) or "the source audit found nothing to report"


def evaluate(store: MigrationStore, plugin: SourcePlugin, canonical: str) -> AuditVerdict:
    a = object_audit(store, plugin, canonical)
    problems, notes = [], []
    hint = f"helpdesk-migrate approve shape-audit --source {plugin.name} --destination DEST"
    if not a.audited:
        notes.append("n/a: no full extract has been audited yet (a delta extract is not audited)")
    elif not a.complete:
        notes.append("the audit does not cover the whole object (an extract was resumed without the audit of "
                     "its earlier part, or is unfinished): run the extract again from the top (restart: true in its run "
                     "config) to reconcile totals")
    if a.audited and a.complete:
        if a.platform_total is None:
            notes.append("totals: n/a: the platform reports no total")
        elif a.platform_total != a.extracted + a.rejected:
            problems.append(
                f"{plugin.name} reports {a.platform_total} {canonical} ({a.total_basis}) but the extract read "
                f"{a.extracted + a.rejected} ({a.extracted} extracted + {a.rejected} rejected): "
                f"{abs(a.platform_total - a.extracted - a.rejected)} "
                f"{'missing' if a.platform_total > a.extracted + a.rejected else 'more than the platform counts'}. "
                "Records were added or deleted during the extract, or the API's paging skipped or repeated some: "
                "run the extract again from the top (restart: true in its run config), and report it if the numbers "
                "still differ")
        else:
            notes.append(f"totals: {a.platform_total} = {a.extracted} extracted + {a.rejected} rejected "
                         f"({a.total_basis})")
    if a.complete:
        for k in a.declared:
            n = a.key_counts.get(k.path, 0)
            if k.required and 0 < n < a.payloads:
                notes.append(f"required key {k.path} is missing in {a.payloads - n} of {a.payloads} payloads "
                             f"({k.feeds})")
    for f in a.findings:
        if not f.passed and f.severity == "ERROR":
            problems.append(f"source finding: {f.description}")
        elif not f.passed:
            notes.append(f"source finding (warning): {f.description}")
    # A partial audit may have missed a key the unaudited part carried: only a complete one can say "never".
    missing = a.never_present if a.complete else []
    if missing:
        current = shape_fingerprint(store, plugin)
        approval = _shape_approval(store, plugin.name)
        what = "; ".join(f"{k.path} never appeared in {a.payloads} payloads: what it feeds will be missing in the "
                         f"destination ({k.feeds})" for k in missing)
        if approval and current and approval["fingerprint"] == current:
            how = "waived" if approval["decision"] == "waived" else "acknowledged"
            notes.append(f"shape audit {how} by {approval['by'] or 'someone'}: {what}")
        else:
            stale = " (an earlier shape audit was acknowledged, but the findings changed since)" if approval else ""
            problems.append(f"declared payload key(s) never present{stale}: {what}. Check the platform's payloads "
                            f"(helpdesk-migrate probe --source {plugin.name}); if that is how the workspace is, "
                            f"acknowledge it: `{hint}`")
    return AuditVerdict(not problems, problems, notes, a)


def source_verdict(store: MigrationStore, plugin: SourcePlugin) -> tuple[bool, list[str]]:
    """Every object's audit at once, for a load that runs without the extract checks in its run."""
    problems = []
    for o in plugin.objects():
        v = evaluate(store, plugin, o.canonical)
        problems += [f"{o.canonical}: {p}" for p in v.problems]
    return not problems, problems


# --------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------


def shape_markdown(a: ObjectAudit) -> str:
    if not a.audited:
        return "_not audited yet: the shape audit runs on a full extract_"
    head = f"{a.payloads} payloads read"
    if not a.declared:
        head += "; the source declares no payload keys for this object"
    return head + "\n\n" + markdown.table(a.shape_rows(), ["key", "declared", "present", "of", "share", "feeds"])
