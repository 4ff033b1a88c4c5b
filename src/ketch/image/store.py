"""The image store: a content store plus names (references) mapped to descriptors.

Layout under the ketch root (default ``/var/lib/ketch``)::

    content/blobs/<alg>/<hex>    blobs (see content.local)
    content/ingest/...           ingests in progress
    images.json                  {"images": [{"name", "target", "created"}]}, replaced atomically under images.lock
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ketch._common.atomicio import FileLock, write_atomic
from ketch._common.digest import Digest, InvalidDigest
from ketch._common.ids import validate_container_id
from ketch._common.jsonio import dumps_pretty
from ketch._common.model import model
from ketch.image.content.local import LocalContentStore
from ketch.image.errors import ImageNotFound
from ketch.spec.image import Descriptor
from ketch.spec.reference import InvalidReference, Reference, parse_reference

__all__ = ["DEFAULT_ROOT", "ImageRecord", "ImageStore", "Lease", "normalize_name"]

DEFAULT_ROOT = "/var/lib/ketch"


def normalize_name(name: str | Reference) -> str:
    """The stored form of a name: the fully normalised reference (tag and/or digest)."""
    return str(name if isinstance(name, Reference) else parse_reference(name))


@model(frozen=True)
class ImageRecord:
    name: str
    target: Descriptor
    created: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target.to_json(), "created": self.created}

    @classmethod
    def from_json(cls, o: dict[str, Any]) -> ImageRecord:
        return cls(o["name"], Descriptor.from_json(o["target"], "target"), o["created"])


class ImageStore:
    def __init__(self, root: str = DEFAULT_ROOT, *, durable: bool = True) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.content = LocalContentStore(os.path.join(root, "content"), durable=durable)
        self.durable = durable
        self._path = os.path.join(root, "images.json")
        self._lock_path = os.path.join(root, "images.lock")
        self.gc_lock_path = os.path.join(root, "gc.lock")
        self.leases_dir = os.path.join(root, "leases")

    def lease(self) -> Lease:
        """A context manager keeping the collector away while content is written and named."""
        return Lease(self)

    def pin(self, lease_id: str, digests: list[Digest]) -> None:
        """Keep ``digests`` alive under the persistent lease ``lease_id`` (until :meth:`release_lease`)."""
        validate_container_id(lease_id)
        os.makedirs(self.leases_dir, exist_ok=True)
        path = os.path.join(self.leases_dir, f"{lease_id}.json")
        with FileLock(self._lock_path):
            try:
                with open(path, "rb") as f:
                    held = set(json.load(f)["digests"])
            except FileNotFoundError:
                held = set()
            held |= {str(d) for d in digests}
            write_atomic(path, dumps_pretty({"id": lease_id, "digests": sorted(held)}), durable=self.durable)

    def release_lease(self, lease_id: str) -> None:
        validate_container_id(lease_id)
        try:
            os.unlink(os.path.join(self.leases_dir, f"{lease_id}.json"))
        except FileNotFoundError:
            raise ImageNotFound(f"lease {lease_id!r} not found") from None

    def pinned(self) -> set[Digest]:
        out: set[Digest] = set()
        try:
            names = os.listdir(self.leases_dir)
        except FileNotFoundError:
            return out
        for name in names:
            if name.endswith(".json"):
                try:
                    with open(os.path.join(self.leases_dir, name), "rb") as f:
                        out |= {Digest(d) for d in json.load(f)["digests"]}
                except (OSError, ValueError, KeyError):
                    continue
        return out

    def _load(self) -> dict[str, ImageRecord]:
        try:
            with open(self._path, "rb") as f:
                doc = json.load(f)
        except FileNotFoundError:
            return {}
        return {o["name"]: ImageRecord.from_json(o) for o in doc.get("images", [])}

    def _save(self, records: dict[str, ImageRecord]) -> None:
        doc = {"images": [records[k].to_json() for k in sorted(records)]}
        write_atomic(self._path, dumps_pretty(doc), durable=self.durable)

    @contextmanager
    def _update(self) -> Iterator[dict[str, ImageRecord]]:
        with FileLock(self._lock_path):
            records = self._load()
            yield records
            self._save(records)

    def images(self) -> list[ImageRecord]:
        return sorted(self._load().values(), key=lambda r: r.name)

    def put(self, name: str | Reference, target: Descriptor) -> ImageRecord:
        """Point ``name`` at ``target`` (whose blob must be in the content store)."""
        self.content.info(target.digest)  # BlobNotFound: never name content we do not hold
        key = normalize_name(name)
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._update() as records:
            record = ImageRecord(key, target, now)
            records[key] = record
        return record

    def get(self, name: str | Reference) -> ImageRecord:
        key = normalize_name(name)
        record = self._load().get(key)
        if record is None:
            raise ImageNotFound(f"image {key} not found")
        return record

    def delete(self, name: str | Reference) -> ImageRecord:
        key = normalize_name(name)
        with self._update() as records:
            record = records.pop(key, None)
            if record is None:
                raise ImageNotFound(f"image {key} not found")
        return record

    def delete_where(self, keep: Callable[[ImageRecord], bool]) -> list[ImageRecord]:
        removed = []
        with self._update() as records:
            for key in list(records):
                if not keep(records[key]):
                    removed.append(records.pop(key))
        return removed

    def resolve(self, name: str) -> ImageRecord:
        """Find an image by name, by a digest (``sha256:...``), or by a unique prefix of its digest's hex."""
        records = self._load()
        try:
            return records[normalize_name(name)]
        except (InvalidReference, KeyError):
            pass
        try:
            digest: Digest | None = Digest(name)
        except InvalidDigest:
            digest = None
        hexpart = name.partition(":")[2] if ":" in name else name
        matches = [
            r
            for r in records.values()
            if r.target.digest == digest or (len(hexpart) >= 4 and r.target.digest.hex.startswith(hexpart))
        ]
        if len({r.target.digest for r in matches}) == 1:
            return matches[0]
        if matches:
            raise ImageNotFound(f"image {name!r} is ambiguous: {sorted(r.name for r in matches)}")
        try:
            key = normalize_name(name)
        except InvalidReference as e:
            raise ImageNotFound(f"image {name!r} not found ({e})") from None
        raise ImageNotFound(f"image {key} not found")


class Lease:
    """Protects content being written from garbage collection until the image naming it is stored.

    While any lease is held (a shared flock on ``gc.lock``) the collector cannot run (it takes the lock
    exclusively). A lease may also pin digests by id in ``leases/<id>.json`` beyond the process's life
    (a download resumed later); :meth:`ImageStore.release_lease` drops those.
    """

    def __init__(self, store: ImageStore) -> None:
        self._store = store
        self._fd = -1

    def __enter__(self) -> Lease:
        import fcntl

        self._fd = os.open(self._store.gc_lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
