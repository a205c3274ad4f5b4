"""Emulator profiles: variants of the emulated API for behaviours of the real Trengo we could not confirm.

A profile is a comma-separated list of variant names (``"inbox-default,utc-messages"``); variants combine.
Each reshapes the payloads the workspace builds, so the seeded workspace (and so what an extraction must
produce) is the same under every profile: a source that copes with a variant extracts the same canonical
records. The public evidence for each is in helpdesk_migrate/plugins/trengo/README.md and shared/reference/public-evidence.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

PROFILES: dict[str, str] = {
    "default": "the emulator as documented in emulator.py: GET /tickets without status lists every status; "
               "email addresses as lists; /tickets and /contacts on the simple paginator, other lists "
               "length-aware (meta.total, last_page); naive times in Europe/Amsterdam, a message's epoch "
               "created_at_time beside its naive created_at (RcBuilder TrengoApiEntities.cs, 2024); "
               "attachments {client_name, full_url}, team users[], ticket_result_id",
    "inbox-default": "GET /tickets without a status lists only what the UI inbox shows (no CLOSED, no INVALID): "
                     "unconfirmed either way; every public client (DASH trengo_client.py) passes a status",
    "string-addresses": "email_message to/cc as comma-separated strings (PipedreamHQ issue #20040 shows no list; "
                        "the shape is undocumented)",
    "simple-paginator": "every list on Laravel's simple paginator: no meta.total, no last_page (as the recorded "
                        "/tickets pages in with-Zoey/trengo-api-php tests/TicketTest.php)",
    "utc-messages": "message created_at/updated_at naive in UTC with the epoch created_at_time beside (RcBuilder "
                    "TrengoApiEntities.cs, 2024: '2024-01-11 10:28:24' with 1704968904)",
    "no-epoch": "messages without the epoch created_at_time, as the 2021 with-Zoey/trengo-api-php fixtures: the "
                "zone of naive times cannot be measured, only assumed (the shape audit asks a person to acknowledge "
                "it)",
    "recorded-keys": "attachments as {original_name, download_url}, team members as user_ids, the ticket result "
                     "as ticket_result {id, name} without ticket_result_id (shapes public clients read; "
                     "none recorded by Trengo itself)",
}
INBOX_HIDDEN = ("CLOSED", "INVALID")


def parse_profiles(profile: str | None) -> frozenset[str]:
    """The variant names of a profile string; ValueError naming the known ones for an unknown name."""
    names = {p.strip() for p in (profile or "default").split(",") if p.strip()} - {"default"}
    unknown = names - set(PROFILES)
    if unknown:
        raise ValueError(f"unknown Trengo emulator profile(s) {sorted(unknown)}; known: {', '.join(PROFILES)}")
    return frozenset(names)


class Shaper:
    """Reshapes workspace payloads for the active variants (a no-op under "default")."""

    def __init__(self, variants: frozenset[str], tz: ZoneInfo):
        self.variants, self.tz = variants, tz

    def __contains__(self, name: str) -> bool:
        return name in self.variants

    def message(self, m: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(m, dict):
            return m
        if not self.variants:
            return self.with_epoch(m)
        m = dict(m) if "no-epoch" in self.variants else self.with_epoch(m)
        if "string-addresses" in self.variants and isinstance(m.get("email_message"), dict):
            m["email_message"] = self.addresses(m["email_message"])
        if "utc-messages" in self.variants:
            for key in ("created_at", "updated_at"):
                if isinstance(m.get(key), str):
                    local = datetime.fromisoformat(m[key]).replace(tzinfo=self.tz)
                    m[key] = local.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")
                    if key == "created_at":
                        m["created_at_time"] = int(local.timestamp())
        if "recorded-keys" in self.variants and m.get("attachments"):
            m["attachments"] = [self.attachment(a) for a in m["attachments"]]
        return m

    def with_epoch(self, m: dict[str, Any]) -> dict[str, Any]:
        """The message with its epoch ``created_at_time`` beside the naive local ``created_at``, as the 2024
        recorded payload (RcBuilder ``TrengoApiEntities.cs``) shows; the "no-epoch" variant serves 2021's shape
        (with-Zoey fixtures) without it."""
        out = dict(m)
        if isinstance(m.get("created_at"), str) and "created_at_time" not in m:
            try:
                local = datetime.fromisoformat(m["created_at"]).replace(tzinfo=self.tz)
            except ValueError:
                return out  # a broken time stays broken: the source's own checks see it as it is
            out["created_at_time"] = int(local.timestamp())
        return out

    def full_email(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.variants or not isinstance(payload, dict):
            return payload
        out = self.addresses(payload) if "string-addresses" in self.variants else dict(payload)
        if "recorded-keys" in self.variants and out.get("attachments"):
            out["attachments"] = [self.attachment(a) for a in out["attachments"]]
        return out

    @staticmethod
    def addresses(em: dict[str, Any]) -> dict[str, Any]:
        em = dict(em)
        for key in ("to", "cc"):
            if isinstance(em.get(key), list):
                em[key] = ", ".join(str(a) for a in em[key] if a)
        return em

    @staticmethod
    def attachment(a: dict[str, Any]) -> dict[str, Any]:
        a = dict(a)
        if "client_name" in a:
            a["original_name"] = a.pop("client_name")
        if "full_url" in a:
            a["download_url"] = a.pop("full_url")
        return a

    def ticket(self, t: dict[str, Any], result_names: dict[int, str]) -> dict[str, Any]:
        if "recorded-keys" not in self.variants or not isinstance(t, dict):
            return t
        t = dict(t)
        rid = t.pop("ticket_result_id", None)
        t["ticket_result"] = {"id": rid, "name": result_names.get(rid, str(rid))} if rid else None
        return t

    def team(self, team: dict[str, Any]) -> dict[str, Any]:
        if "recorded-keys" not in self.variants or not isinstance(team, dict):
            return team
        team = dict(team)
        team["user_ids"] = [u["id"] for u in team.pop("users", None) or []]
        return team


__all__ = ["INBOX_HIDDEN", "PROFILES", "Shaper", "parse_profiles"]
