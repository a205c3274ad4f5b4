"""Message bodies as plain text: what a reader of the HTML sees, laid out readably, and nothing that runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from plugins.trengo.html_text import html_to_text
from plugins.trengo.mapping import html_to_text as body_text


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
