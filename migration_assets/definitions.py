"""The Dagster code location (workspace.yaml points here): every registered source paired with every
registered destination, or the pairs in MIGRATION_PAIRS ("source:destination,...", plugin names)."""

from .factory import build_definitions

defs = build_definitions()


def job_for(name: str):
    """Reconstructs one job in a step process (dagster.build_reconstructable_job), so headless runs use the
    same multiprocess/Celery/Kubernetes executors as runs launched from the UI."""
    return defs.resolve_job_def(name)
