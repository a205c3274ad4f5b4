"""The SOQL subset the loader uses, parsed and evaluated against the emulated org.

SELECT fields | COUNT() FROM object [WHERE cond] [ORDER BY field [ASC|DESC]] [LIMIT n] [OFFSET n], where
cond combines ``=, !=, <, <=, >, >=, IN, NOT IN, LIKE, INCLUDES`` with AND / OR / NOT and parentheses, and a
field may be one parent relationship deep (``Parent.Trengo_Id__c``). Text comparisons are
case-insensitive, as in Salesforce. Anything else is a MALFORMED_QUERY, the error a real org answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .org import (
    FieldDef,
    ObjectDef,
    Org,
    SalesforceApiError,
    _index_key,
    format_datetime,
    normalize_id,
    parse_datetime,
)

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    )""", re.VERBOSE)
# SOQL's escape sequences (one layer: '\\' is one backslash). \_ and \% only mean something to LIKE, as
# a literal _ or %; elsewhere the value keeps them as written.
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "_": "\\_", "%": "\\%"}
_ESCAPES.update({k.upper(): v for k, v in _ESCAPES.items() if k in "nrtbf"})


class Literal(str):
    """A string literal's value; ``written`` keeps its text as the query had it, which LIKE needs to tell an
    escaped wildcard (\\%) from a backslash followed by a wildcard (\\\\%)."""

    written: str

    def __new__(cls, written: str) -> Literal:
        value = super().__new__(cls, "".join(text for text, _ in _literal_parts(written)))
        value.written = written
        return value

    def __getnewargs__(self) -> tuple[str]:  # a copy is read again from the text as written
        return (self.written,)


def malformed(message: str) -> SalesforceApiError:
    return SalesforceApiError("MALFORMED_QUERY", message)


def tokenize(soql: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = soql.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise malformed(f"unexpected token: '{text[pos:pos + 20]}'")
        pos = m.end()
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "string":
            tokens.append(("value", Literal(raw[1:-1])))
        elif kind == "datetime":
            tokens.append(("value", format_datetime(parse_datetime(raw))))
        elif kind == "date":
            tokens.append(("value", raw))
        elif kind == "number":
            tokens.append(("value", float(raw) if "." in raw else int(raw)))
        elif kind == "ident" and raw.upper() in ("TRUE", "FALSE"):
            tokens.append(("value", raw.upper() == "TRUE"))
        elif kind == "ident" and raw.upper() == "NULL":
            tokens.append(("value", None))
        else:
            tokens.append((kind, raw))
    return tokens


def _literal_parts(body: str) -> Iterable[tuple[str, bool]]:
    """The characters of a string literal's body, unescaped once: (text, written with a backslash)."""
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            yield c, False
            i += 1
            continue
        if i + 1 >= len(body):
            raise malformed("invalid escape at the end of a string literal")
        nxt = body[i + 1]
        if nxt in "uU" and re.fullmatch(r"[0-9A-Fa-f]{4}", body[i + 2:i + 6]):
            yield chr(int(body[i + 2:i + 6], 16)), True
            i += 6
            continue
        if nxt not in _ESCAPES:
            raise malformed(f"Invalid string literal: illegal escape sequence \\{nxt}")
        yield _ESCAPES[nxt], True
        i += 2


@dataclass
class Cmp:
    field: str
    op: str
    value: Any


@dataclass
class BoolOp:
    op: str  # AND / OR / NOT
    items: list[Any]


@dataclass
class Query:
    fields: list[str]
    count: bool
    object: str
    where: Any = None
    order: list[tuple[str, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]):
        self.tokens = tokens
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        t = self.peek()
        if t and t[0] == "ident" and t[1].upper() == words[0]:
            if len(words) == 1 or all(
                self.i + k < len(self.tokens) and self.tokens[self.i + k][0] == "ident"
                and self.tokens[self.i + k][1].upper() == w for k, w in enumerate(words[1:], 1)
            ):
                self.i += len(words)
                return True
        return False

    def expect(self, kind: str, value: str | None = None) -> Any:
        t = self.peek()
        if t is None or t[0] != kind or (value is not None and str(t[1]).upper() != value):
            got = "end of query" if t is None else f"'{t[1]}'"
            raise malformed(f"unexpected token: {got}, expecting {value or kind}")
        self.i += 1
        return t[1]

    def parse(self) -> Query:
        if not self.keyword("SELECT"):
            raise malformed("unexpected token: expecting 'SELECT'")
        fields: list[str] = []
        count = False
        if self.keyword("COUNT"):
            self.expect("punct", "(")
            t = self.peek()
            if t and t[0] == "ident":
                self.i += 1
            self.expect("punct", ")")
            count = True
        else:
            while True:
                fields.append(self.expect("ident"))
                t = self.peek()
                if t and t == ("punct", ","):
                    self.i += 1
                    continue
                break
        if not self.keyword("FROM"):
            raise malformed("unexpected token: expecting 'FROM'")
        obj = self.expect("ident")
        q = Query(fields, count, obj)
        if self.keyword("WHERE"):
            q.where = self.expr()
        if self.keyword("ORDER", "BY"):
            while True:
                name = self.expect("ident")
                desc = False
                if self.keyword("DESC"):
                    desc = True
                else:
                    self.keyword("ASC")
                if self.keyword("NULLS"):
                    if not (self.keyword("FIRST") or self.keyword("LAST")):
                        raise malformed("expecting FIRST or LAST after NULLS")
                q.order.append((name, desc))
                if self.peek() == ("punct", ","):
                    self.i += 1
                    continue
                break
        if self.keyword("LIMIT"):
            q.limit = int(self.expect("value"))
        if self.keyword("OFFSET"):
            q.offset = int(self.expect("value"))
        if self.peek() is not None:
            raise malformed(f"unexpected token: '{self.peek()[1]}'")
        return q

    def expr(self) -> Any:
        items = [self.term()]
        while self.keyword("OR"):
            items.append(self.term())
        return items[0] if len(items) == 1 else BoolOp("OR", items)

    def term(self) -> Any:
        items = [self.factor()]
        while self.keyword("AND"):
            items.append(self.factor())
        return items[0] if len(items) == 1 else BoolOp("AND", items)

    def factor(self) -> Any:
        if self.keyword("NOT"):
            return BoolOp("NOT", [self.factor()])
        if self.peek() == ("punct", "("):
            self.i += 1
            inner = self.expr()
            self.expect("punct", ")")
            return inner
        name = self.expect("ident")
        if self.keyword("NOT", "IN"):
            return Cmp(name, "NOT IN", self.value_list())
        if self.keyword("IN"):
            return Cmp(name, "IN", self.value_list())
        if self.keyword("LIKE"):
            return Cmp(name, "LIKE", self.expect("value"))
        if self.keyword("INCLUDES"):
            return Cmp(name, "INCLUDES", self.value_list())
        if self.keyword("EXCLUDES"):
            return Cmp(name, "EXCLUDES", self.value_list())
        op = self.expect("op")
        return Cmp(name, "!=" if op == "<>" else op, self.expect("value"))

    def value_list(self) -> list[Any]:
        self.expect("punct", "(")
        if self.peek() and self.peek()[0] == "ident" and self.peek()[1].upper() == "SELECT":
            raise malformed("semi-join subselects are not supported by this emulator")
        values = [self.expect("value")]
        while self.peek() == ("punct", ","):
            self.i += 1
            values.append(self.expect("value"))
        self.expect("punct", ")")
        return values


def parse(soql: str) -> Query:
    return _Parser(tokenize(soql)).parse()


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------


def _no_column(name: str, obj: ObjectDef) -> SalesforceApiError:
    return SalesforceApiError(
        "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
        "describe call for the appropriate names.")


class Resolver:
    """Resolves field paths of one object (one relationship level) to getters over its records."""

    def __init__(self, org: Org, obj: ObjectDef):
        self.org = org
        self.obj = obj

    def field(self, path: str) -> tuple[FieldDef, Callable[[Mapping[str, Any]], Any], list[str]]:
        parts = path.split(".")
        if len(parts) == 1:
            f = self.obj.field(path)
            if f is None or not f.visible:
                raise _no_column(path, self.obj)
            return f, (lambda rec, n=f.name: rec.get(n)), [f.name]
        if len(parts) != 2:
            raise malformed(f"relationship paths deeper than one level are not supported: {path}")
        rel = self.obj.by_relationship(parts[0])
        if rel is None:
            raise _no_column(path, self.obj)
        targets = [self.org.objects[t] for t in rel.reference_to if t in self.org.objects]
        target_field = next((t.field(parts[1]) for t in targets if t.field(parts[1])), None)
        if target_field is None or not target_field.visible:
            raise _no_column(path, self.obj)

        def get(rec: Mapping[str, Any], ref=rel.name, name=target_field.name) -> Any:
            parent_id = rec.get(ref)
            found = self.org.find(parent_id) if parent_id else None
            return found[1].get(name) if found else None

        return target_field, get, [rel.relationship_name or parts[0], target_field.name]


def _parent_stub(org: Org, obj: ObjectDef, relationship: str, rec: Mapping[str, Any],
                 api_version: str) -> dict[str, Any] | None:
    """A child-to-parent relationship as Salesforce renders it: the parent's own type and URL in ``attributes``
    (present even when the selected parent fields are null), or null when the lookup is empty."""
    rel = obj.by_relationship(relationship)
    found = org.find(rec.get(rel.name)) if rel is not None and rec.get(rel.name) else None
    if found is None:
        return None
    name, parent = found
    return {"attributes": {"type": name, "url": f"/services/data/v{api_version}/sobjects/{name}/{parent.get('Id')}"}}


def columns(org: Org, soql: str) -> list[str]:
    """The selected fields as API names, relationship fields dotted (``Account.Name``): Bulk 2.0 CSV headers."""
    q = parse(soql)
    with org.lock:
        resolver = Resolver(org, org.object(q.object))
        return [".".join(resolver.field(name)[2]) for name in q.fields]


def _coerce_literal(f: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if f.type == "datetime" and isinstance(value, str):
        return format_datetime(parse_datetime(value))
    if f.type in ("id", "reference") and isinstance(value, str):
        return normalize_id(value) or value
    return value


def _compare(op: str, current: Any, value: Any) -> bool:
    if op in ("=", "!="):
        equal = _index_key(current) == _index_key(value) if not (current is None and value is None) else True
        if current is None or value is None:
            equal = current is None and value is None
        return equal if op == "=" else not equal
    if current is None or value is None:
        return False
    a, b = (current.lower(), value.lower()) if isinstance(current, str) and isinstance(value, str) else (current, value)
    try:
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    except TypeError:
        return False


def _like(pattern: str) -> re.Pattern[str]:
    """A LIKE pattern: % any run of characters, _ one character; \\% and \\_ are themselves."""
    written = pattern.written if isinstance(pattern, Literal) else pattern.replace("\\", "\\\\")
    out = []
    for text, escaped in _literal_parts(written):
        if escaped:
            out.append(re.escape(text[-1] if text in ("\\_", "\\%") else text))
        else:
            out.append(".*" if text == "%" else "." if text == "_" else re.escape(text))
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def compile_where(node: Any, resolver: Resolver) -> Callable[[Mapping[str, Any]], bool]:
    if isinstance(node, BoolOp):
        parts = [compile_where(n, resolver) for n in node.items]
        if node.op == "AND":
            return lambda rec: all(p(rec) for p in parts)
        if node.op == "OR":
            return lambda rec: any(p(rec) for p in parts)
        return lambda rec: not parts[0](rec)
    f, get, _ = resolver.field(node.field)
    if not f.filterable:
        raise SalesforceApiError("INVALID_FIELD", f"field '{f.name}' can not be filtered in a query call")
    op = node.op
    if op in ("IN", "NOT IN"):
        keys = {_index_key(_coerce_literal(f, v)) for v in node.value}
        if op == "IN":
            return lambda rec: _index_key(get(rec)) in keys and get(rec) is not None
        return lambda rec: _index_key(get(rec)) not in keys
    if op == "LIKE":
        rx = _like(str(node.value))
        return lambda rec: isinstance(get(rec), str) and bool(rx.match(get(rec)))
    if op in ("INCLUDES", "EXCLUDES"):
        wanted = [{p.lower() for p in str(v).split(";")} for v in node.value]

        def includes(rec: Mapping[str, Any]) -> bool:
            have = {p.lower() for p in (get(rec) or "").split(";") if p}
            return any(w <= have for w in wanted)

        return includes if op == "INCLUDES" else (lambda rec: not includes(rec))
    value = _coerce_literal(f, node.value)
    return lambda rec: _compare(op, get(rec), value)


def _candidates(org: Org, obj: ObjectDef, node: Any) -> Iterable[str] | None:
    """Ids to scan when the condition pins an indexed field (= or IN), else None (full scan)."""
    items = node.items if isinstance(node, BoolOp) and node.op == "AND" else [node]
    for item in items:
        if isinstance(item, Cmp) and "." not in item.field and item.op in ("=", "IN"):
            f = obj.field(item.field)
            if f is None or f.name not in org.indexes[obj.name] or item.value is None:
                continue
            values = item.value if item.op == "IN" else [item.value]
            out: set[str] = set()
            for v in values:
                out |= org.indexes[obj.name][f.name].get(_index_key(_coerce_literal(f, v)), set())
            return sorted(out)  # ids grow with creation, so this is creation order
    return None


def execute(org: Org, soql: str, *, tooling: bool = False, api_version: str = "62.0") -> tuple[list[dict[str, Any]], int]:
    """Run a query; returns (records as the REST API renders them, total count)."""
    q = parse(soql)
    with org.lock:
        obj = org.object(q.object, tooling=tooling)
        resolver = Resolver(org, obj)
        predicate = compile_where(q.where, resolver) if q.where is not None else (lambda rec: True)
        ids = _candidates(org, obj, q.where) if q.where is not None else None
        table = org.records[obj.name]
        rows = [table[rid] for rid in (ids if ids is not None else table) if rid in table]
        rows = [r for r in rows if predicate(r)]
        for name, desc in reversed(q.order):
            _, get, _ = resolver.field(name)
            rows.sort(key=lambda r, g=get: (g(r) is None, _index_key(g(r)) if g(r) is not None else ""), reverse=desc)
        if q.count:
            return [], len(rows)
        rows = rows[q.offset:]
        if q.limit is not None:
            rows = rows[: q.limit]
        getters = [resolver.field(name) for name in q.fields]
        out = []
        for rec in rows:
            item: dict[str, Any] = {"attributes": {"type": obj.name, "url": f"/services/data/v{api_version}/"
                                                   f"{'tooling/' if tooling else ''}sobjects/{obj.name}/{rec.get('Id')}"}}
            for _, get, path in getters:
                value = get(rec)
                if isinstance(value, bytes):
                    value = None
                if len(path) == 1:
                    item[path[0]] = value
                else:
                    if path[0] not in item:  # the parent record, or null when the lookup is empty
                        item[path[0]] = _parent_stub(org, obj, path[0], rec, api_version)
                    if item[path[0]] is not None:
                        item[path[0]][path[1]] = value
            out.append(item)
        return out, len(out)
