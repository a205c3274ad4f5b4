"""The Zendesk emulator speaks Zendesk's API as the reference documents it: auth, the three ways of paging, the
exports' cursors and side-loads, archived and deleted tickets, the two rate limits with their headers."""

from __future__ import annotations

import base64
import time

import pytest
import requests

from helpdesk_migrate.plugins.zendesk.emulator.account import Account
from helpdesk_migrate.plugins.zendesk.emulator.ids import ANCHOR, DELETED_AGENT_ID, iso
from helpdesk_migrate.plugins.zendesk.emulator.profiles import PROFILES


def get(em, path: str, params=None, *, token: str | None = None, bearer: bool = False) -> requests.Response:
    env = em.env()
    url = path if path.startswith("http") else f"{env['ZENDESK_BASE_URL']}/api/v2/{path}"
    secret = token or env["ZENDESK_API_TOKEN"]
    if bearer:
        headers = {"Authorization": f"Bearer {secret}"}
    else:
        raw = base64.b64encode(f"{env['ZENDESK_EMAIL']}/token:{secret}".encode()).decode()
        headers = {"Authorization": f"Basic {raw}"}
    return requests.get(url, params=params, headers=headers, timeout=10)


def test_basic_token_auth_and_bearer_are_accepted_anything_else_is_401(emulator):
    em = emulator()
    assert get(em, "groups.json").status_code == 200
    assert get(em, "groups.json", bearer=True).status_code == 200
    refused = get(em, "groups.json", token="wrong")
    assert refused.status_code == 401 and refused.json() == {"error": "Couldn't authenticate you"}
    assert requests.get(f"{em.url}/api/v2/groups.json", timeout=10).status_code == 401


def test_lists_page_by_cursor_with_page_size_and_by_offset_without(emulator):
    em = emulator(size=60)
    first = get(em, "users.json", {"page[size]": 25}).json()
    assert len(first["users"]) == 25 and first["meta"]["has_more"] and first["links"]["next"]
    seen = [u["id"] for u in first["users"]]
    page = first
    while page["meta"]["has_more"]:
        page = get(em, page["links"]["next"]).json()
        seen += [u["id"] for u in page["users"]]
    assert len(seen) == len(set(seen)) == len(em.account.agents) + len(em.account.end_users)
    offset = get(em, "users.json", {"per_page": 25}).json()
    assert offset["count"] == len(seen) and offset["next_page"] and offset["previous_page"] is None
    assert "meta" not in offset


def test_offset_pagination_profile_ignores_page_size(emulator):
    em = emulator(profile="offset-pagination")
    page = get(em, "groups.json", {"page[size]": 1}).json()
    assert "meta" not in page and page["count"] == 3


def test_the_ticket_export_pages_by_cursor_to_the_end_of_stream_with_side_loads(emulator):
    em = emulator(size=30)
    page = get(em, "incremental/tickets/cursor.json",
               {"start_time": 0, "per_page": 10, "include": "users,metric_sets,comment_count"}).json()
    ids = [t["id"] for t in page["tickets"]]
    assert not page["end_of_stream"] and page["after_cursor"] and page["after_url"]
    assert {u["id"] for u in page["users"]} <= {t["requester_id"] for t in page["tickets"]} | \
        {t["assignee_id"] for t in page["tickets"]}
    assert {m["ticket_id"] for m in page["metric_sets"]} == set(ids)
    assert all(isinstance(t["comment_count"], int) for t in page["tickets"])
    while not page["end_of_stream"]:
        page = get(em, "incremental/tickets/cursor.json", {"cursor": page["after_cursor"], "per_page": 10}).json()
        ids += [t["id"] for t in page["tickets"]]
    assert sorted(ids) == list(range(1, 31))  # archived and deleted ones included
    stamps = [t["updated_at"] for t in get(em, "incremental/tickets/cursor.json", {"start_time": 0}).json()["tickets"]]
    assert stamps == sorted(stamps)


def test_the_export_starts_at_start_time_and_a_later_change_moves_a_ticket_to_its_end(emulator):
    em = emulator(size=30)
    start = ANCHOR - 200 * 86400
    late = get(em, "incremental/tickets/cursor.json", {"start_time": start}).json()["tickets"]
    assert late and all(t["updated_at"] >= iso(start) for t in late) and len(late) < 30
    assert em.account.apply_update(2, {"status": "solved"}) is not None
    after = get(em, "incremental/tickets/cursor.json", {"start_time": ANCHOR}).json()["tickets"]
    assert [t["id"] for t in after] == [2]


def test_archived_tickets_are_only_in_the_export_and_by_id(emulator):
    em = emulator(size=30)
    listed = []
    page = get(em, "tickets.json", {"page[size]": 100}).json()
    listed += [t["id"] for t in page["tickets"]]
    archived = [t.id for t in em.account.tickets if em.account.is_archived(t)]
    assert 1 in archived and not set(archived) & set(listed)
    assert get(em, "tickets/1.json").json()["ticket"]["status"] == "closed"
    assert get(em, "tickets/1/comments.json").status_code == 200


def test_a_deleted_ticket_is_deleted_in_the_export_listed_with_its_actor_and_gone_by_id(emulator):
    em = emulator(size=30)
    export = {t["id"]: t for t in get(em, "incremental/tickets/cursor.json", {"start_time": 0}).json()["tickets"]}
    assert export[6]["status"] == "deleted"
    assert 6 not in {t["id"] for t in get(em, "incremental/tickets/cursor.json",
                                          {"start_time": 0, "exclude_deleted": "true"}).json()["tickets"]}
    deleted = get(em, "deleted_tickets.json").json()["deleted_tickets"]
    assert [d["id"] for d in deleted] == [6] and deleted[0]["actor"]["name"] and deleted[0]["deleted_at"]
    assert get(em, "tickets/6.json").status_code == 404
    assert get(em, "tickets/6/comments.json").status_code == 404


def test_comments_page_by_cursor_and_side_load_their_authors_except_deleted_ones(emulator):
    em = emulator(size=30)
    page = get(em, "tickets/19/comments.json", {"page[size]": 100, "include": "users"}).json()
    comments = list(page["comments"])
    while page["meta"]["has_more"]:
        page = get(em, page["links"]["next"]).json()
        comments += page["comments"]
    assert len(comments) == 250 and len({c["id"] for c in comments}) == 250
    old = get(em, "tickets/2/comments.json", {"include": "users"}).json()
    authors = {c["author_id"] for c in old["comments"]}
    assert DELETED_AGENT_ID in authors and DELETED_AGENT_ID not in {u["id"] for u in old["users"]}


def test_side_loads_and_html_bodies_can_be_switched_off_by_profile(emulator):
    em = emulator(profile="no-sideload,no-html-body")
    page = get(em, "tickets/3/comments.json", {"include": "users"}).json()
    assert "users" not in page and all("html_body" not in c and "plain_body" in c for c in page["comments"])
    export = get(em, "incremental/tickets/cursor.json", {"start_time": 0, "include": "metric_sets"}).json()
    assert "metric_sets" not in export


def test_the_organization_export_is_time_based_and_repeats_the_boundary_second(emulator):
    em = emulator(size=30)
    first = get(em, "incremental/organizations.json", {"start_time": 0, "per_page": 4}).json()
    assert first["count"] == 4 and not first["end_of_stream"] and first["end_time"]
    second = get(em, first["next_page"]).json()
    assert first["organizations"][-1]["id"] == second["organizations"][0]["id"]  # duplicates, by design


def test_attachments_are_served_and_the_gone_one_is_404(emulator):
    em = emulator(size=30)
    comments = get(em, "tickets/14/comments.json").json()["comments"]
    gone = next(a for c in comments for a in c["attachments"] if a["file_name"] == "contract.pdf")
    assert requests.get(gone["content_url"], timeout=10).status_code == 404
    ok = next(a for t in (15, 16, 17) for c in get(em, f"tickets/{t}/comments.json").json()["comments"]
              for a in c["attachments"])
    content = requests.get(ok["content_url"], timeout=10)
    assert content.status_code == 200 and len(content.content) == ok["size"]


def test_every_answer_carries_the_rate_limit_headers_and_a_spent_budget_is_429_with_retry_after(emulator):
    em = emulator(rate_limit=3, window_seconds=2)
    answers = [get(em, "groups.json") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-Rate-Limit"] == "3" and answers[0].headers["ratelimit-limit"] == "3"
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    time.sleep(float(answers[-1].headers["Retry-After"]))
    assert get(em, "groups.json").status_code == 200


def test_the_incremental_exports_have_their_own_lower_budget(emulator):
    em = emulator(rate_limit=700, incremental_rate_limit=2)
    assert em.env()["ZENDESK_INCREMENTAL_RATE_LIMIT_PER_MINUTE"] == "2"
    statuses = [get(em, "incremental/users/cursor.json", {"start_time": 0}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert get(em, "groups.json").status_code == 200  # the account's budget is not spent


def test_plans_set_the_budgets(emulator):
    em = emulator(rate_limit=None, plan="team")
    assert em.env()["ZENDESK_RATE_LIMIT_PER_MINUTE"] == "200"
    assert em.env()["ZENDESK_INCREMENTAL_RATE_LIMIT_PER_MINUTE"] == "10"
    hv = emulator(rate_limit=None, plan="high_volume")
    assert hv.env()["ZENDESK_INCREMENTAL_RATE_LIMIT_PER_MINUTE"] == "30"


def test_the_account_is_deterministic_and_an_agents_writes_show_in_the_snapshot(emulator):
    a, b = Account(5, 40), Account(5, 40)
    assert [a.ticket_payload(t) for t in a.tickets] == [b.ticket_payload(t) for t in b.tickets]
    assert [a.comments(t) for t in a.tickets[:10]] == [b.comments(t) for t in b.tickets[:10]]
    em = emulator()
    before = em.snapshot()
    env = em.env()
    put = requests.put(f"{env['ZENDESK_BASE_URL']}/api/v2/tickets/4.json", timeout=10,
                       json={"ticket": {"status": "solved", "comment": {"body": "Done", "public": True}}},
                       auth=(f"{env['ZENDESK_EMAIL']}/token", env["ZENDESK_API_TOKEN"]))
    assert put.status_code == 200 and put.json()["ticket"]["status"] == "solved"
    assert em.snapshot() != before
    assert get(em, "tickets/4/comments.json").json()["comments"][-1]["body"] == "Done"


def test_profiles_are_documented_and_an_unknown_one_is_refused(emulator):
    assert next(iter(PROFILES)) == "default" and all(PROFILES.values())
    with pytest.raises(ValueError, match="no profile"):
        emulator(profile="nope")
