"""Which repositories of which registry are known to hold a blob: the hints for cross-repository mounts.

A pull records the repository it fetched each blob from, a push the repository it pushed to (as containerd
labels content with ``containerd.io/distribution.source.<registry>``). Kept in one JSON file, replaced
atomically under a lock; a few repositories per blob and registry are remembered, most recent first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from ketch._common.atomicio import FileLock, write_atomic
from ketch._common.digest import Digest

__all__ = ["BlobSources"]

_KEEP = 4


class BlobSources:
    def __init__(self, path: str) -> None:
        self.path = path

    def _load(self) -> dict[str, dict[str, list[str]]]:
        try:
            with open(self.path, "rb") as f:
                doc = json.load(f)
        except (FileNotFoundError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def lookup(self, registry: str, digest: Digest) -> list[str]:
        repos = self._load().get(registry, {}).get(str(digest), [])
        return [r for r in repos if isinstance(r, str)]

    def record(self, registry: str, repository: str, digests: Iterable[Digest]) -> None:
        wanted = [str(d) for d in digests]
        if not wanted:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with FileLock(self.path + ".lock"):
            doc = self._load()
            per = doc.setdefault(registry, {})
            for d in wanted:
                repos = [r for r in per.get(d, []) if r != repository]
                per[d] = [repository, *repos][:_KEEP]
            write_atomic(self.path, json.dumps(doc, separators=(",", ":")).encode(), durable=False)
