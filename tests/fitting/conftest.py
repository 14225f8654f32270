"""Shared fixtures for the fitting tests: one intra-op thread (the tests compare numbers,
and a shared machine makes multi-threaded kernels slow), small sphere data."""

from __future__ import annotations

import pytest
import torch
from fitting_data import sphere_data


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def data():
    return sphere_data(40, 5)
