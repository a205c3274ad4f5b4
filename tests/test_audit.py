"""The source audit of a full extract: platform totals reconciled, the shape audit with its acknowledgement, the
source's findings, a resumed extract that goes on counting, and the blocking check in a Dagster run."""

from __future__ import annotations

import dagster as dg
import pytest
from click.testing import CliRunner

from migration_assets import audit, cli, registry
from migration_assets.factory import Pair, build_definitions
from migration_assets.gates import approve, loads_allowed
from migration_assets.hookspecs import CheckFinding, Chunk, PayloadKey, PlatformTotal, SourceObject
from migration_assets.lifecycle import _audit_markdown
from migration_assets.partitions import shard_keys
from migration_assets.registry import build_registry, get_plugin_manager
from migration_assets.reporting import build_report, report_markdown
from migration_assets.resources import MigrationStoreResource
from migration_assets.runtime import extract_object
from migration_assets.shapes import tally
from migration_assets.store import MigrationStore
from tests.tiny_pair import (
    TinyDestination,
    TinyOrg,
    TinyPlugin,
    TinySource,
    TinySourceConnection,
    TinyWorkspace,
)

CONTACT_KEYS = (PayloadKey("id", "the record itself", required=True),
                PayloadKey("email", "contacts are matched by email", required=True),
                PayloadKey("avatar_url", "contact pictures are copied"))


class AuditingConnection(TinySourceConnection):
    """The tiny source, reporting what a real source reports: the platform's total, payload key counts
    (of the raw rows it read) and findings."""

    def __init__(self, ws, totals: dict[str, int], findings: list[CheckFinding], extra: dict):
        super().__init__(ws)
        self.totals, self.findings, self.extra = totals, findings, extra

    def extract(self, canonical, *, context, cursor=None, since=None):
        for chunk in super().extract(canonical, context=context, cursor=cursor, since=since):
            # The raw payloads carry keys the canonical records do not (the mapping reads them elsewhere).
            raws = [{**r, **self.extra} for r in getattr(self.ws, canonical)
                    if r["id"] in {x["id"] for x in chunk.records}]
            chunk.payloads, counts = tally(raws)
            chunk.key_counts = dict(counts)
            if canonical in self.totals:
                chunk.platform_total = PlatformTotal(self.totals[canonical], "meta.total of GET /tiny")
            if chunk.cursor is None:
                chunk.findings = list(self.findings)
            yield chunk


class AuditingSource(TinySource):
    def __init__(self, ws=None, totals: dict[str, int] | None = None, findings=()):
        super().__init__(ws)
        self.totals, self.findings = dict(totals or {}), list(findings)
        self.extra: dict = {}

    def objects(self):
        return [SourceObject("agents"), SourceObject("contacts", payload_keys=CONTACT_KEYS),
                SourceObject("conversations", depends_on=("contacts", "agents"))]

    def connect(self, env):
        return AuditingConnection(self.ws, self.totals, self.findings, self.extra)


@pytest.fixture
def store(migration_home, monkeypatch):
    monkeypatch.setenv("TINYSRC_TOKEN", "tiny-secret-token-123")
    migration_home.mkdir(parents=True, exist_ok=True)
    return MigrationStore(f"sqlite:///{migration_home}/store.sqlite")


def extract(store, source, canonical="contacts", **kw):
    return extract_object(store, source, canonical, run_id="r1", **kw)


def with_avatars(source):
    source.extra["avatar_url"] = "https://example.com/a.png"
    return source


def test_totals_reconcile_and_a_difference_names_both_numbers(store):
    source = with_avatars(AuditingSource(totals={"contacts": 5}))
    extract(store, source)
    ok = audit.evaluate(store, source, "contacts")
    assert ok.passed, ok.description
    assert "5 = 5 extracted + 0 rejected" in ok.description

    source.totals['contacts'] = 7  # the platform counts two records the paging never returned
    extract(store, source, restart=True)
    bad = audit.evaluate(store, source, "contacts")
    assert not bad.passed
    assert "reports 7 contacts" in bad.description and "read 5" in bad.description and "2 missing" in bad.description


def test_no_platform_total_passes_as_not_applicable(store):
    source = AuditingSource()
    extract(store, source, "agents")
    verdict = audit.evaluate(store, source, "agents")
    assert verdict.passed and "n/a: the platform reports no total" in verdict.description


def test_rejected_records_count_toward_the_platform_total(store):
    source = AuditingSource(totals={"conversations": 3})  # 2 conversations + the unmappable t3, which the source rejects
    extract(store, source, "conversations")
    verdict = audit.evaluate(store, source, "conversations")
    assert verdict.passed, verdict.description
    assert verdict.audit.extracted == 2 and verdict.audit.rejected == 1


def test_a_declared_key_never_present_blocks_until_acknowledged(store):
    source = AuditingSource()
    pair = Pair(source, TinyDestination())
    extract(store, source)
    verdict = audit.evaluate(store, source, "contacts")
    assert not verdict.passed
    assert "avatar_url never appeared in 5 payloads" in verdict.description
    assert "will be missing in the destination (contact pictures are copied)" in verdict.description
    shape = {r["key"]: r for r in verdict.audit.shape_rows()}
    assert shape["email"]["present"] == 4 and shape["email"]["of"] == 5  # c5 has a phone only
    assert shape["phone"]["declared"] == "no" and shape["phone"]["present"] == 1  # undeclared keys are listed
    assert "required key email is missing in 1 of 5 payloads" in verdict.description  # said, not blocking
    assert any("avatar_url" in p for p in loads_allowed(store, pair).problems)
    assert any("avatar_url" in p for p in audit.source_verdict(store, source)[1])

    ok, message = approve(store, pair.name, "tinysrc", "tinydst", "shape-audit", by="ann", source_plugin=source)
    assert ok, message
    after = audit.evaluate(store, source, "contacts")
    assert after.passed and "acknowledged by ann" in after.description

    # A new finding (another declared key disappears) asks for a new acknowledgement.
    for r in source.ws.contacts:
        r.pop("email", None)
    extract(store, source, restart=True)
    again = audit.evaluate(store, source, "contacts")
    assert not again.passed and "findings changed since" in again.description


def test_error_findings_block_and_warnings_do_not(store):
    source = AuditingSource(totals={"contacts": 5}, findings=[CheckFinding(False, "timestamps are in UTC, the setting says "
                                                                   "Europe/Amsterdam", "ERROR")])
    extract(store, with_avatars(source))
    verdict = audit.evaluate(store, source, "contacts")
    assert not verdict.passed and "source finding: timestamps are in UTC" in verdict.description
    source.findings = [CheckFinding(False, "3 contacts have no name", "WARN")]
    extract(store, source, restart=True)
    verdict = audit.evaluate(store, source, "contacts")
    assert verdict.passed and "warning" in verdict.description


def test_a_resumed_extract_goes_on_counting_where_the_crash_stopped(store):
    ws = TinyWorkspace(fail_after_chunks=1)
    source = with_avatars(AuditingSource(ws, totals={"contacts": 5}))
    with pytest.raises(ConnectionError):
        extract(store, source)
    ws.fail_after_chunks = None
    extract(store, source)  # resumes from the saved cursor
    verdict = audit.evaluate(store, source, "contacts")
    assert verdict.audit.complete and verdict.audit.extracted == 5 and verdict.audit.payloads == 5
    assert "5 = 5 extracted" in verdict.description


def test_a_resume_without_the_earlier_audit_says_it_cannot_reconcile(store):
    ws = TinyWorkspace(fail_after_chunks=1)
    source = AuditingSource(ws, totals={"contacts": 99})
    with pytest.raises(ConnectionError):
        extract(store, source)
    with store.engine.begin() as conn:  # as if the interrupted extract ran before the audit existed
        conn.execute(audit.extract_audits.delete())
    ws.fail_after_chunks = None
    extract(store, source)
    verdict = audit.evaluate(store, source, "contacts")
    assert not verdict.audit.complete
    assert "does not cover the whole object" in verdict.description
    assert not any("reports 99" in p for p in verdict.problems)  # a partial count is not compared


def test_a_delta_extract_keeps_the_last_full_audit(store):
    source = AuditingSource(totals={"contacts": 5})
    extract(store, source)
    extract(store, source, delta=True)
    assert audit.evaluate(store, source, "contacts").audit.extracted == 5


def test_scope_report_shows_platform_totals_shape_and_findings(store):
    source = AuditingSource(totals={"contacts": 6}, findings=[CheckFinding(False, "zone conflict", "ERROR")])
    extract(store, source)
    scope = {"source_audit": {n: a.as_dict() for n, a in audit.source_audits(store, source).items() if a.audited}}
    md = _audit_markdown(scope)
    assert "| contacts | 6 | 5 | 0 | 1 | meta.total of GET /tiny |" in md
    assert "| avatar_url | optional | 0 | 5 | 0% | contact pictures are copied |" in md
    assert "Never present: avatar_url" in md and "zone conflict" in md


def test_the_blocking_check_fails_in_a_dagster_run_and_the_asset_shows_the_shape_table(migration_home, monkeypatch):
    monkeypatch.setenv("TINYSRC_TOKEN", "tiny-secret-token-123")
    source, dst = AuditingSource(totals={"contacts": 9}), TinyDestination(TinyOrg())
    with_avatars(source)
    registry = build_registry(get_plugin_manager([TinyPlugin(source, dst)], load_entry_points=False))
    pair = Pair(registry.source("tinysrc"), registry.destination("tinydst"))
    migration_home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{migration_home}/store.sqlite"
    defs = build_definitions(registry, [pair], store=MigrationStoreResource(url=url))
    result = defs.resolve_job_def("tinysrc_to_tinydst_discover").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    checks = {("/".join(e.event_specific_data.asset_key.path), e.event_specific_data.check_name): e.event_specific_data
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    contacts = checks[("tinysrc/contacts", "source_audit")]
    assert contacts.passed is False and "reports 9 contacts" in contacts.description
    assert contacts.metadata["platform_total"].value == 9
    assert checks[("tinysrc/agents", "source_audit")].passed  # n/a: the tiny agents report no total
    mats = {"/".join(e.asset_key.path): e for e in result.get_asset_materialization_events()}
    shape_md = mats["tinysrc/contacts"].materialization.metadata["shape_audit"].value
    assert "| email | required | 4 | 5 | 80% |" in shape_md


class ShardedConnection(AuditingConnection):
    """Messages read per conversation of the shard; each shard reports the platform's count for its parents."""

    def extract(self, canonical, *, context, cursor=None, since=None):
        if canonical != "messages":
            yield from super().extract(canonical, context=context, cursor=cursor, since=since)
            return
        parents = list(context.staged("conversations"))
        records = [{"id": f"m-{p['id']}", "conversation_id": p["id"], "kind": "inbound",
                    "created_at": "2024-01-02T10:00:00+00:00"} for p in parents]
        payloads, counts = tally([{"id": r["id"], "body": "hi"} for r in records])
        yield Chunk(records, None, payloads=payloads, key_counts=dict(counts),
                    platform_total=PlatformTotal(len(parents) + self.totals.get("extra_messages", 0),
                                                 "message_count of the shard's tickets"))


class ShardedSource(AuditingSource):
    def objects(self):
        return [*super().objects(), SourceObject("messages", depends_on=("conversations",),
                                                 fan_out_from="conversations",
                                                 payload_keys=(PayloadKey("body", "message bodies"),))]

    def connect(self, env):
        return ShardedConnection(self.ws, self.totals, self.findings, self.extra)


def test_a_sharded_object_is_audited_over_every_shard(store, monkeypatch):
    monkeypatch.setenv("MIGRATION_SHARDS", "4")
    source = ShardedSource()
    extract(store, source, "conversations")
    for shard in shard_keys():
        extract(store, source, "messages", shard=shard)
    verdict = audit.evaluate(store, source, "messages")
    assert verdict.audit.parts == 4 and verdict.audit.extracted == 2 and verdict.audit.platform_total == 2
    assert verdict.passed, verdict.description
    assert "summed over 4 shards" in verdict.audit.total_basis
    assert {r["key"]: r["present"] for r in verdict.audit.shape_rows()}["body"] == 2

    source.totals["extra_messages"] = 1  # every shard's tickets count one message more than was read
    for shard in shard_keys():
        extract(store, source, "messages", shard=shard, restart=True)
    verdict = audit.evaluate(store, source, "messages")
    assert not verdict.passed and "reports 6 messages" in verdict.description

    monkeypatch.setenv("MIGRATION_SHARDS", "2")  # another layout: the audits of the old shards do not count
    assert not audit.evaluate(store, source, "messages").audit.audited


def test_cli_approves_the_shape_audit(store, monkeypatch):
    source = AuditingSource()
    reg = registry.build_registry(registry.get_plugin_manager(
        [TinyPlugin(source, TinyDestination(TinyOrg()))], load_entry_points=False))
    monkeypatch.setattr(registry, "_default_registry", reg)
    args = ["--source", "tinysrc", "--destination", "tinydst"]
    runner = CliRunner()
    early = runner.invoke(cli.main, ["approve", "shape-audit", *args])
    assert early.exit_code == 2 and "there is no shape audit" in early.output
    extract(store, source)
    assert not audit.evaluate(store, source, "contacts").passed
    done = runner.invoke(cli.main, ["approve", "shape-audit", *args, "--by", "ann"])
    assert done.exit_code == 0 and "shape audit approved" in done.output
    assert audit.evaluate(store, source, "contacts").passed


def test_the_migration_report_lists_the_shape_audit_decision(store):
    source = AuditingSource()
    pair = Pair(source, TinyDestination())
    assert "shape-audit" not in build_report(store, pair)["decisions"]  # nothing was asked: not listed
    extract(store, source)
    approve(store, pair.name, "tinysrc", "tinydst", "shape-audit", by="ann", source_plugin=source,
            waive_reason="the workspace has no avatars")
    report = build_report(store, pair)
    assert report["decisions"]["shape-audit"]["decision"] == "waived"
    assert "shape-audit: **WAIVED** by ann" in report_markdown(report)
    assert audit.evaluate(store, source, "contacts").passed


class RepeatingConnection(AuditingConnection):
    """Emits the first contact again in the last chunk (it changed while the extract ran, or a resume re-read it)
    and, if told, never returns one contact (the paging skipped it)."""

    def __init__(self, *args, skip: str | None):
        super().__init__(*args)
        self.skip = skip

    def extract(self, canonical, *, context, cursor=None, since=None):
        first = None
        for chunk in super().extract(canonical, context=context, cursor=cursor, since=since):
            chunk.records = [r for r in chunk.records if r["id"] != self.skip]
            first = first or (chunk.records[0] if chunk.records else None)
            if chunk.cursor is None and first is not None:
                chunk.records.append(dict(first))
            yield chunk


class RepeatingSource(AuditingSource):
    skip: str | None = None

    def connect(self, env):
        return RepeatingConnection(self.ws, self.totals, self.findings, self.extra, skip=self.skip)


def test_a_record_emitted_twice_counts_once_toward_the_platform_total(store):
    source = with_avatars(RepeatingSource(totals={"contacts": 5}))
    extract(store, source)
    verdict = audit.evaluate(store, source, "contacts")
    assert verdict.passed, verdict.description  # counting emissions read "1 more than the platform counts"
    assert verdict.audit.extracted == 5 and "5 = 5 extracted" in verdict.description


def test_a_record_emitted_twice_does_not_hide_one_the_paging_skipped(store):
    source = with_avatars(RepeatingSource(totals={"contacts": 5}))
    source.skip = str(TinyWorkspace().contacts[-1]["id"])
    extract(store, source)
    verdict = audit.evaluate(store, source, "contacts")
    assert not verdict.passed  # counting emissions read 5 = 5
    assert "read 4" in verdict.description and "1 missing" in verdict.description


def test_a_fresh_extract_does_not_count_the_ids_of_the_one_before(store):
    source = with_avatars(RepeatingSource(totals={"contacts": 5}))
    extract(store, source)
    source.skip = str(TinyWorkspace().contacts[-1]["id"])
    extract(store, source, restart=True)
    assert audit.evaluate(store, source, "contacts").audit.extracted == 4


def test_the_ids_counted_are_not_kept_once_the_extract_is_complete(store):
    source = with_avatars(RepeatingSource(totals={"contacts": 5}))
    extract(store, source)
    with store.engine.connect() as conn:
        assert conn.execute(audit.extract_audit_ids.select()).first() is None
    assert audit.evaluate(store, source, "contacts").audit.extracted == 5
