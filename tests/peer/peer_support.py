"""Peer clients: programs nobody on this project wrote (jsforce, curl), driven against the emulators.

They check the emulators against what real clients send (chunked uploads, keep-alive, lower-case field names)
and what Salesforce documents, rather than against our own client's expectations."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PEER_DIR = Path(__file__).resolve().parent
NODE_MODULES = PEER_DIR / "node_modules"


def require_node_package(name: str) -> None:
    """Skip, with the reason, when node or the package (installed by scripts/test.sh) is missing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the peer-client tests drive the emulators with node packages")
    if not (NODE_MODULES / name / "package.json").exists():
        if os.environ.get("CI") == "true":  # CI runs scripts/test.sh, which installs it: a skip would hide a gap
            pytest.fail(f"{name} is not installed in {NODE_MODULES} although node is: the peer-client suite must "
                        "run in CI (scripts/test.sh runs `npm ci --prefix tests/peer`)")
        pytest.skip(f"{name} is not installed in {NODE_MODULES}: run scripts/test.sh (it runs `npm ci` there when npm "
                    "exists) or `npm ci --prefix tests/peer`")


def require_curl() -> str:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed: the wire-level smoke tests use it as a client other than requests")
    return curl
