"""The reliability campaigns' harness (issue 8: R1 crashes, R2 faults, R4 rollback).

- ``Rig``: one migration of a pair on fresh emulators served from *this* process, with its own migration home
  and Dagster home. Jobs run exactly as ``helpdesk-migrate run`` runs them: in this process (``run``) or as a
  child process (``spawn``) that a tripwire can SIGKILL while the emulators live on.
- ``RequestTap``: hooks on an emulator's HTTP handler (when a request arrives, when its answer starts), for
  any emulator served by ``helpdesk_migrate.sdk.emulator``. A ``Tripwire`` kills the child at the N-th matching
  answer; a ``FaultSchedule`` arms the emulator's own one-shot fault switches with a seeded RNG, request by request.
- ``audit``: the invariants every campaign checks against a clean run of the same workspace (``Baseline``):
  no duplicate, nothing missing, a consistent id map, every record accounted for.

Tests may name platforms; the few platform facts needed to read a destination emulator's state (how its
snapshot is shaped, which field marks a migrated record) are in ``DESTINATIONS`` below.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migration_assets.registry import emulator_for

SEED = 3
CI_SIZE = 12
FAST = 60_000  # requests/min: the campaigns measure recovery, not the rate limiter
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
LOGIN_PATHS = ("/services/Soap", "/services/oauth2", "/_emulator")
KEEP_ENV = "RELIABILITY_KEEP_DIRS"  # set it to keep each migration's store, reports and child logs


def scratch_dir(prefix: str) -> Path:
    """A fresh directory, in memory when the machine has /dev/shm: Dagster's SQLite event log syncs to disk on
    every event, which would otherwise dominate the campaigns' time."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


# --------------------------------------------------------------------------------------------------
# Hooks on an emulator's request handling
# --------------------------------------------------------------------------------------------------


class RequestTap:
    """Subclasses the emulator's request handler in place: ``arrived(method, path, body)`` runs before the
    emulator looks at a request, ``answering(method, path, body, status)`` after it processed it and before
    the answer goes out. Counts every answered request."""

    def __init__(self, emulator: Any):
        self.arrived: list[Callable[[str, str, bytes], None]] = []
        self.answering: list[Callable[[str, str, bytes, int], None]] = []
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        server = emulator._server  # helpdesk_migrate.sdk.emulator.EmulatorServer
        tap = self

        def arrived(request: Any) -> None:
            for hook in list(tap.arrived):
                hook(request.method, request.target, request.body)

        def answering(request: Any, response: Any) -> None:
            with tap.lock:
                tap.counts[request.method] += 1
            for hook in list(tap.answering):
                hook(request.method, request.target, request.body, response.status)

        server.arrived.append(arrived)
        server.answering.append(answering)

    def total(self, methods: tuple[str, ...] | None = None) -> int:
        with self.lock:
            return sum(n for m, n in self.counts.items() if methods is None or m in methods)

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()


Match = Callable[[str, str, bytes], bool]  # (method, path, body) -> does this request count


def any_request(method: str, path: str, body: bytes = b"") -> bool:
    return not path.startswith(LOGIN_PATHS)


def a_write(method: str, path: str, body: bytes = b"") -> bool:
    return method in WRITE_METHODS and not path.startswith(LOGIN_PATHS)


class Tripwire:
    """SIGKILLs a process group at the ``at``-th matching answer: at once (the request was processed, its
    answer never arrives) or ``delay_ms`` later (the process dies wherever it then is)."""

    def __init__(self, tap: RequestTap, match: Match, at: int, delay_ms: float = 0):
        self.tap, self.match, self.at, self.delay_ms = tap, match, at, delay_ms
        self.seen = 0
        self.pgid: int | None = None
        self.fired_on: str | None = None
        self._lock = threading.Lock()

    def arm(self, pgid: int) -> None:
        self.pgid = pgid
        self.tap.answering.append(self._hook)

    def disarm(self) -> None:
        with contextlib.suppress(ValueError):
            self.tap.answering.remove(self._hook)

    def _hook(self, method: str, path: str, body: bytes, status: int) -> None:
        if not self.match(method, path, body):
            return
        with self._lock:
            self.seen += 1
            if self.seen != self.at or self.pgid is None:
                return
            self.fired_on = f"{method} {path.split('?')[0]} -> {status}"
        if self.delay_ms:
            threading.Timer(self.delay_ms / 1000, self._kill).start()
        else:
            self._kill()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)


class FaultSchedule:
    """Arms an emulator's one-shot fault switches with a seeded RNG as requests arrive: ``menu`` maps a name
    to (probability per request, arm function, which requests). The emulator answers with the platform's own
    error shapes; the schedule only decides when. So that a short run still meets every kind, each one also
    fires once at a seeded position among its first ``early`` applicable requests. ``fired`` counts what was
    armed."""

    def __init__(self, tap: RequestTap, menu: dict[str, tuple[float, Callable[[], None], Match]], seed: int,
                 early: int = 20, spare: Match | None = None):
        self.menu = menu
        self.spare = spare  # requests left alone
        self.rng = random.Random(seed)
        self.first_at = {name: self.rng.randint(1, early) for name in menu}
        self.seen: Counter[str] = Counter()
        self.fired: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.active = True
        tap.arrived.append(self._hook)

    def _hook(self, method: str, path: str, body: bytes) -> None:
        if not self.active or (self.spare and self.spare(method, path, body)):
            return
        with self.lock:
            for name, (p, arm, applies) in self.menu.items():
                if not applies(method, path, body):
                    continue
                self.seen[name] += 1
                due = not self.fired[name] and self.seen[name] >= self.first_at[name]
                if due or self.rng.random() < p:
                    self.fired[name] += 1
                    arm()
                    return


# --------------------------------------------------------------------------------------------------
# Reading a destination emulator
# --------------------------------------------------------------------------------------------------


def _salesforce_records(snap: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    out = {obj: dict(recs) for obj, recs in snap.items()}
    # The id map names a field by its full name (Contact.Customer_Number__c), the org by its Id.
    out["CustomField"] = {**out.get("CustomField", {}),
                          **{r["FullName"]: r for r in out.get("CustomField", {}).values() if r.get("FullName")}}
    return out


def _salesforce_checkable(obj: str, destination_id: str) -> bool:
    return obj != "CustomField" or destination_id.endswith("__c")  # a standard field is no record


def _tidio_records(snap: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    tickets = {str(t["id"]): {k: v for k, v in t.items() if k != "messages"} for t in snap["tickets"]}
    messages = {f"{t['id']}:{m['message_id']}": {**m, "ticket_id": t["id"]}
                for t in snap["tickets"] for m in t.get("messages") or []}
    return {
        "contact": {str(c["id"]): c for c in snap["contacts"]},
        "ticket": tickets,
        "ticket_message": messages,
        "operator": {str(o["id"]): o for o in snap["operators"]},
        "department": {str(d["id"]): d for d in snap["departments"]},
        "contact_property": {str(p["name"]): p for p in snap["properties"]},
        "ticket_tag": {str(t["id"]): t for t in snap["tags"]},
        "ticket_field": {str(f["id"]): f for f in snap["ticket_custom_fields"]},
    }


_TIDIO_MARK = re.compile(r"\[Trengo [^\]]+\]")


def _salesforce_marker(obj: str, rec: dict[str, Any]) -> str | None:
    value = rec.get("Trengo_Id__c")
    return f"{obj}:{value}" if value else None


def _tidio_marker(obj: str, rec: dict[str, Any]) -> str | None:
    if obj == "contact":
        return f"contact:{rec['distinct_id']}" if rec.get("distinct_id") else None
    if obj == "ticket":
        m = _TIDIO_MARK.search(rec.get("subject") or "")
        return f"ticket:{m.group(0)}" if m else None
    if obj == "ticket_message":
        m = _TIDIO_MARK.search(rec.get("message_content") or "")
        return f"message:{rec['ticket_id']}:{m.group(0)}" if m else None
    return None


@dataclass(frozen=True)
class DestinationFacts:
    records: Callable[[dict[str, Any]], dict[str, dict[str, dict[str, Any]]]]
    marker: Callable[[str, dict[str, Any]], str | None]
    bookkeeping: frozenset[str] = frozenset()  # snapshot keys that are not the destination's data
    checkable: Callable[[str, str], bool] = lambda obj, destination_id: True  # noqa: E731


DESTINATIONS = {
    "salesforce": DestinationFacts(_salesforce_records, _salesforce_marker, checkable=_salesforce_checkable),
    "tidio": DestinationFacts(_tidio_records, _tidio_marker, frozenset({"requests", "deleted"})),
}


def data_of(destination: str, snap: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snap.items() if k not in DESTINATIONS[destination].bookkeeping}


# --------------------------------------------------------------------------------------------------
# A migration on fresh emulators
# --------------------------------------------------------------------------------------------------


@dataclass
class ChildRun:
    job: str
    returncode: int
    killed: bool
    seconds: float
    fired_on: str | None
    output: str


@dataclass
class Rig:
    pair: Any
    src: Any
    dst: Any
    home: Path
    dagster_home: Path
    env: dict[str, str]
    src_tap: RequestTap
    dst_tap: RequestTap
    base: Path | None = None  # the scratch directory holding home and dagster_home, removed by stop()
    output: list[str] = field(default_factory=list)
    _instance: Any = None

    @property
    def destination(self) -> str:
        return self.pair.destination.name

    @contextlib.contextmanager
    def environ(self) -> Iterator[None]:
        """The rig's environment in os.environ (the engine reads settings from there), restored after."""
        saved = dict(os.environ)
        os.environ.update(self.env)
        os.environ.pop("MIGRATION_STORE_URL", None)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def store(self) -> Any:
        from migration_assets.store import MigrationStore

        return MigrationStore(f"sqlite:///{self.home / 'store.sqlite'}")

    def run(self, job: str, **kw: Any) -> int:
        """A job in this process, as the CLI runs it."""
        import dagster as dg

        from migration_assets.execution import run_job

        with self.environ():
            if self._instance is None:
                self._instance = dg.DagsterInstance.from_config(str(self.dagster_home))
            return run_job(self.pair, job, echo=self.output.append, instance=self._instance, **kw)

    def spawn(self, job: str, tripwire: Tripwire | None = None, timeout: float = 600) -> ChildRun:
        """``helpdesk-migrate run --job JOB`` in a child process (its own process group, so a kill takes
        every process of the run), optionally killed by ``tripwire``."""
        cli = Path(sys.executable).with_name("helpdesk-migrate")
        cmd = [str(cli)] if cli.exists() else [sys.executable, "-c", "from migration_assets.cli import run; run()"]
        cmd += ["run", "--source", self.pair.source.name, "--destination", self.destination, "--job", job]
        env = {**os.environ, **self.env}
        env.pop("MIGRATION_STORE_URL", None)
        log = self.home / f"child-{job}-{time.monotonic_ns()}.log"
        started = time.monotonic()
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    cwd=str(self.home))
            if tripwire:
                tripwire.arm(proc.pid)
            try:
                code = proc.wait(timeout=timeout)
            finally:
                if tripwire:
                    tripwire.disarm()
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        return ChildRun(job, code, code == -signal.SIGKILL, time.monotonic() - started,
                        tripwire.fired_on if tripwire else None, log.read_text(errors="replace")[-4000:])

    def approve_all(self) -> None:
        from migration_assets import gates

        with self.environ():
            store = self.store()
            for kind in ("mapping", "preflight", "sample"):
                waive = "reliability campaign: the sample job has its own test" if kind == "sample" else None
                ok, message = gates.approve(store, self.pair.name, self.pair.source.name, self.destination, kind,
                                            by="reliability", waive_reason=waive)
                assert ok, message
            store.dispose()

    def snapshot(self) -> dict[str, Any]:
        return data_of(self.destination, self.dst.snapshot())

    def stop(self) -> None:
        if self._instance is not None:
            self._instance.dispose()
        self.src.stop()
        self.dst.stop()
        if self.base is not None and not os.environ.get(KEEP_ENV):
            shutil.rmtree(self.base, ignore_errors=True)


def start_rig(destination: str, *, seed: int = SEED, size: int = CI_SIZE, source: str = "trengo",
              env: dict[str, str] | None = None, destination_options: dict[str, Any] | None = None,
              source_options: dict[str, Any] | None = None,
              provision: Callable[[Any], dict[str, list[dict[str, Any]]]] | None = None,
              executor: str = "in_process") -> Rig:
    """Fresh emulators of the pair (destination provisioned with the source's people, as the demo does, plus
    whatever ``provision(src)`` adds), a fresh migration home and Dagster home."""
    from migration_assets.demo import demo_settings, provisioning
    from migration_assets.factory import Pair
    from migration_assets.registry import default_registry

    reg = default_registry()
    pair = Pair(reg.source(source), reg.destination(destination))
    base = scratch_dir(f"rel-{destination}-")
    home, dagster_home = base / "migration", base / "dagster_home"
    home.mkdir()
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    src = emulator_for(pair.source).start(seed=seed, size=size, port=0, rate_limit=FAST, **(source_options or {}))
    existing = provisioning(src)
    for key, records in (provision(src) if provision else {}).items():
        existing[key] = existing.get(key, []) + records
    dst = emulator_for(pair.destination).start(seed=seed, size=size, port=0, rate_limit=FAST * 10, existing=existing,
                                          **(destination_options or {}))
    src_tap, dst_tap = RequestTap(src), RequestTap(dst)
    full_env = {**src.env(), **dst.env(), **demo_settings(dst), "MIGRATION_HOME": str(home),
                "DAGSTER_HOME": str(dagster_home), "MIGRATION_EXECUTOR": executor, **(env or {})}
    return Rig(pair, src, dst, home, dagster_home, full_env, src_tap, dst_tap, base)


# --------------------------------------------------------------------------------------------------
# What a finished migration must look like
# --------------------------------------------------------------------------------------------------


def new_records(destination: str, before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, dict]]:
    """Records in ``after`` that were not in ``before``, per destination object."""
    read = DESTINATIONS[destination].records
    b, a = read(before), read(after)
    return {obj: {i: r for i, r in recs.items() if i not in b.get(obj, {}) and _primary(r, i)}
            for obj, recs in a.items()}


def _primary(record: dict[str, Any], key: str) -> bool:
    """False for a second key of a record indexed twice (a Salesforce field by Id and by full name)."""
    return record.get("Id", key) == key


def marker_duplicates(destination: str, created: dict[str, dict[str, dict]]) -> dict[str, int]:
    """Per object: how many new records repeat another new record's migration marker."""
    mark = DESTINATIONS[destination].marker
    out: dict[str, int] = {}
    for obj, recs in created.items():
        seen = Counter(m for r in recs.values() if (m := mark(obj, r)))
        extra = sum(n - 1 for n in seen.values() if n > 1)
        if extra:
            out[obj] = extra
    return out


@dataclass
class Baseline:
    """A clean run of the same workspace: what every crashed or faulted run must end up equal to."""

    new_per_object: dict[str, int]
    marker_dups: dict[str, int]
    accounts: dict[str, dict[str, int]]
    staged: dict[str, int]
    source_requests_discover: int
    destination_writes_full: int
    seconds: float
    run_problems: dict[str, set[str]] = field(default_factory=dict)  # job -> failed steps and ERROR checks


def accounts(rig: Rig) -> dict[str, dict[str, int]]:
    from migration_assets.runtime import reconcile

    with rig.environ():
        store = rig.store()
        out = {c: reconcile(store, rig.pair.source.name, rig.destination, c).as_dict() for c in rig.pair.loadable()}
        store.dispose()
    return {c: {k: v for k, v in d.items() if isinstance(v, int)} for c, d in out.items()}


def staged_counts(rig: Rig) -> dict[str, int]:
    with rig.environ():
        store = rig.store()
        out = {o.canonical: store.count_staged(rig.pair.source.name, o.canonical) for o in rig.pair.source.objects()}
        store.dispose()
    return out


def take_baseline(destination: str, *, seed: int = SEED, size: int = CI_SIZE, env: dict[str, str] | None = None) -> Baseline:
    started = time.monotonic()
    rig = start_rig(destination, seed=seed, size=size, env=env)
    try:
        assert rig.run("discover") in (0, 1), "\n".join(rig.output)
        problems = {"discover": run_problems(rig.output)}
        src_requests = rig.src_tap.total()
        rig.approve_all()
        before = rig.snapshot()
        rig.dst_tap.reset()
        rig.output.clear()
        assert rig.run("full") in (0, 1), "\n".join(rig.output)
        problems["full"] = run_problems(rig.output)
        writes = rig.dst_tap.total(WRITE_METHODS)
        created = new_records(destination, before, rig.snapshot())
        return Baseline({o: len(r) for o, r in created.items() if r}, marker_duplicates(destination, created),
                        accounts(rig), staged_counts(rig), src_requests, writes, time.monotonic() - started,
                        problems)
    finally:
        rig.stop()


_STEP_FAILED = re.compile(r"^\s*step (\S+) failed")
_CHECK_ERROR = re.compile(r"^\s*check (\S+) ERROR")


_VARYING = re.compile(r"/\S+|\d+")


def run_problems(output: list[str]) -> set[str]:
    """What went wrong in a run (failed steps and ERROR checks with their one-line causes, numbers and paths
    blanked), from its summary lines."""
    return {_VARYING.sub("#", line.strip()) for line in output if _STEP_FAILED.match(line) or _CHECK_ERROR.match(line)}


def new_run_problems(output: list[str], code: int, baseline: Baseline, job: str) -> list[str]:
    """Failed steps or checks the clean run of the same job did not have, with their one-line causes."""
    known = baseline.run_problems.get(job, set())
    lines = [line.strip() for line in output
             if (_STEP_FAILED.match(line) or _CHECK_ERROR.match(line)) and _VARYING.sub("#", line.strip()) not in known]
    if code not in (0, 1):
        lines.append(f"{job} exited {code}")
    return [f"{job} run: {line[:400]}" for line in lines[:6]]


@dataclass
class Audit:
    problems: list[str]
    duplicates: int
    missing: int
    id_map_checked: int
    figures: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.problems


def staging_problems(rig: Rig) -> list[str]:
    """After an extraction: every seeded source record is staged or rejected with a reason, none twice, and no
    extraction is left half-way (cursor cleared)."""
    problems = []
    with rig.environ():
        store = rig.store()
        for obj in rig.pair.source.objects():
            try:
                seeded = {str(r["id"]) for r in rig.src.seed_records(obj.canonical)}
            except Exception:  # noqa: BLE001 - a source without seeded records for this object
                continue
            staged = store.staged_ids(rig.pair.source.name, obj.canonical)
            rejected = store.quarantined_ids(rig.pair.source.name, obj.canonical, stage="extract")
            missing = seeded - staged - rejected
            unknown = staged - seeded
            if missing:
                problems.append(f"{obj.canonical}: {len(missing)} seeded record(s) neither staged nor rejected, "
                                f"e.g. {sorted(missing)[:3]}")
            if unknown:
                problems.append(f"{obj.canonical}: {len(unknown)} staged record(s) the source never had")
            cursor, _ = store.get_cursor(rig.pair.source.name, obj.canonical)
            if cursor is not None:
                problems.append(f"{obj.canonical}: the extraction cursor was left at {cursor}")
        store.dispose()
    return problems


def audit(rig: Rig, before: dict[str, Any], baseline: Baseline, *, strict_accounts: bool = True) -> Audit:
    """The destination after a finished migration, against the clean baseline:

    - no duplicate: as many new records per destination object as the clean run made, and no migration
      marker repeated more often than in the clean run;
    - nothing missing: every record accounted for (extracted = loaded + quarantined + skipped, nothing
      unaccounted), and with ``strict_accounts`` as many loaded and as many new records as the clean run
      (without it, as under faults, records quarantined with a reason may be missing: counted, no problem);
    - a consistent id map: every destination id it names exists, and no destination record is claimed by two
      source records unless all but one of them are links to it."""
    dest = rig.destination
    after = rig.snapshot()
    created = new_records(dest, before, after)
    problems: list[str] = []
    duplicates = missing = 0
    per_object = {o: len(r) for o, r in created.items() if r}
    for obj in sorted(set(per_object) | set(baseline.new_per_object)):
        got, want = per_object.get(obj, 0), baseline.new_per_object.get(obj, 0)
        if got > want:
            duplicates += got - want
            problems.append(f"{obj}: {got} new record(s), the clean run made {want} ({got - want} duplicate(s))")
        elif got < want:
            missing += want - got
            if strict_accounts:
                problems.append(f"{obj}: {got} new record(s), the clean run made {want} ({want - got} missing)")
    dups = marker_duplicates(dest, created)
    for obj in sorted(set(dups) | set(baseline.marker_dups)):
        if dups.get(obj, 0) > baseline.marker_dups.get(obj, 0):
            problems.append(f"{obj}: {dups[obj]} record(s) repeat a migration marker (clean run: "
                            f"{baseline.marker_dups.get(obj, 0)})")
    acc = accounts(rig)
    for canonical, a in acc.items():
        if a["unaccounted"]:
            problems.append(f"{canonical}: {a['unaccounted']} record(s) neither loaded nor quarantined nor skipped")
        b = baseline.accounts.get(canonical, {})
        if a["extracted"] != b.get("extracted"):
            problems.append(f"{canonical}: extracted {a['extracted']}, the clean run {b.get('extracted')}")
        if strict_accounts and a["loaded"] != b.get("loaded"):
            problems.append(f"{canonical}: loaded {a['loaded']}, the clean run {b.get('loaded')}")
    checked, map_problems = id_map_problems(rig, after)
    problems += map_problems
    return Audit(problems, duplicates, missing, checked, {"new_per_object": per_object, "accounts": acc})


def id_map_problems(rig: Rig, snapshot: dict[str, Any]) -> tuple[int, list[str]]:
    facts = DESTINATIONS[rig.destination]
    records = facts.records(snapshot)
    with rig.environ():
        store = rig.store()
        entries = store.id_map_entries(rig.pair.source.name, rig.destination)
        store.dispose()
    problems: list[str] = []
    checked = 0
    claims: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        refs = [(e["destination_object"], e["destination_id"])] + [tuple(x) for x in e["extra_ids"]]
        for obj, did in refs:
            if obj in records and did is not None and facts.checkable(obj, str(did)):
                checked += 1
                if str(did) not in records[obj]:
                    problems.append(f"id map: {e['object']} {e['source_id']} -> {obj} {did}, which does not exist")
        if e["destination_id"]:
            claims.setdefault((e["object"], str(e["destination_id"])), []).append(e)
    for (obj, did), owners in claims.items():
        if sum(1 for o in owners if o["action"] != "linked") > 1:
            problems.append(f"id map: {obj} -> {did} is claimed by {len(owners)} source records "
                            f"{[o['source_id'] for o in owners][:4]}")
    return checked, problems
