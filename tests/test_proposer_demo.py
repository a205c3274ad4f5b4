"""The demo workspace's custom fields (Trengo emulator) proposed against the Salesforce emulator's describe:
the right fields, and nothing above the threshold that fills a business field with an identifier or a
system flag. Also with the same fields titled in Dutch, as the workspaces our users migrate are."""

from __future__ import annotations

import copy

import pytest

from helpdesk_migrate.plugins.trengo.emulator.workspace import Workspace
from helpdesk_migrate.plugins.trengo.mapping import map_custom_field
from migration_assets.mapping import builtin_proposer, source_fields
from migration_assets.proposer import THRESHOLD
from migration_assets.proposer.names import is_system_destination, is_system_source

DUTCH = {"Customer number": "Klantnummer", "Lifetime value": "Klantwaarde", "Birthday": "Geboortedatum",
         "Tier": "Niveau", "Newsletter": "Nieuwsbrief", "Invoice email": "Factuur e-mailadres",
         "Mobile": "Mobiel nummer", "Website": "Website", "Interests": "Interesses", "Order number": "Ordernummer",
         "Items": "Aantal artikelen", "Delivery date": "Leverdatum", "Reason": "Reden van contact",
         "Products": "Producten"}


@pytest.fixture(scope="module")
def describe():
    from helpdesk_migrate.plugins.salesforce.emulator.server import SalesforceEmulator
    from helpdesk_migrate.plugins.salesforce.plugin import SalesforceDestination

    emu = SalesforceEmulator(seed=3, size=10, port=0).start()
    try:
        conn = SalesforceDestination().connect(emu.env())
        try:
            yield {c: conn.describe_fields(c) for c in ("contacts", "conversations")}
        finally:
            conn.close()
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def workspace():
    return Workspace(seed=42, size=40)


def contact_samples(ws: Workspace, defs: list[dict]) -> dict[str, list]:
    key_of = {d["name"]: d["key"] for d in defs}
    samples: dict[str, list] = {"email": [], "phone": []}
    for i in range(len(ws.c_channel)):
        payload = ws.contact_payload(i, base="http://emulator")
        for name in ("email", "phone"):
            if payload.get(name):
                samples[name].append(payload[name])
        for v in payload.get("custom_field_values") or []:
            key = key_of.get(v["field_name"])
            if key:
                samples.setdefault(f"custom_fields.{key}", []).append(v["value"])
    return samples


def propose(describe, ws, *, titles: dict[str, str] | None = None):
    raw = copy.deepcopy(ws.custom_fields)
    for f in raw:
        f["title"] = (titles or {}).get(f["title"], f["title"])
    defs = [map_custom_field(f) for f in raw]
    samples = contact_samples(ws, [map_custom_field(f) for f in ws.custom_fields])
    # The samples are keyed by the English titles' keys: re-key them to the (possibly translated) fields.
    by_id = {d["id"]: d["key"] for d in defs}
    for english in (map_custom_field(f) for f in ws.custom_fields):
        if english["key"] != by_id[english["id"]] and f"custom_fields.{english['key']}" in samples:
            samples[f"custom_fields.{by_id[english['id']]}"] = samples.pop(f"custom_fields.{english['key']}")
    label_of = {f"custom_fields.{d['key']}": d["name"] for d in defs}
    out = {}
    for canonical in ("contacts", "conversations"):
        src = source_fields(canonical, defs)
        proposals = builtin_proposer.propose(destination_fields=describe[canonical], source_fields=src,
                                             samples=samples if canonical == "contacts" else {})
        out[canonical] = {p["destination"]: (label_of.get(p["source"], p["source"]), p["confidence"], p["reasons"])
                          for p in proposals}
        labels = {s["name"]: s["label"] for s in src}
        for p in proposals:
            if p["source"] and p["confidence"] >= THRESHOLD:
                assert not is_system_source(p["source"], labels[p["source"]]), p
                assert not is_system_destination(p["destination"]), p
    return out


def chosen(proposals: dict) -> dict[str, str]:
    return {dest: src for dest, (src, conf, _) in proposals.items() if src and conf >= THRESHOLD}


def test_demo_custom_fields_go_to_the_right_salesforce_fields(describe, workspace):
    got = propose(describe, workspace)
    assert chosen(got["contacts"]) == {"Phone": "phone", "MobilePhone": "Mobile", "Birthdate": "Birthday",
                                       "Customer_Number__c": "Customer number"}
    assert chosen(got["conversations"]) == {"Subject": "subject", "Reason": "Reason",
                                            "Order_Number__c": "Order number"}
    # The demo's mobiles are Belgian (+32 4...): the values back the name.
    assert any("mobile numbers" in r for r in got["contacts"]["MobilePhone"][2])


def test_the_same_fields_titled_in_dutch(describe, workspace):
    got = propose(describe, workspace, titles=DUTCH)
    assert chosen(got["contacts"]) == {"Phone": "phone", "MobilePhone": "Mobiel nummer",
                                       "Birthdate": "Geboortedatum", "Customer_Number__c": "Klantnummer"}
    assert chosen(got["conversations"]) == {"Subject": "subject", "Reason": "Reden van contact",
                                            "Order_Number__c": "Ordernummer"}
    # Nieuwsbrief (a consent) never becomes the opt-out, and Niveau (a tier) never the job title.
    assert got["contacts"]["HasOptedOutOfEmail"][0] is None and got["contacts"]["Title"][0] is None
