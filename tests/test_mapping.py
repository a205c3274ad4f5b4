"""The heuristic field-map proposer: names, types and sampled values, one source per destination field."""

from migration_assets.mapping import heuristic_proposer

DEST = [
    {"name": "Email", "label": "Email", "type": "email"},
    {"name": "Phone", "label": "Business Phone", "type": "phone"},
    {"name": "MobilePhone", "label": "Mobile Phone", "type": "phone"},
    {"name": "Birthdate", "label": "Birthdate", "type": "date"},
    {"name": "HasOptedOutOfEmail", "label": "Email Opt Out", "type": "boolean"},
    {"name": "Customer_Number__c", "label": "Customer number", "type": "string"},
]
SOURCE = [
    {"name": "email", "label": "email", "type": "email"},
    {"name": "phone", "label": "phone", "type": "phone"},
    {"name": "custom_fields.mobile", "label": "Mobile", "type": "phone"},
    {"name": "custom_fields.birthday", "label": "Birthday", "type": "datetime"},
    {"name": "custom_fields.newsletter", "label": "Newsletter", "type": "boolean"},
    {"name": "custom_fields.customer-number", "label": "Customer number", "type": "string"},
]
SAMPLES = {"email": ["a@example.com", "b@example.org"], "phone": ["+31 6 12345678"],
           "custom_fields.mobile": ["+31 6 87654321"], "custom_fields.birthday": ["1990-04-01"],
           "custom_fields.newsletter": [True, False], "custom_fields.customer-number": ["C-1001", "C-1002"]}


def proposals():
    return {p["destination"]: p for p in heuristic_proposer.propose(destination_fields=DEST, source_fields=SOURCE,
                                                                     samples=SAMPLES)}


def test_obvious_fields_map_with_high_confidence():
    p = proposals()
    assert p["Email"]["source"] == "email" and p["Email"]["confidence"] > 0.9
    assert p["Customer_Number__c"]["source"] == "custom_fields.customer-number"
    assert p["Phone"]["source"] == "phone"
    assert p["MobilePhone"]["source"] == "custom_fields.mobile"


def test_each_source_feeds_one_destination_and_weak_names_never_win():
    p = proposals()
    sources = [x["source"] for x in p.values() if x["source"]]
    assert len(sources) == len(set(sources))
    # "newsletter" is boolean like "Email Opt Out", but the names say nothing alike: consent must not invert.
    assert p["HasOptedOutOfEmail"]["source"] is None
    assert all(x["reasons"] for x in p.values())
