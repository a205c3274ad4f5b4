"""Lifecycle assets per pair around the loads: discovery (scope report), the sample migration with its
side-by-side spot-check, the go-ahead gate before the full run, inventories of what does not migrate as
data, the reconciliation report, and the source archive."""

import csv
import gzip
import hashlib
import io
import json
import os
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from . import markdown, planner
from .asset_metadata import row_count, stage_metadata
from .audit import source_audits
from .gates import loads_allowed, reports_dir, sample_verdict, waiting_for
from .hookspecs import AssessesScope, FetchesRecords, RecommendsEquivalents
from .pairs import (
    Pair,
    archive_key,
    extract_key,
    field_map_key,
    go_ahead_key,
    inventory_key,
    load_key,
    preflight_key,
    report_key,
    sample_key,
    scope_key,
)
from .resources import MigrationStoreResource, PlatformConnectionsResource
from .runtime import connect_destination, load_object, reconcile
from .store import MigrationStore, default_home


def _all(store: MigrationStore, source: str, canonical: str):
    for chunk in store.iter_staged(source, canonical):
        yield from chunk


# --------------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------------


def build_scope(store: MigrationStore, pair: Pair) -> dict[str, Any]:
    src = pair.source.name
    provided = [o.canonical for o in pair.source.objects()]
    # Extracted as the run's report counts it (staged, plus the records refused at extraction), so the scope and
    # the reconciliation report agree; objects the destination does not load count what is staged.
    loadable = set(pair.loadable())
    counts = {c: reconcile(store, src, pair.destination.name, c).extracted if c in loadable
              else store.count_staged(src, c) for c in provided}
    by_channel: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    tag_usage: Counter[str] = Counter()
    unassigned: Counter[str] = Counter()
    if "conversations" in provided:
        for r in _all(store, src, "conversations"):
            by_channel[r.get("channel_type") or "unknown"] += 1
            by_status[r.get("status") or "unknown"] += 1
            if not r.get("assignee_id"):
                unassigned[r.get("status") or "unknown"] += 1
            for t in r.get("tags") or []:
                tag_usage[t] += 1
    messages_by_kind: Counter[str] = Counter()
    per_conversation: Counter[str] = Counter()
    if "messages" in provided:
        for r in _all(store, src, "messages"):
            messages_by_kind[r.get("kind") or "unknown"] += 1
            per_conversation[str(r.get("conversation_id"))] += 1
    # {messages in a thread: conversations}: what a destination's request estimate needs beyond the totals.
    thread_lengths = Counter(per_conversation.values())
    if "conversations" in provided:
        thread_lengths[0] += max(0, counts.get("conversations", 0) - len(per_conversation))
    contact_notes = {"contacts_with_notes": 0, "notes": 0}
    if "contacts" in provided:
        for r in _all(store, src, "contacts"):
            notes = r.get("notes") or []
            if notes:
                contact_notes["contacts_with_notes"] += 1
                contact_notes["notes"] += len(notes)
    custom_fields = [{"name": r.get("name"), "key": r.get("key"), "entity": r.get("entity"),
                      "type": r.get("data_type")} for r in _all(store, src, "custom_fields")] \
        if "custom_fields" in provided else []
    articles = list(_all(store, src, "articles")) if "articles" in provided else []
    help_center = {
        "articles": len({a.get("article_id") for a in articles}),
        "translations": len(articles),
        "locales": sorted({a.get("locale") for a in articles if a.get("locale")}),
        "category_depth": max((len(a.get("category_path") or []) for a in articles), default=0),
        "categories": len({tuple(a.get("category_path") or []) for a in articles}),
    }
    workflows = [r for r in _all(store, src, "workflows")] if "workflows" in provided else []
    scope: dict[str, Any] = {
        "source": src, "destination": pair.destination.name, "counts": counts,
        "conversations_by_channel": dict(by_channel.most_common()),
        "conversations_by_status": dict(by_status.most_common()),
        "conversations_unassigned_by_status": dict(unassigned.most_common()),
        "messages_by_kind": dict(messages_by_kind.most_common()),
        "thread_lengths": {n: c for n, c in sorted(thread_lengths.items()) if c},
        "contact_notes": contact_notes,
        "custom_fields": custom_fields, "help_center": help_center,
        "active_workflows": [{"name": w.get("name"), "kind": w.get("kind"), "trigger": w.get("trigger")}
                             for w in workflows if w.get("is_active", True)],
        "tag_usage": dict(tag_usage.most_common(50)),
        # The platform's own numbers beside ours, the payload keys seen, what the source measured (audit.py).
        "source_audit": {name: a.as_dict() for name, a in source_audits(store, pair.source).items() if a.audited},
    }
    conn = connect_destination(pair.destination, source=pair.source.name)
    try:
        scope["destination_features"] = list(conn.assess(scope)) if isinstance(conn, AssessesScope) else []
    finally:
        conn.close()
    # How long the full run takes on the current plans, what limits it, what a higher plan changes.
    scope["throughput_plan"] = planner.plan_pair(store, pair, scope, os.environ).as_dict()
    missing = [f for f in scope["destination_features"] if f.get("needed") and not f.get("available")]
    scope["recommendation"] = (
        "The destination has every feature this workspace needs." if not missing else
        "Before the production run, enable or license: " + "; ".join(
            f"{f['feature']} ({f.get('note', '')})" for f in missing))
    return scope


def scope_markdown(scope: dict[str, Any]) -> str:
    parts = [f"# Scope: {scope['source']} -> {scope['destination']}", "", "## Records per object", "",
             markdown.table([{"object": k, "records": v} for k, v in scope["counts"].items()]), "",
             "## Conversations per channel", "",
             markdown.table([{"channel": k, "conversations": v} for k, v in scope["conversations_by_channel"].items()]),
             "", "## Conversations per status", "",
             markdown.table([{"status": k, "conversations": v} for k, v in scope["conversations_by_status"].items()]),
             "", "## Messages per kind", "",
             markdown.table([{"kind": k, "messages": v} for k, v in scope["messages_by_kind"].items()]),
             "", "## Custom fields", "", markdown.table(scope["custom_fields"]),
             "", "## Help center", "", markdown.table([scope["help_center"]]),
             "", "## Active workflows", "", markdown.table(scope["active_workflows"]),
             "", "## Tag usage", "", markdown.table([{"tag": k, "conversations": v} for k, v in scope["tag_usage"].items()]),
             "", _audit_markdown(scope),
             "", planner.plan_markdown(scope["throughput_plan"]) if scope.get("throughput_plan") else "",
             "", "## Destination features", "", markdown.table(scope["destination_features"]),
             "", "## Recommendation", "", markdown.text(scope["recommendation"]), ""]
    return "\n".join(parts)


def _audit_markdown(scope: dict[str, Any]) -> str:
    """Platform totals beside the extracted counts, the shape audit and the source's findings."""
    audits = scope.get("source_audit") or {}
    totals = [{"object": k, **{c: a[c] for c in ("platform_total", "extracted", "rejected", "difference", "basis")}}
              for k, a in audits.items()]
    parts = ["## Platform totals", "", markdown.table(totals), "", "## Shape audit", ""]
    for name, a in audits.items():
        if a["shape"]:
            parts += [f"### {markdown.text(name)} ({a['payloads']} payloads)", "",
                      markdown.table(a["shape"], ["key", "declared", "present", "of", "share", "feeds"]), ""]
            parts += [f"Never present: {markdown.text(', '.join(a['never_present']))}", ""] if a["never_present"] else []
    findings = [{"object": k, "severity": f["severity"], "passed": f["passed"], "finding": f["description"]}
                for k, a in audits.items() for f in a["findings"]]
    return "\n".join(parts + ["## Source findings", "", markdown.table(findings)])


def _scope_asset(pair: Pair) -> dg.AssetsDefinition:
    @dg.asset(key=scope_key(pair), deps=[extract_key(pair.source.name, o.canonical) for o in pair.source.objects()],
              group_name=f"{pair.name}_discover", kinds={"markdown"}, tags={"helpdesk_migrate/stage": "discover"},
              metadata=stage_metadata("scope"),
              description="Discovery: counts per object, channel and status; custom fields; help-center size and "
                          "depth; active workflows and tag usage; the throughput plan (requests per phase, expected "
                          "duration, bottleneck, higher plans); the destination features the data needs, with a "
                          "recommendation. Also written to .migration/reports/<pair>/scope.md.")
    def _scope(context: dg.AssetExecutionContext, store: MigrationStoreResource,
            connections: PlatformConnectionsResource):
        scope = build_scope(store.get(), pair)
        md = scope_markdown(scope)
        out = reports_dir(pair.name)
        (out / "scope.md").write_text(md)
        (out / "scope.json").write_text(json.dumps(scope, indent=2, ensure_ascii=False, default=str))
        plan = scope["throughput_plan"]
        return dg.MaterializeResult(metadata={"report": dg.MetadataValue.md(md), "path": dg.MetadataValue.path(str(out / "scope.md")),
                                              "expected_duration_seconds": plan["seconds"],
                                              "bottleneck": plan["bottleneck"] or "n/a: no requests measured",
                                              **row_count(len(scope["counts"])),
                                              **{f"count_{k}": v for k, v in scope["counts"].items()}})

    return _scope


# --------------------------------------------------------------------------------------------------
# Sample migration and spot-check
# --------------------------------------------------------------------------------------------------


class SampleConfig(dg.Config):
    """size: number of random conversations (25-50 is the usual spot-check); seed makes the draw repeatable."""

    size: int = 30
    seed: int = 20240101


def sample_graph(store: MigrationStore, pair: Pair, size: int, seed: int) -> dict[str, list[str]]:
    src = pair.source.name
    excluded = store.quarantined_ids(src, "conversations")
    ids = sorted(store.staged_ids(src, "conversations") - excluded)
    chosen = sorted(random.Random(seed).sample(ids, min(size, len(ids))))
    chosen_set = set(chosen)
    graph: dict[str, set[str]] = {"conversations": set(chosen)}
    convs = [r for chunk in store.iter_staged(src, "conversations", ids=chosen) for r in chunk]
    for c in convs:
        for fld, obj in (("contact_id", "contacts"), ("assignee_id", "agents"), ("team_id", "teams"),
                         ("channel_id", "channels")):
            if c.get(fld):
                graph.setdefault(obj, set()).add(str(c[fld]))
    for m in _all(store, src, "messages"):
        if m.get("conversation_id") in chosen_set:
            graph.setdefault("messages", set()).add(str(m["id"]))
            if m.get("author_type") == "agent" and m.get("author_id"):
                graph.setdefault("agents", set()).add(str(m["author_id"]))
    for a in _all(store, src, "attachments"):
        if a.get("conversation_id") in chosen_set:
            graph.setdefault("attachments", set()).add(str(a["id"]))
    # Teams carry their members; small reference objects go in whole.
    for obj in ("tags", "custom_fields"):
        graph.setdefault(obj, set()).update(store.staged_ids(src, obj))
    return {k: sorted(v) for k, v in graph.items()}


def run_sample(store: MigrationStore, pair: Pair, *, size: int, seed: int, run_id: str, logger: Any) -> dict[str, Any]:
    src, dst = pair.source.name, pair.destination.name
    from .mapping import read_map

    graph = sample_graph(store, pair, size, seed)
    options = {"field_map": (read_map(pair.name) or {}).get("objects", {})}
    conn = connect_destination(pair.destination, source=pair.source.name)
    try:
        for canonical in pair.loadable():
            ids = graph.get(canonical)
            if ids:
                load_object(store, src, pair.destination, canonical, run_id=run_id, connection=conn, logger=logger,
                            only_ids=ids, options=options)
        conversations = [r for chunk in store.iter_staged(src, "conversations", ids=graph["conversations"]) for r in chunk]
        messages_by_conv: dict[str, list[dict[str, Any]]] = {}
        for chunk in store.iter_staged(src, "messages", ids=graph.get("messages", [])):
            for m in chunk:
                messages_by_conv.setdefault(m["conversation_id"], []).append(m)
        attachments_by_conv: dict[str, list[dict[str, Any]]] = {}
        for chunk in store.iter_staged(src, "attachments", ids=graph.get("attachments", [])):
            for a in chunk:
                attachments_by_conv.setdefault(a.get("conversation_id"), []).append(a)
        conv_ids = store.lookup(src, dst, "conversations", graph["conversations"])
        msg_ids = store.lookup(src, dst, "messages", graph.get("messages", []))
        fetches = isinstance(conn, FetchesRecords)
        dest_convs = conn.fetch("conversations", list(conv_ids.values())) if fetches and conv_ids else {}
        dest_msgs = conn.fetch("messages", list(msg_ids.values())) if fetches and msg_ids else {}
    finally:
        conn.close()
    quarantine = {(q["object"], q["source_id"]): q for q in store.quarantine_entries(src, dst)}
    cases = []
    for c in conversations:
        thread = sorted(messages_by_conv.get(c["id"], []), key=lambda m: (m.get("created_at") or "", m.get("sequence") or 0))
        cases.append({
            "source": {k: c.get(k) for k in ("id", "subject", "status", "created_at", "closed_at", "contact_id",
                                             "assignee_id", "team_id", "channel_type", "tags")},
            "destination_id": conv_ids.get(c["id"]),
            "destination": dest_convs.get(conv_ids.get(c["id"]), {}),
            "quarantine": (quarantine.get(("conversations", c["id"])) or {}).get("reason"),
            "thread": [{"id": m["id"], "kind": m.get("kind"), "created_at": m.get("created_at"),
                        "author": f"{m.get('author_type')}:{m.get('author_name') or m.get('author_id') or ''}",
                        "destination_id": msg_ids.get(m["id"]),
                        "destination": dest_msgs.get(msg_ids.get(m["id"]), {}),
                        "quarantine": (quarantine.get(("messages", m["id"])) or {}).get("reason")} for m in thread],
            "attachments": [{"id": a["id"], "file_name": a.get("file_name"), "size_bytes": a.get("size_bytes"),
                             "sha256": a.get("sha256")} for a in attachments_by_conv.get(c["id"], [])],
        })
    report = {"pair": pair.name, "size": len(cases), "seed": seed, "graph": {k: len(v) for k, v in graph.items()},
              "conversations": cases}
    report["fingerprint"] = hashlib.sha256(json.dumps(cases, sort_keys=True, default=str).encode()).hexdigest()
    return report


def sample_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Sample spot-check: {report['pair']}", "",
             f"{report['size']} random conversations (seed {report['seed']}) with their full graph: "
             + ", ".join(f"{v} {k}" for k, v in report["graph"].items()), "",
             "Check each conversation side by side: fields, thread order, timestamps, authors, attachments. "
             "Then sign off: `helpdesk-migrate approve sample ...` (or `--waive REASON`).", ""]
    for case in report["conversations"]:
        s = case["source"]
        lines += [f"## Conversation {markdown.text(s['id'])} -> {markdown.text(case['destination_id'] or 'NOT LOADED')}", ""]
        if case["quarantine"]:
            lines += [f"Quarantined: {markdown.text(case['quarantine'])}", ""]
        dest = case["destination"]
        lines.append(markdown.table([{"field": k, "source": v, "destination": _dest_value(dest, k)} for k, v in s.items()]))
        lines += ["", "Thread (oldest first):", "", markdown.table(
            [{"#": i + 1, "kind": m["kind"], "created_at": m["created_at"], "author": m["author"],
              "destination_id": m["destination_id"] or ("quarantined: " + m["quarantine"] if m["quarantine"] else ""),
              "destination": _summary(m["destination"])} for i, m in enumerate(case["thread"])]), ""]
        if case["attachments"]:
            lines += ["Attachments:", "", markdown.table(case["attachments"]), ""]
    return "\n".join(lines)


def _dest_value(dest: dict[str, Any], key: str) -> Any:
    mapping = dest.get("_canonical") or {}
    return mapping.get(key, "")


def _summary(dest: dict[str, Any]) -> str:
    if not dest:
        return ""
    return ", ".join(f"{k}={v}" for k, v in list((dest.get("_canonical") or dest).items())[:4])


def _sample_asset(pair: Pair) -> dg.AssetsDefinition:
    @dg.asset(key=sample_key(pair), group_name=f"{pair.name}_gates", kinds={pair.destination.name, "sample"},
              deps=[extract_key(pair.source.name, o.canonical) for o in pair.source.objects()]
              + [preflight_key(pair), field_map_key(pair)],
              tags={"helpdesk_migrate/stage": "sample"}, output_required=False, metadata=stage_metadata("sample"),
              check_specs=[dg.AssetCheckSpec("may_load", asset=sample_key(pair), blocking=False,
                                             description="The sample loads only once the field map is confirmed "
                                                         "and the pre-flight acknowledged.")],
              description="Sample migration: N random conversations with their full graph (contact, owner, messages, "
                          "notes, attachments), then a side-by-side spot-check report to sign off before the full run.")
    def _sample(context: dg.AssetExecutionContext, config: SampleConfig, store: MigrationStoreResource,
            connections: PlatformConnectionsResource):
        if not 1 <= config.size <= 1000:
            raise dg.Failure(f"size must be between 1 and 1000 conversations, got {config.size}")
        waiting = waiting_for(store.get(), pair, "sample")
        yield dg.AssetCheckResult(check_name="may_load", passed=not waiting, severity=dg.AssetCheckSeverity.WARN,
                                  description="; ".join(waiting) or "the field map is confirmed and the pre-flight "
                                                                    "acknowledged")
        if waiting:
            context.log.warning("the sample waits for: " + "; ".join(waiting))
            return
        report = run_sample(store.get(), pair, size=config.size, seed=config.seed, run_id=context.run_id,
                            logger=context.log)
        md = sample_markdown(report)
        out = reports_dir(pair.name)
        (out / "sample.md").write_text(md)
        (out / "sample.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        yield dg.MaterializeResult(metadata={"conversations": report["size"], "fingerprint": report["fingerprint"],
                                              **row_count(report["size"]),
                                              "path": dg.MetadataValue.path(str(out / "sample.md")),
                                              "report": dg.MetadataValue.md(md[:60000])})

    return _sample


def _go_ahead_asset(pair: Pair) -> dg.AssetsDefinition:
    key = go_ahead_key(pair)
    checks = [
        dg.AssetCheckSpec("every_gate_passed", asset=key, blocking=False,
                          description="The field map is confirmed, the pre-flight acknowledged, the sample signed off "
                                      "and the source audit clean: otherwise the loads wait, and this says for what."),
    ]

    @dg.asset(key=key, group_name=f"{pair.name}_gates", kinds={"gate"}, tags={"helpdesk_migrate/stage": "gate"},
              deps=[field_map_key(pair), preflight_key(pair)], check_specs=checks, output_required=False,
              metadata=stage_metadata("go_ahead"),
              description="The go-ahead for the loads, the one gate they wait for: materialized only when every "
                          "decision is made. While one is awaited it is not materialized, the loads are skipped and "
                          "the run succeeds, its checks saying what to do.")
    def _go_ahead(context: dg.AssetExecutionContext, store: MigrationStoreResource):
        st = store.get()
        passed, message = sample_verdict(st, pair)
        verdict = loads_allowed(st, pair)
        yield dg.AssetCheckResult(check_name="every_gate_passed", passed=verdict.passed, description=verdict.message,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"waiting_for": dg.MetadataValue.json(verdict.problems)})
        if not verdict.passed:
            context.log.warning("the loads wait for: " + "; ".join(verdict.problems))
            return
        decided = [{"decision": kind, "by": a.get("by") or "", "at": a.get("created_at"), "as": a.get("decision")}
                   for kind in ("mapping", "preflight", "sample")
                   if (a := st.latest_approval(pair.source.name, pair.destination.name, kind))]
        yield dg.MaterializeResult(metadata={"verdict": verdict.message, "sample": message, **row_count(len(decided)),
                                             "decisions": dg.MetadataValue.md(markdown.table(decided))})

    return _go_ahead


# --------------------------------------------------------------------------------------------------
# Inventories, reconciliation report, archive
# --------------------------------------------------------------------------------------------------


def build_inventories(store: MigrationStore, pair: Pair) -> dict[str, Any]:
    src = pair.source.name
    provided = {o.canonical for o in pair.source.objects()}
    loadable = set(pair.loadable())
    out = reports_dir(pair.name) / "inventories"
    out.mkdir(exist_ok=True)

    def rows(canonical):
        return list(_all(store, src, canonical)) if canonical in provided else []

    conn = connect_destination(pair.destination, source=pair.source.name)
    try:
        recommends = isinstance(conn, RecommendsEquivalents)
        workflows = [{**w, "recommended_equivalent": conn.recommend(w) if recommends else
                      "rebuild by hand in the destination's automation tool"} for w in rows("workflows")]
    finally:
        conn.close()
    routing = {"channels": rows("channels"), "teams": rows("teams")}
    (out / "workflows.json").write_text(json.dumps(workflows, indent=2, ensure_ascii=False))
    (out / "channel_routing.json").write_text(json.dumps(routing, indent=2, ensure_ascii=False))
    reports = rows("reports")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["id", "metric", "value", "period_start", "period_end", "dimensions"])
    writer.writeheader()
    for r in reports:
        writer.writerow({**{k: r.get(k) for k in writer.fieldnames}, "dimensions": json.dumps(r.get("dimensions") or {})})
    (out / "reports.csv").write_text(buf.getvalue())
    def not_loaded(canonical: str) -> bool:
        # Listed for the admin unless the destination actually holds them (declared AND loaded).
        return canonical not in loadable or reconcile(store, src, pair.destination.name, canonical).loaded == 0

    manual = {
        "quick_replies": rows("quick_replies"),
        "contact_groups": rows("contact_groups"),
        "help_center": rows("articles") if not_loaded("articles") else [],
        "custom_field_definitions": rows("custom_fields") if not_loaded("custom_fields") else [],
    }
    (out / "manual_configuration.json").write_text(json.dumps(manual, indent=2, ensure_ascii=False))
    md = [f"# Inventories: {pair.source.title} -> {pair.destination.title}", "",
          "What does not migrate as data, for the destination's admin to rebuild.", "",
          f"## Automation workflows ({len(workflows)})", "",
          markdown.table(workflows, ["name", "kind", "trigger", "is_active", "recommended_equivalent"]), "",
          f"## Channel routing ({len(routing['channels'])} channels, {len(routing['teams'])} teams)", "",
          markdown.table(routing["channels"], ["id", "name", "type", "address", "is_active"]), "",
          "Full configuration: `inventories/channel_routing.json`.", "",
          f"## Reports and stats ({len(reports)} rows)", "", "Reference dataset: `inventories/reports.csv`.", ""]
    for name, items in manual.items():
        if items:
            md += [f"## {name.replace('_', ' ').capitalize()} ({len(items)})", "", markdown.table(items), ""]
    md += ["## Help-center widget notes", "",
           "Widget placements and article-to-portal associations are configuration, not data: rebuild them in the "
           "destination's portal builder using `inventories/manual_configuration.json`.", ""]
    text = "\n".join(md)
    (out / "inventories.md").write_text(text)
    return {"markdown": text, "path": out, "counts": {"workflows": len(workflows), "channels": len(routing["channels"]),
                                                       "reports": len(reports),
                                                       **{k: len(v) for k, v in manual.items()}}}


def _inventory_asset(pair: Pair) -> dg.AssetsDefinition:
    @dg.asset(key=inventory_key(pair), group_name=f"{pair.name}_discover", kinds={"markdown", "json"},
              deps=[extract_key(pair.source.name, o.canonical) for o in pair.source.objects()],
              tags={"helpdesk_migrate/stage": "inventory"}, metadata=stage_metadata("inventory"),
              description="Inventories of what does not migrate as data: workflows with the recommended destination "
                          "equivalent, channel routing (JSON), reports (CSV), quick replies, contact groups, "
                          "help-center notes.")
    def _inventories(context: dg.AssetExecutionContext, store: MigrationStoreResource,
            connections: PlatformConnectionsResource):
        inv = build_inventories(store.get(), pair)
        return dg.MaterializeResult(metadata={"report": dg.MetadataValue.md(inv["markdown"][:60000]),
                                              "path": dg.MetadataValue.path(str(inv["path"])), **inv["counts"],
                                              **row_count(sum(inv["counts"].values()))})

    return _inventories


QUARANTINED_TAG, PENDING_TAG = "helpdesk_migrate/quarantined", "helpdesk_migrate/pending_changes"


def _report_asset(pair: Pair) -> dg.AssetsDefinition:
    key = report_key(pair)

    @dg.asset(key=key, group_name=f"{pair.name}_report", kinds={"markdown"},
              deps=[load_key(pair, c) for c in pair.loadable()],
              tags={"helpdesk_migrate/stage": "reconcile"}, metadata=stage_metadata("report"),
              check_specs=[dg.AssetCheckSpec(
                  "nothing_quarantined", asset=key, blocking=False,
                  description="A warning when the run left records in the quarantine: the run is not clean, even "
                              "though every step succeeded. The report lists each with its rule and fix.")],
              description="Reconciliation report per phase: extracted, loaded, quarantined with reasons (own fault "
                          "and collateral apart), skipped, the records loaded with changes (pending ones marked), "
                          "and the destination's own count; the decisions and any waiver.")
    def _report(context: dg.AssetExecutionContext, store: MigrationStoreResource,
            connections: PlatformConnectionsResource):
        from .reporting import report_markdown, write_report

        st = store.get()
        report, path = write_report(st, pair)
        timing = _run_against_plan(context, pair)
        # The destination's own count: each load of this run read it right after loading (a count can cost a
        # request per ticket on a destination with a small budget), so it is read again only for an object this
        # run did not load.
        dest_counts = _counts_read_by_loads(context, pair)
        missing = [c for c in pair.loadable() if c not in dest_counts]
        conn = connect_destination(pair.destination, source=pair.source.name) if missing else None
        try:
            for c in missing:
                try:
                    dest_counts[c] = conn.count(c)
                except Exception as exc:
                    context.log.warning("destination count of %s unavailable: %s", c, exc)
        finally:
            if conn is not None:
                conn.close()
        quarantined = len(report["quarantine"])
        collateral = sum(o["collateral"] for o in report["objects"].values())
        pending = sum(1 for c in report["changed"] if c.get("pending"))
        # On the run itself too: the runs list shows (and filters by) them without opening the run.
        context.instance.add_run_tags(context.run_id, {QUARANTINED_TAG: str(quarantined), PENDING_TAG: str(pending)})
        by_object = {obj: c["quarantined"] for obj, c in report["objects"].items() if c["quarantined"]}
        check = dg.AssetCheckResult(
            check_name="nothing_quarantined", passed=not quarantined, severity=dg.AssetCheckSeverity.WARN,
            description=(f"{quarantined} record(s) quarantined ({collateral} only because another record was): "
                         f"{path} lists each with its rule and fix" if quarantined else "no record quarantined"),
            metadata={"quarantined": quarantined, "collateral": collateral,
                      "by_object": dg.MetadataValue.json(by_object)})
        return dg.MaterializeResult(check_results=[check], metadata={
            "report": dg.MetadataValue.md(report_markdown(report)[:60000]), "path": dg.MetadataValue.path(str(path)),
            "destination_counts": dg.MetadataValue.json(dest_counts), **row_count(len(report["objects"])),
            "quarantined_total": quarantined,
            # Of those, records that failed only because another record did (see the report's collateral list).
            "collateral_total": collateral,
            "pending_changes": pending,
            **timing,
        })

    return _report


def _counts_read_by_loads(context: dg.AssetExecutionContext, pair: Pair) -> dict[str, int | None]:
    """Per object this run loaded, the destination's count its load read (``destination_count``; None when the
    destination does not count that object). Objects this run did not load are left out."""
    counts: dict[str, int | None] = {}
    for canonical in pair.loadable():
        event = context.instance.get_latest_materialization_event(load_key(pair, canonical))
        if event is None or event.run_id != context.run_id or event.asset_materialization is None:
            continue
        metadata = event.asset_materialization.metadata
        if "destination_count" in metadata:
            value = getattr(metadata["destination_count"], "value", metadata["destination_count"])
            counts[canonical] = value if isinstance(value, int) and not isinstance(value, bool) else None
    return counts


def _run_against_plan(context: dg.AssetExecutionContext, pair: Pair) -> dict[str, Any]:
    """The run's measured duration beside the one discovery planned (scope.json), for the run's report."""
    record = context.instance.get_run_record_by_id(context.run_id)
    started = record.start_time if record is not None else None
    if started is None:
        return {}
    measured = datetime.now(UTC).timestamp() - started
    planned = None
    scope_file = reports_dir(pair.name) / "scope.json"
    if scope_file.exists():
        planned = (json.loads(scope_file.read_text()).get("throughput_plan") or {}).get("seconds")
    return {"run_seconds": round(measured, 1), "planned_seconds": planned if planned else "n/a: no discovery plan",
            "run_against_plan": planner.measured_beside_plan(planned, measured)}


def write_archive(store: MigrationStore, source: str, objects: list[str]) -> dict[str, Any]:
    out = default_home() / "archive" / source
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"source": source, "objects": {}}
    for canonical in objects:
        path = out / f"{canonical}.jsonl.gz"
        count = 0
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for chunk in store.iter_staged(source, canonical):
                for rec in chunk:
                    fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
                    count += 1
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest["objects"][canonical] = {"file": path.name, "records": count, "sha256": digest}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _archive_asset(source) -> dg.AssetsDefinition:
    @dg.asset(key=archive_key(source.name), group_name=f"{source.name}_extract", kinds={"json"},
              deps=[extract_key(source.name, o.canonical) for o in source.objects()],
              tags={"helpdesk_migrate/stage": "archive"}, metadata=stage_metadata("archive"),
              description=f"The full {source.title} extract as compressed JSONL per object with a manifest of counts "
                          "and checksums, so the team keeps its data after the subscription ends.")
    def _archive(context: dg.AssetExecutionContext, store: MigrationStoreResource):
        manifest = write_archive(store.get(), source.name, [o.canonical for o in source.objects()])
        return dg.MaterializeResult(metadata={"manifest": dg.MetadataValue.json(manifest),
                                              **row_count(len(manifest["objects"])),
                                              **{f"records_{k}": v["records"] for k, v in manifest["objects"].items()}})

    return _archive


def build_lifecycle_assets(pair: Pair) -> list[dg.AssetsDefinition]:
    return [_scope_asset(pair), _sample_asset(pair), _go_ahead_asset(pair), _inventory_asset(pair), _report_asset(pair)]

