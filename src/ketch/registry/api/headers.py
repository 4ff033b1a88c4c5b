"""Parsing and building the HTTP headers the distribution protocol relies on.

- upload ``Content-Range``/``Range`` (``<start>-<end>``, inclusive, no unit: spec.md "Pushing a blob in chunks")
- request ``Range`` for blob GET (RFC 9110 section 14.2, single range only)
- ``WWW-Authenticate`` challenges (RFC 9110 section 11.6.1; token.md for the Bearer parameters)
- ``Link`` for pagination (RFC 8288; spec.md "Listing Tags")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ByteRange",
    "Challenge",
    "HeaderError",
    "build_challenge",
    "build_link",
    "parse_byte_range",
    "parse_challenges",
    "parse_link_next",
    "parse_upload_range",
    "upload_range",
]


class HeaderError(ValueError):
    """A header value does not have the form the protocol requires."""


_UPLOAD_RANGE = re.compile(r"^(?:bytes[= ])?(\d{1,19})-(\d{1,19})$")


def parse_upload_range(value: str) -> tuple[int, int]:
    """``Content-Range: <start>-<end>`` of a chunk (inclusive). A ``bytes=``/``bytes `` prefix is tolerated."""
    m = _UPLOAD_RANGE.match(value.strip())
    if not m:
        raise HeaderError(f"Content-Range {value!r} is not of the form <start>-<end>")
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise HeaderError(f"Content-Range {value!r} ends before it starts")
    return start, end


def upload_range(size: int) -> str:
    """The ``Range`` header of an upload holding ``size`` bytes: ``0-<last offset>`` (``0-0`` when empty,
    as CNCF distribution sends; clients read the end offset)."""
    return f"0-{max(size - 1, 0)}"


@dataclass(frozen=True)
class ByteRange:
    """A satisfiable single range: ``start`` .. ``end`` inclusive."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, total: int) -> str:
        return f"bytes {self.start}-{self.end}/{total}"


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_byte_range(value: str, size: int) -> ByteRange | None:
    """Resolve a request ``Range`` against a blob of ``size`` bytes.

    Returns None when the header should be ignored (not a single bytes range: RFC 9110 lets servers serve the
    whole representation). Raises :class:`HeaderError` when the range cannot be satisfied (416).
    """
    m = _RANGE.match(value.replace(" ", ""))
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise HeaderError(f"range {value!r} is not satisfiable for {size} bytes")
        return ByteRange(max(size - n, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # syntactically invalid: ignored per RFC 9110 14.2
    if start >= size:
        raise HeaderError(f"range {value!r} starts beyond the {size} bytes available")
    return ByteRange(start, min(end, size - 1))


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a scheme and its parameters (names lowercased)."""

    scheme: str
    params: dict[str, str]


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_challenge(scheme: str, **params: str) -> str:
    """``Bearer realm="...",service="...",scope="..."``; empty values are left out."""
    parts = [f"{k}={_quote(v)}" for k, v in params.items() if v]
    return f"{scheme} " + ",".join(parts) if parts else scheme


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM_RE = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN})\s*(,|$)')
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


def parse_challenges(value: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges (auth-params only; token68 is skipped)."""
    out: list[Challenge] = []
    pos = 0
    n = len(value)
    while pos < n:
        while pos < n and value[pos] in ", ":
            pos += 1
        if pos >= n:
            break
        m = _SCHEME_RE.match(value, pos)
        if not m:
            raise HeaderError(f"WWW-Authenticate {value!r} has no auth scheme at offset {pos}")
        scheme = m.group(1)
        pos = m.end()
        params: dict[str, str] = {}
        while pos < n:
            pm = _PARAM_RE.match(value, pos)
            if not pm:
                break
            raw = pm.group(2)
            if raw.startswith('"'):
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            params[pm.group(1).lower()] = raw
            pos = pm.end()
        out.append(Challenge(scheme, params))
    return out


def build_link(path: str, **query: str) -> str:
    """``Link: <path?n=..&last=..>; rel="next"`` (spec.md "Listing Tags")."""
    from urllib.parse import urlencode

    qs = urlencode(query, safe="/:")
    return f'<{path}?{qs}>; rel="next"' if qs else f'<{path}>; rel="next"'


_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def parse_link_next(value: str) -> str | None:
    """The target of the ``rel="next"`` link, or None."""
    m = _LINK_RE.search(value)
    return m.group(1) if m else None
