"""Long-lived objects out of the cyclic garbage collector's way.

A step process starts with ~350k objects that live as long as it does: Dagster, the code location, pandas
and Great Expectations. Every full collection walks all of them, and a step that maps a million messages
allocates enough to trigger many; measured on benchmark P4, that was 15% of the mapping's CPU time.
``gc.freeze()`` (made for exactly this) moves the objects alive now to a generation the collector skips.
"""

import gc
import multiprocessing

_frozen = False


def freeze_long_lived() -> None:
    """Freeze what is alive now, once per process: the first call comes from a step's hot function (extract,
    validate, load), after the imports and Dagster's setup; later calls do nothing, so what is made
    afterwards stays collectable.

    A frozen object that becomes cyclic garbage is never collected, so garbage already there must not be
    frozen: a step process just forked from the forkserver has next to none, and skips the collection
    (~0.15 s, dozens of steps a run); any other process (an in-process run, a Celery or Kubernetes worker,
    a test session) collects first."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    if multiprocessing.parent_process() is None:
        gc.collect()
    gc.freeze()
