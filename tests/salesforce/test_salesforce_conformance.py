"""The engine's generic destination conformance suite, run against the Salesforce emulator: on the default
profile (an org as documented) and on each variant profile, one at a time."""

from helpdesk_migrate.plugins.salesforce.plugin import SalesforceDestination
from migration_assets.conformance import destination_conformance_suite
from migration_assets.registry import emulator_for

TestSalesforceConformance = destination_conformance_suite(lambda: SalesforceDestination())

for _profile in emulator_for(SalesforceDestination()).profiles():
    if _profile != "default":
        _name = "TestSalesforceConformance_" + _profile.replace("-", "_")
        globals()[_name] = type(_name, (destination_conformance_suite(
            lambda: SalesforceDestination(), emulator_options={"profile": _profile}),), {})
