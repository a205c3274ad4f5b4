"""The Trengo source's read-only probe: one page of every endpoint the source reads, as (endpoint, payload).

Only ``TrengoClient.get`` is used (HTTP GET): nothing is written to the workspace. Detail endpoints are read for
the first item of their list (the first ticket with messages, its first collapsed email, the first article). An
endpoint that fails is yielded as the exception, so the rest is still probed; the engine keeps only its type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from helpdesk_migrate.sdk import ConfigurationError

from .client import TrengoClient, TrengoConfig, TrengoError
from .mapping import REPORT_METRICS, is_collapsed

# The lists the source pages through (source.py), with the parameters it sends.
LISTS = ("users", "teams", "channels", "labels", "custom_fields", "ticket_results", "quick_replies",
         "contact_groups", "webhooks", "contacts", "help_center")
MAX_THREADS = 5  # message lists read at most (one request each, and one for the collapsed email)


def _items(payload: Any) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        return payload["data"]
    return []


def probe(env: Mapping[str, str]) -> Iterator[tuple[str, Any]]:
    client = TrengoClient(TrengoConfig.from_env(env))

    def get(path: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            return client.get(path, {"page": 1, **(params or {})})
        except ConfigurationError:
            raise  # a refused token: every endpoint would fail the same way
        except TrengoError as exc:
            return exc

    try:
        first: dict[str, Any] = {}
        for path in LISTS:
            payload = get(path)
            first[path] = payload
            yield path, payload
        contacts = _items(first["contacts"])
        if contacts:
            yield "contacts/{id}", get(f"contacts/{contacts[0]['id']}", {"include": "notes"})
        tickets = get("tickets", {"sort": "-date"})
        yield "tickets", tickets
        # Threads of the first few tickets with messages, until one carried a collapsed email: the email's own
        # endpoint and the message shapes (attachments, email metadata) vary with the channel.
        threads = 0
        for ticket in _items(tickets)[:MAX_THREADS * 3]:
            if ticket.get("message_count") == 0 or threads >= MAX_THREADS:
                continue
            threads += 1
            messages = get(f"tickets/{ticket['id']}/messages")
            yield "tickets/{id}/messages", messages
            collapsed = [m for m in _items(messages) if isinstance(m, dict) and is_collapsed(m)]
            if collapsed:
                yield "tickets/{id}/email_messages/{id}", get(f"tickets/{ticket['id']}/email_messages/{collapsed[0]['id']}")
                break
        centers = _items(first["help_center"])
        if centers:
            hc_id = centers[0]["id"]
            yield "help_center/{id}/categories", get(f"help_center/{hc_id}/categories")
            locale = centers[0].get("default_locale") or "en"
            articles = get(f"help_center/{hc_id}/articles", {"localeCode": locale})
            yield "help_center/{id}/articles", articles
            if _items(articles):
                yield "help_center/{id}/articles/{id}", get(f"help_center/{hc_id}/articles/{_items(articles)[0]['id']}")
        end = datetime.now(UTC)
        yield "reporting/metrics", get("reporting/metrics", {"metric[]": list(REPORT_METRICS),
                                                             "start_date": (end - timedelta(days=31)).isoformat(),
                                                             "end_date": end.isoformat()})
    finally:
        client.close()
