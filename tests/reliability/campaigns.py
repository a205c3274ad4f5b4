"""The campaigns themselves, sized by the caller: the CI suites in this folder run them small, the scripts in
benchmarks/ run them at full size and print their figures.

- R1 ``crash_migration``: one migration killed (SIGKILL) once during extraction and once during loading, each
  time re-run to completion and checked.
- R2 ``faulted_migration``: one migration with the source's and the destination's faults switched on, then
  one more run without them.
- R4 ``rollback_migration``: full run, delta, rollback; the destination must equal its pre-migration state,
  with records the migration updated given their before-images back and linked ones never touched.
"""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .harness import (
    CI_SIZE,
    SEED,
    Audit,
    Baseline,
    FaultSchedule,
    Match,
    Rig,
    Tripwire,
    a_write,
    any_request,
    audit,
    new_run_problems,
    staging_problems,
    start_rig,
)

# --------------------------------------------------------------------------------------------------
# R1: crashes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    phase: str  # "extraction" (the discover job, counted in source answers) | "loading" (the full job, destination writes)
    at: int
    delay_ms: float  # 0: killed while the request's answer is on its way; else that long after it

    def __str__(self) -> str:
        when = "before the answer" if not self.delay_ms else f"+{self.delay_ms:.0f} ms"
        return f"{self.phase} #{self.at} ({when})"


def kill_points(baseline: Baseline, n: int, seed: int) -> list[KillPoint]:
    """``n`` seeded kill points, half during extraction and half during loading, spread over the clean run's
    request counts; every other one kills a little after a request instead of on it."""
    rng = random.Random(seed)
    points = []
    for i in range(n):
        phase = "extraction" if i % 2 == 0 else "loading"
        total = baseline.source_requests_discover if phase == "extraction" else baseline.destination_writes_full
        delay = 0.0 if (i // 2) % 2 == 0 else round(rng.uniform(5, 250))
        points.append(KillPoint(phase, rng.randint(1, max(total, 1)), delay))
    return points


@dataclass
class CrashOutcome:
    destination: str
    point: KillPoint
    killed: bool
    fired_on: str | None
    rerun_exit: int
    problems: list[str]
    duplicates: int = 0
    missing: int = 0
    id_map_checked: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.killed and not self.problems


def crash_migration(destination: str, baseline: Baseline, extraction: KillPoint, loading: KillPoint, *,
                    seed: int = SEED, size: int = CI_SIZE) -> list[CrashOutcome]:
    """A fresh migration killed during discover's extraction, re-run, approved, killed during the full
    run's loads, re-run; checked after each re-run."""
    rig = start_rig(destination, seed=seed, size=size)
    out: list[CrashOutcome] = []
    try:
        started = time.monotonic()
        child = rig.spawn("discover", Tripwire(rig.src_tap, any_request, extraction.at, extraction.delay_ms))
        code = rig.run("discover")
        problems = staging_problems(rig) + new_run_problems(rig.output, code, baseline, "discover")
        out.append(CrashOutcome(destination, extraction, child.killed, child.fired_on, code, problems,
                                seconds=time.monotonic() - started))
        rig.approve_all()
        before = rig.snapshot()
        started = time.monotonic()
        child = rig.spawn("full", Tripwire(rig.dst_tap, a_write, loading.at, loading.delay_ms))
        rig.output.clear()
        code = rig.run("full")
        result = audit(rig, before, baseline)
        out.append(CrashOutcome(destination, loading, child.killed, child.fired_on, code,
                                result.problems + new_run_problems(rig.output, code, baseline, "full"),
                                result.duplicates, result.missing,
                                result.id_map_checked, time.monotonic() - started))
    finally:
        rig.stop()
    return out


# --------------------------------------------------------------------------------------------------
# R2: faults
# --------------------------------------------------------------------------------------------------

# Clients give up on a request after this long in the fault campaign, and "slow" answers take longer.
CLIENT_TIMEOUT_S = 1.0
SLOW_MS = 1600

FAST_RETRIES = {
    "TRENGO_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT_S), "TRENGO_RETRY_BASE_SECONDS": "0.05",
    "TIDIO_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT_S), "TIDIO_RETRY_BACKOFF_SECONDS": "0.2",
    "SALESFORCE_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT_S), "SALESFORCE_BULK_POLL_SECONDS": "0.05",
    # Small enough that contacts, cases and messages go through Bulk API 2.0 (partial failures).
    "SALESFORCE_BULK_THRESHOLD": "5",
}

# What the source's switches do at each fault kind (rates of calls).
SOURCE_FAULTS: dict[str, dict[str, float]] = {
    "5xx": {"server_error_rate": 0.05},
    "429": {"rate_limit_rate": 0.03, "storm_seconds": 1.0},
    "reset": {"reset_mid_body_rate": 0.02, "reset_rate": 0.01},
    "slow": {"slow_body_rate": 0.01, "slow_ms": SLOW_MS},
}


def _always(method: str, path: str, body: bytes = b"") -> bool:
    return any_request(method, path)


def _rest(method: str, path: str, body: bytes = b"") -> bool:
    return path.startswith("/services/data")


def _rest_write(method: str, path: str, body: bytes = b"") -> bool:
    return _rest(method, path) and a_write(method, path)


def _bulk_upload(method: str, path: str, body: bytes = b"") -> bool:
    return method == "PUT" and "/jobs/ingest/" in path and path.rstrip("/").endswith("batches")


def _grants(method: str, path: str, body: bytes = b"") -> bool:
    return method == "POST" and path.endswith("/composite/sobjects") and b'"FieldPermissions"' in body


def first(n: int, match: Match) -> Match:
    """Only the first ``n`` requests ``match`` accepts (a fault that happens once, not on every retry)."""
    seen = [0]

    def only_first(method: str, path: str, body: bytes = b"") -> bool:
        if not match(method, path, body) or seen[0] >= n:
            return False
        seen[0] += 1
        return True

    return only_first


# Records a migration writes (UNABLE_TO_LOCK_ROW is retried per record there); the schema's field-level security
# grants are the "lock_schema" kind.
SALESFORCE_DATA_OBJECTS = ["Contact", "Case", "EmailMessage", "CaseComment", "Task", "ContentVersion",
                           "ContentDocumentLink", "Knowledge__kav", "GroupMember", "Group"]


def destination_menu(rig: Rig, kinds: list[str]) -> dict[str, tuple[float, Callable[[], None], Match]]:
    """Per destination: fault kind -> (probability per request, how to arm the emulator's switch, which requests)."""
    emu = rig.dst
    if rig.destination == "tidio":
        menu = {
            "5xx": (0.05, lambda: emu.set_faults(server_error_next=1), _always),
            "lost_write": (0.02, lambda: emu.set_faults(lose_response_next=1), a_write),
            # A storm of four refusals. One under way is not extended: two back to back would be eight, past the
            # client's attempts at the campaign's zero backoff, an outage rather than a fault to ride out.
            "429": (0.03, lambda: emu.faults.values.get("rate_limit_next") or emu.set_faults(rate_limit_next=4),
                    _always),
            "reset": (0.02, lambda: emu.set_faults(reset_mid_body_next=1), _always),
            "slow": (0.01, lambda: emu.set_faults(slow_body_next=1, slow_ms=SLOW_MS), _always),
        }
    else:
        def arm(**switches: Any) -> Callable[[], None]:
            return lambda: emu.faults.update(switches)

        menu = {
            "5xx": (0.05, arm(server_error_next=1), _rest),
            "lost_write": (0.02, arm(lose_response_next=1), _rest_write),
            "session": (0.01, arm(expired_auth_next=1), _rest),
            "lock": (0.04, arm(lock_errors=2, lock_objects=SALESFORCE_DATA_OBJECTS), _rest_write),
            "lock_schema": (1.0, arm(lock_errors=1, lock_objects=["FieldPermissions"]), first(1, _grants)),
            "bulk_partial": (0.5, arm(bulk_unprocessed=2), _bulk_upload),
            "reset": (0.02, arm(reset_mid_body_next=1), _rest),
            "slow": (0.01, arm(slow_body_next=1, slow_ms=SLOW_MS), _rest),
        }
    return {k: v for k, v in menu.items() if k in kinds}


ALL_KINDS = ["5xx", "429", "reset", "slow", "lost_write", "session", "lock", "lock_schema", "bulk_partial"]


@contextlib.contextmanager
def password_login(rig: Rig) -> Iterator[None]:
    """Salesforce only: log in with username and password instead of a fixed session, so an expired session
    (401 INVALID_SESSION_ID) means logging in again. The login host is routed to the emulator (test only)."""
    if rig.destination != "salesforce":
        yield
        return
    from helpdesk_migrate.plugins.salesforce.plugin import SalesforceDestination
    from tests.salesforce.sf_support import login_session

    c = rig.dst.credentials
    saved_env = dict(rig.env)
    rig.env.update({"SALESFORCE_SESSION_ID": "", "SALESFORCE_USERNAME": c["username"],
                    "SALESFORCE_PASSWORD": c["password"], "SALESFORCE_SECURITY_TOKEN": c["security_token"]})
    original = SalesforceDestination.connect

    def connect(self: Any, env: Any, **kw: Any) -> Any:
        kw.setdefault("session", login_session(rig.dst))
        return original(self, env, **kw)

    SalesforceDestination.connect = connect  # type: ignore[method-assign]
    try:
        yield
    finally:
        SalesforceDestination.connect = original  # type: ignore[method-assign]
        rig.env.clear()
        rig.env.update(saved_env)


def load_quarantine(rig: Rig) -> Counter[str]:
    """Records the destination refused in this migration, by rule and reason (ids stripped)."""
    with rig.environ():
        store = rig.store()
        entries = store.quarantine_entries(rig.pair.source.name, rig.destination)
        store.dispose()
    return Counter(f"{e['object']}: {e['rule']}: {_IDS.sub('#', e['reason'])[:160]}"
                   for e in entries if e["stage"] == "load")


_IDS = re.compile(r"\b[0-9A-Za-z]{15,18}\b|\d{5,}")


@dataclass
class FaultOutcome:
    destination: str
    kinds: list[str]
    exits: dict[str, int]
    audit: Audit
    injected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def quarantined_by_faults(self) -> int:
        return sum(a["quarantined"] for a in self.audit.figures["accounts"].values())


def faulted_migration(destination: str, baseline: Baseline, kinds: list[str] | None = None, *, seed: int = SEED,
                      size: int = CI_SIZE, fault_seed: int = 8, spare: Match | None = None) -> FaultOutcome:
    """discover + full with faults on at both ends (``spare``: destination requests left alone), audited
    against the clean run: every record accounted for, none twice (loaded may be lower only by records
    quarantined with a reason); then one more full run without faults must reach the clean run's state."""
    kinds = list(kinds or ALL_KINDS)
    rig = start_rig(destination, seed=seed, size=size, env=FAST_RETRIES)
    started = time.monotonic()
    try:
        with password_login(rig):
            for kind in kinds:
                rig.src.set_faults(**SOURCE_FAULTS.get(kind, {}))
            schedule = FaultSchedule(rig.dst_tap, destination_menu(rig, kinds), fault_seed, spare=spare)
            exits = {"discover": rig.run("discover")}
            run_issues = new_run_problems(rig.output, exits["discover"], baseline, "discover")
            schedule.active = False  # approvals and the snapshot are not part of the migration
            assert not run_issues, f"discover did not finish under faults: {run_issues}\n" + "\n".join(rig.output)
            rig.approve_all()
            before = rig.snapshot()
            schedule.active = True
            rig.output.clear()
            exits["full"] = rig.run("full")
            schedule.active = False
            rig.src.faults.clear()
            result = audit(rig, before, baseline, strict_accounts=False)
            result.figures["load_quarantine"] = load_quarantine(rig)
            result.figures["output"] = list(rig.output)
            result.problems += run_issues + new_run_problems(rig.output, exits["full"], baseline, "full")
            # Faults off, one more run: what the faults made the first one quarantine loads now, and the end
            # state must be the clean run's exactly (a record lost without a trace would stay missing).
            rig.output.clear()
            exits["recovery"] = rig.run("full")
            recovered = audit(rig, before, baseline)
            result.problems += [f"after a run without faults: {p}" for p in recovered.problems
                                + new_run_problems(rig.output, exits["recovery"], baseline, "full")]
            injected = Counter(schedule.fired)
            injected.update({f"source {k}": n for k, n in rig.src.faults.fired.items()})
    finally:
        rig.stop()
    return FaultOutcome(destination, kinds, exits, result, dict(injected), time.monotonic() - started)


# --------------------------------------------------------------------------------------------------
# R4: rollback
# --------------------------------------------------------------------------------------------------


_PLAIN_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


class MatchingContacts:
    """Provisions the destination with up to ``n`` of the source's contacts (same email, other details) that
    existed before the migration: matched by email, the migration updates them instead of creating them.
    ``chosen`` holds the source ids used."""

    def __init__(self, n: int):
        self.n = n
        self.chosen: list[str] = []

    def __call__(self, src: Any) -> dict[str, list[dict[str, Any]]]:
        emails = Counter((c.get("email") or "").strip().lower() for c in src.seed_records("contacts"))
        people = [c for c in src.seed_records("contacts")
                  if _PLAIN_EMAIL.match((c.get("email") or "").strip()) and emails[c["email"].strip().lower()] == 1]
        chosen = people[: self.n]
        self.chosen = [str(c["id"]) for c in chosen]
        return {"contacts": [{"id": f"pre-{c['id']}", "email": c["email"].strip(), "first_name": "Pre-existing",
                              "last_name": f"Customer {i}", "name": f"Pre-existing Customer {i}"}
                             for i, c in enumerate(chosen)]}


# Schema metadata a Salesforce migration creates on purpose and keeps after a rollback of data (custom fields
# and their permissions), as tests/e2e_support.py BOOKKEEPING decides.
SALESFORCE_SCHEMA = frozenset({"CustomField", "FieldPermissions", "PermissionSet", "PermissionSetAssignment"})

# Fields no API can set back: the platform stamps them on every write, a restore included.
SYSTEM_STAMPS = {"salesforce": {"LastModifiedDate", "LastModifiedById", "SystemModstamp", "LastReferencedDate",
                                "LastViewedDate"}}


def state_diff(destination: str, before: dict[str, Any], after: dict[str, Any], *,
               ignore: set[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """Per destination object: ids created, deleted and changed between two snapshots (system stamps aside)."""
    from .harness import DESTINATIONS

    read = DESTINATIONS[destination].records
    skip = SYSTEM_STAMPS.get(destination, set()) | (ignore or set())
    b, a = read(before), read(after)
    out: dict[str, dict[str, list[str]]] = {}
    for obj in sorted(set(a) | set(b)):
        bo, ao = b.get(obj, {}), a.get(obj, {})

        def clean(rec: dict[str, Any]) -> dict[str, Any]:
            # A field that is null and a field that is absent are the same record.
            return {k: v for k, v in rec.items() if k not in skip and v is not None}

        d = {"created": sorted(set(ao) - set(bo)), "deleted": sorted(set(bo) - set(ao)),
             "changed": sorted(i for i in set(ao) & set(bo) if clean(ao[i]) != clean(bo[i]))}
        if any(d.values()):
            out[obj] = d
    return out


@dataclass
class RollbackOutcome:
    destination: str
    actions: dict[str, int]
    restored: int  # pre-existing records the migration changed (before-images kept)
    enriched: int  # pre-existing records that only gained related records (notes, members)
    linked: int  # pre-existing records used as they were
    rollback_exit: int
    problems: list[str]
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)


def import_marked_contact(rig: Rig, source_contact: dict[str, Any]) -> str:
    """Salesforce with the migration's fields already in place: a Contact that carries the source id in the
    external-id field before the migration (an earlier import), so the migration updates it through upsert
    and must give it its before-image back on rollback."""
    return rig.dst.org.insert("Contact", {"FirstName": "Imported", "LastName": "Earlier", "Title": "Imported before",
                                          "Email": (source_contact.get("email") or "").strip() or None,
                                          "Trengo_Id__c": str(source_contact["id"])})


def rollback_migration(destination: str, *, seed: int = SEED, size: int = 24, matched: int = 2,
                       destination_options: dict[str, Any] | None = None, import_marked: bool = False,
                       schema_objects: frozenset[str] = frozenset()) -> RollbackOutcome:
    """The destination holds, before the migration: contacts sharing an email with ``matched`` source contacts,
    optionally (``import_marked``, Salesforce with its schema prepared) a contact already carrying a source id,
    and the agents, tags and fields the source's are linked to. Full run, a delta after edits in the source,
    then rollback of the whole migration: the destination must be as it was before the migration (platform
    system stamps aside); records the migration changed are restored from their before-images; records it
    only linked, or only hung notes on, are never modified. ``schema_objects`` are left out of the final
    comparison (and reported in ``figures``) when another check covers them."""
    from .harness import DESTINATIONS

    started = time.monotonic()
    provision = MatchingContacts(matched)
    rig = start_rig(destination, seed=seed, size=size, provision=provision, destination_options=destination_options)
    problems: list[str] = []
    read = DESTINATIONS[destination].records
    stamps = SYSTEM_STAMPS.get(destination, set())

    def same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
        return a is not None and b is not None and \
            {k: v for k, v in a.items() if k not in stamps and v is not None} == \
            {k: v for k, v in b.items() if k not in stamps and v is not None}

    try:
        marked: dict[str, str] = {}
        if import_marked:
            unused = [c for c in rig.src.seed_records("contacts")
                      if str(c["id"]) not in provision.chosen and _PLAIN_EMAIL.match((c.get("email") or "").strip())]
            if unused:
                marked[str(unused[0]["id"])] = import_marked_contact(rig, unused[0])
        pre = rig.snapshot()
        rig.run("discover")
        if d := state_diff(destination, pre, rig.snapshot()):
            problems.append(f"discover wrote to the destination: {d}")
            pre = rig.snapshot()
        rig.approve_all()
        rig.run("full")
        after_full = rig.snapshot()
        with rig.environ():
            store = rig.store()
            entries = store.id_map_entries(rig.pair.source.name, destination)
            store.dispose()
        actions = dict(Counter(f"{e['object']}:{e['action']}" for e in entries))
        pre_rec, full_rec = read(pre), read(after_full)

        def existed(e: dict[str, Any]) -> bool:
            return bool(e["destination_id"]) and str(e["destination_id"]) in pre_rec.get(e["destination_object"], {})

        def record(snapshot_records: dict[str, Any], e: dict[str, Any]) -> dict[str, Any] | None:
            return snapshot_records.get(e["destination_object"], {}).get(str(e["destination_id"]))

        touched = [e for e in entries if existed(e) and e["action"] == "updated" and e["before_image"]]
        enriched = [e for e in entries if existed(e) and e["action"] == "updated" and not e["before_image"]]
        linked = [e for e in entries if existed(e) and e["action"] == "linked"]
        # Every pre-existing contact is found again, not created a second time.
        contacts = {e["source_id"]: e for e in entries if e["object"] == "contacts"}
        for sid in provision.chosen + list(marked):
            e = contacts.get(sid)
            if e is None or not existed(e):
                problems.append(f"source contact {sid} matches a contact the destination already had, but the "
                                f"migration recorded {e and (e['action'], e['destination_id'])}")
        for sid, did in marked.items():
            e = contacts.get(sid)
            if e and (str(e["destination_id"]) != did or e["action"] != "updated" or not e["before_image"]):
                problems.append(f"contact {sid} already carried its source id in {did}: expected an update with a "
                                f"before-image, got {e['action']} {e['destination_id']} {e['before_image']}")
        for e in touched:
            if same(record(full_rec, e), record(pre_rec, e)):
                problems.append(f"{e['object']} {e['source_id']} is recorded as changed but "
                                f"{e['destination_object']} {e['destination_id']} is as it was")
        for e in enriched + linked:
            if not same(record(full_rec, e), record(pre_rec, e)):
                problems.append(f"{e['action']} {e['object']} {e['source_id']} -> {e['destination_object']} "
                                f"{e['destination_id']} was modified by the full run (it has no before-image)")
        # Delta: the source renames a contact, adds a note to a conversation, closes another.
        for sid in list(marked)[:1] + provision.chosen[:1]:
            assert rig_trengo(rig, "PUT", f"/contacts/{sid}", {"name": "Renamed At Cutover"}).ok
        convs = [e for e in entries if e["object"] == "conversations" and e["action"] == "created"]
        if convs:
            assert rig_trengo(rig, "POST", f"/tickets/{convs[0]['source_id']}/messages",
                              {"message": "Cutover note", "internal_note": True}).ok
            assert rig_trengo(rig, "POST", f"/tickets/{convs[-1]['source_id']}/close").ok
        rig.output.clear()
        rig.run("delta")
        delta_rec = read(rig.snapshot())
        delta_changed = sum(not same(record(delta_rec, e), record(full_rec, e)) for e in touched)
        for e in enriched + linked:
            if not same(record(delta_rec, e), record(pre_rec, e)):
                problems.append(f"{e['action']} {e['object']} {e['source_id']} -> {e['destination_object']} "
                                f"{e['destination_id']} was modified by the delta")
        rig.output.clear()
        code = rig.run("rollback")
        if code != 0:
            problems.append(f"rollback exited {code}: {[line.strip() for line in rig.output if 'fail' in line.lower()][:3]}")
        final = rig.snapshot()
        final_rec = read(final)
        leftovers = state_diff(destination, pre, final)
        schema_left = {obj: sum(map(len, d.values())) for obj, d in leftovers.items() if obj in schema_objects}
        for obj, d in leftovers.items():
            if obj in schema_objects:
                continue
            detail = ""
            if d["changed"]:
                b4, now = pre_rec[obj][d["changed"][0]], final_rec[obj][d["changed"][0]]
                detail = "; first change: " + ", ".join(f"{k}: {b4.get(k)!r} -> {now.get(k)!r}" for k in sorted(
                    set(b4) | set(now)) if k not in stamps and b4.get(k) != now.get(k))[:300]
            problems.append(f"after rollback, {obj}: " + "; ".join(f"{len(v)} {k} (e.g. {v[:2]})"
                                                                   for k, v in d.items() if v) + detail)
        emailed = getattr(rig.dst, "emailed", None)
        if callable(emailed) and emailed():
            problems.append(f"{len(emailed())} message(s) were emailed to customers")
        full_diff = state_diff(destination, pre, after_full)
        return RollbackOutcome(destination, actions, len(touched), len(enriched), len(linked), code, problems,
                               time.monotonic() - started,
                               {"created_by_full": sum(len(d["created"]) for d in full_diff.values()),
                                "changed_by_full": sum(len(d["changed"]) for d in full_diff.values()),
                                "changed_again_by_delta": delta_changed, "schema_left": schema_left})
    finally:
        rig.stop()


def rig_trengo(rig: Rig, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Act on the source emulator as a Trengo user would (never the migration)."""
    import requests

    env = rig.src.env()
    return requests.request(method, f"{env['TRENGO_BASE_URL']}{path}", json=body or {}, timeout=10,
                            headers={"Authorization": f"Bearer {env['TRENGO_API_TOKEN']}",
                                     "Accept": "application/json"})
