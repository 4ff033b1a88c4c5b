"""Snapshotters: unpacked layers and writable container root filesystems."""

from ketch.image.snapshot.copy import CopySnapshotter
from ketch.image.snapshot.overlay import OverlaySnapshotter
from ketch.image.snapshot.protocol import ActiveSnapshot, Mount, Snapshotter

__all__ = ["ActiveSnapshot", "CopySnapshotter", "Mount", "OverlaySnapshotter", "Snapshotter", "snapshotters"]


def snapshotters(root: str) -> list[Snapshotter]:
    """Every snapshotter kept under the ketch root (what the collector must look at)."""
    return [OverlaySnapshotter(root), CopySnapshotter(root)]
