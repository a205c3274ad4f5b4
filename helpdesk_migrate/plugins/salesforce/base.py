"""What every object loader shares: outcomes with reasons a person understands, the existence checks that
make insert-only objects idempotent, owner resolution, and compare-before-update.

Idempotency of insert-only objects (EmailMessage, CaseComment, Task, ContentVersion, Knowledge, and Cases
inserted with audit fields): a run may die after Salesforce created records but before the id map was
written. Before a chunk is inserted, records already there are found by their external id
(``<prefix>_Id__c IN (...)``, one query per URL-sized slice, values escaped) and reported as unchanged.
The lookup is skipped while the org held none of this migration's records of that object when the
connection first looked (a COUNT) and every record since was created by this connection itself; a unique
external id still refuses a duplicate (DUPLICATE_VALUE), which is then read as "already there".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from helpdesk_migrate.sdk import Change, ConfigurationError, LoadOutcome

from .client import SalesforceClient
from .schema import Schema
from .settings import SalesforceConfig
from .soql import quote
from .writer import RecordWriter, WriteResult

FIXES = {
    "field-mapping": "correct the value in the source, or point the field map (or SALESFORCE_CONTACT_FIELD_MAP / "
                     "SALESFORCE_CASE_FIELD_MAP) at a field that can hold it, then re-run",
    "REQUIRED_FIELD_MISSING": "fill the field in the source record (or map a value for it), then re-run",
    "STRING_TOO_LONG": "shorten the value in the source, or widen the Salesforce field, then re-run",
    "INVALID_EMAIL_ADDRESS": "correct the email address in the source, then re-run",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "a validation rule refused it: deactivate the rule or add a bypass for the "
                                         "migration user (see the pre-flight report), then re-run",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "add the value to the picklist in Setup or map it to an existing "
                                               "value, then re-run",
    "DUPLICATES_DETECTED": "a duplicate rule blocked it: set the rule's action on create to Allow for the migration "
                           "or merge the records, then re-run",
    "DUPLICATE_VALUE": "another record already holds this unique value; correct the source or the existing record",
    "INVALID_FIELD_FOR_INSERT_UPDATE": "give the migration user edit access to the field (audit fields need "
                                      "'Set Audit Fields upon Record Creation'), then re-run",
    "INACTIVE_OWNER_OR_USER": "enable 'Update Records with Inactive Owners' for the migration user, or set "
                              "SALESFORCE_FALLBACK_OWNER_ID, then re-run",
    "UNABLE_TO_LOCK_ROW": "other processes kept the records locked through every retry; re-run when the org is "
                          "quieter",
    "INVALID_CROSS_REFERENCE_KEY": "a record it points at does not exist in Salesforce; load that first, then re-run",
    "FIELD_INTEGRITY_EXCEPTION": "see Salesforce's message; correct the referenced record or the org setup",
    "API_BUDGET": "raise SALESFORCE_API_BUDGET/SALESFORCE_API_RESERVE or wait; re-running sends only what is missing",
    "REQUEST_LIMIT_EXCEEDED": "wait for the daily API allowance to recover (rolling 24 hours) and re-run",
    "UNAVAILABLE": "re-run: records are looked up before anything is sent again",
    "STORAGE_LIMIT_EXCEEDED": "free data or file storage in the org, then re-run",
    "INSUFFICIENT_ACCESS_OR_READONLY": "the record can't be changed after creation; nothing to do unless it must be "
                                       "recreated",
}
DEFAULT_FIX = "read Salesforce's message, correct the record or the org, then re-run"
ACTIVE_ACTIONS = ("created", "updated", "unchanged")


def fix_for(code: str | None) -> str:
    return FIXES.get(code or "", DEFAULT_FIX)


def ok(source_id: str, action: str, obj: str, dest_id: str | None, *, extra: Iterable[tuple[str, str]] = (),
       before: dict[str, Any] | None = None, reason: str | None = None) -> LoadOutcome:
    return LoadOutcome(source_id, action, destination_id=dest_id, destination_object=obj,  # type: ignore[arg-type]
                       before_image=before, extra_ids=[tuple(x) for x in extra], reason=reason)  # type: ignore[misc]


def fail(source_id: str, rule: str, reason: str, fix: str | None = None, obj: str | None = None) -> LoadOutcome:
    return LoadOutcome(source_id, "failed", destination_object=obj, reason=reason, rule=rule, fix=fix or fix_for(rule))


def skip(source_id: str, reason: str, rule: str = "not-migrated", fix: str = "") -> LoadOutcome:
    return LoadOutcome(source_id, "skipped", reason=reason, rule=rule, fix=fix)


def from_write(source_id: str, res: WriteResult, obj: str, what: str = "") -> LoadOutcome:
    subject = f"{what}: " if what else ""
    return fail(source_id, res.code or "WRITE_FAILED", f"Salesforce refused the {obj}: {subject}{res.reason}",
                obj=obj)


_DUP_ID = re.compile(r"record with id: (\w{15,18})")


def duplicate_of(res: WriteResult, id_field: str) -> str | None:
    """The id of the record that already holds our external id, from a DUPLICATE_VALUE message."""
    if res.code != "DUPLICATE_VALUE" or id_field not in (res.message or "") + " ".join(res.fields):
        return None
    m = _DUP_ID.search(res.message or "")
    return m.group(1) if m else None


def parse_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        text = str(value).replace("Z", "+00:00")
        if re.search(r"[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def same(sf_type: str, current: Any, wanted: Any) -> bool:
    """Does Salesforce's stored value equal the value we would write (types normalised)?"""
    if current in (None, "") and wanted in (None, ""):
        return True
    if current in (None, "") or wanted in (None, ""):
        return False
    if sf_type == "datetime":
        a, b = parse_dt(current), parse_dt(wanted)
        return a is not None and b is not None and int(a.timestamp()) == int(b.timestamp())
    if sf_type in ("double", "int", "currency", "percent"):
        try:
            return abs(float(current) - float(wanted)) < 1e-9
        except (TypeError, ValueError):
            return False
    if sf_type == "multipicklist":
        return sorted(str(current).split(";")) == sorted(str(wanted).split(";"))
    if sf_type == "boolean":
        return bool(current) == bool(wanted)
    return str(current) == str(wanted)


@dataclass
class RunState:
    """Findings of this connection's loads, for checks and reports."""

    unmatched_agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    matched_agents: dict[str, str] = field(default_factory=dict)
    fallback_owned: list[str] = field(default_factory=list)
    truncated: list[dict[str, Any]] = field(default_factory=list)
    unresolved_images: list[dict[str, Any]] = field(default_factory=list)
    inline_images: list[dict[str, Any]] = field(default_factory=list)
    knowledge_inventory: list[dict[str, Any]] = field(default_factory=list)
    uncategorized_articles: list[dict[str, Any]] = field(default_factory=list)
    channel_inventory: list[dict[str, Any]] = field(default_factory=list)
    field_maps: dict[str, dict[str, Any]] = field(default_factory=dict)  # canonical -> how the map was applied
    email_tasks: int = 0  # Tasks Enhanced Email created for the EmailMessages this connection inserted
    linked_contacts: int = 0
    ambiguous_links: list[dict[str, Any]] = field(default_factory=list)
    # (canonical, source id) -> what a load changed on the way; handed to the engine with the record's outcome
    changes: dict[tuple[str, str], list[Change]] = field(default_factory=dict)

    def note_change(self, canonical: str, source_id: str, rule: str, detail: str, *, field: str | None = None,
                    original: Any = None, kept_in: str | None = None) -> None:
        self.changes.setdefault((canonical, str(source_id)), []).append(
            Change(rule, detail, field=field, original=original, kept_in=kept_in))
    loaded: set[str] = field(default_factory=set)


class Services:
    """Per-connection services shared by the object loaders."""

    def __init__(self, client: SalesforceClient, cfg: SalesforceConfig):
        self.client = client
        self.cfg = cfg
        self.writer = RecordWriter(client, cfg)
        self.schema = Schema(client, cfg)
        self.state = RunState()
        self._clean: dict[str, bool] = {}
        self._created: dict[str, dict[str, str]] = {}
        self._fallback: tuple[str | None, str | None] | None = None
        self._inactive_owner_ok: bool | None = None
        self._user_active: dict[str, bool] = {}

    @property
    def id_field(self) -> str:
        return self.cfg.id_field

    # -- existence ------------------------------------------------------------------------------------

    def is_clean(self, obj: str, count_soql: str | None = None) -> bool:
        """True when the org held none of our records of ``obj`` when this connection first looked."""
        if obj not in self._clean:
            soql = count_soql or f"SELECT COUNT() FROM {obj} WHERE {self.id_field} != null"
            self._clean[obj] = self.client.count(soql) == 0
        return self._clean[obj]

    def mark_dirty(self, obj: str) -> None:
        self._clean[obj] = False

    def remember(self, obj: str, key: str, sf_id: str) -> None:
        self._created.setdefault(obj, {})[key] = sf_id

    def existing(self, obj: str, keys: Sequence[str], *, fields: Sequence[str] = (), force: bool = False
                 ) -> dict[str, dict[str, Any]]:
        """Records of ``obj`` already holding these external ids: {key: record}."""
        keys = [k for k in dict.fromkeys(keys) if k]
        if not keys:
            return {}
        if not force and self.is_clean(obj):
            mine = self._created.get(obj, {})
            return {k: {"Id": mine[k], self.id_field: k} for k in keys if k in mine}
        cols = ", ".join(dict.fromkeys(["Id", self.id_field, *fields]))
        out: dict[str, dict[str, Any]] = {}
        lower = {k.lower(): k for k in keys}
        for rec in self.client.query_in(f"SELECT {cols} FROM {obj} WHERE {self.id_field} IN {{values}}", keys):
            key = lower.get(str(rec.get(self.id_field) or "").lower())
            if key is not None:
                out[key] = rec
        return out

    def by_ids(self, obj: str, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        ids = [i for i in dict.fromkeys(ids) if i]
        if not ids:
            return {}
        cols = ", ".join(dict.fromkeys(["Id", *fields]))
        return {r["Id"]: r for r in self.client.query_in(f"SELECT {cols} FROM {obj} WHERE Id IN {{values}}", ids)}

    def insert_once(self, obj: str, items: Sequence[tuple[str, dict[str, Any]]], *, match_on: str | None = None,
                    recheck: Callable[[list[str]], dict[str, str]] | None = None) -> dict[str, WriteResult]:
        """Insert records keyed by their external id; a duplicate of the external id counts as already there
        (result ok, created False)."""
        match_on = match_on or self.id_field
        if recheck is None:
            def recheck(keys: list[str]) -> dict[str, str]:
                return {k: r["Id"] for k, r in self.existing(obj, keys, force=True).items()}
        results = self.writer.insert(obj, items, match_on=match_on, recheck=recheck)
        for key, res in results.items():
            if res.ok and res.id:
                self.remember(obj, key, res.id)
                continue
            dup = duplicate_of(res, self.id_field)
            if dup:
                self.mark_dirty(obj)
                results[key] = WriteResult(key, True, id=dup, created=False)
        return results

    # -- comparison -----------------------------------------------------------------------------------

    def diff(self, obj: str, current: Mapping[str, Any], wanted: Mapping[str, Any],
             skip: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
        """(changes to write, before-image of those fields); audit and non-updateable fields never change."""
        meta = self.client.fields(obj)
        skipped = set(skip)
        changes, before = {}, {}
        for name, value in wanted.items():
            m = meta.get(name)
            if name in skipped or name == "Id" or m is None or not m.get("updateable"):
                continue
            if not same(m.get("type", "string"), current.get(name), value):
                changes[name] = value
                before[name] = current.get(name)
        return changes, before

    def picklist_problem(self, obj: str, name: str, value: Any, record: Mapping[str, Any], *,
                         extend: bool = True) -> str | None:
        """Why ``value`` can't be stored in the picklist, after adding missing values where allowed
        (``extend=False``: an admin's picklist the field map chose, which the migration never changes)."""
        why = self.schema.check_value(obj, name, value, record)
        if why is None:
            return None
        if not extend or self.schema.add_values(obj, name, [v for v in str(value).split(";") if v]):
            return why
        return self.schema.check_value(obj, name, value, record)

    # -- the confirmed field map ----------------------------------------------------------------------

    def field_plan(self, canonical: str, context: Any) -> Any:
        """How the confirmed field map places ``canonical``'s values (recorded for the field_map check)."""
        from .fieldmap import confirmed_entries, field_plan

        plan = field_plan(self.client, self.cfg, canonical, confirmed_entries(context, canonical))
        self.state.field_maps[canonical] = plan.summary()
        return plan

    # -- permissions and owners -------------------------------------------------------------------------

    def audit_allowed(self, obj: str) -> bool:
        """Describe tells: with 'Set Audit Fields upon Record Creation', CreatedDate is createable."""
        meta = self.client.fields(obj).get("CreatedDate") or {}
        return bool(meta.get("createable"))

    def createable(self, obj: str, name: str) -> bool:
        return bool((self.client.fields(obj).get(name) or {}).get("createable"))

    def inactive_owner_allowed(self) -> bool:
        if self._inactive_owner_ok is None:
            c = self.client
            user = c.user_id()
            sets = [r["PermissionSetId"] for r in c.query_all(
                f"SELECT PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = {quote(user)}")]
            granted = list(c.query_in("SELECT Id FROM PermissionSet WHERE PermissionsUpdateWithInactiveOwner = true "
                                      "AND Id IN {values}", sets)) if sets else []
            self._inactive_owner_ok = bool(granted)
        return self._inactive_owner_ok

    def user_permission(self, permission: str) -> bool | None:
        """Does a permission set assigned to the API user grant ``permission`` (a PermissionSet field such as
        PermissionsManageUsers)? None when Salesforce won't say."""
        from simple_salesforce.exceptions import SalesforceError

        c = self.client
        if permission not in c.fields("PermissionSet"):
            return None
        try:
            sets = [r["PermissionSetId"] for r in c.query_all(
                f"SELECT PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = {quote(c.user_id())}")]
            return bool(sets) and bool(list(c.query_in(f"SELECT Id FROM PermissionSet WHERE {permission} = true AND "
                                                        "Id IN {values}", sets)))
        except SalesforceError:
            return None

    def users_active(self, ids: Sequence[str]) -> dict[str, bool]:
        wanted = [i for i in dict.fromkeys(ids) if i and i.startswith("005") and i not in self._user_active]
        for rec in self.by_ids("User", wanted, ["IsActive"]).values():
            self._user_active[rec["Id"]] = bool(rec.get("IsActive"))
        return {i: self._user_active.get(i, True) for i in ids if i}

    def fallback_owner(self) -> str | None:
        """SALESFORCE_FALLBACK_OWNER_ID resolved to an id (a User's email is looked up); a value that
        matches nothing is a configuration error, not a silent no-op."""
        if self._fallback is None:
            raw = self.cfg.fallback_owner
            if not raw:
                self._fallback = (None, None)
            elif "@" in raw:
                rows = self.client.query_all(f"SELECT Id, IsActive FROM User WHERE Email = {quote(raw)} OR "
                                             f"Username = {quote(raw)}")
                if not rows:
                    raise ConfigurationError("SALESFORCE_FALLBACK_OWNER_ID names an email no Salesforce User has")
                self._fallback = (rows[0]["Id"], raw)
            else:
                obj = "User" if raw.startswith("005") else "Group" if raw.startswith("00G") else None
                rows = self.client.query_all(f"SELECT Id FROM {obj} WHERE Id = {quote(raw)}") if obj else []
                if not rows:
                    raise ConfigurationError("SALESFORCE_FALLBACK_OWNER_ID must be the id of an existing User (005...) "
                                             "or Queue (00G...), or a User's email")
                self._fallback = (rows[0]["Id"], raw)
        return self._fallback[0]

    # -- files ----------------------------------------------------------------------------------------

    def files_dir(self, context: Any) -> Any:
        """Where the source stored downloaded files (the engine's files directory for this source)."""
        from pathlib import Path

        return Path(context.files_dir)


def lookup_many(context: Any, canonical: str, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = sorted({str(i) for i in ids if i})
    return context.lookup(canonical, wanted) if wanted else {}


def previous_ids(context: Any, canonical: str, ids: Sequence[str], obj: str | None = None) -> dict[str, str]:
    """Destination ids of earlier loads of these records (created/updated/unchanged rows)."""
    rows = context.previous(canonical, list(ids)) if ids else {}
    return {sid: e.destination_id for sid, e in rows.items()
            if e.destination_id and e.action in ACTIVE_ACTIONS and (obj is None or e.destination_object == obj)}
