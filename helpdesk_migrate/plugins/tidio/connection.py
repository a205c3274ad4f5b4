"""TidioConnection: the engine's DestinationConnection for one Tidio project.

It dispatches each canonical object to its loader, counts what the migration put into Tidio, rolls back
what the API can delete (and lists what it cannot), evaluates the plugin's checks and writes the
pre-flight report and the manual-configuration inventory.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpdesk_migrate.sdk import CheckFinding, LoadContext, LoadOutcome, Preflight

from .client import TidioClient, TidioError, TidioNotFound, TidioValidationError
from .config import TidioConfig
from .contact_values import PreparedContact, RecordProblem, prepare
from .contacts import ContactLoader
from .content import label, source_of_distinct_id, ticket_key, ticket_label
from .directory import TidioDirectory, norm
from .fieldmap import describe_fields, property_targets
from .inventory import INVENTORY_OBJECTS, build, skipped_outcomes
from .matching import PropertyPlan, match_agents, match_custom_fields, match_tags, match_teams
from .preflight import build_preflight, compute_gaps
from .tickets import ContactNotesWriter, ConversationLoader, MessageLoader, TicketWriter

log = logging.getLogger("helpdesk_migrate.tidio")
PLUGIN_NAME = "tidio"


def json_text(value: Any) -> str:
    return json.dumps(value, default=str).lower() if value is not None else ""


def _staged_reader(context: LoadContext | None, remembered: dict[str, list[dict[str, Any]]]):
    """Source records by canonical name: the engine's staged records when the context offers them, else what
    this connection was given to load."""
    def staged(name: str) -> list[dict[str, Any]]:
        reader = getattr(context, "staged", None)
        if callable(reader):
            try:
                return list(reader(name))
            except Exception as exc:  # an object the source does not stage reads as empty, not as a crash
                log.debug("staged(%s) unavailable: %s", name, exc)
        return list(remembered.get(name, []))

    return staged


class TidioConnection:
    def __init__(self, config: TidioConfig, client: TidioClient | None = None):
        self.config = config
        self.client = client or TidioClient(config)
        self.directory = TidioDirectory(self.client, contact_lookup=config.contact_lookup)
        self.writer = TicketWriter(self.client, self.directory, config)
        self.source: str | None = None
        self.seen: dict[str, list[dict[str, Any]]] = {}  # records given to load(), for checks without staged()
        self.outcomes: dict[str, list[LoadOutcome]] = {}
        self.notes_problems: list[dict[str, str]] = []
        self.values_left_out: list[dict[str, str]] = []  # values a contact loaded without (value-not-carried)
        self.timestamps: list[dict[str, Any]] = []
        self.map_not_applied: list[dict[str, Any]] = []  # confirmed field-map entries the load did not apply
        if config.history_mode == "public_replies":
            log.warning("TIDIO_HISTORY_MODE=public_replies: agent replies are posted as public operator replies, "
                        "which Tidio EMAILS TO THE CUSTOMERS. Use internal_notes unless that is intended.")

    def close(self) -> None:
        self.client.close()

    # -- helpers ----------------------------------------------------------------------------------

    def _plan(self, context: LoadContext | None) -> PropertyPlan:
        staged = _staged_reader(context, self.seen)
        entries = ((getattr(context, "options", None) or {}).get("field_map") or {}).get("contacts") or []
        field_map, not_applied = property_targets([e for e in entries if isinstance(e, dict)])
        for entry in not_applied:
            if entry not in self.map_not_applied:
                self.map_not_applied.append(entry)
                log.warning("field map entry %s <- %s not applied: %s", entry["destination"], entry["source"],
                            entry["reason"])
        return PropertyPlan(self.directory, self.config, staged("custom_fields"), field_map)

    def describe_fields(self, canonical: str) -> list[dict[str, Any]] | None:
        """Tidio's contact fields and the project's contact properties, for the field-map proposal."""
        return describe_fields(self.directory, canonical)

    def _remember(self, canonical: str, records: list[dict[str, Any]], outcomes: list[LoadOutcome]) -> None:
        self.seen.setdefault(canonical, []).extend(records)
        self.outcomes.setdefault(canonical, []).extend(outcomes)

    # -- load -------------------------------------------------------------------------------------

    def load(self, canonical: str, records: list[dict[str, Any]], *, context: LoadContext) -> list[LoadOutcome]:
        self.source = context.source
        if canonical == "agents":
            outcomes = match_agents(records, self.directory, self.config)
        elif canonical == "teams":
            outcomes = match_teams(records, self.directory, self.config)
        elif canonical == "tags":
            outcomes = match_tags(records, self.directory, self.config)
        elif canonical == "custom_fields":
            self.seen.setdefault("custom_fields", []).extend(records)
            outcomes = match_custom_fields(records, self.directory, self._plan(context))
            self.outcomes.setdefault(canonical, []).extend(outcomes)
            return outcomes
        elif canonical == "contacts":
            outcomes = self._load_contacts(records, context)
        elif canonical == "conversations":
            loader = ConversationLoader(self.writer, self.directory, self.config, context.source, context.options)
            outcomes = loader.load(records, context)
            self.timestamps += loader.timestamps
        elif canonical == "messages":
            loader_m = MessageLoader(self.writer, self.directory, self.config, context.source)
            outcomes = loader_m.load(records, context)
            self.timestamps += loader_m.timestamps
        elif canonical in INVENTORY_OBJECTS:
            outcomes = skipped_outcomes(canonical, records)
        else:
            outcomes = [LoadOutcome(str(r["id"]), "skipped", rule="no-destination",
                                    reason=f"Tidio has no place for {canonical}") for r in records]
        self._remember(canonical, records, outcomes)
        return outcomes

    def _load_contacts(self, records: list[dict[str, Any]], context: LoadContext) -> list[LoadOutcome]:
        source = context.source
        plan = self._plan(context)
        loader = ContactLoader(self.client, self.directory, self.config, source)
        notes_writer = ContactNotesWriter(self.writer, self.directory, self.config, source)
        outcomes: dict[str, LoadOutcome] = {}
        prepared: list[PreparedContact] = []
        for record in records:
            try:
                prepared.append(prepare(record, source=source, config=self.config, plan=plan))
            except RecordProblem as problem:
                outcomes[str(record["id"])] = LoadOutcome(str(record["id"]), "failed", reason=problem.reason,
                                                          rule=problem.rule, fix=problem.fix)
        previous = context.previous("contacts", [p.source_id for p in prepared])
        to_create: list[PreparedContact] = []
        waiting: list[PreparedContact] = []  # same email as a contact created in this chunk: link after it
        first_by_email: set[str] = set()
        for p in prepared:
            prev = previous.get(p.source_id)
            if prev is not None and prev.destination_id:
                contact = self.directory.contact(prev.destination_id)
                if contact is not None:
                    p.tidio, p.action = contact, "previous"
                    continue
                log.warning("contact %s: Tidio contact %s is gone; creating it again", p.source_id, prev.destination_id)
            contact, how = self.directory.find_contacts(distinct=p.core["distinct_id"], email=p.core["email"])
            if how == "distinct_id":
                p.tidio, p.action = contact, "created"  # created by an interrupted earlier run: ours
            elif how == "email":
                p.tidio, p.action = contact, "linked"  # already a Tidio customer: never duplicated
            elif p.core["email"] and norm(p.core["email"]) in first_by_email:
                waiting.append(p)
            else:
                if p.core["email"]:
                    first_by_email.add(norm(p.core["email"]))
                to_create.append(p)
        for refused in loader.create(to_create):
            outcomes[refused.source_id] = refused
        for p in waiting:
            contact, how = self.directory.find_contacts(distinct=p.core["distinct_id"], email=p.core["email"])
            if contact is not None:
                p.tidio, p.action = contact, "linked"
            else:
                for refused in loader.create([p]):
                    outcomes[refused.source_id] = refused
        ready = [p for p in prepared if p.tidio is not None and p.source_id not in outcomes]
        for p in ready:
            for item in p.left_out:
                log.warning("contact %s: %s; not carried (kept with the originals)", p.source_id, item["reason"])
                self.values_left_out.append(item)
        changes = []
        for p in ready:
            ours = p.tidio.get("distinct_id") == p.core["distinct_id"]  # type: ignore[union-attr]
            body, before = loader.changes_for(p, ours=ours)
            if body:
                changes.append((p, body))
                p.before_image = before
        refused_data = loader.patch(changes)
        agent_ids = [str(n.get("author_id")) for p in ready for n in p.record.get("notes") or []
                     if isinstance(n, dict) and n.get("author_id")]
        agents = context.lookup("agents", agent_ids) if agent_ids else {}
        for p in ready:
            tidio_id = p.tidio["id"]  # type: ignore[index]
            if p.source_id in refused_data:
                outcomes[p.source_id] = LoadOutcome(
                    p.source_id, "failed", rule="tidio-contact-data",
                    reason=f"the contact exists in Tidio ({tidio_id}) but Tidio refused its data: "
                           f"{refused_data[p.source_id]}",
                    fix="correct the values in the source (or the property type in Tidio) and re-run; the re-run "
                        "reuses the contact")
                continue
            extra: list[tuple[str, str]] = []
            try:
                extra = notes_writer.write(p.record, p.tidio, agents)  # type: ignore[arg-type]
            except (TidioValidationError, TidioNotFound) as exc:
                notes_writer.problems.append({"source_id": p.source_id, "problem": f"notes not placed: {exc}"})
            changed = p.source_id in {c[0].source_id for c in changes}
            if p.action == "created":
                outcome = LoadOutcome(p.source_id, "created", destination_id=tidio_id, destination_object="contact")
            elif changed or extra:
                outcome = LoadOutcome(p.source_id, "updated", destination_id=tidio_id, destination_object="contact",
                                      before_image=p.before_image or {"fields": {}, "properties": {}})
            elif p.action == "linked":
                outcome = LoadOutcome(p.source_id, "linked", destination_id=tidio_id, destination_object="contact")
            else:
                outcome = LoadOutcome(p.source_id, "unchanged", destination_id=tidio_id, destination_object="contact")
            outcome.extra_ids = extra
            outcome.changes = list(p.changes)  # values converted, cut or not carried, with where each is kept
            outcomes[p.source_id] = outcome
        self.notes_problems += notes_writer.problems
        # Every record gets an outcome, also one no branch above decided (never a KeyError after Tidio wrote).
        return [outcomes.get(str(r["id"])) or LoadOutcome(
            str(r["id"]), "failed", rule="tidio-contact-unknown",
            reason="the contact was sent to Tidio but the plugin could not tell whether it exists there",
            fix="re-run: contacts are looked up by distinct_id before they are created") for r in records]

    # -- count ------------------------------------------------------------------------------------

    def count(self, canonical: str) -> int | None:
        """What the migration put into Tidio, read back from Tidio: contacts carrying our distinct_id, tickets
        and notes carrying our markers. Pre-existing contacts that were only linked are not counted."""
        if canonical not in ("contacts", "conversations", "messages"):
            return None
        self.directory.refresh_tickets()
        source = self._source_name()
        if canonical == "contacts":
            if source is None or self.config.contact_lookup != "list":
                return None
            self.directory.refresh_contacts()
            return sum(1 for c in self.directory.contacts.by_id.values()
                       if source_of_distinct_id(c.get("distinct_id"), source) is not None)
        if canonical in ("conversations", "messages"):
            ours = label(source) if source else None
            tickets = [t for k, t in self.directory.tickets.items()
                       if k[1] == "conversation" and (ours is None or k[0] == ours)]
            if canonical == "conversations":
                return len(tickets)
            if len(tickets) > self.config.count_messages_max_tickets:
                log.info("count(messages) skipped: it would read %d tickets", len(tickets))
                return None
            total = 0
            for ticket in tickets:
                notes = self.directory.ticket_notes(int(ticket["id"]), reload=True)
                total += len({k[1] for k in notes if k[0] == "message"})
            return total
        return None

    def _source_name(self) -> str | None:
        """The source this connection loads from (``context.source`` once a load or rollback has run). On a
        fresh connection it is read back from what the migration wrote: the distinct_id prefix of our contacts
        ("<source>:<id>", the exact name) whose label matches the ticket markers' label; the lowercased
        label only when no contact says more."""
        if self.source:
            return self.source
        labels = Counter(t.get("_label") for t in self.directory.tickets.values())
        if not labels:
            return None
        marker_label = str(labels.most_common(1)[0][0])
        if self.config.contact_lookup == "list":
            prefixes = Counter(str(c.get("distinct_id")).split(":", 1)[0] for c in self.directory.contacts.by_id.values()
                               if ":" in str(c.get("distinct_id") or ""))
            for prefix, _n in prefixes.most_common():
                if label(prefix) == marker_label:
                    return prefix
        return marker_label.lower()

    # -- rollback ---------------------------------------------------------------------------------

    def _delete(self, path: str) -> None:
        try:
            self.client.delete(path)
        except TidioNotFound:
            pass  # already gone: what rollback wanted

    def rollback(self, canonical: str, entries: Sequence[dict[str, Any]], *, context: LoadContext) -> list[str]:
        self.source = self.source or context.source
        undone: list[str] = []
        if canonical in ("agents", "teams", "tags", "custom_fields", *INVENTORY_OBJECTS):
            return [str(e["source_id"]) for e in entries]  # matched or skipped: nothing was written
        for e in entries:
            sid = str(e["source_id"])
            try:
                if canonical == "contacts":
                    for obj, ticket_id in dict.fromkeys(tuple(x) for x in e.get("extra_ids") or []):
                        if obj == "ticket":
                            self._delete(f"/tickets/{ticket_id}")
                    if e["action"] == "created":
                        self._delete(f"/contacts/{e['destination_id']}")
                    elif e["action"] == "updated" and e.get("before_image"):
                        try:
                            ContactLoader(self.client, self.directory, self.config, context.source).restore(
                                str(e["destination_id"]), e["before_image"])
                        except TidioNotFound:
                            pass
                    undone.append(sid)
                elif canonical == "conversations":
                    if e["action"] == "created":
                        self._delete(f"/tickets/{e['destination_id']}")
                        for obj, contact_id in e.get("extra_ids") or []:
                            if obj == "contact":  # made by Tidio for a ticket whose contact had not loaded
                                self._delete(f"/contacts/{contact_id}")
                    elif e["action"] == "updated" and e.get("before_image"):
                        before = e["before_image"]
                        op = before.get("assigned_operator_id")
                        body = {"status": before.get("status") or "open", "priority": before.get("priority") or "normal",
                                "assigned": {"type": "operator", "id": op} if op else None}
                        if before.get("tag_ids") is not None:
                            body["tag_ids"] = before["tag_ids"]
                        self.client.patch(f"/tickets/{e['destination_id']}", body)
                    undone.append(sid)
                elif canonical == "messages":
                    if self._message_goes_with_ticket(e, context):
                        undone.append(sid)
                    else:
                        log.warning("message %s: Tidio's API cannot delete a single ticket message; remove note %s "
                                    "by hand if it must go", sid, e.get("destination_id"))
            except TidioError as exc:
                log.warning("rollback of %s %s failed: %s", canonical, sid, exc)
        return undone

    def _message_goes_with_ticket(self, entry: dict[str, Any], context: LoadContext) -> bool:
        """A note cannot be deleted alone; it goes when its ticket does. Is the ticket deleted by this rollback
        (created by the migration, in the run being rolled back, or the whole migration is)?"""
        ticket_id = str(entry.get("destination_id") or "").split(":")[0]
        try:
            ticket = self.client.get(f"/tickets/{ticket_id}")
        except TidioNotFound:
            return True  # already gone
        key = ticket_key((ticket or {}).get("subject"))
        if not key or key[0] != "conversation" or ticket_label(ticket.get("subject")) != label(context.source):
            return False
        conv = context.previous("conversations", [key[1]]).get(key[1])
        if conv is None or conv.action != "created":
            return False
        return context.run_id in ("rollback", conv.run_id) or conv.run_id == entry.get("run_id")

    # -- checks -----------------------------------------------------------------------------------

    def _unmatched(self, canonical: str, context: LoadContext) -> tuple[list[dict[str, Any]], bool]:
        staged = _staged_reader(context, self.seen)(canonical)
        if not staged:
            return [], False
        loaded = context.lookup(canonical, [str(r["id"]) for r in staged])
        return [r for r in staged if str(r["id"]) not in loaded], True

    def evaluate_check(self, name: str, canonical: str, *, context: LoadContext) -> CheckFinding:
        try:
            return self._evaluate(name, canonical, context)
        except TidioError as exc:
            return CheckFinding(False, f"could not evaluate {name}: {exc}", "ERROR")

    def _evaluate(self, name: str, canonical: str, context: LoadContext) -> CheckFinding:
        if name == "operators_matched":
            missing, _ = self._unmatched("agents", context)
            rows = [{"source_id": a["id"], "email": a.get("email"), "active": a.get("is_active")} for a in missing]
            if not missing:
                return CheckFinding(True, "every agent is matched to a Tidio operator")
            fallback = self.directory.operator(self.config.fallback_operator)
            if fallback:
                return CheckFinding(True, f"{len(missing)} agent(s) have no Tidio operator; their tickets go to the "
                                    f"fallback operator {fallback.get('email')}", "WARN", {"unmatched": rows})
            active = [r for r in rows if r["active"] is not False]
            return CheckFinding(False, f"{len(missing)} agent(s) have no Tidio operator ({len(active)} active): invite "
                                "them in Tidio or set TIDIO_FALLBACK_OPERATOR_ID; ticket loads that need them stop",
                                "ERROR" if active else "WARN", {"unmatched": rows})
        if name == "departments_matched":
            missing, _ = self._unmatched("teams", context)
            rows = [{"source_id": t["id"], "name": t.get("name")} for t in missing]
            if not missing:
                return CheckFinding(True, "every team is matched to a Tidio department")
            fallback = self.directory.department(self.config.fallback_department)
            where = fallback["name"] if fallback else "Tidio's default department (General)"
            return CheckFinding(True, f"{len(missing)} team(s) have no Tidio department; their tickets go to {where} "
                                "(department-fallback, the team named in each ticket's opening message)", "WARN",
                                {"unmatched": rows})
        if name == "tags_defined":
            missing, _ = self._unmatched("tags", context)
            missing = [t for t in missing if t.get("applies_to") != "contact"]
            rows = [{"source_id": t["id"], "name": t.get("name")} for t in missing]
            if not missing:
                return CheckFinding(True, "every ticket label has a Tidio tag")
            return CheckFinding(True, f"{len(missing)} label(s) have no Tidio tag: tickets load without them, each "
                                "ticket's opening message names them (tag-dropped); create them in Tidio and re-run to "
                                "apply them", "WARN", {"dropped": rows})
        if name == "properties_defined":
            staged = _staged_reader(context, self.seen)
            gaps = compute_gaps(self.directory, self.config, staged, self._plan(context))["properties"]
            # Field-map entries the contact load cannot apply (e.g. a custom field into Tidio's own email).
            skipped = {"map_not_applied": self.map_not_applied} if self.map_not_applied else {}
            if not gaps:
                if skipped:
                    return CheckFinding(True, f"every mapped contact property exists in Tidio; {len(self.map_not_applied)} "
                                        "field-map entr(ies) are not applied: " + "; ".join(
                                            e["reason"] for e in self.map_not_applied), "WARN", skipped)
                return CheckFinding(True, "every mapped contact property exists in Tidio with a fitting type")
            return CheckFinding(False, f"{len(gaps)} contact propert(ies) are missing or mistyped in Tidio: "
                                + "; ".join(g["detail"] for g in gaps), "ERROR", {"properties": gaps, **skipped})
        if name == "contacts_unique":
            return self._contacts_unique()
        if name == "original_timestamps":
            rows = [t for t in self.timestamps if t["object"] == canonical]
            return CheckFinding(True, f"{len(rows)} record(s) written in this run carry their original time in their "
                                "text; Tidio dates them today (it cannot backdate)", "WARN",
                                {"original_times": rows[:500], "count": len(rows)})
        if name == "customers_not_emailed":
            sent = self.writer.public_operator_replies
            if self.config.history_mode == "internal_notes":
                return CheckFinding(sent == 0, f"history written as internal notes; {sent} public operator replies",
                                    "ERROR", {"public_operator_replies": sent, "internal_notes": self.writer.notes_written})
            return CheckFinding(False, f"TIDIO_HISTORY_MODE=public_replies: {sent} replies were emailed to customers "
                                "in this run", "WARN", {"public_operator_replies": sent})
        if name == "manual_inventory":
            if not _staged_reader(context, self.seen)(canonical):
                return CheckFinding(True, f"no {canonical.replace('_', ' ')} to rebuild by hand")
            path, document = self.write_inventory(context)
            return CheckFinding(False, f"{canonical}: Tidio's API cannot create these; rebuild them by hand from the "
                                f"inventory{f' at {path}' if path else ''}", "WARN",
                                {"inventory_path": str(path) if path else "", "inventory": document[:20000]})
        return CheckFinding(False, f"unknown check {name!r} on {canonical}", "ERROR")

    def _contacts_unique(self) -> CheckFinding:
        if self.source is None or self.config.contact_lookup != "list":
            return CheckFinding(True, "nothing loaded in this run to check", "WARN")
        self.directory.refresh_contacts()
        counts = Counter(c.get("distinct_id") for c in self.directory.contacts.by_id.values()
                         if source_of_distinct_id(c.get("distinct_id"), self.source) is not None)
        dupes = {k: n for k, n in counts.items() if n > 1}
        meta: dict[str, Any] = {"migrated_contacts": sum(counts.values())}
        if self.notes_problems:
            meta["notes_not_placed"] = self.notes_problems[:200]
        if self.values_left_out:
            meta["values_left_out"] = self.values_left_out[:500]
        if dupes:
            return CheckFinding(False, f"{len(dupes)} source contact(s) exist more than once in Tidio", "ERROR",
                                {**meta, "duplicates": dupes})
        if self.notes_problems or self.values_left_out:
            return CheckFinding(True, f"no duplicates; {len(self.notes_problems)} contact(s) have notes that could not "
                                f"be placed; {len(self.values_left_out)} custom value(s) were left out "
                                "(each a value-not-carried change, the original kept)", "WARN", meta)
        return CheckFinding(True, f"each of {sum(counts.values())} migrated contacts exists once in Tidio",
                            metadata=meta)

    # -- sample spot-check and inventory hooks the engine looks for -------------------------------

    def fetch(self, canonical: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Tidio's side of loaded records, for the side-by-side sample spot-check."""
        out: dict[str, dict[str, Any]] = {}
        tag_names = {int(t["id"]): t["name"] for t in self.directory.tags}
        tickets: dict[str, dict[str, Any]] = {}

        def ticket(ticket_id: str) -> dict[str, Any]:
            if ticket_id not in tickets:
                try:
                    tickets[ticket_id] = self.client.get(f"/tickets/{ticket_id}") or {}
                except TidioNotFound:
                    tickets[ticket_id] = {}
            return tickets[ticket_id]

        for dest_id in ids:
            if canonical == "conversations":
                t = ticket(str(dest_id))
                if t:
                    out[dest_id] = {**{k: v for k, v in t.items() if k != "messages"}, "_canonical": {
                        "subject": t.get("subject"), "status": t.get("status"),
                        "created_at": "(Tidio cannot backdate: see the first message)",
                        "contact_id": t.get("contact_id"), "assignee_id": t.get("assigned_operator_id"),
                        "team_id": t.get("assigned_department_id"),
                        "tags": [tag_names.get(int(x), str(x)) for x in t.get("tag_ids") or []]}}
            elif canonical == "messages":
                ticket_id, _, message_id = str(dest_id).partition(":")
                message = next((m for m in ticket(ticket_id).get("messages") or []
                                if str(m.get("message_id")) == message_id), None)
                if message:
                    first_line = (message.get("message_content") or "").split("\n", 1)[0]
                    out[dest_id] = {**message, "_canonical": {
                        "kind": f"{message.get('message_type')} {message.get('author_type')} message",
                        "header": first_line[:200], "tidio_created_at": message.get("created_at")}}
        return out

    @staticmethod
    def recommend(workflow: dict[str, Any]) -> str:
        """The Tidio feature an admin rebuilds a source workflow with."""
        kind = str(workflow.get("kind") or "").lower()
        if "webhook" in kind:
            return "Tidio webhooks (Settings > Developer > Webhooks) or an integration platform"
        if "rout" in kind or "assign" in json_text(workflow.get("actions")):
            return "Tidio routing: departments and operator assignment rules (Settings > Departments)"
        if "bot" in kind or "flow" in kind:
            return "a Tidio Flow (Flows), or Lyro for automated answers"
        if "auto" in kind or "reply" in kind:
            return "a Tidio Flow with a 'send message' action, or a quick reply"
        return "a Tidio Flow (Flows) with the same trigger and actions"

    # -- preflight and inventory ------------------------------------------------------------------

    def write_inventory(self, context: LoadContext | None) -> tuple[Path | None, str]:
        staged = _staged_reader(context, self.seen)
        source = getattr(context, "source", None) or self.source or "source"
        gaps = compute_gaps(self.directory, self.config, staged, self._plan(context))
        document = build(staged, gaps, source_title=label(source))
        if context is None:  # nowhere shared to write it: the document is still returned
            return None, document
        path = None
        try:
            path = Path(context.reports_dir) / "tidio-manual-inventory.md"
            path.write_text(document)
        except Exception as exc:  # the document is still returned and attached to the check
            log.warning("could not write the manual-configuration inventory: %s", exc)
            path = None
        return path, document

    def preflight(self, *, context: LoadContext) -> Preflight | None:
        self.source = context.source
        self.client.project()  # a connection test: bad credentials fail here with the variable names
        staged = _staged_reader(context, self.seen)
        path, _ = self.write_inventory(context)
        return build_preflight(self.directory, self.config, staged, self._plan(context),
                               source_title=label(context.source), inventory_path=str(path) if path else None)

__all__ = ["TidioConnection"]
