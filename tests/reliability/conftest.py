"""Shared by the reliability campaigns: one clean run per destination (the baseline every crashed or faulted
run is compared with), taken once per test session."""

from __future__ import annotations

import pytest

from .harness import Baseline, take_baseline

_baselines: dict[str, Baseline] = {}


@pytest.fixture(scope="session")
def baseline():
    def get(destination: str) -> Baseline:
        if destination not in _baselines:
            _baselines[destination] = take_baseline(destination)
        return _baselines[destination]

    return get
