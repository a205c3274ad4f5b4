"""The schema plan: the custom fields and picklist values a load needs, checked through describe and,
when ``SALESFORCE_CREATE_SCHEMA`` is on, created through the Tooling API.

A field created through the Tooling API is invisible to every profile until field-level security is
granted, so creation also grants read/edit through a "Helpdesk_Migration" permission set assigned to the
API user. With creation off, the plan is written for the admin and the load stops with a clear message.

Picklist values are validated before a record is sent (restricted values, inactive values, and
dependent picklists' ``validFor`` against the controlling value), so no record fails or is silently
blanked on an unmapped value.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simple_salesforce.exceptions import SalesforceError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from helpdesk_migrate.sdk import ConfigurationError

from .client import RETRY_ATTEMPTS, SalesforceUnavailable, error_code, error_message
from .originals import ORIGINAL_VALUES, ORIGINAL_VALUES_LENGTH
from .settings import SalesforceConfig
from .soql import quote

log = logging.getLogger("helpdesk_migrate.salesforce")
PERMISSION_SET = "Helpdesk_Migration"
MAX_PICKLIST_VALUES = 1000


class _GrantsLocked(Exception):
    """Some FieldPermissions rows were refused with UNABLE_TO_LOCK_ROW (not applied: safe to send again)."""

    def __init__(self, specs: Sequence[FieldSpec]):
        super().__init__(", ".join(s.full_name for s in specs))
        self.specs = list(specs)


@dataclass
class FieldSpec:
    object: str
    name: str
    metadata: dict[str, Any]
    purpose: str
    canonical: tuple[str, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.object}.{self.name}"

    @property
    def table(self) -> str:
        """The object the Tooling API creates the field on: Task/Event fields live on Activity."""
        return "Activity" if self.object in ("Task", "Event") else self.object

    @property
    def tooling_name(self) -> str:
        return f"{self.table}.{self.name}"

    def row(self) -> dict[str, Any]:
        meta = self.metadata
        kind = meta["type"] + (f"({meta['length']})" if "length" in meta else "")
        flags = [f for f, on in (("external id", meta.get("externalId")), ("unique", meta.get("unique")),
                                 ("restricted", (meta.get("valueSet") or {}).get("restricted"))) if on]
        return {"field": self.full_name, "type": kind + (f" [{', '.join(flags)}]" if flags else ""),
                "label": meta.get("label"), "purpose": self.purpose}


def _text(label: str, length: int = 255, **kw: Any) -> dict[str, Any]:
    return {"label": label, "type": "Text", "length": length, **kw}


def _external_id(label: str) -> dict[str, Any]:
    return _text(label, 255, externalId=True, unique=True, caseSensitive=False)


def _multi(label: str, values: Sequence[str] = ()) -> dict[str, Any]:
    return {"label": label, "type": "MultiselectPicklist", "visibleLines": 4, "valueSet": {
        "restricted": True, "valueSetDefinition": {"sorted": False, "value": [
            {"fullName": v, "label": v, "default": False} for v in values]}}}


def tag_field_spec(applies_to: str, prefix: str) -> FieldSpec:
    obj = "Contact" if applies_to == "contact" else "Case"
    return FieldSpec(obj, f"{prefix}_Tags__c", _multi(f"{prefix} tags"),
                     f"{'contact' if obj == 'Contact' else 'conversation'} tags as a multi-select picklist",
                     ("tags", "contacts" if obj == "Contact" else "conversations"))


def original_values_spec(cfg: SalesforceConfig, obj: str) -> FieldSpec:
    """Where a Contact or Case keeps the source values it could not carry as they were (see originals.py)."""
    what = "contacts" if obj == "Contact" else "conversations"
    return FieldSpec(obj, cfg.field(ORIGINAL_VALUES), {"label": f"{cfg.field_prefix} original values",
                                                       "type": "LongTextArea", "length": ORIGINAL_VALUES_LENGTH,
                                                       "visibleLines": 5},
                     "source values the record could not carry as they were (\"field: value\" per line)", (what,))


def plan_fields(cfg: SalesforceConfig, *, knowledge: bool = True) -> list[FieldSpec]:
    """Every custom field the migration itself needs (custom properties come from the source's
    custom field definitions, see ``custom_property_spec``)."""
    p = cfg.field_prefix
    idl = f"{p} id"
    specs = [
        FieldSpec("Contact", cfg.id_field, _external_id(idl), "external id: upsert key, idempotent re-runs",
                  ("contacts",)),
        FieldSpec("Contact", cfg.field("Company"), _text(f"{p} company"), "company name from the source",
                  ("contacts",)),
        tag_field_spec("contact", p),
        original_values_spec(cfg, "Contact"),
        FieldSpec("Case", cfg.id_field, _external_id(idl), "external id of the conversation", ("conversations",)),
        FieldSpec("Case", cfg.field("Channel"), _text(f"{p} channel", 80), "channel type of the conversation",
                  ("conversations",)),
        FieldSpec("Case", cfg.field("Created_At"), {"label": f"{p} created at", "type": "DateTime"},
                  "original creation time (kept even without audit-field permission)", ("conversations",)),
        FieldSpec("Case", cfg.field("Last_Activity_At"), {"label": f"{p} last activity at", "type": "DateTime"},
                  "last activity in the source", ("conversations",)),
        FieldSpec("Case", cfg.field("Closed_At"), {"label": f"{p} closed at", "type": "DateTime"},
                  "original closing time", ("conversations",)),
        FieldSpec("Case", cfg.field("Message_Count"), {"label": f"{p} message count", "type": "Number",
                                                       "precision": 18, "scale": 0},
                  "messages in the conversation", ("conversations",)),
        FieldSpec("Case", cfg.field("First_Response_Seconds"), {"label": f"{p} first response (s)", "type": "Number",
                                                                "precision": 18, "scale": 2},
                  "first response time in seconds", ("conversations",)),
        tag_field_spec("conversation", p),
        original_values_spec(cfg, "Case"),
        FieldSpec("EmailMessage", cfg.id_field, _external_id(idl), "external id of the message", ("messages",)),
        FieldSpec("EmailMessage", cfg.field("Body_Truncated"), {"label": f"{p} body truncated", "type": "Checkbox",
                                                                "defaultValue": "false"},
                  "the body was cut at the limit (the full body is attached as a file)", ("messages",)),
        # Activity custom fields can't be External ID or Unique: Tasks are found by a plain indexed text
        # field before they are inserted.
        FieldSpec("Task", cfg.id_field, _text(idl), "id of the call log or note in the source", ("messages",
                                                                                                 "contacts")),
        FieldSpec("Task", cfg.field("Created_At"), {"label": f"{p} created at", "type": "DateTime"},
                  "original time of the call or note", ("messages", "contacts")),
        FieldSpec("ContentVersion", cfg.id_field, _external_id(idl), "external id of the attachment",
                  ("attachments", "messages")),
        FieldSpec("ContentVersion", cfg.field("Source_Ref"), _text(f"{p} source reference"),
                  "the cid or URL the source body used for this file", ("attachments", "messages")),
    ]
    if knowledge:
        specs += [
            FieldSpec(cfg.knowledge_object, cfg.id_field, _external_id(idl), "external id of the article translation",
                      ("articles",)),
            FieldSpec(cfg.knowledge_object, cfg.body_field, {"label": "Article body", "type": "Html",
                                                             "length": 131072, "visibleLines": 25},
                      "article body (rich text)", ("articles",)),
        ]
    return specs


def api_name(text: str, max_len: int = 40) -> str:
    """A valid custom field stem: letters, digits, single underscores, starting with a letter."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")
    stem = "_".join(part[:1].upper() + part[1:] for part in re.sub(r"_+", "_", stem).split("_"))
    if not stem or not stem[0].isalpha():
        stem = "F_" + stem
    return stem[:max_len].rstrip("_")


CUSTOM_TYPES = {"text": lambda label, opts: _text(label),
                "number": lambda label, opts: {"label": label, "type": "Number", "precision": 18, "scale": 4},
                "date": lambda label, opts: {"label": label, "type": "Date"},
                "boolean": lambda label, opts: {"label": label, "type": "Checkbox", "defaultValue": "false"},
                "email": lambda label, opts: {"label": label, "type": "Email"},
                "phone": lambda label, opts: {"label": label, "type": "Phone"},
                "url": lambda label, opts: {"label": label, "type": "Url"},
                "select": lambda label, opts: {"label": label, "type": "Picklist", "valueSet": {
                    "restricted": True, "valueSetDefinition": {"sorted": False, "value": [
                        {"fullName": o, "label": o, "default": False} for o in opts]}}},
                "multiselect": lambda label, opts: _multi(label, opts)}


def custom_property_spec(cfg: SalesforceConfig, entity: str, key: str, data_type: str, label: str,
                         options: Sequence[str] = ()) -> FieldSpec:
    obj = "Case" if entity == "conversation" else "Contact"
    overrides = cfg.case_field_map if obj == "Case" else cfg.contact_field_map
    name = overrides.get(key) or f"{cfg.field_prefix}_{api_name(key, 39 - len(cfg.field_prefix))}__c"
    meta = CUSTOM_TYPES.get(data_type, CUSTOM_TYPES["text"])(label[:40] or key, [o for o in options if o][:1000])
    return FieldSpec(obj, name, meta, f"custom {entity} property '{key}' ({data_type})",
                     ("contacts" if obj == "Contact" else "conversations",))


def property_field(cfg: SalesforceConfig, entity: str, key: str) -> tuple[str, str]:
    """(object, field) a custom property value lands in."""
    obj = "Case" if entity == "conversation" else "Contact"
    overrides = cfg.case_field_map if obj == "Case" else cfg.contact_field_map
    return obj, overrides.get(key) or f"{cfg.field_prefix}_{api_name(key, 39 - len(cfg.field_prefix))}__c"


def plan_markdown(specs: Iterable[FieldSpec]) -> str:
    rows = [s.row() for s in specs]
    if not rows:
        return "Nothing to create.\n"
    out = ["| field | type | label | purpose |", "|---|---|---|---|"]
    out += [f"| `{r['field']}` | {r['type']} | {r['label']} | {r['purpose']} |" for r in rows]
    return "\n".join(out) + "\n"


def decode_valid_for(valid_for: str | None) -> set[int]:
    if not valid_for:
        return set()
    raw = base64.b64decode(valid_for)
    return {i * 8 + b for i, byte in enumerate(raw) for b in range(8) if byte & (0x80 >> b)}


@dataclass
class SchemaState:
    created: list[str] = field(default_factory=list)  # FullNames created by this connection
    added_values: dict[str, list[str]] = field(default_factory=dict)


class Schema:
    """Describe-backed checks and Tooling-backed creation for one connection."""

    def __init__(self, client: Any, cfg: SalesforceConfig):
        self.client = client
        self.cfg = cfg
        self.state = SchemaState()
        self._field_ids: dict[str, str] = {}
        self._table_ids: dict[str, str] = {}

    # -- fields -------------------------------------------------------------------------------------

    def knowledge_enabled(self) -> bool:
        return self.client.has_object(self.cfg.knowledge_object)

    def has_field(self, obj: str, name: str) -> bool:
        return name in self.client.fields(obj)

    def missing(self, specs: Iterable[FieldSpec]) -> list[FieldSpec]:
        return [s for s in specs if not self.has_field(s.object, s.name)]

    def ensure(self, specs: Sequence[FieldSpec], *, what: str) -> list[FieldSpec]:
        """Make sure the fields exist; returns those created. Without permission to create, stop with the
        plan (a ConfigurationError names SALESFORCE_CREATE_SCHEMA and every missing field)."""
        missing = self.missing(specs)
        if not missing:
            return []
        if not self.cfg.create_schema:
            raise ConfigurationError(
                f"Salesforce is missing {len(missing)} custom field(s) the {what} load needs: "
                f"{', '.join(s.full_name for s in missing)}. Create them as in the pre-flight schema plan, or set "
                "SALESFORCE_CREATE_SCHEMA=true to let the migration create them through the Tooling API.")
        return self.create(missing)

    def create(self, specs: Sequence[FieldSpec]) -> list[FieldSpec]:
        created: list[FieldSpec] = []
        for spec in specs:
            try:
                result = self._create_field(spec)
            except SalesforceError as exc:
                # An existing field the API user can't see yet is DUPLICATE_DEVELOPER_NAME: grant it below.
                if error_code(exc) != "DUPLICATE_DEVELOPER_NAME":
                    raise ConfigurationError(f"could not create {spec.full_name}: {error_message(exc)}") from None
                result = {}
            if isinstance(result, dict) and result.get("id"):
                self._field_ids[spec.full_name] = result["id"]
                self.state.created.append(spec.full_name)
            created.append(spec)
            log.info("created custom field %s", spec.full_name)
        self.grant(created)
        for obj in {s.object for s in created}:
            self.client.forget_describe(obj)
        still = self.missing(created)
        if still:
            raise ConfigurationError(f"created {', '.join(s.full_name for s in still)} but the API user still can't "
                                     f"see them: grant field-level security (read/edit) through a permission set")
        return created

    def _create_field(self, spec: FieldSpec) -> Any:
        """POST one CustomField. A 5xx or a lost answer is tried again with the client's backoff, but only
        after the Tooling API says the field is not there yet, so a field is never created twice ({} when
        the failed attempt turns out to have created it)."""
        payload = {"FullName": spec.tooling_name, "Metadata": spec.metadata}
        for attempt in Retrying(retry=retry_if_exception_type(SalesforceUnavailable),
                                stop=stop_after_attempt(RETRY_ATTEMPTS), wait=self.client.retry_wait, reraise=True):
            with attempt:
                if attempt.retry_state.attempt_number > 1 and self.custom_field_id(spec.object, spec.name):
                    return {}
                return self.client.tooling("sobjects/CustomField", "POST", payload, idempotent=False)
        raise AssertionError("unreachable: tenacity returns or re-raises")  # pragma: no cover

    def grant(self, specs: Sequence[FieldSpec]) -> None:
        """Field-level security for new fields, through a permission set assigned to the API user."""
        if not specs:
            return
        c = self.client
        user = c.user_id()
        rows = c.query_all(f"SELECT Id FROM PermissionSet WHERE Name = {quote(PERMISSION_SET)}")
        if rows:
            ps = rows[0]["Id"]
        else:
            ps = self._create_once("PermissionSet", {"Name": PERMISSION_SET, "Label": "Helpdesk migration"},
                                   f"SELECT Id FROM PermissionSet WHERE Name = {quote(PERMISSION_SET)}")
        find = (f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {quote(user)} AND "
                f"PermissionSetId = {quote(ps)}")
        if not c.query_all(find):
            self._create_once("PermissionSetAssignment", {"AssigneeId": user, "PermissionSetId": ps}, find)
        pending = list(specs)
        try:
            for attempt in Retrying(retry=retry_if_exception_type((_GrantsLocked, SalesforceUnavailable)),
                                    stop=stop_after_attempt(max(self.cfg.lock_retries, 0) + 1),
                                    wait=wait_exponential(multiplier=0.05, max=2), reraise=True):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        pending = self._ungranted(ps, pending)  # a lost answer may have granted some
                    self._send_grants(ps, pending)
        except _GrantsLocked as exc:
            # create() then names the fields the API user still can't see.
            log.warning("field permission for %s not granted: the rows stayed locked (UNABLE_TO_LOCK_ROW) after "
                        "%d tries", exc, max(self.cfg.lock_retries, 0) + 1)

    def _send_grants(self, ps: str, specs: Sequence[FieldSpec]) -> None:
        """Insert read/edit FieldPermissions rows; raises _GrantsLocked with the rows refused as locked."""
        locked: list[FieldSpec] = []
        for i in range(0, len(specs), 200):
            batch = specs[i:i + 200]
            records = [{"attributes": {"type": "FieldPermissions"}, "ParentId": ps, "SobjectType": s.object,
                        "Field": s.full_name, "PermissionsRead": True,
                        "PermissionsEdit": s.metadata.get("type") != "Formula"} for s in batch]
            results = self.client.restful("composite/sobjects", "POST", json={"allOrNone": False, "records": records},
                                          idempotent=False) or []
            for spec, res in zip(batch, results, strict=False):
                code = (res.get("errors") or [{}])[0].get("statusCode")
                if res.get("success") or code == "DUPLICATE_VALUE":
                    continue
                if code == "UNABLE_TO_LOCK_ROW":
                    locked.append(spec)
                else:
                    log.warning("field permission for %s not granted: %s", spec.full_name, res.get("errors"))
        if locked:
            log.info("field permission for %d field(s) locked, retrying", len(locked))
            raise _GrantsLocked(locked)

    def _ungranted(self, ps: str, specs: Sequence[FieldSpec]) -> list[FieldSpec]:
        """The fields of ``specs`` the permission set holds no FieldPermissions row for yet."""
        rows = self.client.query_in(f"SELECT Field FROM FieldPermissions WHERE ParentId = {quote(ps)} AND "
                                    "Field IN {values}", [s.full_name for s in specs])
        granted = {str(r.get("Field") or "").lower() for r in rows}
        return [s for s in specs if s.full_name.lower() not in granted]

    def _create_once(self, obj: str, values: dict[str, Any], find: str) -> str:
        """Create a setup record; when the answer is lost, the record found afterwards is the one created. When
        another step made it at the same moment (loads of one run on several workers each make sure of it),
        Salesforce answers DUPLICATE_VALUE: that record is the one."""
        try:
            return self.client.restful(f"sobjects/{obj}", "POST", json=values, idempotent=False)["id"]
        except SalesforceError as exc:
            rows = self.client.query_all(find) if error_code(exc) == "DUPLICATE_VALUE" else []
            if rows:
                return rows[0]["Id"]
            raise
        except SalesforceUnavailable:
            rows = self.client.query_all(find)
            if rows:
                return rows[0]["Id"]
            return self.client.restful(f"sobjects/{obj}", "POST", json=values, idempotent=False)["id"]

    # -- picklists ----------------------------------------------------------------------------------

    def field_meta(self, obj: str, name: str) -> dict[str, Any] | None:
        return self.client.fields(obj).get(name)

    def picklist_values(self, obj: str, name: str) -> list[str]:
        meta = self.field_meta(obj, name) or {}
        return [v["value"] for v in meta.get("picklistValues", []) if v.get("active", True)]

    def check_value(self, obj: str, name: str, value: str | None, record: Mapping[str, Any] | None = None) -> str | None:
        """Why ``value`` can't go into a picklist field as-is, or None when it can. Checks restricted and
        inactive values and, for dependent picklists, ``validFor`` against the record's controlling value."""
        if value in (None, ""):
            return None
        meta = self.field_meta(obj, name)
        if meta is None:
            return f"{obj}.{name} does not exist"
        if meta.get("type") not in ("picklist", "multipicklist"):
            return None
        chosen = [v for v in str(value).split(";") if v] if meta["type"] == "multipicklist" else [str(value)]
        entries = {v["value"]: v for v in meta.get("picklistValues", [])}
        for v in chosen:
            entry = entries.get(v)
            if entry is None or not entry.get("active", True):
                if meta.get("restrictedPicklist"):
                    return f"'{v}' is not a value of the restricted picklist {obj}.{name}"
                continue
            controller = meta.get("controllerName")
            if meta.get("dependentPicklist") and controller:
                ctrl_meta = self.field_meta(obj, controller) or {}
                ctrl_value = (record or {}).get(controller)
                if ctrl_meta.get("type") == "boolean":
                    index = 1 if ctrl_value else 0
                else:
                    ctrl_values = [c["value"] for c in ctrl_meta.get("picklistValues", [])]
                    if ctrl_value not in ctrl_values:
                        return (f"'{v}' of {obj}.{name} depends on {controller}, which is "
                                f"{'empty' if ctrl_value in (None, '') else repr(ctrl_value)}: Salesforce would blank it")
                    index = ctrl_values.index(ctrl_value)
                if index not in decode_valid_for(entry.get("validFor")):
                    return (f"'{v}' of {obj}.{name} is not valid when {controller} is {ctrl_value!r} "
                            "(dependent picklist): Salesforce would blank it")
        return None

    def table_id(self, obj: str) -> str:
        """Tooling's TableEnumOrId for ``obj``: the API name of a standard object (Activity for Task/Event),
        the CustomObject Id of a custom one (Knowledge__kav included), read from EntityDefinition.DurableId."""
        if obj in ("Task", "Event"):
            return "Activity"
        if "__" not in obj:
            return obj
        if obj not in self._table_ids:
            rows = self.client.tooling_query(f"SELECT DurableId FROM EntityDefinition WHERE QualifiedApiName = "
                                             f"{quote(obj)}")
            self._table_ids[obj] = str(rows[0]["DurableId"]) if rows and rows[0].get("DurableId") else obj
        return self._table_ids[obj]

    def custom_field_id(self, obj: str, name: str) -> str | None:
        full = f"{obj}.{name}"
        if full not in self._field_ids:
            table = self.table_id(obj)
            rows = self.client.tooling_query(
                f"SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = {quote(table)} AND "
                f"DeveloperName = {quote(name[:-3])}")
            if rows:
                self._field_ids[full] = rows[0]["Id"]
        return self._field_ids.get(full)

    def add_values(self, obj: str, name: str, values: Sequence[str]) -> list[str]:
        """Add values to a custom picklist through the Tooling API; returns those that could not be added
        (a standard picklist, creation switched off, or the 1,000-value ceiling)."""
        present = set(self.picklist_values(obj, name))
        wanted = [v for v in dict.fromkeys(values) if v not in present]
        if not wanted:
            return []
        if not self.cfg.create_schema or not name.endswith("__c"):
            return wanted
        fid = self.custom_field_id(obj, name)
        if fid is None:
            return wanted
        current = self.client.tooling(f"sobjects/CustomField/{fid}")
        meta = dict(current.get("Metadata") or {})
        value_set = dict(meta.get("valueSet") or {})
        definition = dict(value_set.get("valueSetDefinition") or {})
        existing = list(definition.get("value") or [])
        room = MAX_PICKLIST_VALUES - len(existing)
        adding, refused = wanted[:max(room, 0)], wanted[max(room, 0):]
        existing += [{"fullName": v, "label": v, "default": False} for v in adding]
        definition["value"] = existing
        value_set["valueSetDefinition"] = definition
        meta["valueSet"] = value_set
        self.client.tooling(f"sobjects/CustomField/{fid}", "PATCH", {"Metadata": meta})
        self.client.forget_describe(obj)
        self.state.added_values.setdefault(f"{obj}.{name}", []).extend(adding)
        return refused

    def remove_values(self, obj: str, name: str, values: Sequence[str]) -> list[str]:
        """Take values off a custom picklist (rollback of tag values). Returns the values removed."""
        fid = self.custom_field_id(obj, name)
        if fid is None:
            return []
        current = self.client.tooling(f"sobjects/CustomField/{fid}")
        meta = dict(current.get("Metadata") or {})
        value_set = dict(meta.get("valueSet") or {})
        definition = dict(value_set.get("valueSetDefinition") or {})
        drop = set(values)
        before = list(definition.get("value") or [])
        definition["value"] = [v for v in before if v.get("fullName") not in drop]
        value_set["valueSetDefinition"] = definition
        meta["valueSet"] = value_set
        self.client.tooling(f"sobjects/CustomField/{fid}", "PATCH", {"Metadata": meta})
        self.client.forget_describe(obj)
        return [v["fullName"] for v in before if v.get("fullName") in drop]
