"""JSON through the C accelerator alone, for start-up-sensitive commands.

``import json`` brings in ``re`` (its decoder and encoder compile patterns at import), a few milliseconds
that ``ketch-runtime`` pays on every call. The C scanner and encoder in ``_json`` need none of it.
Errors still raise ``json.JSONDecodeError`` (a ValueError), imported only then.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["dumps", "dumps_pretty", "loads"]

_WS = " \t\n\r"


def _constant(name: str) -> float:
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo: dict[str, str] = {}


def _unserialisable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # any object with these attributes will do
_encode = _json.make_encoder(None, _unserialisable, _json.encode_basestring, None, ":", ",", False, False, True)


def loads(data: str | bytes) -> Any:
    text = data.decode() if isinstance(data, bytes) else data
    end = len(text)
    start = 0
    while start < end and text[start] in _WS:
        start += 1
    try:
        value, pos = _scan(text, start)
    except StopIteration as stop:
        _fail("Expecting value", text, stop.value)
    while pos < end and text[pos] in _WS:
        pos += 1
    if pos != end:
        _fail("Extra data", text, pos)
    _Context.memo.clear()
    return value


def _fail(msg: str, text: str, pos: int) -> None:
    from json import JSONDecodeError

    raise JSONDecodeError(msg, text, pos)


def dumps(value: Any) -> str:
    """Compact JSON (no spaces), keys in insertion order."""
    return "".join(_encode(value, 0))


def dumps_pretty(value: Any, indent: str = "  ", level: int = 0) -> str:
    """Indented JSON, as people read it."""
    pad = indent * (level + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{dumps(str(k))}: {dumps_pretty(v, indent, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent * level + "}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(pad + dumps_pretty(v, indent, level + 1) for v in value) + "\n" + indent * level + "]"
    return dumps(value)
