"""``helpdesk-migrate``: the command line for headless runs and scripts.

Names, JSON shapes and exit codes are stable (DESIGN.md): 0 done, 1 the run finished with quarantined
records or failed checks, 2 bad usage or configuration, 3 not started because a person's decision is awaited
(listed, each with what to do). A user never sees a traceback: expected failures
become one clear line on stderr (set HELPDESK_MIGRATE_DEBUG=1 to see the traceback anyway).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from .execution import ensure_dagster_home
from .hookspecs import ConfigurationError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
JOBS = ("discover", "sample", "full", "delta", "rollback")


class UsageProblem(click.ClickException):
    exit_code = EXIT_USAGE


def _registry():
    from .registry import default_registry

    return default_registry()


def _pair(source: str, destination: str):
    from .pairs import Pair

    reg = _registry()
    try:
        return Pair(reg.source(source), reg.destination(destination))
    except KeyError as exc:
        raise UsageProblem(str(exc.args[0])) from None


def _store():
    from .store import MigrationStore

    return MigrationStore()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="helpdesk-migrate")
def main() -> None:
    """Move a helpdesk workspace between platforms, as Dagster assets."""


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_cmd(as_json: bool) -> None:
    """List installed plugins with their versions and objects."""
    reg = _registry()
    rows = []
    for kind, items in (("source", reg.sources), ("destination", reg.destinations)):
        for name, p in sorted(items.items()):
            rows.append({"kind": kind, "name": name, "title": p.title, "version": p.version,
                         "objects": [o.canonical for o in p.objects()]})
    for name in sorted(reg.proposers):
        rows.append({"kind": "field-proposer", "name": name, "title": name, "version": "", "objects": []})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("kind", "name", "version", "objects")
    for r in rows:
        table.add_row(r["kind"], r["name"], r["version"], ", ".join(r["objects"]))
    Console().print(table)


@main.command("emulator")
@click.argument("name")
@click.option("--port", default=0, type=int, help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--seed", default=42, type=int, help="Seed of the synthetic workspace.")
@click.option("--size", default=200, type=int, help="Size of the synthetic workspace (conversations).")
@click.option("--rate-limit", type=int, default=None, help="Requests per minute the emulator allows.")
@click.option("--profile", default=None,
              help="Comma-separated variants of real-world behaviour the emulator serves (see `probe`).")
def emulator_cmd(name: str, port: int, seed: int, size: int, rate_limit: int | None, profile: str | None) -> None:
    """Serve one platform's emulator until stopped; first print KEY=value lines that point the product at it."""
    reg = _registry()
    emulator = reg.emulators.get(name)
    if emulator is None:
        raise UsageProblem(f"no emulator named {name!r}; installed emulators: {', '.join(sorted(reg.emulators))}")
    options: dict[str, object] = {"rate_limit": rate_limit} if rate_limit else {}
    if profile:
        known = emulator.profiles()
        unknown = [p for p in (x.strip() for x in profile.split(",")) if p and p not in known]
        if unknown:
            raise UsageProblem(f"the {name} emulator has no profile {', '.join(map(repr, unknown))}; its profiles: "
                               f"{', '.join(known) or 'none (it serves one behaviour)'}")
        options["profile"] = profile
    emu = emulator.start(seed=seed, size=size, port=port, **options)
    for key, value in emu.env().items():
        click.echo(f"{key}={value}")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emu.stop()


@main.command("new-plugin")
@click.argument("name")
@click.option("--source", "role", flag_value="source", help="Scaffold a source (reads a platform).")
@click.option("--destination", "role", flag_value="destination", help="Scaffold a destination (writes one).")
@click.option("--path", "parent", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory the project folder is created in.")
def new_plugin_cmd(name: str, role: str | None, parent: Path) -> None:
    """Create a plugin project NAME (pyproject, plugin, settings, client, emulator on the SDK kit, conformance
    tests that pass as generated). The plugin author's guide is docs/plugin-guide.md."""
    from .scaffold import ScaffoldError, scaffold_plugin

    if role is None:
        raise UsageProblem("say which kind of plugin: --source or --destination")
    try:
        target = scaffold_plugin(name, role, parent)
    except ScaffoldError as exc:
        raise UsageProblem(str(exc)) from None
    package = target / name
    click.echo(f"created {target}")
    click.echo(f"  {package / 'plugin.py'}: the {role} plugin and its registration hook")
    click.echo(f"  {package / 'emulator'}: the emulator its tests run against")
    click.echo(f"next: cd {target} && pip install -e '.[test]' && pytest")


@main.command("demo")
@click.option("--pair", "pair_spec", default=None, help="SOURCE-DESTINATION: plugin names, as `helpdesk-migrate plugins` lists them.")
@click.option("--seed", default=42, type=int, help="Seed of the synthetic workspace.")
@click.option("--size", default=120, type=int, help="Conversations in the synthetic workspace.")
@click.option("--sample-size", default=25, type=int, help="Conversations in the sample migration.")
def demo_cmd(pair_spec: str | None, seed: int, size: int, sample_size: int) -> None:
    """Emulators with a seeded workspace, then discover -> map (auto-confirmed, demo only) -> sample -> full
    migration -> reconcile, and the report."""
    from .demo import parse_pair, run_demo

    try:
        pair = parse_pair(_registry(), pair_spec)
    except KeyError as exc:
        raise UsageProblem(str(exc.args[0])) from None
    ensure_dagster_home()
    sys.exit(run_demo(pair, seed=seed, size=size, sample_size=sample_size, echo=click.echo))


@main.command("dev")
@click.option("--seed", default=42, type=int)
@click.option("--size", default=120, type=int)
@click.option("--port", default=3000, type=int, help="Port of the Dagster UI.")
def dev_cmd(seed: int, size: int, port: int) -> None:
    """Start every plugin's emulator and `dagster dev` wired to them: click through the UI on the defaults."""
    from .demo import run_dev

    ensure_dagster_home()
    sys.exit(run_dev(_registry(), seed=seed, size=size, echo=click.echo, port=port))


@main.command("run")
@click.option("--source", required=True)
@click.option("--destination", required=True)
@click.option("--job", type=click.Choice(JOBS), required=True)
@click.option("--run-id", default=None, help="rollback: the run to undo (default: every run of the pair).")
@click.option("--sample-size", default=None, type=int, help="sample: number of conversations (25-50 by default).")
def run_cmd(source: str, destination: str, job: str, run_id: str | None, sample_size: int | None) -> None:
    """Run a job of a pair headless; it is recorded in the Dagster instance (DAGSTER_HOME) like a UI launch."""
    from .execution import run_job
    from .factory import start_step_server

    ensure_dagster_home()  # the step server keeps the environment it starts with
    start_step_server()  # its imports overlap the plugins' loading below (run_job finds it running)
    pair = _pair(source, destination)
    result = run_job(pair, job, run_id=run_id, sample_size=sample_size, echo=click.echo)
    sys.exit(result)


@main.command("report")
@click.option("--source", required=True)
@click.option("--destination", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (stable shape).")
def report_cmd(source: str, destination: str, as_json: bool) -> None:
    """Print the migration report; exit 1 when records are quarantined."""
    from .reporting import has_problems, write_report

    pair = _pair(source, destination)
    report, path = write_report(_store(), pair)
    if as_json:
        click.echo(json.dumps({k: report[k] for k in ("source", "destination", "objects", "quarantine")}
                              | {"skipped": report["skipped"], "changed": report["changed"],
                                 "decisions": report["decisions"]}, ensure_ascii=False))
    else:
        click.echo(path.read_text())
        click.echo(f"(written to {path})", err=True)
    sys.exit(EXIT_PROBLEMS if has_problems(report) else EXIT_OK)


@main.command("audit")
@click.option("--source", required=True, help="Source plugin whose extracts were validated.")
@click.option("--object", "canonical", required=True, help="Canonical object, e.g. contacts.")
@click.option("--quality", is_flag=True, help="The data-quality expectations instead of the critical ones.")
@click.option("--json", "as_json", is_flag=True, help="Every kept validation, as JSON.")
def audit_cmd(source: str, canonical: str, quality: bool, as_json: bool) -> None:
    """An object's validation history across runs: per run, each expectation's unexpected count (! when it
    failed). Exit 1 when the latest validation failed a critical expectation."""
    from . import markdown
    from .validation_history import history, history_dir, history_rows

    runs = history(source, canonical)
    if not runs:
        raise UsageProblem(f"no validation of {source}/{canonical} is kept in {history_dir(source, canonical)}: "
                           f"run `helpdesk-migrate run --source {source} --destination ... --job discover` first")
    if as_json:
        click.echo(json.dumps(runs, ensure_ascii=False, default=str))
    else:
        click.echo(f"{source}/{canonical}: {len(runs)} validation(s), {'quality' if quality else 'critical'} "
                   f"expectations, unexpected records per run (! = failed); files in {history_dir(source, canonical)}")
        click.echo(markdown.table(history_rows(runs, "warning" if quality else "critical")))
    sys.exit(EXIT_OK if runs[-1].get("success", True) else EXIT_PROBLEMS)


@main.command("probe")
@click.option("--source", default=None, help="Source plugin to probe (read-only).")
@click.option("--destination", default=None, help="Destination plugin to probe (read-only).")
@click.option("--out", "out_dir", default=".", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for probe-<plugin>.json.")
@click.option("--no-compare", is_flag=True, help="Do not start the emulator to compare shapes.")
def probe_cmd(source: str | None, destination: str | None, out_dir: Path, no_compare: bool) -> None:
    """Read one page of every endpoint a plugin uses (GETs and queries only), write the payload shapes (keys
    and JSON types, never a value) to probe-<plugin>.json, and print how they differ from the emulator's
    profiles. Attach the file to a bug report."""
    from .probe import run_probe

    if not source and not destination:
        raise UsageProblem("say what to probe: --source NAME and/or --destination NAME")
    reg = _registry()
    plugins = []
    try:
        if source:
            plugins.append(reg.source(source))
        if destination:
            plugins.append(reg.destination(destination))
    except KeyError as exc:
        raise UsageProblem(str(exc.args[0])) from None
    differs = False
    for plugin in plugins:
        result = run_probe(plugin, dict(os.environ), out_dir=out_dir, compare=not no_compare, echo=click.echo)
        differs |= result.differs
    sys.exit(EXIT_PROBLEMS if differs else EXIT_OK)


@main.group("mapping")
def mapping_group() -> None:
    """Review, change and confirm the field map of a pair; move remembered choices between machines."""


def _map_exists(pair, source: str, destination: str) -> None:
    from .mapping import map_path

    if not map_path(pair.name).exists():
        raise UsageProblem(f"no field map yet for {pair.name}: run `helpdesk-migrate run --source {source} "
                           f"--destination {destination} --job discover` first")


@mapping_group.command("show")
@click.option("--source", required=True)
@click.option("--destination", required=True)
@click.option("--all", "show_all", is_flag=True, help="Also list destination fields with no candidate at all.")
@click.option("--yaml", "as_yaml", is_flag=True, help="Print the map file itself.")
def mapping_show(source: str, destination: str, show_all: bool, as_yaml: bool) -> None:
    """The decisions of the field map: each destination field, the proposed source, how sure, why, and a few
    sampled values. Change one with `mapping set`, then `mapping confirm`."""
    from .gates import mapping_verdict
    from .mapping import map_path
    from .mapping_review import decision_rows

    pair = _pair(source, destination)
    _map_exists(pair, source, destination)
    path = map_path(pair.name)
    store = _store()
    if as_yaml:
        click.echo(path.read_text())
    else:
        from rich.console import Console
        from rich.table import Table

        rows, hidden = decision_rows(store, pair, include_empty=show_all)
        table = Table("object", "destination field", "proposed source", "conf.", "evidence", "sample values",
                      title=f"Field map {pair.name} ({path})", show_lines=True)
        for r in rows:
            table.add_row(r["object"], r["destination"], r["source"], r["confidence"], r["evidence"], r["samples"])
        Console(width=max(140, Console().width)).print(table)
        if hidden:
            click.echo(f"{hidden} other destination fields have no candidate and stay empty (--all lists them).")
    from .map_rules import map_problems, read_schema
    from .mapping import read_map

    refused = map_problems(read_map(pair.name), read_schema(path))
    for problem in refused:
        click.echo(f"REFUSED by the destination on every record, fix before confirming: {problem}")
    ok, message = mapping_verdict(store, pair)
    click.echo(("confirmed: " if ok else "NOT confirmed: ") + message, err=True)


@mapping_group.command("set")
@click.argument("dest_field")
@click.argument("source_field")
@click.option("--source", required=True)
@click.option("--destination", required=True)
@click.option("--object", "obj", default=None, help="The canonical object (contacts, conversations...) when the "
                                                      "field name is on several.")
@click.option("--by", default="", help="Who chooses (default: the OS user).")
def mapping_set(dest_field: str, source_field: str, source: str, destination: str, obj: str | None, by: str) -> None:
    """Choose SOURCE_FIELD (a source field name, custom key or label; `none` to leave it empty) for the
    destination field DEST_FIELD. The map then asks for confirmation again."""
    from .gates import mapping_verdict
    from .mapping_assets import _whoami
    from .mapping_review import set_choice

    pair = _pair(source, destination)
    _map_exists(pair, source, destination)
    store = _store()
    try:
        done = set_choice(store, pair, dest_field, source_field, obj=obj, by=by or _whoami())
    except LookupError as exc:
        raise UsageProblem(str(exc.args[0])) from None
    click.echo(done)
    click.echo(mapping_verdict(store, pair)[1], err=True)


@mapping_group.command("confirm")
@click.option("--source", required=True)
@click.option("--destination", required=True)
@click.option("--by", default="", help="Who confirms (default: the OS user).")
def mapping_confirm(source: str, destination: str, by: str) -> None:
    """Confirm the current field map; its choices are remembered for the next workspace."""
    from .mapping_assets import _whoami
    from .mapping_review import remember_confirmed

    _approve(source, destination, "mapping", by, None)
    try:
        kept = remember_confirmed(_store(), _pair(source, destination), by or _whoami())
    except ValueError as exc:  # the confirmation stands; only the memory could not be written
        click.echo(f"the choices were not remembered: {exc}", err=True)
        return
    click.echo(f"{kept} choices remembered for the next workspace with the same field names", err=True)


@mapping_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def mapping_export(file: Path) -> None:
    """Write the remembered field-map choices to FILE (YAML)."""
    from .proposer import memory

    try:
        entries = memory.load()
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    memory.save(entries, file)
    click.echo(f"{len(entries)} remembered choices written to {file}")


@mapping_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def mapping_import(file: Path) -> None:
    """Add the choices in FILE (written by `mapping export`) to the remembered ones; a choice for the same
    field and source name replaces the one kept here."""
    from .proposer import memory

    try:
        incoming = memory.load(file)
        merged = memory.merge(memory.load(), incoming)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    path = memory.save(merged)
    click.echo(f"{len(incoming)} choices imported; {len(merged)} remembered in {path}")


@main.command("approve")
@click.argument("what", type=click.Choice(["preflight", "sample", "shape-audit"]))
@click.option("--source", required=True)
@click.option("--destination", required=True)
@click.option("--waive", default=None, help="Skip the gate on purpose, with this reason (shown in every report).")
@click.option("--by", default="", help="Who approves (default: the OS user).")
def approve_cmd(what: str, source: str, destination: str, waive: str | None, by: str) -> None:
    """Record a person's go-ahead for the pre-flight report, the sample spot-check, or the shape audit (declared
    payload keys the source never saw: what will be missing in the destination)."""
    _approve(source, destination, what, by, waive)


def _approve(source: str, destination: str, kind: str, by: str, waive: str | None) -> None:
    from .gates import approve
    from .mapping_assets import _whoami

    pair = _pair(source, destination)
    if kind == "preflight" and not hasattr(pair.destination, "objects"):
        click.echo("this pair has no pre-flight gate; nothing recorded")
        return
    ok, message = approve(_store(), pair.name, source, destination, kind, by=by or _whoami(), waive_reason=waive,
                          source_plugin=pair.source)
    if not ok:
        raise UsageProblem(message)
    click.echo(message)


def run() -> None:
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code != 1 else EXIT_USAGE)
    except ConfigurationError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except SystemExit:
        raise
    except Exception as exc:
        if os.environ.get("HELPDESK_MIGRATE_DEBUG"):
            raise
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
