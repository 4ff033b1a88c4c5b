"""The CRI image service over ketch's image store: list, status, remove, pull (through a puller), fs usage,
and root filesystems for containers (snapshots).

An image's CRI id is its config digest (as containerd reports it); ``repo_tags`` are the store's names
with a tag and ``repo_digests`` are ``repository@<manifest digest>``.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Protocol

from ketch.cri.errors import InvalidArgument, NotFound, Unavailable
from ketch.image.errors import ImageError, ImageNotFound
from ketch.image.resolve import Image, load_image
from ketch.image.snapshot import CopySnapshotter, OverlaySnapshotter, Snapshotter
from ketch.image.store import ImageRecord, ImageStore
from ketch.spec.reference import InvalidReference, parse_reference

__all__ = ["ImageInfo", "ImageManager", "PullAuth", "Puller"]


@dataclass(frozen=True)
class PullAuth:
    """AuthConfig of a PullImageRequest (api.proto): a username/password, or a token."""

    username: str = ""
    password: str = ""
    auth: str = ""  # base64 "user:password"
    server_address: str = ""
    identity_token: str = ""
    registry_token: str = ""


class Puller(Protocol):
    """Fetch ``reference`` from its registry into ``store`` and name it there; returns the stored name."""

    def pull(self, store: ImageStore, reference: str, auth: PullAuth | None) -> str: ...


@dataclass
class ImageInfo:
    id: str
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    size: int = 0
    uid: int | None = None
    username: str = ""
    info: dict[str, str] = field(default_factory=dict)


class ImageManager:
    def __init__(self, root: str, snapshotter: str = "overlay", puller: Puller | None = None) -> None:
        self.root = root
        self.store = ImageStore(root)
        self.snapshots: Snapshotter = OverlaySnapshotter(root) if snapshotter == "overlay" else CopySnapshotter(root)
        self.puller = puller
        # Loaded images by the digest their name points at: content-addressed, so never stale. Only
        # complete images are cached (load_image checked every layer is present).
        self._loaded: dict[str, Image] = {}

    # -- lookups ----------------------------------------------------------------------------------------

    def _load(self, rec: ImageRecord) -> Image:
        key = str(rec.target.digest)
        img = self._loaded.get(key)
        if img is None or not self._present(img):
            img = load_image(self.store.content, rec.target)
            if len(self._loaded) > 4096:
                self._loaded.clear()
            self._loaded[key] = img
        return img

    def _present(self, img: Image) -> bool:
        # Garbage collection may have removed the content since: check the cheap way (the config blob).
        from ketch.image.errors import BlobNotFound

        try:
            self.store.content.info(img.manifest.config.digest)
        except BlobNotFound:
            return False
        return True

    def _groups(self) -> dict[str, tuple[Image, list[ImageRecord]]]:
        groups: dict[str, tuple[Image, list[ImageRecord]]] = {}
        for rec in self.store.images():
            try:
                img = self._load(rec)
            except ImageError:
                continue  # an incomplete image (pull in progress, content collected) is not listed
            cid = str(img.manifest.config.digest)
            if cid in groups:
                groups[cid][1].append(rec)
            else:
                groups[cid] = (img, [rec])
        return groups

    def _info(self, cid: str, img: Image, recs: list[ImageRecord]) -> ImageInfo:
        tags, digests = [], []
        for r in recs:
            ref = parse_reference(r.name)
            if ref.tag is not None:
                tags.append(f"{ref.name}:{ref.tag}")
            digests.append(f"{ref.name}@{img.manifest_descriptor.digest}")
        size = img.manifest.config.size + sum(layer.size for layer in img.manifest.layers)
        out = ImageInfo(cid, sorted(set(tags)), sorted(set(digests)), size)
        user = (img.config.config.user if img.config.config else None) or ""
        name = user.partition(":")[0]
        if name.isdigit():
            out.uid = int(name)
        elif name:
            out.username = name
        else:
            out.uid = 0
        return out

    def list(self) -> list[ImageInfo]:
        return [self._info(cid, img, recs) for cid, (img, recs) in sorted(self._groups().items())]

    def find(self, ref: str) -> tuple[ImageInfo, Image, ImageRecord]:
        """An image by name, by id (config digest, or a unique prefix of its hex), or by repo digest."""
        if not ref:
            raise InvalidArgument("image reference is empty")
        groups = self._groups()
        want = ref if ":" in ref or len(ref) < 64 else "sha256:" + ref
        for cid, (img, recs) in groups.items():
            if cid == want or cid == "sha256:" + ref:
                return self._info(cid, img, recs), img, recs[0]
        hits = [cid for cid in groups if len(ref) >= 6 and cid.partition(":")[2].startswith(ref)]
        if len(hits) == 1:
            img, recs = groups[hits[0]]
            return self._info(hits[0], img, recs), img, recs[0]
        try:
            rec = self.store.resolve(ref)
        except (ImageNotFound, InvalidReference):
            raise NotFound(f"image {ref!r} not found") from None
        try:
            img = self._load(rec)
        except ImageError as e:
            raise NotFound(f"image {ref!r} is not usable: {e}") from None
        cid = str(img.manifest.config.digest)
        return self._info(cid, img, groups.get(cid, (img, [rec]))[1]), img, rec

    def status(self, ref: str) -> ImageInfo | None:
        try:
            return self.find(ref)[0]
        except NotFound:
            return None

    def remove(self, ref: str) -> bool:
        """Drop every name of the image ``ref`` (RemoveImage: an image already gone is no error)."""
        try:
            info, _img, _rec = self.find(ref)
        except NotFound:
            return False
        names = set()
        for cid, (_i, recs) in self._groups().items():
            if cid == info.id:
                names |= {r.name for r in recs}
        self.store.delete_where(lambda r: r.name not in names)
        return True

    async def pull(self, ref: str, auth: PullAuth | None) -> str:
        try:
            parsed = parse_reference(ref)
        except InvalidReference as e:
            raise InvalidArgument(f"image reference {ref!r}: {e}") from None
        if self.puller is None:
            raise Unavailable(f"cannot pull {parsed}: ketchd has no registry client configured")
        name = await asyncio.to_thread(self.puller.pull, self.store, str(parsed), auth)
        info, _img, _rec = self.find(name)
        return info.id

    # -- filesystem usage --------------------------------------------------------------------------------

    def fs_usage(self) -> tuple[int, int, int, str]:
        """(timestamp ns, bytes used, inodes used, mountpoint) of the image store (content + layers)."""
        used = inodes = 0
        for top in (os.path.join(self.root, "content"), os.path.join(self.root, "snapshots")):
            for dirpath, dirs, files in os.walk(top):
                for n in files + dirs:
                    try:
                        st = os.lstat(os.path.join(dirpath, n))
                    except FileNotFoundError:
                        continue
                    used += st.st_blocks * 512
                    inodes += 1
        return time.time_ns(), used, inodes, self.root

    # -- container root filesystems ------------------------------------------------------------------------

    def prepare_rootfs(self, key: str, img: Image, target: str) -> None:
        self.snapshots.prepare(key, self.store.content, img)
        try:
            os.makedirs(target, exist_ok=True)
            self.snapshots.mount(key, target)
        except BaseException:
            self.snapshots.remove(key)
            raise

    def remove_snapshot(self, key: str) -> None:
        from ketch.image.errors import SnapshotError

        try:
            self.snapshots.remove(key)
        except SnapshotError:
            pass

    def snapshot_usage(self, key: str) -> tuple[int, int]:
        try:
            top = self.snapshots.changes_dir(key)
        except ImageError:
            return 0, 0
        used = inodes = 0
        for dirpath, dirs, files in os.walk(top):
            for n in files + dirs:
                try:
                    used += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
                except FileNotFoundError:
                    continue
                inodes += 1
        return used, inodes
