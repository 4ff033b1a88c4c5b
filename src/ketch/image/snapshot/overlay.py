"""The overlayfs snapshotter: every layer unpacked once, into its own directory keyed by its DiffID, in
overlayfs' whiteout form; a container root is an overlay mount of those directories plus a writable upper.

Layout under ``<root>/snapshots/overlay``::

    layers/<alg>-<hex>/          one unpacked layer (renamed into place when complete)
    layers/empty/                the lower dir of an image with no layers
    active/<key>/upper, work     a container's writable layer and overlayfs' work dir
    active/<key>/meta.json       {"layers": [DiffIDs lowest first]}
    tmp/                         layers being unpacked
"""

from __future__ import annotations

import json
import os
import shutil

from ketch._common.atomicio import write_atomic
from ketch._common.digest import Digest, InvalidDigest
from ketch._common.ids import InvalidName, validate_container_id
from ketch._common.jsonio import dumps_pretty
from ketch.image.content.protocol import ContentStore
from ketch.image.errors import SnapshotError
from ketch.image.resolve import Image
from ketch.image.snapshot.protocol import ActiveSnapshot, Mount, discard_snapshot
from ketch.linux.fd import syncfs
from ketch.linux.mount import mount as sys_mount

__all__ = ["OverlaySnapshotter", "tree_size"]

# mount(2) copies at most one page of options; longer lowerdir lists are given relative to the layers dir.
_MAX_OPTIONS = 4000


def tree_size(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                continue
    return total


def _layer_name(diff_id: Digest) -> str:
    return f"{diff_id.algorithm}-{diff_id.hex}"


def _check_key(key: str) -> str:
    try:
        return validate_container_id(key)
    except InvalidName as e:
        raise SnapshotError(f"invalid snapshot key: {e}") from None


class OverlaySnapshotter:
    name = "overlay"

    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "snapshots", "overlay")
        self.layers_dir = os.path.join(self.root, "layers")
        self.active_dir = os.path.join(self.root, "active")
        self.tmp_dir = os.path.join(self.root, "tmp")
        for d in (self.layers_dir, self.active_dir, self.tmp_dir):
            os.makedirs(d, exist_ok=True)

    # -- layers ----------------------------------------------------------------------------------------

    def layer_path(self, diff_id: Digest) -> str:
        return os.path.join(self.layers_dir, _layer_name(diff_id))

    def ensure_layer(self, content: ContentStore, image: Image, index: int) -> str:
        """Unpack layer ``index`` of ``image`` unless already there; safe against concurrent unpackers."""
        layer, diff_id = image.layers[index]
        final = self.layer_path(diff_id)
        if os.path.isdir(final):
            return final
        scratch = os.path.join(self.tmp_dir, f"{_layer_name(diff_id)}.{os.getpid()}.{os.urandom(4).hex()}")
        os.mkdir(scratch, 0o755)
        from ketch.image.layer.unpack import apply_layer  # only when a layer is not unpacked yet

        try:
            # overlay form: whiteouts become 0/0 char devices and trusted.overlay.opaque (overlayfs.rst)
            apply_layer(content, layer, scratch, diff_id=diff_id, whiteouts="overlay")
            # the layer's files reach the disk before its name does: a crash leaves no half-written layer
            syncfs(scratch)
            try:
                os.rename(scratch, final)  # atomic: the layer appears whole or not at all
            except OSError:
                if not os.path.isdir(final):
                    raise
                shutil.rmtree(scratch, ignore_errors=True)  # another process unpacked it first
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return final

    def layers(self) -> list[Digest]:
        out = []
        for name in sorted(os.listdir(self.layers_dir)):
            alg, _, hexpart = name.partition("-")
            try:
                out.append(Digest(f"{alg}:{hexpart}"))
            except InvalidDigest:
                continue
        return out

    def remove_layer(self, diff_id: Digest) -> int:
        path = self.layer_path(diff_id)
        doomed = os.path.join(self.tmp_dir, f"rm-{_layer_name(diff_id)}.{os.urandom(4).hex()}")
        try:
            os.rename(path, doomed)
        except FileNotFoundError:
            return 0
        size = tree_size(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        return size

    # -- active snapshots ------------------------------------------------------------------------------

    def _active_path(self, key: str) -> str:
        return os.path.join(self.active_dir, _check_key(key))

    def prepare(self, key: str, content: ContentStore, image: Image) -> list[Mount]:
        path = self._active_path(key)
        for i in range(len(image.layers)):
            self.ensure_layer(content, image, i)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            raise SnapshotError(f"snapshot {key!r} already exists") from None
        try:
            os.mkdir(os.path.join(path, "upper"), 0o755)
            os.mkdir(os.path.join(path, "work"), 0o700)
            meta = {"layers": [str(d) for _, d in image.layers]}
            write_atomic(os.path.join(path, "meta.json"), dumps_pretty(meta))
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return self.mounts(key)

    def _meta(self, key: str) -> list[Digest]:
        try:
            with open(os.path.join(self._active_path(key), "meta.json"), "rb") as f:
                return [Digest(d) for d in json.load(f)["layers"]]
        except FileNotFoundError:
            raise SnapshotError(f"snapshot {key!r} does not exist") from None

    def mounts(self, key: str) -> list[Mount]:
        layers = self._meta(key)
        path = self._active_path(key)
        lowers = [self.layer_path(d) for d in reversed(layers)]  # overlay lists the top layer first
        if not lowers:
            empty = os.path.join(self.layers_dir, "empty")
            os.makedirs(empty, exist_ok=True)
            lowers = [empty]
        options = [
            "lowerdir=" + ":".join(lowers),
            f"upperdir={path}/upper",
            f"workdir={path}/work",
            "index=off",
        ]
        return [Mount("overlay", "overlay", options)]

    def mount(self, key: str, target: str) -> None:
        (m,) = self.mounts(key)
        data = ",".join(m.options)
        if len(data) <= _MAX_OPTIONS:
            sys_mount("overlay", target, "overlay", 0, data)
            return
        # Too long for one page: name the lower dirs relative to the layers directory (as containerd does).
        short = [o.replace(self.layers_dir + "/", "") if o.startswith("lowerdir=") else o for o in m.options]
        cwd = os.getcwd()
        os.chdir(self.layers_dir)
        try:
            sys_mount("overlay", target, "overlay", 0, ",".join(short))
        finally:
            os.chdir(cwd)

    def changes_dir(self, key: str) -> str:
        self._meta(key)
        return os.path.join(self._active_path(key), "upper")

    def remove(self, key: str) -> None:
        discard_snapshot(self._active_path(key), self.tmp_dir, key)

    def active(self) -> list[ActiveSnapshot]:
        out = []
        for key in sorted(os.listdir(self.active_dir)):
            try:
                out.append(ActiveSnapshot(key, self._meta(key), self._active_path(key)))
            except (SnapshotError, ValueError, KeyError):
                continue
        return out
