"""Every registry process a test starts is gone when the test ends, even when it failed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from registry_proc import kill_leftovers


@pytest.fixture(autouse=True, scope="module")
def _no_leftover_servers() -> Iterator[None]:
    yield
    kill_leftovers()
