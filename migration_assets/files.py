"""Files a source plugin keeps beside the store: attachments streamed to disk with their checksum, and the
append-only manifests that list them between the messages extract and the attachments extract.

In the SDK because every source with attachments needs the same guarantees: a file is hashed while it streams
(one pass over a large file), and a manifest line is on disk before the chunk that names it is staged, so a
crash lists an attachment twice but never loses one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

BLOCK = 1024 * 1024


def write_hashed(blocks: Iterable[bytes], path: Path) -> tuple[str, int]:
    """Write ``blocks`` (e.g. ``response.iter_content(...)``) to ``path``, hashing as they come.
    Returns (sha256 hex, size in bytes)."""
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as fh:
        for block in blocks:
            digest.update(block)
            size += len(block)
            fh.write(block)
    return digest.hexdigest(), size


def hash_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file already on disk, read in blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def append_synced(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Append ``records`` as JSON lines and fsync: on disk before the caller goes on (stages the chunk)."""
    lines = "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in records)
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(lines)
        fh.flush()
        os.fsync(fh.fileno())
