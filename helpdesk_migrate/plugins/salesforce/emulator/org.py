"""The emulated Salesforce org: schema registry, records, and the validation a real org applies on save.

One validator serves REST, sObject Collections and Bulk API 2.0, so an error reads the same whichever
API the loader used; only its rendering differs (``errorCode`` / ``statusCode`` / ``CODE:msg:fields --``),
as the shared reference (sections 5 and 7) documents.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

# --------------------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------------------

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def id18(id15: str) -> str:
    """The case-insensitive 18-character form: three checksum characters, one per 5-character block,
    flagging which characters are upper case."""
    suffix = ""
    for block in range(3):
        flags = 0
        for pos in range(5):
            if "A" <= id15[block * 5 + pos] <= "Z":
                flags |= 1 << pos
        suffix += _CHECKSUM_CHARS[flags]
    return id15 + suffix


def normalize_id(value: str) -> str | None:
    """15- or 18-character id -> canonical 18-character id; None when it is not id-shaped."""
    if not isinstance(value, str) or not ID_RE.match(value):
        return None
    return id18(value[:15])


class IdFactory:
    """Deterministic ids: key prefix + pod + a base-62 counter, with the checksum suffix."""

    def __init__(self, pod: str = "5g"):
        self.pod = pod
        self.counters: dict[str, int] = {}
        self.lock = threading.Lock()

    def next(self, prefix: str) -> str:
        with self.lock:
            n = self.counters.get(prefix, 0) + 1
            self.counters[prefix] = n
        digits = ""
        while n:
            n, r = divmod(n, 62)
            digits = BASE62[r] + digits
        return id18(f"{prefix}{self.pod}{digits.rjust(12 - len(self.pod), '0')}")


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class SalesforceApiError(Exception):
    """An error as Salesforce reports it; rendered per API by the server."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = (), *, status: int = 400,
                 extra: Mapping[str, Any] | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = list(fields)
        self.status = status
        self.extra = dict(extra or {})

    def rest(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields, **self.extra}

    def row(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields, **self.extra}

    def bulk(self) -> str:
        return f"{self.code}:{self.message}:{','.join(self.fields)} --" if self.fields else f"{self.code}:{self.message}:--"


class RecordErrors(Exception):
    """Several errors on one record (Salesforce reports them together)."""

    def __init__(self, errors: list[SalesforceApiError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def not_found() -> SalesforceApiError:
    return SalesforceApiError("NOT_FOUND", "The requested resource does not exist", status=404)


# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------

TEXT_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
              "encryptedstring"}
NUMBER_TYPES = {"double", "int", "currency", "percent"}
AUDIT_FIELDS = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById")
# Help 000176484: "Set Audit Fields upon Record Creation" covers these objects (and custom objects).
AUDIT_OBJECTS = {"Case", "CaseComment", "Contact", "ContentVersion", "EmailMessage", "Task", "Event",
                 "Attachment", "Account", "Knowledge__kav"}
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


@dataclass
class FieldDef:
    name: str
    type: str
    label: str = ""
    length: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    defaulted: bool = False
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: list[dict[str, Any]] = field(default_factory=list)
    restricted: bool = False
    controller: str | None = None  # controlling field of a dependent picklist
    default: Any = None
    audit: bool = False  # settable on insert only, with the "Set Audit Fields" permission
    visible: bool = True  # field-level security: Tooling-created fields start invisible
    filterable: bool = True
    byte_length: bool = False  # length counted in UTF-8 bytes (CaseComment.CommentBody)
    html: bool = False
    precision: int = 18
    scale: int = 0
    indexed: bool = False

    def __post_init__(self) -> None:
        self.label = self.label or _labelize(self.name)
        if self.external_id or self.unique or self.type in ("id", "reference"):
            self.indexed = True

    def describe(self, org: Org, obj: ObjectDef) -> dict[str, Any]:
        soap = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "double": "xsd:double",
                "int": "xsd:int", "currency": "xsd:double", "percent": "xsd:double", "datetime": "xsd:dateTime",
                "date": "xsd:date", "base64": "xsd:base64Binary"}.get(self.type, "xsd:string")
        return {
            "name": self.name, "label": self.label, "type": self.type, "length": self.length,
            "byteLength": self.length * 3, "createable": org.createable(obj, self),
            "updateable": self.updateable and not self.audit, "nillable": self.nillable,
            "defaultedOnCreate": self.defaulted, "externalId": self.external_id, "unique": self.unique,
            "caseSensitive": self.case_sensitive, "idLookup": self.type == "id" or self.external_id or self.unique,
            "custom": self.custom, "calculated": False, "autoNumber": False, "filterable": self.filterable,
            "sortable": self.filterable, "groupable": self.filterable, "htmlFormatted": self.html,
            "precision": self.precision if self.type in NUMBER_TYPES else 0,
            "scale": self.scale if self.type in NUMBER_TYPES else 0,
            "digits": 0, "referenceTo": list(self.reference_to), "relationshipName": self.relationship_name,
            "picklistValues": [dict(v) for v in self.picklist], "restrictedPicklist": self.restricted,
            "dependentPicklist": self.controller is not None, "controllerName": self.controller,
            "defaultValue": self.default, "soapType": soap,
        }


def _labelize(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    base = base[:-2] if base.endswith("Id") and len(base) > 2 else base
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base).replace("_", " ").strip()


@dataclass
class ObjectDef:
    name: str
    prefix: str
    fields: dict[str, FieldDef]
    label: str = ""
    setup: bool = False  # User, Group, GroupMember, QueueSobject...: no mixing with other types
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    allows_custom_fields: bool = True
    tooling: bool = False
    _lower: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.label = self.label or _labelize(self.name)
        self.reindex()

    def reindex(self) -> None:
        self._lower = {n.lower(): n for n in self.fields}
        for f in self.fields.values():
            if f.relationship_name:
                self._lower.setdefault(f"rel:{f.relationship_name.lower()}", f.name)

    def field(self, name: str) -> FieldDef | None:
        real = self._lower.get(name.lower())
        return self.fields.get(real) if real else None

    def by_relationship(self, rel: str) -> FieldDef | None:
        real = self._lower.get(f"rel:{rel.lower()}")
        return self.fields.get(real) if real else None

    def add_field(self, f: FieldDef) -> None:
        self.fields[f.name] = f
        self.reindex()


def picklist_values(values: Iterable[str], default: str | None = None) -> list[dict[str, Any]]:
    return [{"active": True, "defaultValue": v == default, "label": v, "value": v, "validFor": None} for v in values]


def encode_valid_for(indexes: Iterable[int]) -> str:
    """Salesforce's validFor: a base64 bitmap, bit i (most significant first in each byte) set when the
    value is valid for the controlling value at index i."""
    indexes = list(indexes)
    size = max([*indexes, 0]) // 8 + 1
    bits = bytearray(max(size, 3))
    for i in indexes:
        bits[i // 8] |= 0x80 >> (i % 8)
    return base64.b64encode(bytes(bits)).decode()


def decode_valid_for(valid_for: str | None) -> set[int]:
    if not valid_for:
        return set()
    raw = base64.b64decode(valid_for)
    return {i * 8 + b for i, byte in enumerate(raw) for b in range(8) if byte & (0x80 >> b)}


# --------------------------------------------------------------------------------------------------
# Value conversion
# --------------------------------------------------------------------------------------------------


def format_datetime(dt: datetime) -> str:
    dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def now_iso() -> str:
    return format_datetime(datetime.now(UTC))


def parse_datetime(value: str) -> datetime:
    text = value.strip()
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class Unset:
    """A CSV cell left empty: 'no change' on update, nothing on insert."""


UNSET = Unset()


def _bad_value(f: FieldDef, value: Any, kind: str) -> SalesforceApiError:
    return SalesforceApiError("INVALID_TYPE_ON_FIELD_IN_RECORD",
                              f"{f.label}: value not of required type: {value}", [f.name]) if kind == "csv" else \
        SalesforceApiError("JSON_PARSER_ERROR",
                           f"Cannot deserialize instance of {f.type} from VALUE_STRING value {value} or request "
                           "may be missing a required field", [f.name])


def coerce(f: FieldDef, raw: Any, source: str) -> Any:
    """A JSON or CSV value -> the stored Python value; raises SalesforceApiError on a wrong type."""
    if source == "csv":
        if raw == "":
            return UNSET
        if raw == "#N/A":
            return None
    if raw is None:
        return None
    t = f.type
    try:
        if t == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0"):
                return raw.lower() in ("true", "1")
            raise ValueError(raw)
        if t in NUMBER_TYPES:
            if isinstance(raw, bool):
                raise ValueError(raw)
            num = float(raw) if not isinstance(raw, int | float) else raw
            return int(num) if t == "int" else float(num)
        if t == "datetime":
            return format_datetime(parse_datetime(str(raw)))
        if t == "date":
            return parse_datetime(str(raw)).date().isoformat()
        if t == "base64":
            if not isinstance(raw, str):
                raise ValueError(raw)
            return base64.b64decode(raw, validate=True)
        if isinstance(raw, dict | list):
            raise ValueError(raw)
        if isinstance(raw, bool):
            return "true" if raw else "false"
        return str(raw)
    except (ValueError, TypeError, base64.binascii.Error):
        raise _bad_value(f, raw, source) from None


# --------------------------------------------------------------------------------------------------
# The org
# --------------------------------------------------------------------------------------------------


@dataclass
class ValidationRule:
    """A custom validation rule: fires when every condition holds on the record being saved.
    Conditions are (field, op, value) with op in '=', '!=', 'blank', 'not_blank'."""

    name: str
    object: str
    message: str
    conditions: list[tuple[str, str, Any]]
    error_field: str | None = None
    active: bool = True
    formula: str = ""

    def fires(self, record: Mapping[str, Any]) -> bool:
        for fname, op, value in self.conditions:
            current = record.get(fname)
            blank = current in (None, "", False)
            if op == "=" and current != value:
                return False
            if op == "!=" and current == value:
                return False
            if op == "blank" and not blank:
                return False
            if op == "not_blank" and blank:
                return False
        return True


WriteFault = Callable[[str, str], SalesforceApiError | None]


class Org:
    """All state of one emulated org, guarded by one re-entrant lock (writes are serialised, as record
    locks would make them in a real org for the same rows)."""

    def __init__(self, objects: Iterable[ObjectDef], *, org_id: str, api_limit: int = 100_000):
        self.lock = threading.RLock()
        self.objects: dict[str, ObjectDef] = {}
        self._lower: dict[str, str] = {}
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.indexes: dict[str, dict[str, dict[Any, set[str]]]] = {}
        self.ids = IdFactory()
        self.org_id = org_id
        self.api_limit = api_limit
        self.api_used = 0
        self.current_user_id: str = ""
        self.validation_rules: list[ValidationRule] = []
        self.duplicate_rule_active = True
        self.knowledge_enabled = True
        # Enhanced Email (on by default in current orgs): an EmailMessage with a ParentId creates a Task.
        self.enhanced_email = True
        self.data_category_groups: list[dict[str, Any]] = []
        self.write_fault: WriteFault | None = None
        self.blobs: dict[str, bytes] = {}
        self._undo: list[tuple[str, str, str, dict[str, Any] | None]] | None = None
        for obj in objects:
            self.add_object(obj)

    # -- schema -------------------------------------------------------------------------------------

    def add_object(self, obj: ObjectDef) -> None:
        self.objects[obj.name] = obj
        self._lower[obj.name.lower()] = obj.name
        self.records.setdefault(obj.name, {})
        self.indexes.setdefault(obj.name, {})
        for f in obj.fields.values():
            if f.indexed:
                self.indexes[obj.name].setdefault(f.name, {})

    def object(self, name: str, *, tooling: bool = False) -> ObjectDef:
        real = self._lower.get(name.lower())
        obj = self.objects.get(real) if real else None
        if obj is None or obj.tooling != tooling or (obj.name == "Knowledge__kav" and not self.knowledge_enabled) \
                or (obj.name == "Knowledge__DataCategorySelection" and not self.knowledge_enabled):
            raise SalesforceApiError("NOT_FOUND", "The requested resource does not exist", status=404) \
                if not tooling else SalesforceApiError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return obj

    def visible_object(self, name: str) -> bool:
        try:
            self.object(name)
            return True
        except SalesforceApiError:
            return False

    def has_permission(self, permission: str) -> bool:
        """True when a permission set assigned to the current user grants ``permission``."""
        assigned = {a.get("PermissionSetId") for a in self.records.get("PermissionSetAssignment", {}).values()
                    if a.get("AssigneeId") == self.current_user_id}
        return any(ps.get(permission) for pid, ps in self.records.get("PermissionSet", {}).items() if pid in assigned)

    def createable(self, obj: ObjectDef, f: FieldDef) -> bool:
        if f.audit:
            return obj.name in AUDIT_OBJECTS and self.has_permission("PermissionsCreateAuditFields")
        return f.createable

    def add_index(self, obj: str, fname: str) -> None:
        idx = self.indexes[obj].setdefault(fname, {})
        for rid, rec in self.records[obj].items():
            key = _index_key(rec.get(fname))
            if key is not None:
                idx.setdefault(key, set()).add(rid)

    # -- reads --------------------------------------------------------------------------------------

    def get(self, obj: str, rid: str) -> dict[str, Any]:
        nid = normalize_id(rid)
        rec = self.records.get(obj, {}).get(nid) if nid else None
        if rec is None:
            raise not_found()
        return rec

    def find(self, rid: str) -> tuple[str, dict[str, Any]] | None:
        nid = normalize_id(rid)
        if nid is None:
            return None
        for name, obj in self.objects.items():
            if nid.startswith(obj.prefix):
                rec = self.records[name].get(nid)
                if rec is not None:
                    return name, rec
        return None

    def lookup(self, obj: str, fname: str, value: Any) -> set[str]:
        idx = self.indexes[obj].get(fname)
        if idx is not None:
            return set(idx.get(_index_key(value), set()))
        key = _index_key(value)
        return {rid for rid, rec in self.records[obj].items() if _index_key(rec.get(fname)) == key}

    # -- writes -------------------------------------------------------------------------------------

    def insert(self, obj_name: str, values: Mapping[str, Any], *, source: str = "json") -> str:
        with self.lock:
            obj = self.object(obj_name)
            if not obj.createable:
                raise SalesforceApiError("INVALID_TYPE", f"entity type {obj.name} does not support create")
            self._fault(obj.name, "insert")
            clean = self._convert(obj, values, op="insert", source=source)
            rec = self._defaults(obj, clean)
            self._validate(obj, rec, op="insert", changed=set(clean))
            rid = self.ids.next(obj.prefix)
            rec["Id"] = rid
            self._system_fields(obj, rec, clean, insert=True)
            self._before_insert(obj, rec)
            self._check_unique(obj, rec, None)
            self._store(obj, rid, rec)
            self._after_insert(obj, rec)
            return rid

    def update(self, obj_name: str, rid: str, values: Mapping[str, Any], *, source: str = "json") -> None:
        with self.lock:
            obj = self.object(obj_name)
            nid = normalize_id(rid)
            if nid is None:
                raise SalesforceApiError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {rid}", ["Id"])
            current = self.records[obj.name].get(nid)
            if current is None:
                if nid[:3] == obj.prefix:
                    raise SalesforceApiError("ENTITY_IS_DELETED", "entity is deleted", [], status=404)
                raise SalesforceApiError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {rid}", ["Id"])
            if not obj.updateable:
                raise SalesforceApiError("INVALID_TYPE", f"entity type {obj.name} does not support update")
            self._fault(obj.name, "update")
            clean = self._convert(obj, values, op="update", source=source)
            self._before_update(obj, current, clean)
            rec = {**current, **clean}
            self._validate(obj, rec, op="update", changed=set(clean), before=current)
            self._system_fields(obj, rec, clean, insert=False)
            self._check_unique(obj, rec, nid)
            self._store(obj, nid, rec, previous=current)

    def upsert(self, obj_name: str, ext_field: str, ext_value: str, values: Mapping[str, Any], *,
               source: str = "json", body_may_hold_key: bool = False) -> tuple[str, bool]:
        """Insert or update by external id; returns (id, created). More than one match -> 300."""
        with self.lock:
            obj = self.object(obj_name)
            f = obj.field(ext_field)
            if f is None or not f.visible:
                raise SalesforceApiError("NOT_FOUND", f"Provided external ID field does not exist or is not "
                                         f"accessible: {ext_field}", status=404)
            if f.name != "Id" and not f.external_id and not f.unique:
                raise SalesforceApiError("INVALID_FIELD", f"Field {f.name} is not an external ID field or "
                                         "unique field", [f.name])
            body = dict(values)
            if not body_may_hold_key:
                for k in body:
                    if k.lower() in (f.name.lower(), "id"):
                        raise SalesforceApiError(
                            "INVALID_FIELD", f"The external ID field {f.name} should not be specified in the "
                            "sobject data.", [f.name])
            body = {k: v for k, v in body.items() if k.lower() != f.name.lower()}
            matches = self.lookup(obj.name, f.name, ext_value)
            if len(matches) > 1:
                raise SalesforceApiError("MULTIPLE_CHOICES", sorted(matches), status=300)
            if matches:
                rid = next(iter(matches))
                self.update(obj.name, rid, body, source=source)
                return rid, False
            return self.insert(obj.name, {**body, f.name: ext_value}, source=source), True

    def delete(self, obj_name: str | None, rid: str) -> None:
        with self.lock:
            nid = normalize_id(rid)
            if nid is None:
                raise SalesforceApiError("MALFORMED_ID", f"malformed id {rid}", status=400)
            found = self.find(nid)
            if found is None or (obj_name and found[0].lower() != obj_name.lower()):
                raise SalesforceApiError("ENTITY_IS_DELETED", "entity is deleted", status=404) \
                    if found is None else not_found()
            name, rec = found
            obj = self.objects[name]
            if not obj.deletable:
                raise SalesforceApiError("INVALID_TYPE", f"entity type {name} does not support delete")
            self._fault(name, "delete")
            self._before_delete(obj, rec)
            self._remove(obj, nid)

    # -- all-or-none ---------------------------------------------------------------------------------

    def begin(self) -> None:
        """Start recording an undo log (allOrNone requests); the caller holds ``lock``."""
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        undo, self._undo = self._undo or [], None
        for kind, obj_name, rid, previous in reversed(undo):
            obj = self.objects[obj_name]
            if kind == "store":
                if rid in self.records[obj_name]:
                    self._remove(obj, rid)
                if previous is not None:
                    self._store(obj, rid, previous)
            else:
                self._store(obj, rid, previous or {})

    # -- internals ----------------------------------------------------------------------------------

    def _fault(self, obj: str, op: str) -> None:
        if self.write_fault is not None:
            err = self.write_fault(obj, op)
            if err is not None:
                raise err

    def _convert(self, obj: ObjectDef, values: Mapping[str, Any], *, op: str, source: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        errors: list[SalesforceApiError] = []
        not_writable: list[str] = []
        for key, raw in values.items():
            if key == "attributes" or (op != "insert" and key.lower() == "id"):
                continue
            f = obj.field(key)
            if f is None or not f.visible:
                raise SalesforceApiError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}",
                                         [key])
            value = coerce(f, raw, source)
            if isinstance(value, Unset):
                continue
            writable = self.createable(obj, f) if op == "insert" else (f.updateable and not f.audit)
            if not writable:
                not_writable.append(f.name)
                continue
            out[f.name] = value
        if not_writable:
            errors.append(SalesforceApiError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(not_writable)}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.", not_writable))
        if errors:
            raise RecordErrors(errors)
        return out

    def _defaults(self, obj: ObjectDef, clean: dict[str, Any]) -> dict[str, Any]:
        rec = dict(clean)
        for f in obj.fields.values():
            if f.name not in rec and f.defaulted and f.default is not None:
                rec[f.name] = f.default() if callable(f.default) else f.default
            elif f.name not in rec and f.type == "boolean":
                rec[f.name] = bool(f.default)
        return rec

    def _validate(self, obj: ObjectDef, rec: dict[str, Any], *, op: str, changed: set[str],
                  before: Mapping[str, Any] | None = None) -> None:
        errors: list[SalesforceApiError] = []
        if op == "insert":
            missing = [f.name for f in obj.fields.values()
                       if f.createable and not f.nillable and not f.defaulted and f.type != "boolean"
                       and f.visible and rec.get(f.name) in (None, "")]
            if missing:
                errors.append(SalesforceApiError("REQUIRED_FIELD_MISSING",
                                                 f"Required fields are missing: [{', '.join(missing)}]", missing))
        else:
            emptied = [f.name for f in obj.fields.values() if f.name in changed and not f.nillable
                       and f.type != "boolean" and rec.get(f.name) in (None, "")]
            if emptied:
                errors.append(SalesforceApiError("REQUIRED_FIELD_MISSING",
                                                 f"Required fields are missing: [{', '.join(emptied)}]", emptied))
        for fname in sorted(changed):
            f = obj.fields[fname]
            value = rec.get(fname)
            if value is None:
                continue
            err = self._check_value(obj, f, value, rec)
            if err is not None:
                errors.append(err)
        if errors:
            raise RecordErrors(errors)
        self._object_rules(obj, rec, op=op, changed=changed, before=before)
        for rule in self.validation_rules:
            if rule.active and rule.object == obj.name and rule.fires(rec):
                raise SalesforceApiError("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message,
                                         [rule.error_field] if rule.error_field else [])
        if obj.name == "Contact" and self.duplicate_rule_active and rec.get("Email") and \
                (op == "insert" or "Email" in changed):
            self._duplicate_rule(rec)

    def _check_value(self, obj: ObjectDef, f: FieldDef, value: Any, rec: Mapping[str, Any]) -> SalesforceApiError | None:
        if f.type in TEXT_TYPES and f.length:
            size = len(value.encode("utf-8")) if f.byte_length else len(value)
            if size > f.length:
                shown = value if len(value) <= 60 else value[:57] + "..."
                return SalesforceApiError("STRING_TOO_LONG",
                                          f"{f.label}: data value too large: {shown} (max length={f.length})", [f.name])
        if f.type == "email" and not EMAIL_RE.match(value):
            return SalesforceApiError("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {value}", [f.name])
        if f.type in ("picklist", "multipicklist"):
            allowed = {v["value"] for v in f.picklist if v.get("active", True)}
            chosen = [v for v in value.split(";") if v] if f.type == "multipicklist" else [value]
            bad = [v for v in chosen if v not in allowed]
            if bad and f.restricted:
                return SalesforceApiError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                          f"{f.label}: bad value for restricted picklist field: {bad[0]}", [f.name])
            if f.controller:
                ctrl = obj.fields.get(f.controller)
                invalid = self._dependent_invalid(ctrl, f, chosen, rec.get(f.controller)) if ctrl else []
                if invalid:
                    if f.restricted:
                        return SalesforceApiError(
                            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                            f"{f.label}: bad value for restricted picklist field: {invalid[0]}", [f.name])
                    # An unrestricted dependent picklist with a value not valid for its controller is
                    # silently blanked: the trap the loader must catch before it sends anything.
                    kept = [v for v in chosen if v not in invalid]
                    rec[f.name] = ";".join(kept) if kept else None  # type: ignore[index]
        if f.type == "reference":
            return self._check_reference(obj, f, value)
        return None

    @staticmethod
    def _dependent_invalid(ctrl: FieldDef, dep: FieldDef, chosen: list[str], ctrl_value: Any) -> list[str]:
        if ctrl.type == "boolean":
            ctrl_index = 1 if ctrl_value else 0
        else:
            values = [v["value"] for v in ctrl.picklist]
            if ctrl_value not in values:
                return list(chosen)
            ctrl_index = values.index(ctrl_value)
        valid_for = {v["value"]: decode_valid_for(v.get("validFor")) for v in dep.picklist}
        return [v for v in chosen if v in valid_for and ctrl_index not in valid_for[v]]

    def _check_reference(self, obj: ObjectDef, f: FieldDef, value: str) -> SalesforceApiError | None:
        nid = normalize_id(value)
        if nid is None:
            return SalesforceApiError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name])
        found = self.find(nid)
        if found is None or found[0] not in f.reference_to:
            return SalesforceApiError("INVALID_CROSS_REFERENCE_KEY",
                                      f"{f.label}: id value of incorrect type: {value}" if found else
                                      "invalid cross reference id", [f.name])
        return None

    def _duplicate_rule(self, rec: Mapping[str, Any]) -> None:
        matches = [rid for rid in self.lookup("Contact", "Email", rec["Email"]) if rid != rec.get("Id")]
        if not matches:
            return
        raise SalesforceApiError(
            "DUPLICATES_DETECTED", "You're creating a duplicate record. We recommend you use an existing record "
            "instead.", [], extra={"duplicateResult": {
                "allowSave": False, "duplicateRule": "Standard_Contact_Duplicate_Rule",
                "duplicateRuleEntityType": "Contact",
                "errorMessage": "You're creating a duplicate record. We recommend you use an existing record instead.",
                "matchResults": [{
                    "entityType": "Contact", "errors": [], "matchEngine": "ExactMatchEngine",
                    "matchRecords": [{"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                                      "record": {"attributes": {"type": "Contact", "url": f"/services/data/v62.0/"
                                                                f"sobjects/Contact/{m}"}, "Id": m}}
                                     for m in sorted(matches)[:5]],
                    "rule": "Standard_Contact_Match_Rule_v1_1", "size": len(matches), "success": True}],
            }})

    def _check_unique(self, obj: ObjectDef, rec: Mapping[str, Any], own_id: str | None) -> None:
        for f in obj.fields.values():
            if not f.unique or rec.get(f.name) in (None, ""):
                continue
            others = [rid for rid in self.lookup(obj.name, f.name, rec[f.name]) if rid != own_id]
            if obj.name == "Knowledge__kav" and f.name == "UrlName":
                # Versions of one article share their URL name.
                others = [rid for rid in others if self.records[obj.name][rid].get("KnowledgeArticleId")
                          != rec.get("KnowledgeArticleId")]
            if others:
                raise SalesforceApiError("DUPLICATE_VALUE", f"duplicate value found: {f.name} duplicates value on "
                                         f"record with id: {others[0]}", [f.name])

    def _system_fields(self, obj: ObjectDef, rec: dict[str, Any], clean: Mapping[str, Any], *, insert: bool) -> None:
        stamp = now_iso()
        user = self.current_user_id
        if insert:
            rec.setdefault("CreatedDate", stamp)
            rec.setdefault("CreatedById", user)
            rec.setdefault("LastModifiedDate", rec["CreatedDate"] if "CreatedDate" in clean else stamp)
            rec.setdefault("LastModifiedById", rec["CreatedById"] if "CreatedById" in clean else user)
        else:
            rec["LastModifiedDate"] = stamp
            rec["LastModifiedById"] = user
        rec["SystemModstamp"] = stamp
        rec["IsDeleted"] = False
        if obj.field("OwnerId") and not rec.get("OwnerId"):
            rec["OwnerId"] = user

    def _store(self, obj: ObjectDef, rid: str, rec: dict[str, Any], previous: Mapping[str, Any] | None = None) -> None:
        if self._undo is not None:
            self._undo.append(("store", obj.name, rid, dict(previous) if previous is not None else None))
        idx = self.indexes[obj.name]
        if previous is not None:
            for fname, entries in idx.items():
                key = _index_key(previous.get(fname))
                if key is not None and key in entries:
                    entries[key].discard(rid)
        self.records[obj.name][rid] = rec
        for fname, entries in idx.items():
            key = _index_key(rec.get("Id") if fname == "Id" else rec.get(fname))
            if key is not None:
                entries.setdefault(key, set()).add(rid)

    def _remove(self, obj: ObjectDef, rid: str) -> None:
        rec = self.records[obj.name].pop(rid)
        if self._undo is not None:
            self._undo.append(("remove", obj.name, rid, rec))
        for fname, entries in self.indexes[obj.name].items():
            key = _index_key(rec.get(fname))
            if key is not None and key in entries:
                entries[key].discard(rid)
        self.blobs.pop(rid, None)

    # -- object-specific behaviour ------------------------------------------------------------------

    def _object_rules(self, obj: ObjectDef, rec: dict[str, Any], *, op: str, changed: set[str],
                      before: Mapping[str, Any] | None) -> None:
        owner = rec.get("OwnerId")
        if "OwnerId" in changed and owner:
            self._check_owner(obj, owner)
        if "CreatedById" in changed and rec.get("CreatedById"):
            found = self.find(rec["CreatedById"])
            if found is None or found[0] != "User":
                raise SalesforceApiError("INVALID_CROSS_REFERENCE_KEY", "Created By ID: invalid cross reference id",
                                         ["CreatedById"])
        name = obj.name
        if name == "EmailMessage" and op == "update":
            status = (before or {}).get("Status")
            locked = [f for f in changed if f not in ("IsExternallyVisible",) and not obj.fields[f].custom]
            if status != "5" and locked and not (locked == ["Status"] and status == "0" and rec.get("Status") == "1"):
                raise SalesforceApiError(
                    "INSUFFICIENT_ACCESS_OR_READONLY", "You can't edit an email message that isn't a draft: only "
                    "IsExternallyVisible and custom fields can change after it is sent", locked)
        if name == "Knowledge__kav" and op == "update" and (before or {}).get("PublishStatus") != "Draft":
            raise SalesforceApiError("INVALID_OPERATION", "You can't edit a published or archived article version: "
                                     "create a draft of it first", [])
        if name == "QueueSobject":
            queue = self.records["Group"].get(normalize_id(rec.get("QueueId", "")) or "")
            if queue is None or queue.get("Type") != "Queue":
                raise SalesforceApiError("FIELD_INTEGRITY_EXCEPTION", "Queue ID: id value of incorrect type", ["QueueId"])
            for other in self.records["QueueSobject"].values():
                if other.get("QueueId") == queue["Id"] and other.get("SobjectType") == rec.get("SobjectType") \
                        and other.get("Id") != rec.get("Id"):
                    raise SalesforceApiError("DUPLICATE_VALUE", f"duplicate value found: SobjectType duplicates "
                                             f"value on record with id: {other['Id']}", ["SobjectType"])
        if name == "GroupMember":
            for other in self.records["GroupMember"].values():
                if other.get("GroupId") == rec.get("GroupId") and other.get("UserOrGroupId") == rec.get("UserOrGroupId"):
                    raise SalesforceApiError("DUPLICATE_VALUE", f"duplicate value found: UserOrGroupId duplicates "
                                             f"value on record with id: {other['Id']}", ["UserOrGroupId"])
        if name == "Group" and op == "insert":
            dev = rec.get("DeveloperName") or re.sub(r"\W+", "_", rec.get("Name", "")).strip("_")[:80]
            if not re.match(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$", dev or ""):
                raise SalesforceApiError("INVALID_FIELD", "The Developer Name must begin with a letter, contain only "
                                         "letters, numbers and single underscores, and not end with an underscore",
                                         ["DeveloperName"])
            rec["DeveloperName"] = dev
        if name == "ContentVersion" and op == "insert":
            if rec.get("ContentLocation", "S") == "S" and rec.get("VersionData") in (None, b""):
                raise SalesforceApiError("REQUIRED_FIELD_MISSING", "Required fields are missing: [VersionData]",
                                         ["VersionData"])
        if name == "FieldPermissions" and op == "insert":
            obj_name, _, fname = str(rec.get("Field", "")).partition(".")
            target = self.objects.get(rec.get("SobjectType") or "")
            if target is None or obj_name != target.name or target.field(fname) is None:
                raise SalesforceApiError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                         f"Field Name: bad value for restricted picklist field: {rec.get('Field')}",
                                         ["Field"])
        if name == "PermissionSetAssignment" and op == "insert":
            for other in self.records["PermissionSetAssignment"].values():
                if other.get("AssigneeId") == rec.get("AssigneeId") and \
                        other.get("PermissionSetId") == rec.get("PermissionSetId"):
                    raise SalesforceApiError("DUPLICATE_VALUE", "Duplicate PermissionSetAssignment: the permission "
                                             "set is already assigned to this user", ["PermissionSetId"])
        if name == "Knowledge__DataCategorySelection":
            groups = {g["name"]: g for g in self.data_category_groups}
            group = groups.get(rec.get("DataCategoryGroupName", ""))
            if group is None or rec.get("DataCategoryName") not in _category_names(group):
                raise SalesforceApiError("INVALID_DATA_CATEGORY_GROUP_REFERENCE" if group is None else
                                         "INVALID_DATA_CATEGORY_REFERENCE",
                                         f"invalid data category: {rec.get('DataCategoryGroupName')}/"
                                         f"{rec.get('DataCategoryName')}", ["DataCategoryName"])

    def _check_owner(self, obj: ObjectDef, owner: str) -> None:
        found = self.find(owner)
        if found is None:
            raise SalesforceApiError("INVALID_CROSS_REFERENCE_KEY", "Owner ID: invalid cross reference id", ["OwnerId"])
        kind, rec = found
        if kind == "User":
            if not rec.get("IsActive") and not self.has_permission("PermissionsUpdateWithInactiveOwner"):
                raise SalesforceApiError("INACTIVE_OWNER_OR_USER", f"operation performed with inactive user "
                                         f"[{rec['Id']}] as owner of {obj.label.lower()}", ["OwnerId"])
            return
        if kind == "Group" and rec.get("Type") == "Queue":
            supported = any(q.get("QueueId") == rec["Id"] and q.get("SobjectType") == obj.name
                            for q in self.records["QueueSobject"].values())
            if supported:
                return
            raise SalesforceApiError("FIELD_INTEGRITY_EXCEPTION", f"Owner ID: the queue {rec.get('Name')} does not "
                                     f"support {obj.name} records", ["OwnerId"])
        raise SalesforceApiError("INVALID_CROSS_REFERENCE_KEY", "Owner ID: invalid cross reference id", ["OwnerId"])

    def _before_insert(self, obj: ObjectDef, rec: dict[str, Any]) -> None:
        name = obj.name
        if name == "Case":
            rec["CaseNumber"] = f"{len(self.records['Case']) + 1:08d}"
            rec["IsClosed"] = rec.get("Status") in self.closed_statuses()
            if rec["IsClosed"]:
                rec.setdefault("ClosedDate", now_iso())
        if name == "Task":
            rec["IsClosed"] = rec.get("Status") == "Completed"
        if name == "Contact":
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        if name == "User":
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        if name == "Knowledge__kav":
            rec["PublishStatus"] = "Draft"
            rec["VersionNumber"] = 1
            rec["KnowledgeArticleId"] = self.ids.next("kA0")
            rec["ArticleNumber"] = f"{len(self.records['Knowledge__kav']) + 1:09d}"
        if name == "ContentVersion":
            data = rec.get("VersionData") or b""
            self.blobs[rec["Id"]] = data
            rec["VersionData"] = f"/services/data/v62.0/sobjects/ContentVersion/{rec['Id']}/VersionData"
            rec["ContentSize"] = len(data)
            path = rec.get("PathOnClient") or ""
            rec["FileExtension"] = path.rsplit(".", 1)[-1].lower() if "." in path else None
            rec.setdefault("Title", path.rsplit(".", 1)[0] if path else "file")
            rec["Checksum"] = hashlib.md5(data).hexdigest()  # noqa: S324 - Salesforce's own checksum is MD5

    def _grant_field_permission(self, perm: Mapping[str, Any]) -> None:
        """A FieldPermissions row for a permission set assigned to the API user makes the field visible."""
        assigned = {a.get("PermissionSetId") for a in self.records["PermissionSetAssignment"].values()
                    if a.get("AssigneeId") == self.current_user_id}
        if perm.get("ParentId") not in assigned or not perm.get("PermissionsRead"):
            return
        obj_name, _, fname = str(perm.get("Field", "")).partition(".")
        obj = self.objects.get(perm.get("SobjectType") or obj_name)
        f = obj.field(fname) if obj else None
        if f is not None:
            f.visible = True

    def _after_insert(self, obj: ObjectDef, rec: dict[str, Any]) -> None:
        if obj.name == "EmailMessage" and self.enhanced_email and rec.get("ParentId"):
            self._email_activity(rec)
        if obj.name == "FieldPermissions":
            self._grant_field_permission(rec)
        if obj.name == "ContentVersion":
            doc_id = self.ids.next("069")
            doc = {"Id": doc_id, "Title": rec.get("Title"), "LatestPublishedVersionId": rec["Id"],
                   "FileExtension": rec.get("FileExtension"), "ContentSize": rec.get("ContentSize"),
                   "OwnerId": rec.get("OwnerId"), "CreatedDate": rec.get("CreatedDate"),
                   "CreatedById": rec.get("CreatedById"), "IsDeleted": False}
            self._store(self.objects["ContentDocument"], doc_id, doc)
            rec["ContentDocumentId"] = doc_id
            self._store(self.objects["ContentVersion"], rec["Id"], rec, previous=rec)
            if rec.get("FirstPublishLocationId"):
                link_id = self.ids.next("06A")
                self._store(self.objects["ContentDocumentLink"], link_id, {
                    "Id": link_id, "ContentDocumentId": doc_id, "LinkedEntityId": rec["FirstPublishLocationId"],
                    "ShareType": "I", "Visibility": "AllUsers", "IsDeleted": False})

    def _email_activity(self, email: dict[str, Any]) -> None:
        """Enhanced Email (Help 000386065): the org creates a Task for each inserted EmailMessage, dated at
        insert whatever the email's MessageDate or CreatedDate, and links it through ActivityId."""
        task_def = self.objects["Task"]
        tid = self.ids.next(task_def.prefix)
        stamp = now_iso()
        task: dict[str, Any] = {
            "Id": tid, "Subject": f"Email: {email.get('Subject') or ''}".rstrip()[:255], "Status": "Completed",
            "Priority": "Normal", "TaskSubtype": "Email", "WhatId": email["ParentId"], "IsClosed": True,
            "ActivityDate": stamp[:10], "OwnerId": self.current_user_id, "CreatedDate": stamp,
            "CreatedById": self.current_user_id, "LastModifiedDate": stamp, "LastModifiedById": self.current_user_id,
            "SystemModstamp": stamp, "IsDeleted": False}
        self._store(task_def, tid, task)
        self._store(self.objects["EmailMessage"], email["Id"], {**email, "ActivityId": tid}, previous=email)
        email["ActivityId"] = tid

    def _before_update(self, obj: ObjectDef, current: Mapping[str, Any], clean: dict[str, Any]) -> None:
        if obj.name == "Case" and "Status" in clean:
            closed = clean["Status"] in self.closed_statuses()
            clean["IsClosed"] = closed
            if closed and not current.get("IsClosed"):
                clean["ClosedDate"] = now_iso()
            if not closed:
                clean["ClosedDate"] = None
        if obj.name == "Task" and "Status" in clean:
            clean["IsClosed"] = clean["Status"] == "Completed"
        if obj.name in ("Contact", "User") and ("FirstName" in clean or "LastName" in clean):
            merged = {**current, **clean}
            clean["Name"] = " ".join(p for p in (merged.get("FirstName"), merged.get("LastName")) if p)

    def _before_delete(self, obj: ObjectDef, rec: Mapping[str, Any]) -> None:
        name, rid = obj.name, rec["Id"]
        if name == "Contact":
            cases = self.lookup("Case", "ContactId", rid)
            if cases:
                raise SalesforceApiError("DELETE_FAILED", f"Your attempt to delete {rec.get('Name')} could not be "
                                         "completed because it is associated with the following cases.: "
                                         f"{', '.join(self.records['Case'][c]['CaseNumber'] for c in sorted(cases)[:5])}")
        if name == "Group":
            owned = [c for c in self.lookup("Case", "OwnerId", rid)]
            if owned:
                raise SalesforceApiError("DELETE_FAILED", f"the queue {rec.get('Name')} still owns {len(owned)} "
                                         "case(s); reassign them first")
            for child in ("GroupMember", "QueueSobject"):
                key = "GroupId" if child == "GroupMember" else "QueueId"
                for cid in self.lookup(child, key, rid):
                    self._remove(self.objects[child], cid)
        if name == "ContentVersion":
            raise SalesforceApiError("INVALID_OPERATION", "You can't delete a content version: delete its "
                                     "ContentDocument instead")
        if name == "ContentDocument":
            for vid in self.lookup("ContentVersion", "ContentDocumentId", rid):
                self._remove(self.objects["ContentVersion"], vid)
            for lid in self.lookup("ContentDocumentLink", "ContentDocumentId", rid):
                self._remove(self.objects["ContentDocumentLink"], lid)
        if name == "Knowledge__kav":
            if rec.get("PublishStatus") == "Online":
                raise SalesforceApiError("INVALID_OPERATION", "You can't delete a published article version: "
                                         "archive it first")
            for sid in self.lookup("Knowledge__DataCategorySelection", "ParentId", rid):
                self._remove(self.objects["Knowledge__DataCategorySelection"], sid)
        if name == "User":
            raise SalesforceApiError("DELETE_FAILED", "Users can't be deleted; deactivate them instead")
        if name in ("Case", "Contact", "EmailMessage", "Knowledge__kav"):
            # Children go with their parent, as cascade delete does in a real org.
            for child, key in (("CaseComment", "ParentId"), ("EmailMessage", "ParentId"), ("Task", "WhatId"),
                               ("Task", "WhoId"), ("ContentDocumentLink", "LinkedEntityId")):
                if child in self.objects and key in self.indexes[child]:
                    for cid in self.lookup(child, key, rid):
                        if cid in self.records[child]:
                            self._before_delete(self.objects[child], self.records[child][cid])
                            self._remove(self.objects[child], cid)

    def closed_statuses(self) -> set[str]:
        return {"Closed"} | set(getattr(self, "extra_closed_statuses", ()))

    def publish_article(self, version_id: str, status: str) -> None:
        with self.lock:
            rec = self.get("Knowledge__kav", version_id)
            wanted = {"online": "Online", "archived": "Archived", "draft": "Draft"}.get(status.lower())
            if wanted is None:
                raise SalesforceApiError("INVALID_INPUT", f"invalid publishStatus: {status}")
            if wanted == "Online" and rec.get("PublishStatus") != "Draft":
                raise SalesforceApiError("INVALID_OPERATION", "only a draft can be published")
            rec["PublishStatus"] = wanted
            rec["LastPublishedDate"] = now_iso() if wanted == "Online" else rec.get("LastPublishedDate")

    # -- inspection ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {name: len(recs) for name, recs in self.records.items() if recs}

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self.lock:
            return copy.deepcopy(self.records)


def _index_key(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.lower()
    return value


def _category_names(group: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()

    def walk(nodes: Iterable[Mapping[str, Any]]) -> None:
        for n in nodes:
            names.add(n["name"])
            walk(n.get("childCategories", []))

    walk(group.get("topCategories", []))
    return names


def diff_snapshots(before: Mapping[str, Mapping[str, Mapping[str, Any]]],
                   after: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, list[str]]]:
    """Per object: ids created, deleted and changed between two snapshots (system stamps ignored)."""
    out: dict[str, dict[str, list[str]]] = {}
    ignore = {"SystemModstamp", "LastModifiedDate", "LastModifiedById"}
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, {}), after.get(name, {})
        created = sorted(set(a) - set(b))
        deleted = sorted(set(b) - set(a))
        changed = sorted(rid for rid in set(a) & set(b)
                         if {k: v for k, v in a[rid].items() if k not in ignore}
                         != {k: v for k, v in b[rid].items() if k not in ignore})
        if created or deleted or changed:
            out[name] = {"created": created, "deleted": deleted, "changed": changed}
    return out
