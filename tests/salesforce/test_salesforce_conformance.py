"""The engine's generic destination conformance suite, run against the Salesforce emulator."""

from migration_assets.conformance import destination_conformance_suite
from plugins.salesforce.plugin import SalesforceDestination

TestSalesforceConformance = destination_conformance_suite(lambda: SalesforceDestination())
