"""Test-suite wide set-up: how pytest-xdist spreads the tests over processes.

``make test`` runs ``pytest -n auto --dist loadgroup``: every test goes to the process that
runs the other tests of its file (module fixtures are built once), except tests that
carry their own ``xdist_group`` mark (long independent cases spread on their own).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
