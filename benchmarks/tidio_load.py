"""Tidio load throughput against the plan's request budget.

Loads a synthetic canonical workspace into the Tidio emulator through the engine (runtime.load_object), with
the emulator enforcing the plan's limit and the client spending the shared budget, and prints per object:

- records per minute and requests per minute;
- utilisation = requests per minute / limit (how much of the budget the plugin manages to use);
- ratio = records per minute / limit. The floor is 1.0: one request per record. Contacts beat it (batches
  of 100), tickets cost more (create + PATCH), history costs one reply per note plus one read per ticket.

The figures are ratios, so a scaled limit (default 1200/min, to finish in seconds) predicts the real plans:
records per minute on Plus = ratio x 60, on Premium = ratio x 120.

    /work/venv-dev/bin/python benchmarks/tidio_load.py [--conversations 30] [--rate-limit 1200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SOURCE = "bench"


def workspace(n: int) -> dict[str, list[dict[str, Any]]]:
    agents = [{"id": f"a{i}", "email": f"agent{i}@example.com", "name": f"Agent {i}", "is_active": True}
              for i in range(3)]
    teams = [{"id": "t1", "name": "Support"}]
    tags = [{"id": "g1", "name": "vip", "applies_to": "conversation"}]
    contacts, conversations, messages = [], [], []
    for i in range(n):
        contacts.append({"id": f"c{i}", "name": f"Customer {i}", "email": f"customer{i}@example.org",
                         "custom_fields": {"plan": "Gold"} if i % 2 else {}})
        conversations.append({"id": f"v{i}", "subject": f"Question {i}", "status": ("open", "closed")[i % 2],
                              "contact_id": f"c{i}", "assignee_id": f"a{i % 3}", "team_id": "t1",
                              "tags": ["vip"] if i % 4 == 0 else [], "created_at": "2024-03-01T09:00:00+00:00"})
        for k, kind in enumerate(("inbound", "outbound", "note")):
            messages.append({"id": f"m{i}-{k}", "conversation_id": f"v{i}", "kind": kind, "sequence": k,
                             "author_type": "contact" if kind == "inbound" else "agent",
                             "author_id": f"c{i}" if kind == "inbound" else f"a{i % 3}",
                             "body_text": f"Message {k} of {i}", "created_at": f"2024-03-01T09:0{k}:00+00:00"})
    custom_fields = [{"id": "cf1", "name": "Plan", "key": "plan", "entity": "contact", "data_type": "text"}]
    return {"agents": agents, "teams": teams, "tags": tags, "custom_fields": custom_fields, "contacts": contacts,
            "conversations": conversations, "messages": messages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=30, help="contacts and conversations (3 messages each)")
    parser.add_argument("--rate-limit", type=int, default=1200, help="requests per minute the emulator allows")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="tidio-bench-"))
    os.environ["MIGRATION_HOME"] = str(home)
    os.environ.pop("MIGRATION_RATE_LIMIT_URL", None)

    from helpdesk_migrate.plugins.tidio.emulator.server import TidioEmulator
    from helpdesk_migrate.plugins.tidio.plugin import TidioDestination
    from migration_assets.runtime import load_object
    from migration_assets.store import MigrationStore

    data = workspace(args.conversations)
    emu = TidioEmulator(seed=1, size=0, rate_limit=args.rate_limit,
                        existing={k: data[k] for k in ("agents", "teams", "tags", "custom_fields")})
    os.environ.update(emu.env())
    store = MigrationStore(f"sqlite:///{home / 'store.sqlite'}")
    plugin = TidioDestination()
    for canonical, records in data.items():
        store.stage(SOURCE, canonical, records, "bench")
    rows = []
    try:
        for canonical in data:
            before = sum(emu.state.requests.values())
            start = time.perf_counter()
            summary = load_object(store, SOURCE, plugin, canonical, run_id="bench")
            seconds = time.perf_counter() - start
            requests = sum(emu.state.requests.values()) - before
            n = len(data[canonical])
            rows.append((canonical, n, requests, seconds, summary.actions, emu.state.requests.get("429", 0)))
    finally:
        emu.stop()
        store.dispose()
    limit = args.rate_limit
    print(f"Tidio load benchmark: {args.conversations} conversations, emulator limit {limit} requests/min")
    print(f"{'object':<14}{'records':>8}{'requests':>9}{'seconds':>9}{'rec/min':>10}{'req/min':>9}"
          f"{'util':>7}{'ratio':>8}{'Plus rec/min':>14}  actions")
    total_n = total_req = 0
    total_s = 0.0
    for canonical, n, requests, seconds, actions, _ in rows:
        rpm, qpm = n / seconds * 60, requests / seconds * 60
        total_n, total_req, total_s = total_n + n, total_req + requests, total_s + seconds
        print(f"{canonical:<14}{n:>8}{requests:>9}{seconds:>9.2f}{rpm:>10.0f}{qpm:>9.0f}{qpm / limit:>7.2f}"
              f"{rpm / limit:>8.2f}{rpm / limit * 60:>14.1f}  {actions}")
    rpm = total_n / total_s * 60
    print(f"{'all':<14}{total_n:>8}{total_req:>9}{total_s:>9.2f}{rpm:>10.0f}{total_req / total_s * 60:>9.0f}"
          f"{total_req / total_s * 60 / limit:>7.2f}{rpm / limit:>8.2f}{rpm / limit * 60:>14.1f}")
    print(f"429 answers from the emulator: {rows[-1][5]} (the shared budget keeps the client under the limit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
