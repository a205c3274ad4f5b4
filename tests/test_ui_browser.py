"""The Dagster UI in a real browser: the migration's assets and checks are there, and the sample job
launches from the UI. Uses Playwright with Debian's chromium (scripts/test.sh installs it when missing)."""

from __future__ import annotations

import os
import re
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
    from migration_assets.demo import demo_settings, parse_pair, start_pair_emulators

    pair = parse_pair(reg, None)
    src, dst, env_vars = start_pair_emulators(pair, seed=5, size=20, rate_limit=6000)
    port = _free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Only this test's settings: whatever earlier tests left in the environment (a proposer, a store URL, a
    # platform variable) must not reach the UI's runs.
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("MIGRATION_", "TRENGO_", "SALESFORCE_", "TIDIO_", "ZENDESK_", "SF_"))}
    env = {**inherited, **env_vars, **demo_settings(dst), "DAGSTER_HOME": str(home),
           "MIGRATION_HOME": str(tmp_path / "migration"),
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


ARTIFACTS = Path(os.environ.get("UI_ARTIFACTS_DIR") or ROOT / ".artifacts" / "ui-journey")


def _launch(page, base: str, job: str, shot: str, instance, timeout: float = 240):
    """Launch a job from its launchpad, as a person would, and wait for the run to end; a screenshot of the run."""
    import dagster as dg

    page.goto(f"{base}/locations/helpdesk_migration/jobs/{job}/playground")
    try:
        page.get_by_role("button", name="Skip").click(timeout=3_000)  # Dagster's first-visit community dialog
    except Exception:
        pass
    page.get_by_text("Launch Run", exact=True).last.click()
    try:  # a job with sharded assets asks to be sure it runs every shard
        page.get_by_role("button", name="Confirm", exact=True).click(timeout=5_000)
    except Exception:
        pass
    page.wait_for_url("**/runs/**", timeout=90_000)
    run_id = page.url.rstrip("/").split("/runs/")[-1].split("?")[0]
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            break
        time.sleep(2)
    page.reload()
    page.wait_for_timeout(1_500)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    run = instance.get_run_by_id(run_id)
    if run is None or run.status != dg.DagsterRunStatus.SUCCESS:
        failures = [f"{r.dagster_event.step_key}: {r.dagster_event.message or ''} "
                    f"{getattr(r.dagster_event.event_specific_data, 'error', '')}"[:2000]
                    for r in instance.all_logs(run_id) if r.dagster_event is not None
                    and r.dagster_event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE", "ENGINE_EVENT")
                    and (r.dagster_event.event_type_value != "ENGINE_EVENT" or "error" in (r.message or "").lower())]
        raise AssertionError(f"{job}: {run and run.status}\n" + "\n".join(failures))
    return run


def _materialize_all(page, base: str, job: str, shot: str, instance, timeout: float = 240):
    """Click "Materialize all" on a job's page, choose every partition, launch: exactly one run comes of it,
    covering every shard, and it succeeds. The run."""
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus

    from migration_assets.partitions import all_shards_tags

    before = {r.run_id for r in instance.get_runs()} | {b.backfill_id for b in instance.get_backfills()}
    page.goto(f"{base}/locations/helpdesk_migration/jobs/{job}")
    page.locator("button", has_text=re.compile("Materialize all")).first.click()
    page.get_by_role("button", name="All", exact=True).click()
    page.wait_for_selector("text=Launch backfill")
    page.screenshot(path=str(ARTIFACTS / f"{shot}-dialog.png"), full_page=True)
    page.get_by_role("button", name="Launch backfill").click()
    deadline = time.time() + timeout
    while time.time() < deadline:
        backfills = [b for b in instance.get_backfills() if b.backfill_id not in before]
        if backfills and backfills[0].status != BulkActionStatus.REQUESTED:
            break
        time.sleep(2)
    runs = [r for r in instance.get_runs() if r.run_id not in before]
    assert len(runs) == 1, f"Materialize all on {job} made {len(runs)} runs"
    run = runs[0]
    assert run.job_name == job and all_shards_tags().items() <= run.tags.items() and run.status == dg.DagsterRunStatus.SUCCESS, run
    page.goto(f"{base}/runs/{run.run_id}")
    page.wait_for_timeout(1_500)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return run


def _check(instance, run_id: str, asset: str, name: str):
    """The check's evaluation in this run (what the UI shows on the asset's Checks tab)."""
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if "/".join(data.asset_key.path) == asset and data.check_name == name:
                return data
    raise AssertionError(f"no evaluation of {asset}:{name} in run {run_id}")


def test_the_whole_journey_in_the_browser_without_a_false_alarm(ui):
    """Discover, the decisions one click each, the sample, its sign-off, the full run and its report, every job
    launched from the UI; screenshots kept in .artifacts/ui-journey (UI_ARTIFACTS_DIR)."""
    import dagster as dg
    from playwright.sync_api import sync_playwright

    pair, base, home = ui
    prefix = f"{pair.destination.name}/from_{pair.source.name}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.from_config(str(home))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{base}/asset-groups/{pair.name}_gates")
        page.wait_for_selector(f"text={pair.destination.name}", timeout=90_000)
        page.wait_for_timeout(2_000)
        page.screenshot(path=str(ARTIFACTS / "00-gates.png"), full_page=True)

        # Discovery ends at the gates, waiting for a person: a success, the gates warn.
        discover = _launch(page, base, f"{pair.name}_discover", "01-discover", instance)
        confirmed = _check(instance, discover.run_id, f"{prefix}/field_map", "confirmed")
        assert not confirmed.passed and confirmed.severity == dg.AssetCheckSeverity.WARN
        page.goto(f"{base}/assets/{prefix}/field_map")
        page.wait_for_selector("text=decisions")
        page.screenshot(path=str(ARTIFACTS / "02-field-map.png"), full_page=True)

        # "Materialize all" on the full job's page (its extracts and loads are sharded) is one run over every
        # shard, not the whole job once per shard.
        _materialize_all(page, base, f"{pair.name}_full", "02b-materialize-all", instance)

        # One click per decision, and its gate check turns at once.
        clicked = _launch(page, base, f"{pair.name}_confirm_field_map", "03-confirm-field-map", instance)
        assert _check(instance, clicked.run_id, f"{prefix}/field_map", "confirmed").passed
        acknowledged = _launch(page, base, f"{pair.name}_acknowledge_preflight", "04-acknowledge-preflight", instance)
        assert _check(instance, acknowledged.run_id, f"{prefix}/preflight", "acknowledged").passed

        _launch(page, base, f"{pair.name}_sample", "05-sample", instance)
        signed = _launch(page, base, f"{pair.name}_sign_off_sample", "06-sign-off-sample", instance)
        assert _check(instance, signed.run_id, f"{prefix}/go_ahead", "sample_signed_off").passed

        # The full run loads; a quarantined record makes it visibly not clean.
        full = _launch(page, base, f"{pair.name}_full", "07-full", instance, timeout=420)
        quarantined = int(full.tags.get("helpdesk_migrate/quarantined", "-1"))
        report = _check(instance, full.run_id, f"{prefix}/reconciliation_report", "nothing_quarantined")
        assert report.passed == (quarantined == 0) and report.severity == dg.AssetCheckSeverity.WARN
        page.goto(f"{base}/assets/{prefix}/reconciliation_report?view=checks")
        page.wait_for_selector("text=nothing_quarantined")
        page.screenshot(path=str(ARTIFACTS / "08-report-checks.png"), full_page=True)
        browser.close()
    loaded = instance.get_latest_materialization_event(dg.AssetKey([*prefix.split("/"), "contacts"]))
    assert loaded is not None and loaded.run_id == full.run_id
    assert len(list(ARTIFACTS.glob("*.png"))) >= 9

