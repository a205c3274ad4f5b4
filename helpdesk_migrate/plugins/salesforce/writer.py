"""Writes records and reads back what happened to each one.

Below ``SALESFORCE_BULK_THRESHOLD`` records a call goes through sObject Collections (200 records per
request, ``allOrNone: false``); at or above it through a Bulk API 2.0 ingest job whose successful,
failed and unprocessed CSVs are read back and matched to the input rows. Either way every input row
gets one ``WriteResult``: success with the Salesforce id, or failure with Salesforce's own error code
and message.

Rows refused with UNABLE_TO_LOCK_ROW are retried with backoff (tenacity). A Collections insert that
dies in flight (5xx, dropped connection) may or may not have been applied, so it is never blindly
resent: the caller's ``recheck`` looks the rows up first, and only the ones not found are sent again.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simple_salesforce.exceptions import SalesforceError
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .client import ApiBudgetExhausted, ApiLimitReached, SalesforceClient, SalesforceUnavailable, chunked
from .settings import SalesforceConfig

log = logging.getLogger("helpdesk_migrate.salesforce")
COLLECTION_SIZE = 200
COLLECTION_MAX_BYTES = 30 * 1024 * 1024  # files travel base64 in the JSON body; stay well below 50 MB
BULK_MAX_BYTES = 90 * 1024 * 1024  # simple-salesforce refuses uploads over 100 MB
NO_BULK = {"User", "Group", "GroupMember", "QueueSobject", "PermissionSet", "PermissionSetAssignment",
           "FieldPermissions", "ContentVersion"}  # setup objects; files stay on REST (base64 CSV is unproven)


FIRST_POLL_SECONDS = 0.25
_sleep = time.sleep  # the wait between ingest job polls (a test replaces it, not the process's time.sleep)


def poll_intervals(longest: float) -> Iterator[float]:
    """Waits before each Bulk 2.0 job status poll: 0.25 s, then doubling up to ``longest``
    (SALESFORCE_BULK_POLL_SECONDS). A job of a few hundred rows is often done within a second, and a
    fixed 2 s wait put up to 2 s of idling on every load's path; a long job costs a few polls more."""
    wait = min(FIRST_POLL_SECONDS, longest)
    while True:
        yield wait
        wait = min(wait * 2, longest)


@dataclass
class WriteResult:
    key: str
    ok: bool
    id: str | None = None
    created: bool | None = None
    code: str | None = None
    message: str | None = None
    fields: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # ids a duplicate rule matched

    @property
    def reason(self) -> str:
        where = f" (fields: {', '.join(self.fields)})" if self.fields else ""
        return f"{self.code}: {self.message}{where}"


class _Locked(Exception):
    pass


Item = tuple[str, dict[str, Any]]  # (caller's key, sObject values)


class RecordWriter:
    def __init__(self, client: SalesforceClient, cfg: SalesforceConfig):
        self.client = client
        self.cfg = cfg
        self.stopped: str | None = None  # why writing stopped (budget, daily limit, outage)
        self.stopped_code: str | None = None
        self.used_bulk = 0
        self.used_collections = 0

    # -- public API ---------------------------------------------------------------------------------

    def insert(self, obj: str, items: Sequence[Item], *, match_on: str,
               recheck: Callable[[list[str]], dict[str, str]] | None = None) -> dict[str, WriteResult]:
        """Create records. Bulk results are matched to the rows by all their sent cells (see RowMatcher);
        ``match_on`` names the column that tells rows apart best (an external id), used alone only when a
        result's echo differs from what was sent; ``recheck(keys) -> {key: id}`` finds rows an interrupted
        request may have created."""
        return self._with_lock_retries("insert", obj, list(items), match_on=match_on, recheck=recheck)

    def upsert(self, obj: str, ext_field: str, items: Sequence[Item]) -> dict[str, WriteResult]:
        return self._with_lock_retries("upsert", obj, list(items), match_on=ext_field, ext_field=ext_field)

    def update(self, obj: str, items: Sequence[Item]) -> dict[str, WriteResult]:
        return self._with_lock_retries("update", obj, list(items), match_on="Id")

    def delete(self, ids: Sequence[str], obj: str | None = None) -> dict[str, WriteResult]:
        items = [(i, {"Id": i}) for i in dict.fromkeys(ids)]
        return self._with_lock_retries("delete", obj or "", items, match_on="Id")

    # -- retries ------------------------------------------------------------------------------------

    def _with_lock_retries(self, op: str, obj: str, items: list[Item], **kw: Any) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        pending = items
        try:
            for attempt in Retrying(retry=retry_if_exception_type(_Locked),
                                    stop=stop_after_attempt(max(self.cfg.lock_retries, 0) + 1),
                                    wait=wait_exponential(multiplier=0.05, max=2)):
                with attempt:
                    out = self._write(op, obj, pending, **kw)
                    results.update(out)
                    locked = {k for k, r in out.items() if not r.ok and r.code == "UNABLE_TO_LOCK_ROW"}
                    if locked and not self.stopped:
                        pending = [it for it in pending if it[0] in locked]
                        log.info("%s %s: %d row(s) locked, retrying", op, obj, len(pending))
                        raise _Locked()
        except RetryError:
            pass  # the rows still locked keep their UNABLE_TO_LOCK_ROW result
        return results

    def _write(self, op: str, obj: str, items: list[Item], *, match_on: str, ext_field: str | None = None,
               recheck: Callable[[list[str]], dict[str, str]] | None = None) -> dict[str, WriteResult]:
        if not items:
            return {}
        if self.stopped:
            return self._stopped(items)
        if len(items) >= self.cfg.bulk_threshold and obj not in NO_BULK and obj:
            return self._bulk(op, obj, items, match_on=match_on, ext_field=ext_field, recheck=recheck)
        return self._collections(op, obj, items, ext_field=ext_field, recheck=recheck)

    def _stopped(self, items: Sequence[Item]) -> dict[str, WriteResult]:
        return {k: WriteResult(k, False, code=self.stopped_code or "STOPPED", message=self.stopped or "stopped")
                for k, _ in items}

    def _stop(self, exc: Exception) -> None:
        self.stopped = str(exc)
        self.stopped_code = {ApiBudgetExhausted: "API_BUDGET", ApiLimitReached: "REQUEST_LIMIT_EXCEEDED",
                             SalesforceUnavailable: "UNAVAILABLE"}.get(type(exc), "STOPPED")
        log.warning("Salesforce writes stopped: %s", exc)

    # -- sObject Collections --------------------------------------------------------------------------

    def _batches(self, items: list[Item]) -> list[list[Item]]:
        batches: list[list[Item]] = []
        current: list[Item] = []
        size = 0
        for item in items:
            weight = sum(len(v) for v in item[1].values() if isinstance(v, str))
            if current and (len(current) >= COLLECTION_SIZE or size + weight > COLLECTION_MAX_BYTES):
                batches.append(current)
                current, size = [], 0
            current.append(item)
            size += weight
        if current:
            batches.append(current)
        return batches

    def _collections(self, op: str, obj: str, items: list[Item], *, ext_field: str | None,
                     recheck: Callable[[list[str]], dict[str, str]] | None) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        for batch in self._batches(items):
            if self.stopped:
                results.update(self._stopped(batch))
                continue
            results.update(self._collection_call(op, obj, batch, ext_field=ext_field, recheck=recheck))
        return results

    def _collection_call(self, op: str, obj: str, batch: list[Item], *, ext_field: str | None,
                         recheck: Callable[[list[str]], dict[str, str]] | None, depth: int = 0) -> dict[str, WriteResult]:
        c = self.client
        try:
            self.used_collections += 1
            if op == "delete":
                ids = ",".join(v["Id"] for _, v in batch)
                raw = c.restful("composite/sobjects", "DELETE", params={"ids": ids, "allOrNone": "false"})
            else:
                records = [{"attributes": {"type": obj}, **{k: v for k, v in values.items()
                                                            if not (op == "insert" and v is None)}}
                           for _, values in batch]
                body = {"allOrNone": False, "records": records}
                if op == "insert":
                    raw = c.restful("composite/sobjects", "POST", json=body, idempotent=False)
                elif op == "update":
                    raw = c.restful("composite/sobjects", "PATCH", json=body)
                else:
                    raw = c.restful(f"composite/sobjects/{obj}/{ext_field}", "PATCH", json=body)
        except (ApiBudgetExhausted, ApiLimitReached) as exc:
            self._stop(exc)
            return self._stopped(batch)
        except SalesforceUnavailable as exc:
            if op == "insert" and recheck is not None and depth < 2:
                return self._recover_insert(obj, batch, recheck, ext_field=ext_field, depth=depth, cause=exc)
            if op != "insert" and depth < 2:
                return self._collection_call(op, obj, batch, ext_field=ext_field, recheck=recheck, depth=depth + 1)
            self._stop(exc)
            return {k: WriteResult(k, False, code="UNAVAILABLE", message=f"{exc}; whether Salesforce applied the "
                                   "write is unknown, the next run finds out") for k, _ in batch}
        except SalesforceError as exc:  # the whole request refused (bad field, mixed types...)
            content = exc.content if isinstance(exc.content, list) else [{"errorCode": f"HTTP_{exc.status}",
                                                                         "message": str(exc.content)[:500]}]
            first = content[0] if content else {}
            return {k: WriteResult(k, False, code=first.get("errorCode"), message=first.get("message"),
                                   fields=list(first.get("fields") or [])) for k, _ in batch}
        out = {key: _collection_result(key, row, inserted=op == "insert")
               for (key, _), row in zip(batch, raw or [], strict=False)}
        return out | {
            key: WriteResult(key, False, code="NO_RESULT", message="Salesforce returned no result for this record")
            for key, _ in batch[len(raw or []):]}

    def _recover_insert(self, obj: str, batch: list[Item], recheck: Callable[[list[str]], dict[str, str]], *,
                        ext_field: str | None, depth: int, cause: Exception) -> dict[str, WriteResult]:
        log.warning("insert of %d %s interrupted (%s): checking which were created", len(batch), obj, cause)
        try:
            found = recheck([k for k, _ in batch])
        except (SalesforceUnavailable, SalesforceError) as exc:
            self._stop(SalesforceUnavailable(str(exc)))
            return {k: WriteResult(k, False, code="UNAVAILABLE", message="the insert was interrupted and Salesforce "
                                   "can't be asked what it applied; the next run finds out") for k, _ in batch}
        results = {k: WriteResult(k, True, id=found[k], created=True) for k, _ in batch if k in found}
        rest = [it for it in batch if it[0] not in found]
        if rest:
            results.update(self._collection_call("insert", obj, rest, ext_field=ext_field, recheck=recheck,
                                                 depth=depth + 1))
        return results

    # -- Bulk API 2.0 -----------------------------------------------------------------------------------

    def _bulk(self, op: str, obj: str, items: list[Item], *, match_on: str, ext_field: str | None,
              recheck: Callable[[list[str]], dict[str, str]] | None) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        for job_items in _split_by_size(items):
            if self.stopped:
                results.update(self._stopped(job_items))
                continue
            try:
                out, unprocessed = self._bulk_job(op, obj, job_items, match_on=match_on, ext_field=ext_field)
            except (ApiBudgetExhausted, ApiLimitReached, SalesforceUnavailable) as exc:
                if isinstance(exc, SalesforceUnavailable) and op == "insert" and recheck is not None:
                    results.update(self._recover_insert(obj, job_items, recheck, ext_field=ext_field, depth=0,
                                                        cause=exc))
                    continue
                self._stop(exc)
                results.update(self._stopped(job_items))
                continue
            results.update(out)
            if unprocessed:  # rows the job never reached: nothing was written for them, safe to send again
                log.info("bulk %s %s: %d unprocessed row(s), sending them through Collections", op, obj,
                         len(unprocessed))
                results.update(self._collections(op, obj, unprocessed, ext_field=ext_field, recheck=recheck))
        return results

    def _bulk_job(self, op: str, obj: str, items: list[Item], *, match_on: str,
                  ext_field: str | None) -> tuple[dict[str, WriteResult], list[Item]]:
        c = self.client
        bulk = c.bulk2_client(obj)
        operation = "delete" if op == "delete" else op
        data, columns = _to_csv(op, items)
        self.used_bulk += 1
        job = c.call(bulk.create_job, operation, external_id_field=ext_field if op == "upsert" else None)
        job_id = job["id"]
        try:
            c.call(bulk.upload_job_data, job_id, data, idempotent=False)
            c.call(bulk.close_job, job_id, idempotent=False)
        except SalesforceError as exc:
            self._abort(bulk, job_id)
            return {k: WriteResult(k, False, code="BULK_UPLOAD_FAILED", message=str(exc)[:500]) for k, _ in items}, []
        except Exception:
            self._abort(bulk, job_id)
            raise
        info = job
        deadline = time.monotonic() + 24 * 3600
        for wait in poll_intervals(self.cfg.bulk_poll_seconds):
            if time.monotonic() >= deadline:
                break
            _sleep(wait)
            info = c.call(bulk.get_job, job_id, False)
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                break
        rows = RowMatcher(op, items, columns, match_on)
        results: dict[str, WriteResult] = {}
        processed = int(info.get("numberRecordsProcessed") or 0)
        failed = int(info.get("numberRecordsFailed") or 0)
        if processed - failed > 0:
            for row in csv.DictReader(io.StringIO(c.call(bulk.get_ingest_results, job_id, "successfulResults"))):
                key = rows.take(row)
                if key is not None:
                    results[key] = WriteResult(key, True, id=row.get("sf__Id") or None,
                                               created=(row.get("sf__Created") or "").lower() == "true")
        if failed:
            for row in csv.DictReader(io.StringIO(c.call(bulk.get_ingest_results, job_id, "failedResults"))):
                key = rows.take(row)
                if key is not None:
                    results[key] = _bulk_failure(key, row)
        unprocessed: list[Item] = []
        values_by_key = dict(items)
        if len(results) < len(items):
            if processed < len(items):
                for row in csv.DictReader(io.StringIO(c.call(bulk.get_ingest_results, job_id, "unprocessedRecords"))):
                    key = rows.take(row)
                    if key is not None and key not in results:
                        unprocessed.append((key, dict(values_by_key[key])))
            seen = set(results) | {k for k, _ in unprocessed}
            for key, _ in items:
                if key not in seen:
                    message = info.get("errorMessage") or "the Bulk API job returned no result for this row"
                    results[key] = WriteResult(key, False, code="BULK_NO_RESULT", message=str(message))
        if info["state"] != "JobComplete":
            log.warning("bulk job %s for %s ended %s: %s", job_id, obj, info["state"], info.get("errorMessage"))
        return results, unprocessed

    def _abort(self, bulk: Any, job_id: str) -> None:
        try:
            self.client.call(bulk.abort_job, job_id, False, idempotent=False)
        except Exception as exc:  # the job stays Open and expires on its own; nothing was processed
            log.info("could not abort bulk job %s: %s", job_id, exc)


class RowMatcher:
    """Hands each Bulk 2.0 result row the input row it echoes. Result files come in no guaranteed order and
    echo the sent columns, and a column alone need not be unique (several links to one email, two
    identical comments), so a row is recognised by the whole tuple of its sent cells. Rows whose cells are
    all equal are interchangeable — they would create identical records — so their keys are handed out in
    input order, each once. An echo that differs from what was sent only as Salesforce normalises text (line
    endings, surrounding blanks, letter case) is matched on the normalised tuple (rows equal once normalised
    differ at most in those details, so they are treated as interchangeable). A row whose ``match_on`` value
    differs beyond that is matched by that value only when it names exactly one row not yet matched *and* every
    other cell agrees: a row of another parent is never handed the key (which would record one record as
    loaded and send the other again)."""

    def __init__(self, op: str, items: Sequence[Item], columns: Sequence[str], match_on: str):
        self.columns = list(columns)
        self.match_on = match_on
        self.by_cells: dict[tuple[str, ...], deque[str]] = {}
        self.by_normalised: dict[tuple[str, ...], deque[str]] = {}
        self.by_value: dict[str, list[str]] = {}
        self.others: dict[str, tuple[str, ...]] = {}  # key -> its normalised cells other than match_on
        self.taken: set[str] = set()
        for key, values in items:
            cells = tuple(_cell(values.get(c), op) if c in values else "" for c in self.columns)
            self.by_cells.setdefault(cells, deque()).append(key)
            self.by_normalised.setdefault(tuple(map(_normalised, cells)), deque()).append(key)
            self.others[key] = self._others(dict(zip(self.columns, cells, strict=True)))
            value = values.get(match_on)
            self.by_value.setdefault("" if value is None else str(value), []).append(key)

    def _others(self, row: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(_normalised(row.get(c) or "") for c in self.columns if c != self.match_on)

    def _first_free(self, queue: deque[str] | None) -> str | None:
        while queue:
            key = queue.popleft()
            if key not in self.taken:
                self.taken.add(key)
                return key
        return None

    def take(self, row: Mapping[str, str]) -> str | None:
        cells = tuple(row.get(c) or "" for c in self.columns)
        key = self._first_free(self.by_cells.get(cells)) or \
            self._first_free(self.by_normalised.get(tuple(map(_normalised, cells))))
        if key is not None:
            return key
        others = self._others(row)
        left = [k for k in self.by_value.get(row.get(self.match_on) or "", [])
                if k not in self.taken and self.others[k] == others]
        if len(left) == 1:
            self.taken.add(left[0])
            return left[0]
        return None  # unknown: the caller's recheck finds out whether the record exists


def _normalised(cell: str) -> str:
    """A cell as Salesforce may echo it back: line endings unified, surrounding blanks and case ignored."""
    return cell.replace("\r\n", "\n").replace("\r", "\n").strip().casefold()


def _collection_result(key: str, row: Mapping[str, Any], *, inserted: bool = False) -> WriteResult:
    if row.get("success"):
        return WriteResult(key, True, id=row.get("id"), created=True if inserted else row.get("created"))
    errors = row.get("errors") or [{}]
    first = errors[0]
    dups = [m["record"]["Id"] for r in (first.get("duplicateResult") or {}).get("matchResults", [])
            for m in r.get("matchRecords", []) if m.get("record", {}).get("Id")]
    message = "; ".join(str(e.get("message")) for e in errors)
    return WriteResult(key, False, id=row.get("id"), code=first.get("statusCode"), message=message,
                       fields=list(first.get("fields") or []), duplicates=dups)


def _bulk_failure(key: str, row: Mapping[str, str]) -> WriteResult:
    text = row.get("sf__Error") or "UNKNOWN:no error text:--"
    code, _, rest = text.partition(":")
    message, _, fields = rest.rpartition(":") if rest.rstrip().endswith("--") else (rest, "", "")
    fields = fields.replace("--", "").strip()
    return WriteResult(key, False, id=row.get("sf__Id") or None, code=code, message=message or rest,
                       fields=[f for f in fields.split(",") if f])


def _cell(value: Any, op: str) -> str:
    if value is None:
        return "" if op == "insert" else "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    return str(value)


def _to_csv(op: str, items: Sequence[Item]) -> tuple[str, list[str]]:
    columns = ["Id"] if op == "delete" else sorted({k for _, values in items for k in values})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for _, values in items:
        writer.writerow([_cell(values.get(c), op) if c in values else "" for c in columns])
    return buf.getvalue(), columns


def _split_by_size(items: list[Item]) -> list[list[Item]]:
    jobs: list[list[Item]] = []
    current: list[Item] = []
    size = 0
    for item in items:
        weight = sum(len(str(v)) + 3 for v in item[1].values()) + 1
        if current and size + weight > BULK_MAX_BYTES:
            jobs.append(current)
            current, size = [], 0
        current.append(item)
        size += weight
    if current:
        jobs.append(current)
    return jobs


__all__ = ["RecordWriter", "WriteResult", "chunked"]
