"""`helpdesk-migrate new-plugin`: the scaffolded source and destination pass the SDK's conformance suites as
generated, import nothing of the project but ``helpdesk_migrate.sdk``, and lint clean."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migration_assets import cli
from migration_assets.scaffold import ScaffoldError, check_name, scaffold_plugin

REPO = Path(__file__).resolve().parents[1]
# The project's own modules a plugin may import: the SDK (and its emulator kit and test suites) only.
ALLOWED_PROJECT_IMPORTS = ("helpdesk_migrate.sdk",)


def _new_plugin(tmp_path: Path, name: str, role: str) -> Path:
    result = CliRunner().invoke(cli.main, ["new-plugin", name, f"--{role}", "--path", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    target = tmp_path / f"helpdesk-migrate-{name.replace('_', '-')}"
    assert f"created {target}" in result.output
    return target


def _run_generated_tests(project: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """The generated project's own tests, as its author would run them: the plugin importable from its
    directory (no pip install: the conformance suites take a plugin factory, no entry point is needed)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(REPO)]),
           "MIGRATION_HOME": str(tmp_path / "home")}
    env.pop("HELPDESK_MIGRATE_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=120)


def _project_imports(project: Path, package: str) -> set[str]:
    found = set()
    for path in (project / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.update(f"{node.module}.{alias.name}" for alias in node.names)  # what is really bound
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("helpdesk_migrate", "migration_assets")}


@pytest.mark.parametrize("role", ["source", "destination"])
def test_scaffolded_plugin_passes_the_conformance_suite_out_of_the_box(tmp_path, role):
    name = f"acme_{role[:3]}"
    project = _new_plugin(tmp_path, name, role)
    for expected in ("pyproject.toml", "README.md", f"{name}/plugin.py", f"{name}/settings.py",
                     f"{name}/emulator/__init__.py", "tests/test_conformance.py"):
        assert (project / expected).is_file(), expected
    assert f'{name} = "{name}.plugin"' in (project / "pyproject.toml").read_text()

    run = _run_generated_tests(project, tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]

    imports = _project_imports(project, name)
    assert imports, "the plugin must use the SDK"
    assert all(m.startswith(ALLOWED_PROJECT_IMPORTS) for m in imports), sorted(imports)


def test_scaffolded_code_is_lint_clean(tmp_path):
    for role in ("source", "destination"):
        project = scaffold_plugin(f"lint_{role[:3]}", role, tmp_path)
        run = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "E,F,W,I,B,UP", "."],
                             cwd=project, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout


def test_the_scaffold_refuses_bad_names_and_existing_directories(tmp_path):
    for bad in ("Acme", "1acme", "acme-desk", "acme__desk", "class", "tests"):
        with pytest.raises(ScaffoldError):
            check_name(bad)
    scaffold_plugin("acme", "source", tmp_path)
    with pytest.raises(ScaffoldError, match="already exists"):
        scaffold_plugin("acme", "source", tmp_path)
    result = CliRunner().invoke(cli.main, ["new-plugin", "acme", "--path", str(tmp_path)])
    assert result.exit_code == cli.EXIT_USAGE and "--source or --destination" in result.output
    result = CliRunner().invoke(cli.main, ["new-plugin", "Bad-Name", "--source", "--path", str(tmp_path)])
    assert result.exit_code == cli.EXIT_USAGE and "lower-case" in result.output


def test_the_scaffolded_emulator_registers_on_its_own_entry_point(tmp_path):
    """The emulator registers itself through its own entry point and the plugin object never starts it; the
    code compiles and lints clean."""
    for role in ("source", "destination"):
        name = f"next_{role[:3]}"
        project = scaffold_plugin(name, role, tmp_path)
        plugin = (project / name / "plugin.py").read_text()
        emulator = (project / name / "emulator" / "__init__.py").read_text()
        assert "def start_emulator" not in plugin and "emulator_profiles" not in plugin
        assert "def register_emulators(register)" in emulator and "@sdk.hookimpl" in emulator
        assert f'{name}_emulator = "{name}.emulator"' in (project / "pyproject.toml").read_text()
        for path in project.rglob("*.py"):
            compile(path.read_text(), str(path), "exec")
        run = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "E,F,W,I,B,UP", "."],
                             cwd=project, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout
