"""The snapshotter contract: unpacked layers stored once, and writable container roots over them."""

from __future__ import annotations

import os
import shutil
from typing import Any, Protocol

from ketch._common.digest import Digest
from ketch._common.model import field, model
from ketch.image.content.protocol import ContentStore
from ketch.image.errors import SnapshotError
from ketch.image.resolve import Image

__all__ = ["ActiveSnapshot", "Mount", "Snapshotter", "discard_snapshot"]


@model(frozen=True)
class Mount:
    """One mount making up a root filesystem, in runtime-spec ``mounts`` terms."""

    type: str
    source: str
    options: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "source": self.source, "options": list(self.options)}


@model(frozen=True)
class ActiveSnapshot:
    key: str
    layers: list[Digest]  # DiffIDs, lowest first
    path: str  # directory holding the writable state


class Snapshotter(Protocol):
    name: str

    def prepare(self, key: str, content: ContentStore, image: Image) -> list[Mount]:
        """Create the writable snapshot ``key`` over ``image``'s layers (unpacking each missing layer once,
        atomically) and return the mounts that make its root. Raises SnapshotError if ``key`` exists; on
        failure nothing of ``key`` is left."""
        ...

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an existing snapshot. Read-only."""
        ...

    def mount(self, key: str, target: str) -> None:
        """Mount snapshot ``key`` at the existing directory ``target``."""
        ...

    def changes_dir(self, key: str) -> str:
        """Where the snapshot's changes are: an overlay upper dir, or a full tree for copy snapshots."""
        ...

    def remove(self, key: str) -> None:
        """Delete snapshot ``key`` (it must not be mounted). The layers stay, for the collector."""
        ...

    def active(self) -> list[ActiveSnapshot]: ...

    def layers(self) -> list[Digest]:
        """DiffIDs of the unpacked layers held."""
        ...

    def remove_layer(self, diff_id: Digest) -> int:
        """Delete an unpacked layer (a rename then a removal: never half-visible); returns bytes freed."""
        ...


def discard_snapshot(path: str, tmp_dir: str, key: str) -> None:
    """Remove the active snapshot directory ``path``: renamed into ``tmp_dir`` first, so a crash while
    deleting leaves debris there, never a half-removed snapshot under its key."""
    if not os.path.isdir(path):
        raise SnapshotError(f"snapshot {key!r} does not exist")
    doomed = os.path.join(tmp_dir, f"rm-active-{key}.{os.urandom(4).hex()}")
    os.rename(path, doomed)
    shutil.rmtree(doomed)
