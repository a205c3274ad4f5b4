"""The Dagster code location (workspace.yaml and `dg` point here): the migrations declared as Components in
``defs/<name>/defs.yaml`` (a MigrationSource per source, a Migration per pair), with the store and the executor
set once for all of them. MIGRATION_PAIRS ("source:destination,...") narrows the location to the pairs it names."""

import warnings
from pathlib import Path

import dagster as dg
from dagster.components import load_defs

from . import defs as defs_folder
from .factory import runtime_definitions

with warnings.catch_warnings():  # the Components loader is marked preview in this Dagster series
    warnings.simplefilter("ignore")
    defs = dg.Definitions.merge(load_defs(defs_root=defs_folder, project_root=Path(__file__).resolve().parent.parent),
                                runtime_definitions())


def job_for(name: str):
    """Reconstructs one job in a step process (dagster.build_reconstructable_job), so headless runs use the
    same multiprocess/Celery/Kubernetes executors as runs launched from the UI."""
    return defs.resolve_job_def(name)
