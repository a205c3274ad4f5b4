"""The engine's destination conformance suite, run against the Tidio plugin and its emulator: on the default
profile and on each variant profile (batch answers with ids only, 201, a subject limit...), one at a time."""

from helpdesk_migrate.plugins.tidio.plugin import TidioDestination
from migration_assets.conformance import destination_conformance_suite
from migration_assets.registry import emulator_for

TestTidioConformance = destination_conformance_suite(
    lambda: TidioDestination(), emulator_options={"rate_limit": 600_000})

for _profile in emulator_for(TidioDestination()).profiles():
    if _profile != "default":
        _name = "TestTidioConformance_" + _profile.replace("-", "_")
        globals()[_name] = type(_name, (destination_conformance_suite(
            lambda: TidioDestination(), emulator_options={"rate_limit": 600_000, "profile": _profile}),), {})
