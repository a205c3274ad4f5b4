"""The engine's destination conformance suite, run against the Tidio plugin and its emulator."""

from migration_assets.conformance import destination_conformance_suite
from plugins.tidio.plugin import TidioDestination

TestTidioConformance = destination_conformance_suite(
    lambda: TidioDestination(), emulator_options={"rate_limit": 600_000})
