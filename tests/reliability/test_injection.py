"""R6: injection and transport.

- Values placed in SOQL are escaped: quotes and backslashes in emails and names, through the plugin's own
  client into the Salesforce emulator's SOQL parser, and end to end through a migration and its re-run.
- HTML from the source (messages, names, labels, titles) stays inert in every report the product renders:
  report.md, sample.md, scope.md, inventories.md, preflight and plugin reports, and the Dagster metadata
  markdown the UI renders.
- TLS: each client refuses plain http to a non-local host, and nothing turns certificate checks off.
- Attachment file names cannot leave the files directory.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from migration_assets.registry import emulator_for
from tests.e2e_support import start_migration, stop_migration
from tests.reliability.corpus_support import check_evaluations, cli

ROOT = Path(__file__).resolve().parents[2]

# -- SOQL ---------------------------------------------------------------------------------------------------

# Salesforce takes the apostrophe (and = ) in an email's local part; backslashes and double quotes go in names.
EMAILS = ["o'brien@example.ie", "x'or'1'='1@example.org", "'@example.org", "d'arcy.o'neill@example.ie"]
TITLES = ["VP \\ 'Sales' \"EMEA\"", "\\", "'", "a\\'b", "x' OR Title != 'y"]


def test_soql_literals_escape_quotes_and_backslashes():
    from helpdesk_migrate.plugins.salesforce.soql import in_list, like_prefix, quote

    assert quote("O'Brien") == "'O\\'Brien'"
    assert quote("a\\b") == "'a\\\\b'"
    assert quote("\\'") == "'\\\\\\''"  # backslash first: the quote's own escape is not doubled
    assert like_prefix("50%_off\\") == "'50\\%\\_off\\\\%'"
    assert in_list(["a'b", "c"]) == "('a\\'b', 'c')"


@pytest.fixture
def salesforce_client():
    from helpdesk_migrate.plugins.salesforce.client import connect
    from helpdesk_migrate.plugins.salesforce.plugin import SalesforceDestination
    from helpdesk_migrate.plugins.salesforce.settings import SalesforceConfig

    emu = emulator_for(SalesforceDestination()).start(seed=5, size=5)
    client = connect(SalesforceConfig.from_env(emu.env()))
    yield client
    emu.stop()


def last_name(k: int) -> str:
    return "O'Reilly \\ \"" + str(k) + "\""


def test_quotes_and_backslashes_round_trip_through_soql_into_the_salesforce_emulator(salesforce_client):
    client = salesforce_client
    from helpdesk_migrate.plugins.salesforce.soql import like_prefix, quote

    ids = []
    for k, (email, title) in enumerate(zip(EMAILS + [None], TITLES, strict=True)):
        values = {"LastName": last_name(k), "Title": title, **({"Email": email} if email else {})}
        ids.append(client.call(client.sf.Contact.create, values)["id"])
    by_email = {r["Email"]: r["Id"] for r in client.query_in("SELECT Id, Email FROM Contact WHERE Email IN {values}",
                                                             EMAILS)}
    assert by_email == dict(zip(EMAILS, ids, strict=False))  # each value matched itself, exactly
    by_title = {r["Title"]: r["Id"] for r in client.query_in("SELECT Id, Title FROM Contact WHERE Title IN {values}",
                                                             TITLES)}
    assert by_title == dict(zip(TITLES, ids, strict=True))
    # An injection attempt is one literal: it matches its own record only, it does not widen the filter.
    for field, attempt, owner in (("Email", EMAILS[1], ids[1]), ("Title", TITLES[4], ids[4])):
        rows = client.query_all(f"SELECT Id FROM Contact WHERE {field} = " + quote(attempt))
        assert [r["Id"] for r in rows] == [owner]
    by_name = client.query_all("SELECT Id FROM Contact WHERE LastName = " + quote(last_name(0)))
    assert [r["Id"] for r in by_name] == [ids[0]]
    prefixed = client.query_all("SELECT Id FROM Contact WHERE LastName LIKE " + like_prefix("O'Reilly "))
    assert sorted(r["Id"] for r in prefixed) == sorted(ids)


def test_a_like_prefix_holding_a_backslash_matches_in_the_salesforce_emulator(salesforce_client):
    from helpdesk_migrate.plugins.salesforce.soql import like_prefix

    client = salesforce_client
    rid = client.call(client.sf.Contact.create, {"LastName": "back\\slash"})["id"]
    rows = client.query_all("SELECT Id FROM Contact WHERE LastName LIKE " + like_prefix("back\\"))
    assert [r["Id"] for r in rows] == [rid]


@pytest.mark.slow
def test_contacts_with_quotes_and_backslashes_migrate_and_rerun_without_duplicates(tmp_path, monkeypatch):
    """contact_quote_backslash (name "Seán O'Brien \\ 'Jr' \"Junior\"", email sean.o'brien…@example.ie) into
    the Salesforce emulator; the re-run finds it by email through SOQL and creates nothing."""
    monkeypatch.setenv("MIGRATION_EXECUTOR", "in_process")
    m = start_migration("salesforce", tmp_path, monkeypatch, size=12)
    try:
        (case,) = [e for e in m.source_emulator.workspace.dirt_manifest() if e["case"] == "contact_quote_backslash"]
        m.migrate()
        entry = {e["source_id"]: e for e in m.store.id_map_entries("trengo", "salesforce", "contacts")}[case["source_id"]]
        contact = next(c for c in m.destination_emulator.dump("Contact") if c["Id"] == entry["destination_id"])
        assert "'" in contact["Email"] and contact["LastName"] and "\\" in (contact.get("FirstName") or "") + contact["LastName"]
        before = m.destination_emulator.dump("Contact")
        m.output.clear()
        m.run("full")
        assert any("_full): succeeded" in line for line in m.output), m.output
        assert m.destination_emulator.dump("Contact") == before
    finally:
        stop_migration(m)


# -- HTML stays inert ---------------------------------------------------------------------------------------

MARK = "inj"
INJECTED = {
    "label": f"<script>alert('{MARK}-label')</script>",
    "team": f"<img src=x onerror=alert('{MARK}-team')>",
    "channel": f"<svg onload=alert('{MARK}-channel')>",
    "quick_reply": f"<iframe src=\"javascript:alert('{MARK}-quick_reply')\"></iframe>",
    "article": f"<script>alert('{MARK}-article')</script>",
    "webhook": f"<b onmouseover=alert('{MARK}-webhook')>hook</b>",
    "contact": f"<script>alert('{MARK}-contact')</script>",
    "message": f"<script>alert('{MARK}-message')</script> <img src=x onerror=alert(2)> "
               f"[click](javascript:alert('{MARK}-message-link'))",
}
# What would be live if a renderer met it: a raw tag of the injected kinds; a markdown link or image (a bracket
# escaped with a backslash is text, not link syntax).
LIVE_TAG = re.compile(r"<\s*/?\s*(script|img|svg|iframe|b)\b", re.I)
LIVE_LINK = re.compile(r"(?<!\\)\]\(\s*javascript:|<\s*javascript:", re.I)


def _inject(m) -> None:
    ws = m.source_emulator.workspace
    ws.labels[0]["name"] = INJECTED["label"]
    ws.teams[0]["name"] = INJECTED["team"]
    ws.channels[0]["title"] = INJECTED["channel"]
    ws.quick_replies[0]["title"] = INJECTED["quick_reply"]
    ws.quick_replies[0]["message"] = INJECTED["quick_reply"]
    ws.articles[0]["translations"][0]["title"] = INJECTED["article"]
    ws.webhooks[0]["title"] = INJECTED["webhook"]
    contact = ws.contact_id(0)
    assert m.trengo("PUT", f"/contacts/{contact}", {"name": INJECTED["contact"]}).ok
    for i in ws.ticket_order():  # every thread, so that whichever conversations the sample picks show it
        assert m.trengo("POST", f"/tickets/{2_500_000_000 + i}/messages", {"message": INJECTED["message"]}).ok


def _markdown_metadata(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    out = []
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            ev = entry.dagster_event
            if ev is None:
                continue
            data = ev.event_specific_data
            metadata = getattr(getattr(data, "materialization", None), "metadata", None) or \
                getattr(data, "metadata", None) or {}
            for key, value in metadata.items():
                if isinstance(value, dg.MarkdownMetadataValue):
                    out.append((f"run {run.job_name} {ev.event_type_value} {key}", value.md_str or ""))
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Per destination, once: every markdown document the product rendered after discover, sample, full and
    report, with HTML and markdown links planted in the source's names, titles and messages."""
    done: dict[str, list[tuple[str, str]]] = {}

    def get(destination: str) -> list[tuple[str, str]]:
        if destination in done:
            return done[destination]
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MIGRATION_EXECUTOR", "in_process")
            m = start_migration(destination, tmp_path_factory.mktemp(f"html-{destination}"), mp, size=12)
            try:
                _inject(m)
                m.run("discover")
                m.approve("mapping")
                m.approve("preflight")
                m.run("sample", sample_size=12)
                m.approve("sample")
                m.run("full")
                report = cli("report", "--source", "trengo", "--destination", destination)
                assert report.returncode in (0, 1), report.stderr
                docs = [(str(p.relative_to(m.home)), p.read_text()) for p in sorted(m.home.rglob("*.md"))]
                names = {Path(n).name for n, _ in docs}
                assert {"report.md", "sample.md", "scope.md", "inventories.md"} <= names, names
                docs += _markdown_metadata(m.instance)
                docs += [(f"check {c['asset']}:{c['check']} description", c["description"] or "")
                         for c in check_evaluations(m.instance)]
                docs.append(("helpdesk-migrate report output", report.stdout))
            finally:
                stop_migration(m)
        done[destination] = docs
        return docs

    return get


@pytest.mark.slow
@pytest.mark.parametrize("destination", ["salesforce", "tidio"])
def test_html_from_the_source_is_inert_in_every_rendered_report(rendered, destination):
    documents = rendered(destination)
    live = [(name, LIVE_TAG.search(text).group(0)) for name, text in documents if LIVE_TAG.search(text)]
    assert not live, f"HTML from the source is live in: {live}"
    # ... and the planted values did reach the reports, escaped (otherwise this proves nothing).
    everything = "\n".join(text for _, text in documents)
    reached = {k for k in INJECTED if f"{MARK}-{k}" in everything}
    # (Tidio's sample shows each thread entry as the note text it posts, not the source body: no message mark.)
    planted = {"label", "team", "channel", "quick_reply"} | ({"message"} if destination == "salesforce" else set())
    assert planted <= reached, reached
    assert "&lt;script&gt;" in everything


@pytest.mark.slow
@pytest.mark.parametrize("destination", ["salesforce", "tidio"])
def test_markdown_links_from_the_source_are_inert_in_every_rendered_report(rendered, destination):
    live = [(name, LIVE_LINK.search(text).group(0)) for name, text in rendered(destination) if LIVE_LINK.search(text)]
    assert not live, f"a javascript: link from the source is live in: {live}"


# -- TLS ----------------------------------------------------------------------------------------------------


def test_trengo_refuses_plain_http_to_a_real_host_and_keeps_tls_verification(tmp_path):
    from helpdesk_migrate.plugins.trengo.client import TrengoClient, TrengoConfig, TrengoRequestError
    from migration_assets.hookspecs import ConfigurationError

    base = {"TRENGO_API_TOKEN": "t"}
    with pytest.raises(ConfigurationError, match="https"):
        TrengoConfig.from_env({**base, "TRENGO_BASE_URL": "http://app.trengo.com/api/v2"})
    for ok in ("https://app.trengo.com/api/v2", "http://127.0.0.1:8900/api/v2", "http://localhost:1/api/v2"):
        TrengoConfig.from_env({**base, "TRENGO_BASE_URL": ok})
    client = TrengoClient(TrengoConfig.from_env({**base, "TRENGO_BASE_URL": "https://app.trengo.com/api/v2"}))
    try:
        assert client._session().verify is True
        with pytest.raises(TrengoRequestError, match="plain-http"):  # refused before any connection is made
            client.download("http://files.example.com/a.pdf", tmp_path / "a.pdf")
        assert not (tmp_path / "a.pdf").exists()
    finally:
        client.close()


def test_tidio_refuses_plain_http_to_a_real_host_and_keeps_tls_verification(tmp_path, monkeypatch):
    from helpdesk_migrate.plugins.tidio.client import TidioClient
    from helpdesk_migrate.plugins.tidio.config import TidioConfig
    from migration_assets.hookspecs import ConfigurationError

    monkeypatch.setenv("MIGRATION_HOME", str(tmp_path))
    base = {"TIDIO_CLIENT_ID": "ci_x", "TIDIO_CLIENT_SECRET": "cs_x"}
    with pytest.raises(ConfigurationError, match="https"):
        TidioConfig.from_env({**base, "TIDIO_BASE_URL": "http://api.tidio.com"})
    TidioConfig.from_env({**base, "TIDIO_BASE_URL": "http://127.0.0.1:9"})
    client = TidioClient(TidioConfig.from_env({**base, "TIDIO_BASE_URL": "https://api.tidio.com"}))
    try:
        assert client.session.verify is True
    finally:
        client.close()


def test_salesforce_talks_https_to_real_hosts_and_plain_http_only_to_loopback():
    import requests
    from simple_salesforce import Salesforce

    from helpdesk_migrate.plugins.salesforce.client import ApiMeter, MeteredAdapter, mount_instance

    session = requests.Session()
    meter = ApiMeter(None, 0) if ApiMeter.__init__.__code__.co_argcount > 1 else ApiMeter()
    mount_instance(session, "acme.my.salesforce.com", meter)
    mount_instance(session, "127.0.0.1:8443", meter)
    real = session.get_adapter("https://acme.my.salesforce.com/services/data")
    local = session.get_adapter("https://127.0.0.1:8443/services/data")
    assert isinstance(real, MeteredAdapter) and real.plain_http is False
    assert isinstance(local, MeteredAdapter) and local.plain_http is True
    assert session.verify is True
    # An http:// instance URL does not downgrade: simple-salesforce builds https:// endpoints from the host.
    sf = Salesforce(session_id="x", instance_url="http://acme.my.salesforce.com", session=session)
    assert sf.base_url.startswith("https://acme.my.salesforce.com/")


def _product_sources() -> list[Path]:
    return [p for d in ("migration_assets", "plugins") for p in (ROOT / d).rglob("*.py")]


def test_nothing_in_the_product_turns_tls_verification_off():
    offences = []
    for path in _product_sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg in ("verify", "check_hostname", "cert_reqs") and \
                    isinstance(node.value, ast.Constant) and node.value.value in (False, "CERT_NONE"):
                offences.append(f"{path.relative_to(ROOT)}:{node.value.lineno} {node.arg}={node.value.value!r}")
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is False:
                for t in node.targets:
                    if isinstance(t, ast.Attribute) and t.attr in ("verify", "check_hostname"):
                        offences.append(f"{path.relative_to(ROOT)}:{node.lineno} .{t.attr} = False")
            if isinstance(node, ast.Attribute) and node.attr in ("CERT_NONE", "_create_unverified_context",
                                                                 "disable_warnings"):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    assert not offences, offences


# -- attachment file names ----------------------------------------------------------------------------------

HOSTILE_NAMES = ["../../etc/passwd", "/etc/shadow", "..", ".", "", "a/../../b", "C:\\Windows\\win.ini",
                 "..\\..\\boot.ini", "\x00evil.txt", "name\nwith\nnewlines.txt", "~/.ssh/authorized_keys",
                 "Überweisung (1) ✓.pdf", "x" * 5000, "./.hidden", "%2e%2e%2fetc%2fpasswd", "CON", "file:/etc/hosts"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[f"name{k}" for k in range(len(HOSTILE_NAMES))])
def test_attachment_names_cannot_leave_the_files_directory(name, tmp_path):
    from helpdesk_migrate.plugins.trengo.mapping import AttachmentRef, attachment_local_path

    files = (tmp_path / "files" / "trengo").resolve()
    ref = AttachmentRef(id="../1", message_id="m", conversation_id="c", file_name=name, url="https://x/y")
    relative = attachment_local_path(ref)
    target = (files / relative).resolve()
    assert target.is_relative_to(files / "attachments"), (name, relative)
    assert target.parent == files / "attachments" and not Path(relative).is_absolute()
    assert len(target.name) <= 255


def test_extracted_hostile_names_land_inside_the_files_directory(tmp_path, monkeypatch):
    """The corpus cases attachment_unsafe_name and attachment_absolute_path_name, extracted for real."""
    from helpdesk_migrate.plugins.trengo.source import TrengoSource
    from migration_assets.runtime import extract_object
    from migration_assets.store import MigrationStore

    monkeypatch.setenv("MIGRATION_HOME", str(tmp_path / "home"))
    source = TrengoSource()
    em = emulator_for(source).start(seed=3, size=40, rate_limit=60_000)
    try:
        monkeypatch.setattr("os.environ", {**__import__("os").environ, **em.env(), "TRENGO_CONTACT_NOTES": "false"})
        store = MigrationStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
        for canonical in ("conversations", "messages", "attachments"):
            extract_object(store, source, canonical, run_id="r1")
        files = (tmp_path / "home" / "files" / "trengo").resolve()
        manifest = {e["case"]: e for e in em.workspace.dirt_manifest()}
        staged = {r["id"]: r for chunk in store.iter_staged("trengo", "attachments") for r in chunk}
        for case, original in (("attachment_unsafe_name", "../../etc/passwd"),
                               ("attachment_absolute_path_name", "/etc/shadow")):
            rec = staged[manifest[case]["canonical_id"]]
            assert rec["file_name"] == original  # the name a person knows, kept as metadata
            path = (files / rec["local_path"]).resolve()
            assert path.is_relative_to(files) and path.is_file(), rec["local_path"]
        written = {p.resolve() for p in (tmp_path / "home").rglob("*") if p.is_file()}
        assert all(p.is_relative_to((tmp_path / "home").resolve()) for p in written)
        assert not (tmp_path / "etc").exists()
        store.dispose()
    finally:
        em.stop()


def test_the_salesforce_upload_reads_only_inside_the_files_directory(tmp_path):
    """Defence in depth: a staged attachment whose local_path points outside the files directory (a buggy or
    hostile source plugin) must not be read and uploaded."""
    from types import SimpleNamespace

    from helpdesk_migrate.plugins.salesforce.load_files import read_file

    files = tmp_path / "files"
    files.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("not a customer's file")
    svc: Any = SimpleNamespace(files_dir=lambda context: files, cfg=SimpleNamespace(max_file_bytes=10**6))
    (files / "link.txt").symlink_to(secret)
    for local in ("../secret.txt", str(secret), "sub/../../secret.txt", "link.txt"):
        got = read_file(svc, None, {"id": "a1", "file_name": "x", "local_path": local})
        assert isinstance(got, str) and "outside" in got, (local, got)
    (files / "sub").mkdir()
    (files / "sub" / "ok.txt").write_bytes(b"a customer's file")
    for local in ("sub/ok.txt", str(files / "sub" / "ok.txt"), "sub/../sub/ok.txt"):
        assert read_file(svc, None, {"id": "a2", "file_name": "ok.txt", "local_path": local}) == b"a customer's file"
