"""The engine's generic source conformance suite, run on the Trengo plugin and its emulator."""

from migration_assets.conformance import source_conformance_suite
from plugins.trengo.source import TrengoSource

TestTrengoConformance = source_conformance_suite(lambda: TrengoSource(), size=30)
