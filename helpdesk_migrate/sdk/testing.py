"""The conformance suites a plugin's tests run against its own emulator (needs pytest)::

    from helpdesk_migrate.sdk.testing import source_conformance_suite
    TestMySourceConformance = source_conformance_suite(lambda: MySource(), size=30)
"""

from migration_assets.conformance import (
    destination_conformance_suite,
    source_conformance_suite,
    synthetic_canonical,
)

__all__ = ["destination_conformance_suite", "source_conformance_suite", "synthetic_canonical"]
