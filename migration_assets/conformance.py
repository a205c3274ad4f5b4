"""Conformance suites every plugin runs against its own emulator (as singer-sdk generates for taps).

In a plugin's tests::

    from migration_assets.conformance import source_conformance_suite
    TestAcmeDeskConformance = source_conformance_suite(lambda: AcmeDeskSource(), size=30)

    from migration_assets.conformance import destination_conformance_suite
    TestServiceDeskConformance = destination_conformance_suite(lambda: ServiceDeskDestination())

The suites drive the plugin exactly as the engine does (runtime.extract_object / load_object against a
fresh SQLite store) so a plugin that passes them plugs into the asset factory without surprises.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .canonical import SCHEMA, conformance_errors, dependency_order
from .hookspecs import EVERY_RECORD, ConfigurationError, DestinationPlugin, EmulatorPlugin, SourcePlugin
from .partitions import shard_keys
from .registry import default_registry
from .runtime import check_settings, extract_object, load_object, reconcile
from .store import MigrationStore

# --------------------------------------------------------------------------------------------------
# Canonical test data for destinations (clean: every record should load)
# --------------------------------------------------------------------------------------------------


def synthetic_canonical(seed: int = 7, conversations: int = 12) -> dict[str, list[dict[str, Any]]]:
    """A small, clean canonical workspace: what a well-behaved source would stage."""
    rnd = random.Random(seed)
    t0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

    def ts(minutes: int) -> str:
        return (t0 + timedelta(minutes=minutes)).isoformat()

    agents = [
        {"id": f"9{n}01", "email": f"agent{n}@example.com", "name": f"Agent {n}", "first_name": "Agent",
         "last_name": str(n), "role": "basic_agent", "is_active": n != 2}
        for n in range(1, 4)
    ]
    teams = [{"id": "8001", "name": "Support", "member_ids": [agents[0]["id"], agents[1]["id"]]},
             {"id": "8002", "name": "Billing", "member_ids": [agents[2]["id"]]}]
    channels = [{"id": "7001", "name": "Support email", "type": "email", "source_type": "EMAIL",
                 "address": "support@example.com", "is_active": True},
                {"id": "7002", "name": "Chat", "type": "chat", "source_type": "CHAT", "is_active": True}]
    tags = [{"id": "6001", "name": "vip", "applies_to": "conversation"},
            {"id": "6002", "name": "refund", "applies_to": "conversation"}]
    contacts, conversations_, messages = [], [], []
    for n in range(1, conversations + 1):
        cid = f"5{n:03d}"
        contacts.append({"id": cid, "name": f"Customer {n}", "first_name": "Customer", "last_name": f"N{n}",
                         "email": f"customer{n}@example.org", "phone": f"+3161234{n:04d}",
                         "created_at": ts(n)})
        tid = f"4{n:03d}"
        email = n % 2 == 1
        conversations_.append({
            "id": tid, "subject": f"Question {n}", "status": rnd.choice(["open", "assigned", "closed"]),
            "contact_id": cid, "assignee_id": agents[n % 3]["id"], "team_id": teams[n % 2]["id"],
            "channel_id": channels[0 if email else 1]["id"], "channel_type": "email" if email else "chat",
            "tags": ["vip"] if n % 4 == 0 else [], "created_at": ts(60 * n), "updated_at": ts(60 * n + 30),
            "last_activity_at": ts(60 * n + 30), "message_count": 3,
        })
        for k, kind in enumerate(("inbound", "outbound", "note")):
            author = {"author_type": "contact", "author_id": cid} if kind == "inbound" else \
                {"author_type": "agent", "author_id": agents[n % 3]["id"], "author_name": agents[n % 3]["name"]}
            messages.append({
                "id": f"3{n:03d}{k}", "conversation_id": tid, "kind": kind,
                "body_type": "email" if email and kind != "note" else "text",
                "body_html": f"<p>Message {k} of conversation {n}</p>", "body_text": f"Message {k} of conversation {n}",
                "created_at": ts(60 * n + 10 * k), "sequence": k, **author,
                **({"from_address": f"customer{n}@example.org", "to_addresses": ["support@example.com"],
                    "subject": f"Question {n}"} if email and kind != "note" else {}),
            })
    return {"agents": agents, "teams": teams, "channels": channels, "tags": tags, "contacts": contacts,
            "conversations": conversations_, "messages": messages}


# --------------------------------------------------------------------------------------------------
# Source suite
# --------------------------------------------------------------------------------------------------


def _emulator_of(plugin: Any, emulator_factory: Callable[[], EmulatorPlugin] | None) -> EmulatorPlugin:
    """The emulator the suite runs against: the one given, else the one registered for the plugin's name."""
    return emulator_factory() if emulator_factory else default_registry().emulator(plugin.name)


def source_conformance_suite(plugin_factory: Callable[[], SourcePlugin], *, seed: int = 11, size: int = 30,
                             emulator_options: dict[str, Any] | None = None,
                             emulator_factory: Callable[[], EmulatorPlugin] | None = None) -> type:
    """A test class running ``plugin_factory()``'s source against its emulator (``emulator_factory()``, else
    the emulator registered under the plugin's name) exactly as the engine drives it."""
    options = {"rate_limit": 100_000, **(emulator_options or {})}

    class SourceConformance:
        @pytest.fixture
        def env(self, tmp_path, monkeypatch):
            monkeypatch.setenv("MIGRATION_HOME", str(tmp_path / "home"))
            plugin = plugin_factory()
            emu = _emulator_of(plugin, emulator_factory).start(seed=seed, size=size, port=0, **options)
            try:
                for key, value in emu.env().items():
                    monkeypatch.setenv(key, value)
                store = MigrationStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
                yield plugin, emu, store
            finally:
                emu.stop()

        def test_declares_known_objects_in_an_acyclic_order(self):
            plugin = plugin_factory()
            names = [o.canonical for o in plugin.objects()]
            assert names, "a source must declare at least one object"
            assert len(set(names)) == len(names), f"objects declared twice: {names}"
            for o in plugin.objects():
                assert o.canonical in SCHEMA, f"{o.canonical!r} is not a canonical object"
                assert set(o.depends_on) <= set(names), f"{o.canonical} depends on undeclared {o.depends_on}"
            dependency_order(names, {o.canonical: o.depends_on for o in plugin.objects()})
            assert plugin.name and plugin.name.isidentifier() and plugin.version

        def test_settings_name_their_environment_variables(self):
            settings = plugin_factory().settings()
            assert settings, "a source reads at least its credentials from the environment"
            for s in settings:
                assert s.env_var.isupper() and s.help, f"{s.env_var}: needs an upper-case name and help text"
            with pytest.raises(ConfigurationError) as exc:
                check_settings(settings, {}, "x")
            for s in settings:
                if s.required:
                    assert s.env_var in str(exc.value)

        def test_emulator_env_satisfies_the_settings(self, env):
            plugin, emu, _ = env
            check_settings(plugin.settings(), emu.env(), plugin.name)
            assert emu.url.startswith("http://127.0.0.1")

        def test_every_object_extracts_exactly_the_seeded_records(self, env):
            plugin, emu, store = env
            order = dependency_order([o.canonical for o in plugin.objects()],
                                     {o.canonical: o.depends_on for o in plugin.objects()})
            for canonical in order:
                summary = extract_object(store, plugin, canonical, run_id="conformance-1")
                bad = [q for q in store.quarantine_entries(plugin.name, "", canonical) if q["rule"] == "canonical-schema"]
                assert not bad, f"{canonical}: records do not fit the canonical schema: {bad[:3]}"
                expected = {str(r["id"]) for r in emu.seed_records(canonical)}
                staged = store.staged_ids(plugin.name, canonical)
                rejected = {q["source_id"] for q in store.quarantine_entries(plugin.name, "", canonical)}
                assert staged | rejected == expected, (
                    f"{canonical}: extracted {len(staged)} + rejected {len(rejected)}, seeded {len(expected)}; "
                    f"missing {sorted(expected - staged - rejected)[:5]}, extra {sorted(staged - expected)[:5]}")
                assert summary.records == len(staged)
                assert summary.unknown_changes == 0, f"{canonical}: changes reported for records not in the chunk"
                for chunk in store.iter_staged(plugin.name, canonical):
                    for rec in chunk:
                        assert not conformance_errors(SCHEMA[canonical], rec), (canonical, rec)
                for change in store.change_entries(plugin.name, "", canonical):  # what the mapping changed
                    assert change["rule"].strip() and change["detail"].strip(), (canonical, change)
                    assert change["source_id"] == EVERY_RECORD or change["source_id"] in staged, (canonical, change)

        def test_a_sharded_object_extracts_the_same_records_shard_by_shard(self, env, monkeypatch):
            plugin, emu, store = env
            sharded = [o for o in plugin.objects() if o.fan_out_from]
            if not sharded:
                pytest.skip(f"{plugin.name} reads no object per parent record")
            monkeypatch.setenv("MIGRATION_SHARDS", "3")
            order = dependency_order([o.canonical for o in plugin.objects()],
                                     {o.canonical: o.depends_on for o in plugin.objects()})
            for spec in sharded:
                assert spec.fan_out_from in spec.depends_on, f"{spec.canonical} must depend on {spec.fan_out_from}"
                for canonical in order[:order.index(spec.canonical)]:
                    extract_object(store, plugin, canonical, run_id="parents")
                seen: dict[str, str] = {}
                for shard in shard_keys():
                    extract_object(store, plugin, spec.canonical, run_id=f"shard-{shard}", shard=shard)
                    for chunk in store.iter_staged(plugin.name, spec.canonical, shards=[shard]):
                        for rec in chunk:
                            assert rec["id"] not in seen, f"{spec.canonical} {rec['id']} in shards {seen[rec['id']]} and {shard}"
                            seen[rec["id"]] = shard
                rejected = {q["source_id"] for q in store.quarantine_entries(plugin.name, "", spec.canonical)}
                expected = {str(r["id"]) for r in emu.seed_records(spec.canonical)}
                assert set(seen) | rejected == expected, f"{spec.canonical}: shards lost or added records"

        def test_a_second_extract_changes_nothing(self, env):
            plugin, _, store = env
            order = dependency_order([o.canonical for o in plugin.objects()],
                                     {o.canonical: o.depends_on for o in plugin.objects()})
            for canonical in order:
                extract_object(store, plugin, canonical, run_id="first")
            for canonical in order:
                again = extract_object(store, plugin, canonical, run_id="second")
                assert again.inserted == 0 and again.changed == 0, f"{canonical}: re-extract changed records"

        def test_extraction_resumes_after_the_last_saved_cursor(self, env):
            plugin, _, store = env
            biggest, cursor_seen = None, None
            order = dependency_order([o.canonical for o in plugin.objects()],
                                     {o.canonical: o.depends_on for o in plugin.objects()})
            full: dict[str, set[str]] = {}
            for canonical in order:
                extract_object(store, plugin, canonical, run_id="full")
                full[canonical] = store.staged_ids(plugin.name, canonical)
            # Pick an object that comes in several chunks and replay an interrupted extract of it.
            from .runtime import EngineExtractContext, connect_source

            conn = connect_source(plugin)
            try:
                for canonical in sorted(order, key=lambda c: -len(full[c])):
                    chunks = conn.extract(canonical, context=EngineExtractContext(store, plugin.name, "probe"))
                    first = next(chunks, None)
                    chunks.close()
                    if first is not None and first.cursor:
                        biggest, cursor_seen = canonical, (first.cursor, {str(r["id"]) for r in first.records})
                        break
            finally:
                conn.close()
            if biggest is None:
                pytest.skip("no object comes in more than one chunk at this size")
            fresh = MigrationStore(f"sqlite:///{store.url.split('///', 1)[1]}.resume")
            for canonical in order:
                if canonical != biggest:
                    extract_object(fresh, plugin, canonical, run_id="deps")
            cursor, first_ids = cursor_seen
            fresh.stage(plugin.name, biggest, [], "x")
            fresh.set_cursor(plugin.name, biggest, cursor, "crashed")
            resumed = extract_object(fresh, plugin, biggest, run_id="resumed")
            rest = fresh.staged_ids(plugin.name, biggest)
            assert not (rest & first_ids), f"{biggest}: resuming re-read the finished chunk"
            assert rest | first_ids == full[biggest], f"{biggest}: resume lost records"
            assert resumed.resumed_from == cursor

    SourceConformance.__name__ = f"SourceConformance_{plugin_factory().name}"
    return SourceConformance


# --------------------------------------------------------------------------------------------------
# Destination suite
# --------------------------------------------------------------------------------------------------


def destination_conformance_suite(plugin_factory: Callable[[], DestinationPlugin], *, seed: int = 7,
                                  conversations: int = 12, emulator_options: dict[str, Any] | None = None,
                                  emulator_factory: Callable[[], EmulatorPlugin] | None = None) -> type:
    """A test class loading synthetic canonical data through ``plugin_factory()``'s destination into its
    emulator (``emulator_factory()``, else the one registered under the plugin's name)."""
    data = synthetic_canonical(seed, conversations)
    options = {"existing": {"agents": data["agents"], "teams": data["teams"], "tags": data["tags"]},
               **(emulator_options or {})}
    source_name = "conformance"

    class DestinationConformance:
        @pytest.fixture
        def env(self, tmp_path, monkeypatch):
            monkeypatch.setenv("MIGRATION_HOME", str(tmp_path / "home"))
            plugin = plugin_factory()
            emu = _emulator_of(plugin, emulator_factory).start(seed=seed, size=conversations, port=0, **options)
            try:
                for key, value in emu.env().items():
                    monkeypatch.setenv(key, value)
                store = MigrationStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
                accepted = [o.canonical for o in plugin.objects() if o.canonical in data]
                for canonical in accepted:
                    store.stage(source_name, canonical, data[canonical], "stage")
                yield plugin, emu, store, accepted
            finally:
                emu.stop()

        def _order(self, plugin, accepted):
            objs = {o.canonical: o for o in plugin.objects()}
            return dependency_order(accepted, {c: objs[c].depends_on for c in accepted})

        def test_declares_known_objects_in_an_acyclic_order(self):
            plugin = plugin_factory()
            names = [o.canonical for o in plugin.objects()]
            assert names and len(set(names)) == len(names)
            for o in plugin.objects():
                assert o.canonical in SCHEMA
                assert o.targets, f"{o.canonical}: name the destination objects it lands in"
            dependency_order(names, {o.canonical: o.depends_on for o in plugin.objects()})

        def test_clean_records_load_and_reconcile(self, env):
            plugin, _, store, accepted = env
            for canonical in self._order(plugin, accepted):
                load_object(store, source_name, plugin, canonical, run_id="load-1")
                rec = reconcile(store, source_name, plugin.name, canonical)
                assert rec.balanced, f"{canonical}: {rec.as_dict()}"
                failed = [q for q in store.quarantine_entries(source_name, plugin.name, canonical)
                          if q["kind"] == "quarantined"]
                assert not failed, f"{canonical}: clean records failed: {failed[:3]}"

        def test_sending_everything_again_creates_nothing(self, env):
            plugin, _, store, accepted = env
            order = self._order(plugin, accepted)
            for canonical in order:
                load_object(store, source_name, plugin, canonical, run_id="load-1")
            # Force every record through the destination again, as after a lost id map write.
            from .runtime import EngineLoadContext, connect_destination

            conn = connect_destination(plugin, source=source_name)
            try:
                counts = {c: conn.count(c) for c in order}
                ctx = EngineLoadContext(store, source_name, plugin.name, "load-2")
                for canonical in order:
                    outcomes = conn.load(canonical, data[canonical], context=ctx)
                    assert len({o.source_id for o in outcomes}) == len(data[canonical])
                    created = [o for o in outcomes if o.action == "created"]
                    assert not created, f"{canonical}: a re-run created {len(created)} record(s)"
                after = {c: conn.count(c) for c in order}
            finally:
                conn.close()
            assert after == counts

        def test_rollback_removes_what_was_created(self, env):
            plugin, _, store, accepted = env
            order = self._order(plugin, accepted)
            for canonical in order:
                load_object(store, source_name, plugin, canonical, run_id="load-1")
            from .runtime import EngineLoadContext, connect_destination

            conn = connect_destination(plugin, source=source_name)
            created_objects = []
            try:
                ctx = EngineLoadContext(store, source_name, plugin.name, "rollback")
                for canonical in reversed(order):
                    entries = [e for e in store.id_map_entries(source_name, plugin.name, canonical)
                               if e["action"] != "linked"]
                    undone = set(conn.rollback(canonical, entries, context=ctx))
                    created = {e["source_id"] for e in entries if e["action"] == "created"}
                    assert created <= undone, f"{canonical}: not undone: {sorted(created - undone)[:5]}"
                    if created and len(created) == len(entries):
                        created_objects.append(canonical)
                    store.mark_rolled_back(source_name, plugin.name, canonical, sorted(undone))
                for canonical in created_objects:
                    n = conn.count(canonical)
                    assert n in (0, None), f"{canonical}: {n} record(s) left after rollback"
            finally:
                conn.close()

    DestinationConformance.__name__ = f"DestinationConformance_{plugin_factory().name}"
    return DestinationConformance
