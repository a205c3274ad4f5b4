"""The SDK's file helpers that every source with attachments uses (Trengo and Zendesk do)."""

from __future__ import annotations

import hashlib
import json

from helpdesk_migrate import sdk


def test_a_streamed_file_is_hashed_as_it_is_written(tmp_path):
    blocks = [b"first block ", b"", "ünïcode".encode(), b"x" * 70_000]
    path = tmp_path / "file.part"
    sha, size = sdk.write_hashed(iter(blocks), path)
    data = b"".join(blocks)
    assert path.read_bytes() == data and size == len(data) and sha == hashlib.sha256(data).hexdigest()
    assert sdk.hash_file(path) == (sha, size)


def test_a_manifest_line_is_appended_and_nothing_is_written_for_nothing(tmp_path):
    path = tmp_path / "deep" / "manifest.jsonl"
    sdk.append_synced(path, [])
    assert not path.exists()  # no empty file, no folder for nothing
    sdk.append_synced(path, [{"id": "a1", "name": "Ünïcode.pdf"}])
    sdk.append_synced(path, [{"id": "a2"}, {"id": "a3"}])
    assert [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()] == ["a1", "a2", "a3"]
    assert "Ünïcode" in path.read_text(encoding="utf-8")  # kept as written, not escaped
