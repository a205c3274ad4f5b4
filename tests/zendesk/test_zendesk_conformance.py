"""The engine's generic source conformance suite, run on the Zendesk plugin and its emulator: on the default
profile and on each variant profile (answers the reference allows that the default does not show)."""

from helpdesk_migrate.plugins.zendesk.source import ZendeskSource
from migration_assets.conformance import source_conformance_suite
from migration_assets.registry import emulator_for

TestZendeskConformance = source_conformance_suite(lambda: ZendeskSource(), size=30)

for _profile in emulator_for(ZendeskSource()).profiles():
    if _profile != "default":
        _name = "TestZendeskConformance_" + _profile.replace("-", "_")
        globals()[_name] = type(_name, (source_conformance_suite(
            lambda: ZendeskSource(), size=30, emulator_options={"profile": _profile}),), {})
