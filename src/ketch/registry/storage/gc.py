"""Online garbage collection: mark every blob some manifest needs, sweep the rest.

Safety while the registry keeps serving:

- It holds the collection lock exclusively; manifest pushes, mounts and upload completions hold it shared,
  so a manifest is either fully visible to the mark phase or is written after the sweep (and then finds
  its blobs gone only if they were unreferenced *and* older than the grace period).
- Blobs modified within ``grace`` seconds are never swept: a blob just uploaded (or re-uploaded, mounted,
  or deduplicated, which refresh its mtime) is waiting for the manifest that will reference it.
- Uploads in progress live under ``_uploads`` and are not blobs yet; only uploads older than
  ``upload_max_age`` are purged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ketch._common.digest import ALGORITHMS, Digest, InvalidDigest
from ketch.registry.storage import paths
from ketch.registry.storage.driver import PathNotFound
from ketch.registry.storage.errors import BlobUnknown, ManifestUnknown
from ketch.registry.storage.registry import RegistryStore
from ketch.spec.distribution import InvalidManifest, ManifestInfo, parse_manifest

__all__ = ["GCResult", "collect_garbage"]


@dataclass
class GCResult:
    blobs_deleted: int = 0
    bytes_freed: int = 0
    manifests_deleted: int = 0
    links_removed: int = 0
    uploads_purged: int = 0


def _info(store: RegistryStore, name: str, digest: Digest) -> ManifestInfo | None:
    try:
        meta, body = store.manifests.get(name, digest)
        return parse_manifest(body, meta.media_type)
    except (ManifestUnknown, BlobUnknown, InvalidManifest):
        return None


def _reachable(store: RegistryStore, name: str) -> set[Digest]:
    """Manifests reachable from tags, through index children and referrers."""
    todo: list[Digest] = []
    for tag in store.manifests.tags(name):
        try:
            todo.append(store.manifests.resolve(name, tag))
        except ManifestUnknown:
            continue
    seen: set[Digest] = set()
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        info = _info(store, name, d)
        if info is not None:
            todo += [c.digest for c in info.children]
        todo += [Digest(str(r["digest"])) for r in store.manifests.referrers(name, d)]
    return seen


def collect_garbage(
    store: RegistryStore,
    *,
    grace: float = 3600.0,
    untagged: bool = False,
    upload_max_age: float | None = None,
    now: float | None = None,
) -> GCResult:
    now = time.time() if now is None else now
    result = GCResult()
    with store.lock.exclusive():
        repos = store.catalog()
        marked: set[str] = set()
        for name in repos:
            revisions = store.manifests.revisions(name)
            if untagged:
                keep = _reachable(store, name)
                for d in revisions:
                    if d not in keep:
                        try:
                            store.manifests.delete(name, d)
                            result.manifests_deleted += 1
                        except ManifestUnknown:
                            pass
                revisions = [d for d in revisions if d in keep]
            for d in revisions:
                marked.add(str(d))
                info = _info(store, name, d)
                if info is not None:
                    marked.update(str(b.digest) for b in info.blobs)
        driver = store.driver
        for alg in ALGORITHMS:
            base = f"{paths.blobs_root()}/{alg}"
            try:
                prefixes = driver.list(base)
            except PathNotFound:
                continue
            for prefix in prefixes:
                try:
                    hexes = driver.list(f"{base}/{prefix}")
                except PathNotFound:
                    continue
                for hx in hexes:
                    try:
                        digest = Digest(f"{alg}:{hx}")
                    except InvalidDigest:
                        continue
                    if str(digest) in marked:
                        continue
                    try:
                        st = driver.stat(paths.blob_data(digest))
                    except PathNotFound:
                        continue
                    if st.mtime > now - grace:
                        continue
                    try:
                        driver.delete(paths.blob_dir(digest))
                    except PathNotFound:
                        continue
                    result.blobs_deleted += 1
                    result.bytes_freed += st.size
        for name in repos:
            result.links_removed += _prune_links(store, name)
            if upload_max_age is not None:
                result.uploads_purged += len(store.uploads.purge(name, now - upload_max_age))
    return result


def _prune_links(store: RegistryStore, name: str) -> int:
    removed = 0
    for alg in ALGORITHMS:
        base = f"{paths.layers_root(name)}/{alg}"
        try:
            hexes = store.driver.list(base)
        except PathNotFound:
            continue
        for hx in hexes:
            try:
                digest = Digest(f"{alg}:{hx}")
            except InvalidDigest:
                continue
            if not store.blobs.exists(digest):
                try:
                    store.driver.delete(f"{base}/{hx}")
                    removed += 1
                except PathNotFound:
                    pass
    return removed
