"""``helpdesk-migrate new-plugin``: a self-contained plugin project whose tests already pass.

The project is rendered from the Jinja2 templates beside this module (``templates/common`` for every plugin,
``templates/source`` or ``templates/destination`` for the role), with ``pkg`` in a template's path replaced by
the plugin's package name and the ``.j2`` suffix dropped. The generated code imports only
``helpdesk_migrate.sdk`` from this project, so it keeps working as the engine changes underneath it.

The emulator registers itself through its own entry point (``register_emulators``), so the plugin's production
code never imports it; the generated conformance tests hand it to the suites directly, so they pass before the
project is installed.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2

ROLES = ("source", "destination")
PACKAGE_PLACEHOLDER = "pkg"
# Lower-case, starts with a letter, words joined by single underscores: usable as a package name, an
# entry-point name, an asset-key prefix and (upper-cased) an environment-variable prefix.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


class ScaffoldError(ValueError):
    """A plugin name or target the scaffold cannot use; the message says what to change."""


@dataclass(frozen=True)
class PluginSpec:
    name: str  # package, entry point and asset-key prefix, e.g. "acme_desk"
    role: str  # "source" or "destination"

    @property
    def title(self) -> str:
        return " ".join(part.capitalize() for part in self.name.split("_"))

    @property
    def class_prefix(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def env_prefix(self) -> str:
        return self.name.upper()

    @property
    def project_name(self) -> str:
        return f"helpdesk-migrate-{self.name.replace('_', '-')}"


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(f"plugin name {name!r}: use lower-case letters, digits and single underscores, "
                            "starting with a letter (e.g. acme or acme_desk)")
    if keyword.iskeyword(name) or name in {"pkg", "tests", "test", "helpdesk_migrate", "migration_assets"}:
        raise ScaffoldError(f"plugin name {name!r} would shadow a module the project needs: choose another")
    return name


def _environment() -> jinja2.Environment:
    # StrictUndefined: a misspelled variable in a template is an error, never an empty string in the code.
    return jinja2.Environment(loader=jinja2.PackageLoader("migration_assets.scaffold", "templates"),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def _template_paths(role: str) -> list[str]:
    root = resources.files("migration_assets.scaffold") / "templates"
    found: list[str] = []

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            rel = f"{prefix}/{child.name}"
            if child.is_dir():
                walk(child, rel)
            elif child.name.endswith(".j2"):
                found.append(rel.lstrip("/"))

    for part in ("common", role):
        walk(root / part, part)
    return sorted(found)


def _output_path(template: str, spec: PluginSpec) -> Path:
    parts = template.removesuffix(".j2").split("/")[1:]  # drop "common" / "<role>"
    return Path(*[spec.name if p == PACKAGE_PLACEHOLDER else p for p in parts])


def render_plugin(spec: PluginSpec) -> dict[Path, str]:
    """Every file of the project, by its path relative to the project directory."""
    env = _environment()
    context = {"name": spec.name, "role": spec.role, "title": spec.title, "class_prefix": spec.class_prefix,
               "env_prefix": spec.env_prefix, "project_name": spec.project_name}
    files = {}
    for template in _template_paths(spec.role):
        files[_output_path(template, spec)] = env.get_template(template).render(context)
    return files


def scaffold_plugin(name: str, role: str, parent: Path) -> Path:
    """Write a new plugin project into ``parent/<project name>`` and return that directory. Refuses to write
    into a directory that already exists, so nobody's work is overwritten."""
    if role not in ROLES:
        raise ScaffoldError(f"role {role!r}: use one of {', '.join(ROLES)}")
    spec = PluginSpec(check_name(name), role)
    target = Path(parent) / spec.project_name
    if target.exists():
        raise ScaffoldError(f"{target} already exists: choose another --path or remove it first")
    for rel, text in render_plugin(spec).items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target


__all__ = ["ROLES", "PluginSpec", "ScaffoldError", "check_name", "render_plugin",
           "scaffold_plugin"]
