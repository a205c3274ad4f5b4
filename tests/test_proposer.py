"""The built-in field-map proposer: multilingual names, value evidence, type fit, one-to-one assignment,
calibrated confidence, and the fields it must never fill."""

from __future__ import annotations

import pytest

from migration_assets.proposer import THRESHOLD, KnowledgeProposer, evidence
from migration_assets.proposer.engine import Candidate, assign
from migration_assets.proposer.names import compact, is_system_source

# Salesforce standard Contact fields as an org describes them (names, labels, types).
CONTACT = [
    {"name": n, "label": lbl, "type": t, "picklist_values": p}
    for n, lbl, t, p in [
        ("FirstName", "First Name", "string", []), ("LastName", "Last Name", "string", []),
        ("Phone", "Business Phone", "phone", []), ("MobilePhone", "Mobile Phone", "phone", []),
        ("HomePhone", "Home Phone", "phone", []), ("Title", "Title", "string", []),
        ("Department", "Department", "string", []), ("MailingStreet", "Mailing Street", "textarea", []),
        ("MailingCity", "Mailing City", "string", []), ("MailingPostalCode", "Mailing Zip/Postal Code", "string", []),
        ("OtherStreet", "Other Street", "textarea", []), ("OtherCity", "Other City", "string", []),
        ("Birthdate", "Birthdate", "date", []),
        ("LeadSource", "Lead Source", "picklist", ["Web", "Phone Inquiry", "Partner Referral", "Other"]),
        ("HasOptedOutOfEmail", "Email Opt Out", "boolean", []), ("DoNotCall", "Do Not Call", "boolean", []),
    ]
]
proposer = KnowledgeProposer()


def propose_one(title: str, type_: str = "string", samples=()) -> dict:
    src = [{"name": "custom_fields.x", "label": title, "type": type_}]
    out = proposer.propose(destination_fields=CONTACT, source_fields=src, samples={"custom_fields.x": list(samples)})
    chosen = [p for p in out if p["source"]]
    assert len(chosen) <= 1
    return chosen[0] if chosen else {"destination": None, "confidence": 0.0}


@pytest.mark.parametrize("title,type_,samples,expected", [
    ("Voornaam", "string", ["Jan", "Anouk"], "FirstName"),
    ("Achternaam", "string", ["de Vries"], "LastName"),
    ("Telefoonnummer", "phone", ["020 123 4567"], "Phone"),
    ("Woonplaats", "string", ["Utrecht", "Zwolle"], "MailingCity"),
    ("Postcode", "string", ["1012 AB", "3511CD"], "MailingPostalCode"),
    ("Geboortedatum", "datetime", ["12-03-1985"], "Birthdate"),
    ("Street address", "string", [], "MailingStreet"),  # not OtherStreet
    ("Cell", "phone", ["+1 415 555 0132"], "MobilePhone"),
    ("Dept.", "string", ["Finance"], "Department"),
    ("How did you hear about us?", "enum", ["Web"], "LeadSource"),
    ("Handynummer", "phone", [], "MobilePhone"),
    ("Téléphone portable", "phone", [], "MobilePhone"),
    ("Fecha de nacimiento", "datetime", [], "Birthdate"),
    ("Telefon privat", "phone", [], "HomePhone"),
    ("Mobielnummer", "phone", [], "MobilePhone"),        # a compound with a filler word
    ("Postcode nr", "string", ["1012 AB"], "MailingPostalCode"),
    ("Telefonnummer (geschäftlich)", "phone", [], "Phone"),  # the other word is one of the field's own
])
def test_real_world_titles_in_five_languages_are_proposed_to_the_right_field(title, type_, samples, expected):
    got = propose_one(title, type_, samples)
    assert got["destination"] == expected, got
    assert got["confidence"] >= THRESHOLD and got["reasons"]


@pytest.mark.parametrize("title,type_,samples", [
    ("id", "string", ["1001", "1002"]),              # was LeadSource <- id (0.64)
    ("email", "email", ["a@example.com"]),           # was HasOptedOutOfEmail <- email (0.55)
    ("tier", "enum", ["Gold", "Silver"]),            # was Title <- tier (0.74)
    ("Newsletter", "boolean", ["1", "0"]),           # consent is not an opt-out: never inverted
    ("created_at", "datetime", ["2024-01-02"]),
    ("Klantnummer", "string", ["K-000123"]),
    ("Schoenmaat", "number", ["42"]),
    # The field's name beside a word of its own means another thing: a place of birth is not where the
    # contact lives, a partner's number not the contact's.
    ("Geboorteplaats", "string", ["Zwolle", "Deventer", "Kampen"]),
    ("Telefoonnummer partner", "phone", ["020 123 4567"]),
    ("Nationaliteit", "string", ["Nederlandse"]),
])
def test_nonsense_stays_below_the_threshold(title, type_, samples):
    assert propose_one(title, type_, samples)["destination"] is None


def test_identifiers_and_system_fields_are_recognised():
    assert is_system_source("contact_id") and is_system_source("id") and is_system_source("custom_fields.x", "Ticket ID")
    assert is_system_source("updated_at") and is_system_source("custom_fields.owner", "Owner")
    assert not is_system_source("custom_fields.voornaam", "Voornaam")
    assert not is_system_source("custom_fields.ideal", "Ideaal")


def test_a_system_flag_needs_the_exact_name():
    assert propose_one("Email opt-out", "boolean", ["yes", "no"])["destination"] == "HasOptedOutOfEmail"
    assert propose_one("Niet bellen", "boolean", ["ja", "nee"])["destination"] == "DoNotCall"
    assert propose_one("Opt", "boolean", ["ja"])["destination"] is None


def test_weak_names_stay_below_the_threshold_whatever_the_types_and_values():
    dest = {"name": "Birthdate", "label": "Birthdate", "type": "date", "picklist_values": []}
    src = {"name": "custom_fields.b", "label": "Birds", "type": "datetime"}  # fits perfectly, name only alike
    cand = proposer.score(dest, src, evidence.profile(["1990-01-01", "12-03-1985", "01.02.1970"]))
    assert cand is not None and cand.confidence < THRESHOLD


def test_values_decide_mobile_or_landline_and_rank_contradictions_lower():
    phone = {"name": "Phone", "label": "Business Phone", "type": "phone", "picklist_values": []}
    src = {"name": "custom_fields.t", "label": "Telefoon", "type": "phone"}
    landlines = evidence.profile(["020 123 4567", "+31 10 4567890", "030-2345678"])
    mobiles = evidence.profile(["06 12345678", "+31 6 41234567", "0612345678"])
    assert proposer.score(phone, src, landlines).confidence > proposer.score(phone, src, mobiles).confidence
    assert evidence.fit("mobile", mobiles).score > evidence.fit("mobile", landlines).score
    birth = {"name": "Birthdate", "label": "Birthdate", "type": "date", "picklist_values": []}
    bday = {"name": "custom_fields.g", "label": "Geboortedatum", "type": "string"}
    dates = proposer.score(birth, bday, evidence.profile(["31-12-1980", "01.02.1975", "1990-04-01"]))
    words = proposer.score(birth, bday, evidence.profile(["weet ik niet", "geen idee", "later"]))
    assert dates.confidence > THRESHOLD > words.confidence


def test_one_source_feeds_one_field_and_the_surer_pair_wins():
    src = [{"name": "phone", "label": "phone", "type": "phone"},
           {"name": "custom_fields.mobiel", "label": "Mobiel", "type": "phone"}]
    out = {p["destination"]: p["source"] for p in proposer.propose(
        destination_fields=CONTACT, source_fields=src, samples={"custom_fields.mobiel": ["06 12345678"]})}
    assert out["Phone"] == "phone" and out["MobilePhone"] == "custom_fields.mobiel"
    assert list(out.values()).count("phone") == 1


def test_assignment_does_not_trade_one_sure_pair_for_two_doubtful_ones():
    table = {(0, 0): Candidate(0.98, []), (0, 1): Candidate(0.72, []), (1, 0): Candidate(0.72, [])}
    assert assign(table, 2, 2, THRESHOLD) == {0: 0}


def test_names_compare_without_case_accents_punctuation_and_camel_case():
    assert compact("E-mailadres:") == compact("emailadres")
    assert compact("Prénom") == compact("prenom")
    assert compact("MailingPostalCode") == compact("mailing postal code")
    assert compact("custom_fields.Customer_Number__c") == compact("Customer number")


# -- value evidence --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,kind", [
    ("+31 6 41234567", "mobile"), ("06-12345678", "mobile"), ("020 123 4567", "landline"),
    ("+49 30 1234567", "landline"), ("+49 160 1234567", "mobile"), ("+32 475 12 34 56", "mobile"),
    ("+33 6 12 34 56 78", "mobile"), ("01 23 45 67 89", "landline"), ("12345", None), ("K-000123", None),
])
def test_phone_numbers_mobile_or_landline_by_their_country(text, kind):
    assert evidence.phone_type(text) == kind


@pytest.mark.parametrize("text,country", [
    ("1012 AB", "NL"), ("3511CD", "NL"), ("10115", "DE"), ("75001", "FR"), ("1000", "BE"), ("SW1A 1AA", "UK"),
    ("94107-1234", "US"),
])
def test_postcodes_by_country(text, country):
    assert country in evidence.postcode_countries(text)


def test_not_a_postcode():
    assert evidence.postcode_countries("Kerkstraat 12") == []
    assert evidence.postcode_countries("1012 SS") == []  # NL never issues SA, SD, SS


def test_profile_reads_local_dates_booleans_numbers_and_emails():
    p = evidence.profile(["31-12-2024", "01.02.1999", "2024-03-04"])
    assert p.share("date") == 1.0
    assert evidence.profile(["ja", "nee", "oui", "non", "Wahr"]).share("boolean") == 1.0
    assert evidence.profile(["1.234,56", "12,5", "89"]).share("number") == 1.0
    assert evidence.profile(["jan@example.nl", "not-an-email"]).share("email") == 0.5
    assert evidence.profile(["n.v.t.", "", None]).count == 0  # "no value" words are not evidence
    assert evidence.profile([["Schoenen", "Tassen"]]).count == 2


def test_fit_weighs_picklists_and_contradictions():
    picked = evidence.fit("picklist", evidence.profile(["Web", "Other", "web"]), ["Web", "Other"])
    assert picked.score == 1.0 and "100%" in picked.reason
    foreign = evidence.fit("picklist", evidence.profile(["Google", "Via een vriend", "Krant"]), ["Web", "Other"])
    assert foreign.score < picked.score
    assert evidence.fit("postcode", evidence.profile(["1012 AB", "10115", "75001"]), ()).score == 1.0
    assert evidence.fit("city", evidence.profile(["a@b.nl", "c@d.de", "e@f.fr"]), ()).score < 0.2
    assert evidence.fit("email", evidence.profile([]), ()) is evidence.NEUTRAL


def test_without_scipy_the_assignment_is_greedy_best_first(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # import fails as if scipy were not installed
    table = {(0, 0): Candidate(0.98, []), (0, 1): Candidate(0.72, []), (1, 0): Candidate(0.72, []),
             (1, 1): Candidate(0.8, []), (2, 1): Candidate(0.9, [])}
    assert assign(table, 3, 2, THRESHOLD) == {0: 0, 2: 1}
