"""Message bodies as plain text: what a reader of the HTML sees, laid out readably, and nothing that runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from helpdesk_migrate.plugins.trengo.html_text import html_to_text
from helpdesk_migrate.plugins.trengo.mapping import html_to_text as body_text


def test_script_style_iframe_and_the_head_are_dropped_with_their_content():
    html = ("<html><head><title>Offerte</title><style>p{color:red}</style><script>alert('x')</script></head>"
            "<body><p style=\"font-family:Arial\">Graag <b>snel</b> antwoord.</p><noscript>Zet JS aan</noscript>"
            "<iframe src=\"https://evil.example/frame\">frame text</iframe>Groet</body></html>")
    assert html_to_text(html) == "Graag snel antwoord.\n\nGroet"


def test_event_handlers_and_javascript_links_leave_only_the_visible_text():
    html = ("<div><p onclick=\"steal()\">Zie <a href=\"javascript:alert(document.cookie)\">deze link</a> voor order "
            "7.</p><img src=\"x\" onerror=\"alert(1)\"><svg onload=\"alert(2)\"><text>svg</text></svg></div>")
    assert html_to_text(html) == "Zie deze link voor order 7."


def test_paragraphs_lines_and_layout_whitespace():
    html = "<div>\n  <p>Hallo,</p>\n  <p>Waar   blijft\n order 12?</p><p>Groet,<br>Brightshop</p>\n</div>"
    assert html_to_text(html) == "Hallo,\n\nWaar blijft order 12?\n\nGroet,\nBrightshop"


def test_each_br_is_a_line_of_its_own():
    assert html_to_text("een<br><br>twee<br>drie") == "een\n\ntwee\ndrie"


def test_entities_are_decoded():
    assert html_to_text("<p>Caf&eacute; &amp; bar: &euro;&#8364;&#x20AC; &lt;b&gt;&nbsp;!</p>") == "Café & bar: €€€ <b> !"


def test_a_web_or_mail_link_keeps_its_text_and_its_target():
    html = ("<p>See <a href=\"https://shop.example/track?id=1\">your parcel</a>, "
            "<a href=\"https://shop.example\">https://shop.example</a> or "
            "<a href=\"mailto:help@shop.example\">help@shop.example</a>, <a href=\"/faq\">FAQ</a>.</p>")
    assert html_to_text(html) == ("See your parcel (https://shop.example/track?id=1), https://shop.example or "
                                  "help@shop.example, FAQ.")


def test_quoted_replies_are_marked_line_by_line():
    html = ("<p>Thanks!</p><blockquote><p>Where is my order?</p><p>It is late.<br>Ann</p>"
            "<blockquote>older</blockquote></blockquote><p>Bob</p>")
    assert html_to_text(html) == "Thanks!\n\n> Where is my order?\n>\n> It is late.\n> Ann\n>\n>> older\n\nBob"


def test_lists_and_tables():
    html = ("<ul><li>one<ol><li>a</li><li>b</li></ol></li><li>two</li><li></li></ul>"
            "<table><tr><th>Order</th><th>Status</th></tr><tr><td>#1</td><td>sent</td></tr></table>")
    assert html_to_text(html) == "- one\n  1. a\n  2. b\n- two\n\nOrder\tStatus\n#1\tsent"


def test_preformatted_text_keeps_its_spacing():
    assert html_to_text("<p>Log:</p><pre>line 1\n    indented</pre>") == "Log:\n\nline 1\n    indented"


@pytest.mark.parametrize("html", ["<p></p>", "<!-- only a comment -->", "<br>", "<script>x()</script>", "  "])
def test_a_body_that_shows_no_text_has_none(html):
    assert html_to_text(html) is None


def test_a_declared_charset_does_not_change_how_the_text_is_read():
    html = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><meta charset=\"iso-8859-1\"><p>café ✓ \ufffd</p>"
    assert html_to_text(html) == "café ✓ \ufffd"


def test_a_lone_surrogate_becomes_a_replacement_character():
    text = html_to_text("<p>a\ud800b</p>")
    assert text is not None and text.startswith("a\ufffd") and text.endswith("b")
    assert not any("\ud800" <= c <= "\udfff" for c in text)


def test_nesting_deeper_than_libxml2_parses_still_keeps_all_the_text():
    for depth in (1000, 3000):  # 3000 is past libxml2's limit of 2048
        html = "<div>" * depth + "deep text" + "</div>" * depth + "<p>after</p><script>alert(1)</script>"
        text = html_to_text(html)
        assert text is not None and "deep text" in text and "after" in text and "alert" not in text


def test_a_long_body_is_converted_whole():
    text = html_to_text("<p>" + "woord " * 100_000 + "</p><p>einde</p>")
    assert text is not None and text.count("woord") == 100_000 and text.endswith("einde")


def test_threads_converting_at_once_get_the_same_text():
    bodies = [f"<div><p>Bericht {i}</p><blockquote><p>vraag {i}</p></blockquote><br>{i}</div>" for i in range(400)]
    expected = [html_to_text(b) for b in bodies]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(html_to_text, bodies)) == expected


def test_the_mapping_keeps_plain_text_as_it_is_and_empty_bodies_empty():
    assert body_text("  gewoon tekst, 3 > 2  ") == "  gewoon tekst, 3 > 2  "
    assert body_text("") is None and body_text(None) is None
    assert body_text("a < b en c > d") == "a < b en c > d"  # a "<" that opens no tag is text


SIMPLE_BODIES = [
    '<div dir="ltr"><p>Hallo,</p><p>Waar  blijft\n order 12?</p><p>Groet,<br>Ann</p></div>',
    '<div dir="ltr"><p>Ja.</p></div><blockquote class="gmail_quote"><p>&gt; vraag</p><div>&gt; &amp;lt; &quot;x&#39;'
    '&nbsp;y</div><blockquote><p>ouder<br/>nog<br />ouder</p></blockquote></blockquote>',
    "<p> a </p><p></p><div><br><br>b<br></div>",
]
NOT_SIMPLE_BODIES = [
    "<p>a<p>b</p></p>",  # libxml2 closes the first <p> itself
    "<p>a</p> <p>b</p>",  # whitespace-only text
    "x<p>a</p>",  # text outside every element
    "<p>&euro; &amp</p>",  # an entity outside the six
    "<p>a</div>",  # an end tag that closes nothing
    "<p>a<span>b</span></p>",  # another tag
    "<p>a\x00b</p>",  # a character libxml2 replaces
]


@pytest.mark.parametrize("html", SIMPLE_BODIES + NOT_SIMPLE_BODIES)
def test_simple_bodies_read_without_a_tree_get_the_text_the_tree_walk_writes(html, monkeypatch):
    from helpdesk_migrate.plugins.trengo import html_text

    fast = html_text._simple_body_text(html)
    assert (fast is html_text._NOT_SIMPLE) == (html in NOT_SIMPLE_BODIES)
    monkeypatch.setattr(html_text, "_simple_body_text", lambda body: html_text._NOT_SIMPLE)
    if fast is not html_text._NOT_SIMPLE:
        assert fast == html_text.html_to_text(html)


def _bodies_near_the_simple_shape(count: int, seed: int) -> list[str]:
    """Bodies mostly of the simple shape, with the variations at its edges (other tags, stray end tags,
    entities, whitespace-only text, characters libxml2 replaces)."""
    import random

    rnd = random.Random(seed)
    words = ["Hallo", "groet,", "#2112", "é", "€", "😀", ">", "'", '"', "a  b", " x ", "\n", "\xa0", "\u3000",
             "&gt;", "&amp;", "&lt;", "&quot;", "&#39;", "&nbsp;", "lt;", "nbsp;", "gt;"]
    edgy = ["&euro;", "&amp", "\x00", "\ufeff", "<", "</", " "]

    def text() -> str:
        return "".join(rnd.choice(edgy if rnd.random() < 0.03 else words) for _ in range(rnd.randint(0, 4)))

    def inline() -> str:
        return "".join(rnd.choice([text(), text(), "<br>", "<br/>"]) for _ in range(rnd.randint(1, 3)))

    def block(depth: int) -> str:
        out = []
        for _ in range(rnd.randint(1, 3)):
            roll = rnd.random()
            if depth and roll < 0.2:
                out.append(text())
            elif depth and roll < 0.3:
                out.append(rnd.choice(["<br>", "<br/>", "<br />", "</br>" if rnd.random() < 0.1 else "<br>"]))
            elif depth < 4:
                tag = rnd.choice(["p", "div", "blockquote", "div", "p"])
                if rnd.random() < 0.03:
                    tag = rnd.choice(["span", "b", "ul", "pre"])
                attrs = rnd.choice(["", ' dir="ltr"', ' class="gmail_quote"', " class='q'" if rnd.random() < 0.1 else ""])
                inner = inline() if tag == "p" and rnd.random() < 0.9 else block(depth + 1)
                close = f"</{tag}>" if rnd.random() > 0.03 else rnd.choice(["", "</p>", "</div>"])
                out.append(f"<{tag}{attrs}>{inner}{close}")
        return "".join(out)

    return [block(0) for _ in range(count)]


def test_the_simple_body_reader_agrees_with_the_tree_walk_on_bodies_at_the_edges_of_its_shape(monkeypatch):
    from helpdesk_migrate.plugins.trengo import html_text

    bodies = _bodies_near_the_simple_shape(4000, seed=7)
    fast = [html_text._simple_body_text(body) for body in bodies]
    monkeypatch.setattr(html_text, "_simple_body_text", lambda body: html_text._NOT_SIMPLE)
    read_fast = [(body, text) for body, text in zip(bodies, fast, strict=True) if text is not html_text._NOT_SIMPLE]
    assert len(read_fast) > 1000 and len(read_fast) < len(bodies)  # both paths are exercised
    differing = [(body, text, html_text.html_to_text(body)) for body, text in read_fast
                 if text != html_text.html_to_text(body)]
    assert differing == []
