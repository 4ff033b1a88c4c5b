"""Skipping integration tests when a peer tool or root is missing."""

from __future__ import annotations

import os
import shutil

import pytest


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    if os.geteuid() != 0:
        pytest.skip("needs root")
