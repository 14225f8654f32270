"""Test-suite wide set-up: how pytest-xdist spreads the tests over processes.

``make test`` runs ``pytest -n auto --dist loadgroup``. A test that uses a module- or
class-scoped fixture goes to the process that runs the other tests of its file, so the
fixture is built once; every other test, and every test with its own ``xdist_group``
mark, is handed to whichever process is free, so long files do not keep one core busy
while the other idles.
"""

from __future__ import annotations

import pytest

_SHARED_SCOPES = frozenset({"module", "class", "package"})


def _uses_shared_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs and defs[-1].scope in _SHARED_SCOPES for defs in info.name2fixturedefs.values())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None and _uses_shared_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
