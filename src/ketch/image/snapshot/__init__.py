"""Snapshotters: unpacked layers and writable container root filesystems."""

from ketch.image.snapshot.copy import CopySnapshotter
from ketch.image.snapshot.overlay import OverlaySnapshotter
from ketch.image.snapshot.protocol import ActiveSnapshot, Mount, Snapshotter

__all__ = [
    "ActiveSnapshot",
    "CopySnapshotter",
    "Mount",
    "OverlaySnapshotter",
    "Snapshotter",
    "default_snapshotter",
    "overlay_supported",
    "snapshotters",
]


def overlay_supported() -> bool:
    """overlayfs needs root here (0/0 whiteout devices, trusted.* xattrs) and the kernel module."""
    import os

    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == "overlay" for line in f if line.strip())
    except OSError:
        return False


def default_snapshotter(root: str) -> Snapshotter:
    """The overlay snapshotter where it works, else the copy snapshotter."""
    return OverlaySnapshotter(root) if overlay_supported() else CopySnapshotter(root)


def snapshotters(root: str) -> list[Snapshotter]:
    """Every snapshotter kept under the ketch root (what the collector must look at)."""
    return [OverlaySnapshotter(root), CopySnapshotter(root)]
