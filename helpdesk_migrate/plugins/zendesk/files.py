"""The attachments manifest: the messages extract writes down every attachment its comments list (a canonical
message has no place for a download link), one JSON line each; the attachments extract downloads from it.
A sharded messages extract keeps one manifest per shard (shards run concurrently); lines are counted across
them in a fixed order, so the attachments cursor is one number."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from helpdesk_migrate.sdk import append_synced, hash_file

from .mapping import AttachmentRef

MANIFEST = "zendesk-attachments.jsonl"
MARKS = "zendesk-export-cursors.json"


class Manifest:
    def __init__(self, files_dir: Path, partition: str | None = None):
        name = MANIFEST if partition is None else MANIFEST.replace(".jsonl", f"-{partition}.jsonl")
        self.path = Path(files_dir) / name
        self.partition = partition

    def reset(self) -> None:
        """A full extract lists every attachment afresh (an unsharded one for every shard)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("", encoding="utf-8")
        if self.partition is None:
            for other in manifest_paths(self.path.parent)[1:]:
                other.unlink(missing_ok=True)

    def append(self, refs: list[AttachmentRef]) -> None:
        """Written (and synced) before the chunk is staged: a crash lists an attachment twice, never loses one."""
        append_synced(self.path, [r.as_json() for r in refs])


def manifest_paths(files_dir: Path) -> list[Path]:
    files_dir = Path(files_dir)
    return [files_dir / MANIFEST, *sorted(files_dir.glob(MANIFEST.replace(".jsonl", "-*.jsonl")))]


def read_manifests(files_dir: Path, start: int = 0) -> Iterator[tuple[int, AttachmentRef]]:
    """Every listed attachment with its line number counted across the manifests, from line ``start``."""
    number = 0
    for path in manifest_paths(files_dir):
        if not path.exists():
            continue
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                here, number = number, number + 1
                if here < start or not line.strip():
                    continue
                try:
                    yield here, AttachmentRef.from_json(json.loads(line))
                except (ValueError, TypeError):
                    continue  # a line torn by a crash: its chunk was not staged and is listed again


class ExportMarks:
    """Where the last complete incremental export of each resource ended (its ``after_cursor``): the next delta
    continues from there, as Zendesk says to poll, rather than from a time. Written only once the export's last
    chunk is staged; one small JSON file beside the staged files."""

    def __init__(self, files_dir: Path):
        self.path = Path(files_dir) / MARKS

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, resource: str) -> str | None:
        value = self._read().get(resource)
        return value if isinstance(value, str) and value else None

    def put(self, resource: str, cursor: str | None) -> None:
        if not cursor:
            return
        marks = {**self._read(), resource: cursor}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".part")
        tmp.write_text(json.dumps(marks), encoding="utf-8")
        os.replace(tmp, self.path)


__all__ = ["ExportMarks", "Manifest", "hash_file", "manifest_paths", "read_manifests"]
