"""What is done inside the new root: masked and read-only paths, a read-only root, sysctls."""

from __future__ import annotations

import errno
import os

from ketch.linux import mount as m
from ketch.runtime.rootfs.mounts import remount_flags_of

__all__ = ["mask_paths", "readonly_paths", "readonly_root", "write_sysctls"]


def mask_paths(paths: list[str]) -> None:
    """runtime-spec maskedPaths: nothing can be read there. Directories get an empty read-only tmpfs, files
    /dev/null; missing paths are skipped."""
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                m.mount("tmpfs", path, "tmpfs", m.MS_RDONLY)
            else:
                m.mount("/dev/null", path, None, m.MS_BIND)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise OSError(exc.errno, f"linux.maskedPaths ({path}): {exc.strerror}") from exc


def readonly_paths(paths: list[str]) -> None:
    """runtime-spec readonlyPaths: bind each over itself, then remount it read-only."""
    for path in paths:
        try:
            m.mount(path, path, None, m.MS_BIND | m.MS_REC)
            flags = remount_flags_of(path)
            m.mount(None, path, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | m.MS_REC | flags)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise OSError(exc.errno, f"linux.readonlyPaths ({path}): {exc.strerror}") from exc


def readonly_root() -> None:
    flags = remount_flags_of("/")
    m.mount(None, "/", None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | flags)


def write_sysctls(sysctls: dict[str, str]) -> None:
    for key, value in sysctls.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise OSError(exc.errno, f"linux.sysctl.{key}: {exc.strerror}") from exc
