"""The plugin author's guide keeps up with the contract: every member of every Protocol and value class in
``migration_assets.hookspecs`` (and what the SDK re-exports from it), and every hook, has a definition in
``docs/``; every hook has a docstring; the README points at the guide.

Found by introspection, not listed here: a member or a capability Protocol added to the contract fails this
test, naming itself, until the guide defines it. A definition is a heading or a list item whose first code
span is ``Owner.member`` (or ``Owner.member(...)``), and for a hook ``hook_name(...)``.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

from typing_extensions import get_protocol_members, is_protocol

from helpdesk_migrate import sdk
from migration_assets import hookspecs

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
GUIDE = DOCS / "plugin-guide.md"
# The first code span of a heading or a list item: `Owner.member`, `Owner.member(args)`, `hook(args)`.
DEFINITION = re.compile(r"^\s*(?:#{1,6}|[-*])\s+`([A-Za-z_][\w.]*)(?:\(.*?\))?`")
SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"  # the attribute pluggy's HookspecMarker sets


def contract_classes() -> dict[str, type]:
    """The Protocols and dataclasses the contract defines, by name: those of ``hookspecs`` and those the SDK
    exports from it (a class defined elsewhere and re-exported by hookspecs counts where it is defined)."""
    candidates = {name: obj for name, obj in vars(hookspecs).items() if not name.startswith("_")}
    candidates |= {name: getattr(sdk, name) for name in sdk.__all__}
    return {name: obj for name, obj in candidates.items()
            if inspect.isclass(obj) and obj.__module__ == hookspecs.__name__
            and (is_protocol(obj) or dataclasses.is_dataclass(obj))}


def members(cls: type) -> set[str]:
    if is_protocol(cls):
        return {m for m in get_protocol_members(cls) if not m.startswith("_")}
    fields = {f.name for f in dataclasses.fields(cls)}
    methods = {name for name, value in vars(cls).items()
               if not name.startswith("_") and (callable(value) or isinstance(value, property | classmethod))}
    return fields | methods


def hook_specs() -> dict[str, object]:
    return {name: fn for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, SPEC_MARKER)}


def documented(text: str) -> set[str]:
    return {m.group(1) for line in text.splitlines() if (m := DEFINITION.match(line))}


def docs_text() -> str:
    return "\n".join(p.read_text() for p in sorted(DOCS.rglob("*.md")))


def undocumented(classes: dict[str, type], hooks: dict[str, object], defined: set[str]) -> list[str]:
    missing = [f"{name}.{member}" for name, cls in sorted(classes.items()) for member in sorted(members(cls))
               if f"{name}.{member}" not in defined]
    missing += [f"{name}(...) (hook)" for name in sorted(hooks) if name not in defined]
    return missing


def test_every_contract_member_and_hook_is_defined_in_the_docs():
    classes, hooks = contract_classes(), hook_specs()
    assert {"SourcePlugin", "DestinationConnection", "Chunk", "LoadOutcome"} <= set(classes)
    assert {"register_sources", "register_destinations"} <= set(hooks)
    missing = undocumented(classes, hooks, documented(docs_text()))
    assert not missing, (f"{len(missing)} contract member(s) have no definition in docs/ (a heading or list item "
                         "starting with `Owner.member`): " + ", ".join(missing))


def test_every_hookspec_has_a_docstring():
    bare = [name for name, fn in sorted(hook_specs().items()) if not (inspect.getdoc(fn) or "").strip()]
    assert not bare, f"hookspecs without a docstring (who implements it, when it is called, what it returns): {bare}"


def test_the_check_names_what_is_missing():
    """The check itself can fail: a Protocol member and a dataclass field nobody documented are named."""

    class Frobnicator(sdk.SourceConnection, hookspecs.Protocol):
        def frobnicate(self) -> None: ...

    @dataclasses.dataclass
    class Widget:
        size: int

    defined = documented("## `Frobnicator.extract(...)`\n- `Frobnicator.close()`: closes\n"
                         "Some prose naming `Widget.size` is not a definition.\n- `register_sources(register)`: x")
    missing = undocumented({"Frobnicator": Frobnicator, "Widget": Widget}, hook_specs(), defined)
    assert "Frobnicator.frobnicate" in missing and "Widget.size" in missing
    assert "Frobnicator.extract" not in missing and "Frobnicator.close" not in missing
    assert "register_sources(...) (hook)" not in missing and "register_destinations(...) (hook)" in missing


def test_readme_writing_a_plugin_points_at_the_guide():
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Writing a plugin", 1)
    assert len(section) == 2, "the README has no 'Writing a plugin' section"
    body = section[1].split("\n#", 1)[0]
    assert "docs/plugin-guide.md" in body and "new-plugin" in body
    assert GUIDE.is_file()
    for link in re.findall(r"\]\(([\w./-]+\.md)", docs_text()):  # links between the docs resolve
        assert (DOCS / link).is_file(), link
