"""The Dagster UI in a real browser: the migration's assets and checks are there, and the sample job
launches from the UI. Uses Playwright with Debian's chromium (scripts/test.sh installs it when missing)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migration_assets.registry import default_registry

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ui(tmp_path):
    if not CHROMIUM:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); scripts/test.sh installs it")
    pytest.importorskip("playwright")
    reg = default_registry()
    if not reg.sources or not reg.destinations:
        pytest.skip("no platform plugins installed")
    from migration_assets.demo import parse_pair, start_pair_emulators

    pair = parse_pair(reg, None)
    src, dst, env_vars = start_pair_emulators(pair, seed=5, size=20, rate_limit=6000)
    port = _free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, **env_vars, "DAGSTER_HOME": str(home), "MIGRATION_HOME": str(tmp_path / "migration"),
           "MIGRATION_PAIRS": f"{pair.source.name}:{pair.destination.name}", "MIGRATION_EXECUTOR": "multiprocess"}
    proc = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", str(ROOT / "workspace.yaml"), "-p",
                             str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("dagster dev did not start within 120 s")
        yield pair, f"http://127.0.0.1:{port}", home
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        src.stop()
        dst.stop()


def test_ui_shows_the_migration_and_launches_the_sample_job(ui):
    from playwright.sync_api import sync_playwright

    pair, base, home = ui
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{base}/asset-groups/{pair.name}_load")
        page.wait_for_selector(f"text={pair.destination.name}", timeout=90_000)
        page.goto(f"{base}/assets/{pair.destination.name}/from_{pair.source.name}/contacts?view=checks")
        page.wait_for_selector("text=reconciliation")
        page.goto(f"{base}/assets/{pair.source.name}/contacts?view=checks")
        page.wait_for_selector("text=gx_critical")
        page.goto(f"{base}/locations/helpdesk_migration/jobs/{pair.name}_sample/playground")
        skip = page.get_by_role("button", name="Skip")  # Dagster's first-visit community dialog
        try:
            skip.click(timeout=10_000)
        except Exception:
            pass
        page.wait_for_selector("text=No missing config")
        page.get_by_text("Launch Run", exact=True).last.click()
        # The job holds sharded assets: without a shard picked, its tags make the run cover every shard,
        # and the UI asks to be sure first.
        page.get_by_role("button", name="Confirm", exact=True).click()
        page.wait_for_url("**/runs/**", timeout=90_000)
        run_id = page.url.rstrip("/").split("/runs/")[-1].split("?")[0]
        browser.close()
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.job_name == f"{pair.name}_sample"
    from migration_assets.partitions import all_shards_tags

    assert all_shards_tags().items() <= run.tags.items()  # every shard, in this one run
