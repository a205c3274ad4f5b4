"""Long-lived objects out of the cyclic garbage collector's way.

A step process starts with ~300k objects that live as long as it does: Dagster, the code location, pandas
and Great Expectations. Every full collection walks all of them, and a step that maps a million messages
allocates enough to trigger many; measured on benchmark P4, that was 15% of the mapping's CPU time.
``gc.freeze()`` (made for exactly this) moves the objects alive now to a generation the collector skips.
"""

import gc

_frozen = False


def freeze_long_lived() -> None:
    """Freeze what is alive now, once per process: the first call comes from a step's hot function, after
    the imports and Dagster's setup; later calls (more objects in the same process: in-process runs, tests)
    do nothing, so garbage made in between stays collectable."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    # No gc.collect() first: it takes ~0.15 s and, after the imports, finds nothing to free.
    gc.freeze()
