"""What sampled values say about a source field: emails, phone numbers (mobile or landline, decided by the
number's country where it can be), postcodes by country, dates in local formats, yes/no words in several
languages, numbers with decimal commas, web addresses, countries, languages, and overlap with a picklist.

``profile`` measures a source field once; ``fit`` weighs that profile against what a destination field
holds and says why, in words a reviewer reads."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumberType

from ..values import is_not_applicable, parse_bool, parse_date, parse_number
from .names import fold

# Postcode shapes by country (the countries our users' customers live in; UK and US for English forms).
POSTCODES: dict[str, re.Pattern[str]] = {
    "NL": re.compile(r"[1-9]\d{3} ?(?!SA|SD|SS)[A-Z]{2}", re.I),
    "BE": re.compile(r"(?:B-?)?[1-9]\d{3}", re.I),
    "DE": re.compile(r"(?:D-?)?\d{5}", re.I),
    "FR": re.compile(r"(?:F-?)?(?:[0-8]\d|9[0-8])\d{3}", re.I),
    "UK": re.compile(r"(?:GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})", re.I),
    "US": re.compile(r"\d{5}(?:-\d{4})?"),
}
DEFAULT_PHONE_REGIONS = ("NL", "BE", "DE", "FR", "GB", "ES")
URL_RE = re.compile(r"(?:https?://|www\.)\S+|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|nl|de|be|fr|es|org|net|eu|io|co\.uk)(?:/\S*)?",
                    re.I)
COUNTRIES = frozenset(fold(c) for c in (
    "Nederland", "Netherlands", "The Netherlands", "Holland", "Niederlande", "Pays-Bas", "Países Bajos", "België",
    "Belgium", "Belgien", "Belgique", "Bélgica", "Deutschland", "Germany", "Duitsland", "Allemagne", "Alemania",
    "France", "Frankrijk", "Frankreich", "Francia", "Spain", "Spanje", "Spanien", "Espagne", "España",
    "United Kingdom", "UK", "Verenigd Koninkrijk", "Großbritannien", "Royaume-Uni", "Reino Unido",
    "United States", "USA", "Verenigde Staten", "Luxembourg", "Luxemburg", "Österreich", "Austria", "Oostenrijk",
    "Schweiz", "Switzerland", "Zwitserland", "Suisse", "Italy", "Italië", "Italien", "Italie", "Italia",
    "NL", "BE", "DE", "FR", "ES", "GB", "US", "LU", "AT", "CH", "IT", "NLD", "BEL", "DEU", "FRA", "ESP", "GBR", "USA"))
LANGUAGES = frozenset(fold(c) for c in (
    "nl", "en", "de", "fr", "es", "it", "nl-NL", "nl-BE", "en-GB", "en-US", "de-DE", "de-AT", "fr-FR", "fr-BE",
    "es-ES", "nl_NL", "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "Nederlands", "Dutch", "Engels", "English",
    "Duits", "German", "Deutsch", "Frans", "French", "Français", "Francais", "Spaans", "Spanish", "Español",
    "Englisch", "Niederländisch", "Französisch", "Spanisch", "Anglais", "Allemand", "Néerlandais", "Espagnol",
    "Inglés", "Alemán", "Francés", "Neerlandés"))


@dataclass
class Profile:
    """Shares of a source field's sampled values that look like each kind (0..1), over ``count`` values."""

    count: int = 0
    shares: dict[str, float] = field(default_factory=dict)
    postcode_countries: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)

    def share(self, kind: str) -> float:
        return self.shares.get(kind, 0.0)


def _flatten(samples: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for value in samples:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None or isinstance(item, dict):
                continue
            text = str(item).strip() if not isinstance(item, bool) else ("true" if item else "false")
            if text and not is_not_applicable(text):
                out.append(text)
    return out


def is_email(text: str) -> bool:
    if "@" not in text or " " in text:
        return False
    try:
        validate_email(text, check_deliverability=False)
        return True
    except EmailNotValidError:
        return False


def phone_type(text: str, regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> str | None:
    """"mobile", "landline", "phone" (valid, type not told) or None. A number with a country code is read in
    its own country; a national one in the first of ``regions`` where it is valid."""
    if sum(c.isdigit() for c in text) < 6 or re.search(r"[a-z]{2}", text, re.I):
        return None
    candidates = [None] if text.lstrip().startswith(("+", "00")) else list(regions)
    for region in candidates:
        try:
            number = phonenumbers.parse(text.replace("00", "+", 1) if text.lstrip().startswith("00") else text, region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        kind = phonenumbers.number_type(number)
        if kind == PhoneNumberType.MOBILE:
            return "mobile"
        if kind == PhoneNumberType.FIXED_LINE:
            return "landline"
        return "phone"
    return None


def postcode_countries(text: str) -> list[str]:
    return [country for country, pattern in POSTCODES.items() if pattern.fullmatch(text.strip())]


def profile(samples: Iterable[Any]) -> Profile:
    values = _flatten(samples)
    result = Profile(count=len(values), values=values)
    if not values:
        return result
    counts: dict[str, int] = {}
    countries: dict[str, int] = {}

    def bump(kind: str) -> None:
        counts[kind] = counts.get(kind, 0) + 1

    for text in values:
        if is_email(text):
            bump("email")
            continue
        if URL_RE.fullmatch(text):
            bump("url")
            continue
        folded = fold(text)
        if parse_bool(text) is not None:
            bump("boolean")
        if folded in COUNTRIES:
            bump("country")
        if folded in LANGUAGES:
            bump("language")
        places = postcode_countries(text)
        if places:
            bump("postcode")
            for country in places:
                countries[country] = countries.get(country, 0) + 1
        if parse_date(text) is not None:
            bump("date")
        kind = phone_type(text) if not parse_date(text) else None
        if kind:
            bump("phone")
            bump(kind)
        elif parse_number(text) is not None:
            bump("number")
        if not any(c.isdigit() for c in text) and len(text.split()) <= 4 and folded not in COUNTRIES:
            bump("word")  # a short text without digits: a name, a city, a picklist value
        if len(text) > 60 or len(text.split()) > 8:
            bump("long_text")
    result.shares = {k: v / len(values) for k, v in counts.items()}
    result.postcode_countries = sorted(countries, key=lambda c: -countries[c])
    return result


@dataclass(frozen=True)
class Fit:
    """``score`` 0..1 (0.5: the values say nothing either way), ``strong``: enough values to count."""

    score: float
    reason: str
    strong: bool = False


NEUTRAL = Fit(0.5, "no sample values")


def fit(kind: str, prof: Profile, picklist: Sequence[str] = ()) -> Fit:
    """How well the sampled values fit a destination field holding ``kind`` values."""
    if prof.count == 0:
        return NEUTRAL
    strong = prof.count >= 3
    if picklist:
        allowed = {fold(p) for p in picklist}
        inside = sum(1 for v in prof.values if fold(v) in allowed) / prof.count
        return Fit(0.3 + 0.7 * inside, f"{inside:.0%} of sampled values are picklist values", strong)
    share = prof.share
    measured = {
        "email": ("email", "email addresses"), "url": ("url", "web addresses"), "date": ("date", "dates"),
        "datetime": ("date", "dates"), "boolean": ("boolean", "yes/no values"), "number": ("number", "numbers"),
        "postcode": ("postcode", "postcodes"), "country": ("country", "countries"),
        "language": ("language", "languages"), "phone": ("phone", "phone numbers"), "fax": ("phone", "phone numbers"),
    }
    if kind == "mobile":
        s = share("mobile") + 0.6 * (share("phone") - share("mobile") - share("landline")) + 0.3 * share("landline")
        return Fit(s, f"{share('mobile'):.0%} of sampled values are mobile numbers", strong)
    if kind == "landline":
        s = share("landline") + 0.8 * (share("phone") - share("mobile") - share("landline")) + 0.5 * share("mobile")
        return Fit(s, f"{share('phone'):.0%} of sampled values are phone numbers "
                      f"({share('landline'):.0%} landline, {share('mobile'):.0%} mobile)", strong)
    if kind == "postcode":
        where = f" ({', '.join(prof.postcode_countries[:3])})" if prof.postcode_countries else ""
        return Fit(share("postcode"), f"{share('postcode'):.0%} of sampled values are postcodes{where}", strong)
    if kind in measured:
        key, words = measured[kind]
        return Fit(share(key), f"{share(key):.0%} of sampled values are {words}", strong)
    # Free text takes anything, but a field of emails, phone numbers or dates is not a name, city or note.
    typed = max(share("email"), share("phone"), share("date"), share("url"))
    if kind == "city" and share("word") >= 0.8:
        return Fit(0.7, f"{share('word'):.0%} of sampled values are short words (place names)", strong)
    if typed >= 0.8:
        return Fit(0.15, "the sampled values are emails, phone numbers, dates or addresses, not free text", strong)
    return Fit(0.55, "free text accepts the sampled values", strong)
