"""The engine's generic destination conformance suite, run against the Salesforce emulator: on the default
profile (an org as documented) and on each variant profile, one at a time."""

from helpdesk_migrate.plugins.salesforce.plugin import SalesforceDestination
from migration_assets.conformance import destination_conformance_suite

TestSalesforceConformance = destination_conformance_suite(lambda: SalesforceDestination())

for _profile in SalesforceDestination().emulator_profiles():
    if _profile != "default":
        _name = "TestSalesforceConformance_" + _profile.replace("-", "_")
        globals()[_name] = type(_name, (destination_conformance_suite(
            lambda: SalesforceDestination(), emulator_options={"profile": _profile}),), {})
