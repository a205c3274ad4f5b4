"""The synthetic account's configuration and Help Center: what is inventoried (macros, triggers, automations,
SLA policies, views) and the knowledge base (categories, sections, articles with translations), built onto an
``Account`` (kept apart so account.py holds people and tickets only)."""

from __future__ import annotations

from typing import Any

from .ids import (
    ANCHOR,
    ARTICLE_BASE,
    AUTOMATION_BASE,
    CATEGORY_BASE,
    DAY,
    GROUP_BASE,
    MACRO_BASE,
    ORG_BASE,
    PHRASES,
    SECTION_BASE,
    SLA_BASE,
    SPAN,
    TRIGGER_BASE,
    VIEW_BASE,
    iso,
)


def build_configuration(ac: Any) -> None:
    t0 = iso(ANCHOR - SPAN)
    ac.macros = [
        {"id": MACRO_BASE + k, "url": f"/api/v2/macros/{MACRO_BASE + k}.json", "title": title, "raw_title": title,
         "active": k != 3, "description": None, "position": k, "default": False, "restriction": None,
         "created_at": t0, "updated_at": t0,
         "actions": [{"field": "comment_value_html", "value": f"<p>{body}</p>"}, {"field": "status", "value": status}]}
        for k, (title, body, status) in enumerate((
            ("Refund approved", "We have refunded your payment; it shows within 5 days.", "solved"),
            ("Ask for screenshot", "Could you send us a screenshot of the error?", "pending"),
            ("Shipping delay", "Your parcel is delayed; we will update you tomorrow.", "pending"),
            ("Old greeting (inactive)", "Hello!", "open")))]
    ac.triggers = [
        {"id": TRIGGER_BASE + k, "url": f"/api/v2/triggers/{TRIGGER_BASE + k}.json", "title": title,
         "raw_title": title, "active": True, "position": k, "description": None, "category_id": "360000001",
         "default": False, "created_at": t0, "updated_at": t0, "conditions": cond, "actions": act}
        for k, (title, cond, act) in enumerate((
            ("Notify requester of received request",
             {"all": [{"field": "update_type", "operator": "is", "value": "Create"}], "any": []},
             [{"field": "notification_user", "value": ["requester_id", "Request received", "We got it."]}]),
            ("Route billing to Billing group",
             {"all": [{"field": "current_tags", "operator": "includes", "value": "billing"}], "any": []},
             [{"field": "group_id", "value": str(GROUP_BASE + 1)}]),
            ("VIP priority", {"all": [{"field": "organization_id", "operator": "is", "value": str(ORG_BASE)}],
                              "any": []}, [{"field": "priority", "value": "high"}])))]
    ac.automations = [
        {"id": AUTOMATION_BASE + k, "url": f"/api/v2/automations/{AUTOMATION_BASE + k}.json", "title": title,
         "raw_title": title, "active": True, "position": k, "default": False, "created_at": t0, "updated_at": t0,
         "conditions": {"all": [{"field": "status", "operator": "is", "value": status},
                                {"field": hours, "operator": "greater_than", "value": "96"}], "any": []},
         "actions": [{"field": "status", "value": to}]}
        for k, (title, status, hours, to) in enumerate((
            ("Close ticket 4 days after status is set to solved", "solved", "SOLVED", "closed"),
            ("Pending reminder", "pending", "PENDING", "open")))]
    ac.slas = [
        {"id": SLA_BASE, "url": f"/api/v2/slas/policies/{SLA_BASE}.json", "title": "Standard SLA",
         "description": "First reply within 8 business hours", "position": 0,
         "filter": {"all": [{"field": "type", "operator": "is", "value": "incident"}], "any": []},
         "policy_metrics": [{"priority": p, "metric": "first_reply_time", "target": t, "business_hours": True}
                            for p, t in (("urgent", 60), ("high", 240), ("normal", 480), ("low", 960))],
         "created_at": t0, "updated_at": t0}]
    ac.views = [
        {"id": VIEW_BASE + k, "url": f"/api/v2/views/{VIEW_BASE + k}.json", "title": title, "active": True,
         "position": k, "default": k == 0, "restriction": None, "created_at": t0, "updated_at": t0,
         "conditions": {"all": [{"field": "status", "operator": "less_than", "value": "solved"}], "any": []},
         "execution": {"group_by": "status", "sort_by": "updated", "columns": [{"id": "subject"}]}}
        for k, title in enumerate(("Your unsolved tickets", "Unassigned tickets", "Recently solved tickets"))]

def build_help_center(ac: Any) -> None:
    t0 = ANCHOR - SPAN
    ac.hc_locales = ["en-us", "nl"]
    ac.categories = [{"id": CATEGORY_BASE + k, "name": name, "description": "", "locale": "en-us",
                        "source_locale": "en-us", "position": k, "outdated": False,
                        "created_at": iso(t0), "updated_at": iso(t0)}
                       for k, name in enumerate(("Getting started", "Billing & payments"))]
    ac.sections = [{"id": SECTION_BASE + k, "category_id": CATEGORY_BASE + c, "parent_section_id": parent,
                      "name": name, "description": "", "locale": "en-us", "source_locale": "en-us", "position": k,
                      "outdated": False, "created_at": iso(t0), "updated_at": iso(t0)}
                      for k, (c, parent, name) in enumerate(((0, None, "FAQ"), (1, None, "Invoices"),
                                                              (1, SECTION_BASE + 1, "Refunds")))]
    n_articles = max(3, ac.size // 10)
    ac.articles = []
    for k in range(n_articles):
        aid = ARTICLE_BASE + k
        created = t0 + k * DAY
        translations = {"en-us": {"title": f"How to {PHRASES[k % len(PHRASES)].split(' ', 1)[1]}",
                                  "body": f"<h2>Steps</h2><p>Article {k} explains it.</p>", "draft": k % 4 == 3}}
        if k % 2 == 0:
            translations["nl"] = {"title": f"Hoe los ik probleem {k} op", "body": f"<p>Artikel {k}.</p>",
                                  "draft": False}
        ac.articles.append({"id": aid, "section_id": SECTION_BASE + k % len(ac.sections),
                              "author_id": ac.agents[0]["id"], "created_at": iso(created),
                              "updated_at": iso(created + DAY), "source_locale": "en-us", "position": k,
                              "promoted": False, "label_names": [], "translations": translations})
