"""A tiny source and destination defined in the tests, proving the engine end to end without any real
platform: chunked extraction with cursors, GX checks, quarantine, gates, loads, reconciliation, rollback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migration_assets.hookspecs import (
    EVERY_RECORD,
    Change,
    CheckFinding,
    CheckSpec,
    Chunk,
    DestinationObject,
    LoadOutcome,
    Preflight,
    Rejected,
    Setting,
    SourceObject,
    hookimpl,
)

AGENTS = [
    {"id": "a1", "email": "ann@example.com", "name": "Ann", "is_active": True},
    {"id": "a2", "email": "bob@example.com", "name": "Bob", "is_active": False},
]
CONTACTS = [
    {"id": "c1", "name": "Clean One", "email": "one@example.com"},
    {"id": "c2", "name": "Dirty Email", "email": "not-an-email"},
    {"id": "c3", "name": "Clean Three", "email": "three@example.org"},
    {"id": "c4", "name": "REFUSE me", "email": "four@example.org"},
    {"id": "c5", "name": "Phone Only", "phone": "+31 6 1234 5678"},
]
CONVERSATIONS = [
    {"id": "t1", "status": "open", "contact_id": "c1", "assignee_id": "a1", "created_at": "2024-01-02T10:00:00+00:00"},
    {"id": "t2", "status": "closed", "contact_id": "c3", "assignee_id": "a2", "created_at": "2024-01-03T10:00:00+00:00"},
]
RAW_UNMAPPABLE = {"id": "t3", "status": "???"}


@dataclass
class TinyWorkspace:
    agents: list[dict[str, Any]] = field(default_factory=lambda: [dict(r) for r in AGENTS])
    contacts: list[dict[str, Any]] = field(default_factory=lambda: [dict(r) for r in CONTACTS])
    conversations: list[dict[str, Any]] = field(default_factory=lambda: [dict(r) for r in CONVERSATIONS])
    fail_after_chunks: int | None = None  # simulate a crash mid-extract
    requests: int = 0


class TinySourceConnection:
    def __init__(self, ws: TinyWorkspace, chunk_size: int = 2):
        self.ws, self.chunk_size = ws, chunk_size

    def extract(self, canonical, *, context, cursor=None, since=None):
        rows = getattr(self.ws, canonical)
        offset = (cursor or {}).get("offset", 0)
        chunks = 0
        while offset < len(rows):
            if self.ws.fail_after_chunks is not None and chunks >= self.ws.fail_after_chunks:
                raise ConnectionError("simulated crash mid-extract")
            self.ws.requests += 1
            batch = rows[offset: offset + self.chunk_size]
            offset += len(batch)
            rejected = []
            if canonical == "conversations" and offset >= len(rows):
                rejected.append(Rejected("t3", reason="status '???' is not a known ticket status", rule="status-map",
                                         fix="map the status in the source", raw=RAW_UNMAPPABLE))
            chunks += 1
            # What the tiny source "changed" while mapping: the phone-only contact's number, and (for every
            # conversation) the time zone.
            changes = {r["id"]: [Change("phone-normalised", "phone +31 6 1234 5678 written in E.164")]
                       for r in batch if r.get("phone")}
            if canonical == "conversations":
                changes[EVERY_RECORD] = [Change("times-converted-to-utc", "local times stored in UTC")]
            yield Chunk([dict(r) for r in batch], {"offset": offset} if offset < len(rows) else None, rejected,
                        changes)
        if not rows:
            yield Chunk([], None)

    def close(self):
        pass


class TinySource:
    name = "tinysrc"
    title = "Tiny source"
    version = "0.0.1"

    def __init__(self, ws: TinyWorkspace | None = None):
        self.ws = ws or TinyWorkspace()

    def objects(self):
        return [SourceObject("agents"), SourceObject("contacts"),
                SourceObject("conversations", depends_on=("contacts", "agents"))]

    def settings(self):
        return [Setting("TINYSRC_TOKEN", "token of the tiny source", required=True, secret=True)]

    def connect(self, env):
        return TinySourceConnection(self.ws)


@dataclass
class TinyOrg:
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 1
    preflight_items: list[dict[str, Any]] = field(default_factory=list)
    # A conversation whose contact did not load: "pending" loads it unlinked with a pending Change (degrade);
    # "fail" refuses it as collateral of the contact (a destination that cannot degrade).
    missing_contact: str = "pending"
    loads: list[tuple[str, str]] = field(default_factory=list)  # (object, source id) of every record sent
    counted: dict[str, int] = field(default_factory=dict)  # object -> times its count was read

    def add(self, obj: str, rec: dict[str, Any]) -> str:
        rid = f"{obj[:3].upper()}{self.next_id:04d}"
        self.next_id += 1
        self.records.setdefault(obj, {})[rid] = rec
        return rid


class TinyDestinationConnection:
    def __init__(self, org: TinyOrg):
        self.org = org

    def load(self, canonical, records, *, context):
        out = []
        for r in records:
            self.org.loads.append((canonical, r["id"]))
            if canonical == "contacts" and "REFUSE" in (r.get("name") or ""):
                out.append(LoadOutcome(r["id"], "failed", reason="Name: refused by a validation rule",
                                       rule="FIELD_CUSTOM_VALIDATION_EXCEPTION", fix="rename the contact"))
                continue
            changes = []
            if canonical == "conversations":
                owner = context.lookup("agents", [r.get("assignee_id")]).get(r.get("assignee_id"))
                contact = context.lookup("contacts", [r.get("contact_id")]).get(r.get("contact_id"))
                r = {**r, "owner": owner, "contact": contact}
                if r.get("contact_id") and contact is None:
                    if self.org.missing_contact == "fail":
                        out.append(LoadOutcome(r["id"], "failed", reason=f"contact {r['contact_id']} did not load",
                                               rule="contact-missing", fix="fix the contact; this one follows",
                                               caused_by=f"contacts/{r['contact_id']}"))
                        continue
                    changes.append(Change("contact-missing", f"link to contact {r['contact_id']} pending",
                                          field="contact_id", original=r["contact_id"],
                                          kept_in="the conversation's source_id", pending=True,
                                          waits_for=f"contacts/{r['contact_id']}"))
            if canonical == "contacts" and len(r.get("name") or "") > 10:  # the tiny org's name limit
                r = {**r, "name": r["name"][:10]}
                changes.append(Change("text-truncated", "name cut to the tiny org's 10 characters"))
            prev = context.previous(canonical, [r["id"]]).get(r["id"])
            if prev:
                self.org.records[canonical][prev.destination_id] = dict(r)
                out.append(LoadOutcome(r["id"], "updated", prev.destination_id, canonical, changes=changes))
            else:
                out.append(LoadOutcome(r["id"], "created", self.org.add(canonical, dict(r)), canonical,
                                       changes=changes))
        return out

    def count(self, canonical):
        self.org.counted[canonical] = self.org.counted.get(canonical, 0) + 1  # what a count costs, asserted
        return len(self.org.records.get(canonical, {}))

    def rollback(self, canonical, entries, *, context):
        done = []
        for e in entries:
            if e["action"] == "created":
                self.org.records.get(canonical, {}).pop(e["destination_id"], None)
                done.append(e["source_id"])
        return done

    def evaluate_check(self, name, canonical, *, context):
        owners = {r.get("owner") for r in self.org.records.get("conversations", {}).values()}
        return CheckFinding(passed=None not in owners, description="every conversation has an owner")

    def preflight(self, *, context):
        if not self.org.preflight_items:
            return None
        return Preflight("# Pre-flight\n\n- " + "\n- ".join(i["what"] for i in self.org.preflight_items),
                         self.org.preflight_items, fingerprint=str(len(self.org.preflight_items)),
                         requires_acknowledgement=True)

    def close(self):
        pass


class TinyDestination:
    name = "tinydst"
    title = "Tiny destination"
    version = "0.0.1"

    def __init__(self, org: TinyOrg | None = None):
        self.org = org or TinyOrg()

    def objects(self):
        return [
            DestinationObject("agents", targets=("Person",)),
            DestinationObject("contacts", targets=("Customer",)),
            DestinationObject("conversations", depends_on=("contacts", "agents"), targets=("Ticket",),
                              checks=(CheckSpec("owners_resolved", "every conversation has an owner"),)),
        ]

    def settings(self):
        return []

    def connect(self, env):
        return TinyDestinationConnection(self.org)


class TinyRunningEmulator:
    """The tiny platforms live in memory: "serving" them is handing out their workspace."""

    def __init__(self, name: str, ws: TinyWorkspace | None):
        self.name, self.ws = name, ws
        self.url = f"memory://{name}"

    def env(self) -> dict[str, str]:
        return {f"{self.name.upper()}_TOKEN": "tiny"}

    def seed_records(self, canonical: str) -> list[dict[str, Any]]:
        return [dict(r) for r in getattr(self.ws, canonical, [])] if self.ws else []

    def stop(self) -> None:
        pass


class TinyEmulator:
    """The registered emulator of a tiny platform (``register_emulators``), as a real plugin's emulator
    package registers its own."""

    def __init__(self, name: str, ws: TinyWorkspace | None = None):
        self.name, self.ws = name, ws

    def profiles(self) -> dict[str, str]:
        return {"default": "the tiny workspace as it is"}

    def start(self, *, seed: int = 42, size: int = 100, port: int = 0, profile: str = "default",
              **options: Any) -> TinyRunningEmulator:
        return TinyRunningEmulator(self.name, self.ws)


class TinyPlugin:
    """Registers the tiny pair (and its emulators) through the real hooks."""

    def __init__(self, source: TinySource, destination: TinyDestination):
        self.source, self.destination = source, destination

    @hookimpl
    def register_emulators(self, register):
        if self.source is not None:
            register(TinyEmulator(self.source.name, self.source.ws))
        if self.destination is not None:
            register(TinyEmulator(self.destination.name))

    @hookimpl
    def register_sources(self, register):
        register(self.source)

    @hookimpl
    def register_destinations(self, register):
        register(self.destination)


class SecondTinySource(TinySource):
    """A second source beside the first, for the code location of many sources and destinations: it reads no
    conversations, so its pairs load fewer objects."""

    name = "tinysrc2"
    title = "Second tiny source"

    def objects(self):
        return [SourceObject("agents"), SourceObject("contacts")]

    def settings(self):
        return [Setting("TINYSRC2_TOKEN", "token of the second tiny source", required=True, secret=True)]


class SecondTinyDestination(TinyDestination):
    """A second destination beside the first."""

    name = "tinydst2"
    title = "Second tiny destination"


def two_by_two_plugins() -> list[TinyPlugin]:
    """Two tiny sources and two tiny destinations, registered through the real hooks (every pair by default)."""
    return [TinyPlugin(TinySource(), TinyDestination()), TinyPlugin(SecondTinySource(), SecondTinyDestination())]
