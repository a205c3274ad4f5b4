"""Emulator profiles: the org behaviours a real Salesforce org may show, chosen per emulator.

"default" is the behaviour the public evidence documents (or, where it is silent, the one most orgs show);
each variant serves another documented-or-recorded behaviour, so a test can prove the loader copes with
both. ``start_emulator(profile="no-userinfo,no-enhanced-email")`` combines variants (comma-separated).
"""

from __future__ import annotations

from dataclasses import dataclass

PROFILES: dict[str, str] = {
    "default": (
        "A Service Cloud org as documented: Case.ClosedDate is not createable even with 'Set Audit Fields upon "
        "Record Creation' (object reference: ClosedDate is Filter, Nillable, Sort; Help 000176484: the "
        "permission unlocks CreatedById/CreatedDate/LastModifiedById/LastModifiedDate only); Enhanced Email is "
        "on, so every inserted EmailMessage with a ParentId creates a Task (Help 000386065) dated at insert; "
        "Bulk 2.0 result files come back in no particular order ('The order of records in the response is "
        "not guaranteed', Bulk API 2.0 guide, get-job-successful/failed/unprocessed results); Tooling "
        "TableEnumOrId holds the CustomObject Id for custom objects (Tooling API reference, CustomField); "
        "/services/oauth2/userinfo answers the API user."),
    "closeddate-createable": (
        "Case.ClosedDate is createable with the audit permission, as some practitioners report (unconfirmed "
        "by the object reference); the emulator's behaviour before the real-org work."),
    "no-enhanced-email": (
        "Enhanced Email off (orgs that never enabled it, or turned it off): an EmailMessage creates no Task "
        "and describe has no EmailMessage.RelatedToId."),
    "no-userinfo": (
        "A client-credentials token without the openid/id scope: /services/oauth2/userinfo answers 403 "
        "(Help: remoteaccess_using_userinfo_endpoint; the scope rule for this grant is not captured), so the "
        "API user is found through the identity URL or chatter/users/me."),
}


@dataclass(frozen=True)
class OrgBehaviour:
    """What the chosen profile switches, read by the emulator's route and org logic."""

    closed_date_createable: bool = False
    enhanced_email: bool = True
    userinfo: bool = True


def parse_profile(profile: str | None) -> OrgBehaviour:
    """'default' or a comma-separated list of variant names -> the behaviour; an unknown name is an error
    (a typo must not silently test the default)."""
    names = [p.strip() for p in (profile or "default").split(",") if p.strip()] or ["default"]
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        raise ValueError(f"unknown Salesforce emulator profile(s) {', '.join(unknown)}; known: {', '.join(PROFILES)}")
    chosen = set(names)
    return OrgBehaviour(closed_date_createable="closeddate-createable" in chosen,
                        enhanced_email="no-enhanced-email" not in chosen,
                        userinfo="no-userinfo" not in chosen)
