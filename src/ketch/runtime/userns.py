"""User namespace id mappings, written by the parent for the child (user_namespaces(7))."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["maps_root", "write_id_maps"]


def _format(mappings: list[dict[str, Any]]) -> bytes:
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings).encode()


def write_id_maps(pid: int, uid_mappings: list[dict[str, Any]], gid_mappings: list[dict[str, Any]]) -> None:
    for name, mappings in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        path = f"/proc/{pid}/{name}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, _format(mappings))
            finally:
                os.close(fd)
        except OSError as exc:
            field = "linux.uidMappings" if name == "uid_map" else "linux.gidMappings"
            raise OSError(exc.errno, f"{field}: writing {path}: {exc.strerror}") from exc


def maps_root(mappings: list[dict[str, Any]]) -> bool:
    return any(m["containerID"] == 0 for m in mappings)
