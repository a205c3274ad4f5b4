"""The architecture rules (README "Architecture rules"), kept by the test command instead of by reviewers.

The import rules are import-linter contracts in pyproject.toml ([tool.importlinter]); each test here runs one of
them in-process and, when it is broken, fails with import-linter's own report (which imports break it, where).
Two rules are about words rather than imports (the engine names no platform; a destination names no source):
those read the files.
"""

from __future__ import annotations

import graphlib
import inspect
import re
from pathlib import Path

import grimp
import pytest
from importlinter import configuration
from importlinter.application import output, use_cases

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
ENGINE = ROOT / "migration_assets"
PLUGINS = ROOT / "helpdesk_migrate" / "plugins"
# The built-in platforms, plus a common helpdesk the issue names that has no plugin (yet).
PLATFORMS = sorted({p.name for p in PLUGINS.iterdir() if (p / "__init__.py").exists()} | {"zendesk"})
# The engine's own files: code, the proposer's knowledge, the Great Expectations suites.
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".md", ".txt"}


def lint(contract_id: str) -> tuple[bool, str]:
    """Run one contract of pyproject.toml; returns (kept, import-linter's report)."""
    configuration.configure()  # what the lint-imports command does first: the file readers, the graph builder
    width, output.console.width = output.console.width, 160  # one import a line, not wrapped at 80
    try:
        with output.console.capture() as captured:
            kept = use_cases.lint_imports(config_filename=str(PYPROJECT), limit_to_contracts=(contract_id,),
                                          cache_dir=None, no_logo=True)
    finally:
        output.console.width = width
    return kept == use_cases.SUCCESS, captured.get()


def assert_kept(contract_id: str) -> None:
    kept, report = lint(contract_id)
    assert kept, f"architecture contract {contract_id!r} is broken:\n{report}"


def test_the_engine_has_no_import_cycles():
    assert_kept("engine-acyclic")


def test_the_engine_is_layered():
    assert_kept("engine-layers")


def test_the_engine_has_zero_import_cycles_between_its_modules():
    """Module by module (a package's __init__ included), the whole engine, the SDK and the built-in plugins
    (emulators included) sort topologically."""
    graph = grimp.build_graph("migration_assets", "helpdesk_migrate", cache_dir=None)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as exc:
        pytest.fail("import cycle in the engine: " + " -> ".join(exc.args[1]))


def test_the_engine_never_imports_a_plugin():
    assert_kept("engine-no-plugins")


def platform_mentions(files: list[Path], names: list[str]) -> list[str]:
    """Every line of ``files`` that names one of ``names`` (case-insensitive, in code, strings or comments)."""
    pattern = re.compile("|".join(map(re.escape, names)), re.IGNORECASE)
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if match := pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match[0]!r} in {line.strip()[:120]}")
    return found


def test_the_engine_names_no_platform():
    """A platform's name, example or value belongs in its plugin; the engine speaks of sources and
    destinations."""
    # migration_assets/defs/ is the project's own choice of migrations (Component instances, like workspace.yaml
    # naming a code location), not engine code: it names the pairs this checkout migrates.
    files = sorted(p for p in ENGINE.rglob("*") if p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts
                   and (ENGINE / "defs") not in p.parents)
    assert files, f"no engine files under {ENGINE}"
    mentions = platform_mentions(files, PLATFORMS)
    assert not mentions, "the engine names a platform:\n" + "\n".join(mentions)


def test_plugins_are_independent():
    assert_kept("plugins-independent")


def test_a_plugin_imports_only_the_sdk():
    assert_kept("plugins-only-sdk")


def test_production_code_never_imports_an_emulator():
    assert_kept("no-emulator-in-production")


def builtin_package(plugin: object) -> Path | None:
    """The helpdesk_migrate.plugins.<platform> directory a registered plugin comes from, or None (third party)."""
    module = inspect.getmodule(type(plugin))
    parts = (module.__name__ if module else "").split(".")
    if parts[:2] != ["helpdesk_migrate", "plugins"] or len(parts) < 3:
        return None
    return PLUGINS / parts[2]


def test_no_destination_names_a_source():
    """A destination learns what it needs of a source from the canonical records and its own settings, so it
    works for every source, present or future: its production modules (not its emulator) name none."""
    from migration_assets.registry import build_registry, get_plugin_manager

    registry = build_registry(get_plugin_manager())
    sources = sorted(registry.sources)
    destinations = {name: builtin_package(plugin) for name, plugin in registry.destinations.items()}
    destinations = {name: package for name, package in destinations.items() if package is not None}
    assert sources and destinations, "no built-in source or destination registered: nothing would be checked"
    mentions = []
    for name, package in sorted(destinations.items()):
        files = sorted(p for p in package.rglob("*.py") if "emulator" not in p.relative_to(package).parts)
        mentions += platform_mentions(files, [s for s in sources if s != name])
    assert not mentions, "a destination names a source:\n" + "\n".join(mentions)
