"""JSON in the forms ketch writes: compact for state, indented for files people read."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps_compact", "dumps_pretty", "load_file"]


def dumps_compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def dumps_pretty(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def load_file(path: str) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read())
