"""The emulator's routes: which payloads each Zendesk endpoint answers with, paged the way Zendesk pages them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .account import Account, Ticket
from .ids import ANCHOR, iso
from .paging import BadRequest, cursor_export, list_page, time_export
from .profiles import Shaper


class NotFound(Exception):
    pass


def epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


class Api:
    def __init__(self, account: Account, base: str, shape: Shaper):
        self.ac, self.base, self.shape = account, base, shape

    def _url(self, *parts: str) -> str:
        return f"{self.base}/api/v2/{'/'.join(parts)}.json"

    def _list(self, key: str, rows: list[Any], params: dict[str, str], *parts: str) -> dict[str, Any]:
        cursor_ok = "offset-pagination" not in self.shape
        return list_page(key, rows, params, self._url(*parts), cursor_ok=cursor_ok)

    # -- GET --------------------------------------------------------------------------------------------

    def get(self, parts: list[str], params: dict[str, str]) -> dict[str, Any]:
        ac = self.ac
        if parts[:1] == ["incremental"]:
            return self.incremental(parts[1:], params)
        if parts[:1] == ["help_center"]:
            return self.help_center(parts[1:], params)
        if parts == ["tickets"]:  # archived and deleted tickets are not listed
            rows = [ac.ticket_payload(t, self.base) for t in ac.tickets
                    if not ac.is_archived(t) and not ac.is_deleted(t)]
            return self._list("tickets", rows, params, "tickets")
        if len(parts) >= 2 and parts[0] == "tickets":
            t = self._ticket(parts[1])
            if len(parts) == 2:
                return {"ticket": ac.ticket_payload(t, self.base)}
            if parts[2:] == ["comments"]:
                return self.comments(t, params)
        if parts == ["users"]:
            roles = {v for k, v in params.items() if k in ("role", "role[]")}
            rows = [u for u in (*ac.agents, *ac.end_users) if not roles or u["role"] in roles]
            return self._list("users", rows, params, "users")
        if len(parts) == 2 and parts[0] == "users":
            user = ac.users_by_id.get(int(parts[1])) if parts[1].isdigit() else None
            if user is None:
                raise NotFound()
            return {"user": user}
        simple = {"organizations": ac.orgs, "groups": ac.groups, "group_memberships": ac.memberships,
                  "ticket_fields": ac.ticket_fields, "user_fields": ac.user_fields,
                  "organization_fields": ac.org_fields, "macros": ac.macros, "triggers": ac.triggers,
                  "automations": ac.automations, "views": ac.views}
        if len(parts) == 1 and parts[0] in simple:
            return self._list(parts[0], simple[parts[0]], params, parts[0])
        if parts == ["tags"]:
            counts: dict[str, int] = {}
            for t in ac.tickets:
                if not ac.is_deleted(t):
                    for tag in t.tags:
                        counts[tag] = counts.get(tag, 0) + 1
            rows = [{"name": n, "count": c} for n, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
            return self._list("tags", rows, params, "tags")
        if parts == ["slas", "policies"]:  # not paginated
            return {"sla_policies": ac.slas, "next_page": None, "previous_page": None, "count": len(ac.slas)}
        if parts == ["deleted_tickets"]:
            rows = [self._deleted(t) for t in ac.tickets if ac.is_deleted(t)]
            return self._list("deleted_tickets", rows, params, "deleted_tickets")
        raise NotFound("InvalidEndpoint")

    def _ticket(self, ident: str) -> Ticket:
        t = self.ac._ticket(int(ident)) if ident.isdigit() else None
        if t is None or self.ac.is_deleted(t):
            raise NotFound()
        return t

    def _deleted(self, t: Ticket) -> dict[str, Any]:
        agent = self.ac.agents[0]
        return {"id": t.id, "subject": t.subject, "description": self.ac._first_body(t),
                "actor": {"id": agent["id"], "name": agent["name"]}, "deleted_at": iso(self.ac.deleted_at(t) or ANCHOR),
                "previous_state": self.ac.status(t)}

    def comments(self, t: Ticket, params: dict[str, str]) -> dict[str, Any]:
        comments = [self.shape.comment(c) for c in self.ac.comments(t, self.base)]
        answer = self._list("comments", comments, params, "tickets", str(t.id), "comments")
        if "users" in self.shape.side_loads(params.get("include")):
            ids = {c["author_id"] for c in answer["comments"]}
            answer["users"] = [u for i, u in self.ac.users_by_id.items() if i in ids]
        return answer

    # -- incremental exports ------------------------------------------------------------------------------

    def incremental(self, parts: list[str], params: dict[str, str]) -> dict[str, Any]:
        ac = self.ac
        if parts == ["tickets", "cursor"]:
            skip_deleted = params.get("exclude_deleted") == "true"
            rows = sorted((ac.updated(t), t.id, t) for t in ac.tickets if not (skip_deleted and ac.is_deleted(t)))
            answer, page = cursor_export("tickets", rows, params, self._url("incremental", "tickets", "cursor"),
                                         lambda t: ac.ticket_payload(t, self.base))
            loads = self.shape.side_loads(params.get("include"))
            if "comment_count" in loads:
                for payload, t in zip(answer["tickets"], page, strict=True):
                    payload["comment_count"] = ac.comment_count(t)
            if "metric_sets" in loads:
                answer["metric_sets"] = [ac.metric_set(t) for t in page]
            if "users" in loads:
                ids = {i for t in page for i in (t.requester_id, t.assignee_id) if i}
                answer["users"] = [u for i, u in ac.users_by_id.items() if i in ids]
            return answer
        if parts == ["users", "cursor"]:
            rows = sorted((epoch(u["updated_at"]), u["id"], u) for u in (*ac.agents, *ac.end_users))
            return cursor_export("users", rows, params, self._url("incremental", "users", "cursor"), lambda u: u)[0]
        if parts == ["organizations"]:
            rows = sorted((epoch(o["updated_at"]), o["id"], o) for o in ac.orgs)
            return time_export("organizations", rows, params, self._url("incremental", "organizations"))
        raise NotFound("InvalidEndpoint")

    # -- Help Center --------------------------------------------------------------------------------------

    def help_center(self, parts: list[str], params: dict[str, str]) -> dict[str, Any]:
        ac = self.ac
        if parts == ["locales"]:
            return {"locales": ac.hc_locales, "default_locale": ac.hc_locales[0]}
        locale = ac.hc_locales[0]
        if parts and parts[0] in ac.hc_locales:
            locale, parts = parts[0], parts[1:]
        elif parts and parts[0] not in ("categories", "sections", "articles"):
            raise NotFound("locale")  # a locale the help center does not offer
        url = ("help_center", *([locale] if locale != ac.hc_locales[0] else []), *parts)
        if parts == ["categories"]:
            return self._list("categories", [{**c, "locale": locale} for c in ac.categories], params, *url)
        if parts == ["sections"]:
            return self._list("sections", [{**s, "locale": locale} for s in ac.sections], params, *url)
        if parts == ["articles"]:
            rows = [self._article(a, locale) for a in ac.articles if locale in a["translations"]]
            return self._list("articles", rows, params, *url)
        raise NotFound("InvalidEndpoint")

    def _article(self, a: dict[str, Any], locale: str) -> dict[str, Any]:
        tr = a["translations"][locale]
        aid = a["id"]
        return {"id": aid, "url": self._url("help_center", locale, "articles", str(aid)),
                "html_url": f"{self.base}/hc/{locale}/articles/{aid}", "author_id": a["author_id"],
                "comments_disabled": False, "draft": tr["draft"], "promoted": a["promoted"], "position": a["position"],
                "vote_sum": 0, "vote_count": 0, "section_id": a["section_id"], "created_at": a["created_at"],
                "updated_at": a["updated_at"], "name": tr["title"], "title": tr["title"],
                "source_locale": a["source_locale"], "locale": locale, "outdated": False,
                "outdated_locales": [], "edited_at": a["updated_at"], "user_segment_id": None,
                "permission_group_id": 1, "content_tag_ids": [], "label_names": a["label_names"], "body": tr["body"]}

    # -- writes (an agent's, never the migration's) ---------------------------------------------------------

    def write(self, method: str, parts: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        if len(parts) == 2 and parts[0] == "tickets" and parts[1].isdigit():
            if method == "PUT":
                ticket = body.get("ticket")
                if not isinstance(ticket, dict):
                    raise BadRequest("the body needs a ticket object")
                updated = self.ac.apply_update(int(parts[1]), ticket)
                if updated is None:
                    raise NotFound()
                return 200, {"ticket": updated}
            if method == "DELETE":
                if not self.ac.apply_delete(int(parts[1])):
                    raise NotFound()
                return 204, None
        raise NotFound("InvalidEndpoint")


__all__ = ["Api", "NotFound", "epoch"]
