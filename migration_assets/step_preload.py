"""Imported by the forkserver that starts a run's step processes (factory.multiprocess_config), after
Dagster, the code location and Great Expectations: the modules each step process would otherwise import
for itself, once per step (~0.3 s each, dozens of steps a run, on the cores the extraction needs).

Those are the modules of the Dagster instance's storage, loaded by creating the instance the steps will use
(DAGSTER_HOME) and disposing of it before any fork; and the code location's jobs, resolved once here
(each step process reconstructs its job by name: definitions.job_for). Nothing here may raise: an exception
in a preloaded module stops the forkserver, and so the run; an instance that cannot be created here is
created, and its error reported, by the step itself.
"""

import logging


def _import_instance_storage() -> None:
    try:
        import dagster as dg

        instance = dg.DagsterInstance.get()
    except Exception as exc:  # no DAGSTER_HOME, an unreachable database, ...: the step will say so
        logging.getLogger("helpdesk_migrate").debug("step preload: no Dagster instance (%s)", exc)
        return
    try:
        # What a step touches besides the run and event storage (compute logs, secrets, definitions state).
        for part in ("compute_log_manager", "secrets_loader", "defs_state_storage"):
            getattr(instance, part, None)
    except Exception as exc:  # best effort: the step imports whatever is missing
        logging.getLogger("helpdesk_migrate").debug("step preload: %s", exc)
    finally:
        try:
            instance.dispose()
        except Exception as exc:  # the forked steps create their own instance
            logging.getLogger("helpdesk_migrate").debug("step preload: dispose failed (%s)", exc)


def _resolve_jobs() -> None:
    try:
        from .definitions import defs

        defs.get_repository_def().get_all_jobs()
    except Exception as exc:  # the step resolves its job itself, and reports what is wrong with it
        logging.getLogger("helpdesk_migrate").debug("step preload: jobs not resolved (%s)", exc)


_import_instance_storage()
_resolve_jobs()
