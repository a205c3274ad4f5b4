"""A plain install keeps its quality gates: the wheel is built from the working tree, installed into a fresh
virtual environment, and run from there (tests/wheel_smoke.py) without the source tree on the path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# What a wheel is built from; nothing else of the checkout may reach the installed environment.
PACKAGED = ("pyproject.toml", "README.md", "migration_assets", "helpdesk_migrate")
# Variables that would put the checkout or other suites in front of the installed package.
CLEARED = ("PYTHONPATH", "MIGRATION_EXPECTATIONS_DIR", "HELPDESK_MIGRATE_PLUGINS", "MIGRATION_PAIRS",
           "VIRTUAL_ENV", "PYTHONHOME")


def build_wheel(out: Path) -> Path:
    """pip's own PEP 517 build (isolated, as a release would be) of a copy of the tree, so the build's
    by-products (build/, *.egg-info) never land in the checkout."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in PACKAGED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out / "dist"), str(src)],
                   check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (out / "dist").glob("helpdesk_migrate-*.whl")
    return wheel


def fresh_environment(where: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed. Its dependencies are the ones this interpreter
    already has (a .pth line after the environment's own site-packages), so no network is needed."""
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # A plain path line: the dependencies' directory is appended, but its own .pth files (the checkout's
    # editable install among them) are not run, so the engine comes from the wheel.
    (site / "zz_reuse_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.mark.slow
def test_the_installed_wheel_carries_its_suites_and_blocks_on_a_critical_expectation(tmp_path):
    wheel = build_wheel(tmp_path / "wheel")
    python = fresh_environment(tmp_path / "venv", wheel)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("wheel_smoke.py", "tiny_pair.py"):
        shutil.copy2(HERE / name, run_dir / name)
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env |= {"MIGRATION_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "MIGRATION_EXECUTOR": "in_process"}
    (tmp_path / "dagster_home").mkdir()
    proc = subprocess.run([str(python), "wheel_smoke.py"], cwd=run_dir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])

    installed = Path(seen["engine"]).parent
    assert installed.is_relative_to(tmp_path / "venv"), f"the engine came from {installed}, not the wheel"
    # (a) the suites are the installed package's, every one of them.
    assert Path(seen["suites"]) == installed / "expectations"
    shipped = sorted(p.name for p in (ROOT / "migration_assets" / "expectations").glob("*.json"))
    assert seen["suite_files"] == shipped and "contacts.json" in shipped
    assert seen["location_assets"] > 0
    # (b) a critical expectation fails with what it found, and the loads behind it do not run.
    assert seen["agents_gx_critical_passed"] is False and seen["agents_failed_expectations"] >= 1
    assert seen["contacts_gx_critical_passed"] is True
    assert "tinysrc/contacts" in seen["materialized"]
    loads = {f"tinydst/from_tinysrc/{c}" for c in ("agents", "contacts", "conversations")}
    assert not loads & set(seen["materialized"]), seen["materialized"]
    assert seen["mapping_confirmable"] is False and not loads & set(seen["full_materialized"])
