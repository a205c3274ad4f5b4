"""Pure conversions from canonical values to Salesforce values: emails, names, type conversion of custom
properties, body splitting by bytes, HTML to text, and inline-image reference rewriting."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses, parseaddr
from typing import Any

import html2text
import phonenumbers
from dateutil import parser as date_parser
from email_validator import EmailNotValidError, validate_email

from helpdesk_migrate.sdk import coerce

TRUE_WORDS = {"true", "yes", "y", "1", "on", "ja", "checked", "x", "waar"}
FALSE_WORDS = {"false", "no", "n", "0", "off", "nee", "unchecked", "", "onwaar"}


class ConversionError(ValueError):
    """A value that does not convert to the destination type; the message says which and why."""


def valid_email(raw: str | None) -> str | None:
    """The normalised address when ``raw`` is a syntactically valid email (email-validator, no DNS), else None."""
    if not raw or not isinstance(raw, str):
        return None
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def carry_email(raw: Any) -> Carried:
    """An address for Salesforce's Email fields, which take ASCII addresses only: as it is when valid, with its
    domain IDN-encoded when only the domain is internationalised ('jan@müller.de' -> 'jan@xn--mller-kva.de'),
    else left out (an invalid address, or non-ASCII characters before the @, which have no ASCII form)."""
    if not isinstance(raw, str) or not raw.strip():
        return Carried(None)
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return Carried(None, "email-not-carried", f"{raw!r} is not a valid email address ({exc}); loaded without "
                                                  "Email")
    if checked.normalized.isascii():
        return Carried(checked.normalized)
    if checked.ascii_email:
        return Carried(checked.ascii_email, "email-idn-encoded", f"{raw!r} has an internationalised domain, which "
                                                                 f"Salesforce takes IDN-encoded: {checked.ascii_email}")
    return Carried(None, "email-not-carried", f"{raw!r} has non-ASCII characters before the @, which Salesforce's "
                                              "Email field refuses and which have no ASCII form; loaded without Email")


def email_problem(raw: str) -> str:
    try:
        validate_email(raw.strip(), check_deliverability=False)
        return ""
    except EmailNotValidError as exc:
        return str(exc)


def address(raw: str | None) -> tuple[str | None, str | None]:
    """'Jane Doe <jane@x.org>' -> ('Jane Doe', 'jane@x.org'); the address only when valid."""
    if not raw:
        return None, None
    name, addr = parseaddr(raw)
    return (name or None), valid_email(addr)


def address_list(values: Sequence[str] | None) -> str | None:
    if not values:
        return None
    found = [valid_email(a) or a.strip() for _, a in getaddresses(list(values)) if a.strip()]
    return "; ".join(found) or None


FIRST_NAME_LIMIT, LAST_NAME_LIMIT = 40, 80  # Contact.FirstName / LastName lengths


def split_name(contact: dict[str, Any], placeholder: str) -> tuple[str | None, str, bool]:
    """(FirstName, LastName, placeholder_used). LastName is required: last_name, else the last word of
    the name, else the email's local part or the channel identifier, else the placeholder."""
    first, last, used = _whole_name(contact, placeholder)
    if used:
        return first, last, True
    return (first[:FIRST_NAME_LIMIT] if first else None), last[:LAST_NAME_LIMIT], False


def name_cuts(contact: dict[str, Any], placeholder: str) -> list[str]:
    """What split_name cut to Salesforce's lengths, in words (for the report's list of changes)."""
    first, last, used = _whole_name(contact, placeholder)
    cuts = []
    if first and len(first) > FIRST_NAME_LIMIT and not used:
        cuts.append(f"FirstName cut from {len(first)} to Salesforce's {FIRST_NAME_LIMIT} characters")
    if len(last) > LAST_NAME_LIMIT and not used:
        cuts.append(f"LastName cut from {len(last)} to Salesforce's {LAST_NAME_LIMIT} characters")
    return cuts


def _whole_name(contact: dict[str, Any], placeholder: str) -> tuple[str | None, str, bool]:
    first = (contact.get("first_name") or "").strip() or None
    last = (contact.get("last_name") or "").strip() or None
    name = re.sub(r"\s+", " ", (contact.get("name") or "").strip())
    if not last and name:
        parts = name.split(" ")
        if len(parts) > 1:
            first = first or " ".join(parts[:-1])
            last = parts[-1]
        else:
            last = parts[0]
    if not last:
        email = contact.get("email") or ""
        local = email.split("@")[0] if "@" in email else ""
        last = local or (contact.get("identifier") or "").strip() or (contact.get("phone") or "").strip() or None
    if not last:
        return first, placeholder, True
    return first, last, False


def phone(raw: str | None) -> str | None:
    """E.164 when phonenumbers recognises the number (Dutch numbers without a country code), else as given."""
    if not raw:
        return None
    raw = str(raw)
    try:
        parsed = phonenumbers.parse(raw, None if raw.strip().startswith("+") else "NL")
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return raw.strip()[:40]


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ConversionError(f"{value!r} is not a yes/no value")


def to_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ConversionError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(" ", "").replace("\u00a0", "")
    if re.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d+)?", text) or re.fullmatch(r"-?\d+,\d+", text):
        text = text.replace(".", "").replace(",", ".")  # 1.234,56 (European)
    else:
        text = text.replace(",", "")  # 1,234.56
    try:
        return float(text)
    except ValueError:
        raise ConversionError(f"{value!r} is not a number") from None


def to_date(value: Any) -> str:
    """An ISO date (YYYY-MM-DD); accepts ISO dates/datetimes and day-first local formats (31-12-2024)."""
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", text):
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
        return date_parser.parse(text, dayfirst=True).date().isoformat()
    except (ValueError, OverflowError):
        raise ConversionError(f"{value!r} is not a date") from None


def to_datetime(value: Any) -> str:
    text = str(value).strip()
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = date_parser.parse(text, dayfirst=True)
        except (ValueError, OverflowError):
            raise ConversionError(f"{value!r} is not a date and time") from None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def sf_dt(value: Any) -> str | None:
    """A canonical datetime in the format Salesforce documents for REST and Bulk CSV alike
    (2024-01-02T10:24:40.000+0000); an unparseable value goes as-is, for Salesforce to refuse by name."""
    if not value:
        return None
    try:
        return to_datetime(value)
    except ConversionError:
        return str(value)


def to_multi(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = re.split(r"[;,]", str(value))
    return [i.strip() for i in items if i and i.strip()]


# Salesforce describe types whose values ``migration_assets.values.coerce`` reads the way people type them.
COERCED_KINDS = {"double": "number", "currency": "number", "percent": "number", "int": "integer",
                 "boolean": "boolean", "date": "date", "datetime": "datetime"}
_PLAIN_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


@dataclass(frozen=True)
class Carried:
    """A source value on its way into a field: what to write (None: the field stays empty) and, when it is not
    the value as the source held it, the Change rule and what happened in words.

    Rules: ``value-converted`` (written in another form whose meaning is clear: "ja" -> true, "1.234,56" ->
    1234.56), ``value-not-carried`` (no clear meaning, or a "no value" word such as "n.v.t.": left empty), ``text-truncated``
    (cut to the field's length)."""

    value: Any
    rule: str | None = None
    detail: str = ""


def _plainly_typed(value: Any, kind: str) -> bool:
    """Is ``value`` already written the way the field's type reads it (no conversion worth reporting)?"""
    if isinstance(value, bool):
        return kind == "boolean"
    if isinstance(value, int | float):
        return kind in ("number", "integer")
    text = str(value).strip()
    if kind in ("number", "integer"):
        return bool(_PLAIN_NUMBER.fullmatch(text))
    if kind == "boolean":
        return text.lower() in ("true", "false", "1", "0")
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def carry(value: Any, sf_type: str, *, length: int = 0) -> Carried:
    """A custom value -> the value a field of ``sf_type`` (describe type) accepts, degrading instead of failing:
    converted where the meaning is clear (``migration_assets.values.coerce``), otherwise left out."""
    if value is None or value == "" or value == []:
        return Carried(None)
    kind = COERCED_KINDS.get(sf_type)
    if kind is not None:
        coerced = coerce(value, kind)
        if not coerced.ok:
            return Carried(None, "value-not-carried", f"{coerced.problem}; left empty")
        if coerced.value is None:
            # Nothing is written, so it is reported like any value not carried (the same rule as Tidio's).
            return Carried(None, "value-not-carried", f"{value!r} means 'no value'; left empty")
        out = to_datetime(coerced.value) if kind == "datetime" else coerced.value
        if coerced.converted and not _plainly_typed(value, kind):
            return Carried(out, "value-converted", f"{value!r} read as {out!r}")
        return Carried(out)
    if sf_type == "multipicklist":
        return Carried(";".join(dict.fromkeys(v.replace(";", ",") for v in to_multi(value))) or None)
    if sf_type == "email":
        email = valid_email(str(value))
        if email is None or not email.isascii():
            return Carried(None, "value-not-carried", f"{value!r} is not an address Salesforce's Email fields take; "
                                                      "left empty")
        return Carried(email)
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if length and len(text) > length:
        return Carried(text[:length], "text-truncated", f"{len(text)} characters cut to the field's {length}")
    return Carried(text)


def convert(value: Any, sf_type: str, *, length: int = 0) -> Any:
    """A custom property value -> the value a field of ``sf_type`` accepts; ConversionError when it can only be
    carried by leaving it out or cutting it (``carry`` says how, for loaders that degrade)."""
    carried = carry(value, sf_type, length=length)
    if carried.rule == "value-not-carried":
        raise ConversionError(carried.detail.removesuffix("; left empty"))
    if carried.rule == "text-truncated":
        raise ConversionError(f"{len(str(value))} characters, the field holds {length}")
    return carried.value


_H2T = html2text.HTML2Text()
_H2T.body_width = 0
_H2T.ignore_images = True
_H2T.ignore_emphasis = True


def html_to_text(html: str | None) -> str:
    if not html:
        return ""
    return _H2T.handle(html).strip()


def message_text(message: dict[str, Any]) -> str:
    return (message.get("body_text") or "").strip() or html_to_text(message.get("body_html"))


def split_bytes(text: str, header: Callable[[int, int], str], limit: int = 4000) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` UTF-8 bytes each, every part starting with
    ``header(i, n)``; breaks fall on line or word boundaries where possible, never inside a character."""
    n_guess = 1
    while True:
        parts = list(_split(text, header, limit, n_guess))
        if len(parts) == n_guess or n_guess > 10_000:
            return [header(i + 1, len(parts)) + p for i, p in enumerate(parts)]
        n_guess = len(parts)


def _split(text: str, header: Callable[[int, int], str], limit: int, n: int) -> Iterator[str]:
    rest = text
    i = 0
    while True:
        room = limit - len(header(i + 1, n).encode("utf-8"))
        if room < 16:
            raise ValueError("header leaves no room for the body")
        encoded = rest.encode("utf-8")
        if len(encoded) <= room:
            yield rest
            return
        cut = encoded[:room].decode("utf-8", "ignore")
        brk = max(cut.rfind("\n"), cut.rfind(" "))
        if brk > len(cut) // 2:
            cut = cut[:brk + 1]
        yield cut
        rest = rest[len(cut):]
        i += 1


def truncate(text: str | None, limit: int, marker: str) -> tuple[str | None, bool]:
    if text is None or len(text) <= limit:
        return text, False
    return text[: max(limit - len(marker), 0)] + marker, True


IMG_SRC = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def image_sources(html: str | None) -> list[str]:
    return [m.group(3) for m in IMG_SRC.finditer(html or "")]


def rewrite_images(html: str, replace: Callable[[str], str | None]) -> str:
    """Replace each ``<img src>`` by ``replace(src)`` (None keeps it)."""

    def sub(m: re.Match[str]) -> str:
        new = replace(m.group(3))
        return m.group(0) if new is None else f"{m.group(1)}{m.group(2)}{new}{m.group(2)}"

    return IMG_SRC.sub(sub, html)


def slugify(text: str, max_len: int = 200) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return slug[:max_len].strip("-") or "article"


def clock(iso: str | None) -> str:
    if not iso:
        return "unknown time"
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: int | None) -> str:
    if not seconds:
        return "0s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h " if hours else "") + (f"{minutes}m " if minutes or hours else "") + f"{secs}s"
