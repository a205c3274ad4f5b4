"""Custom-field values in the forms people type them, converted where the meaning is clear.

Degrade, don't discard: a destination that cannot write a value as it is converts it when its meaning is
clear in the languages our users write (``1.234,56``, ``ja``/``nee``, ``31-12-2024``) and otherwise leaves the
field empty and keeps the original (see ``hookspecs.Change``). This module decides which, the same way for
every destination: ``coerce`` returns the converted value, or ``None`` with the reason it could not.

``NOT_APPLICABLE`` words (``n.v.t.``, ``N/A``, ``-``, ``?``, ``k.A.``, ``s.o.``) mean "no value": they convert
to empty, and the caller still reports the original, because a person typed something.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

# "No value" in Dutch, English, German, French and Spanish, as typed into forms (compared without dots,
# spaces and case: "n.v.t." and "N V T" are the same word).
NOT_APPLICABLE = frozenset({
    "nvt", "nb", "onbekend", "geen", "na", "n/a", "none", "null", "nil", "unknown", "tbd", "-", "--", "?", "??",
    "ka", "keineangabe", "unbekannt", "entfällt", "so", "sansobjet", "inconnu", "néant", "sd", "sindatos",
    "noaplica", "desconocido", "ninguno",
})
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on", "ja", "j", "waar", "wahr", "oui", "vrai", "si", "sí", "s",
                        "x", "✓", "✔", "checked", "aan", "an", "actief", "active"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off", "nee", "neen", "onwaar", "nein", "falsch", "non", "faux",
                         "unchecked", "uit", "aus", "inactief", "inactive"})

# 1.234.567,89 / 1 234 567,89 / 1'234'567.89 / 1,234,567.89 / 1234,5 / -12.5 / +3 / 12 %
_EUROPEAN = re.compile(r"[-+]?\d{1,3}([. \u00a0\u202f]\d{3})*(,\d+)?")
_ENGLISH = re.compile(r"[-+]?\d{1,3}([, \u00a0\u202f']\d{3})*(\.\d+)?")
_PLAIN = re.compile(r"[-+]?(\d+([.,]\d+)?|[.,]\d+)")
_CURRENCY = re.compile(r"^(?:[€$£¥]|eur|usd|gbp|chf)\s*|\s*(?:[€$£¥%]|eur|usd|gbp|chf)$", re.I)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_FIRST = re.compile(r"(\d{1,2})[-./ ](\d{1,2})[-./ ](\d{4}|\d{2})")
_YEAR_FIRST = re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})")


@dataclass(frozen=True)
class Coerced:
    """The outcome of ``coerce``: ``ok`` with ``value`` (None for a "no value" word), or not ``ok`` with
    ``problem`` in words a person understands."""

    ok: bool
    value: Any = None
    problem: str = ""
    converted: bool = False  # the value was rewritten (a decimal comma, "ja"), not passed through


def _key(text: str) -> str:
    return re.sub(r"[.\s_]", "", unicodedata.normalize("NFC", text).casefold())


def is_not_applicable(value: Any) -> bool:
    return isinstance(value, str) and _key(value) in NOT_APPLICABLE


def parse_number(value: Any) -> float | None:
    """A number written the European or the English way, with or without thousands separators and a
    currency or percent sign; None when it is not one (or is ambiguous beyond repair)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = _CURRENCY.sub("", str(value).strip()).strip()
    if not text:
        return None
    if _PLAIN.fullmatch(text):
        return float(text.replace(",", "."))
    if _EUROPEAN.fullmatch(text):
        return float(re.sub(r"[. \u00a0\u202f]", "", text).replace(",", "."))
    if _ENGLISH.fullmatch(text):
        return float(re.sub(r"[, \u00a0\u202f']", "", text))
    return None


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = unicodedata.normalize("NFC", str(value)).strip().casefold()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return None


def parse_date(value: Any, *, day_first: bool = True) -> date | None:
    """ISO dates and datetimes, and the local forms 31-12-2024, 31.12.2024, 31/12/24 (day first unless the
    caller knows the source writes month first; a day over 12 decides either way)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if _ISO_DATE.match(text):
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        if m := _YEAR_FIRST.fullmatch(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DAY_FIRST.fullmatch(text):
            a, b, year = int(m[1]), int(m[2]), int(m[3])
            year = year + 2000 if year < 70 else year + 1900 if year < 100 else year
            if day_first:
                day, month = (b, a) if b > 12 >= a else (a, b)
            else:
                day, month = (a, b) if a > 12 >= b else (b, a)
            return date(year, month, day)
    except ValueError:
        return None
    return None


def parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except ValueError:
        day = parse_date(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None


def coerce(value: Any, kind: str) -> Coerced:
    """``value`` as a ``kind`` ("number", "integer", "boolean", "date", "datetime", anything else: text).

    Empty values and "no value" words give ``Coerced(ok=True, value=None)`` (``converted`` when a word was
    read). A value whose meaning is not clear gives ``ok=False``: the caller leaves the field empty and keeps
    the original."""
    if value is None or value == "" or value == []:
        return Coerced(True, None)
    if is_not_applicable(value):
        return Coerced(True, None, converted=True)
    if kind in ("number", "integer"):
        number = parse_number(value)
        if number is None:
            return Coerced(False, problem=f"{value!r} is not a number")
        if kind == "integer":
            if not number.is_integer():
                return Coerced(False, problem=f"{value!r} is not a whole number")
            return Coerced(True, int(number), converted=not isinstance(value, int))
        return Coerced(True, number, converted=not isinstance(value, int | float))
    if kind == "boolean":
        flag = parse_bool(value)
        if flag is None:
            return Coerced(False, problem=f"{value!r} is not a yes/no value")
        return Coerced(True, flag, converted=not isinstance(value, bool))
    if kind == "date":
        day = parse_date(value)
        if day is None:
            return Coerced(False, problem=f"{value!r} is not a date")
        return Coerced(True, day.isoformat(), converted=day.isoformat() != str(value).strip())
    if kind == "datetime":
        dt = parse_datetime(value)
        if dt is None:
            return Coerced(False, problem=f"{value!r} is not a date and time")
        return Coerced(True, dt.astimezone(UTC).isoformat(), converted=True)
    return Coerced(True, value)
