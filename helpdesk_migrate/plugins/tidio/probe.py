"""The Tidio destination's read-only probe: one page of every endpoint the plugin reads (GETs only, through
its own client): the project, operators, departments, contact properties, ticket tags and fields, and a contact
and a ticket in detail when the project has any. A refused endpoint is yielded as the exception; the engine
keeps only its type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests

from .client import TidioAuthError, TidioClient, TidioError
from .config import TidioConfig

LISTS = ("/project", "/operators", "/departments", "/contact-properties", "/tickets/tags",
         "/tickets/custom-fields", "/contacts", "/tickets")


def probe(env: Mapping[str, str]) -> Iterator[tuple[str, Any]]:
    client = TidioClient(TidioConfig.from_env(env))

    def get(path: str) -> Any:
        try:
            return client.get(path)  # one page: the cursor in meta is not followed
        except TidioAuthError:
            raise  # refused credentials: every endpoint would fail the same way
        except (TidioError, requests.RequestException) as exc:
            return exc

    try:
        first = {}
        for path in LISTS:
            first[path] = get(path)
            yield path.lstrip("/"), first[path]
        for path, key in (("/contacts", "contacts"), ("/tickets", "tickets")):
            body = first[path]
            items = body.get(key) if isinstance(body, dict) else None
            if items:
                yield f"{path.lstrip('/')}/{{id}}", get(f"{path}/{items[0]['id']}")
    finally:
        client.close()
