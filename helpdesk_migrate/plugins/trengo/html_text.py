"""HTML message bodies -> readable plain text, with lxml (libxml2's HTML parser).

What the text keeps: the words, paragraph and line breaks (block elements, each ``<br>``), list items as
``- item`` / ``1. item`` (nested lists indented), quoted lines (``<blockquote>``) as ``> line``, table cells
separated by a tab, a link's text followed by its target when that is an http(s) or mailto address the text
does not already show, ``<pre>`` as written, entities decoded.
What it drops: tags and attributes (event handlers included), and the content of elements a reader never
sees as text (``<script>``, ``<style>``, ``<iframe>``, ``<head>``, ...).

This replaced html2text in the per-message hot path: html2text runs a pure-Python tokenizer and a Markdown
writer (~120 µs a body on the benchmark's emails); libxml2 parses the same body in a few µs and one walk over
the tree writes the text (~15 µs a body in all). A body nested deeper than libxml2 can parse still goes to
html2text, so no text is ever lost to a parser limit.

Most bodies are machine-written e-mail HTML of a few block tags (``<div dir="ltr"><p>..<br>..</p></div>``,
a ``<blockquote>`` of the quoted thread): for those the tags alone spell out the tree libxml2 would build,
so they are read with one regular expression instead (see _simple_body_text), into the same writer.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import html2text
from lxml import etree

# Elements whose content is not text a reader sees: skipped with everything inside (their tail is kept).
_HIDDEN = frozenset({
    "head", "title", "script", "noscript", "style", "template", "iframe", "frame", "frameset", "object", "embed",
    "applet", "svg", "math", "canvas", "audio", "video", "select", "button", "datalist",
})
# The separator an element puts before and after itself; of two pending ones, the larger wins.
_SPACE, _CELL, _LINE, _PARAGRAPH = " ", "\t", "\n", "\n\n"
_RANK = {"": 0, _SPACE: 1, _CELL: 2, _LINE: 3, _PARAGRAPH: 4}  # a longer run of <br>s ranks above all
_BREAKS = {
    **dict.fromkeys(("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "dl", "hr",
                     "address", "figure", "fieldset", "form"), _PARAGRAPH),
    **dict.fromkeys(("div", "li", "tr", "dt", "dd", "section", "article", "header", "footer", "aside", "nav",
                     "main", "caption", "figcaption", "center", "details", "summary", "legend", "option"), _LINE),
    "td": _CELL, "th": _CELL,
}
# Elements with more to them than a separator (see _open and _close).
_STRUCTURE = frozenset({"br", "pre", "blockquote", "ul", "ol", "li", "a"})
_SHOWN_LINK = ("http://", "https://", "mailto:")
# libxml2 stops at 2048 nested elements even with huge_tree and drops the rest of the document. Nesting that
# deep takes at least 3 characters ("<b>") a level, so only a longer body can have been cut.
_MAX_DEPTH = 2048
_CUT_POSSIBLE_FROM = _MAX_DEPTH * len("<b>")

_per_thread = threading.local()


def _parser() -> etree.HTMLParser:
    """One parser per thread: a parser holds its parsing context, and mappings may run in threads.
    Fed UTF-8 bytes with the encoding named, so a ``<meta charset>`` or XML declaration in the body cannot
    make libxml2 decode it differently (and bytes parse ~2x faster than str). huge_tree: a long text or a
    nesting deeper than 256 is parsed whole instead of cut at libxml2's default limits."""
    parser = getattr(_per_thread, "parser", None)
    if parser is None:
        parser = _per_thread.parser = etree.HTMLParser(
            encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, huge_tree=True,
            default_doctype=False, collect_ids=False)
    return parser


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a broken decode upstream): U+FFFD, as elsewhere
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")


class _TextWriter:
    """Text pieces and the pending separator between them, laid out the way a browser shows text."""

    __slots__ = ("pieces", "gap", "quote_depth", "written_depth", "marker", "pre_depth", "lists", "link_starts")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.gap = ""  # "", space, tab or newlines: what goes before the next visible text
        self.quote_depth = 0  # blockquotes around the next text: its lines start with one ">" per level
        self.written_depth = 0  # the same for the last text written
        self.marker = ""  # a list item's "- " / "1. ", written with the item's first text (none if empty)
        self.pre_depth = 0  # inside <pre>, whitespace is content
        self.lists: list[str] = []  # the open ul/ol, innermost last
        self.link_starts: list[int] = []  # where each open <a>'s text begins in pieces

    def line_break(self) -> None:
        """``<br>``: each one is a line of its own, so two make a blank line."""
        self.gap = self.gap + "\n" if self.gap.startswith("\n") else "\n"

    def write(self, text: str) -> None:
        """Text as it stands (``<pre>`` content, link targets)."""
        if self.marker or self.quote_depth or self.written_depth:
            self._write_marked(text)
            return
        if self.pieces and self.gap:
            self.pieces.append(self.gap)
        self.pieces.append(text)
        self.gap = ""

    def _write_marked(self, text: str) -> None:
        """``write`` in a list item or a quote (or just after one)."""
        if self.marker:
            text, self.marker = self.marker + text, ""
        if self.quote_depth or self.written_depth:
            self.pieces.append(self._quoted_gap())
            if self.quote_depth and "\n" in text:  # <pre> lines are quoted too (flowed text has no newline)
                text = text.replace("\n", "\n" + ">" * self.quote_depth + " ")
        elif self.pieces and self.gap:
            self.pieces.append(self.gap)
        self.pieces.append(text)
        self.gap = ""
        self.written_depth = self.quote_depth

    def _quoted_gap(self) -> str:
        """The gap when a quote is open or just closed (see _quote_gap)."""
        if not self.pieces:
            return ">" * self.quote_depth + " " if self.quote_depth else ""
        return _quote_gap(self.gap, self.quote_depth, self.written_depth)

    def flow(self, text: str) -> None:
        """Text whose whitespace is layout, not content: any run of it (newlines included) is one space.
        (str.split() splits on the same Unicode whitespace as a regex's \\s, at a quarter of the cost.)
        The hottest call of a conversion: ``write`` is inlined for text outside lists and quotes."""
        words = text.split()
        if text[0].isspace() and not self.gap:
            self.gap = _SPACE
        if not words:
            return
        if self.marker or self.quote_depth or self.written_depth:
            self._write_marked(" ".join(words))
        else:
            if self.pieces and self.gap:
                self.pieces.append(self.gap)
            self.pieces.append(" ".join(words))
        self.gap = _SPACE if text[-1].isspace() else ""

    def text_since(self, mark: int) -> str:
        return "".join(self.pieces[mark:]).strip()


@lru_cache(maxsize=256)
def _quote_gap(gap: str, quote_depth: int, written_depth: int) -> str:
    """The gap between two texts when a quote is open or just closed: new lines carry the markers of their
    depth; a blank line between two depths carries the shallower one's. Cached: a quoted thread asks for the
    same few gaps once per paragraph."""
    newlines = gap.count("\n")
    if not newlines:
        return gap
    prefix = ">" * quote_depth + " " if quote_depth else ""
    blank = ">" * min(quote_depth, written_depth)
    return "\n" + (blank + "\n") * (newlines - 1) + prefix


def html_to_text(body: str) -> str | None:
    """The readable text of an HTML body; None when it shows no text at all."""
    simple = _simple_body_text(body)
    if simple is not _NOT_SIMPLE:
        return simple
    parser = _parser()
    root = etree.fromstring(_utf8(body), parser)
    if len(body) >= _CUT_POSSIBLE_FROM and _parse_was_cut(parser):
        return _text_by_html2text(body)
    if root is None:  # nothing but whitespace, comments or a doctype
        return None
    out = _TextWriter()
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag
        separator = _BREAKS.get(tag)
        if event == "start":
            if tag in _HIDDEN:
                walker.skip_subtree()  # its "end" still comes, so its tail is kept
                continue
            if tag in _STRUCTURE:
                separator = _open(out, tag, element) or separator
            if separator and _RANK[separator] > _RANK.get(out.gap, 5):  # the larger separator wins
                out.gap = separator
            text = element.text
        else:
            if tag in _STRUCTURE:
                separator = _close(out, tag, element) or separator
            # The larger separator wins; a cell separates itself from the next one only.
            if separator and separator != _CELL and _RANK[separator] > _RANK.get(out.gap, 5):
                out.gap = separator
            text = element.tail
        if not text:
            continue
        if out.pre_depth:
            out.write(text)
        else:
            out.flow(text)
    return "".join(out.pieces).strip() or None


# The simple bodies: <div>, <p>, <blockquote> and <br> with double-quoted attributes, around plain text. For
# these, libxml2's tree is the one the tags spell out, provided the body stays away from everything where
# libxml2 repairs or normalises: a tag it would close by itself (a block inside a <p>), an end tag that
# closes nothing, text outside every element or of whitespace alone (dropped or moved in some places),
# characters it replaces (controls, surrogates, noncharacters, a byte-order mark), entities other than the
# six below, nesting near its limits. Reading them with a regular expression instead of building and walking
# a tree: ~6.5 µs a body instead of ~11 (the benchmark's e-mail bodies, ~90% of which are simple).
_SIMPLE_TAG = re.compile(
    r"<(?:(p|div|blockquote|br)(?:[ \t\n]+[a-z][a-z0-9_-]*=\"[^\"<>]*\")*[ \t\n]*"  # start tag, attributes
    r"|(br)[ \t\n]*/"  # <br/>
    r"|/(p|div|blockquote)[ \t\n]*)>")  # end tag
_NOT_SIMPLE_CHARACTER = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufeff\ufffe\uffff]")
_NOT_SIMPLE_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|#39|nbsp);)")
_SIMPLE_MAX_DEPTH = 100  # far below libxml2's limits (256 levels by default, 2048 with huge_tree)
_NOT_SIMPLE = object()


def _simple_body_text(body: str) -> str | None | object:
    """The text of a simple body (see _SIMPLE_TAG), as the tree walk in html_to_text writes it; _NOT_SIMPLE
    for any other body."""
    # A simple body starts with a tag and ends with one (a cut-off body, e.g. a collapsed e-mail, does not:
    # it is turned away here rather than after reading it all). isprintable() is false for every character
    # _NOT_SIMPLE_CHARACTER looks for (and for more: a newline, a no-break space) and takes half its time.
    if not (body.startswith("<") and body.endswith(">")) or \
            not body.isprintable() and _NOT_SIMPLE_CHARACTER.search(body):
        return _NOT_SIMPLE
    parts = iter(_SIMPLE_TAG.split(body))  # text, then per tag: start, <br/>, end, and the text after it
    if next(parts):
        return _NOT_SIMPLE  # the body does not start with a simple tag
    out = _TextWriter()
    open_tags: list[str] = []
    for start, _br_self_closed, end, text in zip(parts, parts, parts, parts, strict=True):
        if end:
            if not open_tags or open_tags.pop() != end:
                return _NOT_SIMPLE  # libxml2 would close other elements, or make an empty one
            if end == "blockquote":
                out.quote_depth -= 1
            separator = _BREAKS[end]
            if _RANK[separator] > _RANK.get(out.gap, 5):  # the larger separator wins, as in html_to_text
                out.gap = separator
        elif start and start != "br":
            if open_tags and open_tags[-1] == "p" or len(open_tags) == _SIMPLE_MAX_DEPTH:
                return _NOT_SIMPLE  # a block in a <p> closes the <p>
            open_tags.append(start)
            if start == "blockquote":
                out.quote_depth += 1
            separator = _BREAKS[start]
            if _RANK[separator] > _RANK.get(out.gap, 5):
                out.gap = separator
        else:  # <br> or <br/>
            out.line_break()
        if text:
            if not open_tags or "<" in text or ">" in text or text.isspace():
                return _NOT_SIMPLE
            if "&" in text:
                if _NOT_SIMPLE_ENTITY.search(text):
                    return _NOT_SIMPLE
                text = _decode_simple_entities(text)
            out.flow(text)
    if open_tags:
        return _NOT_SIMPLE
    return "".join(out.pieces).strip() or None


def _decode_simple_entities(text: str) -> str:
    """The six entities a simple body may hold; every "&" in it starts one. &gt; first and alone when it is
    the only one (the ">" of a quoted reply); &amp; last, so that "&amp;lt;" becomes "&lt;", not "<"."""
    text = text.replace("&gt;", ">")
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&quot;", '"').replace("&#39;", "'").replace("&nbsp;", "\xa0") \
        .replace("&amp;", "&")


def _open(out: _TextWriter, tag: str, element: etree._Element) -> str | None:
    """What a structural element changes as it opens; returns its separator when that depends on context."""
    if tag == "br":
        out.line_break()
    elif tag == "pre":
        out.pre_depth += 1
    elif tag == "blockquote":
        out.quote_depth += 1
    elif tag == "li":
        out.marker = _list_marker(element, out.lists)
    elif tag == "a":
        out.link_starts.append(len(out.pieces))
    else:  # ul, ol: a top-level list is a paragraph; one nested in an item goes on the next line
        out.lists.append(tag)
        return _LINE if len(out.lists) > 1 else _PARAGRAPH
    return None


def _close(out: _TextWriter, tag: str, element: etree._Element) -> str | None:
    """What a structural element changes as it closes; returns its separator when that depends on context."""
    if tag == "pre":
        out.pre_depth -= 1
    elif tag == "blockquote":
        out.quote_depth -= 1
    elif tag == "li":
        out.marker = ""  # an item without text leaves no lone "- "
    elif tag == "a":
        if out.link_starts:
            _show_link_target(out, element.get("href"), out.link_starts.pop())
    elif tag != "br":  # ul, ol
        nested = len(out.lists) > 1
        out.lists.pop()
        return _LINE if nested else _PARAGRAPH
    return None


def _parse_was_cut(parser: etree.HTMLParser) -> bool:
    """Whether libxml2 gave up part-way (a resource limit): recovering from sloppy HTML logs errors, never
    a fatal one."""
    return any(entry.level == etree.ErrorLevels.FATAL for entry in parser.error_log)


def _text_by_html2text(body: str) -> str | None:
    """The slow, limitless converter, for the rare body libxml2 cannot parse whole (nesting deeper than
    2048): its text in html2text's Markdown-flavoured layout rather than lost."""
    converter = html2text.HTML2Text()  # one per call: a converter keeps parser state
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    return converter.handle(body).strip() or None


def _list_marker(item: etree._Element, lists: list[str]) -> str:
    indent = "  " * max(len(lists) - 1, 0)
    if lists and lists[-1] == "ol":
        return f"{indent}{sum(1 for _ in item.itersiblings('li', preceding=True)) + 1}. "
    return f"{indent}- "


def _show_link_target(out: _TextWriter, href: str | None, mark: int) -> None:
    """``text (target)`` for a web or mail link, so the address survives; never a javascript: or relative
    one, and not when the text already is the address."""
    href = (href or "").strip()
    lowered = href.lower()
    if not lowered.startswith(_SHOWN_LINK):
        return
    shown = out.text_since(mark)
    address = href[len("mailto:"):] if lowered.startswith("mailto:") else href
    if shown and shown not in (href, address):
        pending = out.gap
        out.gap = _SPACE
        out.write(f"({href})")
        out.gap = pending
