"""Long-lived objects are frozen once per process, by the first hot step function."""

import gc

from migration_assets import gc_tuning


def test_the_first_call_freezes_what_is_alive_and_later_calls_nothing(monkeypatch):
    monkeypatch.setattr(gc_tuning, "_frozen", False)
    gc.unfreeze()
    try:
        gc_tuning.freeze_long_lived()
        assert gc.get_freeze_count() > 10_000  # the interpreter, pytest, the engine's modules
        # The freeze count itself is no witness for the second call: it drops whenever a frozen object is
        # freed (an emulator thread of an earlier test finishing, say). What must not happen is a second
        # freeze, which would take objects made since out of the collector's reach.
        later_freezes = []
        monkeypatch.setattr(gc, "freeze", lambda: later_freezes.append(True))
        made_later = [[] for _ in range(1_000)]
        gc_tuning.freeze_long_lived()
        assert later_freezes == []
        assert gc.is_tracked(made_later[0])
    finally:
        gc.unfreeze()  # the test process goes on collecting as before


def test_a_forked_step_process_skips_the_collection_and_any_other_process_collects_first(monkeypatch):
    import multiprocessing

    collections = []
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(True) or 0)
    monkeypatch.setattr(gc, "freeze", lambda: None)  # nothing of the test session is frozen here
    for parent, expected in ((object(), []), (None, [True])):
        monkeypatch.setattr(gc_tuning, "_frozen", False)
        monkeypatch.setattr(multiprocessing, "parent_process", lambda parent=parent: parent)
        collections.clear()
        gc_tuning.freeze_long_lived()
        assert collections == expected
