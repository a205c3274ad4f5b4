"""The engine's generic source conformance suite, run on the Trengo plugin and its emulator: on the default
profile and on each variant profile (the real-world shapes and defaults we could not confirm), one at a time."""

from migration_assets.conformance import source_conformance_suite
from plugins.trengo.source import TrengoSource

TestTrengoConformance = source_conformance_suite(lambda: TrengoSource(), size=30)

for _profile in TrengoSource().emulator_profiles():
    if _profile != "default":
        _name = "TestTrengoConformance_" + _profile.replace("-", "_")
        globals()[_name] = type(_name, (source_conformance_suite(
            lambda: TrengoSource(), size=30, emulator_options={"profile": _profile}),), {})
