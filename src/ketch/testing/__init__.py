"""A test kit reused by every part's tests and benchmarks: offline busybox root filesystems and bundles."""

from ketch.testing.busybox import BusyboxNotFound, busybox_path, make_bundle, make_rootfs

__all__ = ["BusyboxNotFound", "busybox_path", "make_bundle", "make_rootfs"]
