"""Which zone Trengo's naive timestamps are in, measured from the data rather than assumed.

Public evidence disagrees (shared/reference/public-evidence.md §1): 2021 fixtures render message times in
Europe/Amsterdam, a 2024 recorded payload renders them in UTC with the epoch ``created_at_time`` beside. Where a
payload carries both, the difference between the naive time (read as if UTC) and the epoch is the zone's offset
at that moment; each pair is classified as TRENGO_TIMEZONE, UTC, Europe/Amsterdam or "other (UTC+hh:mm)".
The counts become a ``Chunk.findings`` entry: what was measured, on how many payloads, and whether it
contradicts an explicit TRENGO_TIMEZONE (an ERROR that blocks the loads).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from helpdesk_migrate.sdk import CheckFinding

ASSUMED_ZONE = "Europe/Amsterdam"  # the zone read when nothing says otherwise (2021 fixtures)
_CANDIDATES = ("UTC", ASSUMED_ZONE)


def _offset_label(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    return f"other (UTC{sign}{hours:02d}:{rest // 60:02d})"


class ZoneEvidence:
    """Counts of (naive time, epoch) pairs by the zone they fit. Thread-safe: threads of one extract add to it."""

    def __init__(self, configured: str):
        self.configured = configured
        self.counts: Counter[str] = Counter()
        self._zones = [ZoneInfo(z) for z in dict.fromkeys((configured, *_CANDIDATES))]
        self._lock = threading.Lock()

    def classify(self, naive: Any, epoch: Any) -> str | None:
        """The zone a pair fits, or None when the pair is not one (missing, zoned, not a time)."""
        if not isinstance(naive, str) or not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
            return None
        try:
            local = datetime.fromisoformat(naive.strip())
        except ValueError:
            return None
        if local.tzinfo is not None:
            return None  # a zoned time says its own offset: no evidence about the naive ones
        offset = round((local.replace(tzinfo=UTC).timestamp() - float(epoch)) / 60) * 60
        for zone in self._zones:
            for fold in (0, 1):
                zoned = zone.utcoffset(local.replace(fold=fold))
                if zoned is not None and int(zoned.total_seconds()) == offset:
                    return zone.key
        return _offset_label(offset)

    def add(self, naive: Any, epoch: Any) -> str | None:
        label = self.classify(naive, epoch)
        if label is not None:
            with self._lock:
                self.counts[label] += 1
        return label

    def measured(self) -> str | None:
        """The zone most pairs fit (None without evidence)."""
        with self._lock:
            return self.counts.most_common(1)[0][0] if self.counts else None

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def conflicts(self, explicit: bool) -> bool:
        measured = self.measured()
        return explicit and measured is not None and measured != self.configured


def zone_finding(what: str, evidence: ZoneEvidence | None, *, configured: str, explicit: bool,
                 evidence_field: str = "created_at_time", remedy: str | None = None) -> CheckFinding:
    """What the source knows about the zone of ``what``'s naive times (e.g. "message times"). ``remedy``: what
    was done, and what to do, when the data contradicts an assumed zone (default: the message extract's way)."""
    counts = dict(evidence.counts) if evidence else {}
    measured = evidence.measured() if evidence else None
    total = sum(counts.values())
    meta = {"object": what, "configured": configured, "explicit": explicit, "measured": measured,
            "evidence_count": total, "by_zone": counts, "evidence_field": evidence_field}
    if measured is None:
        how = "set explicitly (TRENGO_TIMEZONE)" if explicit else "assumed (TRENGO_TIMEZONE unset)"
        return CheckFinding(True, f"Trengo {what}: no payload carries an epoch beside its naive time, so their zone "
                                  f"cannot be measured; read in {configured}, {how}. If the times in the report look "
                                  "shifted by one or two hours, set TRENGO_TIMEZONE and extract again.",
                            severity="WARN", metadata={**meta, "level": "INFO"})
    share = f"{counts[measured]} of {total} payloads with an epoch ({evidence_field}) fit {measured}"
    if explicit and measured != configured:
        return CheckFinding(False, f"Trengo {what}: TRENGO_TIMEZONE says {configured}, but the data says {measured} "
                                   f"({share}). Times were read in {configured} as the setting demands. Unset "
                                   f"TRENGO_TIMEZONE (the source then uses the measured zone) or set it to {measured}, "
                                   "then extract again; the loads stay blocked until then.",
                            severity="ERROR", metadata={**meta, "level": "ERROR"})
    if measured != configured:
        done = remedy or ("exact times were taken from the epoch, and naive-only ones read in the measured zone. "
                          f"Set TRENGO_TIMEZONE={measured} to say so explicitly.")
        return CheckFinding(False, f"Trengo {what} are in {measured}, not the assumed {configured} ({share}): {done}",
                            severity="WARN", metadata={**meta, "level": "WARN"})
    return CheckFinding(True, f"Trengo {what} are in {measured}, as {'set' if explicit else 'assumed'} ({share}).",
                        severity="WARN", metadata={**meta, "level": "INFO"})


__all__ = ["ASSUMED_ZONE", "ZoneEvidence", "zone_finding"]
