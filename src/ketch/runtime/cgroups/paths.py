"""Where a container's cgroup goes: runtime-spec config-linux.md "cgroupsPath", resolved as runc does.

An absolute path is taken from the root of each hierarchy; a relative one is put under the runtime's own
cgroup in that hierarchy (/proc/self/cgroup, made relative to the mount's root); no path at all means the
container id, relative. ``slice:prefix:name`` is the systemd driver's form.
"""

from __future__ import annotations

import os

from ketch.runtime.cgroups.detect import Mount
from ketch.runtime.cgroups.errors import CgroupConfigError, CgroupDriverError

__all__ = ["check_systemd", "clean_inner", "place"]

FIELD = "linux.cgroupsPath"


def clean_inner(cgroups_path: str | None, container_id: str) -> str:
    """The validated cgroup path: absolute (``/a/b``) or relative (``a/b``), never escaping with ``..``."""
    if cgroups_path is None or cgroups_path == "":
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise CgroupConfigError(f"container id {container_id!r} cannot name a cgroup")
        return container_id
    if not isinstance(cgroups_path, str):
        raise CgroupConfigError(f"{FIELD}: expected a string, got {cgroups_path!r}")
    if "\0" in cgroups_path or "\n" in cgroups_path:
        raise CgroupConfigError(f"{FIELD}: {cgroups_path!r} contains a NUL or newline")
    parts = [p for p in cgroups_path.split("/") if p not in ("", ".")]
    # A ".." would let a config put (and later rmdir) a cgroup outside the tree it names, e.g. move the
    # container into the runtime's parent cgroup and out of its limits (CVE-2019-19921-class path escape).
    if ".." in parts:
        raise CgroupConfigError(f"{FIELD}: {cgroups_path!r} must not contain '..'")
    if not parts:
        raise CgroupConfigError(f"{FIELD}: {cgroups_path!r} names the root cgroup, not a cgroup of its own")
    inner = "/".join(parts)
    return "/" + inner if cgroups_path.startswith("/") else inner


def place(inner: str, mount: Mount, own: str | None) -> str:
    """The absolute directory of cgroup ``inner`` in the hierarchy mounted by ``mount``.

    ``own`` is the runtime's own cgroup in that hierarchy (from /proc/self/cgroup), used for relative paths.
    """
    if inner.startswith("/"):
        return os.path.join(mount.mountpoint, inner.lstrip("/"))
    base = mount.mountpoint
    if own:
        rel = os.path.relpath(own, mount.root)
        if rel != "." and not rel.startswith(".."):
            base = os.path.join(base, rel)
    return os.path.join(base, inner)


def check_systemd(cgroups_path: str | None, systemd_dir: str = "/run/systemd/system") -> None:
    """The systemd driver (``slice:prefix:name``): validate the form, then say why it cannot be used here."""
    if cgroups_path:
        parts = cgroups_path.split(":")
        if len(parts) != 3 or not parts[2]:
            raise CgroupConfigError(
                f"{FIELD}: {cgroups_path!r} is not of the systemd form 'slice:prefix:name'"
            )
        if parts[0] and not parts[0].endswith(".slice"):
            raise CgroupConfigError(f"{FIELD}: {parts[0]!r} is not a systemd slice name (*.slice)")
    if not os.path.isdir(systemd_dir):
        raise CgroupDriverError(
            "the systemd cgroup driver needs a running systemd and this host has none "
            f"({systemd_dir} is missing); run without --systemd-cgroup to use cgroupfs"
        )
    raise CgroupDriverError(
        "the systemd cgroup driver is not supported by ketch-runtime; run without --systemd-cgroup "
        "to use the cgroupfs driver"
    )
