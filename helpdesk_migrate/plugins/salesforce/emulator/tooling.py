"""Tooling API CustomField metadata <-> the emulated org's field definitions.

Creating a field through ``tooling/sobjects/CustomField`` behaves as in a real org: the name must end in
``__c``, the object must accept custom fields (CaseComment, Group... do not), a second field with the
same name is a DUPLICATE_DEVELOPER_NAME, and the new field stays invisible to the API user (field-level
security) until a FieldPermissions row grants it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .org import FieldDef, Org, SalesforceApiError, decode_valid_for, encode_valid_for

NAME_RE = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*__c$")


def _values(metadata: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    value_set = metadata.get("valueSet") or {}
    definition = value_set.get("valueSetDefinition") or {}
    values = [{"active": True, "defaultValue": bool(v.get("default")), "label": v.get("label") or v["fullName"],
               "value": v["fullName"], "validFor": None} for v in definition.get("value") or []]
    return values, bool(value_set.get("restricted"))


def field_from_metadata(name: str, metadata: Mapping[str, Any], *, controller_values: list[str] | None = None) -> FieldDef:
    t = metadata.get("type")
    label = metadata.get("label") or name[:-3].replace("_", " ")
    common: dict[str, Any] = {"label": label, "custom": True, "external_id": bool(metadata.get("externalId")),
                              "unique": bool(metadata.get("unique")),
                              "case_sensitive": bool(metadata.get("caseSensitive")),
                              "nillable": not metadata.get("required")}
    if t == "Text":
        length = int(metadata.get("length") or 0)
        if not 1 <= length <= 255:
            raise SalesforceApiError("FIELD_INTEGRITY_EXCEPTION", "Length: a Text field's length must be 1-255",
                                     ["length"])
        return FieldDef(name, "string", length=length, **common)
    if t in ("LongTextArea", "Html", "TextArea"):
        length = int(metadata.get("length") or (255 if t == "TextArea" else 0))
        if not 256 <= length <= 131072 and t != "TextArea":
            raise SalesforceApiError("FIELD_INTEGRITY_EXCEPTION", "Length: must be 256-131072", ["length"])
        return FieldDef(name, "textarea", length=length, html=t == "Html", filterable=t == "TextArea", **common)
    simple = {"Email": ("email", 80), "Phone": ("phone", 40), "Url": ("url", 255), "Date": ("date", 0),
              "DateTime": ("datetime", 0)}
    if t in simple:
        kind, length = simple[t]
        return FieldDef(name, kind, length=length, **common)
    if t == "Number":
        return FieldDef(name, "double", precision=int(metadata.get("precision") or 18),
                        scale=int(metadata.get("scale") or 0), **common)
    if t == "Checkbox":
        default = str(metadata.get("defaultValue", "false")).lower() == "true"
        return FieldDef(name, "boolean", default=default, defaulted=True, **{**common, "nillable": False})
    if t in ("Picklist", "MultiselectPicklist"):
        values, restricted = _values(metadata)
        f = FieldDef(name, "picklist" if t == "Picklist" else "multipicklist",
                     length=255 if t == "Picklist" else 4099, picklist=values, restricted=restricted, **common)
        controlling = (metadata.get("valueSet") or {}).get("controllingField")
        if controlling:
            f.controller = controlling
            settings = (metadata.get("valueSet") or {}).get("valueSettings") or []
            index = {v: i for i, v in enumerate(controller_values or [])}
            for entry in f.picklist:
                valid = [index[c] for s in settings if s.get("valueName") == entry["value"]
                         for c in s.get("controllingFieldValue", []) if c in index]
                entry["validFor"] = encode_valid_for(valid)
        return f
    raise SalesforceApiError("FIELD_INTEGRITY_EXCEPTION", f"Type: unsupported or invalid field type {t!r}", ["type"])


def metadata_from_field(f: FieldDef, controller_values: list[str] | None = None) -> dict[str, Any]:
    kinds = {"string": "Text", "email": "Email", "phone": "Phone", "url": "Url", "date": "Date",
             "datetime": "DateTime", "double": "Number", "boolean": "Checkbox", "picklist": "Picklist",
             "multipicklist": "MultiselectPicklist"}
    kind = kinds.get(f.type) or ("Html" if f.html else "LongTextArea" if f.length > 255 else "TextArea")
    meta: dict[str, Any] = {"label": f.label, "type": kind, "externalId": f.external_id, "unique": f.unique,
                            "caseSensitive": f.case_sensitive, "required": not f.nillable and f.type != "boolean"}
    if kind in ("Text", "LongTextArea", "Html"):
        meta["length"] = f.length
    if kind == "Number":
        meta.update(precision=f.precision, scale=f.scale)
    if kind == "Checkbox":
        meta["defaultValue"] = "true" if f.default else "false"
    if kind in ("Picklist", "MultiselectPicklist"):
        meta["valueSet"] = {"restricted": f.restricted, "valueSetDefinition": {"sorted": False, "value": [
            {"fullName": v["value"], "label": v["label"], "default": v["defaultValue"]} for v in f.picklist]}}
        if f.controller:
            names = controller_values or []
            meta["valueSet"]["controllingField"] = f.controller
            meta["valueSet"]["valueSettings"] = [
                {"valueName": v["value"], "controllingFieldValue": [names[i] for i in sorted(decode_valid_for(
                    v.get("validFor"))) if i < len(names)]} for v in f.picklist]
    return meta


def _controller_values(org: Org, obj: str, metadata: Mapping[str, Any]) -> list[str] | None:
    controlling = (metadata.get("valueSet") or {}).get("controllingField")
    if not controlling:
        return None
    ctrl = org.objects[obj].field(controlling)
    if ctrl is None:
        raise SalesforceApiError("FIELD_INTEGRITY_EXCEPTION", f"controllingField {controlling} does not exist",
                                 ["valueSet"])
    return ["false", "true"] if ctrl.type == "boolean" else [v["value"] for v in ctrl.picklist]


def table_enum_or_id(org: Org, obj_name: str) -> str:
    """What Tooling's TableEnumOrId holds for an object: its API name for a standard object, its CustomObject
    Id for a custom one (Knowledge__kav too), as EntityDefinition.DurableId gives it."""
    if obj_name == "Activity" or not org.objects[obj_name].custom:
        return obj_name
    for rec in org.records["EntityDefinition"].values():
        if rec.get("QualifiedApiName") == obj_name:
            return str(rec["DurableId"])
    return obj_name


def object_of_table(org: Org, table: str) -> str:
    """The object a TableEnumOrId value stands for (Task for Activity; a custom object through its Id)."""
    if table == "Activity":
        return "Task"
    for rec in org.records["EntityDefinition"].values():
        if rec.get("DurableId") == table:
            return str(rec["QualifiedApiName"])
    return table


def seed_entity_definitions(org: Org) -> None:
    """EntityDefinition rows for the org's sObjects, and a CustomObject for each custom one (its Id is the
    DurableId Tooling's TableEnumOrId and EntityDefinitionId hold)."""
    for obj in list(org.objects.values()):
        if obj.tooling:
            continue
        durable = obj.name
        if obj.custom:
            cid = org.ids.next(org.objects["CustomObject"].prefix)
            developer = obj.name.rsplit("__", 1)[0]
            org._store(org.objects["CustomObject"], cid, {"Id": cid, "DeveloperName": developer,
                                                          "NamespacePrefix": None, "IsDeleted": False})
            durable = cid[:15]
        eid = org.ids.next(org.objects["EntityDefinition"].prefix)
        org._store(org.objects["EntityDefinition"], eid, {
            "Id": eid, "QualifiedApiName": obj.name, "DeveloperName": obj.name.rsplit("__", 1)[0],
            "DurableId": durable, "KeyPrefix": obj.prefix, "IsDeleted": False})


def create_custom_field(org: Org, full_name: str, metadata: Mapping[str, Any]) -> str:
    with org.lock:
        if "." not in (full_name or ""):
            raise SalesforceApiError("INVALID_INPUT", "FullName must be Object.Field__c", ["FullName"])
        obj_name, name = full_name.split(".", 1)
        table = obj_name
        if obj_name in ("Task", "Event"):
            raise SalesforceApiError("INVALID_TYPE", f"Custom fields of {obj_name} are created on Activity",
                                     ["FullName"])
        if obj_name == "Activity":  # Task (and Event) custom fields live on Activity
            obj_name = "Task"
            if metadata.get("externalId") or metadata.get("unique"):
                raise SalesforceApiError("FIELD_INTEGRITY_EXCEPTION", "External ID and Unique are not available "
                                         "for activity custom fields", ["externalId"])
        try:
            obj = org.object(obj_name)
        except SalesforceApiError:
            raise SalesforceApiError("INVALID_INPUT", f"Cannot find entity {obj_name}", ["FullName"]) from None
        if not obj.allows_custom_fields:
            raise SalesforceApiError("INVALID_TYPE", f"Cannot create custom fields on {obj.name}", ["FullName"])
        if not NAME_RE.match(name) or len(name) > 43:
            raise SalesforceApiError("INVALID_FIELD", f"The field name {name} is not valid: it must end in __c, begin "
                                     "with a letter and contain only letters, numbers and single underscores",
                                     ["FullName"])
        if obj.field(name) is not None:
            raise SalesforceApiError("DUPLICATE_DEVELOPER_NAME", f"There is already a field named {name[:-3]} on "
                                     f"{obj.name}.", ["FullName"])
        f = field_from_metadata(name, metadata, controller_values=_controller_values(org, obj.name, metadata))
        f.visible = False  # field-level security: nobody sees a new field until a permission grants it
        obj.add_field(f)
        org.add_index(obj.name, f.name)
        tooling = org.objects["CustomField"]
        fid = org.ids.next(tooling.prefix)
        org._store(tooling, fid, {"Id": fid, "DeveloperName": name[:-3],
                                  "TableEnumOrId": table_enum_or_id(org, table), "FullName": f"{table}.{name}",
                                  "IsDeleted": False})
        return fid


def obj_of(org: Org, rec: Mapping[str, Any]) -> str:
    return object_of_table(org, rec["TableEnumOrId"])


def custom_field_record(org: Org, fid: str) -> tuple[dict[str, Any], FieldDef]:
    rec = org.get("CustomField", fid)
    obj = org.objects[obj_of(org, rec)]
    f = obj.fields.get(rec["DeveloperName"] + "__c")
    if f is None:
        raise SalesforceApiError("NOT_FOUND", "The requested resource does not exist", status=404)
    return rec, f


def describe_custom_field(org: Org, fid: str, api_version: str) -> dict[str, Any]:
    with org.lock:
        rec, f = custom_field_record(org, fid)
        meta = metadata_from_field(f, _controller_values(org, obj_of(org, rec), {
            "valueSet": {"controllingField": f.controller}} if f.controller else {}))
        return {"attributes": {"type": "CustomField", "url": f"/services/data/v{api_version}/tooling/sobjects/"
                               f"CustomField/{fid}"}, "Id": fid, "DeveloperName": rec["DeveloperName"],
                "TableEnumOrId": rec["TableEnumOrId"], "FullName": rec["FullName"], "Metadata": meta}


def update_custom_field(org: Org, fid: str, metadata: Mapping[str, Any]) -> None:
    with org.lock:
        rec, f = custom_field_record(org, fid)
        new = field_from_metadata(f.name, metadata, controller_values=_controller_values(
            org, obj_of(org, rec), metadata))
        if new.type != f.type:
            raise SalesforceApiError("FIELD_INTEGRITY_EXCEPTION", "Changing a field's type is not supported here",
                                     ["type"])
        if new.length and new.length < f.length:
            raise SalesforceApiError("FIELD_INTEGRITY_EXCEPTION", "Length can't shrink below existing data",
                                     ["length"])
        f.label, f.length, f.picklist, f.restricted = new.label, new.length or f.length, new.picklist, new.restricted
        f.external_id, f.unique, f.controller = new.external_id, new.unique, new.controller or f.controller


def delete_custom_field(org: Org, fid: str) -> None:
    with org.lock:
        rec, f = custom_field_record(org, fid)
        obj = org.objects[obj_of(org, rec)]
        del obj.fields[f.name]
        obj.reindex()
        org.indexes[obj.name].pop(f.name, None)
        for r in org.records[obj.name].values():
            r.pop(f.name, None)
        org._remove(org.objects["CustomField"], rec["Id"])


def prepare_emulated_org(org: Any, cfg: Any = None, *, source: str = "trengo") -> None:
    """Create the plan's fields directly in an emulated org (``schema="prepared"``), as if an admin had
    followed the plan for a migration from ``source`` (the fields carry its prefix)."""
    from ..schema import plan_fields
    from ..settings import SalesforceConfig, field_prefix_for

    cfg = cfg or SalesforceConfig(session_id="x", instance_url="http://127.0.0.1",
                                  field_prefix=field_prefix_for(source))
    for spec in plan_fields(cfg, knowledge=org.knowledge_enabled):
        obj = org.objects[spec.object]
        if obj.field(spec.name) is None:
            obj.add_field(field_from_metadata(spec.name, spec.metadata))
            org.add_index(spec.object, spec.name)
            tooling = org.objects["CustomField"]
            fid = org.ids.next(tooling.prefix)
            org._store(tooling, fid, {"Id": fid, "DeveloperName": spec.name[:-3],
                                      "TableEnumOrId": table_enum_or_id(org, spec.table),
                                      "FullName": spec.tooling_name, "IsDeleted": False})

