"""Matching ``/v2/...`` paths to the spec's endpoints.

Repository names contain slashes, so every ``/`` is tried as the end of the name and the longest name that
leaves a valid resource suffix wins (as CNCF distribution resolves ``a/blobs/blobs/x``). Names and references
are validated by the handlers, which answer NAME_INVALID, DIGEST_INVALID or TAG_INVALID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PathMatch", "match_path"]

_SUFFIX = re.compile(
    r"(?P<tags>tags/list)"
    r"|manifests/(?P<reference>[^/]+)"
    r"|blobs/uploads/?(?P<upload>[^/]*)"
    r"|blobs/(?P<digest>[^/]+)"
    r"|referrers/(?P<subject>[^/]+)"
)


@dataclass(frozen=True)
class PathMatch:
    """``kind`` is one of ping, catalog, tags, manifest, blob, uploads, upload, referrers."""

    kind: str
    name: str = ""
    value: str = ""


def match_path(tail: str) -> PathMatch | None:
    """Match the part of the path after ``/v2/``; None when no endpoint has that shape."""
    if tail == "":
        return PathMatch("ping")
    if tail == "_catalog":
        return PathMatch("catalog")
    idx = len(tail)
    while True:
        idx = tail.rfind("/", 0, idx)
        if idx <= 0:
            return None
        m = _SUFFIX.fullmatch(tail, idx + 1)
        if m is not None:
            return _to_match(tail[:idx], m)


def _to_match(name: str, m: re.Match[str]) -> PathMatch:
    if m.group("tags"):
        return PathMatch("tags", name)
    if m.group("reference") is not None:
        return PathMatch("manifest", name, m.group("reference"))
    if m.group("upload") is not None:
        upload = m.group("upload")
        return PathMatch("upload" if upload else "uploads", name, upload)
    if m.group("digest") is not None:
        return PathMatch("blob", name, m.group("digest"))
    return PathMatch("referrers", name, m.group("subject"))
