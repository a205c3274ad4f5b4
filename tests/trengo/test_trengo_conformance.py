"""The engine's generic source conformance suite, run on the Trengo plugin and its emulator: on the default
profile and on each variant profile (the real-world shapes and defaults we could not confirm), one at a time."""

from helpdesk_migrate.plugins.trengo.source import TrengoSource
from migration_assets.conformance import source_conformance_suite
from migration_assets.registry import emulator_for

TestTrengoConformance = source_conformance_suite(lambda: TrengoSource(), size=30)

for _profile in emulator_for(TrengoSource()).profiles():
    if _profile != "default":
        _name = "TestTrengoConformance_" + _profile.replace("-", "_")
        globals()[_name] = type(_name, (source_conformance_suite(
            lambda: TrengoSource(), size=30, emulator_options={"profile": _profile}),), {})
