"""Pulling an image into a content store: resolve, pick the platform, fetch config and layers concurrently
(each verified while it streams into an ingest, resumable), then store the manifests children-first.

The content store is anything with ``has(digest)`` and ``writer(ref, expected, size)`` (the image part's
``LocalContentStore`` is one). Platform choice is the caller's ``select`` (the image part's
``select_manifest``), so the client stays free of image code. ``on_blob`` is called from the worker thread
as each config or layer is in the store, which lets the caller unpack layers while others still download.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from ketch._common.digest import Digest
from ketch.registry.client.errors import ClientError, ContentMismatch, Unsupported
from ketch.registry.client.progress import NullProgress, Progress
from ketch.registry.client.repository import Repository
from ketch.spec.distribution import INDEX_MEDIA_TYPES
from ketch.spec.image import (
    MANIFEST_MEDIA_TYPES,
    Descriptor,
    ImageSpecError,
    Index,
    Manifest,
)

__all__ = ["BlobSink", "PullResult", "SinkWriter", "pull", "store_bytes"]

Select = Callable[[Callable[[Descriptor], bytes], Descriptor], Descriptor]
OnBlob = Callable[[Descriptor, Manifest, Descriptor], None]
_MAX_DEPTH = 8
_BUSY_WAIT = 600.0


class SinkWriter(Protocol):
    @property
    def offset(self) -> int: ...

    def write(self, data: bytes) -> None: ...

    def commit(self) -> object: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class BlobSink(Protocol):
    def has(self, digest: Digest) -> bool: ...

    def writer(self, ref: str, expected: Digest, size: int | None = None) -> SinkWriter: ...


@dataclass
class PullResult:
    resolved: Descriptor  # what the reference named (an index or a manifest)
    target: Descriptor  # what to name locally: the platform's manifest, or the whole index (all platforms)
    manifests: list[Descriptor] = field(default_factory=list)
    fetched: int = 0
    skipped: int = 0
    bytes: int = 0


def store_bytes(sink: BlobSink, desc: Descriptor, data: bytes) -> None:
    """Put a verified document into the sink (no-op when present)."""
    if sink.has(desc.digest):
        return
    w = sink.writer(f"pull-{desc.digest}", desc.digest, desc.size)
    try:
        if w.offset:
            w.abort()
            w = sink.writer(f"pull-{desc.digest}", desc.digest, desc.size)
        w.write(data)
        w.commit()
    except ClientError:
        w.abort()
        raise
    except OSError:
        w.abort()
        raise
    except Exception as e:
        raise ContentMismatch(f"blob {desc.digest}: {e}") from None


class _Puller:
    def __init__(
        self,
        repo: Repository,
        sink: BlobSink,
        progress: Progress,
        on_blob: OnBlob | None,
        busy: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.busy = busy
        self.repo = repo
        self.sink = sink
        self.progress = progress
        self.on_blob = on_blob
        self.docs: dict[Digest, bytes] = {}
        self.result_fetched = 0
        self.result_skipped = 0
        self.result_bytes = 0
        self.lock = threading.Lock()

    def read(self, desc: Descriptor) -> bytes:
        """A manifest, index or config, verified (held in memory; stored in the sink at the end)."""
        if desc.data is not None:
            return desc.data
        cached = self.docs.get(desc.digest)
        if cached is not None:
            return cached
        if desc.media_type in MANIFEST_MEDIA_TYPES | INDEX_MEDIA_TYPES:
            _, data = self.repo.fetch_manifest(str(desc.digest), desc)
        else:
            data = self.repo.read_blob(desc)
        self.docs[desc.digest] = data
        return data

    def manifests_under(self, desc: Descriptor, depth: int = 0) -> list[Descriptor]:
        """Every image manifest an index reaches (all platforms), depth-first."""
        if desc.media_type in MANIFEST_MEDIA_TYPES:
            return [desc]
        if depth > _MAX_DEPTH:
            raise Unsupported(f"index {desc.digest}: indexes nested deeper than {_MAX_DEPTH}")
        index = _parse_index(self.read(desc), desc)
        out = []
        for child in index.manifests:
            if child.media_type in MANIFEST_MEDIA_TYPES | INDEX_MEDIA_TYPES:
                out += self.manifests_under(child, depth + 1)
        return out

    def _writer(self, desc: Descriptor) -> SinkWriter | None:
        """The ingest for ``desc``; while another process holds it (``busy``), wait for that one to finish
        (None: the blob is in) or give up (its holder died and the lock is free again: take it)."""
        deadline = time.monotonic() + _BUSY_WAIT
        while True:
            try:
                w = self.sink.writer(f"pull-{desc.digest}", desc.digest, desc.size)
                if self.sink.has(desc.digest):  # the other writer committed just before
                    w.abort()
                    return None
                return w
            except self.busy:
                if self.sink.has(desc.digest):
                    return None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def fetch(self, manifest_desc: Descriptor, manifest: Manifest, desc: Descriptor) -> None:
        key = f"{desc.digest}"
        label = desc.digest.hex[:12]
        if self.sink.has(desc.digest):
            with self.lock:
                self.result_skipped += 1
            self.progress.start(key, label, desc.size)
            self.progress.finish(key, "already present")
        else:
            self.progress.start(key, label, desc.size)
            w = self._writer(desc)
            if w is None:  # another pull wrote it meanwhile
                with self.lock:
                    self.result_skipped += 1
                self.progress.finish(key, "already present")
                if self.on_blob is not None:
                    self.on_blob(manifest_desc, manifest, desc)
                return
            resumed = w.offset
            if resumed:
                self.progress.advance(key, resumed)
            try:
                self.repo.fetch_blob(desc, w, on_bytes=lambda n: self.progress.advance(key, n))
            except ContentMismatch:
                w.abort()
                self.progress.finish(key, "failed")
                raise
            except OSError:
                w.abort()  # a local failure (full disk): free what the ingest held
                self.progress.finish(key, "failed")
                raise
            except BaseException:
                w.close()  # keep the bytes: the next pull resumes from them
                self.progress.finish(key, "failed")
                raise
            try:
                w.commit()
            except OSError:
                self.progress.finish(key, "failed")
                raise
            except Exception as e:  # the store's digest/size check (it already dropped the ingest)
                self.progress.finish(key, "failed")
                raise ContentMismatch(f"blob {self.repo.name}@{desc.digest}: {e}") from None
            with self.lock:
                self.result_fetched += 1
                self.result_bytes += desc.size - resumed
            self.progress.finish(key, "downloaded")
        if self.on_blob is not None:
            self.on_blob(manifest_desc, manifest, desc)


def _parse_index(data: bytes, desc: Descriptor) -> Index:
    try:
        return Index.parse(data)
    except ImageSpecError as e:
        raise Unsupported(f"index {desc.digest}: {e}") from None


def _parse_manifest(data: bytes, desc: Descriptor) -> Manifest:
    try:
        return Manifest.parse(data)
    except ImageSpecError as e:
        raise Unsupported(f"manifest {desc.digest}: {e}") from None


def pull(
    repo: Repository,
    reference: str,
    sink: BlobSink,
    *,
    select: Select | None = None,
    all_platforms: bool = False,
    progress: Progress | None = None,
    on_blob: OnBlob | None = None,
    workers: int = 4,
    busy: tuple[type[BaseException], ...] = (),
) -> PullResult:
    """Pull ``reference`` (a tag or a digest) of ``repo`` into ``sink``.

    An index is narrowed to one manifest with ``select`` unless ``all_platforms`` (then every manifest it
    reaches is pulled and the index is the target). Blobs already in the sink are not fetched; ``busy`` are the
    sink's exceptions for an ingest another writer holds (a concurrent pull of the same blob), which is waited
    for. Manifests are
    written last, children before parents, so a manifest in the store implies its content is there too.
    """
    p = _Puller(repo, sink, progress or NullProgress(), on_blob, busy)
    resolved, data = repo.fetch_manifest(reference)
    p.docs[resolved.digest] = data
    if resolved.media_type in INDEX_MEDIA_TYPES:
        if all_platforms:
            manifests = p.manifests_under(resolved)
            target = resolved
        else:
            if select is None:
                raise Unsupported(f"{repo.name}:{reference} is an index and no platform was chosen")
            chosen = select(p.read, resolved)
            manifests = [chosen]
            target = chosen
    elif resolved.media_type in MANIFEST_MEDIA_TYPES:
        manifests = [resolved]
        target = resolved
    else:
        # An artifact manifest of another type: store it alone.
        store_bytes(sink, resolved, data)
        return PullResult(resolved, resolved, [resolved])
    parsed = [(m, _parse_manifest(p.read(m), m)) for m in manifests]
    jobs: list[tuple[Descriptor, Manifest, Descriptor]] = []
    seen: set[Digest] = set()
    for mdesc, manifest in parsed:
        for blob in [manifest.config, *manifest.layers]:
            if blob.data is not None and blob.digest not in seen:
                seen.add(blob.digest)
                store_bytes(sink, blob, blob.data)
                if on_blob is not None:
                    on_blob(mdesc, manifest, blob)
                continue
            if blob.digest in seen:
                continue
            seen.add(blob.digest)
            jobs.append((mdesc, manifest, blob))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="pull") as pool:
        futures: list[Future[None]] = [pool.submit(p.fetch, *job) for job in jobs]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            for f in pending:
                f.cancel()
            wait(pending)
            exc = failed[0].exception()
            assert exc is not None
            raise exc
    # Manifests children-first, the index last.
    for mdesc, _ in parsed:
        store_bytes(sink, mdesc, p.read(mdesc))
    if target is resolved and resolved.media_type in INDEX_MEDIA_TYPES:
        _store_indexes(p, sink, resolved)
    return PullResult(
        resolved=resolved,
        target=target,
        manifests=[m for m, _ in parsed],
        fetched=p.result_fetched,
        skipped=p.result_skipped,
        bytes=p.result_bytes,
    )


def _store_indexes(p: _Puller, sink: BlobSink, desc: Descriptor, depth: int = 0) -> None:
    """Nested indexes before the ones listing them (their manifests are in already)."""
    if desc.media_type not in INDEX_MEDIA_TYPES or depth > _MAX_DEPTH:
        return
    for child in _parse_index(p.read(desc), desc).manifests:
        _store_indexes(p, sink, child, depth + 1)
    store_bytes(sink, desc, p.read(desc))
