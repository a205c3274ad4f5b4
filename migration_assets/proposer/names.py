"""Names compared the way people write them: accents, case, camelCase, "__c", punctuation and filler words
do not count ("E-mailadres:" and "emailadres" are the same name), and the knowledge file says which names
mean which destination field in five languages."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml
from rapidfuzz import fuzz

CUSTOM_PREFIX = "custom_fields."


@dataclass(frozen=True)
class Concept:
    key: str
    fields: tuple[str, ...]
    kind: str
    system: bool
    names: tuple[str, ...]  # normalized, every language


@dataclass(frozen=True)
class Knowledge:
    concepts: dict[str, Concept]
    by_field: dict[str, Concept]  # compact destination field name -> concept
    system_exact: frozenset[str]
    system_suffixes: frozenset[str]
    system_prefixes: frozenset[str]
    stopwords: frozenset[str] = field(default_factory=frozenset)


def fold(text: str) -> str:
    """Lower case without accents: "Prénom" and "prenom" are the same word to a person typing a form."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ß", "ss")


@lru_cache(maxsize=65536)
def _raw_tokens(name: str) -> tuple[str, ...]:
    name = name.removeprefix(CUSTOM_PREFIX)
    name = re.sub(r"__c$", "", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)  # MailingPostalCode -> Mailing Postal Code
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name)
    return tuple(re.sub(r"[^a-z0-9]+", " ", fold(name)).split())


@lru_cache(maxsize=65536)
def tokens(name: str) -> tuple[str, ...]:
    stop = knowledge().stopwords
    words = _raw_tokens(name)
    kept = tuple(w for w in words if w not in stop)
    return kept or words


def compact(name: str) -> str:
    return "".join(tokens(name))


@lru_cache(maxsize=1)
def knowledge() -> Knowledge:
    raw = yaml.safe_load(resources.files("migration_assets.proposer").joinpath("knowledge.yaml").read_text("utf-8"))
    stop = frozenset(fold(w) for w in raw.get("stopwords") or [])
    concepts: dict[str, Concept] = {}
    by_field: dict[str, Concept] = {}
    for key, spec in raw["concepts"].items():
        names = {" ".join(w for w in _raw_tokens(n) if w not in stop) or " ".join(_raw_tokens(n))
                 for per_language in (spec.get("names") or {}).values() for n in per_language}
        concept = Concept(key, tuple(spec["fields"]), spec.get("kind", "text"), bool(spec.get("system")),
                          tuple(sorted(n for n in names if n)))
        concepts[key] = concept
        for f in concept.fields:
            by_field["".join(_raw_tokens(f))] = concept
    system = raw.get("system_sources") or {}
    return Knowledge(concepts, by_field,
                     frozenset("".join(_raw_tokens(n)) for n in system.get("exact") or []),
                     frozenset(system.get("suffixes") or []), frozenset(system.get("prefixes") or []), stop)


def concept_of(destination_name: str) -> Concept | None:
    return knowledge().by_field.get("".join(_raw_tokens(destination_name)))


def is_system_source(name: str, label: str = "") -> bool:
    """Identifiers, record keys and audit times of the source: they mean nothing in a business field."""
    kb = knowledge()
    for text in (name, label):
        words = _raw_tokens(text)
        if not words:
            continue
        if "".join(words) in kb.system_exact:
            return True
        if len(words) > 1 and words[-1] in kb.system_suffixes:
            return True
    return False


def is_system_destination(name: str) -> bool:
    """Flags the platform or a compliance process owns (IsEscalated, HasOptedOutOfEmail, DoNotCall...)."""
    concept = concept_of(name)
    if concept is not None and concept.system:
        return True
    return bool(re.match(r"(Is|Has)[A-Z]", name))


# Words that add nothing to what a field holds: "Mobielnummer" is the mobile, "Postcode nr" the postcode.
FILLER = frozenset({"number", "nummer", "nr", "no", "num", "numero", "nro", "code", "e", "adres", "address", "line",
                    "regel", "zeile", "ligne", "linea"})
# A name that holds the field's name beside words of its own ("Geboorteplaats" is a place, but not where
# the contact lives; "Telefoonnummer partner" is a phone number, but not the contact's): worth a look in
# the review, never a proposal on its own.
MODIFIED = 0.55


def _benign(extra: str | tuple[str, ...], vocabulary: frozenset[str]) -> bool:
    words = (extra,) if isinstance(extra, str) else extra
    return all(w in FILLER or w in vocabulary for w in words if w)


def similarity(source: str, alias: str, vocabulary: frozenset[str] = frozenset()) -> tuple[float, str]:
    """How strongly the source name says ``alias`` (both free text), with the kind of match.

    1.0 same name; 0.75-0.93 one name contains the other (whole words or a compound part, as Dutch and
    German write "Telefoonnummer", "Handynummer") when the other words are filler or words of the field's
    own names (``vocabulary``), else 0.55; up to ~0.93 a typo; at most 0.5 otherwise, so a name that is
    only vaguely alike never decides on its own."""
    s_words, a_words = tokens(source), tuple(alias.split())
    s, a = "".join(s_words), "".join(a_words)
    if not s or not a:
        return 0.0, "no name"
    if s == a:
        return 1.0, "same name"
    s_set, a_set = set(s_words), set(a_words)
    if a_set <= s_set:
        if not _benign(tuple(w for w in s_words if w not in a_set), vocabulary):
            return MODIFIED, "contains the name with words of its own"
        return 0.74 + 0.2 * len(a) / len(s), "contains the name"
    if len(a) >= 5 and (s.startswith(a) or s.endswith(a)):
        if not _benign(s[len(a):] if s.startswith(a) else s[: -len(a)], vocabulary):
            return MODIFIED, "compound of the name with a word of its own"
        return 0.72 + 0.2 * len(a) / len(s), "compound of the name"
    if s_set <= a_set:
        return 0.72 + 0.15 * len(s) / len(a), "part of the name"
    ratio = fuzz.ratio(s, a) / 100
    if ratio >= 0.88 and min(len(s), len(a)) >= 5:
        return ratio * 0.95, "spelled alike"
    return 0.5 * fuzz.token_set_ratio(" ".join(s_words), alias) / 100, "vaguely alike"


def best_name_match(source_texts: list[str], aliases: list[str]) -> tuple[float, str, str]:
    """(score, matched alias, kind of match) of the best alias for any of the source's names. Words of the
    aliases themselves may stand beside the matched one ("Town/City", "Telefon (geschäftlich)")."""
    vocabulary = frozenset(w for alias in aliases for w in alias.split())
    vocabulary |= frozenset("".join(alias.split()) for alias in aliases)
    best = (0.0, "", "no name")
    for text in source_texts:
        if not text:
            continue
        for alias in aliases:
            score, how = similarity(text, alias, vocabulary)
            if score > best[0]:
                best = (score, alias, how)
    return best


@lru_cache(maxsize=4096)
def best_concept(source_name: str) -> tuple[str | None, float]:
    """The known field a source name says most clearly, and how clearly (exact names before contained ones)."""
    best: tuple[str | None, float] = (None, 0.0)
    for key, concept in knowledge().concepts.items():
        score, _alias, _how = best_name_match([source_name], list(concept.names))
        if score > best[1]:
            best = (key, score)
    return best


@lru_cache(maxsize=1)
def _concept_by_alias() -> dict[str, Concept]:
    seen: dict[str, list[Concept]] = {}
    for concept in knowledge().concepts.values():
        for alias in concept.names:
            seen.setdefault(alias.replace(" ", ""), []).append(concept)
    return {alias: found[0] for alias, found in seen.items() if len(found) == 1}


def concept_for_destination(name: str, label: str = "") -> Concept | None:
    """The known concept of a destination field: by its API name, else by a label that is one of a
    concept's names (an org's custom "Customer number" field is the customer number in every language)."""
    concept = concept_of(name)
    if concept is not None:
        return concept
    for text in (label, name):
        found = _concept_by_alias().get(compact(text)) if text else None
        if found is not None:
            return found
    return None
