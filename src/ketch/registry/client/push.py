"""Pushing an image from a content store: blobs first (HEAD, then a cross-repository mount when another
repository of the registry is known to hold the blob, else an upload), then manifests children-first and
the index last (spec.md "Pushing Manifests": a manifest's blobs and children must be there before it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from ketch._common.digest import Digest
from ketch.registry.client.errors import Unsupported
from ketch.registry.client.progress import NullProgress, Progress
from ketch.registry.client.repository import Repository
from ketch.spec.distribution import INDEX_MEDIA_TYPES
from ketch.spec.image import MANIFEST_MEDIA_TYPES, Descriptor, ImageSpecError, Index, Manifest

__all__ = ["BlobSource", "PushResult", "push"]

Select = Callable[[Callable[[Descriptor], bytes], Descriptor], Descriptor]
_MAX_DEPTH = 8


class BlobSource(Protocol):
    """Where pushed content comes from (a content store: ``open`` a blob by digest)."""

    def open(self, digest: Digest) -> BinaryIO: ...


@dataclass
class PushResult:
    target: Descriptor  # what the tag now names on the registry
    uploaded: list[Digest] = field(default_factory=list)
    mounted: list[Digest] = field(default_factory=list)
    existed: list[Digest] = field(default_factory=list)
    manifests: list[Descriptor] = field(default_factory=list)


class _Pusher:
    def __init__(
        self,
        repo: Repository,
        source: BlobSource,
        read: Callable[[Descriptor], bytes],
        progress: Progress,
        mount_from: Callable[[Digest], list[str]] | None,
        chunk_threshold: int,
        chunk_size: int,
    ) -> None:
        self.repo = repo
        self.source = source
        self.read = read
        self.progress = progress
        self.mount_from = mount_from
        self.chunk_threshold = chunk_threshold
        self.chunk_size = chunk_size
        self.result_lock = threading.Lock()
        self.uploaded: list[Digest] = []
        self.mounted: list[Digest] = []
        self.existed: list[Digest] = []

    def blob(self, desc: Descriptor) -> None:
        key = str(desc.digest)
        self.progress.start(key, desc.digest.hex[:12], desc.size)
        try:
            how = self.repo.upload_blob(
                desc,
                lambda: self.source.open(desc.digest),
                on_bytes=lambda n: self.progress.advance(key, n),
                mount_from=self.mount_from(desc.digest) if self.mount_from else (),
                chunk_threshold=self.chunk_threshold,
                chunk_size=self.chunk_size,
            )
        except BaseException:
            self.progress.finish(key, "failed")
            raise
        status = {"exists": "already exists", "mounted": "mounted", "uploaded": "uploaded"}[how]
        self.progress.finish(key, status)
        with self.result_lock:
            {"exists": self.existed, "mounted": self.mounted, "uploaded": self.uploaded}[how].append(
                desc.digest
            )


def _manifests_under(
    read: Callable[[Descriptor], bytes], desc: Descriptor, depth: int = 0
) -> list[Descriptor]:
    """Image manifests and nested indexes an index reaches, children before their parents."""
    if desc.media_type not in INDEX_MEDIA_TYPES:
        return [desc]
    if depth > _MAX_DEPTH:
        raise Unsupported(f"index {desc.digest}: indexes nested deeper than {_MAX_DEPTH}")
    try:
        index = Index.parse(read(desc))
    except ImageSpecError as e:
        raise Unsupported(f"index {desc.digest}: {e}") from None
    out: list[Descriptor] = []
    for child in index.manifests:
        out += _manifests_under(read, child, depth + 1)
    return [*out, desc]


def push(
    repo: Repository,
    tag: str | None,
    source: BlobSource,
    root: Descriptor,
    read: Callable[[Descriptor], bytes],
    *,
    select: Select | None = None,
    all_platforms: bool = False,
    progress: Progress | None = None,
    mount_from: Callable[[Digest], list[str]] | None = None,
    workers: int = 4,
    chunk_threshold: int = 32 << 20,
    chunk_size: int = 16 << 20,
) -> PushResult:
    """Push the image ``root`` (read from ``source``; ``read`` gives verified documents) as ``repo:tag``
    (by digest when ``tag`` is None). An index is narrowed to one manifest with ``select`` unless
    ``all_platforms``."""
    if root.media_type in INDEX_MEDIA_TYPES and not all_platforms:
        if select is None:
            raise Unsupported(f"image {root.digest} is an index: choose a platform or push all platforms")
        root = select(read, root)
    order = _manifests_under(read, root)
    p = _Pusher(repo, source, read, progress or NullProgress(), mount_from, chunk_threshold, chunk_size)
    blobs: dict[Digest, Descriptor] = {}
    for desc in order:
        if desc.media_type in MANIFEST_MEDIA_TYPES:
            try:
                manifest = Manifest.parse(read(desc))
            except ImageSpecError as e:
                raise Unsupported(f"manifest {desc.digest}: {e}") from None
            for blob in [manifest.config, *manifest.layers]:
                if blob.urls and blob.media_type.endswith("foreign.diff.tar.gzip"):
                    continue  # non-distributable: the registry is not meant to hold it
                blobs.setdefault(blob.digest, blob)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="push") as pool:
        futures: list[Future[None]] = [pool.submit(p.blob, b) for b in blobs.values()]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            for f in pending:
                f.cancel()
            wait(pending)
            exc = failed[0].exception()
            assert exc is not None
            raise exc
    for desc in order:
        reference = tag if (desc is root and tag) else str(desc.digest)
        repo.put_manifest(reference, desc.media_type, read(desc))
    return PushResult(
        target=root,
        uploaded=p.uploaded,
        mounted=p.mounted,
        existed=p.existed,
        manifests=order,
    )
